/*
 * gitlab.h — what a GitLab webhook delivery says, from its X-Gitlab-Event header
 * and its JSON body.
 *
 * Pure: no I/O, no HTTP, no config. The caller decides whether a push concerns
 * a tracked repo and branch.
 *
 * Ownership: the body is borrowed; strings in struct gitlab_push are owned by
 * it and released by gitlab_push_clear().
 */
#ifndef AMICD_GITLAB_H
#define AMICD_GITLAB_H

#include "error.h"

#include <jansson.h>
#include <stdbool.h>

#define GITLAB_REPO_URLS 3

struct gitlab_push {
	char *repo_urls[GITLAB_REPO_URLS]; /* web_url, git_http_url, git_ssh_url in normal form (or NULL) */
	char *ref;                        /* "refs/heads/main" */
	const char *branch;               /* points into ref after "refs/heads/", or NULL */
	char before[65];                  /* lower-case hex: 40 (SHA-1) or 64 (SHA-256) digits */
	char after[65];
	bool created;                     /* before is all zeros */
	bool deleted;                     /* after is all zeros */
};

/*
 * gitlab_event_kind — the kind of a delivery: "push", "tag_push", "system" for
 * every X-Gitlab-Event: System Hook (whatever its object_kind), or for other
 * events GitLab's object_kind ("merge_request", …) or a name made from the
 * header ("Job Hook" → "job"). Returns NULL when neither the header nor
 * object_kind says (a malformed delivery). The result is static or points into
 * body (valid while body is).
 */
const char *gitlab_event_kind(const char *event_header, const json_t *body, char *buf, size_t size);

/*
 * gitlab_push_identify — what a push body is about, and nothing else: ref
 * (branch) and repo_urls; before and after are left empty. Whether a push
 * concerns a tracked branch is decided on this alone, so that a push amicd
 * ignores is never refused for a field amicd would not use (GitLab disables a
 * group or system hook that keeps failing, for every project behind it).
 * Fails with AMICD_ERR_INVALID and the JSON path of the first missing or
 * malformed field ($.ref, $.project, $.project.web_url). On failure out is
 * cleared.
 */
enum amicd_rc gitlab_push_identify(const json_t *body, struct gitlab_push *out, struct amicd_error *err);

/*
 * gitlab_push_commits — complete an identified push with before and after
 * (40- or 64-hex, lower-cased), created and deleted. Fails with
 * AMICD_ERR_INVALID and $.before / $.after; on failure out is cleared.
 */
enum amicd_rc gitlab_push_commits(const json_t *body, struct gitlab_push *out, struct amicd_error *err);

/* gitlab_push_parse — gitlab_push_identify, then gitlab_push_commits. */
enum amicd_rc gitlab_push_parse(const json_t *body, struct gitlab_push *out, struct amicd_error *err);

/*
 * gitlab_dedup_key — the key that recognises a re-delivery of the same event:
 * "idem:<Idempotency-Key>" when that header is present (GitLab 17.4+ keeps it on
 * retries and manual resends), else "uuid:<X-Gitlab-Event-UUID>:<body sha256>",
 * else "sha256:<body sha256>". *delivery_id is the sender's id for the delivery
 * (Idempotency-Key, else X-Gitlab-Event-UUID) or NULL. Both are the caller's to
 * free. Empty header values count as absent. Returns false on out of memory.
 */
bool gitlab_dedup_key(const char *idempotency_key, const char *event_uuid, const char *body_sha256,
		      char **key, char **delivery_id);

/* gitlab_push_clear — release what out owns and zero it. */
void gitlab_push_clear(struct gitlab_push *p);

#endif
