/* libFuzzer harness: the control API's request handler (src/control/api.c:
 * routing, authentication, JSON bodies through jansson) over a real
 * dm_control. A small conference, its secret and a tokens file are written
 * once to a private temporary folder; every input gets a fresh control state
 * and api, so a crash replays from its input alone.
 *
 * Input: byte 0 the method (& 7: GET, POST, PUT, DELETE, HEAD, "", or a raw
 * chunk), byte 1 the Authorization (& 7: none, the technician's, booth fr's,
 * booth es's, the delegate's, "Bearer " + a raw chunk, or a raw chunk),
 * byte 2 the path (>= 0x80: a template, & 0x7f: 0 state, 1 events, 2 floor,
 * 3.. console k, action j; else a raw chunk), then the raw chunks
 * (fuzz_chunk) in the order path, method, authorization, and the rest of the
 * input is the body.
 * Besides the sanitizers it checks api.h's promises: a documented status,
 * always a JSON object, an "error" string on every refusal, 401 exactly when
 * no valid token was given, "holder" and "channel" on a 409, and no token in
 * an answer unless the request itself carried it elsewhere. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "api.h"
#include "control.h"
#include "dragoman/config.h"
#include "dragoman/error.h"
#include "dragoman/log.h"
#include "fuzz_common.h"
#include "router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const tokens[] = {
	"fuzz-technician-0123456789",
	"fuzz-booth-fr-0123456789",
	"fuzz-booth-es-0123456789",
	"fuzz-delegate-0123456789",
};

static const char conf_text[] =
	"conference = { id = \"fuzz\"; secret_file = \"fuzz.secret\"; interlock = \"block\"; };\n"
	"floor = { group = \"239.255.44.0\"; port = 5004; };\n"
	"channels = (\n"
	"  { id = \"en\"; group = \"239.255.44.1\"; port = 5004; },\n"
	"  { id = \"fr\"; group = \"239.255.44.2\"; port = 5004; },\n"
	"  { id = \"es\"; group = \"239.255.44.3\"; port = 5004; fallback = \"silence\"; }\n"
	");\n"
	"booths = (\n"
	"  { id = \"fr\"; consoles = ( { id = \"fr-1\"; a = \"fr\"; live = true; },\n"
	"                            { id = \"fr-2\"; a = \"fr\"; } ); },\n"
	"  { id = \"en\"; consoles = ( { id = \"en-1\"; a = \"en\"; live = true; } ); },\n"
	"  { id = \"es\"; consoles = ( { id = \"es-1\"; a = \"es\"; b = \"en\"; } ); }\n"
	");\n";

static const char *const consoles[] = {"fr-1", "fr-2", "en-1", "es-1"};
static const char *const actions[] = {"mic", "mute", "output", "source", "volume", "call"};
static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", ""};

static char dir[64];
static char conf_path[96], secret_path[96], tokens_path[96];
static struct dm_config *cfg;

static void cleanup(void)
{
	dm_config_free(cfg);
	unlink(conf_path);
	unlink(secret_path);
	unlink(tokens_path);
	rmdir(dir);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0);
	size_t n = strlen(text);
	FUZZ_CHECK(write(fd, text, n) == (ssize_t)n);
	close(fd);
}

/* Formats every message (so the sanitizers see it) and drops it. */
static void quiet_log(void *user, enum dm_log_level level, const char *msg)
{
	(void)user;
	(void)level;
	FUZZ_CHECK(strlen(msg) < 1024);
}

static void drop_route(void *user, struct dm_route *route)
{
	(void)user;
	dm_route_free(route);
}

