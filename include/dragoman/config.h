/* dragoman: the conference configuration (libconfig format).
 *
 * A loaded configuration is immutable and may be read from any thread.
 *
 * The file (configs/demo.conf is the reference): sections conference { id,
 * secret_file; name, profile, srtp, interlock, phones_ceiling_dbfs,
 * sidetone_db }, jack { client_name, server_name }, network { interface, ttl },
 * control { listen, tokens_file, tls_cert, tls_key }, remote { state_file; listen, profile },
 * recording { dir; rotate_s }, alarms { silence_s }, floor { group, port; name, language
 * }, channels ( { id, group, port; name, language, fallback }, ... ), booths ( { id; consoles ( {
 * id, a; b, live }, ... ) }, ... ). Only conference and floor are required; defaults are in
 * defaults.h (the floor's name defaults to "Floor", its language to "und"). Ids are
 * [A-Za-z0-9_-]{1,31}; a channel id is never "floor" and never all digits (so
 * a number always means a position). Console a/b name channel ids other than
 * the floor. Unknown settings are errors, not ignored. Relative paths
 * (secret_file, tokens_file, tls_cert, tls_key, state_file, recording dir, @include) are relative
 * to the config file's folder.
 *
 * `live = true` is the state at start and follows the interlock: of several live
 * consoles in one booth the last one in the file wins (a handover, not an
 * error: the loader clears `live` on the others); two live consoles of
 * different booths on one channel are an error, since the interlock could not
 * start from that state. */
#ifndef DRAGOMAN_CONFIG_H
#define DRAGOMAN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dragoman/defaults.h"
#include "dragoman/profile.h"
#include "dragoman/srtp.h"

/* alarms.silence_s: belongs in defaults.h with the others */

