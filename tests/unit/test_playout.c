/* Unit tests of the playout buffer (src/net/playout.c).
 *
 * Most tests simulate two clocks in one thread: a producer that completes a
 * decoded frame every `frame` samples of its own clock (which may run fast or
 * slow, or stall), and a device that pulls `pull` samples per callback. Time
 * is the device's, counted in samples, so 60 s of audio take well under a
 * second. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "dragoman/error.h"
#include "dragoman/playout.h"

#define RATE 48000
#define MAXPULL 1024

struct sim {
	struct dm_playout *p;
	double factor;		    /* producer clock rate / device clock rate */
	size_t frame;		    /* samples per pushed frame */
	size_t pull;		    /* samples per device callback */
	double t;		    /* device time, samples */
	uint64_t made;		    /* frames pushed */
	double stall_at, stall_len; /* device time and length of a producer stall */
	double freq;		    /* sine frequency (of the producer's clock) */
	float amp;
	float dc;	 /* when not 0: push this constant instead of the sine */
	uint64_t sample; /* producer sample index, for the sine */
	size_t level;	 /* dm_playout_level just before the last pull */
	float out[MAXPULL];
};

static void sim_init(struct sim *s, double min_ms, double max_ms)
{
	memset(s, 0, sizeof(*s));
	assert_int_equal(dm_playout_new(RATE, min_ms, max_ms, &s->p), 0);
	s->factor = 1.0;
	s->frame = 240;
	s->pull = 128;
	s->freq = 440.0;
	s->amp = 0.5f;
}

/* Pushes the frames due by now, then pulls one callback's worth. */
static void sim_step(struct sim *s)
{
	for (;;) {
		/* frame k is complete at producer time (k + 1) * frame */
		double due = (double)(s->made + 1) * (double)s->frame / s->factor;
		float buf[960];

		if (s->stall_len > 0 && due > s->stall_at)
			due += s->stall_len;
		if (due > s->t)
			break;
		for (size_t i = 0; i < s->frame; i++, s->sample++)
			buf[i] = s->dc != 0.0f ? s->dc
					       : s->amp * (float)sin(2.0 * M_PI * s->freq *
								     (double)s->sample / RATE);
		assert_int_equal(dm_playout_push(s->p, buf, s->frame), s->frame);
		s->made++;
	}
	s->level = dm_playout_level(s->p);
	dm_playout_pull(s->p, s->out, s->pull);
	s->t += (double)s->pull;
}

static bool all_zero(const float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (x[i] != 0.0f)
			return false;
	return true;
}

static void playout_bad_args(void **state)
{
	struct dm_playout *p = (struct dm_playout *)0x1;
	struct dm_playout_stats st;
	float buf[16];

	(void)state;
	assert_int_equal(dm_playout_new(48000, 5, 100, NULL), DM_EINVAL);
	assert_int_equal(dm_playout_new(0, 5, 100, &p), DM_EINVAL);
	assert_null(p);
	assert_int_equal(dm_playout_new(-48000, 5, 100, &p), DM_EINVAL);
	assert_int_equal(dm_playout_new(1000000, 5, 100, &p), DM_EINVAL);
	assert_int_equal(dm_playout_new(48000, 0, 100, &p), DM_EINVAL);
	assert_int_equal(dm_playout_new(48000, -1, 100, &p), DM_EINVAL);
	assert_int_equal(dm_playout_new(48000, 50, 10, &p), DM_EINVAL);
	assert_int_equal(dm_playout_new(48000, NAN, 100, &p), DM_EINVAL);
	assert_int_equal(dm_playout_new(48000, 5, NAN, &p), DM_EINVAL);
	assert_int_equal(dm_playout_new(48000, 5, 1e9, &p), DM_EINVAL);

	/* NULL objects: no-ops, and a pull still writes silence */
	assert_int_equal(dm_playout_push(NULL, buf, 16), 0);
	assert_int_equal(dm_playout_level(NULL), 0);
	dm_playout_flush(NULL);
	for (size_t i = 0; i < 16; i++)
		buf[i] = 1.0f;
	dm_playout_pull(NULL, buf, 16);
	assert_true(all_zero(buf, 16));
	memset(&st, 0xff, sizeof(st));
	dm_playout_get_stats(NULL, &st);
	assert_int_equal(st.underruns, 0);
	dm_playout_free(NULL);

	assert_int_equal(dm_playout_new(48000, 5, 100, &p), 0);
	assert_int_equal(dm_playout_push(p, NULL, 16), 0);
	assert_int_equal(dm_playout_push(p, buf, 0), 0);
	assert_int_equal(dm_playout_level(p), 0);
	dm_playout_pull(p, NULL, 16);
	dm_playout_pull(p, buf, 0);
	dm_playout_get_stats(p, NULL);
	dm_playout_get_stats(p, &st);
	assert_int_equal(st.underruns, 0);
	assert_int_equal(st.overflows, 0);
	assert_true(fabs(st.target_ms - 5.0) < 1e-9);
	assert_true(fabs(st.ratio - 1.0) < 1e-4);
	dm_playout_free(p);
}

