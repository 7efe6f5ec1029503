/* Writes the generated seeds of the fuzz corpus: RTP packets and RTCP
 * compounds (fuzz_rtp), packets protected with the fixed keys of
 * fuzz_common.h (fuzz_srtp, fuzz_receiver: so mutations start past SRTP
 * authentication), sessions with real Opus frames (fuzz_receiver) and SDP
 * texts (fuzz_sdp). The config seeds are copies of configs/ and
 * tests/unit/data/config/. Usage: fuzz_gen_seeds <tests/fuzz/corpus>. The
 * output is committed; rerun this when fuzz_common.h changes. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <opus/opus.h>

#include "dragoman/error.h"
#include "dragoman/rtp.h"
#include "dragoman/sdp.h"
#include "dragoman/srtp.h"
#include "fuzz_common.h"

#define SEED_MAX 16384

static const char *root;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_gen_seeds: %s\n", what);
	exit(1);
}

static void save(const char *harness, const char *name, const void *buf, size_t len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", root, harness);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die("cannot create a corpus folder");
	snprintf(path, sizeof path, "%s/%s/%s", root, harness, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		die("cannot write a seed");
}

/* A seed being assembled. */
struct seed {
	uint8_t b[SEED_MAX];
	size_t n;
};

static void add(struct seed *s, const void *p, size_t len)
{
	if (s->n + len > sizeof s->b)
		die("seed too large");
	memcpy(s->b + s->n, p, len);
	s->n += len;
}

static void add_u8(struct seed *s, uint8_t v)
{
	add(s, &v, 1);
}

static void add_chunk(struct seed *s, const uint8_t *p, size_t len)
{
	size_t n = fuzz_put_chunk(s->b + s->n, sizeof s->b - s->n, p, len);
	if (n == 0)
		die("chunk does not fit");
	s->n += n;
}

/* ---- Opus frames: a tone, so the decoder sees real CELT and SILK data ---- */

struct opus_frames {
	uint8_t data[16][400];
	size_t len[16];
	int count;
};

static void encode_tone(int application, int frame, bool fec, struct opus_frames *out)
{
	int err;
	OpusEncoder *enc = opus_encoder_create(48000, 1, application, &err);
	if (!enc)
		die("opus_encoder_create");
	opus_encoder_ctl(enc, OPUS_SET_BITRATE(fec ? 24000 : 64000));
	if (fec) {
		opus_encoder_ctl(enc, OPUS_SET_INBAND_FEC(1));
		opus_encoder_ctl(enc, OPUS_SET_PACKET_LOSS_PERC(20));
	}
	float pcm[960];
	out->count = 16;
	for (int f = 0; f < out->count; f++) {
		for (int i = 0; i < frame; i++)
			pcm[i] = 0.3f * sinf(2.0f * 3.14159265f * 440.0f * (float)(f * frame + i) /
					     48000.0f);
		int n = opus_encode_float(enc, pcm, frame, out->data[f], sizeof out->data[f]);
		if (n < 0)
			die("opus_encode_float");
		out->len[f] = (size_t)n;
	}
	opus_encoder_destroy(enc);
}

/* ---- fuzz_rtp ---- */

static size_t rtp_packet(uint8_t *buf, uint16_t seq, const uint8_t *payload, size_t len)
{
	struct dm_rtp_header h = {
		.pt = DM_RTP_PT_OPUS, .seq = seq, .ts = 48000u + seq * 240u, .ssrc = FUZZ_SSRC};
	if (dm_rtp_write(&h, buf, DM_MAX_PACKET) != DM_RTP_HEADER_LEN)
		die("dm_rtp_write");
	memcpy(buf + DM_RTP_HEADER_LEN, payload, len);
	return DM_RTP_HEADER_LEN + len;
}

