/*
 * hooks.c — the two webhook endpoints (see hooks.h).
 *
 * A delivery's life: precheck (token) → body → signature (GitLab, if
 * configured) → JSON → classify → dedup key → ingest_submit with the request
 * suspended → done() on the writer thread answers and resumes. The per-request
 * struct delivery holds everything the store row borrows until done().
 */
#include "hooks.h"

#include "app.h"
#include "auth.h"
#include "crypto.h"
#include "eventbridge.h"
#include "gitlab.h"
#include "jsonarena.h"
#include "jsonw.h"
#include "log.h"
#include "utf8.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct delivery {
	struct ingest_item item;
	struct http_request *req;
	struct app *app;
	struct apply_event *prepared; /* the facts derived on receipt, until offered to the worker */
	int64_t offered_id;         /* the id they were offered under (0: not offered) */
	const char *source;
	char *headers_json;
	char *dedup_key;
	char *delivery_id;
	char *kind;
	char note[256];
	char reject_message[512];
	char reject_path[256];
	enum amicd_rc reject_rc;
	enum amicd_rc outcome;      /* set by the writer thread, read after the resume */
	struct amicd_error outcome_err;
	int64_t t0_ns;
	char sha[65];               /* of the body, once computed */
};

static void delivery_free(void *p)
{
	struct delivery *d = p;

	if (d == NULL)
		return;
	free(d->headers_json);
	free(d->dedup_key);
	free(d->delivery_id);
	free(d->kind);
	if (d->prepared != NULL)
		apply_event_release(d->prepared);
	free(d->prepared);
	free(d);
}

/*
 * The headers stored with a delivery and shown by the API: an allow-list of
 * what the senders themselves send (design §4) — GitLab's WebHookService
 * headers by name (not any X-Gitlab-*: a user may name a custom header so),
 * the Standard Webhooks id and time, EventBridge's trace id. A header a user
 * adds to a hook may carry a credential, so anything else is dropped; and
 * whatever the list lets through, a name that looks like a credential is
 * dropped too. Names are checked whole (lower-cased), however long.
 */
static bool keep_header(const char *name, void *cls)
{
	const struct app *app = cls;
	const char *api_key = app_auth(app)->eventbridge_api_key_header;
	static const char *const allowed[] = { "x-gitlab-event", "x-gitlab-instance", "x-gitlab-webhook-uuid",
					       "x-gitlab-event-uuid", "idempotency-key", "webhook-id",
					       "webhook-timestamp", "user-agent", "content-type", "content-length",
					       "x-amzn-trace-id", NULL };
	bool listed = false;

	for (const char *const *a = allowed; !listed && *a != NULL; a++)
		listed = strcmp(name, *a) == 0;
	static const char *const secret_words[] = { "token", "secret", "password", "signature", "auth", "key",
						    "cookie", NULL };

	if (!listed || (api_key != NULL && strcmp(name, api_key) == 0))
		return false;
	if (strcmp(name, "idempotency-key") == 0)
		return true;
	for (const char *const *w = secret_words; *w != NULL; w++)
		if (strstr(name, *w) != NULL)
			return false;
	return true;
}

/*
 * The headers whose values amicd keeps as identities (kind, delivery id, dedup
 * key) must be text: bytes that are not UTF-8 there are refused with 400 rather
 * than stored in a form no answer could show.
 */
static bool identity_headers_ok(struct http_request *req, struct amicd_error *err)
{
	static const char *const names[] = { "X-Gitlab-Event", "Idempotency-Key", "X-Gitlab-Event-UUID", NULL };

	for (const char *const *n = names; *n != NULL; n++) {
		const char *v = http_header(req, *n);
		char path[64];

		if (v == NULL || utf8_valid(v, strlen(v)))
			continue;
		snprintf(path, sizeof path, "headers.%s", *n);
		amicd_error_set(err, AMICD_ERR_INVALID, path, "the %s header is not valid UTF-8", *n);
		return false;
	}
	return true;
}

static struct delivery *delivery_new(struct http_request *req, struct app *app, const char *source)
{
	struct delivery *d = calloc(1, sizeof *d);

	if (d == NULL)
		return NULL;
	d->req = req;
	d->app = app;
	d->source = source;
	d->t0_ns = util_monotonic_ns();
	d->headers_json = http_headers_text(req, keep_header, app);
	if (d->headers_json == NULL) {
		free(d);
		return NULL;
	}
	http_set_state(req, d, delivery_free);
	return d;
}

