/*
 * utf8.c — UTF-8 checks and repairs (see utf8.h). Pure: no I/O.
 */
#include "utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The length of the well-formed sequence at s (at most n bytes available), or
 * 0 when the bytes there are not one (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). NUL is not accepted.
 */
static size_t seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];

	if (c == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;

		return n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;

		return n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		size_t k = seq_len(p + i, len - i);

		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

char *utf8_escape(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, o = 0;
	char *out = malloc(len * 4 + 1);

	if (out == NULL)
		return NULL;
	while (i < len) {
		size_t k = seq_len(p + i, len - i);

		if (k == 0 || p[i] == '\\') {
			snprintf(out + o, 5, "\\x%02x", p[i]);
			o += 4;
			i++;
			continue;
		}
		memcpy(out + o, p + i, k);
		o += k;
		i += k;
	}
	out[o] = '\0';
	return out;
}

/* The number of bytes a sequence starting with c claims (1 for a bad lead byte). */
static size_t claimed_len(unsigned char c)
{
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 1;
}

void utf8_repair(char *buf)
{
	unsigned char *p = (unsigned char *)buf;
	size_t len = strlen(buf), i = 0;

	while (i < len) {
		size_t k = seq_len(p + i, len - i);

		if (k > 0) {
			i += k;
			continue;
		}
		if (p[i] >= 0x80 && i + claimed_len(p[i]) > len) {
			/* a sequence cut by the end of the buffer: drop its start */
			bool cut = true;

			for (size_t j = i + 1; j < len; j++)
				cut = cut && (p[j] & 0xc0) == 0x80;
			if (cut) {
				p[i] = '\0';
				return;
			}
		}
		p[i++] = '?';
	}
}

void utf8_copy(char *dst, size_t size, const char *src)
{
	size_t len = strlen(src);
	size_t n = len < size - 1 ? len : size - 1;

	/* a cut inside a sequence: back up to its first byte, and cut there */
	while (n < len && n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
		n--;
	memcpy(dst, src, n);
	dst[n] = '\0';
	utf8_repair(dst);
}
