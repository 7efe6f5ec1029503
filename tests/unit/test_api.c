/* Unit tests of the control API: the tokens file, every answer of the request
 * handler driven directly over a real dm_control, and the real libmicrohttpd
 * server on 127.0.0.1 (an ephemeral port) through libcurl: a body over the
 * limit, and an event stream that sees a change made by another request. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "api.h"
#include "control.h"
#include "delegates.h"
#include "dragoman/config.h"
#include "dragoman/error.h"
#include "dragoman/log.h"
#include "router.h"

#define TECH "tech-0123456789abcdef"
#define TECH2 "tech2-0123456789abcdef"
#define BOOTH_FR "booth-fr-0123456789abcdef"
#define BOOTH_ES "booth-es-0123456789abcdef"
#define DELEGATE "delegate-0123456789abcdef"
#define STRANGER "stranger-0123456789abcdef"

/* Booth fr: fr-1 (live) and fr-2 on fr; booth en: en-1 (live) on en; booth
 * es: es-1 on es with en as its B (retour) channel. */
static const char conf_text[] =
	"conference = { id = \"apitest\"; name = \"API test\"; secret_file = \"t.secret\"; };\n"
	"floor = { group = \"239.255.43.0\"; port = 5004; };\n"
	"channels = (\n"
	"  { id = \"en\"; group = \"239.255.43.1\"; port = 5004; },\n"
	"  { id = \"fr\"; group = \"239.255.43.2\"; port = 5004; },\n"
	"  { id = \"es\"; group = \"239.255.43.3\"; port = 5004; }\n"
	");\n"
	"booths = (\n"
	"  { id = \"fr\"; consoles = ( { id = \"fr-1\"; a = \"fr\"; live = true; },\n"
	"                            { id = \"fr-2\"; a = \"fr\"; } ); },\n"
	"  { id = \"en\"; consoles = ( { id = \"en-1\"; a = \"en\"; live = true; } ); },\n"
	"  { id = \"es\"; consoles = ( { id = \"es-1\"; a = \"es\"; b = \"en\"; } ); }\n"
	");\n";

static const char tokens_text[] = "# the test's tokens\n"
				  "technician " TECH "\n"
				  "\n"
				  "technician\t" TECH2 "   # a second technician\r\n"
				  "booth:fr " BOOTH_FR "\n"
				  "  booth:es " BOOTH_ES "\n"
				  "delegate " DELEGATE "\n";

static char tmpdir[64]; /* short: every path below fits */
static char tokens_path[PATH_MAX];
static struct dm_config *cfg;
static struct dm_config *rcfg; /* cfg with a remote section */
static char rstate_path[PATH_MAX];

/* Log lines and tokens-file problems, kept for assertions. */
static char logbuf[16384];
static size_t loglen;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

struct problem {
	int line;
	char msg[256];
};
static struct problem problems[16];
static size_t n_problems;

static void capture_log(void *user, enum dm_log_level level, const char *msg)
{
	(void)user;
	(void)level;
	pthread_mutex_lock(&log_mu);
	int n = snprintf(logbuf + loglen, sizeof logbuf - loglen, "%s\n", msg);
	if (n > 0 && (size_t)n < sizeof logbuf - loglen)
		loglen += (size_t)n;
	pthread_mutex_unlock(&log_mu);
}

static void clear_log(void)
{
	pthread_mutex_lock(&log_mu);
	loglen = 0;
	logbuf[0] = '\0';
	pthread_mutex_unlock(&log_mu);
}

static bool log_has(const char *s)
{
	pthread_mutex_lock(&log_mu);
	bool r = strstr(logbuf, s) != NULL;
	pthread_mutex_unlock(&log_mu);
	return r;
}

static void collect(void *user, const char *file, int line, const char *msg)
{
	(void)user;
	assert_non_null(file);
	if (n_problems < sizeof problems / sizeof problems[0]) {
		problems[n_problems].line = line;
		snprintf(problems[n_problems].msg, sizeof problems[n_problems].msg, "%s", msg);
	}
	n_problems++;
}

/* True when a problem was reported at line and its message holds want. */
static bool reported(int line, const char *want)
{
	for (size_t i = 0; i < n_problems && i < sizeof problems / sizeof problems[0]; i++) {
		if (problems[i].line == line && strstr(problems[i].msg, want))
			return true;
	}
	for (size_t i = 0; i < n_problems && i < sizeof problems / sizeof problems[0]; i++)
		print_message("  got: %d: %s\n", problems[i].line, problems[i].msg);
	return false;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void path_in_tmp(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tmpdir, name);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/dm-test-api-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	char conf[PATH_MAX];
	path_in_tmp(conf, sizeof conf, "t.conf");
	write_file(conf, conf_text, 0600);
	path_in_tmp(tokens_path, sizeof tokens_path, "t.tokens");
	write_file(tokens_path, tokens_text, 0600);
	if (dm_config_load(conf, false, NULL, NULL, &cfg) != 0)
		return -1;
	char rtext[sizeof conf_text + 256];
	snprintf(rtext, sizeof rtext,
		 "%scontrol = { tokens_file = \"t.tokens\"; };\n"
		 "remote = { state_file = \"r-state.json\"; };\n",
		 conf_text);
	path_in_tmp(conf, sizeof conf, "r.conf");
	write_file(conf, rtext, 0600);
	path_in_tmp(rstate_path, sizeof rstate_path, "r-state.json");
	if (dm_config_load(conf, false, NULL, NULL, &rcfg) != 0)
		return -1;
	dm_log_set(capture_log, NULL, DM_LOG_DEBUG);
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	dm_config_free(cfg);
	dm_config_free(rcfg);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		return -1;
	curl_global_cleanup();
	return 0;
}

/* ---------------------------------------------------------------- fixture */

struct fx {
	struct dm_control *ctl;
	struct dm_api *api;
	struct dm_route *route; /* the last one published */
	char *resp;
	json_t *json;
};

static void publish(void *user, struct dm_route *route)
{
	struct fx *f = user;
	dm_route_free(f->route);
	f->route = route;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	if (dm_control_new(cfg, publish, f, &f->ctl) != 0)
		return -1;
	if (dm_api_new(cfg, f->ctl, tokens_path, NULL, NULL, &f->api) != 0)
		return -1;
	clear_log();
	n_problems = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	dm_api_free(f->api);
	dm_control_free(f->ctl);
	dm_route_free(f->route);
	free(f->resp);
	json_decref(f->json);
	free(f);
	return 0;
}

/* One request through dm_api_handle; the answer's JSON is kept in f->json. */
static int req(struct fx *f, const char *method, const char *path, const char *token,
	       const char *body)
{
	char auth[256];
	if (token)
		snprintf(auth, sizeof auth, "Bearer %s", token);
	free(f->resp);
	json_decref(f->json);
	f->resp = NULL;
	f->json = NULL;
	int status = -1;
	dm_api_handle(f->api, method, path, token ? auth : NULL, body, body ? strlen(body) : 0,
		      &status, &f->resp);
	assert_non_null(f->resp);
	json_error_t err;
	f->json = json_loads(f->resp, 0, &err);
	if (!f->json)
		fail_msg("not JSON (%s): %s", err.text, f->resp);
	return status;
}

static int post(struct fx *f, const char *path, const char *token, const char *body)
{
	return req(f, "POST", path, token, body);
}

static const char *error_of(struct fx *f)
{
	const char *e = json_string_value(json_object_get(f->json, "error"));
	assert_non_null(e);
	return e;
}

/* A console's entry in GET /api/v1/state. */
static json_t *console_state(struct fx *f, const char *id)
{
	assert_int_equal(req(f, "GET", "/api/v1/state", TECH, NULL), 200);
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(f->json, "consoles"), i, c)
	{
		if (strcmp(json_string_value(json_object_get(c, "id")), id) == 0)
			return c;
	}
	fail_msg("no console %s in the state", id);
	return NULL;
}

static bool console_mic(struct fx *f, const char *id)
{
	json_t *mic = json_object_get(console_state(f, id), "mic");
	assert_true(json_is_boolean(mic));
	return json_is_true(mic);
}

/* ------------------------------------------------------------ tokens file */

static void drop_route(void *user, struct dm_route *route)
{
	(void)user;
	dm_route_free(route);
}

/* Loads text as a tokens file of the given mode; problems land in problems[]. */
static int load(const char *text, mode_t mode)
{
	char path[PATH_MAX];
	path_in_tmp(path, sizeof path, "case.tokens");
	write_file(path, text, mode);
	struct dm_control *ctl = NULL;
	assert_int_equal(dm_control_new(cfg, drop_route, NULL, &ctl), 0);
	n_problems = 0;
	struct dm_api *api = (struct dm_api *)&n_problems; /* must become NULL on failure */
	int ret = dm_api_new(cfg, ctl, path, collect, NULL, &api);
	if (ret)
		assert_null(api);
	else
		assert_non_null(api);
	dm_api_free(api);
	dm_control_free(ctl);
	return ret;
}

