/* Benchmark: how fast a mic switch through the control API reaches the
 * channel's JACK output, and whether a sustained request load disturbs the
 * audio (the interpretation-control issue's performance targets).
 *
 * Two JACK clients of ours surround the engine (two, so the graph has no
 * loop and everything runs in one cycle): "<name>-src" feeds a constant level
 * into each of two consoles' mics (0.25 and 0.75), "<name>-rec" reads the
 * channel's program. Each level is exact, so the sample at which the program
 * leaves one level and the sample at which it reaches the other are known to
 * the sample.
 *
 * Phase 1: switches (POST .../mic {"on":true} to the console not on air, which
 * hands over within its booth), one at a time at random phases of the JACK
 * period, on a kept-alive connection. Latency = the time of the first program
 * sample 99 % of the way to the new level - the time the request went out
 * (jack_get_time() before curl_easy_perform + libcurl's pre-transfer time: on
 * loopback it arrives then). A sample's time is when its cycle's output came to
 * exist (jack_get_time() in our callback, which runs after the engine's) plus
 * its place in the period; JACK's frame clock (jack_frames_to_time) is shown
 * beside it, but it is a filtered prediction that jumps at xruns. Target: p99
 * <= one period + the crossfade.
 * Phase 2: the same time with no request (the machine's own xruns), then a
 * paced load (default 200 requests/s for 10 s over 4 connections; half mic
 * handovers, half GET state): no xrun (xrun callback), every request answered
 * 200, the rate held, and the program never leaves the range between the two
 * levels nor steps by more than a crossfade does (no glitch).
 *
 * Prints the figures; exits 1 when a target is missed, 2 when it cannot run. */
#include "dragoman/defaults.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jack/jack.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG "bench_switch"
#define LEVEL_A 0.25f
#define LEVEL_B 0.75f
/* Out of range: further than float rounding of a crossfade between the two
 * levels can go. */
#define RANGE_EPS 1e-4f
/* A crossfade of (B - A) over 240 raised-cosine samples moves at most
 * (B - A) * pi / 480 = 0.0033 per sample; a click moves far more. */
#define STEP_MAX 0.01f
#define BEGIN_FRACTION 0.01f /* the crossfade has begun: 1 % of the way */
#define DONE_FRACTION 0.99f  /* the new program is there: 99 % of the way */
#define SWITCH_TIMEOUT_US 1000000
#define MAX_THREADS 32

enum phase { PH_SETUP, PH_SWITCH, PH_IDLE, PH_LOAD, PH_N };

struct phase_stats {
	_Atomic float lo, hi, max_step;
	_Atomic uint64_t out_of_range, steps, samples;
	_Atomic unsigned xruns;
	_Atomic unsigned gaps; /* cycles this client missed (xruns): no step judged across */
};

static struct {
	jack_client_t *src, *rec;
	jack_port_t *out_a, *out_b, *in;
	/* Main thread -> callback: a switch to detect. from/to are written
	 * before arm_seq is released. */
	_Atomic uint32_t arm_seq;
	_Atomic float from, to;
	/* Callback -> main: the switch arm_seq was seen; times in JACK µs. */
	_Atomic uint32_t done_seq;
	_Atomic jack_time_t begin_us, done_us, done_frame_us;
	_Atomic double rate; /* samples per µs */
	_Atomic int phase;
	struct phase_stats st[PH_N];
	_Atomic float last;
} g;

/* Callback-only state. */
static struct {
	uint32_t seq;
	bool begun, done;
	float from, to;
	jack_time_t begin_us;
	bool have_prev;
	float prev;
	jack_nframes_t next_f0; /* the frame time the next cycle should start at */
} cb;

static int src_process(jack_nframes_t n, void *arg)
{
	(void)arg;
	float *a = jack_port_get_buffer(g.out_a, n), *b = jack_port_get_buffer(g.out_b, n);
	for (jack_nframes_t i = 0; i < n; i++) {
		a[i] = LEVEL_A;
		b[i] = LEVEL_B;
	}
	return 0;
}

