/*
 * version.h — what this amicd was built from: the release number (the file
 * VERSION) and the git revision.
 *
 * Only version.c is compiled with them (-DAMICD_VERSION, -DAMICD_GIT_REV), so
 * a new release number or a new commit rebuilds that one object and relinks;
 * every other object stays as it is.
 *
 * Ownership: the returned strings are static and never freed.
 */
#ifndef AMICD_VERSION_H
#define AMICD_VERSION_H

/* version_number — the release, e.g. "0.1.0". */
const char *version_number(void);

/* version_git_rev — the short git revision built from; "unknown" outside a checkout. */
const char *version_git_rev(void);

#endif
