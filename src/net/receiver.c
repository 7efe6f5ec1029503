#include "dragoman/receiver.h"

#include "dragoman/error.h"
#include "dragoman/jitter.h"
#include "dragoman/keys.h"
#include "dragoman/log.h"
#include "dragoman/playout.h"
#include "dragoman/profile.h"
#include "dragoman/rproto.h"
#include "dragoman/rtp.h"
#include "dragoman/srtp.h"
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <opus/opus.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_STREAMS 8		/* SSRCs with a key at once: current, restarting, a few more */
#define MAX_FRAME 5760		/* 120 ms at 48 kHz, Opus's largest */
#define KEYS_PER_CHANNEL 4	/* remote mode: SSRCs of one channel with a key at once */
#define MAX_REMOTE_CHANNELS 256 /* a channel index is one byte in a key update */

/* Remote mode: the key of one SSRC, as the engine gave it. */
struct key_entry {
	bool used;
	int channel;
	uint32_t ssrc;
	enum dm_srtp_suite suite;
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	uint64_t serial; /* order of arrival (the oldest is evicted), and the identity of
			    this key: a stream built from another serial is stale */
};

/* One SSRC we hold a key for. */
struct stream {
	uint32_t ssrc;
	struct dm_srtp *srtp;
	bool in_use;
	bool roc_known;	    /* an RTP packet authenticated: the ROC is set */
	bool live;	    /* its send time showed it is live, not a recording */
	uint64_t start_ntp; /* the send time that showed it */
	bool has_sr;
	uint32_t sr_packets; /* packet count of its latest sender report */
	uint64_t failed_us;  /* last failed ROC search, to not repeat it per packet */
	uint64_t last_us;    /* last authenticated packet */
	uint32_t sr_lsr;     /* its latest sender report's NTP time, middle 32 bits */
	uint64_t sr_us;	     /* when that report arrived, 0: none */
	int channel;	     /* remote mode: the channel its key is for */
	uint64_t key_serial; /* remote mode: the key_entry it was built from */
};

/* Reception of the current stream for our receiver reports (RFC 3550 A.1,
 * A.3, A.8). Sequence numbers are extended with the SRTP rollover counter, so
 * highest_seq is the low 32 bits of the stream's packet index. */
struct rr_source {
	bool valid;
	uint32_t base, max;			 /* extended sequence numbers */
	uint32_t received;			 /* authenticated packets */
	uint32_t expected_prior, received_prior; /* at the previous report */
	uint32_t last_transit;			 /* arrival - RTP timestamp, RTP clock units */
	double jitter;				 /* RTP clock units */
};

struct dm_receiver {
	const struct dm_config *cfg;
	uint8_t secret[DM_SECRET_LEN];
	bool have_secret;
	struct dm_sdp sdp;
	bool sdp_mode;
	char sdp_path[4096];
	uint64_t sdp_reload_us;
	uint64_t first_pkt_us; /* first datagram since the join / switch, 0: none yet */
	bool switch_measured;
	char iface[64];
	dm_receiver_pcm_fn on_pcm;
	void *user;
	struct dm_playout *playout;

	int channel;
	_Atomic int want_channel;
	char group[64];
	uint16_t port;
	int frame_samples; /* expected, from the profile (for timing only) */
	int fd_rtp, fd_rtcp;

	/* Remote mode: one unicast socket (the caller's) carries SRTP, SRTCP
	 * and the engine's key updates; keys come from dm_receiver_set_key,
	 * possibly on another thread, into the table under `lock`. The thread
	 * rebuilds its SRTP contexts when keys_version moves. */
	bool remote;
	int fd_remote;
	int n_channels;
	void (*on_datagram)(void *user, const uint8_t *buf, size_t len);
	struct key_entry *keys; /* n_channels * KEYS_PER_CHANNEL */
	uint64_t key_serial;	/* last serial given, under lock */
	_Atomic uint64_t keys_version;
	uint64_t keys_seen; /* the thread's copy */

	struct stream streams[MAX_STREAMS];
	int current;		/* index into streams, -1: none */
	uint64_t cur_start_ntp; /* send time of the current stream when shown live */
	double ssrc_tokens;	/* rate limit of key derivations */
	uint64_t tokens_us;

	struct dm_jitter *jitter;
	OpusDecoder *dec;
	int last_frame;
	float pcm[MAX_FRAME];

	pthread_t thread;
	bool running;
	_Atomic bool stop;

	_Atomic uint64_t auth_failed, replayed, malformed, unknown_ssrc, stale, concealed, fec,
		decoded, ssrc_changes;
	_Atomic uint32_t cur_ssrc, cur_roc;
	_Atomic int64_t switch_us; /* -1: not measured yet */
	_Atomic int cur_channel;
	/* The jitter buffer's statistics, copied out for other threads. */
	_Atomic uint64_t j_received, j_lost, j_late, j_reordered, j_dup;

