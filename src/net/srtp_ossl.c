/* dragoman: AES-ICM, AES-GCM and HMAC-SHA1 for libsrtp2 on OpenSSL (see srtp_ossl.h for why).
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

#define ICM_SALT_LEN 14 /* RFC 3711 4.1.1: 112-bit salt */
#define BLOCK 16
#define SHA1_LEN 20

/* Fetched once for the process: an implicit fetch by name on every init would cost a lookup
 * in OpenSSL's provider store each time a stream is keyed. Never freed: libsrtp may use the
 * types until exit. */
static EVP_CIPHER *aes128_ctr, *aes192_ctr, *aes256_ctr;
static EVP_MAC *hmac;

/* ---- What the ciphers share ----
 *
 * Each cipher's state starts with this: libsrtp's handle first (libsrtp hands it back to
 * dealloc), then the OpenSSL context, the AES variant and the state's own size (to clear it
 * all when it goes). */
struct ossl_cipher {
	srtp_cipher_t cipher;
	EVP_CIPHER_CTX *ctx;
	const EVP_CIPHER *evp;
	size_t size;
};

/* One AES variant of a cipher type: the key length libsrtp asks for (salt included) chooses
 * it, as libsrtp's own types do, whichever of the type's ids it was asked for by. */
struct variant {
	int key_len;
	const srtp_cipher_type_t *type;
	EVP_CIPHER *const *evp;
	int algorithm;
};

/* A zeroed state of `size` bytes for the variant of key_len in table, its context made and
 * *cp set; NULL (with *st saying why) for an unknown key length or no memory. */
static void *cipher_new(const struct variant *table, size_t n, int key_len, size_t size,
			srtp_cipher_pointer_t *cp, srtp_err_status_t *st)
{
	*cp = NULL;
	*st = srtp_err_status_bad_param;
	const struct variant *v = NULL;
	for (size_t i = 0; i < n && !v; i++)
		if (table[i].key_len == key_len)
			v = &table[i];
	if (!v)
		return NULL;
	*st = srtp_err_status_alloc_fail;
	struct ossl_cipher *s = calloc(1, size);
	if (!s)
		return NULL;
	s->ctx = EVP_CIPHER_CTX_new();
	if (!s->ctx) {
		free(s);
		return NULL;
	}
	s->evp = *v->evp;
	s->size = size;
	s->cipher = (srtp_cipher_t){
		.type = v->type, .state = s, .key_len = key_len, .algorithm = v->algorithm};
	*cp = &s->cipher;
	*st = srtp_err_status_ok;
	return s;
}

static srtp_err_status_t cipher_dealloc(srtp_cipher_pointer_t c)
{
	struct ossl_cipher *s = c->state;
	EVP_CIPHER_CTX_free(s->ctx); /* cleanses the key schedule */
	OPENSSL_cleanse(s, s->size);
	free(s);
	return srtp_err_status_ok;
}

/* ---- AES-ICM-128, -192 and -256 (RFC 3711 4.1.1, RFC 6188) ----
 *
 * The keystream of a packet is AES-CTR from the counter (salt || 0x0000) XOR IV, where
 * libsrtp's IV carries the SSRC and the packet index. ICM increments only the low 16 bits;
 * OpenSSL's CTR increments all 128. They agree because SRTP never asks for 2^16 blocks
 * (1 MB) from one IV, so the low 16 bits never carry. The 256-bit one derives the session
 * keys of AEAD_AES_256_GCM; no suite of ours encrypts with the 192-bit one, it is replaced so
 * that nothing is left to NSS. */

struct icm {
	struct ossl_cipher base; /* first */
	int aes_key_len;
	uint8_t offset[BLOCK]; /* salt, then two zero bytes */
};

static const srtp_cipher_type_t icm128_type, icm192_type, icm256_type;

