/* dragoman: lock-free single-producer / single-consumer ring of float
 * samples, between the JACK process callback and a worker thread.
 *
 * One thread writes (dm_ring_write, dm_ring_writable), one thread reads
 * (dm_ring_read, _peek, _read_span, _skip, _readable); no locks, no syscalls. A NULL ring
 * or buffer, or n == 0, makes the calls below return 0. */
#ifndef DRAGOMAN_RING_H
#define DRAGOMAN_RING_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dm_ring;

/* Allocates a ring holding at least capacity samples (rounded up to a power of
 * two) and touches its memory, so the RT side never page-faults (and mlocks it
 * when RLIMIT_MEMLOCK allows; a refusal is not an error). Returns 0 and *out,
 * DM_EINVAL (capacity 0, more than 2^28 samples, or out NULL) or DM_ENOMEM.
 * Not RT-safe. */
int dm_ring_new(size_t capacity, struct dm_ring **out);

/* Frees a ring; NULL is fine. No thread may be using it. */
void dm_ring_free(struct dm_ring *r);

/* Producer: copies up to n samples in; returns how many fit (the rest is the
 * caller's overflow to count). Wait-free, RT-safe, no syscalls. */
size_t dm_ring_write(struct dm_ring *r, const float *src, size_t n);

/* Consumer: copies up to n samples out; returns how many. Wait-free, RT-safe. */
size_t dm_ring_read(struct dm_ring *r, float *dst, size_t n);

/* Consumer: copies up to n samples out without consuming them. */
size_t dm_ring_peek(struct dm_ring *r, float *dst, size_t n);

/* Consumer: drops up to n samples; returns how many. */
size_t dm_ring_skip(struct dm_ring *r, size_t n);

/* Consumer: the readable samples in place, without a copy: returns the
 * first of them and sets *n to how many follow contiguously (up to the end
 * of the array; after dm_ring_skip(r, *n), another call gives the rest).
 * Returns NULL and *n = 0 when the ring is empty (or r NULL; n NULL returns
 * NULL). The samples stay valid, unchanged, until the consumer skips or
 * reads them (the producer cannot overwrite them before; skipping part of
 * the span frees only that leading part), and never after dm_ring_free.
 * Wait-free, RT-safe. */
const float *dm_ring_read_span(struct dm_ring *r, size_t *n);

/* Samples ready to read (consumer side) / space to write (producer side).
 * Exact on their own side; from any other thread, a momentary estimate within
 * 0..capacity. */
size_t dm_ring_readable(const struct dm_ring *r);
size_t dm_ring_writable(const struct dm_ring *r);

/* The capacity (a power of two). */
size_t dm_ring_capacity(const struct dm_ring *r);

#ifdef __cplusplus
}
#endif
#endif
