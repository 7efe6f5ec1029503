/* dragoman: AES-ICM-128 and HMAC-SHA1 for libsrtp2 on OpenSSL (see srtp_ossl.h for why).
 *
 * libsrtp keeps the SRTP protocol: packet indexes, the rollover counter, replay windows, key
 * derivation, which bytes are encrypted and authenticated. These types only do the two
 * primitives it asks for, with OpenSSL doing the cryptography. Both keep their OpenSSL
 * context from the session key's init to the end of the session: the per-packet work is
 * setting the IV (AES) or going back to the keyed start (HMAC). */
#include "srtp_ossl.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <srtp2/auth.h>
#include <srtp2/cipher.h>
#include <srtp2/srtp.h>

#include "dragoman/error.h"

#define AES_KEY_LEN 16
#define ICM_SALT_LEN 14 /* RFC 3711 4.1.1: 112-bit salt */
#define BLOCK 16
#define SHA1_LEN 20

/* Fetched once for the process: an implicit fetch by name on every init would cost a lookup
 * in OpenSSL's provider store each time a stream is keyed. Never freed: libsrtp may use the
 * types until exit. */
static EVP_CIPHER *aes_ctr;
static EVP_MAC *hmac;

/* ---- AES-ICM-128 (RFC 3711 4.1.1) ----
 *
 * The keystream of a packet is AES-CTR from the counter (salt || 0x0000) XOR IV, where
 * libsrtp's IV carries the SSRC and the packet index. ICM increments only the low 16 bits;
 * OpenSSL's CTR increments all 128. They agree because SRTP never asks for 2^16 blocks
 * (1 MB) from one IV, so the low 16 bits never carry. */

struct icm {
	srtp_cipher_t cipher; /* first: libsrtp hands back this pointer to dealloc */
	EVP_CIPHER_CTX *ctx;
	uint8_t offset[BLOCK]; /* salt, then two zero bytes */
};

static const srtp_cipher_type_t icm_type;

static srtp_err_status_t icm_alloc(srtp_cipher_pointer_t *cp, int key_len, int tag_len)
{
	(void)tag_len;
	*cp = NULL;
	if (key_len != SRTP_AES_ICM_128_KEY_LEN_WSALT)
		return srtp_err_status_bad_param;
	struct icm *s = calloc(1, sizeof *s);
	if (!s)
		return srtp_err_status_alloc_fail;
	s->ctx = EVP_CIPHER_CTX_new();
	if (!s->ctx) {
		free(s);
		return srtp_err_status_alloc_fail;
	}
	s->cipher.type = &icm_type;
	s->cipher.state = s;
	s->cipher.key_len = key_len;
	s->cipher.algorithm = SRTP_AES_ICM_128;
	*cp = &s->cipher;
	return srtp_err_status_ok;
}

static srtp_err_status_t icm_dealloc(srtp_cipher_pointer_t c)
{
	struct icm *s = c->state;
	EVP_CIPHER_CTX_free(s->ctx); /* cleanses the key schedule */
	OPENSSL_cleanse(s, sizeof *s);
	free(s);
	return srtp_err_status_ok;
}

static srtp_err_status_t icm_init(void *state, const uint8_t *key)
{
	struct icm *s = state;
	memset(s->offset, 0, sizeof s->offset);
	memcpy(s->offset, key + AES_KEY_LEN, ICM_SALT_LEN);
	/* The IV given here is a placeholder: every packet sets its own before use. */
	if (EVP_EncryptInit_ex2(s->ctx, aes_ctr, key, s->offset, NULL) != 1)
		return srtp_err_status_init_fail;
	return srtp_err_status_ok;
}

static srtp_err_status_t icm_set_iv(void *state, uint8_t *iv, srtp_cipher_direction_t direction)
{
	(void)direction; /* CTR: the same keystream both ways */
	struct icm *s = state;
	uint8_t counter[BLOCK];
	for (int i = 0; i < BLOCK; i++)
		counter[i] = s->offset[i] ^ iv[i];
	/* Key kept, IV replaced, the position in the keystream back to its start. */
	if (EVP_EncryptInit_ex2(s->ctx, NULL, NULL, counter, NULL) != 1)
		return srtp_err_status_cipher_fail;
	return srtp_err_status_ok;
}

