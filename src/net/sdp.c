/* dragoman: SDP (RFC 4566) of one channel's SRTP Opus stream, keys as SDES
 * (RFC 4568), Opus per RFC 7587.
 *
 * The writer emits only what ffmpeg, GStreamer and Janus are known to read.
 * The parser is tolerant of other writers (unknown lines and sections are
 * skipped) but strict about the pieces a receiver needs, and never truncates:
 * a line or a field longer than its buffer rejects the whole text.
 *
 * A channel's SDP holds its key: every buffer that held the text or the key is
 * wiped before it goes out of scope, and files are created with mode 0600. */
#include "dragoman/sdp.h"
#include "dragoman/rtp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dragoman/error.h"
#include "dragoman/keys.h"

#define SDP_LINE_MAX 1024  /* longer lines are rejected, never cut */
#define SDP_FILE_MAX 16384 /* ours are under 1 KiB */
#define SDP_TEXT_MAX 4096  /* dm_sdp_write output for any valid struct fits */
#define B64_MAX 80	   /* base64 of DM_SRTP_MAX_KEY_LEN bytes, NUL included */

/* ---- writer ---- */

struct sink {
	char *buf;
	size_t cap;
	size_t len;
	bool full;
};

__attribute__((format(printf, 2, 3))) static void put(struct sink *s, const char *fmt, ...)
{
	if (s->full)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= s->cap - s->len)
		s->full = true;
	else
		s->len += (size_t)n;
}

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/* Channel ids: [A-Za-z0-9_-], 1..DM_ID_MAX-1 (config.h's rule). */
static bool valid_id(const char *s, size_t size)
{
	size_t n = strnlen(s, size);
	if (n == 0 || n >= size)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Language tags (RFC 5646): letters, digits and '-'; empty means none. */
static bool valid_lang(const char *s, size_t size)
{
	size_t n = strnlen(s, size);
	if (n >= size)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
	}
	return true;
}

/* Free text for s=: anything but control characters, which could end the
 * line and inject attributes. */
