/* dragoman: the conference secret and the per-stream SRTP keys derived from it
 * (DESIGN.md, "Keys and trust"). */
#ifndef DRAGOMAN_KEYS_H
#define DRAGOMAN_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "dragoman/defaults.h"
#include "dragoman/srtp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* HKDF-SHA256 (RFC 5869) through OpenSSL's libcrypto.
 * salt may be NULL with salt_len 0 (then a zero salt is used, per the RFC);
 * info may be NULL with info_len 0; ikm must not be empty; out_len 1 .. 255 * 32.
 * Returns 0, DM_EINVAL or DM_ECRYPTO. Thread: any. */
int dm_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
		   const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len);

/* Derives the SRTP master key || salt of one stream:
 * HKDF-SHA256(ikm = secret, salt = conference id,
 *             info = "dragoman srtp v1" 0x00 channel_id 0x00 ssrc (4 bytes, big-endian)),
 * dm_srtp_key_len(suite) bytes into out (cap bytes available). The label and
 * ids are taken without their terminating NUL; the 0x00 bytes are separators.
 * conference_id and channel_id must not be empty; channel_id at most 255
 * characters. The shorter keys are prefixes of the longer ones (one HKDF
 * output stream), which is fine since one stream uses one suite.
 * Returns 0, DM_EINVAL, DM_ENOSPC or DM_ECRYPTO. Thread: any. */
int dm_keys_derive(const uint8_t secret[DM_SECRET_LEN], const char *conference_id,
		   const char *channel_id, uint32_t ssrc, enum dm_srtp_suite suite, uint8_t *out,
		   size_t cap);

/* Reads a conference secret file: base64 of 32 bytes, surrounding white space
 * allowed. Refuses a file that group or others may read or write (mode & 077,
 * checked with fstat on the opened file).
 * Returns 0; DM_ENOENT (missing); DM_EPERM (mode allows group/other access);
 * DM_EINVAL (not base64 of 32 bytes, not a regular file, NULL or empty path);
 * DM_EIO. secret is untouched on failure. Thread: any. */
int dm_secret_load(const char *path, uint8_t secret[DM_SECRET_LEN]);

/* Writes a new random secret (RAND_bytes) to path, created with mode 0600
 * (whatever the umask), as base64 and a newline, fsync'ed.
 * Never overwrites: DM_EEXIST when path exists (also a directory or a
 * dangling symlink). A failed write removes the partial file.
 * Returns 0, DM_EEXIST, DM_EIO (e.g. missing folder), DM_ECRYPTO or DM_EINVAL
 * (NULL or empty path). */
int dm_secret_generate(const char *path);

/* Fills buf with n cryptographically random bytes. Returns 0, DM_EINVAL (buf
 * NULL with n > 0) or DM_ECRYPTO. */
int dm_random_bytes(void *buf, size_t n);

/* Base64 (standard alphabet, padded) of n bytes into out (cap bytes, NUL
 * included: cap >= 4 * ceil(n / 3) + 1). Returns the length written (without
 * the NUL), DM_ENOSPC, or DM_EINVAL (NULL out, in NULL with n > 0). */
int dm_base64_encode(const uint8_t *in, size_t n, char *out, size_t cap);

/* Decodes padded base64 (standard alphabet, NUL-terminated input, no white
 * space, length a multiple of 4, '=' only as the last one or two characters).
 * cap needs only the decoded length (nothing is written past it). Returns the
 * number of bytes written or DM_EINVAL / DM_ENOSPC. */
int dm_base64_decode(const char *in, uint8_t *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
