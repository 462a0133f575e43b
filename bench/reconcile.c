/*
 * reconcile.c — benchmark: the reconciler (design §9) against fakes of GitLab's
 * branch API, EC2 DescribeImages and STS on loopback (tests/unit/fakehttp.c),
 * the fake checking every SigV4 signature (tests/unit/sigv4.c). Prints figures;
 * asserts nothing about speed.
 *
 * 1. One pass over 200 ASGs in 20 accounts: the real amicd (AMICD_BIN), each
 *    account with its own static keys (*_env), 10 ASGs per account, each on its
 *    own branch (b000..b199) of one repo; every branch has a head and an
 *    available AMI tagged with it in its account. interval_seconds 3600, so
 *    only the start pass (and the looks the worker's nudges cause) and the pass
 *    POST /api/v1/admin/reconcile asks for run. Reports, for the start (until
 *    every ASG is pinned, then until the fake has been quiet for 1 s) and for
 *    the admin pass: requests the fake received (GitLab, EC2, STS), amicd's CPU
 *    ms (utime+stime from /proc/<pid>/stat, in clock ticks) and wall ms.
 * 2. The promotion latency without EventBridge (waiting_interval_seconds: 1),
 *    one ASG: per round, the fake's branch head moves and a push hook says so;
 *    once the ASG's head is that commit and the reconciler has asked EC2 for
 *    its images (none yet), a random 0-999 ms pause (so the AMI appears at any
 *    phase of the waiting interval), then the fake starts listing the AMI as
 *    available: the clock starts, and stops when the trigger for that commit
 *    reaches the receiver in this program. p50/p90/p99/max over the rounds.
 *
 * 3. (reconcile scale, instead of 1 and 2) issue 12's "1,000 ASGs in 50 accounts
 *    and 100 repos" at 10, 100 and 1,000 ASGs (n/20 accounts, n/10 repos): the
 *    worker's events/s over 1,000 pushes spread over the ASGs' branches (from
 *    the first POST, one client, to amicd_events_processed_total counting them
 *    all: a lower bound while the worker keeps up with the posting), the
 *    promotion latency by EventBridge (30 ASGs spread over the fleet: a push,
 *    then the 'AMI Shared' event of an AMI tagged with it; its 202 to the
 *    trigger), both on an amicd without the reconciler; then part 1's start and
 *    admin pass on the same fleet. A table, and each figure's growth per
 *    tenfold of ASGs.
 *
 * Every wait has a deadline; amicd is stopped and the temp dir removed on every
 * exit path (SIGINT/SIGTERM included). Loopback only.
 *
 * usage: AMICD_BIN=build/amicd reconcile [ROUNDS]   (default 50)
 *        AMICD_BIN=build/amicd reconcile scale
 * exit:  0 figures printed; 1 something did not happen in time (see stderr); 2 usage.
 */
#include "fakehttp.h"
#include "sigv4.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define N_ACCOUNTS 20
#define ASGS_PER_ACCOUNT 10
#define N_ASGS (N_ACCOUNTS * ASGS_PER_ACCOUNT)
#define MAX_ACCOUNTS 50                /* scale: 1,000 ASGs in 50 accounts */
#define MAX_ASGS 1000
#define MAX_IMAGES 4096
#define MAX_VALUES 64
#define REGION "eu-west-1"
#define BUILDER "111122223333"
#define API_TOKEN "glpat-bench-reconcile-0123456789"
#define HOOK_TOKEN "bench-gitlab-hook-token"
#define EB_KEY "bench-eb-key"
#define ADMIN_TOKEN "bench-admin-token"
#define PROJECT_PATH "/api/v4/projects/platform%2Fgolden-images" /* then "-RR" in scale, then BRANCHES_PATH */
#define BRANCHES_PATH "/repository/branches/"

/* --- the fake: GitLab, EC2 and STS on one port ---------------------------------- */

struct image {
	char id[24];
	int account;
	char sha[41];
	bool listed;
};

struct fake {
	struct fakehttp *srv;
	pthread_mutex_t lock;
	char heads[MAX_ASGS][41];         /* branch bNNNN's head; "" : 404 */
	struct image images[MAX_IMAGES];
	size_t n_images;
	unsigned gitlab, ec2, sts, bad_signatures, other;
	char watch_sha[41];               /* part 2: set watch_asked when a DescribeImages asks for it */
	bool watch_asked;
};

