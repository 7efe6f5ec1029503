/* Unit tests of src/net/srtp.c: SRTP/SRTCP round trips with libsrtp2, rejection of forged,
 * replayed, truncated and foreign packets, and the rollover counter (ROC) of late joiners.
 *
 * What these tests pin down about libsrtp 2.5.0 (Debian 12), through dm_srtp:
 * - a ROC set before the first packet applies to it, on a sender and on a receiver;
 * - a failed trial (wrong ROC) does not harm the stream; dm_srtp_find_roc does not consume the
 *   packet it examines (the real unprotect that follows is not a replay);
 * - after the ROC is set the index estimate follows the sequence across a wrap (ROC + 1);
 * - SRTCP carries its index, so a fresh receiver needs nothing to decrypt it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "dragoman/defaults.h"
#include "dragoman/error.h"
#include "dragoman/srtp.h"

#define SSRC 0x5eed1234u
#define PAYLOAD_LEN 80

static const enum dm_srtp_suite all_suites[] = {
	DM_SRTP_AES_CM_128_HMAC_SHA1_80,
	DM_SRTP_AEAD_AES_128_GCM,
	DM_SRTP_AEAD_AES_256_GCM,
};
#define N_SUITES (sizeof all_suites / sizeof all_suites[0])

static void fill_key(uint8_t *key, uint8_t seed)
{
	for (size_t i = 0; i < DM_SRTP_MAX_KEY_LEN; i++)
		key[i] = (uint8_t)(seed + 31 * i);
}

static struct dm_srtp *new_ctx(enum dm_srtp_suite suite, enum dm_srtp_dir dir, uint32_t ssrc,
			       uint8_t seed)
{
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	struct dm_srtp *s = NULL;
	fill_key(key, seed);
	assert_int_equal(dm_srtp_new(suite, dir, ssrc, key, &s), 0);
	assert_non_null(s);
	return s;
}

/* An RTP packet (12-byte header, PT 111) with a recognisable payload; returns its length. */
static size_t make_rtp(uint8_t *buf, uint16_t seq, uint32_t ssrc)
{
	memset(buf, 0, DM_MAX_PACKET);
	buf[0] = 0x80;
	buf[1] = DM_RTP_PT_OPUS;
	buf[2] = (uint8_t)(seq >> 8);
	buf[3] = (uint8_t)seq;
	buf[4] = 0x01; /* timestamp */
	buf[5] = 0x02;
	buf[6] = (uint8_t)(seq >> 8);
	buf[7] = (uint8_t)seq;
	buf[8] = (uint8_t)(ssrc >> 24);
	buf[9] = (uint8_t)(ssrc >> 16);
	buf[10] = (uint8_t)(ssrc >> 8);
	buf[11] = (uint8_t)ssrc;
	for (size_t i = 0; i < PAYLOAD_LEN; i++)
		buf[12 + i] = (uint8_t)(i ^ seq);
	return 12 + PAYLOAD_LEN;
}

/* An RTCP sender report (28 bytes, no report blocks) of ssrc. */
static size_t make_rtcp(uint8_t *buf, uint32_t ssrc, uint32_t count)
{
	memset(buf, 0, DM_MAX_PACKET);
	buf[0] = 0x80;
	buf[1] = 200;
	buf[3] = 6;
	buf[4] = (uint8_t)(ssrc >> 24);
	buf[5] = (uint8_t)(ssrc >> 16);
	buf[6] = (uint8_t)(ssrc >> 8);
	buf[7] = (uint8_t)ssrc;
	for (size_t i = 8; i < 28; i++)
		buf[i] = (uint8_t)(i + count);
	return 28;
}

/* Protects seq on tx into buf; returns the protected length. */
static size_t sealed_rtp(struct dm_srtp *tx, uint8_t *buf, uint16_t seq)
{
	size_t len = make_rtp(buf, seq, SSRC);
	assert_int_equal(dm_srtp_protect(tx, buf, &len, DM_MAX_PACKET), 0);
	return len;
}

static int open_copy(struct dm_srtp *rx, const uint8_t *pkt, size_t len)
{
	_Alignas(16) uint8_t copy[DM_MAX_PACKET];
	memcpy(copy, pkt, len);
	return dm_srtp_unprotect(rx, copy, &len);
}

