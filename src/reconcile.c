/*
 * reconcile.c — the reconciler thread (see reconcile.h and design §9).
 *
 * One pass over one ASG asks, in this order: GitLab for the branch head
 * (when a gitlab_api serves the repo and the ref is a branch); EC2, as the
 * ASG's account, for the images tagged with the commits the decision needs
 * (the head — GitLab's answer when there is one —, the configured commit, or
 * for policy latest the commits pushed since the pin, newest 50); and EC2 for
 * the pinned AMI. Each answer is compared with the question's last answer
 * (source_checks.answer_sha256) and with what amicd derives from its facts;
 * a difference is stored as an event and the worker is woken.
 *
 * Transient trouble (GitLab 429/5xx, EC2 throttling/5xx, no answer) is
 * retried within the pass with a doubling pause (1 s, 2 s, …) while the
 * source timeout allows, then recorded as a failure like any other; the next
 * pass comes after waiting_interval_seconds.
 */
#include "reconcile.h"

#include "awscreds.h"
#include "bgthread.h"
#include "crypto.h"
#include "decide.h"
#include "ec2api.h"
#include "gitlabapi.h"
#include "log.h"
#include "repourl.h"
#include "status.h"
#include "store.h"
#include "store_facts.h"
#include "utf8.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NUDGE_SPACING_MS 200     /* a burst of head changes is one look */
#define SETTLE_MS 2000           /* how long a look waits for the worker to take the last observations */

/* Per account: its credentials cache (the reconciler thread alone uses it). */
struct account_state {
	const struct config_account *account;
	struct awscreds *creds;
};

/* Per ASG: when to look next, and the head last seen. */
struct asg_state {
	int64_t next_ms;
	char last_head[72];
	int64_t last_stored;             /* the newest observation stored about it */
	uint64_t want_gen;               /* the newest reconcile_run request for it (under lock) */
	uint64_t done_gen;               /* every request up to this one is answered (under lock) */
	atomic_bool nudged;              /* facts about it changed: check its head at the next nudge */
};

struct reconcile {
	const struct config *cfg;
	struct metrics *metrics;
	void (*wake_worker)(void *);
	void *wake_cls;
	struct store *store;
	struct bgthread *thread;
	struct account_state *accounts;
	struct asg_state *asgs;
	atomic_bool nudged;
	int64_t last_nudge_ms;
	/* reconcile_run: requests and the reports of the pass that answered them */
	pthread_mutex_t lock;
	pthread_cond_t done;
	uint64_t requested_gen;
	bool stopped;                    /* nobody waits for a stopped reconciler (under lock) */
	struct reconcile_asg_report *reports; /* one per ASG, of the latest pass over it */
};

static bool polled(const struct config_asg *asg)
{
	return (asg->gitlab_api != NULL && !asg->git->ref_is_sha) || asg->account->has_aws;
}

static bool cancelled(void *cls)
{
	struct reconcile *r = cls;

	return bgthread_stopping(r->thread);
}

/* Wait ms unless stopping; false when stopping. */
static bool pause_ms(struct reconcile *r, int64_t ms)
{
	int64_t until = util_now_ms() + ms;

	while (!bgthread_stopping(r->thread)) {
		int64_t left = until - util_now_ms();

		if (left <= 0)
			return true;
		if (bgthread_wait(r->thread, left) == BGTHREAD_STOPPING)
			return false;
	}
	return false;
}

/* prefix + msg into dst, cut on a character boundary. */
static void say(char *dst, size_t size, const char *prefix, const char *msg)
{
	size_t n = strlen(prefix);

	utf8_copy(dst, size, prefix);
	if (n + 1 < size)
		utf8_copy(dst + n, size - n, msg);
}

static void set_outcome(char *field, size_t size, const char *outcome)
{
	/* keep the worst: failing > retry > changed > gone > unchanged */
	static const char *const order[] = { "", "not_polled", "unchanged", "gone", "changed", "retry", "failing" };
	int have = 0, want = 0;

	for (int i = 0; i < (int)(sizeof order / sizeof order[0]); i++) {
		if (strcmp(field, order[i]) == 0)
			have = i;
		if (strcmp(outcome, order[i]) == 0)
			want = i;
	}
	if (want > have)
		snprintf(field, size, "%s", outcome);
}

/* --- storing what was seen --------------------------------------------------- */

