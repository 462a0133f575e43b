/*
 * store.h — amicd's SQLite store: connection set-up, schema migrations, and the
 * durable inbox of deliveries.
 *
 * A struct store is one SQLite connection (WAL, synchronous=FULL,
 * foreign_keys=ON, a bounded busy timeout). Read functions (store_events_*)
 * take the store's own lock, so a store may serve several threads; a write
 * transaction (store_begin … store_commit) belongs to the one thread that
 * began it. Any failure to write or commit is AMICD_ERR_STORE, with SQLite's
 * message in err: callers answer 503 and nothing is half-stored.
 *
 * Ownership: arguments are borrowed; returned json_t * are new references;
 * store_close() takes the store and clears the caller's pointer.
 */
#ifndef AMICD_STORE_H
#define AMICD_STORE_H

#include "config.h"
#include "decide.h"
#include "error.h"
#include "facts.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

struct store_migration {
	unsigned version;  /* NNNN of migrations/NNNN_name.sql */
	const char *name;
	const char *sql;
};

/* The migrations compiled into this binary, in order (migrations.gen.c). */
extern const struct store_migration store_migrations[];
extern const unsigned store_migrations_count;

/* One accepted delivery. In: everything but id/duplicate. */
struct store_event {
	const char *source;        /* "gitlab" or "eventbridge" */
	const char *kind;          /* "push", "tag_push", "ami_state", … */
	const char *delivery_id;   /* sender's id for it, or NULL */
	const char *dedup_key;     /* unique per source; a repeat is a duplicate */
	const char *status;        /* "queued" or "ignored" */
	const char *note;          /* why ignored, or NULL */
	const char *headers_json;  /* JSON object of the non-secret headers */
	const void *payload;
	size_t payload_len;
	char payload_sha256[65];
	int64_t received_at_ms;
	/* out */
	int64_t id;                /* the new row, or the earlier one when duplicate */
	bool duplicate;
};

/* One delivery refused as malformed (answered 400), kept for diagnosis. */
struct store_rejected {
	const char *source;
	const char *code;
	const char *message;
	const char *json_path;
	const char *headers_json;
	const void *body;
	size_t body_len;
	int64_t received_at_ms;
};

/*
 * store_open — open (creating if needed) the database at path. Returns
 * AMICD_ERR_STORE when it cannot be opened or set to WAL.
 */
enum amicd_rc store_open(const char *path, int busy_timeout_ms, struct store **out,
			 struct amicd_error *err);

/* store_close — close *st and set it to NULL; NULL or *st NULL is a no-op. */
void store_close(struct store **st);

/*
 * store_migrate — apply, in order, each migration of list not yet applied, each
 * in one transaction, recording its SHA-256. Fails with AMICD_ERR_MIGRATION,
 * changing nothing, when an applied migration is unknown to list, its checksum
 * differs, or the applied ones are not a prefix of list. *applied (may be NULL)
 * receives how many were applied now.
 */
enum amicd_rc store_migrate(struct store *st, const struct store_migration *list, size_t n,
			    unsigned *applied, struct amicd_error *err);

/* store_check_schema — AMICD_OK when every migration of list is applied unchanged. */
enum amicd_rc store_check_schema(struct store *st, const struct store_migration *list, size_t n,
				 struct amicd_error *err);

/*
 * Write transactions: BEGIN IMMEDIATE … COMMIT, or ROLLBACK (always succeeds).
 * Write transactions of all stores of the process are serialised by one mutex,
 * held from a successful store_begin until store_commit succeeds or
 * store_rollback. After a failed store_commit the caller must store_rollback,
 * which gives the mutex back whether or not SQLite still has a transaction
 * open (after SQLITE_FULL or SQLITE_IOERR at COMMIT SQLite has usually rolled
 * back by itself): the store records that it holds the mutex. store_rollback
 * on a store that holds nothing is a no-op.
 */
enum amicd_rc store_begin(struct store *st, struct amicd_error *err);
enum amicd_rc store_commit(struct store *st, struct amicd_error *err);
void store_rollback(struct store *st);

/*
 * store_event_put — insert ev inside the current transaction. When an event with
 * the same (source, dedup_key) exists, nothing is inserted, ev->duplicate is set
 * and ev->id is the existing row's.
 */
enum amicd_rc store_event_put(struct store *st, struct store_event *ev, struct amicd_error *err);

/*
 * store_rejected_put — insert rj, then keep only the newest keep rows, and of
 * those only the newest whose bodies add up to at most keep_bytes (the newest
 * row is kept whatever its size, unless keep is 0).
 */
enum amicd_rc store_rejected_put(struct store *st, const struct store_rejected *rj, size_t keep,
				 size_t keep_bytes, struct amicd_error *err);

