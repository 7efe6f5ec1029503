/* dragomanctl: the control API from a shell or a script. HTTP through
 * libcurl, JSON through jansson; the server decides everything, this only
 * builds requests and shows answers. */
#include <curl/curl.h>

#include "dragoman/secmem.h"
#include "tls_pin.h"
#include "reply.h"
#include "token.h"
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PROG "dragomanctl"
#define DEFAULT_URL "http://127.0.0.1:8470"
#define TOKEN_MAX DM_CLIENT_TOKEN_MAX
#define RECONNECT_S 2

static void usage(FILE *f)
{
	fputs("usage: " PROG " [--url URL] [--token-file F] [--ca-file F | --pin SHA256] [--json]\n"
	      "                   COMMAND\n"
	      "\n"
	      "commands:\n"
	      "  state                              channels and consoles\n"
	      "  mic CONSOLE on|off                 switch a mic (hands over within a booth)\n"
	      "  mute CONSOLE on|off                cough: mute while on\n"
	      "  output CONSOLE a|b                 outgoing channel A, or B (retour)\n"
	      "  source CONSOLE floor|CHANNEL       what the console hears (relay)\n"
	      "  volume CONSOLE DB                  headphone volume, -40..+6 dB\n"
	      "  call CONSOLE slow|repeat|technician  a call to the technician / chair\n"
	      "  floor CHANNEL|none                 the floor's language (technician)\n"
	      "  events                             follow every change until interrupted\n"
	      "  delegate add NAME [--valid-s N]    a token for a remote delegate (technician),\n"
	      "                                     valid N s (default 7 days); shown once\n"
	      "  delegate list                      the delegates, revoked and expired ones too\n"
	      "  delegate revoke ID                 ends a delegate's access at once\n"
	      "\n"
	      "options:\n"
	      "  --url URL          the engine's control API (default " DEFAULT_URL "),\n"
	      "                     https://HOST:PORT when it has a certificate\n"
	      "  --token-file F     bearer token, first line of F (default $DRAGOMAN_TOKEN_FILE,\n"
	      "                     else ~/.config/dragoman/token)\n"
	      "  --ca-file F        trust the server's certificate when F (PEM) signed it\n"
	      "                     (default: the system's CAs)\n"
	      "  --pin SHA256       trust only the certificate with this SHA-256 fingerprint,\n"
	      "                     as `openssl x509 -noout -fingerprint -sha256` prints it\n"
	      "                     (colons optional); the host name is then not checked\n"
	      "  --json             print the server's JSON (one event a line with events)\n"
	      "\n"
	      "Exits 0 when the server accepted the request, 1 when it refused it or\n"
	      "could not be reached, 2 on a usage error.\n",
	      f);
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, PROG ": ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n(" PROG " --help for the usage)\n");
	return 2;
}

/* ------------------------------------------------------------------ token */

/* ------------------------------------------------------------------- HTTP */

struct ctl {
	const char *url; /* without a trailing slash */
	char auth[TOKEN_MAX + 32];
	bool json;
	const char *ca_file;
	bool pinned;
	uint8_t pin[DM_TLS_PIN_LEN];
};

/* The server's certificate: a CA file, a pin, or the system's CAs. */
static bool set_tls(CURL *curl, const struct ctl *c)
{
	if (c->ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, c->ca_file);
	(void)dm_tls_cleanse_apply(curl); /* best effort: libcurl on OpenSSL */
	if (c->pinned && dm_tls_pin_apply(curl, c->pin) != 0) {
		fprintf(stderr, PROG ": --pin needs libcurl built with OpenSSL\n");
		return false;
	}
	return true;
}

static struct curl_slist *headers(const struct ctl *c, const char *extra)
{
	struct curl_slist *h = curl_slist_append(NULL, c->auth);
	if (extra)
		h = curl_slist_append(h, extra);
	return h;
}

