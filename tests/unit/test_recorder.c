/* Module tests of the channel recorder (src/net/recorder.c) with real
 * components: real Opus packets from libopus (a 440 Hz tone in 5 ms frames,
 * as the "lan" profile sends them), real files, and independent readers:
 * ffprobe and ffmpeg (duration, tags, decoded audio), opusinfo when installed.
 * The wall clock is passed in, so ten seconds of recording take no ten
 * seconds, and an hour boundary is a number. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <opus/opus.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dragoman/error.h"
#include "dragoman/recorder.h"

#define RATE 48000
#define FRAME 240 /* 5 ms */
#define NPKT 2400 /* 12 s */
#define TONE_HZ 440.0
#define NS 1000000000LL
#define PKT_NS (NS * FRAME / RATE)
#define PREROLL_S (DM_RECORDER_PREROLL_MS / 1000.0)

struct pkt {
	uint8_t data[400];
	size_t len;
};

static struct pkt pkts[NPKT];
static int lookahead;
static char dir[64];

/* 2025-03-01T13:59:55Z: five seconds before an hour boundary. */
static int64_t t_before_hour(void)
{
	struct tm tm = {.tm_year = 125,
			.tm_mon = 2,
			.tm_mday = 1,
			.tm_hour = 13,
			.tm_min = 59,
			.tm_sec = 55};
	return (int64_t)timegm(&tm) * NS;
}

static int group_setup(void **state)
{
	(void)state;
	int err;
	OpusEncoder *enc = opus_encoder_create(RATE, 1, OPUS_APPLICATION_RESTRICTED_LOWDELAY, &err);
	if (!enc)
		return -1;
	opus_encoder_ctl(enc, OPUS_SET_BITRATE(64000));
	opus_encoder_ctl(enc, OPUS_GET_LOOKAHEAD(&lookahead));
	float pcm[FRAME];
	for (int i = 0; i < NPKT; i++) {
		for (int j = 0; j < FRAME; j++)
			pcm[j] = 0.25f *
				 (float)sin(2 * M_PI * TONE_HZ * (double)(i * FRAME + j) / RATE);
		int n = opus_encode_float(enc, pcm, FRAME, pkts[i].data, sizeof pkts[i].data);
		if (n <= 0)
			return -1;
		pkts[i].len = (size_t)n;
	}
	opus_encoder_destroy(enc);
	return 0;
}

static void rm_dir(const char *d)
{
	DIR *dp = opendir(d);
	if (!dp)
		return;
	struct dirent *de;
	char p[512];
	while ((de = readdir(dp)))
		if (de->d_name[0] != '.') {
			snprintf(p, sizeof p, "%s/%s", d, de->d_name);
			unlink(p);
		}
	closedir(dp);
	rmdir(d);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/dm-rec-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (getenv("DM_TEST_KEEP")) /* to look at the files by hand */
		print_message("kept %s\n", dir);
	else
		rm_dir(dir);
	return 0;
}

static int count_files(void)
{
	DIR *dp = opendir(dir);
	assert_non_null(dp);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(dp)))
		n += de->d_name[0] != '.';
	closedir(dp);
	return n;
}

static struct dm_recorder_params params(void)
{
	return (struct dm_recorder_params){
		.dir = dir,
		.conference_id = "seoul",
		.conference_name = "Seoul ministerial",
		.channel_id = "fr",
		.channel_name = "French",
		.language = "fr",
		.pre_skip = lookahead,
	};
}

static struct dm_recorder *new_rec(const struct dm_recorder_params *p)
{
	struct dm_recorder *r = NULL;
	assert_int_equal(dm_recorder_new(p, &r), 0);
	assert_non_null(r);
	return r;
}

/* Feeds packets [from, to) of the tone, packet i sent at t0 + (i + 1) frames. */
static void feed(struct dm_recorder *r, int from, int to, int64_t t0)
{
	for (int i = from; i < to; i++)
		assert_int_equal(dm_recorder_write_at(r, pkts[i % NPKT].data, pkts[i % NPKT].len,
						      t0 + (i + 1) * PKT_NS),
				 0);
}

