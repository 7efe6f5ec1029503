/* dm-wav-tone: measures a recorded test tone, for the integration tests.
 *
 *   dm-wav-tone FILE [--skip SECONDS] [--length SECONDS] [--freqs 300,500,...]
 *               [--segments HOP_MS] [--max-step]
 *
 * Prints one JSON line:
 *   duration_s        length of the whole file
 *   analysed_s        length analysed (after --skip, at most --length)
 *   rate, channels
 *   rms_dbfs          20 log10(rms) of the analysed part (a full-scale sine reads -3.01);
 *                     -200 for digital silence or no samples
 *   peak_dbfs         20 log10(max |sample|)
 *   block_rms_min_dbfs / block_rms_max_dbfs   rms of the quietest / loudest 20 ms block:
 *                     a dropout in a continuous tone shows in the minimum
 *   zero_run_max_s / zero_run_at_s   the longest run of samples that are exactly 0 (an
 *                     output's underrun, to the sample) and where it starts (file time)
 *   freq              dominant frequency: among --freqs, or a scan of 50..4000 Hz in 10 Hz
 *                     steps; null when there is nothing to measure
 *   freq_dbfs         estimated peak amplitude of that tone (0 dBFS = full-scale sine)
 *   freq_db_margin    how many dB the best beats the second best (in scan mode the second
 *                     best lies at least 30 Hz away, outside the best one's window lobe)
 *   purity_db         10 log10(tone power / total power): about 0 for a clean tone,
 *                     well below 0 when something else is mixed in
 *   levels            with --freqs: estimated amplitude (dBFS) of each listed frequency
 *   segments          with --segments HOP_MS: the analysed part as a time line, for
 *                     finding when a tone changes: 20 ms Hann windows every HOP_MS, each
 *                     classed as the dominant frequency (10 dB above the next), 0 for
 *                     silence (window rms under -50 dBFS) or -1 for unclear (a mix);
 *                     runs of one class as [class, start_s, end_s] in file time, a
 *                     window standing for HOP_MS around its centre
 *   max_step / max_step_at_s   with --max-step: the largest |x[i] - x[i-1]| of the
 *                     analysed part (mono) and the file time of x[i]: a click at a switch
 *                     shows as a step larger than the signals' own (a sine of amplitude
 *                     A and frequency f never steps more than 2 pi f A / rate)
 *
 * Spectral estimates are Goertzel powers over 100 ms Hann-windowed blocks,
 * summed over the blocks (10 Hz resolution, tolerant of a slightly drifting
 * tone). Channels are averaged to mono. Exit 0, or 2 with a message. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/types.h>

#include <sndfile.h>

#define MAX_FREQS 512
#define SILENCE_DB -200.0

static double to_db(double x)
{
	if (!(x > 0.0))
		return SILENCE_DB;
	double db = 20.0 * log10(x);
	return db < SILENCE_DB ? SILENCE_DB : db;
}

static double pow_db(double p)
{
	if (!(p > 0.0))
		return SILENCE_DB;
	double db = 10.0 * log10(p);
	return db < SILENCE_DB ? SILENCE_DB : db;
}

/* |X(f)|^2 of one windowed block, by the Goertzel recurrence. */
static double goertzel(const float *x, const double *win, size_t n, double f, double rate)
{
	double w = 2.0 * M_PI * f / rate;
	double c = 2.0 * cos(w);
	double s1 = 0.0, s2 = 0.0;
	for (size_t i = 0; i < n; i++) {
		double s = (double)x[i] * win[i] + c * s1 - s2;
		s2 = s1;
		s1 = s;
	}
	double re = s1 - s2 * cos(w);
	double im = s2 * sin(w);
	return re * re + im * im;
}

/* The "segments" time line (see the top comment): consecutive windows of one
 * class are merged into one run. */
