/* dragoman: SRTP/SRTCP contexts of one stream, a thin layer over libsrtp2 (2.x API, as Debian 12
 * ships it: 2.5.0, built against NSS, so the AES-GCM suites are there). The ciphers and the
 * HMAC are OpenSSL's, put under libsrtp at its first use (srtp_ossl.c): NSS cost 2-6 times as
 * much a packet.
 *
 * Each dm_srtp holds one libsrtp session with exactly one stream (ssrc_specific policy): a
 * packet of any other SSRC is refused (libsrtp's no_ctx, our DM_EPROTO) instead of silently
 * creating a stream from a template.
 *
 * Rollover counter (ROC), as measured on libsrtp 2.5.0 (see the report in test_srtp.c):
 * - srtp_set_stream_roc() only records a "pending" ROC. The next packet that is protected, or
 *   that authenticates on unprotect, gets the index roc << 16 | seq and the stream continues
 *   from there (past a wrap of the sequence number the ROC counts up as usual).
 * srtp_get_stream_roc() does not see the pending value until that packet, so we remember it
 * ourselves.
 * - A failed unprotect (wrong ROC: auth_fail) leaves the stream unharmed, pending ROC included;
 *   setting another ROC and trying again works.
 * - A successful unprotect records the index in the replay window, so a trial decryption on a
 *   copy would make the real packet a replay. dm_srtp_find_roc therefore tries the candidates
 *   on a separate probe session with the same key, thrown away after it succeeds.
 * - On a stream that already carries packets the pending ROC is relative to its state: 0 means
 *   "none" (ignored), and a ROC more than half a wrap behind fails every later packet with
 *   pkt_idx_old until the ROC is set again. So setting the ROC of a receive stream that has
 *   packets recreates the stream (fresh replay state) first; a send stream refuses it.
 */
#include "dragoman/srtp.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <srtp2/srtp.h>

#include "dragoman/defaults.h"
#include "dragoman/error.h"

#include "srtp_ossl.h"

#define RTP_HEADER_LEN 12
#define RTCP_HEADER_LEN 8
#define SEND_WINDOW 128	 /* guards the sender against reusing an index (keystream) */
#define RECV_WINDOW 1024 /* replay window: about 5 s of 5 ms frames */

struct dm_srtp {
	srtp_t ctx;
	srtp_t probe; /* receive only: where dm_srtp_find_roc tries candidates; NULL until needed */
	enum dm_srtp_suite suite;
	enum dm_srtp_dir dir;
	uint32_t ssrc;
	size_t rtp_trailer;  /* tag bytes protect appends to RTP */
	size_t rtcp_trailer; /* E flag + index + tag bytes appended to RTCP */
	bool used;    /* an RTP packet went through: libsrtp's index state is no longer fresh */
	bool pending; /* a ROC was set and no RTP packet has used it yet */
	uint32_t pending_roc;
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static srtp_err_status_t init_status = srtp_err_status_init_fail;

/* Debian's libsrtp2 uses NSS, which it starts with the first cipher that needs it and shuts
 * down with the last one: 2-5 ms each time, paid by every session made and freed (a listener's
 * channel switch, a receiver report's check). With OpenSSL's types in place nothing is left to
 * NSS; if one was refused, sessions of both kinds of suite, kept for the life of the process,
 * keep NSS up. */
static srtp_t keepalive[2];
static bool ossl_installed;

static void init_library(void)
{
	init_status = srtp_init();
	if (init_status != srtp_err_status_ok)
		return;
	ossl_installed = dm_srtp_ossl_install() == 0;
	if (ossl_installed)
		return;
	srtp_policy_t policy;
	memset(&policy, 0, sizeof policy);
	static unsigned char zero_key[SRTP_AES_ICM_256_KEY_LEN_WSALT];
	policy.ssrc.type = ssrc_any_outbound;
	policy.key = zero_key;
	srtp_crypto_policy_set_rtp_default(&policy.rtp);
	srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
	if (srtp_create(&keepalive[0], &policy) != srtp_err_status_ok)
		keepalive[0] = NULL; /* only slower */
	srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtp);
	srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtcp);
	if (srtp_create(&keepalive[1], &policy) != srtp_err_status_ok)
		keepalive[1] = NULL; /* no GCM in this libsrtp, or only slower */
}

