/*
 * decide.h — the decision engine: from the facts about one ASG (its head, the
 * commits pushed, the AMIs its account can see, its pin), what should its pin
 * be, and what is it waiting for (design §2).
 *
 * Pure: no I/O, no clock, no globals, no allocation. The same input always
 * gives the same result, which is what makes replays converge.
 *
 * Ownership: every pointer in the input is borrowed; pointers in the result
 * point into the input.
 */
#ifndef AMICD_DECIDE_H
#define AMICD_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum decide_policy { DECIDE_HEAD = 0, DECIDE_LATEST };

/* What a commit lacks to be ready for an ASG (bits, in this order). */
enum decide_missing {
	MISSING_IMAGE = 1 << 0,       /* no AMI tagged with it is known in the ASG's account */
	MISSING_AVAILABLE = 1 << 1,   /* its AMI is not available */
	MISSING_SHARED = 1 << 2,      /* its AMI is not owned by, shared with or public to the account */
	MISSING_STATIC_TAGS = 1 << 3, /* its AMI fails a static tag filter */
	MISSING_CONFIRMED = 1 << 4,   /* the head came from a push GitLab's branch API has not confirmed yet */
	MISSING_BLOCKED = 1 << 5,     /* an admin blocked the commit for this ASG: never a candidate */
};
#define DECIDE_MISSING_COUNT 6

struct decide_tag {
	const char *key;
	const char *value;
};

struct decide_asg {
	enum decide_policy policy;
	const char *ref_commit;             /* set: the config pins this commit; the only candidate */
	const char *tag_name;               /* the tag that carries the commit */
	const struct decide_tag *statics;   /* static filters: tag key must have this value */
	size_t n_statics;
	bool frozen;
};

/* An AMI in the ASG's region, as the ASG's account sees it. */
struct decide_ami {
	const char *image_id;
	const char *state;                  /* "available", … or NULL when unknown */
	bool visible;                       /* owned by, shared with, or public to the account */
	const struct decide_tag *tags;      /* the tags the account sees */
	size_t n_tags;
	int64_t created_ms;                 /* creation time (earliest event time seen) */
	int64_t first_seen;                 /* first event id that mentioned it */
	int64_t last_event_id;              /* newest event that changed what the account sees */
	/* for saying what a waiting head lacks (design §2 waiting_for.detail); decide ignores them */
	const char *owner;                  /* the owner account, NULL when unknown */
	const char *unlisted_orgs;          /* organization / OU ARNs it is shared with that the account's
					       config does not list under org_arns (space-separated), or NULL */
};

/* A commit that was pushed to the branch. */
struct decide_commit {
	const char *commit;
	int64_t order;                      /* push order: event id of its first push */
	int64_t event_id;                   /* the push that makes it the head (for head) */
};

struct decide_pin {
	const char *commit;
	const char *image_id;
};

struct decide_input {
	const struct decide_asg *asg;
	const struct decide_commit *head;   /* NULL: no push recorded */
	bool head_unconfirmed;              /* hold the head: a push GitLab's branch API has not confirmed */
	const struct decide_commit *pushed; /* every pushed commit, push order ascending */
	size_t n_pushed;
	const struct decide_ami *amis;
	size_t n_amis;
	const struct decide_pin *pin;       /* NULL: never pinned */
	const struct decide_ami *pin_ami;   /* the pinned AMI as the account sees it, or NULL when unknown */
	const char *const *blocked;         /* commits blocked for the ASG (any case), never candidates */
	size_t n_blocked;
};

enum decide_action { DECIDE_KEEP = 0, DECIDE_PROMOTE };

enum decide_state { DECIDE_UP_TO_DATE = 0, DECIDE_WAITING, DECIDE_FROZEN, DECIDE_NO_PUSHES };

struct decide_readiness {
	const struct decide_ami *ami;       /* the newest ready AMI, or the closest one, or NULL */
	unsigned missing;                   /* 0: ready */
};

struct decide_result {
	enum decide_action action;
	enum decide_state state;            /* the ASG's state after the action */
	const char *commit;                 /* DECIDE_PROMOTE: the new pin */
	const struct decide_ami *ami;
	int64_t cause_event_id;             /* DECIDE_PROMOTE: newest event behind its readiness */
	const char *waiting_commit;         /* DECIDE_WAITING (and FROZEN): what it waits for, or NULL */
	unsigned missing;                   /* … and what that commit lacks */
	char reason[256];
};

/*
 * decide_ready — is commit ready for asg among amis? Picks the newest AMI that
 * qualifies (creation time, then the greater image id); when none does, the one
 * closest to ready, and says what it lacks.
 */
void decide_ready(const struct decide_asg *asg, const struct decide_ami *amis, size_t n_amis,
		  const char *commit, struct decide_readiness *out);

/* decide_blocked — true when commit is one of in's blocked commits (case-insensitive). */
bool decide_blocked(const struct decide_input *in, const char *commit);

/*
 * decide — the decision for one ASG. A blocked target (head or configured
 * commit) is never promoted: the ASG waits with MISSING_BLOCKED, even when it
 * is pinned to it; under policy latest blocked commits are skipped.
 */
void decide(const struct decide_input *in, struct decide_result *out);

/*
 * decide_pin_unavailable — true when the pinned AMI can no longer be launched
 * by the ASG: deregistered, disabled or failed, or no longer shared with its
 * account. *why (may be NULL) names the reason (a static string). Reported,
 * never acted on.
 */
bool decide_pin_unavailable(const struct decide_input *in, const char **why);

/* Names for the API: "image", "available", "shared", "static_tags", "confirmed", "blocked"; state names. */
const char *decide_missing_name(unsigned bit);
const char *decide_state_name(enum decide_state state);

#endif
