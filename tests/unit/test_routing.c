/* Unit tests of the routing rules: each case is a table of requests applied in
 * order, each with the code it must get, the changes it must report (in
 * order), who is on air afterwards and, where it matters, the programs of the
 * route built from the state. The invariants (one on air per channel, one mic
 * per booth, nobody relaying their own output) are checked after every step. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dragoman/config.h"
#include "dragoman/error.h"
#include "routing.h"

/* Console indices: fr-1 0, fr-2 1, es-1 2, en-1 3, zh-1 4, zh-2 5.
 * Channels: floor 0, en 1, fr 2, es 3 (falls back to silence), zh 4. */
static const char conf_text[] =
	"conference = { id = \"t\"; secret_file = \"t.key\"; };\n"
	"floor = { group = \"239.1.1.0\"; port = 5000; };\n"
	"channels = (\n"
	" { id = \"en\"; group = \"239.1.1.1\"; port = 5000; },\n"
	" { id = \"fr\"; group = \"239.1.1.2\"; port = 5000; },\n"
	" { id = \"es\"; group = \"239.1.1.3\"; port = 5000; fallback = \"silence\"; },\n"
	" { id = \"zh\"; group = \"239.1.1.4\"; port = 5000; }\n"
	");\n"
	"booths = (\n"
	" { id = \"fr\"; consoles = ( { id = \"fr-1\"; a = \"fr\"; live = true; },\n"
	"                           { id = \"fr-2\"; a = \"fr\"; } ); },\n"
	" { id = \"es\"; consoles = ( { id = \"es-1\"; a = \"es\"; b = \"en\"; live = true; } ); "
	"},\n"
	" { id = \"en\"; consoles = ( { id = \"en-1\"; a = \"en\"; b = \"fr\"; } ); },\n"
	" { id = \"zh\"; consoles = ( { id = \"zh-1\"; a = \"zh\"; b = \"en\"; },\n"
	"                           { id = \"zh-2\"; a = \"zh\"; b = \"en\"; } ); }\n"
	");\n";

static struct dm_config *cfg;

#define SIDETONE_DB (-12.0)

static int group_setup(void **state)
{
	(void)state;
	char path[] = "/tmp/dm-test-routing-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, conf_text, sizeof conf_text - 1);
	close(fd);
	int rc = n == (ssize_t)(sizeof conf_text - 1)
			 ? dm_config_load(path, false, NULL, NULL, &cfg)
			 : -1;
	unlink(path);
	return rc;
}

static int group_teardown(void **state)
{
	(void)state;
	dm_config_free(cfg);
	return 0;
}

/* ---- rendering state, changes and routes as text ---- */

static int console_index(const char *id)
{
	for (size_t i = 0; i < dm_config_console_count(cfg); i++)
		if (strcmp(dm_config_console(cfg, i)->id, id) == 0)
			return (int)i;
	return 99; /* an index out of range, for the bad-argument steps */
}

static const char *console_id(int i)
{
	const struct dm_console_conf *c = i >= 0 ? dm_config_console(cfg, (size_t)i) : NULL;
	return c ? c->id : "-";
}

static const char *channel_id(int c)
{
	const struct dm_channel_conf *ch = c >= 0 ? dm_config_channel(cfg, (size_t)c) : NULL;
	return ch ? ch->id : "-";
}

static void append(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t cap, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, cap - n, fmt, ap);
	va_end(ap);
}

static void render_changes(const struct dm_changes *ch, char *buf, size_t cap)
{
	static const char *const kind[] = {
		[DM_CHANGE_MIC] = "mic",
		[DM_CHANGE_MUTE] = "mute",
		[DM_CHANGE_OUTPUT] = "output",
		[DM_CHANGE_SOURCE] = "source",
		[DM_CHANGE_VOLUME] = "volume",
		[DM_CHANGE_HANDOVER] = "handover",
		[DM_CHANGE_TAKEN_OVER] = "taken_over",
		[DM_CHANGE_FLOOR] = "floor",
	};
	buf[0] = '\0';
	for (size_t i = 0; i < ch->n; i++) {
		const struct dm_change *c = &ch->c[i];
		append(buf, cap, "%s%s", i ? "; " : "", kind[c->kind]);
		if (c->kind != DM_CHANGE_FLOOR)
			append(buf, cap, " %s", console_id(c->console));
		if (c->kind != DM_CHANGE_VOLUME)
			append(buf, cap, " %s", channel_id(c->channel));
		switch (c->kind) {
		case DM_CHANGE_MIC:
		case DM_CHANGE_MUTE: append(buf, cap, " %s", c->on ? "on" : "off"); break;
		case DM_CHANGE_OUTPUT: append(buf, cap, " %s", c->value ? "b" : "a"); break;
		case DM_CHANGE_VOLUME: append(buf, cap, " %g", c->db); break;
		case DM_CHANGE_HANDOVER:
		case DM_CHANGE_TAKEN_OVER:
			append(buf, cap, " by %s%s", console_id(c->by), c->on ? " (on!)" : "");
			break;
		default: break;
		}
		/* by names a console only for a handover or a takeover */
		if (c->kind != DM_CHANGE_HANDOVER && c->kind != DM_CHANGE_TAKEN_OVER && c->by != -1)
			append(buf, cap, " (by %d!)", c->by);
	}
}

