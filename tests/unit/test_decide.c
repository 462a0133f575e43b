/*
 * test_decide.c — unit tests of decide.h, the pure decision engine of design
 * §2: for one ASG, from its head, the commits pushed, the AMIs its account sees
 * and its pin, what should its pin be and what is it waiting for.
 *
 * The heart of this file is one table (`cases[]`): each row names a situation,
 * describes the input compactly (ASG policy / ref commit / static filters /
 * frozen; the head; the pushed commits with their push order; the AMIs as the
 * ASG's account sees them; the pin) and the whole expected result (action,
 * state, commit, image id, cause event, waiting commit, missing bits and a
 * fragment of the reason). Every row becomes its own cmocka test, named after
 * the row, so a failure names the situation. For every row the runner also
 * checks determinism (deciding twice gives byte-identical results, whatever
 * the output buffer held before), order independence (the AMIs listed in
 * reverse order give the same decision: the store may list them in any order)
 * and, for a promotion, that deciding again with the new pin keeps (design §2:
 * "the same promotion never happens twice").
 *
 * Smaller tables cover decide_ready() directly, decide_missing_name() and
 * decide_state_name().
 *
 * Vocabulary (design §1): the head is the branch's current commit; a commit is
 * ready for an ASG when some AMI in its region is available, visible to (owned
 * by, shared with or public to) its account and, as seen from that account,
 * carries tag git-sha = commit and every static filter; the pin is the commit
 * + AMI the ASG runs.
 *
 * Pure: no files, no environment, no clock.
 */
#include "decide.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- the vocabulary of the table ---------------------------------------- */

/* Commits of platform/golden-images, in push order C1 < C2 < C3 < C4. */
#define C1 "60c8eedbd9916e98e042832de430e52be7ffe0ac"
#define C2 "a580d6e1e6ce37d05cd5b731b52c416f02966915"
#define C3 "61c979eab8ea475e0b84db7556d2049e9dae6d89"
#define C4 "7d3f0c2b9e1a4d5c6b7a8f9e0d1c2b3a4f5e6d7c"
#define C3_UPPER "61C979EAB8EA475E0B84DB7556D2049E9DAE6D89"

/* Pushes: commit, order (event id of its first push), event (the push that made it the head). */
#define PUSH(c, order, event) { (c), (order), (event) }
/* The usual history: one push per commit, event id = order. */
#define PUSHED_1234 { PUSH(C1, 10, 10), PUSH(C2, 20, 20), PUSH(C3, 30, 30), PUSH(C4, 40, 40) }

/* Creation times: 2025-03-04T08:41:17Z plus minutes. */
#define T0 INT64_C(1741077677000)
#define MIN(n) (T0 + INT64_C(60000) * (n))

#define TAG(k, v) { (k), (v) }
#define SHA(c) TAG("git-sha", (c))
#define ROLE(v) TAG("image-role", (v))

#define MAX_TAGS 4
#define MAX_AMIS 4
#define MAX_PUSHED 5
#define MAX_STATICS 3

/* An AMI as the ASG's account sees it; tags last (variadic). */
struct ami_row {
	const char *id;
	const char *state;
	bool visible;
	int64_t created_ms;
	int64_t first_seen;
	int64_t last_event_id;
	struct decide_tag tags[MAX_TAGS];
};

#define AMI(id, state, visible, created, first_seen, last_event, ...) \
	{ (id), (state), (visible), (created), (first_seen), (last_event), { __VA_ARGS__ } }
/* available, visible: the usual ready AMI of commit c */
#define READY(id, c, created, first_seen, last_event) \
	AMI(id, "available", true, created, first_seen, last_event, SHA(c))

/* short names for the table */
#define PROMOTE DECIDE_PROMOTE
#define KEEP DECIDE_KEEP
#define UP_TO_DATE DECIDE_UP_TO_DATE
#define WAITING DECIDE_WAITING
#define FROZEN DECIDE_FROZEN
#define NO_PUSHES DECIDE_NO_PUSHES
#define M_IMAGE ((unsigned)MISSING_IMAGE)
#define M_AVAILABLE ((unsigned)MISSING_AVAILABLE)
#define M_SHARED ((unsigned)MISSING_SHARED)
#define M_STATIC ((unsigned)MISSING_STATIC_TAGS)

struct want {
	enum decide_action action;
	enum decide_state state;
	const char *commit;       /* the new pin's commit (PROMOTE), else NULL */
	const char *image;        /* the new pin's AMI (PROMOTE), else NULL */
	int64_t cause;            /* cause_event_id (PROMOTE), else 0 */
	const char *waiting;      /* waiting_commit, or NULL */
	unsigned missing;
	const char *reason;       /* a fragment the reason must contain, or NULL */
};

struct dcase {
	const char *name;
	/* the ASG (tag_name is always "git-sha") */
	enum decide_policy policy;
	const char *ref_commit;
	struct decide_tag statics[MAX_STATICS];
	bool frozen;
	/* the facts */
	const char *head;         /* the head's commit, one of pushed[]; NULL: no push recorded */
	bool unconfirmed;         /* the head came from a push GitLab's branch API has not confirmed */
	struct decide_commit pushed[MAX_PUSHED];
	struct ami_row amis[MAX_AMIS];
	struct decide_pin pin;    /* commit NULL: never pinned */
	const char *blocked[3];   /* commits an admin blocked for the ASG */
	/* the decision */
	struct want want;
};

/* ---- the table ------------------------------------------------------------ */

