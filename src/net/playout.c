/* dragoman: the listener's playout buffer.
 *
 * PCM goes through a dm_ring (receiver thread in, device callback out) and then
 * through a libspeexdsp resampler whose ratio stays within +-0.5 % of 1. The
 * ratio follows the ring's fill level: a PI loop on the smoothed level against
 * the target keeps the level at the target whichever clock is faster (a P-only
 * loop would leave an offset proportional to the drift, i.e. extra latency).
 *
 * The cushion (target) starts at min_ms; playback begins only once the level
 * reaches it ("priming"). An underrun in playback is evidence that the cushion
 * is too small: target grows by one step and playback re-primes. A lone
 * underrun (the first for LONE_WINDOW seconds) is weak evidence: one stall of
 * the network or of the machine, which a slightly larger cushion would not
 * have absorbed anyway. Its growth is given back after GIVEBACK seconds
 * without another underrun, so a stall costs one concealment instead of
 * latency for the rest of the session; a second stall within LONE_WINDOW
 * keeps it (taking back what was given back). The underrun of a re-prime
 * just short, right after, belongs to the same stall. When the level has
 * stayed comfortably above what the device needed for 10 s, the target
 * decays by a small step. Time here is counted in output samples, so the
 * logic is the same whatever the device's period.
 *
 * Threads: push, level and flush belong to the producer; pull to the consumer
 * (the device callback: no allocation, lock, syscall or print). They share
 * only the ring and a few atomics. flush cannot touch the ring's consumer side,
 * so it records how far the producer had written and the consumer drops up to
 * there at its next pull. */
#include "dragoman/playout.h"
#include "dragoman/error.h"
#include "dragoman/ring.h"

#include <math.h>
#include <speex/speex_resampler.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Speex's ratio is num/den (input/output). Its set_rate_frac rescales the
 * fractional phase as phase * den / old_den in 32 bits, so den must stay below
 * 65536; it also reduces the fraction, and at exactly 1/1 it switches to its
 * "direct" mode, which drops the fractional phase (a sub-sample time jump).
 * So den is fixed at twice a prime and num = den + m with m odd: the fraction
 * never reduces, the ratio never is exactly 1 (the loop dithers around it), and
 * one step m -> m + 2 is 1 / 32749 = 31 ppm. */
#define RATIO_PRIME 32749u
#define RATIO_DEN (2u * RATIO_PRIME)
/* +-0.5 %: the odd m just above 0.005 * RATIO_DEN (327.5), so a sender exactly
 * 0.5 % off is still absorbed. Real crystals are within +-100 ppm. */
#define RATIO_MAX_M 329
/* Quality 3: 48 taps, ~80 dB stop band, 24 samples (0.5 ms) of delay; every
 * step up adds taps and delay. Near ratio 1 there is hardly anything to alias. */
#define RESAMPLER_QUALITY 3

/* Output samples processed per resampler call; bounds the scratch buffer so
 * any device period works. */
#define CHUNK 1024
#define SCRATCH (CHUNK + CHUNK / 64 + 16)

/* Level smoothing and the PI loop (times in seconds). The loop is critically
 * damped at 0.5 rad/s: it learns a 0.2 % drift in about 10 s, while 2 ms of
 * network jitter moves the ratio by only about +-0.03 % (10 ms: +-0.1 %), far
 * below an audible pitch change. The 0.3 s smoothing removes the 5-20 ms
 * sawtooth that frame bursts put on the level. */
#define LEVEL_TAU 0.3
#define LOOP_OMEGA 0.5
/* At most one ratio change per this many seconds: each one recomputes Speex's
 * filter table (about 12 us at quality 3), and the beat between frame and pull
 * sizes would otherwise flip the ratio by a step many times a second. A
 * quarter second is still fast for a loop whose time constant is seconds. */
#define RATIO_HOLD 0.25

/* Decay: after DECAY_WINDOW seconds without underrun in which the buffer never
 * went below DECAY_MARGIN ms after a pull, lower target by up to DECAY_STEP ms. */
#define DECAY_WINDOW 10.0
#define DECAY_MARGIN 1.0
#define DECAY_STEP 0.5