static void set_url(CURL *curl, const struct ctl *c, const char *path)
{
	size_t n = strlen(c->url) + strlen(path) + 1;
	char *url = malloc(n);
	if (!url)
		return;
	snprintf(url, n, "%s%s", c->url, path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	free(url); /* libcurl keeps its own copy */
}

/* libcurl's words, or ours when the certificate was the problem. */
static const char *why_failed(const struct ctl *c, CURLcode rc)
{
	if (rc == CURLE_PEER_FAILED_VERIFICATION)
		return c->pinned ? "the server's certificate is not the one --pin names"
				 : "the server's certificate is not trusted (give --ca-file F or "
				   "--pin SHA256)";
	return curl_easy_strerror(rc);
}

/* One request; *reply holds the body (caller frees). Returns the HTTP
 * status, or -1 when there was no answer (already reported). */
static long request(const struct ctl *c, const char *method, const char *path, const char *body,
		    char **reply)
{
	*reply = NULL;
	CURL *curl = curl_easy_init();
	if (!curl) {
		fprintf(stderr, PROG ": cannot start libcurl\n");
		return -1;
	}
	if (!set_tls(curl, c)) {
		curl_easy_cleanup(curl);
		return -1;
	}
	struct dm_reply b = {0};
	struct curl_slist *h = headers(c, body ? "Content-Type: application/json" : NULL);
	set_url(curl, c, path);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, dm_reply_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	CURLcode rc = curl_easy_perform(curl);
	long status = -1;
	if (rc != CURLE_OK) {
		fprintf(stderr, PROG ": %s: %s\n", c->url,
			b.overflow ? "the answer is too long" : why_failed(c, rc));
		dm_secmem_free(b.p);
	} else {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		*reply = b.p ? b.p : strdup("");
	}
	dm_client_headers_free(h);
	curl_easy_cleanup(curl);
	return status;
}

/* "dragomanctl: 409: channel fr is held by fr-1" */
static int report_refusal(long status, const char *reply)
{
	json_t *root = json_loads(reply, 0, NULL);
	const char *msg = json_string_value(json_object_get(root, "error"));
	fprintf(stderr, PROG ": %ld: %s\n", status, msg ? msg : (*reply ? reply : "refused"));
	json_decref(root);
	return 1;
}

/* ----------------------------------------------------------------- output */

static const char *str_or(json_t *v, const char *dflt)
{
	const char *s = json_string_value(v);
	return s ? s : dflt;
}

/* Columns counted in characters, not bytes ("Français"). */
static size_t text_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static void cell(const char *s, size_t width)
{
	fputs(s, stdout);
	for (size_t w = text_width(s); w < width + 2; w++)
		putchar(' ');
}

static const char *on_off(json_t *v)
{
	return json_is_true(v) ? "on" : json_is_false(v) ? "off" : "?";
}

static void format_volume(json_t *v, char *out, size_t cap)
{
	if (json_is_number(v))
		snprintf(out, cap, "%+.1f dB", json_number_value(v));
	else
		snprintf(out, cap, "?");
}

static void format_output(json_t *c, char *out, size_t cap)
{
	snprintf(out, cap, "%s (%s)", str_or(json_object_get(c, "output"), "?"),
		 str_or(json_object_get(c, "channel"), "?"));
}

static void print_console_line(json_t *c)
{
	char vol[32], outp[64];
	format_volume(json_object_get(c, "volume_db"), vol, sizeof vol);
	format_output(c, outp, sizeof outp);
	printf("%s: mic %s, mute %s, output %s, source %s, volume %s\n",
	       str_or(json_object_get(c, "id"), "?"), on_off(json_object_get(c, "mic")),
	       on_off(json_object_get(c, "mute")), outp, str_or(json_object_get(c, "source"), "?"),
	       vol);
}

/* Rows of strings printed as aligned columns. */
#define COLS 7
struct table {
	size_t ncols, nrows;
	char *(*rows)[COLS];
	size_t width[COLS];
};

static void table_add(struct table *t, const char *const *cells)
{
	char *(*rows)[COLS] = realloc(t->rows, (t->nrows + 1) * sizeof *rows);
	if (!rows)
		return;
	t->rows = rows;
	for (size_t i = 0; i < t->ncols; i++) {
		rows[t->nrows][i] = strdup(cells[i] ? cells[i] : "");
		size_t w = rows[t->nrows][i] ? text_width(rows[t->nrows][i]) : 0;
		if (w > t->width[i])
			t->width[i] = w;
	}
	t->nrows++;
}

static void table_print(struct table *t)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < t->ncols; i++) {
			const char *s = t->rows[r][i] ? t->rows[r][i] : "";
			if (i + 1 == t->ncols)
				fputs(s, stdout);
			else
				cell(s, t->width[i]);
			free(t->rows[r][i]);
		}
		putchar('\n');
	}
	free(t->rows);
	t->rows = NULL;
	t->nrows = 0;
}

