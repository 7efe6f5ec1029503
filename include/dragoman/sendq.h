/* dragoman: a batch of outgoing datagrams sent with one sendmmsg() call.
 *
 * An encoder worker wakes once per frame and has one packet per channel to
 * send: batching them turns N system calls into one, which is most of the
 * send path's cost beyond Opus itself. One queue is used by one thread. */
#ifndef DRAGOMAN_SENDQ_H
#define DRAGOMAN_SENDQ_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dm_sendq;

/* Opens the queue's socket on the interface address iface (multicast out of
 * that interface with the TTL given, looped back to local listeners) and room
 * for capacity datagrams of up to DM_MAX_PACKET bytes.
 * Returns 0 and *out; DM_EINVAL; DM_ENET (logged, naming the address);
 * DM_ENOMEM. Thread: any. */
int dm_sendq_new(const char *iface, int ttl, size_t capacity, struct dm_sendq **out);

/* Closes the socket and frees; NULL is fine. Unsent datagrams are dropped. */
void dm_sendq_free(struct dm_sendq *q);

/* Copies one datagram into the queue. Returns 0; DM_ENOSPC when the queue is
 * full (flush, then add again) or len > DM_MAX_PACKET; DM_EINVAL. No
 * allocation, no system call. */
int dm_sendq_add(struct dm_sendq *q, const uint8_t *buf, size_t len,
		 const struct sockaddr_in *dest);

/* Sends everything queued (sendmmsg, repeated until all went or the kernel
 * refused one, which is counted and skipped). Returns the number sent, or
 * DM_EINVAL. The queue is empty afterwards. */
int dm_sendq_flush(struct dm_sendq *q);

/* Datagrams queued now. */
size_t dm_sendq_pending(const struct dm_sendq *q);

/* Datagrams the kernel refused so far. Any thread (relaxed). */
uint64_t dm_sendq_errors(const struct dm_sendq *q);

#ifdef __cplusplus
}
#endif
#endif