/* "en=- fr=fr-1 es=es-1 zh=-" */
static void render_air(const struct dm_routing *r, char *buf, size_t cap)
{
	buf[0] = '\0';
	for (size_t c = 1; c < dm_config_channel_count(cfg); c++)
		append(buf, cap, "%s%s=%s", c > 1 ? " " : "", channel_id((int)c),
		       console_id(dm_routing_on_air(r, c)));
}

/* "floor floor fr-1 es-1 floor": each channel's program, "fr-1(muted)" at gain 0 */
static void render_route(const struct dm_route *rt, char *buf, size_t cap)
{
	buf[0] = '\0';
	for (size_t c = 0; c < rt->n_channels; c++) {
		const struct dm_route_channel *ch = &rt->channel[c];
		const char *sep = c ? " " : "";
		switch (ch->kind) {
		case DM_SRC_FLOOR:
			append(buf, cap, "%sfloor%s", sep, ch->gain == 1.0f ? "" : "(gain!)");
			break;
		case DM_SRC_SILENCE: append(buf, cap, "%ssilence", sep); break;
		case DM_SRC_MIC:
			append(buf, cap, "%s%s%s", sep, console_id(ch->console),
			       ch->gain == 0.0f	  ? "(muted)"
			       : ch->gain == 1.0f ? ""
						  : "(gain!)");
			break;
		}
	}
}

static void check_invariants(const struct dm_routing *r, const char *where)
{
	size_t n = dm_config_console_count(cfg);
	for (size_t i = 0; i < n; i++) {
		const struct dm_console_state *s = dm_routing_console(r, i);
		const struct dm_console_conf *ci = dm_config_console(cfg, i);
		int out = dm_routing_output_channel(r, i);
		if (out != (s->output ? ci->b : ci->a))
			fail_msg("%s: %s outputs to %d", where, ci->id, out);
		if (s->source == out)
			fail_msg("%s: %s relays its own output", where, ci->id);
		for (size_t j = 0; j < i && s->mic; j++) {
			const struct dm_console_state *t = dm_routing_console(r, j);
			const struct dm_console_conf *cj = dm_config_console(cfg, j);
			if (!t->mic)
				continue;
			if (strcmp(ci->booth, cj->booth) == 0)
				fail_msg("%s: %s and %s both live in booth %s", where, cj->id,
					 ci->id, ci->booth);
			if (dm_routing_output_channel(r, j) == out)
				fail_msg("%s: %s and %s both on air on %s", where, cj->id, ci->id,
					 channel_id(out));
		}
	}
}

/* ---- requests as text: "mic fr-1 on", "output es-1 b", "source fr-1 en",
 * "volume fr-1 -3", "floor fr" / "floor none" ---- */

static int channel_arg(const char *s)
{
	if (strcmp(s, "none") == 0)
		return -1;
	int c = dm_config_find_channel(cfg, s);
	return c >= 0 ? c : atoi(s);
}

static int apply(struct dm_routing *r, const char *req, struct dm_changes *ch,
		 struct dm_refusal *rf)
{
	char op[16], who[32], arg[32];
	int n = sscanf(req, "%15s %31s %31s", op, who, arg);
	if (strcmp(op, "floor") == 0 && n == 2)
		return dm_routing_floor(r, channel_arg(who), ch, rf);
	if (n != 3)
		fail_msg("bad step '%s'", req);
	size_t i = (size_t)console_index(who);
	if (strcmp(op, "mic") == 0)
		return dm_routing_mic(r, i, strcmp(arg, "on") == 0, ch, rf);
	if (strcmp(op, "mute") == 0)
		return dm_routing_mute(r, i, strcmp(arg, "on") == 0, ch, rf);
	if (strcmp(op, "output") == 0)
		return dm_routing_output(r, i,
					 strcmp(arg, "a") == 0	 ? 0
					 : strcmp(arg, "b") == 0 ? 1
								 : atoi(arg),
					 ch, rf);
	if (strcmp(op, "source") == 0)
		return dm_routing_source(r, i, channel_arg(arg), ch, rf);
	if (strcmp(op, "volume") == 0)
		return dm_routing_volume(r, i, strtod(arg, NULL), ch, rf);
	fail_msg("bad step '%s'", req);
	return 0;
}

struct step {
	const char *req;
	int rc;
	const char *changes; /* NULL: none */
	const char *air;     /* NULL: not checked */
	const char *route;   /* NULL: not checked */
	const char *reason;  /* refusal: a substring of the reason */
	const char *holder;  /* DM_EEXIST: who holds the channel */
};

#define INITIAL_AIR "en=- fr=fr-1 es=es-1 zh=-"

