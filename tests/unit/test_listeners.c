/* Module tests of the engine's listener counts (src/net/listeners.c) with real
 * components: receiver reports are written with the real RTCP writer,
 * protected as SRTCP by real libsrtp under keys derived from the conference
 * secret, and sent over real UDP sockets on loopback multicast (sender
 * IP_MULTICAST_IF 127.0.0.1, the module joined on 127.0.0.1).
 *
 * The conference (config + secret) is written into a fresh mkdtemp folder per
 * test, with groups of its own (239.255.94.<4x + channel>, RTP port 7100 + 2x
 * for test number x, so RTCP at 7101 + 2x): tests never hear each other.
 * Time passes for real only where the rate limit needs it; the 30 s window is
 * tested by handing the module a later "now". */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dragoman/config.h"
#include "dragoman/error.h"
#include "dragoman/keys.h"
#include "dragoman/listeners.h"
#include "dragoman/log.h"
#include "dragoman/rtp.h"
#include "dragoman/srtp.h"

#define S_US 1000000ull

static uint64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the conference on disk ---- */

struct fx {
	char dir[64];
	char conf[128];
	char secret_path[128];
	uint8_t secret[DM_SECRET_LEN];
	struct dm_config *cfg;
	struct dm_listeners *l;
	int fd; /* plain sending socket */
};

static void on_config_error(void *user, const char *file, int line, const char *msg)
{
	(void)user;
	fprintf(stderr, "config %s:%d: %s\n", file, line, msg);
}

static int plain_sender(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in lo = {.sin_family = AF_INET};
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &lo.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&lo, sizeof lo), 0);
	unsigned char loop = 1, ttl = 1;
	assert_int_equal(
		setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &lo.sin_addr, sizeof lo.sin_addr), 0);
	assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop), 0);
	assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl), 0);
	return fd;
}

/* Test number x (1..60): the floor (0) and two channels, "en" (1) and "fr" (2),
 * protected with the SRTP suite named. */
static void fx_init_suite(struct fx *f, int x, const char *suite)
{
	memset(f, 0, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/dm-test-listeners-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->secret_path, sizeof f->secret_path, "%s/conf.secret", f->dir);
	assert_int_equal(dm_secret_generate(f->secret_path), 0);
	assert_int_equal(dm_secret_load(f->secret_path, f->secret), 0);
	snprintf(f->conf, sizeof f->conf, "%s/test.conf", f->dir);
	int port = 7100 + 2 * x;
	FILE *fp = fopen(f->conf, "w");
	assert_non_null(fp);
	fprintf(fp,
		"conference = { id = \"ls%d\"; name = \"Listeners test %d\"; "
		"secret_file = \"conf.secret\"; profile = \"lan\"; srtp = \"%s\"; };\n"
		"network = { interface = \"127.0.0.1\"; ttl = 1; };\n"
		"floor = { group = \"239.255.94.%d\"; port = %d; };\n"
		"channels = (\n"
		"  { id = \"en\"; group = \"239.255.94.%d\"; port = %d; },\n"
		"  { id = \"fr\"; group = \"239.255.94.%d\"; port = %d; }\n"
		");\n",
		x, x, suite, 4 * x, port, 4 * x + 1, port, 4 * x + 2, port);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(dm_config_load(f->conf, true, on_config_error, NULL, &f->cfg), 0);
	assert_int_equal(dm_listeners_new(f->cfg, f->secret, "127.0.0.1", &f->l), 0);
	assert_non_null(f->l);
	f->fd = plain_sender();
}

static void fx_init(struct fx *f, int x)
{
	fx_init_suite(f, x, DM_DEFAULT_SRTP_SUITE);
}

static void fx_done(struct fx *f)
{
	dm_listeners_free(f->l);
	close(f->fd);
	dm_config_free(f->cfg);
	unlink(f->secret_path);
	unlink(f->conf);
	rmdir(f->dir);
}

/* ---- reporters: what dragoman-listen sends ---- */

struct reporter {
	int ch;
	uint32_t ssrc;
	struct dm_srtp *srtp; /* SEND: its SRTCP index goes on across reports */
};

