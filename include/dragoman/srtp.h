/* dragoman: SRTP/SRTCP contexts for one stream (libsrtp2, RFC 3711). */
#ifndef DRAGOMAN_SRTP_H
#define DRAGOMAN_SRTP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum dm_srtp_suite {
	DM_SRTP_AES_CM_128_HMAC_SHA1_80 = 0, /* default; what ffmpeg, GStreamer and Janus take */
	DM_SRTP_AEAD_AES_128_GCM = 1,
	DM_SRTP_AEAD_AES_256_GCM = 2,
};

enum dm_srtp_dir { DM_SRTP_SEND = 0, DM_SRTP_RECV = 1 };

struct dm_srtp;

/* Length of master key || master salt for suite (30, 28 or 44), or 0 for an
 * unknown suite. */
size_t dm_srtp_key_len(enum dm_srtp_suite suite);

/* SDES name of a suite ("AES_CM_128_HMAC_SHA1_80", ...), or NULL. */
const char *dm_srtp_suite_name(enum dm_srtp_suite suite);

/* Parses an SDES suite name. Returns 0 and sets *suite, or DM_EINVAL. */
int dm_srtp_suite_parse(const char *name, enum dm_srtp_suite *suite);

/* Creates the SRTP and SRTCP context of one stream identified by ssrc.
 * key: dm_srtp_key_len(suite) bytes of master key || master salt (copied).
 * Returns 0 and *out, DM_EINVAL, DM_ENOMEM or DM_ECRYPTO. Thread: any; one
 * context is used by one thread at a time. */
int dm_srtp_new(enum dm_srtp_suite suite, enum dm_srtp_dir dir, uint32_t ssrc, const uint8_t *key,
		struct dm_srtp **out);

/* Frees a context (and wipes its keys); NULL is fine. */
void dm_srtp_free(struct dm_srtp *s);

/* Protects an RTP packet in place. *len: packet length in, protected length
 * out; cap: buffer size, at least *len + DM_SRTP_MAX_TRAILER.
 * Returns 0, DM_EINVAL, DM_ENOSPC or DM_ECRYPTO. */
int dm_srtp_protect(struct dm_srtp *s, uint8_t *buf, size_t *len, size_t cap);

/* Protects an RTCP compound packet in place (cap >= *len + DM_SRTCP_MAX_TRAILER). */
int dm_srtp_protect_rtcp(struct dm_srtp *s, uint8_t *buf, size_t *len, size_t cap);

/* Authenticates, replay-checks and decrypts an SRTP packet in place; *len is
 * updated. Returns 0; DM_EPROTO (too short or not RTP of this stream),
 * DM_EAUTH (tag mismatch: forged, corrupted or wrong key), DM_EREPLAY
 * (replayed or too old), DM_ECRYPTO. On failure the buffer is undefined. */
int dm_srtp_unprotect(struct dm_srtp *s, uint8_t *buf, size_t *len);

/* Same for SRTCP. */
int dm_srtp_unprotect_rtcp(struct dm_srtp *s, uint8_t *buf, size_t *len);

/* Sets the rollover counter of the stream (the upper 32 bits of the 48-bit
 * packet index that are not on the wire). Returns 0 or DM_ECRYPTO. */
int dm_srtp_set_roc(struct dm_srtp *s, uint32_t roc);

/* Reads the current rollover counter. Returns 0 or DM_ECRYPTO. */
int dm_srtp_get_roc(struct dm_srtp *s, uint32_t *roc);

/* Finds the rollover counter of a receive stream that is joined late: tries
 * the candidates first, then 0..max_roc, each on a copy of the packet, and
 * keeps the first that authenticates (the stream is then set to it; the
 * packet itself is not consumed). candidates may be NULL with n_candidates 0.
 * Returns 0 and *roc; DM_EAUTH when none fits; DM_EPROTO; DM_EINVAL. */
int dm_srtp_find_roc(struct dm_srtp *s, const uint8_t *pkt, size_t len, const uint32_t *candidates,
		     size_t n_candidates, uint32_t max_roc, uint32_t *roc);

#ifdef __cplusplus
}
#endif
#endif
