/*
 * store_facts.c — facts in: the worker's walk over stored events, their
 * statuses, and the upserts that turn an event's facts into rows (pushes,
 * AMIs, shares, tags). See store_facts.h.
 *
 * Fact rows are last-writer-wins: an upsert changes a row only when the new
 * fact's (time, then its own value, then event id) is greater than the stored
 * one, so the order in which events are applied does not matter and
 * re-applying changes nothing. Tags are the exception, because a DeleteTags
 * depends on the value it meets: every tag operation is kept (ami_tag_ops)
 * and a key's row is worked out from all of them, in event-time order.
 */
#include "store_facts.h"
#include "store_internal.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

/* --- events for the worker ------------------------------------------------------ */

enum amicd_rc store_events_walk(struct store *st, bool all, int64_t from_id, int64_t to_id, int limit,
				bool (*need_payload)(int64_t id, void *cls),
				enum amicd_rc (*fn)(const struct store_queued *ev, void *cls), void *cls,
				struct amicd_error *err)
{
	/* ids first: the callback changes rows (status) that a live cursor would be walking.
	 * Two statements, so the worker's "queued only" walk uses the partial index
	 * events_queued instead of scanning the table. */
	static const char *const sql_all = "SELECT id FROM events WHERE ?1 AND id >= ?2 AND id <= ?3 ORDER BY id LIMIT ?4";
	static const char *const sql_queued = "SELECT id FROM events WHERE status = 'queued' AND ?1 = 0 AND id >= ?2"
					      " AND id <= ?3 ORDER BY id LIMIT ?4";
	sqlite3_stmt *s = store_prep(st, all ? sql_all : sql_queued, err);
	sqlite3_stmt *one = NULL, *body = NULL;
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	enum amicd_rc rc = AMICD_OK;
	int src;

	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_int(s, 1, all);
	sqlite3_bind_int64(s, 2, from_id);
	sqlite3_bind_int64(s, 3, to_id > 0 ? to_id : INT64_MAX);
	sqlite3_bind_int(s, 4, limit);
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			int64_t *grown;

			cap = cap > 0 ? cap * 2 : 256;
			grown = realloc(ids, cap * sizeof *ids);
			if (grown == NULL) {
				rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
				goto out;
			}
			ids = grown;
		}
		ids[n++] = sqlite3_column_int64(s, 0);
	}
	if (src != SQLITE_DONE) {
		rc = store_db_error(st, err, "walk events");
		goto out;
	}
	one = store_prep(st, "SELECT id, source, kind FROM events WHERE id = ?1", err);
	body = store_prep(st, "SELECT payload FROM event_bodies WHERE event_id = ?1", err);
	if (one == NULL || body == NULL) {
		rc = AMICD_ERR_STORE;
		goto out;
	}
	for (size_t i = 0; i < n && rc == AMICD_OK; i++) {
		struct store_queued ev = { .id = ids[i] };

		sqlite3_reset(one);
		sqlite3_reset(body);
		sqlite3_bind_int64(one, 1, ids[i]);
		if (sqlite3_step(one) != SQLITE_ROW) {
			rc = store_db_error(st, err, "read event");
			break;
		}
		ev.source = (const char *)sqlite3_column_text(one, 1);
		ev.kind = (const char *)sqlite3_column_text(one, 2);
		if (need_payload == NULL || need_payload(ids[i], cls)) {
			sqlite3_bind_int64(body, 1, ids[i]);
			if (sqlite3_step(body) != SQLITE_ROW) {
				rc = store_db_error(st, err, "read event body");
				break;
			}
			ev.payload = sqlite3_column_blob(body, 0);
			ev.payload_len = (size_t)sqlite3_column_bytes(body, 0);
			if (ev.payload == NULL)
				ev.payload = "";
		}
		rc = fn(&ev, cls);
	}
out:
	free(ids);
	store_release(s);
	store_release(one);
	store_release(body);
	return rc;
}

