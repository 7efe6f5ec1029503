/* Benchmark: SRTP protect and unprotect per packet, and making and freeing a session, for
 * each suite, with libsrtp's own cryptography (NSS on Debian 12) against OpenSSL's under it
 * (src/net/srtp_ossl.c). Sessions keep the types they were created with, so the reference
 * sessions are made before the replacement. Packets: 12-byte header and 160 bytes of payload
 * (about an Opus frame of the lan profile). Prints the figures; asserts nothing about speed. */
#include <srtp2/srtp.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "srtp_ossl.h"

#define PACKETS 200000
#define SESSIONS 200
#define PAYLOAD 160

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static const struct {
	const char *name;
	void (*set)(srtp_crypto_policy_t *);
} suites[] = {
	{"AES_CM_128_HMAC_SHA1_80", srtp_crypto_policy_set_rtp_default},
	{"AEAD_AES_128_GCM", srtp_crypto_policy_set_aes_gcm_128_16_auth},
	{"AEAD_AES_256_GCM", srtp_crypto_policy_set_aes_gcm_256_16_auth},
};
#define N_SUITES (sizeof suites / sizeof suites[0])

static uint8_t master[SRTP_AES_ICM_256_KEY_LEN_WSALT] = {7, 1, 8, 2, 8, 1, 8, 2, 8};

static srtp_t session(size_t suite, bool send)
{
	srtp_policy_t p;
	memset(&p, 0, sizeof p);
	suites[suite].set(&p.rtp);
	suites[suite].set(&p.rtcp);
	p.ssrc.type = send ? ssrc_any_outbound : ssrc_any_inbound;
	p.key = master;
	p.window_size = 1024;
	srtp_t s = NULL;
	if (srtp_create(&s, &p) != srtp_err_status_ok)
		return NULL;
	return s;
}

/* ns per packet to protect, then to unprotect, the same PACKETS packets. */
static int run(srtp_t tx, srtp_t rx, double *protect_ns, double *unprotect_ns)
{
	static uint8_t pkts[1000][12 + PAYLOAD + SRTP_MAX_TRAILER_LEN];
	static int lens[1000];
	double tp = 0, tu = 0;
	for (uint32_t done = 0; done < PACKETS; done += 1000) {
		double t0 = now_s();
		for (uint32_t i = 0; i < 1000; i++) {
			uint32_t seq = done + i;
			uint8_t *b = pkts[i];
			memset(b, 0x5a, 12 + PAYLOAD);
			b[0] = 0x80, b[1] = 111, b[2] = (uint8_t)(seq >> 8), b[3] = (uint8_t)seq;
			b[8] = 0x12, b[9] = 0x34, b[10] = 0x56, b[11] = 0x78;
			lens[i] = 12 + PAYLOAD;
			if (srtp_protect(tx, b, &lens[i]) != srtp_err_status_ok)
				return -1;
		}
		double t1 = now_s();
		for (uint32_t i = 0; i < 1000; i++)
			if (srtp_unprotect(rx, pkts[i], &lens[i]) != srtp_err_status_ok)
				return -1;
		tp += t1 - t0;
		tu += now_s() - t1;
	}
	*protect_ns = tp / PACKETS * 1e9;
	*unprotect_ns = tu / PACKETS * 1e9;
	return 0;
}

static double sessions_us(size_t suite)
{
	double t0 = now_s();
	for (int i = 0; i < SESSIONS; i++) {
		srtp_t s = session(suite, false);
		if (!s)
			return -1;
		srtp_dealloc(s);
	}
	return (now_s() - t0) / SESSIONS * 1e6;
}

int main(void)
{
	if (srtp_init() != srtp_err_status_ok)
		return 1;
	srtp_t ref[N_SUITES][2];
	double ref_make[N_SUITES];
	for (size_t s = 0; s < N_SUITES; s++) {
		ref[s][0] = session(s, true);
		ref[s][1] = session(s, false);
		if (!ref[s][0] || !ref[s][1])
			return 1;
	}
	/* Made and freed while the reference sessions keep NSS up, as the engine's did. */
	for (size_t s = 0; s < N_SUITES; s++)
		ref_make[s] = sessions_us(s);
	if (dm_srtp_ossl_install() != 0) {
		fprintf(stderr, "bench_srtp: OpenSSL's types were refused\n");
		return 1;
	}
	printf("SRTP, %d packets of %d payload bytes a suite; ns a packet, us a session made "
	       "and freed\n",
	       PACKETS, PAYLOAD);
	printf("%-24s %-8s %9s %11s %9s\n", "suite", "crypto", "protect", "unprotect", "session");
	for (size_t s = 0; s < N_SUITES; s++) {
		srtp_t tx = session(s, true), rx = session(s, false);
		double rp, ru, op, ou;
		if (!tx || !rx || run(ref[s][0], ref[s][1], &rp, &ru) < 0 ||
		    run(tx, rx, &op, &ou) < 0)
			return 1;
		double make = sessions_us(s);
		printf("%-24s %-8s %9.0f %11.0f %9.1f\n", suites[s].name, "libsrtp", rp, ru,
		       ref_make[s]);
		printf("%-24s %-8s %9.0f %11.0f %9.1f\n", suites[s].name, "OpenSSL", op, ou, make);
		srtp_dealloc(tx);
		srtp_dealloc(rx);
		srtp_dealloc(ref[s][0]);
		srtp_dealloc(ref[s][1]);
	}
	return 0;
}
