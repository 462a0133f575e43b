/*
 * test_apply.c — apply.c and status.c at a fixed clock: the decisions of every
 * ASG and the promotions they record (stamped with the now passed in, not the
 * wall clock), and the one ASG status every answer renders — waiting with what
 * is missing, up to date once promoted, the pin file's trouble leading the
 * reason, a pinned AMI that went away.
 *
 * Facts go straight into a fresh store (store_fact_apply); the config is the
 * shared writer's default: ASG workers-stage in account 444455556666,
 * eu-west-1, following golden-images main, tag git-sha.
 */
#include "apply.h"
#include "config.h"
#include "status.h"
#include "store_facts.h"
#include "support.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define OWNER "111122223333"
#define SHA_P "9999999999999999999999999999999999999999"
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define IMG_A "ami-0aaaaaaaaaaaaaaa1"
#define T0 INT64_C(1741077600000)       /* 2025-03-04T08:40:00Z: when the facts happened */
#define NOW INT64_C(1767225600000)      /* 2026-01-01T00:00:00Z: the clock handed to apply */
#define NOW_TEXT "2026-01-01T00:00:00Z"

struct fx {
	char dir[PATH_MAX - 64];
	char db[PATH_MAX];
	struct config *cfg;
	struct store *st;
	int64_t events;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof *fx);
	struct amicd_error err = { { 0 }, { 0 } };

	if (fx == NULL || support_tmpdir(fx->dir, sizeof fx->dir, NULL, "amicd-test-apply") != 0)
		return -1;
	snprintf(fx->db, sizeof fx->db, "%s/amicd.db", fx->dir);
	fx->cfg = support_config_load(fx->dir, NULL);
	if (fx->cfg == NULL || support_store_open_migrated(fx->db, 1000, &fx->st, &err) != AMICD_OK) {
		print_error("setup: %s\n", err.message);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	store_close(&fx->st);
	config_free(fx->cfg);
	support_rmtree(fx->dir);
	free(fx);
	return 0;
}

/* Record f as the fact of a new event of its own, in a transaction of its own. */
static void fact(struct fx *fx, struct fact f)
{
	struct amicd_error err = { { 0 }, { 0 } };
	char key[32];
	int64_t id = 0;

	snprintf(key, sizeof key, "event-%lld", (long long)++fx->events);
	assert_int_equal(store_begin(fx->st, &err), AMICD_OK);
	if (support_event_put(fx->st, f.kind == FACT_PUSH ? "gitlab" : "eventbridge", "test", key, "{}",
			      T0 + fx->events, &id, &err) != AMICD_OK ||
	    store_fact_apply(fx->st, &f, id, &err) != AMICD_OK)
		fail_msg("fact: %s", err.message);
	assert_int_equal(store_commit(fx->st, &err), AMICD_OK);
}

static void push(struct fx *fx, const char *before, const char *after)
{
	fact(fx, (struct fact){ .kind = FACT_PUSH, .time_ms = T0, .repo = fx->cfg->asgs[0].git->url,
				.branch = "main", .before = before, .after = after });
}

/* IMG_A, built by OWNER for commit A, available, shared with and tagged in the ASG's account. */
static void ami_ready(struct fx *fx)
{
	const char *dest = fx->cfg->asgs[0].account->uid;

	fact(fx, (struct fact){ .kind = FACT_AMI_SEEN, .time_ms = T0, .region = "eu-west-1", .image_id = IMG_A,
				.owner = OWNER });
	fact(fx, (struct fact){ .kind = FACT_AMI_STATE, .time_ms = T0 + 1000, .region = "eu-west-1",
				.image_id = IMG_A, .state = "available" });
	fact(fx, (struct fact){ .kind = FACT_AMI_SHARE, .time_ms = T0 + 2000, .region = "eu-west-1",
				.image_id = IMG_A, .account = dest, .shared = true });
	fact(fx, (struct fact){ .kind = FACT_AMI_TAG, .time_ms = T0 + 3000, .region = "eu-west-1", .image_id = IMG_A,
				.account = dest, .key = "git-sha", .value = SHA_A });
}

/* apply_decide_all at now, in a transaction; the one ASG's decision. */
static struct apply_decision decide_at(struct fx *fx, int64_t now, bool dry_run, size_t *n_promoted)
{
	struct amicd_error err = { { 0 }, { 0 } };
	struct apply_decision d[1];
	bool promoted[1] = { false };

