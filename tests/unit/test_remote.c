/* Module tests of the engine's remote sessions (src/net/remote.c) with real
 * components: a configuration loaded from disk, the module's own UDP socket
 * on loopback, hellos and key updates built and read with dragoman/rproto.h,
 * the remote streams' packets decrypted with real libsrtp. Hellos go out
 * from plain sockets of the test, as a delegate's laptop would send them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dragoman/config.h"
#include "dragoman/error.h"
#include "dragoman/fanout.h"
#include "dragoman/keys.h"
#include "dragoman/rproto.h"
#include "dragoman/rtp.h"
#include "dragoman/srtp.h"
#include "remote.h"

struct fx {
	char dir[64];
	char conf[128];
	struct dm_config *cfg;
	struct dm_remote *r;
	uint16_t port;
	float pcm[240];
};

/* A session as the API's client sees it. */
struct sess {
	uint8_t id[DM_RPROTO_SESSION_ID_LEN];
	char hex[40];
	struct dm_rproto_keys keys;
	uint32_t ssrc[8];
	uint8_t key[8][DM_SRTP_MAX_KEY_LEN];
	uint64_t counter;
	int fd;
};

static uint16_t free_udp_port(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t l = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &l);
	close(fd);
	return ntohs(a.sin_port);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/dm-test-remote-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->conf, sizeof f->conf, "%s/test.conf", f->dir);
	f->port = free_udp_port();
	FILE *fp = fopen(f->conf, "w");
	assert_non_null(fp);
	fprintf(fp,
		"conference = { id = \"rt\"; name = \"Remote test\"; secret_file = \"s.secret\"; "
		"profile = \"lan\"; };\n"
		"network = { interface = \"127.0.0.1\"; ttl = 1; };\n"
		"floor = { group = \"239.255.93.0\"; port = 7300; };\n"
		"channels = ( { id = \"en\"; group = \"239.255.93.1\"; port = 7300; },\n"
		"  { id = \"fr\"; group = \"239.255.93.2\"; port = 7300; } );\n"
		"booths = ( { id = \"fr\"; consoles = ( { id = \"fr-1\"; a = \"fr\"; } ); } );\n"
		"control = { listen = \"127.0.0.1:8471\"; tokens_file = \"t.tokens\"; };\n"
		"remote = { listen = \"127.0.0.1:%u\"; state_file = \"state.json\"; };\n",
		f->port);
	fclose(fp);
	assert_int_equal(dm_config_load(f->conf, false, NULL, NULL, &f->cfg), 0);
	uint8_t secret[DM_SECRET_LEN];
	memset(secret, 7, sizeof secret);
	assert_int_equal(dm_remote_new(f->cfg, secret, &f->r), 0);
	assert_int_equal(dm_remote_port(f->r), f->port);
	assert_int_equal(dm_remote_start(f->r), 0);
	for (int i = 0; i < 240; i++)
		f->pcm[i] = 0.25f * sinf(2.0f * 3.14159265f * 500.0f * (float)i / 48000.0f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	dm_remote_free(f->r);
	dm_config_free(f->cfg);
	unlink(f->conf);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int client_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

static void open_session_until(struct fx *f, const char *delegate, long long expires,
			       const char *channel, struct sess *s)
{
	memset(s, 0, sizeof *s);
	int status = 0;
	char *text = dm_remote_session_new(f->r, delegate, delegate, expires, channel, &status);
	assert_non_null(text);
	assert_int_equal(status, 201);
	json_t *o = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(o);
	const char *hex = json_string_value(json_object_get(o, "session"));
	assert_non_null(hex);
	assert_int_equal(strlen(hex), 32);
	snprintf(s->hex, sizeof s->hex, "%s", hex);
	for (int i = 0; i < 16; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		s->id[i] = (uint8_t)v;
	}
	uint8_t skey[64];
	assert_int_equal(
		dm_base64_decode(json_string_value(json_object_get(o, "key")), skey, sizeof skey),
		32);
	assert_int_equal(dm_rproto_derive(skey, &s->keys), 0);
	assert_int_equal(json_integer_value(json_object_get(o, "udp_port")), f->port);
	assert_int_equal(json_integer_value(json_object_get(o, "frame_ms")), 20);
	json_t *chans = json_object_get(o, "channels");
	assert_int_equal(json_array_size(chans), 3);
	for (size_t c = 0; c < 3; c++) {
		json_t *ch = json_array_get(chans, c);
		s->ssrc[c] = (uint32_t)json_integer_value(json_object_get(ch, "ssrc"));
		assert_int_equal(dm_base64_decode(json_string_value(json_object_get(ch, "key")),
						  s->key[c], sizeof s->key[c]),
				 30);
	}
	json_decref(o);
	s->fd = client_socket();
}

static void open_session(struct fx *f, const char *delegate, const char *channel, struct sess *s)
{
	open_session_until(f, delegate, 0, channel, s);
}

static void hello_from(struct fx *f, struct sess *s, int fd, uint64_t counter, uint32_t generation)
{
	struct dm_rproto_hello h = {.counter = counter, .generation = generation};
	memcpy(h.session, s->id, sizeof h.session);
	uint8_t buf[DM_RPROTO_HELLO_LEN];
	assert_int_equal(dm_rproto_hello_write(&h, &s->keys, buf, sizeof buf), sizeof buf);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons(f->port)};
	assert_int_equal(sendto(fd, buf, sizeof buf, 0, (struct sockaddr *)&a, sizeof a),
			 sizeof buf);
}

