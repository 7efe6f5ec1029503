/* Unit tests of rtp.c: RTP header write/parse and RTCP compound packets. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dragoman/error.h"
#include "dragoman/rtp.h"

/* Parses a copy of the first n bytes in a buffer of exactly n bytes, so that
 * AddressSanitizer sees any read past the end. */
static int parse_exact(const uint8_t *pkt, size_t n, struct dm_rtp_header *h)
{
	uint8_t *copy = malloc(n ? n : 1);
	assert_non_null(copy);
	memcpy(copy, pkt, n);
	int rc = dm_rtp_parse(copy, n, h);
	free(copy);
	return rc;
}

static int rtcp_parse_exact(const uint8_t *pkt, size_t n, bool *has_sr, struct dm_rtcp_sr *sr,
			    bool *has_rr, struct dm_rtcp_rr *rr)
{
	uint8_t *copy = malloc(n ? n : 1);
	assert_non_null(copy);
	memcpy(copy, pkt, n);
	int rc = dm_rtcp_parse(copy, n, has_sr, sr, has_rr, rr);
	free(copy);
	return rc;
}

static void rtp_write_known_bytes(void **state)
{
	(void)state;
	struct dm_rtp_header h = {
		.pt = 111, .marker = true, .seq = 0x1234, .ts = 0xdeadbeef, .ssrc = 0x01020304};
	/* V=2 -> 0x80; marker | 111 -> 0x80 | 0x6f = 0xef */
	const uint8_t expect[] = {0x80, 0xef, 0x12, 0x34, 0xde, 0xad,
				  0xbe, 0xef, 0x01, 0x02, 0x03, 0x04};
	uint8_t buf[16];
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(dm_rtp_write(&h, buf, sizeof(buf)), DM_RTP_HEADER_LEN);
	assert_memory_equal(buf, expect, sizeof(expect));
	assert_int_equal(buf[12], 0xaa); /* nothing written past the header */

	h.marker = false;
	h.pt = 0;
	assert_int_equal(dm_rtp_write(&h, buf, DM_RTP_HEADER_LEN), DM_RTP_HEADER_LEN);
	assert_int_equal(buf[0], 0x80);
	assert_int_equal(buf[1], 0x00);
}

static void rtp_write_bad_args(void **state)
{
	(void)state;
	struct dm_rtp_header h = {.pt = 111};
	uint8_t buf[DM_RTP_HEADER_LEN];
	assert_int_equal(dm_rtp_write(NULL, buf, sizeof(buf)), DM_EINVAL);
	assert_int_equal(dm_rtp_write(&h, NULL, sizeof(buf)), DM_EINVAL);
	assert_int_equal(dm_rtp_write(&h, buf, DM_RTP_HEADER_LEN - 1), DM_ENOSPC);
	h.pt = 128;
	assert_int_equal(dm_rtp_write(&h, buf, sizeof(buf)), DM_EINVAL);
}

static void rtp_round_trip(void **state)
{
	(void)state;
	struct dm_rtp_header in = {
		.pt = 111, .marker = true, .seq = 65535, .ts = 4294967295u, .ssrc = 0x89abcdef};
	uint8_t pkt[DM_RTP_HEADER_LEN + 7] = {0};
	assert_int_equal(dm_rtp_write(&in, pkt, sizeof(pkt)), DM_RTP_HEADER_LEN);
	memcpy(pkt + DM_RTP_HEADER_LEN, "payload", 7);

	struct dm_rtp_header out;
	memset(&out, 0x55, sizeof(out));
	assert_int_equal(parse_exact(pkt, sizeof(pkt), &out), 0);
	assert_int_equal(out.pt, 111);
	assert_true(out.marker);
	assert_int_equal(out.seq, 65535);
	assert_int_equal(out.ts, 4294967295u);
	assert_int_equal(out.ssrc, 0x89abcdef);
	assert_int_equal(out.payload_off, DM_RTP_HEADER_LEN);
	assert_int_equal(out.payload_len, 7);

	/* a bare header is a valid packet with an empty payload */
	in.marker = false;
	assert_int_equal(dm_rtp_write(&in, pkt, sizeof(pkt)), DM_RTP_HEADER_LEN);
	assert_int_equal(parse_exact(pkt, DM_RTP_HEADER_LEN, &out), 0);
	assert_false(out.marker);
	assert_int_equal(out.payload_len, 0);
}