static bool have(const char *tool)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

/* ffprobe's idea of the file's duration, in seconds. */
static double probe_duration(const char *path)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd,
		 "ffprobe -v error -show_entries format=duration -of csv=p=0 '%s' 2>&1", path);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	char line[128] = "";
	char *ok = fgets(line, sizeof line, f);
	int st = pclose(f);
	assert_non_null(ok);
	assert_int_equal(st, 0);
	char *end;
	double d = strtod(line, &end);
	assert_true(end != line);
	return d;
}

/* The tags ffprobe reads, as "TAG:KEY=value" lines. */
static void probe_tags(const char *path, char *out, size_t cap)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd,
		 "ffprobe -v error -show_entries stream_tags -of default=nw=1 '%s' 2>&1", path);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	size_t n = fread(out, 1, cap - 1, f);
	out[n] = 0;
	assert_int_equal(pclose(f), 0);
}

/* Decodes with ffmpeg; returns the samples and their zero-crossing frequency.
 * ffmpeg must say nothing at -v error. */
static long decode(const char *path, double *freq)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd,
		 "ffmpeg -nostdin -v error -i '%s' -f s16le -ac 1 -ar 48000 - 2>%s/ffmpeg.err",
		 path, dir);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	int16_t buf[4096];
	long n = 0, crossings = 0, counted = 0;
	int16_t prev = 0;
	size_t got;
	while ((got = fread(buf, 2, 4096, f)) > 0) {
		for (size_t i = 0; i < got; i++, n++) {
			/* Skip the first 100 ms: the decoder's start. */
			if (n >= RATE / 10) {
				counted++;
				crossings += (prev < 0) != (buf[i] < 0);
			}
			prev = buf[i];
		}
	}
	assert_int_equal(pclose(f), 0);
	char err[600];
	snprintf(err, sizeof err, "%s/ffmpeg.err", dir);
	struct stat st;
	assert_int_equal(stat(err, &st), 0);
	assert_int_equal(st.st_size, 0);
	unlink(err);
	*freq = counted ? (double)crossings / 2.0 / ((double)counted / RATE) : 0;
	return n;
}

/* opusinfo must read the file without a complaint; a file cut by a kill
 * (live) may only lack its end-of-stream flag, which opusinfo calls "normal
 * for live streams" but still exits 1 for. */
static void check_opusinfo(const char *path, bool live)
{
	if (!have("opusinfo")) {
		print_message("opusinfo not installed: skipped\n");
		return;
	}
	char cmd[600];
	snprintf(cmd, sizeof cmd, "opusinfo '%s' 2>&1", path);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	char line[256];
	bool length = false;
	while (fgets(line, sizeof line, f)) {
		length |= strstr(line, "Playback length") != NULL;
		if (strstr(line, "WARNING") || strstr(line, "ERROR")) {
			assert_true(live);
			assert_non_null(strstr(line, "EOS not set"));
		}
	}
	int st = pclose(f);
	assert_true(length);
	if (!live)
		assert_int_equal(st, 0);
}

static void require_ffmpeg(void)
{
	if (!have("ffprobe") || !have("ffmpeg"))
		skip();
}

static void recorder_ten_seconds(void **state)
{
	(void)state;
	require_ffmpeg();
	struct dm_recorder_params p = params();
	struct dm_recorder *r = new_rec(&p);
	int64_t t0 = t_before_hour() - 600 * NS; /* 13:49:55Z: no boundary in 10 s */
	feed(r, 0, 2000, t0);
	char path[512];
	assert_int_equal(dm_recorder_path(r, path, sizeof path), 0);
	char want[512];
	snprintf(want, sizeof want, "%s/seoul-fr-20250301T134955Z.opus", dir);
	assert_string_equal(path, want);
	assert_int_equal(dm_recorder_close(r), 0);
	struct dm_recorder_stats st;
	dm_recorder_get_stats(r, &st);
	assert_int_equal(st.packets, 2000);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.gap_samples, 0);
	assert_int_equal(dm_recorder_error(r, NULL, 0), 0);
	dm_recorder_free(r);

	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal((uint64_t)sb.st_size, st.bytes);
	double d = probe_duration(path);
	print_message("10 s recorded: ffprobe %.4f s (%.3f %%)\n", d, (d - 10.0) * 10.0);
	assert_true(fabs(d - 10.0) <= 0.1);
	double freq;
	long n = decode(path, &freq);
	print_message("decoded %ld samples, tone %.1f Hz\n", n, freq);
	assert_true(labs(n - 10 * RATE) <= RATE / 100);
	assert_true(fabs(freq - TONE_HZ) < 2.0);
	check_opusinfo(path, false);
}

