/* Benchmark (issue 4, performance): what recording and metering add to the
 * engine's per-channel work. Simulates, on one pinned core and in real time
 * (5 ms frames; --fast: as fast as possible), the encoder worker of 8 channels
 * of profile lan plus the control loop's metering:
 *
 *   A  send only: Opus encode + RTP + SRTP + one sendmmsg per frame (as
 *      dm_stream_send_frame and dm_sendq_flush in the engine's worker)
 *   M  A + meters: every frame, each channel's program and 8 console mics
 *      copied into rings (dm_watch_feed in the worker, the JACK callback);
 *      every 50 ms the 16 rings metered together, in place, in 2,400-sample
 *      blocks with dm_meter_feed_many (as dm_watch_tick), and every 100 ms a
 *      "meters" event: 16 readings to JSON text (as meters_text and
 *      dm_control_post_text)
 *   R  A + recorders: one Ogg Opus recorder per channel in a temporary folder
 *      (default rotation), attached with dm_stream_set_recorder (the stream
 *      queues each packet) and drained every 100 ms (as the engine's
 *      recording thread, here on the same core)
 *   B  A + meters + recorders
 *
 * The four variants run side by side (four sets of streams, meters and
 * recorders) and take turns frame by frame, so that whatever else the machine
 * does at any moment weighs on all of them alike: run after run alternation
 * was tried first and swung by up to 100 % on a shared 2-core machine. Rounds
 * are only reporting blocks. Prints CPU seconds per second of audio (this
 * thread's CPU time, measured around each variant's share of every frame)
 * for each, the overheads against A, the meters' parts measured apart, and
 * the closing line
 *   recording 8 channels + metering: +X.X % CPU (target 5 %)
 * Asserts nothing about speed: exits non-zero only when it cannot measure.
 *
 * Environment: BENCH_OVERHEAD_ROUNDS (6), BENCH_OVERHEAD_SECONDS (5 per round),
 * TMPDIR (where the recordings go; removed at the end). */
#include "dragoman/error.h"
#include "dragoman/keys.h"
#include "dragoman/meter.h"
#include "dragoman/profile.h"
#include "dragoman/recorder.h"
#include "dragoman/sendq.h"
#include "dragoman/stream.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHANNELS 8
#define CONSOLES 8
#define RATE 48000
#define LOOP_S 6	       /* length of each precomputed signal, played in a loop */
#define WARMUP_FRAMES 100      /* 500 ms, not measured: opens the files, fills buffers */
#define MIC_BLOCK_FRAMES 10    /* the control loop meters the mics every 50 ms */
#define EVENT_FRAMES 20	       /* a meters event every 100 ms */
#define MIC_RING_SAMPLES 32768 /* as the engine's (watch.c) */
#define MAX_ROUNDS 50

enum variant { V_A, V_M, V_R, V_B, N_VARIANTS };

static const char *const variant_name[N_VARIANTS] = {
	"A send only",
	"M A + meters",
	"R A + recorders",
	"B A + meters + recorders",
};

struct setup {
	bool meters, recorders;
	struct dm_sendq *q;
	struct dm_stream *st[CHANNELS];
	struct dm_recorder *rec[CHANNELS];
	/* The channels' meters, then the mics'; and the copies the worker and the
	 * JACK callback make for them, drained every 50 ms. */
	struct dm_meter *meter[CHANNELS + CONSOLES];
	float *ring[CHANNELS + CONSOLES];
	size_t ring_fill;
	char *last_event; /* the event ring's slot */
	int64_t event_id;
	long ticks; /* frames played, warm-ups included */
};

static float *chan_sig[CHANNELS], *mic_sig[CONSOLES];
static size_t loop_samples;
static int frame;

static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static unsigned lcg(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 16 & 0x7fff;
}

/* Speech-like: a gliding voice (harmonics of f0 with vibrato) in syllables of
 * 4 to 6 per second, a pause now and then and noise bursts for the fricatives;
 * every third signal a plain tone instead. Seeded by k, so no two are alike. */
