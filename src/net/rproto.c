#include "dragoman/rproto.h"

#include "dragoman/error.h"
#include "dragoman/keys.h"
#include "dragoman/rtp.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

#define HELLO_MAC_OFF 56
#define HELLO_TAG_LEN 16
#define KEYS_HDR 32
#define KEYS_TAG 16

static const uint8_t hello_magic[4] = {'D', 'M', 'H', '1'};
static const uint8_t keys_magic[4] = {'D', 'M', 'K', '1'};
static const uint8_t challenge_magic[4] = {'D', 'M', 'C', '1'};
static const uint8_t response_magic[4] = {'D', 'M', 'R', '1'};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

enum dm_rproto_kind dm_rproto_kind(const uint8_t *buf, size_t len)
{
	if (!buf || len < 4)
		return DM_RPROTO_OTHER;
	if (memcmp(buf, hello_magic, 4) == 0)
		return DM_RPROTO_HELLO;
	if (memcmp(buf, keys_magic, 4) == 0)
		return DM_RPROTO_KEYS;
	if (memcmp(buf, challenge_magic, 4) == 0)
		return DM_RPROTO_CHALLENGE;
	if (memcmp(buf, response_magic, 4) == 0)
		return DM_RPROTO_RESPONSE;
	if (len >= 8 && (buf[0] >> 6) == 2)
		return dm_rtp_is_rtcp(buf, len) ? DM_RPROTO_RTCP : DM_RPROTO_RTP;
	return DM_RPROTO_OTHER;
}

int dm_rproto_derive(const uint8_t session_key[DM_RPROTO_SESSION_KEY_LEN],
		     struct dm_rproto_keys *out)
{
	if (!session_key || !out)
		return DM_EINVAL;
	static const char hello_info[] = "dragoman hello v1";
	static const char update_info[] = "dragoman keys v1";
	/* One secret, two purposes: separate keys so that a hello tag can never
	 * be taken for anything the update key protects, and back. */
	int rc = dm_hkdf_sha256(NULL, 0, session_key, DM_RPROTO_SESSION_KEY_LEN,
				(const uint8_t *)hello_info, sizeof hello_info - 1, out->hello,
				sizeof out->hello);
	if (rc == 0)
		rc = dm_hkdf_sha256(NULL, 0, session_key, DM_RPROTO_SESSION_KEY_LEN,
				    (const uint8_t *)update_info, sizeof update_info - 1,
				    out->update, sizeof out->update);
	if (rc < 0)
		OPENSSL_cleanse(out, sizeof *out);
	return rc;
}

/* HMAC-SHA256 under the hello key of the first len bytes of buf. */
static int mac_of(const uint8_t *buf, size_t len, const struct dm_rproto_keys *k, uint8_t mac[32])
{
	unsigned int n = 32;
	if (!HMAC(EVP_sha256(), k->hello, sizeof k->hello, buf, len, mac, &n))
		return DM_ECRYPTO;
	return 0;
}

static int hello_mac(const uint8_t *buf, const struct dm_rproto_keys *k, uint8_t mac[32])
{
	return mac_of(buf, HELLO_MAC_OFF, k, mac);
}

int dm_rproto_challenge_write(const uint8_t session[DM_RPROTO_SESSION_ID_LEN],
			      const uint8_t cookie[DM_RPROTO_COOKIE_LEN], uint8_t *buf, size_t cap)
{
	if (!session || !cookie || !buf)
		return DM_EINVAL;
	if (cap < DM_RPROTO_CHALLENGE_LEN)
		return DM_ENOSPC;
	memcpy(buf, challenge_magic, 4);
	memcpy(buf + 4, session, DM_RPROTO_SESSION_ID_LEN);
	memcpy(buf + 20, cookie, DM_RPROTO_COOKIE_LEN);
	return DM_RPROTO_CHALLENGE_LEN;
}

int dm_rproto_challenge_read(const uint8_t *buf, size_t len,
			     uint8_t session[DM_RPROTO_SESSION_ID_LEN],
			     uint8_t cookie[DM_RPROTO_COOKIE_LEN])
{
	if (!session || !cookie)
		return DM_EINVAL;
	if (!buf || len != DM_RPROTO_CHALLENGE_LEN || memcmp(buf, challenge_magic, 4) != 0)
		return DM_EPROTO;
	memcpy(session, buf + 4, DM_RPROTO_SESSION_ID_LEN);
	memcpy(cookie, buf + 20, DM_RPROTO_COOKIE_LEN);
	return 0;
}

int dm_rproto_response_write(const uint8_t session[DM_RPROTO_SESSION_ID_LEN],
			     const uint8_t cookie[DM_RPROTO_COOKIE_LEN],
			     const struct dm_rproto_keys *k, uint8_t *buf, size_t cap)
{
	if (!session || !cookie || !k || !buf)
		return DM_EINVAL;
	if (cap < DM_RPROTO_RESPONSE_LEN)
		return DM_ENOSPC;
	memcpy(buf, response_magic, 4);
	memcpy(buf + 4, session, DM_RPROTO_SESSION_ID_LEN);
	memcpy(buf + 20, cookie, DM_RPROTO_COOKIE_LEN);
	uint8_t mac[32];
	if (mac_of(buf, 36, k, mac) < 0)
		return DM_ECRYPTO;
	memcpy(buf + 36, mac, 16);
	return DM_RPROTO_RESPONSE_LEN;
}

