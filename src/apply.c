/*
 * apply.c — facts and decisions on a caller's transaction (see apply.h).
 */
#include "apply.h"
#include "status.h"

#include "log.h"
#include "repourl.h"
#include "utf8.h"

#include <stdio.h>
#include <string.h>

/* The facts of a parsed payload and the status they give the event. */
static void derive(const struct config *cfg, const char *source, const char *kind, const json_t *doc,
		   struct apply_event *out)
{
	struct amicd_error perr = { { 0 }, { 0 } };

	out->status = "processed";
	if (facts_from_event(cfg, source, kind, doc, &out->facts, &perr) != AMICD_OK) {
		out->status = "failed";
		utf8_copy(out->note, sizeof out->note, perr.message);
	} else {
		/* ignored: why; processed: what its facts leave unknown (an org share), if anything */
		if (out->facts.n == 0)
			out->status = "ignored";
		utf8_copy(out->note, sizeof out->note, out->facts.note);
	}
}

void apply_event_prepare(const struct config *cfg, const struct store_queued *ev, struct apply_event *out)
{
	memset(out, 0, sizeof *out);
	out->id = ev->id;
	snprintf(out->kind, sizeof out->kind, "%s", ev->kind);
	out->payload = json_loadb(ev->payload, ev->payload_len, 0, NULL);
	if (out->payload == NULL) {
		out->status = "failed";
		snprintf(out->note, sizeof out->note, "stored payload is not JSON");
		return;
	}
	derive(cfg, ev->source, ev->kind, out->payload, out);
}

enum amicd_rc apply_event_prepare_doc(const struct config *cfg, const char *source, const char *kind,
				      const json_t *doc, struct apply_event *out)
{
	memset(out, 0, sizeof *out);
	snprintf(out->kind, sizeof out->kind, "%s", kind);
	derive(cfg, source, kind, doc, out);
	if (fact_list_detach(&out->facts) != AMICD_OK) {
		fact_list_free(&out->facts);
		return AMICD_ERR_NOMEM;
	}
	return AMICD_OK;
}

enum amicd_rc apply_event_write(struct store *st, const struct apply_event *ev, struct amicd_error *err)
{
	enum amicd_rc rc = AMICD_OK;

	for (size_t i = 0; i < ev->facts.n && rc == AMICD_OK; i++)
		rc = store_fact_apply(st, &ev->facts.items[i], ev->id, err);
	if (rc == AMICD_OK)
		rc = store_event_set_status(st, ev->id, ev->status, ev->note, err);
	if (rc == AMICD_OK && strcmp(ev->status, "failed") == 0)
		LOG(LL_WARN, "event not understood", "{s:I,s:s,s:s}", "event_id", (json_int_t)ev->id, "kind", ev->kind,
		    "error", ev->note);
	return rc;
}

void apply_event_release(struct apply_event *ev)
{
	fact_list_free(&ev->facts);
	json_decref(ev->payload);
	ev->payload = NULL;
}

enum amicd_rc apply_event(const struct config *cfg, struct store *st, const struct store_queued *ev,
				 size_t *n_facts, struct amicd_error *err)
{
	struct apply_event prepared;
	enum amicd_rc rc;

	apply_event_prepare(cfg, ev, &prepared);
	*n_facts = prepared.facts.n;
	rc = apply_event_write(st, &prepared, err);
	apply_event_release(&prepared);
	return rc;
}

struct viewers {
	const struct config *cfg;
	const char *region;
	bool *affected;
};

static void mark_account(const struct config *cfg, const char *region, const char *account, bool *affected)
{
	bool any = account == NULL || strcmp(account, "all") == 0 || strncmp(account, "arn:", 4) == 0;

	for (size_t i = 0; i < cfg->n_asgs; i++)
		if (strcmp(cfg->asgs[i].region, region) == 0 && (any || strcmp(cfg->asgs[i].account->uid, account) == 0))
			affected[i] = true;
}

static void mark_viewer(const char *account, const char *pinned_asg, void *cls)
{
	const struct viewers *v = cls;

	if (account != NULL)
		mark_account(v->cfg, v->region, account, v->affected);
	for (size_t i = 0; pinned_asg != NULL && i < v->cfg->n_asgs; i++)
		if (strcmp(v->cfg->asgs[i].identifier, pinned_asg) == 0)
			v->affected[i] = true;
}