/* Through the queue, as the engine records: packets pushed by one thread
 * reach the file only when drained, all of them, in order, at the time they
 * were pushed; a full queue drops and counts; close drains what is left. */
static void recorder_queue(void **state)
{
	(void)state;
	require_ffmpeg();
	struct dm_recorder_params p = params();
	struct dm_recorder_stats st;
	char path[512];
	int pushed = 0, full = 0;

	/* Pushed at the real time: one file, unless a UTC day begins within the
	 * test (rotation every 24 h), which it waits out. */
	p.rotate_s = 86400;
	if (86400 - time(NULL) % 86400 < 30)
		sleep(31);

	struct dm_recorder *r = new_rec(&p);

	for (int i = 0; i < 400; i++)
		assert_int_equal(dm_recorder_push(r, pkts[i].data, pkts[i].len), 0);
	pushed = 400;
	dm_recorder_get_stats(r, &st);
	assert_int_equal(st.packets, 0); /* nothing written before a drain */
	assert_int_equal(dm_recorder_path(r, path, sizeof path), DM_ENOENT);
	assert_int_equal(dm_recorder_drain(r), 400);
	assert_int_equal(dm_recorder_drain(r), 0);
	dm_recorder_get_stats(r, &st);
	assert_int_equal(st.packets, 400);
	assert_int_equal(dm_recorder_path(r, path, sizeof path), 0);

	/* Filled without a drain: the queue's room, then refusals. */
	for (int i = 400; full == 0; i++) {
		int rc = dm_recorder_push(r, pkts[i % NPKT].data, pkts[i % NPKT].len);

		if (rc == DM_EAGAIN)
			full = 1;
		else
			assert_int_equal(rc, 0), pushed++;
	}
	/* The queue took all it had room for: each packet its length and a
	 * 16-byte header, rounded up to 16, and the skip before a wrap. */
	size_t room = 0;

	for (int i = 400; i < pushed; i++)
		room += (16 + pkts[i % NPKT].len + 15) / 16 * 16;
	assert_true(room <= DM_RECORDER_QUEUE_BYTES);
	/* Refused: the next packet (416 at most) with a skip (under 416), after
	 * at most one skip among those taken, did not fit. */
	assert_true(room + 3 * (16 + 400) > DM_RECORDER_QUEUE_BYTES);
	assert_int_equal(dm_recorder_push(r, pkts[0].data, pkts[0].len), DM_EAGAIN);
	dm_recorder_get_stats(r, &st);
	assert_int_equal(st.dropped, 2);
	assert_int_equal(dm_recorder_push(r, pkts[0].data, 0), DM_EINVAL);
	assert_int_equal(dm_recorder_push(NULL, pkts[0].data, pkts[0].len), DM_EINVAL);
	assert_int_equal(dm_recorder_push(r, NULL, 10), DM_EINVAL);
	assert_int_equal(dm_recorder_drain(NULL), DM_EINVAL);
	assert_int_equal(dm_recorder_close(r), 0); /* drains the rest first */
	dm_recorder_get_stats(r, &st);
	assert_int_equal(st.packets, (uint64_t)pushed);
	assert_int_equal(st.files, 1);
	dm_recorder_free(r);

	/* Pushed in no time: the file's timeline is the packets' own. */
	double d = probe_duration(path);
	print_message("%d packets queued: ffprobe %.3f s\n", pushed, d);
	assert_true(fabs(d - pushed * 0.005) <= pushed * 0.005 * 0.01 + 0.02);
	double freq;
	decode(path, &freq);
	assert_true(fabs(freq - TONE_HZ) < 2.0);
}