/* Store an observation (payload) as a queued event and record the check, in one transaction. */
static enum amicd_rc store_observation(struct reconcile *r, const struct config_asg *asg, const char *source,
				       const char *kind, const char *question, int64_t asked_ms, const char *answer_sha, json_t *payload,
				       int64_t *event_id, struct amicd_error *err)
{
	char *text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
	char dedup[STORE_QUESTION_MAX + 96];
	struct store_event ev = { 0 };
	enum amicd_rc rc;

	*event_id = 0;
	if (text == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	snprintf(dedup, sizeof dedup, "%s @%lld %s", question, (long long)asked_ms, answer_sha);
	ev.source = source;
	ev.kind = kind;
	ev.delivery_id = NULL;
	ev.dedup_key = dedup;
	ev.status = "queued";
	ev.headers_json = "{}";
	ev.payload = text;
	ev.payload_len = strlen(text);
	crypto_sha256_hex(text, ev.payload_len, ev.payload_sha256);
	ev.received_at_ms = util_now_ms();
	rc = store_begin(r->store, err);
	if (rc == AMICD_OK)
		rc = store_event_put(r->store, &ev, err);
	if (rc == AMICD_OK)
		rc = store_source_check_put(r->store, question, source, asked_ms, answer_sha, NULL, err);
	if (rc == AMICD_OK)
		rc = store_commit(r->store, err);
	if (rc != AMICD_OK) {
		store_rollback(r->store);
	} else {
		*event_id = ev.id;
		r->asgs[asg - r->cfg->asgs].last_stored = ev.id;
	}
	free(text);
	return rc;
}

/* Record an answer that changes nothing (ok) or a failure (error set), alone. */
static void record_check(struct reconcile *r, const char *question, const char *source, int64_t asked_ms,
			 const char *answer_sha, const char *error)
{
	struct amicd_error err = { { 0 }, { 0 } };
	enum amicd_rc rc = store_begin(r->store, &err);

	if (rc == AMICD_OK)
		rc = store_source_check_put(r->store, question, source, asked_ms, answer_sha, error, &err);
	if (rc == AMICD_OK)
		rc = store_commit(r->store, &err);
	if (rc != AMICD_OK) {
		store_rollback(r->store);
		LOG(LL_WARN, "cannot record a source check", "{s:s,s:s}", "question", question, "error", err.message);
	}
}

static void note_event(struct reconcile_asg_report *rep, int64_t id)
{
	if (id > 0 && rep->n_events < sizeof rep->event_ids / sizeof rep->event_ids[0])
		rep->event_ids[rep->n_events++] = id;
}

/* --- GitLab: the branch head --------------------------------------------------- */

/*
 * Ask GitLab for asg's branch head. *answer (72 bytes) is the head GitLab
 * gave ("" when none: gone, failing). Stores an observation when the answer
 * differs from the last one or from the head amicd derives, or when the
 * derived head came from a push GitLab has not confirmed.
 */
static void ask_gitlab(struct reconcile *r, const struct config_asg *asg, const struct store_asg_facts *facts,
		       struct reconcile_asg_report *rep, char *answer)
{
	const struct config_gitlab_api *api = asg->gitlab_api;
	long timeout_ms = (long)asg->source_timeout_seconds * 1000;
	char *url = repo_url_gitlab_branch(asg->git->url, api->url, asg->git->ref);
	char question[STORE_QUESTION_MAX], sha[65];
	struct gitlab_branch_answer a = { 0 };
	struct amicd_error err = { { 0 }, { 0 } };
	struct gitlab_branch_request rq = { .url = url, .token = (const char *)api->token.bytes, .timeout_ms = timeout_ms,
					    .cancel = cancelled, .cancel_cls = r };
	struct store_source_check last;
	const struct decide_input *in = store_asg_facts_input(facts);
	int64_t started = util_now_ms(), asked_ms = 0, pause = 1000;
	json_t *payload = NULL, *response = NULL;
	int64_t event_id = 0;

	answer[0] = '\0';
	store_question_branch(question, sizeof question, asg->git->url, asg->git->ref);
	if (url == NULL) {
		set_outcome(rep->gitlab, sizeof rep->gitlab, "failing");
		snprintf(rep->error, sizeof rep->error, "gitlab_api %s does not serve %s", api->url, asg->git->url);
		record_check(r, question, "gitlab-api", started, NULL, rep->error);
		return;
	}
	for (;;) {
		double t0 = (double)util_now_ms();

		gitlab_branch_answer_free(&a);
		asked_ms = util_now_ms();
		if (gitlab_branch_get(&rq, &a, &err) != AMICD_OK) {
			a.outcome = GITLAB_BRANCH_FAILING;
			say(a.error, sizeof a.error, "", err.message);
		}
		metrics_source(r->metrics, "gitlab-api",
			       a.outcome == GITLAB_BRANCH_HEAD || a.outcome == GITLAB_BRANCH_GONE ? "ok"
			       : a.outcome == GITLAB_BRANCH_RETRY ? "retry" : "failing",
			       ((double)util_now_ms() - t0) / 1000.0);
		if (a.outcome != GITLAB_BRANCH_RETRY || bgthread_stopping(r->thread))
			break;
		if (a.retry_after_s > 0)
			pause = a.retry_after_s * 1000LL;
		if (util_now_ms() + pause - started > timeout_ms || !pause_ms(r, pause))
			break;
		pause *= 2;
	}
	if (a.outcome == GITLAB_BRANCH_RETRY || a.outcome == GITLAB_BRANCH_FAILING) {
		set_outcome(rep->gitlab, sizeof rep->gitlab, a.outcome == GITLAB_BRANCH_RETRY ? "retry" : "failing");
		snprintf(rep->error, sizeof rep->error, "%s", a.error);
		LOG(LL_WARN, "GitLab's branch API failed", "{s:s,s:s,s:I}", "asg", asg->identifier, "error", a.error,
		    "status", (json_int_t)a.http_status);
		if (!bgthread_stopping(r->thread))
			record_check(r, question, "gitlab-api", asked_ms, NULL, a.error);
		/* once it has failed for the source timeout, the push rule decides: let the worker re-decide */
		r->wake_worker(r->wake_cls);
		goto out;
	}
	metrics_source_ok(r->metrics, "gitlab-api", util_now_ms());
	if (a.outcome == GITLAB_BRANCH_HEAD)
		snprintf(answer, 72, "%s", a.commit);
	crypto_sha256_hex(answer[0] != '\0' ? answer : "gone", answer[0] != '\0' ? strlen(answer) : 4, sha);
	if (store_source_check_get(r->store, question, &last, &err) != AMICD_OK)
		last.found = false;
	if (last.found && strcmp(last.answer_sha256, sha) == 0 &&
	    (a.outcome == GITLAB_BRANCH_GONE ||
	     (in->head != NULL && strcasecmp(in->head->commit, answer) == 0 &&
	      strcmp(store_asg_facts_head_source(facts), "gitlab-api") == 0))) {
		set_outcome(rep->gitlab, sizeof rep->gitlab, a.outcome == GITLAB_BRANCH_GONE ? "gone" : "unchanged");
		record_check(r, question, "gitlab-api", asked_ms, sha, NULL);
		goto out;
	}
	if (a.body != NULL)
		response = json_loadb(a.body, a.body_len, 0, NULL);
	payload = json_pack("{s:s,s:s,s:I,s:o,s:I,s:o}", "repo", asg->git->url, "branch", asg->git->ref, "asked_ms",
			    (json_int_t)asked_ms, "commit", answer[0] != '\0' ? json_string(answer) : json_null(),
			    "status", (json_int_t)a.http_status, "response", response != NULL ? response : json_null());
	response = NULL;
	if (payload == NULL ||
	    store_observation(r, asg, "gitlab-api", "branch_head", question, asked_ms, sha, payload, &event_id, &err) != AMICD_OK) {
		set_outcome(rep->gitlab, sizeof rep->gitlab, "retry");
		say(rep->error, sizeof rep->error, "cannot store the observation: ",
		    payload == NULL ? "out of memory" : err.message);
		LOG(LL_WARN, "cannot store a branch observation", "{s:s,s:s}", "asg", asg->identifier, "error", rep->error);
		goto out;
	}
	set_outcome(rep->gitlab, sizeof rep->gitlab, a.outcome == GITLAB_BRANCH_GONE ? "gone" : "changed");
	note_event(rep, event_id);
	LOG(LL_INFO, "branch head observed", "{s:s,s:s,s:I}", "asg", asg->identifier, "commit",
	    answer[0] != '\0' ? answer : "(branch gone)", "event_id", (json_int_t)event_id);
	r->wake_worker(r->wake_cls);
out:
	json_decref(payload);
	gitlab_branch_answer_free(&a);
	free(url);
}

/* --- EC2: the images of some commits, and the pinned AMI ------------------------ */

static struct account_state *account_state_of(struct reconcile *r, const struct config_account *acct)
{
	for (size_t i = 0; i < r->cfg->n_accounts; i++)
		if (r->accounts[i].account == acct)
			return &r->accounts[i];
	return NULL;
}

/* The credentials to ask as asg's account; false (why set) when there are none now. */
static bool credentials_for(struct reconcile *r, const struct config_asg *asg, struct aws_credentials *out,
			    bool *transient, char *why, size_t why_size)
{
	const struct config_account *acct = asg->account;
	struct account_state *as = account_state_of(r, acct);
	struct awscreds_source src = { 0 };
	struct awscreds_outcome oc = { 0 };
	struct amicd_error err = { { 0 }, { 0 } };

	*transient = false;
	if (as == NULL)
		return false;
	if (acct->aws.access_key_id.bytes != NULL) {
		src.access_key_id = (const char *)acct->aws.access_key_id.bytes;
		src.secret_access_key = (const char *)acct->aws.secret_access_key.bytes;
		src.role_arn = acct->aws.role_arn;
	} else if (r->cfg->aws.web_identity_token_file != NULL) {
		src.web_identity_token_file = r->cfg->aws.web_identity_token_file;
		src.role_arn = acct->aws.role_arn != NULL ? acct->aws.role_arn : r->cfg->aws.role_arn;
	} else {
		awscreds_source_from_env(&src);
		if (acct->aws.role_arn != NULL)
			src.role_arn = acct->aws.role_arn;
	}
	src.sts_endpoint = r->cfg->aws.endpoint_sts;
	src.region = r->cfg->aws.sts_region != NULL ? r->cfg->aws.sts_region : asg->region;
	src.session_name = "amicd";
	src.timeout_ms = (long)asg->source_timeout_seconds * 1000;
	src.cancel = cancelled;
	src.cancel_cls = r;
	if (awscreds_get(as->creds, &src, util_now_ms(), out, &oc, &err) != AMICD_OK) {
		say(why, why_size, "credentials: ", err.message);
		return false;
	}
	if (oc.sts_calls > 0)
		metrics_source(r->metrics, "sts", oc.status == AWSCREDS_READY ? "ok" : oc.status == AWSCREDS_RETRY ? "retry"
				: "failing", 0);
	if (oc.status != AWSCREDS_READY) {
		*transient = oc.status == AWSCREDS_RETRY;
		say(why, why_size, "credentials from STS: ", oc.error);
		return false;
	}
	return true;
}

/* DescribeImages with retries within the source timeout; AMICD_OK with the answer's outcome. */
static void describe(struct reconcile *r, const struct config_asg *asg, struct ec2_images_request *rq,
		     struct ec2_images_answer *a, int64_t *asked_ms)
{
	struct amicd_error err = { { 0 }, { 0 } };
	int64_t started = util_now_ms(), pause = 1000;
	long timeout_ms = (long)asg->source_timeout_seconds * 1000;

	for (;;) {
		double t0 = (double)util_now_ms();

		ec2_images_answer_free(a);
		*asked_ms = util_now_ms();
		if (ec2_describe_images(rq, a, &err) != AMICD_OK) {
			a->outcome = EC2_FAILING;
			say(a->error, sizeof a->error, "", err.message);
		}
		metrics_source(r->metrics, "ec2-api", a->outcome == EC2_IMAGES ? "ok" : a->outcome == EC2_RETRY ? "retry"
			       : "failing", ((double)util_now_ms() - t0) / 1000.0);
		if (a->outcome != EC2_RETRY || bgthread_stopping(r->thread))
			return;
		if (util_now_ms() + pause - started > timeout_ms || !pause_ms(r, pause))
			return;
		pause *= 2;
	}
}

static json_t *images_json(const struct awsxml_images *images)
{
	json_t *list = json_array();

	for (size_t i = 0; list != NULL && i < images->n; i++) {
		const struct awsxml_image *im = &images->items[i];
		json_t *tags = json_object();

		for (size_t t = 0; tags != NULL && t < im->n_tags; t++)
			json_object_set_new(tags, im->tags[t].key, json_string(im->tags[t].value));
		json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:I,s:s,s:b,s:o}", "imageId", im->image_id,
						      "imageState", im->state, "creationDate", im->creation_date,
						      "creation_ms", (json_int_t)im->creation_ms, "imageOwnerId",
						      im->owner_id, "isPublic", im->is_public, "tags",
						      tags != NULL ? tags : json_object()));
	}
	return list;
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "id:state;id:state;" of the listed images tagged tag = commit, sorted. */
static char *answer_digest(const struct awsxml_images *images, const char *tag, const char *commit)
{
	const char **items = calloc(images->n + 1, sizeof *items);
	char *out = NULL;
	size_t n = 0, len = 1;

	if (items == NULL)
		return NULL;
	for (size_t i = 0; i < images->n; i++) {
		const struct awsxml_image *im = &images->items[i];
		bool tagged = commit == NULL;

		for (size_t t = 0; !tagged && t < im->n_tags; t++)
			tagged = strcmp(im->tags[t].key, tag) == 0 && strcasecmp(im->tags[t].value, commit) == 0;
		if (!tagged)
			continue;
		items[n++] = im->image_id;
		len += strlen(im->image_id) + strlen(im->state) + 2;
	}
	qsort(items, n, sizeof *items, by_str);
	out = calloc(1, len);
	for (size_t i = 0; out != NULL && i < n; i++) {
		for (size_t k = 0; k < images->n; k++)
			if (images->items[k].image_id == items[i] || strcmp(images->items[k].image_id, items[i]) == 0) {
				strcat(out, items[i]);
				strcat(out, ":");
				strcat(out, images->items[k].state);
				strcat(out, ";");
				break;
			}
	}
	free(items);
	return out;
}

