/*
 * gitlab.c — GitLab push webhook parsing (see gitlab.h). Pure: no I/O.
 */
#include "gitlab.h"

#include "repourl.h"
#include "utf8.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *gitlab_event_kind(const char *event_header, const json_t *body, char *buf, size_t size)
{
	const char *object_kind = json_string_value(json_object_get(body, "object_kind"));
	size_t n = 0;

	/* A system hook is one kind whatever its body says: amicd acts on project and
	 * group hooks only (a system hook's push has another shape and is sent for
	 * every project of the instance). */
	if (event_header != NULL && strcmp(event_header, "System Hook") == 0)
		return "system";
	/* Push and tag pushes say what they are in the body. */
	if (object_kind != NULL && object_kind[0] != '\0' &&
	    (event_header == NULL || strcmp(event_header, "Push Hook") == 0 ||
	     strcmp(event_header, "Tag Push Hook") == 0))
		return object_kind;
	if (event_header == NULL || event_header[0] == '\0')
		return object_kind != NULL && object_kind[0] != '\0' ? object_kind : NULL;
	if (strcmp(event_header, "Push Hook") == 0)
		return "push";
	if (strcmp(event_header, "Tag Push Hook") == 0)
		return "tag_push";
	if (object_kind != NULL && object_kind[0] != '\0')
		return object_kind;
	/* "Merge Request Hook" → "merge_request" */
	for (const char *p = event_header; *p != '\0' && n + 1 < size; p++) {
		if (strcmp(p, " Hook") == 0)
			break;
		buf[n++] = *p == ' ' ? '_' : (char)tolower((unsigned char)*p);
	}
	buf[n] = '\0';
	utf8_repair(buf); /* a long header cut inside a character */
	return n > 0 ? buf : "unknown";
}

static enum amicd_rc want_sha(const json_t *body, const char *key, char out[65], struct amicd_error *err)
{
	const char *v = json_string_value(json_object_get(body, key));
	char path[32];
	size_t i;

	snprintf(path, sizeof path, "$.%s", key);
	if (v == NULL)
		return amicd_error_set(err, AMICD_ERR_INVALID, path, "missing string field %s", key);
	if (!util_is_commit(v))
		return amicd_error_set(err, AMICD_ERR_INVALID, path, "%s must be a 40- or 64-hex commit id", key);
	for (i = 0; v[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)v[i]);
	out[i] = '\0';
	return AMICD_OK;
}

enum amicd_rc gitlab_push_identify(const json_t *body, struct gitlab_push *out, struct amicd_error *err)
{
	static const char *const url_keys[GITLAB_REPO_URLS] = { "web_url", "git_http_url", "git_ssh_url" };
	enum amicd_rc rc;
	const json_t *project;
	const char *ref;

	memset(out, 0, sizeof *out);
	if (!json_is_object(body))
		return amicd_error_set(err, AMICD_ERR_INVALID, "$", "the body must be a JSON object");
	ref = json_string_value(json_object_get(body, "ref"));
	if (ref == NULL)
		return amicd_error_set(err, AMICD_ERR_INVALID, "$.ref", "missing string field ref");
	project = json_object_get(body, "project");
	if (!json_is_object(project)) {
		rc = amicd_error_set(err, AMICD_ERR_INVALID, "$.project", "missing object field project");
		goto fail;
	}
	for (int i = 0; i < GITLAB_REPO_URLS; i++) {
		const char *u = json_string_value(json_object_get(project, url_keys[i]));

		if (u != NULL)
			out->repo_urls[i] = repo_url_normalize(u);
	}
	if (out->repo_urls[0] == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_INVALID, "$.project.web_url",
				     "project.web_url is missing or not a repository URL");
		goto fail;
	}
	out->ref = strdup(ref);
	if (out->ref == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto fail;
	}
	if (strncmp(out->ref, "refs/heads/", 11) == 0 && out->ref[11] != '\0')
		out->branch = out->ref + 11;
	return AMICD_OK;
fail:
	gitlab_push_clear(out);
	return rc;
}

enum amicd_rc gitlab_push_commits(const json_t *body, struct gitlab_push *out, struct amicd_error *err)
{
	enum amicd_rc rc = want_sha(body, "before", out->before, err);

	if (rc == AMICD_OK)
		rc = want_sha(body, "after", out->after, err);
	if (rc != AMICD_OK) {
		gitlab_push_clear(out);
		return rc;
	}
	out->created = util_is_zero_sha(out->before);
	out->deleted = util_is_zero_sha(out->after);
	return AMICD_OK;
}

enum amicd_rc gitlab_push_parse(const json_t *body, struct gitlab_push *out, struct amicd_error *err)
{
	enum amicd_rc rc = gitlab_push_identify(body, out, err);

	return rc == AMICD_OK ? gitlab_push_commits(body, out, err) : rc;
}

void gitlab_push_clear(struct gitlab_push *p)
{
	for (int i = 0; i < GITLAB_REPO_URLS; i++)
		free(p->repo_urls[i]);
	free(p->ref);
	memset(p, 0, sizeof *p);
}

bool gitlab_dedup_key(const char *idempotency_key, const char *event_uuid, const char *body_sha256,
		      char **key, char **delivery_id)
{
	int n;

	*key = NULL;
	*delivery_id = NULL;
	if (idempotency_key != NULL && idempotency_key[0] != '\0') {
		*delivery_id = strdup(idempotency_key);
		n = asprintf(key, "idem:%s", idempotency_key);
	} else if (event_uuid != NULL && event_uuid[0] != '\0') {
		*delivery_id = strdup(event_uuid);
		n = asprintf(key, "uuid:%s:%s", event_uuid, body_sha256);
	} else {
		n = asprintf(key, "sha256:%s", body_sha256);
	}
	if (n < 0)
		*key = NULL;
	if (*key == NULL || (*delivery_id == NULL && ((idempotency_key != NULL && idempotency_key[0] != '\0') ||
						      (event_uuid != NULL && event_uuid[0] != '\0')))) {
		free(*key);
		free(*delivery_id);
		*key = NULL;
		*delivery_id = NULL;
		return false;
	}
	return true;
}