static void init(void)
{
	snprintf(dir, sizeof dir, "/tmp/dm-fuzz-api-XXXXXX");
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	snprintf(conf_path, sizeof conf_path, "%s/fuzz.conf", dir);
	snprintf(secret_path, sizeof secret_path, "%s/fuzz.secret", dir);
	snprintf(tokens_path, sizeof tokens_path, "%s/fuzz.tokens", dir);
	write_file(conf_path, conf_text);
	write_file(secret_path, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
	char text[512];
	snprintf(text, sizeof text, "technician %s\nbooth:fr %s\nbooth:es %s\ndelegate %s\n",
		 tokens[0], tokens[1], tokens[2], tokens[3]);
	write_file(tokens_path, text);
	FUZZ_CHECK(dm_config_load(conf_path, true, NULL, NULL, &cfg) == 0);
	dm_log_set(quiet_log, NULL, DM_LOG_DEBUG);
	atexit(cleanup);
}

/* A chunk as a C string (the handler takes NUL-terminated method, path and
 * header, as libmicrohttpd hands them over). */
static char *chunk_string(struct fuzz_reader *rd)
{
	const uint8_t *p = NULL;
	size_t n = 0;
	fuzz_chunk(rd, &p, &n);
	char *s = malloc(n + 1);
	FUZZ_CHECK(s != NULL);
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static bool contains(const char *hay, size_t n, const char *needle)
{
	return hay && memmem(hay, n, needle, strlen(needle)) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!cfg)
		init();
	struct fuzz_reader rd = {data, size};
	uint8_t msel = fuzz_u8(&rd) & 7, asel = fuzz_u8(&rd) & 7, psel = fuzz_u8(&rd);

	char path_buf[128];
	char *path = NULL;
	if (psel & 0x80) {
		unsigned t = psel & 0x7f;
		if (t == 0)
			snprintf(path_buf, sizeof path_buf, "/api/v1/state");
		else if (t == 1)
			snprintf(path_buf, sizeof path_buf, "/api/v1/events");
		else if (t == 2)
			snprintf(path_buf, sizeof path_buf, "/api/v1/floor");
		else
			snprintf(path_buf, sizeof path_buf, "/api/v1/consoles/%s/%s",
				 consoles[(t - 3) / 6 % 4], actions[(t - 3) % 6]);
	} else {
		path = chunk_string(&rd);
	}
	char *method = msel >= 6 ? chunk_string(&rd) : NULL;
	char *raw_auth = asel >= 5 ? chunk_string(&rd) : NULL;
	const char *body = (const char *)rd.p;
	size_t body_len = rd.n;

	char auth_buf[128];
	const char *auth = NULL;
	if (asel >= 1 && asel <= 4) {
		snprintf(auth_buf, sizeof auth_buf, "Bearer %s", tokens[asel - 1]);
		auth = auth_buf;
	} else if (asel == 5) {
		size_t n = strlen(raw_auth);
		char *a = malloc(n + 8);
		FUZZ_CHECK(a != NULL);
		memcpy(a, "Bearer ", 7);
		memcpy(a + 7, raw_auth, n + 1);
		free(raw_auth);
		raw_auth = a;
		auth = raw_auth;
	} else if (asel >= 6) {
		auth = raw_auth;
	}
	const char *p = path ? path : path_buf;
	const char *m = method ? method : methods[msel];

	struct dm_control *ctl = NULL;
	struct dm_api *api = NULL;
	FUZZ_CHECK(dm_control_new(cfg, drop_route, NULL, &ctl) == 0);
	FUZZ_CHECK(dm_api_new(cfg, ctl, tokens_path, NULL, NULL, &api) == 0);

	int status = 0;
	char *resp = NULL;
	dm_api_handle(api, m, p, auth, body, body_len, &status, &resp);

	FUZZ_CHECK(status == 200 || status == 400 || status == 401 || status == 403 ||
		   status == 404 || status == 405 || status == 409 || status == 413);
	FUZZ_CHECK(resp != NULL);
	json_t *root = json_loads(resp, 0, NULL);
	FUZZ_CHECK(json_is_object(root));
	if (status != 200)
		FUZZ_CHECK(json_is_string(json_object_get(root, "error")));
	if (status == 409) {
		FUZZ_CHECK(json_object_get(root, "holder") != NULL);
		FUZZ_CHECK(json_object_get(root, "channel") != NULL);
	}
	/* Only the four tokens, given exactly, get past authentication. */
	bool valid = asel >= 1 && asel <= 4;
	for (size_t i = 0; !valid && auth && i < 4; i++) {
		char want[128];
		snprintf(want, sizeof want, "Bearer %s", tokens[i]);
		/* The scheme is case-insensitive and blanks may surround the token. */
		const char *a = auth;
		if (strncasecmp(a, "Bearer", 6) == 0 && (a[6] == ' ' || a[6] == '\t')) {
			a += 7;
			while (*a == ' ' || *a == '\t')
				a++;
			size_t n = strlen(tokens[i]);
			const char *rest = a + (strncmp(a, tokens[i], n) == 0 ? n : 0);
			while (*rest == ' ' || *rest == '\t')
				rest++;
			valid = rest != a && *rest == '\0' && strncmp(a, tokens[i], n) == 0;
		}
	}
	FUZZ_CHECK((status == 401) == !valid);
	/* A token shows up in an answer only if the client put it there. */
	for (size_t i = 0; i < 4; i++) {
		if (strstr(resp, tokens[i]))
			FUZZ_CHECK(contains(p, strlen(p), tokens[i]) ||
				   contains(m, strlen(m), tokens[i]) ||
				   contains(body, body_len, tokens[i]));
	}

	json_decref(root);
	free(resp);
	dm_api_free(api);
	dm_control_free(ctl);
	free(path);
	free(method);
	free(raw_auth);
	return 0;
}
