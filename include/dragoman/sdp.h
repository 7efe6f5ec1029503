/* dragoman: SDP (RFC 4566) for one channel's stream, with SDES keys
 * (RFC 4568) and Opus per RFC 7587. A channel's SDP is a secret. */
#ifndef DRAGOMAN_SDP_H
#define DRAGOMAN_SDP_H

#include <stddef.h>
#include <stdint.h>

#include "dragoman/defaults.h"
#include "dragoman/srtp.h"

#ifdef __cplusplus
extern "C" {
#endif

struct dm_sdp {
	char session[DM_NAME_MAX];   /* s= line: "<conference name> - <channel name>" */
	char channel_id[DM_ID_MAX];  /* a=x-dragoman-channel: */
	char language[DM_ID_MAX];    /* a=lang: */
	char origin_addr[64];        /* o= unicast address (interface) */
	char addr[64];               /* c= address (multicast group or unicast) */
	int ttl;                     /* c= /ttl for multicast, 0 for unicast */
	uint16_t port;               /* m= port; RTCP is port + 1 */
	uint8_t pt;                  /* payload type, DM_RTP_PT_OPUS */
	uint32_t ssrc;               /* a=ssrc: */
	int frame_samples;           /* a=ptime: (ms = frame_samples / 48) */
	uint64_t session_version;    /* o= version; grows when keys change */
	enum dm_srtp_suite suite;
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	size_t key_len;              /* dm_srtp_key_len(suite) */
};

/* Writes the SDP text (CRLF line ends) into buf. Returns its length (without
 * the NUL) or DM_EINVAL / DM_ENOSPC. Thread: any. */
int dm_sdp_write(const struct dm_sdp *sdp, char *buf, size_t cap);

/* Writes the SDP to path atomically (temporary file in the same folder with
 * mode 0600, then rename). Returns 0, DM_EINVAL or DM_EIO. */
int dm_sdp_write_file(const struct dm_sdp *sdp, const char *path);

/* Parses SDP text as written by dm_sdp_write (and tolerant of other writers:
 * unknown lines ignored, LF or CRLF). Returns 0; DM_EPROTO when c=, m=,
 * the opus rtpmap or a usable a=crypto line is missing or malformed. */
int dm_sdp_parse(const char *text, struct dm_sdp *out);

/* Reads and parses an SDP file. Returns 0, DM_ENOENT, DM_EIO or DM_EPROTO. */
int dm_sdp_read_file(const char *path, struct dm_sdp *out);

#ifdef __cplusplus
}
#endif
#endif
