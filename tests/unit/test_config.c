/* Unit tests of the configuration loader: the demo, defaults, lookups, and one
 * case per problem the loader must report, each checked for its words AND its
 * line. Fixtures: configs/demo.conf, tests/unit/data/config/, and small files
 * written to a fresh temporary folder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dragoman/config.h"
#include "dragoman/error.h"

/* base64 of the bytes 0..31: a valid secret */
#define GOOD_SECRET "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"

struct seen {
	char file[PATH_MAX];
	int line;
	char msg[1024];
};

static struct {
	struct seen p[64];
	size_t n;
} got;

static char tmpdir[PATH_MAX];
static char srcroot[PATH_MAX];

static void collect(void *user, const char *file, int line, const char *msg)
{
	(void)user;
	if (got.n < sizeof got.p / sizeof got.p[0]) {
		snprintf(got.p[got.n].file, sizeof got.p[got.n].file, "%s", file);
		got.p[got.n].line = line;
		snprintf(got.p[got.n].msg, sizeof got.p[got.n].msg, "%s", msg);
	}
	got.n++;
}

static void dump_got(void)
{
	for (size_t i = 0; i < got.n && i < sizeof got.p / sizeof got.p[0]; i++)
		print_message("  got: %s:%d: %s\n", got.p[i].file, got.p[i].line, got.p[i].msg);
}

/* True when some reported problem is at line and holds every word of want
 * (words separated by '|'). */
static bool reported(int line, const char *want)
{
	for (size_t i = 0; i < got.n && i < sizeof got.p / sizeof got.p[0]; i++) {
		if (got.p[i].line != line)
			continue;
		char words[512];
		snprintf(words, sizeof words, "%s", want);
		bool all = true;
		char *save = NULL;
		for (char *w = strtok_r(words, "|", &save); w && all;
		     w = strtok_r(NULL, "|", &save))
			all = strstr(got.p[i].msg, w) != NULL;
		if (all)
			return true;
	}
	return false;
}

static void expect_reported(const char *what, int line, const char *want)
{
	if (!reported(line, want)) {
		dump_got();
		fail_msg("%s: no problem at line %d containing '%s'", what, line, want);
	}
}

/* a/b into buf; test paths never come near PATH_MAX, so a cut is a bug here */
static void join(char *buf, size_t cap, const char *a, const char *b)
{
	int n = snprintf(buf, cap, "%s/%s", a, b);
	assert_true(n > 0 && (size_t)n < cap);
}

static const char *tmp_path(const char *name)
{
	static char buf[4][PATH_MAX];
	static int k;
	k = (k + 1) % 4;
	join(buf[k], sizeof buf[k], tmpdir, name);
	return buf[k];
}

static const char *write_file(const char *name, const char *text, mode_t mode)
{
	const char *path = tmp_path(name);
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	size_t n = strlen(text);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0); /* whatever the umask says */
	close(fd);
	return path;
}

static const char *src_path(const char *rel)
{
	static char buf[PATH_MAX];
	join(buf, sizeof buf, srcroot, rel);
	return buf;
}

static int load(const char *path, bool check_secret, struct dm_config **cfg)
{
	memset(&got, 0, sizeof got);
	return dm_config_load(path, check_secret, collect, NULL, cfg);
}

/* Where the sources are: $DM_SOURCE_ROOT, or else __FILE__, which meson gives
 * relative to the build folder, the parent of this executable's folder. */