const char *dm_srtp_crypto_name(void)
{
	if (pthread_once(&init_once, init_library) != 0 || init_status != srtp_err_status_ok)
		return NULL;
	return ossl_installed ? "OpenSSL" : "libsrtp";
}

size_t dm_srtp_key_len(enum dm_srtp_suite suite)
{
	switch (suite) {
	case DM_SRTP_AES_CM_128_HMAC_SHA1_80: return SRTP_AES_ICM_128_KEY_LEN_WSALT;
	case DM_SRTP_AEAD_AES_128_GCM: return SRTP_AES_GCM_128_KEY_LEN_WSALT;
	case DM_SRTP_AEAD_AES_256_GCM: return SRTP_AES_GCM_256_KEY_LEN_WSALT;
	}
	return 0;
}

static const char *const suite_names[] = {
	[DM_SRTP_AES_CM_128_HMAC_SHA1_80] = "AES_CM_128_HMAC_SHA1_80",
	[DM_SRTP_AEAD_AES_128_GCM] = "AEAD_AES_128_GCM",
	[DM_SRTP_AEAD_AES_256_GCM] = "AEAD_AES_256_GCM",
};

const char *dm_srtp_suite_name(enum dm_srtp_suite suite)
{
	if ((unsigned)suite >= sizeof suite_names / sizeof suite_names[0])
		return NULL;
	return suite_names[suite];
}

int dm_srtp_suite_parse(const char *name, enum dm_srtp_suite *suite)
{
	if (!name || !suite)
		return DM_EINVAL;
	for (size_t i = 0; i < sizeof suite_names / sizeof suite_names[0]; i++) {
		if (strcmp(name, suite_names[i]) == 0) {
			*suite = (enum dm_srtp_suite)i;
			return 0;
		}
	}
	return DM_EINVAL;
}

/* Errors of the receive path. pkt_idx_old is libsrtp's "index too old to consider": a replay
 * as far as the caller is concerned. cant_check is an SRTCP packet whose E flag says
 * "not encrypted" while the suite encrypts: checked before authentication, so anyone can send
 * it, and it is malformed, not a failure of the library (found by tests/fuzz/fuzz_srtp). */
static int map_unprotect_err(srtp_err_status_t st)
{
	switch (st) {
	case srtp_err_status_ok: return 0;
	case srtp_err_status_auth_fail: return DM_EAUTH;
	case srtp_err_status_replay_fail:
	case srtp_err_status_replay_old:
	case srtp_err_status_pkt_idx_old: return DM_EREPLAY;
	case srtp_err_status_bad_param:
	case srtp_err_status_parse_err:
	case srtp_err_status_cant_check:
	case srtp_err_status_no_ctx: return DM_EPROTO;
	case srtp_err_status_alloc_fail: return DM_ENOMEM;
	default: return DM_ECRYPTO;
	}
}

/* Errors of the send path: everything the caller can cause (a malformed header, another
 * SSRC, a sequence number that would reuse a packet index) is an invalid argument. */
static int map_protect_err(srtp_err_status_t st)
{
	switch (st) {
	case srtp_err_status_ok: return 0;
	case srtp_err_status_bad_param:
	case srtp_err_status_parse_err:
	case srtp_err_status_no_ctx:
	case srtp_err_status_replay_fail:
	case srtp_err_status_replay_old:
	case srtp_err_status_pkt_idx_old: return DM_EINVAL;
	case srtp_err_status_alloc_fail: return DM_ENOMEM;
	default: return DM_ECRYPTO;
	}
}