/* A reporter on channel ch keyed with secret (the conference's, or another). */
static void reporter_init(struct reporter *r, struct fx *f, const uint8_t *secret, int ch,
			  uint32_t ssrc)
{
	const struct dm_conference_conf *conf = dm_config_conference(f->cfg);
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	r->ch = ch;
	r->ssrc = ssrc;
	assert_int_equal(dm_keys_derive(secret, conf->id, dm_config_channel(f->cfg, (size_t)ch)->id,
					ssrc, conf->suite, key, sizeof key),
			 0);
	assert_int_equal(dm_srtp_new(conf->suite, DM_SRTP_SEND, ssrc, key, &r->srtp), 0);
}

static void reporter_done(struct reporter *r)
{
	dm_srtp_free(r->srtp);
	memset(r, 0, sizeof *r);
}

struct pkt {
	uint8_t b[256];
	size_t len;
};

static void send_to(struct fx *f, int ch, const void *buf, size_t len)
{
	const struct dm_channel_conf *c = dm_config_channel(f->cfg, (size_t)ch);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(c->port + 1))};
	assert_int_equal(inet_pton(AF_INET, c->group, &sa.sin_addr), 1);
	assert_int_equal(sendto(f->fd, buf, len, 0, (struct sockaddr *)&sa, sizeof sa),
			 (ssize_t)len);
}

/* A protected receiver report of r (about source 0x50000000 + channel). */
static void rr_make(struct reporter *r, uint8_t fraction, uint32_t jitter, uint32_t lsr,
		    uint32_t dlsr, struct pkt *p)
{
	struct dm_rtcp_rr rr = {
		.reporter_ssrc = r->ssrc,
		.source_ssrc = 0x50000000u + (uint32_t)r->ch,
		.fraction_lost = fraction,
		.cumulative_lost = fraction * 3,
		.highest_seq = 70000,
		.jitter = jitter,
		.lsr = lsr,
		.dlsr = dlsr,
	};
	int n = dm_rtcp_write_rr(&rr, "listen-test", p->b, sizeof p->b - DM_SRTCP_MAX_TRAILER);
	assert_true(n > 0);
	p->len = (size_t)n;
	assert_int_equal(dm_srtp_protect_rtcp(r->srtp, p->b, &p->len, sizeof p->b), 0);
}

static void rr_send(struct fx *f, struct reporter *r, uint8_t fraction, uint32_t jitter)
{
	struct pkt p;
	rr_make(r, fraction, jitter, 0, 0, &p);
	send_to(f, r->ch, p.b, p.len);
}

/* Polls until the module has read `total` datagrams since it was made. */
static void poll_until(struct fx *f, uint64_t total)
{
	struct dm_listeners_stats st;
	uint64_t t0 = mono_us();
	for (;;) {
		dm_listeners_get_stats(f->l, &st);
		if (st.received >= total)
			break;
		if (mono_us() - t0 > 2 * S_US)
			fail_msg("read %lu datagrams of %lu", (unsigned long)st.received,
				 (unsigned long)total);
		assert_int_equal(dm_listeners_poll(f->l, 20), 0);
	}
	assert_int_equal(st.received, total);
}

static struct dm_listeners_stats stats(struct fx *f)
{
	struct dm_listeners_stats st;
	dm_listeners_get_stats(f->l, &st);
	return st;
}

static int count(struct fx *f, int ch, uint64_t now)
{
	struct dm_listeners_summary sum;
	assert_int_equal(dm_listeners_get(f->l, ch, now, &sum), 0);
	return sum.count;
}

struct rows {
	struct dm_listener_info v[16];
	int n;
};

static void on_row(void *user, const struct dm_listener_info *info)
{
	struct rows *rows = user;
	assert_true(rows->n < 16);
	rows->v[rows->n++] = *info;
}

/* ---- tests ---- */