/* Answers the engine's challenge to fd's address if one came: the first
 * datagram an unbound address gets (peeked, so that anything else stays). */
static bool answer_challenge(struct fx *f, struct sess *s, int fd)
{
	uint8_t buf[128];
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, 200) <= 0)
		return false;
	ssize_t len = recv(fd, buf, sizeof buf, MSG_PEEK);
	if (len <= 0 || dm_rproto_kind(buf, (size_t)len) != DM_RPROTO_CHALLENGE)
		return false;
	(void)!recv(fd, buf, sizeof buf, 0);
	uint8_t id[DM_RPROTO_SESSION_ID_LEN], cookie[DM_RPROTO_COOKIE_LEN];
	uint8_t out[DM_RPROTO_RESPONSE_LEN];
	assert_int_equal(dm_rproto_challenge_read(buf, (size_t)len, id, cookie), 0);
	assert_memory_equal(id, s->id, sizeof id);
	assert_int_equal(dm_rproto_response_write(id, cookie, &s->keys, out, sizeof out),
			 sizeof out);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons(f->port)};
	assert_int_equal(sendto(fd, out, sizeof out, 0, (struct sockaddr *)&a, sizeof a),
			 sizeof out);
	return true;
}

/* A hello from the session's own socket, and the challenge answered when
 * the address is new to the engine. */
static void hello(struct fx *f, struct sess *s)
{
	hello_from(f, s, s->fd, ++s->counter, 1);
	answer_challenge(f, s, s->fd);
}

/* Waits (up to 2 s) until the engine's stats satisfy ok(st); the last stats
 * in *st. */
static void stats_until(struct fx *f, struct dm_remote_stats *st,
			bool (*ok)(const struct dm_remote_stats *st, uint64_t arg), uint64_t arg)
{
	for (int i = 0; i < 200; i++) {
		dm_remote_get_stats(f->r, st);
		if (ok(st, arg))
			return;
		sleep_ms(10);
	}
}

static bool unknown_at_least(const struct dm_remote_stats *st, uint64_t n)
{
	return st->unknown_session >= n;
}

static bool hellos_at_least(const struct dm_remote_stats *st, uint64_t n)
{
	return st->hellos >= n;
}

static bool rotations_at_least(const struct dm_remote_stats *st, uint64_t n)
{
	return st->rotations >= n;
}

/* A session that said hello from its own socket and was bound there. */
static void open_bound(struct fx *f, const char *delegate, const char *channel, struct sess *s)
{
	open_session(f, delegate, channel, s);
	hello(f, s);
	sleep_ms(50);
}

/* Feeds the remote streams d ms of the tone (5 ms periods, as JACK would). */
static void feed(struct fx *f, int ms)
{
	for (int t = 0; t < ms; t += 5) {
		for (size_t c = 0; c < 3; c++)
			dm_remote_feed(f->r, c, f->pcm, 240, 0);
		sleep_ms(5);
	}
}

