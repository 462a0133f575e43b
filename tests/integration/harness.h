/*
 * harness.h — integration-test support: run the real amicd binary on a free
 * loopback port in a temp directory of its own, talk HTTP to it with libcurl,
 * feed it deliveries built from the fixtures, wait for what it does, and look
 * into its SQLite database.
 *
 * Every struct amicd_proc owns a temp dir (config and secrets written by
 * support_config_write, DB, log) removed by harness_cleanup(), and at most one
 * running amicd, stopped there too, so a failing test leaves no process or file
 * behind. The binary is $AMICD_BIN; fixtures come from $AMICD_TEST_DATA. What
 * is not about amicd itself (temp dirs, files, fixtures, polling, HTTP, SQLite)
 * is support.h's, shared with the unit tests and included here.
 *
 * A trigger receiver (struct h_receiver) plays terraform-resources: an HTTP
 * server on 127.0.0.1:0 inside the test process that records every request
 * and answers a programmable status. Tests synchronise by polling with a
 * deadline (support_wait_until, h_receiver_wait, h_wait_event_done, h_wait_pin,
 * h_wait_log, h_wait_file_contains), never by sleeping.
 *
 * h_post_hook, h_post_gitlab, h_post_eb and h_num fail the running cmocka test
 * (fail_msg) on an answer they cannot read: call them from the test's thread.
 *
 * Ownership: strings in struct http_result are the caller's (http_result_free);
 * json_t * results are new references (const json_t * are borrowed from the
 * argument); char * results are the caller's to free; struct h_received copies
 * are the caller's (h_received_clear).
 */
#ifndef AMICD_TEST_HARNESS_H
#define AMICD_TEST_HARNESS_H

#include "../unit/support.h"

#include <curl/curl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cmocka.h>

struct amicd_proc {
	char dir[256];
	char config[320];
	char db[320];
	char log[320];
	pid_t pid;
	unsigned port;
	char base[64];             /* "http://127.0.0.1:PORT" */
	off_t log_mark;            /* log size at the last start */
};

/* harness_init — make the temp dir, secrets and config. Returns 0 or -1. */
int harness_init(struct amicd_proc *p, const struct amicd_opts *opts);
/* harness_start — start amicd and wait (bounded) for its "listening" log line. */
int harness_start(struct amicd_proc *p);
/* harness_stop — send sig, wait up to timeout_ms; returns the exit status, or -1 (then killed). */
int harness_stop(struct amicd_proc *p, int sig, int timeout_ms);
/* harness_cleanup — kill amicd if running and remove the temp dir. */
void harness_cleanup(struct amicd_proc *p);
/*
 * h_stop_and_check — for a teardown that wants a clean end: 0 when amicd (if
 * running) exits 0 on SIGTERM and its log holds no sanitizer report, else -1
 * (said on stderr). A proc never initialised is fine.
 */
int h_stop_and_check(struct amicd_proc *p);

/* --- cmocka fixtures ------------------------------------------------------------ */

/*
 * h_proc_setup — *state becomes a struct amicd_proc with opts (NULL: defaults),
 * started unless start is false; h_proc_teardown stops and removes it. For
 * cmocka setup/teardown functions: 0 or -1.
 */
int h_proc_setup(void **state, const struct amicd_opts *opts, bool start);
int h_proc_teardown(void **state);

/* A test's amicd (p), a second one when a test needs it (q), and a trigger receiver. */
struct h_fx {
	struct amicd_proc p;
	struct amicd_proc q;
	struct h_receiver *rx;     /* NULL unless asked for */
};

enum {
	H_FX_RECEIVER = 1 << 0,    /* start a receiver; the trigger url points at it (unless a command is set) */
	H_FX_NO_START = 1 << 1,    /* initialise p, do not start it */
};

/* h_fx_setup — *state becomes a struct h_fx (flags H_FX_*); h_fx_teardown stops and frees all of it. */
int h_fx_setup(void **state, const struct amicd_opts *opts, unsigned flags);
int h_fx_teardown(void **state);

/* h_run_tests — run a cmocka group between curl_global_init and curl_global_cleanup; its result. */
#define h_run_tests(name, tests, group_setup, group_teardown)                                               \
	h_run_group((name), (tests), sizeof(tests) / sizeof((tests)[0]), (group_setup), (group_teardown))
int h_run_group(const char *name, const struct CMUnitTest *tests, size_t n, CMFixtureFunction group_setup,
		CMFixtureFunction group_teardown);

