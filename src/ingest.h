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
 * Ownership: an item and the memory it points to are the caller's and must
 * stay valid until done() is called; done() is called exactly once per
 * accepted item, from the writer thread.
 */
#ifndef AMICD_INGEST_H
#define AMICD_INGEST_H

#include "error.h"
#include "store.h"

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

/* Called by the writer thread after each successful commit that stored at
 * least one new queued event (the worker's wake-up). May be NULL. */
typedef void (*ingest_commit_fn)(void *cls);

/*
 * ingest_start — open the store at db_path for writing and start the writer.
 * max_queued bounds the items accepted and not yet done (waiting or being
 * written; past it ingest_submit answers AMICD_ERR_BUSY); rejected_keep bounds
 * rejected_deliveries.
 */
enum amicd_rc ingest_start(const char *db_path, int busy_timeout_ms, size_t max_queued,
			   size_t rejected_keep, ingest_commit_fn on_commit, void *on_commit_cls,
			   struct ingest **out, struct amicd_error *err);

/*
 * ingest_submit — queue item. AMICD_OK: done() will be called. AMICD_ERR_BUSY:
 * the queue is full or ingest is stopping; done() will not be called.
 */
enum amicd_rc ingest_submit(struct ingest *ig, struct ingest_item *item);

/* ingest_stats_get — a snapshot of the counters. */
void ingest_stats_get(struct ingest *ig, struct ingest_stats *out);

/*
 * ingest_stop — refuse new items, commit what is queued, stop the writer, close
 * the store, free *ig and set it to NULL. NULL is a no-op.
 */
void ingest_stop(struct ingest **ig);

#endif
