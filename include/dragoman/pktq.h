/* dragoman: lock-free single-producer / single-consumer queue of packets
 * (byte strings of varying length, each with a 64-bit stamp), between an
 * encoder worker and the thread that records what it sent.
 *
 * One thread pushes (dm_pktq_push), one thread takes (dm_pktq_peek, then
 * dm_pktq_pop); no locks, no syscalls, no allocation after dm_pktq_new.
 * Packets are stored one after another in one array, so that a producer
 * pushing a packet every few milliseconds writes to memory it touched a
 * moment ago (a cache line holds the next packet's start), and the consumer
 * reads them in one sweep. */
#ifndef DRAGOMAN_PKTQ_H
#define DRAGOMAN_PKTQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dm_pktq;

/* Bytes a packet takes in the queue beyond its own (its header): a packet of
 * len bytes takes len + DM_PKTQ_PACKET_OVERHEAD, rounded up to 16. */
#define DM_PKTQ_PACKET_OVERHEAD 16

/* Allocates a queue of at least bytes bytes of storage (rounded up to a power
 * of two; each packet takes its length plus DM_PKTQ_PACKET_OVERHEAD, rounded
 * up to 16) for packets
 * of at most max_len bytes, and touches its memory, so that the producer
 * never takes a first-touch page fault. Returns 0 and *out, DM_EINVAL (out
 * NULL, max_len 0, bytes over 2^30, or bytes too small for two packets of
 * max_len; *out is then NULL) or DM_ENOMEM. Not RT-safe. */
int dm_pktq_new(size_t bytes, size_t max_len, struct dm_pktq **out);

/* Frees a queue; NULL is fine. No thread may be using it. */
void dm_pktq_free(struct dm_pktq *q);

/* Producer: copies len bytes of data (len 1..max_len) in, with stamp.
 * Returns 0, DM_EAGAIN (no room: nothing is stored; the caller counts the
 * loss) or DM_EINVAL (q or data NULL, len 0 or over max_len). Wait-free. */
int dm_pktq_push(struct dm_pktq *q, int64_t stamp, const void *data, size_t len);

/* Consumer: the oldest packet, in place: returns its bytes and sets *stamp
 * and *len, or returns NULL when the queue is empty (or q, stamp or len is
 * NULL). The bytes stay valid and unchanged until dm_pktq_pop. Wait-free. */
const uint8_t *dm_pktq_peek(struct dm_pktq *q, int64_t *stamp, size_t *len);

/* Consumer: releases the oldest packet (the one dm_pktq_peek returns), making
 * its room the producer's. Returns 0, or DM_EAGAIN when the queue is empty,
 * DM_EINVAL when q is NULL. Wait-free. */
int dm_pktq_pop(struct dm_pktq *q);

/* Bytes of storage in use (the packets and their headers): exact on the
 * consumer's side, a momentary estimate from any other thread. */
size_t dm_pktq_used(const struct dm_pktq *q);

#ifdef __cplusplus
}
#endif
#endif
