/* dragoman: the remote delegates' tokens (private to the control API).
 *
 * A technician issues a delegate token through the API; the token is shown
 * once and only its SHA-256 is kept, in a JSON state file that survives
 * engine restarts:
 *
 *   {"version": 1, "delegates": [{"id": "d1a2b3c4d", "name": "...",
 *    "token_sha256": "<64 hex>", "created": s, "expires": s,
 *    "revoked": bool, "revoked_at": s or null}, ...]}
 *
 * (times are Unix seconds). The file is replaced atomically after every
 * change (a temporary file of mode 0600 in the same folder, fsync, rename),
 * so a crash leaves the old state or the new one, never half of one.
 * Revoked and expired delegates stay listed (who had access, until when);
 * when the store is full they are the ones forgotten.
 *
 * Every function is thread-safe (one mutex); `now` is always the caller's
 * wall clock, so that tests can move time. */
#ifndef DRAGOMAN_DELEGATES_H
#define DRAGOMAN_DELEGATES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define DM_DELEGATE_ID_LEN 9	 /* "d" + 8 hex digits */
#define DM_DELEGATE_TOKEN_LEN 64 /* 32 random bytes, hex */
#define DM_DELEGATE_NAME_MAX 128 /* bytes, NUL included: names of 1..127 bytes */
#define DM_DELEGATES_MAX 4096	 /* delegates kept, revoked and expired ones included */
#define DM_DELEGATES_FILE_MAX (4 * 1024 * 1024) /* a larger state file is refused */

struct dm_delegates;

/* Opens the store kept in path. When the file exists it is loaded: it must be
 * a regular file no group or other may access, and well formed. When it does
 * not, an empty state is written at once, so that a folder we cannot write
 * to shows now rather than at the first delegate. Every refusal is logged
 * (dm_log) with the path and why.
 * Returns 0 and *out (free with dm_delegates_free); DM_EINVAL (NULL or empty
 * argument, not a regular file); DM_EPERM (group or others have any access to
 * it); DM_ECONFIG (malformed: not JSON, wrong version, a missing, extra or
 * wrongly typed field, a bad id, name or hash, a duplicate id or hash, more
 * than DM_DELEGATES_MAX delegates, larger than DM_DELEGATES_FILE_MAX); DM_EIO
 * (cannot read it, or cannot write the empty state); DM_ENOMEM. *out is NULL
 * on failure. */
int dm_delegates_new(const char *path, struct dm_delegates **out);

/* Frees the store (the file stays); NULL is fine. */
void dm_delegates_free(struct dm_delegates *d);

/* Issues a token for a new delegate called name (1..127 bytes of UTF-8, no
 * control characters), valid valid_s seconds (DM_DELEGATE_VALID_MIN_S ..
 * DM_DELEGATE_VALID_MAX_S) from now, and saves the state.
 * id gets the new id (DM_DELEGATE_ID_LEN + 1 bytes), token the token
 * (DM_DELEGATE_TOKEN_LEN + 1 bytes: shown once, kept nowhere), *created and
 * *expires the times (each out may be NULL but id and token).
 * Returns 0; DM_EINVAL (bad argument, name or validity); DM_ENOSPC (the store
 * is full of delegates still valid); DM_ECRYPTO (no randomness); DM_EIO (the
 * state could not be saved: nothing changed); DM_ENOMEM. */
int dm_delegates_add(struct dm_delegates *d, const char *name, long long valid_s, long long now,
		     char *id, char *token, long long *created, long long *expires);

/* Revokes delegate id at time now and saves the state. A delegate already
 * revoked stays revoked as it was.
 * Returns 1 (revoked now), 0 (it already was); DM_EINVAL (NULL argument);
 * DM_ENOENT (no such id); DM_EIO (could not save: nothing changed);
 * DM_ENOMEM. */
int dm_delegates_revoke(struct dm_delegates *d, const char *id, long long now);

/* Checks a presented token (len bytes, not NUL-terminated) against every
 * delegate, in a time that does not depend on which one matches.
 * On 0 the delegate's id (DM_DELEGATE_ID_LEN + 1 bytes), name
 * (DM_DELEGATE_NAME_MAX bytes) and *expires are set (each may be NULL).
 * On DM_EAUTH *why says why ("unknown delegate token", "revoked delegate
 * token", "expired delegate token"; static) and, for a revoked or expired
 * one, id and name are set too ("" when unknown), so the refusal can be
 * logged by whom; the token itself is never kept.
 * Returns 0; DM_EAUTH; DM_EINVAL (NULL d or token); DM_ECRYPTO. */
int dm_delegates_auth(struct dm_delegates *d, const char *token, size_t len, long long now,
		      char *id, char *name, long long *expires, const char **why);

/* The list for technicians: a new JSON object {"delegates": [{"id", "name",
 * "created", "expires", "revoked"}]}, in the order issued; never a hash.
 * Returns NULL when out of memory or d is NULL. */
json_t *dm_delegates_list_json(struct dm_delegates *d);

/* Number of delegates kept (revoked and expired ones included). */
size_t dm_delegates_count(struct dm_delegates *d);

#endif
