/*
 * support.h — the scaffolding every test shares: temp directories, files and
 * the fixtures under tests/data, the one writer of amicd configs (with their
 * secret files), polling with a deadline, HTTP over loopback with libcurl, and
 * SQLite helpers (a migrated store, events to hang facts on, one-value queries
 * on a connection of their own).
 *
 * Linked into every unit test (the Makefile links every support file of
 * tests/unit, i.e. each .c there that is not a test_ one) and into every
 * integration test, whose harness.h includes this header. Helpers never assert: they return NULL, -1 or false and say why
 * on stderr, so cmocka's setup functions (which must not fail_msg) can use them
 * as well as the tests, which assert on the result. Nothing here sleeps to
 * synchronise: support_wait_until polls a condition until a deadline.
 *
 * Fixtures are read from $AMICD_TEST_DATA (set by `make test`), else
 * "tests/data".
 *
 * Ownership: arguments are borrowed; returned char * are the caller's to free;
 * returned json_t * are new references; a struct http_result is emptied with
 * http_result_free; a struct config with config_free; a struct store with
 * store_close.
 */
#ifndef AMICD_TEST_SUPPORT_H
#define AMICD_TEST_SUPPORT_H

#include "config.h"
#include "error.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The secrets every config written by support_config_write refers to. */
#define SUPPORT_GITLAB_TOKEN "it-gitlab-token-7f3a9c"
#define SUPPORT_EB_KEY "it-eventbridge-key-51d2"
#define SUPPORT_EB_USER "eventbridge"
#define SUPPORT_EB_PASSWORD "it-eb-password-88aa"
#define SUPPORT_ADMIN_TOKEN "it-admin-token-c0ffee"
#define SUPPORT_READ_TOKEN "it-read-token-beef"
/* base64 of the 32 bytes 0x01..0x20 */
#define SUPPORT_SIGNING_SECRET "whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="

/* The config every test starts from: one ASG following the golden images' main. */
#define SUPPORT_ASG "workers-stage"
#define SUPPORT_ACCOUNT "image-builder-stage"
#define SUPPORT_ACCOUNT_UID "444455556666"
#define SUPPORT_REGION "eu-west-1"
#define SUPPORT_REPO "https://gitlab.example.net/platform/golden-images"

/* --- time and waiting ---------------------------------------------------------- */

/* support_now_ms — monotonic milliseconds, for deadlines. */
int64_t support_now_ms(void);

/* support_wait_until — poll cond(ctx) every few ms until true (true) or timeout_ms passes (false). */
bool support_wait_until(bool (*cond)(void *ctx), void *ctx, int timeout_ms);

/* --- temp directories, files, fixtures ------------------------------------------- */

/*
 * support_tmpdir — make a fresh directory <base>/<prefix>-XXXXXX into dir
 * (base NULL or "": $TMPDIR, else /tmp). Returns 0, or -1 with dir "".
 */
int support_tmpdir(char *dir, size_t size, const char *base, const char *prefix);

/* support_rmtree — remove dir and everything below it; "" is a no-op. 0, or -1 when something stayed. */
int support_rmtree(const char *dir);

/* support_write_file — write text to dir/name (dir NULL: name is the path), replacing it. 0 or -1. */
int support_write_file(const char *dir, const char *name, const char *text);

/* support_read_file — the whole file, NUL-terminated (its length in *len, may be NULL); NULL on error. */
char *support_read_file(const char *path, size_t *len);

/* support_replace_all — text with every find replaced by repl; *count (may be NULL) gets the number. */
char *support_replace_all(const char *text, const char *find, const char *repl, size_t *count);

/* support_data_dir — where the fixtures are: $AMICD_TEST_DATA, else "tests/data". */
const char *support_data_dir(void);

/* support_fixture — a fixture's bytes (NUL-terminated); NULL, said on stderr, when it cannot be read. */
char *support_fixture(const char *name, size_t *len);

/* support_fixture_json — a fixture parsed; NULL, said on stderr, when it cannot be read or parsed. */
json_t *support_fixture_json(const char *name);

