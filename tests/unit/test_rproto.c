/* Unit tests of src/net/rproto.c: the hello and key-update datagrams of the
 * remote port. The derived keys are checked against HKDF-SHA256 computed here
 * with OpenSSL's EVP_PKEY_HKDF (not dm_hkdf_sha256), and malformed key
 * updates are sealed here with AES-256-GCM so that they pass the tag and
 * reach the payload parser. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdbool.h>
#include <string.h>

#include "dragoman/error.h"
#include "dragoman/rproto.h"
#include "dragoman/srtp.h"

static const uint8_t session_key[DM_RPROTO_SESSION_KEY_LEN] = {
	0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45,
	0x67, 0x89, 0xab, 0xcd, 0xef, 0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5,
	0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f,
};

static const uint8_t session_id[DM_RPROTO_SESSION_ID_LEN] = {
	0xaa, 0xbb, 0xcc, 0xdd, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
};

static struct dm_rproto_keys derived(void)
{
	struct dm_rproto_keys k;
	assert_int_equal(dm_rproto_derive(session_key, &k), 0);
	return k;
}

static struct dm_rproto_hello sample_hello(void)
{
	struct dm_rproto_hello h = {
		.counter = 0x0102030405060708ull,
		.generation = 0xdeadbeef,
		.report =
			{
				.ssrc = 0x11223344,
				.fraction_lost = 0x9a,
				.cumulative_lost = -12345,
				.highest_seq = 0x00017fff,
				.jitter = 4321,
				.lsr = 0x55667788,
				.dlsr = 0x99aabbcc,
			},
	};
	memcpy(h.session, session_id, sizeof h.session);
	return h;
}

static void assert_hello_equal(const struct dm_rproto_hello *a, const struct dm_rproto_hello *b)
{
	assert_memory_equal(a->session, b->session, DM_RPROTO_SESSION_ID_LEN);
	assert_true(a->counter == b->counter);
	assert_int_equal(a->generation, b->generation);
	assert_int_equal(a->report.ssrc, b->report.ssrc);
	assert_int_equal(a->report.fraction_lost, b->report.fraction_lost);
	assert_int_equal(a->report.cumulative_lost, b->report.cumulative_lost);
	assert_int_equal(a->report.highest_seq, b->report.highest_seq);
	assert_int_equal(a->report.jitter, b->report.jitter);
	assert_int_equal(a->report.lsr, b->report.lsr);
	assert_int_equal(a->report.dlsr, b->report.dlsr);
}

/* ---- hello ---- */