	/* RTCP receiver reports to the channel's group at port + 1, so the
	 * engine can count its listeners (dragoman/listeners.h). Config mode
	 * only: a report is SRTCP under the key derived for our own random
	 * reporter SSRC, which takes the secret. Sent from dm_receiver_poll,
	 * never from dm_receiver_feed (fuzzing). */
	int fd_report; /* sending socket, -1: no reports */
	struct sockaddr_in rr_dest;
	struct dm_srtp *rr_srtp; /* SEND context of reporter_ssrc, NULL: no reports */
	uint32_t reporter_ssrc;	 /* new at every channel (switch) */
	char cname[32];		 /* random per receiver (RFC 7022) */
	uint64_t rr_next_us;	 /* 0: none scheduled (no stream locked yet) */
	/* The reception state reports are made of: the receiver thread
	 * updates it, and dm_receiver_report_block reads it (and its "prior"
	 * counters) from any thread, so both hold `lock`. */
	pthread_mutex_t lock;
	bool lock_ready;
	struct rr_source src;
	uint32_t rep_ssrc;  /* the stream reported on, 0: none */
	uint32_t rep_lsr;   /* its latest sender report (middle 32 bits of NTP) */
	uint64_t rep_sr_us; /* when that arrived, 0: none */
	_Atomic uint64_t reports_sent, foreign_rtcp;
	_Atomic uint32_t cur_reporter;
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void inc(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void drop_stream(struct stream *s)
{
	dm_srtp_free(s->srtp);
	memset(s, 0, sizeof *s);
}

static void lock(struct dm_receiver *r)
{
	pthread_mutex_lock(&r->lock);
}

static void unlock(struct dm_receiver *r)
{
	pthread_mutex_unlock(&r->lock);
}

/* Forgets what reports say about the current stream (no stream now). */
static void forget_source(struct dm_receiver *r)
{
	lock(r);
	memset(&r->src, 0, sizeof r->src);
	r->rep_ssrc = r->rep_lsr = 0;
	r->rep_sr_us = 0;
	unlock(r);
}

static void reset_streams(struct dm_receiver *r)
{
	for (int i = 0; i < MAX_STREAMS; i++)
		drop_stream(&r->streams[i]);
	r->current = -1;
	atomic_store(&r->cur_ssrc, 0);
	if (r->lock_ready)
		forget_source(r);
}

static void close_sockets(struct dm_receiver *r)
{
	if (r->fd_rtp >= 0)
		close(r->fd_rtp);
	if (r->fd_rtcp >= 0)
		close(r->fd_rtcp);
	r->fd_rtp = r->fd_rtcp = -1;
}

static int open_sockets(struct dm_receiver *r)
{
	close_sockets(r);
	r->first_pkt_us = 0;
	r->switch_measured = false;
	atomic_store_explicit(&r->switch_us, -1, memory_order_relaxed);
	r->fd_rtp = dm_sock_open_receiver(r->group, r->port, r->iface);
	if (r->fd_rtp < 0) {
		int rc = r->fd_rtp;
		r->fd_rtp = -1;
		return rc;
	}
	r->fd_rtcp = dm_sock_open_receiver(r->group, (uint16_t)(r->port + 1), r->iface);
	if (r->fd_rtcp < 0) {
		int rc = r->fd_rtcp;
		r->fd_rtcp = -1;
		close_sockets(r);
		return rc;
	}
	return 0;
}

/* A fresh random reporter SSRC and its SRTCP key for the current channel
 * (config mode). On failure reports stay off until the next channel. */
static void new_reporter(struct dm_receiver *r)
{
	dm_srtp_free(r->rr_srtp);
	r->rr_srtp = NULL;
	atomic_store(&r->cur_reporter, 0);
	const struct dm_conference_conf *conf = dm_config_conference(r->cfg);
	const struct dm_channel_conf *ch = dm_config_channel(r->cfg, (size_t)r->channel);
	uint32_t ssrc;
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	int rc = dm_random_bytes(&ssrc, sizeof ssrc);
	if (rc == 0)
		rc = dm_keys_derive(r->secret, conf->id, ch->id, ssrc, conf->suite, key,
				    sizeof key);
	if (rc == 0)
		rc = dm_srtp_new(conf->suite, DM_SRTP_SEND, ssrc, key, &r->rr_srtp);
	OPENSSL_cleanse(key, sizeof key);
	if (rc < 0) {
		dm_log(DM_LOG_WARN, "no receiver reports on channel %s: %s", ch->id,
		       dm_strerror(rc));
		return;
	}
	r->reporter_ssrc = ssrc;
	atomic_store(&r->cur_reporter, ssrc);
	dm_sock_addr(ch->group, (uint16_t)(ch->port + 1), &r->rr_dest);
}

/* Points the receiver at a channel (config mode) and forgets the old stream. */
static int tune(struct dm_receiver *r, int channel)
{
	const struct dm_channel_conf *ch = dm_config_channel(r->cfg, (size_t)channel);
	if (!ch)
		return DM_ENOENT;
	snprintf(r->group, sizeof r->group, "%s", ch->group);
	r->port = ch->port;
	r->channel = channel;
	reset_streams(r);
	/* A listener on a new channel is a new reporter there: the engine
	 * counts it at once, and its old SSRC ages out of the old channel. */
	r->rr_next_us = 0;
	new_reporter(r);
	int rc = open_sockets(r);
	atomic_store(&r->cur_channel, channel);
	return rc;
}

int dm_receiver_new(const struct dm_receiver_params *p, struct dm_receiver **out)
{
	if (!p || !out || !p->on_pcm || (!!p->config + !!p->sdp + !!p->remote) != 1 ||
	    (p->config && !p->secret))
		return DM_EINVAL;
	if (p->remote &&
	    (p->remote_fd < 0 || p->n_channels <= 0 || p->n_channels > MAX_REMOTE_CHANNELS))
		return DM_EINVAL;
	struct dm_receiver *r = calloc(1, sizeof *r);
	if (!r)
		return DM_ENOMEM;
	if (pthread_mutex_init(&r->lock, NULL) != 0) {
		free(r);
		return DM_ENOMEM;
	}
	r->lock_ready = true;
	r->fd_rtp = r->fd_rtcp = r->fd_report = r->fd_remote = -1;
	r->current = -1;
	r->on_pcm = p->on_pcm;
	r->user = p->user;
	r->playout = p->playout;
	r->ssrc_tokens = DM_LISTEN_NEW_SSRC_PER_S;
	r->tokens_us = now_us();
	int rc = DM_ENOMEM, err;
	r->dec = opus_decoder_create(DM_SAMPLE_RATE, 1, &err);
	if (!r->dec)
		goto fail;
	if ((rc = dm_jitter_new(DM_LISTEN_JITTER_PACKETS, DM_MAX_PACKET, &r->jitter)) < 0)
		goto fail;

	if (p->config) {
		r->cfg = p->config;
		memcpy(r->secret, p->secret, DM_SECRET_LEN);
		r->have_secret = true;
		/* OpenSSL loads its providers on first use (tens of ms): do it now,
		 * not while the first packets of the stream queue up. */
		uint8_t warm[DM_SRTP_MAX_KEY_LEN];
		dm_keys_derive(r->secret, "warm-up", "warm-up", 0, DM_SRTP_AES_CM_128_HMAC_SHA1_80,
			       warm, sizeof warm);
		OPENSSL_cleanse(warm, sizeof warm);
		const struct dm_conference_conf *conf = dm_config_conference(p->config);
		snprintf(r->iface, sizeof r->iface, "%s",
			 p->interface ? p->interface : conf->interface);
		r->frame_samples = conf->profile->frame_samples;
		if ((size_t)p->channel >= dm_config_channel_count(p->config) || p->channel < 0) {
			rc = DM_ENOENT;
			goto fail;
		}
		atomic_store(&r->want_channel, p->channel);
		if ((rc = tune(r, p->channel)) < 0)
			goto fail;
		/* Receiver reports go out of the interface we joined on, looped
		 * back to an engine on this host. Listening does not depend on
		 * them: without the socket there are just no reports. */
		r->fd_report = dm_sock_open_sender(r->iface, conf->ttl);
		if (r->fd_report < 0) {
			dm_log(DM_LOG_WARN, "no receiver reports: %s", dm_strerror(r->fd_report));
			r->fd_report = -1;
		}
		uint8_t id[12];
		if (dm_random_bytes(id, sizeof id) == 0) {
			memcpy(r->cname, "listen-", 7);
			dm_base64_encode(id, sizeof id, r->cname + 7, sizeof r->cname - 7);
		} else {
			snprintf(r->cname, sizeof r->cname, "%s", DM_DEFAULT_LISTEN_NAME);
		}
	} else if (p->remote) {
		if (p->channel < 0 || p->channel >= p->n_channels) {
			rc = DM_ENOENT;
			goto fail;
		}
		r->keys = calloc((size_t)p->n_channels * KEYS_PER_CHANNEL, sizeof *r->keys);
		if (!r->keys) {
			rc = DM_ENOMEM;
			goto fail;
		}
		r->remote = true;
		r->fd_remote = p->remote_fd;
		r->n_channels = p->n_channels;
		r->on_datagram = p->on_datagram;
		r->channel = p->channel;
		atomic_store(&r->want_channel, p->channel);
		atomic_store(&r->cur_channel, p->channel);
		atomic_store_explicit(&r->switch_us, -1, memory_order_relaxed);
		/* libsrtp starts its crypto backend with its first session (tens
		 * of ms): now, not while the first packets of the stream queue
		 * up. */
		uint8_t zero[DM_SRTP_MAX_KEY_LEN] = {0};
		struct dm_srtp *warm = NULL;
		if (dm_srtp_new(DM_SRTP_AES_CM_128_HMAC_SHA1_80, DM_SRTP_RECV, 0, zero, &warm) == 0)
			dm_srtp_free(warm);
		/* The engine's remote profile is not known here; its frame only
		 * sets the first concealment's length and the reorder wait. */
		r->frame_samples = dm_profile_find(DM_DEFAULT_REMOTE_PROFILE)->frame_samples;
	} else {
		r->sdp = *p->sdp;
		r->sdp_mode = true;
		if (p->sdp_path)
			snprintf(r->sdp_path, sizeof r->sdp_path, "%s", p->sdp_path);
		snprintf(r->group, sizeof r->group, "%s", r->sdp.addr);
		r->port = r->sdp.port;
		r->frame_samples = r->sdp.frame_samples > 0 ? r->sdp.frame_samples : 240;
		/* Without --interface, join where the engine says it sends from if
		 * that address is ours (a listener on the engine's host), else let
		 * the kernel's routing choose. */
		snprintf(r->iface, sizeof r->iface, "%s",
			 p->interface ? p->interface : r->sdp.origin_addr);
		rc = open_sockets(r);
		if (rc < 0 && !p->interface) {
			snprintf(r->iface, sizeof r->iface, "0.0.0.0");
			rc = open_sockets(r);
		}
		if (rc < 0)
			goto fail;
		atomic_store(&r->want_channel, -1);
		atomic_store(&r->cur_channel, -1);
		r->channel = -1;
	}
	/* A late packet of a wav listener waits two frames before it is
	 * concealed; a device listener conceals when the device runs dry. */
	dm_jitter_set_reorder_wait(r->jitter, r->playout ? 20000u
							 : (uint64_t)r->frame_samples * 2000000u /
								   DM_SAMPLE_RATE);
	r->last_frame = r->frame_samples;
	*out = r;
	return 0;
fail:
	dm_receiver_free(r);
	return rc;
}

void dm_receiver_free(struct dm_receiver *r)
{
	if (!r)
		return;
	dm_receiver_stop(r);
	close_sockets(r);
	if (r->fd_report >= 0)
		close(r->fd_report);
	dm_srtp_free(r->rr_srtp);
	reset_streams(r);
	if (r->keys) {
		OPENSSL_cleanse(r->keys,
				(size_t)r->n_channels * KEYS_PER_CHANNEL * sizeof *r->keys);
		free(r->keys);
	}
	dm_jitter_free(r->jitter);
	if (r->dec)
		opus_decoder_destroy(r->dec);
	OPENSSL_cleanse(r->secret, sizeof r->secret);
	OPENSSL_cleanse(&r->sdp, sizeof r->sdp);
	if (r->lock_ready)
		pthread_mutex_destroy(&r->lock);
	free(r);
}

static struct stream *find_stream(struct dm_receiver *r, uint32_t ssrc)
{
	for (int i = 0; i < MAX_STREAMS; i++)
		if (r->streams[i].in_use && r->streams[i].ssrc == ssrc)
			return &r->streams[i];
	return NULL;
}

/* A key derivation costs an HKDF and, for RTP, a ROC search: at most a few new
 * SSRCs per second, so a flood of invented SSRCs costs next to nothing. */
static bool take_token(struct dm_receiver *r, uint64_t now)
{
	r->ssrc_tokens += (double)(now - r->tokens_us) * 1e-6 * DM_LISTEN_NEW_SSRC_PER_S;
	r->tokens_us = now;
	if (r->ssrc_tokens > DM_LISTEN_NEW_SSRC_PER_S)
		r->ssrc_tokens = DM_LISTEN_NEW_SSRC_PER_S;
	if (r->ssrc_tokens < 1.0)
		return false;
	r->ssrc_tokens -= 1.0;
	return true;
}

static void reload_sdp(struct dm_receiver *r, uint64_t now)
{
	if (!r->sdp_path[0] || now - r->sdp_reload_us < 200000u)
		return;
	r->sdp_reload_us = now;
	struct dm_sdp fresh;
	if (dm_sdp_read_file(r->sdp_path, &fresh) == 0 && fresh.ssrc != r->sdp.ssrc &&
	    strcmp(fresh.addr, r->sdp.addr) == 0 && fresh.port == r->sdp.port) {
		r->sdp = fresh;
		dm_log(DM_LOG_INFO, "%s: new stream %08x", r->sdp_path, fresh.ssrc);
	}
	OPENSSL_cleanse(&fresh, sizeof fresh);
}

/* Remote mode: the key of an SSRC from the table; the entry, or NULL. */
static const struct key_entry *key_find(const struct dm_receiver *r, uint32_t ssrc)
{
	for (int i = 0; i < r->n_channels * KEYS_PER_CHANNEL; i++)
		if (r->keys[i].used && r->keys[i].ssrc == ssrc)
			return &r->keys[i];
	return NULL;
}

/* Remote mode, receiver thread: after dm_receiver_set_key or
 * dm_receiver_clear_keys, drops the SRTP contexts whose key was replaced,
 * evicted or cleared (they are rebuilt from the table on their next packet,
 * if they still have a key). */
static void sync_keys(struct dm_receiver *r)
{
	uint64_t v = atomic_load_explicit(&r->keys_version, memory_order_acquire);
	if (v == r->keys_seen)
		return;
	r->keys_seen = v;
	bool lost_current = false;
	lock(r);
	for (int i = 0; i < MAX_STREAMS; i++) {
		struct stream *s = &r->streams[i];
		if (!s->in_use)
			continue;
		const struct key_entry *k = key_find(r, s->ssrc);
		if (k && k->serial == s->key_serial && k->channel == s->channel)
			continue;
		if (i == r->current)
			lost_current = true;
		drop_stream(s);
	}
	unlock(r);
	if (lost_current) {
		r->current = -1;
		atomic_store(&r->cur_ssrc, 0);
		forget_source(r);
	}
}

/* Finds or creates the key context of an SSRC; NULL when we may not (rate
 * limit, SSRC not in the SDP, remote mode: a key of another channel) or
 * cannot. *no_key: NULL because no key is known for it (remote mode: the
 * packet cannot be authenticated). */
static struct stream *stream_for(struct dm_receiver *r, uint32_t ssrc, uint64_t now, bool *no_key)
{
	*no_key = false;
	struct stream *s = find_stream(r, ssrc);
	if (s)
		return s;
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	enum dm_srtp_suite suite = DM_SRTP_AES_CM_128_HMAC_SHA1_80;
	int channel = r->channel;
	uint64_t serial = 0;
	if (r->remote) {
		lock(r);
		const struct key_entry *k = key_find(r, ssrc);
		if (k) {
			channel = k->channel;
			suite = k->suite;
			serial = k->serial;
			memcpy(key, k->key, dm_srtp_key_len(k->suite));
		}
		unlock(r);
		if (!k) {
			*no_key = true;
			return NULL;
		}
		if (channel != r->channel) {
			OPENSSL_cleanse(key, sizeof key);
			return NULL;
		}
	} else if (r->sdp_mode) {
		if (ssrc != r->sdp.ssrc)
			reload_sdp(r, now);
		if (ssrc != r->sdp.ssrc)
			return NULL;
		memcpy(key, r->sdp.key, r->sdp.key_len);
		suite = r->sdp.suite;
	} else {
		if (!take_token(r, now))
			return NULL;
		const struct dm_conference_conf *conf = dm_config_conference(r->cfg);
		suite = conf->suite;
		if (dm_keys_derive(r->secret, conf->id,
				   dm_config_channel(r->cfg, (size_t)r->channel)->id, ssrc, suite,
				   key, sizeof key) < 0)
			return NULL;
	}
	/* Evict the least recently authenticated stream that is not current. */
	int slot = -1;
	for (int i = 0; i < MAX_STREAMS; i++) {
		if (i == r->current)
			continue;
		if (!r->streams[i].in_use) {
			slot = i;
			break;
		}
		if (slot < 0 || r->streams[i].last_us < r->streams[slot].last_us)
			slot = i;
	}
	drop_stream(&r->streams[slot]);
	s = &r->streams[slot];
	int rc = dm_srtp_new(suite, DM_SRTP_RECV, ssrc, key, &s->srtp);
	OPENSSL_cleanse(key, sizeof key);
	if (rc < 0)
		return NULL;
	s->ssrc = ssrc;
	s->in_use = true;
	s->channel = channel;
	s->key_serial = serial;
	return s;
}

static void emit(struct dm_receiver *r, int n)
{
	if (n > 0)
		r->on_pcm(r->user, r->pcm, (size_t)n);
}

/* Decodes whatever the jitter buffer is ready to give. */
static void drain(struct dm_receiver *r, uint64_t now)
{
	uint8_t buf[DM_MAX_PACKET];
	for (;;) {
		/* Conceal now rather than let the device run dry waiting for a
		 * packet that is late or lost. */
		int force = r->playout && dm_playout_level(r->playout) < (size_t)r->last_frame / 2;
		size_t len = 0;
		uint16_t seq;
		int res = dm_jitter_pop(r->jitter, now, force, buf, sizeof buf, &len, &seq);
		if (res <= 0)
			break;
		int n;
		if (res == DM_JITTER_PACKET) {
			/* An empty payload would make Opus conceal 120 ms for one
			 * slot: treat it as undecodable (below). */
			n = len ? opus_decode_float(r->dec, buf, (opus_int32)len, r->pcm, MAX_FRAME,
						    0)
				: -1;
			if (n > 0) {
				r->last_frame = n;
				inc(&r->decoded);
				if (!r->switch_measured && r->first_pkt_us) {
					/* now is when the batch arrived: read the
					 * clock again for when it comes out. */
					int64_t d = (int64_t)(now_us() - r->first_pkt_us);
					atomic_store_explicit(&r->switch_us, d,
							      memory_order_relaxed);
					r->switch_measured = true;
				}
			} else {
				/* Undecodable but authenticated: conceal its slot. */
				n = opus_decode_float(r->dec, NULL, 0, r->pcm, r->last_frame, 0);
				inc(&r->concealed);
			}
		} else {
			/* In-band FEC when the next packet carries it (SILK/hybrid),
			 * plain loss concealment otherwise. */
			int have_next = dm_jitter_peek_next(r->jitter, buf, sizeof buf, &len);
			n = -1;
			/* TOC configurations 0..15 are SILK and hybrid, the modes
			 * that carry in-band FEC (RFC 6716 3.1); a CELT packet has
			 * none, and Opus would only conceal. */
			if (have_next == 1 && len > 0 && (buf[0] >> 3) < 16)
				n = opus_decode_float(r->dec, buf, (opus_int32)len, r->pcm,
						      r->last_frame, 1);
			if (n > 0) {
				inc(&r->fec);
			} else {
				n = opus_decode_float(r->dec, NULL, 0, r->pcm, r->last_frame, 0);
				inc(&r->concealed);
			}
		}
		emit(r, n);
	}
	struct dm_jitter_stats js;
	dm_jitter_get_stats(r->jitter, &js);
	atomic_store_explicit(&r->j_received, js.received, memory_order_relaxed);
	atomic_store_explicit(&r->j_lost, js.lost, memory_order_relaxed);
	atomic_store_explicit(&r->j_late, js.late, memory_order_relaxed);
	atomic_store_explicit(&r->j_reordered, js.reordered, memory_order_relaxed);
	atomic_store_explicit(&r->j_dup, js.duplicates, memory_order_relaxed);
}

/* Counts a packet SRTP refused, by why. */
static void count_rejected(struct dm_receiver *r, int rc)
{
	if (rc == DM_EAUTH)
		inc(&r->auth_failed);
	else if (rc == DM_EREPLAY)
		inc(&r->replayed);
	else
		inc(&r->malformed);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The ROC a late joiner must use. The sender report's packet count n is the
 * packets sent so far; the index of the latest is initial_seq + n - 1 with
 * initial_seq < 65536, so the ROC is n / 65536 or the one after. Without a
 * report, count up from 0 (the stream is young, or we wait for the report). */
static int find_roc(struct dm_receiver *r, struct stream *s, const uint8_t *pkt, size_t len,
		    uint64_t now)
{
	if (s->failed_us && now - s->failed_us < 1000000u && !s->has_sr)
		return DM_EAUTH;
	uint32_t cand[4];
	size_t nc = 0;
	if (r->remote && r->current >= 0 && r->src.valid) {
		/* A rotation continues the sequence numbers: the ROC of the stream
		 * we play, where this packet falls in it, is the likely one
		 * (unless the new context counts from 0, which the search
		 * below finds). */
		uint16_t seq = (uint16_t)(pkt[2] << 8 | pkt[3]);
		cand[nc++] = (r->src.max + (uint32_t)dm_seq_diff((uint16_t)r->src.max, seq)) >> 16;
	}
	if (s->has_sr) {
		uint32_t base = s->sr_packets >> 16;
		cand[nc++] = base;
		cand[nc++] = base + 1;
		if (base > 0)
			cand[nc++] = base - 1;
	}
	uint32_t roc;
	int rc = dm_srtp_find_roc(s->srtp, pkt, len, cand, nc, DM_LISTEN_ROC_SEARCH, &roc);
	if (rc < 0) {
		s->failed_us = now ? now : 1;
		return rc;
	}
	s->roc_known = true;
	return 0;
}

/* A delay of about ms (uniform in +-20 %, RFC 3550 6.3's randomisation). */
static uint64_t rr_delay_us(unsigned ms)
{
	uint32_t rnd = 0x80000000u;
	dm_random_bytes(&rnd, sizeof rnd);
	return (uint64_t)((double)ms * 1000.0 * (0.8 + 0.4 * (double)rnd / 4294967296.0));
}

/* RFC 3550 A.1 (highest sequence, extended) and A.8 (interarrival jitter,
 * from the RTP timestamps and our arrival times in RTP clock units). */
static void source_update(struct rr_source *src, const struct dm_rtp_header *h, uint64_t now)
{
	int d = dm_seq_diff((uint16_t)src->max, h->seq);
	if (d > 0)
		src->max += (uint32_t)d;
	src->received++;
	uint32_t arrival = (uint32_t)(now * (DM_SAMPLE_RATE / 1000) / 1000);
	uint32_t transit = arrival - h->ts;
	if (src->valid) {
		int32_t dt = (int32_t)(transit - src->last_transit);
		double ad = dt < 0 ? -(double)dt : (double)dt;
		src->jitter += (ad - src->jitter) / 16.0;
	}
	src->last_transit = transit;
	src->valid = true;
}

/* The stream at idx becomes the one played. A rotation in remote mode
 * (cont: the engine continued sequence number and timestamp under the new
 * SSRC) keeps the jitter buffer, the decoder and the reception statistics;
 * anything else starts clean, at once, from this packet. */
static void make_current(struct dm_receiver *r, int idx, const struct dm_rtp_header *h, bool cont,
			 uint64_t now)
{
	struct stream *s = &r->streams[idx];
	if (r->current >= 0)
		inc(&r->ssrc_changes);
	r->current = idx;
	r->cur_start_ntp = s->start_ntp;
	uint32_t roc = 0;
	dm_srtp_get_roc(s->srtp, &roc);
	atomic_store(&r->cur_ssrc, s->ssrc);
	atomic_store(&r->cur_roc, roc);
	dm_log(DM_LOG_DEBUG, "stream %08x, roc %u%s", s->ssrc, roc, cont ? " (rotation)" : "");
	lock(r);
	if (!cont) {
		memset(&r->src, 0, sizeof r->src);
		r->src.base = r->src.max = roc << 16 | h->seq;
		r->rep_lsr = 0;
		r->rep_sr_us = 0;
	}
	r->rep_ssrc = s->ssrc;
	if (s->sr_us) {
		r->rep_lsr = s->sr_lsr;
		r->rep_sr_us = s->sr_us;
	}
	unlock(r);
	if (cont)
		return;
	dm_jitter_reset(r->jitter);
	opus_decoder_ctl(r->dec, OPUS_RESET_STATE);
	if (r->playout)
		dm_playout_flush(r->playout);
	/* The first report about a second after the stream is locked,
	 * spread so that receivers that locked together do not all
	 * report at the same moment. */
	if (!r->rr_next_us && r->rr_srtp && r->fd_report >= 0)
		r->rr_next_us = now + rr_delay_us(DM_LISTEN_RR_FIRST_MS);
}

static void on_rtp(struct dm_receiver *r, uint8_t *pkt, size_t len, uint64_t now)
{
	if (len < DM_RTP_HEADER_LEN || (pkt[0] >> 6) != 2 ||
	    (pkt[1] & 0x7f) != (r->sdp_mode ? r->sdp.pt : DM_RTP_PT_OPUS)) {
		inc(&r->malformed);
		return;
	}
	uint32_t ssrc = be32(pkt + 8);
	struct stream *cur = r->current >= 0 ? &r->streams[r->current] : NULL;
	if (cur && cur->ssrc != ssrc && !r->remote) {
		/* Another stream while ours is alive: an old capture replayed, or
		 * a rotation that has not reached us yet. Keep to ours until it
		 * falls silent; it costs no crypto. (Remote mode holds keys
		 * only for the engine's streams: any of them plays at once.) */
		uint64_t quiet = (uint64_t)r->frame_samples * 1000000u / DM_SAMPLE_RATE * 3;
		if (quiet < 15000)
			quiet = 15000;
		if (now - cur->last_us < quiet) {
			inc(&r->unknown_ssrc);
			return;
		}
	}
	bool no_key;
	struct stream *s = stream_for(r, ssrc, now, &no_key);
	if (!s) {
		inc(no_key ? &r->auth_failed : &r->unknown_ssrc);
		return;
	}
	/* One socket carries whatever the engine sends us: the channel's
	 * first packet is the first one of its streams. */
	if (r->remote && !r->first_pkt_us)
		r->first_pkt_us = now;
	if (!s->roc_known && find_roc(r, s, pkt, len, now) < 0) {
		inc(&r->auth_failed);
		return;
	}
	int rc = dm_srtp_unprotect(s->srtp, pkt, &len);
	if (rc < 0) {
		count_rejected(r, rc);
		return;
	}
	if (!s->live && !r->sdp_mode && !r->remote) {
		/* The secret opens the packets of any stream this conference
		 * ever sent, also a recording of an earlier run replayed now:
		 * a stream is only played once one of its packets shows a send
		 * time close to ours. (An SDP names its one SSRC, and the engine
		 * gives a remote listener the keys of its current streams only,
		 * so these never hear another run's stream.) */
		uint64_t sent;
		if (dm_rtp_find_ntp_ext(pkt, len, DM_RTP_EXT_NTP_ID, &sent) != 1 ||
		    llabs((long long)(dm_ntp_now() - sent)) >
			    (long long)DM_LISTEN_MAX_AGE_MS * 4294967LL) {
			inc(&r->stale);
			return;
		}
		/* A stream that replaces the one we play (a restart, a rotation)
		 * started after it: one that claims an earlier time is a recording
		 * of a run before it, however recent, whatever the clocks' skew. */
		if (r->current >= 0 && &r->streams[r->current] != s && sent <= r->cur_start_ntp) {
			inc(&r->stale);
			return;
		}
		s->live = true;
		s->start_ntp = sent;
	}
	s->last_us = now;
	struct dm_rtp_header h;
	if (dm_rtp_parse(pkt, len, &h) < 0) {
		inc(&r->malformed);
		return;
	}
	int idx = (int)(s - r->streams);
	if (idx != r->current) {
		int d = 0;
		bool cont = false;
		if (r->remote && r->current >= 0 && r->src.valid) {
			d = dm_seq_diff((uint16_t)r->src.max, h.seq);
			cont = d > -DM_LISTEN_JITTER_PACKETS && d < DM_LISTEN_JITTER_PACKETS;
		}
		/* A late packet of the stream a rotation left fills its slot
		 * without taking the place of the new one. */
		if (!cont || d > 0)
			make_current(r, idx, &h, cont, now);
	}
	lock(r);
	source_update(&r->src, &h, now);
	unlock(r);
	rc = dm_jitter_put(r->jitter, h.seq, h.ts, pkt + h.payload_off, h.payload_len, now);
	(void)rc; /* late and duplicate packets are counted by the jitter buffer */
	drain(r, now);
}

static void on_rtcp(struct dm_receiver *r, uint8_t *pkt, size_t len, uint64_t now)
{
	if (len < 8 || (pkt[0] >> 6) != 2 || !dm_rtp_is_rtcp(pkt, len)) {
		inc(&r->malformed);
		return;
	}
	/* Only sender reports matter here. The group's RTCP port also carries
	 * every listener's receiver reports (ours looped back included), which
	 * authenticate under keys of SSRCs that never send: skip them on their
	 * clear-text packet type, before any key derivation, token or ROC
	 * search is spent on them. */
	if (pkt[1] != 200) {
		inc(&r->foreign_rtcp);
		return;
	}
	bool no_key;
	struct stream *s = stream_for(r, be32(pkt + 4), now, &no_key);
	if (!s) {
		inc(no_key ? &r->auth_failed : &r->unknown_ssrc);
		return;
	}
	int rc = dm_srtp_unprotect_rtcp(s->srtp, pkt, &len);
	if (rc < 0) {
		count_rejected(r, rc);
		return;
	}
	bool has_sr = false;
	struct dm_rtcp_sr sr;
	if (dm_rtcp_parse(pkt, len, &has_sr, &sr, NULL, NULL) == 0 && has_sr) {
		s->has_sr = true;
		s->sr_packets = sr.packet_count;
		s->failed_us = 0;
		s->sr_lsr = (uint32_t)(sr.ntp >> 16);
		s->sr_us = now;
		if (r->current >= 0 && &r->streams[r->current] == s) {
			lock(r);
			r->rep_lsr = s->sr_lsr;
			r->rep_sr_us = s->sr_us;
			unlock(r);
		}
	}
}

/* The report block about the current stream, now (RFC 3550 6.4.1, A.3):
 * updates the "prior" counters. Caller holds the lock. False when there is
 * no stream to report on. */
static bool fill_block(struct dm_receiver *r, uint64_t now, struct dm_rtcp_rr *rr)
{
	struct rr_source *src = &r->src;
	if (!src->valid || !r->rep_ssrc)
		return false;
	uint32_t expected = src->max - src->base + 1;
	uint32_t exp_int = expected - src->expected_prior;
	uint32_t rcv_int = src->received - src->received_prior;
	src->expected_prior = expected;
	src->received_prior = src->received;
	int64_t lost_int = (int64_t)exp_int - (int64_t)rcv_int;
	int64_t fraction = (exp_int == 0 || lost_int <= 0) ? 0 : (lost_int << 8) / exp_int;
	*rr = (struct dm_rtcp_rr){
		.reporter_ssrc = r->reporter_ssrc,
		.source_ssrc = r->rep_ssrc,
		.fraction_lost = (uint8_t)(fraction > 255 ? 255 : fraction),
		.cumulative_lost = (int32_t)((int64_t)expected - (int64_t)src->received),
		.highest_seq = src->max,
		.jitter = (uint32_t)src->jitter,
	};
	if (r->rep_sr_us) {
		rr->lsr = r->rep_lsr;
		rr->dlsr = now > r->rep_sr_us ? (uint32_t)((now - r->rep_sr_us) * 65536u / 1000000u)
					      : 0;
	}
	return true;
}

/* Sends our receiver report about the current stream when one is due:
 * RR with one report block + SDES CNAME, SRTCP (RFC 3550 6.4.2, A.3). */
static void maybe_report(struct dm_receiver *r, uint64_t now)
{
	if (!r->rr_next_us || now < r->rr_next_us || r->current < 0)
		return;
	r->rr_next_us = now + rr_delay_us(DM_LISTEN_RR_INTERVAL_MS);
	const struct stream *s = &r->streams[r->current];
	/* A stream silent for two intervals is gone (engine stopped, network
	 * cut): there is nothing to report on, and no listener to count. */
	if (s->last_us + 2000u * DM_LISTEN_RR_INTERVAL_MS < now || !r->src.valid)
		return;
	/* Our reports would be taken for the stream's own (2^-32). */
	if (r->reporter_ssrc == s->ssrc) {
		new_reporter(r);
		if (!r->rr_srtp)
			return;
	}
	struct dm_rtcp_rr rr;
	lock(r);
	bool have = fill_block(r, now, &rr);
	unlock(r);
	if (!have)
		return;
	uint8_t buf[256];
	int n = dm_rtcp_write_rr(&rr, r->cname, buf, sizeof buf - DM_SRTCP_MAX_TRAILER);
	if (n < 0)
		return;
	size_t len = (size_t)n;
	if (dm_srtp_protect_rtcp(r->rr_srtp, buf, &len, sizeof buf) < 0)
		return;
	if (sendto(r->fd_report, buf, len, 0, (const struct sockaddr *)&r->rr_dest,
		   sizeof r->rr_dest) == (ssize_t)len)
		inc(&r->reports_sent);
}

/* Remote mode: one datagram from the socket, told apart on its first bytes
 * (RFC 5761 for RTP and RTCP; the rest is the caller's: key updates). */
static void on_remote(struct dm_receiver *r, uint8_t *buf, size_t len, uint64_t now)
{
	enum dm_rproto_kind kind = dm_rproto_kind(buf, len);
	if (kind == DM_RPROTO_RTP) {
		on_rtp(r, buf, len, now);
		return;
	}
	if (kind == DM_RPROTO_RTCP) {
		on_rtcp(r, buf, len, now);
		return;
	}
	/* Key updates and the engine's challenges are the caller's. */
	if (kind != DM_RPROTO_KEYS && kind != DM_RPROTO_CHALLENGE)
		inc(&r->malformed);
	if (r->on_datagram)
		r->on_datagram(r->user, buf, len);
}

/* Remote mode: another channel's streams come on the same socket; only the
 * choice of SSRCs (and the state of the old stream) changes. */
static void retune_remote(struct dm_receiver *r, int channel)
{
	r->channel = channel;
	reset_streams(r);
	r->first_pkt_us = 0;
	r->switch_measured = false;
	atomic_store_explicit(&r->switch_us, -1, memory_order_relaxed);
	atomic_store(&r->cur_channel, channel);
}

static int poll_remote(struct dm_receiver *r, int timeout_ms)
{
	struct pollfd pfd = {.fd = r->fd_remote, .events = POLLIN};
	int n = poll(&pfd, 1, timeout_ms);
	uint64_t now = now_us();
	if (n < 0)
		return errno == EINTR ? 0 : DM_ENET;
	sync_keys(r);
	uint8_t buf[DM_MAX_PACKET + 64];
	for (int i = 0; i < 64 && (pfd.revents & POLLIN); i++) {
		ssize_t len = recv(r->fd_remote, buf, sizeof buf, MSG_DONTWAIT);
		if (len < 0)
			break;
		if ((size_t)len > DM_MAX_PACKET) {
			inc(&r->malformed);
			continue;
		}
		on_remote(r, buf, (size_t)len, now);
		/* A key update handled by on_datagram may have installed keys. */
		sync_keys(r);
	}
	drain(r, now);
	return 0;
}

int dm_receiver_poll(struct dm_receiver *r, int timeout_ms)
{
	int want = atomic_load(&r->want_channel);
	if (r->remote) {
		if (want != r->channel) {
			retune_remote(r, want);
			dm_jitter_reset(r->jitter);
			opus_decoder_ctl(r->dec, OPUS_RESET_STATE);
			if (r->playout)
				dm_playout_flush(r->playout);
		}
		return poll_remote(r, timeout_ms);
	}
	if (!r->sdp_mode && want != r->channel) {
		int rc = tune(r, want);
		dm_jitter_reset(r->jitter);
		opus_decoder_ctl(r->dec, OPUS_RESET_STATE);
		if (r->playout)
			dm_playout_flush(r->playout);
		if (rc < 0)
			return rc;
	}
	struct pollfd pfd[2] = {{.fd = r->fd_rtp, .events = POLLIN},
				{.fd = r->fd_rtcp, .events = POLLIN}};
	int n = poll(pfd, 2, timeout_ms);
	uint64_t now = now_us();
	if (n < 0)
		return errno == EINTR ? 0 : DM_ENET;
	uint8_t buf[DM_MAX_PACKET + 64];
	/* Drain each socket; bounded so one socket cannot starve the other. */
	for (int i = 0; i < 64 && (pfd[0].revents & POLLIN); i++) {
		ssize_t len = recv(r->fd_rtp, buf, sizeof buf, 0);
		if (len < 0)
			break;
		if (!r->first_pkt_us)
			r->first_pkt_us = now;
		if ((size_t)len > DM_MAX_PACKET) {
			inc(&r->malformed);
			continue;
		}
		on_rtp(r, buf, (size_t)len, now);
	}
	for (int i = 0; i < 16 && (pfd[1].revents & POLLIN); i++) {
		ssize_t len = recv(r->fd_rtcp, buf, sizeof buf, 0);
		if (len < 0)
			break;
		if ((size_t)len > DM_MAX_PACKET) {
			inc(&r->malformed);
			continue;
		}
		on_rtcp(r, buf, (size_t)len, now);
	}
	/* Time also decides: a gap is concealed when its wait is over. */
	drain(r, now);
	maybe_report(r, now);
	return 0;
}

int dm_receiver_feed(struct dm_receiver *r, uint8_t *pkt, size_t len, int rtcp)
{
	if (!r || (!pkt && len > 0))
		return DM_EINVAL;
	uint64_t now = now_us();
	if (!rtcp && !r->first_pkt_us && !r->remote)
		r->first_pkt_us = now;
	if (r->remote)
		sync_keys(r);
	if (len > DM_MAX_PACKET)
		inc(&r->malformed);
	else if (rtcp)
		on_rtcp(r, pkt, len, now);
	else if (r->remote)
		on_remote(r, pkt, len, now);
	else
		on_rtp(r, pkt, len, now);
	drain(r, now);
	return 0;
}

static void *receiver_main(void *arg)
{
	struct dm_receiver *r = arg;
	int timeout = r->playout ? 2 : 10;
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed))
		if (dm_receiver_poll(r, timeout) < 0) {
			struct timespec ts = {0, 100 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	return NULL;
}

int dm_receiver_start(struct dm_receiver *r)
{
	if (!r)
		return DM_EINVAL;
	if (r->running)
		return 0;
	atomic_store(&r->stop, false);
	if (pthread_create(&r->thread, NULL, receiver_main, r) != 0)
		return DM_EIO;
	r->running = true;
	/* A device listener decodes against the device's deadline: run just
	 * below the audio server's priority when allowed (root, rtprio limit).
	 * Without it, it still works, with a cushion that grows under load. */
	if (r->playout) {
		struct sched_param sp = {.sched_priority = 45};
		if (pthread_setschedparam(r->thread, SCHED_FIFO, &sp) != 0)
			dm_log(DM_LOG_INFO, "receiver thread runs without real-time priority");
	}
	return 0;
}

void dm_receiver_stop(struct dm_receiver *r)
{
	if (!r || !r->running)
		return;
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	r->running = false;
}

int dm_receiver_switch(struct dm_receiver *r, int channel)
{
	if (!r)
		return DM_EINVAL;
	if (r->remote) {
		if (channel < 0 || channel >= r->n_channels)
			return DM_ENOENT;
		atomic_store(&r->want_channel, channel);
		return 0;
	}
	if (!r->cfg)
		return DM_EINVAL;
	if (channel < 0 || (size_t)channel >= dm_config_channel_count(r->cfg))
		return DM_ENOENT;
	atomic_store(&r->want_channel, channel);
	return 0;
}

void dm_receiver_get_stats(const struct dm_receiver *r, struct dm_receiver_stats *st)
{
	memset(st, 0, sizeof *st);
	st->received = atomic_load_explicit(&r->j_received, memory_order_relaxed);
	st->lost = atomic_load_explicit(&r->j_lost, memory_order_relaxed);
	st->late = atomic_load_explicit(&r->j_late, memory_order_relaxed);
	st->reordered = atomic_load_explicit(&r->j_reordered, memory_order_relaxed);
	st->duplicates = atomic_load_explicit(&r->j_dup, memory_order_relaxed);
	st->auth_failed = atomic_load_explicit(&r->auth_failed, memory_order_relaxed);
	st->replayed = atomic_load_explicit(&r->replayed, memory_order_relaxed);
	st->malformed = atomic_load_explicit(&r->malformed, memory_order_relaxed);
	st->unknown_ssrc = atomic_load_explicit(&r->unknown_ssrc, memory_order_relaxed);
	st->stale = atomic_load_explicit(&r->stale, memory_order_relaxed);
	st->concealed_frames = atomic_load_explicit(&r->concealed, memory_order_relaxed);
	st->fec_frames = atomic_load_explicit(&r->fec, memory_order_relaxed);
	st->decoded_frames = atomic_load_explicit(&r->decoded, memory_order_relaxed);
	st->ssrc_changes = atomic_load_explicit(&r->ssrc_changes, memory_order_relaxed);
	st->foreign_rtcp = atomic_load_explicit(&r->foreign_rtcp, memory_order_relaxed);
	st->reports_sent = atomic_load_explicit(&r->reports_sent, memory_order_relaxed);
	/* fd_report is set once, before any thread runs. */
	st->reporter_ssrc = r->fd_report >= 0
				    ? atomic_load_explicit(&r->cur_reporter, memory_order_relaxed)
				    : 0;
	st->ssrc = atomic_load_explicit(&r->cur_ssrc, memory_order_relaxed);
	st->roc = atomic_load_explicit(&r->cur_roc, memory_order_relaxed);
	st->channel = atomic_load_explicit(&r->cur_channel, memory_order_relaxed);
	int64_t sw = atomic_load_explicit(&r->switch_us, memory_order_relaxed);
	st->switch_ms = sw < 0 ? -1.0 : (double)sw / 1000.0;
}

int dm_receiver_set_key(struct dm_receiver *r, int channel, uint32_t ssrc, enum dm_srtp_suite suite,
			const uint8_t *key)
{
	size_t key_len = dm_srtp_key_len(suite);
	if (!r || !r->remote || !key || channel < 0 || channel >= r->n_channels || key_len == 0 ||
	    key_len > DM_SRTP_MAX_KEY_LEN)
		return DM_EINVAL;
	lock(r);
	struct key_entry *k = (struct key_entry *)key_find(r, ssrc);
	if (k && k->channel == channel && k->suite == suite &&
	    CRYPTO_memcmp(k->key, key, key_len) == 0) {
		/* The engine repeats a key update until we acknowledge it: the
		 * same key again changes nothing (nor its age). */
		unlock(r);
		return 0;
	}
	if (k) {
		OPENSSL_cleanse(k, sizeof *k);
		k = NULL;
	}
	/* The channel's free slot, else its oldest key. */
	struct key_entry *slots = &r->keys[(size_t)channel * KEYS_PER_CHANNEL];
	for (int i = 0; i < KEYS_PER_CHANNEL; i++) {
		if (!slots[i].used) {
			k = &slots[i];
			break;
		}
		if (!k || slots[i].serial < k->serial)
			k = &slots[i];
	}
	OPENSSL_cleanse(k, sizeof *k);
	k->used = true;
	k->channel = channel;
	k->ssrc = ssrc;
	k->suite = suite;
	memcpy(k->key, key, key_len);
	k->serial = ++r->key_serial;
	unlock(r);
	atomic_fetch_add_explicit(&r->keys_version, 1, memory_order_release);
	return 0;
}

void dm_receiver_clear_keys(struct dm_receiver *r)
{
	if (!r || !r->remote)
		return;
	lock(r);
	OPENSSL_cleanse(r->keys, (size_t)r->n_channels * KEYS_PER_CHANNEL * sizeof *r->keys);
	unlock(r);
	atomic_fetch_add_explicit(&r->keys_version, 1, memory_order_release);
}

void dm_receiver_report_block(struct dm_receiver *r, struct dm_rproto_report *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof *out);
	if (!r)
		return;
	struct dm_rtcp_rr rr;
	lock(r);
	bool have = fill_block(r, now_us(), &rr);
	unlock(r);
	if (!have)
		return;
	out->ssrc = rr.source_ssrc;
	out->fraction_lost = rr.fraction_lost;
	/* The wire has 24 bits (RFC 3550 A.3 clamps). */
	out->cumulative_lost = rr.cumulative_lost > 0x7fffff	? 0x7fffff
			       : rr.cumulative_lost < -0x800000 ? -0x800000
								: rr.cumulative_lost;
	out->highest_seq = rr.highest_seq;
	out->jitter = rr.jitter;
	out->lsr = rr.lsr;
	out->dlsr = rr.dlsr;
}
