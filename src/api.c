/*
 * api.c — read endpoints and probes (see api.h).
 */
#include "api.h"

#include "app.h"
#include "auth.h"
#include "decide.h"
#include "log.h"
#include "metrics.h"
#include "render.h"
#include "repourl.h"
#include "status.h"
#include "store.h"
#include "store_facts.h"
#include "utf8.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_DEFAULT_LIMIT 50
#define EVENTS_MAX_LIMIT 500

enum amicd_rc api_read_precheck(struct http_request *req, void *cls, struct amicd_error *err)
{
	const struct config_auth *a = app_auth(cls);
	const char *authz;
	char remote[64];

	if (a->read_token.bytes == NULL)
		return AMICD_OK;
	authz = http_header(req, "Authorization");
	if (auth_bearer(&a->read_token, authz) | auth_bearer(&a->admin_token, authz))
		return AMICD_OK;
	LOG(LL_WARN, "read request refused: bad token", "{s:s,s:s,s:s?}", "path", http_path(req),
	    "remote", http_remote(req, remote, sizeof remote), "forwarded_for", http_header(req, "X-Forwarded-For"));
	return amicd_error_set(err, AMICD_ERR_AUTH, NULL, "unauthorized");
}

/* A positive integer query parameter; false (and a 400 reply) when malformed. */
static bool query_int(struct http_request *req, const char *name, long long min, long long max,
		      long long *out)
{
	const char *v = http_query(req, name);
	char *end = NULL;
	char path[64];
	long long n;
	struct amicd_error err;

	if (v == NULL)
		return true;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max) {
		snprintf(path, sizeof path, "query.%s", name);
		amicd_error_set(&err, AMICD_ERR_INVALID, path, "%s must be an integer from %lld to %lld", name, min, max);
		http_reply_error(req, AMICD_ERR_INVALID, &err);
		return false;
	}
	*out = n;
	return true;
}

void api_events_list(struct http_request *req, void *cls)
{
	struct app *app = cls;
	long long limit = EVENTS_DEFAULT_LIMIT, before = 0;
	struct store_event_page page;
	struct amicd_error err;
	enum amicd_rc rc;

	if (!query_int(req, "limit", 1, EVENTS_MAX_LIMIT, &limit) || !query_int(req, "before", 1, INT64_MAX, &before))
		return;
	rc = store_events_list(app->reader, (int)limit, before, &page, &err);
	if (rc != AMICD_OK) {
		http_reply_error(req, rc, &err);
		return;
	}
	http_reply_json(req, 200, render_event_page(&page));
	store_event_page_free(&page);
}

void api_event_get(struct http_request *req, void *cls)
{
	struct app *app = cls;
	const char *id_text = http_path(req) + strlen("/api/v1/events/");
	struct amicd_error err;
	char *end = NULL;
	long long id;
	struct store_event_row row;
	enum amicd_rc rc;

	errno = 0;
	id = strtoll(id_text, &end, 10);
	if (errno != 0 || end == id_text || *end != '\0' || id <= 0) {
		amicd_error_set(&err, AMICD_ERR_NOT_FOUND, NULL, "no event %s", id_text);
		http_reply_error(req, AMICD_ERR_NOT_FOUND, &err);
		return;
	}
	rc = store_event_get(app->reader, id, &row, &err);
	if (rc != AMICD_OK) {
		http_reply_error(req, rc, &err);
		return;
	}
	http_reply_json(req, 200, render_event(&row));
	store_event_row_free(&row);
}

/* --- ASGs ---------------------------------------------------------------------- */

void api_asgs_list(struct http_request *req, void *cls)
{
	struct app *app = cls;
	json_t *list = json_array();
	struct amicd_error err;

	for (size_t i = 0; i < app->cfg->n_asgs; i++) {
		struct asg_status s;
		enum amicd_rc rc = app_asg_status(app, &app->cfg->asgs[i], &s, &err);

		if (rc != AMICD_OK) {
			json_decref(list);
			http_reply_error(req, rc, &err);
			return;
		}
		json_array_append_new(list, render_asg_status(&s));
	}
	http_reply_json(req, 200, json_pack("{s:o}", "asgs", list));
}