static void make_signal(float *buf, size_t n, int k)
{
	unsigned seed = 4242u + 977u * (unsigned)k;
	if (k % 3 == 2) {
		double f = 250.0 + 110.0 * k;
		for (size_t i = 0; i < n; i++)
			buf[i] = (float)(0.2 * sin(2 * M_PI * f * (double)i / RATE));
		return;
	}
	double f0 = 95.0 + 11.0 * k, ph = 0, syl_rate = 4.0 + 0.25 * (k % 8);
	for (size_t i = 0; i < n; i++) {
		double t = (double)i / RATE;
		double f = f0 * (1.0 + 0.25 * sin(2 * M_PI * 0.7 * t + k) +
				 0.02 * sin(2 * M_PI * 5.5 * t));
		ph += f / RATE;
		ph -= floor(ph);
		double syl = fmod(t * syl_rate, 1.0);
		double env = syl < 0.7 ? sin(M_PI * syl / 0.7) : 0.0;
		if (fmod(t + 0.37 * k, 2.3) > 1.9)
			env = 0; /* a breath */
		double v = 0;
		for (int h = 1; h <= 12; h++)
			v += sin(2 * M_PI * h * ph) / (h * (1.0 + (h > 3 ? 0.5 * h : 0)));
		double noise = ((double)lcg(&seed) / 32768.0 - 0.5);
		double fric = syl >= 0.7 && syl < 0.85 ? 0.15 : 0.01;
		buf[i] = (float)(0.3 * env * v + fric * noise);
	}
}

static int setup_new(enum variant v, const struct dm_profile *prof, const char *dir,
		     struct setup *s)
{
	memset(s, 0, sizeof *s);
	s->meters = v == V_M || v == V_B;
	s->recorders = v == V_R || v == V_B;
	uint8_t secret[DM_SECRET_LEN] = {4, 2, (uint8_t)v};
	int rc;
	if ((rc = dm_sendq_new("127.0.0.1", 0, 2 * CHANNELS + 2, &s->q)) < 0)
		goto fail;
	for (int c = 0; c < CHANNELS; c++) {
		char id[16], group[32];
		snprintf(id, sizeof id, "ch%d", c);
		snprintf(group, sizeof group, "239.255.95.%d", c + 1);
		struct dm_stream_params p = {
			.conference_id = "bench",
			.channel_id = id,
			.secret = secret,
			.suite = DM_SRTP_AES_CM_128_HMAC_SHA1_80,
			.profile = prof,
			.interface = "127.0.0.1",
			.group = group,
			.port = (uint16_t)(40100 + 2 * v),
			.ttl = 0,
			.sendq = s->q,
		};
		if ((rc = dm_stream_new(&p, &s->st[c])) < 0)
			goto fail;
		if (s->recorders) {
			char conf[16];
			snprintf(conf, sizeof conf, "bench%d", (int)v);
			struct dm_recorder_params rp = {
				.dir = dir,
				.conference_id = conf,
				.channel_id = id,
				.language = "en",
				.pre_skip = dm_stream_lookahead(s->st[c]),
			};
			if ((rc = dm_recorder_new(&rp, &s->rec[c])) < 0)
				goto fail;
			dm_stream_set_recorder(s->st[c], s->rec[c]);
		}
	}
	for (int i = 0; s->meters && i < CHANNELS + CONSOLES; i++) {
		if ((rc = dm_meter_new(RATE, &s->meter[i])) < 0)
			goto fail;
		s->ring[i] = calloc(MIC_RING_SAMPLES, sizeof(float));
		if (!s->ring[i]) {
			rc = DM_ENOMEM;
			goto fail;
		}
	}
	return 0;
fail:
	fprintf(stderr, "bench_overhead: setting up %s: %s\n", variant_name[v], dm_strerror(rc));
	return rc;
}

