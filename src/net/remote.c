#include "remote.h"

#include "dragoman/defaults.h"
#include "dragoman/error.h"
#include "dragoman/fanout.h"
#include "dragoman/keys.h"
#include "dragoman/log.h"
#include "dragoman/rproto.h"
#include "dragoman/rtp.h"
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUCKETS 4096	       /* session hash buckets (ids are random: the first bytes hash) */
#define RATE_SLOTS 16384       /* per-address hello rate limiters */
#define RATE_PROBE 8	       /* slots an address may take, from its hash on */
#define MAX_REVOKED 4096       /* delegates revoked during this run, remembered */
#define TICK_MS 20	       /* timers: rotation, key resends, timeouts */
#define ROTATION_RETRY_MS 1000 /* a rotation that failed (out of memory) */
#define FORGET_S 300	       /* an unbound session without hellos this long is dropped */
#define FIRST_HELLO_S 60       /* a session never bound within this is dropped */

struct session {
	uint8_t id[DM_RPROTO_SESSION_ID_LEN];
	char hex[2 * DM_RPROTO_SESSION_ID_LEN + 1];
	char delegate[DM_ID_MAX];
	char name[DM_NAME_MAX];
	long long expires; /* Unix s, 0: never */
	struct dm_rproto_keys keys;
	size_t channel;
	bool bound;
	struct sockaddr_in addr;
	uint64_t counter;  /* last accepted */
	uint64_t hello_us; /* last accepted, 0: none */
	/* The last sign that the bound address wants the stream: the bind, or
	 * a hello from there (a hello from elsewhere keeps the session, not
	 * the stream to an address that may have passed to someone else). */
	uint64_t consent_us;
	uint64_t bound_counter;	       /* counter when last bound: a response binds
					* only after a newer hello (no replay) */
	struct sockaddr_in hello_addr; /* where the last accepted hello came from */
	uint64_t created_us;
	uint32_t acked; /* key generation it holds */
	uint64_t keys_sent_us;
	struct dm_rproto_report report;
	double rtt_ms; /* < 0: not measured */
	struct session *next;
};

struct rate {
	struct sockaddr_in addr;
	double tokens;
	uint64_t us;
};

struct dm_remote {
	const struct dm_config *cfg;
	size_t n_channels;
	int fd;
	uint16_t port;
	struct dm_fanout **fanouts;

	pthread_mutex_t lock; /* sessions, rotation; taken before a fan-out's own */
	struct session *buckets[BUCKETS];
	size_t n_sessions;
	uint32_t generation; /* of the keys in use */
	bool rotating;
	uint64_t rotate_us;
	struct dm_rproto_keyset next; /* generation + 1, while rotating */
	uint64_t rotation_retry_us;   /* a rotation that failed: tried again then */
	/* The earliest token expiry (time(NULL) scale; 0: none) among the
	 * sessions given the keys in use or being handed out, ended ones
	 * included: when it passes, those keys go, as at a revocation. */
	long long holders_expire;
	struct rate rates[RATE_SLOTS];
	/* Revoked during this run: a request whose token was checked before the
	 * revocation must not get a session after it (the API checks the token
	 * when the headers come, the session is made when the body has). */
	char (*revoked)[DM_ID_MAX];
	size_t n_revoked;

	pthread_t thread;
	bool running;
	/* The sender: sends each channel's queued frame at its due time
	 * (fan-outs are paced), woken by the workers through wake_fd. */
	pthread_t sender;
	bool sending;
	int wake_fd;
	bool poll;		 /* remote.poll */
	_Atomic uint64_t queued; /* frames queued by the workers, ever */
	_Atomic bool stop;
	_Atomic uint64_t hellos, bad_auth, replayed, unknown, limited, malformed, keys_sent,
		rotations, challenges, bad_cookie;
	uint8_t cookie_key[32]; /* the challenges' MAC key, new at every start */
};

static uint64_t mono_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

