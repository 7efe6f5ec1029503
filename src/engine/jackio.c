#include "jackio.h"

#include "dragoman/defaults.h"
#include "dragoman/error.h"
#include "dragoman/log.h"

#include <errno.h>
#include <jack/jack.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct conn {
	char ours[320];
	char theirs[320];
	bool input;   /* our port is an input */
	bool pending; /* to restore: the other port may come back later */
};

struct dm_jackio {
	char client_name[64];
	char server_name[64];
	size_t n_channels, n_consoles;
	char **channel_ids, **console_ids;
	struct dm_ring **rings;
	struct dm_ring **mic_rings;  /* per console or NULL: mics for the meters */
	_Atomic uint64_t *chan_over; /* per channel: samples its ring refused */
	int frame_samples;
	int *wake_fds;
	size_t n_wake_fds;

	jack_client_t *client;
	jack_port_t *floor_port;
	jack_port_t **program_ports, **mic_ports, **phones_ports;
	/* Buffer pointer arrays, filled each period: allocated once here so the
	 * callback never allocates. */
	const float **mics;
	float **programs, **phones;

	_Atomic(const struct dm_route *) route; /* the latest published */
	struct dm_router *router;		/* what the callback plays, fades, limits */
	int pending;				/* samples since the last complete frame */

	_Atomic bool lost;
	_Atomic uint64_t xruns, overflows, periods;
	_Atomic uint32_t period;

	struct conn *conns;
	size_t n_conns, cap_conns;
};

static char **dup_ids(const char *const *ids, size_t n)
{
	char **out = calloc(n + 1, sizeof *out);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		out[i] = strdup(ids[i]);
		if (!out[i]) {
			for (size_t k = 0; k < i; k++)
				free(out[k]);
			free(out);
			return NULL;
		}
	}
	return out;
}