static struct fake fake = { .lock = PTHREAD_MUTEX_INITIALIZER };
static char key_ids[MAX_ACCOUNTS][32], secrets[MAX_ACCOUNTS][48];
static struct sigv4_key keys[MAX_ACCOUNTS];
static bool quiet; /* scale: print the table only, not each part's lines */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double ms_since(int64_t t0)
{
	return (double)(now_ns() - t0) / 1e6;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void aws_error(const struct fakehttp_request *req, int status, const char *code, bool sts)
{
	char body[1024];

	if (sts)
		snprintf(body, sizeof body,
			 "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>"
			 "<Code>%s</Code><Message>refused by the fake</Message></Error><RequestId>r-1</RequestId>"
			 "</ErrorResponse>", code);
	else
		snprintf(body, sizeof body,
			 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>%s</Code>"
			 "<Message>refused by the fake</Message></Error></Errors><RequestID>r-1</RequestID></Response>",
			 code);
	fakehttp_answer(req, status, "text/xml;charset=UTF-8", NULL, body, strlen(body));
}

/* The account whose access key id signs req (its Authorization header's Credential=), or -1. */
static int account_of(const struct fakehttp_request *req)
{
	const char *auth = fakehttp_header_get(req, "Authorization");
	const char *cred = auth != NULL ? strstr(auth, "Credential=") : NULL;

	if (cred == NULL)
		return -1;
	cred += strlen("Credential=");
	for (int i = 0; i < MAX_ACCOUNTS; i++) {
		size_t n = strlen(key_ids[i]);

		if (strncmp(cred, key_ids[i], n) == 0 && cred[n] == '/')
			return i;
	}
	return -1;
}

/* DescribeImages as account acct sees it: its listed images matching ImageId.1 or the git-sha filter. */
static void describe_images(const struct fakehttp_request *req, int acct)
{
	static char body[65536];
	char values[MAX_VALUES][72], image_id[64] = "", name[40], filter[64];
	size_t n_values = 0, len = 0;
	bool by_id = fakehttp_form_get(req->body, "ImageId.1", image_id, sizeof image_id);

	if (!by_id && (!fakehttp_form_get(req->body, "Filter.1.Name", filter, sizeof filter) || strcmp(filter, "tag:git-sha") != 0)) {
		aws_error(req, 400, "InvalidParameterCombination", false);
		return;
	}
	for (int i = 1; !by_id && i <= MAX_VALUES; i++) {
		snprintf(name, sizeof name, "Filter.1.Value.%d", i);
		if (!fakehttp_form_get(req->body, name, values[n_values], sizeof values[n_values]))
			break;
		if (fake.watch_sha[0] != '\0' && strcasecmp(values[n_values], fake.watch_sha) == 0)
			fake.watch_asked = true;
		n_values++;
	}
	len += (size_t)snprintf(body + len, sizeof body - len,
				"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeImagesResponse "
				"xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-2</requestId><imagesSet>");
	for (size_t i = 0; i < fake.n_images && len < sizeof body - 1024; i++) {
		const struct image *im = &fake.images[i];
		bool hit = by_id && strcmp(image_id, im->id) == 0;

		if (!im->listed || im->account != acct)
			continue;
		for (size_t v = 0; !hit && v < n_values; v++)
			hit = strcasecmp(values[v], im->sha) == 0;
		if (!hit)
			continue;
		len += (size_t)snprintf(body + len, sizeof body - len,
					"<item><imageId>%s</imageId><imageState>available</imageState><imageOwnerId>"
					BUILDER "</imageOwnerId><creationDate>2026-11-30T10:00:00.000Z</creationDate>"
					"<isPublic>false</isPublic><tagSet><item><key>git-sha</key><value>%s</value></item>"
					"</tagSet></item>", im->id, im->sha);
	}
	len += (size_t)snprintf(body + len, sizeof body - len, "</imagesSet></DescribeImagesResponse>");
	fakehttp_answer(req, 200, "text/xml;charset=UTF-8", NULL, body, len);
}

static void gitlab_branch(const struct fakehttp_request *req)
{
	const char *token = fakehttp_header_get(req, "PRIVATE-TOKEN");
	const char *at = strstr(req->path, BRANCHES_PATH), *branch = at != NULL ? at + strlen(BRANCHES_PATH) : "";
	char body[1024];
	int b = -1;

	fake.gitlab++;
	if (token == NULL || strcmp(token, API_TOKEN) != 0) {
		fakehttp_answer(req, 401, "application/json", NULL, "{\"message\":\"401 Unauthorized\"}", 30);
		return;
	}
	if (strncmp(req->path, PROJECT_PATH, strlen(PROJECT_PATH)) == 0 && branch[0] == 'b' &&
	    strlen(branch) >= 4 && strlen(branch) <= 5 && strspn(branch + 1, "0123456789") == strlen(branch + 1))
		b = atoi(branch + 1);
	if (b < 0 || b >= MAX_ASGS || fake.heads[b][0] == '\0') {
		fakehttp_answer(req, 404, "application/json", NULL, "{\"message\":\"404 Branch Not Found\"}", 34);
		return;
	}
	snprintf(body, sizeof body,
		 "{\"name\":\"%s\",\"merged\":false,\"protected\":true,\"default\":false,\"commit\":{\"id\":\"%s\","
		 "\"short_id\":\"%.8s\",\"title\":\"a change\",\"author_name\":\"Dev\",\"parent_ids\":[]}}",
		 branch, fake.heads[b], fake.heads[b]);
	fakehttp_answer(req, 200, "application/json", NULL, body, strlen(body));
}

static void serve(struct fakehttp *srv, const struct fakehttp_request *req, void *cls)
{
	struct sigv4_header headers[FAKEHTTP_MAX_HEADERS];
	struct sigv4_request sreq = { .method = req->method, .path = req->path, .query = req->query,
				      .headers = headers, .n_headers = req->n_headers, .body = req->body,
				      .body_len = req->body_len };
	char action[64] = "", msg[256];
	enum sigv4_result r;
	bool sts;
	int acct;

	(void)srv;
	(void)cls;
	pthread_mutex_lock(&fake.lock);
	if (strncmp(req->path, "/api/v4/", 8) == 0) {
		gitlab_branch(req);
		pthread_mutex_unlock(&fake.lock);
		return;
	}
	fakehttp_form_get(req->body, "Action", action, sizeof action);
	sts = strncmp(action, "AssumeRole", 10) == 0;
	if (sts)
		fake.sts++;
	else if (strcmp(action, "DescribeImages") == 0)
		fake.ec2++;
	else
		fake.other++;
	for (size_t i = 0; i < req->n_headers; i++)
		headers[i] = (struct sigv4_header){ req->headers[i].name, req->headers[i].value };
	r = sigv4_verify(&sreq, &(struct sigv4_expect){ .region = REGION, .service = sts ? "sts" : "ec2",
							.keys = keys, .n_keys = MAX_ACCOUNTS, .now = time(NULL) },
			 msg, sizeof msg);
	acct = account_of(req);
	if (r != SIGV4_OK || acct < 0) {
		fake.bad_signatures++;
		if (fake.bad_signatures <= 3)
			fprintf(stderr, "fake: %s refused: %s %s\n", action, sigv4_result_code(r), msg);
		aws_error(req, r == SIGV4_SIGNATURE_DOES_NOT_MATCH ? 403 : 401, r != SIGV4_OK ? sigv4_result_code(r)
			  : "AuthFailure", sts);
	} else if (sts) {
		aws_error(req, 403, "AccessDenied", true); /* static keys only: amicd should never ask */
	} else if (strcmp(action, "DescribeImages") == 0) {
		describe_images(req, acct);
	} else {
		aws_error(req, 400, "InvalidAction", false);
	}
	pthread_mutex_unlock(&fake.lock);
}

struct counts {
	unsigned gitlab, ec2, sts, bad, other;
};

static struct counts counts_now(void)
{
	struct counts c;

	pthread_mutex_lock(&fake.lock);
	c = (struct counts){ fake.gitlab, fake.ec2, fake.sts, fake.bad_signatures, fake.other };
	pthread_mutex_unlock(&fake.lock);
	return c;
}

static struct counts counts_diff(struct counts a, struct counts b)
{
	return (struct counts){ b.gitlab - a.gitlab, b.ec2 - a.ec2, b.sts - a.sts, b.bad - a.bad, b.other - a.other };
}

static void reset_fake(void)
{
	pthread_mutex_lock(&fake.lock);
	memset(fake.heads, 0, sizeof fake.heads);
	fake.n_images = 0;
	fake.watch_sha[0] = '\0';
	fake.watch_asked = false;
	pthread_mutex_unlock(&fake.lock);
}

/* Add an image of account acct tagged sha (listed or not yet); the caller holds no lock. */
static size_t add_image(int acct, const char *sha, bool listed)
{
	size_t i;

	pthread_mutex_lock(&fake.lock);
	i = fake.n_images < MAX_IMAGES ? fake.n_images++ : MAX_IMAGES - 1;
	snprintf(fake.images[i].id, sizeof fake.images[i].id, "ami-%017zx", (size_t)0xbe000000u + i);
	fake.images[i].account = acct;
	snprintf(fake.images[i].sha, sizeof fake.images[i].sha, "%s", sha);
	fake.images[i].listed = listed;
	pthread_mutex_unlock(&fake.lock);
	return i;
}

/* --- the trigger receiver ------------------------------------------------------------ */

static pthread_mutex_t rx_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rx_arrived = PTHREAD_COND_INITIALIZER;
static char rx_commit[41];
static int64_t rx_ns;
static long rx_count;

struct upload {
	char buf[4096];
	size_t len;
};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *data, size_t *size, void **state)
{
	struct upload *u = *state;
	struct MHD_Response *r;
	enum MHD_Result ret;
	const char *at;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	if (u == NULL) {
		u = calloc(1, sizeof *u);
		*state = u;
		return u != NULL ? MHD_YES : MHD_NO;
	}
	if (*size > 0) {
		size_t take = *size < sizeof u->buf - 1 - u->len ? *size : sizeof u->buf - 1 - u->len;

		memcpy(u->buf + u->len, data, take);
		u->len += take;
		*size = 0;
		return MHD_YES;
	}
	u->buf[u->len] = '\0';
	at = strstr(u->buf, "\"commit\":\"");
	pthread_mutex_lock(&rx_lock);
	if (at != NULL)
		snprintf(rx_commit, sizeof rx_commit, "%.40s", at + 10);
	rx_ns = now_ns();
	rx_count++;
	pthread_cond_broadcast(&rx_arrived);
	pthread_mutex_unlock(&rx_lock);
	r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode t)
{
	(void)cls;
	(void)c;
	(void)t;
	free(*state);
	*state = NULL;
}