/* The same digest of what amicd derives: the AMIs the account sees tagged tag = commit. */
static char *derived_digest(const struct decide_input *in, const char *tag, const char *commit)
{
	const char **items = calloc(in->n_amis + 1, sizeof *items);
	const char **states = calloc(in->n_amis + 1, sizeof *states);
	char *out = NULL;
	size_t n = 0, len = 1;

	if (items == NULL || states == NULL)
		goto done;
	for (size_t i = 0; i < in->n_amis; i++) {
		const struct decide_ami *a = &in->amis[i];
		bool tagged = false;

		for (size_t t = 0; !tagged && t < a->n_tags; t++)
			tagged = strcmp(a->tags[t].key, tag) == 0 && strcasecmp(a->tags[t].value, commit) == 0;
		if (!tagged || !a->visible || (a->state != NULL && strcmp(a->state, "deregistered") == 0))
			continue;
		items[n++] = a->image_id;
		len += strlen(a->image_id) + strlen(a->state != NULL ? a->state : "") + 2;
	}
	qsort(items, n, sizeof *items, by_str);
	out = calloc(1, len);
	for (size_t i = 0; out != NULL && i < n; i++)
		for (size_t k = 0; k < in->n_amis; k++)
			if (strcmp(in->amis[k].image_id, items[i]) == 0) {
				strcat(out, items[i]);
				strcat(out, ":");
				strcat(out, in->amis[k].state != NULL ? in->amis[k].state : "");
				strcat(out, ";");
				break;
			}
done:
	free(items);
	free(states);
	return out;
}

