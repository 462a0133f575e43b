/*
 * test_store_facts.c — the rules that store_facts.c runs as SQL, tested as
 * tables through the store's public API (store.h): facts go in with
 * store_fact_apply inside store_begin … store_commit, and what comes out is
 * store_asg_facts_load → store_asg_facts_input, the struct decide_input that
 * the decision engine sees. test_decide.c tables the engine; these rows are
 * what it is handed.
 *
 *  - the head rule (design §1 "head"): rows of pushes (before → after, branch
 *    deletions, in the order they were received) in, the head commit out —
 *    and the push whose event makes it the head;
 *  - visibility (design §1 "AMI", "ready"): an AMI's owner, its shares
 *    (launch permission added or removed, "all" for public), its state and
 *    the tags each account set, in; out, the AMIs the ASG's account sees tagged
 *    with the head commit: state, whether the account may launch it (owned,
 *    shared or public), the tags that account sees, its creation time, and the
 *    newest event behind what the account sees;
 *  - the AMI list of GET /api/v1/amis (store_amis_list): the same rows, in the
 *    same order, as the unindexed query it replaced, and a query plan that
 *    reads no table whole.
 *
 * Expectations are written from design.md, not from what the code does. A row
 * on which the store disagrees with the design is marked .disagrees (the
 * reason): it runs, and is skipped with its reason while the store still
 * disagrees — and fails, asking for the mark to go, once the store agrees.
 *
 * Where the design says the order of arrival does not matter (a linear
 * history; every AMI fact, which carries its event time), a row is also run
 * with the same facts received in other orders (every order up to four
 * events, else a fixed set of seeded shuffles) and applied in reverse, and
 * must come out the same. Where the design lets receipt order decide (ties,
 * force-push cycles), the row is run as listed.
 *
 * Every run gets a fresh database (migrated by support_store_open_migrated),
 * in /dev/shm where there is one. The config comes from the shared writer
 * (support_config_load): ASG workers-stage in account 444455556666,
 * eu-west-1, following golden-images main, tag git-sha.
 */
#include "config.h"
#include "decide.h"
#include "error.h"
#include "facts.h"
#include "store_facts.h"
#include "store_internal.h"
#include "support.h"

#include <limits.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define OWNER "111122223333"          /* builds and owns the AMIs */
#define DEST SUPPORT_ACCOUNT_UID      /* the ASG's account */
#define OTHER "777788889999"          /* a third account */
/* design §3 org_arns: the ASG's account lists OU_LISTED; ORG_UNLISTED is nobody's */
#define OU_LISTED "arn:aws:organizations::111122223333:ou/o-a1b2c3d4e5/ou-ab12-cdef3456"
#define ORG_UNLISTED "arn:aws:organizations::999988887777:organization/o-z9y8x7w6v5"
#define OTHER_REPO "https://gitlab.example.net/platform/other-images"
#define ZERO "0000000000000000000000000000000000000000"
#define T0 INT64_C(1741077600000)     /* 2025-03-04T08:40:00Z; row times are seconds after it */

#define SHA_P "9999999999999999999999999999999999999999"   /* the parent of the first push */
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define SHA_C "cccccccccccccccccccccccccccccccccccccccc"
#define SHA_D "dddddddddddddddddddddddddddddddddddddddd"
#define SHA_X "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"
#define SHA256_P "9999999999999999999999999999999999999999999999999999999999999999"
#define SHA256_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA256_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

#define IMG_A "ami-0aaaaaaaaaaaaaaa1"
#define IMG_B "ami-0bbbbbbbbbbbbbbb2"

#define MAX_ROWS 8                    /* pushes of a head row, events of a visibility row */
#define MAX_AMIS 3
#define SHUFFLES 12
#define MAX_ORDERS 32                 /* 4! = 24 orders, or as listed, reversed and SHUFFLES */

/* ---- the fixture: a temp dir with the config; one database per run ----------------- */

struct fx {
	char dir[PATH_MAX - 64];
	char db[PATH_MAX];
	struct config *cfg;
	const struct config_asg *asg;
	int runs;
};

static struct fx *group_fx;

static int group_teardown(void **state)
{
	struct fx *fx = group_fx;

	(void)state;
	if (fx == NULL)
		return 0;
	config_free(fx->cfg);
	support_rmtree(fx->dir);
	free(fx);
	group_fx = NULL;
	return 0;
}

static int group_setup(void **state)
{
	/* a database for every run: in memory where there is a tmpfs */
	const char *shm = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NULL;

	(void)state;
	group_fx = calloc(1, sizeof *group_fx);
	if (group_fx == NULL)
		return -1;
	if (support_tmpdir(group_fx->dir, sizeof group_fx->dir, shm, "amicd-test-store-facts") != 0 ||
	    (group_fx->cfg = support_config_load(group_fx->dir, &(struct amicd_opts){
		    .accounts = "  - { name: " SUPPORT_ACCOUNT ", uid: \"" SUPPORT_ACCOUNT_UID "\","
				" org_arns: [\"" OU_LISTED "\"] }\n" })) == NULL ||
	    (group_fx->asg = config_find_asg(group_fx->cfg, SUPPORT_ASG)) == NULL) {
		group_teardown(NULL);
		return -1;
	}
	return 0;
}

/* A fresh, migrated database of its own for one run. */
static struct store *fresh_store(struct fx *fx)
{
	struct amicd_error err = { { 0 }, { 0 } };
	struct store *st = NULL;

	snprintf(fx->db, sizeof fx->db, "%s/run-%d.db", fx->dir, fx->runs++);
	if (support_store_open_migrated(fx->db, 1000, &st, &err) != AMICD_OK)
		fail_msg("store: %s", err.message);
	return st;
}

/* Close st and remove its files. */
static void drop_store(struct fx *fx, struct store **st)
{
	char path[PATH_MAX + 8];

	store_close(st);
	unlink(fx->db);
	snprintf(path, sizeof path, "%s-wal", fx->db);
	unlink(path);
	snprintf(path, sizeof path, "%s-shm", fx->db);
	unlink(path);
}

/* Store one event (received at the given position) in the caller's transaction; its id. */
static int64_t put_event(struct store *st, const char *source, const char *kind, size_t position)
{
	struct amicd_error err = { { 0 }, { 0 } };
	char key[32], payload[64];
	int64_t id = 0;

	snprintf(key, sizeof key, "%s-%zu", kind, position);
	snprintf(payload, sizeof payload, "{\"position\":%zu}", position);
	if (support_event_put(st, source, kind, key, payload, T0 + (int64_t)position, &id, &err) != AMICD_OK)
		fail_msg("event: %s", err.message);
	return id;
}

static void apply(struct store *st, const struct fact *f, int64_t event_id)
{
	struct amicd_error err = { { 0 }, { 0 } };

	if (store_fact_apply(st, f, event_id, &err) != AMICD_OK)
		fail_msg("store_fact_apply: %s", err.message);
}

static struct store_asg_facts *load(struct fx *fx, struct store *st)
{
	struct amicd_error err = { { 0 }, { 0 } };
	struct store_asg_facts *f = NULL;

	if (store_asg_facts_load(st, fx->asg, &f, &err) != AMICD_OK)
		fail_msg("store_asg_facts_load: %s", err.message);
	return f;
}

/* ---- orders -------------------------------------------------------------------------- */