/* --- HTTP ------------------------------------------------------------------------ */

/* h_post / h_get — support_http to p's base URL + path; headers NULL-terminated "Name: value" (may be NULL). */
int h_post(const struct amicd_proc *p, const char *path, const char *const *headers, const char *body,
	   size_t len, struct http_result *out);
int h_get(const struct amicd_proc *p, const char *path, const char *const *headers, struct http_result *out);

/*
 * h_connect — a TCP connection to amicd from source address src ("127.0.0.2";
 * NULL: any), blocking; -1 on error. h_raw — send req as it is (any bytes),
 * then read the answer into resp (NUL-terminated) until amicd closes the
 * connection or timeout_ms passes; returns the bytes read, -1 on error.
 */
int h_connect(const struct amicd_proc *p, const char *src);
long h_raw(const struct amicd_proc *p, const void *req, size_t len, char *resp, size_t size, int timeout_ms);

/* Ready-made GitLab / EventBridge header sets with a given Idempotency-Key (may be NULL). */
void h_gitlab_headers(const char *headers[8], const char *event, const char *idem, char idem_buf[128]);
void h_eb_headers(const char *headers[4]);

/*
 * For senders that keep one CURL handle: h_gitlab_slist — the Push Hook headers
 * with Idempotency-Key key (and "Expect:"), the caller's to curl_slist_free_all;
 * h_curl_gitlab_post — point c at POST /hooks/gitlab with those headers and
 * body (borrowed until the transfer ends), a 30 s timeout and no signals. The
 * caller sets its own write and header functions.
 */
struct curl_slist *h_gitlab_slist(const char *key);
void h_curl_gitlab_post(CURL *c, const struct amicd_proc *p, struct curl_slist *headers, const char *body,
			size_t len);

/*
 * h_post_hook — POST body to a hook path with headers; returns the HTTP status
 * (-1 when no answer came). On a 200/202 answer, *event_id and word (both may
 * be NULL) get its event_id and status ("" when absent); fails the test when
 * that answer is not JSON. h_post_gitlab — with the GitLab headers, X-Gitlab-Event
 * event (NULL: none) and Idempotency-Key idem (NULL: none); h_post_eb — with the
 * EventBridge headers.
 */
long h_post_hook(const struct amicd_proc *p, const char *path, const char *const *headers, const char *body,
		 int64_t *event_id, char *word, size_t size);
long h_post_gitlab(const struct amicd_proc *p, const char *event, const char *idem, const char *body,
		   int64_t *event_id, char *word, size_t size);
long h_post_eb(const struct amicd_proc *p, const char *body, int64_t *event_id, char *word, size_t size);

/* --- the REST API and the JSON it answers ----------------------------------------- */

/* h_get_json — GET path with the read token (harmless when none is configured) and parse the body;
 * NULL unless the answer is 200 and JSON. */
json_t *h_get_json(const struct amicd_proc *p, const char *path);

/* h_asg — GET /api/v1/asgs/{identifier}; h_promotions — its "promotions" array
 * (newest first). New references; NULL on error. */
json_t *h_asg(const struct amicd_proc *p, const char *identifier);
json_t *h_promotions(const struct amicd_proc *p, const char *identifier);

/* h_event_status — the event's status through GET /api/v1/events/{id} into buf; NULL if unknown. */
const char *h_event_status(const struct amicd_proc *p, int64_t event_id, char *buf, size_t size);

/* h_json_at — the member at a dotted path ("pin.commit"; a number indexes an array: "problems.0.code"), or NULL. */
const json_t *h_json_at(const json_t *j, const char *dotted);
/* The string at a dotted path: h_str NULL, h_text "" when absent or not a string. */
const char *h_str(const json_t *j, const char *dotted);
const char *h_text(const json_t *j, const char *dotted);
/* The integer at a dotted path: h_int 0 when absent; h_num fails the test unless it is an integer. */
json_int_t h_int(const json_t *j, const char *dotted);
json_int_t h_num(const json_t *j, const char *dotted);
/* h_dump — compact JSON text of j (caller frees); j is borrowed. */
char *h_dump(const json_t *j);

/* --- waiting (each polls until true or timeout_ms passes; false then) --------------- */

