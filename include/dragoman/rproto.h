/* dragoman: the datagrams a remote listener and the engine exchange besides
 * SRTP/SRTCP, on the engine's remote UDP port (remote.listen).
 *
 * A remote session is created over the TLS control API (POST
 * /api/v1/remote/sessions with a delegate token), which answers a session id
 * (16 random bytes) and a session key (32 random bytes) among the channels'
 * keys. From the session key both sides derive (dm_rproto_derive):
 *   hello key  = HKDF-SHA256(salt none, session key, "dragoman hello v1"), 32 bytes
 *   update key = HKDF-SHA256(salt none, session key, "dragoman keys v1"), 32 bytes
 *
 * Hello, listener -> engine, every DM_REMOTE_HELLO_S from the listener's own
 * UDP socket (the engine sends media to the address and port it came from),
 * 72 bytes, integers big-endian:
 *    0  4  "DMH1"
 *    4 16  session id
 *   20  8  counter: strictly increasing within the session (the first is 1);
 *          the engine drops a hello whose counter is not above the last one
 *          it accepted (a replay)
 *  28  4  key generation the listener holds (acknowledges a key update)
 *  32 24  RTCP report block (RFC 3550 6.4.1) about the stream it plays: SSRC,
 *          fraction lost, cumulative lost (24 bits), extended highest
 *          sequence, interarrival jitter, LSR, DLSR; all zero when none yet
 *  56 16  HMAC-SHA256(hello key, bytes 0..55), its first 16 bytes
 *
 * A hello from an address the session is not bound to binds nothing: the
 * engine answers a challenge, smaller than the hello, and binds the address
 * only when a response from it returns the cookie under the session's key
 * (return routability: a delegate cannot aim a stream at an address it does
 * not receive at, by forging its hellos' source).
 *
 * Challenge, engine -> a hello's source address, 36 bytes:
 *    0  4  "DMC1"
 *    4 16  session id
 *   20 16  cookie (the engine's MAC of the session id, address, port and time)
 *
 * Response, listener -> engine, from the challenged socket, 52 bytes:
 *    0  4  "DMR1"
 *    4 16  session id
 *   20 16  the cookie
 *   36 16  HMAC-SHA256(hello key, bytes 0..35), its first 16 bytes
 *
 * Key update, engine -> listener, only to the address a session is bound to
 * (after a challenge answered), repeated until a hello acknowledges it:
 *    0  4  "DMK1"
 *    4 16  session id
 *   20 12  nonce (random)
 *   32  n  AES-256-GCM(update key, nonce, AAD = bytes 0..31) of the payload
 *  32+n 16 GCM tag
 * payload: generation (4) | count (1) | count x { channel index (1), SSRC (4),
 * suite (1, enum dm_srtp_suite), key length (1), master key || salt }.
 * Channel indexes are those of the session's channel list (the
 * configuration's order, floor first). */
#ifndef DRAGOMAN_RPROTO_H
#define DRAGOMAN_RPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "dragoman/defaults.h"
#include "dragoman/srtp.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DM_RPROTO_SESSION_ID_LEN 16
#define DM_RPROTO_SESSION_KEY_LEN 32
#define DM_RPROTO_HELLO_LEN 72
#define DM_RPROTO_COOKIE_LEN 16
#define DM_RPROTO_CHALLENGE_LEN 36
#define DM_RPROTO_RESPONSE_LEN 52
#define DM_RPROTO_MAX_KEYS 16 /* channels in one key update (floor included) */
#define DM_RPROTO_KEYS_MAX_LEN                                                                     \
	(32 + 5 + DM_RPROTO_MAX_KEYS * (7 + DM_SRTP_MAX_KEY_LEN) + 16) /* a key update's bytes */

/* What a datagram on the remote port is, from its first bytes only. */
enum dm_rproto_kind {
	DM_RPROTO_OTHER = 0,
	DM_RPROTO_HELLO,     /* "DMH1" */
	DM_RPROTO_KEYS,	     /* "DMK1" */
	DM_RPROTO_CHALLENGE, /* "DMC1" */
	DM_RPROTO_RESPONSE,  /* "DMR1" */
	DM_RPROTO_RTP,	     /* version 2, not an RTCP packet type */
	DM_RPROTO_RTCP,	     /* version 2, packet type 192..223 (RFC 5761 demultiplexing) */
};

struct dm_rproto_keys {
	uint8_t hello[32];
	uint8_t update[32];
};

/* An RTCP report block (RFC 3550 6.4.1), host order. */
struct dm_rproto_report {
	uint32_t ssrc;
	uint8_t fraction_lost;
	int32_t cumulative_lost; /* 24 bits signed on the wire: clamped to it */
	uint32_t highest_seq;
	uint32_t jitter; /* RTP clock units */
	uint32_t lsr, dlsr;
};

struct dm_rproto_hello {
	uint8_t session[DM_RPROTO_SESSION_ID_LEN];
	uint64_t counter;
	uint32_t generation;
	struct dm_rproto_report report;
};

