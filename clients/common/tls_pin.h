/* dragoman clients: trusting the engine's HTTPS certificate by its SHA-256
 * fingerprint (dragomanctl --pin, dragoman-listen --pin), for an engine with
 * a self-signed certificate and no CA. The fingerprint is the SHA-256 of the
 * certificate's DER bytes, as `openssl x509 -noout -fingerprint -sha256`
 * prints it. libcurl must be the OpenSSL flavour (Debian's libcurl4).
 * Needs libssl and libcrypto. */
#ifndef DRAGOMAN_CLIENT_TLS_PIN_H
#define DRAGOMAN_CLIENT_TLS_PIN_H

#include <curl/curl.h>
#include <stdint.h>

#define DM_TLS_PIN_LEN 32

/* Parses a fingerprint: 64 hex digits, either case, with or without a colon
 * between each two (AB:CD:...), optionally after openssl's
 * "sha256 Fingerprint=" (any case). Returns 0 and out, or -1 when text is not
 * one (out is then unspecified). */
int dm_tls_pin_parse(const char *text, uint8_t out[DM_TLS_PIN_LEN]);

/* Makes curl accept the server only when the certificate it presents (the
 * leaf) has this fingerprint, whatever CA signed it or did not; the host
 * name is then not checked either (the pin names the server more exactly),
 * and TLS sessions are not resumed (each handshake shows the certificate).
 * pin must stay valid as long as curl is used. Sets CURLOPT_SSL_VERIFYPEER,
 * CURLOPT_SSL_VERIFYHOST, CURLOPT_SSL_SESSIONID_CACHE, CURLOPT_SSL_CTX_FUNCTION
 * and CURLOPT_SSL_CTX_DATA. A refused server fails the transfer with
 * CURLE_PEER_FAILED_VERIFICATION (or CURLE_SSL_CONNECT_ERROR). Also does what
 * dm_tls_cleanse_apply does.
 * Returns 0, or -1 when this libcurl cannot do it (not built on OpenSSL). */
int dm_tls_pin_apply(CURL *curl, const uint8_t pin[DM_TLS_PIN_LEN]);

/* Makes OpenSSL clear each TLS record's plaintext (SSL_OP_CLEANSE_PLAINTEXT)
 * once curl has it, instead of keeping the last one in its buffer: the API's
 * answers carry keys and tokens. For a transfer without a pin (a pin's
 * dm_tls_pin_apply does it too, and replaces this callback). Sets
 * CURLOPT_SSL_CTX_FUNCTION. Returns 0, or -1 when this libcurl is not built
 * on OpenSSL (then nothing is set). */
int dm_tls_cleanse_apply(CURL *curl);

#endif
