/* dragoman: the listener's playout buffer, between the receive thread
 * (producer of decoded PCM, at the sender's clock) and an audio device
 * callback (consumer, at the device's clock).
 *
 * It keeps a cushion of samples as small as the device's bursts allow: it
 * starts at min_ms, grows by a step at every underrun (evidence), gives a lone
 * stall's steps back after 2 s without another underrun (the first underrun
 * in 10 s of playback, with its re-prime's falling short just after, is one
 * stall, not a network that needs more) and keeps them if a second stall
 * comes within 10 s (the first 10 s after creation are learning and keep
 * every step), decays slowly when the
 * cushion has been larger than needed for a long time, and
 * compensates clock drift with a libspeexdsp resampler whose ratio follows the
 * cushion's fill level, so it neither drains nor overflows.
 *
 * Playback starts only once the level reaches the target ("priming"), and
 * again after an underrun or a flush; priming outputs silence and is not an
 * underrun. The ratio stays within +-0.5 %, so a larger drift is not fully
 * absorbed. The resampler (Speex quality 3) adds 24 samples (0.5 ms at 48 kHz)
 * of delay on top of the cushion. */
#ifndef DRAGOMAN_PLAYOUT_H
#define DRAGOMAN_PLAYOUT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dm_playout;

struct dm_playout_stats {
	uint64_t underruns;    /* device callbacks that found too little once
				* playback had started (not priming) */
	uint64_t overflows;    /* samples dropped: the ring was full at a push,
				* or the level exceeded max_ms + 20 ms at a
				* pull and was cut back to the target */
	double buffer_ms_mean; /* level at each pull during playback, mean */
	double buffer_ms_max;
	double target_ms; /* current target cushion */
	double ratio;	  /* current resampling ratio (out/in), ~1.0 */
};

/* rate: sample rate (48000; 8000..192000). min_ms: starting cushion, and the
 * floor of its decay (> 0). max_ms: cap of the cushion (min_ms..5000). Returns
 * 0 and *out, DM_EINVAL or DM_ENOMEM. Not RT-safe. */
int dm_playout_new(int rate, double min_ms, double max_ms, struct dm_playout **out);
void dm_playout_free(struct dm_playout *p);

/* Producer (one thread): appends decoded samples. Returns how many were taken
 * (the rest counts as overflow); 0 for a NULL argument. */
size_t dm_playout_push(struct dm_playout *p, const float *pcm, size_t n);

/* Producer: samples buffered now (for the receiver's "is the device about to
 * run dry" decision). */
size_t dm_playout_level(const struct dm_playout *p);

/* Producer: drops everything buffered (channel switch: the new channel plays at
 * once instead of after the old one's tail). Safe against a concurrent pull. */
void dm_playout_flush(struct dm_playout *p);

/* Consumer (the device callback): fills out with exactly n samples, resampled
 * for drift; silence where there was nothing (an underrun, counted, if playing)
 * or while priming. RT-safe: no allocation, lock or syscall. With p NULL, out
 * gets silence; with out NULL, nothing happens. */
void dm_playout_pull(struct dm_playout *p, float *out, size_t n);

/* Any thread: a consistent-enough snapshot of the statistics. */
void dm_playout_get_stats(const struct dm_playout *p, struct dm_playout_stats *st);

#ifdef __cplusplus
}
#endif
#endif
