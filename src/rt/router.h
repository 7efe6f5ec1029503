/* dragoman: the routing the JACK process callback applies (private).
 *
 * A route is an immutable snapshot built on the control thread: what each
 * channel's program carries, what each console hears and how loud. The
 * control thread publishes a new one by an atomic pointer swap; the callback
 * picks it up at the start of a period and crossfades from the old one over
 * about 5 ms, so a switch never clicks. The headphones of every console pass
 * a look-ahead limiter so they never exceed the ceiling (hearing protection). */
#ifndef DRAGOMAN_ROUTER_H
#define DRAGOMAN_ROUTER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "dragoman/config.h"

enum dm_source_kind { DM_SRC_SILENCE = 0, DM_SRC_FLOOR = 1, DM_SRC_MIC = 2 };

struct dm_route_channel {
	enum dm_source_kind kind;
	int console; /* with DM_SRC_MIC: whose mic */
	float gain;  /* linear; 0 while the console coughs */
};

struct dm_route_console {
	int listen;	/* channel index heard: 0 the floor, else that program */
	float volume;	/* linear headphone gain */
	float sidetone; /* linear gain of its own mic in its headphones */
};

struct dm_route {
	size_t n_channels; /* floor included, index 0 */
	size_t n_consoles;
	struct dm_route_channel *channel;
	struct dm_route_console *console;
};

/* Allocates a route of the given size: every program silent except the floor
 * (channel 0 carries the floor), consoles hear the floor at 0 dB with no
 * sidetone. Returns 0 and *out, DM_EINVAL or DM_ENOMEM. Not RT-safe. */
int dm_route_new(size_t n_channels, size_t n_consoles, struct dm_route **out);

/* The static route of a configuration: a live console feeds its A channel, a
 * channel without one carries its fallback, consoles hear the floor.
 * Returns 0 and *out, DM_EINVAL or DM_ENOMEM. Not RT-safe. */
int dm_route_new_from_config(const struct dm_config *cfg, struct dm_route **out);

/* Frees a route; NULL is fine. Not RT-safe; never while the callback may use it
 * (see dm_router_in_use). */
void dm_route_free(struct dm_route *r);

struct dm_router;

/* The callback's own state: the route it plays, the one it fades from, the
 * limiters. ceiling_dbfs: the headphones' ceiling; fade_samples: crossfade
 * length; max_frames: largest period. Returns 0 and *out, DM_EINVAL or
 * DM_ENOMEM. Not RT-safe. */
int dm_router_new(size_t n_channels, size_t n_consoles, double ceiling_dbfs, uint32_t fade_samples,
		  uint32_t max_frames, struct dm_router **out);
void dm_router_free(struct dm_router *rt);

/* Computes one period with the route `route` (the latest published). floor:
 * the floor input; mics[i]: console i's mic; programs[c]: channel c's program
 * (programs[0] gets the floor); phones[i]: console i's headphones. When route
 * differs from the one playing, the router crossfades to it (a route published
 * during a crossfade waits until it ends). RT-safe: no allocation, lock or
 * syscall. */
void dm_router_process(struct dm_router *rt, const struct dm_route *route, const float *floor,
		       const float *const *mics, float *const *programs, float *const *phones,
		       uint32_t nframes);

/* True while the callback may still read r (it plays it or fades from it).
 * Control thread, to know when a retired route may be freed. */
int dm_router_in_use(const struct dm_router *rt, const struct dm_route *r);

/* Samples the limiters reduced since the start (for meters/tests). */
uint64_t dm_router_limited(const struct dm_router *rt);

#endif
