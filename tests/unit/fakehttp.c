/*
 * fakehttp.c — see fakehttp.h.
 */
#include "fakehttp.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEAD (64 * 1024)
#define MAX_BODY (16 * 1024 * 1024)
#define READ_TIMEOUT_MS 5000

struct fakehttp {
	int fd;
	unsigned port;
	pthread_t thread;
	atomic_bool stop;
	atomic_uint requests;
	fakehttp_handler handler;
	void *cls;
};

static void send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

void fakehttp_answer(const struct fakehttp_request *req, int status, const char *content_type,
		     const char *extra_headers, const char *body, size_t len)
{
	char head[1024];

	snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
		 status, content_type != NULL ? content_type : "application/json", len,
		 extra_headers != NULL ? extra_headers : "");
	send_all(req->fd, head, strlen(head));
	send_all(req->fd, body != NULL ? body : "", body != NULL ? len : 0);
}

void fakehttp_stall(struct fakehttp *srv, const struct fakehttp_request *req)
{
	while (!fakehttp_stopping(srv)) {
		struct pollfd p = { .fd = req->fd, .events = POLLIN };
		char c;

		if (poll(&p, 1, 20) > 0 && recv(req->fd, &c, 1, 0) <= 0)
			return; /* the client gave up */
	}
}

const char *fakehttp_header_get(const struct fakehttp_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

/* Read until have holds want bytes; false on EOF, error or a quiet client. */
static bool read_more(int fd, char *buf, size_t *have, size_t want)
{
	while (*have < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, READ_TIMEOUT_MS) <= 0)
			return false;
		n = recv(fd, buf + *have, want - *have, 0);
		if (n <= 0)
			return false;
		*have += (size_t)n;
	}
	return true;
}

/* Split the head in place into the request line and headers (the target copied to *target); false when malformed. */
static bool parse_head(char *head, struct fakehttp_request *req, char **target)
{
	char *line = head, *next, *sp1, *sp2, *q;

	next = strstr(line, "\r\n");
	if (next == NULL)
		return false;
	*next = '\0';
	sp1 = strchr(line, ' ');
	sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
	if (sp1 == NULL || sp2 == NULL)
		return false;
	*sp1 = *sp2 = '\0';
	req->method = line;
	*target = strdup(sp1 + 1);
	if (*target == NULL)
		return false;
	req->target = *target;
	req->path = sp1 + 1;
	req->query = "";
	q = strchr(sp1 + 1, '?');
	if (q != NULL) {
		*q = '\0'; /* path and query apart; target keeps both */
		req->query = q + 1;
	}
	for (line = next + 2; *line != '\0' && req->n_headers < FAKEHTTP_MAX_HEADERS; line = next + 2) {
		char *colon;

		next = strstr(line, "\r\n");
		if (next == NULL)
			return false;
		*next = '\0';
		if (*line == '\0')
			break;
		colon = strchr(line, ':');
		if (colon == NULL)
			return false;
		*colon = '\0';
		colon++;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		req->headers[req->n_headers].name = line;
		req->headers[req->n_headers].value = colon;
		req->n_headers++;
	}
	return true;
}

static void serve(struct fakehttp *srv, int fd)
{
	char *buf = malloc(MAX_HEAD + 1);
	char *body = NULL, *target = NULL;
	size_t have = 0, head_len = 0, body_len = 0;
	struct fakehttp_request req = { .fd = fd, .body = "" };
	char *end = NULL;
	const char *cl;

	if (buf == NULL)
		return;
	while (end == NULL && have < MAX_HEAD) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, READ_TIMEOUT_MS) <= 0)
			goto out;
		n = recv(fd, buf + have, MAX_HEAD - have, 0);
		if (n <= 0)
			goto out;
		have += (size_t)n;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	if (end == NULL)
		goto out;
	head_len = (size_t)(end - buf) + 4;
	end[2] = '\0'; /* keep the last header's "\r\n" */
	if (!parse_head(buf, &req, &target))
		goto out;
	cl = fakehttp_header_get(&req, "Content-Length");
	body_len = cl != NULL ? strtoul(cl, NULL, 10) : 0;
	if (body_len > MAX_BODY)
		goto out;
	body = malloc(body_len + 1);
	if (body == NULL)
		goto out;
	/* what came with the head, then the rest */
	memcpy(body, buf + head_len, have - head_len < body_len ? have - head_len : body_len);
	have = have - head_len < body_len ? have - head_len : body_len;
	if (!read_more(fd, body, &have, body_len))
		goto out;
	body[body_len] = '\0';
	req.body = body;
	req.body_len = body_len;
	atomic_fetch_add(&srv->requests, 1);
	srv->handler(srv, &req, srv->cls);
out:
	free(target);
	free(body);
	free(buf);
}

static void *run(void *arg)
{
	struct fakehttp *srv = arg;

	while (!atomic_load(&srv->stop)) {
		struct pollfd p = { .fd = srv->fd, .events = POLLIN };
		int c;

		if (poll(&p, 1, 20) <= 0)
			continue;
		c = accept(srv->fd, NULL, NULL);
		if (c < 0)
			continue;
		serve(srv, c);
		close(c);
	}
	return NULL;
}

struct fakehttp *fakehttp_start(fakehttp_handler handler, void *cls)
{
	struct fakehttp *srv = calloc(1, sizeof *srv);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof a;

	if (srv == NULL)
		return NULL;
	srv->handler = handler;
	srv->cls = cls;
	srv->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (srv->fd < 0 || bind(srv->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(srv->fd, 64) != 0 ||
	    getsockname(srv->fd, (struct sockaddr *)&a, &alen) != 0)
		goto fail;
	srv->port = ntohs(a.sin_port);
	if (pthread_create(&srv->thread, NULL, run, srv) != 0)
		goto fail;
	return srv;
fail:
	if (srv->fd >= 0)
		close(srv->fd);
	free(srv);
	return NULL;
}

unsigned fakehttp_port(const struct fakehttp *srv)
{
	return srv->port;
}

bool fakehttp_stopping(const struct fakehttp *srv)
{
	return atomic_load(&srv->stop);
}

unsigned fakehttp_requests(struct fakehttp *srv)
{
	return atomic_load(&srv->requests);
}

void fakehttp_stop(struct fakehttp *srv)
{
	if (srv == NULL)
		return;
	atomic_store(&srv->stop, true);
	pthread_join(srv->thread, NULL);
	close(srv->fd);
	free(srv);
}

bool fakehttp_form_get(const char *body, const char *name, char *buf, size_t size)
{
	size_t n = strlen(name);

	for (const char *p = body; p != NULL && *p != '\0'; p = strchr(p, '&'), p = p != NULL ? p + 1 : NULL) {
		if (strncmp(p, name, n) == 0 && p[n] == '=') {
			size_t o = 0;

			for (p += n + 1; *p != '\0' && *p != '&' && o + 1 < size; p++) {
				if (*p == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
					char hex[3] = { p[1], p[2], '\0' };

					buf[o++] = (char)strtol(hex, NULL, 16);
					p += 2;
				} else {
					buf[o++] = *p == '+' ? ' ' : *p;
				}
			}
			buf[o] = '\0';
			return true;
		}
	}
	buf[0] = '\0';
	return false;
}
