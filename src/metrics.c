/*
 * metrics.c — delivery counters and latency histogram (see metrics.h).
 */
#include "metrics.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const endpoint_names[METRICS_ENDPOINTS] = { "gitlab", "eventbridge" };

static const char *const outcome_names[] = {
	"queued", "duplicate", "ignored", "rejected", "unauthorized", "too_large",
	"unsupported_media_type", "method_not_allowed", "unavailable", "other",
};
#define OUTCOMES (sizeof outcome_names / sizeof outcome_names[0])

static const double bucket_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };
#define BUCKETS (sizeof bucket_bounds / sizeof bucket_bounds[0])

static const char *const source_names[] = { "gitlab-api", "ec2-api", "sts" };
#define SOURCES (sizeof source_names / sizeof source_names[0])
static const char *const source_outcomes[] = { "ok", "retry", "failing" };
#define SOURCE_OUTCOMES (sizeof source_outcomes / sizeof source_outcomes[0])

struct metrics {
	atomic_uint_fast64_t source_requests[SOURCES][SOURCE_OUTCOMES];
	atomic_uint_fast64_t source_buckets[SOURCES][BUCKETS];
	atomic_uint_fast64_t source_sum_us[SOURCES];
	atomic_int_fast64_t source_ok_ms[SOURCES];
	atomic_uint_fast64_t deliveries[METRICS_ENDPOINTS][OUTCOMES];
	atomic_uint_fast64_t buckets[METRICS_ENDPOINTS][BUCKETS];
	atomic_uint_fast64_t count[METRICS_ENDPOINTS];
	atomic_uint_fast64_t sum_us[METRICS_ENDPOINTS];
};

struct metrics *metrics_new(void)
{
	return calloc(1, sizeof(struct metrics));
}

void metrics_free(struct metrics **m)
{
	if (m == NULL)
		return;
	free(*m);
	*m = NULL;
}

static size_t outcome_index(const char *outcome, unsigned status)
{
	const char *name = outcome;

	if (name == NULL) {
		switch (status) {
		case 202: name = "queued"; break;
		case 400: name = "rejected"; break;
		case 401: name = "unauthorized"; break;
		case 405: name = "method_not_allowed"; break;
		case 413: name = "too_large"; break;
		case 415: name = "unsupported_media_type"; break;
		case 503: name = "unavailable"; break;
		default: name = "other"; break;
		}
	}
	for (size_t i = 0; i < OUTCOMES; i++)
		if (strcmp(outcome_names[i], name) == 0)
			return i;
	return OUTCOMES - 1;
}

void metrics_delivery(struct metrics *m, enum metrics_endpoint ep, const char *outcome, unsigned status,
		      double seconds)
{
	if (m == NULL || ep >= METRICS_ENDPOINTS)
		return;
	atomic_fetch_add(&m->deliveries[ep][outcome_index(outcome, status)], 1);
	for (size_t b = 0; b < BUCKETS; b++)
		if (seconds <= bucket_bounds[b])
			atomic_fetch_add(&m->buckets[ep][b], 1);
	atomic_fetch_add(&m->count[ep], 1);
	atomic_fetch_add(&m->sum_us[ep], (uint_fast64_t)(seconds * 1e6));
}

static size_t name_index(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; name != NULL && i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return n;
}

void metrics_source(struct metrics *m, const char *source, const char *outcome, double seconds)
{
	size_t s = name_index(source_names, SOURCES, source), o = name_index(source_outcomes, SOURCE_OUTCOMES, outcome);

	if (m == NULL || s == SOURCES || o == SOURCE_OUTCOMES)
		return;
	atomic_fetch_add(&m->source_requests[s][o], 1);
	for (size_t b = 0; b < BUCKETS; b++)
		if (seconds <= bucket_bounds[b])
			atomic_fetch_add(&m->source_buckets[s][b], 1);
	atomic_fetch_add(&m->source_sum_us[s], (uint_fast64_t)(seconds * 1e6));
}

void metrics_source_ok(struct metrics *m, const char *source, int64_t now_ms)
{
	size_t s = name_index(source_names, SOURCES, source);

	if (m != NULL && s < SOURCES)
		atomic_store(&m->source_ok_ms[s], now_ms);
}

