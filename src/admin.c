/*
 * admin.c — the admin endpoints (see admin.h).
 *
 * Replay is replay.c's: this file parses the request, lets one replay run at a
 * time (a second gets 409), and answers with its decisions. Replays never hold
 * the write lock a delivery needs for more than their last, short step.
 */
#include "admin.h"

#include "app.h"
#include "apply.h"
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
	char remote[64];

	if (auth_bearer(&app_auth(app)->admin_token, http_header(req, "Authorization")))
		return AMICD_OK;
	LOG(LL_WARN, "admin request refused: bad token", "{s:s,s:s,s:s?}", "path", http_path(req),
	    "remote", http_remote(req, remote, sizeof remote), "forwarded_for", http_header(req, "X-Forwarded-For"));
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


/* The per-ASG flags a decision sets for the promotions it made; NULL (and 503 answered) when out of memory. */
static bool *promoted_flags(struct http_request *req, struct app *app)
{
	bool *promoted = calloc(app->cfg->n_asgs + 1, sizeof *promoted);
	struct amicd_error err;

	if (promoted == NULL) {
		amicd_error_set(&err, AMICD_ERR_NOMEM, NULL, "out of memory");
		http_reply_error(req, AMICD_ERR_NOMEM, &err);
	}
	return promoted;
}

/*
 * Whether every id names a stored event; when some do not, a 400 naming them
 * (a replay of nothing would otherwise answer "replayed: 0" as if it had worked).
 */
