/*
 * ingest.h — group commit for deliveries: the only path by which the inbox is
 * written while serving.
 *
 * Request threads hand a filled struct ingest_item to ingest_submit() and go
 * back to serving; one writer thread takes everything queued, writes it in one
 * transaction (one WAL fsync for the whole batch) and then calls each item's
 * done() with the outcome. Batches form by themselves: while one commit is
 * syncing, new deliveries queue up for the next. No item is reported done
 * before the transaction holding it has committed (synchronous=FULL), so a 2xx
 * sent from done() is durable. When the commit fails, every item of the batch
 * gets the error and nothing of the batch is stored.
 *
 * Health: while commits fail (a full disk, I/O errors) ingest is "failing";
 * the writer then probes the database with a small write every second when
 * it has nothing else to do, so a recovery is noticed without waiting for a
 * delivery. The database file being deleted or replaced under amicd (checked
 * after every commit and every second) fails every later batch, for good: a
 * commit into a file no one can see must never be acknowledged.
 *
 * Ownership: an item and the memory it points to are the caller's and must
 * stay valid until done() is called; done() is called exactly once per
 * accepted item, from the writer thread.
 */
#ifndef AMICD_INGEST_H
#define AMICD_INGEST_H

#include "error.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>

struct ingest;
struct ingest_item;

typedef void (*ingest_done_fn)(struct ingest_item *item, enum amicd_rc rc,
			       const struct amicd_error *err);

enum ingest_kind { INGEST_EVENT, INGEST_REJECTED };

struct ingest_item {
	enum ingest_kind kind;
	struct store_event event;       /* INGEST_EVENT: id/duplicate filled on success */
	struct store_rejected rejected; /* INGEST_REJECTED */
	ingest_done_fn done;
	/* INGEST_EVENT, may be NULL: called on the writer thread once a new queued
	 * event's row has its id (not for a duplicate), before the commit that makes
	 * it visible; if that commit fails, done() gets the error and the id may be
	 * given again to a later delivery. */
	void (*stored)(struct ingest_item *item);
	void *cls;                      /* the caller's; ingest never touches it */
	struct ingest_item *next;       /* private to ingest */
};

struct ingest_stats {
	uint64_t batches;
	uint64_t items;
	uint64_t failed_batches;
	uint64_t max_batch;
	uint64_t queued;                /* items waiting now */
};

struct ingest_health {
	bool failing;                   /* the last commit or probe failed */
	bool db_moved;                  /* the database file is gone or replaced (until restart) */
	int64_t failing_since_ms;       /* when the current failure began (0: not failing) */
	int64_t last_ok_ms;             /* the last successful commit or probe (0: none yet) */
	int64_t waiting_since_ms;       /* the oldest delivery not yet taken by the writer (0: none) */
	int64_t writing_since_ms;       /* the commit under way started then (0: none) */
	char error[256];                /* the last failure, for /readyz and the log */
};

/* Called by the writer thread after each successful commit that stored at
 * least one new queued event (the worker's wake-up). May be NULL. */
typedef void (*ingest_commit_fn)(void *cls);

struct ingest_options {
	const char *db_path;
	int busy_timeout_ms;
	size_t max_queued;              /* items accepted and not yet done; past it AMICD_ERR_BUSY */
	size_t rejected_keep;           /* rows kept in rejected_deliveries … */
	size_t rejected_keep_bytes;     /* … and bytes of their bodies */
	ingest_commit_fn on_commit;
	void *on_commit_cls;
};

/* ingest_start — open the store at opt->db_path for writing and start the writer. */
enum amicd_rc ingest_start(const struct ingest_options *opt, struct ingest **out, struct amicd_error *err);

/*
 * ingest_submit — queue item. AMICD_OK: done() will be called. AMICD_ERR_BUSY:
 * the queue is full or ingest is stopping; done() will not be called.
 */
enum amicd_rc ingest_submit(struct ingest *ig, struct ingest_item *item);

/* ingest_stats_get, ingest_health_get — snapshots. */
void ingest_stats_get(struct ingest *ig, struct ingest_stats *out);
void ingest_health_get(struct ingest *ig, struct ingest_health *out);

/*
 * ingest_drain — refuse new items, write those queued (each gets its done()),
 * and stop the writer thread. ig stays valid (ingest_submit answers
 * AMICD_ERR_BUSY) until ingest_stop. Idempotent.
 */
void ingest_drain(struct ingest *ig);

/* ingest_stop — ingest_drain, close the store, free *ig and set it to NULL. NULL is a no-op. */
void ingest_stop(struct ingest **ig);

#endif
