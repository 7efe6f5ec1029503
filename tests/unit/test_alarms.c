/* Unit tests of the alarm state machine (src/control/alarms.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "alarms.h"
#include "dragoman/error.h"

/* Two channels ("floor", "en") and two consoles ("en-1", "fr-1"). */
#define NCH 2
#define NCO 2
static const char *const channel_ids[NCH] = {"floor", "en"};
static const char *const console_ids[NCO] = {"en-1", "fr-1"};

static struct dm_alarms *alarms_make(void)
{
	struct dm_alarms *a = NULL;

	assert_int_equal(dm_alarms_new(NCH, channel_ids, NCO, console_ids, 10.0, &a), 0);
	assert_non_null(a);
	return a;
}

/* One update of a timeline: every input, and the changes expected, in
 * callback order: "+kind/chN", "-kind/coN", "+kind" (engine), space separated. */
struct step {
	double t;
	bool live[NCO];
	double silent[NCO];
	uint64_t clips[NCH];
	uint64_t ovf[NCH];
	double loss[NCH];
	uint64_t xruns;
	bool jack_lost;
	bool disk;
	const char *expect;
};

/* What the callback saw, and the active set it keeps to catch a raise of an
 * active alarm or a clear of an inactive one. */
struct recorder {
	char log[512];
	int active;
	bool on[DM_ALARM_KINDS][NCH + NCO + 1];
	double now;
};

static void on_change(void *user, const struct dm_alarm *al, bool raised)
{
	struct recorder *r = user;
	char tok[64];
	int idx = al->channel >= 0 ? al->channel : al->console >= 0 ? NCH + al->console : NCH + NCO;

	assert_true((unsigned)al->kind < DM_ALARM_KINDS);
	assert_false(al->channel >= 0 && al->console >= 0);
	assert_true(r->on[al->kind][idx] != raised); /* no duplicate raise or clear */
	r->on[al->kind][idx] = raised;
	r->active += raised ? 1 : -1;
	if (raised)
		assert_true(al->raised_at == r->now);
	assert_true(al->text[0] != '\0');
	if (al->channel >= 0)
		snprintf(tok, sizeof(tok), "%c%s/ch%d", raised ? '+' : '-',
			 dm_alarm_kind_name(al->kind), al->channel);
	else if (al->console >= 0)
		snprintf(tok, sizeof(tok), "%c%s/co%d", raised ? '+' : '-',
			 dm_alarm_kind_name(al->kind), al->console);
	else
		snprintf(tok, sizeof(tok), "%c%s", raised ? '+' : '-',
			 dm_alarm_kind_name(al->kind));
	if (r->log[0])
		strncat(r->log, " ", sizeof(r->log) - strlen(r->log) - 1);
	strncat(r->log, tok, sizeof(r->log) - strlen(r->log) - 1);
}

static int count_tokens(const char *s)
{
	int n = 0;

	for (bool in = false; *s; s++) {
		if (*s != ' ' && !in)
			n++;
		in = *s != ' ';
	}
	return n;
}

static void run_step(struct dm_alarms *a, struct recorder *r, const struct step *s)
{
	struct dm_alarm_console_input co[NCO];
	struct dm_alarm_channel_input ch[NCH];
	struct dm_alarm_inputs in = {
		.consoles = co,
		.channels = ch,
		.xruns = s->xruns,
		.jack_connected = !s->jack_lost,
		.disk_error = s->disk,
	};
	int rc;

	for (int i = 0; i < NCO; i++)
		co[i] = (struct dm_alarm_console_input){.live = s->live[i],
							.silent_s = s->silent[i]};
	for (int i = 0; i < NCH; i++)
		ch[i] = (struct dm_alarm_channel_input){
			.clips = s->clips[i], .overflows = s->ovf[i], .max_loss = s->loss[i]};
	r->log[0] = '\0';
	r->now = s->t;
	rc = dm_alarms_update(a, &in, s->t, on_change, r);
	if (strcmp(r->log, s->expect) != 0)
		fail_msg("t=%.2f: got \"%s\", want \"%s\"", s->t, r->log, s->expect);
	assert_int_equal(rc, count_tokens(s->expect));
	assert_int_equal(dm_alarms_count(a), r->active);
}

static void run_timeline(const struct step *steps, size_t n)
{
	struct dm_alarms *a = alarms_make();
	struct recorder r;

	memset(&r, 0, sizeof(r));
	for (size_t i = 0; i < n; i++)
		run_step(a, &r, &steps[i]);
	dm_alarms_free(a);
}

