/*
 * test_store.c — unit tests of store.c: the migrations runner, the connection
 * pragmas, the inbox of events and rejected deliveries, and the failure paths
 * (disk full, I/O error on commit, a busy database).
 *
 * Every test gets its own temporary directory and database (setup/teardown),
 * so tests depend neither on the working directory nor on their order.
 *
 * Faults are injected below SQLite, through the fault VFS (faultvfs.h): a
 * write, sync, truncate or read of the database or its WAL fails with
 * SQLITE_FULL or SQLITE_IOERR_*, so SQLite's own recovery runs as it would on a
 * full or failing disk, and the tests see what amicd then does: the batch is
 * gone, the process's write lock is free again, and the next transaction works.
 * The white-box tests include store_internal.h to read the store's own
 * connection (its pragmas).
 */
#include "crypto.h"
#include "error.h"
#include "faultvfs.h"
#include "store.h"
#include "store_internal.h"
#include "support.h"
#include "util.h"

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* --- raw SQLite helpers (a second connection, as an operator would have) --- */

static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK)
		fail_msg("raw exec \"%s\": %s", sql, msg != NULL ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
}

/* First column of the first row of sql as an integer; -1 when there is no row. */
static int64_t raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	int64_t v = -1;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("raw prepare \"%s\": %s", sql, sqlite3_errmsg(db));
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		fail_msg("raw step \"%s\": %s", sql, sqlite3_errmsg(db));
	sqlite3_finalize(s);
	return v;
}

/* First column of the first row of sql as text into buf ("" when no row). */
static void raw_text(sqlite3 *db, const char *sql, char *buf, size_t size)
{
	sqlite3_stmt *s = NULL;

	buf[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("raw prepare \"%s\": %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0) != NULL)
		snprintf(buf, size, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
}

static bool raw_table_exists(sqlite3 *db, const char *table)
{
	sqlite3_stmt *s = NULL;
	bool found;

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
					    -1, &s, NULL), SQLITE_OK);
	sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
	found = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return found;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (hay == NULL || strstr(hay, needle) == NULL)
		fail_msg("expected \"%s\" to contain \"%s\"", hay != NULL ? hay : "(null)", needle);
}

/* --- fixture -------------------------------------------------------------- */

struct fx {
	char dir[PATH_MAX - 64];
	char db[PATH_MAX];
	struct store *st;
	struct amicd_error err;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof *fx);

	if (fx == NULL)
		return -1;
	if (support_tmpdir(fx->dir, sizeof fx->dir, NULL, "amicd-test-store") != 0) {
		free(fx);
		return -1;
	}
	snprintf(fx->db, sizeof fx->db, "%s/amicd.db", fx->dir);
	faultvfs_disarm();
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	faultvfs_disarm();
	store_close(&fx->st);
	support_rmtree(fx->dir);
	free(fx);
	return 0;
}

static void open_store(struct fx *fx, int busy_ms)
{
	enum amicd_rc rc = store_open(fx->db, busy_ms, &fx->st, &fx->err);

	if (rc != AMICD_OK)
		fail_msg("store_open: %s", fx->err.message);
	assert_non_null(fx->st);
}

/* Open and bring to the real schema (the embedded migrations). */
static void open_migrated(struct fx *fx, int busy_ms)
{
	unsigned applied = 0;

	open_store(fx, busy_ms);
	if (store_migrate(fx->st, store_migrations, store_migrations_count, &applied, &fx->err) != AMICD_OK)
		fail_msg("store_migrate: %s", fx->err.message);
	assert_int_equal(applied, store_migrations_count);
}

/* --- migrations ----------------------------------------------------------- */

static const struct store_migration m_v1 = { 1, "alpha", "CREATE TABLE alpha (x INTEGER);\n" };
static const struct store_migration m_v2 = { 2, "beta", "CREATE TABLE beta (y TEXT);\n" };
static const struct store_migration m_v3 = { 3, "gamma", "CREATE TABLE gamma (z BLOB);\n" };

static void test_migrate_fresh_then_noop(void **state)
{
	struct fx *fx = *state;
	const struct store_migration list[] = { m_v1, m_v2 };
	unsigned applied = 99;
	sqlite3 *db;

	open_store(fx, 1000);
	assert_int_equal(store_migrate(fx->st, list, 2, &applied, &fx->err), AMICD_OK);
	assert_int_equal(applied, 2);
	assert_int_equal(store_check_schema(fx->st, list, 2, &fx->err), AMICD_OK);

	applied = 99;
	assert_int_equal(store_migrate(fx->st, list, 2, &applied, &fx->err), AMICD_OK);
	assert_int_equal(applied, 0);
	/* applied may be NULL */
	assert_int_equal(store_migrate(fx->st, list, 2, NULL, &fx->err), AMICD_OK);

	db = raw_open(fx->db);
	assert_true(raw_table_exists(db, "alpha"));
	assert_true(raw_table_exists(db, "beta"));
	assert_int_equal(raw_int(db, "SELECT count(*) FROM schema_migrations"), 2);
	{
		char sum[65], got[80];

		crypto_sha256_hex(m_v2.sql, strlen(m_v2.sql), sum);
		raw_text(db, "SELECT checksum FROM schema_migrations WHERE version = 2", got, sizeof got);
		assert_string_equal(got, sum);
		raw_text(db, "SELECT name FROM schema_migrations WHERE version = 1", got, sizeof got);
		assert_string_equal(got, "alpha");
	}
	sqlite3_close(db);
}

static void test_migrate_adds_new_one_only(void **state)
{
	struct fx *fx = *state;
	const struct store_migration list[] = { m_v1, m_v2, m_v3 };
	unsigned applied = 0;
	sqlite3 *db;

	open_store(fx, 1000);
	assert_int_equal(store_migrate(fx->st, list, 2, &applied, &fx->err), AMICD_OK);
	assert_int_equal(applied, 2);
	/* not yet applied: the schema check says so */
	assert_int_equal(store_check_schema(fx->st, list, 3, &fx->err), AMICD_ERR_MIGRATION);
	assert_contains(fx->err.message, "1 migration(s) not applied");

	assert_int_equal(store_migrate(fx->st, list, 3, &applied, &fx->err), AMICD_OK);
	assert_int_equal(applied, 1);
	assert_int_equal(store_check_schema(fx->st, list, 3, &fx->err), AMICD_OK);

	db = raw_open(fx->db);
	assert_true(raw_table_exists(db, "gamma"));
	assert_int_equal(raw_int(db, "SELECT count(*) FROM schema_migrations"), 3);
	assert_int_equal(raw_int(db, "SELECT max(version) FROM schema_migrations"), 3);
	sqlite3_close(db);
}

