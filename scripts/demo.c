/*
 * demo.c — `make demo`: the first hour in a minute. Starts the amicd binary
 * (argv[1]) on a copy of examples/amicd.yml whose listen, database, pins_dir
 * and trigger.url point into a temp dir of its own and at a small trigger
 * receiver in this process (playing terraform-resources), sends the fixture
 * deliveries of tests/data in order — the GitLab push of the tracked branch,
 * then EventBridge's AMI events: state available, AMI Shared into the ASG's
 * account, CreateTags seen there — and after each prints what
 * GET /api/v1/asgs/<id> says (state, reason, waiting_for), then the trigger
 * amicd sent. Then it stops amicd (SIGTERM, as a pod is stopped) and removes
 * the temp dir: nothing is left behind, and var/ is never touched.
 *
 * Run from the repository root (the example's secret files are relative
 * paths). Exit status 0 only when the ASG was promoted and the trigger came.
 *
 * Usage: demo AMICD_BIN [EXAMPLE_CONFIG [TEST_DATA_DIR]]
 */
#include <curl/curl.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ASG "workers-stage"
#define WAIT_MS 15000

static char dir[256];
static pid_t amicd = -1;
static char base[64];

/* ---- the trigger receiver (terraform-resources) --------------------------- */

static pthread_mutex_t rx_lock = PTHREAD_MUTEX_INITIALIZER;
static char rx_line[512];    /* method, path, what Authorization held */
static char *rx_body;        /* the last trigger's body */
static unsigned rx_count;
static char trigger_token[256];

struct upload {
	char *buf;
	size_t len;
};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *data, size_t *size, void **state)
{
	struct upload *u = *state;
	struct MHD_Response *r;
	enum MHD_Result ret;
	const char *auth;
	char want[300];

	(void)cls;
	(void)version;
	if (u == NULL) {
		u = calloc(1, sizeof *u);
		*state = u;
		return u != NULL ? MHD_YES : MHD_NO;
	}
	if (*size > 0) {
		char *grown = u->len + *size < 1 << 20 ? realloc(u->buf, u->len + *size + 1) : NULL;

		if (grown == NULL)
			return MHD_NO;
		u->buf = grown;
		memcpy(u->buf + u->len, data, *size);
		u->len += *size;
		u->buf[u->len] = '\0';
		*size = 0;
		return MHD_YES;
	}
	auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	snprintf(want, sizeof want, "Bearer %s", trigger_token);
	pthread_mutex_lock(&rx_lock);
	snprintf(rx_line, sizeof rx_line, "%s %s  Authorization: %s", method, url,
		 auth == NULL ? "(none)" : strcmp(auth, want) == 0 ? "Bearer <examples/secrets/trigger-token>" : "(wrong token)");
	free(rx_body);
	rx_body = u->buf != NULL ? strdup(u->buf) : strdup("");
	rx_count++;
	pthread_mutex_unlock(&rx_lock);
	r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode t)
{
	struct upload *u = *state;

	(void)cls;
	(void)c;
	(void)t;
	if (u != NULL)
		free(u->buf);
	free(u);
	*state = NULL;
}

/* ---- small helpers ----------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap(void)
{
	struct timespec ts = { 0, 50 * 1000000 };

	nanosleep(&ts, NULL);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0;

	if (f == NULL)
		return NULL;
	if (getdelim(&buf, &len, '\0', f) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* A secret file's first line, trailing whitespace dropped, into out. */
