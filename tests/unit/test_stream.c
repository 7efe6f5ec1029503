/* Module tests of the sending stream (src/net/stream.c) with real components:
 * real Opus, real libsrtp, real UDP sockets on loopback multicast. What goes
 * on the wire is read back with a plain socket joined to the group on
 * 127.0.0.1 and checked field by field; the SDP's key must decrypt it.
 * Groups 239.255.92.<x>, ports 6200 + 2x: nothing else listens there. */
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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dragoman/error.h"
#include "dragoman/log.h"
#include "dragoman/profile.h"
#include "dragoman/rtp.h"
#include "dragoman/sdp.h"
#include "dragoman/sendq.h"
#include "dragoman/srtp.h"
#include "dragoman/stream.h"

#define RATE 48000
#define TONE_AMP 0.2511886f /* -12 dBFS */
#define TAG_LEN 10	    /* AES_CM_128_HMAC_SHA1_80 */

static const uint8_t secret[DM_SECRET_LEN] = {
	1,  2,	3,  4,	5,  6,	7,  8,	9,  10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
};

struct fx {
	char group[32];
	uint16_t port;
	struct dm_stream_params p;
};

static void fx_init(struct fx *f, int x)
{
	memset(f, 0, sizeof *f);
	snprintf(f->group, sizeof f->group, "239.255.92.%d", x);
	f->port = (uint16_t)(6200 + 2 * x);
	f->p = (struct dm_stream_params){
		.conference_id = "st",
		.conference_name = "Stream test",
		.channel_id = "en",
		.channel_name = "English",
		.language = "en",
		.secret = secret,
		.suite = DM_SRTP_AES_CM_128_HMAC_SHA1_80,
		.profile = dm_profile_find("lan"),
		.interface = "127.0.0.1",
		.group = f->group,
		.port = f->port,
		.ttl = 1,
	};
	assert_non_null(f->p.profile);
}

static struct dm_stream *fx_stream(struct fx *f)
{
	struct dm_stream *s = NULL;
	assert_int_equal(dm_stream_new(&f->p, &s), 0);
	assert_non_null(s);
	return s;
}

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

struct pkt {
	uint8_t b[DM_MAX_PACKET];
	size_t len;
};

/* Reads the datagrams waiting, up to max. */
static int drain(int fd, struct pkt *out, int max)
{
	int n = 0;
	ssize_t len;
	struct pkt scratch;
	while ((len = recv(fd, n < max ? out[n].b : scratch.b, DM_MAX_PACKET, 0)) >= 0) {
		if (n < max)
			out[n].len = (size_t)len;
		n++;
	}
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	return n;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static double phase;

static void tone_frame(float *pcm, int n, double hz)
{
	for (int i = 0; i < n; i++) {
		pcm[i] = TONE_AMP * (float)sin(phase);
		phase += 2.0 * M_PI * hz / RATE;
	}
	phase = fmod(phase, 2.0 * M_PI);
}

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

static void stream_bad_params(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 1);
	struct dm_stream *s = NULL;
	struct dm_stream_params p;
	assert_int_equal(dm_stream_new(NULL, &s), DM_EINVAL);
	assert_int_equal(dm_stream_new(&f.p, NULL), DM_EINVAL);
#define BAD(field, value)                                                                          \
	do {                                                                                       \
		p = f.p;                                                                           \
		p.field = value;                                                                   \
		assert_int_equal(dm_stream_new(&p, &s), DM_EINVAL);                                \
		assert_null(s);                                                                    \
	} while (0)
	BAD(conference_id, NULL);
	BAD(channel_id, NULL);
	BAD(secret, NULL);
	BAD(profile, NULL);
	BAD(interface, NULL);
	BAD(group, NULL);
	BAD(suite, (enum dm_srtp_suite)99);
	BAD(port, 0);
	BAD(port, 65535); /* RTCP would be 65536 */
	BAD(group, "239.255.92");
	BAD(group, "en.example.org");
	BAD(interface, "not-an-address");
	BAD(ttl, -1);
	BAD(ttl, 256);
#undef BAD
	assert_int_equal(dm_stream_rekey(NULL), DM_EINVAL);
	dm_stream_free(NULL);
	/* The optional strings may be NULL. */
	p = f.p;
	p.conference_name = p.channel_name = p.language = NULL;
	assert_int_equal(dm_stream_new(&p, &s), 0);
	struct dm_sdp sdp;
	dm_stream_get_sdp(s, &sdp);
	assert_string_equal(sdp.session, "st - en");
	assert_string_equal(sdp.language, "und");
	dm_stream_free(s);
}

