/* dragoman-latency: measures mouth-to-ear delay inside a JACK graph by
 * recording a reference port (what goes into the mic or floor) and a test
 * port (what a listener plays) in the same JACK cycle, then finding the lag
 * that best aligns them (cross-correlation). Works on speech or tones, so a
 * technician can measure a live channel without a test signal. */
#include "dragoman/defaults.h"

#include <getopt.h>
#include <jack/jack.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAIRS 16
#define MAX_LAG_MS 300.0
#define DECIM 8

struct pair {
	char ref_src[256], test_src[256];
	jack_port_t *ref, *test;
	float *ref_buf, *test_buf;
};

static struct pair pairs[MAX_PAIRS];
static size_t n_pairs;
static size_t cap_samples;
static _Atomic size_t recorded;
static _Atomic bool recording;

static int process(jack_nframes_t n, void *arg)
{
	(void)arg;
	if (!atomic_load_explicit(&recording, memory_order_acquire))
		return 0;
	size_t at = atomic_load_explicit(&recorded, memory_order_relaxed);
	size_t take = at + n <= cap_samples ? n : cap_samples - at;
	for (size_t p = 0; p < n_pairs; p++) {
		memcpy(pairs[p].ref_buf + at, jack_port_get_buffer(pairs[p].ref, n),
		       take * sizeof(float));
		memcpy(pairs[p].test_buf + at, jack_port_get_buffer(pairs[p].test, n),
		       take * sizeof(float));
	}
	atomic_store_explicit(&recorded, at + take, memory_order_release);
	return 0;
}

/* Normalised correlation of ref[i] with test[i + lag] over n samples. */
static double corr_at(const float *ref, const float *test, size_t n, size_t lag, size_t step)
{
	double xy = 0, xx = 0, yy = 0;
	for (size_t i = 0; i + lag < n; i += step) {
		double x = ref[i], y = test[i + lag];
		xy += x * y;
		xx += x * x;
		yy += y * y;
	}
	return xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : 0;
}

static void measure(const struct pair *p, size_t n, double *lag_ms, double *corr, double *level_db)
{
	size_t max_lag = (size_t)(MAX_LAG_MS * DM_SAMPLE_RATE / 1000.0);
	if (max_lag > n / 2)
		max_lag = n / 2;
	/* Decimated box-filtered copies for a coarse search, then the exact
	 * lag at full rate around the coarse peak. */
	size_t nd = n / DECIM;
	float *rd = calloc(nd + 1, sizeof *rd), *td = calloc(nd + 1, sizeof *td);
	for (size_t i = 0; i < nd; i++) {
		for (size_t k = 0; k < DECIM; k++) {
			rd[i] += p->ref_buf[i * DECIM + k];
			td[i] += p->test_buf[i * DECIM + k];
		}
	}
	size_t best = 0;
	double bc = -2;
	for (size_t l = 0; l < max_lag / DECIM; l++) {
		double c = corr_at(rd, td, nd, l, 1);
		if (c > bc) {
			bc = c;
			best = l * DECIM;
		}
	}
	size_t lo = best > 2 * DECIM ? best - 2 * DECIM : 0;
	size_t fine = best;
	bc = -2;
	for (size_t l = lo; l <= best + 2 * DECIM && l < max_lag; l++) {
		double c = corr_at(p->ref_buf, p->test_buf, n, l, 1);
		if (c > bc) {
			bc = c;
			fine = l;
		}
	}
	double e = 0;
	for (size_t i = 0; i < n; i++)
		e += (double)p->test_buf[i] * p->test_buf[i];
	*level_db = e > 0 ? 10 * log10(e / (double)n) : -200;
	*lag_ms = (double)fine * 1000.0 / DM_SAMPLE_RATE;
	*corr = bc;
	free(rd);
	free(td);
}

static void usage(FILE *f)
{
	fputs("usage: dragoman-latency [--name N] [--duration S] [--json] --pair REF,TEST ...\n"
	      "  records REF (e.g. the port feeding dragoman:floor) and TEST (e.g.\n"
	      "  dragoman-listen:out) and prints the delay of TEST behind REF\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"name", required_argument, NULL, 'n'}, {"duration", required_argument, NULL, 'd'},
		{"pair", required_argument, NULL, 'p'}, {"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},	{NULL, 0, NULL, 0},
	};
	const char *name = "dragoman-latency";
	double duration = 5;
	bool json = false;
	int o;
	while ((o = getopt_long(argc, argv, "n:d:p:jh", opts, NULL)) != -1) {
		switch (o) {
		case 'n': name = optarg; break;
		case 'd': duration = atof(optarg); break;
		case 'j': json = true; break;
		case 'p': {
			char *comma = strchr(optarg, ',');
			if (!comma || n_pairs == MAX_PAIRS) {
				fprintf(stderr, "dragoman-latency: bad --pair %s\n", optarg);
				return 2;
			}
			*comma = 0;
			snprintf(pairs[n_pairs].ref_src, sizeof pairs[n_pairs].ref_src, "%s",
				 optarg);
			snprintf(pairs[n_pairs].test_src, sizeof pairs[n_pairs].test_src, "%s",
				 comma + 1);
			n_pairs++;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!n_pairs || duration <= 0.5) {
		usage(stderr);
		return 2;
	}
	cap_samples = (size_t)(duration * DM_SAMPLE_RATE);
	jack_status_t st;
	jack_client_t *c = jack_client_open(name, JackNoStartServer, &st);
	if (!c) {
		fprintf(stderr, "dragoman-latency: no JACK server\n");
		return 1;
	}
	for (size_t p = 0; p < n_pairs; p++) {
		char pn[32];
		snprintf(pn, sizeof pn, "ref%zu", p);
		pairs[p].ref =
			jack_port_register(c, pn, JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
		snprintf(pn, sizeof pn, "test%zu", p);
		pairs[p].test =
			jack_port_register(c, pn, JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
		pairs[p].ref_buf = calloc(cap_samples, sizeof(float));
		pairs[p].test_buf = calloc(cap_samples, sizeof(float));
		if (!pairs[p].ref || !pairs[p].test || !pairs[p].ref_buf || !pairs[p].test_buf) {
			fprintf(stderr, "dragoman-latency: cannot set up\n");
			return 1;
		}
	}
	jack_set_process_callback(c, process, NULL);
	if (jack_activate(c) != 0)
		return 1;
	for (size_t p = 0; p < n_pairs; p++) {
		if (jack_connect(c, pairs[p].ref_src, jack_port_name(pairs[p].ref)) != 0 ||
		    jack_connect(c, pairs[p].test_src, jack_port_name(pairs[p].test)) != 0) {
			fprintf(stderr, "dragoman-latency: cannot connect %s / %s\n",
				pairs[p].ref_src, pairs[p].test_src);
			return 1;
		}
	}
	atomic_store(&recording, true);
	while (atomic_load(&recorded) < cap_samples) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	atomic_store(&recording, false);
	jack_deactivate(c);
	jack_client_close(c);
	for (size_t p = 0; p < n_pairs; p++) {
		double lag, corr, level;
		measure(&pairs[p], cap_samples, &lag, &corr, &level);
		if (json)
			printf("{\"ref\":\"%s\",\"test\":\"%s\",\"latency_ms\":%.2f,"
			       "\"correlation\":%.3f,"
			       "\"test_level_dbfs\":%.1f}\n",
			       pairs[p].ref_src, pairs[p].test_src, lag, corr, level);
		else
			printf("%s -> %s: %.2f ms (correlation %.2f)\n", pairs[p].ref_src,
			       pairs[p].test_src, lag, corr);
	}
	return 0;
}