static int find_srcroot(void)
{
	const char *env = getenv("DM_SOURCE_ROOT");
	if (env) {
		snprintf(srcroot, sizeof srcroot, "%s", env);
		return 0;
	}
	char file[PATH_MAX];
	snprintf(file, sizeof file, "%s", __FILE__);
	char *unit = dirname(file); /* .../tests/unit */
	char rel[PATH_MAX];
	snprintf(rel, sizeof rel, "%s/../..", unit); /* the source root */
	if (rel[0] == '/') {
		snprintf(srcroot, sizeof srcroot, "%s", rel);
		return 0;
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n < 0)
		return -1;
	exe[n] = '\0';
	char *build = dirname(dirname(exe));
	int len = snprintf(srcroot, sizeof srcroot, "%s/%s", build, rel);
	return len > 0 && (size_t)len < sizeof srcroot ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/dm-test-config-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	return find_srcroot();
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---- good files ---- */

/* configs/ministerial.conf, the reference event, as committed: in a
 * folder of its own with what its header says to create first. */
static void config_ministerial_loads(void **state)
{
	(void)state;
	FILE *in = fopen(src_path("configs/ministerial.conf"), "r");
	assert_non_null(in);
	static char text[16384];
	size_t n = fread(text, 1, sizeof text - 1, in);
	fclose(in);
	assert_true(n > 0 && n < sizeof text - 1);
	text[n] = '\0';
	const char *conf = write_file("ministerial.conf", text, 0644);
	write_file("ministerial.tokens", "technician 0123456789abcdef0123456789abcdef\n", 0600);
	const char *rec = tmp_path("recordings");
	assert_true(mkdir(rec, 0755) == 0 || errno == EEXIST);
	struct dm_config *cfg = NULL;
	int rc = load(conf, false, &cfg);
	if (rc != 0)
		dump_got();
	assert_int_equal(rc, 0);
	assert_int_equal(got.n, 0);
	const struct dm_conference_conf *c = dm_config_conference(cfg);
	assert_string_equal(c->id, "ministerial");
	assert_int_equal(dm_config_channel_count(cfg), 8); /* the floor and 7 languages */
	assert_int_equal(dm_config_booth_count(cfg), 7);
	assert_int_equal(dm_config_console_count(cfg), 14);
	assert_string_equal(c->recording_dir, rec);
	/* the retour booths give English on B */
	size_t retour = 0;
	for (size_t i = 0; i < dm_config_console_count(cfg); i++)
		retour += dm_config_console(cfg, i)->b > 0;
	assert_int_equal(retour, 6);
	dm_config_free(cfg);
}

static void config_demo_loads(void **state)
{
	(void)state;
	struct dm_config *cfg = NULL;
	const char *path = src_path("configs/demo.conf");
	int rc = load(path, false, &cfg);
	if (rc != 0)
		dump_got();
	assert_int_equal(rc, 0);
	assert_int_equal(got.n, 0);
	assert_non_null(cfg);

	const struct dm_conference_conf *c = dm_config_conference(cfg);
	assert_non_null(c);
	assert_string_equal(c->id, "demo");
	assert_string_equal(c->name, "Demo conference");
	char want[PATH_MAX];
	join(want, sizeof want, srcroot, "configs/demo.secret");
	assert_string_equal(c->secret_file, want);
	assert_non_null(c->profile);
	assert_string_equal(c->profile->name, "lan");
	assert_int_equal(c->suite, DM_SRTP_AES_CM_128_HMAC_SHA1_80);
	assert_string_equal(c->jack_client, "dragoman");
	assert_string_equal(c->jack_server, "");
	assert_string_equal(c->interface, "127.0.0.1");
	assert_int_equal(c->ttl, 1);
	assert_int_equal(c->interlock, DM_INTERLOCK_BLOCK);
	assert_string_equal(c->control_listen, "127.0.0.1:8470");
	assert_string_equal(c->tokens_file, "");

	assert_int_equal(dm_config_channel_count(cfg), 4);
	static const struct {
		const char *id, *name, *language, *group;
		enum dm_fallback fallback;
		int line;
	} ch[] = {
		{"floor", "Floor", "und", "239.255.42.0", DM_FALLBACK_FLOOR, 4},
		{"en", "English", "en", "239.255.42.1", DM_FALLBACK_FLOOR, 6},
		{"fr", "Français", "fr", "239.255.42.2", DM_FALLBACK_FLOOR, 7},
		{"es", "Español", "es", "239.255.42.3", DM_FALLBACK_SILENCE, 8},
	};
	for (size_t i = 0; i < 4; i++) {
		const struct dm_channel_conf *x = dm_config_channel(cfg, i);
		assert_non_null(x);
		assert_int_equal(x->number, (int)i);
		assert_string_equal(x->id, ch[i].id);
		assert_string_equal(x->name, ch[i].name);
		assert_string_equal(x->language, ch[i].language);
		assert_string_equal(x->group, ch[i].group);
		assert_int_equal(x->port, 5004);
		assert_int_equal(x->fallback, ch[i].fallback);
		assert_int_equal(x->line, ch[i].line);
	}
	assert_null(dm_config_channel(cfg, 4));

	assert_int_equal(dm_config_booth_count(cfg), 2);
	const struct dm_booth_conf *b = dm_config_booth(cfg, 0);
	assert_string_equal(b->id, "fr");
	assert_int_equal(b->first_console, 0);
	assert_int_equal(b->console_count, 2);
	assert_int_equal(b->line, 11);
	b = dm_config_booth(cfg, 1);
	assert_string_equal(b->id, "es");
	assert_int_equal(b->first_console, 2);
	assert_int_equal(b->console_count, 1);
	assert_int_equal(b->line, 12);
	assert_null(dm_config_booth(cfg, 2));

	assert_int_equal(dm_config_console_count(cfg), 3);
	static const struct {
		const char *id, *booth;
		int a, b;
		bool live;
		int line;
	} co[] = {
		{"fr-1", "fr", 2, -1, true, 11},
		{"fr-2", "fr", 2, -1, false, 11},
		{"es-1", "es", 3, 1, true, 12},
	};
	for (size_t i = 0; i < 3; i++) {
		const struct dm_console_conf *x = dm_config_console(cfg, i);
		assert_non_null(x);
		assert_string_equal(x->id, co[i].id);
		assert_string_equal(x->booth, co[i].booth);
		assert_int_equal(x->a, co[i].a);
		assert_int_equal(x->b, co[i].b);
		assert_int_equal(x->live, co[i].live);
		assert_int_equal(x->line, co[i].line);
	}
	assert_null(dm_config_console(cfg, 3));
	dm_config_free(cfg);
}

static void config_defaults(void **state)
{
	(void)state;
	struct dm_config *cfg = NULL;
	const char *path = write_file("minimal.conf",
				      "conference = { id = \"m\"; secret_file = \"m.key\"; };\n"
				      "floor = { group = \"239.0.0.1\"; port = 1024; };\n",
				      0644);
	assert_int_equal(load(path, false, &cfg), 0);
	const struct dm_conference_conf *c = dm_config_conference(cfg);
	assert_string_equal(c->name, "m");
	assert_string_equal(c->secret_file, tmp_path("m.key"));
	assert_ptr_equal(c->profile, dm_profile_default());
	assert_int_equal(c->suite, DM_SRTP_AES_CM_128_HMAC_SHA1_80);
	assert_string_equal(c->jack_client, DM_DEFAULT_JACK_CLIENT);
	assert_string_equal(c->jack_server, "");
	assert_string_equal(c->interface, DM_DEFAULT_INTERFACE);
	assert_int_equal(c->ttl, DM_DEFAULT_TTL);
	assert_int_equal(c->interlock, DM_INTERLOCK_BLOCK);
	assert_float_equal(c->phones_ceiling_dbfs, -6.0, 0);
	assert_float_equal(c->sidetone_db, -12.0, 0);
	assert_string_equal(c->control_listen, DM_DEFAULT_CONTROL_LISTEN);
	assert_string_equal(c->control_addr, "127.0.0.1");
	assert_int_equal(c->control_port, 8470);
	assert_string_equal(c->tokens_file, "");
	assert_string_equal(c->tls_cert, "");
	assert_string_equal(c->tls_key, "");
	assert_false(c->remote);
	assert_int_equal(c->alarm_silence_s, 10);
	assert_int_equal(dm_config_channel_count(cfg), 1);
	assert_string_equal(dm_config_channel(cfg, 0)->name, "Floor");
	assert_string_equal(dm_config_channel(cfg, 0)->language, "und");
	assert_int_equal(dm_config_booth_count(cfg), 0);
	assert_int_equal(dm_config_console_count(cfg), 0);
	dm_config_free(cfg);

	/* A channel with only what is required: name and language are its id. */
	path = write_file(
		"minimal2.conf",
		"conference = { id = \"m\"; secret_file = \"/abs/m.key\"; };\n"
		"floor = { group = \"239.0.0.1\"; port = 65534; };\n"
		"channels = ( { id = \"de\"; group = \"239.0.0.2\"; port = 5004; } );\n"
		"booths = ( { id = \"de\"; consoles = ( { id = \"de-1\"; a = \"de\"; } ); } );\n",
		0644);
	assert_int_equal(load(path, false, &cfg), 0);
	assert_string_equal(dm_config_conference(cfg)->secret_file, "/abs/m.key");
	const struct dm_channel_conf *de = dm_config_channel(cfg, 1);
	assert_string_equal(de->name, "de");
	assert_string_equal(de->language, "de");
	assert_int_equal(de->fallback, DM_FALLBACK_FLOOR);
	assert_int_equal(dm_config_console(cfg, 0)->b, -1);
	assert_false(dm_config_console(cfg, 0)->live);
	dm_config_free(cfg);
}

static void config_all_fields(void **state)
{
	(void)state;
	struct dm_config *cfg = NULL;
	int rc = load(src_path("tests/unit/data/config/all-fields.conf"), false, &cfg);
	if (rc != 0)
		dump_got();
	assert_int_equal(rc, 0);
	const struct dm_conference_conf *c = dm_config_conference(cfg);
	assert_string_equal(c->id, "seoul-2021");
	assert_string_equal(c->name, "Peacekeeping Ministerial");
	assert_string_equal(c->secret_file, "/etc/dragoman/seoul.secret");
	assert_string_equal(c->profile->name, "wifi");
	assert_int_equal(c->suite, DM_SRTP_AEAD_AES_256_GCM);
	assert_string_equal(c->jack_client, "plenary");
	assert_string_equal(c->jack_server, "venue");
	assert_string_equal(c->interface, "10.1.2.3");
	assert_int_equal(c->ttl, 16);
	assert_int_equal(c->interlock, DM_INTERLOCK_OVERRIDE);
	assert_float_equal(c->phones_ceiling_dbfs, -10.5, 0);
	assert_float_equal(c->sidetone_db, -20.0, 0);
	assert_string_equal(c->control_listen, "10.1.2.3:9000");
	assert_string_equal(c->control_addr, "10.1.2.3");
	assert_int_equal(c->control_port, 9000);
	assert_string_equal(c->tokens_file, "/etc/dragoman/seoul.tokens");
	assert_int_equal(dm_config_channel_count(cfg), 3);
	assert_string_equal(dm_config_channel(cfg, 0)->name, "Rostrum");
	assert_string_equal(dm_config_channel(cfg, 0)->language, "ko");
	assert_int_equal(dm_config_channel(cfg, 0)->port, 6000);
	assert_string_equal(dm_config_channel(cfg, 1)->name, "中文");
	assert_string_equal(dm_config_channel(cfg, 1)->language, "zh-Hans");
	assert_int_equal(dm_config_channel(cfg, 1)->fallback, DM_FALLBACK_SILENCE);
	/* same group as the floor, 2 ports up: RTP and RTCP do not overlap */
	assert_string_equal(dm_config_channel(cfg, 2)->id, "ko_relay");
	assert_int_equal(dm_config_channel(cfg, 2)->port, 6002);
	assert_int_equal(dm_config_booth_count(cfg), 2);
	assert_int_equal(dm_config_booth(cfg, 1)->console_count, 0);
	assert_int_equal(dm_config_console_count(cfg), 1);
	assert_int_equal(dm_config_console(cfg, 0)->a, 1);
	assert_int_equal(dm_config_console(cfg, 0)->b, 2);
	dm_config_free(cfg);
}

/* Each suite and profile name the issue lists is accepted; ids at the limit too. */
static void config_accepted_values(void **state)
{
	(void)state;
	static const char *const conf[] = {
		"srtp = \"AES_CM_128_HMAC_SHA1_80\"; profile = \"lan\";",
		"srtp = \"AEAD_AES_128_GCM\"; profile = \"lan-ultra\";",
		"srtp = \"AEAD_AES_256_GCM\"; profile = \"internet\";",
		"id = \"abcdefghijklmnopqrstuvwxyz_-ABC\";", /* 31 characters: the most */
		"interlock = \"block\"; phones_ceiling_dbfs = 0; sidetone_db = 0.0;",
		"interlock = \"override\"; phones_ceiling_dbfs = -40.0; sidetone_db = -60;",
		"phones_ceiling_dbfs = -39.5; sidetone_db = -59.99;",
	};
	for (size_t i = 0; i < sizeof conf / sizeof conf[0]; i++) {
		char text[1024];
		snprintf(text, sizeof text,
			 "conference = { %s %s secret_file = \"k\"; };\n"
			 "floor = { group = \"224.0.0.0\"; port = 5004; };\n"
			 "network = { ttl = 0; interface = \"0.0.0.0\"; };\n"
			 "channels = ( { id = \"x\"; group = \"239.255.255.255\"; port = 5004; } "
			 ");\n",
			 strstr(conf[i], "id =") ? "" : "id = \"c\";", conf[i]);
		struct dm_config *cfg = NULL;
		int rc = load(write_file("accepted.conf", text, 0644), false, &cfg);
		if (rc != 0) {
			dump_got();
			fail_msg("refused: %s", conf[i]);
		}
		dm_config_free(cfg);
	}
}

/* alarms.silence_s: the limits are accepted, and the value reaches the conference. */
static void config_alarms(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int want;
	} ok[] = {{"alarms = { silence_s = 3; };", 3},
		  {"alarms = { silence_s = 1; };", 1},
		  {"alarms = { silence_s = 3600; };", 3600},
		  {"alarms = { };", 10}};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		char text[512];
		snprintf(text, sizeof text,
			 "conference = { id = \"a\"; secret_file = \"k\"; };\n"
			 "floor = { group = \"239.0.0.1\"; port = 5004; };\n%s\n",
			 ok[i].text);
		struct dm_config *cfg = NULL;
		int rc = load(write_file("alarms.conf", text, 0644), false, &cfg);
		if (rc != 0) {
			dump_got();
			fail_msg("refused: %s", ok[i].text);
		}
		assert_int_equal(dm_config_conference(cfg)->alarm_silence_s, ok[i].want);
		dm_config_free(cfg);
	}
}

