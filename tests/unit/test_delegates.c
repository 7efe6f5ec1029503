/* Unit tests of the delegate store: tokens issued, checked, revoked and
 * expired (time is an argument, so expiry needs no waiting), the state file
 * kept across a reopen and written atomically with mode 0600, and every
 * kind of file the store must refuse. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "delegates.h"
#include "dragoman/defaults.h"
#include "dragoman/error.h"
#include "dragoman/log.h"

#define NOW 1700000000LL
#define DAY (24 * 3600LL)

static char tmpdir[64];
static char logbuf[8192];
static size_t loglen;

static void capture_log(void *user, enum dm_log_level level, const char *msg)
{
	(void)user;
	(void)level;
	int n = snprintf(logbuf + loglen, sizeof logbuf - loglen, "%s\n", msg);
	if (n > 0 && (size_t)n < sizeof logbuf - loglen)
		loglen += (size_t)n;
}

static bool log_has(const char *s)
{
	return strstr(logbuf, s) != NULL;
}

static const char *path_of(const char *name)
{
	static char buf[4][PATH_MAX];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
	return buf[k];
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

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	static char buf[65536];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/dm-test-delegates-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	dm_log_set(capture_log, NULL, DM_LOG_DEBUG);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A fresh state file path for each test. */
static int setup(void **state)
{
	static int seq;
	static char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/state-%d.json", tmpdir, ++seq);
	unlink(path);
	loglen = 0;
	logbuf[0] = '\0';
	*state = path;
	return 0;
}

struct issued {
	char id[DM_DELEGATE_ID_LEN + 1];
	char token[DM_DELEGATE_TOKEN_LEN + 1];
	long long created, expires;
};

static void add(struct dm_delegates *d, const char *name, long long valid_s, long long now,
		struct issued *out)
{
	assert_int_equal(dm_delegates_add(d, name, valid_s, now, out->id, out->token, &out->created,
					  &out->expires),
			 0);
}

static int auth(struct dm_delegates *d, const char *token, long long now, char *id, char *name,
		const char **why)
{
	long long expires = 0;
	return dm_delegates_auth(d, token, strlen(token), now, id, name, &expires, why);
}

