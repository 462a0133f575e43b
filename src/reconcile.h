/*
 * reconcile.h — the reconciler (design §9): a thread that asks the sources of
 * truth what events may have missed — GitLab's branch API for each tracked
 * branch's head, EC2 DescribeImages as each ASG's account sees it for the
 * images of the commits a decision needs and for the pinned AMI — and stores
 * every answer that differs from the last answer or from what amicd derives
 * as an event (source "gitlab-api" / "ec2-api") the worker processes like a
 * delivery. An answer that agrees with both only updates the question's
 * last_checked_at (table source_checks); a source that fails is recorded
 * there too, which the ASG's status shows as the problem source_failing.
 *
 * When: at start for every ASG; every reconcile.interval_seconds (jittered by
 * up to a tenth); every waiting_interval_seconds for an ASG whose head is not
 * ready; right after the worker saw a head change (reconcile_nudge,
 * coalesced); and on request (reconcile_run, the admin endpoint). Never on a
 * request path of the hooks. Every request is bounded by
 * reconcile.timeout_seconds, and reconcile_stop abandons one in flight.
 *
 * Thread-safety: reconcile_nudge, reconcile_run and reconcile_stats_get may be
 * called from any thread.
 *
 * Ownership: the config, worker and metrics are borrowed and must outlive the
 * reconciler.
 */
#ifndef AMICD_RECONCILE_H
#define AMICD_RECONCILE_H

#include "config.h"
#include "error.h"
#include "metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct reconcile;

/*
 * reconcile_start — open a store connection and start the thread. Without
 * any polled source (no gitlab_api for a tracked repo, no account with aws)
 * no thread is started and *out is a reconciler that does nothing.
 * wake_worker(wake_cls) is called after an observation was stored.
 */
enum amicd_rc reconcile_start(const struct config *cfg, struct metrics *metrics, void (*wake_worker)(void *),
			      void *wake_cls, struct reconcile **out, struct amicd_error *err);

/* reconcile_nudge — facts about the ASGs with asgs[i] set (NULL: all) changed (a
 * head may have moved): check their heads soon. Any thread; cheap. */
void reconcile_nudge(void *reconcile, const bool *asgs);

/* What one requested pass did for one ASG. */
struct reconcile_asg_report {
	const char *asg;                 /* the config's identifier */
	char gitlab[24];                 /* "unchanged", "changed", "gone", "failing", "retry", "not_polled" */
	char ec2[24];                    /* the same for the EC2 questions (the worse of the two) */
	int64_t event_ids[4];            /* observations stored */
	size_t n_events;
	char error[320];                 /* the last failure's message, "" when none */
};

struct reconcile_report {
	struct reconcile_asg_report *asgs; /* one per ASG asked about */
	size_t n;
};

/*
 * reconcile_run — ask now for asg (NULL: every ASG) and wait for the answers,
 * at most timeout_ms. AMICD_ERR_NOT_FOUND for an unknown ASG,
 * AMICD_ERR_UNAVAILABLE when the pass did not finish in time or the server is
 * stopping. Free the report with reconcile_report_free.
 */
enum amicd_rc reconcile_run(struct reconcile *r, const char *asg, int64_t timeout_ms, struct reconcile_report *out,
			    struct amicd_error *err);

void reconcile_report_free(struct reconcile_report *report);

/* reconcile_stop — stop the thread (a request in flight is abandoned), close, free. NULL is fine. */
void reconcile_stop(struct reconcile **r);

#endif