static void listeners_counts_per_channel(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 1);
	struct reporter en[3], fr, fl;
	uint32_t ids[3] = {0x30000003u, 0x10000001u, 0x20000002u};
	for (int i = 0; i < 3; i++)
		reporter_init(&en[i], &f, f.secret, 1, ids[i]);
	reporter_init(&fr, &f, f.secret, 2, 0x40000004u);
	reporter_init(&fl, &f, f.secret, 0, 0x0000f100u);
	uint64_t t0 = mono_us();

	/* Two rounds: a listener that reports again is still one listener.
	 * Losses 0, 5 % and 10 %, jitters 1, 2 and 10 ms (48 kHz clock). */
	static const uint8_t fraction[3] = {0, 13, 26};
	static const uint32_t jitter[3] = {48, 96, 480};
	uint32_t lsr = (uint32_t)(dm_ntp_now() >> 16) - 655; /* 10 ms ago */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 3; i++)
			rr_send(&f, &en[i], fraction[i], jitter[i]);
		/* fr echoes a sender report of 10 ms ago, held 5 ms: about 5 ms
		 * of round trip. */
		struct pkt p;
		rr_make(&fr, 0, 0, lsr, 328, &p);
		send_to(&f, 2, p.b, p.len);
		/* The floor's listener heard nothing since its last report: an
		 * RR without report block (RC 0). */
		uint8_t empty[8 + DM_SRTCP_MAX_TRAILER] = {0x80, 201, 0, 1};
		empty[4] = (uint8_t)(fl.ssrc >> 24);
		empty[5] = (uint8_t)(fl.ssrc >> 16);
		empty[6] = (uint8_t)(fl.ssrc >> 8);
		empty[7] = (uint8_t)fl.ssrc;
		size_t elen = 8;
		assert_int_equal(dm_srtp_protect_rtcp(fl.srtp, empty, &elen, sizeof empty), 0);
		send_to(&f, 0, empty, elen);
		poll_until(&f, 5u * (unsigned)(round + 1));
	}

	struct dm_listeners_stats st = stats(&f);
	assert_int_equal(st.accepted, 10);
	assert_int_equal(st.derivations, 10); /* every report is authenticated */
	assert_int_equal(st.tracked, 5);
	assert_true(st.rejected == 0 && st.malformed == 0 && st.foreign == 0 && st.replayed == 0);
	assert_true(st.rate_limited == 0 && st.full == 0);

	struct dm_listeners_summary sum;
	assert_int_equal(dm_listeners_get(f.l, 1, 0, &sum), 0);
	assert_int_equal(sum.count, 3);
	assert_true(fabs(sum.loss_max - 26.0 / 256) < 1e-9);
	assert_true(fabs(sum.loss_mean - 13.0 / 256) < 1e-9);
	assert_true(fabs(sum.jitter_max_ms - 10.0) < 1e-9);
	assert_int_equal(dm_listeners_get(f.l, 2, 0, &sum), 0);
	assert_int_equal(sum.count, 1);
	assert_true(sum.loss_max == 0 && sum.loss_mean == 0 && sum.jitter_max_ms == 0);
	assert_int_equal(count(&f, 0, 0), 1);

	/* Per listener, in SSRC order. */
	struct rows rows = {0};
	assert_int_equal(dm_listeners_list(f.l, 1, 0, on_row, &rows), 3);
	assert_int_equal(rows.n, 3);
	assert_int_equal(rows.v[0].ssrc, 0x10000001u);
	assert_int_equal(rows.v[1].ssrc, 0x20000002u);
	assert_int_equal(rows.v[2].ssrc, 0x30000003u);
	/* 0x20000002 is en[2]: 10 %, 10 ms. */
	assert_true(fabs(rows.v[1].loss - 26.0 / 256) < 1e-9);
	assert_true(fabs(rows.v[1].jitter_ms - 10.0) < 1e-9);
	assert_int_equal(rows.v[1].cumulative_lost, 78);
	assert_int_equal(rows.v[1].highest_seq, 70000);
	assert_int_equal(rows.v[1].source_ssrc, 0x50000001u);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rows.v[i].reports, 2);
		assert_true(rows.v[i].rtt_ms == -1);
		assert_true(rows.v[i].age_s >= 0 && rows.v[i].age_s < 2.0);
	}
	rows.n = 0;
	assert_int_equal(dm_listeners_list(f.l, 2, 0, on_row, &rows), 1);
	print_message("round trip from LSR/DLSR: %.2f ms\n", rows.v[0].rtt_ms);
	assert_true(rows.v[0].rtt_ms > 4.0 && rows.v[0].rtt_ms < 100.0);
	rows.n = 0;
	assert_int_equal(dm_listeners_list(f.l, 0, 0, on_row, &rows), 1);
	assert_int_equal(rows.v[0].ssrc, fl.ssrc);
	assert_true(rows.v[0].loss == 0 && rows.v[0].jitter_ms == 0 && rows.v[0].rtt_ms == -1);

	/* They stop: counted for the 30 s window, not a moment longer. */
	uint64_t now = mono_us();
	assert_int_equal(count(&f, 1, now + 29 * S_US), 3);
	assert_int_equal(count(&f, 2, now + 29 * S_US), 1);
	assert_int_equal(count(&f, 1, t0 + 35 * S_US), 0);
	assert_int_equal(count(&f, 2, t0 + 35 * S_US), 0);
	assert_int_equal(count(&f, 0, t0 + 35 * S_US), 0);
	rows.n = 0;
	assert_int_equal(dm_listeners_list(f.l, 1, t0 + 35 * S_US, on_row, &rows), 0);
	assert_int_equal(rows.n, 0);
	/* A time before the reports counts them as just heard. */
	assert_int_equal(count(&f, 1, t0 > 1 ? t0 - 1 : 1), 3);

	for (int i = 0; i < 3; i++)
		reporter_done(&en[i]);
	reporter_done(&fr);
	reporter_done(&fl);
	fx_done(&f);
}