static long rx_received(void)
{
	long n;

	pthread_mutex_lock(&rx_lock);
	n = rx_count;
	pthread_mutex_unlock(&rx_lock);
	return n;
}

/* --- amicd ------------------------------------------------------------------------------ */

static char dir[] = "/tmp/amicd-bench-reconcile-XXXXXX";
static volatile pid_t amicd_pid = -1;
static unsigned amicd_port;
static char amicd_log[600];

static void stop_amicd(void)
{
	pid_t pid = amicd_pid;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) { /* up to 10 s, then KILL */
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			amicd_pid = -1;
			return;
		}
		sleep_ms(100);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	amicd_pid = -1;
}

static void remove_dir(void)
{
	char cmd[600];

	if (getenv("AMICD_KEEP_BENCH_DIR") != NULL) {
		fprintf(stderr, "kept %s\n", dir);
		return;
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static void on_signal(int sig)
{
	if (amicd_pid > 0) {
		kill(amicd_pid, SIGKILL);
		waitpid(amicd_pid, NULL, 0);
	}
	remove_dir();
	_exit(128 + sig);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		size_t n;

		if (cap - len < 65536) {
			char *grown = realloc(buf, cap + 262144);

			if (grown == NULL)
				break;
			buf = grown;
			cap += 262144;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	if (buf != NULL)
		buf[len] = '\0';
	return buf;
}

static void write_file(const char *name, const char *text)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	chmod(path, 0600);
}

/* Start amicd on config (a file in dir); its log is dir/<name>.log. False when it does not listen within 10 s. */
static bool start_amicd(const char *bin, const char *config, const char *name)
{
	char path[600], cmd[640];
	int64_t t0 = now_ns();
	pid_t pid;

	snprintf(path, sizeof path, "%s/%s", dir, config);
	snprintf(amicd_log, sizeof amicd_log, "%s/%s.log", dir, name);
	pid = fork();
	if (pid == 0) {
		int fd = open(amicd_log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, 1);
		dup2(fd, 2);
		execl(bin, "amicd", "serve", "--config", path, (char *)NULL);
		_exit(127);
	}
	amicd_pid = pid;
	amicd_port = 0;
	while (ms_since(t0) < 10000) {
		char *log = read_file(amicd_log);
		const char *at = log != NULL ? strstr(log, "\"msg\":\"listening\"") : NULL;

		if (at != NULL && (at = strstr(at, "\"port\":")) != NULL)
			amicd_port = (unsigned)atoi(at + 7);
		free(log);
		if (amicd_port != 0)
			return true;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			amicd_pid = -1;
			break;
		}
		sleep_ms(10);
	}
	fprintf(stderr, "amicd did not start; its log:\n");
	snprintf(cmd, sizeof cmd, "tail -n 20 '%s' >&2", amicd_log);
	if (system(cmd) != 0)
		fprintf(stderr, "(cannot show %s)\n", amicd_log);
	return false;
}

/* False (and says so) once amicd has exited. */
static bool amicd_alive(void)
{
	int st;

	if (amicd_pid > 0 && waitpid(amicd_pid, &st, WNOHANG) == amicd_pid) {
		fprintf(stderr, "amicd exited (status 0x%x); see %s\n", (unsigned)st, amicd_log);
		amicd_pid = -1;
	}
	return amicd_pid > 0;
}

/* amicd's user+system CPU time so far, in ms (clock-tick resolution). */
static double amicd_cpu_ms(void)
{
	char path[64], buf[2048];
	unsigned long long ut = 0, st = 0;
	const char *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)amicd_pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	/* after ") ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime */
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

struct buf {
	char *data;
	size_t len;
};

static size_t to_buf(char *p, size_t s, size_t n, void *cls)
{
	struct buf *b = cls;
	char *grown = realloc(b->data, b->len + s * n + 1);

	if (grown == NULL)
		return 0;
	b->data = grown;
	memcpy(b->data + b->len, p, s * n);
	b->len += s * n;
	b->data[b->len] = '\0';
	return s * n;
}

static size_t to_buf_discard(char *p, size_t s, size_t n, void *cls)
{
	(void)p;
	(void)cls;
	return s * n;
}

/* One request to amicd; the status (0: no answer) and the parsed body (*out, may be NULL). */
static long amicd_http(const char *method, const char *path, const char *const *headers, const char *body,
		       long timeout_ms, json_t **out)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	struct buf b = { NULL, 0 };
	char url[512];
	long code = 0;

	if (out != NULL)
		*out = NULL;
	if (c == NULL)
		return 0;
	snprintf(url, sizeof url, "http://127.0.0.1:%u%s", amicd_port, path);
	for (const char *const *h = headers; h != NULL && *h != NULL; h++)
		hl = curl_slist_append(hl, *h);
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_buf);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (out != NULL && b.data != NULL)
		*out = json_loads(b.data, 0, NULL);
	free(b.data);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return code;
}

static const char *str_at(json_t *j, const char *a, const char *b)
{
	json_t *o = json_object_get(j, a);

	return json_string_value(json_object_get(o, b));
}

