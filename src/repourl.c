/*
 * repourl.c — see repourl.h. Pure: no I/O.
 */
#include "repourl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int starts_with_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

char *repo_url_normalize(const char *url)
{
	const char *scheme = "https";
	const char *host, *host_end, *path;
	int keep_port = 1;
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
		keep_port = 0;
	} else if (strstr(url, "://") == NULL && strchr(url, ':') != NULL) {
		/* scp-like: [user@]host:path */
		const char *at = strchr(url, '@');
		const char *colon = strchr(url, ':');

		host = (at != NULL && at < colon) ? at + 1 : url;
		host_end = colon;
		path = colon + 1;
		keep_port = 0;
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
	while (path_len > 0 && (path[path_len - 1] == '/' || isspace((unsigned char)path[path_len - 1])))
		path_len--;
	if (path_len >= 4 && strncasecmp(path + path_len - 4, ".git", 4) == 0)
		path_len -= 4;
	while (path_len > 0 && path[path_len - 1] == '/')
		path_len--;
	if (host_len == 0 || path_len == 0)
		return NULL;
	if (asprintf(&out, "%s://%.*s/%.*s", scheme, (int)host_len, host, (int)path_len, path) < 0)
		return NULL;
	for (char *p = out + strlen(scheme) + 3; p < out + strlen(scheme) + 3 + host_len; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}
