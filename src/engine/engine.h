/* dragoman engine: a running conference (private). Ties the JACK client,
 * the program rings, the encoder workers and the channel streams together. */
#ifndef DRAGOMAN_ENGINE_H
#define DRAGOMAN_ENGINE_H

#include <stdint.h>

#include "dragoman/config.h"

struct dm_engine;

struct dm_engine_params {
	const struct dm_config *config; /* not owned; must outlive the engine */
	const uint8_t *secret;		/* DM_SECRET_LEN bytes, copied */
	const char *sdp_dir;		/* NULL: write no SDP files */
	int workers;			/* encoder threads; 0: one per core */
};

/* Creates streams (sockets, encoders, keys), rings and the JACK client
 * (not yet connected). Returns 0 and *out; DM_ENET, DM_ECODEC, DM_ECRYPTO,
 * DM_ENOMEM, DM_EINVAL (each logged with what failed). */
int dm_engine_new(const struct dm_engine_params *p, struct dm_engine **out);

/* Starts the encoder workers. Returns 0 or DM_EIO. */
int dm_engine_start(struct dm_engine *e);

/* One step of the control loop (call every ~100 ms): connects to JACK or
 * reconnects after the server went away, writes SDP files of channels that
 * have started streaming or changed keys. Returns 0. */
int dm_engine_tick(struct dm_engine *e);

/* Stops the workers and JACK, frees everything. NULL is fine. */
void dm_engine_free(struct dm_engine *e);

#endif
