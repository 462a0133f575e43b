/*
 * trigger.c — the outbox dispatcher (see trigger.h).
 *
 * The thread sleeps until the earliest due attempt, a wake-up, or stop. An
 * attempt in flight when stop comes is aborted (curl's progress callback, or
 * SIGKILL to the command's process group); it counts as an attempt and is due
 * again at once, so it is retried as soon as amicd is back.
 */
#include "trigger.h"

#include "bgthread.h"
#include "log.h"
#include "store.h"
#include "util.h"
#include "version.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DUE_BATCH 16
#define IDLE_WAKE_MS 60000
#define OUTPUT_KEEP 512

extern char **environ;

struct trigger {
	const struct config *cfg;
	struct store *store;
	struct bgthread *thread;        /* set before the dispatcher runs */
	atomic_uint_fast64_t delivered, failed_attempts, gave_up;
};

int64_t trigger_backoff_ms(int attempts, int backoff_max_seconds)
{
	int64_t cap = (int64_t)backoff_max_seconds * 1000;
	int64_t d = 1000;

	for (int i = 1; i < attempts && d < cap; i++)
		d *= 2;
	return d < cap ? d : cap;
}

static size_t discard(char *ptr, size_t size, size_t n, void *cls)
{
	(void)ptr;
	(void)cls;
	return size * n;
}

static int abort_if_stopping(void *cls, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct trigger *t = cls;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return bgthread_stopping(t->thread) ? 1 : 0;
}

/* POST the promotion; true on 2xx. error gets the reason otherwise. */
/*
 * url as the log may show it: without user:password@ and without the query
 * (either may hold a credential). "(unparsable URL)" when curl cannot parse it.
 */
static void loggable_url(const char *url, char *buf, size_t size)
{
	CURLU *u = curl_url();
	char *out = NULL;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_OPTIONS, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK)
		snprintf(buf, size, "%s", out);
	else
		snprintf(buf, size, "(unparsable URL)");
	curl_free(out);
	curl_url_cleanup(u);
}

static bool deliver_url(struct trigger *t, const struct config_asg *asg, const struct store_trigger *tr,
			char *error, size_t size)
{
	const struct config_trigger *c = &t->cfg->trigger;
	CURL *curl = curl_easy_init();
	struct curl_slist *hdrs = NULL;
	json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "integration", "terraform-resources", "asg",
				 tr->asg, "account", asg->account->name, "region", asg->region, "commit", tr->commit,
				 "image_id", tr->image_id, "promotion_id", (json_int_t)tr->promotion_id);
	char *text = json_dumps(body, JSON_COMPACT);
	char idem[96];
	char agent[64];
	char *authz = NULL;
	long code = 0;
	bool ok = false;
	CURLcode cc;

	if (curl == NULL || text == NULL) {
		snprintf(error, size, "out of memory");
		goto out;
	}
	/* the first series keeps the key it always had; a retrigger is a new request to the receiver */
	if (tr->series > 1)
		snprintf(idem, sizeof idem, "Idempotency-Key: amicd-promotion-%lld-%d", (long long)tr->promotion_id,
			 tr->series);
	else
		snprintf(idem, sizeof idem, "Idempotency-Key: amicd-promotion-%lld", (long long)tr->promotion_id);
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, idem);
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (c->token.bytes != NULL) {
		if (asprintf(&authz, "Authorization: Bearer %s", (const char *)c->token.bytes) < 0)
			authz = NULL;
		if (authz != NULL)
			hdrs = curl_slist_append(hdrs, authz);
	}
	curl_easy_setopt(curl, CURLOPT_URL, c->url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
	snprintf(agent, sizeof agent, "amicd/%s", version_number());
	curl_easy_setopt(curl, CURLOPT_USERAGENT, agent);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)c->timeout_seconds);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, abort_if_stopping);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, t);
	cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		snprintf(error, size, "%s", curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	ok = code >= 200 && code < 300;
	if (!ok)
		snprintf(error, size, "HTTP %ld", code);
out:
	if (authz != NULL) {
		memset(authz, 0, strlen(authz));
		free(authz);
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
	free(text);
	json_decref(body);
	return ok;
}

/* The environment of the command: ours plus the AMICD_* variables. */
static char **command_env(const struct config_asg *asg, const struct store_trigger *tr)
{
	size_t n = 0;
	char **env;
	char *vars[6] = { NULL };
	size_t k = 0;

	while (environ[n] != NULL)
		n++;
	env = calloc(n + 7, sizeof *env);
	if (env == NULL)
		return NULL;
	if (asprintf(&vars[0], "AMICD_ASG=%s", tr->asg) < 0 ||
	    asprintf(&vars[1], "AMICD_ACCOUNT=%s", asg->account->name) < 0 ||
	    asprintf(&vars[2], "AMICD_REGION=%s", asg->region) < 0 ||
	    asprintf(&vars[3], "AMICD_COMMIT=%s", tr->commit) < 0 ||
	    asprintf(&vars[4], "AMICD_IMAGE_ID=%s", tr->image_id) < 0 ||
	    asprintf(&vars[5], "AMICD_PROMOTION_ID=%lld", (long long)tr->promotion_id) < 0) {
		for (int i = 0; i < 6; i++)
			free(vars[i]);
		free(env);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "AMICD_", 6) != 0)
			env[k++] = environ[i];
	for (int i = 0; i < 6; i++)
		env[k++] = vars[i];
	return env;
}

