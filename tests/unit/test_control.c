/* Unit tests of the control state: the route published after each request,
 * the event log (order, ids, waiting, the ring), refusals, the state JSON
 * (parsed back with jansson), and requests from several threads at once. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "dragoman/config.h"
#include "dragoman/error.h"

/* Console indices: fr-1 0, fr-2 1, es-1 2, en-1 3, zh-1 4, zh-2 5.
 * Channels: floor 0, en 1, fr 2, es 3 (falls back to silence), zh 4. */
#define CONF_TEXT(extra)                                                                           \
	"conference = { id = \"t\"; name = \"Test\"; secret_file = \"t.key\"; sidetone_db = "      \
	"-20; " extra "};\n"                                                                       \
	"floor = { group = \"239.1.1.0\"; port = 5000; };\n"                                       \
	"channels = (\n"                                                                           \
	" { id = \"en\"; name = \"English\"; group = \"239.1.1.1\"; port = 5000; },\n"             \
	" { id = \"fr\"; group = \"239.1.1.2\"; port = 5000; },\n"                                 \
	" { id = \"es\"; group = \"239.1.1.3\"; port = 5000; fallback = \"silence\"; },\n"         \
	" { id = \"zh\"; language = \"zh-Hans\"; group = \"239.1.1.4\"; port = 5000; }\n"          \
	");\n"                                                                                     \
	"booths = (\n"                                                                             \
	" { id = \"fr\"; consoles = ( { id = \"fr-1\"; a = \"fr\"; live = true; },\n"              \
	"                           { id = \"fr-2\"; a = \"fr\"; } ); },\n"                        \
	" { id = \"es\"; consoles = ( { id = \"es-1\"; a = \"es\"; b = \"en\"; live = true; } ); " \
	"},\n"                                                                                     \
	" { id = \"en\"; consoles = ( { id = \"en-1\"; a = \"en\"; b = \"fr\"; } ); },\n"          \
	" { id = \"zh\"; consoles = ( { id = \"zh-1\"; a = \"zh\"; b = \"en\"; },\n"               \
	"                           { id = \"zh-2\"; a = \"zh\"; b = \"en\"; } ); }\n"             \
	");\n"

enum { FR1, FR2, ES1, EN1, ZH1, ZH2, N_CONSOLES };
enum { FLOOR, EN, FR, ES, ZH, N_CHANNELS };

static struct dm_config *cfg;

static int load_text(const char *text, struct dm_config **out)
{
	char path[] = "/tmp/dm-test-control-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	int rc = n == (ssize_t)strlen(text) ? dm_config_load(path, false, NULL, NULL, out) : -1;
	unlink(path);
	return rc;
}

/* What the publish callback saw. */
static struct {
	struct dm_route *last;
	size_t count;
	atomic_int inside;     /* callers in the callback at once: must stay 1 */
	atomic_int violations; /* routes breaking the interlock (threads cannot fail a test) */
	bool check;
} pub;

static void publish(void *user, struct dm_route *route)
{
	(void)user;
	if (atomic_fetch_add(&pub.inside, 1) != 0)
		atomic_fetch_add(&pub.violations, 1);
	if (pub.check) {
		/* each mic feeds one channel, its A or B; one mic per booth */
		for (size_t c = 1; c < route->n_channels; c++) {
			const struct dm_route_channel *ch = &route->channel[c];
			if (ch->kind != DM_SRC_MIC)
				continue;
			const struct dm_console_conf *co =
				dm_config_console(cfg, (size_t)ch->console);
			if (!co || (co->a != (int)c && co->b != (int)c))
				atomic_fetch_add(&pub.violations, 1);
			for (size_t d = 1; d < c; d++) {
				const struct dm_route_channel *dh = &route->channel[d];
				if (dh->kind != DM_SRC_MIC)
					continue;
				if (dh->console == ch->console ||
				    strcmp(dm_config_console(cfg, (size_t)dh->console)->booth,
					   co->booth) == 0)
					atomic_fetch_add(&pub.violations, 1);
			}
		}
		/* nobody hears their own output */
		for (size_t i = 0; i < route->n_consoles; i++) {
			int l = route->console[i].listen;
			if (l < 0 || (size_t)l >= route->n_channels ||
			    (route->channel[l].kind == DM_SRC_MIC &&
			     route->channel[l].console == (int)i))
				atomic_fetch_add(&pub.violations, 1);
		}
	}
	dm_route_free(pub.last);
	pub.last = route;
	pub.count++;
	atomic_fetch_sub(&pub.inside, 1);
}

