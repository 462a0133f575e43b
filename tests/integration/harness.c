/*
 * harness.c — see harness.h.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 15000
#define POLL_STEP_MS 10
#define RECEIVER_MAX_BODY (1024 * 1024)

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
	if (opts->database != NULL)
		snprintf(p->db, sizeof p->db, "%s", opts->database);
	else
		snprintf(p->db, sizeof p->db, "%s/amicd.db", p->dir);
	snprintf(p->log, sizeof p->log, "%s/amicd.log", p->dir);
	if (write_text(p->dir, "gitlab-token", H_GITLAB_TOKEN "\n") != 0 ||
	    write_text(p->dir, "gitlab-signing", H_SIGNING_SECRET "\n") != 0 ||
	    write_text(p->dir, "eb-key", H_EB_KEY "\n") != 0 ||
	    write_text(p->dir, "eb-password", H_EB_PASSWORD "\n") != 0 ||
	    write_text(p->dir, "admin-token", H_ADMIN_TOKEN "\n") != 0 ||
	    write_text(p->dir, "read-token", H_READ_TOKEN "\n") != 0)
		return -1;
	if (opts->trigger_token != NULL) {
		char line[512];

		snprintf(line, sizeof line, "%s\n", opts->trigger_token);
		if (write_text(p->dir, "trigger-token", line) != 0)
			return -1;
	}
	if (opts->trigger_script != NULL) {
		char script[400];

		snprintf(script, sizeof script, "%s/trigger.sh", p->dir);
		if (write_text(p->dir, "trigger.sh", opts->trigger_script) != 0 || chmod(script, 0755) != 0)
			return -1;
	}
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
	fprintf(f, "%s", opts->limits_extra != NULL ? opts->limits_extra : "");
	fprintf(f, "trigger:\n");
	if (opts->trigger_script != NULL)
		fprintf(f, "  command: [%s/trigger.sh]\n", p->dir);
	else if (opts->trigger_command != NULL)
		fprintf(f, "  command: %s\n", opts->trigger_command);
	else
		fprintf(f, "  url: %s\n", opts->trigger_url != NULL ? opts->trigger_url : "http://127.0.0.1:9/unused");
	if (opts->trigger_token != NULL)
		fprintf(f, "  token_file: %s/trigger-token\n", p->dir);
	fprintf(f, "%s", opts->trigger_extra != NULL ? opts->trigger_extra : "");
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

/* --- raw sockets ---------------------------------------------------------- */

int h_connect(const struct amicd_proc *p, const char *src)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p->port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	if (src != NULL) {
		struct sockaddr_in from = { .sin_family = AF_INET };

		inet_pton(AF_INET, src, &from.sin_addr);
		if (bind(fd, (struct sockaddr *)&from, sizeof from) != 0) {
			close(fd);
			return -1;
		}
	}
	if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

