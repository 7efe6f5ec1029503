/* Unit tests of the routing the JACK callback applies: programs, relay,
 * crossfades and the headphone limiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dragoman/error.h"
#include "router.h"

#define N 128
#define FADE 240
#define CH 4
#define CON 3

struct fixture {
	struct dm_router *rt;
	float floor[N], mic[CON][N], prog[CH][N], phones[CON][N];
	const float *mics[CON];
	float *programs[CH], *phonesp[CON];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	assert_int_equal(dm_router_new(CH, CON, -6.0, FADE, 1024, &f->rt), 0);
	for (int c = 0; c < CH; c++)
		f->programs[c] = f->prog[c];
	for (int k = 0; k < CON; k++) {
		f->mics[k] = f->mic[k];
		f->phonesp[k] = f->phones[k];
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	dm_router_free(f->rt);
	free(f);
	return 0;
}

static void fill(struct fixture *f, float floor, float m0, float m1, float m2)
{
	for (int i = 0; i < N; i++) {
		f->floor[i] = floor;
		f->mic[0][i] = m0;
		f->mic[1][i] = m1;
		f->mic[2][i] = m2;
	}
}

static void run(struct fixture *f, const struct dm_route *r)
{
	dm_router_process(f->rt, r, f->floor, f->mics, f->programs, f->phonesp, N);
}

static struct dm_route *route(void)
{
	struct dm_route *r;
	assert_int_equal(dm_route_new(CH, CON, &r), 0);
	return r;
}

static void assert_all(const float *buf, float v)
{
	for (int i = 0; i < N; i++)
		assert_float_equal(buf[i], v, 1e-6);
}

static void router_first_route_plays_at_once(void **state)
{
	struct fixture *f = *state;
	struct dm_route *r = route();
	r->channel[1] = (struct dm_route_channel){DM_SRC_FLOOR, -1, 1.0f};
	r->channel[2] = (struct dm_route_channel){DM_SRC_MIC, 1, 1.0f};
	fill(f, 0.25f, 0.1f, 0.2f, 0.3f);
	run(f, r);
	assert_all(f->prog[0], 0.25f);
	assert_all(f->prog[1], 0.25f);
	assert_all(f->prog[2], 0.2f);
	assert_all(f->prog[3], 0.0f);
	assert_true(dm_router_in_use(f->rt, r));
	dm_route_free(r);
}

static void router_mute_is_silence(void **state)
{
	struct fixture *f = *state;
	struct dm_route *r = route();
	r->channel[2] = (struct dm_route_channel){DM_SRC_MIC, 1, 0.0f};
	fill(f, 0.25f, 0.1f, 0.2f, 0.3f);
	run(f, r);
	assert_all(f->prog[2], 0.0f);
	dm_route_free(r);
}

static void router_crossfade_has_no_step(void **state)
{
	struct fixture *f = *state;
	struct dm_route *a = route(), *b = route();
	a->channel[1] = (struct dm_route_channel){DM_SRC_FLOOR, -1, 1.0f};
	b->channel[1] = (struct dm_route_channel){DM_SRC_MIC, 0, 1.0f};
	fill(f, 0.4f, -0.4f, 0, 0);
	run(f, a);
	float last = f->prog[1][N - 1];
	float max_step = 0;
	int periods = 0;
	const struct dm_route *want = b;
	while (periods < 5) {
		run(f, want);
		for (int i = 0; i < N; i++) {
			float step = fabsf(f->prog[1][i] - last);
			if (step > max_step)
				max_step = step;
			last = f->prog[1][i];
		}
		periods++;
	}
	/* 0.8 across a raised cosine of 240 samples: at most 0.8 * pi / 480 a sample. */
	assert_true(max_step <= 0.8f * (float)M_PI / (2 * FADE) + 1e-4f);
	assert_float_equal(last, -0.4f, 1e-6);
	assert_false(dm_router_in_use(f->rt, a));
	assert_true(dm_router_in_use(f->rt, b));
	dm_route_free(a);
	dm_route_free(b);
}

static void router_route_during_fade_waits(void **state)
{
	struct fixture *f = *state;
	struct dm_route *a = route(), *b = route(), *c = route();
	a->channel[1] = (struct dm_route_channel){DM_SRC_FLOOR, -1, 1.0f};
	b->channel[1] = (struct dm_route_channel){DM_SRC_MIC, 0, 1.0f};
	c->channel[1] = (struct dm_route_channel){DM_SRC_SILENCE, -1, 0.0f};
	fill(f, 0.4f, -0.4f, 0, 0);
	run(f, a);
	run(f, b); /* fade a -> b starts: 128 of 240 samples */
	assert_true(dm_router_in_use(f->rt, a));
	assert_true(dm_router_in_use(f->rt, b));
	run(f, c); /* c waits: the fade a -> b ends in this period */
	assert_false(dm_router_in_use(f->rt, c));
	assert_false(dm_router_in_use(f->rt, a));
	run(f, c); /* now c fades in from b */
	assert_true(dm_router_in_use(f->rt, b));
	run(f, c);
	run(f, c);
	assert_all(f->prog[1], 0.0f);
	assert_true(dm_router_in_use(f->rt, c));
	dm_route_free(a);
	dm_route_free(b);
	dm_route_free(c);
}

