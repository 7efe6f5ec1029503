/* Benchmark: remote listeners per core (issue 5). One thread pinned to one
 * CPU runs 8 fan-outs (profile internet: 20 ms Opus frames with in-band FEC,
 * SRTP, one sendmmsg batch per frame) sharing one UDP socket, with N
 * subscribers spread evenly over the 8 channels. A 5 ms ticker (a JACK period
 * of 240 samples, clock_nanosleep TIMER_ABSTIME) feeds 240 samples of a
 * different sine to each fan-out; channel c starts (c % 4) periods late, so
 * two channels complete a frame on every tick instead of eight on one.
 *
 * Destinations: as root with `ip`, a device that drops what it is given
 * (dummy, else ifb) named dmbench0, deleted at exit, and 10.213.x.y:port
 * addresses routed through a gateway on it: the cost measured is the sender's
 * alone. Through a gateway, as internet listeners always are: on-link, the
 * kernel made a neighbour entry for every listener and, past its table's
 * 1,024, reclaimed them as fast (about 7 % of the sender's time). Otherwise 127.x.y.z addresses on
 * the ports of a few sink sockets a second thread drains on another CPU (the kernel's loopback
 * delivery then weighs on the sender too).
 *
 * DM_BENCH_POLL=1 (the benchmark remote_poll): as the engine with
 * remote.poll = true, this thread waits by reading the clock instead of
 * sleeping, without real-time priority (a real-time thread that never sleeps
 * meets the kernel's throttle); its core is then always busy, and the cpu
 * column is the time spent encoding and sending instead of the thread's CPU.
 *
 * Paced, as the engine sends (src/net/remote.c; DM_BENCH_PACED=0 for the
 * old way): at each tick the fan-outs encode the frames that completed and
 * queue them; this thread then sends each channel's packets at its due time
 * (frame complete + the channel's delay: the two channels completing on one
 * tick go 2.5 ms apart), each channel's listeners in DM_REMOTE_SEND_GROUPS
 * bursts 625 us apart, and sleeps in between.
 *
 * For each N of the sweep it runs DM_BENCH_SECONDS (5) and prints, over the
 * 8 fan-outs: frames; late bursts (a burst: a frame to one group of
 * listeners; late: its last packet over DM_REMOTE_LATE_US after its due
 * time, by our own work); the longest and mean send times; the
 * longest wake-up delay of this thread (the scheduler's, shown, not counted:
 * on a virtual machine it reaches milliseconds with nothing else to do); the
 * CPU time of the thread as a share of the core. Two verdicts: no late frame
 * at all (the issue: every packet within 2 ms of its due time), and at most
 * one burst in 1,000 late; a failed N is run once more, and a verdict is the
 * largest N before the first that fails it twice. The last line is "remote
 * listeners per core: N". Nothing about speed is asserted. */
#include "dragoman/defaults.h"
#include "dragoman/error.h"
#include "dragoman/fanout.h"
#include "dragoman/profile.h"
#include "sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHANNELS 8
#define PERIOD 240	   /* samples per tick */
#define PERIOD_NS 5000000L /* 240 samples at 48 kHz */
#define SPREAD 4	   /* channel c starts (c % SPREAD) periods late */
#define SINKS 4		   /* loopback mode: sink sockets */
#define DEV "dmbench0"
#define LATE_US DM_REMOTE_LATE_US
/* Paced: the channels completing on one tick go this far apart (as the
 * engine does it, src/net/remote.c). */
#define SLOT_US ((uint32_t)(PERIOD_NS / 1000 / ((CHANNELS + SPREAD - 1) / SPREAD)))

/* The engine's way (default): fan-outs paced by a sender thread, here this
 * one. DM_BENCH_PACED=0: each frame sent as soon as it is encoded. */
static bool paced = true;
/* DM_BENCH_POLL=1: remote.poll (src/net/remote.c). */
static bool polling;