void api_asg_get(struct http_request *req, void *cls)
{
	struct app *app = cls;
	const char *rest = http_path(req) + strlen("/api/v1/asgs/");
	const char *slash = strchr(rest, '/');
	char id[256];
	const struct config_asg *asg;
	struct amicd_error err;
	json_t *out = NULL;
	enum amicd_rc rc;

	snprintf(id, sizeof id, "%.*s", (int)(slash != NULL ? (size_t)(slash - rest) : strlen(rest)), rest);
	asg = config_find_asg(app->cfg, id);
	if (asg == NULL || (slash != NULL && strcmp(slash, "/promotions") != 0)) {
		amicd_error_set(&err, AMICD_ERR_NOT_FOUND, NULL, asg == NULL ? "no ASG %s in the configuration" : "no such resource", id);
		http_reply_error(req, AMICD_ERR_NOT_FOUND, &err);
		return;
	}
	if (slash != NULL) {
		long long limit = 50;
		struct store_promotion_list list;

		if (!query_int(req, "limit", 1, EVENTS_MAX_LIMIT, &limit))
			return;
		rc = store_promotions_list(app->reader, asg->identifier, (int)limit, &list, &err);
		if (rc == AMICD_OK)
			out = json_pack("{s:s,s:o}", "asg", asg->identifier, "promotions", render_promotions(&list));
		store_promotion_list_free(&list);
	} else {
		struct asg_status s;

		rc = app_asg_status(app, asg, &s, &err);
		if (rc == AMICD_OK)
			out = render_asg_status(&s);
	}
	if (rc != AMICD_OK) {
		http_reply_error(req, rc, &err);
		return;
	}
	http_reply_json(req, 200, out);
}

/* --- commits and AMIs ---------------------------------------------------------- */

/* Readiness of commit for each ASG following repo/branch, into ready_for: {asg: {ready, image_id, missing}}. */
static enum amicd_rc readiness(struct app *app, const char *repo, const char *branch, const char *commit,
			       json_t *ready_for, struct amicd_error *err)
{
	for (size_t i = 0; i < app->cfg->n_asgs; i++) {
		const struct config_asg *asg = &app->cfg->asgs[i];
		struct store_asg_facts *facts = NULL;
		const struct decide_input *in;
		struct decide_readiness r;
		enum amicd_rc rc;

		if (repo == NULL || branch == NULL || strcmp(asg->git->url, repo) != 0 ||
		    (!asg->git->ref_is_sha && strcmp(asg->git->ref, branch) != 0))
			continue;
		rc = store_asg_facts_load_for(app->reader, asg, &commit, 1, &facts, err);
		if (rc != AMICD_OK)
			return rc;
		in = store_asg_facts_input(facts);
		decide_ready(in->asg, in->amis, in->n_amis, commit, &r);
		if (decide_blocked(in, commit))
			r.missing |= MISSING_BLOCKED; /* never a candidate for this ASG */
		json_object_set_new(ready_for, asg->identifier,
				    json_pack("{s:b,s:o,s:o}", "ready", r.missing == 0, "image_id",
					      r.ami != NULL ? json_string(r.ami->image_id) : json_null(), "missing",
					      render_missing(r.missing)));
		store_asg_facts_free(&facts);
	}
	return AMICD_OK;
}

void api_commits(struct http_request *req, void *cls)
{
	struct app *app = cls;
	const char *repo_q = http_query(req, "repo");
	const char *ref = http_query(req, "ref");
	char *repo = NULL;
	struct store_push_list pushes = { 0 };
	json_t *list = json_array();
	struct amicd_error err;
	enum amicd_rc rc;
	long long limit = 50;

	if (!query_int(req, "limit", 1, EVENTS_MAX_LIMIT, &limit))
		goto out;
	if (repo_q != NULL) {
		const char *known;

		/* any of the repo's URL forms (https, ssh, scp-like, .git, any case of the path): the
		 * pushes are stored under the config's spelling */
		repo = repo_url_normalize(repo_q);
		if (repo == NULL) {
			amicd_error_set(&err, AMICD_ERR_INVALID, "query.repo", "repo must be a repository URL");
			http_reply_error(req, AMICD_ERR_INVALID, &err);
			goto out;
		}
		known = config_repo(app->cfg, repo);
		if (known != NULL && strcmp(known, repo) != 0) {
			char *copy = strdup(known);

			if (copy == NULL) {
				amicd_error_set(&err, AMICD_ERR_NOMEM, NULL, "out of memory");
				http_reply_error(req, AMICD_ERR_NOMEM, &err);
				goto out;
			}
			free(repo);
			repo = copy;
		}
	}
	rc = store_pushes_list(app->reader, repo, ref, (int)limit, &pushes, &err);
	/* each push with its readiness for every ASG that follows its repo and branch */
	for (size_t i = 0; rc == AMICD_OK && i < pushes.n; i++) {
		json_t *c = render_push(&pushes.rows[i]), *ready_for = json_object();

		json_object_set_new(c, "ready_for", ready_for);
		json_array_append_new(list, c);
		rc = readiness(app, pushes.rows[i].repo, pushes.rows[i].branch, pushes.rows[i].commit, ready_for, &err);
	}
	if (rc != AMICD_OK) {
		http_reply_error(req, rc, &err);
		goto out;
	}
	http_reply_json(req, 200, json_pack("{s:O}", "commits", list));
out:
	store_push_list_free(&pushes);
	json_decref(list);
	free(repo);
}