/* V=2 P X CC=2, PT 111, two CSRCs, one-word extension, 5 payload bytes,
 * 3 bytes of padding: 12 + 8 + 4 + 4 + 5 + 3 = 36. */
static const uint8_t full_pkt[] = {
	0xb2, 0x6f, 0x00, 0x07, 0x00, 0x00, 0x01, 0x00, 0xca, 0xfe, 0xba, 0xbe, /* header */
	0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22,				/* CSRCs */
	0xbe, 0xde, 0x00, 0x01, 0x10, 0xff, 0x00, 0x00,				/* extension */
	'h',  'e',  'l',  'l',	'o',						/* payload */
	0x00, 0x00, 0x03,							/* padding */
};

static void rtp_parse_csrc_ext_padding(void **state)
{
	(void)state;
	struct dm_rtp_header h;
	assert_int_equal(parse_exact(full_pkt, sizeof(full_pkt), &h), 0);
	assert_int_equal(h.pt, 111);
	assert_false(h.marker);
	assert_int_equal(h.seq, 7);
	assert_int_equal(h.ts, 256);
	assert_int_equal(h.ssrc, 0xcafebabe);
	assert_int_equal(h.payload_off, 28);
	assert_int_equal(h.payload_len, 5);
	assert_memory_equal(full_pkt + h.payload_off, "hello", 5);
}

static void rtp_parse_every_truncation(void **state)
{
	(void)state;
	/* the packet above without padding: then every prefix that still holds
	 * the whole header (CSRCs and extension) is a valid, shorter packet */
	uint8_t pkt[33];
	memcpy(pkt, full_pkt, sizeof(pkt));
	pkt[0] &= (uint8_t)~0x20;
	for (size_t n = 0; n <= sizeof(pkt); n++) {
		struct dm_rtp_header h = {.pt = 99};
		int rc = parse_exact(pkt, n, &h);
		if (n < 28) {
			assert_int_equal(rc, DM_EPROTO);
			assert_int_equal(h.pt, 99); /* untouched on failure */
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(h.payload_off, 28);
			assert_int_equal(h.payload_len, n - 28);
		}
	}
	/* with the padding bit, the whole packet's tail is a count: every
	 * prefix shorter than the header fails too */
	for (size_t n = 0; n < 28; n++) {
		struct dm_rtp_header h;
		assert_int_equal(parse_exact(full_pkt, n, &h), DM_EPROTO);
	}
}

static void rtp_parse_extension_overlong(void **state)
{
	(void)state;
	uint8_t pkt[sizeof(full_pkt)];
	memcpy(pkt, full_pkt, sizeof(pkt));
	pkt[22] = 0xff; /* extension length 0xff01 words: far past the end */
	struct dm_rtp_header h;
	assert_int_equal(parse_exact(pkt, sizeof(pkt), &h), DM_EPROTO);
	/* 15 CSRCs in a 36-byte packet */
	memcpy(pkt, full_pkt, sizeof(pkt));
	pkt[0] = 0x8f;
	assert_int_equal(parse_exact(pkt, sizeof(pkt), &h), DM_EPROTO);
}

static void rtp_parse_wrong_version(void **state)
{
	(void)state;
	uint8_t pkt[20] = {0x80, 0x6f};
	struct dm_rtp_header h;
	assert_int_equal(parse_exact(pkt, sizeof(pkt), &h), 0);
	for (uint8_t v = 0; v < 4; v++) {
		if (v == 2)
			continue;
		pkt[0] = (uint8_t)(v << 6);
		assert_int_equal(parse_exact(pkt, sizeof(pkt), &h), DM_EPROTO);
	}
}