static void delegates_add_auth(void **state)
{
	const char *path = *state;
	struct dm_delegates *d = NULL;
	assert_int_equal(dm_delegates_new(path, &d), 0);
	assert_int_equal(dm_delegates_count(d), 0);

	struct issued a, b;
	add(d, "Ms Müller (DE)", DAY, NOW, &a);
	add(d, "Mr Kim", DM_DELEGATE_VALID_MIN_S, NOW, &b);
	/* id: d + 8 hex; token: 64 hex; the two differ */
	assert_int_equal(strlen(a.id), DM_DELEGATE_ID_LEN);
	assert_int_equal(a.id[0], 'd');
	assert_int_equal(strspn(a.id + 1, "0123456789abcdef"), 8);
	assert_int_equal(strlen(a.token), 64);
	assert_int_equal(strspn(a.token, "0123456789abcdef"), 64);
	assert_string_not_equal(a.id, b.id);
	assert_string_not_equal(a.token, b.token);
	assert_int_equal(a.created, NOW);
	assert_int_equal(a.expires, NOW + DAY);
	assert_int_equal(b.expires, NOW + DM_DELEGATE_VALID_MIN_S);
	assert_int_equal(dm_delegates_count(d), 2);

	char id[DM_DELEGATE_ID_LEN + 1], name[DM_DELEGATE_NAME_MAX];
	const char *why = "x";
	long long expires = 0;
	assert_int_equal(dm_delegates_auth(d, a.token, 64, NOW + 10, id, name, &expires, &why), 0);
	assert_string_equal(id, a.id);
	assert_string_equal(name, "Ms Müller (DE)");
	assert_int_equal(expires, NOW + DAY);
	assert_null(why);
	assert_int_equal(auth(d, b.token, NOW, id, name, &why), 0);
	assert_string_equal(id, b.id);

	/* A prefix, an extension, another case, something else: unknown. */
	assert_int_equal(dm_delegates_auth(d, a.token, 63, NOW, id, name, NULL, &why), DM_EAUTH);
	assert_string_equal(why, "unknown delegate token");
	assert_string_equal(id, "");
	char longer[80];
	snprintf(longer, sizeof longer, "%s0", a.token);
	assert_int_equal(auth(d, longer, NOW, id, name, &why), DM_EAUTH);
	char upper[80];
	snprintf(upper, sizeof upper, "%s", a.token);
	for (char *p = upper; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	if (strcmp(upper, a.token) != 0)
		assert_int_equal(auth(d, upper, NOW, id, name, &why), DM_EAUTH);
	assert_int_equal(auth(d, "", NOW, NULL, NULL, NULL), DM_EAUTH);
	dm_delegates_free(d);
}

static void delegates_revoke(void **state)
{
	const char *path = *state;
	struct dm_delegates *d = NULL;
	assert_int_equal(dm_delegates_new(path, &d), 0);
	struct issued a, b;
	add(d, "a", DAY, NOW, &a);
	add(d, "b", DAY, NOW, &b);
	assert_int_equal(dm_delegates_revoke(d, a.id, NOW + 5), 1);
	char id[DM_DELEGATE_ID_LEN + 1], name[DM_DELEGATE_NAME_MAX];
	const char *why = NULL;
	assert_int_equal(auth(d, a.token, NOW + 6, id, name, &why), DM_EAUTH);
	assert_string_equal(why, "revoked delegate token");
	assert_string_equal(id, a.id); /* for the log line */
	assert_string_equal(name, "a");
	/* the other one is untouched */
	assert_int_equal(auth(d, b.token, NOW + 6, id, name, &why), 0);
	/* again: still revoked, nothing new */
	assert_int_equal(dm_delegates_revoke(d, a.id, NOW + 7), 0);
	assert_int_equal(dm_delegates_revoke(d, "d00000000", NOW), DM_ENOENT);
	assert_int_equal(dm_delegates_revoke(d, "", NOW), DM_ENOENT);

	json_t *list = dm_delegates_list_json(d);
	assert_non_null(list);
	json_t *arr = json_object_get(list, "delegates");
	assert_int_equal(json_array_size(arr), 2);
	json_t *first = json_array_get(arr, 0);
	assert_string_equal(json_string_value(json_object_get(first, "id")), a.id);
	assert_true(json_is_true(json_object_get(first, "revoked")));
	assert_true(json_is_false(json_object_get(json_array_get(arr, 1), "revoked")));
	assert_int_equal(json_integer_value(json_object_get(first, "expires")), NOW + DAY);
	/* no hash, no token in the list */
	assert_null(json_object_get(first, "token_sha256"));
	assert_null(json_object_get(first, "token"));
	char *text = json_dumps(list, 0);
	assert_null(strstr(text, a.token));
	free(text);
	json_decref(list);

	/* the revocation is in the file, with its time */
	json_t *root = json_load_file(path, 0, NULL);
	assert_non_null(root);
	json_t *e = json_array_get(json_object_get(root, "delegates"), 0);
	assert_true(json_is_true(json_object_get(e, "revoked")));
	assert_int_equal(json_integer_value(json_object_get(e, "revoked_at")), NOW + 5);
	assert_true(json_is_null(json_object_get(
		json_array_get(json_object_get(root, "delegates"), 1), "revoked_at")));
	json_decref(root);
	dm_delegates_free(d);
}

static void delegates_expire(void **state)
{
	const char *path = *state;
	struct dm_delegates *d = NULL;
	assert_int_equal(dm_delegates_new(path, &d), 0);
	struct issued a;
	add(d, "short", DM_DELEGATE_VALID_MIN_S, NOW, &a);
	const char *why = NULL;
	char id[DM_DELEGATE_ID_LEN + 1];
	assert_int_equal(auth(d, a.token, NOW + DM_DELEGATE_VALID_MIN_S - 1, id, NULL, &why), 0);
	assert_int_equal(auth(d, a.token, NOW + DM_DELEGATE_VALID_MIN_S, id, NULL, &why), DM_EAUTH);
	assert_string_equal(why, "expired delegate token");
	assert_string_equal(id, a.id);
	assert_int_equal(auth(d, a.token, NOW + 10 * DAY, NULL, NULL, &why), DM_EAUTH);
	dm_delegates_free(d);
}

static void delegates_persist(void **state)
{
	const char *path = *state;
	struct dm_delegates *d = NULL;
	assert_int_equal(dm_delegates_new(path, &d), 0);
	/* the empty state is written at once, mode 0600 */
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	struct issued a, b;
	add(d, "kept", DAY, NOW, &a);
	add(d, "revoked", DAY, NOW, &b);
	assert_int_equal(dm_delegates_revoke(d, b.id, NOW + 1), 1);
	dm_delegates_free(d);

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* never the token in clear; its hash, lowercase hex */
	const char *text = read_text(path);
	assert_null(strstr(text, a.token));
	assert_null(strstr(text, b.token));
	assert_non_null(strstr(text, "\"token_sha256\""));
	assert_non_null(strstr(text, "\"version\": 1"));
	/* no temporary file left beside it */
	DIR *dir = opendir(tmpdir);
	assert_non_null(dir);
	struct dirent *ent;
	while ((ent = readdir(dir)))
		assert_null(strstr(ent->d_name, ".tmp."));
	closedir(dir);

	assert_int_equal(dm_delegates_new(path, &d), 0);
	assert_int_equal(dm_delegates_count(d), 2);
	char id[DM_DELEGATE_ID_LEN + 1], name[DM_DELEGATE_NAME_MAX];
	const char *why = NULL;
	assert_int_equal(auth(d, a.token, NOW + 2, id, name, &why), 0);
	assert_string_equal(id, a.id);
	assert_string_equal(name, "kept");
	assert_int_equal(auth(d, b.token, NOW + 2, id, name, &why), DM_EAUTH);
	assert_string_equal(why, "revoked delegate token");
	/* and changes after the reopen are kept too */
	assert_int_equal(dm_delegates_revoke(d, a.id, NOW + 3), 1);
	dm_delegates_free(d);
	assert_int_equal(dm_delegates_new(path, &d), 0);
	assert_int_equal(auth(d, a.token, NOW + 4, id, name, &why), DM_EAUTH);
	dm_delegates_free(d);
}

static void delegates_refuse_open_file(void **state)
{
	const char *path = *state;
	struct dm_delegates *d = NULL;
	assert_int_equal(dm_delegates_new(path, &d), 0);
	dm_delegates_free(d);
	static const mode_t modes[] = {0644, 0640, 0604, 0620, 0602};
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		assert_int_equal(chmod(path, modes[i]), 0);
		d = (struct dm_delegates *)&d;
		loglen = 0;
		assert_int_equal(dm_delegates_new(path, &d), DM_EPERM);
		assert_null(d);
		assert_true(log_has("group or others"));
		assert_true(log_has(path));
	}
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(dm_delegates_new(path, &d), 0);
	dm_delegates_free(d);
	/* a folder is not a state file */
	assert_int_equal(dm_delegates_new(tmpdir, &d), DM_EINVAL);
	assert_null(d);
}

