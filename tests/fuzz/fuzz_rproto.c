/* libFuzzer harness: the datagrams of the remote port (src/net/rproto.c):
 * dm_rproto_kind, dm_rproto_hello_session, dm_rproto_hello_verify and
 * dm_rproto_keys_read on what anybody on the internet may send, with the
 * session keys derived from the fixed key of fuzz_common.h. Arbitrary bytes
 * rarely pass an HMAC or a GCM tag, so two modes build genuine datagrams from
 * the input first and then damage them, reaching the parsers behind the tags.
 *
 * Input: byte 0 = mode (& 3), then
 *   MODE_RAW: the rest is one datagram, as received;
 *   MODE_HELLO: session id (16), counter (8), generation (4), report SSRC
 *     (4), fraction lost (1), cumulative lost (3, 24-bit signed), highest
 *     sequence, jitter, LSR, DLSR (4 each); then (position, mask) byte pairs
 *     XORed into the written hello;
 *   MODE_KEYS: flags (1, KEYS_*), [cap (2) with KEYS_CAP], generation (4),
 *     count (1), count x {channel (1), SSRC (4), suite (1), key length (1),
 *     key bytes}, then (position (2), mask (1)) triples XORed into the
 *     written update; with KEYS_CUT its last byte is dropped.
 * Properties checked besides the sanitizers: return codes are documented
 * ones; the input buffer is never written; a failed key read leaves *out
 * zeroed; whatever verifies or decrypts is written back the same; a writer
 * accepts exactly what the header says it accepts; a damaged datagram never
 * verifies; and (once, corpus-independent) a hello and a key update built here
 * verify. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dragoman/error.h"
#include "dragoman/rproto.h"
#include "dragoman/srtp.h"
#include "fuzz_common.h"

#define MODE_RAW 0
#define MODE_HELLO 1
#define MODE_KEYS 2

#define KEYS_CAP 0x01 /* a cap from the input instead of the largest */
#define KEYS_CUT 0x02 /* read the damaged update one byte short */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct dm_rproto_keys keys;
static bool ready;

static const uint8_t sanity_session[DM_RPROTO_SESSION_ID_LEN] = {
	0xd0, 0x0d, 0xfe, 0xed, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
};

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static bool hello_equal(const struct dm_rproto_hello *a, const struct dm_rproto_hello *b)
{
	return memcmp(a->session, b->session, DM_RPROTO_SESSION_ID_LEN) == 0 &&
	       a->counter == b->counter && a->generation == b->generation &&
	       a->report.ssrc == b->report.ssrc &&
	       a->report.fraction_lost == b->report.fraction_lost &&
	       a->report.cumulative_lost == b->report.cumulative_lost &&
	       a->report.highest_seq == b->report.highest_seq &&
	       a->report.jitter == b->report.jitter && a->report.lsr == b->report.lsr &&
	       a->report.dlsr == b->report.dlsr;
}

static bool keyset_equal(const struct dm_rproto_keyset *a, const struct dm_rproto_keyset *b)
{
	if (a->generation != b->generation || a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct dm_rproto_key *x = &a->keys[i], *y = &b->keys[i];
		if (x->channel != y->channel || x->ssrc != y->ssrc || x->suite != y->suite ||
		    x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) != 0)
			return false;
	}
	return true;
}

/* Once: the keys, and a hello and a key update made here must verify, so a
 * broken writer or verifier is caught whatever the corpus holds. */
