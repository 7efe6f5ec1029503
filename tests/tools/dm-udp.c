/* dm-udp: captures, replays and forges UDP datagrams on a multicast group,
 * for the security tests (replayed, forged and truncated packets).
 *
 *   dm-udp capture --group G --port P [--iface A] --count N --out FILE [--timeout S]
 *   dm-udp replay  --in FILE --group G --port P [--iface A] [--rate PPS] [--loops K]
 *   dm-udp garbage --group G --port P [--iface A] --count N [--rtp-like] [--ssrc X]
 *                  [--seed S] [--rate PPS]
 *
 * --iface is the IPv4 address of the interface to join / send on (default
 * 127.0.0.1; the sender enables multicast loopback so local receivers hear it).
 * A capture file is a sequence of datagrams, each a 4-byte big-endian length
 * then the bytes. Every mode prints one JSON line with what it did.
 * Exit 0; 2 on bad arguments or errors; 3 when capture timed out before N. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DGRAM 65536
#define MAX_SSRCS 16

struct opts {
	const char *mode;
	const char *group;
	int port;
	const char *iface;
	long count;
	const char *out;
	const char *in;
	double timeout;
	double rate;
	long loops;
	bool rtp_like;
	bool have_ssrc;
	uint32_t ssrc;
	bool have_seed;
	unsigned long long seed;
	int ttl;
};

static void usage(FILE *f)
{
	fprintf(f, "usage:\n"
		   "  dm-udp capture --group G --port P [--iface A] --count N --out FILE "
		   "[--timeout S]\n"
		   "  dm-udp replay --in FILE --group G --port P [--iface A] [--rate PPS] "
		   "[--loops K]\n"
		   "  dm-udp garbage --group G --port P [--iface A] --count N [--rtp-like] "
		   "[--ssrc X] [--seed S] [--rate PPS]\n");
}

static int fail(const char *what)
{
	fprintf(stderr, "dm-udp: %s: %s\n", what, strerror(errno));
	return 2;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps until packet i of a paced run is due (rate <= 0: no pacing). */
static void pace(double start, long i, double rate)
{
	if (rate <= 0.0)
		return;
	double due = start + (double)i / rate;
	double wait = due - now_s();
	if (wait <= 0.0)
		return;
	struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
	nanosleep(&ts, NULL);
}

static int parse_addr(const char *s, struct in_addr *a, const char *what)
{
	if (!s || inet_pton(AF_INET, s, a) != 1) {
		fprintf(stderr, "dm-udp: bad %s address '%s'\n", what, s ? s : "(none)");
		return -1;
	}
	return 0;
}

