/* dragoman: the control API: bearer tokens, the request handler (a pure
 * function of method, path, Authorization and body, so tests and the fuzzer
 * drive it without sockets) and the libmicrohttpd server around it, with the
 * event stream as Server-Sent Events. JSON only through jansson. */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dragoman/error.h"
#include "dragoman/log.h"

#define TOKEN_MIN 16		      /* shorter tokens are guessable */
#define TOKEN_MAX 512		      /* longer Authorization headers are not ours */
#define TOKENS_FILE_MAX (1024 * 1024) /* a tokens file is a few lines */
#define HASH_LEN 32		      /* SHA-256 */

#define API_CONNECTION_LIMIT 64
#define API_CONNECTION_TIMEOUT_S 30   /* idle connections; SSE keepalives stay under it */
#define API_DISCARD_MAX (1024 * 1024) /* chunked body bytes read past the limit */
#define SSE_KEEPALIVE_MS 15000
#define SSE_WAIT_SLICE_MS 250 /* how soon a blocked event reader notices a stop */
#define SSE_EVENT_MAX (1024 * 1024)
#define ECHO_MAX 48 /* bytes of a client's path or id echoed in messages and logs */

struct token {
	/* Only the hash is kept: every token compares in the same time whatever
	 * its length, and the plain token is not left in memory. */
	uint8_t hash[HASH_LEN];
	enum dm_role role;
	int booth; /* DM_ROLE_BOOTH: booth index */
	int line;
	char who[DM_ID_MAX + 8]; /* "technician", "booth:<id>", "delegate" */
};

struct dm_api {
	const struct dm_config *cfg;
	struct dm_control *ctl;
	struct token *tokens;
	size_t n_tokens;
	struct MHD_Daemon *daemon;
	atomic_bool stopping;
	uint16_t port;
	bool loopback;		   /* bound to 127.0.0.0/8: /metrics needs no token */
	struct dm_api_views views; /* the engine's read-only views (meters, ...) */
};

/* ---------------------------------------------------------------- helpers */

/* A client's bytes made safe for a message and a log line: printable ASCII,
 * at most ECHO_MAX bytes. */
static void echo(char *out, size_t cap, const char *s, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k + 1 < cap && i < ECHO_MAX; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	if (n > ECHO_MAX && k + 4 < cap) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
}

static int hash_token(const char *tok, size_t len, uint8_t out[HASH_LEN])
{
	unsigned int n = 0;
	if (EVP_Digest(tok, len, out, &n, EVP_sha256(), NULL) != 1 || n != HASH_LEN)
		return DM_ECRYPTO;
	return 0;
}

/* RFC 6750's b64token: what a bearer token may contain. */
static bool is_token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* ------------------------------------------------------------ tokens file */

struct loader {
	struct dm_api *api;
	const char *path;
	dm_config_error_fn on_error;
	void *user;
	int problems;
};

