/* dragoman: the remote delegates' tokens and their state file. Only SHA-256
 * hashes of the tokens are ever kept, in memory or on disk: a copy of the
 * state file lets nobody listen. */
#include "delegates.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dragoman/defaults.h"
#include "dragoman/error.h"
#include "dragoman/keys.h"
#include "dragoman/log.h"

#define HASH_LEN 32
#define TOKEN_BYTES (DM_DELEGATE_TOKEN_LEN / 2)
#define STATE_VERSION 1

struct delegate {
	char id[DM_DELEGATE_ID_LEN + 1];
	char name[DM_DELEGATE_NAME_MAX];
	uint8_t hash[HASH_LEN];
	long long created, expires;
	bool revoked;
	long long revoked_at;
};

struct dm_delegates {
	pthread_mutex_t mu;
	char *path;
	struct delegate *v;
	size_t n, cap;
};

static const char hexdigits[] = "0123456789abcdef";

static void to_hex(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* we write lowercase: anything else was not written by us */
}

static bool from_hex(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static bool id_ok(const char *id)
{
	if (strlen(id) != DM_DELEGATE_ID_LEN || id[0] != 'd')
		return false;
	for (size_t i = 1; i < DM_DELEGATE_ID_LEN; i++)
		if (hexval(id[i]) < 0)
			return false;
	return true;
}

/* Names reach logs, the monitor and terminals: printable text only. jansson
 * already guarantees valid UTF-8 for what comes through JSON; checked here
 * too for callers that do not go through it. */
static bool name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= DM_DELEGATE_NAME_MAX)
		return false;
	const unsigned char *p = (const unsigned char *)name;
	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		if (c < 0x20 || c == 0x7f)
			return false;
		size_t len = c < 0x80		  ? 1
			     : (c & 0xe0) == 0xc0 ? 2
			     : (c & 0xf0) == 0xe0 ? 3
			     : (c & 0xf8) == 0xf0 ? 4
						  : 0;
		if (!len || i + len > n || (len == 2 && c < 0xc2) || (len == 4 && c > 0xf4))
			return false;
		for (size_t k = 1; k < len; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		/* C1 controls (U+0080..U+009F) move cursors on some terminals. */
		if (len == 2 && c == 0xc2 && p[i + 1] < 0xa0)
			return false;
		i += len;
	}
	return true;
}

static int sha256(const void *in, size_t n, uint8_t out[HASH_LEN])
{
	unsigned int len = 0;
	if (EVP_Digest(in, n, out, &len, EVP_sha256(), NULL) != 1 || len != HASH_LEN)
		return DM_ECRYPTO;
	return 0;
}

static struct delegate *find_id(struct dm_delegates *d, const char *id)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].id, id) == 0)
			return &d->v[i];
	return NULL;
}

/* ------------------------------------------------------------ the file */

static json_t *state_json(const struct dm_delegates *d)
{
	json_t *list = json_array();
	json_t *root = json_pack("{s:i, s:o}", "version", STATE_VERSION, "delegates", list);
	if (!root)
		return NULL;
	for (size_t i = 0; i < d->n; i++) {
		const struct delegate *e = &d->v[i];
		char hex[2 * HASH_LEN + 1];
		to_hex(e->hash, HASH_LEN, hex);
		json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:o}", "id", e->id, "name",
				      e->name, "token_sha256", hex, "created",
				      (json_int_t)e->created, "expires", (json_int_t)e->expires,
				      "revoked", e->revoked, "revoked_at",
				      e->revoked ? json_integer(e->revoked_at) : json_null());
		if (!o || json_array_append_new(list, o)) {
			json_decref(root);
			return NULL;
		}
	}
	return root;
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* The rename is the commit: readers see the old file or the new one. The
 * folder is synced too, or a power cut could lose the rename itself. */