enum amicd_rc apply_affected(const struct config *cfg, struct store *st, const struct fact *f, bool *affected,
			     struct amicd_error *err)
{
	struct viewers v = { cfg, f->region, affected };

	switch (f->kind) {
	case FACT_PUSH:
	case FACT_BRANCH_SEEN:
		for (size_t i = 0; i < cfg->n_asgs; i++) {
			const struct config_filter *git = cfg->asgs[i].git;

			if (!git->ref_is_sha && repo_url_equal(git->url, f->repo) && strcmp(git->ref, f->branch) == 0)
				affected[i] = true;
		}
		return AMICD_OK;
	case FACT_AMI_TAG:
	case FACT_AMI_SHARE:
	case FACT_IMAGES_SEEN:
		mark_account(cfg, f->region, f->account, affected);
		return AMICD_OK;
	case FACT_AMI_SEEN:
	case FACT_AMI_STATE:
		if (f->owner != NULL)
			mark_account(cfg, f->region, f->owner, affected);
		return store_image_viewers(st, f->region, f->image_id, mark_viewer, &v, err);
	}
	for (size_t i = 0; i < cfg->n_asgs; i++) /* a fact this function does not know: every ASG */
		affected[i] = true;
	return AMICD_OK;
}

enum amicd_rc apply_decide_all(const struct config *cfg, struct store *st, int64_t now_ms, bool dry_run,
			       struct apply_decision *decisions, bool *promoted, size_t *n_promoted,
			       const bool *only, struct amicd_error *err)
{
	*n_promoted = 0;
	for (size_t i = 0; i < cfg->n_asgs; i++) {
		const struct config_asg *asg = &cfg->asgs[i];
		struct store_asg_facts *facts = NULL;
		const struct decide_input *in;
		struct decide_result d;
		int64_t promotion_id = 0;
		enum amicd_rc rc;

		if (only != NULL && !only[i])
			continue;
		rc = store_asg_facts_load(st, asg, &facts, err);
		if (rc != AMICD_OK)
			return rc;
		store_asg_facts_set_unconfirmed(facts, status_head_held(asg, facts, now_ms));
		in = store_asg_facts_input(facts);
		decide(in, &d);
		if (decisions != NULL) {
			struct apply_decision *out = &decisions[i];
			bool promote = d.action == DECIDE_PROMOTE;

			memset(out, 0, sizeof *out);
			out->asg = asg->identifier;
			out->promote = promote;
			snprintf(out->commit, sizeof out->commit, "%s",
				 promote ? d.commit : in->pin != NULL ? in->pin->commit : "");
			snprintf(out->image_id, sizeof out->image_id, "%s",
				 promote ? d.ami->image_id : in->pin != NULL ? in->pin->image_id : "");
			out->state = d.state;
			snprintf(out->reason, sizeof out->reason, "%s", d.reason);
		}
		if (d.action == DECIDE_PROMOTE && !dry_run) {
			rc = store_promote(st, asg->identifier, d.commit, d.ami->image_id, d.cause_event_id, d.reason,
					   "auto", now_ms, &promotion_id, err);
			if (rc == AMICD_OK) {
				if (promoted != NULL)
					promoted[i] = true;
				(*n_promoted)++;
				LOG(LL_INFO, "promoted", "{s:s,s:s,s:s,s:I,s:I,s:s}", "asg", asg->identifier, "commit",
				    d.commit, "image_id", d.ami->image_id, "promotion_id", (json_int_t)promotion_id,
				    "cause_event_id", (json_int_t)d.cause_event_id, "reason", d.reason);
			}
		} else if (d.action != DECIDE_PROMOTE) {
			LOG(LL_DEBUG, "decision", "{s:s,s:s,s:s}", "asg", asg->identifier, "state",
			    decide_state_name(d.state), "reason", d.reason);
		}
		store_asg_facts_free(&facts);
		if (rc != AMICD_OK)
			return rc;
	}
	return AMICD_OK;
}