/* The config's common head: listen, store, auth, trigger, the AWS endpoints and gitlab_api. */
static int config_head(char *out, size_t size, unsigned fake_port, unsigned rx_port, const char *name)
{
	return snprintf(out, size,
			"listen: 127.0.0.1:0\ndatabase: %s/%s.db\npins_dir: %s/pins-%s\nlog_level: info\n"
			"auth:\n  gitlab: {token_file: %s/hook-token}\n"
			"  eventbridge: {api_key_header: x-api-key, api_key_file: %s/eb-key}\n"
			"  admin: {token_file: %s/admin-token}\n"
			"trigger: {url: \"http://127.0.0.1:%u/tr\", timeout_seconds: 5}\n"
			"aws:\n  endpoints: { ec2: \"http://127.0.0.1:%u\", sts: \"http://127.0.0.1:%u\" }\n"
			"gitlab_api:\n  - { url: \"http://127.0.0.1:%u\", token_env: AMICD_BENCH_GITLAB_API_TOKEN }\n",
			dir, name, dir, name, dir, dir, dir, rx_port, fake_port, fake_port, fake_port);
}

static void sha_of(char *out, unsigned part, unsigned n)
{
	snprintf(out, 41, "%08x%032x", part, n);
}

/* How many of the first n ASGs (asg-000..) are pinned to their branch's head; -1 when the API fails. */
static int pinned_count(int n)
{
	json_t *j = NULL, *list;
	int pinned = 0;

	if (amicd_http("GET", "/api/v1/asgs", NULL, NULL, 10000, &j) != 200 || j == NULL) {
		json_decref(j);
		return -1;
	}
	list = json_object_get(j, "asgs");
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *a = json_array_get(list, i);
		const char *id = json_string_value(json_object_get(a, "identifier"));
		const char *pin = str_at(a, "pin", "commit");
		int k = id != NULL && strncmp(id, "asg-", 4) == 0 ? atoi(id + 4) : -1;

		if (k >= 0 && k < n && pin != NULL) {
			pthread_mutex_lock(&fake.lock);
			pinned += strcasecmp(pin, fake.heads[k]) == 0;
			pthread_mutex_unlock(&fake.lock);
		}
	}
	json_decref(j);
	return pinned;
}

/* Wait until the fake has received nothing for quiet_ms; false after deadline_ms. */
static bool wait_quiet(long quiet_ms, long deadline_ms)
{
	int64_t t0 = now_ns(), since = now_ns();
	struct counts last = counts_now();

	while (ms_since(t0) < deadline_ms) {
		struct counts c;

		sleep_ms(50);
		c = counts_now();
		if (memcmp(&c, &last, sizeof c) != 0) {
			last = c;
			since = now_ns();
		} else if (ms_since(since) >= quiet_ms) {
			return true;
		}
	}
	return false;
}

static void print_counts(const char *what, struct counts c, double cpu_ms, double wall_ms, int asgs)
{
	printf("  %-34s gitlab %4u  ec2 %4u  sts %2u  (%.2f + %.2f per ASG)  amicd cpu %6.0f ms  wall %7.1f ms\n", what,
	       c.gitlab, c.ec2, c.sts, (double)c.gitlab / asgs, (double)c.ec2 / asgs, cpu_ms, wall_ms);
	if (c.bad != 0 || c.other != 0)
		printf("  %-34s   %u refused signatures, %u other AWS actions\n", "", c.bad, c.other);
}

/* --- part 1: one pass over 200 ASGs in 20 accounts ------------------------------------ */

/* A fleet: n_asgs ASGs, ASG i in account i * n_accounts / n_asgs, following branch bNNNN (its index) of repo i % n_repos. */
struct fleet {
	int n_asgs, n_accounts, n_repos;
};

static int fleet_account(const struct fleet *f, int i)
{
	return i * f->n_accounts / f->n_asgs;
}

/* ASG i's repository URL, on base (the fake GitLab, or a name only the hooks see). */
static void fleet_repo(const struct fleet *f, int i, const char *base, char *out, size_t size)
{
	if (f->n_repos <= 1)
		snprintf(out, size, "%s/platform/golden-images", base);
	else
		snprintf(out, size, "%s/platform/golden-images-%02d", base, i % f->n_repos);
}

/* The fleet's accounts: and terraformResources: appended to cfg[*len]; aws: keys unless keyless. */
static void fleet_config(const struct fleet *f, const char *base, bool keyless, char *cfg, size_t size, size_t *len)
{
	char envname[64], repo[160];

	*len += (size_t)snprintf(cfg + *len, size - *len, "accounts:\n");
	for (int a = 0; a < f->n_accounts; a++) {
		*len += (size_t)snprintf(cfg + *len, size - *len, "  - name: acct-%02d\n    uid: \"%012d\"\n", a,
					 200000000 + a);
		if (keyless)
			continue;
		*len += (size_t)snprintf(cfg + *len, size - *len,
					 "    aws: { access_key_id_env: AMICD_BENCH_KEY_ID_%02d, secret_access_key_env: "
					 "AMICD_BENCH_SECRET_%02d }\n", a, a);
		snprintf(envname, sizeof envname, "AMICD_BENCH_KEY_ID_%02d", a);
		setenv(envname, key_ids[a], 1);
		snprintf(envname, sizeof envname, "AMICD_BENCH_SECRET_%02d", a);
		setenv(envname, secrets[a], 1);
	}
	*len += (size_t)snprintf(cfg + *len, size - *len, "terraformResources:\n");
	for (int i = 0; i < f->n_asgs && *len < size; i++) {
		fleet_repo(f, i, base, repo, sizeof repo);
		*len += (size_t)snprintf(cfg + *len, size - *len,
					 "  - {provider: asg, identifier: asg-%03d, account: acct-%02d, region: " REGION ",\n"
					 "     image: {repo: {url: \"%s\", ref: b%03d, tag_name: git-sha}}}\n",
					 i, fleet_account(f, i), repo, i);
	}
}

/* What one full reconcile pass (the last admin pass of part one) cost. */
struct pass_figures {
	struct counts requests;
	double cpu_ms, wall_ms;
};

static int part_one(const char *bin, unsigned fake_port, unsigned rx_port, const struct fleet *fl,
		    struct pass_figures *fig)
{
	static char cfg[512 * 1024];
	char base[64], name[32], file[40];
	size_t len;
	char sha[41];
	struct counts c0, c1, c2;
	double cpu0, cpu1, cpu2, pinned_ms, quiet_ms, wall_ms;
	int64_t t0;
	json_t *rep = NULL;
	const char *outcome_names[] = { "unchanged", "changed", "gone", "retry", "failing", "not_polled" };
	unsigned outcomes[2][6] = { { 0 } };
	long rx0, code;
	int pinned = 0, polls = 1;