long h_raw(const struct amicd_proc *p, const void *req, size_t len, char *resp, size_t size, int timeout_ms)
{
	int fd = h_connect(p, NULL);
	int64_t deadline = h_now_ms() + timeout_ms;
	size_t got = 0;

	if (fd < 0)
		return -1;
	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	while (got + 1 < size && h_now_ms() < deadline) {
		struct timeval tv = { 0, 100 * 1000 };
		ssize_t n;

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		n = recv(fd, resp + got, size - 1 - got, 0);
		if (n == 0)
			break;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			continue;
		if (n < 0)
			break;
		got += (size_t)n;
	}
	resp[got] = '\0';
	close(fd);
	return (long)got;
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

/* --- waiting and the REST API ------------------------------------------------ */

bool h_wait_until(bool (*cond)(void *ctx), void *ctx, int timeout_ms)
{
	int64_t deadline = h_now_ms() + timeout_ms;

	for (;;) {
		struct timespec step = { 0, POLL_STEP_MS * 1000 * 1000 };

		if (cond(ctx))
			return true;
		if (h_now_ms() >= deadline)
			return false;
		nanosleep(&step, NULL);
	}
}

json_t *h_get_json(const struct amicd_proc *p, const char *path)
{
	struct http_result r;
	json_t *j = NULL;

	if (h_get(p, path, NULL, &r) == 0 && r.status == 200)
		j = json_loadb(r.body, r.body_len, 0, NULL);
	http_result_free(&r);
	return j;
}

/* The answer's event_id, when it has one. */
static void answer_event_id(const struct http_result *r, int64_t *event_id)
{
	json_t *j;

	if (event_id == NULL || (r->status != 200 && r->status != 202))
		return;
	j = json_loadb(r->body, r->body_len, 0, NULL);
	if (json_is_integer(json_object_get(j, "event_id")))
		*event_id = json_integer_value(json_object_get(j, "event_id"));
	json_decref(j);
}

long h_post_gitlab(const struct amicd_proc *p, const char *idem, const char *body, int64_t *event_id)
{
	const char *h[8];
	char idem_buf[128];
	struct http_result r;
	long status = -1;

	h_gitlab_headers(h, "Push Hook", idem, idem_buf);
	if (h_post(p, "/hooks/gitlab", h, body, strlen(body), &r) == 0) {
		status = r.status;
		answer_event_id(&r, event_id);
	}
	http_result_free(&r);
	return status;
}

long h_post_eb(const struct amicd_proc *p, const char *body, int64_t *event_id)
{
	const char *h[4];
	struct http_result r;
	long status = -1;

	h_eb_headers(h);
	if (h_post(p, "/hooks/eventbridge", h, body, strlen(body), &r) == 0) {
		status = r.status;
		answer_event_id(&r, event_id);
	}
	http_result_free(&r);
	return status;
}

const char *h_event_status(const struct amicd_proc *p, int64_t event_id, char *buf, size_t size)
{
	char path[64];
	json_t *j;
	const char *status;

	snprintf(path, sizeof path, "/api/v1/events/%lld", (long long)event_id);
	j = h_get_json(p, path);
	status = json_string_value(json_object_get(j, "status"));
	if (status != NULL)
		snprintf(buf, size, "%s", status);
	json_decref(j);
	return status != NULL ? buf : NULL;
}

struct event_wait {
	const struct amicd_proc *p;
	int64_t id;
};

static bool event_done(void *ctx)
{
	struct event_wait *w = ctx;
	char status[32];

	return h_event_status(w->p, w->id, status, sizeof status) != NULL && strcmp(status, "queued") != 0;
}

bool h_wait_event_done(const struct amicd_proc *p, int64_t event_id, int timeout_ms)
{
	struct event_wait w = { p, event_id };

	return h_wait_until(event_done, &w, timeout_ms);
}

const char *h_pin_file(const struct amicd_proc *p, const char *identifier, char *buf, size_t size)
{
	snprintf(buf, size, "%s/pins/%s.yml", p->dir, identifier);
	return buf;
}

json_t *h_fixture_json(const char *name)
{
	size_t len = 0;
	char *text = h_fixture(name, &len);
	json_t *j = text != NULL ? json_loadb(text, len, 0, NULL) : NULL;

	free(text);
	return j;
}

char *h_dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT);
}

json_t *h_asg(const struct amicd_proc *p, const char *identifier)
{
	char path[256];

	snprintf(path, sizeof path, "/api/v1/asgs/%s", identifier);
	return h_get_json(p, path);
}

json_t *h_promotions(const struct amicd_proc *p, const char *identifier)
{
	char path[256];
	json_t *j, *list;

	snprintf(path, sizeof path, "/api/v1/asgs/%s/promotions", identifier);
	j = h_get_json(p, path);
	list = json_incref(json_object_get(j, "promotions"));
	json_decref(j);
	if (!json_is_array(list)) {
		json_decref(list);
		list = NULL;
	}
	return list;
}

char *h_push_variant(const char *before, const char *after)
{
	json_t *doc = h_fixture_json("gitlab-push.json");
	char *text;

	if (doc == NULL)
		return NULL;
	if (before != NULL)
		json_object_set_new(doc, "before", json_string(before));
	if (after != NULL) {
		json_object_set_new(doc, "after", json_string(after));
		json_object_set_new(doc, "checkout_sha", json_string(after));
	}
	text = h_dump(doc);
	json_decref(doc);
	return text;
}

