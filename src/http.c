/*
 * http.c — the libmicrohttpd engine behind http.h. The only file that includes
 * <microhttpd.h>.
 *
 * Threading: an epoll thread pool (one per core by default) runs the access
 * handler. A suspended request is resumed from another thread; libmicrohttpd
 * then calls the handler once more and the reply stored in the request is
 * queued. Handlers of blocking routes run on the engine's own pool threads,
 * between a suspend and a resume, so no epoll thread ever waits on the store.
 *
 * Deadlines: libmicrohttpd's own timeout is an idle timeout, reset by every
 * byte, and it has no deadline for a request head. So every connection is
 * registered (NOTIFY_CONNECTION) with a deadline, and a watchdog thread calls
 * shutdown() on the socket of any connection past it; libmicrohttpd sees the
 * socket fail and closes the connection itself. The registry lock is taken by
 * the CLOSED notification too, which libmicrohttpd gives before it closes the
 * descriptor, so the watchdog never touches a closed (or reused) descriptor.
 * The deadline runs from a connection's start, and again from the end of each
 * request (an idle keep-alive connection must send its next request in time);
 * it is off while a handler has the request.
 *
 * The in-flight budget: body_bytes counts the bytes of every body buffer held
 * (the capacity allocated, not what has arrived yet). A request with a
 * Content-Length takes its length at once, before any of the body is read; a
 * chunked body takes what each growth of its buffer adds. Either is refused
 * (503) when it would carry the total past max_inflight_bytes. A request gives
 * back all it took when it completes, however it ended.
 */
#include "http.h"

#include "jsonw.h"
#include "log.h"
#include "utf8.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_DEFAULT_MAX_CONNECTIONS 1024
#define HTTP_DEFAULT_BLOCKING_THREADS 4
#define WATCHDOG_PERIOD_MS 250
#define MHD_LOG_PER_SECOND 10

/* One open connection, for the watchdog. */
struct http_conn {
	int fd;
	int64_t deadline_ns;        /* CLOCK_MONOTONIC; 0: none (a handler has the request) */
	struct http_conn *prev, *next;
};

struct http_server {
	struct MHD_Daemon *daemon;
	const struct http_route *routes;
	size_t n_routes;
	void *cls;
	size_t max_body_bytes;
	size_t max_inflight_bytes;  /* 0: no budget */
	unsigned port;
	int64_t request_timeout_ns;
	http_observe_fn observe;
	atomic_uint_fast64_t requests;
	atomic_uint_fast64_t in_flight;
	atomic_uint_fast64_t suspended;
	atomic_uint_fast64_t closed_oversize;
	atomic_uint_fast64_t closed_budget;
	atomic_uint_fast64_t refused_budget;
	atomic_size_t body_bytes;   /* taken from the budget by the requests in flight */
	atomic_uint_fast64_t closed_deadline;
	atomic_bool closing;        /* quiesced: every answer closes its connection */

	/* the pool for blocking routes */
	pthread_t *pool;
	unsigned n_pool;
	pthread_mutex_t pool_lock;
	pthread_cond_t pool_wake;
	struct http_request *jobs_head, *jobs_tail;
	bool pool_stopping;

	/* open connections and their deadlines */
	pthread_mutex_t conns_lock;
	pthread_cond_t watchdog_wake;
	struct http_conn *conns;
	uint64_t n_conns;
	bool watchdog_stopping;
	pthread_t watchdog;
	bool watchdog_started;
};

