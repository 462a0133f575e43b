/*
 * fuzz_utf8.c — the UTF-8 checks and repairs that stand between outside bytes
 * and JSON. Properties: an escape is valid UTF-8 and different inputs escape
 * differently (it is reversible); a repair is valid and never longer; a bounded
 * copy is valid, a prefix of its input, and within its size. And what jsonw
 * writes (stored headers, answers, log lines): a string as a key and as a value
 * parses back with jansson to exactly the input when it is UTF-8, and to its
 * escape when it is not.
 */
#include "fuzz.h"

#include "jsonw.h"
#include "utf8.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* Undo utf8_escape: "\xNN" back to the byte. */
static char *unescape(const char *s)
{
	size_t n = strlen(s), o = 0;
	char *out = malloc(n + 1);

	if (out == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (s[i] == '\\' && i + 3 < n + 0 && s[i + 1] == 'x' && sscanf(s + i + 2, "%2x", &v) == 1) {
			out[o++] = (char)v;
			i += 3;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size);
	char *escaped, *back, *repaired;
	char small[17];

	if (s == NULL)
		abort();
	escaped = utf8_escape(s);
	fuzz_check(escaped != NULL && utf8_valid(escaped, strlen(escaped)));
	back = unescape(escaped);
	fuzz_check(strcmp(back, s) == 0);
	repaired = strdup(s);
	utf8_repair(repaired);
	fuzz_check(utf8_valid(repaired, strlen(repaired)) && strlen(repaired) <= strlen(s));
	if (utf8_valid(s, strlen(s)))
		fuzz_check(strcmp(repaired, s) == 0);
	{
		struct jsonw w = { 0 };
		const char *want = utf8_valid(s, strlen(s)) ? s : escaped;
		json_t *doc;
		char *text;

		jsonw_begin_object(&w);
		jsonw_key(&w, s);
		jsonw_string(&w, s);
		jsonw_end_object(&w);
		text = jsonw_finish(&w, NULL);
		fuzz_check(text != NULL);
		doc = json_loads(text, 0, NULL);
		fuzz_check(doc != NULL && json_object_size(doc) == 1);
		fuzz_check(json_is_string(json_object_get(doc, want)) &&
			   strcmp(json_string_value(json_object_get(doc, want)), want) == 0);
		json_decref(doc);
		free(text);
	}
	for (size_t cap = 1; cap <= sizeof small; cap += 5) {
		utf8_copy(small, cap, s);
		fuzz_check(strlen(small) < cap && utf8_valid(small, strlen(small)));
		if (utf8_valid(s, strlen(s)))
			fuzz_check(strncmp(small, s, strlen(small)) == 0);
	}
	free(repaired);
	free(back);
	free(escaped);
	free(s);
	return 0;
}