static void listeners_window_expires(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 2);
	struct reporter a, b;
	reporter_init(&a, &f, f.secret, 1, 0xa0a0a0a0u);
	reporter_init(&b, &f, f.secret, 1, 0xb0b0b0b0u);
	rr_send(&f, &a, 0, 10);
	rr_send(&f, &b, 0, 10);
	poll_until(&f, 2);
	assert_int_equal(count(&f, 1, 0), 2);
	uint64_t now = mono_us();
	/* Real time: nothing is older than a second, nothing goes. */
	dm_listeners_expire(f.l, 0);
	assert_int_equal(stats(&f).tracked, 2);
	dm_listeners_expire(f.l, now + 29 * S_US);
	assert_int_equal(stats(&f).tracked, 2);
	/* Past the window their key contexts are freed. */
	dm_listeners_expire(f.l, now + 31 * S_US);
	assert_int_equal(stats(&f).tracked, 0);
	assert_int_equal(count(&f, 1, 0), 0);
	/* A listener that comes back is keyed again and counted again (its
	 * SRTCP index went on: no replay). */
	rr_send(&f, &a, 0, 10);
	poll_until(&f, 3);
	struct dm_listeners_stats st = stats(&f);
	assert_int_equal(st.derivations, 3);
	assert_int_equal(st.accepted, 3);
	assert_int_equal(count(&f, 1, 0), 1);
	reporter_done(&a);
	reporter_done(&b);
	fx_done(&f);
}

static void listeners_rejects_forged(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 3);
	char other_path[160];
	snprintf(other_path, sizeof other_path, "%s/other.secret", f.dir);
	uint8_t other[DM_SECRET_LEN];
	assert_int_equal(dm_secret_generate(other_path), 0);
	assert_int_equal(dm_secret_load(other_path, other), 0);
	unlink(other_path);

	struct reporter good, stranger, wrong_channel;
	reporter_init(&good, &f, f.secret, 1, 0x11111111u);
	reporter_init(&stranger, &f, other, 1, 0x22222222u);	     /* another conference */
	reporter_init(&wrong_channel, &f, f.secret, 2, 0x33333333u); /* fr's key */
	struct pkt valid, p;
	rr_make(&good, 0, 10, 0, 0, &valid);
	send_to(&f, 1, valid.b, valid.len);
	rr_send(&f, &stranger, 0, 10);
	rr_make(&wrong_channel, 0, 10, 0, 0, &p);
	send_to(&f, 1, p.b, p.len); /* sent to en */
	/* A known reporter's SSRC with a forged tag, on an index not seen yet
	 * (one seen already is refused as a replay before any authentication). */
	rr_make(&good, 0, 10, 0, 0, &p);
	p.b[p.len - 1] ^= 0x01;
	send_to(&f, 1, p.b, p.len);
	/* The valid report again: a replay. */
	send_to(&f, 1, valid.b, valid.len);
	/* Truncated, and not RTCP at all. */
	static const uint8_t five[5] = {0x80, 201, 0, 1, 2};
	send_to(&f, 1, five, sizeof five);
	uint8_t rtp[40] = {0x80, 111};
	send_to(&f, 1, rtp, sizeof rtp);
	poll_until(&f, 7);

	struct dm_listeners_stats st = stats(&f);
	assert_int_equal(st.accepted, 1);
	assert_int_equal(st.rejected, 3);
	assert_int_equal(st.replayed, 1);
	assert_int_equal(st.malformed, 2);
	assert_int_equal(st.derivations, 4); /* the replay cost none */
	assert_int_equal(st.tracked, 1);
	assert_int_equal(count(&f, 1, 0), 1);
	struct rows rows = {0};
	assert_int_equal(dm_listeners_list(f.l, 1, 0, on_row, &rows), 1);
	assert_int_equal(rows.v[0].ssrc, good.ssrc);
	assert_int_equal(rows.v[0].reports, 1);
	assert_int_equal(count(&f, 2, 0), 0);
	reporter_done(&good);
	reporter_done(&stranger);
	reporter_done(&wrong_channel);
	fx_done(&f);
}

