/*
 * http.c — the libmicrohttpd engine behind http.h. The only file that includes
 * <microhttpd.h>.
 *
 * Threading: an epoll thread pool (one per core by default) runs the access
 * handler. A suspended request is resumed from another thread; libmicrohttpd
 * then calls the handler once more and the reply stored in the request is
 * queued.
 */
#include "http.h"

#include "log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define HTTP_DEFAULT_MAX_CONNECTIONS 1024

struct http_server {
	struct MHD_Daemon *daemon;
	const struct http_route *routes;
	size_t n_routes;
	void *cls;
	size_t max_body_bytes;
	unsigned port;
	http_observe_fn observe;
	atomic_uint_fast64_t requests;
	atomic_uint_fast64_t in_flight;
	atomic_uint_fast64_t closed_oversize;
};

struct http_request {
	struct http_server *srv;
	struct MHD_Connection *conn;
	const char *method;
	const char *url;
	const struct http_route *route;
	char *body;
	size_t body_len;
	size_t body_cap;
	struct MHD_Response *response;
	unsigned status;
	bool handled;
	bool suspended;
	http_handler_fn finish;
	const char *tag;
	int64_t t0_ns;
	void *state;
	void (*state_free)(void *);
};

/* --- accessors ------------------------------------------------------------ */

const char *http_method(const struct http_request *req) { return req->method; }
const char *http_path(const struct http_request *req) { return req->url; }

const char *http_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
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

struct headers_ctx {
	json_t *obj;
	bool (*skip)(const char *, void *);
	void *cls;
};

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct headers_ctx *ctx = cls;
	char name[128];
	size_t i;

	(void)kind;
	for (i = 0; key[i] != '\0' && i + 1 < sizeof name; i++)
		name[i] = (char)tolower((unsigned char)key[i]);
	name[i] = '\0';
	if (ctx->skip != NULL && ctx->skip(name, ctx->cls))
		return MHD_YES;
	json_object_set_new(ctx->obj, name, json_string(value != NULL ? value : ""));
	return MHD_YES;
}

json_t *http_headers_json(const struct http_request *req, bool (*skip)(const char *name, void *cls),
			  void *cls)
{
	struct headers_ctx ctx = { json_object(), skip, cls };

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, add_header, &ctx);
	return ctx.obj;
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
	char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	size_t len;

	json_decref(body);
	if (text == NULL) {
		http_reply_text(req, 500, "application/json",
				strdup("{\"error\":{\"code\":\"internal_error\",\"message\":\"out of memory\"}}"));
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
	json_t *e = json_pack("{s:s,s:s}", "code", amicd_rc_code(rc), "message",
			      err != NULL && err->message[0] != '\0' ? err->message : amicd_rc_doc(rc));

	if (err != NULL && err->path[0] != '\0')
		json_object_set_new(e, "path", json_string(err->path));
	http_reply_json(req, amicd_rc_http_status(rc), json_pack("{s:o}", "error", e));
	if (rc == AMICD_ERR_STORE || rc == AMICD_ERR_BUSY || rc == AMICD_ERR_NOMEM)
		http_reply_header(req, "Retry-After", "5");
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
	MHD_suspend_connection(req->conn);
}

void http_resume(struct http_request *req)
{
	MHD_resume_connection(req->conn);
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

static bool is_json_type(const char *ct)
{
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

/* Checks on the headers alone; a reply set here is sent without reading the body. */
static void on_headers(struct http_request *req)
{
	struct http_server *srv = req->srv;
	struct amicd_error err = { { 0 }, { 0 } };
	char allow[64];
	enum amicd_rc rc;

	req->route = route_find(srv, req->method, req->url, allow, sizeof allow);
	if (req->route == NULL) {
		if (allow[0] != '\0') {
			amicd_error_set(&err, AMICD_ERR_METHOD, NULL, "%s is not allowed on %s; use %s",
					req->method, req->url, allow);
			http_reply_error(req, AMICD_ERR_METHOD, &err);
			http_reply_header(req, "Allow", allow);
		} else {
			amicd_error_set(&err, AMICD_ERR_NOT_FOUND, NULL, "no route for %s", req->url);
			http_reply_error(req, AMICD_ERR_NOT_FOUND, &err);
		}
		return;
	}
	if (req->route->json_body) {
		const char *cl = http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);

		if (!is_json_type(http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE))) {
			amicd_error_set(&err, AMICD_ERR_MEDIA_TYPE, NULL, "Content-Type must be application/json");
			http_reply_error(req, AMICD_ERR_MEDIA_TYPE, &err);
			return;
		}
		if (cl != NULL) {
			unsigned long long n = strtoull(cl, NULL, 10);

			if (n > srv->max_body_bytes) {
				amicd_error_set(&err, AMICD_ERR_TOO_LARGE, NULL,
						"the body is %llu bytes; the limit is %zu", n, srv->max_body_bytes);
				http_reply_error(req, AMICD_ERR_TOO_LARGE, &err);
				return;
			}
			if (n > 0) {
				req->body = malloc(n + 1);
				req->body_cap = req->body != NULL ? n : 0;
			}
		}
	}
	if (req->route->precheck != NULL) {
		rc = req->route->precheck(req, srv->cls, &err);
		if (rc != AMICD_OK)
			http_reply_error(req, rc, &err);
	}
}