static int rec_process(jack_nframes_t n, void *arg)
{
	(void)arg;
	/* When this cycle's program came to exist: now, as the engine has run
	 * before us in this cycle. Sample i of it is i sample periods later. */
	jack_time_t now = jack_get_time();
	const float *x = jack_port_get_buffer(g.in, n);
	jack_nframes_t f0 = jack_last_frame_time(g.rec);
	double per_us = atomic_load_explicit(&g.rate, memory_order_relaxed);
	uint32_t seq = atomic_load_explicit(&g.arm_seq, memory_order_acquire);
	if (seq != cb.seq) {
		cb.seq = seq;
		cb.from = atomic_load_explicit(&g.from, memory_order_relaxed);
		cb.to = atomic_load_explicit(&g.to, memory_order_relaxed);
		cb.begun = cb.done = false;
	}
	int ph = atomic_load_explicit(&g.phase, memory_order_relaxed);
	struct phase_stats *st = &g.st[ph];
	float lo = atomic_load_explicit(&st->lo, memory_order_relaxed);
	float hi = atomic_load_explicit(&st->hi, memory_order_relaxed);
	float max_step = atomic_load_explicit(&st->max_step, memory_order_relaxed);
	uint64_t out = 0, steps = 0;
	float span = fabsf(cb.to - cb.from);
	/* A cycle we were not run in (an xrun) took its samples with it: the
	 * program jumps by what the crossfade moved meanwhile (128 of 240
	 * samples of a ramp: 0.27). The xrun is counted as one; the samples on
	 * either side are not a step in the program. */
	if (cb.have_prev && f0 != cb.next_f0) {
		cb.have_prev = false;
		if (ph != PH_SETUP)
			atomic_fetch_add_explicit(&st->gaps, 1, memory_order_relaxed);
	}
	cb.next_f0 = f0 + n;
	for (jack_nframes_t i = 0; i < n; i++) {
		float v = x[i];
		if (v < lo)
			lo = v;
		if (v > hi)
			hi = v;
		if (v < LEVEL_A - RANGE_EPS || v > LEVEL_B + RANGE_EPS)
			out++;
		if (cb.have_prev) {
			float d = fabsf(v - cb.prev);
			if (d > max_step)
				max_step = d;
			if (d > STEP_MAX)
				steps++;
		}
		cb.prev = v;
		cb.have_prev = true;
		if (!cb.seq || cb.done)
			continue;
		if (!cb.begun && fabsf(v - cb.from) > BEGIN_FRACTION * span) {
			cb.begun = true;
			cb.begin_us = now + (jack_time_t)((double)i / per_us);
		}
		if (cb.begun && fabsf(v - cb.to) <= (1.0f - DONE_FRACTION) * span) {
			cb.done = true;
			atomic_store_explicit(&g.begin_us, cb.begin_us, memory_order_relaxed);
			atomic_store_explicit(&g.done_us, now + (jack_time_t)((double)i / per_us),
					      memory_order_relaxed);
			atomic_store_explicit(&g.done_frame_us, jack_frames_to_time(g.rec, f0 + i),
					      memory_order_relaxed);
			atomic_store_explicit(&g.done_seq, cb.seq, memory_order_release);
		}
	}
	if (ph != PH_SETUP) {
		atomic_store_explicit(&st->lo, lo, memory_order_relaxed);
		atomic_store_explicit(&st->hi, hi, memory_order_relaxed);
		atomic_store_explicit(&st->max_step, max_step, memory_order_relaxed);
		atomic_fetch_add_explicit(&st->out_of_range, out, memory_order_relaxed);
		atomic_fetch_add_explicit(&st->steps, steps, memory_order_relaxed);
		atomic_fetch_add_explicit(&st->samples, n, memory_order_relaxed);
	}
	atomic_store_explicit(&g.last, x[n - 1], memory_order_relaxed);
	return 0;
}

static int on_xrun(void *arg)
{
	(void)arg;
	int ph = atomic_load_explicit(&g.phase, memory_order_relaxed);
	atomic_fetch_add_explicit(&g.st[ph].xruns, 1, memory_order_relaxed);
	return 0;
}

/* ------------------------------------------------------------------ HTTP */

