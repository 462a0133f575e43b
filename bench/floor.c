/*
 * floor.c — benchmark: what the pieces of a delivery that amicd cannot skip
 * cost when measured alone, on this machine, with amicd's own code (issue 12:
 * "where the time goes", and how low CPU per request can go).
 *
 *   parse     the one jansson parse of the body the request path must make
 *             (400 with a JSON path, kind, repo/ref, facts): json_loadb, and
 *             jsonarena_loadb as the hook does it;
 *   sha256    the body's hash (dedup key without an id, payload_sha256);
 *   derive    facts from the parsed body, owned (apply_event_prepare_doc);
 *   store     the durable insert, as the ingest writer does it: store_event_put
 *             of BATCH deliveries per transaction, synchronous=FULL in WAL mode,
 *             on a fresh database in a temp dir next to TMPDIR;
 *   worker    the worker's share per event: walk, facts, status, decisions and
 *             commit, for BATCH events per pass (facts offered, as on receipt).
 *
 * CPU time of this thread per operation (CLOCK_THREAD_CPUTIME_ID; fsync waits
 * are not CPU), medians of ROUNDS. Compare with the CPU per request make bench
 * prints for amicd and for the bare libmicrohttpd server: bare + these is the
 * floor of the present design.
 *
 * usage: floor [CONFIG]   (run from the repository root: it reads tests/data and,
 *        without CONFIG, examples/amicd.yml)
 */
#include "apply.h"
#include "config.h"
#include "crypto.h"
#include "jsonarena.h"
#include "store.h"
#include "store_facts.h"
#include "util.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 5
#define PARSES 4000
#define BATCH 64
#define BATCHES 60

static double cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return v[n / 2];
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
	    (buf = malloc((size_t)n + 1)) == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "floor: cannot read %s\n", path);
		exit(1);
	}
	buf[n] = '\0';
	*len = (size_t)n;
	fclose(f);
	return buf;
}

static void fail(const char *what, const struct amicd_error *err)
{
	fprintf(stderr, "floor: %s: %s\n", what, err->message);
	exit(1);
}