static void problem(struct loader *ld, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(struct loader *ld, int line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (ld->on_error)
		ld->on_error(ld->user, ld->path, line, msg);
	ld->problems++;
}

static int find_booth(const struct dm_config *cfg, const char *id, size_t n)
{
	for (size_t i = 0; i < dm_config_booth_count(cfg); i++) {
		const char *b = dm_config_booth(cfg, i)->id;
		if (strlen(b) == n && memcmp(b, id, n) == 0)
			return (int)i;
	}
	return -1;
}

/* One non-comment line: ROLE TOKEN [# comment]. Returns 0, or DM_ENOMEM /
 * DM_ECRYPTO; problems in the line are counted, not returned. */
static int parse_line(struct loader *ld, const char *s, size_t n, int line, size_t *cap)
{
	struct dm_api *api = ld->api;
	size_t i = 0;
	while (i < n && is_blank(s[i]))
		i++;
	if (i == n || s[i] == '#')
		return 0;
	if (memchr(s, '\0', n)) {
		problem(ld, line, "binary data in the tokens file");
		return 0;
	}

	const char *role = s + i;
	while (i < n && !is_blank(s[i]))
		i++;
	size_t role_len = (size_t)(s + i - role);
	while (i < n && is_blank(s[i]))
		i++;
	const char *tok = s + i;
	while (i < n && !is_blank(s[i]))
		i++;
	size_t tok_len = (size_t)(s + i - tok);
	while (i < n && is_blank(s[i]))
		i++;

	struct token t = {.booth = -1, .line = line};
	char shown[ECHO_MAX + 4];
	echo(shown, sizeof shown, role, role_len);
	if (role_len == 10 && memcmp(role, "technician", 10) == 0) {
		t.role = DM_ROLE_TECHNICIAN;
		snprintf(t.who, sizeof t.who, "technician");
	} else if (role_len == 8 && memcmp(role, "delegate", 8) == 0) {
		t.role = DM_ROLE_DELEGATE;
		snprintf(t.who, sizeof t.who, "delegate");
	} else if (role_len > 6 && memcmp(role, "booth:", 6) == 0) {
		t.role = DM_ROLE_BOOTH;
		t.booth = find_booth(api->cfg, role + 6, role_len - 6);
		if (t.booth < 0) {
			echo(shown, sizeof shown, role + 6, role_len - 6);
			problem(ld, line, "unknown booth '%s'", shown);
			return 0;
		}
		snprintf(t.who, sizeof t.who, "booth:%s",
			 dm_config_booth(api->cfg, (size_t)t.booth)->id);
	} else {
		problem(ld, line, "unknown role '%s' (technician, booth:<booth-id> or delegate)",
			shown);
		return 0;
	}

	/* The messages below never quote the token: they may reach a log. */
	if (tok_len == 0) {
		problem(ld, line, "missing token after '%s'", shown);
		return 0;
	}
	if (i < n && s[i] != '#') {
		problem(ld, line, "unexpected text after the token (one token a line)");
		return 0;
	}
	if (tok_len < TOKEN_MIN || tok_len > TOKEN_MAX) {
		problem(ld, line, "token must be %d to %d characters long", TOKEN_MIN, TOKEN_MAX);
		return 0;
	}
	for (size_t k = 0; k < tok_len; k++) {
		if (!is_token_char(tok[k])) {
			problem(ld, line, "token may hold only A-Z a-z 0-9 - . _ ~ + / =");
			return 0;
		}
	}
	int ret = hash_token(tok, tok_len, t.hash);
	if (ret)
		return ret;
	for (size_t k = 0; k < api->n_tokens; k++) {
		if (CRYPTO_memcmp(api->tokens[k].hash, t.hash, HASH_LEN) == 0) {
			problem(ld, line, "duplicate token (also on line %d)", api->tokens[k].line);
			return 0;
		}
	}
	if (api->n_tokens == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct token *nt = realloc(api->tokens, ncap * sizeof *nt);
		if (!nt)
			return DM_ENOMEM;
		api->tokens = nt;
		*cap = ncap;
	}
	api->tokens[api->n_tokens++] = t;
	return 0;
}

static int errno_to_dm(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR: return DM_ENOENT;
	case ENOMEM: return DM_ENOMEM;
	default: return DM_EIO;
	}
}

