/*
 * fuzz_common.h — a configuration the harnesses that need one share: one
 * tracked repo and branch, one account, written to a temp directory once.
 * Header-only, included by a harness's single translation unit.
 */
#ifndef AMICD_FUZZ_COMMON_H
#define AMICD_FUZZ_COMMON_H

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct config *fuzz_config(void)
{
	static struct config *cfg;
	char dir[] = "/tmp/amicd-fuzz-XXXXXX", path[128], yaml[2048];
	struct config_diag diag = { 0 };
	FILE *f;

	if (cfg != NULL)
		return cfg;
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof path, "%s/token", dir);
	f = fopen(path, "w");
	if (f == NULL)
		abort();
	fputs("fuzz-token\n", f);
	fclose(f);
	snprintf(yaml, sizeof yaml,
		 "database: %s/amicd.db\npins_dir: %s/pins\n"
		 "auth:\n  gitlab: { token_file: %s }\n  eventbridge: { basic: { user: eventbridge, password_file: %s } }\n"
		 "  admin: { token_file: %s }\n"
		 "trigger: { url: http://127.0.0.1:9/unused }\n"
		 "accounts:\n  - { name: stage, uid: \"444455556666\" }\n"
		 "terraformResources:\n  - provider: asg\n    identifier: workers-stage\n    account: stage\n"
		 "    region: eu-west-1\n    image:\n"
		 "      repo: { url: https://gitlab.example.net/platform/golden-images, ref: main, tag_name: git-sha }\n",
		 dir, dir, path, path, path);
	snprintf(path, sizeof path, "%s/amicd.yml", dir);
	f = fopen(path, "w");
	if (f == NULL)
		abort();
	fputs(yaml, f);
	fclose(f);
	if (config_load(path, &cfg, &diag) != AMICD_OK) {
		for (size_t i = 0; i < diag.n; i++)
			fprintf(stderr, "%s\n", diag.lines[i]);
		abort();
	}
	snprintf(path, sizeof path, "%s/token", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/amicd.yml", dir);
	unlink(path);
	rmdir(dir);
	return cfg;
}

#endif
