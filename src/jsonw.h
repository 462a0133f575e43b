/*
 * jsonw.h — JSON text written straight into a growing buffer, for the few
 * small documents made on every request (a delivery's stored headers, its
 * answer, its log line), where building a jansson DOM only to dump it cost more
 * than the rest of the answer. The text is what json_dumps(JSON_COMPACT) writes
 * for the same values: strings escaped the same way, reals as
 * JSON_REAL_PRECISION(n) prints them.
 *
 * A string that is not valid UTF-8 is written as utf8_escape() shows it (JSON
 * strings must be UTF-8), as everywhere else in amicd.
 *
 * Errors are sticky: after a failed allocation every call is a no-op and
 * jsonw_finish returns NULL. Ownership: jsonw_finish hands the buffer to the
 * caller (free()); jsonw_discard frees it.
 */
#ifndef AMICD_JSONW_H
#define AMICD_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jsonw {
	char *buf;
	size_t len, cap;
	bool failed;
	bool need_comma;      /* the next member or element needs a ',' first */
};

void jsonw_raw(struct jsonw *w, const char *text, size_t len);
void jsonw_begin_object(struct jsonw *w);
void jsonw_end_object(struct jsonw *w);
/* jsonw_key — the name of the next member (its value follows with one of the calls below). */
void jsonw_key(struct jsonw *w, const char *name);
void jsonw_string(struct jsonw *w, const char *s);   /* NULL: null */
void jsonw_int(struct jsonw *w, long long v);
void jsonw_real(struct jsonw *w, double v, int precision);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);

/* jsonw_finish — the NUL-terminated text (its length in *len, may be NULL), or NULL when an allocation failed. */
char *jsonw_finish(struct jsonw *w, size_t *len);
void jsonw_discard(struct jsonw *w);

#endif
