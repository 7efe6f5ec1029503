/* dragoman: listener counts from the receivers' SRTCP receiver reports (see
 * listeners.h for the protocol and the threat model).
 *
 * Per channel the reporters are kept in an array sorted by SSRC: lookups are
 * a binary search, and an insertion's memmove (at most the cap's worth of
 * small entries) happens only for a new, authenticated reporter, which the
 * rate limit keeps rare.
 *
 * No libsrtp session is kept per reporter: with Debian's NSS-backed libsrtp2
 * one session holds about 26 KB, and creating and freeing one gets slower
 * with the number alive (measured: freeing one of 5,000 took 10 ms). A
 * report is authenticated with a session made for it and freed at once
 * (HKDF + session + unprotect + free: about 20-35 us here), and the replay
 * check libsrtp would have kept is ours: the SRTCP index of each reporter
 * must grow. */
#include "dragoman/listeners.h"

#include "dragoman/error.h"
#include "dragoman/keys.h"
#include "dragoman/log.h"
#include "dragoman/rtp.h"
#include "dragoman/srtp.h"
#include "sock.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RTCP_SR 200
#define RTCP_RR 201
#define MIN_SRTCP_LEN (8 + 4 + 10) /* header + SSRC, E|index, the shortest tag */
#define BATCH 256		   /* datagrams read per socket per poll */
#define EXPIRE_EVERY_US 1000000u

struct reporter {
	uint32_t ssrc;
	uint32_t source_ssrc;
	uint32_t index; /* SRTCP index of its latest authenticated report */
	uint64_t last_us;
	uint64_t reports;
	bool has_block;
	uint8_t fraction_lost;
	int32_t cumulative_lost;
	uint32_t highest_seq;
	uint32_t jitter; /* RTP clock units */
	double rtt_ms;
};

/* A token bucket: rate per second, and as much at once. */
struct bucket {
	double tokens;
	uint64_t us;
};

struct chan {
	char id[DM_ID_MAX];
	int fd;
	/* The engine's sending SSRC of the channel: bit 32 set when known. */
	_Atomic uint64_t sender;
	struct reporter *v; /* sorted by ssrc */
	size_t n, cap;
	struct bucket fresh, known; /* authentications of new SSRCs, of known ones */
};

struct dm_listeners {
	char conf_id[DM_ID_MAX];
	enum dm_srtp_suite suite;
	uint8_t secret[DM_SECRET_LEN];
	struct chan *ch;
	struct pollfd *pfd; /* the poll thread's own */
	size_t nch;
	uint64_t last_expire_us;