static void rproto_hello_round_trip(void **state)
{
	(void)state;
	struct dm_rproto_keys k = derived();
	struct dm_rproto_hello h = sample_hello(), out;
	uint8_t buf[DM_RPROTO_HELLO_LEN + 8];
	assert_int_equal(dm_rproto_hello_write(&h, &k, buf, sizeof buf), DM_RPROTO_HELLO_LEN);
	assert_memory_equal(buf, "DMH1", 4);
	assert_memory_equal(buf + 4, session_id, DM_RPROTO_SESSION_ID_LEN);
	/* The layout of the header, big-endian. */
	static const uint8_t counter_be[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	assert_memory_equal(buf + 20, counter_be, 8);
	static const uint8_t gen_be[4] = {0xde, 0xad, 0xbe, 0xef};
	assert_memory_equal(buf + 28, gen_be, 4);
	/* fraction 0x9a, then -12345 in 24-bit two's complement: 0xffcfc7 */
	static const uint8_t lost_be[4] = {0x9a, 0xff, 0xcf, 0xc7};
	assert_memory_equal(buf + 36, lost_be, 4);

	memset(&out, 0x5a, sizeof out);
	assert_int_equal(dm_rproto_hello_verify(buf, DM_RPROTO_HELLO_LEN, &k, &out), 0);
	assert_hello_equal(&h, &out);

	/* The extremes of the 24-bit signed cumulative loss, and zero. */
	static const int32_t lost[] = {-0x800000, -1, 0, 1, 0x7fffff};
	for (size_t i = 0; i < sizeof lost / sizeof lost[0]; i++) {
		h.report.cumulative_lost = lost[i];
		h.counter = i + 1;
		assert_int_equal(dm_rproto_hello_write(&h, &k, buf, DM_RPROTO_HELLO_LEN),
				 DM_RPROTO_HELLO_LEN);
		assert_int_equal(dm_rproto_hello_verify(buf, DM_RPROTO_HELLO_LEN, &k, &out), 0);
		assert_hello_equal(&h, &out);
	}
}

static void rproto_hello_bit_flips(void **state)
{
	(void)state;
	struct dm_rproto_keys k = derived();
	struct dm_rproto_hello h = sample_hello(), out;
	uint8_t buf[DM_RPROTO_HELLO_LEN];
	assert_int_equal(dm_rproto_hello_write(&h, &k, buf, sizeof buf), DM_RPROTO_HELLO_LEN);
	for (size_t bit = 0; bit < 8 * DM_RPROTO_HELLO_LEN; bit++) {
		uint8_t bad[DM_RPROTO_HELLO_LEN];
		memcpy(bad, buf, sizeof bad);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int rc = dm_rproto_hello_verify(bad, sizeof bad, &k, &out);
		/* A flip in the magic is no hello at all; anywhere else, the tag
		 * (bytes 56..71 included) no longer matches. */
		assert_int_equal(rc, bit < 32 ? DM_EPROTO : DM_EAUTH);
	}
	assert_int_equal(dm_rproto_hello_verify(buf, sizeof buf, &k, &out), 0);
}

static void rproto_hello_wrong_key(void **state)
{
	(void)state;
	struct dm_rproto_keys k = derived(), other;
	uint8_t other_key[DM_RPROTO_SESSION_KEY_LEN];
	memcpy(other_key, session_key, sizeof other_key);
	other_key[31] ^= 0x01;
	assert_int_equal(dm_rproto_derive(other_key, &other), 0);
	struct dm_rproto_hello h = sample_hello(), out;
	uint8_t buf[DM_RPROTO_HELLO_LEN];
	assert_int_equal(dm_rproto_hello_write(&h, &k, buf, sizeof buf), DM_RPROTO_HELLO_LEN);
	assert_int_equal(dm_rproto_hello_verify(buf, sizeof buf, &other, &out), DM_EAUTH);
	/* The update key is not the hello key. */
	struct dm_rproto_keys swapped;
	memcpy(swapped.hello, k.update, sizeof swapped.hello);
	memcpy(swapped.update, k.hello, sizeof swapped.update);
	assert_int_equal(dm_rproto_hello_verify(buf, sizeof buf, &swapped, &out), DM_EAUTH);
	assert_int_equal(dm_rproto_hello_verify(buf, sizeof buf, &k, &out), 0);
}

static void rproto_hello_bad_length_magic(void **state)
{
	(void)state;
	struct dm_rproto_keys k = derived();
	struct dm_rproto_hello h = sample_hello(), out;
	uint8_t buf[DM_RPROTO_HELLO_LEN + 1];
	assert_int_equal(dm_rproto_hello_write(&h, &k, buf, sizeof buf), DM_RPROTO_HELLO_LEN);
	buf[DM_RPROTO_HELLO_LEN] = 0;
	assert_int_equal(dm_rproto_hello_verify(buf, DM_RPROTO_HELLO_LEN - 1, &k, &out), DM_EPROTO);
	assert_int_equal(dm_rproto_hello_verify(buf, DM_RPROTO_HELLO_LEN + 1, &k, &out), DM_EPROTO);
	assert_int_equal(dm_rproto_hello_verify(buf, 0, &k, &out), DM_EPROTO);
	assert_int_equal(dm_rproto_hello_verify(NULL, DM_RPROTO_HELLO_LEN, &k, &out), DM_EPROTO);
	memcpy(buf, "DMK1", 4);
	assert_int_equal(dm_rproto_hello_verify(buf, DM_RPROTO_HELLO_LEN, &k, &out), DM_EPROTO);
	memcpy(buf, "DMH1", 4);
	assert_int_equal(dm_rproto_hello_verify(buf, DM_RPROTO_HELLO_LEN, &k, &out), 0);

	/* The writer's own arguments. */
	assert_int_equal(dm_rproto_hello_write(&h, &k, buf, DM_RPROTO_HELLO_LEN - 1), DM_ENOSPC);
	assert_int_equal(dm_rproto_hello_write(NULL, &k, buf, sizeof buf), DM_EINVAL);
	assert_int_equal(dm_rproto_hello_write(&h, NULL, buf, sizeof buf), DM_EINVAL);
	assert_int_equal(dm_rproto_hello_write(&h, &k, NULL, sizeof buf), DM_EINVAL);
	assert_int_equal(dm_rproto_hello_verify(buf, DM_RPROTO_HELLO_LEN, NULL, &out), DM_EINVAL);
	assert_int_equal(dm_rproto_hello_verify(buf, DM_RPROTO_HELLO_LEN, &k, NULL), DM_EINVAL);
}

static void rproto_hello_session(void **state)
{
	(void)state;
	struct dm_rproto_keys k = derived();
	struct dm_rproto_hello h = sample_hello();
	uint8_t buf[DM_RPROTO_HELLO_LEN + 1] = {0};
	assert_int_equal(dm_rproto_hello_write(&h, &k, buf, sizeof buf), DM_RPROTO_HELLO_LEN);
	uint8_t sid[DM_RPROTO_SESSION_ID_LEN] = {0};
	assert_int_equal(dm_rproto_hello_session(buf, DM_RPROTO_HELLO_LEN, sid), 0);
	assert_memory_equal(sid, session_id, sizeof sid);
	/* No authentication: a forged tag still tells its session id. */
	buf[70] ^= 0xff;
	memset(sid, 0, sizeof sid);
	assert_int_equal(dm_rproto_hello_session(buf, DM_RPROTO_HELLO_LEN, sid), 0);
	assert_memory_equal(sid, session_id, sizeof sid);

	assert_int_equal(dm_rproto_hello_session(buf, DM_RPROTO_HELLO_LEN - 1, sid), DM_EPROTO);
	assert_int_equal(dm_rproto_hello_session(buf, DM_RPROTO_HELLO_LEN + 1, sid), DM_EPROTO);
	assert_int_equal(dm_rproto_hello_session(NULL, DM_RPROTO_HELLO_LEN, sid), DM_EPROTO);
	assert_int_equal(dm_rproto_hello_session(buf, DM_RPROTO_HELLO_LEN, NULL), DM_EPROTO);
	buf[3] = '2';
	assert_int_equal(dm_rproto_hello_session(buf, DM_RPROTO_HELLO_LEN, sid), DM_EPROTO);
}

/* ---- key derivation ---- */

/* HKDF-SHA256 with no salt, straight from OpenSSL. */
static void openssl_hkdf(const uint8_t *ikm, size_t ikm_len, const char *info, uint8_t out[32])
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	assert_non_null(c);
	size_t len = 32;
	assert_int_equal(EVP_PKEY_derive_init(c), 1);
	assert_int_equal(EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()), 1);
	assert_int_equal(EVP_PKEY_CTX_set1_hkdf_key(c, ikm, (int)ikm_len), 1);
	assert_int_equal(
		EVP_PKEY_CTX_add1_hkdf_info(c, (const unsigned char *)info, (int)strlen(info)), 1);
	assert_int_equal(EVP_PKEY_derive(c, out, &len), 1);
	assert_int_equal(len, 32);
	EVP_PKEY_CTX_free(c);
}

