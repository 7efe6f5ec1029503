/* dragoman: RTP and RTCP packets (RFC 3550).
 *
 * Everything here reads untrusted bytes (after SRTP authentication, but a
 * peer holding the key is still a peer): every length is checked against the
 * buffer before it is used, and a parse fills its outputs only on success. */
#include "dragoman/rtp.h"

#include <string.h>
#include <time.h>

#include "dragoman/error.h"

#define RTP_VERSION 2
#define RTCP_SR 200
#define RTCP_RR 201
#define RTCP_SDES 202
#define SDES_CNAME 1
#define RTCP_SR_LEN 28 /* header + sender SSRC + sender info */
#define RTCP_RR_BLOCK_LEN 24
#define NTP_UNIX_OFFSET 2208988800u /* seconds from 1900-01-01 to 1970-01-01 */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int dm_rtp_write(const struct dm_rtp_header *h, uint8_t *buf, size_t cap)
{
	if (!h || !buf || h->pt > 127)
		return DM_EINVAL;
	if (cap < DM_RTP_HEADER_LEN)
		return DM_ENOSPC;
	buf[0] = RTP_VERSION << 6;
	buf[1] = (uint8_t)((h->marker ? 0x80 : 0) | h->pt);
	put16(buf + 2, h->seq);
	put32(buf + 4, h->ts);
	put32(buf + 8, h->ssrc);
	return DM_RTP_HEADER_LEN;
}

int dm_rtp_write_ntp_ext(uint8_t *buf, size_t cap, uint8_t id, uint64_t ntp)
{
	if (!buf || id < 1 || id > 14)
		return DM_EINVAL;
	if (cap < DM_RTP_HEADER_LEN + DM_RTP_EXT_NTP_LEN)
		return DM_ENOSPC;
	uint8_t *p = buf + DM_RTP_HEADER_LEN;
	buf[0] |= 0x10;
	/* RFC 8285 one-byte form: 0xBEDE, then the length in 32-bit words. */
	put16(p, 0xbede);
	put16(p + 2, 2);
	/* RFC 6051's 56-bit form: the top 7 bytes of the 64-bit NTP time. */
	p[4] = (uint8_t)(id << 4 | 6);
	for (int i = 0; i < 7; i++)
		p[5 + i] = (uint8_t)(ntp >> (56 - 8 * i));
	return DM_RTP_EXT_NTP_LEN;
}

int dm_rtp_find_ntp_ext(const uint8_t *buf, size_t len, uint8_t id, uint64_t *ntp)
{
	if (!buf || !ntp)
		return DM_EINVAL;
	struct dm_rtp_header h;
	if (dm_rtp_parse(buf, len, &h) < 0)
		return DM_EPROTO;
	if (!(buf[0] & 0x10))
		return 0;
	size_t off = DM_RTP_HEADER_LEN + 4 * (size_t)(buf[0] & 0x0f);
	if (get16(buf + off) != 0xbede)
		return 0;
	size_t end = off + 4 + 4 * (size_t)get16(buf + off + 2);
	/* dm_rtp_parse checked that end is within the packet. */
	for (size_t i = off + 4; i < end;) {
		uint8_t b = buf[i];
		if (b == 0) { /* padding */
			i++;
			continue;
		}
		uint8_t eid = b >> 4;
		size_t elen = (size_t)(b & 0x0f) + 1;
		if (eid == 15)
			break;
		if (i + 1 + elen > end)
			return DM_EPROTO;
		if (eid == id && (elen == 7 || elen == 8)) {
			uint64_t v = 0;
			for (size_t k = 0; k < 8; k++)
				v = v << 8 | (k < elen ? buf[i + 1 + k] : 0);
			*ntp = v;
			return 1;
		}
		i += 1 + elen;
	}
	return 0;
}

