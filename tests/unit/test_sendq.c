/* Module tests of the sendmmsg batch (src/net/sendq.c) with real sockets on
 * loopback: unicast to plain sockets on 127.0.0.1 (ephemeral ports), and
 * multicast to 239.255.93.1 joined on 127.0.0.1. A datagram the kernel
 * refuses is made with destination port 0, which UDP rejects (EINVAL) for
 * every address, so nothing ever leaves the machine. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dragoman/defaults.h"
#include "dragoman/error.h"
#include "dragoman/log.h"
#include "dragoman/sendq.h"

#define MCAST_GROUP "239.255.93.1"
#define MCAST_PORT 6400

/* A plain receiving socket on 127.0.0.1 (port 0: any), its address in *addr. */
static int plain_unicast(struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	socklen_t len = sizeof *addr;
	assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
	return fd;
}

static int plain_multicast(struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	assert_true(fd >= 0);
	int one = 1, zero = 0;
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), 0);
	memset(addr, 0, sizeof *addr);
	addr->sin_family = AF_INET;
	addr->sin_port = htons(MCAST_PORT);
	assert_int_equal(inet_pton(AF_INET, MCAST_GROUP, &addr->sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof *addr), 0);
	struct ip_mreq mreq = {.imr_multiaddr = addr->sin_addr};
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &mreq.imr_interface), 1);
	assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq), 0);
	assert_int_equal(setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero), 0);
	return fd;
}

/* Datagram i: i + 1 bytes of value i, or a given length. */
static void fill(uint8_t *buf, size_t len, int i)
{
	memset(buf, i, len);
}

/* The next datagram on fd must be datagram i of len bytes (from 127.0.0.1). */
static void expect(int fd, int i, size_t len)
{
	uint8_t buf[DM_MAX_PACKET + 16], want[DM_MAX_PACKET];
	struct sockaddr_in from;
	socklen_t flen = sizeof from;
	ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
	if (n < 0)
		fail_msg("datagram %d: %s", i, strerror(errno));
	assert_int_equal(n, (ssize_t)len);
	fill(want, len, i);
	assert_memory_equal(buf, want, len);
	assert_int_equal(ntohl(from.sin_addr.s_addr), INADDR_LOOPBACK);
}