static int load_tokens(struct loader *ld)
{
	int fd = open(ld->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		problem(ld, 0, "cannot open the tokens file: %s", strerror(e));
		return errno_to_dm(e);
	}
	/* Check the file we opened, not the path: no window for a swap. */
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int e = errno;
		close(fd);
		problem(ld, 0, "cannot stat the tokens file: %s", strerror(e));
		return errno_to_dm(e);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		problem(ld, 0, "the tokens file is not a regular file");
		return DM_EINVAL;
	}
	/* Any group or other bit: readable leaks tokens, writable lets anyone
	 * add one. */
	if (st.st_mode & 077) {
		close(fd);
		problem(ld, 0, "the tokens file is accessible by group or others (chmod 600 it)");
		return DM_EPERM;
	}
	if (st.st_size > TOKENS_FILE_MAX) {
		close(fd);
		problem(ld, 0, "the tokens file is larger than %d bytes", TOKENS_FILE_MAX);
		return DM_ECONFIG;
	}

	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *text = malloc(cap);
	if (!text) {
		close(fd);
		return DM_ENOMEM;
	}
	int ret = 0;
	while (len < cap) {
		ssize_t r = read(fd, text + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			problem(ld, 0, "cannot read the tokens file: %s", strerror(errno));
			ret = DM_EIO;
			break;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (!ret && len == cap) {
		problem(ld, 0, "the tokens file grew while being read");
		ret = DM_ECONFIG;
	}

	size_t tcap = 0;
	int line = 1;
	for (size_t pos = 0; !ret && pos < len; line++) {
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		pos += n + (nl ? 1 : 0);
		if (n && s[n - 1] == '\r')
			n--;
		ret = parse_line(ld, s, n, line, &tcap);
	}
	OPENSSL_cleanse(text, cap);
	free(text);
	if (ret)
		return ret;
	if (!ld->problems && ld->api->n_tokens == 0)
		problem(ld, 0, "the tokens file holds no token");
	return ld->problems ? DM_ECONFIG : 0;
}

int dm_api_new(const struct dm_config *cfg, struct dm_control *ctl, const char *tokens_file,
	       dm_config_error_fn on_error, void *user, struct dm_api **out)
{
	if (out)
		*out = NULL;
	if (!cfg || !ctl || !tokens_file || !*tokens_file || !out)
		return DM_EINVAL;
	struct dm_api *api = calloc(1, sizeof *api);
	if (!api)
		return DM_ENOMEM;
	api->cfg = cfg;
	api->ctl = ctl;
	atomic_init(&api->stopping, false);
	struct loader ld = {api, tokens_file, on_error, user, 0};
	int ret = load_tokens(&ld);
	if (ret) {
		dm_api_free(api);
		return ret;
	}
	*out = api;
	return 0;
}

void dm_api_free(struct dm_api *api)
{
	if (!api)
		return;
	if (api->daemon) {
		/* Event readers poll this between short waits; MHD_stop_daemon
		 * then joins their threads. */
		atomic_store(&api->stopping, true);
		MHD_stop_daemon(api->daemon);
	}
	if (api->tokens)
		OPENSSL_cleanse(api->tokens, api->n_tokens * sizeof *api->tokens);
	free(api->tokens);
	free(api);
}

/* --------------------------------------------------------- request handler */

enum target { T_STATE, T_EVENTS, T_FLOOR, T_CONSOLE, T_METERS, T_ALARMS, T_LISTENERS, T_METRICS };

/* What a request's line and headers resolve to, before any body. */
struct route {
	enum target target;
	enum dm_control_op op;
	int console;
	const struct token *tok;
};

/* A finished answer. allow: the Allow header of a 405; challenge: a 401. */
struct reply {
	int status;
	char *body;
	const char *allow;
	bool challenge;
	bool text; /* text/plain (Prometheus) instead of JSON */
};

static void reply_json(struct reply *rep, int status, json_t *obj)
{
	rep->status = status;
	rep->body = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (!rep->body) {
		rep->status = 500;
		rep->body = NULL;
	}
}

static void reply_error(struct reply *rep, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void reply_error(struct reply *rep, int status, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* Every client byte in msg went through echo(): valid UTF-8. */
	reply_json(rep, status, json_pack("{s:s}", "error", msg));
}

/* Constant time over every token, whichever matches. */
static const struct token *find_token(const struct dm_api *api, const char *tok, size_t len)
{
	uint8_t h[HASH_LEN];
	if (hash_token(tok, len, h))
		return NULL;
	const struct token *found = NULL;
	for (size_t i = 0; i < api->n_tokens; i++) {
		if (CRYPTO_memcmp(api->tokens[i].hash, h, HASH_LEN) == 0)
			found = &api->tokens[i];
	}
	OPENSSL_cleanse(h, sizeof h);
	return found;
}

/* "Bearer TOKEN" (scheme case-insensitive, RFC 7235). NULL: no usable token;
 * *why says which. */
static const struct token *authenticate(const struct dm_api *api, const char *auth,
					const char **why)
{
	if (!auth || !*auth) {
		*why = "no token";
		return NULL;
	}
	if (strncasecmp(auth, "Bearer", 6) != 0 || !is_blank(auth[6])) {
		*why = "not a bearer token";
		return NULL;
	}
	const char *tok = auth + 7;
	while (is_blank(*tok))
		tok++;
	size_t len = 0;
	while (tok[len] && !is_blank(tok[len]) && len <= TOKEN_MAX)
		len++;
	const char *rest = tok + len;
	while (is_blank(*rest))
		rest++;
	if (len == 0 || len > TOKEN_MAX || *rest) {
		*why = "malformed bearer token";
		return NULL;
	}
	const struct token *t = find_token(api, tok, len);
	if (!t)
		*why = "unknown token";
	return t;
}

static const char *peer_or_local(const char *peer)
{
	return peer ? peer : "local";
}

static int find_console(const struct dm_config *cfg, const char *id, size_t n)
{
	for (size_t i = 0; i < dm_config_console_count(cfg); i++) {
		const char *c = dm_config_console(cfg, i)->id;
		if (strlen(c) == n && memcmp(c, id, n) == 0)
			return (int)i;
	}
	return -1;
}

static int console_booth(const struct dm_config *cfg, int console)
{
	const char *booth = dm_config_console(cfg, (size_t)console)->booth;
	return find_booth(cfg, booth, strlen(booth));
}

static const struct {
	const char *name;
	enum dm_control_op op;
} actions[] = {
	{"mic", DM_OP_MIC},	  {"mute", DM_OP_MUTE},	    {"output", DM_OP_OUTPUT},
	{"source", DM_OP_SOURCE}, {"volume", DM_OP_VOLUME}, {"call", DM_OP_CALL},
};

/* Resolves everything but the body: authentication (401), path (404),
 * method (405), ids (400), role (403). Returns true to go on to the body;
 * false with *rep filled. */
static bool api_check(struct dm_api *api, const char *method, const char *path, const char *auth,
		      const char *peer, struct route *rt, struct reply *rep)
{
	memset(rt, 0, sizeof *rt);
	rt->console = -1;
	if (!method)
		method = "";
	if (!path)
		path = "";
	size_t plen = strcspn(path, "?");
	char shown[ECHO_MAX + 4], mshown[ECHO_MAX + 4];
	echo(shown, sizeof shown, path, plen);
	echo(mshown, sizeof mshown, method, strlen(method));

	/* Prometheus scrapes without credentials; only where nobody but this
	 * host can ask (bound to loopback). */
	if (plen == 8 && memcmp(path, "/metrics", 8) == 0 && api->loopback) {
		rt->target = T_METRICS;
		if (strcmp(method, "GET") != 0) {
			rep->allow = "GET";
			reply_error(rep, 405, "%s is not allowed here (GET only)", mshown);
			return false;
		}
		return true;
	}

	const char *why = NULL;
	rt->tok = authenticate(api, auth, &why);
	if (!rt->tok) {
		/* Never the token itself: only that one failed, where, and how. */
		dm_log(DM_LOG_WARN, "api: %s %s from %s refused: %s", mshown, shown,
		       peer_or_local(peer), why);
		rep->challenge = true;
		reply_error(rep, 401, "%s", why);
		return false;
	}

	static const char prefix[] = "/api/v1/";
	const size_t pre = sizeof prefix - 1;
	if (plen == 8 && memcmp(path, "/metrics", 8) == 0) {
		rt->target = T_METRICS;
		if (strcmp(method, "GET") != 0) {
			rep->allow = "GET";
			reply_error(rep, 405, "%s is not allowed here (GET only)", mshown);
			return false;
		}
		return true;
	}
	if (plen < pre || memcmp(path, prefix, pre) != 0) {
		reply_error(rep, 404, "no such resource: %s", shown);
		return false;
	}
	const char *rest = path + pre;
	size_t rlen = plen - pre;
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	const char *allow;
	if (rlen == 5 && memcmp(rest, "state", 5) == 0) {
		rt->target = T_STATE;
		allow = "GET";
	} else if (rlen == 6 && memcmp(rest, "events", 6) == 0) {
		rt->target = T_EVENTS;
		allow = "GET";
	} else if (rlen == 6 && memcmp(rest, "meters", 6) == 0) {
		rt->target = T_METERS;
		allow = "GET";
	} else if (rlen == 6 && memcmp(rest, "alarms", 6) == 0) {
		rt->target = T_ALARMS;
		allow = "GET";
	} else if (rlen == 9 && memcmp(rest, "listeners", 9) == 0) {
		rt->target = T_LISTENERS;
		allow = "GET";
	} else if (rlen == 5 && memcmp(rest, "floor", 5) == 0) {
		rt->target = T_FLOOR;
		rt->op = DM_OP_FLOOR;
		allow = "POST";
	} else if (rlen > 9 && memcmp(rest, "consoles/", 9) == 0) {
		const char *id = rest + 9;
		const char *end = rest + rlen;
		const char *slash = memchr(id, '/', (size_t)(end - id));
		if (!slash || slash == id) {
			reply_error(rep, 404, "no such resource: %s", shown);
			return false;
		}
		const char *act = slash + 1;
		size_t alen = (size_t)(end - act);
		size_t k;
		for (k = 0; k < sizeof actions / sizeof actions[0]; k++) {
			if (strlen(actions[k].name) == alen &&
			    memcmp(actions[k].name, act, alen) == 0)
				break;
		}
		if (k == sizeof actions / sizeof actions[0]) {
			reply_error(rep, 404, "no such resource: %s", shown);
			return false;
		}
		rt->target = T_CONSOLE;
		rt->op = actions[k].op;
		rt->console = find_console(api->cfg, id, (size_t)(slash - id));
		allow = "POST";
		if (post && rt->console < 0) {
			char ids[ECHO_MAX + 4];
			echo(ids, sizeof ids, id, (size_t)(slash - id));
			reply_error(rep, 400, "unknown console '%s'", ids);
			return false;
		}
	} else {
		reply_error(rep, 404, "no such resource: %s", shown);
		return false;
	}
	if (!(allow[0] == 'G' ? get : post)) {
		rep->allow = allow;
		reply_error(rep, 405, "%s is not allowed here (%s only)", mshown, allow);
		return false;
	}

	const struct token *t = rt->tok;
	bool ok;
	switch (rt->target) {
	case T_STATE:
	case T_EVENTS:
	case T_METERS:
	case T_ALARMS:
	case T_LISTENERS: ok = true; break;
	case T_FLOOR: ok = t->role == DM_ROLE_TECHNICIAN; break;
	default:
		ok = t->role == DM_ROLE_TECHNICIAN ||
		     (t->role == DM_ROLE_BOOTH && console_booth(api->cfg, rt->console) == t->booth);
		break;
	}
	if (!ok) {
		dm_log(DM_LOG_WARN, "api: %s %s from %s refused: forbidden to %s", mshown, shown,
		       peer_or_local(peer), t->who);
		if (rt->target == T_FLOOR)
			reply_error(rep, 403, "only a technician sets the floor language");
		else if (t->role == DM_ROLE_BOOTH)
			reply_error(rep, 403, "console %s is not in %s",
				    dm_config_console(api->cfg, (size_t)rt->console)->id, t->who);
		else
			reply_error(rep, 403, "a delegate token may only read the state");
		return false;
	}
	return true;
}

/* The body's one field: an object with exactly `name` in it. */
static json_t *only_field(json_t *root, const char *name, struct reply *rep)
{
	if (!json_is_object(root)) {
		reply_error(rep, 400, "the body must be a JSON object");
		return NULL;
	}
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, name) != 0) {
			char shown[ECHO_MAX + 4];
			echo(shown, sizeof shown, key, strlen(key));
			reply_error(rep, 400, "unknown field '%s' (expected '%s')", shown, name);
			return NULL;
		}
	}
	v = json_object_get(root, name);
	if (!v)
		reply_error(rep, 400, "missing field '%s'", name);
	return v;
}

