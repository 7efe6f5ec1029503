/* dragoman-listen's remote mode (see remote.h). The session comes from the
 * control API over TLS; after that everything is UDP on one socket: SRTP and
 * SRTCP from the engine (the receiver's), hellos to it (ours, from the same
 * socket so that the engine answers through our NAT) and key updates from
 * it (handed to us by the receiver thread). */
#include "remote.h"

#include "dragoman/defaults.h"
#include "dragoman/error.h"
#include "dragoman/keys.h"
#include "dragoman/profile.h"
#include "dragoman/receiver.h"
#include "dragoman/rproto.h"
#include "dragoman/srtp.h"
#include "reply.h"
#include "tls_pin.h"
#include "token.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROG "dragoman-listen"
#define MAX_CHANNELS 64		/* in a session's channel list */
#define REPLY_MAX (256 * 1024)	/* an API answer */
#define HTTP_TIMEOUT_MS 10000	/* session and channel requests */
#define CONNECT_TIMEOUT_MS 5000 /* of which connecting */
#define END_TIMEOUT_MS 1000	/* ending a session: best effort */
#define RETRY_MS 1000		/* a new session after a failed attempt */
#define RETRY_REFUSED_MS 10000	/* ... after the token was refused (revoked) */
/* Hellos besides the periodic ones (acknowledgements, switches) keep to
 * two thirds of the rate the engine tolerates from one address. */
#define HELLO_GAP_MS (1500 / DM_REMOTE_HELLOS_PER_S)
/* While media is missing (the first hello lost, or the engine forgot us),
 * hello this often until it comes or the session is given up. */
#define EAGER_HELLO_MS 500

struct channel {
	int index; /* in the session's list: the receiver's channel index */
	char id[64];
	char name[128];
	uint32_t ssrc;
	enum dm_srtp_suite suite;
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
};

/* One session as the engine answered it. */
struct session {
	uint8_t id[DM_RPROTO_SESSION_ID_LEN];
	char hex[2 * DM_RPROTO_SESSION_ID_LEN + 1];
	struct dm_rproto_keys keys;
	uint16_t udp_port;
	int hello_s;
	uint32_t generation;
	char profile[32];
	int frame_ms;
	int channel; /* index of the channel it is on */
	int n;
	struct channel ch[MAX_CHANNELS];
};

struct dm_listen_remote {
	char url[2048]; /* as given, without a trailing '/' */
	char host[256];
	char auth[DM_CLIENT_TOKEN_MAX + 32];
	char *ca_file;
	uint8_t pin[DM_TLS_PIN_LEN];
	bool has_pin;
	CURL *curl; /* main thread only; kept for its connection (switches) */
	int fd;
	struct dm_receiver *rx;
	int rx_channels; /* the receiver's channel count (the first session's) */

	/* The receiver thread handles key updates and sends acknowledgements
	 * while the main thread sends hellos, switches and replaces sessions. */
	pthread_mutex_t lock;
	struct session s;
	bool up;
	uint64_t counter;
	uint64_t last_hello_ms;
	bool hello_due;
	struct sockaddr_in to;

	/* Main thread only. */
	uint64_t received;    /* the receiver's count when last looked at */
	uint64_t media_ms;    /* when it last moved (or the session opened) */
	bool outage;	      /* replacing the session, not there yet */
	bool forgotten;	      /* the engine said it has no such session */
	uint64_t next_try_ms; /* next attempt */
	char last_err[512];   /* of the attempts, said once */

