#include "dragoman/profile.h"
#include "dragoman/defaults.h"

#include <opus/opus.h>
#include <string.h>

/* The numbers are DESIGN.md's profile table; RESTRICTED_LOWDELAY keeps Opus in
 * CELT with 2.5 ms look-ahead, the lowest it has. */
static const struct dm_profile profiles[] = {
	{"lan", 240, OPUS_APPLICATION_RESTRICTED_LOWDELAY, 64000, false, 0, 128, 5, 10},
	{"lan-ultra", 120, OPUS_APPLICATION_RESTRICTED_LOWDELAY, 64000, false, 0, 64, 3, 10},
	{"wifi", 960, OPUS_APPLICATION_RESTRICTED_LOWDELAY, 48000, false, 0, 0, 20, 10},
	/* Complexity 5: 180 us a 20 ms frame instead of 320 (SILK/hybrid at
	 * 32 kb/s, one core of the reference machine), the same bytes, and
	 * every remote listener's packet waits for it. */
	{"internet", 960, OPUS_APPLICATION_VOIP, 32000, true, 10, 0, 40, 5},
};

const struct dm_profile *dm_profile_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
		if (strcmp(profiles[i].name, name) == 0)
			return &profiles[i];
	return NULL;
}

const struct dm_profile *dm_profile_default(void)
{
	return dm_profile_find(DM_DEFAULT_PROFILE);
}
