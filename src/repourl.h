/*
 * repourl.h — one identity for a GitLab repository, whatever URL names it.
 *
 * A push names its repo three ways (web_url, git_http_url, git_ssh_url) and the
 * config a fourth; all must compare equal. The normal form is
 * "https://host[:port]/path" (http:// kept for http URLs): scheme and host
 * lower-cased, user info dropped, no ".git", no trailing "/". SSH forms
 * ("git@host:path.git", "ssh://git@host:22/path.git") map to https without the
 * SSH port. Pure: no I/O.
 */
#ifndef AMICD_REPOURL_H
#define AMICD_REPOURL_H

/* repo_url_normalize — the normal form of url (caller frees), or NULL when url is
 * not a repository URL (no host or no path) or on out of memory. */
char *repo_url_normalize(const char *url);

#endif