/* Append upload data under the cap; false when the cap is passed. */
static bool gather(struct http_request *req, const char *data, size_t len)
{
	size_t max = req->srv->max_body_bytes;

	if (req->body_len + len > max)
		return false;
	if (req->body_len + len > req->body_cap) {
		size_t cap = req->body_cap > 0 ? req->body_cap : 4096;
		char *grown;

		while (cap < req->body_len + len)
			cap *= 2;
		if (cap > max)
			cap = max;
		grown = realloc(req->body, cap + 1);
		if (grown == NULL)
			return false;
		req->body = grown;
		req->body_cap = cap;
	}
	memcpy(req->body + req->body_len, data, len);
	req->body_len += len;
	req->body[req->body_len] = '\0';
	return true;
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
	if (req->srv->observe != NULL) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		req->srv->observe(req->url, req->status, req->tag,
				  (double)((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - req->t0_ns) / 1e9, req->srv->cls);
	}
	r = MHD_queue_response(req->conn, req->status, req->response);
	MHD_destroy_response(req->response);
	req->response = NULL;
	return r;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version, const char *upload_data,
				      size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;

	(void)version;
	if (req == NULL) {
		req = calloc(1, sizeof *req);
		if (req == NULL)
			return MHD_NO;
		req->srv = srv;
		req->conn = conn;
		req->method = method;
		req->url = url;
		{
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			req->t0_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		}
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
		if (!req->route->json_body)
			return MHD_YES; /* a body on a GET is not ours to read: drop it */
		if (!gather(req, upload_data, n)) {
			atomic_fetch_add(&srv->closed_oversize, 1);
			LOG(LL_WARN, "request body over the limit; connection closed", "{s:s,s:I}", "path", req->url,
			    "max_body_bytes", (json_int_t)srv->max_body_bytes);
			return MHD_NO;
		}
		return MHD_YES;
	}
	if (!req->handled) {
		req->handled = true;
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
	if (req->state_free != NULL)
		req->state_free(req->state);
	if (req->response != NULL)
		MHD_destroy_response(req->response);
	free(req->body);
	free(req);
	*con_cls = NULL;
	atomic_fetch_sub(&srv->in_flight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	LOG(LL_WARN, "libmicrohttpd", "{s:s}", "detail", msg);
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
	srv->routes = routes;
	srv->n_routes = n_routes;
	srv->cls = cls;
	srv->max_body_bytes = opt->max_body_bytes;
	srv->observe = opt->observe;
	srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, access_handler, srv,
				       MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				       MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				       MHD_OPTION_CONNECTION_LIMIT,
				       opt->max_connections > 0 ? opt->max_connections : HTTP_DEFAULT_MAX_CONNECTIONS,
				       MHD_OPTION_CONNECTION_TIMEOUT, opt->idle_timeout_s,
				       MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
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
	free(srv);
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
}

uint64_t http_shutdown(struct http_server **psrv, int64_t timeout_ms)
{
	struct http_server *srv;
	struct timespec pause = { 0, 5 * 1000 * 1000 };
	uint64_t left;
	int fd;

	if (psrv == NULL || *psrv == NULL)
		return 0;
	srv = *psrv;
	fd = MHD_quiesce_daemon(srv->daemon);
	if (fd >= 0)
		close(fd);
	/* polling a counter at shutdown only: requests finish on their own threads */
	for (int64_t waited = 0; atomic_load(&srv->in_flight) > 0 && waited < timeout_ms; waited += 5)
		nanosleep(&pause, NULL);
	left = atomic_load(&srv->in_flight);
	MHD_stop_daemon(srv->daemon);
	free(srv);
	*psrv = NULL;
	return left;
}