	reset_fake();
	for (int i = 0; i < fl->n_asgs; i++) {
		sha_of(sha, 1, (unsigned)i);
		pthread_mutex_lock(&fake.lock);
		snprintf(fake.heads[i], sizeof fake.heads[i], "%s", sha);
		pthread_mutex_unlock(&fake.lock);
		add_image(fleet_account(fl, i), sha, true);
	}
	/* a database and config of its own per size */
	snprintf(name, sizeof name, "pass-%d", fl->n_asgs);
	snprintf(file, sizeof file, "%s.yml", name);
	len = (size_t)config_head(cfg, sizeof cfg, fake_port, rx_port, name);
	len += (size_t)snprintf(cfg + len, sizeof cfg - len,
				"reconcile: { interval_seconds: 3600, waiting_interval_seconds: 3600, timeout_seconds: 5 }\n");
	snprintf(base, sizeof base, "http://127.0.0.1:%u", fake_port);
	fleet_config(fl, base, false, cfg, sizeof cfg, &len);
	if (len >= sizeof cfg - 1) {
		fprintf(stderr, "config too long\n");
		return 1;
	}
	write_file(file, cfg);

	c0 = counts_now();
	rx0 = rx_received();
	t0 = now_ns();
	if (!start_amicd(bin, file, name))
		return 1;
	cpu0 = 0; /* the process's whole life */
	/* every 100 ms: the list costs amicd a status per ASG, which counts in its CPU */
	while (ms_since(t0) < 60000 && amicd_alive() && (pinned = pinned_count(fl->n_asgs)) < fl->n_asgs) {
		sleep_ms(100);
		polls++;
	}
	pinned_ms = ms_since(t0);
	c1 = counts_now();
	cpu1 = amicd_cpu_ms();
	if (pinned < fl->n_asgs) {
		fprintf(stderr, "only %d of %d ASGs pinned within 60 s; see %s\n", pinned, fl->n_asgs, amicd_log);
		return 1;
	}
	if (!wait_quiet(1000, 30000)) {
		fprintf(stderr, "the reconciler did not go quiet within 30 s of every ASG being pinned\n");
		return 1;
	}
	quiet_ms = ms_since(t0) - 1000;
	c2 = counts_now();
	cpu2 = amicd_cpu_ms();

	if (!quiet) {
		printf("reconcile: %d ASGs in %d accounts (%d each, one branch each), static keys per account, fakes on"
		       " loopback verifying every SigV4 signature; %ld CPUs\n", fl->n_asgs, fl->n_accounts,
		       fl->n_asgs / fl->n_accounts, sysconf(_SC_NPROCESSORS_ONLN));
		printf("start (exec to every ASG pinned, %.0f ms; triggers received %ld; GET /api/v1/asgs polled %d times):\n",
		       pinned_ms, rx_received() - rx0, polls);
		print_counts("exec -> all pinned", counts_diff(c0, c1), cpu1 - cpu0, pinned_ms, fl->n_asgs);
		print_counts("all pinned -> quiet (nudged looks)", counts_diff(c1, c2), cpu2 - cpu1, quiet_ms - pinned_ms,
			     fl->n_asgs);
	}

	for (int pass = 0; pass < 2; pass++) {
		struct counts a, b;
		double ca, cb;
		json_t *list;

		a = counts_now();
		ca = amicd_cpu_ms();
		t0 = now_ns();
		code = amicd_http("POST", "/api/v1/admin/reconcile",
				  (const char *[]){ "Content-Type: application/json", "Authorization: Bearer " ADMIN_TOKEN, NULL },
				  "{}", 120000, &rep);
		wall_ms = ms_since(t0);
		cb = amicd_cpu_ms();
		b = counts_now();
		if (code != 200) {
			fprintf(stderr, "POST /api/v1/admin/reconcile answered %ld\n", code);
			json_decref(rep);
			return 1;
		}
		list = json_object_get(rep, "reconciled");
		for (size_t i = 0; i < json_array_size(list); i++)
			for (int k = 0; k < 6; k++) {
				json_t *r = json_array_get(list, i);
				const char *g = json_string_value(json_object_get(r, "gitlab"));
				const char *e = json_string_value(json_object_get(r, "ec2"));

				outcomes[0][k] += g != NULL && strcmp(g, outcome_names[k]) == 0;
				outcomes[1][k] += e != NULL && strcmp(e, outcome_names[k]) == 0;
			}
		if (fig != NULL)
			*fig = (struct pass_figures){ counts_diff(a, b), cb - ca, wall_ms };
		if (!quiet) {
			printf("POST /api/v1/admin/reconcile {} #%d (%zu ASGs reported):\n", pass + 1, json_array_size(list));
			print_counts("one full pass", counts_diff(a, b), cb - ca, wall_ms, fl->n_asgs);
			for (int s = 0; s < 2; s++) {
				printf("    %-7s", s == 0 ? "gitlab:" : "ec2:");
				for (int k = 0; k < 6; k++)
					if (outcomes[s][k] != 0)
						printf(" %s %u", outcome_names[k], outcomes[s][k]);
				printf("\n");
			}
		}
		memset(outcomes, 0, sizeof outcomes);
		json_decref(rep);
		rep = NULL;
		if (!wait_quiet(300, 10000)) {
			fprintf(stderr, "the reconciler did not go quiet after the admin pass\n");
			return 1;
		}
	}
	if (!quiet)
		printf("  (expected per ASG and pass: 1 GitLab + 1 DescribeImages for the head + 1 for the pinned AMI; "
		       "cpu in %ld Hz clock ticks)\n", sysconf(_SC_CLK_TCK));
	stop_amicd();
	return 0;
}

/* --- part 2: promotion latency without EventBridge -------------------------------------------- */

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static bool asg_head_is(const char *sha)
{
	json_t *j = NULL;
	bool ok = amicd_http("GET", "/api/v1/asgs/asg-000", NULL, NULL, 5000, &j) == 200 && str_at(j, "head", "commit") != NULL &&
		  strcasecmp(str_at(j, "head", "commit"), sha) == 0;

	json_decref(j);
	return ok;
}