/* Lone underruns (see the top): an underrun is lone when none came in the
 * LONE_WINDOW seconds of playback before it; its growth is given back after
 * GIVEBACK seconds of playback without another. The first LONE_WINDOW seconds
 * after creation are learning, never lone: the frame/period beat asks for its
 * cushion there. LONE_WINDOW equals DECAY_WINDOW: more than one stall per
 * decay window is what the cushion keeps. An underrun within SAME_STALL
 * seconds of playback of a lone one is its re-prime falling just short. */
#define LONE_WINDOW 10.0
#define GIVEBACK 2.0
#define SAME_STALL 0.25

/* How far above the target the level may go before the consumer drops back
 * down to the target (a burst after a network stall would otherwise be
 * latency for minutes: the drift loop only moves 0.5 %): a 20 ms frame of
 * burst plus as much again. */
#define DROP_EXTRA_MS 40.0

enum state { PRIMING, PLAYING };

struct dm_playout {
	struct dm_ring *ring;
	SpeexResamplerState *rs;
	double rate;
	double min_samples, max_samples, drop_samples;

	/* producer side */
	size_t pushed; /* samples ever written to the ring */

	/* shared */
	_Atomic size_t consumed;    /* samples ever taken from the ring (consumer) */
	_Atomic size_t flush_pos;   /* `pushed` at the last flush (producer) */
	_Atomic unsigned flush_seq; /* bumped after flush_pos is stored (producer) */

	/* consumer side */
	unsigned flush_seen;
	enum state state;
	double target;	       /* samples */
	double level_avg;      /* smoothed level, samples */
	double integral;       /* the loop's integral term (a ratio deviation) */
	int m;		       /* num = RATIO_DEN + m */
	double since_ratio;    /* output samples since the last ratio change */
	double window;	       /* output samples in the current decay window */
	double window_min;     /* lowest level after a pull in the window, samples */
	double since_underrun; /* output samples played since the last underrun */
	double giveback_to;    /* target before a lone underrun's growth; < 0: none */
	double given_back;     /* what the last give-back took, samples; 0: none */
	double level_sum_ms;
	uint64_t level_count;
	float scratch[SCRATCH];

	/* statistics, read by any thread */
	_Atomic uint64_t underruns;
	_Atomic uint64_t overflows;
	_Atomic double st_mean_ms, st_max_ms, st_target_ms, st_ratio;
};

int dm_playout_new(int rate, double min_ms, double max_ms, struct dm_playout **out)
{
	struct dm_playout *p;
	size_t cap;
	int err = 0;

	if (out == NULL)
		return DM_EINVAL;
	*out = NULL;
	/* written as negations so NaN is refused too */
	if (rate < 8000 || rate > 192000 || !(min_ms > 0.0) || !(max_ms >= min_ms) ||
	    !(max_ms <= 5000.0))
		return DM_EINVAL;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return DM_ENOMEM;
	/* the callback touches scratch: fault its pages in now */
	memset(p->scratch, 0, sizeof(p->scratch));
	p->rate = rate;
	p->min_samples = min_ms * rate / 1000.0;
	p->max_samples = max_ms * rate / 1000.0;
	p->drop_samples = DROP_EXTRA_MS * rate / 1000.0;
	/* room for the drop level plus the largest decoded frames still coming */
	cap = (size_t)(p->max_samples + p->drop_samples) + (size_t)rate / 10;
	if (dm_ring_new(cap, &p->ring) != 0) {
		free(p);
		return DM_ENOMEM;
	}
	p->rs = speex_resampler_init(1, (spx_uint32_t)rate, (spx_uint32_t)rate, RESAMPLER_QUALITY,
				     &err);
	/* Leave the 1/1 direct mode now: the switch allocates the interpolation
	 * table, which must not happen in the callback. The table's size does
	 * not depend on the ratio within +-2 %, so no later change reallocates. */
	p->m = 1;
	if (p->rs == NULL ||
	    speex_resampler_set_rate_frac(p->rs, RATIO_DEN + (unsigned)p->m, RATIO_DEN,
					  (spx_uint32_t)rate,
					  (spx_uint32_t)rate) != RESAMPLER_ERR_SUCCESS) {
		dm_playout_free(p);
		return DM_ENOMEM;
	}
	p->state = PRIMING;
	p->target = p->min_samples;
	p->window_min = INFINITY;
	p->giveback_to = -1.0;
	atomic_init(&p->consumed, 0);
	atomic_init(&p->flush_pos, 0);
	atomic_init(&p->flush_seq, 0);
	atomic_init(&p->underruns, 0);
	atomic_init(&p->overflows, 0);
	atomic_init(&p->st_mean_ms, 0.0);
	atomic_init(&p->st_max_ms, 0.0);
	atomic_init(&p->st_target_ms, min_ms);
	atomic_init(&p->st_ratio, (double)RATIO_DEN / (RATIO_DEN + p->m));
	*out = p;
	return 0;
}

