/* Module tests of the receive path (src/net/receiver.c) with real components:
 * a real dm_stream (real Opus, real libsrtp) sends a tone over real UDP
 * sockets on loopback multicast (sender IP_MULTICAST_IF 127.0.0.1, receiver
 * joined on 127.0.0.1), and the receiver decodes it into a buffer that the
 * tests check (level, and frequency with a Goertzel filter).
 *
 * The conference (config + secret) is written into a fresh mkdtemp folder per
 * test, with multicast groups of its own (239.255.91.<4x + channel>, port
 * 6000 + 2x for test number x), so tests never hear each other or anything
 * else on the machine. Frames are paced in real time where timing matters
 * (sender reports go out once a second of wall-clock time); the receiver is
 * driven with dm_receiver_poll between frames in the same thread, except in
 * the channel switch test, which runs its thread.
 *
 * Remote mode (receiver_remote_*): the test plays the engine's fan-out on
 * loopback unicast: its own Opus encoder (the internet profile), RTP and SRTP
 * under keys it hands the receiver with dm_receiver_set_key, sent to the
 * receiver's one socket, which also gets sender reports and key updates. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <opus/opus.h>
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
#include "dragoman/profile.h"
#include "dragoman/receiver.h"
#include "dragoman/rproto.h"
#include "dragoman/rtp.h"
#include "dragoman/sdp.h"
#include "dragoman/stream.h"

#define RATE 48000
#define TONE_AMP 0.2511886f /* -12 dBFS */
#define MAX_FRAME 960
#define MAX_RX 3
#define MAX_ST 2

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
	int x;
};

static void on_config_error(void *user, const char *file, int line, const char *msg)
{
	(void)user;
	fprintf(stderr, "config %s:%d: %s\n", file, line, msg);
}

static void group_of(int x, int ch, char *buf, size_t cap)
{
	snprintf(buf, cap, "239.255.91.%d", 4 * x + ch);
}

/* Test number x (1..60): a floor and two channels, "en" and "fr". */
static void fx_init(struct fx *f, int x)
{
	memset(f, 0, sizeof *f);
	f->x = x;
	snprintf(f->dir, sizeof f->dir, "/tmp/dm-test-receiver-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->secret_path, sizeof f->secret_path, "%s/conf.secret", f->dir);
	assert_int_equal(dm_secret_generate(f->secret_path), 0);
	assert_int_equal(dm_secret_load(f->secret_path, f->secret), 0);
	snprintf(f->conf, sizeof f->conf, "%s/test.conf", f->dir);
	char g0[32], g1[32], g2[32];
	group_of(x, 0, g0, sizeof g0);
	group_of(x, 1, g1, sizeof g1);
	group_of(x, 2, g2, sizeof g2);
	int port = 6000 + 2 * x;
	FILE *fp = fopen(f->conf, "w");
	assert_non_null(fp);
	fprintf(fp,
		"conference = { id = \"rx%d\"; name = \"Receiver test %d\"; "
		"secret_file = \"conf.secret\"; profile = \"lan\"; };\n"
		"network = { interface = \"127.0.0.1\"; ttl = 1; };\n"
		"floor = { name = \"Floor\"; group = \"%s\"; port = %d; };\n"
		"channels = (\n"
		"  { id = \"en\"; name = \"English\"; group = \"%s\"; port = %d; },\n"
		"  { id = \"fr\"; name = \"Fran\xc3\xa7"
		"ais\"; group = \"%s\"; port = %d; }\n"
		");\n",
		x, x, g0, port, g1, port, g2, port);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(dm_config_load(f->conf, true, on_config_error, NULL, &f->cfg), 0);
}

static void fx_done(struct fx *f)
{
	dm_config_free(f->cfg);
	char path[160];
	snprintf(path, sizeof path, "%s/other.secret", f->dir);
	unlink(path);
	unlink(f->secret_path);
	unlink(f->conf);
	rmdir(f->dir);
}

/* A sending stream for channel ch of the conference, as the engine makes it. */
static struct dm_stream *fx_stream(struct fx *f, int ch, uint32_t initial_roc)
{
	const struct dm_conference_conf *conf = dm_config_conference(f->cfg);
	const struct dm_channel_conf *c = dm_config_channel(f->cfg, (size_t)ch);
	assert_non_null(c);
	struct dm_stream_params p = {
		.conference_id = conf->id,
		.conference_name = conf->name,
		.channel_id = c->id,
		.channel_name = c->name,
		.language = c->language,
		.secret = f->secret,
		.suite = conf->suite,
		.profile = conf->profile,
		.interface = "127.0.0.1",
		.group = c->group,
		.port = c->port,
		.ttl = 1,
		.initial_roc = initial_roc,
	};
	struct dm_stream *s = NULL;
	assert_int_equal(dm_stream_new(&p, &s), 0);
	assert_non_null(s);
	return s;
}

/* ---- decoded audio ---- */

struct capture {
	float *pcm;
	size_t n, cap;
	uint64_t calls;
	/* Channel switch, written on the receiver thread: after watch_from_us,
	 * the first frame without the old tone (other_hz), and the first frame
	 * with the new one (watch_hz) within 3 dB of its level. */
	double watch_hz, other_hz;
	_Atomic uint64_t watch_from_us, first_new_us, full_level_us;
};

static double goertzel_amp(const float *x, size_t n, double hz)
{
	double w = 2.0 * M_PI * hz / RATE, c = 2.0 * cos(w), s1 = 0, s2 = 0;
	for (size_t i = 0; i < n; i++) {
		double s0 = x[i] + c * s1 - s2;
		s2 = s1;
		s1 = s0;
	}
	double re = s1 - s2 * cos(w), im = s2 * sin(w);
	return 2.0 * sqrt(re * re + im * im) / (double)n;
}

static double rms(const float *x, size_t n)
{
	double e = 0;
	for (size_t i = 0; i < n; i++)
		e += (double)x[i] * x[i];
	return n ? sqrt(e / (double)n) : 0;
}

static void on_pcm(void *user, const float *pcm, size_t n)
{
	struct capture *c = user;
	c->calls++;
	if (c->n + n > c->cap) {
		size_t cap = c->cap ? c->cap * 2 : RATE;
		while (cap < c->n + n)
			cap *= 2;
		float *p = realloc(c->pcm, cap * sizeof *p);
		if (!p)
			abort();
		c->pcm = p;
		c->cap = cap;
	}
	memcpy(c->pcm + c->n, pcm, n * sizeof *pcm);
	c->n += n;
	uint64_t from = atomic_load(&c->watch_from_us);
	if (!from || atomic_load(&c->full_level_us))
		return;
	uint64_t now = mono_us();
	double want = goertzel_amp(pcm, n, c->watch_hz), old = goertzel_amp(pcm, n, c->other_hz);
	if (getenv("DM_TEST_TRACE"))
		fprintf(stderr, "t+%.2f ms: %.0f Hz %.3f, %.0f Hz %.3f\n",
			(double)(now - from) / 1000.0, c->watch_hz, want, c->other_hz, old);
	if (!atomic_load(&c->first_new_us) && old < 0.02)
		atomic_store(&c->first_new_us, now);
	if (want > 0.7 * TONE_AMP && old < 0.02)
		atomic_store(&c->full_level_us, now);
}

static void capture_free(struct capture *c)
{
	free(c->pcm);
	memset(c, 0, sizeof *c);
}

/* The samples [from, from + n) hold a tone of hz at about -12 dBFS and little
 * else: hz is 20 times (26 dB) stronger than any of the other bins tried. */
static void assert_tone(const struct capture *c, size_t from, size_t n, double hz)
{
	assert_true(from + n <= c->n);
	const float *x = c->pcm + from;
	double a = goertzel_amp(x, n, hz);
	if (a < 0.7 * TONE_AMP || a > 1.3 * TONE_AMP)
		fail_msg("tone %.0f Hz: amplitude %.3f, want about %.3f", hz, a, TONE_AMP);
	static const double others[] = {250, 500, 700, 1500, 2000, 3000, 4000, 8000};
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		if (fabs(others[i] - hz) < 100)
			continue;
		double o = goertzel_amp(x, n, others[i]);
		if (o * 20 > a)
			fail_msg("tone %.0f Hz (%.4f) not dominant: %.0f Hz has %.4f", hz, a,
				 others[i], o);
	}
	double r = rms(x, n);
	assert_true(r > 0.6 * TONE_AMP / M_SQRT2 && r < 1.4 * TONE_AMP / M_SQRT2);
}

/* ---- real-time rig: streams sent, receivers polled, in one thread ---- */

struct tone {
	double hz, phase;
};

struct rig {
	struct dm_stream *st[MAX_ST];
	struct tone tone[MAX_ST];
	bool paused[MAX_ST];
	uint64_t sent[MAX_ST];
	int nst;
	struct dm_receiver *rx[MAX_RX];
	int nrx;
	int frame;
	struct timespec next;
	bool started;
};

static void ts_add_ns(struct timespec *t, long ns)
{
	t->tv_nsec += ns;
	while (t->tv_nsec >= 1000000000L) {
		t->tv_nsec -= 1000000000L;
		t->tv_sec++;
	}
}

static long ns_until(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (t->tv_sec - now.tv_sec) * 1000000000L + (t->tv_nsec - now.tv_nsec);
}

static void poll_all(struct rig *g, int timeout_ms)
{
	for (int k = 0; k < g->nrx; k++)
		assert_int_equal(dm_receiver_poll(g->rx[k], k == 0 ? timeout_ms : 0), 0);
}

/* Polls the receivers (or just sleeps) until the deadline. */
static void wait_until(struct rig *g, const struct timespec *deadline)
{
	long ns;
	while ((ns = ns_until(deadline)) > 1000000L) {
		if (g->nrx == 0)
			break;
		poll_all(g, ns > 3000000L ? 2 : 1);
	}
	if (g->nrx)
		poll_all(g, 0);
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline, NULL);
}

