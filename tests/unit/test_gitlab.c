/*
 * test_gitlab.c — unit tests of gitlab.h: the kind of a delivery, the facts of
 * a push body (with the JSON path of every malformed field) and the dedup key.
 *
 * Fixtures: tests/data/gitlab-*.json, found through AMICD_TEST_DATA (set by
 * `make test`), else "tests/data". Broken bodies are built from the push
 * fixture by deleting or changing one field, so every case differs from a
 * realistic delivery by exactly what it tests.
 */
#include "gitlab.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define REPO_URL "https://gitlab.example.net/platform/golden-images"
#define ZERO_SHA "0000000000000000000000000000000000000000"
#define BODY_SHA "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

struct fixtures {
	json_t *push;
	json_t *push_delete;
	json_t *tag_push;
};

static int group_setup(void **state)
{
	struct fixtures *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	f->push = support_fixture_json("gitlab-push.json");
	f->push_delete = support_fixture_json("gitlab-push-branch-delete.json");
	f->tag_push = support_fixture_json("gitlab-tag-push.json");
	*state = f;
	if (f->push == NULL || f->push_delete == NULL || f->tag_push == NULL)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	struct fixtures *f = *state;

	if (f == NULL)
		return 0;
	json_decref(f->push);
	json_decref(f->push_delete);
	json_decref(f->tag_push);
	free(f);
	return 0;
}

/* --- gitlab_event_kind ------------------------------------------------------ */

struct kind_case {
	const char *header;       /* X-Gitlab-Event, NULL when absent */
	const char *body;         /* JSON text, NULL for no body */
	const char *want;         /* NULL: the delivery says nothing */
};

static const struct kind_case kind_cases[] = {
	{ "Push Hook", "{\"object_kind\":\"push\"}", "push" },
	{ "Push Hook", "{}", "push" },
	{ "Push Hook", NULL, "push" },
	{ "Tag Push Hook", "{\"object_kind\":\"tag_push\"}", "tag_push" },
	{ "Tag Push Hook", "{}", "tag_push" },
	{ "Merge Request Hook", "{\"object_kind\":\"merge_request\"}", "merge_request" },
	{ "Merge Request Hook", "{}", "merge_request" },
	{ "Merge Request Hook", "{\"object_kind\":\"\"}", "merge_request" },
	/* GitLab's job events say "build" in the body: the body wins */
	{ "Job Hook", "{\"object_kind\":\"build\"}", "build" },
	{ "Job Hook", "{}", "job" },
	{ "Pipeline Hook", "{\"object_kind\":\"pipeline\"}", "pipeline" },
	{ "Pipeline Hook", "{\"object_kind\":42}", "pipeline" },
	/* system hooks are one kind, whatever the body says (amicd wants project or group hooks) */
	{ "System Hook", "{\"object_kind\":\"push\"}", "system" },
	{ "System Hook", "{\"object_kind\":\"tag_push\"}", "system" },
	{ "System Hook", "{\"event_name\":\"push\"}", "system" },
	{ "System Hook", "{\"object_kind\":\"merge_request\"}", "system" },
	{ "System Hook", "{}", "system" },
	{ "System Hook", NULL, "system" },
	/* no header: only object_kind can say */
	{ NULL, "{\"object_kind\":\"push\"}", "push" },
	{ NULL, "{\"object_kind\":\"tag_push\"}", "tag_push" },
	{ "", "{\"object_kind\":\"merge_request\"}", "merge_request" },
	{ NULL, "{}", NULL },
	{ NULL, "{\"object_kind\":\"\"}", NULL },
	{ NULL, "{\"object_kind\":null}", NULL },
	{ NULL, "[]", NULL },
	{ NULL, NULL, NULL },
	{ "", "{}", NULL },
	{ "", NULL, NULL },
};

