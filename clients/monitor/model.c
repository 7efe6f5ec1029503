/* dragoman-monitor: the engine's documents and events, fetched by a poller
 * thread (one kept-alive libcurl handle) and an event-stream follower (a
 * libcurl multi handle, so that quitting can wake it at once). */
#include "model.h"

#include "dragoman/error.h"
#include "reply.h"
#include "token.h"
#include "tls_pin.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define METERS_PERIOD_S 0.1 /* the meters move at 10 Hz */
/* Meter events on the stream (10 Hz) replace polling /meters while they come:
 * half the requests, one parse instead of two. */
#define METERS_EVENTS_FRESH_S 0.5
#define SLOW_PERIOD_S 1.0   /* state, alarms, listeners (events make state prompt) */
#define MISSING_RETRY_S 5.0 /* an endpoint that answered 404 */
#define RETRY_S 1.0	    /* engine unreachable: try again */
#define REFUSED_RETRY_S 5.0 /* token refused: the tokens file may be fixed */
#define CONNECT_TIMEOUT_MS 1000L
#define REQUEST_TIMEOUT_MS 2000L
#define SSE_LINE_MAX (1 << 16)

static const char *const doc_path[MON_DOCS] = {
	[MON_DOC_STATE] = "/api/v1/state",
	[MON_DOC_METERS] = "/api/v1/meters",
	[MON_DOC_ALARMS] = "/api/v1/alarms",
	[MON_DOC_LISTENERS] = "/api/v1/listeners",
};

static const double doc_period[MON_DOCS] = {
	[MON_DOC_STATE] = SLOW_PERIOD_S,
	[MON_DOC_METERS] = METERS_PERIOD_S,
	[MON_DOC_ALARMS] = SLOW_PERIOD_S,
	[MON_DOC_LISTENERS] = SLOW_PERIOD_S,
};

struct mon_model {
	char *base;
	char *auth;
	char *url[MON_DOCS];
	char *events_url;
	char *ca_file;
	uint8_t pin[DM_TLS_PIN_LEN];
	bool have_pin;
	mon_wake_fn wake;
	void *user;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* the poller's sleep: quit or a document made dirty */
	struct mon_snapshot snap;
	bool dirty[MON_DOCS];
	double meters_event_at; /* the last meters event of the stream */
	atomic_bool quit;

	pthread_t poller, follower;
	bool poller_started, follower_started;
	CURLM *multi; /* the follower's; curl_multi_wakeup interrupts its waits */

	/* the follower's stream parser */
	CURL *sse;
	struct dm_reply refusal;
	char line[SSE_LINE_MAX];
	size_t len;
	bool overlong;
	struct dm_reply data;
};

double mon_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void wake(struct mon_model *m)
{
	if (m->wake)
		m->wake(m->user);
}

static char *concat(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 1;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s%s", a, b);
	return s;
}

/* ------------------------------------------------------------ event log */

static void local_time(char *out, size_t cap)
{
	time_t t = time(NULL);
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(out, cap, "%H:%M:%S", &tm);
}