static void run(enum dm_interlock interlock, const struct step *steps, size_t n)
{
	struct dm_routing *r = NULL;
	assert_int_equal(dm_routing_new(cfg, interlock, &r), 0);
	char buf[512];
	render_air(r, buf, sizeof buf);
	assert_string_equal(buf, INITIAL_AIR);
	for (size_t k = 0; k < n; k++) {
		const struct step *s = &steps[k];
		struct dm_changes ch;
		struct dm_refusal rf;
		memset(&ch, 0xa5, sizeof ch); /* must be reset even when nothing changes */
		memset(&rf, 0xa5, sizeof rf);
		char before[512];
		render_air(r, before, sizeof before);
		struct dm_routing *copy = NULL;
		assert_int_equal(dm_routing_clone(r, &copy), 0);

		int rc = apply(r, s->req, &ch, &rf);
		if (rc != s->rc)
			fail_msg("step %zu '%s': rc %d (%s), want %d", k + 1, s->req, rc,
				 rc ? rf.reason : "", s->rc);
		render_changes(&ch, buf, sizeof buf);
		if (strcmp(buf, s->changes ? s->changes : "") != 0)
			fail_msg("step %zu '%s': changes '%s', want '%s'", k + 1, s->req, buf,
				 s->changes ? s->changes : "");
		if (rc != 0) {
			/* a refusal changes nothing, and says why */
			for (size_t i = 0; i < dm_config_console_count(cfg); i++)
				assert_memory_equal(dm_routing_console(r, i),
						    dm_routing_console(copy, i),
						    sizeof(struct dm_console_state));
			assert_int_equal(dm_routing_floor_language(r),
					 dm_routing_floor_language(copy));
			if (!s->reason || !strstr(rf.reason, s->reason))
				fail_msg("step %zu '%s': reason '%s', want '%s'", k + 1, s->req,
					 rf.reason, s->reason ? s->reason : "");
			int holder = s->holder ? console_index(s->holder) : -1;
			if (rf.holder != holder)
				fail_msg("step %zu '%s': holder %d, want %d", k + 1, s->req,
					 rf.holder, holder);
		}
		dm_routing_free(copy);
		render_air(r, buf, sizeof buf);
		if (s->air && strcmp(buf, s->air) != 0)
			fail_msg("step %zu '%s': on air '%s', want '%s'", k + 1, s->req, buf,
				 s->air);
		check_invariants(r, s->req);
		if (s->route) {
			struct dm_route *rt = NULL;
			assert_int_equal(dm_routing_build_route(r, SIDETONE_DB, &rt), 0);
			render_route(rt, buf, sizeof buf);
			dm_route_free(rt);
			if (strcmp(buf, s->route) != 0)
				fail_msg("step %zu '%s': route '%s', want '%s'", k + 1, s->req, buf,
					 s->route);
		}
	}
	dm_routing_free(r);
}

#define RUN(interlock, steps) run(interlock, steps, sizeof steps / sizeof steps[0])

/* ---- the cases ---- */

static void routing_initial(void **state)
{
	(void)state;
	static const struct step t[] = {
		/* live consoles on air, the others' channels on their fallback */
		{"mute fr-1 off", 0, NULL, INITIAL_AIR, "floor floor fr-1 es-1 floor", NULL, NULL},
	};
	RUN(DM_INTERLOCK_BLOCK, t);
	struct dm_routing *r = NULL;
	assert_int_equal(dm_routing_new(cfg, DM_INTERLOCK_OVERRIDE, &r), 0);
	for (size_t i = 0; i < dm_config_console_count(cfg); i++) {
		const struct dm_console_state *s = dm_routing_console(r, i);
		assert_int_equal(s->mic, dm_config_console(cfg, i)->live);
		assert_false(s->mute);
		assert_int_equal(s->output, 0);
		assert_int_equal(s->source, 0);
		assert_float_equal(s->volume_db, 0, 0);
	}
	assert_int_equal(dm_routing_floor_language(r), -1);
	dm_routing_free(r);
}

static void routing_handover(void **state)
{
	(void)state;
	static const struct step t[] = {
		{"mic fr-2 on", 0, "handover fr-1 fr by fr-2; mic fr-2 fr on",
		 "en=- fr=fr-2 es=es-1 zh=-", "floor floor fr-2 es-1 floor", NULL, NULL},
		{"mic fr-1 on", 0, "handover fr-2 fr by fr-1; mic fr-1 fr on", INITIAL_AIR, NULL,
		 NULL, NULL},
		{"mic fr-1 on", 0, NULL, INITIAL_AIR, NULL, NULL, NULL}, /* already: nothing */
		{"mic fr-1 off", 0, "mic fr-1 fr off", "en=- fr=- es=es-1 zh=-",
		 "floor floor floor es-1 floor", NULL, NULL},
		{"mic fr-1 off", 0, NULL, NULL, NULL, NULL, NULL},
		{"mic fr-2 on", 0, "mic fr-2 fr on", "en=- fr=fr-2 es=es-1 zh=-", NULL, NULL, NULL},
		/* the partner goes off even when it sends to the other channel */
		{"mic zh-1 on", 0, "mic zh-1 zh on", "en=- fr=fr-2 es=es-1 zh=zh-1", NULL, NULL,
		 NULL},
		{"output zh-2 b", 0, "output zh-2 en b", NULL, NULL, NULL, NULL},
		{"mic zh-2 on", 0, "handover zh-1 zh by zh-2; mic zh-2 en on",
		 "en=zh-2 fr=fr-2 es=es-1 zh=-", "floor zh-2 fr-2 es-1 floor", NULL, NULL},
		{"mic zh-1 on", 0, "handover zh-2 en by zh-1; mic zh-1 zh on",
		 "en=- fr=fr-2 es=es-1 zh=zh-1", NULL, NULL, NULL},
	};
	RUN(DM_INTERLOCK_BLOCK, t);
}