static void config_find_channel(void **state)
{
	(void)state;
	struct dm_config *cfg = NULL;
	assert_int_equal(load(src_path("configs/demo.conf"), false, &cfg), 0);
	static const struct {
		const char *q;
		int want;
	} t[] = {
		{"floor", 0},	   {"0", 0},	      {"en", 1},
		{"1", 1},	   {"fr", 2},	      {"2", 2},
		{"es", 3},	   {"3", 3},	      {"4", DM_ENOENT},
		{"de", DM_ENOENT}, {"", DM_ENOENT},   {"-1", DM_ENOENT},
		{"FR", DM_ENOENT}, {"2x", DM_ENOENT}, {"99999999999999999999", DM_ENOENT},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		int rc = dm_config_find_channel(cfg, t[i].q);
		if (rc != t[i].want)
			fail_msg("find '%s': %d, want %d", t[i].q, rc, t[i].want);
	}
	assert_int_equal(dm_config_find_channel(cfg, NULL), DM_EINVAL);
	assert_int_equal(dm_config_find_channel(NULL, "en"), DM_EINVAL);
	dm_config_free(cfg);
}

static void config_null_args(void **state)
{
	(void)state;
	struct dm_config *cfg = (struct dm_config *)&cfg; /* must be overwritten */
	assert_int_equal(dm_config_load(NULL, false, collect, NULL, &cfg), DM_EINVAL);
	assert_int_equal(dm_config_load(src_path("configs/demo.conf"), false, collect, NULL, NULL),
			 DM_EINVAL);
	dm_config_free(NULL);
	assert_null(dm_config_conference(NULL));
	assert_int_equal(dm_config_channel_count(NULL), 0);
	assert_null(dm_config_channel(NULL, 0));
	assert_int_equal(dm_config_console_count(NULL), 0);
	assert_null(dm_config_console(NULL, 0));
	assert_int_equal(dm_config_booth_count(NULL), 0);
	assert_null(dm_config_booth(NULL, 0));

	/* on_error may be NULL: the result still says there were problems */
	cfg = (struct dm_config *)&cfg;
	assert_int_equal(dm_config_load(src_path("tests/unit/data/config/many-errors.conf"), false,
					NULL, NULL, &cfg),
			 DM_ECONFIG);
	assert_null(cfg);
}

/* ---- one problem at a time ---- */

#define CONF "conference = { id = \"t\"; secret_file = \"t.key\"; };\n" /* line 1 */
#define FLOOR "floor = { group = \"239.1.1.0\"; port = 5000; };\n"	/* line 2 */
#define EN "  { id = \"en\"; group = \"239.1.1.1\"; port = 5004; },\n"
#define FR "  { id = \"fr\"; group = \"239.1.1.2\"; port = 5004; }\n"
#define CHANNELS "channels = (\n" EN FR ");\n" /* lines 3-6: en on 4, fr on 5 */
#define TOKENS "control = { tokens_file = \"t.tokens\"; };\n"

struct bad_case {
	const char *name;
	const char *text;
	int line;
	const char *want; /* words, separated by | */
	size_t count;	  /* problems in all: no cascades */
};