static void write_sources(struct metrics *m, FILE *out)
{
	fprintf(out, "# HELP amicd_source_requests_total Requests of the reconciler to its sources, by outcome.\n"
		     "# TYPE amicd_source_requests_total counter\n");
	for (size_t s = 0; s < SOURCES; s++)
		for (size_t o = 0; o < SOURCE_OUTCOMES; o++)
			fprintf(out, "amicd_source_requests_total{source=\"%s\",outcome=\"%s\"} %llu\n", source_names[s],
				source_outcomes[o], (unsigned long long)atomic_load(&m->source_requests[s][o]));
	fprintf(out, "# HELP amicd_source_request_duration_seconds How long a request to a source took.\n"
		     "# TYPE amicd_source_request_duration_seconds histogram\n");
	for (size_t s = 0; s < SOURCES; s++) {
		uint_fast64_t count = 0;

		for (size_t o = 0; o < SOURCE_OUTCOMES; o++)
			count += atomic_load(&m->source_requests[s][o]);
		for (size_t b = 0; b < BUCKETS; b++)
			fprintf(out, "amicd_source_request_duration_seconds_bucket{source=\"%s\",le=\"%g\"} %llu\n",
				source_names[s], bucket_bounds[b], (unsigned long long)atomic_load(&m->source_buckets[s][b]));
		fprintf(out, "amicd_source_request_duration_seconds_bucket{source=\"%s\",le=\"+Inf\"} %llu\n",
			source_names[s], (unsigned long long)count);
		fprintf(out, "amicd_source_request_duration_seconds_sum{source=\"%s\"} %.6f\n", source_names[s],
			(double)atomic_load(&m->source_sum_us[s]) / 1e6);
		fprintf(out, "amicd_source_request_duration_seconds_count{source=\"%s\"} %llu\n", source_names[s],
			(unsigned long long)count);
	}
	fprintf(out, "# HELP amicd_source_last_success_timestamp_seconds When a source last answered (0: never).\n"
		     "# TYPE amicd_source_last_success_timestamp_seconds gauge\n");
	for (size_t s = 0; s < SOURCES; s++)
		fprintf(out, "amicd_source_last_success_timestamp_seconds{source=\"%s\"} %.3f\n", source_names[s],
			(double)atomic_load(&m->source_ok_ms[s]) / 1000);
}

void metrics_write(struct metrics *m, FILE *out)
{
	write_sources(m, out);
	fprintf(out, "# HELP amicd_deliveries_total Hook deliveries answered, by endpoint and outcome.\n"
		     "# TYPE amicd_deliveries_total counter\n");
	for (int e = 0; e < METRICS_ENDPOINTS; e++)
		for (size_t o = 0; o < OUTCOMES; o++)
			fprintf(out, "amicd_deliveries_total{endpoint=\"%s\",outcome=\"%s\"} %llu\n", endpoint_names[e],
				outcome_names[o], (unsigned long long)atomic_load(&m->deliveries[e][o]));
	fprintf(out, "# HELP amicd_delivery_duration_seconds Time from a hook request's headers to its answer "
		     "(including the durable commit).\n"
		     "# TYPE amicd_delivery_duration_seconds histogram\n");
	for (int e = 0; e < METRICS_ENDPOINTS; e++) {
		for (size_t b = 0; b < BUCKETS; b++)
			fprintf(out, "amicd_delivery_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %llu\n",
				endpoint_names[e], bucket_bounds[b], (unsigned long long)atomic_load(&m->buckets[e][b]));
		fprintf(out, "amicd_delivery_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n",
			endpoint_names[e], (unsigned long long)atomic_load(&m->count[e]));
		fprintf(out, "amicd_delivery_duration_seconds_sum{endpoint=\"%s\"} %.6f\n", endpoint_names[e],
			(double)atomic_load(&m->sum_us[e]) / 1e6);
		fprintf(out, "amicd_delivery_duration_seconds_count{endpoint=\"%s\"} %llu\n", endpoint_names[e],
			(unsigned long long)atomic_load(&m->count[e]));
	}
}