static void rproto_derive_known_answer(void **state)
{
	(void)state;
	uint8_t keys[3][DM_RPROTO_SESSION_KEY_LEN];
	memcpy(keys[0], session_key, sizeof keys[0]);
	memset(keys[1], 0, sizeof keys[1]);
	for (size_t i = 0; i < sizeof keys[2]; i++)
		keys[2][i] = (uint8_t)(0xff - 7 * i);
	for (size_t i = 0; i < 3; i++) {
		struct dm_rproto_keys k;
		memset(&k, 0, sizeof k);
		assert_int_equal(dm_rproto_derive(keys[i], &k), 0);
		uint8_t hello[32], update[32];
		openssl_hkdf(keys[i], sizeof keys[i], "dragoman hello v1", hello);
		openssl_hkdf(keys[i], sizeof keys[i], "dragoman keys v1", update);
		assert_memory_equal(k.hello, hello, 32);
		assert_memory_equal(k.update, update, 32);
		assert_memory_not_equal(k.hello, k.update, 32);
	}
	struct dm_rproto_keys k;
	assert_int_equal(dm_rproto_derive(NULL, &k), DM_EINVAL);
	assert_int_equal(dm_rproto_derive(session_key, NULL), DM_EINVAL);
}

/* ---- key updates ---- */

static void fill_keyset(struct dm_rproto_keyset *ks, size_t n, uint32_t generation)
{
	memset(ks, 0, sizeof *ks);
	ks->generation = generation;
	ks->n = n;
	for (size_t i = 0; i < n; i++) {
		struct dm_rproto_key *key = &ks->keys[i];
		key->channel = (uint8_t)(i * 3 + 1);
		key->ssrc = 0x10000000u * (uint32_t)(i + 1) + (uint32_t)i;
		key->suite = (enum dm_srtp_suite)(i % 3);
		key->key_len = dm_srtp_key_len(key->suite);
		for (size_t b = 0; b < key->key_len; b++)
			key->key[b] = (uint8_t)(i * 31 + b * 7 + 1);
	}
}

static void assert_keyset_equal(const struct dm_rproto_keyset *a, const struct dm_rproto_keyset *b)
{
	assert_int_equal(a->generation, b->generation);
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->keys[i].channel, b->keys[i].channel);
		assert_int_equal(a->keys[i].ssrc, b->keys[i].ssrc);
		assert_int_equal(a->keys[i].suite, b->keys[i].suite);
		assert_int_equal(a->keys[i].key_len, b->keys[i].key_len);
		assert_memory_equal(a->keys[i].key, b->keys[i].key, a->keys[i].key_len);
	}
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void rproto_keys_round_trip(void **state)
{
	(void)state;
	struct dm_rproto_keys k = derived();
	static const size_t counts[] = {1, 2, 3, DM_RPROTO_MAX_KEYS, 0};
	for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
		struct dm_rproto_keyset ks, out;
		fill_keyset(&ks, counts[c], 7 + (uint32_t)c);
		uint8_t buf[DM_RPROTO_KEYS_MAX_LEN];
		int n = dm_rproto_keys_write(session_id, &ks, &k, buf, sizeof buf);
		size_t expect = 32 + 5 + 16;
		for (size_t i = 0; i < ks.n; i++)
			expect += 7 + ks.keys[i].key_len;
		assert_int_equal(n, (int)expect);
		assert_true((size_t)n <= DM_RPROTO_KEYS_MAX_LEN);
		assert_memory_equal(buf, "DMK1", 4);
		assert_memory_equal(buf + 4, session_id, DM_RPROTO_SESSION_ID_LEN);
		memset(&out, 0x5a, sizeof out);
		assert_int_equal(dm_rproto_keys_read(buf, (size_t)n, session_id, &k, &out), 0);
		assert_keyset_equal(&ks, &out);
		/* session may be NULL: the id is then not compared. */
		memset(&out, 0x5a, sizeof out);
		assert_int_equal(dm_rproto_keys_read(buf, (size_t)n, NULL, &k, &out), 0);
		assert_keyset_equal(&ks, &out);
	}
}