static void test_event_kind_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof kind_cases / sizeof kind_cases[0]; i++) {
		const struct kind_case *c = &kind_cases[i];
		json_t *body = NULL;
		char buf[64];
		const char *got;

		if (c->body != NULL) {
			body = json_loads(c->body, JSON_DECODE_ANY, NULL);
			assert_non_null(body);
		}
		memset(buf, 'x', sizeof buf);
		got = gitlab_event_kind(c->header, body, buf, sizeof buf);
		if (c->want == NULL) {
			if (got != NULL)
				print_error("case %zu (%s, %s): got \"%s\", want NULL\n", i,
					    c->header ? c->header : "(none)", c->body ? c->body : "(none)", got);
			assert_null(got);
		} else {
			if (got == NULL || strcmp(got, c->want) != 0)
				print_error("case %zu (%s, %s): got %s%s%s, want \"%s\"\n", i,
					    c->header ? c->header : "(none)", c->body ? c->body : "(none)",
					    got ? "\"" : "", got ? got : "NULL", got ? "\"" : "", c->want);
			assert_non_null(got);
			assert_string_equal(got, c->want);
		}
		json_decref(body);
	}
}

/* A kind taken from object_kind points into the body (no copy, no buffer). */
static void test_event_kind_points_into_body(void **state)
{
	struct fixtures *f = *state;
	char buf[32];
	const char *got = gitlab_event_kind("Push Hook", f->push, buf, sizeof buf);

	assert_ptr_equal(got, json_string_value(json_object_get(f->push, "object_kind")));
	got = gitlab_event_kind("Tag Push Hook", f->tag_push, buf, sizeof buf);
	assert_string_equal(got, "tag_push");
}

/* A header name longer than the buffer is cut, never written past it. */
static void test_event_kind_small_buffer(void **state)
{
	char buf[8];
	const char *got;

	(void)state;
	memset(buf, 'x', sizeof buf);
	got = gitlab_event_kind("Confidential Issue Hook", NULL, buf, 6);
	assert_non_null(got);
	assert_ptr_equal(got, buf);
	assert_true(strlen(got) < 6);
	assert_string_equal(got, "confi");
	assert_int_equal(buf[6], 'x');
	assert_int_equal(buf[7], 'x');
}

/* --- gitlab_push_parse: fixtures -------------------------------------------- */

static void assert_lower_hex40(const char *s)
{
	assert_int_equal(strlen(s), 40);
	for (size_t i = 0; i < 40; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			fail_msg("not lower-case hex at %zu: %s", i, s);
	}
}

static void test_push_parse_fixture(void **state)
{
	struct fixtures *f = *state;
	struct gitlab_push p;
	struct amicd_error err;

	amicd_error_clear(&err);
	assert_int_equal(gitlab_push_parse(f->push, &p, &err), AMICD_OK);
	assert_string_equal(err.path, "");
	assert_string_equal(p.before, "60c8eedbd9916e98e042832de430e52be7ffe0ac");
	assert_string_equal(p.after, "61c979eab8ea475e0b84db7556d2049e9dae6d89");
	assert_lower_hex40(p.before);
	assert_lower_hex40(p.after);
	assert_string_equal(p.ref, "refs/heads/main");
	assert_non_null(p.branch);
	assert_string_equal(p.branch, "main");
	assert_ptr_equal(p.branch, p.ref + strlen("refs/heads/"));
	assert_false(p.created);
	assert_false(p.deleted);
	for (int i = 0; i < GITLAB_REPO_URLS; i++) {
		assert_non_null(p.repo_urls[i]);
		assert_string_equal(p.repo_urls[i], REPO_URL);
	}
	gitlab_push_clear(&p);
	assert_null(p.ref);
	assert_null(p.branch);
	for (int i = 0; i < GITLAB_REPO_URLS; i++)
		assert_null(p.repo_urls[i]);
}

static void test_push_parse_branch_delete(void **state)
{
	struct fixtures *f = *state;
	struct gitlab_push p;
	struct amicd_error err;

	assert_int_equal(gitlab_push_parse(f->push_delete, &p, &err), AMICD_OK);
	assert_true(p.deleted);
	assert_false(p.created);
	assert_string_equal(p.after, ZERO_SHA);
	assert_string_equal(p.before, "61c979eab8ea475e0b84db7556d2049e9dae6d89");
	assert_string_equal(p.branch, "main");
	assert_string_equal(p.repo_urls[0], REPO_URL);
	gitlab_push_clear(&p);
}

/* A tag push parses too (the caller ignores it): no branch, created. */
static void test_push_parse_tag_push(void **state)
{
	struct fixtures *f = *state;
	struct gitlab_push p;
	struct amicd_error err;

	assert_int_equal(gitlab_push_parse(f->tag_push, &p, &err), AMICD_OK);
	assert_string_equal(p.ref, "refs/tags/v1.4.0");
	assert_null(p.branch);
	assert_true(p.created);
	assert_false(p.deleted);
	assert_string_equal(p.before, ZERO_SHA);
	gitlab_push_clear(&p);
}

