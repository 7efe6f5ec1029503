/* dragoman: the routing the JACK process callback applies (private).
 *
 * A route is an immutable snapshot: which console feeds each channel's program,
 * what a channel falls back to, what each console hears. The control thread
 * builds a new one and publishes it by an atomic pointer swap; the callback
 * only reads it. */
#ifndef DRAGOMAN_ROUTER_H
#define DRAGOMAN_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "dragoman/config.h"

struct dm_route {
	size_t n_channels; /* floor included, index 0 */
	size_t n_consoles;
	int *source;		    /* per channel: console index on air, -1: none */
	enum dm_fallback *fallback; /* per channel, when no console is on air */
	int *listen;		    /* per console: channel index it hears (0: floor) */
};

/* Builds the static route of a configuration: a live console feeds its A
 * channel; consoles hear the floor. Returns 0 and *out, DM_EINVAL or
 * DM_ENOMEM. Not RT-safe. */
int dm_route_new_from_config(const struct dm_config *cfg, struct dm_route **out);

/* Frees a route; NULL is fine. Not RT-safe. */
void dm_route_free(struct dm_route *r);

/* Computes one period. floor: the floor input; mics[i]: console i's mic;
 * programs[c]: channel c's program output (programs[0] gets the floor);
 * phones[i]: console i's headphones. Buffers hold nframes samples and must not
 * alias except mics/floor among themselves. RT-safe: no allocation, no lock,
 * no syscall. */
void dm_router_process(const struct dm_route *r, const float *floor, const float *const *mics,
		       float *const *programs, float *const *phones, uint32_t nframes);

#endif
