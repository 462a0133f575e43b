/*
 * jsonw.c — JSON text without a DOM (see jsonw.h).
 */
#include "jsonw.h"

#include "utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(struct jsonw *w, size_t more)
{
	size_t cap;
	char *grown;

	if (w->failed)
		return false;
	if (w->len + more + 1 <= w->cap)
		return true;
	cap = w->cap > 0 ? w->cap : 256;
	while (cap < w->len + more + 1)
		cap *= 2;
	grown = realloc(w->buf, cap);
	if (grown == NULL) {
		w->failed = true;
		return false;
	}
	w->buf = grown;
	w->cap = cap;
	return true;
}

void jsonw_raw(struct jsonw *w, const char *text, size_t len)
{
	if (!reserve(w, len))
		return;
	memcpy(w->buf + w->len, text, len);
	w->len += len;
	w->buf[w->len] = '\0';
}

static void separate(struct jsonw *w)
{
	if (w->need_comma)
		jsonw_raw(w, ",", 1);
	w->need_comma = true;
}

void jsonw_begin_object(struct jsonw *w)
{
	separate(w);
	jsonw_raw(w, "{", 1);
	w->need_comma = false;
}

void jsonw_end_object(struct jsonw *w)
{
	jsonw_raw(w, "}", 1);
	w->need_comma = true;
}

/* s as a JSON string, escaped as jansson escapes (no ASCII-only, no slash escaping). */
static void quoted(struct jsonw *w, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *run = s;
	const unsigned char *p;

	jsonw_raw(w, "\"", 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		char esc[7];
		size_t n = 2;

		if (*p >= 0x20 && *p != '"' && *p != '\\')
			continue;
		jsonw_raw(w, run, (size_t)((const char *)p - run));
		run = (const char *)p + 1;
		esc[0] = '\\';
		switch (*p) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 0xf];
			n = 6;
		}
		jsonw_raw(w, esc, n);
	}
	jsonw_raw(w, run, (size_t)((const char *)p - run));
	jsonw_raw(w, "\"", 1);
}

static void text(struct jsonw *w, const char *s)
{
	char *escaped;

	if (utf8_valid(s, strlen(s))) {
		quoted(w, s);
		return;
	}
	escaped = utf8_escape(s);
	if (escaped == NULL) {
		w->failed = true;
		return;
	}
	quoted(w, escaped);
	free(escaped);
}

void jsonw_key(struct jsonw *w, const char *name)
{
	separate(w);
	text(w, name != NULL ? name : "");
	jsonw_raw(w, ":", 1);
	w->need_comma = false;
}

void jsonw_string(struct jsonw *w, const char *s)
{
	if (s == NULL) {
		jsonw_null(w);
		return;
	}
	separate(w);
	text(w, s);
}

void jsonw_int(struct jsonw *w, long long v)
{
	char num[24];
	int n = snprintf(num, sizeof num, "%lld", v);

	separate(w);
	jsonw_raw(w, num, (size_t)n);
}

/* As jansson's jsonp_dtostr: "%.*g", then ".0" when it reads as an integer, and
 * the exponent without '+' or leading zeros. Not finite: null (jansson has no such reals). */
void jsonw_real(struct jsonw *w, double v, int precision)
{
	char num[64], out[64];
	size_t o = 0;
	int n;

	if (!isfinite(v)) {
		jsonw_null(w);
		return;
	}
	n = snprintf(num, sizeof num, "%.*g", precision > 0 ? precision : 17, v);
	if (n < 0 || (size_t)n >= sizeof num) {
		w->failed = true;
		return;
	}
	if (strpbrk(num, ".e") == NULL) {
		memcpy(num + n, ".0", 3);
		n += 2;
	}
	for (const char *p = num; *p != '\0'; p++) {
		out[o++] = *p;
		if (*p != 'e')
			continue;
		if (p[1] == '+')
			p++;
		else if (p[1] == '-')
			out[o++] = *++p;
		while (p[1] == '0' && p[2] != '\0')
			p++;
	}
	separate(w);
	jsonw_raw(w, out, o);
}

void jsonw_bool(struct jsonw *w, bool v)
{
	separate(w);
	jsonw_raw(w, v ? "true" : "false", v ? 4 : 5);
}

void jsonw_null(struct jsonw *w)
{
	separate(w);
	jsonw_raw(w, "null", 4);
}

char *jsonw_finish(struct jsonw *w, size_t *len)
{
	char *buf;

	if (!w->failed && w->buf == NULL)
		jsonw_raw(w, "", 0);
	if (w->failed) {
		jsonw_discard(w);
		return NULL;
	}
	buf = w->buf;
	if (len != NULL)
		*len = w->len;
	memset(w, 0, sizeof *w);
	return buf;
}

void jsonw_discard(struct jsonw *w)
{
	free(w->buf);
	memset(w, 0, sizeof *w);
}
