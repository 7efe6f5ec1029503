/* dragoman: the listener's packet jitter buffer.
 *
 * Every packet held has a sequence number in [expected, expected + capacity).
 * Slots are indexed by an extended (64-bit, never wrapping) count of expected
 * sequence numbers modulo capacity, so that window maps to distinct slots for
 * any capacity, also across the 16-bit wrap, and a lookup is one index. The only
 * walk over the slots is the search for the oldest arrival, needed only when
 * a reorder wait is set and the next packet is missing; it stops after `count`
 * held packets. Sequence arithmetic is modulo 2^16 via dm_seq_diff, so the
 * wrap from 65535 to 0 is an ordinary step. */
#include "dragoman/jitter.h"
#include "dragoman/error.h"
#include "dragoman/rtp.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct jslot {
	uint64_t arrival_us;
	size_t len;
	uint32_t ts;
	uint16_t seq;
	bool present;
};

struct dm_jitter {
	size_t capacity;
	size_t max_payload;
	struct jslot *slots;
	uint8_t *payloads; /* capacity * max_payload bytes, slot i at i * max_payload */
	size_t count;
	uint64_t reorder_wait_us;
	bool started;	   /* a first packet has set `expected` */
	uint16_t expected; /* next sequence number to pop */
	uint64_t ext;	   /* extended counter of `expected`: its slot is ext % capacity */
	uint16_t highest;  /* highest sequence number received since the start */
	struct dm_jitter_stats st;
};

int dm_jitter_new(size_t capacity, size_t max_payload, struct dm_jitter **out)
{
	struct dm_jitter *j;

	if (out == NULL)
		return DM_EINVAL;
	*out = NULL;
	/* More than 32768 slots would make "ahead" and "behind" ambiguous in
	 * 16-bit sequence space. */
	if (capacity < 2 || capacity > 32768 || max_payload == 0 ||
	    max_payload > SIZE_MAX / capacity)
		return DM_EINVAL;
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return DM_ENOMEM;
	j->slots = calloc(capacity, sizeof(*j->slots));
	j->payloads = calloc(capacity, max_payload);
	if (j->slots == NULL || j->payloads == NULL) {
		dm_jitter_free(j);
		return DM_ENOMEM;
	}
	j->capacity = capacity;
	j->max_payload = max_payload;
	*out = j;
	return 0;
}

void dm_jitter_free(struct dm_jitter *j)
{
	if (j == NULL)
		return;
	free(j->slots);
	free(j->payloads);
	free(j);
}

void dm_jitter_reset(struct dm_jitter *j)
{
	if (j == NULL)
		return;
	for (size_t i = 0; i < j->capacity; i++)
		j->slots[i].present = false;
	j->count = 0;
	j->started = false;
}

void dm_jitter_set_reorder_wait(struct dm_jitter *j, uint64_t us)
{
	if (j != NULL)
		j->reorder_wait_us = us;
}

/* The slot of the sequence number `ahead` steps after the expected one. */
static struct jslot *slot_of(const struct dm_jitter *j, size_t ahead, uint8_t **payload)
{
	size_t i = (size_t)((j->ext + ahead) % j->capacity);

	if (payload != NULL)
		*payload = j->payloads + i * j->max_payload;
	return &j->slots[i];
}

int dm_jitter_put(struct dm_jitter *j, uint16_t seq, uint32_t ts, const uint8_t *payload,
		  size_t len, uint64_t now_us)
{
	struct jslot *s;
	uint8_t *dst;
	int d = 0;

	if (j == NULL || (payload == NULL && len > 0))
		return DM_EINVAL;
	if (len > j->max_payload)
		return DM_ENOSPC;

	if (j->started) {
		d = dm_seq_diff(j->expected, seq);
		if (d >= (int)j->capacity || d < -(int)j->capacity) {
			/* Too far to be this stream's jitter: the sender restarted
			 * (or we were away for long). Start over from here. */
			dm_jitter_reset(j);
			j->st.resets++;
		} else if (d < 0) {
			/* Its turn has passed (played or concealed). */
			j->st.late++;
			return DM_EAGAIN;
		}
	}
	if (!j->started) {
		j->started = true;
		j->expected = seq;
		j->highest = seq;
		d = 0;
	}

	s = slot_of(j, (size_t)d, &dst);
	if (s->present) {
		/* The slot is only ever held by this very seq (see the top). */
		j->st.duplicates++;
		return DM_EREPLAY;
	}
	if (dm_seq_diff(j->highest, seq) < 0)
		j->st.reordered++;
	else
		j->highest = seq;

	if (len > 0)
		memcpy(dst, payload, len);
	s->len = len;
	s->ts = ts;
	s->seq = seq;
	s->arrival_us = now_us;
	s->present = true;
	j->count++;
	j->st.received++;
	return 0;
}

