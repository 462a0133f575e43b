/*
 * fakehttp.h — a small HTTP/1.1 server on 127.0.0.1:0 for the fakes that
 * stand in for GitLab, EC2 and STS in the tests. It hands the handler the
 * request exactly as it came on the wire (the raw request target, every
 * header as sent, the body), so a fake can check what the real service
 * checks: a token, an encoding, a SigV4 signature.
 *
 * One request per connection (each answer closes it), served one at a time on
 * the server's own thread. A handler that must stall (a silent server) polls
 * fakehttp_stopping() and the client's fd, so stopping never hangs.
 *
 * Test support: linked into every unit and integration test.
 *
 * Ownership: the request passed to the handler is borrowed for the call.
 */
#ifndef AMICD_TEST_FAKEHTTP_H
#define AMICD_TEST_FAKEHTTP_H

#include <stdbool.h>
#include <stddef.h>

#define FAKEHTTP_MAX_HEADERS 64

struct fakehttp_header {
	const char *name;              /* as sent */
	const char *value;             /* leading blanks removed, the rest as sent */
};

struct fakehttp_request {
	const char *method;
	const char *target;            /* the raw request target: path and query, still encoded */
	const char *path;              /* target up to '?' */
	const char *query;             /* after '?', "" when none */
	struct fakehttp_header headers[FAKEHTTP_MAX_HEADERS];
	size_t n_headers;
	const char *body;              /* NUL-terminated; "" when none */
	size_t body_len;
	int fd;                        /* the connection, for handlers that stall */
};

struct fakehttp;

/* handler — answer req (fakehttp_answer), or not at all (the connection is closed). */
typedef void (*fakehttp_handler)(struct fakehttp *srv, const struct fakehttp_request *req, void *cls);

/* fakehttp_start — listen on 127.0.0.1:0 and serve with handler; NULL on failure. */
struct fakehttp *fakehttp_start(fakehttp_handler handler, void *cls);

/* fakehttp_port — the port it listens on. */
unsigned fakehttp_port(const struct fakehttp *srv);

/* fakehttp_stopping — true once fakehttp_stop was called. */
bool fakehttp_stopping(const struct fakehttp *srv);

/* fakehttp_requests — how many requests were served so far. */
unsigned fakehttp_requests(struct fakehttp *srv);

/* fakehttp_stop — stop, join and free; NULL is a no-op. */
void fakehttp_stop(struct fakehttp *srv);

/* fakehttp_header_get — the value of the first header called name (any case), or NULL. */
const char *fakehttp_header_get(const struct fakehttp_request *req, const char *name);

/*
 * fakehttp_answer — send status with content_type, extra_headers (full
 * "Name: value\r\n" lines, or NULL) and body of len bytes, then close.
 */
void fakehttp_answer(const struct fakehttp_request *req, int status, const char *content_type,
		     const char *extra_headers, const char *body, size_t len);

/*
 * fakehttp_form_get — the value of name in an x-www-form-urlencoded body
 * (what EC2 and STS get), percent- and '+'-decoded, into buf (cut at size);
 * false (buf "") when absent.
 */
bool fakehttp_form_get(const char *body, const char *name, char *buf, size_t size);

/* fakehttp_stall — hold the request until the client gives up or the server stops. */
void fakehttp_stall(struct fakehttp *srv, const struct fakehttp_request *req);

#endif