static void rtp_parse_bad_padding(void **state)
{
	(void)state;
	uint8_t pkt[sizeof(full_pkt)];
	struct dm_rtp_header h;

	/* padding count larger than the payload (5 + 3 = 8 bytes after the header) */
	memcpy(pkt, full_pkt, sizeof(pkt));
	pkt[sizeof(pkt) - 1] = 9;
	assert_int_equal(parse_exact(pkt, sizeof(pkt), &h), DM_EPROTO);
	pkt[sizeof(pkt) - 1] = 255;
	assert_int_equal(parse_exact(pkt, sizeof(pkt), &h), DM_EPROTO);
	/* a zero count is impossible: the count includes itself */
	pkt[sizeof(pkt) - 1] = 0;
	assert_int_equal(parse_exact(pkt, sizeof(pkt), &h), DM_EPROTO);
	/* padding that is the whole payload: valid, empty payload */
	pkt[sizeof(pkt) - 1] = 8;
	assert_int_equal(parse_exact(pkt, sizeof(pkt), &h), 0);
	assert_int_equal(h.payload_len, 0);
	/* padding bit set but no byte after the header to hold the count */
	assert_int_equal(parse_exact(pkt, 28, &h), DM_EPROTO);
}

static void rtp_parse_bad_args(void **state)
{
	(void)state;
	struct dm_rtp_header h;
	assert_int_equal(dm_rtp_parse(NULL, 12, &h), DM_EINVAL);
	assert_int_equal(dm_rtp_parse(full_pkt, sizeof(full_pkt), NULL), DM_EINVAL);
}

static void rtp_is_rtcp(void **state)
{
	(void)state;
	uint8_t p[8] = {0x80, 0};
	const struct {
		uint8_t byte1;
		bool rtcp;
	} cases[] = {
		{200, true},  {201, true},   {202, true}, {203, true},
		{204, true},  {192, true},   {223, true}, {224, false}, /* PT 96 + marker */
		{191, false}, {0xef, false},				/* PT 111 + marker */
		{111, false}, {0, false},    {72, true}, /* PT 72: in the reserved range */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p[1] = cases[i].byte1;
		assert_int_equal(dm_rtp_is_rtcp(p, sizeof(p)), cases[i].rtcp);
	}
	p[1] = 200;
	assert_false(dm_rtp_is_rtcp(p, 1));
	assert_false(dm_rtp_is_rtcp(p, 0));
	assert_false(dm_rtp_is_rtcp(NULL, 8));

	uint8_t sr[64];
	struct dm_rtcp_sr s = {.ssrc = 1};
	assert_true(dm_rtcp_write_sr(&s, "x", sr, sizeof(sr)) > 0);
	assert_true(dm_rtp_is_rtcp(sr, sizeof(sr)));
}

static void rtp_seq_diff(void **state)
{
	(void)state;
	assert_int_equal(dm_seq_diff(65535, 0), 1);
	assert_int_equal(dm_seq_diff(0, 65535), -1);
	assert_int_equal(dm_seq_diff(65530, 4), 10);
	assert_int_equal(dm_seq_diff(100, 100), 0);
	assert_int_equal(dm_seq_diff(0, 32767), 32767);
	assert_int_equal(dm_seq_diff(0, 32768), -32768);
	assert_int_equal(dm_seq_diff(200, 100), -100);
}

static const struct dm_rtcp_sr sr_ref = {
	.ssrc = 0x11223344,
	.ntp = 0xe3b0c442a1b2c3d4ull,
	.rtp_ts = 0x55667788,
	.packet_count = 123456,
	.octet_count = 0xfedcba98,
};