static void setup_free(struct setup *s)
{
	for (int c = 0; c < CHANNELS; c++) {
		dm_stream_free(s->st[c]);
		dm_recorder_free(s->rec[c]);
	}
	for (int i = 0; i < CHANNELS + CONSOLES; i++) {
		dm_meter_free(s->meter[i]);
		free(s->ring[i]);
	}
	dm_sendq_free(s->q);
	free(s->last_event);
}

/* What the engine does for a "meters" event (watch.c's meters_text and
 * dm_control_post_text): each reading through dm_meter_reading_json into one
 * text with the event's head, kept in the event ring (replacing the oldest). */
static void meters_event(struct setup *s)
{
	size_t cap = 128 + (CHANNELS + CONSOLES) * (DM_METER_JSON_MAX + 32);
	char *text = malloc(cap), *p = text, when[40];
	struct timespec ts;
	struct tm tm;

	if (!text)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);
	p += sprintf(p, "{\"id\":%lld,\"time\":\"%s\",\"type\":\"meters\"",
		     (long long)++s->event_id, when);
	for (int k = 0; k < CHANNELS + CONSOLES; k++) {
		bool console = k >= CHANNELS;
		struct dm_meter_reading r;

		if (k == 0 || k == CHANNELS)
			p += sprintf(p, "%s\"%s\":[", k ? "]," : ",",
				     console ? "consoles" : "channels");
		else
			*p++ = ',';
		dm_meter_read(s->meter[k], &r);
		*p++ = '{';
		int len = dm_meter_reading_json(&r, console, p, DM_METER_JSON_MAX);
		p += len > 0 ? len : 0;
		p += sprintf(p, ",\"id\":\"%s%d\"}", console ? "con" : "ch",
			     console ? k - CHANNELS : k);
	}
	strcpy(p, "]}");
	free(s->last_event);
	s->last_event = text;
}

/* One frame of every channel, as the worker does, then what metering adds. */
static void tick(struct setup *s, size_t pos)
{
	long f = s->ticks++;
	for (int c = 0; c < CHANNELS; c++) {
		const float *pcm = chan_sig[c] + pos;
		dm_stream_send_frame(s->st[c], pcm);
		if (s->meters)
			memcpy(s->ring[c] + s->ring_fill, pcm, (size_t)frame * sizeof(float));
	}
	dm_sendq_flush(s->q);
	/* The engine's recording thread drains every DM_RECORDER_DRAIN_MS. */
	if (s->recorders && (f + 1) % (DM_RECORDER_DRAIN_MS * RATE / 1000 / frame) == 0)
		for (int c = 0; c < CHANNELS; c++)
			dm_recorder_drain(s->rec[c]);
	if (!s->meters)
		return;
	for (int i = 0; i < CONSOLES; i++)
		memcpy(s->ring[CHANNELS + i] + s->ring_fill, mic_sig[i] + pos,
		       (size_t)frame * sizeof(float));
	s->ring_fill += (size_t)frame;
	if ((f + 1) % MIC_BLOCK_FRAMES == 0) {
		/* Metered in place, as from dm_ring_read_span. */
		const float *pcm[CHANNELS + CONSOLES];
		for (int i = 0; i < CHANNELS + CONSOLES; i++)
			pcm[i] = s->ring[i];
		dm_meter_feed_many(s->meter, pcm, CHANNELS + CONSOLES, s->ring_fill);
		s->ring_fill = 0;
	}
	if ((f + 1) % EVENT_FRAMES == 0)
		meters_event(s);
}