/* Datagrams waiting on fd: counts them by kind; the SSRC of the last RTP one. */
static int drain(int fd, int *rtp, int *keys, uint32_t *ssrc, uint8_t *last_keys, size_t *kl)
{
	int n = 0;
	uint8_t buf[2048];
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 20) <= 0)
			break;
		ssize_t len = recv(fd, buf, sizeof buf, 0);
		if (len <= 0)
			break;
		n++;
		enum dm_rproto_kind k = dm_rproto_kind(buf, (size_t)len);
		if (k == DM_RPROTO_RTP) {
			if (rtp)
				(*rtp)++;
			if (ssrc)
				*ssrc = (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 |
					(uint32_t)buf[10] << 8 | buf[11];
		} else if (k == DM_RPROTO_KEYS) {
			if (keys)
				(*keys)++;
			if (last_keys) {
				memcpy(last_keys, buf, (size_t)len);
				*kl = (size_t)len;
			}
		}
	}
	return n;
}

static void remote_session_json(void **state)
{
	struct fx *f = *state;
	struct sess s;
	open_session(f, "d1", "fr", &s);
	int status = 0;
	assert_null(dm_remote_session_new(f->r, "d1", "x", 0, "nope", &status));
	assert_int_equal(status, 400);
	struct dm_remote_stats st;
	dm_remote_get_stats(f->r, &st);
	assert_int_equal(st.sessions, 1);
	assert_int_equal(st.bound, 0);
	close(s.fd);
}

static void remote_hello_binds_and_streams(void **state)
{
	struct fx *f = *state;
	struct sess s;
	open_session(f, "d1", "fr", &s);
	feed(f, 100);
	assert_int_equal(drain(s.fd, NULL, NULL, NULL, NULL, NULL), 0); /* not bound: nothing */
	hello(f, &s);
	sleep_ms(100);
	struct dm_remote_stats st;
	dm_remote_get_stats(f->r, &st);
	assert_int_equal(st.hellos, 1);
	assert_int_equal(st.bound, 1);
	assert_int_equal(dm_remote_listeners(f->r, 2), 1);
	feed(f, 200);
	int rtp = 0;
	uint32_t ssrc = 0;
	drain(s.fd, &rtp, NULL, &ssrc, NULL, NULL);
	assert_in_range(rtp, 7, 11); /* 200 ms of 20 ms frames */
	assert_int_equal(ssrc, s.ssrc[2]);
	json_t *list = dm_remote_sessions_json(f->r);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "channel")),
			    "fr");
	json_decref(list);
	close(s.fd);
}

static void remote_bad_hellos_dropped(void **state)
{
	struct fx *f = *state;
	struct sess s, other;
	open_session(f, "d1", "fr", &s);
	open_session(f, "d2", "en", &other);
	hello(f, &s);
	sleep_ms(50);
	/* replayed from another address */
	int evil = client_socket();
	hello_from(f, &s, evil, s.counter, 1);
	/* another session's id under our key */
	struct sess forged = s;
	memcpy(forged.id, other.id, sizeof forged.id);
	hello_from(f, &forged, evil, 99, 1);
	/* an unknown session */
	struct sess unknown = s;
	unknown.id[0] ^= 0xff;
	hello_from(f, &unknown, evil, 100, 1);
	sleep_ms(100);
	feed(f, 100);
	assert_int_equal(drain(evil, NULL, NULL, NULL, NULL, NULL), 0);
	struct dm_remote_stats st;
	dm_remote_get_stats(f->r, &st);
	assert_int_equal(st.replayed, 1);
	assert_int_equal(st.bad_auth, 1);
	assert_int_equal(st.unknown_session, 1);
	assert_int_equal(st.bound, 1);
	/* a flood from one address for a real session (forged tags): at most
	 * DM_REMOTE_HELLOS_PER_S reach the tag check */
	struct sess flood = s;
	flood.keys.hello[0] ^= 0x01;
	for (int i = 0; i < 50; i++)
		hello_from(f, &flood, evil, 200 + (uint64_t)i, 1);
	sleep_ms(100);
	dm_remote_get_stats(f->r, &st);
	assert_true(st.rate_limited >= 50 - DM_REMOTE_HELLOS_PER_S);
	assert_true(st.bad_auth <= 1 + DM_REMOTE_HELLOS_PER_S);
	assert_int_equal(drain(evil, NULL, NULL, NULL, NULL, NULL), 0);
	close(evil);
	close(s.fd);
	close(other.fd);
}

