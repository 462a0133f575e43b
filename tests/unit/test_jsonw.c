/*
 * test_jsonw.c — jsonw.c writes what jansson's json_dumps(JSON_COMPACT) writes
 * for the same values (jansson is the oracle: stored headers and log lines
 * were jansson's before and are read back by jansson), and stays valid JSON
 * for bytes jansson refuses (not UTF-8).
 */
#include "jsonw.h"
#include "utf8.h"

#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Both writers' text for {"k": value}. */
static void assert_same(json_t *value, void (*write)(struct jsonw *, const void *), const void *arg,
			int dump_flags)
{
	json_t *obj = json_object();
	struct jsonw w = { 0 };
	char *want, *got;

	assert_non_null(value);
	json_object_set_new(obj, "k", value);
	want = json_dumps(obj, JSON_COMPACT | dump_flags);
	jsonw_begin_object(&w);
	jsonw_key(&w, "k");
	write(&w, arg);
	jsonw_end_object(&w);
	got = jsonw_finish(&w, NULL);
	assert_non_null(want);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(want);
	free(got);
	json_decref(obj);
}

static void write_string(struct jsonw *w, const void *arg) { jsonw_string(w, arg); }
static void write_int(struct jsonw *w, const void *arg) { jsonw_int(w, *(const long long *)arg); }
static void write_real6(struct jsonw *w, const void *arg) { jsonw_real(w, *(const double *)arg, 6); }
static void write_real17(struct jsonw *w, const void *arg) { jsonw_real(w, *(const double *)arg, 0); }

static void test_strings_as_jansson(void **state)
{
	static const char *const cases[] = {
		"", "plain", "quote \" and backslash \\ and slash /", "\b\f\n\r\t", "\x01\x02\x1f\x7f",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\xe2\x80\xa8 line separator", "ends in newline\n",
		"application/json; charset=utf-8",
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_same(json_string(cases[i]), write_string, cases[i], 0);
}

static void test_numbers_as_jansson(void **state)
{
	static const long long ints[] = { 0, 1, -1, 42, 1741077600000LL, INT64_MAX, INT64_MIN };
	static const double reals[] = { 0.0, 1.0, -1.0, 0.5, 1.234567891, 3.0e-7, 1.0e21, 123456789.0, 2.5e-300,
					-0.001, 100.0, 1e6, 1234567.0 };

	(void)state;
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
		assert_same(json_integer(ints[i]), write_int, &ints[i], 0);
	for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
		assert_same(json_real(reals[i]), write_real6, &reals[i], JSON_REAL_PRECISION(6));
		assert_same(json_real(reals[i]), write_real17, &reals[i], 0);
	}
}

static void test_objects_and_literals(void **state)
{
	struct jsonw w = { 0 };
	char *got;
	size_t len;

	(void)state;
	jsonw_begin_object(&w);
	jsonw_key(&w, "a");
	jsonw_bool(&w, true);
	jsonw_key(&w, "b");
	jsonw_bool(&w, false);
	jsonw_key(&w, "c");
	jsonw_string(&w, NULL);
	jsonw_key(&w, "d");
	jsonw_begin_object(&w);
	jsonw_end_object(&w);
	jsonw_key(&w, "e");
	jsonw_real(&w, NAN, 6);
	jsonw_end_object(&w);
	got = jsonw_finish(&w, &len);
	assert_string_equal(got, "{\"a\":true,\"b\":false,\"c\":null,\"d\":{},\"e\":null}");
	assert_int_equal(len, strlen(got));
	free(got);

	/* nothing written: an empty string, not NULL */
	got = jsonw_finish(&w, &len);
	assert_non_null(got);
	assert_string_equal(got, "");
	free(got);
}

/* Bytes that are not UTF-8 (jansson refuses them) are written as utf8_escape shows them, still valid JSON. */
static void test_not_utf8_is_escaped(void **state)
{
	static const char *const bad[] = { "\xff\xfe", "cut \xe2\x82", "back\\slash \xc0\xaf" };

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct jsonw w = { 0 };
		char *got, *escaped = utf8_escape(bad[i]);
		json_t *doc;

		jsonw_begin_object(&w);
		jsonw_key(&w, bad[i]);
		jsonw_string(&w, bad[i]);
		jsonw_end_object(&w);
		got = jsonw_finish(&w, NULL);
		doc = json_loads(got, 0, NULL);
		assert_non_null(doc);
		assert_string_equal(json_string_value(json_object_get(doc, escaped)), escaped);
		json_decref(doc);
		free(got);
		free(escaped);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strings_as_jansson),
		cmocka_unit_test(test_numbers_as_jansson),
		cmocka_unit_test(test_objects_and_literals),
		cmocka_unit_test(test_not_utf8_is_escaped),
	};

	return cmocka_run_group_tests_name("jsonw", tests, NULL, NULL);
}
