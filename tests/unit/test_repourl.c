/*
 * test_repourl.c — repo_url_normalize() (src/repourl.h), as a table of cases.
 *
 * Covers: the three URL forms a GitLab push names its project by (web_url,
 * git_http_url, git_ssh_url) and the ssh:// form with a port all normalise to
 * the same "https://host/path"; scheme and host are lower-cased (the path is
 * not); a trailing "/", ".git" and user info are dropped; http:// stays http://;
 * an https port is kept while an SSH port is dropped; input that is not a
 * repository URL (empty, no host, no path, unknown scheme) gives NULL. And
 * repo_url_gitlab_branch(): which GitLab API serves which repo, and the
 * project path and branch URL-encoded as GitLab's API wants them.
 * Pure: no files, no environment.
 */
#include "repourl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define GOLDEN "https://gitlab.example.net/platform/golden-images"

struct norm_case {
	const char *name;
	const char *in;
	const char *want; /* NULL: not a repository URL */
};

/* Every way of naming the golden-images project: all must compare equal. */
static const struct norm_case same_repo[] = {
	{ "web_url", "https://gitlab.example.net/platform/golden-images", GOLDEN },
	{ "git_http_url", "https://gitlab.example.net/platform/golden-images.git", GOLDEN },
	{ "git_ssh_url", "git@gitlab.example.net:platform/golden-images.git", GOLDEN },
	{ "ssh:// with port", "ssh://git@gitlab.example.net:2222/platform/golden-images.git", GOLDEN },
	{ "ssh:// without user", "ssh://gitlab.example.net/platform/golden-images.git", GOLDEN },
	{ "scp-like without user", "gitlab.example.net:platform/golden-images.git", GOLDEN },
	{ "upper-case host", "https://GitLab.Example.NET/platform/golden-images", GOLDEN },
	{ "upper-case scheme", "HTTPS://gitlab.example.net/platform/golden-images", GOLDEN },
	{ "upper-case ssh host", "git@GITLAB.EXAMPLE.NET:platform/golden-images.git", GOLDEN },
	{ "trailing slash", "https://gitlab.example.net/platform/golden-images/", GOLDEN },
	{ ".git and trailing slash", "https://gitlab.example.net/platform/golden-images.git/", GOLDEN },
	{ "userinfo user", "https://deploy@gitlab.example.net/platform/golden-images.git", GOLDEN },
	{ "userinfo user:password", "https://oauth2:glpat-xyz@gitlab.example.net/platform/golden-images", GOLDEN },
	{ "query and fragment", "https://gitlab.example.net/platform/golden-images?x=1#readme", GOLDEN },
	{ "surrounding blanks", "  https://gitlab.example.net/platform/golden-images.git \n", GOLDEN },
};

/* Forms that keep something the cases above drop, or drop the whole input. */
static const struct norm_case other[] = {
	{ "http stays http", "http://gitlab.example.net/platform/golden-images.git",
	  "http://gitlab.example.net/platform/golden-images" },
	{ "http port kept", "http://gitlab.example.net:8080/platform/golden-images",
	  "http://gitlab.example.net:8080/platform/golden-images" },
	{ "https port kept", "https://gitlab.example.net:8443/platform/golden-images.git",
	  "https://gitlab.example.net:8443/platform/golden-images" },
	{ "path case kept", "https://gitlab.example.net/Platform/Golden-Images",
	  "https://gitlab.example.net/Platform/Golden-Images" },
	{ "subgroups", "git@gitlab.example.net:platform/images/golden-images.git",
	  "https://gitlab.example.net/platform/images/golden-images" },
	{ "empty", "", NULL },
	{ "blank", "   ", NULL },
	{ "bare word", "golden-images", NULL },
	{ "host only", "https://gitlab.example.net", NULL },
	{ "host and slash", "https://gitlab.example.net/", NULL },
	{ "host and .git", "https://gitlab.example.net/.git", NULL },
	{ "no host", "https:///platform/golden-images", NULL },
	{ "scp-like without path", "git@gitlab.example.net:", NULL },
	{ "scp-like without host", "git@:platform/golden-images.git", NULL },
	{ "ssh:// without path", "ssh://git@gitlab.example.net:2222", NULL },
	{ "unknown scheme", "ftp://gitlab.example.net/platform/golden-images", NULL },
	{ "file scheme", "file:///srv/git/golden-images.git", NULL },
	{ "a slash for a host", "/:p", NULL },
	{ "a host with a slash in it", "git@gitlab.example.net/x:platform/golden-images", NULL },
	{ "two @", "a@b@gitlab.example.net:platform/golden-images", NULL },
	{ "a port that is not a number", "https://gitlab.example.net:http/platform/golden-images", NULL },
	{ ".git twice", "https://gitlab.example.net/platform/golden-images.git.git",
	  "https://gitlab.example.net/platform/golden-images" },
	{ ".git then a slash then .git", "https://gitlab.example.net/platform/golden-images.git/.git/",
	  "https://gitlab.example.net/platform/golden-images" },
};

