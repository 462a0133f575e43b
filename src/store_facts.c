/*
 * store_facts.c — the derived side of the store: facts, the decision input of
 * an ASG, promotions, pins, the trigger outbox, and their JSON for the API
 * (see store.h).
 *
 * Fact rows are last-writer-wins: an upsert changes a row only when the new
 * fact's (time, then its own value, then event id) is greater than the stored
 * one, so the order in which events are applied does not matter and
 * re-applying changes nothing.
 */
#include "store.h"
#include "store_internal.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * prep — the prepared statement for sql, a string literal: statements are made
 * once per connection and cached by the literal's address (store_internal.h),
 * then handed out reset. On failure fill err and return NULL. Callers hand the
 * statement back with release(), never finalize it.
 */
static sqlite3_stmt *prep(struct store *st, const char *sql, struct amicd_error *err)
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

/* release — hand a statement from prep() back: reset, bindings cleared. NULL is fine. */
static void release(sqlite3_stmt *s)
{
	if (s == NULL)
		return;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Step a statement that returns no rows, then release it. */
static enum amicd_rc step_done(struct store *st, sqlite3_stmt *s, const char *what, struct amicd_error *err)
{
	int src = sqlite3_step(s);
	enum amicd_rc rc = AMICD_OK;

	if (src != SQLITE_DONE && src != SQLITE_ROW)
		rc = store_db_error(st, err, what);
	release(s);
	return rc;
}

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
	if (v != NULL)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static json_t *col_json(sqlite3_stmt *s, int col)
{
	switch (sqlite3_column_type(s, col)) {
	case SQLITE_NULL: return json_null();
	case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(s, col));
	default: return json_string((const char *)sqlite3_column_text(s, col));
	}
}

/* --- events for the worker ------------------------------------------------------ */

enum amicd_rc store_events_walk(struct store *st, bool all, int64_t from_id, int64_t to_id, int limit,
				enum amicd_rc (*fn)(const struct store_queued *ev, void *cls), void *cls,
				struct amicd_error *err)
{
	/* ids first: the callback changes rows (status) that a live cursor would be walking.
	 * Two statements, so the worker's "queued only" walk uses the partial index
	 * events_queued instead of scanning the table. */
	static const char *const sql_all = "SELECT id FROM events WHERE ?1 AND id >= ?2 AND id <= ?3 ORDER BY id LIMIT ?4";
	static const char *const sql_queued = "SELECT id FROM events WHERE status = 'queued' AND ?1 = 0 AND id >= ?2"
					      " AND id <= ?3 ORDER BY id LIMIT ?4";
	sqlite3_stmt *s = prep(st, all ? sql_all : sql_queued, err);
	sqlite3_stmt *one = NULL;
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
	one = prep(st, "SELECT id, source, kind, payload FROM events WHERE id = ?1", err);
	if (one == NULL) {
		rc = AMICD_ERR_STORE;
		goto out;
	}
	for (size_t i = 0; i < n && rc == AMICD_OK; i++) {
		sqlite3_reset(one);
		sqlite3_bind_int64(one, 1, ids[i]);
		if (sqlite3_step(one) != SQLITE_ROW) {
			rc = store_db_error(st, err, "read event");
			break;
		}
		{
			struct store_queued ev = {
				.id = sqlite3_column_int64(one, 0),
				.source = (const char *)sqlite3_column_text(one, 1),
				.kind = (const char *)sqlite3_column_text(one, 2),
				.payload = sqlite3_column_blob(one, 3),
				.payload_len = (size_t)sqlite3_column_bytes(one, 3),
			};

			rc = fn(&ev, cls);
		}
	}
out:
	free(ids);
	release(s);
	release(one);
	return rc;
}

enum amicd_rc store_metrics_json(struct store *st, json_t **out, struct amicd_error *err)
{
	sqlite3_stmt *s = NULL;
	json_t *promos = json_array(), *events = json_object(), *triggers = json_object();
	enum amicd_rc rc = AMICD_OK;
	int src;

	*out = NULL;
	pthread_mutex_lock(&st->lock);
	s = prep(st, "SELECT asg, actor, count(*) FROM promotions GROUP BY asg, actor ORDER BY asg, actor", err);
	if (s == NULL) {
		rc = AMICD_ERR_STORE;
		goto out;
	}
	while ((src = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(promos, json_pack("{s:o,s:o,s:o}", "asg", col_json(s, 0), "actor", col_json(s, 1),
							"count", col_json(s, 2)));
	release(s);
	s = NULL;
	if (src != SQLITE_DONE) {
		rc = store_db_error(st, err, "count promotions");
		goto out;
	}
	s = prep(st, "SELECT status, count(*) FROM events GROUP BY status", err);
	if (s == NULL) {
		rc = AMICD_ERR_STORE;
		goto out;
	}
	while ((src = sqlite3_step(s)) == SQLITE_ROW)
		json_object_set_new(events, (const char *)sqlite3_column_text(s, 0), col_json(s, 1));
	release(s);
	s = NULL;
	if (src != SQLITE_DONE) {
		rc = store_db_error(st, err, "count events");
		goto out;
	}
	s = prep(st, "SELECT state, count(*) FROM triggers GROUP BY state", err);
	if (s == NULL) {
		rc = AMICD_ERR_STORE;
		goto out;
	}
	while ((src = sqlite3_step(s)) == SQLITE_ROW)
		json_object_set_new(triggers, (const char *)sqlite3_column_text(s, 0), col_json(s, 1));
	if (src != SQLITE_DONE) {
		rc = store_db_error(st, err, "count triggers");
		goto out;
	}
	*out = json_pack("{s:O,s:O,s:O}", "promotions", promos, "events", events, "triggers", triggers);
out:
	release(s);
	pthread_mutex_unlock(&st->lock);
	json_decref(promos);
	json_decref(events);
	json_decref(triggers);
	return rc;
}

enum amicd_rc store_event_set_status(struct store *st, int64_t id, const char *status, const char *note,
				     struct amicd_error *err)
{
	/* a shadow (a replay being built) keeps statuses aside until it is swapped in */
	sqlite3_stmt *s = st->shadow ? prep(st, "INSERT INTO temp.replay_status (status, note, id) VALUES (?1, ?2, ?3)"
					       " ON CONFLICT (id) DO UPDATE SET status = excluded.status, note = excluded.note", err)
				     : prep(st, "UPDATE events SET status = ?1, note = ?2 WHERE id = ?3", err);

	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, status, -1, SQLITE_STATIC);
	bind_text_or_null(s, 2, note != NULL && note[0] != '\0' ? note : NULL);
	sqlite3_bind_int64(s, 3, id);
	return step_done(st, s, "set event status", err);
}

/* --- facts -------------------------------------------------------------------------- */

enum amicd_rc store_fact_apply(struct store *st, const struct fact *f, int64_t event_id, struct amicd_error *err)
{
	sqlite3_stmt *s = NULL;