static void print_state(json_t *st)
{
	json_t *conf = json_object_get(st, "conference");
	const char *id =
		json_is_object(conf) ? str_or(json_object_get(conf, "id"), "?") : str_or(conf, "?");
	const char *name = json_is_object(conf) ? str_or(json_object_get(conf, "name"), "") : "";
	printf("conference %s%s%s%s, floor language %s, interlock %s\n\n", id, *name ? " (" : "",
	       name, *name ? ")" : "", str_or(json_object_get(st, "floor_language"), "none"),
	       str_or(json_object_get(st, "interlock"), "?"));

	struct table t = {.ncols = 5};
	table_add(&t, (const char *const[]){"CHANNEL", "NAME", "LANGUAGE", "ON AIR", "PROGRAM"});
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(st, "channels"), i, v)
	{
		table_add(&t, (const char *const[]){
				      str_or(json_object_get(v, "id"), "?"),
				      str_or(json_object_get(v, "name"), ""),
				      str_or(json_object_get(v, "language"), ""),
				      str_or(json_object_get(v, "on_air"), "-"),
				      str_or(json_object_get(v, "program"), "?"),
			      });
	}
	table_print(&t);
	putchar('\n');

	t = (struct table){.ncols = 7};
	table_add(&t, (const char *const[]){"CONSOLE", "BOOTH", "MIC", "MUTE", "OUTPUT", "SOURCE",
					    "VOLUME"});
	json_array_foreach(json_object_get(st, "consoles"), i, v)
	{
		char vol[32], outp[64];
		format_volume(json_object_get(v, "volume_db"), vol, sizeof vol);
		format_output(v, outp, sizeof outp);
		table_add(&t, (const char *const[]){
				      str_or(json_object_get(v, "id"), "?"),
				      str_or(json_object_get(v, "booth"), ""),
				      on_off(json_object_get(v, "mic")),
				      on_off(json_object_get(v, "mute")),
				      outp,
				      str_or(json_object_get(v, "source"), "?"),
				      vol,
			      });
	}
	table_print(&t);
}

/* A 2xx answer: the JSON as it came, or readable (floor_only: of the whole
 * state, the floor language). */
static int print_reply(const struct ctl *c, const char *reply, bool floor_only)
{
	if (c->json) {
		fputs(reply, stdout);
		if (!*reply || reply[strlen(reply) - 1] != '\n')
			putchar('\n');
		return 0;
	}
	json_error_t err;
	json_t *root = json_loads(reply, 0, &err);
	if (!root) {
		fprintf(stderr, PROG ": the server's answer is not JSON: %s\n", err.text);
		return 1;
	}
	if (floor_only)
		printf("floor language %s\n",
		       str_or(json_object_get(root, "floor_language"), "none"));
	else if (json_object_get(root, "consoles"))
		print_state(root);
	else if (json_object_get(root, "mic"))
		print_console_line(root);
	json_decref(root);
	return 0;
}

/* ----------------------------------------------------------------- events */

struct sse {
	const struct ctl *ctl;
	CURL *curl;
	struct dm_reply refusal; /* the body of a non-2xx answer */
	char line[1 << 16];
	size_t len;
	bool overlong;
	char *data;
	size_t data_len;
	char last_id[32];
	bool connected;
};