static void api_new_bad_args(void **state)
{
	struct fx *f = *state;
	struct dm_api *api = (struct dm_api *)f;
	assert_int_equal(dm_api_new(NULL, f->ctl, tokens_path, NULL, NULL, &api), DM_EINVAL);
	assert_null(api);
	assert_int_equal(dm_api_new(cfg, NULL, tokens_path, NULL, NULL, &api), DM_EINVAL);
	assert_int_equal(dm_api_new(cfg, f->ctl, NULL, NULL, NULL, &api), DM_EINVAL);
	assert_int_equal(dm_api_new(cfg, f->ctl, "", NULL, NULL, &api), DM_EINVAL);
	assert_int_equal(dm_api_new(cfg, f->ctl, tokens_path, NULL, NULL, NULL), DM_EINVAL);
	dm_api_free(NULL);
	int status = 0;
	char *resp = NULL;
	dm_api_handle(NULL, "GET", "/api/v1/state", NULL, NULL, 0, &status, &resp);
	assert_int_equal(status, 500);
	assert_null(resp);
	assert_int_equal(dm_api_port(NULL), DM_EINVAL);
	assert_int_equal(dm_api_port(f->api), DM_EINVAL); /* not started */
}

static void api_tokens_roles(void **state)
{
	struct fx *f = *state;
	/* Every line of tokens_text was taken, CRLF and trailing comment too. */
	assert_int_equal(req(f, "GET", "/api/v1/state", TECH, NULL), 200);
	assert_int_equal(req(f, "GET", "/api/v1/state", TECH2, NULL), 200);
	assert_int_equal(req(f, "GET", "/api/v1/state", BOOTH_FR, NULL), 200);
	assert_int_equal(req(f, "GET", "/api/v1/state", BOOTH_ES, NULL), 200);
	assert_int_equal(req(f, "GET", "/api/v1/state", DELEGATE, NULL),
			 403); /* known, not allowed */
	assert_int_equal(post(f, "/api/v1/floor", TECH2, "{\"language\":null}"), 200);
	assert_int_equal(post(f, "/api/v1/consoles/es-1/mute", BOOTH_ES, "{\"on\":true}"), 200);
	/* A prefix or an extension of a token is another token. */
	assert_int_equal(req(f, "GET", "/api/v1/state", "tech-0123456789abcde", NULL), 401);
	assert_int_equal(req(f, "GET", "/api/v1/state", TECH "0", NULL), 401);
}

static void api_tokens_missing_file(void **state)
{
	struct fx *f = *state;
	struct dm_api *api = NULL;
	char path[PATH_MAX];
	path_in_tmp(path, sizeof path, "does-not-exist.tokens");
	n_problems = 0;
	assert_int_equal(dm_api_new(cfg, f->ctl, path, collect, NULL, &api), DM_ENOENT);
	assert_null(api);
	assert_true(reported(0, "cannot open"));
}

static void api_tokens_permissions(void **state)
{
	(void)state;
	const char *text = "technician " TECH "\n";
	assert_int_equal(load(text, 0640), DM_EPERM);
	assert_true(reported(0, "group or others"));
	assert_int_equal(load(text, 0604), DM_EPERM);
	assert_int_equal(load(text, 0620), DM_EPERM); /* group may add a token */
	assert_int_equal(load(text, 0400), 0);
	assert_int_equal(load(text, 0600), 0);
}

static void api_tokens_not_regular(void **state)
{
	struct fx *f = *state;
	struct dm_api *api = NULL;
	n_problems = 0;
	assert_int_equal(dm_api_new(cfg, f->ctl, tmpdir, collect, NULL, &api), DM_EINVAL);
	assert_null(api);
	assert_true(reported(0, "not a regular file"));
}

static void api_tokens_unknown_role(void **state)
{
	(void)state;
	assert_int_equal(load("technician " TECH "\nchair " TECH2 "\n", 0600), DM_ECONFIG);
	assert_true(reported(2, "unknown role 'chair'"));
	assert_int_equal(n_problems, 1);
	assert_int_equal(load("booth: " TECH "\n", 0600), DM_ECONFIG);
	assert_true(reported(1, "unknown role"));
}

static void api_tokens_unknown_booth(void **state)
{
	(void)state;
	assert_int_equal(load("# x\nbooth:de " TECH "\n", 0600), DM_ECONFIG);
	assert_true(reported(2, "unknown booth 'de'"));
}

static void api_tokens_duplicate(void **state)
{
	(void)state;
	assert_int_equal(load("technician " TECH "\ndelegate " TECH2 "\nbooth:fr " TECH "\n", 0600),
			 DM_ECONFIG);
	assert_true(reported(3, "duplicate token (also on line 1)"));
	assert_int_equal(n_problems, 1);
	assert_null(strstr(problems[0].msg, TECH));
}

static void api_tokens_malformed(void **state)
{
	(void)state;
	/* Every problem of the file at once, each with its line. */
	assert_int_equal(load("technician\n"
			      "technician short\n"
			      "technician tech-0123456789abcdef!\n"
			      "technician " TECH " " TECH2 "\n"
			      "delegate " DELEGATE "\n",
			      0600),
			 DM_ECONFIG);
	assert_true(reported(1, "missing token"));
	assert_true(reported(2, "16 to 512 characters"));
	assert_true(reported(3, "token may hold only"));
	assert_true(reported(4, "unexpected text after the token"));
	assert_int_equal(n_problems, 4);
	for (size_t i = 0; i < 4; i++)
		assert_null(strstr(problems[i].msg, "0123456789"));

	char nul[] = "technician " TECH "\n";
	char path[PATH_MAX];
	path_in_tmp(path, sizeof path, "nul.tokens");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	nul[12] = '\0'; /* inside the token */
	assert_int_equal(write(fd, nul, sizeof nul - 1), (ssize_t)(sizeof nul - 1));
	close(fd);
	struct dm_control *ctl = NULL;
	assert_int_equal(dm_control_new(cfg, drop_route, NULL, &ctl), 0);
	struct dm_api *api = NULL;
	n_problems = 0;
	assert_int_equal(dm_api_new(cfg, ctl, path, collect, NULL, &api), DM_ECONFIG);
	assert_true(reported(1, "binary data"));
	dm_control_free(ctl);
}

static void api_tokens_empty(void **state)
{
	(void)state;
	assert_int_equal(load("# nobody\n\n   \n", 0600), DM_ECONFIG);
	assert_true(reported(0, "no token"));
	assert_int_equal(load("", 0600), DM_ECONFIG);
}

/* --------------------------------------------------------- request handler */

static void api_no_token_401(void **state)
{
	struct fx *f = *state;
	assert_int_equal(req(f, "GET", "/api/v1/state", NULL, NULL), 401);
	assert_string_equal(error_of(f), "no token");
	assert_true(log_has("GET /api/v1/state from local refused: no token"));
	int status = 0;
	char *resp = NULL;
	dm_api_handle(f->api, "GET", "/api/v1/state", "", NULL, 0, &status, &resp);
	assert_int_equal(status, 401);
	free(resp);
	/* Authentication comes first: nothing about the path leaks. */
	assert_int_equal(req(f, "GET", "/nothing/here", NULL, NULL), 401);
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/mic", NULL, "{\"on\":false}"), 401);
	assert_true(console_mic(f, "fr-1"));
}

static void api_unknown_token_401(void **state)
{
	struct fx *f = *state;
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/mic", STRANGER, "{\"on\":false}"), 401);
	assert_string_equal(error_of(f), "unknown token");
	assert_true(log_has("POST /api/v1/consoles/fr-1/mic from local refused: unknown token"));
	assert_false(log_has(STRANGER));
	assert_false(log_has("0123456789"));
	assert_true(console_mic(f, "fr-1"));
}

static void api_malformed_auth_401(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
		"Basic dGVjaDp4",	 "Bearer",	"Bearer ",
		"Bearer " TECH " extra", "Bearer" TECH, "Token " TECH,
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int status = 0;
		char *resp = NULL;
		dm_api_handle(f->api, "GET", "/api/v1/state", bad[i], NULL, 0, &status, &resp);
		assert_int_equal(status, 401);
		assert_non_null(resp);
		free(resp);
	}
	/* The scheme is case-insensitive, blanks around the token are fine. */
	int status = 0;
	char *resp = NULL;
	dm_api_handle(f->api, "GET", "/api/v1/state", "bearer   " TECH "  ", NULL, 0, &status,
		      &resp);
	assert_int_equal(status, 200);
	free(resp);
	/* A huge header is refused without trouble. */
	char big[4096];
	memcpy(big, "Bearer ", 7);
	memset(big + 7, 'a', sizeof big - 8);
	big[sizeof big - 1] = '\0';
	dm_api_handle(f->api, "GET", "/api/v1/state", big, NULL, 0, &status, &resp);
	assert_int_equal(status, 401);
	free(resp);
}

static void api_unknown_path_404(void **state)
{
	struct fx *f = *state;
	static const char *const paths[] = {
		"/",
		"",
		"/api/v1/",
		"/api/v1/nope",
		"/api/v2/state",
		"/api/v1/state/",
		"/api/v1/stateX",
		"/api/v1/consoles",
		"/api/v1/consoles/",
		"/api/v1/consoles/fr-1",
		"/api/v1/consoles/fr-1/",
		"/api/v1/consoles/fr-1/explode",
		"/api/v1/consoles//mic",
		"/api/v1/consoles/fr-1/mic/extra",
	};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		if (post(f, paths[i], TECH, "{\"on\":true}") != 404)
			fail_msg("%s: not 404: %s", paths[i], f->resp);
	}
	int status = 0;
	char *resp = NULL;
	dm_api_handle(f->api, "GET", NULL, "Bearer " TECH, NULL, 0, &status, &resp);
	assert_int_equal(status, 404);
	free(resp);
	/* Bytes from the path reach the message only as printable ASCII. */
	assert_int_equal(req(f, "GET", "/api/v1/\xff\x01\xc3", TECH, NULL), 404);
	assert_string_equal(error_of(f), "no such resource: /api/v1/???");
}