static const struct variant icm_variants[] = {
	{SRTP_AES_ICM_128_KEY_LEN_WSALT, &icm128_type, &aes128_ctr, SRTP_AES_ICM_128},
	{SRTP_AES_ICM_192_KEY_LEN_WSALT, &icm192_type, &aes192_ctr, SRTP_AES_ICM_192},
	{SRTP_AES_ICM_256_KEY_LEN_WSALT, &icm256_type, &aes256_ctr, SRTP_AES_ICM_256},
};

static srtp_err_status_t icm_alloc(srtp_cipher_pointer_t *cp, int key_len, int tag_len)
{
	(void)tag_len;
	srtp_err_status_t st;
	struct icm *s = cipher_new(icm_variants, sizeof icm_variants / sizeof icm_variants[0],
				   key_len, sizeof(struct icm), cp, &st);
	if (s)
		s->aes_key_len = key_len - ICM_SALT_LEN;
	return st;
}

static srtp_err_status_t icm_init(void *state, const uint8_t *key)
{
	struct icm *s = state;
	memset(s->offset, 0, sizeof s->offset);
	memcpy(s->offset, key + s->aes_key_len, ICM_SALT_LEN);
	/* The IV given here is a placeholder: every packet sets its own before use. */
	if (EVP_EncryptInit_ex2(s->base.ctx, s->base.evp, key, s->offset, NULL) != 1)
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
	int ok = EVP_EncryptInit_ex2(s->base.ctx, NULL, NULL, counter, NULL);
	OPENSSL_cleanse(counter, sizeof counter); /* the salt, XOR a public IV */
	return ok == 1 ? srtp_err_status_ok : srtp_err_status_cipher_fail;
}

static srtp_err_status_t icm_crypt(void *state, uint8_t *buf, unsigned int *octets)
{
	struct icm *s = state;
	int out = 0;
	if (*octets > INT32_MAX)
		return srtp_err_status_bad_param;
	/* In place; successive calls after one set_iv continue the keystream, as libsrtp's
	 * own ICM does when it encrypts a header extension and then the payload. */
	if (EVP_EncryptUpdate(s->base.ctx, buf, &out, buf, (int)*octets) != 1 ||
	    out != (int)*octets)
		return srtp_err_status_cipher_fail;
	return srtp_err_status_ok;
}

/* The first two keystream blocks for the session key and salt of RFC 3711 B.2 (AES-128) and
 * RFC 6188 7.1 (AES-192, AES-256; the same salt), SSRC 0 and packet index 0 (an IV of
 * zeros), applied to zeros. */
static const uint8_t icm128_key[SRTP_AES_ICM_128_KEY_LEN_WSALT] = {
	0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f,
	0x3c, 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd,
};
static const uint8_t icm192_key[SRTP_AES_ICM_192_KEY_LEN_WSALT] = {
	0xea, 0xb2, 0x34, 0x76, 0x4e, 0x51, 0x7b, 0x2d, 0x3d, 0x16, 0x0d, 0x58, 0x7d,
	0x8c, 0x86, 0x21, 0x97, 0x40, 0xf6, 0x5f, 0x99, 0xb6, 0xbc, 0xf7, 0xf0, 0xf1,
	0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd,
};
static const uint8_t icm256_key[SRTP_AES_ICM_256_KEY_LEN_WSALT] = {
	0x57, 0xf8, 0x2f, 0xe3, 0x61, 0x3f, 0xd1, 0x70, 0xa8, 0x5e, 0xc9, 0x3c,
	0x40, 0xb1, 0xf0, 0x92, 0x2e, 0xc4, 0xcb, 0x0d, 0xc0, 0x25, 0xb5, 0x82,
	0x72, 0x14, 0x7c, 0xc4, 0x38, 0x94, 0x4a, 0x98, 0xf0, 0xf1, 0xf2, 0xf3,
	0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd,
};
static uint8_t icm_idx[BLOCK]; /* libsrtp's test case type wants it writable */
static const uint8_t icm_plain[2 * BLOCK];
static const uint8_t icm128_cipher[2 * BLOCK] = {
	0xe0, 0x3e, 0xad, 0x09, 0x35, 0xc9, 0x5e, 0x80, 0xe1, 0x66, 0xb1,
	0x6d, 0xd9, 0x2b, 0x4e, 0xb4, 0xd2, 0x35, 0x13, 0x16, 0x2b, 0x02,
	0xd0, 0xf7, 0x2a, 0x43, 0xa2, 0xfe, 0x4a, 0x5f, 0x97, 0xab,
};
static const uint8_t icm192_cipher[2 * BLOCK] = {
	0x35, 0x09, 0x6c, 0xba, 0x46, 0x10, 0x02, 0x8d, 0xc1, 0xb5, 0x75,
	0x03, 0x80, 0x4c, 0xe3, 0x7c, 0x5d, 0xe9, 0x86, 0x29, 0x1d, 0xcc,
	0xe1, 0x61, 0xd5, 0x16, 0x5e, 0xc4, 0x56, 0x8f, 0x5c, 0x9a,
};
static const uint8_t icm256_cipher[2 * BLOCK] = {
	0x92, 0xbd, 0xd2, 0x8a, 0x93, 0xc3, 0xf5, 0x25, 0x11, 0xc6, 0x77,
	0xd0, 0x8b, 0x55, 0x15, 0xa4, 0x9d, 0xa7, 0x1b, 0x23, 0x78, 0xa8,
	0x54, 0xf6, 0x70, 0x50, 0x75, 0x6d, 0xed, 0x16, 0x5b, 0xac,
};

