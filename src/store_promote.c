/*
 * store_promote.c — promotions, pins, freezes and the trigger outbox: what
 * the decisions write (in the caller's transaction) and what the trigger
 * thread reads and records (in transactions of its own). See store.h.
 *
 * A promotion moves the pin and queues one trigger; the trigger is due only
 * once its pin file is durably written (store_trigger_pin_written), and a newer
 * promotion of the same ASG supersedes the older one's pending trigger.
 */
#include "store.h"
#include "store_internal.h"

#include "util.h"

#include <stdio.h>
#include <string.h>

/* --- promotions, pins, triggers --------------------------------------------------------- */

enum amicd_rc store_promote(struct store *st, const char *asg, const char *commit, const char *image_id,
			    int64_t cause_event_id, const char *reason, const char *actor, int64_t now_ms,
			    int64_t *promotion_id, struct amicd_error *err)
{
	char ts[32];
	sqlite3_stmt *s;
	enum amicd_rc rc;

	util_format_time_s(now_ms, ts, sizeof ts);
	s = store_prep(st, "INSERT INTO promotions (asg, commit_sha, image_id, previous_commit, previous_image,"
		     " cause_event_id, reason, actor, promoted_at)"
		     " SELECT ?1, ?2, ?3, p.commit_sha, p.image_id, ?4, ?5, ?6, ?7"
		     " FROM (SELECT 1) LEFT JOIN pins p ON p.asg = ?1", err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, commit, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, image_id, -1, SQLITE_STATIC);
	if (cause_event_id > 0)
		sqlite3_bind_int64(s, 4, cause_event_id);
	else
		sqlite3_bind_null(s, 4);
	sqlite3_bind_text(s, 5, reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 7, ts, -1, SQLITE_STATIC);
	rc = store_step_done(st, s, "record promotion", err);
	if (rc != AMICD_OK)
		return rc;
	*promotion_id = sqlite3_last_insert_rowid(st->db);

	s = store_prep(st, "INSERT INTO pins (asg, commit_sha, image_id, promotion_id, promoted_at) VALUES (?1, ?2, ?3, ?4, ?5)"
		     " ON CONFLICT (asg) DO UPDATE SET commit_sha = excluded.commit_sha, image_id = excluded.image_id,"
		     " promotion_id = excluded.promotion_id, promoted_at = excluded.promoted_at", err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, commit, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, image_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, *promotion_id);
	sqlite3_bind_text(s, 5, ts, -1, SQLITE_STATIC);
	rc = store_step_done(st, s, "move pin", err);
	if (rc != AMICD_OK)
		return rc;

	s = store_prep(st, "UPDATE triggers SET state = 'superseded', updated_at = ?2 WHERE asg = ?1 AND state = 'pending'", err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, ts, -1, SQLITE_STATIC);
	rc = store_step_done(st, s, "supersede triggers", err);
	if (rc != AMICD_OK)
		return rc;

	s = store_prep(st, "INSERT INTO triggers (promotion_id, asg, state, attempts, next_attempt_ms, updated_at, pin_written)"
		     " VALUES (?1, ?2, 'pending', 0, ?3, ?4, 0)", err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_int64(s, 1, *promotion_id);
	sqlite3_bind_text(s, 2, asg, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now_ms);
	sqlite3_bind_text(s, 4, ts, -1, SQLITE_STATIC);
	return store_step_done(st, s, "queue trigger", err);
}

enum amicd_rc store_pin_get(struct store *st, const char *asg, struct store_pin *out, bool *found,
			    struct amicd_error *err)
{
	sqlite3_stmt *s;
	enum amicd_rc rc = AMICD_OK;
	int src;

	*found = false;
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&st->lock);
	s = store_prep(st, "SELECT commit_sha, image_id, promotion_id, promoted_at FROM pins WHERE asg = ?1", err);
	if (s == NULL) {
		rc = AMICD_ERR_STORE;
		goto out;
	}
	sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		snprintf(out->commit, sizeof out->commit, "%s", sqlite3_column_text(s, 0));
		snprintf(out->image_id, sizeof out->image_id, "%s", sqlite3_column_text(s, 1));
		out->promotion_id = sqlite3_column_int64(s, 2);
		snprintf(out->promoted_at, sizeof out->promoted_at, "%s", sqlite3_column_text(s, 3));
		*found = true;
	} else if (src != SQLITE_DONE) {
		rc = store_db_error(st, err, "get pin");
	}
	store_release(s);
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