static void print_event(const struct ctl *c, const char *data)
{
	if (c->json) {
		puts(data);
		fflush(stdout);
		return;
	}
	json_t *ev = json_loads(data, 0, NULL);
	if (!json_is_object(ev)) {
		puts(data);
		json_decref(ev);
		fflush(stdout);
		return;
	}
	/* "2024-05-01T09:00:00.123Z" shows as 09:00:00.123 */
	const char *time = str_or(json_object_get(ev, "time"), "");
	const char *tpos = strchr(time, 'T');
	printf("%.*s %s", tpos ? (int)strcspn(tpos + 1, "Z") : 0, tpos ? tpos + 1 : "",
	       str_or(json_object_get(ev, "type"), "event"));
	const char *key;
	json_t *v;
	json_object_foreach(ev, key, v)
	{
		if (!strcmp(key, "id") || !strcmp(key, "time") || !strcmp(key, "type"))
			continue;
		if (json_is_string(v)) {
			printf(" %s=%s", key, json_string_value(v));
		} else {
			char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
			printf(" %s=%s", key, s ? s : "?");
			free(s);
		}
	}
	putchar('\n');
	fflush(stdout);
	json_decref(ev);
}

/* One line of the stream (without its newline), per the SSE format. */
static void sse_line(struct sse *s, const char *line)
{
	if (!*line) {
		if (s->data) {
			print_event(s->ctl, s->data);
			free(s->data);
			s->data = NULL;
			s->data_len = 0;
		}
		return;
	}
	if (line[0] == ':')
		return; /* a comment: keepalive */
	const char *colon = strchr(line, ':');
	size_t flen = colon ? (size_t)(colon - line) : strlen(line);
	const char *val = colon ? colon + 1 : "";
	if (*val == ' ')
		val++;
	if (flen == 4 && !memcmp(line, "data", 4)) {
		size_t n = strlen(val);
		char *p = realloc(s->data, s->data_len + n + 2);
		if (!p)
			return;
		s->data = p;
		if (s->data_len)
			s->data[s->data_len++] = '\n';
		memcpy(s->data + s->data_len, val, n + 1);
		s->data_len += n;
	} else if (flen == 2 && !memcmp(line, "id", 2)) {
		snprintf(s->last_id, sizeof s->last_id, "%s", val);
	}
}

static size_t on_stream(char *p, size_t size, size_t n, void *user)
{
	struct sse *s = user;
	size_t k = size * n;
	long status = 0;
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299)
		return dm_reply_write(p, size, n, &s->refusal); /* one JSON error, not a stream */
	s->connected = true;
	for (size_t i = 0; i < k; i++) {
		char ch = p[i];
		if (ch == '\n') {
			if (s->len && s->line[s->len - 1] == '\r')
				s->len--;
			s->line[s->len] = '\0';
			if (!s->overlong)
				sse_line(s, s->line);
			s->len = 0;
			s->overlong = false;
		} else if (s->len + 1 < sizeof s->line) {
			s->line[s->len++] = ch;
		} else {
			s->overlong = true;
		}
	}
	return k;
}

static int events(const struct ctl *c)
{
	struct sse s = {.ctl = c};
	bool ever = false;
	for (;;) {
		CURL *curl = curl_easy_init();
		if (!curl)
			return 1;
		if (!set_tls(curl, c)) {
			curl_easy_cleanup(curl);
			free(s.data);
			return 1;
		}
		char last[64];
		snprintf(last, sizeof last, "Last-Event-ID: %s", s.last_id);
		struct curl_slist *h = headers(c, s.last_id[0] ? last : NULL);
		h = curl_slist_append(h, "Accept: text/event-stream");
		set_url(curl, c, "/api/v1/events");
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 5L);
		/* Keepalives come every 15 s: a minute of nothing is a dead link. */
		curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
		curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
		s.curl = curl;
		s.connected = false;
		s.len = 0;
		free(s.data); /* half an event from a broken stream */
		s.data = NULL;
		s.data_len = 0;
		long status = 0;
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_stream);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
		CURLcode rc = curl_easy_perform(curl);
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		dm_client_headers_free(h);
		curl_easy_cleanup(curl);
		if (status && (status < 200 || status > 299)) {
			int ret = report_refusal(status, s.refusal.p ? s.refusal.p : "");
			free(s.refusal.p);
			free(s.data);
			return ret;
		}
		if (!ever && !s.connected) {
			fprintf(stderr, PROG ": %s: %s\n", c->url, why_failed(c, rc));
			free(s.data);
			return 1;
		}
		ever = true;
		fprintf(stderr, PROG ": events: %s; reconnecting\n",
			rc == CURLE_OK ? "the server ended the stream" : curl_easy_strerror(rc));
		sleep(RECONNECT_S);
	}
}

