#include "router.h"

#include "dragoman/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Limiter look-ahead: the attack is a linear ramp this long (0.67 ms), so a
 * burst reaches the headphones already turned down. */
#define LIMIT_LOOKAHEAD 32
/* Release: the gain recovers by this much per sample (about 100 ms from
 * full reduction), slow enough not to pump on speech. */
#define LIMIT_RELEASE (1.0f / 4800.0f)

/* A look-ahead peak limiter that never lets a sample exceed the ceiling.
 * For each sample t: req = the gain it needs; m = the minimum of req over the
 * last L samples; r = m with a slow release (never above m); the gain applied
 * to sample t - (L - 1) is the mean of r over the last L samples. Every r in
 * that mean covers the sample, so the gain is at most what it needs: the
 * output never exceeds the ceiling, and the gain ramps down over L samples
 * ahead of a peak instead of stepping (no click). */
struct limiter {
	float req[LIMIT_LOOKAHEAD];   /* req of sample t at [t % L] */
	uint64_t dq[LIMIT_LOOKAHEAD]; /* sliding minimum: sample numbers, req increasing */
	uint32_t dq_head, dq_len;
	float r_ring[LIMIT_LOOKAHEAD]; /* released gain of sample t at [t % L] */
	double r_sum;
	float r;
	float delay[LIMIT_LOOKAHEAD]; /* the audio, delayed by L - 1 samples */
	uint64_t t;
};

struct dm_router {
	size_t n_channels, n_consoles;
	_Atomic(const struct dm_route *) cur, prev; /* prev: faded from, NULL when not fading */
	uint32_t fade_len, fade_pos;
	float *fade; /* raised-cosine ramp, fade_len + 1 values */
	float ceiling;
	uint32_t max_frames;
	float *old_buf; /* max_frames: the faded-from signal */
	/* max_frames: a headphone mix before the limiter. The port buffer gets
	 * only limited samples: when the callback runs late (xrun), JACK hands
	 * the port to its readers (the sound card) while we still write it, and
	 * an unlimited mix left there would reach the ears (measured: full scale
	 * under a -12 dBFS ceiling at -p 32). */
	float *mix_buf;
	struct limiter *lim;
	_Atomic uint64_t limited;
};

int dm_route_new(size_t n_channels, size_t n_consoles, struct dm_route **out)
{
	if (!out || n_channels < 1)
		return DM_EINVAL;
	struct dm_route *r = calloc(1, sizeof *r);
	if (!r)
		return DM_ENOMEM;
	r->n_channels = n_channels;
	r->n_consoles = n_consoles;
	r->channel = calloc(n_channels, sizeof *r->channel);
	/* +1: a conference may have no console, and calloc(0) may be NULL. */
	r->console = calloc(n_consoles + 1, sizeof *r->console);
	if (!r->channel || !r->console) {
		dm_route_free(r);
		return DM_ENOMEM;
	}
	r->channel[0] = (struct dm_route_channel){DM_SRC_FLOOR, -1, 1.0f};
	for (size_t c = 1; c < n_channels; c++)
		r->channel[c] = (struct dm_route_channel){DM_SRC_SILENCE, -1, 0.0f};
	for (size_t i = 0; i < n_consoles; i++)
		r->console[i] = (struct dm_route_console){0, 1.0f, 0.0f};
	*out = r;
	return 0;
}

void dm_route_free(struct dm_route *r)
{
	if (!r)
		return;
	free(r->channel);
	free(r->console);
	free(r);
}

int dm_route_new_from_config(const struct dm_config *cfg, struct dm_route **out)
{
	if (!cfg || !out)
		return DM_EINVAL;
	struct dm_route *r;
	int rc = dm_route_new(dm_config_channel_count(cfg), dm_config_console_count(cfg), &r);
	if (rc < 0)
		return rc;
	for (size_t c = 1; c < r->n_channels; c++)
		if (dm_config_channel(cfg, c)->fallback == DM_FALLBACK_FLOOR)
			r->channel[c] = (struct dm_route_channel){DM_SRC_FLOOR, -1, 1.0f};
	for (size_t i = 0; i < r->n_consoles; i++) {
		const struct dm_console_conf *con = dm_config_console(cfg, i);
		if (con->live && con->a > 0 && (size_t)con->a < r->n_channels)
			r->channel[con->a] = (struct dm_route_channel){DM_SRC_MIC, (int)i, 1.0f};
	}
	*out = r;
	return 0;
}

