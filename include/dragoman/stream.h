/* dragoman: one outgoing channel stream: Opus encode -> RTP packetize ->
 * SRTP protect -> send, plus RTCP sender reports. Used by the engine's
 * encoder worker; one stream is driven by one thread at a time. */
#ifndef DRAGOMAN_STREAM_H
#define DRAGOMAN_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dragoman/defaults.h"
#include "dragoman/profile.h"
#include "dragoman/sdp.h"
#include "dragoman/sendq.h"
#include "dragoman/srtp.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dm_stream;
struct dm_recorder;

struct dm_stream_params {
	const char *conference_id;
	const char *conference_name;
	const char *channel_id;
	const char *channel_name;
	const char *language;
	const uint8_t *secret; /* DM_SECRET_LEN bytes, copied */
	enum dm_srtp_suite suite;
	const struct dm_profile *profile;
	const char *interface; /* IPv4 address to send from (IP_MULTICAST_IF) */
	const char *group;     /* destination (multicast group or unicast) */
	uint16_t port;	       /* RTP port; RTCP goes to port + 1 */
	int ttl;
	uint32_t initial_roc;	/* rollover counter to start at; 0 in production,
				   tests set it to exercise late joins after wraps */
	struct dm_sendq *sendq; /* optional, not owned: queue datagrams there (the
				   worker flushes them in one sendmmsg) instead of
				   sending each with its own system call */
};

struct dm_stream_stats {
	uint64_t frames;      /* frames encoded */
	uint64_t packets;     /* RTP packets sent */
	uint64_t bytes;	      /* payload octets sent */
	uint64_t send_errors; /* datagrams the kernel refused */
	uint64_t rtcp_sent;
	uint32_t ssrc;
};

/* Creates a stream: opens its socket (multicast interface, TTL, loopback on),
 * creates the Opus encoder for the profile, draws a random SSRC, sequence
 * number and timestamp, and derives the SRTP key from the secret.
 * Returns 0 and *out; DM_EINVAL; DM_ENET (socket, bad interface or group: the
 * log names the address); DM_ECODEC; DM_ECRYPTO; DM_ENOMEM. Thread: control. */
int dm_stream_new(const struct dm_stream_params *p, struct dm_stream **out);
void dm_stream_free(struct dm_stream *s);

/* Samples per frame (the profile's). */
int dm_stream_frame_samples(const struct dm_stream *s);

/* Encodes one frame of dm_stream_frame_samples() mono float samples and sends
 * it (or queues it on the stream's sendq, flushing the queue first if it is
 * full). Sends an RTCP sender report when one is due. Returns 0, DM_ECODEC,
 * DM_ECRYPTO or DM_ENET (the datagram was refused; counted, the stream goes
 * on). Thread: the stream's worker. No allocation. */
int dm_stream_send_frame(struct dm_stream *s, const float *pcm);

/* The encoder's look-ahead in samples (an Ogg Opus file's pre-skip). */
int dm_stream_lookahead(const struct dm_stream *s);

/* Queues every packet the stream sends from now on for rec (the Opus packet
 * as sent, before encryption: no re-encoding; dm_recorder_push), whose
 * owner drains it (dm_recorder_drain). rec is not owned; NULL stops. Thread:
 * while the stream's worker is not running. */
void dm_stream_set_recorder(struct dm_stream *s, struct dm_recorder *rec);

/* Starts afresh under a new random SSRC (and so a new key): key rotation.
 * Thread: the stream's worker, or any while the worker is stopped. */
int dm_stream_rekey(struct dm_stream *s);

/* The stream's current SDP (keys included: a secret). */
void dm_stream_get_sdp(const struct dm_stream *s, struct dm_sdp *sdp);

/* Statistics; safe from any thread (relaxed atomics). */
void dm_stream_get_stats(const struct dm_stream *s, struct dm_stream_stats *st);

#ifdef __cplusplus
}
#endif
#endif
