/*
 * render.c — JSON for the REST API (see render.h). Pure: no I/O, no store.
 */
#include "render.h"

#include "util.h"

#include <string.h>

/* A string, or null for NULL or "". */
static json_t *str_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

json_t *render_missing(unsigned missing)
{
	json_t *list = json_array();

	for (unsigned bit = 1; bit < (1u << DECIDE_MISSING_COUNT); bit <<= 1)
		if (missing & bit)
			json_array_append_new(list, json_string(decide_missing_name(bit)));
	return list;
}

static json_t *render_source(const struct asg_source *src)
{
	return json_pack("{s:b,s:o,s:o}", "polled", src->polled, "last_checked_at", str_or_null(src->last_checked_at),
			 "last_error", src->failing_since_ms != 0 ? json_string(src->last_error) : json_null());
}

static json_t *render_problems(const struct asg_status *s)
{
	json_t *list = json_array();

	for (size_t i = 0; list != NULL && i < s->n_problems; i++)
		json_array_append_new(list, json_pack("{s:s,s:s,s:o}", "code", s->problems[i].code, "message",
						      s->problems[i].message, "since", str_or_null(s->problems[i].since)));
	return list;
}

/* waiting_for.detail (design §2): the account, the closest AMI, the static tags, and a sentence. */
static json_t *render_waiting_detail(const struct asg_status *s)
{
	const struct config_asg *asg = s->asg;
	json_t *statics = json_array(), *orgs = json_array();
	const char *at = s->detail.unlisted_orgs;

	for (size_t i = 0; i < s->detail.n_statics; i++)
		json_array_append_new(statics, json_pack("{s:s,s:s,s:o}", "key", s->detail.statics[i].key, "expected",
							 s->detail.statics[i].expected, "seen",
							 s->detail.statics[i].seen ? json_string(s->detail.statics[i].value)
										   : json_null()));
	while (*at != '\0') {
		size_t n = strcspn(at, " ");

		if (n > 0)
			json_array_append_new(orgs, json_stringn(at, n));
		at += n;
		at += strspn(at, " ");
	}
	return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o}", "account", asg->account->uid, "account_name",
			 asg->account->name, "region", asg->region, "ami",
			 s->detail.has_ami ? json_pack("{s:s,s:o,s:o}", "image_id", s->detail.image_id, "state",
						       str_or_null(s->detail.state), "owner", str_or_null(s->detail.owner))
					   : json_null(),
			 "org_shares_unknown", orgs, "static_tags", statics, "message", str_or_null(s->detail.message));
}

/* blocked[]: the commits an admin blocked for the ASG, oldest first. */
static json_t *render_blocked(const struct asg_status *s)
{
	json_t *list = json_array();

	for (size_t i = 0; list != NULL && i < s->n_blocked && i < sizeof s->blocked / sizeof s->blocked[0]; i++)
		json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "commit", s->blocked[i].commit, "reason",
						      s->blocked[i].reason, "at", s->blocked[i].at));
	return list;
}

json_t *render_asg_status(const struct asg_status *s)
{
	const struct config_asg *asg = s->asg;
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:b,s:{s:s,s:s,s:s}}", "identifier", asg->identifier, "account",
			      asg->account->name, "account_uid", asg->account->uid, "region", asg->region, "policy",
			      asg->policy == POLICY_LATEST ? "latest" : "head", "frozen", s->frozen, "repo", "url",
			      asg->git->url_given, "ref", asg->git->ref, "tag_name", asg->git->tag_name);

	if (j == NULL)
		return NULL;
	if (s->has_pin)
		json_object_set_new(j, "pin", json_pack("{s:s,s:s,s:s,s:I,s:o,s:b,s:o,s:b,s:o}", "commit", s->pin.commit,
			"image_id", s->pin.image_id, "promoted_at", s->pin.promoted_at, "promotion_id",
			(json_int_t)s->pin.promotion_id, "ami_state", str_or_null(s->pin.ami_state), "available",
			s->pin.available, "unavailable_reason", str_or_null(s->pin.unavailable_reason), "file_written",
			!s->pin_file_failing, "file_error", s->pin_file_failing ? json_string(s->pin_file_error) : json_null()));
	else
		json_object_set_new(j, "pin", json_null());
	if (s->has_head)
		json_object_set_new(j, "head", json_pack("{s:s,s:I,s:s,s:s}", "commit", s->head.commit, "event_id",
							 (json_int_t)s->head.event_id, "received_at", s->head.received_at,
							 "source", s->head_source));
	else
		json_object_set_new(j, "head", json_null());
	json_object_set_new(j, "state", json_string(decide_state_name(s->state)));
	json_object_set_new(j, "waiting_for", s->waiting ? json_pack("{s:s,s:o,s:o}", "commit", s->waiting_commit,
								    "missing", render_missing(s->missing),
								    "detail", render_waiting_detail(s))
							  : json_null());
	json_object_set_new(j, "blocked", render_blocked(s));
	json_object_set_new(j, "sources", json_pack("{s:o,s:o}", "gitlab", render_source(&s->gitlab), "ec2",
						    render_source(&s->ec2)));
	json_object_set_new(j, "problems", render_problems(s));
	json_object_set_new(j, "reason", json_string(s->reason));
	json_object_set_new(j, "frozen_reason", s->frozen ? str_or_null(s->frozen_reason) : json_null());
	json_object_set_new(j, "frozen_at", s->frozen ? str_or_null(s->frozen_at) : json_null());
	return j;
}