static void test_migrate_tampered(void **state)
{
	struct fx *fx = *state;
	const struct store_migration orig[] = { m_v1 };
	const struct store_migration tampered[] = {
		{ 1, "alpha", "CREATE TABLE alpha (x INTEGER, extra TEXT);\n" },
		m_v2,
	};
	unsigned applied = 99;
	char before[80], after[80];
	sqlite3 *db;

	open_store(fx, 1000);
	assert_int_equal(store_migrate(fx->st, orig, 1, &applied, &fx->err), AMICD_OK);
	db = raw_open(fx->db);
	raw_text(db, "SELECT checksum FROM schema_migrations WHERE version = 1", before, sizeof before);

	assert_int_equal(store_migrate(fx->st, tampered, 2, &applied, &fx->err), AMICD_ERR_MIGRATION);
	assert_int_equal(applied, 0);
	assert_contains(fx->err.message, "0001_alpha");
	assert_contains(fx->err.message, "changed");

	/* nothing applied, nothing changed */
	assert_false(raw_table_exists(db, "beta"));
	assert_int_equal(raw_int(db, "SELECT count(*) FROM schema_migrations"), 1);
	raw_text(db, "SELECT checksum FROM schema_migrations WHERE version = 1", after, sizeof after);
	assert_string_equal(before, after);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_table_info('alpha')"), 1);

	amicd_error_clear(&fx->err);
	assert_int_equal(store_check_schema(fx->st, tampered, 1, &fx->err), AMICD_ERR_MIGRATION);
	assert_contains(fx->err.message, "0001_alpha");
	assert_int_equal(store_check_schema(fx->st, orig, 1, &fx->err), AMICD_OK);
	sqlite3_close(db);
}

static void test_migrate_unknown_applied(void **state)
{
	struct fx *fx = *state;
	const struct store_migration newer[] = { m_v1, m_v2, m_v3 };
	const struct store_migration older[] = { m_v1, m_v2 };
	unsigned applied = 99;
	sqlite3 *db;

	open_store(fx, 1000);
	assert_int_equal(store_migrate(fx->st, newer, 3, NULL, &fx->err), AMICD_OK);

	assert_int_equal(store_migrate(fx->st, older, 2, &applied, &fx->err), AMICD_ERR_MIGRATION);
	assert_int_equal(applied, 0);
	assert_contains(fx->err.message, "0003_gamma");
	assert_int_equal(store_check_schema(fx->st, older, 2, &fx->err), AMICD_ERR_MIGRATION);
	assert_contains(fx->err.message, "0003_gamma");

	db = raw_open(fx->db);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM schema_migrations"), 3);
	assert_true(raw_table_exists(db, "gamma"));
	sqlite3_close(db);
}

static void test_migrate_out_of_order(void **state)
{
	struct fx *fx = *state;
	/* 0002 was added between two that were already applied */
	const struct store_migration had[] = { m_v1, m_v3 };
	const struct store_migration now[] = { m_v1, m_v2, m_v3 };
	const struct store_migration unsorted[] = { m_v2, m_v1 };
	sqlite3 *db;

	open_store(fx, 1000);
	assert_int_equal(store_migrate(fx->st, had, 2, NULL, &fx->err), AMICD_OK);
	assert_int_equal(store_migrate(fx->st, now, 3, NULL, &fx->err), AMICD_ERR_MIGRATION);
	assert_contains(fx->err.message, "0003_gamma");
	db = raw_open(fx->db);
	assert_false(raw_table_exists(db, "beta"));
	sqlite3_close(db);

	/* a list that is not in version order is refused before touching anything */
	store_close(&fx->st);
	unlink(fx->db);
	open_store(fx, 1000);
	assert_int_equal(store_migrate(fx->st, unsorted, 2, NULL, &fx->err), AMICD_ERR_MIGRATION);
	assert_contains(fx->err.message, "out of order");
	db = raw_open(fx->db);
	assert_false(raw_table_exists(db, "alpha"));
	assert_false(raw_table_exists(db, "beta"));
	sqlite3_close(db);
}

static void test_migrate_failing_sql_rolls_back(void **state)
{
	struct fx *fx = *state;
	const struct store_migration list[] = {
		m_v1,
		/* the first statement works, the second fails: all of 0002 must vanish */
		{ 2, "broken", "CREATE TABLE broken (a INTEGER);\nINSERT INTO no_such_table VALUES (1);\n" },
		m_v3,
	};
	unsigned applied = 99;
	sqlite3 *db;

	open_store(fx, 1000);
	assert_int_equal(store_migrate(fx->st, list, 3, &applied, &fx->err), AMICD_ERR_MIGRATION);
	assert_int_equal(applied, 1); /* 0001 went in before 0002 failed */
	assert_contains(fx->err.message, "0002_broken");
	assert_contains(fx->err.message, "no_such_table");

	db = raw_open(fx->db);
	assert_true(raw_table_exists(db, "alpha"));
	assert_false(raw_table_exists(db, "broken"));
	assert_false(raw_table_exists(db, "gamma"));
	assert_int_equal(raw_int(db, "SELECT count(*) FROM schema_migrations WHERE version = 2"), 0);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM schema_migrations"), 1);
	/* the connection is not left inside a transaction: a raw writer gets the lock */
	raw_exec(db, "BEGIN IMMEDIATE; ROLLBACK;");
	sqlite3_close(db);

	assert_int_equal(store_check_schema(fx->st, list, 3, &fx->err), AMICD_ERR_MIGRATION);
	/* the store is still usable */
	assert_int_equal(store_migrate(fx->st, list, 1, &applied, &fx->err), AMICD_OK);
	assert_int_equal(applied, 0);
}

static void test_migrate_record_fails_rolls_back(void **state)
{
	struct fx *fx = *state;
	const struct store_migration list[] = { m_v1, m_v2 };
	unsigned applied = 99;
	sqlite3 *db;

	open_store(fx, 1000);
	assert_int_equal(store_migrate(fx->st, list, 1, &applied, &fx->err), AMICD_OK);
	/* 0002 meets a full disk: every write fails until the space is back */
	faultvfs_arm(FAULTVFS_WRITE, FAULTVFS_ANY, 1, true, SQLITE_FULL);
	assert_int_not_equal(store_migrate(fx->st, list, 2, &applied, &fx->err), AMICD_OK);
	assert_true(faultvfs_fired() >= 1);
	faultvfs_disarm();
	assert_int_equal(applied, 0);

	db = raw_open(fx->db);
	assert_true(raw_table_exists(db, "alpha"));
	assert_false(raw_table_exists(db, "beta"));
	assert_int_equal(raw_int(db, "SELECT count(*) FROM schema_migrations"), 1);
	raw_exec(db, "BEGIN IMMEDIATE; ROLLBACK;");
	sqlite3_close(db);

	/* space back: the next run applies it */
	assert_int_equal(store_migrate(fx->st, list, 2, &applied, &fx->err), AMICD_OK);
	assert_int_equal(applied, 1);
	assert_int_equal(store_check_schema(fx->st, list, 2, &fx->err), AMICD_OK);
}

