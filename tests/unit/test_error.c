/*
 * test_error.c — the error table (error.c) is the single source of each
 * code's HTTP status, Retry-After and its line in docs/api.md: the docs'
 * error table is read and compared with the code, row by row, both ways.
 */
#include "error.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct doc_row {
	char code[64];
	unsigned status;
	unsigned retry_after;
	char meaning[512];
};

/* The rows of the table under "| code | status | Retry-After | meaning |" in docs/api.md. */
static size_t read_docs_table(struct doc_row *rows, size_t max)
{
	const char *data = getenv("AMICD_TEST_DATA");
	char path[PATH_MAX], line[1024];
	size_t n = 0;
	bool in_table = false;
	FILE *f;

	snprintf(path, sizeof path, "%s/../../docs/api.md", data != NULL ? data : "tests/data");
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot read %s (set AMICD_TEST_DATA)", path);
	while (fgets(line, sizeof line, f) != NULL && n < max) {
		struct doc_row *r = &rows[n];
		char retry[16] = "";

		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, "| code | status | Retry-After | meaning |") == 0) {
			in_table = true;
			continue;
		}
		if (!in_table || strncmp(line, "| ---", 5) == 0)
			continue;
		if (line[0] != '|')
			break; /* the table ended */
		memset(r, 0, sizeof *r);
		/* | `code` | status | retry | meaning | */
		if (sscanf(line, "| `%63[a-z_]` | %u | %15[0-9 ]| %511[^\n]", r->code, &r->status, retry, r->meaning) < 3)
			if (sscanf(line, "| `%63[a-z_]` | %u |  | %511[^\n]", r->code, &r->status, r->meaning) != 3)
				fail_msg("docs/api.md: a row of the error table does not parse: %s", line);
		r->retry_after = (unsigned)strtoul(retry, NULL, 10);
		if (strlen(r->meaning) >= 2 && strcmp(r->meaning + strlen(r->meaning) - 2, " |") == 0)
			r->meaning[strlen(r->meaning) - 2] = '\0';
		n++;
	}
	fclose(f);
	if (!in_table)
		fail_msg("docs/api.md has no error table (| code | status | Retry-After | meaning |)");
	return n;
}

static void test_docs_table_matches_the_code(void **state)
{
	struct doc_row rows[64];
	size_t n = read_docs_table(rows, 64);

	(void)state;
	assert_true(n > 0);
	/* every documented row is a code, with its status, Retry-After and line */
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (int rc = 0; rc < AMICD_RC_COUNT; rc++) {
			if (strcmp(amicd_rc_code((enum amicd_rc)rc), rows[i].code) != 0)
				continue;
			found = true;
			if (!amicd_rc_answered((enum amicd_rc)rc))
				fail_msg("%s is documented but never an HTTP answer", rows[i].code);
			assert_int_equal(rows[i].status, amicd_rc_http_status((enum amicd_rc)rc));
			assert_int_equal(rows[i].retry_after, amicd_rc_retry_after((enum amicd_rc)rc));
			assert_string_equal(rows[i].meaning, amicd_rc_doc((enum amicd_rc)rc));
		}
		if (!found)
			fail_msg("docs/api.md documents %s, which the code does not have", rows[i].code);
	}
	/* every code an HTTP answer can carry is documented, once */
	for (int rc = 0; rc < AMICD_RC_COUNT; rc++) {
		size_t seen = 0;

		for (size_t i = 0; i < n; i++)
			seen += strcmp(amicd_rc_code((enum amicd_rc)rc), rows[i].code) == 0;
		if (amicd_rc_answered((enum amicd_rc)rc) && seen != 1)
			fail_msg("%s is an HTTP answer documented %zu times in docs/api.md", amicd_rc_code((enum amicd_rc)rc),
				 seen);
	}
}

/* A 503 always says when to come back; nothing else does. */
static void test_retry_after_only_on_503(void **state)
{
	(void)state;
	for (int rc = 0; rc < AMICD_RC_COUNT; rc++) {
		bool is_503 = amicd_rc_http_status((enum amicd_rc)rc) == 503;

		if (is_503 != (amicd_rc_retry_after((enum amicd_rc)rc) > 0))
			fail_msg("%s: status %u, Retry-After %u", amicd_rc_code((enum amicd_rc)rc),
				 amicd_rc_http_status((enum amicd_rc)rc), amicd_rc_retry_after((enum amicd_rc)rc));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_docs_table_matches_the_code),
		cmocka_unit_test(test_retry_after_only_on_503),
	};

	return cmocka_run_group_tests_name("error", tests, NULL, NULL);
}
