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

#include "error.h"

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

/* Write transactions: BEGIN IMMEDIATE … COMMIT, or ROLLBACK (always succeeds). */
enum amicd_rc store_begin(struct store *st, struct amicd_error *err);
enum amicd_rc store_commit(struct store *st, struct amicd_error *err);
void store_rollback(struct store *st);

/*
 * store_event_put — insert ev inside the current transaction. When an event with
 * the same (source, dedup_key) exists, nothing is inserted, ev->duplicate is set
 * and ev->id is the existing row's.
 */
enum amicd_rc store_event_put(struct store *st, struct store_event *ev, struct amicd_error *err);

/* store_rejected_put — insert rj, then keep only the newest keep rows. */
enum amicd_rc store_rejected_put(struct store *st, const struct store_rejected *rj, size_t keep,
				 struct amicd_error *err);

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

#endif