	_Atomic uint64_t restarts, key_updates, key_errors, hellos;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void inc(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------ HTTP */

/* One request. Returns the HTTP status with *reply (the JSON answer, NULL
 * when it is not JSON; caller frees), or -1 with err filled (no answer). */
static long http(struct dm_listen_remote *rm, const char *method, const char *path,
		 const char *body, long timeout_ms, json_t **reply, char *err, size_t errcap)
{
	*reply = NULL;
	CURL *c = rm->curl;
	/* reset keeps the connection (and TLS session) for the next request. */
	curl_easy_reset(c);
	char url[sizeof rm->url + 128];
	snprintf(url, sizeof url, "%s%s", rm->url, path);
	struct curl_slist *h = curl_slist_append(NULL, rm->auth);
	if (body)
		h = curl_slist_append(h, "Content-Type: application/json");
	struct dm_reply b = {.max = REPLY_MAX};
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dm_reply_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 timeout_ms < CONNECT_TIMEOUT_MS ? timeout_ms : (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	/* A request now and then (a session, a switch): no connection kept
	 * idle on the engine, whose API serves a bounded number of them. */
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	if (rm->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, rm->ca_file);
	(void)dm_tls_cleanse_apply(c); /* best effort: libcurl on OpenSSL */
	long status = -1;
	if (rm->has_pin && dm_tls_pin_apply(c, rm->pin) < 0) {
		snprintf(err, errcap, "cannot set up the certificate pin");
		goto out;
	}
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		snprintf(err, errcap, "%.200s: %s", rm->host,
			 b.overflow ? "the answer is too long" : curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (b.p)
		*reply = json_loads(b.p, 0, NULL);
	snprintf(err, errcap, "%ld", status);
out:
	/* The session's answer carries its key and every channel's. */
	if (b.p)
		OPENSSL_cleanse(b.p, b.cap);
	free(b.p);
	dm_client_headers_free(h);
	return status;
}

/* "401: token refused", or the server's own words. */
static void refusal(long status, json_t *reply, char *err, size_t errcap)
{
	if (status == 401) {
		snprintf(err, errcap, "token refused");
		return;
	}
	const char *msg = json_string_value(json_object_get(reply, "error"));
	snprintf(err, errcap, "%ld: %s", status, msg ? msg : "refused");
}

/* --------------------------------------------------------------- session */

static int hex_decode(const char *hex, uint8_t *out, size_t n)
{
	if (!hex || strlen(hex) != 2 * n)
		return -1;
	for (size_t i = 0; i < 2 * n; i++) {
		char c = hex[i];
		int v = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (v < 0)
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return 0;
}

static int int_field(json_t *o, const char *name, long long lo, long long hi, long long def,
		     long long *out)
{
	json_t *v = json_object_get(o, name);
	if (!v) {
		*out = def;
		return def < lo ? -1 : 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

static void copy_str(char *dst, size_t cap, json_t *v)
{
	const char *s = json_string_value(v);
	snprintf(dst, cap, "%s", s ? s : "");
}

/* Reads a session answer into *s. Returns 0, or -1 with err filled. */
static int parse_session(json_t *root, struct session *s, char *err, size_t errcap)
{
	memset(s, 0, sizeof *s);
	uint8_t key[DM_RPROTO_SESSION_KEY_LEN];
	long long v;
	const char *what = "session";
	if (!json_is_object(root) || hex_decode(json_string_value(json_object_get(root, "session")),
						s->id, sizeof s->id) < 0)
		goto bad;
	snprintf(s->hex, sizeof s->hex, "%s", json_string_value(json_object_get(root, "session")));
	what = "key";
	const char *k64 = json_string_value(json_object_get(root, "key"));
	if (!k64 || dm_base64_decode(k64, key, sizeof key) != (int)sizeof key ||
	    dm_rproto_derive(key, &s->keys) < 0)
		goto bad;
	what = "udp_port";
	if (int_field(root, "udp_port", 1, 65535, -1, &v) < 0)
		goto bad;
	s->udp_port = (uint16_t)v;
	what = "hello_s";
	if (int_field(root, "hello_s", 1, 3600, DM_REMOTE_HELLO_S, &v) < 0)
		goto bad;
	s->hello_s = (int)v;
	what = "generation";
	if (int_field(root, "generation", 0, UINT32_MAX, 0, &v) < 0)
		goto bad;
	s->generation = (uint32_t)v;
	what = "frame_ms";
	if (int_field(root, "frame_ms", 1, 120, 20, &v) < 0)
		goto bad;
	s->frame_ms = (int)v;
	copy_str(s->profile, sizeof s->profile, json_object_get(root, "profile"));
	what = "channels";
	json_t *list = json_object_get(root, "channels");
	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > MAX_CHANNELS)
		goto bad;
	const char *current = json_string_value(json_object_get(root, "channel"));
	s->channel = -1;
	size_t i;
	json_t *c;
	json_array_foreach(list, i, c)
	{
		struct channel *ch = &s->ch[i];
		if (int_field(c, "index", 0, MAX_CHANNELS - 1, (long long)i, &v) < 0)
			goto bad;
		ch->index = (int)v;
		copy_str(ch->id, sizeof ch->id, json_object_get(c, "id"));
		copy_str(ch->name, sizeof ch->name, json_object_get(c, "name"));
		if (!ch->id[0] || int_field(c, "ssrc", 0, UINT32_MAX, -1, &v) < 0)
			goto bad;
		ch->ssrc = (uint32_t)v;
		const char *suite = json_string_value(json_object_get(c, "suite"));
		if (!suite || dm_srtp_suite_parse(suite, &ch->suite) < 0)
			goto bad;
		const char *ck = json_string_value(json_object_get(c, "key"));
		int kl = ck ? dm_base64_decode(ck, ch->key, sizeof ch->key) : -1;
		if (kl < 0 || (size_t)kl != dm_srtp_key_len(ch->suite))
			goto bad;
		if (current && strcmp(current, ch->id) == 0)
			s->channel = ch->index;
		s->n++;
	}
	/* Without "channel", the engine's first (the floor). */
	if (!current)
		s->channel = s->ch[0].index;
	if (s->channel < 0) {
		what = "channel";
		goto bad;
	}
	OPENSSL_cleanse(key, sizeof key);
	return 0;
bad:
	OPENSSL_cleanse(key, sizeof key);
	OPENSSL_cleanse(s, sizeof *s);
	snprintf(err, errcap, "the engine's answer has no valid '%s'", what);
	return -1;
}

/* POST /api/v1/remote/sessions. Returns 0 with *s, or the HTTP status
 * (-1: no answer) with err filled. */
static long open_session(struct dm_listen_remote *rm, const char *channel, struct session *s,
			 char *err, size_t errcap)
{
	json_t *req = channel ? json_pack("{s:s}", "channel", channel) : json_object();
	char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!body) {
		snprintf(err, errcap, "out of memory");
		return -1;
	}
	json_t *reply;
	long status = http(rm, "POST", "/api/v1/remote/sessions", body, HTTP_TIMEOUT_MS, &reply,
			   err, errcap);
	free(body);
	long ret = status;
	if (status == 201 || status == 200)
		ret = parse_session(reply, s, err, errcap) == 0 ? 0 : -1;
	else if (status > 0)
		refusal(status, reply, err, errcap);
	json_decref(reply);
	return ret;
}

/* DELETE /api/v1/remote/sessions/{sid}: the engine forgets it at once
 * instead of after DM_REMOTE_TIMEOUT_S. Best effort. */
static void end_session(struct dm_listen_remote *rm, const char *hex)
{
	char path[128], err[256];
	snprintf(path, sizeof path, "/api/v1/remote/sessions/%s", hex);
	json_t *reply;
	http(rm, "DELETE", path, NULL, END_TIMEOUT_MS, &reply, err, sizeof err);
	json_decref(reply);
}

/* The engine's UDP address: the URL's host, the session's port. */
static int resolve(struct dm_listen_remote *rm, uint16_t port, struct sockaddr_in *to)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM}, *res = NULL;
	int rc = getaddrinfo(rm->host, NULL, &hints, &res);
	if (rc != 0 || !res) {
		fprintf(stderr, PROG ": %s: %s\n", rm->host, gai_strerror(rc));
		return -1;
	}
	memcpy(to, res->ai_addr, sizeof *to);
	to->sin_port = htons(port);
	freeaddrinfo(res);
	return 0;
}

/* ----------------------------------------------------------------- hellos */

/* Sends a hello now. Caller holds the lock. */
static void hello_locked(struct dm_listen_remote *rm, uint64_t now)
{
	if (!rm->up)
		return;
	struct dm_rproto_hello h = {.counter = ++rm->counter, .generation = rm->s.generation};
	memcpy(h.session, rm->s.id, sizeof h.session);
	if (rm->rx)
		dm_receiver_report_block(rm->rx, &h.report);
	uint8_t buf[DM_RPROTO_HELLO_LEN];
	int n = dm_rproto_hello_write(&h, &rm->s.keys, buf, sizeof buf);
	rm->last_hello_ms = now;
	rm->hello_due = false;
	if (n < 0)
		return;
	/* A lost hello is the next one's job: UDP, no retry here. */
	if (sendto(rm->fd, buf, (size_t)n, 0, (const struct sockaddr *)&rm->to, sizeof rm->to) == n)
		inc(&rm->hellos);
}

/* A hello as soon as the gap allows (now, or from the next tick). */
static void hello_soon_locked(struct dm_listen_remote *rm)
{
	uint64_t now = now_ms();
	if (now - rm->last_hello_ms >= HELLO_GAP_MS)
		hello_locked(rm, now);
	else
		rm->hello_due = true;
}

/* ------------------------------------------------------------------- keys */

/* Installs a session's keys (after dm_receiver_clear_keys for a new one).
 * Caller holds the lock. */
static void install_locked(struct dm_listen_remote *rm)
{
	for (int i = 0; i < rm->s.n; i++) {
		const struct channel *c = &rm->s.ch[i];
		int rc = dm_receiver_set_key(rm->rx, c->index, c->ssrc, c->suite, c->key);
		if (rc < 0)
			fprintf(stderr, PROG ": cannot use the key of channel %s: %s\n", c->id,
				dm_strerror(rc));
	}
}

/* The engine asks us to show we receive at this address before it sends us
 * anything: the cookie back, under our session's key. */
static void answer_challenge(struct dm_listen_remote *rm, const uint8_t *buf, size_t len)
{
	uint8_t id[DM_RPROTO_SESSION_ID_LEN], cookie[DM_RPROTO_COOKIE_LEN];
	uint8_t out[DM_RPROTO_RESPONSE_LEN];
	if (dm_rproto_challenge_read(buf, len, id, cookie) < 0)
		return;
	pthread_mutex_lock(&rm->lock);
	if (rm->up && memcmp(id, rm->s.id, sizeof id) == 0 &&
	    dm_rproto_response_write(id, cookie, &rm->s.keys, out, sizeof out) == (int)sizeof out)
		(void)!sendto(rm->fd, out, sizeof out, 0, (const struct sockaddr *)&rm->to,
			      sizeof rm->to);
	pthread_mutex_unlock(&rm->lock);
}

void dm_listen_remote_datagram(struct dm_listen_remote *rm, const uint8_t *buf, size_t len)
{
	if (rm && dm_rproto_kind(buf, len) == DM_RPROTO_CHALLENGE) {
		answer_challenge(rm, buf, len);
		return;
	}
	if (!rm || dm_rproto_kind(buf, len) != DM_RPROTO_KEYS)
		return;
	struct dm_rproto_keyset ks;
	pthread_mutex_lock(&rm->lock);
	if (!rm->up || !rm->rx) {
		pthread_mutex_unlock(&rm->lock);
		return;
	}
	int rc = dm_rproto_keys_read(buf, len, rm->s.id, &rm->s.keys, &ks);
	if (rc < 0) {
		/* Forged, corrupted, or for a session we have replaced. */
		inc(&rm->key_errors);
		pthread_mutex_unlock(&rm->lock);
		return;
	}
	/* An older generation than we hold is a replay (or a late copy): our
	 * hellos already acknowledge past it, and its keys could only push
	 * current ones out of the receiver. The same generation is the engine
	 * repeating an update whose acknowledgement it missed: acknowledge. */
	if (ks.generation >= rm->s.generation) {
		bool fresh = ks.generation > rm->s.generation;
		for (size_t i = 0; i < ks.n; i++) {
			const struct dm_rproto_key *k = &ks.keys[i];
			rc = dm_receiver_set_key(rm->rx, k->channel, k->ssrc, k->suite, k->key);
			if (rc < 0 && fresh)
				fprintf(stderr, PROG ": key update: channel %d: %s\n", k->channel,
					dm_strerror(rc));
		}
		if (fresh)
			inc(&rm->key_updates);
		rm->s.generation = ks.generation;
		hello_soon_locked(rm);
	}
	pthread_mutex_unlock(&rm->lock);
	OPENSSL_cleanse(&ks, sizeof ks);
}

/* ------------------------------------------------------------ life cycle */

static bool is_loopback(const char *host)
{
	return strcmp(host, "127.0.0.1") == 0 || strcasecmp(host, "localhost") == 0;
}

/* Splits the URL: its host (for UDP) and the base the API paths go after. */
static int parse_url(struct dm_listen_remote *rm, const char *url, bool *https)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int ret = -1;
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		fprintf(stderr, PROG ": --remote %s is not a URL\n", url);
		goto out;
	}
	*https = strcasecmp(scheme, "https") == 0;
	if (!*https && strcasecmp(scheme, "http") != 0) {
		fprintf(stderr, PROG ": --remote %s: https:// (or http:// to localhost)\n", url);
		goto out;
	}
	if (host[0] == '[') {
		fprintf(stderr, PROG ": --remote %s: IPv4 hosts only\n", url);
		goto out;
	}
	if (strlen(url) >= sizeof rm->url || strlen(host) >= sizeof rm->host) {
		fprintf(stderr, PROG ": --remote: URL too long\n");
		goto out;
	}
	snprintf(rm->host, sizeof rm->host, "%s", host);
	snprintf(rm->url, sizeof rm->url, "%s", url);
	size_t n = strlen(rm->url);
	while (n > 0 && rm->url[n - 1] == '/')
		rm->url[--n] = '\0';
	ret = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ret;
}

static int open_socket(const char *bind_addr)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	if (bind_addr && inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
		fprintf(stderr, PROG ": --interface %s is not an IPv4 address\n", bind_addr);
		return -2;
	}
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (const struct sockaddr *)&sa, sizeof sa) < 0) {
		fprintf(stderr, PROG ": UDP socket on %s: %s\n", bind_addr ? bind_addr : "0.0.0.0",
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int dm_listen_remote_new(const struct dm_listen_remote_params *p, struct dm_listen_remote **out)
{
	*out = NULL;
	struct dm_listen_remote *rm = calloc(1, sizeof *rm);
	if (!rm) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	rm->fd = -1;
	pthread_mutex_init(&rm->lock, NULL);
	int ret = 2;
	bool https;
	if (parse_url(rm, p->url, &https) < 0)
		goto fail;
	if (https && !p->ca_file && !p->pin) {
		fprintf(stderr, PROG ": --remote https:// needs --ca-file FILE or --pin SHA256 "
				     "(the engine's certificate is checked against one of them)\n");
		goto fail;
	}
	if (!https) {
		if (!is_loopback(rm->host)) {
			fprintf(stderr, PROG
				": plain http:// only to 127.0.0.1 or localhost; use https://\n");
			goto fail;
		}
		fprintf(stderr, PROG ": warning: plain http://, no TLS (for tests only)\n");
	}
	if (p->ca_file && !(rm->ca_file = strdup(p->ca_file)))
		goto fail;
	if (p->pin) {
		memcpy(rm->pin, p->pin, sizeof rm->pin);
		rm->has_pin = true;
	}
	snprintf(rm->auth, sizeof rm->auth, "Authorization: Bearer %s", p->token);
	rm->fd = open_socket(p->bind);
	if (rm->fd < 0) {
		ret = rm->fd == -2 ? 2 : 1;
		rm->fd = -1;
		goto fail;
	}
	ret = 1;
	rm->curl = curl_easy_init();
	if (!rm->curl) {
		fprintf(stderr, PROG ": cannot start libcurl\n");
		goto fail;
	}
	char err[512];
	long st = open_session(rm, p->channel, &rm->s, err, sizeof err);
	if (st != 0) {
		if (st == 400 || st == 404)
			fprintf(stderr, PROG ": no remote session (%s)\n", err);
		else
			fprintf(stderr, PROG ": %s\n", err);
		goto fail;
	}
	if (resolve(rm, rm->s.udp_port, &rm->to) < 0) {
		/* the session is open on the engine: end it (it counts towards
		 * the delegate's limit until it times out) */
		end_session(rm, rm->s.hex);
		goto fail;
	}
	rm->up = true;
	rm->rx_channels = rm->s.n;
	*out = rm;
	return 0;
fail:
	dm_listen_remote_free(rm);
	return ret;
}

int dm_listen_remote_fd(const struct dm_listen_remote *rm)
{
	return rm->fd;
}

int dm_listen_remote_channel_count(const struct dm_listen_remote *rm)
{
	int n = 0;
	for (int i = 0; i < rm->s.n; i++)
		if (rm->s.ch[i].index + 1 > n)
			n = rm->s.ch[i].index + 1;
	return n;
}

int dm_listen_remote_channel(const struct dm_listen_remote *rm)
{
	return rm->s.channel;
}

double dm_listen_remote_min_ms(const struct dm_listen_remote *rm)
{
	const struct dm_profile *pr = dm_profile_find(rm->s.profile);
	return pr ? pr->listen_min_ms : rm->s.frame_ms * 2;
}

static const struct channel *find_channel(const struct session *s, const char *id_or_number)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->ch[i].id, id_or_number) == 0)
			return &s->ch[i];
	char *end;
	long n = strtol(id_or_number, &end, 10);
	if (*id_or_number && !*end && n >= 0)
		for (int i = 0; i < s->n; i++)
			if (s->ch[i].index == n)
				return &s->ch[i];
	return NULL;
}

