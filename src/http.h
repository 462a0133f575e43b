/*
 * http.h — amicd's HTTP engine over libmicrohttpd: routing as a table, request
 * bodies gathered under a hard cap, JSON replies, and replies that arrive later
 * from another thread (suspend/resume), so a hook's request thread never
 * blocks on the disk.
 *
 * Lifecycle of a request: the route is found on the headers (404/405 answered
 * there; a request line that is not UTF-8 never reaches a handler); for a route
 * that takes a body, Content-Length (413), the route's precheck
 * (authentication: 401) and then Content-Type (415) are checked, before any
 * body byte is read; then the body's bytes are taken from the in-flight
 * budget (503 when they would pass it). A reply given at that point closes
 * the connection without reading the body. Then the body is gathered (a
 * chunked body past the cap is answered 413, one that would pass the budget
 * 503, and its connection closed without reading further), and the handler
 * runs once.
 *
 * Memory: bodies are held until their request completes (whatever its
 * outcome), so a handler that suspends may lend the body to another thread
 * until it resumes. Every body buffer held counts against max_inflight_bytes;
 * it is given back when the request completes.
 * The handler either replies (http_reply_*) or suspends (http_suspend) and
 * someone later replies and calls http_resume. A route marked blocking runs
 * its handler on a small pool of the engine's own threads instead, so a slow
 * read or a replay never holds up the connections of other clients.
 *
 * Hostile clients: each connection must deliver its request head and body
 * within request_timeout_s of its start (or of the end of its previous
 * request), however slowly it trickles bytes; one address may hold at most
 * max_connections_per_address connections.
 *
 * Callers of this header never see libmicrohttpd.
 *
 * Ownership: strings returned by the http_request accessors are borrowed and
 * valid until the request completes; json_t * given to http_reply_json is
 * stolen.
 */
#ifndef AMICD_HTTP_H
#define AMICD_HTTP_H

#include "error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_request;
struct http_server;

typedef void (*http_handler_fn)(struct http_request *req, void *cls);
typedef enum amicd_rc (*http_precheck_fn)(struct http_request *req, void *cls, struct amicd_error *err);

struct http_route {
	const char *method;
	const char *path;           /* exact, or a prefix when it ends in '*' */
	http_handler_fn handle;
	http_precheck_fn precheck;  /* NULL, or checks run on the headers alone */
	bool json_body;             /* takes an application/json body, up to the cap */
	bool blocking;              /* the handler may block (store reads, replays): run it on the pool */
};

/* Called once per answered request: the path, status, the handler's tag (or
 * NULL) and the seconds from its headers to its answer. */
typedef void (*http_observe_fn)(const char *path, unsigned status, const char *tag, double seconds, void *cls);

struct http_options {
	const char *host;           /* numeric IPv4 or IPv6 address, or a name */
	unsigned port;              /* 0: any free port (see http_port) */
	size_t max_body_bytes;
	size_t max_inflight_bytes;  /* body buffers held at once, all requests together; 0: no budget */
	unsigned threads;           /* 0 or 1: one thread */
	unsigned blocking_threads;  /* threads for blocking routes; 0: 4 */
	unsigned max_connections;   /* 0: 1024 */
	unsigned max_connections_per_address; /* 0: no limit per client address */
	unsigned idle_timeout_s;    /* a connection silent this long is closed */
	unsigned request_timeout_s; /* head and body must arrive within this; 0: no deadline */
	http_observe_fn observe;    /* may be NULL; gets the server's cls */
};

/* Counters kept by the engine (for metrics and tests). */
struct http_stats {
	uint64_t requests;
	uint64_t in_flight;
	uint64_t closed_oversize;   /* chunked bodies cut off at the cap */
	uint64_t closed_budget;     /* chunked bodies cut off at the in-flight budget */
	uint64_t refused_budget;    /* bodies answered 503 for the budget (closed_budget included) */
	uint64_t body_bytes;        /* bytes of body buffers held now (counted against the budget) */
	uint64_t closed_deadline;   /* connections closed for missing the request deadline */
	uint64_t connections;       /* open now */
};

/*
 * http_start — listen and serve routes (the table must outlive the server); cls
 * is passed to every handler and precheck. AMICD_ERR_IO when the address cannot
 * be bound.
 */
enum amicd_rc http_start(const struct http_options *opt, const struct http_route *routes,
			 size_t n_routes, void *cls, struct http_server **out, struct amicd_error *err);

