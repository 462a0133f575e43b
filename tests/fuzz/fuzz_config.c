/*
 * fuzz_config.c — the configuration loader on any YAML. Properties: it either
 * loads or reports at least one diagnostic, each valid UTF-8 and positioned
 * ("file:line:column: message"); freeing is clean (LeakSanitizer).
 */
#include "fuzz.h"

#include "config.h"
#include "utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

	(void)argc;
	(void)argv;
	snprintf(path, sizeof path, "%s/amicd-fuzz-config-%d.yml", dir, (int)getpid());
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	struct config *cfg = NULL;
	struct config_diag diag = { 0 };

	if (f == NULL || fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);
	if (config_load(path, &cfg, &diag) == AMICD_OK) {
		fuzz_check(cfg != NULL && diag.n == 0);
		config_free(cfg);
	} else {
		fuzz_check(cfg == NULL && diag.n > 0);
		for (size_t i = 0; i < diag.n; i++)
			fuzz_check(strncmp(diag.lines[i], path, strlen(path)) == 0);
		config_diag_free(&diag);
	}
	unlink(path);
	return 0;
}
