/*
 * harness.c — see harness.h.
 */
#include "harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 15000

int64_t h_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_text(const char *dir, const char *name, const char *text)
{
	char path[400];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}

int harness_init(struct amicd_proc *p, const struct amicd_opts *opts)
{
	static const struct amicd_opts defaults = { 0 };
	const char *tmp = getenv("TMPDIR");
	FILE *f;

	if (opts == NULL)
		opts = &defaults;
	memset(p, 0, sizeof *p);
	p->pid = -1;
	snprintf(p->dir, sizeof p->dir, "%s/amicd-it-XXXXXX", tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(p->dir) == NULL)
		return -1;
	snprintf(p->config, sizeof p->config, "%s/amicd.yml", p->dir);
	snprintf(p->db, sizeof p->db, "%s/amicd.db", p->dir);
	snprintf(p->log, sizeof p->log, "%s/amicd.log", p->dir);
	if (write_text(p->dir, "gitlab-token", H_GITLAB_TOKEN "\n") != 0 ||
	    write_text(p->dir, "gitlab-signing", H_SIGNING_SECRET "\n") != 0 ||
	    write_text(p->dir, "eb-key", H_EB_KEY "\n") != 0 ||
	    write_text(p->dir, "eb-password", H_EB_PASSWORD "\n") != 0 ||
	    write_text(p->dir, "admin-token", H_ADMIN_TOKEN "\n") != 0 ||
	    write_text(p->dir, "read-token", H_READ_TOKEN "\n") != 0)
		return -1;
	f = fopen(p->config, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "listen: 127.0.0.1:0\ndatabase: %s\npins_dir: %s/pins\n", p->db, p->dir);
	fprintf(f, "auth:\n  gitlab: { token_file: %s/gitlab-token }\n", p->dir);
	if (opts->signing)
		fprintf(f, "  gitlab_signing: { secret_file: %s/gitlab-signing }\n", p->dir);
	if (opts->basic)
		fprintf(f, "  eventbridge: { basic: { user: %s, password_file: %s/eb-password } }\n", H_EB_USER, p->dir);
	else
		fprintf(f, "  eventbridge: { api_key_header: X-Api-Key, api_key_file: %s/eb-key }\n", p->dir);
	fprintf(f, "  admin: { token_file: %s/admin-token }\n", p->dir);
	if (opts->read_token)
		fprintf(f, "  read: { token_file: %s/read-token }\n", p->dir);
	fprintf(f, "limits:\n  max_body_bytes: %zu\n  busy_timeout_ms: %d\n",
		opts->max_body_bytes > 0 ? opts->max_body_bytes : 1048576,
		opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 2000);
	fprintf(f, "trigger:\n  url: %s\n%s", opts->trigger_url != NULL ? opts->trigger_url : "http://127.0.0.1:9/unused",
		opts->trigger_extra != NULL ? opts->trigger_extra : "");
	fprintf(f, "accounts:\n%s", opts->accounts != NULL ? opts->accounts :
		"  - { name: image-builder-stage, uid: \"444455556666\" }\n");
	fprintf(f, "terraformResources:\n%s", opts->resources != NULL ? opts->resources :
		"  - provider: asg\n"
		"    identifier: workers-stage\n"
		"    account: image-builder-stage\n"
		"    region: eu-west-1\n"
		"    image:\n"
		"      repo: { url: https://gitlab.example.net/platform/golden-images, ref: main, tag_name: git-sha }\n");
	return fclose(f) == 0 ? 0 : -1;
}

/* The port from the first "listening" line written after p->log_mark, or 0. */
static unsigned find_port(const struct amicd_proc *p)
{
	char *log = h_read_file(p->log, NULL);
	const char *at, *port;
	unsigned n = 0;

	if (log == NULL)
		return 0;
	if ((off_t)strlen(log) > p->log_mark) {
		at = strstr(log + p->log_mark, "\"msg\":\"listening\"");
		if (at != NULL) {
			port = strstr(at, "\"port\":");
			if (port != NULL)
				n = (unsigned)strtoul(port + 7, NULL, 10);
		}
	}
	free(log);
	return n;
}

int harness_start(struct amicd_proc *p)
{
	const char *bin = getenv("AMICD_BIN");
	struct stat st;
	int64_t deadline;
	pid_t pid;

	if (bin == NULL)
		bin = "build/amicd";
	p->log_mark = stat(p->log, &st) == 0 ? st.st_size : 0;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, STDERR_FILENO);
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
		execl(bin, "amicd", "serve", "--config", p->config, (char *)NULL);
		_exit(127);
	}
	p->pid = pid;
	deadline = h_now_ms() + START_TIMEOUT_MS;
	while (h_now_ms() < deadline) {
		int status;
		struct timespec pause = { 0, 10 * 1000 * 1000 };

		p->port = find_port(p);
		if (p->port != 0) {
			snprintf(p->base, sizeof p->base, "http://127.0.0.1:%u", p->port);
			return 0;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			char *log = h_read_file(p->log, NULL);

			fprintf(stderr, "amicd exited during start-up; its log:\n%s\n", log != NULL ? log : "");
			free(log);
			p->pid = -1;
			return -1;
		}
		nanosleep(&pause, NULL);
	}
	fprintf(stderr, "amicd did not log \"listening\" within %d ms\n", START_TIMEOUT_MS);
	harness_stop(p, SIGKILL, 1000);
	return -1;
}

