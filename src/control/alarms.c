/* The technicians' alarms: a pure state machine (alarms.h). */
#include "alarms.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dragoman/defaults.h"
#include "dragoman/error.h"

enum change { NONE, CLEAR, RAISE };

/* One possible alarm: every (kind, channel or console) has its slot from the
 * start, so an update never allocates and the listing order is the slot order. */
struct slot {
	struct dm_alarm a;
	bool active;
	enum change change;
	double last_event;   /* last time the cause was seen (hold-time kinds) */
	uint64_t last_count; /* counter kinds: the value seen at the last update */
};

struct dm_alarms {
	size_t n_channels, n_consoles;
	char (*channel_ids)[DM_ID_MAX];
	char (*console_ids)[DM_ID_MAX];
	double silence_s;
	bool have_now;
	double last_now;
	int n_active;
	size_t n_slots;
	struct slot *slots;
};

static const char *const kind_names[DM_ALARM_KINDS] = {
	[DM_ALARM_SILENCE] = "silence",
	[DM_ALARM_CLIP] = "clip",
	[DM_ALARM_XRUN] = "xrun",
	[DM_ALARM_ENCODER_BEHIND] = "encoder_behind",
	[DM_ALARM_LISTENER_LOSS] = "listener_loss",
	[DM_ALARM_JACK_LOST] = "jack_lost",
	[DM_ALARM_DISK] = "disk",
};

const char *dm_alarm_kind_name(enum dm_alarm_kind kind)
{
	if ((unsigned)kind >= DM_ALARM_KINDS)
		return "unknown";
	return kind_names[kind];
}

static int copy_ids(size_t n, const char *const *ids, char (**out)[DM_ID_MAX])
{
	*out = NULL;
	if (!n)
		return 0;
	if (!ids)
		return DM_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!ids[i] || !ids[i][0] || strlen(ids[i]) >= DM_ID_MAX)
			return DM_EINVAL;
	*out = calloc(n, DM_ID_MAX);
	if (!*out)
		return DM_ENOMEM;
	for (size_t i = 0; i < n; i++)
		memcpy((*out)[i], ids[i], strlen(ids[i]) + 1);
	return 0;
}

static bool per_channel(enum dm_alarm_kind k)
{
	return k == DM_ALARM_CLIP || k == DM_ALARM_ENCODER_BEHIND || k == DM_ALARM_LISTENER_LOSS;
}

static size_t slots_of(const struct dm_alarms *a, enum dm_alarm_kind k)
{
	if (k == DM_ALARM_SILENCE)
		return a->n_consoles;
	return per_channel(k) ? a->n_channels : 1;
}

int dm_alarms_new(size_t n_channels, const char *const *channel_ids, size_t n_consoles,
		  const char *const *console_ids, double silence_s, struct dm_alarms **out)
{
	struct dm_alarms *a;
	size_t s = 0;
	int rc;

	if (out)
		*out = NULL;
	if (!out || n_channels > DM_ALARM_MAX_ITEMS || n_consoles > DM_ALARM_MAX_ITEMS ||
	    !isfinite(silence_s) || silence_s <= 0.0)
		return DM_EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return DM_ENOMEM;
	a->n_channels = n_channels;
	a->n_consoles = n_consoles;
	a->silence_s = silence_s;
	rc = copy_ids(n_channels, channel_ids, &a->channel_ids);
	if (!rc)
		rc = copy_ids(n_consoles, console_ids, &a->console_ids);
	if (rc) {
		dm_alarms_free(a);
		return rc;
	}
	for (int k = 0; k < DM_ALARM_KINDS; k++)
		a->n_slots += slots_of(a, (enum dm_alarm_kind)k);
	a->slots = calloc(a->n_slots, sizeof(*a->slots));
	if (!a->slots) {
		dm_alarms_free(a);
		return DM_ENOMEM;
	}
	for (int k = 0; k < DM_ALARM_KINDS; k++) {
		size_t n = slots_of(a, (enum dm_alarm_kind)k);

		for (size_t i = 0; i < n; i++, s++) {
			struct dm_alarm *al = &a->slots[s].a;

			al->kind = (enum dm_alarm_kind)k;
			al->channel = per_channel(al->kind) ? (int)i : -1;
			al->console = k == DM_ALARM_SILENCE ? (int)i : -1;
		}
	}
	*out = a;
	return 0;
}

void dm_alarms_free(struct dm_alarms *a)
{
	if (!a)
		return;
	free(a->channel_ids);
	free(a->console_ids);
	free(a->slots);
	free(a);
}

static int check_inputs(const struct dm_alarms *a, const struct dm_alarm_inputs *in)
{
	if ((a->n_consoles && !in->consoles) || (a->n_channels && !in->channels))
		return DM_EINVAL;
	for (size_t i = 0; i < a->n_consoles; i++) {
		double s = in->consoles[i].silent_s;

		if (!isfinite(s) || s < 0.0)
			return DM_EINVAL;
	}
	for (size_t i = 0; i < a->n_channels; i++) {
		double l = in->channels[i].max_loss;

		if (!(l >= 0.0 && l <= 1.0))
			return DM_EINVAL;
	}
	return 0;
}