static void rproto_keys_sixteen_suites(void **state)
{
	(void)state;
	struct dm_rproto_keys k = derived();
	struct dm_rproto_keyset ks, out;
	fill_keyset(&ks, DM_RPROTO_MAX_KEYS, 0xfffffffe);
	/* Every suite is there, with its own key length, in the largest update. */
	bool seen[3] = {false, false, false};
	for (size_t i = 0; i < ks.n; i++) {
		ks.keys[i].suite = DM_SRTP_AEAD_AES_256_GCM;
		ks.keys[i].key_len = dm_srtp_key_len(DM_SRTP_AEAD_AES_256_GCM);
		for (size_t b = 0; b < ks.keys[i].key_len; b++)
			ks.keys[i].key[b] = (uint8_t)(0xc0 ^ (i + b));
	}
	ks.keys[3].suite = DM_SRTP_AES_CM_128_HMAC_SHA1_80;
	ks.keys[3].key_len = dm_srtp_key_len(DM_SRTP_AES_CM_128_HMAC_SHA1_80);
	ks.keys[9].suite = DM_SRTP_AEAD_AES_128_GCM;
	ks.keys[9].key_len = dm_srtp_key_len(DM_SRTP_AEAD_AES_128_GCM);
	ks.keys[15].channel = 255;
	ks.keys[15].ssrc = 0xffffffff;
	uint8_t buf[DM_RPROTO_KEYS_MAX_LEN];
	int n = dm_rproto_keys_write(session_id, &ks, &k, buf, sizeof buf);
	assert_true(n > 0);
	assert_int_equal(dm_rproto_keys_read(buf, (size_t)n, session_id, &k, &out), 0);
	assert_keyset_equal(&ks, &out);
	for (size_t i = 0; i < out.n; i++) {
		seen[out.keys[i].suite] = true;
		assert_int_equal(out.keys[i].key_len, dm_srtp_key_len(out.keys[i].suite));
	}
	assert_true(seen[0] && seen[1] && seen[2]);
	/* The largest update there can be fits the documented maximum. */
	for (size_t i = 0; i < ks.n; i++) {
		ks.keys[i].suite = DM_SRTP_AEAD_AES_256_GCM;
		ks.keys[i].key_len = dm_srtp_key_len(DM_SRTP_AEAD_AES_256_GCM);
	}
	n = dm_rproto_keys_write(session_id, &ks, &k, buf, sizeof buf);
	assert_true(n > 0 && n <= DM_RPROTO_KEYS_MAX_LEN);
	assert_int_equal(dm_rproto_keys_read(buf, (size_t)n, session_id, &k, &out), 0);
	assert_keyset_equal(&ks, &out);
}

static void rproto_keys_wrong_session(void **state)
{
	(void)state;
	struct dm_rproto_keys k = derived();
	struct dm_rproto_keyset ks, out;
	fill_keyset(&ks, 2, 3);
	uint8_t buf[DM_RPROTO_KEYS_MAX_LEN];
	int n = dm_rproto_keys_write(session_id, &ks, &k, buf, sizeof buf);
	assert_true(n > 0);
	uint8_t other[DM_RPROTO_SESSION_ID_LEN];
	memcpy(other, session_id, sizeof other);
	other[15] ^= 0x80;
	memset(&out, 0x5a, sizeof out);
	assert_int_equal(dm_rproto_keys_read(buf, (size_t)n, other, &k, &out), DM_EPROTO);
	assert_true(all_zero(&out, sizeof out));
	/* Another session's update key does not open it either. */
	uint8_t other_key[DM_RPROTO_SESSION_KEY_LEN];
	memcpy(other_key, session_key, sizeof other_key);
	other_key[0] ^= 1;
	struct dm_rproto_keys ok;
	assert_int_equal(dm_rproto_derive(other_key, &ok), 0);
	assert_int_equal(dm_rproto_keys_read(buf, (size_t)n, session_id, &ok, &out), DM_EAUTH);
	assert_true(all_zero(&out, sizeof out));
	assert_int_equal(dm_rproto_keys_read(buf, (size_t)n, session_id, &k, &out), 0);
}