/* Before anything is pushed the device gets silence. That is "not started"
 * (priming), not an underrun: underruns count only once playback has begun. */
static void playout_pull_before_push(void **state)
{
	struct sim s;
	struct dm_playout_stats st;

	(void)state;
	sim_init(&s, 5, 100);
	for (int i = 0; i < 10; i++) {
		for (size_t k = 0; k < s.pull; k++)
			s.out[k] = 1.0f;
		dm_playout_pull(s.p, s.out, s.pull);
		assert_true(all_zero(s.out, s.pull));
	}
	dm_playout_get_stats(s.p, &st);
	assert_int_equal(st.underruns, 0);
	assert_true(fabs(st.target_ms - 5.0) < 1e-9);
	/* priming below the target is silent too, and not counted */
	float half[120] = {0.5f};
	assert_int_equal(dm_playout_push(s.p, half, 120), 120);
	dm_playout_pull(s.p, s.out, s.pull);
	assert_true(all_zero(s.out, s.pull));
	assert_int_equal(dm_playout_level(s.p), 120);
	dm_playout_get_stats(s.p, &st);
	assert_int_equal(st.underruns, 0);
	dm_playout_free(s.p);
}

/* Frames of 240 (5 ms) pulled 128 at a time at the same average rate: after
 * priming, no underrun in 10 s and the level stays near the target. */
static void playout_steady(void **state)
{
	struct sim s;
	struct dm_playout_stats st;
	double sum = 0;
	size_t count = 0, lmax = 0;
	bool started = false;

	(void)state;
	sim_init(&s, 8, 100);
	while (s.t < 10.0 * RATE) {
		sim_step(&s);
		if (!started && !all_zero(s.out, s.pull))
			started = true;
		if (started && s.t > 1.0 * RATE) {
			sum += (double)s.level;
			count++;
			if (s.level > lmax)
				lmax = s.level;
		}
	}
	assert_true(started);
	dm_playout_get_stats(s.p, &st);
	print_message("steady: mean %.2f ms (stats %.2f), max %.2f ms, target %.2f ms, "
		      "ratio %.6f, underruns %llu\n",
		      sum / count * 1000.0 / RATE, st.buffer_ms_mean, st.buffer_ms_max,
		      st.target_ms, st.ratio, (unsigned long long)st.underruns);
	assert_int_equal(st.underruns, 0);
	assert_int_equal(st.overflows, 0);
	assert_true(fabs(st.target_ms - 8.0) < 1e-9);
	assert_true(fabs(sum / count * 1000.0 / RATE - st.target_ms) < 1.0);
	/* the level's sawtooth: one frame plus one pull above the target at most */
	assert_true((double)lmax * 1000.0 / RATE < st.target_ms + 5.0 + 2.7 + 0.5);
	assert_true(fabs(st.ratio - 1.0) < 2e-4);
	dm_playout_free(s.p);
}

