/* Module tests of a channel's remote stream (src/net/fanout.c) with real
 * components: real Opus, real libsrtp, real UDP sockets on 127.0.0.1. The
 * fan-out sends from a bound socket to subscriber sockets; what they receive
 * is compared byte for byte, unprotected with a receive context built from
 * dm_fanout_current_key (or the prepared key) and decoded with Opus. */
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

#include "dragoman/defaults.h"
#include "dragoman/error.h"
#include "dragoman/fanout.h"
#include "dragoman/keys.h"
#include "dragoman/profile.h"
#include "dragoman/rproto.h"
#include "dragoman/rtp.h"
#include "dragoman/srtp.h"

#define RATE 48000
#define FRAME 960 /* the internet profile: 20 ms */
#define CHUNK 240 /* a JACK period */
#define TONE_HZ 440.0
#define TONE_AMP 0.25f
#define MAX_PKTS 256

static const uint8_t secret[DM_SECRET_LEN] = {
	9,  8,	7,  6,	5,  4,	3,  2,	1,  0,	11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
};

struct pkt {
	uint8_t b[DM_MAX_PACKET];
	size_t len;
};

/* A bound UDP socket on 127.0.0.1, any port; *addr is where it listens. */
static int udp_socket(struct sockaddr_in *addr, bool nonblock)
{
	int fd = socket(AF_INET, SOCK_DGRAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
	assert_true(fd >= 0);
	int rcvbuf = 1 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t len = sizeof sa;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	if (addr)
		*addr = sa;
	return fd;
}

/* Reads every datagram waiting, up to max (more are counted, not kept). */
static int drain(int fd, struct pkt *out, int max)
{
	int n = 0;
	ssize_t len;
	static struct pkt scratch;
	while ((len = recv(fd, n < max ? out[n].b : scratch.b, DM_MAX_PACKET, 0)) >= 0) {
		if (n < max)
			out[n].len = (size_t)len;
		n++;
	}
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	return n;
}

/* Keeps the RTP packets (in order) of pkts, drops the rest. */
static int only_rtp(struct pkt *pkts, int n)
{
	int m = 0;
	for (int i = 0; i < n; i++)
		if (dm_rproto_kind(pkts[i].b, pkts[i].len) == DM_RPROTO_RTP)
			pkts[m++] = pkts[i];
	return m;
}

static struct dm_rtp_header header_of(const struct pkt *p)
{
	struct dm_rtp_header h;
	assert_int_equal(dm_rtp_parse(p->b, p->len, &h), 0);
	return h;
}

struct fx {
	int fd; /* the fan-out sends from it */
	struct dm_fanout_params p;
	struct dm_fanout *f;
	double phase; /* of the tone */
};

static void fx_open(struct fx *x, int phase)
{
	memset(x, 0, sizeof *x);
	x->fd = udp_socket(NULL, false);
	x->p = (struct dm_fanout_params){
		.conference_id = "fo",
		.channel_id = "en",
		.secret = secret,
		.suite = DM_SRTP_AES_CM_128_HMAC_SHA1_80,
		.profile = dm_profile_find("internet"),
		.fd = x->fd,
		.phase = phase,
	};
	assert_non_null(x->p.profile);
	assert_int_equal(x->p.profile->frame_samples, FRAME);
	assert_int_equal(dm_fanout_new(&x->p, &x->f), 0);
	assert_non_null(x->f);
}

static void fx_close(struct fx *x)
{
	dm_fanout_free(x->f);
	close(x->fd);
}

/* Feeds n samples of the tone in JACK-sized chunks. */
static void feed_tone(struct fx *x, size_t n)
{
	float buf[CHUNK];
	while (n > 0) {
		size_t k = n < CHUNK ? n : CHUNK;
		for (size_t i = 0; i < k; i++) {
			buf[i] = TONE_AMP * (float)sin(x->phase);
			x->phase += 2.0 * M_PI * TONE_HZ / RATE;
		}
		x->phase = fmod(x->phase, 2.0 * M_PI);
		dm_fanout_feed(x->f, buf, k, 0);
		n -= k;
	}
}

static struct dm_srtp *recv_ctx(uint32_t ssrc, const uint8_t *key)
{
	struct dm_srtp *s = NULL;
	assert_int_equal(dm_srtp_new(DM_SRTP_AES_CM_128_HMAC_SHA1_80, DM_SRTP_RECV, ssrc, key, &s),
			 0);
	return s;
}

/* Unprotects a copy of p; returns dm_srtp_unprotect's code and the header. */
static int open_pkt(struct dm_srtp *s, const struct pkt *p, struct pkt *plain,
		    struct dm_rtp_header *h)
{
	*plain = *p;
	int rc = dm_srtp_unprotect(s, plain->b, &plain->len);
	if (rc == 0)
		assert_int_equal(dm_rtp_parse(plain->b, plain->len, h), 0);
	return rc;
}

/* Unprotects and decodes one packet into FRAME samples. */
static void decode_pkt(struct dm_srtp *s, OpusDecoder *dec, const struct pkt *p, float *pcm)
{
	struct pkt plain;
	struct dm_rtp_header h;
	assert_int_equal(open_pkt(s, p, &plain, &h), 0);
	assert_int_equal(h.pt, DM_RTP_PT_OPUS);
	int n = opus_decode_float(dec, plain.b + h.payload_off, (opus_int32)h.payload_len, pcm,
				  FRAME, 0);
	assert_int_equal(n, FRAME);
}

static double rms(const float *x, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += (double)x[i] * x[i];
	return n ? sqrt(s / (double)n) : 0;
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

static OpusDecoder *decoder(void)
{
	int err;
	OpusDecoder *d = opus_decoder_create(RATE, 1, &err);
	assert_non_null(d);
	return d;
}

static void current(struct fx *x, uint32_t *ssrc, uint32_t *gen, uint8_t *key)
{
	size_t key_len = 0;
	dm_fanout_current_key(x->f, ssrc, gen, key, &key_len);
	assert_int_equal(key_len, dm_srtp_key_len(DM_SRTP_AES_CM_128_HMAC_SHA1_80));
}

/* ---- one second to three subscribers ---- */

static void fanout_three_subscribers(void **state)
{
	(void)state;
	struct fx x;
	fx_open(&x, 0);
	struct sockaddr_in addr[3];
	int sub[3];
	for (int i = 0; i < 3; i++) {
		sub[i] = udp_socket(&addr[i], true);
		assert_int_equal(dm_fanout_add(x.f, &addr[i]), 0);
	}
	/* Adding an address twice keeps one. */
	assert_int_equal(dm_fanout_add(x.f, &addr[1]), 0);
	struct dm_fanout_stats st;
	dm_fanout_get_stats(x.f, &st);
	assert_int_equal(st.subscribers, 3);
	assert_int_equal(st.generation, 1);

	feed_tone(&x, RATE); /* one second */

	static struct pkt got[3][MAX_PKTS];
	int n[3];
	for (int i = 0; i < 3; i++)
		n[i] = drain(sub[i], got[i], MAX_PKTS);
	/* The same datagrams, byte for byte, in the same order: encrypted once. */
	assert_int_equal(n[0], n[1]);
	assert_int_equal(n[0], n[2]);
	for (int i = 1; i < 3; i++)
		for (int j = 0; j < n[0]; j++) {
			assert_int_equal(got[i][j].len, got[0][j].len);
			assert_memory_equal(got[i][j].b, got[0][j].b, got[0][j].len);
		}
	int rtp = only_rtp(got[0], n[0]);
	assert_int_equal(rtp, RATE / FRAME); /* 50 */
	dm_fanout_get_stats(x.f, &st);
	assert_int_equal(st.frames, RATE / FRAME);
	assert_int_equal(st.packets, 3 * RATE / FRAME);
	assert_int_equal(st.send_errors, 0);
	size_t bytes = 0;
	for (int j = 0; j < rtp; j++)
		bytes += got[0][j].len;
	assert_int_equal(st.bytes, 3 * bytes);

	/* The key is the conference secret's for this SSRC (DESIGN.md). */
	uint32_t ssrc, gen;
	uint8_t key[DM_SRTP_MAX_KEY_LEN], want[DM_SRTP_MAX_KEY_LEN];
	current(&x, &ssrc, &gen, key);
	assert_int_equal(gen, 1);
	assert_int_equal(ssrc, st.ssrc);
	assert_int_equal(dm_keys_derive(secret, "fo", "en", ssrc, DM_SRTP_AES_CM_128_HMAC_SHA1_80,
					want, sizeof want),
			 0);
	assert_memory_equal(key, want, dm_srtp_key_len(DM_SRTP_AES_CM_128_HMAC_SHA1_80));

	/* Unprotect, check the headers, decode. */
	struct dm_srtp *s = recv_ctx(ssrc, key);
	OpusDecoder *dec = decoder();
	static float pcm[RATE];
	struct dm_rtp_header first = header_of(&got[0][0]);
	for (int j = 0; j < rtp; j++) {
		struct dm_rtp_header h = header_of(&got[0][j]);
		assert_int_equal(h.ssrc, ssrc);
		assert_int_equal(h.seq, (uint16_t)(first.seq + j));
		assert_int_equal(h.ts, first.ts + (uint32_t)(j * FRAME));
		/* Every packet carries its send time (RFC 6051). */
		uint64_t ntp = 0;
		assert_int_equal(
			dm_rtp_find_ntp_ext(got[0][j].b, got[0][j].len, DM_RTP_EXT_NTP_ID, &ntp),
			1);
		assert_true(ntp != 0);
		decode_pkt(s, dec, &got[0][j], pcm + (size_t)j * FRAME);
	}
	/* Past the codec's start: the tone, -12 dBFS, at 440 Hz and not elsewhere. */
	const float *tail = pcm + 5 * FRAME;
	size_t tn = (size_t)(rtp - 5) * FRAME;
	double r = rms(tail, tn);
	assert_true(r > 0.7 * TONE_AMP / M_SQRT2 && r < 1.3 * TONE_AMP / M_SQRT2);
	assert_true(goertzel_amp(tail, tn, TONE_HZ) > 0.7 * TONE_AMP);
	assert_true(goertzel_amp(tail, tn, 2 * TONE_HZ) < 0.05 * TONE_AMP);
	assert_true(goertzel_amp(tail, tn, 1000.0) < 0.05 * TONE_AMP);

	/* Remove one: it gets nothing more, the others go on. */
	assert_int_equal(dm_fanout_remove(x.f, &addr[2]), 0);
	assert_int_equal(dm_fanout_remove(x.f, &addr[2]), DM_ENOENT);
	dm_fanout_get_stats(x.f, &st);
	assert_int_equal(st.subscribers, 2);
	feed_tone(&x, 10 * FRAME);
	assert_int_equal(drain(sub[2], got[2], MAX_PKTS), 0);
	for (int i = 0; i < 2; i++) {
		int m = only_rtp(got[i], drain(sub[i], got[i], MAX_PKTS));
		assert_int_equal(m, 10);
		struct dm_rtp_header h = header_of(&got[i][0]);
		assert_int_equal(h.seq, (uint16_t)(first.seq + rtp));
		for (int j = 0; j < m; j++) {
			if (i == 0) {
				decode_pkt(s, dec, &got[i][j], pcm);
				continue;
			}
			/* the same packets as the first subscriber's: replays now */
			struct pkt plain;
			struct dm_rtp_header hh;
			assert_int_equal(open_pkt(s, &got[i][j], &plain, &hh), DM_EREPLAY);
		}
	}
	dm_fanout_get_stats(x.f, &st);
	assert_int_equal(st.frames, RATE / FRAME + 10);
	assert_int_equal(st.packets, 3 * RATE / FRAME + 2 * 10);

	opus_decoder_destroy(dec);
	dm_srtp_free(s);
	for (int i = 0; i < 3; i++)
		close(sub[i]);
	fx_close(&x);
}

/* ---- no subscribers ---- */

static void fanout_no_subscribers(void **state)
{
	(void)state;
	struct fx x;
	fx_open(&x, 0);
	struct sockaddr_in addr;
	int sub = udp_socket(&addr, true);
	static struct pkt got[MAX_PKTS];
	struct dm_fanout_stats st;

	feed_tone(&x, 10 * FRAME);
	dm_fanout_get_stats(x.f, &st);
	assert_int_equal(st.frames, 0);
	assert_int_equal(st.packets, 0);
	assert_int_equal(st.subscribers, 0);

	assert_int_equal(dm_fanout_add(x.f, &addr), 0);
	feed_tone(&x, 2 * FRAME);
	dm_fanout_get_stats(x.f, &st);
	assert_int_equal(st.frames, 2);
	int n = only_rtp(got, drain(sub, got, MAX_PKTS));
	assert_int_equal(n, 2);
	struct dm_rtp_header last = header_of(&got[1]);

	assert_int_equal(dm_fanout_remove(x.f, &addr), 0);
	feed_tone(&x, 6 * FRAME);
	dm_fanout_get_stats(x.f, &st);
	assert_int_equal(st.frames, 2);
	assert_int_equal(st.packets, 2);
	assert_int_equal(drain(sub, got, MAX_PKTS), 0);

	/* Back: the sequence number goes on by one, the timestamp by the audio
	 * that went by unsent; the encoder starts afresh and still decodes. */
	assert_int_equal(dm_fanout_add(x.f, &addr), 0);
	feed_tone(&x, 5 * FRAME);
	n = only_rtp(got, drain(sub, got, MAX_PKTS));
	assert_int_equal(n, 5);
	struct dm_rtp_header h = header_of(&got[0]);
	assert_int_equal(h.seq, (uint16_t)(last.seq + 1));
	assert_int_equal(h.ts, last.ts + 7 * FRAME);
	uint32_t ssrc, gen;
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	current(&x, &ssrc, &gen, key);
	struct dm_srtp *s = recv_ctx(ssrc, key);
	OpusDecoder *dec = decoder();
	static float pcm[5 * FRAME];
	for (int j = 0; j < n; j++)
		decode_pkt(s, dec, &got[j], pcm + (size_t)j * FRAME);
	assert_true(goertzel_amp(pcm + 2 * FRAME, 3 * FRAME, TONE_HZ) > 0.6 * TONE_AMP);
	opus_decoder_destroy(dec);
	dm_srtp_free(s);
	close(sub);
	fx_close(&x);
}

/* ---- phase ---- */

/* Feeds the tone one sample at a time until the subscriber has a packet;
 * returns the samples fed. */
static size_t samples_to_packet(struct fx *x, int sub, struct pkt *got, size_t limit)
{
	for (size_t fed = 1; fed <= limit; fed++) {
		feed_tone(x, 1);
		if (drain(sub, got, 1) > 0)
			return fed;
	}
	return 0;
}

static void fanout_phase(void **state)
{
	(void)state;
	static const int phases[] = {0, 240, 480, 720};
	float first_frame[4][FRAME];
	for (size_t p = 0; p < 4; p++) {
		int phase = phases[p];
		struct fx x;
		fx_open(&x, phase);
		struct sockaddr_in addr;
		int sub = udp_socket(&addr, true);
		assert_int_equal(dm_fanout_add(x.f, &addr), 0);
		struct pkt got[2];
		/* phase samples of silence come first: the first frame is complete
		 * after FRAME - phase samples, the next ones FRAME later each. */
		assert_int_equal(samples_to_packet(&x, sub, &got[0], 2 * FRAME),
				 (size_t)(FRAME - phase));
		assert_int_equal(samples_to_packet(&x, sub, &got[1], 2 * FRAME), FRAME);
		uint32_t ssrc, gen;
		uint8_t key[DM_SRTP_MAX_KEY_LEN];
		current(&x, &ssrc, &gen, key);
		struct dm_srtp *s = recv_ctx(ssrc, key);
		OpusDecoder *dec = decoder();
		decode_pkt(s, dec, &got[0], first_frame[p]);
		opus_decoder_destroy(dec);
		dm_srtp_free(s);
		close(sub);
		fx_close(&x);
	}
	/* The codec delays everything by its look-ahead alike; past it, the
	 * tone starts phase samples later in the first frame. Decoded
	 * samples 0..phase + 200 are still the inserted silence; those past
	 * 600 of phase 0 are already the tone. */
	assert_true(rms(first_frame[0] + 600, FRAME - 600) > 0.3 * TONE_AMP / M_SQRT2);
	for (size_t p = 1; p < 4; p++)
		assert_true(rms(first_frame[p], (size_t)phases[p] + 200) < 0.05 * TONE_AMP);
}

/* ---- rotation ---- */

static void fanout_rotation(void **state)
{
	(void)state;
	struct fx x;
	fx_open(&x, 0);
	struct sockaddr_in addr;
	int sub = udp_socket(&addr, true);
	assert_int_equal(dm_fanout_add(x.f, &addr), 0);
	static struct pkt got[MAX_PKTS];
	uint32_t ssrc1, gen1;
	uint8_t key1[DM_SRTP_MAX_KEY_LEN];
	current(&x, &ssrc1, &gen1, key1);
	assert_int_equal(gen1, 1);

	/* Without a prepared key there is nothing to commit. */
	assert_int_equal(dm_fanout_commit(x.f), DM_EINVAL);

	feed_tone(&x, 3 * FRAME);
	uint32_t ssrc2, gen2, ssrc2b, gen2b;
	uint8_t key2[DM_SRTP_MAX_KEY_LEN], key2b[DM_SRTP_MAX_KEY_LEN];
	size_t len2 = 0, len2b = 0;
	assert_int_equal(dm_fanout_prepare(x.f, &ssrc2, &gen2, key2, &len2), 0);
	assert_int_equal(gen2, 2);
	assert_int_not_equal(ssrc2, ssrc1);
	assert_int_equal(len2, dm_srtp_key_len(DM_SRTP_AES_CM_128_HMAC_SHA1_80));
	assert_memory_not_equal(key2, key1, len2);
	uint8_t want[DM_SRTP_MAX_KEY_LEN];
	assert_int_equal(dm_keys_derive(secret, "fo", "en", ssrc2, DM_SRTP_AES_CM_128_HMAC_SHA1_80,
					want, sizeof want),
			 0);
	assert_memory_equal(key2, want, len2);
	/* A second prepare before the commit answers the same key. */
	assert_int_equal(dm_fanout_prepare(x.f, &ssrc2b, &gen2b, key2b, &len2b), 0);
	assert_int_equal(ssrc2b, ssrc2);
	assert_int_equal(gen2b, 2);
	assert_int_equal(len2b, len2);
	assert_memory_equal(key2b, key2, len2);

	/* Prepared, not committed: still the old SSRC and key. */
	struct dm_fanout_stats st;
	dm_fanout_get_stats(x.f, &st);
	assert_int_equal(st.ssrc, ssrc1);
	assert_int_equal(st.generation, 1);
	uint32_t ssrc, gen;
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	current(&x, &ssrc, &gen, key);
	assert_int_equal(ssrc, ssrc1);
	assert_int_equal(gen, 1);
	feed_tone(&x, 2 * FRAME);
	int n = only_rtp(got, drain(sub, got, MAX_PKTS));
	assert_int_equal(n, 5);
	for (int j = 0; j < n; j++)
		assert_int_equal(header_of(&got[j]).ssrc, ssrc1);
	struct dm_rtp_header before = header_of(&got[n - 1]);

	/* Commit: the next frame goes out under the new SSRC and key, the
	 * sequence number and timestamp going straight on. */
	assert_int_equal(dm_fanout_commit(x.f), 0);
	feed_tone(&x, 3 * FRAME);
	int m = only_rtp(got + n, drain(sub, got + n, MAX_PKTS - n));
	assert_int_equal(m, 3);
	for (int j = 0; j < m; j++) {
		struct dm_rtp_header h = header_of(&got[n + j]);
		assert_int_equal(h.ssrc, ssrc2);
		assert_int_equal(h.seq, (uint16_t)(before.seq + 1 + j));
		assert_int_equal(h.ts, before.ts + (uint32_t)((1 + j) * FRAME));
	}
	dm_fanout_get_stats(x.f, &st);
	assert_int_equal(st.ssrc, ssrc2);
	assert_int_equal(st.generation, 2);
	current(&x, &ssrc, &gen, key);
	assert_int_equal(ssrc, ssrc2);
	assert_int_equal(gen, 2);
	assert_memory_equal(key, key2, len2);

	/* Only the new key opens them. */
	struct pkt plain;
	struct dm_rtp_header h;
	struct dm_srtp *old_for_new = recv_ctx(ssrc2, key1);
	assert_int_equal(open_pkt(old_for_new, &got[n], &plain, &h), DM_EAUTH);
	dm_srtp_free(old_for_new);
	struct dm_srtp *old = recv_ctx(ssrc1, key1);
	struct dm_srtp *fresh = recv_ctx(ssrc2, key2);
	assert_int_equal(open_pkt(old, &got[n], &plain, &h), DM_EPROTO); /* another SSRC */

	/* A listener holding both keys decodes on without a gap: one decoder
	 * across the switch. */
	OpusDecoder *dec = decoder();
	static float pcm[8 * FRAME];
	for (int j = 0; j < n + m; j++)
		decode_pkt(j < n ? old : fresh, dec, &got[j], pcm + (size_t)j * FRAME);
	double a_before = goertzel_amp(pcm + 3 * FRAME, 2 * FRAME, TONE_HZ);
	double a_after = goertzel_amp(pcm + 5 * FRAME, 3 * FRAME, TONE_HZ);
	assert_true(a_before > 0.6 * TONE_AMP);
	assert_true(a_after > 0.6 * TONE_AMP);
	assert_true(rms(pcm + 5 * FRAME, FRAME) > 0.6 * TONE_AMP / M_SQRT2);
	opus_decoder_destroy(dec);

	/* The prepared key was used up by the switch. */
	assert_int_equal(dm_fanout_commit(x.f), DM_EINVAL);
	uint32_t ssrc3, gen3;
	uint8_t key3[DM_SRTP_MAX_KEY_LEN];
	size_t len3 = 0;
	assert_int_equal(dm_fanout_prepare(x.f, &ssrc3, &gen3, key3, &len3), 0);
	assert_int_equal(gen3, 3);
	assert_int_not_equal(ssrc3, ssrc2);
	assert_memory_not_equal(key3, key2, len3);

	/* The next sender report is the new SSRC's, under its key, counting
	 * from its first packet. */
	struct timespec pause = {1, 50000000};
	nanosleep(&pause, NULL);
	feed_tone(&x, FRAME);
	int k = drain(sub, got, MAX_PKTS);
	assert_int_equal(k, 2);
	assert_int_equal(dm_rproto_kind(got[1].b, got[1].len), DM_RPROTO_RTCP);
	struct pkt rep = got[1];
	assert_int_equal(dm_srtp_unprotect_rtcp(old, rep.b, &rep.len), DM_EPROTO);
	rep = got[1];
	assert_int_equal(dm_srtp_unprotect_rtcp(fresh, rep.b, &rep.len), 0);
	bool has_sr = false, has_rr = false;
	struct dm_rtcp_sr sr;
	struct dm_rtcp_rr rr;
	assert_int_equal(dm_rtcp_parse(rep.b, rep.len, &has_sr, &sr, &has_rr, &rr), 0);
	assert_true(has_sr);
	assert_int_equal(sr.ssrc, ssrc2);
	assert_int_equal(sr.packet_count, m + 1);

	dm_srtp_free(old);
	dm_srtp_free(fresh);
	close(sub);
	fx_close(&x);
}

/* ---- sender reports ---- */

static void fanout_sender_reports(void **state)
{
	(void)state;
	struct fx x;
	fx_open(&x, 0);
	struct sockaddr_in addr;
	int sub = udp_socket(&addr, true);
	assert_int_equal(dm_fanout_add(x.f, &addr), 0);

	/* 2.2 s in real time, a JACK period every 5 ms: reports go by the clock. */
	enum { PERIODS = 440 };
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (int i = 0; i < PERIODS; i++) {
		feed_tone(&x, CHUNK);
		next.tv_nsec += 5000000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	static struct pkt got[MAX_PKTS];
	int n = drain(sub, got, MAX_PKTS);
	assert_true(n < MAX_PKTS);

	uint32_t ssrc, gen;
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	current(&x, &ssrc, &gen, key);
	struct dm_srtp *s = recv_ctx(ssrc, key);
	int frames = 0, reports = 0, last_report_frame = -1;
	uint32_t octets = 0, last_ts = 0;
	for (int j = 0; j < n; j++) {
		enum dm_rproto_kind kind = dm_rproto_kind(got[j].b, got[j].len);
		struct pkt plain = got[j];
		if (kind == DM_RPROTO_RTP) {
			struct dm_rtp_header h;
			assert_int_equal(open_pkt(s, &got[j], &plain, &h), 0);
			octets += (uint32_t)h.payload_len;
			last_ts = h.ts;
			frames++;
			continue;
		}
		assert_int_equal(kind, DM_RPROTO_RTCP);
		assert_int_equal(got[j].b[1], 200);
		assert_int_equal(dm_srtp_unprotect_rtcp(s, plain.b, &plain.len), 0);
		bool has_sr = false, has_rr = false;
		struct dm_rtcp_sr sr;
		struct dm_rtcp_rr rr;
		assert_int_equal(dm_rtcp_parse(plain.b, plain.len, &has_sr, &sr, &has_rr, &rr), 0);
		assert_true(has_sr);
		assert_int_equal(sr.ssrc, ssrc);
		/* It counts what went before it under this SSRC. */
		assert_int_equal(sr.packet_count, frames);
		assert_int_equal(sr.octet_count, octets);
		assert_true(frames > 0);
		assert_true(sr.rtp_ts - last_ts <= FRAME);
		assert_true(sr.ntp != 0);
		/* About once a second: 50 frames of 20 ms apart. */
		if (last_report_frame >= 0) {
			int gap = frames - last_report_frame;
			assert_true(gap >= 40 && gap <= 60);
		}
		last_report_frame = frames;
		reports++;
	}
	assert_int_equal(frames, PERIODS * CHUNK / FRAME);
	assert_true(reports >= 2 && reports <= 3);
	dm_srtp_free(s);
	close(sub);
	fx_close(&x);
}

/* ---- arguments ---- */

/* Paced: a complete frame is encoded and queued, not sent; it goes when
 * dm_fanout_send_due is called at or after its due time (complete + delay). */
static void fanout_paced(void **state)
{
	(void)state;
	struct fx x;
	memset(&x, 0, sizeof x);
	x.fd = udp_socket(NULL, false);
	x.p = (struct dm_fanout_params){
		.conference_id = "fo",
		.channel_id = "en",
		.secret = secret,
		.suite = DM_SRTP_AES_CM_128_HMAC_SHA1_80,
		.profile = dm_profile_find("internet"),
		.fd = x.fd,
		.paced = true,
		.delay_us = 3000,
	};
	assert_int_equal(dm_fanout_new(&x.p, &x.f), 0);
	struct sockaddr_in a;
	int sub = udp_socket(&a, true);
	assert_int_equal(dm_fanout_add(x.f, &a), 0);
	float buf[FRAME];
	for (int i = 0; i < FRAME; i++)
		buf[i] = TONE_AMP * (float)sin(2.0 * M_PI * TONE_HZ * i / RATE);
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	uint64_t due = (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
	assert_int_equal(dm_fanout_feed(x.f, buf, FRAME - 1, due), 0);
	assert_int_equal(dm_fanout_feed(x.f, buf + FRAME - 1, 1, due), 1);
	struct pkt got[4];
	assert_int_equal(drain(sub, got, 4), 0); /* queued, not sent */
	uint64_t next = 0;
	assert_int_equal(dm_fanout_send_due(x.f, due + 2999, &next), 0);
	assert_true(next == due + 3000);
	assert_int_equal(drain(sub, got, 4), 0);
	assert_true(dm_fanout_send_due(x.f, due + 3000, &next) >= 1);
	assert_true(next == 0);
	int n = only_rtp(got, drain(sub, got, 4));
	assert_int_equal(n, 1);
	struct dm_fanout_stats st;
	dm_fanout_get_stats(x.f, &st);
	assert_int_equal(st.frames, 1);
	assert_int_equal(st.packets, 1);
	close(sub);
	fx_close(&x);
}

/* Paced in groups: subscriber i gets a frame with group i % groups, the
 * groups group_gap_us apart; bursts count frames x groups. */
static void fanout_paced_groups(void **state)
{
	(void)state;
	struct fx x;
	memset(&x, 0, sizeof x);
	x.fd = udp_socket(NULL, false);
	x.p = (struct dm_fanout_params){
		.conference_id = "fo",
		.channel_id = "en",
		.secret = secret,
		.suite = DM_SRTP_AES_CM_128_HMAC_SHA1_80,
		.profile = dm_profile_find("internet"),
		.fd = x.fd,
		.paced = true,
		.groups = 2,
		.group_gap_us = 1000,
	};
	assert_int_equal(dm_fanout_new(&x.p, &x.f), 0);
	struct sockaddr_in a0, a1;
	int s0 = udp_socket(&a0, true), s1 = udp_socket(&a1, true);
	assert_int_equal(dm_fanout_add(x.f, &a0), 0);
	assert_int_equal(dm_fanout_add(x.f, &a1), 0);
	float buf[FRAME] = {0};
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	uint64_t due = (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
	assert_int_equal(dm_fanout_feed(x.f, buf, FRAME, due), 1);
	uint64_t next = 0;
	assert_true(dm_fanout_send_due(x.f, due, &next) >= 1);
	assert_true(next == due + 1000);
	struct pkt got[4];
	assert_int_equal(only_rtp(got, drain(s0, got, 4)), 1);
	assert_int_equal(drain(s1, got, 4), 0); /* its group is due later */
	assert_true(dm_fanout_send_due(x.f, due + 1000, &next) >= 1);
	assert_int_equal(only_rtp(got, drain(s1, got, 4)), 1);
	/* s0 got the frame before; only the sender report, to everybody */
	assert_int_equal(only_rtp(got, drain(s0, got, 4)), 0);
	struct dm_fanout_stats st;
	dm_fanout_get_stats(x.f, &st);
	assert_int_equal(st.frames, 1);
	assert_int_equal(st.bursts, 2);
	assert_int_equal(st.packets, 2);
	close(s0);
	close(s1);
	fx_close(&x);
}

static void fanout_bad_params(void **state)
{
	(void)state;
	struct fx x;
	fx_open(&x, 0);
	struct dm_fanout *f = NULL;
	struct dm_fanout_params p = x.p;
	assert_int_equal(dm_fanout_new(NULL, &f), DM_EINVAL);
	assert_int_equal(dm_fanout_new(&p, NULL), DM_EINVAL);
	p.conference_id = NULL;
	assert_int_equal(dm_fanout_new(&p, &f), DM_EINVAL);
	p = x.p;
	p.channel_id = NULL;
	assert_int_equal(dm_fanout_new(&p, &f), DM_EINVAL);
	p = x.p;
	p.secret = NULL;
	assert_int_equal(dm_fanout_new(&p, &f), DM_EINVAL);
	p = x.p;
	p.profile = NULL;
	assert_int_equal(dm_fanout_new(&p, &f), DM_EINVAL);
	p = x.p;
	p.fd = -1;
	assert_int_equal(dm_fanout_new(&p, &f), DM_EINVAL);
	p = x.p;
	p.phase = -1;
	assert_int_equal(dm_fanout_new(&p, &f), DM_EINVAL);
	p = x.p;
	p.suite = (enum dm_srtp_suite)9;
	assert_int_equal(dm_fanout_new(&p, &f), DM_EINVAL);
	assert_null(f);

	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(9)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(dm_fanout_add(NULL, &a), DM_EINVAL);
	assert_int_equal(dm_fanout_add(x.f, NULL), DM_EINVAL);
	struct sockaddr_in six = a;
	six.sin_family = AF_INET6;
	assert_int_equal(dm_fanout_add(x.f, &six), DM_EINVAL);
	assert_int_equal(dm_fanout_remove(NULL, &a), DM_EINVAL);
	assert_int_equal(dm_fanout_remove(x.f, NULL), DM_EINVAL);
	assert_int_equal(dm_fanout_remove(x.f, &a), DM_ENOENT);
	struct dm_fanout_stats st;
	dm_fanout_get_stats(x.f, &st);
	assert_int_equal(st.subscribers, 0);

	uint32_t ssrc, gen;
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	size_t len;
	assert_int_equal(dm_fanout_prepare(NULL, &ssrc, &gen, key, &len), DM_EINVAL);
	assert_int_equal(dm_fanout_prepare(x.f, NULL, &gen, key, &len), DM_EINVAL);
	assert_int_equal(dm_fanout_prepare(x.f, &ssrc, NULL, key, &len), DM_EINVAL);
	assert_int_equal(dm_fanout_prepare(x.f, &ssrc, &gen, NULL, &len), DM_EINVAL);
	assert_int_equal(dm_fanout_prepare(x.f, &ssrc, &gen, key, NULL), DM_EINVAL);
	assert_int_equal(dm_fanout_commit(NULL), DM_EINVAL);
	assert_int_equal(dm_fanout_commit(x.f), DM_EINVAL);
	dm_fanout_free(NULL);

	/* The GCM suites work as well. */
	p = x.p;
	p.suite = DM_SRTP_AEAD_AES_256_GCM;
	assert_int_equal(dm_fanout_new(&p, &f), 0);
	uint8_t k44[DM_SRTP_MAX_KEY_LEN];
	dm_fanout_current_key(f, &ssrc, &gen, k44, &len);
	assert_int_equal(len, 44);
	dm_fanout_free(f);
	fx_close(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fanout_three_subscribers),
		cmocka_unit_test(fanout_no_subscribers),
		cmocka_unit_test(fanout_phase),
		cmocka_unit_test(fanout_rotation),
		cmocka_unit_test(fanout_sender_reports),
		cmocka_unit_test(fanout_paced),
		cmocka_unit_test(fanout_paced_groups),
		cmocka_unit_test(fanout_bad_params),
	};
	return cmocka_run_group_tests_name("fanout", tests, NULL, NULL);
}
