/* Unit tests of cleared-on-free allocation (src/core/secmem.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "dragoman/secmem.h"

static void secmem_alloc_free(void **state)
{
	(void)state;
	uint64_t before = dm_secmem_cleared();
	unsigned char *p = dm_secmem_alloc(100);
	assert_non_null(p);
	/* malloc's alignment is kept */
	assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
	memset(p, 0xa5, 100);
	dm_secmem_free(p);
	/* the whole block, malloc's rounding included */
	assert_true(dm_secmem_cleared() - before >= 100);
	before = dm_secmem_cleared();
	dm_secmem_free(NULL);
	assert_int_equal(dm_secmem_cleared() - before, 0);
	/* a block of malloc's own */
	p = malloc(40);
	assert_non_null(p);
	dm_secmem_free(p);
	assert_true(dm_secmem_cleared() - before >= 40);
	/* and one of ours may go to free() */
	free(dm_secmem_alloc(16));
}

/* After install, what jansson frees (a parsed key among others) is cleared. */
static void secmem_json(void **state)
{
	(void)state;
	assert_int_equal(dm_secmem_json_install(), 0);
	json_malloc_t m = NULL;
	json_free_t f = NULL;
	json_get_alloc_funcs(&m, &f);
	assert_ptr_equal(m, dm_secmem_alloc);
	assert_ptr_equal(f, dm_secmem_free);

	static const char key[] = "WVNlY3JldEtleU1hdGVyaWFsMDEyMzQ1Njc4OWFiY2RlZg==";
	uint64_t before = dm_secmem_cleared();
	json_t *o = json_loads("{\"channels\": [{\"id\": \"fr\", \"key\": "
			       "\"WVNlY3JldEtleU1hdGVyaWFsMDEyMzQ1Njc4OWFiY2RlZg==\"}]}",
			       0, NULL);
	assert_non_null(o);
	char *text = json_dumps(o, JSON_COMPACT);
	assert_non_null(text);
	assert_non_null(strstr(text, key));
	size_t text_len = strlen(text);
	json_decref(o);
	/* at least the key's own string */
	assert_true(dm_secmem_cleared() - before >= sizeof key);
	before = dm_secmem_cleared();
	/* json_dumps' text comes from the same allocator: freed as jansson's */
	dm_secmem_free(text);
	assert_true(dm_secmem_cleared() - before >= text_len);
}

#define BODY (64 * 1024)

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
			     const char *method, const char *version, const char *upload,
			     size_t *upload_size, void **ctx)
{
	(void)cls, (void)url, (void)method, (void)version, (void)upload, (void)upload_size;
	(void)ctx;
	static char body[BODY];
	memset(body, 'k', sizeof body);
	struct MHD_Response *r =
		MHD_create_response_from_buffer(sizeof body, body, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static size_t sink(char *data, size_t size, size_t n, void *user)
{
	(void)data;
	*(size_t *)user += size * n;
	return size * n;
}

/* After dm_secmem_curl_init, the buffers libcurl received an answer in are cleared when it
 * lets them go: at least its 16 KB download buffer. Only libcurl frees through the counter
 * here (the server is libmicrohttpd, on plain malloc). */
static void secmem_curl(void **state)
{
	(void)state;
	assert_int_equal(dm_secmem_curl_init(), 0);
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
						serve, NULL, MHD_OPTION_END);
	assert_non_null(d);
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/", (unsigned)info->port);

	uint64_t before = dm_secmem_cleared();
	CURL *c = curl_easy_init();
	assert_non_null(c);
	size_t got = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	assert_int_equal(got, BODY);
	curl_easy_cleanup(c);
	assert_true(dm_secmem_cleared() - before >= CURL_MAX_WRITE_SIZE);
	MHD_stop_daemon(d);
	curl_global_cleanup();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(secmem_alloc_free),
		cmocka_unit_test(secmem_json),
		cmocka_unit_test(secmem_curl),
	};
	return cmocka_run_group_tests_name("secmem", tests, NULL, NULL);
}