static void remote_channel_switch(void **state)
{
	struct fx *f = *state;
	struct sess s;
	open_bound(f, "d1", "fr", &s);
	assert_int_equal(dm_remote_session_channel(f->r, s.hex, "d2", "en"), DM_ENOENT);
	assert_int_equal(dm_remote_session_channel(f->r, s.hex, "d1", "xx"), DM_EINVAL);
	assert_int_equal(dm_remote_session_channel(f->r, s.hex, "d1", "en"), 0);
	assert_int_equal(dm_remote_listeners(f->r, 2), 0);
	assert_int_equal(dm_remote_listeners(f->r, 1), 1);
	feed(f, 100);
	drain(s.fd, NULL, NULL, NULL, NULL, NULL);
	uint32_t ssrc = 0;
	int rtp = 0;
	feed(f, 100);
	drain(s.fd, &rtp, NULL, &ssrc, NULL, NULL);
	assert_true(rtp > 0);
	assert_int_equal(ssrc, s.ssrc[1]);
	assert_int_equal(dm_remote_session_end(f->r, s.hex, "d1"), 0);
	assert_int_equal(dm_remote_session_end(f->r, s.hex, "d1"), DM_ENOENT);
	assert_int_equal(dm_remote_listeners(f->r, 1), 0);
	close(s.fd);
}

static void remote_revoke_rotates(void **state)
{
	struct fx *f = *state;
	struct sess keep, gone;
	open_session(f, "keep", "fr", &keep);
	open_session(f, "gone", "fr", &gone);
	hello(f, &keep);
	hello(f, &gone);
	sleep_ms(50);
	assert_int_equal(dm_remote_listeners(f->r, 2), 2);
	dm_remote_revoked(f->r, "gone");
	assert_int_equal(dm_remote_listeners(f->r, 2), 1);
	sleep_ms(50);
	uint8_t kbuf[DM_RPROTO_KEYS_MAX_LEN];
	size_t kl = 0;
	int keys = 0;
	drain(keep.fd, NULL, &keys, NULL, kbuf, &kl);
	assert_true(keys >= 1);
	assert_int_equal(drain(gone.fd, NULL, NULL, NULL, NULL, NULL), 0);
	struct dm_rproto_keyset ks;
	assert_int_equal(dm_rproto_keys_read(kbuf, kl, keep.id, &keep.keys, &ks), 0);
	assert_int_equal(ks.generation, 2);
	assert_int_equal(ks.n, 3);
	assert_int_not_equal(ks.keys[2].ssrc, keep.ssrc[2]);
	/* not yet used: the old SSRC still plays */
	feed(f, 60);
	uint32_t ssrc = 0;
	drain(keep.fd, NULL, NULL, &ssrc, NULL, NULL);
	assert_int_equal(ssrc, keep.ssrc[2]);
	/* the acknowledgement completes the rotation */
	hello_from(f, &keep, keep.fd, ++keep.counter, 2);
	sleep_ms(80);
	struct dm_remote_stats st;
	dm_remote_get_stats(f->r, &st);
	assert_int_equal(st.rotations, 1);
	assert_int_equal(st.generation, 2);
	feed(f, 100);
	drain(keep.fd, NULL, NULL, &ssrc, NULL, NULL);
	assert_int_equal(ssrc, ks.keys[2].ssrc);
	/* and the new packets decrypt under the key the update carried */
	struct dm_srtp *rx;
	assert_int_equal(
		dm_srtp_new(ks.keys[2].suite, DM_SRTP_RECV, ks.keys[2].ssrc, ks.keys[2].key, &rx),
		0);
	feed(f, 40);
	uint8_t buf[2048];
	struct pollfd p = {.fd = keep.fd, .events = POLLIN};
	int ok = 0;
	while (poll(&p, 1, 50) > 0) {
		ssize_t len = recv(keep.fd, buf, sizeof buf, 0);
		size_t l = (size_t)len;
		if (dm_rproto_kind(buf, l) == DM_RPROTO_RTP && dm_srtp_unprotect(rx, buf, &l) == 0)
			ok++;
	}
	assert_true(ok >= 1);
	dm_srtp_free(rx);
	close(keep.fd);
	close(gone.fd);
}

