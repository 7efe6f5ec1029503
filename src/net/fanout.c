#include "dragoman/fanout.h"

#include "dragoman/defaults.h"
#include "dragoman/error.h"
#include "dragoman/keys.h"
#include "dragoman/log.h"
#include "dragoman/rtp.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <opus/opus.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 256 /* datagrams per sendmmsg */
#define PENDING 8 /* paced mode: packets (frames and reports) waiting to go */

struct key_state {
	uint32_t ssrc;
	uint32_t generation;
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	struct dm_srtp *srtp;
};

struct dm_fanout {
	char conf_id[DM_ID_MAX];
	char channel_id[DM_ID_MAX];
	uint8_t secret[DM_SECRET_LEN];
	enum dm_srtp_suite suite;
	size_t key_len;
	const struct dm_profile *profile;
	int fd;

	/* Guards dests, cur (its identity), next and commit: the worker holds
	 * it while it sends one frame, the control threads while they change
	 * subscribers or keys. */
	pthread_mutex_t lock;
	struct sockaddr_in *dests;
	size_t n_dests, cap_dests;
	struct mmsghdr *msgs; /* cap_dests entries, reused for every frame */
	struct key_state cur, next;
	bool have_next;

	/* Paced mode: packets wait here for dm_fanout_send_due (the sender
	 * thread), which sends them from its own copy of the destinations. */
	bool paced;
	uint64_t delay_us;
	struct out {
		uint8_t buf[DM_MAX_PACKET];
		size_t len;
		uint64_t due_us;
		bool media;
		int next_group; /* the subscribers' group it goes to next */
	} pending[PENDING];
	int groups; /* paced: subscribers i % groups go group_gap_us apart */
	uint64_t group_gap_us;
	size_t p_head, p_count;
	struct sockaddr_in *tx_dests; /* the sender's copy */
	struct mmsghdr *tx_msgs;
	size_t tx_cap;

	OpusEncoder *enc;
	bool enc_dirty; /* frames were skipped: reset before the next one */
	float *acc;
	size_t fill;
	size_t silence; /* samples of the initial phase still to insert */
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc_packets, ssrc_octets;
	struct timespec last_rtcp;

	_Atomic uint64_t frames, packets, bytes, send_errors, late_frames, max_send_us, sum_send_us,
		bursts;
	_Atomic uint32_t st_ssrc, st_generation;
	_Atomic size_t st_subscribers;
};

static uint64_t mono_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

static int new_key(struct dm_fanout *f, uint32_t avoid, uint32_t generation, struct key_state *k)
{
	uint32_t ssrc;
	int rc = dm_random_bytes(&ssrc, sizeof ssrc);
	if (rc < 0)
		return rc;
	if (ssrc == avoid)
		ssrc ^= 1;
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	rc = dm_keys_derive(f->secret, f->conf_id, f->channel_id, ssrc, f->suite, key, sizeof key);
	struct dm_srtp *srtp = NULL;
	if (rc == 0)
		rc = dm_srtp_new(f->suite, DM_SRTP_SEND, ssrc, key, &srtp);
	if (rc < 0) {
		OPENSSL_cleanse(key, sizeof key);
		return rc;
	}
	k->ssrc = ssrc;
	k->generation = generation;
	memcpy(k->key, key, sizeof key);
	OPENSSL_cleanse(key, sizeof key);
	k->srtp = srtp;
	return 0;
}

static void drop_key(struct key_state *k)
{
	dm_srtp_free(k->srtp);
	OPENSSL_cleanse(k, sizeof *k);
}