static void routing_block(void **state)
{
	(void)state;
	static const struct step t[] = {
		{"mic en-1 on", 0, "mic en-1 en on", "en=en-1 fr=fr-1 es=es-1 zh=-", NULL, NULL,
		 NULL},
		/* a live console may not move onto a held channel: it stays where it was */
		{"output es-1 b", DM_EEXIST, NULL, "en=en-1 fr=fr-1 es=es-1 zh=-", NULL,
		 "channel en is held by en-1 (booth en)", "en-1"},
		{"mic es-1 off", 0, "mic es-1 es off", NULL, NULL, NULL, NULL},
		{"output es-1 b", 0, "output es-1 en b", "en=en-1 fr=fr-1 es=- zh=-", NULL, NULL,
		 NULL},
		{"mic es-1 on", DM_EEXIST, NULL, "en=en-1 fr=fr-1 es=- zh=-",
		 "floor en-1 fr-1 silence floor", "channel en is held by en-1 (booth en)", "en-1"},
		{"mic en-1 off", 0, "mic en-1 en off", NULL, NULL, NULL, NULL},
		{"mic es-1 on", 0, "mic es-1 en on", "en=es-1 fr=fr-1 es=- zh=-", NULL, NULL, NULL},
		/* a refused mic hands nothing over either */
		{"mic zh-1 on", 0, "mic zh-1 zh on", "en=es-1 fr=fr-1 es=- zh=zh-1", NULL, NULL,
		 NULL},
		{"output zh-2 b", 0, "output zh-2 en b", NULL, NULL, NULL, NULL},
		{"mic zh-2 on", DM_EEXIST, NULL, "en=es-1 fr=fr-1 es=- zh=zh-1", NULL,
		 "channel en is held by es-1 (booth es)", "es-1"},
		{"output zh-1 b", DM_EEXIST, NULL, "en=es-1 fr=fr-1 es=- zh=zh-1", NULL,
		 "channel en is held by es-1", "es-1"},
		/* the partner holding the channel is no block: it hands over */
		{"output fr-2 a", 0, NULL, NULL, NULL, NULL, NULL},
		{"mic fr-2 on", 0, "handover fr-1 fr by fr-2; mic fr-2 fr on", NULL, NULL, NULL,
		 NULL},
	};
	RUN(DM_INTERLOCK_BLOCK, t);
}

static void routing_override(void **state)
{
	(void)state;
	static const struct step t[] = {
		{"mic en-1 on", 0, "mic en-1 en on", "en=en-1 fr=fr-1 es=es-1 zh=-", NULL, NULL,
		 NULL},
		{"mic zh-1 on", 0, "mic zh-1 zh on", NULL, NULL, NULL, NULL},
		{"output zh-1 b", 0, "taken_over en-1 en by zh-1; output zh-1 en b",
		 "en=zh-1 fr=fr-1 es=es-1 zh=-", "floor zh-1 fr-1 es-1 floor", NULL, NULL},
		{"output es-1 b", 0, "taken_over zh-1 en by es-1; output es-1 en b",
		 "en=es-1 fr=fr-1 es=- zh=-", "floor es-1 fr-1 silence floor", NULL, NULL},
		{"mic en-1 on", 0, "taken_over es-1 en by en-1; mic en-1 en on",
		 "en=en-1 fr=fr-1 es=- zh=-", NULL, NULL, NULL},
		/* a takeover and a handover in one request */
		{"output zh-1 a", 0, "output zh-1 zh a", NULL, NULL, NULL, NULL},
		{"mic zh-1 on", 0, "mic zh-1 zh on", NULL, NULL, NULL, NULL},
		{"output zh-2 b", 0, "output zh-2 en b", NULL, NULL, NULL, NULL},
		{"mic zh-2 on", 0,
		 "taken_over en-1 en by zh-2; handover zh-1 zh by zh-2; mic zh-2 en on",
		 "en=zh-2 fr=fr-1 es=- zh=-", NULL, NULL, NULL},
		/* en-1 moving to b takes fr from fr-1 */
		{"mic en-1 on", 0, "taken_over zh-2 en by en-1; mic en-1 en on", NULL, NULL, NULL,
		 NULL},
		{"output en-1 b", 0, "taken_over fr-1 fr by en-1; output en-1 fr b",
		 "en=- fr=en-1 es=- zh=-", "floor floor en-1 silence floor", NULL, NULL},
	};
	RUN(DM_INTERLOCK_OVERRIDE, t);
}

static void routing_fallback(void **state)
{
	(void)state;
	static const struct step t[] = {
		{"mic es-1 off", 0, "mic es-1 es off", "en=- fr=fr-1 es=- zh=-",
		 "floor floor fr-1 silence floor", NULL, NULL},
		{"mic fr-1 off", 0, "mic fr-1 fr off", "en=- fr=- es=- zh=-",
		 "floor floor floor silence floor", NULL, NULL},
		{"mic es-1 on", 0, "mic es-1 es on", NULL, "floor floor floor es-1 floor", NULL,
		 NULL},
		/* es-1 leaves es for en: es goes silent, en carries es-1 */
		{"output es-1 b", 0, "output es-1 en b", "en=es-1 fr=- es=- zh=-",
		 "floor es-1 floor silence floor", NULL, NULL},
	};
	RUN(DM_INTERLOCK_BLOCK, t);
}

