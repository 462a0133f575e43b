/*
 * support.c — see support.h.
 */
#include "support.h"

#include "crypto.h"

#include <curl/curl.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define POLL_STEP_MS 10

/*
 * Every test binary links this file: its stdout (cmocka's lines) is line
 * buffered even into a file, so what a test printed before a crash is in the
 * log (scripts/run-tests.sh repeats a failing binary's last lines).
 */
__attribute__((constructor)) static void line_buffered_stdout(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

/* --- time and waiting ---------------------------------------------------------- */

int64_t support_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool support_wait_until(bool (*cond)(void *ctx), void *ctx, int timeout_ms)
{
	int64_t deadline = support_now_ms() + timeout_ms;

	for (;;) {
		struct timespec step = { 0, POLL_STEP_MS * 1000 * 1000 };

		if (cond(ctx))
			return true;
		if (support_now_ms() >= deadline)
			return false;
		nanosleep(&step, NULL);
	}
}

/* --- temp directories, files, fixtures ------------------------------------------- */

int support_tmpdir(char *dir, size_t size, const char *base, const char *prefix)
{
	if (base == NULL || base[0] == '\0')
		base = getenv("TMPDIR");
	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	if ((size_t)snprintf(dir, size, "%s/%s-XXXXXX", base, prefix) >= size || mkdtemp(dir) == NULL) {
		fprintf(stderr, "cannot make a temp directory %s/%s-XXXXXX\n", base, prefix);
		if (size > 0)
			dir[0] = '\0';
		return -1;
	}
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

int support_rmtree(const char *dir)
{
	if (dir == NULL || dir[0] == '\0')
		return 0;
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

int support_write_file(const char *dir, const char *name, const char *text)
{
	char path[4096];
	size_t len = strlen(text);
	FILE *f;
	int rc = -1;

	if (dir != NULL)
		snprintf(path, sizeof path, "%s/%s", dir, name);
	else
		snprintf(path, sizeof path, "%s", name);
	f = fopen(path, "wb");
	if (f == NULL)
		return -1;
	if (fwrite(text, 1, len, f) == len)
		rc = 0;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

char *support_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	long size;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		data = malloc((size_t)size + 1);
		if (data != NULL && fread(data, 1, (size_t)size, f) == (size_t)size) {
			data[size] = '\0';
			if (len != NULL)
				*len = (size_t)size;
		} else {
			free(data);
			data = NULL;
		}
	}
	fclose(f);
	return data;
}

char *support_replace_all(const char *text, const char *find, const char *repl, size_t *count)
{
	size_t flen = strlen(find), rlen = strlen(repl), n = 0;
	const char *p;
	char *out, *o;

	for (p = strstr(text, find); p != NULL; p = strstr(p + flen, find))
		n++;
	out = malloc(strlen(text) + n * rlen + 1);
	if (out == NULL)
		return NULL;
	o = out;
	for (p = text;;) {
		const char *hit = strstr(p, find);

		if (hit == NULL)
			break;
		memcpy(o, p, (size_t)(hit - p));
		o += hit - p;
		memcpy(o, repl, rlen);
		o += rlen;
		p = hit + flen;
	}
	strcpy(o, p);
	if (count != NULL)
		*count = n;
	return out;
}

const char *support_data_dir(void)
{
	const char *dir = getenv("AMICD_TEST_DATA");

	return dir != NULL && dir[0] != '\0' ? dir : "tests/data";
}

char *support_fixture(const char *name, size_t *len)
{
	char path[4096];
	char *data;

	snprintf(path, sizeof path, "%s/%s", support_data_dir(), name);
	data = support_read_file(path, len);
	if (data == NULL)
		fprintf(stderr, "cannot read fixture %s (set AMICD_TEST_DATA)\n", path);
	return data;
}

json_t *support_fixture_json(const char *name)
{
	size_t len = 0;
	char *text = support_fixture(name, &len);
	json_error_t jerr;
	json_t *j;

	if (text == NULL)
		return NULL;
	j = json_loadb(text, len, 0, &jerr);
	if (j == NULL)
		fprintf(stderr, "fixture %s: %s (line %d)\n", name, jerr.text, jerr.line);
	free(text);
	return j;
}

/* --- configs ---------------------------------------------------------------------- */

/* Write the secret files of the config, and the trigger script, into dir. */
static int write_secrets(const char *dir, const struct amicd_opts *o)
{
	if (support_write_file(dir, "gitlab-token", SUPPORT_GITLAB_TOKEN "\n") != 0 ||
	    support_write_file(dir, "gitlab-signing", SUPPORT_SIGNING_SECRET "\n") != 0 ||
	    support_write_file(dir, "eb-key", SUPPORT_EB_KEY "\n") != 0 ||
	    support_write_file(dir, "eb-password", SUPPORT_EB_PASSWORD "\n") != 0 ||
	    support_write_file(dir, "admin-token", SUPPORT_ADMIN_TOKEN "\n") != 0 ||
	    support_write_file(dir, "read-token", SUPPORT_READ_TOKEN "\n") != 0)
		return -1;
	if (o->trigger_token != NULL) {
		char line[512];

		snprintf(line, sizeof line, "%s\n", o->trigger_token);
		if (support_write_file(dir, "trigger-token", line) != 0)
			return -1;
	}
	if (o->trigger_script != NULL) {
		char script[4096];

		snprintf(script, sizeof script, "%s/trigger.sh", dir);
		if (support_write_file(dir, "trigger.sh", o->trigger_script) != 0 || chmod(script, 0755) != 0)
			return -1;
	}
	return 0;
}

int support_config_write(const char *dir, const struct amicd_opts *opts, char *path, size_t size)
{
	static const struct amicd_opts defaults = { 0 };
	const struct amicd_opts *o = opts != NULL ? opts : &defaults;
	FILE *f;

	if (write_secrets(dir, o) != 0) {
		fprintf(stderr, "cannot write the secret files into %s\n", dir);
		return -1;
	}
	snprintf(path, size, "%s/amicd.yml", dir);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "listen: 127.0.0.1:0\n");
	if (o->database != NULL)
		fprintf(f, "database: %s\n", o->database);
	else
		fprintf(f, "database: %s/amicd.db\n", dir);
	fprintf(f, "pins_dir: %s/pins\n", dir);
	if (o->log_level != NULL)
		fprintf(f, "log_level: %s\n", o->log_level);
	fprintf(f, "auth:\n");
	if (!o->signing_only)
		fprintf(f, "  gitlab: { token_file: %s/gitlab-token }\n", dir);
	if (o->signing || o->signing_only)
		fprintf(f, "  gitlab_signing: { secret_file: %s/gitlab-signing }\n", dir);
	if (o->basic)
		fprintf(f, "  eventbridge: { basic: { user: %s, password_file: %s/eb-password } }\n", SUPPORT_EB_USER, dir);
	else
		fprintf(f, "  eventbridge: { api_key_header: X-Api-Key, api_key_file: %s/eb-key }\n", dir);
	fprintf(f, "  admin: { token_file: %s/admin-token }\n", dir);
	if (o->read_token)
		fprintf(f, "  read: { token_file: %s/read-token }\n", dir);
	fprintf(f, "limits:\n  busy_timeout_ms: %d\n", o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 2000);
	if (o->max_body_bytes > 0)
		fprintf(f, "  max_body_bytes: %zu\n", o->max_body_bytes);
	fprintf(f, "%s", o->limits_extra != NULL ? o->limits_extra : "");
	fprintf(f, "trigger:\n");
	if (o->trigger_script != NULL)
		fprintf(f, "  command: [%s/trigger.sh]\n", dir);
	else if (o->trigger_command != NULL)
		fprintf(f, "  command: %s\n", o->trigger_command);
	else
		fprintf(f, "  url: %s\n", o->trigger_url != NULL ? o->trigger_url : "http://127.0.0.1:9/unused");
	if (o->trigger_token != NULL)
		fprintf(f, "  token_file: %s/trigger-token\n", dir);
	fprintf(f, "%s", o->trigger_extra != NULL ? o->trigger_extra : "");
	fprintf(f, "accounts:\n%s", o->accounts != NULL ? o->accounts :
		"  - { name: " SUPPORT_ACCOUNT ", uid: \"" SUPPORT_ACCOUNT_UID "\" }\n");
	fprintf(f, "terraformResources:\n%s", o->resources != NULL ? o->resources :
		"  - provider: asg\n"
		"    identifier: " SUPPORT_ASG "\n"
		"    account: " SUPPORT_ACCOUNT "\n"
		"    region: " SUPPORT_REGION "\n"
		"    image:\n"
		"      repo: { url: " SUPPORT_REPO ", ref: main, tag_name: git-sha }\n");
	fprintf(f, "%s", o->extra != NULL ? o->extra : "");
	return fclose(f) == 0 ? 0 : -1;
}

struct config *support_config_load(const char *dir, const struct amicd_opts *opts)
{
	struct config_diag diag = { 0 };
	struct config *cfg = NULL;
	char path[4096];

	if (support_config_write(dir, opts, path, sizeof path) != 0)
		return NULL;
	if (config_load(path, &cfg, &diag) != AMICD_OK) {
		for (size_t i = 0; i < diag.n; i++)
			fprintf(stderr, "%s\n", diag.lines[i]);
		cfg = NULL;
	}
	config_diag_free(&diag);
	return cfg;
}

/* --- HTTP ------------------------------------------------------------------------- */

int support_curl_setup(void **state)
{
	(void)state;
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

int support_curl_teardown(void **state)
{
	(void)state;
	curl_global_cleanup();
	return 0;
}

size_t support_buf_append(char *ptr, size_t size, size_t n, void *buf)
{
	struct support_buf *b = buf;
	char *grown = realloc(b->data, b->len + size * n + 1);

	if (grown == NULL)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, ptr, size * n);
	b->len += size * n;
	b->data[b->len] = '\0';
	return size * n;
}

int support_http(const char *method, const char *url, const char *const *headers, const char *body, size_t len,
		 long timeout_ms, struct http_result *out)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct support_buf b = { NULL, 0 }, h = { NULL, 0 };
	CURLcode cc = CURLE_FAILED_INIT;

	memset(out, 0, sizeof *out);
	if (c != NULL) {
		for (const char *const *hp = headers; hp != NULL && *hp != NULL; hp++)
			hl = curl_slist_append(hl, *hp);
		hl = curl_slist_append(hl, "Expect:");
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, support_buf_append);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, support_buf_append);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		if (body != NULL) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		}
		cc = curl_easy_perform(c);
		if (cc == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	}
	out->body = b.data != NULL ? b.data : strdup("");
	out->body_len = b.len;
	out->headers = h.data != NULL ? h.data : strdup("");
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return cc == CURLE_OK ? 0 : -1;
}