static void rproto_keys_tampered(void **state)
{
	(void)state;
	struct dm_rproto_keys k = derived();
	struct dm_rproto_keyset ks, out;
	fill_keyset(&ks, 3, 42);
	uint8_t buf[DM_RPROTO_KEYS_MAX_LEN];
	int n = dm_rproto_keys_write(session_id, &ks, &k, buf, sizeof buf);
	assert_true(n > 0);
	/* Every byte after the magic: the session id and nonce (AAD), the
	 * ciphertext and the tag. With session NULL the id is only AAD. */
	for (int i = 4; i < n; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			uint8_t bad[DM_RPROTO_KEYS_MAX_LEN];
			memcpy(bad, buf, (size_t)n);
			bad[i] ^= (uint8_t)(1u << bit);
			memset(&out, 0x5a, sizeof out);
			assert_int_equal(dm_rproto_keys_read(bad, (size_t)n, NULL, &k, &out),
					 DM_EAUTH);
			assert_true(all_zero(&out, sizeof out));
			int want = i < 20 ? DM_EPROTO : DM_EAUTH;
			assert_int_equal(dm_rproto_keys_read(bad, (size_t)n, session_id, &k, &out),
					 want);
		}
	}
	/* The magic. */
	uint8_t bad[DM_RPROTO_KEYS_MAX_LEN];
	memcpy(bad, buf, (size_t)n);
	bad[3] = '2';
	assert_int_equal(dm_rproto_keys_read(bad, (size_t)n, NULL, &k, &out), DM_EPROTO);
	/* Cut short: the tag is then somewhere else. */
	assert_int_equal(dm_rproto_keys_read(buf, (size_t)n - 1, NULL, &k, &out), DM_EAUTH);
	assert_int_equal(dm_rproto_keys_read(buf, (size_t)n, NULL, &k, &out), 0);
	assert_keyset_equal(&ks, &out);
}

static void rproto_keys_write_invalid(void **state)
{
	(void)state;
	struct dm_rproto_keys k = derived();
	struct dm_rproto_keyset ks;
	uint8_t buf[DM_RPROTO_KEYS_MAX_LEN + 64];
	fill_keyset(&ks, DM_RPROTO_MAX_KEYS, 1);
	ks.n = DM_RPROTO_MAX_KEYS + 1;
	assert_int_equal(dm_rproto_keys_write(session_id, &ks, &k, buf, sizeof buf), DM_EINVAL);
	ks.n = 1000;
	assert_int_equal(dm_rproto_keys_write(session_id, &ks, &k, buf, sizeof buf), DM_EINVAL);

	/* A key whose length is not its suite's. */
	fill_keyset(&ks, 4, 1);
	ks.keys[2].key_len = dm_srtp_key_len(ks.keys[2].suite) + 1;
	assert_int_equal(dm_rproto_keys_write(session_id, &ks, &k, buf, sizeof buf), DM_EINVAL);
	ks.keys[2].key_len = 0;
	assert_int_equal(dm_rproto_keys_write(session_id, &ks, &k, buf, sizeof buf), DM_EINVAL);
	fill_keyset(&ks, 4, 1);
	ks.keys[1].suite = DM_SRTP_AEAD_AES_256_GCM; /* 44, and it holds 28 */
	assert_int_equal(dm_rproto_keys_write(session_id, &ks, &k, buf, sizeof buf), DM_EINVAL);
	fill_keyset(&ks, 4, 1);
	ks.keys[0].suite = (enum dm_srtp_suite)7;
	assert_int_equal(dm_rproto_keys_write(session_id, &ks, &k, buf, sizeof buf), DM_EINVAL);

	/* NULLs. */
	fill_keyset(&ks, 1, 1);
	assert_int_equal(dm_rproto_keys_write(NULL, &ks, &k, buf, sizeof buf), DM_EINVAL);
	assert_int_equal(dm_rproto_keys_write(session_id, NULL, &k, buf, sizeof buf), DM_EINVAL);
	assert_int_equal(dm_rproto_keys_write(session_id, &ks, NULL, buf, sizeof buf), DM_EINVAL);
	assert_int_equal(dm_rproto_keys_write(session_id, &ks, &k, NULL, sizeof buf), DM_EINVAL);
	struct dm_rproto_keyset out;
	assert_int_equal(dm_rproto_keys_read(buf, 60, NULL, NULL, &out), DM_EINVAL);
	assert_int_equal(dm_rproto_keys_read(buf, 60, NULL, &k, NULL), DM_EINVAL);
}

static void rproto_keys_capacity(void **state)
{
	(void)state;
	struct dm_rproto_keys k = derived();
	struct dm_rproto_keyset ks, out;
	fill_keyset(&ks, 5, 9);
	uint8_t buf[DM_RPROTO_KEYS_MAX_LEN];
	int n = dm_rproto_keys_write(session_id, &ks, &k, buf, sizeof buf);
	assert_true(n > 0);
	uint8_t exact[DM_RPROTO_KEYS_MAX_LEN];
	assert_int_equal(dm_rproto_keys_write(session_id, &ks, &k, exact, (size_t)n - 1),
			 DM_ENOSPC);
	assert_int_equal(dm_rproto_keys_write(session_id, &ks, &k, exact, 0), DM_ENOSPC);
	assert_int_equal(dm_rproto_keys_write(session_id, &ks, &k, exact, (size_t)n), n);
	assert_int_equal(dm_rproto_keys_read(exact, (size_t)n, session_id, &k, &out), 0);
	assert_keyset_equal(&ks, &out);
}