static void api_wrong_method_405(void **state)
{
	struct fx *f = *state;
	assert_int_equal(post(f, "/api/v1/state", TECH, "{}"), 405);
	assert_int_equal(req(f, "DELETE", "/api/v1/state", TECH, NULL), 405);
	assert_int_equal(req(f, "PUT", "/api/v1/events", TECH, NULL), 405);
	assert_int_equal(req(f, "GET", "/api/v1/consoles/fr-1/mic", TECH, NULL), 405);
	assert_int_equal(req(f, "GET", "/api/v1/consoles/nobody/mic", TECH, NULL), 405);
	assert_int_equal(req(f, "GET", "/api/v1/floor", TECH, NULL), 405);
	assert_int_equal(req(f, "post", "/api/v1/floor", TECH, "{\"language\":null}"), 405);
	assert_int_equal(req(f, NULL, "/api/v1/state", TECH, NULL), 405);
}

static void api_body_too_large_413(void **state)
{
	struct fx *f = *state;
	size_t n = DM_API_MAX_BODY + 1;
	char *body = malloc(n + 1);
	assert_non_null(body);
	/* Valid JSON, only too long: the size alone refuses it. */
	memset(body, ' ', n);
	memcpy(body, "{\"on\":false}", 12);
	body[n] = '\0';
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/mic", TECH, body), 413);
	assert_true(console_mic(f, "fr-1"));
	/* At the limit it is read. */
	body[n - 1] = '\0';
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/mic", TECH, body), 200);
	assert_false(console_mic(f, "fr-1"));
	free(body);
}

static void api_state_200(void **state)
{
	struct fx *f = *state;
	assert_int_equal(req(f, "GET", "/api/v1/state?pretty=1", TECH, NULL), 200);
	assert_true(json_is_array(json_object_get(f->json, "consoles")));
	assert_true(json_is_array(json_object_get(f->json, "channels")));
	assert_int_equal(json_array_size(json_object_get(f->json, "consoles")), 4);
	/* A body on a GET is not looked at. */
	assert_int_equal(req(f, "GET", "/api/v1/state", BOOTH_ES, "not json"), 200);
}

static void api_mic_200(void **state)
{
	struct fx *f = *state;
	/* Handover within the booth: fr-2 on, fr-1 off. */
	assert_int_equal(post(f, "/api/v1/consoles/fr-2/mic", BOOTH_FR, "{\"on\":true}"), 200);
	assert_string_equal(json_string_value(json_object_get(f->json, "id")), "fr-2");
	assert_true(json_is_true(json_object_get(f->json, "mic")));
	assert_false(console_mic(f, "fr-1"));
	assert_int_equal(post(f, "/api/v1/consoles/fr-2/mic", TECH, " { \"on\" : false } "), 200);
	assert_true(json_is_false(json_object_get(f->json, "mic")));
}

static void api_console_ops_200(void **state)
{
	struct fx *f = *state;
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/mute", TECH, "{\"on\":true}"), 200);
	assert_true(json_is_true(json_object_get(f->json, "mute")));
	assert_true(json_is_true(json_object_get(console_state(f, "fr-1"), "mute")));
	assert_int_equal(post(f, "/api/v1/consoles/es-1/output", TECH, "{\"channel\":\"b\"}"), 200);
	assert_string_equal(json_string_value(json_object_get(f->json, "id")), "es-1");
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/source", TECH, "{\"source\":\"en\"}"), 200);
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/source", TECH, "{\"source\":\"floor\"}"),
			 200);
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/volume", TECH, "{\"db\":-12.5}"), 200);
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/volume", TECH, "{\"db\":6}"), 200);
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/call", BOOTH_FR, "{\"message\":\"slow\"}"),
			 200);
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/call", TECH, "{\"message\":\"repeat\"}"),
			 200);
	assert_int_equal(
		post(f, "/api/v1/consoles/fr-1/call", TECH, "{\"message\":\"technician\"}"), 200);
}

static void api_floor_200(void **state)
{
	struct fx *f = *state;
	assert_int_equal(post(f, "/api/v1/floor", TECH, "{\"language\":\"fr\"}"), 200);
	assert_true(json_is_array(json_object_get(f->json, "consoles"))); /* the whole state */
	int64_t before = dm_control_events_last(f->ctl);
	assert_int_equal(post(f, "/api/v1/floor", TECH, "{\"language\":null}"), 200);
	assert_true(dm_control_events_last(f->ctl) > before);
}

static void api_malformed_json_400(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"\"on\"",
		"null",
		"{\"on\":true} x",
		"{\"on\":true}{}",
		"{'on':true}",
		"{on:true}",
		"{\"on\":tru}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (post(f, "/api/v1/consoles/fr-1/mic", TECH, bad[i]) != 400)
			fail_msg("%s: not 400: %s", bad[i], f->resp);
	}
	/* Deep nesting is refused by the parser, not by a crash. */
	char deep[8192];
	memset(deep, '[', sizeof deep - 1);
	deep[sizeof deep - 1] = '\0';
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/mic", TECH, deep), 400);
	/* A NUL inside the body is not the end of it. */
	int status = 0;
	char *resp = NULL;
	dm_api_handle(f->api, "POST", "/api/v1/consoles/fr-1/mic", "Bearer " TECH,
		      "{\"on\":false}\0junk", 17, &status, &resp);
	assert_int_equal(status, 400);
	free(resp);
	assert_true(console_mic(f, "fr-1"));
}

static void api_unknown_field_400(void **state)
{
	struct fx *f = *state;
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/mic", TECH, "{\"on\":false,\"x\":1}"), 400);
	assert_string_equal(error_of(f), "unknown field 'x' (expected 'on')");
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/mic", TECH, "{\"On\":false}"), 400);
	assert_int_equal(post(f, "/api/v1/floor", TECH, "{\"lang\":\"fr\"}"), 400);
	assert_true(console_mic(f, "fr-1"));
}

static void api_missing_field_400(void **state)
{
	struct fx *f = *state;
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/volume", TECH, "{}"), 400);
	assert_string_equal(error_of(f), "missing field 'db'");
}

static void api_duplicate_field_400(void **state)
{
	struct fx *f = *state;
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/mic", TECH, "{\"on\":true,\"on\":false}"),
			 400);
	assert_true(console_mic(f, "fr-1"));
}

static void api_wrong_type_400(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *path, *body;
	} bad[] = {
		{"/api/v1/consoles/fr-1/mic", "{\"on\":1}"},
		{"/api/v1/consoles/fr-1/mic", "{\"on\":\"false\"}"},
		{"/api/v1/consoles/fr-1/mic", "{\"on\":null}"},
		{"/api/v1/consoles/fr-1/mute", "{\"on\":[true]}"},
		{"/api/v1/consoles/es-1/output", "{\"channel\":1}"},
		{"/api/v1/consoles/fr-1/source", "{\"source\":2}"},
		{"/api/v1/consoles/fr-1/source", "{\"source\":null}"},
		{"/api/v1/consoles/fr-1/volume", "{\"db\":\"-3\"}"},
		{"/api/v1/consoles/fr-1/volume", "{\"db\":true}"},
		{"/api/v1/consoles/fr-1/call", "{\"message\":true}"},
		{"/api/v1/floor", "{\"language\":3}"},
		{"/api/v1/floor", "{\"language\":false}"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (post(f, bad[i].path, TECH, bad[i].body) != 400)
			fail_msg("%s %s: not 400: %s", bad[i].path, bad[i].body, f->resp);
	}
	assert_true(console_mic(f, "fr-1"));
}

static void api_unknown_console_400(void **state)
{
	struct fx *f = *state;
	assert_int_equal(post(f, "/api/v1/consoles/de-1/mic", TECH, "{\"on\":true}"), 400);
	assert_string_equal(error_of(f), "unknown console 'de-1'");
	/* Ids are exact: no prefix, no case folding. */
	assert_int_equal(post(f, "/api/v1/consoles/fr-/mic", TECH, "{\"on\":true}"), 400);
	assert_int_equal(post(f, "/api/v1/consoles/FR-1/mic", TECH, "{\"on\":true}"), 400);
	/* Before the role: a booth token learns nothing more than with a valid id. */
	assert_int_equal(post(f, "/api/v1/consoles/xx/mic", BOOTH_FR, "{\"on\":true}"), 400);
}

static void api_unknown_channel_400(void **state)
{
	struct fx *f = *state;
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/source", TECH, "{\"source\":\"de\"}"), 400);
	assert_string_equal(error_of(f), "unknown channel 'de'");
	assert_int_equal(post(f, "/api/v1/floor", TECH, "{\"language\":\"de\"}"), 400);
	assert_int_equal(post(f, "/api/v1/floor", TECH, "{\"language\":\"floor\"}"), 400);
	assert_int_equal(post(f, "/api/v1/floor", TECH, "{\"language\":\"\"}"), 400);
}

static void api_out_of_range_400(void **state)
{
	struct fx *f = *state;
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/volume", TECH, "{\"db\":6.5}"), 400);
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/volume", TECH, "{\"db\":-41}"), 400);
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/volume", TECH, "{\"db\":1e400}"), 400);
	/* No B channel on fr-1; relay of its own output; unknown enum values. */
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/output", TECH, "{\"channel\":\"b\"}"), 400);
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/source", TECH, "{\"source\":\"fr\"}"), 400);
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/output", TECH, "{\"channel\":\"c\"}"), 400);
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/output", TECH, "{\"channel\":\"A\"}"), 400);
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/call", TECH, "{\"message\":\"louder\"}"),
			 400);
	assert_true(json_is_string(json_object_get(f->json, "error")));
}