/* The three ICM types differ in their key length, test vector and id only. */
#define ICM_TEST(bits)                                                                             \
	{                                                                                          \
		.key_length_octets = SRTP_AES_ICM_##bits##_KEY_LEN_WSALT, .key = icm##bits##_key,  \
		.idx = icm_idx, .plaintext_length_octets = sizeof icm_plain,                       \
		.plaintext = icm_plain, .ciphertext_length_octets = sizeof icm##bits##_cipher,     \
		.ciphertext = icm##bits##_cipher,                                                  \
	}
#define ICM_TYPE(bits)                                                                             \
	{                                                                                          \
		.alloc = icm_alloc, .dealloc = cipher_dealloc, .init = icm_init,                   \
		.encrypt = icm_crypt, .decrypt = icm_crypt, .set_iv = icm_set_iv,                  \
		.description = "AES-" #bits " integer counter mode (dragoman, OpenSSL)",           \
		.test_data = &icm##bits##_test, .id = SRTP_AES_ICM_##bits,                         \
	}

static const srtp_cipher_test_case_t icm128_test = ICM_TEST(128);
static const srtp_cipher_test_case_t icm192_test = ICM_TEST(192);
static const srtp_cipher_test_case_t icm256_test = ICM_TEST(256);
static const srtp_cipher_type_t icm128_type = ICM_TYPE(128);
static const srtp_cipher_type_t icm192_type = ICM_TYPE(192);
static const srtp_cipher_type_t icm256_type = ICM_TYPE(256);

/* ---- AES-GCM-128 and -256 (RFC 7714) ----
 *
 * libsrtp forms the 12-byte IV from the salt and the packet index itself and hands over the
 * key alone. Its contract, per packet: set_iv (which also says the direction), set_aad once
 * or more (the header; for SRTCP also the index word), then encrypt and get_tag, or decrypt
 * of the payload with the tag at its end, giving back the length without the tag. */

#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16
#define GCM_TAG_LEN_8 8

struct gcm {
	struct ossl_cipher base; /* first */
	int tag_len;
	bool encrypt; /* the direction of the last set_iv */
};

static EVP_CIPHER *aes128_gcm, *aes256_gcm;
static const srtp_cipher_type_t gcm128_type, gcm256_type;

static const struct variant gcm_variants[] = {
	{SRTP_AES_GCM_128_KEY_LEN_WSALT, &gcm128_type, &aes128_gcm, SRTP_AES_GCM_128},
	{SRTP_AES_GCM_256_KEY_LEN_WSALT, &gcm256_type, &aes256_gcm, SRTP_AES_GCM_256},
};