/* Upper-case shas (some tools send them) come out lower-case. */
static void test_push_parse_lowercases_shas(void **state)
{
	struct fixtures *f = *state;
	json_t *body = json_deep_copy(f->push);
	struct gitlab_push p;
	struct amicd_error err;

	assert_non_null(body);
	json_object_set_new(body, "before", json_string("60C8EEDBD9916E98E042832DE430E52BE7FFE0AC"));
	json_object_set_new(body, "after", json_string("61c979EAB8EA475e0b84db7556d2049e9dae6d89"));
	assert_int_equal(gitlab_push_parse(body, &p, &err), AMICD_OK);
	assert_string_equal(p.before, "60c8eedbd9916e98e042832de430e52be7ffe0ac");
	assert_string_equal(p.after, "61c979eab8ea475e0b84db7556d2049e9dae6d89");
	gitlab_push_clear(&p);
	json_decref(body);
}

/*
 * A SHA-256 repository (GitLab's `object_format: sha256`) sends 64-hex ids,
 * and 64 zeros for "no commit": both are accepted, lower-cased, and a creation
 * or deletion is recognised by either width of zeros.
 */
struct commit_case {
	const char *before, *after;
	const char *want_before, *want_after;
	bool created, deleted;
};

#define SHA256_A "5e1b7a6f0b9a4f9a0e1d2c3b4a59687766554433221100ffeeddccbbaa998877"
#define SHA256_B "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
#define ZERO_SHA256 ZERO_SHA "000000000000000000000000"

static const struct commit_case commit_cases[] = {
	{ SHA256_A, SHA256_B, SHA256_A, SHA256_B, false, false },
	{ "5E1B7A6F0B9A4F9A0E1D2C3B4A59687766554433221100FFEEDDCCBBAA998877", SHA256_B, SHA256_A, SHA256_B, false, false },
	{ ZERO_SHA256, SHA256_B, ZERO_SHA256, SHA256_B, true, false },
	{ SHA256_A, ZERO_SHA256, SHA256_A, ZERO_SHA256, false, true },
	{ ZERO_SHA, SHA256_B, ZERO_SHA, SHA256_B, true, false },
	{ "60c8eedbd9916e98e042832de430e52be7ffe0ac", "61c979eab8ea475e0b84db7556d2049e9dae6d89",
	  "60c8eedbd9916e98e042832de430e52be7ffe0ac", "61c979eab8ea475e0b84db7556d2049e9dae6d89", false, false },
	{ "60c8eedbd9916e98e042832de430e52be7ffe0ac", ZERO_SHA, "60c8eedbd9916e98e042832de430e52be7ffe0ac", ZERO_SHA,
	  false, true },
};

static void test_push_parse_commit_widths(void **state)
{
	struct fixtures *f = *state;

	for (size_t i = 0; i < sizeof commit_cases / sizeof commit_cases[0]; i++) {
		const struct commit_case *c = &commit_cases[i];
		json_t *body = json_deep_copy(f->push);
		struct gitlab_push p;
		struct amicd_error err;
		enum amicd_rc rc;

		assert_non_null(body);
		json_object_set_new(body, "before", json_string(c->before));
		json_object_set_new(body, "after", json_string(c->after));
		memset(&p, 0xa5, sizeof p);
		rc = gitlab_push_parse(body, &p, &err);
		if (rc != AMICD_OK)
			print_error("case %zu: %s\n", i, err.message);
		assert_int_equal(rc, AMICD_OK);
		assert_string_equal(p.before, c->want_before);
		assert_string_equal(p.after, c->want_after);
		assert_int_equal(p.created, c->created);
		assert_int_equal(p.deleted, c->deleted);
		gitlab_push_clear(&p);
		json_decref(body);
	}
}

