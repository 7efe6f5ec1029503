/* dragoman: the control API (private): HTTP/JSON over libmicrohttpd, with
 * bearer tokens per role. The request handler is a function of (method,
 * path, headers, body) so that tests and the fuzzer call it without sockets.
 *
 * Routes (all JSON; errors are {"error": "..."}):
 *   GET  /api/v1/state                     any token but a delegate's: dm_control_state_json
 *   GET  /api/v1/events                    any token but a delegate's: Server-Sent Events
 *                                          (server only)
 *   POST /api/v1/consoles/{id}/mic         {"on": bool}
 *   POST /api/v1/consoles/{id}/mute        {"on": bool}
 *   POST /api/v1/consoles/{id}/output      {"channel": "a"|"b"}
 *   POST /api/v1/consoles/{id}/source      {"source": "floor"|"<channel-id>"}
 *   POST /api/v1/consoles/{id}/volume      {"db": number}
 *   POST /api/v1/consoles/{id}/call        {"message": "slow"|"repeat"|"technician"}
 *   POST /api/v1/floor                     {"language": "<channel-id>"|null}, technician
 * Remote delegates (issue 5; only when the configuration has a remote
 * section, else 404):
 *   POST   /api/v1/delegates               technician: {"name": str 1..127 chars,
 *                                          "valid_s": int DM_DELEGATE_VALID_MIN_S..MAX_S,
 *                                          optional, default DM_DELEGATE_VALID_S}
 *                                          -> 201 {"id", "name", "token", "created",
 *                                          "expires"} (the token only here, once);
 *                                          503 when DM_DELEGATES_MAX delegates are
 *                                          still valid; 500 when the state file
 *                                          cannot be saved (nothing issued)
 *   GET    /api/v1/delegates               technician: {"delegates": [{"id", "name",
 *                                          "created", "expires", "revoked"}]}
 *   DELETE /api/v1/delegates/{id}          technician: revokes -> 200 {"id", "revoked": true};
 *                                          calls remote.revoked(id) (once: revoking
 *                                          again answers 200 without a call); 404
 *                                          unknown id
 *   POST   /api/v1/remote/sessions         delegate token: {"channel": id or number,
 *                                          optional; an empty body is {}} -> 201 with
 *                                          remote.session_new's JSON; the hook gets
 *                                          the channel's id, known to exist (400
 *                                          otherwise)
 *   POST   /api/v1/remote/sessions/{sid}/channel  that session's delegate:
 *                                          {"channel": id} -> 200 {"channel": id}
 *   DELETE /api/v1/remote/sessions/{sid}   that session's delegate -> 200 {}
 * Session ids in paths are 1..64 characters of [A-Za-z0-9_-] (else 404).
 * Delegate tokens are issued here and kept, as SHA-256 hashes, in
 * remote.state_file (delegates.h: JSON, mode 0600, replaced atomically on
 * every change, reloaded at start); they are checked after the tokens file.
 * A revoked or expired delegate token answers 401 like an unknown one, with
 * the error "revoked delegate token" or "expired delegate token", logged with
 * the delegate's id and name. Delegate tokens (from the state file or the
 * tokens file's `delegate` lines) may use only the remote session routes
 * (403 everywhere else, reads included). A tokens-file delegate reaches the
 * hooks as id "tokens-file:<line>", name "delegate (tokens file, line N)",
 * expiry 0; it cannot be revoked through the API.
 * Times are Unix seconds.
 * A console request answers 200 with that console's new entry of the state's
 * "consoles" list; the floor answers 200 with the whole state.
 * Checks, in this order: token (401, logged, WWW-Authenticate: Bearer), path
 * (404), method (405, with Allow), console id (400), role (403, logged: booth
 * tokens act on their booth's consoles only, delegate tokens only open remote
 * sessions, only technicians set the floor and manage delegates), body size (413), body
 * (400: malformed JSON, duplicate, unknown or missing fields, wrong types,
 * unknown channel ids, values the control module refuses), interlock (409
 * {"error", "holder": console id, "channel": channel id}). 500 only when out
 * of memory, when the delegates' state file cannot be saved, or when a remote
 * hook fails. A token never appears in a log line, nor in a response but the
 * one that issues it. */
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
 * the whole file); messages never quote a token. With a remote section in
 * cfg it also opens the delegates' state file (dm_delegates_new: created when
 * missing; DM_EPERM, DM_ECONFIG, DM_EIO, DM_EINVAL as it says, reported
 * through on_error with that file's path, details in the log). cfg and ctl
 * must outlive the api. */
int dm_api_new(const struct dm_config *cfg, struct dm_control *ctl, const char *tokens_file,
	       dm_config_error_fn on_error, void *user, struct dm_api **out);