static void srtp_suites(void **state)
{
	(void)state;
	assert_int_equal(dm_srtp_key_len(DM_SRTP_AES_CM_128_HMAC_SHA1_80), 30);
	assert_int_equal(dm_srtp_key_len(DM_SRTP_AEAD_AES_128_GCM), 28);
	assert_int_equal(dm_srtp_key_len(DM_SRTP_AEAD_AES_256_GCM), 44);
	assert_int_equal(dm_srtp_key_len((enum dm_srtp_suite)7), 0);
	assert_int_equal(dm_srtp_key_len((enum dm_srtp_suite) - 1), 0);
	assert_string_equal(dm_srtp_suite_name(DM_SRTP_AES_CM_128_HMAC_SHA1_80),
			    "AES_CM_128_HMAC_SHA1_80");
	assert_string_equal(dm_srtp_suite_name(DM_SRTP_AEAD_AES_128_GCM), "AEAD_AES_128_GCM");
	assert_string_equal(dm_srtp_suite_name(DM_SRTP_AEAD_AES_256_GCM), "AEAD_AES_256_GCM");
	assert_null(dm_srtp_suite_name((enum dm_srtp_suite)3));
	assert_null(dm_srtp_suite_name((enum dm_srtp_suite) - 1));
	for (size_t i = 0; i < N_SUITES; i++) {
		enum dm_srtp_suite parsed = (enum dm_srtp_suite)99;
		assert_int_equal(dm_srtp_suite_parse(dm_srtp_suite_name(all_suites[i]), &parsed),
				 0);
		assert_int_equal(parsed, all_suites[i]);
	}
	assert_string_equal(dm_srtp_suite_name(DM_SRTP_AES_CM_128_HMAC_SHA1_80),
			    DM_DEFAULT_SRTP_SUITE);
	enum dm_srtp_suite s = DM_SRTP_AEAD_AES_128_GCM;
	assert_int_equal(dm_srtp_suite_parse("aes_cm_128_hmac_sha1_80", &s), DM_EINVAL);
	assert_int_equal(dm_srtp_suite_parse("AES_CM_128_HMAC_SHA1_32", &s), DM_EINVAL);
	assert_int_equal(dm_srtp_suite_parse("", &s), DM_EINVAL);
	/* Every suite runs on OpenSSL (src/net/srtp_ossl.c); "libsrtp" would mean a
	 * replacement failed and packets cost 2-6x as much. */
	assert_string_equal(dm_srtp_crypto_name(), "OpenSSL");
	assert_int_equal(s, DM_SRTP_AEAD_AES_128_GCM);
	assert_int_equal(dm_srtp_suite_parse(NULL, &s), DM_EINVAL);
	assert_int_equal(dm_srtp_suite_parse("AEAD_AES_128_GCM", NULL), DM_EINVAL);
}

static void round_trip(enum dm_srtp_suite suite, size_t rtp_tag, size_t rtcp_trailer)
{
	struct dm_srtp *tx = new_ctx(suite, DM_SRTP_SEND, SSRC, 1);
	struct dm_srtp *rx = new_ctx(suite, DM_SRTP_RECV, SSRC, 1);
	_Alignas(16) uint8_t buf[DM_MAX_PACKET], plain[DM_MAX_PACKET];

	for (uint16_t seq = 1000; seq < 1010; seq++) {
		size_t plain_len = make_rtp(plain, seq, SSRC);
		size_t len = make_rtp(buf, seq, SSRC);
		assert_int_equal(dm_srtp_protect(tx, buf, &len, sizeof buf), 0);
		assert_int_equal(len, plain_len + rtp_tag);
		assert_memory_equal(buf, plain, 12); /* the header stays in clear */
		assert_memory_not_equal(buf + 12, plain + 12, PAYLOAD_LEN);
		assert_int_equal(dm_srtp_unprotect(rx, buf, &len), 0);
		assert_int_equal(len, plain_len);
		assert_memory_equal(buf, plain, plain_len);
	}

	for (uint32_t i = 0; i < 3; i++) {
		size_t plain_len = make_rtcp(plain, SSRC, i);
		size_t len = make_rtcp(buf, SSRC, i);
		assert_int_equal(dm_srtp_protect_rtcp(tx, buf, &len, sizeof buf), 0);
		assert_int_equal(len, plain_len + rtcp_trailer);
		assert_memory_not_equal(buf + 8, plain + 8, plain_len - 8);
		assert_int_equal(dm_srtp_unprotect_rtcp(rx, buf, &len), 0);
		assert_int_equal(len, plain_len);
		assert_memory_equal(buf, plain, plain_len);
	}
	dm_srtp_free(tx);
	dm_srtp_free(rx);
}

static void srtp_round_trip_aes_cm_128_hmac_sha1_80(void **state)
{
	(void)state;
	round_trip(DM_SRTP_AES_CM_128_HMAC_SHA1_80, 10, 4 + 10);
}

/* Debian 12's libsrtp2 is built against NSS and has the GCM suites. */
static void srtp_round_trip_aead_aes_128_gcm(void **state)
{
	(void)state;
	round_trip(DM_SRTP_AEAD_AES_128_GCM, 16, 4 + 16);
}

static void srtp_round_trip_aead_aes_256_gcm(void **state)
{
	(void)state;
	round_trip(DM_SRTP_AEAD_AES_256_GCM, 16, 4 + 16);
}