static void recorder_tags(void **state)
{
	(void)state;
	require_ffmpeg();
	struct dm_recorder_params p = params();
	struct dm_recorder *r = new_rec(&p);
	feed(r, 0, 200, t_before_hour() - 60 * NS);
	char path[512];
	assert_int_equal(dm_recorder_path(r, path, sizeof path), 0);
	dm_recorder_free(r);
	char tags[2048];
	probe_tags(path, tags, sizeof tags);
	assert_non_null(strstr(tags, "TAG:LANGUAGE=fr\n"));
	assert_non_null(strstr(tags, "TAG:TITLE=Seoul ministerial - French\n"));
	assert_non_null(strstr(tags, "TAG:ENCODER=dragoman\n"));
	assert_non_null(strstr(tags, "TAG:DATE=2025-03-01T13:58:55Z\n"));

	/* Without names or language: the ids and "und". */
	p.conference_name = NULL;
	p.channel_name = NULL;
	p.language = NULL;
	p.channel_id = "floor";
	r = new_rec(&p);
	feed(r, 0, 10, t_before_hour() - 60 * NS);
	assert_int_equal(dm_recorder_path(r, path, sizeof path), 0);
	dm_recorder_free(r);
	probe_tags(path, tags, sizeof tags);
	assert_non_null(strstr(tags, "TAG:LANGUAGE=und\n"));
	assert_non_null(strstr(tags, "TAG:TITLE=seoul - floor\n"));
}

static void recorder_hour_rotation(void **state)
{
	(void)state;
	require_ffmpeg();
	struct dm_recorder_params p = params();
	struct dm_recorder *r = new_rec(&p);
	int64_t t0 = t_before_hour(); /* 13:59:55Z */
	feed(r, 0, 999, t0);	      /* packet 999 ends at 14:00:00.000Z */
	char first[512], second[512];
	assert_int_equal(dm_recorder_path(r, first, sizeof first), 0);
	feed(r, 999, 2000, t0);
	assert_int_equal(dm_recorder_path(r, second, sizeof second), 0);
	struct dm_recorder_stats st;
	dm_recorder_get_stats(r, &st);
	assert_int_equal(st.files, 2);
	assert_int_equal(st.packets, 2000);
	dm_recorder_free(r);

	char want[512];
	snprintf(want, sizeof want, "%s/seoul-fr-20250301T135955Z.opus", dir);
	assert_string_equal(first, want);
	snprintf(want, sizeof want, "%s/seoul-fr-20250301T140000Z.opus", dir);
	assert_string_equal(second, want);
	/* ffprobe 5.1 reports the last granule position, pre-skip included:
	 * the follow-on file's 80 ms of pre-roll shows (0.002 % of an hour). */
	double d1 = probe_duration(first), d2 = probe_duration(second) - PREROLL_S;
	print_message("rotation: ffprobe %.4f s + %.4f s (+ pre-roll) = %.4f s\n", d1, d2, d1 + d2);
	assert_true(fabs(d1 - 5.0) <= 0.05);
	assert_true(fabs(d2 - 5.0) <= 0.05);
	assert_true(fabs(d1 + d2 - 10.0) <= 0.1);
	/* The follow-on file starts with pre-roll: clean tone from the start,
	 * and the decoded lengths add up to the audio sent minus the encoder's
	 * look-ahead, to the sample. */
	double freq;
	long n1 = decode(first, &freq);
	assert_true(fabs(freq - TONE_HZ) < 2.0);
	long n2 = decode(second, &freq);
	assert_true(fabs(freq - TONE_HZ) < 2.0);
	print_message("rotation: decoded %ld + %ld samples\n", n1, n2);
	assert_int_equal(n1, 999 * FRAME - lookahead);
	assert_int_equal(n2, 1001 * FRAME);
	check_opusinfo(first, false);
	check_opusinfo(second, false);
}