	assert_int_equal(fx->cfg->n_asgs, 1);
	assert_int_equal(store_begin(fx->st, &err), AMICD_OK);
	if (apply_decide_all(fx->cfg, fx->st, now, dry_run, d, promoted, n_promoted, NULL, &err) != AMICD_OK)
		fail_msg("apply_decide_all: %s", err.message);
	assert_int_equal(store_commit(fx->st, &err), AMICD_OK);
	assert_int_equal(promoted[0], *n_promoted == 1);
	return d[0];
}

static struct asg_status status_of(struct fx *fx, const char *pin_file_error)
{
	struct amicd_error err = { { 0 }, { 0 } };
	struct asg_status s;

	if (asg_status_get(fx->st, &fx->cfg->asgs[0], pin_file_error, &s, &err) != AMICD_OK)
		fail_msg("asg_status_get: %s", err.message);
	return s;
}

/*
 * apply_affected: which ASGs a pass must decide after a fact — the ASGs
 * following the pushed branch; the ASGs of the tagging or shared-with account in
 * its region (all of the region for a public or organization share); for an
 * image's state, the ASGs of the accounts that see a tag on it, of its owner,
 * and those pinned to it. Four ASGs: a and b follow main in account A
 * (eu-west-1, us-east-1), c follows dev in account A, d follows main in
 * account B.
 */
#define REPO_NORMAL SUPPORT_REPO /* already in normal form */

static void test_affected(void **state)
{
	static const char accounts[] =
		"  - { name: acct-a, uid: \"444455556666\" }\n"
		"  - { name: acct-b, uid: \"777788889999\" }\n";
	static const char resources[] =
		"  - { provider: asg, identifier: a, account: acct-a, region: eu-west-1,\n"
		"      image: { repo: { url: " SUPPORT_REPO ", ref: main, tag_name: git-sha } } }\n"
		"  - { provider: asg, identifier: b, account: acct-a, region: us-east-1,\n"
		"      image: { repo: { url: " SUPPORT_REPO ", ref: main, tag_name: git-sha } } }\n"
		"  - { provider: asg, identifier: c, account: acct-a, region: eu-west-1,\n"
		"      image: { repo: { url: " SUPPORT_REPO ", ref: dev, tag_name: git-sha } } }\n"
		"  - { provider: asg, identifier: d, account: acct-b, region: eu-west-1,\n"
		"      image: { repo: { url: " SUPPORT_REPO ", ref: main, tag_name: git-sha } } }\n";
	struct fx *fx = *state;
	struct amicd_error err = { { 0 }, { 0 } };
	struct config *cfg;
	const struct {
		struct fact f;
		const char *want; /* the identifiers marked, in config order */
	} cases[] = {
		{ { .kind = FACT_PUSH, .repo = REPO_NORMAL, .branch = "main" }, "abd" },
		{ { .kind = FACT_PUSH, .repo = REPO_NORMAL, .branch = "dev" }, "c" },
		{ { .kind = FACT_PUSH, .repo = REPO_NORMAL, .branch = "other" }, "" },
		{ { .kind = FACT_PUSH, .repo = "https://gitlab.example.net/platform/other", .branch = "main" }, "" },
		{ { .kind = FACT_BRANCH_SEEN, .repo = REPO_NORMAL, .branch = "dev" }, "c" },
		{ { .kind = FACT_AMI_TAG, .region = "eu-west-1", .image_id = IMG_A, .account = "444455556666",
		    .key = "git-sha", .value = SHA_A }, "ac" },
		{ { .kind = FACT_AMI_SHARE, .region = "eu-west-1", .image_id = IMG_A, .account = "777788889999",
		    .shared = true }, "d" },
		{ { .kind = FACT_AMI_SHARE, .region = "us-east-1", .image_id = IMG_A, .account = "all", .shared = true },
		  "b" },
		{ { .kind = FACT_AMI_SHARE, .region = "eu-west-1", .image_id = IMG_A,
		    .account = "arn:aws:organizations::111122223333:organization/o-abc", .shared = true }, "acd" },
		{ { .kind = FACT_IMAGES_SEEN, .region = "eu-west-1", .account = "777788889999", .key = "git-sha",
		    .value = SHA_A, .listed = "," }, "d" },
		/* the image is tagged in account B only (below), and c is pinned to it */
		{ { .kind = FACT_AMI_STATE, .region = "eu-west-1", .image_id = IMG_A, .state = "available" }, "cd" },
		/* its owner's ASGs too */
		{ { .kind = FACT_AMI_SEEN, .region = "eu-west-1", .image_id = IMG_A, .owner = "444455556666" }, "acd" },
		/* another image nobody tagged or pinned: nobody */
		{ { .kind = FACT_AMI_STATE, .region = "eu-west-1", .image_id = "ami-0ffffffffffffffff",
		    .state = "available" }, "" },
	};
	int64_t promotion = 0;
	struct fact tag_b = { .kind = FACT_AMI_TAG, .time_ms = T0, .region = "eu-west-1", .image_id = IMG_A,
			      .account = "777788889999", .key = "git-sha", .value = SHA_A };

	cfg = support_config_load(fx->dir, &(struct amicd_opts){ .accounts = accounts, .resources = resources });
	assert_non_null(cfg);
	assert_int_equal(cfg->n_asgs, 4);
	fact(fx, tag_b);
	assert_int_equal(store_begin(fx->st, &err), AMICD_OK);
	assert_int_equal(store_promote(fx->st, "c", SHA_A, IMG_A, 0, "by hand", "admin", NOW, &promotion, &err), AMICD_OK);
	assert_int_equal(store_commit(fx->st, &err), AMICD_OK);
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		bool affected[4] = { false };
		char got[8] = "";
		size_t n = 0;

		assert_int_equal(apply_affected(cfg, fx->st, &cases[c].f, affected, &err), AMICD_OK);
		for (size_t i = 0; i < 4; i++)
			if (affected[i])
				got[n++] = cfg->asgs[i].identifier[0];
		if (strcmp(got, cases[c].want) != 0)
			fail_msg("case %zu: marked \"%s\", want \"%s\"", c, got, cases[c].want);
	}
	config_free(cfg);
}