/* Runs `seconds` with the producer's clock at `factor` and reports the mean
 * level of the last 10 s and the underruns of the last `quiet` seconds. */
static void run_drift(double factor, double seconds, double quiet, double *mean_ms,
		      uint64_t *late_underruns, struct dm_playout_stats *st)
{
	struct sim s;
	double sum = 0;
	size_t count = 0;
	uint64_t before = 0;

	sim_init(&s, 8, 100);
	s.factor = factor;
	while (s.t < seconds * RATE) {
		struct dm_playout_stats now;

		if (s.t >= (seconds - quiet) * RATE && s.t < (seconds - quiet) * RATE + s.pull) {
			dm_playout_get_stats(s.p, &now);
			before = now.underruns;
		}
		sim_step(&s);
		if (s.t > (seconds - 10.0) * RATE) {
			sum += (double)s.level;
			count++;
		}
	}
	dm_playout_get_stats(s.p, st);
	*mean_ms = sum / count * 1000.0 / RATE;
	*late_underruns = st->underruns - before;
	print_message("drift %.4f: last 10 s mean %.2f ms, target %.2f ms, max %.2f ms, "
		      "ratio %.6f, underruns %llu (%llu late), overflows %llu\n",
		      factor, *mean_ms, st->target_ms, st->buffer_ms_max, st->ratio,
		      (unsigned long long)st->underruns, (unsigned long long)*late_underruns,
		      (unsigned long long)st->overflows);
	dm_playout_free(s.p);
}

/* A producer 0.5 % fast: the resampler eats the surplus, so the level does not
 * grow without bound, and the ratio (out/in) goes below 1. 0.5 % is the
 * ratio's clamp, so the loop saturates there: the level stays bounded but
 * returns to the target only slowly (see playout_drift_converges). */
static void playout_drift_fast(void **state)
{
	struct dm_playout_stats st;
	double mean;
	uint64_t late;

	(void)state;
	run_drift(1.005, 60.0, 30.0, &mean, &late, &st);
	assert_true(mean < st.target_ms + 5.0);
	assert_true(st.buffer_ms_max < st.target_ms + 5.0 + 5.0 + 2.7);
	assert_true(st.ratio < 1.0 - 0.004);
	assert_int_equal(st.overflows, 0);
	assert_int_equal(late, 0);
}

/* A producer 0.5 % slow: after adapting (a few underruns at most, while the
 * loop learns the drift), no more underruns, and the ratio goes above 1. */
static void playout_drift_slow(void **state)
{
	struct dm_playout_stats st;
	double mean;
	uint64_t late;

	(void)state;
	run_drift(0.995, 60.0, 40.0, &mean, &late, &st);
	assert_int_equal(late, 0);
	/* The cushion grows by what was missing, not by a period: one more
	 * underrun or two while it learns, for less latency kept. */
	assert_true(st.underruns <= 5);
	assert_true(st.ratio > 1.0 + 0.004);
	assert_true(mean > st.target_ms - 5.0);
}

/* Within the clamp the PI loop learns the drift and brings the level back to
 * the target itself (a P-only loop would keep an offset). */
static void playout_drift_converges(void **state)
{
	static const double factors[] = {1.002, 0.998, 1.0001, 0.9999};

	(void)state;
	for (size_t i = 0; i < sizeof(factors) / sizeof(factors[0]); i++) {
		struct dm_playout_stats st;
		double mean;
		uint64_t late;

		run_drift(factors[i], 40.0, 20.0, &mean, &late, &st);
		assert_int_equal(st.underruns, 0);
		assert_true(fabs(mean - st.target_ms) < 0.3);
		/* out/in near 1 / factor. The reading is instantaneous: the slow
		 * beat between frame and pull sizes wobbles it by about 100 ppm
		 * (0.17 cent, inaudible) while the level stays on target. */
		assert_true(fabs(st.ratio * factors[i] - 1.0) < 3e-4);
	}
}

