/*
 * admin.c — the admin endpoints (see admin.h).
 *
 * Replay is replay.c's: this file parses the request, lets one replay run at a
 * time (a second gets 409), and answers with its decisions. Replays never hold
 * the write lock a delivery needs for more than their last, short step.
 */
#include "admin.h"

#include "app.h"
#include "auth.h"
#include "decide.h"
#include "log.h"
#include "render.h"
#include "replay.h"
#include "store_facts.h"
#include "util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


enum amicd_rc admin_precheck(struct http_request *req, void *cls, struct amicd_error *err)
{
	const struct app *app = cls;

	if (auth_bearer(&app_auth(app)->admin_token, http_header(req, "Authorization")))
		return AMICD_OK;
	LOG(LL_WARN, "admin request refused: bad token", "{s:s}", "path", http_path(req));
	return amicd_error_set(err, AMICD_ERR_AUTH, NULL, "unauthorized");
}

static void reply_invalid(struct http_request *req, const char *path, const char *message)
{
	struct amicd_error err;

	amicd_error_set(&err, AMICD_ERR_INVALID, path, "%s", message);
	http_reply_error(req, AMICD_ERR_INVALID, &err);
}

/* The JSON body (an object; empty means {}), or NULL with a 400 sent. */
static json_t *body_object(struct http_request *req)
{
	size_t len;
	const char *body = http_body(req, &len);
	json_error_t jerr;
	json_t *doc;

	if (len == 0)
		return json_object();
	doc = json_loadb(body, len, 0, &jerr);
	if (doc == NULL) {
		struct amicd_error err;

		amicd_error_set(&err, AMICD_ERR_PARSE, "$", "malformed JSON at line %d, column %d: %s", jerr.line,
				jerr.column, jerr.text);
		http_reply_error(req, AMICD_ERR_PARSE, &err);
		return NULL;
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		reply_invalid(req, "$", "the body must be a JSON object");
		return NULL;
	}
	return doc;
}

/* Unknown keys are refused: a typo must not turn into "replay everything". */
static bool only_keys(struct http_request *req, json_t *body, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach(body, key, v) {
		bool ok = false;
		char path[128];

		for (const char *const *a = allowed; *a != NULL; a++)
			ok = ok || strcmp(*a, key) == 0;
		if (!ok) {
			snprintf(path, sizeof path, "$.%s", key);
			reply_invalid(req, path, "unknown field");
			return false;
		}
	}
	return true;
}

/* The worker writes the promoted ASGs' pin files; each written file releases its trigger. */
static void after_promotions(struct app *app, const bool *promoted)
{
	for (size_t i = 0; i < app->cfg->n_asgs; i++)
		if (promoted[i])
			worker_pin_changed(app->worker, i);
}

