/* dm-jack-tones: a JACK client that plays one continuous sine (or square
 * bursts) per output port and connects each port to its destinations, so the
 * integration tests can feed the engine distinct tones per input.
 *
 *   dm-jack-tones [--name CLIENT] [--duration S] [--wait S] [--burst ON_MS/PERIOD_MS]
 *                 PORT=FREQ[@DBFS][>DEST[>DEST...]] ...
 *
 * A destination that does not exist yet is retried until --wait seconds have
 * passed (exit 3 if one never appears); afterwards a destination that goes
 * away (engine restart) is reconnected as soon as it comes back. The JACK
 * server is the one libjack picks (JACK_DEFAULT_SERVER). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jack/jack.h>

#define MAX_TONES 64
#define MAX_DESTS 8

struct tone {
	char name[64];
	double freq;
	double amp;   /* peak amplitude, 1.0 = 0 dBFS */
	double phase; /* cycles, in [0, 1): phase-continuous across periods */
	double step;  /* cycles per sample */
	jack_port_t *port;
	char *dests[MAX_DESTS];
	int ndests;
	bool connected[MAX_DESTS];
	bool ever_connected[MAX_DESTS];
};

static struct tone tones[MAX_TONES];
static int ntones;
static jack_client_t *client;
static volatile sig_atomic_t stop;
static atomic_bool server_gone;

/* Burst mode: 0 dBFS-capable square bursts of burst_on samples every
 * burst_period samples; the counter is shared so every port bursts together. */
static bool burst;
static uint64_t burst_on, burst_period, burst_pos;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_shutdown(void *arg)
{
	(void)arg;
	atomic_store(&server_gone, true);
}

/* RT thread: only arithmetic on preallocated state. */
static int process(jack_nframes_t n, void *arg)
{
	(void)arg;
	for (int t = 0; t < ntones; t++) {
		struct tone *tn = &tones[t];
		float *out = jack_port_get_buffer(tn->port, n);
		double ph = tn->phase;
		uint64_t bp = burst_pos;
		for (jack_nframes_t i = 0; i < n; i++) {
			if (burst) {
				bool on = (bp % burst_period) < burst_on;
				out[i] = on ? (float)(ph < 0.5 ? tn->amp : -tn->amp) : 0.0f;
				bp++;
			} else {
				out[i] = (float)(tn->amp * sin(2.0 * M_PI * ph));
			}
			ph += tn->step;
			if (ph >= 1.0)
				ph -= 1.0;
		}
		tn->phase = ph;
	}
	if (burst)
		burst_pos += n;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dm-jack-tones [--name CLIENT] [--duration S] [--wait S]\n"
		   "                     [--burst ON_MS/PERIOD_MS] PORT=FREQ[@DBFS][>DEST...] ...\n"
		   "  e.g. floor=300@-12>dragoman:floor fr1=500>dragoman:fr-1.mic\n"
		   "  --burst: square waves at FREQ, ON_MS on every PERIOD_MS (default 0 dBFS)\n");
}

