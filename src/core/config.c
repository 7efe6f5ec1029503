/* dragoman: the conference configuration, parsed by libconfig and checked in
 * full before anything starts.
 *
 * The loader never stops at the first problem: an operator fixing a file for a
 * conference that starts in ten minutes wants every mistake at once, each with
 * its line, like a compiler. Messages are collected and delivered sorted by
 * line once the whole file has been read. */
#include "dragoman/config.h"
#include "dragoman/error.h"
#include "dragoman/keys.h"
#include "dragoman/rproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The floor is not described by a channel entry, so its defaults live here. */

#define PORT_MIN 1024
#define PORT_MAX 65534 /* even, and port + 1 (RTCP) must still exist */

struct dm_config {
	struct dm_conference_conf conf;
	struct dm_channel_conf *channels;
	size_t channel_count;
	struct dm_booth_conf *booths;
	size_t booth_count;
	struct dm_console_conf *consoles;
	size_t console_count;
};

struct problem {
	char *file;
	int line;
	size_t seq; /* report order, to keep the sort stable */
	char *msg;
};

/* What the checks need to know about a channel beyond what the public struct
 * keeps: the id as written (so that a bad id does not cascade into "unknown
 * channel" errors on every console naming it) and where it was. */
struct channel_aux {
	const char *raw_id; /* NULL when absent or not a string */
	const config_setting_t *id_at;
	const config_setting_t *group_at;
	bool addr_ok;
	uint32_t addr; /* host order */
	bool port_ok;  /* an integer that fits a port, even if not a good one */
};

struct console_aux {
	const char *raw_id;
	const config_setting_t *id_at;
	const config_setting_t *live_at;
};

struct booth_aux {
	const char *raw_id;
	const config_setting_t *id_at;
};

struct loader {
	const char *path;
	bool nomem;
	struct problem *problems;
	size_t problem_count;
	size_t problem_cap;
	struct dm_config *cfg;
	struct channel_aux *chan;
	struct console_aux *cons;
	struct booth_aux *booth;
	const config_setting_t *secret_at;
	const config_setting_t *tokens_at;
	bool has_tokens; /* control.tokens_file is there, good or not */
	const config_setting_t *tls_cert_at;
	const config_setting_t *tls_key_at;
	const config_setting_t *remote_at; /* the remote section */
	const config_setting_t *state_at;
};

/* "channel en", "console fr-1": how a message names the thing it is about. */
struct where {
	config_setting_t *group;
	char what[96];
};

static void add_problem(struct loader *ld, const char *file, int line, const char *fmt, va_list ap)
{
	if (ld->nomem)
		return;
	if (ld->problem_count == ld->problem_cap) {
		size_t cap = ld->problem_cap ? 2 * ld->problem_cap : 16;
		struct problem *p = realloc(ld->problems, cap * sizeof *p);
		if (!p) {
			ld->nomem = true;
			return;
		}
		ld->problems = p;
		ld->problem_cap = cap;
	}
	struct problem *p = &ld->problems[ld->problem_count];
	p->file = strdup(file);
	if (!p->file || vasprintf(&p->msg, fmt, ap) < 0) {
		free(p->file);
		ld->nomem = true;
		return;
	}
	p->line = line;
	p->seq = ld->problem_count++;
}

__attribute__((format(printf, 4, 5))) static void report_at(struct loader *ld, const char *file,
							    int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add_problem(ld, file, line, fmt, ap);
	va_end(ap);
}

/* A problem located at setting s (its file too: it may come from an @include). */
__attribute__((format(printf, 3, 4))) static void
report(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	const char *file =
		s && config_setting_source_file(s) ? config_setting_source_file(s) : ld->path;
	va_list ap;
	va_start(ap, fmt);
	add_problem(ld, file, s ? (int)config_setting_source_line(s) : 0, fmt, ap);
	va_end(ap);
}

static int problem_cmp(const void *a, const void *b)
{
	const struct problem *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void deliver_problems(struct loader *ld, dm_config_error_fn on_error, void *user)
{
	if (ld->problem_count) /* qsort wants a non-NULL base even for 0 elements */
		qsort(ld->problems, ld->problem_count, sizeof *ld->problems, problem_cmp);
	for (size_t i = 0; i < ld->problem_count; i++) {
		if (on_error)
			on_error(user, ld->problems[i].file, ld->problems[i].line,
				 ld->problems[i].msg);
		free(ld->problems[i].file);
		free(ld->problems[i].msg);
	}
	free(ld->problems);
	ld->problems = NULL;
	ld->problem_count = 0;
}

/* ---- typed access to the settings of one group ---- */

enum { FIELD_BAD = -1, FIELD_ABSENT = 0, FIELD_OK = 1 };

static config_setting_t *member(const struct where *w, const char *name, struct loader *ld,
				bool required)
{
	config_setting_t *s = config_setting_get_member(w->group, name);
	if (!s && required)
		report(ld, w->group, "%s: missing required setting '%s'", w->what, name);
	return s;
}

static int field_string(struct loader *ld, const struct where *w, const char *name, bool required,
			const char **out, const config_setting_t **at)
{
	config_setting_t *s = member(w, name, ld, required);
	if (!s)
		return FIELD_ABSENT;
	if (at)
		*at = s;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		report(ld, s, "%s: '%s' must be a string (in double quotes)", w->what, name);
		return FIELD_BAD;
	}
	*out = config_setting_get_string(s);
	return FIELD_OK;
}

static int field_int(struct loader *ld, const struct where *w, const char *name, bool required,
		     long long *out, const config_setting_t **at)
{
	config_setting_t *s = member(w, name, ld, required);
	if (!s)
		return FIELD_ABSENT;
	if (at)
		*at = s;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		report(ld, s, "%s: '%s' must be an integer", w->what, name);
		return FIELD_BAD;
	}
	*out = config_setting_get_int64(s);
	return FIELD_OK;
}

/* A number: libconfig reads -6 as an integer and -6.0 as a float; both mean the same. */
static int field_number(struct loader *ld, const struct where *w, const char *name, double *out,
			const config_setting_t **at)
{
	config_setting_t *s = member(w, name, ld, false);
	if (!s)
		return FIELD_ABSENT;
	if (at)
		*at = s;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64: *out = (double)config_setting_get_int64(s); return FIELD_OK;
	case CONFIG_TYPE_FLOAT: *out = config_setting_get_float(s); return FIELD_OK;
	default: report(ld, s, "%s: '%s' must be a number", w->what, name); return FIELD_BAD;
	}
}