static void api_interlock_409(void **state)
{
	struct fx *f = *state;
	/* es-1 moves to its B channel, en, which en-1 (another booth) holds. */
	assert_int_equal(post(f, "/api/v1/consoles/es-1/output", BOOTH_ES, "{\"channel\":\"b\"}"),
			 200);
	assert_int_equal(post(f, "/api/v1/consoles/es-1/mic", BOOTH_ES, "{\"on\":true}"), 409);
	assert_string_equal(json_string_value(json_object_get(f->json, "holder")), "en-1");
	assert_string_equal(json_string_value(json_object_get(f->json, "channel")), "en");
	assert_true(strlen(error_of(f)) > 0);
	assert_false(console_mic(f, "es-1"));
	assert_true(console_mic(f, "en-1"));
}

static void api_booth_isolation_403(void **state)
{
	struct fx *f = *state;
	assert_int_equal(post(f, "/api/v1/consoles/es-1/mic", BOOTH_FR, "{\"on\":true}"), 403);
	assert_string_equal(error_of(f), "console es-1 is not in booth:fr");
	assert_true(log_has("refused: forbidden to booth:fr"));
	assert_false(console_mic(f, "es-1"));
	assert_int_equal(post(f, "/api/v1/consoles/en-1/volume", BOOTH_ES, "{\"db\":0}"), 403);
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/call", BOOTH_ES, "{\"message\":\"slow\"}"),
			 403);
	/* The role is checked before the body: a bad body still answers 403. */
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/mic", BOOTH_ES, "garbage"), 403);
	assert_int_equal(post(f, "/api/v1/floor", BOOTH_FR, "{\"language\":\"fr\"}"), 403);
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/mic", BOOTH_FR, "{\"on\":false}"), 200);
	assert_int_equal(post(f, "/api/v1/consoles/es-1/mic", BOOTH_ES, "{\"on\":true}"), 200);
	assert_true(console_mic(f, "es-1"));
}

/* A delegate listens and nothing more: not even the state or the listeners. */
static void api_delegate_remote_only_403(void **state)
{
	struct fx *f = *state;
	static const char *const reads[] = {"/api/v1/state",  "/api/v1/events",	   "/api/v1/meters",
					    "/api/v1/alarms", "/api/v1/listeners", "/metrics"};
	for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
		if (req(f, "GET", reads[i], DELEGATE, NULL) != 403)
			fail_msg("%s: not 403: %s", reads[i], f->resp);
		assert_string_equal(error_of(f), "a delegate token may only open remote sessions");
	}
	assert_true(log_has("refused: forbidden to delegate"));
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/mic", DELEGATE, "{\"on\":false}"), 403);
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/call", DELEGATE, "{\"message\":\"slow\"}"),
			 403);
	assert_int_equal(post(f, "/api/v1/floor", DELEGATE, "{\"language\":null}"), 403);
	assert_true(console_mic(f, "fr-1"));
}

static void api_events_last_id(void **state)
{
	struct fx *f = *state;
	assert_int_equal(req(f, "GET", "/api/v1/events", TECH, NULL), 200);
	json_int_t before = json_integer_value(json_object_get(f->json, "last_event_id"));
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/mute", TECH, "{\"on\":true}"), 200);
	assert_int_equal(req(f, "GET", "/api/v1/events", BOOTH_FR, NULL), 200);
	assert_true(json_integer_value(json_object_get(f->json, "last_event_id")) > before);
	assert_int_equal(req(f, "GET", "/api/v1/events", NULL, NULL), 401);
}

/* ------------------------------------------------------------ HTTP server */

static void api_start_bad_listen(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
		"",
		"127.0.0.1",
		"127.0.0.1:",
		":8470",
		"localhost:8470",
		"[::1]:8470",
		"::1:8470",
		"127.0.0.1:65536",
		"127.0.0.1:80x",
		"127.0.0.1:-1",
		"127.0.0.1:000080",
		"127.0.0.256:80",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (dm_api_start(f->api, bad[i]) != DM_EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	}
	assert_int_equal(dm_api_start(f->api, NULL), DM_EINVAL);
	assert_int_equal(dm_api_start(NULL, "127.0.0.1:0"), DM_EINVAL);
	assert_int_equal(dm_api_start(f->api, "127.0.0.1:0"), 0);
	assert_int_equal(dm_api_start(f->api, "127.0.0.1:0"), DM_EINVAL); /* already */
	assert_true(dm_api_port(f->api) > 0);
	assert_false(log_has("without TLS"));
}

static void api_start_port_in_use(void **state)
{
	struct fx *f = *state;
	assert_int_equal(dm_api_start(f->api, "127.0.0.1:0"), 0);
	char listen[32];
	snprintf(listen, sizeof listen, "127.0.0.1:%d", dm_api_port(f->api));
	struct dm_api *other = NULL;
	assert_int_equal(dm_api_new(cfg, f->ctl, tokens_path, NULL, NULL, &other), 0);
	assert_int_equal(dm_api_start(other, listen), DM_ENET);
	assert_int_equal(dm_api_port(other), DM_EINVAL);
	dm_api_free(other);
}

static void api_start_non_loopback_warns(void **state)
{
	struct fx *f = *state;
	assert_int_equal(dm_api_start(f->api, "0.0.0.0:0"), 0);
	assert_true(log_has("without TLS"));
}

/* One HTTP exchange with libcurl. */
struct http {
	long status;
	char body[8192];
	size_t len;
	char headers[4096];
	size_t hlen;
};

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
	struct http *h = user;
	size_t k = size * n;
	size_t room = sizeof h->body - 1 - h->len;
	memcpy(h->body + h->len, p, k < room ? k : room);
	h->len += k < room ? k : room;
	h->body[h->len] = '\0';
	return k;
}

static size_t on_header(char *p, size_t size, size_t n, void *user)
{
	struct http *h = user;
	size_t k = size * n;
	size_t room = sizeof h->headers - 1 - h->hlen;
	memcpy(h->headers + h->hlen, p, k < room ? k : room);
	h->hlen += k < room ? k : room;
	h->headers[h->hlen] = '\0';
	return k;
}

/* A chunked upload: the server sees no Content-Length. */
struct upload {
	size_t left;
};

static size_t on_read(char *p, size_t size, size_t n, void *user)
{
	struct upload *u = user;
	size_t k = size * n < u->left ? size * n : u->left;
	memset(p, ' ', k);
	u->left -= k;
	return k;
}

static CURLcode http(int port, const char *method, const char *path, const char *token,
		     const char *body, size_t len, bool chunked, struct http *h)
{
	memset(h, 0, sizeof *h);
	char url[256], auth[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	CURL *c = curl_easy_init();
	assert_non_null(c);
	struct curl_slist *hdr = NULL;
	if (token) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
		hdr = curl_slist_append(hdr, auth);
	}
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	struct upload up = {len};
	if (chunked)
		hdr = curl_slist_append(hdr, "Transfer-Encoding: chunked");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (chunked) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, &up);
	} else if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return rc;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) * 1e-9;
}

static void api_http_requests(void **state)
{
	struct fx *f = *state;
	assert_int_equal(dm_api_start(f->api, "127.0.0.1:0"), 0);
	int port = dm_api_port(f->api);
	struct http h;

	assert_int_equal(http(port, "GET", "/api/v1/state", TECH, NULL, 0, false, &h), CURLE_OK);
	assert_int_equal(h.status, 200);
	assert_non_null(strstr(h.headers, "application/json"));
	assert_non_null(strstr(h.body, "\"consoles\""));

	assert_int_equal(http(port, "GET", "/api/v1/state", NULL, NULL, 0, false, &h), CURLE_OK);
	assert_int_equal(h.status, 401);
	assert_non_null(strstr(h.headers, "WWW-Authenticate: Bearer"));
	assert_true(log_has("from 127.0.0.1 refused: no token"));

	assert_int_equal(http(port, "GET", "/api/v1/floor", TECH, NULL, 0, false, &h), CURLE_OK);
	assert_int_equal(h.status, 405);
	assert_non_null(strstr(h.headers, "Allow: POST"));

	const char *off = "{\"on\":false}";
	assert_int_equal(http(port, "POST", "/api/v1/consoles/fr-1/mic", BOOTH_FR, off, strlen(off),
			      false, &h),
			 CURLE_OK);
	assert_int_equal(h.status, 200);
	assert_non_null(strstr(h.body, "\"fr-1\""));
	assert_false(console_mic(f, "fr-1"));

	/* 70 KiB: refused from its Content-Length, before the body is read. */
	size_t big = 70 * 1024;
	char *body = malloc(big);
	assert_non_null(body);
	memset(body, ' ', big);
	memcpy(body, "{\"on\":true}", 11);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	http(port, "POST", "/api/v1/consoles/fr-1/mic", TECH, body, big, false, &h);
	assert_int_equal(h.status, 413);
	assert_true(seconds_since(&t0) < 5.0);
	/* The same without a Content-Length (chunked). */
	http(port, "POST", "/api/v1/consoles/fr-1/mic", TECH, NULL, big, true, &h);
	assert_int_equal(h.status, 413);
	free(body);
	assert_false(console_mic(f, "fr-1"));

	/* The server still answers after both. */
	assert_int_equal(http(port, "GET", "/api/v1/state", BOOTH_ES, NULL, 0, false, &h),
			 CURLE_OK);
	assert_int_equal(h.status, 200);
}

/* An SSE subscriber on its own thread: collects the stream until it holds
 * `want` complete events (or times out). */
struct sub {
	int port;
	const char *last_event_id;
	int want;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char buf[16384];
	size_t len;
	bool subscribed;
	int events;
	long status;
	CURLcode rc;
};