static void listeners_ignores_own_sender(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 4);
	const uint32_t ours = 0x5e5e5e5eu;
	assert_int_equal(dm_listeners_set_sender(f.l, 1, ours), 0);
	/* Our stream's sender report, looped back as the engine's are. */
	struct reporter sender;
	reporter_init(&sender, &f, f.secret, 1, ours);
	struct dm_rtcp_sr sr = {.ssrc = ours, .ntp = dm_ntp_now(), .packet_count = 200};
	struct pkt p;
	int n = dm_rtcp_write_sr(&sr, "dragoman-en", p.b, sizeof p.b - DM_SRTCP_MAX_TRAILER);
	assert_true(n > 0);
	p.len = (size_t)n;
	assert_int_equal(dm_srtp_protect_rtcp(sender.srtp, p.b, &p.len, sizeof p.b), 0);
	send_to(&f, 1, p.b, p.len);
	/* A receiver report claiming our SSRC (keyed right, even). */
	rr_send(&f, &sender, 0, 10);
	poll_until(&f, 2);
	struct dm_listeners_stats st = stats(&f);
	assert_int_equal(st.foreign, 2);
	assert_int_equal(st.derivations, 0); /* no crypto spent on them */
	assert_true(st.accepted == 0 && st.rejected == 0 && st.malformed == 0);
	assert_int_equal(count(&f, 1, 0), 0);
	/* The SSRC is only ours on that channel, and only until we rekey. */
	assert_int_equal(dm_listeners_set_sender(f.l, 1, 0x12345678u), 0);
	rr_send(&f, &sender, 0, 10);
	poll_until(&f, 3);
	st = stats(&f);
	assert_int_equal(st.derivations, 1);
	assert_int_equal(st.accepted, 1);
	assert_int_equal(count(&f, 1, 0), 1);
	reporter_done(&sender);
	fx_done(&f);
}

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void listeners_flood_rate_limited(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 5);
	/* 5,000 receiver reports of invented SSRCs with invented tags: the
	 * shape of a real one (RR + SDES + E|index + tag), none keyed right. */
	struct reporter shape;
	reporter_init(&shape, &f, f.secret, 1, 1);
	struct pkt tmpl;
	rr_make(&shape, 0, 10, 0, 0, &tmpl);
	reporter_done(&shape);
	uint32_t rnd = 0x9e3779b9u;
	double cpu0 = cpu_s();
	uint64_t wall0 = mono_us();
	for (int batch = 0; batch < 50; batch++) {
		for (int k = 0; k < 100; k++) {
			struct pkt p = tmpl;
			uint32_t ssrc = xorshift(&rnd);
			memcpy(p.b + 4, &ssrc, 4);
			for (size_t i = 8; i < p.len; i++)
				p.b[i] = (uint8_t)xorshift(&rnd);
			p.b[p.len - 14] |= 0x80; /* E flag, as a real one */
			send_to(&f, 1, p.b, p.len);
		}
		/* Read as they come (the socket buffer holds a few hundred). */
		poll_until(&f, 100u * (unsigned)(batch + 1));
	}
	double wall = (double)(mono_us() - wall0) * 1e-6;
	double cpu = cpu_s() - cpu0;
	struct dm_listeners_stats st = stats(&f);
	print_message("flood: 5000 forgeries in %.2f s, %lu keys derived, %.3f s of CPU\n", wall,
		      (unsigned long)st.derivations, cpu);
	/* The bucket: DM_LISTENERS_NEW_PER_S at once, then as many per second. */
	uint64_t allowed = DM_LISTENERS_NEW_PER_S + (uint64_t)(wall * DM_LISTENERS_NEW_PER_S) + 1;
	if (st.derivations > allowed)
		fail_msg("%lu key derivations in %.2f s", (unsigned long)st.derivations, wall);
	assert_true(st.derivations >= DM_LISTENERS_NEW_PER_S);
	assert_int_equal(st.rejected, st.derivations);
	assert_int_equal(st.rate_limited + st.derivations, 5000);
	assert_true(st.accepted == 0 && st.tracked == 0); /* nothing kept: memory stays put */
	assert_int_equal(count(&f, 1, 0), 0);
	/* Sender-side CPU (packet crafting, sendto) is in there too. */
	if (cpu > 1.0)
		fail_msg("the flood cost %.3f s of CPU", cpu);

	/* A real listener gets in as soon as the bucket has a token again. */
	struct timespec ts = {0, 50 * 1000 * 1000};
	nanosleep(&ts, NULL);
	struct reporter good;
	reporter_init(&good, &f, f.secret, 1, 0x600d600du);
	rr_send(&f, &good, 0, 10);
	poll_until(&f, 5001);
	assert_int_equal(count(&f, 1, 0), 1);

	/* Forgeries under a known reporter's SSRC with indexes above its own
	 * (below would be replays, refused for free) draw on the known
	 * listeners' bucket only. */
	struct pkt valid;
	rr_make(&good, 0, 10, 0, 0, &valid);
	st = stats(&f);
	wall0 = mono_us();
	for (int batch = 0; batch < 10; batch++) {
		for (int k = 0; k < 100; k++) {
			struct pkt p = valid;
			uint32_t idx = 0x80000000u | (uint32_t)(100 + batch * 100 + k);
			p.b[p.len - 14] = (uint8_t)(idx >> 24);
			p.b[p.len - 13] = (uint8_t)(idx >> 16);
			p.b[p.len - 12] = (uint8_t)(idx >> 8);
			p.b[p.len - 11] = (uint8_t)idx;
			for (size_t i = p.len - 10; i < p.len; i++)
				p.b[i] = (uint8_t)xorshift(&rnd);
			send_to(&f, 1, p.b, p.len);
		}
		poll_until(&f, 5001 + 100u * (unsigned)(batch + 1));
	}
	wall = (double)(mono_us() - wall0) * 1e-6;
	struct dm_listeners_stats st2 = stats(&f);
	uint64_t tried = st2.derivations - st.derivations;
	print_message("known SSRC: 1000 forgeries in %.2f s, %lu authentications\n", wall,
		      (unsigned long)tried);
	if (tried > DM_LISTENERS_KNOWN_PER_S + (uint64_t)(wall * DM_LISTENERS_KNOWN_PER_S) + 1)
		fail_msg("%lu authentications in %.2f s", (unsigned long)tried, wall);
	assert_int_equal(st2.rejected - st.rejected, tried);
	assert_int_equal(st2.rate_limited - st.rate_limited + tried, 1000);
	assert_true(st2.accepted == st.accepted && st2.replayed == st.replayed);
	/* A new listener meanwhile: its own bucket is not spent. */
	struct reporter other;
	reporter_init(&other, &f, f.secret, 1, 0x0de1e7e5u);
	rr_send(&f, &other, 0, 10);
	poll_until(&f, 6002);
	assert_int_equal(count(&f, 1, 0), 2);
	/* And the victim's real report, the forgeries having changed nothing:
	 * its index (2) is still above the one it was last heard with. */
	nanosleep(&ts, NULL);
	send_to(&f, 1, valid.b, valid.len);
	poll_until(&f, 6003);
	struct rows rows = {0};
	assert_int_equal(dm_listeners_list(f.l, 1, 0, on_row, &rows), 2);
	for (int i = 0; i < 2; i++)
		if (rows.v[i].ssrc == good.ssrc)
			assert_int_equal(rows.v[i].reports, 2);
	assert_int_equal(stats(&f).tracked, 2);
	reporter_done(&good);
	reporter_done(&other);
	fx_done(&f);
}

