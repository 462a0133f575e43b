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

bool repo_url_equal(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}

/* Append s percent-encoded (everything but RFC 3986's unreserved characters) to out. */
static void encode(FILE *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
			fputc(c, out);
		else
			fprintf(out, "%%%02X", c);
	}
}

char *repo_url_gitlab_branch(const char *repo, const char *api_url, const char *branch)
{
	const char *api_host, *api_path, *repo_host, *repo_path;
	size_t api_host_len, api_path_len, repo_host_len;
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	if (repo == NULL || api_url == NULL || branch == NULL || branch[0] == '\0')
		return NULL;
	for (const char *p = api_url; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return NULL; /* copied as given: it must be a URL already */
	if (starts_with_ci(api_url, "https://") != starts_with_ci(repo, "https://") ||
	    (!starts_with_ci(api_url, "https://") && !starts_with_ci(api_url, "http://")) ||
	    (!starts_with_ci(repo, "https://") && !starts_with_ci(repo, "http://")))
		return NULL;
	api_host = strstr(api_url, "://") + 3;
	repo_host = strstr(repo, "://") + 3;
	api_host_len = strcspn(api_host, "/?#");
	repo_host_len = strcspn(repo_host, "/");
	if (api_host_len == 0 || api_host_len != repo_host_len || strncasecmp(api_host, repo_host, api_host_len) != 0)
		return NULL;
	/* the API's own path (a relative-URL GitLab), without trailing slashes */
	api_path = api_host + api_host_len;
	api_path_len = strcspn(api_path, "?#");
	while (api_path_len > 0 && api_path[api_path_len - 1] == '/')
		api_path_len--;
	repo_path = repo_host + repo_host_len; /* "/group/project" */
	if (strncmp(repo_path, api_path, api_path_len) != 0 || repo_path[api_path_len] != '/' ||
	    repo_path[api_path_len + 1] == '\0')
		return NULL;
	repo_path += api_path_len + 1;
	out = open_memstream(&text, &len);
	if (out == NULL)
		return NULL;
	fprintf(out, "%.*s/api/v4/projects/", (int)(api_host + api_host_len + api_path_len - api_url), api_url);
	encode(out, repo_path, strlen(repo_path));
	fputs("/repository/branches/", out);
	encode(out, branch, strlen(branch));
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
