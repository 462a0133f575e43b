/*
 * trigger.h — delivers the trigger outbox: for each promotion, tell
 * terraform-resources to apply the new pin (design §6).
 *
 * One thread takes the due rows of the outbox (table triggers), makes one
 * attempt each — a POST to trigger.url with Idempotency-Key
 * amicd-promotion-<id> (amicd-promotion-<id>-<n> for the n-th attempt series,
 * which an admin's retrigger starts: store_trigger_retrigger), or trigger.command run without a shell with the
 * AMICD_* environment, killed after timeout_seconds — and records it. A failed
 * attempt is retried after 1 s, doubling, capped at backoff_max_seconds, up to
 * max_attempts; the due time is stored, so retries survive restarts. A newer
 * promotion of the same ASG supersedes an undelivered older one (store_promote).
 *
 * Ownership: cfg is borrowed and must outlive the trigger.
 */
#ifndef AMICD_TRIGGER_H
#define AMICD_TRIGGER_H

#include "config.h"
#include "error.h"

#include <stdint.h>

struct trigger;

struct trigger_stats {
	uint64_t delivered;
	uint64_t failed_attempts;
	uint64_t gave_up;
};

enum amicd_rc trigger_start(const struct config *cfg, struct trigger **out, struct amicd_error *err);

/* trigger_wake — a trigger became due (its promotion's pin file is written): look at the outbox now. */
void trigger_wake(struct trigger *t);

void trigger_stats_get(struct trigger *t, struct trigger_stats *out);

/* trigger_stop — abort the attempt in progress (it stays pending), stop, free; NULL is a no-op. */
void trigger_stop(struct trigger **t);

/* trigger_backoff_ms — the wait before the next attempt after `attempts` failed ones. */
int64_t trigger_backoff_ms(int attempts, int backoff_max_seconds);

#endif
