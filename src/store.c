/*
 * store.c — the SQLite store's core (see store.h): the connection, write
 * transactions and the process-wide write lock, the durable inbox (events,
 * rejected deliveries), the health probe, and the statement helpers the other
 * store files share (store_internal.h). Migrations are store_migrate.c's. <sqlite3.h> reaches
 * only the store's own files, through store_internal.h.
 *
 * Prepared statements are made once per connection and reset after each use.
 * Every write goes through an explicit BEGIN IMMEDIATE … COMMIT so the write
 * lock is taken up front (a busy database fails fast within busy_timeout
 * instead of deadlocking on upgrade), and so one commit — one fsync of the WAL —
 * covers a whole batch of deliveries.
 */
#include "store.h"
#include "store_internal.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_EVENT_INSERT,
	ST_EVENT_FIND,
	ST_BODY_INSERT,
	ST_REJECTED_INSERT,
	ST_REJECTED_TRIM,
	ST_PROBE,
	ST_COUNT
};

_Static_assert(ST_COUNT <= STORE_STMT_SLOTS, "more statements than slots");

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_EVENT_INSERT] =
		"INSERT INTO events (source, kind, delivery_id, dedup_key, received_at, status, note,"
		" payload_sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
		" ON CONFLICT (source, dedup_key) DO NOTHING",
	[ST_EVENT_FIND] = "SELECT id FROM events WHERE source = ?1 AND dedup_key = ?2",
	[ST_BODY_INSERT] = "INSERT INTO event_bodies (event_id, headers, payload) VALUES (?1, ?2, ?3)",
	[ST_REJECTED_INSERT] =
		"INSERT INTO rejected_deliveries (source, received_at, code, message, json_path, headers, body)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	/* keep the newest ?1 rows, and of those only as many as fit in ?2 bytes of
	 * bodies (the newest one always, when any is kept): the rows past either
	 * bound are a suffix of the newest-first order */
	[ST_REJECTED_TRIM] =
		"DELETE FROM rejected_deliveries WHERE id <= (SELECT max(id) FROM (SELECT id,"
		" row_number() OVER w AS n, sum(length(body)) OVER w AS total FROM rejected_deliveries"
		" WINDOW w AS (ORDER BY id DESC)) WHERE n > ?1 OR (n > 1 AND total > ?2))",
	[ST_PROBE] = "INSERT INTO health_probe (id, at, pad) VALUES (1, ?1, zeroblob(4096))"
		     " ON CONFLICT (id) DO UPDATE SET at = excluded.at",
};

enum amicd_rc store_db_error(struct store *st, struct amicd_error *err, const char *what)
{
	return amicd_error_set(err, AMICD_ERR_STORE, NULL, "%s: %s (%s)", what, sqlite3_errmsg(st->db),
			       sqlite3_errstr(sqlite3_extended_errcode(st->db)));
}

enum amicd_rc store_exec(struct store *st, const char *sql, struct amicd_error *err)
{
	char *msg = NULL;
	enum amicd_rc rc = AMICD_OK;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK)
		rc = amicd_error_set(err, AMICD_ERR_STORE, NULL, "%s", msg != NULL ? msg : sqlite3_errmsg(st->db));
	sqlite3_free(msg);
	return rc;
}

static sqlite3_stmt *stmt(struct store *st, enum stmt_id id)
{
	if (st->stmt[id] == NULL &&
	    sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[id], NULL) != SQLITE_OK)
		return NULL;
	return st->stmt[id];
}

/* Run a statement that returns no rows; reset it whatever happens. */
static enum amicd_rc run(struct store *st, enum stmt_id id, struct amicd_error *err)
{
	sqlite3_stmt *s = stmt(st, id);
	int src;

	if (s == NULL)
		return store_db_error(st, err, "prepare");
	src = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (src != SQLITE_DONE && src != SQLITE_ROW)
		return store_db_error(st, err, stmt_sql[id]);
	return AMICD_OK;
}