static const struct channel *by_index(const struct session *s, int index)
{
	for (int i = 0; i < s->n; i++)
		if (s->ch[i].index == index)
			return &s->ch[i];
	return NULL;
}

int dm_listen_remote_start(struct dm_listen_remote *rm, struct dm_receiver *r)
{
	pthread_mutex_lock(&rm->lock);
	rm->rx = r;
	rm->rx_channels = dm_listen_remote_channel_count(rm);
	install_locked(rm);
	hello_locked(rm, now_ms());
	pthread_mutex_unlock(&rm->lock);
	rm->media_ms = now_ms();
	const struct channel *c = by_index(&rm->s, rm->s.channel);
	fprintf(stderr, PROG ": remote session on %s, channel %s (%s)\n", rm->host, c ? c->id : "?",
		c ? c->name : "?");
	return 0;
}

void dm_listen_remote_command(struct dm_listen_remote *rm, const char *line)
{
	pthread_mutex_lock(&rm->lock);
	const struct channel *c = rm->up ? find_channel(&rm->s, line) : NULL;
	struct channel want = c ? *c : (struct channel){0};
	int old = rm->s.channel;
	char sid[sizeof rm->s.hex];
	memcpy(sid, rm->s.hex, sizeof sid);
	pthread_mutex_unlock(&rm->lock);
	if (!c) {
		fprintf(stderr, PROG ": %s\n", rm->up ? "no such channel" : "no session (yet)");
		return;
	}
	OPENSSL_cleanse(want.key, sizeof want.key);
	if (want.index == old)
		return;
	/* The receiver first: the new channel's first packet is then played,
	 * not dropped while the answer is on its way. */
	if (dm_receiver_switch(rm->rx, want.index) < 0) {
		fprintf(stderr, PROG ": channel %s: not in this listener's list\n", want.id);
		return;
	}
	json_t *req = json_pack("{s:s}", "channel", want.id);
	char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	char path[128], err[512];
	snprintf(path, sizeof path, "/api/v1/remote/sessions/%s/channel", sid);
	json_t *reply = NULL;
	long st =
		body ? http(rm, "POST", path, body, HTTP_TIMEOUT_MS, &reply, err, sizeof err) : -1;
	free(body);
	if (st == 200) {
		pthread_mutex_lock(&rm->lock);
		if (strcmp(sid, rm->s.hex) == 0) {
			rm->s.channel = want.index;
			hello_soon_locked(rm);
		}
		pthread_mutex_unlock(&rm->lock);
		fprintf(stderr, PROG ": channel %s (%s)\n", want.id, want.name);
	} else {
		if (st > 0)
			refusal(st, reply, err, sizeof err);
		fprintf(stderr, PROG ": channel %s: %s\n", want.id, err);
		dm_receiver_switch(rm->rx, old);
		/* The engine forgot the session (restarted): replace it now. */
		if (st == 404)
			rm->forgotten = true;
	}
	json_decref(reply);
}

