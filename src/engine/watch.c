#include "watch.h"

#include "alarms.h"
#include "api.h"
#include "control.h"
#include "dragoman/defaults.h"
#include "dragoman/error.h"
#include "dragoman/fanout.h"
#include "dragoman/listeners.h"
#include "remote.h"
#include "dragoman/log.h"
#include "dragoman/meter.h"
#include "dragoman/recorder.h"
#include "dragoman/ring.h"
#include "dragoman/stream.h"
#include "jackio.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define METER_RING_SAMPLES 32768 /* 0.68 s: the control loop drains it every 50 ms */
#define METER_EVENT_MS 100	 /* 10 Hz */

struct dm_watch {
	const struct dm_config *cfg;
	size_t n_channels, n_consoles;
	struct dm_stream *const *streams;
	struct dm_recorder *const *recorders;
	/* Every meter and the ring it is fed from: the channels' programs first
	 * (rings written by the encoder workers), then the consoles' mics
	 * (written by the JACK callback); chan_* and mic_* point into them. All
	 * are metered together in the control loop, four (AVX2) or two at a time
	 * (dm_meter_feed_many), from their rings' memory: meter_all's
	 * scratch is budget (per ring) and the lane_* arrays and spans (per
	 * meter fed in a round). */
	size_t n_meters;
	struct dm_meter **meters, **chan_meter, **mic_meter;
	struct dm_ring **rings, **chan_rings, **mic_rings;
	size_t *budget, *lane_ring;
	struct dm_meter **lane_meter;
	const float **spans;
	/* Each meter's id as JSON text (quoted, escaped by jansson), and the
	 * control loop's buffer for the meters event's members (text_cap bytes:
	 * enough for every meter, see meters_text). */
	char **id_json;
	char *text;
	size_t text_cap;
	/* CPU time the control loop spent metering: for /metrics, so that a
	 * technician (and the engine_cpu benchmark) sees what the meters cost. */
	_Atomic uint64_t meter_cpu_ns;
	_Atomic uint64_t recording_cpu_ns; /* the engine's recording thread's */
	struct dm_listeners *listeners;
	struct dm_remote *remote; /* NULL: no remote delegates */
	pthread_t listen_thread;
	bool listen_running;
	_Atomic bool stop;

	struct dm_jackio *jack;
	struct dm_control *ctl;