static int parse_spec(const char *spec, double default_db)
{
	if (ntones >= MAX_TONES) {
		fprintf(stderr, "dm-jack-tones: too many ports (max %d)\n", MAX_TONES);
		return -1;
	}
	struct tone *tn = &tones[ntones];
	memset(tn, 0, sizeof(*tn));
	char *s = strdup(spec);
	if (!s)
		return -1;
	char *eq = strchr(s, '=');
	if (!eq || eq == s || (size_t)(eq - s) >= sizeof(tn->name)) {
		fprintf(stderr, "dm-jack-tones: bad spec '%s': want PORT=FREQ[@DBFS][>DEST]\n",
			spec);
		free(s);
		return -1;
	}
	*eq = '\0';
	snprintf(tn->name, sizeof(tn->name), "%s", s);
	char *rest = eq + 1;
	char *dest = strchr(rest, '>');
	if (dest)
		*dest++ = '\0';
	char *at = strchr(rest, '@');
	if (at)
		*at++ = '\0';
	char *end;
	errno = 0;
	tn->freq = strtod(rest, &end);
	if (errno || end == rest || *end || tn->freq <= 0.0 || tn->freq >= 24000.0) {
		fprintf(stderr, "dm-jack-tones: bad frequency in '%s'\n", spec);
		free(s);
		return -1;
	}
	double db = default_db;
	if (at) {
		db = strtod(at, &end);
		if (end == at || *end || db > 0.0) {
			fprintf(stderr, "dm-jack-tones: bad level in '%s' (dBFS, <= 0)\n", spec);
			free(s);
			return -1;
		}
	}
	tn->amp = pow(10.0, db / 20.0);
	while (dest && *dest) {
		char *next = strchr(dest, '>');
		if (next)
			*next++ = '\0';
		if (tn->ndests >= MAX_DESTS) {
			fprintf(stderr, "dm-jack-tones: too many destinations in '%s'\n", spec);
			free(s);
			return -1;
		}
		tn->dests[tn->ndests] = strdup(dest);
		if (!tn->dests[tn->ndests]) {
			free(s);
			return -1;
		}
		tn->ndests++;
		dest = next;
	}
	free(s);
	ntones++;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Connects whatever is not connected and whose destination exists. Returns
 * the number of destinations still not connected. */
static int connect_pending(void)
{
	int pending = 0;
	for (int t = 0; t < ntones; t++) {
		struct tone *tn = &tones[t];
		const char *src = jack_port_name(tn->port);
		for (int d = 0; d < tn->ndests; d++) {
			jack_port_t *dp = jack_port_by_name(client, tn->dests[d]);
			if (!dp) {
				if (tn->connected[d])
					fprintf(stderr, "dm-jack-tones: %s went away\n",
						tn->dests[d]);
				tn->connected[d] = false;
				pending++;
				continue;
			}
			if (jack_port_connected_to(tn->port, tn->dests[d])) {
				tn->connected[d] = true;
				continue;
			}
			int rc = jack_connect(client, src, tn->dests[d]);
			if (rc == 0 || rc == EEXIST) {
				tn->connected[d] = true;
				fprintf(stderr, "dm-jack-tones: %s -> %s%s\n", src, tn->dests[d],
					tn->ever_connected[d] ? " (reconnected)" : "");
				tn->ever_connected[d] = true;
			} else {
				tn->connected[d] = false;
				pending++;
			}
		}
	}
	return pending;
}

int main(int argc, char **argv)
{
	const char *name = "dm-jack-tones";
	double duration = 0.0, wait_s = 10.0;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--name") && i + 1 < argc) {
			name = argv[++i];
		} else if (!strcmp(a, "--duration") && i + 1 < argc) {
			duration = atof(argv[++i]);
		} else if (!strcmp(a, "--wait") && i + 1 < argc) {
			wait_s = atof(argv[++i]);
		} else if (!strcmp(a, "--burst") && i + 1 < argc) {
			double on_ms, period_ms;
			if (sscanf(argv[++i], "%lf/%lf", &on_ms, &period_ms) != 2 || on_ms <= 0 ||
			    period_ms < on_ms) {
				fprintf(stderr, "dm-jack-tones: --burst wants ON_MS/PERIOD_MS\n");
				return 2;
			}
			burst = true;
			/* converted to samples once the rate is known */
			burst_on = (uint64_t)(on_ms * 1000.0);
			burst_period = (uint64_t)(period_ms * 1000.0);
		} else if (a[0] == '-') {
			fprintf(stderr, "dm-jack-tones: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
	}
	/* Specs second, so that --burst (anywhere) sets their default level. */
	for (i = 1; i < argc; i++) {
		if (argv[i][0] == '-') {
			if (strcmp(argv[i], "--help") && strcmp(argv[i], "-h"))
				i++;
			continue;
		}
		if (parse_spec(argv[i], burst ? 0.0 : -12.0) < 0)
			return 2;
	}
	if (ntones == 0) {
		usage(stderr);
		return 2;
	}

	jack_status_t status;
	client = jack_client_open(name, JackNoStartServer | JackUseExactName, &status);
	if (!client) {
		fprintf(stderr, "dm-jack-tones: cannot open JACK client '%s' (status 0x%x)%s\n",
			name, (unsigned)status,
			(status & JackServerFailed) ? ": no JACK server running" : "");
		return 1;
	}
	double rate = (double)jack_get_sample_rate(client);
	if (burst) {
		burst_on = (uint64_t)((double)burst_on / 1e6 * rate);
		burst_period = (uint64_t)((double)burst_period / 1e6 * rate);
		if (burst_on == 0)
			burst_on = 1;
		if (burst_period < burst_on)
			burst_period = burst_on;
	}
	for (int t = 0; t < ntones; t++) {
		tones[t].step = tones[t].freq / rate;
		tones[t].port = jack_port_register(client, tones[t].name, JACK_DEFAULT_AUDIO_TYPE,
						   JackPortIsOutput, 0);
		if (!tones[t].port) {
			fprintf(stderr, "dm-jack-tones: cannot register port %s\n", tones[t].name);
			jack_client_close(client);
			return 1;
		}
	}
	jack_set_process_callback(client, process, NULL);
	jack_on_shutdown(client, on_shutdown, NULL);

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (jack_activate(client)) {
		fprintf(stderr, "dm-jack-tones: cannot activate client\n");
		jack_client_close(client);
		return 1;
	}

	int rc = 0;
	double start = now_s();
	bool reported = false;
	while (!stop && !atomic_load(&server_gone)) {
		int pending = connect_pending();
		double el = now_s() - start;
		if (!reported && pending == 0) {
			printf("ready\n");
			fflush(stdout);
			reported = true;
		}
		if (!reported && el > wait_s) {
			for (int t = 0; t < ntones; t++)
				for (int d = 0; d < tones[t].ndests; d++)
					if (!tones[t].connected[d])
						fprintf(stderr,
							"dm-jack-tones: %s:%s: destination %s did "
							"not appear within %.1f s\n",
							name, tones[t].name, tones[t].dests[d],
							wait_s);
			rc = 3;
			break;
		}
		if (duration > 0.0 && el >= duration)
			break;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (atomic_load(&server_gone)) {
		fprintf(stderr, "dm-jack-tones: JACK server went away\n");
		rc = rc ? rc : 1;
		client = NULL;
	}
	if (client) {
		jack_deactivate(client);
		jack_client_close(client);
	}
	for (int t = 0; t < ntones; t++)
		for (int d = 0; d < tones[t].ndests; d++)
			free(tones[t].dests[d]);
	return rc;
}
