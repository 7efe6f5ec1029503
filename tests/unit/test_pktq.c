/* Unit tests of the SPSC packet queue (src/rt/pktq.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "dragoman/error.h"
#include "dragoman/pktq.h"

static struct dm_pktq *pktq_make(size_t bytes, size_t max_len)
{
	struct dm_pktq *q = NULL;

	assert_int_equal(dm_pktq_new(bytes, max_len, &q), 0);
	assert_non_null(q);
	return q;
}

/* Packet number k: length 1 + k * 7 % max_len, bytes (k + i) & 0xff. */
static size_t pkt_len(uint32_t k, size_t max_len)
{
	return 1 + (size_t)k * 7 % max_len;
}

static void pkt_fill(uint8_t *buf, uint32_t k, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(k + i);
}

static bool pkt_ok(const uint8_t *p, uint32_t k, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(k + i))
			return false;
	return true;
}

static void pktq_fifo(void **state)
{
	struct dm_pktq *q = pktq_make(256, 40);
	uint8_t buf[40];
	int64_t stamp = 0;
	size_t len = 0;

	(void)state;
	assert_null(dm_pktq_peek(q, &stamp, &len));
	assert_int_equal(dm_pktq_pop(q), DM_EAGAIN);
	assert_int_equal(dm_pktq_used(q), 0);
	pkt_fill(buf, 1, 5);
	assert_int_equal(dm_pktq_push(q, -7, buf, 5), 0);
	pkt_fill(buf, 2, 40);
	assert_int_equal(dm_pktq_push(q, 1234567890123LL, buf, 40), 0);
	assert_int_equal(dm_pktq_used(q), 32 + 64); /* 16 + 5 -> 32; 16 + 40 -> 64 */

	const uint8_t *p = dm_pktq_peek(q, &stamp, &len);

	assert_non_null(p);
	assert_int_equal(stamp, -7);
	assert_int_equal(len, 5);
	assert_true(pkt_ok(p, 1, 5));
	/* Peeking again gives the same packet: only pop releases it. */
	assert_ptr_equal(dm_pktq_peek(q, &stamp, &len), p);
	assert_int_equal(dm_pktq_pop(q), 0);
	p = dm_pktq_peek(q, &stamp, &len);
	assert_non_null(p);
	assert_int_equal(stamp, 1234567890123LL);
	assert_int_equal(len, 40);
	assert_true(pkt_ok(p, 2, 40));
	assert_int_equal(dm_pktq_pop(q), 0);
	assert_null(dm_pktq_peek(q, &stamp, &len));
	assert_int_equal(dm_pktq_used(q), 0);
	dm_pktq_free(q);
}

/* Full: the push that does not fit stores nothing; a packet that would
 * cross the array's end starts again at its beginning, whole. */
static void pktq_full_and_wrap(void **state)
{
	struct dm_pktq *q = pktq_make(256, 100);
	uint8_t buf[100];
	int64_t stamp;
	size_t len;
	uint32_t pushed = 0, popped = 0;

	(void)state;
	/* 100 bytes take 128: two fit in 256, the third does not. */
	for (int i = 0; i < 2; i++) {
		pkt_fill(buf, pushed, 100);
		assert_int_equal(dm_pktq_push(q, pushed, buf, 100), 0);
		pushed++;
	}
	assert_int_equal(dm_pktq_push(q, 99, buf, 1), DM_EAGAIN);
	assert_int_equal(dm_pktq_used(q), 256);
	/* Many rounds of packets of every length: each wraps at another place. */
	for (int round = 0; round < 2000; round++) {
		const uint8_t *p = dm_pktq_peek(q, &stamp, &len);

		assert_non_null(p);
		assert_int_equal(stamp, popped);
		assert_int_equal(len, popped < 2 ? 100 : pkt_len(popped, 100));
		assert_true(pkt_ok(p, popped, len));
		/* In the array, whole. */
		assert_int_equal(dm_pktq_pop(q), 0);
		popped++;
		for (;;) {
			size_t n = pkt_len(pushed, 100);

			pkt_fill(buf, pushed, n);
			int rc = dm_pktq_push(q, pushed, buf, n);

			if (rc == DM_EAGAIN)
				break;
			assert_int_equal(rc, 0);
			pushed++;
		}
		assert_true(dm_pktq_used(q) <= 256);
	}
	while (dm_pktq_peek(q, &stamp, &len)) {
		assert_int_equal(stamp, popped);
		assert_int_equal(dm_pktq_pop(q), 0);
		popped++;
	}
	assert_int_equal(popped, pushed);
	assert_int_equal(dm_pktq_used(q), 0);
	dm_pktq_free(q);
}

/* The room is all used: packets of 1..16 bytes take 32 each, and 8 of them
 * fill 256 bytes exactly, through every position of the array; after one is
 * taken, exactly one more fits. */