/* A channel id (or number) as the config knows it. */
static int channel_of(const struct dm_api *api, json_t *v, const char *field, struct reply *rep)
{
	if (!json_is_string(v)) {
		reply_error(rep, 400, "'%s' must be a string", field);
		return -1;
	}
	const char *s = json_string_value(v);
	int ch = dm_config_find_channel(api->cfg, s);
	if (ch < 0) {
		char shown[ECHO_MAX + 4];
		echo(shown, sizeof shown, s, strlen(s));
		reply_error(rep, 400, "unknown channel '%s'", shown);
	}
	return ch;
}

/* Reads the body into *req. Returns false with *rep filled. */
static bool parse_body(struct dm_api *api, const struct route *rt, const char *body, size_t len,
		       struct dm_control_req *req, struct reply *rep)
{
	json_error_t err;
	json_t *root = json_loadb(body ? body : "", body ? len : 0, JSON_REJECT_DUPLICATES, &err);
	if (!root) {
		char shown[ECHO_MAX + 4];
		echo(shown, sizeof shown, err.text, strlen(err.text));
		reply_error(rep, 400, "malformed JSON at byte %d: %s", err.position, shown);
		return false;
	}
	bool ok = false;
	json_t *v;
	switch (rt->op) {
	case DM_OP_MIC:
	case DM_OP_MUTE:
		if (!(v = only_field(root, "on", rep)))
			break;
		if (!json_is_boolean(v)) {
			reply_error(rep, 400, "'on' must be true or false");
			break;
		}
		req->on = json_is_true(v);
		ok = true;
		break;
	case DM_OP_OUTPUT: {
		if (!(v = only_field(root, "channel", rep)))
			break;
		const char *s = json_string_value(v);
		if (!s || (strcmp(s, "a") != 0 && strcmp(s, "b") != 0)) {
			reply_error(rep, 400, "'channel' must be \"a\" or \"b\"");
			break;
		}
		req->value = s[0] == 'b';
		ok = true;
		break;
	}
	case DM_OP_SOURCE:
		if (!(v = only_field(root, "source", rep)))
			break;
		req->value = channel_of(api, v, "source", rep);
		ok = req->value >= 0;
		break;
	case DM_OP_VOLUME:
		if (!(v = only_field(root, "db", rep)))
			break;
		if (!json_is_number(v)) {
			reply_error(rep, 400, "'db' must be a number");
			break;
		}
		req->db = json_number_value(v);
		ok = true;
		break;
	case DM_OP_CALL: {
		if (!(v = only_field(root, "message", rep)))
			break;
		static const char *const messages[] = {"slow", "repeat", "technician"};
		const char *s = json_string_value(v);
		for (size_t k = 0; s && k < 3; k++) {
			if (strcmp(s, messages[k]) == 0)
				req->message = messages[k]; /* static: outlives root */
		}
		if (!req->message) {
			reply_error(rep, 400,
				    "'message' must be \"slow\", \"repeat\" or \"technician\"");
			break;
		}
		ok = true;
		break;
	}
	case DM_OP_FLOOR:
		if (!(v = only_field(root, "language", rep)))
			break;
		if (json_is_null(v)) {
			req->value = -1;
			ok = true;
			break;
		}
		req->value = channel_of(api, v, "language", rep);
		if (req->value == 0) {
			reply_error(rep, 400, "the floor is not a language channel (null clears)");
			break;
		}
		ok = req->value > 0;
		break;
	}
	json_decref(root);
	return ok;
}

