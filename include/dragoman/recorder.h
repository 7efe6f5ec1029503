/* dragoman: recording of one channel as Ogg Opus files (RFC 7845) made from
 * the very Opus packets that were sent: libogg only, no re-encoding.
 *
 * One recorder per channel, written by one thread at a time: either directly
 * (dm_recorder_write_at) or, in the engine, through its queue: the channel's
 * encoder worker pushes each packet it sends (dm_recorder_push: a copy, no
 * syscall) and a recording thread drains the queues every
 * DM_RECORDER_DRAIN_MS (dm_recorder_drain) and does the Ogg framing and the
 * file work, so that a slow or stalled disk never delays the send path, and
 * the per-packet work runs in one sweep with warm caches rather than between
 * the worker's encodes with cold ones. Its statistics and error state may be
 * read from any thread.
 *
 * Files: DIR/<conference>-<channel>-<YYYYMMDDTHHMMSSZ>.opus, named by the UTC
 * time of their first packet, created with O_EXCL and mode 0600 (recordings are
 * as confidential as the streams), "-1", "-2", ... appended when the name is
 * taken: nothing is ever overwritten. A recorder opens its first file at its
 * first packet (so every engine start begins a new file), then a new one on
 * every UTC boundary of rotate_s seconds since the epoch: with the default 3600,
 * on the hour (14:00:00Z), whatever time recording started. A file that does
 * not begin the recording starts with about 80 ms of the packets before its
 * start as decoder pre-roll, covered by its pre-skip, so it decodes cleanly
 * from its first sample and consecutive files add up to the whole recording.
 *
 * Time: a file's timeline follows the wall clock. When packets stop for a while
 * (the engine lost JACK) and come back within the same file, the gap, if over
 * DM_RECORDER_GAP_MS, is filled with encoded silence, so a file's duration is
 * the time it covers and a position in it maps to a time of day. A file closed
 * by an error or by rotation simply ends with its last packet.
 *
 * Durability: pages are written (write(2), no fsync: that would stall the
 * writer) as libogg fills them and forcibly whenever flush_ms of audio would
 * otherwise be held in memory; one packet is held back until the next so that
 * the last one can carry the end-of-stream flag. A kill -9 of the engine thus
 * loses less than flush_ms of recorded audio, plus what waited in the queue
 * when it goes through one (the engine shortens flush_ms by twice
 * DM_RECORDER_DRAIN_MS to stay within DM_RECORDER_FLUSH_MS; what the kernel
 * has accepted survives the process); the unfinished file has no end-of-stream page, which
 * ffmpeg and opusinfo accept. A power cut may lose what the kernel had not yet
 * written back.
 *
 * Errors: a failed write (full disk, EFBIG, EIO) or a file that cannot be
 * created never stops the caller: the recorder abandons the file, drops and
 * counts packets, remembers the error (dm_recorder_error), and tries a new
 * file every DM_RECORDER_RETRY_MS, so recording resumes by itself when space
 * is back. A file whose headers cannot be written is removed, so retries do not
 * litter the directory with empty files. */
#ifndef DRAGOMAN_RECORDER_H
#define DRAGOMAN_RECORDER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DM_RECORDER_ROTATE_S 3600 /* a new file on every UTC hour */
#define DM_RECORDER_FLUSH_MS 1000 /* most audio a kill -9 may lose */
#define DM_RECORDER_RETRY_MS 5000 /* after an error, try a new file this often */
/* The engine's recording thread drains the queues this often. */
#define DM_RECORDER_DRAIN_MS 100
/* Each recorder's queue: 16 s of a 64 kb/s channel in 5 ms packets, 4 s at
 * 510 kb/s: a disk that stalls for seconds loses nothing. */
#define DM_RECORDER_QUEUE_BYTES (256 * 1024)
#define DM_RECORDER_GAP_MS 1000 /* longer silences in the packet flow are filled */
#define DM_RECORDER_PREROLL_MS                                                                     \
	80 /* decoder pre-roll at the start of a follow-on                                         \
	      file (RFC 7845 recommends 80 ms) */

struct dm_recorder;

struct dm_recorder_params {
	const char *dir;	     /* an existing, writable directory */
	const char *conference_id;   /* [A-Za-z0-9_-], as in the configuration */
	const char *conference_name; /* optional, for TITLE; default: the id */
	const char *channel_id;	     /* [A-Za-z0-9_-] */
	const char *channel_name;    /* optional, for TITLE; default: the id */
	const char *language;	     /* BCP 47 ([A-Za-z0-9-]); NULL: "und" */
	int pre_skip;		     /* samples at 48 kHz, 0..65535: the encoder's
					OPUS_GET_LOOKAHEAD (120 for RESTRICTED_LOWDELAY) */
	int rotate_s;		     /* 0: DM_RECORDER_ROTATE_S; else 60..86400 */
	int flush_ms;		     /* 0: DM_RECORDER_FLUSH_MS; else 1..60000 */
};