static void rtp_rtcp_sr_round_trip(void **state)
{
	(void)state;
	uint8_t buf[128];
	memset(buf, 0xaa, sizeof(buf));
	/* 28 (SR) + 4 (SDES header) + 4 (SSRC) + 2 + 11 + 1 zero, padded to 16 */
	int n = dm_rtcp_write_sr(&sr_ref, "dragoman-en", buf, sizeof(buf));
	assert_int_equal(n, 52);
	const uint8_t sr_bytes[28] = {
		0x80, 200,  0x00, 0x06, 0x11, 0x22, 0x33, 0x44, 0xe3, 0xb0, 0xc4, 0x42, 0xa1, 0xb2,
		0xc3, 0xd4, 0x55, 0x66, 0x77, 0x88, 0x00, 0x01, 0xe2, 0x40, 0xfe, 0xdc, 0xba, 0x98,
	};
	assert_memory_equal(buf, sr_bytes, sizeof(sr_bytes));
	const uint8_t sdes_bytes[24] = {
		0x81, 202, 0x00, 0x05, 0x11, 0x22, 0x33, 0x44, 1,   11, 'd', 'r',
		'a',  'g', 'o',	 'm',  'a',  'n',  '-',	 'e',  'n', 0,	0,   0,
	};
	assert_memory_equal(buf + 28, sdes_bytes, sizeof(sdes_bytes));
	assert_int_equal(buf[52], 0xaa);

	bool has_sr = false, has_rr = true;
	struct dm_rtcp_sr sr;
	struct dm_rtcp_rr rr;
	assert_int_equal(rtcp_parse_exact(buf, (size_t)n, &has_sr, &sr, &has_rr, &rr), 0);
	assert_true(has_sr);
	assert_false(has_rr);
	assert_int_equal(sr.ssrc, sr_ref.ssrc);
	assert_true(sr.ntp == sr_ref.ntp);
	assert_int_equal(sr.rtp_ts, sr_ref.rtp_ts);
	assert_int_equal(sr.packet_count, sr_ref.packet_count);
	assert_int_equal(sr.octet_count, sr_ref.octet_count);

	/* either output pair may be NULL */
	assert_int_equal(rtcp_parse_exact(buf, (size_t)n, NULL, NULL, NULL, NULL), 0);
	assert_int_equal(rtcp_parse_exact(buf, (size_t)n, &has_sr, NULL, NULL, &rr), 0);
	assert_true(has_sr);
}

static void rtp_rtcp_cname_lengths(void **state)
{
	(void)state;
	struct dm_rtcp_sr sr = sr_ref;
	uint8_t buf[600];
	char cname[257];
	/* every length 1..255: the SDES chunk ends on a 32-bit boundary with at
	 * least one zero octet, and the result parses */
	for (size_t len = 1; len <= 255; len++) {
		memset(cname, 'c', len);
		cname[len] = '\0';
		int n = dm_rtcp_write_sr(&sr, cname, buf, sizeof(buf));
		size_t expect = 28 + 8 + ((2 + len + 1 + 3) / 4) * 4;
		assert_int_equal(n, expect);
		assert_int_equal(buf[28 + 9], len);
		assert_int_equal(buf[28 + 10 + len], 0);
		assert_int_equal(rtcp_parse_exact(buf, (size_t)n, NULL, NULL, NULL, NULL), 0);
		assert_int_equal(dm_rtcp_write_sr(&sr, cname, buf, expect - 1), DM_ENOSPC);
	}
	memset(cname, 'c', 256);
	cname[256] = '\0';
	assert_int_equal(dm_rtcp_write_sr(&sr, cname, buf, sizeof(buf)), DM_EINVAL);
	assert_int_equal(dm_rtcp_write_sr(&sr, "", buf, sizeof(buf)), DM_EINVAL);
	assert_int_equal(dm_rtcp_write_sr(&sr, NULL, buf, sizeof(buf)), DM_EINVAL);
	assert_int_equal(dm_rtcp_write_sr(NULL, "x", buf, sizeof(buf)), DM_EINVAL);
	assert_int_equal(dm_rtcp_write_sr(&sr, "x", NULL, sizeof(buf)), DM_EINVAL);
}