static void free_ids(char **ids, size_t n)
{
	if (!ids)
		return;
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* libjack prints to stderr by itself; its words belong in our log, where
 * the executable decides what is shown. */
static void jack_error_msg(const char *msg)
{
	dm_log(DM_LOG_DEBUG, "jack: %s", msg);
}

static void jack_info_msg(const char *msg)
{
	dm_log(DM_LOG_DEBUG, "jack: %s", msg);
}

int dm_jackio_new(const struct dm_jackio_params *p, struct dm_jackio **out)
{
	if (!p || !out || !p->client_name || p->n_channels < 1 || !p->channel_ids || !p->rings ||
	    (p->n_consoles && !p->console_ids) || p->frame_samples <= 0 || !p->route)
		return DM_EINVAL;
	struct dm_jackio *j = calloc(1, sizeof *j);
	if (!j)
		return DM_ENOMEM;
	snprintf(j->client_name, sizeof j->client_name, "%s", p->client_name);
	snprintf(j->server_name, sizeof j->server_name, "%s", p->server_name ? p->server_name : "");
	j->n_channels = p->n_channels;
	j->n_consoles = p->n_consoles;
	j->frame_samples = p->frame_samples;
	j->channel_ids = dup_ids(p->channel_ids, p->n_channels);
	j->console_ids = dup_ids(p->console_ids, p->n_consoles);
	j->rings = calloc(p->n_channels, sizeof *j->rings);
	j->mic_rings = calloc(p->n_consoles + 1, sizeof *j->mic_rings);
	j->chan_over = calloc(p->n_channels, sizeof *j->chan_over);
	j->wake_fds = calloc(p->n_wake_fds + 1, sizeof *j->wake_fds);
	j->program_ports = calloc(p->n_channels, sizeof *j->program_ports);
	j->programs = calloc(p->n_channels, sizeof *j->programs);
	j->mic_ports = calloc(p->n_consoles + 1, sizeof *j->mic_ports);
	j->phones_ports = calloc(p->n_consoles + 1, sizeof *j->phones_ports);
	j->mics = calloc(p->n_consoles + 1, sizeof *j->mics);
	j->phones = calloc(p->n_consoles + 1, sizeof *j->phones);
	if (!j->channel_ids || !j->console_ids || !j->rings || !j->mic_rings || !j->chan_over ||
	    !j->wake_fds || !j->program_ports || !j->programs || !j->mic_ports ||
	    !j->phones_ports || !j->mics || !j->phones) {
		dm_jackio_free(j);
		return DM_ENOMEM;
	}
	if (dm_router_new(p->n_channels, p->n_consoles,
			  p->phones_ceiling_dbfs < 0 ? p->phones_ceiling_dbfs
						     : DM_DEFAULT_PHONES_CEILING_DBFS,
			  DM_CROSSFADE_SAMPLES, DM_MAX_PERIOD, &j->router) < 0) {
		dm_jackio_free(j);
		return DM_ENOMEM;
	}
	memcpy(j->rings, p->rings, p->n_channels * sizeof *j->rings);
	if (p->mic_rings)
		memcpy(j->mic_rings, p->mic_rings, p->n_consoles * sizeof *j->mic_rings);
	if (p->n_wake_fds)
		memcpy(j->wake_fds, p->wake_fds, p->n_wake_fds * sizeof *j->wake_fds);
	j->n_wake_fds = p->n_wake_fds;
	atomic_init(&j->route, p->route);
	jack_set_error_function(jack_error_msg);
	jack_set_info_function(jack_info_msg);
	*out = j;
	return 0;
}

void dm_jackio_free(struct dm_jackio *j)
{
	if (!j)
		return;
	dm_jackio_close(j);
	free_ids(j->channel_ids, j->n_channels);
	free_ids(j->console_ids, j->n_consoles);
	free(j->rings);
	free(j->mic_rings);
	free(j->chan_over);
	free(j->wake_fds);
	free(j->program_ports);
	free(j->programs);
	free(j->mic_ports);
	free(j->phones_ports);
	free(j->mics);
	free(j->phones);
	free(j->conns);
	dm_router_free(j->router);
	free(j);
}

/* The real-time path: read port buffers, route, hand each program to its
 * encoder ring, wake the encoders once a frame is complete. No allocation,
 * lock, print or syscall other than the eventfd write. */
static int process(jack_nframes_t nframes, void *arg)
{
	struct dm_jackio *j = arg;
	const struct dm_route *route = atomic_load_explicit(&j->route, memory_order_acquire);
	const float *floor = jack_port_get_buffer(j->floor_port, nframes);
	for (size_t i = 0; i < j->n_consoles; i++) {
		j->mics[i] = jack_port_get_buffer(j->mic_ports[i], nframes);
		j->phones[i] = jack_port_get_buffer(j->phones_ports[i], nframes);
	}
	for (size_t c = 0; c < j->n_channels; c++)
		j->programs[c] = jack_port_get_buffer(j->program_ports[c], nframes);

	dm_router_process(j->router, route, floor, j->mics, j->programs, j->phones, nframes);

	uint64_t over = 0;
	for (size_t c = 0; c < j->n_channels; c++) {
		size_t lost = nframes - dm_ring_write(j->rings[c], j->programs[c], nframes);
		if (lost) {
			atomic_fetch_add_explicit(&j->chan_over[c], lost, memory_order_relaxed);
			over += lost;
		}
	}
	if (over)
		atomic_fetch_add_explicit(&j->overflows, over, memory_order_relaxed);
	/* The mics for their meters: a meter that falls behind loses samples,
	 * never the audio path. */
	for (size_t i = 0; i < j->n_consoles; i++)
		if (j->mic_rings[i])
			dm_ring_write(j->mic_rings[i], j->mics[i], nframes);
	atomic_fetch_add_explicit(&j->periods, 1, memory_order_relaxed);

	j->pending += (int)nframes;
	if (j->pending >= j->frame_samples) {
		j->pending %= j->frame_samples;
		uint64_t one = 1;
		for (size_t w = 0; w < j->n_wake_fds; w++) {
			ssize_t r = write(j->wake_fds[w], &one, sizeof one);
			(void)r;
		}
	}
	return 0;
}

static int on_xrun(void *arg)
{
	struct dm_jackio *j = arg;
	atomic_fetch_add_explicit(&j->xruns, 1, memory_order_relaxed);
	return 0;
}

static int on_buffer_size(jack_nframes_t n, void *arg)
{
	struct dm_jackio *j = arg;
	atomic_store_explicit(&j->period, n, memory_order_relaxed);
	return 0;
}

static void on_shutdown(jack_status_t code, const char *reason, void *arg)
{
	(void)code;
	(void)reason;
	struct dm_jackio *j = arg;
	atomic_store(&j->lost, true);
}

static jack_port_t *reg(struct dm_jackio *j, const char *id, const char *suffix,
			unsigned long flags)
{
	char name[256];
	if (suffix)
		snprintf(name, sizeof name, "%s.%s", id, suffix);
	else
		snprintf(name, sizeof name, "%s", id);
	jack_port_t *p = jack_port_register(j->client, name, JACK_DEFAULT_AUDIO_TYPE, flags, 0);
	if (!p)
		dm_log(DM_LOG_ERROR, "cannot register JACK port %s", name);
	return p;
}

/* Reconnects what was connected before the server went away. The other side
 * of a connection is often a client that died with the server and comes back
 * later, so each one stays pending until it succeeds. */
static void restore_connections(struct dm_jackio *j)
{
	for (size_t i = 0; i < j->n_conns; i++) {
		struct conn *c = &j->conns[i];
		if (!c->pending)
			continue;
		if (!jack_port_by_name(j->client, c->theirs))
			continue;
		int rc = c->input ? jack_connect(j->client, c->theirs, c->ours)
				  : jack_connect(j->client, c->ours, c->theirs);
		if (rc == 0 || rc == EEXIST) {
			c->pending = false;
			dm_log(DM_LOG_INFO, "reconnected %s %s %s", c->ours, c->input ? "<-" : "->",
			       c->theirs);
		}
	}
}

void dm_jackio_restore(struct dm_jackio *j)
{
	if (j && j->client && !dm_jackio_lost(j))
		restore_connections(j);
}

int dm_jackio_open(struct dm_jackio *j)
{
	if (!j)
		return DM_EINVAL;
	if (j->client)
		return 0;
	jack_status_t status;
	jack_options_t opts = JackNoStartServer;
	if (j->server_name[0])
		opts |= JackServerName;
	j->client = j->server_name[0]
			    ? jack_client_open(j->client_name, opts, &status, j->server_name)
			    : jack_client_open(j->client_name, opts, &status);
	if (!j->client)
		return DM_EJACK;
	if (status & JackNameNotUnique)
		dm_log(DM_LOG_WARN, "JACK client name %s taken; running as %s", j->client_name,
		       jack_get_client_name(j->client));
	atomic_store(&j->lost, false);
	j->pending = 0;
	atomic_store(&j->period, jack_get_buffer_size(j->client));
	jack_set_process_callback(j->client, process, j);
	jack_set_xrun_callback(j->client, on_xrun, j);
	jack_set_buffer_size_callback(j->client, on_buffer_size, j);
	jack_on_info_shutdown(j->client, on_shutdown, j);

	bool ok = (j->floor_port = reg(j, "floor", NULL, JackPortIsInput)) != NULL;
	for (size_t i = 0; ok && i < j->n_consoles; i++) {
		ok = (j->mic_ports[i] = reg(j, j->console_ids[i], "mic", JackPortIsInput)) &&
		     (j->phones_ports[i] = reg(j, j->console_ids[i], "phones", JackPortIsOutput));
	}
	for (size_t c = 0; ok && c < j->n_channels; c++)
		ok = (j->program_ports[c] =
			      reg(j, j->channel_ids[c], "program", JackPortIsOutput)) != NULL;
	if (!ok || jack_activate(j->client) != 0) {
		dm_log(DM_LOG_ERROR, "cannot set up the JACK client %s", j->client_name);
		jack_client_close(j->client);
		j->client = NULL;
		return DM_EJACK;
	}
	dm_log(DM_LOG_INFO, "JACK client %s active: %u Hz, period %u",
	       jack_get_client_name(j->client), jack_get_sample_rate(j->client),
	       jack_get_buffer_size(j->client));
	if (jack_get_sample_rate(j->client) != 48000)
		dm_log(DM_LOG_WARN, "JACK runs at %u Hz; dragoman streams at 48000 Hz",
		       jack_get_sample_rate(j->client));
	for (size_t i = 0; i < j->n_conns; i++)
		j->conns[i].pending = true;
	restore_connections(j);
	return 0;
}

void dm_jackio_set_route(struct dm_jackio *j, const struct dm_route *route)
{
	atomic_store_explicit(&j->route, route, memory_order_release);
}

bool dm_jackio_route_in_use(const struct dm_jackio *j, const struct dm_route *route)
{
	return atomic_load(&j->route) == route || dm_router_in_use(j->router, route);
}

bool dm_jackio_lost(const struct dm_jackio *j)
{
	return atomic_load(&j->lost);
}

static bool has_conn(const struct dm_jackio *j, size_t n, const char *ours, const char *theirs)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(j->conns[i].ours, ours) == 0 && strcmp(j->conns[i].theirs, theirs) == 0)
			return true;
	return false;
}