/* A cumulative counter: new events since the last update (a counter that went
 * down restarted from 0). */
static bool counter_moved(struct slot *s, uint64_t now_count)
{
	uint64_t fresh = now_count < s->last_count ? now_count : now_count - s->last_count;

	s->last_count = now_count;
	return fresh > 0;
}

/* Whether the slot should be active, given whether its cause was seen in this
 * update; refreshes the text while the cause goes on. */
static bool evaluate(const struct dm_alarms *a, struct slot *s, const struct dm_alarm_inputs *in,
		     double now)
{
	struct dm_alarm *al = &s->a;
	const struct dm_alarm_channel_input *ch =
		al->channel >= 0 ? &in->channels[al->channel] : NULL;
	const char *cid = al->channel >= 0 ? a->channel_ids[al->channel] : "";
	bool seen = false;
	double hold = 0.0;

	switch (al->kind) {
	case DM_ALARM_SILENCE: {
		const struct dm_alarm_console_input *c = &in->consoles[al->console];

		seen = c->live && c->silent_s > a->silence_s;
		if (seen)
			snprintf(al->text, sizeof(al->text), "%s: mic silent for %.0f s",
				 a->console_ids[al->console], floor(c->silent_s));
		return seen;
	}
	case DM_ALARM_CLIP:
		seen = counter_moved(s, ch->clips);
		hold = DM_ALARM_CLIP_HOLD_S;
		if (seen)
			snprintf(al->text, sizeof(al->text),
				 "%s: program clipping (%" PRIu64 " samples clipped so far)", cid,
				 ch->clips);
		break;
	case DM_ALARM_XRUN:
		seen = counter_moved(s, in->xruns);
		hold = DM_ALARM_XRUN_HOLD_S;
		if (seen)
			snprintf(al->text, sizeof(al->text), "JACK xruns (%" PRIu64 " so far)",
				 in->xruns);
		break;
	case DM_ALARM_ENCODER_BEHIND:
		seen = counter_moved(s, ch->overflows);
		hold = DM_ALARM_ENCODER_HOLD_S;
		if (seen)
			snprintf(al->text, sizeof(al->text),
				 "%s: encoder behind (%" PRIu64 " overflows so far)", cid,
				 ch->overflows);
		break;
	case DM_ALARM_LISTENER_LOSS:
		seen = ch->max_loss > DM_ALARM_LOSS_RATIO;
		hold = DM_ALARM_LOSS_HOLD_S;
		if (seen)
			snprintf(al->text, sizeof(al->text), "%s: a listener reports %.1f %% loss",
				 cid, ch->max_loss * 100.0);
		break;
	case DM_ALARM_JACK_LOST:
		snprintf(al->text, sizeof(al->text), "JACK server lost");
		return !in->jack_connected;
	case DM_ALARM_DISK:
		snprintf(al->text, sizeof(al->text), "recording: disk full or write error");
		return in->disk_error;
	}
	if (seen)
		s->last_event = now;
	return seen || (s->active && now - s->last_event < hold);
}

int dm_alarms_update(struct dm_alarms *a, const struct dm_alarm_inputs *in, double now_s,
		     dm_alarm_cb on_change, void *user)
{
	int changes = 0;

	if (!a || !in || !isfinite(now_s) || check_inputs(a, in))
		return DM_EINVAL;
	/* A clock stepped back would hold alarms for as long as the step: move the
	 * hold times with it (raise times stay what they were, as reported). */
	if (a->have_now && now_s < a->last_now)
		for (size_t i = 0; i < a->n_slots; i++)
			a->slots[i].last_event += now_s - a->last_now;
	a->have_now = true;
	a->last_now = now_s;

	for (size_t i = 0; i < a->n_slots; i++) {
		struct slot *s = &a->slots[i];
		bool want = evaluate(a, s, in, now_s);

		s->change = want == s->active ? NONE : want ? RAISE : CLEAR;
	}
	/* Clears first: a listener counting raises and clears never sees more
	 * alarms than there are. */
	for (size_t i = 0; i < a->n_slots; i++) {
		struct slot *s = &a->slots[i];

		if (s->change != CLEAR)
			continue;
		s->active = false;
		a->n_active--;
		changes++;
		if (on_change)
			on_change(user, &s->a, false);
	}
	for (size_t i = 0; i < a->n_slots; i++) {
		struct slot *s = &a->slots[i];

		if (s->change != RAISE)
			continue;
		s->active = true;
		s->a.raised_at = now_s;
		a->n_active++;
		changes++;
		if (on_change)
			on_change(user, &s->a, true);
	}
	return changes;
}

int dm_alarms_active(const struct dm_alarms *a, struct dm_alarm *out, size_t cap)
{
	size_t n = 0;

	if (!a || (!out && cap))
		return DM_EINVAL;
	for (size_t i = 0; i < a->n_slots; i++) {
		if (!a->slots[i].active)
			continue;
		if (n < cap)
			out[n] = a->slots[i].a;
		n++;
	}
	return (int)n;
}

int dm_alarms_count(const struct dm_alarms *a)
{
	if (!a)
		return DM_EINVAL;
	return a->n_active;
}