static srtp_err_status_t icm_crypt(void *state, uint8_t *buf, unsigned int *octets)
{
	struct icm *s = state;
	int out = 0;
	if (*octets > INT32_MAX)
		return srtp_err_status_bad_param;
	/* In place; successive calls after one set_iv continue the keystream, as libsrtp's
	 * own ICM does when it encrypts a header extension and then the payload. */
	if (EVP_EncryptUpdate(s->ctx, buf, &out, buf, (int)*octets) != 1 || out != (int)*octets)
		return srtp_err_status_cipher_fail;
	return srtp_err_status_ok;
}

/* RFC 3711 B.2: the first two keystream blocks for the session key and salt given there,
 * SSRC 0 and packet index 0 (an IV of zeros), applied to zeros. */
static const uint8_t icm_key[SRTP_AES_ICM_128_KEY_LEN_WSALT] = {
	0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f,
	0x3c, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd,
};
static uint8_t icm_idx[BLOCK]; /* libsrtp's test case type wants it writable */
static const uint8_t icm_plain[2 * BLOCK];
static const uint8_t icm_cipher[2 * BLOCK] = {
	0xe0, 0x3e, 0xad, 0x09, 0x35, 0xc9, 0x5e, 0x80, 0xe1, 0x66, 0xb1,
	0x6d, 0xd9, 0x2b, 0x4e, 0xb4, 0xd2, 0x35, 0x13, 0x16, 0x2b, 0x02,
	0xd0, 0xf7, 0x2a, 0x43, 0xa2, 0xfe, 0x4a, 0x5f, 0x97, 0xab,
};
static const srtp_cipher_test_case_t icm_test = {
	.key_length_octets = SRTP_AES_ICM_128_KEY_LEN_WSALT,
	.key = icm_key,
	.idx = icm_idx,
	.plaintext_length_octets = sizeof icm_plain,
	.plaintext = icm_plain,
	.ciphertext_length_octets = sizeof icm_cipher,
	.ciphertext = icm_cipher,
};

static const srtp_cipher_type_t icm_type = {
	.alloc = icm_alloc,
	.dealloc = icm_dealloc,
	.init = icm_init,
	.encrypt = icm_crypt,
	.decrypt = icm_crypt,
	.set_iv = icm_set_iv,
	.description = "AES-128 integer counter mode (dragoman, OpenSSL)",
	.test_data = &icm_test,
	.id = SRTP_AES_ICM_128,
};

/* ---- HMAC-SHA1 (RFC 2104), the tag truncated to what the policy asks ---- */

struct mac {
	srtp_auth_t auth; /* first, as for icm */
	EVP_MAC_CTX *ctx;
};

static const srtp_auth_type_t mac_type;

static srtp_err_status_t mac_alloc(srtp_auth_pointer_t *ap, int key_len, int out_len)
{
	*ap = NULL;
	/* As libsrtp's own: a key up to a digest long (SRTP's is 20), a tag up to a digest. */
	if (key_len < 0 || key_len > SHA1_LEN || out_len < 0 || out_len > SHA1_LEN)
		return srtp_err_status_bad_param;
	struct mac *s = calloc(1, sizeof *s);
	if (!s)
		return srtp_err_status_alloc_fail;
	s->ctx = EVP_MAC_CTX_new(hmac);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA1", 0),
		OSSL_PARAM_construct_end(),
	};
	if (!s->ctx || EVP_MAC_CTX_set_params(s->ctx, params) != 1) {
		EVP_MAC_CTX_free(s->ctx);
		free(s);
		return srtp_err_status_alloc_fail;
	}
	s->auth.type = &mac_type;
	s->auth.state = s;
	s->auth.out_len = out_len;
	s->auth.key_len = key_len;
	s->auth.prefix_len = 0;
	*ap = &s->auth;
	return srtp_err_status_ok;
}

