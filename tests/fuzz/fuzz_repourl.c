/*
 * fuzz_repourl.c — the repository URL normaliser. Property: the normal form is
 * a fixed point (normalising it again changes nothing), and it names http(s).
 */
#include "fuzz.h"

#include "repourl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = strndup((const char *)data, size);
	char *once, *twice;

	if (url == NULL)
		abort();
	once = repo_url_normalize(url);
	if (once != NULL) {
		fuzz_check(strncmp(once, "https://", 8) == 0 || strncmp(once, "http://", 7) == 0);
		twice = repo_url_normalize(once);
		if (twice == NULL || strcmp(once, twice) != 0)
			fprintf(stderr, "\"%s\" -> \"%s\" -> \"%s\"\n", url, once, twice != NULL ? twice : "(null)");
		fuzz_check(twice != NULL && strcmp(once, twice) == 0);
		free(twice);
	}
	free(once);
	free(url);
	return 0;
}