static void srtp_tampered(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_SUITES; k++) {
		struct dm_srtp *tx = new_ctx(all_suites[k], DM_SRTP_SEND, SSRC, 2);
		struct dm_srtp *rx = new_ctx(all_suites[k], DM_SRTP_RECV, SSRC, 2);
		_Alignas(16) uint8_t buf[DM_MAX_PACKET];
		size_t len = sealed_rtp(tx, buf, 7);
		/* a flipped bit in the header, the payload or the tag */
		const size_t at[] = {1, 5, 20, len - 1};
		for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
			buf[at[i]] ^= 0x01;
			assert_int_equal(open_copy(rx, buf, len), DM_EAUTH);
			buf[at[i]] ^= 0x01;
		}
		/* the rejected attempts did not harm the stream */
		assert_int_equal(open_copy(rx, buf, len), 0);

		len = make_rtcp(buf, SSRC, 0);
		assert_int_equal(dm_srtp_protect_rtcp(tx, buf, &len, sizeof buf), 0);
		buf[12] ^= 0x80;
		assert_int_equal(dm_srtp_unprotect_rtcp(rx, buf, &len), DM_EAUTH);
		dm_srtp_free(tx);
		dm_srtp_free(rx);
	}
}

static void srtp_wrong_key(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_SUITES; k++) {
		struct dm_srtp *tx = new_ctx(all_suites[k], DM_SRTP_SEND, SSRC, 3);
		struct dm_srtp *rx = new_ctx(all_suites[k], DM_SRTP_RECV, SSRC, 4);
		_Alignas(16) uint8_t buf[DM_MAX_PACKET];
		size_t len = sealed_rtp(tx, buf, 7);
		assert_int_equal(open_copy(rx, buf, len), DM_EAUTH);
		len = make_rtcp(buf, SSRC, 0);
		assert_int_equal(dm_srtp_protect_rtcp(tx, buf, &len, sizeof buf), 0);
		assert_int_equal(dm_srtp_unprotect_rtcp(rx, buf, &len), DM_EAUTH);
		dm_srtp_free(tx);
		dm_srtp_free(rx);
	}
}

static void srtp_replay(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_SUITES; k++) {
		struct dm_srtp *tx = new_ctx(all_suites[k], DM_SRTP_SEND, SSRC, 5);
		struct dm_srtp *rx = new_ctx(all_suites[k], DM_SRTP_RECV, SSRC, 5);
		_Alignas(16) uint8_t first[DM_MAX_PACKET], buf[DM_MAX_PACKET];
		size_t first_len = sealed_rtp(tx, first, 100);
		assert_int_equal(open_copy(rx, first, first_len), 0);
		assert_int_equal(open_copy(rx, first, first_len), DM_EREPLAY);
		/* far ahead: the first packet falls out of the 1024-packet window */
		for (uint16_t seq = 101; seq < 101 + 1100; seq++) {
			size_t len = sealed_rtp(tx, buf, seq);
			assert_int_equal(open_copy(rx, buf, len), 0);
		}
		assert_int_equal(open_copy(rx, first, first_len), DM_EREPLAY);

		size_t len = make_rtcp(buf, SSRC, 0);
		assert_int_equal(dm_srtp_protect_rtcp(tx, buf, &len, sizeof buf), 0);
		memcpy(first, buf, len);
		size_t l2 = len;
		assert_int_equal(dm_srtp_unprotect_rtcp(rx, buf, &len), 0);
		assert_int_equal(dm_srtp_unprotect_rtcp(rx, first, &l2), DM_EREPLAY);
		dm_srtp_free(tx);
		dm_srtp_free(rx);
	}
}