static void rtp_seeds(const struct opus_frames *celt)
{
	uint8_t buf[DM_MAX_PACKET];
	size_t n = rtp_packet(buf, 7, celt->data[3], celt->len[3]);
	save("rtp", "rtp-opus", buf, n);

	/* As dragoman sends it: with the RFC 6051 send time. */
	struct dm_rtp_header h = {.pt = DM_RTP_PT_OPUS, .seq = 8, .ts = 49920, .ssrc = FUZZ_SSRC};
	if (dm_rtp_write(&h, buf, sizeof buf) < 0 ||
	    dm_rtp_write_ntp_ext(buf, sizeof buf, DM_RTP_EXT_NTP_ID, 0xe5a1b2c3d4e5f607ull) < 0)
		die("dm_rtp_write_ntp_ext");
	n = DM_RTP_HEADER_LEN + DM_RTP_EXT_NTP_LEN;
	memcpy(buf + n, celt->data[4], celt->len[4]);
	save("rtp", "rtp-opus-ntp", buf, n + celt->len[4]);

	/* Two CSRCs, a header extension of two words, four bytes of padding. */
	static const uint8_t full[] = {
		0xb2, 0xef, 0x12, 0x34, 0x00, 0x01, 0x00, 0x00, 0x5e, 0xed, 0x12, 0x34, 0x00, 0x00,
		0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0xbe, 0xde, 0x00, 0x02, 0x10, 0xaa, 0x21, 0xbb,
		0xcc, 0x00, 0x00, 0x00, 0xf8, 0xff, 0xfe, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00, 0x04,
	};
	save("rtp", "rtp-csrc-ext-pad", full, sizeof full);

	struct dm_rtcp_sr sr = {FUZZ_SSRC, 0xe5a1b2c3d4e5f607ull, 123456, 70000, 9000000};
	int w = dm_rtcp_write_sr(&sr, "dragoman@127.0.0.1", buf, sizeof buf);
	if (w < 0)
		die("dm_rtcp_write_sr");
	save("rtp", "rtcp-sr-sdes", buf, (size_t)w);

	struct dm_rtcp_rr rr = {0x01020304, FUZZ_SSRC, 12, -3, 0x0001fff0, 80, 0x12345678, 655};
	w = dm_rtcp_write_rr(&rr, "listener", buf, sizeof buf);
	if (w < 0)
		die("dm_rtcp_write_rr");
	save("rtp", "rtcp-rr-sdes", buf, (size_t)w);

	/* SR with one report block, then a BYE with a reason, padded. */
	static const uint8_t sr_bye[] = {
		0x81, 0xc8, 0x00, 0x0c, 0x5e, 0xed, 0x12, 0x34, 0xe5, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5,
		0xf6, 0x07, 0x00, 0x01, 0xe2, 0x40, 0x00, 0x01, 0x11, 0x70, 0x00, 0x89, 0x54, 0x40,
		0x01, 0x02, 0x03, 0x04, 0x10, 0x00, 0x00, 0x05, 0x00, 0x01, 0xff, 0xf0, 0x00, 0x00,
		0x00, 0x50, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x02, 0x8f, 0xa1, 0xcb, 0x00, 0x03,
		0x5e, 0xed, 0x12, 0x34, 0x03, 'e',  'n',  'd',	0x00, 0x00, 0x00, 0x04,
	};
	save("rtp", "rtcp-sr-block-bye-padded", sr_bye, sizeof sr_bye);

	/* An APP packet alone. */
	static const uint8_t app[] = {
		0x80, 0xcc, 0x00, 0x03, 0x5e, 0xed, 0x12, 0x34,
		'd',  'r',  'g',  'm',	0x00, 0x00, 0x00, 0x2a,
	};
	save("rtp", "rtcp-app", app, sizeof app);
}

/* ---- protected packets ---- */

static struct dm_srtp *sender(enum dm_srtp_suite suite, uint32_t roc)
{
	struct dm_srtp *tx;
	if (dm_srtp_new(suite, DM_SRTP_SEND, FUZZ_SSRC, fuzz_key, &tx) < 0)
		die("dm_srtp_new");
	if (roc && dm_srtp_set_roc(tx, roc) < 0)
		die("dm_srtp_set_roc");
	return tx;
}

static size_t protect_rtp(struct dm_srtp *tx, uint8_t *buf, uint16_t seq, const uint8_t *payload,
			  size_t len)
{
	size_t n = rtp_packet(buf, seq, payload, len);
	if (dm_srtp_protect(tx, buf, &n, DM_MAX_PACKET) < 0)
		die("dm_srtp_protect");
	return n;
}