int dm_fanout_new(const struct dm_fanout_params *p, struct dm_fanout **out)
{
	if (!p || !out || !p->conference_id || !p->channel_id || !p->secret || !p->profile ||
	    p->fd < 0 || p->phase < 0 || dm_srtp_key_len(p->suite) == 0)
		return DM_EINVAL;
	struct dm_fanout *f = calloc(1, sizeof *f);
	if (!f)
		return DM_ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	snprintf(f->conf_id, sizeof f->conf_id, "%s", p->conference_id);
	snprintf(f->channel_id, sizeof f->channel_id, "%s", p->channel_id);
	memcpy(f->secret, p->secret, DM_SECRET_LEN);
	f->suite = p->suite;
	f->key_len = dm_srtp_key_len(p->suite);
	f->profile = p->profile;
	f->fd = p->fd;
	f->paced = p->paced;
	f->delay_us = p->delay_us;
	f->groups = p->paced && p->groups > 1 ? p->groups : 1;
	f->group_gap_us = p->group_gap_us;
	int rc = DM_ENOMEM;
	f->acc = calloc((size_t)p->profile->frame_samples, sizeof *f->acc);
	if (!f->acc)
		goto fail;
	f->silence = (size_t)p->phase;
	int err;
	f->enc = opus_encoder_create(DM_SAMPLE_RATE, 1, p->profile->application, &err);
	if (!f->enc) {
		dm_log(DM_LOG_ERROR, "opus encoder: %s", opus_strerror(err));
		rc = DM_ECODEC;
		goto fail;
	}
	opus_encoder_ctl(f->enc, OPUS_SET_BITRATE(p->profile->bitrate));
	opus_encoder_ctl(f->enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
	opus_encoder_ctl(f->enc, OPUS_SET_COMPLEXITY(p->profile->complexity));
	if (p->profile->inband_fec) {
		opus_encoder_ctl(f->enc, OPUS_SET_INBAND_FEC(1));
		opus_encoder_ctl(f->enc, OPUS_SET_PACKET_LOSS_PERC(p->profile->expected_loss_pct));
	}
	uint32_t rnd[2];
	if ((rc = dm_random_bytes(rnd, sizeof rnd)) < 0 || (rc = new_key(f, 0, 1, &f->cur)) < 0)
		goto fail;
	/* As for the in-room streams: random, in the lower half, so that tools
	 * assuming a rollover counter of 0 still decode the first minutes. */
	f->seq = (uint16_t)(rnd[0] & 0x7fff);
	f->ts = rnd[1];
	atomic_store(&f->st_ssrc, f->cur.ssrc);
	atomic_store(&f->st_generation, 1);
	*out = f;
	return 0;
fail:
	dm_fanout_free(f);
	return rc;
}

void dm_fanout_free(struct dm_fanout *f)
{
	if (!f)
		return;
	if (f->enc)
		opus_encoder_destroy(f->enc);
	drop_key(&f->cur);
	drop_key(&f->next);
	OPENSSL_cleanse(f->secret, sizeof f->secret);
	free(f->acc);
	free(f->dests);
	free(f->msgs);
	free(f->tx_dests);
	free(f->tx_msgs);
	OPENSSL_cleanse(f->pending, sizeof f->pending);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* Sends one datagram to each of n destinations, in batches. */
static void transmit(struct dm_fanout *f, const uint8_t *buf, size_t len, bool media,
		     struct sockaddr_in *dests, struct mmsghdr *msgs, size_t count)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	for (size_t i = 0; i < count; i++) {
		struct msghdr *m = &msgs[i].msg_hdr;
		memset(m, 0, sizeof *m);
		m->msg_name = &dests[i];
		m->msg_namelen = sizeof dests[i];
		m->msg_iov = &iov;
		m->msg_iovlen = 1;
	}
	size_t done = 0, sent = 0;
	while (done < count) {
		size_t n = count - done;
		if (n > BATCH)
			n = BATCH;
		int r = sendmmsg(f->fd, msgs + done, (unsigned)n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == ENOBUFS) {
				/* The socket or the device is full: the rest of this
				 * frame is lost, not retried one by one. */
				atomic_fetch_add_explicit(&f->send_errors, count - done,
							  memory_order_relaxed);
				break;
			}
			/* The first one was refused (an unreachable address):
			 * count it and go on with the others. */
			atomic_fetch_add_explicit(&f->send_errors, 1, memory_order_relaxed);
			done++;
			continue;
		}
		done += (size_t)r;
		sent += (size_t)r;
	}
	if (media) {
		atomic_fetch_add_explicit(&f->packets, sent, memory_order_relaxed);
		atomic_fetch_add_explicit(&f->bytes, sent * len, memory_order_relaxed);
	}
}

static void record_time(struct dm_fanout *f, uint64_t due_us)
{
	uint64_t now = mono_us();
	uint64_t took = now > due_us ? now - due_us : 0;
	atomic_fetch_add_explicit(&f->sum_send_us, took, memory_order_relaxed);
	if (took > DM_REMOTE_LATE_US)
		atomic_fetch_add_explicit(&f->late_frames, 1, memory_order_relaxed);
	uint64_t max = atomic_load_explicit(&f->max_send_us, memory_order_relaxed);
	if (took > max)
		atomic_store_explicit(&f->max_send_us, took, memory_order_relaxed);
}

