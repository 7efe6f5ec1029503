/* dragoman: the receive path shared by every listener: socket -> SRTP
 * unprotect (authentication + replay) -> jitter buffer -> Opus decode (with
 * loss concealment) -> PCM to a sink. */
#ifndef DRAGOMAN_RECEIVER_H
#define DRAGOMAN_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dragoman/config.h"
#include "dragoman/rproto.h"
#include "dragoman/sdp.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dm_receiver;
struct dm_playout;

/* Where decoded audio goes: called on the receiver thread with n mono samples
 * at 48 kHz (one frame, decoded or concealed). */
typedef void (*dm_receiver_pcm_fn)(void *user, const float *pcm, size_t n);

struct dm_receiver_params {
	/* Either a configuration (the receiver holds the secret, derives the key
	 * of any SSRC it sees and can switch channel) ... */
	const struct dm_config *config;
	const uint8_t *secret; /* DM_SECRET_LEN bytes, with config */
	int channel;	       /* channel index to start on */
	/* ... or remote mode (remote true): unicast from the engine on a
	 * socket the caller opened, bound and keeps (not owned; the caller sends
	 * its hellos from it too, see dragoman/rproto.h); SRTP and SRTCP arrive
	 * on it, told apart as RFC 5761 says; keys only from dm_receiver_set_key;
	 * `channel` starts it, n_channels counts them; datagrams that are not
	 * RTP/RTCP go to on_datagram (key updates), on the receiver thread. A
	 * packet whose SSRC has no key counts as auth_failed (it cannot be
	 * authenticated). Freshness (send time) checks are those of SDP mode:
	 * keys come per SSRC from the engine. */
	bool remote;
	int remote_fd;
	int n_channels;
	void (*on_datagram)(void *user, const uint8_t *buf, size_t len);
	/* ... or one SDP (fixed SSRC and key). */
	const struct dm_sdp *sdp;
	const char *sdp_path;  /* optional: re-read on an unknown SSRC (restart) */
	const char *interface; /* IPv4 address to join on; NULL: config's / 127.0.0.1 */
	dm_receiver_pcm_fn on_pcm;
	void *user;
	/* Optional: a real-time sink's playout buffer; when set the receiver
	 * conceals a missing packet as soon as the device is about to run dry
	 * instead of waiting for a later packet. */
	struct dm_playout *playout;
};

struct dm_receiver_stats {
	uint64_t received; /* authenticated packets */
	uint64_t lost;
	uint64_t late;
	uint64_t reordered;
	uint64_t duplicates;
	uint64_t auth_failed;	   /* dropped: SRTP authentication failed */
	uint64_t replayed;	   /* dropped: SRTP replay check */
	uint64_t malformed;	   /* dropped: not RTP/SRTP at all, truncated */
	uint64_t unknown_ssrc;	   /* dropped: SSRC over the new-SSRC rate limit or no key */
	uint64_t stale;		   /* dropped: a stream whose send time is not now (a
				      recording of an earlier run replayed) */
	uint64_t concealed_frames; /* lost frames made up by loss concealment (PLC) */
	uint64_t fec_frames;	   /* lost frames rebuilt from the next packet's in-band FEC
				      (SILK/hybrid packets: the internet profile) */
	uint64_t decoded_frames;
	uint64_t ssrc_changes;
	uint64_t foreign_rtcp;	/* skipped: RTCP that is not a sender report, i.e. the
				   listeners' receiver reports heard on the group */
	uint64_t reports_sent;	/* RTCP receiver reports sent (config mode) */
	uint32_t reporter_ssrc; /* ours in those reports on this channel, 0: none */
	uint32_t ssrc;		/* current stream */
	uint32_t roc;		/* its rollover counter when joined */
	int channel;
	/* Join / channel switch time: from the first datagram on the channel's
	 * RTP socket (since it was joined or switched to) to the first decoded
	 * frame of it handed to on_pcm, in ms; -1 until both happened. Covers
	 * key derivation, ROC search, jitter buffer and decode, not the wait for
	 * the first packet. */
	double switch_ms;
};