void mon_time_local(const char *iso, char *out, size_t cap)
{
	struct tm tm = {0};
	if (!iso || sscanf(iso, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
		local_time(out, cap);
		return;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	time_t t = timegm(&tm);
	localtime_r(&t, &tm);
	strftime(out, cap, "%H:%M:%S", &tm);
}

/* With the lock held. */
static void log_append(struct mon_model *m, enum mon_event_kind kind, const char *time,
		       const char *text)
{
	struct mon_snapshot *s = &m->snap;
	if (s->nevents == MON_EVENTS) {
		memmove(&s->events[0], &s->events[1], (MON_EVENTS - 1) * sizeof s->events[0]);
		s->nevents--;
	}
	struct mon_event *e = &s->events[s->nevents++];
	e->kind = kind;
	snprintf(e->time, sizeof e->time, "%s", time);
	snprintf(e->text, sizeof e->text, "%s", text);
}

void mon_model_note(struct mon_model *m, enum mon_event_kind kind, const char *fmt, ...)
{
	if (!m)
		return;
	char text[MON_TEXT_MAX], time[16];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	local_time(time, sizeof time);
	pthread_mutex_lock(&m->lock);
	log_append(m, kind, time, text);
	pthread_mutex_unlock(&m->lock);
	wake(m);
}

/* ------------------------------------------------------------------ HTTP */

/* "HTTP 409: channel fr is held by fr-1" from an answer {"error": "..."}. */
static void refusal_text(long status, const char *body, size_t len, char *out, size_t cap)
{
	json_t *root = body ? json_loadb(body, len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(root, "error"));
	snprintf(out, cap, "HTTP %ld%s%s", status, msg ? ": " : "", msg ? msg : "");
	json_decref(root);
}

static void set_link(struct mon_model *m, enum mon_link link, const char *why)
{
	struct mon_snapshot *s = &m->snap;
	char time[16];
	local_time(time, sizeof time);
	if (link != s->link) {
		s->link_since = mon_now();
		if (link == MON_LINK_UP && s->link != MON_LINK_CONNECTING)
			log_append(m, MON_EV_INFO, time, "engine reachable again");
		else if (link == MON_LINK_DOWN && s->link == MON_LINK_UP)
			log_append(m, MON_EV_ERROR, time, "engine unreachable");
		else if (link == MON_LINK_REFUSED)
			log_append(m, MON_EV_ERROR, time, "the engine refuses the token");
	}
	s->link = link;
	snprintf(s->why, sizeof s->why, "%s", why ? why : "");
}

/* With the lock held: the engine is gone (or refuses us): nothing it said
 * before is true any more. The documents are released after unlocking. */
static void drop_docs(struct mon_model *m, json_t *old[MON_DOCS])
{
	for (int d = 0; d < MON_DOCS; d++) {
		old[d] = m->snap.doc[d];
		m->snap.doc[d] = NULL;
		m->snap.missing[d] = false;
	}
}

/* HTTPS: the CA file or the pinned certificate the user named, else the
 * system's trust store (curl's default). */
static void tls(struct mon_model *m, CURL *c)
{
	if (m->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, m->ca_file);
	if (m->have_pin)
		dm_tls_pin_apply(c, m->pin);
}

static void *poller_main(void *arg)
{
	struct mon_model *m = arg;
	CURL *curl = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, m->auth);
	struct dm_reply b = {0};
	char errbuf[CURL_ERROR_SIZE];
	if (!curl || !h) {
		pthread_mutex_lock(&m->lock);
		set_link(m, MON_LINK_DOWN, "cannot start libcurl");
		pthread_mutex_unlock(&m->lock);
		wake(m);
		dm_client_headers_free(h);
		curl_easy_cleanup(curl);
		return NULL;
	}
	tls(m, curl);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, dm_reply_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);

	double next[MON_DOCS] = {0};
	pthread_mutex_lock(&m->lock);
	while (!atomic_load(&m->quit)) {
		bool dirty[MON_DOCS];
		memcpy(dirty, m->dirty, sizeof dirty);
		memset(m->dirty, 0, sizeof m->dirty);
		double meters_event_at = m->meters_event_at;
		pthread_mutex_unlock(&m->lock);

		double now = mon_now();
		bool changed = false;
		for (int d = 0; d < MON_DOCS && !atomic_load(&m->quit); d++) {
			if (now < next[d] && !dirty[d])
				continue;
			/* The event stream brings the meters: no need to ask. */
			if (d == MON_DOC_METERS && now - meters_event_at < METERS_EVENTS_FRESH_S) {
				next[d] = now + METERS_EVENTS_FRESH_S;
				continue;
			}
			b.len = 0;
			b.overflow = false;
			errbuf[0] = '\0';
			curl_easy_setopt(curl, CURLOPT_URL, m->url[d]);
			CURLcode rc = curl_easy_perform(curl);
			long status = 0;
			if (rc == CURLE_OK)
				curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
			json_t *doc = NULL, *old[MON_DOCS] = {0};
			if (rc == CURLE_OK && status == 200)
				doc = json_loadb(b.p ? b.p : "", b.len, 0, NULL);
			char why[MON_TEXT_MAX];
			changed = true;
			pthread_mutex_lock(&m->lock);
			if (rc != CURLE_OK) {
				snprintf(why, sizeof why, "%s",
					 b.overflow  ? "an answer too long"
					 : errbuf[0] ? errbuf
						     : curl_easy_strerror(rc));
				set_link(m, MON_LINK_DOWN, why);
				drop_docs(m, old);
				for (int k = 0; k < MON_DOCS; k++)
					next[k] = now + RETRY_S;
			} else if (status == 401 || status == 403) {
				refusal_text(status, b.p, b.len, why, sizeof why);
				set_link(m, MON_LINK_REFUSED, why);
				drop_docs(m, old);
				for (int k = 0; k < MON_DOCS; k++)
					next[k] = now + REFUSED_RETRY_S;
			} else {
				set_link(m, MON_LINK_UP, NULL);
				old[d] = m->snap.doc[d];
				m->snap.doc[d] = doc; /* NULL for another status or bad JSON */
				m->snap.missing[d] = status == 404;
				next[d] = now + (status == 404 ? MISSING_RETRY_S : doc_period[d]);
			}
			pthread_mutex_unlock(&m->lock);
			for (int k = 0; k < MON_DOCS; k++)
				json_decref(old[k]);
			if (rc != CURLE_OK || status == 401 || status == 403)
				break;
		}
		if (changed)
			wake(m);

		double until = next[0];
		for (int d = 1; d < MON_DOCS; d++)
			if (next[d] < until)
				until = next[d];
		pthread_mutex_lock(&m->lock);
		/* The condition variable runs on CLOCK_MONOTONIC (see mon_model_new). */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		double wait = until - mon_now();
		if (wait > 0) {
			long ns = ts.tv_nsec + (long)((wait - (double)(long)wait) * 1e9);
			ts.tv_sec += (time_t)wait + ns / 1000000000L;
			ts.tv_nsec = ns % 1000000000L;
		}
		while (wait > 0 && !atomic_load(&m->quit)) {
			bool any = false;
			for (int d = 0; d < MON_DOCS; d++)
				any |= m->dirty[d];
			if (any || pthread_cond_timedwait(&m->cond, &m->lock, &ts) != 0)
				break;
		}
	}
	pthread_mutex_unlock(&m->lock);
	free(b.p);
	dm_client_headers_free(h);
	curl_easy_cleanup(curl);
	return NULL;
}

