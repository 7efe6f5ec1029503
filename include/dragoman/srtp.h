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

/* Who does the cryptography of every suite (AES-CTR, HMAC-SHA1, AES-GCM, and the key
 * derivation): "OpenSSL" when its implementations were put under libsrtp (the normal case),
 * "libsrtp" when one of them was refused and libsrtp's own backend (NSS on Debian 12, 2-6x
 * slower a packet) does some of it; NULL when libsrtp failed to initialise. Initialises libsrtp on
 * first use. The string is static. Thread: any. */
const char *dm_srtp_crypto_name(void);

/* Length of master key || master salt for suite (30, 28 or 44), or 0 for an
 * unknown suite. */
size_t dm_srtp_key_len(enum dm_srtp_suite suite);

/* SDES name of a suite ("AES_CM_128_HMAC_SHA1_80", ...), or NULL. */
const char *dm_srtp_suite_name(enum dm_srtp_suite suite);

/* Parses an SDES suite name. Returns 0 and sets *suite, or DM_EINVAL. */
int dm_srtp_suite_parse(const char *name, enum dm_srtp_suite *suite);

/* Creates the SRTP and SRTCP context of one stream identified by ssrc.
 * key: dm_srtp_key_len(suite) bytes of master key || master salt (copied, and
 * wiped on free). A SEND context only protects, a RECV context only unprotects
 * (the other calls answer DM_EINVAL). Only packets of ssrc are accepted.
 * Receive replay window: 1024 packets.
 * Returns 0 and *out (NULL on failure), DM_EINVAL, DM_ENOMEM, DM_ECRYPTO, or
 * DM_ENOTSUP for a GCM suite when libsrtp2 was built without GCM (Debian 12's
 * is built with NSS and has it). Thread: any; one context is used by one
 * thread at a time. */
int dm_srtp_new(enum dm_srtp_suite suite, enum dm_srtp_dir dir, uint32_t ssrc, const uint8_t *key,
		struct dm_srtp **out);

/* Frees a context (and wipes its keys); NULL is fine. */
void dm_srtp_free(struct dm_srtp *s);

/* Protects an RTP packet in place. *len: packet length in, protected length
 * out; cap: buffer size, at least *len + DM_SRTP_MAX_TRAILER (the suite's own
 * tag is enough: 10 bytes for AES_CM_128_HMAC_SHA1_80, 16 for GCM).
 * Returns 0, DM_EINVAL (not a SEND context, not a whole RTP header, another
 * SSRC, or a sequence number that would reuse a recent packet index, i.e.
 * keystream), DM_ENOSPC or DM_ECRYPTO. */
int dm_srtp_protect(struct dm_srtp *s, uint8_t *buf, size_t *len, size_t cap);

/* Protects an RTCP compound packet in place (cap >= *len + DM_SRTCP_MAX_TRAILER;
 * the suite's own trailer is enough: 4 + 10 or 4 + 16 bytes). The first
 * packet's SSRC must be the stream's. Returns as dm_srtp_protect. */
int dm_srtp_protect_rtcp(struct dm_srtp *s, uint8_t *buf, size_t *len, size_t cap);

/* Authenticates, replay-checks and decrypts an SRTP packet in place; *len is
 * updated. Returns 0; DM_EPROTO (shorter than its header (CSRCs and extension
 * included) plus the tag, not RTP version 2, or another SSRC: these never
 * reach libsrtp's crypto), DM_EAUTH (tag mismatch: forged, corrupted, wrong
 * key or wrong ROC), DM_EREPLAY (replayed or too old), DM_EINVAL (NULL, or
 * not a RECV context), DM_ECRYPTO. A failed packet leaves the stream as it
 * was. On failure the buffer is undefined. */
int dm_srtp_unprotect(struct dm_srtp *s, uint8_t *buf, size_t *len);

/* Same for SRTCP. The SRTCP index is on the wire: a receiver needs no state
 * to decrypt the first report it sees. DM_EPROTO below 8 bytes + the trailer. */
int dm_srtp_unprotect_rtcp(struct dm_srtp *s, uint8_t *buf, size_t *len);

/* Sets the rollover counter of the stream (the upper 32 bits of the 48-bit
 * packet index that are not on the wire). The next packet protected, or the
 * next one that authenticates on unprotect, gets the index roc << 16 | seq,
 * and later packets continue from it (ROC + 1 past a sequence wrap).
 * SEND: only before the first packet (afterwards DM_EINVAL: moving a
 * sender's index risks reusing keystream). RECV: on a stream that has already
 * accepted packets this restarts the stream (its replay window is lost), so
 * call it when the ROC is unknown (joining, resynchronising), not to confirm
 * a healthy stream. Returns 0, DM_EINVAL, DM_ENOMEM or DM_ECRYPTO. */
int dm_srtp_set_roc(struct dm_srtp *s, uint32_t roc);

/* Reads the current rollover counter (the one set, until a packet has used
 * it). Returns 0, DM_EINVAL or DM_ECRYPTO. */
int dm_srtp_get_roc(struct dm_srtp *s, uint32_t *roc);

/* Finds the rollover counter of a receive stream that is joined late: tries
 * the candidates first, then 0..max_roc (inclusive, skipping candidates
 * already tried), each on a copy of the packet, and keeps the first that
 * authenticates (the stream is then set to it as by dm_srtp_set_roc; the
 * packet itself is not consumed: unprotect it next, it is not a replay).
 * candidates may be NULL with n_candidates 0. The trials run on a separate
 * probe session with the same key, so failed and successful trials leave the
 * stream's replay state alone. Cost: about 1-3 us per candidate (1024
 * candidates: about 1.1-2.8 ms on one core, suite and packet size dependent).
 * Returns 0 and *roc; DM_EAUTH when none fits (wrong key, or ROC out of
 * range); DM_EPROTO (as dm_srtp_unprotect, or longer than DM_MAX_PACKET);
 * DM_EINVAL (NULL, or not a RECV context); DM_ENOMEM; DM_ECRYPTO. */
int dm_srtp_find_roc(struct dm_srtp *s, const uint8_t *pkt, size_t len, const uint32_t *candidates,
		     size_t n_candidates, uint32_t max_roc, uint32_t *roc);

#ifdef __cplusplus
}
#endif
#endif
