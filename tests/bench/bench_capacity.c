/* Benchmark: CPU per channel of the engine's send path (Opus encode + RTP +
 * SRTP + sendto) against bare opus_encode_float on the same frames.
 * Prints the figures and "channels per core"; exits non-zero when the send
 * path costs more than 1.2x bare Opus (the target). */
#include "dragoman/error.h"
#include "dragoman/keys.h"
#include "dragoman/profile.h"
#include "dragoman/sendq.h"
#include "dragoman/stream.h"

#include <math.h>
#include <sched.h>
#include <unistd.h>
#include <opus/opus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHANNELS 64
#define SECONDS 4

static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Speech-like test signal: a few harmonics with a slow envelope and noise,
 * different per channel so no two encoders see the same frames. */
static void make_signal(float *buf, size_t n, int ch)
{
	unsigned seed = 12345u + (unsigned)ch;
	double f0 = 110.0 + 7.0 * ch;
	for (size_t i = 0; i < n; i++) {
		double t = (double)i / 48000.0;
		double env = 0.5 + 0.5 * sin(2 * M_PI * 3.0 * t + ch);
		double v = 0;
		for (int h = 1; h <= 8; h++)
			v += sin(2 * M_PI * f0 * h * t) / h;
		seed = seed * 1103515245u + 12345u;
		double noise = ((double)(seed >> 16 & 0x7fff) / 32768.0 - 0.5) * 0.05;
		buf[i] = (float)(0.25 * env * v + noise);
	}
}

static int run(const char *profile_name, enum dm_srtp_suite suite, double *bare_us, double *send_us)
{
	const struct dm_profile *prof = dm_profile_find(profile_name);
	int frame = prof->frame_samples;
	size_t frames = (size_t)(SECONDS * 48000 / frame);
	size_t n = frames * (size_t)frame;
	float **sig = calloc(CHANNELS, sizeof *sig);
	for (int c = 0; c < CHANNELS; c++) {
		sig[c] = malloc(n * sizeof(float));
		make_signal(sig[c], n, c);
	}
	uint8_t secret[DM_SECRET_LEN] = {1, 2, 3};

	/* Bare Opus, same settings as the stream. */
	OpusEncoder *enc[CHANNELS];
	for (int c = 0; c < CHANNELS; c++) {
		int err;
		enc[c] = opus_encoder_create(48000, 1, prof->application, &err);
		opus_encoder_ctl(enc[c], OPUS_SET_BITRATE(prof->bitrate));
		opus_encoder_ctl(enc[c], OPUS_SET_BANDWIDTH(OPUS_BANDWIDTH_FULLBAND));
		opus_encoder_ctl(enc[c], OPUS_SET_COMPLEXITY(prof->complexity));
		opus_encoder_ctl(enc[c], OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
		if (prof->inband_fec) {
			opus_encoder_ctl(enc[c], OPUS_SET_INBAND_FEC(1));
			opus_encoder_ctl(enc[c],
					 OPUS_SET_PACKET_LOSS_PERC(prof->expected_loss_pct));
		}
	}
	unsigned char pkt[1500];
	/* As the engine's worker does: one batch per wake, one sendmmsg. */
	struct dm_sendq *q;
	if (dm_sendq_new("127.0.0.1", 0, 2 * CHANNELS + 2, &q) < 0)
		return 1;
	struct dm_stream *st[CHANNELS];
	for (int c = 0; c < CHANNELS; c++) {
		char id[16], group[32];
		snprintf(id, sizeof id, "ch%d", c);
		snprintf(group, sizeof group, "239.255.99.%d", c + 1);
		struct dm_stream_params p = {
			.conference_id = "bench",
			.channel_id = id,
			.secret = secret,
			.suite = suite,
			.profile = prof,
			.interface = "127.0.0.1",
			.group = group,
			.port = 40000,
			.ttl = 0,
			.sendq = q,
		};
		int rc = dm_stream_new(&p, &st[c]);
		if (rc < 0) {
			fprintf(stderr, "bench: dm_stream_new: %s\n", dm_strerror(rc));
			return 1;
		}
	}
	/* Bare Opus and the send path take turns frame by frame, so whatever
	 * else the machine does weighs on both alike. */
	long bytes = 0;
	double bare = 0, sent = 0;
	for (size_t f = 0; f < frames; f++) {
		double t0 = thread_cpu_s();
		for (int c = 0; c < CHANNELS; c++)
			bytes += opus_encode_float(enc[c], sig[c] + f * (size_t)frame, frame, pkt,
						   1200);
		double t1 = thread_cpu_s();
		for (int c = 0; c < CHANNELS; c++)
			dm_stream_send_frame(st[c], sig[c] + f * (size_t)frame);
		dm_sendq_flush(q);
		double t2 = thread_cpu_s();
		bare += t1 - t0;
		sent += t2 - t1;
	}
	if (bytes <= 0)
		return 1;
	for (int c = 0; c < CHANNELS; c++)
		opus_encoder_destroy(enc[c]);
	dm_sendq_free(q);
	for (int c = 0; c < CHANNELS; c++) {
		dm_stream_free(st[c]);
		free(sig[c]);
	}
	free(sig);
	*bare_us = bare / (double)(frames * CHANNELS) * 1e6;
	*send_us = sent / (double)(frames * CHANNELS) * 1e6;
	double per_ch_core =
		sent / (SECONDS * (double)CHANNELS); /* core-seconds per channel-second */
	printf("%-10s %-24s frame %4d: bare opus %5.1f us/frame, send path %5.1f us/frame, "
	       "ratio %.3f, %.2f%% of a core per channel, %.0f channels per core\n",
	       profile_name, dm_srtp_suite_name(suite), frame, *bare_us, *send_us,
	       *send_us / *bare_us, per_ch_core * 100, 1.0 / per_ch_core);
	return 0;
}

int main(void)
{
	/* The target is the default: profile lan, AES_CM_128_HMAC_SHA1_80.
	 * The other rows are for the closing note. */
	static const struct {
		const char *profile;
		enum dm_srtp_suite suite;
		int judged;
	} runs[] = {
		{"lan", DM_SRTP_AES_CM_128_HMAC_SHA1_80, 1},
		{"lan", DM_SRTP_AEAD_AES_128_GCM, 0},
		{"lan-ultra", DM_SRTP_AES_CM_128_HMAC_SHA1_80, 0},
		{"lan-ultra", DM_SRTP_AEAD_AES_128_GCM, 0},
		{"internet", DM_SRTP_AES_CM_128_HMAC_SHA1_80, 0},
	};
	int fail = 0;
	/* One core for the whole run: bare Opus and the send path then share
	 * its caches and clock, and the scheduler does not move them apart. */
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 1 : 0, &one);
	if (sched_setaffinity(0, sizeof one, &one) != 0)
		printf("(not pinned to one core)\n");
	printf("%d channels, %d s of audio each; CPU time of this thread\n", CHANNELS, SECONDS);
	for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		double bare, send;
		if (run(runs[i].profile, runs[i].suite, &bare, &send) != 0)
			return 1;
		if (runs[i].judged && send > 1.2 * bare) {
			printf("%s: the send path costs more than 1.2x bare Opus\n",
			       runs[i].profile);
			fail = 1;
		}
	}
	return fail;
}
