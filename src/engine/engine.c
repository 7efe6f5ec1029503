#include "engine.h"

#include "dragoman/error.h"
#include "dragoman/log.h"
#include "dragoman/recorder.h"
#include "dragoman/ring.h"
#include "dragoman/sdp.h"
#include "dragoman/sendq.h"
#include "dragoman/srtp.h"
#include "dragoman/stream.h"
#include "jackio.h"
#include "remote.h"
#include "api.h"
#include "control.h"
#include "router.h"
#include "watch.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct worker {
	struct dm_engine *e;
	struct dm_sendq *sendq; /* this worker's batch: one sendmmsg per wake */
	pthread_t thread;
	bool running;
	int wake_fd;
	size_t index;
};

struct dm_engine {
	const struct dm_config *cfg;
	char sdp_dir[4096];
	size_t n_channels, n_consoles;
	struct dm_stream **streams;
	struct dm_ring **rings;
	struct dm_recorder **recorders; /* per channel when recording, else NULL */
	uint32_t *sdp_ssrc;		/* SSRC of the SDP file last written, 0: none */
	struct dm_route *route;		/* the route published last */
	struct dm_control *control;	/* the interpretation state (API requests) */
	struct dm_api *api;		/* the HTTP control API, NULL when off */
	struct dm_watch *watch;		/* meters, alarms, listeners */
	struct dm_remote *remote;	/* remote delegates, NULL when not configured */
	/* Routes replaced but perhaps still read by the callback (playing or
	 * fading from them): freed by the control loop once it has let go. */
	pthread_mutex_t retire_lock;
	struct retired *retired;
	size_t n_retired, cap_retired;
	struct dm_jackio *jack;
	struct worker *workers;
	size_t n_workers;
	pthread_t rec_thread; /* drains the recorders' queues */
	bool rec_running;
	int frame_samples;
	_Atomic bool stop;
	bool jack_wait_logged;
	struct timespec last_jack_try, last_remember;
};

static double since_ms(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) * 1e3 + (double)(now.tv_nsec - t->tv_nsec) / 1e6;
}

/* Each worker encodes the channels c with c % n_workers == index, as soon as
 * the callback says a frame is complete. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct dm_engine *e = w->e;
	float *frame = calloc((size_t)e->frame_samples, sizeof *frame);
	if (!frame)
		return NULL;
	while (!atomic_load_explicit(&e->stop, memory_order_relaxed)) {
		uint64_t n;
		if (read(w->wake_fd, &n, sizeof n) < 0 && errno != EINTR)
			break;
		/* The frames below were complete when we were woken: the remote
		 * streams' send times run from here. */
		struct timespec woke;
		clock_gettime(CLOCK_MONOTONIC, &woke);
		uint64_t woke_us =
			(uint64_t)woke.tv_sec * 1000000u + (uint64_t)woke.tv_nsec / 1000u;
		for (size_t c = w->index; c < e->n_channels; c += e->n_workers) {
			while (dm_ring_readable(e->rings[c]) >= (size_t)e->frame_samples) {
				dm_ring_read(e->rings[c], frame, (size_t)e->frame_samples);
				dm_stream_send_frame(e->streams[c], frame);
				dm_remote_feed(e->remote, c, frame, (size_t)e->frame_samples,
					       woke_us);
				dm_watch_feed(e->watch, c, frame, (size_t)e->frame_samples);
			}
		}
		dm_sendq_flush(w->sendq);
	}
	free(frame);
	return NULL;
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A kill -9 loses what waits in the queues (up to two periods, a late one
 * included) plus what the recorder has not flushed: together at most
 * DM_RECORDER_FLUSH_MS. */
#define RECORDING_FLUSH_MS (DM_RECORDER_FLUSH_MS - 2 * DM_RECORDER_DRAIN_MS)
_Static_assert(RECORDING_FLUSH_MS >= 100, "the recorders' flush period left by the queue");

/* The recording thread: every DM_RECORDER_DRAIN_MS, the packets the workers
 * queued go into the files (Ogg framing, writes). Off the workers, a slow
 * disk cannot delay a packet on the wire, and the per-packet work runs in one
 * sweep: between a worker's encodes it found the recorder cold and cost the
 * engine about as much in cache misses as in work. At normal priority (set
 * explicitly: dragomand may run under a real-time policy); its period is kept
 * on absolute times so that drains do not drift later. What is queued when
 * it stops, the recorders' own free drains. */