static void test_migrate_read_applied_fails(void **state)
{
	struct fx *fx = *state;
	const struct store_migration list[] = { m_v1 };

	open_store(fx, 1000);
	assert_int_equal(store_migrate(fx->st, list, 1, NULL, &fx->err), AMICD_OK);
	store_close(&fx->st);
	open_store(fx, 1000); /* a cold page cache: reading the schema touches the disk */
	faultvfs_arm(FAULTVFS_READ, FAULTVFS_ANY, 1, true, SQLITE_IOERR_READ);
	assert_int_equal(store_migrate(fx->st, list, 1, NULL, &fx->err), AMICD_ERR_STORE);
	assert_int_equal(store_check_schema(fx->st, list, 1, &fx->err), AMICD_ERR_STORE);
	assert_true(faultvfs_fired() >= 2);
	faultvfs_disarm();
	assert_int_equal(store_migrate(fx->st, list, 1, NULL, &fx->err), AMICD_OK);
	assert_int_equal(store_check_schema(fx->st, list, 1, &fx->err), AMICD_OK);
}

static void test_migrate_embedded(void **state)
{
	struct fx *fx = *state;
	unsigned applied = 0;
	sqlite3 *db;

	assert_true(store_migrations_count >= 1);
	assert_int_equal(store_migrations[0].version, 1);
	open_store(fx, 1000);
	assert_int_equal(store_check_schema(fx->st, store_migrations, store_migrations_count, &fx->err),
			 AMICD_ERR_MIGRATION);
	assert_int_equal(store_migrate(fx->st, store_migrations, store_migrations_count, &applied, &fx->err),
			 AMICD_OK);
	assert_int_equal(applied, store_migrations_count);
	assert_int_equal(store_check_schema(fx->st, store_migrations, store_migrations_count, &fx->err),
			 AMICD_OK);
	assert_int_equal(store_migrate(fx->st, store_migrations, store_migrations_count, &applied, &fx->err),
			 AMICD_OK);
	assert_int_equal(applied, 0);

	db = raw_open(fx->db);
	assert_true(raw_table_exists(db, "events"));
	assert_true(raw_table_exists(db, "rejected_deliveries"));
	assert_int_equal(raw_int(db, "SELECT count(*) FROM schema_migrations"), store_migrations_count);
	sqlite3_close(db);
}

/* --- the trigger outbox: attempt series ------------------------------------ */

static void trigger_of(struct fx *fx, int64_t id, struct store_trigger_state *tr)
{
	bool found = false;

	assert_int_equal(store_trigger_get(fx->st, id, tr, &found, &fx->err), AMICD_OK);
	assert_true(found);
}

/*
 * A retrigger starts series 2 afresh (pending, no attempts, no error); an
 * attempt of series 1 finishing late is not recorded; failing_since is the
 * series' first failure; a promotion without a trigger is a conflict.
 */
/*
 * 0010_event_bodies on a database that has events in the old shape: every
 * event keeps its id, row and place in the indexes; its headers and body move
 * to event_bodies unchanged; what refers to an event still does.
 */
static void test_migrate_event_bodies(void **state)
{
	struct fx *fx = *state;
	unsigned applied = 0;
	size_t before = 0;
	sqlite3 *db;
	char got[256];

	while (before < store_migrations_count && store_migrations[before].version < 10)
		before++;
	assert_true(before < store_migrations_count);
	assert_int_equal(store_migrations[before].version, 10);
	open_store(fx, 1000);
	assert_int_equal(store_migrate(fx->st, store_migrations, before, &applied, &fx->err), AMICD_OK);
	db = raw_open(fx->db);
	raw_exec(db, "INSERT INTO events (id, source, kind, delivery_id, dedup_key, received_at, status, note, headers,"
		     " payload, payload_sha256) VALUES"
		     " (3, 'gitlab', 'push', 'd-3', 'idem:d-3', '2026-12-01T00:00:00.000Z', 'processed', NULL,"
		     "  '{\"x-gitlab-event\":\"Push Hook\"}', x'7b7d', 'aa'),"
		     " (7, 'eventbridge', 'ami_state', 'e-7', 'e-7', '2026-12-01T00:00:01.000Z', 'queued', NULL,"
		     "  '{}', '{\"id\":\"e-7\"}', 'bb'),"
		     " (9, 'gitlab-api', 'branch_head', NULL, 'obs-9', '2026-12-01T00:00:02.000Z', 'ignored', 'why',"
		     "  '{}', x'00ff', 'cc')");
	raw_exec(db, "INSERT INTO branch_observations (event_id, repo, branch, commit_sha, asked_at)"
		     " VALUES (9, 'https://gitlab.example.net/a/b', 'main', NULL, '2026-12-01T00:00:02.000Z')");
	sqlite3_close(db);

	assert_int_equal(store_migrate(fx->st, store_migrations, store_migrations_count, &applied, &fx->err), AMICD_OK);
	assert_int_equal(applied, store_migrations_count - before);
	db = raw_open(fx->db);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM events"), 3);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM event_bodies"), 3);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_table_info('events') WHERE name IN ('headers', 'payload')"), 0);
	raw_text(db, "SELECT group_concat(id || ':' || status || ':' || coalesce(note, '-') || ':' || payload_sha256, ' ')"
		     " FROM (SELECT * FROM events ORDER BY id)", got, sizeof got);
	assert_string_equal(got, "3:processed:-:aa 7:queued:-:bb 9:ignored:why:cc");
	raw_text(db, "SELECT headers FROM event_bodies WHERE event_id = 3", got, sizeof got);
	assert_string_equal(got, "{\"x-gitlab-event\":\"Push Hook\"}");
	assert_int_equal(raw_int(db, "SELECT count(*) FROM event_bodies WHERE event_id = 9 AND payload = x'00ff'"), 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM event_bodies WHERE event_id = 7 AND payload = '{\"id\":\"e-7\"}'"), 1);
	/* the indexes are back, and the queued one still finds the queued event */
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index'"
				     " AND name IN ('events_dedup', 'events_queued')"), 2);
	assert_int_equal(raw_int(db, "SELECT id FROM events WHERE status = 'queued'"), 7);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM branch_observations b JOIN events e ON e.id = b.event_id"), 1);
	sqlite3_close(db);
}

