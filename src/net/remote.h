/* dragoman: the engine's remote delegates (private to the engine): sessions
 * created through the control API, the UDP port their hellos come to
 * (remote.listen), one fan-out (dragoman/fanout.h) per channel that sends the
 * channel's remote stream to every bound session, and key rotation when a
 * delegate is revoked. Wire formats: dragoman/rproto.h.
 *
 * A session is bound to an address only when a hello that authenticates
 * under its key with a counter above the last one accepted came from there,
 * and a response from there returned the cookie of the challenge the engine
 * sent it (rproto.h): the engine never sends media to an address that has not
 * proven it holds a valid session and receives there; to an address that
 * sent a valid hello it sends one challenge (36 bytes for the hello's 72). Hellos over
 * DM_REMOTE_HELLOS_PER_S from one address (IP and port), unknown sessions, bad tags and replays are
 * dropped and counted. No hello for DM_REMOTE_TIMEOUT_S: the session's address is unbound (nothing
 * more is sent to it); a later valid hello binds it again.
 *
 * Rotation (dm_remote_revoke): the revoked delegate's sessions end at once;
 * every fan-out prepares its next SSRC and key; the remaining bound sessions
 * get them in a key update, repeated every DM_REMOTE_KEYS_RESEND_MS until a
 * hello acknowledges the generation; when all have, or after
 * DM_REMOTE_ROTATE_WAIT_MS, every fan-out switches to its new key. */
#ifndef DRAGOMAN_REMOTE_H
#define DRAGOMAN_REMOTE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "dragoman/config.h"

struct dm_remote;

struct dm_remote_stats {
	uint64_t hellos;	   /* accepted */
	uint64_t bad_auth;	   /* dropped: tag mismatch */
	uint64_t replayed;	   /* dropped: counter not above the last */
	uint64_t unknown_session;  /* dropped: no such session (ended, revoked, restarted) */
	uint64_t rate_limited;	   /* dropped: too many from one address */
	uint64_t malformed;	   /* dropped: not a hello */
	uint64_t key_updates_sent; /* datagrams */
	uint64_t rotations;	   /* completed */
	uint64_t challenges;	   /* sent to new addresses of valid hellos */
	uint64_t bad_cookie;	   /* responses dropped: a cookie not for that address or too old */
	size_t sessions, bound;
	uint32_t generation;
};

/* Opens the UDP socket on cfg's remote.listen and creates one fan-out per
 * channel (floor included) with the remote profile. cfg must have a remote
 * section and outlive the object; secret: DM_SECRET_LEN bytes (copied).
 * Returns 0 and *out; DM_EINVAL; DM_ENET (cannot bind: the log names the
 * address); DM_ECODEC; DM_ECRYPTO; DM_ENOMEM. Thread: control. */
int dm_remote_new(const struct dm_config *cfg, const uint8_t *secret, struct dm_remote **out);

/* Stops the thread if started and frees. NULL is fine. */
void dm_remote_free(struct dm_remote *r);

/* Starts the thread that reads hellos and runs timers, and the sender
 * thread (SCHED_FIFO 50 when allowed; with remote.poll a normal thread that
 * polls the clock while frames flow instead of sleeping) that sends each channel's remote
 * frames at their due times: the fan-outs are paced, channels whose frames
 * complete together go DM_SAMPLE_RATE-frame / n apart, and the encoder
 * workers never wait for a burst. Returns 0 or DM_EIO. */
int dm_remote_start(struct dm_remote *r);

/* The UDP port bound (for remote.listen port 0), or DM_EINVAL. */
int dm_remote_port(const struct dm_remote *r);

/* Hands n samples of channel c's program to its fan-out; due_us as in
 * dm_fanout_feed. Thread: that channel's encoder worker. */
void dm_remote_feed(struct dm_remote *r, size_t c, const float *pcm, size_t n, uint64_t due_us);

/* The control API's hooks (src/control/api.h, struct dm_api_remote); user is
 * the dm_remote. Thread: any. */
char *dm_remote_session_new(void *user, const char *delegate_id, const char *name,
			    long long expires, const char *channel, int *status);
int dm_remote_session_channel(void *user, const char *session, const char *delegate_id,
			      const char *channel);
int dm_remote_session_end(void *user, const char *session, const char *delegate_id);
void dm_remote_revoked(void *user, const char *delegate_id);

/* The sessions as a JSON array (new reference; NULL when out of memory):
 * {"session" (first 8 hex digits), "delegate", "name", "channel", "address"
 * ("IP:PORT" or null while unbound), "loss" (fraction, 0..1, from the latest
 * report), "cumulative_lost", "jitter_ms", "rtt_ms" (null until measured),
 * "last_hello_s" (null: none yet)}. And the number of bound sessions on
 * channel c. Thread: any. */
json_t *dm_remote_sessions_json(struct dm_remote *r);
int dm_remote_listeners(struct dm_remote *r, size_t c);

/* Statistics of the whole and of channel c's fan-out (struct
 * dm_fanout_stats). Thread: any. */
void dm_remote_get_stats(struct dm_remote *r, struct dm_remote_stats *st);
struct dm_fanout;
struct dm_fanout *dm_remote_fanout(struct dm_remote *r, size_t c);

#endif
