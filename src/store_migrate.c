/*
 * store_migrate.c — the schema: migrations compiled into the binary
 * (migrations/NNNN_name.sql), applied in order, each in one transaction and
 * recorded with its SHA-256, and the check that a database's applied
 * migrations are exactly a prefix of this build's. See store.h.
 */
#include "store.h"
#include "store_internal.h"

#include "crypto.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct applied {
	unsigned version;
	char name[128];
	char checksum[65];
};

static enum amicd_rc read_applied(struct store *st, struct applied **out, size_t *n,
				  struct amicd_error *err)
{
	sqlite3_stmt *s = NULL;
	struct applied *list = NULL;
	size_t count = 0;
	enum amicd_rc rc = AMICD_OK;
	int src;

	*out = NULL;
	*n = 0;
	rc = store_exec(st,
		      "CREATE TABLE IF NOT EXISTS schema_migrations ("
		      " version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,"
		      " applied_at TEXT NOT NULL)",
		      err);
	if (rc != AMICD_OK)
		return rc;
	if (sqlite3_prepare_v2(st->db, "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
			       -1, &s, NULL) != SQLITE_OK)
		return store_db_error(st, err, "read schema_migrations");
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		struct applied *grown = realloc(list, (count + 1) * sizeof *list);

		if (grown == NULL) {
			rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
			goto out;
		}
		list = grown;
		list[count].version = (unsigned)sqlite3_column_int(s, 0);
		snprintf(list[count].name, sizeof list[count].name, "%s", sqlite3_column_text(s, 1));
		snprintf(list[count].checksum, sizeof list[count].checksum, "%s", sqlite3_column_text(s, 2));
		count++;
	}
	if (src != SQLITE_DONE) {
		rc = store_db_error(st, err, "read schema_migrations");
		goto out;
	}
	*out = list;
	*n = count;
	list = NULL;
out:
	free(list);
	sqlite3_finalize(s);
	return rc;
}

/* Compare what the database has applied with list; *next = first unapplied index. */
static enum amicd_rc verify_applied(const struct applied *done, size_t n_done,
				    const struct store_migration *list, size_t n, size_t *next,
				    struct amicd_error *err)
{
	for (size_t i = 0; i < n_done; i++) {
		char sum[65];

		if (i >= n || list[i].version != done[i].version) {
			bool known = false;

			for (size_t j = 0; j < n; j++)
				known = known || list[j].version == done[i].version;
			if (!known)
				return amicd_error_set(err, AMICD_ERR_MIGRATION, NULL,
						       "the database has migration %04u_%s, which this amicd does not know "
						       "(was the database written by a newer amicd?); refusing to start",
						       done[i].version, done[i].name);
			return amicd_error_set(err, AMICD_ERR_MIGRATION, NULL,
					       "the database's migrations are out of order at %04u_%s; refusing to start",
					       done[i].version, done[i].name);
		}
		crypto_sha256_hex(list[i].sql, strlen(list[i].sql), sum);
		if (strcmp(sum, done[i].checksum) != 0)
			return amicd_error_set(err, AMICD_ERR_MIGRATION, NULL,
					       "migration %04u_%s was changed after it was applied "
					       "(database has checksum %.12s…, this build %.12s…); "
					       "migrations must never be edited: add a new one",
					       list[i].version, list[i].name, done[i].checksum, sum);
	}
	*next = n_done;
	return AMICD_OK;
}

/* After a migration's statements: no row may refer to a row that is not there. */
static enum amicd_rc foreign_keys_hold(struct store *st, struct amicd_error *err)
{
	sqlite3_stmt *s = NULL;
	enum amicd_rc rc = AMICD_OK;
	int src;

	if (sqlite3_prepare_v2(st->db, "PRAGMA foreign_key_check", -1, &s, NULL) != SQLITE_OK)
		return store_db_error(st, err, "check foreign keys");
	src = sqlite3_step(s);
	if (src == SQLITE_ROW)
		rc = amicd_error_set(err, AMICD_ERR_STORE, NULL, "a row of %s refers to a missing row of %s",
				     sqlite3_column_text(s, 0), sqlite3_column_text(s, 2));
	else if (src != SQLITE_DONE)
		rc = store_db_error(st, err, "check foreign keys");
	sqlite3_finalize(s);
	return rc;
}

