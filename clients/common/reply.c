#include "reply.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

size_t dm_reply_write(char *p, size_t size, size_t n, void *user)
{
	struct dm_reply *b = user;
	size_t k = size * n;
	size_t max = b->max ? b->max : DM_REPLY_MAX;
	if (b->len + k > max) {
		b->overflow = true;
		return 0;
	}
	if (b->len + k + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + k + 1)
			cap *= 2;
		/* Not realloc: the answer may hold keys or a token, and realloc
		 * would leave the old copy behind uncleared. */
		char *q = malloc(cap);
		if (!q)
			return 0;
		if (b->p) {
			memcpy(q, b->p, b->len);
			OPENSSL_cleanse(b->p, b->cap);
			free(b->p);
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, k);
	b->len += k;
	b->p[b->len] = '\0';
	return k;
}