/* --- statement helpers (store_internal.h) ------------------------------------ */

sqlite3_stmt *store_prep(struct store *st, const char *sql, struct amicd_error *err)
{
	sqlite3_stmt *s = NULL;
	size_t i;

	for (i = 0; i < STORE_CACHE_SLOTS && st->cache[i].sql != NULL; i++)
		if (st->cache[i].sql == sql)
			return st->cache[i].stmt;
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
		store_db_error(st, err, "prepare");
		sqlite3_finalize(s);
		return NULL;
	}
	if (i == STORE_CACHE_SLOTS) {
		amicd_error_set(err, AMICD_ERR_INTERNAL, NULL, "statement cache full");
		sqlite3_finalize(s);
		return NULL;
	}
	st->cache[i].sql = sql;
	st->cache[i].stmt = s;
	return s;
}

void store_release(sqlite3_stmt *s)
{
	if (s == NULL)
		return;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

enum amicd_rc store_step_done(struct store *st, sqlite3_stmt *s, const char *what, struct amicd_error *err)
{
	int src = sqlite3_step(s);
	enum amicd_rc rc = AMICD_OK;

	if (src != SQLITE_DONE && src != SQLITE_ROW)
		rc = store_db_error(st, err, what);
	store_release(s);
	return rc;
}

void store_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v != NULL)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

char *store_column_dup(sqlite3_stmt *s, int col, bool *nomem)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	char *copy;

	if (t == NULL)
		return NULL;
	copy = strdup((const char *)t);
	if (copy == NULL)
		*nomem = true;
	return copy;
}

/*
 * SQLite's temp files (a replay's shadow tables) go next to the database, on
 * its volume, not in /tmp, which a read-only container may not have. Set once,
 * before the first connection, from the first database opened.
 */
static void set_temp_dir(const char *db_path)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static bool done;

	pthread_mutex_lock(&lock);
	if (!done) {
		const char *slash = strrchr(db_path, '/');

		if (slash == NULL)
			sqlite3_temp_directory = sqlite3_mprintf(".");
		else if (slash == db_path)
			sqlite3_temp_directory = sqlite3_mprintf("/");
		else
			sqlite3_temp_directory = sqlite3_mprintf("%.*s", (int)(slash - db_path), db_path);
		done = true;
	}
	pthread_mutex_unlock(&lock);
}

enum amicd_rc store_open(const char *path, int busy_timeout_ms, struct store **out,
			 struct amicd_error *err)
{
	enum amicd_rc rc = AMICD_OK;
	struct store *st = NULL;
	char pragmas[256];

	*out = NULL;
	set_temp_dir(path);
	st = calloc(1, sizeof *st);
	if (st == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	pthread_mutex_init(&st->lock, NULL);
	st->path = strdup(path);
	if (asprintf(&st->wal_path, "%s-wal", path) < 0)
		st->wal_path = NULL;
	if (st->path == NULL || st->wal_path == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		rc = amicd_error_set(err, AMICD_ERR_STORE, NULL, "cannot open database %s: %s", path,
				     st->db != NULL ? sqlite3_errmsg(st->db) : "out of memory");
		goto out;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, busy_timeout_ms);
	st->busy_timeout_ms = busy_timeout_ms;
	snprintf(pragmas, sizeof pragmas,
		 "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;");
	rc = store_exec(st, pragmas, err);
	if (rc != AMICD_OK)
		goto out;
	{
		sqlite3_stmt *s = NULL;
		bool wal = false;

		if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode", -1, &s, NULL) == SQLITE_OK &&
		    sqlite3_step(s) == SQLITE_ROW)
			wal = strcmp((const char *)sqlite3_column_text(s, 0), "wal") == 0;
		sqlite3_finalize(s);
		if (!wal) {
			rc = amicd_error_set(err, AMICD_ERR_STORE, NULL, "database %s cannot use WAL mode", path);
			goto out;
		}
	}
	(void)store_file_moved(st); /* note which -wal file is ours, if it exists yet */
	*out = st;
	st = NULL;
out:
	store_close(&st);
	return rc;
}