/* The producer stalls for 20 ms (a network gap): the device underruns once,
 * the target grows by what was missing (at least 0.5 ms), and playback
 * resumes after re-priming. */
static void playout_gap(void **state)
{
	struct sim s;
	struct dm_playout_stats st;
	size_t silent_after = 0;

	(void)state;
	sim_init(&s, 8, 100);
	s.stall_at = 2.0 * RATE;
	s.stall_len = 0.020 * RATE;
	while (s.t < 4.0 * RATE) {
		sim_step(&s);
		if (s.t > 2.5 * RATE && all_zero(s.out, s.pull))
			silent_after++;
	}
	dm_playout_get_stats(s.p, &st);
	print_message("gap: underruns %llu, target %.2f ms\n", (unsigned long long)st.underruns,
		      st.target_ms);
	assert_true(st.underruns >= 1 && st.underruns <= 2);
	assert_true(st.target_ms >= 8.0 + 0.5 - 1e-9);
	assert_true(st.target_ms <= 100.0);
	assert_int_equal(silent_after, 0); /* playing again */
	dm_playout_free(s.p);
}

/* Once the level has been far above what the device needs for long, the
 * target decays, but never below min_ms. */
static void playout_decay(void **state)
{
	struct sim s;
	struct dm_playout_stats st;
	double grown;

	(void)state;
	sim_init(&s, 8, 100);
	/* three stalls grow the target well above the need */
	for (int k = 0; k < 3; k++) {
		s.stall_at = (1.0 + k) * RATE;
		s.stall_len += 0.030 * RATE;
		while (s.t < (1.5 + k) * RATE)
			sim_step(&s);
	}
	dm_playout_get_stats(s.p, &st);
	grown = st.target_ms;
	assert_true(grown > 11.0);
	while (s.t < 80.0 * RATE)
		sim_step(&s);
	dm_playout_get_stats(s.p, &st);
	print_message("decay: target %.2f ms -> %.2f ms, underruns %llu\n", grown, st.target_ms,
		      (unsigned long long)st.underruns);
	assert_true(st.target_ms < grown - 2.0);
	assert_true(st.target_ms >= 8.0);
	assert_int_equal(st.underruns, 3);
	dm_playout_free(s.p);
}

/* Runs the simulation to device time `until` seconds; returns the target. */
static double run_to(struct sim *s, double until)
{
	struct dm_playout_stats st;

	while (s->t < until * RATE)
		sim_step(s);
	dm_playout_get_stats(s->p, &st);
	return st.target_ms;
}

/* A stall of len seconds from now on: every frame after it is late by the
 * sum of the stalls so far. */
static void stall_now(struct sim *s, double len)
{
	s->stall_at = s->t;
	s->stall_len += len * RATE;
}

static uint64_t underruns(const struct sim *s)
{
	struct dm_playout_stats st;

	dm_playout_get_stats(s->p, &st);
	return st.underruns;
}

/* A lone stall (none in the 10 s before it) grows the target for 2 s and
 * then gives the growth back, with that of its re-prime falling short just
 * after; a second stall within 10 s keeps both stalls' growth. */