/* The engine forgot us (restart) or cannot be reached: a new session, on
 * the channel we were on. */
static void replace_session(struct dm_listen_remote *rm, uint64_t now)
{
	pthread_mutex_lock(&rm->lock);
	char old_sid[sizeof rm->s.hex], channel[64];
	memcpy(old_sid, rm->s.hex, sizeof old_sid);
	const struct channel *c = by_index(&rm->s, rm->s.channel);
	snprintf(channel, sizeof channel, "%s", c ? c->id : "");
	bool was_up = rm->up;
	pthread_mutex_unlock(&rm->lock);
	if (!rm->outage) {
		if (rm->forgotten)
			fprintf(stderr,
				PROG ": the engine forgot the session: opening a new one\n");
		else
			fprintf(stderr, PROG ": no media for %.1f s: opening a new session\n",
				(double)(now - rm->media_ms) / 1000.0);
		rm->outage = true;
		rm->forgotten = false;
		rm->last_err[0] = '\0';
		/* It may still exist (a network outage, not a restart): end it,
		 * or the engine would send us its stream twice until it times
		 * out. No hellos for it meanwhile, no key updates taken. */
		if (was_up && old_sid[0])
			end_session(rm, old_sid);
		pthread_mutex_lock(&rm->lock);
		rm->up = false;
		pthread_mutex_unlock(&rm->lock);
	}
	struct session *s = malloc(sizeof *s);
	if (!s)
		return;
	char err[512];
	long st = open_session(rm, channel[0] ? channel : NULL, s, err, sizeof err);
	if (st == 400 && channel[0]) /* our channel is gone: the engine's choice */
		st = open_session(rm, NULL, s, err, sizeof err);
	struct sockaddr_in to;
	if (st == 0 && resolve(rm, s->udp_port, &to) < 0)
		st = -1;
	if (st != 0) {
		OPENSSL_cleanse(s, sizeof *s);
		free(s);
		/* A revoked delegate keeps its listener running (silent, its
		 * statistics intact) and asks now and then, not every second. */
		int retry = st == 401 || st == 403 ? RETRY_REFUSED_MS : RETRY_MS;
		rm->next_try_ms = now_ms() + (uint64_t)retry;
		if (strcmp(rm->last_err, err) != 0) {
			fprintf(stderr, PROG ": %s; retrying every %d s\n", err, retry / 1000);
			snprintf(rm->last_err, sizeof rm->last_err, "%s", err);
		}
		return;
	}
	pthread_mutex_lock(&rm->lock);
	OPENSSL_cleanse(&rm->s, sizeof rm->s);
	rm->s = *s;
	rm->to = to;
	rm->counter = 0;
	rm->up = true;
	dm_receiver_clear_keys(rm->rx);
	install_locked(rm);
	if (rm->s.channel >= rm->rx_channels)
		fprintf(stderr, PROG ": channel %d is not in this listener's list\n",
			rm->s.channel);
	else
		dm_receiver_switch(rm->rx, rm->s.channel);
	hello_locked(rm, now_ms());
	c = by_index(&rm->s, rm->s.channel);
	fprintf(stderr, PROG ": new remote session, channel %s\n", c ? c->id : "?");
	pthread_mutex_unlock(&rm->lock);
	OPENSSL_cleanse(s, sizeof *s);
	free(s);
	inc(&rm->restarts);
	rm->outage = false;
	rm->media_ms = now_ms();
}

