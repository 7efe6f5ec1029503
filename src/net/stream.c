#include "dragoman/stream.h"

#include "dragoman/error.h"
#include "dragoman/keys.h"
#include "dragoman/log.h"
#include "dragoman/recorder.h"
#include "dragoman/rtp.h"
#include "sock.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <opus/opus.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct dm_stream {
	char conf_id[DM_ID_MAX];
	char conf_name[DM_NAME_MAX];
	char channel_id[DM_ID_MAX];
	char channel_name[DM_NAME_MAX];
	char language[DM_ID_MAX];
	char interface[64];
	char group[64];
	uint8_t secret[DM_SECRET_LEN];
	enum dm_srtp_suite suite;
	const struct dm_profile *profile;
	uint16_t port;
	int ttl;

	int fd; /* own socket, when there is no sendq */
	struct dm_sendq *sendq;
	struct dm_recorder *recorder; /* not owned */
	struct sockaddr_in rtp_dest, rtcp_dest;
	OpusEncoder *enc;
	struct dm_srtp *srtp;
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	size_t key_len;

	uint32_t ssrc;
	uint16_t seq;
	uint32_t ts;
	bool first;
	uint32_t ssrc_packets; /* packets under this SSRC: the SR's count */
	uint32_t ssrc_octets;
	uint64_t session_version;
	struct timespec last_rtcp;
	struct timespec last_ts_time; /* when ts was last advanced, for SR's rtp_ts */

	_Atomic uint64_t frames, packets, bytes, send_errors, rtcp_sent;
	_Atomic uint32_t cur_ssrc;
};

static double elapsed_s(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) * 1e-9;
}

/* A fresh SSRC, key, sequence number and timestamp: no two runs (or
 * rotations) ever share keystream, so old packets never decrypt as new ones. */
static int start_ssrc(struct dm_stream *s, uint32_t initial_roc)
{
	uint32_t rnd[3];
	int rc = dm_random_bytes(rnd, sizeof rnd);
	if (rc < 0)
		return rc;
	uint32_t ssrc = rnd[0];
	if (ssrc == s->ssrc)
		ssrc ^= 1;
	s->key_len = dm_srtp_key_len(s->suite);
	rc = dm_keys_derive(s->secret, s->conf_id, s->channel_id, ssrc, s->suite, s->key,
			    sizeof s->key);
	if (rc < 0)
		return rc;
	struct dm_srtp *srtp;
	rc = dm_srtp_new(s->suite, DM_SRTP_SEND, ssrc, s->key, &srtp);
	if (rc < 0)
		return rc;
	if (initial_roc && (rc = dm_srtp_set_roc(srtp, initial_roc)) < 0) {
		dm_srtp_free(srtp);
		return rc;
	}
	dm_srtp_free(s->srtp);
	s->srtp = srtp;
	s->ssrc = ssrc;
	/* Random, but in the lower half: ffmpeg, GStreamer and Janus assume a
	 * rollover counter of 0 when they join, so a stream that does not wrap
	 * for its first 2.7 minutes (at 5 ms frames) is one they can decode.
	 * SRTP's security rests on the fresh key per SSRC, not on this number. */
	s->seq = (uint16_t)(rnd[1] & 0x7fff);
	s->ts = rnd[2];
	s->first = true;
	/* A stream started at ROC r stands for one that has already sent r wraps
	 * of packets: its sender reports must count them too, since a late
	 * joiner derives the ROC from that count (it is 0 in production). The
	 * count is 32 bits on the wire and wraps like it. */
	s->ssrc_packets = initial_roc << 16;
	s->ssrc_octets = 0;
	s->session_version++;
	clock_gettime(CLOCK_MONOTONIC, &s->last_rtcp);
	s->last_ts_time = s->last_rtcp;
	atomic_store_explicit(&s->cur_ssrc, ssrc, memory_order_relaxed);
	return 0;
}