static const int sweep[] = {500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 16000};

enum dest_mode { DEST_DEVICE, DEST_LOOPBACK };

static enum dest_mode mode = DEST_LOOPBACK;
static const char *dev_kind = "";
static bool dev_created;
static uint16_t sink_port[SINKS];
static int sink_fd[SINKS];
static atomic_bool draining;
static atomic_ullong drained;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t mono_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

/* Until ts: sleeping, or with `polling` reading the clock. */
static void wait_until(const struct timespec *ts)
{
	if (polling) {
		uint64_t due = (uint64_t)ts->tv_sec * 1000000u + (uint64_t)ts->tv_nsec / 1000u;
		while (mono_us() < due && !stop) {
#if defined(__x86_64__) || defined(__i386__)
			__builtin_ia32_pause();
#endif
		}
		return;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ts, NULL) == EINTR && !stop)
		;
}

static double thread_cpu_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int sh(const char *cmd)
{
	char buf[512];
	snprintf(buf, sizeof buf, "%s >/dev/null 2>&1", cmd);
	return system(buf);
}

static void remove_device(void)
{
	if (dev_created)
		sh("ip link del " DEV);
	dev_created = false;
}

/* A device that drops every packet, with a /16 behind it. */
static bool create_device(void)
{
	if (geteuid() != 0 || sh("command -v ip") != 0)
		return false;
	sh("ip link del " DEV); /* a leftover of an interrupted run */
	static const char *kinds[] = {"dummy", "ifb"};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		char cmd[128];
		snprintf(cmd, sizeof cmd, "ip link add " DEV " type %s", kinds[i]);
		if (sh(cmd) != 0)
			continue;
		dev_created = true;
		if (sh("ip addr add 10.214.0.1/30 dev " DEV) != 0 ||
		    sh("ip link set " DEV " up") != 0 ||
		    sh("ip route add 10.213.0.0/16 via 10.214.0.2 dev " DEV) != 0) {
			remove_device();
			return false;
		}
		/* The gateway's one neighbour entry (a device without ARP has it
		 * anyway). */
		sh("ip neigh replace 10.214.0.2 lladdr 02:00:00:00:00:02 dev " DEV
		   " nud permanent");
		/* dummy has no queue; ifb gets none either, so both drop the
		 * packet as soon as it is handed over. */
		if (strcmp(kinds[i], "ifb") == 0)
			sh("tc qdisc replace dev " DEV " root noqueue");
		dev_kind = kinds[i];
		return true;
	}
	return false;
}

static void *drain_main(void *arg)
{
	(void)arg;
	struct pollfd pfd[SINKS];
	for (int i = 0; i < SINKS; i++)
		pfd[i] = (struct pollfd){.fd = sink_fd[i], .events = POLLIN};
	enum { VLEN = 64 };
	static uint8_t bufs[VLEN][1500];
	struct iovec iov[VLEN];
	struct mmsghdr msgs[VLEN];
	for (int i = 0; i < VLEN; i++) {
		iov[i] = (struct iovec){.iov_base = bufs[i], .iov_len = sizeof bufs[i]};
		msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
	}
	while (atomic_load(&draining)) {
		if (poll(pfd, SINKS, 100) <= 0)
			continue;
		for (int i = 0; i < SINKS; i++) {
			int n;
			while ((n = recvmmsg(sink_fd[i], msgs, VLEN, MSG_DONTWAIT, NULL)) > 0)
				atomic_fetch_add(&drained, (unsigned long long)n);
		}
	}
	return NULL;
}

