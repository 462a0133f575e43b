/*
 * server.c — the serve command (see server.h). Owns the route table.
 *
 * Signals: SIGTERM and SIGINT are blocked in every thread (the mask is set
 * before any thread starts) and taken by sigwait() in the main thread, so no
 * handler runs on an arbitrary thread.
 */
#include "server.h"

#include "admin.h"
#include "api.h"
#include "app.h"
#include "hooks.h"
#include "log.h"
#include "trigger.h"
#include "util.h"
#include "worker.h"

#include <curl/curl.h>
#include <errno.h>
#include <sys/stat.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DRAIN_TIMEOUT_MS 15000

static const struct http_route routes[] = {
	{ .method = "POST", .path = "/hooks/gitlab", .handle = hooks_gitlab,
	  .precheck = hooks_gitlab_precheck, .json_body = true },
	{ .method = "POST", .path = "/hooks/eventbridge", .handle = hooks_eventbridge,
	  .precheck = hooks_eventbridge_precheck, .json_body = true },
	{ .method = "GET", .path = "/api/v1/events", .handle = api_events_list, .precheck = api_read_precheck },
	{ .method = "GET", .path = "/api/v1/events/*", .handle = api_event_get, .precheck = api_read_precheck },
	{ .method = "GET", .path = "/api/v1/asgs", .handle = api_asgs_list, .precheck = api_read_precheck },
	{ .method = "GET", .path = "/api/v1/asgs/*", .handle = api_asg_get, .precheck = api_read_precheck },
	{ .method = "GET", .path = "/api/v1/commits", .handle = api_commits, .precheck = api_read_precheck },
	{ .method = "GET", .path = "/api/v1/amis", .handle = api_amis, .precheck = api_read_precheck },
	{ .method = "POST", .path = "/api/v1/admin/replay", .handle = admin_replay, .precheck = admin_precheck,
	  .json_body = true },
	{ .method = "POST", .path = "/api/v1/admin/asgs/*", .handle = admin_asg_action, .precheck = admin_precheck,
	  .json_body = true },
	{ .method = "GET", .path = "/metrics", .handle = api_metrics },
	{ .method = "GET", .path = "/healthz", .handle = api_healthz },
	{ .method = "GET", .path = "/readyz", .handle = api_readyz },
};

/* Every answered request: hook deliveries are counted for /metrics. */
static void observe(const char *path, unsigned status, const char *tag, double seconds, void *cls)
{
	struct app *app = cls;

	if (strcmp(path, "/hooks/gitlab") == 0)
		metrics_delivery(app->metrics, METRICS_GITLAB, tag, status, seconds);
	else if (strcmp(path, "/hooks/eventbridge") == 0)
		metrics_delivery(app->metrics, METRICS_EVENTBRIDGE, tag, status, seconds);
}

int server_run(const struct config *cfg)
{
	struct app app = { .cfg = cfg, .started_ms = util_now_ms(), .admin_lock = PTHREAD_MUTEX_INITIALIZER };
	struct amicd_error err = { { 0 }, { 0 } };
	struct http_options opt = {
		.host = cfg->listen_host,
		.port = cfg->listen_port,
		.max_body_bytes = cfg->limits.max_body_bytes,
		.threads = 0,
		.max_connections = 1024,
		.idle_timeout_s = 60,
		.observe = observe,
	};
	sigset_t sigs;
	int sig = 0, status = 1;
	unsigned applied = 0;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t left;

	opt.threads = cpus > 0 ? (unsigned)cpus : 1;
	curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread: not thread-safe */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (store_open(cfg->database, cfg->limits.busy_timeout_ms, &app.reader, &err) != AMICD_OK ||
	    store_migrate(app.reader, store_migrations, store_migrations_count, &applied, &err) != AMICD_OK) {
		LOG(LL_ERROR, "cannot open the database", "{s:s,s:s}", "database", cfg->database, "error", err.message);
		goto out;
	}
	if (applied > 0)
		LOG(LL_INFO, "migrations applied", "{s:s,s:i}", "database", cfg->database, "count", (int)applied);
	app.metrics = metrics_new();
	if (app.metrics == NULL ||
	    store_open(cfg->database, cfg->limits.busy_timeout_ms, &app.admin, &err) != AMICD_OK) {
		LOG(LL_ERROR, "cannot open the database for admin actions", "{s:s}", "error", err.message);
		goto out;
	}
	if (mkdir(cfg->pins_dir, 0755) != 0 && errno != EEXIST)
		LOG(LL_WARN, "cannot create pins_dir", "{s:s,s:s}", "pins_dir", cfg->pins_dir, "error", strerror(errno));
	if (trigger_start(cfg, &app.trigger, &err) != AMICD_OK) {
		LOG(LL_ERROR, "cannot start the trigger", "{s:s}", "error", err.message);
		goto out;
	}
	if (worker_start(cfg, app.trigger, &app.worker, &err) != AMICD_OK) {
		LOG(LL_ERROR, "cannot start the worker", "{s:s}", "error", err.message);
		goto out;
	}
	if (ingest_start(cfg->database, cfg->limits.busy_timeout_ms, cfg->limits.max_inflight,
			 cfg->limits.rejected_keep, worker_wake, app.worker, &app.ingest, &err) != AMICD_OK) {
		LOG(LL_ERROR, "cannot start the writer", "{s:s}", "error", err.message);
		goto out;
	}
	if (http_start(&opt, routes, sizeof routes / sizeof routes[0], &app, &app.http, &err) != AMICD_OK) {
		LOG(LL_ERROR, "cannot listen", "{s:s}", "error", err.message);
		goto out;
	}
	LOG(LL_INFO, "listening", "{s:s,s:i,s:s,s:s,s:i}", "host", cfg->listen_host, "port", (int)http_port(app.http),
	    "database", cfg->database, "version", AMICD_VERSION, "asgs", (int)cfg->n_asgs);

	while (sigwait(&sigs, &sig) != 0)
		;
	LOG(LL_INFO, "stopping", "{s:s}", "signal", strsignal(sig));
	left = http_shutdown(&app.http, DRAIN_TIMEOUT_MS);
	if (left > 0)
		LOG(LL_WARN, "requests still in flight at shutdown", "{s:I}", "count", (json_int_t)left);
	status = 0;
out:
	http_shutdown(&app.http, 0);
	ingest_stop(&app.ingest);
	worker_stop(&app.worker);
	trigger_stop(&app.trigger);
	store_close(&app.admin);
	pthread_mutex_destroy(&app.admin_lock);
	metrics_free(&app.metrics);
	store_close(&app.reader);
	curl_global_cleanup();
	if (status == 0)
		LOG(LL_INFO, "stopped", NULL);
	return status;
}
