/*
 * log.h — structured logging: one JSON object per line on stderr.
 *
 * Every line has "ts" (RFC 3339, UTC, milliseconds), "level" and "msg", then
 * the caller's fields, given in jansson's pack notation for an object (the
 * subset "s:s", "s:s?" (NULL: null), "s:i" (int), "s:I" (json_int_t), "s:f"
 * (double, 6 significant digits) and "s:b" (int as a boolean)), written
 * straight to text (jsonw.h) — a line is made for every delivery:
 *
 *     LOG(LL_INFO, "delivery stored", "{s:I,s:s}", "event_id", (json_int_t)id, "kind", kind);
 *     LOG(LL_WARN, "checkpoint slow", NULL);
 *
 * The level is checked before anything is formatted. Secrets must never be
 * passed as fields: config values that are secrets are not reachable as
 * strings from anywhere but auth.c. Lines are written with one write(2), so
 * concurrent threads never interleave within a line.
 */
#ifndef AMICD_LOG_H
#define AMICD_LOG_H

#include <jansson.h> /* LOG's fields are json_pack's types (json_int_t) */

enum log_level { LL_DEBUG = 0, LL_INFO, LL_WARN, LL_ERROR };

extern _Atomic enum log_level log_threshold;

#define LOG(lvl, msg, ...)                                   \
	do {                                                 \
		if ((lvl) >= log_threshold)                  \
			log_emit((lvl), (msg), __VA_ARGS__); \
	} while (0)

/* log_emit — format and write one line; use LOG() so the level is checked first. */
void log_emit(enum log_level level, const char *msg, const char *fields_fmt, ...);

/*
 * log_set_level_name — set the threshold from "debug", "info", "warn" or
 * "error". Returns 0, or -1 (threshold unchanged) for another name.
 */
int log_set_level_name(const char *name);

#endif