int dm_rtp_parse(const uint8_t *buf, size_t len, struct dm_rtp_header *h)
{
	if (!buf || !h)
		return DM_EINVAL;
	if (len < DM_RTP_HEADER_LEN || buf[0] >> 6 != RTP_VERSION)
		return DM_EPROTO;

	size_t off = DM_RTP_HEADER_LEN + 4 * (size_t)(buf[0] & 0x0f);
	if (off > len)
		return DM_EPROTO;
	if (buf[0] & 0x10) {
		/* RFC 3550 5.3.1: 16-bit profile field, 16-bit length in words
		 * not counting this 4-byte header. */
		if (len - off < 4)
			return DM_EPROTO;
		size_t ext = 4 * (size_t)get16(buf + off + 2);
		off += 4;
		if (len - off < ext)
			return DM_EPROTO;
		off += ext;
	}
	size_t pad = 0;
	if (buf[0] & 0x20) {
		/* The last byte counts the padding, itself included, so it is at
		 * least 1 and cannot reach into the header. */
		if (len == off)
			return DM_EPROTO;
		pad = buf[len - 1];
		if (pad == 0 || pad > len - off)
			return DM_EPROTO;
	}

	h->pt = buf[1] & 0x7f;
	h->marker = buf[1] & 0x80;
	h->seq = get16(buf + 2);
	h->ts = get32(buf + 4);
	h->ssrc = get32(buf + 8);
	h->payload_off = off;
	h->payload_len = len - off - pad;
	return 0;
}

bool dm_rtp_is_rtcp(const uint8_t *buf, size_t len)
{
	if (!buf || len < 2)
		return false;
	/* RFC 5761 4: RTCP packet types 192..223 are RTP payload types 64..95
	 * with the marker bit set, a range RTP must not use when multiplexed. */
	uint8_t pt = buf[1] & 0x7f;
	return pt >= 64 && pt <= 95;
}

/* Common header of one RTCP packet; len is the whole packet in bytes. */
static void rtcp_header(uint8_t *p, uint8_t count, uint8_t type, size_t len)
{
	p[0] = (uint8_t)(RTP_VERSION << 6 | count);
	p[1] = type;
	put16(p + 2, (uint16_t)(len / 4 - 1));
}

static size_t sdes_len(size_t cname_len)
{
	/* header, SSRC, CNAME item (type, length, text), then at least one
	 * zero octet ending the item list, padded to a 32-bit boundary. */
	return 4 + 4 + ((2 + cname_len + 1 + 3) & ~(size_t)3);
}

static void sdes_write(uint8_t *p, uint32_t ssrc, const char *cname, size_t cname_len)
{
	size_t len = sdes_len(cname_len);
	memset(p, 0, len);
	rtcp_header(p, 1, RTCP_SDES, len);
	put32(p + 4, ssrc);
	p[8] = SDES_CNAME;
	p[9] = (uint8_t)cname_len;
	memcpy(p + 10, cname, cname_len);
}

static int cname_check(const char *cname, size_t *cname_len)
{
	if (!cname)
		return DM_EINVAL;
	size_t n = strnlen(cname, 256);
	if (n == 0 || n > 255)
		return DM_EINVAL;
	*cname_len = n;
	return 0;
}

int dm_rtcp_write_sr(const struct dm_rtcp_sr *sr, const char *cname, uint8_t *buf, size_t cap)
{
	size_t cname_len;
	if (!sr || !buf || cname_check(cname, &cname_len))
		return DM_EINVAL;
	size_t total = RTCP_SR_LEN + sdes_len(cname_len);
	if (cap < total)
		return DM_ENOSPC;

	rtcp_header(buf, 0, RTCP_SR, RTCP_SR_LEN);
	put32(buf + 4, sr->ssrc);
	put32(buf + 8, (uint32_t)(sr->ntp >> 32));
	put32(buf + 12, (uint32_t)sr->ntp);
	put32(buf + 16, sr->rtp_ts);
	put32(buf + 20, sr->packet_count);
	put32(buf + 24, sr->octet_count);
	sdes_write(buf + RTCP_SR_LEN, sr->ssrc, cname, cname_len);
	return (int)total;
}

static void rr_block_write(uint8_t *p, const struct dm_rtcp_rr *rr)
{
	/* RFC 3550 A.3: a loss beyond the 24-bit range is clamped, not wrapped. */
	int32_t lost = rr->cumulative_lost;
	if (lost > 0x7fffff)
		lost = 0x7fffff;
	else if (lost < -0x800000)
		lost = -0x800000;
	put32(p, rr->source_ssrc);
	put32(p + 4, (uint32_t)rr->fraction_lost << 24 | ((uint32_t)lost & 0xffffff));
	put32(p + 8, rr->highest_seq);
	put32(p + 12, rr->jitter);
	put32(p + 16, rr->lsr);
	put32(p + 20, rr->dlsr);
}