static bool secret(const char *path, char *out, size_t size)
{
	char *text = slurp(path);
	size_t n;

	if (text == NULL)
		return false;
	n = strcspn(text, "\r\n");
	while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t'))
		n--;
	snprintf(out, size, "%.*s", (int)n, text);
	free(text);
	return true;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

struct buf {
	char *data;
	size_t len;
};

static size_t append(char *p, size_t s, size_t n, void *cls)
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

/* One request to amicd; the status (0: no answer) and the body as JSON (NULL when not JSON). */
static long request(const char *path, struct curl_slist *headers, const char *body, json_t **out)
{
	CURL *c = curl_easy_init();
	struct buf b = { NULL, 0 };
	char url[512];
	long code = 0;

	*out = NULL;
	if (c == NULL)
		return 0;
	snprintf(url, sizeof url, "%s%s", base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (headers != NULL)
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (b.data != NULL)
		*out = json_loads(b.data, 0, NULL);
	free(b.data);
	curl_easy_cleanup(c);
	return code;
}

/* ---- amicd ------------------------------------------------------------------- */

/* The example config with listen, database, pins_dir and trigger.url replaced; false on error. */
static bool write_config(const char *example, const char *path, const char *trigger_url)
{
	char *text = slurp(example);
	FILE *f = fopen(path, "w");
	bool ok = text != NULL && f != NULL;

	for (char *line = text, *next; ok && line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (strncmp(line, "listen:", 7) == 0)
			fprintf(f, "listen: 127.0.0.1:0  # make demo: any free port\n");
		else if (strncmp(line, "database:", 9) == 0)
			fprintf(f, "database: %s/amicd.db\n", dir);
		else if (strncmp(line, "pins_dir:", 9) == 0)
			fprintf(f, "pins_dir: %s/pins\n", dir);
		else if (strncmp(line, "  url: ", 7) == 0)
			fprintf(f, "  url: %s  # make demo: the receiver in scripts/demo.c\n", trigger_url);
		else
			fprintf(f, "%s\n", line);
	}
	free(text);
	if (f != NULL && fclose(f) != 0)
		ok = false;
	return ok;
}

/* Start amicd with its log in dir/amicd.log and wait for its "listening" line. */
static bool start_amicd(const char *bin, const char *config)
{
	char log[320];
	int64_t deadline = now_ms() + WAIT_MS;

	snprintf(log, sizeof log, "%s/amicd.log", dir);
	amicd = fork();
	if (amicd < 0)
		return false;
	if (amicd == 0) {
		FILE *f = freopen(log, "w", stderr);

		prctl(PR_SET_PDEATHSIG, SIGTERM); /* the demo interrupted: amicd goes too */
		if (f == NULL || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
			_exit(127);
		execl(bin, bin, "serve", "--config", config, (char *)NULL);
		fprintf(stderr, "cannot run %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	while (now_ms() < deadline) {
		char *text = slurp(log);
		const char *at = text != NULL ? strstr(text, "\"msg\":\"listening\"") : NULL;
		const char *port = at != NULL ? strstr(at, "\"port\":") : NULL;

		if (port != NULL)
			snprintf(base, sizeof base, "http://127.0.0.1:%lu", strtoul(port + 7, NULL, 10));
		free(text);
		if (port != NULL)
			return true;
		if (waitpid(amicd, NULL, WNOHANG) == amicd) {
			amicd = -1;
			break;
		}
		nap();
	}
	{
		char *text = slurp(log);

		fprintf(stderr, "amicd did not start; its log:\n%s\n", text != NULL ? text : "(none)");
		free(text);
	}
	return false;
}

/* SIGTERM, wait up to 20 s (amicd drains), then SIGKILL; amicd's exit status, or -1. */
static int stop_amicd(void)
{
	int64_t deadline = now_ms() + 20000;
	int status = 0;

	if (amicd <= 0)
		return -1;
	kill(amicd, SIGTERM);
	while (now_ms() < deadline) {
		if (waitpid(amicd, &status, WNOHANG) == amicd) {
			amicd = -1;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		nap();
	}
	kill(amicd, SIGKILL);
	waitpid(amicd, NULL, 0);
	amicd = -1;
	return -1;
}

/* ---- the story ----------------------------------------------------------------- */

/* Wait until the worker has taken event id (its status is no longer "queued"). */
static void wait_taken(json_int_t id)
{
	int64_t deadline = now_ms() + WAIT_MS;
	char path[64];

	snprintf(path, sizeof path, "/api/v1/events/%lld", (long long)id);
	while (now_ms() < deadline) {
		json_t *ev = NULL;
		long code = request(path, NULL, NULL, &ev);
		const char *st = json_string_value(json_object_get(ev, "status"));
		bool done = code == 200 && st != NULL && strcmp(st, "queued") != 0;

		json_decref(ev);
		if (done)
			return;
		nap();
	}
}

static void print_status(void)
{
	json_t *asg = NULL;
	long code = request("/api/v1/asgs/" ASG, NULL, NULL, &asg);
	json_t *waiting = json_object_get(asg, "waiting_for");
	json_t *pin = json_object_get(asg, "pin");

	if (code != 200 || asg == NULL) {
		printf("   GET /api/v1/asgs/%s: %ld\n", ASG, code);
		json_decref(asg);
		return;
	}
	printf("   GET /api/v1/asgs/%s\n", ASG);
	printf("     state:       %s\n", json_string_value(json_object_get(asg, "state")));
	printf("     reason:      %s\n", json_string_value(json_object_get(asg, "reason")));
	if (json_is_object(waiting)) {
		char *missing = json_dumps(json_object_get(waiting, "missing"), JSON_COMPACT);

		printf("     waiting_for: commit %.12s, missing %s\n",
		       json_string_value(json_object_get(waiting, "commit")), missing != NULL ? missing : "?");
		free(missing);
	} else {
		printf("     waiting_for: null\n");
	}
	if (json_is_object(pin))
		printf("     pin:         %.12s (%s)\n", json_string_value(json_object_get(pin, "commit")),
		       json_string_value(json_object_get(pin, "image_id")));
	json_decref(asg);
}

struct step {
	const char *title;
	const char *path;     /* /hooks/gitlab or /hooks/eventbridge */
	const char *fixture;  /* under tests/data */
};

static const struct step steps[] = {
	{ "GitLab: a push to main of platform/golden-images (the tracked branch)", "/hooks/gitlab",
	  "gitlab-push.json" },
	{ "EventBridge: EC2 AMI State Change, the AMI built from that commit is available", "/hooks/eventbridge",
	  "eventbridge-ami-state-change.json" },
	{ "EventBridge: AMI Shared into the ASG's account 444455556666, with its tags", "/hooks/eventbridge",
	  "eventbridge-ami-shared.json" },
	{ "EventBridge: CreateTags seen in the ASG's account (CloudTrail)", "/hooks/eventbridge",
	  "eventbridge-cloudtrail-createtags-asg-account.json" },
};

static bool send_step(size_t i, const char *data, struct curl_slist *gitlab, struct curl_slist *eb)
{
	char path[512];
	char *body;
	json_t *answer = NULL;
	long code;

	snprintf(path, sizeof path, "%s/%s", data, steps[i].fixture);
	body = slurp(path);
	if (body == NULL) {
		fprintf(stderr, "cannot read %s\n", path);
		return false;
	}
	printf("\n%zu. %s\n   POST %s  (tests/data/%s)\n", i + 1, steps[i].title, steps[i].path, steps[i].fixture);
	code = request(steps[i].path, strcmp(steps[i].path, "/hooks/gitlab") == 0 ? gitlab : eb, body, &answer);
	free(body);
	printf("   -> %ld %s, event %lld\n", code, json_string_value(json_object_get(answer, "status")),
	       (long long)json_integer_value(json_object_get(answer, "event_id")));
	if (code != 202 && code != 200) {
		json_decref(answer);
		return false;
	}
	wait_taken(json_integer_value(json_object_get(answer, "event_id")));
	json_decref(answer);
	print_status();
	return true;
}

int main(int argc, char **argv)
{
	const char *bin = argc > 1 ? argv[1] : "build/amicd";
	const char *example = argc > 2 ? argv[2] : "examples/amicd.yml";
	const char *data = argc > 3 ? argv[3] : "tests/data";
	struct MHD_Daemon *rx = NULL;
	const union MHD_DaemonInfo *info;
	struct curl_slist *gitlab = NULL, *eb = NULL;
	char config[320], trigger_url[128], header[512], token[256];
	const char *tmp = getenv("TMPDIR");
	bool ok = false, triggered = false;
	int64_t deadline;
	int rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(dir, sizeof dir, "%s/amicd-demo.XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if (!secret("examples/secrets/trigger-token", trigger_token, sizeof trigger_token)) {
		fprintf(stderr, "run from the repository root: examples/secrets/ not found\n");
		goto out;
	}
	rx = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, NULL,
			      MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
	info = rx != NULL ? MHD_get_daemon_info(rx, MHD_DAEMON_INFO_BIND_PORT) : NULL;
	if (info == NULL) {
		fprintf(stderr, "cannot start the trigger receiver\n");
		goto out;
	}
	snprintf(trigger_url, sizeof trigger_url, "http://127.0.0.1:%u/terraform-resources", (unsigned)info->port);
	snprintf(config, sizeof config, "%s/amicd.yml", dir);
	if (!write_config(example, config, trigger_url)) {
		fprintf(stderr, "cannot write %s from %s\n", config, example);
		goto out;
	}
	if (!start_amicd(bin, config))
		goto out;
	printf("amicd %s on %s\n  config   %s (examples/amicd.yml; listen, database, pins_dir, trigger.url changed)\n"
	       "  trigger  %s (terraform-resources, played by this program)\n",
	       bin, base, config, trigger_url);
	print_status();

	gitlab = curl_slist_append(gitlab, "Content-Type: application/json");
	gitlab = curl_slist_append(gitlab, "X-Gitlab-Event: Push Hook");
	if (!secret("examples/secrets/gitlab-token", token, sizeof token))
		goto out;
	snprintf(header, sizeof header, "X-Gitlab-Token: %s", token);
	gitlab = curl_slist_append(gitlab, header);
	eb = curl_slist_append(eb, "Content-Type: application/json");
	if (!secret("examples/secrets/eb-key", token, sizeof token))
		goto out;
	snprintf(header, sizeof header, "x-api-key: %s", token);
	eb = curl_slist_append(eb, header);

	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
		if (!send_step(i, data, gitlab, eb))
			goto out;

	deadline = now_ms() + WAIT_MS;
	while (!triggered && now_ms() < deadline) {
		pthread_mutex_lock(&rx_lock);
		triggered = rx_count > 0;
		pthread_mutex_unlock(&rx_lock);
		if (!triggered)
			nap();
	}
	printf("\nThe trigger terraform-resources received:\n");
	if (triggered) {
		json_t *body;
		char *pretty;

		pthread_mutex_lock(&rx_lock);
		body = json_loads(rx_body, 0, NULL);
		pretty = body != NULL ? json_dumps(body, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		printf("   %s\n%s\n", rx_line, pretty != NULL ? pretty : rx_body);
		pthread_mutex_unlock(&rx_lock);
		free(pretty);
		json_decref(body);
	} else {
		printf("   nothing within %d s\n", WAIT_MS / 1000);
	}
	printf("\nAfter the trigger:\n");
	print_status();
	{
		char pin_path[320];
		char *pin;

		snprintf(pin_path, sizeof pin_path, "%s/pins/%s.yml", dir, ASG);
		pin = slurp(pin_path);
		printf("\nThe pin file amicd wrote (pins_dir/%s.yml):\n%s", ASG, pin != NULL ? pin : "(none)\n");
		free(pin);
	}
	ok = triggered;
out:
	rc = stop_amicd();
	if (rc >= 0)
		printf("\namicd stopped (exit %d); removing %s\n", rc, dir);
	ok = ok && rc == 0;
	if (rx != NULL)
		MHD_stop_daemon(rx);
	curl_slist_free_all(gitlab);
	curl_slist_free_all(eb);
	free(rx_body);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	curl_global_cleanup();
	if (!ok)
		fprintf(stderr, "make demo: FAILED\n");
	return ok ? 0 : 1;
}
