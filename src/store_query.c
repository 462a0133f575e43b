/*
 * store_query.c — the read side of the store for the REST API and /metrics:
 * pages of stored events, one event with its payload, promotions with their
 * triggers, recorded pushes, AMIs with their shares and tags, and counts.
 * See store.h.
 *
 * Every function here reads under the store's own lock (a store may serve
 * several threads) and returns plain rows the caller frees; the API renders
 * them. Text columns are copied: nothing returned points into SQLite.
 */
#include "store.h"
#include "store_internal.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Grow *rows (of size each) to hold one more than *n; false when out of memory. */
static bool grow(void **rows, size_t size, size_t n, size_t *cap)
{
	void *grown;

	if (n < *cap)
		return true;
	*cap = *cap > 0 ? *cap * 2 : 16;
	grown = realloc(*rows, *cap * size);
	if (grown == NULL)
		return false;
	*rows = grown;
	return true;
}

/* Copy a text column into a fixed buffer ("" for NULL). */
static void column_copy(sqlite3_stmt *s, int col, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	snprintf(buf, size, "%s", t != NULL ? (const char *)t : "");
}

/*
 * collect — step s (prepared and bound by the caller) to the end, one row of
 * size bytes appended to *rows for each result row, zeroed, then filled by
 * fill (false: out of memory). The caller frees *rows, also on failure.
 */
static enum amicd_rc collect(struct store *st, sqlite3_stmt *s, size_t size, void **rows, size_t *n,
			     bool (*fill)(sqlite3_stmt *s, void *row, void *cls), void *cls, const char *what,
			     struct amicd_error *err)
{
	size_t cap = 0;
	int src;

	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		void *row;

		if (!grow(rows, size, *n, &cap))
			return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		row = (char *)*rows + *n * size;
		memset(row, 0, size);
		(*n)++;
		if (!fill(s, row, cls))
			return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	}
	if (src != SQLITE_DONE)
		return store_db_error(st, err, what);
	return AMICD_OK;
}

/* --- events ---------------------------------------------------------------------- */

void store_event_row_free(struct store_event_row *row)
{
	if (row == NULL)
		return;
	free(row->source);
	free(row->kind);
	free(row->delivery_id);
	free(row->received_at);
	free(row->status);
	free(row->note);
	free(row->headers_json);
	free(row->payload);
	memset(row, 0, sizeof *row);
}

void store_event_page_free(struct store_event_page *page)
{
	if (page == NULL)
		return;
	for (size_t i = 0; i < page->n; i++)
		store_event_row_free(&page->rows[i]);
	free(page->rows);
	memset(page, 0, sizeof *page);
}

/* The listed columns of an event (id, source, kind, delivery_id, received_at, status, note). */
static bool event_columns(sqlite3_stmt *s, struct store_event_row *row)
{
	bool nomem = false;

	memset(row, 0, sizeof *row);
	row->id = sqlite3_column_int64(s, 0);
	row->source = store_column_dup(s, 1, &nomem);
	row->kind = store_column_dup(s, 2, &nomem);
	row->delivery_id = store_column_dup(s, 3, &nomem);
	row->received_at = store_column_dup(s, 4, &nomem);
	row->status = store_column_dup(s, 5, &nomem);
	row->note = store_column_dup(s, 6, &nomem);
	return !nomem;
}

enum amicd_rc store_events_list(struct store *st, int limit, int64_t before, struct store_event_page *out,
				struct amicd_error *err)
{
	sqlite3_stmt *s;
	size_t cap = 0;
	enum amicd_rc rc = AMICD_OK;
	int src;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&st->lock);
	s = store_prep(st, "SELECT id, source, kind, delivery_id, received_at, status, note FROM events"
			   " WHERE id < ?1 ORDER BY id DESC LIMIT ?2", err);
	if (s == NULL) {
		rc = AMICD_ERR_STORE;
		goto out;
	}
	sqlite3_bind_int64(s, 1, before > 0 ? before : INT64_MAX);
	sqlite3_bind_int(s, 2, limit + 1); /* one more tells whether a next page exists */
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		if (out->n == (size_t)limit) {
			out->next = out->rows[out->n - 1].id;
			break;
		}
		if (!grow((void **)&out->rows, sizeof *out->rows, out->n, &cap) || !event_columns(s, &out->rows[out->n++])) {
			rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
			goto out;
		}
	}
	if (src != SQLITE_ROW && src != SQLITE_DONE)
		rc = store_db_error(st, err, "list events");