static srtp_err_status_t gcm_alloc(srtp_cipher_pointer_t *cp, int key_len, int tag_len)
{
	*cp = NULL;
	if (tag_len != GCM_TAG_LEN && tag_len != GCM_TAG_LEN_8)
		return srtp_err_status_bad_param;
	srtp_err_status_t st;
	struct gcm *s = cipher_new(gcm_variants, sizeof gcm_variants / sizeof gcm_variants[0],
				   key_len, sizeof(struct gcm), cp, &st);
	if (s)
		s->tag_len = tag_len;
	return st;
}

static srtp_err_status_t gcm_init(void *state, const uint8_t *key)
{
	struct gcm *s = state;
	/* OpenSSL's default GCM IV length is RFC 7714's 12 bytes. */
	if (EVP_CipherInit_ex2(s->base.ctx, s->base.evp, key, NULL, 1, NULL) != 1)
		return srtp_err_status_init_fail;
	return srtp_err_status_ok;
}

static srtp_err_status_t gcm_set_iv(void *state, uint8_t *iv, srtp_cipher_direction_t direction)
{
	struct gcm *s = state;
	if (direction != srtp_direction_encrypt && direction != srtp_direction_decrypt)
		return srtp_err_status_bad_param;
	s->encrypt = direction == srtp_direction_encrypt;
	if (EVP_CipherInit_ex2(s->base.ctx, NULL, NULL, iv, s->encrypt ? 1 : 0, NULL) != 1)
		return srtp_err_status_cipher_fail;
	return srtp_err_status_ok;
}

static srtp_err_status_t gcm_set_aad(void *state, const uint8_t *aad, uint32_t len)
{
	struct gcm *s = state;
	int out = 0;
	if (len > INT32_MAX)
		return srtp_err_status_bad_param;
	if (len > 0 && EVP_CipherUpdate(s->base.ctx, NULL, &out, aad, (int)len) != 1)
		return srtp_err_status_cipher_fail;
	return srtp_err_status_ok;
}

/* In place. Zero bytes (an SRTCP packet sent unencrypted: everything is AAD) is allowed, with
 * buf possibly NULL. */
static srtp_err_status_t gcm_update(struct gcm *s, uint8_t *buf, unsigned int len)
{
	int out = 0;
	if (len > INT32_MAX)
		return srtp_err_status_bad_param;
	if (len > 0 &&
	    (EVP_CipherUpdate(s->base.ctx, buf, &out, buf, (int)len) != 1 || out != (int)len))
		return srtp_err_status_cipher_fail;
	return srtp_err_status_ok;
}

static srtp_err_status_t gcm_encrypt(void *state, uint8_t *buf, unsigned int *octets)
{
	struct gcm *s = state;
	if (!s->encrypt)
		return srtp_err_status_bad_param;
	return gcm_update(s, buf, *octets);
}

static srtp_err_status_t gcm_get_tag(void *state, uint8_t *tag, uint32_t *len)
{
	struct gcm *s = state;
	uint8_t none[BLOCK];
	int out = 0;
	if (!s->encrypt || EVP_CipherFinal_ex(s->base.ctx, none, &out) != 1 ||
	    EVP_CIPHER_CTX_ctrl(s->base.ctx, EVP_CTRL_AEAD_GET_TAG, s->tag_len, tag) != 1)
		return srtp_err_status_cipher_fail;
	*len = (uint32_t)s->tag_len;
	return srtp_err_status_ok;
}

/* *octets counts the tag at the end of buf; on success it no longer does. */
static srtp_err_status_t gcm_decrypt(void *state, uint8_t *buf, unsigned int *octets)
{
	struct gcm *s = state;
	uint8_t none[BLOCK];
	int out = 0;
	if (s->encrypt || *octets < (unsigned int)s->tag_len)
		return srtp_err_status_bad_param;
	unsigned int data = *octets - (unsigned int)s->tag_len;
	if (EVP_CIPHER_CTX_ctrl(s->base.ctx, EVP_CTRL_AEAD_SET_TAG, s->tag_len, buf + data) != 1)
		return srtp_err_status_cipher_fail;
	srtp_err_status_t st = gcm_update(s, buf, data);
	if (st != srtp_err_status_ok)
		return st;
	if (EVP_CipherFinal_ex(s->base.ctx, none, &out) != 1) {
		/* Decrypted in place already: leave nothing of an unauthenticated packet's
		 * plaintext (it is the keystream, to whoever chose the ciphertext). */
		OPENSSL_cleanse(buf, data);
		return srtp_err_status_auth_fail;
	}
	*octets = data;
	return srtp_err_status_ok;
}

