/* dragoman: a channel's remote stream: its own Opus encoder (the remote
 * profile, e.g. `internet`: 20 ms, in-band FEC), RTP + SRTP under its own
 * SSRC and key, and the same encrypted packet sent to every subscriber of the
 * channel (unicast, one sendmmsg per batch) from the engine's remote UDP
 * socket, so that replies pass the subscribers' NATs. One encoder per channel,
 * not per listener.
 *
 * Threads: dm_fanout_feed runs on the channel's encoder worker; subscribers
 * and keys change from the control threads (one mutex per fan-out, never held
 * by the JACK callback, which does not know fan-outs exist). */
#ifndef DRAGOMAN_FANOUT_H
#define DRAGOMAN_FANOUT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dragoman/profile.h"
#include "dragoman/srtp.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dm_fanout;

struct dm_fanout_params {
	const char *conference_id;
	const char *channel_id;
	const uint8_t *secret; /* DM_SECRET_LEN bytes, copied: keys per SSRC by HKDF */
	enum dm_srtp_suite suite;
	const struct dm_profile *profile; /* the remote profile */
	int fd;		   /* UDP socket to send from (not owned): the remote port's */
	int phase;	   /* samples of silence before the first remote frame (a
			      multiple of the in-room frame): spreads the channels' 20 ms
			      frames over time so that their bursts do not coincide */
	bool paced;	   /* false: dm_fanout_feed sends each frame at once; true:
			      it only encodes and encrypts, and dm_fanout_send_due
			      (a sender thread) sends it delay_us after the frame was
			      complete */
	uint32_t delay_us; /* paced: staggers channels whose frames complete
			      together, so that their bursts follow each other */
	int groups;	   /* paced: subscriber i gets each frame in group i % groups,
			      the groups group_gap_us apart (one burst becomes
			      several short ones); 0 or 1: one group */
	uint32_t group_gap_us;
};

struct dm_fanout_stats {
	uint64_t frames;      /* frames encoded (only while there are subscribers) */
	uint64_t packets;     /* datagrams sent (one per subscriber per frame) */
	uint64_t bytes;	      /* payload octets sent */
	uint64_t send_errors; /* datagrams the kernel refused */
	uint64_t bursts;      /* a frame sent to one group of subscribers (frames x groups) */
	uint64_t late_frames; /* bursts whose last packet left over DM_REMOTE_LATE_US after
				 their due time (frame complete, + delay_us, + the group's
				 gaps when paced) */
	uint64_t max_send_us; /* the longest such time seen */
	uint64_t sum_send_us; /* sum over bursts, for a mean */
	uint32_t ssrc;	      /* current SSRC */
	uint32_t generation;  /* current key generation */
	size_t subscribers;   /* addresses now */
};

/* Creates a fan-out with a fresh random SSRC, sequence number and timestamp
 * (generation 1) and no subscribers. Returns 0 and *out; DM_EINVAL; DM_ECODEC;
 * DM_ECRYPTO; DM_ENOMEM. Thread: control. */
int dm_fanout_new(const struct dm_fanout_params *p, struct dm_fanout **out);
void dm_fanout_free(struct dm_fanout *f);

/* Hands n samples of the channel's program (any n; accumulated into the
 * profile's frames). Encodes and sends a frame when one is complete and there
 * is at least one subscriber; without subscribers it does not encode (the
 * encoder state is reset before the next frame that is sent). due_us: when
 * these samples were complete (CLOCK_MONOTONIC, microseconds; the worker's
 * wake-up), 0 for now: a frame's send time (late_frames, max_send_us) runs
 * from it, so time spent on other channels first counts too. Thread: the
 * channel's worker. Returns the frames queued for dm_fanout_send_due (paced
 * mode; 0 otherwise): the caller then wakes the sender thread. */
int dm_fanout_feed(struct dm_fanout *f, const float *pcm, size_t n, uint64_t due_us);

/* Paced mode: sends every queued packet whose due time (CLOCK_MONOTONIC us)
 * is not after now_us, without holding the fan-out's lock while the kernel
 * sends; its send time (late_frames, max_send_us) runs from its due time or
 * from now_us, whichever is later (now_us: when the caller woke for it; the
 * caller reports its own wake-up delays); sets *next_due_us (may be NULL) to the next packet's due
 * time, 0 when none waits. Returns the packets sent. Thread: the one sender thread (not the
 * worker's: the worker then never waits for a burst). */
int dm_fanout_send_due(struct dm_fanout *f, uint64_t now_us, uint64_t *next_due_us);

/* Adds an address (if absent) / removes it (if present). Returns 0,
 * DM_EINVAL, DM_ENOMEM; remove answers DM_ENOENT when it was absent. */
int dm_fanout_add(struct dm_fanout *f, const struct sockaddr_in *addr);
int dm_fanout_remove(struct dm_fanout *f, const struct sockaddr_in *addr);

/* The SSRC, suite and key (master key || salt) of the current generation.
 * key: DM_SRTP_MAX_KEY_LEN bytes; sets *key_len. */
void dm_fanout_current_key(struct dm_fanout *f, uint32_t *ssrc, uint32_t *generation, uint8_t *key,
			   size_t *key_len);

/* Rotation, in two steps so that listeners get the next key before it is
 * used: prepare draws the next SSRC and key (generation + 1) and returns
 * them without using them (a second prepare before commit returns the same);
 * commit switches at once: the next packet goes under the new SSRC and key
 * while the sequence number, timestamp and encoder continue, so a listener
 * holding both keys hears no gap; a prepare after it draws a fresh key.
 * Returns 0, DM_ECRYPTO, DM_ENOMEM; commit without a prepared key:
 * DM_EINVAL. Thread: any. */
int dm_fanout_prepare(struct dm_fanout *f, uint32_t *ssrc, uint32_t *generation, uint8_t *key,
		      size_t *key_len);
int dm_fanout_commit(struct dm_fanout *f);

/* Statistics; any thread. */
void dm_fanout_get_stats(struct dm_fanout *f, struct dm_fanout_stats *st);

#ifdef __cplusplus
}
#endif
#endif
