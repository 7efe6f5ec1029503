/* dragoman: the conference secret and the per-stream SRTP keys (DESIGN.md, "Keys and trust").
 * All cryptography is OpenSSL's libcrypto: HKDF (EVP_KDF), randomness (RAND_bytes), base64
 * (EVP_EncodeBlock / EVP_DecodeBlock). */
#include "dragoman/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "dragoman/error.h"

#define HKDF_SHA256_MAX_OUT (255 * 32)
#define DERIVE_LABEL "dragoman srtp v1"
#define CHANNEL_ID_MAX 255
/* A secret file holds 44 base64 characters; allow generous white space around them, but do
 * not read an arbitrarily large file. */
#define SECRET_FILE_MAX 1024

int dm_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
		   const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
	if ((!salt && salt_len > 0) || !ikm || ikm_len == 0 || (!info && info_len > 0) || !out ||
	    out_len == 0 || out_len > HKDF_SHA256_MAX_OUT)
		return DM_EINVAL;

	EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
	if (!kdf)
		return DM_ECRYPTO;
	EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (!ctx)
		return DM_ECRYPTO;

	OSSL_PARAM params[5];
	size_t n = 0;
	params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	/* No salt parameter means HMAC keyed with HashLen zeros, as RFC 5869 asks. */
	if (salt_len > 0)
		params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
								salt_len);
	if (info_len > 0)
		params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
								info_len);
	params[n] = OSSL_PARAM_construct_end();

	int ret = EVP_KDF_derive(ctx, out, out_len, params) == 1 ? 0 : DM_ECRYPTO;
	EVP_KDF_CTX_free(ctx);
	if (ret < 0)
		OPENSSL_cleanse(out, out_len);
	return ret;
}

int dm_keys_derive(const uint8_t secret[DM_SECRET_LEN], const char *conference_id,
		   const char *channel_id, uint32_t ssrc, enum dm_srtp_suite suite, uint8_t *out,
		   size_t cap)
{
	if (!secret || !conference_id || !*conference_id || !channel_id || !*channel_id || !out)
		return DM_EINVAL;
	size_t key_len = dm_srtp_key_len(suite);
	size_t chan_len = strlen(channel_id);
	if (key_len == 0 || chan_len > CHANNEL_ID_MAX)
		return DM_EINVAL;
	if (cap < key_len)
		return DM_ENOSPC;

	/* "dragoman srtp v1" 0x00 channel_id 0x00 ssrc(BE32): the NULs keep the fields apart
	 * (ids never contain one), so no two (channel, ssrc) pairs share an info string. */
	uint8_t info[sizeof DERIVE_LABEL + CHANNEL_ID_MAX + 1 + 4];
	size_t n = 0;
	memcpy(info, DERIVE_LABEL, sizeof DERIVE_LABEL); /* with its NUL */
	n += sizeof DERIVE_LABEL;
	memcpy(info + n, channel_id, chan_len + 1);
	n += chan_len + 1;
	info[n++] = (uint8_t)(ssrc >> 24);
	info[n++] = (uint8_t)(ssrc >> 16);
	info[n++] = (uint8_t)(ssrc >> 8);
	info[n++] = (uint8_t)ssrc;

	return dm_hkdf_sha256((const uint8_t *)conference_id, strlen(conference_id), secret,
			      DM_SECRET_LEN, info, n, out, key_len);
}

int dm_random_bytes(void *buf, size_t n)
{
	if (!buf && n > 0)
		return DM_EINVAL;
	uint8_t *p = buf;
	while (n > 0) {
		int chunk = n > INT_MAX ? INT_MAX : (int)n;
		if (RAND_bytes(p, chunk) != 1)
			return DM_ECRYPTO;
		p += chunk;
		n -= (size_t)chunk;
	}
	return 0;
}

int dm_base64_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
	if ((!in && n > 0) || !out)
		return DM_EINVAL;
	if (n > (size_t)INT_MAX / 4 * 3 - 3)
		return DM_EINVAL;
	size_t need = (n + 2) / 3 * 4;
	if (cap < need + 1)
		return DM_ENOSPC;
	if (n == 0) {
		out[0] = '\0';
		return 0;
	}
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	if (len < 0 || (size_t)len != need)
		return DM_EINVAL;
	return len;
}