static void stream_bad_interface(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 2);
	/* An address of TEST-NET-1, which this host does not have: the bind
	 * fails before anything is sent. */
	f.p.interface = "192.0.2.1";
	struct dm_stream *s = NULL;
	assert_int_equal(dm_stream_new(&f.p, &s), DM_ENET);
	assert_null(s);
}

static void stream_frame_samples(void **state)
{
	(void)state;
	static const struct {
		const char *profile;
		int samples;
	} cases[] = {{"lan", 240}, {"lan-ultra", 120}, {"wifi", 960}, {"internet", 960}};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct fx f;
		fx_init(&f, 3);
		f.p.profile = dm_profile_find(cases[i].profile);
		assert_non_null(f.p.profile);
		struct dm_stream *s = fx_stream(&f);
		assert_int_equal(dm_stream_frame_samples(s), cases[i].samples);
		struct dm_sdp sdp;
		dm_stream_get_sdp(s, &sdp);
		assert_int_equal(sdp.frame_samples, cases[i].samples);
		dm_stream_free(s);
	}
}

/* RTP as RFC 3550 and 7587 have it, and SRTP that the SDP's key opens. */
static void stream_rtp_on_the_wire(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 4);
	int cap = plain_capture(f.group, f.port);
	struct dm_stream *s = fx_stream(&f);
	int frame = dm_stream_frame_samples(s);
	enum { N = 40 };
	float pcm[960];
	struct pkt *pk = calloc(N + 1, sizeof *pk);
	assert_non_null(pk);
	for (int i = 0; i < N; i++) {
		tone_frame(pcm, frame, 1000);
		assert_int_equal(dm_stream_send_frame(s, pcm), 0);
	}
	assert_int_equal(drain(cap, pk, N + 1), N);
	struct dm_stream_stats st;
	dm_stream_get_stats(s, &st);
	struct dm_sdp sdp;
	dm_stream_get_sdp(s, &sdp);
	assert_int_equal(sdp.ssrc, st.ssrc);
	assert_string_equal(sdp.addr, f.group);
	assert_int_equal(sdp.port, f.port);
	assert_int_equal(sdp.pt, DM_RTP_PT_OPUS);
	assert_int_equal(sdp.ttl, 1);
	assert_string_equal(sdp.origin_addr, "127.0.0.1");
	assert_string_equal(sdp.channel_id, "en");
	assert_string_equal(sdp.session, "Stream test - English");

	struct dm_srtp *rx = NULL;
	assert_int_equal(dm_srtp_new(sdp.suite, DM_SRTP_RECV, sdp.ssrc, sdp.key, &rx), 0);
	int err;
	OpusDecoder *dec = opus_decoder_create(RATE, 1, &err);
	assert_non_null(dec);
	float out[960];
	uint64_t bytes = 0;
	double amp = 0;
	const size_t HDR = DM_RTP_HEADER_LEN + DM_RTP_EXT_NTP_LEN;
	for (int i = 0; i < N; i++) {
		const uint8_t *b = pk[i].b;
		assert_true(pk[i].len > HDR + TAG_LEN);
		assert_int_equal(b[0] >> 6, 2);	     /* version */
		assert_int_equal(b[0] & 0x3f, 0x10); /* the send-time extension; no padding, CSRC */
		assert_int_equal(b[1] & 0x7f, DM_RTP_PT_OPUS);
		assert_int_equal(b[1] >> 7, i == 0); /* marker: the first only */
		assert_int_equal(be32(b + 8), st.ssrc);
		if (i > 0) {
			const uint8_t *a = pk[i - 1].b;
			uint16_t sa = (uint16_t)(a[2] << 8 | a[3]),
				 sb = (uint16_t)(b[2] << 8 | b[3]);
			assert_int_equal((uint16_t)(sa + 1), sb);
			assert_int_equal(be32(a + 4) + (uint32_t)frame, be32(b + 4));
		}
		bytes += pk[i].len - HDR - TAG_LEN;
		size_t len = pk[i].len;
		assert_int_equal(dm_srtp_unprotect(rx, pk[i].b, &len), 0);
		assert_int_equal(len, pk[i].len - TAG_LEN);
		/* The send time is close to now (RFC 6051, 56 bits). */
		uint64_t sent = 0;
		assert_int_equal(dm_rtp_find_ntp_ext(pk[i].b, len, DM_RTP_EXT_NTP_ID, &sent), 1);
		assert_true(llabs((long long)(dm_ntp_now() - sent)) < 5LL * 4294967296LL);
		int n = opus_decode_float(dec, pk[i].b + HDR, (opus_int32)(len - HDR), out, 960, 0);
		assert_int_equal(n, frame);
		if (i == N - 1)
			amp = goertzel_amp(out, (size_t)n, 1000);
	}
	/* What the encoder made of the tone is the tone. */
	assert_true(amp > 0.7 * TONE_AMP && amp < 1.3 * TONE_AMP);
	assert_true(st.frames == N && st.packets == N);
	assert_true(st.bytes == bytes);
	assert_true(st.send_errors == 0 && st.rtcp_sent == 0);
	opus_decoder_destroy(dec);
	dm_srtp_free(rx);
	dm_stream_free(s);
	free(pk);
	close(cap);
}

