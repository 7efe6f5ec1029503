/* libFuzzer harness: the whole receive path of every listener
 * (src/net/receiver.c): header checks, SRTP unprotect with ROC search and
 * replay check, RTCP sender reports, jitter buffer, Opus decode with loss
 * concealment and FEC. Datagrams go in through dm_receiver_feed, the same
 * path as a datagram read from the receiver's socket. The receivers are in
 * SDP mode (fixed SSRC and key of fuzz_common.h) and join a multicast group
 * on 127.0.0.1 at a port of their own (per process), where nothing is sent.
 *
 * Two ways in (fuzz_common.h describes the input):
 * - raw: the input is one datagram, as an attacker on the venue network
 *   would send it, to a receiver created once. Forged packets die at
 *   authentication; the seeds include genuine ones.
 * - session: the input describes a stream (sequence numbers, gaps, reorder,
 *   replays, sender reports, corruption) whose Opus payloads are the input's
 *   bytes; the harness protects each packet with a send context of the same
 *   key, so the jitter buffer and the Opus decoder see arbitrary data from a
 *   "sender" that holds the key. Each session gets a fresh receiver: its
 *   stream state (ROC, replay window, jitter buffer) would otherwise carry
 *   over and make runs depend on the ones before. With FUZZ_RX_PLAYOUT it is
 *   given a playout buffer that stays empty, so every gap is concealed (PLC,
 *   FEC) at once instead of after the reorder wait. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dragoman/error.h"
#include "dragoman/playout.h"
#include "dragoman/receiver.h"
#include "dragoman/rtp.h"
#include "dragoman/sdp.h"
#include "dragoman/srtp.h"
#include "fuzz_common.h"

#define MAX_FRAME 5760 /* 120 ms at 48 kHz: the most on_pcm may be handed */
#define FRAME 240      /* 5 ms: the SDP's a=ptime */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Created once: the descriptions (one per suite), the raw receiver, the
 * always-empty playout buffer. */
static struct dm_sdp sdps[3];
static struct dm_receiver *raw_rx;
static struct dm_playout *dry;
/* Debian's libsrtp2 does its crypto with NSS, which it initialises when the
 * first context is made and shuts down (dlclose) when the last one is freed:
 * about 3 ms each time. This context keeps NSS up between runs. */
static struct dm_srtp *keep_nss;

static void on_pcm(void *user, const float *pcm, size_t n)
{
	(void)user;
	FUZZ_CHECK(n > 0 && n <= MAX_FRAME);
	/* Read every sample: ASan checks the whole frame is there. */
	volatile float sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += pcm[i];
	(void)sum;
}

static void init(void)
{
	/* A port per process, so parallel fuzzing jobs and tests do not share. */
	uint16_t port = (uint16_t)(30000 + (getpid() % 10000) * 2);
	for (int i = 0; i < 3; i++) {
		struct dm_sdp *s = &sdps[i];
		memset(s, 0, sizeof *s);
		snprintf(s->session, sizeof s->session, "fuzz");
		snprintf(s->channel_id, sizeof s->channel_id, "fz");
		snprintf(s->origin_addr, sizeof s->origin_addr, "127.0.0.1");
		snprintf(s->addr, sizeof s->addr, "239.255.97.1");
		s->ttl = 1;
		s->port = port;
		s->pt = DM_RTP_PT_OPUS;
		s->ssrc = FUZZ_SSRC;
		s->frame_samples = FRAME;
		s->suite = (enum dm_srtp_suite)i;
		s->key_len = dm_srtp_key_len(s->suite);
		memcpy(s->key, fuzz_key, s->key_len);
	}
	FUZZ_CHECK(dm_srtp_new(DM_SRTP_AES_CM_128_HMAC_SHA1_80, DM_SRTP_RECV, 1, fuzz_key,
			       &keep_nss) == 0);
	FUZZ_CHECK(dm_playout_new(48000, 5.0, 200.0, &dry) == 0);
	struct dm_receiver_params p = {
		.sdp = &sdps[0],
		.interface = "127.0.0.1",
		.on_pcm = on_pcm,
	};
	FUZZ_CHECK(dm_receiver_new(&p, &raw_rx) == 0);
}

