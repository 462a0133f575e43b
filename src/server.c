/*
 * server.c — the serve command (see server.h). Owns the route table, and
 * app_asg_status (app.h), the one ASG status every answer renders.
 *
 * Signals: SIGTERM, SIGINT and SIGHUP are blocked in every thread (the mask is
 * set before any thread starts) and taken by sigwait() in the main thread, so
 * no handler runs on an arbitrary thread.
 *
 * SIGHUP (design §8) re-reads the config file in the main thread while the
 * others keep serving. An invalid file is logged, every error, and changes
 * nothing. Of a valid one, log_level and auth (secrets re-read: a rotated
 * token) apply at once: the threshold is atomic, and app->auth is swapped to
 * the new config's credentials, every config whose credentials were ever in
 * force kept until the server stops, since a request may still hold them.
 * Every other section is read once at start by a thread that holds it (the
 * HTTP engine, the writer, the worker, the trigger, the reconciler), so a
 * change there is logged as needing a restart and the running values stay.
 *
 * Stopping, in order: stop accepting; let the requests in flight finish (a
 * delivery waits for its commit); drain the writer, which commits what is
 * queued and answers the rest 503; wait for those answers; stop the HTTP
 * engine (libmicrohttpd must not be stopped while a request is suspended); then
 * the worker and the trigger, and close the stores.
 */
#include "server.h"

#include "admin.h"
#include "api.h"
#include "app.h"
#include "hooks.h"
#include "log.h"
#include "trigger.h"
#include "util.h"
#include "version.h"
#include "worker.h"

#include <curl/curl.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum amicd_rc app_asg_status(struct app *app, const struct config_asg *asg, struct asg_status *out,
			     struct amicd_error *err)
{
	char why[256];
	bool failing = worker_pin_file_error(app->worker, (size_t)(asg - app->cfg->asgs), why, sizeof why);

	return asg_status_get(app->reader, asg, failing ? why : NULL, out, err);
}

#define DRAIN_TIMEOUT_MS 15000
#define ANSWER_TIMEOUT_MS 5000

/* listen: everything. */
static const struct http_route routes[] = {
	{ .method = "POST", .path = "/hooks/gitlab", .handle = hooks_gitlab,
	  .precheck = hooks_gitlab_precheck, .json_body = true },
	{ .method = "POST", .path = "/hooks/eventbridge", .handle = hooks_eventbridge,
	  .precheck = hooks_eventbridge_precheck, .json_body = true },
	{ .method = "GET", .path = "/api/v1/events", .handle = api_events_list, .precheck = api_read_precheck,
	  .blocking = true },
	{ .method = "GET", .path = "/api/v1/events/*", .handle = api_event_get, .precheck = api_read_precheck,
	  .blocking = true },
	{ .method = "GET", .path = "/api/v1/asgs", .handle = api_asgs_list, .precheck = api_read_precheck,
	  .blocking = true },
	{ .method = "GET", .path = "/api/v1/asgs/*", .handle = api_asg_get, .precheck = api_read_precheck,
	  .blocking = true },
	{ .method = "GET", .path = "/api/v1/commits", .handle = api_commits, .precheck = api_read_precheck,
	  .blocking = true },
	{ .method = "GET", .path = "/api/v1/amis", .handle = api_amis, .precheck = api_read_precheck,
	  .blocking = true },
	{ .method = "POST", .path = "/api/v1/admin/replay", .handle = admin_replay, .precheck = admin_precheck,
	  .json_body = true, .blocking = true },
	{ .method = "POST", .path = "/api/v1/admin/reconcile", .handle = admin_reconcile, .precheck = admin_precheck,
	  .json_body = true, .blocking = true },
	{ .method = "POST", .path = "/api/v1/admin/asgs/*", .handle = admin_asg_action, .precheck = admin_precheck,
	  .json_body = true, .blocking = true },
	{ .method = "GET", .path = "/metrics", .handle = api_metrics, .blocking = true },
	{ .method = "GET", .path = "/healthz", .handle = api_healthz },
	{ .method = "GET", .path = "/readyz", .handle = api_readyz },
};