out:
	store_release(s);
	pthread_mutex_unlock(&st->lock);
	if (rc != AMICD_OK)
		store_event_page_free(out);
	return rc;
}

enum amicd_rc store_event_get(struct store *st, int64_t id, struct store_event_row *out, struct amicd_error *err)
{
	sqlite3_stmt *s;
	enum amicd_rc rc = AMICD_OK;
	bool nomem = false;
	int src;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&st->lock);
	s = store_prep(st, "SELECT e.id, e.source, e.kind, e.delivery_id, e.received_at, e.status, e.note, b.headers,"
			   " b.payload FROM events e JOIN event_bodies b ON b.event_id = e.id WHERE e.id = ?1", err);
	if (s == NULL) {
		rc = AMICD_ERR_STORE;
		goto out;
	}
	sqlite3_bind_int64(s, 1, id);
	src = sqlite3_step(s);
	if (src == SQLITE_DONE) {
		rc = amicd_error_set(err, AMICD_ERR_NOT_FOUND, NULL, "no event %lld", (long long)id);
		goto out;
	}
	if (src != SQLITE_ROW) {
		rc = store_db_error(st, err, "get event");
		goto out;
	}
	nomem = !event_columns(s, out);
	out->headers_json = store_column_dup(s, 7, &nomem);
	out->payload_len = (size_t)sqlite3_column_bytes(s, 8);
	out->payload = malloc(out->payload_len + 1);
	if (out->payload != NULL) {
		if (out->payload_len > 0)
			memcpy(out->payload, sqlite3_column_blob(s, 8), out->payload_len);
		out->payload[out->payload_len] = '\0';
	}
	if (nomem || out->payload == NULL)
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
out:
	store_release(s);
	pthread_mutex_unlock(&st->lock);
	if (rc != AMICD_OK)
		store_event_row_free(out);
	return rc;
}

enum amicd_rc store_count(struct store *st, const char *table, int64_t *n, struct amicd_error *err)
{
	sqlite3_stmt *s = NULL;
	enum amicd_rc rc = AMICD_OK;
	char sql[128];

	if (strcmp(table, "events") != 0 && strcmp(table, "rejected_deliveries") != 0)
		return amicd_error_set(err, AMICD_ERR_INTERNAL, NULL, "no table %s", table);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
	pthread_mutex_lock(&st->lock);
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW)
		rc = store_db_error(st, err, "count");
	else
		*n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* --- promotions and pushes ---------------------------------------------------------- */

void store_promotion_list_free(struct store_promotion_list *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->n; i++) {
		free(list->rows[i].reason);
		free(list->rows[i].trigger_last_error);
		free(list->rows[i].retrigger_reason);
	}
	free(list->rows);
	memset(list, 0, sizeof *list);
}

static bool promotion_row(sqlite3_stmt *s, void *row, void *cls)
{
	struct store_promotion_row *p = row;
	bool nomem = false;

	(void)cls;
	p->id = sqlite3_column_int64(s, 0);
	column_copy(s, 1, p->commit, sizeof p->commit);
	column_copy(s, 2, p->image_id, sizeof p->image_id);
	p->has_previous = sqlite3_column_type(s, 3) != SQLITE_NULL;
	column_copy(s, 3, p->previous_commit, sizeof p->previous_commit);
	column_copy(s, 4, p->previous_image, sizeof p->previous_image);
	p->cause_event_id = sqlite3_column_int64(s, 5);
	p->reason = store_column_dup(s, 6, &nomem);
	column_copy(s, 7, p->actor, sizeof p->actor);
	column_copy(s, 8, p->promoted_at, sizeof p->promoted_at);
	p->has_trigger = sqlite3_column_type(s, 9) != SQLITE_NULL;
	column_copy(s, 9, p->trigger_state, sizeof p->trigger_state);
	p->trigger_attempts = sqlite3_column_int(s, 10);
	p->trigger_last_error = store_column_dup(s, 11, &nomem);
	p->waiting_for_pin_file = sqlite3_column_type(s, 12) == SQLITE_INTEGER && sqlite3_column_int(s, 12) == 0;
	p->trigger_series = sqlite3_column_int(s, 13);
	p->retriggered = sqlite3_column_type(s, 14) != SQLITE_NULL;
	column_copy(s, 14, p->retrigger_at, sizeof p->retrigger_at);
	column_copy(s, 15, p->retrigger_actor, sizeof p->retrigger_actor);
	p->retrigger_reason = store_column_dup(s, 16, &nomem);
	return !nomem;
}

