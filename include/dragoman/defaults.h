/* dragoman: every default value, in one place. */
#ifndef DRAGOMAN_DEFAULTS_H
#define DRAGOMAN_DEFAULTS_H

#include <stdbool.h> /* DM_DEFAULT_REMOTE_POLL */

#define DM_SAMPLE_RATE 48000	 /* the only rate: JACK graph, Opus, RTP clock */
#define DM_RTP_PT_OPUS 111	 /* dynamic payload type on every channel (DESIGN.md) */
#define DM_MAX_PACKET 1500	 /* largest datagram we build or accept */
#define DM_MAX_OPUS_PAYLOAD 1200 /* Opus packet bytes, below any sane MTU */
#define DM_SRTP_MAX_TRAILER 16	 /* tag bytes SRTP may append (GCM: 16, HMAC-80: 10) */
#define DM_SRTCP_MAX_TRAILER 20	 /* SRTCP tag + index */

#define DM_DEFAULT_PROFILE "lan"
#define DM_DEFAULT_SRTP_SUITE "AES_CM_128_HMAC_SHA1_80"
#define DM_DEFAULT_JACK_CLIENT "dragoman"
#define DM_DEFAULT_INTERFACE "127.0.0.1"
#define DM_DEFAULT_TTL 1
#define DM_DEFAULT_FALLBACK "floor"

/* Interpretation control */
#define DM_DEFAULT_INTERLOCK "block"
#define DM_DEFAULT_PHONES_CEILING_DBFS (-6.0) /* hearing protection */
#define DM_PHONES_CEILING_MIN_DBFS (-40.0)
#define DM_DEFAULT_SIDETONE_DB (-12.0) /* a console's own mic in its headphones */
#define DM_SIDETONE_MIN_DB (-60.0)
#define DM_VOLUME_MIN_DB (-40.0) /* a console's headphone volume */
#define DM_VOLUME_MAX_DB 6.0
#define DM_DEFAULT_CONTROL_LISTEN "127.0.0.1:8470" /* loopback unless configured */
#define DM_DEFAULT_ALARM_SILENCE_S 10 /* alarms.silence_s: a live mic silent this long */
#define DM_CONTROL_EVENTS 1024	      /* events kept for SSE subscribers */

#define DM_FLOOR_ID "floor" /* channel 0, everywhere */
#define DM_DEFAULT_FLOOR_NAME "Floor"
#define DM_DEFAULT_FLOOR_LANGUAGE "und" /* BCP 47: undetermined */
#define DM_ID_MAX 32			/* ids: [A-Za-z0-9_-], 1..31 chars */
#define DM_NAME_MAX 128

#define DM_RTCP_INTERVAL_MS 1000 /* sender reports about once a second */
#define DM_JACK_RETRY_MS 1000	 /* retry JACK once a second while it is away */
#define DM_RING_FRAMES 32	 /* program ring capacity, in Opus frames */
#define DM_CROSSFADE_SAMPLES 240 /* 5 ms: every routing switch fades, never clicks */
#define DM_MAX_PERIOD 8192	 /* largest JACK period the router accepts */

/* Receiver */
#define DM_LISTEN_NEW_SSRC_PER_S 4  /* new SSRCs a listener will derive keys for, per second */
#define DM_LISTEN_JITTER_PACKETS 64 /* jitter buffer capacity */
#define DM_LISTEN_ROC_SEARCH 1024   /* ROC candidates tried without a sender report */
#define DM_LISTEN_MAX_AGE_MS                                                                       \
	5000			 /* a stream's send time may differ from ours this much            \
					(clock skew); older is a replay */
#define DM_LISTEN_RESTART_MS 100 /* SSRC change / seq jump recovered within this */
#define DM_DEFAULT_LISTEN_NAME "dragoman-listen"
#define DM_PLAYOUT_MAX_MS 200 /* cap on the adaptive cushion */

/* RTCP receiver reports for the listener counts, each +-20 %: the first one
 * after the stream is locked, then the interval. */
#define DM_LISTEN_RR_FIRST_MS 1000
#define DM_LISTEN_RR_INTERVAL_MS 5000

/* Listener counts (engine side): a listener counts for the window after its
 * latest report. Authentications per second and channel of reports from
 * unknown reporter SSRCs and from known ones (1,000 listeners at one report
 * per 5 s), and reporters tracked per channel at most. */
#define DM_LISTENERS_WINDOW_S 30
#define DM_LISTENERS_NEW_PER_S 50
#define DM_LISTENERS_KNOWN_PER_S 200
#define DM_LISTENERS_MAX_PER_CHANNEL 10000

/* Remote delegates (issue 5): unicast over the internet. */
#define DM_DEFAULT_REMOTE_LISTEN                                                                   \
	"0.0.0.0:5100"			     /* remote.listen: the UDP port listeners talk to      \
					      */
#define DM_DEFAULT_REMOTE_PROFILE "internet" /* remote.profile */
#define DM_DEFAULT_REMOTE_POLL false	     /* remote.poll */
#define DM_REMOTE_HELLO_S 5		     /* a listener's hello interval */
#define DM_REMOTE_TIMEOUT_S 15		     /* no hello for this long: stop sending to it */
#define DM_REMOTE_HELLOS_PER_S 10	     /* more hellos from one address: dropped, counted */
#define DM_REMOTE_ROTATE_WAIT_MS 500	     /* a rotation waits this long for acknowledgements */
#define DM_REMOTE_KEYS_RESEND_MS 100	     /* key update repeated until acknowledged */
#define DM_REMOTE_MAX_SESSIONS 20000	     /* sessions at once (engine) */
#define DM_REMOTE_SESSIONS_PER_DELEGATE 4    /* a delegate's sessions at once (laptop + phone...) */
#define DM_REMOTE_MEDIA_TIMEOUT_MS 2000	     /* listener: no media this long: new session */
#define DM_DELEGATE_VALID_S (7 * 24 * 3600)  /* a delegate token's default lifetime */
#define DM_DELEGATE_VALID_MIN_S 60
#define DM_DELEGATE_VALID_MAX_S (366 * 24 * 3600)
#define DM_REMOTE_LATE_US 2000	/* a remote packet later than this after its due time is late */
#define DM_REMOTE_SEND_GROUPS 4 /* a channel's listeners get a frame in this many bursts */

#define DM_SECRET_LEN 32       /* conference secret, bytes */
#define DM_SRTP_MAX_KEY_LEN 46 /* master key + salt, largest suite (AES-256: 32+14) */

#endif