static void *recording_main(void *arg)
{
	struct dm_engine *e = arg;
	uint64_t counted = thread_cpu_ns();
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!atomic_load_explicit(&e->stop, memory_order_relaxed)) {
		next.tv_nsec += DM_RECORDER_DRAIN_MS * 1000000L;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		for (size_t c = 0; c < e->n_channels; c++)
			dm_recorder_drain(e->recorders[c]);
		/* All of this thread's time is recording's, its sleeps' syscalls
		 * included: for /metrics and the engine_cpu benchmark. */
		uint64_t now = thread_cpu_ns();
		dm_watch_add_recording_cpu(e->watch, now - counted);
		counted = now;
	}
	return NULL;
}

static void api_error(void *user, const char *file, int line, const char *msg)
{
	(void)user;
	dm_log(DM_LOG_ERROR, "%s:%d: %s", file, line, msg);
}

/* A route replaced at a moment the callback counted `periods` periods. */
struct retired {
	struct dm_route *route;
	uint64_t periods;
};

/* Called by the control state, with its lock held, for every new route. */
static void publish_route(void *user, struct dm_route *route)
{
	struct dm_engine *e = user;
	pthread_mutex_lock(&e->retire_lock);
	if (e->n_retired == e->cap_retired) {
		size_t cap = e->cap_retired ? 2 * e->cap_retired : 16;
		struct retired *n = realloc(e->retired, cap * sizeof *n);
		if (!n) {
			/* Cannot keep the old one safely: keep playing it. */
			pthread_mutex_unlock(&e->retire_lock);
			dm_log(DM_LOG_ERROR, "out of memory: routing change not applied");
			dm_route_free(route);
			return;
		}
		e->retired = n;
		e->cap_retired = cap;
	}
	if (e->route) {
		struct dm_jackio_stats js = {0};
		if (e->jack)
			dm_jackio_get_stats(e->jack, &js);
		e->retired[e->n_retired++] = (struct retired){e->route, js.periods};
	}
	e->route = route;
	if (e->jack)
		dm_jackio_set_route(e->jack, route);
	pthread_mutex_unlock(&e->retire_lock);
}

/* A callback may have loaded the old pointer just before the swap and not
 * yet made it its own (so dm_jackio_route_in_use cannot see it): a route is
 * freed only once two more periods have run since it was replaced, or no
 * callback can run at all. */
static void free_retired(struct dm_engine *e, bool all)
{
	pthread_mutex_lock(&e->retire_lock);
	struct dm_jackio_stats js = {0};
	if (e->jack)
		dm_jackio_get_stats(e->jack, &js);
	size_t keep = 0;
	for (size_t i = 0; i < e->n_retired; i++) {
		struct retired *r = &e->retired[i];
		bool busy = e->jack && (dm_jackio_route_in_use(e->jack, r->route) ||
					(js.connected && js.periods < r->periods + 2));
		if (!all && busy)
			e->retired[keep++] = *r;
		else
			dm_route_free(r->route);
	}
	e->n_retired = keep;
	pthread_mutex_unlock(&e->retire_lock);
}

