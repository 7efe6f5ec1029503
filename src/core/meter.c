/* Level meter: peak, RMS, EBU R128 momentary loudness, clips, silence
 * (include/dragoman/meter.h). */
#include "dragoman/meter.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dragoman/error.h"

/* The published reading, one word per field: doubles travel as their bits so
 * that every field can be an atomic (a seqlock over plain fields would be a
 * data race in C11, even though the sequence check discards torn copies). */
enum { PUB_PEAK, PUB_RMS, PUB_LUFS, PUB_CLIPS, PUB_SILENT, PUB_UPDATES, PUB_N };

/* One biquad section of the K-weighting, a0 normalised to 1. */
struct kw_section {
	double b0, b1, b2, a1, a2;
};

struct dm_meter {
	unsigned int rate;
	size_t window; /* samples per 100 ms window */
	float clip_level;
	/* ITU-R BS.1770 K-weighting for this rate: the shelf, then the high-pass
	 * (its numerator is 1, -2, 1 at every rate). */
	struct kw_section shelf;
	double hp_a1, hp_a2;

	/* Feeder only: filter memory (direct form I: last two inputs and outputs
	 * of each section), the window being filled, and the running counters. */
	double x1, x2, y1, y2, z1, z2;
	size_t fill;
	float peak;
	/* Energies of the window being filled, plain and K-weighted, each in two
	 * halves (even and odd samples of the window): see meter_lanes. */
	double sumsq[2], ksum[2];
	double kblock[4];   /* K-weighted energies of the last four windows: 400 ms */
	unsigned int knext; /* the slot the next window goes to */
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

/* Also maps -inf and NaN (the log of 0) to the floor. */
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
	m->x1 = m->x2 = m->y1 = m->y2 = m->z1 = m->z2 = 0.0;
	m->fill = 0;
	m->peak = 0.0f;
	m->sumsq[0] = m->sumsq[1] = 0.0;
	m->ksum[0] = m->ksum[1] = 0.0;
	for (unsigned int i = 0; i < 4; i++)
		m->kblock[i] = 0.0;
	m->knext = 0;
	m->clips = 0;
	m->silent_windows = 0;
	m->updates = 0;
}

/* BS.1770's two stages, a high shelf (+4 dB above about 1.7 kHz, the head) and
 * a high-pass (the RLB curve, about 38 Hz), designed for any rate by the
 * bilinear transform from their analogue prototypes. The constants are those
 * libebur128 uses, so the two agree at every rate; at 48 kHz they give
 * BS.1770's published coefficients to 1e-8. */
static void k_weighting(unsigned int rate, struct kw_section *shelf, double *hp_a1, double *hp_a2)
{
	const double shelf_f0 = 1681.974450955533, shelf_gain_db = 3.999843853973347;
	const double shelf_q = 0.7071752369554196, hp_f0 = 38.13547087602444;
	const double hp_q = 0.5003270373238773;
	double k = tan(M_PI * shelf_f0 / (double)rate);
	double vh = pow(10.0, shelf_gain_db / 20.0);
	double vb = pow(vh, 0.4996667741545416);
	double a0 = 1.0 + k / shelf_q + k * k;

	shelf->b0 = (vh + vb * k / shelf_q + k * k) / a0;
	shelf->b1 = 2.0 * (k * k - vh) / a0;
	shelf->b2 = (vh - vb * k / shelf_q + k * k) / a0;
	shelf->a1 = 2.0 * (k * k - 1.0) / a0;
	shelf->a2 = (1.0 - k / shelf_q + k * k) / a0;

	/* The high-pass keeps BS.1770's unnormalised numerator 1, -2, 1, which
	 * meter_lanes applies without multiplying. */
	k = tan(M_PI * hp_f0 / (double)rate);
	a0 = 1.0 + k / hp_q + k * k;
	*hp_a1 = 2.0 * (k * k - 1.0) / a0;
	*hp_a2 = (1.0 - k / hp_q + k * k) / a0;
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
	k_weighting(rate, &m->shelf, &m->hp_a1, &m->hp_a2);
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
	free(m);
}