/* ---------------------------------------------------------- event stream */

static const char *str_or(json_t *v, const char *dflt)
{
	const char *s = json_string_value(v);
	return s ? s : dflt;
}

/* "key=value key=value" of the members not already shown. */
static void append_fields(json_t *ev, char *out, size_t cap, const char *const *skip)
{
	size_t n = strlen(out);
	const char *key;
	json_t *v;
	json_object_foreach(ev, key, v)
	{
		bool skipped = false;
		for (const char *const *k = skip; *k; k++)
			skipped |= strcmp(key, *k) == 0;
		if (skipped || n + 1 >= cap)
			continue;
		char *val =
			json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		int w = snprintf(out + n, cap - n, " %s=%s", key,
				 json_is_string(v) ? json_string_value(v) : (val ? val : "?"));
		free(val);
		if (w > 0)
			n += (size_t)w < cap - n ? (size_t)w : cap - n - 1;
	}
}

static void on_event(struct mon_model *m, const char *data, size_t len)
{
	json_t *ev = json_loadb(data, len, 0, NULL);
	const char *type = str_or(json_object_get(ev, "type"), NULL);
	if (!type) {
		json_decref(ev);
		return;
	}
	if (strcmp(type, "meters") == 0) {
		/* Taken as the meters document when it looks like one (as GET
		 * /api/v1/meters, plus id, time and type); else the poller goes
		 * on asking. */
		json_t *first = json_array_get(json_object_get(ev, "channels"), 0);
		if (!json_is_string(json_object_get(first, "id")) ||
		    !json_object_get(first, "peak_dbfs")) {
			json_decref(ev);
			return;
		}
		pthread_mutex_lock(&m->lock);
		json_t *old = m->snap.doc[MON_DOC_METERS];
		m->snap.doc[MON_DOC_METERS] = ev;
		m->snap.missing[MON_DOC_METERS] = false;
		m->meters_event_at = mon_now();
		pthread_mutex_unlock(&m->lock);
		json_decref(old);
		wake(m);
		return;
	}
	char time[16], text[MON_TEXT_MAX];
	mon_time_local(str_or(json_object_get(ev, "time"), NULL), time, sizeof time);
	enum mon_event_kind kind;
	int dirty;
	if (strcmp(type, "call") == 0) {
		kind = MON_EV_CALL;
		dirty = -1;
		snprintf(text, sizeof text, "call from %s (booth %s): %s",
			 str_or(json_object_get(ev, "console"), "?"),
			 str_or(json_object_get(ev, "booth"), "?"),
			 str_or(json_object_get(ev, "message"), "?"));
	} else if (strcmp(type, "alarm") == 0) {
		/* "alarm raised: fr-1 silent for 10 s (silence)" */
		json_t *raised = json_object_get(ev, "raised");
		kind = json_is_false(raised) ? MON_EV_CHANGE : MON_EV_ALARM;
		dirty = MON_DOC_ALARMS;
		snprintf(text, sizeof text, "alarm %s: %s (%s)",
			 json_is_false(raised) ? "cleared" : "raised",
			 str_or(json_object_get(ev, "text"), "?"),
			 str_or(json_object_get(ev, "kind"), "?"));
	} else {
		/* "mic fr-1 channel=fr on=true (by booth:fr)" */
		kind = MON_EV_CHANGE;
		dirty = MON_DOC_STATE;
		const char *console = str_or(json_object_get(ev, "console"), NULL);
		snprintf(text, sizeof text, "%s%s%s", type, console ? " " : "",
			 console ? console : "");
		append_fields(ev, text, sizeof text,
			      (const char *const[]){"id", "time", "type", "console", "who", NULL});
		const char *who = str_or(json_object_get(ev, "who"), NULL);
		size_t n = strlen(text);
		if (who && n < sizeof text)
			snprintf(text + n, sizeof text - n, " (by %s)", who);
	}
	json_decref(ev);
	pthread_mutex_lock(&m->lock);
	log_append(m, kind, time, text);
	if (dirty >= 0) {
		m->dirty[dirty] = true;
		pthread_cond_broadcast(&m->cond);
	}
	pthread_mutex_unlock(&m->lock);
	wake(m);
}

