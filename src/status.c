/*
 * status.c — one ASG's status from its stored facts and the decision engine
 * (see status.h). Reads only; the decision is computed, never acted on.
 */
#include "status.h"

#include "store_facts.h"
#include "utf8.h"

#include <stdio.h>
#include <string.h>

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
	}
	if (d.waiting_commit != NULL && d.missing != 0) {
		out->waiting = true;
		snprintf(out->waiting_commit, sizeof out->waiting_commit, "%s", d.waiting_commit);
		out->missing = d.missing;
	} else if (d.action == DECIDE_PROMOTE) {
		out->waiting = true; /* nothing missing: the worker promotes it next */
		snprintf(out->waiting_commit, sizeof out->waiting_commit, "%s", d.commit);
	}
	if (pin_file_error != NULL) {
		/* a pin file that cannot be written holds the trigger back: the ASG says so */
		out->pin_file_failing = true;
		snprintf(out->pin_file_error, sizeof out->pin_file_error, "%s", pin_file_error);
		snprintf(out->reason, sizeof out->reason, "the pin file %s cannot be written (%s); its trigger waits. %s",
			 asg->pin_file, pin_file_error, d.reason);
	}
	utf8_repair(out->reason);
	utf8_repair(out->pin_file_error);
	store_asg_facts_free(&facts);
	return AMICD_OK;
}
