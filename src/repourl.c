/*
 * repourl.c — see repourl.h. Pure: no I/O.
 */
#include "repourl.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int starts_with_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* A host name or address, with a :port only where one is kept: letters, digits, '.', '-', '_'. */
static bool host_valid(const char *host, size_t len, bool port_allowed)
{
	size_t i = 0;

	if (len == 0)
		return false;
	while (i < len && (isalnum((unsigned char)host[i]) || host[i] == '.' || host[i] == '-' || host[i] == '_'))
		i++;
	if (i == 0)
		return false;
	if (i < len && host[i] == ':' && port_allowed) {
		size_t digits = 0;

		for (i++; i < len && isdigit((unsigned char)host[i]); i++)
			digits++;
		return i == len && digits > 0 && digits <= 5;
	}
	return i == len;
}

char *repo_url_normalize(const char *url)
{
	const char *scheme = "https";
	const char *host, *host_end, *path;
	bool keep_port = true;
	char *out = NULL;
	size_t host_len, path_len;

	if (url == NULL)
		return NULL;
	while (isspace((unsigned char)*url))
		url++;
	if (starts_with_ci(url, "https://")) {
		host = url + 8;
	} else if (starts_with_ci(url, "http://")) {
		scheme = "http";
		host = url + 7;
	} else if (starts_with_ci(url, "ssh://")) {
		host = url + 6;
		keep_port = false;
	} else if (strstr(url, "://") == NULL && strchr(url, ':') != NULL) {
		/* scp-like: [user@]host:path */
		const char *at = strchr(url, '@');
		const char *colon = strchr(url, ':');

		host = (at != NULL && at < colon) ? at + 1 : url;
		host_end = colon;
		path = colon + 1;
		keep_port = false;
		goto have_parts;
	} else {
		return NULL;
	}
	{
		const char *slash = strchr(host, '/');
		const char *at;

		if (slash == NULL)
			return NULL;
		at = memchr(host, '@', (size_t)(slash - host));
		if (at != NULL)
			host = at + 1;
		host_end = slash;
		path = slash + 1;
		if (!keep_port) {
			const char *colon = memchr(host, ':', (size_t)(host_end - host));

			if (colon != NULL)
				host_end = colon;
		}
	}
have_parts:
	while (*path == '/')
		path++;
	host_len = (size_t)(host_end - host);
	path_len = strcspn(path, "?#");
	/* a trailing "/", blank or ".git", in any order and number: trim until none is left,
	 * so that the normal form is a fixed point (normalising it again changes nothing) */
	for (bool trimmed = true; trimmed;) {
		trimmed = false;
		while (path_len > 0 && (path[path_len - 1] == '/' || isspace((unsigned char)path[path_len - 1]))) {
			path_len--;
			trimmed = true;
		}
		if (path_len >= 4 && strncasecmp(path + path_len - 4, ".git", 4) == 0) {
			path_len -= 4;
			trimmed = true;
		}
	}
	if (!host_valid(host, host_len, keep_port) || path_len == 0)
		return NULL;
	if (asprintf(&out, "%s://%.*s/%.*s", scheme, (int)host_len, host, (int)path_len, path) < 0)
		return NULL;
	for (char *p = out + strlen(scheme) + 3; p < out + strlen(scheme) + 3 + host_len; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}
