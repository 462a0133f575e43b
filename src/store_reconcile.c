/*
 * store_reconcile.c — the reconciler's questions and how their sources last
 * answered (table source_checks, migration 0005): the sources' health, not
 * facts, so replay never touches them. See store.h.
 */
#include "store.h"
#include "store_internal.h"

#include <stdio.h>
#include <string.h>

void store_question_branch(char *buf, size_t size, const char *repo, const char *branch)
{
	snprintf(buf, size, "gitlab %s %s", repo, branch);
}

enum amicd_rc store_source_check_read(struct store *st, const char *question, struct store_source_check *out,
				      struct amicd_error *err)
{
	sqlite3_stmt *s = store_prep(st, "SELECT source, coalesce(answer_sha256, ''), coalesce(last_checked_ms, 0),"
				   " coalesce(last_ok_ms, 0), coalesce(failing_since_ms, 0), coalesce(last_error, '')"
				   " FROM source_checks WHERE question = ?1", err);
	int src;

	memset(out, 0, sizeof *out);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, question, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		out->found = true;
		snprintf(out->source, sizeof out->source, "%s", sqlite3_column_text(s, 0));
		snprintf(out->answer_sha256, sizeof out->answer_sha256, "%s", sqlite3_column_text(s, 1));
		out->last_checked_ms = sqlite3_column_int64(s, 2);
		out->last_ok_ms = sqlite3_column_int64(s, 3);
		out->failing_since_ms = sqlite3_column_int64(s, 4);
		snprintf(out->last_error, sizeof out->last_error, "%s", sqlite3_column_text(s, 5));
	}
	store_release(s);
	return src == SQLITE_ROW || src == SQLITE_DONE ? AMICD_OK : store_db_error(st, err, "read a source check");
}

enum amicd_rc store_source_check_get(struct store *st, const char *question, struct store_source_check *out,
				     struct amicd_error *err)
{
	enum amicd_rc rc;

	pthread_mutex_lock(&st->lock);
	rc = store_source_check_read(st, question, out, err);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

enum amicd_rc store_source_check_put(struct store *st, const char *question, const char *source, int64_t asked_ms,
				     const char *answer_sha256, const char *error, struct amicd_error *err)
{
	sqlite3_stmt *s;

	if (error == NULL)
		s = store_prep(st, "INSERT INTO source_checks (question, source, answer_sha256, last_checked_ms, last_ok_ms)"
			     " VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (question) DO UPDATE SET"
			     " answer_sha256 = coalesce(excluded.answer_sha256, answer_sha256),"
			     " last_checked_ms = excluded.last_checked_ms, last_ok_ms = excluded.last_ok_ms,"
			     " failing_since_ms = NULL, last_error = NULL", err);
	else
		s = store_prep(st, "INSERT INTO source_checks (question, source, failing_since_ms, last_error)"
			     " VALUES (?1, ?2, ?4, ?5) ON CONFLICT (question) DO UPDATE SET"
			     " failing_since_ms = coalesce(failing_since_ms, excluded.failing_since_ms),"
			     " last_error = excluded.last_error", err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, question, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, source, -1, SQLITE_STATIC);
	store_bind_text(s, 3, answer_sha256);
	sqlite3_bind_int64(s, 4, asked_ms);
	store_bind_text(s, 5, error);
	return store_step_done(st, s, "record a source check", err);
}

enum amicd_rc store_queued_through(struct store *st, int64_t id, bool *queued, struct amicd_error *err)
{
	sqlite3_stmt *s;
	enum amicd_rc rc = AMICD_OK;

	*queued = false;
	pthread_mutex_lock(&st->lock);
	/* the partial index events_queued holds only queued rows: one probe */
	s = store_prep(st, "SELECT EXISTS (SELECT 1 FROM events WHERE status = 'queued' AND id <= ?1)", err);
	if (s == NULL) {
		rc = AMICD_ERR_STORE;
	} else {
		sqlite3_bind_int64(s, 1, id);
		if (sqlite3_step(s) == SQLITE_ROW)
			*queued = sqlite3_column_int(s, 0) != 0;
		else
			rc = store_db_error(st, err, "look for queued events");
		store_release(s);
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}
