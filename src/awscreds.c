/*
 * awscreds.c — static keys, or STS's AssumeRole / AssumeRoleWithWebIdentity
 * through libcurl, cached until shortly before they expire (see awscreds.h).
 * Every buffer that holds a secret is overwritten before it is freed; no
 * message quotes one.
 */
#include "awscreds.h"

#include "fetch.h"

#include "awsxml.h"
#include "utf8.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ANSWER_BYTES (64u * 1024)  /* STS's answers are a few kB */
#define STS_VERSION "2011-06-15"

struct awscreds {
	struct awsxml_credentials cred; /* STS's, while access_key_id is non-NULL */
	char *source;                   /* what the cached credentials were asked for (source_key) */
};

static bool has(const char *s)
{
	return s != NULL && *s != '\0';
}

static void wipe_free(char *s, size_t len)
{
	if (s == NULL)
		return;
	explicit_bzero(s, len);
	free(s);
}

static void wipe_free_str(char *s)
{
	if (s != NULL)
		wipe_free(s, strlen(s));
}

struct awscreds *awscreds_new(void)
{
	return calloc(1, sizeof(struct awscreds));
}

void awscreds_free(struct awscreds *c)
{
	if (c == NULL)
		return;
	awsxml_credentials_clear(&c->cred);
	free(c->source);
	explicit_bzero(c, sizeof *c);
	free(c);
}

/*
 * The form body "n1=v1&n2=v2…" (values percent-encoded), allocated once at its
 * size so no copy of the token is left behind by a growing buffer; *len gets
 * its length. NULL when out of memory.
 */
static char *form_build(CURL *curl, const char *const names[], const char *const values[], size_t n, size_t *len)
{
	char *enc[8] = { NULL }, *form = NULL, *p;
	size_t total = 0;

	for (size_t i = 0; i < n; i++) {
		enc[i] = curl_easy_escape(curl, values[i], 0);
		if (enc[i] == NULL)
			goto out;
		total += (i > 0) + strlen(names[i]) + 1 + strlen(enc[i]);
	}
	form = malloc(total + 1);
	if (form == NULL)
		goto out;
	p = form;
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(names[i]), vl = strlen(enc[i]);

		if (i > 0)
			*p++ = '&';
		memcpy(p, names[i], nl);
		p += nl;
		*p++ = '=';
		memcpy(p, enc[i], vl);
		p += vl;
	}
	*p = '\0';
	*len = total;
out:
	for (size_t i = 0; i < n; i++) {
		if (enc[i] != NULL) {
			explicit_bzero(enc[i], strlen(enc[i]));
			curl_free(enc[i]);
		}
	}
	return form;
}

/*
 * The web identity token: the file's bytes less trailing blanks, in *token
 * (the caller wipes and frees it). A file that cannot be read, is empty or is
 * too large is the outcome FAILING (*token NULL), not an rc.
 */
static enum amicd_rc read_token(const char *path, char **token, struct awscreds_outcome *o, struct amicd_error *err)
{
	char *buf = malloc(AWSCREDS_MAX_TOKEN_BYTES + 1);
	size_t len = 0;
	int fd = -1, e = 0;