static int field_bool(struct loader *ld, const struct where *w, const char *name, bool *out,
		      const config_setting_t **at)
{
	config_setting_t *s = member(w, name, ld, false);
	if (!s)
		return FIELD_ABSENT;
	if (at)
		*at = s;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		report(ld, s, "%s: '%s' must be true or false", w->what, name);
		return FIELD_BAD;
	}
	*out = config_setting_get_bool(s);
	return FIELD_OK;
}

/* Copies a checked string into a fixed field of the public structs. */
static bool copy_text(struct loader *ld, const struct where *w, const char *name,
		      const config_setting_t *at, const char *value, char *dst, size_t cap)
{
	size_t n = strlen(value);
	if (n >= cap) {
		report(ld, at ? at : w->group, "%s: '%s' is too long (at most %zu bytes)", w->what,
		       name, cap - 1);
		return false;
	}
	memcpy(dst, value, n + 1);
	return true;
}

/* A typo in a setting name must not be silently ignored: the default would
 * quietly win, and nobody would notice until the conference. */
static void check_unknown(struct loader *ld, const struct where *w, const char *const *known)
{
	int n = config_setting_length(w->group);
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(w->group, (unsigned)i);
		const char *name = config_setting_name(s);
		bool ok = false;
		for (size_t k = 0; known[k] && !ok; k++)
			ok = name && strcmp(name, known[k]) == 0;
		if (ok)
			continue;
		if (w->what[0])
			report(ld, s, "%s: unknown setting '%s'", w->what, name ? name : "");
		else
			report(ld, s, "unknown setting '%s'", name ? name : "");
	}
}

/* A section (conference = { ... }) or NULL when absent or of the wrong type. */
static config_setting_t *section(struct loader *ld, config_setting_t *root, const char *name,
				 int type, bool required)
{
	config_setting_t *s = config_setting_get_member(root, name);
	if (!s) {
		if (required)
			report(ld, NULL, "missing required setting '%s'", name);
		return NULL;
	}
	if (config_setting_type(s) != type) {
		report(ld, s, "'%s' must be a %s", name,
		       type == CONFIG_TYPE_GROUP ? "group { ... }" : "list ( ... )");
		return NULL;
	}
	return s;
}

/* ---- value checks ---- */

static bool id_chars_ok(const char *id)
{
	for (const char *p = id; *p; p++) {
		char c = *p;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Ids become JACK port names, URL path segments and HKDF info: keep them tame. */
static bool check_id(struct loader *ld, const struct where *w, const config_setting_t *at,
		     const char *id)
{
	if (!*id) {
		report(ld, at, "%s: id is empty", w->what);
		return false;
	}
	if (strlen(id) >= DM_ID_MAX) {
		report(ld, at, "%s: id '%s' is too long (at most %d characters)", w->what, id,
		       DM_ID_MAX - 1);
		return false;
	}
	if (!id_chars_ok(id)) {
		report(ld, at, "%s: id '%s' has characters other than A-Z, a-z, 0-9, _ and -",
		       w->what, id);
		return false;
	}
	return true;
}

static bool parse_ipv4(const char *s, uint32_t *addr)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return false;
	*addr = ntohl(a.s_addr);
	return true;
}

static bool is_multicast(uint32_t addr)
{
	return (addr >> 28) == 0xe; /* 224.0.0.0/4 */
}

static void known_profiles(char *buf, size_t cap)
{
	static const char *const names[] = {"lan", "lan-ultra", "wifi", "internet"};
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (!dm_profile_find(names[i]))
			continue;
		size_t n = strlen(buf);
		snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", names[i]);
	}
}

static void known_suites(char *buf, size_t cap)
{
	static const enum dm_srtp_suite suites[] = {DM_SRTP_AES_CM_128_HMAC_SHA1_80,
						    DM_SRTP_AEAD_AES_128_GCM,
						    DM_SRTP_AEAD_AES_256_GCM};
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
		const char *name = dm_srtp_suite_name(suites[i]);
		if (!name)
			continue;
		size_t n = strlen(buf);
		snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", name);
	}
}

/* ---- sections ---- */

/* Resolves a file named by setting `name` into dst. Returns true when dst holds it. */
static bool resolve_path(struct loader *ld, const struct where *w, const config_setting_t *at,
			 const char *name, const char *file, char *dst, size_t cap)
{
	if (!*file) {
		report(ld, at, "%s: '%s' is empty", w->what, name);
		return false;
	}
	/* Relative to the config file, not to wherever the service was started. */
	const char *slash = strrchr(ld->path, '/');
	int n;
	if (file[0] == '/' || !slash)
		n = snprintf(dst, cap, "%s", file);
	else
		n = snprintf(dst, cap, "%.*s/%s", (int)(slash - ld->path), ld->path, file);
	if (n < 0 || (size_t)n >= cap) {
		dst[0] = '\0';
		report(ld, at, "%s: '%s' is too long", w->what, name);
		return false;
	}
	return true;
}

/* A level in dB within lo..hi; stores it in *dst when it is. */
static void field_level(struct loader *ld, const struct where *w, const char *name, double lo,
			double hi, const char *unit, double *dst)
{
	const config_setting_t *at = NULL;
	double v;
	if (field_number(ld, w, name, &v, &at) != FIELD_OK)
		return;
	if (!(v >= lo && v <= hi)) /* NaN too */
		report(ld, at, "%s: %s %g %s is out of range %g..%g", w->what, name, v, unit, lo,
		       hi);
	else
		*dst = v;
}