static size_t sub_write(char *p, size_t size, size_t n, void *user)
{
	struct sub *s = user;
	size_t k = size * n;
	pthread_mutex_lock(&s->mu);
	size_t room = sizeof s->buf - 1 - s->len;
	memcpy(s->buf + s->len, p, k < room ? k : room);
	s->len += k < room ? k : room;
	s->buf[s->len] = '\0';
	s->subscribed = strstr(s->buf, ": subscribed\n\n") != NULL;
	s->events = 0;
	for (const char *q = s->buf; (q = strstr(q, "\ndata: ")); q++) {
		if (strstr(q + 1, "\n\n"))
			s->events++;
	}
	bool done = s->events >= s->want;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return done ? 0 : k; /* 0 ends the transfer */
}

static void *sub_run(void *arg)
{
	struct sub *s = arg;
	char url[128], last[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/events", s->port);
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = curl_slist_append(NULL, "Authorization: Bearer " BOOTH_FR);
	if (s->last_event_id) {
		snprintf(last, sizeof last, "Last-Event-ID: %s", s->last_event_id);
		hdr = curl_slist_append(hdr, last);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sub_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	s->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	pthread_mutex_lock(&s->mu);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void sub_init(struct sub *s, int port, const char *last, int want)
{
	memset(s, 0, sizeof *s);
	s->port = port;
	s->last_event_id = last;
	s->want = want;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
}

static void sub_wait_subscribed(struct sub *s)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 5;
	pthread_mutex_lock(&s->mu);
	while (!s->subscribed && pthread_cond_timedwait(&s->cv, &s->mu, &dl) == 0)
		;
	bool ok = s->subscribed;
	pthread_mutex_unlock(&s->mu);
	assert_true(ok);
}

static void api_http_events(void **state)
{
	struct fx *f = *state;
	assert_int_equal(dm_api_start(f->api, "127.0.0.1:0"), 0);
	int port = dm_api_port(f->api);

	/* Without a token: 401, no stream. */
	struct http h;
	assert_int_equal(http(port, "GET", "/api/v1/events", NULL, NULL, 0, false, &h), CURLE_OK);
	assert_int_equal(h.status, 401);

	struct sub s;
	sub_init(&s, port, NULL, 1);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, sub_run, &s), 0);
	sub_wait_subscribed(&s);
	int64_t before = dm_control_events_last(f->ctl);
	const char *on = "{\"on\":true}";
	assert_int_equal(
		http(port, "POST", "/api/v1/consoles/fr-1/mute", TECH, on, strlen(on), false, &h),
		CURLE_OK);
	assert_int_equal(h.status, 200);
	pthread_join(th, NULL);
	assert_int_equal(s.status, 200);
	assert_int_equal(s.rc, CURLE_WRITE_ERROR); /* we hung up after the event */
	assert_true(s.events >= 1);
	/* Only events after the subscription, with their ids. */
	char want[64];
	snprintf(want, sizeof want, "\nid: %lld\ndata: {", (long long)before + 1);
	assert_non_null(strstr(s.buf, want));
	snprintf(want, sizeof want, "id: %lld\n", (long long)before);
	assert_null(strstr(s.buf, want));
	const char *data = strstr(s.buf, "data: ") + 6;
	json_t *ev = json_loadb(data, strcspn(data, "\n"), 0, NULL);
	assert_true(json_is_object(ev));
	json_decref(ev);
	pthread_mutex_destroy(&s.mu);
	pthread_cond_destroy(&s.cv);

	/* Resuming after Last-Event-ID: the missed events come first. */
	const char *unmute = "{\"on\":false}";
	assert_int_equal(http(port, "POST", "/api/v1/consoles/fr-1/mute", TECH, unmute,
			      strlen(unmute), false, &h),
			 CURLE_OK);
	assert_int_equal(h.status, 200);
	sub_init(&s, port, "0", 2);
	assert_int_equal(pthread_create(&th, NULL, sub_run, &s), 0);
	pthread_join(th, NULL);
	assert_int_equal(s.status, 200);
	assert_true(s.events >= 2);
	assert_non_null(strstr(s.buf, "\nid: 1\ndata: {"));
	assert_non_null(strstr(s.buf, "\nid: 2\ndata: {"));
	pthread_mutex_destroy(&s.mu);
	pthread_cond_destroy(&s.cv);
}

/* ------------------------------------------------------- remote delegates */

/* The remote hooks, faked: what they were called with, and one session "S1"
 * of the delegate that opened it. */
static struct {
	int new_calls, channel_calls, end_calls, revoked_calls;
	char delegate_id[64], name[DM_DELEGATE_NAME_MAX], channel[DM_ID_MAX];
	bool channel_null;
	long long expires;
	int new_status; /* 201: succeed; else fail with it */
	char revoked_id[32];
} fake;

static char *fake_session_new(void *user, const char *delegate_id, const char *name,
			      long long expires, const char *channel, int *status)
{
	assert_ptr_equal(user, &fake);
	fake.new_calls++;
	snprintf(fake.delegate_id, sizeof fake.delegate_id, "%s", delegate_id);
	snprintf(fake.name, sizeof fake.name, "%s", name);
	fake.channel_null = channel == NULL;
	snprintf(fake.channel, sizeof fake.channel, "%s", channel ? channel : "");
	fake.expires = expires;
	*status = fake.new_status;
	if (fake.new_status != 201)
		return NULL;
	return strdup("{\"session\":\"S1\",\"fake\":true}");
}

static int fake_session_channel(void *user, const char *session, const char *delegate_id,
				const char *channel)
{
	(void)user;
	fake.channel_calls++;
	if (strcmp(session, "S1") != 0 || strcmp(delegate_id, fake.delegate_id) != 0)
		return DM_ENOENT;
	snprintf(fake.channel, sizeof fake.channel, "%s", channel);
	return 0;
}

static int fake_session_end(void *user, const char *session, const char *delegate_id)
{
	(void)user;
	fake.end_calls++;
	return strcmp(session, "S1") == 0 && strcmp(delegate_id, fake.delegate_id) == 0 ? 0
											: DM_ENOENT;
}

static void fake_revoked(void *user, const char *delegate_id)
{
	(void)user;
	fake.revoked_calls++;
	snprintf(fake.revoked_id, sizeof fake.revoked_id, "%s", delegate_id);
}

static const struct dm_api_remote fake_hooks = {
	.session_new = fake_session_new,
	.session_channel = fake_session_channel,
	.session_end = fake_session_end,
	.revoked = fake_revoked,
	.user = &fake,
};

/* The same conference with a remote section; a fresh state file each test. */
static int setup_remote(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	if (!f)
		return -1;
	unlink(rstate_path);
	if (dm_control_new(rcfg, publish, f, &f->ctl) != 0)
		return -1;
	if (dm_api_new(rcfg, f->ctl, tokens_path, NULL, NULL, &f->api) != 0)
		return -1;
	dm_api_set_remote(f->api, &fake_hooks);
	memset(&fake, 0, sizeof fake);
	fake.new_status = 201;
	clear_log();
	n_problems = 0;
	*state = f;
	return 0;
}

/* POST /api/v1/delegates as the technician: the new id and token. */
static void issue(struct fx *f, const char *name, char *id, char *token)
{
	char body[256];
	snprintf(body, sizeof body, "{\"name\":\"%s\"}", name);
	assert_int_equal(post(f, "/api/v1/delegates", TECH, body), 201);
	snprintf(id, DM_DELEGATE_ID_LEN + 1, "%s",
		 json_string_value(json_object_get(f->json, "id")));
	snprintf(token, DM_DELEGATE_TOKEN_LEN + 1, "%s",
		 json_string_value(json_object_get(f->json, "token")));
	assert_int_equal(strlen(token), DM_DELEGATE_TOKEN_LEN);
}

static void api_remote_absent_404(void **state)
{
	struct fx *f = *state;
	/* no remote section: none of its routes */
	assert_int_equal(req(f, "GET", "/api/v1/delegates", TECH, NULL), 404);
	assert_int_equal(post(f, "/api/v1/delegates", TECH, "{\"name\":\"x\"}"), 404);
	assert_int_equal(req(f, "DELETE", "/api/v1/delegates/d01234567", TECH, NULL), 404);
	assert_int_equal(post(f, "/api/v1/remote/sessions", DELEGATE, "{}"), 404);
	assert_int_equal(req(f, "DELETE", "/api/v1/remote/sessions/S1", DELEGATE, NULL), 404);
}

