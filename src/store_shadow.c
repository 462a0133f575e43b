/*
 * store_shadow.c — a store whose derived facts are a private copy (see
 * store.h, "shadows"): how a replay re-derives every fact without holding the
 * write lock a delivery needs.
 *
 * A shadow is a connection of its own on which temp tables named like the
 * fact tables (pushes, amis, ami_shares, ami_tags, ami_tag_ops, and the observations
 * branch_observations and image_observations) hide the real ones: SQLite
 * resolves an unqualified name in temp before main, so the same statements
 * that apply facts to the store apply them to the shadow, and event statuses
 * go to temp.replay_status. Building it writes only temp tables, so its
 * transactions never take the database's write lock. store_shadow_swap then
 * makes the real tables equal to the shadow's, writing only the rows that
 * differ, inside one short write transaction the caller holds.
 */
#include "store.h"
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The tables a shadow copies, and the primary key columns the swap matches rows by. */
static const struct {
	const char *table;
	const char *key_match;   /* SQL: s is the shadow's row, the real one is named by the table */
} shadowed[] = {
	{ "pushes", "s.event_id = pushes.event_id" },
	{ "amis", "s.region = amis.region AND s.image_id = amis.image_id" },
	{ "ami_shares", "s.region = ami_shares.region AND s.image_id = ami_shares.image_id"
			" AND s.account = ami_shares.account" },
	{ "ami_tags", "s.region = ami_tags.region AND s.image_id = ami_tags.image_id"
		      " AND s.account = ami_tags.account AND s.key = ami_tags.key" },
	{ "ami_tag_ops", "s.region = ami_tag_ops.region AND s.image_id = ami_tag_ops.image_id"
			 " AND s.account = ami_tag_ops.account AND s.key = ami_tag_ops.key"
			 " AND s.event_id = ami_tag_ops.event_id" },
	{ "branch_observations", "s.event_id = branch_observations.event_id" },
	{ "image_observations", "s.event_id = image_observations.event_id"
				" AND s.commit_sha = image_observations.commit_sha" },
};
#define N_SHADOWED (sizeof shadowed / sizeof shadowed[0])

/* "CREATE TABLE x …" → "CREATE TEMP TABLE x …"; "CREATE [UNIQUE] INDEX i ON x …" → "… INDEX temp.i ON x …". */
static char *to_temp(const char *sql)
{
	static const struct {
		const char *from, *to;
	} forms[] = {
		{ "CREATE TABLE ", "CREATE TEMP TABLE " },
		{ "CREATE INDEX ", "CREATE INDEX temp." },
		{ "CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX temp." },
	};
	char *out = NULL;

	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		size_t n = strlen(forms[i].from);

		if (strncmp(sql, forms[i].from, n) == 0) {
			if (asprintf(&out, "%s%s", forms[i].to, sql + n) < 0)
				out = NULL;
			return out;
		}
	}
	return NULL;
}

/* Create the temp tables (and their indexes) from the real schema; copy the rows when copy. */
static enum amicd_rc make_shadow(struct store *st, bool copy, struct amicd_error *err)
{
	sqlite3_stmt *s = NULL;
	enum amicd_rc rc = AMICD_OK;
	int src;

	if (sqlite3_prepare_v2(st->db,
			       "SELECT sql FROM main.sqlite_master WHERE tbl_name IN ('pushes', 'amis', 'ami_shares',"
			       " 'ami_tags', 'ami_tag_ops', 'branch_observations', 'image_observations') AND sql IS NOT NULL ORDER BY type = 'index', name", -1, &s, NULL) != SQLITE_OK)
		return store_db_error(st, err, "read the schema");
	while (rc == AMICD_OK && (src = sqlite3_step(s)) == SQLITE_ROW) {
		char *sql = to_temp((const char *)sqlite3_column_text(s, 0));

		if (sql == NULL)
			rc = amicd_error_set(err, AMICD_ERR_INTERNAL, NULL, "cannot shadow: %s", sqlite3_column_text(s, 0));
		else
			rc = store_exec(st, sql, err);
		free(sql);
	}
	if (rc == AMICD_OK && src != SQLITE_DONE)
		rc = store_db_error(st, err, "read the schema");
	sqlite3_finalize(s);
	if (rc == AMICD_OK)
		rc = store_exec(st, "CREATE TEMP TABLE replay_status (id INTEGER PRIMARY KEY, status TEXT NOT NULL, note TEXT)",
				err);
	for (size_t i = 0; copy && rc == AMICD_OK && i < N_SHADOWED; i++) {
		char sql[128];

		snprintf(sql, sizeof sql, "INSERT INTO temp.%s SELECT * FROM main.%s", shadowed[i].table,
			 shadowed[i].table);
		rc = store_exec(st, sql, err);
	}
	return rc;
}