/*
 * store_probe — a small write transaction of its own (a 4 KiB row rewritten):
 * whether the database can be written now. Used while commits fail, to notice
 * that the disk is back. AMICD_ERR_STORE with SQLite's message otherwise.
 */
enum amicd_rc store_probe(struct store *st, int64_t now_ms, struct amicd_error *err);

/*
 * store_file_moved — true when the database file or its write-ahead log is no
 * longer the file at its path (deleted, or replaced): commits would then land
 * in a file no one can see, and vanish at the next start. One stat() each.
 */
bool store_file_moved(struct store *st);

/*
 * store_events_list — newest first, at most limit, ids below before (0: no
 * bound): {"events":[{id,source,kind,delivery_id,received_at,status,note}],
 * "next": id for the next page, or null}.
 */
enum amicd_rc store_events_list(struct store *st, int limit, int64_t before, json_t **out,
				struct amicd_error *err);

/* store_event_get — one event with "payload" and "headers"; AMICD_ERR_NOT_FOUND. */
enum amicd_rc store_event_get(struct store *st, int64_t id, json_t **out, struct amicd_error *err);

/* store_count — rows of a table (events or rejected_deliveries), for tests and metrics. */
enum amicd_rc store_count(struct store *st, const char *table, int64_t *n, struct amicd_error *err);

/* --- shadows: re-deriving facts aside (store_shadow.c) ------------------------ */

/*
 * store_shadow_open — a store of its own whose derived facts (pushes, AMIs,
 * shares, tags) are private temp copies (empty, or copied from the database
 * when copy_facts) and whose event statuses are kept aside: everything the
 * facts and decisions functions write goes there, and everything else (events,
 * pins, promotions) is the database's. Close with store_close; nothing of it
 * reaches the database unless swapped in.
 */
enum amicd_rc store_shadow_open(const char *path, int busy_timeout_ms, bool copy_facts, struct store **out,
				struct amicd_error *err);

/* store_shadow_begin / store_shadow_commit — a transaction that writes only the shadow (no write lock). */
enum amicd_rc store_shadow_begin(struct store *st, struct amicd_error *err);
enum amicd_rc store_shadow_commit(struct store *st, struct amicd_error *err);

/*
 * store_shadow_swap — inside store_begin on the shadow: make the database's
 * facts and event statuses equal to the shadow's, writing only the rows that
 * differ (*changed counts them). Decisions made afterwards in the same
 * transaction see the swapped facts.
 */
enum amicd_rc store_shadow_swap(struct store *st, int64_t *changed, struct amicd_error *err);

/* store_max_event_id — the newest stored event's id (0: none). */
enum amicd_rc store_max_event_id(struct store *st, int64_t *max_id, struct amicd_error *err);

/* --- facts, decisions, promotions (store_facts.c) ---------------------------- */

/* A queued event, handed to the worker (borrowed for the callback's duration). */
struct store_queued {
	int64_t id;
	const char *source;
	const char *kind;
	const void *payload;
	size_t payload_len;
};

/*
 * store_events_walk — call fn for up to limit events of status "queued" with
 * ids from from_id to to_id (0: no upper bound), oldest first, inside the
 * caller's transaction. A non-AMICD_OK return from fn stops the walk and is
 * returned. With all set, every event is visited whatever its status (replay).
 */
enum amicd_rc store_events_walk(struct store *st, bool all, int64_t from_id, int64_t to_id, int limit,
				enum amicd_rc (*fn)(const struct store_queued *ev, void *cls), void *cls,
				struct amicd_error *err);


/* store_metrics_json — counts for /metrics: {promotions:[{asg,actor,count}], events:{status:n}, triggers:{state:n}}. */
enum amicd_rc store_metrics_json(struct store *st, json_t **out, struct amicd_error *err);

/* store_event_set_status — "processed", "ignored" or "failed", with a note (may be NULL). */
enum amicd_rc store_event_set_status(struct store *st, int64_t id, const char *status, const char *note,
				     struct amicd_error *err);

/* store_fact_apply — apply one fact of event_id (last writer wins by time, then id). */
enum amicd_rc store_fact_apply(struct store *st, const struct fact *f, int64_t event_id, struct amicd_error *err);

/* The facts about one ASG, loaded for the decision engine. */
struct store_asg_facts;

/*
 * store_asg_facts_load — head, pushed commits, pin and frozen flag of asg, and
 * the AMIs of the ASG's region that its account sees tagged with the commits a
 * decision needs (pin, head, configured commit, those pushed since the pin),
 * plus the pinned AMI. Free with
 * store_asg_facts_free.
 */
enum amicd_rc store_asg_facts_load(struct store *st, const struct config_asg *asg,
				   struct store_asg_facts **out, struct amicd_error *err);