#define RUN(steps) run_timeline(steps, sizeof(steps) / sizeof(steps[0]))

static void alarms_silence(void **state)
{
	/* Console 0 is silent for ever but never live: never an alarm. */
	static const struct step steps[] = {
		{.t = 0, .live = {0, 1}, .silent = {100, 0}, .expect = ""},
		{.t = 5, .live = {0, 1}, .silent = {105, 5}, .expect = ""},
		{.t = 10, .live = {0, 1}, .silent = {110, 10}, .expect = ""}, /* not longer yet */
		{.t = 10.1, .live = {0, 1}, .silent = {110, 10.1}, .expect = "+silence/co1"},
		{.t = 12, .live = {0, 1}, .silent = {112, 12}, .expect = ""},
		{.t = 13, .live = {0, 1}, .silent = {113, 0}, .expect = "-silence/co1"}, /* heard */
		{.t = 20, .live = {0, 1}, .silent = {120, 7}, .expect = ""},
		{.t = 30, .live = {0, 1}, .silent = {130, 17}, .expect = "+silence/co1"},
		{.t = 31,
		 .live = {0, 0},
		 .silent = {131, 18},
		 .expect = "-silence/co1"}, /* off air */
		{.t = 32, .live = {0, 0}, .silent = {132, 19}, .expect = ""},
		{.t = 33, .live = {1, 0}, .silent = {133, 20}, .expect = "+silence/co0"},
	};

	(void)state;
	RUN(steps);
}

static void alarms_clip(void **state)
{
	static const struct step steps[] = {
		{.t = 0, .expect = ""},
		{.t = 1, .clips = {0, 5}, .expect = "+clip/ch1"},
		{.t = 2, .clips = {0, 5}, .expect = ""},
		{.t = 2.5, .clips = {0, 9}, .expect = ""}, /* again: held, not raised twice */
		{.t = 4.4, .clips = {0, 9}, .expect = ""},
		{.t = 4.5, .clips = {0, 9}, .expect = "-clip/ch1"}, /* 2 s without */
		{.t = 5, .clips = {0, 9}, .expect = ""},
		{.t = 6, .clips = {1, 10}, .expect = "+clip/ch0 +clip/ch1"},
		{.t = 8, .clips = {1, 10}, .expect = "-clip/ch0 -clip/ch1"},
		/* A counter that went down restarted: what it reads is new. */
		{.t = 9, .clips = {1, 2}, .expect = "+clip/ch1"},
		{.t = 11, .clips = {1, 2}, .expect = "-clip/ch1"},
	};

	(void)state;
	RUN(steps);
}

static void alarms_xrun(void **state)
{
	static const struct step steps[] = {
		{.t = 0, .expect = ""},
		{.t = 1, .xruns = 1, .expect = "+xrun"},
		{.t = 3, .xruns = 2, .expect = ""},
		{.t = 7.9, .xruns = 2, .expect = ""},
		{.t = 8, .xruns = 2, .expect = "-xrun"}, /* 5 s after the last */
		{.t = 9, .xruns = 2, .expect = ""},
		{.t = 10, .xruns = 3, .expect = "+xrun"},
	};

	(void)state;
	RUN(steps);
}

static void alarms_encoder_behind(void **state)
{
	static const struct step steps[] = {
		{.t = 0, .expect = ""},
		{.t = 1, .ovf = {3, 0}, .expect = "+encoder_behind/ch0"},
		{.t = 5.9, .ovf = {3, 0}, .expect = ""},
		{.t = 6, .ovf = {3, 0}, .expect = "-encoder_behind/ch0"},
		{.t = 7, .ovf = {4, 1}, .expect = "+encoder_behind/ch0 +encoder_behind/ch1"},
		{.t = 9, .ovf = {4, 2}, .expect = ""},
		{.t = 12, .ovf = {4, 2}, .expect = "-encoder_behind/ch0"},
		{.t = 14, .ovf = {4, 2}, .expect = "-encoder_behind/ch1"},
	};

	(void)state;
	RUN(steps);
}

