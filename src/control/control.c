/* dragoman: the engine's control state: the routing state behind a mutex, the
 * routes it publishes, the event log.
 *
 * A request is tried on a copy of the state and committed only when its route
 * could be built, so that running out of memory never leaves the real-time
 * side playing something other than what the state says. Two locks: `lock`
 * for the state (held while publishing, so routes arrive in order) and
 * `ev_lock` for the event ring, taken inside `lock` or alone, so that SSE
 * subscribers waiting for events never hold up a request. */
#include "control.h"

#include "dragoman/error.h"
#include "dragoman/log.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct dm_control {
	pthread_mutex_t lock;
	const struct dm_config *cfg;
	struct dm_routing *routing;
	dm_control_publish_fn publish;
	void *user;
	double sidetone_db;

	pthread_mutex_t ev_lock;
	pthread_cond_t ev_cond;	     /* on CLOCK_MONOTONIC: a clock step must not stall SSE */
	char *ev[DM_CONTROL_EVENTS]; /* event id k lives in ev[k % DM_CONTROL_EVENTS] */
	int64_t ev_last;	     /* id of the newest, 0: none yet */
};

static const char *const op_name[] = {
	[DM_OP_MIC] = "mic",	   [DM_OP_MUTE] = "mute",     [DM_OP_OUTPUT] = "output",
	[DM_OP_SOURCE] = "source", [DM_OP_VOLUME] = "volume", [DM_OP_FLOOR] = "floor",
	[DM_OP_CALL] = "call",
};

static const char *const change_name[] = {
	[DM_CHANGE_MIC] = "mic",
	[DM_CHANGE_MUTE] = "mute",
	[DM_CHANGE_OUTPUT] = "output",
	[DM_CHANGE_SOURCE] = "source",
	[DM_CHANGE_VOLUME] = "volume",
	[DM_CHANGE_HANDOVER] = "handover",
	[DM_CHANGE_TAKEN_OVER] = "taken_over",
	[DM_CHANGE_FLOOR] = "floor",
};

static const char *const call_messages[] = {"slow", "repeat", "technician"};

/* ---- JSON helpers: a failed allocation surfaces as a NULL document ---- */

static void set(json_t *o, const char *key, json_t *v)
{
	if (o)
		json_object_set_new(o, key, v); /* steals v, even on failure */
	else
		json_decref(v);
}

static json_t *channel_ref(const struct dm_config *cfg, int c)
{
	const struct dm_channel_conf *ch = c >= 0 ? dm_config_channel(cfg, (size_t)c) : NULL;
	return ch ? json_string(ch->id) : json_null();
}

static json_t *console_ref(const struct dm_config *cfg, int i)
{
	const struct dm_console_conf *co = i >= 0 ? dm_config_console(cfg, (size_t)i) : NULL;
	return co ? json_string(co->id) : json_null();
}

/* ---- events ---- */

