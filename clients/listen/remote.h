/* dragoman-listen: remote mode (issue 5). A session over the engine's
 * control API (HTTPS, libcurl), its keys handed to the receiver, hellos
 * from the listener's UDP socket (dragoman/rproto.h), key updates from the
 * engine, channel switches through the API, and a new session by itself
 * when the engine restarted. Executable code: it prints its messages to
 * stderr ("dragoman-listen: ..."). */
#ifndef DRAGOMAN_LISTEN_REMOTE_H
#define DRAGOMAN_LISTEN_REMOTE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct dm_listen_remote;
struct dm_receiver;

struct dm_listen_remote_params {
	const char *url;     /* https://HOST:PORT, or http:// to 127.0.0.1 / localhost (tests) */
	const char *token;   /* the delegate's bearer token */
	const char *ca_file; /* verify the engine's certificate against this CA ... */
	const uint8_t *pin;  /* ... or against this SHA-256 fingerprint (DM_TLS_PIN_LEN bytes) */
	const char *channel; /* channel id (or number) to start on; NULL: the engine's */
	const char *bind;    /* IPv4 address for the UDP socket; NULL: any */
};

/* Checks the URL, opens the UDP socket and opens the first session.
 * Returns 0 and *out, or the exit status to leave with (message printed):
 * 2 usage (bad URL, https without --ca-file/--pin, plain http elsewhere than
 * loopback), 1 otherwise (engine unreachable, "token refused", ...). */
int dm_listen_remote_new(const struct dm_listen_remote_params *p, struct dm_listen_remote **out);

/* What the receiver needs: its socket, the session's channel count and the
 * index of the channel it starts on; the listener's smallest cushion (ms)
 * for the session's profile. */
int dm_listen_remote_fd(const struct dm_listen_remote *rm);
int dm_listen_remote_channel_count(const struct dm_listen_remote *rm);
int dm_listen_remote_channel(const struct dm_listen_remote *rm);
double dm_listen_remote_min_ms(const struct dm_listen_remote *rm);

/* Hands the receiver (created with dm_listen_remote_fd, remote mode) its keys and
 * sends the first hello. Main thread. Returns 0 or 1 (printed). */
int dm_listen_remote_start(struct dm_listen_remote *rm, struct dm_receiver *r);

/* The receiver's on_datagram (its thread): key updates. */
void dm_listen_remote_datagram(struct dm_listen_remote *rm, const uint8_t *buf, size_t len);

/* A line of stdin: a channel id or number. Switches (receiver first, then
 * the engine's subscription) and says so. Main thread. */
void dm_listen_remote_command(struct dm_listen_remote *rm, const char *line);

/* Called often (every 50 ms or so) from the main thread: periodic hellos,
 * and a new session when no media came for DM_REMOTE_MEDIA_TIMEOUT_MS
 * (retried every second while the engine cannot be reached, every 10 s
 * while it refuses the token: a revoked delegate's listener runs on). */
void dm_listen_remote_tick(struct dm_listen_remote *rm);

/* Adds the remote mode's fields to the --stats object. */
void dm_listen_remote_stats(struct dm_listen_remote *rm, json_t *o);

/* Ends the session at the engine (best effort, 1 s at most), closes the
 * socket, frees. Call after the receiver has stopped. NULL is fine. */
void dm_listen_remote_free(struct dm_listen_remote *rm);

#endif