static size_t protect_sr(struct dm_srtp *tx, uint8_t *buf, uint32_t packets)
{
	struct dm_rtcp_sr sr = {FUZZ_SSRC, 0xe5a1b2c3d4e5f607ull, 123456, packets, packets * 80};
	int w = dm_rtcp_write_sr(&sr, "dragoman@127.0.0.1", buf, DM_MAX_PACKET);
	if (w < 0)
		die("dm_rtcp_write_sr");
	size_t n = (size_t)w;
	if (dm_srtp_protect_rtcp(tx, buf, &n, DM_MAX_PACKET) < 0)
		die("dm_srtp_protect_rtcp");
	return n;
}

/* fuzz_srtp's flags (fuzz_srtp.c). */
#define SRTP_RTCP 0x04
#define SRTP_FIND_ROC 0x08
#define SRTP_MULTI 0x10
#define SRTP_SET_ROC 0x20

static void srtp_seeds(const struct opus_frames *celt)
{
	static const char *names[] = {"aes-cm", "gcm128", "gcm256"};
	uint8_t pkt[DM_MAX_PACKET];
	char name[64];
	for (int suite = 0; suite < 3; suite++) {
		struct seed s = {.n = 0};
		struct dm_srtp *tx = sender((enum dm_srtp_suite)suite, 0);
		add_u8(&s, (uint8_t)suite);
		add(&s, pkt, protect_rtp(tx, pkt, 100, celt->data[0], celt->len[0]));
		snprintf(name, sizeof name, "rtp-%s", names[suite]);
		save("srtp", name, s.b, s.n);

		s.n = 0;
		add_u8(&s, (uint8_t)(suite | SRTP_RTCP));
		add(&s, pkt, protect_sr(tx, pkt, 1));
		snprintf(name, sizeof name, "rtcp-%s", names[suite]);
		save("srtp", name, s.b, s.n);

		/* A stream of several packets, a gap, a reordered one, a
		 * duplicate and a report, on one context. */
		s.n = 0;
		add_u8(&s, (uint8_t)(suite | SRTP_MULTI));
		static const uint16_t seqs[] = {200, 201, 202, 205, 204, 206};
		uint8_t chunk[DM_MAX_PACKET + 1];
		size_t n = 0;
		for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
			n = protect_rtp(tx, chunk + 1, seqs[i], celt->data[i], celt->len[i]);
			chunk[0] = 0;
			add_chunk(&s, chunk, n + 1);
		}
		add_chunk(&s, chunk, n + 1);
		chunk[0] = 0x01;
		add_chunk(&s, chunk, protect_sr(tx, chunk + 1, 7) + 1);
		snprintf(name, sizeof name, "multi-%s", names[suite]);
		save("srtp", name, s.b, s.n);
		dm_srtp_free(tx);

		/* A late joiner: the stream is past two wraps. */
		tx = sender((enum dm_srtp_suite)suite, 2);
		s.n = 0;
		add_u8(&s, (uint8_t)(suite | SRTP_FIND_ROC));
		add(&s, pkt, protect_rtp(tx, pkt, 40000, celt->data[1], celt->len[1]));
		snprintf(name, sizeof name, "find-roc-%s", names[suite]);
		save("srtp", name, s.b, s.n);

		s.n = 0;
		add_u8(&s, (uint8_t)(suite | SRTP_SET_ROC));
		static const uint8_t roc2[4] = {0, 0, 0, 2};
		add(&s, roc2, sizeof roc2);
		add(&s, pkt, protect_rtp(tx, pkt, 40001, celt->data[2], celt->len[2]));
		snprintf(name, sizeof name, "set-roc-%s", names[suite]);
		save("srtp", name, s.b, s.n);
		dm_srtp_free(tx);
	}
}

/* ---- fuzz_receiver ---- */

static void rx_raw_seeds(const struct opus_frames *celt)
{
	uint8_t pkt[DM_MAX_PACKET];
	struct seed s = {.n = 0};
	struct dm_srtp *tx = sender(DM_SRTP_AES_CM_128_HMAC_SHA1_80, 0);
	add_u8(&s, 0);
	add(&s, pkt, protect_rtp(tx, pkt, 300, celt->data[0], celt->len[0]));
	save("receiver", "raw-rtp", s.b, s.n);
	s.b[s.n - 1] ^= 0x01; /* the tag */
	save("receiver", "raw-rtp-forged", s.b, s.n);

	s.n = 0;
	add_u8(&s, 1);
	add(&s, pkt, protect_sr(tx, pkt, 70000));
	save("receiver", "raw-rtcp-sr", s.b, s.n);
	dm_srtp_free(tx);
}

