/* Unit tests of the SPSC ring (src/rt/ring.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dragoman/error.h"
#include "dragoman/ring.h"

static struct dm_ring *ring_make(size_t capacity)
{
	struct dm_ring *r = NULL;

	assert_int_equal(dm_ring_new(capacity, &r), 0);
	assert_non_null(r);
	return r;
}

static void fill_seq(float *buf, size_t n, uint32_t start)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (float)(start + i);
}

static void ring_bad_args(void **state)
{
	struct dm_ring *r = (struct dm_ring *)0x1;
	float f[4] = {0};

	(void)state;
	assert_int_equal(dm_ring_new(0, &r), DM_EINVAL);
	assert_null(r);
	assert_int_equal(dm_ring_new(SIZE_MAX, &r), DM_EINVAL);
	assert_int_equal(dm_ring_new(((size_t)1 << 28) + 1, &r), DM_EINVAL);
	assert_int_equal(dm_ring_new(16, NULL), DM_EINVAL);

	assert_int_equal(dm_ring_write(NULL, f, 4), 0);
	assert_int_equal(dm_ring_read(NULL, f, 4), 0);
	assert_int_equal(dm_ring_peek(NULL, f, 4), 0);
	assert_int_equal(dm_ring_skip(NULL, 4), 0);
	assert_int_equal(dm_ring_readable(NULL), 0);
	assert_int_equal(dm_ring_writable(NULL), 0);
	assert_int_equal(dm_ring_capacity(NULL), 0);
	dm_ring_free(NULL);

	r = ring_make(8);
	assert_int_equal(dm_ring_write(r, NULL, 4), 0);
	assert_int_equal(dm_ring_write(r, f, 0), 0);
	assert_int_equal(dm_ring_readable(r), 0);
	assert_int_equal(dm_ring_write(r, f, 4), 4);
	assert_int_equal(dm_ring_read(r, NULL, 4), 0);
	assert_int_equal(dm_ring_peek(r, NULL, 4), 0);
	assert_int_equal(dm_ring_read(r, f, 0), 0);
	assert_int_equal(dm_ring_skip(r, 0), 0);
	assert_int_equal(dm_ring_readable(r), 4);
	dm_ring_free(r);
}

static void ring_capacity_rounding(void **state)
{
	static const struct {
		size_t asked, got;
	} cases[] = {
		{1, 1},	      {2, 2},	    {3, 4},	  {5, 8},
		{1000, 1024}, {1024, 1024}, {1025, 2048}, {(size_t)1 << 20, (size_t)1 << 20},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct dm_ring *r = ring_make(cases[i].asked);

		assert_int_equal(dm_ring_capacity(r), cases[i].got);
		assert_int_equal(dm_ring_writable(r), cases[i].got);
		assert_int_equal(dm_ring_readable(r), 0);
		dm_ring_free(r);
	}
}

static void ring_fill_drain(void **state)
{
	struct dm_ring *r = ring_make(64);
	float in[64], out[64];

	(void)state;
	fill_seq(in, 64, 1);
	assert_int_equal(dm_ring_write(r, in, 64), 64);
	assert_int_equal(dm_ring_readable(r), 64);
	assert_int_equal(dm_ring_writable(r), 0);
	memset(out, 0, sizeof(out));
	assert_int_equal(dm_ring_read(r, out, 64), 64);
	assert_memory_equal(in, out, sizeof(in));
	assert_int_equal(dm_ring_readable(r), 0);
	assert_int_equal(dm_ring_writable(r), 64);
	/* empty: nothing more, and out untouched */
	out[0] = -1.0f;
	assert_int_equal(dm_ring_read(r, out, 1), 0);
	assert_true(out[0] == -1.0f);
	dm_ring_free(r);
}

/* Odd chunk sizes against a capacity of 16 make the copies straddle the end
 * of the array at every offset; the counters keep running far past it. */