static bool same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * What a delivery's request path derives (apply_event_prepare_doc, the parsed
 * body freed right after) is what the worker would derive from the stored bytes
 * (apply_event_prepare): same status, note and facts, for every kind of
 * payload — the worker takes the first instead of parsing again.
 */
static void test_prepared_on_receipt_equals_prepared_from_store(void **state)
{
	static const struct {
		const char *source, *kind, *file;
	} cases[] = {
		{ "gitlab", "push", "gitlab-push.json" },
		{ "gitlab", "push", "gitlab-push-branch-delete.json" },
		{ "gitlab", "tag_push", "gitlab-tag-push.json" },
		{ "eventbridge", "ami_state", "eventbridge-ami-state-change.json" },
		{ "eventbridge", "ami_shared", "eventbridge-ami-shared.json" },
		{ "eventbridge", "ami_tags", "eventbridge-cloudtrail-createtags-asg-account.json" },
		{ "eventbridge", "ami_tags", "eventbridge-cloudtrail-deletetags-all-asg-account.json" },
		{ "eventbridge", "ami_launch_permission", "eventbridge-cloudtrail-modifyimageattribute-org.json" },
		{ "eventbridge", "ami_launch_permission", "eventbridge-cloudtrail-modifyimageattribute.json" },
		{ "eventbridge", "ami_state", "gitlab-push.json" },  /* not its kind: failed, both ways */
	};
	struct fx *fx = *state;

	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		char path[PATH_MAX];
		size_t len = 0;
		char *body;
		json_t *doc;
		struct apply_event stored, received;
		struct store_queued q;

		snprintf(path, sizeof path, "%s/%s", support_data_dir(), cases[c].file);
		body = support_read_file(path, &len);
		assert_non_null(body);
		q = (struct store_queued){ .id = 7, .source = cases[c].source, .kind = cases[c].kind,
					   .payload = body, .payload_len = len };
		apply_event_prepare(fx->cfg, &q, &stored);
		doc = json_loadb(body, len, 0, NULL);
		assert_non_null(doc);
		assert_int_equal(apply_event_prepare_doc(fx->cfg, cases[c].source, cases[c].kind, doc, &received),
				 AMICD_OK);
		json_decref(doc);
		memset(body, 'x', len); /* nothing of the receipt's may point into the body either */
		free(body);
		assert_null(received.payload);
		assert_string_equal(received.kind, stored.kind);
		assert_string_equal(received.status, stored.status);
		assert_string_equal(received.note, stored.note);
		assert_int_equal(received.facts.n, stored.facts.n);
		for (size_t i = 0; i < stored.facts.n; i++) {
			const struct fact *a = &stored.facts.items[i], *b = &received.facts.items[i];

			assert_int_equal(a->kind, b->kind);
			assert_int_equal(a->time_ms, b->time_ms);
			assert_int_equal(a->shared, b->shared);
			assert_int_equal(a->deleted, b->deleted);
			assert_true(same_text(a->region, b->region));
			assert_true(same_text(a->image_id, b->image_id));
			assert_true(same_text(a->owner, b->owner));
			assert_true(same_text(a->state, b->state));
			assert_true(same_text(a->account, b->account));
			assert_true(same_text(a->key, b->key));
			assert_true(same_text(a->value, b->value));
			assert_true(same_text(a->repo, b->repo));
			assert_true(same_text(a->branch, b->branch));
			assert_true(same_text(a->before, b->before));
			assert_true(same_text(a->after, b->after));
			assert_true(same_text(a->listed, b->listed));
		}
		if (c == 0)
			assert_true(stored.facts.n > 0); /* the table is not vacuous */
		apply_event_release(&stored);
		apply_event_release(&received);
	}
}