static void srtp_truncated(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_SUITES; k++) {
		size_t tag = all_suites[k] == DM_SRTP_AES_CM_128_HMAC_SHA1_80 ? 10 : 16;
		struct dm_srtp *tx = new_ctx(all_suites[k], DM_SRTP_SEND, SSRC, 6);
		struct dm_srtp *rx = new_ctx(all_suites[k], DM_SRTP_RECV, SSRC, 6);
		_Alignas(16) uint8_t buf[DM_MAX_PACKET];
		size_t full = sealed_rtp(tx, buf, 9);
		size_t len;

		len = 0;
		assert_int_equal(dm_srtp_unprotect(rx, buf, &len), DM_EPROTO);
		len = 11; /* shorter than the fixed header */
		assert_int_equal(dm_srtp_unprotect(rx, buf, &len), DM_EPROTO);
		assert_int_equal(len, 11);
		len = 12 + tag - 1; /* header, but not even a whole tag */
		assert_int_equal(dm_srtp_unprotect(rx, buf, &len), DM_EPROTO);
		len = full - 1; /* one byte short: the tag no longer matches */
		assert_int_equal(open_copy(rx, buf, len), DM_EAUTH);

		/* a header that claims CSRCs or an extension that are not there */
		_Alignas(16) uint8_t bad[DM_MAX_PACKET];
		memcpy(bad, buf, full);
		bad[0] = 0x8f; /* 15 CSRCs: 72 header bytes */
		len = 12 + 60 + tag - 1;
		assert_int_equal(dm_srtp_unprotect(rx, bad, &len), DM_EPROTO);
		memcpy(bad, buf, full);
		bad[0] = 0x90; /* extension of 0xffff words */
		bad[14] = 0xff;
		bad[15] = 0xff;
		len = full;
		assert_int_equal(dm_srtp_unprotect(rx, bad, &len), DM_EPROTO);
		memcpy(bad, buf, full);
		bad[0] = 0x40; /* RTP version 1 */
		len = full;
		assert_int_equal(dm_srtp_unprotect(rx, bad, &len), DM_EPROTO);
		/* the stream still takes the genuine packet */
		assert_int_equal(open_copy(rx, buf, full), 0);

		len = make_rtcp(buf, SSRC, 0);
		assert_int_equal(dm_srtp_protect_rtcp(tx, buf, &len, sizeof buf), 0);
		size_t short_len = 8 + 4 + tag - 1;
		assert_int_equal(dm_srtp_unprotect_rtcp(rx, buf, &short_len), DM_EPROTO);
		short_len = 7;
		assert_int_equal(dm_srtp_unprotect_rtcp(rx, buf, &short_len), DM_EPROTO);
		assert_int_equal(dm_srtp_unprotect_rtcp(rx, buf, &len), 0);
		dm_srtp_free(tx);
		dm_srtp_free(rx);
	}
}

/* A stream knows one SSRC: a packet of another (even under the same key) is not one of
 * its packets: DM_EPROTO, before any authentication. */
static void srtp_other_ssrc(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_SUITES; k++) {
		struct dm_srtp *tx = new_ctx(all_suites[k], DM_SRTP_SEND, SSRC + 1, 7);
		struct dm_srtp *rx = new_ctx(all_suites[k], DM_SRTP_RECV, SSRC, 7);
		_Alignas(16) uint8_t buf[DM_MAX_PACKET];
		size_t len = make_rtp(buf, 5, SSRC + 1);
		assert_int_equal(dm_srtp_protect(tx, buf, &len, sizeof buf), 0);
		assert_int_equal(open_copy(rx, buf, len), DM_EPROTO);
		uint32_t roc = 77;
		assert_int_equal(dm_srtp_find_roc(rx, buf, len, NULL, 0, 4, &roc), DM_EPROTO);
		assert_int_equal(roc, 77);

		len = make_rtcp(buf, SSRC + 1, 0);
		assert_int_equal(dm_srtp_protect_rtcp(tx, buf, &len, sizeof buf), 0);
		assert_int_equal(dm_srtp_unprotect_rtcp(rx, buf, &len), DM_EPROTO);

		/* and a sender refuses to protect a packet of another SSRC */
		len = make_rtp(buf, 6, SSRC);
		assert_int_equal(dm_srtp_protect(tx, buf, &len, sizeof buf), DM_EINVAL);
		dm_srtp_free(tx);
		dm_srtp_free(rx);
	}
}

/* (a) and (b): a ROC set before the first packet is the packet's ROC, on both ends. */
static void srtp_roc_before_first_packet(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_SUITES; k++) {
		struct dm_srtp *tx = new_ctx(all_suites[k], DM_SRTP_SEND, SSRC, 8);
		uint32_t roc = 99;
		assert_int_equal(dm_srtp_get_roc(tx, &roc), 0);
		assert_int_equal(roc, 0);
		assert_int_equal(dm_srtp_set_roc(tx, 3), 0);
		assert_int_equal(dm_srtp_get_roc(tx, &roc), 0);
		assert_int_equal(roc, 3);
		_Alignas(16) uint8_t buf[DM_MAX_PACKET];
		size_t len = sealed_rtp(tx, buf, 100);
		assert_int_equal(dm_srtp_get_roc(tx, &roc), 0);
		assert_int_equal(roc, 3);
		/* a sender's index never moves once packets are out */
		assert_int_equal(dm_srtp_set_roc(tx, 4), DM_EINVAL);

		struct dm_srtp *rx0 = new_ctx(all_suites[k], DM_SRTP_RECV, SSRC, 8);
		assert_int_equal(open_copy(rx0, buf, len), DM_EAUTH); /* assumes ROC 0 */
		struct dm_srtp *rx3 = new_ctx(all_suites[k], DM_SRTP_RECV, SSRC, 8);
		assert_int_equal(dm_srtp_set_roc(rx3, 3), 0);
		assert_int_equal(dm_srtp_get_roc(rx3, &roc), 0);
		assert_int_equal(roc, 3);
		assert_int_equal(open_copy(rx3, buf, len), 0);
		assert_int_equal(dm_srtp_get_roc(rx3, &roc), 0);
		assert_int_equal(roc, 3);
		/* (c) the failed attempt left rx0 usable: the right ROC now works */
		assert_int_equal(dm_srtp_set_roc(rx0, 2), 0);
		assert_int_equal(open_copy(rx0, buf, len), DM_EAUTH);
		assert_int_equal(dm_srtp_set_roc(rx0, 3), 0);
		assert_int_equal(open_copy(rx0, buf, len), 0);
		dm_srtp_free(tx);
		dm_srtp_free(rx0);
		dm_srtp_free(rx3);
	}
}