/* The GCM specification's test cases 4 (AES-128) and 16 (AES-256): 60 bytes of plaintext,
 * 20 of AAD, a 16-byte tag after the ciphertext. The key is followed by a salt, which only
 * libsrtp reads (to form IVs); here it is the IV. */
static const uint8_t gcm128_key[SRTP_AES_GCM_128_KEY_LEN_WSALT] = {
	0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30,
	0x83, 0x08, 0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88,
};
static const uint8_t gcm256_key[SRTP_AES_GCM_256_KEY_LEN_WSALT] = {
	0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30, 0x83,
	0x08, 0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30,
	0x83, 0x08, 0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88,
};
static uint8_t gcm_iv[GCM_IV_LEN] = {0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce,
				     0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88};
static const uint8_t gcm_plain[60] = {
	0xd9, 0x31, 0x32, 0x25, 0xf8, 0x84, 0x06, 0xe5, 0xa5, 0x59, 0x09, 0xc5, 0xaf, 0xf5, 0x26,
	0x9a, 0x86, 0xa7, 0xa9, 0x53, 0x15, 0x34, 0xf7, 0xda, 0x2e, 0x4c, 0x30, 0x3d, 0x8a, 0x31,
	0x8a, 0x72, 0x1c, 0x3c, 0x0c, 0x95, 0x95, 0x68, 0x09, 0x53, 0x2f, 0xcf, 0x0e, 0x24, 0x49,
	0xa6, 0xb5, 0x25, 0xb1, 0x6a, 0xed, 0xf5, 0xaa, 0x0d, 0xe6, 0x57, 0xba, 0x63, 0x7b, 0x39,
};
static const uint8_t gcm_aad[20] = {
	0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xfe, 0xed,
	0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xab, 0xad, 0xda, 0xd2,
};
static const uint8_t gcm128_cipher[60 + GCM_TAG_LEN] = {
	0x42, 0x83, 0x1e, 0xc2, 0x21, 0x77, 0x74, 0x24, 0x4b, 0x72, 0x21, 0xb7, 0x84,
	0xd0, 0xd4, 0x9c, 0xe3, 0xaa, 0x21, 0x2f, 0x2c, 0x02, 0xa4, 0xe0, 0x35, 0xc1,
	0x7e, 0x23, 0x29, 0xac, 0xa1, 0x2e, 0x21, 0xd5, 0x14, 0xb2, 0x54, 0x66, 0x93,
	0x1c, 0x7d, 0x8f, 0x6a, 0x5a, 0xac, 0x84, 0xaa, 0x05, 0x1b, 0xa3, 0x0b, 0x39,
	0x6a, 0x0a, 0xac, 0x97, 0x3d, 0x58, 0xe0, 0x91, 0x5b, 0xc9, 0x4f, 0xbc, 0x32,
	0x21, 0xa5, 0xdb, 0x94, 0xfa, 0xe9, 0x5a, 0xe7, 0x12, 0x1a, 0x47,
};
static const uint8_t gcm256_cipher[60 + GCM_TAG_LEN] = {
	0x52, 0x2d, 0xc1, 0xf0, 0x99, 0x56, 0x7d, 0x07, 0xf4, 0x7f, 0x37, 0xa3, 0x2a,
	0x84, 0x42, 0x7d, 0x64, 0x3a, 0x8c, 0xdc, 0xbf, 0xe5, 0xc0, 0xc9, 0x75, 0x98,
	0xa2, 0xbd, 0x25, 0x55, 0xd1, 0xaa, 0x8c, 0xb0, 0x8e, 0x48, 0x59, 0x0d, 0xbb,
	0x3d, 0xa7, 0xb0, 0x8b, 0x10, 0x56, 0x82, 0x88, 0x38, 0xc5, 0xf6, 0x1e, 0x63,
	0x93, 0xba, 0x7a, 0x0a, 0xbc, 0xc9, 0xf6, 0x62, 0x76, 0xfc, 0x6e, 0xce, 0x0f,
	0x4e, 0x17, 0x68, 0xcd, 0xdf, 0x88, 0x53, 0xbb, 0x2d, 0x55, 0x1b,
};
/* The two GCM types differ in their key length, test vector and id only. */
#define GCM_TEST(bits)                                                                             \
	{                                                                                          \
		.key_length_octets = SRTP_AES_GCM_##bits##_KEY_LEN_WSALT, .key = gcm##bits##_key,  \
		.idx = gcm_iv, .plaintext_length_octets = sizeof gcm_plain,                        \
		.plaintext = gcm_plain, .ciphertext_length_octets = sizeof gcm##bits##_cipher,     \
		.ciphertext = gcm##bits##_cipher, .aad_length_octets = sizeof gcm_aad,             \
		.aad = gcm_aad, .tag_length_octets = GCM_TAG_LEN,                                  \
	}
