/*
 * utf8.h — UTF-8 checks and repairs for bytes that come from outside (request
 * lines, header names and values) or that were cut at a fixed buffer size.
 * JSON strings must be valid UTF-8: jansson refuses anything else, so a
 * string that is not checked first turns an answer into a 500 or a log line
 * into one without its fields.
 *
 * Pure: no I/O. Ownership: utf8_escape's result is the caller's to free.
 */
#ifndef AMICD_UTF8_H
#define AMICD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* utf8_valid — true when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates, no NUL). */
bool utf8_valid(const char *s, size_t len);

/*
 * utf8_escape — a copy of the NUL-terminated s in which every byte that is not
 * part of a well-formed UTF-8 sequence, and every backslash, is written as
 * "\xNN" (so the escaping is reversible and two different inputs never give the
 * same output). NULL on out of memory.
 */
char *utf8_escape(const char *s);

/*
 * utf8_repair — make the NUL-terminated buf valid UTF-8 in place: a sequence
 * cut at the end (by snprintf into a fixed buffer) is dropped, and any other
 * byte that is not well-formed is replaced by '?'. The length never grows.
 */
void utf8_repair(char *buf);

/*
 * utf8_copy — snprintf-like copy of src into dst (size > 0) that never cuts a
 * UTF-8 sequence in two: on truncation it ends at a code-point boundary.
 */
void utf8_copy(char *dst, size_t size, const char *src);

#endif