static void delegates_malformed_file(void **state)
{
	const char *path = *state;
	const char *h = "\"0000000000000000000000000000000000000000000000000000000000000000\"";
	const char *h2 = "\"1111111111111111111111111111111111111111111111111111111111111111\"";
	char good[512], entries[6][4096];
	snprintf(good, sizeof good,
		 "{\"id\":\"d0123abcd\",\"name\":\"x\",\"token_sha256\":%s,\"created\":1,"
		 "\"expires\":2,\"revoked\":false,\"revoked_at\":null}",
		 h);
	snprintf(entries[0], sizeof entries[0], "{\"version\":1,\"delegates\":[%s,%s]}", good,
		 good); /* duplicate id and hash */
	snprintf(entries[1], sizeof entries[1],
		 "{\"version\":1,\"delegates\":[{\"id\":\"d0123abcd\",\"name\":\"x\","
		 "\"token_sha256\":%s,\"created\":1,\"expires\":2,\"revoked\":true}]}",
		 h); /* revoked without revoked_at */
	snprintf(entries[2], sizeof entries[2],
		 "{\"version\":1,\"delegates\":[{\"id\":\"x0123abcd\",\"name\":\"x\","
		 "\"token_sha256\":%s,\"created\":1,\"expires\":2,\"revoked\":false}]}",
		 h2); /* bad id */
	snprintf(entries[3], sizeof entries[3],
		 "{\"version\":1,\"delegates\":[{\"id\":\"d0123abcd\",\"name\":\"\","
		 "\"token_sha256\":%s,\"created\":1,\"expires\":2,\"revoked\":false}]}",
		 h); /* empty name */
	snprintf(entries[4], sizeof entries[4],
		 "{\"version\":1,\"delegates\":[{\"id\":\"d0123abcd\",\"name\":\"x\","
		 "\"token_sha256\":\"00\",\"created\":1,\"expires\":2,\"revoked\":false}]}");
	snprintf(entries[5], sizeof entries[5],
		 "{\"version\":1,\"delegates\":[{\"id\":\"d0123abcd\",\"name\":\"x\","
		 "\"token_sha256\":%s,\"created\":1,\"expires\":2,\"revoked\":false,"
		 "\"token\":\"abc\"}]}",
		 h); /* unknown field */
	const char *bad[] = {
		"",
		"not json",
		"[]",
		"{\"version\":1}",
		"{\"version\":2,\"delegates\":[]}",
		"{\"version\":\"1\",\"delegates\":[]}",
		"{\"version\":1,\"delegates\":{}}",
		"{\"version\":1,\"delegates\":[],\"extra\":0}",
		"{\"version\":1,\"version\":1,\"delegates\":[]}",
		"{\"version\":1,\"delegates\":[1]}",
		entries[0],
		entries[1],
		entries[2],
		entries[3],
		entries[4],
		entries[5],
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		write_file(path, bad[i], 0600);
		struct dm_delegates *d = (struct dm_delegates *)&d;
		loglen = 0;
		int rc = dm_delegates_new(path, &d);
		if (rc != DM_ECONFIG)
			fail_msg("case %zu accepted (%d): %s", i, rc, bad[i]);
		assert_null(d);
		assert_true(log_has(path));
	}
	/* the file is left as it was: nobody's access is lost silently */
	assert_string_equal(read_text(path), bad[sizeof bad / sizeof bad[0] - 1]);

	/* and the good entry alone is fine */
	char ok[4096];
	snprintf(ok, sizeof ok, "{\"version\":1,\"delegates\":[%s]}", good);
	write_file(path, ok, 0600);
	struct dm_delegates *d = NULL;
	assert_int_equal(dm_delegates_new(path, &d), 0);
	assert_int_equal(dm_delegates_count(d), 1);
	dm_delegates_free(d);
}