static void api_delegates_crud(void **state)
{
	struct fx *f = *state;
	long long before = (long long)time(NULL);
	assert_int_equal(post(f, "/api/v1/delegates", TECH, "{\"name\":\"Ms Müller\"}"), 201);
	const char *id = json_string_value(json_object_get(f->json, "id"));
	const char *tok = json_string_value(json_object_get(f->json, "token"));
	assert_non_null(id);
	assert_non_null(tok);
	char a_id[16], a_tok[80];
	snprintf(a_id, sizeof a_id, "%s", id);
	snprintf(a_tok, sizeof a_tok, "%s", tok);
	assert_int_equal(strspn(a_tok, "0123456789abcdef"), 64);
	assert_string_equal(json_string_value(json_object_get(f->json, "name")), "Ms Müller");
	long long created = json_integer_value(json_object_get(f->json, "created"));
	assert_true(created >= before && created <= (long long)time(NULL));
	assert_int_equal(json_integer_value(json_object_get(f->json, "expires")),
			 created + DM_DELEGATE_VALID_S);
	/* the token is never logged */
	assert_false(log_has(a_tok));
	assert_true(log_has(a_id));

	assert_int_equal(
		post(f, "/api/v1/delegates", TECH, "{\"name\":\"Mr Kim\",\"valid_s\":3600}"), 201);
	char b_id[16];
	snprintf(b_id, sizeof b_id, "%s", json_string_value(json_object_get(f->json, "id")));
	assert_int_equal(json_integer_value(json_object_get(f->json, "expires")) -
				 json_integer_value(json_object_get(f->json, "created")),
			 3600);

	assert_int_equal(req(f, "GET", "/api/v1/delegates", TECH2, NULL), 200);
	json_t *list = json_object_get(f->json, "delegates");
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")),
			    a_id);
	assert_true(json_is_false(json_object_get(json_array_get(list, 0), "revoked")));
	assert_null(strstr(f->resp, a_tok));
	assert_null(strstr(f->resp, "token"));

	char path[64];
	snprintf(path, sizeof path, "/api/v1/delegates/%s", a_id);
	assert_int_equal(req(f, "DELETE", path, TECH, NULL), 200);
	assert_string_equal(json_string_value(json_object_get(f->json, "id")), a_id);
	assert_true(json_is_true(json_object_get(f->json, "revoked")));
	assert_int_equal(fake.revoked_calls, 1);
	assert_string_equal(fake.revoked_id, a_id);
	/* again: still revoked, the engine is not asked twice */
	assert_int_equal(req(f, "DELETE", path, TECH, NULL), 200);
	assert_int_equal(fake.revoked_calls, 1);
	assert_int_equal(req(f, "GET", "/api/v1/delegates", TECH, NULL), 200);
	list = json_object_get(f->json, "delegates");
	assert_true(json_is_true(json_object_get(json_array_get(list, 0), "revoked")));
	assert_true(json_is_false(json_object_get(json_array_get(list, 1), "revoked")));

	assert_int_equal(req(f, "DELETE", "/api/v1/delegates/d00000000", TECH, NULL), 404);
	assert_string_equal(error_of(f), "no such delegate 'd00000000'");
	assert_int_equal(req(f, "DELETE", "/api/v1/delegates/d0.0", TECH, NULL), 404);
	assert_int_equal(req(f, "DELETE", "/api/v1/delegates/", TECH, NULL), 404);
	assert_int_equal(req(f, "DELETE", "/api/v1/delegates/x/y", TECH, NULL), 404);
	assert_int_equal(fake.revoked_calls, 1);
	(void)b_id;
}

static void api_delegates_bad_body_400(void **state)
{
	struct fx *f = *state;
	char long_name[200];
	snprintf(long_name, sizeof long_name, "{\"name\":\"%0128d\"}", 0); /* 128 bytes */
	const char *bad[] = {
		"",
		"[]",
		"{",
		"{}",
		"{\"name\":1}",
		"{\"name\":null}",
		"{\"name\":\"\"}",
		"{\"name\":\"a\\nb\"}",
		"{\"name\":\"a\\u001bb\"}",
		long_name,
		"{\"name\":\"x\",\"valid_s\":59}",
		"{\"name\":\"x\",\"valid_s\":31622401}",
		"{\"name\":\"x\",\"valid_s\":\"3600\"}",
		"{\"name\":\"x\",\"valid_s\":3600.5}",
		"{\"name\":\"x\",\"token\":\"mine-0123456789abcdef\"}",
		"{\"name\":\"x\",\"name\":\"y\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (post(f, "/api/v1/delegates", TECH, bad[i]) != 400)
			fail_msg("%s: not 400: %s", bad[i], f->resp);
		assert_true(strlen(error_of(f)) > 0);
	}
	assert_int_equal(req(f, "GET", "/api/v1/delegates", TECH, NULL), 200);
	assert_int_equal(json_array_size(json_object_get(f->json, "delegates")), 0);
	/* the limits themselves are fine */
	char body[256];
	snprintf(body, sizeof body, "{\"name\":\"%0127d\",\"valid_s\":%d}", 0,
		 DM_DELEGATE_VALID_MIN_S);
	assert_int_equal(post(f, "/api/v1/delegates", TECH, body), 201);
	snprintf(body, sizeof body, "{\"name\":\"x\",\"valid_s\":%d}", DM_DELEGATE_VALID_MAX_S);
	assert_int_equal(post(f, "/api/v1/delegates", TECH, body), 201);
}

static void api_delegates_roles_403(void **state)
{
	struct fx *f = *state;
	char id[16], tok[80];
	issue(f, "someone", id, tok);
	char path[64];
	snprintf(path, sizeof path, "/api/v1/delegates/%s", id);
	static const char *const who[] = {BOOTH_FR, DELEGATE};
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(req(f, "GET", "/api/v1/delegates", who[i], NULL), 403);
		assert_int_equal(post(f, "/api/v1/delegates", who[i], "{\"name\":\"me\"}"), 403);
		assert_int_equal(req(f, "DELETE", path, who[i], NULL), 403);
	}
	assert_int_equal(req(f, "GET", "/api/v1/delegates", BOOTH_FR, NULL), 403);
	assert_string_equal(error_of(f), "only a technician manages delegates");
	/* a delegate of the state file: no more than one of the tokens file */
	assert_int_equal(req(f, "GET", "/api/v1/delegates", tok, NULL), 403);
	assert_string_equal(error_of(f), "a delegate token may only open remote sessions");
	assert_int_equal(req(f, "DELETE", path, tok, NULL), 403);
	assert_int_equal(req(f, "GET", "/api/v1/state", tok, NULL), 403);
	assert_int_equal(req(f, "GET", "/api/v1/events", tok, NULL), 403);
	assert_int_equal(req(f, "GET", "/api/v1/listeners", tok, NULL), 403);
	assert_int_equal(post(f, "/api/v1/floor", tok, "{\"language\":null}"), 403);
	assert_int_equal(post(f, "/api/v1/consoles/fr-1/mic", tok, "{\"on\":false}"), 403);
	assert_true(log_has("forbidden to delegate:"));
	assert_true(console_mic(f, "fr-1"));
	/* technicians and booths do not open remote sessions */
	assert_int_equal(post(f, "/api/v1/remote/sessions", TECH, "{}"), 403);
	assert_string_equal(error_of(f), "only a delegate token opens remote sessions");
	assert_int_equal(post(f, "/api/v1/remote/sessions", BOOTH_ES, "{}"), 403);
	assert_int_equal(fake.new_calls, 0);
	assert_int_equal(fake.revoked_calls, 0);
	/* methods */
	assert_int_equal(req(f, "PUT", "/api/v1/delegates", TECH, NULL), 405);
	assert_int_equal(req(f, "DELETE", "/api/v1/delegates", TECH, NULL), 405);
	assert_int_equal(req(f, "GET", path, TECH, NULL), 405);
	assert_int_equal(req(f, "GET", "/api/v1/remote/sessions", tok, NULL), 405);
	assert_int_equal(req(f, "POST", "/api/v1/remote/sessions/S1", tok, NULL), 405);
	assert_int_equal(req(f, "DELETE", "/api/v1/remote/sessions/S1/channel", tok, NULL), 405);
}

static void api_remote_sessions(void **state)
{
	struct fx *f = *state;
	char id[16], tok[80];
	issue(f, "Ms Remote", id, tok);
	long long expires = json_integer_value(json_object_get(f->json, "expires"));

	assert_int_equal(post(f, "/api/v1/remote/sessions", tok, "{}"), 201);
	assert_true(json_is_true(json_object_get(f->json, "fake"))); /* the hook's JSON */
	assert_int_equal(fake.new_calls, 1);
	assert_string_equal(fake.delegate_id, id);
	assert_string_equal(fake.name, "Ms Remote");
	assert_int_equal(fake.expires, expires);
	assert_true(fake.channel_null);
	/* no body at all is {} */
	assert_int_equal(post(f, "/api/v1/remote/sessions", tok, NULL), 201);
	assert_true(fake.channel_null);
	/* a channel by id or by number reaches the hook as its id */
	assert_int_equal(post(f, "/api/v1/remote/sessions", tok, "{\"channel\":\"fr\"}"), 201);
	assert_string_equal(fake.channel, "fr");
	assert_int_equal(post(f, "/api/v1/remote/sessions", tok, "{\"channel\":\"3\"}"), 201);
	assert_string_equal(fake.channel, "es");
	assert_int_equal(fake.new_calls, 4);
	static const char *const bad[] = {"{\"channel\":\"de\"}", "{\"channel\":2}", "[]",
					  "{\"chanel\":\"fr\"}", "nope"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (post(f, "/api/v1/remote/sessions", tok, bad[i]) != 400)
			fail_msg("%s: not 400: %s", bad[i], f->resp);
	}
	assert_int_equal(fake.new_calls, 4);
	/* the engine's refusals */
	fake.new_status = 503;
	assert_int_equal(post(f, "/api/v1/remote/sessions", tok, "{}"), 503);
	assert_true(strlen(error_of(f)) > 0);
	fake.new_status = 400;
	assert_int_equal(post(f, "/api/v1/remote/sessions", tok, "{}"), 400);
	fake.new_status = 201;

	/* switching channel */
	assert_int_equal(post(f, "/api/v1/remote/sessions/S1/channel", tok, "{\"channel\":\"en\"}"),
			 200);
	assert_string_equal(json_string_value(json_object_get(f->json, "channel")), "en");
	assert_string_equal(fake.channel, "en");
	assert_int_equal(post(f, "/api/v1/remote/sessions/S2/channel", tok, "{\"channel\":\"en\"}"),
			 404);
	assert_int_equal(post(f, "/api/v1/remote/sessions/S1/channel", tok, "{\"channel\":\"xx\"}"),
			 400);
	assert_int_equal(post(f, "/api/v1/remote/sessions/S1/channel", tok, "{}"), 400);
	assert_int_equal(post(f, "/api/v1/remote/sessions/S1/channel", tok, ""), 400);
	assert_int_equal(
		post(f, "/api/v1/remote/sessions/S.1/channel", tok, "{\"channel\":\"en\"}"), 404);
	assert_int_equal(fake.channel_calls, 2);

	/* another delegate cannot touch this one's session */
	char id2[16], tok2[80];
	issue(f, "Other", id2, tok2);
	assert_int_equal(
		post(f, "/api/v1/remote/sessions/S1/channel", tok2, "{\"channel\":\"fr\"}"), 404);
	assert_int_equal(req(f, "DELETE", "/api/v1/remote/sessions/S1", tok2, NULL), 404);

	assert_int_equal(req(f, "DELETE", "/api/v1/remote/sessions/S1", tok, NULL), 200);
	assert_int_equal(json_object_size(f->json), 0);
	assert_int_equal(req(f, "DELETE", "/api/v1/remote/sessions/nope", tok, NULL), 404);

	/* a delegate line of the tokens file may open sessions too */
	assert_int_equal(post(f, "/api/v1/remote/sessions", DELEGATE, "{}"), 201);
	assert_non_null(strstr(fake.delegate_id, "tokens-file:"));
	assert_int_equal(fake.expires, 0);
}