static void load_conference(struct loader *ld, config_setting_t *root)
{
	static const char *const known[] = {
		"id",	"name",	     "secret_file",	    "profile",
		"srtp", "interlock", "phones_ceiling_dbfs", "sidetone_db",
		NULL};
	struct dm_conference_conf *c = &ld->cfg->conf;
	struct where w = {.what = "conference"};
	const config_setting_t *at = NULL;
	const char *v;

	c->profile = dm_profile_default();
	c->suite = DM_SRTP_AES_CM_128_HMAC_SHA1_80;
	c->interlock = DM_INTERLOCK_BLOCK;
	c->phones_ceiling_dbfs = DM_DEFAULT_PHONES_CEILING_DBFS;
	c->sidetone_db = DM_DEFAULT_SIDETONE_DB;

	w.group = section(ld, root, "conference", CONFIG_TYPE_GROUP, true);
	if (!w.group)
		return;
	check_unknown(ld, &w, known);

	if (field_string(ld, &w, "id", true, &v, &at) == FIELD_OK && check_id(ld, &w, at, v))
		copy_text(ld, &w, "id", at, v, c->id, sizeof c->id);

	if (field_string(ld, &w, "name", false, &v, &at) == FIELD_OK)
		copy_text(ld, &w, "name", at, v, c->name, sizeof c->name);
	else
		snprintf(c->name, sizeof c->name, "%s", c->id);

	if (field_string(ld, &w, "secret_file", true, &v, &at) == FIELD_OK &&
	    resolve_path(ld, &w, at, "secret_file", v, c->secret_file, sizeof c->secret_file))
		ld->secret_at = at;

	v = DM_DEFAULT_PROFILE;
	at = w.group;
	if (field_string(ld, &w, "profile", false, &v, &at) != FIELD_BAD) {
		const struct dm_profile *p = dm_profile_find(v);
		if (p) {
			c->profile = p;
		} else {
			char names[128];
			known_profiles(names, sizeof names);
			report(ld, at, "%s: unknown profile '%s' (known: %s)", w.what, v, names);
		}
	}

	v = DM_DEFAULT_SRTP_SUITE;
	at = w.group;
	if (field_string(ld, &w, "srtp", false, &v, &at) != FIELD_BAD &&
	    dm_srtp_suite_parse(v, &c->suite) != 0) {
		char names[256];
		known_suites(names, sizeof names);
		report(ld, at, "%s: unknown srtp suite '%s' (known: %s)", w.what, v, names);
	}

	v = DM_DEFAULT_INTERLOCK;
	at = w.group;
	if (field_string(ld, &w, "interlock", false, &v, &at) != FIELD_BAD) {
		if (strcmp(v, "block") == 0)
			c->interlock = DM_INTERLOCK_BLOCK;
		else if (strcmp(v, "override") == 0)
			c->interlock = DM_INTERLOCK_OVERRIDE;
		else
			report(ld, at, "%s: unknown interlock '%s' (known: block, override)",
			       w.what, v);
	}

	field_level(ld, &w, "phones_ceiling_dbfs", DM_PHONES_CEILING_MIN_DBFS, 0, "dBFS",
		    &c->phones_ceiling_dbfs);
	field_level(ld, &w, "sidetone_db", DM_SIDETONE_MIN_DB, 0, "dB", &c->sidetone_db);
}

static void load_jack(struct loader *ld, config_setting_t *root)
{
	static const char *const known[] = {"client_name", "server_name", NULL};
	struct dm_conference_conf *c = &ld->cfg->conf;
	struct where w = {.what = "jack"};
	const config_setting_t *at = NULL;
	const char *v;

	snprintf(c->jack_client, sizeof c->jack_client, "%s", DM_DEFAULT_JACK_CLIENT);
	c->jack_server[0] = '\0';

	w.group = section(ld, root, "jack", CONFIG_TYPE_GROUP, false);
	if (!w.group)
		return;
	check_unknown(ld, &w, known);

	if (field_string(ld, &w, "client_name", false, &v, &at) == FIELD_OK) {
		if (!*v)
			report(ld, at, "%s: 'client_name' is empty", w.what);
		else
			copy_text(ld, &w, "client_name", at, v, c->jack_client,
				  sizeof c->jack_client);
	}
	if (field_string(ld, &w, "server_name", false, &v, &at) == FIELD_OK)
		copy_text(ld, &w, "server_name", at, v, c->jack_server, sizeof c->jack_server);
}

static void load_network(struct loader *ld, config_setting_t *root)
{
	static const char *const known[] = {"interface", "ttl", NULL};
	struct dm_conference_conf *c = &ld->cfg->conf;
	struct where w = {.what = "network"};
	const config_setting_t *at = NULL;
	const char *v;
	long long ttl;
	uint32_t addr;

	snprintf(c->interface, sizeof c->interface, "%s", DM_DEFAULT_INTERFACE);
	c->ttl = DM_DEFAULT_TTL;

	w.group = section(ld, root, "network", CONFIG_TYPE_GROUP, false);
	if (!w.group)
		return;
	check_unknown(ld, &w, known);

	if (field_string(ld, &w, "interface", false, &v, &at) == FIELD_OK) {
		if (parse_ipv4(v, &addr))
			copy_text(ld, &w, "interface", at, v, c->interface, sizeof c->interface);
		else
			report(ld, at,
			       "%s: interface '%s' is not a valid ipv4 address (give the address "
			       "of the venue network card)",
			       w.what, v);
	}
	if (field_int(ld, &w, "ttl", false, &ttl, &at) == FIELD_OK) {
		if (ttl < 0 || ttl > 255)
			report(ld, at, "%s: ttl %lld is out of range 0..255", w.what, ttl);
		else
			c->ttl = (int)ttl;
	}
}

/* "ADDR:PORT" with a dotted IPv4 address and a port 1..65535. */
static bool parse_listen(const char *s, char *addr, size_t addr_cap, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= addr_cap || !all_digits(colon + 1) ||
	    strlen(colon + 1) > 5)
		return false;
	char a[16];
	memcpy(a, s, (size_t)(colon - s));
	a[colon - s] = '\0';
	uint32_t ip;
	unsigned long p = strtoul(colon + 1, NULL, 10);
	if (!parse_ipv4(a, &ip) || p < 1 || p > 65535)
		return false;
	memcpy(addr, a, (size_t)(colon - s) + 1);
	*port = (uint16_t)p;
	return true;
}

/* w's "listen" setting, ADDR:PORT, into listen (as written), addr and port;
 * left as they are when absent or wrong (reported, with example as a model). */
static void field_listen(struct loader *ld, const struct where *w, const char *example,
			 char *listen, size_t listen_cap, char *addr, size_t addr_cap,
			 uint16_t *port)
{
	const char *v;
	const config_setting_t *at = NULL;
	if (field_string(ld, w, "listen", false, &v, &at) != FIELD_OK)
		return;
	if (parse_listen(v, addr, addr_cap, port))
		snprintf(listen, listen_cap, "%s", v);
	else
		report(ld, at,
		       "%s: listen '%s' is not ADDR:PORT with an ipv4 address and a port 1..65535 "
		       "(such as %s)",
		       w->what, v, example);
}