static void playout_lone_stall(void **state)
{
	struct sim s;
	double before, grown, after;
	uint64_t learnt;

	(void)state;
	sim_init(&s, 5, 100);
	before = run_to(&s, 20.0);
	learnt = underruns(&s); /* the frame/period beat's, in the first second */

	/* one 15 ms stall after 20 s: one underrun */
	stall_now(&s, 0.015);
	grown = run_to(&s, 21.0);
	assert_int_equal(underruns(&s), learnt + 1);
	assert_true(grown > before);
	after = run_to(&s, 24.0);
	print_message("lone stall: target %.2f -> %.2f -> %.2f ms\n", before, grown, after);
	assert_true(fabs(after - before) < 1e-9);

	/* at 40 s another: this one's re-prime falls short 50 ms later (two
	 * underruns), and both steps go back together */
	run_to(&s, 40.0);
	stall_now(&s, 0.015);
	grown = run_to(&s, 40.5);
	assert_int_equal(underruns(&s), learnt + 3);
	after = run_to(&s, 43.0);
	print_message("lone stall and re-prime: target %.2f -> %.2f -> %.2f ms\n", before, grown,
		      after);
	assert_true(fabs(after - before) < 1e-9);

	/* at 44 s, 4 s after the last: a second stall in the window, so the
	 * growth given back at 42.5 s returns, and this stall's step adds */
	stall_now(&s, 0.015);
	after = run_to(&s, 50.0);
	print_message("second stall: target %.2f ms, underruns %llu (%llu learning)\n", after,
		      (unsigned long long)underruns(&s), (unsigned long long)learnt);
	assert_true(underruns(&s) >= learnt + 4);
	assert_true(after >= grown + 0.5 - 1e-9);
	dm_playout_free(s.p);
}

/* Underruns in the first 10 s of playback are learning: a stall at 3 s keeps
 * its growth, even as the first underrun of all (8 ms: the frame/period beat
 * alone never underruns). */
static void playout_learning(void **state)
{
	struct sim s;
	double before, after;
	uint64_t learnt;

	(void)state;
	sim_init(&s, 8, 100);
	before = run_to(&s, 3.0);
	learnt = underruns(&s);
	assert_int_equal(learnt, 0);
	stall_now(&s, 0.015);
	after = run_to(&s, 9.0);
	print_message("learning: target %.2f -> %.2f ms\n", before, after);
	assert_true(underruns(&s) > learnt);
	assert_true(after >= before + 0.5 - 1e-9);
	dm_playout_free(s.p);
}

/* The network's delay drops by 15 ms: the excess drains through the clamped
 * ratio and the loop settles back on the target. An integral charged during
 * the 3 s of draining overshot into 7 underruns and a grown target; now at
 * most one undershoot (an underrun and its re-prime), a lone stall whose
 * growth is given back. */
static void playout_delay_drop(void **state)
{
	struct sim s;
	struct dm_playout_stats st;
	uint64_t learnt;
	double before;

	(void)state;
	sim_init(&s, 5, 100);
	s.stall_at = 0;
	s.stall_len = 0.015 * RATE; /* every frame 15 ms late... */
	while (s.t < 20.0 * RATE)
		sim_step(&s);
	dm_playout_get_stats(s.p, &st);
	learnt = st.underruns;
	before = st.target_ms;
	s.stall_at = 1e12; /* ...until now */
	while (s.t < 40.0 * RATE)
		sim_step(&s);
	dm_playout_get_stats(s.p, &st);
	print_message("delay drop: underruns %llu after, %llu learning, target %.2f ms\n",
		      (unsigned long long)(st.underruns - learnt), (unsigned long long)learnt,
		      st.target_ms);
	assert_true(st.underruns - learnt <= 2);
	assert_true(fabs(st.target_ms - before) < 1e-9);
	assert_int_equal(st.overflows, 0);
	dm_playout_free(s.p);
}

/* flush: the level is 0 at once, the next pull is silence, and nothing of the
 * old stream (DC 1.0) is heard once the new one (DC 0.25) plays. */