/* The new state of one console, cut from the whole state (the control
 * module owns its layout); the whole state when it has no such entry. */
static char *console_json(struct dm_api *api, int console)
{
	char *all = dm_control_state_json(api->ctl);
	if (!all || console < 0)
		return all;
	json_t *root = json_loads(all, 0, NULL);
	json_t *list = json_object_get(root, "consoles");
	const char *id = dm_config_console(api->cfg, (size_t)console)->id;
	size_t i;
	json_t *c;
	char *one = NULL;
	json_array_foreach(list, i, c)
	{
		const char *cid = json_string_value(json_object_get(c, "id"));
		if (cid && strcmp(cid, id) == 0) {
			one = json_dumps(c, JSON_COMPACT);
			break;
		}
	}
	json_decref(root);
	if (!one)
		return all;
	free(all);
	return one;
}

static void api_finish(struct dm_api *api, const struct route *rt, const char *body, size_t len,
		       struct reply *rep)
{
	if (rt->target == T_METERS || rt->target == T_ALARMS || rt->target == T_LISTENERS ||
	    rt->target == T_METRICS) {
		char *(*view)(void *) = rt->target == T_METERS	    ? api->views.meters
					: rt->target == T_ALARMS    ? api->views.alarms
					: rt->target == T_LISTENERS ? api->views.listeners
								    : api->views.metrics;
		if (!view) {
			reply_error(rep, 404, "not served by this engine");
			return;
		}
		rep->status = 200;
		rep->text = rt->target == T_METRICS;
		rep->body = view(api->views.user);
		if (!rep->body)
			reply_error(rep, 500, "out of memory");
		return;
	}
	if (rt->target == T_STATE) {
		rep->status = 200;
		rep->body = dm_control_state_json(api->ctl);
		if (!rep->body)
			reply_error(rep, 500, "out of memory");
		return;
	}
	if (rt->target == T_EVENTS) {
		/* The stream itself needs the server; called directly, this
		 * answers where a new subscriber would start. */
		reply_json(rep, 200,
			   json_pack("{s:I}", "last_event_id",
				     (json_int_t)dm_control_events_last(api->ctl)));
		return;
	}