static void load_control(struct loader *ld, config_setting_t *root)
{
	static const char *const known[] = {"listen", "tokens_file", "tls_cert", "tls_key", NULL};
	struct dm_conference_conf *c = &ld->cfg->conf;
	struct where w = {.what = "control"};
	const config_setting_t *at = NULL;
	const char *v;

	/* The default is valid by construction; parse it so addr and port agree. */
	snprintf(c->control_listen, sizeof c->control_listen, "%s", DM_DEFAULT_CONTROL_LISTEN);
	parse_listen(c->control_listen, c->control_addr, sizeof c->control_addr, &c->control_port);
	c->tokens_file[0] = '\0';
	c->tls_cert[0] = '\0';
	c->tls_key[0] = '\0';

	w.group = section(ld, root, "control", CONFIG_TYPE_GROUP, false);
	if (!w.group)
		return;
	check_unknown(ld, &w, known);

	field_listen(ld, &w, "127.0.0.1:8470", c->control_listen, sizeof c->control_listen,
		     c->control_addr, sizeof c->control_addr, &c->control_port);
	int tokens = field_string(ld, &w, "tokens_file", false, &v, &at);
	ld->has_tokens = tokens != FIELD_ABSENT;
	if (tokens == FIELD_OK &&
	    resolve_path(ld, &w, at, "tokens_file", v, c->tokens_file, sizeof c->tokens_file))
		ld->tokens_at = at;

	/* HTTPS needs both: a certificate without its key (or the reverse)
	 * would silently fall back to plain HTTP, tokens in clear. */
	const config_setting_t *cert_at = NULL, *key_at = NULL;
	int cert = field_string(ld, &w, "tls_cert", false, &v, &cert_at);
	if (cert == FIELD_OK &&
	    resolve_path(ld, &w, cert_at, "tls_cert", v, c->tls_cert, sizeof c->tls_cert))
		ld->tls_cert_at = cert_at;
	int key = field_string(ld, &w, "tls_key", false, &v, &key_at);
	if (key == FIELD_OK &&
	    resolve_path(ld, &w, key_at, "tls_key", v, c->tls_key, sizeof c->tls_key))
		ld->tls_key_at = key_at;
	if ((cert == FIELD_ABSENT) != (key == FIELD_ABSENT)) {
		report(ld, cert == FIELD_ABSENT ? key_at : cert_at,
		       "%s: tls_cert and tls_key go together (both for https, or neither)", w.what);
	}
	if (!ld->tls_cert_at || !ld->tls_key_at) {
		c->tls_cert[0] = '\0';
		c->tls_key[0] = '\0';
	}
}

static void load_remote(struct loader *ld, config_setting_t *root)
{
	static const char *const known[] = {"listen", "profile", "state_file", "poll", NULL};
	struct dm_conference_conf *c = &ld->cfg->conf;
	struct where w = {.what = "remote"};
	const config_setting_t *at = NULL;
	const char *v;

	c->remote = false;
	snprintf(c->remote_listen, sizeof c->remote_listen, "%s", DM_DEFAULT_REMOTE_LISTEN);
	parse_listen(c->remote_listen, c->remote_addr, sizeof c->remote_addr, &c->remote_port);
	c->remote_profile = dm_profile_find(DM_DEFAULT_REMOTE_PROFILE);
	c->remote_state_file[0] = '\0';
	c->remote_poll = DM_DEFAULT_REMOTE_POLL;

	w.group = section(ld, root, "remote", CONFIG_TYPE_GROUP, false);
	if (!w.group)
		return;
	c->remote = true;
	ld->remote_at = w.group;
	check_unknown(ld, &w, known);

	field_listen(ld, &w, "0.0.0.0:5100", c->remote_listen, sizeof c->remote_listen,
		     c->remote_addr, sizeof c->remote_addr, &c->remote_port);

	v = DM_DEFAULT_REMOTE_PROFILE;
	at = w.group;
	if (field_string(ld, &w, "profile", false, &v, &at) != FIELD_BAD) {
		const struct dm_profile *p = dm_profile_find(v);
		if (p) {
			c->remote_profile = p;
		} else {
			char names[128];
			known_profiles(names, sizeof names);
			report(ld, at, "%s: unknown profile '%s' (known: %s)", w.what, v, names);
		}
	}

	if (field_string(ld, &w, "state_file", true, &v, &at) == FIELD_OK &&
	    resolve_path(ld, &w, at, "state_file", v, c->remote_state_file,
			 sizeof c->remote_state_file))
		ld->state_at = at;

	field_bool(ld, &w, "poll", &c->remote_poll, NULL);
}

/* What a remote section needs from the rest of the file. */
static void check_remote(struct loader *ld)
{
	const struct dm_config *cfg = ld->cfg;
	if (!ld->remote_at)
		return;
	/* Delegates are issued, and sessions opened, through the control API. */
	if (!ld->has_tokens)
		report(ld, ld->remote_at,
		       "remote: needs control.tokens_file (delegates are managed through the "
		       "control api)");
	/* Sessions hand out the channel keys, and delegates send their tokens:
	 * beyond the engine's own host, only over TLS. (Behind a TLS proxy on
	 * the same host, the API listens on loopback.) */
	if (!cfg->conf.tls_cert[0] && strncmp(cfg->conf.control_addr, "127.", 4) != 0)
		report(ld, ld->remote_at,
		       "remote: the control api listens on %s without tls: delegates' tokens and "
		       "the channel keys would cross the network in clear (set control.tls_cert "
		       "and control.tls_key, or listen on 127.0.0.1)",
		       cfg->conf.control_addr);
	/* One key update carries every channel a remote listener may hear. */
	if (cfg->channel_count > DM_RPROTO_MAX_KEYS)
		report(ld, ld->remote_at,
		       "remote: at most %d channels, the floor included, can be sent to remote "
		       "listeners; this conference has %zu",
		       DM_RPROTO_MAX_KEYS, cfg->channel_count);
}

static void load_recording(struct loader *ld, config_setting_t *root)
{
	static const char *const known[] = {"dir", "rotate_s", NULL};
	struct dm_conference_conf *c = &ld->cfg->conf;
	struct where w = {.what = "recording"};
	const config_setting_t *at = NULL;
	const char *v;
	long long n;

	c->recording_dir[0] = '\0';
	c->recording_rotate_s = 0;
	w.group = section(ld, root, "recording", CONFIG_TYPE_GROUP, false);
	if (!w.group)
		return;
	check_unknown(ld, &w, known);
	if (field_string(ld, &w, "dir", true, &v, &at) == FIELD_OK &&
	    resolve_path(ld, &w, at, "dir", v, c->recording_dir, sizeof c->recording_dir)) {
		struct stat st;
		if (stat(c->recording_dir, &st) != 0 || !S_ISDIR(st.st_mode))
			report(ld, at, "%s: dir %s is not a directory", w.what, c->recording_dir);
	}
	if (field_int(ld, &w, "rotate_s", false, &n, &at) == FIELD_OK) {
		if (n < 60 || n > 86400)
			report(ld, at, "%s: rotate_s %lld is out of range 60..86400", w.what, n);
		else
			c->recording_rotate_s = (int)n;
	}
}