/* A datagram for every subscriber: sent now (lock held), or queued for the
 * sender thread in paced mode. */
static void send_all(struct dm_fanout *f, const uint8_t *buf, size_t len, bool media,
		     uint64_t due_us)
{
	if (!f->paced) {
		transmit(f, buf, len, media, f->dests, f->msgs, f->n_dests);
		return;
	}
	if (f->p_count == PENDING) {
		/* The sender thread is far behind: drop the oldest, counting the
		 * subscribers of the groups it had not reached yet. */
		const struct out *old = &f->pending[f->p_head];
		size_t missed = f->n_dests;
		if (old->media && old->next_group > 0) {
			missed = 0;
			for (int g = old->next_group; g < f->groups; g++)
				if ((size_t)g < f->n_dests)
					missed += (f->n_dests - (size_t)g + (size_t)f->groups - 1) /
						  (size_t)f->groups;
		}
		atomic_fetch_add_explicit(&f->send_errors, missed, memory_order_relaxed);
		f->p_head = (f->p_head + 1) % PENDING;
		f->p_count--;
	}
	struct out *o = &f->pending[(f->p_head + f->p_count) % PENDING];
	memcpy(o->buf, buf, len);
	o->len = len;
	o->due_us = due_us;
	o->media = media;
	o->next_group = 0;
	f->p_count++;
}

static void send_sr(struct dm_fanout *f, uint64_t due_us)
{
	uint8_t buf[256];
	struct dm_rtcp_sr sr = {
		.ssrc = f->cur.ssrc,
		.ntp = dm_ntp_now(),
		.rtp_ts = f->ts,
		.packet_count = f->ssrc_packets,
		.octet_count = f->ssrc_octets,
	};
	char cname[64];
	snprintf(cname, sizeof cname, "dragoman-%s", f->channel_id);
	int n = dm_rtcp_write_sr(&sr, cname, buf, sizeof buf - DM_SRTCP_MAX_TRAILER);
	if (n < 0)
		return;
	size_t len = (size_t)n;
	if (dm_srtp_protect_rtcp(f->cur.srtp, buf, &len, sizeof buf) == 0)
		send_all(f, buf, len, false, due_us);
}

/* Encodes the frame in acc and sends it (or queues it, paced). Returns 1
 * when something was queued for the sender thread. */
static int send_frame(struct dm_fanout *f, uint64_t due_us)
{
	int frame = f->profile->frame_samples;
	pthread_mutex_lock(&f->lock);
	bool any = f->n_dests > 0;
	pthread_mutex_unlock(&f->lock);
	if (!any) {
		f->ts += (uint32_t)frame;
		f->enc_dirty = true;
		return 0;
	}
	if (f->enc_dirty) {
		opus_encoder_ctl(f->enc, OPUS_RESET_STATE);
		f->enc_dirty = false;
	}
	/* The encoder is the worker's alone: no lock while it runs, so that
	 * the sender thread and the control threads never wait for it. */
	uint8_t buf[DM_MAX_PACKET];
	const size_t hdr = DM_RTP_HEADER_LEN + DM_RTP_EXT_NTP_LEN;
	int n = opus_encode_float(f->enc, f->acc, frame, buf + hdr, DM_MAX_OPUS_PAYLOAD);
	if (n < 0) {
		f->ts += (uint32_t)frame;
		return 0;
	}
	atomic_fetch_add_explicit(&f->frames, 1, memory_order_relaxed);
	uint64_t due = due_us + f->delay_us;
	pthread_mutex_lock(&f->lock);
	struct dm_rtp_header h = {
		.pt = DM_RTP_PT_OPUS, .seq = f->seq, .ts = f->ts, .ssrc = f->cur.ssrc};
	dm_rtp_write(&h, buf, sizeof buf);
	dm_rtp_write_ntp_ext(buf, sizeof buf, DM_RTP_EXT_NTP_ID, dm_ntp_now());
	size_t len = hdr + (size_t)n;
	f->seq++;
	f->ts += (uint32_t)frame;
	/* Encrypted once, whatever the number of listeners. */
	if (dm_srtp_protect(f->cur.srtp, buf, &len, sizeof buf) == 0) {
		f->ssrc_packets++;
		f->ssrc_octets += (uint32_t)n;
		send_all(f, buf, len, true, due);
	}
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	double since = (double)(now.tv_sec - f->last_rtcp.tv_sec) * 1e3 +
		       (double)(now.tv_nsec - f->last_rtcp.tv_nsec) / 1e6;
	if (since >= DM_RTCP_INTERVAL_MS) {
		f->last_rtcp = now;
		send_sr(f, due);
	}
	pthread_mutex_unlock(&f->lock);
	if (f->paced)
		return 1;
	record_time(f, due);
	atomic_fetch_add_explicit(&f->bursts, 1, memory_order_relaxed);
	return 0;
}