	struct dm_control_req req = {.op = rt->op, .console = rt->console, .who = rt->tok->who};
	if (!parse_body(api, rt, body, len, &req, rep))
		return;
	struct dm_refusal refusal = {.holder = -1, .channel = -1};
	int ret = dm_control_request(api->ctl, &req, &refusal);
	if (ret == DM_EEXIST) {
		const struct dm_console_conf *holder =
			refusal.holder >= 0 ? dm_config_console(api->cfg, (size_t)refusal.holder)
					    : NULL;
		const struct dm_channel_conf *ch =
			refusal.channel >= 0 ? dm_config_channel(api->cfg, (size_t)refusal.channel)
					     : NULL;
		reply_json(
			rep, 409,
			json_pack("{s:s, s:s?, s:s?}", "error",
				  refusal.reason[0] ? refusal.reason : "refused by the interlock",
				  "holder", holder ? holder->id : NULL, "channel",
				  ch ? ch->id : NULL));
		return;
	}
	if (ret == DM_EINVAL) {
		reply_error(rep, 400, "%s", refusal.reason[0] ? refusal.reason : "invalid request");
		return;
	}
	if (ret) {
		reply_error(rep, 500, "%s", dm_strerror(ret));
		return;
	}
	rep->status = 200;
	rep->body = console_json(api, rt->target == T_CONSOLE ? rt->console : -1);
	if (!rep->body)
		reply_error(rep, 500, "out of memory");
}

static void api_handle(struct dm_api *api, const char *method, const char *path, const char *auth,
		       const char *body, size_t len, const char *peer, struct reply *rep)
{
	struct route rt;
	if (!api_check(api, method, path, auth, peer, &rt, rep))
		return;
	if (len > DM_API_MAX_BODY) {
		reply_error(rep, 413, "the body is larger than %d bytes", DM_API_MAX_BODY);
		return;
	}
	api_finish(api, &rt, body, len, rep);
}

void dm_api_handle(struct dm_api *api, const char *method, const char *path, const char *auth,
		   const char *body, size_t body_len, int *status, char **response)
{
	struct reply rep = {0};
	if (!api || !status || !response) {
		if (status)
			*status = 500;
		if (response)
			*response = NULL;
		return;
	}
	api_handle(api, method, path, auth, body, body_len, NULL, &rep);
	*status = rep.status;
	*response = rep.body;
}

/* ------------------------------------------------------------ HTTP server */

/* One connection's request, across the access handler's calls. */
struct request {
	bool checked;
	bool too_big;
	struct route rt;
	char peer[INET_ADDRSTRLEN];
	char *body;
	size_t len, cap;
	size_t discarded; /* bytes of a body over the limit, not kept */
};

/* One event stream: the event being sent and where the stream is. */
struct sse {
	struct dm_api *api;
	int64_t after;
	char *ev;
	size_t ev_cap;
	char *out;
	size_t out_len, out_off, out_cap;
};

static void sse_free(void *cls)
{
	struct sse *s = cls;
	free(s->ev);
	free(s->out);
	free(s);
}

static bool sse_reserve(struct sse *s, size_t need)
{
	if (need <= s->out_cap)
		return true;
	char *p = realloc(s->out, need);
	if (!p)
		return false;
	s->out = p;
	s->out_cap = need;
	return true;
}