static void inc(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static size_t bucket_of(const uint8_t *id)
{
	return ((size_t)id[0] << 8 | id[1]) % BUCKETS;
}

static struct session *find(struct dm_remote *r, const uint8_t *id)
{
	for (struct session *s = r->buckets[bucket_of(id)]; s; s = s->next)
		if (CRYPTO_memcmp(s->id, id, sizeof s->id) == 0)
			return s;
	return NULL;
}

static struct session *find_hex(struct dm_remote *r, const char *hex)
{
	uint8_t id[DM_RPROTO_SESSION_ID_LEN];
	if (!hex || strlen(hex) != 2 * sizeof id)
		return NULL;
	for (size_t i = 0; i < sizeof id; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return NULL;
		id[i] = (uint8_t)v;
	}
	return find(r, id);
}

static void unbind(struct dm_remote *r, struct session *s)
{
	if (s->bound)
		dm_fanout_remove(r->fanouts[s->channel], &s->addr);
	s->bound = false;
}

/* Lock held. */
static void drop(struct dm_remote *r, struct session *s)
{
	struct session **pp = &r->buckets[bucket_of(s->id)];
	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	unbind(r, s);
	OPENSSL_cleanse(s, sizeof *s);
	free(s);
	r->n_sessions--;
}

int dm_remote_new(const struct dm_config *cfg, const uint8_t *secret, struct dm_remote **out)
{
	if (!cfg || !secret || !out)
		return DM_EINVAL;
	const struct dm_conference_conf *conf = dm_config_conference(cfg);
	if (!conf->remote || !conf->remote_profile)
		return DM_EINVAL;
	struct dm_remote *r = calloc(1, sizeof *r);
	if (!r)
		return DM_ENOMEM;
	r->cfg = cfg;
	r->fd = -1;
	r->wake_fd = -1;
	r->poll = conf->remote_poll;
	r->generation = 1;
	pthread_mutex_init(&r->lock, NULL);
	r->n_channels = dm_config_channel_count(cfg);
	int rc = DM_ENOMEM;
	r->fanouts = calloc(r->n_channels, sizeof *r->fanouts);
	if (!r->fanouts)
		goto fail;
	struct sockaddr_in a;
	rc = DM_ENET;
	if (dm_sock_addr(conf->remote_addr, conf->remote_port, &a) < 0)
		goto fail;
	r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (r->fd < 0)
		goto fail;
	/* Thousands of listeners take one burst of datagrams per frame. */
	int sndbuf = 4 << 20;
	setsockopt(r->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	dm_sock_set_dont_fragment(r->fd);
	if (bind(r->fd, (struct sockaddr *)&a, sizeof a) < 0) {
		dm_log(DM_LOG_ERROR, "remote: cannot bind %s: %s", conf->remote_listen,
		       strerror(errno));
		goto fail;
	}
	socklen_t al = sizeof a;
	getsockname(r->fd, (struct sockaddr *)&a, &al);
	r->port = ntohs(a.sin_port);
	if ((rc = dm_random_bytes(r->cookie_key, sizeof r->cookie_key)) < 0)
		goto fail;
	r->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->wake_fd < 0) {
		rc = DM_EIO;
		goto fail;
	}
	int in_room = conf->profile->frame_samples;
	int per = conf->remote_profile->frame_samples / in_room;
	if (per < 1)
		per = 1;
	/* Frames complete on `per` different in-room frames; the channels that
	 * share one follow each other this far apart, so that one burst of
	 * datagrams is over before the next is due. */
	size_t together = (r->n_channels + (size_t)per - 1) / (size_t)per;
	uint32_t gap_us = (uint32_t)((uint64_t)in_room * 1000000u / DM_SAMPLE_RATE / together);
	for (size_t c = 0; c < r->n_channels; c++) {
		struct dm_fanout_params fp = {
			.conference_id = conf->id,
			.channel_id = dm_config_channel(cfg, c)->id,
			.secret = secret,
			.suite = conf->suite,
			.profile = conf->remote_profile,
			.fd = r->fd,
			/* Channels' frames complete on different periods. */
			.phase = per > 1 ? (int)(c % (size_t)per) * in_room : 0,
			.paced = true,
			.delay_us = (uint32_t)(c / (size_t)per) * gap_us,
			/* And within a channel's slot, its listeners in a few
			 * shorter bursts: the last one's wait is what counts. */
			.groups = DM_REMOTE_SEND_GROUPS,
			.group_gap_us = gap_us / DM_REMOTE_SEND_GROUPS,
		};
		rc = dm_fanout_new(&fp, &r->fanouts[c]);
		if (rc < 0)
			goto fail;
	}
	*out = r;
	return 0;
fail:
	dm_remote_free(r);
	return rc;
}

void dm_remote_free(struct dm_remote *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, true);
	if (r->running)
		pthread_join(r->thread, NULL);
	if (r->sending) {
		uint64_t one = 1;
		ssize_t w = write(r->wake_fd, &one, sizeof one);
		(void)w;
		pthread_join(r->sender, NULL);
	}
	if (r->wake_fd >= 0)
		close(r->wake_fd);
	for (size_t b = 0; b < BUCKETS; b++)
		while (r->buckets[b])
			drop(r, r->buckets[b]);
	for (size_t c = 0; r->fanouts && c < r->n_channels; c++)
		dm_fanout_free(r->fanouts[c]);
	free(r->fanouts);
	if (r->fd >= 0)
		close(r->fd);
	OPENSSL_cleanse(&r->next, sizeof r->next);
	OPENSSL_cleanse(r->cookie_key, sizeof r->cookie_key);
	free(r->revoked);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int dm_remote_port(const struct dm_remote *r)
{
	return r ? r->port : DM_EINVAL;
}

void dm_remote_feed(struct dm_remote *r, size_t c, const float *pcm, size_t n, uint64_t due_us)
{
	if (!r || c >= r->n_channels)
		return;
	if (dm_fanout_feed(r->fanouts[c], pcm, n, due_us) > 0) {
		uint64_t one = 1;
		atomic_fetch_add_explicit(&r->queued, 1, memory_order_release);
		ssize_t w = write(r->wake_fd, &one, sizeof one);
		(void)w; /* full counter: the sender is awake anyway */
	}
}

/* remote.poll: waits for the due time, or for a worker to queue a frame,
 * by reading the clock instead of sleeping. Returns false when no frame was
 * queued for POLL_IDLE_US (nobody listens): the caller sleeps then. */
#define POLL_IDLE_US 100000u
static bool poll_until(struct dm_remote *r, uint64_t due, uint64_t seen, uint64_t last_queued_us)
{
	for (;;) {
		uint64_t now = mono_us();
		if (atomic_load_explicit(&r->stop, memory_order_relaxed) || (due && now >= due) ||
		    atomic_load_explicit(&r->queued, memory_order_acquire) != seen)
			return true;
		if (!due && now - last_queued_us > POLL_IDLE_US)
			return false;
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	}
}

/* Sends every channel's queued packets when they are due; sleeps until the
 * next due time or a worker's wake-up, or with remote.poll polls for them.
 * Why poll: on a virtual machine a sleeping thread's timer wake-up waits
 * for the host to run its vCPU again, and this VM's host took up to 20 ms,
 * ten times the lateness allowed; a thread that never sleeps was never held
 * up more than a few milliseconds. It costs a core while frames flow. */
static void *sender_main(void *arg)
{
	struct dm_remote *r = arg;
	uint64_t seen = 0, last_queued_us = 0;
	if (r->poll) {
		/* Not real-time even if the engine was started so (chrt, a
		 * unit's policy): a real-time thread that never sleeps meets
		 * the kernel's throttle, by default 50 ms out of every second. */
		struct sched_param normal = {.sched_priority = 0};
		pthread_setschedparam(pthread_self(), SCHED_OTHER, &normal);
	}
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		/* read before the fan-outs: a frame queued after it is seen
		 * as new by poll_until */
		uint64_t q = atomic_load_explicit(&r->queued, memory_order_acquire);
		uint64_t now = mono_us(), next = 0;
		if (q != seen) {
			seen = q;
			last_queued_us = now;
		}
		int sent = 0;
		for (size_t c = 0; c < r->n_channels; c++) {
			uint64_t nd = 0;
			sent += dm_fanout_send_due(r->fanouts[c], now, &nd);
			if (nd && (!next || nd < next))
				next = nd;
		}
		uint64_t after = mono_us();
		/* Due already: again at once, unless nothing went (a fan-out
		 * out of memory keeps its packet): then not in a busy loop. */
		if (next && next <= after) {
			if (sent)
				continue;
			next = after + 1000u;
		}
		if (r->poll && poll_until(r, next, seen, last_queued_us))
			continue;
		uint64_t wait = next ? next - after : 100000u;
		struct timespec ts = {(time_t)(wait / 1000000u), (long)(wait % 1000000u) * 1000L};
		struct pollfd p = {.fd = r->wake_fd, .events = POLLIN};
		if (ppoll(&p, 1, &ts, NULL) > 0) {
			uint64_t v;
			ssize_t rd = read(r->wake_fd, &v, sizeof v);
			(void)rd;
		}
	}
	return NULL;
}

