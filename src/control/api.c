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
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
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

#include "delegates.h"
#include "dragoman/defaults.h"
#include "dragoman/error.h"
#include "dragoman/log.h"

#define TOKEN_MIN 16		      /* shorter tokens are guessable */
#define TOKEN_MAX 512		      /* longer Authorization headers are not ours */
#define TOKENS_FILE_MAX (1024 * 1024) /* a tokens file is a few lines */
#define HASH_LEN 32		      /* SHA-256 */

/* Remote delegates come back all at once after an engine restart: room for
 * them (one thread each, while their request lasts: the client closes after
 * it), while one address cannot take more than a share of it. */
#define API_CONNECTION_LIMIT 512
#define API_PER_IP_LIMIT 64
#define API_CONNECTION_TIMEOUT_S 30   /* idle connections; SSE keepalives stay under it */
#define API_DISCARD_MAX (1024 * 1024) /* chunked body bytes read past the limit */
#define SSE_KEEPALIVE_MS 15000
#define SSE_WAIT_SLICE_MS 250 /* how soon a blocked event reader notices a stop */
#define SSE_EVENT_MAX (1024 * 1024)
#define ECHO_MAX 48		   /* bytes of a client's path or id echoed in messages and logs */
#define SESSION_ID_MAX 64	   /* a remote session id in a path: [A-Za-z0-9_-] */
#define TLS_FILE_MAX (1024 * 1024) /* a PEM certificate chain or key */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

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
	struct dm_delegates *delegates; /* with a remote section only */
	struct MHD_Daemon *daemon;
	atomic_bool stopping;
	uint16_t port;
	bool loopback;		     /* bound to 127.0.0.0/8: /metrics needs no token */
	struct dm_api_views views;   /* the engine's read-only views (meters, ...) */
	struct dm_api_remote remote; /* the engine's remote sessions */
};

/* Who a request comes from, once its token is known: a tokens-file entry
 * copied, or a delegate of the state file. */
struct caller {
	enum dm_role role;
	int booth;
	char who[DM_ID_MAX + 16]; /* for logs and control events */
	/* DM_ROLE_DELEGATE: what the remote hooks get */
	char delegate_id[DM_DELEGATE_ID_LEN + 16];
	char name[DM_DELEGATE_NAME_MAX];
	long long expires; /* 0: none (tokens file) */
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
	const struct dm_conference_conf *conf = dm_config_conference(cfg);
	if (!ret && conf->remote) {
		ret = dm_delegates_new(conf->remote_state_file, &api->delegates);
		if (ret && ret != DM_ENOMEM && on_error) {
			char msg[160];
			snprintf(msg, sizeof msg, "cannot use the delegates' state file: %s%s",
				 dm_strerror(ret),
				 ret == DM_EPERM ? " (group or others have access: chmod 600 it)"
				 : ret == DM_ECONFIG ? " (malformed, see the log)"
						     : "");
			on_error(user, conf->remote_state_file, 0, msg);
		}
	}
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
	dm_delegates_free(api->delegates);
	free(api);
}

/* --------------------------------------------------------- request handler */

enum target {
	T_STATE,
	T_EVENTS,
	T_FLOOR,
	T_CONSOLE,
	T_METERS,
	T_ALARMS,
	T_LISTENERS,
	T_METRICS,
	T_DELEGATES,	   /* GET, POST /api/v1/delegates */
	T_DELEGATE,	   /* DELETE /api/v1/delegates/{id} */
	T_SESSIONS,	   /* POST /api/v1/remote/sessions */
	T_SESSION,	   /* DELETE /api/v1/remote/sessions/{sid} */
	T_SESSION_CHANNEL, /* POST /api/v1/remote/sessions/{sid}/channel */
};