enum amicd_rc store_promotions_list(struct store *st, const char *asg, int limit, struct store_promotion_list *out,
				    struct amicd_error *err)
{
	sqlite3_stmt *s;
	enum amicd_rc rc = AMICD_ERR_STORE;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&st->lock);
	s = store_prep(st, "SELECT p.id, p.commit_sha, p.image_id, p.previous_commit, p.previous_image, p.cause_event_id,"
			   " p.reason, p.actor, p.promoted_at, t.state, t.attempts, t.last_error, t.pin_written,"
			   " t.series, r.at, r.actor, r.reason"
			   " FROM promotions p LEFT JOIN triggers t ON t.promotion_id = p.id"
			   " LEFT JOIN trigger_series r ON r.promotion_id = p.id AND r.series = t.series"
			   " WHERE p.asg = ?1 ORDER BY p.id DESC LIMIT ?2", err);
	if (s != NULL) {
		sqlite3_bind_text(s, 1, asg, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 2, limit);
		rc = collect(st, s, sizeof *out->rows, (void **)&out->rows, &out->n, promotion_row, NULL,
			     "list promotions", err);
	}
	store_release(s);
	pthread_mutex_unlock(&st->lock);
	if (rc != AMICD_OK)
		store_promotion_list_free(out);
	return rc;
}

void store_push_list_free(struct store_push_list *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->n; i++) {
		free(list->rows[i].repo);
		free(list->rows[i].branch);
	}
	free(list->rows);
	memset(list, 0, sizeof *list);
}

static bool push_row(sqlite3_stmt *s, void *row, void *cls)
{
	struct store_push_row *p = row;
	bool nomem = false;

	(void)cls;
	column_copy(s, 0, p->commit, sizeof p->commit);
	column_copy(s, 1, p->before, sizeof p->before);
	p->event_id = sqlite3_column_int64(s, 2);
	column_copy(s, 3, p->received_at, sizeof p->received_at);
	p->deleted = sqlite3_column_int(s, 4) != 0;
	p->repo = store_column_dup(s, 5, &nomem);
	p->branch = store_column_dup(s, 6, &nomem);
	return !nomem;
}

enum amicd_rc store_pushes_list(struct store *st, const char *repo, const char *branch, int limit,
				struct store_push_list *out, struct amicd_error *err)
{
	sqlite3_stmt *s;
	enum amicd_rc rc = AMICD_ERR_STORE;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&st->lock);
	s = store_prep(st, "SELECT p.after_sha, p.before_sha, p.event_id, e.received_at, p.deleted, p.repo, p.branch"
			   " FROM pushes p JOIN events e ON e.id = p.event_id"
			   " WHERE (?1 IS NULL OR p.repo = ?1) AND (?2 IS NULL OR p.branch = ?2)"
			   " ORDER BY p.event_id DESC LIMIT ?3", err);
	if (s != NULL) {
		store_bind_text(s, 1, repo);
		store_bind_text(s, 2, branch);
		sqlite3_bind_int(s, 3, limit);
		rc = collect(st, s, sizeof *out->rows, (void **)&out->rows, &out->n, push_row, NULL, "list pushes", err);
	}
	store_release(s);
	pthread_mutex_unlock(&st->lock);
	if (rc != AMICD_OK)
		store_push_list_free(out);
	return rc;
}

/* --- AMIs --------------------------------------------------------------------------- */

void store_ami_list_free(struct store_ami_list *list)
{
	if (list == NULL)
		return;
	for (size_t i = 0; i < list->n; i++) {
		struct store_ami_row *a = &list->rows[i];

		free(a->state);
		free(a->owner);
		free(a->shared_with);
		for (size_t t = 0; t < a->n_tags; t++) {
			free(a->tags[t].key);
			free(a->tags[t].value);
		}
		free(a->tags);
	}
	free(list->rows);
	memset(list, 0, sizeof *list);
}

static bool share_row(sqlite3_stmt *s, void *row, void *cls)
{
	(void)cls;
	column_copy(s, 0, row, sizeof(char[16]));
	return true;
}

static bool tag_row(sqlite3_stmt *s, void *row, void *cls)
{
	struct store_ami_tag *t = row;
	bool nomem = false;

	(void)cls;
	column_copy(s, 0, t->account, sizeof t->account);
	t->key = store_column_dup(s, 1, &nomem);
	t->value = store_column_dup(s, 2, &nomem);
	return !nomem;
}

struct ami_details {
	struct store *st;
	sqlite3_stmt *shares, *tags;
};