struct dm_fanout *dm_remote_fanout(struct dm_remote *r, size_t c)
{
	return r && c < r->n_channels ? r->fanouts[c] : NULL;
}

static bool same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

/* The session is bound to address a. */
static bool bound_at(const struct session *s, const struct sockaddr_in *a)
{
	return s->bound && same_addr(&s->addr, a);
}

/* Token bucket per transport address (IP and port), in a table probed from
 * the address's hash. An address never takes another's slot while that one
 * is in use: when all its slots are busy the hello is not limited (it still
 * has to name a session and pass its tag), so nobody can silence a listener
 * by flooding from addresses that share its slots. */
static bool allow(struct dm_remote *r, const struct sockaddr_in *a, uint64_t now)
{
	uint32_t h = a->sin_addr.s_addr * 0x9e3779b1u;
	h ^= (uint32_t)a->sin_port * 0x85ebca77u;
	h ^= h >> 15;
	h *= 0xc2b2ae3du;
	h ^= h >> 13;
	struct rate *slot = NULL, *idle = NULL;
	for (uint32_t k = 0; k < RATE_PROBE; k++) {
		struct rate *e = &r->rates[(h + k) % RATE_SLOTS];
		if (e->us && same_addr(&e->addr, a)) {
			slot = e;
			break;
		}
		/* Quiet for 2 s: its bucket would be full again, it may go. */
		if (!idle && (!e->us || now - e->us > 2000000u))
			idle = e;
	}
	if (!slot) {
		if (!idle)
			return true;
		slot = idle;
		slot->addr = *a;
		slot->tokens = DM_REMOTE_HELLOS_PER_S;
		slot->us = now;
	}
	slot->tokens += (double)(now - slot->us) * 1e-6 * DM_REMOTE_HELLOS_PER_S;
	slot->us = now;
	if (slot->tokens > DM_REMOTE_HELLOS_PER_S)
		slot->tokens = DM_REMOTE_HELLOS_PER_S;
	if (slot->tokens < 1.0)
		return false;
	slot->tokens -= 1.0;
	return true;
}

/* The keys in use now, as a key update carries them. */
static void current_keys(struct dm_remote *r, struct dm_rproto_keyset *ks)
{
	memset(ks, 0, sizeof *ks);
	for (size_t c = 0; c < r->n_channels && c < DM_RPROTO_MAX_KEYS; c++) {
		struct dm_rproto_key *k = &ks->keys[ks->n++];
		k->channel = (uint8_t)c;
		k->suite = dm_config_conference(r->cfg)->suite;
		dm_fanout_current_key(r->fanouts[c], &k->ssrc, &ks->generation, k->key,
				      &k->key_len);
	}
}

/* Lock held. A key update: the next keys while rotating, else those in use
 * (a session that missed a rotation). */
