/* dragoman: memory that held secrets is cleared before it is freed.
 *
 * jansson keeps every string of a JSON document it parses or builds (channel
 * keys, session keys, delegate tokens in the control API's answers and in
 * what the remote listener receives) in blocks that it frees without
 * clearing. dm_secmem_json_install makes it allocate through
 * dm_secmem_alloc and free through dm_secmem_free, which clears every block
 * first. dm_secmem_curl_init does the same for libcurl, whose receive buffers
 * hold the same answers on their way in. */
#ifndef DRAGOMAN_SECMEM_H
#define DRAGOMAN_SECMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* malloc(n): its blocks may be freed with free() too (then uncleared).
 * Returns NULL when out of memory. Thread: any. */
void *dm_secmem_alloc(size_t n);

/* Clears a block from dm_secmem_alloc or malloc (all of it, as glibc's
 * malloc_usable_size counts it), then frees it. NULL is ignored. Thread:
 * any. */
void dm_secmem_free(void *p);

/* Installs dm_secmem_alloc/dm_secmem_free as jansson's allocator
 * (json_set_alloc_funcs), for the whole process. Call once at program
 * start, before other threads start (jansson's setting is a plain global).
 * Values made before still free correctly: the blocks are malloc's. Returns
 * 0. */
int dm_secmem_json_install(void);

/* curl_global_init(CURL_GLOBAL_DEFAULT) with libcurl's memory functions
 * replaced (curl_global_init_mem): every block libcurl frees, its download
 * buffer among them, is cleared first, and a block it reallocates is cleared
 * where it was. Call it instead of curl_global_init, once at program start,
 * before other threads start. Returns 0, or DM_EIO when libcurl refuses.
 * (TLS keeps a copy of the plaintext too: clients set OpenSSL's
 * SSL_OP_CLEANSE_PLAINTEXT for that, see clients/common/tls_pin.h.) */
int dm_secmem_curl_init(void);

/* Bytes cleared by dm_secmem_free since the process started (for tests and
 * statistics). Thread: any. */
uint64_t dm_secmem_cleared(void);

#ifdef __cplusplus
}
#endif
#endif