static void remote_rotation_without_ack(void **state)
{
	struct fx *f = *state;
	struct sess s;
	open_bound(f, "silent", "en", &s);
	dm_remote_revoked(f->r, "nobody");
	sleep_ms(DM_REMOTE_ROTATE_WAIT_MS + 100);
	struct dm_remote_stats st;
	dm_remote_get_stats(f->r, &st);
	assert_int_equal(st.rotations, 1);
	int keys = 0;
	drain(s.fd, NULL, &keys, NULL, NULL, NULL);
	/* repeated until acknowledged, about every DM_REMOTE_KEYS_RESEND_MS */
	assert_true(keys >= 3);
	close(s.fd);
}

/* A second revocation while the first rotation waits for its
 * acknowledgements: the keys handed out for it (the delegate revoked second
 * may hold them) are used at once and replaced by fresh ones. */
static void remote_double_revocation(void **state)
{
	struct fx *f = *state;
	struct sess keep, b;
	open_session(f, "keep", "fr", &keep);
	open_session(f, "b", "fr", &b);
	hello(f, &keep);
	hello(f, &b);
	sleep_ms(50);
	dm_remote_revoked(f->r, "a");
	sleep_ms(30);
	uint8_t kbuf[DM_RPROTO_KEYS_MAX_LEN];
	size_t kl = 0;
	int keys = 0;
	drain(b.fd, NULL, &keys, NULL, kbuf, &kl);
	assert_true(keys >= 1);
	struct dm_rproto_keyset held; /* what b got before its revocation */
	assert_int_equal(dm_rproto_keys_read(kbuf, kl, b.id, &b.keys, &held), 0);
	assert_int_equal(held.generation, 2);
	dm_remote_revoked(f->r, "b");
	sleep_ms(30);
	keys = 0;
	drain(keep.fd, NULL, &keys, NULL, kbuf, &kl);
	struct dm_rproto_keyset ks;
	assert_int_equal(dm_rproto_keys_read(kbuf, kl, keep.id, &keep.keys, &ks), 0);
	assert_int_equal(ks.generation, 3);
	assert_int_not_equal(ks.keys[2].ssrc, held.keys[2].ssrc);
	assert_memory_not_equal(ks.keys[2].key, held.keys[2].key, ks.keys[2].key_len);
	hello_from(f, &keep, keep.fd, ++keep.counter, 3);
	sleep_ms(80);
	struct dm_remote_stats st;
	dm_remote_get_stats(f->r, &st);
	assert_int_equal(st.generation, 3);
	struct dm_fanout_stats fs;
	dm_fanout_get_stats(dm_remote_fanout(f->r, 2), &fs);
	assert_int_equal(fs.ssrc, ks.keys[2].ssrc);
	/* and b cannot come back, even with a request checked before */
	int status = 0;
	assert_null(dm_remote_session_new(f->r, "b", "b", 0, "fr", &status));
	assert_int_equal(status, 401);
	close(keep.fd);
	close(b.fd);
}

/* Sessions: at most DM_REMOTE_SESSIONS_PER_DELEGATE each; an expired token
 * gets none; one address serves one session (the newest bound). */
static void remote_session_limits(void **state)
{
	struct fx *f = *state;
	struct sess s[DM_REMOTE_SESSIONS_PER_DELEGATE];
	for (int i = 0; i < DM_REMOTE_SESSIONS_PER_DELEGATE; i++)
		open_session(f, "d1", "fr", &s[i]);
	int status = 0;
	assert_null(dm_remote_session_new(f->r, "d1", "d1", 0, "fr", &status));
	assert_int_equal(status, 429);
	assert_null(dm_remote_session_new(f->r, "old", "old", (long long)time(NULL) - 1, "fr",
					  &status));
	assert_int_equal(status, 401);
	/* s[1] says hello from s[0]'s socket: it takes the address over */
	hello(f, &s[0]);
	sleep_ms(50);
	hello_from(f, &s[1], s[0].fd, ++s[1].counter, 1);
	assert_true(answer_challenge(f, &s[1], s[0].fd));
	sleep_ms(50);
	struct dm_remote_stats st;
	dm_remote_get_stats(f->r, &st);
	assert_int_equal(st.bound, 1);
	assert_int_equal(dm_remote_listeners(f->r, 2), 1);
	/* s[0] ending does not take the address from s[1] */
	assert_int_equal(dm_remote_session_end(f->r, s[0].hex, "d1"), 0);
	assert_int_equal(dm_remote_listeners(f->r, 2), 1);
	for (int i = 0; i < DM_REMOTE_SESSIONS_PER_DELEGATE; i++)
		close(s[i].fd);
}

