#include "dragoman/recorder.h"

#include "dragoman/defaults.h"
#include "dragoman/error.h"
#include "dragoman/log.h"
#include "dragoman/pktq.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <ogg/ogg.h>
#include <opus/opus.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000LL
#define SAMPLES_PER_MS (DM_SAMPLE_RATE / 1000)
#define PREROLL_SAMPLES (DM_RECORDER_PREROLL_MS * SAMPLES_PER_MS)
/* The shortest Opus packet is 2.5 ms: the pre-roll plus the packet that
 * triggers a new file always fit. */
#define RING_SLOTS (DM_RECORDER_PREROLL_MS * 2 / 5 + 2)
#define SILENCE_SAMPLES 2880 /* 60 ms: the longest single-encode Opus frame */
#define DATE_LEN 20	     /* "2025-03-01T14:00:00Z" */
#define OPUS_HEAD_LEN 19

/* len and samples first: a small packet's slot is one cache line. */
struct slot {
	size_t len;
	int samples;
	uint8_t data[DM_MAX_OPUS_PAYLOAD];
};

/* Room for DIR/conf-chan-YYYYMMDDTHHMMSSZ-NN.opus within PATH_MAX. */
#define DIR_MAX (PATH_MAX - 128)

/* The fields every packet touches come first, together: a channel's
 * recorder is written once a frame, between which the worker's other
 * channels push it out of the cache; spread over the paths between them, the
 * misses made dm_recorder_write_at's own time 0.9 % of the engine's CPU. */
struct dm_recorder {
	/* The producer's (dm_recorder_push) alone, on a line of its own: the
	 * writer's fields below change at every packet it writes. */
	alignas(64) struct dm_pktq *queue;
	_Atomic uint64_t queue_full; /* packets dm_recorder_push dropped */

	alignas(64) int64_t now; /* of the write being handled */
	int64_t file_slot;	 /* rotation period the file belongs to */
	int64_t rotate_s;
	int64_t flush_samples;
	int64_t file_t0;    /* wall-clock time of the file's first audio sample */
	int64_t granule;    /* samples handed to libogg, pre-roll included */
	int64_t written_gp; /* granule of the last page written */
	int64_t audio;	    /* audio samples in the file, held-back packet included */
	int64_t last_try;
	int fd; /* -1: no file open */
	bool failed;
	bool os_ready;
	/* The ring's position: see ring below. */
	unsigned ring_next, ring_count;
	bool pending;
	_Atomic uint64_t packets, bytes, files, dropped, errors, gap_samples;

	ogg_stream_state os;

	/* The latest packets: the pre-roll of the next file; the newest is the
	 * held-back one while pending is set. */
	struct slot ring[RING_SLOTS];

	char dir[DIR_MAX];
	char conf_id[DM_ID_MAX];
	char channel_id[DM_ID_MAX];
	int pre_skip;

	uint8_t *tags; /* OpusTags, built once; only the DATE value changes */
	size_t tags_len;
	size_t date_off;

	uint8_t silence[128];
	size_t silence_len;

	char cur_path[PATH_MAX];

	/* What other threads may read (and the counters above). */
	pthread_mutex_t lock;
	int err;
	char errmsg[PATH_MAX + 64];
	char path[PATH_MAX];
};

static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static bool valid_token(const char *s, bool underscore)
{
	size_t n = strlen(s);
	if (n == 0 || n >= DM_ID_MAX)
		return false;
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || (underscore && c == '_')))
			return false;
	}
	return true;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t *put_str(uint8_t *p, const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	put_le32(p, (uint32_t)(la + lb + lc));
	p += 4;
	memcpy(p, a, la);
	memcpy(p + la, b, lb);
	memcpy(p + la + lb, c, lc);
	return p + la + lb + lc;
}

/* OpusTags (RFC 7845 5.2): the vendor is the library that made the packets. */
static int build_tags(struct dm_recorder *r, const char *title_a, const char *title_b,
		      const char *lang)
{
	const char *vendor = opus_get_version_string();
	size_t cap = 8 + 4 + strlen(vendor) + 4 + 4 * (4 + 16) + strlen(title_a) + strlen(title_b) +
		     strlen(lang) + DATE_LEN;
	r->tags = malloc(cap);
	if (!r->tags)
		return DM_ENOMEM;
	uint8_t *p = r->tags;
	memcpy(p, "OpusTags", 8);
	p = put_str(p + 8, vendor, "", "");
	put_le32(p, 4);
	p += 4;
	p = put_str(p, "TITLE=", title_a, title_b);
	p = put_str(p, "LANGUAGE=", lang, "");
	p = put_str(p, "ENCODER=", "dragoman", "");
	p = put_str(p, "DATE=", "0000-00-00T00:00:00Z", "");
	r->date_off = (size_t)(p - r->tags) - DATE_LEN;
	r->tags_len = (size_t)(p - r->tags);
	return 0;
}

