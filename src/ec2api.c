/*
 * ec2api.c — DescribeImages through libcurl's SigV4 (see ec2api.h).
 */
#include "ec2api.h"

#include "fetch.h"

#include "utf8.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ANSWER_BYTES AWSXML_MAX_DOC_BYTES

/* Append "&name=value" (value percent-encoded) to the form. */
static bool form_add(CURL *curl, FILE *form, const char *name, const char *value)
{
	char *v = curl_easy_escape(curl, value, 0);

	if (v == NULL)
		return false;
	fprintf(form, "&%s=%s", name, v);
	curl_free(v);
	return true;
}

/* The form body of one page: every parameter in it, none in the URL. NULL when out of memory. */
static char *page_form(CURL *curl, const struct ec2_images_request *rq, const char *next_token)
{
	char *text = NULL, name[48], tag[160];
	size_t len = 0;
	FILE *form = open_memstream(&text, &len);
	bool ok = form != NULL;

	if (form == NULL)
		return NULL;
	fputs("Action=DescribeImages&Version=2016-11-15", form);
	if (rq->image_id != NULL) {
		ok = form_add(curl, form, "ImageId.1", rq->image_id);
	} else {
		snprintf(tag, sizeof tag, "tag:%s", rq->tag_name);
		ok = form_add(curl, form, "Filter.1.Name", tag);
		for (size_t i = 0; ok && i < rq->n_commits; i++) {
			snprintf(name, sizeof name, "Filter.1.Value.%zu", i + 1);
			ok = form_add(curl, form, name, rq->commits[i]);
		}
	}
	if (ok && next_token != NULL)
		ok = form_add(curl, form, "NextToken", next_token);
	if (fclose(form) != 0 || !ok) {
		free(text);
		return NULL;
	}
	return text;
}

/* An error answer: its outcome, code and message. */
static void classify_error(const struct fetch_body *pg, long status, struct ec2_images_answer *out)
{
	struct awsxml_aws_error e = { 0 };
	struct amicd_error perr = { { 0 }, { 0 } };

	if (awsxml_error_parse(pg->data != NULL ? pg->data : "", pg->len, &e, &perr) != AMICD_OK) {
		/* not AWS speaking: a proxy, a load balancer */
		out->outcome = status >= 500 ? EC2_RETRY : EC2_FAILING;
		snprintf(out->error, sizeof out->error, "EC2 answered %ld without an AWS error", status);
		return;
	}
	utf8_copy(out->code, sizeof out->code, e.code);
	out->outcome = awsxml_code_transient(e.code) || status >= 500 ? EC2_RETRY : EC2_FAILING;
	snprintf(out->error, sizeof out->error, "EC2 answered %ld %s%s%s", status, e.code, e.message != NULL ? ": " : "",
		 e.message != NULL ? e.message : "");
	utf8_repair(out->error);
	awsxml_aws_error_clear(&e);
}

/* Move the images of one page to the end of all. */
static bool take_page(struct awsxml_images *all, struct awsxml_images *page)
{
	struct awsxml_image *grown;

	if (page->n == 0)
		return true;
	grown = realloc(all->items, (all->n + page->n) * sizeof *grown);
	if (grown == NULL)
		return false;
	all->items = grown;
	memcpy(all->items + all->n, page->items, page->n * sizeof *grown);
	all->n += page->n;
	free(page->items); /* the images now belong to all */
	page->items = NULL;
	page->n = 0;
	return true;
}

/* One page: *next_token (the caller frees) gets the next page's token, NULL after the last. */
static enum amicd_rc ask_page(CURL *curl, const struct ec2_images_request *rq, const char *token,
			      struct fetch_body *body, struct ec2_images_answer *out, char **next_token,
			      struct amicd_error *err)
{
	struct awsxml_images images = { 0 };
	struct amicd_error perr = { { 0 }, { 0 } };
	char *form = page_form(curl, rq, token);
	long status = 0;
	enum amicd_rc rc = AMICD_OK;
	CURLcode cc;