int dm_rproto_response_session(const uint8_t *buf, size_t len,
			       uint8_t session[DM_RPROTO_SESSION_ID_LEN])
{
	if (!buf || !session || len != DM_RPROTO_RESPONSE_LEN ||
	    memcmp(buf, response_magic, 4) != 0)
		return DM_EPROTO;
	memcpy(session, buf + 4, DM_RPROTO_SESSION_ID_LEN);
	return 0;
}

int dm_rproto_response_verify(const uint8_t *buf, size_t len, const struct dm_rproto_keys *k,
			      uint8_t cookie[DM_RPROTO_COOKIE_LEN])
{
	if (!k || !cookie)
		return DM_EINVAL;
	if (!buf || len != DM_RPROTO_RESPONSE_LEN || memcmp(buf, response_magic, 4) != 0)
		return DM_EPROTO;
	uint8_t mac[32];
	if (mac_of(buf, 36, k, mac) < 0)
		return DM_ECRYPTO;
	if (CRYPTO_memcmp(mac, buf + 36, 16) != 0)
		return DM_EAUTH;
	memcpy(cookie, buf + 20, DM_RPROTO_COOKIE_LEN);
	return 0;
}

int dm_rproto_hello_write(const struct dm_rproto_hello *h, const struct dm_rproto_keys *k,
			  uint8_t *buf, size_t cap)
{
	if (!h || !k || !buf)
		return DM_EINVAL;
	if (cap < DM_RPROTO_HELLO_LEN)
		return DM_ENOSPC;
	memcpy(buf, hello_magic, 4);
	memcpy(buf + 4, h->session, DM_RPROTO_SESSION_ID_LEN);
	put32(buf + 20, (uint32_t)(h->counter >> 32));
	put32(buf + 24, (uint32_t)h->counter);
	put32(buf + 28, h->generation);
	const struct dm_rproto_report *r = &h->report;
	put32(buf + 32, r->ssrc);
	/* RFC 3550 A.3: a count beyond 24 bits is clamped, not wrapped. */
	int32_t lost = r->cumulative_lost;
	if (lost > 0x7fffff)
		lost = 0x7fffff;
	if (lost < -0x800000)
		lost = -0x800000;
	put32(buf + 36, (uint32_t)r->fraction_lost << 24 | ((uint32_t)lost & 0xffffff));
	put32(buf + 40, r->highest_seq);
	put32(buf + 44, r->jitter);
	put32(buf + 48, r->lsr);
	put32(buf + 52, r->dlsr);
	uint8_t mac[32];
	if (hello_mac(buf, k, mac) < 0)
		return DM_ECRYPTO;
	memcpy(buf + HELLO_MAC_OFF, mac, HELLO_TAG_LEN);
	return DM_RPROTO_HELLO_LEN;
}

int dm_rproto_hello_session(const uint8_t *buf, size_t len,
			    uint8_t session[DM_RPROTO_SESSION_ID_LEN])
{
	if (!buf || !session || len != DM_RPROTO_HELLO_LEN || memcmp(buf, hello_magic, 4) != 0)
		return DM_EPROTO;
	memcpy(session, buf + 4, DM_RPROTO_SESSION_ID_LEN);
	return 0;
}

int dm_rproto_hello_verify(const uint8_t *buf, size_t len, const struct dm_rproto_keys *k,
			   struct dm_rproto_hello *out)
{
	if (!k || !out)
		return DM_EINVAL;
	if (!buf || len != DM_RPROTO_HELLO_LEN || memcmp(buf, hello_magic, 4) != 0)
		return DM_EPROTO;
	uint8_t mac[32];
	if (hello_mac(buf, k, mac) < 0)
		return DM_ECRYPTO;
	if (CRYPTO_memcmp(mac, buf + HELLO_MAC_OFF, HELLO_TAG_LEN) != 0)
		return DM_EAUTH;
	memcpy(out->session, buf + 4, DM_RPROTO_SESSION_ID_LEN);
	out->counter = (uint64_t)get32(buf + 20) << 32 | get32(buf + 24);
	out->generation = get32(buf + 28);
	struct dm_rproto_report *r = &out->report;
	r->ssrc = get32(buf + 32);
	uint32_t w = get32(buf + 36);
	r->fraction_lost = (uint8_t)(w >> 24);
	/* 24-bit two's complement on the wire. */
	r->cumulative_lost = (int32_t)((w & 0xffffff) ^ 0x800000) - 0x800000;
	r->highest_seq = get32(buf + 40);
	r->jitter = get32(buf + 44);
	r->lsr = get32(buf + 48);
	r->dlsr = get32(buf + 52);
	return 0;
}

