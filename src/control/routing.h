/* dragoman: the interpretation routing rules (private to the engine).
 *
 * The state an interpreter or technician changes through the control API:
 * per console mic on/off, cough (mute), output A/B, listening source, volume;
 * the floor language. The rules are a pure function of that state and one
 * request: interlock (at most one live console per channel), handover within
 * a booth, block or override across booths. Everything here runs on the
 * control thread; the real-time side gets a dm_route built from the state. */
#ifndef DRAGOMAN_ROUTING_H
#define DRAGOMAN_ROUTING_H

#include <stdbool.h>
#include <stddef.h>

#include "dragoman/config.h"
#include "router.h"

struct dm_console_state {
	bool mic;	  /* mic switched on */
	bool mute;	  /* cough: momentarily muted, keeps the channel */
	int output;	  /* 0: A channel, 1: B channel */
	int source;	  /* channel index heard: 0 the floor, else relay; never
			   * the console's own output channel */
	double volume_db; /* headphones, -40..+6 */
};

struct dm_routing;

/* What a request changed, for the events the API sends. Filled by the
 * request functions; up to DM_ROUTING_MAX_CHANGES entries, in the order they
 * happened: the consoles a mic displaced come before the mic that went on. */
enum dm_change_kind {
	DM_CHANGE_MIC,	      /* console's mic went on or off (on), on channel */
	DM_CHANGE_MUTE,	      /* on: muted; channel: its output channel */
	DM_CHANGE_OUTPUT,     /* value: 0 A, 1 B; channel: the new output channel */
	DM_CHANGE_SOURCE,     /* channel: heard now (0 the floor) */
	DM_CHANGE_VOLUME,     /* db */
	DM_CHANGE_HANDOVER,   /* console's mic went off: its booth partner took over */
	DM_CHANGE_TAKEN_OVER, /* console's mic went off: another booth overrode it */
	DM_CHANGE_FLOOR,      /* floor language changed (console: -1, channel: new or -1) */
};

#define DM_ROUTING_MAX_CHANGES 8

struct dm_change {
	enum dm_change_kind kind;
	int console; /* index, -1 when none */
	int channel; /* index, -1 when none */
	int by;	     /* console that caused a handover/takeover, else -1 */
	bool on;     /* MIC, MUTE; false for HANDOVER, TAKEN_OVER */
	int value;   /* OUTPUT: 0 or 1 */
	double db;   /* VOLUME */
};

struct dm_changes {
	size_t n;
	struct dm_change c[DM_ROUTING_MAX_CHANGES];
};

/* Result of a refused request. */
struct dm_refusal {
	int holder;  /* console holding the channel (interlock), else -1 */
	int channel; /* the channel concerned, else -1 */
	char reason[160];
};

/* Creates the state of a configuration: mics on where `live = true` (switched
 * on in file order, so the rules below apply), output A, source floor,
 * volume 0 dB, not muted, no floor language. The state keeps cfg, which must
 * outlive it (and its clones). Returns 0 and *out, DM_EINVAL (NULL argument,
 * unknown interlock, or live consoles the interlock refuses) or DM_ENOMEM. */
int dm_routing_new(const struct dm_config *cfg, enum dm_interlock interlock,
		   struct dm_routing **out);
void dm_routing_free(struct dm_routing *r);

/* A deep copy (for "try, then commit"). Returns 0, DM_EINVAL or DM_ENOMEM. */
int dm_routing_clone(const struct dm_routing *r, struct dm_routing **out);

const struct dm_console_state *dm_routing_console(const struct dm_routing *r, size_t console);

/* The console on air on channel c (mic on, output there), or -1. */
int dm_routing_on_air(const struct dm_routing *r, size_t channel);

/* The channel console i would send to (its A or B), or -1 for none. */
int dm_routing_output_channel(const struct dm_routing *r, size_t console);

/* The floor language channel, or -1. */
int dm_routing_floor_language(const struct dm_routing *r);

/* The requests. Each returns 0 (applied; *changes says what changed, possibly
 * nothing) or: DM_EINVAL (bad argument: out of range, no B channel, relay of
 * its own output; *refusal->reason says why), DM_EEXIST (refused by the
 * interlock: *refusal names the holder). On refusal the state is unchanged.
 * changes and refusal may be NULL.
 *
 * mic on: the console goes on air on its output channel (A or B). Its booth
 * partners with their mic on go off (DM_CHANGE_HANDOVER, by = console). A
 * console of another booth on air on that channel makes it DM_EEXIST with
 * interlock block, and goes off with override (DM_CHANGE_TAKEN_OVER).
 * mute: the mic stays on air (and keeps the channel) at gain 0; independent of
 * the mic switch, as the console's cough button is.
 * output: 0 (A) or 1 (B, DM_EINVAL when the console has none). While the mic
 * is on it moves with the same rules as mic on; a refusal leaves it where it
 * was. When the console was relaying the channel it now sends to, its source
 * goes back to the floor (DM_CHANGE_SOURCE): nobody hears their own output.
 * source: 0 (the floor) or any channel but the console's output channel.
 * volume: DM_VOLUME_MIN_DB..DM_VOLUME_MAX_DB. */
int dm_routing_mic(struct dm_routing *r, size_t console, bool on, struct dm_changes *changes,
		   struct dm_refusal *refusal);
int dm_routing_mute(struct dm_routing *r, size_t console, bool on, struct dm_changes *changes,
		    struct dm_refusal *refusal);
int dm_routing_output(struct dm_routing *r, size_t console, int output, struct dm_changes *changes,
		      struct dm_refusal *refusal);
int dm_routing_source(struct dm_routing *r, size_t console, int channel, struct dm_changes *changes,
		      struct dm_refusal *refusal);
int dm_routing_volume(struct dm_routing *r, size_t console, double db, struct dm_changes *changes,
		      struct dm_refusal *refusal);
/* channel: the floor language's channel (>= 1), or -1 to clear it. */
int dm_routing_floor(struct dm_routing *r, int channel, struct dm_changes *changes,
		     struct dm_refusal *refusal);

/* Builds the real-time snapshot of the state: channel 0 the floor; the floor
 * language's channel the floor; else the console on air (gain 0 while muted),
 * else the channel's fallback. Each console hears its source at its volume,
 * plus its own mic at sidetone_db. Returns 0 and *out, DM_EINVAL (NULL
 * argument, sidetone_db not a number) or DM_ENOMEM. */
int dm_routing_build_route(const struct dm_routing *r, double sidetone_db, struct dm_route **out);

#endif