static const struct dcase cases[] = {
	/* --- no pushes ---------------------------------------------------------- */
	{ .name = "no pushes: no_pushes, keep",
	  .amis = { READY("ami-0c3", C3, MIN(1), 5, 5) },
	  .want = { KEEP, NO_PUSHES, NULL, NULL, 0, NULL, 0, "no push" } },
	{ .name = "no pushes, already pinned (manual pin): keep the pin, no_pushes",
	  .amis = { READY("ami-0c3", C3, MIN(1), 5, 5) },
	  .pin = { C3, "ami-0c3" },
	  .want = { KEEP, NO_PUSHES, NULL, NULL, 0, NULL, 0, "no push" } },
	{ .name = "no pushes, frozen: frozen",
	  .frozen = true,
	  .want = { KEEP, FROZEN, NULL, NULL, 0, NULL, 0, NULL } },

	/* --- a head GitLab's branch API has not confirmed (design §9) ------------- */
	{ .name = "head from an unconfirmed push, ready: wait for confirmation, keep the pin",
	  .head = C3, .unconfirmed = true, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c1", C1, MIN(1), 11, 11), READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C1, "ami-0c1" },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, (unsigned)MISSING_CONFIRMED, "missing: confirmed" } },
	{ .name = "head from an unconfirmed push, not built yet: both missing",
	  .head = C3, .unconfirmed = true, .pushed = PUSHED_1234,
	  .pin = { C1, "ami-0c1" },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_IMAGE | (unsigned)MISSING_CONFIRMED, NULL } },
	{ .name = "policy latest, head unconfirmed: an older ready commit newer than the pin may go, the head not",
	  .policy = DECIDE_LATEST, .head = C3, .unconfirmed = true, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c1", C1, MIN(1), 11, 11), READY("ami-0c2", C2, MIN(2), 21, 21),
		    READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C1, "ami-0c1" },
	  .want = { PROMOTE, WAITING, C2, "ami-0c2", 21, C3, (unsigned)MISSING_CONFIRMED, NULL } },
	{ .name = "a configured commit needs no confirmation",
	  .ref_commit = C3, .unconfirmed = true, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .want = { PROMOTE, UP_TO_DATE, C3, "ami-0c3", 35, NULL, 0, NULL } },

	/* --- head ready --------------------------------------------------------- */
	{ .name = "push before AMI: head ready, no pin -> promote, cause = the AMI's last event",
	  .head = C3, .pushed = { PUSH(C3, 30, 30) },
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .want = { PROMOTE, UP_TO_DATE, C3, "ami-0c3", 35, NULL, 0, "head 61c979ea is ready as ami-0c3" } },
	{ .name = "AMI before push: head ready, no pin -> promote, cause = the head's push",
	  .head = C3, .pushed = { PUSH(C3, 30, 30) },
	  .amis = { READY("ami-0c3", C3, MIN(1), 11, 12) },
	  .want = { PROMOTE, UP_TO_DATE, C3, "ami-0c3", 30, NULL, 0, "head" } },
	{ .name = "head ready and already pinned to its AMI: up_to_date, keep",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C3, "ami-0c3" },
	  .want = { KEEP, UP_TO_DATE, NULL, NULL, 0, NULL, 0, "pinned to head 61c979ea" } },
	{ .name = "head ready, pin on an older commit: promote",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c1", C1, MIN(1), 11, 11), READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C1, "ami-0c1" },
	  .want = { PROMOTE, UP_TO_DATE, C3, "ami-0c3", 35, NULL, 0, NULL } },
	{ .name = "policy head: head moved back to an older commit (force push), ready: promote to it",
	  .head = C1, .pushed = { PUSH(C1, 10, 50), PUSH(C3, 30, 30) },
	  .amis = { READY("ami-0c1", C1, MIN(1), 11, 11), READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C3, "ami-0c3" },
	  .want = { PROMOTE, UP_TO_DATE, C1, "ami-0c1", 50, NULL, 0, NULL } },

	/* --- what the head lacks -------------------------------------------------- */
	{ .name = "share before tag: visible, available, no git-sha tag in the account's view -> missing image",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { AMI("ami-0c3", "available", true, MIN(5), 31, 35, ROLE("worker")) },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_IMAGE, "missing: image" } },
	{ .name = "tag before share: tagged in the account's view, not visible -> missing shared",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { AMI("ami-0c3", "available", false, MIN(5), 31, 35, SHA(C3)) },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_SHARED, "missing: shared" } },
	{ .name = "tags set only by the owner account (none in the ASG account's view) -> missing image",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { AMI("ami-0c3", "available", true, MIN(5), 31, 35, TAG(NULL, NULL)) },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_IMAGE, NULL } },
	{ .name = "no AMI known at all -> missing image",
	  .head = C3, .pushed = PUSHED_1234,
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_IMAGE, "keeping no pin" } },
	{ .name = "only an AMI of another commit -> missing image",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c2", C2, MIN(2), 21, 21) },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_IMAGE, NULL } },
	{ .name = "pending -> missing available",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { AMI("ami-0c3", "pending", true, MIN(5), 31, 35, SHA(C3)) },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_AVAILABLE, "missing: available" } },
	{ .name = "state unknown (no state event yet) -> missing available",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { AMI("ami-0c3", NULL, true, MIN(5), 31, 35, SHA(C3)) },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_AVAILABLE, NULL } },
	{ .name = "failed and not shared -> missing available and shared",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { AMI("ami-0c3", "failed", false, MIN(5), 31, 35, SHA(C3)) },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_AVAILABLE | M_SHARED, "missing: available, shared" } },
	{ .name = "pending, not shared, static filter mismatch -> three missing bits at once",
	  .head = C3, .pushed = PUSHED_1234, .statics = { ROLE("worker") },
	  .amis = { AMI("ami-0c3", "pending", false, MIN(5), 31, 35, SHA(C3), ROLE("api")) },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_AVAILABLE | M_SHARED | M_STATIC,
		    "missing: available, shared, static_tags" } },

	/* --- static filters --------------------------------------------------------- */
	{ .name = "static filter value mismatch -> missing static_tags",
	  .head = C3, .pushed = PUSHED_1234, .statics = { ROLE("worker") },
	  .amis = { AMI("ami-0c3", "available", true, MIN(5), 31, 35, SHA(C3), ROLE("api")) },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_STATIC, "missing: static_tags" } },
	{ .name = "static filter tag absent -> missing static_tags",
	  .head = C3, .pushed = PUSHED_1234, .statics = { ROLE("worker") },
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_STATIC, NULL } },
	{ .name = "one of two static filters mismatches -> missing static_tags",
	  .head = C3, .pushed = PUSHED_1234, .statics = { ROLE("worker"), TAG("os", "al2023") },
	  .amis = { AMI("ami-0c3", "available", true, MIN(5), 31, 35, SHA(C3), ROLE("worker"), TAG("os", "rhel9")) },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_STATIC, NULL } },
	{ .name = "static filters all match -> ready, promote",
	  .head = C3, .pushed = PUSHED_1234, .statics = { ROLE("worker"), TAG("os", "al2023") },
	  .amis = { AMI("ami-0c3", "available", true, MIN(5), 31, 35, TAG("os", "al2023"), SHA(C3), ROLE("worker")) },
	  .want = { PROMOTE, UP_TO_DATE, C3, "ami-0c3", 35, NULL, 0, NULL } },
	{ .name = "static filters: only the matching AMI of two qualifies, even if older",
	  .head = C3, .pushed = PUSHED_1234, .statics = { ROLE("worker") },
	  .amis = { AMI("ami-0api", "available", true, MIN(9), 40, 41, SHA(C3), ROLE("api")),
		    AMI("ami-0wrk", "available", true, MIN(5), 31, 35, SHA(C3), ROLE("worker")) },
	  .want = { PROMOTE, UP_TO_DATE, C3, "ami-0wrk", 35, NULL, 0, NULL } },

	/* --- several qualifying AMIs ------------------------------------------------- */
	{ .name = "two ready AMIs: the newest by created_ms wins (listed oldest first)",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0old", C3, MIN(5), 31, 45), READY("ami-0new", C3, MIN(9), 32, 38) },
	  .want = { PROMOTE, UP_TO_DATE, C3, "ami-0new", 38, NULL, 0, "ami-0new" } },
	{ .name = "two ready AMIs: the newest by created_ms wins (listed newest first, seen later)",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0new", C3, MIN(9), 31, 38), READY("ami-0old", C3, MIN(5), 32, 45) },
	  .want = { PROMOTE, UP_TO_DATE, C3, "ami-0new", 38, NULL, 0, NULL } },
	{ .name = "two ready AMIs created the same second: the greater image id wins, not the one seen later",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0aaa", C3, MIN(5), 33, 36), READY("ami-0bbb", C3, MIN(5), 31, 37) },
	  .want = { PROMOTE, UP_TO_DATE, C3, "ami-0bbb", 37, NULL, 0, NULL } },
	{ .name = "two ready AMIs created the same second, listed the other way: the same pick",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0bbb", C3, MIN(5), 31, 37), READY("ami-0aaa", C3, MIN(5), 33, 36) },
	  .want = { PROMOTE, UP_TO_DATE, C3, "ami-0bbb", 37, NULL, 0, NULL } },
	{ .name = "a not-ready newer AMI does not beat a ready older one",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { AMI("ami-0new", "pending", true, MIN(9), 36, 36, SHA(C3)), READY("ami-0old", C3, MIN(5), 31, 35) },
	  .want = { PROMOTE, UP_TO_DATE, C3, "ami-0old", 35, NULL, 0, NULL } },
	{ .name = "an unshared newer AMI does not beat a ready older one",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0old", C3, MIN(5), 31, 35), AMI("ami-0new", "available", false, MIN(9), 36, 36, SHA(C3)) },
	  .want = { PROMOTE, UP_TO_DATE, C3, "ami-0old", 35, NULL, 0, NULL } },
	{ .name = "no AMI ready: waiting reports the closest one's missing bits",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { AMI("ami-0a", "pending", false, MIN(9), 36, 36, SHA(C3)),
		    AMI("ami-0b", "pending", true, MIN(5), 31, 35, SHA(C3)) },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_AVAILABLE, NULL } },

	/* --- head not ready ------------------------------------------------------------- */
	{ .name = "head not ready keeps the previous pin: waiting for the head",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c1", C1, MIN(1), 11, 11), AMI("ami-0c3", "pending", true, MIN(5), 31, 35, SHA(C3)) },
	  .pin = { C1, "ami-0c1" },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_AVAILABLE, "keeping the current pin" } },

	/* --- older commits becoming ready ----------------------------------------------------- */
	{ .name = "policy head: an older head's AMI ready after the newer head was promoted -> keep",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35), READY("ami-0c2", C2, MIN(7), 36, 50) },
	  .pin = { C3, "ami-0c3" },
	  .want = { KEEP, UP_TO_DATE, NULL, NULL, 0, NULL, 0, NULL } },
	{ .name = "policy head: head not ready, an intermediate commit ready -> keep, waiting for the head",
	  .head = C4, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c1", C1, MIN(1), 11, 11), READY("ami-0c3", C3, MIN(5), 31, 35),
		    AMI("ami-0c4", "pending", true, MIN(6), 41, 41, SHA(C4)) },
	  .pin = { C1, "ami-0c1" },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C4, M_AVAILABLE, NULL } },
	{ .name = "policy latest: an older commit's AMI ready after the newer head was promoted -> keep",
	  .policy = DECIDE_LATEST, .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35), READY("ami-0c2", C2, MIN(7), 36, 50) },
	  .pin = { C3, "ami-0c3" },
	  .want = { KEEP, UP_TO_DATE, NULL, NULL, 0, NULL, 0, NULL } },

	/* --- blocked commits (design §1, §2) ------------------------------------------------ */
	{ .name = "blocked head, ready: wait with missing blocked, keep the rolled-back pin",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c1", C1, MIN(1), 11, 11), READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C1, "ami-0c1" }, .blocked = { C3 },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, (unsigned)MISSING_BLOCKED, "head 61c979ea is blocked" } },
	{ .name = "blocked head named in upper case: still blocked",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .blocked = { C3_UPPER },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, (unsigned)MISSING_BLOCKED, "keeping no pin" } },
	{ .name = "blocked head, not built: both missing",
	  .head = C3, .pushed = PUSHED_1234,
	  .pin = { C1, "ami-0c1" }, .blocked = { C3 },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_IMAGE | (unsigned)MISSING_BLOCKED, NULL } },
	{ .name = "blocked head, frozen: frozen, waiting for it with missing blocked",
	  .frozen = true, .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c1", C1, MIN(1), 11, 11), READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C1, "ami-0c1" }, .blocked = { C3 },
	  .want = { KEEP, FROZEN, NULL, NULL, 0, C3, (unsigned)MISSING_BLOCKED, "frozen; head 61c979ea is blocked" } },
	{ .name = "blocked head, a newer push ready: promote the newer head",
	  .head = C4, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c1", C1, MIN(1), 11, 11), READY("ami-0c3", C3, MIN(5), 31, 35),
		    READY("ami-0c4", C4, MIN(8), 41, 45) },
	  .pin = { C1, "ami-0c1" }, .blocked = { C3 },
	  .want = { PROMOTE, UP_TO_DATE, C4, "ami-0c4", 45, NULL, 0, NULL } },
	{ .name = "pinned to the head and the head blocked: waiting with missing blocked, never up_to_date",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C3, "ami-0c3" }, .blocked = { C3 },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, (unsigned)MISSING_BLOCKED, NULL } },
	{ .name = "policy latest: blocked head skipped, the newest ready unblocked commit newer than the pin goes",
	  .policy = DECIDE_LATEST, .head = C4, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c1", C1, MIN(1), 11, 11), READY("ami-0c2", C2, MIN(3), 21, 22),
		    READY("ami-0c4", C4, MIN(6), 41, 44) },
	  .pin = { C1, "ami-0c1" }, .blocked = { C4 },
	  .want = { PROMOTE, WAITING, C2, "ami-0c2", 22, C4, (unsigned)MISSING_BLOCKED, "newest ready commit a580d6e1" } },
	{ .name = "policy latest: a blocked commit between the pin and the head is skipped",
	  .policy = DECIDE_LATEST, .head = C4, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c1", C1, MIN(1), 11, 11), READY("ami-0c2", C2, MIN(3), 21, 22),
		    READY("ami-0c3", C3, MIN(5), 31, 35), AMI("ami-0c4", "pending", true, MIN(6), 41, 42, SHA(C4)) },
	  .pin = { C1, "ami-0c1" }, .blocked = { C3 },
	  .want = { PROMOTE, WAITING, C2, "ami-0c2", 22, C4, M_AVAILABLE, NULL } },
	{ .name = "policy latest: everything newer than the pin blocked -> keep, waiting for the head",
	  .policy = DECIDE_LATEST, .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c1", C1, MIN(1), 11, 11), READY("ami-0c2", C2, MIN(3), 21, 22),
		    READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C1, "ami-0c1" }, .blocked = { C2, C3 },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, (unsigned)MISSING_BLOCKED, NULL } },
	{ .name = "configured ref commit blocked: waits until unblocked",
	  .ref_commit = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c1", C1, MIN(1), 11, 11), READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C1, "ami-0c1" }, .blocked = { C3 },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, (unsigned)MISSING_BLOCKED, "until it is unblocked" } },
	{ .name = "a blocked commit that is neither head nor candidate changes nothing",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C1, "ami-0c1" }, .blocked = { C2 },
	  .want = { PROMOTE, UP_TO_DATE, C3, "ami-0c3", 35, NULL, 0, NULL } },

	/* --- policy latest ------------------------------------------------------------------- */
	{ .name = "policy latest: head ready -> promote the head",
	  .policy = DECIDE_LATEST, .head = C4, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35), READY("ami-0c4", C4, MIN(6), 41, 44) },
	  .pin = { C1, "ami-0c1" },
	  .want = { PROMOTE, UP_TO_DATE, C4, "ami-0c4", 44, NULL, 0, NULL } },
	{ .name = "policy latest: head not ready, newest ready commit newer than the pin -> promote it, waiting for the head",
	  .policy = DECIDE_LATEST, .head = C4, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c1", C1, MIN(1), 11, 11), READY("ami-0c2", C2, MIN(3), 21, 22),
		    READY("ami-0c3", C3, MIN(5), 31, 35), AMI("ami-0c4", "pending", true, MIN(6), 41, 42, SHA(C4)) },
	  .pin = { C1, "ami-0c1" },
	  .want = { PROMOTE, WAITING, C3, "ami-0c3", 35, C4, M_AVAILABLE, "newest ready commit 61c979ea" } },
	{ .name = "policy latest: cause is the intermediate commit's push when it is newer than its AMI",
	  .policy = DECIDE_LATEST, .head = C4, .pushed = { PUSH(C1, 10, 10), PUSH(C3, 30, 60), PUSH(C4, 40, 40) },
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C1, "ami-0c1" },
	  .want = { PROMOTE, WAITING, C3, "ami-0c3", 60, C4, M_IMAGE, NULL } },
	{ .name = "policy latest: head not ready, no pin, intermediate ready -> promote it",
	  .policy = DECIDE_LATEST, .head = C4, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c2", C2, MIN(3), 21, 22) },
	  .want = { PROMOTE, WAITING, C2, "ami-0c2", 22, C4, M_IMAGE, NULL } },
	{ .name = "policy latest: only a commit older than the pin is ready -> keep, waiting for the head",
	  .policy = DECIDE_LATEST, .head = C4, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c2", C2, MIN(7), 36, 50), READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C3, "ami-0c3" },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C4, M_IMAGE, NULL } },
	{ .name = "policy latest: the only ready commit is the pin's -> keep, waiting for the head",
	  .policy = DECIDE_LATEST, .head = C4, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35), AMI("ami-0c4", "available", false, MIN(6), 41, 42, SHA(C4)) },
	  .pin = { C3, "ami-0c3" },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C4, M_SHARED, NULL } },
	{ .name = "policy latest, frozen: would promote an intermediate commit -> keep, frozen, waiting for the head",
	  .policy = DECIDE_LATEST, .frozen = true, .head = C4, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C1, "ami-0c1" },
	  /* decisions are still computed and shown: the would-be target is named */
	  .want = { KEEP, FROZEN, C3, "ami-0c3", 0, C4, M_IMAGE, "frozen" } },

	/* --- ref commit ---------------------------------------------------------------------- */
	{ .name = "ref commit ready, head elsewhere and ready too -> promote the ref commit",
	  .ref_commit = C2, .head = C4, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c2", C2, MIN(3), 21, 22), READY("ami-0c4", C4, MIN(6), 41, 44) },
	  .pin = { C1, "ami-0c1" },
	  .want = { PROMOTE, UP_TO_DATE, C2, "ami-0c2", 22, NULL, 0, "configured commit" } },
	{ .name = "ref commit not ready, head ready -> keep, waiting for the ref commit",
	  .ref_commit = C2, .head = C4, .pushed = PUSHED_1234,
	  .amis = { AMI("ami-0c2", "pending", true, MIN(3), 21, 22, SHA(C2)), READY("ami-0c4", C4, MIN(6), 41, 44) },
	  .pin = { C1, "ami-0c1" },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C2, M_AVAILABLE, "configured commit" } },
	{ .name = "ref commit, no push recorded at all -> still the candidate: promote",
	  .ref_commit = C2,
	  .amis = { READY("ami-0c2", C2, MIN(3), 21, 22) },
	  .want = { PROMOTE, UP_TO_DATE, C2, "ami-0c2", 22, NULL, 0, NULL } },
	{ .name = "ref commit already pinned -> up_to_date",
	  .ref_commit = C2, .head = C4, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c2", C2, MIN(3), 21, 22), READY("ami-0c4", C4, MIN(6), 41, 44) },
	  .pin = { C2, "ami-0c2" },
	  .want = { KEEP, UP_TO_DATE, NULL, NULL, 0, NULL, 0, NULL } },
	{ .name = "ref commit with policy latest: a newer ready commit is no candidate",
	  .policy = DECIDE_LATEST, .ref_commit = C2, .head = C4, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C1, "ami-0c1" },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C2, M_IMAGE, NULL } },
	{ .name = "ref commit written upper-case in the config matches the lower-case tag",
	  .ref_commit = C3_UPPER, .head = C4, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .want = { PROMOTE, UP_TO_DATE, C3_UPPER, "ami-0c3", 35, NULL, 0, NULL } },

	/* --- frozen ----------------------------------------------------------------------------- */
	{ .name = "frozen: head ready, would promote -> keep, state frozen, reason says so",
	  .frozen = true, .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c1", C1, MIN(1), 11, 11), READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C1, "ami-0c1" },
	  .want = { KEEP, FROZEN, C3, "ami-0c3", 0, NULL, 0, "frozen: would promote head 61c979ea" } },
	{ .name = "frozen and waiting -> frozen, still says what the head waits for",
	  .frozen = true, .head = C3, .pushed = PUSHED_1234,
	  .amis = { AMI("ami-0c3", "available", false, MIN(5), 31, 35, SHA(C3)) },
	  .pin = { C1, "ami-0c1" },
	  .want = { KEEP, FROZEN, NULL, NULL, 0, C3, M_SHARED, "frozen" } },
	{ .name = "frozen and up to date -> frozen",
	  .frozen = true, .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C3, "ami-0c3" },
	  .want = { KEEP, FROZEN, NULL, NULL, 0, NULL, 0, "frozen" } },
	{ .name = "frozen: a newer AMI of the pinned commit ready -> keep, frozen",
	  .frozen = true, .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0old", C3, MIN(5), 31, 35), READY("ami-0new", C3, MIN(9), 36, 38) },
	  .pin = { C3, "ami-0old" },
	  .want = { KEEP, FROZEN, C3, "ami-0new", 0, NULL, 0, "frozen" } },

	/* --- the pinned commit's AMIs --------------------------------------------------------------- */
	{ .name = "a newer AMI of the pinned commit becomes ready -> promote to it (same commit, new image)",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0old", C3, MIN(5), 31, 35), READY("ami-0new", C3, MIN(9), 36, 50) },
	  .pin = { C3, "ami-0old" },
	  .want = { PROMOTE, UP_TO_DATE, C3, "ami-0new", 50, NULL, 0, "newer AMI" } },
	{ .name = "a newer AMI of the pinned commit, still pending -> keep, up_to_date",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0old", C3, MIN(5), 31, 35), AMI("ami-0new", "pending", true, MIN(9), 36, 50, SHA(C3)) },
	  .pin = { C3, "ami-0old" },
	  .want = { KEEP, UP_TO_DATE, NULL, NULL, 0, NULL, 0, NULL } },
	{ .name = "the pinned AMI deregistered, no other ready AMI -> keep, up_to_date",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { AMI("ami-0c3", "deregistered", true, MIN(5), 31, 60, SHA(C3)) },
	  .pin = { C3, "ami-0c3" },
	  .want = { KEEP, UP_TO_DATE, NULL, NULL, 0, NULL, 0, NULL } },
	{ .name = "the pinned AMI unshared, no other ready AMI -> keep, up_to_date",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { AMI("ami-0c3", "available", false, MIN(5), 31, 60, SHA(C3)) },
	  .pin = { C3, "ami-0c3" },
	  .want = { KEEP, UP_TO_DATE, NULL, NULL, 0, NULL, 0, NULL } },
	/* Design §2: "The pinned AMI becoming deregistered/disabled/unshared is reported
	 * (status + metric + log); it does not by itself move the pin." */
	{ .name = "the pinned AMI deregistered, an OLDER ready AMI of the same commit -> keep (does not by itself move the pin)",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0older", C3, MIN(3), 31, 33), AMI("ami-0pinned", "deregistered", true, MIN(5), 34, 60, SHA(C3)) },
	  .pin = { C3, "ami-0pinned" },
	  .want = { KEEP, UP_TO_DATE, NULL, NULL, 0, NULL, 0, NULL } },

	/* --- case of commits --------------------------------------------------------------------------- */
	{ .name = "tag value upper-case, head lower-case -> same commit, promote",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c3", C3_UPPER, MIN(5), 31, 35) },
	  .want = { PROMOTE, UP_TO_DATE, C3, "ami-0c3", 35, NULL, 0, NULL } },
	{ .name = "pin commit upper-case, head lower-case -> already pinned, up_to_date",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .pin = { C3_UPPER, "ami-0c3" },
	  .want = { KEEP, UP_TO_DATE, NULL, NULL, 0, NULL, 0, NULL } },

	/* --- two ASGs in different accounts tracking one repo: same head, different views -------------- */
	{ .name = "two ASGs, account 444455556666: AMI shared and tags copied -> promote",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { AMI("ami-0c3", "available", true, MIN(5), 31, 35, SHA(C3), ROLE("worker")) },
	  .pin = { C1, "ami-0c1" },
	  .want = { PROMOTE, UP_TO_DATE, C3, "ami-0c3", 35, NULL, 0, NULL } },
	{ .name = "two ASGs, account 777788889999: same AMI shared but tags not copied yet -> waiting, missing image",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { AMI("ami-0c3", "available", true, MIN(5), 31, 33, TAG(NULL, NULL)) },
	  .pin = { C1, "ami-0c1" },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_IMAGE, NULL } },
	{ .name = "two ASGs, account 999900001111: tags copied but share not yet applied -> waiting, missing shared",
	  .head = C3, .pushed = PUSHED_1234,
	  .amis = { AMI("ami-0c3", "available", false, MIN(5), 31, 34, SHA(C3), ROLE("worker")) },
	  .pin = { C1, "ami-0c1" },
	  .want = { KEEP, WAITING, NULL, NULL, 0, C3, M_SHARED, NULL } },
};