static void test_trigger_series(void **state)
{
	struct fx *fx = *state;
	struct store_trigger due[4];
	struct store_trigger_state tr;
	struct store_promotion_list list;
	int64_t id = 0, next = 0;
	size_t n = 0;
	bool changed = false;
	int series = 0;

	open_migrated(fx, 1000);
	assert_int_equal(store_begin(fx->st, &fx->err), AMICD_OK);
	assert_int_equal(store_promote(fx->st, "workers-stage", "61c979eab8ea475e0b84db7556d2049e9dae6d89",
				       "ami-08fdc871471476ef5", 0, "head is ready", "auto", 1000, &id, &fx->err), AMICD_OK);
	assert_int_equal(store_commit(fx->st, &fx->err), AMICD_OK);
	assert_int_equal(store_trigger_pin_written(fx->st, id, &changed, &fx->err), AMICD_OK);
	assert_int_equal(store_triggers_due(fx->st, 1000, due, 4, &n, &next, &fx->err), AMICD_OK);
	assert_int_equal(n, 1);
	assert_int_equal(due[0].series, 1);

	assert_int_equal(store_trigger_record(fx->st, id, 1, false, "HTTP 503", false, 2000, 1500, &fx->err), AMICD_OK);
	assert_int_equal(store_trigger_record(fx->st, id, 1, false, "HTTP 502", true, 2500, 2500, &fx->err), AMICD_OK);
	trigger_of(fx, id, &tr);
	assert_string_equal(tr.state, "failed");
	assert_int_equal(tr.attempts, 2);
	assert_string_equal(tr.last_error, "HTTP 502");
	assert_int_equal(tr.failing_since_ms, 1500);

	assert_int_equal(store_begin(fx->st, &fx->err), AMICD_OK);
	assert_int_equal(store_trigger_retrigger(fx->st, id, "admin", "terraform-resources is back", 9000, &series,
						 &fx->err), AMICD_OK);
	assert_int_equal(store_commit(fx->st, &fx->err), AMICD_OK);
	assert_int_equal(series, 2);
	trigger_of(fx, id, &tr);
	assert_string_equal(tr.state, "pending");
	assert_int_equal(tr.attempts, 0);
	assert_int_equal(tr.series, 2);
	assert_string_equal(tr.last_error, "");
	assert_int_equal(tr.failing_since_ms, 0);

	/* series 1's attempt ends after the retrigger: not counted in series 2 */
	assert_int_equal(store_trigger_record(fx->st, id, 1, false, "HTTP 503", true, 9100, 9100, &fx->err), AMICD_OK);
	trigger_of(fx, id, &tr);
	assert_string_equal(tr.state, "pending");
	assert_int_equal(tr.attempts, 0);

	assert_int_equal(store_triggers_due(fx->st, 9000, due, 4, &n, &next, &fx->err), AMICD_OK);
	assert_int_equal(n, 1);
	assert_int_equal(due[0].series, 2);
	assert_int_equal(due[0].attempts, 0);
	assert_int_equal(store_trigger_record(fx->st, id, 2, false, "HTTP 503", false, 10000, 9200, &fx->err), AMICD_OK);
	assert_int_equal(store_trigger_record(fx->st, id, 2, false, "HTTP 503", false, 12000, 10000, &fx->err), AMICD_OK);
	trigger_of(fx, id, &tr);
	assert_int_equal(tr.failing_since_ms, 9200);
	assert_int_equal(tr.attempts, 2);
	assert_int_equal(store_trigger_record(fx->st, id, 2, true, NULL, false, 12000, 12000, &fx->err), AMICD_OK);
	trigger_of(fx, id, &tr);
	assert_string_equal(tr.state, "delivered");
	assert_int_equal(tr.attempts, 3);

	assert_int_equal(store_promotions_list(fx->st, "workers-stage", 10, &list, &fx->err), AMICD_OK);
	assert_int_equal(list.n, 1);
	assert_int_equal(list.rows[0].trigger_series, 2);
	assert_true(list.rows[0].retriggered);
	assert_string_equal(list.rows[0].retrigger_actor, "admin");
	assert_string_equal(list.rows[0].retrigger_reason, "terraform-resources is back");
	store_promotion_list_free(&list);

	assert_int_equal(store_begin(fx->st, &fx->err), AMICD_OK);
	assert_int_equal(store_trigger_retrigger(fx->st, id + 1, "admin", "no such", 13000, &series, &fx->err),
			 AMICD_ERR_CONFLICT);
	store_rollback(fx->st);
}

/* --- connection ----------------------------------------------------------- */

static void test_open_wal_mode(void **state)
{
	struct fx *fx = *state;
	sqlite3 *db;
	char mode[32];

	open_store(fx, 1000);
	db = raw_open(fx->db);
	raw_text(db, "PRAGMA journal_mode", mode, sizeof mode);
	assert_string_equal(mode, "wal");
	sqlite3_close(db);
}

static void test_open_pragmas(void **state)
{
	struct fx *fx = *state;
	char mode[32];

	open_store(fx, 1234);
	raw_text(fx->st->db, "PRAGMA journal_mode", mode, sizeof mode);
	assert_string_equal(mode, "wal");
	assert_int_equal(raw_int(fx->st->db, "PRAGMA synchronous"), 2); /* FULL */
	assert_int_equal(raw_int(fx->st->db, "PRAGMA foreign_keys"), 1);
	assert_int_equal(raw_int(fx->st->db, "PRAGMA busy_timeout"), 1234);
}

static void test_open_fails_cleanly(void **state)
{
	struct fx *fx = *state;
	char path[PATH_MAX + 32];
	struct store *st = (struct store *)(uintptr_t)1; /* store_open must clear *out */

	/* a directory that does not exist */
	snprintf(path, sizeof path, "%s/missing/amicd.db", fx->dir);
	assert_int_equal(store_open(path, 100, &st, &fx->err), AMICD_ERR_STORE);
	assert_null(st);
	assert_contains(fx->err.message, "missing/amicd.db");

	/* a database that cannot be read: the store is refused, nothing leaks (ASan) */
	open_store(fx, 100);
	store_close(&fx->st);
	faultvfs_arm(FAULTVFS_READ, FAULTVFS_ANY, 1, true, SQLITE_IOERR_READ);
	assert_int_equal(store_open(fx->db, 100, &fx->st, &fx->err), AMICD_ERR_STORE);
	assert_true(faultvfs_fired() >= 1);
	faultvfs_disarm();
	assert_null(fx->st);

	store_close(&fx->st); /* NULL: a no-op */
	store_close(NULL);
}

static void test_open_not_a_database(void **state)
{
	struct fx *fx = *state;
	FILE *f = fopen(fx->db, "w");

	assert_non_null(f);
	fputs("this is not an SQLite database, but it is long enough to have a header......\n", f);
	fclose(f);
	assert_int_equal(store_open(fx->db, 100, &fx->st, &fx->err), AMICD_ERR_STORE);
	assert_null(fx->st);
	assert_contains(fx->err.message, "not a database");
}

/* --- events --------------------------------------------------------------- */

struct ev_buf {
	struct store_event ev;
	char key[64];
	char payload[128];
};

static struct store_event *make_event(struct ev_buf *b, const char *source, const char *key, int n)
{
	memset(b, 0, sizeof *b);
	snprintf(b->key, sizeof b->key, "%s", key);
	snprintf(b->payload, sizeof b->payload, "{\"n\":%d,\"key\":\"%s\"}", n, key);
	b->ev.source = source;
	b->ev.kind = "push";
	b->ev.delivery_id = "d-1";
	b->ev.dedup_key = b->key;
	b->ev.status = "queued";
	b->ev.note = NULL;
	b->ev.headers_json = "{\"X-Gitlab-Event\":\"Push Hook\"}";
	b->ev.payload = b->payload;
	b->ev.payload_len = strlen(b->payload);
	crypto_sha256_hex(b->payload, b->ev.payload_len, b->ev.payload_sha256);
	b->ev.received_at_ms = 1764000000123LL + n;
	b->ev.id = -1;
	return &b->ev;
}