/* A shorter rotation period also rotates on its UTC boundaries. */
static void recorder_rotate_period(void **state)
{
	(void)state;
	struct dm_recorder_params p = params();
	p.rotate_s = 60;
	struct dm_recorder *r = new_rec(&p);
	int64_t t0 = t_before_hour() - 58 * NS; /* 13:58:57Z */
	feed(r, 0, 1000, t0);			/* crosses 13:59:00Z */
	struct dm_recorder_stats st;
	dm_recorder_get_stats(r, &st);
	assert_int_equal(st.files, 2);
	char path[512], want[512];
	assert_int_equal(dm_recorder_path(r, path, sizeof path), 0);
	snprintf(want, sizeof want, "%s/seoul-fr-20250301T135900Z.opus", dir);
	assert_string_equal(path, want);
	dm_recorder_free(r);
	assert_int_equal(count_files(), 2);
}

/* A recorder killed with SIGKILL after `secs` seconds of packets. */
static void killed_after(int secs, int flush_ms, char *path, size_t cap)
{
	struct dm_recorder_params p = params();
	p.flush_ms = flush_ms;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct dm_recorder *r;
		if (dm_recorder_new(&p, &r) < 0)
			_exit(1);
		for (int i = 0; i < secs * 200; i++)
			if (dm_recorder_write_at(r, pkts[i].data, pkts[i].len,
						 t_before_hour() - 600 * NS + (i + 1) * PKT_NS) < 0)
				_exit(2);
		raise(SIGKILL);
		_exit(3);
	}
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFSIGNALED(ws));
	assert_int_equal(WTERMSIG(ws), SIGKILL);
	snprintf(path, cap, "%s/seoul-fr-20250301T134955Z.opus", dir);
}

static void recorder_kill_9(void **state)
{
	(void)state;
	require_ffmpeg();
	char path[512];
	killed_after(7, 1000, path, sizeof path);
	double d = probe_duration(path);
	print_message("kill -9 after 7 s, flush_ms 1000: ffprobe %.4f s (lost %.3f s)\n", d,
		      7.0 - d);
	assert_true(d >= 6.0);
	assert_true(d <= 7.0);
	double freq;
	long n = decode(path, &freq);
	assert_true(n >= 6 * RATE);
	assert_true(fabs(freq - TONE_HZ) < 2.0);
	check_opusinfo(path, true);
	unlink(path);

	killed_after(7, 200, path, sizeof path);
	d = probe_duration(path);
	print_message("kill -9 after 7 s, flush_ms 200: ffprobe %.4f s (lost %.3f s)\n", d,
		      7.0 - d);
	assert_true(d >= 6.8);
}

/* The disk fills up (RLIMIT_FSIZE: write fails with EFBIG, as it would with
 * ENOSPC): the recorder drops and counts, reports, retries, and resumes. */