static void sleep_until(double t)
{
	struct timespec ts = {.tv_sec = (time_t)t, .tv_nsec = (long)((t - floor(t)) * 1e9)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Plays `frames` frames of every variant; warmup frames first, not measured.
 * Within each 5 ms frame the variants take turns, in an order that rotates
 * frame by frame and runs backwards every other cycle, so that each sees the
 * same machine (other processes, clock, caches) as the others and comes first
 * after the sleep, or after any other, equally often. Adds each variant's CPU
 * seconds to cpu[]. The signal position runs on across calls. */
static void play(struct setup *set, long warmup, long frames, bool fast, size_t *pos, double *cpu)
{
	double period = (double)frame / RATE, next = mono_s();
	for (long f = -warmup; f < frames; f++) {
		long k = f + warmup;
		double t = thread_cpu_s();
		for (int i = 0; i < N_VARIANTS; i++) {
			int v = (int)((k + i) % N_VARIANTS);
			if (k / N_VARIANTS % 2)
				v = N_VARIANTS - 1 - v;
			tick(&set[v], *pos);
			double t1 = thread_cpu_s();
			if (f >= 0)
				cpu[v] += t1 - t;
			t = t1;
		}
		*pos += (size_t)frame;
		if (*pos + (size_t)frame > loop_samples)
			*pos = 0;
		if (!fast) {
			next += period;
			double now = mono_s();
			if (next > now)
				sleep_until(next);
			else if (now - next > 0.1)
				next = now; /* preempted for long: do not race to catch up */
		}
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
	double t[MAX_ROUNDS];
	memcpy(t, v, (size_t)n * sizeof *t);
	qsort(t, (size_t)n, sizeof *t, cmp_double);
	return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* The meters' parts on their own, as fast as possible (hot caches: a lower
 * bound), in CPU seconds per second of audio for all 16 meters: fed one by
 * one (dm_meter_feed, as the engine did before dm_meter_feed_many) and
 * together (as dm_watch_tick), in 50 ms blocks; and the 10 Hz event. */
static void meter_parts(struct setup *s, double a_cps)
{
	enum { N = CHANNELS + CONSOLES };
	struct dm_meter *m[N] = {0};
	const float *pcm[N];
	const long rounds = 200, events = 400;
	size_t block = (size_t)frame * MIC_BLOCK_FRAMES, pos = 0;
	for (int i = 0; i < N; i++)
		if (dm_meter_new(RATE, &m[i]) < 0)
			goto out;
	double t0 = thread_cpu_s();
	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < N; i++)
			dm_meter_feed(m[i],
				      (i < CHANNELS ? chan_sig[i] : mic_sig[i - CHANNELS]) + pos,
				      block);
		pos = pos + 2 * block > loop_samples ? 0 : pos + block;
	}
	double t1 = thread_cpu_s();
	pos = 0;
	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < N; i++)
			pcm[i] = (i < CHANNELS ? chan_sig[i] : mic_sig[i - CHANNELS]) + pos;
		dm_meter_feed_many(m, pcm, N, block);
		pos = pos + 2 * block > loop_samples ? 0 : pos + block;
	}
	double t2 = thread_cpu_s();
	for (long i = 0; i < events; i++)
		meters_event(s);
	double t3 = thread_cpu_s();
	double samples = (double)rounds * (double)block * N;
	double per_s = (double)RATE * N; /* samples per second of audio */
	double one = (t1 - t0) / samples * per_s, many = (t2 - t1) / samples * per_s;
	double ev = (t3 - t2) / (double)events * (double)RATE / frame / EVENT_FRAMES;
	printf("meters' parts measured apart (as fast as possible, hot caches), CPU s per s of "
	       "audio and %% of A:\n");
	printf("  %d meters one by one (dm_meter_feed)     %.2f ns a sample  %.5f  %5.2f %%\n", N,
	       (t1 - t0) / samples * 1e9, one, one / a_cps * 100);
	printf("  %d meters together (dm_meter_feed_many)  %.2f ns a sample  %.5f  %5.2f %%\n", N,
	       (t2 - t1) / samples * 1e9, many, many / a_cps * 100);
	printf("  meters event, %d readings to JSON text     %.1f us per call  %.5f  %5.2f %%\n", N,
	       (t3 - t2) / (double)events * 1e6, ev, ev / a_cps * 100);
