/* Unit tests of the packet jitter buffer (src/net/jitter.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "dragoman/error.h"
#include "dragoman/jitter.h"

#define MAXP 64

/* A script step: put a packet, pop (optionally forced), peek at the packet
 * after the next one, or check the count. Payloads are derived from the
 * sequence number so every copy out can be checked. */
enum op { PUT, POP, POPF, PEEK, COUNT, WAIT };

struct step {
	enum op op;
	uint16_t seq; /* PUT: seq sent; POP/POPF/PEEK: seq expected out */
	uint64_t t;   /* now_us; WAIT: the reorder wait to set */
	int want;     /* return code, or the count for COUNT */
};

static size_t payload_of(uint16_t seq, uint8_t *buf)
{
	size_t len = 3 + seq % 7;

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seq * 31 + i);
	return len;
}

static void check_payload(uint16_t seq, const uint8_t *buf, size_t len)
{
	uint8_t want[MAXP];
	size_t wlen = payload_of(seq, want);

	assert_int_equal(len, wlen);
	assert_memory_equal(buf, want, wlen);
}

static void run_script(struct dm_jitter *j, const struct step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct step *s = &steps[i];
		uint8_t buf[MAXP];
		size_t len = 99;
		uint16_t seq = 0;
		int rc;

		switch (s->op) {
		case PUT:
			len = payload_of(s->seq, buf);
			rc = dm_jitter_put(j, s->seq, s->seq * 240u, buf, len, s->t);
			if (rc != s->want)
				fail_msg("step %zu: put %u -> %d, want %d", i, s->seq, rc, s->want);
			break;
		case POP:
		case POPF:
			rc = dm_jitter_pop(j, s->t, s->op == POPF, buf, sizeof(buf), &len, &seq);
			if (rc != s->want)
				fail_msg("step %zu: pop -> %d, want %d", i, rc, s->want);
			if (rc == DM_JITTER_PACKET || rc == DM_JITTER_LOST)
				assert_int_equal(seq, s->seq);
			if (rc == DM_JITTER_PACKET)
				check_payload(s->seq, buf, len);
			else
				assert_int_equal(len, 0);
			break;
		case PEEK:
			rc = dm_jitter_peek_after_next(j, buf, sizeof(buf), &len);
			if (rc != s->want)
				fail_msg("step %zu: peek -> %d, want %d", i, rc, s->want);
			if (rc == 1)
				check_payload(s->seq, buf, len);
			break;
		case COUNT:
			if (dm_jitter_count(j) != (size_t)s->want)
				fail_msg("step %zu: count %zu, want %d", i, dm_jitter_count(j),
					 s->want);
			break;
		case WAIT: dm_jitter_set_reorder_wait(j, s->t); break;
		}
	}
}

struct jcase {
	const char *name;
	size_t capacity;
	const struct step *steps;
	size_t n;
	struct dm_jitter_stats want;
};

#define E DM_JITTER_EMPTY
#define P DM_JITTER_PACKET
#define L DM_JITTER_LOST
#define STEPS(...)                                                                                 \
	(const struct step[]){__VA_ARGS__},                                                        \
		sizeof((const struct step[]){__VA_ARGS__}) / sizeof(struct step)

