/* dragoman: the interpretation routing rules, a pure function of the state and
 * one request.
 *
 * Invariants every request keeps (and dm_routing_new starts from):
 *  - at most one console on air per channel (the interlock);
 *  - at most one mic on per booth (switching one on hands over from the
 *    partner, whatever channel the partner was sending to);
 *  - no console listens to its own output channel.
 * A request is checked in full before anything changes, so a refusal leaves
 * the state exactly as it was. */
#include "routing.h"

#include "dragoman/error.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dm_routing {
	const struct dm_config *cfg;
	size_t n_channels; /* floor included */
	size_t n_consoles;
	enum dm_interlock interlock;
	int floor_language; /* channel, or -1 */
	struct dm_console_state *console;
};

static void changes_reset(struct dm_changes *ch)
{
	if (ch)
		ch->n = 0;
}

/* The invariants bound a request to 3 changes (a takeover, a handover, the
 * mic itself), well within DM_ROUTING_MAX_CHANGES. */
static struct dm_change *change_add(struct dm_changes *ch, enum dm_change_kind kind, int console,
				    int channel)
{
	if (!ch || ch->n >= DM_ROUTING_MAX_CHANGES)
		return NULL;
	struct dm_change *c = &ch->c[ch->n++];
	*c = (struct dm_change){.kind = kind, .console = console, .channel = channel, .by = -1};
	return c;
}

__attribute__((format(printf, 5, 6))) static int refuse(struct dm_refusal *rf, int code, int holder,
							int channel, const char *fmt, ...)
{
	if (rf) {
		rf->holder = holder;
		rf->channel = channel;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(rf->reason, sizeof rf->reason, fmt, ap);
		va_end(ap);
	}
	return code;
}

static void refusal_reset(struct dm_refusal *rf)
{
	if (rf) {
		rf->holder = -1;
		rf->channel = -1;
		rf->reason[0] = '\0';
	}
}

static const struct dm_console_conf *conf_of(const struct dm_routing *r, size_t i)
{
	return dm_config_console(r->cfg, i);
}

static const char *channel_id(const struct dm_routing *r, int c)
{
	const struct dm_channel_conf *ch = c >= 0 ? dm_config_channel(r->cfg, (size_t)c) : NULL;
	return ch ? ch->id : "?";
}

static int output_channel(const struct dm_routing *r, size_t i, int output)
{
	const struct dm_console_conf *cc = conf_of(r, i);
	return output == 0 ? cc->a : cc->b;
}

static bool same_booth(const struct dm_routing *r, size_t i, size_t j)
{
	return strcmp(conf_of(r, i)->booth, conf_of(r, j)->booth) == 0;
}

static int on_air(const struct dm_routing *r, int channel)
{
	for (size_t i = 0; i < r->n_consoles; i++)
		if (r->console[i].mic && output_channel(r, i, r->console[i].output) == channel)
			return (int)i;
	return -1;
}

/* Puts console i on air on `channel`: the interlock first (may refuse), then
 * the partners hand over, the holder of another booth is taken over. The
 * caller records i's own change afterwards. */
static int take_channel(struct dm_routing *r, size_t i, int channel, struct dm_changes *ch,
			struct dm_refusal *rf)
{
	int holder = on_air(r, channel);
	if (holder >= 0 && (size_t)holder != i && !same_booth(r, i, (size_t)holder) &&
	    r->interlock == DM_INTERLOCK_BLOCK) {
		const struct dm_console_conf *h = conf_of(r, (size_t)holder);
		return refuse(rf, DM_EEXIST, holder, channel, "channel %s is held by %s (booth %s)",
			      channel_id(r, channel), h->id, h->booth);
	}
	for (size_t j = 0; j < r->n_consoles; j++) {
		if (j == i || !r->console[j].mic)
			continue;
		bool partner = same_booth(r, i, j);
		int out = output_channel(r, j, r->console[j].output);
		if (!partner && out != channel)
			continue;
		r->console[j].mic = false;
		struct dm_change *c = change_add(
			ch, partner ? DM_CHANGE_HANDOVER : DM_CHANGE_TAKEN_OVER, (int)j, out);
		if (c)
			c->by = (int)i;
	}
	return 0;
}

static int check_console(const struct dm_routing *r, size_t console, struct dm_refusal *rf)
{
	if (console >= r->n_consoles)
		return refuse(rf, DM_EINVAL, -1, -1, "no console %zu (there are %zu)", console,
			      r->n_consoles);
	return 0;
}