int harness_stop(struct amicd_proc *p, int sig, int timeout_ms)
{
	int64_t deadline = h_now_ms() + timeout_ms;
	int status = 0;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, sig);
	while (h_now_ms() < deadline) {
		struct timespec pause = { 0, 5 * 1000 * 1000 };

		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = -1;
			if (WIFEXITED(status))
				return WEXITSTATUS(status);
			return 128 + WTERMSIG(status);
		}
		nanosleep(&pause, NULL);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &status, 0);
	p->pid = -1;
	return -1;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void harness_cleanup(struct amicd_proc *p)
{
	if (p->pid > 0)
		harness_stop(p, SIGKILL, 2000);
	if (p->dir[0] != '\0' && getenv("AMICD_KEEP_TEST_DIRS") == NULL)
		nftw(p->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	p->dir[0] = '\0';
}

/* --- HTTP ----------------------------------------------------------------- */

struct buf {
	char *data;
	size_t len;
};

static size_t collect(char *ptr, size_t size, size_t n, void *cls)
{
	struct buf *b = cls;
	char *grown = realloc(b->data, b->len + size * n + 1);

	if (grown == NULL)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, ptr, size * n);
	b->len += size * n;
	b->data[b->len] = '\0';
	return size * n;
}

static int request(const struct amicd_proc *p, const char *method, const char *path,
		   const char *const *headers, const char *body, size_t len, struct http_result *out)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct buf b = { NULL, 0 }, h = { NULL, 0 };
	char url[512];
	CURLcode cc;

	memset(out, 0, sizeof *out);
	if (c == NULL)
		return -1;
	snprintf(url, sizeof url, "%s%s", p->base, path);
	for (const char *const *hp = headers; hp != NULL && *hp != NULL; hp++)
		hl = curl_slist_append(hl, *hp);
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	out->body = b.data != NULL ? b.data : strdup("");
	out->body_len = b.len;
	out->headers = h.data != NULL ? h.data : strdup("");
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return cc == CURLE_OK ? 0 : -1;
}

int h_post(const struct amicd_proc *p, const char *path, const char *const *headers, const char *body,
	   size_t len, struct http_result *out)
{
	return request(p, "POST", path, headers, body != NULL ? body : "", len, out);
}

int h_get(const struct amicd_proc *p, const char *path, const char *const *headers, struct http_result *out)
{
	return request(p, "GET", path, headers, NULL, 0, out);
}

void http_result_free(struct http_result *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof *r);
}

const char *h_header(const struct http_result *r, const char *name, char *buf, size_t size)
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

/* --- files and DB ---------------------------------------------------------- */

char *h_read_file(const char *path, size_t *len)
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

char *h_fixture(const char *name, size_t *len)
{
	const char *dir = getenv("AMICD_TEST_DATA");
	char path[512];

	snprintf(path, sizeof path, "%s/%s", dir != NULL ? dir : "tests/data", name);
	return h_read_file(path, len);
}

int64_t h_db_int(const struct amicd_proc *p, const char *sql, const char *bind_text)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;

	if (sqlite3_open_v2(p->db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
		if (bind_text != NULL)
			sqlite3_bind_text(s, 1, bind_text, -1, SQLITE_STATIC);
		if (sqlite3_step(s) == SQLITE_ROW)
			v = sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

bool h_log_contains(const struct amicd_proc *p, const char *needle)
{
	char *log = h_read_file(p->log, NULL);
	bool found = log != NULL && strstr(log, needle) != NULL;

	free(log);
	return found;
}

void h_gitlab_headers(const char *headers[8], const char *event, const char *idem, char idem_buf[128])
{
	int n = 0;

	headers[n++] = "Content-Type: application/json";
	headers[n++] = "X-Gitlab-Token: " H_GITLAB_TOKEN;
	if (event != NULL) {
		static __thread char ev[96];

		snprintf(ev, sizeof ev, "X-Gitlab-Event: %s", event);
		headers[n++] = ev;
	}
	if (idem != NULL) {
		snprintf(idem_buf, 128, "Idempotency-Key: %s", idem);
		headers[n++] = idem_buf;
	}
	headers[n] = NULL;
}

void h_eb_headers(const char *headers[4])
{
	headers[0] = "Content-Type: application/json; charset=utf-8";
	headers[1] = "X-Api-Key: " H_EB_KEY;
	headers[2] = "User-Agent: Amazon/EventBridge/ApiDestinations";
	headers[3] = NULL;
}
