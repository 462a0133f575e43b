/*
 * version.c — the one object that carries the version (see version.h). The
 * Makefile defines AMICD_VERSION and AMICD_GIT_REV for this file alone and
 * rebuilds it when VERSION or the git revision changes.
 */
#include "version.h"

#ifndef AMICD_VERSION
#error "AMICD_VERSION must be defined (the Makefile passes it for version.c only)"
#endif
#ifndef AMICD_GIT_REV
#error "AMICD_GIT_REV must be defined (the Makefile passes it for version.c only)"
#endif

const char *version_number(void)
{
	return AMICD_VERSION;
}

const char *version_git_rev(void)
{
	return AMICD_GIT_REV;
}
