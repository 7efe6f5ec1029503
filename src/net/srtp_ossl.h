/* dragoman: OpenSSL's AES-CTR and HMAC-SHA1 under libsrtp2, for the default suite.
 * Private to libdragoman (src/net/srtp.c). */
#ifndef DRAGOMAN_SRTP_OSSL_H
#define DRAGOMAN_SRTP_OSSL_H

#ifdef __cplusplus
extern "C" {
#endif

/* Replaces the AES-ICM-128 cipher (SRTP_AES_ICM_128: the default suite's cipher, and the key
 * derivation of every suite with 128-bit keys) and the HMAC-SHA1 authenticator
 * (SRTP_HMAC_SHA1) in libsrtp's crypto kernel with implementations on OpenSSL's libcrypto,
 * through libsrtp's public srtp_replace_cipher_type() and srtp_replace_auth_type().
 * libsrtp runs its self-test on each (RFC 3711 B.2 and RFC 2202 vectors, then random
 * round trips) and refuses a type that fails it.
 *
 * Why: Debian 12's libsrtp2 is built on NSS, which creates a PKCS #11 context for every
 * packet and takes locks to do it: about 3.3 us a packet, 14 % of the Opus encode it
 * protects. These keep one OpenSSL context per session key and only set the IV per packet.
 *
 * Call once, after srtp_init() succeeded and before any session exists (a session keeps the
 * type it was created with). Returns 0, or DM_ECRYPTO when OpenSSL lacks an algorithm or
 * libsrtp refuses a type (its self-test failed); libsrtp then keeps its own types, which is
 * slower and equally correct. Thread: call it from one thread, before any other uses
 * libsrtp. */
int dm_srtp_ossl_install(void);

#ifdef __cplusplus
}
#endif

#endif