static void ring_wrap_odd_sizes(void **state)
{
	static const size_t wsizes[] = {3, 7, 5, 11, 1, 13, 9};
	static const size_t rsizes[] = {5, 2, 9, 13, 7, 1, 11, 3};
	struct dm_ring *r = ring_make(16);
	float buf[16];
	uint32_t wseq = 0, rseq = 0;

	(void)state;
	for (size_t round = 0; round < 5000; round++) {
		size_t want = wsizes[round % 7];
		size_t got;

		fill_seq(buf, want, wseq);
		got = dm_ring_write(r, buf, want);
		assert_true(got <= want);
		assert_int_equal(got, want < 16 - (wseq - rseq) ? want : 16 - (wseq - rseq));
		wseq += (uint32_t)got;

		want = rsizes[round % 8];
		got = dm_ring_read(r, buf, want);
		assert_int_equal(got, want < wseq - rseq ? want : wseq - rseq);
		for (size_t i = 0; i < got; i++)
			assert_true(buf[i] == (float)(rseq + i));
		rseq += (uint32_t)got;
		assert_int_equal(dm_ring_readable(r), wseq - rseq);
		assert_int_equal(dm_ring_writable(r), 16 - (wseq - rseq));
	}
	assert_true(wseq > 10 * 16);
	dm_ring_free(r);
}

static void ring_full_partial(void **state)
{
	struct dm_ring *r = ring_make(10); /* 16 */
	float in[40], out[40];

	(void)state;
	fill_seq(in, 40, 100);
	assert_int_equal(dm_ring_write(r, in, 10), 10);
	/* only 6 more fit: the caller counts the other 14 as overflow */
	assert_int_equal(dm_ring_write(r, in + 10, 20), 6);
	assert_int_equal(dm_ring_write(r, in + 16, 1), 0);
	assert_int_equal(dm_ring_writable(r), 0);
	assert_int_equal(dm_ring_read(r, out, 40), 16);
	assert_memory_equal(in, out, 16 * sizeof(float));
	/* partial read when less is there than asked */
	assert_int_equal(dm_ring_write(r, in + 16, 3), 3);
	assert_int_equal(dm_ring_read(r, out, 40), 3);
	assert_memory_equal(in + 16, out, 3 * sizeof(float));
	dm_ring_free(r);
}

static void ring_peek_skip(void **state)
{
	struct dm_ring *r = ring_make(8);
	float in[8], out[8];

	(void)state;
	fill_seq(in, 8, 0);
	/* move the counters so the peeked run wraps */
	assert_int_equal(dm_ring_write(r, in, 6), 6);
	assert_int_equal(dm_ring_skip(r, 6), 6);
	assert_int_equal(dm_ring_write(r, in, 7), 7);

	assert_int_equal(dm_ring_peek(r, out, 5), 5);
	assert_memory_equal(in, out, 5 * sizeof(float));
	assert_int_equal(dm_ring_readable(r), 7); /* not consumed */
	assert_int_equal(dm_ring_peek(r, out, 8), 7);
	assert_memory_equal(in, out, 7 * sizeof(float));

	assert_int_equal(dm_ring_skip(r, 2), 2);
	assert_int_equal(dm_ring_readable(r), 5);
	assert_int_equal(dm_ring_read(r, out, 1), 1);
	assert_true(out[0] == 2.0f);
	assert_int_equal(dm_ring_skip(r, 100), 4); /* only what is there */
	assert_int_equal(dm_ring_readable(r), 0);
	assert_int_equal(dm_ring_skip(r, 1), 0);
	assert_int_equal(dm_ring_peek(r, out, 1), 0);
	dm_ring_free(r);
}

/* Two threads: the producer writes a counting sequence in random-size chunks,
 * the consumer reads (or peeks, or looks in place with read_span, and skips)
 * random-size chunks and checks every sample. A functional test: it proves
 * ordering and no loss under real concurrency, not speed. The counter stays
 * below 2^24, where floats are exact. */
#define STRESS_TOTAL 4000000u

struct stress {
	struct dm_ring *r;
	atomic_bool failed;
	uint32_t first_bad;
};