void http_result_free(struct http_result *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof *r);
}

const char *http_result_header(const struct http_result *r, const char *name, char *buf, size_t size)
{
	size_t n = strlen(name);

	for (const char *line = r->headers; line != NULL && *line != '\0';) {
		const char *eol = strstr(line, "\r\n");
		size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);

		if (len > n + 1 && strncasecmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;

			while (*v == ' ')
				v++;
			snprintf(buf, size, "%.*s", (int)(len - (size_t)(v - line)), v);
			return buf;
		}
		line = eol != NULL ? eol + 2 : NULL;
	}
	return NULL;
}

/* --- SQLite ------------------------------------------------------------------------ */

/*
 * first_row — run sql (?1 bound to bind_text unless NULL) on a read-only
 * connection of its own and hand its first row, if any, to row(s, cls).
 * 0 when the query ran (with or without a row), -1 when it could not.
 */
static int first_row(const char *db_path, const char *sql, const char *bind_text,
		     void (*row)(sqlite3_stmt *s, void *cls), void *cls)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int rc = -1;

	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
		int src;

		if (bind_text != NULL)
			sqlite3_bind_text(s, 1, bind_text, -1, SQLITE_STATIC);
		src = sqlite3_step(s);
		if (src == SQLITE_ROW)
			row(s, cls);
		rc = src == SQLITE_ROW || src == SQLITE_DONE ? 0 : -1;
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	return rc;
}

