/* What the libFuzzer harnesses of tests/fuzz share with the seed generator
 * (gen_seeds.c): the fixed keys and SSRC of the receive contexts, and how an
 * input is cut into several packets. A seed only reaches past SRTP
 * authentication if it was protected with exactly these keys, so both sides
 * take them from here. */
#ifndef DM_FUZZ_COMMON_H
#define DM_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dragoman/defaults.h"
#include "dragoman/srtp.h"

#define FUZZ_SSRC 0x5eed1234u

/* Master key || salt for every suite (the shorter suites take a prefix). */
static const uint8_t fuzz_key[DM_SRTP_MAX_KEY_LEN] = {
	0x3c, 0x91, 0x0e, 0x7a, 0x55, 0xd2, 0x18, 0xf4, 0x6b, 0x2e, 0xa7, 0x40,
	0x09, 0xc3, 0x8d, 0x71, 0xee, 0x24, 0x5f, 0x96, 0x1b, 0xb8, 0x63, 0x0a,
	0xd7, 0x32, 0x8e, 0x4c, 0xf1, 0x67, 0x2a, 0x9d, 0x50, 0x05, 0xc8, 0x7e,
	0x13, 0xab, 0x36, 0xe9, 0x84, 0x1f, 0x5a, 0xc2, 0x6d, 0xb0,
};

/* Stops the fuzzer with a readable message when a documented property does
 * not hold (libFuzzer treats abort() as a crash and saves the input). */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__,        \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* An input read front to back. */
struct fuzz_reader {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_reader *rd)
{
	if (rd->n == 0)
		return 0;
	rd->n--;
	return *rd->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_reader *rd)
{
	uint16_t hi = fuzz_u8(rd);
	return (uint16_t)(hi << 8 | fuzz_u8(rd));
}

static inline uint32_t fuzz_u32(struct fuzz_reader *rd)
{
	uint32_t hi = fuzz_u16(rd);
	return hi << 16 | fuzz_u16(rd);
}

/* The next chunk of a multi-packet input: a 2-byte big-endian length, then
 * that many bytes (fewer when the input ends first). A length prefix rather
 * than a separator, so any byte may appear in a packet. Returns false at the
 * end of the input. */
static inline bool fuzz_chunk(struct fuzz_reader *rd, const uint8_t **chunk, size_t *len)
{
	if (rd->n < 2)
		return false;
	size_t want = fuzz_u16(rd);
	*len = want < rd->n ? want : rd->n;
	*chunk = rd->p;
	rd->p += *len;
	rd->n -= *len;
	return true;
}

/* Writes one chunk in the format fuzz_chunk reads (for the seed generator).
 * Returns the bytes written, or 0 when it does not fit. */
static inline size_t fuzz_put_chunk(uint8_t *out, size_t cap, const uint8_t *chunk, size_t len)
{
	if (len > 0xffff || len + 2 > cap)
		return 0;
	out[0] = (uint8_t)(len >> 8);
	out[1] = (uint8_t)len;
	for (size_t i = 0; i < len; i++)
		out[2 + i] = chunk[i];
	return len + 2;
}

/* fuzz_receiver's input (byte 0 is the mode, the rest depends on it):
 *   mode & 3 == 0: the rest is one datagram for the RTP socket, as is;
 *   mode & 3 == 1: the rest is one datagram for the RTCP socket, as is;
 *   mode & 3 >= 2: a session of genuinely protected packets that a fresh
 *   receiver authenticates, built by the harness:
 *     byte 1: FUZZ_RX_* setup flags, bytes 2-3: first sequence number,
 *     bytes 4-7: first timestamp, then chunks (fuzz_chunk), each one packet:
 *     chunk byte 0: FUZZ_PKT_* kind and flags, byte 1: argument, the rest the
 *     Opus payload (RTP) or the RTCP compound (FUZZ_PKT_RTCP). */
#define FUZZ_RX_PLAYOUT 0x01 /* a playout buffer that is always dry: conceal at once */
#define FUZZ_RX_ROC_SHIFT 1  /* bits 1-2: the sender's starting rollover counter */
#define FUZZ_RX_ROC_MASK 0x06
#define FUZZ_RX_SUITE_SHIFT 3 /* bits 3-4: the suite (3 means 0) */
#define FUZZ_RX_SUITE_MASK 0x18

#define FUZZ_PKT_KIND_MASK 0x03
#define FUZZ_PKT_NEXT 0 /* RTP, next sequence number, timestamp + one frame */
#define FUZZ_PKT_JUMP 1 /* RTP, sequence number + (int8_t)argument (gap, reorder) */
/* RTCP: a sender report whose packet count is the chunk's bytes 2-5, or, with
 * FUZZ_PKT_RAW, the chunk's bytes 2.. as the compound (the first packet's SSRC
 * is overwritten with the stream's). */
#define FUZZ_PKT_RTCP 2
#define FUZZ_PKT_REPLAY 3 /* the previous protected packet again, byte for byte */
#define FUZZ_PKT_MARKER 0x04
#define FUZZ_PKT_CORRUPT 0x08 /* flip a bit of the protected packet at byte argument */
#define FUZZ_PKT_RAW 0x10
#define FUZZ_PKT_NTP 0x20 /* RTP: with the RFC 6051 send time, as dragoman sends it */

#endif