static void load_alarms(struct loader *ld, config_setting_t *root)
{
	static const char *const known[] = {"silence_s", NULL};
	struct dm_conference_conf *c = &ld->cfg->conf;
	struct where w = {.what = "alarms"};
	const config_setting_t *at = NULL;
	long long n;

	c->alarm_silence_s = DM_DEFAULT_ALARM_SILENCE_S;
	w.group = section(ld, root, "alarms", CONFIG_TYPE_GROUP, false);
	if (!w.group)
		return;
	check_unknown(ld, &w, known);
	if (field_int(ld, &w, "silence_s", false, &n, &at) == FIELD_OK) {
		if (n < 1 || n > 3600)
			report(ld, at, "%s: silence_s %lld is out of range 1..3600", w.what, n);
		else
			c->alarm_silence_s = (int)n;
	}
}

/* The floor (index 0) and the channels (1..N) share everything but the id. */
static void load_channel(struct loader *ld, config_setting_t *s, size_t index)
{
	static const char *const known_floor[] = {"name", "language", "group", "port", NULL};
	static const char *const known[] = {"id",   "name",	"language", "group",
					    "port", "fallback", NULL};
	struct dm_channel_conf *ch = &ld->cfg->channels[index];
	struct channel_aux *aux = &ld->chan[index];
	struct where w = {.group = s};
	const config_setting_t *at = NULL;
	const char *v;
	long long port;

	ch->number = (int)index;
	ch->line = (int)config_setting_source_line(s);
	ch->fallback = DM_FALLBACK_FLOOR;

	if (index == 0) {
		snprintf(w.what, sizeof w.what, "floor");
		snprintf(ch->id, sizeof ch->id, "%s", DM_FLOOR_ID);
		aux->raw_id = DM_FLOOR_ID;
		check_unknown(ld, &w, known_floor);
	} else {
		snprintf(w.what, sizeof w.what, "channel %zu", index);
		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			report(ld, s, "%s must be a group { ... }", w.what);
			return;
		}
		if (field_string(ld, &w, "id", true, &v, &at) == FIELD_OK) {
			aux->raw_id = v;
			aux->id_at = at;
			if (strcmp(v, DM_FLOOR_ID) == 0) {
				report(ld, at, "%s: id 'floor' is reserved for channel 0", w.what);
			} else if (all_digits(v)) {
				report(ld, at,
				       "%s: id '%s' must not be a number (numbers name channels by "
				       "position)",
				       w.what, v);
			} else if (check_id(ld, &w, at, v)) {
				snprintf(ch->id, sizeof ch->id, "%s", v);
				snprintf(w.what, sizeof w.what, "channel %s", v);
			}
		}
		check_unknown(ld, &w, known); /* after the id: messages name the channel */
	}

	if (field_string(ld, &w, "name", false, &v, &at) == FIELD_OK)
		copy_text(ld, &w, "name", at, v, ch->name, sizeof ch->name);
	else
		snprintf(ch->name, sizeof ch->name, "%s",
			 index == 0 ? DM_DEFAULT_FLOOR_NAME : ch->id);

	v = index == 0 ? DM_DEFAULT_FLOOR_LANGUAGE : ch->id;
	at = s;
	if (field_string(ld, &w, "language", false, &v, &at) == FIELD_OK) {
		bool ok = *v != '\0';
		for (const char *p = v; *p && ok; p++)
			ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || *p == '-';
		if (!ok) {
			report(ld, at,
			       "%s: language '%s' is not a bcp 47 tag (such as fr or zh-Hans)",
			       w.what, v);
			v = "";
		}
	}
	copy_text(ld, &w, "language", at, v, ch->language, sizeof ch->language);

	if (field_string(ld, &w, "group", true, &v, &aux->group_at) == FIELD_OK) {
		if (parse_ipv4(v, &aux->addr) && is_multicast(aux->addr)) {
			aux->addr_ok = true;
			snprintf(ch->group, sizeof ch->group, "%s", v);
		} else {
			report(ld, aux->group_at,
			       "%s: group '%s' is not an ipv4 multicast address (224.0.0.0/4)",
			       w.what, v);
		}
	}

	if (field_int(ld, &w, "port", true, &port, &at) == FIELD_OK) {
		if (port >= 0 && port <= 65535) {
			aux->port_ok = true;
			ch->port = (uint16_t)port;
		}
		if (port < PORT_MIN || port > PORT_MAX || port % 2)
			report(ld, at,
			       "%s: port %lld must be even and in %d..%d (rtcp uses port + 1)",
			       w.what, port, PORT_MIN, PORT_MAX);
	}

	if (index == 0)
		return;
	v = DM_DEFAULT_FALLBACK;
	at = s;
	if (field_string(ld, &w, "fallback", false, &v, &at) != FIELD_BAD) {
		if (strcmp(v, "floor") == 0)
			ch->fallback = DM_FALLBACK_FLOOR;
		else if (strcmp(v, "silence") == 0)
			ch->fallback = DM_FALLBACK_SILENCE;
		else
			report(ld, at, "%s: unknown fallback '%s' (known: floor, silence)", w.what,
			       v);
	}
}

static const char *channel_label(const struct loader *ld, size_t i)
{
	return ld->cfg->channels[i].id[0] ? ld->cfg->channels[i].id : "(unnamed)";
}