static int group_setup(void **state)
{
	(void)state;
	return load_text(CONF_TEXT(""), &cfg);
}

static int group_teardown(void **state)
{
	(void)state;
	dm_config_free(cfg);
	return 0;
}

static int setup(void **state)
{
	struct dm_control *c = NULL;
	dm_route_free(pub.last);
	memset(&pub, 0, sizeof pub);
	if (dm_control_new(cfg, publish, NULL, &c) != 0)
		return -1;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	dm_control_free(*state);
	dm_route_free(pub.last);
	pub.last = NULL;
	return 0;
}

static int req(struct dm_control *c, enum dm_control_op op, int console, int value,
	       struct dm_refusal *rf)
{
	struct dm_control_req r = {.op = op,
				   .console = console,
				   .on = value != 0,
				   .value = value,
				   .who = "technician"};
	return dm_control_request(c, &r, rf);
}

static int req_volume(struct dm_control *c, int console, double db)
{
	struct dm_control_req r = {.op = DM_OP_VOLUME, .console = console, .db = db};
	return dm_control_request(c, &r, NULL);
}

static int req_call(struct dm_control *c, int console, const char *message)
{
	struct dm_control_req r = {
		.op = DM_OP_CALL, .console = console, .message = message, .who = "booth:fr"};
	return dm_control_request(c, &r, NULL);
}

/* The kind (and console) of each channel of the last route, as text. */
static const char *programs(void)
{
	static char buf[256];
	buf[0] = '\0';
	for (size_t k = 0; k < pub.last->n_channels; k++) {
		const struct dm_route_channel *ch = &pub.last->channel[k];
		size_t n = strlen(buf);
		const char *sep = k ? " " : "";
		if (ch->kind == DM_SRC_MIC)
			snprintf(buf + n, sizeof buf - n, "%s%s%s", sep,
				 dm_config_console(cfg, (size_t)ch->console)->id,
				 ch->gain == 0 ? "(muted)" : "");
		else
			snprintf(buf + n, sizeof buf - n, "%s%s", sep,
				 ch->kind == DM_SRC_FLOOR ? "floor" : "silence");
	}
	return buf;
}

static json_t *next_event(struct dm_control *c, int64_t *after)
{
	char buf[1024];
	int64_t id = dm_control_events_wait(c, *after, 0, buf, sizeof buf);
	if (id <= 0)
		fail_msg("no event after %lld: %lld", (long long)*after, (long long)id);
	assert_int_equal(id, *after + 1);
	*after = id;
	json_error_t err;
	json_t *o = json_loads(buf, 0, &err);
	if (!o)
		fail_msg("event %lld is not JSON (%s): %s", (long long)id, err.text, buf);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), id);
	assert_non_null(strstr(buf, "{\"id\":")); /* the id first, for people reading logs */
	return o;
}

static const char *str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v))
		fail_msg("'%s' is not a string", key);
	return json_string_value(v);
}

/* ---- tests ---- */