	*next_token = NULL;
	if (form == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
	cc = curl_easy_perform(curl);
	out->pages++;
	if (cc != CURLE_OK) {
		out->outcome = body->too_large ? EC2_FAILING : EC2_RETRY;
		if (body->too_large)
			snprintf(out->error, sizeof out->error, "EC2's answer is larger than %u bytes",
				 (unsigned)MAX_ANSWER_BYTES);
		else
			snprintf(out->error, sizeof out->error, "no answer from EC2: %s", curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	out->http_status = status;
	if (status != 200) {
		classify_error(body, status, out);
		/* an image id EC2 does not know (or no longer shares): gone, which is an answer */
		if (rq->image_id != NULL && strcmp(out->code, "InvalidAMIID.NotFound") == 0) {
			out->outcome = EC2_IMAGES;
			out->error[0] = '\0';
		}
		goto out;
	}
	if (awsxml_describe_images_parse(body->data != NULL ? body->data : "", body->len, &images, &perr) != AMICD_OK) {
		if (perr.message[0] == '\0')
			snprintf(perr.message, sizeof perr.message, "unreadable");
		out->outcome = EC2_FAILING;
		snprintf(out->error, sizeof out->error, "EC2 answered 200 but not a DescribeImagesResponse: %.200s",
			 perr.message);
		utf8_repair(out->error);
		goto out;
	}
	if (!take_page(&out->images, &images)) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	out->outcome = EC2_IMAGES;
	if (images.next_token != NULL) {
		*next_token = images.next_token;
		images.next_token = NULL;
	}
out:
	awsxml_images_clear(&images);
	fetch_body_free(body);
	free(form);
	return rc;
}

enum amicd_rc ec2_describe_images(const struct ec2_images_request *rq, struct ec2_images_answer *out,
				  struct amicd_error *err)
{
	CURL *curl = NULL;
	struct curl_slist *hdrs = NULL;
	char *token_header = NULL, *next = NULL, sigv4[96];
	struct fetch_body body = { .max = MAX_ANSWER_BYTES, .cancel = rq->cancel, .cancel_cls = rq->cancel_cls };
	enum amicd_rc rc = AMICD_OK;

	memset(out, 0, sizeof *out);
	if (rq->endpoint == NULL || rq->region == NULL || rq->cred == NULL || rq->cred->access_key_id == NULL ||
	    rq->cred->secret_access_key == NULL)
		return amicd_error_set(err, AMICD_ERR_INVALID, NULL, "DescribeImages needs an endpoint, a region and credentials");
	if (rq->image_id == NULL && (rq->tag_name == NULL || rq->n_commits == 0 || rq->n_commits > EC2API_MAX_COMMITS))
		return amicd_error_set(err, AMICD_ERR_INVALID, NULL, "DescribeImages needs an image id, or a tag and 1 to %d commits",
				       EC2API_MAX_COMMITS);
	curl = curl_easy_init();
	if (curl == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	if (rq->cred->session_token != NULL) {
		if (asprintf(&token_header, "x-amz-security-token: %s", rq->cred->session_token) < 0) {
			token_header = NULL;
			rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
			goto out;
		}
		hdrs = curl_slist_append(hdrs, token_header);
		if (hdrs == NULL) {
			rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
			goto out;
		}
	}
	/* no "Expect:" trick here: curl 7.88 would sign a header it then does not send */
	snprintf(sigv4, sizeof sigv4, "aws:amz:%s:ec2", rq->region);
	fetch_setup(curl, rq->endpoint, rq->timeout_ms, &body);
	curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4);
	curl_easy_setopt(curl, CURLOPT_USERNAME, rq->cred->access_key_id);
	curl_easy_setopt(curl, CURLOPT_PASSWORD, rq->cred->secret_access_key);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	do {
		char *token = next;

		rc = ask_page(curl, rq, token, &body, out, &next, err);
		free(token);
	} while (rc == AMICD_OK && out->outcome == EC2_IMAGES && next != NULL && out->pages < EC2API_MAX_PAGES);
	if (rc == AMICD_OK && out->outcome == EC2_IMAGES && next != NULL) {
		out->outcome = EC2_FAILING;
		snprintf(out->error, sizeof out->error, "EC2 answered more than %d pages", EC2API_MAX_PAGES);
	}
	if (out->outcome != EC2_IMAGES)
		awsxml_images_clear(&out->images);
out:
	free(next);
	if (token_header != NULL) {
		explicit_bzero(token_header, strlen(token_header));
		free(token_header);
	}
	for (struct curl_slist *h = hdrs; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
	if (rc != AMICD_OK)
		ec2_images_answer_free(out);
	return rc;
}

void ec2_images_answer_free(struct ec2_images_answer *answer)
{
	if (answer == NULL)
		return;
	awsxml_images_clear(&answer->images);
}
