/*
 * decide.c — the decision rule of design §2 (see decide.h).
 *
 * Pure: no I/O, no clock, no globals, no allocation.
 */
#include "decide.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *decide_missing_name(unsigned bit)
{
	switch (bit) {
	case MISSING_IMAGE: return "image";
	case MISSING_AVAILABLE: return "available";
	case MISSING_SHARED: return "shared";
	case MISSING_STATIC_TAGS: return "static_tags";
	case MISSING_CONFIRMED: return "confirmed";
	case MISSING_BLOCKED: return "blocked";
	default: return "unknown";
	}
}

const char *decide_state_name(enum decide_state state)
{
	switch (state) {
	case DECIDE_UP_TO_DATE: return "up_to_date";
	case DECIDE_WAITING: return "waiting";
	case DECIDE_FROZEN: return "frozen";
	case DECIDE_NO_PUSHES: return "no_pushes";
	}
	return "unknown";
}

static const char *tag_value(const struct decide_ami *ami, const char *key)
{
	for (size_t i = 0; i < ami->n_tags; i++)
		if (strcmp(ami->tags[i].key, key) == 0)
			return ami->tags[i].value;
	return NULL;
}

static bool same_commit(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}

static int popcount(unsigned v)
{
	int n = 0;

	for (; v != 0; v &= v - 1)
		n++;
	return n;
}

/* a is newer than b: creation time, then the greater image id (never arrival order) */
static bool newer(const struct decide_ami *a, const struct decide_ami *b)
{
	if (a->created_ms != b->created_ms)
		return a->created_ms > b->created_ms;
	return strcmp(a->image_id, b->image_id) > 0;
}

void decide_ready(const struct decide_asg *asg, const struct decide_ami *amis, size_t n_amis,
		  const char *commit, struct decide_readiness *out)
{
	out->ami = NULL;
	out->missing = MISSING_IMAGE;
	for (size_t i = 0; i < n_amis; i++) {
		const struct decide_ami *a = &amis[i];
		unsigned missing = 0;

		if (!same_commit(tag_value(a, asg->tag_name), commit))
			continue;
		if (a->state == NULL || strcmp(a->state, "available") != 0)
			missing |= MISSING_AVAILABLE;
		if (!a->visible)
			missing |= MISSING_SHARED;
		for (size_t f = 0; f < asg->n_statics; f++) {
			const char *v = tag_value(a, asg->statics[f].key);

			if (v == NULL || strcmp(v, asg->statics[f].value) != 0)
				missing |= MISSING_STATIC_TAGS;
		}
		if (out->ami == NULL || popcount(missing) < popcount(out->missing) ||
		    (popcount(missing) == popcount(out->missing) && newer(a, out->ami))) {
			out->ami = a;
			out->missing = missing;
		}
	}
}

static void short_sha(const char *commit, char buf[9])
{
	snprintf(buf, 9, "%.8s", commit != NULL ? commit : "?");
}

static void describe_missing(unsigned missing, char *buf, size_t size)
{
	size_t at = 0;

	buf[0] = '\0';
	for (unsigned bit = 1; bit < (1u << DECIDE_MISSING_COUNT); bit <<= 1) {
		if ((missing & bit) == 0)
			continue;
		at += (size_t)snprintf(buf + at, at < size ? size - at : 0, "%s%s", at > 0 ? ", " : "",
				       decide_missing_name(bit));
		if (at >= size)
			break;
	}
}

/* Promote (or, frozen, only say so) to commit with its ready AMI. */
static void promote(const struct decide_input *in, const struct decide_commit *c, const char *commit,
		    const struct decide_readiness *r, const char *why, struct decide_result *out)
{
	char sha[9];
	int64_t cause = r->ami->last_event_id;

	if (c != NULL && c->event_id > cause)
		cause = c->event_id;
	short_sha(commit, sha);
	if (in->asg->frozen) {
		/* decisions are still computed and shown: say what would happen */
		out->action = DECIDE_KEEP;
		out->state = DECIDE_FROZEN;
		out->commit = commit;
		out->ami = r->ami;
		snprintf(out->reason, sizeof out->reason, "frozen: would promote %s %s (%s)", why, sha,
			 r->ami->image_id);
		return;
	}
	out->action = DECIDE_PROMOTE;
	out->state = DECIDE_UP_TO_DATE;
	out->commit = commit;
	out->ami = r->ami;
	out->cause_event_id = cause;
	snprintf(out->reason, sizeof out->reason, "%s %s is ready as %s", why, sha, r->ami->image_id);
}

static void wait_for(const struct decide_input *in, const char *commit, unsigned missing, const char *why,
		     struct decide_result *out)
{
	char sha[9], what[96];

	short_sha(commit, sha);
	describe_missing(missing, what, sizeof what);
	out->action = DECIDE_KEEP;
	out->state = in->asg->frozen ? DECIDE_FROZEN : DECIDE_WAITING;
	out->waiting_commit = commit;
	out->missing = missing;
	if (missing & MISSING_BLOCKED)
		snprintf(out->reason, sizeof out->reason, "%s%s %s is blocked for this ASG; keeping %s until %s",
			 in->asg->frozen ? "frozen; " : "", why, sha, in->pin != NULL ? "the current pin" : "no pin",
			 in->asg->ref_commit != NULL ? "it is unblocked" : "a newer push or an unblock");
	else
		snprintf(out->reason, sizeof out->reason, "%s%s %s is not ready (missing: %s); keeping %s",
			 in->asg->frozen ? "frozen; " : "", why, sha, what,
			 in->pin != NULL ? "the current pin" : "no pin");
}