/* http_port — the port actually bound. */
unsigned http_port(const struct http_server *srv);

/* http_stats_get — a snapshot of the counters. */
void http_stats_get(struct http_server *srv, struct http_stats *out);

/*
 * http_quiesce — stop taking connections (a new one is closed at once; the
 * port itself is released by http_stop); the open ones are served, and told
 * to close.
 */
void http_quiesce(struct http_server *srv);

/* http_drain — wait up to timeout_ms for the requests in flight to be answered; how many are left. */
uint64_t http_drain(struct http_server *srv, int64_t timeout_ms);

/*
 * http_stop — stop the blocking pool (its queued handlers still run) and the
 * server, and free *srv. Returns false, changing nothing, while a request is
 * still suspended: its owner has not resumed it, and libmicrohttpd cannot stop
 * under it. NULL is a no-op (true).
 */
bool http_stop(struct http_server **srv);

/*
 * http_shutdown — http_quiesce, http_drain(timeout_ms), http_stop. Returns the
 * number of requests still in flight when the time ran out (0 for a clean
 * drain); when some are still suspended the server is left running.
 */
uint64_t http_shutdown(struct http_server **srv, int64_t timeout_ms);

/*
 * Request accessors. Header and query names are matched case-insensitively.
 * The method and path are valid UTF-8 (others are answered before routing);
 * header values and the body are the client's bytes, unchecked.
 */
const char *http_method(const struct http_request *req);
const char *http_path(const struct http_request *req);
/* http_remote — the client's numeric address into buf ("unknown" when it cannot be had); returns buf. */
const char *http_remote(const struct http_request *req, char *buf, size_t size);
const char *http_header(const struct http_request *req, const char *name);
const char *http_query(const struct http_request *req, const char *name);
const void *http_body(const struct http_request *req, size_t *len);

/* http_json_content_type — whether the request's Content-Type is application/json (any parameters). */
bool http_json_content_type(const struct http_request *req);

/*
 * http_defer_media_type — for a precheck that cannot authenticate the request
 * on its headers alone (a signature over the body): the engine then leaves
 * Content-Type unchecked, and the handler answers 415 itself once the request
 * is authenticated, so that an unauthenticated client never learns that
 * Content-Type was wrong (401 before 415).
 */
void http_defer_media_type(struct http_request *req);

/*
 * http_headers_text — the request headers for which keep(name, cls) is true
 * (keep NULL: all), as the text of a compact JSON object of lower-cased names
 * in sorted order (keep sees the whole lower-cased name, however long; of a
 * name sent twice the later value is kept). Names and values that are not
 * UTF-8 are kept escaped (utf8_escape). Written without a DOM: it is made for
 * every delivery. The caller frees it; NULL on out of memory.
 */
char *http_headers_text(const struct http_request *req, bool (*keep)(const char *name, void *cls), void *cls);

/* Per-request state for a handler: freed with free_fn when the request ends. */
void http_set_state(struct http_request *req, void *state, void (*free_fn)(void *));
void *http_state(const struct http_request *req);

/* Replies: one per request; a second one is ignored. */
void http_reply_json(struct http_request *req, unsigned status, json_t *body);
void http_reply_text(struct http_request *req, unsigned status, const char *content_type, char *text);
/* {"error":{"code","message"[,"path"]}} with the status of rc. */
void http_reply_error(struct http_request *req, enum amicd_rc rc, const struct amicd_error *err);

/* http_reply_error_with — the same, with fields (taken; may be NULL) added to the error object. */
void http_reply_error_with(struct http_request *req, enum amicd_rc rc, const struct amicd_error *err, json_t *fields);
/* http_set_tag — a word for the observer about this request's outcome (static string). */
void http_set_tag(struct http_request *req, const char *tag);
/* Add a header to the reply given (call after http_reply_*). */
void http_reply_header(struct http_request *req, const char *name, const char *value);

/*
 * http_suspend — called by a handler that will answer later: the request thread
 * goes on serving others. Exactly one http_resume must follow. When finish is
 * non-NULL it runs on a request thread after the resume and gives the reply
 * (so the thread that resumes does no more than record an outcome); otherwise
 * the reply must be given before http_resume.
 */
void http_suspend(struct http_request *req, http_handler_fn finish);

/* http_resume — from any thread: hand the request back (see http_suspend). */
void http_resume(struct http_request *req);

#endif