/* The body's SHA-256, computed once per delivery. */
static const char *body_sha(struct delivery *d)
{
	if (d->sha[0] == '\0') {
		size_t len;
		const void *body = http_body(d->req, &len);

		crypto_sha256_hex(body, len, d->sha);
	}
	return d->sha;
}

static double elapsed_ms(const struct delivery *d)
{
	return (double)(util_monotonic_ns() - d->t0_ns) / 1e6;
}

/* Writer thread: the row has its id; the commit comes next. The facts derived
 * on receipt go to the worker now, so that it finds them whenever it sees the row. */
static void event_stored(struct ingest_item *item)
{
	struct delivery *d = item->cls;

	if (d->prepared == NULL)
		return;
	d->prepared->id = item->event.id;
	d->offered_id = item->event.id;
	worker_offer(d->app->worker, d->prepared);
	d->prepared = NULL;
}

/* Writer thread: the delivery's row has committed (or the batch failed). Only
 * the outcome is recorded here; the answer is built on a request thread. */
static void event_done(struct ingest_item *item, enum amicd_rc rc, const struct amicd_error *err)
{
	struct delivery *d = item->cls;

	if (rc != AMICD_OK && d->offered_id != 0)
		worker_withdraw(d->app->worker, d->offered_id); /* the id may be given again */
	d->outcome = rc;
	if (rc != AMICD_OK)
		d->outcome_err = *err;
	http_resume(d->req); /* last: the request may be finished from here on */
}

/* The answer to a stored delivery: {"event_id":…,"status":…[,"note":…]}, as
 * http_reply_json would write it, without a DOM. */
static void reply_event(struct http_request *req, unsigned status, int64_t id, const char *what, const char *note)
{
	struct jsonw w = { 0 };

	jsonw_begin_object(&w);
	jsonw_key(&w, "event_id");
	jsonw_int(&w, id);
	jsonw_key(&w, "status");
	jsonw_string(&w, what);
	if (note != NULL) {
		jsonw_key(&w, "note");
		jsonw_string(&w, note);
	}
	jsonw_end_object(&w);
	jsonw_raw(&w, "\n", 1);
	http_reply_text(req, status, "application/json", jsonw_finish(&w, NULL));
}

/* Request thread, after the resume: answer and log. */
static void finish_event(struct http_request *req, void *cls)
{
	struct delivery *d = http_state(req);
	const struct store_event *ev = &d->item.event;

	(void)cls;
	if (d->outcome != AMICD_OK) {
		struct amicd_error public_err;

		/* the SQLite detail stays in the log; the sender learns only to retry */
		LOG(LL_WARN, "delivery not stored", "{s:s,s:s,s:s,s:f}", "source", d->source, "kind", ev->kind,
		    "error", d->outcome_err.message, "ms", elapsed_ms(d));
		amicd_error_set(&public_err, d->outcome, NULL, "%s", amicd_rc_doc(d->outcome));
		http_reply_error(req, d->outcome, &public_err);
	} else if (ev->duplicate) {
		LOG(LL_INFO, "delivery duplicate", "{s:I,s:s,s:s,s:s?,s:f}", "event_id", (json_int_t)ev->id,
		    "source", d->source, "kind", ev->kind, "delivery_id", ev->delivery_id, "ms", elapsed_ms(d));
		reply_event(req, 200, ev->id, "duplicate", NULL);
		http_set_tag(req, "duplicate");
	} else {
		bool queued = strcmp(ev->status, "queued") == 0;

		/* an ignored delivery's note says why (a branch or repository not tracked): the line an operator greps */
		LOG(LL_INFO, "delivery stored", "{s:I,s:s,s:s,s:s,s:s?,s:s?,s:f}", "event_id", (json_int_t)ev->id,
		    "source", d->source, "kind", ev->kind, "status", ev->status, "delivery_id", ev->delivery_id,
		    "note", queued ? NULL : ev->note, "ms", elapsed_ms(d));
		if (queued)
			reply_event(req, 202, ev->id, "queued", NULL);
		else
			reply_event(req, 200, ev->id, "ignored", ev->note);
		if (!queued)
			http_set_tag(req, "ignored");
	}
}

/* Writer thread: a malformed delivery has been kept (or not) for diagnosis. */
static void rejected_done(struct ingest_item *item, enum amicd_rc rc, const struct amicd_error *err)
{
	struct delivery *d = item->cls;

	d->outcome = rc;
	if (rc != AMICD_OK)
		d->outcome_err = *err;
	http_resume(d->req);
}

