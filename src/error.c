/*
 * error.c — the table behind enum amicd_rc: HTTP status, code string,
 * Retry-After, meaning.
 * Pure: no I/O.
 */
#include "error.h"

#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/*
 * One row per code. doc is the code's line in docs/api.md's error table,
 * word for word (test_error.c compares them); codes that are never an HTTP
 * answer (answered = false: failures at start-up) have no line there.
 */
static const struct {
	unsigned status;
	const char *code;
	unsigned retry_after;     /* seconds; 0: no Retry-After */
	bool answered;
	const char *doc;
} table[AMICD_RC_COUNT] = {
	[AMICD_OK]             = { 200, "ok", 0, false, "success" },
	[AMICD_ERR_NOMEM]      = { 503, "out_of_memory", 5, true, "amicd ran out of memory; nothing was stored; `Retry-After`" },
	[AMICD_ERR_IO]         = { 500, "io_error", 0, false, "a file or socket operation failed" },
	[AMICD_ERR_CONFIG]     = { 500, "config_error", 0, false, "the configuration is invalid" },
	[AMICD_ERR_PARSE]      = { 400, "malformed_json", 0, true, "the body is not well-formed JSON (not retried by GitLab or EventBridge)" },
	[AMICD_ERR_INVALID]    = { 400, "invalid_request", 0, true, "a field is missing, of the wrong type or out of range; `path` names it" },
	[AMICD_ERR_AUTH]       = { 401, "unauthorized", 0, true, "credentials missing or wrong (which part failed is never said)" },
	[AMICD_ERR_NOT_FOUND]  = { 404, "not_found", 0, true, "no such path, ASG, event or commit (also a path that is not UTF-8)" },
	[AMICD_ERR_METHOD]     = { 405, "method_not_allowed", 0, true, "see the `Allow` header (also a method that is not UTF-8)" },
	[AMICD_ERR_MEDIA_TYPE] = { 415, "unsupported_media_type", 0, true, "the body must be `application/json`" },
	[AMICD_ERR_TOO_LARGE]  = { 413, "payload_too_large", 0, true, "body over `limits.max_body_bytes` (25 MiB, GitLab's own cap): with a `Content-Length`, the body is not read; a chunked body is answered as soon as it passes the limit and its connection closed, the rest never read" },
	[AMICD_ERR_CONFLICT]   = { 409, "conflict", 0, true, "a replay is already running" },
	[AMICD_ERR_NOT_READY]  = { 409, "not_ready", 0, true, "manual pin: the commit is not ready for the ASG, or blocked for it; `commit` and `missing` say why" },
	[AMICD_ERR_STORE]      = { 503, "store_unavailable", 5, true, "the delivery could not be committed (disk full, I/O error, database locked); nothing was stored; `Retry-After` says when to retry" },
	[AMICD_ERR_BUSY]       = { 503, "busy", 5, true, "more deliveries in flight than `limits.max_inflight`; a body that would carry the bodies in flight past `limits.max_inflight_bytes` (not read when it has a `Content-Length`; a chunked one is answered as soon as it passes and its connection closed); a reconcile whose sources did not answer in time; or amicd is stopping; `Retry-After`" },
	[AMICD_ERR_MIGRATION]  = { 500, "migration_error", 0, false, "the database schema does not match this build" },
	[AMICD_ERR_INTERNAL]   = { 500, "internal_error", 0, true, "a bug; the log has the detail" },
};

enum amicd_rc amicd_error_set(struct amicd_error *err, enum amicd_rc rc,
			      const char *path, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	snprintf(err->path, sizeof err->path, "%s", path != NULL ? path : "");
	/* messages quote input and are cut at a fixed size: keep them valid UTF-8 for JSON */
	utf8_repair(err->message);
	utf8_repair(err->path);
	return rc;
}

void amicd_error_clear(struct amicd_error *err)
{
	if (err == NULL)
		return;
	err->message[0] = '\0';
	err->path[0] = '\0';
}

unsigned amicd_rc_http_status(enum amicd_rc rc)
{
	if ((unsigned)rc >= AMICD_RC_COUNT)
		return 500;
	return table[rc].status;
}

const char *amicd_rc_code(enum amicd_rc rc)
{
	if ((unsigned)rc >= AMICD_RC_COUNT)
		return "internal_error";
	return table[rc].code;
}

const char *amicd_rc_doc(enum amicd_rc rc)
{
	if ((unsigned)rc >= AMICD_RC_COUNT)
		return "unknown error";
	return table[rc].doc;
}

unsigned amicd_rc_retry_after(enum amicd_rc rc)
{
	if ((unsigned)rc >= AMICD_RC_COUNT)
		return 0;
	return table[rc].retry_after;
}

bool amicd_rc_answered(enum amicd_rc rc)
{
	if ((unsigned)rc >= AMICD_RC_COUNT)
		return false;
	return table[rc].answered;
}
