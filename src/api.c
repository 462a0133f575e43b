/*
 * api.c — read endpoints and probes (see api.h).
 */
#include "api.h"

#include "app.h"
#include "auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define EVENTS_DEFAULT_LIMIT 50
#define EVENTS_MAX_LIMIT 500

enum amicd_rc api_read_precheck(struct http_request *req, void *cls, struct amicd_error *err)
{
	const struct app *app = cls;
	const char *authz;

	if (app->cfg->auth.read_token.bytes == NULL)
		return AMICD_OK;
	authz = http_header(req, "Authorization");
	if (auth_bearer(&app->cfg->auth.read_token, authz) | auth_bearer(&app->cfg->auth.admin_token, authz))
		return AMICD_OK;
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
	struct amicd_error err;
	json_t *out = NULL;
	enum amicd_rc rc;

	if (!query_int(req, "limit", 1, EVENTS_MAX_LIMIT, &limit) || !query_int(req, "before", 1, INT64_MAX, &before))
		return;
	rc = store_events_list(app->reader, (int)limit, before, &out, &err);
	if (rc != AMICD_OK) {
		http_reply_error(req, rc, &err);
		return;
	}
	http_reply_json(req, 200, out);
}

void api_event_get(struct http_request *req, void *cls)
{
	struct app *app = cls;
	const char *id_text = http_path(req) + strlen("/api/v1/events/");
	struct amicd_error err;
	char *end = NULL;
	long long id;
	json_t *out = NULL;
	enum amicd_rc rc;

	errno = 0;
	id = strtoll(id_text, &end, 10);
	if (errno != 0 || end == id_text || *end != '\0' || id <= 0) {
		amicd_error_set(&err, AMICD_ERR_NOT_FOUND, NULL, "no event %s", id_text);
		http_reply_error(req, AMICD_ERR_NOT_FOUND, &err);
		return;
	}
	rc = store_event_get(app->reader, id, &out, &err);
	if (rc != AMICD_OK) {
		http_reply_error(req, rc, &err);
		return;
	}
	http_reply_json(req, 200, out);
}

void api_healthz(struct http_request *req, void *cls)
{
	(void)cls;
	http_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

void api_readyz(struct http_request *req, void *cls)
{
	struct app *app = cls;
	struct amicd_error err;
	enum amicd_rc rc = store_check_schema(app->reader, store_migrations, store_migrations_count, &err);

	if (rc != AMICD_OK) {
		http_reply_json(req, 503, json_pack("{s:s,s:s}", "status", "not_ready", "reason", err.message));
		return;
	}
	http_reply_json(req, 200, json_pack("{s:s}", "status", "ready"));
}