/* The commits whose images the decision needs (at most EC2API_MAX_COMMITS, newest first). */
static size_t commits_to_ask(const struct config_asg *asg, const struct decide_input *in, const char *gitlab_head,
			     const char **out)
{
	size_t n = 0;

	if (asg->git->ref_is_sha) {
		out[n++] = asg->git->ref;
		return n;
	}
	if (gitlab_head != NULL && gitlab_head[0] != '\0')
		out[n++] = gitlab_head;
	if (in->head != NULL && (n == 0 || strcasecmp(out[0], in->head->commit) != 0))
		out[n++] = in->head->commit;
	if (asg->policy == POLICY_LATEST) {
		for (size_t i = in->n_pushed; i-- > 0 && n < EC2API_MAX_COMMITS;) {
			bool seen = false;

			if (in->pin != NULL && strcasecmp(in->pushed[i].commit, in->pin->commit) == 0)
				break; /* older than the pin: not a candidate */
			for (size_t k = 0; k < n; k++)
				seen = seen || strcasecmp(out[k], in->pushed[i].commit) == 0;
			if (!seen)
				out[n++] = in->pushed[i].commit;
		}
	}
	return n;
}

/* Store an images observation when it differs from the last answer or from what amicd derives. */
static void settle_images(struct reconcile *r, const struct config_asg *asg, const char *question,
			  const struct ec2_images_answer *a, int64_t asked_ms, bool differs, json_t *question_fields,
			  struct reconcile_asg_report *rep)
{
	struct amicd_error err = { { 0 }, { 0 } };
	struct store_source_check last;
	json_t *payload = NULL;
	char *text = NULL, sha[65];
	int64_t event_id = 0;