static void rtp_rtcp_rr_round_trip(void **state)
{
	(void)state;
	const int32_t losses[] = {0, 1, -1, -5, 8388607, -8388608, 1000};
	for (size_t i = 0; i < sizeof(losses) / sizeof(losses[0]); i++) {
		struct dm_rtcp_rr in = {
			.reporter_ssrc = 0xa1a2a3a4,
			.source_ssrc = 0xb1b2b3b4,
			.fraction_lost = 77,
			.cumulative_lost = losses[i],
			.highest_seq = 0x00030005,
			.jitter = 1234,
			.lsr = 0xc1c2c3c4,
			.dlsr = 65536,
		};
		uint8_t buf[128];
		int n = dm_rtcp_write_rr(&in, "rx", buf, sizeof(buf));
		assert_int_equal(n, 32 + 16);
		assert_int_equal(buf[0], 0x81);
		assert_int_equal(buf[1], 201);
		assert_int_equal(buf[3], 7);
		assert_int_equal(buf[12], 77);
		bool has_sr = true, has_rr = false;
		struct dm_rtcp_rr out;
		memset(&out, 0, sizeof(out));
		assert_int_equal(rtcp_parse_exact(buf, (size_t)n, &has_sr, NULL, &has_rr, &out), 0);
		assert_false(has_sr);
		assert_true(has_rr);
		assert_int_equal(out.reporter_ssrc, in.reporter_ssrc);
		assert_int_equal(out.source_ssrc, in.source_ssrc);
		assert_int_equal(out.fraction_lost, 77);
		assert_int_equal(out.cumulative_lost, losses[i]);
		assert_int_equal(out.highest_seq, in.highest_seq);
		assert_int_equal(out.jitter, in.jitter);
		assert_int_equal(out.lsr, in.lsr);
		assert_int_equal(out.dlsr, in.dlsr);
		if (losses[i] == -1) {
			assert_int_equal(buf[13], 0xff);
			assert_int_equal(buf[14], 0xff);
			assert_int_equal(buf[15], 0xff);
		}
	}
}

static void rtp_rtcp_rr_clamped(void **state)
{
	(void)state;
	struct dm_rtcp_rr in = {.reporter_ssrc = 1, .cumulative_lost = 10000000};
	uint8_t buf[64];
	struct dm_rtcp_rr out;
	bool has_rr;
	int n = dm_rtcp_write_rr(&in, "rx", buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(dm_rtcp_parse(buf, (size_t)n, NULL, NULL, &has_rr, &out), 0);
	assert_int_equal(out.cumulative_lost, 8388607);
	in.cumulative_lost = -10000000;
	n = dm_rtcp_write_rr(&in, "rx", buf, sizeof(buf));
	assert_int_equal(dm_rtcp_parse(buf, (size_t)n, NULL, NULL, &has_rr, &out), 0);
	assert_int_equal(out.cumulative_lost, -8388608);

	assert_int_equal(dm_rtcp_write_rr(NULL, "rx", buf, sizeof(buf)), DM_EINVAL);
	assert_int_equal(dm_rtcp_write_rr(&in, NULL, buf, sizeof(buf)), DM_EINVAL);
	assert_int_equal(dm_rtcp_write_rr(&in, "rx", NULL, sizeof(buf)), DM_EINVAL);
	assert_int_equal(dm_rtcp_write_rr(&in, "rx", buf, 47), DM_ENOSPC);
}

/* SR + SDES, BYE, APP, RR + SDES in one compound. */
static size_t build_compound(uint8_t *buf, size_t cap)
{
	size_t off = 0;
	int n = dm_rtcp_write_sr(&sr_ref, "dragoman-fr", buf, cap);
	assert_true(n > 0);
	off += (size_t)n;
	const uint8_t bye[8] = {0x81, 203, 0, 1, 0x11, 0x22, 0x33, 0x44};
	memcpy(buf + off, bye, sizeof(bye));
	off += sizeof(bye);
	const uint8_t app[16] = {0x85, 204, 0,	 3,   0x11, 0x22, 0x33, 0x44,
				 'T',  'E', 'S', 'T', 1,    2,	  3,	4};
	memcpy(buf + off, app, sizeof(app));
	off += sizeof(app);
	struct dm_rtcp_rr rr = {.reporter_ssrc = 0x99,
				.source_ssrc = 0x11223344,
				.cumulative_lost = -3,
				.jitter = 48};
	n = dm_rtcp_write_rr(&rr, "rx", buf + off, cap - off);
	assert_true(n > 0);
	return off + (size_t)n;
}

static void rtp_rtcp_compound_walk(void **state)
{
	(void)state;
	uint8_t buf[256];
	size_t len = build_compound(buf, sizeof(buf));
	assert_int_equal(len, 52 + 8 + 16 + 48);
	bool has_sr = false, has_rr = false;
	struct dm_rtcp_sr sr;
	struct dm_rtcp_rr rr;
	assert_int_equal(rtcp_parse_exact(buf, len, &has_sr, &sr, &has_rr, &rr), 0);
	assert_true(has_sr);
	assert_true(has_rr);
	assert_int_equal(sr.ssrc, 0x11223344);
	assert_int_equal(sr.packet_count, 123456);
	assert_int_equal(rr.reporter_ssrc, 0x99);
	assert_int_equal(rr.source_ssrc, 0x11223344);
	assert_int_equal(rr.cumulative_lost, -3);
	assert_int_equal(rr.jitter, 48);

	/* every truncation fails except those that end on a packet boundary */
	const size_t bounds[] = {28, 52, 60, 76, 108};
	for (size_t n = 0; n < len; n++) {
		bool boundary = false;
		for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++)
			boundary |= n == bounds[i];
		int rc = rtcp_parse_exact(buf, n, &has_sr, &sr, &has_rr, &rr);
		assert_int_equal(rc, boundary ? 0 : DM_EPROTO);
	}
	/* the SR alone: no report block yet */
	assert_int_equal(rtcp_parse_exact(buf, 28, &has_sr, &sr, &has_rr, &rr), 0);
	assert_true(has_sr);
	assert_false(has_rr);
}

