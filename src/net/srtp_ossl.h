/* dragoman: OpenSSL's AES-CTR, HMAC-SHA1 and AES-GCM under libsrtp2.
 * Private to libdragoman (src/net/srtp.c). */
#ifndef DRAGOMAN_SRTP_OSSL_H
#define DRAGOMAN_SRTP_OSSL_H

#ifdef __cplusplus
extern "C" {
#endif

/* Replaces, in libsrtp's crypto kernel, the AES-ICM ciphers (SRTP_AES_ICM_128: the default
 * suite's cipher and the key derivation of the 128-bit suites; SRTP_AES_ICM_256: the key
 * derivation of AEAD_AES_256_GCM; SRTP_AES_ICM_192), the HMAC-SHA1 authenticator
 * (SRTP_HMAC_SHA1) and the AES-GCM ciphers (SRTP_AES_GCM_128, SRTP_AES_GCM_256) with
 * implementations on OpenSSL's libcrypto, through libsrtp's public srtp_replace_cipher_type()
 * and srtp_replace_auth_type(), so that nothing is left to NSS. libsrtp runs its self-test on
 * each (the vectors of RFC 3711 B.2, RFC 6188, RFC 2202 and the GCM specification, then random
 * round trips) and refuses a type that fails it.
 *
 * Why: Debian 12's libsrtp2 is built on NSS, which creates a PKCS #11 context for every
 * packet and takes locks to do it: 2.3-3.3 us a packet for the default suite (10-14 % of the
 * Opus encode it protects), 0.9 us for GCM. These keep one OpenSSL context per session key
 * and only set the IV per packet: 0.5 and 0.4 us.
 *
 * Call after srtp_init() succeeded, before the sessions that should use them are created (a
 * session keeps the types it was created with); calling it again is harmless. Returns 0, or
 * DM_ECRYPTO when OpenSSL lacks an algorithm or libsrtp refuses a type (its self-test
 * failed); libsrtp then keeps its own for that type and those after it (replaced in the order
 * above), which is slower and equally correct. Thread: one at a time, while no other thread
 * uses libsrtp. */
int dm_srtp_ossl_install(void);

#ifdef __cplusplus
}
#endif

#endif