/* Receiver reports (listener counts, see dragoman/listeners.h): in config
 * mode the receiver sends an SRTCP receiver report about the current stream
 * (loss, extended highest sequence, interarrival jitter, LSR/DLSR; CNAME
 * random per receiver) to the channel's group at port + 1, from the interface
 * it joined on, about DM_LISTEN_RR_FIRST_MS after it locked on a stream and
 * then every DM_LISTEN_RR_INTERVAL_MS (both +-20 %), while the stream was
 * heard in the last two intervals. Its reporter SSRC is random and new at
 * every channel switch; the report is protected with
 * dm_keys_derive(secret, conference id, channel id, reporter SSRC, suite).
 * Reports go out from dm_receiver_poll (and so the thread), never from
 * dm_receiver_feed. In SDP mode there is no secret to key a reporter SSRC
 * with: an SDP listener sends no reports and is not counted. Failing to open
 * the report socket does not stop the receiver (logged, no reports). */

/* Creates a receiver and joins its channel's group (remote mode: joins
 * nothing, reads remote_fd). Returns 0 and *out; DM_EINVAL (NULL p, out or
 * on_pcm; not exactly one of config, sdp and remote; config without secret;
 * an address that is not dotted IPv4; remote with remote_fd < 0 or
 * n_channels outside 1..256); DM_ENOENT (config or remote mode: no such
 * channel); DM_ENET (the log names the address); DM_ENOMEM. */
int dm_receiver_new(const struct dm_receiver_params *p, struct dm_receiver **out);

/* Stops the thread if running, leaves the group and frees. NULL is fine. */
void dm_receiver_free(struct dm_receiver *r);

/* Starts the receiver thread. Returns 0 or DM_EIO. */
int dm_receiver_start(struct dm_receiver *r);

/* Stops and joins the receiver thread. */
void dm_receiver_stop(struct dm_receiver *r);

/* Switches to another channel: config mode leaves the old group, joins the
 * new one and resets the stream state; remote mode only changes which
 * channel's SSRCs are played (the engine sends the new one once told through
 * the API). Any thread. Returns 0, DM_EINVAL (SDP mode), DM_ENOENT (no such
 * channel) or DM_ENET. */
int dm_receiver_switch(struct dm_receiver *r, int channel);

/* Receives and handles packets for at most timeout_ms (one step of the
 * thread's loop); for callers that run their own loop instead of
 * dm_receiver_start. Returns 0 or DM_ENET. */
int dm_receiver_poll(struct dm_receiver *r, int timeout_ms);

/* Hands one datagram to the receive path exactly as if it had arrived on the
 * RTP socket (rtcp 0) or the RTCP socket (rtcp non-zero): the same checks,
 * SRTP unprotect, jitter buffer and decode, at the current time; pkt is
 * decrypted in place (its contents are undefined afterwards). For fuzzing and
 * tests that do not want sockets; a pending dm_receiver_switch is applied by
 * dm_receiver_poll only. Not while the receiver thread runs (dm_receiver_start):
 * same thread as dm_receiver_poll. A dropped packet is counted in the
 * statistics, not reported here. In remote mode rtcp 0 sorts the datagram as
 * the socket's would be (RTP, SRTCP or on_datagram). Returns 0, or DM_EINVAL
 * (r NULL, or pkt NULL with len > 0). */
int dm_receiver_feed(struct dm_receiver *r, uint8_t *pkt, size_t len, int rtcp);

/* Remote mode: holds the key of one SSRC of a channel (at most 4 per channel
 * kept: the newest). A packet of a known SSRC of the current channel is played
 * at once, even while another of that channel is still arriving (a rotation:
 * the engine continues sequence number and timestamp across it, and the
 * receiver then keeps its jitter buffer and decoder, so there is no gap).
 * Thread: any. Returns 0, DM_EINVAL (not remote mode, bad channel, key length
 * not the suite's), DM_ENOMEM. */
int dm_receiver_set_key(struct dm_receiver *r, int channel, uint32_t ssrc, enum dm_srtp_suite suite,
			const uint8_t *key);

/* Remote mode: forgets every key (a new session after an engine restart).
 * Thread: any. */
void dm_receiver_clear_keys(struct dm_receiver *r);

/* The RTCP report block about the current stream (RFC 3550 A.3, A.8), as in
 * a receiver report now: for the remote hello. Updates the "prior" counters
 * like a sent report. All zero when no stream yet. Thread: any. */
void dm_receiver_report_block(struct dm_receiver *r, struct dm_rproto_report *out);

/* Statistics; any thread. */
void dm_receiver_get_stats(const struct dm_receiver *r, struct dm_receiver_stats *st);

#ifdef __cplusplus
}
#endif
#endif