enum amicd_rc store_shadow_open(const char *path, int busy_timeout_ms, bool copy_facts, struct store **out,
				struct amicd_error *err)
{
	struct store *st = NULL;
	enum amicd_rc rc = store_open(path, busy_timeout_ms, &st, err);

	*out = NULL;
	if (rc != AMICD_OK)
		return rc;
	/* a shadow row refers to events in main: foreign keys cannot span schemas
	 * (and the pragma is a no-op inside a transaction) */
	rc = store_exec(st, "PRAGMA foreign_keys = OFF", err);
	if (rc == AMICD_OK)
		rc = store_exec(st, "BEGIN", err);
	if (rc == AMICD_OK)
		rc = make_shadow(st, copy_facts, err);
	if (rc == AMICD_OK)
		rc = store_exec(st, "COMMIT", err);
	if (rc != AMICD_OK) {
		store_close(&st);
		return rc;
	}
	st->shadow = true;
	*out = st;
	return AMICD_OK;
}

enum amicd_rc store_shadow_begin(struct store *st, struct amicd_error *err)
{
	/* deferred: only temp tables are written, so the database's write lock is never taken */
	return store_exec(st, "BEGIN", err);
}

enum amicd_rc store_shadow_commit(struct store *st, struct amicd_error *err)
{
	enum amicd_rc rc = store_exec(st, "COMMIT", err);

	if (rc != AMICD_OK && !sqlite3_get_autocommit(st->db))
		store_exec(st, "ROLLBACK", NULL);
	return rc;
}

enum amicd_rc store_shadow_swap(struct store *st, int64_t *changed, struct amicd_error *err)
{
	int before = sqlite3_total_changes(st->db);
	enum amicd_rc rc = AMICD_OK;

	*changed = 0;
	if (!st->shadow || !st->holds_write_lock)
		return amicd_error_set(err, AMICD_ERR_INTERNAL, NULL, "store_shadow_swap outside a shadow's write transaction");
	for (size_t i = 0; rc == AMICD_OK && i < N_SHADOWED; i++) {
		const char *t = shadowed[i].table;
		char sql[512];

		snprintf(sql, sizeof sql, "DELETE FROM main.%s WHERE NOT EXISTS (SELECT 1 FROM temp.%s s WHERE %s)", t, t,
			 shadowed[i].key_match);
		rc = store_exec(st, sql, err);
		if (rc != AMICD_OK)
			break;
		snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO main.%s SELECT * FROM temp.%s EXCEPT SELECT * FROM main.%s",
			 t, t, t);
		rc = store_exec(st, sql, err);
	}
	if (rc == AMICD_OK)
		rc = store_exec(st,
				"UPDATE main.events SET status = r.status, note = r.note FROM temp.replay_status r"
				" WHERE events.id = r.id AND (events.status IS NOT r.status OR events.note IS NOT r.note)",
				err);
	*changed = sqlite3_total_changes(st->db) - before;
	return rc;
}

enum amicd_rc store_max_event_id(struct store *st, int64_t *max_id, struct amicd_error *err)
{
	sqlite3_stmt *s = NULL;
	enum amicd_rc rc = AMICD_OK;

	*max_id = 0;
	pthread_mutex_lock(&st->lock);
	if (sqlite3_prepare_v2(st->db, "SELECT coalesce(max(id), 0) FROM main.events", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW)
		rc = store_db_error(st, err, "read the newest event id");
	else
		*max_id = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return rc;
}
