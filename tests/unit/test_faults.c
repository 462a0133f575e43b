/*
 * test_faults.c — the whole server, in this process, over the fault VFS: a
 * write, sync or truncate of the database fails (full disk, I/O error) at
 * every call of a delivery's commit, of the worker's pass and of an admin
 * action, in turn. After each: the client was told 503 + Retry-After, /readyz
 * said not ready, nothing acknowledged is missing, and once the fault is
 * lifted the same operation succeeds — without a restart.
 *
 * The server is started with server_start() on 127.0.0.1:0 from a config
 * written to a temp dir; requests go over loopback with libcurl. Faults can be
 * limited to one thread (faultvfs_only_thread), so the worker's or an admin
 * request's writes fail while deliveries still commit. Waiting is polling
 * with a deadline, never a fixed sleep.
 */
#include "config.h"
#include "faultvfs.h"
#include "log.h"
#include "server.h"

#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define WAIT_MS 30000
#define ADMIN_TOKEN "faults-admin-token"
#define GITLAB_TOKEN "faults-gitlab-token"

struct fx {
	char dir[PATH_MAX - 64];
	char db[PATH_MAX];
	struct config *cfg;
	struct app *app;
	char base[64];
	char *push;           /* gitlab-push.json */
	int n;                /* deliveries made, for unique keys */
	int acked;            /* deliveries answered 2xx */
	bool frozen;          /* the ASG's state after the last admin action that went through */
};

struct reply {
	long status;
	char retry_after[32];
	char *body;
	size_t len;
};

/* --- plumbing -------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static size_t on_body(char *p, size_t size, size_t n, void *cls)
{
	struct reply *r = cls;
	char *grown = realloc(r->body, r->len + size * n + 1);

	if (grown == NULL)
		return 0;
	r->body = grown;
	memcpy(r->body + r->len, p, size * n);
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *cls)
{
	struct reply *r = cls;
	size_t len = size * n;

	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		size_t v = 12;

		while (v < len && p[v] == ' ')
			v++;
		snprintf(r->retry_after, sizeof r->retry_after, "%.*s", (int)(len - v), p + v);
		r->retry_after[strcspn(r->retry_after, "\r\n")] = '\0';
	}
	return len;
}

static void request(struct fx *fx, const char *method, const char *path, const char *const *headers,
		    const char *body, struct reply *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[256];

	memset(r, 0, sizeof *r);
	assert_non_null(c);
	snprintf(url, sizeof url, "%s%s", fx->base, path);
	for (; headers != NULL && *headers != NULL; headers++)
		h = curl_slist_append(h, *headers);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

static void reply_free(struct reply *r)
{
	free(r->body);
	r->body = NULL;
}

/* POST one push delivery with a fresh Idempotency-Key; its status (and the reply). */
static long deliver(struct fx *fx, struct reply *r)
{
	char idem[96];
	const char *headers[] = { "Content-Type: application/json", "X-Gitlab-Event: Push Hook",
				  "X-Gitlab-Token: " GITLAB_TOKEN, idem, NULL };

	snprintf(idem, sizeof idem, "Idempotency-Key: faults-%d", fx->n++);
	request(fx, "POST", "/hooks/gitlab", headers, fx->push, r);
	if (r->status >= 200 && r->status < 300)
		fx->acked++;
	return r->status;
}

static long get_status(struct fx *fx, const char *path)
{
	struct reply r;

	request(fx, "GET", path, NULL, NULL, &r);
	reply_free(&r);
	return r.status;
}

/* Poll until GET path answers want, or the deadline passes. */
static bool wait_status(struct fx *fx, const char *path, long want, int timeout_ms)
{
	int64_t until = now_ms() + timeout_ms;

	while (now_ms() < until) {
		if (get_status(fx, path) == want)
			return true;
		pause_ms(20);
	}
	return false;
}

