/*
 * status.c — one ASG's status from its stored facts and the decision engine
 * (see status.h). Reads only; the decision is computed, never acted on.
 */
#include "status.h"

#include "store_facts.h"
#include "utf8.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

bool status_head_held(const struct config_asg *asg, const struct store_asg_facts *f, int64_t now_ms)
{
	const struct store_source_check *c = store_asg_facts_gitlab_check(f);

	if (asg->gitlab_api == NULL || asg->git->ref_is_sha || store_asg_facts_input(f)->head == NULL ||
	    strcmp(store_asg_facts_head_source(f), "gitlab") != 0)
		return false;
	/* the API keeps failing: the push rule decides (and the ASG shows source_failing) */
	return !(c->failing_since_ms != 0 && now_ms - c->failing_since_ms >= asg->source_timeout_seconds * 1000LL);
}

void status_question_ec2(char *buf, size_t size, const struct config_asg *asg, const char *which)
{
	snprintf(buf, size, "ec2 %s %s", asg->identifier, which);
}

/* Fold one question's check into what the ASG shows for its source. */
static void fold_check(struct asg_source *src, const struct store_source_check *c)
{
	if (!c->found)
		return;
	if (c->last_checked_ms > 0) {
		char ts[32];

		util_format_time_ms(c->last_checked_ms, ts, sizeof ts);
		if (strcmp(ts, src->last_checked_at) > 0)
			snprintf(src->last_checked_at, sizeof src->last_checked_at, "%s", ts);
	}
	if (c->failing_since_ms != 0 && (src->failing_since_ms == 0 || c->failing_since_ms < src->failing_since_ms)) {
		src->failing_since_ms = c->failing_since_ms;
		snprintf(src->last_error, sizeof src->last_error, "%s", c->last_error);
	}
}