/* One AMI with its shares and the tags each account set. */
static bool ami_row(sqlite3_stmt *s, void *row, void *cls)
{
	struct ami_details *d = cls;
	struct store_ami_row *a = row;
	bool nomem = false;

	column_copy(s, 0, a->region, sizeof a->region);
	column_copy(s, 1, a->image_id, sizeof a->image_id);
	a->state = store_column_dup(s, 2, &nomem);
	a->owner = store_column_dup(s, 3, &nomem);
	a->created_ms = sqlite3_column_int64(s, 4);
	a->first_event = sqlite3_column_int64(s, 5);
	if (nomem)
		return false;
	store_release(d->shares);
	sqlite3_bind_text(d->shares, 1, a->region, -1, SQLITE_STATIC);
	sqlite3_bind_text(d->shares, 2, a->image_id, -1, SQLITE_STATIC);
	store_release(d->tags);
	sqlite3_bind_text(d->tags, 1, a->region, -1, SQLITE_STATIC);
	sqlite3_bind_text(d->tags, 2, a->image_id, -1, SQLITE_STATIC);
	/* a failed read of the details shows as fewer of them, as before; only memory fails the list */
	return collect(d->st, d->shares, sizeof *a->shared_with, (void **)&a->shared_with, &a->n_shared, share_row, NULL,
		       "list shares", NULL) != AMICD_ERR_NOMEM &&
	       collect(d->st, d->tags, sizeof *a->tags, (void **)&a->tags, &a->n_tags, tag_row, NULL, "list tags",
		       NULL) != AMICD_ERR_NOMEM;
}

/* The AMIs ?2 (an account id, NULL: any) sees: its own, shared with it or public, or tagged in it. */
#define AMIS_SEEN_BY_ACCOUNT \
	" (?2 IS NULL OR a.owner = ?2 OR EXISTS (SELECT 1 FROM ami_shares h WHERE h.region = a.region" \
	"   AND h.image_id = a.image_id AND h.account IN (?2, 'all') AND h.shared = 1)" \
	"   OR EXISTS (SELECT 1 FROM ami_tags t WHERE t.region = a.region AND t.image_id = a.image_id" \
	"   AND t.account = ?2))"
#define AMIS_LIST_COLUMNS "SELECT a.region, a.image_id, a.state, a.owner, a.created_ms, a.first_event FROM amis a"
#define AMIS_LIST_ORDER " ORDER BY a.created_ms DESC, a.first_event DESC LIMIT ?3"
/* The AMIs carrying ?1 as a tag value (any region, account or key; case-insensitive). */
#define AMIS_OF_COMMIT_SQL \
	AMIS_LIST_COLUMNS " WHERE (a.region, a.image_id) IN (SELECT t.region, t.image_id FROM ami_tags t" \
	" WHERE lower(t.value) = lower(?1) AND t.value IS NOT NULL) AND" AMIS_SEEN_BY_ACCOUNT AMIS_LIST_ORDER
#define AMIS_NEWEST_SQL AMIS_LIST_COLUMNS " WHERE" AMIS_SEEN_BY_ACCOUNT AMIS_LIST_ORDER

enum amicd_rc store_amis_list(struct store *st, const char *commit, const char *account, int limit,
			      struct store_ami_list *out, struct amicd_error *err)
{
	struct ami_details d = { .st = st };
	sqlite3_stmt *s;
	enum amicd_rc rc = AMICD_ERR_STORE;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&st->lock);
	/* Two statements, not one with "?1 IS NULL OR …": a commit's AMIs are found from the tag
	 * value (index ami_tags_by_any_lvalue), the newest AMIs in list order (amis_by_created);
	 * an OR on a parameter would have the planner read every AMI either way. */
	s = store_prep(st, commit != NULL ? AMIS_OF_COMMIT_SQL : AMIS_NEWEST_SQL, err);
	d.shares = store_prep(st, "SELECT account FROM ami_shares WHERE region = ?1 AND image_id = ?2 AND shared = 1"
				  " ORDER BY account", err);
	d.tags = store_prep(st, "SELECT account, key, value FROM ami_tags WHERE region = ?1 AND image_id = ?2"
				" AND value IS NOT NULL ORDER BY account, key", err);
	if (s != NULL && d.shares != NULL && d.tags != NULL) {
		store_bind_text(s, 1, commit);
		store_bind_text(s, 2, account);
		sqlite3_bind_int(s, 3, limit);
		rc = collect(st, s, sizeof *out->rows, (void **)&out->rows, &out->n, ami_row, &d, "list AMIs", err);
	}
	store_release(s);
	store_release(d.shares);
	store_release(d.tags);
	pthread_mutex_unlock(&st->lock);
	if (rc != AMICD_OK)
		store_ami_list_free(out);
	return rc;
}