static bool ids_exist(struct http_request *req, struct app *app, const int64_t *ids, size_t n)
{
	struct amicd_error err;
	char missing[400] = "";
	size_t at = 0, n_missing = 0;

	for (size_t i = 0; i < n; i++) {
		struct store_event_row row;
		enum amicd_rc rc = store_event_get(app->reader, ids[i], &row, &err);

		if (rc == AMICD_ERR_NOT_FOUND) {
			int len = snprintf(missing + at, sizeof missing - at, "%s%lld", n_missing > 0 ? ", " : "",
					   (long long)ids[i]);

			n_missing++;
			if (len > 0 && at + (size_t)len < sizeof missing)
				at += (size_t)len;
			continue;
		}
		if (rc != AMICD_OK) {
			http_reply_error(req, rc, &err);
			return false;
		}
		store_event_row_free(&row);
	}
	if (n_missing == 0)
		return true;
	amicd_error_set(&err, AMICD_ERR_INVALID, "$.event_ids", "no stored event with id %s; nothing was replayed",
			missing);
	http_reply_error(req, AMICD_ERR_INVALID, &err);
	return false;
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
		if (!ids_exist(req, app, id_list, rq.n_ids))
			goto out;
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
	promoted = promoted_flags(req, app);
	if (promoted == NULL)
		goto out;
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

/* --- freeze, unfreeze, pin, block, unblock ------------------------------------------------------ */

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

/*
 * Answer with the ASG as it is now (after the action's transaction and the
 * decision it ran), extra's fields beside it (extra is taken; may be NULL).
 * "promotion_id": the promotion the action started for this ASG, or null.
 */
static void reply_status(struct http_request *req, struct app *app, const struct config_asg *asg, json_t *extra,
			 int64_t promotion_id)
{
	struct amicd_error err;
	struct asg_status *s = calloc(1, sizeof *s);
	enum amicd_rc rc = s != NULL ? app_asg_status(app, asg, s, &err)
				     : amicd_error_set(&err, AMICD_ERR_NOMEM, NULL, "out of memory");

	if (rc != AMICD_OK) {
		json_decref(extra);
		free(s);
		http_reply_error(req, rc, &err);
		return;
	}
	if (extra == NULL)
		extra = json_object();
	json_object_set_new(extra, "promotion_id", promotion_id > 0 ? json_integer(promotion_id) : json_null());
	json_object_set_new(extra, "asg", render_asg_status(s));
	free(s);
	http_reply_json(req, 200, extra);
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

/*
 * The decision the action causes, in its transaction, as the worker makes it
 * (design §4: every admin answer is the ASG after the decision it caused).
 * promoted: cfg->n_asgs entries.
 */
static enum amicd_rc decide_now(struct app *app, bool *promoted, int64_t now_ms, struct amicd_error *err)
{
	size_t n_promoted = 0;

	return apply_decide_all(app->cfg, app->admin, now_ms, false, NULL, promoted, &n_promoted, NULL, err);
}

/* After the commit: pin files and triggers of what decide_now promoted; the promotion of asg (0: none). */
static int64_t after_decision(struct app *app, const struct config_asg *asg, size_t index, const bool *promoted)
{
	struct store_pin p;
	struct amicd_error err;
	bool found = false;

	after_promotions(app, promoted);
	if (!promoted[index] || store_pin_get(app->reader, asg->identifier, &p, &found, &err) != AMICD_OK || !found)
		return 0;
	LOG(LL_INFO, "admin action started a promotion", "{s:s,s:s,s:s,s:I}", "asg", asg->identifier, "commit", p.commit,
	    "image_id", p.image_id, "promotion_id", (json_int_t)p.promotion_id);
	return p.promotion_id;
}

/*
 * The commit $.commit names for asg, lower-case, into out: a full commit id,
 * or a unique prefix of at least 7 hex digits (any case) of a commit amicd
 * knows for the ASG (pushed to its branch, tagged on an AMI in its region,
 * or blocked for it). A full id amicd does not know is taken only when
 * allow_unknown. false with the answer sent: 400 (not hex, too short,
 * ambiguous: the candidates named), 404 (nothing known by that name).
 */
static bool resolve_commit(struct http_request *req, struct app *app, const struct config_asg *asg, json_t *body,
			   bool allow_unknown, char out[72])
{
	const char *given = json_string_value(json_object_get(body, "commit"));
	char prefix[72], found[8][72];
	struct amicd_error err = { { 0 }, { 0 } };
	size_t len = given != NULL ? strlen(given) : 0, n = 0;
	enum amicd_rc rc;

	if (given == NULL || len < 7 || len > 64 || strspn(given, "0123456789abcdefABCDEF") != len) {
		reply_invalid(req, "$.commit", "commit must be a commit id or a unique prefix of at least 7 hex digits");
		return false;
	}
	for (size_t i = 0; i <= len; i++)
		prefix[i] = (char)(given[i] >= 'A' && given[i] <= 'F' ? given[i] + 32 : given[i]);
	rc = store_commits_matching(app->reader, asg->identifier, asg->git->url, asg->git->ref, asg->region,
				    asg->git->tag_name, prefix, found, 8, &n, &err);
	if (rc != AMICD_OK) {
		http_reply_error(req, rc, &err);
		return false;
	}
	if (n == 1 || (n == 0 && allow_unknown && util_is_commit(prefix))) {
		snprintf(out, 72, "%s", n == 1 ? found[0] : prefix);
		return true;
	}
	if (n == 0) {
		amicd_error_set(&err, AMICD_ERR_NOT_FOUND, "$.commit",
				"no push or AMI of %s is known for ASG %s (%s %s, tag %s in %s)", prefix, asg->identifier,
				asg->git->url_given, asg->git->ref, asg->git->tag_name, asg->region);
		http_reply_error_with(req, AMICD_ERR_NOT_FOUND, &err, json_pack("{s:s}", "commit", prefix));
		return false;
	}
	{
		json_t *candidates = json_array();
		char list[8 * 42 + 16] = "";
		size_t at = 0;

		for (size_t i = 0; i < n && i < 8; i++) {
			json_array_append_new(candidates, json_string(found[i]));
			at += (size_t)snprintf(list + at, sizeof list - at, "%s%.12s", i > 0 ? ", " : "", found[i]);
			if (at >= sizeof list)
				break;
		}
		amicd_error_set(&err, AMICD_ERR_INVALID, "$.commit", "commit prefix %s is ambiguous: %s%s; give more digits",
				prefix, list, n > 8 ? ", …" : "");
		http_reply_error_with(req, AMICD_ERR_INVALID, &err, json_pack("{s:o}", "candidates", candidates));
	}
	return false;
}

static void freeze(struct http_request *req, struct app *app, const struct config_asg *asg, size_t index,
		   bool frozen, json_t *body)
{
	static const char *const keys[] = { "reason", NULL };
	const char *reason;
	struct amicd_error err;
	bool *promoted = NULL;
	int64_t now = util_now_ms();
	enum amicd_rc rc;

	if (!only_keys(req, body, keys) || (reason = want_reason(req, body)) == NULL)
		return;
	promoted = promoted_flags(req, app);
	if (promoted == NULL)
		return;
	rc = admin_begin(app, &err);
	if (rc == AMICD_OK)
		rc = store_asg_frozen_set(app->admin, asg->identifier, frozen, reason, "admin", now, &err);
	if (rc == AMICD_OK)
		rc = decide_now(app, promoted, now, &err); /* unfrozen: automation resumes now */
	rc = admin_end(app, rc, &err);
	if (rc != AMICD_OK) {
		free(promoted);
		http_reply_error(req, rc, &err);
		return;
	}
	LOG(LL_INFO, frozen ? "asg frozen" : "asg unfrozen", "{s:s,s:s,s:s}", "asg", asg->identifier, "actor", "admin",
	    "reason", reason);
	reply_status(req, app, asg, NULL, after_decision(app, asg, index, promoted));
	free(promoted);
}

/* POST …/block {"commit","reason"} and …/unblock {"commit"} (design §1, §2). */
static void block(struct http_request *req, struct app *app, const struct config_asg *asg, size_t index,
		  bool blocking, json_t *body)
{
	static const char *const keys[] = { "commit", "reason", NULL }; /* reason: optional for unblock */
	const char *reason = NULL;
	char commit[72];
	struct amicd_error err;
	bool *promoted = NULL, was = false;
	int64_t now = util_now_ms();
	enum amicd_rc rc;

	if (!only_keys(req, body, keys))
		return;
	if (blocking && (reason = want_reason(req, body)) == NULL)
		return;
	if (!resolve_commit(req, app, asg, body, blocking, commit))
		return;
	promoted = promoted_flags(req, app);
	if (promoted == NULL)
		return;
	rc = admin_begin(app, &err);
	if (rc == AMICD_OK)
		rc = blocking ? store_block_set(app->admin, asg->identifier, commit, reason, "admin", now, &was, &err)
			      : store_block_clear(app->admin, asg->identifier, commit, &was, &err);
	if (rc == AMICD_OK)
		rc = decide_now(app, promoted, now, &err);
	rc = admin_end(app, rc, &err);
	if (rc != AMICD_OK) {
		free(promoted);
		http_reply_error(req, rc, &err);
		return;
	}
	if (blocking)
		LOG(LL_INFO, "commit blocked", "{s:s,s:s,s:s,s:s,s:b}", "asg", asg->identifier, "commit", commit, "actor",
		    "admin", "reason", reason, "already_blocked", was);
	else
		LOG(LL_INFO, "commit unblocked", "{s:s,s:s,s:s,s:s,s:b}", "asg", asg->identifier, "commit", commit, "actor",
		    "admin", "reason", json_string_value(json_object_get(body, "reason")) != NULL
				       ? json_string_value(json_object_get(body, "reason")) : "",
		    "was_blocked", was);
	reply_status(req, app, asg,
		     blocking ? json_pack("{s:s,s:b}", "commit", commit, "already_blocked", was)
			      : json_pack("{s:s,s:b}", "commit", commit, "was_blocked", was),
		     after_decision(app, asg, index, promoted));
	free(promoted);
}

static void pin(struct http_request *req, struct app *app, const struct config_asg *asg, size_t index, json_t *body)
{
	static const char *const keys[] = { "commit", "reason", NULL };
	const char *reason;
	char commit_lc[72], why[300];
	struct store_asg_facts *facts = NULL;
	struct decide_readiness r;
	struct amicd_error err = { { 0 }, { 0 } };
	int64_t promotion_id = 0;
	bool already = false, *promoted = NULL;
	int64_t now = util_now_ms();
	enum amicd_rc rc;

	if (!only_keys(req, body, keys))
		return;
	if (!resolve_commit(req, app, asg, body, false, commit_lc))
		return;
	reason = want_reason(req, body);
	if (reason == NULL)
		return;
	snprintf(why, sizeof why, "manual pin: %s", reason);
	promoted = promoted_flags(req, app);
	if (promoted == NULL)
		return;

	rc = admin_begin(app, &err);
	if (rc == AMICD_OK)
		rc = store_asg_facts_load_for(app->admin, asg, (const char *const[]){ commit_lc }, 1, &facts, &err);
	if (rc == AMICD_OK) {
		const struct decide_input *in = store_asg_facts_input(facts);
		bool blocked = decide_blocked(in, commit_lc);

		decide_ready(in->asg, in->amis, in->n_amis, commit_lc, &r);
		if (r.missing != 0 || blocked) {
			unsigned missing = r.missing | (blocked ? (unsigned)MISSING_BLOCKED : 0u);

			admin_end(app, AMICD_ERR_NOT_READY, NULL);
			store_asg_facts_free(&facts);
			free(promoted);
			LOG(LL_INFO, blocked ? "manual pin refused: commit blocked" : "manual pin refused: commit not ready",
			    "{s:s,s:s,s:s}", "asg", asg->identifier, "commit", commit_lc, "actor", "admin");
			if (blocked)
				amicd_error_set(&err, AMICD_ERR_NOT_READY, NULL,
						"commit %.12s is blocked for this ASG; unblock it first", commit_lc);
			else
				amicd_error_set(&err, AMICD_ERR_NOT_READY, NULL, "the commit is not ready for this ASG; see missing");
			http_reply_error_with(req, AMICD_ERR_NOT_READY, &err,
					      json_pack("{s:s,s:o}", "commit", commit_lc, "missing", render_missing(missing)));
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
	if (rc == AMICD_OK)
		rc = decide_now(app, promoted, now, &err); /* frozen: this ASG stays; others as the worker would */
	rc = admin_end(app, rc, &err);
	if (rc != AMICD_OK) {
		store_asg_facts_free(&facts);
		free(promoted);
		http_reply_error(req, rc, &err);
		return;
	}
	LOG(LL_INFO, "manual pin", "{s:s,s:s,s:s,s:I,s:s,s:s,s:b}", "asg", asg->identifier, "commit", commit_lc,
	    "image_id", r.ami->image_id, "promotion_id", (json_int_t)promotion_id, "actor", "admin", "reason", reason,
	    "already_pinned", already);
	store_asg_facts_free(&facts);
	if (!already)
		promoted[index] = true; /* its pin file, then its trigger */
	after_promotions(app, promoted);
	free(promoted);
	reply_status(req, app, asg, json_pack("{s:s,s:b}", "commit", commit_lc, "frozen", 1), promotion_id);
}

/*
 * Send the current pin's trigger again as a new attempt series (design §4,
 * §6): attempts start over, and the key is amicd-promotion-<id>-<series>, so
 * a receiver that remembers the first series' key does not drop it.
 */
static void retrigger(struct http_request *req, struct app *app, const struct config_asg *asg, json_t *body)
{
	static const char *const keys[] = { "reason", NULL };
	const char *reason;
	struct store_pin p;
	struct amicd_error err = { { 0 }, { 0 } };
	bool found = false;
	int series = 0;
	enum amicd_rc rc;

	if (!only_keys(req, body, keys) || (reason = want_reason(req, body)) == NULL)
		return;
	rc = admin_begin(app, &err);
	if (rc == AMICD_OK)
		rc = store_pin_get(app->admin, asg->identifier, &p, &found, &err);
	if (rc == AMICD_OK && !found)
		rc = amicd_error_set(&err, AMICD_ERR_CONFLICT, NULL,
				     "ASG %s has no pin yet: there is no trigger to send again", asg->identifier);
	if (rc == AMICD_OK)
		rc = store_trigger_retrigger(app->admin, p.promotion_id, "admin", reason, util_now_ms(), &series, &err);
	rc = admin_end(app, rc, &err);
	if (rc != AMICD_OK) {
		LOG(LL_INFO, "retrigger refused", "{s:s,s:s,s:s}", "asg", asg->identifier, "actor", "admin", "error",
		    err.message);
		http_reply_error(req, rc, &err);
		return;
	}
	LOG(LL_INFO, "retrigger", "{s:s,s:I,s:s,s:s,s:i,s:s,s:s}", "asg", asg->identifier, "promotion_id",
	    (json_int_t)p.promotion_id, "commit", p.commit, "image_id", p.image_id, "series", series, "actor", "admin",
	    "reason", reason);
	trigger_wake(app->trigger);
	/* the promotion whose trigger is sent again (none is started) */
	reply_status(req, app, asg, json_pack("{s:i}", "trigger_series", series), p.promotion_id);
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
			    strcmp(slash, "/pin") != 0 && strcmp(slash, "/retrigger") != 0 && strcmp(slash, "/block") != 0 &&
			    strcmp(slash, "/unblock") != 0)) {
		struct amicd_error err;

		if (asg == NULL)
			amicd_error_set(&err, AMICD_ERR_NOT_FOUND, NULL, "no ASG \"%.*s\" in the configuration",
					(int)(slash != NULL ? (size_t)(slash - rest) : strlen(rest)), rest);
		else
			amicd_error_set(&err, AMICD_ERR_NOT_FOUND, NULL,
					"no action %s for ASG %s (freeze, unfreeze, pin, retrigger, block, unblock)", slash,
					asg->identifier);
		http_reply_error(req, AMICD_ERR_NOT_FOUND, &err);
		return;
	}
	body = body_object(req);
	if (body == NULL)
		return;
	if (strcmp(slash, "/pin") == 0)
		pin(req, app, asg, index, body);
	else if (strcmp(slash, "/retrigger") == 0)
		retrigger(req, app, asg, body);
	else if (strcmp(slash, "/block") == 0 || strcmp(slash, "/unblock") == 0)
		block(req, app, asg, index, strcmp(slash, "/block") == 0, body);
	else
		freeze(req, app, asg, index, strcmp(slash, "/freeze") == 0, body);
	json_decref(body);
}