static void add_problem(struct asg_status *out, const char *code, int64_t since_ms, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add_problem(struct asg_status *out, const char *code, int64_t since_ms, const char *fmt, ...)
{
	struct asg_problem *p;
	va_list ap;

	if (out->n_problems == sizeof out->problems / sizeof out->problems[0])
		return;
	p = &out->problems[out->n_problems++];
	p->code = code;
	va_start(ap, fmt);
	vsnprintf(p->message, sizeof p->message, fmt, ap);
	va_end(ap);
	utf8_repair(p->message);
	if (since_ms > 0)
		util_format_time_ms(since_ms, p->since, sizeof p->since);
}

/*
 * sources{} and problems[] of the ASG; the reason leads with the worst problem.
 * Worst first: trigger_failed (stage may be running an older AMI than the pin
 * says, and nothing will change that by itself), pinned_ami_unavailable (new
 * instances cannot launch), source_failing (amicd may be deciding on stale
 * facts), trigger_retrying (the pin is on its way; amicd is still at it).
 */
static enum amicd_rc sources_and_problems(struct store *st, const struct config_asg *asg,
					  const struct store_asg_facts *facts, struct asg_status *out,
					  struct amicd_error *err)
{
	static const char *const ec2_questions[] = { "images", "pinned" };
	struct store_source_check c;
	struct store_trigger_state tr = { .state = "" };
	char q[STORE_QUESTION_MAX];

	out->gitlab.polled = asg->gitlab_api != NULL && !asg->git->ref_is_sha;
	out->ec2.polled = asg->account->has_aws;
	if (out->gitlab.polled)
		fold_check(&out->gitlab, store_asg_facts_gitlab_check(facts));
	for (size_t i = 0; out->ec2.polled && i < 2; i++) {
		status_question_ec2(q, sizeof q, asg, ec2_questions[i]);
		if (store_source_check_get(st, q, &c, err) != AMICD_OK)
			return AMICD_ERR_STORE;
		fold_check(&out->ec2, &c);
	}
	if (out->has_pin) {
		bool found = false;

		if (store_trigger_get(st, out->pin.promotion_id, &tr, &found, err) != AMICD_OK)
			return AMICD_ERR_STORE;
		if (found && strcmp(tr.state, "failed") == 0) {
			/* since: the attempt after which it gave up */
			add_problem(out, "trigger_failed", 0,
				    "the trigger of promotion %lld (%.8s, %s) gave up after %d attempt(s): %s;"
				    " terraform-resources may never have applied the pin (POST /api/v1/admin/asgs/%s/retrigger"
				    " sends it again)",
				    (long long)out->pin.promotion_id, out->pin.commit, out->pin.image_id, tr.attempts,
				    tr.last_error[0] != '\0' ? tr.last_error : "unknown error", asg->identifier);
			snprintf(out->problems[out->n_problems - 1].since, sizeof out->problems[0].since, "%s",
				 tr.updated_at);
		}
	}
	if (out->has_pin && !out->pin.available)
		add_problem(out, "pinned_ami_unavailable", 0, "the pinned AMI %s is %s in account %s",
			    out->pin.image_id, out->pin.unavailable_reason, asg->account->uid);
	if (out->gitlab.failing_since_ms != 0)
		add_problem(out, "source_failing", out->gitlab.failing_since_ms,
			    "GitLab's branch API cannot be read: %s", out->gitlab.last_error);
	if (out->ec2.failing_since_ms != 0)
		add_problem(out, "source_failing", out->ec2.failing_since_ms,
			    "EC2 DescribeImages in account %s cannot be read: %s", asg->account->uid, out->ec2.last_error);
	if (out->has_pin && strcmp(tr.state, "pending") == 0 && tr.attempts > 0 && tr.last_error[0] != '\0') {
		/* since: the series' first failure (before migration 0007: the promotion) */
		add_problem(out, "trigger_retrying", tr.failing_since_ms,
			    "the trigger of promotion %lld (%.8s, %s) is being retried: %d attempt(s) failed, the last with %s",
			    (long long)out->pin.promotion_id, out->pin.commit, out->pin.image_id, tr.attempts,
			    tr.last_error);
		if (tr.failing_since_ms == 0)
			snprintf(out->problems[out->n_problems - 1].since, sizeof out->problems[0].since, "%s",
				 out->pin.promoted_at);
	}
	if (out->n_problems > 0) {
		char rest[sizeof out->reason];

		snprintf(rest, sizeof rest, "%s", out->reason);
		int n = snprintf(out->reason, sizeof out->reason, "%s%s. ", out->problems[0].message,
				 out->n_problems > 1 ? " (and more problems)" : "");

		if (n > 0 && (size_t)n < sizeof out->reason)
			utf8_copy(out->reason + n, sizeof out->reason - (size_t)n, rest);
	}
	return AMICD_OK;
}

/* Append a sentence to the detail's message ("; " between them). */
static void say(struct asg_status *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct asg_status *out, const char *fmt, ...)
{
	size_t at = strlen(out->detail.message);
	va_list ap;

	if (at > 0 && at + 2 < sizeof out->detail.message) {
		memcpy(out->detail.message + at, "; ", 3);
		at += 2;
	}
	if (at + 1 >= sizeof out->detail.message)
		return;
	va_start(ap, fmt);
	vsnprintf(out->detail.message + at, sizeof out->detail.message - at, fmt, ap);
	va_end(ap);
}

/* waiting_for.detail: the AMI closest to ready for the commit, as the account sees it, and why it is not. */
static void waiting_detail(const struct config_asg *asg, const struct decide_input *in, struct asg_status *out)
{
	struct decide_readiness r;
	const struct decide_ami *a;
	const char *uid = asg->account->uid, *name = asg->account->name;

	decide_ready(in->asg, in->amis, in->n_amis, out->waiting_commit, &r);
	a = r.ami;
	if (a != NULL) {
		out->detail.has_ami = true;
		snprintf(out->detail.image_id, sizeof out->detail.image_id, "%s", a->image_id);
		snprintf(out->detail.state, sizeof out->detail.state, "%s", a->state != NULL ? a->state : "");
		snprintf(out->detail.owner, sizeof out->detail.owner, "%s", a->owner != NULL ? a->owner : "");
		snprintf(out->detail.unlisted_orgs, sizeof out->detail.unlisted_orgs, "%s",
			 a->unlisted_orgs != NULL ? a->unlisted_orgs : "");
	}
	for (size_t i = 0; i < in->asg->n_statics && i < sizeof out->detail.statics / sizeof out->detail.statics[0]; i++) {
		const struct decide_tag *want = &in->asg->statics[i];

		out->detail.statics[i].key = want->key;
		out->detail.statics[i].expected = want->value;
		for (size_t t = 0; a != NULL && t < a->n_tags; t++)
			if (strcmp(a->tags[t].key, want->key) == 0) {
				out->detail.statics[i].seen = true;
				snprintf(out->detail.statics[i].value, sizeof out->detail.statics[i].value, "%s",
					 a->tags[t].value);
			}
		out->detail.n_statics++;
	}
	if (out->missing & MISSING_IMAGE)
		say(out, "no AMI tagged %s=%.12s is known in account %s (%s) in %s", asg->git->tag_name,
		    out->waiting_commit, uid, name, asg->region);
	if (a != NULL && (out->missing & MISSING_SHARED)) {
		if (out->detail.unlisted_orgs[0] != '\0')
			say(out, "%s is shared with %s; whether account %s (%s) belongs to it is unknown: if it does,"
			    " list the ARN under the account's org_arns", a->image_id, out->detail.unlisted_orgs, uid, name);
		else
			say(out, "%s (owner %s) is not shared with account %s (%s)", a->image_id,
			    a->owner != NULL ? a->owner : "unknown", uid, name);
	}
	if (a != NULL && (out->missing & MISSING_AVAILABLE))
		say(out, "%s is %s, not available", a->image_id, a->state != NULL ? a->state : "in an unknown state");
	for (size_t i = 0; (out->missing & MISSING_STATIC_TAGS) && i < out->detail.n_statics; i++)
		if (!out->detail.statics[i].seen ||
		    strcmp(out->detail.statics[i].value, out->detail.statics[i].expected) != 0)
			say(out, "account %s sees %s %s where %s=%s is expected", uid, out->detail.statics[i].key,
			    out->detail.statics[i].seen ? out->detail.statics[i].value : "unset",
			    out->detail.statics[i].key, out->detail.statics[i].expected);
	if (out->missing & MISSING_CONFIRMED)
		say(out, "the head came from a push GitLab's branch API has not confirmed yet");
	for (size_t i = 0; (out->missing & MISSING_BLOCKED) && i < out->n_blocked && i < 16; i++)
		if (strcasecmp(out->blocked[i].commit, out->waiting_commit) == 0)
			say(out, "%.12s was blocked for this ASG at %s (%s); %s", out->waiting_commit, out->blocked[i].at,
			    out->blocked[i].reason,
			    asg->git->ref_is_sha ? "unblock it to let it go" : "a newer push or an unblock moves it on");
	utf8_repair(out->detail.message);
}

enum amicd_rc asg_status_get(struct store *st, const struct config_asg *asg, const char *pin_file_error,
			     struct asg_status *out, struct amicd_error *err)
{
	struct store_asg_facts *facts = NULL;
	const struct store_asg_state *fs;
	const struct decide_input *in;
	struct decide_result d;
	enum amicd_rc rc = store_asg_facts_load(st, asg, &facts, err);

	memset(out, 0, sizeof *out);
	out->asg = asg;
	if (rc != AMICD_OK)
		return rc;
	store_asg_facts_set_unconfirmed(facts, status_head_held(asg, facts, util_now_ms()));
	in = store_asg_facts_input(facts);
	decide(in, &d);
	out->state = d.action == DECIDE_PROMOTE ? DECIDE_WAITING : d.state;
	snprintf(out->reason, sizeof out->reason, "%s", d.reason);
	out->frozen = in->asg->frozen;
	fs = store_asg_facts_state(facts);
	if (fs->known && fs->frozen) {
		snprintf(out->frozen_reason, sizeof out->frozen_reason, "%s", fs->reason);
		snprintf(out->frozen_at, sizeof out->frozen_at, "%s", fs->changed_at);
	}
	if (in->pin != NULL) {
		const struct decide_ami *pa = store_asg_facts_pin_ami(facts);

		out->has_pin = true;
		snprintf(out->pin.commit, sizeof out->pin.commit, "%s", in->pin->commit);
		snprintf(out->pin.image_id, sizeof out->pin.image_id, "%s", in->pin->image_id);
		snprintf(out->pin.promoted_at, sizeof out->pin.promoted_at, "%s", store_asg_facts_pin_promoted_at(facts));
		out->pin.promotion_id = store_asg_facts_pin_promotion(facts);
		if (pa != NULL && pa->state != NULL)
			snprintf(out->pin.ami_state, sizeof out->pin.ami_state, "%s", pa->state);
		out->pin.available = !decide_pin_unavailable(in, &out->pin.unavailable_reason);
	}
	if (in->head != NULL) {
		out->has_head = true;
		snprintf(out->head.commit, sizeof out->head.commit, "%s", in->head->commit);
		out->head.event_id = store_asg_facts_head_event(facts);
		snprintf(out->head.received_at, sizeof out->head.received_at, "%s", store_asg_facts_head_received_at(facts));
		snprintf(out->head_source, sizeof out->head_source, "%s", store_asg_facts_head_source(facts));
	}
	if (d.waiting_commit != NULL && d.missing != 0) {
		out->waiting = true;
		snprintf(out->waiting_commit, sizeof out->waiting_commit, "%s", d.waiting_commit);
		out->missing = d.missing;
	} else if (d.action == DECIDE_PROMOTE) {
		out->waiting = true; /* nothing missing: the worker promotes it next */
		snprintf(out->waiting_commit, sizeof out->waiting_commit, "%s", d.commit);
	}
	{
		size_t n_blocked;
		const struct store_blocked *b = store_asg_facts_blocked(facts, &n_blocked);

		out->n_blocked = n_blocked;
		for (size_t i = 0; i < n_blocked && i < sizeof out->blocked / sizeof out->blocked[0]; i++) {
			snprintf(out->blocked[i].commit, sizeof out->blocked[i].commit, "%s", b[i].commit);
			utf8_copy(out->blocked[i].reason, sizeof out->blocked[i].reason, b[i].reason);
			snprintf(out->blocked[i].at, sizeof out->blocked[i].at, "%s", b[i].at);
		}
	}
	if (out->waiting)
		waiting_detail(asg, in, out);
	if (pin_file_error != NULL) {
		/* a pin file that cannot be written holds the trigger back: the ASG says so */
		out->pin_file_failing = true;
		snprintf(out->pin_file_error, sizeof out->pin_file_error, "%s", pin_file_error);
		snprintf(out->reason, sizeof out->reason, "the pin file %s cannot be written (%s); its trigger waits. %s",
			 asg->pin_file, pin_file_error, d.reason);
	}
	rc = sources_and_problems(st, asg, facts, out, err);
	utf8_repair(out->reason);
	utf8_repair(out->pin_file_error);
	store_asg_facts_free(&facts);
	return rc;
}