/* splitmix64, seeded per row: every run of the suite tries the same orders */
static uint64_t next_random(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* The next permutation of order[0..n) in lexicographic order; false after the last. */
static bool next_permutation(size_t *order, size_t n)
{
	size_t i, j;

	if (n < 2)
		return false;
	for (i = n - 1; i > 0 && order[i - 1] >= order[i]; i--)
		;
	if (i == 0)
		return false;
	for (j = n - 1; order[j] <= order[i - 1]; j--)
		;
	{
		size_t t = order[i - 1];

		order[i - 1] = order[j];
		order[j] = t;
	}
	for (j = n - 1; i < j; i++, j--) {
		size_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	return true;
}

/*
 * The receipt orders a row is run in: as listed first, then (any_order)
 * every other order for n <= 4, else reversed and SHUFFLES seeded shuffles.
 * Fills orders[k][0..n) and returns how many.
 */
static size_t receipt_orders(size_t n, bool any_order, uint64_t seed, size_t orders[][MAX_ROWS], size_t max)
{
	size_t k = 0, cur[MAX_ROWS] = { 0 };

	for (size_t i = 0; i < n; i++)
		cur[i] = i;
	memcpy(orders[k++], cur, sizeof cur);
	if (!any_order)
		return k;
	if (n <= 4) {
		while (k < max && next_permutation(cur, n))
			memcpy(orders[k++], cur, sizeof cur);
		return k;
	}
	for (size_t i = 0; i < n; i++)
		orders[k][i] = n - 1 - i;
	k++;
	for (int s = 0; s < SHUFFLES && k < max; s++) {
		for (size_t i = 0; i < n; i++)
			cur[i] = i;
		for (size_t i = n; i > 1; i--) {
			size_t j = (size_t)(next_random(&seed) % i), t = cur[i - 1];

			cur[i - 1] = cur[j];
			cur[j] = t;
		}
		memcpy(orders[k++], cur, sizeof cur);
	}
	return k;
}

static void print_order(const size_t *order, size_t n)
{
	char text[128];
	size_t at = 0;

	for (size_t i = 0; i < n && at < sizeof text; i++)
		at += (size_t)snprintf(text + at, sizeof text - at, "%s%zu", i > 0 ? " " : "", order[i] + 1);
	print_error("  received in the order of rows: %s\n", text);
}

/* ---- (a) the head rule: pushes in, head out ------------------------------------------ */

struct push {
	const char *before;
	const char *after;
	bool deleted;              /* a branch deletion (after all zeros) */
	const char *branch;        /* NULL: the ASG's (main) */
	const char *repo;          /* NULL: the ASG's (golden-images) */
	bool applied_twice;        /* the same event's fact applied again (a replay) */
	bool observed;             /* not a push: GitLab's branch API said the head is after (ZERO: gone),
				      asked when this row was received (design §9) */
};

struct head_case {
	const char *name;
	struct push pushes[MAX_ROWS];   /* in the order they were received; ends at after NULL */
	const char *head;               /* the head commit, NULL: none */
	size_t head_push;               /* 1-based row whose event makes it the head (0: not checked) */
	bool any_order;                 /* the design says receipt order cannot change the head */
	const char *disagrees;          /* the store disagrees with design.md: why */
};

static size_t n_pushes(const struct head_case *c)
{
	size_t n = 0;

	while (n < MAX_ROWS && c->pushes[n].after != NULL)
		n++;
	return n;
}

#define PUSH(b, a) { .before = (b), .after = (a) }
#define DELETE(b) { .before = (b), .after = ZERO, .deleted = true }
#define OBSERVED(a) { .after = (a), .observed = true }
#define OBSERVED_GONE { .after = ZERO, .observed = true }

static const struct head_case head_cases[] = {
	{ .name = "head: no push, no head", .head = NULL },
	{ .name = "head: one push",
	  .pushes = { PUSH(SHA_P, SHA_A) }, .head = SHA_A, .head_push = 1 },
	{ .name = "head: a linear chain, received in any order",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_C) },
	  .head = SHA_C, .head_push = 3, .any_order = true },
	{ .name = "head: a longer chain, received in any order",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_C), PUSH(SHA_C, SHA_D),
		      PUSH(SHA_D, SHA_X) },
	  .head = SHA_X, .head_push = 5, .any_order = true },
	{ .name = "head: commits of SHA-256 repositories (64 hex)",
	  .pushes = { PUSH(SHA256_P, SHA256_A), PUSH(SHA256_A, SHA256_B) },
	  .head = SHA256_B, .head_push = 2, .any_order = true },
	{ .name = "head: a superseded push re-sent late never moves it back",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_C), PUSH(SHA_A, SHA_B) },
	  .head = SHA_C, .head_push = 3, .any_order = true },
	{ .name = "head: the first push re-sent after the chain",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_P, SHA_A) },
	  .head = SHA_B, .head_push = 2, .any_order = true },
	{ .name = "head: one event applied twice (a replay) is one push",
	  .pushes = { PUSH(SHA_P, SHA_A), { .before = SHA_A, .after = SHA_B, .applied_twice = true } },
	  .head = SHA_B, .head_push = 2, .any_order = true },
	/* neither supersedes the other: receipt order breaks the tie, the newest wins */
	{ .name = "head: the same push from a second hook: the newer event",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_P, SHA_A) }, .head = SHA_A, .head_push = 2 },
	{ .name = "head: two pushes from one parent: the newer received wins",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_P, SHA_B) }, .head = SHA_B, .head_push = 2 },
	{ .name = "head: force-push to a commit off the branch's history",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_X) },
	  .head = SHA_X, .head_push = 3, .any_order = true },
	/* A→B then B→A: a cycle; the most recently received push of the cycle wins */
	{ .name = "head: force-push back (B→A after A→B): the later received",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_A) },
	  .head = SHA_A, .head_push = 3 },
	{ .name = "head: force-push back, A→B received last: A→B (arrival decides a cycle)",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_B, SHA_A), PUSH(SHA_A, SHA_B) },
	  .head = SHA_B, .head_push = 3 },
	/* the late copy of the rolled-back push is itself the newest push of the cycle;
	 * only the GitLab API (§9) can tell it apart */
	{ .name = "head: back and forth twice: the last received of the cycle",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_A), PUSH(SHA_A, SHA_B) },
	  .head = SHA_B, .head_push = 4 },
	{ .name = "head: force-push back, then a new push: the new one",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_A), PUSH(SHA_A, SHA_C) },
	  .head = SHA_C, .head_push = 4, .any_order = true },
	{ .name = "head: branch deleted: the head stays where it was",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), DELETE(SHA_B) },
	  .head = SHA_B, .head_push = 2, .any_order = true },
	{ .name = "head: branch deleted twice by two hooks: still where it was",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), DELETE(SHA_B), DELETE(SHA_B) },
	  .head = SHA_B, .head_push = 2, .any_order = true },
	{ .name = "head: a deletion of a commit never pushed here leaves the head",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), DELETE(SHA_X) },
	  .head = SHA_B, .head_push = 2, .any_order = true },
	{ .name = "head: only a deletion: no head",
	  .pushes = { DELETE(SHA_A) }, .head = NULL },
	{ .name = "head: deleted, then a force-back cycle before it: where it was",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_A), DELETE(SHA_A) },
	  .head = SHA_A, .head_push = 3 },
	{ .name = "head: re-created at a new commit: starts afresh",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), DELETE(SHA_B), PUSH(ZERO, SHA_C) },
	  .head = SHA_C, .head_push = 4, .any_order = true },
	{ .name = "head: re-created, then pushed on",
	  .pushes = { PUSH(SHA_P, SHA_A), DELETE(SHA_A), PUSH(ZERO, SHA_C), PUSH(SHA_C, SHA_D) },
	  .head = SHA_D, .head_push = 4, .any_order = true },
	{ .name = "head: re-created at the commit it was deleted at",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), DELETE(SHA_B), PUSH(ZERO, SHA_B) },
	  .head = SHA_B, .head_push = 4 },
	{ .name = "head: deleted and re-created twice: the last re-creation",
	  .pushes = { PUSH(SHA_P, SHA_A), DELETE(SHA_A), PUSH(ZERO, SHA_B), DELETE(SHA_B), PUSH(ZERO, SHA_C) },
	  .head = SHA_C, .head_push = 5, .any_order = true },
	{ .name = "head: re-created, then a late copy of a push from before the deletion",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), DELETE(SHA_B), PUSH(ZERO, SHA_C), PUSH(SHA_A, SHA_B) },
	  .head = SHA_C, .head_push = 4, .any_order = true },
	{ .name = "head: re-created at an older commit of the branch: starts afresh",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), DELETE(SHA_B), PUSH(ZERO, SHA_A) },
	  .head = SHA_A, .head_push = 4 },
	{ .name = "head: re-created at the first push's parent: starts afresh",
	  .pushes = { PUSH(SHA_P, SHA_A), DELETE(SHA_A), PUSH(ZERO, SHA_P) },
	  .head = SHA_P, .head_push = 3 },
	{ .name = "head: re-created at an older commit, then pushed on",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), DELETE(SHA_B), PUSH(ZERO, SHA_A), PUSH(SHA_A, SHA_C) },
	  .head = SHA_C, .head_push = 5, .any_order = true },
	/* the deletion of the re-created branch leaves it where the re-creation put it, not at B */
	{ .name = "head: re-created at an older commit, then deleted again: where it was (the re-creation)",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), DELETE(SHA_B), PUSH(ZERO, SHA_A), DELETE(SHA_A) },
	  .head = SHA_A, .head_push = 4 },
	/* --- cycles (design §1: the most recently received push of the cycle wins) --- */
	/* the issue-10 history: D is an older push whose successor D→X was lost to a 503, so nothing
	 * supersedes it; the rollback cycle A→B, B→A must still win over it */
	{ .name = "head: force-push back on a branch holding a push whose successor was lost",
	  .pushes = { PUSH(SHA_P, SHA_D), PUSH(SHA_X, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_A) },
	  .head = SHA_A, .head_push = 4 },
	{ .name = "head: the same, the cycle closed the other way round",
	  .pushes = { PUSH(SHA_P, SHA_D), PUSH(SHA_X, SHA_A), PUSH(SHA_B, SHA_A), PUSH(SHA_A, SHA_B) },
	  .head = SHA_B, .head_push = 4 },
	/* C and the stale D are both unsuperseded: receipt order breaks the tie (not any order) */
	{ .name = "head: the same, then a push out of the cycle: the new one",
	  .pushes = { PUSH(SHA_P, SHA_D), PUSH(SHA_X, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_A),
		      PUSH(SHA_A, SHA_C) },
	  .head = SHA_C, .head_push = 5 },
	{ .name = "head: a cycle of three (A→B→C, force-pushed back to A)",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_C), PUSH(SHA_C, SHA_A) },
	  .head = SHA_A, .head_push = 4 },
	{ .name = "head: force-push back to a commit from two pushes ago, on a stale branch",
	  .pushes = { PUSH(SHA_P, SHA_D), PUSH(SHA_X, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_C),
		      PUSH(SHA_C, SHA_A) },
	  .head = SHA_A, .head_push = 5 },
	/* a push into the cycle from outside it is not a push of the cycle: re-sent late, it is superseded */
	{ .name = "head: force-push back, then the first push re-sent late: the cycle's push",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_A), PUSH(SHA_P, SHA_A) },
	  .head = SHA_A, .head_push = 3 },
	{ .name = "head: force-push back delivered by two hooks: the newer copy",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_A), PUSH(SHA_B, SHA_A) },
	  .head = SHA_A, .head_push = 4 },
	{ .name = "head: on a stale branch, a late push leading into the cycle: the cycle's push",
	  .pushes = { PUSH(SHA_P, SHA_D), PUSH(SHA_X, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_A),
		      PUSH(SHA_C, SHA_B) },
	  .head = SHA_A, .head_push = 4 },
	{ .name = "head: a cycle left by a push, then force-pushed back into it: the later cycle",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_A), PUSH(SHA_A, SHA_C),
		      PUSH(SHA_C, SHA_B) },
	  .head = SHA_B, .head_push = 5 },
	/* like "back and forth twice": the late copy of a push of the cycle is its newest push;
	 * only GitLab's branch API (§9) tells them apart */
	{ .name = "head: re-created at an older commit, then a late copy of the push the deletion followed",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), DELETE(SHA_B), PUSH(ZERO, SHA_A), PUSH(SHA_A, SHA_B) },
	  .head = SHA_B, .head_push = 5 },
	/* --- with GitLab's branch API (design §1 "head", §9) --------------------------- */
	{ .name = "head+api: an observation alone (a fresh amicd, no webhook ever)",
	  .pushes = { OBSERVED(SHA_A) }, .head = SHA_A, .head_push = 1 },
	{ .name = "head+api: the newest observation wins over the pushes stored before it",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), OBSERVED(SHA_A) }, .head = SHA_A, .head_push = 3 },
	{ .name = "head+api: the rollback cycle with a late second copy, then GitLab asked: what GitLab says",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_A), PUSH(SHA_A, SHA_B),
		      OBSERVED(SHA_A) },
	  .head = SHA_A, .head_push = 5 },
	{ .name = "head+api: the late copy after the observation: the push rule over later pushes (held "
		  "until GitLab confirms: decide's confirmed)",
	  .pushes = { PUSH(SHA_P, SHA_A), PUSH(SHA_A, SHA_B), PUSH(SHA_B, SHA_A), OBSERVED(SHA_A),
		      PUSH(SHA_A, SHA_B) },
	  .head = SHA_B, .head_push = 5 },
	{ .name = "head+api: a push after the observation moves the head",
	  .pushes = { OBSERVED(SHA_A), PUSH(SHA_A, SHA_C) }, .head = SHA_C, .head_push = 2 },
	{ .name = "head+api: an old push re-sent after the observation does not supersede a newer one",
	  .pushes = { OBSERVED(SHA_A), PUSH(SHA_A, SHA_C), PUSH(SHA_C, SHA_D), PUSH(SHA_A, SHA_C) },
	  .head = SHA_D, .head_push = 3 },
	{ .name = "head+api: a newer observation wins over a push before it",
	  .pushes = { OBSERVED(SHA_A), PUSH(SHA_A, SHA_C), OBSERVED(SHA_B) }, .head = SHA_B, .head_push = 3 },
	{ .name = "head+api: the branch gone: the pushes decide, the head stays",
	  .pushes = { PUSH(SHA_P, SHA_A), OBSERVED_GONE }, .head = SHA_A, .head_push = 1 },
	{ .name = "head+api: gone, then re-created by a push",
	  .pushes = { PUSH(SHA_P, SHA_A), DELETE(SHA_A), OBSERVED_GONE, PUSH(ZERO, SHA_C) },
	  .head = SHA_C, .head_push = 4 },
	{ .name = "head: pushes to another branch or repo do not supersede",
	  .pushes = { PUSH(SHA_P, SHA_A), { .before = SHA_A, .after = SHA_B, .branch = "develop" },
		      { .before = SHA_A, .after = SHA_C, .repo = OTHER_REPO } },
	  .head = SHA_A, .head_push = 1, .any_order = true },
	{ .name = "head: a deletion of another branch leaves the head",
	  .pushes = { PUSH(SHA_P, SHA_A), { .before = SHA_A, .after = ZERO, .deleted = true, .branch = "develop" } },
	  .head = SHA_A, .head_push = 1, .any_order = true },
};

