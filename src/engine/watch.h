/* dragoman engine: what the technicians watch (private): a meter per channel
 * program and per console mic, the alarms, the listeners who report, and the
 * views the control API serves (/api/v1/meters, /alarms, /listeners,
 * /metrics) plus the 10 Hz meter events. Nothing here runs in the JACK
 * callback: program meters are fed by the encoder workers, mic meters from
 * rings the callback fills, the rest by the control loop. */
#ifndef DRAGOMAN_WATCH_H
#define DRAGOMAN_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dragoman/config.h"
#include "dragoman/ring.h"

struct dm_watch;
struct dm_stream;
struct dm_recorder;
struct dm_jackio;
struct dm_control;
struct dm_api_views;

/* streams and recorders: per channel (recorders may be NULL or hold NULLs);
 * secret: for the listeners' receiver reports. Opens the report sockets and
 * starts the thread that reads them. Returns 0 and *out, DM_ENET, DM_ENOMEM,
 * DM_EINVAL. Thread: control. */
int dm_watch_new(const struct dm_config *cfg, const uint8_t *secret,
		 struct dm_stream *const *streams, struct dm_recorder *const *recorders,
		 struct dm_watch **out);
void dm_watch_free(struct dm_watch *w);

/* Per console: the ring the JACK callback copies its mic into. */
struct dm_ring *const *dm_watch_mic_rings(struct dm_watch *w);

/* Connects what is created after the watch. */
void dm_watch_attach(struct dm_watch *w, struct dm_jackio *jack, struct dm_control *ctl);

/* The remote delegates' sessions (NULL: none): shown in the listeners view
 * and the metrics. Call before the API starts. */
struct dm_remote;
void dm_watch_set_remote(struct dm_watch *w, struct dm_remote *remote);

/* Encoder worker of channel c: hands one frame of its program to the meters
 * (a copy into a ring; dm_watch_tick meters it). No allocation, no lock. */
void dm_watch_feed(struct dm_watch *w, size_t c, const float *pcm, size_t n);

/* The recording thread: adds ns of its CPU time to what /metrics shows as
 * dragoman_recording_cpu_seconds_total. Any thread; lock-free. */
void dm_watch_add_recording_cpu(struct dm_watch *w, uint64_t ns);

/* Control loop, every ~50 ms: meters every channel and mic (from their
 * rings), alarms, meter events. */
void dm_watch_tick(struct dm_watch *w);

/* The API's views of this watch. */
void dm_watch_views(struct dm_watch *w, struct dm_api_views *views);

#endif
