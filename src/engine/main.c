/* dragomand: the dragoman engine. */
#include "dragoman/config.h"
#include "dragoman/error.h"
#include "dragoman/keys.h"
#include "dragoman/log.h"
#include "dragoman/secmem.h"
#include "engine.h"

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fputs("usage: dragomand --config FILE [--check] [--sdp-dir DIR] [--workers N] [--verbose]\n"
	      "       dragomand --keygen FILE\n"
	      "\n"
	      "  --config FILE   the conference (libconfig); see configs/demo.conf\n"
	      "  --check         validate the configuration, print every problem as\n"
	      "                  FILE:LINE: message, exit 0 (valid) or 2 (problems)\n"
	      "  --sdp-dir DIR   write DIR/<channel>.sdp (mode 0600, holds keys) per channel\n"
	      "  --workers N     encoder threads (default: one per core)\n"
	      "  --keygen FILE   write a new conference secret (mode 0600); never overwrites\n"
	      "  --verbose       log debug messages\n",
	      f);
}

static void config_error(void *user, const char *file, int line, const char *msg)
{
	(void)user;
	if (line > 0)
		fprintf(stderr, "%s:%d: %s\n", file, line, msg);
	else
		fprintf(stderr, "%s: %s\n", file, msg);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},  {"check", no_argument, NULL, 'C'},
		{"sdp-dir", required_argument, NULL, 's'}, {"keygen", required_argument, NULL, 'k'},
		{"workers", required_argument, NULL, 'w'}, {"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},	   {NULL, 0, NULL, 0},
	};
	const char *config_path = NULL, *sdp_dir = NULL, *keygen = NULL;
	bool check = false, verbose = false;
	int workers = 0, o;
	/* The API's answers carry keys: the JSON behind them is cleared. */
	dm_secmem_json_install();
	while ((o = getopt_long(argc, argv, "c:s:k:w:vh", opts, NULL)) != -1) {
		switch (o) {
		case 'c': config_path = optarg; break;
		case 'C': check = true; break;
		case 's': sdp_dir = optarg; break;
		case 'k': keygen = optarg; break;
		case 'w': workers = atoi(optarg); break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || (!config_path && !keygen)) {
		usage(stderr);
		return 2;
	}
	dm_log_set(dm_log_stderr, "dragomand", verbose ? DM_LOG_DEBUG : DM_LOG_INFO);

	if (keygen) {
		int rc = dm_secret_generate(keygen);
		if (rc < 0) {
			fprintf(stderr, "dragomand: %s: %s\n", keygen,
				rc == DM_EEXIST ? "exists; refusing to overwrite a secret"
						: dm_strerror(rc));
			return 1;
		}
		printf("wrote a new conference secret to %s (mode 0600)\n", keygen);
		return 0;
	}

	struct dm_config *cfg = NULL;
	int rc = dm_config_load(config_path, true, config_error, NULL, &cfg);
	if (check) {
		if (rc == 0)
			printf("%s: ok\n", config_path);
		dm_config_free(cfg);
		return rc == 0 ? 0 : 2;
	}
	if (rc < 0)
		return 2;
	const struct dm_conference_conf *conf = dm_config_conference(cfg);
	uint8_t secret[DM_SECRET_LEN];
	rc = dm_secret_load(conf->secret_file, secret);
	if (rc < 0) {
		fprintf(stderr, "dragomand: %s: %s\n", conf->secret_file, dm_strerror(rc));
		dm_config_free(cfg);
		return 1;
	}
	if (sdp_dir) {
		struct stat st;
		if (stat(sdp_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
			fprintf(stderr, "dragomand: --sdp-dir %s: not a directory\n", sdp_dir);
			dm_config_free(cfg);
			return 1;
		}
	}

	/* Keep the real-time path's memory resident: a page fault in the JACK
	 * callback is an xrun. */
	if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
		dm_log(DM_LOG_INFO, "memory not locked (mlockall): latency may suffer");

	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct dm_engine *engine = NULL;
	struct dm_engine_params ep = {
		.config = cfg, .secret = secret, .sdp_dir = sdp_dir, .workers = workers};
	rc = dm_engine_new(&ep, &engine);
	memset(secret, 0, sizeof secret);
	if (rc < 0) {
		fprintf(stderr, "dragomand: cannot start the conference: %s\n", dm_strerror(rc));
		dm_config_free(cfg);
		return 1;
	}
	rc = dm_engine_start(engine);
	if (rc < 0) {
		fprintf(stderr, "dragomand: cannot start the encoders: %s\n", dm_strerror(rc));
		dm_engine_free(engine);
		dm_config_free(cfg);
		return 1;
	}
	dm_log(DM_LOG_INFO, "conference %s: %zu channels, profile %s", conf->id,
	       dm_config_channel_count(cfg), conf->profile->name);
	while (!stop_requested) {
		dm_engine_tick(engine);
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	dm_log(DM_LOG_INFO, "stopping");
	dm_engine_free(engine);
	dm_config_free(cfg);
	return 0;
}