	payload = json_pack("{s:s,s:s,s:I,s:o}", "account", asg->account->uid, "region", asg->region, "asked_ms",
			    (json_int_t)asked_ms, "images", images_json(&a->images));
	if (payload == NULL || json_object_update(payload, question_fields) != 0) {
		set_outcome(rep->ec2, sizeof rep->ec2, "retry");
		goto out;
	}
	/* the answer's own hash leaves out when it was asked */
	json_object_del(payload, "asked_ms");
	text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
	json_object_set_new(payload, "asked_ms", json_integer(asked_ms));
	if (text == NULL) {
		set_outcome(rep->ec2, sizeof rep->ec2, "retry");
		goto out;
	}
	crypto_sha256_hex(text, strlen(text), sha);
	if (store_source_check_get(r->store, question, &last, &err) != AMICD_OK)
		last.found = false;
	if (!differs && last.found && strcmp(last.answer_sha256, sha) == 0) {
		set_outcome(rep->ec2, sizeof rep->ec2, "unchanged");
		record_check(r, question, "ec2-api", asked_ms, sha, NULL);
		goto out;
	}
	if (store_observation(r, asg, "ec2-api", "images", question, asked_ms, sha, payload, &event_id, &err) != AMICD_OK) {
		set_outcome(rep->ec2, sizeof rep->ec2, "retry");
		say(rep->error, sizeof rep->error, "cannot store the observation: ", err.message);
		LOG(LL_WARN, "cannot store an images observation", "{s:s,s:s}", "asg", asg->identifier, "error", err.message);
		goto out;
	}
	set_outcome(rep->ec2, sizeof rep->ec2, "changed");
	note_event(rep, event_id);
	LOG(LL_INFO, "images observed", "{s:s,s:s,s:I,s:I}", "asg", asg->identifier, "question", question, "images",
	    (json_int_t)a->images.n, "event_id", (json_int_t)event_id);
	r->wake_worker(r->wake_cls);
out:
	free(text);
	json_decref(payload);
}

static void ec2_failed(struct reconcile *r, const struct config_asg *asg, const char *question, int64_t asked_ms,
		       bool transient, const char *error, struct reconcile_asg_report *rep)
{
	set_outcome(rep->ec2, sizeof rep->ec2, transient ? "retry" : "failing");
	snprintf(rep->error, sizeof rep->error, "%s", error);
	LOG(LL_WARN, "EC2 DescribeImages failed", "{s:s,s:s,s:s}", "asg", asg->identifier, "account",
	    asg->account->uid, "error", error);
	if (!bgthread_stopping(r->thread))
		record_check(r, question, "ec2-api", asked_ms, NULL, error);
}