enum amicd_rc store_event_set_status(struct store *st, int64_t id, const char *status, const char *note,
				     struct amicd_error *err)
{
	/* a shadow (a replay being built) keeps statuses aside until it is swapped in */
	sqlite3_stmt *s = st->shadow ? store_prep(st, "INSERT INTO temp.replay_status (status, note, id) VALUES (?1, ?2, ?3)"
					       " ON CONFLICT (id) DO UPDATE SET status = excluded.status, note = excluded.note", err)
				     : store_prep(st, "UPDATE events SET status = ?1, note = ?2 WHERE id = ?3", err);

	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, status, -1, SQLITE_STATIC);
	store_bind_text(s, 2, note != NULL && note[0] != '\0' ? note : NULL);
	sqlite3_bind_int64(s, 3, id);
	return store_step_done(st, s, "set event status", err);
}

/* --- facts -------------------------------------------------------------------------- */

/*
 * Work out the ami_tags row of one key from the tag operations behind it (its
 * own and the account's DeleteTags without tags, unless the key is one of
 * AWS's aws:*): the operations in (event time, sets before deletions, value,
 * event id) order, as AWS applied them. The row keeps the value left and the
 * time and event of the operation that last changed it (of the newest one
 * when none did).
 */
static enum amicd_rc tag_settle(struct store *st, const char *region, const char *image, const char *account,
				const char *key, struct amicd_error *err)
{
	sqlite3_stmt *ops = store_prep(st, "SELECT op, value, ev_time, event_id, key = '' FROM ami_tag_ops"
				     " WHERE region = ?1 AND image_id = ?2 AND account = ?3 AND key IN (?4, ?5)"
				     " ORDER BY ev_time, op = 'delete', coalesce(value, ''), event_id", err);
	sqlite3_stmt *s = NULL;
	char *value = NULL;
	int64_t time = 0, event = 0;
	bool changed = false, nomem = false;
	enum amicd_rc rc = AMICD_OK;
	int src;

	if (ops == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(ops, 1, region, -1, SQLITE_STATIC);
	sqlite3_bind_text(ops, 2, image, -1, SQLITE_STATIC);
	sqlite3_bind_text(ops, 3, account, -1, SQLITE_STATIC);
	sqlite3_bind_text(ops, 4, key, -1, SQLITE_STATIC);
	if (strncmp(key, "aws:", 4) != 0) /* AWS never deletes its own tags for a DeleteTags without tags */
		sqlite3_bind_text(ops, 5, "", -1, SQLITE_STATIC);
	while ((src = sqlite3_step(ops)) == SQLITE_ROW) {
		bool set = strcmp((const char *)sqlite3_column_text(ops, 0), "set") == 0;
		const char *named = (const char *)sqlite3_column_text(ops, 1);
		bool applies;

		if (set) {
			free(value);
			value = store_column_dup(ops, 1, &nomem);
			if (nomem)
				break;
			applies = true;
		} else {
			/* a key with no value named, or with the tag's value; every key for "all" */
			applies = value != NULL && (sqlite3_column_int(ops, 4) != 0 || named == NULL ||
						    strcmp(named, value) == 0);
			if (applies) {
				free(value);
				value = NULL;
			}
		}
		if (applies || !changed) {
			time = sqlite3_column_int64(ops, 2);
			event = sqlite3_column_int64(ops, 3);
			changed = changed || applies;
		}
	}
	if (nomem)
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	else if (src != SQLITE_DONE)
		rc = store_db_error(st, err, "read tag operations");
	store_release(ops);
	if (rc == AMICD_OK && event != 0) {
		s = store_prep(st, "INSERT INTO ami_tags (region, image_id, account, key, value, ev_time, event_id)"
			     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (region, image_id, account, key) DO UPDATE"
			     " SET value = excluded.value, ev_time = excluded.ev_time, event_id = excluded.event_id", err);
		if (s == NULL)
			rc = AMICD_ERR_STORE;
		else {
			sqlite3_bind_text(s, 1, region, -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 2, image, -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 3, account, -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 4, key, -1, SQLITE_STATIC);
			store_bind_text(s, 5, value);
			sqlite3_bind_int64(s, 6, time);
			sqlite3_bind_int64(s, 7, event);
			rc = store_step_done(st, s, "record AMI tag", err);
		}
	}
	free(value);
	return rc;
}

/*
 * A tag fact: record the operation, then work out again the row of every key
 * it may change (one key; for a DeleteTags without tags, every key the
 * account ever set on the image). Arrival order never matters: the rows
 * follow from all operations known, in event-time order.
 */
static enum amicd_rc apply_tag(struct store *st, const struct fact *f, int64_t event_id, struct amicd_error *err)
{
	bool deleting = f->deleted || f->value == NULL;
	const char *key = f->key != NULL ? f->key : "";
	sqlite3_stmt *s;
	char **keys = NULL;
	size_t n = 0;
	enum amicd_rc rc;
	int src;

	if (key[0] == '\0' && !deleting)
		return AMICD_OK; /* AWS has no empty tag keys: '' stands for "every key" */
	s = store_prep(st, "INSERT OR IGNORE INTO ami_tag_ops (region, image_id, account, key, op, value, ev_time,"
		     " event_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, f->region, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, f->image_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, f->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, deleting ? "delete" : "set", -1, SQLITE_STATIC);
	store_bind_text(s, 6, f->value);
	sqlite3_bind_int64(s, 7, f->time_ms);
	sqlite3_bind_int64(s, 8, event_id);
	rc = store_step_done(st, s, "record AMI tag operation", err);
	if (rc != AMICD_OK || key[0] != '\0')
		return rc != AMICD_OK ? rc : tag_settle(st, f->region, f->image_id, f->account, key, err);
	/* every key the account set on the image */
	s = store_prep(st, "SELECT DISTINCT key FROM ami_tag_ops WHERE region = ?1 AND image_id = ?2 AND account = ?3"
		     " AND key <> ''", err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, f->region, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, f->image_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, f->account, -1, SQLITE_STATIC);
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		char **grown = realloc(keys, (n + 1) * sizeof *keys);
		bool nomem = false;

		if (grown != NULL) {
			keys = grown;
			keys[n] = store_column_dup(s, 0, &nomem);
		}
		if (grown == NULL || nomem) {
			rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
			break;
		}
		n++;
	}
	if (rc == AMICD_OK && src != SQLITE_DONE)
		rc = store_db_error(st, err, "read tag keys");
	store_release(s);
	for (size_t i = 0; i < n; i++) {
		if (rc == AMICD_OK)
			rc = tag_settle(st, f->region, f->image_id, f->account, keys[i], err);
		free(keys[i]);
	}
	free(keys);
	return rc;
}

enum amicd_rc store_image_viewers(struct store *st, const char *region, const char *image_id,
				  void (*fn)(const char *account, const char *pinned_asg, void *cls), void *cls,
				  struct amicd_error *err)
{
	sqlite3_stmt *s = store_prep(st, "SELECT DISTINCT account, NULL FROM ami_tags WHERE region = ?1 AND image_id = ?2"
				     " UNION ALL SELECT NULL, asg FROM pins WHERE image_id = ?2", err);
	enum amicd_rc rc = AMICD_OK;
	int src;

	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, region, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, image_id, -1, SQLITE_STATIC);
	while ((src = sqlite3_step(s)) == SQLITE_ROW)
		fn((const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1), cls);
	if (src != SQLITE_DONE)
		rc = store_db_error(st, err, "read who sees an image");
	store_release(s);
	return rc;
}