static int64_t db_int(struct fx *fx, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	/* a raw connection of its own; faults are off or on another thread while it reads */
	if (sqlite3_open_v2(fx->db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static bool wait_db(struct fx *fx, const char *sql, int64_t want, int timeout_ms)
{
	int64_t until = now_ms() + timeout_ms;

	while (now_ms() < until) {
		if (db_int(fx, sql) == want)
			return true;
		pause_ms(20);
	}
	return false;
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long len;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)len + 1);
		if (buf != NULL && fread(buf, 1, (size_t)len, f) == (size_t)len)
			buf[len] = '\0';
		else {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof *fx);
	const char *tmp = getenv("TMPDIR");
	const char *data = getenv("AMICD_TEST_DATA");
	struct config_diag diag = { 0 };
	struct amicd_error err = { { 0 }, { 0 } };
	char path[PATH_MAX], yaml[6 * PATH_MAX];

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof fx->dir, "%s/amicd-test-faults-XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->db, sizeof fx->db, "%s/amicd.db", fx->dir);
	snprintf(path, sizeof path, "%s/gitlab-push.json", data != NULL ? data : "tests/data");
	fx->push = read_all(path);
	if (fx->push == NULL) {
		print_error("cannot read %s (set AMICD_TEST_DATA)\n", path);
		return -1;
	}
	write_file(fx->dir, "gitlab-token", GITLAB_TOKEN);
	write_file(fx->dir, "eb-key", "faults-eb-key");
	write_file(fx->dir, "admin-token", ADMIN_TOKEN);
	snprintf(yaml, sizeof yaml,
		 "listen: 127.0.0.1:0\n"
		 "database: %s\n"
		 "pins_dir: %s/pins\n"
		 "log_level: error\n"
		 "auth:\n"
		 "  gitlab: { token_file: %s/gitlab-token }\n"
		 "  eventbridge: { api_key_header: X-Api-Key, api_key_file: %s/eb-key }\n"
		 "  admin: { token_file: %s/admin-token }\n"
		 "trigger: { url: http://127.0.0.1:9/unused, max_attempts: 1 }\n"
		 "accounts:\n  - { name: image-builder-stage, uid: \"444455556666\" }\n"
		 "terraformResources:\n"
		 "  - provider: asg\n"
		 "    identifier: workers-stage\n"
		 "    account: image-builder-stage\n"
		 "    region: eu-west-1\n"
		 "    image:\n"
		 "      repo: { url: https://gitlab.example.net/platform/golden-images, ref: main, tag_name: git-sha }\n",
		 fx->db, fx->dir, fx->dir, fx->dir, fx->dir);
	write_file(fx->dir, "amicd.yml", yaml);
	snprintf(path, sizeof path, "%s/amicd.yml", fx->dir);
	if (config_load(path, &fx->cfg, &diag) != AMICD_OK) {
		for (size_t i = 0; i < diag.n; i++)
			print_error("%s\n", diag.lines[i]);
		config_diag_free(&diag);
		return -1;
	}
	log_set_level_name("error");
	faultvfs_disarm();
	if (server_start(fx->cfg, &fx->app, &err) != AMICD_OK) {
		print_error("server_start: %s\n", err.message);
		return -1;
	}
	snprintf(fx->base, sizeof fx->base, "http://127.0.0.1:%u", server_port(fx->app));
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	DIR *d;
	struct dirent *e;

	faultvfs_disarm();
	if (!server_stop(&fx->app, 10000))
		print_error("server_stop: requests left suspended\n");
	config_free(fx->cfg);
	free(fx->push);
	/* the temp dir holds files and one level of pins/ */
	for (int pass = 0; pass < 2; pass++) {
		char sub[PATH_MAX];

		snprintf(sub, sizeof sub, pass == 0 ? "%s/pins" : "%s", fx->dir);
		d = opendir(sub);
		if (d == NULL)
			continue;
		while ((e = readdir(d)) != NULL) {
			char p[PATH_MAX + 256];

			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof p, "%s/%s", sub, e->d_name);
			if (unlink(p) != 0)
				rmdir(p);
		}
		closedir(d);
		rmdir(sub);
	}
	free(fx);
	return 0;
}

/*
 * One operation of the server, faulted at each of its calls in turn: clean()
 * does it once without a fault (its calls on thread are counted); attempt()
 * does it with the fault armed and returns whether the fault fired — when it
 * did not (the operation took another path), attempt() has checked that it
 * succeeded, otherwise that it failed the way it must; recover() runs once the
 * fault is lifted and checks that the same operation goes through again.
 */
