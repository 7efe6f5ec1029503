/* dragoman: the technicians' alarms (private to the engine).
 *
 * A pure state machine: no threads, no clock, no I/O. The control thread calls
 * dm_alarms_update about 10 times a second with what the meters and counters
 * say now and the wall-clock time (seconds, e.g. CLOCK_REALTIME); the module
 * raises and clears alarms and reports every change through a callback, to be
 * sent as an event with its time.
 *
 * SILENCE (per console): raised when it is live and its mic has been silent
 *   longer than silence_s; cleared when it is heard again or no longer live.
 * CLIP (per channel): raised when its clip counter went up; cleared after 2 s
 *   without a new clip.
 * XRUN (engine): raised when the xrun counter went up; cleared after 5 s
 *   without a new one.
 * ENCODER_BEHIND (per channel): raised when its overflow counter went up;
 *   cleared after 5 s without a new overflow.
 * LISTENER_LOSS (per channel): raised when a listener reports loss > 5 %;
 *   cleared when none has for 10 s.
 * JACK_LOST (engine): raised while jack_connected is false.
 * DISK (engine): raised while disk_error is true (full, or a write failed);
 *   cleared when a write succeeded.
 *
 * Counters are cumulative since dm_alarms_new (they start at 0); a counter that
 * goes down is taken as restarted from 0 (what it reads now is new).
 * Names: the channel and console ids are given to dm_alarms_new, in the
 * engine's index order, and copied; alarms carry both the index and, in their
 * text, the id. */
#ifndef DRAGOMAN_ALARMS_H
#define DRAGOMAN_ALARMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dm_alarm_kind {
	DM_ALARM_SILENCE,
	DM_ALARM_CLIP,
	DM_ALARM_XRUN,
	DM_ALARM_ENCODER_BEHIND,
	DM_ALARM_LISTENER_LOSS,
	DM_ALARM_JACK_LOST,
	DM_ALARM_DISK,
};
#define DM_ALARM_KINDS 7

#define DM_ALARM_CLIP_HOLD_S 2.0
#define DM_ALARM_XRUN_HOLD_S 5.0
#define DM_ALARM_ENCODER_HOLD_S 5.0
#define DM_ALARM_LOSS_RATIO 0.05 /* raised above this (strictly) */
#define DM_ALARM_LOSS_HOLD_S 10.0
#define DM_ALARM_MAX_ITEMS 4096 /* channels, consoles: more is a bad argument */
#define DM_ALARM_TEXT_MAX 128

struct dm_alarm {
	enum dm_alarm_kind kind;
	int channel;		      /* index, or -1 (SILENCE, XRUN, JACK_LOST, DISK) */
	int console;		      /* index, or -1 (all but SILENCE) */
	double raised_at;	      /* now_s of the update that raised it */
	char text[DM_ALARM_TEXT_MAX]; /* for people, e.g. "fr-1: mic silent for 12 s";
				       * refreshed while the cause goes on */
};

struct dm_alarm_console_input {
	bool live;	 /* its mic is on air (on, not muted) */
	double silent_s; /* dm_meter_reading.silent_s of its mic: >= 0 */
};

struct dm_alarm_channel_input {
	uint64_t clips;	    /* program clipped samples, cumulative */
	uint64_t overflows; /* ring overflows / frames dropped, cumulative */
	double max_loss;    /* highest loss ratio (0..1) reported by a listener in
			     * the last report interval; 0 when none reports */
};

struct dm_alarm_inputs {
	const struct dm_alarm_console_input *consoles; /* n_consoles of them */
	const struct dm_alarm_channel_input *channels; /* n_channels of them */
	uint64_t xruns;				       /* cumulative */
	bool jack_connected;			       /* the JACK server is there */
	bool disk_error; /* recording: disk full, or the last write failed */
};

/* Called for every change, during dm_alarms_update: first all clears, then
 * all raises, each group in dm_alarms_active's order. alarm is valid only
 * during the call (on a clear: as it was while active). The callback may call
 * dm_alarms_active and dm_alarms_count (they already show this change), not
 * dm_alarms_update. */
typedef void (*dm_alarm_cb)(void *user, const struct dm_alarm *alarm, bool raised);

struct dm_alarms;

/* Allocates the alarms of n_channels channels and n_consoles consoles (each
 * 0..DM_ALARM_MAX_ITEMS), with their ids (non-empty, shorter than DM_ID_MAX;
 * the arrays may be NULL when their count is 0) and the silence delay
 * (alarms.silence_s: finite, > 0). Nothing is active. Returns 0 and *out,
 * DM_EINVAL (*out is then NULL) or DM_ENOMEM. */
int dm_alarms_new(size_t n_channels, const char *const *channel_ids, size_t n_consoles,
		  const char *const *console_ids, double silence_s, struct dm_alarms **out);

/* Frees; NULL is fine. */
void dm_alarms_free(struct dm_alarms *a);

/* Takes the inputs seen at wall-clock time now_s and raises and clears alarms,
 * calling on_change (may be NULL) for each. If now_s goes back (the clock was
 * stepped), the hold times go on from the new time as if no time had passed.
 * Returns the number of changes, or DM_EINVAL (a or in NULL, now_s not finite,
 * a needed input array NULL, a silent_s negative or not a number, a max_loss
 * outside 0..1 or not a number): then nothing changes. */
int dm_alarms_update(struct dm_alarms *a, const struct dm_alarm_inputs *in, double now_s,
		     dm_alarm_cb on_change, void *user);

/* Copies up to cap active alarms into out, ordered by kind (enum order), then
 * by channel or console index. Returns the number active (which may be more
 * than cap; out may be NULL when cap is 0), or DM_EINVAL (a NULL, out NULL with cap > 0). */
int dm_alarms_active(const struct dm_alarms *a, struct dm_alarm *out, size_t cap);

/* The number of active alarms, or DM_EINVAL (a NULL). */
int dm_alarms_count(const struct dm_alarms *a);

/* "silence", "clip", "xrun", "encoder_behind", "listener_loss", "jack_lost",
 * "disk" (for JSON and metrics labels); "unknown" for anything else. */
const char *dm_alarm_kind_name(enum dm_alarm_kind kind);

#endif