static void rig_add_stream(struct rig *g, struct dm_stream *s, double hz)
{
	assert_true(g->nst < MAX_ST);
	g->st[g->nst] = s;
	g->tone[g->nst].hz = hz;
	g->nst++;
	g->frame = dm_stream_frame_samples(s);
	assert_true(g->frame > 0 && g->frame <= MAX_FRAME);
}

static void rig_add_rx(struct rig *g, struct dm_receiver *r)
{
	assert_true(g->nrx < MAX_RX);
	g->rx[g->nrx++] = r;
}

/* Sends `frames` frames on every stream that is not paused, one frame time
 * apart, polling the receivers in between. */
static void rig_run(struct rig *g, int frames)
{
	float pcm[MAX_FRAME];
	if (!g->started) {
		clock_gettime(CLOCK_MONOTONIC, &g->next);
		g->started = true;
	}
	long frame_ns = (long)g->frame * 1000000000L / RATE;
	for (int i = 0; i < frames; i++) {
		for (int k = 0; k < g->nst; k++) {
			if (g->paused[k])
				continue;
			struct tone *t = &g->tone[k];
			for (int j = 0; j < g->frame; j++) {
				pcm[j] = TONE_AMP * (float)sin(t->phase);
				t->phase += 2.0 * M_PI * t->hz / RATE;
			}
			t->phase = fmod(t->phase, 2.0 * M_PI);
			assert_int_equal(dm_stream_send_frame(g->st[k], pcm), 0);
			g->sent[k]++;
		}
		ts_add_ns(&g->next, frame_ns);
		wait_until(g, &g->next);
	}
}

/* Lets time pass (ms) with nothing sent. */
static void rig_idle(struct rig *g, int ms)
{
	if (!g->started) {
		clock_gettime(CLOCK_MONOTONIC, &g->next);
		g->started = true;
	}
	ts_add_ns(&g->next, (long)ms * 1000000L);
	wait_until(g, &g->next);
}

static void rig_free(struct rig *g)
{
	for (int k = 0; k < g->nrx; k++)
		dm_receiver_free(g->rx[k]);
	for (int k = 0; k < g->nst; k++)
		dm_stream_free(g->st[k]);
	memset(g, 0, sizeof *g);
}

static struct dm_receiver *rx_config(struct fx *f, const uint8_t *secret, int ch,
				     struct capture *cap)
{
	struct dm_receiver_params p = {
		.config = f->cfg,
		.secret = secret,
		.channel = ch,
		.interface = "127.0.0.1",
		.on_pcm = on_pcm,
		.user = cap,
	};
	struct dm_receiver *r = NULL;
	assert_int_equal(dm_receiver_new(&p, &r), 0);
	assert_non_null(r);
	return r;
}

static struct dm_receiver *rx_sdp(const struct dm_sdp *sdp, struct capture *cap)
{
	struct dm_receiver_params p = {
		.sdp = sdp, .interface = "127.0.0.1", .on_pcm = on_pcm, .user = cap};
	struct dm_receiver *r = NULL;
	assert_int_equal(dm_receiver_new(&p, &r), 0);
	assert_non_null(r);
	return r;
}

/* ---- plain sockets: a capture joined to a group, and a forger ---- */

static int plain_capture(const char *group, uint16_t port)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	int one = 1, zero = 0;
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	assert_int_equal(inet_pton(AF_INET, group, &sa.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	struct ip_mreq mreq = {.imr_multiaddr = sa.sin_addr};
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &mreq.imr_interface), 1);
	assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq), 0);
	assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero), 0);
	return fd;
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

static void send_to(int fd, const char *group, uint16_t port, const void *buf, size_t len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	assert_int_equal(inet_pton(AF_INET, group, &sa.sin_addr), 1);
	assert_int_equal(sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof sa), (ssize_t)len);
}

struct pkt {
	uint8_t b[DM_MAX_PACKET];
	size_t len;
};

/* Reads every datagram waiting; keeps the first one (if first) and the last. */
static int capture_drain(int fd, struct pkt *first, struct pkt *last)
{
	int n = 0;
	struct pkt p;
	ssize_t len;
	while ((len = recv(fd, p.b, sizeof p.b, 0)) >= 0) {
		p.len = (size_t)len;
		if (n == 0 && first)
			*first = p;
		if (last)
			*last = p;
		n++;
	}
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	return n;
}

static uint16_t pkt_seq(const struct pkt *p)
{
	return (uint16_t)(p->b[2] << 8 | p->b[3]);
}

static void get_stats(struct dm_receiver *r, struct dm_receiver_stats *st)
{
	dm_receiver_get_stats(r, st);
}

/* ---- tests ---- */

static void receiver_decodes_stream(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 1);
	struct capture cap = {0};
	struct rig g = {0};
	rig_add_rx(&g, rx_config(&f, f.secret, 1, &cap));
	rig_add_stream(&g, fx_stream(&f, 1, 0), 1000);
	rig_run(&g, 200); /* 1 s */
	rig_idle(&g, 30);

	struct dm_receiver_stats st;
	get_stats(g.rx[0], &st);
	struct dm_stream_stats ss;
	dm_stream_get_stats(g.st[0], &ss);
	assert_true(ss.packets == 200);
	assert_true(st.received > 0);
	assert_true(st.received >= 198 && st.received <= 200);
	assert_true(st.auth_failed == 0 && st.replayed == 0 && st.malformed == 0);
	assert_true(st.decoded_frames >= 198 && st.decoded_frames <= 200);
	assert_true(st.ssrc_changes == 0);
	assert_int_equal(st.ssrc, ss.ssrc);
	assert_int_equal(st.roc, 0);
	assert_int_equal(st.channel, 1);
	/* Every frame decoded or concealed reached the sink, and nothing else. */
	assert_true(cap.n == (st.decoded_frames + st.concealed_frames) * (size_t)g.frame);
	/* Skip the codec's start-up (20 ms), then 0.5 s of the tone. */
	assert_tone(&cap, 960, RATE / 2, 1000);
	/* The join was measured: first packet to first frame out. */
	assert_true(st.switch_ms >= 0 && st.switch_ms < 50);
	rig_free(&g);
	capture_free(&cap);
	fx_done(&f);
}

static void receiver_sdp_mode(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 2);
	struct capture good = {0}, bad = {0};
	struct rig g = {0};
	rig_add_stream(&g, fx_stream(&f, 2, 0), 1000);
	struct dm_sdp sdp, wrong;
	dm_stream_get_sdp(g.st[0], &sdp);
	assert_int_equal(sdp.key_len, 30);
	wrong = sdp;
	wrong.key[3] ^= 0x10;
	rig_add_rx(&g, rx_sdp(&sdp, &good));
	rig_add_rx(&g, rx_sdp(&wrong, &bad));
	rig_run(&g, 160);
	rig_idle(&g, 30);

	struct dm_receiver_stats st;
	get_stats(g.rx[0], &st);
	assert_true(st.decoded_frames >= 158 && st.decoded_frames <= 160);
	assert_true(st.auth_failed == 0);
	assert_int_equal(st.ssrc, sdp.ssrc);
	assert_int_equal(st.channel, -1);
	assert_tone(&good, 960, RATE / 2, 1000);

	get_stats(g.rx[1], &st);
	assert_true(st.decoded_frames == 0 && st.concealed_frames == 0 && st.received == 0);
	assert_true(st.auth_failed > 0);
	assert_true(bad.calls == 0 && bad.n == 0);
	rig_free(&g);
	capture_free(&good);
	capture_free(&bad);
	fx_done(&f);
}

static void receiver_late_join_after_wraps(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 3);
	const struct dm_channel_conf *ch = dm_config_channel(f.cfg, 1);
	int pc = plain_capture(ch->group, ch->port);
	struct capture cap = {0};
	struct rig g = {0};
	rig_add_stream(&g, fx_stream(&f, 1, 3), 1000);
	/* The stream has been going for a while when the listener joins. */
	rig_run(&g, 20);
	struct pkt first;
	assert_int_equal(capture_drain(pc, &first, NULL), 20);
	uint32_t seq_at_join = pkt_seq(&first) + 20u;
	rig_add_rx(&g, rx_config(&f, f.secret, 1, &cap));
	rig_run(&g, 100);
	rig_idle(&g, 30);

	struct dm_receiver_stats st;
	get_stats(g.rx[0], &st);
	/* At once: from the first packets it saw, with no sender report yet. */
	assert_true(st.decoded_frames >= 98 && st.decoded_frames <= 100);
	assert_true(st.auth_failed == 0);
	assert_int_equal(st.roc, 3 + (seq_at_join >> 16));
	assert_tone(&cap, 960, RATE / 4, 1000);
	close(pc);
	rig_free(&g);
	capture_free(&cap);
	fx_done(&f);
}

static void receiver_late_join_uses_sender_report(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 4);
	const struct dm_channel_conf *ch = dm_config_channel(f.cfg, 1);
	int pc = plain_capture(ch->group, ch->port);
	struct capture cap = {0};
	struct rig g = {0};
	/* 5000 wraps: beyond DM_LISTEN_ROC_SEARCH, so only the sender report's
	 * packet count can tell the listener the ROC. */
	rig_add_stream(&g, fx_stream(&f, 1, 5000), 1000);
	rig_add_rx(&g, rx_config(&f, f.secret, 1, &cap));
	struct dm_receiver_stats st;
	struct dm_stream_stats ss;
	int before_sr = 0;
	uint64_t t0 = mono_us();
	double cpu0 = cpu_s();
	do {
		rig_run(&g, 1);
		before_sr++;
		dm_stream_get_stats(g.st[0], &ss);
		assert_true(before_sr < 240); /* 1.2 s */
	} while (ss.rtcp_sent == 0);
	uint64_t t_sr = mono_us() - t0;
	/* A failed ROC search (1025 candidates, a few ms) is not repeated for
	 * every packet of a stream that has no fitting ROC. */
	double cpu = cpu_s() - cpu0;
	print_message("before the sender report: %d frames, %.3f s of CPU\n", before_sr, cpu);
	if (cpu > 0.25)
		fail_msg("%.3f s of CPU for %d frames before the report", cpu, before_sr);
	get_stats(g.rx[0], &st);
	/* Until the report, every packet failed authentication (no ROC fits). */
	assert_true(st.decoded_frames <= 1);
	assert_true(st.auth_failed >= (uint64_t)before_sr - 3);
	assert_true(t_sr > 900000 && t_sr < 1200000);
	uint64_t fails_at_sr = st.auth_failed;
	size_t pcm_at_sr = cap.n;
	rig_run(&g, 100);
	rig_idle(&g, 30);
	get_stats(g.rx[0], &st);
	struct pkt first;
	assert_true(capture_drain(pc, &first, NULL) > 0);
	uint32_t s0 = pkt_seq(&first);
	/* The ROC of the first packet it authenticated: 5000, or 5001 if the
	 * (random) sequence number wrapped before. */
	if (s0 + (uint32_t)before_sr + 100 < 65536)
		assert_int_equal(st.roc, 5000);
	else
		assert_true(st.roc == 5000 || st.roc == 5001);
	/* Decoding starts right after the report. */
	assert_true(st.decoded_frames >= 97 && st.decoded_frames <= 101);
	assert_true(st.auth_failed <= fails_at_sr + 2);
	assert_true(cap.n - pcm_at_sr >= 97 * (size_t)g.frame);
	assert_tone(&cap, pcm_at_sr + 960, 60 * (size_t)g.frame, 1000);
	close(pc);
	rig_free(&g);
	capture_free(&cap);
	fx_done(&f);
}

