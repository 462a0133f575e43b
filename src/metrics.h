/*
 * metrics.h — in-process counters for GET /metrics (Prometheus text format):
 * deliveries by endpoint and outcome, and the delivery latency histogram.
 * Everything else /metrics shows is read at scrape time from the store and the
 * other modules' stats.
 *
 * Thread-safe: counters are atomics. Ownership: metrics_new's result is the
 * caller's (metrics_free).
 */
#ifndef AMICD_METRICS_H
#define AMICD_METRICS_H

#include <stdint.h>
#include <stdio.h>

enum metrics_endpoint { METRICS_GITLAB = 0, METRICS_EVENTBRIDGE, METRICS_ENDPOINTS };

struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics **m);

/*
 * metrics_delivery — one answered delivery: outcome is the handler's tag
 * ("duplicate", "ignored") or NULL to derive it from status (202 queued, 400
 * rejected, 401 unauthorized, 413 too_large, 415 unsupported_media_type, 405
 * method_not_allowed, 503 unavailable).
 */
void metrics_delivery(struct metrics *m, enum metrics_endpoint ep, const char *outcome, unsigned status,
		      double seconds);

/*
 * metrics_source — one request of the reconciler to a source ("gitlab-api",
 * "ec2-api", "sts") and its outcome ("ok", "retry", "failing"), with its
 * duration; metrics_source_ok — the source answered at now_ms.
 */
void metrics_source(struct metrics *m, const char *source, const char *outcome, double seconds);
void metrics_source_ok(struct metrics *m, const char *source, int64_t now_ms);

/* metrics_write — the delivery counters and histogram, Prometheus text, to out. */
void metrics_write(struct metrics *m, FILE *out);

#endif
