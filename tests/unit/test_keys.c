/* Unit tests of src/core/keys.c: HKDF-SHA256 against RFC 5869, the per-stream key derivation,
 * the conference secret file, base64 and randomness. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dragoman/error.h"
#include "dragoman/keys.h"

/* ---- RFC 5869, appendix A.1 to A.3 (SHA-256) ---- */

static void keys_hkdf_rfc5869_case1(void **state)
{
	(void)state;
	uint8_t ikm[22], out[42];
	memset(ikm, 0x0b, sizeof ikm);
	const uint8_t salt[13] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
				  0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c};
	const uint8_t info[10] = {0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9};
	const uint8_t okm[42] = {0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a, 0x90, 0x43, 0x4f,
				 0x64, 0xd0, 0x36, 0x2f, 0x2a, 0x2d, 0x2d, 0x0a, 0x90, 0xcf, 0x1a,
				 0x5a, 0x4c, 0x5d, 0xb0, 0x2d, 0x56, 0xec, 0xc4, 0xc5, 0xbf, 0x34,
				 0x00, 0x72, 0x08, 0xd5, 0xb8, 0x87, 0x18, 0x58, 0x65};
	assert_int_equal(dm_hkdf_sha256(salt, sizeof salt, ikm, sizeof ikm, info, sizeof info, out,
					sizeof out),
			 0);
	assert_memory_equal(out, okm, sizeof okm);
}

static void keys_hkdf_rfc5869_case2(void **state)
{
	(void)state;
	uint8_t ikm[80], salt[80], info[80], out[82];
	for (size_t i = 0; i < 80; i++) {
		ikm[i] = (uint8_t)i;
		salt[i] = (uint8_t)(0x60 + i);
		info[i] = (uint8_t)(0xb0 + i);
	}
	const uint8_t okm[82] = {
		0xb1, 0x1e, 0x39, 0x8d, 0xc8, 0x03, 0x27, 0xa1, 0xc8, 0xe7, 0xf7, 0x8c, 0x59, 0x6a,
		0x49, 0x34, 0x4f, 0x01, 0x2e, 0xda, 0x2d, 0x4e, 0xfa, 0xd8, 0xa0, 0x50, 0xcc, 0x4c,
		0x19, 0xaf, 0xa9, 0x7c, 0x59, 0x04, 0x5a, 0x99, 0xca, 0xc7, 0x82, 0x72, 0x71, 0xcb,
		0x41, 0xc6, 0x5e, 0x59, 0x0e, 0x09, 0xda, 0x32, 0x75, 0x60, 0x0c, 0x2f, 0x09, 0xb8,
		0x36, 0x77, 0x93, 0xa9, 0xac, 0xa3, 0xdb, 0x71, 0xcc, 0x30, 0xc5, 0x81, 0x79, 0xec,
		0x3e, 0x87, 0xc1, 0x4c, 0x01, 0xd5, 0xc1, 0xf3, 0x43, 0x4f, 0x1d, 0x87};
	assert_int_equal(dm_hkdf_sha256(salt, sizeof salt, ikm, sizeof ikm, info, sizeof info, out,
					sizeof out),
			 0);
	assert_memory_equal(out, okm, sizeof okm);
}

static void keys_hkdf_rfc5869_case3(void **state)
{
	(void)state;
	uint8_t ikm[22], out[42];
	memset(ikm, 0x0b, sizeof ikm);
	const uint8_t okm[42] = {0x8d, 0xa4, 0xe7, 0x75, 0xa5, 0x63, 0xc1, 0x8f, 0x71, 0x5f, 0x80,
				 0x2a, 0x06, 0x3c, 0x5a, 0x31, 0xb8, 0xa1, 0x1f, 0x5c, 0x5e, 0xe1,
				 0x87, 0x9e, 0xc3, 0x45, 0x4e, 0x5f, 0x3c, 0x73, 0x8d, 0x2d, 0x9d,
				 0x20, 0x13, 0x95, 0xfa, 0xa4, 0xb6, 0x1a, 0x96, 0xc8};
	/* zero-length salt and info, passed as NULL */
	assert_int_equal(dm_hkdf_sha256(NULL, 0, ikm, sizeof ikm, NULL, 0, out, sizeof out), 0);
	assert_memory_equal(out, okm, sizeof okm);
	/* a salt of HashLen zeros is the same thing (RFC 5869, 2.2) */
	uint8_t zeros[32] = {0};
	memset(out, 0, sizeof out);
	assert_int_equal(
		dm_hkdf_sha256(zeros, sizeof zeros, ikm, sizeof ikm, NULL, 0, out, sizeof out), 0);
	assert_memory_equal(out, okm, sizeof okm);
}