/* public_listen (design §4): the routes above the internet may reach through the Route; anything else is 404 there. */
static const char *const public_paths[] = { "/hooks/gitlab", "/hooks/eventbridge", "/healthz" };

/* The routes of routes[] whose path is in public_paths, into out (room for all of public_paths); how many. */
static size_t public_routes(struct http_route *out)
{
	size_t n = 0;

	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		for (size_t k = 0; k < sizeof public_paths / sizeof public_paths[0]; k++)
			if (strcmp(routes[i].path, public_paths[k]) == 0 && n < PUBLIC_ROUTES_MAX)
				out[n++] = routes[i];
	return n;
}

/* Every answered request: hook deliveries are counted for /metrics. */
static void observe(const char *path, unsigned status, const char *tag, double seconds, void *cls)
{
	struct app *app = cls;

	if (strcmp(path, "/hooks/gitlab") == 0)
		metrics_delivery(app->metrics, METRICS_GITLAB, tag, status, seconds);
	else if (strcmp(path, "/hooks/eventbridge") == 0)
		metrics_delivery(app->metrics, METRICS_EVENTBRIDGE, tag, status, seconds);
}

/* Room for max_connections sockets plus the files: raise the soft limit on descriptors. */
static void raise_fd_limit(unsigned want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want + 64)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want + 64 ? want + 64 : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want + 64)
		LOG(LL_WARN, "the open-file limit is below limits.max_connections", "{s:I,s:I}", "limit",
		    (json_int_t)rl.rlim_cur, "max_connections", (json_int_t)want);
}

enum amicd_rc server_start(const struct config *cfg, struct app **out, struct amicd_error *err)
{
	struct app *app = calloc(1, sizeof *app);
	struct http_options opt = {
		.host = cfg->listen_host,
		.port = cfg->listen_port,
		.max_body_bytes = cfg->limits.max_body_bytes,
		.max_inflight_bytes = cfg->limits.max_inflight_bytes,
		.max_connections = cfg->limits.max_connections,
		.max_connections_per_address = cfg->limits.max_connections_per_address,
		.idle_timeout_s = cfg->limits.idle_timeout_seconds,
		.request_timeout_s = cfg->limits.request_timeout_seconds,
		.observe = observe,
	};
	struct ingest_options iopt = {
		.db_path = cfg->database,
		.busy_timeout_ms = cfg->limits.busy_timeout_ms,
		.max_queued = cfg->limits.max_inflight,
		.rejected_keep = cfg->limits.rejected_keep,
		.rejected_keep_bytes = cfg->limits.rejected_keep_bytes,
		.on_commit = worker_wake,
	};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned applied = 0;
	enum amicd_rc rc;