/* 400 for ?account= naming no configured account, with the ones there are. */
static void reply_unknown_account(struct http_request *req, const struct config *cfg, const char *account)
{
	struct amicd_error err;
	char known[512] = "";
	size_t at = 0;

	for (size_t k = 0; k < cfg->n_accounts && at < sizeof known; k++) {
		int n = snprintf(known + at, sizeof known - at, "%s%s (%s)", k > 0 ? ", " : "", cfg->accounts[k].name,
				 cfg->accounts[k].uid);

		if (n < 0)
			break;
		at += (size_t)n;
	}
	amicd_error_set(&err, AMICD_ERR_INVALID, "query.account",
			"account \"%.64s\" is not in the configuration; accounts: %s", account, known);
	http_reply_error(req, AMICD_ERR_INVALID, &err);
}

void api_amis(struct http_request *req, void *cls)
{
	struct app *app = cls;
	const char *commit = http_query(req, "commit");
	const char *account = http_query(req, "account");
	struct store_ami_list amis;
	json_t *list = json_array();
	struct amicd_error err;
	enum amicd_rc rc;
	long long limit = 50;
	size_t i;
	json_t *a;

	if (!query_int(req, "limit", 1, EVENTS_MAX_LIMIT, &limit)) {
		json_decref(list);
		return;
	}
	if (account != NULL) {
		const char *uid = NULL;

		for (size_t k = 0; k < app->cfg->n_accounts; k++)
			if (strcmp(app->cfg->accounts[k].name, account) == 0 || strcmp(app->cfg->accounts[k].uid, account) == 0)
				uid = app->cfg->accounts[k].uid; /* a name works as well as the id */
		if (uid == NULL) {
			/* a misspelt account would list nothing, which reads as "no AMI": say so instead */
			reply_unknown_account(req, app->cfg, account);
			json_decref(list);
			return;
		}
		account = uid;
	}
	rc = store_amis_list(app->reader, commit, account, (int)limit, &amis, &err);
	if (rc != AMICD_OK) {
		json_decref(list);
		http_reply_error(req, rc, &err);
		return;
	}
	for (size_t k = 0; k < amis.n; k++) {
		a = render_ami(&amis.rows[k]);
		json_object_set_new(a, "ready_for", json_array());
		json_array_append_new(list, a);
	}
	store_ami_list_free(&amis);
	/* which ASGs each AMI is ready for, as each ASG's account sees it */
	for (size_t k = 0; k < app->cfg->n_asgs && rc == AMICD_OK; k++) {
		const struct config_asg *asg = &app->cfg->asgs[k];
		struct store_asg_facts *facts = NULL;
		const struct decide_input *in;
		const char **tagged_with = calloc(json_array_size(list) + 1, sizeof *tagged_with);
		size_t n_tagged = 0;

		if (tagged_with == NULL) {
			rc = amicd_error_set(&err, AMICD_ERR_NOMEM, NULL, "out of memory");
			break;
		}
		/* the commits the listed AMIs carry in this ASG's account: their AMIs are loaded */
		json_array_foreach(list, i, a) {
			const char *v = json_string_value(json_object_get(
				json_object_get(json_object_get(a, "tags_by_account"), asg->account->uid), asg->git->tag_name));

			if (v != NULL)
				tagged_with[n_tagged++] = v;
		}
		rc = store_asg_facts_load_for(app->reader, asg, tagged_with, n_tagged, &facts, &err);
		free(tagged_with);
		if (rc != AMICD_OK)
			break;
		in = store_asg_facts_input(facts);
		for (size_t m = 0; m < in->n_amis; m++) {
			const struct decide_ami *ami = &in->amis[m];
			const char *tagged = NULL;
			struct decide_readiness r;

			for (size_t t = 0; t < ami->n_tags; t++)
				if (strcmp(ami->tags[t].key, in->asg->tag_name) == 0)
					tagged = ami->tags[t].value;
			if (tagged == NULL)
				continue;
			decide_ready(in->asg, ami, 1, tagged, &r);
			if (r.missing != 0 || decide_blocked(in, tagged))
				continue;
			json_array_foreach(list, i, a)
				if (strcmp(json_string_value(json_object_get(a, "image_id")), ami->image_id) == 0 &&
				    strcmp(json_string_value(json_object_get(a, "region")), asg->region) == 0)
					json_array_append_new(json_object_get(a, "ready_for"),
							      json_pack("{s:s,s:s}", "asg", asg->identifier, "commit", tagged));
		}
		store_asg_facts_free(&facts);
	}
	if (rc != AMICD_OK) {
		json_decref(list);
		http_reply_error(req, rc, &err);
		return;
	}
	http_reply_json(req, 200, json_pack("{s:o}", "amis", list));
}