static void listeners_cap_per_channel(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 6);
	assert_int_equal(dm_listeners_set_limits(f.l, 5, 1000, 1000), 0);
	struct reporter r[8];
	for (int i = 0; i < 8; i++)
		reporter_init(&r[i], &f, f.secret, 1, 0x1000u + (uint32_t)i);
	for (int i = 0; i < 8; i++)
		rr_send(&f, &r[i], 0, 10);
	poll_until(&f, 8);
	struct dm_listeners_stats st = stats(&f);
	assert_int_equal(count(&f, 1, 0), 5);
	assert_int_equal(st.full, 3);
	assert_int_equal(st.derivations, 5);
	assert_int_equal(st.tracked, 5);
	/* The ones held go on being heard; the others cost nothing. */
	for (int i = 0; i < 8; i++)
		rr_send(&f, &r[i], 0, 10);
	poll_until(&f, 16);
	st = stats(&f);
	assert_int_equal(st.accepted, 10);
	assert_int_equal(st.full, 6);
	assert_int_equal(st.derivations, 10);
	/* Another channel has room of its own. */
	struct reporter fr;
	reporter_init(&fr, &f, f.secret, 2, 0x1000u);
	rr_send(&f, &fr, 0, 10);
	poll_until(&f, 17);
	assert_int_equal(count(&f, 2, 0), 1);
	/* When the crowd has gone, there is room again. */
	dm_listeners_expire(f.l, mono_us() + 31 * S_US);
	assert_int_equal(stats(&f).tracked, 0);
	rr_send(&f, &r[7], 0, 10);
	poll_until(&f, 18);
	assert_int_equal(count(&f, 1, 0), 1);
	for (int i = 0; i < 8; i++)
		reporter_done(&r[i]);
	reporter_done(&fr);
	fx_done(&f);
}