static int sender_socket(const struct opts *o, struct sockaddr_in *dst)
{
	struct in_addr ifa;
	memset(dst, 0, sizeof(*dst));
	dst->sin_family = AF_INET;
	dst->sin_port = htons((uint16_t)o->port);
	if (parse_addr(o->group, &dst->sin_addr, "group") < 0 ||
	    parse_addr(o->iface, &ifa, "interface") < 0)
		return -1;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		fail("socket");
		return -1;
	}
	unsigned char loop = 1, ttl = (unsigned char)o->ttl;
	if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof(ifa)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof(loop)) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) < 0) {
		fail("setsockopt (multicast sender)");
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends, retrying briefly when the socket buffer is full: a flood must reach
 * the wire, not be dropped here. */
static int send_one(int fd, const void *buf, size_t len, const struct sockaddr_in *dst)
{
	for (int tries = 0; tries < 100; tries++) {
		if (sendto(fd, buf, len, 0, (const struct sockaddr *)dst, sizeof(*dst)) >= 0)
			return 0;
		if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
			return -1;
		struct timespec ts = {0, 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return -1;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int do_capture(const struct opts *o)
{
	struct in_addr grp, ifa;
	if (o->count <= 0 || !o->out) {
		fprintf(stderr, "dm-udp capture: --count N (> 0) and --out FILE are required\n");
		return 2;
	}
	if (parse_addr(o->group, &grp, "group") < 0 || parse_addr(o->iface, &ifa, "interface") < 0)
		return 2;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return fail("socket");
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return fail("SO_REUSEADDR");
	/* Bound to the group itself, so other groups on the same port stay out. */
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)o->port);
	sa.sin_addr = grp;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fail("bind");
	struct ip_mreq mr;
	mr.imr_multiaddr = grp;
	mr.imr_interface = ifa;
	if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
		return fail("IP_ADD_MEMBERSHIP");

	FILE *f = fopen(o->out, "wb");
	if (!f)
		return fail(o->out);
	static uint8_t buf[MAX_DGRAM];
	uint32_t ssrcs[MAX_SSRCS];
	int nssrcs = 0;
	long got = 0;
	uint64_t bytes = 0;
	long first_seq = -1, last_seq = -1;
	double deadline = now_s() + o->timeout;
	while (got < o->count) {
		double left = deadline - now_s();
		if (left <= 0)
			break;
		struct pollfd pfd = {fd, POLLIN, 0};
		int pr = poll(&pfd, 1, (int)(left * 1000.0) + 1);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return fail("poll");
		if (pr == 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return fail("recv");
		uint8_t len[4];
		put_be32(len, (uint32_t)n);
		if (fwrite(len, 4, 1, f) != 1 || (n > 0 && fwrite(buf, (size_t)n, 1, f) != 1))
			return fail(o->out);
		got++;
		bytes += (uint64_t)n;
		if (n >= 12 && (buf[0] >> 6) == 2) {
			uint32_t ssrc = get_be32(buf + 8);
			long seq = buf[2] << 8 | buf[3];
			if (first_seq < 0)
				first_seq = seq;
			last_seq = seq;
			bool seen = false;
			for (int i = 0; i < nssrcs; i++)
				seen = seen || ssrcs[i] == ssrc;
			if (!seen && nssrcs < MAX_SSRCS)
				ssrcs[nssrcs++] = ssrc;
		}
	}
	if (fclose(f) != 0)
		return fail(o->out);
	close(fd);
	printf("{\"captured\":%ld,\"bytes\":%llu,\"first_seq\":%ld,\"last_seq\":%ld,\"ssrcs\":[",
	       got, (unsigned long long)bytes, first_seq, last_seq);
	for (int i = 0; i < nssrcs; i++)
		printf("%s%u", i ? "," : "", ssrcs[i]);
	printf("]}\n");
	if (got < o->count) {
		fprintf(stderr,
			"dm-udp capture: timed out after %.1f s with %ld of %ld datagrams\n",
			o->timeout, got, o->count);
		return 3;
	}
	return 0;
}

static int do_replay(const struct opts *o)
{
	if (!o->in) {
		fprintf(stderr, "dm-udp replay: --in FILE is required\n");
		return 2;
	}
	struct sockaddr_in dst;
	int fd = sender_socket(o, &dst);
	if (fd < 0)
		return 2;
	FILE *f = fopen(o->in, "rb");
	if (!f)
		return fail(o->in);
	static uint8_t buf[MAX_DGRAM];
	long sent = 0;
	double start = now_s();
	for (long loop = 0; loop < o->loops; loop++) {
		rewind(f);
		uint8_t len[4];
		while (fread(len, 4, 1, f) == 1) {
			uint32_t n = get_be32(len);
			if (n > sizeof(buf) || (n > 0 && fread(buf, n, 1, f) != 1)) {
				fprintf(stderr, "dm-udp replay: %s: truncated or corrupt\n", o->in);
				fclose(f);
				return 2;
			}
			pace(start, sent, o->rate);
			if (send_one(fd, buf, n, &dst) < 0)
				return fail("sendto");
			sent++;
		}
	}
	fclose(f);
	close(fd);
	printf("{\"sent\":%ld,\"seconds\":%.3f}\n", sent, now_s() - start);
	return 0;
}

static int do_garbage(const struct opts *o)
{
	if (o->count <= 0) {
		fprintf(stderr, "dm-udp garbage: --count N (> 0) is required\n");
		return 2;
	}
	struct sockaddr_in dst;
	int fd = sender_socket(o, &dst);
	if (fd < 0)
		return 2;
	unsigned long long seed =
		o->have_seed ? o->seed
			     : (unsigned long long)time(NULL) ^ (unsigned long long)getpid();
	unsigned short xs[3] = {(unsigned short)seed, (unsigned short)(seed >> 16),
				(unsigned short)(seed >> 32)};
	uint8_t buf[1500];
	long sent = 0, truncated = 0, rtp = 0;
	double start = now_s();
	for (long i = 0; i < o->count; i++) {
		size_t len;
		for (size_t k = 0; k < sizeof(buf); k++)
			buf[k] = (uint8_t)nrand48(xs);
		/* one in eight is truncated: 0..20 bytes, too short for RTP + SRTP tag */
		bool trunc = nrand48(xs) % 8 == 0;
		if (trunc) {
			len = (size_t)(nrand48(xs) % 21);
			truncated++;
		} else if (o->rtp_like) {
			len = 12 + 10 + (size_t)(nrand48(xs) % 300);
		} else {
			len = 1 + (size_t)(nrand48(xs) % 1400);
		}
		if (o->rtp_like) {
			/* V=2, no padding/extension/CSRC, PT 111 (marker random); random seq,
			 * timestamp and SSRC unless one is forced. */
			buf[0] = 0x80;
			buf[1] = (uint8_t)((buf[1] & 0x80) | 111);
			if (o->have_ssrc)
				put_be32(buf + 8, o->ssrc);
			if (!trunc)
				rtp++;
		}
		pace(start, i, o->rate);
		if (send_one(fd, buf, len, &dst) < 0)
			return fail("sendto");
		sent++;
	}
	close(fd);
	printf("{\"sent\":%ld,\"rtp_like\":%ld,\"truncated\":%ld,\"seed\":%llu,\"seconds\":%.3f}\n",
	       sent, rtp, truncated, seed, now_s() - start);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	o.iface = "127.0.0.1";
	o.port = -1;
	o.timeout = 10.0;
	o.loops = 1;
	o.ttl = 1;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	o.mode = argv[1];
	bool replay = !strcmp(o.mode, "replay");
	bool garbage = !strcmp(o.mode, "garbage");
	o.rate = replay ? 200.0 : garbage ? 5000.0 : 0.0;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end = NULL;
		if (!strcmp(a, "--rtp-like")) {
			o.rtp_like = true;
			continue;
		}
		if (!v) {
			fprintf(stderr, "dm-udp: %s needs a value\n", a);
			return 2;
		}
		i++;
		errno = 0;
		if (!strcmp(a, "--group")) {
			o.group = v;
		} else if (!strcmp(a, "--port")) {
			o.port = (int)strtol(v, &end, 10);
		} else if (!strcmp(a, "--iface")) {
			o.iface = v;
		} else if (!strcmp(a, "--count")) {
			o.count = strtol(v, &end, 10);
		} else if (!strcmp(a, "--out")) {
			o.out = v;
		} else if (!strcmp(a, "--in")) {
			o.in = v;
		} else if (!strcmp(a, "--timeout")) {
			o.timeout = strtod(v, &end);
		} else if (!strcmp(a, "--rate")) {
			o.rate = strtod(v, &end);
		} else if (!strcmp(a, "--loops")) {
			o.loops = strtol(v, &end, 10);
		} else if (!strcmp(a, "--ttl")) {
			o.ttl = (int)strtol(v, &end, 10);
		} else if (!strcmp(a, "--ssrc")) {
			o.ssrc = (uint32_t)strtoul(v, &end, 0);
			o.have_ssrc = true;
		} else if (!strcmp(a, "--seed")) {
			o.seed = strtoull(v, &end, 0);
			o.have_seed = true;
		} else {
			fprintf(stderr, "dm-udp: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
		if (errno || (end && *end)) {
			fprintf(stderr, "dm-udp: bad value for %s: '%s'\n", a, v);
			return 2;
		}
	}
	if (o.port < 1 || o.port > 65535) {
		fprintf(stderr, "dm-udp: --port 1..65535 is required\n");
		return 2;
	}
	if (o.ttl < 0 || o.ttl > 255 || o.loops < 1) {
		fprintf(stderr, "dm-udp: bad --ttl or --loops\n");
		return 2;
	}
	if (!strcmp(o.mode, "capture"))
		return do_capture(&o);
	if (replay)
		return do_replay(&o);
	if (garbage)
		return do_garbage(&o);
	fprintf(stderr, "dm-udp: unknown mode '%s'\n", o.mode);
	usage(stderr);
	return 2;
}