/* --- metrics ------------------------------------------------------------------- */

static void gauge_header(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* RFC 3339 time as Unix seconds; 0 when s is empty or not a time. */
static double unix_seconds(const char *s)
{
	int64_t ms = 0;

	return s[0] != '\0' && util_parse_time(s, &ms) ? (double)ms / 1000 : 0;
}

/*
 * The per-ASG gauges (design §4) an alert can be written on: the state (one
 * line per state, 1 for the current one), frozen and since when, how long the
 * head has waited, the last promotion, and problems[] by code (every code on
 * every ASG, 0 when absent, so an alert never depends on a series appearing).
 */
static void asg_gauges(FILE *out, const struct config *cfg, const struct asg_status *status, int64_t now_ms)
{
	static const enum decide_state states[] = { DECIDE_UP_TO_DATE, DECIDE_WAITING, DECIDE_FROZEN, DECIDE_NO_PUSHES };
	static const char *const codes[] = { "trigger_failed", "trigger_retrying", "pinned_ami_unavailable",
					     "source_failing" };

	gauge_header(out, "amicd_asg_state", "gauge", "1 for the state an ASG is in now (as its status says), 0 for the others.");
	for (size_t k = 0; k < cfg->n_asgs; k++)
		for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
			fprintf(out, "amicd_asg_state{asg=\"%s\",state=\"%s\"} %d\n", cfg->asgs[k].identifier,
				decide_state_name(states[i]), status[k].state == states[i] ? 1 : 0);
	gauge_header(out, "amicd_asg_frozen", "gauge", "1 while an ASG is frozen (no automatic promotion).");
	for (size_t k = 0; k < cfg->n_asgs; k++)
		fprintf(out, "amicd_asg_frozen{asg=\"%s\"} %d\n", cfg->asgs[k].identifier, status[k].frozen ? 1 : 0);
	gauge_header(out, "amicd_asg_frozen_since_timestamp_seconds", "gauge",
		     "When a frozen ASG was frozen (Unix time; 0 when not frozen or unknown).");
	for (size_t k = 0; k < cfg->n_asgs; k++)
		fprintf(out, "amicd_asg_frozen_since_timestamp_seconds{asg=\"%s\"} %.3f\n", cfg->asgs[k].identifier,
			status[k].frozen ? unix_seconds(status[k].frozen_at) : 0);
	gauge_header(out, "amicd_asg_head_waiting_seconds", "gauge",
		     "While an ASG is waiting: seconds since its head commit was received; 0 otherwise.");
	for (size_t k = 0; k < cfg->n_asgs; k++) {
		double since = status[k].state == DECIDE_WAITING && status[k].has_head ?
			unix_seconds(status[k].head.received_at) : 0;
		double waited = since > 0 && (double)now_ms / 1000 > since ? (double)now_ms / 1000 - since : 0;

		fprintf(out, "amicd_asg_head_waiting_seconds{asg=\"%s\"} %.3f\n", cfg->asgs[k].identifier, waited);
	}
	gauge_header(out, "amicd_asg_last_promotion_timestamp_seconds", "gauge",
		     "When the ASG's pin was last promoted (Unix time; 0: never).");
	for (size_t k = 0; k < cfg->n_asgs; k++)
		fprintf(out, "amicd_asg_last_promotion_timestamp_seconds{asg=\"%s\"} %.3f\n", cfg->asgs[k].identifier,
			status[k].has_pin ? unix_seconds(status[k].pin.promoted_at) : 0);
	gauge_header(out, "amicd_asg_problems", "gauge",
		     "1 while an ASG's problems[] holds a problem of this code, 0 otherwise.");
	for (size_t k = 0; k < cfg->n_asgs; k++)
		for (size_t c = 0; c < sizeof codes / sizeof codes[0]; c++) {
			int has = 0;

			for (size_t i = 0; i < status[k].n_problems; i++)
				has |= status[k].problems[i].code != NULL && strcmp(status[k].problems[i].code, codes[c]) == 0;
			fprintf(out, "amicd_asg_problems{asg=\"%s\",code=\"%s\"} %d\n", cfg->asgs[k].identifier,
				codes[c], has);
		}
}

void api_metrics(struct http_request *req, void *cls)
{
	struct app *app = cls;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	struct ingest_stats is;
	struct worker_stats ws;
	struct trigger_stats ts;
	struct amicd_error err;
	struct store_counts db;
	struct asg_status *status = calloc(app->cfg->n_asgs + 1, sizeof *status);
	bool status_ok = true;

	if (out == NULL || status == NULL) {
		if (out != NULL)
			fclose(out);
		free(text);
		free(status);
		amicd_error_set(&err, AMICD_ERR_NOMEM, NULL, "out of memory");
		http_reply_error(req, AMICD_ERR_NOMEM, &err);
		return;
	}
	ingest_stats_get(app->ingest, &is);
	worker_stats_get(app->worker, &ws);
	trigger_stats_get(app->trigger, &ts);
	gauge_header(out, "amicd_build_info", "gauge", "Version and revision of this amicd.");
	fprintf(out, "amicd_build_info{version=\"%s\",revision=\"%s\"} 1\n", version_number(), version_git_rev());
	gauge_header(out, "amicd_start_time_seconds", "gauge", "When this process started (Unix time).");
	fprintf(out, "amicd_start_time_seconds %.3f\n", (double)app->started_ms / 1000);
	metrics_write(app->metrics, out);
	gauge_header(out, "amicd_ingest_inflight", "gauge", "Deliveries accepted and waiting for their commit.");
	fprintf(out, "amicd_ingest_inflight %llu\n", (unsigned long long)is.queued);
	gauge_header(out, "amicd_ingest_commits_total", "counter", "Group commits of the inbox.");
	fprintf(out, "amicd_ingest_commits_total{outcome=\"ok\"} %llu\n", (unsigned long long)(is.batches - is.failed_batches));
	fprintf(out, "amicd_ingest_commits_total{outcome=\"failed\"} %llu\n", (unsigned long long)is.failed_batches);
	gauge_header(out, "amicd_ingest_batch_max", "gauge", "Largest group commit so far (deliveries).");
	fprintf(out, "amicd_ingest_batch_max %llu\n", (unsigned long long)is.max_batch);
	gauge_header(out, "amicd_events_processed_total", "counter", "Stored events the worker turned into facts.");
	fprintf(out, "amicd_events_processed_total %llu\n", (unsigned long long)ws.events_processed);
	gauge_header(out, "amicd_facts_applied_total", "counter", "Facts applied by the worker.");
	fprintf(out, "amicd_facts_applied_total %llu\n", (unsigned long long)ws.facts_applied);
	gauge_header(out, "amicd_worker_passes_total", "counter",
		     "Worker passes that committed: each takes the queued events at hand in one transaction.");
	fprintf(out, "amicd_worker_passes_total %llu\n", (unsigned long long)ws.passes);
	gauge_header(out, "amicd_events_parsed_by_worker_total", "counter",
		     "Queued events whose stored payload the worker parsed: replays of the backlog after a start, "
		     "or deliveries whose facts from receipt were not at hand.");
	fprintf(out, "amicd_events_parsed_by_worker_total %llu\n", (unsigned long long)ws.events_parsed);
	gauge_header(out, "amicd_trigger_attempts_total", "counter", "Trigger attempts made, by outcome.");
	fprintf(out, "amicd_trigger_attempts_total{outcome=\"delivered\"} %llu\n", (unsigned long long)ts.delivered);
	fprintf(out, "amicd_trigger_attempts_total{outcome=\"failed\"} %llu\n", (unsigned long long)ts.failed_attempts);
	gauge_header(out, "amicd_trigger_gave_up_total", "counter", "Triggers given up after max_attempts.");
	fprintf(out, "amicd_trigger_gave_up_total %llu\n", (unsigned long long)ts.gave_up);
	gauge_header(out, "amicd_pin_file_write_failures_total", "counter",
		     "Attempts to write a pin file that failed (its trigger waits until one succeeds).");
	fprintf(out, "amicd_pin_file_write_failures_total %llu\n", (unsigned long long)ws.pin_file_failures);
	for (size_t k = 0; k < app->cfg->n_asgs && status_ok; k++)
		status_ok = app_asg_status(app, &app->cfg->asgs[k], &status[k], &err) == AMICD_OK;
	gauge_header(out, "amicd_pin_file_pending", "gauge",
		     "1 while an ASG's pin file cannot be written and its trigger waits.");
	for (size_t k = 0; k < app->cfg->n_asgs; k++) {
		char why[256];

		fprintf(out, "amicd_pin_file_pending{asg=\"%s\"} %d\n", app->cfg->asgs[k].identifier,
			worker_pin_file_error(app->worker, k, why, sizeof why) ? 1 : 0);
	}
	{
		struct ingest_health ih;
		struct worker_health wh;
		struct http_stats hs;

		ingest_health_get(app->ingest, &ih);
		worker_health_get(app->worker, &wh);
		http_stats_get(app->http, &hs);
		gauge_header(out, "amicd_store_writable", "gauge",
			     "1 while the database can be written (0: commits fail, deliveries get 503).");
		fprintf(out, "amicd_store_writable %d\n", ih.failing || ih.db_moved ? 0 : 1);
		gauge_header(out, "amicd_worker_failing", "gauge", "1 while the worker's passes fail (they are retried).");
		fprintf(out, "amicd_worker_failing %d\n", wh.failing ? 1 : 0);
		gauge_header(out, "amicd_http_connections", "gauge", "Open HTTP connections.");
		fprintf(out, "amicd_http_connections %llu\n", (unsigned long long)hs.connections);
		gauge_header(out, "amicd_http_connections_closed_total", "counter",
			     "Connections closed by amicd: a request not received in time, a body over the limit or the in-flight budget.");
		fprintf(out, "amicd_http_connections_closed_total{reason=\"request_timeout\"} %llu\n",
			(unsigned long long)hs.closed_deadline);
		fprintf(out, "amicd_http_connections_closed_total{reason=\"body_too_large\"} %llu\n",
			(unsigned long long)hs.closed_oversize);
		fprintf(out, "amicd_http_connections_closed_total{reason=\"inflight_bytes\"} %llu\n",
			(unsigned long long)hs.closed_budget);
		gauge_header(out, "amicd_http_body_bytes", "gauge",
			     "Bytes of request bodies held now (received, or waiting for their commit).");
		fprintf(out, "amicd_http_body_bytes %llu\n", (unsigned long long)hs.body_bytes);
		gauge_header(out, "amicd_http_bodies_refused_total", "counter",
			     "Request bodies answered 503 because they would pass limits.max_inflight_bytes.");
		fprintf(out, "amicd_http_bodies_refused_total %llu\n", (unsigned long long)hs.refused_budget);
	}
	if (store_counts_get(app->reader, &db, &err) == AMICD_OK) {
		gauge_header(out, "amicd_queue_depth", "gauge", "Stored events waiting for the worker.");
		fprintf(out, "amicd_queue_depth %lld\n", (long long)db.queued);
		gauge_header(out, "amicd_events", "gauge", "Stored events by status.");
		for (size_t k = 0; k < db.n_events; k++)
			fprintf(out, "amicd_events{status=\"%s\"} %lld\n", db.events[k].label, (long long)db.events[k].n);
		gauge_header(out, "amicd_triggers", "gauge", "Triggers in the outbox by state.");
		for (size_t k = 0; k < db.n_triggers; k++)
			fprintf(out, "amicd_triggers{state=\"%s\"} %lld\n", db.triggers[k].label, (long long)db.triggers[k].n);
		gauge_header(out, "amicd_promotions_total", "counter", "Promotions recorded, by ASG and actor.");
		for (size_t k = 0; k < db.n_promotions; k++)
			fprintf(out, "amicd_promotions_total{asg=\"%s\",actor=\"%s\"} %lld\n", db.promotions[k].label,
				db.promotions[k].label2, (long long)db.promotions[k].n);
		store_counts_free(&db);
	}
	if (status_ok) {
		gauge_header(out, "amicd_pinned_ami_unavailable", "gauge",
			     "1 when the AMI an ASG is pinned to is deregistered, disabled, failed or no longer shared.");
		for (size_t k = 0; k < app->cfg->n_asgs; k++)
			fprintf(out, "amicd_pinned_ami_unavailable{asg=\"%s\"} %d\n", app->cfg->asgs[k].identifier,
				status[k].has_pin && !status[k].pin.available ? 1 : 0);
		gauge_header(out, "amicd_source_failing", "gauge",
			     "1 while a source of truth of an ASG cannot be read (the ASG shows source_failing).");
		for (size_t k = 0; k < app->cfg->n_asgs; k++) {
			fprintf(out, "amicd_source_failing{asg=\"%s\",source=\"gitlab\"} %d\n",
				app->cfg->asgs[k].identifier, status[k].gitlab.failing_since_ms != 0 ? 1 : 0);
			fprintf(out, "amicd_source_failing{asg=\"%s\",source=\"ec2\"} %d\n",
				app->cfg->asgs[k].identifier, status[k].ec2.failing_since_ms != 0 ? 1 : 0);
		}
	}
	if (status_ok)
		asg_gauges(out, app->cfg, status, util_now_ms());
	free(status);
	fclose(out);
	http_reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", text);
}

void api_healthz(struct http_request *req, void *cls)
{
	(void)cls;
	http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

/*
 * Ready: the database was migrated at start (or amicd would not run), its file
 * is still the one amicd writes, the writer can commit (while it cannot, it
 * probes every second, so this turns ready again on its own) and takes what is
 * queued, and the worker's passes succeed and start when there is work. Nothing here touches the store: a probe never waits on a
 * slow read or a busy disk.
 */
void api_readyz(struct http_request *req, void *cls)
{
	struct app *app = cls;
	struct ingest_health ih;
	struct worker_health wh;
	char since[32], reason[600];
	int64_t now = util_now_ms(), stall_ms = (int64_t)app->cfg->limits.stall_seconds * 1000;

	ingest_health_get(app->ingest, &ih);
	worker_health_get(app->worker, &wh);
	if (ih.db_moved || ih.failing) {
		util_format_time_s(ih.failing_since_ms, since, sizeof since);
		snprintf(reason, sizeof reason, "the database cannot be written: %s", ih.error);
	} else if (ih.writing_since_ms != 0 && now - ih.writing_since_ms > stall_ms) {
		util_format_time_s(ih.writing_since_ms, since, sizeof since);
		snprintf(reason, sizeof reason, "the writer's commit has not returned for %lld s (the disk hangs)",
			 (long long)(now - ih.writing_since_ms) / 1000);
	} else if (ih.waiting_since_ms != 0 && now - ih.waiting_since_ms > stall_ms) {
		util_format_time_s(ih.waiting_since_ms, since, sizeof since);
		snprintf(reason, sizeof reason, "the writer has not taken a delivery for %lld s (a commit hangs)",
			 (long long)(now - ih.waiting_since_ms) / 1000);
	} else if (wh.failing) {
		util_format_time_s(wh.failing_since_ms, since, sizeof since);
		snprintf(reason, sizeof reason, "the worker cannot record facts and decisions: %s", wh.error);
	} else if (wh.pass_since_ms != 0 && now - wh.pass_since_ms > stall_ms) {
		util_format_time_s(wh.pass_since_ms, since, sizeof since);
		snprintf(reason, sizeof reason, "the worker's pass has not finished for %lld s (the disk hangs)",
			 (long long)(now - wh.pass_since_ms) / 1000);
	} else if (wh.woken_since_ms != 0 && now - wh.woken_since_ms > stall_ms) {
		util_format_time_s(wh.woken_since_ms, since, sizeof since);
		snprintf(reason, sizeof reason, "the worker has not started on new events for %lld s",
			 (long long)(now - wh.woken_since_ms) / 1000);
	} else {
		http_reply_json(req, 200, json_pack("{s:s}", "status", "ready"));
		return;
	}
	utf8_repair(reason);
	http_reply_json(req, 503, json_pack("{s:s,s:s,s:s}", "status", "not_ready", "reason", reason, "since", since));
	http_reply_header(req, "Retry-After", "5");
}
