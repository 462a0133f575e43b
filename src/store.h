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
 * What the store returns is data (the structs below), never JSON: rendering
 * is the REST API's. The derived side that speaks the decision engine's types
 * (facts in, decision input out) is declared in store_facts.h.
 *
 * Ownership: arguments are borrowed; lists and rows returned are the caller's,
 * released with their *_free function; store_close() takes the store and
 * clears the caller's pointer.
 */
#ifndef AMICD_STORE_H
#define AMICD_STORE_H

#include "error.h"

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

/* --- the reconciler's questions and their sources' health (store_reconcile.c) --- */

#define STORE_QUESTION_MAX 512

/* The key of "what is the head of repo/branch?" asked of GitLab. */
void store_question_branch(char *buf, size_t size, const char *repo, const char *branch);

/* How a source last answered one question (a row of source_checks). */
struct store_source_check {
	bool found;                 /* asked at least once */
	char source[16];            /* "gitlab-api" or "ec2-api" */
	char answer_sha256[65];     /* of the last answer, "" when none */
	int64_t last_checked_ms;    /* the last answer's request time, 0 when none */
	int64_t last_ok_ms;
	int64_t failing_since_ms;   /* 0: not failing */
	char last_error[320];       /* "" when none */
};

/* store_source_check_get — the row of question; out->found false when there is none. */
enum amicd_rc store_source_check_get(struct store *st, const char *question, struct store_source_check *out,
				     struct amicd_error *err);

/*
 * store_source_check_put — record an answer (ok: answer_sha256 may be NULL to
 * keep the last one) or a failure (error set) of question at asked_ms, in the
 * caller's transaction or alone. A failure keeps failing_since_ms from the
 * first failure in a row; an answer clears it.
 */
enum amicd_rc store_source_check_put(struct store *st, const char *question, const char *source, int64_t asked_ms,
				     const char *answer_sha256, const char *error, struct amicd_error *err);

/* store_queued_through — whether some event with an id up to id still waits for the worker. */
enum amicd_rc store_queued_through(struct store *st, int64_t id, bool *queued, struct amicd_error *err);

/* One accepted delivery. In: everything but id/duplicate. */
struct store_event {
	const char *source;        /* "gitlab", "eventbridge"; observations: "gitlab-api", "ec2-api" */
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

/* One stored event as the API shows it; strings are NULL where none. */
struct store_event_row {
	int64_t id;
	char *source;
	char *kind;
	char *delivery_id;
	char *received_at;
	char *status;
	char *note;
	/* store_event_get only (NULL / 0 in lists) */
	char *headers_json;      /* the stored non-secret headers, a JSON object's text */
	unsigned char *payload;  /* the body as received */
	size_t payload_len;
};

/* A page of events, newest first; next is the id to pass as before for the next page (0: none). */
struct store_event_page {
	struct store_event_row *rows;
	size_t n;
	int64_t next;
};

/* store_events_list — newest first, at most limit, ids below before (0: no bound). */
enum amicd_rc store_events_list(struct store *st, int limit, int64_t before, struct store_event_page *out,
				struct amicd_error *err);
void store_event_page_free(struct store_event_page *page);

/* store_event_get — one event with its headers and payload; AMICD_ERR_NOT_FOUND. */
enum amicd_rc store_event_get(struct store *st, int64_t id, struct store_event_row *out, struct amicd_error *err);
void store_event_row_free(struct store_event_row *row);

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

/* --- promotions, pins, the trigger outbox (store_promote.c) --------------------- */

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
	char commit[72];       /* 40 or 64 hex */
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
	char commit[72];       /* 40 or 64 hex */
	char image_id[64];
	int attempts;          /* within the current series */
	int series;            /* 1: the promotion's own; n: the (n-1)-th retrigger */
};

/*
 * store_triggers_due — up to max pending triggers due at now_ms whose pin file
 * is written (store_trigger_pin_written), oldest first;
 * *next_due_ms is the earliest due time of any pending trigger (INT64_MAX: none).
 */
enum amicd_rc store_triggers_due(struct store *st, int64_t now_ms, struct store_trigger *out, size_t max,
				 size_t *n, int64_t *next_due_ms, struct amicd_error *err);

/*
 * store_trigger_record — one attempt of series made at now_ms: attempts + 1,
 * last_error, and the new state (delivered when ok; failed when give_up;
 * otherwise pending, due at next_attempt_ms); the first failure of the series
 * sets failing_since. A trigger superseded meanwhile keeps that state; an
 * attempt of a series a retrigger has replaced meanwhile is not recorded.
 */
enum amicd_rc store_trigger_record(struct store *st, int64_t promotion_id, int series, bool ok, const char *error,
				   bool give_up, int64_t next_attempt_ms, int64_t now_ms, struct amicd_error *err);

/* The trigger of one promotion as the ASG's status shows it. */
struct store_trigger_state {
	char state[16];             /* pending, delivered, failed, superseded */
	int attempts;               /* within the current series */
	int series;
	char last_error[256];       /* "" none */
	int64_t failing_since_ms;   /* 0: the series has not failed (or before migration 0007) */
	char updated_at[32];        /* the last attempt's end: when a failed trigger gave up */
};

/* store_trigger_get — the trigger of promotion_id; *found false when it has none. */
enum amicd_rc store_trigger_get(struct store *st, int64_t promotion_id, struct store_trigger_state *out,
				bool *found, struct amicd_error *err);

/*
 * store_trigger_retrigger — in the caller's transaction: start a new attempt
 * series of promotion_id's trigger (series + 1, attempts 0, pending, due at
 * now_ms) and record who asked and why (table trigger_series). *series gets the
 * new series number; AMICD_ERR_CONFLICT when the promotion has no trigger.
 */