static const struct bad_case bad[] = {
	/* libconfig's own errors */
	{"syntax", CONF "floor = { group = ; };\n", 2, "syntax error", 1},
	{"duplicate setting",
	 "conference = { id = \"a\";\n id = \"b\"; secret_file = \"k\"; };\n" FLOOR, 2,
	 "duplicate setting name", 1},
	/* missing required settings */
	{"no conference", FLOOR, 0, "missing required setting 'conference'", 1},
	{"no conference.id", "conference = { secret_file = \"k\"; };\n" FLOOR, 1,
	 "conference: missing required setting 'id'", 1},
	{"no secret_file", "conference = { id = \"t\"; };\n" FLOOR, 1,
	 "missing required setting 'secret_file'", 1},
	{"no floor", CONF, 0, "missing required setting 'floor'", 1},
	{"no floor.group", CONF "floor = { port = 5000; };\n", 2,
	 "floor: missing required setting 'group'", 1},
	{"no floor.port", CONF "floor = { group = \"239.1.1.0\"; };\n", 2,
	 "floor: missing required setting 'port'", 1},
	{"no channel id", CONF FLOOR "channels = (\n { group = \"239.1.1.1\"; port = 5004; }\n);\n",
	 4, "channel 1: missing required setting 'id'", 1},
	{"no channel group", CONF FLOOR "channels = (\n" EN "  { id = \"fr\"; port = 5004; }\n);\n",
	 5, "channel fr: missing required setting 'group'", 1},
	{"no channel port",
	 CONF FLOOR "channels = (\n" EN "  { id = \"fr\"; group = \"239.1.1.2\"; }\n);\n", 5,
	 "channel fr: missing required setting 'port'", 1},
	{"no booth id", CONF FLOOR CHANNELS "booths = (\n { consoles = ( ); }\n);\n", 8,
	 "booth 1: missing required setting 'id'", 1},
	{"no console id",
	 CONF FLOOR CHANNELS "booths = ( { id = \"fr\"; consoles = (\n { a = \"fr\"; }\n); } );\n",
	 8, "console 1 of booth fr: missing required setting 'id'", 1},
	{"no console a",
	 CONF FLOOR CHANNELS
	 "booths = ( { id = \"fr\"; consoles = (\n { id = \"fr-1\"; }\n); } );\n",
	 8, "console fr-1: missing required setting 'a'", 1},
	/* wrong types */
	{"conference not a group", "conference = \"t\";\n" FLOOR, 1, "'conference' must be a group",
	 1},
	{"channels not a list", CONF FLOOR "channels = { id = \"en\"; };\n", 3,
	 "'channels' must be a list", 1},
	{"channel not a group", CONF FLOOR "channels = (\n \"en\" );\n", 4,
	 "channel 1 must be a group", 1},
	{"port a string", CONF "floor = { group = \"239.1.1.0\";\n port = \"5000\"; };\n", 3,
	 "floor: 'port' must be an integer", 1},
	{"id a number", "conference = {\n id = 7; secret_file = \"k\"; };\n" FLOOR, 2,
	 "conference: 'id' must be a string", 1},
	{"ttl a string", CONF FLOOR "network = {\n ttl = \"1\"; };\n", 4,
	 "'ttl' must be an integer", 1},
	{"live an integer",
	 CONF FLOOR CHANNELS "booths = ( { id = \"fr\"; consoles = ( { id = \"fr-1\"; a = "
			     "\"fr\";\n live = 1; } ); } );\n",
	 8, "console fr-1: 'live' must be true or false", 1},
	{"consoles not a list",
	 CONF FLOOR CHANNELS "booths = ( { id = \"fr\";\n consoles = \"fr-1\"; } );\n", 8,
	 "booth fr: 'consoles' must be a list", 1},
	/* ids */
	{"empty id",
	 CONF FLOOR "channels = (\n { id = \"\"; group = \"239.1.1.1\"; port = 5004; }\n);\n", 4,
	 "channel 1: id is empty", 1},
	{"long id",
	 CONF FLOOR "channels = (\n { id = \"abcdefghijklmnopqrstuvwxyz012345\"; group = "
		    "\"239.1.1.1\"; port = 5004; }\n);\n",
	 4, "id 'abcdefghijklmnopqrstuvwxyz012345' is too long|at most 31", 1},
	{"id with a space",
	 CONF FLOOR "channels = (\n { id = \"e n\"; group = \"239.1.1.1\"; port = 5004; }\n);\n", 4,
	 "id 'e n' has characters other than", 1},
	{"id with a dot",
	 CONF FLOOR CHANNELS
	 "booths = ( { id = \"fr\"; consoles = (\n { id = \"fr.1\"; a = \"fr\"; } ); } );\n",
	 8, "id 'fr.1' has characters other than", 1},
	{"conference id", "conference = { id = \"t/1\"; secret_file = \"k\"; };\n" FLOOR, 1,
	 "conference: id 't/1' has characters other than", 1},
	{"channel named floor",
	 CONF FLOOR "channels = (\n { id = \"floor\"; group = \"239.1.1.1\"; port = 5004; }\n);\n",
	 4, "id 'floor' is reserved", 1},
	{"numeric channel id",
	 CONF FLOOR "channels = (\n { id = \"12\"; group = \"239.1.1.1\"; port = 5004; }\n);\n", 4,
	 "id '12' must not be a number", 1},
	{"duplicate channel",
	 CONF FLOOR "channels = (\n" EN
		    "  { id = \"en\"; group = \"239.1.1.2\"; port = 5004; }\n);\n",
	 5, "duplicate channel id 'en'|line 4", 1},
	{"duplicate booth",
	 CONF FLOOR CHANNELS "booths = (\n { id = \"fr\"; },\n { id = \"fr\"; }\n);\n", 9,
	 "duplicate booth id 'fr'|line 8", 1},
	{"duplicate console",
	 CONF FLOOR CHANNELS
	 "booths = (\n { id = \"fr\"; consoles = ( { id = \"x\"; a = \"fr\"; } ); },\n"
	 " { id = \"en\"; consoles = ( { id = \"x\"; a = \"en\"; } ); }\n);\n",
	 9, "duplicate console id 'x'|line 8", 1},
	/* console outputs */
	{"unknown a",
	 CONF FLOOR CHANNELS
	 "booths = ( { id = \"de\"; consoles = ( { id = \"de-1\";\n a = \"de\"; } ); } );\n",
	 8, "console de-1: 'a' names unknown channel 'de'", 1},
	{"unknown b",
	 CONF FLOOR CHANNELS "booths = ( { id = \"fr\"; consoles = ( { id = \"fr-1\"; a = "
			     "\"fr\";\n b = \"ru\"; } ); } );\n",
	 8, "console fr-1: 'b' names unknown channel 'ru'", 1},
	{"a is the floor",
	 CONF FLOOR CHANNELS
	 "booths = ( { id = \"fr\"; consoles = ( { id = \"fr-1\";\n a = \"floor\"; } ); } );\n",
	 8, "'a' cannot be the floor", 1},
	{"a equals b",
	 CONF FLOOR CHANNELS "booths = ( { id = \"fr\"; consoles = ( { id = \"fr-1\"; a = "
			     "\"fr\";\n b = \"fr\"; } ); } );\n",
	 8, "console fr-1: a and b are the same channel (fr)", 1},
	{"two live booths",
	 CONF FLOOR CHANNELS
	 "booths = (\n { id = \"fr\"; consoles = ( { id = \"fr-1\"; a = \"fr\"; live = true; } ); "
	 "},\n { id = \"fr2\"; consoles = ( { id = \"x-1\"; a = \"fr\"; live = true; } ); }\n);\n",
	 9, "two live consoles on channel fr: fr-1 (booth fr) and x-1 (booth fr2)", 1},
	/* the interlock, levels and the control API */
	{"unknown interlock",
	 "conference = { id = \"t\"; secret_file = \"k\";\n interlock = \"steal\"; };\n" FLOOR, 2,
	 "conference: unknown interlock 'steal' (known: block, override)", 1},
	{"interlock a bool",
	 "conference = { id = \"t\"; secret_file = \"k\";\n interlock = true; };\n" FLOOR, 2,
	 "conference: 'interlock' must be a string", 1},
	{"ceiling above 0",
	 "conference = { id = \"t\"; secret_file = \"k\";\n phones_ceiling_dbfs = 1; };\n" FLOOR, 2,
	 "conference: phones_ceiling_dbfs 1 dBFS is out of range -40..0", 1},
	{"ceiling too low",
	 "conference = { id = \"t\"; secret_file = \"k\";\n phones_ceiling_dbfs = -40.5; "
	 "};\n" FLOOR,
	 2, "phones_ceiling_dbfs -40.5 dBFS is out of range -40..0", 1},
	{"ceiling a string",
	 "conference = { id = \"t\"; secret_file = \"k\";\n phones_ceiling_dbfs = \"-6\"; "
	 "};\n" FLOOR,
	 2, "conference: 'phones_ceiling_dbfs' must be a number", 1},
	{"sidetone above 0",
	 "conference = { id = \"t\"; secret_file = \"k\";\n sidetone_db = 0.5; };\n" FLOOR, 2,
	 "conference: sidetone_db 0.5 dB is out of range -60..0", 1},
	{"sidetone too low",
	 "conference = { id = \"t\"; secret_file = \"k\";\n sidetone_db = -61; };\n" FLOOR, 2,
	 "sidetone_db -61 dB is out of range -60..0", 1},
	{"control not a group", CONF FLOOR "control = \"127.0.0.1:8470\";\n", 3,
	 "'control' must be a group", 1},
	{"unknown control setting", CONF FLOOR "control = {\n port = 8470; };\n", 4,
	 "control: unknown setting 'port'", 1},
	{"listen without port", CONF FLOOR "control = {\n listen = \"127.0.0.1\"; };\n", 4,
	 "control: listen '127.0.0.1' is not ADDR:PORT|127.0.0.1:8470", 1},
	{"listen port 0", CONF FLOOR "control = {\n listen = \"127.0.0.1:0\"; };\n", 4,
	 "listen '127.0.0.1:0' is not ADDR:PORT", 1},
	{"listen port too big", CONF FLOOR "control = {\n listen = \"127.0.0.1:65536\"; };\n", 4,
	 "listen '127.0.0.1:65536' is not ADDR:PORT", 1},
	{"listen empty port", CONF FLOOR "control = {\n listen = \"127.0.0.1:\"; };\n", 4,
	 "listen '127.0.0.1:' is not ADDR:PORT", 1},
	{"listen host name", CONF FLOOR "control = {\n listen = \"localhost:8470\"; };\n", 4,
	 "listen 'localhost:8470' is not ADDR:PORT", 1},
	{"listen ipv6", CONF FLOOR "control = {\n listen = \"[::1]:8470\"; };\n", 4,
	 "listen '[::1]:8470' is not ADDR:PORT", 1},
	{"listen port sign", CONF FLOOR "control = {\n listen = \"127.0.0.1:+80\"; };\n", 4,
	 "listen '127.0.0.1:+80' is not ADDR:PORT", 1},
	{"listen a number", CONF FLOOR "control = {\n listen = 8470; };\n", 4,
	 "control: 'listen' must be a string", 1},
	{"empty tokens_file", CONF FLOOR "control = {\n tokens_file = \"\"; };\n", 4,
	 "control: 'tokens_file' is empty", 1},
	/* https */
	{"tls_cert alone", CONF FLOOR "control = {\n tls_cert = \"c.pem\"; };\n", 4,
	 "control: tls_cert and tls_key go together|both|neither", 1},
	{"tls_key alone",
	 CONF FLOOR "control = { listen = \"0.0.0.0:8470\";\n tls_key = \"k.pem\"; };\n", 4,
	 "control: tls_cert and tls_key go together", 1},
	{"empty tls_cert", CONF FLOOR "control = {\n tls_cert = \"\"; tls_key = \"k.pem\"; };\n", 4,
	 "control: 'tls_cert' is empty", 1},
	{"tls_key a number", CONF FLOOR "control = { tls_cert = \"c.pem\";\n tls_key = 1; };\n", 4,
	 "control: 'tls_key' must be a string", 1},
	{"unknown tls setting", CONF FLOOR "control = {\n tls_ca = \"ca.pem\"; };\n", 4,
	 "control: unknown setting 'tls_ca'", 1},
	/* remote delegates (TOKENS is line 3) */
	{"remote not a group", CONF FLOOR TOKENS "remote = \"0.0.0.0:5100\";\n", 4,
	 "'remote' must be a group", 1},
	{"remote without state_file",
	 CONF FLOOR TOKENS "remote = {\n listen = \"0.0.0.0:5100\"; };\n", 4,
	 "remote: missing required setting 'state_file'", 1},
	{"empty state_file", CONF FLOOR TOKENS "remote = {\n state_file = \"\"; };\n", 5,
	 "remote: 'state_file' is empty", 1},
	{"unknown remote setting",
	 CONF FLOOR TOKENS "remote = { state_file = \"s.json\";\n port = 5100; };\n", 5,
	 "remote: unknown setting 'port'", 1},
	{"remote listen without port",
	 CONF FLOOR TOKENS "remote = { state_file = \"s.json\";\n listen = \"0.0.0.0\"; };\n", 5,
	 "remote: listen '0.0.0.0' is not ADDR:PORT|0.0.0.0:5100", 1},
	{"remote listen port 0",
	 CONF FLOOR TOKENS "remote = { state_file = \"s.json\";\n listen = \"0.0.0.0:0\"; };\n", 5,
	 "remote: listen '0.0.0.0:0' is not ADDR:PORT", 1},
	{"remote listen host name",
	 CONF FLOOR TOKENS
	 "remote = { state_file = \"s.json\";\n listen = \"example.org:5100\"; };\n",
	 5, "remote: listen 'example.org:5100' is not ADDR:PORT", 1},
	{"remote listen a number",
	 CONF FLOOR TOKENS "remote = { state_file = \"s.json\";\n listen = 5100; };\n", 5,
	 "remote: 'listen' must be a string", 1},
	{"remote unknown profile",
	 CONF FLOOR TOKENS "remote = { state_file = \"s.json\";\n profile = \"dsl\"; };\n", 5,
	 "remote: unknown profile 'dsl' (known: lan, lan-ultra, wifi, internet)", 1},
	{"remote poll not a boolean",
	 CONF FLOOR TOKENS "remote = { state_file = \"s.json\";\n poll = 1; };\n", 5,
	 "remote: 'poll' must be true or false", 1},
	{"remote without tokens_file", CONF FLOOR "remote = { state_file = \"s.json\"; };\n", 3,
	 "remote: needs control.tokens_file", 1},
	{"remote with the api beyond loopback in clear",
	 CONF FLOOR "control = { tokens_file = \"t.tokens\"; listen = \"0.0.0.0:8470\"; };\n"
		    "remote = {\n state_file = \"s.json\"; };\n",
	 4, "remote: the control api listens on 0.0.0.0 without tls", 1},
	{"remote with an empty tokens_file",
	 CONF FLOOR "control = { tokens_file = \"\"; };\nremote = { state_file = \"s.json\"; };\n",
	 3, "control: 'tokens_file' is empty", 1 /* and no cascade */},
	/* alarms */
	{"alarms not a group", CONF FLOOR "alarms = 10;\n", 3, "'alarms' must be a group", 1},
	{"silence_s 0", CONF FLOOR "alarms = {\n silence_s = 0; };\n", 4,
	 "alarms: silence_s 0 is out of range 1..3600", 1},
	{"silence_s too long", CONF FLOOR "alarms = {\n silence_s = 3601; };\n", 4,
	 "alarms: silence_s 3601 is out of range 1..3600", 1},
	{"silence_s a string", CONF FLOOR "alarms = {\n silence_s = \"10\"; };\n", 4,
	 "alarms: 'silence_s' must be an integer", 1},
	{"unknown alarms setting", CONF FLOOR "alarms = {\n silence = 10; };\n", 4,
	 "alarms: unknown setting 'silence'", 1},
	/* addresses and ports */
	{"same group and port",
	 CONF FLOOR "channels = (\n" EN
		    "  { id = \"fr\"; group = \"239.1.1.1\"; port = 5004; }\n);\n",
	 5, "channel fr: 239.1.1.1:5004 is already used by channel en", 1},
	{"same as the floor",
	 CONF FLOOR "channels = (\n  { id = \"en\"; group = \"239.1.1.0\"; port = 5000; }\n);\n", 4,
	 "channel en: 239.1.1.0:5000 is already used by floor", 1},
	{"rtcp collides",
	 CONF FLOOR "channels = (\n" EN
		    "  { id = \"fr\"; group = \"239.1.1.1\"; port = 5005; }\n);\n",
	 5, "collides with channel en|rtcp uses port + 1", 2 /* and the odd port */},
	{"odd port",
	 CONF FLOOR "channels = (\n" EN
		    "  { id = \"fr\"; group = \"239.1.1.2\"; port = 5007; }\n);\n",
	 5, "port 5007 must be even and in 1024..65534", 1},
	{"low port", CONF "floor = { group = \"239.1.1.0\";\n port = 1000; };\n", 3,
	 "port 1000 must be even and in 1024..65534", 1},
	{"high port", CONF "floor = { group = \"239.1.1.0\";\n port = 65536; };\n", 3,
	 "port 65536 must be even", 1},
	{"unicast group", CONF "floor = {\n group = \"10.0.0.1\"; port = 5000; };\n", 3,
	 "group '10.0.0.1' is not an ipv4 multicast address (224.0.0.0/4)", 1},
	{"group above 239", CONF "floor = {\n group = \"240.0.0.1\"; port = 5000; };\n", 3,
	 "group '240.0.0.1' is not an ipv4 multicast address", 1},
	{"short group", CONF "floor = {\n group = \"239.1.1\"; port = 5000; };\n", 3,
	 "group '239.1.1' is not an ipv4 multicast address", 1},
	{"interface name", CONF FLOOR "network = {\n interface = \"eth0\"; };\n", 4,
	 "interface 'eth0' is not a valid ipv4 address", 1},
	{"ttl too big", CONF FLOOR "network = {\n ttl = 256; };\n", 4,
	 "ttl 256 is out of range 0..255", 1},
	{"ttl negative", CONF FLOOR "network = {\n ttl = -1; };\n", 4,
	 "ttl -1 is out of range 0..255", 1},
	/* names from a closed set */
	{"unknown profile",
	 "conference = { id = \"t\"; secret_file = \"k\";\n profile = \"lan-ultr\"; };\n" FLOOR, 2,
	 "unknown profile 'lan-ultr' (known: lan, lan-ultra, wifi, internet)", 1},
	{"unknown suite",
	 "conference = { id = \"t\"; secret_file = \"k\";\n srtp = \"AES_CM_128_HMAC_SHA1_32\"; "
	 "};\n" FLOOR,
	 2,
	 "unknown srtp suite "
	 "'AES_CM_128_HMAC_SHA1_32'|AES_CM_128_HMAC_SHA1_80|AEAD_AES_128_GCM|AEAD_AES_256_GCM",
	 1},
	{"unknown fallback",
	 CONF FLOOR "channels = (\n  { id = \"en\"; group = \"239.1.1.1\"; port = 5004;\n fallback "
		    "= \"music\"; }\n);\n",
	 5, "channel en: unknown fallback 'music' (known: floor, silence)", 1},
	{"bad language",
	 CONF FLOOR "channels = (\n  { id = \"en\"; group = \"239.1.1.1\"; port = 5004;\n language "
		    "= \"en us\"; }\n);\n",
	 5, "language 'en us' is not a bcp 47 tag", 1},
	/* typos */
	{"unknown section", CONF FLOOR "\nflor = { };\n", 4, "unknown setting 'flor'", 1},
	{"unknown channel setting",
	 CONF FLOOR "channels = (\n  { id = \"en\"; group = \"239.1.1.1\"; port = 5004;\n fallbak "
		    "= \"silence\"; }\n);\n",
	 5, "channel en: unknown setting 'fallbak'", 1},
	{"unknown console setting",
	 CONF FLOOR CHANNELS "booths = ( { id = \"fr\"; consoles = ( { id = \"fr-1\"; a = "
			     "\"fr\";\n liv = true; } ); } );\n",
	 8, "console fr-1: unknown setting 'liv'", 1},
	{"id on the floor",
	 CONF "floor = { group = \"239.1.1.0\"; port = 5000;\n id = \"floor\"; };\n", 3,
	 "floor: unknown setting 'id'", 1},
	{"long name",
	 CONF "floor = { group = \"239.1.1.0\"; port = 5000;\n name = \""
	      "0123456789012345678901234567890123456789012345678901234567890123"
	      "0123456789012345678901234567890123456789012345678901234567890123\"; };\n",
	 3, "floor: 'name' is too long (at most 127 bytes)", 1},
	{"empty jack client", CONF FLOOR "jack = {\n client_name = \"\"; };\n", 4,
	 "jack: 'client_name' is empty", 1},
};