static void control_publish(void **state)
{
	struct dm_control *c = *state;
	/* the first route, published by dm_control_new */
	assert_int_equal(pub.count, 1);
	assert_string_equal(programs(), "floor floor fr-1 es-1 floor");
	assert_int_equal(pub.last->n_consoles, N_CONSOLES);
	assert_float_equal(pub.last->console[0].sidetone, 0.1, 1e-6); /* -20 dB from the config */

	assert_int_equal(req(c, DM_OP_MIC, FR2, 1, NULL), 0);
	assert_int_equal(pub.count, 2);
	assert_string_equal(programs(), "floor floor fr-2 es-1 floor");
	assert_int_equal(req(c, DM_OP_OUTPUT, ES1, 1, NULL), 0);
	assert_int_equal(pub.count, 3);
	assert_string_equal(programs(), "floor es-1 fr-2 silence floor");
	assert_int_equal(req(c, DM_OP_MUTE, ES1, 1, NULL), 0);
	assert_string_equal(programs(), "floor es-1(muted) fr-2 silence floor");
	assert_int_equal(req(c, DM_OP_SOURCE, FR2, ZH, NULL), 0);
	assert_int_equal(pub.last->console[FR2].listen, ZH);
	assert_int_equal(req_volume(c, FR2, -20), 0);
	assert_float_equal(pub.last->console[FR2].volume, 0.1, 1e-6);
	assert_int_equal(req(c, DM_OP_FLOOR, -1, FR, NULL), 0);
	assert_string_equal(programs(), "floor es-1(muted) floor silence floor");
	assert_int_equal(pub.count, 7);

	/* nothing changes, or a refusal: nothing published */
	assert_int_equal(req(c, DM_OP_MIC, FR2, 1, NULL), 0);
	assert_int_equal(req(c, DM_OP_FLOOR, -1, FR, NULL), 0);
	assert_int_equal(req_call(c, FR2, "slow"), 0);
	assert_int_equal(req(c, DM_OP_OUTPUT, FR1, 1, NULL), DM_EINVAL);
	assert_int_equal(req(c, DM_OP_MIC, EN1, 1, NULL), DM_EEXIST); /* es-1 holds en */
	assert_int_equal(pub.count, 7);
	assert_int_equal(req(c, DM_OP_OUTPUT, ZH1, 1, NULL), 0);
	assert_int_equal(pub.count, 8);
	assert_int_equal(req(c, DM_OP_MIC, ZH1, 1, NULL), DM_EEXIST);
	assert_int_equal(pub.count, 8);
	assert_string_equal(programs(), "floor es-1(muted) floor silence floor");

	/* republish: the state as it is, not the configuration's */
	struct dm_route *before = pub.last;
	dm_control_republish(c);
	assert_int_equal(pub.count, 9);
	assert_ptr_not_equal(pub.last, before);
	assert_string_equal(programs(), "floor es-1(muted) floor silence floor");
	assert_int_equal(pub.last->console[FR2].listen, ZH);
}