/* --- counts for /metrics -------------------------------------------------------------- */

void store_counts_free(struct store_counts *c)
{
	if (c == NULL)
		return;
	free(c->promotions);
	free(c->events);
	free(c->triggers);
	memset(c, 0, sizeof *c);
}

static bool tally_row(sqlite3_stmt *s, void *row, void *cls)
{
	struct store_tally *t = row;
	bool two_labels = cls != NULL;

	column_copy(s, 0, t->label, sizeof t->label);
	if (two_labels)
		column_copy(s, 1, t->label2, sizeof t->label2);
	t->n = sqlite3_column_int64(s, two_labels ? 2 : 1);
	return true;
}

/* Rows of (label, [label2,] count) from sql into *rows. */
static enum amicd_rc tally(struct store *st, const char *sql, bool two_labels, struct store_tally **rows, size_t *n,
			   struct amicd_error *err)
{
	sqlite3_stmt *s = store_prep(st, sql, err);
	enum amicd_rc rc;

	if (s == NULL)
		return AMICD_ERR_STORE;
	rc = collect(st, s, sizeof **rows, (void **)rows, n, tally_row, two_labels ? (void *)st : NULL, "count", err);
	store_release(s);
	return rc;
}

enum amicd_rc store_counts_get(struct store *st, struct store_counts *out, struct amicd_error *err)
{
	enum amicd_rc rc;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&st->lock);
	rc = tally(st, "SELECT asg, actor, count(*) FROM promotions GROUP BY asg, actor ORDER BY asg, actor", true,
		   &out->promotions, &out->n_promotions, err);
	if (rc == AMICD_OK)
		rc = tally(st, "SELECT status, count(*) FROM events GROUP BY status ORDER BY status", false, &out->events,
			   &out->n_events, err);
	if (rc == AMICD_OK)
		rc = tally(st, "SELECT state, count(*) FROM triggers GROUP BY state ORDER BY state", false, &out->triggers,
			   &out->n_triggers, err);
	pthread_mutex_unlock(&st->lock);
	for (size_t i = 0; rc == AMICD_OK && i < out->n_events; i++)
		if (strcmp(out->events[i].label, "queued") == 0)
			out->queued = out->events[i].n;
	if (rc != AMICD_OK)
		store_counts_free(out);
	return rc;
}

/* --- commits by prefix (admin pin / block / unblock) ---------------------------------- */

enum amicd_rc store_commits_matching(struct store *st, const char *asg, const char *repo, const char *branch,
				     const char *region, const char *tag_name, const char *prefix,
				     char (*out)[72], size_t max, size_t *n, struct amicd_error *err)
{
	sqlite3_stmt *s;
	enum amicd_rc rc = AMICD_OK;
	int src;

	*n = 0;
	pthread_mutex_lock(&st->lock);
	s = store_prep(st, "SELECT c FROM ("
		     " SELECT lower(after_sha) AS c FROM pushes WHERE repo = ?1 AND branch = ?2 AND deleted = 0"
		     "  AND lower(substr(after_sha, 1, ?7)) = ?6"
		     " UNION SELECT lower(commit_sha) FROM branch_observations WHERE repo = ?1 AND branch = ?2"
		     "  AND commit_sha IS NOT NULL AND lower(substr(commit_sha, 1, ?7)) = ?6"
		     " UNION SELECT lower(value) FROM ami_tags WHERE region = ?3 AND key = ?4 AND value IS NOT NULL"
		     "  AND lower(substr(value, 1, ?7)) = ?6"
		     " UNION SELECT commit_sha FROM blocked_commits WHERE asg = ?5 AND substr(commit_sha, 1, ?7) = ?6)"
		     " WHERE length(c) IN (40, 64) AND c NOT GLOB '*[^0-9a-f]*' ORDER BY c LIMIT ?8", err);
	if (s == NULL) {
		rc = AMICD_ERR_STORE;
		goto out;
	}
	sqlite3_bind_text(s, 1, repo, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, branch, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, region, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, tag_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, asg, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, prefix, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 7, (int)strlen(prefix));
	sqlite3_bind_int64(s, 8, (sqlite3_int64)max + 1);
	while ((src = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n < max)
			snprintf(out[*n], sizeof out[*n], "%s", sqlite3_column_text(s, 0));
		(*n)++;
	}
	if (src != SQLITE_DONE)
		rc = store_db_error(st, err, "commits by prefix");
	store_release(s);
out:
	pthread_mutex_unlock(&st->lock);
	return rc;
}