/* (d): once set, the ROC follows the sequence number across a wrap, on both ends. */
static void srtp_roc_wraps(void **state)
{
	(void)state;
	struct dm_srtp *tx = new_ctx(DM_SRTP_AES_CM_128_HMAC_SHA1_80, DM_SRTP_SEND, SSRC, 9);
	struct dm_srtp *rx = new_ctx(DM_SRTP_AES_CM_128_HMAC_SHA1_80, DM_SRTP_RECV, SSRC, 9);
	assert_int_equal(dm_srtp_set_roc(tx, 41), 0);
	assert_int_equal(dm_srtp_set_roc(rx, 41), 0);
	_Alignas(16) uint8_t buf[DM_MAX_PACKET];
	uint32_t roc;
	for (uint32_t i = 65500; i < 65536 + 40; i++) {
		size_t len = sealed_rtp(tx, buf, (uint16_t)i);
		assert_int_equal(open_copy(rx, buf, len), 0);
		assert_int_equal(dm_srtp_get_roc(rx, &roc), 0);
		assert_int_equal(roc, i < 65536 ? 41 : 42);
	}
	assert_int_equal(dm_srtp_get_roc(tx, &roc), 0);
	assert_int_equal(roc, 42);
	dm_srtp_free(tx);
	dm_srtp_free(rx);
}

/* Setting the ROC of a receive stream that already has packets restarts it there (libsrtp
 * alone would ignore 0 and get stuck on a ROC behind its state). */
static void srtp_roc_set_on_used_stream(void **state)
{
	(void)state;
	struct dm_srtp *rx = new_ctx(DM_SRTP_AES_CM_128_HMAC_SHA1_80, DM_SRTP_RECV, SSRC, 10);
	_Alignas(16) uint8_t buf[DM_MAX_PACKET];
	const uint32_t rocs[] = {3, 2, 0, 0, 7};
	for (size_t i = 0; i < sizeof rocs / sizeof rocs[0]; i++) {
		struct dm_srtp *tx =
			new_ctx(DM_SRTP_AES_CM_128_HMAC_SHA1_80, DM_SRTP_SEND, SSRC, 10);
		assert_int_equal(dm_srtp_set_roc(tx, rocs[i]), 0);
		assert_int_equal(dm_srtp_set_roc(rx, rocs[i]), 0);
		for (uint16_t seq = 1000; seq < 1003; seq++) {
			size_t len = sealed_rtp(tx, buf, seq);
			assert_int_equal(open_copy(rx, buf, len), 0);
		}
		uint32_t roc;
		assert_int_equal(dm_srtp_get_roc(rx, &roc), 0);
		assert_int_equal(roc, rocs[i]);
		dm_srtp_free(tx);
	}
	dm_srtp_free(rx);
}

/* The late joiner: the sender started at ROC 5 near the end of the sequence space and wrapped
 * to ROC 6; a fresh receiver sees only packets after the wrap, finds 6, then decrypts the
 * very packet it searched with (not a replay) and the ones that follow. */
static void srtp_late_join_find_roc(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_SUITES; k++) {
		struct dm_srtp *tx = new_ctx(all_suites[k], DM_SRTP_SEND, SSRC, 11);
		assert_int_equal(dm_srtp_set_roc(tx, 5), 0);
		_Alignas(16) uint8_t pkts[17][DM_MAX_PACKET];
		size_t lens[17];
		for (uint32_t i = 0; i < 17; i++)
			lens[i] = sealed_rtp(tx, pkts[i], (uint16_t)(65530 + i));

		struct dm_srtp *rx = new_ctx(all_suites[k], DM_SRTP_RECV, SSRC, 11);
		assert_int_equal(open_copy(rx, pkts[8], lens[8]), DM_EAUTH); /* ROC 0 assumed */
		uint32_t roc = 0;
		assert_int_equal(
			dm_srtp_find_roc(rx, pkts[8], lens[8], NULL, 0, DM_LISTEN_ROC_SEARCH, &roc),
			0);
		assert_int_equal(roc, 6);
		uint32_t got = 0;
		assert_int_equal(dm_srtp_get_roc(rx, &got), 0);
		assert_int_equal(got, 6);
		_Alignas(16) uint8_t plain[DM_MAX_PACKET];
		size_t plain_len = make_rtp(plain, 2, SSRC);
		size_t len = lens[8];
		assert_int_equal(dm_srtp_unprotect(rx, pkts[8], &len), 0);
		assert_int_equal(len, plain_len);
		assert_memory_equal(pkts[8], plain, plain_len);
		for (size_t i = 9; i < 17; i++)
			assert_int_equal(open_copy(rx, pkts[i], lens[i]), 0);
		/* the packet just before it (seq 1, inside the window) is still accepted once */
		assert_int_equal(open_copy(rx, pkts[7], lens[7]), 0);
		assert_int_equal(open_copy(rx, pkts[7], lens[7]), DM_EREPLAY);
		dm_srtp_free(tx);
		dm_srtp_free(rx);
	}
}