	pthread_mutex_t mu; /* everything below, and the reporter tables */
	size_t max_per_channel;
	unsigned new_per_s, known_per_s;
	struct dm_listeners_stats st;
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int dm_listeners_new(const struct dm_config *cfg, const uint8_t *secret, const char *iface,
		     struct dm_listeners **out)
{
	if (!cfg || !secret || !out)
		return DM_EINVAL;
	const struct dm_conference_conf *conf = dm_config_conference(cfg);
	size_t nch = dm_config_channel_count(cfg);
	if (!conf || nch == 0)
		return DM_EINVAL;
	struct dm_listeners *l = calloc(1, sizeof *l);
	if (!l)
		return DM_ENOMEM;
	if (pthread_mutex_init(&l->mu, NULL) != 0) {
		free(l);
		return DM_ENOMEM;
	}
	snprintf(l->conf_id, sizeof l->conf_id, "%s", conf->id);
	l->suite = conf->suite;
	memcpy(l->secret, secret, DM_SECRET_LEN);
	l->max_per_channel = DM_LISTENERS_MAX_PER_CHANNEL;
	l->new_per_s = DM_LISTENERS_NEW_PER_S;
	l->known_per_s = DM_LISTENERS_KNOWN_PER_S;
	l->last_expire_us = now_us();
	int rc = DM_ENOMEM;
	l->ch = calloc(nch, sizeof *l->ch);
	l->pfd = calloc(nch, sizeof *l->pfd);
	if (!l->ch || !l->pfd)
		goto fail;
	l->nch = nch;
	for (size_t i = 0; i < nch; i++)
		l->ch[i].fd = -1;
	const char *ifa = iface ? iface : conf->interface;
	for (size_t i = 0; i < nch; i++) {
		const struct dm_channel_conf *c = dm_config_channel(cfg, i);
		struct chan *ch = &l->ch[i];
		snprintf(ch->id, sizeof ch->id, "%s", c->id);
		ch->fresh = (struct bucket){l->new_per_s, l->last_expire_us};
		ch->known = (struct bucket){l->known_per_s, l->last_expire_us};
		ch->fd = dm_sock_open_receiver(c->group, (uint16_t)(c->port + 1), ifa);
		if (ch->fd < 0) {
			rc = ch->fd;
			ch->fd = -1;
			goto fail;
		}
		l->pfd[i] = (struct pollfd){.fd = ch->fd, .events = POLLIN};
	}
	/* OpenSSL loads its providers on first use (tens of ms): now, not when
	 * the first reports come in. */
	uint8_t warm[DM_SRTP_MAX_KEY_LEN];
	dm_keys_derive(l->secret, "warm-up", "warm-up", 0, l->suite, warm, sizeof warm);
	OPENSSL_cleanse(warm, sizeof warm);
	*out = l;
	return 0;
fail:
	dm_listeners_free(l);
	return rc;
}

static void free_reporters(struct chan *ch)
{
	free(ch->v);
	ch->v = NULL;
	ch->n = ch->cap = 0;
}

void dm_listeners_free(struct dm_listeners *l)
{
	if (!l)
		return;
	for (size_t i = 0; l->ch && i < l->nch; i++) {
		if (l->ch[i].fd >= 0)
			close(l->ch[i].fd);
		free_reporters(&l->ch[i]);
	}
	free(l->ch);
	free(l->pfd);
	pthread_mutex_destroy(&l->mu);
	OPENSSL_cleanse(l->secret, sizeof l->secret);
	free(l);
}

static struct chan *chan_of(struct dm_listeners *l, int channel)
{
	if (channel < 0 || (size_t)channel >= l->nch)
		return NULL;
	return &l->ch[channel];
}

int dm_listeners_set_sender(struct dm_listeners *l, int channel, uint32_t ssrc)
{
	if (!l)
		return DM_EINVAL;
	struct chan *ch = chan_of(l, channel);
	if (!ch)
		return DM_ENOENT;
	atomic_store(&ch->sender, (uint64_t)1 << 32 | ssrc);
	return 0;
}

int dm_listeners_set_limits(struct dm_listeners *l, size_t max_per_channel, unsigned new_per_s,
			    unsigned known_per_s)
{
	if (!l || max_per_channel == 0 || new_per_s == 0 || known_per_s == 0)
		return DM_EINVAL;
	pthread_mutex_lock(&l->mu);
	l->max_per_channel = max_per_channel;
	l->new_per_s = new_per_s;
	l->known_per_s = known_per_s;
	for (size_t i = 0; i < l->nch; i++) {
		l->ch[i].fresh.tokens = new_per_s;
		l->ch[i].known.tokens = known_per_s;
	}
	pthread_mutex_unlock(&l->mu);
	return 0;
}

/* Index of ssrc in the channel's table, or where it would go (*found false). */
static size_t find(const struct chan *ch, uint32_t ssrc, bool *found)
{
	size_t lo = 0, hi = ch->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ch->v[mid].ssrc < ssrc)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < ch->n && ch->v[lo].ssrc == ssrc;
	return lo;
}

/* Every authentication costs a key derivation and a libsrtp session: at most
 * rate per second (and as a burst) per channel, in two buckets so that a
 * flood of invented SSRCs cannot crowd out the listeners already known. */
static bool take_token(struct bucket *b, unsigned rate, uint64_t now)
{
	if (now > b->us) {
		b->tokens += (double)(now - b->us) * 1e-6 * rate;
		b->us = now;
	}
	if (b->tokens > rate)
		b->tokens = rate;
	if (b->tokens < 1.0)
		return false;
	b->tokens -= 1.0;
	return true;
}

/* The SRTCP index (RFC 3711 3.4) of a protected packet, which is in the
 * clear and which libsrtp does not hand out: E|index comes before the 10-byte
 * tag of AES-CM/HMAC-SHA1-80 and after the 16-byte tag of AEAD (RFC 7714 17).
 * -1 when the packet is too short to hold it. */
static int64_t srtcp_index(const uint8_t *p, size_t len, enum dm_srtp_suite suite)
{
	size_t tag = suite == DM_SRTP_AES_CM_128_HMAC_SHA1_80 ? 10 : 16;
	if (len < 8 + 4 + tag)
		return -1;
	size_t at = suite == DM_SRTP_AES_CM_128_HMAC_SHA1_80 ? len - tag - 4 : len - 4;
	return be32(p + at) & 0x7fffffff;
}

static int insert(struct chan *ch, size_t at, const struct reporter *r)
{
	if (ch->n == ch->cap) {
		size_t cap = ch->cap ? ch->cap * 2 : 16;
		struct reporter *v = realloc(ch->v, cap * sizeof *v);
		if (!v)
			return DM_ENOMEM;
		ch->v = v;
		ch->cap = cap;
	}
	memmove(ch->v + at + 1, ch->v + at, (ch->n - at) * sizeof *ch->v);
	ch->v[at] = *r;
	ch->n++;
	return 0;
}