/* gitlab_push_identify reads the repo and ref alone: malformed or missing commit ids do not matter to it. */
static void test_push_identify_ignores_commits(void **state)
{
	struct fixtures *f = *state;
	json_t *body = json_deep_copy(f->push);
	struct gitlab_push p;
	struct amicd_error err;

	assert_non_null(body);
	json_object_set_new(body, "before", json_string("not-a-commit"));
	json_object_del(body, "after");
	assert_int_equal(gitlab_push_identify(body, &p, &err), AMICD_OK);
	assert_string_equal(p.repo_urls[0], REPO_URL);
	assert_string_equal(p.branch, "main");
	assert_string_equal(p.before, "");
	assert_string_equal(p.after, "");
	/* completing it is where the commit ids are checked; a failure clears p */
	assert_int_equal(gitlab_push_commits(body, &p, &err), AMICD_ERR_INVALID);
	assert_string_equal(err.path, "$.before");
	assert_null(p.ref);
	assert_null(p.repo_urls[0]);
	gitlab_push_clear(&p);
	json_decref(body);
}

/* Only web_url is required; the other two URLs are NULL when absent. */
static void test_push_parse_only_web_url(void **state)
{
	struct fixtures *f = *state;
	json_t *body = json_deep_copy(f->push);
	json_t *project;
	struct gitlab_push p;
	struct amicd_error err;

	assert_non_null(body);
	project = json_object_get(body, "project");
	json_object_del(project, "git_http_url");
	json_object_del(project, "git_ssh_url");
	json_object_set_new(project, "web_url", json_string("HTTPS://GitLab.Example.NET/platform/golden-images/"));
	assert_int_equal(gitlab_push_parse(body, &p, &err), AMICD_OK);
	assert_string_equal(p.repo_urls[0], REPO_URL);
	assert_null(p.repo_urls[1]);
	assert_null(p.repo_urls[2]);
	gitlab_push_clear(&p);
	json_decref(body);
}

/* A ref of "refs/heads/" alone names no branch. */
static void test_push_parse_empty_branch(void **state)
{
	struct fixtures *f = *state;
	json_t *body = json_deep_copy(f->push);
	struct gitlab_push p;
	struct amicd_error err;

	assert_non_null(body);
	json_object_set_new(body, "ref", json_string("refs/heads/"));
	assert_int_equal(gitlab_push_parse(body, &p, &err), AMICD_OK);
	assert_null(p.branch);
	gitlab_push_clear(&p);
	json_decref(body);
}

/* --- gitlab_push_parse: broken bodies --------------------------------------- */

typedef json_t *(*mutate_fn)(const json_t *push);

static json_t *del_key(const json_t *push, const char *key)
{
	json_t *b = json_deep_copy(push);

	json_object_del(b, key);
	return b;
}

static json_t *set_key(const json_t *push, const char *key, json_t *value)
{
	json_t *b = json_deep_copy(push);

	json_object_set_new(b, key, value);
	return b;
}

static json_t *no_ref(const json_t *p) { return del_key(p, "ref"); }
static json_t *ref_number(const json_t *p) { return set_key(p, "ref", json_integer(7)); }
static json_t *ref_null(const json_t *p) { return set_key(p, "ref", json_null()); }
static json_t *before_short(const json_t *p) { return set_key(p, "before", json_string("60c8eedb")); }
static json_t *before_long(const json_t *p)
{
	return set_key(p, "before", json_string("60c8eedbd9916e98e042832de430e52be7ffe0ac0"));
}
static json_t *before_not_hex(const json_t *p)
{
	return set_key(p, "before", json_string("60c8eedbd9916e98e042832de430e52be7ffe0ag"));
}
static json_t *before_number(const json_t *p) { return set_key(p, "before", json_integer(0)); }
static json_t *before_63(const json_t *p)
{
	return set_key(p, "before", json_string("5e1b7a6f0b9a4f9a0e1d2c3b4a59687766554433221100ffeeddccbbaa99887"));
}
static json_t *before_65(const json_t *p)
{
	return set_key(p, "before", json_string("5e1b7a6f0b9a4f9a0e1d2c3b4a59687766554433221100ffeeddccbbaa9988776"));
}
static json_t *after_48(const json_t *p)
{
	return set_key(p, "after", json_string("61c979eab8ea475e0b84db7556d2049e9dae6d8961c979ea"));
}
static json_t *no_before(const json_t *p) { return del_key(p, "before"); }
static json_t *no_after(const json_t *p) { return del_key(p, "after"); }
static json_t *after_empty(const json_t *p) { return set_key(p, "after", json_string("")); }
static json_t *no_project(const json_t *p) { return del_key(p, "project"); }
static json_t *project_string(const json_t *p) { return set_key(p, "project", json_string(REPO_URL)); }
static json_t *project_no_web_url(const json_t *p)
{
	json_t *b = json_deep_copy(p);

	json_object_del(json_object_get(b, "project"), "web_url");
	return b;
}
static json_t *project_web_url_not_url(const json_t *p)
{
	json_t *b = json_deep_copy(p);

	json_object_set_new(json_object_get(b, "project"), "web_url", json_string("golden-images"));
	return b;
}
static json_t *project_web_url_number(const json_t *p)
{
	json_t *b = json_deep_copy(p);

	json_object_set_new(json_object_get(b, "project"), "web_url", json_integer(812));
	return b;
}
static json_t *body_array(const json_t *p) { (void)p; return json_array(); }
static json_t *body_string(const json_t *p) { (void)p; return json_string("push"); }
static json_t *body_null(const json_t *p) { (void)p; return json_null(); }
/* two faults: the first in reading order is reported */
static json_t *no_ref_no_project(const json_t *p)
{
	json_t *b = del_key(p, "ref");

	json_object_del(b, "project");
	return b;
}
static json_t *bad_after_no_project(const json_t *p)
{
	json_t *b = set_key(p, "after", json_string("xyz"));

	json_object_del(b, "project");
	return b;
}