enum amicd_rc store_triggers_due(struct store *st, int64_t now_ms, struct store_trigger *out, size_t max,
				 size_t *n, int64_t *next_due_ms, struct amicd_error *err)
{
	sqlite3_stmt *s = NULL;
	enum amicd_rc rc = AMICD_OK;
	int src;

	*n = 0;
	*next_due_ms = INT64_MAX;
	pthread_mutex_lock(&st->lock);
	s = store_prep(st, "SELECT t.promotion_id, p.asg, p.commit_sha, p.image_id, t.attempts, t.next_attempt_ms, t.series"
		     " FROM triggers t JOIN promotions p ON p.id = t.promotion_id"
		     " WHERE t.state = 'pending' AND t.pin_written = 1 ORDER BY t.next_attempt_ms, t.promotion_id", err);
	if (s == NULL) {
		rc = AMICD_ERR_STORE;
		goto out;
	}
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t due = sqlite3_column_int64(s, 5);

		if (due > now_ms || *n == max) {
			if (due < *next_due_ms)
				*next_due_ms = due;
			break;
		}
		out[*n].promotion_id = sqlite3_column_int64(s, 0);
		snprintf(out[*n].asg, sizeof out[*n].asg, "%s", sqlite3_column_text(s, 1));
		snprintf(out[*n].commit, sizeof out[*n].commit, "%s", sqlite3_column_text(s, 2));
		snprintf(out[*n].image_id, sizeof out[*n].image_id, "%s", sqlite3_column_text(s, 3));
		out[*n].attempts = sqlite3_column_int(s, 4);
		out[*n].series = sqlite3_column_int(s, 6);
		(*n)++;
	}
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		rc = store_db_error(st, err, "due triggers");
	store_release(s);
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

enum amicd_rc store_trigger_record(struct store *st, int64_t promotion_id, int series, bool ok, const char *error,
				   bool give_up, int64_t next_attempt_ms, int64_t now_ms, struct amicd_error *err)
{
	char ts[32];
	sqlite3_stmt *s;
	enum amicd_rc rc;

	util_format_time_s(now_ms, ts, sizeof ts);
	rc = store_begin(st, err);
	if (rc != AMICD_OK)
		return rc;
	pthread_mutex_lock(&st->lock);
	s = store_prep(st, "UPDATE triggers SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3,"
		     " updated_at = ?4, state = CASE WHEN state = 'pending' THEN ?5 ELSE state END,"
		     " failing_since_ms = CASE WHEN ?2 IS NULL THEN failing_since_ms ELSE coalesce(failing_since_ms, ?7) END"
		     " WHERE promotion_id = ?1 AND series = ?6", err);
	if (s == NULL) {
		rc = AMICD_ERR_STORE;
		goto out;
	}
	sqlite3_bind_int64(s, 1, promotion_id);
	store_bind_text(s, 2, ok ? NULL : error);
	sqlite3_bind_int64(s, 3, next_attempt_ms);
	sqlite3_bind_text(s, 4, ts, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, ok ? "delivered" : give_up ? "failed" : "pending", -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 6, series);
	sqlite3_bind_int64(s, 7, now_ms);
	rc = store_step_done(st, s, "record trigger attempt", err);
out:
	pthread_mutex_unlock(&st->lock);
	if (rc == AMICD_OK)
		rc = store_commit(st, err);
	if (rc != AMICD_OK)
		store_rollback(st);
	return rc;
}

enum amicd_rc store_trigger_get(struct store *st, int64_t promotion_id, struct store_trigger_state *out,
				bool *found, struct amicd_error *err)
{
	sqlite3_stmt *s;
	enum amicd_rc rc = AMICD_OK;
	int src;

	*found = false;
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&st->lock);
	s = store_prep(st, "SELECT state, attempts, series, last_error, failing_since_ms, updated_at"
		     " FROM triggers WHERE promotion_id = ?1", err);
	if (s == NULL) {
		rc = AMICD_ERR_STORE;
		goto out;
	}
	sqlite3_bind_int64(s, 1, promotion_id);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		snprintf(out->state, sizeof out->state, "%s", sqlite3_column_text(s, 0));
		out->attempts = sqlite3_column_int(s, 1);
		out->series = sqlite3_column_int(s, 2);
		if (sqlite3_column_type(s, 3) != SQLITE_NULL)
			snprintf(out->last_error, sizeof out->last_error, "%s", sqlite3_column_text(s, 3));
		out->failing_since_ms = sqlite3_column_int64(s, 4);
		snprintf(out->updated_at, sizeof out->updated_at, "%s", sqlite3_column_text(s, 5));
		*found = true;
	} else if (src != SQLITE_DONE) {
		rc = store_db_error(st, err, "get trigger");
	}
	store_release(s);
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