	pthread_mutex_t lock; /* alarms, read by the API's threads */
	struct dm_alarms *alarms;
	struct dm_alarm_console_input *con_in;
	struct dm_alarm_channel_input *chan_in;
	struct timespec last_event;
};

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *listen_main(void *arg)
{
	struct dm_watch *w = arg;
	while (!atomic_load_explicit(&w->stop, memory_order_relaxed))
		if (dm_listeners_poll(w->listeners, 200) < 0) {
			struct timespec ts = {0, 100 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	return NULL;
}

int dm_watch_new(const struct dm_config *cfg, const uint8_t *secret,
		 struct dm_stream *const *streams, struct dm_recorder *const *recorders,
		 struct dm_watch **out)
{
	if (!cfg || !secret || !streams || !out)
		return DM_EINVAL;
	struct dm_watch *w = calloc(1, sizeof *w);
	if (!w)
		return DM_ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	w->cfg = cfg;
	w->streams = streams;
	w->recorders = recorders;
	w->n_channels = dm_config_channel_count(cfg);
	w->n_consoles = dm_config_console_count(cfg);
	int rc = DM_ENOMEM;
	w->n_meters = w->n_channels + w->n_consoles;
	w->meters = calloc(w->n_meters + 1, sizeof *w->meters);
	w->rings = calloc(w->n_meters + 1, sizeof *w->rings);
	w->spans = calloc(w->n_meters + 1, sizeof *w->spans);
	w->budget = calloc(w->n_meters + 1, sizeof *w->budget);
	w->lane_ring = calloc(w->n_meters + 1, sizeof *w->lane_ring);
	w->lane_meter = calloc(w->n_meters + 1, sizeof *w->lane_meter);
	w->con_in = calloc(w->n_consoles + 1, sizeof *w->con_in);
	w->chan_in = calloc(w->n_channels, sizeof *w->chan_in);
	const char **chan_ids = calloc(w->n_channels, sizeof *chan_ids);
	const char **con_ids = calloc(w->n_consoles + 1, sizeof *con_ids);
	if (!w->meters || !w->rings || !w->spans || !w->budget || !w->lane_ring || !w->lane_meter ||
	    !w->con_in || !w->chan_in || !chan_ids || !con_ids)
		goto fail;
	w->chan_meter = w->meters;
	w->mic_meter = w->meters + w->n_channels;
	w->chan_rings = w->rings;
	w->mic_rings = w->rings + w->n_channels;
	for (size_t k = 0; k < w->n_meters; k++) {
		if ((rc = dm_meter_new(DM_SAMPLE_RATE, &w->meters[k])) < 0 ||
		    (rc = dm_ring_new(METER_RING_SAMPLES, &w->rings[k])) < 0)
			goto fail;
	}
	for (size_t c = 0; c < w->n_channels; c++)
		chan_ids[c] = dm_config_channel(cfg, c)->id;
	for (size_t i = 0; i < w->n_consoles; i++)
		con_ids[i] = dm_config_console(cfg, i)->id;
	rc = DM_ENOMEM;
	w->id_json = calloc(w->n_meters + 1, sizeof *w->id_json);
	if (!w->id_json)
		goto fail;
	w->text_cap = sizeof "\"channels\":[],\"consoles\":[]";
	for (size_t k = 0; k < w->n_meters; k++) {
		const char *id = k < w->n_channels ? chan_ids[k] : con_ids[k - w->n_channels];
		json_t *js = json_string(id);
		w->id_json[k] = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
		json_decref(js);
		if (!w->id_json[k])
			goto fail;
		/* {<reading>,"id":<id>}, */
		w->text_cap += DM_METER_JSON_MAX + strlen(w->id_json[k]) + sizeof "{,\"id\":},";
	}
	w->text = malloc(w->text_cap);
	if (!w->text)
		goto fail;
	rc = dm_alarms_new(w->n_channels, chan_ids, w->n_consoles, con_ids,
			   (double)dm_config_conference(cfg)->alarm_silence_s, &w->alarms);
	if (rc < 0)
		goto fail;
	rc = dm_listeners_new(cfg, secret, NULL, &w->listeners);
	if (rc < 0)
		goto fail;
	for (size_t c = 0; c < w->n_channels; c++) {
		struct dm_stream_stats st;
		dm_stream_get_stats(streams[c], &st);
		dm_listeners_set_sender(w->listeners, (int)c, st.ssrc);
	}
	if (pthread_create(&w->listen_thread, NULL, listen_main, w) != 0) {
		rc = DM_EIO;
		goto fail;
	}
	w->listen_running = true;
	clock_gettime(CLOCK_MONOTONIC, &w->last_event);
	free(chan_ids);
	free(con_ids);
	*out = w;
	return 0;
fail:
	free(chan_ids);
	free(con_ids);
	dm_watch_free(w);
	return rc;
}

void dm_watch_free(struct dm_watch *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, true);
	if (w->listen_running)
		pthread_join(w->listen_thread, NULL);
	dm_listeners_free(w->listeners);
	for (size_t k = 0; k < w->n_meters; k++) {
		if (w->meters)
			dm_meter_free(w->meters[k]);
		if (w->rings)
			dm_ring_free(w->rings[k]);
	}
	dm_alarms_free(w->alarms);
	free(w->meters);
	free(w->rings);
	free(w->spans);
	free(w->budget);
	free(w->lane_ring);
	free(w->lane_meter);
	free(w->con_in);
	free(w->chan_in);
	for (size_t k = 0; w->id_json && k < w->n_meters; k++)
		free(w->id_json[k]);
	free(w->id_json);
	free(w->text);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

struct dm_ring *const *dm_watch_mic_rings(struct dm_watch *w)
{
	return w->mic_rings;
}

void dm_watch_attach(struct dm_watch *w, struct dm_jackio *jack, struct dm_control *ctl)
{
	w->jack = jack;
	w->ctl = ctl;
}

/* A copy for the control loop, which meters everything together: metering
 * here would cost the encoder worker, on the send path, 3.5 ns a sample
 * instead of a copy. A full ring (the control loop stalled for 0.68 s) drops
 * samples from the meter only. */
void dm_watch_feed(struct dm_watch *w, size_t c, const float *pcm, size_t n)
{
	if (c < w->n_channels)
		dm_ring_write(w->chan_rings[c], pcm, n);
}

void dm_watch_add_recording_cpu(struct dm_watch *w, uint64_t ns)
{
	if (w)
		atomic_fetch_add_explicit(&w->recording_cpu_ns, ns, memory_order_relaxed);
}

/* The meters event's members, "channels":[...],"consoles":[...], into buf
 * (w->text_cap bytes), the readings through dm_meter_reading_json: built
 * through jansson, the 10 Hz event cost 140 us, a third of the metering. */
static void meters_text(struct dm_watch *w, char *buf)
{
	char *p = buf;

	for (int list = 0; list < 2; list++) {
		bool console = list == 1;
		size_t from = console ? w->n_channels : 0,
		       to = console ? w->n_meters : w->n_channels;

		p += sprintf(p, "%s\"%s\":[", console ? "," : "",
			     console ? "consoles" : "channels");
		for (size_t k = from; k < to; k++) {
			struct dm_meter_reading r;
			int n;

			dm_meter_read(w->meters[k], &r);
			if (k > from)
				*p++ = ',';
			*p++ = '{';
			n = dm_meter_reading_json(&r, console, p, DM_METER_JSON_MAX);
			p += n > 0 ? n : 0;
			p += sprintf(p, ",\"id\":%s}", w->id_json[k]);
		}
		*p++ = ']';
	}
	*p = '\0';
}

static void iso_time(double wall_s, char *buf, size_t cap)
{
	time_t t = (time_t)wall_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *alarm_json(const struct dm_watch *w, const struct dm_alarm *a)
{
	char when[32];
	iso_time(a->raised_at, when, sizeof when);
	return json_pack("{s:s,s:s?,s:s?,s:s,s:s}", "kind", dm_alarm_kind_name(a->kind), "channel",
			 a->channel >= 0 ? dm_config_channel(w->cfg, (size_t)a->channel)->id : NULL,
			 "console",
			 a->console >= 0 ? dm_config_console(w->cfg, (size_t)a->console)->id : NULL,
			 "raised_at", when, "text", a->text);
}

/* Alarms go to the log and to the event stream as they change. */
static void on_alarm(void *user, const struct dm_alarm *a, bool raised)
{
	struct dm_watch *w = user;
	dm_log(raised ? DM_LOG_WARN : DM_LOG_INFO, "alarm %s: %s", raised ? "raised" : "cleared",
	       a->text);
	json_t *o = alarm_json(w, a);
	if (o)
		json_object_set_new(o, "raised", json_boolean(raised));
	dm_control_post(w->ctl, "alarm", o, true);
}

static double wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Meters what every ring held on entry (later samples wait for the next
 * tick, so a tick's work is bounded), where the samples are: no buffers to
 * copy them into (22 of 4800 samples were 422 KB). Samples written on
 * another core cost little more to meter (2.0-2.2 ns a sample in pairs,
 * against 1.8 from the same core, measured with 22 rings and a writer thread
 * at the engine's pace). A ring's samples come in at most two spans (the
 * second after the end of its array). The rings fill at about the same pace
 * (the JACK callback writes every mic in the same period, the workers every
 * channel within a frame of it), so in each round the meters of all the rings
 * with samples go through dm_meter_feed_many together, for as many samples
 * as the emptiest span has; the next rounds take the rest, four meters to an
 * instruction still (a meter alone costs three times as much a sample). */
static void meter_all(struct dm_watch *w)
{
	for (size_t k = 0; k < w->n_meters; k++)
		w->budget[k] = dm_ring_readable(w->rings[k]);
	/* Each round ends at least one ring's span: at most two rounds a ring. */
	for (;;) {
		size_t lanes = 0, common = SIZE_MAX;

		for (size_t k = 0; k < w->n_meters; k++) {
			size_t got;
			const float *p;

			if (!w->budget[k] || !(p = dm_ring_read_span(w->rings[k], &got)))
				continue;
			if (got > w->budget[k])
				got = w->budget[k];
			w->lane_meter[lanes] = w->meters[k];
			w->lane_ring[lanes] = k;
			w->spans[lanes] = p;
			if (got < common)
				common = got;
			lanes++;
		}
		if (!lanes)
			return;
		dm_meter_feed_many(w->lane_meter, w->spans, lanes, common);
		for (size_t l = 0; l < lanes; l++) {
			dm_ring_skip(w->rings[w->lane_ring[l]], common);
			w->budget[w->lane_ring[l]] -= common;
		}
	}
}

/* Counts the control loop's CPU time since t0 as the meters'. */
static void meter_cpu_since(struct dm_watch *w, uint64_t t0)
{
	atomic_fetch_add_explicit(&w->meter_cpu_ns, thread_cpu_ns() - t0, memory_order_relaxed);
}

void dm_watch_tick(struct dm_watch *w)
{
	uint64_t t0 = thread_cpu_ns();
	meter_all(w);
	meter_cpu_since(w, t0);
	double now = mono_s();
	double last = (double)w->last_event.tv_sec + (double)w->last_event.tv_nsec * 1e-9;
	if ((now - last) * 1000.0 < METER_EVENT_MS)
		return;
	clock_gettime(CLOCK_MONOTONIC, &w->last_event);

	struct dm_jackio_stats js = {0};
	if (w->jack)
		dm_jackio_get_stats(w->jack, &js);
	for (size_t i = 0; i < w->n_consoles; i++) {
		struct dm_meter_reading r;
		dm_meter_read(w->mic_meter[i], &r);
		w->con_in[i].live = w->ctl && dm_control_mic_live(w->ctl, i);
		w->con_in[i].silent_s = r.silent_s;
	}
	bool disk_error = false;
	for (size_t c = 0; c < w->n_channels; c++) {
		struct dm_meter_reading r;
		dm_meter_read(w->chan_meter[c], &r);
		w->chan_in[c].clips = r.clips;
		w->chan_in[c].overflows = w->jack ? dm_jackio_channel_overflows(w->jack, c) : 0;
		struct dm_listeners_summary sum = {0};
		dm_listeners_get(w->listeners, (int)c, 0, &sum);
		w->chan_in[c].max_loss = sum.loss_max;
		if (w->recorders && w->recorders[c] && dm_recorder_error(w->recorders[c], NULL, 0))
			disk_error = true;
		/* A rekey gives the stream a new SSRC: its own reports loop back. */
		struct dm_stream_stats st;
		dm_stream_get_stats(w->streams[c], &st);
		dm_listeners_set_sender(w->listeners, (int)c, st.ssrc);
	}
	struct dm_alarm_inputs in = {
		.consoles = w->con_in,
		.channels = w->chan_in,
		.xruns = js.xruns,
		.jack_connected = js.connected,
		.disk_error = disk_error,
	};
	pthread_mutex_lock(&w->lock);
	dm_alarms_update(w->alarms, &in, wall_s(), on_alarm, w);
	pthread_mutex_unlock(&w->lock);
	if (w->ctl) {
		t0 = thread_cpu_ns();
		meters_text(w, w->text);
		dm_control_post_text(w->ctl, "meters", w->text);
		meter_cpu_since(w, t0);
	}
}

static char *dump(json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
	json_decref(o);
	return s;
}

static char *view_meters(void *user)
{
	struct dm_watch *w = user;
	char *buf = malloc(w->text_cap + 2);

	if (buf) {
		buf[0] = '{';
		meters_text(w, buf + 1);
		strcat(buf, "}");
	}
	return buf;
}

static char *view_alarms(void *user)
{
	struct dm_watch *w = user;
	json_t *arr = json_array();
	pthread_mutex_lock(&w->lock);
	int n = dm_alarms_count(w->alarms);
	struct dm_alarm *list = n > 0 ? calloc((size_t)n, sizeof *list) : NULL;
	if (list)
		n = dm_alarms_active(w->alarms, list, (size_t)n);
	pthread_mutex_unlock(&w->lock);
	for (int k = 0; list && k < n; k++)
		json_array_append_new(arr, alarm_json(w, &list[k]));
	free(list);
	return dump(json_pack("{s:o}", "alarms", arr));
}

struct list_ctx {
	json_t *arr;
	const char *channel;
};

static void add_listener(void *user, const struct dm_listener_info *info)
{
	struct list_ctx *lc = user;
	json_array_append_new(
		lc->arr, json_pack("{s:s,s:I,s:f,s:f,s:f,s:f}", "channel", lc->channel, "ssrc",
				   (json_int_t)info->ssrc, "loss_ratio", info->loss, "jitter_ms",
				   info->jitter_ms, "rtt_ms", info->rtt_ms, "age_s", info->age_s));
}

static char *view_listeners(void *user)
{
	struct dm_watch *w = user;
	json_t *chans = json_array(), *all = json_array();
	for (size_t c = 0; c < w->n_channels; c++) {
		struct dm_listeners_summary sum = {0};
		dm_listeners_get(w->listeners, (int)c, 0, &sum);
		const char *id = dm_config_channel(w->cfg, c)->id;
		json_array_append_new(
			chans, json_pack("{s:s,s:i,s:i,s:f,s:f,s:f}", "id", id, "listeners",
					 sum.count, "remote", dm_remote_listeners(w->remote, c),
					 "loss_ratio_max", sum.loss_max, "loss_ratio_mean",
					 sum.loss_mean, "jitter_ms_max", sum.jitter_max_ms));
		struct list_ctx lc = {all, id};
		dm_listeners_list(w->listeners, (int)c, 0, add_listener, &lc);
	}
	json_t *remote = w->remote ? dm_remote_sessions_json(w->remote) : json_array();
	return dump(json_pack("{s:o,s:o,s:o}", "channels", chans, "listeners", all, "remote",
			      remote ? remote : json_array()));
}

/* One meter's three levels as Prometheus samples. */
static void put_levels(FILE *f, const char *metric, const char *label, const char *id,
		       const struct dm_meter *m)
{
	static const char *const kinds[] = {"peak", "rms", "momentary_lufs"};
	struct dm_meter_reading r;
	dm_meter_read(m, &r);
	double v[3] = {r.peak_dbfs, r.rms_dbfs, r.momentary_lufs};
	for (int k = 0; k < 3; k++)
		fprintf(f, "%s{%s=\"%s\",kind=\"%s\"} %.2f\n", metric, label, id, kinds[k], v[k]);
}

/* The remote delegates' figures. */
static void put_remote(FILE *f, struct dm_watch *w)
{
	fputs("# HELP dragoman_remote_listeners Remote sessions bound per channel.\n"
	      "# TYPE dragoman_remote_listeners gauge\n",
	      f);
	for (size_t c = 0; c < w->n_channels; c++)
		fprintf(f, "dragoman_remote_listeners{channel=\"%s\"} %d\n",
			dm_config_channel(w->cfg, c)->id, dm_remote_listeners(w->remote, c));
	fputs("# HELP dragoman_remote_packets_sent_total Remote datagrams sent (one per "
	      "listener).\n"
	      "# TYPE dragoman_remote_packets_sent_total counter\n",
	      f);
	uint64_t late = 0, max_us = 0;
	for (size_t c = 0; c < w->n_channels; c++) {
		struct dm_fanout_stats st;
		dm_fanout_get_stats(dm_remote_fanout(w->remote, c), &st);
		fprintf(f, "dragoman_remote_packets_sent_total{channel=\"%s\"} %llu\n",
			dm_config_channel(w->cfg, c)->id, (unsigned long long)st.packets);
		late += st.late_frames;
		if (st.max_send_us > max_us)
			max_us = st.max_send_us;
	}
	struct dm_remote_stats rs;
	dm_remote_get_stats(w->remote, &rs);
	fprintf(f,
		"# HELP dragoman_remote_late_frames_total Remote frames sent over 2 ms late.\n"
		"# TYPE dragoman_remote_late_frames_total counter\n"
		"dragoman_remote_late_frames_total %llu\n"
		"# HELP dragoman_remote_send_max_seconds Longest frame-to-last-packet time.\n"
		"# TYPE dragoman_remote_send_max_seconds gauge\n"
		"dragoman_remote_send_max_seconds %.6f\n"
		"# HELP dragoman_remote_hellos_total Remote hellos by outcome.\n"
		"# TYPE dragoman_remote_hellos_total counter\n"
		"dragoman_remote_hellos_total{result=\"accepted\"} %llu\n"
		"dragoman_remote_hellos_total{result=\"bad_auth\"} %llu\n"
		"dragoman_remote_hellos_total{result=\"replayed\"} %llu\n"
		"dragoman_remote_hellos_total{result=\"unknown_session\"} %llu\n"
		"dragoman_remote_hellos_total{result=\"rate_limited\"} %llu\n"
		"dragoman_remote_hellos_total{result=\"malformed\"} %llu\n"
		"# HELP dragoman_remote_challenges_total Challenges sent to new addresses.\n"
		"# TYPE dragoman_remote_challenges_total counter\n"
		"dragoman_remote_challenges_total %llu\n"
		"# HELP dragoman_remote_bad_cookies_total Responses with a wrong or old cookie.\n"
		"# TYPE dragoman_remote_bad_cookies_total counter\n"
		"dragoman_remote_bad_cookies_total %llu\n"
		"# HELP dragoman_remote_key_rotations_total Remote key rotations completed.\n"
		"# TYPE dragoman_remote_key_rotations_total counter\n"
		"dragoman_remote_key_rotations_total %llu\n"
		"# HELP dragoman_remote_sessions Remote sessions (bound or not).\n"
		"# TYPE dragoman_remote_sessions gauge\n"
		"dragoman_remote_sessions %zu\n",
		(unsigned long long)late, (double)max_us / 1e6, (unsigned long long)rs.hellos,
		(unsigned long long)rs.bad_auth, (unsigned long long)rs.replayed,
		(unsigned long long)rs.unknown_session, (unsigned long long)rs.rate_limited,
		(unsigned long long)rs.malformed, (unsigned long long)rs.challenges,
		(unsigned long long)rs.bad_cookie, (unsigned long long)rs.rotations, rs.sessions);
}

/* Prometheus text exposition format, version 0.0.4. */
static char *view_metrics(void *user)
{
	struct dm_watch *w = user;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fputs("# HELP dragoman_level_dbfs Program level per channel.\n"
	      "# TYPE dragoman_level_dbfs gauge\n",
	      f);
	for (size_t c = 0; c < w->n_channels; c++)
		put_levels(f, "dragoman_level_dbfs", "channel", dm_config_channel(w->cfg, c)->id,
			   w->chan_meter[c]);
	fputs("# HELP dragoman_console_level_dbfs Mic level per console.\n"
	      "# TYPE dragoman_console_level_dbfs gauge\n",
	      f);
	for (size_t i = 0; i < w->n_consoles; i++)
		put_levels(f, "dragoman_console_level_dbfs", "console",
			   dm_config_console(w->cfg, i)->id, w->mic_meter[i]);
	fputs("# HELP dragoman_listeners Listeners reporting in the last 30 s.\n"
	      "# TYPE dragoman_listeners gauge\n",
	      f);
	struct dm_listeners_summary *sums = calloc(w->n_channels, sizeof *sums);
	for (size_t c = 0; sums && c < w->n_channels; c++) {
		dm_listeners_get(w->listeners, (int)c, 0, &sums[c]);
		fprintf(f, "dragoman_listeners{channel=\"%s\"} %d\n",
			dm_config_channel(w->cfg, c)->id, sums[c].count);
	}
	fputs("# HELP dragoman_listener_loss_ratio Worst loss a listener reports.\n"
	      "# TYPE dragoman_listener_loss_ratio gauge\n",
	      f);
	for (size_t c = 0; sums && c < w->n_channels; c++)
		fprintf(f, "dragoman_listener_loss_ratio{channel=\"%s\"} %.4f\n",
			dm_config_channel(w->cfg, c)->id, sums[c].loss_max);
	free(sums);
	fputs("# HELP dragoman_packets_sent_total RTP packets sent.\n"
	      "# TYPE dragoman_packets_sent_total counter\n",
	      f);
	for (size_t c = 0; c < w->n_channels; c++) {
		struct dm_stream_stats st;
		dm_stream_get_stats(w->streams[c], &st);
		fprintf(f, "dragoman_packets_sent_total{channel=\"%s\"} %llu\n",
			dm_config_channel(w->cfg, c)->id, (unsigned long long)st.packets);
	}
	fputs("# HELP dragoman_bytes_sent_total Opus payload bytes sent.\n"
	      "# TYPE dragoman_bytes_sent_total counter\n",
	      f);
	for (size_t c = 0; c < w->n_channels; c++) {
		struct dm_stream_stats st;
		dm_stream_get_stats(w->streams[c], &st);
		fprintf(f, "dragoman_bytes_sent_total{channel=\"%s\"} %llu\n",
			dm_config_channel(w->cfg, c)->id, (unsigned long long)st.bytes);
	}
	if (w->remote)
		put_remote(f, w);
	struct dm_jackio_stats js = {0};
	if (w->jack)
		dm_jackio_get_stats(w->jack, &js);
	pthread_mutex_lock(&w->lock);
	int active = dm_alarms_count(w->alarms);
	pthread_mutex_unlock(&w->lock);
	fprintf(f,
		"# HELP dragoman_xruns_total JACK xruns.\n# TYPE dragoman_xruns_total counter\n"
		"dragoman_xruns_total %llu\n"
		"# HELP dragoman_alarms_active Alarms raised and not cleared.\n"
		"# TYPE dragoman_alarms_active gauge\ndragoman_alarms_active %d\n"
		"# HELP dragoman_meters_cpu_seconds_total CPU time spent metering: the "
		"meters and their 10 Hz event (the rings' copies excepted).\n"
		"# TYPE dragoman_meters_cpu_seconds_total counter\n"
		"dragoman_meters_cpu_seconds_total %.6f\n"
		"# HELP dragoman_recording_cpu_seconds_total CPU time of the recording "
		"thread: Ogg framing and file writes (the workers' queueing excepted).\n"
		"# TYPE dragoman_recording_cpu_seconds_total counter\n"
		"dragoman_recording_cpu_seconds_total %.6f\n",
		(unsigned long long)js.xruns, active,
		(double)atomic_load_explicit(&w->meter_cpu_ns, memory_order_relaxed) / 1e9,
		(double)atomic_load_explicit(&w->recording_cpu_ns, memory_order_relaxed) / 1e9);
	fclose(f);
	return buf;
}

void dm_watch_set_remote(struct dm_watch *w, struct dm_remote *remote)
{
	if (w)
		w->remote = remote;
}

void dm_watch_views(struct dm_watch *w, struct dm_api_views *views)
{
	*views = (struct dm_api_views){
		.meters = view_meters,
		.alarms = view_alarms,
		.listeners = view_listeners,
		.metrics = view_metrics,
		.user = w,
	};
}