static bool open_sinks(void)
{
	for (int i = 0; i < SINKS; i++) {
		sink_fd[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		if (sink_fd[i] < 0)
			return false;
		int big = 8 << 20;
		if (setsockopt(sink_fd[i], SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) != 0)
			setsockopt(sink_fd[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
		/* Any local address: the destinations are spread over 127/8. */
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(INADDR_ANY)};
		socklen_t len = sizeof sa;
		if (bind(sink_fd[i], (struct sockaddr *)&sa, sizeof sa) != 0 ||
		    getsockname(sink_fd[i], (struct sockaddr *)&sa, &len) != 0)
			return false;
		sink_port[i] = ntohs(sa.sin_port);
	}
	return true;
}

/* The i-th subscriber's address: distinct for every i. */
static struct sockaddr_in dest(int i)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	if (mode == DEST_DEVICE) {
		sa.sin_addr.s_addr =
			htonl(0x0ad50000u | (uint32_t)(1 + i / 254) << 8 | (uint32_t)(1 + i % 254));
		sa.sin_port = htons((uint16_t)(20000 + i % 1000));
	} else {
		sa.sin_addr.s_addr =
			htonl(0x7f010000u | (uint32_t)(i / 250) << 8 | (uint32_t)(1 + i % 250));
		sa.sin_port = htons(sink_port[i % SINKS]);
	}
	return sa;
}

struct result {
	uint64_t frames, bursts, late_fanout, late_tick, max_send_us, sum_send_us, max_tick_us,
		max_wake_us, packets, errors;
	double cpu_pct, seconds;
};

static int run(int n, double seconds, int fd, float *const *sig, struct result *r)
{
	static const uint8_t secret[32] = {0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	const struct dm_profile *prof = dm_profile_find("internet");
	struct dm_fanout *f[CHANNELS] = {0};
	int rc = 0;
	for (int c = 0; c < CHANNELS && rc == 0; c++) {
		char id[16];
		snprintf(id, sizeof id, "ch%d", c);
		struct dm_fanout_params p = {
			.conference_id = "bench",
			.channel_id = id,
			.secret = secret,
			.suite = DM_SRTP_AES_CM_128_HMAC_SHA1_80,
			.profile = prof,
			.fd = fd,
			.phase = (c % SPREAD) * PERIOD, /* samples */
			/* As the engine paces them (src/net/remote.c): the
			 * channels completing on one tick follow each other
			 * PERIOD / ceil(CHANNELS / SPREAD) apart. */
			.paced = paced,
			.delay_us = paced ? (uint32_t)(c / SPREAD) * SLOT_US : 0,
			.groups = paced ? DM_REMOTE_SEND_GROUPS : 0,
			.group_gap_us = SLOT_US / DM_REMOTE_SEND_GROUPS,
		};
		rc = dm_fanout_new(&p, &f[c]);
	}
	for (int i = 0; i < n && rc == 0; i++) {
		struct sockaddr_in a = dest(i);
		rc = dm_fanout_add(f[i % CHANNELS], &a);
	}
	if (rc < 0) {
		fprintf(stderr, "bench_remote: %s\n", dm_strerror(rc));
		goto out;
	}

	memset(r, 0, sizeof *r);
	const int frame = prof->frame_samples;
	long ticks = lround(seconds * 1e9 / (double)PERIOD_NS);
	size_t fed[CHANNELS] = {0};
	size_t off = 0; /* into the 1 s signals */
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	double cpu0 = thread_cpu_s();
	uint64_t t0 = mono_us(), prev_end = 0;
	uint64_t busy_us = 0, seg = 0; /* polling: time between waits */
	for (long t = 0; t < ticks && !stop; t++) {
		if (seg)
			busy_us += mono_us() - seg;
		next.tv_nsec += PERIOD_NS;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		wait_until(&next);
		seg = mono_us();
		uint64_t due = (uint64_t)next.tv_sec * 1000000u + (uint64_t)next.tv_nsec / 1000u;
		uint64_t woke = mono_us();
		/* Late by our own work: from the due time; late by the
		 * scheduler only: from the wake-up. */
		uint64_t start = prev_end > due ? due : woke;
		if (prev_end <= due && woke - due > r->max_wake_us)
			r->max_wake_us = woke - due;
		for (int c = 0; c < CHANNELS && paced; c++) {
			dm_fanout_feed(f[c], sig[c] + off, PERIOD, start);
			fed[c] += PERIOD;
		}
		/* Paced: send what is due, sleep until the next due time, until
		 * the next tick. The fan-outs count lateness from each packet's
		 * due time (frame complete + its channel's delay). */
		uint64_t expect = 0; /* the due time we slept until */
		while (paced && !stop) {
			uint64_t now = mono_us(), next_due = 0;
			if (expect && now > expect && now - expect > r->max_wake_us)
				r->max_wake_us = now - expect;
			for (int c = 0; c < CHANNELS; c++) {
				uint64_t nd = 0;
				dm_fanout_send_due(f[c], now, &nd);
				if (nd && (!next_due || nd < next_due))
					next_due = nd;
			}
			uint64_t tick_us = (uint64_t)next.tv_sec * 1000000u +
					   (uint64_t)next.tv_nsec / 1000u + PERIOD_NS / 1000;
			if (!next_due || next_due >= tick_us)
				break;
			expect = next_due;
			struct timespec ts = {(time_t)(next_due / 1000000u),
					      (long)(next_due % 1000000u) * 1000L};
			busy_us += mono_us() - seg;
			wait_until(&ts);
			seg = mono_us();
		}
		for (int c = 0; c < CHANNELS && !paced; c++) {
			dm_fanout_feed(f[c], sig[c] + off, PERIOD, start);
			fed[c] += PERIOD;
			if ((fed[c] + (size_t)((c % SPREAD) * PERIOD)) % (size_t)frame != 0)
				continue;
			/* This channel's frame was due at this tick; its last
			 * packet has just left. */
			uint64_t took = mono_us() - start;
			if (took > r->max_tick_us)
				r->max_tick_us = took;
			if (took > LATE_US)
				r->late_tick++;
		}
		prev_end = mono_us();
		off = (off + PERIOD) % 48000;
	}
	r->seconds = (double)(mono_us() - t0) * 1e-6;
	r->cpu_pct = polling ? (double)busy_us * 1e-6 / r->seconds * 100.0
			     : (thread_cpu_s() - cpu0) / r->seconds * 100.0;
	for (int c = 0; c < CHANNELS; c++) {
		struct dm_fanout_stats st;
		dm_fanout_get_stats(f[c], &st);
		r->frames += st.frames;
		r->bursts += st.bursts;
		r->late_fanout += st.late_frames;
		r->sum_send_us += st.sum_send_us;
		r->packets += st.packets;
		r->errors += st.send_errors;
		if (st.max_send_us > r->max_send_us)
			r->max_send_us = st.max_send_us;
	}
out:
	for (int c = 0; c < CHANNELS; c++)
		dm_fanout_free(f[c]);
	return rc;
}

static void print_row(int n, const struct result *r, const struct result *base, const char *verdict)
{
	double per_pkt = 0;
	if (base) {
		/* CPU seconds and datagrams per second above the baseline's. */
		double cpu = (r->cpu_pct - base->cpu_pct) / 100.0;
		double pkts =
			(double)r->packets / r->seconds - (double)base->packets / base->seconds;
		per_pkt = pkts > 0 ? cpu / pkts * 1e6 : 0;
	}
	printf("%6d %7llu %7llu %7llu %8llu %8.0f %8llu %8llu %5.1f%% %6.2f %7.1f %6llu %s\n", n,
	       (unsigned long long)r->frames, (unsigned long long)r->late_fanout,
	       (unsigned long long)r->late_tick, (unsigned long long)r->max_send_us,
	       r->bursts ? (double)r->sum_send_us / (double)r->bursts : 0.0,
	       (unsigned long long)r->max_tick_us, (unsigned long long)r->max_wake_us, r->cpu_pct,
	       per_pkt, (double)r->packets / r->seconds / 1e3, (unsigned long long)r->errors,
	       verdict);
	fflush(stdout);
}

int main(void)
{
	double seconds = 5;
	const char *pe = getenv("DM_BENCH_PACED");
	if (pe && strcmp(pe, "0") == 0)
		paced = false;
	const char *po = getenv("DM_BENCH_POLL");
	polling = po && strcmp(po, "1") == 0;
	const char *env = getenv("DM_BENCH_SECONDS");
	if (env && *env) {
		char *end;
		seconds = strtod(env, &end);
		if (*end || !(seconds > 0) || seconds > 3600) {
			fprintf(stderr,
				"bench_remote: DM_BENCH_SECONDS must be a positive number\n");
			return 2;
		}
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int cpu = ncpu > 1 ? 1 : 0;
	pthread_t drainer;
	bool have_drainer = false;
	if (create_device()) {
		mode = DEST_DEVICE;
		atexit(remove_device);
	} else {
		mode = DEST_LOOPBACK;
		if (!open_sinks()) {
			fprintf(stderr, "bench_remote: cannot open the sink sockets\n");
			return 1;
		}
		atomic_store(&draining, true);
		if (pthread_create(&drainer, NULL, drain_main, NULL) != 0) {
			fprintf(stderr, "bench_remote: cannot start the drain thread\n");
			return 1;
		}
		have_drainer = true;
		if (ncpu > 1) {
			cpu_set_t other;
			CPU_ZERO(&other);
			CPU_SET(0, &other);
			pthread_setaffinity_np(drainer, sizeof other, &other);
		}
	}
	/* This thread only (the drain thread keeps its own CPU). */
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	bool pinned = sched_setaffinity(0, sizeof one, &one) == 0;
	/* As the engine's encoder workers (src/engine/engine.c): real-time
	 * priority 50 when allowed, so other work on the core does not stand
	 * between a tick and its packets. */
	struct sched_param sp = {.sched_priority = 50};
	bool realtime = !polling && pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;

	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int big = 4 << 20;
	if (fd < 0) {
		perror("bench_remote: socket");
		remove_device();
		return 1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) != 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
	dm_sock_set_dont_fragment(fd); /* as the engine's remote socket */
	struct sockaddr_in any = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
	if (bind(fd, (struct sockaddr *)&any, sizeof any) != 0) {
		perror("bench_remote: bind");
		remove_device();
		return 1;
	}

	float *sig[CHANNELS];
	for (int c = 0; c < CHANNELS; c++) {
		sig[c] = malloc(48000 * sizeof *sig[c]);
		if (!sig[c])
			return 1;
		/* Whole cycles in 1 s: the signal loops without a click. */
		double hz = 220.0 + 110.0 * c;
		for (int i = 0; i < 48000; i++)
			sig[c][i] = (float)(0.3 * sin(2 * M_PI * hz * i / 48000.0));
	}

	printf("remote listeners per core: %d fan-outs (profile internet, 20 ms frames, "
	       "AES_CM_128_HMAC_SHA1_80), one UDP socket, a tick of %d samples every %ld ms, "
	       "%s CPU %d, %s, %.1f s per N\n",
	       CHANNELS, PERIOD, PERIOD_NS / 1000000,
	       pinned ? "pinned to" : "NOT pinned, meant for", cpu,
	       polling	  ? "polling the clock as remote.poll = true (cpu: time spent encoding and "
			    "sending)"
	       : realtime ? "SCHED_FIFO 50 as the engine's sender"
			  : "no real-time priority",
	       seconds);
	if (mode == DEST_DEVICE)
		printf("destinations: 10.213.x.y via a gateway on a %s device " DEV
		       " that drops them (the cost is the sender's alone)\n",
		       dev_kind);
	else
		printf("destinations: 127.1.x.y on %d loopback sink sockets drained by a thread "
		       "on CPU 0 (no dummy/ifb device: not root, no `ip`, or not allowed); "
		       "loopback delivery is charged to the sender\n",
		       SINKS);
	printf("%s; late: last packet over %d us after its due time (fan-out; tick: unpaced "
	       "only, from the tick's start); send: due time to last packet (unpaced: Opus "
	       "encoding of the tick's channels included); max_wake: the scheduler's longest "
	       "wake-up delay, not counted; us/pkt: CPU per datagram above the N = %d row "
	       "(one listener per channel: the encoders' own cost)\n",
	       paced ? "paced as in the engine: frames encoded at the tick, sent at their "
		       "channel's due time (channels completing together 2.5 ms apart, a channel's "
		       "listeners in 4 bursts 625 us apart)"
		     : "unpaced (DM_BENCH_PACED=0): each frame sent as soon as it is encoded",
	       LATE_US, CHANNELS);
	printf("%6s %7s %7s %7s %8s %8s %8s %8s %6s %6s %7s %6s\n", "N", "frames", "late", "late",
	       "max_send", "mean_snd", "max_tick", "max_wake", "cpu", "us/pkt", "kpkt/s", "errors");
	printf("%6s %7s %7s %7s %8s %8s %8s %8s %6s %6s %7s %6s\n", "", "", "fan-out", "tick", "us",
	       "us", "us", "us", "%", "", "", "");
	fflush(stdout);

	/* Two verdicts: every frame on time (the "every packet within
	 * 2 ms of its due time"; a late frame is one whose last packet left
	 * over DM_REMOTE_LATE_US after its due time, by our own work: the
	 * scheduler's wake-up delays are shown as max_wake, not counted), and
	 * at most 1 frame in 1,000 late (what a listener's 40 ms cushion never
	 * notices). An N that fails is run once more; a verdict stops at the
	 * first N that fails it twice, the sweep when both have. */
	int best = 0, best_tol = 0;
	bool stopped = false, stopped_tol = false, failed = false;
	struct result base;
	if (run(CHANNELS, seconds < 2 ? seconds : 2, fd, sig, &base) < 0)
		failed = true;
	else
		print_row(CHANNELS, &base, NULL, "(baseline, not judged)");
	for (size_t i = 0;
	     i < sizeof sweep / sizeof sweep[0] && !stop && !failed && !(stopped && stopped_tol);
	     i++) {
		int n = sweep[i];
		bool ok = false, ok_tol = false;
		for (int attempt = 0; attempt < 2 && !stop; attempt++) {
			struct result r;
			if (run(n, seconds, fd, sig, &r) < 0) {
				failed = true;
				break;
			}
			uint64_t late = r.late_fanout + r.late_tick;
			bool fine = late == 0 && r.frames > 0;
			bool fine_tol = r.frames > 0 && late * 1000 <= r.bursts;
			ok = ok || fine;
			ok_tol = ok_tol || fine_tol;
			char verdict[64];
			snprintf(verdict, sizeof verdict, "%s (%.2f %% late)",
				 fine	    ? "ok"
				 : fine_tol ? "late <= 0.1 %"
					    : "late",
				 r.bursts ? 100.0 * (double)late / (double)r.bursts : 0.0);
			print_row(n, &r, &base, verdict);
			if ((ok || stopped) && (ok_tol || stopped_tol))
				break;
		}
		if (failed || stop)
			break;
		if (!stopped) {
			if (ok)
				best = n;
			else
				stopped = true;
		}
		if (!stopped_tol) {
			if (ok_tol)
				best_tol = n;
			else
				stopped_tol = true;
		}
	}
	printf("with at most 1 burst in 1,000 over 2 ms late: %d\n", best_tol);
	printf("remote listeners per core: %d (largest N with no late frame)\n", best);

	if (have_drainer) {
		atomic_store(&draining, false);
		pthread_join(drainer, NULL);
	}
	close(fd);
	for (int c = 0; c < CHANNELS; c++)
		free(sig[c]);
	remove_device();
	return 0;
}