	switch (f->kind) {
	case FACT_PUSH:
		s = prep(st, "INSERT OR IGNORE INTO pushes (event_id, repo, branch, before_sha, after_sha, deleted)"
			     " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", err);
		if (s == NULL)
			return AMICD_ERR_STORE;
		sqlite3_bind_int64(s, 1, event_id);
		sqlite3_bind_text(s, 2, f->repo, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, f->branch, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, f->before, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, f->after, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 6, f->deleted);
		return step_done(st, s, "record push", err);
	case FACT_AMI_SEEN:
		/* every column converges whatever the order: the smallest owner seen, the earliest time */
		s = prep(st, "INSERT INTO amis (region, image_id, owner, created_ms, first_event) VALUES (?1, ?2, ?3, ?4, ?5)"
			     " ON CONFLICT (region, image_id) DO UPDATE SET owner = CASE WHEN amis.owner IS NULL"
			     " THEN excluded.owner WHEN excluded.owner IS NULL THEN amis.owner"
			     " ELSE min(amis.owner, excluded.owner) END,"
			     " created_ms = min(amis.created_ms, excluded.created_ms),"
			     " first_event = min(amis.first_event, excluded.first_event)", err);
		if (s == NULL)
			return AMICD_ERR_STORE;
		sqlite3_bind_text(s, 1, f->region, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, f->image_id, -1, SQLITE_STATIC);
		bind_text_or_null(s, 3, f->owner);
		sqlite3_bind_int64(s, 4, f->time_ms);
		sqlite3_bind_int64(s, 5, event_id);
		return step_done(st, s, "record AMI", err);
	case FACT_AMI_STATE:
		/* the latest time wins; at equal times the later lifecycle state, then the
		 * state's name, so arrival order never decides (the event id only tells
		 * equal states apart, which changes nothing that is shown) */
		s = prep(st, "UPDATE amis SET state = ?3, state_time = ?4, state_event = ?5, state_rank = ?6"
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
		return step_done(st, s, "record AMI state", err);
	case FACT_AMI_SHARE:
		s = prep(st, "INSERT INTO ami_shares (region, image_id, account, shared, ev_time, event_id)"
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
		return step_done(st, s, "record AMI share", err);
	case FACT_AMI_TAG:
		s = prep(st, "INSERT INTO ami_tags (region, image_id, account, key, value, ev_time, event_id)"
			     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (region, image_id, account, key) DO UPDATE"
			     " SET value = excluded.value, ev_time = excluded.ev_time, event_id = excluded.event_id"
			     /* at equal times a deletion wins, then the greater value: never arrival order */
			     " WHERE (excluded.ev_time, excluded.value IS NULL, coalesce(excluded.value, ''), excluded.event_id)"
			     "  > (ami_tags.ev_time, ami_tags.value IS NULL, coalesce(ami_tags.value, ''), ami_tags.event_id)", err);
		if (s == NULL)
			return AMICD_ERR_STORE;
		sqlite3_bind_text(s, 1, f->region, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, f->image_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, f->account, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, f->key, -1, SQLITE_STATIC);
		bind_text_or_null(s, 5, f->value);
		sqlite3_bind_int64(s, 6, f->time_ms);
		sqlite3_bind_int64(s, 7, event_id);
		return step_done(st, s, "record AMI tag", err);
	}
	return amicd_error_set(err, AMICD_ERR_INTERNAL, NULL, "unknown fact kind %d", (int)f->kind);
}

/* --- the decision input of one ASG --------------------------------------------------- */

struct store_asg_facts {
	struct decide_input in;
	struct decide_asg asg;
	struct decide_tag *statics;
	struct decide_commit head;
	struct decide_commit *pushed;
	struct decide_ami *amis;
	struct decide_tag *tags;       /* all AMIs' tags, in one array */
	struct decide_pin pin;
	int64_t head_event;
	char head_received_at[32];
	int64_t pin_promotion;
	char pin_promoted_at[32];
	struct store_asg_state state;
	const struct decide_ami *pin_ami;
	struct decide_ami pin_ami_store;
	char **strings;                /* everything the pointers above point to */
	size_t n_strings;
};

static const char *keep(struct store_asg_facts *f, const unsigned char *text)
{
	char **grown;
	char *copy;

	if (text == NULL)
		return NULL;
	grown = realloc(f->strings, (f->n_strings + 1) * sizeof *grown);
	if (grown == NULL)
		return NULL;
	f->strings = grown;
	copy = strdup((const char *)text);
	if (copy != NULL)
		f->strings[f->n_strings++] = copy;
	return copy;
}

void store_asg_facts_free(struct store_asg_facts **pf)
{
	struct store_asg_facts *f;

	if (pf == NULL || *pf == NULL)
		return;
	f = *pf;
	for (size_t i = 0; i < f->n_strings; i++)
		free(f->strings[i]);
	free(f->strings);
	free(f->statics);
	free(f->pushed);
	free(f->amis);
	free(f->tags);
	free(f);
	*pf = NULL;
}

const struct decide_input *store_asg_facts_input(const struct store_asg_facts *f) { return &f->in; }
int64_t store_asg_facts_head_event(const struct store_asg_facts *f) { return f->head_event; }
const char *store_asg_facts_head_received_at(const struct store_asg_facts *f) { return f->head_received_at; }
int64_t store_asg_facts_pin_promotion(const struct store_asg_facts *f) { return f->pin_promotion; }
const char *store_asg_facts_pin_promoted_at(const struct store_asg_facts *f) { return f->pin_promoted_at; }
const struct decide_ami *store_asg_facts_pin_ami(const struct store_asg_facts *f) { return f->pin_ami; }
const struct store_asg_state *store_asg_facts_state(const struct store_asg_facts *f) { return &f->state; }

/*
 * The head (design §1): the newest push no other push supersedes (P is
 * superseded by a push with before == P.after; a branch deletion supersedes
 * the push it follows like any push, so a re-creation starts afresh). When the
 * branch was deleted and not re-created, the push the deletion followed: the
 * head stays where it was. When every push is superseded (a cycle, the branch
 * moved back and forth), the newest push.
 */
static enum amicd_rc load_head(struct store *st, struct store_asg_facts *f, const char *repo, const char *branch,
			       struct amicd_error *err)
{
	static const char *const sql[3] = {
		"SELECT p.after_sha, p.event_id, e.received_at FROM pushes p JOIN events e ON e.id = p.event_id"
		" WHERE p.repo = ?1 AND p.branch = ?2 AND p.deleted = 0 AND NOT EXISTS ("
		"  SELECT 1 FROM pushes q WHERE q.repo = p.repo AND q.branch = p.branch"
		"  AND q.before_sha = p.after_sha AND q.after_sha <> p.after_sha)"
		" ORDER BY p.event_id DESC LIMIT 1",
		"SELECT p.after_sha, p.event_id, e.received_at FROM pushes p JOIN events e ON e.id = p.event_id"
		" WHERE p.repo = ?1 AND p.branch = ?2 AND p.deleted = 0 AND NOT EXISTS ("
		"  SELECT 1 FROM pushes q WHERE q.repo = p.repo AND q.branch = p.branch AND q.deleted = 0"
		"  AND q.before_sha = p.after_sha AND q.after_sha <> p.after_sha)"
		" ORDER BY p.event_id DESC LIMIT 1",
		"SELECT p.after_sha, p.event_id, e.received_at FROM pushes p JOIN events e ON e.id = p.event_id"
		" WHERE p.repo = ?1 AND p.branch = ?2 AND p.deleted = 0 ORDER BY p.event_id DESC LIMIT 1",
	};

	for (int i = 0; i < 3 && f->in.head == NULL; i++) {
		sqlite3_stmt *s = prep(st, sql[i], err);
		int src;

		if (s == NULL)
			return AMICD_ERR_STORE;
		sqlite3_bind_text(s, 1, repo, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, branch, -1, SQLITE_STATIC);
		src = sqlite3_step(s);
		if (src == SQLITE_ROW) {
			f->head.commit = keep(f, sqlite3_column_text(s, 0));
			f->head.event_id = sqlite3_column_int64(s, 1);
			f->head_event = f->head.event_id;
			snprintf(f->head_received_at, sizeof f->head_received_at, "%s", sqlite3_column_text(s, 2));
			f->in.head = &f->head;
		}
		release(s);
		if (src != SQLITE_ROW && src != SQLITE_DONE)
			return store_db_error(st, err, "load head");
	}
	return AMICD_OK;
}

/* Add commit (once) to the pushed list with its push order (first push) and last push. */
static enum amicd_rc add_pushed(struct store *st, struct store_asg_facts *f, const char *repo, const char *branch,
				const char *commit, size_t *cap, struct amicd_error *err)
{
	sqlite3_stmt *s;
	struct decide_commit *c;
	int src;

	if (commit == NULL)
		return AMICD_OK;
	for (size_t i = 0; i < f->in.n_pushed; i++)
		if (strcmp(f->pushed[i].commit, commit) == 0)
			return AMICD_OK;
	/* two scalar subqueries: each is one index probe (min/max optimisation),
	 * where min() and max() together would read every push of the commit. A
	 * deletion's after is all zeros, so a real commit needs no deleted filter. */
	s = prep(st, "SELECT (SELECT min(event_id) FROM pushes WHERE repo = ?1 AND branch = ?2 AND after_sha = ?3),"
		     " (SELECT max(event_id) FROM pushes WHERE repo = ?1 AND branch = ?2 AND after_sha = ?3)", err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, repo, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, branch, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, commit, -1, SQLITE_TRANSIENT);
	src = sqlite3_step(s);
	if (src != SQLITE_ROW) {
		release(s);
		return store_db_error(st, err, "load a commit's pushes");
	}
	if (sqlite3_column_type(s, 0) == SQLITE_NULL) { /* never pushed */
		release(s);
		return AMICD_OK;
	}
	if (f->in.n_pushed == *cap) {
		struct decide_commit *grown;

		*cap = *cap > 0 ? *cap * 2 : 8;
		grown = realloc(f->pushed, *cap * sizeof *grown);
		if (grown == NULL) {
			release(s);
			return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		}
		f->pushed = grown;
	}
	c = &f->pushed[f->in.n_pushed++];
	c->commit = keep(f, (const unsigned char *)commit);
	c->order = sqlite3_column_int64(s, 0);
	c->event_id = sqlite3_column_int64(s, 1);
	release(s);
	return c->commit != NULL ? AMICD_OK : amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
}

static int by_order(const void *a, const void *b)
{
	const struct decide_commit *x = a, *y = b;

	return (x->order > y->order) - (x->order < y->order);
}

/*
 * The pushed commits the engine needs — the pin's, the head's, the configured
 * commit, and for policy latest every commit pushed after the pin — each with
 * its push order, found by index: the cost does not grow with the branch's
 * history.
 */
static enum amicd_rc load_pushed(struct store *st, struct store_asg_facts *f, const struct config_asg *asg,
				 struct amicd_error *err)
{
	const char *repo = asg->git->url, *branch = asg->git->ref;
	size_t cap = 0;
	enum amicd_rc rc;
	int64_t pin_order = 0;

	rc = add_pushed(st, f, repo, branch, f->in.pin != NULL ? f->pin.commit : NULL, &cap, err);
	if (rc == AMICD_OK)
		rc = add_pushed(st, f, repo, branch, f->in.head != NULL ? f->head.commit : NULL, &cap, err);
	if (rc == AMICD_OK)
		rc = add_pushed(st, f, repo, branch, f->asg.ref_commit, &cap, err);
	if (rc != AMICD_OK)
		return rc;
	if (f->in.pin != NULL && f->in.n_pushed > 0 && strcmp(f->pushed[0].commit, f->pin.commit) == 0)
		pin_order = f->pushed[0].order;
	if (f->asg.policy == DECIDE_LATEST && f->asg.ref_commit == NULL) {
		sqlite3_stmt *s = prep(st, "SELECT DISTINCT after_sha FROM pushes WHERE repo = ?1 AND branch = ?2"
					   " AND event_id > ?3 AND deleted = 0", err);
		char **found = NULL;
		size_t n = 0;
		int src;

		if (s == NULL)
			return AMICD_ERR_STORE;
		sqlite3_bind_text(s, 1, repo, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, branch, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, pin_order);
		while ((src = sqlite3_step(s)) == SQLITE_ROW) {
			char **grown = realloc(found, (n + 1) * sizeof *found);

			if (grown == NULL) {
				src = SQLITE_NOMEM;
				break;
			}
			found = grown;
			found[n] = strdup((const char *)sqlite3_column_text(s, 0));
			if (found[n] == NULL) {
				src = SQLITE_NOMEM;
				break;
			}
			n++;
		}
		release(s);
		if (src != SQLITE_DONE)
			rc = store_db_error(st, err, "load recent pushes");
		for (size_t i = 0; i < n; i++) {
			if (rc == AMICD_OK)
				rc = add_pushed(st, f, repo, branch, found[i], &cap, err);
			free(found[i]);
		}
		free(found);
		if (rc != AMICD_OK)
			return rc;
	}
	if (f->in.n_pushed > 0)
		qsort(f->pushed, f->in.n_pushed, sizeof *f->pushed, by_order);
	for (size_t i = 0; i < f->in.n_pushed; i++)
		if (f->in.head != NULL && strcmp(f->pushed[i].commit, f->head.commit) == 0)
			f->head.order = f->pushed[i].order;
	f->in.pushed = f->pushed;
	return AMICD_OK;
}

/* A list of strings (image ids, commits) without repeats; NULL entries are skipped. */
struct strset {
	const char **items;
	size_t n, cap;
};

static bool strset_add(struct strset *set, const char *v, bool ignore_case)
{
	if (v == NULL)
		return true;
	for (size_t i = 0; i < set->n; i++)
		if ((ignore_case ? strcasecmp(set->items[i], v) : strcmp(set->items[i], v)) == 0)
			return true;
	if (set->n == set->cap) {
		size_t cap = set->cap > 0 ? set->cap * 2 : 16;
		const char **grown = realloc(set->items, cap * sizeof *grown);

		if (grown == NULL)
			return false;
		set->items = grown;
		set->cap = cap;
	}
	set->items[set->n++] = v;
	return true;
}

static int by_string(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Load one AMI of region as account uid sees it (its tags too) into f; nothing when unknown. */
static enum amicd_rc load_ami(struct store *st, struct store_asg_facts *f, const char *region, const char *uid,
			      const char *image, size_t *cap, size_t *tag_cap, size_t *n_tags, size_t **tag_start,
			      struct amicd_error *err)
{
	sqlite3_stmt *s = prep(st,
		"SELECT a.image_id, a.state, a.owner, a.created_ms, a.first_event, coalesce(a.state_event, 0),"
		" (SELECT count(*) FROM ami_shares h WHERE h.region = a.region AND h.image_id = a.image_id"
		"   AND h.account IN (?2, 'all') AND h.shared = 1),"
		" (SELECT coalesce(max(h.event_id), 0) FROM ami_shares h WHERE h.region = a.region"
		"   AND h.image_id = a.image_id AND h.account IN (?2, 'all')),"
		" (SELECT coalesce(max(t.event_id), 0) FROM ami_tags t WHERE t.region = a.region"
		"   AND t.image_id = a.image_id AND t.account = ?2)"
		" FROM amis a WHERE a.region = ?1 AND a.image_id = ?3", err);
	sqlite3_stmt *tags = prep(st, "SELECT key, value FROM ami_tags WHERE region = ?1 AND image_id = ?2"
				      " AND account = ?3 AND value IS NOT NULL ORDER BY key", err);
	struct decide_ami *a;
	const char *owner;
	int64_t last;
	enum amicd_rc rc = AMICD_OK;
	int src;

	if (s == NULL || tags == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, region, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, uid, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, image, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src != SQLITE_ROW) {
		release(s);
		return src == SQLITE_DONE ? AMICD_OK : store_db_error(st, err, "load AMIs");
	}
	if (f->in.n_amis == *cap) {
		size_t grown_cap = *cap > 0 ? *cap * 2 : 8;
		struct decide_ami *grown = realloc(f->amis, grown_cap * sizeof *grown);
		size_t *grown_start = realloc(*tag_start, grown_cap * sizeof *grown_start);

		if (grown != NULL)
			f->amis = grown;
		if (grown_start != NULL)
			*tag_start = grown_start;
		if (grown == NULL || grown_start == NULL) {
			release(s);
			return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		}
		*cap = grown_cap;
	}
	a = &f->amis[f->in.n_amis];
	memset(a, 0, sizeof *a);
	owner = (const char *)sqlite3_column_text(s, 2);
	a->image_id = keep(f, sqlite3_column_text(s, 0));
	a->state = keep(f, sqlite3_column_text(s, 1));
	a->visible = (owner != NULL && strcmp(owner, uid) == 0) || sqlite3_column_int(s, 6) > 0;
	a->created_ms = sqlite3_column_int64(s, 3);
	a->first_seen = sqlite3_column_int64(s, 4);
	last = sqlite3_column_int64(s, 5);
	if (sqlite3_column_int64(s, 7) > last)
		last = sqlite3_column_int64(s, 7);
	if (sqlite3_column_int64(s, 8) > last)
		last = sqlite3_column_int64(s, 8);
	a->last_event_id = last;
	release(s);
	(*tag_start)[f->in.n_amis] = *n_tags;
	sqlite3_bind_text(tags, 1, region, -1, SQLITE_STATIC);
	sqlite3_bind_text(tags, 2, image, -1, SQLITE_STATIC);
	sqlite3_bind_text(tags, 3, uid, -1, SQLITE_STATIC);
	while ((src = sqlite3_step(tags)) == SQLITE_ROW) {
		if (*n_tags == *tag_cap) {
			size_t grown_cap = *tag_cap > 0 ? *tag_cap * 2 : 16;
			struct decide_tag *grown = realloc(f->tags, grown_cap * sizeof *grown);

			if (grown == NULL) {
				rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
				break;
			}
			f->tags = grown;
			*tag_cap = grown_cap;
		}
		f->tags[*n_tags].key = keep(f, sqlite3_column_text(tags, 0));
		f->tags[*n_tags].value = keep(f, sqlite3_column_text(tags, 1));
		(*n_tags)++;
	}
	if (rc == AMICD_OK && src != SQLITE_DONE)
		rc = store_db_error(st, err, "load AMI tags");
	release(tags);
	if (rc != AMICD_OK)
		return rc;
	a->n_tags = *n_tags - (*tag_start)[f->in.n_amis];
	f->in.n_amis++;
	return AMICD_OK;
}

/*
 * The AMIs a decision needs, as the ASG's account sees them: those the account
 * sees tagged tag_name = one of commits (each found through the index on the
 * tag's value, so the cost follows these commits, not the region's history),
 * and the pinned one.
 */
static enum amicd_rc load_amis(struct store *st, struct store_asg_facts *f, const char *region, const char *uid,
			       const char *tag_name, const char *pin_image, const struct strset *commits,
			       struct amicd_error *err)
{
	sqlite3_stmt *s = prep(st, "SELECT image_id FROM ami_tags WHERE region = ?1 AND account = ?2 AND key = ?3"
				   " AND lower(value) = lower(?4)", err);
	struct strset images = { 0 };
	char **found = NULL;
	size_t n_found = 0, cap = 0, tag_cap = 0, n_tags = 0;
	size_t *tag_start = NULL;
	enum amicd_rc rc = AMICD_OK;

	if (s == NULL)
		return AMICD_ERR_STORE;
	for (size_t c = 0; c < commits->n && rc == AMICD_OK; c++) {
		int src;

		sqlite3_bind_text(s, 1, region, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, uid, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, tag_name, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, commits->items[c], -1, SQLITE_STATIC);
		while ((src = sqlite3_step(s)) == SQLITE_ROW) {
			char **grown = realloc(found, (n_found + 1) * sizeof *grown);
			char *copy = strdup((const char *)sqlite3_column_text(s, 0));

			if (grown != NULL)
				found = grown;
			if (grown == NULL || copy == NULL) {
				free(copy);
				src = SQLITE_NOMEM;
				break;
			}
			found[n_found++] = copy;
		}
		release(s);
		if (src == SQLITE_NOMEM)
			rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		else if (src != SQLITE_DONE)
			rc = store_db_error(st, err, "find the AMIs of a commit");
	}
	for (size_t i = 0; i < n_found && rc == AMICD_OK; i++)
		if (!strset_add(&images, found[i], false))
			rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	if (rc == AMICD_OK && !strset_add(&images, pin_image, false))
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	if (rc == AMICD_OK && images.n > 1)
		qsort(images.items, images.n, sizeof *images.items, by_string);
	for (size_t i = 0; i < images.n && rc == AMICD_OK; i++)
		rc = load_ami(st, f, region, uid, images.items[i], &cap, &tag_cap, &n_tags, &tag_start, err);
	if (rc == AMICD_OK) {
		/* the tag array may have moved while growing: point each AMI at its slice now */
		for (size_t i = 0; i < f->in.n_amis; i++) {
			f->amis[i].tags = f->tags != NULL ? &f->tags[tag_start[i]] : NULL;
			if (pin_image != NULL && strcmp(f->amis[i].image_id, pin_image) == 0) {
				f->pin_ami = &f->amis[i];
				f->in.pin_ami = f->pin_ami;
			}
		}
		f->in.amis = f->amis;
	}
	for (size_t i = 0; i < n_found; i++)
		free(found[i]);
	free(found);
	free(images.items);
	free(tag_start);
	return rc;
}

static enum amicd_rc load_pin_and_state(struct store *st, struct store_asg_facts *f, const char *asg,
					struct amicd_error *err)
{
	sqlite3_stmt *s = prep(st, "SELECT commit_sha, image_id, promotion_id, promoted_at FROM pins WHERE asg = ?1", err);
	int src;

	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		f->pin.commit = keep(f, sqlite3_column_text(s, 0));
		f->pin.image_id = keep(f, sqlite3_column_text(s, 1));
		f->pin_promotion = sqlite3_column_int64(s, 2);
		snprintf(f->pin_promoted_at, sizeof f->pin_promoted_at, "%s", sqlite3_column_text(s, 3));
		f->in.pin = &f->pin;
	}
	release(s);
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		return store_db_error(st, err, "load pin");
	s = prep(st, "SELECT frozen, reason, actor, changed_at FROM asg_state WHERE asg = ?1", err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
	src = sqlite3_step(s);
	if (src == SQLITE_ROW) {
		f->asg.frozen = sqlite3_column_int(s, 0) != 0;
		f->state.frozen = f->asg.frozen;
		f->state.known = true;
		snprintf(f->state.reason, sizeof f->state.reason, "%s",
			 sqlite3_column_text(s, 1) != NULL ? (const char *)sqlite3_column_text(s, 1) : "");
		snprintf(f->state.actor, sizeof f->state.actor, "%s",
			 sqlite3_column_text(s, 2) != NULL ? (const char *)sqlite3_column_text(s, 2) : "");
		snprintf(f->state.changed_at, sizeof f->state.changed_at, "%s",
			 sqlite3_column_text(s, 3) != NULL ? (const char *)sqlite3_column_text(s, 3) : "");
	}
	release(s);
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		return store_db_error(st, err, "load ASG state");
	return AMICD_OK;
}

enum amicd_rc store_asg_facts_load(struct store *st, const struct config_asg *asg,
				   struct store_asg_facts **out, struct amicd_error *err)
{
	return store_asg_facts_load_for(st, asg, NULL, 0, out, err);
}

enum amicd_rc store_asg_facts_load_for(struct store *st, const struct config_asg *asg, const char *const *extra,
				       size_t n_extra, struct store_asg_facts **out, struct amicd_error *err)
{
	struct strset commits = { 0 };
	struct store_asg_facts *f = calloc(1, sizeof *f);
	const struct config_filter *git = asg->git;
	enum amicd_rc rc = AMICD_OK;
	size_t n_statics = 0;

	*out = NULL;
	if (f == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	f->statics = calloc(asg->n_filters + 1, sizeof *f->statics);
	if (f->statics == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < asg->n_filters; i++) {
		if (asg->filters[i].provider != FILTER_STATIC)
			continue;
		f->statics[n_statics].key = asg->filters[i].tag_name;
		f->statics[n_statics].value = asg->filters[i].value;
		n_statics++;
	}
	f->asg.policy = asg->policy == POLICY_LATEST ? DECIDE_LATEST : DECIDE_HEAD;
	f->asg.ref_commit = git->ref_is_sha ? git->ref : NULL;
	f->asg.tag_name = git->tag_name;
	f->asg.statics = f->statics;
	f->asg.n_statics = n_statics;
	f->in.asg = &f->asg;

	pthread_mutex_lock(&st->lock);
	rc = load_pin_and_state(st, f, asg->identifier, err);
	if (rc == AMICD_OK && !git->ref_is_sha)
		rc = load_head(st, f, git->url, git->ref, err);
	if (rc == AMICD_OK)
		rc = load_pushed(st, f, asg, err);
	if (rc == AMICD_OK) {
		/* the commits whose AMIs matter: the pin's, the head's, the configured one,
		 * those pushed since the pin (policy latest), and what the caller asks about */
		bool ok = strset_add(&commits, f->in.pin != NULL ? f->pin.commit : NULL, true) &&
			  strset_add(&commits, f->in.head != NULL ? f->head.commit : NULL, true) &&
			  strset_add(&commits, f->asg.ref_commit, true);

		for (size_t i = 0; ok && i < f->in.n_pushed; i++)
			ok = strset_add(&commits, f->pushed[i].commit, true);
		for (size_t i = 0; ok && i < n_extra; i++)
			ok = strset_add(&commits, extra[i], true);
		rc = ok ? load_amis(st, f, asg->region, asg->account->uid, git->tag_name, f->pin.image_id, &commits, err)
			: amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	}
	pthread_mutex_unlock(&st->lock);
	free(commits.items);
	if (rc == AMICD_OK) {
		*out = f;
		f = NULL;
	}
out:
	store_asg_facts_free(&f);
	return rc;
}

/* --- promotions, pins, triggers --------------------------------------------------------- */

enum amicd_rc store_promote(struct store *st, const char *asg, const char *commit, const char *image_id,
			    int64_t cause_event_id, const char *reason, const char *actor, int64_t now_ms,
			    int64_t *promotion_id, struct amicd_error *err)
{
	char ts[32];
	sqlite3_stmt *s;
	enum amicd_rc rc;

	util_format_time_s(now_ms, ts, sizeof ts);
	s = prep(st, "INSERT INTO promotions (asg, commit_sha, image_id, previous_commit, previous_image,"
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
	rc = step_done(st, s, "record promotion", err);
	if (rc != AMICD_OK)
		return rc;
	*promotion_id = sqlite3_last_insert_rowid(st->db);

	s = prep(st, "INSERT INTO pins (asg, commit_sha, image_id, promotion_id, promoted_at) VALUES (?1, ?2, ?3, ?4, ?5)"
		     " ON CONFLICT (asg) DO UPDATE SET commit_sha = excluded.commit_sha, image_id = excluded.image_id,"
		     " promotion_id = excluded.promotion_id, promoted_at = excluded.promoted_at", err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, commit, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, image_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, *promotion_id);
	sqlite3_bind_text(s, 5, ts, -1, SQLITE_STATIC);
	rc = step_done(st, s, "move pin", err);
	if (rc != AMICD_OK)
		return rc;

	s = prep(st, "UPDATE triggers SET state = 'superseded', updated_at = ?2 WHERE asg = ?1 AND state = 'pending'", err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, ts, -1, SQLITE_STATIC);
	rc = step_done(st, s, "supersede triggers", err);
	if (rc != AMICD_OK)
		return rc;

	s = prep(st, "INSERT INTO triggers (promotion_id, asg, state, attempts, next_attempt_ms, updated_at, pin_written)"
		     " VALUES (?1, ?2, 'pending', 0, ?3, ?4, 0)", err);
	if (s == NULL)
		return AMICD_ERR_STORE;
	sqlite3_bind_int64(s, 1, *promotion_id);
	sqlite3_bind_text(s, 2, asg, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now_ms);
	sqlite3_bind_text(s, 4, ts, -1, SQLITE_STATIC);
	return step_done(st, s, "queue trigger", err);
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
	s = prep(st, "SELECT commit_sha, image_id, promotion_id, promoted_at FROM pins WHERE asg = ?1", err);
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
	release(s);
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
	s = prep(st, "SELECT t.promotion_id, p.asg, p.commit_sha, p.image_id, t.attempts, t.next_attempt_ms"
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
		(*n)++;
	}
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		rc = store_db_error(st, err, "due triggers");
	release(s);
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}

enum amicd_rc store_trigger_record(struct store *st, int64_t promotion_id, bool ok, const char *error,
				   bool give_up, int64_t next_attempt_ms, struct amicd_error *err)
{
	char ts[32];
	sqlite3_stmt *s;
	enum amicd_rc rc;

	util_format_time_s(util_now_ms(), ts, sizeof ts);
	rc = store_begin(st, err);
	if (rc != AMICD_OK)
		return rc;
	pthread_mutex_lock(&st->lock);
	s = prep(st, "UPDATE triggers SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3,"
		     " updated_at = ?4, state = CASE WHEN state = 'pending' THEN ?5 ELSE state END"
		     " WHERE promotion_id = ?1", err);
	if (s == NULL) {
		rc = AMICD_ERR_STORE;
		goto out;
	}
	sqlite3_bind_int64(s, 1, promotion_id);
	bind_text_or_null(s, 2, ok ? NULL : error);
	sqlite3_bind_int64(s, 3, next_attempt_ms);
	sqlite3_bind_text(s, 4, ts, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, ok ? "delivered" : give_up ? "failed" : "pending", -1, SQLITE_STATIC);
	rc = step_done(st, s, "record trigger attempt", err);
out:
	pthread_mutex_unlock(&st->lock);
	if (rc == AMICD_OK)
		rc = store_commit(st, err);
	if (rc != AMICD_OK)
		store_rollback(st);
	return rc;
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
	s = prep(st, "UPDATE triggers SET pin_written = 1 WHERE promotion_id = ?1 AND pin_written = 0", err);
	if (s == NULL) {
		rc = AMICD_ERR_STORE;
	} else {
		sqlite3_bind_int64(s, 1, promotion_id);
		rc = step_done(st, s, "mark the pin file written", err);
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
	sqlite3_stmt *s = prep(st, "INSERT INTO asg_state (asg, frozen, reason, actor, changed_at) VALUES (?1, ?2, ?3, ?4, ?5)"
				   " ON CONFLICT (asg) DO UPDATE SET frozen = excluded.frozen, reason = excluded.reason,"
				   " actor = excluded.actor, changed_at = excluded.changed_at", err);

	if (s == NULL)
		return AMICD_ERR_STORE;
	util_format_time_s(now_ms, ts, sizeof ts);
	sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, frozen);
	bind_text_or_null(s, 3, reason);
	sqlite3_bind_text(s, 4, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, ts, -1, SQLITE_STATIC);
	return step_done(st, s, "set frozen", err);
}

/* --- JSON for the API ----------------------------------------------------------------- */

enum amicd_rc store_promotions_json(struct store *st, const char *asg, int limit, json_t **out,
				    struct amicd_error *err)
{
	sqlite3_stmt *s = NULL;
	json_t *list = json_array();
	enum amicd_rc rc = AMICD_OK;
	int src;

	*out = NULL;
	pthread_mutex_lock(&st->lock);
	s = prep(st, "SELECT p.id, p.commit_sha, p.image_id, p.previous_commit, p.previous_image, p.cause_event_id,"
		     " p.reason, p.actor, p.promoted_at, t.state, t.attempts, t.last_error, t.pin_written"
		     " FROM promotions p LEFT JOIN triggers t ON t.promotion_id = p.id"
		     " WHERE p.asg = ?1 ORDER BY p.id DESC LIMIT ?2", err);
	if (s == NULL) {
		rc = AMICD_ERR_STORE;
		goto out;
	}
	sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, limit);
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		json_t *prev = sqlite3_column_type(s, 3) == SQLITE_NULL
				       ? json_null()
				       : json_pack("{s:o,s:o}", "commit", col_json(s, 3), "image_id", col_json(s, 4));

		json_array_append_new(list, json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:{s:o,s:o,s:o}}",
			"id", col_json(s, 0), "commit", col_json(s, 1), "image_id", col_json(s, 2),
			"previous", prev, "cause_event_id", col_json(s, 5), "reason", col_json(s, 6),
			"actor", col_json(s, 7), "promoted_at", col_json(s, 8),
			"trigger", "state", col_json(s, 9), "attempts", col_json(s, 10), "last_error", col_json(s, 11)));
		/* a trigger waits for its pin file: say so while it does */
		if (sqlite3_column_type(s, 12) == SQLITE_INTEGER && sqlite3_column_int(s, 12) == 0)
			json_object_set_new(json_object_get(json_array_get(list, json_array_size(list) - 1), "trigger"),
					    "waiting_for_pin_file", json_true());
	}
	if (src != SQLITE_DONE)
		rc = store_db_error(st, err, "list promotions");
	else
		*out = json_incref(list);
out:
	release(s);
	pthread_mutex_unlock(&st->lock);
	json_decref(list);
	return rc;
}

enum amicd_rc store_pushes_json(struct store *st, const char *repo, const char *branch, int limit, json_t **out,
				struct amicd_error *err)
{
	sqlite3_stmt *s = NULL;
	json_t *list = json_array();
	enum amicd_rc rc = AMICD_OK;
	int src;

