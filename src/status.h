/*
 * status.h — the status of one ASG, computed in one place: what
 * GET /api/v1/asgs/{id}, every admin answer and /metrics show, and what the
 * worker reports when a pinned AMI goes away. Its pin, its head, the state and
 * reason the decision engine gives now, what it waits for, whether its pinned
 * AMI can still be launched, and whether its pin file could be written.
 *
 * A plain value: everything is copied out of the store, so a struct
 * asg_status outlives the read that made it. Rendering it is the API's
 * (render.h).
 */
#ifndef AMICD_STATUS_H
#define AMICD_STATUS_H

#include "config.h"
#include "decide.h"
#include "error.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>

struct asg_status {
	const struct config_asg *asg;         /* borrowed from the config */
	enum decide_state state;              /* a promotion the worker has not made yet shows as waiting */
	char reason[800];
	bool frozen;
	char frozen_reason[256];              /* "" unless frozen */
	char frozen_at[32];
	bool has_pin;
	struct {
		char commit[72];
		char image_id[64];
		char promoted_at[32];
		int64_t promotion_id;
		char ami_state[24];           /* "" when the AMI is unknown to amicd */
		bool available;
		const char *unavailable_reason; /* static, NULL when available */
	} pin;
	bool has_head;
	struct {
		char commit[72];
		int64_t event_id;
		char received_at[32];
	} head;
	bool waiting;                         /* waiting_commit/missing say for what */
	char waiting_commit[72];
	unsigned missing;                     /* decide_missing bits; 0 with waiting: a promotion is due */
	/* waiting_for.detail (design §2): the closest AMI, the account, and the things named */
	struct {
		bool has_ami;
		char image_id[64];
		char state[24];                /* "" when unknown */
		char owner[16];                /* "" when unknown */
		char unlisted_orgs[512];       /* org / OU ARNs it is shared with that the account's config
						  does not list (space-separated), "" none */
		struct {
			const char *key;       /* borrowed from the config */
			const char *expected;
			bool seen;             /* the account sees the key … */
			char value[260];       /* … with this value */
		} statics[8];
		size_t n_statics;
		char message[800];             /* one sentence per thing missing */
	} detail;
	/* the commits an admin blocked for the ASG (design §1), oldest first; n_blocked counts them all */
	struct {
		char commit[72];
		char reason[256];
		char at[32];
	} blocked[16];
	size_t n_blocked;
	bool pin_file_failing;                /* the pin file cannot be written: its trigger waits */
	char pin_file_error[256];
	char head_source[16];                 /* "gitlab" (a push), "gitlab-api" (GitLab's branch API) */
	/* what the reconciler asks about this ASG (design §9), and how it last went */
	struct asg_source {
		bool polled;                  /* configured: gitlab_api for the repo / aws for the account */
		char last_checked_at[32];     /* "" when never answered */
		int64_t failing_since_ms;     /* 0: not failing */
		char last_error[320];         /* "" when not failing */
	} gitlab, ec2;
	/* what an operator must act on although the decision is fine, worst first */
	struct asg_problem {
		const char *code;             /* "trigger_failed", "pinned_ami_unavailable", "source_failing",
						 "trigger_retrying" (static) */
		char message[400];
		char since[32];               /* "" when unknown */
	} problems[6];
	size_t n_problems;
};

/*
 * asg_status_get — the status of asg read from st now. pin_file_error is why
 * the worker cannot write the ASG's pin file (NULL: it can).
 */
/*
 * status_head_held — true when asg's head came from a push that GitLab's
 * branch API has not confirmed yet and must (design §9: a late copy of a
 * rolled-back push is never applied): the API is configured for the repo and
 * has not been failing for the source timeout. now_ms: the caller's clock.
 */
struct store_asg_facts;

/* The reconciler's question keys for an ASG's EC2 answers (source_checks). */
void status_question_ec2(char *buf, size_t size, const struct config_asg *asg, const char *which);

bool status_head_held(const struct config_asg *asg, const struct store_asg_facts *f, int64_t now_ms);

enum amicd_rc asg_status_get(struct store *st, const struct config_asg *asg, const char *pin_file_error,
			     struct asg_status *out, struct amicd_error *err);

#endif