static void count_refused(struct dm_listeners *l, int rc)
{
	if (rc == DM_EAUTH)
		l->st.rejected++;
	else if (rc == DM_EREPLAY)
		l->st.replayed++;
	else
		l->st.malformed++;
}

/* One datagram from channel ch's RTCP group; with the lock held. */
static void handle(struct dm_listeners *l, struct chan *ch, uint8_t *pkt, size_t len, uint64_t now)
{
	l->st.received++;
	if (len < MIN_SRTCP_LEN || len > DM_MAX_PACKET || (pkt[0] >> 6) != 2 ||
	    !dm_rtp_is_rtcp(pkt, len)) {
		l->st.malformed++;
		return;
	}
	/* The first 8 bytes of SRTCP are in the clear: what is not a receiver
	 * report (our own sender reports loop back here) or claims to come from
	 * our sending SSRC costs no crypto. */
	uint32_t ssrc = be32(pkt + 4);
	uint64_t sender = atomic_load(&ch->sender);
	if (pkt[1] != RTCP_RR || ((sender >> 32) && (uint32_t)sender == ssrc)) {
		l->st.foreign++;
		return;
	}
	int64_t index = srtcp_index(pkt, len, l->suite);
	if (index < 0) {
		l->st.malformed++;
		return;
	}
	bool found;
	size_t at = find(ch, ssrc, &found);
	if (found) {
		/* What a reporter sent before is a replay: refused before any
		 * crypto (a forged index only costs an authentication that fails
		 * and changes nothing). */
		if (index <= (int64_t)ch->v[at].index) {
			l->st.replayed++;
			return;
		}
		if (!take_token(&ch->known, l->known_per_s, now)) {
			l->st.rate_limited++;
			return;
		}
	} else {
		if (ch->n >= l->max_per_channel) {
			l->st.full++;
			return;
		}
		if (!take_token(&ch->fresh, l->new_per_s, now)) {
			l->st.rate_limited++;
			return;
		}
	}
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	struct dm_srtp *srtp = NULL;
	int rc = dm_keys_derive(l->secret, l->conf_id, ch->id, ssrc, l->suite, key, sizeof key);
	l->st.derivations++;
	if (rc == 0)
		rc = dm_srtp_new(l->suite, DM_SRTP_RECV, ssrc, key, &srtp);
	OPENSSL_cleanse(key, sizeof key);
	if (rc < 0) {
		dm_log(DM_LOG_WARN, "listeners: no key for reporter %08x: %s", ssrc,
		       dm_strerror(rc));
		return;
	}
	rc = dm_srtp_unprotect_rtcp(srtp, pkt, &len);
	dm_srtp_free(srtp);
	bool has_rr = false;
	struct dm_rtcp_rr rr;
	if (rc == 0 && dm_rtcp_parse(pkt, len, NULL, NULL, &has_rr, &rr) < 0)
		rc = DM_EPROTO;
	if (rc < 0) {
		count_refused(l, rc);
		return;
	}
	if (!found) {
		struct reporter fresh = {.ssrc = ssrc};
		if (insert(ch, at, &fresh) < 0)
			return;
	}
	struct reporter *r = &ch->v[at];
	r->index = (uint32_t)index;
	l->st.accepted++;
	r->last_us = now;
	r->reports++;
	/* An RR without a block (nothing heard since its last report) still
	 * says the listener is there; its last figures stand. */
	if (has_rr && rr.reporter_ssrc == ssrc) {
		r->has_block = true;
		r->source_ssrc = rr.source_ssrc;
		r->fraction_lost = rr.fraction_lost;
		r->cumulative_lost = rr.cumulative_lost;
		r->highest_seq = rr.highest_seq;
		r->jitter = rr.jitter;
		r->rtt_ms = -1;
		/* RFC 3550 6.4.1: round trip = arrival - LSR - DLSR, all in the
		 * middle 32 bits of NTP time (1/65536 s). */
		if (rr.lsr) {
			uint32_t a = (uint32_t)(dm_ntp_now() >> 16);
			int32_t d = (int32_t)(a - rr.lsr - rr.dlsr);
			if (d >= 0)
				r->rtt_ms = (double)d * 1000.0 / 65536.0;
		}
	}
}

static void expire(struct dm_listeners *l, uint64_t now)
{
	const uint64_t window = (uint64_t)DM_LISTENERS_WINDOW_S * 1000000u;
	for (size_t i = 0; i < l->nch; i++) {
		struct chan *ch = &l->ch[i];
		size_t keep = 0;
		for (size_t k = 0; k < ch->n; k++) {
			if (now <= ch->v[k].last_us || now - ch->v[k].last_us <= window)
				ch->v[keep++] = ch->v[k];
		}
		ch->n = keep;
		/* Give memory back after a crowd has left (or a flood of keys). */
		if (ch->cap > 64 && ch->n < ch->cap / 4) {
			size_t cap = ch->n > 16 ? ch->n * 2 : 16;
			struct reporter *v = realloc(ch->v, cap * sizeof *v);
			if (v) {
				ch->v = v;
				ch->cap = cap;
			}
		}
	}
}

