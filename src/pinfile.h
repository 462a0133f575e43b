/*
 * pinfile.h — the pin file of an ASG (design §5): the YAML that tells
 * terraform-resources which AMI the stage ASG runs.
 *
 * Written only on promotion, atomically (temp file, fsync, rename, fsync of the
 * directory), and repaired at start so the file always ends equal to the
 * stored pin even after a crash between the commit and the write.
 *
 * Ownership: arguments are borrowed; pinfile_render's result is the caller's.
 */
#ifndef AMICD_PINFILE_H
#define AMICD_PINFILE_H

#include "config.h"
#include "error.h"
#include "store.h"

#include <stdbool.h>

/* pinfile_render — the file's text for asg pinned at pin; NULL on out of memory. */
char *pinfile_render(const struct config_asg *asg, const struct store_pin *pin);

/* pinfile_write — replace asg's pin file with pin, atomically. AMICD_ERR_IO. */
enum amicd_rc pinfile_write(const struct config_asg *asg, const struct store_pin *pin, struct amicd_error *err);

/*
 * pinfile_sync — make asg's pin file say pin: rewrite it (atomically) when it
 * is missing or differs. *rewritten tells whether it did.
 */
enum amicd_rc pinfile_sync(const struct config_asg *asg, const struct store_pin *pin, bool *rewritten,
			   struct amicd_error *err);

#endif