/* `id: N` then one `data:` line per line of the event (SSE cannot carry a
 * newline inside a data line), then the blank line that ends it. */
static bool sse_format(struct sse *s, int64_t id)
{
	size_t n = strlen(s->ev);
	size_t lines = 1;
	for (size_t i = 0; i < n; i++)
		lines += s->ev[i] == '\n';
	if (!sse_reserve(s, 32 + n + lines * 7 + 2))
		return false;
	int k = snprintf(s->out, s->out_cap, "id: %" PRId64 "\n", id);
	size_t o = (size_t)k;
	const char *p = s->ev;
	for (;;) {
		const char *nl = strchr(p, '\n');
		size_t m = nl ? (size_t)(nl - p) : strlen(p);
		memcpy(s->out + o, "data: ", 6);
		o += 6;
		memcpy(s->out + o, p, m);
		o += m;
		s->out[o++] = '\n';
		if (!nl)
			break;
		p = nl + 1;
	}
	s->out[o++] = '\n';
	s->out_len = o;
	s->out_off = 0;
	return true;
}

static bool sse_set(struct sse *s, const char *text)
{
	size_t n = strlen(text);
	if (!sse_reserve(s, n + 1))
		return false;
	memcpy(s->out, text, n + 1);
	s->out_len = n;
	s->out_off = 0;
	return true;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs on the connection's own thread (thread per connection), so it may
 * block: waits for the next event in short slices, to notice a stop. */
static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct sse *s = cls;
	int64_t start = now_ms();
	while (s->out_off == s->out_len) {
		if (atomic_load(&s->api->stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		int64_t id = dm_control_events_wait(s->api->ctl, s->after, SSE_WAIT_SLICE_MS, s->ev,
						    s->ev_cap);
		if (id == DM_ENOSPC) {
			size_t ncap = s->ev_cap * 2;
			char *p = ncap <= SSE_EVENT_MAX ? realloc(s->ev, ncap) : NULL;
			if (!p)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			s->ev = p;
			s->ev_cap = ncap;
			continue;
		}
		if (id < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (id > 0) {
			s->after = id;
			if (!sse_format(s, id))
				return MHD_CONTENT_READER_END_WITH_ERROR;
		} else if (now_ms() - start >= SSE_KEEPALIVE_MS) {
			/* Keeps proxies and the idle timeout from closing the stream. */
			if (!sse_set(s, ": keepalive\n\n"))
				return MHD_CONTENT_READER_END_WITH_ERROR;
		}
	}
	size_t n = s->out_len - s->out_off;
	if (n > max)
		n = max;
	memcpy(buf, s->out + s->out_off, n);
	s->out_off += n;
	return (ssize_t)n;
}

static void add_common_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct reply *rep, bool close)
{
	if (!rep->body) {
		rep->status = 500;
		rep->body = strdup("{\"error\":\"out of memory\"}");
	}
	size_t len = rep->body ? strlen(rep->body) : 0;
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, rep->body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(rep->body);
		return MHD_NO;
	}
	rep->body = NULL;
	MHD_add_response_header(resp, "Content-Type",
				rep->text ? "text/plain; version=0.0.4; charset=utf-8"
					  : "application/json");
	add_common_headers(resp);
	if (rep->challenge)
		MHD_add_response_header(resp, "WWW-Authenticate",
					"Bearer realm=\"dragoman\", error=\"invalid_token\"");
	if (rep->allow)
		MHD_add_response_header(resp, "Allow", rep->allow);
	if (close)
		MHD_add_response_header(resp, "Connection", "close");
	enum MHD_Result r = MHD_queue_response(conn, (unsigned int)rep->status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result start_events(struct dm_api *api, struct MHD_Connection *conn)
{
	struct sse *s = calloc(1, sizeof *s);
	if (!s)
		return MHD_NO;
	s->api = api;
	s->ev_cap = 4096;
	s->ev = malloc(s->ev_cap);
	/* A reconnecting client says where it stopped; others start now. */
	s->after = dm_control_events_last(api->ctl);
	const char *last = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
	if (last && *last) {
		char *end;
		errno = 0;
		long long v = strtoll(last, &end, 10);
		if (!errno && !*end && v >= 0 && v <= s->after)
			s->after = v;
	}
	/* The first bytes at once, so a client knows it is subscribed. */
	if (!s->ev || !sse_set(s, "retry: 2000\n: subscribed\n\n")) {
		sse_free(s);
		return MHD_NO;
	}
	struct MHD_Response *resp =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
	if (!resp) {
		sse_free(s);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	add_common_headers(resp);
	enum MHD_Result r = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_size, void **con_cls)
{
	(void)version;
	struct dm_api *api = cls;
	struct request *rq = *con_cls;
	struct reply rep = {0};

	if (!rq) {
		rq = calloc(1, sizeof *rq);
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
			const struct sockaddr_in *sin = (const void *)ci->client_addr;
			inet_ntop(AF_INET, &sin->sin_addr, rq->peer, sizeof rq->peer);
		}
		/* Everything but the body is decided before reading it: a client
		 * without a valid token cannot make us buffer anything. */
		const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							       MHD_HTTP_HEADER_AUTHORIZATION);
		if (!api_check(api, method, url, auth, rq->peer[0] ? rq->peer : NULL, &rq->rt,
			       &rep))
			return send_reply(conn, &rep, true);
		rq->checked = true;
		if (rq->rt.target == T_EVENTS)
			return start_events(api, conn);
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl) {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(cl, &end, 10);
			if (errno || *end || v > DM_API_MAX_BODY) {
				reply_error(&rep, 413, "the body is larger than %d bytes",
					    DM_API_MAX_BODY);
				return send_reply(conn, &rep, true);
			}
		}
		return MHD_YES;
	}

	if (*upload_size) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (rq->too_big) {
			/* libmicrohttpd 0.9.75 cannot queue a response while a
			 * body is arriving: the 413 waits for its end, and a
			 * client that goes on and on is cut off. */
			rq->discarded += n;
			return rq->discarded > API_DISCARD_MAX ? MHD_NO : MHD_YES;
		}
		if (n > DM_API_MAX_BODY - rq->len) {
			/* A chunked body with no Content-Length: stop storing it. */
			rq->too_big = true;
			rq->discarded = rq->len + n;
			free(rq->body);
			rq->body = NULL;
			rq->len = rq->cap = 0;
			return MHD_YES;
		}
		if (rq->len + n > rq->cap) {
			size_t ncap = rq->cap ? rq->cap : 1024;
			while (ncap < rq->len + n)
				ncap *= 2;
			if (ncap > DM_API_MAX_BODY)
				ncap = DM_API_MAX_BODY;
			char *p = realloc(rq->body, ncap);
			if (!p)
				return MHD_NO;
			rq->body = p;
			rq->cap = ncap;
		}
		memcpy(rq->body + rq->len, upload_data, n);
		rq->len += n;
		return MHD_YES;
	}

	if (rq->too_big) {
		reply_error(&rep, 413, "the body is larger than %d bytes", DM_API_MAX_BODY);
		return send_reply(conn, &rep, true);
	}
	api_finish(api, &rq->rt, rq->body, rq->len, &rep);
	return send_reply(conn, &rep, false);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct request *rq = *con_cls;
	if (rq) {
		free(rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

/* libmicrohttpd's own messages go to our log, never to stderr. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	dm_log(DM_LOG_WARN, "api: libmicrohttpd: %s", msg);
}

/* "A.B.C.D:PORT", IPv4 only, port 0 meaning any free port. */
static int parse_listen(const char *listen, struct sockaddr_in *sin)
{
	const char *colon = strrchr(listen, ':');
	if (!colon || colon == listen || (size_t)(colon - listen) >= INET_ADDRSTRLEN)
		return DM_EINVAL;
	char addr[INET_ADDRSTRLEN];
	memcpy(addr, listen, (size_t)(colon - listen));
	addr[colon - listen] = '\0';
	memset(sin, 0, sizeof *sin);
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
		return DM_EINVAL;
	const char *p = colon + 1;
	if (!*p || strlen(p) > 5)
		return DM_EINVAL;
	unsigned long port = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return DM_EINVAL;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port > 65535)
		return DM_EINVAL;
	sin->sin_port = htons((uint16_t)port);
	return 0;
}

int dm_api_start(struct dm_api *api, const char *listen)
{
	if (!api || !listen || api->daemon)
		return DM_EINVAL;
	struct sockaddr_in sin;
	if (parse_listen(listen, &sin))
		return DM_EINVAL;
	api->loopback = (ntohl(sin.sin_addr.s_addr) >> 24) == 127;
	if (!api->loopback)
		dm_log(DM_LOG_WARN,
		       "api: listening on %s without TLS: tokens and state cross the network "
		       "in clear",
		       listen);
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			     MHD_USE_POLL | MHD_USE_ERROR_LOG;
	/* The logger first: MHD would print the options' own messages itself. */
	api->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, api, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&sin, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)API_CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)API_CONNECTION_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
		NULL, MHD_OPTION_END);
	if (!api->daemon) {
		dm_log(DM_LOG_ERROR, "api: cannot listen on %s", listen);
		return DM_ENET;
	}
	const union MHD_DaemonInfo *di =
		MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_BIND_PORT);
	api->port = di ? di->port : ntohs(sin.sin_port);
	return 0;
}

void dm_api_set_views(struct dm_api *api, const struct dm_api_views *views)
{
	if (api && views)
		api->views = *views;
}

int dm_api_port(const struct dm_api *api)
{
	if (!api || !api->daemon)
		return DM_EINVAL;
	return api->port;
}