static bool pinned_to(const struct decide_pin *pin, const char *commit, const struct decide_ami *ami)
{
	return pin != NULL && same_commit(pin->commit, commit) &&
	       (ami == NULL || (pin->image_id != NULL && strcmp(pin->image_id, ami->image_id) == 0));
}

/* The pin is on target: up to date, unless a newer AMI of the same commit is ready.
 * The pinned AMI going away does not by itself move the pin: an older sibling
 * never replaces it, and neither does any when the pinned AMI is unknown. */
static void at_target(const struct decide_input *in, const struct decide_commit *c, const char *target,
		      const struct decide_readiness *r, const char *why, struct decide_result *out)
{
	const struct decide_ami *pinned = NULL;

	for (size_t i = 0; in->pin != NULL && in->pin->image_id != NULL && i < in->n_amis; i++)
		if (strcmp(in->amis[i].image_id, in->pin->image_id) == 0)
			pinned = &in->amis[i];
	if (r->missing == 0 && !pinned_to(in->pin, target, r->ami) && pinned != NULL && newer(r->ami, pinned)) {
		promote(in, c, target, r, "a newer AMI of", out);
		return;
	}
	out->action = DECIDE_KEEP;
	out->state = in->asg->frozen ? DECIDE_FROZEN : DECIDE_UP_TO_DATE;
	snprintf(out->reason, sizeof out->reason, "%spinned to %s %.8s", in->asg->frozen ? "frozen; " : "", why,
		 target);
}

bool decide_blocked(const struct decide_input *in, const char *commit)
{
	for (size_t i = 0; i < in->n_blocked; i++)
		if (same_commit(in->blocked[i], commit))
			return true;
	return false;
}

/* The push order of the pinned commit; -1 when there is no pin or it was never pushed. */
static int64_t pin_order(const struct decide_input *in)
{
	for (size_t i = 0; in->pin != NULL && i < in->n_pushed; i++)
		if (same_commit(in->pushed[i].commit, in->pin->commit))
			return in->pushed[i].order;
	return -1;
}

void decide(const struct decide_input *in, struct decide_result *out)
{
	const struct decide_asg *asg = in->asg;
	struct decide_readiness r;
	const char *target;
	const struct decide_commit *c = NULL;
	const char *why;

	memset(out, 0, sizeof *out);
	if (asg->ref_commit != NULL) {
		target = asg->ref_commit;
		why = "configured commit";
		for (size_t i = 0; i < in->n_pushed; i++)
			if (same_commit(in->pushed[i].commit, target))
				c = &in->pushed[i];
	} else if (in->head == NULL) {
		out->action = DECIDE_KEEP;
		out->state = asg->frozen ? DECIDE_FROZEN : DECIDE_NO_PUSHES;
		snprintf(out->reason, sizeof out->reason, "no push recorded for the tracked branch");
		return;
	} else {
		c = in->head;
		target = c->commit;
		why = "head";
	}
	decide_ready(asg, in->amis, in->n_amis, target, &r);
	if (asg->ref_commit == NULL && in->head_unconfirmed)
		r.missing |= MISSING_CONFIRMED; /* a late copy of a rolled-back push is never applied */
	if (decide_blocked(in, target))
		r.missing |= MISSING_BLOCKED; /* waits until a newer push (head) or an unblock */
	if (in->pin != NULL && same_commit(in->pin->commit, target) && !(r.missing & MISSING_BLOCKED)) {
		at_target(in, c, target, &r, why, out);
		return;
	}
	if (r.missing == 0 && !(asg->policy == DECIDE_LATEST && c != NULL && c->order <= pin_order(in))) {
		promote(in, c, target, &r, why, out);
		return;
	}
	if (asg->policy == DECIDE_LATEST && asg->ref_commit == NULL) {
		/* the newest pushed commit that is ready and newer than the pin */
		int64_t pinned_order = pin_order(in);

		for (size_t i = in->n_pushed; i-- > 0;) {
			const struct decide_commit *p = &in->pushed[i];
			struct decide_readiness pr;

			if (p->order <= pinned_order || p->order > in->head->order ||
			    (in->head_unconfirmed && same_commit(p->commit, target)) || decide_blocked(in, p->commit))
				continue;
			decide_ready(asg, in->amis, in->n_amis, p->commit, &pr);
			if (pr.missing != 0)
				continue;
			if (pinned_to(in->pin, p->commit, NULL))
				break;
			promote(in, p, p->commit, &pr, "newest ready commit", out);
			if (out->action == DECIDE_PROMOTE) {
				/* stage moves on, but the head is still what it waits for */
				out->state = DECIDE_WAITING;
				out->waiting_commit = target;
				out->missing = r.missing;
			} else {
				out->waiting_commit = target;
				out->missing = r.missing;
			}
			return;
		}
	}
	wait_for(in, target, r.missing, why, out);
}

bool decide_pin_unavailable(const struct decide_input *in, const char **why)
{
	const struct decide_ami *a = in->pin_ami;
	const char *reason = NULL;

	if (in->pin == NULL || a == NULL)
		return false;
	if (a->state != NULL && strcmp(a->state, "deregistered") == 0)
		reason = "deregistered";
	else if (a->state != NULL && strcmp(a->state, "disabled") == 0)
		reason = "disabled";
	else if (a->state != NULL && strcmp(a->state, "failed") == 0)
		reason = "failed";
	else if (!a->visible)
		reason = "unshared";
	if (why != NULL)
		*why = reason;
	return reason != NULL;
}