static void test_waiting_says_what_is_missing(void **state)
{
	struct fx *fx = *state;
	struct asg_status s;
	struct apply_decision d;
	size_t n = 0;

	push(fx, SHA_P, SHA_A);
	d = decide_at(fx, NOW, false, &n);
	assert_false(d.promote);
	assert_int_equal(n, 0);
	assert_string_equal(d.asg, "workers-stage");
	assert_int_equal(d.state, DECIDE_WAITING);
	s = status_of(fx, NULL);
	assert_int_equal(s.state, DECIDE_WAITING);
	assert_true(s.has_head);
	assert_string_equal(s.head.commit, SHA_A);
	assert_false(s.has_pin);
	assert_true(s.waiting);
	assert_string_equal(s.waiting_commit, SHA_A);
	assert_true(s.missing & MISSING_IMAGE);
	assert_false(s.pin_file_failing);
}

static void test_promotion_is_stamped_with_the_clock_passed_in(void **state)
{
	struct fx *fx = *state;
	struct amicd_error err = { { 0 }, { 0 } };
	struct store_pin pin;
	struct apply_decision d;
	struct asg_status s;
	bool found = false;
	size_t n = 0;

	push(fx, SHA_P, SHA_A);
	ami_ready(fx);
	/* ready: the status shows the promotion the worker is about to make */
	s = status_of(fx, NULL);
	assert_int_equal(s.state, DECIDE_WAITING);
	assert_true(s.waiting);
	assert_int_equal(s.missing, 0);

	/* a dry run decides the same and writes nothing */
	d = decide_at(fx, NOW, true, &n);
	assert_true(d.promote);
	assert_int_equal(n, 0);
	assert_int_equal(store_pin_get(fx->st, "workers-stage", &pin, &found, &err), AMICD_OK);
	assert_false(found);

	d = decide_at(fx, NOW, false, &n);
	assert_true(d.promote);
	assert_int_equal(n, 1);
	assert_string_equal(d.commit, SHA_A);
	assert_string_equal(d.image_id, IMG_A);
	assert_int_equal(store_pin_get(fx->st, "workers-stage", &pin, &found, &err), AMICD_OK);
	assert_true(found);
	assert_string_equal(pin.commit, SHA_A);
	assert_string_equal(pin.promoted_at, NOW_TEXT); /* the clock passed in, not the wall clock */

	/* decided again later: nothing moves */
	d = decide_at(fx, NOW + 3600 * 1000, false, &n);
	assert_false(d.promote);
	assert_int_equal(n, 0);
	assert_string_equal(d.commit, SHA_A); /* keep: the pin */

	s = status_of(fx, NULL);
	assert_int_equal(s.state, DECIDE_UP_TO_DATE);
	assert_false(s.waiting);
	assert_true(s.has_pin);
	assert_string_equal(s.pin.promoted_at, NOW_TEXT);
	assert_string_equal(s.pin.image_id, IMG_A);
	assert_string_equal(s.pin.ami_state, "available");
	assert_true(s.pin.available);
	assert_null(s.pin.unavailable_reason);
}

static void test_status_leads_with_the_pin_file_and_a_pin_gone(void **state)
{
	struct fx *fx = *state;
	struct asg_status s;
	size_t n = 0;

	push(fx, SHA_P, SHA_A);
	ami_ready(fx);
	(void)decide_at(fx, NOW, false, &n);
	assert_int_equal(n, 1);

	s = status_of(fx, "Permission denied");
	assert_true(s.pin_file_failing);
	assert_string_equal(s.pin_file_error, "Permission denied");
	if (strncmp(s.reason, "the pin file ", 13) != 0 || strstr(s.reason, "Permission denied") == NULL)
		fail_msg("the reason does not lead with the pin file: %s", s.reason);

	fact(fx, (struct fact){ .kind = FACT_AMI_STATE, .time_ms = T0 + 9000, .region = "eu-west-1",
				.image_id = IMG_A, .state = "deregistered" });
	s = status_of(fx, NULL);
	assert_true(s.has_pin);
	assert_false(s.pin.available);
	assert_string_equal(s.pin.unavailable_reason, "deregistered");
	assert_string_equal(s.pin.ami_state, "deregistered");
}