static void receiver_rejects_forged(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 5);
	const struct dm_channel_conf *ch = dm_config_channel(f.cfg, 1);
	int pc = plain_capture(ch->group, ch->port);
	int fs = plain_sender();
	struct capture cap = {0};
	struct rig g = {0};
	rig_add_stream(&g, fx_stream(&f, 1, 0), 1000);
	rig_add_rx(&g, rx_config(&f, f.secret, 1, &cap));
	rig_run(&g, 60);
	rig_idle(&g, 20);
	struct pkt last;
	assert_int_equal(capture_drain(pc, NULL, &last), 60);
	struct dm_receiver_stats a, b;
	get_stats(g.rx[0], &a);
	assert_true(a.decoded_frames >= 58);
	assert_true(a.auth_failed == 0 && a.replayed == 0 && a.malformed == 0);
	uint64_t calls = cap.calls;
	uint32_t ssrc = a.ssrc;
	uint16_t seq = pkt_seq(&last);

	/* The stream is paused: whatever is decoded now came from a forgery. */
	static const uint8_t five[5] = {0x80, 111, 0, 1, 2};
	send_to(fs, ch->group, ch->port, five, sizeof five);

	struct pkt garbage = {.len = 12 + 60 + 10};
	garbage.b[0] = 0x80;
	garbage.b[1] = 111;
	garbage.b[2] = (uint8_t)((seq + 1) >> 8);
	garbage.b[3] = (uint8_t)(seq + 1);
	garbage.b[8] = (uint8_t)(ssrc >> 24);
	garbage.b[9] = (uint8_t)(ssrc >> 16);
	garbage.b[10] = (uint8_t)(ssrc >> 8);
	garbage.b[11] = (uint8_t)ssrc;
	assert_int_equal(dm_random_bytes(garbage.b + 12, garbage.len - 12), 0);
	send_to(fs, ch->group, ch->port, garbage.b, garbage.len);

	send_to(fs, ch->group, ch->port, last.b, last.len); /* replay */

	/* One flipped bit in the sequence number, towards an index not seen yet
	 * (an index seen already would be a replay before any authentication). */
	struct pkt flipped = last;
	int bit = 0;
	while (bit < 8 && (flipped.b[3] >> bit & 1))
		bit++;
	if (bit == 8)
		flipped.b[2] ^= 0x01; /* low byte 0xff: +256 is still ahead */
	else
		flipped.b[3] ^= (uint8_t)(1u << bit);
	send_to(fs, ch->group, ch->port, flipped.b, flipped.len);

	static const char text[] = "GET / HTTP/1.1\r\nHost: not-rtp\r\n\r\n";
	send_to(fs, ch->group, ch->port, text, sizeof text - 1);
	/* Truncated on the RTCP port too. */
	send_to(fs, ch->group, (uint16_t)(ch->port + 1), five, sizeof five);
	rig_idle(&g, 30);

	get_stats(g.rx[0], &b);
	assert_true(b.malformed - a.malformed == 3);
	assert_true(b.auth_failed - a.auth_failed == 2);
	assert_true(b.replayed - a.replayed == 1);
	assert_true(b.decoded_frames == a.decoded_frames);
	assert_true(b.concealed_frames == a.concealed_frames);
	assert_true(b.received == a.received);
	assert_true(cap.calls == calls);

	/* The stream goes on unharmed: the forged sequence numbers did not
	 * poison the replay window. */
	rig_run(&g, 40);
	rig_idle(&g, 20);
	get_stats(g.rx[0], &a);
	assert_true(a.decoded_frames - b.decoded_frames >= 39);
	assert_true(a.auth_failed == b.auth_failed && a.replayed == b.replayed);

	/* A flood of invented SSRCs: while the real stream is live nobody else
	 * gets a look in; while it is quiet, only a few SSRCs per second get a
	 * key derivation (and a failed ROC search). */
	uint32_t rnd = 0x9e3779b9u;
	struct pkt fake = {.len = 12 + 60 + 10};
	size_t flooded = 0;
	struct dm_receiver_stats c;
	get_stats(g.rx[0], &c);
	double cpu0 = cpu_s();
	uint64_t wall0 = mono_us();
	for (int i = 0; i < 80; i++) { /* 80 frames, 50 forgeries per frame */
		for (int k = 0; k < 50; k++) {
			rnd ^= rnd << 13;
			rnd ^= rnd >> 17;
			rnd ^= rnd << 5;
			fake.b[0] = 0x80;
			fake.b[1] = 111;
			memcpy(fake.b + 2, &rnd, 2);
			memcpy(fake.b + 4, &rnd, 4);
			memcpy(fake.b + 8, &rnd, 4);
			memset(fake.b + 12, (int)(rnd & 0xff), fake.len - 12);
			send_to(fs, ch->group, ch->port, fake.b, fake.len);
			flooded++;
		}
		rig_run(&g, 1);
	}
	g.paused[0] = true;
	rig_idle(&g, 30); /* the real stream falls quiet */
	for (int i = 0; i < 10; i++) {
		for (int k = 0; k < 100; k++) {
			rnd ^= rnd << 13;
			rnd ^= rnd >> 17;
			rnd ^= rnd << 5;
			memcpy(fake.b + 8, &rnd, 4);
			send_to(fs, ch->group, ch->port, fake.b, fake.len);
			flooded++;
		}
		rig_idle(&g, 2);
	}
	double cpu = cpu_s() - cpu0;
	double wall = (double)(mono_us() - wall0) * 1e-6;
	g.paused[0] = false;
	rig_run(&g, 40);
	rig_idle(&g, 20);
	get_stats(g.rx[0], &b);
	assert_int_equal(flooded, 5000);
	uint64_t derived = b.auth_failed - c.auth_failed;
	/* The bucket: 4 at once, then 4 per second. */
	if (derived > 4 + (uint64_t)(wall * 4) + 1)
		fail_msg("%lu key derivations in %.2f s", (unsigned long)derived, wall);
	assert_true(b.unknown_ssrc - c.unknown_ssrc + derived >= 4990);
	assert_true(b.unknown_ssrc - c.unknown_ssrc >= 4990 - 5);
	assert_true(b.malformed == c.malformed && b.replayed == c.replayed);
	print_message("flood: %zu forgeries in %.2f s, %lu key derivations, %.3f s of CPU\n",
		      flooded, wall, (unsigned long)derived, cpu);
	if (cpu > 0.5)
		fail_msg("the flood cost %.3f s of CPU", cpu);
	/* The real stream kept decoding, during the flood and after it. */
	assert_true(b.decoded_frames - c.decoded_frames >= 118);
	assert_int_equal(b.ssrc, ssrc);
	assert_true(b.ssrc_changes == 0);
	assert_tone(&cap, cap.n - 30 * (size_t)g.frame, 30 * (size_t)g.frame, 1000);
	close(fs);
	close(pc);
	rig_free(&g);
	capture_free(&cap);
	fx_done(&f);
}

static void receiver_ssrc_change_recovers(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 6);
	struct capture cap = {0};
	struct rig g = {0};
	rig_add_rx(&g, rx_config(&f, f.secret, 2, &cap));
	rig_add_stream(&g, fx_stream(&f, 2, 0), 1000);
	rig_run(&g, 200);
	struct dm_stream_stats s1, s2;
	dm_stream_get_stats(g.st[0], &s1);
	struct dm_receiver_stats st;
	get_stats(g.rx[0], &st);
	assert_int_equal(st.ssrc, s1.ssrc);
	uint64_t dec1 = st.decoded_frames;
	assert_true(dec1 >= 198);
	assert_int_equal(dm_stream_rekey(g.st[0]), 0);
	dm_stream_get_stats(g.st[0], &s2);
	assert_true(s2.ssrc != s1.ssrc);
	rig_run(&g, 200);
	rig_idle(&g, 30);
	get_stats(g.rx[0], &st);
	assert_int_equal(st.ssrc, s2.ssrc);
	assert_true(st.ssrc_changes == 1);
	assert_true(st.auth_failed == 0);
	/* Of the 200 frames of the new stream, all but those lost in the gap were
	 * decoded: the gap is under 100 ms (20 frames) of stream time. */
	uint64_t missed = 200 - (st.decoded_frames - dec1);
	print_message("new SSRC: %lu frames not decoded\n", (unsigned long)missed);
	if (missed * 5 >= 100)
		fail_msg("gap of %lu frames (%lu ms)", (unsigned long)missed,
			 (unsigned long)missed * 5);
	assert_tone(&cap, cap.n - 100 * (size_t)g.frame, 100 * (size_t)g.frame, 1000);
	rig_free(&g);
	capture_free(&cap);
	fx_done(&f);
}