void admin_replay(struct http_request *req, void *cls)
{
	static const char *const keys[] = { "event_ids", "from_id", "to_id", "dry_run", NULL };
	static pthread_mutex_t one_at_a_time = PTHREAD_MUTEX_INITIALIZER;
	struct app *app = cls;
	json_t *body = body_object(req), *ids;
	struct replay_request rq = { .kind = REPLAY_ALL };
	struct replay_result res = { 0 };
	struct amicd_error err = { { 0 }, { 0 } };
	int64_t *id_list = NULL;
	bool *promoted = NULL;
	enum amicd_rc rc;
	int64_t t0 = util_monotonic_ns();

	if (body == NULL || !only_keys(req, body, keys))
		goto out;
	ids = json_object_get(body, "event_ids");
	if (json_object_get(body, "dry_run") != NULL) {
		if (!json_is_boolean(json_object_get(body, "dry_run"))) {
			reply_invalid(req, "$.dry_run", "dry_run must be true or false");
			goto out;
		}
		rq.dry_run = json_is_true(json_object_get(body, "dry_run"));
	}
	if (ids != NULL && (json_object_get(body, "from_id") != NULL || json_object_get(body, "to_id") != NULL)) {
		reply_invalid(req, "$.event_ids", "give event_ids or from_id/to_id, not both");
		goto out;
	}
	if (ids != NULL) {
		size_t i;
		json_t *id;

		if (!json_is_array(ids) || json_array_size(ids) == 0) {
			reply_invalid(req, "$.event_ids", "event_ids must be a non-empty list of event ids");
			goto out;
		}
		id_list = calloc(json_array_size(ids), sizeof *id_list);
		if (id_list == NULL) {
			amicd_error_set(&err, AMICD_ERR_NOMEM, NULL, "out of memory");
			http_reply_error(req, AMICD_ERR_NOMEM, &err);
			goto out;
		}
		json_array_foreach(ids, i, id) {
			if (!json_is_integer(id) || json_integer_value(id) <= 0) {
				char path[64];

				snprintf(path, sizeof path, "$.event_ids[%zu]", i);
				reply_invalid(req, path, "event ids are positive integers");
				goto out;
			}
			id_list[i] = json_integer_value(id);
		}
		rq.kind = REPLAY_IDS;
		rq.ids = id_list;
		rq.n_ids = json_array_size(ids);
	}
	if (json_object_get(body, "from_id") != NULL || json_object_get(body, "to_id") != NULL) {
		json_t *f = json_object_get(body, "from_id"), *t = json_object_get(body, "to_id");

		bool bad_from = f != NULL && (!json_is_integer(f) || json_integer_value(f) <= 0);
		bool bad_to = t != NULL && (!json_is_integer(t) || json_integer_value(t) <= 0);

		if (bad_from || bad_to) {
			reply_invalid(req, bad_from ? "$.from_id" : "$.to_id", "from_id and to_id are positive event ids");
			goto out;
		}
		rq.kind = REPLAY_RANGE;
		rq.from_id = f != NULL ? json_integer_value(f) : 1;
		rq.to_id = t != NULL ? json_integer_value(t) : 0;
		if (rq.to_id != 0 && rq.to_id < rq.from_id) {
			reply_invalid(req, "$.to_id", "to_id is below from_id");
			goto out;
		}
	}
	promoted = calloc(app->cfg->n_asgs + 1, sizeof *promoted);
	if (promoted == NULL) {
		amicd_error_set(&err, AMICD_ERR_NOMEM, NULL, "out of memory");
		http_reply_error(req, AMICD_ERR_NOMEM, &err);
		goto out;
	}
	if (pthread_mutex_trylock(&one_at_a_time) != 0) {
		amicd_error_set(&err, AMICD_ERR_CONFLICT, NULL, "a replay is already running; try again when it is done");
		http_reply_error(req, AMICD_ERR_CONFLICT, &err);
		goto out;
	}
	LOG(LL_INFO, "replay started", "{s:s,s:b,s:s}", "actor", "admin", "dry_run", rq.dry_run, "scope",
	    rq.kind == REPLAY_ALL ? "all" : rq.kind == REPLAY_IDS ? "event_ids" : "range");
	rc = replay_run(app->cfg, &rq, &app->stopping, promoted, &res, &err);
	pthread_mutex_unlock(&one_at_a_time);
	if (rc != AMICD_OK) {
		LOG(LL_ERROR, "replay failed; nothing changed", "{s:s}", "error", err.message);
		http_reply_error(req, rc, &err);
		goto out;
	}
	if (!rq.dry_run)
		after_promotions(app, promoted);
	LOG(LL_INFO, "replay", "{s:s,s:b,s:s,s:I,s:I,s:I,s:I,s:f}", "actor", "admin", "dry_run", rq.dry_run, "scope",
	    rq.kind == REPLAY_ALL ? "all" : rq.kind == REPLAY_IDS ? "event_ids" : "range", "events",
	    (json_int_t)res.events, "facts", (json_int_t)res.facts, "promotions", (json_int_t)res.promotions,
	    "rows_changed", (json_int_t)res.changed_rows, "ms", (double)(util_monotonic_ns() - t0) / 1e6);
	http_reply_json(req, 200, json_pack("{s:I,s:b,s:I,s:o}", "replayed", (json_int_t)res.events, "dry_run",
					    rq.dry_run, "promotions", (json_int_t)(rq.dry_run ? 0 : res.promotions),
					    "decisions", render_decisions(res.decisions, res.n_decisions)));
out:
	free(res.decisions);
	free(promoted);
	free(id_list);
	json_decref(body);
}

