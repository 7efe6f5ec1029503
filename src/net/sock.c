#include "sock.h"

#include "dragoman/error.h"
#include "dragoman/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int dm_sock_addr(const char *addr, uint16_t port, struct sockaddr_in *out)
{
	if (!addr || !out)
		return DM_EINVAL;
	memset(out, 0, sizeof *out);
	out->sin_family = AF_INET;
	out->sin_port = htons(port);
	if (inet_pton(AF_INET, addr, &out->sin_addr) != 1)
		return DM_EINVAL;
	return 0;
}

int dm_sock_is_multicast(const struct sockaddr_in *addr)
{
	return IN_MULTICAST(ntohl(addr->sin_addr.s_addr));
}

static int fail(int fd, const char *what, const char *addr)
{
	dm_log(DM_LOG_ERROR, "%s %s: %s", what, addr, strerror(errno));
	if (fd >= 0)
		close(fd);
	return DM_ENET;
}

void dm_sock_set_dont_fragment(int fd)
{
	int probe = IP_PMTUDISC_PROBE;
	(void)setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &probe, sizeof probe);
}

int dm_sock_open_sender(const char *iface, int ttl)
{
	struct sockaddr_in local;
	if (dm_sock_addr(iface, 0, &local) < 0 || ttl < 0 || ttl > 255) {
		dm_log(DM_LOG_ERROR, "bad interface address %s", iface ? iface : "(null)");
		return DM_EINVAL;
	}
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(-1, "socket for", iface);
	/* Binding to the interface address both picks the source address and
	 * fails early, naming the address, when the interface does not exist. */
	if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0)
		return fail(fd, "cannot bind to interface address", iface);
	struct in_addr ifaddr = local.sin_addr;
	unsigned char t = (unsigned char)ttl, loop = 1;
	if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifaddr, sizeof ifaddr) < 0)
		return fail(fd, "cannot send multicast from", iface);
	if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &t, sizeof t) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) < 0)
		return fail(fd, "cannot set multicast options on", iface);
	/* Audio is expedited forwarding (RFC 4594): venue switches that honour
	 * DSCP keep it ahead of bulk traffic. */
	int tos = 0xb8;
	(void)setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
	dm_sock_set_dont_fragment(fd);
	return fd;
}

int dm_sock_open_receiver(const char *addr, uint16_t port, const char *iface)
{
	struct sockaddr_in sa, ifa;
	if (dm_sock_addr(addr, port, &sa) < 0) {
		dm_log(DM_LOG_ERROR, "bad address %s", addr ? addr : "(null)");
		return DM_EINVAL;
	}
	if (dm_sock_addr(iface ? iface : "0.0.0.0", 0, &ifa) < 0) {
		dm_log(DM_LOG_ERROR, "bad interface address %s", iface);
		return DM_EINVAL;
	}
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(-1, "socket for", addr);
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	int rcvbuf = 1 << 20;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		return fail(fd, "cannot bind to", addr);
	if (dm_sock_is_multicast(&sa)) {
		struct ip_mreq mreq = {.imr_multiaddr = sa.sin_addr, .imr_interface = ifa.sin_addr};
		if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq, sizeof mreq) < 0) {
			char what[128];
			snprintf(what, sizeof what, "cannot join multicast group %s on interface",
				 addr);
			return fail(fd, what, iface ? iface : "0.0.0.0");
		}
		/* Only the group we bound to, not every group some other socket of
		 * this process joined. */
		int zero = 0;
		(void)setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero, sizeof zero);
	}
	return fd;
}