static bool valid_text(const char *s, size_t size)
{
	size_t n = strnlen(s, size);
	if (n >= size)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* "IP4" or "IP6" for a numeric address, NULL for anything else. */
static const char *addr_type(const char *s, size_t size)
{
	unsigned char tmp[sizeof(struct in6_addr)];
	if (!terminated(s, size))
		return NULL;
	if (inet_pton(AF_INET, s, tmp) == 1)
		return "IP4";
	if (inet_pton(AF_INET6, s, tmp) == 1)
		return "IP6";
	return NULL;
}

int dm_sdp_write(const struct dm_sdp *sdp, char *buf, size_t cap)
{
	if (!sdp || !buf)
		return DM_EINVAL;
	if (!terminated(sdp->origin_addr, sizeof(sdp->origin_addr)))
		return DM_EINVAL;
	/* The o= address only names the originating host; the default interface
	 * stands in when the caller has none. */
	const char *origin = sdp->origin_addr[0] ? sdp->origin_addr : DM_DEFAULT_INTERFACE;
	const char *o_type = addr_type(origin, strlen(origin) + 1);
	const char *c_type = addr_type(sdp->addr, sizeof(sdp->addr));
	const char *suite = dm_srtp_suite_name(sdp->suite);
	if (!c_type || !o_type || !suite || !valid_text(sdp->session, sizeof(sdp->session)) ||
	    !valid_id(sdp->channel_id, sizeof(sdp->channel_id)) ||
	    !valid_lang(sdp->language, sizeof(sdp->language)) || sdp->ttl < 0 || sdp->ttl > 255 ||
	    sdp->port == 0 || sdp->port == UINT16_MAX || sdp->pt < 96 || sdp->pt > 127 ||
	    sdp->frame_samples < 0 || sdp->key_len != dm_srtp_key_len(sdp->suite) ||
	    sdp->key_len > sizeof(sdp->key))
		return DM_EINVAL;

	char b64[B64_MAX];
	if (dm_base64_encode(sdp->key, sdp->key_len, b64, sizeof(b64)) < 0)
		return DM_EINVAL;

	struct sink s = {.buf = buf, .cap = cap, .full = cap == 0};
	/* The session id only has to be stable for the stream: the SSRC is, and
	 * changes with the key. */
	put(&s, "v=0\r\no=- %" PRIu32 " %" PRIu64 " IN %s %s\r\n", sdp->ssrc, sdp->session_version,
	    o_type, origin);
	/* RFC 4566 5.3: "s= " when there is no meaningful name */
	put(&s, "s=%s\r\n", sdp->session[0] ? sdp->session : " ");
	/* An IP6 c= has no TTL field (RFC 4566 5.7): the hop limit is not written. */
	if (sdp->ttl > 0 && c_type[2] == '4')
		put(&s, "c=IN IP4 %s/%d\r\n", sdp->addr, sdp->ttl);
	else
		put(&s, "c=IN %s %s\r\n", c_type, sdp->addr);
	put(&s, "t=0 0\r\na=tool:dragoman\r\n");
	put(&s, "m=audio %u RTP/SAVP %u\r\n", sdp->port, sdp->pt);
	/* RFC 7587 7: always opus/48000/2; the stream is mono, said by fmtp. */
	put(&s, "a=rtpmap:%u opus/48000/2\r\n", sdp->pt);
	put(&s, "a=fmtp:%u sprop-stereo=0;stereo=0\r\n", sdp->pt);
	/* ptime is in ms and may be fractional (RFC 8866 6.4): 2.5 ms frames are
	 * 120 samples. Frame sizes that are no whole tenth of a ms are left out. */
	if (sdp->frame_samples > 0 && sdp->frame_samples % 48 == 0)
		put(&s, "a=ptime:%d\r\n", sdp->frame_samples / 48);
	else if (sdp->frame_samples > 0 && sdp->frame_samples * 10 % 48 == 0)
		put(&s, "a=ptime:%d.%d\r\n", sdp->frame_samples / 48,
		    sdp->frame_samples * 10 / 48 % 10);
	if (sdp->language[0])
		put(&s, "a=lang:%s\r\n", sdp->language);
	put(&s, "a=ssrc:%" PRIu32 " cname:dragoman-%s\r\n", sdp->ssrc, sdp->channel_id);
	put(&s, "a=crypto:1 %s inline:%s\r\n", suite, b64);
	put(&s, "a=x-dragoman-channel:%s\r\n", sdp->channel_id);
	put(&s, "a=rtcp:%u\r\n", sdp->port + 1u);
	/* Every packet carries its send time (see rtp.h): announced so that
	 * RFC 8285 receivers know the element; others ignore it. */
	put(&s, "a=extmap:%d %s\r\n", DM_RTP_EXT_NTP_ID, DM_RTP_EXT_NTP_URI);
	explicit_bzero(b64, sizeof(b64));

	if (s.full) {
		explicit_bzero(buf, cap);
		return DM_ENOSPC;
	}
	return (int)s.len;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return DM_EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Makes the rename itself durable; a failure here loses nothing readers see. */
static void sync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash) {
		strcpy(dir, ".");
	} else if (slash == path) {
		strcpy(dir, "/");
	} else {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof(dir))
			return;
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int dm_sdp_write_file(const struct dm_sdp *sdp, const char *path)
{
	if (!sdp || !path || !path[0])
		return DM_EINVAL;
	char tmp[PATH_MAX];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return DM_EINVAL;
	char text[SDP_TEXT_MAX];
	int len = dm_sdp_write(sdp, text, sizeof(text));
	if (len < 0)
		return DM_EINVAL;

	/* mkostemp opens with O_CREAT | O_EXCL and mode 0600; fchmod makes it
	 * exactly 0600 whatever the umask. The file gets its final name only
	 * when complete, so a reader sees the old SDP or the new one. */
	int rc = DM_EIO;
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		goto out;
	if (fchmod(fd, S_IRUSR | S_IWUSR) < 0 || write_all(fd, text, (size_t)len) < 0 ||
	    fsync(fd) < 0) {
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		goto out;
	}
	sync_dir_of(path);
	rc = 0;
out:
	explicit_bzero(text, sizeof(text));
	return rc;
}

/* ---- parser ---- */

struct media {
	bool relevant; /* m=audio over RTP/SAVP(F) with a non-zero port */
	uint16_t port;
	uint8_t fmts[128]; /* payload types listed on the m= line */
	int opus_pt;	   /* -1 until an opus/48000(/2) rtpmap of a listed type */
	bool has_c;
	char addr[64];
	int ttl;
	bool has_ssrc;
	uint32_t ssrc;
	bool has_crypto;
	enum dm_srtp_suite suite;
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	size_t key_len;
	int frame_samples;
	char channel_id[DM_ID_MAX];
	char language[DM_ID_MAX];
};

struct session {
	bool has_c;
	char addr[64];
	int ttl;
	uint64_t version;
	char origin[64];
	char name[DM_NAME_MAX];
	char channel_id[DM_ID_MAX];
	char language[DM_ID_MAX];
};

/* Decimal digits only (no sign, no space), at most max. */
static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (*s < '0' || *s > '9')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		uint64_t d = (uint64_t)(*s - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool copy_field(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);
	if (n >= size)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/* c=IN IP4 <addr>[/<ttl>[/<count>]] or c=IN IP6 <addr>[/<count>] */
static int parse_c(char *v, char *addr, size_t addr_size, int *ttl)
{
	char *save = NULL;
	char *net = strtok_r(v, " ", &save);
	char *type = strtok_r(NULL, " ", &save);
	char *a = strtok_r(NULL, " ", &save);
	if (!net || !type || !a || strtok_r(NULL, " ", &save) || strcmp(net, "IN") != 0)
		return DM_EPROTO;
	bool ip6 = strcmp(type, "IP6") == 0;
	if (!ip6 && strcmp(type, "IP4") != 0)
		return DM_EPROTO;
	char *slash = strchr(a, '/');
	uint64_t t = 0;
	if (slash) {
		*slash = '\0';
		char *count = strchr(slash + 1, '/');
		if (count)
			*count = '\0';
		uint64_t ignored;
		if (!parse_uint(slash + 1, 255, &t) ||
		    (count && !parse_uint(count + 1, 255, &ignored)))
			return DM_EPROTO;
		if (ip6)
			t = 0; /* an IP6 c= carries a count, not a TTL */
	}
	unsigned char bin[sizeof(struct in6_addr)];
	if (inet_pton(ip6 ? AF_INET6 : AF_INET, a, bin) != 1 || !copy_field(addr, addr_size, a))
		return DM_EPROTO;
	*ttl = (int)t;
	return 0;
}

/* m=audio <port>[/<n>] <proto> <fmt>... */
static int parse_m(char *v, struct media *m)
{
	char *save = NULL;
	char *media = strtok_r(v, " ", &save);
	char *port = strtok_r(NULL, " ", &save);
	char *proto = strtok_r(NULL, " ", &save);
	if (!media || !port || !proto || strcmp(media, "audio") != 0 ||
	    (strcmp(proto, "RTP/SAVP") != 0 && strcmp(proto, "RTP/SAVPF") != 0))
		return 0; /* not ours: skipped */
	char *count = strchr(port, '/');
	if (count)
		*count = '\0';
	uint64_t p;
	if (!parse_uint(port, UINT16_MAX, &p))
		return DM_EPROTO;
	for (char *f; (f = strtok_r(NULL, " ", &save));) {
		uint64_t pt;
		if (!parse_uint(f, 127, &pt))
			return DM_EPROTO;
		m->fmts[pt] = 1;
	}
	m->port = (uint16_t)p;
	m->relevant = p != 0; /* port 0: a disabled stream */
	return 0;
}

/* a=rtpmap:<pt> <encoding>/<clock>[/<channels>] */
static int parse_rtpmap(char *v, struct media *m)
{
	char *save = NULL;
	char *pt_s = strtok_r(v, " ", &save);
	char *enc = strtok_r(NULL, "/", &save);
	char *clock = strtok_r(NULL, "/", &save);
	char *ch = strtok_r(NULL, "/", &save);
	uint64_t pt, rate, channels = 2;
	if (!pt_s || !enc || !clock || !parse_uint(pt_s, 127, &pt) ||
	    !parse_uint(clock, UINT32_MAX, &rate) || (ch && !parse_uint(ch, 255, &channels)))
		return DM_EPROTO;
	if (m->opus_pt < 0 && m->fmts[pt] && strcasecmp(enc, "opus") == 0 && rate == 48000 &&
	    channels == 2)
		m->opus_pt = (int)pt;
	return 0;
}

/* a=ptime:<ms>[.<fraction>]: not needed, so a value we cannot use is ignored. */
static void parse_ptime(const char *v, struct media *m)
{
	uint64_t us = 0;
	int frac_digits = -1;
	for (; *v; v++) {
		if (*v == '.' && frac_digits < 0) {
			frac_digits = 0;
			continue;
		}
		if (*v < '0' || *v > '9' || frac_digits >= 3 || us > 1000000)
			return;
		us = us * 10 + (uint64_t)(*v - '0');
		if (frac_digits >= 0)
			frac_digits++;
	}
	for (int i = frac_digits < 0 ? 0 : frac_digits; i < 3; i++)
		us *= 10;
	/* us is in microseconds: keep it only when it is a whole number of samples */
	if (us > 0 && us * 48 % 1000 == 0 && us <= 1000000)
		m->frame_samples = (int)(us * 48 / 1000);
}

/* a=ssrc:<id> <attribute>[:<value>]; the first id is the stream's. */
static int parse_ssrc(char *v, struct media *m)
{
	char *save = NULL;
	char *id = strtok_r(v, " ", &save);
	uint64_t ssrc;
	if (!id || !parse_uint(id, UINT32_MAX, &ssrc))
		return DM_EPROTO;
	if (!m->has_ssrc) {
		m->has_ssrc = true;
		m->ssrc = (uint32_t)ssrc;
	}
	return 0;
}

/* a=crypto:<tag> <suite> inline:<key||salt>[|<lifetime>][|<MKI>:<length>] [<params>]
 * A suite we do not know, or session parameters we do not implement
 * (UNENCRYPTED_SRTP, KDR, ...), make the line unusable but not the text: an
 * offer may list alternatives. A known suite with a broken key is an error. */
static int parse_crypto(char *v, struct media *m)
{
	char *save = NULL;
	char *tag = strtok_r(v, " ", &save);
	char *suite_s = strtok_r(NULL, " ", &save);
	char *key = strtok_r(NULL, " ", &save);
	uint64_t t;
	if (!tag || !suite_s || !key || !parse_uint(tag, 999999999, &t))
		return DM_EPROTO;
	enum dm_srtp_suite suite;
	if (m->has_crypto || dm_srtp_suite_parse(suite_s, &suite) < 0 || strtok_r(NULL, " ", &save))
		return 0;
	if (strncmp(key, "inline:", 7) != 0)
		return DM_EPROTO;
	key += 7;
	key[strcspn(key, "|;")] = '\0'; /* lifetime, MKI, further keys */
	int n = dm_base64_decode(key, m->key, sizeof(m->key));
	if (n < 0 || (size_t)n != dm_srtp_key_len(suite)) {
		explicit_bzero(m->key, sizeof(m->key));
		return DM_EPROTO;
	}
	m->has_crypto = true;
	m->suite = suite;
	m->key_len = (size_t)n;
	return 0;
}

static int parse_attr(char *v, struct session *s, struct media *m)
{
	char *name = v;
	char *val = strchr(v, ':');
	if (val)
		*val++ = '\0';
	else
		val = v + strlen(v);

	char *lang = m ? m->language : s->language;
	char *channel = m ? m->channel_id : s->channel_id;
	if (strcmp(name, "lang") == 0)
		return valid_lang(val, DM_ID_MAX) && val[0] && copy_field(lang, DM_ID_MAX, val)
			       ? 0
			       : DM_EPROTO;
	if (strcmp(name, "x-dragoman-channel") == 0)
		return valid_id(val, DM_ID_MAX) && copy_field(channel, DM_ID_MAX, val) ? 0
										       : DM_EPROTO;
	if (!m)
		return 0;
	if (strcmp(name, "rtpmap") == 0)
		return parse_rtpmap(val, m);
	if (strcmp(name, "ssrc") == 0)
		return parse_ssrc(val, m);
	if (strcmp(name, "crypto") == 0)
		return parse_crypto(val, m);
	if (strcmp(name, "ptime") == 0)
		parse_ptime(val, m);
	return 0;
}

/* o=<user> <id> <version> IN <type> <addr>: informative, so never an error. */
static void parse_o(char *v, struct session *s)
{
	char *save = NULL;
	char *f[6];
	for (int i = 0; i < 6; i++)
		f[i] = strtok_r(i ? NULL : v, " ", &save);
	uint64_t version;
	if (!f[5] || !parse_uint(f[2], UINT64_MAX, &version))
		return;
	s->version = version;
	if (!copy_field(s->origin, sizeof(s->origin), f[5]))
		s->origin[0] = '\0';
}

static bool usable(const struct media *m, const struct session *s)
{
	return m->relevant && m->opus_pt >= 0 && m->has_ssrc && m->has_crypto &&
	       (m->has_c || s->has_c);
}

struct parser {
	struct session s;
	struct media cur; /* the m= section being read */
	bool in_media;
	bool found; /* cur is complete and usable: stop */
	char line[SDP_LINE_MAX];
};

static int parse_line(struct parser *p, char *line)
{
	if (line[0] == '\0' || line[1] != '=')
		return 0; /* tolerated: blank or not "<type>=" */
	char *v = line + 2;
	struct media *m = p->in_media ? &p->cur : NULL;

	if (line[0] == 'm') {
		if (p->in_media && usable(&p->cur, &p->s)) {
			p->found = true;
			return 0;
		}
		explicit_bzero(&p->cur, sizeof(p->cur));
		p->cur.opus_pt = -1;
		p->in_media = true;
		return parse_m(v, &p->cur);
	}
	if (m && !m->relevant)
		return 0; /* inside a section that is not ours */
	switch (line[0]) {
	case 'o':
		if (!m)
			parse_o(v, &p->s);
		return 0;
	case 's':
		if (m)
			return 0;
		if (strcmp(v, " ") == 0)
			v[0] = '\0';
		return copy_field(p->s.name, sizeof(p->s.name), v) ? 0 : DM_EPROTO;
	case 'c':
		if (m) {
			m->has_c = true;
			return parse_c(v, m->addr, sizeof(m->addr), &m->ttl);
		}
		p->s.has_c = true;
		return parse_c(v, p->s.addr, sizeof(p->s.addr), &p->s.ttl);
	case 'a': return parse_attr(v, &p->s, m);
	default: return 0;
	}
}

static int parse_text(struct parser *p, const char *text)
{
	while (*text && !p->found) {
		const char *eol = strchr(text, '\n');
		size_t n = eol ? (size_t)(eol - text) : strlen(text);
		const char *next = eol ? eol + 1 : text + n;
		if (n > 0 && text[n - 1] == '\r')
			n--;
		if (n >= sizeof(p->line))
			return DM_EPROTO;
		memcpy(p->line, text, n);
		p->line[n] = '\0';
		int rc = parse_line(p, p->line);
		if (rc < 0)
			return rc;
		text = next;
	}
	if (!p->found && p->in_media && usable(&p->cur, &p->s))
		p->found = true;
	return p->found ? 0 : DM_EPROTO;
}

int dm_sdp_parse(const char *text, struct dm_sdp *out)
{
	if (!text || !out)
		return DM_EINVAL;
	struct parser p = {0};
	int rc = parse_text(&p, text);
	if (rc == 0) {
		const struct media *m = &p.cur;
		const struct session *s = &p.s;
		memset(out, 0, sizeof(*out));
		memcpy(out->session, s->name, sizeof(out->session));
		memcpy(out->channel_id, m->channel_id[0] ? m->channel_id : s->channel_id,
		       sizeof(out->channel_id));
		memcpy(out->language, m->language[0] ? m->language : s->language,
		       sizeof(out->language));
		memcpy(out->origin_addr, s->origin, sizeof(out->origin_addr));
		memcpy(out->addr, m->has_c ? m->addr : s->addr, sizeof(out->addr));
		out->ttl = m->has_c ? m->ttl : s->ttl;
		out->port = m->port;
		out->pt = (uint8_t)m->opus_pt;
		out->ssrc = m->ssrc;
		out->frame_samples = m->frame_samples;
		out->session_version = s->version;
		out->suite = m->suite;
		memcpy(out->key, m->key, m->key_len);
		out->key_len = m->key_len;
	}
	explicit_bzero(&p, sizeof(p));
	return rc;
}

int dm_sdp_read_file(const char *path, struct dm_sdp *out)
{
	if (!path || !out)
		return DM_EINVAL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? DM_ENOENT : DM_EIO;
	/* one byte more than we accept, to tell "too large" from "fits", and
	 * one for the NUL */
	char text[SDP_FILE_MAX + 2];
	size_t len = 0;
	int rc = 0;
	while (len <= SDP_FILE_MAX) {
		ssize_t r = read(fd, text + len, SDP_FILE_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = DM_EIO;
			break;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (rc == 0 && (len > SDP_FILE_MAX || memchr(text, '\0', len)))
		rc = DM_EPROTO;
	if (rc == 0) {
		text[len] = '\0';
		rc = dm_sdp_parse(text, out);
	}
	explicit_bzero(text, len);
	return rc;
}