enum amicd_rc store_trigger_retrigger(struct store *st, int64_t promotion_id, const char *actor, const char *reason,
				      int64_t now_ms, int *series, struct amicd_error *err);

/*
 * store_trigger_pin_written — in a transaction of its own: the pin file of
 * promotion_id is durably written, its trigger may go. *changed tells whether
 * a trigger was waiting for it.
 */
enum amicd_rc store_trigger_pin_written(struct store *st, int64_t promotion_id, bool *changed,
					struct amicd_error *err);

/* store_asg_frozen_set — freeze or unfreeze asg with a reason and actor, in the caller's transaction. */
enum amicd_rc store_asg_frozen_set(struct store *st, const char *asg, bool frozen, const char *reason,
				   const char *actor, int64_t now_ms, struct amicd_error *err);

/*
 * store_block_set — block commit (lower-case hex) for asg with a reason, actor
 * and time, in the caller's transaction (design §1: never a candidate for the
 * ASG until unblocked). Blocking it again replaces the reason; *was_blocked
 * (may be NULL) tells whether it already was.
 */
enum amicd_rc store_block_set(struct store *st, const char *asg, const char *commit, const char *reason,
			      const char *actor, int64_t now_ms, bool *was_blocked, struct amicd_error *err);

/* store_block_clear — unblock commit for asg, in the caller's transaction; *found: it was blocked. */
enum amicd_rc store_block_clear(struct store *st, const char *asg, const char *commit, bool *found,
				struct amicd_error *err);

/* --- queries for the REST API and /metrics (store_query.c) -------------------- */

/*
 * store_commits_matching — the distinct commits (lower-case) starting with
 * prefix (lower-case hex) that amicd knows for an ASG: pushed to repo/branch,
 * tagged tag_name on an AMI in region (as any account sees it), or blocked for
 * asg. Fills at most max entries of out, in order; *n counts them all (up to
 * max + 1, so a caller asking for max can tell "more").
 */
enum amicd_rc store_commits_matching(struct store *st, const char *asg, const char *repo, const char *branch,
				     const char *region, const char *tag_name, const char *prefix,
				     char (*out)[72], size_t max, size_t *n, struct amicd_error *err);

/* One promotion of an ASG with its trigger; strings are "" where none. */
struct store_promotion_row {
	int64_t id;
	char commit[72];
	char image_id[64];
	bool has_previous;
	char previous_commit[72];
	char previous_image[64];
	int64_t cause_event_id;     /* 0: none (a manual pin) */
	char *reason;
	char actor[16];
	char promoted_at[32];
	bool has_trigger;
	char trigger_state[16];
	int trigger_attempts;
	char *trigger_last_error;   /* NULL: none */
	bool waiting_for_pin_file;  /* its trigger waits for the pin file */
	int trigger_series;         /* 1: the promotion's own; n: after n-1 retriggers */
	bool retriggered;           /* the current series is a retrigger's: */
	char retrigger_at[32];
	char retrigger_actor[16];
	char *retrigger_reason;     /* NULL unless retriggered */
};

struct store_promotion_list {
	struct store_promotion_row *rows;
	size_t n;
};

/* store_promotions_list — the newest limit promotions of asg, newest first. */
enum amicd_rc store_promotions_list(struct store *st, const char *asg, int limit, struct store_promotion_list *out,
				    struct amicd_error *err);
void store_promotion_list_free(struct store_promotion_list *list);

/* One recorded push. */
struct store_push_row {
	char commit[72];            /* after */
	char before[72];
	int64_t event_id;
	char received_at[32];
	char *repo;                 /* normal form */
	char *branch;
	bool deleted;               /* a branch deletion */
};

struct store_push_list {
	struct store_push_row *rows;
	size_t n;
};

/* store_pushes_list — pushes of repo (normal form; NULL: any) and branch (NULL: any), newest first. */
enum amicd_rc store_pushes_list(struct store *st, const char *repo, const char *branch, int limit,
				struct store_push_list *out, struct amicd_error *err);
void store_push_list_free(struct store_push_list *list);

/* A tag as one account sees it on an AMI. */
struct store_ami_tag {
	char account[16];
	char *key;
	char *value;
};

/* One AMI with its shares and the tags each account set. */
struct store_ami_row {
	char region[32];
	char image_id[64];
	char *state;                /* NULL: unknown */
	char *owner;                /* NULL: unknown */
	int64_t created_ms;
	int64_t first_event;
	char (*shared_with)[16];    /* account ids, or "all" */
	size_t n_shared;
	struct store_ami_tag *tags; /* ordered by account, then key */
	size_t n_tags;
};

struct store_ami_list {
	struct store_ami_row *rows;
	size_t n;
};

/*
 * store_amis_list — AMIs, newest first: only those some account tagged with
 * commit (any case; NULL: all), only those account (an id; NULL: any) owns,
 * has been shared or has tagged.
 */
enum amicd_rc store_amis_list(struct store *st, const char *commit, const char *account, int limit,
			      struct store_ami_list *out, struct amicd_error *err);
void store_ami_list_free(struct store_ami_list *list);

/* A count by one or two labels. */
struct store_tally {
	char label[128];
	char label2[16];
	int64_t n;
};

/* What /metrics counts in the database. */
struct store_counts {
	struct store_tally *promotions;  /* by asg (label) and actor (label2) */
	size_t n_promotions;
	struct store_tally *events;      /* by status */
	size_t n_events;
	struct store_tally *triggers;    /* by state */
	size_t n_triggers;
	int64_t queued;                  /* events waiting for the worker */
};

enum amicd_rc store_counts_get(struct store *st, struct store_counts *out, struct amicd_error *err);
void store_counts_free(struct store_counts *c);

#endif