/* One line of the stream, without its end, per the SSE format. Only "data"
 * matters: the monitor does not resume (after an engine restart the ids
 * start again). */
static void sse_line(struct mon_model *m, const char *line, size_t n)
{
	if (n == 0) {
		if (m->data.len)
			on_event(m, m->data.p, m->data.len);
		m->data.len = 0;
		return;
	}
	if (line[0] == ':') {
		if (n >= 11 && memcmp(line, ": subscribed", 11) == 0) {
			pthread_mutex_lock(&m->lock);
			m->snap.events_up = true;
			pthread_mutex_unlock(&m->lock);
			wake(m);
		}
		return;
	}
	if (n >= 5 && memcmp(line, "data:", 5) == 0) {
		const char *v = line + 5;
		size_t k = n - 5;
		if (k && *v == ' ') {
			v++;
			k--;
		}
		if (m->data.len)
			dm_reply_write("\n", 1, 1, &m->data);
		dm_reply_write((char *)v, 1, k, &m->data);
	}
}

static size_t on_stream(char *p, size_t size, size_t n, void *user)
{
	struct mon_model *m = user;
	size_t k = size * n;
	long status = 0;
	curl_easy_getinfo(m->sse, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
		return dm_reply_write(p, size, n, &m->refusal);
	for (size_t i = 0; i < k; i++) {
		char ch = p[i];
		if (ch == '\n') {
			size_t len = m->len;
			if (len && m->line[len - 1] == '\r')
				len--;
			if (!m->overlong)
				sse_line(m, m->line, len);
			m->len = 0;
			m->overlong = false;
		} else if (m->len < sizeof m->line) {
			m->line[m->len++] = ch;
		} else {
			m->overlong = true;
		}
	}
	return k;
}

/* Waits s seconds, or less when quitting. */
static void follower_sleep(struct mon_model *m, double s)
{
	double until = mon_now() + s;
	double left;
	while (!atomic_load(&m->quit) && (left = until - mon_now()) > 0)
		curl_multi_poll(m->multi, NULL, 0, (int)(left * 1000) + 1, NULL);
}

static void *follower_main(void *arg)
{
	struct mon_model *m = arg;
	struct curl_slist *h = curl_slist_append(NULL, m->auth);
	h = h ? curl_slist_append(h, "Accept: text/event-stream") : NULL;
	while (h && !atomic_load(&m->quit)) {
		CURL *c = curl_easy_init();
		if (!c)
			break;
		m->sse = c;
		m->len = 0;
		m->overlong = false;
		m->data.len = 0;
		m->refusal.len = 0;
		tls(m, c);
		curl_easy_setopt(c, CURLOPT_URL, m->events_url);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_stream);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, m);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
		/* Keepalives come every 15 s: a minute of nothing is a dead link. */
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_multi_add_handle(m->multi, c);
		int running = 1;
		while (running && !atomic_load(&m->quit)) {
			if (curl_multi_perform(m->multi, &running) != CURLM_OK || !running)
				break;
			curl_multi_poll(m->multi, NULL, 0, 1000, NULL);
		}
		long status = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(m->multi, c);
		curl_easy_cleanup(c);
		m->sse = NULL;
		pthread_mutex_lock(&m->lock);
		bool was_up = m->snap.events_up;
		m->snap.events_up = false;
		if (status && status != 200 && m->snap.link == MON_LINK_UP) {
			char why[MON_TEXT_MAX], time[16];
			refusal_text(status, m->refusal.p, m->refusal.len, why, sizeof why);
			local_time(time, sizeof time);
			char text[MON_TEXT_MAX];
			snprintf(text, sizeof text, "event stream refused: %.150s", why);
			log_append(m, MON_EV_ERROR, time, text);
		}
		pthread_mutex_unlock(&m->lock);
		if (was_up)
			wake(m);
		/* Refused (no events for this token, no such endpoint): no hurry. */
		follower_sleep(m, status && status != 200 ? REFUSED_RETRY_S : RETRY_S);
	}
	dm_client_headers_free(h);
	return NULL;
}