int dm_router_new(size_t n_channels, size_t n_consoles, double ceiling_dbfs, uint32_t fade_samples,
		  uint32_t max_frames, struct dm_router **out)
{
	if (!out || n_channels < 1 || fade_samples < 1 || max_frames < 1 || ceiling_dbfs > 0)
		return DM_EINVAL;
	struct dm_router *rt = calloc(1, sizeof *rt);
	if (!rt)
		return DM_ENOMEM;
	rt->n_channels = n_channels;
	rt->n_consoles = n_consoles;
	rt->fade_len = fade_samples;
	rt->fade_pos = fade_samples;
	rt->ceiling = (float)pow(10.0, ceiling_dbfs / 20.0);
	rt->max_frames = max_frames;
	rt->fade = calloc(fade_samples + 1, sizeof *rt->fade);
	rt->old_buf = calloc(max_frames, sizeof *rt->old_buf);
	rt->mix_buf = calloc(max_frames, sizeof *rt->mix_buf);
	rt->lim = calloc(n_consoles + 1, sizeof *rt->lim);
	if (!rt->fade || !rt->old_buf || !rt->mix_buf || !rt->lim) {
		dm_router_free(rt);
		return DM_ENOMEM;
	}
	for (uint32_t i = 0; i <= fade_samples; i++)
		rt->fade[i] = (float)(0.5 - 0.5 * cos(M_PI * (double)i / fade_samples));
	for (size_t i = 0; i < n_consoles; i++) {
		rt->lim[i].r = 1.0f;
		rt->lim[i].r_sum = LIMIT_LOOKAHEAD;
		for (int k = 0; k < LIMIT_LOOKAHEAD; k++) {
			rt->lim[i].r_ring[k] = 1.0f;
			rt->lim[i].req[k] = 1.0f;
		}
	}
	atomic_init(&rt->cur, NULL);
	atomic_init(&rt->prev, NULL);
	*out = rt;
	return 0;
}

void dm_router_free(struct dm_router *rt)
{
	if (!rt)
		return;
	free(rt->fade);
	free(rt->old_buf);
	free(rt->mix_buf);
	free(rt->lim);
	free(rt);
}

int dm_router_in_use(const struct dm_router *rt, const struct dm_route *r)
{
	return r && (atomic_load(&rt->cur) == r || atomic_load(&rt->prev) == r);
}

uint64_t dm_router_limited(const struct dm_router *rt)
{
	return atomic_load_explicit(&rt->limited, memory_order_relaxed);
}