static void ask_ec2(struct reconcile *r, const struct config_asg *asg, const struct store_asg_facts *facts,
		    const char *gitlab_head, struct reconcile_asg_report *rep)
{
	const struct decide_input *in = store_asg_facts_input(facts);
	const char *commits[EC2API_MAX_COMMITS + 2];
	char question[STORE_QUESTION_MAX], endpoint[256], why[320];
	struct aws_credentials cred;
	struct ec2_images_answer a = { 0 };
	struct ec2_images_request rq = { 0 };
	size_t n = commits_to_ask(asg, in, gitlab_head, commits);
	int64_t asked_ms = util_now_ms();
	bool transient = false;

	status_question_ec2(question, sizeof question, asg, "images");
	if (!credentials_for(r, asg, &cred, &transient, why, sizeof why)) {
		ec2_failed(r, asg, question, asked_ms, transient, why, rep);
		return;
	}
	if (r->cfg->aws.endpoint_ec2 != NULL)
		snprintf(endpoint, sizeof endpoint, "%s", r->cfg->aws.endpoint_ec2);
	else
		snprintf(endpoint, sizeof endpoint, "https://ec2.%s.amazonaws.com", asg->region);
	rq.endpoint = endpoint;
	rq.region = asg->region;
	rq.cred = &cred;
	rq.timeout_ms = (long)asg->source_timeout_seconds * 1000;
	rq.cancel = cancelled;
	rq.cancel_cls = r;
	if (n > 0) {
		json_t *q = json_pack("{s:s,s:[]}", "tag_name", asg->git->tag_name, "commits");
		bool differs = false;
		char lower[EC2API_MAX_COMMITS + 2][72];

		for (size_t i = 0; i < n; i++) {
			size_t k;

			for (k = 0; commits[i][k] != '\0' && k < 71; k++)
				lower[i][k] = (char)(commits[i][k] >= 'A' && commits[i][k] <= 'F' ? commits[i][k] + 32
										  : commits[i][k]);
			lower[i][k] = '\0';
			commits[i] = lower[i];
			if (q != NULL)
				json_array_append_new(json_object_get(q, "commits"), json_string(lower[i]));
		}
		rq.tag_name = asg->git->tag_name;
		rq.commits = commits;
		rq.n_commits = n;
		describe(r, asg, &rq, &a, &asked_ms);
		if (a.outcome != EC2_IMAGES) {
			ec2_failed(r, asg, question, asked_ms, a.outcome == EC2_RETRY, a.error, rep);
		} else {
			metrics_source_ok(r->metrics, "ec2-api", util_now_ms());
			for (size_t i = 0; i < n && !differs; i++) {
				char *seen = answer_digest(&a.images, asg->git->tag_name, commits[i]);
				char *have = derived_digest(in, asg->git->tag_name, commits[i]);

				/* a commit amicd has loaded no AMIs for (GitLab's new head) compares as nothing */
				differs = seen == NULL || have == NULL || strcmp(seen, have) != 0;
				free(seen);
				free(have);
			}
			if (q != NULL)
				settle_images(r, asg, question, &a, asked_ms, differs, q, rep);
		}
		json_decref(q);
		ec2_images_answer_free(&a);
	}
	if (in->pin != NULL && in->pin->image_id != NULL && !bgthread_stopping(r->thread)) {
		const struct decide_ami *pa = store_asg_facts_pin_ami(facts);
		json_t *q;
		bool differs;

		struct ec2_images_request pq = rq;

		status_question_ec2(question, sizeof question, asg, "pinned");
		pq.tag_name = NULL;
		pq.commits = NULL;
		pq.n_commits = 0;
		pq.image_id = in->pin->image_id;
		describe(r, asg, &pq, &a, &asked_ms);
		if (a.outcome != EC2_IMAGES) {
			ec2_failed(r, asg, question, asked_ms, a.outcome == EC2_RETRY, a.error, rep);
		} else {
			bool launchable = pa != NULL && pa->visible && !decide_pin_unavailable(in, NULL);

			metrics_source_ok(r->metrics, "ec2-api", util_now_ms());
			differs = a.images.n == 0 ? launchable
				  : !(pa != NULL && pa->visible && pa->state != NULL &&
				      strcmp(pa->state, a.images.items[0].state) == 0);
			q = json_pack("{s:s,s:s?}", "image_id", in->pin->image_id, "known_owner",
				      pa != NULL ? store_asg_facts_pin_owner(facts) : NULL);
			if (q != NULL)
				settle_images(r, asg, question, &a, asked_ms, differs, q, rep);
			json_decref(q);
		}
		ec2_images_answer_free(&a);
	}
	explicit_bzero(&cred, sizeof cred);
}

/* --- passes ---------------------------------------------------------------------- */

/*
 * Before comparing answers with what amicd derives about an ASG: let the
 * worker process the observations stored about it (bounded), or the same news
 * is stored twice. Another ASG's observations are not waited for.
 */
static void settle(struct reconcile *r, int64_t last_stored)
{
	int64_t deadline = util_now_ms() + SETTLE_MS;
	struct amicd_error err;
	bool queued = true;

	while (last_stored > 0 && !bgthread_stopping(r->thread) &&
	       store_queued_through(r->store, last_stored, &queued, &err) == AMICD_OK && queued &&
	       util_now_ms() < deadline) {
		r->wake_worker(r->wake_cls);
		pause_ms(r, 10);
	}
}

/* One look at one ASG; *ready: its head is ready or pinned (the long interval applies). */
static void reconcile_asg(struct reconcile *r, size_t i, struct reconcile_asg_report *rep, bool *ready)
{
	const struct config_asg *asg = &r->cfg->asgs[i];
	struct store_asg_facts *facts = NULL;
	struct amicd_error err = { { 0 }, { 0 } };
	struct decide_result d;
	char gitlab_head[72] = "";

	memset(rep, 0, sizeof *rep);
	rep->asg = asg->identifier;
	settle(r, r->asgs[i].last_stored);
	snprintf(rep->gitlab, sizeof rep->gitlab, "not_polled");
	snprintf(rep->ec2, sizeof rep->ec2, "not_polled");
	*ready = true;
	if (store_asg_facts_load(r->store, asg, &facts, &err) != AMICD_OK) {
		say(rep->error, sizeof rep->error, "cannot read the facts: ", err.message);
		*ready = false;
		return;
	}
	if (asg->gitlab_api != NULL && !asg->git->ref_is_sha) {
		rep->gitlab[0] = '\0';
		ask_gitlab(r, asg, facts, rep, gitlab_head);
	}
	if (asg->account->has_aws && !bgthread_stopping(r->thread)) {
		rep->ec2[0] = '\0';
		ask_ec2(r, asg, facts, gitlab_head, rep);
		if (rep->ec2[0] == '\0')
			snprintf(rep->ec2, sizeof rep->ec2, "unchanged");
	}
	store_asg_facts_set_unconfirmed(facts, status_head_held(asg, facts, util_now_ms()));
	decide(store_asg_facts_input(facts), &d);
	*ready = d.state == DECIDE_UP_TO_DATE || d.state == DECIDE_FROZEN;
	LOG(LL_DEBUG, "reconciler looked", "{s:s,s:s,s:s,s:s,s:s}", "asg", asg->identifier, "gitlab", rep->gitlab,
	    "ec2", rep->ec2, "head", gitlab_head, "state", decide_state_name(d.state));
	/* the head this look leaves amicd with: GitLab's answer (its observation is on its way to
	 * the worker) or else the derived one; a nudge looks again only when the head moves off it */
	if (gitlab_head[0] != '\0')
		snprintf(r->asgs[i].last_head, sizeof r->asgs[i].last_head, "%s", gitlab_head);
	else if (store_asg_facts_input(facts)->head != NULL)
		snprintf(r->asgs[i].last_head, sizeof r->asgs[i].last_head, "%s", store_asg_facts_input(facts)->head->commit);
	store_asg_facts_free(&facts);
}