static void alarms_listener_loss(void **state)
{
	static const struct step steps[] = {
		{.t = 0, .loss = {0.05, 0}, .expect = ""}, /* 5 % is not more than 5 % */
		{.t = 1, .loss = {0.06, 0}, .expect = "+listener_loss/ch0"},
		{.t = 2, .loss = {0.0, 0}, .expect = ""},
		{.t = 5, .loss = {0.2, 0}, .expect = ""},
		{.t = 14.9, .loss = {0.01, 0}, .expect = ""},
		{.t = 15, .loss = {0.0, 0}, .expect = "-listener_loss/ch0"}, /* 10 s */
		{.t = 16, .loss = {0.0, 1.0}, .expect = "+listener_loss/ch1"},
	};

	(void)state;
	RUN(steps);
}

static void alarms_jack_lost(void **state)
{
	static const struct step steps[] = {
		{.t = 0, .expect = ""},
		{.t = 1, .jack_lost = true, .expect = "+jack_lost"},
		{.t = 2, .jack_lost = true, .expect = ""},
		{.t = 100, .jack_lost = true, .expect = ""},
		{.t = 101, .expect = "-jack_lost"},
		{.t = 102, .expect = ""},
	};

	(void)state;
	RUN(steps);
}

static void alarms_disk(void **state)
{
	static const struct step steps[] = {
		{.t = 0, .expect = ""},
		{.t = 1, .disk = true, .expect = "+disk"},
		{.t = 60, .disk = true, .expect = ""},
		{.t = 61, .expect = "-disk"}, /* a write succeeded */
		{.t = 62, .disk = true, .expect = "+disk"},
	};

	(void)state;
	RUN(steps);
}

/* Clears before raises; each group by kind, then index. */
static void alarms_callback_order(void **state)
{
	static const struct step steps[] = {
		{.t = 0, .expect = ""},
		{.t = 1,
		 .live = {0, 1},
		 .silent = {0, 11},
		 .clips = {1, 1},
		 .ovf = {0, 1},
		 .loss = {0.5, 0},
		 .xruns = 1,
		 .jack_lost = true,
		 .disk = true,
		 .expect = "+silence/co1 +clip/ch0 +clip/ch1 +xrun +encoder_behind/ch1 "
			   "+listener_loss/ch0 +jack_lost +disk"},
		{.t = 3,
		 .live = {1, 1},
		 .silent = {12, 0},
		 .clips = {1, 1},
		 .ovf = {1, 1},
		 .loss = {0, 0},
		 .xruns = 1,
		 .expect = "-silence/co1 -clip/ch0 -clip/ch1 -jack_lost -disk +silence/co0 "
			   "+encoder_behind/ch0"},
	};

	(void)state;
	RUN(steps);
}

static void alarms_listing(void **state)
{
	struct dm_alarms *a = alarms_make();
	struct dm_alarm_console_input co[NCO] = {{.live = true, .silent_s = 12.7}, {0}};
	struct dm_alarm_channel_input ch[NCH] = {{.clips = 3}, {.max_loss = 0.075}};
	struct dm_alarm_inputs in = {.consoles = co, .channels = ch, .jack_connected = true};
	struct dm_alarm list[8];
	enum dm_alarm_kind want[3] = {DM_ALARM_SILENCE, DM_ALARM_CLIP, DM_ALARM_LISTENER_LOSS};

	(void)state;
	assert_int_equal(dm_alarms_active(a, NULL, 0), 0);
	assert_int_equal(dm_alarms_count(a), 0);
	/* Without a callback, the changes are counted all the same. */
	assert_int_equal(dm_alarms_update(a, &in, 1000.5, NULL, NULL), 3);
	assert_int_equal(dm_alarms_count(a), 3);
	assert_int_equal(dm_alarms_active(a, NULL, 0), 3);

	memset(list, 0x7f, sizeof(list));
	assert_int_equal(dm_alarms_active(a, list, 8), 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(list[i].kind, want[i]);
		assert_true(list[i].raised_at == 1000.5);
	}
	assert_int_equal(list[0].console, 0);
	assert_int_equal(list[0].channel, -1);
	assert_string_equal(list[0].text, "en-1: mic silent for 12 s");
	assert_int_equal(list[1].channel, 0);
	assert_int_equal(list[1].console, -1);
	assert_non_null(strstr(list[1].text, "floor: program clipping"));
	assert_int_equal(list[2].channel, 1);
	assert_string_equal(list[2].text, "en: a listener reports 7.5 % loss");

	/* Truncated listing: the count of all, the first cap copied, nothing more. */
	memset(list, 0x7f, sizeof(list));
	assert_int_equal(dm_alarms_active(a, list, 2), 3);
	assert_int_equal(list[1].kind, DM_ALARM_CLIP);
	assert_int_equal(list[2].channel, 0x7f7f7f7f);

	/* The text follows the cause; the raise time does not move (and the clip
	 * has been cleared meanwhile). */
	co[0].silent_s = 30.2;
	assert_int_equal(dm_alarms_update(a, &in, 1018, NULL, NULL), 1);
	assert_int_equal(dm_alarms_active(a, list, 1), 2);
	assert_string_equal(list[0].text, "en-1: mic silent for 30 s");
	assert_true(list[0].raised_at == 1000.5);
	dm_alarms_free(a);
}