int main(int argc, char **argv)
{
	const char *cfg_path = argc > 1 ? argv[1] : "examples/amicd.yml";
	size_t len;
	char *body = slurp("tests/data/gitlab-push.json", &len);
	double parse[ROUNDS], arena[ROUNDS], sha[ROUNDS], derive[ROUNDS], store[ROUNDS], worker[ROUNDS];
	struct config *cfg = NULL;
	struct config_diag diag = { 0 };
	struct amicd_error err = { { 0 }, { 0 } };
	char dir[] = "/tmp/amicd-floor.XXXXXX";
	char db[PATH_MAX];
	int64_t seq = 0;

	jsonarena_install();
	if (config_load_with(cfg_path, CONFIG_LOAD_OFFLINE, &cfg, &diag) != AMICD_OK) {
		fprintf(stderr, "floor: cannot load %s (run from the repository root)\n", cfg_path);
		return 1;
	}
	if (mkdtemp(dir) == NULL)
		return 1;
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = cpu_us();
		char hex[65];

		for (int i = 0; i < PARSES; i++)
			json_decref(json_loadb(body, len, 0, NULL));
		parse[r] = (cpu_us() - t0) / PARSES;
		t0 = cpu_us();
		for (int i = 0; i < PARSES; i++)
			jsonarena_release(jsonarena_loadb(body, len, 0, NULL));
		arena[r] = (cpu_us() - t0) / PARSES;
		t0 = cpu_us();
		for (int i = 0; i < PARSES; i++)
			crypto_sha256_hex(body, len, hex);
		sha[r] = (cpu_us() - t0) / PARSES;
		{
			json_t *doc = json_loadb(body, len, 0, NULL);

			t0 = cpu_us();
			for (int i = 0; i < PARSES; i++) {
				struct apply_event ev;

				if (apply_event_prepare_doc(cfg, "gitlab", "push", doc, &ev) == AMICD_OK)
					apply_event_release(&ev);
			}
			derive[r] = (cpu_us() - t0) / PARSES;
			json_decref(doc);
		}
	}
	for (int r = 0; r < ROUNDS; r++) {
		struct store *st = NULL, *wst = NULL;
		double t0;

		snprintf(db, sizeof db, "%s/floor-%d.db", dir, r);
		if (store_open(db, 5000, &st, &err) != AMICD_OK ||
		    store_migrate(st, store_migrations, store_migrations_count, NULL, &err) != AMICD_OK ||
		    store_open(db, 5000, &wst, &err) != AMICD_OK)
			fail("open", &err);
		t0 = cpu_us();
		for (int b = 0; b < BATCHES; b++) {
			if (store_begin(st, &err) != AMICD_OK)
				fail("begin", &err);
			for (int i = 0; i < BATCH; i++) {
				char key[64];
				struct store_event ev = { .source = "gitlab", .kind = "push", .status = "queued",
							  .headers_json = "{\"content-type\":\"application/json\","
									  "\"x-gitlab-event\":\"Push Hook\"}",
							  .payload = body, .payload_len = len,
							  .received_at_ms = util_now_ms() };

				snprintf(key, sizeof key, "idem:floor-%lld", (long long)++seq);
				ev.dedup_key = key;
				ev.delivery_id = key + 5;
				crypto_sha256_hex(body, len, ev.payload_sha256);
				if (store_event_put(st, &ev, &err) != AMICD_OK)
					fail("insert", &err);
			}
			if (store_commit(st, &err) != AMICD_OK)
				fail("commit", &err);
		}
		store[r] = (cpu_us() - t0) / (BATCH * BATCHES);
		/* the worker's side: every queued event, BATCH per pass, facts as offered on receipt */
		{
			json_t *doc = json_loadb(body, len, 0, NULL);
			struct apply_event pre;
			size_t n_promoted = 0;
			bool more = true;

			if (apply_event_prepare_doc(cfg, "gitlab", "push", doc, &pre) != AMICD_OK)
				fail("derive", &err);
			t0 = cpu_us();
			for (int64_t from = 1; more;) {
				int64_t ids[BATCH];
				int n = 0;

				if (store_begin(wst, &err) != AMICD_OK)
					fail("worker begin", &err);
				for (int64_t id = from; id < from + BATCH && id <= seq; id++)
					ids[n++] = id;
				for (int i = 0; i < n; i++) {
					pre.id = ids[i];
					if (apply_event_write(wst, &pre, &err) != AMICD_OK)
						fail("worker write", &err);
				}
				if (apply_decide_all(cfg, wst, util_now_ms(), false, NULL, NULL, &n_promoted, NULL, &err) !=
				    AMICD_OK || store_commit(wst, &err) != AMICD_OK)
					fail("worker commit", &err);
				from += n;
				more = from <= seq && n > 0;
			}
			worker[r] = (cpu_us() - t0) / (double)seq;
			apply_event_release(&pre);
			json_decref(doc);
			seq = 0;
		}
		store_close(&wst);
		store_close(&st);
	}
	{
		double p = median(parse, ROUNDS), a = median(arena, ROUNDS), s = median(sha, ROUNDS);
		double d = median(derive, ROUNDS), w = median(store, ROUNDS), k = median(worker, ROUNDS);

		printf("floor: the pieces of one delivery measured alone (this thread's CPU, median of %d rounds; "
		       "%zu-byte GitLab push)\n", ROUNDS, len);
		printf("  parse (json_loadb)                         %7.1f us\n", p);
		printf("  parse (jsonarena_loadb, as the hook does)  %7.1f us\n", a);
		printf("  sha256 of the body                         %7.1f us\n", s);
		printf("  facts from the parsed body                 %7.1f us\n", d);
		printf("  durable insert (store_event_put, %d per commit, synchronous=FULL) %7.1f us\n", BATCH, w);
		printf("  worker's share per event (%d per pass: facts, status, decisions, commit) %7.1f us\n", BATCH, k);
		printf("  sum                                        %7.1f us per delivery, before any HTTP\n",
		       a + s + d + w + k);
		printf("  (add the bare server's CPU per request from the table above for the floor of this design)\n");
	}
	for (int r = 0; r < ROUNDS; r++) {
		static const char *const suffix[] = { "", "-wal", "-shm" };

		for (int k = 0; k < 3; k++) {
			snprintf(db, sizeof db, "%s/floor-%d.db%s", dir, r, suffix[k]);
			unlink(db);
		}
	}
	if (rmdir(dir) != 0)
		fprintf(stderr, "floor: could not remove %s\n", dir);
	config_free(cfg);
	free(body);
	return 0;
}