static void recorder_disk_full(void **state)
{
	(void)state;
	require_ffmpeg();
	struct rlimit old;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	struct dm_recorder_params p = params();
	p.flush_ms = 100;
	struct dm_recorder *r = new_rec(&p);
	int64_t t0 = t_before_hour() - 600 * NS;

	struct rlimit lim = {.rlim_cur = 20000, .rlim_max = old.rlim_max};
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int i = 0, rc = 0;
	for (; i < 2000 && rc == 0; i++)
		rc = dm_recorder_write_at(r, pkts[i].data, pkts[i].len, t0 + (i + 1) * PKT_NS);
	assert_int_equal(rc, DM_EIO);
	char first[512];
	assert_int_equal(dm_recorder_path(r, first, sizeof first), 0);
	char msg[600];
	assert_int_equal(dm_recorder_error(r, msg, sizeof msg), DM_EIO);
	assert_non_null(strstr(msg, first));
	assert_non_null(strstr(msg, strerror(EFBIG)));

	/* Within the retry interval: dropped, counted, no new file. */
	int64_t failed_at = t0 + i * PKT_NS;
	int stop = i + 200; /* 1 s */
	for (; i < stop; i++)
		assert_int_equal(
			dm_recorder_write_at(r, pkts[i].data, pkts[i].len, t0 + (i + 1) * PKT_NS),
			DM_EIO);
	struct dm_recorder_stats st;
	dm_recorder_get_stats(r, &st);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.dropped, 201);
	assert_int_equal(count_files(), 1);

	/* A retry that still fails leaves no empty file behind. */
	lim.rlim_cur = 60; /* the OpusHead page fits, the OpusTags one not */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	int64_t later = failed_at + DM_RECORDER_RETRY_MS * 1000000LL;
	assert_int_equal(dm_recorder_write_at(r, pkts[i].data, pkts[i].len, later), DM_EIO);
	i++;
	dm_recorder_get_stats(r, &st);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.dropped, 202);
	assert_int_equal(count_files(), 1);
	assert_int_equal(dm_recorder_error(r, NULL, 0), DM_EIO);

	/* Space is back: the next retry opens a new file and recording resumes. */
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	int64_t t1 = later + DM_RECORDER_RETRY_MS * 1000000LL;
	for (int k = 0; k < 400; k++, i++)
		assert_int_equal(
			dm_recorder_write_at(r, pkts[i].data, pkts[i].len, t1 + k * PKT_NS), 0);
	assert_int_equal(dm_recorder_error(r, msg, sizeof msg), 0);
	assert_string_equal(msg, "");
	char second[512];
	assert_int_equal(dm_recorder_path(r, second, sizeof second), 0);
	assert_string_not_equal(first, second);
	dm_recorder_get_stats(r, &st);
	assert_int_equal(st.files, 2);
	assert_int_equal(st.dropped, 202);
	assert_true(st.errors >= 2);
	dm_recorder_free(r);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(count_files(), 2);

	/* What reached the first file is readable; the second is whole. */
	double d1 = probe_duration(first), d2 = probe_duration(second);
	print_message("disk full: first file %.3f s, after recovery %.3f s\n", d1, d2);
	assert_true(d1 > 1.0);
	assert_true(fabs(d2 - PREROLL_S - 2.0) <= 0.02);
	double freq;
	assert_int_equal(decode(second, &freq), 400 * FRAME);
	assert_true(fabs(freq - TONE_HZ) < 2.0);
	check_opusinfo(second, false);
}

/* Packets stop for 3 s (the engine lost JACK) and resume: the file keeps the
 * wall clock's time, the gap filled with silence; short hiccups are not. */
static void recorder_gap(void **state)
{
	(void)state;
	require_ffmpeg();
	struct dm_recorder_params p = params();
	struct dm_recorder *r = new_rec(&p);
	int64_t t0 = t_before_hour() - 600 * NS;
	feed(r, 0, 400, t0);			 /* 2 s */
	feed(r, 400, 800, t0 + 3 * NS);		 /* 3 s later, 2 s more */
	feed(r, 800, 900, t0 + 3 * NS + NS / 2); /* a 0.5 s hiccup: not filled */
	struct dm_recorder_stats st;
	dm_recorder_get_stats(r, &st);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.gap_samples, 3 * RATE / 2880 * 2880);
	char path[512];
	assert_int_equal(dm_recorder_path(r, path, sizeof path), 0);
	dm_recorder_free(r);
	double d = probe_duration(path);
	print_message("2 s + 3 s gap + 2 s + 0.5 s hiccup + 0.5 s: %.4f s\n", d);
	assert_true(fabs(d - 7.5) <= 0.075);
	double freq;
	long n = decode(path, &freq);
	assert_true(labs(n - (long)(7.5 * RATE)) <= RATE / 10);
	check_opusinfo(path, false);
}

/* Two starts within one second never overwrite: the second file gets "-1";
 * close then write begins a new file. */