static void rtp_rtcp_sr_with_block(void **state)
{
	(void)state;
	/* an SR with one report block (RC=1): the block is the rr */
	uint8_t buf[52] = {0};
	int n = dm_rtcp_write_sr(&sr_ref, "x", buf, sizeof(buf));
	assert_true(n > 0);
	buf[0] = 0x81;
	buf[3] = 12;
	const uint8_t block[24] = {0xb1, 0xb2, 0xb3, 0xb4, 10, 0xff, 0xff, 0xfe, 0, 1, 0, 2,
				   0,	 0,    0,    9,	   0,  0,    0,	   7,	 0, 0, 0, 8};
	memcpy(buf + 28, block, sizeof(block));
	bool has_sr, has_rr;
	struct dm_rtcp_sr sr;
	struct dm_rtcp_rr rr;
	assert_int_equal(rtcp_parse_exact(buf, sizeof(buf), &has_sr, &sr, &has_rr, &rr), 0);
	assert_true(has_sr);
	assert_true(has_rr);
	assert_int_equal(rr.reporter_ssrc, sr_ref.ssrc);
	assert_int_equal(rr.source_ssrc, 0xb1b2b3b4);
	assert_int_equal(rr.fraction_lost, 10);
	assert_int_equal(rr.cumulative_lost, -2);
	assert_int_equal(rr.highest_seq, 0x00010002);
	assert_int_equal(rr.jitter, 9);
	assert_int_equal(rr.lsr, 7);
	assert_int_equal(rr.dlsr, 8);
	/* RC says two blocks but the length holds one */
	buf[0] = 0x82;
	assert_int_equal(rtcp_parse_exact(buf, sizeof(buf), &has_sr, &sr, &has_rr, &rr), DM_EPROTO);
}