	*out = NULL;
	if (app == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	app->cfg = cfg;
	atomic_init(&app->auth, &cfg->auth);
	app->started_ms = util_now_ms();
	pthread_mutex_init(&app->admin_lock, NULL);
	opt.threads = cpus > 0 ? (unsigned)cpus : 1;
	raise_fd_limit(cfg->limits.max_connections);

	rc = store_open(cfg->database, cfg->limits.busy_timeout_ms, &app->reader, err);
	if (rc == AMICD_OK)
		rc = store_migrate(app->reader, store_migrations, store_migrations_count, &applied, err);
	if (rc != AMICD_OK)
		goto fail;
	if (applied > 0)
		LOG(LL_INFO, "migrations applied", "{s:s,s:i}", "database", cfg->database, "count", (int)applied);
	app->metrics = metrics_new();
	if (app->metrics == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto fail;
	}
	rc = store_open(cfg->database, cfg->limits.busy_timeout_ms, &app->admin, err);
	if (rc != AMICD_OK)
		goto fail;
	if (mkdir(cfg->pins_dir, 0755) != 0 && errno != EEXIST)
		LOG(LL_WARN, "cannot create pins_dir", "{s:s,s:s}", "pins_dir", cfg->pins_dir, "error", strerror(errno));
	rc = trigger_start(cfg, &app->trigger, err);
	if (rc == AMICD_OK)
		rc = worker_start(cfg, app->trigger, &app->worker, err);
	if (rc != AMICD_OK)
		goto fail;
	iopt.on_commit_cls = app->worker;
	rc = reconcile_start(cfg, app->metrics, worker_redecide, app->worker, &app->reconcile, err);
	if (rc != AMICD_OK)
		goto fail;
	worker_on_facts(app->worker, reconcile_nudge, app->reconcile);
	rc = ingest_start(&iopt, &app->ingest, err);
	if (rc == AMICD_OK)
		rc = http_start(&opt, routes, sizeof routes / sizeof routes[0], app, &app->http, err);
	if (rc == AMICD_OK && cfg->public_listen_host != NULL) {
		opt.host = cfg->public_listen_host;
		opt.port = cfg->public_listen_port;
		rc = http_start(&opt, app->public_routes, public_routes(app->public_routes), app, &app->public_http,
				err);
	}
	if (rc != AMICD_OK)
		goto fail;
	*out = app;
	return AMICD_OK;
fail:
	server_stop(&app, 0);
	return rc;
}

unsigned server_port(const struct app *app)
{
	return http_port(app->http);
}

unsigned server_public_port(const struct app *app)
{
	return app->public_http != NULL ? http_port(app->public_http) : 0;
}

bool server_stop(struct app **papp, int64_t drain_timeout_ms)
{
	struct app *app;
	uint64_t left;

	if (papp == NULL || *papp == NULL)
		return true;
	app = *papp;
	atomic_store(&app->stopping, true);
	http_quiesce(app->http);
	http_quiesce(app->public_http);
	left = http_drain(app->http, drain_timeout_ms) + http_drain(app->public_http, drain_timeout_ms);
	if (left > 0)
		LOG(LL_WARN, "requests still in flight after the drain; answering them", "{s:I}", "count", (json_int_t)left);
	ingest_drain(app->ingest); /* queued deliveries are committed or answered 503 */
	left = http_drain(app->http, ANSWER_TIMEOUT_MS) + http_drain(app->public_http, ANSWER_TIMEOUT_MS);
	if (!http_stop(&app->http) || !http_stop(&app->public_http)) {
		LOG(LL_ERROR, "requests still suspended: a part is stuck; exiting without them", "{s:I}", "count",
		    (json_int_t)left);
		return false;
	}
	ingest_stop(&app->ingest);
	if (app->worker != NULL)
		worker_on_facts(app->worker, NULL, NULL); /* the worker no longer nudges the reconciler … */
	reconcile_stop(&app->reconcile); /* … which stops before the worker it wakes; abandons a request in flight */
	worker_stop(&app->worker);
	trigger_stop(&app->trigger);
	store_close(&app->admin);
	pthread_mutex_destroy(&app->admin_lock);
	metrics_free(&app->metrics);
	store_close(&app->reader);
	free(app);
	*papp = NULL;
	return true;
}

/* What SIGHUP applied, kept for the life of the server (see the top of this file). */
struct reloads {
	struct config **kept;      /* configs whose auth was put in force, oldest first */
	size_t n;
	char level[8];             /* the log_level in force ("" until one is applied) */
};

/* names of the CONFIG_* bits in sections, ", "-separated, into buf */
static const char *section_list(unsigned sections, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned bit = 1; bit & CONFIG_SECTIONS_ALL; bit <<= 1)
		if ((sections & bit) != 0 && len < size)
			len += (size_t)snprintf(buf + len, size - len, "%s%s", len > 0 ? ", " : "",
						config_section_name((enum config_section)bit));
	return buf;
}

/*
 * reload — SIGHUP: load boot's file again and apply what can change while
 * running (log_level, auth); say which sections need a restart. Never stops
 * the server: every failure is logged and the running config stays.
 */
