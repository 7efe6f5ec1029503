/* Unit tests of src/net/srtp_ossl.c: OpenSSL's AES-ICM, HMAC-SHA1 and AES-GCM under libsrtp2.
 *
 * The reference is libsrtp's own backend (NSS on Debian 12): the group's setup creates
 * sessions before the replacement, and a session keeps the types it was created with. The
 * same packets through a reference session and a session created after the replacement must
 * give the same bytes (key derivation, keystream, tag), across a wrap of the sequence number
 * and for every payload length from 0 to 300 bytes, and each side must accept what the other
 * protected. Forgeries are refused by the new types on their own, also those with nothing to
 * decrypt (an empty payload, SRTCP sent unencrypted), where only the tag can tell. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include <srtp2/srtp.h>

#include "dragoman/error.h"
#include "srtp_ossl.h"

#define SSRC 0x0badcafeu
#define MAX_PAYLOAD 300
#define BUF (12 + MAX_PAYLOAD + SRTP_MAX_TRAILER_LEN)
#define PACKETS 70000 /* past a wrap of the 16-bit sequence number */

enum suite { CM, CM192, CM256, GCM, GCM256, N_SUITE };
enum { TX, RX, N_DIR };

static srtp_t ref[N_SUITE][N_DIR]; /* libsrtp's own types, created before the replacement */

static const uint8_t master[SRTP_AES_ICM_256_KEY_LEN_WSALT] = {
	0x9a, 0x41, 0x07, 0xe2, 0x5c, 0x13, 0xd8, 0x6f, 0x20, 0xbb, 0x74, 0x39,
	0xee, 0x05, 0x92, 0x3d, 0x6a, 0xc1, 0x58, 0x0f, 0xb4, 0x27, 0x83, 0xfa,
	0x11, 0x6c, 0xd5, 0x48, 0x9e, 0x30, 0x77, 0x02, 0xcb, 0x95, 0x3e, 0xf1,
	0x60, 0x2d, 0x84, 0xb9, 0x1a, 0xe7, 0x53, 0x0c, 0x61, 0xd8,
};

static void set_policy(srtp_policy_t *p, enum suite suite, int dir, const uint8_t *key)
{
	memset(p, 0, sizeof *p);
	switch (suite) {
	case CM:
		srtp_crypto_policy_set_rtp_default(&p->rtp);
		srtp_crypto_policy_set_rtcp_default(&p->rtcp);
		break;
	case CM192:
		srtp_crypto_policy_set_aes_cm_192_hmac_sha1_80(&p->rtp);
		srtp_crypto_policy_set_aes_cm_192_hmac_sha1_80(&p->rtcp);
		break;
	case CM256:
		srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtp);
		srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(&p->rtcp);
		break;
	case GCM:
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&p->rtcp);
		break;
	default:
		srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtp);
		srtp_crypto_policy_set_aes_gcm_256_16_auth(&p->rtcp);
		break;
	}
	p->ssrc.type = dir == TX ? ssrc_any_outbound : ssrc_any_inbound;
	p->key = (unsigned char *)key;
	p->window_size = 1024;
}

static srtp_t session(enum suite suite, int dir)
{
	srtp_policy_t p;
	set_policy(&p, suite, dir, master);
	srtp_t s = NULL;
	assert_int_equal(srtp_create(&s, &p), srtp_err_status_ok);
	return s;
}

static int setup(void **state)
{
	(void)state;
	if (srtp_init() != srtp_err_status_ok)
		return -1;
	for (int s = 0; s < N_SUITE; s++)
		for (int d = 0; d < N_DIR; d++)
			ref[s][d] = session((enum suite)s, d);
	return dm_srtp_ossl_install() == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	for (int s = 0; s < N_SUITE; s++)
		for (int d = 0; d < N_DIR; d++)
			srtp_dealloc(ref[s][d]);
	return 0;
}

static int make_rtp(uint8_t *buf, uint32_t i)
{
	int payload = (int)(i % (MAX_PAYLOAD + 1));
	memset(buf, 0, BUF);
	buf[0] = 0x80;
	buf[1] = 111;
	buf[2] = (uint8_t)(i >> 8);
	buf[3] = (uint8_t)i;
	buf[4] = (uint8_t)(i >> 14);
	buf[5] = (uint8_t)(i >> 6);
	buf[6] = (uint8_t)(i << 2);
	buf[8] = (uint8_t)(SSRC >> 24);
	buf[9] = (uint8_t)(SSRC >> 16);
	buf[10] = (uint8_t)(SSRC >> 8);
	buf[11] = (uint8_t)SSRC;
	for (int j = 0; j < payload; j++)
		buf[12 + j] = (uint8_t)(i * 13 + (uint32_t)j * 7);
	return 12 + payload;
}