static void rtp_rtcp_first_wins(void **state)
{
	(void)state;
	/* two SRs and two RRs: the first of each is reported */
	uint8_t buf[256];
	size_t off = 0;
	struct dm_rtcp_sr sr = sr_ref;
	struct dm_rtcp_rr rr = {.reporter_ssrc = 0x10, .source_ssrc = 0x20, .jitter = 1};
	int n = dm_rtcp_write_rr(&rr, "a", buf + off, sizeof(buf) - off);
	off += (size_t)n;
	n = dm_rtcp_write_sr(&sr, "a", buf + off, sizeof(buf) - off);
	off += (size_t)n;
	sr.ssrc = 0x77;
	sr.packet_count = 1;
	n = dm_rtcp_write_sr(&sr, "b", buf + off, sizeof(buf) - off);
	off += (size_t)n;
	rr.reporter_ssrc = 0x30;
	rr.jitter = 2;
	n = dm_rtcp_write_rr(&rr, "b", buf + off, sizeof(buf) - off);
	off += (size_t)n;
	bool has_sr, has_rr;
	struct dm_rtcp_sr sr_out;
	struct dm_rtcp_rr rr_out;
	assert_int_equal(rtcp_parse_exact(buf, off, &has_sr, &sr_out, &has_rr, &rr_out), 0);
	assert_true(has_sr && has_rr);
	assert_int_equal(sr_out.ssrc, sr_ref.ssrc);
	assert_int_equal(sr_out.packet_count, sr_ref.packet_count);
	assert_int_equal(rr_out.reporter_ssrc, 0x10);
	assert_int_equal(rr_out.jitter, 1);
}

static void rtp_rtcp_bad_lengths(void **state)
{
	(void)state;
	uint8_t buf[256] = {0};
	size_t len = build_compound(buf, sizeof(buf));
	bool has_sr = true, has_rr = true;

	/* length of the BYE (at 52) one word too long: it swallows the APP header
	 * and the walk lands in the middle of a packet */
	buf[55] = 2;
	assert_int_equal(rtcp_parse_exact(buf, len, &has_sr, NULL, &has_rr, NULL), DM_EPROTO);
	/* the first packet's length reaching past the end */
	len = build_compound(buf, sizeof(buf));
	buf[2] = 0xff;
	buf[3] = 0xff;
	assert_int_equal(rtcp_parse_exact(buf, len, NULL, NULL, NULL, NULL), DM_EPROTO);
	/* the last packet one word past the end */
	len = build_compound(buf, sizeof(buf));
	buf[len - 16 + 3] += 1;
	assert_int_equal(rtcp_parse_exact(buf, len, NULL, NULL, NULL, NULL), DM_EPROTO);
	/* an SR whose length is too short for the sender info */
	len = build_compound(buf, sizeof(buf));
	uint8_t short_sr[24];
	memcpy(short_sr, buf, sizeof(short_sr));
	short_sr[3] = 5;
	assert_int_equal(rtcp_parse_exact(short_sr, sizeof(short_sr), NULL, NULL, NULL, NULL),
			 DM_EPROTO);
	/* an RR whose RC says one block but whose length holds none */
	const uint8_t short_rr[8] = {0x81, 201, 0, 1, 0, 0, 0, 9};
	assert_int_equal(rtcp_parse_exact(short_rr, sizeof(short_rr), NULL, NULL, NULL, NULL),
			 DM_EPROTO);
	/* the same RR with RC 0 is valid and has no block */
	uint8_t empty_rr[8] = {0x80, 201, 0, 1, 0, 0, 0, 9};
	assert_int_equal(rtcp_parse_exact(empty_rr, sizeof(empty_rr), &has_sr, NULL, &has_rr, NULL),
			 0);
	assert_false(has_sr);
	assert_false(has_rr);
	/* trailing bytes that are not a whole packet */
	assert_int_equal(rtcp_parse_exact(buf, len + 2, NULL, NULL, NULL, NULL), DM_EPROTO);
	/* outputs untouched on failure */
	has_sr = true;
	assert_int_equal(rtcp_parse_exact(buf, 3, &has_sr, NULL, NULL, NULL), DM_EPROTO);
	assert_true(has_sr);
}