/* A token that expires ends its sessions and, as a revocation does, rotates
 * the keys its delegate held; the delegates left get the new ones. */
static void remote_expiry_rotates(void **state)
{
	struct fx *f = *state;
	struct sess keep, brief;
	open_session(f, "keep", "fr", &keep);
	/* 1 to 2 s from now (whole seconds): time to bind first */
	long long expires = (long long)time(NULL) + 2;
	open_session_until(f, "brief", expires, "fr", &brief);
	hello(f, &keep);
	hello(f, &brief);
	sleep_ms(50);
	assert_int_equal(dm_remote_listeners(f->r, 2), 2);
	drain(keep.fd, NULL, NULL, NULL, NULL, NULL);
	/* past the expiry, and the session dropped (a tick: 20 ms) */
	while ((long long)time(NULL) < expires)
		sleep_ms(50);
	for (int i = 0; i < 100 && dm_remote_listeners(f->r, 2) != 1; i++)
		sleep_ms(10);
	sleep_ms(100); /* the key update on its way */
	assert_int_equal(dm_remote_listeners(f->r, 2), 1);
	uint8_t kbuf[DM_RPROTO_KEYS_MAX_LEN];
	size_t kl = 0;
	int keys = 0;
	drain(keep.fd, NULL, &keys, NULL, kbuf, &kl);
	assert_true(keys >= 1);
	struct dm_rproto_keyset ks;
	assert_int_equal(dm_rproto_keys_read(kbuf, kl, keep.id, &keep.keys, &ks), 0);
	assert_int_equal(ks.generation, 2);
	int brief_keys = 0;
	drain(brief.fd, NULL, &brief_keys, NULL, NULL, NULL);
	assert_int_equal(brief_keys, 0);
	hello_from(f, &keep, keep.fd, ++keep.counter, 2);
	struct dm_remote_stats st;
	stats_until(f, &st, rotations_at_least, 1);
	assert_int_equal(st.rotations, 1);
	assert_int_equal(st.generation, 2);
	/* one rotation per expiry, not one per tick */
	sleep_ms(200);
	dm_remote_get_stats(f->r, &st);
	assert_int_equal(st.rotations, 1);
	close(keep.fd);
	close(brief.fd);
}

/* Junk hellos in a listener's name (its address, a session id that does not
 * exist) do not use up its rate: its own hellos still pass. */
static void remote_junk_does_not_limit(void **state)
{
	struct fx *f = *state;
	struct sess s;
	open_bound(f, "d1", "fr", &s);
	struct sess junk = s;
	junk.id[0] ^= 0xff;
	for (int i = 0; i < 50; i++)
		hello_from(f, &junk, s.fd, 100 + (uint64_t)i, 1);
	struct dm_remote_stats st;
	stats_until(f, &st, unknown_at_least, 50);
	uint64_t hellos = st.hellos;
	assert_int_equal(st.unknown_session, 50);
	assert_int_equal(st.rate_limited, 0);
	hello_from(f, &s, s.fd, ++s.counter, 1);
	stats_until(f, &st, hellos_at_least, hellos + 1);
	assert_int_equal(st.hellos, hellos + 1);
	assert_int_equal(st.rate_limited, 0);
	close(s.fd);
}

/* Whether the session whose id starts with hex is bound, in the API's list. */
static bool listed_bound(struct fx *f, const char *hex)
{
	json_t *arr = dm_remote_sessions_json(f->r);
	assert_non_null(arr);
	bool bound = false;
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o)
	{
		if (strncmp(json_string_value(json_object_get(o, "session")), hex, 8) == 0)
			bound = json_is_string(json_object_get(o, "address"));
	}
	json_decref(arr);
	return bound;
}

/* A response sent again, after its session left the address for another
 * session there, does not pull it back: a bind needs a newer hello. */