static bool is_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int dm_base64_decode(const char *in, uint8_t *out, size_t cap)
{
	if (!in || !out)
		return DM_EINVAL;
	/* EVP_DecodeBlock is lenient (skips white space, counts padding as bytes): accept only
	 * canonical padded base64 here, and let it do the decoding. */
	size_t len = strlen(in);
	if (len % 4 != 0 || len > INT_MAX)
		return DM_EINVAL;
	if (len == 0)
		return 0;
	size_t pad = in[len - 1] == '=' ? (in[len - 2] == '=' ? 2 : 1) : 0;
	for (size_t i = 0; i < len - pad; i++)
		if (!is_b64_char(in[i]))
			return DM_EINVAL;
	size_t true_len = len / 4 * 3 - pad;
	if (cap < true_len)
		return DM_ENOSPC;

	/* All quartets but the last decode to exactly 3 bytes each, straight into out; the last
	 * goes through a small buffer, because EVP_DecodeBlock writes 3 bytes even for padding. */
	size_t head = len - 4;
	if (head > 0 &&
	    EVP_DecodeBlock(out, (const unsigned char *)in, (int)head) != (int)(head / 4 * 3))
		return DM_EINVAL;
	uint8_t last[3];
	int r = EVP_DecodeBlock(last, (const unsigned char *)in + head, 4);
	if (r != 3) {
		OPENSSL_cleanse(last, sizeof last);
		OPENSSL_cleanse(out, true_len);
		return DM_EINVAL;
	}
	memcpy(out + head / 4 * 3, last, 3 - pad);
	OPENSSL_cleanse(last, sizeof last);
	return (int)true_len;
}

static int errno_to_dm(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR: return DM_ENOENT;
	case EEXIST: return DM_EEXIST;
	case ENOMEM: return DM_ENOMEM;
	default: return DM_EIO;
	}
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int dm_secret_load(const char *path, uint8_t secret[DM_SECRET_LEN])
{
	if (!path || !*path || !secret)
		return DM_EINVAL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno_to_dm(errno);

	/* Check the file we opened, not the path: no window for a swap in between. */
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int ret = errno_to_dm(errno);
		close(fd);
		return ret;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return DM_EINVAL;
	}
	if (st.st_mode & 077) {
		close(fd);
		return DM_EPERM;
	}

	char text[SECRET_FILE_MAX + 1];
	size_t len = 0;
	int ret = 0;
	for (;;) {
		ssize_t r = read(fd, text + len, sizeof text - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			ret = DM_EIO;
			break;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len == sizeof text) {
			ret = DM_EINVAL; /* far too long for a secret */
			break;
		}
	}
	close(fd);

	if (ret == 0) {
		size_t start = 0;
		while (start < len && is_space(text[start]))
			start++;
		while (len > start && is_space(text[len - 1]))
			len--;
		text[len] = '\0';
		uint8_t raw[DM_SECRET_LEN + 3];
		int n = memchr(text + start, '\0', len - start)
				? DM_EINVAL
				: dm_base64_decode(text + start, raw, sizeof raw);
		if (n == DM_SECRET_LEN)
			memcpy(secret, raw, DM_SECRET_LEN);
		else
			ret = DM_EINVAL;
		OPENSSL_cleanse(raw, sizeof raw);
	}
	OPENSSL_cleanse(text, sizeof text);
	return ret;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return DM_EIO;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

int dm_secret_generate(const char *path)
{
	if (!path || !*path)
		return DM_EINVAL;

	/* Draw the secret first: a randomness failure must leave no file behind. */
	uint8_t raw[DM_SECRET_LEN];
	char text[(DM_SECRET_LEN + 2) / 3 * 4 + 2];
	int ret = dm_random_bytes(raw, sizeof raw);
	int len = ret < 0 ? ret : dm_base64_encode(raw, sizeof raw, text, sizeof text - 1);
	OPENSSL_cleanse(raw, sizeof raw);
	if (len < 0) {
		OPENSSL_cleanse(text, sizeof text);
		return len == DM_ECRYPTO ? DM_ECRYPTO : DM_EIO;
	}
	text[len++] = '\n';

	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		ret = errno == EEXIST ? DM_EEXIST : DM_EIO;
		OPENSSL_cleanse(text, sizeof text);
		return ret;
	}
	/* The umask can only remove bits; set exactly 0600 whatever it was. */
	ret = fchmod(fd, 0600) == 0 ? 0 : DM_EIO;
	if (ret == 0)
		ret = write_all(fd, text, (size_t)len);
	if (ret == 0 && fsync(fd) != 0)
		ret = DM_EIO;
	if (close(fd) != 0 && ret == 0)
		ret = DM_EIO;
	OPENSSL_cleanse(text, sizeof text);
	if (ret < 0)
		unlink(path); /* a truncated secret would be worse than none */
	return ret;
}