static void recorder_no_overwrite(void **state)
{
	(void)state;
	struct dm_recorder_params p = params();
	int64_t t0 = t_before_hour() - 600 * NS;
	struct dm_recorder *a = new_rec(&p), *b = new_rec(&p);
	feed(a, 0, 100, t0);
	feed(b, 0, 50, t0);
	char pa[512], pb[512], want[512];
	assert_int_equal(dm_recorder_path(a, pa, sizeof pa), 0);
	assert_int_equal(dm_recorder_path(b, pb, sizeof pb), 0);
	snprintf(want, sizeof want, "%s/seoul-fr-20250301T134955Z-1.opus", dir);
	assert_string_equal(pb, want);
	assert_int_equal(dm_recorder_close(a), 0);
	assert_int_equal(dm_recorder_close(a), 0); /* nothing open: fine */
	dm_recorder_free(b);
	struct stat sa;
	assert_int_equal(stat(pa, &sa), 0);
	struct dm_recorder_stats st;
	dm_recorder_get_stats(a, &st);
	assert_int_equal((uint64_t)sa.st_size, st.bytes);

	feed(a, 100, 150, t0 + 10 * NS);
	dm_recorder_get_stats(a, &st);
	assert_int_equal(st.files, 2);
	dm_recorder_free(a);
	assert_int_equal(count_files(), 3);
}

/* The directory disappears (an unmounted disk): dropped with DM_ENOENT,
 * resumed once it is back. */
static void recorder_dir_removed(void **state)
{
	(void)state;
	char sub[128];
	snprintf(sub, sizeof sub, "%s/sub", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	struct dm_recorder_params p = params();
	p.dir = sub;
	struct dm_recorder *r = new_rec(&p);
	assert_int_equal(rmdir(sub), 0);
	int64_t t0 = t_before_hour() - 600 * NS;
	assert_int_equal(dm_recorder_write_at(r, pkts[0].data, pkts[0].len, t0), DM_ENOENT);
	char msg[600];
	assert_int_equal(dm_recorder_error(r, msg, sizeof msg), DM_ENOENT);
	assert_non_null(strstr(msg, strerror(ENOENT)));
	assert_int_equal(mkdir(sub, 0700), 0);
	/* Before the retry interval: still dropped. */
	assert_int_equal(dm_recorder_write_at(r, pkts[1].data, pkts[1].len, t0 + NS), DM_ENOENT);
	int64_t t1 = t0 + DM_RECORDER_RETRY_MS * 1000000LL;
	feed(r, 2, 100, t1);
	struct dm_recorder_stats st;
	dm_recorder_get_stats(r, &st);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.dropped, 2);
	assert_int_equal(st.packets, 98);
	assert_int_equal(dm_recorder_error(r, NULL, 0), 0);
	dm_recorder_free(r);
	rm_dir(sub);
}