	*token = NULL;
	if (buf == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		goto fail;
	}
	while (len < AWSCREDS_MAX_TOKEN_BYTES + 1) {
		ssize_t r = read(fd, buf + len, AWSCREDS_MAX_TOKEN_BYTES + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	fd = -1;
	if (len > AWSCREDS_MAX_TOKEN_BYTES) {
		snprintf(o->error, sizeof o->error, "the web identity token file %s is larger than %d bytes", path,
			 AWSCREDS_MAX_TOKEN_BYTES);
		goto refuse;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	buf[len] = '\0';
	if (len == 0 || memchr(buf, '\0', len) != NULL) {
		snprintf(o->error, sizeof o->error, "the web identity token file %s is %s", path,
			 len == 0 ? "empty" : "not text");
		goto refuse;
	}
	*token = buf;
	return AMICD_OK;
fail:
	if (fd >= 0)
		close(fd);
	snprintf(o->error, sizeof o->error, "cannot read the web identity token file %s: %s", path, strerror(e));
refuse:
	utf8_repair(o->error);
	o->status = AWSCREDS_FAILING;
	wipe_free(buf, AWSCREDS_MAX_TOKEN_BYTES + 1);
	return AMICD_OK;
}

/* An error answer: its outcome, code and message. */
static void classify_error(const struct fetch_body *a, long status, struct awscreds_outcome *o)
{
	struct awsxml_aws_error e = { 0 };
	struct amicd_error perr = { { 0 }, { 0 } };

	if (awsxml_error_parse(a->data != NULL ? a->data : "", a->len, &e, &perr) != AMICD_OK) {
		/* not AWS speaking: a proxy, a load balancer */
		o->status = status >= 500 || status == 429 ? AWSCREDS_RETRY : AWSCREDS_FAILING;
		snprintf(o->error, sizeof o->error, "STS answered %ld without an AWS error", status);
		return;
	}
	utf8_copy(o->code, sizeof o->code, e.code);
	o->status = awsxml_code_transient(e.code) || status >= 500 ? AWSCREDS_RETRY : AWSCREDS_FAILING;
	snprintf(o->error, sizeof o->error, "STS answered %ld %s%s%s", status, e.code, e.message != NULL ? ": " : "",
		 e.message != NULL ? e.message : "");
	utf8_repair(o->error);
	awsxml_aws_error_clear(&e);
}

/* Drop STS's words when they quote a secret (an error that echoes the token, say). */
static void scrub(struct awscreds_outcome *o, const char *const secrets[], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!has(secrets[i]))
			continue;
		if (strstr(o->code, secrets[i]) != NULL)
			o->code[0] = '\0';
		if (strstr(o->error, secrets[i]) != NULL)
			snprintf(o->error, sizeof o->error,
				 "STS answered %ld %s (its message is withheld: it quotes a credential)", o->http_status,
				 o->code[0] != '\0' ? o->code : "an error");
	}
}

/*
 * One STS request for src: AssumeRole signed with the source's keys, or
 * AssumeRoleWithWebIdentity (web). On READY *got holds the credentials.
 */
static enum amicd_rc ask_sts(const struct awscreds_source *src, bool web, struct awsxml_credentials *got,
			     struct awscreds_outcome *o, struct amicd_error *err)
{
	CURL *curl = NULL;
	struct curl_slist *hdrs = NULL;
	/* STS's answer holds the new credentials: grown by copying, wiped before it is freed */
	struct fetch_body a = { .max = MAX_ANSWER_BYTES, .secret = true, .cancel = src->cancel,
				.cancel_cls = src->cancel_cls };
	struct amicd_error perr = { { 0 }, { 0 } };
	char *token = NULL, *form = NULL, *token_header = NULL, *endpoint = NULL, sigv4[96];
	const char *names[5] = { "Action", "Version", "RoleArn", "RoleSessionName", "WebIdentityToken" };
	const char *values[5];
	size_t form_len = 0;
	enum amicd_rc rc = AMICD_OK;
	CURLcode cc;
	long status = 0;

