/*
 * fuzz_gitlab.c — a GitLab delivery: the first line is the X-Gitlab-Event
 * header (and the Idempotency-Key), the rest the body. Runs the kind, the push
 * parser, the dedup key and the facts of a push. Properties: a parsed push has
 * lower-case hex before/after of 40 (SHA-1) or 64 (SHA-256) digits and a
 * normal-form repo URL; facts point into valid strings.
 */
#include "fuzz.h"
#include "fuzz_common.h"

#include "crypto.h"
#include "facts.h"
#include "gitlab.h"
#include "repourl.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 40 or 64 lower-case hex digits: a SHA-1 or SHA-256 commit id (all zeros for none). */
static bool commit_shaped(const char *s)
{
	size_t n = strlen(s);

	return (n == 40 || n == 64) && strspn(s, "0123456789abcdef") == n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_config();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hlen = nl != NULL ? (size_t)(nl - data) : 0;
	char *header = strndup((const char *)data, hlen);
	const char *body = nl != NULL ? (const char *)nl + 1 : (const char *)data;
	size_t blen = nl != NULL ? size - hlen - 1 : size;
	json_t *doc = json_loadb(body, blen, 0, NULL);
	char kind_buf[64], sha[65], *key = NULL, *id = NULL;
	struct gitlab_push push;
	struct amicd_error err;

	if (header == NULL)
		abort();
	crypto_sha256_hex(body, blen, sha);
	if (gitlab_dedup_key(header[0] != '\0' ? header : NULL, header, sha, &key, &id)) {
		fuzz_check(key != NULL);
		free(key);
		free(id);
	}
	if (doc != NULL) {
		const char *kind = gitlab_event_kind(header[0] != '\0' ? header : NULL, doc, kind_buf, sizeof kind_buf);

		if (kind != NULL)
			fuzz_check(strlen(kind) < sizeof kind_buf || kind != kind_buf);
		if (gitlab_push_parse(doc, &push, &err) == AMICD_OK) {
			struct fact_list facts = { 0 };

			fuzz_check(commit_shaped(push.before) && commit_shaped(push.after));
			fuzz_check(push.repo_urls[0] != NULL);
			{
				char *again = repo_url_normalize(push.repo_urls[0]);

				fuzz_check(again != NULL && strcmp(again, push.repo_urls[0]) == 0);
				free(again);
			}
			gitlab_push_clear(&push);
			if (facts_from_event(fuzz_config(), "gitlab", "push", doc, &facts, &err) == AMICD_OK)
				for (size_t i = 0; i < facts.n; i++)
					fuzz_check(facts.items[i].repo != NULL && facts.items[i].after != NULL);
			fact_list_free(&facts);
		}
		json_decref(doc);
	}
	free(header);
	return 0;
}