static void srtp_find_roc_candidates(void **state)
{
	(void)state;
	struct dm_srtp *tx = new_ctx(DM_SRTP_AES_CM_128_HMAC_SHA1_80, DM_SRTP_SEND, SSRC, 12);
	assert_int_equal(dm_srtp_set_roc(tx, 70000), 0);
	_Alignas(16) uint8_t buf[DM_MAX_PACKET];
	size_t len = sealed_rtp(tx, buf, 4242);

	struct dm_srtp *rx = new_ctx(DM_SRTP_AES_CM_128_HMAC_SHA1_80, DM_SRTP_RECV, SSRC, 12);
	uint32_t roc = 1;
	/* beyond max_roc and not a candidate: not found, and nothing was harmed */
	assert_int_equal(dm_srtp_find_roc(rx, buf, len, NULL, 0, 64, &roc), DM_EAUTH);
	assert_int_equal(roc, 1);
	const uint32_t wrong[] = {69999, 5, 69999};
	assert_int_equal(dm_srtp_find_roc(rx, buf, len, wrong, 3, 8, &roc), DM_EAUTH);
	/* a candidate far beyond max_roc is tried first */
	const uint32_t cands[] = {69999, 70001, 70000};
	assert_int_equal(dm_srtp_find_roc(rx, buf, len, cands, 3, 0, &roc), 0);
	assert_int_equal(roc, 70000);
	assert_int_equal(open_copy(rx, buf, len), 0);
	assert_int_equal(open_copy(rx, buf, len), DM_EREPLAY);

	/* found again later on the same, now used, stream (the probe is rebuilt) */
	size_t len2 = sealed_rtp(tx, buf, 4243);
	assert_int_equal(dm_srtp_find_roc(rx, buf, len2, NULL, 0, 0, &roc), DM_EAUTH);
	const uint32_t one[] = {70000};
	assert_int_equal(dm_srtp_find_roc(rx, buf, len2, one, 1, 0, &roc), 0);
	assert_int_equal(roc, 70000);
	assert_int_equal(open_copy(rx, buf, len2), 0);

	/* ROC 0 is found too, among the range */
	struct dm_srtp *tx0 = new_ctx(DM_SRTP_AES_CM_128_HMAC_SHA1_80, DM_SRTP_SEND, SSRC, 12);
	len = sealed_rtp(tx0, buf, 50000);
	const uint32_t c3[] = {3};
	assert_int_equal(dm_srtp_find_roc(rx, buf, len, c3, 1, 10, &roc), 0);
	assert_int_equal(roc, 0);
	assert_int_equal(open_copy(rx, buf, len), 0);
	dm_srtp_free(tx0);
	dm_srtp_free(tx);
	dm_srtp_free(rx);
}

/* A packet made with another key matches no candidate. */
static void srtp_find_roc_other_key(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_SUITES; k++) {
		struct dm_srtp *tx = new_ctx(all_suites[k], DM_SRTP_SEND, SSRC, 13);
		struct dm_srtp *rx = new_ctx(all_suites[k], DM_SRTP_RECV, SSRC, 14);
		_Alignas(16) uint8_t buf[DM_MAX_PACKET];
		size_t len = sealed_rtp(tx, buf, 1);
		uint32_t roc = 123;
		assert_int_equal(dm_srtp_find_roc(rx, buf, len, NULL, 0, 63, &roc), DM_EAUTH);
		assert_int_equal(roc, 123);
		dm_srtp_free(tx);
		dm_srtp_free(rx);
	}
}

static double elapsed_us(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e6 + (double)(b->tv_nsec - a->tv_nsec) / 1e3;
}

/* The cost of a search over DM_LISTEN_ROC_SEARCH candidates (reported, with a loose bound
 * that also holds under sanitizers). */