	*out = NULL;
	pthread_mutex_lock(&st->lock);
	s = prep(st, "SELECT p.after_sha, p.before_sha, p.event_id, e.received_at, p.deleted, p.repo, p.branch"
		     " FROM pushes p JOIN events e ON e.id = p.event_id"
		     " WHERE (?1 IS NULL OR p.repo = ?1) AND (?2 IS NULL OR p.branch = ?2)"
		     " ORDER BY p.event_id DESC LIMIT ?3", err);
	if (s == NULL) {
		rc = AMICD_ERR_STORE;
		goto out;
	}
	bind_text_or_null(s, 1, repo);
	bind_text_or_null(s, 2, branch);
	sqlite3_bind_int(s, 3, limit);
	while ((src = sqlite3_step(s)) == SQLITE_ROW)
		json_array_append_new(list, json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:b}",
			"commit", col_json(s, 0), "before", col_json(s, 1), "event_id", col_json(s, 2),
			"received_at", col_json(s, 3), "repo", col_json(s, 5), "ref", col_json(s, 6),
			"branch_deleted", sqlite3_column_int(s, 4)));
	if (src != SQLITE_DONE)
		rc = store_db_error(st, err, "list pushes");
	else
		*out = json_incref(list);
out:
	release(s);
	pthread_mutex_unlock(&st->lock);
	json_decref(list);
	return rc;
}