char *h_ami_shared_variant(const char *id, const char *image_id, const char *commit, const char *dest,
			   bool with_tags)
{
	json_t *doc = h_fixture_json("eventbridge-ami-shared.json");
	json_t *detail;
	char *text;

	if (doc == NULL)
		return NULL;
	detail = json_object_get(doc, "detail");
	if (id != NULL)
		json_object_set_new(doc, "id", json_string(id));
	if (image_id != NULL) {
		char arn[128];

		snprintf(arn, sizeof arn, "arn:aws:ec2:eu-west-1::image/%s", image_id);
		json_object_set_new(doc, "resources", json_pack("[s]", arn));
		json_object_set_new(detail, "ImageId", json_string(image_id));
	}
	if (commit != NULL)
		json_object_set_new(json_object_get(detail, "Tags"), "git-sha", json_string(commit));
	if (dest != NULL)
		json_object_set_new(detail, "DestinationAccount", json_string(dest));
	if (!with_tags)
		json_object_del(detail, "Tags");
	text = h_dump(doc);
	json_decref(doc);
	return text;
}

/* --- the trigger receiver ------------------------------------------------------ */

struct h_receiver {
	struct MHD_Daemon *daemon;
	char url[96];
	pthread_mutex_t lock;
	pthread_cond_t changed;          /* a request arrived, or stopping */
	struct h_received *reqs;
	size_t n, cap;
	unsigned first_status, then_status;
	size_t first_left;
	int hang_ms;
	bool stopping;
	char watch[512];                 /* a file whose presence each request records ("" : none) */
};

/* Per-request state: the body as it arrives. */
struct upload {
	char *data;
	size_t len;
	bool too_big;
};

static void copy_header(struct MHD_Connection *conn, const char *name, char *buf, size_t size)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);

	snprintf(buf, size, "%s", v != NULL ? v : "");
}

/* Record a complete request; returns the status to answer and the hang to apply. */
static unsigned record(struct h_receiver *r, struct MHD_Connection *conn, const char *url, const char *method,
		       struct upload *up, int *hang_ms)
{
	struct h_received *rec;
	unsigned status;

	pthread_mutex_lock(&r->lock);
	if (r->first_left > 0) {
		status = r->first_status;
		r->first_left--;
	} else {
		status = r->then_status;
	}
	*hang_ms = r->hang_ms;
	if (r->n == r->cap) {
		size_t cap = r->cap > 0 ? r->cap * 2 : 16;
		struct h_received *grown = realloc(r->reqs, cap * sizeof *grown);

		if (grown == NULL) {
			pthread_mutex_unlock(&r->lock);
			return 500;
		}
		r->reqs = grown;
		r->cap = cap;
	}
	rec = &r->reqs[r->n];
	memset(rec, 0, sizeof *rec);
	snprintf(rec->method, sizeof rec->method, "%s", method);
	snprintf(rec->path, sizeof rec->path, "%s", url);
	copy_header(conn, "Idempotency-Key", rec->idempotency_key, sizeof rec->idempotency_key);
	copy_header(conn, MHD_HTTP_HEADER_AUTHORIZATION, rec->authorization, sizeof rec->authorization);
	copy_header(conn, MHD_HTTP_HEADER_CONTENT_TYPE, rec->content_type, sizeof rec->content_type);
	rec->body = up->data != NULL ? up->data : strdup("");
	rec->body_len = up->len;
	rec->status = up->too_big ? 413 : status;
	rec->received_ms = h_now_ms();
	{
		struct stat st;

		rec->watched_file_existed = r->watch[0] != '\0' && stat(r->watch, &st) == 0;
	}
	up->data = NULL;
	r->n++;
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
	return up->too_big ? 413 : status;
}

