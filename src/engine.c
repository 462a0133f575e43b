/*
 * engine.c — facts and decisions on a caller's transaction (see engine.h).
 */
#include "engine.h"

#include "decide.h"
#include "facts.h"
#include "log.h"
#include "util.h"

#include <string.h>

enum amicd_rc engine_apply_event(const struct config *cfg, struct store *st, const struct store_queued *ev,
				 size_t *n_facts, struct amicd_error *err)
{
	struct fact_list facts = { 0 };
	struct amicd_error perr = { { 0 }, { 0 } };
	json_t *payload = json_loadb(ev->payload, ev->payload_len, 0, NULL);
	enum amicd_rc rc = AMICD_OK;
	const char *status = "processed";
	const char *note = NULL;

	*n_facts = 0;
	if (payload == NULL) {
		status = "failed";
		note = "stored payload is not JSON";
	} else if (facts_from_event(cfg, ev->source, ev->kind, payload, &facts, &perr) != AMICD_OK) {
		status = "failed";
		note = perr.message;
	} else {
		for (size_t i = 0; i < facts.n && rc == AMICD_OK; i++)
			rc = store_fact_apply(st, &facts.items[i], ev->id, err);
		*n_facts = facts.n;
		if (facts.n == 0) {
			status = "ignored";
			note = facts.note;
		}
	}
	if (rc == AMICD_OK)
		rc = store_event_set_status(st, ev->id, status, note, err);
	if (rc == AMICD_OK && strcmp(status, "failed") == 0)
		LOG(LL_WARN, "event not understood", "{s:I,s:s,s:s}", "event_id", (json_int_t)ev->id, "kind", ev->kind,
		    "error", note);
	fact_list_free(&facts);
	json_decref(payload);
	return rc;
}

enum amicd_rc engine_decide_all(const struct config *cfg, struct store *st, bool dry_run, json_t *decisions,
				bool *promoted, size_t *n_promoted, struct amicd_error *err)
{
	*n_promoted = 0;
	for (size_t i = 0; i < cfg->n_asgs; i++) {
		const struct config_asg *asg = &cfg->asgs[i];
		struct store_asg_facts *facts = NULL;
		const struct decide_input *in;
		struct decide_result d;
		int64_t promotion_id = 0;
		enum amicd_rc rc = store_asg_facts_load(st, asg, &facts, err);

		if (rc != AMICD_OK)
			return rc;
		in = store_asg_facts_input(facts);
		decide(in, &d);
		if (decisions != NULL) {
			bool promote = d.action == DECIDE_PROMOTE;

			json_array_append_new(decisions, json_pack("{s:s,s:s,s:s?,s:s?,s:s,s:s}", "asg", asg->identifier,
				"action", promote ? "promote" : "keep",
				"commit", promote ? d.commit : in->pin != NULL ? in->pin->commit : NULL,
				"image_id", promote ? d.ami->image_id : in->pin != NULL ? in->pin->image_id : NULL,
				"state", decide_state_name(d.state), "reason", d.reason));
		}
		if (d.action == DECIDE_PROMOTE && !dry_run) {
			rc = store_promote(st, asg->identifier, d.commit, d.ami->image_id, d.cause_event_id, d.reason,
					   "auto", util_now_ms(), &promotion_id, err);
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

enum amicd_rc engine_pins_unavailable(const struct config *cfg, struct store *st, bool *unavailable,
				      const char **why, struct amicd_error *err)
{
	for (size_t i = 0; i < cfg->n_asgs; i++) {
		struct store_asg_facts *facts = NULL;
		const char *reason = NULL;
		enum amicd_rc rc = store_asg_facts_load(st, &cfg->asgs[i], &facts, err);

		if (rc != AMICD_OK)
			return rc;
		unavailable[i] = decide_pin_unavailable(store_asg_facts_input(facts), &reason);
		if (why != NULL)
			why[i] = reason; /* static */
		store_asg_facts_free(&facts);
	}
	return AMICD_OK;
}
