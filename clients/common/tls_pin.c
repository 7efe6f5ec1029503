/* dragoman clients: certificate pinning through libcurl's OpenSSL context. */
#include "tls_pin.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <string.h>
#include <strings.h>

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int dm_tls_pin_parse(const char *text, uint8_t out[DM_TLS_PIN_LEN])
{
	static const char prefix[] = "sha256 fingerprint=";
	if (!text || !out)
		return -1;
	while (*text == ' ' || *text == '\t')
		text++;
	if (strncasecmp(text, prefix, sizeof prefix - 1) == 0)
		text += sizeof prefix - 1;
	const char *p = text;
	int colons = -1; /* -1: not known yet; then 0 or 1 for every pair */
	for (size_t n = 0; n < DM_TLS_PIN_LEN; n++) {
		if (n > 0) {
			int here = *p == ':';
			if (colons >= 0 && here != colons)
				return -1;
			colons = here;
			p += here;
		}
		int hi = hexval(p[0]), lo = hi < 0 ? -1 : hexval(p[1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[n] = (uint8_t)(hi << 4 | lo);
		p += 2;
	}
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return *p ? -1 : 0;
}

/* Replaces OpenSSL's chain verification: the leaf certificate's digest is
 * the whole decision. */
static int verify_pin(X509_STORE_CTX *ctx, void *arg)
{
	const uint8_t *pin = arg;
	X509 *leaf = X509_STORE_CTX_get0_cert(ctx);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (leaf && X509_digest(leaf, EVP_sha256(), md, &len) == 1 && len == DM_TLS_PIN_LEN &&
	    CRYPTO_memcmp(md, pin, DM_TLS_PIN_LEN) == 0)
		return 1;
	X509_STORE_CTX_set_error(ctx, X509_V_ERR_CERT_REJECTED);
	return 0;
}

/* OpenSSL keeps the plaintext of the last record it decrypted (an API answer's keys and
 * tokens) in its buffer until the next record overwrites it; this option clears it as soon as
 * it is handed over. */
static void cleanse_plaintext(void *ssl_ctx)
{
	SSL_CTX_set_options(ssl_ctx, SSL_OP_CLEANSE_PLAINTEXT);
}

static CURLcode on_ssl_ctx(CURL *curl, void *ssl_ctx, void *user)
{
	(void)curl;
	SSL_CTX_set_cert_verify_callback(ssl_ctx, verify_pin, user);
	cleanse_plaintext(ssl_ctx);
	return CURLE_OK;
}

static CURLcode on_ssl_ctx_cleanse(CURL *curl, void *ssl_ctx, void *user)
{
	(void)curl, (void)user;
	cleanse_plaintext(ssl_ctx);
	return CURLE_OK;
}

/* The callback gets an SSL_CTX only from the OpenSSL backend; others (wolfSSL, mbedTLS) would
 * hand it something else. */
static int openssl_backend(void)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	return v && v->ssl_version && strncmp(v->ssl_version, "OpenSSL", 7) == 0;
}

int dm_tls_pin_apply(CURL *curl, const uint8_t pin[DM_TLS_PIN_LEN])
{
	if (!curl || !pin || !openssl_backend())
		return -1;
	if (curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, (void *)pin) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L) != CURLE_OK ||
	    curl_easy_setopt(curl, CURLOPT_SSL_SESSIONID_CACHE, 0L) != CURLE_OK)
		return -1;
	return 0;
}

int dm_tls_cleanse_apply(CURL *curl)
{
	if (!curl || !openssl_backend())
		return -1;
	if (curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx_cleanse) != CURLE_OK)
		return -1;
	return 0;
}