#define N_HEAD (sizeof head_cases / sizeof head_cases[0])

struct head_out {
	char commit[72];           /* "" when no head */
	size_t push;               /* 1-based row whose event made it the head, 0 when none */
};

/* Receive c's pushes in order, apply their facts (in reverse when reverse_apply), load the head. */
static void run_head(struct fx *fx, const struct head_case *c, const size_t *order, bool reverse_apply,
		     struct head_out *out)
{
	struct amicd_error err = { { 0 }, { 0 } };
	struct store *st = fresh_store(fx);
	struct store_asg_facts *f = NULL;
	const struct decide_input *in;
	int64_t ids[MAX_ROWS] = { 0 };
	size_t n = n_pushes(c);

	size_t position[MAX_ROWS] = { 0 };

	assert_int_equal(store_begin(st, &err), AMICD_OK);
	for (size_t k = 0; k < n; k++) {
		const struct push *p = &c->pushes[order[k]];

		ids[order[k]] = put_event(st, p->observed ? "gitlab-api" : "gitlab", p->observed ? "branch_head" : "push", k);
		position[order[k]] = k;
	}
	for (size_t k = 0; k < n; k++) {
		size_t i = reverse_apply ? n - 1 - k : k;
		const struct push *p = &c->pushes[i];
		struct fact fact = {
			.kind = FACT_PUSH, .time_ms = T0 + (int64_t)i * 1000,
			.repo = p->repo != NULL ? p->repo : fx->asg->git->url,
			.branch = p->branch != NULL ? p->branch : fx->asg->git->ref,
			.before = p->before, .after = p->after, .deleted = p->deleted,
		};

		if (p->observed) {
			/* asked when received: later rows are stored after the request was sent */
			fact.kind = FACT_BRANCH_SEEN;
			fact.time_ms = T0 + (int64_t)position[i];
			fact.before = NULL;
			fact.after = strcmp(p->after, ZERO) == 0 ? NULL : p->after;
		}

		apply(st, &fact, ids[i]);
		if (p->applied_twice)
			apply(st, &fact, ids[i]);
	}
	assert_int_equal(store_commit(st, &err), AMICD_OK);

	f = load(fx, st);
	in = store_asg_facts_input(f);
	memset(out, 0, sizeof *out);
	if (in->head != NULL) {
		snprintf(out->commit, sizeof out->commit, "%s", in->head->commit);
		for (size_t i = 0; i < n; i++)
			if (ids[i] == in->head->event_id)
				out->push = i + 1;
		/* the engine's view and the API's agree on the head's event */
		assert_int_equal(store_asg_facts_head_event(f), in->head->event_id);
	}
	store_asg_facts_free(&f);
	drop_store(fx, &st);
}

static bool head_as_designed(const struct head_case *c, const struct head_out *got, bool check_push)
{
	if (strcmp(got->commit, c->head != NULL ? c->head : "") != 0)
		return false;
	return !check_push || c->head_push == 0 || got->push == c->head_push;
}

static void print_head(const char *label, const char *commit, size_t push)
{
	print_error("  %s: head %s (row %zu)\n", label, commit != NULL && commit[0] != '\0' ? commit : "(none)", push);
}