static void rr_block_read(const uint8_t *p, uint32_t reporter, struct dm_rtcp_rr *rr)
{
	uint32_t w = get32(p + 4);
	rr->reporter_ssrc = reporter;
	rr->source_ssrc = get32(p);
	rr->fraction_lost = (uint8_t)(w >> 24);
	/* sign-extend the 24-bit count */
	rr->cumulative_lost = (int32_t)((w & 0xffffff) ^ 0x800000) - 0x800000;
	rr->highest_seq = get32(p + 8);
	rr->jitter = get32(p + 12);
	rr->lsr = get32(p + 16);
	rr->dlsr = get32(p + 20);
}

int dm_rtcp_write_rr(const struct dm_rtcp_rr *rr, const char *cname, uint8_t *buf, size_t cap)
{
	size_t cname_len;
	if (!rr || !buf || cname_check(cname, &cname_len))
		return DM_EINVAL;
	size_t rr_len = 8 + RTCP_RR_BLOCK_LEN;
	size_t total = rr_len + sdes_len(cname_len);
	if (cap < total)
		return DM_ENOSPC;

	rtcp_header(buf, 1, RTCP_RR, rr_len);
	put32(buf + 4, rr->reporter_ssrc);
	rr_block_write(buf + 8, rr);
	sdes_write(buf + rr_len, rr->reporter_ssrc, cname, cname_len);
	return (int)total;
}

int dm_rtcp_parse(const uint8_t *buf, size_t len, bool *has_sr, struct dm_rtcp_sr *sr, bool *has_rr,
		  struct dm_rtcp_rr *rr)
{
	if (!buf)
		return DM_EINVAL;
	if (len == 0)
		return DM_EPROTO;

	bool got_sr = false, got_rr = false;
	struct dm_rtcp_sr s = {0};
	struct dm_rtcp_rr r = {0};
	size_t off = 0;
	while (off < len) {
		const uint8_t *p = buf + off;
		size_t left = len - off;
		if (left < 4 || p[0] >> 6 != RTP_VERSION)
			return DM_EPROTO;
		size_t plen = 4 * ((size_t)get16(p + 2) + 1);
		if (plen > left)
			return DM_EPROTO;
		size_t body = plen; /* bytes before any padding */
		if (p[0] & 0x20) {
			/* RFC 3550 6.4.1: only the last packet of a compound may be
			 * padded, and the count must stay inside the packet. */
			if (plen != left || p[plen - 1] == 0 || p[plen - 1] > plen - 4)
				return DM_EPROTO;
			body -= p[plen - 1];
		}
		size_t count = p[0] & 0x1f;
		if (p[1] == RTCP_SR) {
			if (body < RTCP_SR_LEN + count * RTCP_RR_BLOCK_LEN)
				return DM_EPROTO;
			if (!got_sr) {
				got_sr = true;
				s.ssrc = get32(p + 4);
				s.ntp = (uint64_t)get32(p + 8) << 32 | get32(p + 12);
				s.rtp_ts = get32(p + 16);
				s.packet_count = get32(p + 20);
				s.octet_count = get32(p + 24);
			}
			if (count > 0 && !got_rr) {
				got_rr = true;
				rr_block_read(p + RTCP_SR_LEN, get32(p + 4), &r);
			}
		} else if (p[1] == RTCP_RR) {
			if (body < 8 + count * RTCP_RR_BLOCK_LEN)
				return DM_EPROTO;
			if (count > 0 && !got_rr) {
				got_rr = true;
				rr_block_read(p + 8, get32(p + 4), &r);
			}
		}
		/* SDES, BYE, APP and anything newer: length-checked above, skipped. */
		off += plen;
	}

	if (has_sr)
		*has_sr = got_sr;
	if (sr && got_sr)
		*sr = s;
	if (has_rr)
		*has_rr = got_rr;
	if (rr && got_rr)
		*rr = r;
	return 0;
}

uint64_t dm_ntp_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	/* The seconds field wraps in 2036 (NTP era 1); RFC 3550 only ever
	 * compares nearby timestamps, so the modulo is what we want. */
	uint32_t sec = (uint32_t)((uint64_t)ts.tv_sec + NTP_UNIX_OFFSET);
	uint32_t frac = (uint32_t)(((uint64_t)ts.tv_nsec << 32) / 1000000000u);
	return (uint64_t)sec << 32 | frac;
}