static void remote_response_replay(void **state)
{
	struct fx *f = *state;
	struct sess s1, s2;
	open_session(f, "d1", "fr", &s1);
	open_session(f, "d1", "en", &s2);
	hello_from(f, &s1, s1.fd, ++s1.counter, 1);
	uint8_t buf[128], resp[DM_RPROTO_RESPONSE_LEN];
	struct pollfd p = {.fd = s1.fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 500), 1);
	ssize_t len = recv(s1.fd, buf, sizeof buf, 0);
	assert_int_equal(len, DM_RPROTO_CHALLENGE_LEN);
	uint8_t id[DM_RPROTO_SESSION_ID_LEN], cookie[DM_RPROTO_COOKIE_LEN];
	assert_int_equal(dm_rproto_challenge_read(buf, (size_t)len, id, cookie), 0);
	assert_int_equal(dm_rproto_response_write(id, cookie, &s1.keys, resp, sizeof resp),
			 sizeof resp);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons(f->port)};
	assert_int_equal(sendto(s1.fd, resp, sizeof resp, 0, (struct sockaddr *)&a, sizeof a),
			 sizeof resp);
	sleep_ms(50);
	assert_true(listed_bound(f, s1.hex));
	/* s2 takes the address over */
	hello_from(f, &s2, s1.fd, ++s2.counter, 1);
	assert_true(answer_challenge(f, &s2, s1.fd));
	sleep_ms(50);
	assert_true(listed_bound(f, s2.hex));
	assert_false(listed_bound(f, s1.hex));
	struct dm_remote_stats st;
	dm_remote_get_stats(f->r, &st);
	uint64_t replayed = st.replayed;
	/* s1's old response, again */
	assert_int_equal(sendto(s1.fd, resp, sizeof resp, 0, (struct sockaddr *)&a, sizeof a),
			 sizeof resp);
	sleep_ms(50);
	assert_true(listed_bound(f, s2.hex));
	assert_false(listed_bound(f, s1.hex));
	dm_remote_get_stats(f->r, &st);
	assert_int_equal(st.replayed, replayed + 1);
	/* s2 moves on (a hello from a new address, its challenge unanswered
	 * yet); s1 says hello from elsewhere too: its counter has moved, but
	 * its old response from A still does not bind it there */
	int b_fd = client_socket();
	hello_from(f, &s1, b_fd, ++s1.counter, 1);
	sleep_ms(50);
	assert_int_equal(sendto(s1.fd, resp, sizeof resp, 0, (struct sockaddr *)&a, sizeof a),
			 sizeof resp);
	sleep_ms(50);
	assert_false(listed_bound(f, s1.hex));
	assert_true(listed_bound(f, s2.hex));
	dm_remote_get_stats(f->r, &st);
	assert_int_equal(st.replayed, replayed + 2);
	close(b_fd);
	close(s1.fd);
	close(s2.fd);
}

/* Hellos that keep coming from another address, which never answers the
 * challenge, keep the session but not the stream to the old address: after
 * DM_REMOTE_TIMEOUT_S without a hello from there, nothing more goes there
 * (it may have passed to someone else behind the same NAT). */
static void remote_consent_from_bound_address(void **state)
{
	struct fx *f = *state;
	struct sess s;
	open_bound(f, "d1", "fr", &s);
	assert_int_equal(dm_remote_listeners(f->r, 2), 1);
	int elsewhere = client_socket();
	for (int t = 0; t <= DM_REMOTE_TIMEOUT_S + 1; t++) {
		hello_from(f, &s, elsewhere, ++s.counter, 1);
		feed(f, 100);
		sleep_ms(900);
	}
	feed(f, 100);
	assert_int_equal(dm_remote_listeners(f->r, 2), 0);
	struct dm_remote_stats st;
	dm_remote_get_stats(f->r, &st);
	assert_int_equal(st.sessions, 1);
	/* the last second: nothing reached the old address */
	drain(s.fd, NULL, NULL, NULL, NULL, NULL);
	feed(f, 200);
	int rtp = 0;
	drain(s.fd, &rtp, NULL, NULL, NULL, NULL);
	assert_int_equal(rtp, 0);
	close(elsewhere);
	close(s.fd);
}

/* A session made before a rotation and bound after it holds stale keys: its
 * first hello gets a key update with the keys in use. */