static int part_two(const char *bin, unsigned fake_port, unsigned rx_port, int rounds)
{
	char cfg[4096], sha[41], prev[41];
	double *lat = calloc((size_t)rounds + 1, sizeof *lat), cpu0;
	int64_t t0;
	int done = 0, len;
	long rx0;
	struct counts c0;

	if (lat == NULL)
		return 1;
	reset_fake();
	sha_of(sha, 2, 0);
	pthread_mutex_lock(&fake.lock);
	snprintf(fake.heads[0], sizeof fake.heads[0], "%s", sha);
	pthread_mutex_unlock(&fake.lock);
	add_image(0, sha, true);
	len = config_head(cfg, sizeof cfg, fake_port, rx_port, "latency");
	snprintf(cfg + len, sizeof cfg - (size_t)len,
		 "reconcile: { interval_seconds: 3600, waiting_interval_seconds: 1, timeout_seconds: 5 }\n"
		 "accounts:\n  - name: acct-00\n    uid: \"%012d\"\n"
		 "    aws: { access_key_id_env: AMICD_BENCH_KEY_ID_00, secret_access_key_env: AMICD_BENCH_SECRET_00 }\n"
		 "terraformResources:\n"
		 "  - {provider: asg, identifier: asg-000, account: acct-00, region: " REGION ",\n"
		 "     image: {repo: {url: \"http://127.0.0.1:%u/platform/golden-images\", ref: b000, tag_name: git-sha}}}\n",
		 200000000, fake_port);
	write_file("latency.yml", cfg);
	if (!start_amicd(bin, "latency.yml", "latency")) {
		free(lat);
		return 1;
	}
	t0 = now_ns();
	while (ms_since(t0) < 10000 && pinned_count(1) < 1)
		sleep_ms(20);
	if (pinned_count(1) < 1 || !wait_quiet(300, 10000)) {
		fprintf(stderr, "the latency ASG was not pinned within 10 s; see %s\n", amicd_log);
		free(lat);
		return 1;
	}
	rx0 = rx_received();
	c0 = counts_now();
	cpu0 = amicd_cpu_ms();
	t0 = now_ns();
	for (int i = 1; i <= rounds; i++) {
		char body[1024], uuid[96];
		int64_t start, wait0;
		struct timespec until;
		bool ok = true, asked = false;
		size_t im;
		long code;

		snprintf(prev, sizeof prev, "%s", sha);
		sha_of(sha, 2, (unsigned)i);
		im = add_image(0, sha, false); /* built, not yet listed in the account */
		pthread_mutex_lock(&fake.lock);
		snprintf(fake.heads[0], sizeof fake.heads[0], "%s", sha);
		snprintf(fake.watch_sha, sizeof fake.watch_sha, "%s", sha);
		fake.watch_asked = false;
		pthread_mutex_unlock(&fake.lock);
		snprintf(uuid, sizeof uuid, "X-Gitlab-Event-UUID: bench-reconcile-%d", i);
		snprintf(body, sizeof body,
			 "{\"object_kind\":\"push\",\"event_name\":\"push\",\"ref\":\"refs/heads/b000\",\"before\":\"%s\","
			 "\"after\":\"%s\",\"checkout_sha\":\"%s\",\"project\":{\"web_url\":"
			 "\"http://127.0.0.1:%u/platform/golden-images\"},\"commits\":[],\"total_commits_count\":0}",
			 prev, sha, sha, fake_port);
		code = amicd_http("POST", "/hooks/gitlab", (const char *[]){ "Content-Type: application/json",
				  "X-Gitlab-Event: Push Hook", "X-Gitlab-Token: " HOOK_TOKEN, uuid, NULL }, body, 5000, NULL);
		if (code != 202) {
			fprintf(stderr, "round %d: the push hook answered %ld\n", i, code);
			break;
		}
		/* the ASG's head is the new commit, and the reconciler has asked EC2 for its images (none listed yet) */
		wait0 = now_ns();
		while (ms_since(wait0) < 10000 && amicd_alive() && !(asked && asg_head_is(sha))) {
			pthread_mutex_lock(&fake.lock);
			asked = fake.watch_asked;
			pthread_mutex_unlock(&fake.lock);
			if (!asked)
				sleep_ms(5);
		}
		if (!asked || !asg_head_is(sha)) {
			fprintf(stderr, "round %d: head %s / DescribeImages for it %s within 10 s\n", i,
				asg_head_is(sha) ? "moved" : "did not move", asked ? "asked" : "not asked");
			break;
		}
		sleep_ms(random() % 1000); /* the AMI appears at any phase of the waiting interval */
		pthread_mutex_lock(&fake.lock);
		fake.images[im].listed = true;
		pthread_mutex_unlock(&fake.lock);
		start = now_ns();
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10;
		pthread_mutex_lock(&rx_lock);
		while (strcasecmp(rx_commit, sha) != 0 && ok)
			ok = pthread_cond_timedwait(&rx_arrived, &rx_lock, &until) == 0;
		if (ok)
			lat[done++] = (double)(rx_ns - start) / 1e6;
		pthread_mutex_unlock(&rx_lock);
		if (!ok) {
			fprintf(stderr, "round %d: no trigger within 10 s of the AMI being listed; see %s\n", i, amicd_log);
			break;
		}
	}
	if (done > 0) {
		struct counts c = counts_diff(c0, counts_now());
		double wall = ms_since(t0);

		qsort(lat, (size_t)done, sizeof *lat, cmp);
		printf("promotion latency without EventBridge (waiting_interval_seconds: 1), one ASG, %d promotions:\n", done);
		printf("  AMI listed+available in the fake EC2 -> trigger received: p50 %.1f ms  p90 %.1f ms  "
		       "p99 %.1f ms  max %.1f ms  min %.1f ms\n", lat[(done - 1) / 2], lat[(done * 9 + 9) / 10 - 1],
		       lat[(done * 99 + 99) / 100 - 1], lat[done - 1], lat[0]);
		printf("  (the AMI appears 0-999 ms after the reconciler's last look; nearest-rank percentiles)\n");
		printf("  triggers received %ld; over the %.1f s of rounds: gitlab %u, ec2 %u, sts %u requests, amicd cpu %.0f ms\n",
		       rx_received() - rx0, wall / 1000, c.gitlab, c.ec2, c.sts, amicd_cpu_ms() - cpu0);
	}
	stop_amicd();
	free(lat);
	return done == rounds ? 0 : 1;
}

/* --- scale: how the worker, a promotion and a pass grow with the fleet ------------------ */

#define SCALE_EVENTS 1000   /* pushes the worker is timed on, at every size */
#define SCALE_PROMOTIONS 30 /* promotions timed at every size */
#define HOOK_REPO_BASE "https://gitlab.example.net"

struct scale_figures {
	struct fleet fleet;
	double events_per_s, post_s, p50_ms, p99_ms;
	struct pass_figures pass;
};

/* amicd_events_processed_total from /metrics; -1 when it cannot be read. */
static long long events_processed(void)
{
	CURL *c = curl_easy_init();
	struct buf b = { NULL, 0 };
	char url[128];
	const char *at;
	long long n = -1;

	if (c == NULL)
		return -1;
	snprintf(url, sizeof url, "http://127.0.0.1:%u/metrics", amicd_port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_buf);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(c) == CURLE_OK && b.data != NULL &&
	    (at = strstr(b.data, "\namicd_events_processed_total ")) != NULL)
		n = atoll(at + strlen("\namicd_events_processed_total "));
	free(b.data);
	curl_easy_cleanup(c);
	return n;
}