static void send_keys(struct dm_remote *r, struct session *s, uint64_t now)
{
	uint8_t buf[DM_RPROTO_KEYS_MAX_LEN];
	struct dm_rproto_keyset cur;
	const struct dm_rproto_keyset *ks = &r->next;
	if (!r->rotating) {
		current_keys(r, &cur);
		ks = &cur;
	}
	int n = dm_rproto_keys_write(s->id, ks, &s->keys, buf, sizeof buf);
	OPENSSL_cleanse(&cur, sizeof cur);
	s->keys_sent_us = now;
	if (n > 0 &&
	    sendto(r->fd, buf, (size_t)n, 0, (struct sockaddr *)&s->addr, sizeof s->addr) == n)
		inc(&r->keys_sent);
}

static uint32_t ntp_mid(void)
{
	return (uint32_t)(dm_ntp_now() >> 16);
}

/* The cookie of a session at an address in a 10 s time slot: the engine's
 * MAC, so it keeps no state per challenge. */
static bool cookie_of(const struct dm_remote *r, const uint8_t *id, const struct sockaddr_in *a,
		      uint64_t slot, uint8_t out[DM_RPROTO_COOKIE_LEN])
{
	uint8_t msg[DM_RPROTO_SESSION_ID_LEN + 4 + 2 + 8], mac[32];
	memcpy(msg, id, DM_RPROTO_SESSION_ID_LEN);
	memcpy(msg + 16, &a->sin_addr.s_addr, 4);
	memcpy(msg + 20, &a->sin_port, 2);
	for (int i = 0; i < 8; i++)
		msg[22 + i] = (uint8_t)(slot >> (56 - 8 * i));
	unsigned int n = sizeof mac;
	/* On failure no cookie at all: a fixed one would be one anybody
	 * could answer. */
	if (!HMAC(EVP_sha256(), r->cookie_key, sizeof r->cookie_key, msg, sizeof msg, mac, &n))
		return false;
	memcpy(out, mac, DM_RPROTO_COOKIE_LEN);
	return true;
}

static uint64_t cookie_slot(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec / 10u;
}

/* This slot's or the previous one's: a cookie lives 10 to 20 s. */
static bool cookie_valid(const struct dm_remote *r, const uint8_t *id, const struct sockaddr_in *a,
			 const uint8_t cookie[DM_RPROTO_COOKIE_LEN])
{
	uint64_t slot = cookie_slot();
	uint8_t want[DM_RPROTO_COOKIE_LEN];
	for (uint64_t k = 0; k < 2 && k <= slot; k++) {
		if (cookie_of(r, id, a, slot - k, want) &&
		    CRYPTO_memcmp(want, cookie, sizeof want) == 0)
			return true;
	}
	return false;
}

/* Lock held. */
static void challenge(struct dm_remote *r, struct session *s, const struct sockaddr_in *to,
		      uint64_t now)
{
	(void)now;
	uint8_t cookie[DM_RPROTO_COOKIE_LEN], buf[DM_RPROTO_CHALLENGE_LEN];
	if (cookie_of(r, s->id, to, cookie_slot(), cookie) &&
	    dm_rproto_challenge_write(s->id, cookie, buf, sizeof buf) == (int)sizeof buf &&
	    sendto(r->fd, buf, sizeof buf, 0, (const struct sockaddr *)to, sizeof *to) ==
		    (ssize_t)sizeof buf)
		inc(&r->challenges);
}

/* Lock held. The session a hello or response names, if it exists and its
 * address is within its rate; else NULL, counted. The session first, then
 * the rate: junk sent in a listener's name (its address, any session id)
 * must not use up its hellos. */
static struct session *admit(struct dm_remote *r, const uint8_t *id, const struct sockaddr_in *from,
			     uint64_t now)
{
	struct session *s = find(r, id);
	if (!s) {
		inc(&r->unknown);
		return NULL;
	}
	if (!allow(r, from, now)) {
		inc(&r->limited);
		return NULL;
	}
	return s;
}

static void on_hello(struct dm_remote *r, const uint8_t *buf, size_t len,
		     const struct sockaddr_in *from)
{
	uint8_t id[DM_RPROTO_SESSION_ID_LEN];
	if (dm_rproto_hello_session(buf, len, id) < 0) {
		inc(&r->malformed);
		return;
	}
	pthread_mutex_lock(&r->lock);
	/* Read under the lock: an API thread may have stamped a time in a
	 * session or the rotation after an earlier read of the clock. */
	uint64_t now = mono_us();
	struct session *s = admit(r, id, from, now);
	struct dm_rproto_hello h;
	int rc;
	if (!s) {
		/* counted */
	} else if ((rc = dm_rproto_hello_verify(buf, len, &s->keys, &h)) < 0) {
		inc(rc == DM_EAUTH ? &r->bad_auth : &r->malformed);
	} else if (h.counter <= s->counter) {
		inc(&r->replayed);
	} else if (s->expires && (long long)time(NULL) >= s->expires) {
		dm_log(DM_LOG_INFO, "remote: delegate %s's token expired; session ended",
		       s->delegate);
		drop(r, s);
		inc(&r->unknown);
	} else {
		inc(&r->hellos);
		s->counter = h.counter;
		s->hello_us = now;
		s->hello_addr = *from;
		bool here = bound_at(s, from);
		/* A new address must show it receives there before anything
		 * but a challenge (smaller than the hello) is sent to it. */
		if (!here)
			challenge(r, s, from, now);
		else
			s->consent_us = now;
		s->acked = h.generation;
		s->report = h.report;
		if (h.report.lsr) {
			/* RFC 3550 6.4.1: now - LSR - DLSR, in 1/65536 s. */
			uint32_t rtt = ntp_mid() - h.report.lsr - h.report.dlsr;
			if (rtt < 65536u * 10)
				s->rtt_ms = rtt * 1000.0 / 65536.0;
		}
		/* Behind: a rotation under way, or one it missed (created
		 * before it and bound after, or too slow to acknowledge). Not
		 * more than once per resend interval. */
		uint32_t want = r->rotating ? r->next.generation : r->generation;
		if (here && s->acked < want &&
		    now - s->keys_sent_us >= DM_REMOTE_KEYS_RESEND_MS * 1000u)
			send_keys(r, s, now);
	}
	pthread_mutex_unlock(&r->lock);
}