int dm_engine_new(const struct dm_engine_params *p, struct dm_engine **out)
{
	if (!p || !p->config || !p->secret || !out)
		return DM_EINVAL;
	const struct dm_conference_conf *conf = dm_config_conference(p->config);
	struct dm_engine *e = calloc(1, sizeof *e);
	if (!e)
		return DM_ENOMEM;
	e->cfg = p->config;
	pthread_mutex_init(&e->retire_lock, NULL);
	if (p->sdp_dir)
		snprintf(e->sdp_dir, sizeof e->sdp_dir, "%s", p->sdp_dir);
	e->n_channels = dm_config_channel_count(p->config);
	e->n_consoles = dm_config_console_count(p->config);
	e->frame_samples = conf->profile->frame_samples;
	int rc = DM_ENOMEM;
	e->streams = calloc(e->n_channels, sizeof *e->streams);
	e->rings = calloc(e->n_channels, sizeof *e->rings);
	e->sdp_ssrc = calloc(e->n_channels, sizeof *e->sdp_ssrc);
	e->recorders = calloc(e->n_channels, sizeof *e->recorders);
	if (!e->streams || !e->rings || !e->sdp_ssrc || !e->recorders)
		goto fail;

	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	e->n_workers = p->workers > 0 ? (size_t)p->workers : (size_t)(cores > 0 ? cores : 1);
	if (e->n_workers > e->n_channels)
		e->n_workers = e->n_channels;
	e->workers = calloc(e->n_workers, sizeof *e->workers);
	if (!e->workers) {
		rc = DM_ENOMEM;
		goto fail;
	}
	for (size_t w = 0; w < e->n_workers; w++) {
		e->workers[w].e = e;
		e->workers[w].index = w;
		e->workers[w].wake_fd = eventfd(0, EFD_CLOEXEC);
		if (e->workers[w].wake_fd < 0) {
			rc = DM_EIO;
			goto fail;
		}
		/* A channel's frame and its sender report: 2 datagrams each. */
		size_t per = (e->n_channels + e->n_workers - 1) / e->n_workers;
		rc = dm_sendq_new(conf->interface, conf->ttl, 2 * per + 2, &e->workers[w].sendq);
		if (rc < 0) {
			dm_log(DM_LOG_ERROR, "cannot send from interface %s: %s", conf->interface,
			       dm_strerror(rc));
			goto fail;
		}
	}
	/* Said once: a "libsrtp" here means every packet costs 2-6x as much to protect. */
	const char *crypto = dm_srtp_crypto_name();
	dm_log(crypto && strcmp(crypto, "OpenSSL") == 0 ? DM_LOG_INFO : DM_LOG_WARN,
	       "SRTP %s; its cryptography by %s", dm_srtp_suite_name(conf->suite),
	       crypto ? crypto : "nobody (libsrtp failed to start)");
	for (size_t c = 0; c < e->n_channels; c++) {
		const struct dm_channel_conf *ch = dm_config_channel(p->config, c);
		struct dm_stream_params sp = {
			.conference_id = conf->id,
			.conference_name = conf->name,
			.channel_id = ch->id,
			.channel_name = ch->name,
			.language = ch->language,
			.secret = p->secret,
			.suite = conf->suite,
			.profile = conf->profile,
			.interface = conf->interface,
			.group = ch->group,
			.port = ch->port,
			.ttl = conf->ttl,
			.sendq = e->workers[c % e->n_workers].sendq,
		};
		rc = dm_stream_new(&sp, &e->streams[c]);
		if (rc < 0) {
			dm_log(DM_LOG_ERROR, "channel %s (%s:%u via %s): %s", ch->id, ch->group,
			       ch->port, conf->interface, dm_strerror(rc));
			goto fail;
		}
		rc = dm_ring_new((size_t)e->frame_samples * DM_RING_FRAMES, &e->rings[c]);
		if (rc < 0)
			goto fail;
		if (conf->recording_dir[0]) {
			struct dm_recorder_params rp = {
				.dir = conf->recording_dir,
				.conference_id = conf->id,
				.conference_name = conf->name,
				.channel_id = ch->id,
				.channel_name = ch->name,
				.language = ch->language,
				.pre_skip = dm_stream_lookahead(e->streams[c]),
				.rotate_s = conf->recording_rotate_s,
				.flush_ms = RECORDING_FLUSH_MS,
			};
			rc = dm_recorder_new(&rp, &e->recorders[c]);
			if (rc < 0) {
				dm_log(DM_LOG_ERROR, "recording %s in %s: %s", ch->id,
				       conf->recording_dir, dm_strerror(rc));
				goto fail;
			}
			dm_stream_set_recorder(e->streams[c], e->recorders[c]);
		}
	}
	rc = dm_watch_new(p->config, p->secret, e->streams, e->recorders, &e->watch);
	if (rc < 0) {
		dm_log(DM_LOG_ERROR, "cannot watch the channels: %s", dm_strerror(rc));
		goto fail;
	}
	if (conf->remote) {
		rc = dm_remote_new(p->config, p->secret, &e->remote);
		if (rc < 0) {
			dm_log(DM_LOG_ERROR, "remote delegates on %s: %s", conf->remote_listen,
			       dm_strerror(rc));
			goto fail;
		}
		dm_watch_set_remote(e->watch, e->remote);
		dm_log(DM_LOG_INFO, "remote delegates: UDP %s:%d, profile %s", conf->remote_addr,
		       dm_remote_port(e->remote), conf->remote_profile->name);
	}
	rc = dm_route_new_from_config(p->config, &e->route);
	if (rc < 0)
		goto fail;

	const char **chan_ids = calloc(e->n_channels, sizeof *chan_ids);
	const char **con_ids = calloc(e->n_consoles + 1, sizeof *con_ids);
	int *fds = calloc(e->n_workers, sizeof *fds);
	if (!chan_ids || !con_ids || !fds) {
		free(chan_ids);
		free(con_ids);
		free(fds);
		rc = DM_ENOMEM;
		goto fail;
	}
	for (size_t w = 0; w < e->n_workers; w++)
		fds[w] = e->workers[w].wake_fd;
	for (size_t c = 0; c < e->n_channels; c++)
		chan_ids[c] = dm_config_channel(p->config, c)->id;
	for (size_t i = 0; i < e->n_consoles; i++)
		con_ids[i] = dm_config_console(p->config, i)->id;
	struct dm_jackio_params jp = {
		.client_name = conf->jack_client,
		.server_name = conf->jack_server,
		.n_channels = e->n_channels,
		.channel_ids = chan_ids,
		.n_consoles = e->n_consoles,
		.console_ids = con_ids,
		.rings = e->rings,
		.mic_rings = dm_watch_mic_rings(e->watch),
		.frame_samples = e->frame_samples,
		.wake_fds = fds,
		.n_wake_fds = e->n_workers,
		.route = e->route,
		.phones_ceiling_dbfs = conf->phones_ceiling_dbfs,
	};
	rc = dm_jackio_new(&jp, &e->jack);
	free(chan_ids);
	free(con_ids);
	free(fds);
	if (rc < 0)
		goto fail;
	/* The control state publishes its own first route (the configuration's
	 * live consoles, through the interlock rules) over the static one. */
	rc = dm_control_new(p->config, publish_route, e, &e->control);
	if (rc < 0)
		goto fail;
	dm_watch_attach(e->watch, e->jack, e->control);
	if (conf->tokens_file[0]) {
		rc = dm_api_new(p->config, e->control, conf->tokens_file, api_error, NULL, &e->api);
		if (rc == 0) {
			struct dm_api_views views;
			dm_watch_views(e->watch, &views);
			dm_api_set_views(e->api, &views);
			if (e->remote) {
				struct dm_api_remote hooks = {
					.session_new = dm_remote_session_new,
					.session_channel = dm_remote_session_channel,
					.session_end = dm_remote_session_end,
					.revoked = dm_remote_revoked,
					.user = e->remote,
				};
				dm_api_set_remote(e->api, &hooks);
			}
		}
		if (rc == 0)
			rc = dm_api_start(e->api, conf->control_listen);
		if (rc < 0) {
			dm_log(DM_LOG_ERROR, "control API on %s: %s", conf->control_listen,
			       dm_strerror(rc));
			goto fail;
		}
	} else {
		dm_log(DM_LOG_INFO, "control API off: no control.tokens_file in the configuration");
	}
	*out = e;
	return 0;
fail:
	dm_engine_free(e);
	return rc;
}