int dm_stream_new(const struct dm_stream_params *p, struct dm_stream **out)
{
	if (!p || !out || !p->conference_id || !p->channel_id || !p->secret || !p->profile ||
	    !p->interface || !p->group || dm_srtp_key_len(p->suite) == 0)
		return DM_EINVAL;
	struct dm_stream *s = calloc(1, sizeof *s);
	if (!s)
		return DM_ENOMEM;
	s->fd = -1;
	snprintf(s->conf_id, sizeof s->conf_id, "%s", p->conference_id);
	snprintf(s->conf_name, sizeof s->conf_name, "%s",
		 p->conference_name ? p->conference_name : p->conference_id);
	snprintf(s->channel_id, sizeof s->channel_id, "%s", p->channel_id);
	snprintf(s->channel_name, sizeof s->channel_name, "%s",
		 p->channel_name ? p->channel_name : p->channel_id);
	snprintf(s->language, sizeof s->language, "%s", p->language ? p->language : "und");
	snprintf(s->interface, sizeof s->interface, "%s", p->interface);
	snprintf(s->group, sizeof s->group, "%s", p->group);
	memcpy(s->secret, p->secret, DM_SECRET_LEN);
	s->suite = p->suite;
	s->profile = p->profile;
	s->port = p->port;
	s->ttl = p->ttl;

	int rc = DM_EINVAL;
	if (p->port == 0 || p->port == 65535 || dm_sock_addr(p->group, p->port, &s->rtp_dest) < 0 ||
	    dm_sock_addr(p->group, (uint16_t)(p->port + 1), &s->rtcp_dest) < 0) {
		dm_log(DM_LOG_ERROR, "channel %s: bad destination %s:%u", p->channel_id, p->group,
		       p->port);
		goto fail;
	}
	s->sendq = p->sendq;
	if (!s->sendq) {
		s->fd = dm_sock_open_sender(p->interface, p->ttl);
		if (s->fd < 0) {
			rc = s->fd;
			s->fd = -1;
			goto fail;
		}
	}
	int err;
	s->enc = opus_encoder_create(DM_SAMPLE_RATE, 1, p->profile->application, &err);
	if (!s->enc) {
		dm_log(DM_LOG_ERROR, "opus encoder: %s", opus_strerror(err));
		rc = DM_ECODEC;
		goto fail;
	}
	opus_encoder_ctl(s->enc, OPUS_SET_BITRATE(p->profile->bitrate));
	opus_encoder_ctl(s->enc, OPUS_SET_BANDWIDTH(OPUS_BANDWIDTH_FULLBAND));
	opus_encoder_ctl(s->enc, OPUS_SET_COMPLEXITY(p->profile->complexity));
	opus_encoder_ctl(s->enc, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE));
	if (p->profile->inband_fec) {
		opus_encoder_ctl(s->enc, OPUS_SET_INBAND_FEC(1));
		opus_encoder_ctl(s->enc, OPUS_SET_PACKET_LOSS_PERC(p->profile->expected_loss_pct));
	}
	rc = start_ssrc(s, p->initial_roc);
	if (rc < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	dm_stream_free(s);
	return rc;
}

void dm_stream_free(struct dm_stream *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	if (s->enc)
		opus_encoder_destroy(s->enc);
	dm_srtp_free(s->srtp);
	/* The secret and the derived key must not outlive the stream in memory. */
	OPENSSL_cleanse(s->secret, sizeof s->secret);
	OPENSSL_cleanse(s->key, sizeof s->key);
	free(s);
}

int dm_stream_frame_samples(const struct dm_stream *s)
{
	return s->profile->frame_samples;
}

/* One datagram out, directly or through the worker's batch. */
static int send_datagram(struct dm_stream *s, const uint8_t *buf, size_t len,
			 const struct sockaddr_in *dest)
{
	if (s->sendq) {
		int rc = dm_sendq_add(s->sendq, buf, len, dest);
		if (rc == DM_ENOSPC && dm_sendq_pending(s->sendq) > 0) {
			dm_sendq_flush(s->sendq);
			rc = dm_sendq_add(s->sendq, buf, len, dest);
		}
		return rc;
	}
	if (sendto(s->fd, buf, len, 0, (const struct sockaddr *)dest, sizeof *dest) < 0)
		return DM_ENET;
	return 0;
}

static void send_rtcp(struct dm_stream *s, const struct timespec *now)
{
	uint8_t buf[256];
	struct dm_rtcp_sr sr = {
		.ssrc = s->ssrc,
		.ntp = dm_ntp_now(),
		/* The RTP time of "now": the next frame's timestamp minus what has
		 * not been captured yet is unknowable here, so extrapolate from the
		 * last frame by wall-clock time. */
		.rtp_ts = s->ts + (uint32_t)(elapsed_s(&s->last_ts_time, now) * DM_SAMPLE_RATE),
		.packet_count = s->ssrc_packets,
		.octet_count = s->ssrc_octets,
	};
	char cname[64];
	snprintf(cname, sizeof cname, "dragoman-%s", s->channel_id);
	int n = dm_rtcp_write_sr(&sr, cname, buf, sizeof buf - DM_SRTCP_MAX_TRAILER);
	if (n < 0)
		return;
	size_t len = (size_t)n;
	if (dm_srtp_protect_rtcp(s->srtp, buf, &len, sizeof buf) < 0)
		return;
	if (send_datagram(s, buf, len, &s->rtcp_dest) < 0)
		atomic_fetch_add_explicit(&s->send_errors, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&s->rtcp_sent, 1, memory_order_relaxed);
}