int dm_fanout_send_due(struct dm_fanout *f, uint64_t now_us, uint64_t *next_due_us)
{
	int sent = 0;
	pthread_mutex_lock(&f->lock);
	while (f->p_count > 0) {
		struct out *h = &f->pending[f->p_head];
		int g = h->next_group;
		uint64_t due = h->due_us + (uint64_t)g * f->group_gap_us;
		if (due > now_us)
			break;
		/* Our own copies of the packet and of the destinations: the
		 * lock is not held while the kernel sends, so subscribers and
		 * the worker's next frame never wait for a burst. */
		if (f->tx_cap < f->n_dests) {
			size_t cap = f->cap_dests;
			struct sockaddr_in *d = realloc(f->tx_dests, cap * sizeof *d);
			if (d)
				f->tx_dests = d;
			struct mmsghdr *m = d ? realloc(f->tx_msgs, cap * sizeof *m) : NULL;
			if (!m)
				break; /* out of memory: try again next time */
			f->tx_msgs = m;
			f->tx_cap = cap;
		}
		/* This group: every groups-th subscriber from g. A report goes
		 * to everybody at once (it is small and rare). */
		int step = h->media ? f->groups : 1;
		size_t count = 0;
		for (size_t i = h->media ? (size_t)g : 0; i < f->n_dests; i += (size_t)step)
			f->tx_dests[count++] = f->dests[i];
		struct out o = *h;
		if (!h->media || ++h->next_group >= f->groups) {
			f->p_head = (f->p_head + 1) % PENDING;
			f->p_count--;
		}
		pthread_mutex_unlock(&f->lock);
		transmit(f, o.buf, o.len, o.media, f->tx_dests, f->tx_msgs, count);
		/* Late by our own work: from the due time, or from when the
		 * sender was woken for it if the scheduler woke it later (that
		 * delay is the caller's to report: a loaded or virtual machine
		 * adds it to every thread). */
		if (o.media && count) {
			record_time(f, due > now_us ? due : now_us);
			atomic_fetch_add_explicit(&f->bursts, 1, memory_order_relaxed);
		}
		sent++;
		pthread_mutex_lock(&f->lock);
	}
	if (next_due_us)
		*next_due_us = f->p_count ? f->pending[f->p_head].due_us +
						    (uint64_t)f->pending[f->p_head].next_group *
							    f->group_gap_us
					  : 0;
	pthread_mutex_unlock(&f->lock);
	return sent;
}

int dm_fanout_feed(struct dm_fanout *f, const float *pcm, size_t n, uint64_t due_us)
{
	int queued = 0;
	size_t frame = (size_t)f->profile->frame_samples;
	while (n > 0 || f->silence > 0) {
		size_t room = frame - f->fill;
		if (f->silence > 0) {
			size_t k = f->silence < room ? f->silence : room;
			memset(f->acc + f->fill, 0, k * sizeof *f->acc);
			f->fill += k;
			f->silence -= k;
		} else {
			size_t k = n < room ? n : room;
			memcpy(f->acc + f->fill, pcm, k * sizeof *pcm);
			f->fill += k;
			pcm += k;
			n -= k;
		}
		if (f->fill == frame) {
			f->fill = 0;
			queued += send_frame(f, due_us ? due_us : mono_us());
		}
	}
	return queued;
}

static bool same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