static void playout_flush(void **state)
{
	struct sim s;
	struct dm_playout_stats st;
	float maxv = 0;
	bool heard = false;

	(void)state;
	sim_init(&s, 8, 100);
	s.dc = 1.0f;
	while (s.t < 1.0 * RATE)
		sim_step(&s);
	assert_true(dm_playout_level(s.p) > 0);
	assert_true(fabsf(s.out[s.pull - 1] - 1.0f) < 0.01f);

	dm_playout_flush(s.p);
	assert_int_equal(dm_playout_level(s.p), 0);
	dm_playout_pull(s.p, s.out, s.pull);
	assert_true(all_zero(s.out, s.pull));
	assert_int_equal(dm_playout_level(s.p), 0);

	s.dc = 0.25f;
	while (s.t < 2.0 * RATE) {
		sim_step(&s);
		for (size_t i = 0; i < s.pull; i++) {
			if (fabsf(s.out[i]) > maxv)
				maxv = fabsf(s.out[i]);
			if (fabsf(s.out[i] - 0.25f) < 0.001f)
				heard = true;
		}
	}
	dm_playout_get_stats(s.p, &st);
	assert_true(heard);
	assert_true(maxv < 0.3f);	   /* the filter's ringing, not the old stream */
	assert_int_equal(st.underruns, 0); /* a flush is not an underrun */

	/* a flush pushed over by new data before the consumer ran: only the
	 * new data remains */
	float a[240], b[240];
	for (size_t i = 0; i < 240; i++) {
		a[i] = 1.0f;
		b[i] = 0.25f;
	}
	dm_playout_push(s.p, a, 240);
	dm_playout_flush(s.p);
	dm_playout_push(s.p, b, 240);
	dm_playout_push(s.p, b, 240);
	assert_int_equal(dm_playout_level(s.p), 480);
	dm_playout_pull(s.p, s.out, s.pull);
	/* the resampler takes 128 inputs for 128 outputs, give or take one */
	assert_true(dm_playout_level(s.p) >= 480 - s.pull - 2);
	assert_true(dm_playout_level(s.p) <= 480 - s.pull + 1);
	dm_playout_free(s.p);
}

/* Goertzel power of frequency f in x[0..n). */
static double goertzel(const float *x, size_t n, double f)
{
	double w = 2.0 * M_PI * f / RATE, c = 2.0 * cos(w), s1 = 0, s2 = 0;

	for (size_t i = 0; i < n; i++) {
		double s0 = x[i] + c * s1 - s2;

		s2 = s1;
		s1 = s0;
	}
	return s1 * s1 + s2 * s2 - c * s1 * s2;
}

/* A 440 Hz sine through the buffer, with the producer 0.1 % fast so the
 * resampler really works: still a 440 Hz sine (of the producer's clock), with
 * no step larger than the sine's own largest step once playing. */
static void playout_sine_continuity(void **state)
{
	enum { SECONDS = 5, N = SECONDS * RATE };
	static float rec[N];
	struct sim s;
	struct dm_playout_stats st;
	size_t first = SIZE_MAX, crossings = 0, firstx = 0, lastx = 0;
	double maxstep = 0, sinestep;

	(void)state;
	sim_init(&s, 10, 100);
	s.factor = 1.001;
	for (size_t at = 0; at < N; at += s.pull) {
		sim_step(&s);
		memcpy(rec + at, s.out, s.pull * sizeof(float));
	}
	dm_playout_get_stats(s.p, &st);
	assert_int_equal(st.underruns, 0);
	for (size_t i = 0; i < N; i++) {
		if (rec[i] != 0.0f) {
			first = i;
			break;
		}
	}
	assert_true(first < RATE / 10);
	/* after priming and the filter's delay */
	for (size_t i = first + 64; i < N; i++) {
		double d = fabs((double)rec[i] - rec[i - 1]);

		if (d > maxstep)
			maxstep = d;
		if (rec[i - 1] < 0 && rec[i] >= 0) {
			if (crossings == 0)
				firstx = i;
			lastx = i;
			crossings++;
		}
	}
	/* the device hears the producer's 440 Hz 0.1 % higher on its own clock */
	double f = (double)(crossings - 1) * RATE / (double)(lastx - firstx);
	double want = 440.0 * 1.001;
	sinestep = 0.5 * 2.0 * sin(M_PI * want / RATE);
	print_message("sine: %.2f Hz (want %.2f), max step %.5f (sine's %.5f), ratio %.6f\n", f,
		      want, maxstep, sinestep, st.ratio);
	assert_true(fabs(f - want) < 0.5);
	assert_true(maxstep <= sinestep * 1.01);
	/* spectrally clean: 440 dominates its neighbours by far */
	const float *tail = rec + N - RATE;
	double p440 = goertzel(tail, RATE, want);
	assert_true(p440 > 1000.0 * goertzel(tail, RATE, 400.0));
	assert_true(p440 > 1000.0 * goertzel(tail, RATE, 880.0));
	dm_playout_free(s.p);
}