int dm_stream_send_frame(struct dm_stream *s, const float *pcm)
{
	uint8_t buf[DM_MAX_PACKET];
	int frame = s->profile->frame_samples;
	const size_t hdr = DM_RTP_HEADER_LEN + DM_RTP_EXT_NTP_LEN;
	int n = opus_encode_float(s->enc, pcm, frame, buf + hdr, DM_MAX_OPUS_PAYLOAD);
	if (n < 0)
		return DM_ECODEC;
	atomic_fetch_add_explicit(&s->frames, 1, memory_order_relaxed);
	if (s->recorder)
		dm_recorder_push(s->recorder, buf + hdr, (size_t)n);
	struct dm_rtp_header h = {
		.pt = DM_RTP_PT_OPUS,
		.marker = s->first,
		.seq = s->seq,
		.ts = s->ts,
		.ssrc = s->ssrc,
	};
	dm_rtp_write(&h, buf, sizeof buf);
	dm_rtp_write_ntp_ext(buf, sizeof buf, DM_RTP_EXT_NTP_ID, dm_ntp_now());
	size_t len = hdr + (size_t)n;
	int rc = dm_srtp_protect(s->srtp, buf, &len, sizeof buf);
	s->seq++;
	s->ts += (uint32_t)frame;
	s->first = false;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	s->last_ts_time = now;
	if (rc < 0)
		return rc;
	if (send_datagram(s, buf, len, &s->rtp_dest) < 0) {
		atomic_fetch_add_explicit(&s->send_errors, 1, memory_order_relaxed);
		rc = DM_ENET;
	} else {
		s->ssrc_packets++;
		s->ssrc_octets += (uint32_t)n;
		atomic_fetch_add_explicit(&s->packets, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->bytes, (uint64_t)n, memory_order_relaxed);
	}
	if (elapsed_s(&s->last_rtcp, &now) * 1000.0 >= DM_RTCP_INTERVAL_MS) {
		s->last_rtcp = now;
		send_rtcp(s, &now);
	}
	return rc;
}

int dm_stream_lookahead(const struct dm_stream *s)
{
	opus_int32 la = 0;
	opus_encoder_ctl(s->enc, OPUS_GET_LOOKAHEAD(&la));
	return (int)la;
}

void dm_stream_set_recorder(struct dm_stream *s, struct dm_recorder *rec)
{
	s->recorder = rec;
}

int dm_stream_rekey(struct dm_stream *s)
{
	if (!s)
		return DM_EINVAL;
	return start_ssrc(s, 0);
}

void dm_stream_get_sdp(const struct dm_stream *s, struct dm_sdp *sdp)
{
	memset(sdp, 0, sizeof *sdp);
	snprintf(sdp->session, sizeof sdp->session, "%.60s - %.60s", s->conf_name, s->channel_name);
	snprintf(sdp->channel_id, sizeof sdp->channel_id, "%s", s->channel_id);
	snprintf(sdp->language, sizeof sdp->language, "%s", s->language);
	snprintf(sdp->origin_addr, sizeof sdp->origin_addr, "%s", s->interface);
	snprintf(sdp->addr, sizeof sdp->addr, "%s", s->group);
	sdp->ttl = dm_sock_is_multicast(&s->rtp_dest) ? (s->ttl > 0 ? s->ttl : 1) : 0;
	sdp->port = s->port;
	sdp->pt = DM_RTP_PT_OPUS;
	sdp->ssrc = s->ssrc;
	sdp->frame_samples = s->profile->frame_samples;
	sdp->session_version = s->session_version;
	sdp->suite = s->suite;
	memcpy(sdp->key, s->key, s->key_len);
	sdp->key_len = s->key_len;
}

void dm_stream_get_stats(const struct dm_stream *s, struct dm_stream_stats *st)
{
	st->frames = atomic_load_explicit(&s->frames, memory_order_relaxed);
	st->packets = atomic_load_explicit(&s->packets, memory_order_relaxed);
	st->bytes = atomic_load_explicit(&s->bytes, memory_order_relaxed);
	st->send_errors = atomic_load_explicit(&s->send_errors, memory_order_relaxed);
	st->rtcp_sent = atomic_load_explicit(&s->rtcp_sent, memory_order_relaxed);
	st->ssrc = atomic_load_explicit(&s->cur_ssrc, memory_order_relaxed);
}