/* One session packet chunk: kind and flags, argument, then bytes. */
static void session_chunk(struct seed *s, uint8_t flags, uint8_t arg, const uint8_t *p, size_t len)
{
	uint8_t chunk[DM_MAX_PACKET];
	if (len + 2 > sizeof chunk)
		die("session chunk too large");
	chunk[0] = flags;
	chunk[1] = arg;
	memcpy(chunk + 2, p, len);
	add_chunk(s, chunk, len + 2);
}

static void session_start(struct seed *s, uint8_t setup, uint16_t seq, uint32_t ts)
{
	s->n = 0;
	add_u8(s, 2);
	add_u8(s, setup);
	uint8_t b[6] = {(uint8_t)(seq >> 8), (uint8_t)seq,	 (uint8_t)(ts >> 24),
			(uint8_t)(ts >> 16), (uint8_t)(ts >> 8), (uint8_t)ts};
	add(s, b, sizeof b);
}

static void rx_session_seeds(const struct opus_frames *celt, const struct opus_frames *silk)
{
	struct seed s;
	static const uint8_t sr_count[8] = {0, 2, 0x00, 0x10, 0, 0, 0x10, 0};

	/* CELT 5 ms frames: in order, a gap, a reordered packet, a replay, a
	 * sender report, a corrupted packet, a marker. */
	session_start(&s, 0, 1000, 5000);
	for (int i = 0; i < 6; i++)
		session_chunk(&s, FUZZ_PKT_NEXT | FUZZ_PKT_NTP | (i == 0 ? FUZZ_PKT_MARKER : 0), 0,
			      celt->data[i], celt->len[i]);
	session_chunk(&s, FUZZ_PKT_JUMP, 2, celt->data[6], celt->len[6]);
	session_chunk(&s, FUZZ_PKT_JUMP, (uint8_t)-1, celt->data[7], celt->len[7]);
	session_chunk(&s, FUZZ_PKT_REPLAY, 0, NULL, 0);
	session_chunk(&s, FUZZ_PKT_JUMP, 2, celt->data[8], celt->len[8]);
	session_chunk(&s, FUZZ_PKT_RTCP, 0, sr_count, sizeof sr_count);
	session_chunk(&s, FUZZ_PKT_NEXT | FUZZ_PKT_CORRUPT, 20, celt->data[9], celt->len[9]);
	for (int i = 10; i < 16; i++)
		session_chunk(&s, FUZZ_PKT_NEXT, 0, celt->data[i], celt->len[i]);
	save("receiver", "session-celt", s.b, s.n);

	/* The same with an always-dry playout buffer: every gap concealed at once. */
	s.b[1] = FUZZ_RX_PLAYOUT;
	save("receiver", "session-celt-dry", s.b, s.n);

	/* SILK 20 ms frames with in-band FEC, losses concealed from the next
	 * packet's FEC data; AES-128-GCM; the sender two wraps in. */
	session_start(&s, FUZZ_RX_PLAYOUT | 2 << FUZZ_RX_ROC_SHIFT | 1 << FUZZ_RX_SUITE_SHIFT, 4000,
		      1);
	for (int i = 0; i < 16; i++)
		session_chunk(&s, (i % 4 == 3) ? FUZZ_PKT_JUMP : FUZZ_PKT_NEXT, 2, silk->data[i],
			      silk->len[i]);
	save("receiver", "session-silk-fec", s.b, s.n);

	/* Across a sequence number wrap, AES-256-GCM, a sender report first. */
	session_start(&s, 2 << FUZZ_RX_SUITE_SHIFT, 65530, 0xfffff000u);
	session_chunk(&s, FUZZ_PKT_RTCP, 0, sr_count, sizeof sr_count);
	for (int i = 0; i < 12; i++)
		session_chunk(&s, FUZZ_PKT_NEXT, 0, celt->data[i], celt->len[i]);
	save("receiver", "session-wrap", s.b, s.n);

	/* An RTCP compound of the input's own: SR with a block, then BYE. */
	static const uint8_t compound[] = {
		0x81, 0xc8, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0xe5, 0xa1, 0xb2, 0xc3,
		0xd4, 0xe5, 0xf6, 0x07, 0x00, 0x01, 0xe2, 0x40, 0x00, 0x01, 0x11, 0x70,
		0x00, 0x89, 0x54, 0x40, 0x01, 0x02, 0x03, 0x04, 0x10, 0x00, 0x00, 0x05,
		0x00, 0x01, 0xff, 0xf0, 0x00, 0x00, 0x00, 0x50, 0x12, 0x34, 0x56, 0x78,
		0x00, 0x00, 0x02, 0x8f, 0x81, 0xcb, 0x00, 0x01, 0x5e, 0xed, 0x12, 0x34,
	};
	session_start(&s, 0, 7, 7);
	session_chunk(&s, FUZZ_PKT_RTCP | FUZZ_PKT_RAW, 0, compound, sizeof compound);
	for (int i = 0; i < 4; i++)
		session_chunk(&s, FUZZ_PKT_NEXT, 0, celt->data[i], celt->len[i]);
	save("receiver", "session-rtcp-compound", s.b, s.n);
}

