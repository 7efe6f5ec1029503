/* dragoman-monitor: what the engine says, kept up to date by two threads.
 *
 * The poller asks GET /api/v1/meters ten times a second and /state, /alarms,
 * /listeners once a second (and /state, /alarms at once when the event stream
 * says something changed), all on one kept-alive connection. The follower
 * reads GET /api/v1/events (SSE) for calls, alarms and changes; while the
 * stream carries meter events, they are the meters and the poller stops
 * asking for them. An endpoint
 * the engine does not have (404) is asked again only every few seconds and
 * shows as missing. When the engine cannot be reached, every document is
 * dropped and both threads try again every second. */
#ifndef DRAGOMAN_MONITOR_MODEL_H
#define DRAGOMAN_MONITOR_MODEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MON_EVENTS 64 /* the event log keeps this many, newest last */
#define MON_TEXT_MAX 200

enum mon_link {
	MON_LINK_CONNECTING = 0, /* nothing heard yet */
	MON_LINK_UP,
	MON_LINK_DOWN,	  /* no answer: why says what libcurl saw */
	MON_LINK_REFUSED, /* the engine answers but refuses the token (401/403) */
};

enum mon_doc { MON_DOC_STATE = 0, MON_DOC_METERS, MON_DOC_ALARMS, MON_DOC_LISTENERS, MON_DOCS };

enum mon_event_kind { MON_EV_INFO = 0, MON_EV_CHANGE, MON_EV_CALL, MON_EV_ALARM, MON_EV_ERROR };

struct mon_event {
	enum mon_event_kind kind;
	char time[16]; /* local HH:MM:SS */
	char text[MON_TEXT_MAX];
};

/* Read it only between mon_model_lock and mon_model_unlock. */
struct mon_snapshot {
	enum mon_link link;
	char why[MON_TEXT_MAX];
	double link_since; /* monotonic seconds of the last change of link */
	/* The last good answer of each endpoint; NULL when there is none (never
	 * answered, missing, or the engine is unreachable). */
	json_t *doc[MON_DOCS];
	bool missing[MON_DOCS]; /* answered 404: the engine has no such endpoint */
	bool events_up;		/* the event stream is subscribed */
	struct mon_event events[MON_EVENTS];
	size_t nevents; /* events[0..nevents) oldest first */
};

typedef void (*mon_wake_fn)(void *user);

struct mon_model_params {
	const char *url;     /* base URL without a trailing slash */
	const char *auth;    /* the whole "Authorization: Bearer ..." header line */
	const char *ca_file; /* HTTPS: trust this CA file (NULL: the system's) */
	const uint8_t *pin;  /* HTTPS: or the certificate's SHA-256 (32 bytes; NULL: none) */
	mon_wake_fn wake;    /* called (any thread) after the snapshot changed */
	void *user;
};

struct mon_model;

/* Returns 0 and *out (threads not started), or DM_EINVAL / DM_ENOMEM. */
int mon_model_new(const struct mon_model_params *p, struct mon_model **out);

/* Starts the poller and the event follower. Returns 0 or DM_EIO. */
int mon_model_start(struct mon_model *m);

/* Stops the threads (within a request's timeout at worst) and frees. */
void mon_model_free(struct mon_model *m);

const struct mon_snapshot *mon_model_lock(struct mon_model *m);
void mon_model_unlock(struct mon_model *m);

/* Adds a line to the event log (messages of the monitor itself). */
void mon_model_note(struct mon_model *m, enum mon_event_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* POST /api/v1/floor {"language": channel or null} on its own connection,
 * from the calling thread. msg gets what to tell the user. Returns the HTTP
 * status, or -1 with no answer. */
long mon_model_set_floor(struct mon_model *m, const char *channel, char *msg, size_t cap);

/* Monotonic seconds. */
double mon_now(void);

/* The engine's "2026-11-27T23:00:00.123Z" (UTC) as local "HH:MM:SS"; the
 * time now when iso is NULL or not such a time. */
void mon_time_local(const char *iso, char *out, size_t cap);

#endif