static int64_t count(struct fx *fx, const char *table)
{
	int64_t n = -1;

	if (store_count(fx->st, table, &n, &fx->err) != AMICD_OK)
		fail_msg("store_count: %s", fx->err.message);
	return n;
}

/* Store one event in its own transaction; return its id. */
static int64_t put_one(struct fx *fx, const char *source, const char *key, int n)
{
	struct ev_buf b;

	assert_int_equal(store_begin(fx->st, &fx->err), AMICD_OK);
	assert_int_equal(store_event_put(fx->st, make_event(&b, source, key, n), &fx->err), AMICD_OK);
	assert_int_equal(store_commit(fx->st, &fx->err), AMICD_OK);
	assert_false(b.ev.duplicate);
	return b.ev.id;
}

static void test_event_put_and_duplicates(void **state)
{
	struct fx *fx = *state;
	struct ev_buf a, a2, a3, b, other;

	open_migrated(fx, 1000);

	/* inside one transaction */
	assert_int_equal(store_begin(fx->st, &fx->err), AMICD_OK);
	assert_int_equal(store_event_put(fx->st, make_event(&a, "gitlab", "k1", 1), &fx->err), AMICD_OK);
	assert_false(a.ev.duplicate);
	assert_true(a.ev.id > 0);
	assert_int_equal(store_event_put(fx->st, make_event(&a2, "gitlab", "k1", 2), &fx->err), AMICD_OK);
	assert_true(a2.ev.duplicate);
	assert_int_equal(a2.ev.id, a.ev.id);
	/* a new event right after a duplicate is not mistaken for one */
	assert_int_equal(store_event_put(fx->st, make_event(&b, "gitlab", "k2", 3), &fx->err), AMICD_OK);
	assert_false(b.ev.duplicate);
	assert_true(b.ev.id > a.ev.id);
	/* the same key under another source is another event */
	assert_int_equal(store_event_put(fx->st, make_event(&other, "eventbridge", "k1", 4), &fx->err),
			 AMICD_OK);
	assert_false(other.ev.duplicate);
	assert_true(other.ev.id != a.ev.id);
	assert_int_equal(store_commit(fx->st, &fx->err), AMICD_OK);

	/* across transactions */
	assert_int_equal(store_begin(fx->st, &fx->err), AMICD_OK);
	assert_int_equal(store_event_put(fx->st, make_event(&a3, "gitlab", "k1", 5), &fx->err), AMICD_OK);
	assert_true(a3.ev.duplicate);
	assert_int_equal(a3.ev.id, a.ev.id);
	assert_int_equal(store_commit(fx->st, &fx->err), AMICD_OK);

	assert_int_equal(count(fx, "events"), 3);
}

static void test_event_rollback_discards(void **state)
{
	struct fx *fx = *state;
	struct ev_buf a, b;
	struct store_event_row ev;

	open_migrated(fx, 1000);
	assert_int_equal(store_begin(fx->st, &fx->err), AMICD_OK);
	assert_int_equal(store_event_put(fx->st, make_event(&a, "gitlab", "k1", 1), &fx->err), AMICD_OK);
	assert_int_equal(store_event_put(fx->st, make_event(&b, "gitlab", "k2", 2), &fx->err), AMICD_OK);
	store_rollback(fx->st);
	assert_int_equal(count(fx, "events"), 0);
	assert_int_equal(store_event_get(fx->st, a.ev.id, &ev, &fx->err), AMICD_ERR_NOT_FOUND);
	assert_null(ev.payload);
	/* rollback outside a transaction is harmless */
	store_rollback(fx->st);
	/* and the key is free again */
	assert_int_equal(store_begin(fx->st, &fx->err), AMICD_OK);
	assert_int_equal(store_event_put(fx->st, make_event(&a, "gitlab", "k1", 1), &fx->err), AMICD_OK);
	assert_false(a.ev.duplicate);
	assert_int_equal(store_commit(fx->st, &fx->err), AMICD_OK);
	assert_int_equal(count(fx, "events"), 1);
}

static void test_events_list_pages(void **state)
{
	struct fx *fx = *state;
	int64_t ids[5];
	struct store_event_page page;
	char key[16];

	open_migrated(fx, 1000);

	/* empty */
	assert_int_equal(store_events_list(fx->st, 10, 0, &page, &fx->err), AMICD_OK);
	assert_int_equal(page.n, 0);
	assert_int_equal(page.next, 0);
	store_event_page_free(&page);

	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof key, "k%d", i);
		ids[i] = put_one(fx, "gitlab", key, i);
	}

	/* first page: the two newest, next = the last id shown */
	assert_int_equal(store_events_list(fx->st, 2, 0, &page, &fx->err), AMICD_OK);
	assert_int_equal(page.n, 2);
	assert_int_equal(page.rows[0].id, ids[4]);
	assert_int_equal(page.rows[1].id, ids[3]);
	assert_int_equal(page.next, ids[3]);
	{
		const struct store_event_row *e = &page.rows[0];

		assert_string_equal(e->source, "gitlab");
		assert_string_equal(e->kind, "push");
		assert_string_equal(e->delivery_id, "d-1");
		assert_string_equal(e->status, "queued");
		assert_string_equal(e->received_at, "2025-11-24T16:00:00.127Z");
		assert_null(e->note);
		assert_null(e->payload); /* the list stays small */
	}
	store_event_page_free(&page);

	/* second page through the cursor */
	assert_int_equal(store_events_list(fx->st, 2, ids[3], &page, &fx->err), AMICD_OK);
	assert_int_equal(page.n, 2);
	assert_int_equal(page.rows[0].id, ids[2]);
	assert_int_equal(page.rows[1].id, ids[1]);
	assert_int_equal(page.next, ids[1]);
	store_event_page_free(&page);

	/* last page: no next */
	assert_int_equal(store_events_list(fx->st, 2, ids[1], &page, &fx->err), AMICD_OK);
	assert_int_equal(page.n, 1);
	assert_int_equal(page.rows[0].id, ids[0]);
	assert_int_equal(page.next, 0);
	store_event_page_free(&page);

	/* a page that ends exactly on the last row: no next either */
	assert_int_equal(store_events_list(fx->st, 5, 0, &page, &fx->err), AMICD_OK);
	assert_int_equal(page.n, 5);
	assert_int_equal(page.next, 0);
	store_event_page_free(&page);
}