static void run_head_case(void **state)
{
	const struct head_case *c = *state;
	size_t orders[MAX_ORDERS][MAX_ROWS];
	size_t n = n_pushes(c);
	size_t n_orders = receipt_orders(n, c->any_order, (uint64_t)(c - head_cases) + 1, orders, MAX_ORDERS);
	struct head_out got;

	/* as listed, applied as received and in reverse: the stored rows decide, not the order of writing */
	for (int reverse = 0; reverse < 2; reverse++) {
		run_head(group_fx, c, orders[0], reverse == 1, &got);
		if (head_as_designed(c, &got, true))
			continue;
		if (c->disagrees != NULL) {
			print_message("store and design.md disagree (row skipped): %s; the store says %s\n", c->disagrees,
				      got.commit[0] != '\0' ? got.commit : "(no head)");
			skip();
		}
		print_head("design.md", c->head, c->head_push);
		print_head(reverse ? "store (facts applied in reverse)" : "store", got.commit, got.push);
		fail_msg("%s", c->name);
	}
	if (c->disagrees != NULL)
		fail_msg("%s: the store now agrees with design.md; drop .disagrees", c->name);
	/* received in other orders: the same head (its event moves with the push, so only the commit) */
	for (size_t k = 1; k < n_orders; k++) {
		run_head(group_fx, c, orders[k], false, &got);
		if (!head_as_designed(c, &got, false)) {
			print_head("design.md", c->head, 0);
			print_head("store", got.commit, got.push);
			print_order(orders[k], n);
			fail_msg("%s: the head depends on the order of arrival", c->name);
		}
	}
}

/*
 * Long histories: the head rule reads a branch only as far as it needs. A
 * push re-sent from long ago must not make it walk the whole history (nor win),
 * and a cycle longer than the walk's bound still leaves a head.
 */
#define LONG_PUSHES 3000

static void long_commit(char out[41], size_t i)
{
	snprintf(out, 41, "%040zx", i + 1);
}