static void delegates_bad_args(void **state)
{
	const char *path = *state;
	struct dm_delegates *d = (struct dm_delegates *)&d;
	assert_int_equal(dm_delegates_new(NULL, &d), DM_EINVAL);
	assert_null(d);
	assert_int_equal(dm_delegates_new("", &d), DM_EINVAL);
	assert_int_equal(dm_delegates_new(path, NULL), DM_EINVAL);
	/* a folder that does not exist: nowhere to save */
	assert_int_equal(dm_delegates_new(path_of("no/such/dir/state.json"), &d), DM_EIO);
	assert_null(d);
	dm_delegates_free(NULL);
	assert_null(dm_delegates_list_json(NULL));
	assert_int_equal(dm_delegates_count(NULL), 0);

	assert_int_equal(dm_delegates_new(path, &d), 0);
	char id[DM_DELEGATE_ID_LEN + 1], tok[DM_DELEGATE_TOKEN_LEN + 1];
	assert_int_equal(dm_delegates_add(NULL, "x", DAY, NOW, id, tok, NULL, NULL), DM_EINVAL);
	assert_int_equal(dm_delegates_add(d, NULL, DAY, NOW, id, tok, NULL, NULL), DM_EINVAL);
	assert_int_equal(dm_delegates_add(d, "x", DAY, NOW, NULL, tok, NULL, NULL), DM_EINVAL);
	assert_int_equal(dm_delegates_add(d, "x", DAY, NOW, id, NULL, NULL, NULL), DM_EINVAL);
	/* validity out of range */
	assert_int_equal(
		dm_delegates_add(d, "x", DM_DELEGATE_VALID_MIN_S - 1, NOW, id, tok, NULL, NULL),
		DM_EINVAL);
	assert_int_equal(
		dm_delegates_add(d, "x", DM_DELEGATE_VALID_MAX_S + 1, NOW, id, tok, NULL, NULL),
		DM_EINVAL);
	assert_int_equal(
		dm_delegates_add(d, "x", DM_DELEGATE_VALID_MAX_S, NOW, id, tok, NULL, NULL), 0);
	/* names: empty, too long, control characters, not UTF-8 */
	char long_name[DM_DELEGATE_NAME_MAX + 1];
	memset(long_name, 'n', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	static const char *const bad_names[] = {"",	"a\nb", "tab\there",  "esc\x1b[2J",
						"\xff", "\xc3", "c1\xc2\x9b", "del\x7f"};
	for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
		if (dm_delegates_add(d, bad_names[i], DAY, NOW, id, tok, NULL, NULL) != DM_EINVAL)
			fail_msg("name %zu accepted", i);
	}
	assert_int_equal(dm_delegates_add(d, long_name, DAY, NOW, id, tok, NULL, NULL), DM_EINVAL);
	long_name[DM_DELEGATE_NAME_MAX - 1] = '\0'; /* 127 bytes: the most */
	assert_int_equal(dm_delegates_add(d, long_name, DAY, NOW, id, tok, NULL, NULL), 0);
	assert_int_equal(dm_delegates_count(d), 2);

	assert_int_equal(dm_delegates_revoke(NULL, "d00000000", NOW), DM_EINVAL);
	assert_int_equal(dm_delegates_revoke(d, NULL, NOW), DM_EINVAL);
	const char *why = NULL;
	assert_int_equal(dm_delegates_auth(NULL, "x", 1, NOW, NULL, NULL, NULL, &why), DM_EINVAL);
	assert_int_equal(dm_delegates_auth(d, NULL, 0, NOW, NULL, NULL, NULL, &why), DM_EINVAL);
	dm_delegates_free(d);
}