static void keys_hkdf_lengths(void **state)
{
	(void)state;
	const uint8_t ikm[4] = {1, 2, 3, 4};
	static uint8_t big[255 * 32 + 1], small[16];
	assert_int_equal(dm_hkdf_sha256(NULL, 0, ikm, sizeof ikm, NULL, 0, big, 255 * 32), 0);
	assert_int_equal(dm_hkdf_sha256(NULL, 0, ikm, sizeof ikm, NULL, 0, big, 255 * 32 + 1),
			 DM_EINVAL);
	/* HKDF output is a prefix of the longer output */
	assert_int_equal(dm_hkdf_sha256(NULL, 0, ikm, sizeof ikm, NULL, 0, big, 100), 0);
	assert_int_equal(dm_hkdf_sha256(NULL, 0, ikm, sizeof ikm, NULL, 0, small, 16), 0);
	assert_memory_equal(small, big, 16);
}

static void keys_hkdf_bad_args(void **state)
{
	(void)state;
	const uint8_t ikm[4] = {1, 2, 3, 4}, salt[4] = {5}, info[4] = {6};
	uint8_t out[32];
	assert_int_equal(dm_hkdf_sha256(NULL, 4, ikm, 4, info, 4, out, 32), DM_EINVAL);
	assert_int_equal(dm_hkdf_sha256(salt, 4, NULL, 4, info, 4, out, 32), DM_EINVAL);
	assert_int_equal(dm_hkdf_sha256(salt, 4, ikm, 0, info, 4, out, 32), DM_EINVAL);
	assert_int_equal(dm_hkdf_sha256(salt, 4, ikm, 4, NULL, 4, out, 32), DM_EINVAL);
	assert_int_equal(dm_hkdf_sha256(salt, 4, ikm, 4, info, 4, NULL, 32), DM_EINVAL);
	assert_int_equal(dm_hkdf_sha256(salt, 4, ikm, 4, info, 4, out, 0), DM_EINVAL);
	assert_int_equal(dm_hkdf_sha256(salt, 4, ikm, 4, info, 4, out, 255 * 32 + 1), DM_EINVAL);
}

/* ---- per-stream keys ---- */

static void fill_secret(uint8_t *secret, uint8_t seed)
{
	for (size_t i = 0; i < DM_SECRET_LEN; i++)
		secret[i] = (uint8_t)(seed * 7 + i);
}

/* The documented layout, built independently: info = "dragoman srtp v1" 0 channel 0 ssrc(BE). */
static void keys_derive_layout(void **state)
{
	(void)state;
	uint8_t secret[DM_SECRET_LEN], got[DM_SRTP_MAX_KEY_LEN], want[DM_SRTP_MAX_KEY_LEN];
	fill_secret(secret, 1);
	const uint8_t info[] = "dragoman srtp v1\0fr\0\x12\x34\x56\x78";
	const char *conf = "seoul-2021";
	assert_int_equal(dm_hkdf_sha256((const uint8_t *)conf, strlen(conf), secret, DM_SECRET_LEN,
					info, sizeof info - 1, want, 30),
			 0);
	assert_int_equal(sizeof info - 1, 16 + 1 + 2 + 1 + 4);
	assert_int_equal(dm_keys_derive(secret, conf, "fr", 0x12345678,
					DM_SRTP_AES_CM_128_HMAC_SHA1_80, got, sizeof got),
			 0);
	assert_memory_equal(got, want, 30);
}

static void keys_derive_deterministic(void **state)
{
	(void)state;
	uint8_t secret[DM_SECRET_LEN], a[DM_SRTP_MAX_KEY_LEN], b[DM_SRTP_MAX_KEY_LEN];
	fill_secret(secret, 2);
	assert_int_equal(dm_keys_derive(secret, "conf", "en", 42, DM_SRTP_AEAD_AES_256_GCM, a, 44),
			 0);
	assert_int_equal(dm_keys_derive(secret, "conf", "en", 42, DM_SRTP_AEAD_AES_256_GCM, b, 44),
			 0);
	assert_memory_equal(a, b, 44);
}