static void control_events(void **state)
{
	struct dm_control *c = *state;
	assert_int_equal(dm_control_events_last(c), 0);
	assert_int_equal(req(c, DM_OP_MIC, FR2, 1, NULL), 0);
	assert_int_equal(req(c, DM_OP_OUTPUT, ES1, 1, NULL), 0);
	assert_int_equal(req(c, DM_OP_SOURCE, ES1, FR, NULL), 0);
	assert_int_equal(req_volume(c, ES1, -3.5), 0);
	assert_int_equal(req(c, DM_OP_MUTE, FR2, 1, NULL), 0);
	assert_int_equal(req(c, DM_OP_FLOOR, -1, ZH, NULL), 0);
	assert_int_equal(req(c, DM_OP_FLOOR, -1, -1, NULL), 0);
	assert_int_equal(req_call(c, FR2, "repeat"), 0);
	assert_int_equal(dm_control_events_last(c), 9);

	int64_t at = 0;
	json_t *o = next_event(c, &at);
	assert_string_equal(str(o, "type"), "handover");
	assert_string_equal(str(o, "console"), "fr-1");
	assert_string_equal(str(o, "channel"), "fr");
	assert_string_equal(str(o, "by"), "fr-2");
	assert_true(json_is_false(json_object_get(o, "on")));
	assert_string_equal(str(o, "who"), "technician");
	const char *t = str(o, "time"); /* 2024-05-01T09:00:00.123Z */
	assert_int_equal(strlen(t), 24);
	assert_int_equal(t[10], 'T');
	assert_int_equal(t[19], '.');
	assert_int_equal(t[23], 'Z');
	json_decref(o);

	o = next_event(c, &at);
	assert_string_equal(str(o, "type"), "mic");
	assert_string_equal(str(o, "console"), "fr-2");
	assert_string_equal(str(o, "channel"), "fr");
	assert_true(json_is_true(json_object_get(o, "on")));
	json_decref(o);

	o = next_event(c, &at);
	assert_string_equal(str(o, "type"), "output");
	assert_string_equal(str(o, "console"), "es-1");
	assert_string_equal(str(o, "channel"), "en");
	assert_string_equal(str(o, "output"), "b");
	json_decref(o);

	o = next_event(c, &at);
	assert_string_equal(str(o, "type"), "source");
	assert_string_equal(str(o, "source"), "fr");
	json_decref(o);

	o = next_event(c, &at);
	assert_string_equal(str(o, "type"), "volume");
	assert_float_equal(json_number_value(json_object_get(o, "db")), -3.5, 0);
	assert_null(json_object_get(o, "who")); /* the request named no role */
	json_decref(o);

	o = next_event(c, &at);
	assert_string_equal(str(o, "type"), "mute");
	assert_string_equal(str(o, "console"), "fr-2");
	assert_true(json_is_true(json_object_get(o, "on")));
	json_decref(o);

	o = next_event(c, &at);
	assert_string_equal(str(o, "type"), "floor");
	assert_string_equal(str(o, "language"), "zh");
	json_decref(o);

	o = next_event(c, &at);
	assert_string_equal(str(o, "type"), "floor");
	assert_true(json_is_null(json_object_get(o, "language")));
	json_decref(o);

	o = next_event(c, &at);
	assert_string_equal(str(o, "type"), "call");
	assert_string_equal(str(o, "console"), "fr-2");
	assert_string_equal(str(o, "booth"), "fr");
	assert_string_equal(str(o, "message"), "repeat");
	assert_string_equal(str(o, "who"), "booth:fr");
	json_decref(o);

	char buf[512];
	assert_int_equal(dm_control_events_wait(c, 9, 0, buf, sizeof buf), 0);
	/* too small a buffer */
	assert_int_equal(dm_control_events_wait(c, 0, 0, buf, 8), DM_ENOSPC);
	assert_int_equal(dm_control_events_wait(c, 0, 0, buf, 0), DM_ENOSPC);
	/* a subscriber from before the start gets the first */
	assert_int_equal(dm_control_events_wait(c, -5, 0, buf, sizeof buf), 1);
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void control_wait_timeout(void **state)
{
	struct dm_control *c = *state;
	char buf[512];
	double t0 = now_ms();
	assert_int_equal(dm_control_events_wait(c, 0, 0, buf, sizeof buf), 0);
	assert_true(now_ms() - t0 < 50);
	t0 = now_ms();
	assert_int_equal(dm_control_events_wait(c, 0, 120, buf, sizeof buf), 0);
	double took = now_ms() - t0;
	if (took < 119 || took > 2000)
		fail_msg("waited %.1f ms for 120", took);
	/* 1.5 s: the nanoseconds carry into the seconds */
	assert_int_equal(req(c, DM_OP_MIC, FR1, 0, NULL), 0);
	t0 = now_ms();
	assert_int_equal(dm_control_events_wait(c, 1, 1500, buf, sizeof buf), 0);
	took = now_ms() - t0;
	if (took < 1499 || took > 3500)
		fail_msg("waited %.1f ms for 1500", took);
}

static void *later_request(void *arg)
{
	usleep(50 * 1000);
	req(arg, DM_OP_MIC, EN1, 1, NULL);
	return NULL;
}

static void control_wait_wakes(void **state)
{
	struct dm_control *c = *state;
	pthread_t th;
	char buf[512];
	double t0 = now_ms();
	assert_int_equal(pthread_create(&th, NULL, later_request, c), 0);
	int64_t id = dm_control_events_wait(c, 0, 5000, buf, sizeof buf);
	double took = now_ms() - t0;
	pthread_join(th, NULL);
	assert_int_equal(id, 1);
	assert_non_null(strstr(buf, "\"console\":\"en-1\""));
	if (took < 40 || took > 1000)
		fail_msg("woke after %.1f ms (request at 50)", took);
}

static void control_event_ring(void **state)
{
	struct dm_control *c = *state;
	const int n = DM_CONTROL_EVENTS + 100;
	for (int k = 0; k < n; k++)
		assert_int_equal(req_volume(c, FR1, k % 2 ? -1 : -2), 0);
	assert_int_equal(dm_control_events_last(c), n);
	char buf[512];
	/* the oldest are gone: a late subscriber starts from the oldest kept */
	assert_int_equal(dm_control_events_wait(c, 0, 0, buf, sizeof buf), 101);
	assert_non_null(strstr(buf, "\"id\":101,"));
	assert_int_equal(dm_control_events_wait(c, 100, 0, buf, sizeof buf), 101);
	assert_int_equal(dm_control_events_wait(c, 500, 0, buf, sizeof buf), 501);
	assert_non_null(strstr(buf, "\"id\":501,"));
	assert_int_equal(dm_control_events_wait(c, n - 1, 0, buf, sizeof buf), n);
	assert_int_equal(dm_control_events_wait(c, n, 0, buf, sizeof buf), 0);
}

static void control_refused(void **state)
{
	struct dm_control *c = *state;
	struct dm_refusal rf;
	assert_int_equal(req(c, DM_OP_MIC, EN1, 1, NULL), 0);
	assert_int_equal(req(c, DM_OP_OUTPUT, ES1, 1, &rf), DM_EEXIST);
	assert_int_equal(rf.holder, EN1);
	assert_int_equal(rf.channel, EN);
	assert_string_equal(rf.reason, "channel en is held by en-1 (booth en)");

	int64_t at = 1;
	json_t *o = next_event(c, &at);
	assert_string_equal(str(o, "type"), "refused");
	assert_string_equal(str(o, "op"), "output");
	assert_string_equal(str(o, "console"), "es-1");
	assert_string_equal(str(o, "channel"), "en");
	assert_string_equal(str(o, "holder"), "en-1");
	assert_string_equal(str(o, "reason"), "channel en is held by en-1 (booth en)");
	assert_string_equal(str(o, "who"), "technician");
	json_decref(o);

	/* bad values are refused with a reason too, naming no holder */
	assert_int_equal(req(c, DM_OP_OUTPUT, FR1, 1, &rf), DM_EINVAL);
	assert_int_equal(rf.holder, -1);
	assert_string_equal(rf.reason, "console fr-1 has no b channel");
	o = next_event(c, &at);
	assert_string_equal(str(o, "type"), "refused");
	assert_true(json_is_null(json_object_get(o, "holder")));
	assert_true(json_is_null(json_object_get(o, "channel")));
	assert_string_equal(str(o, "reason"), "console fr-1 has no b channel");
	json_decref(o);

	assert_int_equal(req(c, DM_OP_FLOOR, -1, 0, &rf), DM_EINVAL);
	o = next_event(c, &at);
	assert_string_equal(str(o, "op"), "floor");
	assert_true(json_is_null(json_object_get(o, "console")));
	json_decref(o);

	assert_int_equal(req_call(c, FR1, "louder"), DM_EINVAL);
	o = next_event(c, &at);
	assert_string_equal(str(o, "op"), "call");
	assert_non_null(strstr(str(o, "reason"), "slow, repeat, technician"));
	json_decref(o);
	assert_int_equal(req_call(c, FR1, NULL), DM_EINVAL);
	assert_int_equal(req_call(c, 6, "slow"), DM_EINVAL);
	assert_int_equal(req_call(c, -1, "slow"), DM_EINVAL);

	/* unknown consoles: refused, and the event says so without a name */
	assert_int_equal(req(c, DM_OP_MIC, -1, 1, &rf), DM_EINVAL);
	assert_int_equal(req(c, DM_OP_MUTE, 6, 1, &rf), DM_EINVAL);
	assert_non_null(strstr(rf.reason, "no console 6"));
	at = dm_control_events_last(c) - 1;
	o = next_event(c, &at);
	assert_true(json_is_null(json_object_get(o, "console")));
	json_decref(o);
	assert_int_equal(pub.count, 2); /* the first route and en-1's */
}

static void control_state(void **state)
{
	struct dm_control *c = *state;
	assert_int_equal(req(c, DM_OP_MIC, ES1, 0, NULL), 0);
	assert_int_equal(req(c, DM_OP_OUTPUT, ZH2, 1, NULL), 0);
	assert_int_equal(req(c, DM_OP_MIC, ZH2, 1, NULL), 0);
	assert_int_equal(req(c, DM_OP_MUTE, ZH2, 1, NULL), 0);
	assert_int_equal(req(c, DM_OP_SOURCE, FR1, ZH, NULL), 0);
	assert_int_equal(req_volume(c, FR1, -12.5), 0);
	assert_int_equal(req(c, DM_OP_FLOOR, -1, FR, NULL), 0);

	char *text = dm_control_state_json(c);
	assert_non_null(text);
	json_error_t err;
	json_t *root = json_loads(text, 0, &err);
	if (!root)
		fail_msg("state is not JSON (%s): %s", err.text, text);
	free(text);

	json_t *conf = json_object_get(root, "conference");
	assert_string_equal(str(conf, "id"), "t");
	assert_string_equal(str(conf, "name"), "Test");
	assert_string_equal(str(root, "floor_language"), "fr");
	assert_string_equal(str(root, "interlock"), "block");

	static const struct {
		const char *id, *name, *language, *on_air, *program;
	} ch[] = {
		{"floor", "Floor", "und", NULL, "floor"},
		{"en", "English", "en", "zh-2", "console"}, /* coughing: still the console's */
		{"fr", "fr", "fr", "fr-1", "floor"},	    /* the floor language */
		{"es", "es", "es", NULL, "silence"},
		{"zh", "zh", "zh-Hans", NULL, "floor"},
	};
	json_t *chans = json_object_get(root, "channels");
	assert_int_equal(json_array_size(chans), N_CHANNELS);
	for (size_t k = 0; k < N_CHANNELS; k++) {
		json_t *o = json_array_get(chans, k);
		assert_string_equal(str(o, "id"), ch[k].id);
		assert_int_equal(json_integer_value(json_object_get(o, "number")), k);
		assert_string_equal(str(o, "name"), ch[k].name);
		assert_string_equal(str(o, "language"), ch[k].language);
		if (ch[k].on_air)
			assert_string_equal(str(o, "on_air"), ch[k].on_air);
		else
			assert_true(json_is_null(json_object_get(o, "on_air")));
		assert_string_equal(str(o, "program"), ch[k].program);
	}

	static const struct {
		const char *id, *booth;
		bool mic, mute;
		const char *output, *channel, *a, *b, *source;
		double volume;
	} co[] = {
		{"fr-1", "fr", true, false, "a", "fr", "fr", NULL, "zh", -12.5},
		{"fr-2", "fr", false, false, "a", "fr", "fr", NULL, "floor", 0},
		{"es-1", "es", false, false, "a", "es", "es", "en", "floor", 0},
		{"en-1", "en", false, false, "a", "en", "en", "fr", "floor", 0},
		{"zh-1", "zh", false, false, "a", "zh", "zh", "en", "floor", 0},
		{"zh-2", "zh", true, true, "b", "en", "zh", "en", "floor", 0},
	};
	json_t *cons = json_object_get(root, "consoles");
	assert_int_equal(json_array_size(cons), N_CONSOLES);
	for (size_t i = 0; i < N_CONSOLES; i++) {
		json_t *o = json_array_get(cons, i);
		assert_string_equal(str(o, "id"), co[i].id);
		assert_string_equal(str(o, "booth"), co[i].booth);
		assert_int_equal(json_is_true(json_object_get(o, "mic")), co[i].mic);
		assert_int_equal(json_is_true(json_object_get(o, "mute")), co[i].mute);
		assert_string_equal(str(o, "output"), co[i].output);
		assert_string_equal(str(o, "channel"), co[i].channel);
		assert_string_equal(str(o, "a"), co[i].a);
		if (co[i].b)
			assert_string_equal(str(o, "b"), co[i].b);
		else
			assert_true(json_is_null(json_object_get(o, "b")));
		assert_string_equal(str(o, "source"), co[i].source);
		assert_float_equal(json_number_value(json_object_get(o, "volume_db")), co[i].volume,
				   0);
	}
	json_decref(root);

	/* no floor language: null */
	assert_int_equal(req(c, DM_OP_FLOOR, -1, -1, NULL), 0);
	text = dm_control_state_json(c);
	root = json_loads(text, 0, &err);
	free(text);
	assert_non_null(root);
	assert_true(json_is_null(json_object_get(root, "floor_language")));
	json_decref(root);
}

/* ---- several threads at once ---- */

struct worker {
	struct dm_control *c;
	unsigned seed;
	int ok, refused;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	for (int k = 0; k < 3000; k++) {
		int console = (int)(rand_r(&w->seed) % N_CONSOLES);
		int r = (int)(rand_r(&w->seed) % 10);
		struct dm_control_req q = {.console = console, .who = "technician"};
		if (r < 5) {
			q.op = DM_OP_MIC;
			q.on = r < 4;
		} else if (r < 7) {
			q.op = DM_OP_OUTPUT;
			q.value = (int)(rand_r(&w->seed) % 2);
		} else if (r < 8) {
			q.op = DM_OP_SOURCE;
			q.value = (int)(rand_r(&w->seed) % N_CHANNELS);
		} else if (r < 9) {
			q.op = DM_OP_MUTE;
			q.on = rand_r(&w->seed) % 2;
		} else {
			q.op = DM_OP_FLOOR;
			q.console = -1;
			q.value = (int)(rand_r(&w->seed) % N_CHANNELS) - 1; /* -1..3 */
		}
		int rc = dm_control_request(w->c, &q, NULL);
		if (rc == 0)
			w->ok++;
		else if (rc == DM_EEXIST || rc == DM_EINVAL)
			w->refused++;
		if (k % 500 == 0) {
			char *s = dm_control_state_json(w->c);
			free(s);
		}
	}
	return NULL;
}

static void control_concurrent(void **state)
{
	struct dm_control *c = NULL;
	(void)state;
	dm_route_free(pub.last);
	memset(&pub, 0, sizeof pub);
	pub.check = true;
	struct dm_config *ov = NULL;

	for (int pass = 0; pass < 2; pass++) {
		const struct dm_config *conf = cfg;
		if (pass == 1) {
			/* the same conference with interlock override: takeovers race too */
			assert_int_equal(load_text(CONF_TEXT("interlock = \"override\"; "), &ov),
					 0);
			assert_int_equal(dm_config_conference(ov)->interlock,
					 DM_INTERLOCK_OVERRIDE);
			conf = ov;
		}
		assert_int_equal(dm_control_new(conf, publish, NULL, &c), 0);
		size_t first = pub.count;
		struct worker w[4];
		pthread_t th[4];
		for (int k = 0; k < 4; k++) {
			w[k] = (struct worker){.c = c,
					       .seed = 1234u + (unsigned)k * 77u + (unsigned)pass};
			assert_int_equal(pthread_create(&th[k], NULL, work, &w[k]), 0);
		}
		int ok = 0, refused = 0;
		for (int k = 0; k < 4; k++) {
			pthread_join(th[k], NULL);
			ok += w[k].ok;
			refused += w[k].refused;
		}
		assert_int_equal(ok + refused, 4 * 3000);
		assert_int_equal(atomic_load(&pub.violations), 0);
		assert_true(pub.count - first > 100);
		if (pass == 0)
			assert_true(refused > 0);

		/* the last route published is the state's */
		char *s = dm_control_state_json(c);
		json_t *root = json_loads(s, 0, NULL);
		free(s);
		assert_non_null(root);
		json_t *chans = json_object_get(root, "channels");
		for (size_t k = 1; k < N_CHANNELS; k++) {
			json_t *o = json_array_get(chans, k);
			const char *program = str(o, "program");
			const struct dm_route_channel *rc = &pub.last->channel[k];
			if (strcmp(program, "console") == 0) {
				assert_int_equal(rc->kind, DM_SRC_MIC);
				assert_string_equal(
					dm_config_console(conf, (size_t)rc->console)->id,
					str(o, "on_air"));
			} else {
				assert_int_equal(rc->kind, strcmp(program, "floor") == 0
								   ? DM_SRC_FLOOR
								   : DM_SRC_SILENCE);
			}
		}
		json_decref(root);

		/* every event in order, none lost (fewer than the ring holds? then all) */
		int64_t last = dm_control_events_last(c);
		char buf[1024];
		int64_t id = dm_control_events_wait(c, 0, 0, buf, sizeof buf), prev = id - 1;
		assert_true(id >= 1);
		while (id > 0) {
			assert_int_equal(id, prev + 1);
			json_t *o = json_loads(buf, 0, NULL);
			assert_non_null(o);
			json_decref(o);
			prev = id;
			id = dm_control_events_wait(c, id, 0, buf, sizeof buf);
		}
		assert_int_equal(prev, last);
		dm_control_free(c);
	}
	dm_config_free(ov);
	dm_route_free(pub.last);
	pub.last = NULL;
}

static void control_post_text(void **state)
{
	struct dm_control *c = *state;
	int64_t at = 0;
	char buf[256];

	assert_int_equal(
		dm_control_post_text(c, "meters", "\"channels\":[{\"id\":\"en\"}],\"x\":1.5"), 0);
	assert_int_equal(req_volume(c, ES1, -3.5), 0); /* a built event after it */
	assert_int_equal(dm_control_post_text(c, "empty_1", ""), 0);
	assert_int_equal(dm_control_events_last(c), 3);

	json_t *o = next_event(c, &at);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 1);
	assert_string_equal(str(o, "type"), "meters");
	assert_int_equal(strlen(str(o, "time")), 24);
	assert_string_equal(str(json_array_get(json_object_get(o, "channels"), 0), "id"), "en");
	assert_true(json_real_value(json_object_get(o, "x")) == 1.5);
	json_decref(o);
	o = next_event(c, &at);
	assert_string_equal(str(o, "type"), "volume");
	json_decref(o);
	assert_int_equal(dm_control_events_wait(c, at, 0, buf, sizeof buf), 3);
	o = json_loads(buf, 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 3); /* id, time, type: no stray comma */
	assert_string_equal(str(o, "type"), "empty_1");
	json_decref(o);

	/* The type is written unescaped: only letters, digits and '_'. */
	assert_int_equal(dm_control_post_text(c, "a\"b", ""), DM_EINVAL);
	assert_int_equal(dm_control_post_text(c, "", ""), DM_EINVAL);
	assert_int_equal(dm_control_post_text(c, NULL, ""), DM_EINVAL);
	assert_int_equal(dm_control_post_text(c, "meters", NULL), DM_EINVAL);
	assert_int_equal(dm_control_post_text(NULL, "meters", ""), DM_EINVAL);
	assert_int_equal(dm_control_events_last(c), 3);
}