static void check_channels(struct loader *ld)
{
	struct dm_config *cfg = ld->cfg;
	for (size_t i = 1; i < cfg->channel_count; i++) {
		const char *id = ld->chan[i].raw_id;
		if (!id || !*id)
			continue;
		for (size_t j = 1; j < i; j++) {
			if (ld->chan[j].raw_id && strcmp(ld->chan[j].raw_id, id) == 0) {
				report(ld, ld->chan[i].id_at,
				       "duplicate channel id '%s' (first on line %u)", id,
				       config_setting_source_line(ld->chan[j].id_at));
				break;
			}
		}
	}
	/* One group carries RTP on port p and RTCP on p + 1: two channels on one
	 * group need ports at least 2 apart, or listeners get the other's packets. */
	for (size_t i = 1; i < cfg->channel_count; i++) {
		const struct channel_aux *a = &ld->chan[i];
		if (!a->addr_ok || !a->port_ok)
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct channel_aux *b = &ld->chan[j];
			if (!b->addr_ok || !b->port_ok || a->addr != b->addr)
				continue;
			int pa = cfg->channels[i].port, pb = cfg->channels[j].port;
			const char *g = cfg->channels[i].group;
			if (pa == pb) {
				report(ld, a->group_at, "channel %s: %s:%d is already used by %s%s",
				       channel_label(ld, i), g, pa, j ? "channel " : "",
				       channel_label(ld, j));
				break;
			}
			if (pa == pb + 1 || pb == pa + 1) {
				report(ld, a->group_at,
				       "channel %s: %s:%d collides with %s%s on %s:%d (rtcp uses "
				       "port + 1)",
				       channel_label(ld, i), g, pa, j ? "channel " : "",
				       channel_label(ld, j), g, pb);
				break;
			}
		}
	}
}

/* Finds the channel a console names; reports and returns -1 when it cannot. */
static int console_channel(struct loader *ld, const struct where *w, const char *name,
			   const config_setting_t *at, const char *id)
{
	if (strcmp(id, DM_FLOOR_ID) == 0) {
		report(ld, at,
		       "%s: '%s' cannot be the floor (a console cannot output to the floor)",
		       w->what, name);
		return -1;
	}
	for (size_t i = 1; i < ld->cfg->channel_count; i++)
		if (ld->chan[i].raw_id && strcmp(ld->chan[i].raw_id, id) == 0)
			return (int)i;
	report(ld, at, "%s: '%s' names unknown channel '%s'", w->what, name, id);
	return -1;
}

static void load_console(struct loader *ld, config_setting_t *s, size_t index, size_t booth,
			 size_t pos_in_booth)
{
	static const char *const known[] = {"id", "a", "b", "live", NULL};
	struct dm_console_conf *co = &ld->cfg->consoles[index];
	struct console_aux *aux = &ld->cons[index];
	struct where w = {.group = s};
	const config_setting_t *at = NULL;
	const char *v;

	co->a = -1;
	co->b = -1;
	co->line = (int)config_setting_source_line(s);
	const char *booth_id = ld->cfg->booths[booth].id;
	if (booth_id[0])
		snprintf(w.what, sizeof w.what, "console %zu of booth %s", pos_in_booth + 1,
			 booth_id);
	else
		snprintf(w.what, sizeof w.what, "console %zu of booth %zu", pos_in_booth + 1,
			 booth + 1);
	if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
		report(ld, s, "%s must be a group { ... }", w.what);
		return;
	}
	if (field_string(ld, &w, "id", true, &v, &at) == FIELD_OK) {
		aux->raw_id = v;
		aux->id_at = at;
		if (check_id(ld, &w, at, v)) {
			snprintf(co->id, sizeof co->id, "%s", v);
			snprintf(w.what, sizeof w.what, "console %s", v);
		}
	}
	check_unknown(ld, &w, known);

	const config_setting_t *a_at = NULL, *b_at = NULL;
	if (field_string(ld, &w, "a", true, &v, &a_at) == FIELD_OK)
		co->a = console_channel(ld, &w, "a", a_at, v);
	if (field_string(ld, &w, "b", false, &v, &b_at) == FIELD_OK) {
		co->b = console_channel(ld, &w, "b", b_at, v);
		if (co->b > 0 && co->b == co->a) {
			report(ld, b_at, "%s: a and b are the same channel (%s)", w.what,
			       ld->cfg->channels[co->b].id);
			co->b = -1;
		}
	}
	field_bool(ld, &w, "live", &co->live, &aux->live_at);
}

static void load_booths(struct loader *ld, config_setting_t *list)
{
	static const char *const known[] = {"id", "consoles", NULL};
	struct dm_config *cfg = ld->cfg;
	size_t next = 0;

	for (size_t i = 0; i < cfg->booth_count; i++) {
		config_setting_t *s = config_setting_get_elem(list, (unsigned)i);
		struct dm_booth_conf *b = &cfg->booths[i];
		struct where w = {.group = s};
		const config_setting_t *at = NULL;
		const char *v;

		b->line = (int)config_setting_source_line(s);
		b->first_console = next;
		snprintf(w.what, sizeof w.what, "booth %zu", i + 1);
		if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
			report(ld, s, "%s must be a group { ... }", w.what);
			continue;
		}
		if (field_string(ld, &w, "id", true, &v, &at) == FIELD_OK) {
			ld->booth[i].raw_id = v;
			ld->booth[i].id_at = at;
			if (check_id(ld, &w, at, v)) {
				snprintf(b->id, sizeof b->id, "%s", v);
				snprintf(w.what, sizeof w.what, "booth %s", v);
			}
		}
		check_unknown(ld, &w, known);

		config_setting_t *cl = config_setting_get_member(s, "consoles");
		if (!cl)
			continue;
		if (config_setting_type(cl) != CONFIG_TYPE_LIST) {
			report(ld, cl, "%s: 'consoles' must be a list ( ... )", w.what);
			continue;
		}
		int n = config_setting_length(cl);
		for (int k = 0; k < n; k++) {
			load_console(ld, config_setting_get_elem(cl, (unsigned)k), next, i,
				     (size_t)k);
			snprintf(cfg->consoles[next].booth, sizeof cfg->consoles[next].booth, "%s",
				 b->id);
			next++;
		}
		b->console_count = next - b->first_console;
	}
}