static void test_event_get(void **state)
{
	struct fx *fx = *state;
	struct ev_buf a;
	struct store_event_row ev;
	json_t *payload, *headers;

	open_migrated(fx, 1000);
	assert_int_equal(store_begin(fx->st, &fx->err), AMICD_OK);
	make_event(&a, "gitlab", "k1", 7);
	a.ev.status = "ignored";
	a.ev.note = "branch not watched";
	assert_int_equal(store_event_put(fx->st, &a.ev, &fx->err), AMICD_OK);
	assert_int_equal(store_commit(fx->st, &fx->err), AMICD_OK);

	assert_int_equal(store_event_get(fx->st, a.ev.id, &ev, &fx->err), AMICD_OK);
	assert_int_equal(ev.id, a.ev.id);
	assert_string_equal(ev.status, "ignored");
	assert_string_equal(ev.note, "branch not watched");
	payload = json_loadb((const char *)ev.payload, ev.payload_len, 0, NULL);
	assert_true(json_is_object(payload));
	assert_int_equal(json_integer_value(json_object_get(payload, "n")), 7);
	assert_string_equal(json_string_value(json_object_get(payload, "key")), "k1");
	json_decref(payload);
	headers = json_loads(ev.headers_json, 0, NULL);
	assert_true(json_is_object(headers));
	assert_string_equal(json_string_value(json_object_get(headers, "X-Gitlab-Event")), "Push Hook");
	json_decref(headers);
	store_event_row_free(&ev);

	assert_int_equal(store_event_get(fx->st, a.ev.id + 1000, &ev, &fx->err), AMICD_ERR_NOT_FOUND);
	assert_null(ev.payload);
	assert_contains(fx->err.message, "no event");
}

static void test_event_put_invalid_source(void **state)
{
	struct fx *fx = *state;
	struct ev_buf a;

	open_migrated(fx, 1000);
	assert_int_equal(store_begin(fx->st, &fx->err), AMICD_OK);
	assert_int_equal(store_event_put(fx->st, make_event(&a, "bitbucket", "k1", 1), &fx->err),
			 AMICD_ERR_STORE);
	assert_contains(fx->err.message, "CHECK");
	store_rollback(fx->st);
	assert_int_equal(count(fx, "events"), 0);
}

static void test_count_unknown_table(void **state)
{
	struct fx *fx = *state;
	int64_t n = 42;

	open_migrated(fx, 1000);
	assert_int_equal(store_count(fx->st, "schema_migrations; DROP TABLE events", &n, &fx->err),
			 AMICD_ERR_INTERNAL);
	assert_int_equal(n, 42);
	assert_int_equal(count(fx, "events"), 0);
}

/* --- rejected deliveries -------------------------------------------------- */

static void put_rejected(struct fx *fx, int i, size_t keep)
{
	struct store_rejected rj;
	char msg[32], body[32];

	snprintf(msg, sizeof msg, "m%d", i);
	snprintf(body, sizeof body, "{not json %d", i);
	memset(&rj, 0, sizeof rj);
	rj.source = "gitlab";
	rj.code = "bad_request";
	rj.message = msg;
	rj.json_path = i % 2 == 0 ? "$.ref" : NULL;
	rj.headers_json = "{}";
	rj.body = body;
	rj.body_len = strlen(body);
	rj.received_at_ms = util_now_ms();
	assert_int_equal(store_begin(fx->st, &fx->err), AMICD_OK);
	assert_int_equal(store_rejected_put(fx->st, &rj, keep, 1 << 30, &fx->err), AMICD_OK);
	assert_int_equal(store_commit(fx->st, &fx->err), AMICD_OK);
}

/* Rejected bodies are bounded in bytes too: 1,000 rows of 1 MiB would be a gigabyte. */
static void test_rejected_bounded_in_bytes(void **state)
{
	struct fx *fx = *state;
	const size_t size = 400 * 1024;
	char *body = malloc(size);
	sqlite3 *db;

	assert_non_null(body);
	memset(body, 'x', size);
	open_migrated(fx, 1000);
	for (int i = 0; i < 6; i++) {
		struct store_rejected rj = { .source = "gitlab", .code = "bad_request", .message = "m",
					     .headers_json = "{}", .body = body, .body_len = size };

		assert_int_equal(store_begin(fx->st, &fx->err), AMICD_OK);
		assert_int_equal(store_rejected_put(fx->st, &rj, 1000, 1024 * 1024, &fx->err), AMICD_OK);
		assert_int_equal(store_commit(fx->st, &fx->err), AMICD_OK);
	}
	/* 400 KiB each, 1 MiB kept: the newest two (800 KiB), not three (1.2 MiB) */
	db = raw_open(fx->db);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM rejected_deliveries"), 2);
	assert_int_equal(raw_int(db, "SELECT min(id) FROM rejected_deliveries"), 5);
	assert_true(raw_int(db, "SELECT sum(length(body)) FROM rejected_deliveries") <= 1024 * 1024);
	sqlite3_close(db);
	/* a body larger than the bound alone: it is kept (the newest always is), the rest goes */
	{
		struct store_rejected rj = { .source = "gitlab", .code = "bad_request", .message = "m",
					     .headers_json = "{}", .body = body, .body_len = size };

		assert_int_equal(store_begin(fx->st, &fx->err), AMICD_OK);
		assert_int_equal(store_rejected_put(fx->st, &rj, 1000, 100 * 1024, &fx->err), AMICD_OK);
		assert_int_equal(store_commit(fx->st, &fx->err), AMICD_OK);
	}
	assert_int_equal(count(fx, "rejected_deliveries"), 1);
	free(body);
}

static void test_rejected_bounded(void **state)
{
	struct fx *fx = *state;
	sqlite3 *db;
	char got[64];

	open_migrated(fx, 1000);
	for (int i = 1; i <= 5; i++)
		put_rejected(fx, i, 3);
	assert_int_equal(count(fx, "rejected_deliveries"), 3);
	db = raw_open(fx->db);
	raw_text(db, "SELECT group_concat(message, ',') FROM (SELECT message FROM rejected_deliveries ORDER BY id)",
		 got, sizeof got);
	assert_string_equal(got, "m3,m4,m5");
	sqlite3_close(db);

	/* an empty body is stored as an empty blob, not NULL */
	{
		struct store_rejected rj = { .source = "eventbridge", .code = "bad_request", .message = "empty",
					     .headers_json = "{}", .body = NULL, .body_len = 0 };

		assert_int_equal(store_begin(fx->st, &fx->err), AMICD_OK);
		assert_int_equal(store_rejected_put(fx->st, &rj, 3, 1 << 30, &fx->err), AMICD_OK);
		assert_int_equal(store_commit(fx->st, &fx->err), AMICD_OK);
	}
	assert_int_equal(count(fx, "rejected_deliveries"), 3);
}

/* --- fault injection ------------------------------------------------------ */

