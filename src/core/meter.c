/* Level meter: peak, RMS, EBU R128 momentary loudness, clips, silence
 * (include/dragoman/meter.h). */
#include "dragoman/meter.h"

#include <ebur128.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dragoman/error.h"

/* The published reading, one word per field: doubles travel as their bits so
 * that every field can be an atomic (a seqlock over plain fields would be a
 * data race in C11, even though the sequence check discards torn copies). */
enum { PUB_PEAK, PUB_RMS, PUB_LUFS, PUB_CLIPS, PUB_SILENT, PUB_UPDATES, PUB_N };

struct dm_meter {
	unsigned int rate;
	size_t window; /* samples per 100 ms window */
	float clip_level;
	ebur128_state *ebur;
	float *scratch; /* one window: the sanitised samples handed to libebur128 */

	/* Feeder only: the window being filled, and the running counters. */
	size_t fill;
	float peak;
	double sumsq;
	uint64_t clips;
	uint64_t silent_windows;
	uint64_t updates;

	/* Seqlock: odd while the feeder publishes. */
	atomic_uint seq;
	_Atomic uint64_t pub[PUB_N];
};

static uint64_t bits_of(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

static double double_of(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

/* Also maps -inf and NaN (log of 0, libebur128's silence) to the floor. */
static double floored(double db)
{
	return db > DM_METER_FLOOR_DB ? db : DM_METER_FLOOR_DB;
}

/* Writer side of the seqlock (Boehm, "Can seqlocks get along with programming
 * language memory models?"): the release fence keeps the field stores after
 * the odd sequence number, the final release store keeps them before the even one. */
static void publish(struct dm_meter *m, const uint64_t v[PUB_N])
{
	unsigned int s = atomic_load_explicit(&m->seq, memory_order_relaxed);

	atomic_store_explicit(&m->seq, s + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	for (int i = 0; i < PUB_N; i++)
		atomic_store_explicit(&m->pub[i], v[i], memory_order_relaxed);
	atomic_store_explicit(&m->seq, s + 2, memory_order_release);
}

static void publish_floor(struct dm_meter *m)
{
	uint64_t v[PUB_N] = {
		[PUB_PEAK] = bits_of(DM_METER_FLOOR_DB),
		[PUB_RMS] = bits_of(DM_METER_FLOOR_DB),
		[PUB_LUFS] = bits_of(DM_METER_FLOOR_DB),
		[PUB_CLIPS] = 0,
		[PUB_SILENT] = bits_of(0.0),
		[PUB_UPDATES] = 0,
	};

	publish(m, v);
}

static void clear_counters(struct dm_meter *m)
{
	m->fill = 0;
	m->peak = 0.0f;
	m->sumsq = 0.0;
	m->clips = 0;
	m->silent_windows = 0;
	m->updates = 0;
}

static ebur128_state *ebur_new(unsigned int rate)
{
	/* One channel with libebur128's default map (channel 0 = EBUR128_LEFT,
	 * weight 1): a mono signal counted once, so a 1 kHz sine at -20 dBFS reads
	 * -23.0 LUFS. EBUR128_DUAL_MONO (weight 2, for a mono signal played on two
	 * speakers) would read -20.0 LUFS. */
	return ebur128_init(1, rate, EBUR128_MODE_M);
}

int dm_meter_new(unsigned int rate, struct dm_meter **out)
{
	struct dm_meter *m;

	if (out)
		*out = NULL;
	if (!out || rate < DM_METER_RATE_MIN || rate > DM_METER_RATE_MAX ||
	    rate % DM_METER_UPDATES_PER_S)
		return DM_EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return DM_ENOMEM;
	m->rate = rate;
	m->window = rate / DM_METER_UPDATES_PER_S;
	m->clip_level = (float)pow(10.0, DM_METER_CLIP_DBFS / 20.0);
	m->scratch = calloc(m->window, sizeof(*m->scratch));
	m->ebur = ebur_new(rate);
	if (!m->scratch || !m->ebur) {
		dm_meter_free(m);
		return DM_ENOMEM;
	}
	atomic_init(&m->seq, 0);
	for (int i = 0; i < PUB_N; i++)
		atomic_init(&m->pub[i], 0);
	clear_counters(m);
	publish_floor(m);
	*out = m;
	return 0;
}

void dm_meter_free(struct dm_meter *m)
{
	if (!m)
		return;
	if (m->ebur)
		ebur128_destroy(&m->ebur);
	free(m->scratch);
	free(m);
}

static void end_window(struct dm_meter *m)
{
	double rms = sqrt(m->sumsq / (double)m->window);
	double peak_db = floored(20.0 * log10((double)m->peak));
	double rms_db = floored(20.0 * log10(rms));
	double lufs = -HUGE_VAL;
	uint64_t v[PUB_N];

	/* Cannot fail in EBUR128_MODE_M; on failure the reading shows the floor. */
	if (ebur128_loudness_momentary(m->ebur, &lufs) != EBUR128_SUCCESS)
		lufs = -HUGE_VAL;
	if (rms_db > DM_METER_SILENCE_DBFS)
		m->silent_windows = 0;
	else
		m->silent_windows++;
	m->updates++;

	v[PUB_PEAK] = bits_of(peak_db);
	v[PUB_RMS] = bits_of(rms_db);
	v[PUB_LUFS] = bits_of(floored(lufs));
	v[PUB_CLIPS] = m->clips;
	v[PUB_SILENT] = bits_of((double)m->silent_windows / DM_METER_UPDATES_PER_S);
	v[PUB_UPDATES] = m->updates;
	publish(m, v);

	m->fill = 0;
	m->peak = 0.0f;
	m->sumsq = 0.0;
}

int dm_meter_feed(struct dm_meter *m, const float *pcm, size_t n)
{
	int updates = 0;

	if (!m || (!pcm && n))
		return DM_EINVAL;
	while (n) {
		size_t take = m->window - m->fill;

		if (take > n)
			take = n;
		for (size_t i = 0; i < take; i++) {
			float x = pcm[i];
			float a = fabsf(x);

			if (!isfinite(x)) {
				x = 1.0f;
				a = 1.0f;
			}
			if (a >= m->clip_level)
				m->clips++;
			if (a > m->peak)
				m->peak = a;
			m->sumsq += (double)x * (double)x;
			m->scratch[i] = x;
		}
		/* In EBUR128_MODE_M this only filters into the preallocated 400 ms
		 * buffer: no allocation (gating blocks are kept for MODE_I only). */
		(void)ebur128_add_frames_float(m->ebur, m->scratch, take);
		m->fill += take;
		pcm += take;
		n -= take;
		if (m->fill == m->window) {
			end_window(m);
			if (updates < INT_MAX)
				updates++;
		}
	}
	return updates;
}

int dm_meter_read(const struct dm_meter *m, struct dm_meter_reading *out)
{
	uint64_t v[PUB_N];
	unsigned int s1, s2;

	if (!m || !out)
		return DM_EINVAL;
	do {
		s1 = atomic_load_explicit(&m->seq, memory_order_acquire);
		for (int i = 0; i < PUB_N; i++)
			v[i] = atomic_load_explicit(&m->pub[i], memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		s2 = atomic_load_explicit(&m->seq, memory_order_relaxed);
	} while ((s1 & 1u) || s1 != s2);

	out->peak_dbfs = double_of(v[PUB_PEAK]);
	out->rms_dbfs = double_of(v[PUB_RMS]);
	out->momentary_lufs = double_of(v[PUB_LUFS]);
	out->clips = v[PUB_CLIPS];
	out->silent_s = double_of(v[PUB_SILENT]);
	out->updates = v[PUB_UPDATES];
	return 0;
}

int dm_meter_reset(struct dm_meter *m)
{
	ebur128_state *fresh;

	if (!m)
		return DM_EINVAL;
	fresh = ebur_new(m->rate);
	if (!fresh)
		return DM_ENOMEM;
	ebur128_destroy(&m->ebur);
	m->ebur = fresh;
	clear_counters(m);
	publish_floor(m);
	return 0;
}