/* Lock held. Binds s to the address its response came from. */
static void bind_to(struct dm_remote *r, struct session *s, const struct sockaddr_in *from,
		    uint64_t now)
{
	unbind(r, s);
	/* One address, one session: a listener that opened a new session
	 * (after an outage, from the same socket) must not lose its stream
	 * when the old one times out. */
	for (size_t b = 0; b < BUCKETS; b++)
		for (struct session *o = r->buckets[b]; o; o = o->next)
			if (o != s && bound_at(o, from))
				unbind(r, o);
	s->addr = *from;
	if (dm_fanout_add(r->fanouts[s->channel], &s->addr) < 0)
		return;
	s->bound = true;
	s->bound_counter = s->counter;
	s->consent_us = now;
	char a[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &from->sin_addr, a, sizeof a);
	dm_log(DM_LOG_INFO, "remote: %s (%s) listens on %s from %s:%u", s->name, s->delegate,
	       dm_config_channel(r->cfg, s->channel)->id, a, ntohs(from->sin_port));
	uint32_t want = r->rotating ? r->next.generation : r->generation;
	if (s->acked < want)
		send_keys(r, s, now);
}

static void on_response(struct dm_remote *r, const uint8_t *buf, size_t len,
			const struct sockaddr_in *from)
{
	uint8_t id[DM_RPROTO_SESSION_ID_LEN], cookie[DM_RPROTO_COOKIE_LEN];
	if (dm_rproto_response_session(buf, len, id) < 0) {
		inc(&r->malformed);
		return;
	}
	pthread_mutex_lock(&r->lock);
	uint64_t now = mono_us(); /* under the lock: see on_hello */
	struct session *s = admit(r, id, from, now);
	int rc;
	if (!s) {
		/* counted */
	} else if ((rc = dm_rproto_response_verify(buf, len, &s->keys, cookie)) < 0) {
		inc(rc == DM_EAUTH ? &r->bad_auth : &r->malformed);
	} else if (!cookie_valid(r, id, from, cookie)) {
		inc(&r->bad_cookie);
	} else if (bound_at(s, from)) {
		/* already there */
	} else if (s->counter <= s->bound_counter || !same_addr(&s->hello_addr, from)) {
		/* No hello since the last bind, or the last came from
		 * elsewhere: an old response sent again (to pull the session
		 * back to an address it left), or one overtaken by a newer
		 * hello from another address. */
		inc(&r->replayed);
	} else {
		bind_to(r, s, from, now);
	}
	pthread_mutex_unlock(&r->lock);
}

/* Lock held. */
static void commit(struct dm_remote *r, uint64_t now)
{
	for (size_t c = 0; c < r->n_channels; c++)
		dm_fanout_commit(r->fanouts[c]);
	r->generation = r->next.generation;
	r->rotating = false;
	OPENSSL_cleanse(&r->next, sizeof r->next);
	inc(&r->rotations);
	dm_log(DM_LOG_INFO, "remote: keys rotated to generation %u in %.0f ms", r->generation,
	       (double)(now - r->rotate_us) / 1000.0);
}

/* Lock held. s has (or is about to get) the keys in use. */
static void holds_keys(struct dm_remote *r, const struct session *s)
{
	if (s->expires && (!r->holders_expire || s->expires < r->holders_expire))
		r->holders_expire = s->expires;
}

/* Lock held. */
static int start_rotation(struct dm_remote *r, uint64_t now)
{
	if (r->rotating)
		/* The keys being handed out may have reached the delegate just
		 * revoked: use them now, and rotate again past them. */
		commit(r, now);
	struct dm_rproto_keyset ks = {0};
	for (size_t c = 0; c < r->n_channels && c < DM_RPROTO_MAX_KEYS; c++) {
		struct dm_rproto_key *k = &ks.keys[ks.n++];
		k->channel = (uint8_t)c;
		k->suite = dm_config_conference(r->cfg)->suite;
		int rc = dm_fanout_prepare(r->fanouts[c], &k->ssrc, &ks.generation, k->key,
					   &k->key_len);
		if (rc < 0) {
			OPENSSL_cleanse(&ks, sizeof ks);
			return rc;
		}
	}
	r->next = ks;
	OPENSSL_cleanse(&ks, sizeof ks);
	r->rotating = true;
	r->rotate_us = now;
	/* The new keys reach the live sessions only: the ended ones (their
	 * expiry counted so far) no longer matter. */
	r->holders_expire = 0;
	for (size_t b = 0; b < BUCKETS; b++)
		for (struct session *s = r->buckets[b]; s; s = s->next) {
			holds_keys(r, s);
			if (s->bound)
				send_keys(r, s, now);
		}
	return 0;
}