static const struct jcase cases[] = {
	{"in order",
	 64,
	 STEPS({PUT, 10, 0, 0}, {PUT, 11, 0, 0}, {PUT, 12, 0, 0}, {COUNT, 0, 0, 3}, {POP, 10, 0, P},
	       {POP, 11, 0, P}, {POP, 12, 0, P}, {POP, 0, 0, E}, {POPF, 0, 0, E}, {COUNT, 0, 0, 0}),
	 {.received = 3}},
	{"reorder within window",
	 64,
	 STEPS({PUT, 10, 0, 0}, {PUT, 12, 0, 0}, {PUT, 11, 0, 0}, {PUT, 14, 0, 0}, {PUT, 13, 0, 0},
	       {POP, 10, 0, P}, {POP, 11, 0, P}, {POP, 12, 0, P}, {POP, 13, 0, P}, {POP, 14, 0, P},
	       {POP, 0, 0, E}),
	 {.received = 5, .reordered = 2}},
	{"loss then later packet",
	 64,
	 STEPS({PUT, 10, 0, 0}, {POP, 10, 0, P}, {POP, 0, 0, E}, {PUT, 13, 0, 0}, {POP, 11, 0, L},
	       {POP, 12, 0, L}, {POP, 13, 0, P}, {POP, 0, 0, E}),
	 {.received = 2, .lost = 2}},
	{"duplicates",
	 64,
	 STEPS({PUT, 10, 0, 0}, {PUT, 10, 0, DM_EREPLAY}, {PUT, 11, 0, 0}, {PUT, 11, 0, DM_EREPLAY},
	       {COUNT, 0, 0, 2}, {POP, 10, 0, P},
	       /* once played, a copy is late rather than a duplicate */
	       {PUT, 10, 0, DM_EAGAIN}, {POP, 11, 0, P}),
	 {.received = 2, .duplicates = 2, .late = 1}},
	{"late after concealment",
	 64,
	 STEPS({PUT, 1, 0, 0}, {PUT, 3, 0, 0}, {POP, 1, 0, P}, {POP, 2, 0, L},
	       {PUT, 2, 0, DM_EAGAIN}, {POP, 3, 0, P}, {PUT, 2, 0, DM_EAGAIN}, {COUNT, 0, 0, 0}),
	 {.received = 2, .lost = 1, .late = 2}},
	{"sequence wrap",
	 64,
	 STEPS({PUT, 65533, 0, 0}, {PUT, 0, 0, 0}, {PUT, 65535, 0, 0}, {PUT, 65534, 0, 0},
	       {PUT, 1, 0, 0}, {POP, 65533, 0, P}, {POP, 65534, 0, P}, {POP, 65535, 0, P},
	       {POP, 0, 0, P}, {PUT, 3, 0, 0}, {POP, 1, 0, P}, {POP, 2, 0, L}, {POP, 3, 0, P},
	       {PUT, 65535, 0, DM_EAGAIN}),
	 {.received = 6, .reordered = 2, .lost = 1, .late = 1}},
	/* 6 does not divide 65536: the window across the wrap must still map
	 * to distinct slots */
	{"wrap with odd capacity",
	 6,
	 STEPS({PUT, 65532, 0, 0}, {PUT, 65533, 0, 0}, {PUT, 65534, 0, 0}, {PUT, 65535, 0, 0},
	       {PUT, 0, 0, 0}, {PUT, 1, 0, 0}, {COUNT, 0, 0, 6}, {POP, 65532, 0, P},
	       {POP, 65533, 0, P}, {POP, 65534, 0, P}, {POP, 65535, 0, P}, {POP, 0, 0, P},
	       {POP, 1, 0, P}),
	 {.received = 6}},
	{"restart ahead",
	 64,
	 STEPS({PUT, 100, 0, 0}, {PUT, 101, 0, 0}, {PUT, 102, 0, 0}, {POP, 100, 0, P},
	       /* 63 ahead of expected 101 still fits */
	       {PUT, 164, 0, 0}, {COUNT, 0, 0, 3},
	       /* 64 ahead does not: a new stream */
	       {PUT, 165, 0, 0}, {COUNT, 0, 0, 1}, {POP, 165, 0, P}, {PUT, 40000, 0, 0},
	       {COUNT, 0, 0, 1}, {POP, 40000, 0, P}, {PUT, 40001, 0, 0}, {POP, 40001, 0, P},
	       {POP, 0, 0, E}),
	 {.received = 7, .resets = 2}},
	{"restart behind",
	 64,
	 STEPS({PUT, 1000, 0, 0}, {POP, 1000, 0, P},
	       /* exactly capacity behind expected 1001: late */
	       {PUT, 937, 0, DM_EAGAIN},
	       /* more than capacity behind: a restart */
	       {PUT, 936, 0, 0}, {POP, 936, 0, P}, {PUT, 937, 0, 0}, {POP, 937, 0, P}),
	 {.received = 3, .late = 1, .resets = 1}},
	{"reorder wait honoured",
	 64,
	 STEPS({WAIT, 0, 10000, 0}, {PUT, 1, 0, 0}, {POP, 1, 0, P}, {PUT, 3, 1000, 0},
	       {POP, 0, 5000, E}, {POP, 0, 10999, E}, {POP, 2, 11000, L}, {POP, 3, 11000, P},
	       /* a gap filled in time is not lost */
	       {PUT, 5, 20000, 0}, {POP, 0, 25000, E}, {PUT, 4, 26000, 0}, {POP, 4, 26000, P},
	       {POP, 5, 26000, P},
	       /* force gives up at once */
	       {PUT, 7, 40000, 0}, {POPF, 6, 40001, L}, {POP, 7, 40001, P},
	       /* the wait runs from the oldest held arrival, not the newest */
	       {PUT, 10, 50000, 0}, {PUT, 9, 58000, 0}, {POP, 8, 59999, E}, {POP, 8, 60000, L},
	       {POP, 9, 60000, P}, {POP, 10, 60000, P}),
	 {.received = 7, .lost = 3, .reordered = 2}},
	{"peek after next",
	 64,
	 STEPS({PUT, 10, 0, 0}, {PEEK, 0, 0, 0}, {PUT, 12, 0, 0}, {PEEK, 0, 0, 0}, {POP, 10, 0, P},
	       /* 11 missing, 12 held: FEC can rebuild 11 from it */
	       {PEEK, 12, 0, 1}, {COUNT, 0, 0, 1}, {POP, 11, 0, L}, {PEEK, 0, 0, 0},
	       {POP, 12, 0, P}, {PEEK, 0, 0, 0}),
	 {.received = 2, .lost = 1}},
	{"capacity overflow",
	 4,
	 STEPS({PUT, 0, 0, 0}, {PUT, 1, 0, 0}, {PUT, 2, 0, 0}, {PUT, 3, 0, 0}, {COUNT, 0, 0, 4},
	       /* the window is full: a fifth one cannot be this stream's jitter */
	       {PUT, 4, 0, 0}, {COUNT, 0, 0, 1}, {POP, 4, 0, P}, {POP, 0, 0, E}),
	 {.received = 5, .resets = 1}},
};