/* Now, UTC, to the millisecond: 2024-05-01T09:00:00.123Z. */
static void event_time(char *when, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(when, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static json_t *event_new(const char *type, const char *who)
{
	char when[40];
	event_time(when, sizeof when);

	json_t *o = json_object();
	set(o, "id", json_integer(0)); /* first in the text; numbered when appended */
	set(o, "time", json_string(when));
	set(o, "type", json_string(type));
	if (who)
		set(o, "who", json_string(who));
	return o;
}

/* Appends o (consumed) to the ring with the next id. An event that cannot be
 * built is dropped; the state change it reports has happened all the same. */
static void event_append_logged(struct dm_control *c, json_t *o, bool log);

static void event_append(struct dm_control *c, json_t *o)
{
	event_append_logged(c, o, true);
}

/* Stores text (consumed) as event id, the next; ev_lock held. */
static void event_store(struct dm_control *c, int64_t id, char *text)
{
	size_t k = (size_t)(id % DM_CONTROL_EVENTS);
	free(c->ev[k]);
	c->ev[k] = text;
	c->ev_last = id;
	pthread_cond_broadcast(&c->ev_cond);
}

static void event_append_logged(struct dm_control *c, json_t *o, bool log)
{
	if (!o)
		return;
	pthread_mutex_lock(&c->ev_lock);
	int64_t id = c->ev_last + 1;
	set(o, "id", json_integer(id));
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text) {
		if (log)
			dm_log(DM_LOG_INFO, "control: %s", text);
		event_store(c, id, text);
	}
	pthread_mutex_unlock(&c->ev_lock);
}

static void event_change(struct dm_control *c, const struct dm_change *ch, const char *who)
{
	const struct dm_config *cfg = c->cfg;
	json_t *o = event_new(change_name[ch->kind], who);
	if (ch->kind != DM_CHANGE_FLOOR)
		set(o, "console", console_ref(cfg, ch->console));
	switch (ch->kind) {
	case DM_CHANGE_MIC:
	case DM_CHANGE_MUTE:
		set(o, "channel", channel_ref(cfg, ch->channel));
		set(o, "on", json_boolean(ch->on));
		break;
	case DM_CHANGE_OUTPUT:
		set(o, "channel", channel_ref(cfg, ch->channel));
		set(o, "output", json_string(ch->value ? "b" : "a"));
		break;
	case DM_CHANGE_SOURCE: set(o, "source", channel_ref(cfg, ch->channel)); break;
	case DM_CHANGE_VOLUME: set(o, "db", json_real(ch->db)); break;
	case DM_CHANGE_HANDOVER:
	case DM_CHANGE_TAKEN_OVER:
		set(o, "channel", channel_ref(cfg, ch->channel));
		set(o, "on", json_false());
		set(o, "by", console_ref(cfg, ch->by));
		break;
	case DM_CHANGE_FLOOR: set(o, "language", channel_ref(cfg, ch->channel)); break;
	}
	event_append(c, o);
}

static void event_refused(struct dm_control *c, const struct dm_control_req *req,
			  const struct dm_refusal *rf)
{
	json_t *o = event_new("refused", req->who);
	set(o, "op", json_string(op_name[req->op]));
	set(o, "console", req->op == DM_OP_FLOOR ? json_null() : console_ref(c->cfg, req->console));
	set(o, "channel", channel_ref(c->cfg, rf->channel));
	set(o, "holder", console_ref(c->cfg, rf->holder));
	set(o, "reason", json_string(rf->reason));
	event_append(c, o);
}

/* ---- requests ---- */

__attribute__((format(printf, 3, 4))) static int refuse(struct dm_refusal *rf, int code,
							const char *fmt, ...)
{
	rf->holder = -1;
	rf->channel = -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rf->reason, sizeof rf->reason, fmt, ap);
	va_end(ap);
	return code;
}

static int apply(struct dm_routing *r, const struct dm_control_req *req, struct dm_changes *ch,
		 struct dm_refusal *rf)
{
	/* A negative index must not wrap into a valid one. */
	size_t i = req->console >= 0 ? (size_t)req->console : SIZE_MAX;
	switch (req->op) {
	case DM_OP_MIC: return dm_routing_mic(r, i, req->on, ch, rf);
	case DM_OP_MUTE: return dm_routing_mute(r, i, req->on, ch, rf);
	case DM_OP_OUTPUT: return dm_routing_output(r, i, req->value, ch, rf);
	case DM_OP_SOURCE: return dm_routing_source(r, i, req->value, ch, rf);
	case DM_OP_VOLUME: return dm_routing_volume(r, i, req->db, ch, rf);
	case DM_OP_FLOOR: return dm_routing_floor(r, req->value, ch, rf);
	case DM_OP_CALL: break;
	}
	return refuse(rf, DM_EINVAL, "unknown request");
}

static int request_call(struct dm_control *c, const struct dm_control_req *req,
			struct dm_refusal *rf)
{
	const struct dm_console_conf *co =
		req->console >= 0 ? dm_config_console(c->cfg, (size_t)req->console) : NULL;
	if (!co)
		return refuse(rf, DM_EINVAL, "no console %d", req->console);
	for (size_t k = 0; k < sizeof call_messages / sizeof call_messages[0]; k++) {
		if (req->message && strcmp(req->message, call_messages[k]) == 0) {
			json_t *o = event_new("call", req->who);
			set(o, "console", json_string(co->id));
			set(o, "booth", json_string(co->booth));
			set(o, "message", json_string(call_messages[k]));
			event_append(c, o);
			return 0;
		}
	}
	return refuse(rf, DM_EINVAL, "unknown call message (known: slow, repeat, technician)");
}

int dm_control_request(struct dm_control *c, const struct dm_control_req *req,
		       struct dm_refusal *refusal)
{
	struct dm_refusal local;
	struct dm_refusal *rf = refusal ? refusal : &local;
	rf->holder = -1;
	rf->channel = -1;
	rf->reason[0] = '\0';
	if (!c || !req)
		return DM_EINVAL;
	if ((unsigned)req->op > DM_OP_CALL) {
		refuse(rf, DM_EINVAL, "unknown request");
		return DM_EINVAL; /* no event: it would have no name */
	}

