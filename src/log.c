/*
 * log.c — JSON-lines logger on stderr (see log.h).
 *
 * Formatting goes through jansson so every string is escaped correctly; the
 * finished line leaves in a single write(2).
 */
#include "log.h"

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

void log_emit(enum log_level level, const char *msg, const char *fields_fmt, ...)
{
	char ts[32];
	json_t *line = NULL;
	json_t *fields = NULL;
	char *text = NULL;
	json_error_t jerr;
	va_list ap;

	util_format_time_ms(util_now_ms(), ts, sizeof ts);
	line = json_pack("{s:s,s:s,s:s}", "ts", ts, "level", level_names[level], "msg", msg);
	if (line == NULL)
		goto out;
	if (fields_fmt != NULL) {
		va_start(ap, fields_fmt);
		fields = json_vpack_ex(&jerr, 0, fields_fmt, ap);
		va_end(ap);
		if (fields != NULL)
			json_object_update(line, fields);
		else
			json_object_set_new(line, "log_error", json_string(jerr.text));
	}
	text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	if (text == NULL)
		goto out;
	{
		size_t len = strlen(text);

		text[len] = '\n'; /* replaces the NUL: the buffer is len + 1 bytes */
		write_all(text, len + 1);
	}
out:
	free(text);
	json_decref(fields);
	json_decref(line);
}