static void feed_copy(struct dm_receiver *rx, const uint8_t *pkt, size_t len, int rtcp)
{
	/* Exact size: ASan catches any access one byte past the datagram. */
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return;
	memcpy(buf, pkt, len);
	FUZZ_CHECK(dm_receiver_feed(rx, buf, len, rtcp) == 0);
	free(buf);
}

struct session {
	struct dm_receiver *rx;
	struct dm_srtp *tx;
	uint16_t seq;
	uint32_t ts;
	bool started;
	bool rtp_sent;		     /* an intact RTP packet went in: the receiver knows the ROC */
	uint8_t last[DM_MAX_PACKET]; /* the previous protected packet, for replays */
	size_t last_len;
	int last_rtcp;
};

/* Protects pkt (len bytes of cap) and feeds it; keeps it for a replay. */
static void send_protected(struct session *ss, uint8_t *pkt, size_t len, size_t cap, int rtcp,
			   uint8_t flags, uint8_t arg)
{
	int rc = rtcp ? dm_srtp_protect_rtcp(ss->tx, pkt, &len, cap)
		      : dm_srtp_protect(ss->tx, pkt, &len, cap);
	/* A sequence number whose index was used recently is refused: the
	 * sender must not reuse keystream. Feed what the input asked for
	 * anyway, unprotected: it must die at authentication. */
	FUZZ_CHECK(rc == 0 || rc == DM_EINVAL);
	if (rc == 0) {
		memcpy(ss->last, pkt, len);
		ss->last_len = len;
		ss->last_rtcp = rtcp;
	}
	/* Not before the receiver has the ROC: a first packet that fails makes
	 * it try every ROC up to DM_LISTEN_ROC_SEARCH (about 30 ms here, a
	 * hundred sessions' worth); the raw mode covers forged first packets. */
	if ((flags & FUZZ_PKT_CORRUPT) && len > 0 && (rtcp || ss->rtp_sent))
		pkt[arg % len] ^= (uint8_t)(1u << (arg & 7));
	else if (!rtcp && rc == 0)
		ss->rtp_sent = true;
	feed_copy(ss->rx, pkt, len, rtcp);
}

static void session_packet(struct session *ss, const uint8_t *chunk, size_t n)
{
	struct fuzz_reader rd = {chunk, n};
	uint8_t flags = fuzz_u8(&rd);
	uint8_t arg = fuzz_u8(&rd);
	uint8_t pkt[DM_MAX_PACKET];
	size_t room = sizeof pkt - DM_SRTCP_MAX_TRAILER;

	switch (flags & FUZZ_PKT_KIND_MASK) {
	case FUZZ_PKT_REPLAY:
		if (ss->last_len)
			feed_copy(ss->rx, ss->last, ss->last_len, ss->last_rtcp);
		return;
	case FUZZ_PKT_RTCP: {
		size_t len;
		if (flags & FUZZ_PKT_RAW) {
			/* Any compound, as long as libsrtp will protect it: a
			 * version 2 header with the stream's SSRC. */
			len = rd.n < room ? rd.n : room;
			if (len < 8)
				return;
			memcpy(pkt, rd.p, len);
			pkt[0] = (uint8_t)(0x80 | (pkt[0] & 0x3f));
			pkt[4] = (uint8_t)(FUZZ_SSRC >> 24);
			pkt[5] = (uint8_t)(FUZZ_SSRC >> 16);
			pkt[6] = (uint8_t)(FUZZ_SSRC >> 8);
			pkt[7] = (uint8_t)FUZZ_SSRC;
		} else {
			struct dm_rtcp_sr sr = {
				.ssrc = FUZZ_SSRC,
				.ntp = dm_ntp_now(),
				.rtp_ts = ss->ts,
				.packet_count = fuzz_u32(&rd),
				.octet_count = fuzz_u32(&rd),
			};
			int w = dm_rtcp_write_sr(&sr, "fuzz@dragoman", pkt, room);
			FUZZ_CHECK(w > 0);
			len = (size_t)w;
		}
		send_protected(ss, pkt, len, sizeof pkt, 1, flags, arg);
		return;
	}
	case FUZZ_PKT_JUMP:
		if (ss->started) {
			int8_t d = (int8_t)arg;
			ss->seq = (uint16_t)(ss->seq + d);
			ss->ts += (uint32_t)(int32_t)d * FRAME;
		}
		break;
	default:
		if (ss->started) {
			ss->seq++;
			ss->ts += FRAME;
		}
		break;
	}
	ss->started = true;
	struct dm_rtp_header h = {
		.pt = DM_RTP_PT_OPUS,
		.marker = flags & FUZZ_PKT_MARKER,
		.seq = ss->seq,
		.ts = ss->ts,
		.ssrc = FUZZ_SSRC,
	};
	FUZZ_CHECK(dm_rtp_write(&h, pkt, sizeof pkt) == DM_RTP_HEADER_LEN);
	size_t hdr = DM_RTP_HEADER_LEN;
	if (flags & FUZZ_PKT_NTP) {
		FUZZ_CHECK(dm_rtp_write_ntp_ext(pkt, sizeof pkt, DM_RTP_EXT_NTP_ID, dm_ntp_now()) ==
			   DM_RTP_EXT_NTP_LEN);
		hdr += DM_RTP_EXT_NTP_LEN;
	}
	size_t payload = rd.n < room - hdr ? rd.n : room - hdr;
	memcpy(pkt + hdr, rd.p, payload);
	send_protected(ss, pkt, hdr + payload, sizeof pkt, 0, flags, arg);
}