static int save(struct dm_delegates *d)
{
	json_t *root = state_json(d);
	char *text = root ? json_dumps(root, JSON_INDENT(1)) : NULL;
	json_decref(root);
	if (!text)
		return DM_ENOMEM;
	size_t plen = strlen(d->path);
	char *tmp = malloc(plen + 16);
	char *dir = strdup(d->path);
	if (!tmp || !dir) {
		free(text);
		free(tmp);
		free(dir);
		return DM_ENOMEM;
	}
	snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", d->path);
	int ret = 0;
	int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
	if (fd < 0) {
		dm_log(DM_LOG_ERROR, "delegates: cannot create a file beside %s: %s", d->path,
		       strerror(errno));
		ret = DM_EIO;
		goto out;
	}
	size_t n = strlen(text);
	bool ok = write_all(fd, text, n) && write_all(fd, "\n", 1) && fchmod(fd, 0600) == 0 &&
		  fsync(fd) == 0;
	int e = errno;
	if (close(fd) != 0 && ok) {
		ok = false;
		e = errno;
	}
	if (!ok || rename(tmp, d->path) != 0) {
		if (ok)
			e = errno;
		dm_log(DM_LOG_ERROR, "delegates: cannot save %s: %s", d->path, strerror(e));
		unlink(tmp);
		ret = DM_EIO;
		goto out;
	}
	char *slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	else
		strcpy(dir, ".");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd); /* best effort: some file systems refuse it */
		close(dfd);
	}
out:
	free(text);
	free(tmp);
	free(dir);
	return ret;
}

static bool get_time(json_t *o, const char *key, long long *out)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (long long)json_integer_value(v);
	return true;
}

/* One entry of the file; returns a message for the log, or NULL when good. */
static const char *parse_entry(json_t *o, struct delegate *e)
{
	static const char *const known[] = {"id",      "name",	  "token_sha256", "created",
					    "expires", "revoked", "revoked_at"};
	if (!json_is_object(o))
		return "a delegate is not an object";
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v)
	{
		size_t k = 0;
		while (k < sizeof known / sizeof known[0] && strcmp(key, known[k]) != 0)
			k++;
		if (k == sizeof known / sizeof known[0])
			return "a delegate has an unknown field";
	}
	const char *id = json_string_value(json_object_get(o, "id"));
	if (!id || !id_ok(id))
		return "a delegate's id is missing or not d + 8 hex digits";
	memcpy(e->id, id, DM_DELEGATE_ID_LEN + 1);
	const char *name = json_string_value(json_object_get(o, "name"));
	if (!name || !name_ok(name))
		return "a delegate's name is missing, empty, too long or not printable";
	snprintf(e->name, sizeof e->name, "%s", name);
	const char *hash = json_string_value(json_object_get(o, "token_sha256"));
	if (!hash || !from_hex(hash, e->hash, HASH_LEN))
		return "a delegate's token_sha256 is missing or not 64 hex digits";
	if (!get_time(o, "created", &e->created) || !get_time(o, "expires", &e->expires))
		return "a delegate's created or expires is missing or not a time";
	json_t *r = json_object_get(o, "revoked");
	if (!json_is_boolean(r))
		return "a delegate's revoked is missing or not true or false";
	e->revoked = json_is_true(r);
	json_t *ra = json_object_get(o, "revoked_at");
	e->revoked_at = 0;
	if (e->revoked ? !get_time(o, "revoked_at", &e->revoked_at) : (ra && !json_is_null(ra)))
		return "a delegate's revoked_at does not match revoked";
	return NULL;
}

static int load_text(struct dm_delegates *d, const char *text, size_t len)
{
	json_error_t err;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (!root) {
		dm_log(DM_LOG_ERROR, "delegates: %s: not JSON (line %d: %s)", d->path, err.line,
		       err.text);
		return DM_ECONFIG;
	}
	const char *why = NULL;
	json_t *list = json_object_get(root, "delegates");
	json_t *ver = json_object_get(root, "version");
	size_t i;
	json_t *o;
	if (!json_is_object(root) || json_object_size(root) != 2 || !json_is_array(list) ||
	    !json_is_integer(ver)) {
		why = "not {\"version\": 1, \"delegates\": [...]}";
	} else if (json_integer_value(ver) != STATE_VERSION) {
		why = "unknown version (this engine reads version 1)";
	} else if (json_array_size(list) > DM_DELEGATES_MAX) {
		why = "more delegates than this engine keeps";
	} else if (json_array_size(list)) {
		d->v = calloc(json_array_size(list), sizeof *d->v);
		if (!d->v) {
			json_decref(root);
			return DM_ENOMEM;
		}
		d->cap = json_array_size(list);
	}
	json_array_foreach(list, i, o)
	{
		if (why)
			break;
		struct delegate *e = &d->v[d->n];
		why = parse_entry(o, e);
		for (size_t k = 0; !why && k < d->n; k++) {
			if (strcmp(d->v[k].id, e->id) == 0)
				why = "two delegates have the same id";
			else if (CRYPTO_memcmp(d->v[k].hash, e->hash, HASH_LEN) == 0)
				why = "two delegates have the same token";
		}
		if (!why)
			d->n++;
	}
	json_decref(root);
	if (why) {
		dm_log(DM_LOG_ERROR, "delegates: %s is malformed: %s", d->path, why);
		return DM_ECONFIG;
	}
	return 0;
}