/* h_wait_event_done — until the worker has taken the event (status no longer "queued"). */
bool h_wait_event_done(const struct amicd_proc *p, int64_t event_id, int timeout_ms);
/* h_pin_is — whether the ASG's pin is commit now; h_wait_pin — until it is. */
bool h_pin_is(const struct amicd_proc *p, const char *identifier, const char *commit);
bool h_wait_pin(const struct amicd_proc *p, const char *identifier, const char *commit, int timeout_ms);
/* h_wait_log — until amicd's log holds needle. */
bool h_wait_log(const struct amicd_proc *p, const char *needle, int timeout_ms);
/* h_wait_file_contains — until the file at path holds needle. */
bool h_wait_file_contains(const char *path, const char *needle, int timeout_ms);

/* --- files and the database ---------------------------------------------------------- */

/* h_pin_file — the default pin file of an ASG: <dir>/pins/<identifier>.yml. */
const char *h_pin_file(const struct amicd_proc *p, const char *identifier, char *buf, size_t size);

/* h_db_int — support_db_int on the amicd DB. */
int64_t h_db_int(const struct amicd_proc *p, const char *sql, const char *bind_text);

/* h_log_contains — whether amicd's log holds needle. */
bool h_log_contains(const struct amicd_proc *p, const char *needle);

/* --- deliveries built from the fixtures (caller frees the text; NULL on error) -------- */

/*
 * h_fixture_with — fixture name with the member at a dotted path of object keys
 * set to value (taken; NULL: deleted).
 * h_push_variant — gitlab-push.json moved to before → after (checkout_sha = after).
 * h_ami_shared_variant — eventbridge-ami-shared.json with envelope id, ImageId (also in
 * resources), the git-sha tag = commit, DestinationAccount = dest; with_tags false
 * drops "Tags" (the share alone). NULL arguments keep the fixture's value.
 * h_state_variant — eventbridge-ami-state-change.json with envelope id, time, image, state.
 * h_share_variant — a ModifyImageAttribute by the owner at time: launch permission of
 * account added (add) or removed.
 * h_createtags_variant — CreateTags as called in account viewer (CloudTrail in that
 * account): the git-sha tag of image = commit.
 */
char *h_fixture_with(const char *name, const char *dotted, json_t *value);
char *h_push_variant(const char *before, const char *after);
char *h_ami_shared_variant(const char *id, const char *image_id, const char *commit, const char *dest,
			   bool with_tags);
char *h_state_variant(const char *id, const char *image_id, const char *state, const char *time);
char *h_share_variant(const char *id, const char *image_id, const char *account, bool add, const char *time);
char *h_createtags_variant(const char *id, const char *viewer, const char *image_id, const char *commit);

/* --- the trigger receiver ------------------------------------------------------ */

struct h_receiver;

/* One recorded request. Strings are empty when the header was absent. */
struct h_received {
	char method[16];
	char path[256];
	char idempotency_key[128];
	char authorization[256];
	char content_type[128];
	char *body;                /* NUL-terminated */
	size_t body_len;
	unsigned status;           /* what the receiver answered */
	int64_t received_ms;       /* h_now_ms() when the request was complete */
	bool watched_file_existed; /* the file of h_receiver_watch_file existed at that moment */
};

/* h_receiver_start — listen on 127.0.0.1:0; answers 200 until programmed. NULL on error. */
struct h_receiver *h_receiver_start(void);
/* h_receiver_stop — end hanging answers, stop, free; *r set to NULL; NULL is a no-op. */
void h_receiver_stop(struct h_receiver **r);
/* h_receiver_url — "http://127.0.0.1:PORT/terraform-resources". */
const char *h_receiver_url(const struct h_receiver *r);
/* h_receiver_answer — the next first_n requests get first_status, every later one then_status. */
void h_receiver_answer(struct h_receiver *r, unsigned first_status, size_t first_n, unsigned then_status);
/* h_receiver_watch_file — record, with each request, whether path exists at that moment. */
void h_receiver_watch_file(struct h_receiver *r, const char *path);
/* h_receiver_hang — hold each answer for ms (0: answer at once); cut short by h_receiver_stop. */
void h_receiver_hang(struct h_receiver *r, int ms);
/* h_receiver_count — requests fully received so far. */
size_t h_receiver_count(struct h_receiver *r);
/* h_receiver_wait — until at least n requests were received (true) or timeout_ms passes (false). */
bool h_receiver_wait(struct h_receiver *r, size_t n, int timeout_ms);
/* h_receiver_get — a copy of request i (0 = first); false when there is no such request. */
bool h_receiver_get(struct h_receiver *r, size_t i, struct h_received *out);
void h_received_clear(struct h_received *rec);

#endif
