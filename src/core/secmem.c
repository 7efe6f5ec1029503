/* Cleared-on-free allocation (include/dragoman/secmem.h). */
#include "dragoman/secmem.h"

#include <jansson.h>
#include <malloc.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdlib.h>

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

uint64_t dm_secmem_cleared(void)
{
	return atomic_load_explicit(&cleared, memory_order_relaxed);
}