/* --- freeze, unfreeze, pin ------------------------------------------------------ */

/*
 * Wait (bounded) until the worker has processed every event stored so far —
 * the observations of this reconcile and of any pass before it —, so the
 * answer shows their effect.
 */
static void wait_processed(struct app *app, int64_t timeout_ms)
{
	int64_t deadline = util_now_ms() + timeout_ms, max_id = 0;
	struct amicd_error err;
	bool queued = true;

	if (store_max_event_id(app->reader, &max_id, &err) != AMICD_OK)
		return;
	while (store_queued_through(app->reader, max_id, &queued, &err) == AMICD_OK && queued &&
	       util_now_ms() < deadline && !atomic_load(&app->stopping)) {
		worker_wake(app->worker);
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000000L }, NULL);
	}
}

void admin_reconcile(struct http_request *req, void *cls)
{
	static const char *const keys[] = { "asg", NULL };
	struct app *app = cls;
	json_t *body = body_object(req), *list = NULL, *asgs = NULL;
	const json_t *asg_field;
	const char *asg = NULL;
	struct reconcile_report rep = { 0 };
	struct amicd_error err = { { 0 }, { 0 } };
	int64_t timeout_ms;
	enum amicd_rc rc;

	if (body == NULL || !only_keys(req, body, keys))
		goto out;
	asg_field = json_object_get(body, "asg");
	if (asg_field != NULL) {
		asg = json_string_value(asg_field);
		if (asg == NULL) {
			reply_invalid(req, "$.asg", "asg must be an ASG identifier");
			goto out;
		}
		if (config_find_asg(app->cfg, asg) == NULL) {
			amicd_error_set(&err, AMICD_ERR_NOT_FOUND, "$.asg", "no ASG \"%s\" in the configuration", asg);
			http_reply_error(req, AMICD_ERR_NOT_FOUND, &err);
			goto out;
		}
	}
	/* each ASG asks at most three questions, each bounded by the source timeout and its retries */
	timeout_ms = (int64_t)app->cfg->reconcile.timeout_seconds * 3000 * (asg != NULL ? 1 : (int64_t)app->cfg->n_asgs) + 5000;
	if (timeout_ms > 300000)
		timeout_ms = 300000;
	LOG(LL_INFO, "admin: reconcile", "{s:s}", "asg", asg != NULL ? asg : "(all)");
	rc = reconcile_run(app->reconcile, asg, timeout_ms, &rep, &err);
	if (rc != AMICD_OK) {
		http_reply_error(req, rc, &err);
		goto out;
	}
	wait_processed(app, 10000);
	list = json_array();
	asgs = json_array();
	for (size_t i = 0; list != NULL && asgs != NULL && i < rep.n; i++) {
		const struct reconcile_asg_report *a = &rep.asgs[i];
		json_t *events = json_array();
		struct asg_status s;

		for (size_t k = 0; events != NULL && k < a->n_events; k++)
			json_array_append_new(events, json_integer(a->event_ids[k]));
		json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:o,s:o}", "asg", a->asg, "gitlab", a->gitlab, "ec2",
						      a->ec2, "events", events != NULL ? events : json_array(), "error",
						      a->error[0] != '\0' ? json_string(a->error) : json_null()));
		if (app_asg_status(app, config_find_asg(app->cfg, a->asg), &s, &err) == AMICD_OK)
			json_array_append_new(asgs, render_asg_status(&s));
	}
	if (list == NULL || asgs == NULL) {
		amicd_error_set(&err, AMICD_ERR_NOMEM, NULL, "out of memory");
		http_reply_error(req, AMICD_ERR_NOMEM, &err);
		goto out;
	}
	http_reply_json(req, 200, json_pack("{s:O,s:O}", "reconciled", list, "asgs", asgs));
