/*
 * store_internal.h — what the store's own files (store.c, store_facts.c,
 * store_shadow.c) share.
 * Nothing outside the store includes this or <sqlite3.h>.
 */
#ifndef AMICD_STORE_INTERNAL_H
#define AMICD_STORE_INTERNAL_H

#include "error.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sqlite3.h>

#define STORE_STMT_SLOTS 16
#define STORE_CACHE_SLOTS 64

struct store_cached {
	const char *sql;      /* the literal's address is the key */
	sqlite3_stmt *stmt;
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[STORE_STMT_SLOTS];
	struct store_cached cache[STORE_CACHE_SLOTS]; /* store_facts.c's statements */
	pthread_mutex_t lock; /* serialises threads sharing this connection */
	bool holds_write_lock; /* this connection owns the process's write lock (store_begin) */
	bool shadow;          /* derived facts and event statuses go to private temp tables (store_shadow.c) */
	char *path;
	char *wal_path;       /* path-wal, and the file that was there when first seen */
	bool wal_known;
	dev_t wal_dev;
	ino_t wal_ino;
};

/* store_exec — run sql (any number of statements); AMICD_ERR_STORE with SQLite's message. */
enum amicd_rc store_exec(struct store *st, const char *sql, struct amicd_error *err);

/* store_db_error — AMICD_ERR_STORE with SQLite's message for what failed. */
enum amicd_rc store_db_error(struct store *st, struct amicd_error *err, const char *what);

#endif