/* A clock stepped back neither holds an alarm for the length of the step nor
 * moves its raise time. */
static void alarms_clock_step(void **state)
{
	struct dm_alarms *a = alarms_make();
	struct dm_alarm_console_input co[NCO] = {{0}, {0}};
	struct dm_alarm_channel_input ch[NCH] = {{0}, {0}};
	struct dm_alarm_inputs in = {
		.consoles = co, .channels = ch, .xruns = 1, .jack_connected = true};
	struct dm_alarm al;

	(void)state;
	assert_int_equal(dm_alarms_update(a, &in, 100, NULL, NULL), 1);
	assert_int_equal(dm_alarms_update(a, &in, 102, NULL, NULL), 0);
	assert_int_equal(dm_alarms_update(a, &in, 50, NULL, NULL), 0);	 /* 2 s after the xrun */
	assert_int_equal(dm_alarms_update(a, &in, 52.9, NULL, NULL), 0); /* 4.9 s */
	assert_int_equal(dm_alarms_active(a, &al, 1), 1);
	assert_true(al.raised_at == 100);
	assert_int_equal(dm_alarms_update(a, &in, 53, NULL, NULL), 1); /* 5 s: cleared */
	assert_int_equal(dm_alarms_count(a), 0);
	dm_alarms_free(a);
}

static void alarms_no_names_needed_when_empty(void **state)
{
	struct dm_alarms *a = NULL;
	struct dm_alarm_inputs in = {.xruns = 2, .jack_connected = false};
	struct dm_alarm list[4];

	(void)state;
	assert_int_equal(dm_alarms_new(0, NULL, 0, NULL, 10.0, &a), 0);
	assert_int_equal(dm_alarms_update(a, &in, 1, NULL, NULL), 2);
	assert_int_equal(dm_alarms_active(a, list, 4), 2);
	assert_int_equal(list[0].kind, DM_ALARM_XRUN);
	assert_string_equal(list[0].text, "JACK xruns (2 so far)");
	assert_int_equal(list[1].kind, DM_ALARM_JACK_LOST);
	assert_string_equal(list[1].text, "JACK server lost");
	dm_alarms_free(a);
}

static void alarms_kind_names(void **state)
{
	(void)state;
	assert_string_equal(dm_alarm_kind_name(DM_ALARM_SILENCE), "silence");
	assert_string_equal(dm_alarm_kind_name(DM_ALARM_ENCODER_BEHIND), "encoder_behind");
	assert_string_equal(dm_alarm_kind_name(DM_ALARM_DISK), "disk");
	assert_string_equal(dm_alarm_kind_name((enum dm_alarm_kind)DM_ALARM_KINDS), "unknown");
	assert_string_equal(dm_alarm_kind_name((enum dm_alarm_kind) - 1), "unknown");
}