static void routing_relay(void **state)
{
	(void)state;
	static const struct step t[] = {
		{"source fr-1 en", 0, "source fr-1 en", NULL, NULL, NULL, NULL},
		{"source fr-1 en", 0, NULL, NULL, NULL, NULL, NULL},
		{"source fr-1 fr", DM_EINVAL, NULL, NULL, NULL,
		 "console fr-1 cannot relay fr: it is its own output channel", NULL},
		{"source fr-1 floor", 0, "source fr-1 floor", NULL, NULL, NULL, NULL},
		{"source fr-1 0", 0, NULL, NULL, NULL, NULL, NULL},
		{"source fr-1 es", 0, "source fr-1 es", NULL, NULL, NULL, NULL},
		/* mic off or on, the own output channel is never a source */
		{"source fr-2 fr", DM_EINVAL, NULL, NULL, NULL, "cannot relay fr", NULL},
		{"source fr-1 9", DM_EINVAL, NULL, NULL, NULL, "no channel 9", NULL},
		{"source fr-1 -1", DM_EINVAL, NULL, NULL, NULL, "no channel -1", NULL},
		/* moving onto the channel it relays sends the console back to the floor */
		{"source es-1 en", 0, "source es-1 en", NULL, NULL, NULL, NULL},
		{"output es-1 b", 0, "output es-1 en b; source es-1 floor", NULL, NULL, NULL, NULL},
		{"source es-1 es", 0, "source es-1 es", NULL, NULL, NULL, NULL},
		{"source es-1 en", DM_EINVAL, NULL, NULL, NULL, "cannot relay en", NULL},
		/* a relay of a channel whose booth is off hears that channel's fallback:
		 * the route says which channel, the router plays its program */
		{"source zh-1 fr", 0, "source zh-1 fr", NULL, NULL, NULL, NULL},
	};
	RUN(DM_INTERLOCK_BLOCK, t);
}

static void routing_b_channel(void **state)
{
	(void)state;
	static const struct step t[] = {
		{"output fr-1 b", DM_EINVAL, NULL, INITIAL_AIR, NULL,
		 "console fr-1 has no b channel", NULL},
		{"output es-1 2", DM_EINVAL, NULL, NULL, NULL, "output must be a or b", NULL},
		{"output es-1 -1", DM_EINVAL, NULL, NULL, NULL, "output must be a or b", NULL},
		{"output es-1 a", 0, NULL, INITIAL_AIR, NULL, NULL, NULL},
		/* live: the mic moves with the output */
		{"output es-1 b", 0, "output es-1 en b", "en=es-1 fr=fr-1 es=- zh=-",
		 "floor es-1 fr-1 silence floor", NULL, NULL},
		{"output es-1 a", 0, "output es-1 es a", INITIAL_AIR, "floor floor fr-1 es-1 floor",
		 NULL, NULL},
		/* blocked move: stays on a */
		{"mic en-1 on", 0, "mic en-1 en on", NULL, NULL, NULL, NULL},
		{"output es-1 b", DM_EEXIST, NULL, "en=en-1 fr=fr-1 es=es-1 zh=-",
		 "floor en-1 fr-1 es-1 floor", "channel en is held by en-1 (booth en)", "en-1"},
		/* not live: the output changes, nothing goes on air */
		{"output zh-1 b", 0, "output zh-1 en b", "en=en-1 fr=fr-1 es=es-1 zh=-", NULL, NULL,
		 NULL},
		{"mic zh-1 on", DM_EEXIST, NULL, NULL, NULL, "channel en is held by en-1", "en-1"},
	};
	RUN(DM_INTERLOCK_BLOCK, t);
}

static void routing_floor_language(void **state)
{
	(void)state;
	static const struct step t[] = {
		/* fr carries the floor though fr-1 is live; fr-1 still holds fr */
		{"floor fr", 0, "floor fr", INITIAL_AIR, "floor floor floor es-1 floor", NULL,
		 NULL},
		{"floor fr", 0, NULL, NULL, NULL, NULL, NULL},
		{"floor 2", 0, NULL, NULL, NULL, NULL, NULL},
		{"mic fr-2 on", 0, "handover fr-1 fr by fr-2; mic fr-2 fr on",
		 "en=- fr=fr-2 es=es-1 zh=-", "floor floor floor es-1 floor", NULL, NULL},
		{"floor es", 0, "floor es", NULL, "floor floor fr-2 floor floor", NULL, NULL},
		/* es would be silence without a booth: the floor language still wins */
		{"mic es-1 off", 0, "mic es-1 es off", NULL, "floor floor fr-2 floor floor", NULL,
		 NULL},
		{"floor none", 0, "floor -", NULL, "floor floor fr-2 silence floor", NULL, NULL},
		{"floor none", 0, NULL, NULL, NULL, NULL, NULL},
		{"floor floor", DM_EINVAL, NULL, NULL, NULL, "channel 1..4", NULL},
		{"floor 5", DM_EINVAL, NULL, NULL, NULL, "channel 1..4", NULL},
		{"floor -2", DM_EINVAL, NULL, NULL, NULL, "channel 1..4", NULL},
		/* the interlock still holds on the floor language's channel */
		{"floor en", 0, "floor en", NULL, NULL, NULL, NULL},
		{"mic en-1 on", 0, "mic en-1 en on", "en=en-1 fr=fr-2 es=- zh=-",
		 "floor floor fr-2 silence floor", NULL, NULL},
		{"mic zh-1 on", 0, "mic zh-1 zh on", NULL, NULL, NULL, NULL},
		{"output zh-1 b", DM_EEXIST, NULL, NULL, NULL, "held by en-1", "en-1"},
	};
	RUN(DM_INTERLOCK_BLOCK, t);
}

