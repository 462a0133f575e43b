/*
 * fuzz_repourl.c — the repository URL normaliser. Property: the normal form is
 * a fixed point (normalising it again changes nothing), and it names http(s).
 * And the GitLab branch URL built from it (the input's first line is the API's
 * URL, the second the branch): when there is one, it starts with the API's
 * URL and holds no byte a URL may not carry raw.
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
	if (once != NULL) {
		/* a GitLab API and a branch from the same bytes */
		char *nl = strchr(url, '\n');
		char *branch = nl != NULL ? nl + 1 : (char *)"main";
		char *api = url, *got;

		if (nl != NULL)
			*nl = '\0';
		got = repo_url_gitlab_branch(once, api, branch);
		if (got != NULL) {
			const char *host = strstr(api, "://");

			fuzz_check(host != NULL);
			host += 3;
			fuzz_check(strncmp(got, api, (size_t)(host - api) + strcspn(host, "/?#")) == 0);
			for (const char *p = got; *p != '\0'; p++)
				fuzz_check(*p > ' ' && *p < 0x7f);
		}
		free(got);
	}
	free(once);
	free(url);
	return 0;
}