static void srtp_find_roc_cost(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_SUITES; k++) {
		struct dm_srtp *tx = new_ctx(all_suites[k], DM_SRTP_SEND, SSRC, 15);
		assert_int_equal(dm_srtp_set_roc(tx, DM_LISTEN_ROC_SEARCH - 1), 0);
		_Alignas(16) uint8_t buf[DM_MAX_PACKET];
		size_t len = sealed_rtp(tx, buf, 33);
		struct dm_srtp *rx = new_ctx(all_suites[k], DM_SRTP_RECV, SSRC, 15);
		struct timespec t0, t1;
		uint32_t roc = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int ret = dm_srtp_find_roc(rx, buf, len, NULL, 0, DM_LISTEN_ROC_SEARCH - 1, &roc);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		assert_int_equal(ret, 0);
		assert_int_equal(roc, DM_LISTEN_ROC_SEARCH - 1);
		double us = elapsed_us(&t0, &t1);
		print_message("find_roc %s: %d candidates, %zu-byte packet: %.0f us\n",
			      dm_srtp_suite_name(all_suites[k]), DM_LISTEN_ROC_SEARCH, len, us);
		assert_true(us < 500000.0);
		dm_srtp_free(tx);
		dm_srtp_free(rx);
	}
}

/* SRTCP carries its index: a receiver that knows nothing decrypts the 300th report. */
static void srtp_srtcp_late_join(void **state)
{
	(void)state;
	for (size_t k = 0; k < N_SUITES; k++) {
		struct dm_srtp *tx = new_ctx(all_suites[k], DM_SRTP_SEND, SSRC, 16);
		_Alignas(16) uint8_t buf[DM_MAX_PACKET], plain[DM_MAX_PACKET];
		size_t len = 0;
		for (uint32_t i = 0; i < 300; i++) {
			len = make_rtcp(buf, SSRC, i);
			assert_int_equal(dm_srtp_protect_rtcp(tx, buf, &len, sizeof buf), 0);
		}
		struct dm_srtp *rx = new_ctx(all_suites[k], DM_SRTP_RECV, SSRC, 16);
		size_t plain_len = make_rtcp(plain, SSRC, 299);
		assert_int_equal(dm_srtp_unprotect_rtcp(rx, buf, &len), 0);
		assert_int_equal(len, plain_len);
		assert_memory_equal(buf, plain, plain_len);
		dm_srtp_free(tx);
		dm_srtp_free(rx);
	}
}