static void config_each_problem(void **state)
{
	(void)state;
	size_t failures = 0;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct dm_config *cfg = (struct dm_config *)&cfg;
		const char *path = write_file("bad.conf", bad[i].text, 0644);
		int rc = load(path, false, &cfg);
		bool ok = rc == DM_ECONFIG && cfg == NULL && reported(bad[i].line, bad[i].want) &&
			  got.n == bad[i].count;
		for (size_t k = 0; ok && k < got.n; k++)
			ok = strcmp(got.p[k].file, path) == 0;
		if (!ok) {
			print_message(
				"case '%s': rc %d, %zu problems; want line %d '%s', %zu in all\n",
				bad[i].name, rc, got.n, bad[i].line, bad[i].want, bad[i].count);
			dump_got();
			failures++;
		}
		if (rc == 0)
			dm_config_free(cfg);
	}
	assert_int_equal(failures, 0);
}

static void config_many_errors(void **state)
{
	(void)state;
	struct dm_config *cfg = NULL;
	const char *path = src_path("tests/unit/data/config/many-errors.conf");
	assert_int_equal(load(path, false, &cfg), DM_ECONFIG);
	assert_null(cfg);
	static const struct {
		int line;
		const char *want;
	} t[] = {
		{3, "unknown profile 'lam'"},
		{4, "ttl 300 is out of range"},
		{8, "duplicate channel id 'en'"},
		{9, "group '10.0.0.1' is not an ipv4 multicast address"},
		{10, "unknown fallback 'music'"},
		{13, "'a' names unknown channel 'de'"},
		{15, "unknown setting 'colour'"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		expect_reported("many-errors.conf", t[i].line, t[i].want);
	if (got.n != sizeof t / sizeof t[0])
		dump_got();
	assert_int_equal(got.n, sizeof t / sizeof t[0]);
	/* delivered in line order, like a compiler's */
	for (size_t i = 1; i < got.n; i++)
		assert_true(got.p[i - 1].line <= got.p[i].line);
}

static void config_syntax_error(void **state)
{
	(void)state;
	struct dm_config *cfg = NULL;
	const char *path = src_path("tests/unit/data/config/syntax-error.conf");
	assert_int_equal(load(path, false, &cfg), DM_ECONFIG);
	assert_null(cfg);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.p[0].file, path);
	expect_reported("syntax-error.conf", 4, "syntax error");
}

static void config_unreadable_file(void **state)
{
	(void)state;
	struct dm_config *cfg = NULL;
	const char *path = tmp_path("does-not-exist.conf");
	assert_int_equal(load(path, false, &cfg), DM_ECONFIG);
	assert_null(cfg);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.p[0].file, path);
	expect_reported("missing config", 0, "cannot read|does-not-exist.conf|No such file");

	assert_int_equal(load(tmpdir, false, &cfg), DM_ECONFIG); /* a folder */
	assert_int_equal(got.n, 1);
	assert_null(cfg);
}

