/* libFuzzer harness: the RTP and RTCP parsers (src/net/rtp.c) on arbitrary
 * bytes, as they see every packet that passed SRTP authentication. Besides
 * the sanitizers, it checks what rtp.h promises: a parse either fails without
 * touching its outputs or describes a payload inside the buffer, and a
 * sender report or an RFC 6051 send time read back from what the writers
 * wrote is the same. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dragoman/error.h"
#include "dragoman/rtp.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_rtp(const uint8_t *data, size_t size)
{
	struct dm_rtp_header h, untouched;
	memset(&h, 0xa5, sizeof h);
	untouched = h;
	int rc = dm_rtp_parse(data, size, &h);
	FUZZ_CHECK(rc == 0 || rc == DM_EPROTO);
	if (rc < 0) {
		FUZZ_CHECK(memcmp(&h, &untouched, sizeof h) == 0);
		return;
	}
	FUZZ_CHECK(size >= DM_RTP_HEADER_LEN && (data[0] >> 6) == 2);
	FUZZ_CHECK(h.pt <= 127);
	FUZZ_CHECK(h.payload_off >= DM_RTP_HEADER_LEN && h.payload_off <= size);
	FUZZ_CHECK(h.payload_len <= size - h.payload_off);

	/* The fixed header written back reads the same. */
	uint8_t buf[DM_RTP_HEADER_LEN];
	struct dm_rtp_header back;
	FUZZ_CHECK(dm_rtp_write(&h, buf, sizeof buf) == DM_RTP_HEADER_LEN);
	FUZZ_CHECK(dm_rtp_parse(buf, sizeof buf, &back) == 0);
	FUZZ_CHECK(back.pt == h.pt && back.marker == h.marker && back.seq == h.seq &&
		   back.ts == h.ts && back.ssrc == h.ssrc && back.payload_len == 0);
}

/* The RFC 6051 send time a config-mode listener reads from every packet
 * (after authentication) to tell a live stream from a recording. */
static void fuzz_ntp_ext(const uint8_t *data, size_t size)
{
	uint8_t id = size ? (uint8_t)(data[size - 1] & 0x0f) : 0;
	uint64_t ntp = 0;
	int rc = dm_rtp_find_ntp_ext(data, size, DM_RTP_EXT_NTP_ID, &ntp);
	FUZZ_CHECK(rc == 0 || rc == 1 || rc == DM_EPROTO);
	struct dm_rtp_header h;
	if (dm_rtp_parse(data, size, &h) < 0)
		FUZZ_CHECK(rc == DM_EPROTO);
	uint64_t other = 0;
	int rc_other = dm_rtp_find_ntp_ext(data, size, id, &other);
	FUZZ_CHECK(rc_other == 0 || rc_other == 1 || rc_other == DM_EPROTO ||
		   rc_other == DM_EINVAL);
	if (rc != 1)
		return;

	/* What the sender writes with that time reads back (as 56 bits). */
	uint8_t buf[DM_RTP_HEADER_LEN + DM_RTP_EXT_NTP_LEN];
	FUZZ_CHECK(dm_rtp_write(&h, buf, sizeof buf) == DM_RTP_HEADER_LEN);
	FUZZ_CHECK(dm_rtp_write_ntp_ext(buf, sizeof buf, DM_RTP_EXT_NTP_ID, ntp) ==
		   DM_RTP_EXT_NTP_LEN);
	uint64_t back = 0;
	FUZZ_CHECK(dm_rtp_find_ntp_ext(buf, sizeof buf, DM_RTP_EXT_NTP_ID, &back) == 1);
	FUZZ_CHECK(back == (ntp & ~(uint64_t)0xff));
	struct dm_rtp_header bh;
	FUZZ_CHECK(dm_rtp_parse(buf, sizeof buf, &bh) == 0);
	FUZZ_CHECK(bh.payload_off == sizeof buf && bh.payload_len == 0 && bh.seq == h.seq);
}

static void fuzz_rtcp(const uint8_t *data, size_t size)
{
	bool has_sr = true, has_rr = true;
	struct dm_rtcp_sr sr;
	struct dm_rtcp_rr rr;
	memset(&sr, 0, sizeof sr);
	memset(&rr, 0, sizeof rr);
	int rc = dm_rtcp_parse(data, size, &has_sr, &sr, &has_rr, &rr);
	FUZZ_CHECK(rc == 0 || rc == DM_EPROTO);
	if (rc < 0) {
		FUZZ_CHECK(has_sr && has_rr); /* outputs written only on success */
	}
	/* Either output pair may be left out, and the verdict stays the same. */
	bool only_sr = false;
	struct dm_rtcp_sr sr2;
	FUZZ_CHECK(dm_rtcp_parse(data, size, &only_sr, &sr2, NULL, NULL) == rc);
	bool only_rr = false;
	struct dm_rtcp_rr rr2;
	FUZZ_CHECK(dm_rtcp_parse(data, size, NULL, NULL, &only_rr, &rr2) == rc);
	FUZZ_CHECK(dm_rtcp_parse(data, size, NULL, NULL, NULL, NULL) == rc);
	if (rc < 0)
		return;
	FUZZ_CHECK(only_sr == has_sr && only_rr == has_rr);
	if (!has_sr)
		return;
	FUZZ_CHECK(memcmp(&sr, &sr2, sizeof sr) == 0);

	uint8_t buf[DM_MAX_PACKET];
	int n = dm_rtcp_write_sr(&sr, "fuzz@dragoman", buf, sizeof buf);
	FUZZ_CHECK(n > 0);
	struct dm_rtcp_sr back;
	bool back_sr = false, back_rr = true;
	FUZZ_CHECK(dm_rtcp_parse(buf, (size_t)n, &back_sr, &back, &back_rr, &rr2) == 0);
	FUZZ_CHECK(back_sr && !back_rr);
	FUZZ_CHECK(back.ssrc == sr.ssrc && back.ntp == sr.ntp && back.rtp_ts == sr.rtp_ts &&
		   back.packet_count == sr.packet_count && back.octet_count == sr.octet_count);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* data may be NULL for the empty input: the parsers must say EPROTO or
	 * EINVAL, never crash. */
	if (size == 0) {
		struct dm_rtp_header h;
		FUZZ_CHECK(dm_rtp_parse(data, 0, &h) < 0);
		FUZZ_CHECK(dm_rtcp_parse(data, 0, NULL, NULL, NULL, NULL) < 0);
		FUZZ_CHECK(!dm_rtp_is_rtcp(data, 0));
		return 0;
	}
	/* An exact-size copy: ASan then catches a read one byte past len. */
	uint8_t *pkt = malloc(size);
	if (!pkt)
		return 0;
	memcpy(pkt, data, size);
	fuzz_rtp(pkt, size);
	fuzz_ntp_ext(pkt, size);
	(void)dm_rtp_is_rtcp(pkt, size);
	fuzz_rtcp(pkt, size);
	free(pkt);
	return 0;
}
