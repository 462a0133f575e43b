/*
 * app.h — the running server's shared context, handed to every HTTP handler as
 * its cls. Built and torn down by server.c; handlers only read it.
 *
 * Ownership: the app owns cfg, the ingest writer, the reader store and the
 * HTTP server; handlers borrow them for the length of a request.
 */
#ifndef AMICD_APP_H
#define AMICD_APP_H

#include "config.h"
#include "metrics.h"
#include "reconcile.h"
#include "http.h"
#include "ingest.h"
#include "status.h"
#include "store.h"
#include "trigger.h"
#include "version.h"   /* handlers report the build (amicd_build_info) */
#include "worker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define PUBLIC_ROUTES_MAX 3 /* the routes public_listen serves (server.c) */

struct app {
	const struct config *cfg;
	struct ingest *ingest;   /* the one writer of the inbox */
	struct store *reader;    /* shared read connection for the API */
	struct http_server *http;        /* listen: every route */
	struct http_server *public_http; /* public_listen: hooks and /healthz; NULL when not configured */
	struct http_route public_routes[PUBLIC_ROUTES_MAX]; /* its table (server.c's, filtered) */
	struct worker *worker;   /* facts, decisions, promotions */
	struct trigger *trigger; /* the outbox dispatcher */
	struct reconcile *reconcile; /* asks the sources of truth (design §9) */
	struct store *admin;     /* write connection for admin actions … */
	pthread_mutex_t admin_lock; /* … one at a time */
	struct metrics *metrics;
	int64_t started_ms;
	atomic_bool stopping;       /* set at the start of server_stop: long work gives up */
	/*
	 * The credentials requests are checked against: cfg->auth at the start,
	 * then those of the last config SIGHUP applied (server.c). Read it with
	 * app_auth(); what it points to stays valid until the server stops.
	 */
	const struct config_auth *_Atomic auth;
};

/* app_auth — the credentials in force now (see struct app's auth). */
static inline const struct config_auth *app_auth(const struct app *app)
{
	return atomic_load(&app->auth);
}

/*
 * app_asg_status — the status of one ASG as the running server sees it: the
 * stored facts (read on the reader connection) and whether the worker can
 * write its pin file. What every answer about an ASG renders: the read API,
 * the admin replies and /metrics (server.c).
 */
enum amicd_rc app_asg_status(struct app *app, const struct config_asg *asg, struct asg_status *out,
			     struct amicd_error *err);

#endif
