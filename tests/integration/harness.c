/*
 * harness.c — see harness.h.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define START_TIMEOUT_MS 15000
#define HTTP_TIMEOUT_MS 20000L
#define RECEIVER_MAX_BODY (1024 * 1024)

int harness_init(struct amicd_proc *p, const struct amicd_opts *opts)
{
	memset(p, 0, sizeof *p);
	p->pid = -1;
	if (support_tmpdir(p->dir, sizeof p->dir, NULL, "amicd-it") != 0)
		return -1;
	if (opts != NULL && opts->database != NULL)
		snprintf(p->db, sizeof p->db, "%s", opts->database);
	else
		snprintf(p->db, sizeof p->db, "%s/amicd.db", p->dir);
	snprintf(p->log, sizeof p->log, "%s/amicd.log", p->dir);
	return support_config_write(p->dir, opts, p->config, sizeof p->config);
}

/* The port from the first "listening" line written after p->log_mark, or 0. */
static unsigned find_port(const struct amicd_proc *p)
{
	char *log = support_read_file(p->log, NULL);
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
	deadline = support_now_ms() + START_TIMEOUT_MS;
	while (support_now_ms() < deadline) {
		int status;
		struct timespec pause = { 0, 10 * 1000 * 1000 };

		p->port = find_port(p);
		if (p->port != 0) {
			snprintf(p->base, sizeof p->base, "http://127.0.0.1:%u", p->port);
			return 0;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			char *log = support_read_file(p->log, NULL);

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
	int64_t deadline = support_now_ms() + timeout_ms;
	int status = 0;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, sig);
	while (support_now_ms() < deadline) {
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

void harness_cleanup(struct amicd_proc *p)
{
	if (p->pid > 0)
		harness_stop(p, SIGKILL, 2000);
	if (getenv("AMICD_KEEP_TEST_DIRS") == NULL)
		support_rmtree(p->dir);
	p->dir[0] = '\0';
}

int h_stop_and_check(struct amicd_proc *p)
{
	static const char *const reports[] = { "AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer" };
	int failed = 0;
	char *log;

	if (p->dir[0] == '\0')
		return 0;
	if (p->pid > 0 && harness_stop(p, SIGTERM, 10000) != 0) {
		fprintf(stderr, "amicd did not exit 0 on SIGTERM\n");
		failed = -1;
	}
	log = support_read_file(p->log, NULL);
	for (size_t i = 0; log != NULL && i < sizeof reports / sizeof reports[0]; i++)
		if (strstr(log, reports[i]) != NULL) {
			fprintf(stderr, "amicd's log holds a sanitizer report (%s):\n%s\n", reports[i],
				strstr(log, reports[i]));
			failed = -1;
			break;
		}
	free(log);
	return failed;
}

/* --- cmocka fixtures ------------------------------------------------------------ */

int h_proc_setup(void **state, const struct amicd_opts *opts, bool start)
{
	struct amicd_proc *p = calloc(1, sizeof *p);

	if (p == NULL)
		return -1;
	if (harness_init(p, opts) != 0 || (start && harness_start(p) != 0)) {
		harness_cleanup(p);
		free(p);
		return -1;
	}
	*state = p;
	return 0;
}

int h_proc_teardown(void **state)
{
	struct amicd_proc *p = *state;

	if (p != NULL)
		harness_cleanup(p);
	free(p);
	*state = NULL;
	return 0;
}

int h_fx_setup(void **state, const struct amicd_opts *opts, unsigned flags)
{
	static struct amicd_opts no_opts;
	struct h_fx *f = calloc(1, sizeof *f);
	struct amicd_opts o = opts != NULL ? *opts : no_opts;

	if (f == NULL)
		return -1;
	if (flags & H_FX_RECEIVER) {
		f->rx = h_receiver_start();
		if (f->rx == NULL) {
			free(f);
			return -1;
		}
		if (o.trigger_script == NULL && o.trigger_command == NULL)
			o.trigger_url = h_receiver_url(f->rx);
	}
	if (harness_init(&f->p, &o) != 0 || (!(flags & H_FX_NO_START) && harness_start(&f->p) != 0)) {
		*state = f;
		h_fx_teardown(state);
		return -1;
	}
	*state = f;
	return 0;
}

int h_fx_teardown(void **state)
{
	struct h_fx *f = *state;

	if (f == NULL)
		return 0;
	harness_cleanup(&f->p);
	harness_cleanup(&f->q);
	h_receiver_stop(&f->rx);
	free(f);
	*state = NULL;
	return 0;
}

int h_run_group(const char *name, const struct CMUnitTest *tests, size_t n, CMFixtureFunction group_setup,
		CMFixtureFunction group_teardown)
{
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	failed = _cmocka_run_group_tests(name, tests, n, group_setup, group_teardown);
	curl_global_cleanup();
	return failed;
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
	int64_t deadline = support_now_ms() + timeout_ms;
	size_t got = 0;

	if (fd < 0)
		return -1;
	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	while (got + 1 < size && support_now_ms() < deadline) {
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

static int request(const struct amicd_proc *p, const char *method, const char *path,
		   const char *const *headers, const char *body, size_t len, struct http_result *out)
{
	char url[512];

	snprintf(url, sizeof url, "%s%s", p->base, path);
	return support_http(method, url, headers, body, len, HTTP_TIMEOUT_MS, out);
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

void h_gitlab_headers(const char *headers[8], const char *event, const char *idem, char idem_buf[128])
{
	int n = 0;

	headers[n++] = "Content-Type: application/json";
	headers[n++] = "X-Gitlab-Token: " SUPPORT_GITLAB_TOKEN;
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
	headers[1] = "X-Api-Key: " SUPPORT_EB_KEY;
	headers[2] = "User-Agent: Amazon/EventBridge/ApiDestinations";
	headers[3] = NULL;
}

struct curl_slist *h_gitlab_slist(const char *key)
{
	const char *h[8];
	char idem[128];
	struct curl_slist *list = NULL;

	h_gitlab_headers(h, "Push Hook", key, idem);
	for (int i = 0; h[i] != NULL; i++)
		list = curl_slist_append(list, h[i]);
	return curl_slist_append(list, "Expect:");
}

void h_curl_gitlab_post(CURL *c, const struct amicd_proc *p, struct curl_slist *headers, const char *body,
			size_t len)
{
	char url[128];

	snprintf(url, sizeof url, "%s/hooks/gitlab", p->base);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
}

long h_post_hook(const struct amicd_proc *p, const char *path, const char *const *headers, const char *body,
		 int64_t *event_id, char *word, size_t size)
{
	struct http_result r;
	long status = -1;

	if (h_post(p, path, headers, body, strlen(body), &r) == 0)
		status = r.status;
	if (status == 200 || status == 202) {
		json_t *j = json_loadb(r.body, r.body_len, 0, NULL);

		if (j == NULL) {
			char text[512];

			snprintf(text, sizeof text, "%s", r.body);
			http_result_free(&r);
			fail_msg("%s answered %ld with a body that is not JSON: %s", path, status, text);
		}
		if (event_id != NULL)
			*event_id = json_integer_value(json_object_get(j, "event_id"));
		if (word != NULL)
			snprintf(word, size, "%s", h_text(j, "status"));
		json_decref(j);
	}
	http_result_free(&r);
	return status;
}

long h_post_gitlab(const struct amicd_proc *p, const char *event, const char *idem, const char *body,
		   int64_t *event_id, char *word, size_t size)
{
	const char *h[8];
	char idem_buf[128];

	h_gitlab_headers(h, event, idem, idem_buf);
	return h_post_hook(p, "/hooks/gitlab", h, body, event_id, word, size);
}

long h_post_eb(const struct amicd_proc *p, const char *body, int64_t *event_id, char *word, size_t size)
{
	const char *h[4];

	h_eb_headers(h);
	return h_post_hook(p, "/hooks/eventbridge", h, body, event_id, word, size);
}

/* --- the REST API and the JSON it answers ----------------------------------------- */

json_t *h_get_json(const struct amicd_proc *p, const char *path)
{
	static const char *const h[] = { "Authorization: Bearer " SUPPORT_READ_TOKEN, NULL };
	struct http_result r;
	json_t *j = NULL;

	if (h_get(p, path, h, &r) == 0 && r.status == 200)
		j = json_loadb(r.body, r.body_len, 0, NULL);
	http_result_free(&r);
	return j;
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

const json_t *h_json_at(const json_t *j, const char *dotted)
{
	char path[256], *key, *save = NULL;

	snprintf(path, sizeof path, "%s", dotted);
	for (key = strtok_r(path, ".", &save); key != NULL && j != NULL; key = strtok_r(NULL, ".", &save)) {
		char *end;
		unsigned long i = strtoul(key, &end, 10);

		/* a number indexes an array ("problems.0.code") */
		j = json_is_array(j) && end != key && *end == '\0' ? json_array_get(j, i) : json_object_get(j, key);
	}
	return j;
}

const char *h_str(const json_t *j, const char *dotted)
{
	return json_string_value(h_json_at(j, dotted));
}

const char *h_text(const json_t *j, const char *dotted)
{
	const char *s = h_str(j, dotted);

	return s != NULL ? s : "";
}

json_int_t h_int(const json_t *j, const char *dotted)
{
	return json_integer_value(h_json_at(j, dotted));
}

json_int_t h_num(const json_t *j, const char *dotted)
{
	const json_t *at = h_json_at(j, dotted);

	if (!json_is_integer(at))
		fail_msg("%s is not an integer", dotted);
	return json_integer_value(at);
}

char *h_dump(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT);
}

/* --- waiting ------------------------------------------------------------------------ */

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

	return support_wait_until(event_done, &w, timeout_ms);
}

struct pin_wait {
	const struct amicd_proc *p;
	const char *identifier;
	const char *commit;
};

bool h_pin_is(const struct amicd_proc *p, const char *identifier, const char *commit)
{
	json_t *a = h_asg(p, identifier);
	bool ok = a != NULL && strcmp(h_text(a, "pin.commit"), commit) == 0;

	json_decref(a);
	return ok;
}

static bool pin_is(void *ctx)
{
	struct pin_wait *w = ctx;

	return h_pin_is(w->p, w->identifier, w->commit);
}

bool h_wait_pin(const struct amicd_proc *p, const char *identifier, const char *commit, int timeout_ms)
{
	struct pin_wait w = { p, identifier, commit };

	return support_wait_until(pin_is, &w, timeout_ms);
}

struct text_wait {
	const struct amicd_proc *p;
	const char *path;
	const char *needle;
};

static bool log_holds(void *ctx)
{
	struct text_wait *w = ctx;

	return h_log_contains(w->p, w->needle);
}

bool h_wait_log(const struct amicd_proc *p, const char *needle, int timeout_ms)
{
	struct text_wait w = { p, NULL, needle };

	return support_wait_until(log_holds, &w, timeout_ms);
}

static bool file_holds(void *ctx)
{
	struct text_wait *w = ctx;
	char *text = support_read_file(w->path, NULL);
	bool found = text != NULL && strstr(text, w->needle) != NULL;

	free(text);
	return found;
}

bool h_wait_file_contains(const char *path, const char *needle, int timeout_ms)
{
	struct text_wait w = { NULL, path, needle };

	return support_wait_until(file_holds, &w, timeout_ms);
}

/* --- files and the database ---------------------------------------------------------- */

const char *h_pin_file(const struct amicd_proc *p, const char *identifier, char *buf, size_t size)
{
	snprintf(buf, size, "%s/pins/%s.yml", p->dir, identifier);
	return buf;
}

int64_t h_db_int(const struct amicd_proc *p, const char *sql, const char *bind_text)
{
	return support_db_int(p->db, sql, bind_text);
}

bool h_log_contains(const struct amicd_proc *p, const char *needle)
{
	char *log = support_read_file(p->log, NULL);
	bool found = log != NULL && strstr(log, needle) != NULL;

	free(log);
	return found;
}

/* --- deliveries built from the fixtures ---------------------------------------------- */

/* The fixture's text after edit(doc, cls) changed its parsed form; NULL on error. */
static char *variant(const char *name, void (*edit)(json_t *doc, const void *cls), const void *cls)
{
	json_t *doc = support_fixture_json(name);
	char *text;

	if (doc == NULL)
		return NULL;
	edit(doc, cls);
	text = h_dump(doc);
	json_decref(doc);
	return text;
}

struct set_at {
	const char *dotted;
	json_t *value;
};

static void edit_set_at(json_t *doc, const void *cls)
{
	const struct set_at *e = cls;
	char path[128], *key, *save = NULL, *next;
	json_t *obj = doc;

	snprintf(path, sizeof path, "%s", e->dotted);
	key = strtok_r(path, ".", &save);
	while ((next = strtok_r(NULL, ".", &save)) != NULL) {
		obj = json_object_get(obj, key);
		key = next;
	}
	if (e->value != NULL)
		json_object_set_new(obj, key, e->value);
	else
		json_object_del(obj, key);
}

char *h_fixture_with(const char *name, const char *dotted, json_t *value)
{
	struct set_at e = { dotted, value };
	char *text = variant(name, edit_set_at, &e);

	if (text == NULL)
		json_decref(value);
	return text;
}

struct push_edit {
	const char *before, *after;
};

static void edit_push(json_t *doc, const void *cls)
{
	const struct push_edit *e = cls;

	if (e->before != NULL)
		json_object_set_new(doc, "before", json_string(e->before));
	if (e->after != NULL) {
		json_object_set_new(doc, "after", json_string(e->after));
		json_object_set_new(doc, "checkout_sha", json_string(e->after));
	}
}

char *h_push_variant(const char *before, const char *after)
{
	struct push_edit e = { before, after };

	return variant("gitlab-push.json", edit_push, &e);
}

/* The envelope id, and the image in resources as an ARN of the fixtures' region. */
static void set_envelope(json_t *doc, const char *id, const char *image_id)
{
	if (id != NULL)
		json_object_set_new(doc, "id", json_string(id));
	if (image_id != NULL) {
		char arn[128];

		snprintf(arn, sizeof arn, "arn:aws:ec2:eu-west-1::image/%s", image_id);
		json_object_set_new(doc, "resources", json_pack("[s]", arn));
	}
}

struct ami_edit {
	const char *id, *image_id, *commit, *dest, *state, *time, *account;
	bool flag;                 /* shared: with tags; share: add */
};

static void edit_shared(json_t *doc, const void *cls)
{
	const struct ami_edit *e = cls;
	json_t *detail = json_object_get(doc, "detail");

	set_envelope(doc, e->id, e->image_id);
	if (e->image_id != NULL)
		json_object_set_new(detail, "ImageId", json_string(e->image_id));
	if (e->commit != NULL)
		json_object_set_new(json_object_get(detail, "Tags"), "git-sha", json_string(e->commit));
	if (e->dest != NULL)
		json_object_set_new(detail, "DestinationAccount", json_string(e->dest));
	if (!e->flag)
		json_object_del(detail, "Tags");
}

char *h_ami_shared_variant(const char *id, const char *image_id, const char *commit, const char *dest,
			   bool with_tags)
{
	struct ami_edit e = { .id = id, .image_id = image_id, .commit = commit, .dest = dest, .flag = with_tags };

	return variant("eventbridge-ami-shared.json", edit_shared, &e);
}

static void edit_state(json_t *doc, const void *cls)
{
	const struct ami_edit *e = cls;
	json_t *detail = json_object_get(doc, "detail");

	set_envelope(doc, e->id, e->image_id);
	json_object_set_new(doc, "time", json_string(e->time));
	json_object_set_new(detail, "ImageId", json_string(e->image_id));
	json_object_set_new(detail, "State", json_string(e->state));
}

char *h_state_variant(const char *id, const char *image_id, const char *state, const char *time)
{
	struct ami_edit e = { .id = id, .image_id = image_id, .state = state, .time = time };

	return variant("eventbridge-ami-state-change.json", edit_state, &e);
}

static void edit_share(json_t *doc, const void *cls)
{
	const struct ami_edit *e = cls;
	json_t *detail = json_object_get(doc, "detail");
	json_t *params = json_object_get(detail, "requestParameters");

	json_object_set_new(doc, "id", json_string(e->id));
	json_object_set_new(doc, "time", json_string(e->time));
	json_object_set_new(detail, "eventTime", json_string(e->time));
	json_object_set_new(detail, "eventID", json_string(e->id));
	json_object_set_new(params, "imageId", json_string(e->image_id));
	json_object_set_new(params, "launchPermission",
			    json_pack("{s:{s:[{s:s}]}}", e->flag ? "add" : "remove", "items", "userId", e->account));
}

char *h_share_variant(const char *id, const char *image_id, const char *account, bool add, const char *time)
{
	struct ami_edit e = { .id = id, .image_id = image_id, .account = account, .flag = add, .time = time };

	return variant("eventbridge-cloudtrail-modifyimageattribute.json", edit_share, &e);
}

static void edit_createtags(json_t *doc, const void *cls)
{
	const struct ami_edit *e = cls;
	json_t *detail = json_object_get(doc, "detail");
	json_t *params = json_object_get(detail, "requestParameters");
	json_t *tags = json_object_get(json_object_get(params, "tagSet"), "items");
	size_t i;
	json_t *t;

	json_object_set_new(doc, "id", json_string(e->id));
	json_object_set_new(doc, "account", json_string(e->account));
	json_object_set_new(detail, "recipientAccountId", json_string(e->account));
	json_object_set_new(detail, "eventID", json_string(e->id));
	json_object_set_new(json_object_get(detail, "userIdentity"), "accountId", json_string(e->account));
	json_object_set_new(json_array_get(json_object_get(json_object_get(params, "resourcesSet"), "items"), 0),
			    "resourceId", json_string(e->image_id));
	json_array_foreach(tags, i, t)
		if (strcmp(json_string_value(json_object_get(t, "key")), "git-sha") == 0)
			json_object_set_new(t, "value", json_string(e->commit));
}

char *h_createtags_variant(const char *id, const char *viewer, const char *image_id, const char *commit)
{
	struct ami_edit e = { .id = id, .account = viewer, .image_id = image_id, .commit = commit };

	return variant("eventbridge-cloudtrail-createtags.json", edit_createtags, &e);
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
	rec->received_ms = support_now_ms();
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
