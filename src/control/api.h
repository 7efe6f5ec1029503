/* dragoman: the control API (private): HTTP/JSON over libmicrohttpd, with
 * bearer tokens per role. The request handler is a function of (method,
 * path, headers, body) so that tests and the fuzzer call it without sockets.
 *
 * Routes (all JSON; errors are {"error": "..."}):
 *   GET  /api/v1/state                     any token: dm_control_state_json
 *   GET  /api/v1/events                    any token: Server-Sent Events (server only)
 *   POST /api/v1/consoles/{id}/mic         {"on": bool}
 *   POST /api/v1/consoles/{id}/mute        {"on": bool}
 *   POST /api/v1/consoles/{id}/output      {"channel": "a"|"b"}
 *   POST /api/v1/consoles/{id}/source      {"source": "floor"|"<channel-id>"}
 *   POST /api/v1/consoles/{id}/volume      {"db": number}
 *   POST /api/v1/consoles/{id}/call        {"message": "slow"|"repeat"|"technician"}
 *   POST /api/v1/floor                     {"language": "<channel-id>"|null}, technician
 * A console request answers 200 with that console's new entry of the state's
 * "consoles" list; the floor answers 200 with the whole state.
 * Checks, in this order: token (401, logged, WWW-Authenticate: Bearer), path
 * (404), method (405, with Allow), console id (400), role (403, logged: booth
 * tokens act on their booth's consoles only, delegate tokens only read the
 * state and events, only technicians set the floor), body size (413), body
 * (400: malformed JSON, duplicate, unknown or missing fields, wrong types,
 * unknown channel ids, values the control module refuses), interlock (409
 * {"error", "holder": console id, "channel": channel id}). 500 only when out
 * of memory. A token never appears in a log line or a response. */
#ifndef DRAGOMAN_API_H
#define DRAGOMAN_API_H

#include <stddef.h>

#include "control.h"
#include "dragoman/config.h"

struct dm_api;

#define DM_API_MAX_BODY (64 * 1024)

/* Roles a token grants. */
enum dm_role { DM_ROLE_NONE = 0, DM_ROLE_TECHNICIAN, DM_ROLE_BOOTH, DM_ROLE_DELEGATE };

/* Loads the tokens file: one `technician TOKEN`, `booth:<booth-id> TOKEN` or
 * `delegate TOKEN` a line, optionally followed by a `# comment`; `#` comment
 * lines, blank lines. A token is 16 to 512 characters of RFC 6750's b64token
 * (A-Z a-z 0-9 - . _ ~ + / =), e.g. `openssl rand -hex 32`; only its SHA-256
 * is kept, and presented tokens are compared in constant time.
 * Returns 0 and *out; DM_EINVAL (NULL argument, not a regular file); DM_ENOENT
 * or DM_EIO (cannot open or read it); DM_EPERM (group or others have any
 * access to it); DM_ECONFIG (unknown roles or booths, malformed or duplicate
 * tokens, no token at all); DM_ENOMEM; DM_ECRYPTO. Every problem but ENOMEM
 * is reported through on_error (may be NULL) with the file and its line (0:
 * the whole file); messages never quote a token. cfg and ctl must outlive the
 * api. */
int dm_api_new(const struct dm_config *cfg, struct dm_control *ctl, const char *tokens_file,
	       dm_config_error_fn on_error, void *user, struct dm_api **out);

/* Stops the server (if started: waits for its connection threads, event
 * streams included, about a quarter second at most) and frees; NULL is fine.
 * Free the api before its dm_control: event streams wait inside it. */
void dm_api_free(struct dm_api *api);

/* Handles one request. auth: the Authorization header or NULL. Sets *status
 * (200, 400, 401, 403, 404, 405, 409, 413, or 500 when out of memory) and
 * *response (malloc'd JSON, caller frees; NULL only with 500). A query string
 * in path is ignored. GET /api/v1/events answers {"last_event_id": N} here:
 * the stream itself is served by dm_api_start's server. Never blocks on
 * anything but the control mutex. Thread: any. */
void dm_api_handle(struct dm_api *api, const char *method, const char *path, const char *auth,
		   const char *body, size_t body_len, int *status, char **response);

/* The engine's read-only views: each returns a malloc'd text (JSON; Prometheus
 * text for metrics) that the API sends and frees, or NULL when out of memory.
 * Called from the HTTP server's threads. A NULL view answers 404.
 *   GET /api/v1/meters, /api/v1/alarms, /api/v1/listeners: any valid token;
 *   GET /metrics: no token when the API is bound to loopback, else any token. */
struct dm_api_views {
	char *(*meters)(void *user);
	char *(*alarms)(void *user);
	char *(*listeners)(void *user);
	char *(*metrics)(void *user);
	void *user;
};

/* Sets the views (copied). Call before dm_api_start. */
void dm_api_set_views(struct dm_api *api, const struct dm_api_views *views);

/* Starts the HTTP server on "ADDR:PORT" (IPv4 dotted address; port 0: any
 * free port, see dm_api_port): one thread per connection, at most 64
 * connections, 30 s idle timeout; a body over DM_API_MAX_BODY is answered 413
 * before it is read (when it has a Content-Length). GET /api/v1/events is an
 * SSE stream: `id: N` and `data: <event JSON>` per event, `: keepalive` every
 * 15 s, resuming after Last-Event-ID when the client sends one. A non-loopback
 * address is logged as a warning (no TLS yet). Returns 0; DM_EINVAL (bad
 * argument or address, already started); DM_ENET (cannot listen). */
int dm_api_start(struct dm_api *api, const char *listen);

/* The TCP port the started server listens on, or DM_EINVAL. */
int dm_api_port(const struct dm_api *api);

#endif