/* ---- fuzz_sdp ---- */

static void sdp_seeds(void)
{
	struct dm_sdp sdp = {
		.session = "Demo conference - Français",
		.channel_id = "fr",
		.language = "fr",
		.origin_addr = "127.0.0.1",
		.addr = "239.255.42.2",
		.ttl = 1,
		.port = 5004,
		.pt = DM_RTP_PT_OPUS,
		.ssrc = FUZZ_SSRC,
		.frame_samples = 240,
		.session_version = 3,
	};
	static const char *names[] = {"aes-cm.sdp", "gcm128.sdp", "gcm256.sdp"};
	char text[4096];
	for (int suite = 0; suite < 3; suite++) {
		sdp.suite = (enum dm_srtp_suite)suite;
		sdp.key_len = dm_srtp_key_len(sdp.suite);
		memcpy(sdp.key, fuzz_key, sdp.key_len);
		if (suite == 1) {
			/* 2.5 ms frames, unicast IPv6, no language. */
			snprintf(sdp.addr, sizeof sdp.addr, "::1");
			sdp.origin_addr[0] = '\0';
			sdp.language[0] = '\0';
			sdp.ttl = 0;
			sdp.frame_samples = 120;
		} else if (suite == 2) {
			snprintf(sdp.addr, sizeof sdp.addr, "10.1.2.3");
			sdp.frame_samples = 960;
		}
		int n = dm_sdp_write(&sdp, text, sizeof text);
		if (n < 0)
			die("dm_sdp_write");
		save("sdp", names[suite], text, (size_t)n);
	}

	/* Another writer's style: LF line ends, a video section first, the
	 * crypto line with lifetime and MKI, an unknown suite before it,
	 * session-level c=. */
	static const char foreign[] = "v=0\n"
				      "o=- 0 0 IN IP4 192.0.2.1\n"
				      "s=Other writer\n"
				      "c=IN IP4 239.1.2.3/16\n"
				      "t=0 0\n"
				      "m=video 6000 RTP/SAVP 96\n"
				      "a=rtpmap:96 H264/90000\n"
				      "m=audio 6002 RTP/SAVPF 0 111\n"
				      "a=rtpmap:0 PCMU/8000\n"
				      "a=rtpmap:111 opus/48000/2\n"
				      "a=fmtp:111 minptime=10;useinbandfec=1\n"
				      "a=ptime:20\n"
				      "a=ssrc:12345 cname:x\n"
				      "a=crypto:1 F8_128_HMAC_SHA1_80 "
				      "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:4\n"
				      "a=crypto:2 AES_CM_128_HMAC_SHA1_80 "
				      "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^31|1:1\n";
	save("sdp", "foreign.sdp", foreign, sizeof foreign - 1);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_gen_seeds <tests/fuzz/corpus>\n");
		return 2;
	}
	root = argv[1];
	struct opus_frames celt, silk;
	encode_tone(OPUS_APPLICATION_RESTRICTED_LOWDELAY, 240, false, &celt);
	encode_tone(OPUS_APPLICATION_VOIP, 960, true, &silk);
	rtp_seeds(&celt);
	srtp_seeds(&celt);
	rx_raw_seeds(&celt);
	rx_session_seeds(&celt, &silk);
	sdp_seeds();
	return 0;
}
