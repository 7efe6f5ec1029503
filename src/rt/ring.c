/* dragoman: lock-free single-producer / single-consumer ring of floats.
 *
 * head and tail are free-running sample counters (they wrap at SIZE_MAX + 1,
 * which a power-of-two capacity divides), so "full" and "empty" need no spare
 * slot: readable = head - tail. Only the producer stores head and only the
 * consumer stores tail; each publishes with release and reads the other's
 * counter with acquire, so the samples copied before a store are visible to
 * whoever sees the new counter. The two counters live on their own cache lines
 * so the two threads do not bounce one line between cores at every call. */
#include "dragoman/ring.h"
#include "dragoman/error.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* 2^28 samples is 1 GiB of floats: anything larger is a caller's mistake. */
#define RING_MAX_CAPACITY ((size_t)1 << 28)
#define CACHE_LINE 64

struct dm_ring {
	/* producer's line */
	alignas(CACHE_LINE) _Atomic size_t head;
	/* consumer's line */
	alignas(CACHE_LINE) _Atomic size_t tail;
	/* read-only after _new: shared without contention */
	alignas(CACHE_LINE) float *buf;
	size_t mask;
	size_t bytes;
	bool locked;
};

int dm_ring_new(size_t capacity, struct dm_ring **out)
{
	struct dm_ring *r;
	size_t cap = 1;

	if (out == NULL)
		return DM_EINVAL;
	*out = NULL;
	if (capacity == 0 || capacity > RING_MAX_CAPACITY)
		return DM_EINVAL;
	while (cap < capacity)
		cap <<= 1;

	r = aligned_alloc(CACHE_LINE, sizeof(*r));
	if (r == NULL)
		return DM_ENOMEM;
	memset(r, 0, sizeof(*r));
	r->bytes = cap * sizeof(float);
	/* Page alignment keeps mlock from locking our neighbours' pages too. */
	if (posix_memalign((void **)&r->buf, 4096, r->bytes) != 0) {
		free(r);
		return DM_ENOMEM;
	}
	/* Writing every page now means the RT side never takes a first-touch
	 * fault; mlock keeps them resident if we are allowed to (RLIMIT_MEMLOCK),
	 * and without it the ring still works, only with a swap risk. */
	memset(r->buf, 0, r->bytes);
	r->locked = mlock(r->buf, r->bytes) == 0;
	r->mask = cap - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	*out = r;
	return 0;
}

void dm_ring_free(struct dm_ring *r)
{
	if (r == NULL)
		return;
	if (r->locked)
		munlock(r->buf, r->bytes);
	free(r->buf);
	free(r);
}

/* Copies n samples into the ring at counter position pos, in at most two pieces
 * (the second one when the run wraps past the end of the array). */
static void copy_in(struct dm_ring *r, size_t pos, const float *src, size_t n)
{
	size_t off = pos & r->mask;
	size_t first = r->mask + 1 - off;

	if (first > n)
		first = n;
	memcpy(r->buf + off, src, first * sizeof(float));
	if (n > first)
		memcpy(r->buf, src + first, (n - first) * sizeof(float));
}

static void copy_out(const struct dm_ring *r, size_t pos, float *dst, size_t n)
{
	size_t off = pos & r->mask;
	size_t first = r->mask + 1 - off;

	if (first > n)
		first = n;
	memcpy(dst, r->buf + off, first * sizeof(float));
	if (n > first)
		memcpy(dst + first, r->buf, (n - first) * sizeof(float));
}

size_t dm_ring_write(struct dm_ring *r, const float *src, size_t n)
{
	size_t head, tail, space;

	if (r == NULL || src == NULL || n == 0)
		return 0;
	head = atomic_load_explicit(&r->head, memory_order_relaxed);
	/* acquire: the consumer's reads of those slots are done before we
	 * overwrite them */
	tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	space = r->mask + 1 - (head - tail);
	if (n > space)
		n = space;
	if (n == 0)
		return 0;
	copy_in(r, head, src, n);
	atomic_store_explicit(&r->head, head + n, memory_order_release);
	return n;
}

/* How many samples the consumer may take, and where they start. */
static size_t consumer_avail(const struct dm_ring *r, size_t *tail)
{
	size_t head;

	*tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	/* acquire: the samples the producer copied before publishing head */
	head = atomic_load_explicit(&r->head, memory_order_acquire);
	/* From a third thread (statistics) the two loads are not one snapshot:
	 * clamp, so a caller never sees more than the ring holds. */
	if (head - *tail > r->mask + 1)
		return head - *tail > SIZE_MAX / 2 ? 0 : r->mask + 1;
	return head - *tail;
}

size_t dm_ring_peek(struct dm_ring *r, float *dst, size_t n)
{
	size_t tail, avail;

	if (r == NULL || dst == NULL || n == 0)
		return 0;
	avail = consumer_avail(r, &tail);
	if (n > avail)
		n = avail;
	if (n > 0)
		copy_out(r, tail, dst, n);
	return n;
}

size_t dm_ring_read(struct dm_ring *r, float *dst, size_t n)
{
	size_t tail, avail;

	if (r == NULL || dst == NULL || n == 0)
		return 0;
	avail = consumer_avail(r, &tail);
	if (n > avail)
		n = avail;
	if (n == 0)
		return 0;
	copy_out(r, tail, dst, n);
	/* release: our copy is finished before the producer may reuse the slots */
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	return n;
}

const float *dm_ring_read_span(struct dm_ring *r, size_t *n)
{
	size_t tail, avail, off, first;

	if (n == NULL)
		return NULL;
	*n = 0;
	if (r == NULL)
		return NULL;
	avail = consumer_avail(r, &tail);
	if (avail == 0)
		return NULL;
	off = tail & r->mask;
	first = r->mask + 1 - off;
	*n = avail < first ? avail : first;
	return r->buf + off;
}

size_t dm_ring_skip(struct dm_ring *r, size_t n)
{
	size_t tail, avail;

	if (r == NULL || n == 0)
		return 0;
	avail = consumer_avail(r, &tail);
	if (n > avail)
		n = avail;
	if (n > 0)
		atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	return n;
}

size_t dm_ring_readable(const struct dm_ring *r)
{
	size_t tail;

	if (r == NULL)
		return 0;
	return consumer_avail(r, &tail);
}

size_t dm_ring_writable(const struct dm_ring *r)
{
	size_t head, tail;

	if (r == NULL)
		return 0;
	head = atomic_load_explicit(&r->head, memory_order_relaxed);
	tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (head - tail > r->mask + 1) /* torn view from a third thread */
		return head - tail > SIZE_MAX / 2 ? r->mask + 1 : 0;
	return r->mask + 1 - (head - tail);
}

size_t dm_ring_capacity(const struct dm_ring *r)
{
	return r == NULL ? 0 : r->mask + 1;
}
