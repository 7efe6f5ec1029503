/* dragoman-listen: the delegate's receiver. Receives one channel and plays
 * it (PortAudio, JACK) or records it (WAV): in the room (the conference's
 * multicast, with its configuration or a channel's SDP) or remotely (unicast
 * from the engine over the internet, remote.c). */
#include "dragoman/config.h"
#include "dragoman/error.h"
#include "dragoman/keys.h"
#include "dragoman/log.h"
#include "dragoman/playout.h"
#include "dragoman/receiver.h"
#include "dragoman/sdp.h"
#include "dragoman/secmem.h"
#include "output.h"
#include "remote.h"
#include "tls_pin.h"
#include "token.h"

#include <curl/curl.h>
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
	fputs("usage: dragoman-listen (--sdp FILE | --config FILE --channel ID |\n"
	      "                        --remote URL [--token-file F] (--ca-file F | --pin SHA256)\n"
	      "                        [--channel ID]) [options]\n"
	      "\n"
	      "In the room:\n"
	      "  --sdp FILE        the channel's SDP (as dragomand --sdp-dir writes it)\n"
	      "  --config FILE     the conference; with --channel ID (id or number)\n"
	      "Remote (over the internet, with a delegate token):\n"
	      "  --remote URL      the engine's control API, https://HOST:PORT (plain http://\n"
	      "                    only to 127.0.0.1 or localhost, for tests)\n"
	      "  --token-file F    the delegate token, first line of F (default\n"
	      "                    $DRAGOMAN_TOKEN_FILE, else ~/.config/dragoman/token)\n"
	      "  --ca-file F       check the engine's certificate against this CA, or\n"
	      "  --pin SHA256      against this SHA-256 fingerprint of the certificate\n"
	      "  --channel ID      the channel to start on (default: the engine's)\n"
	      "With --config or --remote, type a channel id or number and Enter to switch.\n"
	      "\n"
	      "Options:\n"
	      "  --out OUT         pa (default device, the default), pa:NAME, jack, wav:PATH\n"
	      "  --name NAME       JACK client name (default dragoman-listen)\n"
	      "  --connect PORT    with --out jack: the one port to connect to\n"
	      "  --interface ADDR  IPv4 address of the interface to join on (remote: to\n"
	      "                    receive on; default any)\n"
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

/* The receiver's callbacks' user. */
struct listen_ctx {
	struct dm_output *out;
	struct dm_listen_remote *rm;
};

static void on_pcm(void *user, const float *pcm, size_t n)
{
	struct dm_output *o = ((struct listen_ctx *)user)->out;
	o->write(o, pcm, n);
}

static void on_datagram(void *user, const uint8_t *buf, size_t len)
{
	dm_listen_remote_datagram(((struct listen_ctx *)user)->rm, buf, len);
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* stdin: a channel id or number per line switches channel. */
static void read_command(struct dm_receiver *r, const struct dm_config *cfg,
			 struct dm_listen_remote *rm, bool *stdin_open)
{
	char line[128];
	if (!fgets(line, sizeof line, stdin)) {
		*stdin_open = false;
		return;
	}
	line[strcspn(line, "\r\n")] = 0;
	if (!line[0])
		return;
	if (rm) {
		dm_listen_remote_command(rm, line);
		return;
	}
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
		{"remote", required_argument, NULL, 'R'},
		{"token-file", required_argument, NULL, 'T'},
		{"ca-file", required_argument, NULL, 'A'},
		{"pin", required_argument, NULL, 'P'},
		{"duration", required_argument, NULL, 'd'},
		{"stats", no_argument, NULL, 'S'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *sdp_path = NULL, *config_path = NULL, *channel = NULL, *outspec = "pa";
	const char *name = DM_DEFAULT_LISTEN_NAME, *connect = NULL, *iface = NULL;
	const char *remote_url = NULL, *token_file = NULL, *ca_file = NULL, *pin_text = NULL;
	int rc;
	double duration = 0;
	bool stats = false, verbose = false;
	int o;
	/* The remote session's answer carries keys: its JSON is cleared. */
	dm_secmem_json_install();
	while ((o = getopt_long(argc, argv, "s:c:C:o:n:p:i:d:SvhR:T:A:P:", opts, NULL)) != -1) {
		switch (o) {
		case 's': sdp_path = optarg; break;
		case 'c': config_path = optarg; break;
		case 'C': channel = optarg; break;
		case 'o': outspec = optarg; break;
		case 'n': name = optarg; break;
		case 'p': connect = optarg; break;
		case 'i': iface = optarg; break;
		case 'R': remote_url = optarg; break;
		case 'T': token_file = optarg; break;
		case 'A': ca_file = optarg; break;
		case 'P': pin_text = optarg; break;
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
	int modes = !!sdp_path + !!config_path + !!remote_url;
	if (optind < argc || modes != 1 || (config_path && !channel) ||
	    (!remote_url && (token_file || ca_file || pin_text)) || (ca_file && pin_text)) {
		/* Say which rule was broken: the usage alone leaves the user guessing. */
		if (optind < argc)
			fprintf(stderr, "dragoman-listen: unexpected argument %s\n", argv[optind]);
		else if (modes != 1)
			fprintf(stderr, "dragoman-listen: give one of --sdp, --config, --remote\n");
		else if (config_path && !channel)
			fprintf(stderr, "dragoman-listen: --config needs --channel ID\n");
		else if (!remote_url)
			fprintf(stderr,
				"dragoman-listen: --token-file, --ca-file and --pin go with "
				"--remote\n");
		else
			fprintf(stderr, "dragoman-listen: give --ca-file or --pin, not both\n");
		usage(stderr);
		return 2;
	}
	dm_log_set(dm_log_stderr, "dragoman-listen", verbose ? DM_LOG_DEBUG : DM_LOG_WARN);

	struct dm_listen_remote *rm = NULL;
	if (remote_url) {
		uint8_t pin[DM_TLS_PIN_LEN];
		if (pin_text && dm_tls_pin_parse(pin_text, pin) < 0) {
			fprintf(stderr, "dragoman-listen: --pin %s is not a SHA-256 fingerprint\n",
				pin_text);
			return 2;
		}
		char token[DM_CLIENT_TOKEN_MAX];
		rc = dm_client_token("dragoman-listen", token_file, token, sizeof token);
		if (rc != 0)
			return rc;
		if (dm_secmem_curl_init() != 0) {
			fprintf(stderr, "dragoman-listen: cannot start libcurl\n");
			return 1;
		}
		struct dm_listen_remote_params rmp = {
			.url = remote_url,
			.token = token,
			.ca_file = ca_file,
			.pin = pin_text ? pin : NULL,
			.channel = channel,
			.bind = iface,
		};
		rc = dm_listen_remote_new(&rmp, &rm);
		memset(token, 0, sizeof token);
		if (rc != 0) {
			curl_global_cleanup();
			return rc;
		}
	}

	struct dm_config *cfg = NULL;
	struct dm_sdp sdp;
	uint8_t secret[DM_SECRET_LEN];
	int ch = -1;
	double min_ms = 5;
	if (rm) {
		ch = dm_listen_remote_channel(rm);
		min_ms = dm_listen_remote_min_ms(rm);
	} else if (config_path) {
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
		dm_listen_remote_free(rm);
		return 1;
	}

	struct listen_ctx ctx = {.out = out, .rm = rm};
	struct dm_receiver_params rp = {
		.config = cfg,
		.secret = cfg ? secret : NULL,
		.channel = ch,
		.sdp = cfg || rm ? NULL : &sdp,
		.sdp_path = sdp_path,
		.remote = rm != NULL,
		.remote_fd = rm ? dm_listen_remote_fd(rm) : -1,
		.n_channels = rm ? dm_listen_remote_channel_count(rm) : 0,
		.on_datagram = rm ? on_datagram : NULL,
		.interface = rm ? NULL : iface,
		.on_pcm = on_pcm,
		.user = &ctx,
		.playout = out->playout,
	};
	struct dm_receiver *r = NULL;
	rc = dm_receiver_new(&rp, &r);
	memset(secret, 0, sizeof secret);
	if (rc < 0) {
		fprintf(stderr, "dragoman-listen: cannot receive: %s\n", dm_strerror(rc));
		out->free(out);
		dm_config_free(cfg);
		dm_listen_remote_free(rm);
		return 1;
	}
	if (rm)
		dm_listen_remote_start(rm, r);
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (dm_receiver_start(r) < 0) {
		fprintf(stderr, "dragoman-listen: cannot start the receiver thread\n");
		dm_listen_remote_free(rm); /* ends the remote session */
		return 1;
	}

	double start = mono_s(), last_report = start;
	/* Channel switching needs a channel list: the configuration's or the
	 * session's. */
	bool stdin_open = cfg != NULL || rm != NULL;
	while (!stop_requested && (duration <= 0 || mono_s() - start < duration)) {
		struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
		int n = poll(&pfd, stdin_open ? 1 : 0, 50);
		if (n > 0 && (pfd.revents & (POLLIN | POLLHUP)))
			read_command(r, cfg, rm, &stdin_open);
		if (rm)
			dm_listen_remote_tick(rm);
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
			json_object_set_new(o, "fec_frames",
					    json_integer((json_int_t)st.fec_frames));
			json_object_set_new(o, "foreign_rtcp",
					    json_integer((json_int_t)st.foreign_rtcp));
			json_object_set_new(o, "reports_sent",
					    json_integer((json_int_t)st.reports_sent));
			if (rm)
				dm_listen_remote_stats(rm, o);
			else
				json_object_set_new(o, "mode", json_string(cfg ? "config" : "sdp"));
		}
		char *text = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
		if (text)
			puts(text);
		free(text);
		json_decref(o);
		fflush(stdout);
	}
	dm_listen_remote_free(rm);
	dm_receiver_free(r);
	out->free(out);
	dm_config_free(cfg);
	if (rm)
		curl_global_cleanup();
	return 0;
}
