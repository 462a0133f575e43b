/*
 * test_demo.c — `make demo` still tells its story: $AMICD_DEMO_BIN (build/demo)
 * run from the repository root on examples/amicd.yml and the fixtures exits 0
 * (promoted, trigger received, amicd stopped cleanly), says so, and leaves no
 * temp dir behind. Skipped when AMICD_DEMO_BIN is not set.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void demo_promotes_and_cleans_up(void **state)
{
	const char *demo = getenv("AMICD_DEMO_BIN");
	const char *bin = getenv("AMICD_BIN");
	const char *data = getenv("AMICD_TEST_DATA");
	char root[PATH_MAX], cmd[3 * PATH_MAX], line[1024], tmpdir[PATH_MAX] = "";
	char *out = NULL;
	size_t len = 0;
	FILE *f = NULL, *mem;
	const char *at;
	struct stat st;
	int status;

	(void)state;
	if (demo == NULL || bin == NULL || data == NULL)
		skip();
	snprintf(root, sizeof root, "%s", data);
	snprintf(root, sizeof root, "%s", dirname(dirname(root))); /* …/tests/data → the repository */
	snprintf(cmd, sizeof cmd, "cd '%s' && '%s' '%s' examples/amicd.yml tests/data 2>&1", root, demo, bin);
	mem = open_memstream(&out, &len);
	assert_non_null(mem);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f) != NULL)
		fputs(line, mem);
	status = pclose(f);
	fclose(mem);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the demo failed (status %d):\n%s", status, out);
	assert_non_null(strstr(out, "state:       waiting"));
	assert_non_null(strstr(out, "state:       up_to_date"));
	assert_non_null(strstr(out, "\"image_id\": \"ami-08fdc871471476ef5\""));
	assert_non_null(strstr(out, "amicd stopped (exit 0)"));
	at = strstr(out, "removing ");
	assert_non_null(at);
	sscanf(at + strlen("removing "), "%4095s", tmpdir);
	assert_int_not_equal(stat(tmpdir, &st), 0); /* the temp dir is gone */
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(demo_promotes_and_cleans_up),
	};

	return h_run_tests("integration: make demo", tests, NULL, NULL);
}
