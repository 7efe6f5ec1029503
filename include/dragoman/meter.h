/* dragoman: a level meter for one mono signal (a channel's program or a
 * console's mic): sample peak, RMS, EBU R128 momentary loudness, clips and
 * silence, updated 10 times a second.
 *
 * One thread feeds it (in the engine, the control loop, from rings that the
 * JACK callback and the encoder workers copy into: never the JACK callback);
 * any other thread reads a consistent snapshot at any time.
 *
 * Readings describe the last complete 100 ms window (rate / 10 samples): the
 * feeder splits its blocks at window edges, so the readings do not depend on the
 * block sizes it is fed with. Momentary loudness is EBU R128's (ITU-R BS.1770
 * K-weighting, 400 ms sliding window, one channel counted once): a 1 kHz sine
 * at -20 dBFS reads -20 dBFS peak, -23 dBFS RMS and -23 LUFS. The K-weighting
 * is computed here, in the same pass as peak and RMS, because libebur128's
 * alone cost more than the engine's CPU budget for meters; the unit tests hold
 * it to libebur128's readings (EBUR128_MODE_M) within 0.001 dB.
 *
 * Levels are never -inf: anything below DM_METER_FLOOR_DB (digital silence,
 * and the loudness of the first window when it is silent) reads exactly
 * DM_METER_FLOOR_DB, so every value fits in JSON and Prometheus as a plain number.
 *
 * Concurrency: the feeder publishes each update under a seqlock (a sequence
 * counter, odd while it writes), so the feeder never waits for a reader and a
 * reader never sees half of an update: it copies the reading and retries in the
 * rare case the feeder published meanwhile (an update takes well under a
 * microsecond and happens 10 times per second of audio). */
#ifndef DRAGOMAN_METER_H
#define DRAGOMAN_METER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The value of every level below it, and of -inf. */
#define DM_METER_FLOOR_DB (-120.0)
/* A sample clips when |x| >= full scale minus 0.01 dB, i.e. 10^(-0.01/20) =
 * 0.998849 (float): what a converter or a codec at full scale is about to cut.
 * A non-finite sample (NaN, inf) counts as a clip and is metered as 1.0. */
#define DM_METER_CLIP_DBFS (-0.01)
/* The signal is "heard" in a window whose RMS is above this; silent_s counts
 * the time since the last such window. */
#define DM_METER_SILENCE_DBFS (-50.0)
/* Updates per second: one per 100 ms window. */
#define DM_METER_UPDATES_PER_S 10
/* Accepted sample rates (the engine uses DM_SAMPLE_RATE, 48 kHz). */
#define DM_METER_RATE_MIN 8000
#define DM_METER_RATE_MAX 192000

struct dm_meter;

struct dm_meter_reading {
	double peak_dbfs;      /* highest |sample| in the last window, dBFS (floored) */
	double rms_dbfs;       /* RMS of the last window, dBFS (floored); a sine reads 3.01 dB
				* below its peak */
	double momentary_lufs; /* EBU R128 momentary loudness of the last 400 ms (floored) */
	uint64_t clips;	       /* clipped samples since new or reset */
	double silent_s;       /* seconds of audio fed since the last window above
				* DM_METER_SILENCE_DBFS (or since new/reset), in whole windows */
	uint64_t updates;      /* windows completed since new or reset; 0: nothing measured
				* yet, every level reads DM_METER_FLOOR_DB */
};

/* Allocates a meter for rate samples per second (DM_METER_RATE_MIN..MAX and a
 * multiple of 10, so a window is exactly 100 ms). Everything it needs is
 * allocated here: feeding never allocates. Returns 0 and *out, DM_EINVAL (bad
 * rate, out NULL; *out is then NULL) or DM_ENOMEM. Not RT-safe. */
int dm_meter_new(unsigned int rate, struct dm_meter **out);

/* Frees a meter; NULL is fine. No thread may be using it. */
void dm_meter_free(struct dm_meter *m);

/* Feeder: meters n mono samples (any n; the block sizes do not matter).
 * Returns the number of updates published during this call (0 when no window
 * was completed; a caller can wake its 10 Hz event on > 0; capped at
 * INT_MAX), or DM_EINVAL (m NULL, or pcm NULL with n > 0). n == 0 does
 * nothing and returns 0. No allocation, no lock, no syscall; one feeder
 * thread at a time. */
int dm_meter_feed(struct dm_meter *m, const float *pcm, size_t n);

/* Feeder: meters count meters at once, n samples each (pcm[i] into m[i]),
 * with the same readings, bit for bit, as dm_meter_feed on each in turn, for
 * a third of the CPU time where the CPU has AVX2 (four meters share each
 * vector instruction of the filters: 1.1 against 3.5 ns a sample on the
 * development VM), half elsewhere (two, in SSE2: 1.8 ns). For the
 * control loop, which meters every channel and mic in the same period. The
 * meters may be at different points of their windows. Returns the number of
 * updates published (all meters together, capped at INT_MAX), or DM_EINVAL (m
 * NULL, pcm NULL with count > 0, a NULL meter, a NULL pcm[i] with n > 0,
 * meters of different rates, or a meter listed twice; nothing is fed then).
 * The arguments are checked first; valid ones with count == 0 or n == 0 do
 * nothing and return 0. No allocation, no lock, no syscall; one feeder
 * thread for all these meters. The same bits need floating-point
 * contraction off (meson.build: -ffp-contract=off). */
int dm_meter_feed_many(struct dm_meter *const *m, const float *const *pcm, size_t count, size_t n);

/* Reader, from any thread, concurrently with the feeder: copies the latest
 * published reading. Returns 0, or DM_EINVAL (m or out NULL). Never blocks the
 * feeder; may retry while an update is being published. */
int dm_meter_read(const struct dm_meter *m, struct dm_meter_reading *out);

/* Any thread: writes reading r as the members of a JSON object (no braces),
 * NUL-terminated, into buf:
 *   "peak_dbfs":P,"rms_dbfs":R,"momentary_lufs":L,"clips":C
 * and, with silence, ,"silent_s":S. Levels have two decimals (0.01 dB, always
 * with a point: JSON reals), silent_s one (whole 100 ms windows); a value
 * beyond +-1e12 (never a reading's) is written null. The same text in every
 * locale. For the engine's 10 Hz meters event, which through jansson's
 * general formatting (17 digits) cost 140 us an event: as much as a third of
 * the metering. Returns the length written (without the NUL), or DM_EINVAL (r
 * or buf NULL) or DM_ENOSPC (cap too small: DM_METER_JSON_MAX is always
 * enough; buf then holds "" when cap > 0). No allocation, no lock. */
#define DM_METER_JSON_MAX 160
int dm_meter_reading_json(const struct dm_meter_reading *r, int silence, char *buf, size_t cap);

/* Feeder side (the feeding thread, or while nobody feeds): forgets everything,
 * as if just created (loudness history, clips, silence, updates; the reading
 * goes back to the floor values). Returns 0, or DM_EINVAL (m NULL). No
 * allocation, no lock, no syscall. */
int dm_meter_reset(struct dm_meter *m);

#ifdef __cplusplus
}
#endif
#endif