static void control_bad_args(void **state)
{
	struct dm_control *c = *state;
	struct dm_control *x = (struct dm_control *)&x;
	assert_int_equal(dm_control_new(NULL, publish, NULL, &x), DM_EINVAL);
	assert_null(x);
	assert_int_equal(dm_control_new(cfg, NULL, NULL, &x), DM_EINVAL);
	assert_int_equal(dm_control_new(cfg, publish, NULL, NULL), DM_EINVAL);

	struct dm_refusal rf;
	struct dm_control_req q = {.op = DM_OP_MIC, .console = 0, .on = true};
	assert_int_equal(dm_control_request(NULL, &q, &rf), DM_EINVAL);
	assert_int_equal(dm_control_request(c, NULL, &rf), DM_EINVAL);
	q.op = (enum dm_control_op)99;
	assert_int_equal(dm_control_request(c, &q, &rf), DM_EINVAL);
	assert_string_equal(rf.reason, "unknown request");
	q.op = DM_OP_VOLUME;
	q.db = 7;
	assert_int_equal(dm_control_request(c, &q, &rf), DM_EINVAL);
	assert_non_null(strstr(rf.reason, "out of range"));
	q.op = DM_OP_SOURCE;
	q.value = 9;
	assert_int_equal(dm_control_request(c, &q, NULL), DM_EINVAL);

	char buf[64];
	assert_int_equal(dm_control_events_wait(NULL, 0, 0, buf, sizeof buf), DM_EINVAL);
	assert_int_equal(dm_control_events_wait(c, 0, 0, NULL, 10), DM_EINVAL);
	assert_int_equal(dm_control_events_wait(c, 0, -1, buf, sizeof buf), DM_EINVAL);
	assert_int_equal(dm_control_events_last(NULL), 0);
	assert_null(dm_control_state_json(NULL));
	dm_control_republish(NULL);
	dm_control_free(NULL);
	assert_int_equal(pub.count, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(control_publish, setup, teardown),
		cmocka_unit_test_setup_teardown(control_events, setup, teardown),
		cmocka_unit_test_setup_teardown(control_wait_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(control_wait_wakes, setup, teardown),
		cmocka_unit_test_setup_teardown(control_event_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(control_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(control_state, setup, teardown),
		cmocka_unit_test(control_concurrent),
		cmocka_unit_test_setup_teardown(control_post_text, setup, teardown),
		cmocka_unit_test_setup_teardown(control_bad_args, setup, teardown),
	};
	return cmocka_run_group_tests_name("control", tests, group_setup, group_teardown);
}