void store_close(struct store **pst)
{
	struct store *st;

	if (pst == NULL || *pst == NULL)
		return;
	st = *pst;
	for (int i = 0; i < STORE_STMT_SLOTS; i++)
		sqlite3_finalize(st->stmt[i]);
	for (int i = 0; i < STORE_CACHE_SLOTS; i++)
		sqlite3_finalize(st->cache[i].stmt);
	sqlite3_close(st->db);
	pthread_mutex_destroy(&st->lock);
	free(st->path);
	free(st->wal_path);
	free(st);
	*pst = NULL;
}

/* --- write transactions -------------------------------------------------- */

/*
 * One write transaction at a time in this process. The threads that write (the
 * ingest writer, the worker, the trigger, admin requests) queue here for a few
 * microseconds instead of meeting SQLITE_BUSY, whose handler sleeps in steps of
 * up to 100 ms; the busy timeout still bounds waits on other processes.
 */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Who holds the lock is recorded here, not inferred from SQLite: after a failed
 * COMMIT (SQLITE_FULL, SQLITE_IOERR) SQLite has often rolled the transaction
 * back already and reports autocommit, yet the lock is still ours to give back.
 */
enum amicd_rc store_begin(struct store *st, struct amicd_error *err)
{
	enum amicd_rc rc;
	struct timespec deadline;

	/* bounded like SQLite's own busy wait: a writer that hangs (a disk that
	 * does not answer) makes the others fail within busy_timeout, not wait forever */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += st->busy_timeout_ms / 1000;
	deadline.tv_nsec += (long)(st->busy_timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	if (pthread_mutex_timedlock(&write_lock, &deadline) != 0)
		return amicd_error_set(err, AMICD_ERR_STORE, NULL,
				       "the database is busy: another write has not finished within %d ms",
				       st->busy_timeout_ms);
	rc = run(st, ST_BEGIN, err);
	if (rc != AMICD_OK) {
		if (!sqlite3_get_autocommit(st->db))
			run(st, ST_ROLLBACK, NULL);
		pthread_mutex_unlock(&write_lock);
		return rc;
	}
	st->holds_write_lock = true;
	return AMICD_OK;
}

static void release_write_lock(struct store *st)
{
	if (st->holds_write_lock) {
		st->holds_write_lock = false;
		pthread_mutex_unlock(&write_lock);
	}
}

enum amicd_rc store_commit(struct store *st, struct amicd_error *err)
{
	enum amicd_rc rc = run(st, ST_COMMIT, err);

	if (rc == AMICD_OK)
		release_write_lock(st);
	return rc; /* on failure the caller rolls back, which gives the lock back */
}

void store_rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		run(st, ST_ROLLBACK, NULL);
	release_write_lock(st);
}

enum amicd_rc store_event_put(struct store *st, struct store_event *ev, struct amicd_error *err)
{
	sqlite3_stmt *s = stmt(st, ST_EVENT_INSERT);
	sqlite3_stmt *f = stmt(st, ST_EVENT_FIND);
	sqlite3_stmt *b = stmt(st, ST_BODY_INSERT);
	char ts[32];
	int src;