/* ------------------------------------------------------------- lifecycle */

int mon_model_new(const struct mon_model_params *p, struct mon_model **out)
{
	if (!p || !p->url || !p->auth || !out)
		return DM_EINVAL;
	struct mon_model *m = calloc(1, sizeof *m);
	if (!m)
		return DM_ENOMEM;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&m->lock, NULL);
	atomic_init(&m->quit, false);
	m->wake = p->wake;
	m->user = p->user;
	m->snap.link_since = mon_now();
	m->base = strdup(p->url);
	m->auth = strdup(p->auth);
	if (p->ca_file)
		m->ca_file = strdup(p->ca_file);
	if (p->pin) {
		memcpy(m->pin, p->pin, sizeof m->pin);
		m->have_pin = true;
	}
	m->events_url = concat(p->url, "/api/v1/events");
	m->multi = curl_multi_init();
	bool ok = m->base && m->auth && m->events_url && m->multi && (!p->ca_file || m->ca_file);
	for (int d = 0; d < MON_DOCS; d++) {
		m->url[d] = concat(p->url, doc_path[d]);
		ok = ok && m->url[d];
	}
	if (!ok) {
		mon_model_free(m);
		return DM_ENOMEM;
	}
	*out = m;
	return 0;
}

int mon_model_start(struct mon_model *m)
{
	if (!m)
		return DM_EINVAL;
	if (pthread_create(&m->poller, NULL, poller_main, m) != 0)
		return DM_EIO;
	m->poller_started = true;
	if (pthread_create(&m->follower, NULL, follower_main, m) != 0)
		return DM_EIO;
	m->follower_started = true;
	return 0;
}

void mon_model_free(struct mon_model *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	atomic_store(&m->quit, true);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (m->multi)
		curl_multi_wakeup(m->multi);
	if (m->poller_started)
		pthread_join(m->poller, NULL);
	if (m->follower_started)
		pthread_join(m->follower, NULL);
	for (int d = 0; d < MON_DOCS; d++) {
		json_decref(m->snap.doc[d]);
		free(m->url[d]);
	}
	curl_multi_cleanup(m->multi);
	free(m->refusal.p);
	free(m->data.p);
	free(m->events_url);
	free(m->auth);
	free(m->base);
	free(m->ca_file);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

const struct mon_snapshot *mon_model_lock(struct mon_model *m)
{
	pthread_mutex_lock(&m->lock);
	return &m->snap;
}

void mon_model_unlock(struct mon_model *m)
{
	pthread_mutex_unlock(&m->lock);
}

long mon_model_set_floor(struct mon_model *m, const char *channel, char *msg, size_t cap)
{
	json_t *body = json_pack("{s:o}", "language", channel ? json_string(channel) : json_null());
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	CURL *c = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, m->auth);
	h = h ? curl_slist_append(h, "Content-Type: application/json") : NULL;
	char *url = concat(m->base, "/api/v1/floor");
	struct dm_reply b = {0};
	char errbuf[CURL_ERROR_SIZE] = "";
	long status = -1;
	if (!text || !c || !h || !url) {
		snprintf(msg, cap, "floor: out of memory");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dm_reply_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		snprintf(msg, cap, "floor: %s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status <= 299) {
		json_t *root = json_loadb(b.p ? b.p : "", b.len, 0, NULL);
		snprintf(msg, cap, "floor language: %s",
			 str_or(json_object_get(root, "floor_language"), "none"));
		json_decref(root);
		pthread_mutex_lock(&m->lock);
		m->dirty[MON_DOC_STATE] = true;
		pthread_cond_broadcast(&m->cond);
		pthread_mutex_unlock(&m->lock);
	} else {
		char why[MON_TEXT_MAX];
		refusal_text(status, b.p, b.len, why, sizeof why);
		snprintf(msg, cap, "floor refused: %s", why);
	}
out:
	free(b.p);
	free(url);
	dm_client_headers_free(h);
	curl_easy_cleanup(c);
	free(text);
	return status;
}