struct broken_case {
	const char *name;
	mutate_fn build;
	const char *path;
};

static const struct broken_case broken_cases[] = {
	{ "missing ref", no_ref, "$.ref" },
	{ "ref is a number", ref_number, "$.ref" },
	{ "ref is null", ref_null, "$.ref" },
	{ "before is 8 hex", before_short, "$.before" },
	{ "before is 41 hex", before_long, "$.before" },
	{ "before has a non-hex digit", before_not_hex, "$.before" },
	{ "before is a number", before_number, "$.before" },
	{ "missing before", no_before, "$.before" },
	{ "missing after", no_after, "$.after" },
	{ "after is empty", after_empty, "$.after" },
	{ "no project", no_project, "$.project" },
	{ "project is a string", project_string, "$.project" },
	{ "project without web_url", project_no_web_url, "$.project.web_url" },
	{ "web_url not a URL", project_web_url_not_url, "$.project.web_url" },
	{ "web_url a number", project_web_url_number, "$.project.web_url" },
	{ "body is an array", body_array, "$" },
	{ "body is a string", body_string, "$" },
	{ "body is null", body_null, "$" },
	{ "no ref and no project", no_ref_no_project, "$.ref" },
	/* the repo and ref are read first: what the push is about decides whether it matters */
	{ "bad after and no project", bad_after_no_project, "$.project" },
	{ "before is 63 hex", before_63, "$.before" },
	{ "before is 65 hex", before_65, "$.before" },
	{ "after is 48 hex", after_48, "$.after" },
};

static void test_push_parse_broken_table(void **state)
{
	struct fixtures *f = *state;

	for (size_t i = 0; i < sizeof broken_cases / sizeof broken_cases[0]; i++) {
		const struct broken_case *c = &broken_cases[i];
		json_t *body = c->build(f->push);
		struct gitlab_push p;
		struct amicd_error err;
		enum amicd_rc rc;

		assert_non_null(body);
		/* out is filled with garbage: parse must not trust it */
		memset(&p, 0xa5, sizeof p);
		amicd_error_clear(&err);
		rc = gitlab_push_parse(body, &p, &err);
		if (rc != AMICD_ERR_INVALID || strcmp(err.path, c->path) != 0)
			print_error("case \"%s\": rc %d path \"%s\" (%s); want %d \"%s\"\n", c->name, rc,
				    err.path, err.message, AMICD_ERR_INVALID, c->path);
		assert_int_equal(rc, AMICD_ERR_INVALID);
		assert_string_equal(err.path, c->path);
		assert_true(err.message[0] != '\0');
		/* on failure out is cleared */
		assert_null(p.ref);
		assert_null(p.branch);
		for (int k = 0; k < GITLAB_REPO_URLS; k++)
			assert_null(p.repo_urls[k]);
		assert_false(p.created);
		assert_false(p.deleted);
		gitlab_push_clear(&p);
		json_decref(body);
	}
}