static void end_window(struct dm_meter *m)
{
	double rms = sqrt((m->sumsq[0] + m->sumsq[1]) / (double)m->window);
	double peak_db = floored(20.0 * log10((double)m->peak));
	double rms_db = floored(20.0 * log10(rms));
	double k400 = 0.0;
	uint64_t v[PUB_N];

	/* Momentary loudness: the mean K-weighted square over the last 400 ms
	 * (four windows, zeros before the first), -0.691 dB so that a 1 kHz sine
	 * reads its RMS level; one channel, weight 1 (a mono signal counted once:
	 * BS.1770's dual-mono weight 2 would read 3 dB more). */
	m->kblock[m->knext] = m->ksum[0] + m->ksum[1];
	m->knext = (m->knext + 1) % 4;
	for (unsigned int i = 0; i < 4; i++)
		k400 += m->kblock[i];
	double lufs = -0.691 + 10.0 * log10(k400 / (4.0 * (double)m->window));

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

	/* After silence the filter memory decays towards subnormal numbers,
	 * which cost x86 far more per operation (a silent window took 4 times as
	 * long), and the shelf's can then cycle at the smallest subnormal for
	 * ever. Each stage is ended on its own: the shelf's memory falls below
	 * 1e-30 within a window of silence, the high-pass's (poles near 1)
	 * within a few, at most 1e10 times smaller per window, never subnormal.
	 * Here, at a window's end rather than per block, so that block sizes
	 * change nothing. */
	if (fabs(m->y1) + fabs(m->y2) < 1e-30)
		m->y1 = m->y2 = 0.0;
	if (fabs(m->z1) + fabs(m->z2) < 1e-30)
		m->z1 = m->z2 = 0.0;
	m->fill = 0;
	m->peak = 0.0f;
	m->sumsq[0] = m->sumsq[1] = 0.0;
	m->ksum[0] = m->ksum[1] = 0.0;
}

/* Two doubles in one SSE2 register (a GCC and clang vector extension): two
 * meters advance in the same instructions, for the price of one. */
typedef double v2d __attribute__((vector_size(16)));

static v2d v2(double a, double b)
{
	return (v2d){a, b};
}

/* One sample through the K-weighting, in vectors of type T whose lanes are
 * meters: the shelf (x -> y), the high-pass (y -> z), and the energies into
 * the half of sample i. Written once for both kernels, so that they do the
 * same operations in the same order (the same bits); only the a1 terms wait
 * for the previous output. Uses the kernels' own names. */
#define KW_STEP(T, input)                                                                          \
	do {                                                                                       \
		T x = (input);                                                                     \
		T y = (b0 * x + b1 * x1 + b2 * x2 - a2 * y2) - a1 * y1;                            \
		T z = (y - (y1 + y1) + y2 - h_a2 * z2) - h_a1 * z1;                                \
		x2 = x1;                                                                           \
		x1 = x;                                                                            \
		y2 = y1;                                                                           \
		y1 = y;                                                                            \
		z2 = z1;                                                                           \
		z1 = z;                                                                            \
		plain[i & 1] += x * x;                                                             \
		weighted[i & 1] += z * z;                                                          \
	} while (0)

/* Lane `lane` of the filter memory and energies back into m. */
static void lane_store(struct dm_meter *m, int lane, v2d x1, v2d x2, v2d y1, v2d y2, v2d z1, v2d z2,
		       const v2d plain[2], const v2d weighted[2])
{
	size_t odd = m->fill & 1;

	m->x1 = x1[lane];
	m->x2 = x2[lane];
	m->y1 = y1[lane];
	m->y2 = y2[lane];
	m->z1 = z1[lane];
	m->z2 = z2[lane];
	m->sumsq[odd] = plain[0][lane];
	m->sumsq[!odd] = plain[1][lane];
	m->ksum[odd] = weighted[0][lane];
	m->ksum[!odd] = weighted[1][lane];
}