static void jitter_scripts(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct dm_jitter *j = NULL;
		struct dm_jitter_stats st;

		print_message("case: %s\n", cases[c].name);
		assert_int_equal(dm_jitter_new(cases[c].capacity, MAXP, &j), 0);
		run_script(j, cases[c].steps, cases[c].n);
		dm_jitter_get_stats(j, &st);
		assert_int_equal(st.received, cases[c].want.received);
		assert_int_equal(st.lost, cases[c].want.lost);
		assert_int_equal(st.late, cases[c].want.late);
		assert_int_equal(st.reordered, cases[c].want.reordered);
		assert_int_equal(st.duplicates, cases[c].want.duplicates);
		assert_int_equal(st.resets, cases[c].want.resets);
		dm_jitter_free(j);
	}
}

/* reset forgets the packets and the expected seq, keeps the statistics */
static void jitter_reset_keeps_stats(void **state)
{
	struct dm_jitter *j = NULL;
	struct dm_jitter_stats st;

	(void)state;
	assert_int_equal(dm_jitter_new(8, MAXP, &j), 0);
	run_script(j, STEPS({PUT, 5, 0, 0}, {PUT, 6, 0, 0}, {POP, 5, 0, P}));
	dm_jitter_reset(j);
	assert_int_equal(dm_jitter_count(j), 0);
	/* any seq may start the new stream, even one "behind" */
	run_script(j, STEPS({POP, 0, 0, E}, {PUT, 2, 0, 0}, {POP, 2, 0, P}));
	dm_jitter_get_stats(j, &st);
	assert_int_equal(st.received, 3);
	assert_int_equal(st.late, 0);
	assert_int_equal(st.resets, 0); /* only automatic restarts count */
	dm_jitter_free(j);
}

static void jitter_buffer_sizes(void **state)
{
	struct dm_jitter *j = NULL;
	uint8_t big[MAXP + 1] = {0}, small[2];
	size_t len = 0;
	uint16_t seq = 0;

	(void)state;
	assert_int_equal(dm_jitter_new(8, MAXP, &j), 0);
	assert_int_equal(dm_jitter_put(j, 1, 0, big, MAXP + 1, 0), DM_ENOSPC);
	assert_int_equal(dm_jitter_put(j, 1, 0, big, MAXP, 0), 0);
	assert_int_equal(dm_jitter_put(j, 2, 0, big, 5, 0), 0);
	/* too small a buffer: DM_ENOSPC and the packet stays for a retry */
	assert_int_equal(dm_jitter_pop(j, 0, 0, small, sizeof(small), &len, &seq), DM_ENOSPC);
	assert_int_equal(dm_jitter_count(j), 2);
	assert_int_equal(dm_jitter_pop(j, 0, 0, big, sizeof(big), &len, &seq), P);
	assert_int_equal(len, MAXP);
	assert_int_equal(seq, 1);
	assert_int_equal(dm_jitter_pop(j, 0, 0, big, sizeof(big), &len, &seq), P);
	/* empty payloads are fine (an Opus DTX frame) */
	assert_int_equal(dm_jitter_put(j, 3, 0, NULL, 0, 0), 0);
	assert_int_equal(dm_jitter_put(j, 5, 0, big, MAXP, 0), 0);
	assert_int_equal(dm_jitter_peek_after_next(j, small, sizeof(small), &len), 0);
	assert_int_equal(dm_jitter_pop(j, 0, 0, big, sizeof(big), &len, NULL), P);
	assert_int_equal(len, 0);
	assert_int_equal(dm_jitter_peek_after_next(j, small, sizeof(small), &len), DM_ENOSPC);
	assert_int_equal(dm_jitter_pop(j, 0, 0, NULL, 0, &len, &seq), L);
	assert_int_equal(seq, 4);
	dm_jitter_free(j);
}

/* The sender's clock runs 1 % fast or slow against the receiver's pops: as
 * long as the consumer drains what is there, nothing is ever lost or late,
 * because the buffer has no clock of its own (drift is the playout's job). */
