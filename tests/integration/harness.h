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
 * Ownership: strings in struct http_result are the caller's (http_result_free).
 */
#ifndef AMICD_TEST_HARNESS_H
#define AMICD_TEST_HARNESS_H

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
	const char *resources;     /* YAML list for terraformResources (default: one ASG) */
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

#endif