static void api_remote_no_hooks_404(void **state)
{
	struct fx *f = *state;
	char id[16], tok[80];
	issue(f, "x", id, tok);
	static const struct dm_api_remote none = {0};
	dm_api_set_remote(f->api, &none);
	assert_int_equal(post(f, "/api/v1/remote/sessions", tok, "{}"), 404);
	assert_string_equal(error_of(f), "not served by this engine");
	assert_int_equal(post(f, "/api/v1/remote/sessions/S1/channel", tok, "{\"channel\":\"en\"}"),
			 404);
	assert_int_equal(req(f, "DELETE", "/api/v1/remote/sessions/S1", tok, NULL), 404);
	/* revoking needs no hook */
	char path[64];
	snprintf(path, sizeof path, "/api/v1/delegates/%s", id);
	assert_int_equal(req(f, "DELETE", path, TECH, NULL), 200);
	assert_int_equal(fake.new_calls, 0);
}

static void api_revoked_token_401(void **state)
{
	struct fx *f = *state;
	char id[16], tok[80], id2[16], tok2[80];
	issue(f, "Leaving", id, tok);
	issue(f, "Staying", id2, tok2);
	assert_int_equal(post(f, "/api/v1/remote/sessions", tok, "{}"), 201);
	char path[64];
	snprintf(path, sizeof path, "/api/v1/delegates/%s", id);
	assert_int_equal(req(f, "DELETE", path, TECH, NULL), 200);
	assert_int_equal(fake.revoked_calls, 1);
	clear_log();
	assert_int_equal(post(f, "/api/v1/remote/sessions", tok, "{}"), 401);
	assert_string_equal(error_of(f), "revoked delegate token");
	assert_int_equal(fake.new_calls, 1);
	/* logged by whom, never with the token */
	assert_true(log_has("refused: revoked delegate token"));
	assert_true(log_has(id));
	assert_true(log_has("Leaving"));
	assert_false(log_has(tok));
	assert_int_equal(req(f, "DELETE", "/api/v1/remote/sessions/S1", tok, NULL), 401);
	/* the other delegate goes on */
	assert_int_equal(post(f, "/api/v1/remote/sessions", tok2, "{}"), 201);
	/* a token that was never issued */
	char forged[80];
	snprintf(forged, sizeof forged, "%s", tok2);
	forged[0] = forged[0] == 'a' ? 'b' : 'a';
	assert_int_equal(post(f, "/api/v1/remote/sessions", forged, "{}"), 401);
	assert_string_equal(error_of(f), "unknown token");
}

