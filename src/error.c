/*
 * error.c — the table behind enum amicd_rc: HTTP status, code string, meaning.
 * Pure: no I/O.
 */
#include "error.h"

#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
	unsigned status;
	const char *code;
	const char *doc;
} table[AMICD_RC_COUNT] = {
	[AMICD_OK]             = { 200, "ok", "success" },
	[AMICD_ERR_NOMEM]      = { 503, "out_of_memory", "the server ran out of memory; retry later" },
	[AMICD_ERR_IO]         = { 500, "io_error", "a file or socket operation failed" },
	[AMICD_ERR_CONFIG]     = { 500, "config_error", "the configuration is invalid" },
	[AMICD_ERR_PARSE]      = { 400, "malformed_json", "the body is not well-formed JSON; not retried" },
	[AMICD_ERR_INVALID]    = { 400, "invalid_request", "a required field is missing or has the wrong type; error.path names it" },
	[AMICD_ERR_AUTH]       = { 401, "unauthorized", "credentials are missing or wrong" },
	[AMICD_ERR_NOT_FOUND]  = { 404, "not_found", "no such resource" },
	[AMICD_ERR_METHOD]     = { 405, "method_not_allowed", "the method is not allowed on this path; see Allow" },
	[AMICD_ERR_MEDIA_TYPE] = { 415, "unsupported_media_type", "the body must be application/json" },
	[AMICD_ERR_TOO_LARGE]  = { 413, "payload_too_large", "the body is larger than limits.max_body_bytes" },
	[AMICD_ERR_CONFLICT]   = { 409, "conflict", "the request conflicts with the current state" },
	[AMICD_ERR_STORE]      = { 503, "store_unavailable", "the delivery could not be committed; nothing was stored; retry after Retry-After" },
	[AMICD_ERR_BUSY]       = { 503, "busy", "too many deliveries in flight; retry after Retry-After" },
	[AMICD_ERR_MIGRATION]  = { 500, "migration_error", "the database schema does not match this build" },
	[AMICD_ERR_INTERNAL]   = { 500, "internal_error", "an internal invariant failed" },
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