static void expect_nothing(int fd)
{
	uint8_t buf[16];
	assert_int_equal(recv(fd, buf, sizeof buf, 0), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

static void sendq_add_flush_in_order(void **state)
{
	(void)state;
	struct sockaddr_in a, b, m;
	int fa = plain_unicast(&a), fb = plain_unicast(&b), fm = plain_multicast(&m);
	struct dm_sendq *q = NULL;
	assert_int_equal(dm_sendq_new("127.0.0.1", 1, 8, &q), 0);
	assert_non_null(q);
	assert_int_equal(dm_sendq_pending(q), 0);
	const struct sockaddr_in *dest[7] = {&a, &b, &m, &a, &m, &b, &a};
	uint8_t buf[DM_MAX_PACKET];
	for (int i = 0; i < 7; i++) {
		size_t len = (size_t)(i + 1) * 100;
		fill(buf, len, i);
		assert_int_equal(dm_sendq_add(q, buf, len, dest[i]), 0);
		assert_int_equal(dm_sendq_pending(q), (size_t)i + 1);
	}
	/* Copied at add: changing the caller's buffer changes nothing. */
	memset(buf, 0xee, sizeof buf);
	/* Nothing goes before the flush. */
	expect_nothing(fa);
	expect_nothing(fb);
	expect_nothing(fm);
	assert_int_equal(dm_sendq_flush(q), 7);
	assert_int_equal(dm_sendq_pending(q), 0);
	assert_int_equal(dm_sendq_errors(q), 0);
	expect(fa, 0, 100);
	expect(fa, 3, 400);
	expect(fa, 6, 700);
	expect(fb, 1, 200);
	expect(fb, 5, 600);
	expect(fm, 2, 300);
	expect(fm, 4, 500);
	expect_nothing(fa);
	expect_nothing(fb);
	expect_nothing(fm);
	/* The queue is reusable, and the largest datagram fits. */
	fill(buf, DM_MAX_PACKET, 9);
	assert_int_equal(dm_sendq_add(q, buf, DM_MAX_PACKET, &a), 0);
	fill(buf, 0, 10);
	assert_int_equal(dm_sendq_add(q, buf, 0, &b), 0); /* empty datagram */
	assert_int_equal(dm_sendq_flush(q), 2);
	expect(fa, 9, DM_MAX_PACKET);
	expect(fb, 10, 0);
	dm_sendq_free(q);
	close(fa);
	close(fb);
	close(fm);
}

static void sendq_full_and_oversize(void **state)
{
	(void)state;
	struct sockaddr_in a;
	int fa = plain_unicast(&a);
	struct dm_sendq *q = NULL;
	assert_int_equal(dm_sendq_new("127.0.0.1", 0, 3, &q), 0);
	uint8_t buf[DM_MAX_PACKET + 1];
	for (int i = 0; i < 3; i++) {
		fill(buf, 10, i);
		assert_int_equal(dm_sendq_add(q, buf, 10, &a), 0);
	}
	fill(buf, 10, 3);
	assert_int_equal(dm_sendq_add(q, buf, 10, &a), DM_ENOSPC);
	assert_int_equal(dm_sendq_pending(q), 3);
	assert_int_equal(dm_sendq_flush(q), 3);
	for (int i = 0; i < 3; i++)
		expect(fa, i, 10);
	expect_nothing(fa);
	/* Flush, then add again: it goes. */
	assert_int_equal(dm_sendq_add(q, buf, 10, &a), 0);
	/* Too large for any slot, whatever the room left. */
	fill(buf, DM_MAX_PACKET + 1, 4);
	assert_int_equal(dm_sendq_add(q, buf, DM_MAX_PACKET + 1, &a), DM_ENOSPC);
	assert_int_equal(dm_sendq_pending(q), 1);
	assert_int_equal(dm_sendq_flush(q), 1);
	expect(fa, 3, 10);
	expect_nothing(fa);
	assert_int_equal(dm_sendq_errors(q), 0);
	dm_sendq_free(q);
	close(fa);
}

static void sendq_flush_empty(void **state)
{
	(void)state;
	struct dm_sendq *q = NULL;
	assert_int_equal(dm_sendq_new("127.0.0.1", 1, 1, &q), 0);
	assert_int_equal(dm_sendq_flush(q), 0);
	assert_int_equal(dm_sendq_flush(q), 0);
	assert_int_equal(dm_sendq_pending(q), 0);
	assert_int_equal(dm_sendq_errors(q), 0);
	dm_sendq_free(q);
}

/* Datagrams the kernel refuses are counted and skipped; the rest go, in
 * order. Port 0 is refused by UDP's sendmsg for any address (EINVAL). */
static void sendq_counts_refused(void **state)
{
	(void)state;
	struct sockaddr_in a, refused;
	int fa = plain_unicast(&a);
	refused = a;
	refused.sin_port = 0;
	struct dm_sendq *q = NULL;
	assert_int_equal(dm_sendq_new("127.0.0.1", 1, 8, &q), 0);
	uint8_t buf[64];
	/* refused first, in the middle (twice in a row) and last */
	const struct sockaddr_in *dest[7] = {&refused, &a, &refused, &refused, &a, &a, &refused};
	for (int i = 0; i < 7; i++) {
		fill(buf, 20, i);
		assert_int_equal(dm_sendq_add(q, buf, 20, dest[i]), 0);
	}
	assert_int_equal(dm_sendq_flush(q), 3);
	assert_int_equal(dm_sendq_pending(q), 0);
	assert_int_equal(dm_sendq_errors(q), 4);
	expect(fa, 1, 20);
	expect(fa, 4, 20);
	expect(fa, 5, 20);
	expect_nothing(fa);
	/* Only refusals. */
	assert_int_equal(dm_sendq_add(q, buf, 20, &refused), 0);
	assert_int_equal(dm_sendq_flush(q), 0);
	assert_int_equal(dm_sendq_errors(q), 5);
	dm_sendq_free(q);
	close(fa);
}

static void sendq_bad_args(void **state)
{
	(void)state;
	struct dm_sendq *q = NULL;
	assert_int_equal(dm_sendq_new(NULL, 1, 4, &q), DM_EINVAL);
	assert_int_equal(dm_sendq_new("127.0.0.1", 1, 4, NULL), DM_EINVAL);
	assert_int_equal(dm_sendq_new("127.0.0.1", 1, 0, &q), DM_EINVAL);
	assert_int_equal(dm_sendq_new("127.0.0.1", 1, 1025, &q), DM_EINVAL);
	assert_int_equal(dm_sendq_new("localhost", 1, 4, &q), DM_EINVAL);
	assert_int_equal(dm_sendq_new("127.0.0.1", -1, 4, &q), DM_EINVAL);
	assert_int_equal(dm_sendq_new("127.0.0.1", 256, 4, &q), DM_EINVAL);
	assert_null(q);
	/* An address of TEST-NET-1, which this host does not have. */
	assert_int_equal(dm_sendq_new("192.0.2.1", 1, 4, &q), DM_ENET);
	assert_null(q);

	assert_int_equal(dm_sendq_new("127.0.0.1", 1, 1024, &q), 0);
	struct sockaddr_in a;
	int fa = plain_unicast(&a);
	/* Room for 1024 small datagrams (about 1 KiB of kernel memory each). */
	int rcvbuf = 4 << 20;
	if (setsockopt(fa, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
		assert_int_equal(setsockopt(fa, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
	uint8_t buf[4] = {0};
	assert_int_equal(dm_sendq_add(NULL, buf, 4, &a), DM_EINVAL);
	assert_int_equal(dm_sendq_add(q, NULL, 4, &a), DM_EINVAL);
	assert_int_equal(dm_sendq_add(q, buf, 4, NULL), DM_EINVAL);
	assert_int_equal(dm_sendq_pending(q), 0);
	assert_int_equal(dm_sendq_flush(NULL), DM_EINVAL);
	assert_int_equal(dm_sendq_pending(NULL), 0);
	assert_int_equal(dm_sendq_errors(NULL), 0);
	dm_sendq_free(NULL);
	/* The largest queue takes its 1024 datagrams, in one flush. */
	for (int i = 0; i < 1024; i++)
		assert_int_equal(dm_sendq_add(q, buf, 4, &a), 0);
	assert_int_equal(dm_sendq_add(q, buf, 4, &a), DM_ENOSPC);
	assert_int_equal(dm_sendq_flush(q), 1024);
	int n = 0;
	while (recv(fa, buf, sizeof buf, 0) == 4)
		n++;
	assert_int_equal(n, 1024);
	dm_sendq_free(q);
	close(fa);
}

static int setup(void **state)
{
	(void)state;
	static const char prefix[] = "test_sendq";
	if (getenv("DM_TEST_DEBUG"))
		dm_log_set(dm_log_stderr, (void *)prefix, DM_LOG_DEBUG);
	else
		dm_log_set(NULL, NULL, DM_LOG_ERROR);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sendq_add_flush_in_order),
		cmocka_unit_test(sendq_full_and_oversize),
		cmocka_unit_test(sendq_flush_empty),
		cmocka_unit_test(sendq_counts_refused),
		cmocka_unit_test(sendq_bad_args),
	};
	return cmocka_run_group_tests_name("sendq", tests, setup, NULL);
}