static void tick(struct dm_remote *r)
{
	pthread_mutex_lock(&r->lock);
	uint64_t now = mono_us(); /* under the lock: see on_hello */
	bool all_acked = true;
	long long wall = (long long)time(NULL);
	for (size_t b = 0; b < BUCKETS; b++) {
		struct session *s = r->buckets[b];
		while (s) {
			struct session *next = s->next;
			uint64_t since = s->hello_us ? s->hello_us : s->created_us;
			/* A session made after `now` was read (another thread). */
			uint64_t quiet = now > since ? now - since : 0;
			if ((s->expires && wall >= s->expires) ||
			    (!s->hello_us && quiet > FIRST_HELLO_S * 1000000ull) ||
			    quiet > FORGET_S * 1000000ull) {
				drop(r, s);
			} else {
				if (s->bound &&
				    now - s->consent_us > DM_REMOTE_TIMEOUT_S * 1000000ull) {
					dm_log(DM_LOG_INFO,
					       "remote: %s (%s): no hello from its address for "
					       "%d s, stopped sending",
					       s->name, s->delegate, DM_REMOTE_TIMEOUT_S);
					unbind(r, s);
				}
				if (r->rotating && s->bound && s->acked < r->next.generation) {
					all_acked = false;
					if (now - s->keys_sent_us >=
					    DM_REMOTE_KEYS_RESEND_MS * 1000u)
						send_keys(r, s, now);
				}
			}
			s = next;
		}
	}
	if (r->rotating && (all_acked || now - r->rotate_us >= DM_REMOTE_ROTATE_WAIT_MS * 1000u))
		commit(r, now);
	/* A token expired (its sessions were dropped above, or earlier): its
	 * delegate may have kept the keys, so they are replaced. A rotation
	 * that failed (revocation or expiry) is tried again every second. */
	bool expired = r->holders_expire && wall >= r->holders_expire;
	bool retry = r->rotation_retry_us && now >= r->rotation_retry_us;
	/* Not over a rotation under way: it would be committed early. */
	if ((expired && !r->rotation_retry_us && !r->rotating) || retry) {
		int rc = start_rotation(r, now);
		if (rc < 0) {
			r->rotation_retry_us = now + ROTATION_RETRY_MS * 1000u;
			dm_log(DM_LOG_ERROR, "remote: key rotation failed (tried again in 1 s): %s",
			       dm_strerror(rc));
		} else {
			r->rotation_retry_us = 0;
			if (expired)
				dm_log(DM_LOG_INFO,
				       "remote: a delegate's token expired, keys rotating");
		}
	}
	pthread_mutex_unlock(&r->lock);
}

static void *remote_main(void *arg)
{
	struct dm_remote *r = arg;
	uint64_t next_tick = mono_us();
	uint8_t buf[DM_MAX_PACKET];
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
		poll(&pfd, 1, TICK_MS);
		for (int i = 0; i < 256 && (pfd.revents & POLLIN); i++) {
			struct sockaddr_in from;
			socklen_t fl = sizeof from;
			ssize_t n = recvfrom(r->fd, buf, sizeof buf, MSG_DONTWAIT,
					     (struct sockaddr *)&from, &fl);
			if (n < 0)
				break;
			enum dm_rproto_kind k = from.sin_family == AF_INET
							? dm_rproto_kind(buf, (size_t)n)
							: DM_RPROTO_OTHER;
			if (k == DM_RPROTO_HELLO)
				on_hello(r, buf, (size_t)n, &from);
			else if (k == DM_RPROTO_RESPONSE)
				on_response(r, buf, (size_t)n, &from);
			else
				inc(&r->malformed);
		}
		uint64_t now = mono_us();
		if (now >= next_tick) {
			next_tick = now + TICK_MS * 1000u;
			tick(r);
		}
	}
	return NULL;
}

int dm_remote_start(struct dm_remote *r)
{
	if (!r)
		return DM_EINVAL;
	if (r->running && r->sending)
		return 0;
	if (!r->running) {
		if (pthread_create(&r->thread, NULL, remote_main, r) != 0)
			return DM_EIO;
		r->running = true;
	}
	/* Called again after a failure here: the sender is what is missing. */
	if (pthread_create(&r->sender, NULL, sender_main, r) != 0)
		return DM_EIO;
	r->sending = true;
	if (r->poll) {
		/* Not SCHED_FIFO (see sender_main). */
		dm_log(DM_LOG_INFO, "remote sender polls (remote.poll): it keeps a core busy "
				    "while frames flow");
		return 0;
	}
	/* As the encoder workers: due times are milliseconds apart. Without
	 * the privilege it still works, with more jitter. */
	struct sched_param sp = {.sched_priority = 50};
	if (pthread_setschedparam(r->sender, SCHED_FIFO, &sp) != 0)
		dm_log(DM_LOG_INFO, "remote sender runs without real-time priority");
	return 0;
}

static json_t *channel_keys(struct dm_remote *r)
{
	json_t *arr = json_array();
	const struct dm_conference_conf *conf = dm_config_conference(r->cfg);
	for (size_t c = 0; arr && c < r->n_channels; c++) {
		const struct dm_channel_conf *ch = dm_config_channel(r->cfg, c);
		uint32_t ssrc, gen;
		uint8_t key[DM_SRTP_MAX_KEY_LEN];
		size_t key_len;
		dm_fanout_current_key(r->fanouts[c], &ssrc, &gen, key, &key_len);
		char b64[128];
		int rc = dm_base64_encode(key, key_len, b64, sizeof b64);
		OPENSSL_cleanse(key, sizeof key);
		if (rc < 0 ||
		    json_array_append_new(
			    arr, json_pack("{s:i,s:s,s:s,s:s,s:I,s:s,s:s}", "index", (int)c, "id",
					   ch->id, "name", ch->name, "language", ch->language,
					   "ssrc", (json_int_t)ssrc, "suite",
					   dm_srtp_suite_name(conf->suite), "key", b64)) < 0) {
			OPENSSL_cleanse(b64, sizeof b64);
			json_decref(arr);
			return NULL;
		}
		OPENSSL_cleanse(b64, sizeof b64);
	}
	return arr;
}