static int make_session(const struct dm_srtp *s, srtp_t *out)
{
	srtp_policy_t policy;

	memset(&policy, 0, sizeof policy);
	switch (s->suite) {
	case DM_SRTP_AES_CM_128_HMAC_SHA1_80:
		srtp_crypto_policy_set_rtp_default(&policy.rtp);
		srtp_crypto_policy_set_rtcp_default(&policy.rtcp);
		break;
	case DM_SRTP_AEAD_AES_128_GCM:
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtp);
		srtp_crypto_policy_set_aes_gcm_128_16_auth(&policy.rtcp);
		break;
	case DM_SRTP_AEAD_AES_256_GCM:
		srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtp);
		srtp_crypto_policy_set_aes_gcm_256_16_auth(&policy.rtcp);
		break;
	}
	policy.ssrc.type = ssrc_specific;
	policy.ssrc.value = s->ssrc;
	/* libsrtp only reads the key (it derives its session keys from it). */
	policy.key = (unsigned char *)s->key;
	policy.window_size = s->dir == DM_SRTP_RECV ? RECV_WINDOW : SEND_WINDOW;
	policy.allow_repeat_tx = 0;
	policy.next = NULL;

	srtp_err_status_t st = srtp_create(out, &policy);
	if (st == srtp_err_status_ok)
		return 0;
	*out = NULL;
	if (st == srtp_err_status_alloc_fail)
		return DM_ENOMEM;
	/* A libsrtp2 built without GCM (no OpenSSL/NSS backend) fails to allocate the cipher. */
	if (s->suite != DM_SRTP_AES_CM_128_HMAC_SHA1_80 &&
	    (st == srtp_err_status_fail || st == srtp_err_status_bad_param))
		return DM_ENOTSUP;
	return DM_ECRYPTO;
}

int dm_srtp_new(enum dm_srtp_suite suite, enum dm_srtp_dir dir, uint32_t ssrc, const uint8_t *key,
		struct dm_srtp **out)
{
	if (out)
		*out = NULL;
	size_t key_len = dm_srtp_key_len(suite);
	if (!out || !key || key_len == 0 || (dir != DM_SRTP_SEND && dir != DM_SRTP_RECV))
		return DM_EINVAL;
	if (pthread_once(&init_once, init_library) != 0 || init_status != srtp_err_status_ok)
		return DM_ECRYPTO;

	struct dm_srtp *s = calloc(1, sizeof *s);
	if (!s)
		return DM_ENOMEM;
	s->suite = suite;
	s->dir = dir;
	s->ssrc = ssrc;
	memcpy(s->key, key, key_len);

	int ret = make_session(s, &s->ctx);
	if (ret < 0)
		goto fail;

	uint32_t rtp_trailer = 0, rtcp_trailer = 0;
	if (srtp_get_protect_trailer_length(s->ctx, 0, 0, &rtp_trailer) != srtp_err_status_ok ||
	    srtp_get_protect_rtcp_trailer_length(s->ctx, 0, 0, &rtcp_trailer) !=
		    srtp_err_status_ok ||
	    rtp_trailer > DM_SRTP_MAX_TRAILER || rtcp_trailer > DM_SRTCP_MAX_TRAILER) {
		ret = DM_ECRYPTO;
		goto fail;
	}
	s->rtp_trailer = rtp_trailer;
	s->rtcp_trailer = rtcp_trailer;
	*out = s;
	return 0;

fail:
	dm_srtp_free(s);
	return ret;
}

void dm_srtp_free(struct dm_srtp *s)
{
	if (!s)
		return;
	if (s->ctx)
		srtp_dealloc(s->ctx);
	if (s->probe)
		srtp_dealloc(s->probe);
	OPENSSL_cleanse(s, sizeof *s);
	free(s);
}

/* Length of the RTP header (fixed part, CSRCs, extension) of buf, or 0 when it is not a
 * complete RTP version 2 header. */
