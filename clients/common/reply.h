/* dragoman clients: an HTTP answer as libcurl delivers it, in a buffer that
 * grows up to a limit (dragomanctl, dragoman-monitor, dragoman-listen
 * --remote). */
#ifndef DRAGOMAN_CLIENT_REPLY_H
#define DRAGOMAN_CLIENT_REPLY_H

#include <stdbool.h>
#include <stddef.h>

struct dm_reply {
	char *p;       /* the bytes so far, NUL-terminated once any came; malloc'd */
	size_t len;    /* without the NUL */
	size_t cap;    /* allocated */
	size_t max;    /* the most accepted; 0: DM_REPLY_MAX */
	bool overflow; /* more came than max: the transfer was stopped */
};

#define DM_REPLY_MAX (4 * 1024 * 1024)

/* A CURLOPT_WRITEFUNCTION with CURLOPT_WRITEDATA a struct dm_reply: appends
 * size * n bytes. Returns them, or 0 (libcurl then fails the transfer) when
 * the answer would pass max (sets overflow) or memory runs out. A buffer
 * that grows is moved, the old one cleared. Set len to 0 to reuse the
 * buffer; clear and free p when done. */
size_t dm_reply_write(char *p, size_t size, size_t n, void *user);

#endif