/* Flushes from the producer thread while the device thread pulls, switching
 * between two "channels" (DC 1.0 and DC 0.25) many times; nothing crashes (run
 * it under the sanitizers too), and a pull that starts after the last flush
 * never plays the old channel again. */
struct conc {
	struct dm_playout *p;
	atomic_bool done;
	atomic_bool bad;
	atomic_bool last; /* set after the last flush */
};

static void *conc_consumer(void *arg)
{
	struct conc *c = arg;
	float out[128];

	while (!atomic_load(&c->done)) {
		bool last = atomic_load(&c->last);

		dm_playout_pull(c->p, out, 128);
		for (size_t i = 0; last && i < 128; i++)
			if (out[i] > 0.3f)
				atomic_store(&c->bad, true);
		sched_yield();
	}
	return NULL;
}

static void playout_concurrent_flush(void **state)
{
	struct conc c = {0};
	pthread_t th;
	float one[240], quarter[240];

	(void)state;
	for (size_t i = 0; i < 240; i++) {
		one[i] = 1.0f;
		quarter[i] = 0.25f;
	}
	assert_int_equal(dm_playout_new(RATE, 5, 50, &c.p), 0);
	atomic_init(&c.done, false);
	atomic_init(&c.bad, false);
	atomic_init(&c.last, false);
	assert_int_equal(pthread_create(&th, NULL, conc_consumer, &c), 0);
	for (int round = 0; round < 200; round++) {
		const float *src = round % 2 ? quarter : one;

		/* each round a new "channel": flush, then keep a few frames in */
		dm_playout_flush(c.p);
		for (int k = 0; k < 2000; k++) {
			if (dm_playout_level(c.p) < 1200)
				dm_playout_push(c.p, src, 240);
			else
				sched_yield();
		}
	}
	dm_playout_push(c.p, one, 240);
	dm_playout_flush(c.p);
	atomic_store(&c.last, true);
	for (int k = 0; k < 20000; k++) {
		if (dm_playout_level(c.p) < 1200)
			dm_playout_push(c.p, quarter, 240);
		else
			sched_yield();
	}
	atomic_store(&c.done, true);
	pthread_join(th, NULL);
	assert_false(atomic_load(&c.bad));
	assert_true(dm_playout_level(c.p) <= 1200 + 240);
	dm_playout_free(c.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(playout_bad_args),
		cmocka_unit_test(playout_pull_before_push),
		cmocka_unit_test(playout_steady),
		cmocka_unit_test(playout_drift_fast),
		cmocka_unit_test(playout_drift_slow),
		cmocka_unit_test(playout_drift_converges),
		cmocka_unit_test(playout_gap),
		cmocka_unit_test(playout_decay),
		cmocka_unit_test(playout_lone_stall),
		cmocka_unit_test(playout_learning),
		cmocka_unit_test(playout_delay_drop),
		cmocka_unit_test(playout_flush),
		cmocka_unit_test(playout_sine_continuity),
		cmocka_unit_test(playout_concurrent_flush),
	};

	return cmocka_run_group_tests_name("playout", tests, NULL, NULL);
}