/* One pass over n samples of m0 (from p0) and of m1 (from p1; m1 NULL: m0
 * alone, its work done twice and kept once) does everything: this is the
 * meters' whole cost, 22 of them at 48 kHz in the reference event.
 * libebur128, which did the K-weighting before, spent 6.3 ns a sample on it
 * (AMD EPYC VM) and its 400 ms sum 2.7 ns more, alone over issue 4's budget;
 * this loop takes 1.8 ns a sample and meter with two meters, 3.5 with one.
 * The meters must have the same rate (the same coefficients).
 *
 * The recursions are written so that only the a1 term waits for the
 * previous output, and the energies are summed in two halves, so that the
 * loop is limited by one multiply-add per section and sample. A sample's
 * half follows its place in its own meter's window, not in the block, so
 * that the readings are the same bits whatever the block sizes, and whether
 * a meter is fed alone or paired: baseline x86-64 has no fused multiply-add
 * and C11 mode does not contract, so each lane computes exactly the same. */
static void meter_lanes(struct dm_meter *m0, const float *p0, struct dm_meter *m1, const float *p1,
			size_t n)
{
	const struct dm_meter *l1 = m1 ? m1 : m0;
	const struct kw_section c = m0->shelf;
	const v2d b0 = v2(c.b0, c.b0), b1 = v2(c.b1, c.b1), b2 = v2(c.b2, c.b2);
	const v2d a1 = v2(c.a1, c.a1), a2 = v2(c.a2, c.a2);
	const v2d h_a1 = v2(m0->hp_a1, m0->hp_a1), h_a2 = v2(m0->hp_a2, m0->hp_a2);
	v2d x1 = v2(m0->x1, l1->x1), x2 = v2(m0->x2, l1->x2);
	v2d y1 = v2(m0->y1, l1->y1), y2 = v2(m0->y2, l1->y2);
	v2d z1 = v2(m0->z1, l1->z1), z2 = v2(m0->z2, l1->z2);
	size_t odd0 = m0->fill & 1, odd1 = l1->fill & 1;
	v2d plain[2] = {v2(m0->sumsq[odd0], l1->sumsq[odd1]),
			v2(m0->sumsq[!odd0], l1->sumsq[!odd1])};
	v2d weighted[2] = {v2(m0->ksum[odd0], l1->ksum[odd1]),
			   v2(m0->ksum[!odd0], l1->ksum[!odd1])};
	float peak0 = m0->peak, peak1 = l1->peak, clip_level = m0->clip_level;
	uint64_t clips0 = 0, clips1 = 0;

	if (!m1)
		p1 = p0;
	for (size_t i = 0; i < n; i++) {
		float f0 = p0[i], f1 = p1[i];
		float a0 = fabsf(f0), a1s = fabsf(f1);

		if (!(a0 <= FLT_MAX)) /* NaN or inf: a clip at full scale */
			f0 = a0 = 1.0f;
		if (!(a1s <= FLT_MAX))
			f1 = a1s = 1.0f;
		clips0 += a0 >= clip_level;
		clips1 += a1s >= clip_level;
		peak0 = a0 > peak0 ? a0 : peak0;
		peak1 = a1s > peak1 ? a1s : peak1;

		KW_STEP(v2d, v2(f0, f1));
	}
	lane_store(m0, 0, x1, x2, y1, y2, z1, z2, plain, weighted);
	m0->peak = peak0;
	m0->clips += clips0;
	if (m1) {
		lane_store(m1, 1, x1, x2, y1, y2, z1, z2, plain, weighted);
		m1->peak = peak1;
		m1->clips += clips1;
	}
}