static int load_file(struct dm_delegates *d, int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0) {
		dm_log(DM_LOG_ERROR, "delegates: cannot stat %s: %s", d->path, strerror(errno));
		return DM_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		dm_log(DM_LOG_ERROR, "delegates: %s is not a regular file", d->path);
		return DM_EINVAL;
	}
	/* Like the tokens file: hashes are not tokens, but whoever may write
	 * the file may add a delegate. */
	if (st.st_mode & 077) {
		dm_log(DM_LOG_ERROR,
		       "delegates: %s is accessible by group or others (mode %04o); chmod 600 it",
		       d->path, (unsigned)(st.st_mode & 07777));
		return DM_EPERM;
	}
	if (st.st_size > DM_DELEGATES_FILE_MAX) {
		dm_log(DM_LOG_ERROR, "delegates: %s is larger than %d bytes", d->path,
		       DM_DELEGATES_FILE_MAX);
		return DM_ECONFIG;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *text = malloc(cap);
	if (!text)
		return DM_ENOMEM;
	while (len < cap) {
		ssize_t r = read(fd, text + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			dm_log(DM_LOG_ERROR, "delegates: cannot read %s: %s", d->path,
			       strerror(errno));
			free(text);
			return DM_EIO;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	int ret;
	if (len == cap) {
		dm_log(DM_LOG_ERROR, "delegates: %s grew while being read", d->path);
		ret = DM_ECONFIG;
	} else {
		ret = load_text(d, text, len);
	}
	free(text);
	return ret;
}

int dm_delegates_new(const char *path, struct dm_delegates **out)
{
	if (out)
		*out = NULL;
	if (!path || !*path || !out)
		return DM_EINVAL;
	struct dm_delegates *d = calloc(1, sizeof *d);
	if (!d)
		return DM_ENOMEM;
	d->path = strdup(path);
	if (!d->path || pthread_mutex_init(&d->mu, NULL) != 0) {
		free(d->path);
		free(d);
		return DM_ENOMEM;
	}
	int ret;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd >= 0) {
		ret = load_file(d, fd);
		close(fd);
	} else if (errno == ENOENT) {
		ret = save(d);
		if (ret == 0)
			dm_log(DM_LOG_INFO, "delegates: new state file %s", path);
	} else {
		dm_log(DM_LOG_ERROR, "delegates: cannot open %s: %s", path, strerror(errno));
		ret = DM_EIO;
	}
	if (ret) {
		dm_delegates_free(d);
		return ret;
	}
	*out = d;
	return 0;
}

void dm_delegates_free(struct dm_delegates *d)
{
	if (!d)
		return;
	pthread_mutex_destroy(&d->mu);
	if (d->v)
		OPENSSL_cleanse(d->v, d->cap * sizeof *d->v);
	free(d->v);
	free(d->path);
	free(d);
}

/* ------------------------------------------------------------ changes */

/* Room for one more: forgets the delegates that can no longer sign in when
 * the store is full. */
static int make_room(struct dm_delegates *d, long long now)
{
	if (d->n >= DM_DELEGATES_MAX) {
		size_t k = 0;
		for (size_t i = 0; i < d->n; i++)
			if (!d->v[i].revoked && now < d->v[i].expires)
				d->v[k++] = d->v[i];
		if (k == d->n)
			return DM_ENOSPC;
		d->n = k;
	}
	if (d->n == d->cap) {
		size_t ncap = d->cap ? 2 * d->cap : 16;
		if (ncap > DM_DELEGATES_MAX)
			ncap = DM_DELEGATES_MAX;
		struct delegate *v = realloc(d->v, ncap * sizeof *v);
		if (!v)
			return DM_ENOMEM;
		d->v = v;
		d->cap = ncap;
	}
	return 0;
}

int dm_delegates_add(struct dm_delegates *d, const char *name, long long valid_s, long long now,
		     char *id, char *token, long long *created, long long *expires)
{
	if (!d || !name || !id || !token || !name_ok(name) || valid_s < DM_DELEGATE_VALID_MIN_S ||
	    valid_s > DM_DELEGATE_VALID_MAX_S || now < 0)
		return DM_EINVAL;
	struct delegate e = {.created = now, .expires = now + valid_s};
	snprintf(e.name, sizeof e.name, "%s", name);
	uint8_t raw[TOKEN_BYTES];
	char tok[DM_DELEGATE_TOKEN_LEN + 1];
	if (dm_random_bytes(raw, sizeof raw) != 0)
		return DM_ECRYPTO;
	to_hex(raw, sizeof raw, tok);
	OPENSSL_cleanse(raw, sizeof raw);
	int ret = sha256(tok, DM_DELEGATE_TOKEN_LEN, e.hash);
	if (ret) {
		OPENSSL_cleanse(tok, sizeof tok);
		return ret;
	}

	pthread_mutex_lock(&d->mu);
	/* 32 bits of id: a clash is rare, but two delegates must never share one. */
	do {
		uint8_t r[4];
		if (dm_random_bytes(r, sizeof r) != 0) {
			ret = DM_ECRYPTO;
			break;
		}
		e.id[0] = 'd';
		to_hex(r, sizeof r, e.id + 1);
	} while (find_id(d, e.id));
	if (!ret)
		ret = make_room(d, now);
	if (!ret) {
		d->v[d->n++] = e;
		ret = save(d);
		if (ret)
			d->n--;
	}
	pthread_mutex_unlock(&d->mu);

	if (!ret) {
		memcpy(id, e.id, sizeof e.id);
		memcpy(token, tok, sizeof tok);
		if (created)
			*created = e.created;
		if (expires)
			*expires = e.expires;
	}
	OPENSSL_cleanse(tok, sizeof tok);
	OPENSSL_cleanse(&e, sizeof e);
	return ret;
}

int dm_delegates_revoke(struct dm_delegates *d, const char *id, long long now)
{
	if (!d || !id)
		return DM_EINVAL;
	pthread_mutex_lock(&d->mu);
	struct delegate *e = find_id(d, id);
	int ret;
	if (!e) {
		ret = DM_ENOENT;
	} else if (e->revoked) {
		ret = 0;
	} else {
		e->revoked = true;
		e->revoked_at = now;
		ret = save(d);
		if (ret) {
			e->revoked = false;
			e->revoked_at = 0;
		} else {
			ret = 1;
		}
	}
	pthread_mutex_unlock(&d->mu);
	return ret;
}

int dm_delegates_auth(struct dm_delegates *d, const char *token, size_t len, long long now,
		      char *id, char *name, long long *expires, const char **why)
{
	static const char *unknown = "unknown delegate token";
	if (id)
		id[0] = '\0';
	if (name)
		name[0] = '\0';
	if (why)
		*why = unknown;
	if (!d || !token)
		return DM_EINVAL;
	uint8_t h[HASH_LEN];
	if (sha256(token, len, h))
		return DM_ECRYPTO;
	pthread_mutex_lock(&d->mu);
	/* Every entry is compared, whichever matches: the time says nothing. */
	const struct delegate *found = NULL;
	for (size_t i = 0; i < d->n; i++)
		if (CRYPTO_memcmp(d->v[i].hash, h, HASH_LEN) == 0)
			found = &d->v[i];
	int ret = DM_EAUTH;
	if (found) {
		if (id)
			memcpy(id, found->id, sizeof found->id);
		if (name)
			memcpy(name, found->name, sizeof found->name);
		if (expires)
			*expires = found->expires;
		if (found->revoked) {
			if (why)
				*why = "revoked delegate token";
		} else if (now >= found->expires) {
			if (why)
				*why = "expired delegate token";
		} else {
			ret = 0;
			if (why)
				*why = NULL;
		}
	}
	pthread_mutex_unlock(&d->mu);
	OPENSSL_cleanse(h, sizeof h);
	return ret;
}

json_t *dm_delegates_list_json(struct dm_delegates *d)
{
	if (!d)
		return NULL;
	json_t *list = json_array();
	json_t *root = json_pack("{s:o}", "delegates", list);
	if (!root)
		return NULL;
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->n; i++) {
		const struct delegate *e = &d->v[i];
		json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:b}", "id", e->id, "name", e->name,
				      "created", (json_int_t)e->created, "expires",
				      (json_int_t)e->expires, "revoked", e->revoked);
		if (!o || json_array_append_new(list, o)) {
			json_decref(root);
			root = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&d->mu);
	return root;
}

size_t dm_delegates_count(struct dm_delegates *d)
{
	if (!d)
		return 0;
	pthread_mutex_lock(&d->mu);
	size_t n = d->n;
	pthread_mutex_unlock(&d->mu);
	return n;
}