struct dm_rproto_key {
	uint8_t channel;
	uint32_t ssrc;
	enum dm_srtp_suite suite;
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	size_t key_len; /* dm_srtp_key_len(suite) */
};

struct dm_rproto_keyset {
	uint32_t generation;
	size_t n;
	struct dm_rproto_key keys[DM_RPROTO_MAX_KEYS];
};

/* Classifies a datagram. NULL or short: DM_RPROTO_OTHER. */
enum dm_rproto_kind dm_rproto_kind(const uint8_t *buf, size_t len);

/* Derives the hello and update keys from a session key (32 bytes).
 * Returns 0, DM_EINVAL or DM_ECRYPTO. */
int dm_rproto_derive(const uint8_t session_key[DM_RPROTO_SESSION_KEY_LEN],
		     struct dm_rproto_keys *out);

/* Writes a hello (DM_RPROTO_HELLO_LEN bytes). Returns its length, DM_EINVAL
 * or DM_ENOSPC (cap too small), DM_ECRYPTO. */
int dm_rproto_hello_write(const struct dm_rproto_hello *h, const struct dm_rproto_keys *k,
			  uint8_t *buf, size_t cap);

/* The session id of a hello, read before its key is known (no
 * authentication). Returns 0, or DM_EPROTO (not a hello of the right length). */
int dm_rproto_hello_session(const uint8_t *buf, size_t len,
			    uint8_t session[DM_RPROTO_SESSION_ID_LEN]);

/* Verifies a hello's tag (constant time) and parses it into *out.
 * Returns 0; DM_EPROTO (not a hello of the right length); DM_EAUTH (tag
 * mismatch: forged, corrupted, another session's key); DM_EINVAL. The counter
 * (replay) is the caller's to check. */
int dm_rproto_hello_verify(const uint8_t *buf, size_t len, const struct dm_rproto_keys *k,
			   struct dm_rproto_hello *out);

/* Writes a challenge (DM_RPROTO_CHALLENGE_LEN bytes). Returns its length,
 * DM_EINVAL or DM_ENOSPC. */
int dm_rproto_challenge_write(const uint8_t session[DM_RPROTO_SESSION_ID_LEN],
			      const uint8_t cookie[DM_RPROTO_COOKIE_LEN], uint8_t *buf, size_t cap);

/* Reads a challenge: its session id and cookie. Returns 0, DM_EINVAL, or
 * DM_EPROTO (not a challenge of the right length). Not authenticated: the
 * listener answers only a challenge naming its own session, and the
 * response is worth nothing to anyone but the engine. */
int dm_rproto_challenge_read(const uint8_t *buf, size_t len,
			     uint8_t session[DM_RPROTO_SESSION_ID_LEN],
			     uint8_t cookie[DM_RPROTO_COOKIE_LEN]);

/* Writes the response to a challenge (DM_RPROTO_RESPONSE_LEN bytes), tagged
 * with the hello key. Returns its length, DM_EINVAL, DM_ENOSPC, DM_ECRYPTO. */
int dm_rproto_response_write(const uint8_t session[DM_RPROTO_SESSION_ID_LEN],
			     const uint8_t cookie[DM_RPROTO_COOKIE_LEN],
			     const struct dm_rproto_keys *k, uint8_t *buf, size_t cap);

/* The session id of a response, before its key is known (no
 * authentication). Returns 0 or DM_EPROTO. */
int dm_rproto_response_session(const uint8_t *buf, size_t len,
			       uint8_t session[DM_RPROTO_SESSION_ID_LEN]);

/* Verifies a response's tag (constant time) and returns its cookie.
 * Returns 0; DM_EPROTO (not a response of the right length); DM_EAUTH;
 * DM_EINVAL; DM_ECRYPTO. */
int dm_rproto_response_verify(const uint8_t *buf, size_t len, const struct dm_rproto_keys *k,
			      uint8_t cookie[DM_RPROTO_COOKIE_LEN]);

/* Writes a key update for session (random nonce). Returns its length;
 * DM_EINVAL (ks->n over DM_RPROTO_MAX_KEYS, a key whose length is not its
 * suite's); DM_ENOSPC; DM_ECRYPTO. */
int dm_rproto_keys_write(const uint8_t session[DM_RPROTO_SESSION_ID_LEN],
			 const struct dm_rproto_keyset *ks, const struct dm_rproto_keys *k,
			 uint8_t *buf, size_t cap);

/* Decrypts and parses a key update; session (may be NULL) must match its
 * session id. Returns 0; DM_EPROTO (malformed, wrong session, bad lengths or
 * suites inside); DM_EAUTH (GCM tag mismatch); DM_EINVAL; DM_ECRYPTO. *out is
 * wiped on failure. */
int dm_rproto_keys_read(const uint8_t *buf, size_t len,
			const uint8_t session[DM_RPROTO_SESSION_ID_LEN],
			const struct dm_rproto_keys *k, struct dm_rproto_keyset *out);

#ifdef __cplusplus
}
#endif
#endif