#ifdef __cplusplus
extern "C" {
#endif

struct dm_config;

enum dm_fallback { DM_FALLBACK_FLOOR = 0, DM_FALLBACK_SILENCE = 1 };

/* What a console asking for a channel that a console of another booth holds
 * gets: a refusal (block, the default) or the channel (override; the holder's
 * mic goes off). Within a booth, switching a mic on always hands over. */
enum dm_interlock { DM_INTERLOCK_BLOCK = 0, DM_INTERLOCK_OVERRIDE = 1 };

/* One channel. Index 0 is always the floor (id "floor"); 1..N follow the file. */
struct dm_channel_conf {
	int number; /* 0 = floor, 1..N in file order */
	char id[DM_ID_MAX];
	char name[DM_NAME_MAX];	   /* shown to people, e.g. "Français" */
	char language[DM_ID_MAX];  /* BCP 47 tag: `language`, or the id when absent */
	char group[64];		   /* IPv4 multicast group, dotted */
	uint16_t port;		   /* RTP port (even); RTCP is port + 1 */
	enum dm_fallback fallback; /* what the program carries with no live console */
	int line;		   /* line in the config file, for messages */
};

struct dm_console_conf {
	char id[DM_ID_MAX];
	char booth[DM_ID_MAX]; /* id of its booth */
	int a;		       /* channel index of the A output (>= 1) */
	int b;		       /* channel index of the B output (retour), -1: none */
	bool live;	       /* mic on at start (feeds its A channel); at most one per booth */
	int line;
};

struct dm_booth_conf {
	char id[DM_ID_MAX];
	size_t first_console; /* index of its first console */
	size_t console_count;
	int line;
};

struct dm_conference_conf {
	char id[DM_ID_MAX];
	char name[DM_NAME_MAX];
	char secret_file[4096]; /* resolved against the config file's folder */
	const struct dm_profile *profile;
	enum dm_srtp_suite suite;    /* conference.srtp, default AES_CM_128_HMAC_SHA1_80 */
	char jack_client[64];	     /* jack.client_name */
	char jack_server[64];	     /* jack.server_name, "" = the default server */
	char interface[64];	     /* network.interface, IPv4 address of the venue NIC */
	int ttl;		     /* network.ttl */
	enum dm_interlock interlock; /* conference.interlock, "block" (default) or "override" */
	double phones_ceiling_dbfs;  /* conference.phones_ceiling_dbfs, -40..0, default -6 */
	double sidetone_db;	     /* conference.sidetone_db, -60..0, default -12 */
	char control_listen[32];  /* control.listen, "ADDR:PORT" (IPv4), default 127.0.0.1:8470 */
	char control_addr[16];	  /* its address, dotted */
	uint16_t control_port;	  /* its port, 1..65535 */
	char tokens_file[4096];	  /* control.tokens_file resolved, "" = none */
	char recording_dir[4096]; /* recording.dir resolved, "" = no recording */
	int recording_rotate_s;	  /* recording.rotate_s, 60..86400; 0 = every hour */
	int alarm_silence_s;	  /* alarms.silence_s, 1..3600, default 10: a live mic silent longer
				   * raises a silence alarm */
	char tls_cert[4096];	  /* control.tls_cert resolved, "" = none; both or neither of
				   * tls_cert and tls_key: HTTPS when both are set */
	char tls_key[4096];	  /* control.tls_key resolved; not group/other-readable */
	bool remote;		  /* a remote = { ... } section is present */
	char remote_listen[32];	  /* remote.listen "ADDR:PORT" (IPv4), default 0.0.0.0:5100 */
	char remote_addr[16];
	uint16_t remote_port;
	const struct dm_profile *remote_profile; /* remote.profile, default "internet" */
	char remote_state_file[4096];		 /* remote.state_file resolved (required) */
	bool remote_poll; /* remote.poll: the sender polls the clock between sends instead
			     of sleeping (one core busy; default DM_DEFAULT_REMOTE_POLL) */
};

/* Called once per problem found while loading: file is the config path (or the
 * @included file the problem is in), line the 1-based line (0 when the problem
 * has no line, e.g. an unreadable file or a missing section). msg is lowercase,
 * without a trailing period, and names the setting or id concerned. All strings
 * are valid during the call only. Problems arrive sorted by line, once the whole
 * file has been checked. */
typedef void (*dm_config_error_fn)(void *user, const char *file, int line, const char *msg);

/* Loads and validates a configuration.
 * path: the file; on_error (may be NULL) receives every problem, not only the
 * first; check_secret: also check that the secret file exists, holds a valid
 * secret and is not readable by group or others.
 * On success *out owns a new configuration (free with dm_config_free); on
 * failure *out is set to NULL (when out is not NULL).
 * Returns 0; DM_EINVAL for NULL path or out; DM_ECONFIG when there were problems
 * (each already reported; an unreadable file is one problem too); DM_ENOMEM.
 * Thread: any. */
int dm_config_load(const char *path, bool check_secret, dm_config_error_fn on_error, void *user,
		   struct dm_config **out);

/* Frees a configuration; NULL is fine. */
void dm_config_free(struct dm_config *cfg);

/* The conference-wide settings. Never NULL for a loaded configuration.
 * The accessors below answer NULL (or 0 for counts) when cfg is NULL. */
const struct dm_conference_conf *dm_config_conference(const struct dm_config *cfg);

/* Number of channels, floor included (so at least 1). */
size_t dm_config_channel_count(const struct dm_config *cfg);

/* Channel i (0 = floor), or NULL when i is out of range. */
const struct dm_channel_conf *dm_config_channel(const struct dm_config *cfg, size_t i);

/* Finds a channel by id ("floor", "fr") or by number ("0", "2"). Returns its
 * index, DM_ENOENT, or DM_EINVAL for NULL arguments. */
int dm_config_find_channel(const struct dm_config *cfg, const char *id_or_number);

size_t dm_config_console_count(const struct dm_config *cfg);
const struct dm_console_conf *dm_config_console(const struct dm_config *cfg, size_t i);
size_t dm_config_booth_count(const struct dm_config *cfg);
const struct dm_booth_conf *dm_config_booth(const struct dm_config *cfg, size_t i);

#ifdef __cplusplus
}
#endif
#endif