static void pktq_exact_room(void **state)
{
	struct dm_pktq *q = pktq_make(256, 100);
	uint8_t buf[100] = {0};
	int64_t stamp;
	size_t len;

	(void)state;
	for (int round = 0; round < 20; round++) {
		int n = 0;

		while (dm_pktq_push(q, n, buf, (size_t)(round % 16 + 1)) == 0)
			n++;
		assert_int_equal(n, round == 0 ? 8 : 1);
		assert_int_equal(dm_pktq_used(q), 256);
		assert_non_null(dm_pktq_peek(q, &stamp, &len));
		assert_int_equal(dm_pktq_pop(q), 0);
		assert_int_equal(dm_pktq_used(q), 224);
	}
	/* A 100-byte packet takes 128; where 32 bytes are left before the end,
	 * they are skipped: it needs 128 free at the start. */
	while (dm_pktq_pop(q) == 0)
		;
	assert_int_equal(dm_pktq_used(q), 0);
	dm_pktq_free(q);
	q = pktq_make(256, 100);
	for (int i = 0; i < 7; i++) /* 224 bytes: the next packet starts at 224 */
		assert_int_equal(dm_pktq_push(q, i, buf, 1), 0);
	for (int i = 0; i < 3; i++) /* 96 free at the start, 32 at the end */
		assert_int_equal(dm_pktq_pop(q), 0);
	assert_int_equal(dm_pktq_push(q, 9, buf, 100), DM_EAGAIN); /* 32 + 128 > 128 free */
	assert_int_equal(dm_pktq_pop(q), 0); /* 128 free at the start, 32 at the end */
	assert_int_equal(dm_pktq_push(q, 9, buf, 100), 0);
	assert_int_equal(dm_pktq_used(q), 3 * 32 + 32 + 128); /* three left, the skip, it */
	for (int i = 4; i < 7; i++) {
		assert_non_null(dm_pktq_peek(q, &stamp, &len));
		assert_int_equal(stamp, i);
		assert_int_equal(dm_pktq_pop(q), 0);
	}
	assert_non_null(dm_pktq_peek(q, &stamp, &len)); /* past the skip */
	assert_int_equal(stamp, 9);
	assert_int_equal(len, 100);
	dm_pktq_free(q);
}

static void pktq_bad_args(void **state)
{
	struct dm_pktq *q = (struct dm_pktq *)&q;
	uint8_t buf[8] = {0};
	int64_t stamp;
	size_t len;

	(void)state;
	assert_int_equal(dm_pktq_new(256, 40, NULL), DM_EINVAL);
	assert_int_equal(dm_pktq_new(256, 0, &q), DM_EINVAL);
	assert_null(q);
	assert_int_equal(dm_pktq_new(100, 40, &q), DM_EINVAL); /* two of 64 need 128 */
	assert_int_equal(dm_pktq_new((size_t)1 << 31, 40, &q), DM_EINVAL);
	q = pktq_make(128, 40);
	assert_int_equal(dm_pktq_push(NULL, 0, buf, 1), DM_EINVAL);
	assert_int_equal(dm_pktq_push(q, 0, NULL, 1), DM_EINVAL);
	assert_int_equal(dm_pktq_push(q, 0, buf, 0), DM_EINVAL);
	assert_int_equal(dm_pktq_push(q, 0, buf, 41), DM_EINVAL);
	assert_int_equal(dm_pktq_used(q), 0);
	assert_int_equal(dm_pktq_push(q, 0, buf, 1), 0);
	assert_null(dm_pktq_peek(NULL, &stamp, &len));
	assert_null(dm_pktq_peek(q, NULL, &len));
	assert_null(dm_pktq_peek(q, &stamp, NULL));
	assert_int_equal(dm_pktq_pop(NULL), DM_EINVAL);
	assert_int_equal(dm_pktq_used(NULL), 0);
	dm_pktq_free(q);
	dm_pktq_free(NULL);
}

#define STRESS_PACKETS 400000

struct stress {
	struct dm_pktq *q;
	atomic_bool bad;
	uint32_t received;
};

static void *stress_producer(void *arg)
{
	struct stress *st = arg;
	uint8_t buf[300];

	for (uint32_t k = 0; k < STRESS_PACKETS;) {
		size_t n = pkt_len(k, sizeof(buf));

		pkt_fill(buf, k, n);
		if (dm_pktq_push(st->q, (int64_t)k * 3, buf, n) == 0)
			k++;
		else if (atomic_load(&st->bad))
			break; /* the consumer gave up: fail, do not hang */
		else
			sched_yield();
	}
	return NULL;
}

static void *stress_consumer(void *arg)
{
	struct stress *st = arg;

	while (st->received < STRESS_PACKETS) {
		int64_t stamp;
		size_t len;
		const uint8_t *p = dm_pktq_peek(st->q, &stamp, &len);

		if (!p) {
			sched_yield();
			continue;
		}
		if (stamp != (int64_t)st->received * 3 || len != pkt_len(st->received, 300) ||
		    !pkt_ok(p, st->received, len) || dm_pktq_pop(st->q) != 0) {
			atomic_store(&st->bad, true);
			return NULL;
		}
		st->received++;
	}
	return NULL;
}

/* A producer and a consumer on two threads: every packet arrives once, in
 * order, whole (under ThreadSanitizer too, when built with it). */
static void pktq_threads_stress(void **state)
{
	struct stress st = {.q = pktq_make(4096, 300)};
	pthread_t prod, cons;

	(void)state;
	atomic_init(&st.bad, false);
	assert_int_equal(pthread_create(&cons, NULL, stress_consumer, &st), 0);
	assert_int_equal(pthread_create(&prod, NULL, stress_producer, &st), 0);
	pthread_join(prod, NULL);
	pthread_join(cons, NULL);
	assert_false(atomic_load(&st.bad));
	assert_int_equal(st.received, STRESS_PACKETS);
	assert_int_equal(dm_pktq_used(st.q), 0);
	dm_pktq_free(st.q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pktq_fifo),	       cmocka_unit_test(pktq_full_and_wrap),
		cmocka_unit_test(pktq_exact_room),     cmocka_unit_test(pktq_bad_args),
		cmocka_unit_test(pktq_threads_stress),
	};

	return cmocka_run_group_tests_name("pktq", tests, NULL, NULL);
}