static void init(void)
{
	FUZZ_CHECK(dm_rproto_derive(fuzz_key, &keys) == 0);
	struct dm_rproto_hello h =
				       {
					       .counter = 1,
					       .generation = 1,
					       .report = {.ssrc = 0x5eed1234,
							  .cumulative_lost = -3,
							  .jitter = 42},
				       },
			       back;
	memcpy(h.session, sanity_session, sizeof h.session);
	uint8_t buf[DM_RPROTO_KEYS_MAX_LEN];
	FUZZ_CHECK(dm_rproto_hello_write(&h, &keys, buf, sizeof buf) == DM_RPROTO_HELLO_LEN);
	FUZZ_CHECK(dm_rproto_kind(buf, DM_RPROTO_HELLO_LEN) == DM_RPROTO_HELLO);
	FUZZ_CHECK(dm_rproto_hello_verify(buf, DM_RPROTO_HELLO_LEN, &keys, &back) == 0);
	FUZZ_CHECK(hello_equal(&h, &back));

	struct dm_rproto_keyset ks = {.generation = 2, .n = 1}, out;
	ks.keys[0].channel = 1;
	ks.keys[0].ssrc = FUZZ_SSRC;
	ks.keys[0].suite = DM_SRTP_AES_CM_128_HMAC_SHA1_80;
	ks.keys[0].key_len = dm_srtp_key_len(ks.keys[0].suite);
	memcpy(ks.keys[0].key, fuzz_key, ks.keys[0].key_len);
	int n = dm_rproto_keys_write(sanity_session, &ks, &keys, buf, sizeof buf);
	FUZZ_CHECK(n > 0);
	FUZZ_CHECK(dm_rproto_kind(buf, (size_t)n) == DM_RPROTO_KEYS);
	FUZZ_CHECK(dm_rproto_keys_read(buf, (size_t)n, sanity_session, &keys, &out) == 0);
	FUZZ_CHECK(keyset_equal(&ks, &out));
	ready = true;
}

/* One datagram as it arrives on the remote port. */
static void fuzz_raw(const uint8_t *data, size_t size)
{
	/* Exact-size copies: ASan catches a read one byte past. */
	uint8_t *pkt = malloc(size ? size : 1);
	if (!pkt)
		return;
	memcpy(pkt, data, size);

	enum dm_rproto_kind kind = dm_rproto_kind(pkt, size);
	FUZZ_CHECK(kind >= DM_RPROTO_OTHER && kind <= DM_RPROTO_RTCP);
	if (size < 4)
		FUZZ_CHECK(kind == DM_RPROTO_OTHER);

	uint8_t sid[DM_RPROTO_SESSION_ID_LEN];
	int rs = dm_rproto_hello_session(pkt, size, sid);
	FUZZ_CHECK(rs == 0 || rs == DM_EPROTO);
	if (rs == 0)
		FUZZ_CHECK(kind == DM_RPROTO_HELLO && size == DM_RPROTO_HELLO_LEN &&
			   memcmp(sid, pkt + 4, sizeof sid) == 0);

	/* The return-routability datagrams: read without a key, then the
	 * response's tag under ours. */
	uint8_t cid[DM_RPROTO_SESSION_ID_LEN], cookie[DM_RPROTO_COOKIE_LEN];
	int rc2 = dm_rproto_challenge_read(pkt, size, cid, cookie);
	FUZZ_CHECK(rc2 == 0 || rc2 == DM_EPROTO);
	if (rc2 == 0)
		FUZZ_CHECK(kind == DM_RPROTO_CHALLENGE && size == DM_RPROTO_CHALLENGE_LEN);
	int rr = dm_rproto_response_session(pkt, size, cid);
	FUZZ_CHECK(rr == 0 || rr == DM_EPROTO);
	int rv = dm_rproto_response_verify(pkt, size, &keys, cookie);
	FUZZ_CHECK(rv == 0 || rv == DM_EPROTO || rv == DM_EAUTH);
	if (rv == 0)
		FUZZ_CHECK(rr == 0 && kind == DM_RPROTO_RESPONSE);

	struct dm_rproto_hello h;
	int rh = dm_rproto_hello_verify(pkt, size, &keys, &h);
	FUZZ_CHECK(rh == 0 || rh == DM_EPROTO || rh == DM_EAUTH);
	FUZZ_CHECK((rh == DM_EPROTO) == (rs == DM_EPROTO));
	if (rh == 0) {
		/* What verifies is written back byte for byte. */
		uint8_t back[DM_RPROTO_HELLO_LEN];
		FUZZ_CHECK(dm_rproto_hello_write(&h, &keys, back, sizeof back) ==
			   DM_RPROTO_HELLO_LEN);
		FUZZ_CHECK(memcmp(back, pkt, sizeof back) == 0);
	}

	struct dm_rproto_keyset ks;
	memset(&ks, 0xa5, sizeof ks);
	int rk = dm_rproto_keys_read(pkt, size, NULL, &keys, &ks);
	FUZZ_CHECK(rk == 0 || rk == DM_EPROTO || rk == DM_EAUTH);
	if (rk < 0) {
		FUZZ_CHECK(all_zero(&ks, sizeof ks));
	} else {
		FUZZ_CHECK(kind == DM_RPROTO_KEYS);
		FUZZ_CHECK(ks.n <= DM_RPROTO_MAX_KEYS);
		size_t expect = 32 + 5 + 16;
		for (size_t i = 0; i < ks.n; i++) {
			FUZZ_CHECK(ks.keys[i].key_len == dm_srtp_key_len(ks.keys[i].suite));
			FUZZ_CHECK(ks.keys[i].key_len > 0);
			expect += 7 + ks.keys[i].key_len;
		}
		FUZZ_CHECK(expect == size);
		/* Its own session id matches; another does not. */
		struct dm_rproto_keyset again;
		FUZZ_CHECK(dm_rproto_keys_read(pkt, size, pkt + 4, &keys, &again) == 0);
		FUZZ_CHECK(keyset_equal(&ks, &again));
		uint8_t other[DM_RPROTO_SESSION_ID_LEN];
		memcpy(other, pkt + 4, sizeof other);
		other[0] ^= 1;
		FUZZ_CHECK(dm_rproto_keys_read(pkt, size, other, &keys, &again) == DM_EPROTO);
		/* Written again (another nonce), it reads the same. */
		uint8_t back[DM_RPROTO_KEYS_MAX_LEN];
		int n = dm_rproto_keys_write(pkt + 4, &ks, &keys, back, sizeof back);
		FUZZ_CHECK(n == (int)size);
		FUZZ_CHECK(dm_rproto_keys_read(back, (size_t)n, pkt + 4, &keys, &again) == 0);
		FUZZ_CHECK(keyset_equal(&ks, &again));
	}
	FUZZ_CHECK(memcmp(pkt, data, size) == 0);
	free(pkt);
}