static size_t rtp_header_len(const uint8_t *buf, size_t len)
{
	if (len < RTP_HEADER_LEN || (buf[0] >> 6) != 2)
		return 0;
	size_t hdr = RTP_HEADER_LEN + 4u * (buf[0] & 0x0f);
	if (buf[0] & 0x10) {
		if (len < hdr + 4)
			return 0;
		hdr += 4 + 4u * (((size_t)buf[hdr + 2] << 8) | buf[hdr + 3]);
	}
	return hdr <= len ? hdr : 0;
}

/* What unprotect needs before libsrtp may look at a packet: a whole header and a whole tag. */
static int check_srtp_packet(const struct dm_srtp *s, const uint8_t *buf, size_t len)
{
	if (len > INT_MAX)
		return DM_EPROTO;
	size_t hdr = rtp_header_len(buf, len);
	if (hdr == 0 || len < hdr + s->rtp_trailer)
		return DM_EPROTO;
	return 0;
}

int dm_srtp_protect(struct dm_srtp *s, uint8_t *buf, size_t *len, size_t cap)
{
	if (!s || !buf || !len || s->dir != DM_SRTP_SEND)
		return DM_EINVAL;
	if (*len > INT_MAX - DM_SRTP_MAX_TRAILER || rtp_header_len(buf, *len) == 0)
		return DM_EINVAL;
	if (cap < *len + s->rtp_trailer)
		return DM_ENOSPC;
	int n = (int)*len;
	int ret = map_protect_err(srtp_protect(s->ctx, buf, &n));
	if (ret < 0)
		return ret;
	*len = (size_t)n;
	s->used = true;
	s->pending = false;
	return 0;
}

int dm_srtp_protect_rtcp(struct dm_srtp *s, uint8_t *buf, size_t *len, size_t cap)
{
	if (!s || !buf || !len || s->dir != DM_SRTP_SEND)
		return DM_EINVAL;
	if (*len > INT_MAX - DM_SRTCP_MAX_TRAILER || *len < RTCP_HEADER_LEN || (buf[0] >> 6) != 2)
		return DM_EINVAL;
	if (cap < *len + s->rtcp_trailer)
		return DM_ENOSPC;
	int n = (int)*len;
	int ret = map_protect_err(srtp_protect_rtcp(s->ctx, buf, &n));
	if (ret < 0)
		return ret;
	*len = (size_t)n;
	return 0;
}

int dm_srtp_unprotect(struct dm_srtp *s, uint8_t *buf, size_t *len)
{
	if (!s || !buf || !len || s->dir != DM_SRTP_RECV)
		return DM_EINVAL;
	int ret = check_srtp_packet(s, buf, *len);
	if (ret < 0)
		return ret;
	int n = (int)*len;
	ret = map_unprotect_err(srtp_unprotect(s->ctx, buf, &n));
	if (ret < 0)
		return ret;
	*len = (size_t)n;
	s->used = true;
	s->pending = false;
	return 0;
}

int dm_srtp_unprotect_rtcp(struct dm_srtp *s, uint8_t *buf, size_t *len)
{
	if (!s || !buf || !len || s->dir != DM_SRTP_RECV)
		return DM_EINVAL;
	if (*len > INT_MAX || *len < RTCP_HEADER_LEN + s->rtcp_trailer || (buf[0] >> 6) != 2)
		return DM_EPROTO;
	int n = (int)*len;
	int ret = map_unprotect_err(srtp_unprotect_rtcp(s->ctx, buf, &n));
	if (ret < 0)
		return ret;
	*len = (size_t)n;
	return 0;
}