struct begin_probe {
	struct store *st;
	enum amicd_rc rc;
	struct amicd_error err;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

static void *begin_thread(void *arg)
{
	struct begin_probe *bp = arg;
	enum amicd_rc rc = store_begin(bp->st, &bp->err);

	if (rc == AMICD_OK)
		store_rollback(bp->st);
	pthread_mutex_lock(&bp->lock);
	bp->rc = rc;
	bp->done = true;
	pthread_cond_broadcast(&bp->cond);
	pthread_mutex_unlock(&bp->lock);
	return NULL;
}

/*
 * The process's write lock is free: another store of this process can begin
 * a write transaction within a few seconds. Run on a thread, so a lock that
 * was never given back fails the test instead of hanging it.
 */
static void assert_write_lock_free(struct fx *fx)
{
	struct begin_probe bp = { .rc = AMICD_ERR_INTERNAL, .lock = PTHREAD_MUTEX_INITIALIZER,
				  .cond = PTHREAD_COND_INITIALIZER };
	struct timespec until;
	pthread_t t;
	bool done;

	assert_int_equal(store_open(fx->db, 1000, &bp.st, &fx->err), AMICD_OK);
	assert_int_equal(pthread_create(&t, NULL, begin_thread, &bp), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&bp.lock);
	while (!bp.done && pthread_cond_timedwait(&bp.cond, &bp.lock, &until) == 0)
		;
	done = bp.done;
	pthread_mutex_unlock(&bp.lock);
	if (!done) {
		/* every later test would hang on the same lock: stop the binary here */
		print_error("the write lock was not given back: another store could not begin within 10 s\n");
		exit(1);
	}
	pthread_join(t, NULL);
	assert_int_equal(bp.rc, AMICD_OK);
	store_close(&bp.st);
}

/* One batch of n events (keys prefix-0 …) in one transaction: its commit's result. */
static enum amicd_rc put_batch(struct fx *fx, const char *prefix, int n)
{
	enum amicd_rc rc = store_begin(fx->st, &fx->err);

	for (int i = 0; rc == AMICD_OK && i < n; i++) {
		struct ev_buf b;
		char key[48];

		snprintf(key, sizeof key, "%s-%d", prefix, i);
		rc = store_event_put(fx->st, make_event(&b, "gitlab", key, i), &fx->err);
	}
	if (rc == AMICD_OK)
		rc = store_commit(fx->st, &fx->err);
	if (rc != AMICD_OK)
		store_rollback(fx->st);
	return rc;
}

static int64_t events_with_prefix(struct fx *fx, const char *prefix)
{
	return support_db_int(fx->db, "SELECT count(*) FROM events WHERE dedup_key LIKE ?1 || '-%'", prefix);
}

static void assert_integrity(struct fx *fx)
{
	char ok[64];

	assert_int_equal(support_db_text(fx->db, "PRAGMA integrity_check", ok, sizeof ok), 0);
	assert_string_equal(ok, "ok");
}

/*
 * Every write, sync and truncate of a commit, failed in turn with a full disk
 * and with an I/O error: the batch is all or nothing, the write lock comes
 * back, and once the fault is lifted the same batch commits.
 */
static void test_fault_every_call_of_a_commit(void **state)
{
	static const unsigned ops[] = { FAULTVFS_WRITE, FAULTVFS_SYNC, FAULTVFS_TRUNCATE };
	struct fx *fx = *state;
	int batch = 0, failed = 0;

	open_migrated(fx, 1000);
	assert_int_equal(put_batch(fx, "warm", 3), AMICD_OK);
	for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
		for (int kind = 0; kind < 2; kind++) {
			int rc_fault = kind == 0 ? faultvfs_full_rc(ops[o]) : faultvfs_ioerr_rc(ops[o]);
			int calls;
			char prefix[32];

			/* how many such calls a clean commit of a batch makes now */
			snprintf(prefix, sizeof prefix, "count-%zu-%d", o, kind);
			faultvfs_count_reset();
			assert_int_equal(put_batch(fx, prefix, 3), AMICD_OK);
			calls = faultvfs_count(ops[o]);
			for (int k = 1; k <= calls; k++) {
				enum amicd_rc rc;

				snprintf(prefix, sizeof prefix, "b%d", batch++);
				faultvfs_arm(ops[o], FAULTVFS_ANY, k, false, rc_fault);
				rc = put_batch(fx, prefix, 3);
				if (faultvfs_fired() == 0) {
					/* this commit took another path: nothing failed, all is there */
					assert_int_equal(rc, AMICD_OK);
					assert_int_equal(events_with_prefix(fx, prefix), 3);
					faultvfs_disarm();
					continue;
				}
				faultvfs_disarm();
				if (rc == AMICD_OK) {
					/* SQLite got past the failed call (a retried or optional write) */
					assert_int_equal(events_with_prefix(fx, prefix), 3);
				} else {
					failed++;
					assert_int_equal(rc, AMICD_ERR_STORE);
					assert_int_equal(events_with_prefix(fx, prefix), 0);
					assert_write_lock_free(fx);
					/* the fault is lifted: the same batch goes in */
					assert_int_equal(put_batch(fx, prefix, 3), AMICD_OK);
					assert_int_equal(events_with_prefix(fx, prefix), 3);
				}
			}
		}
	}
	print_message("%d faulted commits, %d failed and recovered\n", batch, failed);
	assert_true(failed > 0);
	assert_integrity(fx);
}

static void test_fault_commit_full_rolls_back_batch(void **state)
{
	struct fx *fx = *state;

	open_migrated(fx, 1000);
	faultvfs_arm(FAULTVFS_WRITE, FAULTVFS_WAL, 1, true, SQLITE_FULL);
	assert_int_equal(put_batch(fx, "k", 3), AMICD_ERR_STORE);
	assert_true(faultvfs_fired() >= 1);
	assert_contains(fx->err.message, "full");
	faultvfs_disarm();
	assert_int_equal(count(fx, "events"), 0);
	assert_write_lock_free(fx);

	/* space back: the same batch goes in */
	assert_int_equal(put_batch(fx, "k", 3), AMICD_OK);
	assert_int_equal(count(fx, "events"), 3);
}

static void test_fault_commit_ioerr(void **state)
{
	struct fx *fx = *state;
	sqlite3 *db;

	open_migrated(fx, 1000);
	faultvfs_arm(FAULTVFS_SYNC, FAULTVFS_WAL, 1, false, SQLITE_IOERR_FSYNC);
	assert_int_equal(put_batch(fx, "k", 3), AMICD_ERR_STORE);
	assert_int_equal(faultvfs_fired(), 1);
	assert_contains(fx->err.message, "COMMIT");
	faultvfs_disarm();

	assert_int_equal(count(fx, "events"), 0);
	/* the write lock was given back, to this process and to others */
	assert_write_lock_free(fx);
	db = raw_open(fx->db);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM events"), 0);
	raw_exec(db, "BEGIN IMMEDIATE; ROLLBACK;");
	sqlite3_close(db);

	/* writes work again */
	assert_true(put_one(fx, "gitlab", "k0", 0) > 0);
	assert_int_equal(count(fx, "events"), 1);
	assert_integrity(fx);
}

