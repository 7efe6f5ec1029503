/* dragoman: error codes shared by every module.
 *
 * Every library function returns 0 (or a non-negative count) on success and
 * one of the negative DM_E* codes below on failure. */
#ifndef DRAGOMAN_ERROR_H
#define DRAGOMAN_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum dm_error {
	DM_OK = 0,
	DM_EINVAL = -1,	  /* an argument or a value is invalid */
	DM_ENOMEM = -2,	  /* an allocation failed */
	DM_EIO = -3,	  /* a system call or a file operation failed */
	DM_ENOENT = -4,	  /* a file, id or stream does not exist */
	DM_EEXIST = -5,	  /* refusing to overwrite something that exists */
	DM_EPERM = -6,	  /* a file has unsafe permissions */
	DM_ENOSPC = -7,	  /* a buffer or a table is too small */
	DM_EPROTO = -8,	  /* malformed or truncated packet */
	DM_EAUTH = -9,	  /* authentication failed (SRTP tag, token) */
	DM_EREPLAY = -10, /* a packet was replayed or is too old */
	DM_ECRYPTO = -11, /* the crypto library failed */
	DM_ECODEC = -12,  /* the codec failed */
	DM_ENET = -13,	  /* a socket or multicast operation failed */
	DM_EJACK = -14,	  /* the JACK server is unreachable or refused */
	DM_EAGAIN = -15,  /* nothing to do now; try again later */
	DM_ELIMIT = -16,  /* a rate limit was hit */
	DM_ECONFIG = -17, /* the configuration has errors (already reported) */
	DM_EAUDIO = -18,  /* the audio device failed */
	DM_ENOTSUP = -19, /* not supported */
};

/* Returns a static, human-readable description of a DM_E* code (or of 0).
 * Never NULL; an unknown code gives "unknown error". Thread-safe. */
const char *dm_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