/* Request thread, after the resume: the 400, whether or not the body was kept. */
static void finish_rejected(struct http_request *req, void *cls)
{
	struct delivery *d = http_state(req);
	struct amicd_error reply;

	(void)cls;
	if (d->outcome != AMICD_OK)
		LOG(LL_WARN, "rejected delivery not kept", "{s:s,s:s}", "source", d->source, "error",
		    d->outcome_err.message);
	amicd_error_set(&reply, d->reject_rc, d->reject_path, "%s", d->reject_message);
	http_reply_error(req, d->reject_rc, &reply);
}

/*
 * Suspend first, then submit: the writer may resume the request the moment it is
 * submitted, and a resume must never come before the suspension. A refused
 * submission is answered the same way, through finish, with 503.
 */
static void submit(struct app *app, struct delivery *d, http_handler_fn finish)
{
	http_suspend(d->req, finish);
	if (ingest_submit(app->ingest, &d->item) == AMICD_OK)
		return;
	LOG(LL_WARN, "delivery refused: too many in flight", "{s:s}", "source", d->source);
	d->outcome = AMICD_ERR_BUSY;
	amicd_error_set(&d->outcome_err, AMICD_ERR_BUSY, NULL, "%s", amicd_rc_doc(AMICD_ERR_BUSY));
	http_resume(d->req);
}

/* Answer 400 once the raw body is kept in rejected_deliveries. */
static void reject(struct app *app, struct delivery *d, enum amicd_rc rc, const struct amicd_error *err)
{
	size_t len;
	const void *body = http_body(d->req, &len);

	snprintf(d->reject_message, sizeof d->reject_message, "%s", err->message);
	snprintf(d->reject_path, sizeof d->reject_path, "%s", err->path);
	d->reject_rc = rc;
	LOG(LL_INFO, "delivery rejected", "{s:s,s:s,s:s,s:s}", "source", d->source, "code", amicd_rc_code(rc),
	    "path", err->path, "error", err->message);
	d->item.kind = INGEST_REJECTED;
	d->item.rejected = (struct store_rejected){
		.source = d->source,
		.code = amicd_rc_code(rc),
		.message = d->reject_message,
		.json_path = d->reject_path,
		.headers_json = d->headers_json,
		.body = body,
		.body_len = len,
		.received_at_ms = util_now_ms(),
	};
	d->item.done = rejected_done;
	d->item.cls = d;
	submit(app, d, finish_rejected);
}

static void accept_event(struct app *app, struct delivery *d, const char *kind, bool ignored)
{
	size_t len;
	const void *body = http_body(d->req, &len);

	d->kind = strdup(kind);
	d->item.kind = INGEST_EVENT;
	d->item.event = (struct store_event){
		.source = d->source,
		.kind = d->kind,
		.delivery_id = d->delivery_id,
		.dedup_key = d->dedup_key,
		.status = ignored ? "ignored" : "queued",
		.note = ignored ? d->note : NULL,
		.headers_json = d->headers_json,
		.payload = body,
		.payload_len = len,
		.received_at_ms = util_now_ms(),
	};
	memcpy(d->item.event.payload_sha256, body_sha(d), sizeof d->item.event.payload_sha256);
	d->item.done = event_done;
	d->item.stored = event_stored;
	d->item.cls = d;
	if (d->kind == NULL) {
		struct amicd_error err;

		amicd_error_set(&err, AMICD_ERR_NOMEM, NULL, "out of memory");
		http_reply_error(d->req, AMICD_ERR_NOMEM, &err);
		return;
	}
	submit(app, d, finish_event);
}

/*
 * The facts of a queued delivery, derived from the body parsed here so that the
 * worker need not parse it again (worker_offer). Without memory for them the
 * worker parses the stored body, as it does after a restart.
 */
static void prepare_facts(struct delivery *d, const char *kind, const json_t *doc)
{
	struct apply_event *pre = malloc(sizeof *pre);

	if (pre == NULL)
		return;
	if (apply_event_prepare_doc(d->app->cfg, d->source, kind, doc, pre) != AMICD_OK) {
		free(pre);
		return;
	}
	d->prepared = pre;
}