int dm_engine_start(struct dm_engine *e)
{
	if (e->remote && dm_remote_start(e->remote) < 0)
		return DM_EIO;
	for (size_t w = 0; w < e->n_workers; w++) {
		if (pthread_create(&e->workers[w].thread, NULL, worker_main, &e->workers[w]) != 0)
			return DM_EIO;
		e->workers[w].running = true;
		/* Encoders run right after the callback wakes them; below JACK's
		 * own priority so they never preempt it. Without the privilege
		 * they still work, only with more latency jitter. */
		struct sched_param sp = {.sched_priority = 50};
		if (pthread_setschedparam(e->workers[w].thread, SCHED_FIFO, &sp) != 0 && w == 0)
			dm_log(DM_LOG_INFO, "encoder threads run without real-time priority");
	}
	if (e->recorders && e->n_channels && e->recorders[0]) {
		pthread_attr_t attr;
		struct sched_param normal = {.sched_priority = 0};
		int rc = pthread_attr_init(&attr);
		if (rc == 0) {
			pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
			pthread_attr_setschedpolicy(&attr, SCHED_OTHER);
			pthread_attr_setschedparam(&attr, &normal);
			rc = pthread_create(&e->rec_thread, &attr, recording_main, e);
			pthread_attr_destroy(&attr);
		}
		if (rc != 0)
			return DM_EIO;
		e->rec_running = true;
	}
	return 0;
}

