/*
 * server.h — `amicd serve`: wire config, store, ingest and HTTP together, serve
 * until SIGTERM or SIGINT, then drain and exit cleanly.
 */
#ifndef AMICD_SERVER_H
#define AMICD_SERVER_H

#include "config.h"

/*
 * server_run — migrate the database, serve, and on SIGTERM/SIGINT stop
 * accepting, answer the requests in flight (their deliveries committed), and
 * close the store. Returns the process exit status (0 after a clean drain).
 */
int server_run(const struct config *cfg);

#endif