static void stream_ssrc_and_key_per_stream(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 5);
	struct dm_stream *a = fx_stream(&f), *b = fx_stream(&f);
	struct dm_stream_stats sa, sb;
	dm_stream_get_stats(a, &sa);
	dm_stream_get_stats(b, &sb);
	assert_true(sa.ssrc != sb.ssrc);
	struct dm_sdp da, db;
	dm_stream_get_sdp(a, &da);
	dm_stream_get_sdp(b, &db);
	assert_int_equal(da.key_len, 30);
	assert_memory_not_equal(da.key, db.key, da.key_len);
	dm_stream_free(a);
	dm_stream_free(b);
}

static void stream_rekey(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 6);
	int cap = plain_capture(f.group, f.port);
	struct dm_stream *s = fx_stream(&f);
	float pcm[960];
	tone_frame(pcm, 240, 1000);
	struct dm_sdp before, after;
	dm_stream_get_sdp(s, &before);
	assert_int_equal(dm_stream_send_frame(s, pcm), 0);
	assert_int_equal(dm_stream_send_frame(s, pcm), 0);
	assert_int_equal(dm_stream_rekey(s), 0);
	dm_stream_get_sdp(s, &after);
	struct dm_stream_stats st;
	dm_stream_get_stats(s, &st);
	assert_true(after.ssrc != before.ssrc);
	assert_int_equal(st.ssrc, after.ssrc);
	assert_memory_not_equal(after.key, before.key, before.key_len);
	assert_true(after.session_version > before.session_version);
	assert_int_equal(dm_stream_send_frame(s, pcm), 0);
	assert_int_equal(dm_stream_send_frame(s, pcm), 0);
	struct pkt pk[5];
	assert_int_equal(drain(cap, pk, 5), 4);
	assert_int_equal(be32(pk[1].b + 8), before.ssrc);
	assert_int_equal(be32(pk[2].b + 8), after.ssrc);
	assert_int_equal(pk[1].b[1] >> 7, 0);
	assert_int_equal(pk[2].b[1] >> 7, 1); /* a new stream starts with the marker */
	assert_int_equal(pk[3].b[1] >> 7, 0);
	/* The new key opens the new packets, the old one does not. */
	struct dm_srtp *rx_new = NULL, *rx_old = NULL;
	assert_int_equal(dm_srtp_new(after.suite, DM_SRTP_RECV, after.ssrc, after.key, &rx_new), 0);
	assert_int_equal(dm_srtp_new(after.suite, DM_SRTP_RECV, after.ssrc, before.key, &rx_old),
			 0);
	struct pkt copy = pk[2];
	assert_int_equal(dm_srtp_unprotect(rx_old, copy.b, &copy.len), DM_EAUTH);
	assert_int_equal(dm_srtp_unprotect(rx_new, pk[2].b, &pk[2].len), 0);
	dm_srtp_free(rx_new);
	dm_srtp_free(rx_old);
	dm_stream_get_stats(s, &st);
	assert_true(st.packets == 4 && st.frames == 4); /* over both SSRCs */
	dm_stream_free(s);
	close(cap);
}