void dm_playout_free(struct dm_playout *p)
{
	if (p == NULL)
		return;
	if (p->rs != NULL)
		speex_resampler_destroy(p->rs);
	dm_ring_free(p->ring);
	free(p);
}

size_t dm_playout_push(struct dm_playout *p, const float *pcm, size_t n)
{
	size_t got;

	if (p == NULL || pcm == NULL || n == 0)
		return 0;
	got = dm_ring_write(p->ring, pcm, n);
	p->pushed += got;
	if (got < n)
		atomic_fetch_add_explicit(&p->overflows, n - got, memory_order_relaxed);
	return got;
}

size_t dm_playout_level(const struct dm_playout *p)
{
	size_t consumed, base;

	if (p == NULL)
		return 0;
	/* What the consumer will play: pushed since the last flush and not yet
	 * taken. A pending flush counts as done. */
	consumed = atomic_load_explicit(&p->consumed, memory_order_acquire);
	base = atomic_load_explicit(&p->flush_pos, memory_order_relaxed);
	if ((ptrdiff_t)(consumed - base) > 0)
		base = consumed;
	return p->pushed - base;
}

void dm_playout_flush(struct dm_playout *p)
{
	if (p == NULL)
		return;
	atomic_store_explicit(&p->flush_pos, p->pushed, memory_order_relaxed);
	/* release: the consumer that sees the new seq sees the new position */
	atomic_fetch_add_explicit(&p->flush_seq, 1, memory_order_release);
}

static void consumer_skip(struct dm_playout *p, size_t n)
{
	size_t done = dm_ring_skip(p->ring, n);

	atomic_store_explicit(&p->consumed,
			      atomic_load_explicit(&p->consumed, memory_order_relaxed) + done,
			      memory_order_release);
}

/* Acts on a flush requested since the last pull. Returns true if one was. */
static bool consumer_flush(struct dm_playout *p)
{
	unsigned seq = atomic_load_explicit(&p->flush_seq, memory_order_acquire);
	size_t pos, consumed;

	if (seq == p->flush_seen)
		return false;
	p->flush_seen = seq;
	pos = atomic_load_explicit(&p->flush_pos, memory_order_relaxed);
	consumed = atomic_load_explicit(&p->consumed, memory_order_relaxed);
	if ((ptrdiff_t)(pos - consumed) > 0)
		consumer_skip(p, pos - consumed);
	/* the old channel's tail inside the filter must not leak into the new one */
	speex_resampler_reset_mem(p->rs);
	return true;
}

/* Runs the resampler for n output samples. Returns how many it produced: fewer
 * than n only when the ring ran dry. */
static size_t resample(struct dm_playout *p, float *out, size_t n)
{
	size_t done = 0;

	while (done < n) {
		size_t chunk = n - done < CHUNK ? n - done : CHUNK;
		/* input needed for `chunk` outputs, plus the filter's fractional
		 * position and rounding */
		size_t want = (size_t)((double)chunk * (RATIO_DEN + p->m) / RATIO_DEN) + 4;
		spx_uint32_t in_len, out_len = (spx_uint32_t)chunk;
		size_t got;

		if (want > SCRATCH)
			want = SCRATCH;
		got = dm_ring_peek(p->ring, p->scratch, want);
		in_len = (spx_uint32_t)got;
		speex_resampler_process_float(p->rs, 0, p->scratch, &in_len, out + done, &out_len);
		consumer_skip(p, in_len);
		done += out_len;
		if (out_len < chunk && (got < want || out_len == 0))
			break;
	}
	return done;
}

