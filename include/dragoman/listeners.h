/* dragoman: listener counts, engine side. Every config-mode listener
 * (dragoman-listen, the monitor's listen-in, ...) sends an SRTCP receiver
 * report about every DM_LISTEN_RR_INTERVAL_MS to its channel's group at
 * port + 1, protected with the key HKDF derives for the listener's own random
 * reporter SSRC (dm_keys_derive(secret, conference id, channel id,
 * reporter SSRC, suite)). This module listens on every channel's RTCP group,
 * authenticates those reports and keeps, per channel, the reporters heard in
 * the last DM_LISTENERS_WINDOW_S seconds with their loss and jitter (ISO 20109's
 * audience indicator, and the loss alarm).
 *
 * Each report is authenticated (HKDF of its reporter's key, a libsrtp
 * session made and freed for it: about 20-35 us) and its SRTCP index must be
 * above the reporter's previous one (a replay costs no crypto). Only
 * authenticated reporters are stored (a few dozen bytes each, no key), so a
 * forger's cost is bounded by the rate limits per channel:
 * DM_LISTENERS_NEW_PER_S authentications per second for reports of unknown
 * SSRCs, DM_LISTENERS_KNOWN_PER_S for known ones (separate, so a flood of
 * invented SSRCs does not crowd out the listeners already counted); the
 * secret holders' cost by the cap per channel, DM_LISTENERS_MAX_PER_CHANNEL.
 * An attacker on the venue network can make the counts drop (as they can
 * jam the audio) but never rise. Listeners in SDP mode hold no secret and do
 * not report: they are not counted.
 *
 * Threads: dm_listeners_poll runs on one thread the engine owns; the other
 * calls may come from any thread (one mutex: this is not real-time code). */
#ifndef DRAGOMAN_LISTENERS_H
#define DRAGOMAN_LISTENERS_H

#include <stddef.h>
#include <stdint.h>

#include "dragoman/config.h"
#include "dragoman/defaults.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dm_listeners;

/* One channel at a glance: the reporters heard in the window, and the latest
 * report of each. */
struct dm_listeners_summary {
	int count;	      /* distinct reporter SSRCs */
	double loss_max;      /* worst fraction lost since the previous report, 0..1 */
	double loss_mean;     /* mean of the same over the reporters (0 when none) */
	double jitter_max_ms; /* worst interarrival jitter (RFC 3550 A.8) */
};

/* One listener, from its latest report. */
struct dm_listener_info {
	uint32_t ssrc;		 /* the reporter's (random, new at every channel switch) */
	uint32_t source_ssrc;	 /* the stream it reported on */
	double age_s;		 /* since its latest report */
	double loss;		 /* fraction lost since its previous report, 0..1 */
	int32_t cumulative_lost; /* packets, since it locked on the stream */
	uint32_t highest_seq;	 /* extended highest sequence number received */
	double jitter_ms;
	double rtt_ms;	  /* round trip from our sender report (LSR/DLSR), -1: unknown */
	uint64_t reports; /* authenticated reports from it */
};

/* Calls of dm_listeners_list; info is valid during the call only. */
typedef void (*dm_listeners_fn)(void *user, const struct dm_listener_info *info);

struct dm_listeners_stats {
	uint64_t received;     /* datagrams read */
	uint64_t accepted;     /* authenticated receiver reports */
	uint64_t malformed;    /* not (S)RTCP, truncated, or not parseable once decrypted */
	uint64_t foreign;      /* not a receiver report (our own sender reports loop
				  back), or from one of our sender SSRCs: skipped
				  before any crypto */
	uint64_t rejected;     /* authentication failed (forged, wrong key or channel) */
	uint64_t replayed;     /* SRTCP index not above the reporter's last: no crypto */
	uint64_t rate_limited; /* over a rate limit: not authenticated */
	uint64_t full;	       /* new SSRC while its channel tracks the maximum */
	uint64_t derivations;  /* authentications tried (a key derived, a session made) */
	uint64_t tracked;      /* reporters held now, every channel (memory) */
};

/* Opens one socket per channel of cfg on its group at port + 1, joined on
 * iface (dotted IPv4; NULL: the config's network.interface). cfg must outlive
 * the object; secret (DM_SECRET_LEN bytes) is copied and wiped on free.
 * Returns 0 and *out; DM_EINVAL (NULL cfg, secret or out; iface not dotted
 * IPv4); DM_ENET (a join failed: the log names the address); DM_ENOMEM. */
int dm_listeners_new(const struct dm_config *cfg, const uint8_t *secret, const char *iface,
		     struct dm_listeners **out);

/* Closes the sockets and frees. NULL is fine. */
void dm_listeners_free(struct dm_listeners *l);

/* Tells which SSRC the engine sends channel's stream under now (at start and
 * at every rekey): reports claiming that SSRC as their reporter are ignored.
 * Returns 0, DM_EINVAL (l NULL) or DM_ENOENT (no such channel). Any thread. */
int dm_listeners_set_sender(struct dm_listeners *l, int channel, uint32_t ssrc);

/* Changes the limits (defaults: DM_LISTENERS_MAX_PER_CHANNEL,
 * DM_LISTENERS_NEW_PER_S, DM_LISTENERS_KNOWN_PER_S): max_per_channel
 * reporters tracked per channel; new_per_s and known_per_s reports of unknown
 * and of known reporter SSRCs authenticated per second and channel (each also
 * the burst; the buckets start full). Reporters already tracked beyond a
 * lower maximum stay until they expire. Returns 0 or DM_EINVAL (l NULL, or a
 * limit of 0). Any thread. */
int dm_listeners_set_limits(struct dm_listeners *l, size_t max_per_channel, unsigned new_per_s,
			    unsigned known_per_s);

/* Reads and handles the reports that arrive within timeout_ms (0: only what
 * is waiting; -1: until something arrives), then forgets the reporters older
 * than the window (at most once a second). Returns 0, DM_EINVAL (l NULL) or
 * DM_ENET. One thread. */
int dm_listeners_poll(struct dm_listeners *l, int timeout_ms);

/* Forgets the reporters of every channel not heard since
 * now_us - DM_LISTENERS_WINDOW_S. dm_listeners_poll does it with the current
 * time; tests pass a later one. now_us: CLOCK_MONOTONIC in microseconds, 0 for
 * the current time. Any thread. */
void dm_listeners_expire(struct dm_listeners *l, uint64_t now_us);

/* Summary of channel's reporters heard in the window ending at now_us
 * (CLOCK_MONOTONIC in microseconds, 0 for the current time).
 * Returns 0, DM_EINVAL (l or sum NULL) or DM_ENOENT (no such channel). */
int dm_listeners_get(struct dm_listeners *l, int channel, uint64_t now_us,
		     struct dm_listeners_summary *sum);

/* Calls fn for each of channel's reporters heard in the window ending at
 * now_us, in SSRC order, with the module's lock held: fn must not call back
 * into this object. Returns the number of calls, DM_EINVAL (l or fn NULL) or
 * DM_ENOENT. */
int dm_listeners_list(struct dm_listeners *l, int channel, uint64_t now_us, dm_listeners_fn fn,
		      void *user);

/* Counters since dm_listeners_new; any thread. Zeroes *st when l is NULL. */
void dm_listeners_get_stats(struct dm_listeners *l, struct dm_listeners_stats *st);

#ifdef __cplusplus
}
#endif
#endif