/* A 60 ms packet of digital silence from libopus, to fill gaps: CELT codes
 * silence in a few bytes, and any Opus decoder switches to it cleanly. */
static int make_silence(struct dm_recorder *r)
{
	int err;
	OpusEncoder *enc =
		opus_encoder_create(DM_SAMPLE_RATE, 1, OPUS_APPLICATION_RESTRICTED_LOWDELAY, &err);
	if (!enc)
		return DM_ECODEC;
	opus_encoder_ctl(enc, OPUS_SET_BITRATE(16000));
	opus_encoder_ctl(enc, OPUS_SET_VBR(1));
	static const float zeros[SILENCE_SAMPLES];
	int n = 0;
	/* The first frame may still carry start-up state; the second is pure. */
	for (int i = 0; i < 2 && n >= 0; i++)
		n = opus_encode_float(enc, zeros, SILENCE_SAMPLES, r->silence,
				      (opus_int32)sizeof r->silence);
	opus_encoder_destroy(enc);
	if (n <= 0 || opus_packet_get_nb_samples(r->silence, n, DM_SAMPLE_RATE) != SILENCE_SAMPLES)
		return DM_ECODEC;
	r->silence_len = (size_t)n;
	return 0;
}

int dm_recorder_new(const struct dm_recorder_params *p, struct dm_recorder **out)
{
	if (!p || !out || !p->dir || !p->conference_id || !p->channel_id)
		return DM_EINVAL;
	const char *lang = p->language ? p->language : DM_DEFAULT_FLOOR_LANGUAGE;
	if (!valid_token(p->conference_id, true) || !valid_token(p->channel_id, true) ||
	    !valid_token(lang, false) || p->pre_skip < 0 || p->pre_skip > 65535 ||
	    (p->rotate_s != 0 && (p->rotate_s < 60 || p->rotate_s > 86400)) ||
	    (p->flush_ms != 0 && (p->flush_ms < 1 || p->flush_ms > 60000)))
		return DM_EINVAL;
	size_t dlen = strlen(p->dir);
	while (dlen > 1 && p->dir[dlen - 1] == '/')
		dlen--;
	if (dlen == 0 || dlen >= DIR_MAX)
		return DM_EINVAL;
	struct stat st;
	if (stat(p->dir, &st) < 0)
		return errno == ENOENT ? DM_ENOENT : DM_EIO;
	if (!S_ISDIR(st.st_mode))
		return DM_EINVAL;
	if (access(p->dir, W_OK | X_OK) < 0)
		return DM_EIO;

	struct dm_recorder *r = aligned_alloc(64, sizeof *r);
	if (!r)
		return DM_ENOMEM;
	memset(r, 0, sizeof *r);
	r->fd = -1;
	memcpy(r->dir, p->dir, dlen);
	snprintf(r->conf_id, sizeof r->conf_id, "%s", p->conference_id);
	snprintf(r->channel_id, sizeof r->channel_id, "%s", p->channel_id);
	r->pre_skip = p->pre_skip;
	r->rotate_s = p->rotate_s ? p->rotate_s : DM_RECORDER_ROTATE_S;
	r->flush_samples =
		(int64_t)(p->flush_ms ? p->flush_ms : DM_RECORDER_FLUSH_MS) * SAMPLES_PER_MS;
	pthread_mutex_init(&r->lock, NULL);

	char title_a[DM_NAME_MAX + 4], title_b[DM_NAME_MAX];
	snprintf(title_a, sizeof title_a, "%.127s - ",
		 p->conference_name ? p->conference_name : p->conference_id);
	snprintf(title_b, sizeof title_b, "%s", p->channel_name ? p->channel_name : p->channel_id);
	int rc = build_tags(r, title_a, title_b, lang);
	if (rc == 0)
		rc = make_silence(r);
	if (rc == 0 && ogg_stream_init(&r->os, 0) != 0)
		rc = DM_ENOMEM;
	else if (rc == 0)
		r->os_ready = true;
	if (rc == 0)
		rc = dm_pktq_new(DM_RECORDER_QUEUE_BYTES, DM_MAX_OPUS_PAYLOAD, &r->queue);
	if (rc < 0) {
		dm_recorder_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static void set_error(struct dm_recorder *r, int code, const char *what, int sys_errno)
{
	bool first = !r->failed;
	r->failed = true;
	r->last_try = r->now;
	count(&r->errors, 1);
	pthread_mutex_lock(&r->lock);
	r->err = code;
	snprintf(r->errmsg, sizeof r->errmsg, "%s: %s", what, strerror(sys_errno));
	pthread_mutex_unlock(&r->lock);
	if (first)
		dm_log(DM_LOG_WARN, "recording of %s stopped: %s: %s", r->channel_id, what,
		       strerror(sys_errno));
}

/* Gives up the file after a failed write: what reached it stays readable. */
static void abandon(struct dm_recorder *r, int sys_errno)
{
	set_error(r, DM_EIO, r->cur_path, sys_errno);
	close(r->fd);
	r->fd = -1;
	r->pending = false;
}

static int write_all(struct dm_recorder *r, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(r->fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? errno : EIO;
		buf += n;
		len -= (size_t)n;
		count(&r->bytes, (uint64_t)n);
	}
	return 0;
}

/* Returns 0 or the errno of the failed write (the file is then abandoned). */
static int write_page(struct dm_recorder *r, ogg_page *og)
{
	int e = write_all(r, og->header, (size_t)og->header_len);
	if (e == 0)
		e = write_all(r, og->body, (size_t)og->body_len);
	if (e) {
		abandon(r, e);
		return e;
	}
	if (ogg_page_granulepos(og) >= 0)
		r->written_gp = ogg_page_granulepos(og);
	return 0;
}

static int write_pages(struct dm_recorder *r, bool force)
{
	ogg_page og;
	while (force ? ogg_stream_flush(&r->os, &og) : ogg_stream_pageout(&r->os, &og)) {
		int e = write_page(r, &og);
		if (e)
			return e;
	}
	return 0;
}

static void packet_in(struct dm_recorder *r, const uint8_t *data, size_t len, int samples, bool eos)
{
	r->granule += samples;
	ogg_packet op = {
		.packet = (unsigned char *)data,
		.bytes = (long)len,
		.e_o_s = eos,
		.granulepos = r->granule,
	};
	ogg_stream_packetin(&r->os, &op);
}

static struct slot *ring_newest(struct dm_recorder *r)
{
	return &r->ring[(r->ring_next + RING_SLOTS - 1) % RING_SLOTS];
}

static void ring_push(struct dm_recorder *r, const uint8_t *pkt, size_t len, int samples)
{
	struct slot *s = &r->ring[r->ring_next];
	memcpy(s->data, pkt, len);
	s->len = len;
	s->samples = samples;
	r->ring_next = (r->ring_next + 1) % RING_SLOTS;
	if (r->ring_count < RING_SLOTS)
		r->ring_count++;
}

/* How many of the newest ring packets make up the pre-roll, and their length. */
static unsigned preroll(const struct dm_recorder *r, int64_t *samples)
{
	unsigned n = 0;
	*samples = 0;
	while (n < r->ring_count && *samples < PREROLL_SAMPLES) {
		n++;
		*samples += r->ring[(r->ring_next + RING_SLOTS - n) % RING_SLOTS].samples;
	}
	return n;
}

static void format_time(int64_t ns, const char *fmt, char *buf, size_t cap)
{
	time_t t = (time_t)(ns / NS_PER_S);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, fmt, &tm);
}

static uint32_t serial_no(const struct dm_recorder *r)
{
	uint32_t s;
	if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s)
		s = (uint32_t)r->now ^ (uint32_t)(r->now >> 32) ^ (uint32_t)r->files;
	return s;
}