/* One channel's program under a route, into out. */
static void program(const struct dm_route *r, size_t c, const float *floor,
		    const float *const *mics, float *out, uint32_t n)
{
	const struct dm_route_channel *ch = &r->channel[c];
	const float *src = NULL;
	if (ch->kind == DM_SRC_FLOOR)
		src = floor;
	else if (ch->kind == DM_SRC_MIC && ch->console >= 0 && (size_t)ch->console < r->n_consoles)
		src = mics[ch->console];
	if (!src || ch->gain == 0.0f) {
		memset(out, 0, n * sizeof *out);
		return;
	}
	if (ch->gain == 1.0f) {
		memcpy(out, src, n * sizeof *out);
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		out[i] = src[i] * ch->gain;
}

static int same_channel(const struct dm_route *a, const struct dm_route *b, size_t c)
{
	const struct dm_route_channel *x = &a->channel[c], *y = &b->channel[c];
	return x->kind == y->kind && x->gain == y->gain &&
	       (x->kind != DM_SRC_MIC || x->console == y->console);
}

/* One console's headphone mix (before the limiter) under a route. programs
 * are this period's outputs of the route being played. */
static void phones_mix(const struct dm_route *r, size_t i, const float *floor,
		       const float *const *mics, float *const *programs, float *out, uint32_t n)
{
	const struct dm_route_console *con = &r->console[i];
	const float *src = con->listen > 0 && (size_t)con->listen < r->n_channels
				   ? programs[con->listen]
				   : floor;
	for (uint32_t k = 0; k < n; k++)
		out[k] = src[k] * con->volume + mics[i][k] * con->sidetone;
}

static void limit(struct dm_router *rt, struct limiter *l, const float *in, float *out, uint32_t n)
{
	const uint32_t L = LIMIT_LOOKAHEAD;
	const float ceil = rt->ceiling;
	uint64_t limited = 0;
	for (uint32_t k = 0; k < n; k++) {
		float x = in[k];
		float ax = fabsf(x);
		float req = ax > ceil ? ceil / ax : 1.0f;
		uint64_t t = l->t++;
		if (l->dq_len && l->dq[l->dq_head] + L <= t) {
			l->dq_head = (l->dq_head + 1) % L;
			l->dq_len--;
		}
		while (l->dq_len && l->req[l->dq[(l->dq_head + l->dq_len - 1) % L] % L] >= req)
			l->dq_len--;
		l->req[t % L] = req;
		l->dq[(l->dq_head + l->dq_len) % L] = t;
		l->dq_len++;
		float m = l->req[l->dq[l->dq_head] % L];

		l->r = l->r + LIMIT_RELEASE < m ? l->r + LIMIT_RELEASE : m;
		l->r_sum += (double)l->r - l->r_ring[t % L];
		l->r_ring[t % L] = l->r;
		float g = (float)(l->r_sum / L);

		l->delay[t % L] = x;
		float y = l->delay[(t + 1) % L] * g;
		/* The mean is exact in real numbers; rounding must not undo it. */
		if (y > ceil)
			y = ceil;
		else if (y < -ceil)
			y = -ceil;
		if (g < 0.9999f)
			limited++;
		out[k] = y;
	}
	if (limited)
		atomic_fetch_add_explicit(&rt->limited, limited, memory_order_relaxed);
}

void dm_router_process(struct dm_router *rt, const struct dm_route *route, const float *floor,
		       const float *const *mics, float *const *programs, float *const *phones,
		       uint32_t nframes)
{
	const struct dm_route *cur = atomic_load_explicit(&rt->cur, memory_order_relaxed);
	const struct dm_route *prev = atomic_load_explicit(&rt->prev, memory_order_relaxed);
	if (route && route != cur && !prev) {
		/* A new route starts fading in now; one published during a fade
		 * waits for its end (at most one fade, about 5 ms). */
		prev = cur;
		cur = route;
		rt->fade_pos = prev ? 0 : rt->fade_len;
		atomic_store_explicit(&rt->prev, prev, memory_order_release);
		atomic_store_explicit(&rt->cur, cur, memory_order_release);
	}
	if (!cur || nframes > rt->max_frames) {
		/* No route yet, or a period larger than any JACK uses
		 * (max_frames): silence rather than read past the scratch. */
		for (size_t c = 0; c < rt->n_channels; c++)
			memset(programs[c], 0, nframes * sizeof(float));
		for (size_t i = 0; i < rt->n_consoles; i++)
			memset(phones[i], 0, nframes * sizeof(float));
		return;
	}
	const float *fade = prev ? rt->fade + rt->fade_pos : NULL;
	uint32_t fade_left = prev ? rt->fade_len - rt->fade_pos : 0;

	memcpy(programs[0], floor, nframes * sizeof(float));
	for (size_t c = 1; c < rt->n_channels; c++) {
		program(cur, c, floor, mics, programs[c], nframes);
		if (!prev || same_channel(prev, cur, c))
			continue;
		program(prev, c, floor, mics, rt->old_buf, nframes);
		for (uint32_t k = 0; k < nframes; k++) {
			float w = k < fade_left ? fade[k] : 1.0f;
			programs[c][k] = rt->old_buf[k] + w * (programs[c][k] - rt->old_buf[k]);
		}
	}
	float *mix = rt->mix_buf;
	for (size_t i = 0; i < rt->n_consoles; i++) {
		phones_mix(cur, i, floor, mics, programs, mix, nframes);
		if (prev) {
			const struct dm_route_console *a = &prev->console[i], *b = &cur->console[i];
			if (a->listen != b->listen || a->volume != b->volume ||
			    a->sidetone != b->sidetone) {
				/* The old mix hears this period's programs too: a relay
				 * fades between sources, never jumps. */
				phones_mix(prev, i, floor, mics, programs, rt->old_buf, nframes);
				for (uint32_t k = 0; k < nframes; k++) {
					float w = k < fade_left ? fade[k] : 1.0f;
					mix[k] = rt->old_buf[k] + w * (mix[k] - rt->old_buf[k]);
				}
			}
		}
		limit(rt, &rt->lim[i], mix, phones[i], nframes);
	}
	if (prev) {
		rt->fade_pos += nframes < fade_left ? nframes : fade_left;
		if (rt->fade_pos >= rt->fade_len)
			atomic_store_explicit(&rt->prev, NULL, memory_order_release);
	}
}