char *dm_remote_session_new(void *user, const char *delegate_id, const char *name,
			    long long expires, const char *channel, int *status)
{
	struct dm_remote *r = user;
	*status = 500;
	if (!r || !delegate_id)
		return NULL;
	size_t c = r->n_channels > 1 ? 1 : 0;
	if (channel) {
		int i = dm_config_find_channel(r->cfg, channel);
		if (i < 0) {
			*status = 400;
			return NULL;
		}
		c = (size_t)i;
	}
	struct session *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	uint8_t skey[DM_RPROTO_SESSION_KEY_LEN];
	if (dm_random_bytes(s->id, sizeof s->id) < 0 || dm_random_bytes(skey, sizeof skey) < 0 ||
	    dm_rproto_derive(skey, &s->keys) < 0) {
		OPENSSL_cleanse(skey, sizeof skey);
		OPENSSL_cleanse(s, sizeof *s);
		free(s);
		return NULL;
	}
	for (size_t i = 0; i < sizeof s->id; i++)
		snprintf(s->hex + 2 * i, 3, "%02x", s->id[i]);
	snprintf(s->delegate, sizeof s->delegate, "%s", delegate_id);
	snprintf(s->name, sizeof s->name, "%s", name ? name : delegate_id);
	s->expires = expires;
	s->channel = c;
	s->rtt_ms = -1;
	char key64[64];
	dm_base64_encode(skey, sizeof skey, key64, sizeof key64);
	OPENSSL_cleanse(skey, sizeof skey);

	const struct dm_conference_conf *conf = dm_config_conference(r->cfg);
	pthread_mutex_lock(&r->lock);
	int refuse = 0;
	size_t mine = 0;
	for (size_t i = 0; i < r->n_revoked; i++)
		if (strcmp(r->revoked[i], delegate_id) == 0)
			refuse = 401;
	if (expires && (long long)time(NULL) >= expires)
		refuse = 401;
	for (size_t b = 0; b < BUCKETS && !refuse; b++)
		for (struct session *o = r->buckets[b]; o; o = o->next)
			mine += strcmp(o->delegate, delegate_id) == 0;
	if (!refuse && r->n_sessions >= DM_REMOTE_MAX_SESSIONS)
		refuse = 503;
	if (!refuse && mine >= DM_REMOTE_SESSIONS_PER_DELEGATE)
		refuse = 429;
	if (refuse) {
		pthread_mutex_unlock(&r->lock);
		OPENSSL_cleanse(key64, sizeof key64);
		OPENSSL_cleanse(s, sizeof *s);
		free(s);
		*status = refuse;
		return NULL;
	}
	/* The keys in use now: a rotation under way reaches this session in a
	 * key update after its first hello (it acknowledges this generation). */
	s->acked = r->generation;
	s->created_us = mono_us();
	json_t *chans = channel_keys(r);
	json_t *o = chans ? json_pack("{s:s,s:s,s:i,s:i,s:i,s:s,s:i,s:I,s:s,s:o}", "session",
				      s->hex, "key", key64, "udp_port", (int)r->port, "hello_s",
				      DM_REMOTE_HELLO_S, "timeout_s", DM_REMOTE_TIMEOUT_S,
				      "profile", conf->remote_profile->name, "frame_ms",
				      conf->remote_profile->frame_samples * 1000 / DM_SAMPLE_RATE,
				      "generation", (json_int_t)r->generation, "channel",
				      dm_config_channel(r->cfg, c)->id, "channels", chans)
			  : NULL;
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text) {
		holds_keys(r, s);
		size_t b = bucket_of(s->id);
		s->next = r->buckets[b];
		r->buckets[b] = s;
		r->n_sessions++;
		*status = 201;
		dm_log(DM_LOG_INFO, "remote: session for %s (%s) on %s", s->name, s->delegate,
		       dm_config_channel(r->cfg, c)->id);
	} else {
		OPENSSL_cleanse(s, sizeof *s);
		free(s);
	}
	pthread_mutex_unlock(&r->lock);
	OPENSSL_cleanse(key64, sizeof key64);
	return text;
}

