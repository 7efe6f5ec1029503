/* libFuzzer harness: the SRTP receive side (src/net/srtp.c over libsrtp2):
 * dm_srtp_unprotect, dm_srtp_unprotect_rtcp and dm_srtp_find_roc on a
 * receive context with the fixed key of fuzz_common.h. The seed corpus holds
 * packets protected with that key, so mutations reach past authentication
 * (replay window, ROC estimation, decryption). A fresh context per input keeps
 * every run reproducible on its own.
 *
 * Input: byte 0 = flags (below); then either one packet, or (FLAG_MULTI)
 * chunks (fuzz_chunk) whose first byte is CHUNK_* and the rest a packet, all
 * on the same context. Properties checked besides the sanitizers: an
 * accepted packet is rejected as a replay the second time, and a ROC that
 * dm_srtp_find_roc reports lets the very packet through. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dragoman/error.h"
#include "dragoman/srtp.h"
#include "fuzz_common.h"

#define FLAG_SUITE_MASK 0x03 /* enum dm_srtp_suite; 3 means 0 */
#define FLAG_RTCP 0x04	     /* single packet: SRTCP */
#define FLAG_FIND_ROC 0x08   /* single packet: dm_srtp_find_roc before unprotect */
#define FLAG_MULTI 0x10
#define FLAG_SET_ROC 0x20 /* dm_srtp_set_roc(bytes 1-4) first */

#define CHUNK_RTCP 0x01
#define CHUNK_FIND_ROC 0x02

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint32_t candidates[] = {0, 1, 0xffffffffu, 0x10000u};

/* Debian's libsrtp2 does its crypto with NSS, which it initialises when the
 * first context is made and shuts down (dlclose) when the last one is freed:
 * about 3 ms each time. This context, created once, keeps NSS up. */
static struct dm_srtp *keep_nss;

static void one_packet(struct dm_srtp *s, const uint8_t *data, size_t size, bool rtcp,
		       bool find_roc)
{
	/* Exact-size copies: ASan catches a read or write one byte past. */
	uint8_t *pkt = malloc(size ? size : 1);
	uint8_t *again = malloc(size ? size : 1);
	if (!pkt || !again)
		goto out;
	memcpy(pkt, data, size);
	memcpy(again, data, size);
	size_t len = size;
	int rc;
	if (rtcp) {
		rc = dm_srtp_unprotect_rtcp(s, pkt, &len);
	} else {
		if (find_roc) {
			uint32_t roc = 0;
			rc = dm_srtp_find_roc(s, pkt, size, candidates,
					      sizeof candidates / sizeof candidates[0], 3, &roc);
			FUZZ_CHECK(rc == 0 || rc == DM_EAUTH || rc == DM_EPROTO);
			if (rc == 0) {
				uint32_t got = 0;
				FUZZ_CHECK(dm_srtp_get_roc(s, &got) == 0 && got == roc);
				FUZZ_CHECK(memcmp(pkt, data, size) == 0); /* not consumed */
			}
			bool found = rc == 0;
			rc = dm_srtp_unprotect(s, pkt, &len);
			if (found)
				FUZZ_CHECK(rc == 0);
		} else {
			rc = dm_srtp_unprotect(s, pkt, &len);
		}
	}
	FUZZ_CHECK(rc == 0 || rc == DM_EPROTO || rc == DM_EAUTH || rc == DM_EREPLAY);
	if (rc < 0)
		goto out;
	FUZZ_CHECK(len < size);
	/* The same packet twice is a replay, never a second delivery. */
	len = size;
	rc = rtcp ? dm_srtp_unprotect_rtcp(s, again, &len) : dm_srtp_unprotect(s, again, &len);
	FUZZ_CHECK(rc == DM_EREPLAY);
out:
	free(pkt);
	free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!keep_nss)
		FUZZ_CHECK(dm_srtp_new(DM_SRTP_AES_CM_128_HMAC_SHA1_80, DM_SRTP_RECV, 1, fuzz_key,
				       &keep_nss) == 0);
	struct fuzz_reader rd = {data, size};
	uint8_t flags = fuzz_u8(&rd);
	enum dm_srtp_suite suite = (enum dm_srtp_suite)((flags & FLAG_SUITE_MASK) % 3);
	struct dm_srtp *s = NULL;
	int rc = dm_srtp_new(suite, DM_SRTP_RECV, FUZZ_SSRC, fuzz_key, &s);
	FUZZ_CHECK(rc == 0 && s);
	if (flags & FLAG_SET_ROC)
		FUZZ_CHECK(dm_srtp_set_roc(s, fuzz_u32(&rd)) == 0);

	if (flags & FLAG_MULTI) {
		const uint8_t *chunk;
		size_t len;
		while (fuzz_chunk(&rd, &chunk, &len)) {
			if (len == 0)
				continue;
			one_packet(s, chunk + 1, len - 1, chunk[0] & CHUNK_RTCP,
				   chunk[0] & CHUNK_FIND_ROC);
		}
	} else {
		one_packet(s, rd.p, rd.n, flags & FLAG_RTCP, flags & FLAG_FIND_ROC);
	}
	dm_srtp_free(s);
	return 0;
}