int dm_routing_new(const struct dm_config *cfg, enum dm_interlock interlock,
		   struct dm_routing **out)
{
	if (!cfg || !out || (interlock != DM_INTERLOCK_BLOCK && interlock != DM_INTERLOCK_OVERRIDE))
		return DM_EINVAL;
	*out = NULL;
	struct dm_routing *r = calloc(1, sizeof *r);
	if (!r)
		return DM_ENOMEM;
	r->cfg = cfg;
	r->n_channels = dm_config_channel_count(cfg);
	r->n_consoles = dm_config_console_count(cfg);
	r->interlock = interlock;
	r->floor_language = -1;
	/* +1: calloc(0) may return NULL, and a conference may have no console. */
	r->console = calloc(r->n_consoles + 1, sizeof *r->console);
	if (!r->console) {
		free(r);
		return DM_ENOMEM;
	}
	for (size_t i = 0; i < r->n_consoles; i++) {
		const struct dm_console_conf *cc = conf_of(r, i);
		if (cc->a < 1 || (size_t)cc->a >= r->n_channels ||
		    (cc->b >= 0 && (cc->b < 1 || (size_t)cc->b >= r->n_channels))) {
			dm_routing_free(r);
			return DM_EINVAL;
		}
		r->console[i].output = 0;
		r->console[i].source = 0;
		r->console[i].volume_db = 0;
	}
	for (size_t i = 0; i < r->n_consoles; i++) {
		if (conf_of(r, i)->live && dm_routing_mic(r, i, true, NULL, NULL) != 0) {
			dm_routing_free(r);
			return DM_EINVAL;
		}
	}
	*out = r;
	return 0;
}

void dm_routing_free(struct dm_routing *r)
{
	if (!r)
		return;
	free(r->console);
	free(r);
}

int dm_routing_clone(const struct dm_routing *r, struct dm_routing **out)
{
	if (!r || !out)
		return DM_EINVAL;
	*out = NULL;
	struct dm_routing *c = malloc(sizeof *c);
	if (!c)
		return DM_ENOMEM;
	*c = *r;
	c->console = malloc((r->n_consoles + 1) * sizeof *c->console);
	if (!c->console) {
		free(c);
		return DM_ENOMEM;
	}
	memcpy(c->console, r->console, (r->n_consoles + 1) * sizeof *c->console);
	*out = c;
	return 0;
}

const struct dm_console_state *dm_routing_console(const struct dm_routing *r, size_t console)
{
	return r && console < r->n_consoles ? &r->console[console] : NULL;
}

int dm_routing_on_air(const struct dm_routing *r, size_t channel)
{
	if (!r || channel == 0 || channel >= r->n_channels)
		return -1;
	return on_air(r, (int)channel);
}

int dm_routing_output_channel(const struct dm_routing *r, size_t console)
{
	if (!r || console >= r->n_consoles)
		return -1;
	return output_channel(r, console, r->console[console].output);
}

int dm_routing_floor_language(const struct dm_routing *r)
{
	return r ? r->floor_language : -1;
}

/* What every console request does first: clear the outputs, check the
 * console. */
static int begin(struct dm_routing *r, size_t console, struct dm_changes *changes,
		 struct dm_refusal *refusal)
{
	changes_reset(changes);
	refusal_reset(refusal);
	if (!r)
		return DM_EINVAL;
	return check_console(r, console, refusal);
}

int dm_routing_mic(struct dm_routing *r, size_t console, bool on, struct dm_changes *changes,
		   struct dm_refusal *refusal)
{
	int rc = begin(r, console, changes, refusal);
	if (rc)
		return rc;
	struct dm_console_state *s = &r->console[console];
	int channel = output_channel(r, console, s->output);
	if (s->mic == on)
		return 0;
	if (on) {
		rc = take_channel(r, console, channel, changes, refusal);
		if (rc)
			return rc;
	}
	s->mic = on;
	struct dm_change *c = change_add(changes, DM_CHANGE_MIC, (int)console, channel);
	if (c)
		c->on = on;
	return 0;
}

int dm_routing_mute(struct dm_routing *r, size_t console, bool on, struct dm_changes *changes,
		    struct dm_refusal *refusal)
{
	int rc = begin(r, console, changes, refusal);
	if (rc)
		return rc;
	struct dm_console_state *s = &r->console[console];
	if (s->mute == on)
		return 0;
	s->mute = on;
	struct dm_change *c = change_add(changes, DM_CHANGE_MUTE, (int)console,
					 output_channel(r, console, s->output));
	if (c)
		c->on = on;
	return 0;
}

int dm_routing_output(struct dm_routing *r, size_t console, int output, struct dm_changes *changes,
		      struct dm_refusal *refusal)
{
	int rc = begin(r, console, changes, refusal);
	if (rc)
		return rc;
	const struct dm_console_conf *cc = conf_of(r, console);
	if (output != 0 && output != 1)
		return refuse(refusal, DM_EINVAL, -1, -1, "output must be a or b");
	if (output == 1 && cc->b < 0)
		return refuse(refusal, DM_EINVAL, -1, -1, "console %s has no b channel", cc->id);
	struct dm_console_state *s = &r->console[console];
	if (s->output == output)
		return 0;
	int channel = output_channel(r, console, output);
	if (s->mic) {
		rc = take_channel(r, console, channel, changes, refusal);
		if (rc)
			return rc;
	}
	s->output = output;
	struct dm_change *c = change_add(changes, DM_CHANGE_OUTPUT, (int)console, channel);
	if (c)
		c->value = output;
	/* Relaying the channel it now feeds would put its own voice in its ears,
	 * a round trip late: back to the floor, which it hears anyway. */
	if (s->source == channel) {
		s->source = 0;
		change_add(changes, DM_CHANGE_SOURCE, (int)console, 0);
	}
	return 0;
}