static uint32_t xorshift(uint32_t *s)
{
	uint32_t x = *s;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static void *stress_producer(void *arg)
{
	struct stress *st = arg;
	float buf[300];
	uint32_t next = 0, seed = 0x9e3779b9u;

	while (next < STRESS_TOTAL && !atomic_load(&st->failed)) {
		size_t want = 1 + xorshift(&seed) % 300;
		size_t done = 0;

		if (want > STRESS_TOTAL - next)
			want = STRESS_TOTAL - next;
		fill_seq(buf, want, next);
		while (done < want && !atomic_load(&st->failed)) {
			size_t got = dm_ring_write(st->r, buf + done, want - done);

			done += got;
			if (got == 0)
				sched_yield();
		}
		next += (uint32_t)want;
	}
	return NULL;
}

static void *stress_consumer(void *arg)
{
	struct stress *st = arg;
	float buf[300];
	uint32_t next = 0, seed = 0x12345678u;

	while (next < STRESS_TOTAL) {
		size_t want = 1 + xorshift(&seed) % 300;
		unsigned mode = xorshift(&seed) & 3; /* 0 peek + skip, 1 span + skip */
		bool peek = mode == 0, span = mode == 1;
		const float *data = buf;
		size_t got;

		if (span) {
			/* In place, while the producer writes: the span must hold. */
			data = dm_ring_read_span(st->r, &got);
			if (got > want)
				got = want;
		} else {
			got = peek ? dm_ring_peek(st->r, buf, want)
				   : dm_ring_read(st->r, buf, want);
		}
		if (got == 0) {
			sched_yield();
			continue;
		}
		for (size_t i = 0; i < got; i++) {
			if (data[i] != (float)(next + i)) {
				st->first_bad = next + (uint32_t)i;
				atomic_store(&st->failed, true);
				return NULL;
			}
		}
		if ((peek || span) && dm_ring_skip(st->r, got) != got) {
			st->first_bad = next;
			atomic_store(&st->failed, true);
			return NULL;
		}
		next += (uint32_t)got;
	}
	return NULL;
}

static void ring_threads_stress(void **state)
{
	struct stress st = {.r = ring_make(1000)};
	pthread_t prod, cons;

	(void)state;
	atomic_init(&st.failed, false);
	assert_int_equal(pthread_create(&cons, NULL, stress_consumer, &st), 0);
	assert_int_equal(pthread_create(&prod, NULL, stress_producer, &st), 0);
	pthread_join(prod, NULL);
	pthread_join(cons, NULL);
	if (atomic_load(&st.failed))
		fail_msg("sample %u out of order or lost", (unsigned)st.first_bad);
	assert_int_equal(dm_ring_readable(st.r), 0);
	dm_ring_free(st.r);
}

/* In-place reads: the span is the data, up to the end of the array; the
 * rest after a wrap comes with the next call; skipped samples are free. */
static void ring_read_span(void **state)
{
	struct dm_ring *r = NULL;
	float in[12], out[12];
	const float *p;
	size_t n = 99;

	(void)state;
	assert_null(dm_ring_read_span(NULL, &n));
	assert_int_equal(n, 0);
	assert_int_equal(dm_ring_new(8, &r), 0);
	assert_null(dm_ring_read_span(r, NULL));
	n = 99;
	assert_null(dm_ring_read_span(r, &n));
	assert_int_equal(n, 0);
	for (int i = 0; i < 12; i++)
		in[i] = (float)i + 0.5f;
	/* 6 in, 6 out: the next 6 wrap after 2. */
	assert_int_equal(dm_ring_write(r, in, 6), 6);
	assert_int_equal(dm_ring_read(r, out, 6), 6);
	assert_int_equal(dm_ring_write(r, in, 6), 6);
	p = dm_ring_read_span(r, &n);
	assert_non_null(p);
	assert_int_equal(n, 2);
	assert_memory_equal(p, in, 2 * sizeof(float));
	/* Not consumed: the same span again, and no room for more than 2. */
	assert_ptr_equal(dm_ring_read_span(r, &n), p);
	assert_int_equal(dm_ring_writable(r), 2);
	assert_int_equal(dm_ring_skip(r, n), 2);
	p = dm_ring_read_span(r, &n);
	assert_int_equal(n, 4);
	assert_memory_equal(p, in + 2, 4 * sizeof(float));
	assert_int_equal(dm_ring_skip(r, 4), 4);
	assert_null(dm_ring_read_span(r, &n));
	assert_int_equal(n, 0);
	assert_int_equal(dm_ring_writable(r), 8);
	dm_ring_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ring_bad_args),       cmocka_unit_test(ring_capacity_rounding),
		cmocka_unit_test(ring_fill_drain),     cmocka_unit_test(ring_wrap_odd_sizes),
		cmocka_unit_test(ring_full_partial),   cmocka_unit_test(ring_peek_skip),
		cmocka_unit_test(ring_threads_stress), cmocka_unit_test(ring_read_span),
	};

	return cmocka_run_group_tests_name("ring", tests, NULL, NULL);
}
