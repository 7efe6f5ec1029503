/* dragoman: latency/robustness profiles (DESIGN.md, "Profiles"). */
#ifndef DRAGOMAN_PROFILE_H
#define DRAGOMAN_PROFILE_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dm_profile {
	const char *name;      /* "lan", "lan-ultra", "wifi", "internet" */
	int frame_samples;     /* Opus frame at 48 kHz: 120, 240, 960 */
	int application;       /* OPUS_APPLICATION_* */
	int bitrate;	       /* bits per second */
	bool inband_fec;       /* Opus in-band FEC (SILK/hybrid only) */
	int expected_loss_pct; /* OPUS_SET_PACKET_LOSS_PERC */
	int jack_period;       /* suggested JACK period, 0: any */
	int listen_min_ms;     /* smallest listener cushion it starts from */
	int complexity;	       /* OPUS_SET_COMPLEXITY: 10 in the room; lower for remote streams,
				  whose encoder's time delays every listener's packet */
};

/* Returns the profile called name, or NULL if there is none. Thread-safe; the
 * result is static. */
const struct dm_profile *dm_profile_find(const char *name);

/* Returns the default profile (DM_DEFAULT_PROFILE). Never NULL. */
const struct dm_profile *dm_profile_default(void);

#ifdef __cplusplus
}
#endif
#endif