	pthread_mutex_lock(&c->lock);
	int rc;
	if (req->op == DM_OP_CALL) {
		rc = request_call(c, req, rf);
	} else {
		struct dm_routing *next = NULL;
		struct dm_changes ch = {0};
		rc = dm_routing_clone(c->routing, &next);
		if (rc == 0)
			rc = apply(next, req, &ch, rf);
		struct dm_route *route = NULL;
		if (rc == 0 && ch.n > 0)
			rc = dm_routing_build_route(next, c->sidetone_db, &route);
		if (rc == 0 && ch.n > 0) {
			dm_routing_free(c->routing);
			c->routing = next;
			next = NULL;
			c->publish(c->user, route);
			for (size_t k = 0; k < ch.n; k++)
				event_change(c, &ch.c[k], req->who);
		}
		dm_routing_free(next);
	}
	if (rc == DM_EINVAL || rc == DM_EEXIST)
		event_refused(c, req, rf);
	else if (rc == DM_ENOMEM)
		refuse(rf, rc, "out of memory");
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* ---- life cycle ---- */

int dm_control_new(const struct dm_config *cfg, dm_control_publish_fn publish, void *user,
		   struct dm_control **out)
{
	if (out)
		*out = NULL;
	if (!cfg || !publish || !out)
		return DM_EINVAL;
	const struct dm_conference_conf *conf = dm_config_conference(cfg);
	struct dm_control *c = calloc(1, sizeof *c);
	if (!c)
		return DM_ENOMEM;
	c->cfg = cfg;
	c->publish = publish;
	c->user = user;
	c->sidetone_db = conf->sidetone_db;

	pthread_condattr_t ca;
	bool cond_ok = false;
	if (pthread_condattr_init(&ca) == 0) {
		cond_ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
			  pthread_cond_init(&c->ev_cond, &ca) == 0;
		pthread_condattr_destroy(&ca);
	}
	if (!cond_ok) {
		free(c);
		return DM_ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->ev_lock, NULL);

