#include "router.h"

#include "dragoman/error.h"

#include <stdlib.h>
#include <string.h>

void dm_route_free(struct dm_route *r)
{
	if (!r)
		return;
	free(r->source);
	free(r->fallback);
	free(r->listen);
	free(r);
}

int dm_route_new_from_config(const struct dm_config *cfg, struct dm_route **out)
{
	if (!cfg || !out)
		return DM_EINVAL;
	struct dm_route *r = calloc(1, sizeof *r);
	if (!r)
		return DM_ENOMEM;
	r->n_channels = dm_config_channel_count(cfg);
	r->n_consoles = dm_config_console_count(cfg);
	r->source = calloc(r->n_channels, sizeof *r->source);
	r->fallback = calloc(r->n_channels, sizeof *r->fallback);
	/* +1: calloc(0) may return NULL, and a conference may have no console. */
	r->listen = calloc(r->n_consoles + 1, sizeof *r->listen);
	if (!r->source || !r->fallback || !r->listen) {
		dm_route_free(r);
		return DM_ENOMEM;
	}
	for (size_t c = 0; c < r->n_channels; c++) {
		r->source[c] = -1;
		r->fallback[c] = dm_config_channel(cfg, c)->fallback;
	}
	for (size_t i = 0; i < r->n_consoles; i++) {
		const struct dm_console_conf *con = dm_config_console(cfg, i);
		/* The loader refuses two live consoles on one channel. */
		if (con->live && con->a > 0 && (size_t)con->a < r->n_channels)
			r->source[con->a] = (int)i;
		r->listen[i] = 0;
	}
	*out = r;
	return 0;
}

void dm_router_process(const struct dm_route *r, const float *floor, const float *const *mics,
		       float *const *programs, float *const *phones, uint32_t nframes)
{
	size_t bytes = nframes * sizeof(float);
	memcpy(programs[0], floor, bytes);
	for (size_t c = 1; c < r->n_channels; c++) {
		int s = r->source[c];
		if (s >= 0)
			memcpy(programs[c], mics[s], bytes);
		else if (r->fallback[c] == DM_FALLBACK_FLOOR)
			memcpy(programs[c], floor, bytes);
		else
			memset(programs[c], 0, bytes);
	}
	for (size_t i = 0; i < r->n_consoles; i++) {
		int l = r->listen[i];
		memcpy(phones[i], programs[l >= 0 && (size_t)l < r->n_channels ? l : 0], bytes);
	}
}