struct dm_recorder_stats {
	uint64_t packets;     /* packets written into files (pre-roll excluded) */
	uint64_t bytes;	      /* bytes written into files, Ogg framing included */
	uint64_t files;	      /* files created */
	uint64_t dropped;     /* packets not recorded because of a file error or a
			       * full queue (the recording thread too far behind) */
	uint64_t errors;      /* times the recorder lost its file (or failed a retry) */
	uint64_t gap_samples; /* silence inserted for gaps in the packet flow */
};

/* Creates a recorder; opens no file yet (the first packet does). The OpusTags
 * of its files carry TITLE=<conference name> - <channel name>,
 * LANGUAGE=<language>, ENCODER=dragoman and DATE=<UTC start of the file>.
 * Returns 0 and *out; DM_EINVAL (a NULL, a bad id or language, a value out of
 * range, a path too long, dir not a directory); DM_ENOENT (dir does not
 * exist); DM_EIO (dir not writable); DM_ECODEC; DM_ENOMEM. Thread: control. */
int dm_recorder_new(const struct dm_recorder_params *p, struct dm_recorder **out);

/* Closes the current file (dm_recorder_close: the queued packets go in
 * first) and frees r. NULL is a no-op. No thread may be pushing. */
void dm_recorder_free(struct dm_recorder *r);

/* Records one Opus packet (mono, 48 kHz, as sent: the RTP payload before
 * SRTP), now_ns being the wall clock (CLOCK_REALTIME, ns since the epoch) when
 * it was sent: it names files, places rotations and measures gaps, and tests
 * pass their own. Opens, rotates and flushes files as described above. Returns
 * 0 when the packet went into a file; DM_EIO (or DM_ENOENT: the directory is
 * gone) when it was dropped because of a file error (counted; details in
 * dm_recorder_error); DM_EPROTO when it is not a valid Opus packet (ignored);
 * DM_EINVAL. Thread: the channel's worker. No allocation in steady state (libogg
 * may grow its buffers during the first seconds); a file is opened only at the
 * first packet, at rotation and on retries. */
int dm_recorder_write_at(struct dm_recorder *r, const uint8_t *pkt, size_t len, int64_t now_ns);

/* dm_recorder_write_at at CLOCK_REALTIME's now. */
int dm_recorder_write(struct dm_recorder *r, const uint8_t *pkt, size_t len);

/* Producer side of the recorder's queue (the channel's worker, the only
 * producer): copies one Opus packet (as for dm_recorder_write_at) with
 * CLOCK_REALTIME's now into the queue, for dm_recorder_drain. Returns 0,
 * DM_EAGAIN (the queue is full: the packet is dropped and counted) or
 * DM_EINVAL (r or pkt NULL, len 0 or over DM_MAX_OPUS_PAYLOAD). No
 * allocation, no lock, no syscall (the clock is the vDSO's). */
int dm_recorder_push(struct dm_recorder *r, const uint8_t *pkt, size_t len);

/* Consumer side: records every packet queued by dm_recorder_push before the
 * call (not those pushed meanwhile: the call's work is bounded), in
 * order, each at the time it was pushed (dm_recorder_write_at; its errors
 * are the recorder's error state and counters, as there). Returns how many
 * packets it took (0 when none), or DM_EINVAL (r NULL). Thread: the one
 * writing the recorder (in the engine, the recording thread). */
int dm_recorder_drain(struct dm_recorder *r);

/* Finishes the current file, after the packets still queued (as
 * dm_recorder_drain): the held-back packet goes out with the
 * end-of-stream flag and every page is written. The recorder stays usable: a
 * later write starts a new file. Returns 0 (also when there was no file) or
 * DM_EIO when the last pages could not be written; DM_EINVAL. Thread: the
 * worker, or any while the worker is stopped. */
int dm_recorder_close(struct dm_recorder *r);

/* The recorder's error state: 0 while it records (or has not started), else the
 * DM_E* code of the error that is making it drop packets, with a message
 * naming the file and the system's reason ("No space left on device") copied
 * into msg (cap bytes, NUL-terminated; msg may be NULL). The state clears when
 * a new file has been opened and written: an alarm for the technicians is this
 * value being non-zero. Thread: any. */
int dm_recorder_error(const struct dm_recorder *r, char *msg, size_t cap);

/* The path of the file being written, or of the last one when none is open.
 * Returns 0, DM_ENOENT when no file was ever opened, DM_ENOSPC when cap is too
 * small, DM_EINVAL. Thread: any. */
int dm_recorder_path(const struct dm_recorder *r, char *buf, size_t cap);

/* Statistics; safe from any thread (relaxed atomics). */
void dm_recorder_get_stats(const struct dm_recorder *r, struct dm_recorder_stats *st);

#ifdef __cplusplus
}
#endif
#endif
