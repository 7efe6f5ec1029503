/* dragoman-monitor: the screen (ncurses). Draws a snapshot of the model into
 * stdscr; the caller refreshes. Fits 80x24 and uses any room beyond: the
 * meter bars widen, a name column appears from 110 columns, the consoles
 * panel takes one column of 40 characters per 40 columns, and the alarms and
 * calls take every line left. */
#ifndef DRAGOMAN_MONITOR_VIEW_H
#define DRAGOMAN_MONITOR_VIEW_H

#include "model.h"

#include <stdbool.h>
#include <stddef.h>

/* What the screen shows besides the engine's documents. */
struct mon_view {
	const char *url;
	const char *selected;	   /* channel id, or NULL */
	const char *listening;	   /* channel id, or NULL */
	const char *listen_status; /* a line about the listen-in, or NULL */
	bool can_listen;	   /* --config given */
	const char *message;	   /* shown on the last line instead of the help, or NULL */
	const char *prompt;	   /* a question on the last line, or NULL */
	const char *input;	   /* its answer so far */
};

/* After initscr: colours when the terminal has them. */
void mon_view_init(void);

/* Draws everything (with the model locked). */
void mon_view_draw(const struct mon_snapshot *s, const struct mon_view *v);

/* The channel ids in screen order (pointers into the snapshot, valid while it
 * is locked). Returns how many there are (at most cap are stored). */
size_t mon_view_channels(const struct mon_snapshot *s, const char **ids, size_t cap);

#endif