void dm_listen_remote_tick(struct dm_listen_remote *rm)
{
	uint64_t now = now_ms();
	struct dm_receiver_stats st;
	dm_receiver_get_stats(rm->rx, &st);
	if (st.received != rm->received) {
		rm->received = st.received;
		rm->media_ms = now;
	}
	uint64_t quiet = now - rm->media_ms;
	if ((rm->forgotten || quiet >= DM_REMOTE_MEDIA_TIMEOUT_MS) &&
	    (!rm->outage || now >= rm->next_try_ms)) {
		replace_session(rm, now);
		return;
	}
	pthread_mutex_lock(&rm->lock);
	uint64_t since = now - rm->last_hello_ms;
	if ((uint64_t)rm->s.hello_s * 1000u <= since || (rm->hello_due && since >= HELLO_GAP_MS) ||
	    (quiet >= EAGER_HELLO_MS && since >= EAGER_HELLO_MS))
		hello_locked(rm, now);
	pthread_mutex_unlock(&rm->lock);
}

void dm_listen_remote_stats(struct dm_listen_remote *rm, json_t *o)
{
	json_object_set_new(o, "mode", json_string("remote"));
	json_object_set_new(o, "session_restarts",
			    json_integer((json_int_t)atomic_load(&rm->restarts)));
	json_object_set_new(o, "key_updates",
			    json_integer((json_int_t)atomic_load(&rm->key_updates)));
	json_object_set_new(o, "key_update_errors",
			    json_integer((json_int_t)atomic_load(&rm->key_errors)));
	json_object_set_new(o, "hellos_sent", json_integer((json_int_t)atomic_load(&rm->hellos)));
	pthread_mutex_lock(&rm->lock);
	const struct channel *c = by_index(&rm->s, rm->s.channel);
	json_object_set_new(o, "channel", json_string(c ? c->id : ""));
	json_object_set_new(o, "generation", json_integer(rm->s.generation));
	pthread_mutex_unlock(&rm->lock);
}

void dm_listen_remote_free(struct dm_listen_remote *rm)
{
	if (!rm)
		return;
	if (rm->up && rm->curl)
		end_session(rm, rm->s.hex);
	if (rm->curl)
		curl_easy_cleanup(rm->curl);
	if (rm->fd >= 0)
		close(rm->fd);
	free(rm->ca_file);
	pthread_mutex_destroy(&rm->lock);
	OPENSSL_cleanse(rm, sizeof *rm);
	free(rm);
}