/* Push commits 0 → 1 → … → n-1 (as 0 … n-1 received in order), then extra pushes; the head. */
static void run_long(struct fx *fx, size_t n, const struct push *extra, size_t n_extra, char head[72],
		     double *load_ms)
{
	struct amicd_error err = { { 0 }, { 0 } };
	struct store *st = fresh_store(fx);
	struct store_asg_facts *f = NULL;
	const struct decide_input *in;
	char before[41], after[41];
	struct timespec t0, t1;

	assert_int_equal(store_begin(st, &err), AMICD_OK);
	for (size_t i = 0; i < n + n_extra; i++) {
		struct fact fact = { .kind = FACT_PUSH, .repo = fx->asg->git->url, .branch = fx->asg->git->ref };

		if (i < n) {
			long_commit(before, i == 0 ? LONG_PUSHES * 2 : i - 1);
			long_commit(after, i);
			fact.before = before;
			fact.after = after;
		} else {
			fact.before = extra[i - n].before;
			fact.after = extra[i - n].after;
		}
		apply(st, &fact, put_event(st, "gitlab", "push", i));
	}
	assert_int_equal(store_commit(st, &err), AMICD_OK);
	f = load(fx, st); /* once to warm the page cache and the statements: the second is timed */
	store_asg_facts_free(&f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	f = load(fx, st);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*load_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	in = store_asg_facts_input(f);
	snprintf(head, 72, "%s", in->head != NULL ? in->head->commit : "");
	store_asg_facts_free(&f);
	drop_store(fx, &st);
}

static void long_histories(void **state)
{
	char first[41], last[41], head[72];
	double ms = 0;

	(void)state;
	long_commit(first, 0);
	long_commit(last, LONG_PUSHES - 1);
	/* the first push re-sent at the end: still the last commit */
	{
		char parent[41];
		const struct push resent[] = { { .before = parent, .after = first } };

		long_commit(parent, LONG_PUSHES * 2);
		run_long(group_fx, LONG_PUSHES, resent, 1, head, &ms);
		print_message("  %d pushes, the first re-sent last: head loaded in %.2f ms\n", LONG_PUSHES, ms);
		assert_string_equal(head, last);
	}
	/* the second push re-sent, then the branch forced back over the whole history: a cycle
	 * longer than the walk's bound is still the newest push */
	{
		const struct push back[] = { { .before = last, .after = first } };

		run_long(group_fx, LONG_PUSHES, back, 1, head, &ms);
		print_message("  %d pushes, forced back to the first: head loaded in %.2f ms\n", LONG_PUSHES, ms);
		assert_string_equal(head, first);
	}
	/* on a branch holding a stale push whose successor was lost, forced back 100 pushes:
	 * the cycle, within the walk's bound (store_asg.c HEAD_MAX_EXPLORED) */
	{
		char back_to[41];
		const struct push stale_then_back[] = { { .before = SHA_P, .after = SHA_D },
							{ .before = last, .after = back_to } };

		long_commit(back_to, LONG_PUSHES - 101);
		run_long(group_fx, LONG_PUSHES, stale_then_back, 2, head, &ms);
		print_message("  the same back 100 pushes after a stale push: head loaded in %.2f ms\n", ms);
		assert_string_equal(head, back_to);
	}
}

/* ---- (b) visibility: owner, shares, state and tags in; what the ASG's account sees out ---- */

enum op_kind {
	OP_SEEN,     /* the AMI is mentioned (and its owner, if the row has one) */
	OP_STATE,    /* value: the state */
	OP_SHARE,    /* launch permission for account added ("all": public) */
	OP_UNSHARE,  /* … removed */
	OP_TAG,      /* tag key = value (NULL: the head commit) set in account */
	OP_UNTAG,    /* tag key deleted in account; value: the value the request named, if any */
	OP_UNTAG_ALL, /* a DeleteTags without tags in account: every tag it set (but aws:*) */
	OP_LISTED,   /* an images observation (design §9): EC2, asked as account at t, listed exactly the
			images in value (",ami-…,") as tagged git-sha = the head commit there */
};

struct op {
	enum op_kind kind;
	int t;                     /* event time, seconds after T0: 1 or later */
	const char *account;       /* share: the account given; tag: the account that sets it (the viewer) */
	const char *key;           /* NULL: git-sha */
	const char *value;
	const char *image;         /* NULL: IMG_A */
	const char *region;        /* NULL: the ASG's */
};

struct ami_want {
	const char *image;         /* NULL ends the list */
	const char *state;         /* NULL: unknown */
	bool visible;              /* owned by, shared with or public to the ASG's account */
	const char *tags;          /* what the ASG's account sees: "k=v,k=v" by key ("" none) */
	int created;               /* creation time, seconds after T0 (0: not checked) */
	size_t cause;              /* 1-based op of the newest event behind what the account sees (0: not checked) */
};

struct vis_case {
	const char *name;
	const char *owner;         /* the owner every non-tag event reports; NULL: OWNER */
	struct op ops[MAX_ROWS];   /* one event each, in the order received; ends at t 0 */
	struct ami_want want[MAX_AMIS];
	const char *disagrees;     /* the store disagrees with design.md: why */
};

static size_t n_ops(const struct vis_case *c)
{
	size_t n = 0;

	while (n < MAX_ROWS && c->ops[n].t != 0)
		n++;
	return n;
}

#define SEEN(t_) { .kind = OP_SEEN, .t = (t_) }
#define STATE(t_, s) { .kind = OP_STATE, .t = (t_), .value = (s) }
#define SHARE(t_, a) { .kind = OP_SHARE, .t = (t_), .account = (a) }
#define UNSHARE(t_, a) { .kind = OP_UNSHARE, .t = (t_), .account = (a) }
#define TAG(t_, a, k, v) { .kind = OP_TAG, .t = (t_), .account = (a), .key = (k), .value = (v) }
#define UNTAG(t_, a, k) { .kind = OP_UNTAG, .t = (t_), .account = (a), .key = (k) }
#define UNTAG_VALUE(t_, a, k, v) { .kind = OP_UNTAG, .t = (t_), .account = (a), .key = (k), .value = (v) }
#define UNTAG_ALL(t_, a) { .kind = OP_UNTAG_ALL, .t = (t_), .account = (a) }
#define HEAD_TAG(t_, a) TAG(t_, a, NULL, NULL)
#define LISTED(t_, a, ids) { .kind = OP_LISTED, .t = (t_), .account = (a), .value = (ids) }

static const struct vis_case vis_cases[] = {
	/* --- owner and shares --- */
	{ .name = "visibility: owned by the ASG's account and tagged there",
	  .owner = DEST, .ops = { STATE(1, "available"), HEAD_TAG(2, DEST) },
	  .want = { { IMG_A, "available", true, "git-sha=" SHA_C, 1, 2 } } },
	{ .name = "visibility: the owner's tags are invisible to the ASG's account",
	  .ops = { STATE(1, "available"), SHARE(2, DEST), HEAD_TAG(3, OWNER) },
	  .want = { { NULL } } },
	{ .name = "visibility: shared and tagged in the ASG's account; the owner's tags stay the owner's",
	  .ops = { STATE(1, "available"), HEAD_TAG(2, OWNER), TAG(2, OWNER, "image-role", "builder"),
		   SHARE(3, DEST), HEAD_TAG(4, DEST), TAG(4, DEST, "image-role", "worker") },
	  .want = { { IMG_A, "available", true, "git-sha=" SHA_C ",image-role=worker", 1, 6 } } },
	{ .name = "visibility: tagged in the ASG's account, not shared with it",
	  .ops = { STATE(1, "available"), HEAD_TAG(2, DEST) },
	  .want = { { IMG_A, "available", false, "git-sha=" SHA_C, 1, 2 } } },
	{ .name = "visibility: shared with another account only",
	  .ops = { STATE(1, "available"), SHARE(2, OTHER), HEAD_TAG(3, DEST) },
	  .want = { { IMG_A, "available", false, "git-sha=" SHA_C, 1, 3 } } },
	{ .name = "visibility: public (launch permission for group all)",
	  .ops = { STATE(1, "available"), SHARE(2, "all"), HEAD_TAG(3, DEST) },
	  .want = { { IMG_A, "available", true, "git-sha=" SHA_C, 1, 3 } } },
	{ .name = "visibility: the share removed later",
	  .ops = { SHARE(1, DEST), HEAD_TAG(2, DEST), UNSHARE(3, DEST) },
	  .want = { { IMG_A, NULL, false, "git-sha=" SHA_C, 1, 3 } } },
	{ .name = "visibility: removed, then shared again later",
	  .ops = { SHARE(1, DEST), HEAD_TAG(2, DEST), UNSHARE(3, DEST), SHARE(4, DEST) },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 4 } } },
	{ .name = "visibility: an older share received after a newer removal does not win",
	  .ops = { SHARE(1, DEST), HEAD_TAG(2, DEST), UNSHARE(4, DEST), SHARE(3, DEST) },
	  .want = { { IMG_A, NULL, false, "git-sha=" SHA_C, 1, 3 } } },
	/* design.md is silent on equal times for shares; facts.h: a removal wins, never arrival */
	{ .name = "visibility: share and removal in the same second: the removal",
	  .ops = { HEAD_TAG(1, DEST), SHARE(2, DEST), UNSHARE(2, DEST) },
	  .want = { { IMG_A, NULL, false, "git-sha=" SHA_C, 1, 3 } } },
	{ .name = "visibility: no longer public",
	  .ops = { SHARE(1, "all"), HEAD_TAG(2, DEST), UNSHARE(3, "all") },
	  .want = { { IMG_A, NULL, false, "git-sha=" SHA_C, 1, 3 } } },
	{ .name = "visibility: no longer public, still shared with the account",
	  .ops = { SHARE(1, "all"), SHARE(1, DEST), HEAD_TAG(2, DEST), UNSHARE(3, "all") },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 4 } } },
	{ .name = "visibility: a share with another account removed does not touch the ASG's",
	  .ops = { SHARE(1, DEST), SHARE(1, OTHER), HEAD_TAG(2, DEST), UNSHARE(3, OTHER) },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 3 } } },
	/* design §3/§4: an organization or OU share counts for an account whose config lists it */
	{ .name = "visibility: shared with an OU the account's config lists (org_arns)",
	  .ops = { STATE(1, "available"), SHARE(2, OU_LISTED), HEAD_TAG(3, DEST) },
	  .want = { { IMG_A, "available", true, "git-sha=" SHA_C, 1, 3 } } },
	{ .name = "visibility: shared with an organization the account's config does not list",
	  .ops = { STATE(1, "available"), SHARE(2, ORG_UNLISTED), HEAD_TAG(3, DEST) },
	  .want = { { IMG_A, "available", false, "git-sha=" SHA_C, 1, 3 } } },
	{ .name = "visibility: the OU share removed later",
	  .ops = { SHARE(1, OU_LISTED), HEAD_TAG(2, DEST), UNSHARE(3, OU_LISTED) },
	  .want = { { IMG_A, NULL, false, "git-sha=" SHA_C, 1, 3 } } },
	{ .name = "visibility: an AMI of another region is not the ASG's",
	  .ops = { { .kind = OP_SHARE, .t = 1, .account = DEST, .region = "us-east-1" },
		   { .kind = OP_TAG, .t = 2, .account = DEST, .region = "us-east-1" } },
	  .want = { { NULL } } },
	/* --- tags, per account --- */
	{ .name = "visibility: a tag set later replaces the value",
	  .ops = { SHARE(1, DEST), HEAD_TAG(1, DEST), TAG(2, DEST, "image-role", "builder"),
		   TAG(3, DEST, "image-role", "worker") },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C ",image-role=worker", 1, 4 } } },
	{ .name = "visibility: an older value received later does not win",
	  .ops = { SHARE(1, DEST), HEAD_TAG(1, DEST), TAG(3, DEST, "image-role", "worker"),
		   TAG(2, DEST, "image-role", "builder") },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C ",image-role=worker", 1, 3 } } },
	{ .name = "visibility: a tag deleted later is gone",
	  .ops = { SHARE(1, DEST), HEAD_TAG(1, DEST), TAG(2, DEST, "image-role", "worker"),
		   UNTAG(3, DEST, "image-role") },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 4 } } },
	{ .name = "visibility: deleted, then set again later",
	  .ops = { SHARE(1, DEST), HEAD_TAG(1, DEST), TAG(2, DEST, "image-role", "worker"),
		   UNTAG(3, DEST, "image-role"), TAG(4, DEST, "image-role", "batch") },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C ",image-role=batch", 1, 5 } } },
	/* facts.h: at equal times a deletion wins, then the greater value — never arrival */
	{ .name = "visibility: set and deleted in the same second: deleted",
	  .ops = { SHARE(1, DEST), HEAD_TAG(1, DEST), TAG(2, DEST, "image-role", "worker"),
		   UNTAG(2, DEST, "image-role") },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 4 } } },
	{ .name = "visibility: two values in the same second: the greater",
	  .ops = { SHARE(1, DEST), HEAD_TAG(1, DEST), TAG(2, DEST, "image-role", "worker"),
		   TAG(2, DEST, "image-role", "builder") },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C ",image-role=worker", 1, 3 } } },
	{ .name = "visibility: the owner deleting its tag leaves the ASG account's copy",
	  .ops = { SHARE(1, DEST), HEAD_TAG(1, OWNER), HEAD_TAG(2, DEST), UNTAG(3, OWNER, NULL) },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 3 } } },
	{ .name = "visibility: a third account's tags are not seen, nor its events",
	  .ops = { SHARE(1, DEST), HEAD_TAG(2, DEST), TAG(3, OTHER, "image-role", "other"), SHARE(4, OTHER) },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 2 } } },
	{ .name = "visibility: the head tag deleted in the account: the AMI is not the commit's any more",
	  .ops = { SHARE(1, DEST), HEAD_TAG(2, DEST), UNTAG(3, DEST, NULL) },
	  .want = { { NULL } } },
	/* design §4: DeleteTags removes a key only when no value is given or the value matches;
	 * with no tag list it removes every tag that account set on the image */
	{ .name = "visibility: DeleteTags naming another value leaves the tag (design §4)",
	  .ops = { SHARE(1, DEST), HEAD_TAG(1, DEST), TAG(2, DEST, "image-role", "worker"),
		   UNTAG_VALUE(3, DEST, "image-role", "builder") },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C ",image-role=worker", 1, 3 } } },
	{ .name = "visibility: DeleteTags naming the tag's value removes it",
	  .ops = { SHARE(1, DEST), HEAD_TAG(1, DEST), TAG(2, DEST, "image-role", "worker"),
		   UNTAG_VALUE(3, DEST, "image-role", "worker") },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 4 } } },
	{ .name = "visibility: DeleteTags naming another commit leaves the head tag",
	  .ops = { SHARE(1, DEST), HEAD_TAG(2, DEST), UNTAG_VALUE(3, DEST, NULL, SHA_A) },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 2 } } },
	{ .name = "visibility: DeleteTags naming an empty value leaves a tag that has one",
	  .ops = { SHARE(1, DEST), HEAD_TAG(1, DEST), TAG(2, DEST, "image-role", "worker"),
		   UNTAG_VALUE(3, DEST, "image-role", "") },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C ",image-role=worker", 1, 3 } } },
	{ .name = "visibility: DeleteTags naming an empty value removes an empty tag",
	  .ops = { SHARE(1, DEST), HEAD_TAG(1, DEST), TAG(2, DEST, "image-role", ""),
		   UNTAG_VALUE(3, DEST, "image-role", "") },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 4 } } },
	/* the deletion meets the value the tag had at its time, whatever arrives first */
	{ .name = "visibility: DeleteTags naming the value the tag had before: the newer value stays",
	  .ops = { SHARE(1, DEST), HEAD_TAG(1, DEST), TAG(2, DEST, "image-role", "builder"),
		   TAG(3, DEST, "image-role", "worker"), UNTAG_VALUE(4, DEST, "image-role", "builder") },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C ",image-role=worker", 1, 4 } } },
	{ .name = "visibility: DeleteTags naming the value it meets, after an older value",
	  .ops = { SHARE(1, DEST), HEAD_TAG(1, DEST), TAG(2, DEST, "image-role", "batch"),
		   TAG(3, DEST, "image-role", "worker"), UNTAG_VALUE(4, DEST, "image-role", "worker") },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 5 } } },
	{ .name = "visibility: DeleteTags naming a value, then the tag set again later",
	  .ops = { SHARE(1, DEST), HEAD_TAG(1, DEST), TAG(2, DEST, "image-role", "worker"),
		   UNTAG_VALUE(3, DEST, "image-role", "worker"), TAG(4, DEST, "image-role", "batch") },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C ",image-role=batch", 1, 5 } } },
	{ .name = "visibility: DeleteTags without tags removes every tag the account set",
	  .ops = { SHARE(1, DEST), HEAD_TAG(2, DEST), TAG(2, DEST, "image-role", "worker"), UNTAG_ALL(3, DEST) },
	  .want = { { NULL } } },
	{ .name = "visibility: DeleteTags without tags, then tagged again later: the new tag",
	  .ops = { SHARE(1, DEST), HEAD_TAG(1, DEST), TAG(1, DEST, "image-role", "worker"), UNTAG_ALL(2, DEST),
		   HEAD_TAG(3, DEST) },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 5 } } },
	{ .name = "visibility: DeleteTags without tags in another account leaves the ASG account's",
	  .ops = { SHARE(1, DEST), HEAD_TAG(2, DEST), HEAD_TAG(2, OWNER), UNTAG_ALL(3, OWNER) },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 2 } } },
	{ .name = "visibility: DeleteTags without tags leaves AWS's own aws:* tags",
	  .ops = { SHARE(1, DEST), TAG(2, DEST, "aws:cloudformation:stack-name", "images"), UNTAG_ALL(3, DEST),
		   HEAD_TAG(4, DEST) },
	  .want = { { IMG_A, NULL, true, "aws:cloudformation:stack-name=images,git-sha=" SHA_C, 1, 4 } } },
	{ .name = "visibility: DeleteTags without tags and CreateTags in the same second: deleted",
	  .ops = { SHARE(1, DEST), HEAD_TAG(2, DEST), UNTAG_ALL(2, DEST) },
	  .want = { { NULL } } },
	/* --- images observations (design §9): the whole truth for (account, region, tag, commit) --- */
	{ .name = "visibility: EC2 asked after the tag, not listing the AMI: no longer the commit's there",
	  .ops = { SHARE(1, DEST), HEAD_TAG(2, DEST), LISTED(3, DEST, ",") },
	  .want = { { NULL } } },
	{ .name = "visibility: EC2 asked after the tag, listing the AMI: still the commit's",
	  .ops = { SHARE(1, DEST), HEAD_TAG(2, DEST), LISTED(3, DEST, "," IMG_A ",") },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 2 } } },
	{ .name = "visibility: the tag set again after the observation counts again",
	  .ops = { SHARE(1, DEST), HEAD_TAG(2, DEST), LISTED(3, DEST, ","), HEAD_TAG(4, DEST) },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 4 } } },
	{ .name = "visibility: an observation older than the tag does not hide it",
	  .ops = { SHARE(1, DEST), LISTED(2, DEST, ","), HEAD_TAG(3, DEST) },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 3 } } },
	{ .name = "visibility: another account's observation does not hide the ASG account's tag",
	  .ops = { SHARE(1, DEST), HEAD_TAG(2, DEST), LISTED(3, OTHER, ",") },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 2 } } },
	{ .name = "visibility: listing one AMI of the commit hides the other",
	  .ops = { SHARE(1, DEST), HEAD_TAG(2, DEST), { .kind = OP_TAG, .t = 2, .account = DEST, .image = IMG_B },
		   SHARE(2, DEST), LISTED(3, DEST, "," IMG_B ",") },
	  .want = { { IMG_B, NULL, false, "git-sha=" SHA_C, 2, 3 } } },
	/* --- state: the latest event time; at equal times the later lifecycle state --- */
	{ .name = "visibility: state unknown until an event says it",
	  .ops = { SHARE(1, DEST), HEAD_TAG(2, DEST) },
	  .want = { { IMG_A, NULL, true, "git-sha=" SHA_C, 1, 2 } } },
	{ .name = "visibility: state: the latest event time wins",
	  .ops = { STATE(1, "pending"), STATE(3, "available"), SHARE(2, DEST), HEAD_TAG(2, DEST) },
	  .want = { { IMG_A, "available", true, "git-sha=" SHA_C, 1, 4 } } },
	{ .name = "visibility: state: an older state received later does not win",
	  .ops = { STATE(3, "deregistered"), STATE(2, "available"), SHARE(1, DEST), HEAD_TAG(1, DEST) },
	  .want = { { IMG_A, "deregistered", true, "git-sha=" SHA_C, 1, 4 } } },
	{ .name = "visibility: state: a later time wins even over a later lifecycle state",
	  .ops = { STATE(2, "available"), STATE(3, "pending"), SHARE(1, DEST), HEAD_TAG(1, DEST) },
	  .want = { { IMG_A, "pending", true, "git-sha=" SHA_C, 1, 4 } } },
	{ .name = "visibility: state: pending and available in the same second: available",
	  .ops = { STATE(2, "available"), STATE(2, "pending"), SHARE(1, DEST), HEAD_TAG(1, DEST) },
	  .want = { { IMG_A, "available", true, "git-sha=" SHA_C, 1, 4 } } },
	{ .name = "visibility: state: available and disabled in the same second: disabled",
	  .ops = { STATE(2, "disabled"), STATE(2, "available"), SHARE(1, DEST), HEAD_TAG(1, DEST) },
	  .want = { { IMG_A, "disabled", true, "git-sha=" SHA_C, 1, 4 } } },
	{ .name = "visibility: state: disabled and deregistered in the same second: deregistered",
	  .ops = { STATE(2, "disabled"), STATE(2, "deregistered"), SHARE(1, DEST), HEAD_TAG(1, DEST) },
	  .want = { { IMG_A, "deregistered", true, "git-sha=" SHA_C, 1, 4 } } },
	/* --- creation time and more than one AMI --- */
	/* the cause is the newest event received (the state, after the share and the tag), not the latest time */
	{ .name = "visibility: the creation time is the earliest event time, whatever arrives first",
	  .ops = { SHARE(5, DEST), HEAD_TAG(6, DEST), STATE(3, "available"), SEEN(4) },
	  .want = { { IMG_A, "available", true, "git-sha=" SHA_C, 3, 3 } } },
	{ .name = "visibility: two AMIs of the commit, each as the account sees it",
	  .ops = { SHARE(1, DEST), HEAD_TAG(2, DEST), STATE(3, "available"),
		   { .kind = OP_TAG, .t = 4, .account = DEST, .image = IMG_B },
		   { .kind = OP_STATE, .t = 5, .value = "pending", .image = IMG_B } },
	  .want = { { IMG_A, "available", true, "git-sha=" SHA_C, 1, 3 },
		    { IMG_B, "pending", false, "git-sha=" SHA_C, 4, 5 } } },
};