static void set_ratio(struct dm_playout *p, double dev)
{
	double x = dev * RATIO_DEN;
	int m;

	/* Hysteresis: odd steps are 2 apart, so the midpoint is 1 away; wait for
	 * 1.5 so a level wobbling on a boundary does not flip the ratio. */
	if (fabs(x - p->m) <= 1.5 || p->since_ratio < RATIO_HOLD * p->rate)
		return;
	m = 2 * (int)floor(x / 2.0) + 1; /* the nearest odd number */
	if (m > RATIO_MAX_M)
		m = RATIO_MAX_M;
	if (m < -RATIO_MAX_M)
		m = -RATIO_MAX_M;
	if (m == p->m)
		return;
	/* Cannot fail: den constant, num != 0, and the table already has its
	 * size (see dm_playout_new). */
	speex_resampler_set_rate_frac(p->rs, RATIO_DEN + (unsigned)m, RATIO_DEN,
				      (spx_uint32_t)p->rate, (spx_uint32_t)p->rate);
	p->m = m;
	p->since_ratio = 0;
	atomic_store_explicit(&p->st_ratio, (double)RATIO_DEN / (RATIO_DEN + m),
			      memory_order_relaxed);
}

/* The drift loop, once per pull in playback: PI on the smoothed level. */
static void control(struct dm_playout *p, double level, size_t n)
{
	const double max_dev = (double)RATIO_MAX_M / RATIO_DEN;
	/* critically damped: s^2 + rate*kp*s + rate*ki = 0 with both roots at
	 * -LOOP_OMEGA; kp per sample of error, ki per sample-second */
	const double kp = 2.0 * LOOP_OMEGA / p->rate;
	const double ki = LOOP_OMEGA * LOOP_OMEGA / p->rate;
	double dt = (double)n / p->rate;
	double err, dev;

	p->level_avg += (level - p->level_avg) * (1.0 - exp(-dt / LEVEL_TAU));
	err = p->level_avg - p->target;
	/* Anti-windup by conditional integration: while the ratio is at its
	 * clamp and the error pushes further that way, the integral stands
	 * still. Otherwise a large excess (the network's delay dropping, or the
	 * target given back) would charge it for the seconds the clamped
	 * ratio takes to drain, and it would overshoot into underruns. */
	dev = kp * err + p->integral;
	if (!((dev >= max_dev && err > 0) || (dev <= -max_dev && err < 0)))
		p->integral += ki * err * dt;
	if (p->integral > max_dev)
		p->integral = max_dev;
	if (p->integral < -max_dev)
		p->integral = -max_dev;
	dev = kp * err + p->integral;
	if (dev > max_dev)
		dev = max_dev;
	if (dev < -max_dev)
		dev = -max_dev;
	p->since_ratio += (double)n;
	set_ratio(p, dev);
}

/* Grows the cushion by what was missing (at least 0.5 ms): the evidence says
 * how much more it needs. A whole period more each time would be latency
 * kept for good (the decay is slow); the price is that a slow clock's drift
 * may take an underrun or two more to learn. */
static void grow_target(struct dm_playout *p, size_t missing)
{
	double step = (double)missing > p->rate / 2000.0 ? (double)missing : p->rate / 2000.0;

	if (p->giveback_to >= 0.0 && p->since_underrun < SAME_STALL * p->rate) {
		/* the same stall: this step goes back with the first */
	} else if (p->since_underrun >= LONE_WINDOW * p->rate) {
		p->giveback_to = p->target;
		p->given_back = 0;
	} else {
		/* A second stall within the window: the growth pending
		 * give-back is kept, and what was given back returns. */
		p->giveback_to = -1.0;
		p->target += p->given_back;
		p->given_back = 0;
	}
	p->since_underrun = 0;
	p->target += step;
	if (p->target > p->max_samples)
		p->target = p->max_samples;
}