static void rproto_keys_nonce_random(void **state)
{
	(void)state;
	struct dm_rproto_keys k = derived();
	struct dm_rproto_keyset ks, out;
	fill_keyset(&ks, 2, 5);
	uint8_t a[DM_RPROTO_KEYS_MAX_LEN], b[DM_RPROTO_KEYS_MAX_LEN];
	int na = dm_rproto_keys_write(session_id, &ks, &k, a, sizeof a);
	int nb = dm_rproto_keys_write(session_id, &ks, &k, b, sizeof b);
	assert_true(na > 0);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, 20);
	assert_memory_not_equal(a + 20, b + 20, 12); /* the nonce */
	/* With another nonce the ciphertext differs too (no keystream reuse). */
	assert_memory_not_equal(a + 32, b + 32, (size_t)na - 32 - 16);
	assert_memory_not_equal(a + na - 16, b + nb - 16, 16);
	assert_int_equal(dm_rproto_keys_read(a, (size_t)na, session_id, &k, &out), 0);
	assert_keyset_equal(&ks, &out);
	assert_int_equal(dm_rproto_keys_read(b, (size_t)nb, session_id, &k, &out), 0);
	assert_keyset_equal(&ks, &out);
}

/* Seals a payload as a key update would be, with OpenSSL directly, so that a
 * malformed payload passes the tag and reaches the parser. */
static size_t seal(const struct dm_rproto_keys *k, const uint8_t *plain, size_t n, uint8_t *out)
{
	memcpy(out, "DMK1", 4);
	memcpy(out + 4, session_id, DM_RPROTO_SESSION_ID_LEN);
	for (int i = 0; i < 12; i++)
		out[20 + i] = (uint8_t)(0x40 + i);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	assert_non_null(c);
	int len = 0;
	assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL), 1);
	assert_int_equal(EVP_EncryptInit_ex(c, NULL, NULL, k->update, out + 20), 1);
	assert_int_equal(EVP_EncryptUpdate(c, NULL, &len, out, 32), 1);
	assert_int_equal(EVP_EncryptUpdate(c, out + 32, &len, plain, (int)n), 1);
	assert_int_equal(len, (int)n);
	assert_int_equal(EVP_EncryptFinal_ex(c, out + 32 + n, &len), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + 32 + n), 1);
	EVP_CIPHER_CTX_free(c);
	return 32 + n + 16;
}

static void rproto_keys_malformed_payload(void **state)
{
	(void)state;
	struct dm_rproto_keys k = derived();
	struct dm_rproto_keyset out;
	uint8_t wire[DM_RPROTO_KEYS_MAX_LEN + 64];
	/* generation 3, one AES_CM key of 30 bytes for channel 2, SSRC 0x01020304 */
	uint8_t good[5 + 7 + 30] = {0, 0, 0, 3, 1, 2, 1, 2, 3, 4, 0, 30};
	for (int i = 0; i < 30; i++)
		good[12 + i] = (uint8_t)i;
	size_t n = seal(&k, good, sizeof good, wire);
	assert_int_equal(dm_rproto_keys_read(wire, n, session_id, &k, &out), 0);
	assert_int_equal(out.generation, 3);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.keys[0].channel, 2);
	assert_int_equal(out.keys[0].ssrc, 0x01020304);
	assert_int_equal(out.keys[0].suite, DM_SRTP_AES_CM_128_HMAC_SHA1_80);
	assert_memory_equal(out.keys[0].key, good + 12, 30);

	uint8_t bad[sizeof good + 8];
	/* count says 2, one entry there */
	memcpy(bad, good, sizeof good);
	bad[4] = 2;
	n = seal(&k, bad, sizeof good, wire);
	memset(&out, 0x5a, sizeof out);
	assert_int_equal(dm_rproto_keys_read(wire, n, session_id, &k, &out), DM_EPROTO);
	assert_true(all_zero(&out, sizeof out));
	/* count over the maximum */
	bad[4] = DM_RPROTO_MAX_KEYS + 1;
	n = seal(&k, bad, sizeof good, wire);
	assert_int_equal(dm_rproto_keys_read(wire, n, session_id, &k, &out), DM_EPROTO);
	/* an unknown suite */
	memcpy(bad, good, sizeof good);
	bad[10] = 3;
	n = seal(&k, bad, sizeof good, wire);
	assert_int_equal(dm_rproto_keys_read(wire, n, session_id, &k, &out), DM_EPROTO);
	/* a key length that is not the suite's */
	memcpy(bad, good, sizeof good);
	bad[10] = DM_SRTP_AEAD_AES_128_GCM; /* 28 */
	n = seal(&k, bad, sizeof good, wire);
	assert_int_equal(dm_rproto_keys_read(wire, n, session_id, &k, &out), DM_EPROTO);
	/* trailing bytes after the last key */
	memcpy(bad, good, sizeof good);
	bad[sizeof good] = 0;
	n = seal(&k, bad, sizeof good + 1, wire);
	assert_int_equal(dm_rproto_keys_read(wire, n, session_id, &k, &out), DM_EPROTO);
	/* the key cut short */
	n = seal(&k, good, sizeof good - 1, wire);
	assert_int_equal(dm_rproto_keys_read(wire, n, session_id, &k, &out), DM_EPROTO);

	/* Lengths outside what a key update can be, before any crypto. */
	n = seal(&k, good, sizeof good, wire);
	assert_int_equal(dm_rproto_keys_read(wire, 32 + 5 + 16 - 1, session_id, &k, &out),
			 DM_EPROTO);
	assert_int_equal(dm_rproto_keys_read(wire, 0, session_id, &k, &out), DM_EPROTO);
	assert_int_equal(dm_rproto_keys_read(NULL, n, session_id, &k, &out), DM_EPROTO);
	uint8_t huge[DM_RPROTO_KEYS_MAX_LEN + 1];
	memset(huge, 0, sizeof huge);
	memcpy(huge, wire, n);
	assert_int_equal(dm_rproto_keys_read(huge, sizeof huge, NULL, &k, &out), DM_EPROTO);
}