/* A sender report about once a second of wall-clock time, on port + 1, SRTCP
 * under the stream's key, with the counts of what was sent. */
static void stream_sender_report(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 7);
	int rtp = plain_capture(f.group, f.port);
	int rtcp = plain_capture(f.group, (uint16_t)(f.port + 1));
	struct dm_stream *s = fx_stream(&f);
	int frame = dm_stream_frame_samples(s);
	float pcm[960];
	struct timespec next, start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	next = start;
	struct pkt sr_pkt, rtp_pkts[300];
	int got = 0, frames = 0, nrtp = 0;
	struct dm_stream_stats at_sr = {0};
	double t_sr = 0;
	while (frames < 260) { /* 1.3 s */
		tone_frame(pcm, frame, 1000);
		assert_int_equal(dm_stream_send_frame(s, pcm), 0);
		frames++;
		nrtp += drain(rtp, rtp_pkts + nrtp, 300 - nrtp);
		if (!got && (got = drain(rtcp, &sr_pkt, 1)) > 0) {
			dm_stream_get_stats(s, &at_sr);
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			t_sr = (double)(now.tv_sec - start.tv_sec) +
			       (double)(now.tv_nsec - start.tv_nsec) * 1e-9;
			break;
		}
		next.tv_nsec += 5000000L;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	if (got != 1)
		fail_msg("no sender report in %d frames (%d datagrams)", frames, got);
	print_message("sender report after %.3f s, %d frames\n", t_sr, frames);
	assert_true(t_sr > 0.95 && t_sr < 1.25);
	assert_true(at_sr.rtcp_sent == 1);
	assert_int_equal(nrtp, frames);

	struct dm_sdp sdp;
	dm_stream_get_sdp(s, &sdp);
	struct dm_srtp *rx = NULL;
	assert_int_equal(dm_srtp_new(sdp.suite, DM_SRTP_RECV, sdp.ssrc, sdp.key, &rx), 0);
	assert_true(dm_rtp_is_rtcp(sr_pkt.b, sr_pkt.len));
	struct pkt forged = sr_pkt;
	forged.b[20] ^= 1;
	assert_int_equal(dm_srtp_unprotect_rtcp(rx, forged.b, &forged.len), DM_EAUTH);
	struct pkt again = sr_pkt;
	assert_int_equal(dm_srtp_unprotect_rtcp(rx, sr_pkt.b, &sr_pkt.len), 0);
	bool has_sr = false, has_rr = true;
	struct dm_rtcp_sr sr;
	assert_int_equal(dm_rtcp_parse(sr_pkt.b, sr_pkt.len, &has_sr, &sr, &has_rr, NULL), 0);
	assert_true(has_sr);
	assert_false(has_rr);
	assert_int_equal(sr.ssrc, sdp.ssrc);
	assert_int_equal(sr.packet_count, (uint32_t)at_sr.packets);
	assert_int_equal(sr.packet_count, (uint32_t)frames);
	assert_int_equal(sr.octet_count, (uint32_t)at_sr.bytes);
	/* RTP time of "now": right after the last frame's samples. */
	uint32_t last_ts = be32(rtp_pkts[nrtp - 1].b + 4);
	uint32_t ahead = sr.rtp_ts - last_ts;
	assert_true(ahead >= (uint32_t)frame && ahead <= 3u * (uint32_t)frame);
	/* NTP time: the wall clock, give or take. */
	uint64_t ntp_now = dm_ntp_now();
	double diff = ((double)(int64_t)(ntp_now - sr.ntp)) / 4294967296.0;
	assert_true(diff >= 0 && diff < 0.5);
	/* A second copy of it is a replay. */
	assert_int_equal(dm_srtp_unprotect_rtcp(rx, again.b, &again.len), DM_EREPLAY);
	dm_srtp_free(rx);
	dm_stream_free(s);
	close(rtp);
	close(rtcp);
}

