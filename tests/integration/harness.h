/*
 * harness.h — integration-test support: run the real amicd binary on a free
 * loopback port in a temp directory of its own, talk HTTP to it with libcurl,
 * and look into its SQLite database.
 *
 * Every struct amicd_proc owns a temp dir (config, secrets, DB, log) removed by
 * harness_cleanup(), and at most one running amicd, stopped there too, so a
 * failing test leaves no process or file behind. The binary is $AMICD_BIN;
 * fixtures come from $AMICD_TEST_DATA.
 *
 * A trigger receiver (struct h_receiver) plays terraform-resources: an HTTP
 * server on 127.0.0.1:0 inside the test process that records every request
 * and answers a programmable status. Tests synchronise by polling with a
 * deadline (h_wait_until, h_receiver_wait, h_wait_event_done), never by sleeping.
 *
 * Ownership: strings in struct http_result are the caller's (http_result_free);
 * json_t * results are new references; struct h_received copies are the
 * caller's (h_received_clear).
 */
#ifndef AMICD_TEST_HARNESS_H
#define AMICD_TEST_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define H_GITLAB_TOKEN "it-gitlab-token-7f3a9c"
#define H_EB_KEY "it-eventbridge-key-51d2"
#define H_EB_USER "eventbridge"
#define H_EB_PASSWORD "it-eb-password-88aa"
#define H_ADMIN_TOKEN "it-admin-token-c0ffee"
#define H_READ_TOKEN "it-read-token-beef"
/* base64 of the 32 bytes 0x01..0x20 */
#define H_SIGNING_SECRET "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="

struct amicd_opts {
	size_t max_body_bytes;     /* 0: amicd's default */
	int busy_timeout_ms;       /* 0: amicd's default */
	bool signing;              /* configure auth.gitlab_signing */
	bool basic;                /* EventBridge by Basic instead of API key */
	bool read_token;           /* protect the read API with a token */
	const char *trigger_url;   /* default http://127.0.0.1:9/unused */
	const char *trigger_extra; /* extra YAML lines under trigger: (indented 2) */
	/* A trigger command instead of url: trigger_script (shell text) is written to
	 * <dir>/trigger.sh, mode 0755, and becomes `command: [<dir>/trigger.sh]`;
	 * else trigger_command is written verbatim as the command: value (a YAML list). */
	const char *trigger_script;
	const char *trigger_command;
	const char *trigger_token; /* written to <dir>/trigger-token; adds token_file: */
	const char *resources;     /* YAML list for terraformResources (default: one ASG) */
	const char *database;      /* the database path (default <dir>/amicd.db) */
	const char *limits_extra;  /* extra YAML lines under limits: (indented 2) */
	const char *accounts;      /* YAML list for accounts (default: image-builder-stage) */
};

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

struct http_result {
	long status;
	char *body;
	size_t body_len;
	char *headers;             /* raw response header block */
};

/* harness_init — make the temp dir, secrets and config. Returns 0 or -1. */
int harness_init(struct amicd_proc *p, const struct amicd_opts *opts);
/* harness_start — start amicd and wait (bounded) for its "listening" log line. */
int harness_start(struct amicd_proc *p);
/* harness_stop — send sig, wait up to timeout_ms; returns the exit status, or -1 (then killed). */
int harness_stop(struct amicd_proc *p, int sig, int timeout_ms);
/* harness_cleanup — kill amicd if running and remove the temp dir. */
void harness_cleanup(struct amicd_proc *p);

/* HTTP: headers is a NULL-terminated list of "Name: value" (may be NULL). */
int h_post(const struct amicd_proc *p, const char *path, const char *const *headers, const char *body,
	   size_t len, struct http_result *out);
int h_get(const struct amicd_proc *p, const char *path, const char *const *headers, struct http_result *out);
void http_result_free(struct http_result *r);
/* h_header — value of a response header (case-insensitive), copied into buf; NULL if absent. */
const char *h_header(const struct http_result *r, const char *name, char *buf, size_t size);