struct http_request {
	struct http_server *srv;
	struct MHD_Connection *conn;
	struct http_conn *hc;       /* its registry entry (may be NULL) */
	const char *method;
	const char *url;
	const struct http_route *route;
	char *body;
	size_t body_len;
	size_t body_cap;
	size_t taken;               /* bytes of the budget this request holds (>= body_cap) */
	struct MHD_Response *response;
	unsigned status;
	bool handled;
	bool suspended;
	http_handler_fn finish;
	const char *tag;
	int64_t t0_ns;
	void *state;
	void (*state_free)(void *);
	struct http_request *next_job;
	bool media_type_deferred;   /* the precheck cannot authenticate without the body */
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- accessors ------------------------------------------------------------ */

const char *http_method(const struct http_request *req) { return req->method; }
const char *http_path(const struct http_request *req) { return req->url; }

const char *http_remote(const struct http_request *req, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = info != NULL ? info->client_addr : NULL;
	socklen_t len = sa == NULL ? 0 : sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

	if (size == 0)
		return "";
	if (sa == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
	    getnameinfo(sa, len, buf, (socklen_t)size, NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(buf, size, "unknown");
	return buf;
}

const char *http_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

void http_defer_media_type(struct http_request *req)
{
	req->media_type_deferred = true;
}

const char *http_query(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

const void *http_body(const struct http_request *req, size_t *len)
{
	*len = req->body_len;
	return req->body != NULL ? req->body : "";
}

void http_set_state(struct http_request *req, void *state, void (*free_fn)(void *))
{
	req->state = state;
	req->state_free = free_fn;
}

void *http_state(const struct http_request *req) { return req->state; }

void http_set_tag(struct http_request *req, const char *tag) { req->tag = tag; }

struct header_pair {
	char *name;           /* lower-cased, escaped when not UTF-8 (owned) */
	const char *value;    /* libmicrohttpd's, valid for the request */
	size_t order;         /* as received: of two equal names the later wins */
};

struct headers_ctx {
	struct header_pair *pairs;
	size_t n, cap;
	bool (*keep)(const char *, void *);
	void *cls;
	bool failed;
};

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct headers_ctx *ctx = cls;
	char *name = strdup(key);

	(void)kind;
	if (name == NULL) {
		ctx->failed = true;
		return MHD_NO;
	}
	for (char *p = name; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if (ctx->keep != NULL && !ctx->keep(name, ctx->cls)) {
		free(name);
		return MHD_YES;
	}
	if (!utf8_valid(name, strlen(name))) {
		char *escaped = utf8_escape(name);

		free(name);
		name = escaped;
	}
	if (name != NULL && ctx->n == ctx->cap) {
		size_t cap = ctx->cap > 0 ? ctx->cap * 2 : 16;
		struct header_pair *grown = realloc(ctx->pairs, cap * sizeof *grown);

		if (grown != NULL) {
			ctx->pairs = grown;
			ctx->cap = cap;
		}
	}
	if (name == NULL || ctx->n == ctx->cap) {
		free(name);
		ctx->failed = true;
		return MHD_NO;
	}
	ctx->pairs[ctx->n] = (struct header_pair){ name, value != NULL ? value : "", ctx->n };
	ctx->n++;
	return MHD_YES;
}

static int pair_cmp(const void *a, const void *b)
{
	const struct header_pair *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : x->order < y->order ? -1 : x->order > y->order;
}

char *http_headers_text(const struct http_request *req, bool (*keep)(const char *name, void *cls), void *cls)
{
	struct headers_ctx ctx = { .keep = keep, .cls = cls };
	struct jsonw w = { 0 };
	char *text = NULL;

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, add_header, &ctx);
	if (!ctx.failed) {
		qsort(ctx.pairs, ctx.n, sizeof *ctx.pairs, pair_cmp);
		jsonw_begin_object(&w);
		for (size_t i = 0; i < ctx.n; i++) {
			if (i + 1 < ctx.n && strcmp(ctx.pairs[i].name, ctx.pairs[i + 1].name) == 0)
				continue; /* a later header of the same name replaces it */
			jsonw_key(&w, ctx.pairs[i].name);
			jsonw_string(&w, ctx.pairs[i].value);
		}
		jsonw_end_object(&w);
		text = jsonw_finish(&w, NULL);
	}
	for (size_t i = 0; i < ctx.n; i++)
		free(ctx.pairs[i].name);
	free(ctx.pairs);
	return text;
}

/* --- replies -------------------------------------------------------------- */

static void set_response(struct http_request *req, unsigned status, struct MHD_Response *resp,
			 const char *content_type)
{
	if (resp == NULL)
		return;
	if (req->response != NULL) {
		MHD_destroy_response(resp);
		return;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	req->response = resp;
	req->status = status;
}

void http_reply_text(struct http_request *req, unsigned status, const char *content_type, char *text)
{
	struct MHD_Response *resp;

	if (text == NULL) {
		text = strdup("");
		if (text == NULL)
			return;
	}
	resp = MHD_create_response_from_buffer_with_free_callback(strlen(text), text, free);
	if (resp == NULL)
		free(text);
	set_response(req, status, resp, content_type);
}

void http_reply_json(struct http_request *req, unsigned status, json_t *body)
{
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	size_t len;

	json_decref(body);
	if (text == NULL) {
		/* a body that could not be built: say so, and keep the status class when it was an error */
		http_reply_text(req, status >= 400 ? status : 500, "application/json",
				strdup("{\"error\":{\"code\":\"internal_error\",\"message\":\"the answer could not be built\"}}\n"));
		return;
	}
	len = strlen(text);
	{
		/* a trailing newline makes curl output readable; JSON does not mind */
		char *nl = realloc(text, len + 2);

		if (nl != NULL) {
			text = nl;
			text[len] = '\n';
			text[len + 1] = '\0';
		}
	}
	http_reply_text(req, status, "application/json", text);
}

void http_reply_error(struct http_request *req, enum amicd_rc rc, const struct amicd_error *err)
{
	http_reply_error_with(req, rc, err, NULL);
}

void http_reply_error_with(struct http_request *req, enum amicd_rc rc, const struct amicd_error *err, json_t *fields)
{
	json_t *e = json_pack("{s:s,s:s}", "code", amicd_rc_code(rc), "message",
			      err != NULL && err->message[0] != '\0' ? err->message : amicd_rc_doc(rc));
	unsigned retry = amicd_rc_retry_after(rc);

	if (e != NULL && err != NULL && err->path[0] != '\0')
		json_object_set_new(e, "path", json_string(err->path));
	if (e != NULL && fields != NULL)
		json_object_update(e, fields);
	json_decref(fields);
	http_reply_json(req, amicd_rc_http_status(rc), e != NULL ? json_pack("{s:o}", "error", e) : NULL);
	if (retry > 0) {
		char v[16];

		snprintf(v, sizeof v, "%u", retry);
		http_reply_header(req, "Retry-After", v);
	}
}

void http_reply_header(struct http_request *req, const char *name, const char *value)
{
	if (req->response != NULL)
		MHD_add_response_header(req->response, name, value);
}

void http_suspend(struct http_request *req, http_handler_fn finish)
{
	req->suspended = true;
	req->finish = finish;
	atomic_fetch_add(&req->srv->suspended, 1);
	MHD_suspend_connection(req->conn);
}

void http_resume(struct http_request *req)
{
	struct http_server *srv = req->srv;

	atomic_fetch_sub(&srv->suspended, 1);
	MHD_resume_connection(req->conn); /* last: the request may be finished from here on */
}

/* --- the pool for blocking routes ----------------------------------------------- */

static void *pool_thread(void *arg)
{
	struct http_server *srv = arg;

	pthread_setname_np(pthread_self(), "amicd-http-pool");
	for (;;) {
		struct http_request *req;

		pthread_mutex_lock(&srv->pool_lock);
		while (srv->jobs_head == NULL && !srv->pool_stopping)
			pthread_cond_wait(&srv->pool_wake, &srv->pool_lock);
		req = srv->jobs_head;
		if (req == NULL) { /* stopping, and nothing queued */
			pthread_mutex_unlock(&srv->pool_lock);
			break;
		}
		srv->jobs_head = req->next_job;
		if (srv->jobs_head == NULL)
			srv->jobs_tail = NULL;
		pthread_mutex_unlock(&srv->pool_lock);
		req->route->handle(req, srv->cls);
		http_resume(req);
	}
	return NULL;
}

static void pool_submit(struct http_request *req)
{
	struct http_server *srv = req->srv;

	http_suspend(req, NULL);
	pthread_mutex_lock(&srv->pool_lock);
	req->next_job = NULL;
	if (srv->jobs_tail != NULL)
		srv->jobs_tail->next_job = req;
	else
		srv->jobs_head = req;
	srv->jobs_tail = req;
	pthread_cond_signal(&srv->pool_wake);
	pthread_mutex_unlock(&srv->pool_lock);
}

/* --- connections and their deadlines ------------------------------------------- */

static void set_deadline(struct http_server *srv, struct http_conn *hc, bool running)
{
	if (hc == NULL || srv->request_timeout_ns == 0)
		return;
	pthread_mutex_lock(&srv->conns_lock);
	hc->deadline_ns = running ? now_ns() + srv->request_timeout_ns : 0;
	pthread_mutex_unlock(&srv->conns_lock);
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			      enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;
	struct http_conn *hc = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		hc = calloc(1, sizeof *hc);
		if (hc == NULL)
			return; /* no deadline for this one; the idle timeout still holds */
		hc->fd = info != NULL ? info->connect_fd : -1;
		hc->deadline_ns = srv->request_timeout_ns > 0 ? now_ns() + srv->request_timeout_ns : 0;
		pthread_mutex_lock(&srv->conns_lock);
		hc->next = srv->conns;
		if (srv->conns != NULL)
			srv->conns->prev = hc;
		srv->conns = hc;
		srv->n_conns++;
		pthread_mutex_unlock(&srv->conns_lock);
		*socket_context = hc;
		return;
	}
	if (hc == NULL)
		return;
	/* CLOSED: libmicrohttpd closes the descriptor only after this returns */
	pthread_mutex_lock(&srv->conns_lock);
	if (hc->prev != NULL)
		hc->prev->next = hc->next;
	else
		srv->conns = hc->next;
	if (hc->next != NULL)
		hc->next->prev = hc->prev;
	srv->n_conns--;
	pthread_mutex_unlock(&srv->conns_lock);
	free(hc);
	*socket_context = NULL;
}

static void *watchdog_thread(void *arg)
{
	struct http_server *srv = arg;

	pthread_setname_np(pthread_self(), "amicd-http-dog");
	pthread_mutex_lock(&srv->conns_lock);
	while (!srv->watchdog_stopping) {
		struct timespec until;
		int64_t now = now_ns();
		uint64_t closed = 0;

		for (struct http_conn *hc = srv->conns; hc != NULL; hc = hc->next) {
			if (hc->deadline_ns == 0 || hc->deadline_ns > now || hc->fd < 0)
				continue;
			shutdown(hc->fd, SHUT_RDWR); /* libmicrohttpd sees the error and closes it */
			hc->deadline_ns = 0;
			closed++;
		}
		if (closed > 0) {
			atomic_fetch_add(&srv->closed_deadline, closed);
			LOG(LL_WARN, "connections closed: request not received in time", "{s:I,s:I}", "count",
			    (json_int_t)closed, "request_timeout_seconds", (json_int_t)(srv->request_timeout_ns / 1000000000));
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += WATCHDOG_PERIOD_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->watchdog_wake, &srv->conns_lock, &until);
	}
	pthread_mutex_unlock(&srv->conns_lock);
	return NULL;
}

/* --- routing -------------------------------------------------------------- */

static bool path_matches(const char *pattern, const char *url)
{
	size_t n = strlen(pattern);

	if (n > 0 && pattern[n - 1] == '*')
		return strncmp(pattern, url, n - 1) == 0;
	return strcmp(pattern, url) == 0;
}

/* The route for method+url; on none, fill allow with the methods the path has. */
static const struct http_route *route_find(const struct http_server *srv, const char *method,
					   const char *url, char *allow, size_t allow_size)
{
	allow[0] = '\0';
	for (size_t i = 0; i < srv->n_routes; i++) {
		const struct http_route *r = &srv->routes[i];

		if (!path_matches(r->path, url))
			continue;
		if (strcmp(r->method, method) == 0)
			return r;
		if (strstr(allow, r->method) == NULL) {
			size_t len = strlen(allow);

			snprintf(allow + len, allow_size - len, "%s%s", len > 0 ? ", " : "", r->method);
		}
	}
	return NULL;
}

bool http_json_content_type(const struct http_request *req)
{
	const char *ct = http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t n;

	if (ct == NULL)
		return false;
	while (*ct == ' ')
		ct++;
	n = strcspn(ct, ";");
	while (n > 0 && ct[n - 1] == ' ')
		n--;
	return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

/* Answer 404 or 405 for a request no route takes (url and method are valid UTF-8 or escaped). */
static void reply_no_route(struct http_request *req, const char *method, const char *url, const char *allow)
{
	struct amicd_error err = { { 0 }, { 0 } };

	if (allow[0] != '\0') {
		amicd_error_set(&err, AMICD_ERR_METHOD, NULL, "%s is not allowed on %s; use %s", method, url, allow);
		http_reply_error(req, AMICD_ERR_METHOD, &err);
		http_reply_header(req, "Allow", allow);
	} else {
		amicd_error_set(&err, AMICD_ERR_NOT_FOUND, NULL, "no route for %s", url);
		http_reply_error(req, AMICD_ERR_NOT_FOUND, &err);
	}
}

/*
 * budget_take — take n more bytes of the in-flight budget for req. False,
 * taking nothing, when they would carry the bytes held by all requests past
 * max_inflight_bytes. What req took is given back when it completes.
 */
static bool budget_take(struct http_request *req, size_t n)
{
	struct http_server *srv = req->srv;
	size_t max = srv->max_inflight_bytes;
	size_t held = atomic_load(&srv->body_bytes);

	do {
		if (max > 0 && (n > max || held > max - n))
			return false;
	} while (!atomic_compare_exchange_weak(&srv->body_bytes, &held, held + n));
	req->taken += n;
	return true;
}

static void log_refused(const struct http_request *req, const char *what, size_t bytes)
{
	LOG(LL_WARN, what, "{s:s,s:I,s:I,s:I}", "path", req->url, "body_bytes", (json_int_t)bytes, "held_bytes",
	    (json_int_t)atomic_load(&req->srv->body_bytes), "max_inflight_bytes",
	    (json_int_t)req->srv->max_inflight_bytes);
}

/*
 * The buffer for a body whose Content-Length is length (> 0), taken from the
 * budget before any of it is read. On refusal the reply (503) is set: busy
 * when the budget has no room, out_of_memory when malloc fails.
 */
static void reserve_body(struct http_request *req, size_t length)
{
	struct http_server *srv = req->srv;
	struct amicd_error err;

	if (!budget_take(req, length)) {
		atomic_fetch_add(&srv->refused_budget, 1);
		log_refused(req, "request body refused: in-flight bytes at limits.max_inflight_bytes", length);
		amicd_error_set(&err, AMICD_ERR_BUSY, NULL,
				"a body of %zu bytes would pass limits.max_inflight_bytes (%zu) with the bodies in "
				"flight; retry later", length, srv->max_inflight_bytes);
		http_reply_error(req, AMICD_ERR_BUSY, &err);
		return;
	}
	req->body = malloc(length + 1);
	if (req->body == NULL) {
		amicd_error_set(&err, AMICD_ERR_NOMEM, NULL, "out of memory for a body of %zu bytes", length);
		http_reply_error(req, AMICD_ERR_NOMEM, &err);
		return;
	}
	req->body_cap = length;
}

/* Checks on the headers alone; a reply set here is sent without reading the body. */
static void on_headers(struct http_request *req)
{
	struct http_server *srv = req->srv;
	struct amicd_error err = { { 0 }, { 0 } };
	bool url_ok = utf8_valid(req->url, strlen(req->url));
	bool method_ok = utf8_valid(req->method, strlen(req->method));
	const char *cl = http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	unsigned long long body_len = 0;
	char allow[64];
	enum amicd_rc rc;

	if (!url_ok || !method_ok) {
		/* no route has such a name: answer without letting the bytes go further */
		char *url = url_ok ? NULL : utf8_escape(req->url);
		char *method = method_ok ? NULL : utf8_escape(req->method);

		allow[0] = '\0';
		if (url_ok)
			route_find(srv, "", req->url, allow, sizeof allow);
		reply_no_route(req, method != NULL ? method : req->method, url != NULL ? url : req->url, allow);
		free(url);
		free(method);
		return;
	}
	req->route = route_find(srv, req->method, req->url, allow, sizeof allow);
	if (req->route == NULL) {
		reply_no_route(req, req->method, req->url, allow);
		return;
	}
	if (req->route->json_body && cl != NULL) {
		body_len = strtoull(cl, NULL, 10);
		if (body_len > srv->max_body_bytes) {
			amicd_error_set(&err, AMICD_ERR_TOO_LARGE, NULL, "the body is %llu bytes; the limit is %zu",
					body_len, srv->max_body_bytes);
			http_reply_error(req, AMICD_ERR_TOO_LARGE, &err);
			return;
		}
	}
	/* authentication before the Content-Type: a client that is not allowed learns nothing of it */
	if (req->route->precheck != NULL) {
		rc = req->route->precheck(req, srv->cls, &err);
		if (rc != AMICD_OK) {
			http_reply_error(req, rc, &err);
			return;
		}
	}
	if (req->route->json_body) {
		if (!req->media_type_deferred && !http_json_content_type(req)) {
			amicd_error_set(&err, AMICD_ERR_MEDIA_TYPE, NULL, "Content-Type must be application/json");
			http_reply_error(req, AMICD_ERR_MEDIA_TYPE, &err);
			return;
		}
	}
	/* after the precheck: a client that may not send a body takes none of the budget */
	if (body_len > 0)
		reserve_body(req, (size_t)body_len);
}

/*
 * gather — append upload data to the body. A body with a Content-Length
 * arrives into the buffer reserve_body made; a chunked one grows its buffer
 * by doubling (so each byte is copied a bounded number of times), each growth
 * taken from the budget. AMICD_ERR_TOO_LARGE past max_body_bytes,
 * AMICD_ERR_BUSY past the budget, AMICD_ERR_NOMEM; nothing is appended then.
 */
static enum amicd_rc gather(struct http_request *req, const char *data, size_t len)
{
	size_t max = req->srv->max_body_bytes;

	if (req->body_len + len > max)
		return AMICD_ERR_TOO_LARGE;
	if (req->body_len + len > req->body_cap) {
		size_t cap = req->body_cap > 0 ? req->body_cap : 4096;
		char *grown;

		while (cap < req->body_len + len)
			cap *= 2;
		if (cap > max)
			cap = max;
		if (cap > req->taken && !budget_take(req, cap - req->taken))
			return AMICD_ERR_BUSY;
		grown = realloc(req->body, cap + 1);
		if (grown == NULL)
			return AMICD_ERR_NOMEM;
		req->body = grown;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
	return AMICD_OK;
}

static void observe(struct http_request *req)
{
	if (req->srv->observe != NULL)
		req->srv->observe(req->url, req->status, req->tag, (double)(now_ns() - req->t0_ns) / 1e9, req->srv->cls);
}

/*
 * A chunked body could not be gathered while it was being uploaded (rc: past
 * the cap, past the budget, or out of memory). libmicrohttpd 0.9.75 cannot
 * queue a reply at this point (only before the body or after all of it), so
 * the answer is written straight to the socket — nothing has been sent on this
 * request yet, and the connection is closed right after — and the rest of the
 * body is never read.
 */
static void reply_and_close(struct http_request *req, enum amicd_rc rc)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	unsigned status = amicd_rc_http_status(rc);
	unsigned retry = amicd_rc_retry_after(rc);
	char body[256], head[320], message[128], retry_line[32] = "";
	int blen, hlen;

	if (rc == AMICD_ERR_TOO_LARGE)
		snprintf(message, sizeof message, "the body is larger than %zu bytes", req->srv->max_body_bytes);
	else if (rc == AMICD_ERR_BUSY)
		snprintf(message, sizeof message, "the body would pass limits.max_inflight_bytes (%zu); retry later",
			 req->srv->max_inflight_bytes);
	else
		snprintf(message, sizeof message, "out of memory");
	if (retry > 0)
		snprintf(retry_line, sizeof retry_line, "Retry-After: %u\r\n", retry);
	blen = snprintf(body, sizeof body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n", amicd_rc_code(rc),
			message);
	hlen = snprintf(head, sizeof head,
			"HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n%s"
			"Connection: close\r\nContent-Length: %d\r\n\r\n",
			status, MHD_get_reason_phrase_for(status), retry_line, blen);
	if (info != NULL && info->connect_fd >= 0) {
		/* best effort on a non-blocking socket: a small answer fits in the send buffer */
		if (send(info->connect_fd, head, (size_t)hlen, MSG_NOSIGNAL) == hlen)
			(void)send(info->connect_fd, body, (size_t)blen, MSG_NOSIGNAL);
		shutdown(info->connect_fd, SHUT_WR);
	}
	req->status = status;
	observe(req);
}

static enum MHD_Result queue_reply(struct http_request *req)
{
	enum MHD_Result r;

	if (req->response == NULL) {
		struct amicd_error err;

		amicd_error_set(&err, AMICD_ERR_INTERNAL, NULL, "the handler gave no reply");
		http_reply_error(req, AMICD_ERR_INTERNAL, &err);
		if (req->response == NULL)
			return MHD_NO;
	}
	if (atomic_load(&req->srv->closing))
		MHD_add_response_header(req->response, MHD_HTTP_HEADER_CONNECTION, "close");
	observe(req);
	r = MHD_queue_response(req->conn, req->status, req->response);
	MHD_destroy_response(req->response);
	req->response = NULL;
	return r;
}

/*
 * Quiesced: a new connection is closed as soon as it is accepted. This stands
 * in for MHD_quiesce_daemon(), which on an epoll daemon with its own threads
 * races the event loop for the listen socket's epoll entry and can abort the
 * process ("Failed to remove listen FD from epoll set": an open
 * libmicrohttpd defect, ENOENT on the loser's EPOLL_CTL_DEL). The port is
 * released by http_stop.
 */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	const struct http_server *srv = cls;

	(void)addr;
	(void)addrlen;
	return atomic_load(&srv->closing) ? MHD_NO : MHD_YES;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version, const char *upload_data,
				      size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;
	enum amicd_rc rc;

	(void)version;
	if (req == NULL) {
		const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

		req = calloc(1, sizeof *req);
		if (req == NULL)
			return MHD_NO;
		req->srv = srv;
		req->conn = conn;
		req->hc = info != NULL ? info->socket_context : NULL;
		req->method = method;
		req->url = url;
		req->t0_ns = now_ns();
		*con_cls = req;
		atomic_fetch_add(&srv->requests, 1);
		atomic_fetch_add(&srv->in_flight, 1);
		on_headers(req);
		if (req->response != NULL)
			return queue_reply(req); /* the body, if any, is not read */
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (req->route == NULL || !req->route->json_body)
			return MHD_YES; /* a body on a GET is not ours to read: drop it */
		rc = gather(req, upload_data, n);
		if (rc == AMICD_ERR_TOO_LARGE) {
			atomic_fetch_add(&srv->closed_oversize, 1);
			LOG(LL_WARN, "request body over the limit; answered 413 and closed", "{s:s,s:I}", "path", req->url,
			    "max_body_bytes", (json_int_t)srv->max_body_bytes);
		} else if (rc == AMICD_ERR_BUSY) {
			atomic_fetch_add(&srv->closed_budget, 1);
			atomic_fetch_add(&srv->refused_budget, 1);
			log_refused(req, "chunked body past limits.max_inflight_bytes; answered 503 and closed",
				    req->body_len + n);
		} else if (rc != AMICD_OK) {
			LOG(LL_ERROR, "out of memory for a request body; answered 503 and closed", "{s:s,s:I}", "path",
			    req->url, "body_bytes", (json_int_t)(req->body_len + n));
		}
		if (rc != AMICD_OK) {
			reply_and_close(req, rc);
			return MHD_NO;
		}
		return MHD_YES;
	}
	if (!req->handled) {
		req->handled = true;
		set_deadline(srv, req->hc, false); /* the request is in: a handler has it now */
		if (req->route->blocking) {
			pool_submit(req);
			return MHD_YES;
		}
		req->route->handle(req, srv->cls);
		if (req->suspended)
			return MHD_YES;
	}
	/* first call after a resume, or a handler that replied at once */
	if (req->finish != NULL) {
		http_handler_fn finish = req->finish;

		req->finish = NULL;
		finish(req, srv->cls);
	}
	return queue_reply(req);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;

	(void)conn;
	(void)toe;
	if (req == NULL)
		return;
	set_deadline(srv, req->hc, true); /* the next request on this connection must come in time */
	if (req->state_free != NULL)
		req->state_free(req->state);
	if (req->response != NULL)
		MHD_destroy_response(req->response);
	free(req->body);
	atomic_fetch_sub(&srv->body_bytes, req->taken);
	free(req);
	*con_cls = NULL;
	atomic_fetch_sub(&srv->in_flight, 1);
}

/* libmicrohttpd's own messages, at most MHD_LOG_PER_SECOND a second (a flood of
 * refused connections must not flood the log); the rest are counted. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static int64_t second;
	static unsigned n, dropped;
	char msg[512];
	size_t len;
	int64_t now = now_ns() / 1000000000;
	unsigned report = 0;
	bool emit;

	(void)cls;
	pthread_mutex_lock(&lock);
	if (now != second) {
		report = dropped;
		second = now;
		n = 0;
		dropped = 0;
	}
	emit = n++ < MHD_LOG_PER_SECOND;
	if (!emit)
		dropped++;
	pthread_mutex_unlock(&lock);
	if (report > 0)
		LOG(LL_WARN, "libmicrohttpd messages suppressed", "{s:I}", "count", (json_int_t)report);
	if (!emit)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	utf8_repair(msg);
	len = strlen(msg);
	while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		msg[--len] = '\0';
	LOG(LL_WARN, "libmicrohttpd", "{s:s}", "detail", msg);
}

static void server_free(struct http_server *srv)
{
	if (srv == NULL)
		return;
	free(srv->pool);
	pthread_mutex_destroy(&srv->pool_lock);
	pthread_cond_destroy(&srv->pool_wake);
	pthread_mutex_destroy(&srv->conns_lock);
	pthread_cond_destroy(&srv->watchdog_wake);
	free(srv);
}

/* Stop the watchdog and the pool threads (the pool finishes its queue first). */
static void stop_threads(struct http_server *srv)
{
	pthread_mutex_lock(&srv->pool_lock);
	srv->pool_stopping = true;
	pthread_cond_broadcast(&srv->pool_wake);
	pthread_mutex_unlock(&srv->pool_lock);
	for (unsigned i = 0; i < srv->n_pool; i++)
		pthread_join(srv->pool[i], NULL);
	srv->n_pool = 0;
	if (srv->watchdog_started) {
		pthread_mutex_lock(&srv->conns_lock);
		srv->watchdog_stopping = true;
		pthread_cond_signal(&srv->watchdog_wake);
		pthread_mutex_unlock(&srv->conns_lock);
		pthread_join(srv->watchdog, NULL);
		srv->watchdog_started = false;
	}
}

enum amicd_rc http_start(const struct http_options *opt, const struct http_route *routes,
			 size_t n_routes, void *cls, struct http_server **out, struct amicd_error *err)
{
	struct http_server *srv = NULL;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *ai = NULL;
	char port[8];
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	enum amicd_rc rc = AMICD_OK;
	int gai;

	*out = NULL;
	snprintf(port, sizeof port, "%u", opt->port);
	gai = getaddrinfo(opt->host, port, &hints, &ai);
	if (gai != 0) {
		rc = amicd_error_set(err, AMICD_ERR_IO, NULL, "cannot resolve listen address %s: %s", opt->host,
				     gai_strerror(gai));
		goto out;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv = calloc(1, sizeof *srv);
	if (srv == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	pthread_mutex_init(&srv->pool_lock, NULL);
	pthread_cond_init(&srv->pool_wake, NULL);
	pthread_mutex_init(&srv->conns_lock, NULL);
	pthread_cond_init(&srv->watchdog_wake, NULL);
	srv->routes = routes;
	srv->n_routes = n_routes;
	srv->cls = cls;
	srv->max_body_bytes = opt->max_body_bytes;
	srv->max_inflight_bytes = opt->max_inflight_bytes;
	srv->observe = opt->observe;
	srv->request_timeout_ns = (int64_t)opt->request_timeout_s * 1000000000;
	srv->pool = calloc(opt->blocking_threads > 0 ? opt->blocking_threads : HTTP_DEFAULT_BLOCKING_THREADS,
			   sizeof *srv->pool);
	if (srv->pool == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < (opt->blocking_threads > 0 ? opt->blocking_threads : HTTP_DEFAULT_BLOCKING_THREADS);
	     i++) {
		if (pthread_create(&srv->pool[i], NULL, pool_thread, srv) != 0) {
			rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "cannot start the HTTP pool threads");
			goto out;
		}
		srv->n_pool++;
	}
	if (srv->request_timeout_ns > 0) {
		if (pthread_create(&srv->watchdog, NULL, watchdog_thread, srv) != 0) {
			rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "cannot start the HTTP watchdog thread");
			goto out;
		}
		srv->watchdog_started = true;
	}
	srv->daemon = MHD_start_daemon(flags, 0, accept_policy, srv, access_handler, srv,
				       MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				       MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				       MHD_OPTION_CONNECTION_LIMIT,
				       opt->max_connections > 0 ? opt->max_connections : HTTP_DEFAULT_MAX_CONNECTIONS,
				       MHD_OPTION_PER_IP_CONNECTION_LIMIT, opt->max_connections_per_address,
				       MHD_OPTION_CONNECTION_TIMEOUT, opt->idle_timeout_s,
				       MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
				       MHD_OPTION_NOTIFY_CONNECTION, notify_connection, srv,
				       /* no SO_REUSEPORT: a second amicd on the same port must fail, not share it */
				       MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(opt->threads > 1 ? opt->threads : 0),
				       MHD_OPTION_END);
	if (srv->daemon == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_IO, NULL, "cannot listen on %s:%u (in use, or not an address of this host)",
				     opt->host, opt->port);
		goto out;
	}
	{
		const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);

		srv->port = info != NULL ? info->port : opt->port;
	}
	*out = srv;
	srv = NULL;
out:
	if (srv != NULL) {
		stop_threads(srv);
		server_free(srv);
	}
	if (ai != NULL)
		freeaddrinfo(ai);
	return rc;
}

unsigned http_port(const struct http_server *srv)
{
	return srv->port;
}

void http_stats_get(struct http_server *srv, struct http_stats *out)
{
	out->requests = atomic_load(&srv->requests);
	out->in_flight = atomic_load(&srv->in_flight);
	out->closed_oversize = atomic_load(&srv->closed_oversize);
	out->closed_budget = atomic_load(&srv->closed_budget);
	out->refused_budget = atomic_load(&srv->refused_budget);
	out->body_bytes = atomic_load(&srv->body_bytes);
	out->closed_deadline = atomic_load(&srv->closed_deadline);
	pthread_mutex_lock(&srv->conns_lock);
	out->connections = srv->n_conns;
	pthread_mutex_unlock(&srv->conns_lock);
}

void http_quiesce(struct http_server *srv)
{
	/* no MHD_quiesce_daemon: see accept_policy */
	if (srv != NULL)
		atomic_store(&srv->closing, true);
}

uint64_t http_drain(struct http_server *srv, int64_t timeout_ms)
{
	struct timespec pause = { 0, 5 * 1000 * 1000 };

	if (srv == NULL)
		return 0;
	/* polling a counter at shutdown only: requests finish on their own threads */
	for (int64_t waited = 0; atomic_load(&srv->in_flight) > 0 && waited < timeout_ms; waited += 5)
		nanosleep(&pause, NULL);
	return atomic_load(&srv->in_flight);
}

bool http_stop(struct http_server **psrv)
{
	struct http_server *srv;

	if (psrv == NULL || *psrv == NULL)
		return true;
	srv = *psrv;
	stop_threads(srv); /* the pool's queued handlers run and resume their requests */
	if (atomic_load(&srv->suspended) > 0)
		return false;
	MHD_stop_daemon(srv->daemon);
	server_free(srv);
	*psrv = NULL;
	return true;
}

uint64_t http_shutdown(struct http_server **psrv, int64_t timeout_ms)
{
	uint64_t left;

	if (psrv == NULL || *psrv == NULL)
		return 0;
	http_quiesce(*psrv);
	left = http_drain(*psrv, timeout_ms);
	if (!http_stop(psrv))
		return left > 0 ? left : 1;
	return left;
}