struct faulted_op {
	const char *thread;
	void (*clean)(struct fx *fx);
	bool (*attempt)(struct fx *fx, unsigned op, int k);
	void (*recover)(struct fx *fx);
};

/* Fail every write, sync and truncate of fo, with a full disk and with an I/O error; how many fired. */
static int fault_every_call(struct fx *fx, const struct faulted_op *fo)
{
	static const unsigned ops[] = { FAULTVFS_WRITE, FAULTVFS_SYNC, FAULTVFS_TRUNCATE };
	int faulted = 0;

	for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
		for (int kind = 0; kind < 2; kind++) {
			int calls;

			faultvfs_only_thread(fo->thread);
			faultvfs_count_reset();
			fo->clean(fx);
			calls = faultvfs_count(ops[o]);
			faultvfs_disarm();
			for (int k = 1; k <= calls; k++) {
				bool fired;

				faultvfs_only_thread(fo->thread);
				faultvfs_arm(ops[o], FAULTVFS_ANY, k, true,
					     kind == 0 ? faultvfs_full_rc(ops[o]) : faultvfs_ioerr_rc(ops[o]));
				fired = fo->attempt(fx, ops[o], k);
				faultvfs_disarm();
				if (fired) {
					faulted++;
					fo->recover(fx);
				}
			}
		}
	}
	return faulted;
}

/* --- deliveries ------------------------------------------------------------- */

static void delivery_clean(struct fx *fx)
{
	struct reply r;

	assert_int_equal(deliver(fx, &r), 202);
	reply_free(&r);
}

static bool delivery_attempt(struct fx *fx, unsigned op, int k)
{
	struct reply r;
	long status = deliver(fx, &r);

	if (faultvfs_fired() == 0) {
		assert_int_equal(status, 202);
		reply_free(&r);
		return false;
	}
	/* the disk is "full": 503 with Retry-After, and not ready */
	if (status != 503)
		fail_msg("op %u call %d: answered %ld: %s", op, k, status, r.body ? r.body : "");
	assert_string_equal(r.retry_after, "5");
	reply_free(&r);
	assert_int_equal(get_status(fx, "/readyz"), 503);
	return true;
}

static void delivery_recover(struct fx *fx)
{
	/* ready again and accepting, without a restart */
	assert_true(wait_status(fx, "/readyz", 200, WAIT_MS));
	delivery_clean(fx);
}

static void test_every_call_of_a_delivery_commit(void **state)
{
	static const struct faulted_op fo = { "amicd-ingest", delivery_clean, delivery_attempt, delivery_recover };
	struct fx *fx = *state;
	int faulted = fault_every_call(fx, &fo);

	print_message("%d delivery commits faulted; every one answered 503, then recovered\n", faulted);
	assert_true(faulted > 0);
	/* nothing acknowledged is missing */
	assert_int_equal(db_int(fx, "SELECT count(*) FROM events"), fx->acked);
}

/* --- the worker's pass ------------------------------------------------------ */

#define QUEUED "SELECT count(*) FROM events WHERE status = 'queued'"

static void pass_clean(struct fx *fx)
{
	delivery_clean(fx);
	assert_true(wait_db(fx, QUEUED, 0, WAIT_MS));
}

static bool pass_attempt(struct fx *fx, unsigned op, int k)
{
	int64_t until = now_ms() + WAIT_MS;

	(void)op;
	(void)k;
	/* the delivery itself commits: the writer's thread is not faulted */
	delivery_clean(fx);
	/* give the worker its pass; it fails or goes through another path */
	while (faultvfs_fired() == 0 && db_int(fx, QUEUED) != 0 && now_ms() < until)
		pause_ms(10);
	if (faultvfs_fired() == 0)
		return false;
	assert_true(wait_status(fx, "/readyz", 503, WAIT_MS));
	return true;
}

static void pass_recover(struct fx *fx)
{
	/* the next delivery wakes the worker, and everything queued is processed */
	pass_clean(fx);
	assert_true(wait_status(fx, "/readyz", 200, WAIT_MS));
}