static void keys_derive_differs(void **state)
{
	(void)state;
	uint8_t secret[DM_SECRET_LEN], other[DM_SECRET_LEN];
	uint8_t base[30], k[30];
	fill_secret(secret, 3);
	fill_secret(other, 3);
	other[31] ^= 1;
	const enum dm_srtp_suite cm = DM_SRTP_AES_CM_128_HMAC_SHA1_80;
	assert_int_equal(dm_keys_derive(secret, "conf", "en", 42, cm, base, 30), 0);
	assert_int_equal(dm_keys_derive(secret, "conf", "en", 43, cm, k, 30), 0);
	assert_memory_not_equal(base, k, 30);
	assert_int_equal(dm_keys_derive(secret, "conf", "fr", 42, cm, k, 30), 0);
	assert_memory_not_equal(base, k, 30);
	assert_int_equal(dm_keys_derive(secret, "conf2", "en", 42, cm, k, 30), 0);
	assert_memory_not_equal(base, k, 30);
	assert_int_equal(dm_keys_derive(other, "conf", "en", 42, cm, k, 30), 0);
	assert_memory_not_equal(base, k, 30);
	/* a prefix of a channel id is another channel */
	assert_int_equal(dm_keys_derive(secret, "conf", "e", 42, cm, k, 30), 0);
	assert_memory_not_equal(base, k, 30);
}

static void keys_derive_lengths(void **state)
{
	(void)state;
	uint8_t secret[DM_SECRET_LEN], out[DM_SRTP_MAX_KEY_LEN + 4];
	fill_secret(secret, 4);
	const struct {
		enum dm_srtp_suite suite;
		size_t len;
	} cases[] = {
		{DM_SRTP_AES_CM_128_HMAC_SHA1_80, 30},
		{DM_SRTP_AEAD_AES_128_GCM, 28},
		{DM_SRTP_AEAD_AES_256_GCM, 44},
	};
	for (size_t i = 0; i < 3; i++) {
		memset(out, 0xa5, sizeof out);
		assert_int_equal(
			dm_keys_derive(secret, "c", "floor", 1, cases[i].suite, out, cases[i].len),
			0);
		assert_int_equal(dm_srtp_key_len(cases[i].suite), cases[i].len);
		/* nothing written past the key */
		for (size_t j = cases[i].len; j < sizeof out; j++)
			assert_int_equal(out[j], 0xa5);
		memset(out, 0xa5, sizeof out);
		assert_int_equal(dm_keys_derive(secret, "c", "floor", 1, cases[i].suite, out,
						cases[i].len - 1),
				 DM_ENOSPC);
	}
	/* the shorter keys are prefixes of the same HKDF stream */
	uint8_t k30[30], k44[44];
	assert_int_equal(dm_keys_derive(secret, "c", "floor", 1, DM_SRTP_AES_CM_128_HMAC_SHA1_80,
					k30, sizeof k30),
			 0);
	assert_int_equal(
		dm_keys_derive(secret, "c", "floor", 1, DM_SRTP_AEAD_AES_256_GCM, k44, sizeof k44),
		0);
	assert_memory_equal(k30, k44, 30);
}

static void keys_derive_bad_args(void **state)
{
	(void)state;
	uint8_t secret[DM_SECRET_LEN], out[DM_SRTP_MAX_KEY_LEN];
	fill_secret(secret, 5);
	const enum dm_srtp_suite cm = DM_SRTP_AES_CM_128_HMAC_SHA1_80;
	char long_id[300];
	memset(long_id, 'a', sizeof long_id - 1);
	long_id[sizeof long_id - 1] = '\0';
	assert_int_equal(dm_keys_derive(NULL, "c", "en", 1, cm, out, sizeof out), DM_EINVAL);
	assert_int_equal(dm_keys_derive(secret, NULL, "en", 1, cm, out, sizeof out), DM_EINVAL);
	assert_int_equal(dm_keys_derive(secret, "", "en", 1, cm, out, sizeof out), DM_EINVAL);
	assert_int_equal(dm_keys_derive(secret, "c", NULL, 1, cm, out, sizeof out), DM_EINVAL);
	assert_int_equal(dm_keys_derive(secret, "c", "", 1, cm, out, sizeof out), DM_EINVAL);
	assert_int_equal(dm_keys_derive(secret, "c", long_id, 1, cm, out, sizeof out), DM_EINVAL);
	assert_int_equal(
		dm_keys_derive(secret, "c", "en", 1, (enum dm_srtp_suite)9, out, sizeof out),
		DM_EINVAL);
	assert_int_equal(dm_keys_derive(secret, "c", "en", 1, cm, NULL, sizeof out), DM_EINVAL);
	assert_int_equal(dm_keys_derive(secret, "c", "en", 1, cm, out, 0), DM_ENOSPC);
	long_id[255] = '\0'; /* the longest channel id accepted */
	assert_int_equal(dm_keys_derive(secret, "c", long_id, 1, cm, out, sizeof out), 0);
}