static void jitter_drift(void **state)
{
	static const double factors[] = {1.01, 0.99, 1.0};

	(void)state;
	for (size_t f = 0; f < sizeof(factors) / sizeof(factors[0]); f++) {
		struct dm_jitter *j = NULL;
		struct dm_jitter_stats st;
		const uint32_t total = 20000; /* 100 s of 5 ms packets, wraps once */
		uint32_t sent = 0, played = 0;
		uint16_t first = 60000;

		assert_int_equal(dm_jitter_new(64, MAXP, &j), 0);
		for (uint64_t now = 0; played < total && now < 200000000ull; now += 5000) {
			uint8_t buf[MAXP];
			size_t len;
			uint16_t seq;
			int rc;

			/* packets sent on the sender's clock, 2..3 ms network delay */
			while (sent < total) {
				uint64_t arrive = (uint64_t)(sent * 5000.0 / factors[f]) + 2000 +
						  (sent * 2654435761u) % 1000;

				if (arrive > now)
					break;
				len = payload_of((uint16_t)(first + sent), buf);
				assert_int_equal(dm_jitter_put(j, (uint16_t)(first + sent), 0, buf,
							       len, arrive),
						 0);
				sent++;
			}
			while ((rc = dm_jitter_pop(j, now, 0, buf, sizeof(buf), &len, &seq)) == P) {
				assert_int_equal(seq, (uint16_t)(first + played));
				played++;
			}
			assert_int_equal(rc, E);
		}
		assert_int_equal(played, total);
		dm_jitter_get_stats(j, &st);
		assert_int_equal(st.received, total);
		assert_int_equal(st.lost, 0);
		assert_int_equal(st.late, 0);
		assert_int_equal(st.resets, 0);
		dm_jitter_free(j);
	}
}

static void jitter_bad_args(void **state)
{
	struct dm_jitter *j = (struct dm_jitter *)0x1;
	struct dm_jitter_stats st;
	uint8_t buf[8] = {0};
	size_t len;
	uint16_t seq;

	(void)state;
	assert_int_equal(dm_jitter_new(1, 100, &j), DM_EINVAL);
	assert_null(j);
	assert_int_equal(dm_jitter_new(0, 100, &j), DM_EINVAL);
	assert_int_equal(dm_jitter_new(32769, 100, &j), DM_EINVAL);
	assert_int_equal(dm_jitter_new(64, 0, &j), DM_EINVAL);
	assert_int_equal(dm_jitter_new(64, SIZE_MAX, &j), DM_EINVAL);
	assert_int_equal(dm_jitter_new(64, 100, NULL), DM_EINVAL);

	assert_int_equal(dm_jitter_put(NULL, 1, 0, buf, 1, 0), DM_EINVAL);
	assert_int_equal(dm_jitter_pop(NULL, 0, 0, buf, 8, &len, &seq), DM_EINVAL);
	assert_int_equal(dm_jitter_peek_after_next(NULL, buf, 8, &len), DM_EINVAL);
	assert_int_equal(dm_jitter_count(NULL), 0);
	dm_jitter_reset(NULL);
	dm_jitter_set_reorder_wait(NULL, 5);
	memset(&st, 0xff, sizeof(st));
	dm_jitter_get_stats(NULL, &st);
	assert_int_equal(st.received, 0);
	dm_jitter_free(NULL);

	assert_int_equal(dm_jitter_new(2, 8, &j), 0);
	dm_jitter_get_stats(j, NULL);
	assert_int_equal(dm_jitter_put(j, 1, 0, NULL, 1, 0), DM_EINVAL);
	assert_int_equal(dm_jitter_put(j, 1, 0, buf, 1, 0), 0);
	assert_int_equal(dm_jitter_pop(j, 0, 0, buf, 8, NULL, &seq), DM_EINVAL);
	assert_int_equal(dm_jitter_pop(j, 0, 0, NULL, 8, &len, &seq), DM_EINVAL);
	assert_int_equal(dm_jitter_peek_after_next(j, buf, 8, NULL), DM_EINVAL);
	assert_int_equal(dm_jitter_peek_after_next(j, NULL, 8, &len), DM_EINVAL);
	/* nothing was consumed by the refused calls */
	assert_int_equal(dm_jitter_count(j), 1);
	dm_jitter_get_stats(j, &st);
	assert_int_equal(st.received, 1);
	dm_jitter_free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(jitter_scripts),      cmocka_unit_test(jitter_reset_keeps_stats),
		cmocka_unit_test(jitter_buffer_sizes), cmocka_unit_test(jitter_drift),
		cmocka_unit_test(jitter_bad_args),
	};

	return cmocka_run_group_tests_name("jitter", tests, NULL, NULL);
}