static json_t *parse_json(const struct http_request *req, enum amicd_rc *rc, struct amicd_error *err)
{
	size_t len;
	const void *body = http_body(req, &len);
	json_error_t jerr;
	json_t *doc = jsonarena_loadb(body, len, 0, &jerr);

	if (doc == NULL) {
		*rc = amicd_error_set(err, AMICD_ERR_PARSE, "$", "malformed JSON at line %d, column %d: %s",
				      jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(doc)) {
		jsonarena_release(doc);
		*rc = amicd_error_set(err, AMICD_ERR_INVALID, "$", "the body must be a JSON object");
		return NULL;
	}
	*rc = AMICD_OK;
	return doc;
}

static void reply_nomem(struct http_request *req)
{
	struct amicd_error err;

	amicd_error_set(&err, AMICD_ERR_NOMEM, NULL, "out of memory");
	http_reply_error(req, AMICD_ERR_NOMEM, &err);
}

/* --- GitLab ---------------------------------------------------------------- */

/*
 * The checks that need no body: the secret token when one is configured, the
 * signature's headers when signing is. A signature can only be checked on the
 * body, so with signing the 415 waits for it too (http_defer_media_type).
 */
enum amicd_rc hooks_gitlab_precheck(struct http_request *req, void *cls, struct amicd_error *err)
{
	const struct config_auth *a = app_auth(cls);
	char remote[64];

	if (a->gitlab_token.bytes != NULL && !auth_token(&a->gitlab_token, http_header(req, "X-Gitlab-Token"))) {
		LOG(LL_WARN, "gitlab delivery refused: bad token", "{s:s,s:s?}", "remote", http_remote(req, remote, sizeof remote), "forwarded_for", http_header(req, "X-Forwarded-For"));
		return amicd_error_set(err, AMICD_ERR_AUTH, NULL, "unauthorized");
	}
	if (a->gitlab_signing_key.bytes != NULL) {
		if (http_header(req, "webhook-id") == NULL || http_header(req, "webhook-timestamp") == NULL ||
		    http_header(req, "webhook-signature") == NULL) {
			LOG(LL_WARN, "gitlab delivery refused: bad signature", "{s:s,s:s,s:s?}", "reason",
			    "webhook-id, webhook-timestamp or webhook-signature missing", "remote", http_remote(req, remote, sizeof remote), "forwarded_for", http_header(req, "X-Forwarded-For"));
			return amicd_error_set(err, AMICD_ERR_AUTH, NULL, "unauthorized");
		}
		http_defer_media_type(req);
	}
	if (a->gitlab_token.bytes == NULL && a->gitlab_signing_key.bytes == NULL)
		return amicd_error_set(err, AMICD_ERR_AUTH, NULL, "unauthorized"); /* config_load refuses this */
	return AMICD_OK;
}

static bool gitlab_dedup(struct delivery *d)
{
	return gitlab_dedup_key(http_header(d->req, "Idempotency-Key"), http_header(d->req, "X-Gitlab-Event-UUID"),
				body_sha(d), &d->dedup_key, &d->delivery_id);
}

/* Whether a valid push concerns a tracked repo and branch; note says why not. */
static bool push_tracked(const struct config *cfg, const struct gitlab_push *p, char *note, size_t size)
{
	bool repo_known = false;

	if (p->branch == NULL) {
		snprintf(note, size, "not a branch: ref %s", p->ref);
		return false;
	}
	if (config_push_repo(cfg, p->repo_urls, GITLAB_REPO_URLS, p->branch, &repo_known) != NULL)
		return true;
	if (repo_known)
		snprintf(note, size, "branch not tracked: %s of %s", p->branch, p->repo_urls[0]);
	else
		snprintf(note, size, "repository not tracked: %s", p->repo_urls[0]);
	return false;
}

void hooks_gitlab(struct http_request *req, void *cls)
{
	struct app *app = cls;
	struct delivery *d = delivery_new(req, app, "gitlab");
	struct amicd_error err = { { 0 }, { 0 } };
	struct gitlab_push push = { .ref = NULL };
	enum amicd_rc rc;
	json_t *doc = NULL;
	const char *kind;
	char kind_buf[64];
	bool ignored = true;

	if (d == NULL) {
		reply_nomem(req);
		return;
	}
	if (app_auth(app)->gitlab_signing_key.bytes != NULL) {
		size_t len;
		const void *body = http_body(req, &len);

		rc = auth_webhook_signature(&app_auth(app)->gitlab_signing_key, http_header(req, "webhook-id"),
					    http_header(req, "webhook-timestamp"), http_header(req, "webhook-signature"),
					    body, len, util_now_ms() / 1000, &err);
		if (rc != AMICD_OK) {
			char remote[64];

			LOG(LL_WARN, "gitlab delivery refused: bad signature", "{s:s,s:s,s:s?}", "reason", err.message,
			    "remote", http_remote(req, remote, sizeof remote), "forwarded_for", http_header(req, "X-Forwarded-For"));
			amicd_error_set(&err, AMICD_ERR_AUTH, NULL, "unauthorized");
			http_reply_error(req, AMICD_ERR_AUTH, &err);
			return;
		}
		if (!http_json_content_type(req)) { /* deferred by the precheck until the signature held */
			amicd_error_set(&err, AMICD_ERR_MEDIA_TYPE, NULL, "Content-Type must be application/json");
			http_reply_error(req, AMICD_ERR_MEDIA_TYPE, &err);
			return;
		}
	}
	if (!identity_headers_ok(req, &err)) {
		reject(app, d, AMICD_ERR_INVALID, &err);
		return;
	}
	doc = parse_json(req, &rc, &err);
	if (doc == NULL) {
		reject(app, d, rc, &err);
		return;
	}
	kind = gitlab_event_kind(http_header(req, "X-Gitlab-Event"), doc, kind_buf, sizeof kind_buf);
	if (kind == NULL) {
		amicd_error_set(&err, AMICD_ERR_INVALID, "$.object_kind",
				"cannot tell the event kind: no X-Gitlab-Event header and no object_kind");
		reject(app, d, AMICD_ERR_INVALID, &err);
		goto out;
	}
	if (strcmp(kind, "push") == 0) {
		/* tracked? first, from the repo and ref alone: an ignored push is never refused */
		rc = gitlab_push_identify(doc, &push, &err);
		if (rc == AMICD_OK) {
			ignored = !push_tracked(app->cfg, &push, d->note, sizeof d->note);
			utf8_repair(d->note); /* a long name cut at the buffer's end */
			if (!ignored)
				rc = gitlab_push_commits(doc, &push, &err);
		}
		if (rc != AMICD_OK) {
			reject(app, d, rc, &err);
			goto out;
		}
	} else if (strcmp(kind, "tag_push") == 0) {
		snprintf(d->note, sizeof d->note, "tag pushes are not acted on");
	} else if (strcmp(kind, "system") == 0) {
		snprintf(d->note, sizeof d->note, "system hooks are not acted on: add a project or group webhook "
			 "(Push events) for the repository instead");
	} else {
		snprintf(d->note, sizeof d->note, "%s events are not acted on", kind);
		utf8_repair(d->note);
	}
	if (!gitlab_dedup(d)) {
		reply_nomem(req);
		goto out;
	}
	if (!ignored)
		prepare_facts(d, kind, doc);
	accept_event(app, d, kind, ignored);
out:
	gitlab_push_clear(&push);
	jsonarena_release(doc);
}

/* --- EventBridge ----------------------------------------------------------- */

enum amicd_rc hooks_eventbridge_precheck(struct http_request *req, void *cls, struct amicd_error *err)
{
	const struct app *app = cls;
	const struct config_auth *a = app_auth(app);
	const char *key = a->eventbridge_api_key_header != NULL ? http_header(req, a->eventbridge_api_key_header) : NULL;

	if (!auth_eventbridge(a, key, http_header(req, "Authorization"))) {
		char remote[64];

		LOG(LL_WARN, "eventbridge delivery refused: bad credentials", "{s:s,s:s?}", "remote", http_remote(req, remote, sizeof remote), "forwarded_for", http_header(req, "X-Forwarded-For"));
		return amicd_error_set(err, AMICD_ERR_AUTH, NULL, "unauthorized");
	}
	return AMICD_OK;
}

void hooks_eventbridge(struct http_request *req, void *cls)
{
	struct app *app = cls;
	struct delivery *d = delivery_new(req, app, "eventbridge");
	struct amicd_error err = { { 0 }, { 0 } };
	struct eb_event ev;
	enum amicd_rc rc;
	json_t *doc = NULL;

	if (d == NULL) {
		reply_nomem(req);
		return;
	}
	doc = parse_json(req, &rc, &err);
	if (doc == NULL) {
		reject(app, d, rc, &err);
		return;
	}
	rc = eventbridge_parse(doc, &ev, &err);
	if (rc != AMICD_OK) {
		reject(app, d, rc, &err);
		goto out;
	}
	utf8_copy(d->note, sizeof d->note, ev.note);
	d->delivery_id = strdup(ev.id);
	d->dedup_key = strdup(ev.id);
	if (d->delivery_id == NULL || d->dedup_key == NULL) {
		reply_nomem(req);
		goto out;
	}
	if (!ev.ignored)
		prepare_facts(d, ev.kind_name, doc);
	accept_event(app, d, ev.kind_name, ev.ignored);
out:
	jsonarena_release(doc);
}