/* Inputs a fuzzer or a careless sender might send: whatever comes out must be a fixed point. */
static const char *const odd[] = {
	"/:p", ":p", "x:/p", "https:////p", "https://h//p", "https://h/p/ ", "https://h/p.GIT/",
	"https://h/p\t.git", "git@h:/p", "ssh://h:99999/p", "https://h:123456/p", "https://h/a://b",
	"https://h/p?.git", "https://h/p#x/.git", "HTTP://H:80/p", " \tgit@h:p ", "https://h/\x01",
};

/* Run every case; a failure names the case and shows input, result and expectation. */
static void check_table(const struct norm_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct norm_case *c = &cases[i];
		char *got = repo_url_normalize(c->in);
		bool ok = (got == NULL && c->want == NULL) ||
			  (got != NULL && c->want != NULL && strcmp(got, c->want) == 0);

		if (!ok)
			print_error("case \"%s\": repo_url_normalize(\"%s\") = %s%s%s, want %s%s%s", c->name, c->in,
				 got != NULL ? "\"" : "", got != NULL ? got : "NULL", got != NULL ? "\"" : "",
				 c->want != NULL ? "\"" : "", c->want != NULL ? c->want : "NULL",
				 c->want != NULL ? "\"" : "");
		free(got);
		if (!ok)
			fail_msg("case \"%s\" failed", c->name);
	}
}

static void test_same_repo_forms(void **state)
{
	(void)state;
	check_table(same_repo, sizeof same_repo / sizeof same_repo[0]);
}

static void test_other_forms(void **state)
{
	(void)state;
	check_table(other, sizeof other / sizeof other[0]);
}

static void test_null_input(void **state)
{
	(void)state;
	assert_null(repo_url_normalize(NULL));
}

/* The normal form is a fixed point: normalising it again changes nothing. */
static void test_idempotent(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof same_repo / sizeof same_repo[0]; i++) {
		char *once = repo_url_normalize(same_repo[i].in);
		char *twice = repo_url_normalize(once);
		bool ok = once != NULL && twice != NULL && strcmp(once, twice) == 0;

		free(twice);
		free(once);
		if (!ok)
			fail_msg("case \"%s\": normalising the normal form changed it", same_repo[i].name);
	}
}

/* Every odd input: NULL, or a normal form that normalises to itself. */
static void test_idempotent_on_odd_input(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
		char *once = repo_url_normalize(odd[i]);
		char *twice = once != NULL ? repo_url_normalize(once) : NULL;
		bool ok = once == NULL || (twice != NULL && strcmp(once, twice) == 0);

		if (!ok)
			print_error("\"%s\" -> \"%s\" -> %s\n", odd[i], once, twice != NULL ? twice : "NULL");
		free(twice);
		free(once);
		if (!ok)
			fail_msg("normalising \"%s\" twice changed it", odd[i]);
	}
}