/* A genuine hello from the input's fields, then damaged. */
static void fuzz_hello(struct fuzz_reader *rd)
{
	struct dm_rproto_hello h;
	memset(&h, 0, sizeof h);
	for (size_t i = 0; i < sizeof h.session; i++)
		h.session[i] = fuzz_u8(rd);
	h.counter = (uint64_t)fuzz_u32(rd) << 32;
	h.counter |= fuzz_u32(rd);
	h.generation = fuzz_u32(rd);
	h.report.ssrc = fuzz_u32(rd);
	h.report.fraction_lost = fuzz_u8(rd);
	uint32_t lost = (uint32_t)fuzz_u8(rd) << 16;
	lost |= fuzz_u16(rd);
	h.report.cumulative_lost = (int32_t)lost - (lost & 0x800000 ? 0x1000000 : 0);
	h.report.highest_seq = fuzz_u32(rd);
	h.report.jitter = fuzz_u32(rd);
	h.report.lsr = fuzz_u32(rd);
	h.report.dlsr = fuzz_u32(rd);

	uint8_t buf[DM_RPROTO_HELLO_LEN], orig[DM_RPROTO_HELLO_LEN];
	FUZZ_CHECK(dm_rproto_hello_write(&h, &keys, buf, sizeof buf) == DM_RPROTO_HELLO_LEN);
	memcpy(orig, buf, sizeof buf);
	while (rd->n >= 2) {
		uint8_t pos = fuzz_u8(rd);
		buf[pos % DM_RPROTO_HELLO_LEN] ^= fuzz_u8(rd);
	}
	struct dm_rproto_hello out;
	int rc = dm_rproto_hello_verify(buf, sizeof buf, &keys, &out);
	if (memcmp(buf, orig, sizeof buf) == 0) {
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(hello_equal(&h, &out));
	} else if (memcmp(buf, orig, 4) != 0) {
		FUZZ_CHECK(rc == DM_EPROTO);
	} else {
		FUZZ_CHECK(rc == DM_EAUTH);
	}
	uint8_t sid[DM_RPROTO_SESSION_ID_LEN];
	int rs = dm_rproto_hello_session(buf, sizeof buf, sid);
	FUZZ_CHECK(rs == (memcmp(buf, orig, 4) == 0 ? 0 : DM_EPROTO));
	if (rs == 0)
		FUZZ_CHECK(memcmp(sid, buf + 4, sizeof sid) == 0);
}

