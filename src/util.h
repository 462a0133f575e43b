/*
 * util.h — small helpers with no better home: wall-clock time in milliseconds,
 * RFC 3339 formatting and parsing, bounded file reads, atomic file writes.
 *
 * Ownership: returned char * are the caller's to free(); arguments are borrowed.
 */
#ifndef AMICD_UTIL_H
#define AMICD_UTIL_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* util_now_ms — milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t util_now_ms(void);

/* util_monotonic_ns — CLOCK_MONOTONIC in nanoseconds, for durations. */
int64_t util_monotonic_ns(void);

/* util_format_time_ms — "2026-11-24T21:00:00.123Z" into buf (>= 25 bytes). */
void util_format_time_ms(int64_t ms, char *buf, size_t size);

/* util_format_time_s — "2026-11-24T21:00:00Z" into buf (>= 21 bytes). */
void util_format_time_s(int64_t ms, char *buf, size_t size);

/*
 * util_parse_time — parse RFC 3339 ("2025-03-04T08:41:17Z", optional
 * fraction, "Z" or ±hh:mm) into milliseconds since the epoch.
 * Returns true on success; *ms is untouched on failure.
 */
bool util_parse_time(const char *s, int64_t *ms);

/*
 * util_read_file — read a whole file of at most max bytes into a NUL-terminated
 * buffer (*out, caller frees; *len excludes the NUL, may be NULL).
 * Fails with AMICD_ERR_IO (missing, unreadable, larger than max).
 */
enum amicd_rc util_read_file(const char *path, size_t max, char **out, size_t *len,
			     struct amicd_error *err);

/*
 * util_write_file_atomic — replace path with data: temp file in the same
 * directory, fsync, rename over path, fsync of the directory. On any failure the
 * temp file is removed and path is untouched. Returns AMICD_OK or AMICD_ERR_IO.
 */
enum amicd_rc util_write_file_atomic(const char *path, const void *data, size_t len,
				     struct amicd_error *err);

/* util_is_hex — true when s is exactly n lower- or upper-case hex digits. */
bool util_is_hex(const char *s, size_t n);

/* util_is_commit — true for a git commit id: 40 (SHA-1) or 64 (SHA-256) hex digits, any case. */
bool util_is_commit(const char *s);

/* util_is_zero_sha — true for the 40 (SHA-1) or 64 (SHA-256) '0' digits GitLab uses for "no commit". */
bool util_is_zero_sha(const char *s);

#endif