static void remote_missed_rotation(void **state)
{
	struct fx *f = *state;
	struct sess late;
	open_session(f, "late", "en", &late);
	dm_remote_revoked(f->r, "nobody");
	sleep_ms(DM_REMOTE_ROTATE_WAIT_MS + 100);
	struct dm_remote_stats st;
	dm_remote_get_stats(f->r, &st);
	assert_int_equal(st.generation, 2);
	hello(f, &late); /* it says it holds generation 1 */
	sleep_ms(50);
	uint8_t kbuf[DM_RPROTO_KEYS_MAX_LEN];
	size_t kl = 0;
	int keys = 0;
	drain(late.fd, NULL, &keys, NULL, kbuf, &kl);
	assert_int_equal(keys, 1);
	struct dm_rproto_keyset ks;
	assert_int_equal(dm_rproto_keys_read(kbuf, kl, late.id, &late.keys, &ks), 0);
	assert_int_equal(ks.generation, 2);
	struct dm_fanout_stats fs;
	dm_fanout_get_stats(dm_remote_fanout(f->r, 1), &fs);
	assert_int_equal(ks.keys[1].ssrc, fs.ssrc);
	close(late.fd);
}

/* A valid hello binds nothing until its address answers the challenge;
 * the cookie of one address is worth nothing from another. */
static void remote_challenge(void **state)
{
	struct fx *f = *state;
	struct sess s;
	open_session(f, "d1", "fr", &s);
	hello_from(f, &s, s.fd, ++s.counter, 1);
	sleep_ms(50);
	uint8_t buf[128];
	ssize_t len = recv(s.fd, buf, sizeof buf, MSG_DONTWAIT);
	assert_int_equal(len, DM_RPROTO_CHALLENGE_LEN); /* smaller than the hello */
	struct dm_remote_stats st;
	dm_remote_get_stats(f->r, &st);
	assert_int_equal(st.bound, 0);
	feed(f, 100);
	assert_int_equal(drain(s.fd, NULL, NULL, NULL, NULL, NULL), 0); /* no media */
	/* the right response, from another socket: refused */
	uint8_t id[DM_RPROTO_SESSION_ID_LEN], cookie[DM_RPROTO_COOKIE_LEN];
	uint8_t out[DM_RPROTO_RESPONSE_LEN];
	assert_int_equal(dm_rproto_challenge_read(buf, (size_t)len, id, cookie), 0);
	assert_int_equal(dm_rproto_response_write(id, cookie, &s.keys, out, sizeof out),
			 sizeof out);
	int other = client_socket();
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons(f->port)};
	assert_int_equal(sendto(other, out, sizeof out, 0, (struct sockaddr *)&a, sizeof a),
			 sizeof out);
	sleep_ms(50);
	dm_remote_get_stats(f->r, &st);
	assert_int_equal(st.bad_cookie, 1);
	assert_int_equal(st.bound, 0);
	/* from the challenged socket: bound, and the stream comes */
	assert_int_equal(sendto(s.fd, out, sizeof out, 0, (struct sockaddr *)&a, sizeof a),
			 sizeof out);
	sleep_ms(50);
	dm_remote_get_stats(f->r, &st);
	assert_int_equal(st.bound, 1);
	feed(f, 100);
	int rtp = 0;
	drain(s.fd, &rtp, NULL, NULL, NULL, NULL);
	assert_true(rtp > 0);
	close(other);
	close(s.fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(remote_session_json, setup, teardown),
		cmocka_unit_test_setup_teardown(remote_hello_binds_and_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(remote_bad_hellos_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(remote_channel_switch, setup, teardown),
		cmocka_unit_test_setup_teardown(remote_revoke_rotates, setup, teardown),
		cmocka_unit_test_setup_teardown(remote_rotation_without_ack, setup, teardown),
		cmocka_unit_test_setup_teardown(remote_double_revocation, setup, teardown),
		cmocka_unit_test_setup_teardown(remote_session_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(remote_expiry_rotates, setup, teardown),
		cmocka_unit_test_setup_teardown(remote_junk_does_not_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(remote_response_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(remote_consent_from_bound_address, setup, teardown),
		cmocka_unit_test_setup_teardown(remote_missed_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(remote_challenge, setup, teardown),
	};
	return cmocka_run_group_tests_name("remote", tests, NULL, NULL);
}