int dm_routing_source(struct dm_routing *r, size_t console, int channel, struct dm_changes *changes,
		      struct dm_refusal *refusal)
{
	int rc = begin(r, console, changes, refusal);
	if (rc)
		return rc;
	const struct dm_console_conf *cc = conf_of(r, console);
	if (channel < 0 || (size_t)channel >= r->n_channels)
		return refuse(refusal, DM_EINVAL, -1, -1, "no channel %d (there are %zu)", channel,
			      r->n_channels);
	struct dm_console_state *s = &r->console[console];
	if (channel == output_channel(r, console, s->output))
		return refuse(refusal, DM_EINVAL, -1, channel,
			      "console %s cannot relay %s: it is its own output channel", cc->id,
			      channel_id(r, channel));
	if (s->source == channel)
		return 0;
	s->source = channel;
	change_add(changes, DM_CHANGE_SOURCE, (int)console, channel);
	return 0;
}

int dm_routing_volume(struct dm_routing *r, size_t console, double db, struct dm_changes *changes,
		      struct dm_refusal *refusal)
{
	int rc = begin(r, console, changes, refusal);
	if (rc)
		return rc;
	if (!(db >= DM_VOLUME_MIN_DB && db <= DM_VOLUME_MAX_DB)) /* NaN too */
		return refuse(refusal, DM_EINVAL, -1, -1, "volume %g dB is out of range %g..%+g",
			      db, DM_VOLUME_MIN_DB, DM_VOLUME_MAX_DB);
	struct dm_console_state *s = &r->console[console];
	if (s->volume_db == db)
		return 0;
	s->volume_db = db;
	struct dm_change *c = change_add(changes, DM_CHANGE_VOLUME, (int)console, -1);
	if (c)
		c->db = db;
	return 0;
}

int dm_routing_floor(struct dm_routing *r, int channel, struct dm_changes *changes,
		     struct dm_refusal *refusal)
{
	changes_reset(changes);
	refusal_reset(refusal);
	if (!r)
		return DM_EINVAL;
	if (channel != -1 && (channel < 1 || (size_t)channel >= r->n_channels))
		return refuse(refusal, DM_EINVAL, -1, -1,
			      "the floor language must be a channel 1..%zu (or none)",
			      r->n_channels - 1);
	if (r->floor_language == channel)
		return 0;
	r->floor_language = channel;
	change_add(changes, DM_CHANGE_FLOOR, -1, channel);
	return 0;
}

int dm_routing_build_route(const struct dm_routing *r, double sidetone_db, struct dm_route **out)
{
	if (out)
		*out = NULL;
	if (!r || !out || isnan(sidetone_db))
		return DM_EINVAL;
	struct dm_route *rt = NULL;
	int rc = dm_route_new(r->n_channels, r->n_consoles, &rt);
	if (rc)
		return rc;
	rt->channel[0] = (struct dm_route_channel){.kind = DM_SRC_FLOOR, .console = -1, .gain = 1};
	for (size_t c = 1; c < r->n_channels; c++) {
		struct dm_route_channel *ch = &rt->channel[c];
		int live = on_air(r, (int)c);
		if ((int)c == r->floor_language) {
			*ch = (struct dm_route_channel){
				.kind = DM_SRC_FLOOR, .console = -1, .gain = 1};
		} else if (live >= 0) {
			*ch = (struct dm_route_channel){.kind = DM_SRC_MIC,
							.console = live,
							.gain = r->console[live].mute ? 0.0f
										      : 1.0f};
		} else if (dm_config_channel(r->cfg, c)->fallback == DM_FALLBACK_FLOOR) {
			*ch = (struct dm_route_channel){
				.kind = DM_SRC_FLOOR, .console = -1, .gain = 1};
		} else {
			*ch = (struct dm_route_channel){
				.kind = DM_SRC_SILENCE, .console = -1, .gain = 0};
		}
	}
	float sidetone = (float)pow(10.0, sidetone_db / 20.0);
	for (size_t i = 0; i < r->n_consoles; i++) {
		rt->console[i] = (struct dm_route_console){
			.listen = r->console[i].source,
			.volume = (float)pow(10.0, r->console[i].volume_db / 20.0),
			.sidetone = sidetone,
		};
	}
	*out = rt;
	return 0;
}