/* After a nudge: the ASGs whose head moved since the last look are due now. */
static void check_heads(struct reconcile *r, int64_t now)
{
	for (size_t i = 0; i < r->cfg->n_asgs; i++) {
		const struct config_asg *asg = &r->cfg->asgs[i];
		struct store_asg_facts *facts = NULL;
		struct amicd_error err;
		const struct decide_input *in;

		if (!atomic_exchange(&r->asgs[i].nudged, false) || !polled(asg) || asg->git->ref_is_sha || store_asg_facts_load(r->store, asg, &facts, &err) != AMICD_OK)
			continue;
		in = store_asg_facts_input(facts);
		if (in->head != NULL && strcmp(in->head->commit, r->asgs[i].last_head) != 0)
			r->asgs[i].next_ms = now;
		LOG(LL_DEBUG, "reconciler nudged", "{s:s,s:s,s:s}", "asg", asg->identifier, "head",
		    in->head != NULL ? in->head->commit : "", "last", r->asgs[i].last_head);
		store_asg_facts_free(&facts);
	}
}

static int64_t jitter(int64_t ms)
{
	/* up to a tenth either way, so many amicds (or ASGs) do not ask in step */
	int64_t span = ms / 10;

	return span > 0 ? ms - span + (int64_t)((uint64_t)random() % (uint64_t)(2 * span + 1)) : ms;
}

static void run(struct bgthread *bt, void *arg)
{
	struct reconcile *r = arg;

	for (;;) {
		int64_t now = util_now_ms(), next = now + 3600 * 1000LL;

		/* a nudge inside the spacing stays pending: the wait below ends when the spacing does */
		if (now - r->last_nudge_ms >= NUDGE_SPACING_MS && atomic_exchange(&r->nudged, false)) {
			r->last_nudge_ms = now;
			check_heads(r, now);
		}
		for (size_t i = 0; i < r->cfg->n_asgs && !bgthread_stopping(bt); i++) {
			const struct config_asg *asg = &r->cfg->asgs[i];
			struct reconcile_asg_report rep;
			bool ready, requested;
			int64_t wait;
			uint64_t gen;

			/* a request made before this look starts is answered by it */
			pthread_mutex_lock(&r->lock);
			gen = r->requested_gen;
			requested = r->asgs[i].want_gen > r->asgs[i].done_gen;
			pthread_mutex_unlock(&r->lock);
			if (!polled(asg) || (r->asgs[i].next_ms > util_now_ms() && !requested))
				continue;
			reconcile_asg(r, i, &rep, &ready);
			wait = ready ? jitter(r->cfg->reconcile.interval_seconds * 1000LL)
				     : r->cfg->reconcile.waiting_interval_seconds * 1000LL;
			r->asgs[i].next_ms = util_now_ms() + wait;
			pthread_mutex_lock(&r->lock);
			r->reports[i] = rep;
			r->asgs[i].done_gen = gen;
			pthread_cond_broadcast(&r->done);
			pthread_mutex_unlock(&r->lock);
		}
		for (size_t i = 0; i < r->cfg->n_asgs; i++)
			if (polled(&r->cfg->asgs[i]) && r->asgs[i].next_ms < next)
				next = r->asgs[i].next_ms;
		now = util_now_ms();
		if (atomic_load(&r->nudged)) {
			int64_t spaced = r->last_nudge_ms + NUDGE_SPACING_MS;

			if (spaced < next)
				next = spaced;
		}
		if (next > now && bgthread_wait(bt, next - now) == BGTHREAD_STOPPING)
			break;
		if (bgthread_stopping(bt))
			break;
	}
	pthread_mutex_lock(&r->lock);
	r->stopped = true;
	pthread_cond_broadcast(&r->done);
	pthread_mutex_unlock(&r->lock);
}

/* --- life cycle ------------------------------------------------------------------- */

static void reconcile_free(struct reconcile *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; r->accounts != NULL && i < r->cfg->n_accounts; i++)
		awscreds_free(r->accounts[i].creds);
	free(r->accounts);
	free(r->asgs);
	free(r->reports);
	store_close(&r->store);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->done);
	free(r);
}