/* err may be NULL: the code alone is returned. */
static void test_push_parse_null_err(void **state)
{
	struct fixtures *f = *state;
	json_t *body = no_project(f->push);
	struct gitlab_push p;

	assert_int_equal(gitlab_push_parse(body, &p, NULL), AMICD_ERR_INVALID);
	assert_null(p.repo_urls[0]);
	json_decref(body);
	assert_int_equal(gitlab_push_parse(NULL, &p, NULL), AMICD_ERR_INVALID);
}

/* --- gitlab_dedup_key ------------------------------------------------------- */

struct dedup_case {
	const char *idempotency_key;
	const char *event_uuid;
	const char *want_key;
	const char *want_delivery_id;   /* NULL: none */
};

static const struct dedup_case dedup_cases[] = {
	{ "b2a1c6f0-idem", "3f2b-uuid", "idem:b2a1c6f0-idem", "b2a1c6f0-idem" },
	{ "b2a1c6f0-idem", NULL, "idem:b2a1c6f0-idem", "b2a1c6f0-idem" },
	{ "b2a1c6f0-idem", "", "idem:b2a1c6f0-idem", "b2a1c6f0-idem" },
	{ NULL, "3f2b-uuid", "uuid:3f2b-uuid:" BODY_SHA, "3f2b-uuid" },
	{ "", "3f2b-uuid", "uuid:3f2b-uuid:" BODY_SHA, "3f2b-uuid" },
	{ NULL, NULL, "sha256:" BODY_SHA, NULL },
	{ "", "", "sha256:" BODY_SHA, NULL },
	{ "", NULL, "sha256:" BODY_SHA, NULL },
	{ NULL, "", "sha256:" BODY_SHA, NULL },
};

static void test_dedup_key_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof dedup_cases / sizeof dedup_cases[0]; i++) {
		const struct dedup_case *c = &dedup_cases[i];
		char *key = (char *)"garbage";
		char *delivery_id = (char *)"garbage";

		assert_true(gitlab_dedup_key(c->idempotency_key, c->event_uuid, BODY_SHA, &key, &delivery_id));
		if (key == NULL || strcmp(key, c->want_key) != 0)
			print_error("case %zu: key %s, want %s\n", i, key ? key : "NULL", c->want_key);
		assert_non_null(key);
		assert_string_equal(key, c->want_key);
		if (c->want_delivery_id == NULL) {
			assert_null(delivery_id);
		} else {
			assert_non_null(delivery_id);
			assert_string_equal(delivery_id, c->want_delivery_id);
		}
		free(key);
		free(delivery_id);
	}
}

/* The same delivery sent twice gets the same key; another body another key. */
static void test_dedup_key_stable(void **state)
{
	char *k1 = NULL, *k2 = NULL, *k3 = NULL;
	char *d1 = NULL, *d2 = NULL, *d3 = NULL;

	(void)state;
	assert_true(gitlab_dedup_key(NULL, "uuid-1", BODY_SHA, &k1, &d1));
	assert_true(gitlab_dedup_key(NULL, "uuid-1", BODY_SHA, &k2, &d2));
	assert_true(gitlab_dedup_key(NULL, "uuid-1",
				     "0000000000000000000000000000000000000000000000000000000000000001", &k3, &d3));
	assert_string_equal(k1, k2);
	assert_string_not_equal(k1, k3);
	assert_string_equal(d1, d3);
	free(k1);
	free(k2);
	free(k3);
	free(d1);
	free(d2);
	free(d3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_event_kind_table),
		cmocka_unit_test(test_event_kind_points_into_body),
		cmocka_unit_test(test_event_kind_small_buffer),
		cmocka_unit_test(test_push_parse_fixture),
		cmocka_unit_test(test_push_parse_branch_delete),
		cmocka_unit_test(test_push_parse_tag_push),
		cmocka_unit_test(test_push_parse_lowercases_shas),
		cmocka_unit_test(test_push_parse_commit_widths),
		cmocka_unit_test(test_push_identify_ignores_commits),
		cmocka_unit_test(test_push_parse_only_web_url),
		cmocka_unit_test(test_push_parse_empty_branch),
		cmocka_unit_test(test_push_parse_broken_table),
		cmocka_unit_test(test_push_parse_null_err),
		cmocka_unit_test(test_dedup_key_table),
		cmocka_unit_test(test_dedup_key_stable),
	};

	return cmocka_run_group_tests_name("gitlab", tests, group_setup, group_teardown);
}