static void srtp_bad_args(void **state)
{
	(void)state;
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	fill_key(key, 17);
	struct dm_srtp *s = (struct dm_srtp *)key; /* must be overwritten with NULL */
	assert_int_equal(dm_srtp_new(DM_SRTP_AES_CM_128_HMAC_SHA1_80, DM_SRTP_SEND, SSRC, NULL, &s),
			 DM_EINVAL);
	assert_null(s);
	assert_int_equal(
		dm_srtp_new(DM_SRTP_AES_CM_128_HMAC_SHA1_80, DM_SRTP_SEND, SSRC, key, NULL),
		DM_EINVAL);
	assert_int_equal(dm_srtp_new((enum dm_srtp_suite)3, DM_SRTP_SEND, SSRC, key, &s),
			 DM_EINVAL);
	assert_int_equal(
		dm_srtp_new(DM_SRTP_AES_CM_128_HMAC_SHA1_80, (enum dm_srtp_dir)2, SSRC, key, &s),
		DM_EINVAL);
	assert_null(s);
	dm_srtp_free(NULL);

	struct dm_srtp *tx = new_ctx(DM_SRTP_AES_CM_128_HMAC_SHA1_80, DM_SRTP_SEND, SSRC, 17);
	struct dm_srtp *rx = new_ctx(DM_SRTP_AES_CM_128_HMAC_SHA1_80, DM_SRTP_RECV, SSRC, 17);
	_Alignas(16) uint8_t buf[DM_MAX_PACKET];
	size_t len = make_rtp(buf, 1, SSRC);

	assert_int_equal(dm_srtp_protect(NULL, buf, &len, sizeof buf), DM_EINVAL);
	assert_int_equal(dm_srtp_protect(tx, NULL, &len, sizeof buf), DM_EINVAL);
	assert_int_equal(dm_srtp_protect(tx, buf, NULL, sizeof buf), DM_EINVAL);
	assert_int_equal(dm_srtp_protect(rx, buf, &len, sizeof buf), DM_EINVAL); /* wrong way */
	assert_int_equal(dm_srtp_protect(tx, buf, &len, len + 9), DM_ENOSPC);	 /* tag is 10 */
	size_t short_len = 11;
	assert_int_equal(dm_srtp_protect(tx, buf, &short_len, sizeof buf), DM_EINVAL);
	buf[0] = 0x8f; /* CSRCs beyond the packet */
	short_len = 40;
	assert_int_equal(dm_srtp_protect(tx, buf, &short_len, sizeof buf), DM_EINVAL);
	len = make_rtp(buf, 1, SSRC);
	assert_int_equal(dm_srtp_protect(tx, buf, &len, len + 10), 0); /* exactly enough */
	/* the same sequence number again would reuse keystream */
	len = make_rtp(buf, 1, SSRC);
	assert_int_equal(dm_srtp_protect(tx, buf, &len, sizeof buf), DM_EINVAL);

	len = make_rtcp(buf, SSRC, 0);
	assert_int_equal(dm_srtp_protect_rtcp(NULL, buf, &len, sizeof buf), DM_EINVAL);
	assert_int_equal(dm_srtp_protect_rtcp(tx, NULL, &len, sizeof buf), DM_EINVAL);
	assert_int_equal(dm_srtp_protect_rtcp(tx, buf, NULL, sizeof buf), DM_EINVAL);
	assert_int_equal(dm_srtp_protect_rtcp(rx, buf, &len, sizeof buf), DM_EINVAL);
	assert_int_equal(dm_srtp_protect_rtcp(tx, buf, &len, len + 13), DM_ENOSPC);
	short_len = 7;
	assert_int_equal(dm_srtp_protect_rtcp(tx, buf, &short_len, sizeof buf), DM_EINVAL);
	assert_int_equal(dm_srtp_protect_rtcp(tx, buf, &len, len + 14), 0);

	len = 40;
	assert_int_equal(dm_srtp_unprotect(NULL, buf, &len), DM_EINVAL);
	assert_int_equal(dm_srtp_unprotect(rx, NULL, &len), DM_EINVAL);
	assert_int_equal(dm_srtp_unprotect(rx, buf, NULL), DM_EINVAL);
	assert_int_equal(dm_srtp_unprotect(tx, buf, &len), DM_EINVAL);
	assert_int_equal(dm_srtp_unprotect_rtcp(NULL, buf, &len), DM_EINVAL);
	assert_int_equal(dm_srtp_unprotect_rtcp(rx, NULL, &len), DM_EINVAL);
	assert_int_equal(dm_srtp_unprotect_rtcp(rx, buf, NULL), DM_EINVAL);
	assert_int_equal(dm_srtp_unprotect_rtcp(tx, buf, &len), DM_EINVAL);

	uint32_t roc;
	assert_int_equal(dm_srtp_set_roc(NULL, 1), DM_EINVAL);
	assert_int_equal(dm_srtp_get_roc(NULL, &roc), DM_EINVAL);
	assert_int_equal(dm_srtp_get_roc(rx, NULL), DM_EINVAL);

	len = make_rtp(buf, 2, SSRC);
	assert_int_equal(dm_srtp_protect(tx, buf, &len, sizeof buf), 0);
	const uint32_t c[] = {0};
	assert_int_equal(dm_srtp_find_roc(NULL, buf, len, c, 1, 4, &roc), DM_EINVAL);
	assert_int_equal(dm_srtp_find_roc(rx, NULL, len, c, 1, 4, &roc), DM_EINVAL);
	assert_int_equal(dm_srtp_find_roc(rx, buf, len, NULL, 1, 4, &roc), DM_EINVAL);
	assert_int_equal(dm_srtp_find_roc(rx, buf, len, c, 1, 4, NULL), DM_EINVAL);
	assert_int_equal(dm_srtp_find_roc(tx, buf, len, c, 1, 4, &roc), DM_EINVAL);
	assert_int_equal(dm_srtp_find_roc(rx, buf, 11, c, 1, 4, &roc), DM_EPROTO);
	assert_int_equal(dm_srtp_find_roc(rx, buf, 12 + 9, c, 1, 4, &roc), DM_EPROTO);
	assert_int_equal(dm_srtp_find_roc(rx, buf, DM_MAX_PACKET + 1, c, 1, 4, &roc), DM_EPROTO);
	/* and the stream was not disturbed by any of it */
	assert_int_equal(dm_srtp_find_roc(rx, buf, len, c, 1, 4, &roc), 0);
	assert_int_equal(roc, 0);
	assert_int_equal(dm_srtp_unprotect(rx, buf, &len), 0);
	dm_srtp_free(tx);
	dm_srtp_free(rx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(srtp_suites),
		cmocka_unit_test(srtp_round_trip_aes_cm_128_hmac_sha1_80),
		cmocka_unit_test(srtp_round_trip_aead_aes_128_gcm),
		cmocka_unit_test(srtp_round_trip_aead_aes_256_gcm),
		cmocka_unit_test(srtp_tampered),
		cmocka_unit_test(srtp_wrong_key),
		cmocka_unit_test(srtp_replay),
		cmocka_unit_test(srtp_truncated),
		cmocka_unit_test(srtp_other_ssrc),
		cmocka_unit_test(srtp_roc_before_first_packet),
		cmocka_unit_test(srtp_roc_wraps),
		cmocka_unit_test(srtp_roc_set_on_used_stream),
		cmocka_unit_test(srtp_late_join_find_roc),
		cmocka_unit_test(srtp_find_roc_candidates),
		cmocka_unit_test(srtp_find_roc_other_key),
		cmocka_unit_test(srtp_find_roc_cost),
		cmocka_unit_test(srtp_srtcp_late_join),
		cmocka_unit_test(srtp_bad_args),
	};
	return cmocka_run_group_tests_name("srtp", tests, NULL, NULL);
}