int dm_remote_session_channel(void *user, const char *session, const char *delegate_id,
			      const char *channel)
{
	struct dm_remote *r = user;
	if (!r || !session || !delegate_id || !channel)
		return DM_EINVAL;
	int c = dm_config_find_channel(r->cfg, channel);
	pthread_mutex_lock(&r->lock);
	struct session *s = find_hex(r, session);
	int rc = 0;
	if (!s || strcmp(s->delegate, delegate_id) != 0) {
		rc = DM_ENOENT;
	} else if (c < 0) {
		rc = DM_EINVAL;
	} else if ((size_t)c != s->channel) {
		bool was = s->bound;
		unbind(r, s);
		s->channel = (size_t)c;
		/* Moves at the next frame of the new channel: the listener holds
		 * every channel's key already. */
		if (was && dm_fanout_add(r->fanouts[c], &s->addr) == 0)
			s->bound = true;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

int dm_remote_session_end(void *user, const char *session, const char *delegate_id)
{
	struct dm_remote *r = user;
	if (!r || !session || !delegate_id)
		return DM_EINVAL;
	pthread_mutex_lock(&r->lock);
	struct session *s = find_hex(r, session);
	int rc = DM_ENOENT;
	if (s && strcmp(s->delegate, delegate_id) == 0) {
		drop(r, s);
		rc = 0;
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

void dm_remote_revoked(void *user, const char *delegate_id)
{
	struct dm_remote *r = user;
	if (!r || !delegate_id)
		return;
	pthread_mutex_lock(&r->lock);
	uint64_t now = mono_us(); /* under the lock: see on_hello */
	if (!r->revoked)
		r->revoked = calloc(MAX_REVOKED, sizeof *r->revoked);
	if (r->revoked) {
		/* Full: the oldest goes (its token has long been refused by the
		 * API, which is what this only backs up). */
		if (r->n_revoked == MAX_REVOKED) {
			memmove(r->revoked, r->revoked + 1, (MAX_REVOKED - 1) * sizeof *r->revoked);
			r->n_revoked--;
		}
		snprintf(r->revoked[r->n_revoked++], DM_ID_MAX, "%s", delegate_id);
	}
	size_t ended = 0;
	for (size_t b = 0; b < BUCKETS; b++) {
		struct session *s = r->buckets[b];
		while (s) {
			struct session *next = s->next;
			if (strcmp(s->delegate, delegate_id) == 0) {
				drop(r, s);
				ended++;
			}
			s = next;
		}
	}
	/* Every remote stream: a delegate holds the keys of all channels. */
	int rc = start_rotation(r, now);
	if (rc < 0)
		r->rotation_retry_us = now + ROTATION_RETRY_MS * 1000u;
	pthread_mutex_unlock(&r->lock);
	if (rc < 0)
		dm_log(DM_LOG_ERROR,
		       "remote: rotation after revoking %s failed (tried again in 1 s): %s",
		       delegate_id, dm_strerror(rc));
	else
		dm_log(DM_LOG_INFO,
		       "remote: delegate %s revoked, %zu session(s) ended, keys rotating",
		       delegate_id, ended);
}

json_t *dm_remote_sessions_json(struct dm_remote *r)
{
	json_t *arr = json_array();
	if (!arr || !r)
		return arr;
	pthread_mutex_lock(&r->lock);
	uint64_t now = mono_us(); /* under the lock: see on_hello */
	for (size_t b = 0; b < BUCKETS; b++)
		for (struct session *s = r->buckets[b]; s; s = s->next) {
			char addr[48];
			if (s->bound) {
				char a[INET_ADDRSTRLEN];
				inet_ntop(AF_INET, &s->addr.sin_addr, a, sizeof a);
				snprintf(addr, sizeof addr, "%s:%u", a, ntohs(s->addr.sin_port));
			}
			char sid[9];
			snprintf(sid, sizeof sid, "%.8s", s->hex);
			json_t *o = json_pack(
				"{s:s,s:s,s:s,s:s,s:o,s:f,s:i,s:f,s:o,s:o}", "session", sid,
				"delegate", s->delegate, "name", s->name, "channel",
				dm_config_channel(r->cfg, s->channel)->id, "address",
				s->bound ? json_string(addr) : json_null(), "loss",
				s->report.fraction_lost / 256.0, "cumulative_lost",
				(int)s->report.cumulative_lost, "jitter_ms",
				s->report.jitter * 1000.0 / DM_SAMPLE_RATE, "rtt_ms",
				s->rtt_ms >= 0 ? json_real(s->rtt_ms) : json_null(), "last_hello_s",
				s->hello_us ? json_real((double)(now - s->hello_us) / 1e6)
					    : json_null());
			json_array_append_new(arr, o);
		}
	pthread_mutex_unlock(&r->lock);
	return arr;
}

int dm_remote_listeners(struct dm_remote *r, size_t c)
{
	if (!r || c >= r->n_channels)
		return 0;
	struct dm_fanout_stats st;
	dm_fanout_get_stats(r->fanouts[c], &st);
	return (int)st.subscribers;
}

void dm_remote_get_stats(struct dm_remote *r, struct dm_remote_stats *st)
{
	memset(st, 0, sizeof *st);
	st->hellos = atomic_load(&r->hellos);
	st->bad_auth = atomic_load(&r->bad_auth);
	st->replayed = atomic_load(&r->replayed);
	st->unknown_session = atomic_load(&r->unknown);
	st->rate_limited = atomic_load(&r->limited);
	st->malformed = atomic_load(&r->malformed);
	st->key_updates_sent = atomic_load(&r->keys_sent);
	st->rotations = atomic_load(&r->rotations);
	st->challenges = atomic_load(&r->challenges);
	st->bad_cookie = atomic_load(&r->bad_cookie);
	pthread_mutex_lock(&r->lock);
	st->sessions = r->n_sessions;
	st->generation = r->generation;
	for (size_t b = 0; b < BUCKETS; b++)
		for (struct session *s = r->buckets[b]; s; s = s->next)
			st->bound += s->bound;
	pthread_mutex_unlock(&r->lock);
}