/* ---- the secret file ---- */

static char tmpdir[64];

static int make_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/dm-test-keys-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_in_tmp(char *path, size_t cap, const char *name)
{
	snprintf(path, cap, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static void keys_secret_round_trip(void **state)
{
	(void)state;
	char path[128];
	path_in_tmp(path, sizeof path, "round.key");
	assert_int_equal(dm_secret_generate(path), 0);

	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 45); /* 44 base64 characters and a newline */

	char text[64] = {0};
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fread(text, 1, sizeof text - 1, f), 45);
	fclose(f);
	assert_int_equal(text[44], '\n');
	text[44] = '\0';

	uint8_t secret[DM_SECRET_LEN], decoded[DM_SECRET_LEN + 3];
	assert_int_equal(dm_secret_load(path, secret), 0);
	assert_int_equal(dm_base64_decode(text, decoded, sizeof decoded), DM_SECRET_LEN);
	assert_memory_equal(secret, decoded, DM_SECRET_LEN);

	/* never overwritten, and the content stays the same */
	assert_int_equal(dm_secret_generate(path), DM_EEXIST);
	uint8_t again[DM_SECRET_LEN];
	assert_int_equal(dm_secret_load(path, again), 0);
	assert_memory_equal(secret, again, DM_SECRET_LEN);

	/* two generated secrets differ */
	char path2[128];
	path_in_tmp(path2, sizeof path2, "round2.key");
	assert_int_equal(dm_secret_generate(path2), 0);
	assert_int_equal(dm_secret_load(path2, again), 0);
	assert_memory_not_equal(secret, again, DM_SECRET_LEN);
}

static void keys_secret_generate_umask(void **state)
{
	(void)state;
	char path[128];
	path_in_tmp(path, sizeof path, "umask.key");
	mode_t old = umask(0277); /* would strip the owner's write bit */
	int ret = dm_secret_generate(path);
	umask(old);
	assert_int_equal(ret, 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* generate refuses a directory or a dangling symlink in the way, and a missing folder */
	assert_int_equal(dm_secret_generate(tmpdir), DM_EEXIST);
	char link[128];
	path_in_tmp(link, sizeof link, "dangling.key");
	assert_int_equal(symlink("/nonexistent/dm-target", link), 0);
	assert_int_equal(dm_secret_generate(link), DM_EEXIST);
	char missing[160];
	path_in_tmp(missing, sizeof missing, "no/such/dir.key");
	assert_int_equal(dm_secret_generate(missing), DM_EIO);
}

static void keys_secret_whitespace(void **state)
{
	(void)state;
	uint8_t raw[DM_SECRET_LEN], secret[DM_SECRET_LEN];
	for (size_t i = 0; i < sizeof raw; i++)
		raw[i] = (uint8_t)(0xf0 ^ i);
	char b64[64], text[128];
	assert_int_equal(dm_base64_encode(raw, sizeof raw, b64, sizeof b64), 44);
	snprintf(text, sizeof text, " \t\r\n%s \r\n\n\t ", b64);
	char path[128];
	path_in_tmp(path, sizeof path, "ws.key");
	write_file(path, text, 0600);
	assert_int_equal(dm_secret_load(path, secret), 0);
	assert_memory_equal(secret, raw, sizeof raw);
	/* owner read-only is fine too */
	write_file(path, b64, 0400);
	memset(secret, 0, sizeof secret);
	assert_int_equal(dm_secret_load(path, secret), 0);
	assert_memory_equal(secret, raw, sizeof raw);
}

static void keys_secret_unsafe_mode(void **state)
{
	(void)state;
	uint8_t raw[DM_SECRET_LEN] = {1}, secret[DM_SECRET_LEN];
	char b64[64], path[128];
	assert_int_equal(dm_base64_encode(raw, sizeof raw, b64, sizeof b64), 44);
	path_in_tmp(path, sizeof path, "mode.key");
	const mode_t modes[] = {0644, 0640, 0604, 0620, 0602, 0610, 0601, 0666};
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		write_file(path, b64, modes[i]);
		memset(secret, 0x5a, sizeof secret);
		assert_int_equal(dm_secret_load(path, secret), DM_EPERM);
		assert_int_equal(secret[0], 0x5a); /* untouched */
	}
	write_file(path, b64, 0600);
	assert_int_equal(dm_secret_load(path, secret), 0);
}