static void alarms_bad_args(void **state)
{
	struct dm_alarms *a = (struct dm_alarms *)0x1;
	const char *const bad_null[NCH] = {"floor", NULL};
	const char *const bad_empty[NCH] = {"floor", ""};
	const char *const bad_long[NCH] = {"floor", "0123456789abcdef0123456789abcdef"};
	struct dm_alarm_console_input co[NCO] = {{0}, {0}};
	struct dm_alarm_channel_input ch[NCH] = {{0}, {0}};
	struct dm_alarm_inputs in = {.consoles = co, .channels = ch, .jack_connected = true};
	struct dm_alarm list[2];

	(void)state;
	assert_int_equal(dm_alarms_new(NCH, channel_ids, NCO, console_ids, 10.0, NULL), DM_EINVAL);
	assert_int_equal(dm_alarms_new(NCH, channel_ids, NCO, console_ids, 0.0, &a), DM_EINVAL);
	assert_null(a);
	assert_int_equal(dm_alarms_new(NCH, channel_ids, NCO, console_ids, -1.0, &a), DM_EINVAL);
	assert_int_equal(dm_alarms_new(NCH, channel_ids, NCO, console_ids, NAN, &a), DM_EINVAL);
	assert_int_equal(dm_alarms_new(NCH, channel_ids, NCO, console_ids, INFINITY, &a),
			 DM_EINVAL);
	assert_int_equal(dm_alarms_new(NCH, NULL, NCO, console_ids, 10.0, &a), DM_EINVAL);
	assert_int_equal(dm_alarms_new(NCH, channel_ids, NCO, NULL, 10.0, &a), DM_EINVAL);
	assert_int_equal(dm_alarms_new(NCH, bad_null, NCO, console_ids, 10.0, &a), DM_EINVAL);
	assert_int_equal(dm_alarms_new(NCH, bad_empty, NCO, console_ids, 10.0, &a), DM_EINVAL);
	assert_int_equal(dm_alarms_new(NCH, channel_ids, NCO, bad_long, 10.0, &a), DM_EINVAL);
	assert_int_equal(
		dm_alarms_new(DM_ALARM_MAX_ITEMS + 1, channel_ids, NCO, console_ids, 10.0, &a),
		DM_EINVAL);
	assert_int_equal(
		dm_alarms_new(NCH, channel_ids, DM_ALARM_MAX_ITEMS + 1, console_ids, 10.0, &a),
		DM_EINVAL);
	assert_null(a);
	dm_alarms_free(NULL);

	assert_int_equal(dm_alarms_update(NULL, &in, 1, NULL, NULL), DM_EINVAL);
	assert_int_equal(dm_alarms_active(NULL, list, 2), DM_EINVAL);
	assert_int_equal(dm_alarms_count(NULL), DM_EINVAL);

	a = alarms_make();
	assert_int_equal(dm_alarms_update(a, NULL, 1, NULL, NULL), DM_EINVAL);
	assert_int_equal(dm_alarms_update(a, &in, NAN, NULL, NULL), DM_EINVAL);
	assert_int_equal(dm_alarms_update(a, &in, INFINITY, NULL, NULL), DM_EINVAL);
	in.consoles = NULL;
	assert_int_equal(dm_alarms_update(a, &in, 1, NULL, NULL), DM_EINVAL);
	in.consoles = co;
	in.channels = NULL;
	assert_int_equal(dm_alarms_update(a, &in, 1, NULL, NULL), DM_EINVAL);
	in.channels = ch;
	co[1].silent_s = -0.1;
	assert_int_equal(dm_alarms_update(a, &in, 1, NULL, NULL), DM_EINVAL);
	co[1].silent_s = NAN;
	assert_int_equal(dm_alarms_update(a, &in, 1, NULL, NULL), DM_EINVAL);
	co[1].silent_s = 0;
	ch[0].max_loss = 1.01;
	assert_int_equal(dm_alarms_update(a, &in, 1, NULL, NULL), DM_EINVAL);
	ch[0].max_loss = -0.01;
	assert_int_equal(dm_alarms_update(a, &in, 1, NULL, NULL), DM_EINVAL);
	ch[0].max_loss = NAN;
	assert_int_equal(dm_alarms_update(a, &in, 1, NULL, NULL), DM_EINVAL);
	ch[0].max_loss = 0;
	assert_int_equal(dm_alarms_active(a, NULL, 1), DM_EINVAL);

	/* A refused update changes nothing: the clip it carried is still new. */
	ch[1].clips = 4;
	ch[0].max_loss = 2;
	assert_int_equal(dm_alarms_update(a, &in, 1, NULL, NULL), DM_EINVAL);
	assert_int_equal(dm_alarms_count(a), 0);
	ch[0].max_loss = 0;
	assert_int_equal(dm_alarms_update(a, &in, 1, NULL, NULL), 1);
	dm_alarms_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(alarms_bad_args),
		cmocka_unit_test(alarms_silence),
		cmocka_unit_test(alarms_clip),
		cmocka_unit_test(alarms_xrun),
		cmocka_unit_test(alarms_encoder_behind),
		cmocka_unit_test(alarms_listener_loss),
		cmocka_unit_test(alarms_jack_lost),
		cmocka_unit_test(alarms_disk),
		cmocka_unit_test(alarms_callback_order),
		cmocka_unit_test(alarms_listing),
		cmocka_unit_test(alarms_clock_step),
		cmocka_unit_test(alarms_no_names_needed_when_empty),
		cmocka_unit_test(alarms_kind_names),
	};

	return cmocka_run_group_tests_name("alarms", tests, NULL, NULL);
}