	if (s == NULL || f == NULL || b == NULL)
		return store_db_error(st, err, "prepare");
	util_format_time_ms(ev->received_at_ms, ts, sizeof ts);
	sqlite3_bind_text(s, 1, ev->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, ev->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, ev->delivery_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, ev->dedup_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, ts, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, ev->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, ev->note, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 8, ev->payload_sha256, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (src != SQLITE_DONE)
		return store_db_error(st, err, "insert event");
	if (sqlite3_changes(st->db) == 1) {
		ev->id = sqlite3_last_insert_rowid(st->db);
		ev->duplicate = false;
		sqlite3_bind_int64(b, 1, ev->id);
		sqlite3_bind_text(b, 2, ev->headers_json, -1, SQLITE_STATIC);
		sqlite3_bind_blob(b, 3, ev->payload != NULL ? ev->payload : "", (int)ev->payload_len, SQLITE_STATIC);
		src = sqlite3_step(b);
		sqlite3_reset(b);
		sqlite3_clear_bindings(b);
		return src == SQLITE_DONE ? AMICD_OK : store_db_error(st, err, "insert event body");
	}
	sqlite3_bind_text(f, 1, ev->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(f, 2, ev->dedup_key, -1, SQLITE_STATIC);
	src = sqlite3_step(f);
	if (src == SQLITE_ROW)
		ev->id = sqlite3_column_int64(f, 0);
	sqlite3_reset(f);
	sqlite3_clear_bindings(f);
	if (src != SQLITE_ROW)
		return store_db_error(st, err, "find duplicate event");
	ev->duplicate = true;
	return AMICD_OK;
}

enum amicd_rc store_rejected_put(struct store *st, const struct store_rejected *rj, size_t keep,
				 size_t keep_bytes, struct amicd_error *err)
{
	sqlite3_stmt *s = stmt(st, ST_REJECTED_INSERT);
	char ts[32];
	int src;

	if (s == NULL)
		return store_db_error(st, err, "prepare");
	util_format_time_ms(rj->received_at_ms, ts, sizeof ts);
	sqlite3_bind_text(s, 1, rj->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, ts, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, rj->code, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, rj->message, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, rj->json_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, rj->headers_json, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 7, rj->body != NULL ? rj->body : "", (int)rj->body_len, SQLITE_STATIC);
	src = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (src != SQLITE_DONE)
		return store_db_error(st, err, "insert rejected delivery");
	s = stmt(st, ST_REJECTED_TRIM);
	if (s == NULL)
		return store_db_error(st, err, "prepare");
	sqlite3_bind_int64(s, 1, (sqlite3_int64)keep);
	sqlite3_bind_int64(s, 2, keep_bytes > INT64_MAX ? INT64_MAX : (sqlite3_int64)keep_bytes);
	src = sqlite3_step(s);
	sqlite3_reset(s);
	if (src != SQLITE_DONE)
		return store_db_error(st, err, "trim rejected deliveries");
	return AMICD_OK;
}

enum amicd_rc store_probe(struct store *st, int64_t now_ms, struct amicd_error *err)
{
	sqlite3_stmt *s;
	char ts[32];
	enum amicd_rc rc = store_begin(st, err);

	if (rc != AMICD_OK)
		return rc;
	s = stmt(st, ST_PROBE);
	if (s == NULL) {
		rc = store_db_error(st, err, "prepare");
		goto out;
	}
	util_format_time_ms(now_ms, ts, sizeof ts);
	sqlite3_bind_text(s, 1, ts, -1, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE)
		rc = store_db_error(st, err, "write the health probe");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc == AMICD_OK)
		rc = store_commit(st, err);
out:
	if (rc != AMICD_OK)
		store_rollback(st);
	return rc;
}

bool store_file_moved(struct store *st)
{
	struct stat sb;
	int moved = 0;

	pthread_mutex_lock(&st->lock);
	/* SQLite's own check: the path no longer names the database file it has open */
	if (sqlite3_file_control(st->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK)
		moved = 0;
	/*
	 * The write-ahead log holds the newest commits: it must still be the file
	 * this process writes. It exists from the first write on, and amicd keeps
	 * connections open, so SQLite never deletes or replaces it while running.
	 */
	if (!moved) {
		if (stat(st->wal_path, &sb) == 0) {
			if (!st->wal_known) {
				st->wal_known = true;
				st->wal_dev = sb.st_dev;
				st->wal_ino = sb.st_ino;
			}
			moved = sb.st_dev != st->wal_dev || sb.st_ino != st->wal_ino;
		} else {
			moved = st->wal_known;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return moved != 0;
}
