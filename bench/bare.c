/*
 * bare.c — the ceiling for `make bench`: a bare libmicrohttpd server that does
 * nothing but what any webhook receiver must do, so scripts/bench.sh can show
 * how much of amicd's cost is libmicrohttpd itself and how much is amicd's own
 * work (auth, JSON, the SQLite write, the log line). It uses the same threading
 * mode and daemon flags as amicd (MHD_USE_EPOLL_INTERNAL_THREAD |
 * MHD_ALLOW_SUSPEND_RESUME, a thread pool of one thread per online CPU, 1024
 * connections, 60 s idle timeout), reads the whole POST body into a buffer
 * (capped at 1 MiB, like amicd's default limits.max_body_bytes) and answers
 * every request 202 {"status":"queued"}. Nothing is parsed or stored.
 *
 * usage: bare PORT     (0 picks a free port; the bound port is printed on
 *                       stdout as "port N"). Runs until SIGTERM or SIGINT.
 */
#include <microhttpd.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BODY_MAX (1024 * 1024)

static const char reply_text[] = "{\"status\":\"queued\"}\n";

struct body {
	char *data;
	size_t len;
	size_t cap;
	int too_large;
};

static struct MHD_Response *reply_202;

/* Append under the cap; the body is kept only to pay what a real server pays. */
static int body_append(struct body *b, const char *data, size_t len)
{
	if (b->len + len > BODY_MAX)
		return -1;
	if (b->len + len > b->cap) {
		size_t cap = b->cap > 0 ? b->cap : 4096;
		char *grown;

		while (cap < b->len + len)
			cap *= 2;
		if (cap > BODY_MAX)
			cap = BODY_MAX;
		grown = realloc(b->data, cap + 1);
		if (grown == NULL)
			return -1;
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			       const char *version, const char *upload_data, size_t *upload_data_size,
			       void **con_cls)
{
	struct body *b = *con_cls;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	if (b == NULL) {
		b = calloc(1, sizeof *b);
		if (b == NULL)
			return MHD_NO;
		*con_cls = b;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (body_append(b, upload_data, n) != 0)
			return MHD_NO; /* over the cap: close the connection */
		return MHD_YES;
	}
	return MHD_queue_response(conn, MHD_HTTP_ACCEPTED, reply_202);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct body *b = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (b == NULL)
		return;
	free(b->data);
	free(b);
	*con_cls = NULL;
}

int main(int argc, char **argv)
{
	struct MHD_Daemon *daemon;
	const union MHD_DaemonInfo *info;
	sigset_t set;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	char *end;
	unsigned long port;
	int sig;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	errno = 0;
	port = strtoul(argv[1], &end, 10);
	if (errno != 0 || end == argv[1] || *end != '\0' || port > 65535) {
		fprintf(stderr, "bare: bad port \"%s\"\n", argv[1]);
		return 2;
	}

	/* Block the stop signals in every thread (libmicrohttpd's inherit the
	 * mask) and take them with sigwait in main. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	reply_202 = MHD_create_response_from_buffer(sizeof reply_text - 1, (void *)reply_text,
						    MHD_RESPMEM_PERSISTENT);
	if (reply_202 == NULL) {
		fprintf(stderr, "bare: out of memory\n");
		return 1;
	}
	MHD_add_response_header(reply_202, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");

	daemon = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL,
				  handler, NULL,
				  MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(cpus > 0 ? cpus : 1),
				  MHD_OPTION_CONNECTION_LIMIT, 1024u,
				  MHD_OPTION_CONNECTION_TIMEOUT, 60u,
				  MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
				  MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
				  MHD_OPTION_END);
	if (daemon == NULL) {
		fprintf(stderr, "bare: cannot listen on port %lu\n", port);
		MHD_destroy_response(reply_202);
		return 1;
	}
	info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
	printf("port %u\n", info != NULL ? (unsigned)info->port : (unsigned)port);
	fflush(stdout);

	while (sigwait(&set, &sig) != 0)
		;
	MHD_stop_daemon(daemon);
	MHD_destroy_response(reply_202);
	return 0;
}