static void receiver_wrong_secret(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 7);
	char other_path[160];
	snprintf(other_path, sizeof other_path, "%s/other.secret", f.dir);
	uint8_t other[DM_SECRET_LEN];
	assert_int_equal(dm_secret_generate(other_path), 0);
	assert_int_equal(dm_secret_load(other_path, other), 0);
	assert_memory_not_equal(other, f.secret, DM_SECRET_LEN);
	struct capture cap = {0};
	struct rig g = {0};
	rig_add_rx(&g, rx_config(&f, other, 1, &cap));
	rig_add_stream(&g, fx_stream(&f, 1, 0), 1000);
	rig_run(&g, 100);
	rig_idle(&g, 20);
	struct dm_receiver_stats st;
	get_stats(g.rx[0], &st);
	assert_true(st.decoded_frames == 0 && st.concealed_frames == 0 && st.received == 0);
	assert_true(st.auth_failed > 0);
	assert_true(st.ssrc == 0);
	assert_true(cap.calls == 0);
	rig_free(&g);
	capture_free(&cap);
	fx_done(&f);
}

static void receiver_switch_channel(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 8);
	struct capture cap = {.watch_hz = 3000, .other_hz = 1000};
	struct rig g = {0};
	rig_add_stream(&g, fx_stream(&f, 1, 0), 1000);
	rig_add_stream(&g, fx_stream(&f, 2, 0), 3000);
	/* The receiver runs its own thread; this thread is the engine. */
	struct dm_receiver *r = rx_config(&f, f.secret, 1, &cap);
	assert_int_equal(dm_receiver_start(r), 0);
	assert_int_equal(dm_receiver_start(r), 0); /* twice is fine */
	rig_run(&g, 100);
	struct dm_receiver_stats st;
	dm_receiver_get_stats(r, &st);
	assert_int_equal(st.channel, 1);
	assert_true(st.decoded_frames >= 95);
	uint64_t dec1 = st.decoded_frames;
	uint64_t t_switch = mono_us();
	atomic_store(&cap.watch_from_us, t_switch);
	assert_int_equal(dm_receiver_switch(r, 2), 0);
	rig_run(&g, 100);
	rig_idle(&g, 20);
	dm_receiver_stop(r);
	dm_receiver_stop(r); /* twice is fine */
	dm_receiver_get_stats(r, &st);
	struct dm_stream_stats s2;
	dm_stream_get_stats(g.st[1], &s2);
	assert_int_equal(st.channel, 2);
	assert_int_equal(st.ssrc, s2.ssrc);
	assert_true(st.auth_failed == 0);
	/* The new channel starts clean: its stream is not a restart of the old
	 * one, nor a stranger to keep out while the old one is still fresh. */
	assert_true(st.ssrc_changes == 0 && st.unknown_ssrc == 0);
	assert_true(st.decoded_frames - dec1 >= 90);
	/* The receiver's own measure: first packet of the new channel in, first
	 * frame of it out. */
	print_message("switch: first packet to first frame %.3f ms", st.switch_ms);
	assert_true(st.switch_ms >= 0);
	if (st.switch_ms >= 50)
		fail_msg("channel switch took %.1f ms", st.switch_ms);
	/* And the listener's: from the switch call to the new channel in the
	 * sink (this includes the wait for the receiver's next poll and for the
	 * next frame). */
	uint64_t first = atomic_load(&cap.first_new_us), full = atomic_load(&cap.full_level_us);
	assert_true(first > t_switch && full >= first);
	double first_ms = (double)(first - t_switch) / 1000.0;
	double full_ms = (double)(full - t_switch) / 1000.0;
	print_message(", switch call to new channel %.1f ms, to its full level %.1f ms\n", first_ms,
		      full_ms);
	if (first_ms >= 50)
		fail_msg("new channel after %.1f ms", first_ms);
	/* Opus (CELT) predicts band energies from the previous frame: a decoder
	 * that starts mid-stream fades in over some 10 frames. */
	if (full_ms >= 120)
		fail_msg("new tone at full level after %.1f ms", full_ms);
	assert_tone(&cap, cap.n - 80 * (size_t)g.frame, 80 * (size_t)g.frame, 3000);
	dm_receiver_free(r);
	rig_free(&g);
	capture_free(&cap);
	fx_done(&f);
}

static void receiver_bad_args(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 9);
	struct capture cap = {0};
	struct dm_receiver *r = (struct dm_receiver *)&cap;
	struct dm_receiver_params ok = {
		.config = f.cfg,
		.secret = f.secret,
		.channel = 1,
		.interface = "127.0.0.1",
		.on_pcm = on_pcm,
		.user = &cap,
	};
	struct dm_receiver_params p;
	assert_int_equal(dm_receiver_new(NULL, &r), DM_EINVAL);
	assert_int_equal(dm_receiver_new(&ok, NULL), DM_EINVAL);
	p = ok;
	p.on_pcm = NULL;
	assert_int_equal(dm_receiver_new(&p, &r), DM_EINVAL);
	p = ok;
	p.secret = NULL;
	assert_int_equal(dm_receiver_new(&p, &r), DM_EINVAL);
	p = ok;
	p.config = NULL; /* neither config nor SDP */
	assert_int_equal(dm_receiver_new(&p, &r), DM_EINVAL);
	struct dm_sdp sdp;
	struct dm_stream *s = fx_stream(&f, 1, 0);
	dm_stream_get_sdp(s, &sdp);
	p = ok;
	p.sdp = &sdp; /* both */
	assert_int_equal(dm_receiver_new(&p, &r), DM_EINVAL);
	p = ok;
	p.interface = "not-an-address";
	assert_int_equal(dm_receiver_new(&p, &r), DM_EINVAL);
	p = (struct dm_receiver_params){.sdp = &sdp, .interface = "127.0.0.300", .on_pcm = on_pcm};
	assert_int_equal(dm_receiver_new(&p, &r), DM_EINVAL);
	struct dm_sdp bad_addr = sdp;
	snprintf(bad_addr.addr, sizeof bad_addr.addr, "239.255.91.x");
	p = (struct dm_receiver_params){.sdp = &bad_addr, .on_pcm = on_pcm};
	assert_int_equal(dm_receiver_new(&p, &r), DM_EINVAL);
	/* No such channel. */
	p = ok;
	p.channel = 3;
	assert_int_equal(dm_receiver_new(&p, &r), DM_ENOENT);
	p.channel = -1;
	assert_int_equal(dm_receiver_new(&p, &r), DM_ENOENT);
	/* An interface address this host does not have: the join fails (no
	 * packet leaves the machine). */
	p = ok;
	p.interface = "192.0.2.1";
	assert_int_equal(dm_receiver_new(&p, &r), DM_ENET);

	/* Switch: no receiver, no config (SDP mode), no such channel. */
	assert_int_equal(dm_receiver_switch(NULL, 0), DM_EINVAL);
	p = (struct dm_receiver_params){.sdp = &sdp, .interface = "127.0.0.1", .on_pcm = on_pcm};
	assert_int_equal(dm_receiver_new(&p, &r), 0);
	assert_int_equal(dm_receiver_switch(r, 0), DM_EINVAL);
	dm_receiver_free(r);
	assert_int_equal(dm_receiver_new(&ok, &r), 0);
	assert_int_equal(dm_receiver_switch(r, -1), DM_ENOENT);
	assert_int_equal(dm_receiver_switch(r, 3), DM_ENOENT);
	assert_int_equal(dm_receiver_switch(r, 0), 0);
	assert_int_equal(dm_receiver_poll(r, 0), 0);
	struct dm_receiver_stats st;
	dm_receiver_get_stats(r, &st);
	assert_int_equal(st.channel, 0);
	assert_true(st.switch_ms < 0); /* nothing heard on it yet */
	dm_receiver_free(r);

	assert_int_equal(dm_receiver_start(NULL), DM_EINVAL);
	dm_receiver_stop(NULL);
	dm_receiver_free(NULL);
	dm_stream_free(s);
	fx_done(&f);
}

/* Runs frames until every receiver of rx[0..n) has sent `want` reports or
 * max_frames have gone, polling the engine's listener counts in between.
 * Returns the frames run. */
static int run_until_reported(struct rig *g, struct dm_listeners *l, struct dm_receiver **rx, int n,
			      uint64_t want, int max_frames)
{
	for (int i = 0; i < max_frames; i++) {
		rig_run(g, 1);
		assert_int_equal(dm_listeners_poll(l, 0), 0);
		int done = 0;
		for (int k = 0; k < n; k++) {
			struct dm_receiver_stats st;
			dm_receiver_get_stats(rx[k], &st);
			done += st.reports_sent >= want;
		}
		if (done == n)
			return i + 1;
	}
	return max_frames;
}

struct row_find {
	uint32_t ssrc;
	struct dm_listener_info info;
	int found, rows;
};

static void on_listener(void *user, const struct dm_listener_info *info)
{
	struct row_find *rf = user;
	rf->rows++;
	if (info->ssrc == rf->ssrc) {
		rf->info = *info;
		rf->found++;
	}
}

/* The listener side of the listener counts: config-mode receivers report to
 * the channel's RTCP group about a second after they lock on the stream; an
 * engine-side dm_listeners on the same groups authenticates and counts them.
 * The receivers skip each other's reports (and their own, looped back)
 * without spending a key derivation on them. */