/* Once saving fails nothing changes in memory either: what is served is what
 * a restart would load. */
static void delegates_save_failure(void **state)
{
	const char *path = *state;
	char sub[PATH_MAX], file[PATH_MAX + 16];
	snprintf(sub, sizeof sub, "%s.dir", path);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(file, sizeof file, "%s/state.json", sub);
	struct dm_delegates *d = NULL;
	assert_int_equal(dm_delegates_new(file, &d), 0);
	struct issued a;
	add(d, "a", DAY, NOW, &a);
	/* the folder goes away: the temporary file cannot be made */
	assert_int_equal(unlink(file), 0);
	assert_int_equal(rmdir(sub), 0);
	char id[DM_DELEGATE_ID_LEN + 1], tok[DM_DELEGATE_TOKEN_LEN + 1];
	loglen = 0;
	assert_int_equal(dm_delegates_add(d, "b", DAY, NOW, id, tok, NULL, NULL), DM_EIO);
	assert_true(log_has("cannot"));
	assert_int_equal(dm_delegates_count(d), 1);
	assert_int_equal(dm_delegates_revoke(d, a.id, NOW), DM_EIO);
	assert_int_equal(auth(d, a.token, NOW + 1, NULL, NULL, NULL), 0);
	dm_delegates_free(d);
}