static void reload(struct app *app, const struct config *boot, struct reloads *r)
{
	const struct config *in_force = r->n > 0 ? r->kept[r->n - 1] : boot;
	struct config *next = NULL;
	struct config **grown;
	struct config_diag diag;
	unsigned restart, applied = 0;
	char applied_list[64], restart_list[256];
	const char *level;

	LOG(LL_INFO, "SIGHUP: reloading the configuration", "{s:s}", "config", boot->path);
	if (config_load(boot->path, &next, &diag) != AMICD_OK) {
		for (size_t i = 0; i < diag.n; i++)
			LOG(LL_ERROR, "config reload: error", "{s:s}", "error", diag.lines[i]);
		LOG(LL_ERROR, "config reload failed; keeping the running config", "{s:s,s:i}", "config", boot->path,
		    "errors", (int)diag.n);
		config_diag_free(&diag);
		return;
	}
	/* every section but the hot ones is compared with what started: that is what runs */
	restart = config_diff(boot, next) & ~(unsigned)(CONFIG_LOG_LEVEL | CONFIG_AUTH);
	level = next->log_level != NULL ? next->log_level : "info";
	if (getenv("AMICD_LOG_LEVEL") != NULL) {
		LOG(LL_INFO, "config reload: AMICD_LOG_LEVEL is set and keeps the log level", NULL);
	} else if (strcmp(level, r->level[0] != '\0' ? r->level : boot->log_level != NULL ? boot->log_level : "info") != 0 &&
		   log_set_level_name(level) == 0) {
		snprintf(r->level, sizeof r->level, "%s", level);
		applied |= CONFIG_LOG_LEVEL;
	}
	if ((config_diff(in_force, next) & CONFIG_AUTH) != 0) {
		grown = realloc(r->kept, (r->n + 1) * sizeof *grown);
		if (grown == NULL) {
			LOG(LL_ERROR, "config reload: out of memory; keeping the running credentials", NULL);
		} else {
			r->kept = grown;
			r->kept[r->n++] = next;
			atomic_store(&app->auth, &next->auth);
			next = NULL; /* kept: requests may hold its credentials */
			applied |= CONFIG_AUTH;
		}
	}
	config_free(next);
	if (restart != 0)
		LOG(LL_WARN, "config changed; restart amicd to apply it", "{s:s,s:s}", "sections",
		    section_list(restart, restart_list, sizeof restart_list), "config", boot->path);
	LOG(LL_INFO, applied != 0 ? "config reloaded" : "config reloaded: nothing to apply", "{s:s,s:s}", "applied",
	    section_list(applied, applied_list, sizeof applied_list), "restart_needed",
	    section_list(restart, restart_list, sizeof restart_list));
}

int server_run(const struct config *cfg)
{
	struct app *app = NULL;
	struct amicd_error err = { { 0 }, { 0 } };
	struct reloads reloads = { 0 };
	sigset_t sigs;
	int sig = 0;

	curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: not thread-safe */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (server_start(cfg, &app, &err) != AMICD_OK) {
		LOG(LL_ERROR, "cannot start", "{s:s,s:s}", "database", cfg->database, "error", err.message);
		curl_global_cleanup();
		return 1;
	}
	/* before "listening": whoever waits for that line finds the public port too */
	if (cfg->public_listen_host != NULL)
		LOG(LL_INFO, "listening for the public: hooks and /healthz only", "{s:s,s:i}", "public_host",
		    cfg->public_listen_host, "public_port", (int)server_public_port(app));
	LOG(LL_INFO, "listening", "{s:s,s:i,s:s,s:s,s:i}", "host", cfg->listen_host, "port", (int)server_port(app),
	    "database", cfg->database, "version", version_number(), "asgs", (int)cfg->n_asgs);

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		reload(app, cfg, &reloads);
	}
	LOG(LL_INFO, "stopping", "{s:s}", "signal", strsignal(sig));
	if (!server_stop(&app, DRAIN_TIMEOUT_MS)) {
		/* a part is stuck in I/O: what it holds was never acknowledged; leave without it */
		LOG(LL_ERROR, "stopped without a clean drain", NULL);
		_exit(0);
	}
	for (size_t i = 0; i < reloads.n; i++)
		config_free(reloads.kept[i]);
	free(reloads.kept);
	curl_global_cleanup();
	LOG(LL_INFO, "stopped", NULL);
	return 0;
}