static void routing_cough(void **state)
{
	(void)state;
	static const struct step t[] = {
		{"mute fr-1 on", 0, "mute fr-1 fr on", INITIAL_AIR,
		 "floor floor fr-1(muted) es-1 floor", NULL, NULL},
		{"mute fr-1 on", 0, NULL, NULL, NULL, NULL, NULL},
		/* coughing keeps the channel against another booth */
		{"output en-1 b", 0, "output en-1 fr b", NULL, NULL, NULL, NULL},
		{"mic en-1 on", DM_EEXIST, NULL, INITIAL_AIR, NULL,
		 "channel fr is held by fr-1 (booth fr)", "fr-1"},
		{"mute fr-1 off", 0, "mute fr-1 fr off", INITIAL_AIR, "floor floor fr-1 es-1 floor",
		 NULL, NULL},
		/* the cough button is the console's: it does not follow the mic */
		{"mute fr-1 on", 0, "mute fr-1 fr on", NULL, NULL, NULL, NULL},
		{"mic fr-1 off", 0, "mic fr-1 fr off", NULL, "floor floor floor es-1 floor", NULL,
		 NULL},
		{"mic fr-1 on", 0, "mic fr-1 fr on", NULL, "floor floor fr-1(muted) es-1 floor",
		 NULL, NULL},
		{"mute fr-2 on", 0, "mute fr-2 fr on", NULL, NULL, NULL, NULL},
		{"mic fr-2 on", 0, "handover fr-1 fr by fr-2; mic fr-2 fr on", NULL,
		 "floor floor fr-2(muted) es-1 floor", NULL, NULL},
		{"mute fr-2 off", 0, "mute fr-2 fr off", NULL, "floor floor fr-2 es-1 floor", NULL,
		 NULL},
	};
	RUN(DM_INTERLOCK_BLOCK, t);
}

static void routing_volume(void **state)
{
	(void)state;
	static const struct step t[] = {
		{"volume fr-1 -40", 0, "volume fr-1 -40", NULL, NULL, NULL, NULL},
		{"volume fr-1 6", 0, "volume fr-1 6", NULL, NULL, NULL, NULL},
		{"volume fr-1 6", 0, NULL, NULL, NULL, NULL, NULL},
		{"volume fr-1 -3.5", 0, "volume fr-1 -3.5", NULL, NULL, NULL, NULL},
		{"volume fr-1 6.01", DM_EINVAL, NULL, NULL, NULL,
		 "volume 6.01 dB is out of range -40..+6", NULL},
		{"volume fr-1 -40.5", DM_EINVAL, NULL, NULL, NULL, "out of range -40..+6", NULL},
		{"volume fr-1 nan", DM_EINVAL, NULL, NULL, NULL, "out of range", NULL},
		{"volume fr-1 inf", DM_EINVAL, NULL, NULL, NULL, "out of range", NULL},
		{"volume fr-1 -inf", DM_EINVAL, NULL, NULL, NULL, "out of range", NULL},
		{"volume fr-1 0", 0, "volume fr-1 0", NULL, NULL, NULL, NULL},
	};
	RUN(DM_INTERLOCK_BLOCK, t);
}

/* Unknown consoles are refused with a reason, by every request. */
static void routing_unknown_console(void **state)
{
	(void)state;
	static const struct step t[] = {
		{"mic xx on", DM_EINVAL, NULL, INITIAL_AIR, NULL, "no console 99 (there are 6)",
		 NULL},
		{"mute xx on", DM_EINVAL, NULL, NULL, NULL, "no console 99", NULL},
		{"output xx a", DM_EINVAL, NULL, NULL, NULL, "no console 99", NULL},
		{"source xx floor", DM_EINVAL, NULL, NULL, NULL, "no console 99", NULL},
		{"volume xx 0", DM_EINVAL, NULL, NULL, NULL, "no console 99", NULL},
	};
	RUN(DM_INTERLOCK_BLOCK, t);
}