void dm_listeners_expire(struct dm_listeners *l, uint64_t now)
{
	if (!l)
		return;
	if (!now)
		now = now_us();
	pthread_mutex_lock(&l->mu);
	expire(l, now);
	pthread_mutex_unlock(&l->mu);
}

int dm_listeners_poll(struct dm_listeners *l, int timeout_ms)
{
	if (!l)
		return DM_EINVAL;
	for (size_t i = 0; i < l->nch; i++)
		l->pfd[i].revents = 0;
	int n = poll(l->pfd, (nfds_t)l->nch, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : DM_ENET;
	uint64_t now = now_us();
	uint8_t buf[DM_MAX_PACKET + 64];
	for (size_t i = 0; n > 0 && i < l->nch; i++) {
		if (!(l->pfd[i].revents & POLLIN))
			continue;
		/* Bounded, so one busy channel cannot starve the others. */
		for (int k = 0; k < BATCH; k++) {
			ssize_t len = recv(l->ch[i].fd, buf, sizeof buf, 0);
			if (len < 0)
				break;
			pthread_mutex_lock(&l->mu);
			handle(l, &l->ch[i], buf, (size_t)len, now);
			pthread_mutex_unlock(&l->mu);
		}
	}
	if (now - l->last_expire_us >= EXPIRE_EVERY_US) {
		l->last_expire_us = now;
		dm_listeners_expire(l, now);
	}
	return 0;
}

/* Heard within the window that ends at now (a report stamped after now, as
 * when a caller passes an earlier time, counts as just heard). */
static bool in_window(const struct reporter *r, uint64_t now)
{
	return r->last_us >= now || now - r->last_us <= (uint64_t)DM_LISTENERS_WINDOW_S * 1000000u;
}

static double jitter_ms(uint32_t jitter)
{
	return (double)jitter * 1000.0 / DM_SAMPLE_RATE;
}

int dm_listeners_get(struct dm_listeners *l, int channel, uint64_t now,
		     struct dm_listeners_summary *sum)
{
	if (!l || !sum)
		return DM_EINVAL;
	struct chan *ch = chan_of(l, channel);
	if (!ch)
		return DM_ENOENT;
	if (!now)
		now = now_us();
	memset(sum, 0, sizeof *sum);
	double loss_sum = 0;
	pthread_mutex_lock(&l->mu);
	for (size_t k = 0; k < ch->n; k++) {
		const struct reporter *r = &ch->v[k];
		if (!in_window(r, now))
			continue;
		sum->count++;
		double loss = r->fraction_lost / 256.0;
		loss_sum += loss;
		if (loss > sum->loss_max)
			sum->loss_max = loss;
		if (jitter_ms(r->jitter) > sum->jitter_max_ms)
			sum->jitter_max_ms = jitter_ms(r->jitter);
	}
	pthread_mutex_unlock(&l->mu);
	if (sum->count)
		sum->loss_mean = loss_sum / sum->count;
	return 0;
}

int dm_listeners_list(struct dm_listeners *l, int channel, uint64_t now, dm_listeners_fn fn,
		      void *user)
{
	if (!l || !fn)
		return DM_EINVAL;
	struct chan *ch = chan_of(l, channel);
	if (!ch)
		return DM_ENOENT;
	if (!now)
		now = now_us();
	int calls = 0;
	pthread_mutex_lock(&l->mu);
	for (size_t k = 0; k < ch->n; k++) {
		const struct reporter *r = &ch->v[k];
		if (!in_window(r, now))
			continue;
		struct dm_listener_info info = {
			.ssrc = r->ssrc,
			.source_ssrc = r->source_ssrc,
			.age_s = r->last_us >= now ? 0.0 : (double)(now - r->last_us) * 1e-6,
			.loss = r->fraction_lost / 256.0,
			.cumulative_lost = r->cumulative_lost,
			.highest_seq = r->highest_seq,
			.jitter_ms = jitter_ms(r->jitter),
			.rtt_ms = r->has_block ? r->rtt_ms : -1,
			.reports = r->reports,
		};
		fn(user, &info);
		calls++;
	}
	pthread_mutex_unlock(&l->mu);
	return calls;
}

void dm_listeners_get_stats(struct dm_listeners *l, struct dm_listeners_stats *st)
{
	if (!st)
		return;
	memset(st, 0, sizeof *st);
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	*st = l->st;
	for (size_t i = 0; i < l->nch; i++)
		st->tracked += l->ch[i].n;
	pthread_mutex_unlock(&l->mu);
}
