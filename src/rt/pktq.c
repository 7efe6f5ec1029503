/* dragoman: lock-free single-producer / single-consumer queue of packets.
 *
 * As the float ring (ring.c): head and tail are free-running byte counters
 * over a power-of-two array, each stored by one side only (release) and read
 * by the other (acquire), on cache lines of their own. A packet is a 16-byte
 * header (its length, its stamp) and its bytes, padded to 16, never split
 * across the array's end: when it would not fit before the end, a header
 * with length WRAP fills the rest (always at least 16 bytes, everything
 * being a multiple of 16) and the packet starts at the array's beginning.
 * Split packets would have saved a little room and cost the consumer a copy
 * to hand them out in place. */
#include "dragoman/pktq.h"
#include "dragoman/error.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_LINE 64
#define ALIGN 16
#define HDR DM_PKTQ_PACKET_OVERHEAD
#define WRAP UINT32_MAX
#define PKTQ_MAX_BYTES ((size_t)1 << 30)

struct hdr {
	uint32_t len; /* WRAP: skip to the array's beginning */
	uint32_t pad;
	int64_t stamp;
};

/* Each side finds all it needs on its own line: the shared counters it
 * publishes, what it last saw of the other's (it reads the other's line only
 * when that says full, or empty), and its own copies of the array's
 * constants. A push every 5 ms otherwise met the consumer's line (written at
 * each drain) cold every time: 0.5 % of the engine's CPU in misses. */
struct dm_pktq {
	/* producer's line */
	alignas(CACHE_LINE) _Atomic size_t head;
	size_t tail_seen;
	uint8_t *pbuf;
	size_t pmask, max_len;
	/* consumer's line */
	alignas(CACHE_LINE) _Atomic size_t tail;
	size_t head_seen;
	uint8_t *buf;
	size_t mask;
};

static size_t padded(size_t len)
{
	return (HDR + len + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

int dm_pktq_new(size_t bytes, size_t max_len, struct dm_pktq **out)
{
	size_t cap = ALIGN;

	if (!out)
		return DM_EINVAL;
	*out = NULL;
	if (max_len == 0 || max_len > PKTQ_MAX_BYTES || bytes > PKTQ_MAX_BYTES ||
	    bytes < 2 * padded(max_len))
		return DM_EINVAL;
	while (cap < bytes)
		cap <<= 1;

	struct dm_pktq *q = aligned_alloc(CACHE_LINE, sizeof(*q));

	if (!q)
		return DM_ENOMEM;
	memset(q, 0, sizeof(*q));
	q->buf = aligned_alloc(CACHE_LINE, cap < CACHE_LINE ? CACHE_LINE : cap);
	if (!q->buf) {
		free(q);
		return DM_ENOMEM;
	}
	/* Every page written now: the producer never faults on first touch. */
	memset(q->buf, 0, cap);
	q->pbuf = q->buf;
	q->mask = q->pmask = cap - 1;
	q->max_len = max_len;
	atomic_init(&q->head, 0);
	atomic_init(&q->tail, 0);
	*out = q;
	return 0;
}

void dm_pktq_free(struct dm_pktq *q)
{
	if (!q)
		return;
	free(q->buf);
	free(q);
}

int dm_pktq_push(struct dm_pktq *q, int64_t stamp, const void *data, size_t len)
{
	if (!q || !data || len == 0 || len > q->max_len)
		return DM_EINVAL;

	size_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	size_t cap = q->pmask + 1, at = head & q->pmask, need = padded(len);
	size_t skip = cap - at < need ? cap - at : 0; /* the end's rest, wasted */

	if (cap - (head - q->tail_seen) < skip + need) {
		q->tail_seen = atomic_load_explicit(&q->tail, memory_order_acquire);
		if (cap - (head - q->tail_seen) < skip + need)
			return DM_EAGAIN;
	}
	if (skip) {
		struct hdr w = {.len = WRAP};

		memcpy(q->pbuf + at, &w, sizeof(w));
		at = 0;
	}

	struct hdr h = {.len = (uint32_t)len, .stamp = stamp};

	memcpy(q->pbuf + at, &h, sizeof(h));
	memcpy(q->pbuf + at + HDR, data, len);
	atomic_store_explicit(&q->head, head + skip + need, memory_order_release);
	return 0;
}

/* The oldest packet's header position, past any wrap marker; false when empty.
 * The consumer's own: it may move tail past the marker. */
static bool oldest(struct dm_pktq *q, size_t *tail_out)
{
	size_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	struct hdr h;

	if (tail == q->head_seen) {
		q->head_seen = atomic_load_explicit(&q->head, memory_order_acquire);
		if (tail == q->head_seen)
			return false;
	}
	memcpy(&h, q->buf + (tail & q->mask), sizeof(h));
	if (h.len == WRAP) {
		/* The producer wrote the marker and the packet after it before
		 * publishing head past both: the packet is there. */
		tail += (q->mask + 1) - (tail & q->mask);
		atomic_store_explicit(&q->tail, tail, memory_order_release);
	}
	*tail_out = tail;
	return true;
}

const uint8_t *dm_pktq_peek(struct dm_pktq *q, int64_t *stamp, size_t *len)
{
	size_t tail;
	struct hdr h;

	if (!q || !stamp || !len || !oldest(q, &tail))
		return NULL;
	memcpy(&h, q->buf + (tail & q->mask), sizeof(h));
	*stamp = h.stamp;
	*len = h.len;
	return q->buf + (tail & q->mask) + HDR;
}

int dm_pktq_pop(struct dm_pktq *q)
{
	size_t tail;
	struct hdr h;

	if (!q)
		return DM_EINVAL;
	if (!oldest(q, &tail))
		return DM_EAGAIN;
	memcpy(&h, q->buf + (tail & q->mask), sizeof(h));
	atomic_store_explicit(&q->tail, tail + padded(h.len), memory_order_release);
	return 0;
}

size_t dm_pktq_used(const struct dm_pktq *q)
{
	if (!q)
		return 0;

	size_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
	size_t head = atomic_load_explicit(&q->head, memory_order_acquire);

	return head - tail;
}