static void rtp_rtcp_bad_version_padding(void **state)
{
	(void)state;
	uint8_t buf[256];
	size_t len = build_compound(buf, sizeof(buf));
	/* wrong version on the BYE in the middle */
	buf[52] = 0x41;
	assert_int_equal(rtcp_parse_exact(buf, len, NULL, NULL, NULL, NULL), DM_EPROTO);
	buf[52] = 0xc1;
	assert_int_equal(rtcp_parse_exact(buf, len, NULL, NULL, NULL, NULL), DM_EPROTO);

	/* padding on a packet that is not the last (with a count that would
	 * otherwise fit: the BYE's 4 bytes after its header) */
	len = build_compound(buf, sizeof(buf));
	buf[52] |= 0x20;
	buf[59] = 4;
	assert_int_equal(rtcp_parse_exact(buf, len, NULL, NULL, NULL, NULL), DM_EPROTO);

	/* padding on the last packet: SR (28) + 4 bytes of padding, count 4 */
	uint8_t p[32] = {0};
	assert_true(dm_rtcp_write_sr(&sr_ref, "x", buf, sizeof(buf)) > 0);
	memcpy(p, buf, 28);
	p[0] |= 0x20;
	p[3] = 7;
	p[31] = 4;
	bool has_sr = false;
	assert_int_equal(rtcp_parse_exact(p, sizeof(p), &has_sr, NULL, NULL, NULL), 0);
	assert_true(has_sr);
	/* a padding count that eats into the sender info, or is zero */
	p[31] = 8;
	assert_int_equal(rtcp_parse_exact(p, sizeof(p), NULL, NULL, NULL, NULL), DM_EPROTO);
	p[31] = 0;
	assert_int_equal(rtcp_parse_exact(p, sizeof(p), NULL, NULL, NULL, NULL), DM_EPROTO);
	p[31] = 200;
	assert_int_equal(rtcp_parse_exact(p, sizeof(p), NULL, NULL, NULL, NULL), DM_EPROTO);

	assert_int_equal(dm_rtcp_parse(NULL, 8, NULL, NULL, NULL, NULL), DM_EINVAL);
}

static void rtp_ntp_now(void **state)
{
	(void)state;
	struct timespec ts;
	assert_int_equal(clock_gettime(CLOCK_REALTIME, &ts), 0);
	uint64_t a = dm_ntp_now();
	uint64_t b = dm_ntp_now();
	uint32_t expect = (uint32_t)((uint64_t)ts.tv_sec + 2208988800u);
	uint32_t sec = (uint32_t)(a >> 32);
	assert_true(sec - expect <= 1);
	assert_true(b >= a || (b >> 32) < 10); /* allow the 2036 era wrap */
	/* the fraction is 1/2^32 s: the nanoseconds come back within a few */
	double frac = (double)(uint32_t)a / 4294967296.0;
	assert_true(frac >= 0.0 && frac < 1.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rtp_write_known_bytes),
		cmocka_unit_test(rtp_write_bad_args),
		cmocka_unit_test(rtp_round_trip),
		cmocka_unit_test(rtp_parse_csrc_ext_padding),
		cmocka_unit_test(rtp_parse_every_truncation),
		cmocka_unit_test(rtp_parse_extension_overlong),
		cmocka_unit_test(rtp_parse_wrong_version),
		cmocka_unit_test(rtp_parse_bad_padding),
		cmocka_unit_test(rtp_parse_bad_args),
		cmocka_unit_test(rtp_is_rtcp),
		cmocka_unit_test(rtp_seq_diff),
		cmocka_unit_test(rtp_rtcp_sr_round_trip),
		cmocka_unit_test(rtp_rtcp_cname_lengths),
		cmocka_unit_test(rtp_rtcp_rr_round_trip),
		cmocka_unit_test(rtp_rtcp_rr_clamped),
		cmocka_unit_test(rtp_rtcp_compound_walk),
		cmocka_unit_test(rtp_rtcp_sr_with_block),
		cmocka_unit_test(rtp_rtcp_first_wins),
		cmocka_unit_test(rtp_rtcp_bad_lengths),
		cmocka_unit_test(rtp_rtcp_bad_version_padding),
		cmocka_unit_test(rtp_ntp_now),
	};
	return cmocka_run_group_tests_name("rtp", tests, NULL, NULL);
}