/* Creates the next file and writes its headers and pre-roll. Returns 0 or a
 * DM_E* code (the error state is then set). */
static int open_file(struct dm_recorder *r)
{
	char stamp[17];
	format_time(r->now, "%Y%m%dT%H%M%SZ", stamp, sizeof stamp);
	int fd = -1;
	for (int i = 0; i < 100 && fd < 0; i++) {
		char sfx[4] = "";
		if (i)
			snprintf(sfx, sizeof sfx, "-%d", i);
		snprintf(r->cur_path, sizeof r->cur_path, "%s/%s-%s-%s%s.opus", r->dir, r->conf_id,
			 r->channel_id, stamp, sfx);
		fd = open(r->cur_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		int e = errno;
		set_error(r, e == ENOENT ? DM_ENOENT : DM_EIO, r->cur_path, e);
		return r->err;
	}
	r->fd = fd;

	int64_t pre;
	unsigned n = preroll(r, &pre);
	uint8_t head[OPUS_HEAD_LEN] = {'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, 1};
	int skip = pre > r->pre_skip ? (int)pre : r->pre_skip;
	head[10] = (uint8_t)skip;
	head[11] = (uint8_t)(skip >> 8);
	put_le32(head + 12, DM_SAMPLE_RATE);
	char date[DATE_LEN + 1];
	format_time(r->now, "%Y-%m-%dT%H:%M:%SZ", date, sizeof date);
	memcpy(r->tags + r->date_off, date, DATE_LEN);
	ogg_stream_reset_serialno(&r->os, (int)serial_no(r));
	r->granule = 0;
	r->written_gp = 0;
	r->audio = 0;
	r->pending = false;

	/* RFC 7845: the ID header alone on the first page, the comment header
	 * ending its own page, audio from the next page on. */
	ogg_packet op = {.packet = head, .bytes = sizeof head, .b_o_s = 1};
	ogg_stream_packetin(&r->os, &op);
	int e = write_pages(r, true);
	if (!e) {
		op = (ogg_packet){.packet = r->tags, .bytes = (long)r->tags_len, .packetno = 1};
		ogg_stream_packetin(&r->os, &op);
		e = write_pages(r, true);
	}
	if (e) {
		/* Nothing useful in it: do not leave a stub behind every retry. */
		unlink(r->cur_path);
		return r->err;
	}
	for (unsigned i = n; i > 0; i--) {
		const struct slot *s = &r->ring[(r->ring_next + RING_SLOTS - i) % RING_SLOTS];
		packet_in(r, s->data, s->len, s->samples, false);
	}
	r->file_slot = r->now / NS_PER_S / r->rotate_s;
	count(&r->files, 1);
	bool recovered = r->failed;
	r->failed = false;
	pthread_mutex_lock(&r->lock);
	r->err = 0;
	r->errmsg[0] = 0;
	memcpy(r->path, r->cur_path, sizeof r->path);
	pthread_mutex_unlock(&r->lock);
	if (recovered)
		dm_log(DM_LOG_INFO, "recording of %s resumed in %s", r->channel_id, r->cur_path);
	return 0;
}

/* The held-back packet goes out last, flagged end-of-stream. */
static int finish_file(struct dm_recorder *r)
{
	if (r->fd < 0)
		return 0;
	if (r->pending) {
		const struct slot *s = ring_newest(r);
		packet_in(r, s->data, s->len, s->samples, true);
		r->pending = false;
	}
	if (write_pages(r, true))
		return DM_EIO;
	close(r->fd);
	r->fd = -1;
	return 0;
}

int dm_recorder_write_at(struct dm_recorder *r, const uint8_t *pkt, size_t len, int64_t now_ns)
{
	if (!r || !pkt || now_ns < 0 || len > DM_MAX_OPUS_PAYLOAD)
		return DM_EINVAL;
	int samples = len ? opus_packet_get_nb_samples(pkt, (opus_int32)len, DM_SAMPLE_RATE) : -1;
	if (samples <= 0)
		return DM_EPROTO;
	r->now = now_ns;
	if (r->fd >= 0 && now_ns / NS_PER_S / r->rotate_s != r->file_slot)
		finish_file(r);
	if (r->fd < 0) {
		int64_t since = now_ns - r->last_try;
		if ((r->failed && since >= 0 && since < DM_RECORDER_RETRY_MS * 1000000LL) ||
		    open_file(r) < 0) {
			ring_push(r, pkt, len, samples);
			count(&r->dropped, 1);
			return r->err;
		}
		r->file_t0 = now_ns - (int64_t)samples * NS_PER_S / DM_SAMPLE_RATE;
	}
	if (r->pending) {
		const struct slot *s = ring_newest(r);
		packet_in(r, s->data, s->len, s->samples, false);
	}
	/* Audio the wall clock says this file should hold by the end of this
	 * packet, against what it holds: a long shortfall is a gap in the flow. */
	int64_t due = (now_ns - r->file_t0) / 1000 * DM_SAMPLE_RATE / 1000000;
	int64_t gap = due - r->audio - samples;
	if (gap > (int64_t)DM_RECORDER_GAP_MS * SAMPLES_PER_MS) {
		int64_t n = gap / SILENCE_SAMPLES;
		for (int64_t i = 0; i < n; i++) {
			packet_in(r, r->silence, r->silence_len, SILENCE_SAMPLES, false);
			if (i >= n - RING_SLOTS)
				ring_push(r, r->silence, r->silence_len, SILENCE_SAMPLES);
			/* Keep pages small even for an hour of silence. */
			if (write_pages(r, false))
				break;
		}
		r->audio += n * SILENCE_SAMPLES;
		count(&r->gap_samples, (uint64_t)(n * SILENCE_SAMPLES));
	}
	ring_push(r, pkt, len, samples);
	if (r->fd < 0) { /* the gap's pages failed */
		count(&r->dropped, 1);
		return r->err;
	}
	r->pending = true;
	r->audio += samples;
	if (write_pages(r, false) == 0 && r->granule - r->written_gp + samples >= r->flush_samples)
		write_pages(r, true);
	if (r->fd < 0) {
		count(&r->dropped, 1);
		return r->err;
	}
	count(&r->packets, 1);
	return 0;
}

int dm_recorder_write(struct dm_recorder *r, const uint8_t *pkt, size_t len)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return dm_recorder_write_at(r, pkt, len, (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec);
}

int dm_recorder_push(struct dm_recorder *r, const uint8_t *pkt, size_t len)
{
	if (!r || !pkt || len == 0 || len > DM_MAX_OPUS_PAYLOAD)
		return DM_EINVAL;

	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (dm_pktq_push(r->queue, (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec, pkt, len) < 0) {
		count(&r->queue_full, 1);
		return DM_EAGAIN;
	}
	return 0;
}

int dm_recorder_drain(struct dm_recorder *r)
{
	const uint8_t *pkt;
	int64_t stamp;
	size_t len;
	int n = 0;

	if (!r)
		return DM_EINVAL;

	/* Only what was queued on entry (each packet takes at least its length
	 * plus DM_PKTQ_PACKET_OVERHEAD): a producer faster than the disk cannot keep the
	 * thread on one channel while the others wait. */
	size_t budget = dm_pktq_used(r->queue);

	while (budget && n < INT_MAX && (pkt = dm_pktq_peek(r->queue, &stamp, &len))) {
		dm_recorder_write_at(r, pkt, len, stamp);
		dm_pktq_pop(r->queue);
		size_t took = len + DM_PKTQ_PACKET_OVERHEAD;
		budget -= took < budget ? took : budget;
		n++;
	}
	return n;
}

int dm_recorder_close(struct dm_recorder *r)
{
	if (!r)
		return DM_EINVAL;
	dm_recorder_drain(r);
	return finish_file(r);
}

void dm_recorder_free(struct dm_recorder *r)
{
	if (!r)
		return;
	dm_recorder_drain(r);
	finish_file(r);
	if (r->os_ready)
		ogg_stream_clear(&r->os);
	free(r->tags);
	dm_pktq_free(r->queue);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int dm_recorder_error(const struct dm_recorder *r, char *msg, size_t cap)
{
	if (!r)
		return DM_EINVAL;
	struct dm_recorder *w = (struct dm_recorder *)r;
	pthread_mutex_lock(&w->lock);
	int err = r->err;
	if (msg && cap)
		snprintf(msg, cap, "%s", r->errmsg);
	pthread_mutex_unlock(&w->lock);
	return err;
}

int dm_recorder_path(const struct dm_recorder *r, char *buf, size_t cap)
{
	if (!r || !buf)
		return DM_EINVAL;
	struct dm_recorder *w = (struct dm_recorder *)r;
	pthread_mutex_lock(&w->lock);
	int rc = 0;
	if (!r->path[0])
		rc = DM_ENOENT;
	else if (strlen(r->path) >= cap)
		rc = DM_ENOSPC;
	else
		memcpy(buf, r->path, strlen(r->path) + 1);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

void dm_recorder_get_stats(const struct dm_recorder *r, struct dm_recorder_stats *st)
{
	st->packets = atomic_load_explicit(&r->packets, memory_order_relaxed);
	st->bytes = atomic_load_explicit(&r->bytes, memory_order_relaxed);
	st->files = atomic_load_explicit(&r->files, memory_order_relaxed);
	st->dropped = atomic_load_explicit(&r->dropped, memory_order_relaxed) +
		      atomic_load_explicit(&r->queue_full, memory_order_relaxed);
	st->errors = atomic_load_explicit(&r->errors, memory_order_relaxed);
	st->gap_samples = atomic_load_explicit(&r->gap_samples, memory_order_relaxed);
}