/* The AEAD suites put the SRTCP index after the tag, not before it: the
 * replay check must find it there too. */
static void listeners_gcm_suites(void **state)
{
	(void)state;
	static const char *suites[] = {"AEAD_AES_128_GCM", "AEAD_AES_256_GCM"};
	for (int s = 0; s < 2; s++) {
		struct fx f;
		fx_init_suite(&f, 9 + s, suites[s]);
		struct reporter r;
		reporter_init(&r, &f, f.secret, 2, 0x6c6c6c6cu);
		struct pkt first, p;
		rr_make(&r, 13, 96, 0, 0, &first);
		send_to(&f, 2, first.b, first.len);
		for (int i = 0; i < 2; i++) {
			rr_make(&r, 13, 96, 0, 0, &p);
			send_to(&f, 2, p.b, p.len);
		}
		send_to(&f, 2, first.b, first.len); /* replayed */
		send_to(&f, 2, p.b, p.len);	    /* the latest, replayed */
		poll_until(&f, 5);
		struct dm_listeners_stats st = stats(&f);
		assert_int_equal(st.accepted, 3);
		assert_int_equal(st.replayed, 2);
		assert_int_equal(st.derivations, 3);
		assert_true(st.rejected == 0 && st.malformed == 0);
		struct dm_listeners_summary sum;
		assert_int_equal(dm_listeners_get(f.l, 2, 0, &sum), 0);
		assert_int_equal(sum.count, 1);
		assert_true(fabs(sum.loss_max - 13.0 / 256) < 1e-9);
		assert_true(fabs(sum.jitter_max_ms - 2.0) < 1e-9);
		reporter_done(&r);
		fx_done(&f);
	}
}

/* The engine's way: one thread polls, another reads the counts. */
struct poller {
	struct dm_listeners *l;
	atomic_bool stop;
	int errors;
};

static void *poll_main(void *arg)
{
	struct poller *p = arg;
	while (!atomic_load(&p->stop))
		if (dm_listeners_poll(p->l, 5) != 0)
			p->errors++;
	return NULL;
}

static void listeners_poll_thread(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 7);
	struct poller p = {.l = f.l};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, poll_main, &p), 0);
	struct reporter r[20];
	for (int i = 0; i < 20; i++)
		reporter_init(&r[i], &f, f.secret, 1 + i % 2, 0x7000u + (uint32_t)i);
	int seen = 0;
	uint64_t t0 = mono_us();
	for (int round = 0; round < 5; round++)
		for (int i = 0; i < 20; i++)
			rr_send(&f, &r[i], (uint8_t)i, 10);
	while (mono_us() - t0 < 2 * S_US) {
		struct dm_listeners_summary a, b;
		assert_int_equal(dm_listeners_get(f.l, 1, 0, &a), 0);
		assert_int_equal(dm_listeners_get(f.l, 2, 0, &b), 0);
		assert_true(a.count >= 0 && a.count <= 10 && b.count >= 0 && b.count <= 10);
		seen = a.count + b.count;
		if (seen == 20 && stats(&f).accepted == 100)
			break;
	}
	atomic_store(&p.stop, true);
	pthread_join(th, NULL);
	assert_int_equal(p.errors, 0);
	assert_int_equal(seen, 20);
	assert_int_equal(stats(&f).accepted, 100);
	for (int i = 0; i < 20; i++)
		reporter_done(&r[i]);
	fx_done(&f);
}

static void on_row_unused(void *user, const struct dm_listener_info *info)
{
	(void)user;
	(void)info;
	fail_msg("no rows expected");
}