/* @include names a file beside the config (not the current folder), and a
 * problem inside it is reported with that file's name. */
static void config_include(void **state)
{
	(void)state;
	write_file("channels.inc",
		   "channels = (\n { id = \"en\"; group = \"239.1.1.1\"; port = 5004; },\n"
		   " { id = \"fr\"; group = \"239.1.1.1\"; port = 5004; }\n);\n",
		   0644);
	const char *path = write_file("main.conf", CONF FLOOR "@include \"channels.inc\"\n", 0644);
	char cwd[PATH_MAX];
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir("/"), 0);
	struct dm_config *cfg = NULL;
	int rc = load(path, false, &cfg);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rc, DM_ECONFIG);
	assert_int_equal(got.n, 1);
	expect_reported("include", 3, "already used by channel en");
	assert_non_null(strstr(got.p[0].file, "channels.inc"));
}

/* live = true follows the interlock: within a booth the later console takes
 * over from its partner (whatever channel each works into); different booths
 * live on different channels are fine. */
static void config_live_handover(void **state)
{
	(void)state;
	const char *path = write_file(
		"live.conf",
		CONF FLOOR
		"channels = (\n" EN FR ");\n"
		"booths = (\n"
		" { id = \"fr\"; consoles = ( { id = \"fr-1\"; a = \"fr\"; live = true; },\n"
		"   { id = \"fr-2\"; a = \"fr\"; live = true; },\n"
		"   { id = \"fr-3\"; a = \"fr\"; } ); },\n"
		" { id = \"en\"; consoles = ( { id = \"en-1\"; a = \"en\"; b = \"fr\"; },\n"
		"   { id = \"en-2\"; a = \"en\"; } ); },\n"
		/* m-1 would conflict with fr-2, but m-2 took over from it */
		" { id = \"mix\"; consoles = ( { id = \"m-1\"; a = \"fr\"; b = \"en\"; live = "
		"true; },\n"
		"   { id = \"m-2\"; a = \"en\"; b = \"fr\"; live = true; } ); }\n"
		");\n",
		0644);
	struct dm_config *cfg = NULL;
	int rc = load(path, false, &cfg);
	if (rc != 0)
		dump_got();
	assert_int_equal(rc, 0);
	assert_int_equal(got.n, 0);
	static const struct {
		const char *id;
		bool live;
	} want[] = {
		{"fr-1", false}, {"fr-2", true}, {"fr-3", false}, {"en-1", false},
		{"en-2", false}, {"m-1", false}, {"m-2", true},
	};
	assert_int_equal(dm_config_console_count(cfg), 7);
	for (size_t i = 0; i < 7; i++) {
		assert_string_equal(dm_config_console(cfg, i)->id, want[i].id);
		if (dm_config_console(cfg, i)->live != want[i].live)
			fail_msg("console %s: live %d, want %d", want[i].id,
				 dm_config_console(cfg, i)->live, want[i].live);
	}
	dm_config_free(cfg);

	/* booth m's winner (m-2, on fr) now conflicts with booth fr's: an error */
	path = write_file(
		"live2.conf",
		CONF FLOOR
		"channels = (\n" EN FR ");\n"
		"booths = (\n"
		" { id = \"fr\"; consoles = ( { id = \"fr-1\"; a = \"fr\"; live = true; } ); },\n"
		" { id = \"mix\"; consoles = ( { id = \"m-1\"; a = \"en\"; live = true; },\n"
		"   { id = \"m-2\"; a = \"fr\"; live = true; } ); }\n"
		");\n",
		0644);
	cfg = (struct dm_config *)&cfg;
	assert_int_equal(load(path, false, &cfg), DM_ECONFIG);
	assert_null(cfg);
	assert_int_equal(got.n, 1);
	expect_reported("live across booths", 10, "two live consoles on channel fr|fr-1|m-2");
}

/* ---- the secret file ---- */

static const char *secret_conf(const char *secret_file)
{
	static char text[1024];
	snprintf(text, sizeof text,
		 "conference = { id = \"t\";\n"
		 "  secret_file = \"%s\"; };\n" /* line 2 */
		 "floor = { group = \"239.1.1.0\"; port = 5000; };\n",
		 secret_file);
	return write_file("secret.conf", text, 0644);
}

static void config_secret_ok(void **state)
{
	(void)state;
	write_file("good.key", GOOD_SECRET, 0600);
	struct dm_config *cfg = NULL;
	/* relative to the config's folder */
	int rc = load(secret_conf("good.key"), true, &cfg);
	if (rc != 0)
		dump_got();
	assert_int_equal(rc, 0);
	assert_string_equal(dm_config_conference(cfg)->secret_file, tmp_path("good.key"));
	dm_config_free(cfg);
	/* absolute */
	assert_int_equal(load(secret_conf(tmp_path("good.key")), true, &cfg), 0);
	dm_config_free(cfg);
}

static void config_secret_readable(void **state)
{
	(void)state;
	const char *key = write_file("open.key", GOOD_SECRET, 0644);
	struct dm_config *cfg = NULL;
	assert_int_equal(load(secret_conf("open.key"), true, &cfg), DM_ECONFIG);
	assert_null(cfg);
	assert_int_equal(got.n, 1);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof want, "is readable by group or others|chmod 600 %s", key);
	expect_reported("0644 secret", 2, want);

	write_file("open.key", GOOD_SECRET, 0604);
	assert_int_equal(load(secret_conf("open.key"), true, &cfg), DM_ECONFIG);
	expect_reported("0604 secret", 2, "readable by group or others");

	/* not checked when the caller does not ask */
	assert_int_equal(load(secret_conf("open.key"), false, &cfg), 0);
	dm_config_free(cfg);
}

static void config_secret_missing(void **state)
{
	(void)state;
	const char *key = tmp_path("none.key");
	struct dm_config *cfg = NULL;
	assert_int_equal(load(secret_conf("none.key"), true, &cfg), DM_ECONFIG);
	assert_null(cfg);
	assert_int_equal(got.n, 1);
	char want[3 * PATH_MAX];
	snprintf(want, sizeof want,
		 "secret file %s does not exist; create one with: dragomand --keygen %s", key, key);
	expect_reported("missing secret", 2, want);

	assert_int_equal(load(secret_conf("none.key"), false, &cfg), 0);
	dm_config_free(cfg);
}

