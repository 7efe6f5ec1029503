/* dragoman-listen: the delegate's receiver. Receives one channel and plays
 * it (PortAudio, JACK) or records it (WAV). */
#include "dragoman/config.h"
#include "dragoman/error.h"
#include "dragoman/keys.h"
#include "dragoman/log.h"
#include "dragoman/playout.h"
#include "dragoman/receiver.h"
#include "dragoman/sdp.h"
#include "output.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fputs("usage: dragoman-listen (--sdp FILE | --config FILE --channel ID) [options]\n"
	      "\n"
	      "  --sdp FILE        the channel's SDP (as dragomand --sdp-dir writes it)\n"
	      "  --config FILE     the conference; with --channel ID (id or number)\n"
	      "                    type a channel id or number and Enter to switch\n"
	      "  --out OUT         pa (default device, the default), pa:NAME, jack, wav:PATH\n"
	      "  --name NAME       JACK client name (default dragoman-listen)\n"
	      "  --connect PORT    with --out jack: the one port to connect to\n"
	      "  --interface ADDR  IPv4 address of the interface to join on\n"
	      "  --duration S      stop after S seconds\n"
	      "  --stats           print one JSON line of statistics at exit\n"
	      "  --verbose         log debug messages\n",
	      f);
}

static void config_error(void *user, const char *file, int line, const char *msg)
{
	(void)user;
	fprintf(stderr, "%s:%d: %s\n", file, line, msg);
}