static void command_env_free(char **env)
{
	size_t i = 0;

	if (env == NULL)
		return;
	while (env[i] != NULL && strncmp(env[i], "AMICD_", 6) != 0)
		i++;
	for (; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/* Run the command; true on exit 0. Its output (first bytes) goes to the log. */
static bool deliver_command(struct trigger *t, const struct config_asg *asg, const struct store_trigger *tr,
			    char *error, size_t size)
{
	const struct config_trigger *c = &t->cfg->trigger;
	char **env = command_env(asg, tr);
	char output[OUTPUT_KEEP + 1];
	size_t out_len = 0;
	int pipefd[2] = { -1, -1 };
	int64_t deadline = util_monotonic_ns() + (int64_t)c->timeout_seconds * 1000000000;
	bool killed = false, ok = false;
	int status = 0;
	pid_t pid;

	if (env == NULL || pipe2(pipefd, O_CLOEXEC) != 0) {
		snprintf(error, size, "cannot start the command: %s", env == NULL ? "out of memory" : strerror(errno));
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(error, size, "cannot start the command: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		execve(c->command[0], c->command, env);
		_exit(127);
	}
	setpgid(pid, pid);
	close(pipefd[1]);
	pipefd[1] = -1;
	for (;;) {
		int64_t left_ms = (deadline - util_monotonic_ns()) / 1000000;
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
		char buf[1024];
		ssize_t n;

		if (left_ms <= 0 || bgthread_stopping(t->thread)) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		if (poll(&pfd, 1, (int)(left_ms < 200 ? left_ms : 200)) <= 0)
			continue;
		n = read(pipefd[0], buf, sizeof buf);
		if (n <= 0)
			break; /* EOF: the command (and whoever held its output) is done */
		if (out_len < OUTPUT_KEEP) {
			size_t take = (size_t)n < OUTPUT_KEEP - out_len ? (size_t)n : OUTPUT_KEEP - out_len;

			memcpy(output + out_len, buf, take);
			out_len += take;
		}
	}
	/* the output closed; the process itself may linger: bounded by the deadline too */
	while (waitpid(pid, &status, killed ? 0 : WNOHANG) == 0) {
		struct timespec pause = { 0, 10 * 1000 * 1000 };

		if (util_monotonic_ns() >= deadline || bgthread_stopping(t->thread)) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			killed = true;
			continue;
		}
		nanosleep(&pause, NULL);
	}
	output[out_len] = '\0';
	if (killed)
		snprintf(error, size, "killed after the %d s timeout", c->timeout_seconds);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		ok = true;
	else if (WIFEXITED(status))
		snprintf(error, size, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(error, size, "killed by signal %d", WTERMSIG(status));
	if (out_len > 0)
		LOG(ok ? LL_DEBUG : LL_WARN, "trigger command output", "{s:s,s:I,s:s}", "asg", tr->asg,
		    "promotion_id", (json_int_t)tr->promotion_id, "output", output);
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	command_env_free(env);
	return ok;
}

static void attempt(struct trigger *t, const struct store_trigger *tr)
{
	const struct config_asg *asg = config_find_asg(t->cfg, tr->asg);
	const struct config_trigger *c = &t->cfg->trigger;
	char error[256] = "";
	struct amicd_error err;
	int64_t t0 = util_monotonic_ns();
	int attempts = tr->attempts + 1;
	bool ok, give_up;
	int64_t next, now;

	if (asg == NULL) {
		snprintf(error, sizeof error, "ASG %s is no longer configured", tr->asg);
		ok = false;
		attempts = c->max_attempts;
	} else if (c->url != NULL) {
		ok = deliver_url(t, asg, tr, error, sizeof error);
	} else {
		ok = deliver_command(t, asg, tr, error, sizeof error);
	}
	now = util_now_ms(); /* the attempt's end */
	if (!ok && bgthread_stopping(t->thread)) {
		/* cut off by shutdown: the request was made, so it counts, but it is
		 * retried as soon as amicd is back, whatever the backoff says */
		snprintf(error, sizeof error, "interrupted by shutdown");
		give_up = false;
		next = now;
	} else {
		give_up = !ok && attempts >= c->max_attempts;
		next = now + (ok || give_up ? 0 : trigger_backoff_ms(attempts, c->backoff_max_seconds));
	}
	if (store_trigger_record(t->store, tr->promotion_id, tr->series, ok, error, give_up, next, now, &err) != AMICD_OK)
		LOG(LL_ERROR, "cannot record a trigger attempt", "{s:s,s:I,s:s}", "asg", tr->asg, "promotion_id",
		    (json_int_t)tr->promotion_id, "error", err.message);
	if (ok) {
		atomic_fetch_add(&t->delivered, 1);
		LOG(LL_INFO, "trigger delivered", "{s:s,s:I,s:s,s:s,s:i,s:i,s:f}", "asg", tr->asg, "promotion_id",
		    (json_int_t)tr->promotion_id, "commit", tr->commit, "image_id", tr->image_id, "attempts", attempts,
		    "series", tr->series, "ms", (double)(util_monotonic_ns() - t0) / 1e6);
	} else {
		atomic_fetch_add(&t->failed_attempts, 1);
		if (give_up)
			atomic_fetch_add(&t->gave_up, 1);
		char url[512];

		if (c->url != NULL)
			loggable_url(c->url, url, sizeof url);
		LOG(give_up ? LL_ERROR : LL_WARN, give_up ? "trigger failed for good" : "trigger attempt failed",
		    "{s:s,s:I,s:i,s:i,s:s,s:s?,s:I}", "asg", tr->asg, "promotion_id", (json_int_t)tr->promotion_id,
		    "attempts", attempts, "series", tr->series, "error", error, "url", c->url != NULL ? url : NULL,
		    "retry_in_ms", (json_int_t)(give_up ? 0 : next - util_now_ms()));
	}
}

/* The dispatcher thread: the due attempts, then sleep until the next is due
 * (at most IDLE_WAKE_MS), a wake-up from the worker, or stop. */
static void dispatcher(struct bgthread *bt, void *arg)
{
	struct trigger *t = arg;

	while (!bgthread_stopping(bt)) {
		struct store_trigger due[DUE_BATCH];
		struct amicd_error err;
		size_t n = 0;
		int64_t next = INT64_MAX, now = util_now_ms();

		if (store_triggers_due(t->store, now, due, DUE_BATCH, &n, &next, &err) != AMICD_OK) {
			LOG(LL_ERROR, "cannot read the trigger outbox", "{s:s}", "error", err.message);
			next = now + 1000;
		}
		for (size_t i = 0; i < n && !bgthread_stopping(bt); i++)
			attempt(t, &due[i]);
		if (n == DUE_BATCH)
			continue;
		if (n > 0)
			continue; /* look again: attempts took time, more may be due */
		if (next > now + IDLE_WAKE_MS)
			next = now + IDLE_WAKE_MS;
		bgthread_wait(bt, next - util_now_ms());
	}
}

/* Free what trigger_start made of t; the thread is stopped (or never ran). */
static void trigger_free(struct trigger *t)
{
	if (t == NULL)
		return;
	store_close(&t->store);
	free(t);
}

enum amicd_rc trigger_start(const struct config *cfg, struct trigger **out, struct amicd_error *err)
{
	struct trigger *t = NULL;
	enum amicd_rc rc;

	*out = NULL;
	t = calloc(1, sizeof *t);
	if (t == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	t->cfg = cfg;
	rc = store_open(cfg->database, cfg->limits.busy_timeout_ms, &t->store, err);
	if (rc != AMICD_OK)
		goto out;
	rc = bgthread_start("amicd-trigger", dispatcher, t, &t->thread, err);
out:
	if (rc != AMICD_OK) {
		trigger_free(t);
		return rc;
	}
	*out = t;
	return AMICD_OK;
}

void trigger_wake(struct trigger *t)
{
	if (t == NULL)
		return;
	bgthread_wake(t->thread);
}

void trigger_stats_get(struct trigger *t, struct trigger_stats *out)
{
	out->delivered = atomic_load(&t->delivered);
	out->failed_attempts = atomic_load(&t->failed_attempts);
	out->gave_up = atomic_load(&t->gave_up);
}

void trigger_stop(struct trigger **pt)
{
	if (pt == NULL || *pt == NULL)
		return;
	bgthread_stop(&(*pt)->thread); /* an attempt in flight is aborted */
	trigger_free(*pt);
	*pt = NULL;
}