/* --- configs ---------------------------------------------------------------------- */

/* What a config written by support_config_write holds beyond its defaults. */
struct amicd_opts {
	size_t max_body_bytes;     /* 0: amicd's default */
	int busy_timeout_ms;       /* 0: amicd's default */
	bool signing;              /* configure auth.gitlab_signing */
	bool signing_only;         /* auth.gitlab_signing and no auth.gitlab (implies signing) */
	bool basic;                /* EventBridge by Basic instead of API key */
	bool read_token;           /* protect the read API with a token */
	const char *log_level;     /* NULL: amicd's default */
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
	const char *extra;         /* top-level YAML lines appended (gitlab_api, aws, reconcile, …) */
};

/*
 * support_config_write — write into dir the secret files (SUPPORT_* above) and
 * <dir>/amicd.yml: listen 127.0.0.1:0, the database, pins_dir <dir>/pins, the
 * auth, limits and trigger opts asks for (opts NULL: defaults), the accounts and
 * the ASGs. The config's path goes to path. Returns 0 or -1.
 */
int support_config_write(const char *dir, const struct amicd_opts *opts, char *path, size_t size);

/* support_config_load — support_config_write, then config_load; NULL (the diagnostics on stderr) on error. */
struct config *support_config_load(const char *dir, const struct amicd_opts *opts);

/* --- HTTP ------------------------------------------------------------------------- */

/* support_curl_setup, support_curl_teardown — cmocka group fixtures: curl_global_init, curl_global_cleanup. */
int support_curl_setup(void **state);
int support_curl_teardown(void **state);

/* A growing, NUL-terminated buffer; support_buf_append is a libcurl write/header function for it. */
struct support_buf {
	char *data;
	size_t len;
};
size_t support_buf_append(char *ptr, size_t size, size_t n, void *buf);

struct http_result {
	long status;               /* 0 when no answer came */
	char *body;
	size_t body_len;
	char *headers;             /* raw response header block */
};

/*
 * support_http — one request with libcurl: method to url, headers a
 * NULL-terminated list of "Name: value" (may be NULL; "Expect:" is added), body
 * of len bytes (NULL: none), at most timeout_ms. *out is filled (body and
 * headers "" when none) whatever happens; returns 0, or -1 when no answer came.
 */
int support_http(const char *method, const char *url, const char *const *headers, const char *body, size_t len,
		 long timeout_ms, struct http_result *out);
void http_result_free(struct http_result *r);
/* http_result_header — a response header's value (name case-insensitive) copied into buf; NULL if absent. */
const char *http_result_header(const struct http_result *r, const char *name, char *buf, size_t size);

/* --- SQLite ------------------------------------------------------------------------ */

/* support_db_int — the integer the query returns, read on a read-only connection of its own
 * (?1 bound to bind_text unless NULL); -1 on error or without a row. */
int64_t support_db_int(const char *db_path, const char *sql, const char *bind_text);
/* support_db_text — the first column of the query's first row as text into buf ("" without one). 0 or -1. */
int support_db_text(const char *db_path, const char *sql, char *buf, size_t size);
/* support_db_exec — run sql (any statements) on a read-write connection of its own. 0, or -1 with the
 * message in msg. */
int support_db_exec(const char *db_path, const char *sql, char *msg, size_t size);

/* support_store_open_migrated — store_open, then every embedded migration (store_migrations). */
enum amicd_rc support_store_open_migrated(const char *path, int busy_timeout_ms, struct store **out,
					  struct amicd_error *err);

/*
 * support_event_put — store one queued event inside the caller's transaction
 * (source "gitlab" or "eventbridge", kind, dedup key, payload text, receipt
 * time); *id gets its row (the earlier row's when it is a duplicate).
 */
enum amicd_rc support_event_put(struct store *st, const char *source, const char *kind, const char *key,
				const char *payload, int64_t received_at_ms, int64_t *id, struct amicd_error *err);

#endif