#define GCM_TYPE(bits)                                                                             \
	{                                                                                          \
		.alloc = gcm_alloc, .dealloc = cipher_dealloc, .init = gcm_init,                   \
		.set_aad = gcm_set_aad, .encrypt = gcm_encrypt, .decrypt = gcm_decrypt,            \
		.set_iv = gcm_set_iv, .get_tag = gcm_get_tag,                                      \
		.description = "AES-" #bits " GCM (dragoman, OpenSSL)",                            \
		.test_data = &gcm##bits##_test, .id = SRTP_AES_GCM_##bits,                         \
	}

static const srtp_cipher_test_case_t gcm128_test = GCM_TEST(128);
static const srtp_cipher_test_case_t gcm256_test = GCM_TEST(256);
static const srtp_cipher_type_t gcm128_type = GCM_TYPE(128);
static const srtp_cipher_type_t gcm256_type = GCM_TYPE(256);

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
	static const struct {
		EVP_CIPHER **evp;
		const char *name;
	} ciphers[] = {
		{&aes128_ctr, "AES-128-CTR"}, {&aes192_ctr, "AES-192-CTR"},
		{&aes256_ctr, "AES-256-CTR"}, {&aes128_gcm, "AES-128-GCM"},
		{&aes256_gcm, "AES-256-GCM"},
	};
	for (size_t i = 0; i < sizeof ciphers / sizeof ciphers[0]; i++) {
		if (!*ciphers[i].evp)
			*ciphers[i].evp = EVP_CIPHER_fetch(NULL, ciphers[i].name, NULL);
		if (!*ciphers[i].evp)
			return DM_ECRYPTO;
	}
	if (!hmac)
		hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!hmac)
		return DM_ECRYPTO;
	/* Each replacement runs libsrtp's self-test of the type first. */
	if (srtp_replace_cipher_type(&icm128_type, SRTP_AES_ICM_128) != srtp_err_status_ok ||
	    srtp_replace_cipher_type(&icm192_type, SRTP_AES_ICM_192) != srtp_err_status_ok ||
	    srtp_replace_cipher_type(&icm256_type, SRTP_AES_ICM_256) != srtp_err_status_ok ||
	    srtp_replace_auth_type(&mac_type, SRTP_HMAC_SHA1) != srtp_err_status_ok ||
	    srtp_replace_cipher_type(&gcm128_type, SRTP_AES_GCM_128) != srtp_err_status_ok ||
	    srtp_replace_cipher_type(&gcm256_type, SRTP_AES_GCM_256) != srtp_err_status_ok)
		return DM_ECRYPTO;
	return 0;
}