/* A full store forgets those that can no longer sign in, never a valid one. */
static void delegates_full(void **state)
{
	const char *path = *state;
	size_t cap = (size_t)DM_DELEGATES_MAX * 256 + 64;
	char *text = malloc(cap);
	assert_non_null(text);
	size_t n = (size_t)snprintf(text, cap, "{\"version\":1,\"delegates\":[");
	for (int i = 0; i < DM_DELEGATES_MAX; i++)
		n += (size_t)snprintf(text + n, cap - n,
				      "%s{\"id\":\"d%08x\",\"name\":\"n\",\"token_sha256\":"
				      "\"%064x\",\"created\":1,\"expires\":%lld,"
				      "\"revoked\":false}",
				      i ? "," : "", (unsigned)i, (unsigned)i, NOW + DAY);
	snprintf(text + n, cap - n, "]}");
	write_file(path, text, 0600);
	free(text);
	struct dm_delegates *d = NULL;
	assert_int_equal(dm_delegates_new(path, &d), 0);
	assert_int_equal(dm_delegates_count(d), DM_DELEGATES_MAX);
	char id[DM_DELEGATE_ID_LEN + 1], tok[DM_DELEGATE_TOKEN_LEN + 1];
	assert_int_equal(dm_delegates_add(d, "one too many", DAY, NOW, id, tok, NULL, NULL),
			 DM_ENOSPC);
	assert_int_equal(dm_delegates_revoke(d, "d00000007", NOW), 1);
	assert_int_equal(dm_delegates_add(d, "in its place", DAY, NOW, id, tok, NULL, NULL), 0);
	assert_int_equal(dm_delegates_count(d), DM_DELEGATES_MAX);
	assert_int_equal(dm_delegates_revoke(d, "d00000007", NOW), DM_ENOENT);
	assert_int_equal(dm_delegates_auth(d, tok, strlen(tok), NOW, NULL, NULL, NULL, NULL), 0);
	dm_delegates_free(d);
}

struct race {
	struct dm_delegates *d;
	int ok;
};

static void *race_add(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < 20; i++) {
		char id[DM_DELEGATE_ID_LEN + 1], tok[DM_DELEGATE_TOKEN_LEN + 1];
		if (dm_delegates_add(r->d, "r", DAY, NOW, id, tok, NULL, NULL) == 0 &&
		    dm_delegates_auth(r->d, tok, strlen(tok), NOW, NULL, NULL, NULL, NULL) == 0)
			r->ok++;
	}
	return NULL;
}

static void delegates_threads(void **state)
{
	const char *path = *state;
	struct dm_delegates *d = NULL;
	assert_int_equal(dm_delegates_new(path, &d), 0);
	struct race r[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		r[i] = (struct race){.d = d};
		assert_int_equal(pthread_create(&th[i], NULL, race_add, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].ok, 20);
	}
	assert_int_equal(dm_delegates_count(d), 80);
	dm_delegates_free(d);
	assert_int_equal(dm_delegates_new(path, &d), 0);
	assert_int_equal(dm_delegates_count(d), 80);
	dm_delegates_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(delegates_add_auth, setup),
		cmocka_unit_test_setup(delegates_revoke, setup),
		cmocka_unit_test_setup(delegates_expire, setup),
		cmocka_unit_test_setup(delegates_persist, setup),
		cmocka_unit_test_setup(delegates_refuse_open_file, setup),
		cmocka_unit_test_setup(delegates_malformed_file, setup),
		cmocka_unit_test_setup(delegates_bad_args, setup),
		cmocka_unit_test_setup(delegates_save_failure, setup),
		cmocka_unit_test_setup(delegates_full, setup),
		cmocka_unit_test_setup(delegates_threads, setup),
	};
	return cmocka_run_group_tests_name("delegates", tests, group_setup, group_teardown);
}