static void keys_secret_garbage(void **state)
{
	(void)state;
	uint8_t raw[40] = {7}, secret[DM_SECRET_LEN];
	char b31[64], b33[64], path[128], text[256];
	assert_int_equal(dm_base64_encode(raw, 31, b31, sizeof b31), 44);
	assert_int_equal(dm_base64_encode(raw, 33, b33, sizeof b33), 44);
	assert_int_equal(dm_base64_encode(raw, 32, text, sizeof text), 44);
	text[20] = ' '; /* white space inside */
	path_in_tmp(path, sizeof path, "garbage.key");
	const char *bad[] = {"",
			     "   \n",
			     "not base64 at all!",
			     b31,
			     b33,
			     text,
			     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",   /* 43 chars */
			     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*"}; /* bad char */
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		write_file(path, bad[i], 0600);
		assert_int_equal(dm_secret_load(path, secret), DM_EINVAL);
	}
	/* a huge file is not read whole */
	char *huge = malloc(5000);
	assert_non_null(huge);
	memset(huge, 'A', 4999);
	huge[4999] = '\0';
	write_file(path, huge, 0600);
	free(huge);
	assert_int_equal(dm_secret_load(path, secret), DM_EINVAL);
	/* a directory is not a secret file */
	assert_int_equal(chmod(tmpdir, 0700), 0);
	assert_int_equal(dm_secret_load(tmpdir, secret), DM_EINVAL);
}

static void keys_secret_missing(void **state)
{
	(void)state;
	uint8_t secret[DM_SECRET_LEN];
	char path[128];
	path_in_tmp(path, sizeof path, "missing.key");
	assert_int_equal(dm_secret_load(path, secret), DM_ENOENT);
	path_in_tmp(path, sizeof path, "nodir/missing.key");
	assert_int_equal(dm_secret_load(path, secret), DM_ENOENT);
}

static void keys_secret_bad_args(void **state)
{
	(void)state;
	uint8_t secret[DM_SECRET_LEN];
	assert_int_equal(dm_secret_load(NULL, secret), DM_EINVAL);
	assert_int_equal(dm_secret_load("", secret), DM_EINVAL);
	assert_int_equal(dm_secret_load("/tmp/x", NULL), DM_EINVAL);
	assert_int_equal(dm_secret_generate(NULL), DM_EINVAL);
	assert_int_equal(dm_secret_generate(""), DM_EINVAL);
}

/* ---- base64 ---- */

static void keys_base64_rfc4648(void **state)
{
	(void)state;
	const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *b64[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < 7; i++) {
		char enc[16];
		uint8_t dec[16];
		size_t n = strlen(plain[i]);
		assert_int_equal(dm_base64_encode((const uint8_t *)plain[i], n, enc, sizeof enc),
				 (int)strlen(b64[i]));
		assert_string_equal(enc, b64[i]);
		memset(dec, 0xee, sizeof dec);
		assert_int_equal(dm_base64_decode(b64[i], dec, sizeof dec), (int)n);
		assert_memory_equal(dec, plain[i], n);
		assert_int_equal(dec[n], 0xee); /* the padding wrote nothing */
	}
}

static void keys_base64_binary(void **state)
{
	(void)state;
	uint8_t raw[256], dec[256];
	char enc[400];
	for (size_t i = 0; i < sizeof raw; i++)
		raw[i] = (uint8_t)(255 - i);
	for (size_t n = 0; n <= sizeof raw; n += 17) {
		int len = dm_base64_encode(raw, n, enc, sizeof enc);
		assert_int_equal(len, (int)((n + 2) / 3 * 4));
		assert_int_equal(strlen(enc), (size_t)len);
		assert_int_equal(dm_base64_decode(enc, dec, sizeof dec), (int)n);
		assert_memory_equal(dec, raw, n);
	}
	assert_int_equal(dm_base64_encode(NULL, 0, enc, 1), 0);
	assert_string_equal(enc, "");
}