static void config_secret_invalid(void **state)
{
	(void)state;
	static const char *const content[] = {
		"not base64 at all\n",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd\n", /* 30 bytes */
		"",
	};
	for (size_t i = 0; i < sizeof content / sizeof content[0]; i++) {
		write_file("bad.key", content[i], 0600);
		struct dm_config *cfg = NULL;
		assert_int_equal(load(secret_conf("bad.key"), true, &cfg), DM_ECONFIG);
		assert_null(cfg);
		assert_int_equal(got.n, 1);
		expect_reported("invalid secret", 2, "bad.key|valid secret");
	}
}

/* Every problem together: structure errors do not hide the secret check. */
static void config_secret_with_other_errors(void **state)
{
	(void)state;
	const char *path = write_file("both.conf",
				      "conference = { id = \"t\"; secret_file = \"gone.key\"; };\n"
				      "floor = { group = \"10.1.1.0\"; port = 5000; };\n",
				      0644);
	struct dm_config *cfg = NULL;
	assert_int_equal(load(path, true, &cfg), DM_ECONFIG);
	assert_int_equal(got.n, 2);
	expect_reported("both", 1, "does not exist");
	expect_reported("both", 2, "not an ipv4 multicast address");
}

/* ---- https and remote delegates ---- */

static void config_tls_paths(void **state)
{
	(void)state;
	struct dm_config *cfg = NULL;
	const char *path = write_file(
		"tls.conf",
		CONF FLOOR "control = { listen = \"0.0.0.0:8443\"; tls_cert = \"certs/c.pem\";\n"
			   "  tls_key = \"/etc/dragoman/k.pem\"; };\n",
		0644);
	int rc = load(path, false, &cfg);
	if (rc != 0)
		dump_got();
	assert_int_equal(rc, 0);
	const struct dm_conference_conf *c = dm_config_conference(cfg);
	assert_string_equal(c->tls_cert, tmp_path("certs/c.pem")); /* beside the config */
	assert_string_equal(c->tls_key, "/etc/dragoman/k.pem");
	assert_false(c->remote);
	dm_config_free(cfg);
}

static void config_remote_defaults(void **state)
{
	(void)state;
	struct dm_config *cfg = NULL;
	const char *path = write_file(
		"remote.conf", CONF FLOOR TOKENS "remote = { state_file = \"d/state.json\"; };\n",
		0644);
	int rc = load(path, false, &cfg);
	if (rc != 0)
		dump_got();
	assert_int_equal(rc, 0);
	const struct dm_conference_conf *c = dm_config_conference(cfg);
	assert_true(c->remote);
	assert_string_equal(c->remote_listen, DM_DEFAULT_REMOTE_LISTEN);
	assert_string_equal(c->remote_addr, "0.0.0.0");
	assert_int_equal(c->remote_port, 5100);
	assert_non_null(c->remote_profile);
	assert_string_equal(c->remote_profile->name, DM_DEFAULT_REMOTE_PROFILE);
	assert_ptr_equal(c->remote_profile, dm_profile_find("internet"));
	assert_string_equal(c->remote_state_file, tmp_path("d/state.json"));
	assert_int_equal(c->remote_poll, DM_DEFAULT_REMOTE_POLL);
	/* the in-room profile is not the remote one */
	assert_ptr_equal(c->profile, dm_profile_default());
	dm_config_free(cfg);
}

static void config_remote_all_fields(void **state)
{
	(void)state;
	struct dm_config *cfg = NULL;
	const char *path = write_file(
		"remote2.conf",
		CONF FLOOR "control = { listen = \"10.0.0.2:8443\"; tokens_file = \"t.tokens\";\n"
			   "  tls_cert = \"c.pem\"; tls_key = \"k.pem\"; };\n"
			   "remote = { listen = \"10.0.0.2:6000\"; profile = \"wifi\";\n"
			   "  state_file = \"/var/lib/dragoman/delegates.json\"; poll = true; };\n",
		0644);
	int rc = load(path, false, &cfg);
	if (rc != 0)
		dump_got();
	assert_int_equal(rc, 0);
	const struct dm_conference_conf *c = dm_config_conference(cfg);
	assert_true(c->remote);
	assert_string_equal(c->remote_listen, "10.0.0.2:6000");
	assert_string_equal(c->remote_addr, "10.0.0.2");
	assert_int_equal(c->remote_port, 6000);
	assert_string_equal(c->remote_profile->name, "wifi");
	assert_string_equal(c->remote_state_file, "/var/lib/dragoman/delegates.json");
	assert_true(c->remote_poll);
	assert_string_equal(c->tls_cert, tmp_path("c.pem"));
	assert_string_equal(c->tls_key, tmp_path("k.pem"));
	dm_config_free(cfg);

	/* the example in configs/ */
	rc = load(src_path("configs/remote.conf"), false, &cfg);
	if (rc != 0)
		dump_got();
	assert_int_equal(rc, 0);
	c = dm_config_conference(cfg);
	assert_true(c->remote);
	assert_int_equal(c->remote_port, 5100);
	char want[PATH_MAX];
	join(want, sizeof want, srcroot, "configs/remote-key.pem");
	assert_string_equal(c->tls_key, want);
	join(want, sizeof want, srcroot, "configs/remote-delegates.json");
	assert_string_equal(c->remote_state_file, want);
	dm_config_free(cfg);
}

/* A key update carries every channel: DM_RPROTO_MAX_KEYS of them at most. */
static void config_remote_channel_limit(void **state)
{
	(void)state;
	for (int n = 15; n <= 16; n++) { /* + the floor: 16 (fine), 17 (too many) */
		char text[4096];
		size_t len = (size_t)snprintf(text, sizeof text,
					      CONF FLOOR TOKENS
					      "remote = { state_file = \"s.json\"; };\n" /* 4 */
					      "channels = (\n");
		for (int i = 0; i < n; i++)
			len += (size_t)snprintf(text + len, sizeof text - len,
						"%s { id = \"c%d\"; group = \"239.1.2.%d\"; port = "
						"5004; }\n",
						i ? "," : "", i, i + 1);
		snprintf(text + len, sizeof text - len, ");\n");
		struct dm_config *cfg = NULL;
		int rc = load(write_file("limit.conf", text, 0644), false, &cfg);
		if (n == 15) {
			if (rc != 0)
				dump_got();
			assert_int_equal(rc, 0);
			assert_int_equal(dm_config_channel_count(cfg), 16);
			dm_config_free(cfg);
		} else {
			assert_int_equal(rc, DM_ECONFIG);
			assert_int_equal(got.n, 1);
			expect_reported("17 channels", 4,
					"remote: at most 16 channels|floor included|has 17");
		}
	}
	/* without a remote section, no such limit */
	char text[4096];
	size_t len = (size_t)snprintf(text, sizeof text, CONF FLOOR "channels = (\n");
	for (int i = 0; i < 20; i++)
		len += (size_t)snprintf(
			text + len, sizeof text - len,
			"%s { id = \"c%d\"; group = \"239.1.2.%d\"; port = 5004; }\n", i ? "," : "",
			i, i + 1);
	snprintf(text + len, sizeof text - len, ");\n");
	struct dm_config *cfg = NULL;
	assert_int_equal(load(write_file("nolimit.conf", text, 0644), false, &cfg), 0);
	dm_config_free(cfg);
}

/* With check_secret: the certificate and key must be there, the key private. */
static const char *tls_conf(const char *cert, const char *key)
{
	static char text[2048];
	write_file("tls-good.key", GOOD_SECRET, 0600);
	write_file("tls.tokens", "technician abc\n", 0600);
	snprintf(text, sizeof text,
		 "conference = { id = \"t\"; secret_file = \"tls-good.key\"; };\n"
		 "floor = { group = \"239.1.1.0\"; port = 5000; };\n"
		 "control = { tokens_file = \"tls.tokens\";\n"
		 "  tls_cert = \"%s\";\n"    /* line 4 */
		 "  tls_key = \"%s\"; };\n", /* line 5 */
		 cert, key);
	return write_file("tls-check.conf", text, 0644);
}

