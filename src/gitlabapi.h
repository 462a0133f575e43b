/*
 * gitlabapi.h — asking GitLab for a branch's head: one
 * GET /api/v4/projects/{path}/repository/branches/{branch} with a
 * PRIVATE-TOKEN, answered as one of four outcomes the reconciler acts on
 * (design §9): the head; the branch is gone (404 Branch Not Found: recorded,
 * not an error); try again later (429, 5xx, a timeout or a connection
 * failure: back off, honouring Retry-After); or the source fails (401, 403,
 * 404 Project Not Found — the token cannot see the project —, an answer that
 * is not a branch) until someone fixes it.
 *
 * Blocking, bounded by the caller's timeout; never on a request path. The
 * token goes only into the request's header, which is wiped after use: it is
 * in no error message, log line or returned field.
 *
 * Ownership: the request's strings are borrowed; answer->body is the caller's
 * (free with gitlab_branch_answer_free).
 */
#ifndef AMICD_GITLABAPI_H
#define AMICD_GITLABAPI_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>

struct gitlab_branch_request {
	const char *url;            /* repo_url_gitlab_branch() */
	const char *token;          /* the PRIVATE-TOKEN (read_api scope), NUL-terminated */
	long timeout_ms;            /* the whole request; 0: 10 s */
	/* optional: polled during the transfer; true aborts it (a stopping server) */
	bool (*cancel)(void *cls);
	void *cancel_cls;
};

enum gitlab_branch_outcome {
	GITLAB_BRANCH_HEAD,         /* commit holds the head */
	GITLAB_BRANCH_GONE,         /* no such branch (deleted, or never pushed) */
	GITLAB_BRANCH_RETRY,        /* transient: 429, 5xx, timeout, connection refused */
	GITLAB_BRANCH_FAILING,      /* the source fails until fixed: 401, 403, unknown project, a bad answer */
};

#define GITLAB_MAX_ANSWER_BYTES (1024 * 1024)

struct gitlab_branch_answer {
	enum gitlab_branch_outcome outcome;
	char commit[72];            /* HEAD: 40 or 64 hex, lower case */
	long http_status;           /* 0 when no answer came */
	unsigned retry_after_s;     /* RETRY: the server's Retry-After in seconds, 0 when none */
	char error[256];            /* RETRY / FAILING: what happened, for the ASG's problem and the log */
	char *body;                 /* the answer as received (NUL-terminated), NULL when none */
	size_t body_len;
};

/*
 * gitlab_branch_get — one request. AMICD_OK whatever GitLab answered (the
 * outcome says what); AMICD_ERR_NOMEM or AMICD_ERR_INTERNAL only when the
 * request could not be made at all.
 */
enum amicd_rc gitlab_branch_get(const struct gitlab_branch_request *rq, struct gitlab_branch_answer *out,
				struct amicd_error *err);

void gitlab_branch_answer_free(struct gitlab_branch_answer *answer);

#endif