static void add_conn(struct dm_jackio *j, const char *ours, const char *theirs, bool input,
		     bool pending)
{
	if (has_conn(j, j->n_conns, ours, theirs))
		return;
	if (j->n_conns == j->cap_conns) {
		size_t cap = j->cap_conns ? j->cap_conns * 2 : 16;
		struct conn *n = realloc(j->conns, cap * sizeof *n);
		if (!n)
			return;
		j->conns = n;
		j->cap_conns = cap;
	}
	struct conn *c = &j->conns[j->n_conns++];
	snprintf(c->ours, sizeof c->ours, "%s", ours);
	snprintf(c->theirs, sizeof c->theirs, "%s", theirs);
	c->input = input;
	c->pending = pending;
}

static void remember_port(struct dm_jackio *j, jack_port_t *p, bool input)
{
	if (!p)
		return;
	const char **list = jack_port_get_connections(p);
	if (!list)
		return;
	for (size_t i = 0; list[i]; i++)
		add_conn(j, jack_port_name(p), list[i], input, false);
	jack_free(list);
}

void dm_jackio_remember(struct dm_jackio *j)
{
	if (!j->client || dm_jackio_lost(j))
		return;
	/* Keep the connections still waiting to be restored; replace the rest
	 * by what is connected now (the technician may have changed it). */
	size_t keep = 0;
	for (size_t i = 0; i < j->n_conns; i++)
		if (j->conns[i].pending)
			j->conns[keep++] = j->conns[i];
	j->n_conns = keep;
	remember_port(j, j->floor_port, true);
	for (size_t i = 0; i < j->n_consoles; i++) {
		remember_port(j, j->mic_ports[i], true);
		remember_port(j, j->phones_ports[i], false);
	}
	for (size_t c = 0; c < j->n_channels; c++)
		remember_port(j, j->program_ports[c], false);
}

void dm_jackio_close(struct dm_jackio *j)
{
	if (!j || !j->client)
		return;
	if (!dm_jackio_lost(j)) {
		dm_jackio_remember(j);
		jack_deactivate(j->client);
	}
	jack_client_close(j->client);
	j->client = NULL;
	j->floor_port = NULL;
	atomic_store(&j->lost, false);
}

uint64_t dm_jackio_channel_overflows(const struct dm_jackio *j, size_t c)
{
	return c < j->n_channels ? atomic_load_explicit(&j->chan_over[c], memory_order_relaxed) : 0;
}

void dm_jackio_get_stats(const struct dm_jackio *j, struct dm_jackio_stats *st)
{
	st->xruns = atomic_load_explicit(&j->xruns, memory_order_relaxed);
	st->ring_overflows = atomic_load_explicit(&j->overflows, memory_order_relaxed);
	st->periods = atomic_load_explicit(&j->periods, memory_order_relaxed);
	st->period = atomic_load_explicit(&j->period, memory_order_relaxed);
	st->connected = j->client && !dm_jackio_lost(j);
}