int dm_fanout_add(struct dm_fanout *f, const struct sockaddr_in *addr)
{
	if (!f || !addr || addr->sin_family != AF_INET)
		return DM_EINVAL;
	pthread_mutex_lock(&f->lock);
	int rc = 0;
	for (size_t i = 0; i < f->n_dests; i++)
		if (same_addr(&f->dests[i], addr))
			goto out;
	if (f->n_dests == f->cap_dests) {
		size_t cap = f->cap_dests ? 2 * f->cap_dests : 16;
		struct sockaddr_in *d = realloc(f->dests, cap * sizeof *d);
		if (d)
			f->dests = d;
		struct mmsghdr *m = d ? realloc(f->msgs, cap * sizeof *m) : NULL;
		if (!m) {
			rc = DM_ENOMEM;
			goto out;
		}
		f->msgs = m;
		f->cap_dests = cap;
	}
	f->dests[f->n_dests++] = *addr;
	atomic_store(&f->st_subscribers, f->n_dests);
out:
	pthread_mutex_unlock(&f->lock);
	return rc;
}

int dm_fanout_remove(struct dm_fanout *f, const struct sockaddr_in *addr)
{
	if (!f || !addr)
		return DM_EINVAL;
	pthread_mutex_lock(&f->lock);
	int rc = DM_ENOENT;
	for (size_t i = 0; i < f->n_dests; i++)
		if (same_addr(&f->dests[i], addr)) {
			f->dests[i] = f->dests[--f->n_dests];
			rc = 0;
			break;
		}
	atomic_store(&f->st_subscribers, f->n_dests);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

void dm_fanout_current_key(struct dm_fanout *f, uint32_t *ssrc, uint32_t *generation, uint8_t *key,
			   size_t *key_len)
{
	pthread_mutex_lock(&f->lock);
	*ssrc = f->cur.ssrc;
	*generation = f->cur.generation;
	memcpy(key, f->cur.key, f->key_len);
	*key_len = f->key_len;
	pthread_mutex_unlock(&f->lock);
}

int dm_fanout_prepare(struct dm_fanout *f, uint32_t *ssrc, uint32_t *generation, uint8_t *key,
		      size_t *key_len)
{
	if (!f || !ssrc || !generation || !key || !key_len)
		return DM_EINVAL;
	pthread_mutex_lock(&f->lock);
	int rc = 0;
	if (!f->have_next) {
		rc = new_key(f, f->cur.ssrc, f->cur.generation + 1, &f->next);
		f->have_next = rc == 0;
	}
	if (rc == 0) {
		*ssrc = f->next.ssrc;
		*generation = f->next.generation;
		memcpy(key, f->next.key, f->key_len);
		*key_len = f->key_len;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

int dm_fanout_commit(struct dm_fanout *f)
{
	if (!f)
		return DM_EINVAL;
	pthread_mutex_lock(&f->lock);
	int rc = f->have_next ? 0 : DM_EINVAL;
	if (rc == 0) {
		/* The rotation, at once (the worker encrypts under this lock, so
		 * its next packet is the first under the new key): a new SSRC and
		 * key, the same sequence numbers, timestamps and encoder, so a
		 * listener holding both keys plays straight on. The old key dies
		 * here, and the next prepare draws a fresh one. */
		drop_key(&f->cur);
		f->cur = f->next;
		memset(&f->next, 0, sizeof f->next);
		f->have_next = false;
		f->ssrc_packets = 0;
		f->ssrc_octets = 0;
		atomic_store(&f->st_ssrc, f->cur.ssrc);
		atomic_store(&f->st_generation, f->cur.generation);
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

void dm_fanout_get_stats(struct dm_fanout *f, struct dm_fanout_stats *st)
{
	memset(st, 0, sizeof *st);
	st->frames = atomic_load_explicit(&f->frames, memory_order_relaxed);
	st->packets = atomic_load_explicit(&f->packets, memory_order_relaxed);
	st->bytes = atomic_load_explicit(&f->bytes, memory_order_relaxed);
	st->send_errors = atomic_load_explicit(&f->send_errors, memory_order_relaxed);
	st->late_frames = atomic_load_explicit(&f->late_frames, memory_order_relaxed);
	st->max_send_us = atomic_load_explicit(&f->max_send_us, memory_order_relaxed);
	st->sum_send_us = atomic_load_explicit(&f->sum_send_us, memory_order_relaxed);
	st->bursts = atomic_load_explicit(&f->bursts, memory_order_relaxed);
	st->ssrc = atomic_load(&f->st_ssrc);
	st->generation = atomic_load(&f->st_generation);
	st->subscribers = atomic_load(&f->st_subscribers);
}