/*
 * problems[] worst first, as a table: the pin's trigger (its attempts, whether
 * it gave up) beside a pinned AMI gone. The reason leads with problems[0].
 */
static void test_problems_worst_first(void **state)
{
	static const struct {
		const char *name;
		int failures;        /* failed attempts of the pin's trigger */
		bool gave_up;        /* the last one gave up */
		bool delivered;      /* then one succeeded */
		bool ami_gone;
		const char *codes;   /* problems[].code, space-separated */
		const char *leads;   /* the reason starts with this */
	} rows[] = {
		{ "not attempted yet", 0, false, false, false, "", "pinned to head" },
		{ "delivered", 0, false, true, false, "", "pinned to head" },
		{ "delivered after failures", 2, false, true, false, "", "pinned to head" },
		{ "retrying", 1, false, false, false, "trigger_retrying", "the trigger of promotion 1 (aaaaaaaa" },
		{ "gave up", 2, true, false, false, "trigger_failed", "the trigger of promotion 1 (aaaaaaaa" },
		{ "gave up, AMI gone", 2, true, false, true, "trigger_failed pinned_ami_unavailable",
		  "the trigger of promotion 1" },
		{ "retrying, AMI gone", 1, false, false, true, "pinned_ami_unavailable trigger_retrying",
		  "the pinned AMI " IMG_A " is deregistered" },
		{ "delivered, AMI gone", 0, false, true, true, "pinned_ami_unavailable", "the pinned AMI " },
	};

	(void)state;
	for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
		struct amicd_error err = { { 0 }, { 0 } };
		void *fxp = NULL;
		struct fx *fx;
		struct asg_status s;
		char codes[200] = "";
		size_t n = 0;
		bool changed = false;

		assert_int_equal(setup(&fxp), 0);
		fx = fxp;
		push(fx, SHA_P, SHA_A);
		ami_ready(fx);
		(void)decide_at(fx, NOW, false, &n);
		assert_int_equal(n, 1);
		assert_int_equal(store_trigger_pin_written(fx->st, 1, &changed, &err), AMICD_OK);
		for (int i = 0; i < rows[r].failures; i++)
			assert_int_equal(store_trigger_record(fx->st, 1, 1, false, "HTTP 503",
							      rows[r].gave_up && i + 1 == rows[r].failures, NOW + 1000,
							      NOW + i, &err), AMICD_OK);
		if (rows[r].delivered)
			assert_int_equal(store_trigger_record(fx->st, 1, 1, true, NULL, false, NOW, NOW + 10, &err),
					 AMICD_OK);
		if (rows[r].ami_gone)
			fact(fx, (struct fact){ .kind = FACT_AMI_STATE, .time_ms = T0 + 9000, .region = "eu-west-1",
						.image_id = IMG_A, .state = "deregistered" });
		s = status_of(fx, NULL);
		for (size_t i = 0; i < s.n_problems; i++) {
			size_t at = strlen(codes);

			snprintf(codes + at, sizeof codes - at, "%s%s", i > 0 ? " " : "", s.problems[i].code);
			if (strcmp(s.problems[i].code, "pinned_ami_unavailable") != 0 && s.problems[i].since[0] == '\0')
				fail_msg("%s: problem %s has no since", rows[r].name, s.problems[i].code);
		}
		if (strcmp(codes, rows[r].codes) != 0)
			fail_msg("%s: problems [%s], expected [%s]", rows[r].name, codes, rows[r].codes);
		if (strncmp(s.reason, rows[r].leads, strlen(rows[r].leads)) != 0)
			fail_msg("%s: the reason \"%s\" does not lead with \"%s\"", rows[r].name, s.reason, rows[r].leads);
		assert_int_equal(teardown(&fxp), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_waiting_says_what_is_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_promotion_is_stamped_with_the_clock_passed_in, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_leads_with_the_pin_file_and_a_pin_gone, setup, teardown),
		cmocka_unit_test(test_problems_worst_first),
		cmocka_unit_test_setup_teardown(test_prepared_on_receipt_equals_prepared_from_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_affected, setup, teardown),
	};

	return cmocka_run_group_tests_name("apply", tests, NULL, NULL);
}
