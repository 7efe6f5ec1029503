/* dragoman: RTP and RTCP packets (RFC 3550), no crypto. */
#ifndef DRAGOMAN_RTP_H
#define DRAGOMAN_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DM_RTP_HEADER_LEN 12

struct dm_rtp_header {
	uint8_t pt; /* payload type, 0..127 */
	bool marker;
	uint16_t seq;
	uint32_t ts;
	uint32_t ssrc;
	size_t payload_off; /* parse only: offset of the payload (after CSRCs/extension) */
	size_t payload_len; /* parse only: payload bytes, padding excluded */
};

/* Writes a 12-byte RTP header (version 2, no padding, extension or CSRC) to
 * buf. Returns DM_RTP_HEADER_LEN, DM_EINVAL or DM_ENOSPC. Thread: any. */
int dm_rtp_write(const struct dm_rtp_header *h, uint8_t *buf, size_t cap);

/* Every packet dragoman sends carries its send time (RFC 6051 rapid
 * synchronisation, 56-bit NTP, in an RFC 8285 one-byte header extension):
 * a listener can tell a live stream from a recording of an older one. */
#define DM_RTP_EXT_NTP_ID 1
#define DM_RTP_EXT_NTP_LEN 12 /* bytes the extension adds after the fixed header */
#define DM_RTP_EXT_NTP_URI "urn:ietf:params:rtp-hdrext:ntp-56"

/* Appends that extension (element id 1..14) after a fixed header written by
 * dm_rtp_write, and sets the header's X bit. Returns DM_RTP_EXT_NTP_LEN,
 * DM_EINVAL or DM_ENOSPC (cap below 12 + DM_RTP_EXT_NTP_LEN). */
int dm_rtp_write_ntp_ext(uint8_t *buf, size_t cap, uint8_t id, uint64_t ntp);

/* Finds an RFC 6051 NTP element (56- or 64-bit) with the id in a packet's
 * one-byte header extension. Returns 1 and *ntp (64-bit NTP; the 56-bit form
 * has its low byte 0), 0 when there is none, DM_EPROTO for a malformed packet
 * or extension, DM_EINVAL. */
int dm_rtp_find_ntp_ext(const uint8_t *buf, size_t len, uint8_t id, uint64_t *ntp);

/* Parses an RTP packet: version 2, CSRC list, header extension and padding
 * honoured and bounds-checked. Returns 0 or DM_EPROTO (truncated, wrong
 * version, inconsistent lengths), DM_EINVAL for NULL arguments. Never reads
 * past len; *h is written only on success. Thread: any. */
int dm_rtp_parse(const uint8_t *buf, size_t len, struct dm_rtp_header *h);

/* True if the packet looks like RTCP (RFC 5761 demultiplexing: PT 192..223,
 * i.e. the second byte with the marker bit masked is 64..95). Looks at the
 * second byte only (false when len < 2 or buf is NULL); the parsers check the
 * rest. Works on SRTCP too: the first 8 bytes are not encrypted. */
bool dm_rtp_is_rtcp(const uint8_t *buf, size_t len);

/* RTCP sender report sender info (RFC 3550 6.4.1). */
struct dm_rtcp_sr {
	uint32_t ssrc;
	uint64_t ntp; /* NTP timestamp, 32.32 fixed point */
	uint32_t rtp_ts;
	uint32_t packet_count;
	uint32_t octet_count;
};

/* One report block of a receiver report (RFC 3550 6.4.2). */
struct dm_rtcp_rr {
	uint32_t reporter_ssrc;
	uint32_t source_ssrc;
	uint8_t fraction_lost;	 /* lost fraction since last report, /256 */
	int32_t cumulative_lost; /* 24-bit signed */
	uint32_t highest_seq;	 /* extended highest sequence number */
	uint32_t jitter;	 /* in RTP clock units */
	uint32_t lsr;
	uint32_t dlsr;
};

/* Writes a compound RTCP packet: SR (no report blocks) + SDES with CNAME.
 * cname: 1..255 bytes. Returns the length, DM_EINVAL or DM_ENOSPC. */
int dm_rtcp_write_sr(const struct dm_rtcp_sr *sr, const char *cname, uint8_t *buf, size_t cap);

/* Writes a compound RTCP packet: RR with one report block + SDES with CNAME
 * (1..255 bytes). A cumulative_lost outside the 24-bit signed range is
 * clamped (RFC 3550 A.3). Returns the length, DM_EINVAL or DM_ENOSPC. */
int dm_rtcp_write_rr(const struct dm_rtcp_rr *rr, const char *cname, uint8_t *buf, size_t cap);

/* Walks a (decrypted) compound RTCP packet. Sets *has_sr / *has_rr and fills
 * sr / rr (the first report block) when present; either pointer pair may be
 * NULL. sr is the first SR's sender info; rr is the first report block of the
 * compound, from an RR or an SR (reporter_ssrc = that packet's sender), and
 * *has_rr is false when no packet carries a block. Packets of other types
 * (SDES, BYE, APP, ...) are length-checked and skipped. Every packet must be
 * version 2 and lie inside len, the lengths must add up to len exactly, and
 * only the last packet may be padded. Returns 0, DM_EPROTO, or DM_EINVAL for a
 * NULL buf; the outputs are written only on success. Thread: any. */
int dm_rtcp_parse(const uint8_t *buf, size_t len, bool *has_sr, struct dm_rtcp_sr *sr, bool *has_rr,
		  struct dm_rtcp_rr *rr);

/* Current wall clock as an NTP 32.32 timestamp. */
uint64_t dm_ntp_now(void);

/* Signed distance b - a between two 16-bit sequence numbers, in -32768..32767. */
static inline int dm_seq_diff(uint16_t a, uint16_t b)
{
	return (int16_t)(uint16_t)(b - a);
}

#ifdef __cplusplus
}
#endif
#endif