static void listeners_bad_args(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 8);
	struct dm_listeners *l = (struct dm_listeners *)&f;
	assert_int_equal(dm_listeners_new(NULL, f.secret, NULL, &l), DM_EINVAL);
	assert_int_equal(dm_listeners_new(f.cfg, NULL, NULL, &l), DM_EINVAL);
	assert_int_equal(dm_listeners_new(f.cfg, f.secret, NULL, NULL), DM_EINVAL);
	assert_int_equal(dm_listeners_new(f.cfg, f.secret, "not-an-address", &l), DM_EINVAL);
	/* An address this host does not have: the join fails. */
	assert_int_equal(dm_listeners_new(f.cfg, f.secret, "192.0.2.1", &l), DM_ENET);
	/* NULL iface: the config's (127.0.0.1); the same groups twice is fine. */
	assert_int_equal(dm_listeners_new(f.cfg, f.secret, NULL, &l), 0);
	dm_listeners_free(l);

	struct dm_listeners_summary sum;
	assert_int_equal(dm_listeners_get(NULL, 1, 0, &sum), DM_EINVAL);
	assert_int_equal(dm_listeners_get(f.l, 1, 0, NULL), DM_EINVAL);
	assert_int_equal(dm_listeners_get(f.l, -1, 0, &sum), DM_ENOENT);
	assert_int_equal(dm_listeners_get(f.l, 3, 0, &sum), DM_ENOENT);
	assert_int_equal(dm_listeners_list(NULL, 1, 0, on_row_unused, NULL), DM_EINVAL);
	assert_int_equal(dm_listeners_list(f.l, 1, 0, NULL, NULL), DM_EINVAL);
	assert_int_equal(dm_listeners_list(f.l, -1, 0, on_row_unused, NULL), DM_ENOENT);
	assert_int_equal(dm_listeners_list(f.l, 3, 0, on_row_unused, NULL), DM_ENOENT);
	assert_int_equal(dm_listeners_list(f.l, 2, 0, on_row_unused, NULL), 0);
	assert_int_equal(dm_listeners_set_sender(NULL, 1, 1), DM_EINVAL);
	assert_int_equal(dm_listeners_set_sender(f.l, -1, 1), DM_ENOENT);
	assert_int_equal(dm_listeners_set_sender(f.l, 3, 1), DM_ENOENT);
	assert_int_equal(dm_listeners_set_sender(f.l, 0, 0), 0);
	assert_int_equal(dm_listeners_set_limits(NULL, 1, 1, 1), DM_EINVAL);
	assert_int_equal(dm_listeners_set_limits(f.l, 0, 1, 1), DM_EINVAL);
	assert_int_equal(dm_listeners_set_limits(f.l, 1, 0, 1), DM_EINVAL);
	assert_int_equal(dm_listeners_set_limits(f.l, 1, 1, 0), DM_EINVAL);
	assert_int_equal(dm_listeners_set_limits(f.l, 1, 1, 1), 0);
	assert_int_equal(dm_listeners_poll(NULL, 0), DM_EINVAL);
	assert_int_equal(dm_listeners_poll(f.l, 0), 0);
	struct dm_listeners_stats st;
	memset(&st, 0xff, sizeof st);
	dm_listeners_get_stats(NULL, &st);
	assert_int_equal(st.received, 0);
	assert_int_equal(st.tracked, 0);
	dm_listeners_get_stats(f.l, NULL);
	dm_listeners_expire(NULL, 0);
	dm_listeners_free(NULL);
	fx_done(&f);
}

static int setup(void **state)
{
	(void)state;
	static const char prefix[] = "test_listeners";
	if (getenv("DM_TEST_DEBUG"))
		dm_log_set(dm_log_stderr, (void *)prefix, DM_LOG_DEBUG);
	else
		dm_log_set(NULL, NULL, DM_LOG_ERROR);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(listeners_counts_per_channel),
		cmocka_unit_test(listeners_window_expires),
		cmocka_unit_test(listeners_rejects_forged),
		cmocka_unit_test(listeners_ignores_own_sender),
		cmocka_unit_test(listeners_flood_rate_limited),
		cmocka_unit_test(listeners_cap_per_channel),
		cmocka_unit_test(listeners_gcm_suites),
		cmocka_unit_test(listeners_poll_thread),
		cmocka_unit_test(listeners_bad_args),
	};
	return cmocka_run_group_tests_name("listeners", tests, setup, NULL);
}
