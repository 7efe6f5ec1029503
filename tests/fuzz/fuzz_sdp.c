/* libFuzzer harness: the SDP parser (src/net/sdp.c), which reads SDP files
 * a listener is handed (and, with --sdp, re-reads on a restart). Besides the
 * sanitizers it checks what sdp.h promises: *out untouched on failure; on
 * success every string field terminated inside its array and a key of the
 * suite's length; and what the writer makes of a parsed description is a
 * fixed point (written, parsed and written again: the same text). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dragoman/error.h"
#include "dragoman/sdp.h"
#include "fuzz_common.h"

#define TEXT_MAX 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void check_parsed(const struct dm_sdp *p)
{
	FUZZ_CHECK(terminated(p->session, sizeof p->session));
	FUZZ_CHECK(terminated(p->channel_id, sizeof p->channel_id));
	FUZZ_CHECK(terminated(p->language, sizeof p->language));
	FUZZ_CHECK(terminated(p->origin_addr, sizeof p->origin_addr));
	FUZZ_CHECK(terminated(p->addr, sizeof p->addr));
	FUZZ_CHECK(p->addr[0] != '\0');
	FUZZ_CHECK(p->port != 0);
	FUZZ_CHECK(p->key_len == dm_srtp_key_len(p->suite) && p->key_len > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The parser takes a C string: an input with a NUL simply ends there. */
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	struct dm_sdp sdp, untouched;
	memset(&sdp, 0x5a, sizeof sdp);
	untouched = sdp;
	int rc = dm_sdp_parse(text, &sdp);
	FUZZ_CHECK(rc == 0 || rc == DM_EPROTO);
	if (rc < 0) {
		FUZZ_CHECK(memcmp(&sdp, &untouched, sizeof sdp) == 0);
		goto out;
	}
	check_parsed(&sdp);

	/* The writer is stricter than the parser (it refuses what it would not
	 * emit itself), so only a description it accepts goes round. */
	static char first[TEXT_MAX], second[TEXT_MAX];
	int n1 = dm_sdp_write(&sdp, first, sizeof first);
	FUZZ_CHECK(n1 > 0 || n1 == DM_EINVAL);
	if (n1 < 0)
		goto out;
	struct dm_sdp again;
	FUZZ_CHECK(dm_sdp_parse(first, &again) == 0);
	check_parsed(&again);
	FUZZ_CHECK(again.port == sdp.port && again.pt == sdp.pt && again.ssrc == sdp.ssrc &&
		   again.suite == sdp.suite && again.key_len == sdp.key_len &&
		   memcmp(again.key, sdp.key, sdp.key_len) == 0 &&
		   strcmp(again.addr, sdp.addr) == 0 &&
		   strcmp(again.channel_id, sdp.channel_id) == 0);
	int n2 = dm_sdp_write(&again, second, sizeof second);
	FUZZ_CHECK(n2 == n1 && memcmp(first, second, (size_t)n1) == 0);
out:
	free(text);
	return 0;
}
