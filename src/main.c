/*
 * main.c — amicd's command line: serve | migrate | check-config | version.
 */
#include "config.h"
#include "jsonarena.h"
#include "log.h"
#include "server.h"
#include "store.h"
#include "version.h"

#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *to)
{
	fprintf(to,
		"usage: amicd <command> [--config FILE] [--offline]\n"
		"\n"
		"commands:\n"
		"  serve          run the server (default config: $AMICD_CONFIG)\n"
		"  migrate        apply pending database migrations and exit\n"
		"  check-config   validate the configuration; print every error as file:line:column: message\n"
		"                 (--offline: check the secrets' keys but read no secret file or variable)\n"
		"  version        print the version\n");
}

static struct config *load(const char *path, unsigned flags)
{
	struct config *cfg = NULL;
	struct config_diag diag;

	if (config_load_with(path, flags, &cfg, &diag) != AMICD_OK) {
		for (size_t i = 0; i < diag.n; i++)
			fprintf(stderr, "%s\n", diag.lines[i]);
		fprintf(stderr, "%s: %zu error%s\n", path, diag.n, diag.n == 1 ? "" : "s");
		config_diag_free(&diag);
		return NULL;
	}
	return cfg;
}

static int cmd_migrate(const struct config *cfg)
{
	struct store *st = NULL;
	struct amicd_error err;
	unsigned applied = 0;
	int status = 1;

	if (store_open(cfg->database, cfg->limits.busy_timeout_ms, &st, &err) != AMICD_OK ||
	    store_migrate(st, store_migrations, store_migrations_count, &applied, &err) != AMICD_OK) {
		fprintf(stderr, "amicd: %s: %s\n", cfg->database, err.message);
		goto out;
	}
	printf("%s: %u migration(s) applied, schema at %u\n", cfg->database, applied,
	       store_migrations_count > 0 ? store_migrations[store_migrations_count - 1].version : 0);
	status = 0;
out:
	store_close(&st);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "offline", no_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *command, *path = getenv("AMICD_CONFIG");
	struct config *cfg = NULL;
	bool offline = false;
	int c, status = 1;

	jsonarena_install(); /* before any thread or JSON: webhook bodies parse into per-thread blocks */
	/*
	 * SQLite drops a connection's page cache whenever another connection wrote
	 * (the ingest writer and the worker take turns), and glibc then gave the
	 * freed top of the thread's arena back to the kernel (madvise, a TLB
	 * shootdown on every CPU) only to fault it in again at the next
	 * transaction: an eighth of amicd's CPU under load. Keep freed memory up
	 * to 32 MiB per arena; allocations of 1 MiB and more (large bodies) still
	 * get their own mapping and go back when freed.
	 */
	mallopt(M_TRIM_THRESHOLD, 32 << 20);
	mallopt(M_MMAP_THRESHOLD, 1 << 20);

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	command = argv[1];
	if (strcmp(command, "version") == 0 || strcmp(command, "--version") == 0) {
		printf("amicd %s (%s)\n", version_number(), version_git_rev());
		return 0;
	}
	if (strcmp(command, "help") == 0 || strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'h': usage(stdout); return 0;
		case 'o': offline = true; break;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (strcmp(command, "serve") != 0 && strcmp(command, "migrate") != 0 &&
	    strcmp(command, "check-config") != 0) {
		fprintf(stderr, "amicd: unknown command \"%s\"\n", command);
		usage(stderr);
		return 2;
	}
	if (offline && strcmp(command, "check-config") != 0) {
		/* a config whose secrets were never read must not serve */
		fprintf(stderr, "amicd: --offline is for check-config only\n");
		return 2;
	}
	if (path == NULL) {
		fprintf(stderr, "amicd: no configuration: pass --config FILE or set AMICD_CONFIG\n");
		return 2;
	}
	cfg = load(path, offline ? CONFIG_LOAD_OFFLINE : 0);
	if (cfg == NULL)
		return 1;
	if (cfg->log_level != NULL)
		log_set_level_name(cfg->log_level);
	if (getenv("AMICD_LOG_LEVEL") != NULL && log_set_level_name(getenv("AMICD_LOG_LEVEL")) != 0)
		fprintf(stderr, "amicd: ignoring AMICD_LOG_LEVEL (debug, info, warn or error)\n");
	if (strcmp(command, "check-config") == 0) {
		printf("%s: ok (%zu account%s, %zu ASG%s%s)\n", path, cfg->n_accounts, cfg->n_accounts == 1 ? "" : "s",
		       cfg->n_asgs, cfg->n_asgs == 1 ? "" : "s", offline ? "; offline: secrets not read" : "");
		status = 0;
	} else if (strcmp(command, "migrate") == 0) {
		status = cmd_migrate(cfg);
	} else {
		status = server_run(cfg);
	}
	config_free(cfg);
	return status;
}