static void receiver_reports_to_listeners(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 10);
	struct dm_listeners *l = NULL;
	assert_int_equal(dm_listeners_new(f.cfg, f.secret, "127.0.0.1", &l), 0);
	struct capture ca = {0}, cb = {0}, cc = {0};
	struct rig g = {0};
	rig_add_stream(&g, fx_stream(&f, 1, 0), 1000);
	rig_add_stream(&g, fx_stream(&f, 2, 0), 3000);
	struct dm_stream_stats s1, s2;
	dm_stream_get_stats(g.st[0], &s1);
	dm_stream_get_stats(g.st[1], &s2);
	assert_int_equal(dm_listeners_set_sender(l, 1, s1.ssrc), 0);
	assert_int_equal(dm_listeners_set_sender(l, 2, s2.ssrc), 0);
	struct dm_sdp sdp;
	dm_stream_get_sdp(g.st[0], &sdp);
	rig_add_rx(&g, rx_config(&f, f.secret, 1, &ca));
	rig_add_rx(&g, rx_config(&f, f.secret, 1, &cb));
	rig_add_rx(&g, rx_sdp(&sdp, &cc)); /* holds no secret: does not report */
	struct dm_receiver_stats a, b, c;
	dm_receiver_get_stats(g.rx[0], &a);
	dm_receiver_get_stats(g.rx[1], &b);
	dm_receiver_get_stats(g.rx[2], &c);
	assert_true(a.reporter_ssrc != 0 && b.reporter_ssrc != 0 &&
		    a.reporter_ssrc != b.reporter_ssrc);
	assert_int_equal(c.reporter_ssrc, 0);
	uint32_t b_on_en = b.reporter_ssrc;

	/* Both have reported within 1.2 s (+-20 % around 1 s after the lock). */
	int frames = run_until_reported(&g, l, g.rx, 2, 1, 300);
	print_message("first reports after %d frames (%.0f ms)\n", frames, frames * 5.0);
	assert_true(frames >= 140 && frames <= 260);
	rig_run(&g, 4);
	assert_int_equal(dm_listeners_poll(l, 0), 0);
	struct dm_listeners_summary sum;
	assert_int_equal(dm_listeners_get(l, 1, 0, &sum), 0);
	assert_int_equal(sum.count, 2);
	assert_true(sum.loss_max == 0);
	print_message("jitter reported: %.3f ms\n", sum.jitter_max_ms);
	assert_true(sum.jitter_max_ms >= 0 && sum.jitter_max_ms < 10.0);
	assert_int_equal(dm_listeners_get(l, 2, 0, &sum), 0);
	assert_int_equal(sum.count, 0);
	dm_receiver_get_stats(g.rx[0], &a);
	struct row_find rf = {.ssrc = a.reporter_ssrc};
	assert_int_equal(dm_listeners_list(l, 1, 0, on_listener, &rf), 2);
	assert_int_equal(rf.found, 1);
	assert_int_equal(rf.info.source_ssrc, s1.ssrc);
	assert_int_equal(rf.info.cumulative_lost, 0);
	assert_true(rf.info.loss == 0);
	/* The extended highest sequence number is the stream's packet index. */
	assert_true((rf.info.highest_seq >> 16) == 0);
	uint32_t a_seq1 = rf.info.highest_seq;
	print_message("round trip: %.3f ms\n", rf.info.rtt_ms);
	if (rf.info.rtt_ms >= 0) /* only once a sender report came first */
		assert_true(rf.info.rtt_ms < 50);
	struct dm_listeners_stats ls;
	dm_listeners_get_stats(l, &ls);
	assert_int_equal(ls.accepted, 2);
	assert_int_equal(ls.derivations, 2);
	assert_true(ls.rejected == 0 && ls.malformed == 0 && ls.replayed == 0);

	/* Each receiver heard both reports on the group and skipped them. */
	for (int k = 0; k < 2; k++) {
		struct dm_receiver_stats st;
		dm_receiver_get_stats(g.rx[k], &st);
		assert_int_equal(st.reports_sent, 1);
		assert_int_equal(st.foreign_rtcp, 2);
		assert_true(st.auth_failed == 0 && st.unknown_ssrc == 0 && st.malformed == 0);
		assert_true(st.decoded_frames >= 150);
	}
	dm_receiver_get_stats(g.rx[2], &c);
	assert_int_equal(c.reports_sent, 0);
	assert_int_equal(c.foreign_rtcp, 2);
	assert_true(c.auth_failed == 0 && c.unknown_ssrc == 0);

	/* A receiver report fed in directly costs no key derivation either. */
	uint8_t rr[64];
	struct dm_rtcp_rr block = {.reporter_ssrc = 0xabcdef01u, .source_ssrc = s1.ssrc};
	int n = dm_rtcp_write_rr(&block, "x", rr, sizeof rr);
	assert_true(n > 0);
	dm_receiver_get_stats(g.rx[0], &a);
	assert_int_equal(dm_receiver_feed(g.rx[0], rr, (size_t)n, 1), 0);
	struct dm_receiver_stats a2;
	dm_receiver_get_stats(g.rx[0], &a2);
	assert_int_equal(a2.foreign_rtcp, a.foreign_rtcp + 1);
	assert_true(a2.unknown_ssrc == a.unknown_ssrc && a2.auth_failed == a.auth_failed);

	/* A channel switch makes a new reporter on the new channel. */
	assert_int_equal(dm_receiver_switch(g.rx[1], 2), 0);
	rig_run(&g, 2);
	dm_receiver_get_stats(g.rx[1], &b);
	assert_int_equal(b.channel, 2);
	assert_true(b.reporter_ssrc != 0 && b.reporter_ssrc != b_on_en);
	struct dm_receiver *moved = g.rx[1];
	frames = run_until_reported(&g, l, &moved, 1, b.reports_sent + 1, 300);
	assert_true(frames <= 260);
	rig_run(&g, 2);
	assert_int_equal(dm_listeners_poll(l, 0), 0);
	rf = (struct row_find){.ssrc = b.reporter_ssrc};
	assert_int_equal(dm_listeners_list(l, 2, 0, on_listener, &rf), 1);
	assert_int_equal(rf.found, 1);
	assert_int_equal(rf.info.source_ssrc, s2.ssrc);
	/* Its old SSRC stays on the old channel until the window is over. */
	rf = (struct row_find){.ssrc = b_on_en};
	assert_int_equal(dm_listeners_list(l, 1, 0, on_listener, &rf), 2);
	assert_int_equal(rf.found, 1);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t later = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u +
			 (DM_LISTENERS_WINDOW_S + 1) * 1000000ull;
	assert_int_equal(dm_listeners_get(l, 1, later, &sum), 0);
	assert_int_equal(sum.count, 0);

	/* The next report, 4-6 s after the first, echoes the stream's latest
	 * sender report (LSR/DLSR): the engine learns the round trip. */
	struct dm_receiver *stays = g.rx[0];
	frames = run_until_reported(&g, l, &stays, 1, 2, 1300);
	print_message("its second report %.0f ms later\n", frames * 5.0);
	assert_true(frames < 1300);
	rig_run(&g, 2);
	assert_int_equal(dm_listeners_poll(l, 0), 0);
	rf = (struct row_find){.ssrc = a.reporter_ssrc};
	assert_int_equal(dm_listeners_list(l, 1, 0, on_listener, &rf), 2);
	assert_int_equal(rf.found, 1);
	assert_int_equal(rf.info.reports, 2);
	assert_int_equal(rf.info.cumulative_lost, 0);
	assert_true(rf.info.loss == 0);
	print_message("round trip: %.3f ms, jitter %.3f ms\n", rf.info.rtt_ms, rf.info.jitter_ms);
	assert_true(rf.info.rtt_ms >= 0 && rf.info.rtt_ms < 50);
	assert_true(rf.info.jitter_ms >= 0 && rf.info.jitter_ms < 10);
	/* 4-6 s of 5 ms packets later. */
	uint32_t seqs = rf.info.highest_seq - a_seq1;
	assert_true(seqs >= 700 && seqs <= 1300);

	dm_listeners_free(l);
	rig_free(&g);
	capture_free(&ca);
	capture_free(&cb);
	capture_free(&cc);
	fx_done(&f);
}

/* Loss as the reports tell it (RFC 3550 A.3): the stream goes to a relay
 * group, and the test forwards all but every tenth packet to the channel. */
static void receiver_reports_loss(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 11);
	const struct dm_conference_conf *conf = dm_config_conference(f.cfg);
	const struct dm_channel_conf *ch = dm_config_channel(f.cfg, 1);
	char relay[32];
	group_of(11, 3, relay, sizeof relay);
	struct dm_stream_params sp = {
		.conference_id = conf->id,
		.channel_id = ch->id,
		.secret = f.secret,
		.suite = conf->suite,
		.profile = conf->profile,
		.interface = "127.0.0.1",
		.group = relay,
		.port = ch->port,
		.ttl = 1,
	};
	struct dm_stream *st = NULL;
	assert_int_equal(dm_stream_new(&sp, &st), 0);
	int in = plain_capture(relay, ch->port), out = plain_sender();
	struct dm_listeners *l = NULL;
	assert_int_equal(dm_listeners_new(f.cfg, f.secret, "127.0.0.1", &l), 0);
	struct capture cap = {0};
	struct rig g = {0};
	rig_add_stream(&g, st, 1000);
	rig_add_rx(&g, rx_config(&f, f.secret, 1, &cap));
	int forwarded = 0, dropped = 0, k = 0;
	struct dm_receiver_stats rs;
	for (int i = 0; i < 300; i++) {
		rig_run(&g, 1);
		struct pkt p;
		ssize_t len;
		while ((len = recv(in, p.b, sizeof p.b, 0)) >= 0) {
			if (++k % 10 == 0) {
				dropped++;
				continue;
			}
			send_to(out, ch->group, ch->port, p.b, (size_t)len);
			forwarded++;
		}
		assert_int_equal(dm_listeners_poll(l, 0), 0);
		dm_receiver_get_stats(g.rx[0], &rs);
		if (rs.reports_sent)
			break;
	}
	assert_int_equal(rs.reports_sent, 1);
	assert_int_equal(dm_listeners_poll(l, 0), 0);
	struct row_find rf = {.ssrc = rs.reporter_ssrc};
	assert_int_equal(dm_listeners_list(l, 1, 0, on_listener, &rf), 1);
	assert_int_equal(rf.found, 1);
	print_message("forwarded %d, dropped %d: reported loss %.3f, %d lost\n", forwarded, dropped,
		      rf.info.loss, rf.info.cumulative_lost);
	assert_true(rf.info.loss > 0.07 && rf.info.loss < 0.13);
	/* Every drop before the report, except perhaps the last one or two
	 * (not yet followed by a packet that shows the gap). */
	assert_true(rf.info.cumulative_lost >= dropped - 2 && rf.info.cumulative_lost <= dropped);
	assert_true(rs.auth_failed == 0 && rs.decoded_frames > 100);
	close(in);
	close(out);
	dm_listeners_free(l);
	rig_free(&g);
	capture_free(&cap);
	fx_done(&f);
}