static void check_booths(struct loader *ld)
{
	struct dm_config *cfg = ld->cfg;
	for (size_t i = 0; i < cfg->booth_count; i++) {
		const char *id = ld->booth[i].raw_id;
		for (size_t j = 0; id && *id && j < i; j++) {
			if (ld->booth[j].raw_id && strcmp(ld->booth[j].raw_id, id) == 0) {
				report(ld, ld->booth[i].id_at,
				       "duplicate booth id '%s' (first on line %u)", id,
				       config_setting_source_line(ld->booth[j].id_at));
				break;
			}
		}
	}
	for (size_t i = 0; i < cfg->console_count; i++) {
		const char *id = ld->cons[i].raw_id;
		for (size_t j = 0; id && *id && j < i; j++) {
			if (ld->cons[j].raw_id && strcmp(ld->cons[j].raw_id, id) == 0) {
				report(ld, ld->cons[i].id_at,
				       "duplicate console id '%s' (first on line %u)", id,
				       config_setting_source_line(ld->cons[j].id_at));
				break;
			}
		}
	}
	/* `live` is the state at start, reached as if the mics had been switched on
	 * in file order: within a booth the later one takes over from its partner. */
	for (size_t b = 0; b < cfg->booth_count; b++) {
		const struct dm_booth_conf *bo = &cfg->booths[b];
		bool seen = false;
		for (size_t k = bo->console_count; k-- > 0;) {
			struct dm_console_conf *c = &cfg->consoles[bo->first_console + k];
			if (seen)
				c->live = false;
			else
				seen = c->live;
		}
	}
	/* Across booths, the interlock allows one live console per channel: a file
	 * with two would start in a state no request could have produced. */
	for (size_t i = 0; i < cfg->console_count; i++) {
		const struct dm_console_conf *c = &cfg->consoles[i];
		if (!c->live || c->a < 1)
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct dm_console_conf *d = &cfg->consoles[j];
			if (d->live && d->a == c->a) {
				report(ld, ld->cons[i].live_at,
				       "two live consoles on channel %s: %s (booth %s) and %s "
				       "(booth %s); only one booth may be live on a channel",
				       cfg->channels[c->a].id, d->id, d->booth, c->id, c->booth);
				break;
			}
		}
	}
}

static void check_secret(struct loader *ld)
{
	const char *path = ld->cfg->conf.secret_file;
	uint8_t secret[DM_SECRET_LEN];
	struct stat st;

	int rc = dm_secret_load(path, secret);
	explicit_bzero(secret, sizeof secret);
	switch (rc) {
	case 0: return;
	case DM_ENOENT:
		report(ld, ld->secret_at,
		       "secret file %s does not exist; create one with: dragomand --keygen %s",
		       path, path);
		return;
	case DM_EPERM: {
		unsigned mode = stat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0;
		report(ld, ld->secret_at,
		       "secret file %s is %s by group or others (mode %04o); chmod 600 %s", path,
		       (mode & 044) || !mode ? "readable" : "writable", mode, path);
		return;
	}
	case DM_EINVAL:
		report(ld, ld->secret_at,
		       "secret file %s does not hold a valid secret (base64 of %d bytes); create a "
		       "new one with: dragomand --keygen FILE",
		       path, DM_SECRET_LEN);
		return;
	default:
		report(ld, ld->secret_at, "cannot read secret file %s: %s", path, dm_strerror(rc));
		return;
	}
}

/* The tokens grant control of the conference: the same rules as the secret. */
static void check_tokens(struct loader *ld)
{
	const char *path = ld->cfg->conf.tokens_file;
	struct stat st;

	if (stat(path, &st) != 0) {
		char buf[128];
		if (errno == ENOENT)
			report(ld, ld->tokens_at,
			       "tokens file %s does not exist; create it with one 'technician "
			       "TOKEN' or 'booth:BOOTH TOKEN' a line, mode 600",
			       path);
		else
			report(ld, ld->tokens_at, "cannot read tokens file %s: %s", path,
			       strerror_r(errno, buf, sizeof buf));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		report(ld, ld->tokens_at, "tokens file %s is not a regular file", path);
		return;
	}
	unsigned mode = (unsigned)(st.st_mode & 07777);
	if (mode & 077)
		report(ld, ld->tokens_at,
		       "tokens file %s is %s by group or others (mode %04o); chmod 600 %s", path,
		       (mode & 044) ? "readable" : "writable", mode, path);
}

/* A file the engine will read at start: reports why it cannot, returns
 * whether it can. */
static bool check_readable(struct loader *ld, const config_setting_t *at, const char *what,
			   const char *path, struct stat *st)
{
	char buf[128];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			report(ld, at, "%s %s does not exist", what, path);
		else
			report(ld, at, "cannot read %s %s: %s", what, path,
			       strerror_r(e, buf, sizeof buf));
		return false;
	}
	int rc = fstat(fd, st);
	close(fd);
	if (rc != 0 || !S_ISREG(st->st_mode)) {
		report(ld, at, "%s %s is not a regular file", what, path);
		return false;
	}
	return true;
}

/* The TLS key is the server's identity: the same rules as the secret. */
static void check_tls(struct loader *ld)
{
	const struct dm_conference_conf *c = &ld->cfg->conf;
	struct stat cert_st, key_st;
	check_readable(ld, ld->tls_cert_at, "tls_cert", c->tls_cert, &cert_st);
	if (!check_readable(ld, ld->tls_key_at, "tls_key", c->tls_key, &key_st))
		return;
	unsigned mode = (unsigned)(key_st.st_mode & 07777);
	if (mode & 077)
		report(ld, ld->tls_key_at,
		       "tls_key %s is %s by group or others (mode %04o); chmod 600 %s", c->tls_key,
		       (mode & 044) ? "readable" : "writable", mode, c->tls_key);
}

/* The delegates' state file is created at the first start; when it exists it
 * must be private, and when it does not its folder must. */
static void check_state_file(struct loader *ld)
{
	const char *path = ld->cfg->conf.remote_state_file;
	struct stat st;
	char buf[128];
	if (stat(path, &st) == 0) {
		unsigned mode = (unsigned)(st.st_mode & 07777);
		if (!S_ISREG(st.st_mode))
			report(ld, ld->state_at, "remote: state_file %s is not a regular file",
			       path);
		else if (mode & 077)
			report(ld, ld->state_at,
			       "remote: state_file %s is %s by group or others (mode %04o); chmod "
			       "600 %s",
			       path, (mode & 044) ? "readable" : "writable", mode, path);
		return;
	}
	if (errno != ENOENT) {
		report(ld, ld->state_at, "remote: cannot read state_file %s: %s", path,
		       strerror_r(errno, buf, sizeof buf));
		return;
	}
	char dir[sizeof ld->cfg->conf.remote_state_file];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	else
		strcpy(dir, ".");
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		report(ld, ld->state_at, "remote: the folder of state_file %s does not exist",
		       path);
}

/* ---- the loader ---- */

static int list_length(config_setting_t *list)
{
	return list ? config_setting_length(list) : 0;
}