/* What a request's line and headers resolve to, before any body. */
struct route {
	enum target target;
	enum dm_control_op op;
	int console;
	bool post;
	struct caller who;
	char item[SESSION_ID_MAX + 1]; /* T_DELEGATE: the delegate id; T_SESSION*: the session */
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

/* "Bearer TOKEN" (scheme case-insensitive, RFC 7235): the tokens file first,
 * then the delegates' state file. false: no usable token; *why says which
 * (never the token) and, for a delegate refused, *c names it. */
static bool authenticate(const struct dm_api *api, const char *auth, struct caller *c,
			 const char **why)
{
	memset(c, 0, sizeof *c);
	c->booth = -1;
	if (!auth || !*auth) {
		*why = "no token";
		return false;
	}
	if (strncasecmp(auth, "Bearer", 6) != 0 || !is_blank(auth[6])) {
		*why = "not a bearer token";
		return false;
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
		return false;
	}
	const struct token *t = find_token(api, tok, len);
	if (t) {
		c->role = t->role;
		c->booth = t->booth;
		snprintf(c->who, sizeof c->who, "%s", t->who);
		if (t->role == DM_ROLE_DELEGATE) {
			/* Not revocable through the API: named after its line. */
			snprintf(c->delegate_id, sizeof c->delegate_id, "tokens-file:%d", t->line);
			snprintf(c->name, sizeof c->name, "delegate (tokens file, line %d)",
				 t->line);
		}
		return true;
	}
	*why = "unknown token";
	if (!api->delegates)
		return false;
	const char *dwhy = NULL;
	int ret = dm_delegates_auth(api->delegates, tok, len, (long long)time(NULL), c->delegate_id,
				    c->name, &c->expires, &dwhy);
	if (ret == 0) {
		c->role = DM_ROLE_DELEGATE;
		snprintf(c->who, sizeof c->who, "delegate:%s", c->delegate_id);
		return true;
	}
	if (ret == DM_EAUTH && c->delegate_id[0])
		*why = dwhy; /* revoked or expired: worth telling, and logging by whom */
	return false;
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

/* Whether method is one of allow ("GET, POST"). */
static bool method_allowed(const char *allow, const char *method)
{
	size_t n = strlen(method);
	for (const char *p = allow; *p;) {
		size_t k = strcspn(p, ",");
		if (k == n && n && memcmp(p, method, n) == 0)
			return true;
		p += k;
		while (*p == ',' || *p == ' ')
			p++;
	}
	return false;
}

/* A session or delegate id taken from a path: tame characters only, so it
 * can reach the hooks, logs and messages as it is. */
static bool path_id(const char *s, size_t n, char *out, size_t cap)
{
	if (n == 0 || n >= cap)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

static bool is_remote_target(enum target t)
{
	return t == T_SESSIONS || t == T_SESSION || t == T_SESSION_CHANNEL;
}

/* The part of api_check after the token: which resource (404) and method
 * (405). Returns the Allow list, or NULL with *rep filled. */
static const char *api_route(struct dm_api *api, const char *rest, size_t rlen, const char *shown,
			     bool post, struct route *rt, struct reply *rep)
{
	if (rlen == 5 && memcmp(rest, "state", 5) == 0) {
		rt->target = T_STATE;
		return "GET";
	}
	if (rlen == 6 && memcmp(rest, "events", 6) == 0) {
		rt->target = T_EVENTS;
		return "GET";
	}
	if (rlen == 6 && memcmp(rest, "meters", 6) == 0) {
		rt->target = T_METERS;
		return "GET";
	}
	if (rlen == 6 && memcmp(rest, "alarms", 6) == 0) {
		rt->target = T_ALARMS;
		return "GET";
	}
	if (rlen == 9 && memcmp(rest, "listeners", 9) == 0) {
		rt->target = T_LISTENERS;
		return "GET";
	}
	if (rlen == 5 && memcmp(rest, "floor", 5) == 0) {
		rt->target = T_FLOOR;
		rt->op = DM_OP_FLOOR;
		return "POST";
	}
	if (rlen > 9 && memcmp(rest, "consoles/", 9) == 0) {
		const char *id = rest + 9;
		const char *end = rest + rlen;
		const char *slash = memchr(id, '/', (size_t)(end - id));
		if (!slash || slash == id) {
			reply_error(rep, 404, "no such resource: %s", shown);
			return NULL;
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
			return NULL;
		}
		rt->target = T_CONSOLE;
		rt->op = actions[k].op;
		rt->console = find_console(api->cfg, id, (size_t)(slash - id));
		if (post && rt->console < 0) {
			char ids[ECHO_MAX + 4];
			echo(ids, sizeof ids, id, (size_t)(slash - id));
			reply_error(rep, 400, "unknown console '%s'", ids);
			return NULL;
		}
		return "POST";
	}
	/* Remote delegates exist only with a remote section. */
	if (api->delegates) {
		if (rlen == 9 && memcmp(rest, "delegates", 9) == 0) {
			rt->target = T_DELEGATES;
			return "GET, POST";
		}
		if (rlen > 10 && memcmp(rest, "delegates/", 10) == 0 &&
		    path_id(rest + 10, rlen - 10, rt->item, sizeof rt->item)) {
			rt->target = T_DELEGATE;
			return "DELETE";
		}
		static const char sessions[] = "remote/sessions";
		const size_t sl = sizeof sessions - 1;
		if (rlen >= sl && memcmp(rest, sessions, sl) == 0) {
			if (rlen == sl) {
				rt->target = T_SESSIONS;
				return "POST";
			}
			const char *sid = rest + sl + 1;
			const char *end = rest + rlen;
			const char *slash =
				rest[sl] == '/' ? memchr(sid, '/', (size_t)(end - sid)) : NULL;
			if (rest[sl] == '/' && !slash &&
			    path_id(sid, (size_t)(end - sid), rt->item, sizeof rt->item)) {
				rt->target = T_SESSION;
				return "DELETE";
			}
			if (slash && (size_t)(end - slash) == 8 &&
			    memcmp(slash, "/channel", 8) == 0 &&
			    path_id(sid, (size_t)(slash - sid), rt->item, sizeof rt->item)) {
				rt->target = T_SESSION_CHANNEL;
				return "POST";
			}
		}
	}
	reply_error(rep, 404, "no such resource: %s", shown);
	return NULL;
}

/* Resolves everything but the body: authentication (401), path (404),
 * method (405), ids (400), role (403). Returns true to go on to the body;
 * false with *rep filled. */
static bool api_check(struct dm_api *api, const char *method, const char *path, const char *auth,
		      const char *peer, struct route *rt, struct reply *rep)
{
	memset(rt, 0, sizeof *rt);
	rt->console = -1;
	rt->who.booth = -1;
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
	if (!authenticate(api, auth, &rt->who, &why)) {
		/* Never the token itself: only that one failed, where, how, and
		 * for a known delegate, which. */
		if (rt->who.delegate_id[0])
			dm_log(DM_LOG_WARN, "api: %s %s from %s refused: %s (delegate %s, %s)",
			       mshown, shown, peer_or_local(peer), why, rt->who.delegate_id,
			       rt->who.name);
		else
			dm_log(DM_LOG_WARN, "api: %s %s from %s refused: %s", mshown, shown,
			       peer_or_local(peer), why);
		rep->challenge = true;
		reply_error(rep, 401, "%s", why);
		return false;
	}

	static const char prefix[] = "/api/v1/";
	const size_t pre = sizeof prefix - 1;
	bool post = strcmp(method, "POST") == 0;
	const char *allow;
	if (plen == 8 && memcmp(path, "/metrics", 8) == 0) {
		rt->target = T_METRICS;
		allow = "GET";
	} else if (plen < pre || memcmp(path, prefix, pre) != 0) {
		reply_error(rep, 404, "no such resource: %s", shown);
		return false;
	} else {
		allow = api_route(api, path + pre, plen - pre, shown, post, rt, rep);
		if (!allow)
			return false;
	}
	if (!method_allowed(allow, method)) {
		rep->allow = allow;
		reply_error(rep, 405, "%s is not allowed here (%s only)", mshown, allow);
		return false;
	}
	rt->post = post;

	const struct caller *t = &rt->who;
	bool ok;
	if (t->role == DM_ROLE_DELEGATE) {
		/* A delegate at home listens, nothing more: not even the state. */
		ok = is_remote_target(rt->target);
	} else {
		switch (rt->target) {
		case T_STATE:
		case T_EVENTS:
		case T_METERS:
		case T_ALARMS:
		case T_LISTENERS:
		case T_METRICS: ok = true; break;
		case T_FLOOR:
		case T_DELEGATES:
		case T_DELEGATE: ok = t->role == DM_ROLE_TECHNICIAN; break;
		case T_SESSIONS:
		case T_SESSION:
		case T_SESSION_CHANNEL: ok = false; break;
		default:
			ok = t->role == DM_ROLE_TECHNICIAN ||
			     (t->role == DM_ROLE_BOOTH &&
			      console_booth(api->cfg, rt->console) == t->booth);
			break;
		}
	}
	if (!ok) {
		dm_log(DM_LOG_WARN, "api: %s %s from %s refused: forbidden to %s", mshown, shown,
		       peer_or_local(peer), t->who);
		if (t->role == DM_ROLE_DELEGATE)
			reply_error(rep, 403, "a delegate token may only open remote sessions");
		else if (rt->target == T_FLOOR)
			reply_error(rep, 403, "only a technician sets the floor language");
		else if (rt->target == T_DELEGATES || rt->target == T_DELEGATE)
			reply_error(rep, 403, "only a technician manages delegates");
		else if (is_remote_target(rt->target))
			reply_error(rep, 403, "only a delegate token opens remote sessions");
		else
			reply_error(rep, 403, "console %s is not in %s",
				    dm_config_console(api->cfg, (size_t)rt->console)->id, t->who);
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

/* The body as JSON (duplicate keys refused), or NULL with a 400 in *rep. */
static json_t *load_json(const char *body, size_t len, struct reply *rep)
{
	json_error_t err;
	json_t *root = json_loadb(body ? body : "", body ? len : 0, JSON_REJECT_DUPLICATES, &err);
	if (!root) {
		char shown[ECHO_MAX + 4];
		echo(shown, sizeof shown, err.text, strlen(err.text));
		reply_error(rep, 400, "malformed JSON at byte %d: %s", err.position, shown);
	}
	return root;
}

/* Reads the body into *req. Returns false with *rep filled. */
static bool parse_body(struct dm_api *api, const struct route *rt, const char *body, size_t len,
		       struct dm_control_req *req, struct reply *rep)
{
	json_t *root = load_json(body, len, rep);
	if (!root)
		return false;
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

/* A body that must be a JSON object with only the given fields; an empty body
 * is {} when empty_ok. NULL with *rep filled when it is not. */
static json_t *object_body(const char *body, size_t len, bool empty_ok, const char *const *fields,
			   struct reply *rep)
{
	if (empty_ok && (!body || len == 0))
		return json_object();
	json_t *root = load_json(body, len, rep);
	if (!root)
		return NULL;
	if (!json_is_object(root)) {
		json_decref(root);
		reply_error(rep, 400, "the body must be a JSON object");
		return NULL;
	}
	const char *key;
	json_t *v;
	json_object_foreach(root, key, v)
	{
		size_t k = 0;
		while (fields[k] && strcmp(fields[k], key) != 0)
			k++;
		if (!fields[k]) {
			char shown[ECHO_MAX + 4];
			echo(shown, sizeof shown, key, strlen(key));
			reply_error(rep, 400, "unknown field '%s'", shown);
			json_decref(root);
			return NULL;
		}
	}
	return root;
}

/* POST /api/v1/delegates: a new delegate token, shown this once. */
static void add_delegate(struct dm_api *api, const struct route *rt, const char *body, size_t len,
			 struct reply *rep)
{
	static const char *const fields[] = {"name", "valid_s", NULL};
	json_t *root = object_body(body, len, false, fields, rep);
	if (!root)
		return;
	json_t *name = json_object_get(root, "name");
	json_t *valid = json_object_get(root, "valid_s");
	long long valid_s = DM_DELEGATE_VALID_S;
	if (!name) {
		reply_error(rep, 400, "missing field 'name'");
	} else if (!json_is_string(name)) {
		reply_error(rep, 400, "'name' must be a string");
	} else if (valid && !json_is_integer(valid)) {
		reply_error(rep, 400, "'valid_s' must be an integer");
	} else if (valid && (json_integer_value(valid) < DM_DELEGATE_VALID_MIN_S ||
			     json_integer_value(valid) > DM_DELEGATE_VALID_MAX_S)) {
		reply_error(rep, 400, "'valid_s' must be %d to %d seconds", DM_DELEGATE_VALID_MIN_S,
			    DM_DELEGATE_VALID_MAX_S);
	} else {
		if (valid)
			valid_s = (long long)json_integer_value(valid);
		const char *n = json_string_value(name);
		char id[DM_DELEGATE_ID_LEN + 1], token[DM_DELEGATE_TOKEN_LEN + 1];
		long long created = 0, expires = 0;
		int ret = dm_delegates_add(api->delegates, n, valid_s, (long long)time(NULL), id,
					   token, &created, &expires);
		if (ret == DM_EINVAL) {
			reply_error(rep, 400,
				    "'name' must be 1 to %d bytes of printable text (no control "
				    "characters)",
				    DM_DELEGATE_NAME_MAX - 1);
		} else if (ret == DM_ENOSPC) {
			reply_error(rep, 503, "too many delegates still valid (at most %d)",
				    DM_DELEGATES_MAX);
		} else if (ret) {
			reply_error(rep, 500, "cannot issue a delegate token: %s",
				    dm_strerror(ret));
		} else {
			dm_log(DM_LOG_INFO, "api: delegate %s (%s) added by %s, valid until %lld",
			       id, n, rt->who.who, expires);
			reply_json(rep, 201,
				   json_pack("{s:s, s:s, s:s, s:I, s:I}", "id", id, "name", n,
					     "token", token, "created", (json_int_t)created,
					     "expires", (json_int_t)expires));
			OPENSSL_cleanse(token, sizeof token);
		}
	}
	json_decref(root);
}

/* DELETE /api/v1/delegates/{id}: the engine ends its sessions and rotates
 * the keys it could hear, through the revoked hook. */
static void revoke_delegate(struct dm_api *api, const struct route *rt, struct reply *rep)
{
	int ret = dm_delegates_revoke(api->delegates, rt->item, (long long)time(NULL));
	if (ret == DM_ENOENT) {
		reply_error(rep, 404, "no such delegate '%s'", rt->item);
		return;
	}
	if (ret < 0) {
		reply_error(rep, 500, "cannot revoke: %s", dm_strerror(ret));
		return;
	}
	if (ret == 1) {
		dm_log(DM_LOG_INFO, "api: delegate %s revoked by %s", rt->item, rt->who.who);
		if (api->remote.revoked)
			api->remote.revoked(api->remote.user, rt->item);
	}
	reply_json(rep, 200, json_pack("{s:s, s:b}", "id", rt->item, "revoked", 1));
}

/* The "channel" of a remote request as the configuration names it; NULL with
 * *rep filled when it is not a known channel. */
static const char *remote_channel(struct dm_api *api, json_t *v, struct reply *rep)
{
	int ch = channel_of(api, v, "channel", rep);
	return ch < 0 ? NULL : dm_config_channel(api->cfg, (size_t)ch)->id;
}

static void remote_request(struct dm_api *api, const struct route *rt, const char *body, size_t len,
			   struct reply *rep)
{
	const struct dm_api_remote *r = &api->remote;
	const struct caller *c = &rt->who;
	if ((rt->target == T_SESSIONS && !r->session_new) ||
	    (rt->target == T_SESSION_CHANNEL && !r->session_channel) ||
	    (rt->target == T_SESSION && !r->session_end)) {
		reply_error(rep, 404, "not served by this engine");
		return;
	}
	if (rt->target == T_SESSION) {
		int ret = r->session_end(r->user, rt->item, c->delegate_id);
		if (ret == DM_ENOENT)
			reply_error(rep, 404, "no such session");
		else if (ret)
			reply_error(rep, 500, "%s", dm_strerror(ret));
		else
			reply_json(rep, 200, json_object());
		return;
	}
	static const char *const fields[] = {"channel", NULL};
	json_t *root = object_body(body, len, rt->target == T_SESSIONS, fields, rep);
	if (!root)
		return;
	json_t *v = json_object_get(root, "channel");
	const char *channel = NULL;
	if (v && !(channel = remote_channel(api, v, rep))) {
		json_decref(root);
		return;
	}
	if (rt->target == T_SESSIONS) {
		int status = 500;
		char *json = r->session_new(r->user, c->delegate_id, c->name, c->expires, channel,
					    &status);
		if (json) {
			rep->status = 201;
			rep->body = json;
		} else if (status == 400) {
			reply_error(rep, 400, "unknown channel");
		} else if (status == 503) {
			reply_error(rep, 503, "too many remote sessions; try again later");
		} else if (status == 401) {
			/* Revoked or expired between the token check and now. */
			reply_error(rep, 401, "delegate token revoked or expired");
			rep->challenge = true; /* WWW-Authenticate, as every 401 */
		} else if (status == 429) {
			reply_error(rep, 429,
				    "too many sessions for this delegate; end one (DELETE) or wait "
				    "for it to time out");
		} else {
			reply_error(rep, 500, "cannot open a remote session");
		}
	} else if (!channel) {
		reply_error(rep, 400, "missing field 'channel'");
	} else {
		int ret = r->session_channel(r->user, rt->item, c->delegate_id, channel);
		if (ret == DM_ENOENT)
			reply_error(rep, 404, "no such session");
		else if (ret == DM_EINVAL)
			reply_error(rep, 400, "unknown channel");
		else if (ret)
			reply_error(rep, 500, "%s", dm_strerror(ret));
		else
			reply_json(rep, 200, json_pack("{s:s}", "channel", channel));
	}
	json_decref(root);
}

static void api_finish(struct dm_api *api, const struct route *rt, const char *body, size_t len,
		       struct reply *rep)
{
	if (rt->target == T_DELEGATES) {
		if (rt->post) {
			add_delegate(api, rt, body, len, rep);
		} else {
			json_t *list = dm_delegates_list_json(api->delegates);
			if (list)
				reply_json(rep, 200, list);
			else
				reply_error(rep, 500, "out of memory");
		}
		return;
	}
	if (rt->target == T_DELEGATE) {
		revoke_delegate(api, rt, rep);
		return;
	}
	if (is_remote_target(rt->target)) {
		remote_request(api, rt, body, len, rep);
		return;
	}
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

	struct dm_control_req req = {.op = rt->op, .console = rt->console, .who = rt->who.who};
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

/* Answers may carry keys (a remote session's): wiped before their memory
 * goes back. Every body is a NUL-terminated text. */
static void wipe_free(void *p)
{
	if (p) {
		OPENSSL_cleanse(p, strlen(p));
		free(p);
	}
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct reply *rep, bool close)
{
	if (!rep->body) {
		rep->status = 500;
		rep->body = strdup("{\"error\":\"out of memory\"}");
	}
	size_t len = rep->body ? strlen(rep->body) : 0;
	struct MHD_Response *resp =
		MHD_create_response_from_buffer_with_free_callback(len, rep->body, wipe_free);
	if (!resp) {
		wipe_free(rep->body);
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

/* A PEM file for TLS, NUL-terminated as libmicrohttpd wants it (*out,
 * malloc'd; a key must be wiped before it is freed). private: refuse one
 * that group or others may access. */
static int read_pem(const char *what, const char *path, bool private, char **out, size_t *len)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		dm_log(DM_LOG_ERROR, "api: cannot open %s %s: %s", what, path, strerror(e));
		return errno_to_dm(e) == DM_ENOENT ? DM_ENOENT : DM_EIO;
	}
	struct stat st;
	int ret = 0;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		dm_log(DM_LOG_ERROR, "api: %s %s is not a regular file", what, path);
		ret = DM_EIO;
	} else if (private && (st.st_mode & 077)) {
		dm_log(DM_LOG_ERROR, "api: %s %s is accessible by group or others (chmod 600 it)",
		       what, path);
		ret = DM_EPERM;
	} else if (st.st_size <= 0 || st.st_size > TLS_FILE_MAX) {
		dm_log(DM_LOG_ERROR, "api: %s %s is empty or larger than %d bytes", what, path,
		       TLS_FILE_MAX);
		ret = DM_ECONFIG;
	}
	char *buf = ret ? NULL : malloc((size_t)st.st_size + 1);
	if (!ret && !buf)
		ret = DM_ENOMEM;
	size_t n = 0;
	while (!ret && n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			dm_log(DM_LOG_ERROR, "api: cannot read %s %s", what, path);
			ret = DM_EIO;
			break;
		}
		n += (size_t)r;
	}
	close(fd);
	if (ret) {
		if (buf)
			OPENSSL_cleanse(buf, (size_t)st.st_size + 1);
		free(buf);
		return ret;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* Never prompts for a pass phrase: an encrypted key is refused, not asked
 * for on a terminal the service does not have. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* Checks with libcrypto that the certificate and the key are PEM and belong
 * together, so a mistake is named here rather than as a failed start. */
static int check_pem_pair(const char *cert, size_t cert_len, const char *key, size_t key_len)
{
	BIO *cb = BIO_new_mem_buf(cert, (int)cert_len);
	BIO *kb = BIO_new_mem_buf(key, (int)key_len);
	X509 *x = cb ? PEM_read_bio_X509(cb, NULL, no_passphrase, NULL) : NULL;
	EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, no_passphrase, NULL) : NULL;
	int ret = 0;
	if (!cb || !kb) {
		ret = DM_ENOMEM;
	} else if (!x) {
		dm_log(DM_LOG_ERROR, "api: tls_cert does not hold a PEM certificate");
		ret = DM_ECONFIG;
	} else if (!k) {
		dm_log(DM_LOG_ERROR,
		       "api: tls_key does not hold a PEM private key (or it is encrypted)");
		ret = DM_ECONFIG;
	} else if (X509_check_private_key(x, k) != 1) {
		dm_log(DM_LOG_ERROR, "api: tls_key is not the key of tls_cert");
		ret = DM_ECONFIG;
	}
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	return ret;
}

int dm_api_start(struct dm_api *api, const char *listen)
{
	if (!api || !listen || api->daemon)
		return DM_EINVAL;
	struct sockaddr_in sin;
	if (parse_listen(listen, &sin))
		return DM_EINVAL;
	const struct dm_conference_conf *conf = dm_config_conference(api->cfg);
	bool tls = conf->tls_cert[0] && conf->tls_key[0];
	char *cert = NULL, *key = NULL;
	size_t cert_len = 0, key_len = 0;
	if (tls) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			dm_log(DM_LOG_ERROR, "api: this libmicrohttpd has no TLS: cannot serve "
					     "https");
			return DM_ENOTSUP;
		}
		int ret = read_pem("tls_cert", conf->tls_cert, false, &cert, &cert_len);
		if (!ret)
			ret = read_pem("tls_key", conf->tls_key, true, &key, &key_len);
		if (!ret)
			ret = check_pem_pair(cert, cert_len, key, key_len);
		if (ret) {
			free(cert);
			if (key)
				OPENSSL_cleanse(key, key_len);
			free(key);
			return ret;
		}
	}
	api->loopback = (ntohl(sin.sin_addr.s_addr) >> 24) == 127;
	if (!api->loopback && !tls)
		dm_log(DM_LOG_WARN,
		       "api: listening on %s without TLS: tokens and state cross the network "
		       "in clear",
		       listen);
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			     MHD_USE_POLL | MHD_USE_ERROR_LOG | (tls ? MHD_USE_TLS : 0);
	/* libmicrohttpd hands the PEM texts to GnuTLS while it starts, which
	 * copies them: the key is wiped right after. */
	struct MHD_OptionItem tls_opts[] = {
		{MHD_OPTION_HTTPS_MEM_CERT, 0, cert},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, key},
		{MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES},
		{MHD_OPTION_END, 0, NULL},
	};
	/* The logger first: MHD would print the options' own messages itself. */
	api->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, api, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&sin, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)API_CONNECTION_LIMIT, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned int)API_PER_IP_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)API_CONNECTION_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
		NULL, MHD_OPTION_ARRAY, tls ? tls_opts : tls_opts + 3, MHD_OPTION_END);
	free(cert);
	if (key)
		OPENSSL_cleanse(key, key_len);
	free(key);
	if (!api->daemon) {
		dm_log(DM_LOG_ERROR, "api: cannot listen on %s%s", listen,
		       tls ? " (https: see libmicrohttpd's message)" : "");
		return DM_ENET;
	}
	const union MHD_DaemonInfo *di =
		MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_BIND_PORT);
	api->port = di ? di->port : ntohs(sin.sin_port);
	char addr[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &sin.sin_addr, addr, sizeof addr);
	dm_log(DM_LOG_INFO, "api: listening on %s://%s:%u", tls ? "https" : "http", addr,
	       (unsigned)api->port);
	return 0;
}

void dm_api_set_remote(struct dm_api *api, const struct dm_api_remote *remote)
{
	if (api && remote)
		api->remote = *remote;
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