out:
	json_decref(list);
	json_decref(asgs);
	reconcile_report_free(&rep);
	json_decref(body);
}

static const char *want_reason(struct http_request *req, json_t *body)
{
	const char *reason = json_string_value(json_object_get(body, "reason"));

	if (reason == NULL || reason[0] == '\0') {
		reply_invalid(req, "$.reason", "a non-empty reason is required (it is recorded with the action)");
		return NULL;
	}
	if (strlen(reason) > 200) {
		reply_invalid(req, "$.reason", "reason is limited to 200 characters");
		return NULL;
	}
	return reason;
}

static void reply_status(struct http_request *req, struct app *app, const struct config_asg *asg, json_t *extra)
{
	struct amicd_error err;
	struct asg_status s;
	json_t *status;
	enum amicd_rc rc = app_asg_status(app, asg, &s, &err);

	if (rc != AMICD_OK) {
		json_decref(extra);
		http_reply_error(req, rc, &err);
		return;
	}
	status = render_asg_status(&s);
	if (extra != NULL) {
		json_object_set_new(extra, "asg", status);
		http_reply_json(req, 200, extra);
		return;
	}
	http_reply_json(req, 200, json_pack("{s:o}", "asg", status));
}

/*
 * An admin action's transaction: one at a time, on the admin connection. The
 * action's lock is held from admin_begin, whatever it returns, to admin_end,
 * which every path calls once.
 */
static enum amicd_rc admin_begin(struct app *app, struct amicd_error *err)
{
	pthread_mutex_lock(&app->admin_lock);
	return store_begin(app->admin, err);
}

/* End it: commit when rc is AMICD_OK, else roll back (a failed commit too); the result. */
static enum amicd_rc admin_end(struct app *app, enum amicd_rc rc, struct amicd_error *err)
{
	if (rc == AMICD_OK)
		rc = store_commit(app->admin, err);
	if (rc != AMICD_OK)
		store_rollback(app->admin);
	pthread_mutex_unlock(&app->admin_lock);
	return rc;
}

static void freeze(struct http_request *req, struct app *app, const struct config_asg *asg, size_t index,
		   bool frozen, json_t *body)
{
	static const char *const keys[] = { "reason", NULL };
	const char *reason;
	struct amicd_error err;
	enum amicd_rc rc;

	if (!only_keys(req, body, keys) || (reason = want_reason(req, body)) == NULL)
		return;
	rc = admin_begin(app, &err);
	if (rc == AMICD_OK)
		rc = store_asg_frozen_set(app->admin, asg->identifier, frozen, reason, "admin", util_now_ms(), &err);
	rc = admin_end(app, rc, &err);
	if (rc != AMICD_OK) {
		http_reply_error(req, rc, &err);
		return;
	}
	LOG(LL_INFO, frozen ? "asg frozen" : "asg unfrozen", "{s:s,s:s,s:s}", "asg", asg->identifier, "actor", "admin",
	    "reason", reason);
	if (!frozen)
		worker_pin_changed(app->worker, index); /* re-decide now: automation resumes */
	reply_status(req, app, asg, NULL);
}