enum amicd_rc store_fact_apply(struct store *st, const struct fact *f, int64_t event_id, struct amicd_error *err)
{
	sqlite3_stmt *s = NULL;

	switch (f->kind) {
	case FACT_PUSH:
		s = store_prep(st, "INSERT OR IGNORE INTO pushes (event_id, repo, branch, before_sha, after_sha, deleted)"
			     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", err);
		if (s == NULL)
			return AMICD_ERR_STORE;
		sqlite3_bind_int64(s, 1, event_id);
		sqlite3_bind_text(s, 2, f->repo, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, f->branch, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, f->before, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, f->after, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 6, f->deleted);
		return store_step_done(st, s, "record push", err);
	case FACT_AMI_SEEN:
		/* every column converges whatever the order: the smallest owner seen, the earliest time */
		s = store_prep(st, "INSERT INTO amis (region, image_id, owner, created_ms, first_event) VALUES (?1, ?2, ?3, ?4, ?5)"
			     " ON CONFLICT (region, image_id) DO UPDATE SET owner = CASE WHEN amis.owner IS NULL"
			     " THEN excluded.owner WHEN excluded.owner IS NULL THEN amis.owner"
			     " ELSE min(amis.owner, excluded.owner) END,"
			     " created_ms = min(amis.created_ms, excluded.created_ms),"
			     " first_event = min(amis.first_event, excluded.first_event)", err);
		if (s == NULL)
			return AMICD_ERR_STORE;
		sqlite3_bind_text(s, 1, f->region, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, f->image_id, -1, SQLITE_STATIC);
		store_bind_text(s, 3, f->owner);
		sqlite3_bind_int64(s, 4, f->time_ms);
		sqlite3_bind_int64(s, 5, event_id);
		return store_step_done(st, s, "record AMI", err);
	case FACT_AMI_STATE:
		/* the latest time wins; at equal times the later lifecycle state, then the
		 * state's name, so arrival order never decides (the event id only tells
		 * equal states apart, which changes nothing that is shown) */
		s = store_prep(st, "UPDATE amis SET state = ?3, state_time = ?4, state_event = ?5, state_rank = ?6"
			     " WHERE region = ?1 AND image_id = ?2 AND (state_time IS NULL"
			     " OR (?4, ?6, ?3, ?5) > (state_time, state_rank, state, state_event))", err);
		if (s == NULL)
			return AMICD_ERR_STORE;
		sqlite3_bind_text(s, 1, f->region, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, f->image_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, f->state, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, f->time_ms);
		sqlite3_bind_int64(s, 5, event_id);
		sqlite3_bind_int(s, 6, fact_state_rank(f->state));
		return store_step_done(st, s, "record AMI state", err);
	case FACT_AMI_SHARE:
		s = store_prep(st, "INSERT INTO ami_shares (region, image_id, account, shared, ev_time, event_id)"
			     " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (region, image_id, account) DO UPDATE"
			     " SET shared = excluded.shared, ev_time = excluded.ev_time, event_id = excluded.event_id"
			     /* at equal times a removal wins: an AMI is never taken as shared by arrival order */
			     " WHERE (excluded.ev_time, 1 - excluded.shared, excluded.event_id)"
			     "  > (ami_shares.ev_time, 1 - ami_shares.shared, ami_shares.event_id)", err);
		if (s == NULL)
			return AMICD_ERR_STORE;
		sqlite3_bind_text(s, 1, f->region, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, f->image_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, f->account, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 4, f->shared);
		sqlite3_bind_int64(s, 5, f->time_ms);
		sqlite3_bind_int64(s, 6, event_id);
		return store_step_done(st, s, "record AMI share", err);
	case FACT_AMI_TAG:
		return apply_tag(st, f, event_id, err);
	case FACT_BRANCH_SEEN: {
		char asked_at[32];

		util_format_time_ms(f->time_ms, asked_at, sizeof asked_at);
		s = store_prep(st, "INSERT OR IGNORE INTO branch_observations (event_id, repo, branch, commit_sha, asked_at)"
			     " VALUES (?1, ?2, ?3, ?4, ?5)", err);
		if (s == NULL)
			return AMICD_ERR_STORE;
		sqlite3_bind_int64(s, 1, event_id);
		sqlite3_bind_text(s, 2, f->repo, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, f->branch, -1, SQLITE_STATIC);
		store_bind_text(s, 4, f->after);
		sqlite3_bind_text(s, 5, asked_at, -1, SQLITE_TRANSIENT);
		return store_step_done(st, s, "record branch observation", err);
	}
	case FACT_IMAGES_SEEN:
		/* one row per (event, commit): an event asks about at most EC2API_MAX_COMMITS */
		s = store_prep(st, "INSERT OR IGNORE INTO image_observations (event_id, account, region, tag_key,"
			     " commit_sha, asked_ms, listed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", err);
		if (s == NULL)
			return AMICD_ERR_STORE;
		sqlite3_bind_int64(s, 1, event_id);
		sqlite3_bind_text(s, 2, f->account, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, f->region, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, f->key, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, f->value, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, f->time_ms);
		sqlite3_bind_text(s, 7, f->listed, -1, SQLITE_STATIC);
		return store_step_done(st, s, "record images observation", err);
	}
	return amicd_error_set(err, AMICD_ERR_INTERNAL, NULL, "unknown fact kind %d", (int)f->kind);
}