static void keys_base64_capacity(void **state)
{
	(void)state;
	const uint8_t raw[5] = {1, 2, 3, 4, 5};
	char enc[16];
	memset(enc, 'x', sizeof enc);
	assert_int_equal(dm_base64_encode(raw, 5, enc, 8), DM_ENOSPC); /* needs 8 + NUL */
	assert_int_equal(dm_base64_encode(raw, 5, enc, 9), 8);
	assert_int_equal(enc[8], '\0');
	assert_int_equal(enc[9], 'x');
	assert_int_equal(dm_base64_encode(raw, 0, enc, 0), DM_ENOSPC);

	/* decoding needs only the true length, not the 3 bytes per quartet */
	uint8_t dec[8];
	memset(dec, 0xee, sizeof dec);
	assert_int_equal(dm_base64_decode("AQIDBAU=", dec, 4), DM_ENOSPC);
	assert_int_equal(dm_base64_decode("AQIDBAU=", dec, 5), 5);
	assert_memory_equal(dec, raw, 5);
	assert_int_equal(dec[5], 0xee);
	memset(dec, 0xee, sizeof dec);
	assert_int_equal(dm_base64_decode("AQIDBA==", dec, 4), 4);
	assert_memory_equal(dec, raw, 4);
	assert_int_equal(dec[4], 0xee);
	assert_int_equal(dm_base64_decode("AQIDBA==", dec, 3), DM_ENOSPC);
	assert_int_equal(dm_base64_decode("", dec, 0), 0);
}

static void keys_base64_invalid(void **state)
{
	(void)state;
	uint8_t dec[64];
	const char *bad[] = {
		"Zg",	    /* unpadded */
		"Zg=",	    /* short */
		"Zm9vY",    /* not a multiple of 4 */
		"Z===",	    /* too much padding */
		"====",	    /* only padding */
		"Zg==Zg==", /* padding inside */
		"Zm=v",	    /* padding inside a quartet */
		" Zm9v",    /* white space */
		"Zm9v\n",   /* trailing newline */
		"Zm 9v",    /* white space inside */
		"Zm9-",	    /* base64url is not base64 */
		"Zm9_",	    "Zm9v!A==",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(dm_base64_decode(bad[i], dec, sizeof dec), DM_EINVAL);
	assert_int_equal(dm_base64_decode(NULL, dec, sizeof dec), DM_EINVAL);
	assert_int_equal(dm_base64_decode("Zm9v", NULL, sizeof dec), DM_EINVAL);
	char enc[8];
	assert_int_equal(dm_base64_encode(NULL, 3, enc, sizeof enc), DM_EINVAL);
	assert_int_equal(dm_base64_encode(dec, 3, NULL, sizeof enc), DM_EINVAL);
}

/* ---- randomness ---- */

static void keys_random_bytes(void **state)
{
	(void)state;
	uint8_t a[32] = {0}, b[32] = {0}, zero[32] = {0};
	assert_int_equal(dm_random_bytes(a, sizeof a), 0);
	assert_int_equal(dm_random_bytes(b, sizeof b), 0);
	assert_memory_not_equal(a, b, sizeof a);
	assert_memory_not_equal(a, zero, sizeof a);
	assert_int_equal(dm_random_bytes(a, 0), 0);
	assert_int_equal(dm_random_bytes(NULL, 0), 0);
	assert_int_equal(dm_random_bytes(NULL, 1), DM_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keys_hkdf_rfc5869_case1),
		cmocka_unit_test(keys_hkdf_rfc5869_case2),
		cmocka_unit_test(keys_hkdf_rfc5869_case3),
		cmocka_unit_test(keys_hkdf_lengths),
		cmocka_unit_test(keys_hkdf_bad_args),
		cmocka_unit_test(keys_derive_layout),
		cmocka_unit_test(keys_derive_deterministic),
		cmocka_unit_test(keys_derive_differs),
		cmocka_unit_test(keys_derive_lengths),
		cmocka_unit_test(keys_derive_bad_args),
		cmocka_unit_test(keys_secret_round_trip),
		cmocka_unit_test(keys_secret_generate_umask),
		cmocka_unit_test(keys_secret_whitespace),
		cmocka_unit_test(keys_secret_unsafe_mode),
		cmocka_unit_test(keys_secret_garbage),
		cmocka_unit_test(keys_secret_missing),
		cmocka_unit_test(keys_secret_bad_args),
		cmocka_unit_test(keys_base64_rfc4648),
		cmocka_unit_test(keys_base64_binary),
		cmocka_unit_test(keys_base64_capacity),
		cmocka_unit_test(keys_base64_invalid),
		cmocka_unit_test(keys_random_bytes),
	};
	return cmocka_run_group_tests_name("keys", tests, make_tmpdir, remove_tmpdir);
}