/* An RTCP sender report (28 bytes) with counts that change with i. */
static int make_rtcp(uint8_t *buf, uint32_t i)
{
	memset(buf, 0, BUF);
	buf[0] = 0x80;
	buf[1] = 200;
	buf[3] = 6;
	buf[4] = (uint8_t)(SSRC >> 24);
	buf[5] = (uint8_t)(SSRC >> 16);
	buf[6] = (uint8_t)(SSRC >> 8);
	buf[7] = (uint8_t)SSRC;
	buf[23] = (uint8_t)i;
	buf[22] = (uint8_t)(i >> 8);
	return 28;
}

/* Protects the same packets with the reference and with the new types; checks the bytes
 * agree and each receiver takes the other sender's packets back to the plaintext. */
static void same_as_reference(enum suite suite)
{
	srtp_t tx = session(suite, TX), rx = session(suite, RX);
	uint8_t plain[BUF], a[BUF], b[BUF];
	for (uint32_t i = 0; i < PACKETS; i++) {
		bool rtcp = i % 97 == 0;
		int len = rtcp ? make_rtcp(plain, i) : make_rtp(plain, i);
		int la = len, lb = len;
		memcpy(a, plain, BUF);
		memcpy(b, plain, BUF);
		if (rtcp) {
			assert_int_equal(srtp_protect_rtcp(ref[suite][TX], a, &la), 0);
			assert_int_equal(srtp_protect_rtcp(tx, b, &lb), 0);
		} else {
			assert_int_equal(srtp_protect(ref[suite][TX], a, &la), 0);
			assert_int_equal(srtp_protect(tx, b, &lb), 0);
		}
		assert_int_equal(la, lb);
		assert_true(la > len);
		if (memcmp(a, b, (size_t)la) != 0)
			fail_msg("suite %d, packet %u (%s, %d bytes) differs from libsrtp's",
				 (int)suite, i, rtcp ? "RTCP" : "RTP", len);
		if (rtcp) {
			assert_int_equal(srtp_unprotect_rtcp(rx, a, &la), 0);
			assert_int_equal(srtp_unprotect_rtcp(ref[suite][RX], b, &lb), 0);
		} else {
			assert_int_equal(srtp_unprotect(rx, a, &la), 0);
			assert_int_equal(srtp_unprotect(ref[suite][RX], b, &lb), 0);
		}
		assert_int_equal(la, len);
		assert_int_equal(lb, len);
		assert_memory_equal(a, plain, (size_t)len);
		assert_memory_equal(b, plain, (size_t)len);
	}
	srtp_dealloc(tx);
	srtp_dealloc(rx);
}

/* Every suite, GCM's included: its session keys come from the key derivation, AES-ICM-128 or
 * -256, new types too. */
static void srtp_ossl_same_as_libsrtp(void **state)
{
	(void)state;
	for (int s = 0; s < N_SUITE; s++)
		same_as_reference((enum suite)s);
}

/* Every bit of pkt flipped in turn, and pkt cut short by every length: never accepted.
 * Past the first `header` bytes only the tag can tell, so it must say auth_fail. */
static void refuse_all_changes(srtp_t rx, const uint8_t *pkt, int len, bool rtcp, int header)
{
	uint8_t bad[BUF];
	for (int bit = 0; bit < len * 8; bit++) {
		memcpy(bad, pkt, (size_t)len);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int l = len;
		srtp_err_status_t st =
			rtcp ? srtp_unprotect_rtcp(rx, bad, &l) : srtp_unprotect(rx, bad, &l);
		/* In the header a flip may also make the packet unparsable (the X bit, the CSRC
		 * count) or another, unknown stream (the SSRC): refused all the same.
		 * SRTCP's E bit, in the trailer, may make it cant_check (unencrypted where the
		 * stream encrypts). */
		bool refused_unread = rtcp && st == srtp_err_status_cant_check;
		if (st == srtp_err_status_ok ||
		    (bit >= header * 8 && st != srtp_err_status_auth_fail && !refused_unread))
			fail_msg("%s: bit %d of a %d-byte packet: status %d",
				 rtcp ? "SRTCP" : "SRTP", bit, len, st);
	}
	for (int cut = 1; cut < len; cut++) {
		memcpy(bad, pkt, (size_t)len);
		int l = len - cut;
		srtp_err_status_t st =
			rtcp ? srtp_unprotect_rtcp(rx, bad, &l) : srtp_unprotect(rx, bad, &l);
		if (st == srtp_err_status_ok)
			fail_msg("%s: %d of %d bytes accepted", rtcp ? "SRTCP" : "SRTP", len - cut,
				 len);
	}
}

