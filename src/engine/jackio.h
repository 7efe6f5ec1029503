/* dragoman engine: the JACK client and its process callback (private).
 *
 * Owns the ports and everything the real-time callback touches. The control
 * thread opens the client, notices when the server goes away and opens it
 * again when it is back, restoring the port connections it had. */
#ifndef DRAGOMAN_JACKIO_H
#define DRAGOMAN_JACKIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dragoman/ring.h"
#include "router.h"

struct dm_jackio;

struct dm_jackio_params {
	const char *client_name;
	const char *server_name; /* NULL or "": default / $JACK_DEFAULT_SERVER */
	size_t n_channels;
	const char *const *channel_ids; /* port "<id>.program"; index 0 is the floor */
	size_t n_consoles;
	const char *const *console_ids;	  /* ports "<id>.mic", "<id>.phones" */
	struct dm_ring *const *rings;	  /* per channel: where each program goes */
	struct dm_ring *const *mic_rings; /* per console, optional: its mic, for meters */
	int frame_samples;		  /* wake the workers once per complete frame */
	const int *wake_fds;		  /* eventfds of the encoder workers */
	size_t n_wake_fds;
	const struct dm_route *route; /* initial route (not owned) */
	double phones_ceiling_dbfs;   /* the headphone limiters' ceiling */
};

struct dm_jackio_stats {
	uint64_t xruns;
	uint64_t ring_overflows; /* samples a full ring could not take */
	uint64_t periods;
	uint32_t period; /* buffer size, frames */
	bool connected;
};

/* Allocates everything the callback will touch. Does not contact JACK.
 * Returns 0 and *out, DM_EINVAL or DM_ENOMEM. Control thread. */
int dm_jackio_new(const struct dm_jackio_params *p, struct dm_jackio **out);

/* Closes the client if open and frees. NULL is fine. */
void dm_jackio_free(struct dm_jackio *j);

/* Opens the client (never starting a server), registers the ports,
 * activates, and restores the connections remembered from before.
 * Returns 0; DM_EJACK when the server is not there (try again later).
 * Control thread. */
int dm_jackio_open(struct dm_jackio *j);

/* True once the server has gone away since dm_jackio_open (the client must
 * then be closed with dm_jackio_close and opened again). Any thread. */
bool dm_jackio_lost(const struct dm_jackio *j);

/* Publishes a new route: the callback crossfades to it at its next period.
 * The route must stay alive while dm_jackio_route_in_use says so. */
void dm_jackio_set_route(struct dm_jackio *j, const struct dm_route *route);

/* True while the callback may still read route (playing or fading from it). */
bool dm_jackio_route_in_use(const struct dm_jackio *j, const struct dm_route *route);

/* Closes the client (remembering its connections if the server is alive). */
void dm_jackio_close(struct dm_jackio *j);

/* Records the current connections of our ports, to restore after a server
 * restart. Call now and then from the control thread. */
void dm_jackio_remember(struct dm_jackio *j);

/* Samples channel c's ring could not take (the encoder fell behind). */
uint64_t dm_jackio_channel_overflows(const struct dm_jackio *j, size_t c);

/* Retries the connections not yet restored since the last (re)open. Call
 * about once a second from the control thread. */
void dm_jackio_restore(struct dm_jackio *j);

void dm_jackio_get_stats(const struct dm_jackio *j, struct dm_jackio_stats *st);

#endif