static void recorder_bad_args(void **state)
{
	(void)state;
	struct dm_recorder *r = NULL;
	struct dm_recorder_params p = params();
	assert_int_equal(dm_recorder_new(NULL, &r), DM_EINVAL);
	assert_int_equal(dm_recorder_new(&p, NULL), DM_EINVAL);
	const char *bad_ids[] = {"", "a b", "fr/x", "../x", "abcdefghijklmnopqrstuvwxyz0123456"};
	for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
		p = params();
		p.channel_id = bad_ids[i];
		assert_int_equal(dm_recorder_new(&p, &r), DM_EINVAL);
		p = params();
		p.conference_id = bad_ids[i];
		assert_int_equal(dm_recorder_new(&p, &r), DM_EINVAL);
	}
	struct {
		int field, value;
	} bad[] = {{0, -1}, {0, 65536}, {1, 59}, {1, 86401}, {1, -1}, {2, -1}, {2, 60001}};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		p = params();
		int *f[] = {&p.pre_skip, &p.rotate_s, &p.flush_ms};
		*f[bad[i].field] = bad[i].value;
		assert_int_equal(dm_recorder_new(&p, &r), DM_EINVAL);
	}
	p = params();
	p.language = "fr_FR";
	assert_int_equal(dm_recorder_new(&p, &r), DM_EINVAL);
	p = params();
	p.dir = NULL;
	assert_int_equal(dm_recorder_new(&p, &r), DM_EINVAL);
	p.dir = "";
	assert_int_equal(dm_recorder_new(&p, &r), DM_EINVAL);
	p.dir = "/nonexistent/dragoman";
	assert_int_equal(dm_recorder_new(&p, &r), DM_ENOENT);
	p.dir = "/etc/hostname";
	assert_int_equal(dm_recorder_new(&p, &r), DM_EINVAL);
	if (geteuid() != 0) { /* root may write anywhere */
		char ro[128];
		snprintf(ro, sizeof ro, "%s/ro", dir);
		assert_int_equal(mkdir(ro, 0500), 0);
		p.dir = ro;
		assert_int_equal(dm_recorder_new(&p, &r), DM_EIO);
		rmdir(ro);
	}
	p = params();
	p.conference_id = NULL;
	assert_int_equal(dm_recorder_new(&p, &r), DM_EINVAL);
	p = params();
	p.channel_id = NULL;
	assert_int_equal(dm_recorder_new(&p, &r), DM_EINVAL);
	assert_null(r);

	p = params();
	p.dir = "/tmp/"; /* a trailing slash is fine */
	r = new_rec(&p);
	dm_recorder_free(r);
	p = params();
	r = new_rec(&p);
	char path[512];
	assert_int_equal(dm_recorder_path(r, path, sizeof path), DM_ENOENT);
	assert_int_equal(dm_recorder_path(NULL, path, sizeof path), DM_EINVAL);
	assert_int_equal(dm_recorder_path(r, NULL, 1), DM_EINVAL);
	assert_int_equal(dm_recorder_write_at(NULL, pkts[0].data, pkts[0].len, NS), DM_EINVAL);
	assert_int_equal(dm_recorder_write_at(r, NULL, 10, NS), DM_EINVAL);
	assert_int_equal(dm_recorder_write_at(r, pkts[0].data, pkts[0].len, -1), DM_EINVAL);
	static uint8_t big[2000];
	assert_int_equal(dm_recorder_write_at(r, big, sizeof big, NS), DM_EINVAL);
	assert_int_equal(dm_recorder_write_at(r, pkts[0].data, 0, NS), DM_EPROTO);
	const uint8_t code3_no_frames[] = {0x03, 0x00};
	assert_int_equal(dm_recorder_write_at(r, code3_no_frames, 2, NS), DM_EPROTO);
	assert_int_equal(dm_recorder_write(NULL, pkts[0].data, pkts[0].len), DM_EINVAL);
	assert_int_equal(dm_recorder_close(NULL), DM_EINVAL);
	assert_int_equal(dm_recorder_error(NULL, NULL, 0), DM_EINVAL);
	assert_int_equal(count_files(), 0); /* refused packets open nothing */

	/* The real clock works too; a small buffer is refused. */
	assert_int_equal(dm_recorder_write(r, pkts[0].data, pkts[0].len), 0);
	assert_int_equal(dm_recorder_path(r, path, 8), DM_ENOSPC);
	assert_int_equal(dm_recorder_path(r, path, sizeof path), 0);
	assert_non_null(strstr(path, "/seoul-fr-"));
	dm_recorder_free(r);
	dm_recorder_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(recorder_ten_seconds, setup, teardown),
		cmocka_unit_test_setup_teardown(recorder_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(recorder_tags, setup, teardown),
		cmocka_unit_test_setup_teardown(recorder_hour_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(recorder_rotate_period, setup, teardown),
		cmocka_unit_test_setup_teardown(recorder_kill_9, setup, teardown),
		cmocka_unit_test_setup_teardown(recorder_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(recorder_gap, setup, teardown),
		cmocka_unit_test_setup_teardown(recorder_no_overwrite, setup, teardown),
		cmocka_unit_test_setup_teardown(recorder_dir_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(recorder_bad_args, setup, teardown),
	};
	return cmocka_run_group_tests_name("recorder", tests, group_setup, NULL);
}