/* Stops the server (if started: waits for its connection threads, event
 * streams included, about a quarter second at most) and frees; NULL is fine.
 * Free the api before its dm_control: event streams wait inside it. */
void dm_api_free(struct dm_api *api);

/* Handles one request. auth: the Authorization header or NULL. Sets *status
 * (200, 201, 400, 401, 403, 404, 405, 409, 413, 429, 503, or 500) and *response
 * (malloc'd JSON, caller frees; NULL only with 500). A query string
 * in path is ignored. GET /api/v1/events answers {"last_event_id": N} here:
 * the stream itself is served by dm_api_start's server. Never blocks on
 * anything but the control mutex. Thread: any. */
void dm_api_handle(struct dm_api *api, const char *method, const char *path, const char *auth,
		   const char *body, size_t body_len, int *status, char **response);

/* The engine's read-only views: each returns a malloc'd text (JSON; Prometheus
 * text for metrics) that the API sends and frees, or NULL when out of memory.
 * Called from the HTTP server's threads. A NULL view answers 404.
 *   GET /api/v1/meters, /api/v1/alarms, /api/v1/listeners: any valid token but
 *     a delegate's;
 *   GET /metrics: no token when the API is bound to loopback, else any token but
 *     a delegate's. */
struct dm_api_views {
	char *(*meters)(void *user);
	char *(*alarms)(void *user);
	char *(*listeners)(void *user);
	char *(*metrics)(void *user);
	void *user;
};

/* Sets the views (copied). Call before dm_api_start. */
void dm_api_set_views(struct dm_api *api, const struct dm_api_views *views);

/* The engine's remote sessions (src/net/remote.h), called from the HTTP
 * server's threads. A NULL hook answers 404 for its route.
 *   session_new: a session for a delegate (id, name; token expiry, Unix s,
 *     0: none) on channel (an id, NULL: the first language channel after the
 *     floor, or the floor when there is none); returns malloc'd JSON and sets
 *     *status 201, or NULL and sets *status (400 unknown channel, 401 the
 *     delegate was revoked or its token expired since the token was
 *     checked, 429 the delegate has DM_REMOTE_SESSIONS_PER_DELEGATE already,
 *     503 too many sessions, 500).
 *   session_channel: 0; DM_ENOENT (no such session, or not this delegate's:
 *     404); DM_EINVAL (unknown channel: 400).
 *   session_end: 0 or DM_ENOENT (404).
 *   revoked: the delegate was revoked: end its sessions, rotate keys. */
struct dm_api_remote {
	char *(*session_new)(void *user, const char *delegate_id, const char *name,
			     long long expires, const char *channel, int *status);
	int (*session_channel)(void *user, const char *session, const char *delegate_id,
			       const char *channel);
	int (*session_end)(void *user, const char *session, const char *delegate_id);
	void (*revoked)(void *user, const char *delegate_id);
	void *user;
};

/* Sets the remote hooks (copied). Call before dm_api_start. */
void dm_api_set_remote(struct dm_api *api, const struct dm_api_remote *remote);

/* Starts the HTTP server on "ADDR:PORT" (IPv4 dotted address; port 0: any
 * free port, see dm_api_port): one thread per connection, at most 512
 * connections and 64 from one address, 30 s idle timeout; a body over DM_API_MAX_BODY is answered
 * 413 before it is read (when it has a Content-Length). GET /api/v1/events is an SSE stream: `id:
 * N` and `data: <event JSON>` per event, `: keepalive` every 15 s, resuming after Last-Event-ID
 * when the client sends one. HTTPS (TLS 1.2 or 1.3, GnuTLS inside libmicrohttpd) when the
 * configuration has control.tls_cert and tls_key: both PEM files are read here (the key must be
 * accessible by its owner only, unencrypted, and the key of the certificate; the certificate file
 * may hold the chain after it) and the key bytes are wiped once the server holds them. Logs
 * "listening on http(s)://ADDR:PORT"; a non-loopback address without TLS is logged as a warning.
 * Returns 0; DM_EINVAL (bad argument or address, already started); DM_ENET (cannot listen); with
 * TLS also DM_ENOENT or DM_EIO (cannot read a file), DM_EPERM (the key is open to group or others),
 * DM_ECONFIG (not PEM, an encrypted key, or a key that is not the certificate's), DM_ENOTSUP
 * (libmicrohttpd without TLS), DM_ENOMEM; each logged. */
int dm_api_start(struct dm_api *api, const char *listen);

/* The TCP port the started server listens on, or DM_EINVAL. */
int dm_api_port(const struct dm_api *api);

#endif
