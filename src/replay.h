/*
 * replay.h — re-derive facts from the stored events and re-decide
 * (POST /api/v1/admin/replay), without stalling deliveries.
 *
 * A full replay ({}) rebuilds every fact in a shadow (store.h) on a connection
 * of its own, in chunks, holding no lock a delivery needs; then, in one short
 * write transaction, it applies the events that arrived meanwhile, swaps in
 * only the rows that differ, and decides. A replay of some events (ids or a
 * range) re-applies them to the database in chunks of short transactions —
 * facts are last-writer-wins, so every intermediate state is one the facts
 * could have been in anyway — then decides. A dry run builds the shadow
 * (from a copy of the facts, for some events) and decides on it without
 * writing anything. Replaying any events any number of times converges to the
 * same pins and never promotes twice.
 *
 * Ownership: cfg is borrowed; result->decisions is the caller's to free()
 * (also on failure: it is NULL then).
 */
#ifndef AMICD_REPLAY_H
#define AMICD_REPLAY_H

#include "apply.h"
#include "config.h"
#include "error.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum replay_kind { REPLAY_ALL, REPLAY_IDS, REPLAY_RANGE };

struct replay_request {
	enum replay_kind kind;
	const int64_t *ids;       /* REPLAY_IDS */
	size_t n_ids;
	int64_t from_id, to_id;   /* REPLAY_RANGE; to_id 0: to the newest */
	bool dry_run;
};

struct replay_result {
	size_t events;            /* events replayed */
	size_t facts;             /* facts they gave */
	size_t promotions;
	int64_t changed_rows;     /* rows a full replay changed when swapped in */
	struct apply_decision *decisions; /* one per configured ASG, in config order */
	size_t n_decisions;
};

/*
 * replay_run — as above. promoted (cfg->n_asgs entries, may be NULL) marks the
 * ASGs promoted. Gives up between chunks, changing nothing, when *cancel turns
 * true (AMICD_ERR_BUSY). AMICD_ERR_STORE when the database fails.
 */
enum amicd_rc replay_run(const struct config *cfg, const struct replay_request *rq, const atomic_bool *cancel,
			 bool *promoted, struct replay_result *out, struct amicd_error *err);

#endif