	struct dm_route *route = NULL;
	int rc = dm_routing_new(cfg, conf->interlock, &c->routing);
	if (rc == 0)
		rc = dm_routing_build_route(c->routing, c->sidetone_db, &route);
	if (rc != 0) {
		dm_control_free(c);
		return rc;
	}
	publish(user, route);
	*out = c;
	return 0;
}

void dm_control_free(struct dm_control *c)
{
	if (!c)
		return;
	dm_routing_free(c->routing);
	for (size_t k = 0; k < DM_CONTROL_EVENTS; k++)
		free(c->ev[k]);
	pthread_cond_destroy(&c->ev_cond);
	pthread_mutex_destroy(&c->ev_lock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void dm_control_republish(struct dm_control *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	struct dm_route *route = NULL;
	if (dm_routing_build_route(c->routing, c->sidetone_db, &route) == 0)
		c->publish(c->user, route);
	else
		dm_log(DM_LOG_ERROR, "control: cannot rebuild the route: out of memory");
	pthread_mutex_unlock(&c->lock);
}

/* ---- state ---- */

static json_t *state_json(const struct dm_control *c)
{
	const struct dm_config *cfg = c->cfg;
	const struct dm_routing *r = c->routing;
	const struct dm_conference_conf *conf = dm_config_conference(cfg);
	int floor = dm_routing_floor_language(r);

	json_t *root = json_object();
	json_t *o = json_object();
	set(o, "id", json_string(conf->id));
	set(o, "name", json_string(conf->name));
	set(root, "conference", o);
	set(root, "floor_language", channel_ref(cfg, floor));
	set(root, "interlock",
	    json_string(conf->interlock == DM_INTERLOCK_OVERRIDE ? "override" : "block"));

	json_t *list = json_array();
	for (size_t k = 0; k < dm_config_channel_count(cfg); k++) {
		const struct dm_channel_conf *ch = dm_config_channel(cfg, k);
		int live = dm_routing_on_air(r, k);
		const char *program;
		if (k == 0 || (int)k == floor)
			program = "floor";
		else if (live >= 0)
			program = "console";
		else
			program = ch->fallback == DM_FALLBACK_FLOOR ? "floor" : "silence";
		o = json_object();
		set(o, "id", json_string(ch->id));
		set(o, "number", json_integer(ch->number));
		set(o, "name", json_string(ch->name));
		set(o, "language", json_string(ch->language));
		set(o, "on_air", console_ref(cfg, live));
		set(o, "program", json_string(program));
		if (json_array_append_new(list, o) != 0) { /* frees o, even when list is NULL */
			json_decref(list);
			list = NULL;
		}
	}
	set(root, "channels", list);

	list = json_array();
	for (size_t i = 0; i < dm_config_console_count(cfg); i++) {
		const struct dm_console_conf *co = dm_config_console(cfg, i);
		const struct dm_console_state *s = dm_routing_console(r, i);
		o = json_object();
		set(o, "id", json_string(co->id));
		set(o, "booth", json_string(co->booth));
		set(o, "mic", json_boolean(s->mic));
		set(o, "mute", json_boolean(s->mute));
		set(o, "output", json_string(s->output ? "b" : "a"));
		set(o, "channel", channel_ref(cfg, dm_routing_output_channel(r, i)));
		set(o, "a", channel_ref(cfg, co->a));
		set(o, "b", channel_ref(cfg, co->b));
		set(o, "source", channel_ref(cfg, s->source));
		set(o, "volume_db", json_real(s->volume_db));
		if (json_array_append_new(list, o) != 0) { /* frees o, even when list is NULL */
			json_decref(list);
			list = NULL;
		}
	}
	set(root, "consoles", list);
	return root;
}

char *dm_control_state_json(struct dm_control *c)
{
	if (!c)
		return NULL;
	pthread_mutex_lock(&c->lock);
	json_t *root = state_json(c);
	pthread_mutex_unlock(&c->lock);
	/* A member that could not be built is missing: say nothing rather than
	 * something incomplete. */
	char *text = NULL;
	if (root && json_object_size(root) == 5)
		text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

/* ---- waiting for events ---- */

int64_t dm_control_events_wait(struct dm_control *c, int64_t after, int timeout_ms, char *buf,
			       size_t cap)
{
	if (!c || !buf || timeout_ms < 0)
		return DM_EINVAL;
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}

	pthread_mutex_lock(&c->ev_lock);
	int err = 0;
	while (c->ev_last <= after && err != ETIMEDOUT)
		err = pthread_cond_timedwait(&c->ev_cond, &c->ev_lock, &deadline);
	int64_t id = 0;
	if (c->ev_last > after) {
		int64_t oldest = c->ev_last - DM_CONTROL_EVENTS + 1;
		id = after + 1;
		if (id < oldest)
			id = oldest;
		if (id < 1)
			id = 1;
		const char *text = c->ev[(size_t)(id % DM_CONTROL_EVENTS)];
		size_t n = strlen(text) + 1;
		if (n > cap)
			id = DM_ENOSPC;
		else
			memcpy(buf, text, n);
	}
	pthread_mutex_unlock(&c->ev_lock);
	return id;
}

void dm_control_post(struct dm_control *c, const char *type, json_t *fields, bool quiet)
{
	if (!c || !type) {
		json_decref(fields);
		return;
	}
	json_t *o = event_new(type, NULL);
	if (o && json_is_object(fields))
		json_object_update(o, fields);
	json_decref(fields);
	event_append_logged(c, o, !quiet);
}

int dm_control_post_text(struct dm_control *c, const char *type, const char *members)
{
	if (!c || !type || !members || !*type ||
	    strspn(type, "abcdefghijklmnopqrstuvwxyz"
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			 "0123456789_") != strlen(type))
		return DM_EINVAL;

	char when[40];
	event_time(when, sizeof when);
	/* {"id":<20 digits>,"time":"","type":"",<members>} */
	size_t cap = strlen(when) + strlen(type) + strlen(members) + 64;
	char *text = malloc(cap);
	if (!text)
		return DM_ENOMEM;
	pthread_mutex_lock(&c->ev_lock);
	int64_t id = c->ev_last + 1;
	snprintf(text, cap, "{\"id\":%lld,\"time\":\"%s\",\"type\":\"%s\"%s%s}", (long long)id,
		 when, type, *members ? "," : "", members);
	event_store(c, id, text);
	pthread_mutex_unlock(&c->ev_lock);
	return 0;
}

bool dm_control_mic_live(struct dm_control *c, size_t console)
{
	if (!c)
		return false;
	pthread_mutex_lock(&c->lock);
	const struct dm_console_state *s = dm_routing_console(c->routing, console);
	bool live = s && s->mic && !s->mute;
	pthread_mutex_unlock(&c->lock);
	return live;
}

int64_t dm_control_events_last(struct dm_control *c)
{
	if (!c)
		return 0;
	pthread_mutex_lock(&c->ev_lock);
	int64_t id = c->ev_last;
	pthread_mutex_unlock(&c->ev_lock);
	return id;
}