enum amicd_rc reconcile_start(const struct config *cfg, struct metrics *metrics, void (*wake_worker)(void *),
			      void *wake_cls, struct reconcile **out, struct amicd_error *err)
{
	struct reconcile *r = calloc(1, sizeof *r);
	bool any = false;
	enum amicd_rc rc = AMICD_OK;

	*out = NULL;
	if (r == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	r->cfg = cfg;
	r->metrics = metrics;
	r->wake_worker = wake_worker;
	r->wake_cls = wake_cls;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->done, NULL);
	r->accounts = calloc(cfg->n_accounts + 1, sizeof *r->accounts);
	r->asgs = calloc(cfg->n_asgs + 1, sizeof *r->asgs);
	r->reports = calloc(cfg->n_asgs + 1, sizeof *r->reports);
	if (r->accounts == NULL || r->asgs == NULL || r->reports == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < cfg->n_accounts; i++) {
		r->accounts[i].account = &cfg->accounts[i];
		if (cfg->accounts[i].has_aws && (r->accounts[i].creds = awscreds_new()) == NULL) {
			rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
			goto out;
		}
	}
	for (size_t i = 0; i < cfg->n_asgs; i++) {
		any = any || polled(&cfg->asgs[i]);
		r->reports[i].asg = cfg->asgs[i].identifier;
		snprintf(r->reports[i].gitlab, sizeof r->reports[i].gitlab, "not_polled");
		snprintf(r->reports[i].ec2, sizeof r->reports[i].ec2, "not_polled");
	}
	srandom((unsigned)util_now_ms());
	if (!any)
		goto out; /* events alone, as before: no thread */
	rc = store_open(cfg->database, cfg->limits.busy_timeout_ms, &r->store, err);
	if (rc == AMICD_OK)
		rc = bgthread_start("amicd-reconcile", run, r, &r->thread, err);
	if (rc == AMICD_OK)
		LOG(LL_INFO, "reconciler started", "{s:i,s:i,s:i}", "interval_seconds", cfg->reconcile.interval_seconds,
		    "waiting_interval_seconds", cfg->reconcile.waiting_interval_seconds, "timeout_seconds",
		    cfg->reconcile.timeout_seconds);
out:
	if (rc != AMICD_OK) {
		reconcile_free(r);
		return rc;
	}
	*out = r;
	return AMICD_OK;
}

void reconcile_nudge(void *cls, const bool *asgs)
{
	struct reconcile *r = cls;

	if (r == NULL || r->thread == NULL)
		return;
	for (size_t i = 0; i < r->cfg->n_asgs; i++)
		if (asgs == NULL || asgs[i])
			atomic_store(&r->asgs[i].nudged, true);
	atomic_store(&r->nudged, true);
	bgthread_wake(r->thread);
}

enum amicd_rc reconcile_run(struct reconcile *r, const char *asg, int64_t timeout_ms, struct reconcile_report *out,
			    struct amicd_error *err)
{
	struct timespec deadline;
	uint64_t gen;
	size_t n = 0;
	enum amicd_rc rc = AMICD_OK;

	memset(out, 0, sizeof *out);
	if (asg != NULL && config_find_asg(r->cfg, asg) == NULL)
		return amicd_error_set(err, AMICD_ERR_NOT_FOUND, NULL, "no ASG \"%s\" in the configuration", asg);
	out->asgs = calloc(r->cfg->n_asgs + 1, sizeof *out->asgs);
	if (out->asgs == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	if (r->thread == NULL) {
		/* nothing is polled: every ASG works from events alone */
		for (size_t i = 0; i < r->cfg->n_asgs; i++)
			if (asg == NULL || strcmp(asg, r->cfg->asgs[i].identifier) == 0)
				out->asgs[n++] = r->reports[i];
		out->n = n;
		return AMICD_OK;
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->lock);
	gen = ++r->requested_gen;
	for (size_t i = 0; i < r->cfg->n_asgs; i++)
		if (polled(&r->cfg->asgs[i]) && (asg == NULL || strcmp(asg, r->cfg->asgs[i].identifier) == 0))
			r->asgs[i].want_gen = gen;
	pthread_mutex_unlock(&r->lock);
	bgthread_wake(r->thread);
	pthread_mutex_lock(&r->lock);
	for (;;) {
		bool answered = true;

		for (size_t i = 0; i < r->cfg->n_asgs; i++)
			if (r->asgs[i].want_gen == gen && r->asgs[i].done_gen < gen)
				answered = false;
		if (answered)
			break;
		if (r->stopped) {
			rc = amicd_error_set(err, AMICD_ERR_BUSY, NULL, "amicd is stopping");
			break;
		}
		if (pthread_cond_timedwait(&r->done, &r->lock, &deadline) == ETIMEDOUT) {
			rc = amicd_error_set(err, AMICD_ERR_BUSY, NULL,
					     "the sources did not answer within %lld ms; the reconciler goes on",
					     (long long)timeout_ms);
			break;
		}
	}
	for (size_t i = 0; rc == AMICD_OK && i < r->cfg->n_asgs; i++)
		if (asg == NULL || strcmp(asg, r->cfg->asgs[i].identifier) == 0)
			out->asgs[n++] = r->reports[i];
	pthread_mutex_unlock(&r->lock);
	out->n = n;
	if (rc != AMICD_OK)
		reconcile_report_free(out);
	return rc;
}

void reconcile_report_free(struct reconcile_report *report)
{
	if (report == NULL)
		return;
	free(report->asgs);
	memset(report, 0, sizeof *report);
}

void reconcile_stop(struct reconcile **pr)
{
	if (pr == NULL || *pr == NULL)
		return;
	bgthread_stop(&(*pr)->thread);
	reconcile_free(*pr);
	*pr = NULL;
}
