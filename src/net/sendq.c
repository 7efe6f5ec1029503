#include "dragoman/sendq.h"

#include "dragoman/defaults.h"
#include "dragoman/error.h"
#include "sock.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct dm_sendq {
	int fd;
	size_t cap, n;
	uint8_t *slab; /* cap * DM_MAX_PACKET bytes */
	struct sockaddr_in *dest;
	struct iovec *iov;
	struct mmsghdr *msg;
	_Atomic uint64_t errors;
};

int dm_sendq_new(const char *iface, int ttl, size_t capacity, struct dm_sendq **out)
{
	if (!iface || !out || capacity == 0 || capacity > 1024)
		return DM_EINVAL;
	struct dm_sendq *q = calloc(1, sizeof *q);
	if (!q)
		return DM_ENOMEM;
	q->fd = -1;
	q->cap = capacity;
	q->slab = calloc(capacity, DM_MAX_PACKET);
	q->dest = calloc(capacity, sizeof *q->dest);
	q->iov = calloc(capacity, sizeof *q->iov);
	q->msg = calloc(capacity, sizeof *q->msg);
	if (!q->slab || !q->dest || !q->iov || !q->msg) {
		dm_sendq_free(q);
		return DM_ENOMEM;
	}
	int fd = dm_sock_open_sender(iface, ttl);
	if (fd < 0) {
		dm_sendq_free(q);
		return fd;
	}
	q->fd = fd;
	for (size_t i = 0; i < capacity; i++) {
		q->iov[i].iov_base = q->slab + i * DM_MAX_PACKET;
		q->msg[i].msg_hdr.msg_iov = &q->iov[i];
		q->msg[i].msg_hdr.msg_iovlen = 1;
		q->msg[i].msg_hdr.msg_name = &q->dest[i];
		q->msg[i].msg_hdr.msg_namelen = sizeof q->dest[i];
	}
	*out = q;
	return 0;
}

void dm_sendq_free(struct dm_sendq *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	free(q->slab);
	free(q->dest);
	free(q->iov);
	free(q->msg);
	free(q);
}

int dm_sendq_add(struct dm_sendq *q, const uint8_t *buf, size_t len, const struct sockaddr_in *dest)
{
	if (!q || !buf || !dest)
		return DM_EINVAL;
	if (q->n == q->cap || len > DM_MAX_PACKET)
		return DM_ENOSPC;
	memcpy(q->iov[q->n].iov_base, buf, len);
	q->iov[q->n].iov_len = len;
	q->dest[q->n] = *dest;
	q->n++;
	return 0;
}

int dm_sendq_flush(struct dm_sendq *q)
{
	if (!q)
		return DM_EINVAL;
	size_t done = 0, sent = 0;
	while (done < q->n) {
		int r = sendmmsg(q->fd, q->msg + done, (unsigned)(q->n - done), 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* The first datagram was refused (no route, buffer full):
			 * count it and go on with the rest. */
			atomic_fetch_add_explicit(&q->errors, 1, memory_order_relaxed);
			done++;
			continue;
		}
		done += (size_t)r;
		sent += (size_t)r;
	}
	q->n = 0;
	return (int)sent;
}

size_t dm_sendq_pending(const struct dm_sendq *q)
{
	return q ? q->n : 0;
}

uint64_t dm_sendq_errors(const struct dm_sendq *q)
{
	return q ? atomic_load_explicit(&q->errors, memory_order_relaxed) : 0;
}