static void on_pcm(void *user, const float *pcm, size_t n)
{
	struct dm_output *o = user;
	o->write(o, pcm, n);
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* stdin: a channel id or number per line switches channel. */
static void read_command(struct dm_receiver *r, const struct dm_config *cfg, bool *stdin_open)
{
	char line[128];
	if (!fgets(line, sizeof line, stdin)) {
		*stdin_open = false;
		return;
	}
	line[strcspn(line, "\r\n")] = 0;
	if (!line[0])
		return;
	int ch = dm_config_find_channel(cfg, line);
	if (ch < 0) {
		fprintf(stderr, "dragoman-listen: no channel %s\n", line);
		return;
	}
	dm_receiver_switch(r, ch);
	fprintf(stderr, "dragoman-listen: channel %s (%s)\n",
		dm_config_channel(cfg, (size_t)ch)->id, dm_config_channel(cfg, (size_t)ch)->name);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"sdp", required_argument, NULL, 's'},
		{"config", required_argument, NULL, 'c'},
		{"channel", required_argument, NULL, 'C'},
		{"out", required_argument, NULL, 'o'},
		{"name", required_argument, NULL, 'n'},
		{"connect", required_argument, NULL, 'p'},
		{"interface", required_argument, NULL, 'i'},
		{"duration", required_argument, NULL, 'd'},
		{"stats", no_argument, NULL, 'S'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *sdp_path = NULL, *config_path = NULL, *channel = NULL, *outspec = "pa";
	const char *name = DM_DEFAULT_LISTEN_NAME, *connect = NULL, *iface = NULL;
	double duration = 0;
	bool stats = false, verbose = false;
	int o;
	while ((o = getopt_long(argc, argv, "s:c:C:o:n:p:i:d:Svh", opts, NULL)) != -1) {
		switch (o) {
		case 's': sdp_path = optarg; break;
		case 'c': config_path = optarg; break;
		case 'C': channel = optarg; break;
		case 'o': outspec = optarg; break;
		case 'n': name = optarg; break;
		case 'p': connect = optarg; break;
		case 'i': iface = optarg; break;
		case 'd': {
			char *end;
			duration = strtod(optarg, &end);
			if (*end || duration < 0) {
				fprintf(stderr, "dragoman-listen: bad --duration %s\n", optarg);
				return 2;
			}
			break;
		}
		case 'S': stats = true; break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || (!sdp_path == !config_path) || (config_path && !channel)) {
		/* Say which rule was broken: the usage alone leaves the user guessing. */
		if (optind < argc)
			fprintf(stderr, "dragoman-listen: unexpected argument %s\n", argv[optind]);
		else if (!sdp_path == !config_path)
			fprintf(stderr, "dragoman-listen: give either --sdp or --config\n");
		else
			fprintf(stderr, "dragoman-listen: --config needs --channel ID\n");
		usage(stderr);
		return 2;
	}
	dm_log_set(dm_log_stderr, "dragoman-listen", verbose ? DM_LOG_DEBUG : DM_LOG_WARN);

	struct dm_config *cfg = NULL;
	struct dm_sdp sdp;
	uint8_t secret[DM_SECRET_LEN];
	int ch = -1, rc;
	double min_ms = 5;
	if (config_path) {
		if (dm_config_load(config_path, true, config_error, NULL, &cfg) < 0)
			return 2;
		ch = dm_config_find_channel(cfg, channel);
		if (ch < 0) {
			fprintf(stderr, "dragoman-listen: %s has no channel %s\n", config_path,
				channel);
			dm_config_free(cfg);
			return 2;
		}
		const struct dm_conference_conf *conf = dm_config_conference(cfg);
		rc = dm_secret_load(conf->secret_file, secret);
		if (rc < 0) {
			fprintf(stderr, "dragoman-listen: %s: %s\n", conf->secret_file,
				dm_strerror(rc));
			dm_config_free(cfg);
			return 1;
		}
		min_ms = conf->profile->listen_min_ms;
	} else {
		rc = dm_sdp_read_file(sdp_path, &sdp);
		if (rc < 0) {
			fprintf(stderr, "dragoman-listen: %s: %s\n", sdp_path, dm_strerror(rc));
			return 2;
		}
		min_ms = sdp.frame_samples > 0 ? sdp.frame_samples / 48.0 : 5;
	}

	struct dm_output *out = NULL;
	if (strncmp(outspec, "wav:", 4) == 0)
		rc = dm_output_wav_new(outspec + 4, &out);
	else if (strcmp(outspec, "jack") == 0)
		rc = dm_output_jack_new(name, connect, min_ms, &out);
	else if (strcmp(outspec, "pa") == 0)
		rc = dm_output_pa_new(NULL, min_ms, &out);
	else if (strncmp(outspec, "pa:", 3) == 0)
		rc = dm_output_pa_new(outspec + 3, min_ms, &out);
	else {
		fprintf(stderr, "dragoman-listen: unknown --out %s (pa, pa:NAME, jack, wav:PATH)\n",
			outspec);
		rc = DM_EINVAL;
	}
	if (rc < 0) {
		dm_config_free(cfg);
		return 1;
	}

	struct dm_receiver_params rp = {
		.config = cfg,
		.secret = cfg ? secret : NULL,
		.channel = ch,
		.sdp = cfg ? NULL : &sdp,
		.sdp_path = sdp_path,
		.interface = iface,
		.on_pcm = on_pcm,
		.user = out,
		.playout = out->playout,
	};
	struct dm_receiver *r = NULL;
	rc = dm_receiver_new(&rp, &r);
	memset(secret, 0, sizeof secret);
	if (rc < 0) {
		fprintf(stderr, "dragoman-listen: cannot receive: %s\n", dm_strerror(rc));
		out->free(out);
		dm_config_free(cfg);
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (dm_receiver_start(r) < 0) {
		fprintf(stderr, "dragoman-listen: cannot start the receiver thread\n");
		return 1;
	}

	double start = mono_s(), last_report = start;
	bool stdin_open = cfg != NULL; /* channel switching needs the configuration */
	while (!stop_requested && (duration <= 0 || mono_s() - start < duration)) {
		struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
		int n = poll(&pfd, stdin_open ? 1 : 0, 50);
		if (n > 0 && (pfd.revents & (POLLIN | POLLHUP)))
			read_command(r, cfg, &stdin_open);
		if (verbose && out->playout &&
		    mono_s() - last_report >= (getenv("DM_FAST") ? 0.05 : 1.0)) {
			struct dm_playout_stats ps;
			dm_playout_get_stats(out->playout, &ps);
			fprintf(stderr,
				"dragoman-listen: buffer %.2f ms mean, %.2f max, target %.2f, "
				"ratio %.5f, underruns %llu, overflows %llu\n",
				ps.buffer_ms_mean, ps.buffer_ms_max, ps.target_ms, ps.ratio,
				(unsigned long long)ps.underruns, (unsigned long long)ps.overflows);
			last_report = mono_s();
		}
	}
	dm_receiver_stop(r);
	struct dm_receiver_stats st;
	dm_receiver_get_stats(r, &st);
	if (stats) {
		double mean = 0, max = 0;
		if (out->playout) {
			struct dm_playout_stats ps;
			dm_playout_get_stats(out->playout, &ps);
			mean = ps.buffer_ms_mean;
			max = ps.buffer_ms_max;
		}
		json_t *o = json_pack(
			"{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:{s:f,s:"
			"f}}",
			"received", (json_int_t)st.received, "lost", (json_int_t)st.lost, "late",
			(json_int_t)st.late, "reordered", (json_int_t)st.reordered, "duplicates",
			(json_int_t)st.duplicates, "auth_failed", (json_int_t)st.auth_failed,
			"replayed", (json_int_t)st.replayed, "malformed", (json_int_t)st.malformed,
			"unknown_ssrc", (json_int_t)st.unknown_ssrc, "stale", (json_int_t)st.stale,
			"concealed_frames", (json_int_t)st.concealed_frames, "decoded_frames",
			(json_int_t)st.decoded_frames, "ssrc_changes", (json_int_t)st.ssrc_changes,
			"ssrc", (json_int_t)st.ssrc, "roc", (json_int_t)st.roc, "switch_ms",
			st.switch_ms, "buffer_ms", "mean", mean, "max", max);
		if (o) {
			json_object_set_new(o, "foreign_rtcp",
					    json_integer((json_int_t)st.foreign_rtcp));
			json_object_set_new(o, "reports_sent",
					    json_integer((json_int_t)st.reports_sent));
		}
		char *text = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
		if (text)
			puts(text);
		free(text);
		json_decref(o);
		fflush(stdout);
	}
	dm_receiver_free(r);
	out->free(out);
	dm_config_free(cfg);
	return 0;
}
