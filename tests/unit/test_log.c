/*
 * test_log.c — log.c's lines: one JSON object per line, "ts", "level", "msg"
 * first, then the caller's fields in the order given, each of the format
 * letters log.h allows written as jansson would have packed it; a format
 * outside that subset still gives a valid line that says so.
 */
#include "log.h"

#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* Run emit with stderr sent to a temp file; the lines written. */
static char *capture(void (*emit)(void))
{
	char path[] = "/tmp/amicd-test-log.XXXXXX";
	int fd = mkstemp(path);
	int saved = dup(STDERR_FILENO);
	char *text = calloc(1, 65536);
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0 && text != NULL);
	unlink(path);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	emit();
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	n = pread(fd, text, 65535, 0);
	assert_true(n > 0);
	close(fd);
	return text;
}

static void emit_every_letter(void)
{
	LOG(LL_WARN, "every letter", "{s:s,s:s?,s:s?,s:i,s:I,s:f,s:b,s:b}", "str", "quote \" \xff", "present",
	    "x", "absent", NULL, "int", -7, "big", (json_int_t)1741077600000LL, "ms", 1.25, "yes", 1, "no", 0);
	LOG(LL_INFO, "no fields", NULL);
	LOG(LL_DEBUG, "below the threshold", "{s:s}", "k", "v");
	LOG(LL_ERROR, "bad format", "{s:o}", "obj", NULL);
}

static void test_lines(void **state)
{
	char *text = capture(emit_every_letter);
	char *line2, *line3;
	json_t *a, *b, *c;
	const char *key;
	json_t *value;
	const char *order[] = { "ts", "level", "msg", "str", "present", "absent", "int", "big", "ms", "yes", "no" };
	size_t i = 0;

	(void)state;
	line2 = strchr(text, '\n');
	assert_non_null(line2);
	*line2++ = '\0';
	line3 = strchr(line2, '\n');
	assert_non_null(line3);
	*line3++ = '\0';
	assert_non_null(strchr(line3, '\n'));
	*strchr(line3, '\n') = '\0';
	assert_string_equal(line3 + strlen(line3) + 1, ""); /* the debug line was not written */

	a = json_loads(text, JSON_DECODE_ANY, NULL);
	assert_non_null(a);
	json_object_foreach(a, key, value) {
		assert_true(i < sizeof order / sizeof order[0]);
		assert_string_equal(key, order[i++]);
	}
	(void)value;
	assert_int_equal(i, sizeof order / sizeof order[0]);
	assert_string_equal(json_string_value(json_object_get(a, "level")), "warn");
	assert_string_equal(json_string_value(json_object_get(a, "str")), "quote \" \\xff");
	assert_true(json_is_null(json_object_get(a, "absent")));
	assert_int_equal(json_integer_value(json_object_get(a, "int")), -7);
	assert_int_equal(json_integer_value(json_object_get(a, "big")), 1741077600000LL);
	assert_true(json_real_value(json_object_get(a, "ms")) == 1.25);
	assert_true(json_is_true(json_object_get(a, "yes")));
	assert_true(json_is_false(json_object_get(a, "no")));
	assert_non_null(strstr(text, "\"ms\":1.25,"));

	b = json_loads(line2, 0, NULL);
	assert_non_null(b);
	assert_int_equal(json_object_size(b), 3);
	assert_string_equal(json_string_value(json_object_get(b, "msg")), "no fields");

	c = json_loads(line3, 0, NULL);
	assert_non_null(c);
	assert_string_equal(json_string_value(json_object_get(c, "msg")), "bad format");
	assert_string_equal(json_string_value(json_object_get(c, "log_format")), "{s:o}");
	assert_non_null(json_object_get(c, "log_error"));
	json_decref(a);
	json_decref(b);
	json_decref(c);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
	};

	log_set_level_name("info");
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
