/* Unit tests of sdp.c: the SDP writer, the atomic 0600 file and the parser. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dragoman/error.h"
#include "dragoman/sdp.h"

#define KEY30_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"

static void fill_ref(struct dm_sdp *s)
{
	memset(s, 0, sizeof(*s));
	strcpy(s->session, "Demo conference - English");
	strcpy(s->channel_id, "en");
	strcpy(s->language, "en");
	strcpy(s->origin_addr, "192.0.2.10");
	strcpy(s->addr, "239.255.42.1");
	s->ttl = 1;
	s->port = 5004;
	s->pt = 111;
	s->ssrc = 0x12345678;
	s->frame_samples = 240;
	s->session_version = 3;
	s->suite = DM_SRTP_AES_CM_128_HMAC_SHA1_80;
	s->key_len = 30;
	for (size_t i = 0; i < s->key_len; i++)
		s->key[i] = (uint8_t)i;
}

static const char ref_text[] = "v=0\r\n"
			       "o=- 305419896 3 IN IP4 192.0.2.10\r\n"
			       "s=Demo conference - English\r\n"
			       "c=IN IP4 239.255.42.1/1\r\n"
			       "t=0 0\r\n"
			       "a=tool:dragoman\r\n"
			       "m=audio 5004 RTP/SAVP 111\r\n"
			       "a=rtpmap:111 opus/48000/2\r\n"
			       "a=fmtp:111 sprop-stereo=0;stereo=0\r\n"
			       "a=ptime:5\r\n"
			       "a=lang:en\r\n"
			       "a=ssrc:305419896 cname:dragoman-en\r\n"
			       "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_B64 "\r\n"
			       "a=x-dragoman-channel:en\r\n"
			       "a=rtcp:5005\r\n"
			       "a=extmap:1 urn:ietf:params:rtp-hdrext:ntp-56\r\n";

static void assert_sdp_equal(const struct dm_sdp *a, const struct dm_sdp *b)
{
	assert_string_equal(a->session, b->session);
	assert_string_equal(a->channel_id, b->channel_id);
	assert_string_equal(a->language, b->language);
	assert_string_equal(a->origin_addr, b->origin_addr);
	assert_string_equal(a->addr, b->addr);
	assert_int_equal(a->ttl, b->ttl);
	assert_int_equal(a->port, b->port);
	assert_int_equal(a->pt, b->pt);
	assert_int_equal(a->ssrc, b->ssrc);
	assert_int_equal(a->frame_samples, b->frame_samples);
	assert_true(a->session_version == b->session_version);
	assert_int_equal(a->suite, b->suite);
	assert_int_equal(a->key_len, b->key_len);
	assert_memory_equal(a->key, b->key, a->key_len);
}

/* Copies text without the lines that start with prefix (LF or CRLF). */
static char *drop_lines(const char *text, const char *prefix)
{
	char *out = malloc(strlen(text) + 1);
	assert_non_null(out);
	char *o = out;
	while (*text) {
		const char *eol = strchr(text, '\n');
		size_t n = eol ? (size_t)(eol - text) + 1 : strlen(text);
		if (strncmp(text, prefix, strlen(prefix)) != 0) {
			memcpy(o, text, n);
			o += n;
		}
		text += n;
	}
	*o = '\0';
	return out;
}

/* Copies text with the first occurrence of from replaced by to. */
static char *replace(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	assert_non_null(at);
	size_t head = (size_t)(at - text);
	char *out = malloc(strlen(text) - strlen(from) + strlen(to) + 1);
	assert_non_null(out);
	memcpy(out, text, head);
	strcpy(out + head, to);
	strcat(out, at + strlen(from));
	return out;
}

static void sdp_write_exact(void **state)
{
	(void)state;
	struct dm_sdp s;
	fill_ref(&s);
	char buf[1024];
	int n = dm_sdp_write(&s, buf, sizeof(buf));
	assert_int_equal(n, strlen(ref_text));
	assert_string_equal(buf, ref_text);

	/* exactly enough room (the NUL included), then one byte short: the
	 * partial text, which holds the key, is wiped */
	char small[sizeof(ref_text)];
	assert_int_equal(dm_sdp_write(&s, small, sizeof(small)), sizeof(ref_text) - 1);
	assert_string_equal(small, ref_text);
	assert_int_equal(dm_sdp_write(&s, small, sizeof(small) - 1), DM_ENOSPC);
	for (size_t i = 0; i < sizeof(small) - 1; i++)
		assert_int_equal(small[i], 0);
	assert_int_equal(dm_sdp_write(&s, small, 0), DM_ENOSPC);
}