static void router_relay_and_sidetone(void **state)
{
	struct fixture *f = *state;
	struct dm_route *r = route();
	r->channel[2] = (struct dm_route_channel){DM_SRC_MIC, 1, 1.0f};
	r->console[0] = (struct dm_route_console){2, 0.5f, 0.25f}; /* relay of channel 2 */
	fill(f, 0.1f, 0.2f, 0.3f, 0.0f);
	for (int p = 0; p < 4; p++)
		run(f, r);
	/* limiter delay of 31 samples: the whole period is steady by now */
	assert_all(f->phones[0], 0.3f * 0.5f + 0.2f * 0.25f);
	assert_all(f->phones[1], 0.1f); /* hears the floor at 0 dB */
	dm_route_free(r);
}

static void router_limiter_holds_the_ceiling(void **state)
{
	struct fixture *f = *state;
	struct dm_route *r = route();
	const float ceiling = powf(10.0f, -6.0f / 20.0f);
	float max_out = 0;
	/* quiet floor, then a full-scale square burst, then quiet again */
	for (int p = 0; p < 40; p++) {
		for (int i = 0; i < N; i++) {
			int t = p * N + i;
			f->floor[i] = (t >= 1000 && t < 3000) ? ((t / 24) % 2 ? 1.0f : -1.0f)
							      : 0.1f * sinf(0.05f * (float)t);
		}
		run(f, r);
		for (int i = 0; i < N; i++) {
			float a = fabsf(f->phones[0][i]);
			if (a > max_out)
				max_out = a;
		}
	}
	assert_true(max_out <= ceiling + 1e-6f);
	assert_true(max_out >= ceiling * 0.95f);
	assert_true(dm_router_limited(f->rt) > 0);
	dm_route_free(r);
}

static void router_limiter_passes_quiet_signal(void **state)
{
	struct fixture *f = *state;
	struct dm_route *r = route();
	float in[8 * N], out[8 * N];
	for (int p = 0; p < 8; p++) {
		for (int i = 0; i < N; i++) {
			f->floor[i] = 0.3f * sinf(0.1f * (float)(p * N + i));
			in[p * N + i] = f->floor[i];
		}
		run(f, r);
		memcpy(out + p * N, f->phones[0], sizeof(float) * N);
	}
	/* unchanged, 31 samples late */
	for (int t = 31; t < 8 * N; t++)
		assert_float_equal(out[t], in[t - 31], 1e-6);
	assert_int_equal(dm_router_limited(f->rt), 0);
	dm_route_free(r);
}

static void router_bad_args(void **state)
{
	(void)state;
	struct dm_router *rt = NULL;
	struct dm_route *r = NULL;
	assert_int_equal(dm_router_new(0, 1, -6, 240, 128, &rt), DM_EINVAL);
	assert_int_equal(dm_router_new(1, 1, 3, 240, 128, &rt), DM_EINVAL);
	assert_int_equal(dm_router_new(1, 1, -6, 0, 128, &rt), DM_EINVAL);
	assert_int_equal(dm_router_new(1, 1, -6, 240, 128, NULL), DM_EINVAL);
	assert_null(rt);
	assert_int_equal(dm_route_new(0, 1, &r), DM_EINVAL);
	assert_int_equal(dm_route_new_from_config(NULL, &r), DM_EINVAL);
	assert_null(r);
	dm_route_free(NULL);
	dm_router_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(router_first_route_plays_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(router_mute_is_silence, setup, teardown),
		cmocka_unit_test_setup_teardown(router_crossfade_has_no_step, setup, teardown),
		cmocka_unit_test_setup_teardown(router_route_during_fade_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(router_relay_and_sidetone, setup, teardown),
		cmocka_unit_test_setup_teardown(router_limiter_holds_the_ceiling, setup, teardown),
		cmocka_unit_test_setup_teardown(router_limiter_passes_quiet_signal, setup,
						teardown),
		cmocka_unit_test(router_bad_args),
	};
	return cmocka_run_group_tests_name("router", tests, NULL, NULL);
}