static void decay(struct dm_playout *p, double after, size_t n)
{
	const double margin = DECAY_MARGIN * p->rate / 1000.0;

	if (after < p->window_min)
		p->window_min = after;
	p->window += (double)n;
	if (p->window < DECAY_WINDOW * p->rate)
		return;
	if (p->window_min > margin) {
		double down = p->window_min - margin;

		if (down > DECAY_STEP * p->rate / 1000.0)
			down = DECAY_STEP * p->rate / 1000.0;
		p->target -= down;
		if (p->target < p->min_samples)
			p->target = p->min_samples;
	}
	p->window = 0;
	p->window_min = INFINITY;
}

/* After n samples played without underrun: a lone stall's growth goes back
 * once GIVEBACK seconds have passed (see grow_target). */
static void give_back(struct dm_playout *p, size_t n)
{
	p->since_underrun += (double)n;
	if (p->giveback_to < 0.0 || p->since_underrun < GIVEBACK * p->rate)
		return;
	if (p->target > p->giveback_to) {
		p->given_back = p->target - p->giveback_to;
		p->target = p->giveback_to;
	}
	p->giveback_to = -1.0;
}

static void publish_level(struct dm_playout *p, double level)
{
	double ms = level * 1000.0 / p->rate;

	p->level_sum_ms += ms;
	p->level_count++;
	atomic_store_explicit(&p->st_mean_ms, p->level_sum_ms / (double)p->level_count,
			      memory_order_relaxed);
	if (ms > atomic_load_explicit(&p->st_max_ms, memory_order_relaxed))
		atomic_store_explicit(&p->st_max_ms, ms, memory_order_relaxed);
}

void dm_playout_pull(struct dm_playout *p, float *out, size_t n)
{
	size_t level, got;

	if (out == NULL || n == 0)
		return;
	if (p == NULL) {
		memset(out, 0, n * sizeof(float));
		return;
	}
	if (consumer_flush(p) && p->state == PLAYING)
		p->state = PRIMING; /* a new channel, not an underrun */

	level = dm_ring_readable(p->ring);
	if (level > p->target + p->drop_samples) {
		size_t drop = level - (size_t)p->target;

		consumer_skip(p, drop);
		level -= drop;
		atomic_fetch_add_explicit(&p->overflows, drop, memory_order_relaxed);
	}

	if (p->state != PLAYING) {
		if ((double)level < p->target) {
			memset(out, 0, n * sizeof(float));
			return;
		}
		/* Start from the target, not from whatever burst primed us (a
		 * backlog of packets that queued while the key was derived or
		 * the device started): the excess would be latency for good. */
		if ((double)level > p->target + (double)n) {
			size_t drop = level - (size_t)p->target;

			consumer_skip(p, drop);
			level -= drop;
		}
		p->state = PLAYING;
		p->level_avg = (double)level;
		p->window = 0;
		p->window_min = INFINITY;
	}

	publish_level(p, (double)level);
	got = resample(p, out, n);
	if (got < n) {
		memset(out + got, 0, (n - got) * sizeof(float));
		atomic_fetch_add_explicit(&p->underruns, 1, memory_order_relaxed);
		grow_target(p, n - got);
		p->state = PRIMING;
		p->window = 0;
		p->window_min = INFINITY;
	} else {
		control(p, (double)level, n);
		decay(p, (double)level - (double)n * (RATIO_DEN + p->m) / RATIO_DEN, n);
		give_back(p, n);
	}
	atomic_store_explicit(&p->st_target_ms, p->target * 1000.0 / p->rate, memory_order_relaxed);
}

void dm_playout_get_stats(const struct dm_playout *p, struct dm_playout_stats *st)
{
	if (st == NULL)
		return;
	memset(st, 0, sizeof(*st));
	if (p == NULL)
		return;
	st->underruns = atomic_load_explicit(&p->underruns, memory_order_relaxed);
	st->overflows = atomic_load_explicit(&p->overflows, memory_order_relaxed);
	st->buffer_ms_mean = atomic_load_explicit(&p->st_mean_ms, memory_order_relaxed);
	st->buffer_ms_max = atomic_load_explicit(&p->st_max_ms, memory_order_relaxed);
	st->target_ms = atomic_load_explicit(&p->st_target_ms, memory_order_relaxed);
	st->ratio = atomic_load_explicit(&p->st_ratio, memory_order_relaxed);
}