/* ---- remote mode: the test is the engine's fan-out ---- */

#define R_FRAME 960 /* the internet profile: 20 ms */

struct rsend {
	OpusEncoder *enc;
	struct dm_srtp *srtp;
	uint32_t ssrc;
	uint16_t seq;
	uint32_t ts;
	uint32_t packets; /* under the current SSRC, for sender reports */
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	double hz, phase;
	int fd;
	struct sockaddr_in to;
};

/* What the receiver handed its remote-mode callbacks. on_pcm gets the
 * capture (first member), on_datagram the rest. */
struct rcap {
	struct capture cap;
	int datagrams;
	uint8_t last[64];
	size_t last_len;
};

static void on_datagram(void *user, const uint8_t *buf, size_t len)
{
	struct rcap *c = user;
	c->datagrams++;
	c->last_len = len;
	memcpy(c->last, buf, len < sizeof c->last ? len : sizeof c->last);
}

/* The receiver's socket: unicast on loopback, an ephemeral port. */
static int remote_socket(struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t sl = sizeof *addr;
	assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &sl), 0);
	return fd;
}

static void rsend_key(struct rsend *s, uint32_t ssrc)
{
	dm_srtp_free(s->srtp);
	s->srtp = NULL;
	s->ssrc = ssrc;
	s->packets = 0;
	assert_int_equal(dm_random_bytes(s->key, sizeof s->key), 0);
	assert_int_equal(
		dm_srtp_new(DM_SRTP_AES_CM_128_HMAC_SHA1_80, DM_SRTP_SEND, ssrc, s->key, &s->srtp),
		0);
}

static void rsend_init(struct rsend *s, uint32_t ssrc, uint16_t seq, double hz,
		       const struct sockaddr_in *to)
{
	memset(s, 0, sizeof *s);
	const struct dm_profile *pr = dm_profile_find("internet");
	assert_non_null(pr);
	assert_int_equal(pr->frame_samples, R_FRAME);
	int err;
	s->enc = opus_encoder_create(RATE, 1, pr->application, &err);
	assert_non_null(s->enc);
	opus_encoder_ctl(s->enc, OPUS_SET_BITRATE(pr->bitrate));
	opus_encoder_ctl(s->enc, OPUS_SET_INBAND_FEC(1));
	opus_encoder_ctl(s->enc, OPUS_SET_PACKET_LOSS_PERC(pr->expected_loss_pct));
	s->seq = seq;
	s->ts = 0x12345678u;
	s->hz = hz;
	s->to = *to;
	s->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(s->fd >= 0);
	rsend_key(s, ssrc);
}

static void rsend_free(struct rsend *s)
{
	opus_encoder_destroy(s->enc);
	dm_srtp_free(s->srtp);
	close(s->fd);
	memset(s, 0, sizeof *s);
}

/* Encodes and protects the next frame into p (without sending it). */
static void rsend_make(struct rsend *s, struct pkt *p)
{
	float pcm[R_FRAME];
	for (int j = 0; j < R_FRAME; j++) {
		pcm[j] = TONE_AMP * (float)sin(s->phase);
		s->phase += 2.0 * M_PI * s->hz / RATE;
	}
	s->phase = fmod(s->phase, 2.0 * M_PI);
	struct dm_rtp_header h = {
		.pt = DM_RTP_PT_OPUS, .seq = s->seq, .ts = s->ts, .ssrc = s->ssrc};
	assert_int_equal(dm_rtp_write(&h, p->b, sizeof p->b), DM_RTP_HEADER_LEN);
	int n = opus_encode_float(s->enc, pcm, R_FRAME, p->b + DM_RTP_HEADER_LEN, 400);
	assert_true(n > 0);
	p->len = DM_RTP_HEADER_LEN + (size_t)n;
	assert_int_equal(dm_srtp_protect(s->srtp, p->b, &p->len, sizeof p->b), 0);
	s->seq++;
	s->ts += R_FRAME;
	s->packets++;
}

static void rsend_raw(struct rsend *s, const void *buf, size_t len)
{
	assert_int_equal(sendto(s->fd, buf, len, 0, (const struct sockaddr *)&s->to, sizeof s->to),
			 (ssize_t)len);
}

static void rsend_frame(struct rsend *s)
{
	struct pkt p;
	rsend_make(s, &p);
	rsend_raw(s, p.b, p.len);
}

/* A sender report under the current SSRC; returns its NTP time. */
static uint64_t rsend_sr(struct rsend *s)
{
	struct dm_rtcp_sr sr = {
		.ssrc = s->ssrc, .ntp = dm_ntp_now(), .rtp_ts = s->ts, .packet_count = s->packets};
	uint8_t buf[256];
	int n = dm_rtcp_write_sr(&sr, "engine", buf, sizeof buf - DM_SRTCP_MAX_TRAILER);
	assert_true(n > 0);
	size_t len = (size_t)n;
	assert_int_equal(dm_srtp_protect_rtcp(s->srtp, buf, &len, sizeof buf), 0);
	rsend_raw(s, buf, len);
	return sr.ntp;
}

static struct dm_receiver *rx_remote(int fd, int n_channels, int ch, struct rcap *c)
{
	struct dm_receiver_params p = {
		.remote = true,
		.remote_fd = fd,
		.n_channels = n_channels,
		.channel = ch,
		.on_datagram = on_datagram,
		.on_pcm = on_pcm,
		.user = c,
	};
	struct dm_receiver *r = NULL;
	assert_int_equal(dm_receiver_new(&p, &r), 0);
	assert_non_null(r);
	return r;
}

/* Sends n frames of s, the receiver polled after each (same thread). */
static void rsend_frames(struct rsend *s, struct dm_receiver *r, int n)
{
	for (int i = 0; i < n; i++) {
		rsend_frame(s);
		assert_int_equal(dm_receiver_poll(r, 5), 0);
	}
	assert_int_equal(dm_receiver_poll(r, 5), 0);
}

static void receiver_remote_decodes(void **state)
{
	(void)state;
	struct sockaddr_in addr;
	int fd = remote_socket(&addr);
	struct rcap c = {0};
	struct dm_receiver *r = rx_remote(fd, 3, 1, &c);
	struct rsend en, floor_, stranger;
	rsend_init(&en, 0x11110001u, 1000, 1000, &addr);
	rsend_init(&floor_, 0x22220002u, 5000, 500, &addr);
	rsend_init(&stranger, 0x33330003u, 9000, 700, &addr);
	assert_int_equal(
		dm_receiver_set_key(r, 1, en.ssrc, DM_SRTP_AES_CM_128_HMAC_SHA1_80, en.key), 0);
	assert_int_equal(
		dm_receiver_set_key(r, 0, floor_.ssrc, DM_SRTP_AES_CM_128_HMAC_SHA1_80, floor_.key),
		0);
	struct dm_rproto_report rb;
	memset(&rb, 0xee, sizeof rb);
	dm_receiver_report_block(r, &rb);
	assert_true(rb.ssrc == 0 && rb.highest_seq == 0 && rb.jitter == 0 && rb.lsr == 0);

	rsend_frames(&en, r, 50); /* 1 s */
	struct dm_receiver_stats st;
	dm_receiver_get_stats(r, &st);
	assert_int_equal(st.received, 50);
	assert_int_equal(st.decoded_frames, 50);
	assert_true(st.concealed_frames == 0 && st.lost == 0);
	assert_true(st.auth_failed == 0 && st.unknown_ssrc == 0 && st.malformed == 0);
	assert_int_equal(st.ssrc, en.ssrc);
	assert_int_equal(st.channel, 1);
	assert_int_equal(st.reports_sent, 0); /* the hello carries them */
	assert_true(st.switch_ms >= 0 && st.switch_ms < 50);
	assert_true(c.cap.n == 50 * (size_t)R_FRAME);
	assert_tone(&c.cap, 10 * R_FRAME, 30 * R_FRAME, 1000);
	dm_receiver_report_block(r, &rb);
	assert_int_equal(rb.ssrc, en.ssrc);
	assert_int_equal(rb.highest_seq, 1049);
	assert_true(rb.fraction_lost == 0 && rb.cumulative_lost == 0);
	assert_true(rb.lsr == 0 && rb.dlsr == 0); /* no sender report yet */

	/* The engine's sender report on the same socket: echoed in the next
	 * block (LSR), with the time since (DLSR). */
	uint64_t ntp = rsend_sr(&en);
	assert_int_equal(dm_receiver_poll(r, 5), 0);
	struct timespec ms20 = {0, 20 * 1000 * 1000};
	nanosleep(&ms20, NULL);
	dm_receiver_report_block(r, &rb);
	assert_int_equal(rb.lsr, (uint32_t)(ntp >> 16));
	print_message("dlsr %u (1/65536 s)\n", rb.dlsr);
	assert_true(rb.dlsr >= 65536u * 15 / 1000 && rb.dlsr < 65536u / 2);

	/* Five frames lost: the next block says so, the one after no longer
	 * counts them in its fraction. */
	for (int i = 0; i < 5; i++) {
		struct pkt gone;
		rsend_make(&en, &gone);
	}
	rsend_frames(&en, r, 10);
	dm_receiver_report_block(r, &rb);
	assert_int_equal(rb.highest_seq, 1064);
	assert_int_equal(rb.cumulative_lost, 5);
	assert_int_equal(rb.fraction_lost, 5 * 256 / 15);
	dm_receiver_report_block(r, &rb);
	assert_int_equal(rb.fraction_lost, 0);
	assert_int_equal(rb.cumulative_lost, 5);

	/* An SSRC nobody gave a key for cannot be authenticated; a keyed one
	 * of another channel is not played. */
	struct dm_receiver_stats a, b;
	dm_receiver_get_stats(r, &a);
	uint64_t calls = c.cap.calls;
	for (int i = 0; i < 5; i++) {
		rsend_frame(&stranger);
		rsend_frame(&floor_);
		assert_int_equal(dm_receiver_poll(r, 5), 0);
	}
	rsend_sr(&stranger);
	assert_int_equal(dm_receiver_poll(r, 5), 0);
	dm_receiver_get_stats(r, &b);
	assert_int_equal(b.auth_failed - a.auth_failed, 6);
	assert_int_equal(b.unknown_ssrc - a.unknown_ssrc, 5);
	assert_true(b.decoded_frames == a.decoded_frames && b.received == a.received);
	assert_true(c.cap.calls == calls);
	assert_int_equal(b.ssrc, en.ssrc);

	/* Whatever is neither RTP nor RTCP goes to on_datagram: a key update
	 * (counted nowhere here) and junk (malformed too). */
	static const uint8_t keys[40] = {'D', 'M', 'K', '1', 7};
	static const uint8_t junk[] = "GET / HTTP/1.1\r\n\r\n";
	rsend_raw(&en, keys, sizeof keys);
	assert_int_equal(dm_receiver_poll(r, 5), 0);
	assert_int_equal(c.datagrams, 1);
	assert_int_equal(c.last_len, sizeof keys);
	assert_memory_equal(c.last, keys, sizeof keys);
	rsend_raw(&en, junk, sizeof junk - 1);
	assert_int_equal(dm_receiver_poll(r, 5), 0);
	assert_int_equal(c.datagrams, 2);
	assert_memory_equal(c.last, junk, sizeof junk - 1);
	dm_receiver_get_stats(r, &a);
	assert_int_equal(a.malformed - b.malformed, 1);
	/* The same through dm_receiver_feed. */
	uint8_t copy[sizeof keys];
	memcpy(copy, keys, sizeof keys);
	assert_int_equal(dm_receiver_feed(r, copy, sizeof copy, 0), 0);
	assert_int_equal(c.datagrams, 3);
	/* The engine's challenge is the caller's too, not malformed. */
	uint8_t chal[DM_RPROTO_CHALLENGE_LEN] = {'D', 'M', 'C', '1'};
	assert_int_equal(dm_rproto_kind(chal, sizeof chal), DM_RPROTO_CHALLENGE);
	dm_receiver_get_stats(r, &b);
	rsend_raw(&en, chal, sizeof chal);
	assert_int_equal(dm_receiver_poll(r, 5), 0);
	assert_int_equal(c.datagrams, 4);
	dm_receiver_get_stats(r, &a);
	assert_int_equal(a.malformed, b.malformed);

	/* Keys cleared (a new session): nothing authenticates until the new
	 * keys are there; then the stream plays again. */
	dm_receiver_clear_keys(r);
	rsend_frames(&en, r, 5);
	dm_receiver_get_stats(r, &b);
	assert_int_equal(b.auth_failed - a.auth_failed, 5);
	assert_int_equal(b.decoded_frames, a.decoded_frames);
	assert_int_equal(b.ssrc, 0);
	assert_int_equal(
		dm_receiver_set_key(r, 1, en.ssrc, DM_SRTP_AES_CM_128_HMAC_SHA1_80, en.key), 0);
	rsend_frames(&en, r, 20);
	dm_receiver_get_stats(r, &a);
	assert_int_equal(a.auth_failed, b.auth_failed);
	assert_int_equal(a.decoded_frames - b.decoded_frames, 20);
	assert_int_equal(a.ssrc, en.ssrc);
	assert_tone(&c.cap, c.cap.n - 10 * R_FRAME, 10 * R_FRAME, 1000);

	dm_receiver_free(r);
	rsend_free(&en);
	rsend_free(&floor_);
	rsend_free(&stranger);
	close(fd);
	capture_free(&c.cap);
}

