/*
 * log.c — JSON-lines logger on stderr (see log.h).
 *
 * Lines are written as text (jsonw.h), escaped as jansson would; the finished
 * line leaves in a single write(2).
 */
#include "log.h"

#include "jsonw.h"
#include "util.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Atomic enum log_level log_threshold = LL_INFO; /* SIGHUP may change it while threads log */

static const char *const level_names[] = { "debug", "info", "warn", "error" };

int log_set_level_name(const char *name)
{
	for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			log_threshold = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, buf, len);

		if (n <= 0)
			return; /* stderr is gone: nothing better to do */
		buf += n;
		len -= (size_t)n;
	}
}

/*
 * One field's value from ap as *spec says (spec points after "s:"); advances
 * spec past it. False for a format outside the subset log.h names.
 */
static bool field_value(struct jsonw *w, const char **spec, va_list *ap)
{
	switch (*(*spec)++) {
	case 's': {
		const char *v = va_arg(*ap, const char *);

		if (**spec == '?')
			(*spec)++;
		jsonw_string(w, v);
		return true;
	}
	case 'i':
		jsonw_int(w, va_arg(*ap, int));
		return true;
	case 'I':
		jsonw_int(w, (long long)va_arg(*ap, json_int_t));
		return true;
	case 'f':
		jsonw_real(w, va_arg(*ap, double), 6);
		return true;
	case 'b':
		jsonw_bool(w, va_arg(*ap, int) != 0);
		return true;
	default:
		return false;
	}
}

/* The caller's fields, "{s:T,s:T,...}", as members of the object being written. */
static void fields(struct jsonw *w, const char *fmt, va_list *ap)
{
	const char *p = fmt;

	if (*p++ != '{')
		goto bad;
	while (*p != '}') {
		if (p[0] != 's' || p[1] != ':')
			goto bad;
		jsonw_key(w, va_arg(*ap, const char *));
		p += 2;
		if (!field_value(w, &p, ap)) {
			jsonw_null(w); /* the key written needs a value; what ap holds next is unknown */
			goto bad;
		}
		if (*p == ',')
			p++;
		else if (*p != '}')
			goto bad;
	}
	return;
bad:
	jsonw_key(w, "log_error");
	jsonw_string(w, "unsupported field format");
	jsonw_key(w, "log_format");
	jsonw_string(w, fmt);
}

void log_emit(enum log_level level, const char *msg, const char *fields_fmt, ...)
{
	struct jsonw w = { 0 };
	char ts[32];
	char *text;
	size_t len;
	va_list ap;

	util_format_time_ms(util_now_ms(), ts, sizeof ts);
	jsonw_begin_object(&w);
	jsonw_key(&w, "ts");
	jsonw_string(&w, ts);
	jsonw_key(&w, "level");
	jsonw_string(&w, level_names[level]);
	jsonw_key(&w, "msg");
	jsonw_string(&w, msg);
	if (fields_fmt != NULL) {
		va_start(ap, fields_fmt);
		fields(&w, fields_fmt, &ap);
		va_end(ap);
	}
	jsonw_end_object(&w);
	jsonw_raw(&w, "\n", 1);
	text = jsonw_finish(&w, &len);
	if (text != NULL)
		write_all(text, len);
	free(text);
}
