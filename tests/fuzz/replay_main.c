/*
 * replay_main.c — run a fuzz harness over files, without libFuzzer: each
 * argument is a file or a directory of files, each file one input. Without
 * arguments, the program named fuzz_replay_<name> runs its seeds and every
 * crash ever found: $AMICD_FUZZ_DIR/seeds/<name> and …/regressions/<name>
 * (AMICD_FUZZ_DIR defaults to tests/fuzz). Used by `make test`; the harness
 * aborts (a non-zero exit) when an input still fails.
 */
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long len;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "cannot read %s\n", path);
		if (f != NULL)
			fclose(f);
		return 1;
	}
	buf = malloc((size_t)len + 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "cannot read %s\n", path);
		free(buf);
		fclose(f);
		return 1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int failed = 0, inputs = 0;

	char seeds[1024], regressions[1024];
	char *defaults[3] = { argv[0], seeds, regressions };
	const char *name = strrchr(argv[0], '/') != NULL ? strrchr(argv[0], '/') + 1 : argv[0];
	const char *dir = getenv("AMICD_FUZZ_DIR") != NULL ? getenv("AMICD_FUZZ_DIR") : "tests/fuzz";

	LLVMFuzzerInitialize(&argc, &argv);
	if (argc == 1) {
		if (strncmp(name, "fuzz_replay_", 12) == 0)
			name += 12;
		snprintf(seeds, sizeof seeds, "%s/seeds/%s", dir, name);
		snprintf(regressions, sizeof regressions, "%s/regressions/%s", dir, name);
		argc = 3;
		argv = defaults;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		DIR *d;
		struct dirent *e;

		if (stat(argv[i], &st) != 0)
			continue;
		if (!S_ISDIR(st.st_mode)) {
			failed += run_file(argv[i]);
			inputs++;
			continue;
		}
		d = opendir(argv[i]);
		while (d != NULL && (e = readdir(d)) != NULL) {
			char path[4096];

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				failed += run_file(path);
				inputs++;
			}
		}
		if (d != NULL)
			closedir(d);
	}
	/* in cmocka's words, so scripts/run-tests.sh counts it: one test, every input */
	printf("[==========] %s: %d inputs replayed (seeds and every crash ever found)\n", name, inputs);
	printf(failed != 0 || inputs == 0 ? "[  FAILED  ] 1 test(s).\n" : "[  PASSED  ] 1 test(s).\n");
	return failed != 0 || inputs == 0;
}
