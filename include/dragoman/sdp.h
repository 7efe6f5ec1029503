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
	char session[DM_NAME_MAX];  /* s= line: "<conference name> - <channel name>" */
	char channel_id[DM_ID_MAX]; /* a=x-dragoman-channel: */
	char language[DM_ID_MAX];   /* a=lang: */
	char origin_addr[64];	    /* o= unicast address (interface) */
	char addr[64];		    /* c= address (multicast group or unicast) */
	int ttl;		    /* c= /ttl for multicast, 0 for unicast */
	uint16_t port;		    /* m= port; RTCP is port + 1 */
	uint8_t pt;		    /* payload type, DM_RTP_PT_OPUS */
	uint32_t ssrc;		    /* a=ssrc: */
	int frame_samples;	    /* a=ptime: (ms = frame_samples / 48) */
	uint64_t session_version;   /* o= version; grows when keys change */
	enum dm_srtp_suite suite;
	uint8_t key[DM_SRTP_MAX_KEY_LEN];
	size_t key_len; /* dm_srtp_key_len(suite) */
};

/* Writes the SDP text (CRLF line ends) into buf. Returns its length (without
 * the NUL) or DM_EINVAL / DM_ENOSPC. Thread: any.
 * DM_EINVAL: addr (and origin_addr, when set) not a numeric IPv4/IPv6
 * address, session with control characters, channel_id not 1..31 of
 * [A-Za-z0-9_-], language not [A-Za-z0-9-]*, ttl outside 0..255, port 0 or
 * 65535 (RTCP is port + 1), pt outside 96..127, frame_samples < 0, unknown
 * suite, key_len != dm_srtp_key_len(suite), or a string without its NUL.
 * Empty origin_addr: DM_DEFAULT_INTERFACE is written; empty language: no
 * a=lang; a=ptime only when frame_samples is a whole tenth of a ms (120 ->
 * "2.5"); IPv6 c= lines carry no TTL. On DM_ENOSPC buf is wiped (it held the
 * key). The session id in o= is the SSRC. */
int dm_sdp_write(const struct dm_sdp *sdp, char *buf, size_t cap);

/* Writes the SDP to path atomically (temporary file "<path>.tmp-XXXXXX" in
 * the same folder, created O_EXCL with mode exactly 0600 whatever the umask,
 * written, fsynced, then renamed over path). Readers see the old file or the
 * new one, never a part. Returns 0, DM_EINVAL (as dm_sdp_write, or NULL/empty
 * path) or DM_EIO (nothing is left behind). */
int dm_sdp_write_file(const struct dm_sdp *sdp, const char *path);

/* Parses SDP text as written by dm_sdp_write (and tolerant of other writers:
 * unknown lines ignored, LF or CRLF). Returns 0; DM_EPROTO when c=, m=,
 * the opus rtpmap or a usable a=crypto line is missing or malformed.
 * Takes the first m=audio section over RTP/SAVP(F) with a non-zero port, an
 * opus/48000[/2] rtpmap of a listed payload type, an a=ssrc, a c= (media or
 * session level) and an a=crypto of a suite we know; other sections are
 * skipped. a=crypto: a lifetime or MKI after the key ("|2^31|1:1") is
 * ignored; a line of an unknown suite or with session parameters is skipped;
 * a known suite with bad base64 or the wrong key length is DM_EPROTO. A line
 * over 1023 bytes, or a field longer than its array here, is DM_EPROTO (never
 * truncated). Fields not in the text are left 0 / empty (frame_samples 0
 * without a=ptime). DM_EINVAL for NULL arguments; *out is written only on
 * success. Thread: any. */
int dm_sdp_parse(const char *text, struct dm_sdp *out);

/* Reads and parses an SDP file. Returns 0, DM_ENOENT, DM_EIO or DM_EPROTO
 * (also for a file over 16 KiB or with a NUL byte), DM_EINVAL for NULL
 * arguments. */
int dm_sdp_read_file(const char *path, struct dm_sdp *out);

#ifdef __cplusplus
}
#endif
#endif
