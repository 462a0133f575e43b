/*
 * error.h — amicd's one result type and the detail that travels beside it.
 *
 * Every fallible function returns an enum amicd_rc and, when the caller passes
 * a non-NULL struct amicd_error *, fills it with a human message and, for bad
 * input, the JSON path (or file:line:column) at fault. One table (error.c) is
 * the single source of each code's HTTP status, machine-readable code string,
 * Retry-After and its line in docs/api.md (a unit test compares the two).
 *
 * Ownership: struct amicd_error is a plain value (fixed buffers), never freed.
 */
#ifndef AMICD_ERROR_H
#define AMICD_ERROR_H

#include <stdbool.h>

enum amicd_rc {
	AMICD_OK = 0,
	AMICD_ERR_NOMEM,        /* allocation failed */
	AMICD_ERR_IO,           /* a file or socket operation failed */
	AMICD_ERR_CONFIG,       /* the configuration is invalid */
	AMICD_ERR_PARSE,        /* input is not well-formed JSON */
	AMICD_ERR_INVALID,      /* input is JSON but misses or mistypes a field */
	AMICD_ERR_AUTH,         /* credentials missing or wrong */
	AMICD_ERR_NOT_FOUND,    /* no such resource */
	AMICD_ERR_METHOD,       /* method not allowed on this path */
	AMICD_ERR_MEDIA_TYPE,   /* request body is not application/json */
	AMICD_ERR_TOO_LARGE,    /* request body over limits.max_body_bytes */
	AMICD_ERR_CONFLICT,     /* the request conflicts with current state */
	AMICD_ERR_NOT_READY,    /* a manual pin names a commit not ready for the ASG */
	AMICD_ERR_STORE,        /* the store cannot commit (disk full, I/O, locked) */
	AMICD_ERR_BUSY,         /* too much work queued (or body bytes in flight); retry later */
	AMICD_ERR_MIGRATION,    /* applied migrations differ from the known ones */
	AMICD_ERR_INTERNAL,     /* a bug: an invariant did not hold */
	AMICD_RC_COUNT
};

struct amicd_error {
	char message[512];
	char path[256];         /* JSON path ("$.project.web_url") or "" */
};

/*
 * amicd_error_set — record rc's detail in err (if non-NULL) and return rc, so
 * callers can write `return amicd_error_set(err, AMICD_ERR_INVALID, "$.ref", "…")`.
 * path may be NULL. The message is printf-formatted and silently truncated.
 */
enum amicd_rc amicd_error_set(struct amicd_error *err, enum amicd_rc rc,
			      const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* amicd_error_clear — empty message and path (err may be NULL). */
void amicd_error_clear(struct amicd_error *err);

/* amicd_rc_http_status — the HTTP status a request failing with rc answers. */
unsigned amicd_rc_http_status(enum amicd_rc rc);

/* amicd_rc_code — stable machine-readable code ("bad_request", …) for API errors. */
const char *amicd_rc_code(enum amicd_rc rc);

/* amicd_rc_doc — one line of documentation: what the code means to a caller (docs/api.md's line). */
const char *amicd_rc_doc(enum amicd_rc rc);

/* amicd_rc_retry_after — the Retry-After (seconds) an answer with rc carries; 0: none. */
unsigned amicd_rc_retry_after(enum amicd_rc rc);

/* amicd_rc_answered — whether rc is ever an HTTP answer (listed in docs/api.md), not only a start-up failure. */
bool amicd_rc_answered(enum amicd_rc rc);

#endif