#define N_VIS (sizeof vis_cases / sizeof vis_cases[0])

struct ami_out {
	char image[32];
	char state[32];            /* "" when unknown */
	bool visible;
	char tags[256];
	int64_t created_ms;
	size_t cause;              /* 1-based op of the event, 0 when none matches */
};

struct vis_out {
	struct ami_out amis[MAX_AMIS + 2];
	size_t n;
};

/* The facts of op, as facts_from_event makes them: the AMI seen (with the owner, but for a tag event) and the op. */
static size_t op_facts(const struct vis_case *c, const struct op *op, struct fact out[2])
{
	const char *region = op->region != NULL ? op->region : SUPPORT_REGION;
	const char *image = op->image != NULL ? op->image : IMG_A;
	bool tag = op->kind == OP_TAG || op->kind == OP_UNTAG || op->kind == OP_UNTAG_ALL;
	const char *owner = tag ? NULL : c->owner != NULL ? c->owner : OWNER;
	int64_t t = T0 + (int64_t)op->t * 1000;

	if (op->kind == OP_LISTED) {
		out[0] = (struct fact){ .kind = FACT_IMAGES_SEEN, .time_ms = t, .region = region, .account = op->account,
					.key = group_fx->asg->git->tag_name, .value = SHA_C, .listed = op->value };
		return 1;
	}
	out[0] = (struct fact){ .kind = FACT_AMI_SEEN, .time_ms = t, .region = region, .image_id = image, .owner = owner };
	out[1] = (struct fact){ .time_ms = t, .region = region, .image_id = image, .owner = owner };
	switch (op->kind) {
	case OP_SEEN:
		return 1;
	case OP_STATE:
		out[1].kind = FACT_AMI_STATE;
		out[1].state = op->value;
		break;
	case OP_SHARE:
	case OP_UNSHARE:
		out[1].kind = FACT_AMI_SHARE;
		out[1].account = op->account;
		out[1].shared = op->kind == OP_SHARE;
		break;
	case OP_TAG:
	case OP_UNTAG:
		out[1].kind = FACT_AMI_TAG;
		out[1].account = op->account;
		out[1].key = op->key != NULL ? op->key : group_fx->asg->git->tag_name;
		/* a deletion carries the value the request named, if any (facts.h) */
		out[1].deleted = op->kind == OP_UNTAG;
		out[1].value = op->kind == OP_UNTAG ? op->value : op->value != NULL ? op->value : SHA_C;
		break;
	case OP_UNTAG_ALL:
		out[1].kind = FACT_AMI_TAG;
		out[1].account = op->account;
		out[1].deleted = true;
		break;
	case OP_LISTED:
		break;
	}
	return 2;
}