/*
 * store_asg_facts_load_for — the same, with the AMIs of n_extra more commits
 * (extra[i] borrowed), for readiness asked about commits the decision itself
 * does not need (a manual pin, the API's lists).
 */
enum amicd_rc store_asg_facts_load_for(struct store *st, const struct config_asg *asg, const char *const *extra,
				       size_t n_extra, struct store_asg_facts **out, struct amicd_error *err);
const struct decide_input *store_asg_facts_input(const struct store_asg_facts *f);
/* The head push's event id and receipt time ("" when no head). */
int64_t store_asg_facts_head_event(const struct store_asg_facts *f);
const char *store_asg_facts_head_received_at(const struct store_asg_facts *f);
/* The pin's promotion id and time (0 / "" when no pin). */
int64_t store_asg_facts_pin_promotion(const struct store_asg_facts *f);
const char *store_asg_facts_pin_promoted_at(const struct store_asg_facts *f);
/* The pinned AMI as the ASG's account sees it (NULL when unknown or no pin). */
const struct decide_ami *store_asg_facts_pin_ami(const struct store_asg_facts *f);
/* Whether, why, by whom and when the ASG was last frozen or unfrozen. */
struct store_asg_state {
	bool known;             /* ever frozen or unfrozen */
	bool frozen;
	char reason[256];
	char actor[16];
	char changed_at[32];
};
const struct store_asg_state *store_asg_facts_state(const struct store_asg_facts *f);
void store_asg_facts_free(struct store_asg_facts **f);

/*
 * store_promote — in the caller's transaction: record a promotion of asg to
 * commit/image (previous pin, cause, reason, actor), move the pin, supersede the
 * ASG's pending triggers and queue one for this promotion, due at now_ms once
 * its pin file is written (store_trigger_pin_written).
 */
enum amicd_rc store_promote(struct store *st, const char *asg, const char *commit, const char *image_id,
			    int64_t cause_event_id, const char *reason, const char *actor, int64_t now_ms,
			    int64_t *promotion_id, struct amicd_error *err);

struct store_pin {
	char commit[48];
	char image_id[64];
	int64_t promotion_id;
	char promoted_at[32];
};

/* store_pin_get — the pin of asg; *found false when it was never pinned. */
enum amicd_rc store_pin_get(struct store *st, const char *asg, struct store_pin *out, bool *found,
			    struct amicd_error *err);

/* A trigger due for delivery. */
struct store_trigger {
	int64_t promotion_id;
	char asg[128];
	char commit[48];
	char image_id[64];
	int attempts;
};

/*
 * store_triggers_due — up to max pending triggers due at now_ms whose pin file
 * is written (store_trigger_pin_written), oldest first;
 * *next_due_ms is the earliest due time of any pending trigger (INT64_MAX: none).
 */
enum amicd_rc store_triggers_due(struct store *st, int64_t now_ms, struct store_trigger *out, size_t max,
				 size_t *n, int64_t *next_due_ms, struct amicd_error *err);

/*
 * store_trigger_record — one attempt made: attempts + 1, last_error, and the
 * new state (delivered when ok; failed when give_up; otherwise pending, due at
 * next_attempt_ms). A trigger superseded meanwhile keeps that state.
 */
enum amicd_rc store_trigger_record(struct store *st, int64_t promotion_id, bool ok, const char *error,
				   bool give_up, int64_t next_attempt_ms, struct amicd_error *err);

/*
 * store_trigger_pin_written — in a transaction of its own: the pin file of
 * promotion_id is durably written, its trigger may go. *changed tells whether
 * a trigger was waiting for it.
 */
enum amicd_rc store_trigger_pin_written(struct store *st, int64_t promotion_id, bool *changed,
					struct amicd_error *err);

/* JSON for the REST API (new references). */
enum amicd_rc store_promotions_json(struct store *st, const char *asg, int limit, json_t **out,
				    struct amicd_error *err);
/* Pushed commits of repo (normal form) and branch, newest first: [{commit, event_id, received_at, deleted?}]. */
enum amicd_rc store_pushes_json(struct store *st, const char *repo, const char *branch, int limit, json_t **out,
				struct amicd_error *err);
/* AMIs (optionally only those tagged commit by some account, or seen by account). */
enum amicd_rc store_amis_json(struct store *st, const char *commit, const char *account, int limit, json_t **out,
			      struct amicd_error *err);

/* store_asg_frozen_set — freeze or unfreeze asg with a reason and actor, in the caller's transaction. */
enum amicd_rc store_asg_frozen_set(struct store *st, const char *asg, bool frozen, const char *reason,
				   const char *actor, int64_t now_ms, struct amicd_error *err);

#endif