static void pin(struct http_request *req, struct app *app, const struct config_asg *asg, size_t index, json_t *body)
{
	static const char *const keys[] = { "commit", "reason", NULL };
	const char *commit = json_string_value(json_object_get(body, "commit"));
	const char *reason;
	char commit_lc[65], why[300];
	struct store_asg_facts *facts = NULL;
	struct decide_readiness r;
	struct amicd_error err = { { 0 }, { 0 } };
	int64_t promotion_id = 0;
	bool already = false;
	int64_t now = util_now_ms();
	enum amicd_rc rc;

	if (!only_keys(req, body, keys))
		return;
	if (commit == NULL || !util_is_commit(commit)) {
		reply_invalid(req, "$.commit", "commit must be a 40- or 64-hex commit id");
		return;
	}
	reason = want_reason(req, body);
	if (reason == NULL)
		return;
	snprintf(commit_lc, sizeof commit_lc, "%s", commit); /* 40 or 64 digits: it fits */
	for (char *c = commit_lc; *c != '\0'; c++)
		*c = (char)(*c >= 'A' && *c <= 'F' ? *c + 32 : *c);
	snprintf(why, sizeof why, "manual pin: %s", reason);

	rc = admin_begin(app, &err);
	if (rc == AMICD_OK)
		rc = store_asg_facts_load_for(app->admin, asg, (const char *const[]){ commit_lc }, 1, &facts, &err);
	if (rc == AMICD_OK) {
		const struct decide_input *in = store_asg_facts_input(facts);

		decide_ready(in->asg, in->amis, in->n_amis, commit_lc, &r);
		if (r.missing != 0) {
			admin_end(app, AMICD_ERR_NOT_READY, NULL);
			store_asg_facts_free(&facts);
			LOG(LL_INFO, "manual pin refused: commit not ready", "{s:s,s:s,s:s}", "asg", asg->identifier,
			    "commit", commit_lc, "actor", "admin");
			amicd_error_set(&err, AMICD_ERR_NOT_READY, NULL, "the commit is not ready for this ASG; see missing");
			http_reply_error_with(req, AMICD_ERR_NOT_READY, &err,
					      json_pack("{s:s,s:o}", "commit", commit_lc, "missing", render_missing(r.missing)));
			return;
		}
		already = in->pin != NULL && strcmp(in->pin->commit, commit_lc) == 0 &&
			  strcmp(in->pin->image_id, r.ami->image_id) == 0;
		if (!already)
			rc = store_promote(app->admin, asg->identifier, commit_lc, r.ami->image_id, 0, why, "admin",
					   now, &promotion_id, &err);
	}
	if (rc == AMICD_OK)
		rc = store_asg_frozen_set(app->admin, asg->identifier, true, why, "admin", now, &err);
	rc = admin_end(app, rc, &err);
	if (rc != AMICD_OK) {
		store_asg_facts_free(&facts);
		http_reply_error(req, rc, &err);
		return;
	}
	LOG(LL_INFO, "manual pin", "{s:s,s:s,s:s,s:I,s:s,s:s,s:b}", "asg", asg->identifier, "commit", commit_lc,
	    "image_id", r.ami->image_id, "promotion_id", (json_int_t)promotion_id, "actor", "admin", "reason", reason,
	    "already_pinned", already);
	store_asg_facts_free(&facts);
	if (!already)
		worker_pin_changed(app->worker, index); /* its pin file, then its trigger */
	reply_status(req, app, asg,
		     json_pack("{s:o,s:b}", "promotion_id", already ? json_null() : json_integer(promotion_id), "frozen", 1));
}

void admin_asg_action(struct http_request *req, void *cls)
{
	struct app *app = cls;
	const char *rest = http_path(req) + strlen("/api/v1/admin/asgs/");
	const char *slash = strchr(rest, '/');
	const struct config_asg *asg = NULL;
	size_t index = 0;
	char id[256];
	json_t *body;

	if (slash != NULL) {
		snprintf(id, sizeof id, "%.*s", (int)(slash - rest), rest);
		for (size_t i = 0; i < app->cfg->n_asgs; i++)
			if (strcmp(app->cfg->asgs[i].identifier, id) == 0) {
				asg = &app->cfg->asgs[i];
				index = i;
			}
	}
	if (asg == NULL || (strcmp(slash, "/freeze") != 0 && strcmp(slash, "/unfreeze") != 0 &&
			    strcmp(slash, "/pin") != 0)) {
		struct amicd_error err;

		amicd_error_set(&err, AMICD_ERR_NOT_FOUND, NULL, asg == NULL ? "no such ASG in the configuration"
									     : "no such action (freeze, unfreeze, pin)");
		http_reply_error(req, AMICD_ERR_NOT_FOUND, &err);
		return;
	}
	body = body_object(req);
	if (body == NULL)
		return;
	if (strcmp(slash, "/pin") == 0)
		pin(req, app, asg, index, body);
	else
		freeze(req, app, asg, index, strcmp(slash, "/freeze") == 0, body);
	json_decref(body);
}