static void write_sdps(struct dm_engine *e)
{
	if (!e->sdp_dir[0])
		return;
	for (size_t c = 0; c < e->n_channels; c++) {
		struct dm_stream_stats st;
		dm_stream_get_stats(e->streams[c], &st);
		if (st.packets == 0 || st.ssrc == e->sdp_ssrc[c])
			continue;
		struct dm_sdp sdp;
		dm_stream_get_sdp(e->streams[c], &sdp);
		char path[4200];
		snprintf(path, sizeof path, "%s/%s.sdp", e->sdp_dir,
			 dm_config_channel(e->cfg, c)->id);
		int rc = dm_sdp_write_file(&sdp, path);
		if (rc < 0) {
			dm_log(DM_LOG_ERROR, "cannot write %s: %s", path, dm_strerror(rc));
			continue;
		}
		e->sdp_ssrc[c] = sdp.ssrc;
		dm_log(DM_LOG_INFO, "wrote %s", path);
	}
}

int dm_engine_tick(struct dm_engine *e)
{
	if (dm_jackio_lost(e->jack)) {
		dm_log(DM_LOG_ERROR, "JACK server went away; waiting for it to come back");
		dm_jackio_close(e->jack);
		e->jack_wait_logged = true;
	}
	struct dm_jackio_stats js;
	dm_jackio_get_stats(e->jack, &js);
	if (!js.connected && since_ms(&e->last_jack_try) >= DM_JACK_RETRY_MS) {
		clock_gettime(CLOCK_MONOTONIC, &e->last_jack_try);
		if (dm_jackio_open(e->jack) == 0) {
			e->jack_wait_logged = false;
		} else if (!e->jack_wait_logged) {
			dm_log(DM_LOG_WARN, "JACK server is not running; retrying every second");
			e->jack_wait_logged = true;
		}
	}
	if (js.connected && since_ms(&e->last_remember) >= 1000) {
		clock_gettime(CLOCK_MONOTONIC, &e->last_remember);
		dm_jackio_restore(e->jack);
		dm_jackio_remember(e->jack);
	}
	write_sdps(e);
	dm_watch_tick(e->watch);
	free_retired(e, false);
	return 0;
}

void dm_engine_free(struct dm_engine *e)
{
	if (!e)
		return;
	atomic_store(&e->stop, true);
	/* First no more requests, then no more callback. */
	dm_api_free(e->api);
	e->api = NULL;
	dm_jackio_free(e->jack);
	e->jack = NULL;
	for (size_t w = 0; w < e->n_workers && e->workers; w++) {
		uint64_t one = 1;
		if (e->workers[w].running) {
			ssize_t r = write(e->workers[w].wake_fd, &one, sizeof one);
			(void)r;
			pthread_join(e->workers[w].thread, NULL);
		}
		if (e->workers[w].wake_fd > 0)
			close(e->workers[w].wake_fd);
		dm_sendq_free(e->workers[w].sendq);
	}
	free(e->workers);
	if (e->rec_running)
		pthread_join(e->rec_thread, NULL);
	/* After the workers (they feed it) and the API (it calls it); before
	 * the watch is freed, after it stops reading it (its views are the
	 * API's, stopped above). */
	dm_watch_set_remote(e->watch, NULL);
	dm_remote_free(e->remote);
	e->remote = NULL;
	for (size_t c = 0; c < e->n_channels; c++) {
		if (e->streams)
			dm_stream_free(e->streams[c]);
		if (e->rings)
			dm_ring_free(e->rings[c]);
		/* After the workers (they queue its packets) and the recording
		 * thread (it writes them): the rest is drained here. */
		if (e->recorders)
			dm_recorder_free(e->recorders[c]);
	}
	free(e->recorders);
	free(e->streams);
	free(e->rings);
	free(e->sdp_ssrc);
	/* After the workers (they feed its meters) and the API (it serves its
	 * views), before the control state (it posts alarms there). */
	dm_watch_free(e->watch);
	dm_control_free(e->control);
	/* The JACK client is closed: no callback reads any route now. */
	free_retired(e, true);
	free(e->retired);
	dm_route_free(e->route);
	pthread_mutex_destroy(&e->retire_lock);
	free(e);
}
