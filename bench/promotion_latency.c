/*
 * promotion_latency.c — benchmark: how long from the 2xx of the delivery that
 * makes the branch head ready to the terraform-resources trigger arriving.
 *
 * Runs the real amicd (AMICD_BIN) in a temp dir with its trigger pointed at a
 * receiver inside this program, then N times: push a new commit (head moves,
 * not ready), send the 'AMI Shared' event of a new AMI tagged with it (ready):
 * the clock starts when that POST returns 202 and stops when the receiver sees
 * the promotion's trigger. Prints p50/p90/p99/max. Loopback only; bounded in
 * count and time.
 *
 * usage: promotion_latency [N]   (default 200)
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOKEN "bench-gitlab-token"
#define EB_KEY "bench-eb-key"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t arrived = PTHREAD_COND_INITIALIZER;
static char last_commit[64];
static int64_t last_arrival_ns;
static long received;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

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
	pthread_mutex_lock(&lock);
	if (at != NULL)
		snprintf(last_commit, sizeof last_commit, "%.40s", at + 10);
	last_arrival_ns = now_ns();
	received++;
	pthread_cond_broadcast(&arrived);
	pthread_mutex_unlock(&lock);
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

static size_t sink(char *p, size_t s, size_t n, void *cls)
{
	(void)p;
	(void)cls;
	return s * n;
}

static long post(CURL *curl, const char *url, struct curl_slist *h, const char *body)
{
	long code = 0;

	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink);
	if (curl_easy_perform(curl) == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static unsigned wait_port(const char *log)
{
	for (int i = 0; i < 1000; i++) {
		char buf[8192];
		FILE *f = fopen(log, "r");
		size_t n = f != NULL ? fread(buf, 1, sizeof buf - 1, f) : 0;
		const char *at;
		struct timespec pause = { 0, 10 * 1000 * 1000 };

		if (f != NULL)
			fclose(f);
		buf[n] = '\0';
		at = strstr(buf, "\"msg\":\"listening\"");
		if (at != NULL && (at = strstr(at, "\"port\":")) != NULL)
			return (unsigned)atoi(at + 7);
		nanosleep(&pause, NULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 200;
	const char *bin = getenv("AMICD_BIN");
	char dir[] = "/tmp/amicd-bench-XXXXXX", path[512], log[512], hooks[128], eb[128];
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	double *lat = calloc((size_t)n, sizeof *lat);
	struct curl_slist *gh = NULL, *ehd = NULL;
	CURL *curl;
	FILE *f;
	pid_t pid;
	unsigned port;
	int done = 0, status = 1;

	if (bin == NULL || lat == NULL || mkdtemp(dir) == NULL) {
		fprintf(stderr, "usage: AMICD_BIN=build/amicd promotion_latency [N]\n");
		return 2;
	}
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, on_request, NULL,
			     MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
	info = d != NULL ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
	if (info == NULL)
		return 1;
	snprintf(path, sizeof path, "%s/t", dir);
	f = fopen(path, "w");
	fputs(TOKEN "\n", f);
	fclose(f);
	snprintf(path, sizeof path, "%s/k", dir);
	f = fopen(path, "w");
	fputs(EB_KEY "\n", f);
	fclose(f);
	snprintf(path, sizeof path, "%s/amicd.yml", dir);
	f = fopen(path, "w");
	fprintf(f, "listen: 127.0.0.1:0\ndatabase: %s/db\npins_dir: %s/pins\nlog_level: info\n"
		   "auth:\n  gitlab: {token_file: %s/t}\n  eventbridge: {api_key_header: x-api-key, api_key_file: %s/k}\n"
		   "  admin: {token_file: %s/t}\n"
		   "trigger: {url: \"http://127.0.0.1:%u/tr\", timeout_seconds: 5}\n"
		   "accounts: [{name: dest, uid: \"444455556666\"}]\n"
		   "terraformResources:\n  - {provider: asg, identifier: workers-stage, account: dest, region: eu-west-1,\n"
		   "     image: {repo: {url: \"https://gitlab.example.net/platform/golden-images\", ref: main, tag_name: git-sha}}}\n",
		dir, dir, dir, dir, dir, (unsigned)info->port);
	fclose(f);
	snprintf(log, sizeof log, "%s/amicd.log", dir);
	pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, 2);
		execl(bin, "amicd", "serve", "--config", path, (char *)NULL);
		_exit(127);
	}
	port = wait_port(log);
	if (port == 0) {
		fprintf(stderr, "amicd did not start; see %s\n", log);
		goto out;
	}
	snprintf(hooks, sizeof hooks, "http://127.0.0.1:%u/hooks/gitlab", port);
	snprintf(eb, sizeof eb, "http://127.0.0.1:%u/hooks/eventbridge", port);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	curl = curl_easy_init();
	gh = curl_slist_append(gh, "Content-Type: application/json");
	gh = curl_slist_append(gh, "X-Gitlab-Event: Push Hook");
	gh = curl_slist_append(gh, "X-Gitlab-Token: " TOKEN);
	ehd = curl_slist_append(ehd, "Content-Type: application/json");
	ehd = curl_slist_append(ehd, "x-api-key: " EB_KEY);
	for (int i = 0; i < n; i++) {
		char prev[41], sha[41], push[1024], ami[1024];
		int64_t t0;
		struct timespec until;
		bool ok = true;

		snprintf(prev, sizeof prev, "%040x", i);
		snprintf(sha, sizeof sha, "%040x", i + 1);
		snprintf(push, sizeof push,
			 "{\"object_kind\":\"push\",\"before\":\"%s\",\"after\":\"%s\",\"ref\":\"refs/heads/main\","
			 "\"project\":{\"web_url\":\"https://gitlab.example.net/platform/golden-images\"}}", prev, sha);
		snprintf(ami, sizeof ami,
			 "{\"version\":\"0\",\"id\":\"bench-%d\",\"detail-type\":\"AMI Shared\",\"source\":\"bench\","
			 "\"account\":\"111122223333\",\"time\":\"2026-01-01T00:00:00Z\",\"region\":\"eu-west-1\","
			 "\"detail\":{\"ImageId\":\"ami-%017x\",\"Region\":\"eu-west-1\",\"OwnerAccount\":\"111122223333\","
			 "\"DestinationAccount\":\"444455556666\",\"State\":\"available\",\"Tags\":{\"git-sha\":\"%s\"}}}",
			 i, i + 1, sha);
		if (post(curl, hooks, gh, push) != 202 || post(curl, eb, ehd, ami) != 202) {
			fprintf(stderr, "delivery %d not accepted\n", i);
			goto out;
		}
		t0 = now_ns();
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10;
		pthread_mutex_lock(&lock);
		while (strcmp(last_commit, sha) != 0 && ok)
			ok = pthread_cond_timedwait(&arrived, &lock, &until) == 0;
		if (ok)
			lat[done++] = (double)(last_arrival_ns - t0) / 1e6;
		pthread_mutex_unlock(&lock);
		if (!ok) {
			fprintf(stderr, "no trigger for promotion %d within 10 s\n", i);
			goto out;
		}
	}
	qsort(lat, (size_t)done, sizeof *lat, cmp);
	printf("promotion latency over %d promotions (2xx of the ready-making delivery -> trigger received):\n", done);
	printf("  p50 %.2f ms   p90 %.2f ms   p99 %.2f ms   max %.2f ms   (goal: p99 <= 20 ms)\n",
	       lat[done / 2], lat[done * 9 / 10], lat[done * 99 / 100 < done ? done * 99 / 100 : done - 1],
	       lat[done - 1]);
	printf("  trigger requests received: %ld (one per promotion expected: %d)\n", received, done);
	status = received == done ? 0 : 1;
	curl_easy_cleanup(curl);
out:
	curl_slist_free_all(gh);
	curl_slist_free_all(ehd);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	MHD_stop_daemon(d);
	free(lat);
	if (getenv("AMICD_KEEP_BENCH_DIR") == NULL) {
		char cmd[600];

		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return status;
}
