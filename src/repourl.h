/*
 * repourl.h — one identity for a GitLab repository, whatever URL names it.
 *
 * A push names its repo three ways (web_url, git_http_url, git_ssh_url) and the
 * config a fourth; all must compare equal. The normal form is
 * "https://host[:port]/path" (http:// kept for http URLs): scheme and host
 * lower-cased, user info dropped, no ".git", no trailing "/". SSH forms
 * ("git@host:path.git", "ssh://git@host:22/path.git") map to https without the
 * SSH port. The path keeps its case (it is shown), but GitLab's project paths
 * ignore case, so two normal forms name the same repo when repo_url_equal says
 * so. Pure: no I/O.
 */
#ifndef AMICD_REPOURL_H
#define AMICD_REPOURL_H

#include <stdbool.h>

/* repo_url_normalize — the normal form of url (caller frees), or NULL when url is
 * not a repository URL (no host or no path) or on out of memory. */
char *repo_url_normalize(const char *url);

/* repo_url_equal — whether two normal forms name the same repo: equal but for the case of ASCII letters. */
bool repo_url_equal(const char *a, const char *b);

/*
 * repo_url_gitlab_branch — the GitLab API URL of a branch of repo (a normal
 * form): api_url + "/api/v4/projects/" + the project path URL-encoded ("/" as
 * %2F) + "/repository/branches/" + the branch URL-encoded. The API serves the
 * repo when their scheme and host (and port) are equal, case aside, and the
 * repo's path lies under the API's own path (GitLab under a relative URL:
 * api_url "https://host/gitlab" serves "https://host/gitlab/group/project").
 * api_url is copied as given, so it must be a URL already (no space,
 * control or non-ASCII byte). NULL (caller frees otherwise) when it does not
 * serve it, or on bad input.
 */
char *repo_url_gitlab_branch(const char *repo, const char *api_url, const char *branch);

#endif