static void test_every_call_of_a_worker_pass(void **state)
{
	static const struct faulted_op fo = { "amicd-worker", pass_clean, pass_attempt, pass_recover };
	struct fx *fx = *state;
	int faulted = fault_every_call(fx, &fo);

	print_message("%d worker passes faulted; each was retried and went through\n", faulted);
	assert_true(faulted > 0);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM events"), fx->acked);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM pushes"), fx->acked);
}

/* --- an admin action -------------------------------------------------------- */

#define FROZEN "SELECT frozen FROM asg_state WHERE asg = 'workers-stage'"

/* Freeze the ASG when it is not, unfreeze it when it is: its status, and the reply. */
static long toggle_freeze(struct fx *fx, struct reply *r)
{
	const char *headers[] = { "Content-Type: application/json", "Authorization: Bearer " ADMIN_TOKEN, NULL };

	request(fx, "POST", fx->frozen ? "/api/v1/admin/asgs/workers-stage/unfreeze" : "/api/v1/admin/asgs/workers-stage/freeze",
		headers, "{\"reason\":\"fault test\"}", r);
	if (r->status == 200)
		fx->frozen = !fx->frozen;
	return r->status;
}

static void admin_clean(struct fx *fx)
{
	struct reply r;

	assert_int_equal(toggle_freeze(fx, &r), 200);
	reply_free(&r);
}

static bool admin_attempt(struct fx *fx, unsigned op, int k)
{
	struct reply r;
	long status = toggle_freeze(fx, &r);

	if (faultvfs_fired() == 0) {
		assert_int_equal(status, 200);
		reply_free(&r);
		return false;
	}
	if (status != 503)
		fail_msg("op %u call %d: admin answered %ld: %s", op, k, status, r.body ? r.body : "");
	assert_string_equal(r.retry_after, "5");
	reply_free(&r);
	assert_int_equal(db_int(fx, FROZEN), fx->frozen); /* nothing changed */
	return true;
}

static void admin_recover(struct fx *fx)
{
	/* the same action goes through, and deliveries never stopped */
	admin_clean(fx);
	delivery_clean(fx);
}

static void test_every_call_of_an_admin_action(void **state)
{
	static const struct faulted_op fo = { "amicd-http-pool", admin_clean, admin_attempt, admin_recover };
	struct fx *fx = *state;
	int faulted = fault_every_call(fx, &fo);

	print_message("%d admin actions faulted; each answered 503 and changed nothing, then went through\n", faulted);
	assert_true(faulted > 0);
	assert_int_equal(db_int(fx, FROZEN), fx->frozen);
}

/* --- the database removed under the server ------------------------------------ */

static void test_database_removed(void **state)
{
	struct fx *fx = *state;
	struct reply r;
	char path[PATH_MAX + 8];

	assert_int_equal(deliver(fx, &r), 202);
	reply_free(&r);
	/* an operator deletes the files */
	unlink(fx->db);
	snprintf(path, sizeof path, "%s-wal", fx->db);
	unlink(path);
	snprintf(path, sizeof path, "%s-shm", fx->db);
	unlink(path);
	/* never acknowledged into a file no one can see: 503, and not ready */
	assert_int_equal(deliver(fx, &r), 503);
	assert_string_equal(r.retry_after, "5");
	reply_free(&r);
	assert_true(wait_status(fx, "/readyz", 503, WAIT_MS));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(deliver(fx, &r), 503);
		reply_free(&r);
	}
}

/* Only the write-ahead log deleted: the newest commits live there, so the same. */
static void test_wal_removed(void **state)
{
	struct fx *fx = *state;
	struct reply r;
	char path[PATH_MAX + 8];

	assert_int_equal(deliver(fx, &r), 202);
	reply_free(&r);
	snprintf(path, sizeof path, "%s-wal", fx->db);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(deliver(fx, &r), 503);
	reply_free(&r);
	assert_true(wait_status(fx, "/readyz", 503, WAIT_MS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_call_of_a_delivery_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_call_of_a_worker_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_call_of_an_admin_action, setup, teardown),
		cmocka_unit_test_setup_teardown(test_database_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wal_removed, setup, teardown),
	};
	int rc;

	if (faultvfs_register() != SQLITE_OK)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests_name("faults", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