/* Counts a window's end, if it is one, into *updates. */
static void maybe_end_window(struct dm_meter *m, int *updates)
{
	if (m->fill == m->window) {
		end_window(m);
		if (*updates < INT_MAX)
			(*updates)++;
	}
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_LANES4 1
/* Four meters in the lanes of one AVX register (256 bits), where the machine
 * has AVX2: 1.16 ns a sample each on the development VM, against 1.8 for
 * meter_lanes' two in SSE2 (without AVX the four lanes split into two SSE2
 * halves and run slower than pairs, out of registers). The same operations in
 * the same order as meter_lanes, so the same bits: target("avx2") adds no
 * fused multiply-add (that is "fma"), and contraction is off anyway. The
 * four inputs' clip, peak and NaN tests go in one float vector. Lanes from
 * `used` up repeat lane 0 and are not stored. Kept in this one function: a
 * 256-bit vector passed between functions would change their ABI. */
typedef double v4d __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

__attribute__((target("avx2"))) static void meter_lanes4(struct dm_meter *const *m,
							 const float *const *p, int used, size_t n)
{
	const struct dm_meter *l[4];
	const float *src[4];
	const struct kw_section c = m[0]->shelf;
	const v4d b0 = c.b0 + (v4d){0}, b1 = c.b1 + (v4d){0}, b2 = c.b2 + (v4d){0};
	const v4d a1 = c.a1 + (v4d){0}, a2 = c.a2 + (v4d){0};
	const v4d h_a1 = m[0]->hp_a1 + (v4d){0}, h_a2 = m[0]->hp_a2 + (v4d){0};
	const v4f clip_level = m[0]->clip_level + (v4f){0}, flt_max = FLT_MAX + (v4f){0};
	const v4i one_bits = 0x3f800000 + (v4i){0}, abs_bits = 0x7fffffff + (v4i){0};
	v4d x1, x2, y1, y2, z1, z2, plain[2], weighted[2];
	v4f peak;
	v4i clips = {0};

	for (int k = 0; k < 4; k++) {
		l[k] = m[k < used ? k : 0];
		src[k] = p[k < used ? k : 0];

		size_t odd = l[k]->fill & 1;

		x1[k] = l[k]->x1;
		x2[k] = l[k]->x2;
		y1[k] = l[k]->y1;
		y2[k] = l[k]->y2;
		z1[k] = l[k]->z1;
		z2[k] = l[k]->z2;
		plain[0][k] = l[k]->sumsq[odd];
		plain[1][k] = l[k]->sumsq[!odd];
		weighted[0][k] = l[k]->ksum[odd];
		weighted[1][k] = l[k]->ksum[!odd];
		peak[k] = l[k]->peak;
	}
	for (size_t i = 0; i < n; i++) {
		v4f f = {src[0][i], src[1][i], src[2][i], src[3][i]};
		v4f a = (v4f)((v4i)f & abs_bits);
		v4i bad = ~(a <= flt_max); /* NaN or inf: a clip at full scale */

		f = (v4f)(((v4i)f & ~bad) | (one_bits & bad));
		a = (v4f)(((v4i)a & ~bad) | (one_bits & bad));
		clips -= a >= clip_level; /* true is -1 */

		v4i up = a > peak;

		peak = (v4f)(((v4i)a & up) | ((v4i)peak & ~up));

		KW_STEP(v4d, __builtin_convertvector(f, v4d));
	}
	for (int k = 0; k < used; k++) {
		struct dm_meter *d = m[k];
		size_t odd = d->fill & 1;

		d->x1 = x1[k];
		d->x2 = x2[k];
		d->y1 = y1[k];
		d->y2 = y2[k];
		d->z1 = z1[k];
		d->z2 = z2[k];
		d->sumsq[odd] = plain[0][k];
		d->sumsq[!odd] = plain[1][k];
		d->ksum[odd] = weighted[0][k];
		d->ksum[!odd] = weighted[1][k];
		d->peak = peak[k];
		d->clips += (uint64_t)clips[k];
	}
}

static bool have_lanes4(void)
{
	return __builtin_cpu_supports("avx2");
}
#else
#define HAVE_LANES4 0
#endif

/* Feeds n samples to each of the `used` (1 to 4) meters m[k] from pcm[k], in
 * the same instructions (four lanes with AVX2 when there are more than two,
 * else two), cut at the edges of any meter's windows. */
static int feed_lanes(struct dm_meter *const *m, const float *const *pcm, int used, size_t n)
{
	const float *p[4];
	int updates = 0;

	for (int k = 0; k < used; k++)
		p[k] = pcm[k];
	while (n) {
		size_t take = n;

		for (int k = 0; k < used; k++)
			if (m[k]->window - m[k]->fill < take)
				take = m[k]->window - m[k]->fill;
#if HAVE_LANES4
		if (used > 2)
			meter_lanes4(m, p, used, take);
		else
#endif
			meter_lanes(m[0], p[0], used > 1 ? m[1] : NULL, used > 1 ? p[1] : NULL,
				    take);
		n -= take;
		for (int k = 0; k < used; k++) {
			m[k]->fill += take;
			p[k] += take;
			maybe_end_window(m[k], &updates);
		}
	}
	return updates;
}

int dm_meter_feed(struct dm_meter *m, const float *pcm, size_t n)
{
	if (!m || (!pcm && n))
		return DM_EINVAL;
	return feed_lanes(&m, &pcm, 1, n);
}

int dm_meter_feed_many(struct dm_meter *const *m, const float *const *pcm, size_t count, size_t n)
{
	int updates = 0;
	size_t group = 2;

	if (!m || (!pcm && count))
		return DM_EINVAL;
	for (size_t i = 0; i < count; i++) {
		if (!m[i] || (!pcm[i] && n) || m[i]->rate != m[0]->rate)
			return DM_EINVAL;
		for (size_t j = 0; j < i; j++)
			if (m[j] == m[i])
				return DM_EINVAL;
	}
	if (!n)
		return 0;
#if HAVE_LANES4
	if (have_lanes4())
		group = 4;
#endif
	for (size_t i = 0; i < count; i += group) {
		/* Three left go as four (one lane idle), cheaper than two and one. */
		size_t used = count - i < group ? count - i : group;
		int u = feed_lanes(m + i, pcm + i, (int)used, n);

		updates = u > INT_MAX - updates ? INT_MAX : updates + u;
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
	if (!m)
		return DM_EINVAL;
	clear_counters(m);
	publish_floor(m);
	return 0;
}

/* The digits of v, most significant first, at p; returns the end. */
static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* v rounded to `decimals` (1 or 2) decimals, or null out of +-1e12; at most
 * 17 characters. */
static char *put_fixed(char *p, double v, int decimals)
{
	double scale = decimals == 1 ? 10.0 : 100.0;

	if (!(fabs(v) <= 1e12)) {
		memcpy(p, "null", 4);
		return p + 4;
	}

	long long q = llround(v * scale);
	uint64_t u = q < 0 ? (uint64_t)-q : (uint64_t)q;
	uint64_t whole = u / (uint64_t)scale, frac = u % (uint64_t)scale;

	if (q < 0)
		*p++ = '-';
	p = put_u64(p, whole);
	*p++ = '.';
	if (decimals == 2)
		*p++ = (char)('0' + frac / 10);
	*p++ = (char)('0' + frac % 10);
	return p;
}

static char *put_lit(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

int dm_meter_reading_json(const struct dm_meter_reading *r, int silence, char *buf, size_t cap)
{
	char tmp[DM_METER_JSON_MAX], *p = tmp;

	if (!r || !buf)
		return DM_EINVAL;
	p = put_lit(p, "\"peak_dbfs\":");
	p = put_fixed(p, r->peak_dbfs, 2);
	p = put_lit(p, ",\"rms_dbfs\":");
	p = put_fixed(p, r->rms_dbfs, 2);
	p = put_lit(p, ",\"momentary_lufs\":");
	p = put_fixed(p, r->momentary_lufs, 2);
	p = put_lit(p, ",\"clips\":");
	p = put_u64(p, r->clips);
	if (silence) {
		p = put_lit(p, ",\"silent_s\":");
		p = put_fixed(p, r->silent_s, 1);
	}

	size_t len = (size_t)(p - tmp);

	if (len + 1 > cap) {
		if (cap)
			buf[0] = '\0';
		return DM_ENOSPC;
	}
	memcpy(buf, tmp, len);
	buf[len] = '\0';
	return (int)len;
}