/*
 * h_connect — a TCP connection to amicd from source address src ("127.0.0.2";
 * NULL: any), blocking; -1 on error. h_raw — send req as it is (any bytes),
 * then read the answer into resp (NUL-terminated) until amicd closes the
 * connection or timeout_ms passes; returns the bytes read, -1 on error.
 */
int h_connect(const struct amicd_proc *p, const char *src);
long h_raw(const struct amicd_proc *p, const void *req, size_t len, char *resp, size_t size, int timeout_ms);

/* Fixtures and files. Caller frees. */
char *h_fixture(const char *name, size_t *len);
char *h_read_file(const char *path, size_t *len);

/* h_db_int — the integer the SQL query returns on the amicd DB (read-only). -1 on error. */
int64_t h_db_int(const struct amicd_proc *p, const char *sql, const char *bind_text);

/* h_log_contains — whether amicd's log holds needle. */
bool h_log_contains(const struct amicd_proc *p, const char *needle);

/* h_now_ms — monotonic milliseconds, for deadlines. */
int64_t h_now_ms(void);

/* Ready-made GitLab / EventBridge header sets with a given Idempotency-Key (may be NULL). */
void h_gitlab_headers(const char *headers[8], const char *event, const char *idem, char idem_buf[128]);
void h_eb_headers(const char *headers[4]);

/* --- waiting and the REST API ------------------------------------------------ */

/* h_wait_until — poll cond(ctx) every few ms until true (true) or timeout_ms passes (false). */
bool h_wait_until(bool (*cond)(void *ctx), void *ctx, int timeout_ms);

/* h_get_json — GET path and parse the body; NULL unless the answer is 200 and JSON. */
json_t *h_get_json(const struct amicd_proc *p, const char *path);

/* h_post_gitlab / h_post_eb — POST a Push Hook (idem may be NULL) / an EventBridge
 * event; return the HTTP status (-1 if the request failed) and set *event_id when
 * the answer carries one. */
long h_post_gitlab(const struct amicd_proc *p, const char *idem, const char *body, int64_t *event_id);
long h_post_eb(const struct amicd_proc *p, const char *body, int64_t *event_id);

/* h_event_status — the event's status through GET /api/v1/events/{id} into buf; NULL if unknown. */
const char *h_event_status(const struct amicd_proc *p, int64_t event_id, char *buf, size_t size);
/* h_wait_event_done — until the worker has taken the event (status no longer "queued"). */
bool h_wait_event_done(const struct amicd_proc *p, int64_t event_id, int timeout_ms);

/* h_pin_file — the default pin file of an ASG: <dir>/pins/<identifier>.yml. */
const char *h_pin_file(const struct amicd_proc *p, const char *identifier, char *buf, size_t size);

/* h_fixture_json — a fixture parsed, to build variants; NULL on error. */
json_t *h_fixture_json(const char *name);
/* h_dump — compact JSON text of j (caller frees); j is borrowed. */
char *h_dump(const json_t *j);

/* h_asg — GET /api/v1/asgs/{identifier}; h_promotions — its "promotions" array
 * (newest first). New references; NULL on error. */
json_t *h_asg(const struct amicd_proc *p, const char *identifier);
json_t *h_promotions(const struct amicd_proc *p, const char *identifier);

/* Fixture variants (caller frees the text):
 * h_push_variant — gitlab-push.json moved to before → after (checkout_sha = after);
 * h_ami_shared_variant — eventbridge-ami-shared.json with envelope id, ImageId (also in
 * resources), the git-sha tag = commit, DestinationAccount = dest; with_tags false
 * drops "Tags" (the share alone). NULL arguments keep the fixture's value. */
char *h_push_variant(const char *before, const char *after);
char *h_ami_shared_variant(const char *id, const char *image_id, const char *commit, const char *dest,
			   bool with_tags);

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

/* h_json_at — the member at a dotted path of nested objects ("pin.commit"), or NULL. */
const json_t *h_json_at(const json_t *j, const char *dotted);

#endif