/* Hold the answer for ms, or until the receiver stops. */
static void hang(struct h_receiver *r, int ms)
{
	struct timespec until;

	if (ms <= 0)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&r->lock);
	while (!r->stopping && pthread_cond_timedwait(&r->changed, &r->lock, &until) == 0)
		;
	pthread_mutex_unlock(&r->lock);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_size, void **req_cls)
{
	struct h_receiver *r = cls;
	struct upload *up = *req_cls;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned status;
	int hang_ms = 0;

	(void)version;
	if (up == NULL) {
		up = calloc(1, sizeof *up);
		if (up == NULL)
			return MHD_NO;
		*req_cls = up;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (up->len + *upload_size > RECEIVER_MAX_BODY) {
			up->too_big = true;
		} else {
			char *grown = realloc(up->data, up->len + *upload_size + 1);

			if (grown == NULL)
				return MHD_NO;
			up->data = grown;
			memcpy(up->data + up->len, upload_data, *upload_size);
			up->len += *upload_size;
			up->data[up->len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	status = record(r, conn, url, method, up, &hang_ms);
	hang(r, hang_ms);
	resp = MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls, enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *req_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (up != NULL) {
		free(up->data);
		free(up);
	}
	*req_cls = NULL;
}

struct h_receiver *h_receiver_start(void)
{
	struct h_receiver *r = calloc(1, sizeof *r);
	struct sockaddr_in addr;
	const union MHD_DaemonInfo *info;

	if (r == NULL)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->changed, NULL);
	r->first_status = 200;
	r->then_status = 200;
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_port = 0;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
				     on_request, r, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, r,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
	info = r->daemon != NULL ? MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT) : NULL;
	if (info == NULL || info->port == 0) {
		h_receiver_stop(&r);
		return NULL;
	}
	snprintf(r->url, sizeof r->url, "http://127.0.0.1:%u/terraform-resources", (unsigned)info->port);
	return r;
}

void h_receiver_stop(struct h_receiver **pr)
{
	struct h_receiver *r;

	if (pr == NULL || *pr == NULL)
		return;
	r = *pr;
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_broadcast(&r->changed);
	pthread_mutex_unlock(&r->lock);
	if (r->daemon != NULL)
		MHD_stop_daemon(r->daemon);
	for (size_t i = 0; i < r->n; i++)
		free(r->reqs[i].body);
	free(r->reqs);
	pthread_cond_destroy(&r->changed);
	pthread_mutex_destroy(&r->lock);
	free(r);
	*pr = NULL;
}

const char *h_receiver_url(const struct h_receiver *r)
{
	return r->url;
}

void h_receiver_answer(struct h_receiver *r, unsigned first_status, size_t first_n, unsigned then_status)
{
	pthread_mutex_lock(&r->lock);
	r->first_status = first_status;
	r->first_left = first_n;
	r->then_status = then_status;
	pthread_mutex_unlock(&r->lock);
}

void h_receiver_watch_file(struct h_receiver *r, const char *path)
{
	pthread_mutex_lock(&r->lock);
	snprintf(r->watch, sizeof r->watch, "%s", path != NULL ? path : "");
	pthread_mutex_unlock(&r->lock);
}

void h_receiver_hang(struct h_receiver *r, int ms)
{
	pthread_mutex_lock(&r->lock);
	r->hang_ms = ms;
	pthread_mutex_unlock(&r->lock);
}

size_t h_receiver_count(struct h_receiver *r)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = r->n;
	pthread_mutex_unlock(&r->lock);
	return n;
}

bool h_receiver_wait(struct h_receiver *r, size_t n, int timeout_ms)
{
	struct timespec until;
	bool reached;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&r->lock);
	while (r->n < n && !r->stopping && pthread_cond_timedwait(&r->changed, &r->lock, &until) == 0)
		;
	reached = r->n >= n;
	pthread_mutex_unlock(&r->lock);
	return reached;
}

bool h_receiver_get(struct h_receiver *r, size_t i, struct h_received *out)
{
	bool found = false;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&r->lock);
	if (i < r->n) {
		*out = r->reqs[i];
		out->body = malloc(r->reqs[i].body_len + 1);
		if (out->body != NULL) {
			memcpy(out->body, r->reqs[i].body, r->reqs[i].body_len + 1);
			found = true;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return found;
}

void h_received_clear(struct h_received *rec)
{
	free(rec->body);
	memset(rec, 0, sizeof *rec);
}

const json_t *h_json_at(const json_t *j, const char *dotted)
{
	char path[256], *key, *save = NULL;

	snprintf(path, sizeof path, "%s", dotted);
	for (key = strtok_r(path, ".", &save); key != NULL && j != NULL; key = strtok_r(NULL, ".", &save))
		j = json_object_get(j, key);
	return j;
}
