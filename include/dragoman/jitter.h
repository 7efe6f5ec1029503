/* dragoman: the listener's packet jitter buffer. Orders packets by sequence
 * number, drops duplicates and late packets, and decides when a missing packet
 * is lost (so the decoder conceals it). Pure logic: no clock of its own, no
 * threads; the caller passes the time. */
#ifndef DRAGOMAN_JITTER_H
#define DRAGOMAN_JITTER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dm_jitter;

struct dm_jitter_stats {
	uint64_t received;   /* packets accepted into the buffer */
	uint64_t lost;	     /* sequence numbers given up on (concealed) */
	uint64_t late;	     /* arrived after their turn had passed (dropped) */
	uint64_t reordered;  /* arrived out of order but in time */
	uint64_t duplicates; /* arrived twice (dropped) */
	uint64_t resets;     /* restarts on a large jump (engine restart) */
};

/* What dm_jitter_pop produced. */
enum dm_jitter_result {
	DM_JITTER_EMPTY = 0,  /* nothing to play yet */
	DM_JITTER_PACKET = 1, /* the next packet in order, copied out */
	DM_JITTER_LOST = 2,   /* the next packet is lost: conceal one frame */
};

/* capacity: packets held at most (2..32768). max_payload: largest payload
 * (> 0). Returns 0 and *out, DM_EINVAL or DM_ENOMEM. */
int dm_jitter_new(size_t capacity, size_t max_payload, struct dm_jitter **out);
void dm_jitter_free(struct dm_jitter *j);

/* Forgets everything (new stream); statistics are kept. */
void dm_jitter_reset(struct dm_jitter *j);

/* How long (microseconds) a gap is waited for once a later packet is there,
 * before the missing one is declared lost. Default 0: lost as soon as a later
 * packet is there and the caller pops. */
void dm_jitter_set_reorder_wait(struct dm_jitter *j, uint64_t us);

/* Inserts a packet that arrived at now_us. The first packet (after _new,
 * _reset or a restart) sets the expected sequence. A jump of capacity or more
 * ahead of the expected sequence, or of more than capacity behind it (restart
 * of the sender), resets the buffer (counted in resets) and starts from this
 * packet. Returns 0; DM_EREPLAY for a duplicate of a packet held; DM_EAGAIN for
 * a late packet, i.e. one whose turn has passed (played or concealed; counted,
 * dropped); DM_ENOSPC for a payload larger than max_payload; DM_EINVAL (j NULL,
 * or payload NULL with len > 0). A packet arriving after a later one counts as
 * reordered. */
int dm_jitter_put(struct dm_jitter *j, uint16_t seq, uint32_t ts, const uint8_t *payload,
		  size_t len, uint64_t now_us);

/* Takes the next frame in order. If the next packet is missing but a later one
 * is held, it is declared lost (DM_JITTER_LOST, counted) once the oldest held
 * packet arrived at least the reorder wait before now_us, or at once with
 * force (the output is about to run dry); with nothing later held, EMPTY.
 * Copies the payload to buf (cap bytes) and its length to *len for
 * DM_JITTER_PACKET (*len is 0 otherwise); *seq gets the sequence number
 * popped or concealed (seq may be NULL). Returns an enum dm_jitter_result;
 * DM_ENOSPC if the packet is larger than cap (it stays, for a retry);
 * DM_EINVAL (j or len NULL, or buf NULL with cap > 0). */
int dm_jitter_pop(struct dm_jitter *j, uint64_t now_us, int force, uint8_t *buf, size_t cap,
		  size_t *len, uint16_t *seq);

/* Packets held now. */
size_t dm_jitter_count(const struct dm_jitter *j);

/* True if the packet after the next one is held (for Opus in-band FEC: the
 * next packet can be rebuilt from it). Copies it like dm_jitter_pop without
 * consuming it. Returns 1 if copied, 0 if not held, DM_ENOSPC (cap too small)
 * or DM_EINVAL (as for dm_jitter_pop). */
int dm_jitter_peek_after_next(const struct dm_jitter *j, uint8_t *buf, size_t cap, size_t *len);

/* The same for the next expected packet itself. Right after dm_jitter_pop
 * returned DM_JITTER_LOST, that is the packet following the lost one, whose
 * Opus in-band FEC rebuilds it. */
int dm_jitter_peek_next(const struct dm_jitter *j, uint8_t *buf, size_t cap, size_t *len);

void dm_jitter_get_stats(const struct dm_jitter *j, struct dm_jitter_stats *st);

#ifdef __cplusplus
}
#endif
#endif