/* Receive the head push, then c's events in order; apply every fact (in reverse when reverse_apply); load. */
static void run_vis(struct fx *fx, const struct vis_case *c, const size_t *order, bool reverse_apply,
		    struct vis_out *out)
{
	struct amicd_error err = { { 0 }, { 0 } };
	struct store *st = fresh_store(fx);
	struct store_asg_facts *f = NULL;
	const struct decide_input *in;
	const struct fact head = { .kind = FACT_PUSH, .time_ms = T0, .repo = fx->asg->git->url,
				   .branch = fx->asg->git->ref, .before = SHA_P, .after = SHA_C };
	int64_t head_id, ids[MAX_ROWS] = { 0 };
	size_t n_op = n_ops(c);

	assert_int_equal(store_begin(st, &err), AMICD_OK);
	head_id = put_event(st, "gitlab", "push", 0);
	for (size_t k = 0; k < n_op; k++)
		ids[order[k]] = put_event(st, "eventbridge", "ami", k + 1);
	apply(st, &head, head_id);
	for (size_t k = 0; k < n_op; k++) {
		size_t i = reverse_apply ? n_op - 1 - k : k;
		struct fact facts[2];
		size_t n = op_facts(c, &c->ops[i], facts);

		for (size_t j = 0; j < n; j++)
			apply(st, &facts[j], ids[i]);
	}
	assert_int_equal(store_commit(st, &err), AMICD_OK);

	f = load(fx, st);
	in = store_asg_facts_input(f);
	assert_non_null(in->head);
	assert_string_equal(in->head->commit, SHA_C);
	memset(out, 0, sizeof *out);
	for (size_t a = 0; a < in->n_amis && out->n < sizeof out->amis / sizeof out->amis[0]; a++) {
		const struct decide_ami *ami = &in->amis[a];
		struct ami_out *o = &out->amis[out->n++];
		size_t at = 0;

		snprintf(o->image, sizeof o->image, "%s", ami->image_id);
		snprintf(o->state, sizeof o->state, "%s", ami->state != NULL ? ami->state : "");
		o->visible = ami->visible;
		for (size_t t = 0; t < ami->n_tags && at < sizeof o->tags; t++)
			at += (size_t)snprintf(o->tags + at, sizeof o->tags - at, "%s%s=%s", t > 0 ? "," : "",
					       ami->tags[t].key, ami->tags[t].value);
		o->created_ms = ami->created_ms;
		for (size_t i = 0; i < n_op; i++)
			if (ids[i] == ami->last_event_id)
				o->cause = i + 1;
	}
	store_asg_facts_free(&f);
	drop_store(fx, &st);
}

static size_t n_wanted(const struct vis_case *c)
{
	size_t n = 0;

	while (n < MAX_AMIS && c->want[n].image != NULL)
		n++;
	return n;
}

/* Whether got is what the design says; the cause (an event id) only when check_cause. */
static bool vis_as_designed(const struct vis_case *c, const struct vis_out *got, bool check_cause)
{
	size_t n = n_wanted(c);

	if (got->n != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct ami_want *w = &c->want[i];
		const struct ami_out *o = &got->amis[i];

		if (strcmp(o->image, w->image) != 0 || strcmp(o->state, w->state != NULL ? w->state : "") != 0 ||
		    o->visible != w->visible || strcmp(o->tags, w->tags) != 0 ||
		    (w->created != 0 && o->created_ms != T0 + (int64_t)w->created * 1000) ||
		    (check_cause && w->cause != 0 && o->cause != w->cause))
			return false;
	}
	return true;
}

static void print_vis(const struct vis_case *c, const struct vis_out *got)
{
	size_t n = n_wanted(c);

	print_error("  design.md (%zu AMI(s)):\n", n);
	for (size_t i = 0; i < n; i++)
		print_error("    %s state %s visible %d tags {%s} created +%ds cause op %zu\n", c->want[i].image,
			    c->want[i].state != NULL ? c->want[i].state : "(unknown)", c->want[i].visible,
			    c->want[i].tags, c->want[i].created, c->want[i].cause);
	print_error("  store (%zu AMI(s)):\n", got->n);
	for (size_t i = 0; i < got->n; i++)
		print_error("    %s state %s visible %d tags {%s} created +%llds cause op %zu\n", got->amis[i].image,
			    got->amis[i].state[0] != '\0' ? got->amis[i].state : "(unknown)", got->amis[i].visible,
			    got->amis[i].tags, (long long)((got->amis[i].created_ms - T0) / 1000), got->amis[i].cause);
}

static void run_vis_case(void **state)
{
	const struct vis_case *c = *state;
	size_t orders[MAX_ORDERS][MAX_ROWS];
	/* every AMI fact carries its event time: no order of arrival may change what is seen */
	size_t n = n_ops(c);
	size_t n_orders = receipt_orders(n, true, (uint64_t)(c - vis_cases) + 101, orders, MAX_ORDERS);
	struct vis_out got;

	for (int reverse = 0; reverse < 2; reverse++) {
		run_vis(group_fx, c, orders[0], reverse == 1, &got);
		if (vis_as_designed(c, &got, true))
			continue;
		if (c->disagrees != NULL) {
			print_message("store and design.md disagree (row skipped): %s\n", c->disagrees);
			skip();
		}
		print_vis(c, &got);
		fail_msg("%s%s", c->name, reverse ? " (facts applied in reverse)" : "");
	}
	if (c->disagrees != NULL)
		fail_msg("%s: the store now agrees with design.md; drop .disagrees", c->name);
	for (size_t k = 1; k < n_orders; k++) {
		run_vis(group_fx, c, orders[k], k % 2 == 0, &got);
		if (!vis_as_designed(c, &got, false)) {
			print_vis(c, &got);
			print_order(orders[k], n);
			fail_msg("%s: what the account sees depends on the order of arrival", c->name);
		}
	}
}

/* ---- GET /api/v1/amis: store_amis_list ------------------------------------------------ */

/*
 * The list as it was answered before migration 0009 (a filter on every AMI,
 * then a sort): the oracle the indexed statements must agree with, row for row.
 */
static const char amis_list_oracle[] =
	"SELECT a.region, a.image_id FROM amis a"
	" WHERE (?1 IS NULL OR EXISTS (SELECT 1 FROM ami_tags t WHERE t.region = a.region"
	"   AND t.image_id = a.image_id AND lower(t.value) = lower(?1)))"
	" AND (?2 IS NULL OR a.owner = ?2 OR EXISTS (SELECT 1 FROM ami_shares h WHERE h.region = a.region"
	"   AND h.image_id = a.image_id AND h.account IN (?2, 'all') AND h.shared = 1)"
	"   OR EXISTS (SELECT 1 FROM ami_tags t WHERE t.region = a.region AND t.image_id = a.image_id"
	"   AND t.account = ?2))"
	" ORDER BY a.created_ms DESC, a.first_event DESC LIMIT ?3";

/* "region/image,region/image,…" of what store_amis_list answers. */
static void amis_listed(struct store *st, const char *commit, const char *account, int limit, char *buf,
			size_t size)
{
	struct amicd_error err = { { 0 }, { 0 } };
	struct store_ami_list list = { 0 };
	size_t at = 0;

	if (store_amis_list(st, commit, account, limit, &list, &err) != AMICD_OK)
		fail_msg("store_amis_list: %s", err.message);
	buf[0] = '\0';
	for (size_t i = 0; i < list.n && at < size; i++)
		at += (size_t)snprintf(buf + at, size - at, "%s%s/%s", i > 0 ? "," : "", list.rows[i].region,
				       list.rows[i].image_id);
	store_ami_list_free(&list);
}