/* The route's levels: volume and sidetone in linear gain, listen = source. */
static void routing_route_levels(void **state)
{
	(void)state;
	struct dm_routing *r = NULL;
	assert_int_equal(dm_routing_new(cfg, DM_INTERLOCK_BLOCK, &r), 0);
	assert_int_equal(dm_routing_volume(r, 0, -6, NULL, NULL), 0);
	assert_int_equal(dm_routing_volume(r, 1, 6, NULL, NULL), 0);
	assert_int_equal(dm_routing_volume(r, 2, -40, NULL, NULL), 0);
	assert_int_equal(dm_routing_source(r, 0, 1, NULL, NULL), 0);
	assert_int_equal(dm_routing_source(r, 2, 4, NULL, NULL), 0);
	struct dm_route *rt = NULL;
	assert_int_equal(dm_routing_build_route(r, -12, &rt), 0);
	assert_int_equal(rt->n_channels, 5);
	assert_int_equal(rt->n_consoles, 6);
	assert_int_equal(rt->channel[0].kind, DM_SRC_FLOOR);
	assert_float_equal(rt->channel[0].gain, 1, 0);
	assert_int_equal(rt->channel[2].kind, DM_SRC_MIC);
	assert_int_equal(rt->channel[2].console, 0);
	assert_int_equal(rt->channel[1].console, -1);
	static const struct {
		int listen;
		double volume;
	} want[] = {{1, 0.501187}, {0, 1.995262}, {4, 0.01}, {0, 1}, {0, 1}, {0, 1}};
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(rt->console[i].listen, want[i].listen);
		assert_float_equal(rt->console[i].volume, want[i].volume, 1e-5);
		assert_float_equal(rt->console[i].sidetone, 0.251189, 1e-5);
	}
	dm_route_free(rt);
	assert_int_equal(dm_routing_build_route(r, -60, &rt), 0);
	assert_float_equal(rt->console[0].sidetone, 0.001, 1e-7);
	dm_route_free(rt);
	assert_int_equal(dm_routing_build_route(r, 0, &rt), 0);
	assert_float_equal(rt->console[0].sidetone, 1, 0);
	dm_route_free(rt);
	dm_routing_free(r);
}

/* What the request functions say beyond the list: on, by, and that a request
 * without changes or refusal to fill is fine. */
static void routing_changes(void **state)
{
	(void)state;
	struct dm_routing *r = NULL;
	assert_int_equal(dm_routing_new(cfg, DM_INTERLOCK_OVERRIDE, &r), 0);
	struct dm_changes ch;
	assert_int_equal(dm_routing_mic(r, 1, true, &ch, NULL), 0);
	assert_int_equal(ch.n, 2);
	assert_int_equal(ch.c[0].kind, DM_CHANGE_HANDOVER);
	assert_int_equal(ch.c[0].console, 0);
	assert_int_equal(ch.c[0].channel, 2);
	assert_int_equal(ch.c[0].by, 1);
	assert_false(ch.c[0].on);
	assert_int_equal(ch.c[1].kind, DM_CHANGE_MIC);
	assert_int_equal(ch.c[1].console, 1);
	assert_int_equal(ch.c[1].channel, 2);
	assert_int_equal(ch.c[1].by, -1);
	assert_true(ch.c[1].on);
	assert_int_equal(dm_routing_floor(r, 3, &ch, NULL), 0);
	assert_int_equal(ch.n, 1);
	assert_int_equal(ch.c[0].kind, DM_CHANGE_FLOOR);
	assert_int_equal(ch.c[0].console, -1);
	assert_int_equal(ch.c[0].channel, 3);
	assert_int_equal(dm_routing_floor(r, -1, &ch, NULL), 0);
	assert_int_equal(ch.c[0].channel, -1);
	/* NULL changes and refusal */
	assert_int_equal(dm_routing_mic(r, 0, true, NULL, NULL), 0);
	assert_int_equal(dm_routing_on_air(r, 2), 0);
	assert_int_equal(dm_routing_output(r, 0, 1, NULL, NULL), DM_EINVAL);
	assert_int_equal(dm_routing_mute(r, 0, true, NULL, NULL), 0);
	assert_int_equal(dm_routing_source(r, 0, 3, NULL, NULL), 0);
	assert_int_equal(dm_routing_volume(r, 0, -1, NULL, NULL), 0);
	assert_int_equal(dm_routing_floor(r, 1, NULL, NULL), 0);
	assert_true(dm_routing_console(r, 0)->mute);
	assert_int_equal(dm_routing_console(r, 0)->source, 3);
	assert_float_equal(dm_routing_console(r, 0)->volume_db, -1, 0);
	assert_int_equal(dm_routing_floor_language(r), 1);
	/* a refusal fills holder and channel; success resets them */
	struct dm_refusal rf;
	dm_routing_free(r);
	assert_int_equal(dm_routing_new(cfg, DM_INTERLOCK_BLOCK, &r), 0);
	assert_int_equal(dm_routing_mic(r, 3, true, NULL, NULL), 0);
	assert_int_equal(dm_routing_output(r, 2, 1, &ch, &rf), DM_EEXIST);
	assert_int_equal(ch.n, 0);
	assert_int_equal(rf.holder, 3);
	assert_int_equal(rf.channel, 1);
	assert_string_equal(rf.reason, "channel en is held by en-1 (booth en)");
	assert_int_equal(dm_routing_mic(r, 3, false, &ch, &rf), 0);
	assert_int_equal(rf.holder, -1);
	assert_int_equal(rf.channel, -1);
	assert_string_equal(rf.reason, "");
	dm_routing_free(r);
}

