/*
 * test_jsonarena.c — jsonarena.c: a body parsed into the thread's block is the
 * document json_loadb gives; a second document parsed while the first holds
 * the block uses malloc, and either can be released first; a document larger
 * than the block spills to malloc; after release the block is reused; other
 * threads have blocks of their own. Run under ASan, a node freed with the
 * wrong allocator, or a block reused while a document lives in it, is caught.
 */
#include "jsonarena.h"

#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char small[] = "{\"object_kind\":\"push\",\"ref\":\"refs/heads/main\",\"n\":[1,2,3],"
			    "\"project\":{\"web_url\":\"https://gitlab.example.net/a/b\",\"empty\":{}}}";

/* A document of n commits: far more than one block holds when n is large. */
static char *big_body(int n)
{
	size_t cap = (size_t)n * 96 + 64, len = 0;
	char *s = malloc(cap);

	assert_non_null(s);
	len += (size_t)snprintf(s + len, cap - len, "{\"commits\":[");
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s{\"id\":\"%040d\",\"message\":\"commit number %d\"}",
					i > 0 ? "," : "", i, i);
	snprintf(s + len, cap - len, "]}");
	return s;
}

static void assert_same_as_json_loadb(const char *text)
{
	json_t *want = json_loads(text, 0, NULL);
	json_t *got = jsonarena_loadb(text, strlen(text), 0, NULL);

	assert_non_null(want);
	assert_non_null(got);
	assert_true(json_equal(want, got));
	jsonarena_release(got);
	json_decref(want);
}

static void test_same_document(void **state)
{
	char *big = big_body(2000);

	(void)state;
	assert_same_as_json_loadb(small);
	assert_same_as_json_loadb(big);  /* spills past the block */
	assert_same_as_json_loadb(small); /* the block is reused */
	free(big);
}

static void test_two_documents_either_order(void **state)
{
	json_t *a, *b, *c;

	(void)state;
	a = jsonarena_loadb(small, strlen(small), 0, NULL);
	b = jsonarena_loadb(small, strlen(small), 0, NULL); /* a holds the block: b is malloc'd */
	assert_non_null(a);
	assert_non_null(b);
	assert_true(json_equal(a, b));
	jsonarena_release(b);                               /* does not free the block for a third */
	c = jsonarena_loadb(small, strlen(small), 0, NULL);
	assert_true(json_equal(a, c));
	jsonarena_release(a);
	jsonarena_release(c);
	/* values made outside a parse, and changes to a parsed document, are plain malloc */
	a = jsonarena_loadb(small, strlen(small), 0, NULL);
	assert_int_equal(json_object_set_new(a, "added", json_string("later")), 0);
	assert_int_equal(json_object_del(a, "ref"), 0);
	b = json_pack("{s:s}", "k", "v");
	jsonarena_release(a);
	json_decref(b);
}

static void test_malformed(void **state)
{
	json_error_t err;

	(void)state;
	assert_null(jsonarena_loadb("{\"a\":", 5, 0, &err));
	assert_true(err.line == 1);
	assert_same_as_json_loadb(small); /* a failed parse left the block free */
}

static void *thread_parse(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200; i++) {
		json_t *doc = jsonarena_loadb(small, strlen(small), 0, NULL);

		if (doc == NULL || json_object_size(doc) != 4)
			return (void *)1;
		jsonarena_release(doc);
	}
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t t[4];
	void *rc;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, thread_parse, NULL), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &rc), 0);
		assert_null(rc);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_document),
		cmocka_unit_test(test_two_documents_either_order),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_threads),
	};

	jsonarena_install();
	return cmocka_run_group_tests_name("jsonarena", tests, NULL, NULL);
}