/* --------------------------------------------------------------- commands */

static int want_args(int argc, int n, const char *cmd)
{
	if (argc == n)
		return 0;
	fprintf(stderr, PROG ": %s takes %d argument%s\n(" PROG " --help for the usage)\n", cmd,
		n - 1, n == 2 ? "" : "s");
	return 2;
}

static int post_json(const struct ctl *c, const char *path, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	char *reply = NULL;
	long status = request(c, "POST", path, text, &reply);
	free(text);
	int ret;
	if (status < 0)
		ret = 1;
	else if (status < 200 || status > 299)
		ret = report_refusal(status, reply);
	else
		ret = print_reply(c, reply, !strcmp(path, "/api/v1/floor"));
	dm_secmem_free(reply);
	return ret;
}

static int console_cmd(const struct ctl *c, const char *cmd, const char *console, const char *arg)
{
	json_t *body = NULL;
	if (!strcmp(cmd, "mic") || !strcmp(cmd, "mute")) {
		if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
			return usage_error("expected on or off, not '%s'", arg);
		body = json_pack("{s:b}", "on", !strcmp(arg, "on"));
	} else if (!strcmp(cmd, "output")) {
		if (strcmp(arg, "a") != 0 && strcmp(arg, "b") != 0)
			return usage_error("expected a or b, not '%s'", arg);
		body = json_pack("{s:s}", "channel", arg);
	} else if (!strcmp(cmd, "source")) {
		body = json_pack("{s:s}", "source", arg);
	} else if (!strcmp(cmd, "volume")) {
		char *end;
		errno = 0;
		double db = strtod(arg, &end);
		if (errno || end == arg || *end || !isfinite(db))
			return usage_error("not a number of dB: '%s'", arg);
		body = json_pack("{s:f}", "db", db);
	} else {
		body = json_pack("{s:s}", "message", arg);
	}
	/* Ids are plain, but the path is built from an argument: escape it. */
	CURL *curl = curl_easy_init();
	char *id = curl ? curl_easy_escape(curl, console, 0) : NULL;
	char path[512];
	snprintf(path, sizeof path, "/api/v1/consoles/%s/%s", id ? id : "", cmd);
	curl_free(id);
	curl_easy_cleanup(curl);
	return post_json(c, path, body);
}

/* -------------------------------------------------------------- delegates */

/* Unix seconds as "2025-01-08 10:00 UTC". */
static void format_time(json_t *v, char *out, size_t cap)
{
	struct tm tm;
	time_t t = (time_t)json_integer_value(v);
	if (!json_is_integer(v) || !gmtime_r(&t, &tm) ||
	    !strftime(out, cap, "%Y-%m-%d %H:%M UTC", &tm))
		snprintf(out, cap, "?");
}

/* A request whose 2xx answer is parsed here: *root on success (caller
 * frees), else the exit status. */
static int call_json(const struct ctl *c, const char *method, const char *path, const char *body,
		     json_t **root)
{
	*root = NULL;
	char *reply = NULL;
	long status = request(c, method, path, body, &reply);
	int ret = 0;
	if (status < 0) {
		ret = 1;
	} else if (status < 200 || status > 299) {
		ret = report_refusal(status, reply);
	} else if (c->json) {
		print_reply(c, reply, false);
	} else {
		json_error_t err;
		*root = json_loads(reply, 0, &err);
		if (!*root) {
			fprintf(stderr, PROG ": the server's answer is not JSON: %s\n", err.text);
			ret = 1;
		}
	}
	dm_secmem_free(reply);
	return ret;
}