/* The same from the oracle's SQL, on the store's own connection. */
static void amis_oracle(struct store *st, const char *commit, const char *account, int limit, char *buf,
			size_t size)
{
	sqlite3_stmt *s = NULL;
	size_t at = 0;
	int n = 0;

	assert_int_equal(sqlite3_prepare_v2(st->db, amis_list_oracle, -1, &s, NULL), SQLITE_OK);
	if (commit != NULL)
		sqlite3_bind_text(s, 1, commit, -1, SQLITE_STATIC);
	if (account != NULL)
		sqlite3_bind_text(s, 2, account, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, limit);
	buf[0] = '\0';
	while (sqlite3_step(s) == SQLITE_ROW && at < size)
		at += (size_t)snprintf(buf + at, size - at, "%s%s/%s", n++ > 0 ? "," : "",
				       (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1));
	sqlite3_finalize(s);
}

/* EXPLAIN QUERY PLAN of the store's cached statement whose SQL contains marker, one line per step. */
static void amis_plan(struct store *st, const char *marker, char *buf, size_t size)
{
	const char *sql = NULL;
	sqlite3_stmt *s = NULL;
	char *q;
	size_t at = 0;

	for (size_t i = 0; i < STORE_CACHE_SLOTS && st->cache[i].sql != NULL; i++)
		if (strstr(st->cache[i].sql, "FROM amis a") != NULL && strstr(st->cache[i].sql, marker) != NULL)
			sql = st->cache[i].sql;
	if (sql == NULL)
		fail_msg("no cached statement of store_amis_list with \"%s\"", marker);
	q = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);
	assert_non_null(q);
	assert_int_equal(sqlite3_prepare_v2(st->db, q, -1, &s, NULL), SQLITE_OK);
	buf[0] = '\0';
	while (sqlite3_step(s) == SQLITE_ROW && at < size)
		at += (size_t)snprintf(buf + at, size - at, "%s\n", (const char *)sqlite3_column_text(s, 3));
	sqlite3_finalize(s);
	sqlite3_free(q);
}

/*
 * ?commit= finds its AMIs from the tag value (index ami_tags_by_any_lvalue),
 * not by reading every AMI; without it the newest are read in list order
 * (amis_by_created). Either way the rows and their order are the ones the
 * unindexed query gave: a commit tagged in any region, account or key, in any
 * case; a deleted tag does not count; an AMI tagged in two accounts is listed
 * once; equal creation times are ordered by the first event, newest first;
 * the account filter and the limit apply as before.
 */
static void amis_list_by_commit(void **state)
{
	struct amicd_error err = { { 0 }, { 0 } };
	struct fx *fx = group_fx;
	struct store *st = fresh_store(fx);
	/* image, region, owner, created (s after T0), [account, key, value, deleted] of its tag */
	static const struct {
		const char *image, *region, *owner;
		int created;
		const char *account, *key, *value;
		bool deleted;
	} amis[] = {
		{ "ami-01", "eu-west-1", OWNER, 10, OWNER, "git-sha", SHA_A, false },
		{ "ami-02", "eu-west-1", OWNER, 20, DEST, "git-sha", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false },
		{ "ami-03", "us-east-1", OTHER, 20, OTHER, "commit", SHA_A, false },
		{ "ami-04", "eu-west-1", OWNER, 30, OWNER, "git-sha", SHA_B, false },
		{ "ami-05", "eu-west-1", OWNER, 40, OWNER, "git-sha", SHA_A, true },
		{ "ami-06", "eu-west-1", OTHER, 5, OTHER, "git-sha", SHA_A, false },
		{ "ami-06", "eu-west-1", OTHER, 5, DEST, "git-sha", SHA_A, false },
		{ "ami-07", "eu-west-1", OWNER, 50, OWNER, "git-sha", NULL, false },
	};
	static const struct {
		const char *commit, *account;
		int limit;
		const char *want;
	} cases[] = {
		{ SHA_A, NULL, 50, "us-east-1/ami-03,eu-west-1/ami-02,eu-west-1/ami-01,eu-west-1/ami-06" },
		{ "AaAaAaAaAaAaAaAaAaAaAaAaAaAaAaAaAaAaAaAa", NULL, 2, "us-east-1/ami-03,eu-west-1/ami-02" },
		{ SHA_A, DEST, 50, "eu-west-1/ami-02,eu-west-1/ami-06" },
		{ SHA_A, OTHER, 50, "us-east-1/ami-03,eu-west-1/ami-06" },
		{ SHA_B, NULL, 50, "eu-west-1/ami-04" },
		{ SHA_C, NULL, 50, "" },
		{ NULL, NULL, 3, "eu-west-1/ami-07,eu-west-1/ami-05,eu-west-1/ami-04" },
		{ NULL, OTHER, 50, "us-east-1/ami-03,eu-west-1/ami-06" },
	};
	char got[512], oracle[512], plan[2048];

	(void)state;
	assert_int_equal(store_begin(st, &err), AMICD_OK);
	for (size_t i = 0; i < sizeof amis / sizeof amis[0]; i++) {
		int64_t id = put_event(st, "eventbridge", "ami", i + 1);
		int64_t ms = T0 + amis[i].created * 1000;
		const struct fact seen = { .kind = FACT_AMI_SEEN, .time_ms = ms, .region = amis[i].region,
					   .image_id = amis[i].image, .owner = amis[i].owner };
		const struct fact tag = { .kind = FACT_AMI_TAG, .time_ms = ms, .region = amis[i].region,
					  .image_id = amis[i].image, .account = amis[i].account, .key = amis[i].key,
					  .value = amis[i].value };
		const struct fact untag = { .kind = FACT_AMI_TAG, .time_ms = ms + 1000, .region = amis[i].region,
					    .image_id = amis[i].image, .account = amis[i].account, .key = amis[i].key,
					    .deleted = true };

		apply(st, &seen, id);
		if (amis[i].value != NULL)
			apply(st, &tag, id);
		if (amis[i].deleted) /* a later DeleteTags, an event of its own */
			apply(st, &untag, put_event(st, "eventbridge", "ami", 100 + i));
	}
	assert_int_equal(store_commit(st, &err), AMICD_OK);

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		amis_listed(st, cases[i].commit, cases[i].account, cases[i].limit, got, sizeof got);
		amis_oracle(st, cases[i].commit, cases[i].account, cases[i].limit, oracle, sizeof oracle);
		if (strcmp(got, cases[i].want) != 0 || strcmp(oracle, cases[i].want) != 0)
			fail_msg("case %zu (commit %s, account %s, limit %d):\n  want   %s\n  store  %s\n  before %s", i,
				 cases[i].commit != NULL ? cases[i].commit : "-",
				 cases[i].account != NULL ? cases[i].account : "-", cases[i].limit, cases[i].want, got,
				 oracle);
	}

	/* no statement reads every AMI: a commit's are looked up, the newest read in order */
	amis_plan(st, "lower(?1)", plan, sizeof plan);
	if (strstr(plan, "SCAN") != NULL || strstr(plan, "ami_tags_by_any_lvalue") == NULL)
		fail_msg("?commit= plan:\n%s", plan);
	amis_plan(st, "WHERE (?2 IS NULL", plan, sizeof plan);
	if (strstr(plan, "SCAN a USING INDEX amis_by_created") == NULL || strstr(plan, "TEMP B-TREE") != NULL)
		fail_msg("list plan:\n%s", plan);
	drop_store(fx, &st);
}

int main(void)
{
	struct CMUnitTest tests[N_HEAD + 1 + N_VIS + 1];
	size_t n = 0;

	for (size_t i = 0; i < N_HEAD; i++)
		tests[n++] = (struct CMUnitTest){ .name = head_cases[i].name, .test_func = run_head_case,
						  .initial_state = (void *)&head_cases[i] };
	tests[n++] = (struct CMUnitTest){ .name = "head: long histories are read only as far as needed",
					  .test_func = long_histories };
	for (size_t i = 0; i < N_VIS; i++)
		tests[n++] = (struct CMUnitTest){ .name = vis_cases[i].name, .test_func = run_vis_case,
						  .initial_state = (void *)&vis_cases[i] };
	tests[n++] = (struct CMUnitTest){ .name = "amis list: a commit's AMIs from the tag value, same rows and order",
					  .test_func = amis_list_by_commit };
	return cmocka_run_group_tests_name("store_facts", tests, group_setup, group_teardown);
}