enum amicd_rc store_amis_json(struct store *st, const char *commit, const char *account, int limit, json_t **out,
			      struct amicd_error *err)
{
	sqlite3_stmt *s = NULL, *shares = NULL, *tags = NULL;
	json_t *list = json_array();
	enum amicd_rc rc = AMICD_OK;
	int src;

	*out = NULL;
	pthread_mutex_lock(&st->lock);
	s = prep(st, "SELECT a.region, a.image_id, a.state, a.owner, a.created_ms, a.first_event FROM amis a"
		     " WHERE (?1 IS NULL OR EXISTS (SELECT 1 FROM ami_tags t WHERE t.region = a.region"
		     "   AND t.image_id = a.image_id AND lower(t.value) = lower(?1)))"
		     " AND (?2 IS NULL OR a.owner = ?2 OR EXISTS (SELECT 1 FROM ami_shares h WHERE h.region = a.region"
		     "   AND h.image_id = a.image_id AND h.account IN (?2, 'all') AND h.shared = 1)"
		     "   OR EXISTS (SELECT 1 FROM ami_tags t WHERE t.region = a.region AND t.image_id = a.image_id"
		     "   AND t.account = ?2))"
		     " ORDER BY a.created_ms DESC, a.first_event DESC LIMIT ?3", err);
	shares = prep(st, "SELECT account FROM ami_shares WHERE region = ?1 AND image_id = ?2 AND shared = 1"
			  " ORDER BY account", err);
	tags = prep(st, "SELECT account, key, value FROM ami_tags WHERE region = ?1 AND image_id = ?2"
			" AND value IS NOT NULL ORDER BY account, key", err);
	if (s == NULL || shares == NULL || tags == NULL) {
		rc = AMICD_ERR_STORE;
		goto out;
	}
	bind_text_or_null(s, 1, commit);
	bind_text_or_null(s, 2, account);
	sqlite3_bind_int(s, 3, limit);
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		json_t *shared_with = json_array(), *seen = json_object();
		char created[32];
		json_t *ami;