/* ---- demultiplexing ---- */

/* Challenge and response: round trip; the response's tag covers the cookie
 * and the session (any flipped bit fails); lengths and magic checked. */
static void rproto_challenge_response(void **state)
{
	(void)state;
	uint8_t skey[DM_RPROTO_SESSION_KEY_LEN], other_key[DM_RPROTO_SESSION_KEY_LEN];
	memset(skey, 0x5a, sizeof skey);
	memset(other_key, 0xa5, sizeof other_key);
	struct dm_rproto_keys k, other;
	assert_int_equal(dm_rproto_derive(skey, &k), 0);
	assert_int_equal(dm_rproto_derive(other_key, &other), 0);
	uint8_t sid[DM_RPROTO_SESSION_ID_LEN], cookie[DM_RPROTO_COOKIE_LEN];
	for (int i = 0; i < 16; i++) {
		sid[i] = (uint8_t)(i * 7 + 1);
		cookie[i] = (uint8_t)(0xc0 + i);
	}
	uint8_t ch[DM_RPROTO_CHALLENGE_LEN];
	assert_int_equal(dm_rproto_challenge_write(sid, cookie, ch, sizeof ch),
			 DM_RPROTO_CHALLENGE_LEN);
	assert_int_equal(dm_rproto_kind(ch, sizeof ch), DM_RPROTO_CHALLENGE);
	assert_true(DM_RPROTO_CHALLENGE_LEN < DM_RPROTO_HELLO_LEN); /* no amplification */
	uint8_t sid2[DM_RPROTO_SESSION_ID_LEN], cookie2[DM_RPROTO_COOKIE_LEN];
	assert_int_equal(dm_rproto_challenge_read(ch, sizeof ch, sid2, cookie2), 0);
	assert_memory_equal(sid2, sid, sizeof sid);
	assert_memory_equal(cookie2, cookie, sizeof cookie);
	assert_int_equal(dm_rproto_challenge_read(ch, sizeof ch - 1, sid2, cookie2), DM_EPROTO);
	assert_int_equal(dm_rproto_challenge_write(sid, cookie, ch, sizeof ch - 1), DM_ENOSPC);

	uint8_t rsp[DM_RPROTO_RESPONSE_LEN];
	assert_int_equal(dm_rproto_response_write(sid, cookie, &k, rsp, sizeof rsp),
			 DM_RPROTO_RESPONSE_LEN);
	assert_int_equal(dm_rproto_kind(rsp, sizeof rsp), DM_RPROTO_RESPONSE);
	assert_int_equal(dm_rproto_response_session(rsp, sizeof rsp, sid2), 0);
	assert_memory_equal(sid2, sid, sizeof sid);
	memset(cookie2, 0, sizeof cookie2);
	assert_int_equal(dm_rproto_response_verify(rsp, sizeof rsp, &k, cookie2), 0);
	assert_memory_equal(cookie2, cookie, sizeof cookie);
	assert_int_equal(dm_rproto_response_verify(rsp, sizeof rsp, &other, cookie2), DM_EAUTH);
	for (size_t bit = 32; bit < 8 * sizeof rsp; bit++) {
		uint8_t t[DM_RPROTO_RESPONSE_LEN];
		memcpy(t, rsp, sizeof t);
		t[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(dm_rproto_response_verify(t, sizeof t, &k, cookie2), DM_EAUTH);
	}
	assert_int_equal(dm_rproto_response_verify(rsp, sizeof rsp - 1, &k, cookie2), DM_EPROTO);
	assert_int_equal(dm_rproto_response_verify(ch, sizeof ch, &k, cookie2), DM_EPROTO);
	assert_int_equal(dm_rproto_response_write(sid, cookie, &k, rsp, sizeof rsp - 1), DM_ENOSPC);
	assert_int_equal(dm_rproto_response_write(NULL, cookie, &k, rsp, sizeof rsp), DM_EINVAL);
}

static void rproto_kind(void **state)
{
	(void)state;
	struct dm_rproto_keys k = derived();
	struct dm_rproto_hello h = sample_hello();
	uint8_t hello[DM_RPROTO_HELLO_LEN];
	assert_int_equal(dm_rproto_hello_write(&h, &k, hello, sizeof hello), DM_RPROTO_HELLO_LEN);
	assert_int_equal(dm_rproto_kind(hello, sizeof hello), DM_RPROTO_HELLO);

	struct dm_rproto_keyset ks;
	fill_keyset(&ks, 1, 1);
	uint8_t keys[DM_RPROTO_KEYS_MAX_LEN];
	int n = dm_rproto_keys_write(session_id, &ks, &k, keys, sizeof keys);
	assert_true(n > 0);
	assert_int_equal(dm_rproto_kind(keys, (size_t)n), DM_RPROTO_KEYS);

	/* RTP: Opus (PT 111) with and without the marker bit; PT 0. */
	uint8_t rtp[40] = {0x80, 111, 0x12, 0x34, 0, 0, 0, 1, 0xa, 0xb, 0xc, 0xd};
	assert_int_equal(dm_rproto_kind(rtp, sizeof rtp), DM_RPROTO_RTP);
	rtp[1] = 0x80 | 111;
	assert_int_equal(dm_rproto_kind(rtp, sizeof rtp), DM_RPROTO_RTP);
	rtp[1] = 0;
	assert_int_equal(dm_rproto_kind(rtp, sizeof rtp), DM_RPROTO_RTP);
	rtp[0] = 0x90; /* X bit */
	rtp[1] = 111;
	assert_int_equal(dm_rproto_kind(rtp, sizeof rtp), DM_RPROTO_RTP);

	/* RTCP: a sender report (200) and a receiver report (201). */
	uint8_t sr[28] = {0x80, 200, 0, 6, 0x11, 0x22, 0x33, 0x44};
	assert_int_equal(dm_rproto_kind(sr, sizeof sr), DM_RPROTO_RTCP);
	uint8_t rr[8] = {0x81, 201, 0, 7, 0x11, 0x22, 0x33, 0x44};
	assert_int_equal(dm_rproto_kind(rr, sizeof rr), DM_RPROTO_RTCP);

	/* Garbage: another version, text, a near-miss magic. */
	uint8_t v1[12] = {0x40, 111};
	assert_int_equal(dm_rproto_kind(v1, sizeof v1), DM_RPROTO_OTHER);
	uint8_t v0sr[12] = {0x00, 200};
	assert_int_equal(dm_rproto_kind(v0sr, sizeof v0sr), DM_RPROTO_OTHER);
	assert_int_equal(dm_rproto_kind((const uint8_t *)"GET / HTTP/1.0", 14), DM_RPROTO_OTHER);
	assert_int_equal(dm_rproto_kind((const uint8_t *)"DMH2xxxxxxxx", 12), DM_RPROTO_OTHER);
	assert_int_equal(dm_rproto_kind((const uint8_t *)"dmh1xxxxxxxx", 12), DM_RPROTO_OTHER);

	/* Short, empty, NULL. */
	assert_int_equal(dm_rproto_kind(hello, 3), DM_RPROTO_OTHER);
	assert_int_equal(dm_rproto_kind(hello, 0), DM_RPROTO_OTHER);
	assert_int_equal(dm_rproto_kind(NULL, 72), DM_RPROTO_OTHER);
	assert_int_equal(dm_rproto_kind(rtp, 7), DM_RPROTO_OTHER);
	assert_int_equal(dm_rproto_kind(sr, 4), DM_RPROTO_OTHER);
	/* The magic alone is enough to tell (the parsers check the length). */
	assert_int_equal(dm_rproto_kind(hello, 4), DM_RPROTO_HELLO);
	assert_int_equal(dm_rproto_kind(keys, 4), DM_RPROTO_KEYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rproto_hello_round_trip),
		cmocka_unit_test(rproto_challenge_response),
		cmocka_unit_test(rproto_hello_bit_flips),
		cmocka_unit_test(rproto_hello_wrong_key),
		cmocka_unit_test(rproto_hello_bad_length_magic),
		cmocka_unit_test(rproto_hello_session),
		cmocka_unit_test(rproto_derive_known_answer),
		cmocka_unit_test(rproto_keys_round_trip),
		cmocka_unit_test(rproto_keys_sixteen_suites),
		cmocka_unit_test(rproto_keys_wrong_session),
		cmocka_unit_test(rproto_keys_tampered),
		cmocka_unit_test(rproto_keys_write_invalid),
		cmocka_unit_test(rproto_keys_capacity),
		cmocka_unit_test(rproto_keys_nonce_random),
		cmocka_unit_test(rproto_keys_malformed_payload),
		cmocka_unit_test(rproto_kind),
	};
	return cmocka_run_group_tests_name("rproto", tests, NULL, NULL);
}