int dm_srtp_set_roc(struct dm_srtp *s, uint32_t roc)
{
	if (!s)
		return DM_EINVAL;
	if (s->used) {
		/* A sender that moves its index after the first packet risks reusing keystream. */
		if (s->dir == DM_SRTP_SEND)
			return DM_EINVAL;
		/* Relative to its state libsrtp would ignore 0, get stuck on a ROC behind it, or
		 * re-guess a ROC equal to it from the sequence number: start afresh instead. */
		srtp_t fresh;
		int ret = make_session(s, &fresh);
		if (ret < 0)
			return ret == DM_ENOMEM ? DM_ENOMEM : DM_ECRYPTO;
		srtp_dealloc(s->ctx);
		s->ctx = fresh;
		s->used = false;
	}
	if (srtp_set_stream_roc(s->ctx, s->ssrc, roc) != srtp_err_status_ok)
		return DM_ECRYPTO;
	s->pending = true;
	s->pending_roc = roc;
	return 0;
}

int dm_srtp_get_roc(struct dm_srtp *s, uint32_t *roc)
{
	if (!s || !roc)
		return DM_EINVAL;
	if (s->pending) {
		*roc = s->pending_roc;
		return 0;
	}
	if (srtp_get_stream_roc(s->ctx, s->ssrc, roc) != srtp_err_status_ok)
		return DM_ECRYPTO;
	return 0;
}

/* One trial of the search: 1 found, 0 not this one (auth failed), or a DM_E* code that no
 * other candidate can change (malformed packet, another SSRC). */
static int try_roc(struct dm_srtp *s, uint8_t *copy, const uint8_t *pkt, size_t len, uint32_t roc)
{
	if (srtp_set_stream_roc(s->probe, s->ssrc, roc) != srtp_err_status_ok)
		return DM_ECRYPTO;
	memcpy(copy, pkt, len);
	int n = (int)len;
	srtp_err_status_t st = srtp_unprotect(s->probe, copy, &n);
	if (st == srtp_err_status_ok)
		return 1;
	if (st == srtp_err_status_auth_fail)
		return 0;
	return map_unprotect_err(st);
}

static bool tried_before(const uint32_t *candidates, size_t n, uint32_t roc)
{
	for (size_t i = 0; i < n; i++)
		if (candidates[i] == roc)
			return true;
	return false;
}

int dm_srtp_find_roc(struct dm_srtp *s, const uint8_t *pkt, size_t len, const uint32_t *candidates,
		     size_t n_candidates, uint32_t max_roc, uint32_t *roc)
{
	if (!s || !pkt || !roc || (!candidates && n_candidates > 0) || s->dir != DM_SRTP_RECV)
		return DM_EINVAL;
	if (len > DM_MAX_PACKET)
		return DM_EPROTO;
	int ret = check_srtp_packet(s, pkt, len);
	if (ret < 0)
		return ret;
	/* The probe never keeps a packet that authenticated (it is freed then), and a failed
	 * trial leaves it as it was: it is fresh whenever a search starts. */
	if (!s->probe) {
		ret = make_session(s, &s->probe);
		if (ret < 0)
			return ret == DM_ENOMEM ? DM_ENOMEM : DM_ECRYPTO;
	}

	_Alignas(16) uint8_t copy[DM_MAX_PACKET];
	uint32_t found = 0;
	ret = 0;
	for (size_t i = 0; i < n_candidates && ret == 0; i++) {
		if (tried_before(candidates, i, candidates[i]))
			continue;
		ret = try_roc(s, copy, pkt, len, candidates[i]);
		found = candidates[i];
	}
	for (uint64_t c = 0; c <= max_roc && ret == 0; c++) {
		if (tried_before(candidates, n_candidates, (uint32_t)c))
			continue;
		ret = try_roc(s, copy, pkt, len, (uint32_t)c);
		found = (uint32_t)c;
	}
	OPENSSL_cleanse(copy, len); /* it may hold the decrypted payload */
	if (ret < 0)
		return ret;
	if (ret == 0)
		return DM_EAUTH;

	/* The probe recorded the packet's index: drop it so the next search starts fresh. */
	srtp_dealloc(s->probe);
	s->probe = NULL;
	ret = dm_srtp_set_roc(s, found);
	if (ret < 0)
		return ret;
	*roc = found;
	return 0;
}
