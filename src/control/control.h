/* dragoman: the engine's control state (private): the routing state behind
 * a mutex, the route it publishes to the real-time side, and the event log
 * the API streams. Thread: any (the HTTP server's threads and the engine's
 * control loop); never the JACK callback. */
#ifndef DRAGOMAN_CONTROL_H
#define DRAGOMAN_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dragoman/config.h"
#include "routing.h"

struct dm_control;

/* Hands a new route to the real-time side (the engine swaps its pointer and
 * later frees the old one); the callee owns route. Called with the control
 * mutex held, so routes arrive in the order of the states they show: it must
 * not call back into dm_control. */
typedef void (*dm_control_publish_fn)(void *user, struct dm_route *route);

/* Creates the control state of a configuration (interlock and sidetone from
 * its conference settings) and publishes its first route. cfg must outlive
 * the control state; publish is required. Returns 0 and *out, DM_EINVAL or
 * DM_ENOMEM. */
int dm_control_new(const struct dm_config *cfg, dm_control_publish_fn publish, void *user,
		   struct dm_control **out);
/* Nobody may be in dm_control_events_wait or any other call by then. */
void dm_control_free(struct dm_control *c);

/* The requests of the API, by console / channel index, with the rules of
 * routing.h. On success a new route is published and one event per change is
 * appended; a request that changes nothing (mic on when it is on) publishes
 * nothing and appends nothing. A call changes nothing either: it appends a
 * "call" event. On refusal (DM_EINVAL, DM_EEXIST) a "refused" event is
 * appended and refusal (may be NULL) says why; with DM_EEXIST it names the
 * holder. Returns 0, DM_EINVAL (c or req NULL too), DM_EEXIST (interlock) or
 * DM_ENOMEM (nothing changed). */
enum dm_control_op {
	DM_OP_MIC,
	DM_OP_MUTE,
	DM_OP_OUTPUT,
	DM_OP_SOURCE,
	DM_OP_VOLUME,
	DM_OP_FLOOR,
	DM_OP_CALL,
};
struct dm_control_req {
	enum dm_control_op op;
	int console;	     /* index; -1 for DM_OP_FLOOR */
	bool on;	     /* MIC, MUTE */
	int value;	     /* OUTPUT: 0/1; SOURCE: channel; FLOOR: channel or -1 */
	double db;	     /* VOLUME */
	const char *message; /* CALL: "slow", "repeat", "technician" */
	const char *who;     /* the token's role, for the log and the events */
};
int dm_control_request(struct dm_control *c, const struct dm_control_req *req,
		       struct dm_refusal *refusal);

/* The state as a JSON text (GET /api/v1/state). Returns a malloc'd string
 * (caller frees) or NULL (c NULL, no memory):
 * {"conference":{"id","name"}, "floor_language": channel id|null,
 *  "interlock": "block"|"override",
 *  "channels":[{"id","number","name","language","on_air": console id|null,
 *               "program": "console"|"floor"|"silence"}, ...]   (the floor first)
 *  "consoles":[{"id","booth","mic","mute","output":"a"|"b","channel": output
 *               channel id,"a","b": channel id|null,"source":"floor"|channel id,
 *               "volume_db"}, ...]}
 * on_air is the console holding the channel; program is what the channel
 * carries (the floor on the floor language's channel, even with a console on
 * air; "console" at gain 0 while it coughs). */
char *dm_control_state_json(struct dm_control *c);

/* Events: every state change, refusal and call is appended as one JSON
 * object (one line) with an increasing id from 1; the last DM_CONTROL_EVENTS
 * are kept. dm_control_events_wait copies the text of the first event with
 * id > after into buf and returns its id (when after is older than the oldest
 * kept, the oldest kept: the id jump shows the gap); it waits up to timeout_ms
 * (>= 0) for one; returns 0 on timeout, DM_ENOSPC if buf is too small,
 * DM_EINVAL for bad arguments.
 * {"id":N,"time":"2024-05-01T09:00:00.123Z","type":T, ...} with T and fields:
 *   mic, mute:           console, channel (its output channel), on
 *   output:              console, channel (the new output channel), output "a"|"b"
 *   source:              console, source "floor"|channel id
 *   volume:              console, db
 *   handover, taken_over: console (whose mic went off), channel, on false, by
 *   floor:               language: channel id|null
 *   call:                console, booth, message
 *   refused:             op, console|null, channel|null, holder|null, reason
 * and "who" (the request's role) when the request named one. */
int64_t dm_control_events_wait(struct dm_control *c, int64_t after, int timeout_ms, char *buf,
			       size_t cap);

/* The id of the newest event (a new SSE subscriber starts after it). */
int64_t dm_control_events_last(struct dm_control *c);

/* Appends an event of the engine's own (meters, alarms): {"id", "time",
 * "type": type} with the members of fields (consumed; may be NULL) merged in.
 * quiet: not written to the log (the 10 Hz meter events). */
void dm_control_post(struct dm_control *c, const char *type, json_t *fields, bool quiet);

/* As dm_control_post, with the fields given as text: members, the members
 * of a JSON object without its braces (e.g. "\"a\":1,\"b\":[2]"; "" for
 * none), which the caller vouches are well-formed JSON. type: letters, digits
 * and '_' only (it is written unescaped). Always quiet. For the 10 Hz meters
 * event, which built through jansson cost as much as a third of the metering.
 * Returns 0, DM_EINVAL (c, type or members NULL, or a bad type) or DM_ENOMEM
 * (the event is lost; the state it reports is not). */
int dm_control_post_text(struct dm_control *c, const char *type, const char *members);

/* True if console's mic is on and not muted (coughing is not silence). */
bool dm_control_mic_live(struct dm_control *c, size_t console);

/* Re-publishes the current route (after a JACK restart the callback starts
 * from the state as it is, not the configuration's). */
void dm_control_republish(struct dm_control *c);

#endif