static void routing_clone_independence(void **state)
{
	(void)state;
	struct dm_routing *r = NULL, *c = NULL;
	assert_int_equal(dm_routing_new(cfg, DM_INTERLOCK_BLOCK, &r), 0);
	assert_int_equal(dm_routing_source(r, 3, 2, NULL, NULL), 0);
	assert_int_equal(dm_routing_clone(r, &c), 0);
	assert_ptr_not_equal(dm_routing_console(r, 0), dm_routing_console(c, 0));
	assert_int_equal(dm_routing_console(c, 3)->source, 2);
	/* change the clone: the original stays */
	assert_int_equal(dm_routing_mic(c, 1, true, NULL, NULL), 0);
	assert_int_equal(dm_routing_volume(c, 3, -10, NULL, NULL), 0);
	assert_int_equal(dm_routing_floor(c, 4, NULL, NULL), 0);
	assert_int_equal(dm_routing_on_air(c, 2), 1);
	assert_int_equal(dm_routing_on_air(r, 2), 0);
	assert_float_equal(dm_routing_console(r, 3)->volume_db, 0, 0);
	assert_int_equal(dm_routing_floor_language(r), -1);
	assert_int_equal(dm_routing_floor_language(c), 4);
	/* and the other way round */
	assert_int_equal(dm_routing_mic(r, 2, false, NULL, NULL), 0);
	assert_int_equal(dm_routing_on_air(c, 3), 2);
	/* the clone outlives the original, and keeps its interlock */
	dm_routing_free(r);
	assert_int_equal(dm_routing_mic(c, 3, true, NULL, NULL), 0);
	assert_int_equal(dm_routing_output(c, 2, 1, NULL, NULL), DM_EEXIST);
	struct dm_route *rt = NULL;
	assert_int_equal(dm_routing_build_route(c, -12, &rt), 0);
	assert_int_equal(rt->channel[4].kind, DM_SRC_FLOOR); /* the floor language */
	dm_route_free(rt);
	dm_routing_free(c);
}

static void routing_bad_args(void **state)
{
	(void)state;
	struct dm_routing *r = (struct dm_routing *)&r;
	assert_int_equal(dm_routing_new(NULL, DM_INTERLOCK_BLOCK, &r), DM_EINVAL);
	assert_int_equal(dm_routing_new(cfg, DM_INTERLOCK_BLOCK, NULL), DM_EINVAL);
	assert_int_equal(dm_routing_new(cfg, (enum dm_interlock)7, &r), DM_EINVAL);
	assert_int_equal(dm_routing_new(cfg, DM_INTERLOCK_BLOCK, &r), 0);

	struct dm_routing *c = (struct dm_routing *)&c;
	assert_int_equal(dm_routing_clone(NULL, &c), DM_EINVAL);
	assert_int_equal(dm_routing_clone(r, NULL), DM_EINVAL);

	assert_null(dm_routing_console(NULL, 0));
	assert_null(dm_routing_console(r, 6));
	assert_non_null(dm_routing_console(r, 5));
	assert_int_equal(dm_routing_on_air(NULL, 2), -1);
	assert_int_equal(dm_routing_on_air(r, 0), -1); /* the floor has no console */
	assert_int_equal(dm_routing_on_air(r, 5), -1);
	assert_int_equal(dm_routing_on_air(r, 2), 0);
	assert_int_equal(dm_routing_output_channel(NULL, 0), -1);
	assert_int_equal(dm_routing_output_channel(r, 6), -1);
	assert_int_equal(dm_routing_output_channel(r, 2), 3);
	assert_int_equal(dm_routing_floor_language(NULL), -1);

	struct dm_changes ch = {.n = 5};
	struct dm_refusal rf;
	assert_int_equal(dm_routing_mic(NULL, 0, true, &ch, &rf), DM_EINVAL);
	assert_int_equal(ch.n, 0);
	assert_int_equal(dm_routing_mute(NULL, 0, true, &ch, &rf), DM_EINVAL);
	assert_int_equal(dm_routing_output(NULL, 0, 0, &ch, &rf), DM_EINVAL);
	assert_int_equal(dm_routing_source(NULL, 0, 0, &ch, &rf), DM_EINVAL);
	assert_int_equal(dm_routing_volume(NULL, 0, 0, &ch, &rf), DM_EINVAL);
	assert_int_equal(dm_routing_floor(NULL, 1, &ch, &rf), DM_EINVAL);

	struct dm_route *rt = (struct dm_route *)&rt;
	assert_int_equal(dm_routing_build_route(NULL, -12, &rt), DM_EINVAL);
	assert_int_equal(dm_routing_build_route(r, -12, NULL), DM_EINVAL);
	assert_int_equal(dm_routing_build_route(r, NAN, &rt), DM_EINVAL);
	assert_null(rt);
	dm_routing_free(r);
	dm_routing_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(routing_initial),
		cmocka_unit_test(routing_handover),
		cmocka_unit_test(routing_block),
		cmocka_unit_test(routing_override),
		cmocka_unit_test(routing_fallback),
		cmocka_unit_test(routing_relay),
		cmocka_unit_test(routing_b_channel),
		cmocka_unit_test(routing_floor_language),
		cmocka_unit_test(routing_cough),
		cmocka_unit_test(routing_volume),
		cmocka_unit_test(routing_unknown_console),
		cmocka_unit_test(routing_route_levels),
		cmocka_unit_test(routing_changes),
		cmocka_unit_test(routing_clone_independence),
		cmocka_unit_test(routing_bad_args),
	};
	return cmocka_run_group_tests_name("routing", tests, group_setup, group_teardown);
}