static json_t *event_fields(const struct store_event_row *r)
{
	return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)r->id, "source",
			 r->source != NULL ? json_string(r->source) : json_null(), "kind",
			 r->kind != NULL ? json_string(r->kind) : json_null(), "delivery_id",
			 r->delivery_id != NULL ? json_string(r->delivery_id) : json_null(), "received_at",
			 r->received_at != NULL ? json_string(r->received_at) : json_null(), "status",
			 r->status != NULL ? json_string(r->status) : json_null(), "note",
			 r->note != NULL ? json_string(r->note) : json_null());
}

json_t *render_event_page(const struct store_event_page *page)
{
	json_t *events = json_array();

	for (size_t i = 0; i < page->n; i++)
		json_array_append_new(events, event_fields(&page->rows[i]));
	return json_pack("{s:o,s:o}", "events", events, "next", page->next > 0 ? json_integer(page->next) : json_null());
}

json_t *render_event(const struct store_event_row *row)
{
	json_t *ev = event_fields(row);
	json_t *headers = row->headers_json != NULL ? json_loads(row->headers_json, 0, NULL) : NULL;
	json_t *payload = json_loadb((const char *)row->payload, row->payload_len, JSON_DECODE_ANY, NULL);

	if (ev == NULL) {
		json_decref(headers);
		json_decref(payload);
		return NULL;
	}
	json_object_set_new(ev, "headers", headers != NULL ? headers : json_object());
	/* stored bodies were valid JSON when accepted; keep raw text otherwise */
	if (payload == NULL)
		payload = json_stringn((const char *)row->payload, row->payload_len);
	json_object_set_new(ev, "payload", payload != NULL ? payload : json_null());
	return ev;
}

json_t *render_promotions(const struct store_promotion_list *list)
{
	json_t *out = json_array();

	for (size_t i = 0; i < list->n; i++) {
		const struct store_promotion_row *p = &list->rows[i];
		json_t *trigger = json_pack("{s:o,s:o,s:o}", "state",
					    p->has_trigger ? json_string(p->trigger_state) : json_null(), "attempts",
					    p->has_trigger ? json_integer(p->trigger_attempts) : json_null(), "last_error",
					    p->trigger_last_error != NULL ? json_string(p->trigger_last_error) : json_null());

		if (p->waiting_for_pin_file)
			json_object_set_new(trigger, "waiting_for_pin_file", json_true()); /* said while it waits */
		if (p->has_trigger) {
			json_object_set_new(trigger, "series", json_integer(p->trigger_series));
			json_object_set_new(trigger, "retriggered",
					    p->retriggered ? json_pack("{s:s,s:s,s:s}", "at", p->retrigger_at, "actor",
								      p->retrigger_actor, "reason",
								      p->retrigger_reason != NULL ? p->retrigger_reason : "")
							   : json_null());
		}
		json_array_append_new(out, json_pack("{s:I,s:s,s:s,s:o,s:o,s:o,s:s,s:s,s:o}", "id", (json_int_t)p->id,
			"commit", p->commit, "image_id", p->image_id, "previous",
			p->has_previous ? json_pack("{s:s,s:s}", "commit", p->previous_commit, "image_id", p->previous_image)
					: json_null(),
			"cause_event_id", p->cause_event_id > 0 ? json_integer(p->cause_event_id) : json_null(), "reason",
			p->reason != NULL ? json_string(p->reason) : json_null(), "actor", p->actor, "promoted_at",
			p->promoted_at, "trigger", trigger));
	}
	return out;
}

json_t *render_push(const struct store_push_row *p)
{
	return json_pack("{s:s,s:s,s:I,s:s,s:o,s:o,s:b}", "commit", p->commit, "before", p->before, "event_id",
			 (json_int_t)p->event_id, "received_at", p->received_at, "repo",
			 p->repo != NULL ? json_string(p->repo) : json_null(), "ref",
			 p->branch != NULL ? json_string(p->branch) : json_null(), "branch_deleted", p->deleted);
}

json_t *render_ami(const struct store_ami_row *a)
{
	json_t *shared = json_array(), *seen = json_object();
	char created[32];

	for (size_t i = 0; i < a->n_shared; i++)
		json_array_append_new(shared, json_string(a->shared_with[i]));
	for (size_t i = 0; i < a->n_tags; i++) {
		json_t *view = json_object_get(seen, a->tags[i].account);

		if (view == NULL) {
			view = json_object();
			json_object_set_new(seen, a->tags[i].account, view);
		}
		json_object_set_new(view, a->tags[i].key, a->tags[i].value != NULL ? json_string(a->tags[i].value) : json_null());
	}
	util_format_time_s(a->created_ms, created, sizeof created);
	return json_pack("{s:s,s:s,s:o,s:o,s:s,s:I,s:o,s:o}", "region", a->region, "image_id", a->image_id, "state",
			 a->state != NULL ? json_string(a->state) : json_null(), "owner",
			 a->owner != NULL ? json_string(a->owner) : json_null(), "first_seen_at", created,
			 "first_event_id", (json_int_t)a->first_event, "shared_with", shared, "tags_by_account", seen);
}

json_t *render_decisions(const struct apply_decision *d, size_t n)
{
	json_t *out = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(out, json_pack("{s:s,s:s,s:o,s:o,s:s,s:s}", "asg", d[i].asg, "action",
			d[i].promote ? "promote" : "keep", "commit", str_or_null(d[i].commit), "image_id",
			str_or_null(d[i].image_id), "state", decide_state_name(d[i].state), "reason", d[i].reason));
	return out;
}
