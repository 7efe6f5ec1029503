#include "output.h"

#include "dragoman/defaults.h"
#include "dragoman/error.h"
#include "dragoman/playout.h"

#include <jack/jack.h>
#include <stdio.h>
#include <stdlib.h>

struct out_jack {
	struct dm_output base;
	jack_client_t *client;
	jack_port_t *port;
};

static void jack_write(struct dm_output *o, const float *pcm, size_t n)
{
	dm_playout_push(o->playout, pcm, n);
}

/* Real-time: only the playout buffer's lock-free pull. */
static int process(jack_nframes_t n, void *arg)
{
	struct out_jack *j = arg;
	float *buf = jack_port_get_buffer(j->port, n);
	dm_playout_pull(j->base.playout, buf, n);
	return 0;
}

static void jack_free_out(struct dm_output *o)
{
	struct out_jack *j = (struct out_jack *)o;
	if (j->client) {
		jack_deactivate(j->client);
		jack_client_close(j->client);
	}
	dm_playout_free(j->base.playout);
	free(j);
}

int dm_output_jack_new(const char *name, const char *connect, double min_ms, struct dm_output **out)
{
	struct out_jack *j = calloc(1, sizeof *j);
	if (!j)
		return DM_ENOMEM;
	j->base.write = jack_write;
	j->base.free = jack_free_out;
	int rc = dm_playout_new(DM_SAMPLE_RATE, min_ms, DM_PLAYOUT_MAX_MS, &j->base.playout);
	if (rc < 0) {
		free(j);
		return rc;
	}
	jack_status_t st;
	j->client = jack_client_open(name, JackNoStartServer, &st);
	if (!j->client) {
		fprintf(stderr, "dragoman-listen: cannot connect to the JACK server as %s\n", name);
		jack_free_out(&j->base);
		return DM_EJACK;
	}
	if (jack_get_sample_rate(j->client) != DM_SAMPLE_RATE)
		fprintf(stderr, "dragoman-listen: warning: JACK runs at %u Hz, not 48000\n",
			jack_get_sample_rate(j->client));
	j->base.period = jack_get_buffer_size(j->client);
	j->port =
		jack_port_register(j->client, "out", JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
	if (!j->port || jack_set_process_callback(j->client, process, j) != 0 ||
	    jack_activate(j->client) != 0) {
		fprintf(stderr, "dragoman-listen: cannot set up the JACK client %s\n", name);
		jack_free_out(&j->base);
		return DM_EJACK;
	}
	if (connect && jack_connect(j->client, jack_port_name(j->port), connect) != 0) {
		fprintf(stderr, "dragoman-listen: cannot connect %s to %s\n",
			jack_port_name(j->port), connect);
		jack_free_out(&j->base);
		return DM_EJACK;
	}
	*out = &j->base;
	return 0;
}
