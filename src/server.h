/*
 * server.h — `amicd serve`: wire config, store, ingest, worker, trigger and
 * HTTP together, serve until SIGTERM or SIGINT, then drain and exit cleanly.
 *
 * server_start/server_stop run the same server inside another program (the
 * tests run it in-process, over a fault-injecting SQLite VFS); server_run is
 * the command: start, wait for a signal, stop.
 *
 * Ownership: cfg is borrowed and must outlive the server.
 */
#ifndef AMICD_SERVER_H
#define AMICD_SERVER_H

#include "config.h"
#include "error.h"

#include <stdbool.h>
#include <stdint.h>

struct app;

/* server_start — migrate the database and start every part; the bound port is server_port(). */
enum amicd_rc server_start(const struct config *cfg, struct app **out, struct amicd_error *err);

/* server_port — the port actually bound (listen port 0 picks a free one). */
unsigned server_port(const struct app *app);
/* server_public_port — the port bound for public_listen; 0 when none is configured. */
unsigned server_public_port(const struct app *app);

/*
 * server_stop — stop accepting, answer the requests in flight (their
 * deliveries committed, or 503 when they cannot be), stop every part and free
 * *app. Returns false when a request could not be answered because a part is
 * stuck (a commit hung in I/O): then nothing is freed, and the caller can only
 * exit. NULL is a no-op (true).
 */
bool server_stop(struct app **app, int64_t drain_timeout_ms);

/*
 * server_run — server_start, serve until SIGTERM or SIGINT, server_stop.
 * Returns the process exit status: 0 after a stop, also when a stuck part had
 * to be abandoned (the log says which requests were left unanswered).
 */
int server_run(const struct config *cfg);

#endif