static int delegate_add(const struct ctl *c, int argc, char **argv)
{
	const char *name = NULL;
	long long valid_s = -1;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--valid-s")) {
			if (++i == argc)
				return usage_error("%s needs a number of seconds", "--valid-s");
			char *end;
			errno = 0;
			valid_s = strtoll(argv[i], &end, 10);
			if (errno || end == argv[i] || *end || valid_s <= 0)
				return usage_error("not a number of seconds: '%s'", argv[i]);
		} else if (!name) {
			name = argv[i];
		} else {
			return usage_error("delegate add takes one NAME (quote it): '%s'", argv[i]);
		}
	}
	if (!name)
		return usage_error("%s", "delegate add needs a NAME");
	json_t *body = json_pack("{s:s}", "name", name);
	if (body && valid_s > 0)
		json_object_set_new(body, "valid_s", json_integer((json_int_t)valid_s));
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return usage_error("the name is not UTF-8 text: '%s'", name);
	json_t *root = NULL;
	int ret = call_json(c, "POST", "/api/v1/delegates", text, &root);
	free(text);
	if (!root)
		return ret;
	char expires[64];
	format_time(json_object_get(root, "expires"), expires, sizeof expires);
	/* One "key value" a line: easy to read, easy to cut in a script. */
	printf("id %s\nname %s\ntoken %s\nexpires %s\n", str_or(json_object_get(root, "id"), "?"),
	       str_or(json_object_get(root, "name"), "?"),
	       str_or(json_object_get(root, "token"), "?"), expires);
	json_decref(root);
	return 0;
}

static int delegate_list(const struct ctl *c)
{
	json_t *root = NULL;
	int ret = call_json(c, "GET", "/api/v1/delegates", NULL, &root);
	if (!root)
		return ret;
	struct table t = {.ncols = 5};
	table_add(&t, (const char *const[]){"ID", "NAME", "CREATED", "EXPIRES", "STATUS"});
	size_t i;
	json_t *v;
	time_t now = time(NULL);
	json_array_foreach(json_object_get(root, "delegates"), i, v)
	{
		char created[64], expires[64];
		json_t *exp = json_object_get(v, "expires");
		format_time(json_object_get(v, "created"), created, sizeof created);
		format_time(exp, expires, sizeof expires);
		const char *status = json_is_true(json_object_get(v, "revoked"))  ? "revoked"
				     : json_integer_value(exp) <= (json_int_t)now ? "expired"
										  : "valid";
		table_add(&t, (const char *const[]){str_or(json_object_get(v, "id"), "?"),
						    str_or(json_object_get(v, "name"), ""), created,
						    expires, status});
	}
	table_print(&t);
	json_decref(root);
	return 0;
}

static int delegate_revoke(const struct ctl *c, const char *id)
{
	CURL *curl = curl_easy_init();
	char *esc = curl ? curl_easy_escape(curl, id, 0) : NULL;
	char path[512];
	snprintf(path, sizeof path, "/api/v1/delegates/%s", esc ? esc : "");
	curl_free(esc);
	curl_easy_cleanup(curl);
	json_t *root = NULL;
	int ret = call_json(c, "DELETE", path, NULL, &root);
	if (!root)
		return ret;
	printf("delegate %s revoked\n", str_or(json_object_get(root, "id"), id));
	json_decref(root);
	return 0;
}

static int delegate_cmd(const struct ctl *c, int argc, char **argv)
{
	if (argc < 2)
		return usage_error("%s", "delegate add|list|revoke");
	const char *sub = argv[1];
	if (!strcmp(sub, "add"))
		return delegate_add(c, argc - 2, argv + 2);
	if (!strcmp(sub, "list")) {
		int r = want_args(argc - 1, 1, "delegate list");
		return r ? r : delegate_list(c);
	}
	if (!strcmp(sub, "revoke")) {
		int r = want_args(argc - 1, 2, "delegate revoke");
		return r ? r : delegate_revoke(c, argv[2]);
	}
	return usage_error("unknown delegate command '%s' (add, list, revoke)", sub);
}