/* A key update from the input's fields: the writer accepts exactly the valid
 * ones; what it writes reads back; damaged, it never does. */
static void fuzz_keys(struct fuzz_reader *rd)
{
	uint8_t flags = fuzz_u8(rd);
	size_t cap = DM_RPROTO_KEYS_MAX_LEN;
	if (flags & KEYS_CAP)
		cap = fuzz_u16(rd) % (DM_RPROTO_KEYS_MAX_LEN + 1);
	struct dm_rproto_keyset ks;
	memset(&ks, 0, sizeof ks);
	ks.generation = fuzz_u32(rd);
	size_t count = fuzz_u8(rd);
	bool valid = count <= DM_RPROTO_MAX_KEYS;
	ks.n = count;
	size_t total = 32 + 5 + 16;
	for (size_t i = 0; i < count && i < DM_RPROTO_MAX_KEYS; i++) {
		struct dm_rproto_key *k = &ks.keys[i];
		k->channel = fuzz_u8(rd);
		k->ssrc = fuzz_u32(rd);
		k->suite = (enum dm_srtp_suite)fuzz_u8(rd);
		k->key_len = fuzz_u8(rd);
		size_t want = dm_srtp_key_len(k->suite);
		if (want == 0 || k->key_len != want)
			valid = false;
		for (size_t b = 0; b < k->key_len && b < sizeof k->key; b++)
			k->key[b] = fuzz_u8(rd);
		total += 7 + k->key_len;
	}

	static const uint8_t session[DM_RPROTO_SESSION_ID_LEN] = {0x5e, 0x55, 0x10, 0x4e};
	uint8_t *buf = malloc(cap ? cap : 1);
	if (!buf)
		return;
	int n = dm_rproto_keys_write(session, &ks, &keys, buf, cap);
	if (!valid) {
		FUZZ_CHECK(n == DM_EINVAL);
		goto out;
	}
	if (cap < total) {
		FUZZ_CHECK(n == DM_ENOSPC);
		goto out;
	}
	FUZZ_CHECK(n == (int)total && total <= DM_RPROTO_KEYS_MAX_LEN);
	FUZZ_CHECK(dm_rproto_kind(buf, (size_t)n) == DM_RPROTO_KEYS);

	/* An exact-size copy, damaged by the rest of the input. */
	size_t len = (size_t)n;
	uint8_t *pkt = malloc(len);
	if (!pkt)
		goto out;
	memcpy(pkt, buf, len);
	while (rd->n >= 3) {
		size_t pos = fuzz_u16(rd) % len;
		pkt[pos] ^= fuzz_u8(rd);
	}
	bool same = memcmp(pkt, buf, len) == 0;
	if ((flags & KEYS_CUT) && len > 0) {
		len--;
		same = false;
	}
	struct dm_rproto_keyset out;
	int rc = dm_rproto_keys_read(pkt, len, session, &keys, &out);
	if (same) {
		FUZZ_CHECK(rc == 0);
		FUZZ_CHECK(keyset_equal(&ks, &out));
	} else {
		FUZZ_CHECK(rc == DM_EPROTO || rc == DM_EAUTH);
		FUZZ_CHECK(all_zero(&out, sizeof out));
		if (memcmp(pkt, buf, 20) != 0)
			FUZZ_CHECK(rc == DM_EPROTO);
	}
	free(pkt);
out:
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ready)
		init();
	struct fuzz_reader rd = {data, size};
	uint8_t mode = fuzz_u8(&rd);
	switch (mode & 3) {
	case MODE_HELLO: fuzz_hello(&rd); break;
	case MODE_KEYS: fuzz_keys(&rd); break;
	default: fuzz_raw(rd.p, rd.n); break;
	}
	return 0;
}