static void api_delegates_persist(void **state)
{
	struct fx *f = *state;
	char id[16], tok[80], id2[16], tok2[80];
	issue(f, "Kept", id, tok);
	issue(f, "Revoked", id2, tok2);
	char path[64];
	snprintf(path, sizeof path, "/api/v1/delegates/%s", id2);
	assert_int_equal(req(f, "DELETE", path, TECH, NULL), 200);
	struct stat st;
	assert_int_equal(stat(rstate_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* an engine restart: a new api on the same state file */
	dm_api_free(f->api);
	f->api = NULL;
	assert_int_equal(dm_api_new(rcfg, f->ctl, tokens_path, NULL, NULL, &f->api), 0);
	dm_api_set_remote(f->api, &fake_hooks);
	assert_int_equal(post(f, "/api/v1/remote/sessions", tok, "{}"), 201);
	assert_string_equal(fake.delegate_id, id);
	assert_string_equal(fake.name, "Kept");
	assert_int_equal(post(f, "/api/v1/remote/sessions", tok2, "{}"), 401);
	assert_int_equal(req(f, "GET", "/api/v1/delegates", TECH, NULL), 200);
	assert_int_equal(json_array_size(json_object_get(f->json, "delegates")), 2);
}

static void api_state_file_refused(void **state)
{
	struct fx *f = *state;
	dm_api_free(f->api);
	f->api = NULL;
	struct dm_api *api = (struct dm_api *)f;
	chmod(rstate_path, 0644);
	n_problems = 0;
	assert_int_equal(dm_api_new(rcfg, f->ctl, tokens_path, collect, NULL, &api), DM_EPERM);
	assert_null(api);
	assert_true(reported(0, "state file"));
	write_file(rstate_path, "{\"version\":1,\"delegates\":[{}]}", 0600);
	n_problems = 0;
	assert_int_equal(dm_api_new(rcfg, f->ctl, tokens_path, collect, NULL, &api), DM_ECONFIG);
	assert_null(api);
	assert_true(reported(0, "malformed"));
	assert_true(log_has(rstate_path));
}

/* Over real HTTP: DELETE reaches the handler, and a revoked token gets a
 * Bearer challenge. */
static void api_http_delegates(void **state)
{
	struct fx *f = *state;
	assert_int_equal(dm_api_start(f->api, "127.0.0.1:0"), 0);
	int port = dm_api_port(f->api);
	struct http h;
	const char *body = "{\"name\":\"Over HTTP\"}";
	assert_int_equal(
		http(port, "POST", "/api/v1/delegates", TECH, body, strlen(body), false, &h),
		CURLE_OK);
	assert_int_equal(h.status, 201);
	json_t *j = json_loads(h.body, 0, NULL);
	assert_non_null(j);
	char id[16], tok[80], path[64];
	snprintf(id, sizeof id, "%s", json_string_value(json_object_get(j, "id")));
	snprintf(tok, sizeof tok, "%s", json_string_value(json_object_get(j, "token")));
	json_decref(j);
	assert_int_equal(http(port, "POST", "/api/v1/remote/sessions", tok, "{}", 2, false, &h),
			 CURLE_OK);
	assert_int_equal(h.status, 201);
	/* revoked between the token check and the session: 401 as any other */
	fake.new_status = 401;
	assert_int_equal(http(port, "POST", "/api/v1/remote/sessions", tok, "{}", 2, false, &h),
			 CURLE_OK);
	assert_int_equal(h.status, 401);
	assert_non_null(strstr(h.headers, "WWW-Authenticate: Bearer"));
	fake.new_status = 201;
	snprintf(path, sizeof path, "/api/v1/delegates/%s", id);
	assert_int_equal(http(port, "DELETE", path, TECH, NULL, 0, false, &h), CURLE_OK);
	assert_int_equal(h.status, 200);
	assert_int_equal(fake.revoked_calls, 1);
	assert_int_equal(http(port, "POST", "/api/v1/remote/sessions", tok, "{}", 2, false, &h),
			 CURLE_OK);
	assert_int_equal(h.status, 401);
	assert_non_null(strstr(h.headers, "WWW-Authenticate: Bearer"));
	assert_int_equal(http(port, "GET", "/api/v1/delegates", TECH, NULL, 0, false, &h),
			 CURLE_OK);
	assert_int_equal(h.status, 200);
	assert_non_null(strstr(h.body, "\"revoked\":true"));
	assert_int_equal(http(port, "PUT", "/api/v1/delegates", TECH, NULL, 0, false, &h),
			 CURLE_OK);
	assert_int_equal(h.status, 405);
	assert_non_null(strstr(h.headers, "Allow: GET, POST"));
}

/* ------------------------------------------------------------------ HTTPS */

/* A self-signed EC certificate for localhost and 127.0.0.1, made with
 * libcrypto so the test needs no openssl program; PEM files in tmpdir. */
static void make_cert(const char *cert_path, const char *key_path, mode_t key_mode)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	assert_non_null(k);
	X509 *x = X509_new();
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL));
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1,
				   -1, 0);
	X509_set_issuer_name(x, n);
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext =
		X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
	assert_non_null(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	FILE *fc = fopen(cert_path, "w");
	assert_non_null(fc);
	assert_int_equal(PEM_write_X509(fc, x), 1);
	fclose(fc);
	unlink(key_path);
	int fd = open(key_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	FILE *fk = fdopen(fd, "w");
	assert_non_null(fk);
	assert_int_equal(PEM_write_PrivateKey(fk, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(fk);
	assert_int_equal(chmod(key_path, key_mode), 0);
	X509_free(x);
	EVP_PKEY_free(k);
}

static CURLcode https_get(int port, const char *cafile, const char *path, const char *token,
			  struct http *h)
{
	memset(h, 0, sizeof *h);
	char url[256], auth[256];
	snprintf(url, sizeof url, "https://127.0.0.1:%d%s", port, path);
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
	CURL *c = curl_easy_init();
	assert_non_null(c);
	struct curl_slist *hdr = curl_slist_append(NULL, auth);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	if (cafile)
		curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	CURLcode rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	return rc;
}

/* A configuration with control.tls_cert and tls_key, for dm_api_start. */
static struct dm_config *tls_config(const char *cert, const char *key)
{
	char text[sizeof conf_text + 512], path[PATH_MAX];
	snprintf(text, sizeof text,
		 "%scontrol = { tokens_file = \"t.tokens\"; tls_cert = \"%s\"; tls_key = \"%s\"; "
		 "};\n",
		 conf_text, cert, key);
	path_in_tmp(path, sizeof path, "tls.conf");
	write_file(path, text, 0600);
	struct dm_config *c = NULL;
	assert_int_equal(dm_config_load(path, false, NULL, NULL, &c), 0);
	return c;
}

static void api_https(void **state)
{
	(void)state;
	char cert[PATH_MAX], key[PATH_MAX];
	path_in_tmp(cert, sizeof cert, "cert.pem");
	path_in_tmp(key, sizeof key, "key.pem");
	make_cert(cert, key, 0600);
	struct dm_config *tcfg = tls_config("cert.pem", "key.pem");
	struct dm_control *ctl = NULL;
	assert_int_equal(dm_control_new(tcfg, drop_route, NULL, &ctl), 0);
	struct dm_api *api = NULL;
	assert_int_equal(dm_api_new(tcfg, ctl, tokens_path, NULL, NULL, &api), 0);
	clear_log();
	assert_int_equal(dm_api_start(api, "127.0.0.1:0"), 0);
	int port = dm_api_port(api);
	char want[64];
	snprintf(want, sizeof want, "listening on https://127.0.0.1:%d", port);
	assert_true(log_has(want));

	struct http h;
	/* trusted through the CA file: the key was wiped after the start, and
	 * the server still serves */
	assert_int_equal(https_get(port, cert, "/api/v1/state", TECH, &h), CURLE_OK);
	assert_int_equal(h.status, 200);
	assert_non_null(strstr(h.body, "\"consoles\""));
	assert_int_equal(https_get(port, cert, "/api/v1/state", STRANGER, &h), CURLE_OK);
	assert_int_equal(h.status, 401);
	/* not trusted without it */
	assert_int_not_equal(https_get(port, NULL, "/api/v1/state", TECH, &h), CURLE_OK);
	/* plain HTTP on the HTTPS port gets no answer */
	assert_int_not_equal(http(port, "GET", "/api/v1/state", TECH, NULL, 0, false, &h),
			     CURLE_OK);
	assert_int_not_equal(h.status, 200);
	dm_api_free(api);

	/* beyond loopback: no warning about TLS */
	assert_int_equal(dm_api_new(tcfg, ctl, tokens_path, NULL, NULL, &api), 0);
	clear_log();
	assert_int_equal(dm_api_start(api, "0.0.0.0:0"), 0);
	assert_false(log_has("without TLS"));
	assert_true(log_has("listening on https://0.0.0.0:"));
	dm_api_free(api);
	dm_control_free(ctl);
	dm_config_free(tcfg);
}

static void api_https_refused(void **state)
{
	(void)state;
	char cert[PATH_MAX], key[PATH_MAX], cert2[PATH_MAX], key2[PATH_MAX];
	path_in_tmp(cert, sizeof cert, "rc.pem");
	path_in_tmp(key, sizeof key, "rk.pem");
	path_in_tmp(cert2, sizeof cert2, "rc2.pem");
	path_in_tmp(key2, sizeof key2, "rk2.pem");
	make_cert(cert, key, 0644);
	make_cert(cert2, key2, 0600);
	static const struct {
		const char *cert, *key;
		int want;
		const char *log;
	} t[] = {
		{"rc.pem", "rk.pem", DM_EPERM, "group or others"}, /* the key is 0644 */
		{"rc.pem", "rk2.pem", DM_ECONFIG, "not the key of tls_cert"},
		{"none.pem", "rk2.pem", DM_ENOENT, "cannot open tls_cert"},
		{"rc2.pem", "none.pem", DM_ENOENT, "cannot open tls_key"},
		{"rk2.pem", "rk2.pem", DM_ECONFIG, "does not hold a PEM certificate"},
		{"rc2.pem", "t.tokens", DM_ECONFIG, "does not hold a PEM private key"},
		{"t.conf", "rk2.pem", DM_ECONFIG, "does not hold a PEM certificate"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct dm_config *tcfg = tls_config(t[i].cert, t[i].key);
		struct dm_control *ctl = NULL;
		assert_int_equal(dm_control_new(tcfg, drop_route, NULL, &ctl), 0);
		struct dm_api *api = NULL;
		assert_int_equal(dm_api_new(tcfg, ctl, tokens_path, NULL, NULL, &api), 0);
		clear_log();
		int rc = dm_api_start(api, "127.0.0.1:0");
		if (rc != t[i].want || !log_has(t[i].log))
			fail_msg("case %zu: %d (want %d), log: %s", i, rc, t[i].want, logbuf);
		assert_int_equal(dm_api_port(api), DM_EINVAL);
		dm_api_free(api);
		dm_control_free(ctl);
		dm_config_free(tcfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(api_new_bad_args, setup, teardown),
		cmocka_unit_test_setup_teardown(api_tokens_roles, setup, teardown),
		cmocka_unit_test_setup_teardown(api_tokens_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(api_tokens_permissions, setup, teardown),
		cmocka_unit_test_setup_teardown(api_tokens_not_regular, setup, teardown),
		cmocka_unit_test_setup_teardown(api_tokens_unknown_role, setup, teardown),
		cmocka_unit_test_setup_teardown(api_tokens_unknown_booth, setup, teardown),
		cmocka_unit_test_setup_teardown(api_tokens_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(api_tokens_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(api_tokens_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(api_no_token_401, setup, teardown),
		cmocka_unit_test_setup_teardown(api_unknown_token_401, setup, teardown),
		cmocka_unit_test_setup_teardown(api_malformed_auth_401, setup, teardown),
		cmocka_unit_test_setup_teardown(api_unknown_path_404, setup, teardown),
		cmocka_unit_test_setup_teardown(api_wrong_method_405, setup, teardown),
		cmocka_unit_test_setup_teardown(api_body_too_large_413, setup, teardown),
		cmocka_unit_test_setup_teardown(api_state_200, setup, teardown),
		cmocka_unit_test_setup_teardown(api_mic_200, setup, teardown),
		cmocka_unit_test_setup_teardown(api_console_ops_200, setup, teardown),
		cmocka_unit_test_setup_teardown(api_floor_200, setup, teardown),
		cmocka_unit_test_setup_teardown(api_malformed_json_400, setup, teardown),
		cmocka_unit_test_setup_teardown(api_unknown_field_400, setup, teardown),
		cmocka_unit_test_setup_teardown(api_missing_field_400, setup, teardown),
		cmocka_unit_test_setup_teardown(api_duplicate_field_400, setup, teardown),
		cmocka_unit_test_setup_teardown(api_wrong_type_400, setup, teardown),
		cmocka_unit_test_setup_teardown(api_unknown_console_400, setup, teardown),
		cmocka_unit_test_setup_teardown(api_unknown_channel_400, setup, teardown),
		cmocka_unit_test_setup_teardown(api_out_of_range_400, setup, teardown),
		cmocka_unit_test_setup_teardown(api_interlock_409, setup, teardown),
		cmocka_unit_test_setup_teardown(api_booth_isolation_403, setup, teardown),
		cmocka_unit_test_setup_teardown(api_delegate_remote_only_403, setup, teardown),
		cmocka_unit_test_setup_teardown(api_events_last_id, setup, teardown),
		cmocka_unit_test_setup_teardown(api_start_bad_listen, setup, teardown),
		cmocka_unit_test_setup_teardown(api_start_port_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(api_start_non_loopback_warns, setup, teardown),
		cmocka_unit_test_setup_teardown(api_http_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(api_http_events, setup, teardown),
		cmocka_unit_test_setup_teardown(api_remote_absent_404, setup, teardown),
		cmocka_unit_test_setup_teardown(api_delegates_crud, setup_remote, teardown),
		cmocka_unit_test_setup_teardown(api_delegates_bad_body_400, setup_remote, teardown),
		cmocka_unit_test_setup_teardown(api_delegates_roles_403, setup_remote, teardown),
		cmocka_unit_test_setup_teardown(api_remote_sessions, setup_remote, teardown),
		cmocka_unit_test_setup_teardown(api_remote_no_hooks_404, setup_remote, teardown),
		cmocka_unit_test_setup_teardown(api_revoked_token_401, setup_remote, teardown),
		cmocka_unit_test_setup_teardown(api_delegates_persist, setup_remote, teardown),
		cmocka_unit_test_setup_teardown(api_state_file_refused, setup_remote, teardown),
		cmocka_unit_test_setup_teardown(api_http_delegates, setup_remote, teardown),
		cmocka_unit_test(api_https),
		cmocka_unit_test(api_https_refused),
	};
	return cmocka_run_group_tests_name("api", tests, group_setup, group_teardown);
}