static void print_segments(const float *x, size_t n, double rate, sf_count_t first, double hop_ms,
			   const double *freqs, size_t nfreqs)
{
	size_t wl = (size_t)(rate * 0.02);
	size_t hop = (size_t)(rate * hop_ms / 1000.0);
	double *win = malloc(wl * sizeof(*win));
	printf(",\"segments\":[");
	if (!win || hop == 0) {
		free(win);
		printf("]");
		return;
	}
	for (size_t i = 0; i < wl; i++)
		win[i] = 0.5 - 0.5 * cos(2.0 * M_PI * (double)i / (double)wl);
	double t0 = (double)first / rate, half = (double)hop / rate / 2.0;
	double run_class = 0.0, run_start = 0.0, run_end = 0.0;
	bool have_run = false, printed = false;
	for (size_t off = 0; n >= wl && off + wl <= n; off += hop) {
		double s = 0.0;
		for (size_t i = 0; i < wl; i++)
			s += (double)x[off + i] * x[off + i];
		double cls = -1.0;
		if (to_db(sqrt(s / (double)wl)) < -50.0) {
			cls = 0.0;
		} else {
			double p1 = 0.0, p2 = 0.0, f1 = -1.0;
			for (size_t k = 0; k < nfreqs; k++) {
				double p = goertzel(x + off, win, wl, freqs[k], rate);
				if (p > p1) {
					p2 = p1;
					p1 = p;
					f1 = freqs[k];
				} else if (p > p2) {
					p2 = p;
				}
			}
			if (p1 > 0.0 && pow_db(p1) - pow_db(p2) >= 10.0)
				cls = f1;
		}
		double c = t0 + ((double)off + (double)wl / 2.0) / rate;
		if (have_run && cls == run_class) {
			run_end = c + half;
			continue;
		}
		if (have_run) {
			printf("%s[%g,%.4f,%.4f]", printed ? "," : "", run_class, run_start,
			       run_end);
			printed = true;
		}
		have_run = true;
		run_class = cls;
		run_start = c - half;
		run_end = c + half;
	}
	if (have_run)
		printf("%s[%g,%.4f,%.4f]", printed ? "," : "", run_class, run_start, run_end);
	printf("]");
	free(win);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dm-wav-tone FILE [--skip SECONDS] [--length SECONDS] "
		   "[--freqs F1,F2,...] [--segments HOP_MS] [--max-step]\n");
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	double skip = 0.0, length = 0.0, seg_hop_ms = 0.0;
	double freqs[MAX_FREQS];
	size_t nfreqs = 0;
	bool scan = true, max_step = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--skip") && i + 1 < argc) {
			char *end;
			skip = strtod(argv[++i], &end);
			if (*end || skip < 0) {
				fprintf(stderr, "dm-wav-tone: bad --skip %s\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(a, "--length") && i + 1 < argc) {
			char *end;
			length = strtod(argv[++i], &end);
			if (*end || length < 0) {
				fprintf(stderr, "dm-wav-tone: bad --length %s\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(a, "--segments") && i + 1 < argc) {
			char *end;
			seg_hop_ms = strtod(argv[++i], &end);
			if (*end || seg_hop_ms < 1.0 || seg_hop_ms > 1000.0) {
				fprintf(stderr, "dm-wav-tone: bad --segments %s (1..1000 ms)\n",
					argv[i]);
				return 2;
			}
		} else if (!strcmp(a, "--max-step")) {
			max_step = true;
		} else if (!strcmp(a, "--freqs") && i + 1 < argc) {
			char *s = argv[++i];
			scan = false;
			while (*s) {
				char *end;
				errno = 0;
				double f = strtod(s, &end);
				if (errno || end == s || f <= 0.0 || nfreqs >= MAX_FREQS ||
				    (*end && *end != ',')) {
					fprintf(stderr, "dm-wav-tone: bad --freqs %s\n", argv[i]);
					return 2;
				}
				freqs[nfreqs++] = f;
				s = *end ? end + 1 : end;
			}
			if (nfreqs == 0) {
				fprintf(stderr, "dm-wav-tone: empty --freqs\n");
				return 2;
			}
		} else if (a[0] == '-' && a[1] == '-') {
			fprintf(stderr, "dm-wav-tone: unknown option %s\n", a);
			usage(stderr);
			return 2;
		} else if (!path) {
			path = a;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!path) {
		usage(stderr);
		return 2;
	}
	if (seg_hop_ms > 0.0 && scan) {
		/* 20 ms windows resolve 50 Hz: a 10 Hz scan would class everything unclear. */
		fprintf(stderr, "dm-wav-tone: --segments needs --freqs\n");
		return 2;
	}
	if (scan)
		for (int f = 50; f <= 4000; f += 10)
			freqs[nfreqs++] = f;

	SF_INFO info;
	memset(&info, 0, sizeof(info));
	SNDFILE *sf = sf_open(path, SFM_READ, &info);
	if (!sf) {
		fprintf(stderr, "dm-wav-tone: %s: %s\n", path, sf_strerror(NULL));
		return 2;
	}
	double rate = info.samplerate;
	int ch = info.channels;
	sf_count_t frames = info.frames;
	if (rate <= 0 || ch <= 0 || frames < 0) {
		fprintf(stderr, "dm-wav-tone: %s: bad header\n", path);
		sf_close(sf);
		return 2;
	}
	double duration = (double)frames / rate;

	sf_count_t first = (sf_count_t)(skip * rate);
	if (first > frames)
		first = frames;
	sf_count_t n = frames - first;
	if (length > 0.0 && (sf_count_t)(length * rate) < n)
		n = (sf_count_t)(length * rate);

	float *mono = malloc(((size_t)n + 1) * sizeof(*mono));
	float *buf = malloc(4096 * (size_t)ch * sizeof(*buf));
	if (!mono || !buf) {
		fprintf(stderr, "dm-wav-tone: out of memory\n");
		sf_close(sf);
		return 2;
	}
	if (first > 0 && sf_seek(sf, first, SEEK_SET) < 0) {
		fprintf(stderr, "dm-wav-tone: %s: cannot seek: %s\n", path, sf_strerror(sf));
		sf_close(sf);
		return 2;
	}
	sf_count_t got = 0;
	while (got < n) {
		sf_count_t want = n - got < 4096 ? n - got : 4096;
		sf_count_t r = sf_readf_float(sf, buf, want);
		if (r <= 0)
			break;
		for (sf_count_t i = 0; i < r; i++) {
			double s = 0.0;
			for (int c = 0; c < ch; c++)
				s += buf[i * ch + c];
			mono[got + i] = (float)(s / ch);
		}
		got += r;
	}
	sf_close(sf);
	free(buf);
	n = got;

	double sumsq = 0.0, peak = 0.0;
	for (sf_count_t i = 0; i < n; i++) {
		double v = mono[i];
		sumsq += v * v;
		if (fabs(v) > peak)
			peak = fabs(v);
	}
	double rms = n > 0 ? sqrt(sumsq / (double)n) : 0.0;

	sf_count_t zrun = 0, zmax = 0, zat = 0;
	for (sf_count_t i = 0; i < n; i++) {
		zrun = mono[i] == 0.0f ? zrun + 1 : 0;
		if (zrun > zmax) {
			zmax = zrun;
			zat = i + 1 - zrun;
		}
	}

	/* 20 ms blocks for dropouts; a trailing partial block is ignored. */
	size_t bl = (size_t)(rate * 0.02);
	double bmin = -1.0, bmax = -1.0;
	for (size_t off = 0; bl > 0 && off + bl <= (size_t)n; off += bl) {
		double s = 0.0;
		for (size_t i = 0; i < bl; i++)
			s += (double)mono[off + i] * mono[off + i];
		double r = sqrt(s / (double)bl);
		if (bmin < 0 || r < bmin)
			bmin = r;
		if (r > bmax)
			bmax = r;
	}

	/* 100 ms Hann blocks, or one shorter block if that is all there is. */
	size_t blk = (size_t)(rate * 0.1);
	if ((size_t)n < blk)
		blk = (size_t)n;
	size_t nblocks = blk >= 64 ? (size_t)n / blk : 0;
	double *power = calloc(nfreqs, sizeof(*power));
	double *win = malloc((blk + 1) * sizeof(*win));
	if (!power || !win) {
		fprintf(stderr, "dm-wav-tone: out of memory\n");
		return 2;
	}
	for (size_t i = 0; i < blk; i++)
		win[i] = 0.5 - 0.5 * cos(2.0 * M_PI * (double)i / (double)blk);
	for (size_t b = 0; b < nblocks; b++)
		for (size_t k = 0; k < nfreqs; k++)
			power[k] += goertzel(mono + b * blk, win, blk, freqs[k], rate);

	ssize_t best = -1, second = -1;
	for (size_t k = 0; k < nfreqs; k++)
		if (power[k] > 0.0 && (best < 0 || power[k] > power[best]))
			best = (ssize_t)k;
	if (best >= 0) {
		for (size_t k = 0; k < nfreqs; k++) {
			if ((ssize_t)k == best)
				continue;
			if (scan && fabs(freqs[k] - freqs[best]) < 30.0)
				continue;
			if (second < 0 || power[k] > power[second])
				second = (ssize_t)k;
		}
	}

	/* A sine of amplitude A gives |X| = A * sum(win) / 2 = A * blk / 4. */
	double amp_scale = nblocks ? 4.0 / (double)blk : 0.0;

	printf("{\"file\":\"");
	for (const char *p = path; *p; p++) {
		if (*p == '"' || *p == '\\')
			putchar('\\');
		if ((unsigned char)*p >= 0x20)
			putchar(*p);
	}
	printf("\",\"duration_s\":%.3f,\"analysed_s\":%.3f,\"rate\":%.0f,\"channels\":%d,"
	       "\"rms_dbfs\":%.2f,\"peak_dbfs\":%.2f,"
	       "\"block_rms_min_dbfs\":%.2f,\"block_rms_max_dbfs\":%.2f,"
	       "\"zero_run_max_s\":%.5f,\"zero_run_at_s\":%.5f,",
	       duration, (double)n / rate, rate, ch, to_db(rms), to_db(peak),
	       bmin < 0 ? SILENCE_DB : to_db(bmin), bmax < 0 ? SILENCE_DB : to_db(bmax),
	       (double)zmax / rate, (double)(first + zat) / rate);
	if (best >= 0) {
		double amp = sqrt(power[best] / (double)nblocks) * amp_scale;
		double margin = second >= 0 ? pow_db(power[best]) - pow_db(power[second]) : 200.0;
		double tone_power = amp * amp / 2.0;
		double purity = rms > 0.0 ? pow_db(tone_power / (rms * rms)) : SILENCE_DB;
		printf("\"freq\":%g,\"freq_dbfs\":%.2f,\"freq_db_margin\":%.2f,\"purity_db\":%.2f",
		       freqs[best], to_db(amp), margin, purity);
	} else {
		printf("\"freq\":null,\"freq_dbfs\":%.2f,\"freq_db_margin\":0,\"purity_db\":%.2f",
		       SILENCE_DB, SILENCE_DB);
	}
	if (!scan) {
		printf(",\"levels\":{");
		for (size_t k = 0; k < nfreqs; k++) {
			double amp = nblocks ? sqrt(power[k] / (double)nblocks) * amp_scale : 0.0;
			printf("%s\"%g\":%.2f", k ? "," : "", freqs[k], to_db(amp));
		}
		printf("}");
	}
	if (max_step) {
		double step = 0.0;
		sf_count_t at = 0;
		for (sf_count_t i = 1; i < n; i++) {
			double d = fabs((double)mono[i] - (double)mono[i - 1]);
			if (d > step) {
				step = d;
				at = i;
			}
		}
		printf(",\"max_step\":%.6f,\"max_step_at_s\":%.5f", step,
		       (double)(first + at) / rate);
	}
	if (seg_hop_ms > 0.0)
		print_segments(mono, (size_t)n, rate, first, seg_hop_ms, freqs, nfreqs);
	printf("}\n");
	free(power);
	free(win);
	free(mono);
	return 0;
}