static srtp_err_status_t mac_dealloc(srtp_auth_pointer_t a)
{
	struct mac *s = a->state;
	EVP_MAC_CTX_free(s->ctx); /* cleanses the padded keys */
	OPENSSL_cleanse(s, sizeof *s);
	free(s);
	return srtp_err_status_ok;
}

static srtp_err_status_t mac_init(void *state, const uint8_t *key, int key_len)
{
	struct mac *s = state;
	if (EVP_MAC_init(s->ctx, key, (size_t)key_len, NULL) != 1)
		return srtp_err_status_auth_fail;
	return srtp_err_status_ok;
}

/* Back to the state just after the key: OpenSSL keeps the keyed inner and outer hashes. */
static srtp_err_status_t mac_start(void *state)
{
	struct mac *s = state;
	if (EVP_MAC_init(s->ctx, NULL, 0, NULL) != 1)
		return srtp_err_status_auth_fail;
	return srtp_err_status_ok;
}

static srtp_err_status_t mac_update(void *state, const uint8_t *buf, int octets)
{
	struct mac *s = state;
	if (octets < 0 || EVP_MAC_update(s->ctx, buf, (size_t)octets) != 1)
		return srtp_err_status_auth_fail;
	return srtp_err_status_ok;
}

static srtp_err_status_t mac_compute(void *state, const uint8_t *buf, int octets, int tag_len,
				     uint8_t *tag)
{
	struct mac *s = state;
	uint8_t full[SHA1_LEN];
	size_t len = 0;
	if (tag_len < 0 || tag_len > SHA1_LEN)
		return srtp_err_status_bad_param;
	if (mac_update(s, buf, octets) != srtp_err_status_ok ||
	    EVP_MAC_final(s->ctx, full, &len, sizeof full) != 1 || len != SHA1_LEN)
		return srtp_err_status_auth_fail;
	memcpy(tag, full, (size_t)tag_len);
	OPENSSL_cleanse(full, sizeof full);
	return srtp_err_status_ok;
}

/* RFC 2202, test case 1. */
static const uint8_t mac_key[SHA1_LEN] = {
	0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
	0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
};
static const uint8_t mac_data[8] = {'H', 'i', ' ', 'T', 'h', 'e', 'r', 'e'};
static const uint8_t mac_tag[SHA1_LEN] = {
	0xb6, 0x17, 0x31, 0x86, 0x55, 0x05, 0x72, 0x64, 0xe2, 0x8b,
	0xc0, 0xb6, 0xfb, 0x37, 0x8c, 0x8e, 0xf1, 0x46, 0xbe, 0x00,
};
static const srtp_auth_test_case_t mac_test = {
	.key_length_octets = sizeof mac_key,
	.key = mac_key,
	.data_length_octets = sizeof mac_data,
	.data = mac_data,
	.tag_length_octets = sizeof mac_tag,
	.tag = mac_tag,
};

static const srtp_auth_type_t mac_type = {
	.alloc = mac_alloc,
	.dealloc = mac_dealloc,
	.init = mac_init,
	.compute = mac_compute,
	.update = mac_update,
	.start = mac_start,
	.description = "HMAC-SHA1 (dragoman, OpenSSL)",
	.test_data = &mac_test,
	.id = SRTP_HMAC_SHA1,
};

int dm_srtp_ossl_install(void)
{
	if (!aes_ctr)
		aes_ctr = EVP_CIPHER_fetch(NULL, "AES-128-CTR", NULL);
	if (!hmac)
		hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!aes_ctr || !hmac)
		return DM_ECRYPTO;
	/* Each replacement runs libsrtp's self-test of the type first. */
	if (srtp_replace_cipher_type(&icm_type, SRTP_AES_ICM_128) != srtp_err_status_ok)
		return DM_ECRYPTO;
	if (srtp_replace_auth_type(&mac_type, SRTP_HMAC_SHA1) != srtp_err_status_ok)
		return DM_ECRYPTO;
	return 0;
}