static void config_tls_check(void **state)
{
	(void)state;
	struct dm_config *cfg = NULL;
	write_file("c.pem", "-----BEGIN CERTIFICATE-----\n", 0644);
	write_file("k.pem", "-----BEGIN PRIVATE KEY-----\n", 0600);
	int rc = load(tls_conf("c.pem", "k.pem"), true, &cfg);
	if (rc != 0)
		dump_got();
	assert_int_equal(rc, 0);
	dm_config_free(cfg);

	static const struct {
		mode_t mode;
		const char *want;
	} t[] = {
		{0640, "is readable by group or others (mode 0640)"},
		{0604, "is readable by group or others (mode 0604)"},
		{0620, "is writable by group or others (mode 0620)"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		const char *key = write_file("k.pem", "-----BEGIN PRIVATE KEY-----\n", t[i].mode);
		cfg = (struct dm_config *)&cfg;
		assert_int_equal(load(tls_conf("c.pem", "k.pem"), true, &cfg), DM_ECONFIG);
		assert_null(cfg);
		assert_int_equal(got.n, 1);
		char want[PATH_MAX + 128];
		snprintf(want, sizeof want, "tls_key %s|%s|chmod 600 %s", key, t[i].want, key);
		expect_reported("open tls key", 5, want);
		/* not checked when the caller does not ask */
		assert_int_equal(load(tls_conf("c.pem", "k.pem"), false, &cfg), 0);
		dm_config_free(cfg);
	}
	write_file("k.pem", "-----BEGIN PRIVATE KEY-----\n", 0400);

	/* missing files, each at its own line */
	assert_int_equal(load(tls_conf("none.pem", "k.pem"), true, &cfg), DM_ECONFIG);
	assert_int_equal(got.n, 1);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof want, "tls_cert %s does not exist", tmp_path("none.pem"));
	expect_reported("missing cert", 4, want);
	assert_int_equal(load(tls_conf("c.pem", "nokey.pem"), true, &cfg), DM_ECONFIG);
	assert_int_equal(got.n, 1);
	expect_reported("missing key", 5, "tls_key|nokey.pem|does not exist");
	assert_int_equal(load(tls_conf(".", "k.pem"), true, &cfg), DM_ECONFIG);
	expect_reported("folder cert", 4, "is not a regular file");
}

static const char *state_conf(const char *state_file)
{
	static char text[2048];
	write_file("st-good.key", GOOD_SECRET, 0600);
	write_file("st.tokens", "technician abc\n", 0600);
	snprintf(text, sizeof text,
		 "conference = { id = \"t\"; secret_file = \"st-good.key\"; };\n"
		 "floor = { group = \"239.1.1.0\"; port = 5000; };\n"
		 "control = { tokens_file = \"st.tokens\"; };\n"
		 "remote = {\n"
		 "  state_file = \"%s\"; };\n", /* line 5 */
		 state_file);
	return write_file("st.conf", text, 0644);
}

static void config_state_file_check(void **state)
{
	(void)state;
	struct dm_config *cfg = NULL;
	/* not there yet: the engine creates it */
	unlink(tmp_path("new-state.json"));
	int rc = load(state_conf("new-state.json"), true, &cfg);
	if (rc != 0)
		dump_got();
	assert_int_equal(rc, 0);
	dm_config_free(cfg);
	write_file("st.json", "{}", 0600);
	assert_int_equal(load(state_conf("st.json"), true, &cfg), 0);
	dm_config_free(cfg);

	const char *st = write_file("st.json", "{}", 0644);
	cfg = (struct dm_config *)&cfg;
	assert_int_equal(load(state_conf("st.json"), true, &cfg), DM_ECONFIG);
	assert_null(cfg);
	assert_int_equal(got.n, 1);
	char want[PATH_MAX + 128];
	snprintf(want, sizeof want, "state_file %s|readable by group or others|chmod 600", st);
	expect_reported("open state file", 5, want);
	assert_int_equal(load(state_conf("st.json"), false, &cfg), 0);
	dm_config_free(cfg);

	assert_int_equal(load(state_conf("no/such/dir/s.json"), true, &cfg), DM_ECONFIG);
	assert_int_equal(got.n, 1);
	expect_reported("no folder", 5, "folder of state_file|does not exist");
	assert_int_equal(load(state_conf("."), true, &cfg), DM_ECONFIG);
	expect_reported("folder state", 5, "is not a regular file");
}

/* ---- the tokens file ---- */

static const char *tokens_conf(const char *tokens_file)
{
	static char text[1024];
	write_file("tok-good.key", GOOD_SECRET, 0600);
	snprintf(text, sizeof text,
		 "conference = { id = \"t\"; secret_file = \"tok-good.key\"; };\n"
		 "floor = { group = \"239.1.1.0\"; port = 5000; };\n"
		 "control = { listen = \"127.0.0.1:8471\";\n"
		 "  tokens_file = \"%s\"; };\n", /* line 4 */
		 tokens_file);
	return write_file("tokens.conf", text, 0644);
}

static void config_tokens_ok(void **state)
{
	(void)state;
	write_file("good.tokens", "technician abc\n", 0600);
	struct dm_config *cfg = NULL;
	int rc = load(tokens_conf("good.tokens"), true, &cfg); /* relative to the config */
	if (rc != 0)
		dump_got();
	assert_int_equal(rc, 0);
	assert_string_equal(dm_config_conference(cfg)->tokens_file, tmp_path("good.tokens"));
	assert_int_equal(dm_config_conference(cfg)->control_port, 8471);
	dm_config_free(cfg);
	write_file("good.tokens", "technician abc\n", 0400);
	assert_int_equal(load(tokens_conf(tmp_path("good.tokens")), true, &cfg), 0);
	assert_string_equal(dm_config_conference(cfg)->tokens_file, tmp_path("good.tokens"));
	dm_config_free(cfg);
}

static void config_tokens_unsafe(void **state)
{
	(void)state;
	static const struct {
		mode_t mode;
		const char *want;
	} t[] = {
		{0644, "is readable by group or others (mode 0644)"},
		{0640, "is readable by group or others (mode 0640)"},
		{0604, "is readable by group or others (mode 0604)"},
		{0620, "is writable by group or others (mode 0620)"},
		{0602, "is writable by group or others (mode 0602)"},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		const char *tok = write_file("open.tokens", "technician abc\n", t[i].mode);
		struct dm_config *cfg = (struct dm_config *)&cfg;
		assert_int_equal(load(tokens_conf("open.tokens"), true, &cfg), DM_ECONFIG);
		assert_null(cfg);
		assert_int_equal(got.n, 1);
		char want[PATH_MAX + 128];
		snprintf(want, sizeof want, "tokens file %s|%s|chmod 600 %s", tok, t[i].want, tok);
		expect_reported("unsafe tokens", 4, want);
		/* not checked when the caller does not ask */
		assert_int_equal(load(tokens_conf("open.tokens"), false, &cfg), 0);
		dm_config_free(cfg);
	}
}

static void config_tokens_missing(void **state)
{
	(void)state;
	struct dm_config *cfg = (struct dm_config *)&cfg;
	assert_int_equal(load(tokens_conf("none.tokens"), true, &cfg), DM_ECONFIG);
	assert_null(cfg);
	assert_int_equal(got.n, 1);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof want, "tokens file %s does not exist|technician",
		 tmp_path("none.tokens"));
	expect_reported("missing tokens", 4, want);

	/* a folder is not a tokens file */
	assert_int_equal(load(tokens_conf("."), true, &cfg), DM_ECONFIG);
	assert_int_equal(got.n, 1);
	expect_reported("folder tokens", 4, "is not a regular file");

	assert_int_equal(load(tokens_conf("none.tokens"), false, &cfg), 0);
	dm_config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_demo_loads),
		cmocka_unit_test(config_ministerial_loads),
		cmocka_unit_test(config_defaults),
		cmocka_unit_test(config_all_fields),
		cmocka_unit_test(config_accepted_values),
		cmocka_unit_test(config_alarms),
		cmocka_unit_test(config_find_channel),
		cmocka_unit_test(config_null_args),
		cmocka_unit_test(config_each_problem),
		cmocka_unit_test(config_many_errors),
		cmocka_unit_test(config_syntax_error),
		cmocka_unit_test(config_unreadable_file),
		cmocka_unit_test(config_include),
		cmocka_unit_test(config_live_handover),
		cmocka_unit_test(config_secret_ok),
		cmocka_unit_test(config_secret_readable),
		cmocka_unit_test(config_secret_missing),
		cmocka_unit_test(config_secret_invalid),
		cmocka_unit_test(config_secret_with_other_errors),
		cmocka_unit_test(config_tokens_ok),
		cmocka_unit_test(config_tokens_unsafe),
		cmocka_unit_test(config_tokens_missing),
		cmocka_unit_test(config_tls_paths),
		cmocka_unit_test(config_remote_defaults),
		cmocka_unit_test(config_remote_all_fields),
		cmocka_unit_test(config_remote_channel_limit),
		cmocka_unit_test(config_tls_check),
		cmocka_unit_test(config_state_file_check),
	};
	return cmocka_run_group_tests_name("config", tests, group_setup, group_teardown);
}