/* Earliest arrival among the held packets (all later than `expected`). */
static uint64_t oldest_arrival(const struct dm_jitter *j)
{
	uint64_t oldest = UINT64_MAX;
	size_t seen = 0;

	for (size_t k = 1; k < j->capacity && seen < j->count; k++) {
		const struct jslot *s = slot_of(j, k, NULL);

		if (!s->present)
			continue;
		seen++;
		if (s->arrival_us < oldest)
			oldest = s->arrival_us;
	}
	return oldest;
}

int dm_jitter_pop(struct dm_jitter *j, uint64_t now_us, int force, uint8_t *buf, size_t cap,
		  size_t *len, uint16_t *seq)
{
	struct jslot *s;
	uint8_t *src;

	if (j == NULL || len == NULL || (buf == NULL && cap > 0))
		return DM_EINVAL;
	*len = 0;
	if (!j->started || j->count == 0)
		return DM_JITTER_EMPTY;

	s = slot_of(j, 0, &src);
	if (s->present) {
		if (s->len > cap)
			return DM_ENOSPC; /* kept: the caller may retry with room */
		if (s->len > 0)
			memcpy(buf, src, s->len);
		*len = s->len;
		if (seq != NULL)
			*seq = j->expected;
		s->present = false;
		j->count--;
		j->expected++;
		j->ext++;
		return DM_JITTER_PACKET;
	}

	/* count > 0 and the next one is missing: a later packet is held. */
	if (!force && j->reorder_wait_us > 0) {
		uint64_t since = oldest_arrival(j);

		if (now_us < since || now_us - since < j->reorder_wait_us)
			return DM_JITTER_EMPTY;
	}
	if (seq != NULL)
		*seq = j->expected;
	j->expected++;
	j->ext++;
	j->st.lost++;
	return DM_JITTER_LOST;
}

size_t dm_jitter_count(const struct dm_jitter *j)
{
	return j == NULL ? 0 : j->count;
}

/* Copies the packet `ahead` places after the expected one, if held. */
static int peek_at(const struct dm_jitter *j, unsigned ahead, uint8_t *buf, size_t cap, size_t *len)
{
	const struct jslot *s;
	uint8_t *src;
	uint16_t want;

	if (j == NULL || len == NULL || (buf == NULL && cap > 0))
		return DM_EINVAL;
	*len = 0;
	if (!j->started || j->count == 0)
		return 0;
	want = (uint16_t)(j->expected + ahead);
	s = slot_of(j, ahead, &src);
	if (!s->present || s->seq != want)
		return 0;
	if (s->len > cap)
		return DM_ENOSPC;
	if (s->len > 0)
		memcpy(buf, src, s->len);
	*len = s->len;
	return 1;
}

int dm_jitter_peek_next(const struct dm_jitter *j, uint8_t *buf, size_t cap, size_t *len)
{
	return peek_at(j, 0, buf, cap, len);
}

int dm_jitter_peek_after_next(const struct dm_jitter *j, uint8_t *buf, size_t cap, size_t *len)
{
	return peek_at(j, 1, buf, cap, len);
}

void dm_jitter_get_stats(const struct dm_jitter *j, struct dm_jitter_stats *st)
{
	if (st == NULL)
		return;
	if (j == NULL) {
		memset(st, 0, sizeof(*st));
		return;
	}
	*st = j->st;
}
