/*
 * worker.h — turns stored deliveries into facts and decisions, off the
 * request path.
 *
 * One thread: woken after each ingest commit that stored a queued event (and
 * every WORKER_IDLE_MS as a safety net), it takes the queued events in id
 * order, applies their facts, re-decides every ASG, and records promotions —
 * all in one transaction — then rewrites the pin files of the promoted ASGs and,
 * once each file is durably written, releases its trigger. A pin file that
 * cannot be written is retried every few seconds; its trigger waits. At start it repairs pin files that differ from the stored
 * pins (a crash between commit and file write) and re-decides, so an ASG added
 * to the config gets its pin from facts already stored.
 *
 * Ownership: cfg and trig are borrowed and must outlive the worker.
 */
#ifndef AMICD_WORKER_H
#define AMICD_WORKER_H

#include "apply.h"
#include "config.h"
#include "error.h"
#include "trigger.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct worker;

struct worker_stats {
	uint64_t events_processed;
	uint64_t facts_applied;
	uint64_t promotions;
	uint64_t passes;
	uint64_t pin_file_failures;      /* attempts to write a pin file that failed */
	uint64_t events_parsed;          /* queued events whose payload the worker parsed (none was offered) */
};

struct worker_health {
	bool failing;                    /* the last pass failed (it is retried) */
	int64_t failing_since_ms;
	int64_t woken_since_ms;          /* new events wait for a pass since then (0: none waits) */
	int64_t pass_since_ms;           /* the pass under way started then (0: none) */
	int64_t last_ok_ms;
	char error[256];
};

enum amicd_rc worker_start(const struct config *cfg, struct trigger *trig, struct worker **out,
			   struct amicd_error *err);

/* worker_wake — new queued events are committed: process them now (a pass
 * decides the ASGs their facts concern). Any thread. */
void worker_wake(void *worker);

/* worker_redecide — something other than new facts may change a decision (a
 * source has failed long enough): the next pass decides every ASG. Any thread. */
void worker_redecide(void *worker);

/*
 * worker_on_facts — after every pass that applied facts, call fn(cls, asgs)
 * with asgs[i] set for each ASG those facts may concern (the reconciler's
 * nudge: a head may have moved). Set once, before events flow.
 */
void worker_on_facts(struct worker *w, void (*fn)(void *, const bool *), void *cls);

/*
 * worker_offer — the facts of queued event ev->id, derived on its request path
 * (apply_event_prepare_doc), so that the worker need not parse the stored
 * payload again. Called by the ingest writer with the id the row got, before
 * the commit that makes the row visible, in increasing id order; a commit
 * that fails must withdraw its offers (worker_withdraw) before the next one.
 * Takes ev (heap-allocated). At most WORKER_OFFERED_MAX offers wait; past it
 * the oldest is dropped and its event parsed from the store instead. Any thread.
 */
void worker_offer(struct worker *w, struct apply_event *ev);

/* worker_withdraw — drop every offer for an id ≥ id (their commit failed: the ids will be reused). */
void worker_withdraw(struct worker *w, int64_t id);

/* worker_pin_changed — the pin of cfg->asgs[index] was moved by someone else (an
 * admin): rewrite its pin file and re-decide now. Any thread. */
void worker_pin_changed(struct worker *w, size_t index);

void worker_stats_get(struct worker *w, struct worker_stats *out);
void worker_health_get(struct worker *w, struct worker_health *out);

/*
 * worker_pin_file_error — true when the pin file of cfg->asgs[index] could not
 * be written at the last try (its trigger then waits); error gets why.
 */
bool worker_pin_file_error(struct worker *w, size_t index, char *error, size_t size);

/* worker_stop — finish the pass in progress, stop, free; NULL is a no-op. */
void worker_stop(struct worker **w);

#endif