struct http {
	CURL *curl;
	struct curl_slist *hdr;
	char base[512];
	char err[CURL_ERROR_SIZE];
};

static size_t discard(char *p, size_t size, size_t n, void *user)
{
	(void)p;
	(void)user;
	return size * n;
}

static int http_init(struct http *h, const char *base, const char *token)
{
	memset(h, 0, sizeof *h);
	snprintf(h->base, sizeof h->base, "%s", base);
	h->curl = curl_easy_init();
	if (!h->curl)
		return -1;
	char auth[700];
	snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
	h->hdr = curl_slist_append(NULL, auth);
	h->hdr = curl_slist_append(h->hdr, "Content-Type: application/json");
	h->hdr = curl_slist_append(h->hdr, "Expect:");
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->hdr);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->err);
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_TCP_NODELAY, 1L);
	return 0;
}

static void http_free(struct http *h)
{
	curl_slist_free_all(h->hdr);
	curl_easy_cleanup(h->curl);
}

/* One request on the handle's kept-alive connection: the HTTP status, or -1
 * when none came (h->err says why). body NULL: GET. */
static long http_do(struct http *h, const char *path, const char *body)
{
	char url[1024];
	snprintf(url, sizeof url, "%s%s", h->base, path);
	curl_easy_setopt(h->curl, CURLOPT_URL, url);
	if (body) {
		curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
	} else {
		curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
	}
	h->err[0] = '\0';
	if (curl_easy_perform(h->curl) != CURLE_OK)
		return -1;
	long code = 0;
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

/* ------------------------------------------------------------------ figures */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least p of the values at or below it. */
static double pct(const double *sorted, size_t n, double p)
{
	size_t k = (size_t)ceil(p * (double)n);
	return sorted[k ? k - 1 : 0];
}

static void summary(const char *what, double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	printf("  %-46s min %6.2f  median %6.2f  p99 %6.2f  max %6.2f ms\n", what, v[0],
	       pct(v, n, 0.5), pct(v, n, 0.99), v[n - 1]);
}

static void miss(char *why, size_t cap, const char *what)
{
	size_t len = strlen(why);
	snprintf(why + len, cap - len, "%s%s", len ? ", " : "", what);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_until(double t)
{
	struct timespec ts = {(time_t)t, (long)((t - floor(t)) * 1e9)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
		;
}

static void sleep_us(double us)
{
	sleep_until(now_s() + us * 1e-6);
}

static uint64_t rng_state = 88172645463325252ull;

static double rnd01(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* ------------------------------------------------------------------ options */

static struct {
	const char *url, *token_file, *engine, *channel, *con[2], *name, *dump;
	long switches, warmup, seconds, threads;
	double rate, target_ms;
} opt = {
	.url = "http://127.0.0.1:8470",
	.engine = "dragoman",
	.channel = "fr",
	.con = {"fr-1", "fr-2"},
	.name = "dm-bench-switch",
	.switches = 1000,
	.warmup = 20,
	.seconds = 10,
	.threads = 4,
	.rate = 200,
};

static char token[600];

static void usage(FILE *f)
{
	fputs("usage: " PROG " --token-file F [options]\n"
	      "  --url URL          control API (default http://127.0.0.1:8470)\n"
	      "  --token-file F     a technician token, first line of F\n"
	      "  --engine NAME      the engine's JACK client (default dragoman)\n"
	      "  --channel ID       the channel both consoles work into (default fr)\n"
	      "  --consoles A,B     two consoles of one booth on that channel (default fr-1,fr-2)\n"
	      "  --switches N       measured switches (default 1000), after --warmup N (20)\n"
	      "  --rate R           requests per second of the load phase (default 200)\n"
	      "  --seconds S        length of the load phase (default 10; 0: none)\n"
	      "  --threads T        connections of the load phase (default 4)\n"
	      "  --target-ms X      p99 target (default one JACK period + the crossfade)\n"
	      "  --name NAME        prefix of our JACK clients (default dm-bench-switch)\n"
	      "  --dump F           each switch's figures to F (ms: done, done on the frame\n"
	      "                     clock, begin, HTTP round trip, libcurl before sending)\n",
	      f);
}

static int parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{"url", required_argument, NULL, 'u'},
		{"token-file", required_argument, NULL, 't'},
		{"engine", required_argument, NULL, 'e'},
		{"channel", required_argument, NULL, 'c'},
		{"consoles", required_argument, NULL, 'C'},
		{"switches", required_argument, NULL, 'n'},
		{"warmup", required_argument, NULL, 'w'},
		{"rate", required_argument, NULL, 'r'},
		{"seconds", required_argument, NULL, 's'},
		{"threads", required_argument, NULL, 'T'},
		{"target-ms", required_argument, NULL, 'x'},
		{"name", required_argument, NULL, 'N'},
		{"dump", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static char consoles[256];
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'u': opt.url = optarg; break;
		case 't': opt.token_file = optarg; break;
		case 'e': opt.engine = optarg; break;
		case 'c': opt.channel = optarg; break;
		case 'C': {
			snprintf(consoles, sizeof consoles, "%s", optarg);
			char *comma = strchr(consoles, ',');
			if (!comma || comma == consoles || !comma[1]) {
				fprintf(stderr, PROG ": --consoles wants A,B\n");
				return -1;
			}
			*comma = '\0';
			opt.con[0] = consoles;
			opt.con[1] = comma + 1;
			break;
		}
		case 'n': opt.switches = atol(optarg); break;
		case 'w': opt.warmup = atol(optarg); break;
		case 'r': opt.rate = atof(optarg); break;
		case 's': opt.seconds = atol(optarg); break;
		case 'T': opt.threads = atol(optarg); break;
		case 'x': opt.target_ms = atof(optarg); break;
		case 'N': opt.name = optarg; break;
		case 'd': opt.dump = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc || !opt.token_file || opt.switches < 1 || opt.warmup < 0 ||
	    opt.seconds < 0 || opt.threads < 1 || opt.threads > MAX_THREADS || opt.rate <= 0) {
		usage(stderr);
		return -1;
	}
	FILE *f = fopen(opt.token_file, "r");
	if (!f || !fgets(token, sizeof token, f)) {
		fprintf(stderr, PROG ": cannot read a token from %s\n", opt.token_file);
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	token[strcspn(token, "\r\n")] = '\0';
	if (!token[0]) {
		fprintf(stderr, PROG ": %s: empty token\n", opt.token_file);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ JACK */

static int jack_up(void)
{
	char name[256];
	snprintf(name, sizeof name, "%s-src", opt.name);
	g.src = jack_client_open(name, JackNoStartServer, NULL);
	snprintf(name, sizeof name, "%s-rec", opt.name);
	g.rec = jack_client_open(name, JackNoStartServer, NULL);
	if (!g.src || !g.rec) {
		fprintf(stderr, PROG ": cannot open a JACK client (is the server running?)\n");
		return -1;
	}
	g.out_a = jack_port_register(g.src, "a", JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
	g.out_b = jack_port_register(g.src, "b", JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
	g.in = jack_port_register(g.rec, "in", JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
	if (!g.out_a || !g.out_b || !g.in) {
		fprintf(stderr, PROG ": cannot register JACK ports\n");
		return -1;
	}
	atomic_store(&g.rate, jack_get_sample_rate(g.rec) / 1e6);
	jack_set_process_callback(g.src, src_process, NULL);
	jack_set_process_callback(g.rec, rec_process, NULL);
	jack_set_xrun_callback(g.rec, on_xrun, NULL);
	if (jack_activate(g.src) || jack_activate(g.rec)) {
		fprintf(stderr, PROG ": cannot activate the JACK clients\n");
		return -1;
	}
	const char *pairs[3][2];
	char dst[2][300], prog[300];
	for (int i = 0; i < 2; i++)
		snprintf(dst[i], sizeof dst[i], "%s:%s.mic", opt.engine, opt.con[i]);
	snprintf(prog, sizeof prog, "%s:%s.program", opt.engine, opt.channel);
	pairs[0][0] = jack_port_name(g.out_a);
	pairs[0][1] = dst[0];
	pairs[1][0] = jack_port_name(g.out_b);
	pairs[1][1] = dst[1];
	pairs[2][0] = prog;
	pairs[2][1] = jack_port_name(g.in);
	for (int i = 0; i < 3; i++) {
		if (jack_connect(g.rec, pairs[i][0], pairs[i][1])) {
			fprintf(stderr, PROG ": cannot connect %s to %s\n", pairs[i][0],
				pairs[i][1]);
			return -1;
		}
	}
	return 0;
}

static void jack_down(void)
{
	if (g.rec)
		jack_client_close(g.rec);
	if (g.src)
		jack_client_close(g.src);
}

/* ------------------------------------------------------------------ phases */

static const float levels[2] = {LEVEL_A, LEVEL_B};

static long mic_on(struct http *h, int console)
{
	char path[300];
	snprintf(path, sizeof path, "/api/v1/consoles/%s/mic", opt.con[console]);
	return http_do(h, path, "{\"on\":true}");
}

/* Puts console on air and waits until the program carries its level. */
static int settle(struct http *h, int console)
{
	long code = mic_on(h, console);
	if (code != 200) {
		fprintf(stderr, PROG ": POST mic of %s: %s%ld %s\n", opt.con[console],
			code < 0 ? "no answer " : "HTTP ", code, h->err);
		return -1;
	}
	for (int i = 0; i < 2000; i++) {
		if (fabsf(atomic_load(&g.last) - levels[console]) < 1e-6f)
			return 0;
		sleep_us(1000);
	}
	fprintf(stderr,
		PROG ": %s:%s.program does not carry %s's level %.2f (reads %.4f): "
		     "is %s on channel %s?\n",
		opt.engine, opt.channel, opt.con[console], (double)levels[console],
		(double)atomic_load(&g.last), opt.con[console], opt.channel);
	return -1;
}

struct switch_results {
	double *done, *frame, *begin, *http, *pre;
	size_t n;
	long timeouts, errors, early;
};

/* Phase 1: one switch at a time. Returns the console on air at the end. */
static int run_switches(struct http *h, int live, double period_us, struct switch_results *r,
			FILE *dump)
{
	long total = opt.warmup + opt.switches;
	for (long k = 0; k < total; k++) {
		int next = !live;
		atomic_store_explicit(&g.from, levels[live], memory_order_relaxed);
		atomic_store_explicit(&g.to, levels[next], memory_order_relaxed);
		uint32_t seq = (uint32_t)k + 1;
		atomic_store_explicit(&g.arm_seq, seq, memory_order_release);
		jack_time_t t0 = jack_get_time();
		long code = mic_on(h, next);
		jack_time_t t1 = jack_get_time();
		/* Our own side (libcurl until the request goes out) is not the
		 * engine's: the request arrives about when it is sent (loopback). */
		curl_off_t pre = 0;
		curl_easy_getinfo(h->curl, CURLINFO_PRETRANSFER_TIME_T, &pre);
		if (pre < 0 || (jack_time_t)pre > t1 - t0)
			pre = 0;
		int64_t sent = (int64_t)t0 + (int64_t)pre;
		if (code != 200) {
			fprintf(stderr, PROG ": switch %ld: POST mic of %s: %s%ld %s\n", k,
				opt.con[next], code < 0 ? "no answer " : "HTTP ", code, h->err);
			r->errors++;
			/* Wherever it is now, start again from a known state. */
			if (settle(h, live) < 0)
				return -1;
			continue;
		}
		live = next;
		bool seen = false;
		while (jack_get_time() - t0 < SWITCH_TIMEOUT_US) {
			if (atomic_load_explicit(&g.done_seq, memory_order_acquire) == seq) {
				seen = true;
				break;
			}
			sleep_us(200);
		}
		if (k < opt.warmup)
			goto next;
		if (!seen) {
			fprintf(stderr,
				PROG ": switch %ld to %s: no change at the output in %d ms\n", k,
				opt.con[live], SWITCH_TIMEOUT_US / 1000);
			r->timeouts++;
			if (settle(h, live) < 0)
				return -1;
			continue;
		}
		double done = (double)((int64_t)atomic_load(&g.done_us) - sent) / 1e3;
		double frame = (double)((int64_t)atomic_load(&g.done_frame_us) - sent) / 1e3;
		double begin = (double)((int64_t)atomic_load(&g.begin_us) - sent) / 1e3;
		if ((int64_t)atomic_load(&g.begin_us) < (int64_t)t0)
			r->early++; /* moved before we asked: not ours */
		r->done[r->n] = done;
		r->frame[r->n] = frame;
		r->begin[r->n] = begin;
		r->http[r->n] = (double)(t1 - t0) / 1e3;
		r->pre[r->n] = (double)pre / 1e3;
		if (dump)
			fprintf(dump, "%.3f %.3f %.3f %.3f %.3f\n", done, frame, begin,
				r->http[r->n], r->pre[r->n]);
		r->n++;
	next:
		/* A random phase against the JACK period for the next one. */
		sleep_us(500 + rnd01() * 3 * period_us);
	}
	return live;
}

struct load_thread {
	pthread_t thread;
	int index;
	double start;
	long sent, ok, failed, late;
	double *rtt;
	size_t n_rtt, cap_rtt;
	long first_bad;
	char first_err[CURL_ERROR_SIZE + 64];
};

/* Phase 2: each thread its share of the rate on its own connection, paced on
 * absolute times so a slow answer is caught up, never skipped. */
static void *load_main(void *arg)
{
	struct load_thread *t = arg;
	struct http h;
	if (http_init(&h, opt.url, token) < 0) {
		snprintf(t->first_err, sizeof t->first_err, "curl_easy_init failed");
		t->failed = 1;
		return NULL;
	}
	double interval = (double)opt.threads / opt.rate;
	long count = (long)((double)opt.seconds * opt.rate / (double)opt.threads);
	for (long k = 0; k < count; k++) {
		double when = t->start + ((double)t->index / opt.rate) + (double)k * interval;
		double now = now_s();
		if (now < when)
			sleep_until(when);
		else if (now - when > interval)
			t->late++;
		/* Half handovers (either console, from any connection), half reads. */
		long code;
		double a = now_s();
		if ((k + t->index) % 2)
			code = http_do(&h, "/api/v1/state", NULL);
		else
			code = mic_on(&h, (int)((k / 2 + (long)t->index) % 2));
		double b = now_s();
		t->sent++;
		if (code == 200) {
			t->ok++;
		} else {
			if (!t->failed)
				snprintf(t->first_err, sizeof t->first_err, "%s%ld %s",
					 code < 0 ? "no answer " : "HTTP ", code, h.err);
			t->failed++;
		}
		if (t->n_rtt < t->cap_rtt)
			t->rtt[t->n_rtt++] = (b - a) * 1e3;
	}
	http_free(&h);
	return NULL;
}

static void print_program(const char *what, const struct phase_stats *st)
{
	printf("  program %s: range %.4f..%.4f (levels %.2f, %.2f), largest step %.4f "
	       "(limit %.2f), %llu samples out of range, %llu steps over the limit; %u cycles "
	       "missed by the recording client (xruns; no step judged across them)\n",
	       what, (double)atomic_load(&st->lo), (double)atomic_load(&st->hi), (double)LEVEL_A,
	       (double)LEVEL_B, (double)atomic_load(&st->max_step), (double)STEP_MAX,
	       (unsigned long long)atomic_load(&st->out_of_range),
	       (unsigned long long)atomic_load(&st->steps), atomic_load(&st->gaps));
}

int main(int argc, char **argv)
{
	if (parse(argc, argv) < 0)
		return 2;
	rng_state ^= (uint64_t)(now_s() * 1e9);
	for (int p = 0; p < PH_N; p++) {
		atomic_init(&g.st[p].lo, INFINITY);
		atomic_init(&g.st[p].hi, -INFINITY);
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, PROG ": curl_global_init failed\n");
		return 2;
	}
	int ret = 2;
	struct http h;
	struct switch_results r = {0};
	struct load_thread th[MAX_THREADS];
	memset(th, 0, sizeof th);
	if (http_init(&h, opt.url, token) < 0) {
		fprintf(stderr, PROG ": curl_easy_init failed\n");
		goto out;
	}
	if (jack_up() < 0)
		goto out;
	jack_nframes_t period = jack_get_buffer_size(g.rec);
	jack_nframes_t rate = jack_get_sample_rate(g.rec);
	double period_us = 1e6 * period / rate;
	double fade_ms = 1e3 * DM_CROSSFADE_SAMPLES / rate;
	/* Where the router's raised-cosine crossfade is DONE_FRACTION of the way. */
	double fade_done_ms =
		1e3 * ceil(DM_CROSSFADE_SAMPLES * acos(1.0 - 2.0 * DONE_FRACTION) / M_PI) / rate;
	double target = opt.target_ms > 0 ? opt.target_ms : period_us / 1e3 + fade_ms;

	size_t n = (size_t)opt.switches;
	r.done = calloc(n, sizeof(double));
	r.begin = calloc(n, sizeof(double));
	r.frame = calloc(n, sizeof(double));
	r.http = calloc(n, sizeof(double));
	r.pre = calloc(n, sizeof(double));
	if (!r.done || !r.frame || !r.begin || !r.http || !r.pre) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}

	/* A known start: the first console on air, the program at its level. */
	if (settle(&h, 0) < 0)
		goto out;
	atomic_store(&g.phase, PH_SWITCH);
	double t_sw = now_s();
	FILE *dump = NULL;
	if (opt.dump && !(dump = fopen(opt.dump, "w"))) {
		fprintf(stderr, PROG ": cannot write %s\n", opt.dump);
		goto out;
	}
	int live = run_switches(&h, 0, period_us, &r, dump);
	if (dump)
		fclose(dump);
	t_sw = now_s() - t_sw;
	atomic_store(&g.phase, PH_SETUP);
	sleep_us(20000); /* a callback that read the phase before is done with it */
	if (live < 0)
		goto out;

	char why[256] = "";
	printf("switch latency, %s:%s.program, JACK period %u at %u Hz (%.2f ms), crossfade %d "
	       "samples (%.2f ms); %zu switches after %ld warm-up, %.1f s:\n",
	       opt.engine, opt.channel, period, rate, period_us / 1e3, DM_CROSSFADE_SAMPLES,
	       fade_ms, r.n, opt.warmup, t_sw);
	if (r.n) {
		summary("request -> new program (99 % of the way)", r.done, r.n);
		summary("  the same on JACK's frame clock", r.frame, r.n);
		summary("request -> crossfade begins (1 % of the way)", r.begin, r.n);
		summary("HTTP round trip of the POST", r.http, r.n);
		summary("  of which libcurl before sending", r.pre, r.n);
		double p99 = pct(r.done, r.n, 0.99);
		printf("  p99 %.2f ms, target <= %.2f ms (one period + the crossfade): %s\n", p99,
		       target, p99 <= target ? "met" : "MISSED");
		if (p99 > target)
			miss(why, sizeof why, "p99 latency");
		printf("  (the 99 %% point is %.2f ms into the crossfade: that leaves %.2f ms at "
		       "p99 for "
		       "the request's handling and the JACK graph)\n",
		       fade_done_ms, target - period_us / 1e3 - fade_done_ms);
	}
	print_program("while switching", &g.st[PH_SWITCH]);
	printf("  timeouts %ld, request errors %ld, moved before the request %ld, xruns %u\n",
	       r.timeouts, r.errors, r.early, atomic_load(&g.st[PH_SWITCH].xruns));
	if (r.timeouts || r.errors || r.early || r.n < n)
		miss(why, sizeof why, "switch errors");
	if (atomic_load(&g.st[PH_SWITCH].out_of_range) || atomic_load(&g.st[PH_SWITCH].steps))
		miss(why, sizeof why, "glitch while switching");

	if (opt.seconds > 0) {
		/* The same time with no request: xruns here are the machine's
		 * (timer wake-ups, other work), not the load's. */
		atomic_store(&g.phase, PH_IDLE);
		sleep_us((double)opt.seconds * 1e6);
		atomic_store(&g.phase, PH_SETUP);
		sleep_us(20000);

		long per = (long)((double)opt.seconds * opt.rate / (double)opt.threads);
		double start = now_s() + 0.1;
		atomic_store(&g.phase, PH_LOAD);
		for (int i = 0; i < opt.threads; i++) {
			th[i].index = i;
			th[i].start = start;
			th[i].cap_rtt = (size_t)per;
			th[i].rtt = calloc((size_t)per + 1, sizeof(double));
			if (!th[i].rtt || pthread_create(&th[i].thread, NULL, load_main, &th[i])) {
				fprintf(stderr, PROG ": cannot start load thread %d\n", i);
				atomic_store(&g.phase, PH_SETUP);
				for (int j = 0; j < i; j++)
					pthread_join(th[j].thread, NULL);
				goto out;
			}
		}
		for (int i = 0; i < opt.threads; i++)
			pthread_join(th[i].thread, NULL);
		double elapsed = now_s() - start;
		/* The audio a little past the last request: a late glitch counts. */
		sleep_us(50000);
		float dsp = jack_cpu_load(g.rec);
		atomic_store(&g.phase, PH_SETUP);
		sleep_us(20000);
		long sent = 0, ok = 0, failed = 0, late = 0;
		size_t n_rtt = 0;
		for (int i = 0; i < opt.threads; i++) {
			sent += th[i].sent;
			ok += th[i].ok;
			failed += th[i].failed;
			late += th[i].late;
			n_rtt += th[i].n_rtt;
		}
		double *rtt = calloc(n_rtt + 1, sizeof(double));
		size_t m = 0;
		for (int i = 0; i < opt.threads && rtt; i++)
			for (size_t k = 0; k < th[i].n_rtt; k++)
				rtt[m++] = th[i].rtt[k];
		double achieved = (double)ok / elapsed;
		unsigned xruns = atomic_load(&g.st[PH_LOAD].xruns);
		unsigned idle_xruns = atomic_load(&g.st[PH_IDLE].xruns);
		printf("load: %.0f requests/s for %ld s on %ld connections (half POST mic "
		       "handovers, "
		       "half GET state):\n",
		       opt.rate, opt.seconds, opt.threads);
		printf("  %ld sent, %ld answered 200, %ld failed, %ld sent late; %.1f requests/s "
		       "achieved over %.2f s\n",
		       sent, ok, failed, late, achieved, elapsed);
		for (int i = 0; i < opt.threads; i++)
			if (th[i].failed)
				printf("  connection %d, first failure: %s\n", i, th[i].first_err);
		if (rtt && m)
			summary("HTTP round trip", rtt, m);
		free(rtt);
		print_program("under load", &g.st[PH_LOAD]);
		print_program("idle, before", &g.st[PH_IDLE]);
		printf("  xruns under load %u (target 0): %s; in the same time idle just before: "
		       "%u%s; "
		       "JACK DSP load %.1f %%\n",
		       xruns, xruns ? "MISSED" : "met", idle_xruns,
		       idle_xruns ? " (the machine's own: the load is not alone to blame)" : "",
		       (double)dsp);
		if (xruns)
			miss(why, sizeof why, "xruns under load");
		if (failed)
			miss(why, sizeof why, "failed requests");
		if (achieved < 0.98 * opt.rate)
			miss(why, sizeof why, "request rate");
		if (atomic_load(&g.st[PH_LOAD].out_of_range) || atomic_load(&g.st[PH_LOAD].steps))
			miss(why, sizeof why, "glitch under load");
	}
	if (why[0])
		printf("switch benchmark: FAILED (%s)\n", why);
	else
		printf("switch benchmark: all targets met\n");
	ret = why[0] ? 1 : 0;
out:
	jack_down();
	for (int i = 0; i < MAX_THREADS; i++)
		free(th[i].rtt);
	free(r.done);
	free(r.begin);
	free(r.frame);
	free(r.http);
	free(r.pre);
	if (h.curl)
		http_free(&h);
	curl_global_cleanup();
	return ret;
}