#define N_CASES (sizeof cases / sizeof cases[0])

/* ---- building the input of a row --------------------------------------------- */

struct built {
	struct decide_asg asg;
	struct decide_commit pushed[MAX_PUSHED];
	struct decide_ami amis[MAX_AMIS];
	struct decide_pin pin;
	struct decide_input in;
};

static size_t count_tags(const struct decide_tag *t, size_t max)
{
	size_t n = 0;

	while (n < max && t[n].key != NULL)
		n++;
	return n;
}

/* The decide input of c; reversed: its AMIs listed in reverse order. */
static void build(const struct dcase *c, bool reversed, struct built *b)
{
	size_t n_amis = 0;

	memset(b, 0, sizeof *b);
	b->asg.policy = c->policy;
	b->asg.ref_commit = c->ref_commit;
	b->asg.tag_name = "git-sha";
	b->asg.statics = c->statics;
	b->asg.n_statics = count_tags(c->statics, MAX_STATICS);
	b->asg.frozen = c->frozen;
	b->in.asg = &b->asg;
	b->in.head_unconfirmed = c->unconfirmed;

	while (b->in.n_pushed < MAX_PUSHED && c->pushed[b->in.n_pushed].commit != NULL) {
		b->pushed[b->in.n_pushed] = c->pushed[b->in.n_pushed];
		b->in.n_pushed++;
	}
	b->in.pushed = b->in.n_pushed > 0 ? b->pushed : NULL;
	if (c->head != NULL) {
		for (size_t i = 0; i < b->in.n_pushed; i++)
			if (strcmp(b->pushed[i].commit, c->head) == 0)
				b->in.head = &b->pushed[i];
		if (b->in.head == NULL)
			fail_msg("test bug in \"%s\": head %s is not among the pushed commits", c->name, c->head);
	}

	while (n_amis < MAX_AMIS && c->amis[n_amis].id != NULL)
		n_amis++;
	for (size_t i = 0; i < n_amis; i++) {
		const struct ami_row *r = &c->amis[reversed ? n_amis - 1 - i : i];
		struct decide_ami *a = &b->amis[i];

		a->image_id = r->id;
		a->state = r->state;
		a->visible = r->visible;
		a->tags = r->tags;
		a->n_tags = count_tags(r->tags, MAX_TAGS);
		a->created_ms = r->created_ms;
		a->first_seen = r->first_seen;
		a->last_event_id = r->last_event_id;
	}
	b->in.amis = n_amis > 0 ? b->amis : NULL;
	b->in.n_amis = n_amis;
	while (b->in.n_blocked < 3 && c->blocked[b->in.n_blocked] != NULL)
		b->in.n_blocked++;
	b->in.blocked = b->in.n_blocked > 0 ? c->blocked : NULL;

	if (c->pin.commit != NULL) {
		b->pin = c->pin;
		b->in.pin = &b->pin;
	}
}