/* The GitLab API URL of a branch: which API serves which repo, and the encodings. */
/* GitLab's project paths ignore case: normal forms that differ only so name one repo. */
static void test_equal_ignores_case(void **state)
{
	static const struct {
		const char *a, *b;
		bool equal;
	} cases[] = {
		{ GOLDEN, GOLDEN, true },
		{ GOLDEN, "https://gitlab.example.net/Platform/Golden-Images", true },
		{ GOLDEN, "https://gitlab.example.net/PLATFORM/GOLDEN-IMAGES", true },
		{ GOLDEN, "https://gitlab.example.net/platform/golden-image", false },
		{ GOLDEN, "http://gitlab.example.net/platform/golden-images", false },
		{ GOLDEN, "https://gitlab.example.net/platform/golden_images", false },
		{ GOLDEN, NULL, false },
		{ NULL, NULL, false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (repo_url_equal(cases[i].a, cases[i].b) != cases[i].equal)
			fail_msg("repo_url_equal(%s, %s) != %d", cases[i].a ? cases[i].a : "NULL",
				 cases[i].b ? cases[i].b : "NULL", cases[i].equal);
	/* every form of the push, in any case, normalises to forms that compare equal */
	{
		static const char *const forms[] = { "git@GitLab.example.net:Platform/Golden-Images.git",
						     "ssh://git@gitlab.example.net:2222/platform/GOLDEN-images.git",
						     "HTTPS://gitlab.example.net/platform/golden-images.git/" };

		for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
			char *n = repo_url_normalize(forms[i]);

			assert_non_null(n);
			if (!repo_url_equal(n, GOLDEN))
				fail_msg("%s → %s, not the same repo as %s", forms[i], n, GOLDEN);
			free(n);
		}
	}
}

static void test_gitlab_branch_url(void **state)
{
	static const struct {
		const char *name, *repo, *api, *branch, *want; /* want NULL: the API does not serve the repo */
	} cases[] = {
		{ "plain", GOLDEN, "https://gitlab.example.net", "main",
		  "https://gitlab.example.net/api/v4/projects/platform%2Fgolden-images/repository/branches/main" },
		{ "trailing slash on the API", GOLDEN, "https://gitlab.example.net/", "main",
		  "https://gitlab.example.net/api/v4/projects/platform%2Fgolden-images/repository/branches/main" },
		{ "host in another case", GOLDEN, "https://GitLab.Example.NET", "main",
		  "https://GitLab.Example.NET/api/v4/projects/platform%2Fgolden-images/repository/branches/main" },
		{ "subgroups", "https://gitlab.example.net/a/b/c/images", "https://gitlab.example.net", "main",
		  "https://gitlab.example.net/api/v4/projects/a%2Fb%2Fc%2Fimages/repository/branches/main" },
		{ "branch with slash and space", GOLDEN, "https://gitlab.example.net", "release/2025 q1",
		  "https://gitlab.example.net/api/v4/projects/platform%2Fgolden-images/repository/branches/release%2F2025%20q1" },
		{ "unreserved kept", "https://gitlab.example.net/pl.at-f_o~rm/x", "https://gitlab.example.net", "v1.2_rc-3~x",
		  "https://gitlab.example.net/api/v4/projects/pl.at-f_o~rm%2Fx/repository/branches/v1.2_rc-3~x" },
		{ "non-ASCII encoded by byte", GOLDEN, "https://gitlab.example.net", "caf\xc3\xa9",
		  "https://gitlab.example.net/api/v4/projects/platform%2Fgolden-images/repository/branches/caf%C3%A9" },
		{ "relative-URL GitLab", "https://host.example/gitlab/platform/images", "https://host.example/gitlab/", "main",
		  "https://host.example/gitlab/api/v4/projects/platform%2Fimages/repository/branches/main" },
		{ "same port", "https://gitlab.example.net:8443/p/x", "https://gitlab.example.net:8443", "main",
		  "https://gitlab.example.net:8443/api/v4/projects/p%2Fx/repository/branches/main" },
		{ "another host", GOLDEN, "https://gitlab.other.net", "main", NULL },
		{ "a host that only starts the same", GOLDEN, "https://gitlab.example.ne", "main", NULL },
		{ "another scheme", GOLDEN, "http://gitlab.example.net", "main", NULL },
		{ "another port", "https://gitlab.example.net:8443/p/x", "https://gitlab.example.net", "main", NULL },
		{ "repo outside the API's path", "https://host.example/other/p", "https://host.example/gitlab", "main", NULL },
		{ "API path only a prefix of a segment", "https://host.example/gitlabx/p", "https://host.example/gitlab",
		  "main", NULL },
		{ "no scheme on the API", GOLDEN, "gitlab.example.net", "main", NULL },
		{ "empty branch", GOLDEN, "https://gitlab.example.net", "", NULL },
		{ "a space in the API's URL", "https://h.example/a b/p", "https://h.example/a b", "main", NULL },
		{ "a non-ASCII API URL", "https://h.example/\xc3\xa9/p", "https://h.example/\xc3\xa9", "main", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *got = repo_url_gitlab_branch(cases[i].repo, cases[i].api, cases[i].branch);
		bool ok = cases[i].want == NULL ? got == NULL : got != NULL && strcmp(got, cases[i].want) == 0;

		if (!ok)
			print_error("%s: got %s\n", cases[i].name, got != NULL ? got : "NULL");
		free(got);
		if (!ok)
			fail_msg("case \"%s\"", cases[i].name);
	}
	assert_null(repo_url_gitlab_branch(NULL, "https://gitlab.example.net", "main"));
	assert_null(repo_url_gitlab_branch(GOLDEN, NULL, "main"));
	assert_null(repo_url_gitlab_branch(GOLDEN, "https://gitlab.example.net", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_repo_forms),
		cmocka_unit_test(test_other_forms),
		cmocka_unit_test(test_null_input),
		cmocka_unit_test(test_idempotent),
		cmocka_unit_test(test_idempotent_on_odd_input),
		cmocka_unit_test(test_equal_ignores_case),
		cmocka_unit_test(test_gitlab_branch_url),
	};

	return cmocka_run_group_tests_name("repourl", tests, NULL, NULL);
}