/* AES-256-GCM one shot; enc 1 encrypts in -> out and writes the tag, enc 0
 * decrypts and checks it. */
static int gcm(int enc, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *aad,
	       size_t aad_len, const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (!c)
		return DM_ECRYPTO;
	int rc = DM_ECRYPTO, n = 0;
	if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
	    EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) != 1 ||
	    EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) != 1 ||
	    EVP_CipherUpdate(c, out, &n, in, (int)len) != 1)
		goto done;
	if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1)
		goto done;
	if (EVP_CipherFinal_ex(c, out + n, &n) != 1) {
		rc = enc ? DM_ECRYPTO : DM_EAUTH;
		goto done;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
		goto done;
	rc = 0;
done:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int dm_rproto_keys_write(const uint8_t session[DM_RPROTO_SESSION_ID_LEN],
			 const struct dm_rproto_keyset *ks, const struct dm_rproto_keys *k,
			 uint8_t *buf, size_t cap)
{
	if (!session || !ks || !k || !buf || ks->n > DM_RPROTO_MAX_KEYS)
		return DM_EINVAL;
	uint8_t plain[DM_RPROTO_KEYS_MAX_LEN];
	size_t n = 0;
	put32(plain, ks->generation);
	plain[4] = (uint8_t)ks->n;
	n = 5;
	for (size_t i = 0; i < ks->n; i++) {
		const struct dm_rproto_key *key = &ks->keys[i];
		if (key->key_len == 0 || key->key_len != dm_srtp_key_len(key->suite)) {
			OPENSSL_cleanse(plain, sizeof plain);
			return DM_EINVAL;
		}
		plain[n] = key->channel;
		put32(plain + n + 1, key->ssrc);
		plain[n + 5] = (uint8_t)key->suite;
		plain[n + 6] = (uint8_t)key->key_len;
		memcpy(plain + n + 7, key->key, key->key_len);
		n += 7 + key->key_len;
	}
	size_t total = KEYS_HDR + n + KEYS_TAG;
	if (cap < total) {
		OPENSSL_cleanse(plain, sizeof plain);
		return DM_ENOSPC;
	}
	memcpy(buf, keys_magic, 4);
	memcpy(buf + 4, session, DM_RPROTO_SESSION_ID_LEN);
	int rc = dm_random_bytes(buf + 20, 12);
	if (rc == 0)
		rc = gcm(1, k->update, buf + 20, buf, KEYS_HDR, plain, n, buf + KEYS_HDR,
			 buf + KEYS_HDR + n);
	OPENSSL_cleanse(plain, sizeof plain);
	return rc < 0 ? rc : (int)total;
}

int dm_rproto_keys_read(const uint8_t *buf, size_t len,
			const uint8_t session[DM_RPROTO_SESSION_ID_LEN],
			const struct dm_rproto_keys *k, struct dm_rproto_keyset *out)
{
	if (!k || !out)
		return DM_EINVAL;
	memset(out, 0, sizeof *out);
	if (!buf || len < KEYS_HDR + 5 + KEYS_TAG || len > DM_RPROTO_KEYS_MAX_LEN ||
	    memcmp(buf, keys_magic, 4) != 0)
		return DM_EPROTO;
	if (session && memcmp(buf + 4, session, DM_RPROTO_SESSION_ID_LEN) != 0)
		return DM_EPROTO;
	size_t n = len - KEYS_HDR - KEYS_TAG;
	uint8_t plain[DM_RPROTO_KEYS_MAX_LEN];
	uint8_t tag[KEYS_TAG];
	memcpy(tag, buf + len - KEYS_TAG, KEYS_TAG);
	int rc = gcm(0, k->update, buf + 20, buf, KEYS_HDR, buf + KEYS_HDR, n, plain, tag);
	if (rc < 0)
		goto fail;
	rc = DM_EPROTO;
	out->generation = get32(plain);
	out->n = plain[4];
	if (out->n > DM_RPROTO_MAX_KEYS)
		goto fail;
	size_t off = 5;
	for (size_t i = 0; i < out->n; i++) {
		struct dm_rproto_key *key = &out->keys[i];
		if (off + 7 > n)
			goto fail;
		key->channel = plain[off];
		key->ssrc = get32(plain + off + 1);
		if (plain[off + 5] > DM_SRTP_AEAD_AES_256_GCM)
			goto fail;
		key->suite = (enum dm_srtp_suite)plain[off + 5];
		key->key_len = plain[off + 6];
		if (key->key_len != dm_srtp_key_len(key->suite) || off + 7 + key->key_len > n)
			goto fail;
		memcpy(key->key, plain + off + 7, key->key_len);
		off += 7 + key->key_len;
	}
	if (off != n)
		goto fail;
	OPENSSL_cleanse(plain, sizeof plain);
	return 0;
fail:
	OPENSSL_cleanse(plain, sizeof plain);
	OPENSSL_cleanse(out, sizeof *out);
	return rc;
}