/* POST body to path on a kept-alive handle; the status (0: no answer). */
static long post_on(CURL *c, const char *path, struct curl_slist *headers, const char *body)
{
	char url[128];
	long code = 0;

	snprintf(url, sizeof url, "http://127.0.0.1:%u%s", amicd_port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_buf_discard);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

/* A push moving ASG k's branch from heads[k] to a new commit (serial n); heads[k] becomes it. */
static long push_next(CURL *c, struct curl_slist *gh, const struct fleet *fl, char (*heads)[41], int k, unsigned n)
{
	char body[1024], repo[160], sha[41];

	sha_of(sha, 3, n);
	fleet_repo(fl, k, HOOK_REPO_BASE, repo, sizeof repo);
	snprintf(body, sizeof body,
		 "{\"object_kind\":\"push\",\"event_name\":\"push\",\"ref\":\"refs/heads/b%03d\",\"before\":\"%s\","
		 "\"after\":\"%s\",\"checkout_sha\":\"%s\",\"project\":{\"web_url\":\"%s\"},\"commits\":[],"
		 "\"total_commits_count\":0}", k, heads[k], sha, sha, repo);
	snprintf(heads[k], 41, "%s", sha);
	return post_on(c, "/hooks/gitlab", gh, body);
}

/*
 * One size, without the reconciler (hooks only, so that what is timed is the
 * worker's and the decision's cost): SCALE_EVENTS pushes spread over the
 * ASGs' branches, timed from the first POST to the worker having processed
 * them all (amicd_events_processed_total); then SCALE_PROMOTIONS promotions
 * of ASGs spread over the fleet, each a push and the 'AMI Shared' event of an
 * AMI tagged with it, from that event's 202 to its trigger at the receiver.
 */
static int scale_hooks(const char *bin, unsigned rx_port, struct scale_figures *out)
{
	static char cfg[512 * 1024];
	static char heads[MAX_ASGS][41];
	const struct fleet *fl = &out->fleet;
	double lat[SCALE_PROMOTIONS];
	struct curl_slist *gh = NULL, *eh = NULL;
	CURL *c = curl_easy_init();
	char name[32], file[40];
	long long base, done = -1;
	int64_t t0;
	size_t len;
	int status = 1, n_lat = 0;
	unsigned serial = 0;

	if (c == NULL)
		return 1;
	snprintf(name, sizeof name, "hooks-%d", fl->n_asgs);
	len = (size_t)snprintf(cfg, sizeof cfg,
			       "listen: 127.0.0.1:0\ndatabase: %s/%s.db\npins_dir: %s/pins-%s\nlog_level: info\n"
			       "auth:\n  gitlab: {token_file: %s/hook-token}\n"
			       "  eventbridge: {api_key_header: x-api-key, api_key_file: %s/eb-key}\n"
			       "  admin: {token_file: %s/admin-token}\n"
			       "trigger: {url: \"http://127.0.0.1:%u/tr\", timeout_seconds: 5}\n",
			       dir, name, dir, name, dir, dir, dir, rx_port);
	fleet_config(fl, HOOK_REPO_BASE, true, cfg, sizeof cfg, &len);
	snprintf(file, sizeof file, "%s.yml", name);
	write_file(file, cfg);
	if (len >= sizeof cfg - 1 || !start_amicd(bin, file, name)) {
		curl_easy_cleanup(c);
		return 1;
	}
	gh = curl_slist_append(gh, "Content-Type: application/json");
	gh = curl_slist_append(gh, "X-Gitlab-Event: Push Hook");
	gh = curl_slist_append(gh, "X-Gitlab-Token: " HOOK_TOKEN);
	gh = curl_slist_append(gh, "Expect:");
	eh = curl_slist_append(eh, "Content-Type: application/json");
	eh = curl_slist_append(eh, "x-api-key: " EB_KEY);
	eh = curl_slist_append(eh, "Expect:");
	for (int k = 0; k < fl->n_asgs; k++)
		sha_of(heads[k], 4, (unsigned)k); /* each branch's parent commit */

	/* the worker: SCALE_EVENTS pushes, round robin over the branches */
	base = events_processed();
	t0 = now_ns();
	for (int j = 0; j < SCALE_EVENTS; j++)
		if (push_next(c, gh, fl, heads, j % fl->n_asgs, ++serial) != 202) {
			fprintf(stderr, "scale %d: push %d not accepted\n", fl->n_asgs, j);
			goto out;
		}
	out->post_s = ms_since(t0) / 1000;
	while (ms_since(t0) < 120000 && amicd_alive() && (done = events_processed()) < base + SCALE_EVENTS)
		sleep_ms(5);
	if (base < 0 || done < base + SCALE_EVENTS) {
		fprintf(stderr, "scale %d: the worker processed %lld of %d events within 120 s; see %s\n", fl->n_asgs,
			done - base, SCALE_EVENTS, amicd_log);
		goto out;
	}
	out->events_per_s = SCALE_EVENTS / (ms_since(t0) / 1000);

	/* promotions: ASG k gets a new head, then an AMI tagged with it shared with its account */
	for (int r = 0; r < SCALE_PROMOTIONS; r++) {
		int k = r * fl->n_asgs / SCALE_PROMOTIONS;
		char body[1024];
		struct timespec until;
		int64_t start;
		bool ok = true;

		if (push_next(c, gh, fl, heads, k, ++serial) != 202)
			goto out;
		snprintf(body, sizeof body,
			 "{\"version\":\"0\",\"id\":\"bench-scale-%d-%d\",\"detail-type\":\"AMI Shared\",\"source\":\"bench\","
			 "\"account\":\"" BUILDER "\",\"time\":\"2026-01-01T00:00:00Z\",\"region\":\"" REGION "\","
			 "\"detail\":{\"ImageId\":\"ami-%017x\",\"Region\":\"" REGION "\",\"OwnerAccount\":\"" BUILDER "\","
			 "\"DestinationAccount\":\"%012d\",\"State\":\"available\",\"Tags\":{\"git-sha\":\"%s\"}}}",
			 fl->n_asgs, r, 0xa0000u + serial, 200000000 + fleet_account(fl, k), heads[k]);
		if (post_on(c, "/hooks/eventbridge", eh, body) != 202) {
			fprintf(stderr, "scale %d: AMI event %d not accepted\n", fl->n_asgs, r);
			goto out;
		}
		start = now_ns();
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10;
		pthread_mutex_lock(&rx_lock);
		while (strcasecmp(rx_commit, heads[k]) != 0 && ok)
			ok = pthread_cond_timedwait(&rx_arrived, &rx_lock, &until) == 0;
		if (ok)
			lat[n_lat++] = (double)(rx_ns - start) / 1e6;
		pthread_mutex_unlock(&rx_lock);
		if (!ok) {
			fprintf(stderr, "scale %d: no trigger for asg-%03d within 10 s; see %s\n", fl->n_asgs, k, amicd_log);
			goto out;
		}
	}
	qsort(lat, (size_t)n_lat, sizeof lat[0], cmp);
	out->p50_ms = lat[(n_lat - 1) / 2];
	out->p99_ms = lat[(n_lat * 99 + 99) / 100 - 1];
	status = 0;
out:
	stop_amicd();
	curl_slist_free_all(gh);
	curl_slist_free_all(eh);
	curl_easy_cleanup(c);
	return status;
}

/* ratio b / a, or 0 when a is 0 */
static double ratio(double a, double b)
{
	return a > 0 ? b / a : 0;
}

/*
 * 10, 100 and 1,000 ASGs (issue 12: "1,000 ASGs in 50 accounts and 100
 * repos"), the accounts and repos growing with them (n/20 accounts, n/10
 * repos, at least one): the worker's events/s, the promotion latency, and one
 * full reconcile pass's requests and CPU, then how each grew per tenfold.
 */
static int scale(const char *bin, unsigned fake_port, unsigned rx_port)
{
	static const int sizes[] = { 10, 100, 1000 };
	struct scale_figures f[3];
	int n = (int)(sizeof sizes / sizeof sizes[0]);

	quiet = true;
	printf("scale: %d pushes timed through the worker, %d promotions, one full reconcile pass, at each size\n",
	       SCALE_EVENTS, SCALE_PROMOTIONS);
	for (int i = 0; i < n; i++) {
		int64_t t0 = now_ns();

		memset(&f[i], 0, sizeof f[i]);
		f[i].fleet = (struct fleet){ sizes[i], sizes[i] / 20 > 0 ? sizes[i] / 20 : 1,
					     sizes[i] / 10 > 0 ? sizes[i] / 10 : 1 };
		if (scale_hooks(bin, rx_port, &f[i]) != 0 || part_one(bin, fake_port, rx_port, &f[i].fleet, &f[i].pass) != 0)
			return 1;
		stop_amicd();
		fprintf(stderr, "  (%d ASGs measured in %.1f s)\n", sizes[i], ms_since(t0) / 1000);
	}
	printf("\n| ASGs (accounts, repos) | worker events/s (posting took) | promotion p50 / p99 | reconcile pass (the 2nd admin pass):"
	       " gitlab + ec2 (+ sts) requests | pass amicd CPU | pass wall |\n| --- | --- | --- | --- | --- | --- |\n");
	for (int i = 0; i < n; i++)
		printf("| %d (%d, %d) | %.0f (%.2f s) | %.1f / %.1f ms | %u + %u (+ %u) | %.0f ms | %.0f ms |\n",
		       f[i].fleet.n_asgs, f[i].fleet.n_accounts, f[i].fleet.n_repos, f[i].events_per_s, f[i].post_s,
		       f[i].p50_ms, f[i].p99_ms, f[i].pass.requests.gitlab, f[i].pass.requests.ec2, f[i].pass.requests.sts,
		       f[i].pass.cpu_ms, f[i].pass.wall_ms);
	printf("\ngrowth per tenfold of ASGs (linear: requests, CPU x10; events/s and latency x1 or better):\n"
	       "| from -> to | events/s | promotion p99 | pass requests | pass CPU | pass CPU per ASG |\n"
	       "| --- | --- | --- | --- | --- | --- |\n");
	for (int i = 1; i < n; i++) {
		const struct scale_figures *a = &f[i - 1], *b = &f[i];
		double ra = a->pass.requests.gitlab + a->pass.requests.ec2, rb = b->pass.requests.gitlab + b->pass.requests.ec2;

		printf("| %d -> %d | x%.2f | x%.2f | x%.2f | x%.2f | x%.2f |\n", a->fleet.n_asgs, b->fleet.n_asgs,
		       ratio(a->events_per_s, b->events_per_s), ratio(a->p99_ms, b->p99_ms), ratio(ra, rb),
		       ratio(a->pass.cpu_ms, b->pass.cpu_ms),
		       ratio(a->pass.cpu_ms / a->fleet.n_asgs, b->pass.cpu_ms / b->fleet.n_asgs));
	}
	printf("(CPU from /proc in %ld Hz clock ticks: the 10-ASG pass is a few ticks, so its ratios are coarse)\n",
	       sysconf(_SC_CLK_TCK));
	return 0;
}

int main(int argc, char **argv)
{
	bool scaling = argc > 1 && strcmp(argv[1], "scale") == 0;
	int rounds = argc > 1 && !scaling ? atoi(argv[1]) : 50;
	const char *bin = getenv("AMICD_BIN");
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	unsigned rx_port;
	int status = 1;

	if (bin == NULL || rounds < 1 || rounds > 1000) {
		fprintf(stderr, "usage: AMICD_BIN=build/amicd reconcile [ROUNDS | scale]   (ROUNDS 1..1000, default 50)\n");
		return 2;
	}
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	srandom((unsigned)time(NULL));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (int i = 0; i < MAX_ACCOUNTS; i++) {
		snprintf(key_ids[i], sizeof key_ids[i], "AKIDBENCH%02dEXAMPLE", i);
		snprintf(secrets[i], sizeof secrets[i], "bench/static+secret-key-%02d", i);
		keys[i] = (struct sigv4_key){ key_ids[i], secrets[i], NULL };
	}
	setenv("AMICD_BENCH_GITLAB_API_TOKEN", API_TOKEN, 1);
	write_file("hook-token", HOOK_TOKEN "\n");
	write_file("eb-key", EB_KEY "\n");
	write_file("admin-token", ADMIN_TOKEN "\n");
	fake.srv = fakehttp_start(serve, NULL);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request, NULL,
			     MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
	info = d != NULL ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
	if (fake.srv == NULL || info == NULL) {
		fprintf(stderr, "cannot start the fake or the trigger receiver\n");
		goto out;
	}
	rx_port = (unsigned)info->port;
	if (scaling) {
		status = scale(bin, fakehttp_port(fake.srv), rx_port);
		goto checked;
	}
	status = part_one(bin, fakehttp_port(fake.srv), rx_port,
			  &(struct fleet){ .n_asgs = N_ASGS, .n_accounts = N_ACCOUNTS, .n_repos = 1 }, NULL);
	stop_amicd();
	if (status == 0) {
		printf("\n");
		status = part_two(bin, fakehttp_port(fake.srv), rx_port, rounds);
	}
checked:
	if (counts_now().bad != 0) {
		fprintf(stderr, "the fake refused %u signatures\n", counts_now().bad);
		status = 1;
	}
out:
	stop_amicd();
	if (d != NULL)
		MHD_stop_daemon(d);
	fakehttp_stop(fake.srv);
	remove_dir();
	curl_global_cleanup();
	return status;
}