static void forgery_refused(enum suite suite)
{
	srtp_t tx = session(suite, TX), rx = session(suite, RX);
	uint8_t pkt[BUF];
	/* Payloads of 150, 0 (nothing to decrypt) and 149 bytes. */
	static const uint32_t seqs[] = {150, 301, 300 + 150};
	for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
		int len = make_rtp(pkt, seqs[i]);
		assert_int_equal(srtp_protect(tx, pkt, &len), 0);
		refuse_all_changes(rx, pkt, len, false, 12);
		int l = len;
		assert_int_equal(srtp_unprotect(rx, pkt, &l), srtp_err_status_ok);
	}
	int len = make_rtcp(pkt, 5);
	assert_int_equal(srtp_protect_rtcp(tx, pkt, &len), 0);
	refuse_all_changes(rx, pkt, len, true, 8);
	int l = len;
	assert_int_equal(srtp_unprotect_rtcp(rx, pkt, &l), srtp_err_status_ok);
	/* SRTCP sent unencrypted (E bit clear): all of it is authenticated data, nothing is
	 * decrypted (a receiver that expects encryption refuses it unread: cant_check). */
	srtp_policy_t p;
	set_policy(&p, suite, TX, master);
	p.rtcp.sec_serv = sec_serv_auth;
	srtp_t clear_tx = NULL;
	assert_int_equal(srtp_create(&clear_tx, &p), srtp_err_status_ok);
	uint8_t plain[BUF];
	len = make_rtcp(plain, 6);
	memcpy(pkt, plain, sizeof pkt);
	assert_int_equal(srtp_protect_rtcp(clear_tx, pkt, &len), 0);
	assert_memory_equal(pkt, plain, 28); /* sent as it was */
	set_policy(&p, suite, RX, master);   /* a receiver of unencrypted SRTCP, fresh */
	p.rtcp.sec_serv = sec_serv_auth;
	srtp_t fresh_rx = NULL;
	assert_int_equal(srtp_create(&fresh_rx, &p), srtp_err_status_ok);
	refuse_all_changes(fresh_rx, pkt, len, true, 8);
	l = len;
	assert_int_equal(srtp_unprotect_rtcp(fresh_rx, pkt, &l), srtp_err_status_ok);
	assert_int_equal(l, 28);
	assert_memory_equal(pkt, plain, 28);
	srtp_dealloc(fresh_rx);
	srtp_dealloc(clear_tx);
	/* A receiver with another key refuses everything. */
	uint8_t other[sizeof master];
	memcpy(other, master, sizeof other);
	other[0] ^= 1;
	set_policy(&p, suite, RX, other);
	srtp_t wrong = NULL;
	assert_int_equal(srtp_create(&wrong, &p), srtp_err_status_ok);
	len = make_rtp(pkt, 999);
	assert_int_equal(srtp_protect(tx, pkt, &len), 0);
	assert_int_equal(srtp_unprotect(wrong, pkt, &len), srtp_err_status_auth_fail);
	srtp_dealloc(wrong);
	srtp_dealloc(tx);
	srtp_dealloc(rx);
}

/* Any one flipped bit, in the header, the payload or the tag, and any cut is refused; the
 * untouched packet then still passes (a failure leaves the stream unharmed). */
static void srtp_ossl_forgery_refused(void **state)
{
	(void)state;
	for (int s = 0; s < N_SUITE; s++)
		forgery_refused((enum suite)s);
}

/* Installing again is harmless (the types pass libsrtp's self-test again) and sessions keep
 * working. */
static void srtp_ossl_install_again(void **state)
{
	(void)state;
	assert_int_equal(dm_srtp_ossl_install(), 0);
	srtp_t tx = session(CM, TX), rx = session(CM, RX);
	uint8_t pkt[BUF];
	int len = make_rtp(pkt, 7);
	assert_int_equal(srtp_protect(tx, pkt, &len), 0);
	assert_int_equal(srtp_unprotect(rx, pkt, &len), 0);
	srtp_dealloc(tx);
	srtp_dealloc(rx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(srtp_ossl_same_as_libsrtp),
		cmocka_unit_test(srtp_ossl_forgery_refused),
		cmocka_unit_test(srtp_ossl_install_again),
	};
	return cmocka_run_group_tests_name("srtp_ossl", tests, setup, teardown);
}
