/* Cleared-on-free allocation (include/dragoman/secmem.h). */
#include "dragoman/secmem.h"

#include <curl/curl.h>
#include <jansson.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dragoman/error.h"

static _Atomic uint64_t cleared;

/* Plain malloc, no header of our own: a block jansson hands out (the text of
 * json_dumps) stays valid for free(), so no caller can mix the two up; glibc
 * knows each block's size (malloc_usable_size). */
void *dm_secmem_alloc(size_t n)
{
	return malloc(n);
}

void dm_secmem_free(void *p)
{
	if (!p)
		return;
	size_t n = malloc_usable_size(p);
	/* OPENSSL_cleanse: a memset before free may be removed by the compiler. */
	OPENSSL_cleanse(p, n);
	atomic_fetch_add_explicit(&cleared, n, memory_order_relaxed);
	free(p);
}

int dm_secmem_json_install(void)
{
	json_set_alloc_funcs(dm_secmem_alloc, dm_secmem_free);
	return 0;
}

/* realloc could move the block and free the old one uncleared: always move, clearing. */
static void *secmem_realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	if (n == 0) {
		dm_secmem_free(p);
		return NULL;
	}
	void *q = malloc(n);
	if (!q)
		return NULL;
	size_t old = malloc_usable_size(p);
	memcpy(q, p, old < n ? old : n);
	dm_secmem_free(p);
	return q;
}

int dm_secmem_curl_init(void)
{
	/* strdup and calloc allocate with malloc: dm_secmem_free takes their blocks. */
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, dm_secmem_alloc, dm_secmem_free,
				 secmem_realloc, strdup, calloc) != CURLE_OK)
		return DM_EIO;
	return 0;
}

uint64_t dm_secmem_cleared(void)
{
	return atomic_load_explicit(&cleared, memory_order_relaxed);
}