out:
	for (int i = 0; i < N; i++)
		dm_meter_free(m[i]);
}

static int env_int(const char *name, int def, int lo, int hi)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	int v = atoi(s);
	return v < lo ? lo : v > hi ? hi : v;
}

static void remove_dir(const char *dir, uint64_t *bytes, int *files)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char path[4096];
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		if (f) {
			fseek(f, 0, SEEK_END);
			*bytes += (uint64_t)ftell(f);
			fclose(f);
		}
		(*files)++;
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* Per-round overhead of variant v against A, in %. */
static void overheads(double cps[N_VARIANTS][MAX_ROUNDS], int v, int rounds, double *out)
{
	for (int r = 0; r < rounds; r++)
		out[r] = (cps[v][r] / cps[V_A][r] - 1.0) * 100.0;
}

int main(int argc, char **argv)
{
	bool fast = argc > 1 && strcmp(argv[1], "--fast") == 0;
	int rounds = env_int("BENCH_OVERHEAD_ROUNDS", 6, 1, MAX_ROUNDS);
	int seconds = env_int("BENCH_OVERHEAD_SECONDS", 5, 1, 600);
	const struct dm_profile *prof = dm_profile_find("lan");
	if (!prof) {
		fprintf(stderr, "bench_overhead: no profile lan\n");
		return 1;
	}
	frame = prof->frame_samples;
	loop_samples = (size_t)LOOP_S * RATE;
	for (int k = 0; k < CHANNELS + CONSOLES; k++) {
		float *b = malloc(loop_samples * sizeof(float));
		if (!b)
			return 1;
		make_signal(b, loop_samples, k);
		if (k < CHANNELS)
			chan_sig[k] = b;
		else
			mic_sig[k - CHANNELS] = b;
	}
	const char *tmp = getenv("TMPDIR");
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/dm-bench-overhead-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("bench_overhead: mkdtemp");
		return 1;
	}

	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 1 : 0, &one);
	bool pinned = sched_setaffinity(0, sizeof one, &one) == 0;

	struct setup set[N_VARIANTS];
	int rc = 0;
	for (int v = 0; v < N_VARIANTS; v++)
		if (setup_new((enum variant)v, prof, dir, &set[v]) < 0) {
			for (int u = 0; u <= v; u++)
				setup_free(&set[u]);
			uint64_t b = 0;
			int n = 0;
			remove_dir(dir, &b, &n);
			return 1;
		}

	long frames = (long)seconds * RATE / frame;
	double audio_s = (double)frames * frame / RATE;
	printf("bench overhead: %d channels (profile lan, %d-sample frames, "
	       "AES_CM_128_HMAC_SHA1_80, "
	       "multicast 239.255.95.x on loopback) + %d console mic meters\n",
	       CHANNELS, frame, CONSOLES);
	printf("%s, %s, the variants taking turns frame by frame; %d rounds of %.0f s of "
	       "audio; CPU time of this thread; recordings in %s\n",
	       fast ? "as fast as possible" : "in real time",
	       pinned ? "pinned to one core" : "NOT pinned", rounds, audio_s, dir);

	double cps[N_VARIANTS][MAX_ROUNDS];
	size_t pos = 0;
	for (int r = 0; r < rounds; r++) {
		double cpu[N_VARIANTS] = {0};
		play(set, r == 0 ? WARMUP_FRAMES : 0, frames, fast, &pos, cpu);
		printf("round %d:", r + 1);
		for (int v = 0; v < N_VARIANTS; v++)
			cps[v][r] = cpu[v] / audio_s;
		for (int v = 0; v < N_VARIANTS; v++)
			printf("  %c %.4f", variant_name[v][0], cps[v][r]);
		printf("  (CPU s per s of audio)\n");
		fflush(stdout);
	}

	/* Could it measure? Every recorder wrote packets, none failed. */
	uint64_t rec_packets = 0, rec_errors = 0;
	for (int v = 0; v < N_VARIANTS; v++)
		for (int c = 0; set[v].recorders && c < CHANNELS; c++) {
			struct dm_recorder_stats st;
			dm_recorder_get_stats(set[v].rec[c], &st);
			rec_packets += st.packets;
			rec_errors += st.errors + st.dropped;
			if (st.packets == 0)
				rc = 1;
		}
	uint64_t sent = 0, send_errors = 0;
	for (int c = 0; c < CHANNELS; c++) {
		struct dm_stream_stats st;
		dm_stream_get_stats(set[V_A].st[c], &st);
		sent += st.packets;
		send_errors += st.send_errors;
	}
	if (rec_errors || sent == 0 || !set[V_B].last_event)
		rc = 1;

	printf("\nvariant                     CPU s per s of audio (median, min..max)   %% of a "
	       "core   per channel-frame\n");
	for (int v = 0; v < N_VARIANTS; v++) {
		double med = median(cps[v], rounds), lo = cps[v][0], hi = cps[v][0];
		for (int r = 1; r < rounds; r++) {
			lo = fmin(lo, cps[v][r]);
			hi = fmax(hi, cps[v][r]);
		}
		printf("%-27s %.4f (%.4f..%.4f)                    %6.2f %%      %6.1f us\n",
		       variant_name[v], med, lo, hi, med * 100,
		       med / ((double)RATE / frame * CHANNELS) * 1e6);
	}
	double ov[MAX_ROUNDS];
	static const char *const what[N_VARIANTS] = {
		NULL, "meters alone (8 channels + 8 mics + 10 Hz event)",
		"recorders alone (8 channels)", "meters + recorders"};
	printf("\noverhead against A, median of the per-round ratios (min..max):\n");
	double total = 0;
	for (int v = V_M; v < N_VARIANTS; v++) {
		overheads(cps, v, rounds, ov);
		double med = median(ov, rounds), lo = ov[0], hi = ov[0];
		for (int r = 1; r < rounds; r++) {
			lo = fmin(lo, ov[r]);
			hi = fmax(hi, ov[r]);
		}
		double add[MAX_ROUNDS];
		for (int r = 0; r < rounds; r++)
			add[r] = cps[v][r] - cps[V_A][r];
		printf("  %-50s %+6.2f %% (%+.2f..%+.2f), %.2f %% of a core\n", what[v], med, lo,
		       hi, median(add, rounds) * 100);
		if (v == V_B)
			total = med;
	}
	printf("\n");
	meter_parts(&set[V_M], median(cps[V_A], rounds));
	printf("\nsent %llu packets on channel set A (%llu refused by the kernel); recorded %llu "
	       "packets (%llu errors or drops)\n",
	       (unsigned long long)sent, (unsigned long long)send_errors,
	       (unsigned long long)rec_packets, (unsigned long long)rec_errors);
	printf("not simulated: the JACK callback (routing, mixing, the rings), remote listeners, "
	       "the control loop's other work and the HTTP server, and the kernel's write-back of "
	       "the recordings (flusher threads): the real engine's CPU is larger, so its relative "
	       "overhead is smaller than this\n");

	for (int v = 0; v < N_VARIANTS; v++)
		setup_free(&set[v]);
	uint64_t bytes = 0;
	int files = 0;
	remove_dir(dir, &bytes, &files);
	printf("recordings: %d files, %.1f MB (removed)\n", files, (double)bytes / 1e6);
	if (rc) {
		printf("bench overhead: could not measure (no packets recorded, recorder errors, "
		       "or "
		       "nothing sent)\n");
		return 1;
	}
	printf("recording %d channels + metering: %+.1f %% CPU (target 5 %%)\n", CHANNELS, total);
	for (int k = 0; k < CHANNELS; k++)
		free(chan_sig[k]);
	for (int k = 0; k < CONSOLES; k++)
		free(mic_sig[k]);
	return 0;
}