static void sdp_write_variants(void **state)
{
	(void)state;
	struct dm_sdp s;
	char buf[1024];

	/* unicast: no TTL; 2.5 ms frames; no language; no origin address */
	fill_ref(&s);
	strcpy(s.addr, "10.0.0.5");
	s.ttl = 0;
	s.frame_samples = 120;
	s.language[0] = '\0';
	s.origin_addr[0] = '\0';
	assert_true(dm_sdp_write(&s, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\r\nc=IN IP4 10.0.0.5\r\n"));
	assert_non_null(strstr(buf, "\r\na=ptime:2.5\r\n"));
	assert_null(strstr(buf, "a=lang"));
	assert_non_null(strstr(buf, "o=- 305419896 3 IN IP4 127.0.0.1\r\n"));

	/* 20 ms and 60 ms frames; an unknown frame size writes no ptime */
	s.frame_samples = 960;
	assert_true(dm_sdp_write(&s, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\r\na=ptime:20\r\n"));
	s.frame_samples = 2880;
	assert_true(dm_sdp_write(&s, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\r\na=ptime:60\r\n"));
	s.frame_samples = 100;
	assert_true(dm_sdp_write(&s, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "a=ptime"));
	s.frame_samples = 0;
	assert_true(dm_sdp_write(&s, buf, sizeof(buf)) > 0);
	assert_null(strstr(buf, "a=ptime"));

	/* IPv6: no TTL field in c= */
	fill_ref(&s);
	strcpy(s.addr, "ff15::42");
	strcpy(s.origin_addr, "::1");
	assert_true(dm_sdp_write(&s, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\r\nc=IN IP6 ff15::42\r\n"));
	assert_non_null(strstr(buf, " IN IP6 ::1\r\n"));

	/* no session name: "s= " (RFC 4566), read back as empty */
	fill_ref(&s);
	s.session[0] = '\0';
	assert_true(dm_sdp_write(&s, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\r\ns= \r\n"));
	struct dm_sdp back;
	assert_int_equal(dm_sdp_parse(buf, &back), 0);
	assert_string_equal(back.session, "");
}

static void sdp_write_bad_args(void **state)
{
	(void)state;
	struct dm_sdp s;
	char buf[1024];
	fill_ref(&s);
	assert_int_equal(dm_sdp_write(NULL, buf, sizeof(buf)), DM_EINVAL);
	assert_int_equal(dm_sdp_write(&s, NULL, sizeof(buf)), DM_EINVAL);

#define BAD(stmt)                                                                                  \
	do {                                                                                       \
		fill_ref(&s);                                                                      \
		stmt;                                                                              \
		assert_int_equal(dm_sdp_write(&s, buf, sizeof(buf)), DM_EINVAL);                   \
	} while (0)
	BAD(strcpy(s.addr, "not-an-address"));
	BAD(strcpy(s.addr, ""));
	BAD(strcpy(s.addr, "10.0.0.1\r\na=x"));
	BAD(strcpy(s.origin_addr, "host name"));
	BAD(strcpy(s.session, "two\r\nlines"));
	BAD(strcpy(s.session, "tab\there"));
	BAD(strcpy(s.channel_id, ""));
	BAD(strcpy(s.channel_id, "e n"));
	BAD(strcpy(s.channel_id, "en\r\n"));
	BAD(strcpy(s.language, "e n"));
	BAD(strcpy(s.language, "en\n"));
	BAD(s.ttl = -1);
	BAD(s.ttl = 256);
	BAD(s.port = 0);
	BAD(s.port = 65535);
	BAD(s.pt = 0);
	BAD(s.pt = 95);
	BAD(s.pt = 128);
	BAD(s.frame_samples = -1);
	BAD(s.key_len = 29);
	BAD(s.key_len = 0);
	BAD(s.suite = (enum dm_srtp_suite)7);
	BAD(s.suite = DM_SRTP_AEAD_AES_128_GCM); /* key_len 30 does not fit */
	/* strings that fill their array with no NUL */
	BAD(memset(s.session, 'a', sizeof(s.session)));
	BAD(memset(s.channel_id, 'a', sizeof(s.channel_id)));
	BAD(memset(s.language, 'a', sizeof(s.language)));
	BAD(memset(s.origin_addr, '1', sizeof(s.origin_addr)));
	BAD(memset(s.addr, '1', sizeof(s.addr)));
#undef BAD
}

static void sdp_round_trip_suites(void **state)
{
	(void)state;
	const struct {
		enum dm_srtp_suite suite;
		size_t key_len;
		const char *name;
	} suites[] = {
		{DM_SRTP_AES_CM_128_HMAC_SHA1_80, 30, "AES_CM_128_HMAC_SHA1_80"},
		{DM_SRTP_AEAD_AES_128_GCM, 28, "AEAD_AES_128_GCM"},
		{DM_SRTP_AEAD_AES_256_GCM, 44, "AEAD_AES_256_GCM"},
	};
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
		struct dm_sdp in, out;
		fill_ref(&in);
		in.suite = suites[i].suite;
		in.key_len = suites[i].key_len;
		for (size_t k = 0; k < in.key_len; k++)
			in.key[k] = (uint8_t)(0xa5 ^ (k * 7 + i));
		in.frame_samples = i == 0 ? 120 : 960;
		in.ttl = (int)i * 100;
		in.ssrc = 0xfffffff0u + (uint32_t)i;
		in.session_version = 18446744073709551615ull - i;
		in.pt = (uint8_t)(96 + i);
		char buf[1024];
		assert_true(dm_sdp_write(&in, buf, sizeof(buf)) > 0);
		char crypto[64];
		snprintf(crypto, sizeof(crypto), "a=crypto:1 %s inline:", suites[i].name);
		assert_non_null(strstr(buf, crypto));
		memset(&out, 0x5a, sizeof(out));
		assert_int_equal(dm_sdp_parse(buf, &out), 0);
		assert_sdp_equal(&in, &out);
	}
}

static char *make_tmpdir(void)
{
	char *dir = strdup("/tmp/test_sdp.XXXXXX");
	assert_non_null(dir);
	assert_non_null(mkdtemp(dir));
	return dir;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void sdp_write_file_mode(void **state)
{
	(void)state;
	char *dir = make_tmpdir();
	char path[256];
	snprintf(path, sizeof(path), "%s/en.sdp", dir);
	struct dm_sdp s, back;
	fill_ref(&s);

	/* a readable old file is replaced, and the new one is 0600 even under umask 0 */
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "old", 3), 3);
	close(fd);
	mode_t old = umask(0);
	int rc = dm_sdp_write_file(&s, path);
	umask(old);
	assert_int_equal(rc, 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, strlen(ref_text));
	assert_int_equal(count_entries(dir), 1); /* no temporary file left */

	char text[1024] = {0};
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, text, sizeof(text) - 1), strlen(ref_text));
	close(fd);
	assert_string_equal(text, ref_text);

	assert_int_equal(dm_sdp_read_file(path, &back), 0);
	assert_sdp_equal(&s, &back);

	/* a new version overwrites in place; a umask that takes the owner's write
	 * bit still gives exactly 0600 */
	s.session_version = 4;
	s.ssrc = 99;
	old = umask(0277);
	rc = dm_sdp_write_file(&s, path);
	umask(old);
	assert_int_equal(rc, 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(dm_sdp_read_file(path, &back), 0);
	assert_int_equal(back.ssrc, 99);
	assert_true(back.session_version == 4);
	assert_int_equal(count_entries(dir), 1);

	/* an invalid struct creates nothing; a missing folder is DM_EIO */
	char path2[300];
	snprintf(path2, sizeof(path2), "%s/fr.sdp", dir);
	s.port = 0;
	assert_int_equal(dm_sdp_write_file(&s, path2), DM_EINVAL);
	assert_int_equal(count_entries(dir), 1);
	s.port = 5004;
	snprintf(path2, sizeof(path2), "%s/missing/fr.sdp", dir);
	assert_int_equal(dm_sdp_write_file(&s, path2), DM_EIO);
	assert_int_equal(dm_sdp_write_file(NULL, path), DM_EINVAL);
	assert_int_equal(dm_sdp_write_file(&s, NULL), DM_EINVAL);
	assert_int_equal(dm_sdp_write_file(&s, ""), DM_EINVAL);

	unlink(path);
	assert_int_equal(rmdir(dir), 0);
	free(dir);
}

static void sdp_read_file_errors(void **state)
{
	(void)state;
	struct dm_sdp out;
	char *dir = make_tmpdir();
	char path[256];
	snprintf(path, sizeof(path), "%s/x.sdp", dir);
	assert_int_equal(dm_sdp_read_file(path, &out), DM_ENOENT);
	assert_int_equal(dm_sdp_read_file(NULL, &out), DM_EINVAL);
	assert_int_equal(dm_sdp_read_file(path, NULL), DM_EINVAL);
	assert_int_equal(dm_sdp_read_file(dir, &out), DM_EIO); /* a folder */

	/* a file with a NUL inside, then one too large to be an SDP */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fwrite(ref_text, 1, 20, f);
	fputc('\0', f);
	fputs(ref_text + 20, f);
	fclose(f);
	assert_int_equal(dm_sdp_read_file(path, &out), DM_EPROTO);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(ref_text, f);
	for (int i = 0; i < 2000; i++)
		fputs("a=x-padding:0123456789\r\n", f);
	fclose(f);
	assert_int_equal(dm_sdp_read_file(path, &out), DM_EPROTO);

	unlink(path);
	assert_int_equal(rmdir(dir), 0);
	free(dir);
}

static void sdp_parse_lf_only(void **state)
{
	(void)state;
	char text[sizeof(ref_text)];
	size_t n = 0;
	for (const char *p = ref_text; *p; p++)
		if (*p != '\r')
			text[n++] = *p;
	text[n] = '\0';
	struct dm_sdp ref, out;
	fill_ref(&ref);
	assert_int_equal(dm_sdp_parse(text, &out), 0);
	assert_sdp_equal(&ref, &out);

	/* no newline after the last line */
	text[n - 1] = '\0';
	assert_int_equal(dm_sdp_parse(text, &out), 0);
	assert_int_equal(out.port, 5005 - 1);
}

static void sdp_parse_other_writers(void **state)
{
	(void)state;
	/* a video section first, extra lines and attributes, c= at media level,
	 * another rtpmap before opus, a crypto line with lifetime and MKI after
	 * one with a suite we do not know, several ssrc lines, no ptime */
	const char *text = "v=0\n"
			   "o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5\n"
			   "s=SDP Seminar\n"
			   "i=A Seminar on the session description protocol\n"
			   "u=http://www.example.com/seminars/sdp.pdf\n"
			   "e=j.doe@example.com (Jane Doe)\n"
			   "t=2873397496 2873404696\n"
			   "a=recvonly\n"
			   "m=video 51372 RTP/SAVP 99\n"
			   "c=IN IP4 224.2.17.12/127\n"
			   "a=rtpmap:99 opus/48000/2\n"
			   "a=ssrc:1 cname:video\n"
			   "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" KEY30_B64 "\n"
			   "m=audio 49170/2 RTP/SAVPF 0 101 97\n"
			   "c=IN IP4 224.2.17.12/127/3\n"
			   "b=AS:64\n"
			   "a=rtpmap:0 PCMU/8000\n"
			   "a=rtpmap:101 telephone-event/8000\n"
			   "a=rtpmap:97 OPUS/48000/2\n"
			   "a=fmtp:97 minptime=10;useinbandfec=1\n"
			   "a=rtcp-mux\n"
			   "a=ssrc:4000000000 cname:x@y\n"
			   "a=ssrc:4000000000 msid:a b\n"
			   "a=ssrc:12 cname:rtx\n"
			   "a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:" KEY30_B64 "\n"
			   "a=crypto:2 AES_CM_128_HMAC_SHA1_80 "
			   "inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd|2^31|1:1\n"
			   "a=sendrecv\n"
			   "z=whatever\n"
			   "not an sdp line\n"
			   "\n";
	struct dm_sdp out;
	assert_int_equal(dm_sdp_parse(text, &out), 0);
	assert_string_equal(out.session, "SDP Seminar");
	assert_string_equal(out.origin_addr, "10.47.16.5");
	assert_true(out.session_version == 2890842807ull);
	assert_string_equal(out.addr, "224.2.17.12");
	assert_int_equal(out.ttl, 127);
	assert_int_equal(out.port, 49170);
	assert_int_equal(out.pt, 97);
	assert_int_equal(out.ssrc, 4000000000u);
	assert_int_equal(out.frame_samples, 0);
	assert_int_equal(out.suite, DM_SRTP_AES_CM_128_HMAC_SHA1_80);
	assert_int_equal(out.key_len, 30);
	for (size_t i = 0; i < 30; i++)
		assert_int_equal(out.key[i], i);
	assert_string_equal(out.channel_id, "");
	assert_string_equal(out.language, "");

	/* opus/48000 without the channel count is taken too, and a session-level
	 * c= and a=lang serve the media */
	char *t2 = replace(ref_text, "a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus/48000");
	char *t3 = replace(t2, "a=lang:en\r\n", "");
	char *t4 = replace(t3, "t=0 0\r\n", "t=0 0\r\na=lang:fr\r\n");
	assert_int_equal(dm_sdp_parse(t4, &out), 0);
	assert_int_equal(out.pt, 111);
	assert_string_equal(out.language, "fr");
	assert_int_equal(out.ttl, 1);
	free(t2);
	free(t3);
	free(t4);
}

static void sdp_parse_crypto_suffix(void **state)
{
	(void)state;
	struct dm_sdp ref, out;
	fill_ref(&ref);
	const char *suffixes[] = {"|2^31|1:1", "|2^20", "|1:4", ";inline:" KEY30_B64 "|2^20"};
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char with[128];
		snprintf(with, sizeof(with), "inline:%s%s", KEY30_B64, suffixes[i]);
		char *t = replace(ref_text, "inline:" KEY30_B64, with);
		memset(&out, 0, sizeof(out));
		assert_int_equal(dm_sdp_parse(t, &out), 0);
		assert_sdp_equal(&ref, &out);
		free(t);
	}
	/* session parameters we do not implement make the line unusable */
	char *t = replace(ref_text, KEY30_B64, KEY30_B64 " UNENCRYPTED_SRTP");
	assert_int_equal(dm_sdp_parse(t, &out), DM_EPROTO);
	free(t);
}

static void sdp_parse_missing(void **state)
{
	(void)state;
	struct dm_sdp out;
	const char *needed[] = {"a=crypto", "a=ssrc", "c=", "m=", "a=rtpmap"};
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		char *t = drop_lines(ref_text, needed[i]);
		assert_true(strlen(t) < strlen(ref_text));
		memset(&out, 0x5a, sizeof(out));
		assert_int_equal(dm_sdp_parse(t, &out), DM_EPROTO);
		assert_int_equal(out.port, 0x5a5a); /* untouched on failure */
		free(t);
	}
	assert_int_equal(dm_sdp_parse("", &out), DM_EPROTO);

	/* present but not usable */
	const char *bad[][2] = {
		{"m=audio 5004 ", "m=audio 0 "},     /* disabled stream */
		{"m=audio 5004 ", "m=audio 70000 "}, /* port out of range */
		{"m=audio 5004 ", "m=audio 5x04 "},
		{"RTP/SAVP 111", "RTP/AVP 111"},  /* not SRTP */
		{"RTP/SAVP 111", "RTP/SAVP 112"}, /* opus not offered */
		{"RTP/SAVP 111", "RTP/SAVP 111 x"},
		{"opus/48000/2", "opus/44100/2"},
		{"opus/48000/2", "opus/48000/1"},
		{"a=rtpmap:111 ", "a=rtpmap:x "},
		{"c=IN IP4 239.255.42.1/1", "c=IN IP4 239.255.42/1"},
		{"c=IN IP4 239.255.42.1/1", "c=IN IP4 239.255.42.1/256"},
		{"c=IN IP4 239.255.42.1/1", "c=IN IP7 239.255.42.1/1"},
		{"c=IN IP4 239.255.42.1/1", "c=IN IP4 host.example/1"},
		{"c=IN IP4 239.255.42.1/1", "c=IN IP4"},
		{"a=ssrc:305419896", "a=ssrc:4294967296"},
		{"a=ssrc:305419896", "a=ssrc:-1"},
		{"AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"}, /* a suite we lack */
		{"inline:", "inlined:"},
		{"a=crypto:1 ", "a=crypto:one "},
		{"a=lang:en", "a=lang:e n"},
		{"a=x-dragoman-channel:en", "a=x-dragoman-channel:e/n"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *t = replace(ref_text, bad[i][0], bad[i][1]);
		assert_int_equal(dm_sdp_parse(t, &out), DM_EPROTO);
		free(t);
	}
}

static void sdp_parse_bad_key(void **state)
{
	(void)state;
	struct dm_sdp out;
	const char *keys[] = {
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw!",			/* not base64 */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw",			/* bad length */
		"",								/* empty */
		"AAECAwQFBgcICQoLDA0ODw==",					/* 16 bytes */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",			/* 31 bytes */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw==",			/* 28 bytes */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKis=", /* 44 */
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char *t = replace(ref_text, KEY30_B64, keys[i]);
		assert_int_equal(dm_sdp_parse(t, &out), DM_EPROTO);
		free(t);
	}
	/* the right lengths for the GCM suites are accepted */
	char *t = replace(ref_text, "AES_CM_128_HMAC_SHA1_80 inline:" KEY30_B64,
			  "AEAD_AES_128_GCM inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw==");
	assert_int_equal(dm_sdp_parse(t, &out), 0);
	assert_int_equal(out.suite, DM_SRTP_AEAD_AES_128_GCM);
	assert_int_equal(out.key_len, 28);
	free(t);
}

static void sdp_parse_long_lines(void **state)
{
	(void)state;
	struct dm_sdp out;
	/* an unknown attribute longer than any line buffer: rejected, not cut */
	char *big = malloc(5000);
	assert_non_null(big);
	strcpy(big, "a=x-long:");
	memset(big + 9, 'y', 4000);
	strcpy(big + 4009, "\r\na=rtcp:5005");
	char *t = replace(ref_text, "a=rtcp:5005", big);
	assert_int_equal(dm_sdp_parse(t, &out), DM_EPROTO);
	free(t);
	/* a line that fits is fine */
	big[9 + 900] = '\0';
	strcat(big, "\r\na=rtcp:5005");
	t = replace(ref_text, "a=rtcp:5005", big);
	assert_int_equal(dm_sdp_parse(t, &out), 0);
	free(t);
	free(big);

	/* fields longer than the struct's arrays */
	char name[200];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	char line[256];
	snprintf(line, sizeof(line), "s=%s", name);
	t = replace(ref_text, "s=Demo conference - English", line);
	assert_int_equal(dm_sdp_parse(t, &out), DM_EPROTO);
	free(t);
	t = replace(ref_text, "a=x-dragoman-channel:en",
		    "a=x-dragoman-channel:abcdefghijklmnopqrstuvwxyz0123456789");
	assert_int_equal(dm_sdp_parse(t, &out), DM_EPROTO);
	free(t);
	t = replace(ref_text, "a=lang:en", "a=lang:abcdefghijklmnopqrstuvwxyz-0123456789");
	assert_int_equal(dm_sdp_parse(t, &out), DM_EPROTO);
	free(t);
}

static void sdp_parse_ptime(void **state)
{
	(void)state;
	const struct {
		const char *ptime;
		int samples;
	} cases[] = {
		{"2.5", 120},
		{"5", 240},
		{"10", 480},
		{"20", 960},
		{"60", 2880},
		{"2.50", 120},
		{"0.125", 6},
		{"abc", 0},
		{"2.5.1", 0},
		{"0", 0},
		{"1.0001", 0},
		{"", 0},
		{"99999999999999999999", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[64];
		snprintf(line, sizeof(line), "a=ptime:%s", cases[i].ptime);
		char *t = replace(ref_text, "a=ptime:5", line);
		struct dm_sdp out;
		assert_int_equal(dm_sdp_parse(t, &out), 0);
		assert_int_equal(out.frame_samples, cases[i].samples);
		free(t);
	}
}

static void sdp_parse_ipv6(void **state)
{
	(void)state;
	char *t = replace(ref_text, "c=IN IP4 239.255.42.1/1", "c=IN IP6 ff15::101/3");
	struct dm_sdp out;
	assert_int_equal(dm_sdp_parse(t, &out), 0);
	assert_string_equal(out.addr, "ff15::101");
	assert_int_equal(out.ttl, 0); /* /3 is a count of addresses, not a TTL */
	free(t);
}

static void sdp_parse_bad_args(void **state)
{
	(void)state;
	struct dm_sdp out;
	assert_int_equal(dm_sdp_parse(NULL, &out), DM_EINVAL);
	assert_int_equal(dm_sdp_parse(ref_text, NULL), DM_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sdp_write_exact),
		cmocka_unit_test(sdp_write_variants),
		cmocka_unit_test(sdp_write_bad_args),
		cmocka_unit_test(sdp_round_trip_suites),
		cmocka_unit_test(sdp_write_file_mode),
		cmocka_unit_test(sdp_read_file_errors),
		cmocka_unit_test(sdp_parse_lf_only),
		cmocka_unit_test(sdp_parse_other_writers),
		cmocka_unit_test(sdp_parse_crypto_suffix),
		cmocka_unit_test(sdp_parse_missing),
		cmocka_unit_test(sdp_parse_bad_key),
		cmocka_unit_test(sdp_parse_long_lines),
		cmocka_unit_test(sdp_parse_ptime),
		cmocka_unit_test(sdp_parse_ipv6),
		cmocka_unit_test(sdp_parse_bad_args),
	};
	return cmocka_run_group_tests_name("sdp", tests, NULL, NULL);
}