static void load_all(struct loader *ld, config_setting_t *root, bool want_secret)
{
	static const char *const known[] = {"conference", "jack",      "network", "control",
					    "remote",	  "recording", "alarms",  "floor",
					    "channels",	  "booths",    NULL};
	struct dm_config *cfg = ld->cfg;
	struct where w = {.group = root};

	check_unknown(ld, &w, known);
	load_conference(ld, root);
	load_jack(ld, root);
	load_network(ld, root);
	load_control(ld, root);
	load_remote(ld, root);
	load_recording(ld, root);
	load_alarms(ld, root);

	config_setting_t *floor = section(ld, root, "floor", CONFIG_TYPE_GROUP, true);
	config_setting_t *channels = section(ld, root, "channels", CONFIG_TYPE_LIST, false);
	config_setting_t *booths = section(ld, root, "booths", CONFIG_TYPE_LIST, false);

	cfg->channel_count = 1 + (size_t)list_length(channels);
	cfg->booth_count = (size_t)list_length(booths);
	cfg->console_count = 0;
	for (size_t i = 0; i < cfg->booth_count; i++) {
		config_setting_t *b = config_setting_get_elem(booths, (unsigned)i);
		config_setting_t *cl = config_setting_is_group(b)
					       ? config_setting_get_member(b, "consoles")
					       : NULL;
		if (cl && config_setting_is_list(cl))
			cfg->console_count += (size_t)config_setting_length(cl);
	}

	/* calloc(0) may return NULL: allocate at least one of each. */
	cfg->channels = calloc(cfg->channel_count, sizeof *cfg->channels);
	cfg->booths = calloc(cfg->booth_count + 1, sizeof *cfg->booths);
	cfg->consoles = calloc(cfg->console_count + 1, sizeof *cfg->consoles);
	ld->chan = calloc(cfg->channel_count, sizeof *ld->chan);
	ld->booth = calloc(cfg->booth_count + 1, sizeof *ld->booth);
	ld->cons = calloc(cfg->console_count + 1, sizeof *ld->cons);
	if (!cfg->channels || !cfg->booths || !cfg->consoles || !ld->chan || !ld->booth ||
	    !ld->cons) {
		ld->nomem = true;
		return;
	}

	if (floor) {
		load_channel(ld, floor, 0);
	} else {
		/* Still a floor, so that indices and messages stay right. */
		snprintf(cfg->channels[0].id, sizeof cfg->channels[0].id, "%s", DM_FLOOR_ID);
		ld->chan[0].raw_id = DM_FLOOR_ID;
	}
	for (size_t i = 1; i < cfg->channel_count; i++)
		load_channel(ld, config_setting_get_elem(channels, (unsigned)(i - 1)), i);
	check_channels(ld);

	if (booths)
		load_booths(ld, booths);
	check_booths(ld);
	check_remote(ld);

	if (want_secret && ld->secret_at)
		check_secret(ld);
	if (want_secret && ld->tokens_at)
		check_tokens(ld);
	if (want_secret && ld->tls_cert_at && ld->tls_key_at)
		check_tls(ld);
	if (want_secret && ld->state_at)
		check_state_file(ld);
}

static void config_free_parts(struct dm_config *cfg)
{
	free(cfg->channels);
	free(cfg->booths);
	free(cfg->consoles);
	free(cfg);
}

int dm_config_load(const char *path, bool check_secret, dm_config_error_fn on_error, void *user,
		   struct dm_config **out)
{
	if (!path || !out)
		return DM_EINVAL;
	*out = NULL;

	struct loader ld = {.path = path};
	int rc = 0;

	/* libconfig only says "file I/O error": find out why ourselves. */
	FILE *f = fopen(path, "r");
	if (!f) {
		char buf[128];
		report_at(&ld, path, 0, "cannot read %s: %s", path,
			  strerror_r(errno, buf, sizeof buf));
		goto done;
	}
	fclose(f);

	/* @include names a file beside the config, as secret_file does. */
	char *dir = strdup(path);
	if (!dir) {
		ld.nomem = true;
		goto done;
	}
	char *slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	else
		strcpy(dir, ".");

	config_t lc;
	config_init(&lc);
	config_set_include_dir(&lc, dir);
	if (!config_read_file(&lc, path)) {
		if (config_error_type(&lc) == CONFIG_ERR_PARSE)
			report_at(&ld, config_error_file(&lc) ? config_error_file(&lc) : path,
				  config_error_line(&lc), "%s", config_error_text(&lc));
		else
			report_at(&ld, path, 0, "cannot read %s", path);
	} else {
		ld.cfg = calloc(1, sizeof *ld.cfg);
		if (!ld.cfg)
			ld.nomem = true;
		else
			load_all(&ld, config_root_setting(&lc), check_secret);
	}
	free(ld.chan);
	free(ld.booth);
	free(ld.cons);
	config_destroy(&lc);
	free(dir);

done:
	if (ld.nomem)
		rc = DM_ENOMEM;
	else if (ld.problem_count)
		rc = DM_ECONFIG;
	deliver_problems(&ld, on_error, user);
	if (rc == 0) {
		*out = ld.cfg;
	} else if (ld.cfg) {
		config_free_parts(ld.cfg);
	}
	return rc;
}

void dm_config_free(struct dm_config *cfg)
{
	if (cfg)
		config_free_parts(cfg);
}

const struct dm_conference_conf *dm_config_conference(const struct dm_config *cfg)
{
	return cfg ? &cfg->conf : NULL;
}

size_t dm_config_channel_count(const struct dm_config *cfg)
{
	return cfg ? cfg->channel_count : 0;
}

const struct dm_channel_conf *dm_config_channel(const struct dm_config *cfg, size_t i)
{
	return cfg && i < cfg->channel_count ? &cfg->channels[i] : NULL;
}

int dm_config_find_channel(const struct dm_config *cfg, const char *id_or_number)
{
	if (!cfg || !id_or_number)
		return DM_EINVAL;
	for (size_t i = 0; i < cfg->channel_count; i++)
		if (strcmp(cfg->channels[i].id, id_or_number) == 0)
			return (int)i;
	/* Ids are never all digits, so a number is never ambiguous. */
	if (!all_digits(id_or_number) || strlen(id_or_number) > 9)
		return DM_ENOENT;
	unsigned long n = strtoul(id_or_number, NULL, 10);
	return n < cfg->channel_count ? (int)n : DM_ENOENT;
}

size_t dm_config_console_count(const struct dm_config *cfg)
{
	return cfg ? cfg->console_count : 0;
}

const struct dm_console_conf *dm_config_console(const struct dm_config *cfg, size_t i)
{
	return cfg && i < cfg->console_count ? &cfg->consoles[i] : NULL;
}

size_t dm_config_booth_count(const struct dm_config *cfg)
{
	return cfg ? cfg->booth_count : 0;
}

const struct dm_booth_conf *dm_config_booth(const struct dm_config *cfg, size_t i)
{
	return cfg && i < cfg->booth_count ? &cfg->booths[i] : NULL;
}
