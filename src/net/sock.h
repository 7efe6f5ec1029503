/* dragoman: UDP sockets for multicast and unicast RTP (private). */
#ifndef DRAGOMAN_SOCK_H
#define DRAGOMAN_SOCK_H

#include <netinet/in.h>
#include <stdint.h>

/* Fills *out with addr:port. Returns 0 or DM_EINVAL (not a dotted IPv4 address). */
int dm_sock_addr(const char *addr, uint16_t port, struct sockaddr_in *out);

/* True if addr (network order) is IPv4 multicast (224.0.0.0/4). */
int dm_sock_is_multicast(const struct sockaddr_in *addr);

/* Sets the don't-fragment bit on what fd sends, ignoring the path MTU (IP_PMTUDISC_PROBE):
 * our datagrams are far below any MTU. Why: the kernel then gives an unconnected socket's
 * datagrams IP ID 0 (RFC 6864: an atomic datagram needs none) instead of drawing each from
 * its shared, hashed ID table, which was 9 % of the remote sender's CPU at 5,000 listeners.
 * Best effort: an error leaves the socket as it was. Thread: any. */
void dm_sock_set_dont_fragment(int fd);

/* Opens a sending UDP socket bound to the interface address iface (port 0):
 * multicast goes out of that interface (IP_MULTICAST_IF) with the TTL given,
 * looped back to local listeners, marked expedited forwarding, don't-fragment
 * (dm_sock_set_dont_fragment). Non-blocking. Returns the fd or DM_EINVAL /
 * DM_ENET (the log names the address and the reason). */
int dm_sock_open_sender(const char *iface, int ttl);

/* Opens a receiving UDP socket for addr:port. A multicast addr is joined on
 * the interface iface, and the socket is bound to the group so that other
 * groups on the same port stay out; SO_REUSEADDR lets several listeners share
 * it. A unicast addr is bound as it is. Non-blocking, large receive buffer.
 * Returns the fd or DM_EINVAL / DM_ENET (logged, naming the address). */
int dm_sock_open_receiver(const char *addr, uint16_t port, const char *iface);

#endif