/* A rotation as the engine makes it: the next SSRC's key first, then the
 * switch at a frame with sequence number, timestamp and encoder continued
 * (and its SRTP context counting from ROC 0 again, after a wrap of the first
 * one). The listener plays on: no frame concealed, nothing lost. */
/* One lost packet of an internet-profile stream (SILK/hybrid with in-band
 * FEC) is rebuilt from the next packet's FEC data, not concealed; the same
 * loss in a CELT-only stream (the lan profile's mode) is concealed. */
static void receiver_remote_fec(void **state)
{
	(void)state;
	struct sockaddr_in addr;
	int fd = remote_socket(&addr);
	struct rcap c = {0};
	struct dm_receiver *r = rx_remote(fd, 2, 1, &c);
	struct rsend s;
	rsend_init(&s, 0x44440004u, 100, 440, &addr);
	opus_encoder_ctl(s.enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
	assert_int_equal(dm_receiver_set_key(r, 1, s.ssrc, DM_SRTP_AES_CM_128_HMAC_SHA1_80, s.key),
			 0);
	rsend_frames(&s, r, 30);
	struct pkt gone;
	rsend_make(&s, &gone); /* lost on the way */
	rsend_frames(&s, r, 10);
	/* the gap is given up after the reorder wait (two frames) */
	struct timespec wait = {0, 60 * 1000 * 1000};
	nanosleep(&wait, NULL);
	assert_int_equal(dm_receiver_poll(r, 5), 0);
	struct dm_receiver_stats st;
	dm_receiver_get_stats(r, &st);
	assert_int_equal(st.lost, 1);
	assert_int_equal(st.fec_frames, 1);
	assert_int_equal(st.concealed_frames, 0);
	assert_int_equal(c.cap.n, 41 * (size_t)R_FRAME);
	/* the rebuilt frame carries the tone */
	assert_true(goertzel_amp(c.cap.pcm + 30 * R_FRAME, R_FRAME, 440) > 0.5 * TONE_AMP);

	/* CELT only (RESTRICTED_LOWDELAY never leaves it): nothing to rebuild from */
	int err;
	opus_encoder_destroy(s.enc);
	s.enc = opus_encoder_create(RATE, 1, OPUS_APPLICATION_RESTRICTED_LOWDELAY, &err);
	assert_non_null(s.enc);
	rsend_frames(&s, r, 10);
	rsend_make(&s, &gone);
	rsend_frames(&s, r, 10);
	nanosleep(&wait, NULL);
	assert_int_equal(dm_receiver_poll(r, 5), 0);
	dm_receiver_get_stats(r, &st);
	assert_int_equal(st.lost, 2);
	assert_int_equal(st.fec_frames, 1);
	assert_int_equal(st.concealed_frames, 1);
	dm_receiver_free(r);
	rsend_free(&s);
	capture_free(&c.cap);
	close(fd);
}

static void receiver_remote_rotation(void **state)
{
	(void)state;
	struct sockaddr_in addr;
	int fd = remote_socket(&addr);
	struct rcap c = {0};
	struct dm_receiver *r = rx_remote(fd, 2, 0, &c);
	struct rsend s;
	rsend_init(&s, 0x44440004u, 65536 - 30, 1000, &addr);
	uint32_t ssrc1 = s.ssrc, ssrc2 = 0x55550005u;
	uint8_t key1[DM_SRTP_MAX_KEY_LEN];
	memcpy(key1, s.key, sizeof key1);
	assert_int_equal(dm_receiver_set_key(r, 0, ssrc1, DM_SRTP_AES_CM_128_HMAC_SHA1_80, key1),
			 0);
	rsend_frames(&s, r, 50);
	struct dm_receiver_stats st;
	dm_receiver_get_stats(r, &st);
	assert_int_equal(st.decoded_frames, 50);
	assert_int_equal(st.roc, 0);
	uint64_t pcm_at_rotation = c.cap.n;

	/* The engine: next key sent (the listener holds both), then used. The
	 * last packet of the old SSRC arrives after the first of the new. */
	struct pkt held;
	rsend_make(&s, &held);
	rsend_key(&s, ssrc2);
	assert_int_equal(dm_receiver_set_key(r, 0, ssrc2, DM_SRTP_AES_CM_128_HMAC_SHA1_80, s.key),
			 0);
	rsend_frame(&s);
	assert_int_equal(dm_receiver_poll(r, 5), 0);
	rsend_raw(&s, held.b, held.len);
	rsend_frames(&s, r, 49);
	dm_receiver_get_stats(r, &st);
	print_message("rotation: decoded %lu, concealed %lu, lost %lu, late %lu, reordered %lu\n",
		      (unsigned long)st.decoded_frames, (unsigned long)st.concealed_frames,
		      (unsigned long)st.lost, (unsigned long)st.late, (unsigned long)st.reordered);
	assert_int_equal(st.decoded_frames, 101);
	assert_int_equal(st.concealed_frames, 0);
	assert_true(st.lost == 0 && st.late == 0);
	assert_int_equal(st.reordered, 1);
	assert_int_equal(st.ssrc_changes, 1);
	assert_int_equal(st.ssrc, ssrc2);
	assert_int_equal(st.roc, 0);
	assert_true(st.auth_failed == 0 && st.unknown_ssrc == 0 && st.replayed == 0);
	assert_true(c.cap.n == 101 * (size_t)R_FRAME);
	/* The tone goes on across the rotation: the jitter buffer and the
	 * decoder were kept (a reset decoder fades in over some frames). */
	assert_tone(&c.cap, pcm_at_rotation - 5 * R_FRAME, 10 * R_FRAME, 1000);
	/* Reports continue too: the block names the new SSRC, with the
	 * sequence numbers extended across the rotation. */
	struct dm_rproto_report rb;
	dm_receiver_report_block(r, &rb);
	assert_int_equal(rb.ssrc, ssrc2);
	assert_int_equal(rb.highest_seq, 65536u + 70);
	assert_int_equal(rb.cumulative_lost, 0);

	/* The same key again (the engine repeats an update until it is
	 * acknowledged) changes nothing. */
	assert_int_equal(dm_receiver_set_key(r, 0, ssrc2, DM_SRTP_AES_CM_128_HMAC_SHA1_80, s.key),
			 0);
	rsend_frames(&s, r, 5);
	dm_receiver_get_stats(r, &st);
	assert_int_equal(st.decoded_frames, 106);
	assert_int_equal(st.ssrc_changes, 1);

	/* Four keys a channel, the newest: four more evict ssrc1 and ssrc2
	 * (the one playing), whose packets then fail authentication; another
	 * channel's keys evict nothing here. */
	uint8_t other[DM_SRTP_MAX_KEY_LEN] = {0};
	assert_int_equal(
		dm_receiver_set_key(r, 1, 0x66660001u, DM_SRTP_AES_CM_128_HMAC_SHA1_80, other), 0);
	for (uint32_t k = 1; k <= 3; k++)
		assert_int_equal(dm_receiver_set_key(r, 0, 0x77770000u + k,
						     DM_SRTP_AES_CM_128_HMAC_SHA1_80, other),
				 0);
	rsend_frames(&s, r, 3); /* ssrc1 evicted: ssrc2 still plays */
	dm_receiver_get_stats(r, &st);
	assert_int_equal(st.decoded_frames, 109);
	assert_int_equal(
		dm_receiver_set_key(r, 0, 0x77770004u, DM_SRTP_AES_CM_128_HMAC_SHA1_80, other), 0);
	rsend_frames(&s, r, 3);
	dm_receiver_get_stats(r, &st);
	assert_int_equal(st.decoded_frames, 109);
	assert_int_equal(st.auth_failed, 3);
	assert_int_equal(st.ssrc, 0);
	dm_receiver_free(r);
	rsend_free(&s);
	close(fd);
	capture_free(&c.cap);
}

/* Channel switch in remote mode: both channels' streams arrive on the one
 * socket (the engine would move the subscription); the switch changes which
 * SSRCs are played, at once. Receiver thread running, frames paced. */
static void receiver_remote_switch(void **state)
{
	(void)state;
	struct sockaddr_in addr;
	int fd = remote_socket(&addr);
	struct rcap c = {.cap = {.watch_hz = 3000, .other_hz = 1000}};
	struct dm_receiver *r = rx_remote(fd, 3, 1, &c);
	struct rsend en, fr;
	rsend_init(&en, 0x88880001u, 100, 1000, &addr);
	rsend_init(&fr, 0x99990002u, 40000, 3000, &addr);
	assert_int_equal(
		dm_receiver_set_key(r, 1, en.ssrc, DM_SRTP_AES_CM_128_HMAC_SHA1_80, en.key), 0);
	assert_int_equal(
		dm_receiver_set_key(r, 2, fr.ssrc, DM_SRTP_AES_CM_128_HMAC_SHA1_80, fr.key), 0);
	assert_int_equal(dm_receiver_start(r), 0);
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	uint64_t t_switch = 0;
	struct dm_receiver_stats st;
	uint64_t dec1 = 0;
	for (int i = 0; i < 100; i++) {
		if (i == 50) {
			dm_receiver_get_stats(r, &st);
			assert_int_equal(st.channel, 1);
			assert_int_equal(st.ssrc, en.ssrc);
			dec1 = st.decoded_frames;
			assert_true(dec1 >= 48);
			t_switch = mono_us();
			atomic_store(&c.cap.watch_from_us, t_switch);
			assert_int_equal(dm_receiver_switch(r, 2), 0);
		}
		rsend_frame(&en);
		rsend_frame(&fr);
		ts_add_ns(&next, 20 * 1000 * 1000);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	struct timespec ms50 = {0, 50 * 1000 * 1000};
	nanosleep(&ms50, NULL);
	dm_receiver_stop(r);
	dm_receiver_get_stats(r, &st);
	assert_int_equal(st.channel, 2);
	assert_int_equal(st.ssrc, fr.ssrc);
	assert_true(st.auth_failed == 0);
	assert_int_equal(st.ssrc_changes, 0); /* a new channel, not a new stream */
	assert_true(st.unknown_ssrc >= 98);   /* the other channel's, dropped */
	assert_true(st.decoded_frames - dec1 >= 48);
	print_message("remote switch: first packet to first frame %.3f ms", st.switch_ms);
	assert_true(st.switch_ms >= 0 && st.switch_ms < 50);
	uint64_t first = atomic_load(&c.cap.first_new_us), full = atomic_load(&c.cap.full_level_us);
	assert_true(first > t_switch && full >= first);
	double first_ms = (double)(first - t_switch) / 1000.0;
	double full_ms = (double)(full - t_switch) / 1000.0;
	print_message(", switch call to new channel %.1f ms, full level %.1f ms\n", first_ms,
		      full_ms);
	if (first_ms >= 100)
		fail_msg("new channel after %.1f ms", first_ms);
	if (full_ms >= 200)
		fail_msg("new tone at full level after %.1f ms", full_ms);
	assert_tone(&c.cap, c.cap.n - 30 * R_FRAME, 30 * R_FRAME, 3000);
	dm_receiver_free(r);
	rsend_free(&en);
	rsend_free(&fr);
	close(fd);
	capture_free(&c.cap);
}

static void receiver_remote_bad_args(void **state)
{
	(void)state;
	struct sockaddr_in addr;
	int fd = remote_socket(&addr);
	struct rcap c = {0};
	struct dm_receiver *r = NULL;
	struct dm_receiver_params ok = {
		.remote = true,
		.remote_fd = fd,
		.n_channels = 3,
		.channel = 0,
		.on_pcm = on_pcm,
		.user = &c,
	};
	struct dm_receiver_params p = ok;
	p.remote_fd = -1;
	assert_int_equal(dm_receiver_new(&p, &r), DM_EINVAL);
	p = ok;
	p.n_channels = 0;
	assert_int_equal(dm_receiver_new(&p, &r), DM_EINVAL);
	p = ok;
	p.channel = 3;
	assert_int_equal(dm_receiver_new(&p, &r), DM_ENOENT);
	p.channel = -1;
	assert_int_equal(dm_receiver_new(&p, &r), DM_ENOENT);
	struct fx f;
	fx_init(&f, 12);
	p = ok;
	p.config = f.cfg; /* two modes at once */
	p.secret = f.secret;
	assert_int_equal(dm_receiver_new(&p, &r), DM_EINVAL);

	/* Keys: only in remote mode, for a channel it has, of a known suite. */
	uint8_t key[DM_SRTP_MAX_KEY_LEN] = {1};
	assert_int_equal(dm_receiver_set_key(NULL, 0, 1, DM_SRTP_AES_CM_128_HMAC_SHA1_80, key),
			 DM_EINVAL);
	struct capture cc = {0};
	struct dm_receiver *cr = rx_config(&f, f.secret, 1, &cc);
	assert_int_equal(dm_receiver_set_key(cr, 0, 1, DM_SRTP_AES_CM_128_HMAC_SHA1_80, key),
			 DM_EINVAL);
	dm_receiver_clear_keys(cr); /* nothing to clear */
	struct dm_rproto_report rb;
	dm_receiver_report_block(cr, &rb);
	assert_int_equal(rb.ssrc, 0);
	dm_receiver_free(cr);

	assert_int_equal(dm_receiver_new(&ok, &r), 0);
	assert_int_equal(dm_receiver_set_key(r, -1, 1, DM_SRTP_AES_CM_128_HMAC_SHA1_80, key),
			 DM_EINVAL);
	assert_int_equal(dm_receiver_set_key(r, 3, 1, DM_SRTP_AES_CM_128_HMAC_SHA1_80, key),
			 DM_EINVAL);
	assert_int_equal(dm_receiver_set_key(r, 0, 1, DM_SRTP_AES_CM_128_HMAC_SHA1_80, NULL),
			 DM_EINVAL);
	assert_int_equal(dm_receiver_set_key(r, 0, 1, (enum dm_srtp_suite)7, key), DM_EINVAL);
	assert_int_equal(dm_receiver_set_key(r, 2, 1, DM_SRTP_AEAD_AES_256_GCM, key), 0);
	/* Switch: channels it has, no socket change. */
	assert_int_equal(dm_receiver_switch(r, -1), DM_ENOENT);
	assert_int_equal(dm_receiver_switch(r, 3), DM_ENOENT);
	assert_int_equal(dm_receiver_switch(r, 2), 0);
	assert_int_equal(dm_receiver_poll(r, 0), 0);
	struct dm_receiver_stats st;
	dm_receiver_get_stats(r, &st);
	assert_int_equal(st.channel, 2);
	assert_true(st.switch_ms < 0);
	dm_receiver_clear_keys(NULL);
	dm_receiver_report_block(NULL, &rb);
	assert_int_equal(rb.ssrc, 0);
	dm_receiver_report_block(r, NULL);
	assert_int_equal(dm_receiver_feed(r, NULL, 1, 0), DM_EINVAL);
	assert_int_equal(dm_receiver_feed(r, NULL, 0, 0), 0);
	dm_receiver_free(r);
	close(fd);
	fx_done(&f);
}

static int setup(void **state)
{
	(void)state;
	static const char prefix[] = "test_receiver";
	if (getenv("DM_TEST_DEBUG"))
		dm_log_set(dm_log_stderr, (void *)prefix, DM_LOG_DEBUG);
	else
		dm_log_set(NULL, NULL, DM_LOG_ERROR);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(receiver_decodes_stream),
		cmocka_unit_test(receiver_sdp_mode),
		cmocka_unit_test(receiver_late_join_after_wraps),
		cmocka_unit_test(receiver_late_join_uses_sender_report),
		cmocka_unit_test(receiver_rejects_forged),
		cmocka_unit_test(receiver_ssrc_change_recovers),
		cmocka_unit_test(receiver_wrong_secret),
		cmocka_unit_test(receiver_switch_channel),
		cmocka_unit_test(receiver_bad_args),
		cmocka_unit_test(receiver_reports_to_listeners),
		cmocka_unit_test(receiver_reports_loss),
		cmocka_unit_test(receiver_remote_decodes),
		cmocka_unit_test(receiver_remote_fec),
		cmocka_unit_test(receiver_remote_rotation),
		cmocka_unit_test(receiver_remote_switch),
		cmocka_unit_test(receiver_remote_bad_args),
	};
	return cmocka_run_group_tests_name("receiver", tests, setup, NULL);
}
