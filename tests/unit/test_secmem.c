/* Unit tests of cleared-on-free allocation (src/core/secmem.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(secmem_alloc_free),
		cmocka_unit_test(secmem_json),
	};
	return cmocka_run_group_tests_name("secmem", tests, NULL, NULL);
}