/* ---- comparing --------------------------------------------------------------- */

static const char *action_name(enum decide_action a)
{
	return a == DECIDE_PROMOTE ? "promote" : a == DECIDE_KEEP ? "keep" : "?";
}

static void missing_text(unsigned missing, char *buf, size_t size)
{
	size_t at = 0;

	buf[0] = '\0';
	if (missing == 0) {
		snprintf(buf, size, "[]");
		return;
	}
	for (unsigned bit = 1; bit < (1u << DECIDE_MISSING_COUNT) && at < size; bit <<= 1)
		if ((missing & bit) != 0)
			at += (size_t)snprintf(buf + at, size - at, "%s%s", at > 0 ? "," : "[", decide_missing_name(bit));
	if (at < size)
		snprintf(buf + at, size - at, "]");
}

static bool str_eq(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static const char *or_null(const char *s)
{
	return s != NULL ? s : "(null)";
}

static void print_result(const char *label, const struct decide_result *r)
{
	char m[96];

	missing_text(r->missing, m, sizeof m);
	print_error("  %s: action %s, state %s, commit %s, image %s, cause %lld, waiting %s, missing %s\n"
		    "  %*s  reason \"%s\"\n",
		    label, action_name(r->action), decide_state_name(r->state), or_null(r->commit),
		    r->ami != NULL ? or_null(r->ami->image_id) : "(null)", (long long)r->cause_event_id,
		    or_null(r->waiting_commit), m, (int)strlen(label), "", r->reason);
}

static void print_want(const struct want *w)
{
	char m[96];

	missing_text(w->missing, m, sizeof m);
	print_error("  want: action %s, state %s, commit %s, image %s, cause %lld, waiting %s, missing %s\n"
		    "        reason containing \"%s\"\n",
		    action_name(w->action), decide_state_name(w->state), or_null(w->commit), or_null(w->image),
		    (long long)w->cause, or_null(w->waiting), m, w->reason != NULL ? w->reason : "(anything)");
}

static bool matches(const struct want *w, const struct decide_result *r)
{
	return r->action == w->action && r->state == w->state && str_eq(r->commit, w->commit) &&
	       str_eq(r->ami != NULL ? r->ami->image_id : NULL, w->image) && r->cause_event_id == w->cause &&
	       str_eq(r->waiting_commit, w->waiting) && r->missing == w->missing &&
	       memchr(r->reason, '\0', sizeof r->reason) != NULL && r->reason[0] != '\0' &&
	       (w->reason == NULL || strstr(r->reason, w->reason) != NULL);
}

/* The same decision, though the AMI pointers point into different arrays. */
static bool same_decision(const struct decide_result *a, const struct decide_result *b)
{
	return a->action == b->action && a->state == b->state && str_eq(a->commit, b->commit) &&
	       str_eq(a->ami != NULL ? a->ami->image_id : NULL, b->ami != NULL ? b->ami->image_id : NULL) &&
	       a->cause_event_id == b->cause_event_id && str_eq(a->waiting_commit, b->waiting_commit) &&
	       a->missing == b->missing && strcmp(a->reason, b->reason) == 0;
}

/* ---- the runner: one cmocka test per row -------------------------------------- */

/* s is one of the commit strings of the input (the ref commit or a pushed commit). */
static bool points_into_input(const struct built *b, const char *s)
{
	if (s == b->asg.ref_commit)
		return true;
	for (size_t i = 0; i < b->in.n_pushed; i++)
		if (s == b->pushed[i].commit)
			return true;
	return false;
}

static void run_case(void **state)
{
	const struct dcase *c = *state;
	struct built b, rev;
	struct decide_result first, second, reversed;

	build(c, false, &b);
	memset(&first, 0, sizeof first);
	decide(&b.in, &first);
	if (!matches(&c->want, &first)) {
		print_error("case \"%s\":\n", c->name);
		print_result(" got", &first);
		print_want(&c->want);
		fail_msg("case \"%s\": unexpected decision", c->name);
	}
	/* the pointers of the result point into the input (decide.h: no allocation) */
	if (first.ami != NULL && (first.ami < b.amis || first.ami >= b.amis + b.in.n_amis))
		fail_msg("case \"%s\": result.ami does not point into the input", c->name);
	if (first.commit != NULL && !points_into_input(&b, first.commit))
		fail_msg("case \"%s\": result.commit does not point into the input", c->name);
	if (first.waiting_commit != NULL && !points_into_input(&b, first.waiting_commit))
		fail_msg("case \"%s\": result.waiting_commit does not point into the input", c->name);

	/* deterministic: same input, byte-identical result, whatever the buffer held */
	memset(&second, 0xa5, sizeof second);
	decide(&b.in, &second);
	if (memcmp(&first, &second, sizeof first) != 0) {
		print_result("first ", &first);
		print_result("second", &second);
		fail_msg("case \"%s\": deciding twice gave different bytes", c->name);
	}

	/* the same promotion never happens twice: with its result applied as the pin, decide keeps */
	if (first.action == DECIDE_PROMOTE) {
		struct decide_result again;

		b.pin.commit = first.commit;
		b.pin.image_id = first.ami->image_id;
		b.in.pin = &b.pin;
		decide(&b.in, &again);
		if (again.action != DECIDE_KEEP) {
			print_result("after applying", &again);
			fail_msg("case \"%s\": promoted again once the pin is what it promoted to", c->name);
		}
	}

	/* the order in which the store lists the AMIs does not matter */
	build(c, true, &rev);
	decide(&rev.in, &reversed);
	if (!same_decision(&first, &reversed)) {
		print_result("listed in order  ", &first);
		print_result("listed reversed  ", &reversed);
		fail_msg("case \"%s\": the decision depends on the order of the AMIs", c->name);
	}
}

/* ---- decide_ready directly ------------------------------------------------------- */

struct rcase {
	const char *name;
	const char *commit;
	struct decide_tag statics[MAX_STATICS];
	struct ami_row amis[MAX_AMIS];
	const char *image;      /* the AMI picked, or NULL */
	unsigned missing;
};

static const struct rcase ready_cases[] = {
	{ .name = "no AMIs at all", .commit = C3, .image = NULL, .missing = M_IMAGE },
	{ .name = "only AMIs of other commits", .commit = C3,
	  .amis = { READY("ami-0c1", C1, MIN(1), 11, 11), READY("ami-0c2", C2, MIN(2), 21, 21) },
	  .image = NULL, .missing = M_IMAGE },
	{ .name = "one ready AMI", .commit = C3,
	  .amis = { READY("ami-0c1", C1, MIN(1), 11, 11), READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .image = "ami-0c3", .missing = 0 },
	{ .name = "ready, upper-case commit asked", .commit = C3_UPPER,
	  .amis = { READY("ami-0c3", C3, MIN(5), 31, 35) },
	  .image = "ami-0c3", .missing = 0 },
	{ .name = "newest by creation wins", .commit = C3,
	  .amis = { READY("ami-0a", C3, MIN(5), 39, 39), READY("ami-0b", C3, MIN(8), 31, 31),
		    READY("ami-0c", C3, MIN(6), 35, 35) },
	  .image = "ami-0b", .missing = 0 },
	{ .name = "creation tie: the greatest image id wins, whatever was seen first", .commit = C3,
	  .amis = { READY("ami-0a", C3, MIN(5), 31, 31), READY("ami-0b", C3, MIN(5), 37, 37),
		    READY("ami-0c", C3, MIN(5), 34, 34) },
	  .image = "ami-0c", .missing = 0 },
	{ .name = "ready older beats not-ready newer", .commit = C3,
	  .amis = { AMI("ami-0new", "pending", true, MIN(9), 40, 40, SHA(C3)), READY("ami-0old", C3, MIN(5), 31, 35) },
	  .image = "ami-0old", .missing = 0 },
	{ .name = "closest: fewest missing bits", .commit = C3, .statics = { ROLE("worker") },
	  .amis = { AMI("ami-0a", "pending", false, MIN(9), 40, 40, SHA(C3), ROLE("worker")),
		    AMI("ami-0b", "available", true, MIN(5), 31, 35, SHA(C3), ROLE("api")),
		    AMI("ami-0c", "pending", true, MIN(7), 36, 36, SHA(C3)) },
	  .image = "ami-0b", .missing = M_STATIC },
	{ .name = "closest: tie on missing count, newest wins", .commit = C3,
	  .amis = { AMI("ami-0a", "pending", true, MIN(5), 31, 31, SHA(C3)),
		    AMI("ami-0b", "available", false, MIN(6), 32, 32, SHA(C3)) },
	  .image = "ami-0b", .missing = M_SHARED },
	{ .name = "static filters matched exactly (value compare is case-sensitive)", .commit = C3,
	  .statics = { ROLE("worker") },
	  .amis = { AMI("ami-0a", "available", true, MIN(5), 31, 31, SHA(C3), ROLE("Worker")) },
	  .image = "ami-0a", .missing = M_STATIC },
	{ .name = "AMI with the tag under another key", .commit = C3,
	  .amis = { AMI("ami-0a", "available", true, MIN(5), 31, 31, TAG("git_sha", C3)) },
	  .image = NULL, .missing = M_IMAGE },
};

static void test_decide_ready(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof ready_cases / sizeof ready_cases[0]; i++) {
		const struct rcase *c = &ready_cases[i];
		struct decide_asg asg = { .policy = DECIDE_HEAD, .tag_name = "git-sha", .statics = c->statics,
					  .n_statics = count_tags(c->statics, MAX_STATICS) };
		struct decide_ami amis[MAX_AMIS];
		struct decide_readiness r;
		size_t n = 0;
		const char *got;

		memset(amis, 0, sizeof amis);
		while (n < MAX_AMIS && c->amis[n].id != NULL) {
			const struct ami_row *row = &c->amis[n];

			amis[n] = (struct decide_ami){ .image_id = row->id, .state = row->state, .visible = row->visible,
						       .tags = row->tags, .n_tags = count_tags(row->tags, MAX_TAGS),
						       .created_ms = row->created_ms, .first_seen = row->first_seen,
						       .last_event_id = row->last_event_id };
			n++;
		}
		memset(&r, 0xa5, sizeof r);
		decide_ready(&asg, n > 0 ? amis : NULL, n, c->commit, &r);
		got = r.ami != NULL ? r.ami->image_id : NULL;
		if (!str_eq(got, c->image) || r.missing != c->missing) {
			char gm[96], wm[96];

			missing_text(r.missing, gm, sizeof gm);
			missing_text(c->missing, wm, sizeof wm);
			fail_msg("decide_ready \"%s\": got %s %s, want %s %s", c->name, or_null(got), gm, or_null(c->image),
				 wm);
		}
	}
}

static void test_missing_names(void **state)
{
	(void)state;
	assert_string_equal(decide_missing_name(MISSING_IMAGE), "image");
	assert_string_equal(decide_missing_name(MISSING_AVAILABLE), "available");
	assert_string_equal(decide_missing_name(MISSING_SHARED), "shared");
	assert_string_equal(decide_missing_name(MISSING_STATIC_TAGS), "static_tags");
	assert_string_equal(decide_missing_name(MISSING_CONFIRMED), "confirmed");
	assert_string_equal(decide_missing_name(MISSING_BLOCKED), "blocked");
	assert_string_equal(decide_missing_name(0), "unknown");
	assert_string_equal(decide_missing_name(MISSING_IMAGE | MISSING_SHARED), "unknown");
	assert_string_equal(decide_missing_name(1u << DECIDE_MISSING_COUNT), "unknown");
	/* the bits are in the documented order, one per name */
	assert_int_equal(MISSING_IMAGE, 1);
	assert_int_equal(MISSING_AVAILABLE, 2);
	assert_int_equal(MISSING_SHARED, 4);
	assert_int_equal(MISSING_STATIC_TAGS, 8);
	assert_int_equal(MISSING_CONFIRMED, 16);
	assert_int_equal(MISSING_BLOCKED, 32);
	assert_int_equal(DECIDE_MISSING_COUNT, 6);
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(decide_state_name(DECIDE_UP_TO_DATE), "up_to_date");
	assert_string_equal(decide_state_name(DECIDE_WAITING), "waiting");
	assert_string_equal(decide_state_name(DECIDE_FROZEN), "frozen");
	assert_string_equal(decide_state_name(DECIDE_NO_PUSHES), "no_pushes");
	assert_string_equal(decide_state_name((enum decide_state)42), "unknown");
}

/*
 * Two ASGs in different accounts follow one repo: the same head and pushes, two
 * views of the same AMI. The stage account sees it shared with the tags copied
 * and promotes; the other sees it shared without tags and waits for "image".
 * (The table has the same situation row by row; this shares the arrays.)
 */
static void test_two_accounts_one_head(void **state)
{
	static const struct decide_commit pushed[] = { PUSH(C1, 10, 10), PUSH(C3, 30, 30) };
	static const struct decide_tag copied[] = { SHA(C3), ROLE("worker") };
	struct decide_asg asg = { .policy = DECIDE_HEAD, .tag_name = "git-sha" };
	struct decide_pin pin = { C1, "ami-0c1" };
	struct decide_ami stage_view = { .image_id = "ami-0c3", .state = "available", .visible = true,
					 .tags = copied, .n_tags = 2, .created_ms = MIN(5), .first_seen = 31,
					 .last_event_id = 35 };
	struct decide_ami other_view = stage_view;
	struct decide_input stage = { .asg = &asg, .head = &pushed[1], .pushed = pushed, .n_pushed = 2,
				      .amis = &stage_view, .n_amis = 1, .pin = &pin };
	struct decide_input other = stage;
	struct decide_result rs, ro;

	(void)state;
	other_view.tags = NULL;
	other_view.n_tags = 0;
	other_view.last_event_id = 33;
	other.amis = &other_view;

	decide(&stage, &rs);
	decide(&other, &ro);
	assert_int_equal(rs.action, DECIDE_PROMOTE);
	assert_int_equal(rs.state, DECIDE_UP_TO_DATE);
	assert_string_equal(rs.commit, C3);
	assert_ptr_equal(rs.ami, &stage_view);
	assert_int_equal(rs.cause_event_id, 35);
	assert_int_equal(ro.action, DECIDE_KEEP);
	assert_int_equal(ro.state, DECIDE_WAITING);
	assert_string_equal(ro.waiting_commit, C3);
	assert_int_equal(ro.missing, MISSING_IMAGE);
}

int main(void)
{
	struct CMUnitTest tests[N_CASES + 4];
	size_t n = 0;

	for (size_t i = 0; i < N_CASES; i++)
		tests[n++] = (struct CMUnitTest){ .name = cases[i].name, .test_func = run_case,
						  .initial_state = (void *)&cases[i] };
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_decide_ready);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_missing_names);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_state_names);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_two_accounts_one_head);
	return cmocka_run_group_tests_name("decide", tests, NULL, NULL);
}
