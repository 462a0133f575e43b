/*
 * store_internal.h — what the store's own files (store.c, store_migrate.c,
 * store_facts.c, store_asg.c, store_promote.c, store_query.c, store_shadow.c)
 * share: the connection struct and the statement helpers. Nothing outside the store
 * includes this or <sqlite3.h>.
 */
#ifndef AMICD_STORE_INTERNAL_H
#define AMICD_STORE_INTERNAL_H

#include "error.h"

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sqlite3.h>

#define STORE_STMT_SLOTS 16
/* store_prep's cache: room for every statement literal amicd has (57 store_prep
 * sites at the last count) several times over — a full cache fails a statement */
#define STORE_CACHE_SLOTS 256

struct store_cached {
	const char *sql;      /* the literal's address is the key */
	sqlite3_stmt *stmt;
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[STORE_STMT_SLOTS];
	struct store_cached cache[STORE_CACHE_SLOTS]; /* statements made by store_prep */
	pthread_mutex_t lock; /* serialises threads sharing this connection */
	bool holds_write_lock; /* this connection owns the process's write lock (store_begin) */
	int busy_timeout_ms;  /* how long store_begin waits for that lock (and SQLite for its own) */
	bool shadow;          /* derived facts and event statuses go to private temp tables (store_shadow.c) */
	char *path;
	char *wal_path;       /* path-wal, and the file that was there when first seen */
	bool wal_known;
	dev_t wal_dev;
	ino_t wal_ino;
};

/* store_exec — run sql (any number of statements); AMICD_ERR_STORE with SQLite's message. */
enum amicd_rc store_exec(struct store *st, const char *sql, struct amicd_error *err);

/* store_source_check_read — store_source_check_get with st->lock already held (store_reconcile.c). */
enum amicd_rc store_source_check_read(struct store *st, const char *question, struct store_source_check *out,
				      struct amicd_error *err);

/* store_db_error — AMICD_ERR_STORE with SQLite's message for what failed. */
enum amicd_rc store_db_error(struct store *st, struct amicd_error *err, const char *what);

/*
 * store_prep — the prepared statement for sql, a string literal: statements
 * are made once per connection and cached by the literal's address, then
 * handed out reset. On failure fill err and return NULL. Callers hand the
 * statement back with store_release(), never finalize it.
 */
sqlite3_stmt *store_prep(struct store *st, const char *sql, struct amicd_error *err);

/* store_release — hand a statement from store_prep back: reset, bindings cleared. NULL is fine. */
void store_release(sqlite3_stmt *s);

/* store_step_done — step a statement that returns no rows, then release it. */
enum amicd_rc store_step_done(struct store *st, sqlite3_stmt *s, const char *what, struct amicd_error *err);

/* store_bind_text — bind v (copied), or NULL when v is NULL. */
void store_bind_text(sqlite3_stmt *s, int i, const char *v);

/* store_column_dup — a malloc'd copy of a text column; NULL for SQL NULL (*nomem set when a copy failed). */
char *store_column_dup(sqlite3_stmt *s, int col, bool *nomem);

#endif
