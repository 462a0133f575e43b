/*
 * pinfile.c — render and write pin files (see pinfile.h).
 */
#include "pinfile.h"

#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PINFILE_MAX_BYTES 65536

char *pinfile_render(const struct config_asg *asg, const struct store_pin *pin)
{
	char *text = NULL;

	if (asprintf(&text,
		     "# Managed by amicd: rewritten on every promotion.\n"
		     "identifier: %s\n"
		     "account: %s\n"
		     "region: %s\n"
		     "image:\n"
		     "  id: %s\n"
		     "  commit: %s\n"
		     "  repo: %s\n"
		     "  ref: %s\n"
		     "promotion_id: %lld\n"
		     "promoted_at: \"%s\"\n",
		     asg->identifier, asg->account->name, asg->region, pin->image_id, pin->commit,
		     asg->git->url_given, asg->git->ref, (long long)pin->promotion_id, pin->promoted_at) < 0)
		return NULL;
	return text;
}

/* Create the directory of path (one level) when it is missing. */
static enum amicd_rc ensure_dir(const char *path, struct amicd_error *err)
{
	char *dir = strdup(path);
	char *slash;
	enum amicd_rc rc = AMICD_OK;

	if (dir == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			rc = amicd_error_set(err, AMICD_ERR_IO, NULL, "cannot create %s: %s", dir, strerror(errno));
	}
	free(dir);
	return rc;
}

enum amicd_rc pinfile_write(const struct config_asg *asg, const struct store_pin *pin, struct amicd_error *err)
{
	char *text = pinfile_render(asg, pin);
	enum amicd_rc rc;

	if (text == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	rc = ensure_dir(asg->pin_file, err);
	if (rc == AMICD_OK)
		rc = util_write_file_atomic(asg->pin_file, text, strlen(text), err);
	free(text);
	return rc;
}

enum amicd_rc pinfile_sync(const struct config_asg *asg, const struct store_pin *pin, bool *rewritten,
			   struct amicd_error *err)
{
	char *want = pinfile_render(asg, pin);
	char *have = NULL;
	enum amicd_rc rc = AMICD_OK;

	*rewritten = false;
	if (want == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	if (util_read_file(asg->pin_file, PINFILE_MAX_BYTES, &have, NULL, NULL) != AMICD_OK ||
	    strcmp(have, want) != 0) {
		rc = ensure_dir(asg->pin_file, err);
		if (rc == AMICD_OK)
			rc = util_write_file_atomic(asg->pin_file, want, strlen(want), err);
		*rewritten = rc == AMICD_OK;
	}
	free(have);
	free(want);
	return rc;
}
