/* dragoman-monitor: listen-in. The device is opened at the first listen and
 * closed at stop, so that a monitor nobody listens with holds no audio
 * device (nor a JACK client). */
#include "listen.h"

#include "../listen/output.h"
#include "dragoman/config.h"
#include "dragoman/error.h"
#include "dragoman/keys.h"
#include "dragoman/playout.h"
#include "dragoman/profile.h"
#include "dragoman/receiver.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mon_listen {
	struct dm_config *cfg;
	struct dm_output *out;
	struct dm_receiver *r;
	int channel;
};

static void config_error(void *user, const char *file, int line, const char *msg)
{
	(void)user;
	fprintf(stderr, "dragoman-monitor: %s:%d: %s\n", file, line, msg);
}

int mon_listen_new(const char *config_path, struct mon_listen **out)
{
	struct mon_listen *l = calloc(1, sizeof *l);
	if (!l)
		return DM_ENOMEM;
	l->channel = -1;
	int rc = dm_config_load(config_path, true, config_error, NULL, &l->cfg);
	if (rc < 0) {
		free(l);
		return rc;
	}
	*out = l;
	return 0;
}

static void on_pcm(void *user, const float *pcm, size_t n)
{
	struct dm_output *o = user;
	o->write(o, pcm, n);
}

void mon_listen_stop(struct mon_listen *l)
{
	if (!l)
		return;
	dm_receiver_free(l->r); /* stops its thread first */
	l->r = NULL;
	if (l->out)
		l->out->free(l->out);
	l->out = NULL;
	l->channel = -1;
}

void mon_listen_free(struct mon_listen *l)
{
	if (!l)
		return;
	mon_listen_stop(l);
	dm_config_free(l->cfg);
	free(l);
}

int mon_listen_play(struct mon_listen *l, const char *id, char *msg, size_t cap)
{
	int ch = dm_config_find_channel(l->cfg, id);
	if (ch < 0) {
		snprintf(msg, cap, "listen: the configuration has no channel %s", id);
		return DM_ENOENT;
	}
	if (l->r) {
		int rc = dm_receiver_switch(l->r, ch);
		if (rc < 0)
			snprintf(msg, cap, "listen: cannot switch to %s: %s", id, dm_strerror(rc));
		else {
			l->channel = ch;
			snprintf(msg, cap, "listening to %s", id);
		}
		return rc;
	}

	const struct dm_conference_conf *conf = dm_config_conference(l->cfg);
	uint8_t secret[DM_SECRET_LEN];
	int rc = dm_secret_load(conf->secret_file, secret);
	if (rc < 0) {
		snprintf(msg, cap, "listen: %s: %s", conf->secret_file, dm_strerror(rc));
		return rc;
	}
	/* Prints its reason to stderr, which the monitor shows. */
	rc = dm_output_pa_new(NULL, conf->profile->listen_min_ms, &l->out);
	if (rc < 0) {
		memset(secret, 0, sizeof secret);
		l->out = NULL;
		snprintf(msg, cap, "listen: no PortAudio output: %s", dm_strerror(rc));
		return rc;
	}
	struct dm_receiver_params rp = {
		.config = l->cfg,
		.secret = secret,
		.channel = ch,
		.on_pcm = on_pcm,
		.user = l->out,
		.playout = l->out->playout,
	};
	rc = dm_receiver_new(&rp, &l->r);
	memset(secret, 0, sizeof secret);
	if (rc == 0)
		rc = dm_receiver_start(l->r);
	if (rc < 0) {
		snprintf(msg, cap, "listen: cannot receive %s: %s", id, dm_strerror(rc));
		mon_listen_stop(l);
		return rc;
	}
	l->channel = ch;
	snprintf(msg, cap, "listening to %s", id);
	return 0;
}

const char *mon_listen_channel(const struct mon_listen *l)
{
	if (!l || l->channel < 0)
		return NULL;
	return dm_config_channel(l->cfg, (size_t)l->channel)->id;
}

void mon_listen_status(const struct mon_listen *l, char *out, size_t cap)
{
	if (!l || !l->r) {
		snprintf(out, cap, "%s", "");
		return;
	}
	struct dm_receiver_stats st;
	dm_receiver_get_stats(l->r, &st);
	struct dm_playout_stats ps = {0};
	if (l->out->playout)
		dm_playout_get_stats(l->out->playout, &ps);
	snprintf(out, cap, "%s: %llu pkts, %llu lost, %.1f ms buf%s", mon_listen_channel(l),
		 (unsigned long long)st.received, (unsigned long long)st.lost, ps.target_ms,
		 st.received ? "" : " (nothing heard yet)");
}