	if (web) {
		rc = read_token(src->web_identity_token_file, &token, o, err);
		if (rc != AMICD_OK || token == NULL)
			goto out;
	}
	curl = curl_easy_init();
	if (curl == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	values[0] = web ? "AssumeRoleWithWebIdentity" : "AssumeRole";
	values[1] = STS_VERSION;
	values[2] = src->role_arn;
	values[3] = has(src->session_name) ? src->session_name : AWSCREDS_DEFAULT_SESSION_NAME;
	values[4] = token;
	form = form_build(curl, names, values, web ? 5 : 4, &form_len);
	if (has(src->sts_endpoint))
		endpoint = strdup(src->sts_endpoint);
	else if (asprintf(&endpoint, "https://sts.%s.amazonaws.com%s/", src->region,
			  strncmp(src->region, "cn-", 3) == 0 ? ".cn" : "") < 0)
		endpoint = NULL;
	if (form == NULL || endpoint == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	fetch_setup(curl, endpoint, src->timeout_ms, &a);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)form_len);
	if (!web) {
		/* the keys sign the request; AssumeRoleWithWebIdentity is not signed at all */
		if (has(src->session_token)) {
			if (asprintf(&token_header, "x-amz-security-token: %s", src->session_token) < 0) {
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
		snprintf(sigv4, sizeof sigv4, "aws:amz:%s:sts", src->region);
		curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4);
		curl_easy_setopt(curl, CURLOPT_USERNAME, src->access_key_id);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, src->secret_access_key);
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	}
	cc = curl_easy_perform(curl);
	o->sts_calls = 1;
	if (cc != CURLE_OK) {
		o->status = a.too_large ? AWSCREDS_FAILING : AWSCREDS_RETRY;
		if (a.too_large)
			snprintf(o->error, sizeof o->error, "STS's answer is larger than %u bytes", MAX_ANSWER_BYTES);
		else if (cc == CURLE_ABORTED_BY_CALLBACK)
			snprintf(o->error, sizeof o->error, "the STS request was cancelled");
		else
			snprintf(o->error, sizeof o->error, "no answer from STS: %s", curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	o->http_status = status;
	if (status != 200) {
		classify_error(&a, status, o);
		goto out;
	}
	if (awsxml_credentials_parse(a.data != NULL ? a.data : "", a.len, got, &perr) != AMICD_OK) {
		if (perr.message[0] == '\0')
			snprintf(perr.message, sizeof perr.message, "unreadable");
		o->status = AWSCREDS_FAILING;
		snprintf(o->error, sizeof o->error, "STS answered 200 but not credentials: %.200s", perr.message);
		utf8_repair(o->error);
		goto out;
	}
	o->status = AWSCREDS_READY;
out:
	{
		const char *secrets[] = { src->secret_access_key, src->session_token, token };

		scrub(o, secrets, sizeof secrets / sizeof secrets[0]);
	}
	fetch_body_free(&a);
	if (form != NULL)
		wipe_free(form, form_len);
	if (token != NULL)
		wipe_free(token, AWSCREDS_MAX_TOKEN_BYTES + 1);
	wipe_free_str(token_header);
	for (struct curl_slist *h = hdrs; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
	free(endpoint);
	return rc;
}

/* What the cache is for: every field that changes which credentials STS gives. NULL when out of memory. */
static char *source_key(const struct awscreds_source *src, bool web)
{
	char *key = NULL;

	if (asprintf(&key, "%s\n%s\n%s\n%s\n%s\n%s\n%d", src->role_arn, web ? "" : src->access_key_id,
		     web ? src->web_identity_token_file : "", has(src->sts_endpoint) ? src->sts_endpoint : "",
		     has(src->region) ? src->region : "",
		     has(src->session_name) ? src->session_name : AWSCREDS_DEFAULT_SESSION_NAME, web) < 0)
		return NULL;
	return key;
}

static void take_cached(const struct awscreds *c, struct aws_credentials *out, struct awscreds_outcome *o)
{
	out->access_key_id = c->cred.access_key_id;
	out->secret_access_key = c->cred.secret_access_key;
	out->session_token = c->cred.session_token;
	o->expires_ms = c->cred.expiration_ms;
}

enum amicd_rc awscreds_get(struct awscreds *c, const struct awscreds_source *src, int64_t now_ms,
			   struct aws_credentials *out, struct awscreds_outcome *outcome, struct amicd_error *err)
{
	struct awsxml_credentials fresh = { 0 };
	char *key = NULL;
	bool keys, web, same;
	enum amicd_rc rc = AMICD_OK;

	memset(out, 0, sizeof *out);
	memset(outcome, 0, sizeof *outcome);
	outcome->status = AWSCREDS_FAILING;
	if (has(src->access_key_id) != has(src->secret_access_key))
		return amicd_error_set(err, AMICD_ERR_INVALID, NULL, "an access key id needs its secret access key, and the other way round");
	keys = has(src->access_key_id);
	if (!has(src->role_arn)) {
		if (!keys)
			return amicd_error_set(err, AMICD_ERR_INVALID, NULL,
					       has(src->web_identity_token_file)
						       ? "a web identity token file needs a role to assume"
						       : "no AWS credentials: neither keys nor a role with a web identity token file");
		out->access_key_id = src->access_key_id;
		out->secret_access_key = src->secret_access_key;
		out->session_token = has(src->session_token) ? src->session_token : NULL;
		outcome->status = AWSCREDS_READY;
		return AMICD_OK;
	}
	web = !keys;
	if (web && !has(src->web_identity_token_file))
		return amicd_error_set(err, AMICD_ERR_INVALID, NULL,
				       "assuming a role needs keys or a web identity token file");
	if (!has(src->region) && (!web || !has(src->sts_endpoint)))
		return amicd_error_set(err, AMICD_ERR_INVALID, NULL, "assuming a role needs the region of STS");
	key = source_key(src, web);
	if (key == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	same = c->source != NULL && strcmp(c->source, key) == 0 && c->cred.access_key_id != NULL;
	if (same && now_ms < c->cred.expiration_ms - AWSCREDS_REFRESH_MS) {
		take_cached(c, out, outcome);
		outcome->status = AWSCREDS_READY;
		outcome->cached = true;
		goto out;
	}
	rc = ask_sts(src, web, &fresh, outcome, err);
	if (rc != AMICD_OK)
		goto out;
	if (outcome->status == AWSCREDS_READY) {
		awsxml_credentials_clear(&c->cred);
		c->cred = fresh;
		memset(&fresh, 0, sizeof fresh);
		free(c->source);
		c->source = key;
		key = NULL;
		take_cached(c, out, outcome);
		goto out;
	}
	if (same && now_ms < c->cred.expiration_ms - AWSCREDS_MIN_VALID_MS) {
		/* the refresh failed, but what STS gave before is still good for a while: keep signing with it */
		char why[sizeof outcome->error];

		snprintf(why, sizeof why, "%s", outcome->error);
		snprintf(outcome->error, sizeof outcome->error, "refreshing failed (%.220s); still using credentials valid until %s",
			 why, c->cred.expiration);
		utf8_repair(outcome->error);
		take_cached(c, out, outcome);
		outcome->status = AWSCREDS_READY;
		outcome->cached = true;
		goto out;
	}
	if (!same) {
		/* another source's (or expired) credentials: never hand them out again */
		awsxml_credentials_clear(&c->cred);
		free(c->source);
		c->source = NULL;
	}
out:
	awsxml_credentials_clear(&fresh);
	free(key);
	return rc;
}

void awscreds_source_from_env(struct awscreds_source *src)
{
	const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
	const char *role = getenv("AWS_ROLE_ARN"), *file = getenv("AWS_WEB_IDENTITY_TOKEN_FILE");

	src->access_key_id = NULL;
	src->secret_access_key = NULL;
	src->session_token = NULL;
	src->role_arn = NULL;
	src->web_identity_token_file = NULL;
	if (has(id) && has(secret)) {
		src->access_key_id = id;
		src->secret_access_key = secret;
		src->session_token = has(getenv("AWS_SESSION_TOKEN")) ? getenv("AWS_SESSION_TOKEN") : NULL;
	} else if (has(role) && has(file)) {
		src->role_arn = role;
		src->web_identity_token_file = file;
	}
	if (src->region == NULL)
		src->region = has(getenv("AWS_REGION")) ? getenv("AWS_REGION")
			      : has(getenv("AWS_DEFAULT_REGION")) ? getenv("AWS_DEFAULT_REGION")
								   : NULL;
	if (src->session_name == NULL && has(getenv("AWS_ROLE_SESSION_NAME")))
		src->session_name = getenv("AWS_ROLE_SESSION_NAME");
	if (src->sts_endpoint == NULL && has(getenv("AWS_ENDPOINT_URL_STS")))
		src->sts_endpoint = getenv("AWS_ENDPOINT_URL_STS");
}