enum amicd_rc store_check_schema(struct store *st, const struct store_migration *list, size_t n,
				 struct amicd_error *err)
{
	struct applied *done = NULL;
	size_t n_done = 0, next = 0;
	enum amicd_rc rc;

	pthread_mutex_lock(&st->lock);
	rc = read_applied(st, &done, &n_done, err);
	if (rc == AMICD_OK)
		rc = verify_applied(done, n_done, list, n, &next, err);
	if (rc == AMICD_OK && next != n)
		rc = amicd_error_set(err, AMICD_ERR_MIGRATION, NULL, "%zu migration(s) not applied", n - next);
	pthread_mutex_unlock(&st->lock);
	free(done);
	return rc;
}

enum amicd_rc store_migrate(struct store *st, const struct store_migration *list, size_t n,
			    unsigned *applied, struct amicd_error *err)
{
	struct applied *done = NULL;
	size_t n_done = 0, next = 0;
	enum amicd_rc rc;
	sqlite3_stmt *ins = NULL;

	if (applied != NULL)
		*applied = 0;
	for (size_t i = 1; i < n; i++)
		if (list[i].version <= list[i - 1].version)
			return amicd_error_set(err, AMICD_ERR_MIGRATION, NULL,
					       "migration list out of order at %04u_%s", list[i].version, list[i].name);
	rc = read_applied(st, &done, &n_done, err);
	if (rc != AMICD_OK)
		goto out;
	rc = verify_applied(done, n_done, list, n, &next, err);
	if (rc != AMICD_OK)
		goto out;
	for (size_t i = next; i < n; i++) {
		char sum[65], ts[32];

		crypto_sha256_hex(list[i].sql, strlen(list[i].sql), sum);
		util_format_time_ms(util_now_ms(), ts, sizeof ts);
		/* SQLite's way to rebuild a table others refer to: foreign keys off
		 * around the transaction (the pragma is a no-op inside one), checked
		 * before the commit. */
		rc = store_exec(st, "PRAGMA foreign_keys = OFF", err);
		if (rc == AMICD_OK)
			rc = store_exec(st, "BEGIN IMMEDIATE", err);
		if (rc != AMICD_OK)
			goto out;
		rc = store_exec(st, list[i].sql, err);
		if (rc == AMICD_OK)
			rc = foreign_keys_hold(st, err);
		if (rc != AMICD_OK) {
			char what[sizeof err->message];

			snprintf(what, sizeof what, "%s", err != NULL ? err->message : "");
			store_exec(st, "ROLLBACK", NULL);
			rc = amicd_error_set(err, AMICD_ERR_MIGRATION, NULL, "migration %04u_%s failed: %s",
					     list[i].version, list[i].name, what);
			goto out;
		}
		if (sqlite3_prepare_v2(st->db,
				       "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
				       " VALUES (?1, ?2, ?3, ?4)", -1, &ins, NULL) != SQLITE_OK ||
		    sqlite3_bind_int(ins, 1, (int)list[i].version) != SQLITE_OK ||
		    sqlite3_bind_text(ins, 2, list[i].name, -1, SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_bind_text(ins, 3, sum, -1, SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_bind_text(ins, 4, ts, -1, SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_step(ins) != SQLITE_DONE) {
			rc = store_db_error(st, err, "record migration");
			store_exec(st, "ROLLBACK", NULL);
			goto out;
		}
		sqlite3_finalize(ins);
		ins = NULL;
		rc = store_exec(st, "COMMIT", err);
		if (rc != AMICD_OK) {
			store_exec(st, "ROLLBACK", NULL);
			goto out;
		}
		if (applied != NULL)
			(*applied)++;
	}
out:
	sqlite3_finalize(ins);
	free(done);
	if (store_exec(st, "PRAGMA foreign_keys = ON", rc == AMICD_OK ? err : NULL) != AMICD_OK && rc == AMICD_OK)
		rc = AMICD_ERR_STORE;
	return rc;
}