		util_format_time_s(sqlite3_column_int64(s, 4), created, sizeof created);
		sqlite3_reset(shares);
		sqlite3_bind_text(shares, 1, (const char *)sqlite3_column_text(s, 0), -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(shares, 2, (const char *)sqlite3_column_text(s, 1), -1, SQLITE_TRANSIENT);
		while (sqlite3_step(shares) == SQLITE_ROW)
			json_array_append_new(shared_with, col_json(shares, 0));
		sqlite3_reset(tags);
		sqlite3_bind_text(tags, 1, (const char *)sqlite3_column_text(s, 0), -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(tags, 2, (const char *)sqlite3_column_text(s, 1), -1, SQLITE_TRANSIENT);
		while (sqlite3_step(tags) == SQLITE_ROW) {
			const char *acct = (const char *)sqlite3_column_text(tags, 0);
			json_t *view = json_object_get(seen, acct);

			if (view == NULL) {
				view = json_object();
				json_object_set_new(seen, acct, view);
			}
			json_object_set_new(view, (const char *)sqlite3_column_text(tags, 1), col_json(tags, 2));
		}
		ami = json_pack("{s:o,s:o,s:o,s:o,s:s,s:o,s:o,s:o}", "region", col_json(s, 0), "image_id", col_json(s, 1),
				"state", col_json(s, 2), "owner", col_json(s, 3), "first_seen_at", created,
				"first_event_id", col_json(s, 5), "shared_with", shared_with, "tags_by_account", seen);
		json_array_append_new(list, ami);
	}
	if (src != SQLITE_DONE)
		rc = store_db_error(st, err, "list AMIs");
	else
		*out = json_incref(list);
out:
	release(s);
	release(shares);
	release(tags);
	pthread_mutex_unlock(&st->lock);
	json_decref(list);
	return rc;
}
