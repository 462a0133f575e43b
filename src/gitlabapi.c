/*
 * gitlabapi.c — a branch's head from GitLab's API (see gitlabapi.h).
 */
#include "gitlabapi.h"

#include "fetch.h"

#include "utf8.h"
#include "util.h"

#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct transfer {
	struct gitlab_branch_answer *out;
	struct fetch_body body;
};

/* Retry-After in seconds (GitLab sends seconds; an HTTP date is not honoured, 0). */
static size_t on_header(char *p, size_t size, size_t n, void *cls)
{
	struct transfer *t = cls;
	size_t len = size * n;

	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		unsigned long v = 0;
		size_t i = 12;

		while (i < len && p[i] == ' ')
			i++;
		while (i < len && isdigit((unsigned char)p[i]) && v < 86400)
			v = v * 10 + (unsigned long)(p[i++] - '0');
		t->out->retry_after_s = (unsigned)(v < 86400 ? v : 86400);
	}
	return len;
}

/* GitLab's error answers are {"message": "..."}: that text, cut and made printable, or "". */
static void gitlab_message(const struct gitlab_branch_answer *a, char *buf, size_t size)
{
	json_t *doc = a->body != NULL ? json_loadb(a->body, a->body_len, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(doc, "message"));

	utf8_copy(buf, size, m != NULL ? m : "");
	for (char *c = buf; *c != '\0'; c++)
		if ((unsigned char)*c < ' ')
			*c = ' ';
	json_decref(doc);
}

/* A 200 answer: the branch object's commit.id. */
static void read_head(struct gitlab_branch_answer *a)
{
	json_t *doc = json_loadb(a->body != NULL ? a->body : "", a->body_len, 0, NULL);
	const char *id = json_string_value(json_object_get(json_object_get(doc, "commit"), "id"));
	size_t len = id != NULL ? strlen(id) : 0;

	if (id != NULL && (len == 40 || len == 64) && util_is_hex(id, len)) {
		for (size_t i = 0; i <= len; i++)
			a->commit[i] = (char)tolower((unsigned char)id[i]);
		a->outcome = GITLAB_BRANCH_HEAD;
	} else {
		a->outcome = GITLAB_BRANCH_FAILING;
		snprintf(a->error, sizeof a->error, "GitLab answered 200 without a branch's commit.id (40 or 64 hex)");
	}
	json_decref(doc);
}

static void classify(struct gitlab_branch_answer *a)
{
	char message[160];

	gitlab_message(a, message, sizeof message);
	if (a->http_status == 200) {
		read_head(a);
	} else if (a->http_status == 404 && strcasecmp(message, "404 Branch Not Found") == 0) {
		a->outcome = GITLAB_BRANCH_GONE;
	} else if (a->http_status == 429 || a->http_status >= 500) {
		a->outcome = GITLAB_BRANCH_RETRY;
		snprintf(a->error, sizeof a->error, "GitLab answered %ld%s%s", a->http_status, message[0] ? ": " : "",
			 message);
	} else {
		/* 401, 403, 404 Project Not Found (or no access), anything else: someone must act */
		a->outcome = GITLAB_BRANCH_FAILING;
		snprintf(a->error, sizeof a->error, "GitLab answered %ld%s%s", a->http_status, message[0] ? ": " : "",
			 message[0] ? message : "");
	}
}

enum amicd_rc gitlab_branch_get(const struct gitlab_branch_request *rq, struct gitlab_branch_answer *out,
				struct amicd_error *err)
{
	struct transfer t = { .out = out, .body = { .max = GITLAB_MAX_ANSWER_BYTES, .cancel = rq->cancel,
						     .cancel_cls = rq->cancel_cls } };
	CURL *curl = NULL;
	struct curl_slist *hdrs = NULL;
	char *token_header = NULL;
	enum amicd_rc rc = AMICD_OK;
	CURLcode cc;

	memset(out, 0, sizeof *out);
	if (rq->url == NULL || rq->token == NULL)
		return amicd_error_set(err, AMICD_ERR_INTERNAL, NULL, "gitlab_branch_get: no URL or token");
	curl = curl_easy_init();
	if (curl == NULL || asprintf(&token_header, "PRIVATE-TOKEN: %s", rq->token) < 0) {
		token_header = NULL;
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	hdrs = curl_slist_append(hdrs, token_header);
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (hdrs == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	fetch_setup(curl, rq->url, rq->timeout_ms, &t.body); /* no redirect: it would carry the token elsewhere */
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
	cc = curl_easy_perform(curl);
	out->body = t.body.data; /* the answer owns it now */
	out->body_len = t.body.len;
	if (cc == CURLE_OK) {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->http_status);
		classify(out);
	} else if (t.body.too_large) {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->http_status);
		out->outcome = GITLAB_BRANCH_FAILING;
		snprintf(out->error, sizeof out->error, "GitLab's answer is larger than %d bytes",
			 GITLAB_MAX_ANSWER_BYTES);
	} else {
		/* no answer: unreachable, refused, timed out, cancelled — all worth another try */
		out->outcome = GITLAB_BRANCH_RETRY;
		snprintf(out->error, sizeof out->error, "no answer from GitLab: %s", curl_easy_strerror(cc));
	}
out:
	if (token_header != NULL) {
		explicit_bzero(token_header, strlen(token_header));
		free(token_header);
	}
	for (struct curl_slist *h = hdrs; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data)); /* curl's copy of the token header too */
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
	if (rc != AMICD_OK)
		gitlab_branch_answer_free(out);
	return rc;
}

void gitlab_branch_answer_free(struct gitlab_branch_answer *answer)
{
	if (answer == NULL)
		return;
	free(answer->body);
	answer->body = NULL;
	answer->body_len = 0;
}