enum amicd_rc store_trigger_retrigger(struct store *st, int64_t promotion_id, const char *actor, const char *reason,
				      int64_t now_ms, int *series, struct amicd_error *err)
{
	char ts[32];
	sqlite3_stmt *s;
	enum amicd_rc rc;
	int src;

	*series = 0;
	util_format_time_s(now_ms, ts, sizeof ts);
	s = store_prep(st, "UPDATE triggers SET series = series + 1, attempts = 0, last_error = NULL,"
		     " failing_since_ms = NULL, state = 'pending', next_attempt_ms = ?2, updated_at = ?3"
		     " WHERE promotion_id = ?1 RETURNING series", err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_int64(s, 1, promotion_id);
	sqlite3_bind_int64(s, 2, now_ms);
	sqlite3_bind_text(s, 3, ts, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		*series = sqlite3_column_int(s, 0);
		src = sqlite3_step(s);
	}
	if (src != SQLITE_DONE) {
		rc = store_db_error(st, err, "start a trigger series");
		store_release(s);
		return rc;
	}
	store_release(s);
	if (*series == 0)
		return amicd_error_set(err, AMICD_ERR_CONFLICT, NULL, "promotion %lld has no trigger to send again",
				       (long long)promotion_id);

	s = store_prep(st, "INSERT INTO trigger_series (promotion_id, series, asg, actor, reason, at)"
		     " SELECT ?1, ?2, asg, ?3, ?4, ?5 FROM triggers WHERE promotion_id = ?1", err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_int64(s, 1, promotion_id);
	sqlite3_bind_int(s, 2, *series);
	sqlite3_bind_text(s, 3, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, ts, -1, SQLITE_STATIC);
	return store_step_done(st, s, "record the retrigger", err);
}

enum amicd_rc store_trigger_pin_written(struct store *st, int64_t promotion_id, bool *changed,
					struct amicd_error *err)
{
	sqlite3_stmt *s;
	enum amicd_rc rc;

	*changed = false;
	rc = store_begin(st, err);
	if (rc != AMICD_OK)
		return rc;
	pthread_mutex_lock(&st->lock);
	s = store_prep(st, "UPDATE triggers SET pin_written = 1 WHERE promotion_id = ?1 AND pin_written = 0", err);
	if (s == NULL) {
		rc = AMICD_ERR_STORE;
	} else {
		sqlite3_bind_int64(s, 1, promotion_id);
		rc = store_step_done(st, s, "mark the pin file written", err);
		*changed = rc == AMICD_OK && sqlite3_changes(st->db) > 0;
	}
	pthread_mutex_unlock(&st->lock);
	if (rc == AMICD_OK)
		rc = store_commit(st, err);
	if (rc != AMICD_OK) {
		store_rollback(st);
		*changed = false;
	}
	return rc;
}

enum amicd_rc store_asg_frozen_set(struct store *st, const char *asg, bool frozen, const char *reason,
				   const char *actor, int64_t now_ms, struct amicd_error *err)
{
	char ts[32];
	sqlite3_stmt *s = store_prep(st, "INSERT INTO asg_state (asg, frozen, reason, actor, changed_at) VALUES (?1, ?2, ?3, ?4, ?5)"
				   " ON CONFLICT (asg) DO UPDATE SET frozen = excluded.frozen, reason = excluded.reason,"
				   " actor = excluded.actor, changed_at = excluded.changed_at", err);

	if (s == NULL)
		return AMICD_ERR_STORE;
	util_format_time_s(now_ms, ts, sizeof ts);
	sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, frozen);
	store_bind_text(s, 3, reason);
	sqlite3_bind_text(s, 4, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, ts, -1, SQLITE_STATIC);
	return store_step_done(st, s, "set frozen", err);
}


/* --- blocked commits -------------------------------------------------------------------- */

enum amicd_rc store_block_set(struct store *st, const char *asg, const char *commit, const char *reason,
			      const char *actor, int64_t now_ms, bool *was_blocked, struct amicd_error *err)
{
	char ts[32];
	sqlite3_stmt *s = store_prep(st, "SELECT 1 FROM blocked_commits WHERE asg = ?1 AND commit_sha = ?2", err);
	int src;

	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, commit, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	store_release(s);
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		return store_db_error(st, err, "look up blocked commit");
	if (was_blocked != NULL)
		*was_blocked = src == SQLITE_ROW;
	s = store_prep(st, "INSERT INTO blocked_commits (asg, commit_sha, reason, actor, blocked_at) VALUES (?1, ?2, ?3, ?4, ?5)"
		     " ON CONFLICT (asg, commit_sha) DO UPDATE SET reason = excluded.reason, actor = excluded.actor,"
		     " blocked_at = excluded.blocked_at", err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	util_format_time_s(now_ms, ts, sizeof ts);
	sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, commit, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, ts, -1, SQLITE_STATIC);
	return store_step_done(st, s, "block commit", err);
}

enum amicd_rc store_block_clear(struct store *st, const char *asg, const char *commit, bool *found,
				struct amicd_error *err)
{
	sqlite3_stmt *s = store_prep(st, "DELETE FROM blocked_commits WHERE asg = ?1 AND commit_sha = ?2", err);
	enum amicd_rc rc;

	*found = false;
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, commit, -1, SQLITE_STATIC);
	rc = store_step_done(st, s, "unblock commit", err);
	*found = rc == AMICD_OK && sqlite3_changes(st->db) > 0;
	return rc;
}