static int run(const struct ctl *c, int argc, char **argv)
{
	const char *cmd = argv[0];
	if (!strcmp(cmd, "state")) {
		int r = want_args(argc, 1, cmd);
		if (r)
			return r;
		char *reply = NULL;
		long status = request(c, "GET", "/api/v1/state", NULL, &reply);
		int ret = status < 0			   ? 1
			  : (status < 200 || status > 299) ? report_refusal(status, reply)
							   : print_reply(c, reply, false);
		dm_secmem_free(reply);
		return ret;
	}
	if (!strcmp(cmd, "events")) {
		int r = want_args(argc, 1, cmd);
		return r ? r : events(c);
	}
	if (!strcmp(cmd, "delegate"))
		return delegate_cmd(c, argc, argv);
	if (!strcmp(cmd, "floor")) {
		int r = want_args(argc, 2, cmd);
		if (r)
			return r;
		json_t *lang = !strcmp(argv[1], "none") ? json_null() : json_string(argv[1]);
		if (!lang)
			return usage_error("not a channel id: '%s'", argv[1]);
		return post_json(c, "/api/v1/floor", json_pack("{s:o}", "language", lang));
	}
	static const char *const console_cmds[] = {"mic",    "mute",   "output",
						   "source", "volume", "call"};
	for (size_t i = 0; i < sizeof console_cmds / sizeof console_cmds[0]; i++) {
		if (!strcmp(cmd, console_cmds[i])) {
			int r = want_args(argc, 3, cmd);
			return r ? r : console_cmd(c, cmd, argv[1], argv[2]);
		}
	}
	return usage_error("unknown command '%s'", cmd);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"url", required_argument, NULL, 'u'},
		{"token-file", required_argument, NULL, 't'},
		{"json", no_argument, NULL, 'j'},
		{"ca-file", required_argument, NULL, 'c'},
		{"pin", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct ctl c = {.url = DEFAULT_URL};
	const char *token_file = NULL;
	int opt;
	/* "delegate add" receives a token: the JSON is cleared. */
	dm_secmem_json_install();
	/* "+": options end at the command, so "volume fr-1 -6" keeps its -6. */
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (opt) {
		case 'u': c.url = optarg; break;
		case 't': token_file = optarg; break;
		case 'j': c.json = true; break;
		case 'c': c.ca_file = optarg; break;
		case 'p':
			if (dm_tls_pin_parse(optarg, c.pin) != 0)
				return usage_error(
					"--pin wants a SHA-256 fingerprint (64 hex digits, "
					"colons optional), not '%s'",
					optarg);
			c.pinned = true;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (c.ca_file && c.pinned)
		return usage_error("%s", "give --ca-file or --pin, not both");
	if (c.ca_file && access(c.ca_file, R_OK) != 0) {
		fprintf(stderr, PROG ": cannot read the CA file %s: %s\n", c.ca_file,
			strerror(errno));
		return 1;
	}

	char url[1024];
	size_t n = strlen(c.url);
	while (n && c.url[n - 1] == '/')
		n--;
	if (n == 0 || n >= sizeof url)
		return usage_error("bad --url '%s'", c.url);
	memcpy(url, c.url, n);
	url[n] = '\0';
	c.url = url;

	char token[TOKEN_MAX + 1];
	int trc = dm_client_token(PROG, token_file, token, sizeof token);
	if (trc)
		return trc;
	snprintf(c.auth, sizeof c.auth, "Authorization: Bearer %s", token);

	if (dm_secmem_curl_init() != 0) {
		fprintf(stderr, PROG ": cannot start libcurl\n");
		return 1;
	}
	int ret = run(&c, argc - optind, argv + optind);
	curl_global_cleanup();
	return ret;
}