static void test_fault_persistent_until_disarmed(void **state)
{
	struct fx *fx = *state;

	open_migrated(fx, 1000);
	faultvfs_arm(FAULTVFS_SYNC, FAULTVFS_ANY, 1, true, SQLITE_IOERR_FSYNC);
	for (int i = 0; i < 3; i++) {
		char prefix[16];

		snprintf(prefix, sizeof prefix, "p%d", i);
		assert_int_equal(put_batch(fx, prefix, 1), AMICD_ERR_STORE);
	}
	assert_true(faultvfs_fired() >= 3);
	faultvfs_disarm();
	assert_int_equal(count(fx, "events"), 0);
	put_one(fx, "gitlab", "k0", 0);
	assert_int_equal(count(fx, "events"), 1);
}

static void test_fault_read_in_transaction(void **state)
{
	struct fx *fx = *state;
	struct ev_buf b;

	open_migrated(fx, 1000);
	put_one(fx, "gitlab", "k1", 1);
	store_close(&fx->st);
	open_store(fx, 1000); /* a cold page cache: the duplicate lookup reads the disk */
	faultvfs_arm(FAULTVFS_READ, FAULTVFS_ANY, 1, true, SQLITE_IOERR_READ);
	if (store_begin(fx->st, &fx->err) == AMICD_OK) {
		assert_int_equal(store_event_put(fx->st, make_event(&b, "gitlab", "k1", 2), &fx->err), AMICD_ERR_STORE);
		store_rollback(fx->st);
	}
	assert_true(faultvfs_fired() >= 1);
	faultvfs_disarm();
	assert_write_lock_free(fx);
	/* the statements were reset: they work next time */
	assert_int_equal(store_begin(fx->st, &fx->err), AMICD_OK);
	assert_int_equal(store_event_put(fx->st, make_event(&b, "gitlab", "k1", 2), &fx->err), AMICD_OK);
	assert_true(b.ev.duplicate);
	assert_int_equal(store_commit(fx->st, &fx->err), AMICD_OK);
}

static void test_fault_rejected_commit(void **state)
{
	struct fx *fx = *state;
	struct store_rejected rj = { .source = "gitlab", .code = "bad_request", .message = "m",
				     .headers_json = "{}", .body = "x", .body_len = 1 };

	open_migrated(fx, 1000);
	faultvfs_arm(FAULTVFS_WRITE, FAULTVFS_ANY, 1, true, SQLITE_FULL);
	assert_int_equal(store_begin(fx->st, &fx->err), AMICD_OK);
	assert_int_equal(store_rejected_put(fx->st, &rj, 3, 1 << 30, &fx->err), AMICD_OK);
	assert_int_equal(store_commit(fx->st, &fx->err), AMICD_ERR_STORE);
	store_rollback(fx->st);
	faultvfs_disarm();
	assert_int_equal(count(fx, "rejected_deliveries"), 0);
	put_rejected(fx, 1, 3);
	assert_int_equal(count(fx, "rejected_deliveries"), 1);
}

static void test_fault_list_read(void **state)
{
	struct fx *fx = *state;
	struct store_event_page page;
	struct store_event_row ev;

	open_migrated(fx, 1000);
	put_one(fx, "gitlab", "k1", 1);
	store_close(&fx->st);
	open_store(fx, 1000);
	faultvfs_arm(FAULTVFS_READ, FAULTVFS_ANY, 1, true, SQLITE_IOERR_READ);
	assert_int_equal(store_events_list(fx->st, 10, 0, &page, &fx->err), AMICD_ERR_STORE);
	assert_null(page.rows);
	assert_int_equal(store_event_get(fx->st, 1, &ev, &fx->err), AMICD_ERR_STORE);
	assert_null(ev.payload);
	faultvfs_disarm();
	assert_int_equal(store_events_list(fx->st, 10, 0, &page, &fx->err), AMICD_OK);
	assert_int_equal(page.n, 1);
	store_event_page_free(&page);
}

/* --- busy ----------------------------------------------------------------- */

static void test_busy_fails_fast_then_recovers(void **state)
{
	struct fx *fx = *state;
	sqlite3 *other;
	int64_t t0, elapsed_ns;
	enum amicd_rc rc;

	open_migrated(fx, 50);
	other = raw_open(fx->db);
	raw_exec(other, "BEGIN IMMEDIATE");

	t0 = util_monotonic_ns();
	rc = store_begin(fx->st, &fx->err);
	elapsed_ns = util_monotonic_ns() - t0;
	assert_int_equal(rc, AMICD_ERR_STORE);
	assert_contains(fx->err.message, "locked");
	print_message("store_begin on a locked database failed after %.1f ms\n", (double)elapsed_ns / 1e6);
	assert_true(elapsed_ns < 2000000000LL);
	assert_true(elapsed_ns >= 40000000LL); /* it did wait for the busy timeout */
	store_rollback(fx->st);                /* nothing begun: harmless */

	raw_exec(other, "COMMIT");
	put_one(fx, "gitlab", "k1", 1);
	assert_int_equal(raw_int(other, "SELECT count(*) FROM events"), 1);
	sqlite3_close(other);
}

static void test_reads_while_another_writes(void **state)
{
	struct fx *fx = *state;
	sqlite3 *other;
	struct store_event_page page;
	struct store_event_row ev;
	int64_t id, t0;

	open_migrated(fx, 50);
	id = put_one(fx, "gitlab", "k1", 1);
	other = raw_open(fx->db);
	raw_exec(other, "BEGIN IMMEDIATE; DELETE FROM events;");

	/* WAL: readers (and /readyz's schema check) are not blocked by a writer */
	t0 = util_monotonic_ns();
	if (store_check_schema(fx->st, store_migrations, store_migrations_count, &fx->err) != AMICD_OK)
		fail_msg("store_check_schema while another connection writes: %s", fx->err.message);
	assert_int_equal(store_events_list(fx->st, 10, 0, &page, &fx->err), AMICD_OK);
	assert_int_equal(page.n, 1);
	store_event_page_free(&page);
	assert_int_equal(store_event_get(fx->st, id, &ev, &fx->err), AMICD_OK);
	store_event_row_free(&ev);
	assert_int_equal(count(fx, "events"), 1);
	/* busy_timeout is 50 ms: a read that had to wait for the lock would have failed above */
	print_message("reads beside a writer took %.1f ms\n", (double)(util_monotonic_ns() - t0) / 1e6);

	raw_exec(other, "ROLLBACK");
	sqlite3_close(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrate_fresh_then_noop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_adds_new_one_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_unknown_applied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_out_of_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_failing_sql_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_record_fails_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_read_applied_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_embedded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_event_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trigger_series, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_wal_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_pragmas, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_fails_cleanly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_not_a_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_put_and_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_rollback_discards, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_list_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_put_invalid_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_count_unknown_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejected_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejected_bounded_in_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_every_call_of_a_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_commit_full_rolls_back_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_commit_ioerr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_persistent_until_disarmed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_read_in_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_rejected_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault_list_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_fails_fast_then_recovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_while_another_writes, setup, teardown),
	};

	if (faultvfs_register() != SQLITE_OK)
		return 1;
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