static void row_int(sqlite3_stmt *s, void *cls)
{
	*(int64_t *)cls = sqlite3_column_int64(s, 0);
}

int64_t support_db_int(const char *db_path, const char *sql, const char *bind_text)
{
	int64_t v = -1;

	first_row(db_path, sql, bind_text, row_int, &v);
	return v;
}

struct text_out {
	char *buf;
	size_t size;
};

static void row_text(sqlite3_stmt *s, void *cls)
{
	struct text_out *out = cls;

	if (sqlite3_column_text(s, 0) != NULL)
		snprintf(out->buf, out->size, "%s", (const char *)sqlite3_column_text(s, 0));
}

int support_db_text(const char *db_path, const char *sql, char *buf, size_t size)
{
	struct text_out out = { buf, size };
	int rc;

	buf[0] = '\0';
	rc = first_row(db_path, sql, NULL, row_text, &out);
	if (rc != 0)
		fprintf(stderr, "%s: \"%s\" failed\n", db_path, sql);
	return rc;
}

int support_db_exec(const char *db_path, const char *sql, char *msg, size_t size)
{
	sqlite3 *db = NULL;
	char *emsg = NULL;
	int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, sql, NULL, NULL, &emsg);
	if (rc != SQLITE_OK)
		snprintf(msg, size, "%s", emsg != NULL ? emsg : sqlite3_errmsg(db));
	sqlite3_free(emsg);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

enum amicd_rc support_store_open_migrated(const char *path, int busy_timeout_ms, struct store **out,
					  struct amicd_error *err)
{
	enum amicd_rc rc = store_open(path, busy_timeout_ms, out, err);

	if (rc == AMICD_OK)
		rc = store_migrate(*out, store_migrations, store_migrations_count, NULL, err);
	if (rc != AMICD_OK)
		store_close(out);
	return rc;
}

enum amicd_rc support_event_put(struct store *st, const char *source, const char *kind, const char *key,
				const char *payload, int64_t received_at_ms, int64_t *id, struct amicd_error *err)
{
	struct store_event ev = {
		.source = source, .kind = kind, .dedup_key = key, .status = "queued", .headers_json = "{}",
		.payload = payload, .payload_len = strlen(payload), .received_at_ms = received_at_ms,
	};
	enum amicd_rc rc;

	crypto_sha256_hex(payload, ev.payload_len, ev.payload_sha256);
	rc = store_event_put(st, &ev, err);
	if (rc == AMICD_OK && id != NULL)
		*id = ev.id;
	return rc;
}
