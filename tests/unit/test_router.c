/* Unit tests of the routing the JACK callback applies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "router.h"

#define N 16

/* A hand-made route: 4 channels (floor, en, fr, es), 3 consoles. */
struct fixture {
	int source[4];
	enum dm_fallback fallback[4];
	int listen[3];
	struct dm_route route;
	float floor[N], mic[3][N], prog[4][N], phones[3][N];
	const float *mics[3];
	float *programs[4], *phonesp[3];
};

static void setup_fixture(struct fixture *f)
{
	memset(f, 0, sizeof *f);
	for (int c = 0; c < 4; c++) {
		f->source[c] = -1;
		f->fallback[c] = DM_FALLBACK_FLOOR;
		f->programs[c] = f->prog[c];
		for (int i = 0; i < N; i++)
			f->prog[c][i] = 99.0f; /* must be overwritten */
	}
	for (int k = 0; k < 3; k++) {
		f->mics[k] = f->mic[k];
		f->phonesp[k] = f->phones[k];
		for (int i = 0; i < N; i++)
			f->mic[k][i] = (float)(k + 1) * 0.1f;
	}
	for (int i = 0; i < N; i++)
		f->floor[i] = 0.5f;
	f->route = (struct dm_route){4, 3, f->source, f->fallback, f->listen};
}

static void assert_all(const float *buf, float v)
{
	for (int i = 0; i < N; i++)
		assert_true(buf[i] == v);
}

static void run(struct fixture *f)
{
	dm_router_process(&f->route, f->floor, f->mics, f->programs, f->phonesp, N);
}

static void router_floor_is_channel_zero(void **state)
{
	(void)state;
	struct fixture f;
	setup_fixture(&f);
	run(&f);
	assert_all(f.prog[0], 0.5f);
}

static void router_live_console_feeds_channel(void **state)
{
	(void)state;
	struct fixture f;
	setup_fixture(&f);
	f.source[2] = 1; /* console 1 live on fr */
	run(&f);
	assert_all(f.prog[2], 0.2f);
	assert_all(f.prog[1], 0.5f); /* en: fallback floor */
}

static void router_fallback_silence(void **state)
{
	(void)state;
	struct fixture f;
	setup_fixture(&f);
	f.fallback[3] = DM_FALLBACK_SILENCE;
	run(&f);
	assert_all(f.prog[3], 0.0f);
}

static void router_phones_hear_their_source(void **state)
{
	(void)state;
	struct fixture f;
	setup_fixture(&f);
	f.source[2] = 0;
	f.listen[1] = 2; /* console 1 hears fr (relay) */
	run(&f);
	assert_all(f.phones[0], 0.5f);
	assert_all(f.phones[1], 0.1f);
}

static void router_static_route_from_config_refuses_null(void **state)
{
	(void)state;
	struct dm_route *r = NULL;
	assert_int_equal(dm_route_new_from_config(NULL, &r), -1);
	assert_null(r);
	dm_route_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(router_floor_is_channel_zero),
		cmocka_unit_test(router_live_console_feeds_channel),
		cmocka_unit_test(router_fallback_silence),
		cmocka_unit_test(router_phones_hear_their_source),
		cmocka_unit_test(router_static_route_from_config_refuses_null),
	};
	return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