/* Through a sendq: the stream queues, the worker's flush sends; a full queue
 * is flushed by the stream itself. */
static void stream_uses_sendq(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f, 8);
	int cap = plain_capture(f.group, f.port);
	struct dm_sendq *q = NULL;
	assert_int_equal(dm_sendq_new("127.0.0.1", 1, 2, &q), 0);
	f.p.sendq = q;
	struct dm_stream *s = fx_stream(&f);
	float pcm[960];
	tone_frame(pcm, 240, 1000);
	struct pkt pk[4];
	assert_int_equal(dm_stream_send_frame(s, pcm), 0);
	assert_int_equal(dm_stream_send_frame(s, pcm), 0);
	assert_int_equal(dm_sendq_pending(q), 2);
	assert_int_equal(drain(cap, pk, 4), 0);		   /* nothing sent yet */
	assert_int_equal(dm_stream_send_frame(s, pcm), 0); /* full: flushes the two */
	assert_int_equal(dm_sendq_pending(q), 1);
	assert_int_equal(drain(cap, pk, 4), 2);
	assert_int_equal(dm_sendq_flush(q), 1);
	assert_int_equal(drain(cap, pk + 2, 2), 1);
	for (int i = 1; i < 3; i++)
		assert_int_equal((uint16_t)((pk[i - 1].b[2] << 8 | pk[i - 1].b[3]) + 1),
				 (uint16_t)(pk[i].b[2] << 8 | pk[i].b[3]));
	struct dm_stream_stats st;
	dm_stream_get_stats(s, &st);
	assert_true(st.packets == 3 && st.frames == 3 && st.send_errors == 0);
	assert_int_equal(be32(pk[0].b + 8), st.ssrc);
	dm_stream_free(s);
	dm_sendq_free(q);
	close(cap);
}

static int setup(void **state)
{
	(void)state;
	static const char prefix[] = "test_stream";
	if (getenv("DM_TEST_DEBUG"))
		dm_log_set(dm_log_stderr, (void *)prefix, DM_LOG_DEBUG);
	else
		dm_log_set(NULL, NULL, DM_LOG_ERROR);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stream_bad_params),
		cmocka_unit_test(stream_bad_interface),
		cmocka_unit_test(stream_frame_samples),
		cmocka_unit_test(stream_rtp_on_the_wire),
		cmocka_unit_test(stream_ssrc_and_key_per_stream),
		cmocka_unit_test(stream_rekey),
		cmocka_unit_test(stream_sender_report),
		cmocka_unit_test(stream_uses_sendq),
	};
	return cmocka_run_group_tests_name("stream", tests, setup, NULL);
}