static void session(struct fuzz_reader *rd)
{
	uint8_t setup = fuzz_u8(rd);
	int suite = ((setup & FUZZ_RX_SUITE_MASK) >> FUZZ_RX_SUITE_SHIFT) % 3;
	uint32_t roc = (setup & FUZZ_RX_ROC_MASK) >> FUZZ_RX_ROC_SHIFT;
	struct session ss = {0};
	ss.seq = fuzz_u16(rd);
	ss.ts = fuzz_u32(rd);

	struct dm_receiver_params p = {
		.sdp = &sdps[suite],
		.interface = "127.0.0.1",
		.on_pcm = on_pcm,
		.playout = (setup & FUZZ_RX_PLAYOUT) ? dry : NULL,
	};
	FUZZ_CHECK(dm_receiver_new(&p, &ss.rx) == 0);
	FUZZ_CHECK(dm_srtp_new((enum dm_srtp_suite)suite, DM_SRTP_SEND, FUZZ_SSRC, fuzz_key,
			       &ss.tx) == 0);
	FUZZ_CHECK(dm_srtp_set_roc(ss.tx, roc) == 0);

	const uint8_t *chunk;
	size_t len;
	while (fuzz_chunk(rd, &chunk, &len))
		session_packet(&ss, chunk, len);

	/* Whatever came in, the receiver still follows only the SDP's stream. */
	struct dm_receiver_stats st;
	dm_receiver_get_stats(ss.rx, &st);
	FUZZ_CHECK(st.ssrc == 0 || st.ssrc == FUZZ_SSRC);
	FUZZ_CHECK(st.channel == -1);
	/* To see how far a seed gets: DM_FUZZ_VERBOSE=1 fuzz_receiver <seed>. */
	if (getenv("DM_FUZZ_VERBOSE"))
		fprintf(stderr,
			"session: received %llu decoded %llu concealed %llu lost %llu late %llu "
			"reordered %llu dup %llu auth_failed %llu replayed %llu malformed %llu "
			"roc %u\n",
			(unsigned long long)st.received, (unsigned long long)st.decoded_frames,
			(unsigned long long)st.concealed_frames, (unsigned long long)st.lost,
			(unsigned long long)st.late, (unsigned long long)st.reordered,
			(unsigned long long)st.duplicates, (unsigned long long)st.auth_failed,
			(unsigned long long)st.replayed, (unsigned long long)st.malformed, st.roc);
	dm_srtp_free(ss.tx);
	dm_receiver_free(ss.rx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!raw_rx)
		init();
	struct fuzz_reader rd = {data, size};
	uint8_t mode = fuzz_u8(&rd);
	switch (mode & 3) {
	case 0: feed_copy(raw_rx, rd.p, rd.n, 0); break;
	case 1: feed_copy(raw_rx, rd.p, rd.n, 1); break;
	default: session(&rd); break;
	}
	return 0;
}
