/*
 * growth.c — benchmark: how amicd's cost grows with stored history (issue 12,
 * "growth figures"). Measurement only; it changes nothing in amicd.
 *
 * Runs the real amicd (AMICD_BIN) on loopback in a temp dir, in four steps:
 *   1. a one-second ingest into a new database (a few libcurl threads POST the
 *      GitLab push fixture, tests/data/gitlab-push.json, a unique
 *      Idempotency-Key each), so that amicd stores real rows;
 *   2. amicd stopped, that database is seeded directly with sqlite3 to N
 *      events (payloads copied from the tests/data fixtures, headers copied
 *      from the rows amicd stored in step 1) and their facts (pushes, amis,
 *      ami_tags, ami_tag_ops, ami_shares) for M AMIs; bytes per event;
 *   3. amicd restarted on the seeded database: p50/p99 of the read API, sequential;
 *      a query over its goal gets EXPLAIN QUERY PLAN of its SQL (a copy of
 *      src/store_query.c's) and the tables it scans are printed;
 *   4. ingest, ROUNDS times in turn: SECONDS on a second, empty database, then
 *      SECONDS on the seeded one (amicd started for each window and stopped
 *      after it); deliveries/s counted from the 202s. The windows alternate
 *      because this box's throughput drifts by ±30 % between runs: the ratio
 *      of the medians is what is reported, with each round's;
 *   5. amicd stopped, VACUUM: the file size before and after;
 *   6. the reconciler's observations (EVENTS / 10 of them, gitlab-api branch
 *      heads and ec2-api images answers in turn, as amicd stores them, with
 *      their branch_observations / image_observations rows) added to the
 *      VACUUMed file: the bytes each adds.
 *
 * usage: AMICD_BIN=build/amicd growth [EVENTS [AMIS [SECONDS]]]
 *        (defaults 1000000, 100000, 5; run from the repository root: it reads tests/data)
 * Never touches anything outside its temp dir (AMICD_KEEP_BENCH_DIR=1 keeps it).
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOKEN "bench-gitlab-token"
#define EB_KEY "bench-eb-key"
#define READ_TOKEN "bench-read-token"
#define THREADS 4
#define ROUNDS 3
#define REPOS 10
#define QUERIES 200
#define GOAL_MS 10.0
#define OWNER "111122223333"
#define DEST "444455556666"
#define REPO_BASE "https://gitlab.example.net/platform/golden-images"

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		if (buf != NULL) {
			buf[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

static long long file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

static size_t sink(char *p, size_t s, size_t n, void *cls)
{
	(void)p;
	(void)cls;
	return s * n;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* --- amicd as a child ------------------------------------------------------------- */

struct amicd {
	char dir[64], config[128], log[128], db[128];
	pid_t pid;
	unsigned port;
};

static unsigned wait_port(const char *log)
{
	for (int i = 0; i < 6000; i++) {
		char buf[16384];
		FILE *f = fopen(log, "r");
		size_t n = f != NULL ? fread(buf, 1, sizeof buf - 1, f) : 0;
		const char *at;
		struct timespec pause = { 0, 10 * 1000 * 1000 };

		if (f != NULL)
			fclose(f);
		buf[n] = '\0';
		at = strstr(buf, "\"msg\":\"listening\"");
		if (at != NULL && (at = strstr(at, "\"port\":")) != NULL)
			return (unsigned)atoi(at + 7);
		nanosleep(&pause, NULL);
	}
	return 0;
}

static bool write_config(struct amicd *a)
{
	char path[160];
	FILE *f;
	static const char *const secrets[][2] = { { "t", TOKEN }, { "k", EB_KEY }, { "r", READ_TOKEN } };

	for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", a->dir, secrets[i][0]);
		f = fopen(path, "w");
		if (f == NULL)
			return false;
		fprintf(f, "%s\n", secrets[i][1]);
		fclose(f);
	}
	snprintf(a->config, sizeof a->config, "%s/amicd.yml", a->dir);
	snprintf(a->db, sizeof a->db, "%s/db", a->dir);
	snprintf(a->log, sizeof a->log, "%s/amicd.log", a->dir);
	f = fopen(a->config, "w");
	if (f == NULL)
		return false;
	/* the trigger points at a closed port: promotions are not what is measured here */
	fprintf(f, "listen: 127.0.0.1:0\ndatabase: %s/db\npins_dir: %s/pins\nlog_level: info\n"
		   "auth:\n  gitlab: {token_file: %s/t}\n  eventbridge: {api_key_header: x-api-key, api_key_file: %s/k}\n"
		   "  admin: {token_file: %s/t}\n  read: {token_file: %s/r}\n"
		   "trigger: {url: \"http://127.0.0.1:9/tr\", timeout_seconds: 1}\n"
		   "accounts: [{name: dest, uid: \"" DEST "\"}]\n"
		   "terraformResources:\n",
		a->dir, a->dir, a->dir, a->dir, a->dir, a->dir);
	for (int r = 0; r < REPOS; r++)
		fprintf(f, "  - {provider: asg, identifier: workers-%d, account: dest, region: eu-west-1,\n"
			   "     image: {repo: {url: \"" REPO_BASE "%s%.0d\", ref: main, tag_name: git-sha}}}\n",
			r, r == 0 ? "" : "-", r);
	fclose(f);
	return true;
}

static bool amicd_start(struct amicd *a, const char *bin)
{
	unlink(a->log); /* the last run's "listening" line must not be read as this one's */
	a->pid = fork();
	if (a->pid == 0) {
		int fd = open(a->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(fd, 2);
		execl(bin, "amicd", "serve", "--config", a->config, (char *)NULL);
		_exit(127);
	}
	a->port = a->pid > 0 ? wait_port(a->log) : 0;
	if (a->port == 0)
		fprintf(stderr, "amicd did not start; see %s\n", a->log);
	return a->port != 0;
}

static void amicd_stop(struct amicd *a)
{
	if (a->pid > 0) {
		kill(a->pid, SIGTERM);
		waitpid(a->pid, NULL, 0);
	}
	a->pid = 0;
	a->port = 0;
}

/* --- ingest ----------------------------------------------------------------------- */

struct ingest {
	unsigned port;
	const char *body;
	int64_t until_ns;
	int id;
	const char *tag;
	long ok, other;
};

static void *ingest_thread(void *cls)
{
	struct ingest *in = cls;
	CURL *curl = curl_easy_init();
	char url[128];
	long seq = 0;

	if (curl == NULL)
		return NULL;
	snprintf(url, sizeof url, "http://127.0.0.1:%u/hooks/gitlab", in->port);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, in->body);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink);
	while (now_ns() < in->until_ns) {
		struct curl_slist *h = NULL;
		char idem[96];
		long code = 0;

		snprintf(idem, sizeof idem, "Idempotency-Key: bench-%s-%d-%ld", in->tag, in->id, seq++);
		h = curl_slist_append(h, "Content-Type: application/json");
		h = curl_slist_append(h, "X-Gitlab-Event: Push Hook");
		h = curl_slist_append(h, "X-Gitlab-Token: " TOKEN);
		h = curl_slist_append(h, idem);
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
		if (curl_easy_perform(curl) == CURLE_OK)
			curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
		if (code == 202)
			in->ok++;
		else
			in->other++;
		curl_slist_free_all(h);
	}
	curl_easy_cleanup(curl);
	return NULL;
}

/* deliveries/s of THREADS clients posting body for seconds; -1 on failure */
static double ingest(unsigned port, const char *body, int seconds, const char *tag, long *refused)
{
	pthread_t t[THREADS];
	struct ingest in[THREADS];
	int64_t t0 = now_ns();
	long ok = 0;

	*refused = 0;
	for (int i = 0; i < THREADS; i++) {
		in[i] = (struct ingest){ .port = port, .body = body, .until_ns = t0 + (int64_t)seconds * 1000000000,
					 .id = i, .tag = tag };
		if (pthread_create(&t[i], NULL, ingest_thread, &in[i]) != 0)
			return -1;
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		ok += in[i].ok;
		*refused += in[i].other;
	}
	return (double)ok / ((double)(now_ns() - t0) / 1e9);
}

/* --- seeding ---------------------------------------------------------------------- */

/* events still queued for the worker (amicd stopped): whether the worker kept up with the ingest */
static long long backlog(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long n = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM events WHERE status = 'queued'", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

static bool exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return true;
	fprintf(stderr, "sqlite: %s: %s\n", sql, msg != NULL ? msg : "?");
	sqlite3_free(msg);
	return false;
}

/* ms since the epoch as amicd stores received_at: "YYYY-MM-DDTHH:MM:SS.mmmZ". */
static void stamp(int64_t ms, char *at, size_t size)
{
	time_t sec = (time_t)(ms / 1000);
	struct tm tm;
	char day[24];

	gmtime_r(&sec, &tm);
	strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(at, size, "%s.%03dZ", day, (int)(ms % 1000));
}

static bool step_reset(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE)
		fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(sqlite3_db_handle(s)));
	return rc == SQLITE_DONE;
}

struct fixture {
	const char *file, *kind;
	char *body;
	size_t len;
};

static void sha_of(long long k, char out[41])
{
	snprintf(out, 41, "%08llx%032llx", (unsigned long long)(k * 2654435761ULL) & 0xffffffffULL,
		 (unsigned long long)k);
}

/*
 * Seed db to n events in all (GitLab pushes and EventBridge deliveries in
 * turn) and m AMIs, each tagged for DEST with the commit of a push, shared
 * with DEST. Headers and received_at copy the first row amicd stored.
 * Returns the number of events added, -1 on failure.
 */
static long long seed(const char *path, long long n, long long m, struct fixture *fx, size_t nfx)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *ev = NULL, *body = NULL, *push = NULL, *ami = NULL, *tag = NULL, *op = NULL, *share = NULL, *q = NULL;
	char gl_headers[1024] = "{}", eb_headers[] = "{\"Content-Type\":\"application/json\"}";
	long long have = 0, added = -1, pushes = 0, amis = 0;
	long long *eb_ids = NULL, n_eb = 0;
	int64_t base_ms = 1764547200000; /* 2025-12-01 */

	if (sqlite3_open(path, &db) != SQLITE_OK)
		goto out;
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, "SELECT count(*), (SELECT b.headers FROM events e JOIN event_bodies b ON b.event_id = e.id"
				   " WHERE e.source = 'gitlab' LIMIT 1) FROM events", -1, &q, NULL) != SQLITE_OK || sqlite3_step(q) != SQLITE_ROW)
		goto out;
	have = sqlite3_column_int64(q, 0);
	if (sqlite3_column_text(q, 1) != NULL)
		snprintf(gl_headers, sizeof gl_headers, "%s", (const char *)sqlite3_column_text(q, 1));
	sqlite3_finalize(q);
	q = NULL;
	eb_ids = calloc((size_t)(n / 2 + 2), sizeof *eb_ids);
	if (eb_ids == NULL || !exec_sql(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;"
					    " PRAGMA cache_size = -262144; BEGIN"))
		goto out;
	if (sqlite3_prepare_v2(db, "INSERT INTO events (source, kind, delivery_id, dedup_key, received_at, status,"
				   " payload_sha256) VALUES (?1, ?2, ?3, ?4, ?5, 'processed', ?6)", -1, &ev, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO event_bodies (event_id, headers, payload) VALUES (?1, ?2, ?3)", -1, &body,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO pushes (event_id, repo, branch, before_sha, after_sha, deleted)"
				   " VALUES (?1, ?2, 'main', ?3, ?4, 0)", -1, &push, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO amis (region, image_id, owner, state, state_time, state_event,"
				   " created_ms, first_event, state_rank) VALUES ('eu-west-1', ?1, '" OWNER "',"
				   " 'available', ?2, ?3, ?2, ?3, 1)", -1, &ami, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO ami_tags (region, image_id, account, key, value, ev_time, event_id)"
				   " VALUES ('eu-west-1', ?1, '" DEST "', 'git-sha', ?2, ?3, ?4)", -1, &tag,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO ami_tag_ops (region, image_id, account, key, op, value, ev_time,"
				   " event_id) VALUES ('eu-west-1', ?1, '" DEST "', 'git-sha', 'set', ?2, ?3, ?4)",
			       -1, &op, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO ami_shares (region, image_id, account, shared, ev_time, event_id)"
				   " VALUES ('eu-west-1', ?1, '" DEST "', 1, ?2, ?3)", -1, &share, NULL) != SQLITE_OK) {
		fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(db));
		goto out;
	}
	for (long long i = have; i < n; i++) {
		bool gitlab = i % 2 == 0;
		const struct fixture *f = gitlab ? &fx[0] : &fx[1 + (size_t)(i / 2) % (nfx - 1)];
		char key[64], at[40], sum[65];
		long long id;

		stamp(base_ms + i * 1000, at, sizeof at);
		snprintf(key, sizeof key, "%s:seed-%lld", gitlab ? "idem" : "id", i);
		snprintf(sum, sizeof sum, "%064llx", i);
		sqlite3_bind_text(ev, 1, gitlab ? "gitlab" : "eventbridge", -1, SQLITE_STATIC);
		sqlite3_bind_text(ev, 2, f->kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(ev, 3, key + (gitlab ? 5 : 3), -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(ev, 4, key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(ev, 5, at, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(ev, 6, sum, -1, SQLITE_TRANSIENT);
		if (!step_reset(ev))
			goto out;
		id = sqlite3_last_insert_rowid(db);
		sqlite3_bind_int64(body, 1, id);
		sqlite3_bind_text(body, 2, gitlab ? gl_headers : eb_headers, -1, SQLITE_STATIC);
		sqlite3_bind_blob(body, 3, f->body, (int)f->len, SQLITE_STATIC);
		if (!step_reset(body))
			goto out;
		if (gitlab) {
			char repo[128], before[41], after[41];
			int r = (int)(pushes % REPOS);

			snprintf(repo, sizeof repo, REPO_BASE "%s%.0d", r == 0 ? "" : "-", r);
			sha_of(pushes - REPOS, before);
			sha_of(pushes, after);
			sqlite3_bind_int64(push, 1, id);
			sqlite3_bind_text(push, 2, repo, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(push, 3, before, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(push, 4, after, -1, SQLITE_TRANSIENT);
			if (!step_reset(push))
				goto out;
			pushes++;
		} else {
			eb_ids[n_eb++] = id;
		}
		if (i % 100000 == 99999 && !exec_sql(db, "COMMIT; BEGIN"))
			goto out;
	}
	/* AMI j: built from push j * pushes / m, its first event an EventBridge delivery */
	for (long long j = 0; j < m && n_eb > 0 && pushes > 0; j++) {
		char image[32], sha[41];
		long long e = eb_ids[j % n_eb];
		int64_t ms = base_ms + j * 1000;

		snprintf(image, sizeof image, "ami-%017llx", j);
		sha_of(j * pushes / m, sha);
		sqlite3_bind_text(ami, 1, image, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(ami, 2, ms);
		sqlite3_bind_int64(ami, 3, e);
		sqlite3_bind_text(tag, 1, image, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(tag, 2, sha, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(tag, 3, ms);
		sqlite3_bind_int64(tag, 4, e);
		sqlite3_bind_text(op, 1, image, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(op, 2, sha, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(op, 3, ms);
		sqlite3_bind_int64(op, 4, e);
		sqlite3_bind_text(share, 1, image, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(share, 2, ms);
		sqlite3_bind_int64(share, 3, e);
		if (!step_reset(ami) || !step_reset(tag) || !step_reset(op) || !step_reset(share))
			goto out;
		amis++;
	}
	if (!exec_sql(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE)"))
		goto out;
	added = n > have ? n - have : 0;
	printf("  seeded %lld events (%lld pushes in %d repos, %lld EventBridge) and %lld AMIs"
	       " (each with a tag, a tag op and a share) on top of %lld stored by amicd\n",
	       added, pushes, REPOS, n_eb, amis, have);
out:
	sqlite3_finalize(q);
	sqlite3_finalize(ev);
	sqlite3_finalize(body);
	sqlite3_finalize(push);
	sqlite3_finalize(ami);
	sqlite3_finalize(tag);
	sqlite3_finalize(op);
	sqlite3_finalize(share);
	sqlite3_close(db);
	free(eb_ids);
	return added;
}

/*
 * Add k reconciler observations to db, in turn a GitLab branch head (source
 * gitlab-api, kind branch_head, and its branch_observations row) and an EC2
 * images answer (ec2-api, images, one image_observations row), with the
 * payloads, dedup keys and headers ({}) amicd stores (docs/api.md "events").
 * The file grows by the bytes they take: *bytes (after a checkpoint, on a
 * freshly VACUUMed file, so no free page absorbs them). Returns k, -1 on failure.
 */
static long long seed_observations(const char *path, long long k, long long *bytes)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *ev = NULL, *body = NULL, *bo = NULL, *io = NULL;
	long long size0 = file_size(path), done = -1;
	const int64_t base_ms = INT64_C(1798761600000); /* 2027-01-01 */

	if (sqlite3_open(path, &db) != SQLITE_OK || !exec_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)"))
		goto out;
	size0 = file_size(path);
	if (!exec_sql(db, "BEGIN") ||
	    sqlite3_prepare_v2(db, "INSERT INTO events (source, kind, delivery_id, dedup_key, received_at, status,"
				   " payload_sha256) VALUES (?1, ?2, NULL, ?3, ?4, 'processed', ?5)", -1, &ev, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO event_bodies (event_id, headers, payload) VALUES (?1, '{}', ?2)", -1, &body,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO branch_observations (event_id, repo, branch, commit_sha, asked_at)"
				   " VALUES (?1, ?2, 'main', ?3, ?4)", -1, &bo, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO image_observations (event_id, account, region, tag_key, commit_sha,"
				   " asked_ms, listed) VALUES (?1, '" DEST "', 'eu-west-1', 'git-sha', ?2, ?3, ?4)", -1, &io,
			       NULL) != SQLITE_OK) {
		fprintf(stderr, "sqlite: %s\n", sqlite3_errmsg(db));
		goto out;
	}
	for (long long i = 0; i < k; i++) {
		bool gitlab = i % 2 == 0;
		char repo[128], sha[41], image[32], at[40], key[512], sum[65], listed[40], payload[2048];
		int64_t ms = base_ms + i * 1000;
		long long id;

		stamp(ms, at, sizeof at);
		snprintf(repo, sizeof repo, REPO_BASE "%s%.0d", i % REPOS == 0 ? "" : "-", (int)(i % REPOS));
		sha_of(i, sha);
		snprintf(image, sizeof image, "ami-%017llx", 0xb0000000ULL + (unsigned long long)i);
		snprintf(sum, sizeof sum, "%064llx", 0x0b5ULL + (unsigned long long)i);
		if (gitlab) {
			snprintf(key, sizeof key, "gitlab %s main @%lld %s", repo, (long long)ms, sum);
			snprintf(payload, sizeof payload,
				 "{\"repo\":\"%s\",\"branch\":\"main\",\"asked_ms\":%lld,\"commit\":\"%s\",\"status\":200,"
				 "\"response\":{\"name\":\"main\",\"merged\":false,\"protected\":true,\"default\":true,"
				 "\"commit\":{\"id\":\"%s\",\"short_id\":\"%.8s\",\"title\":\"a change\","
				 "\"author_name\":\"Dev\",\"parent_ids\":[]}}}", repo, (long long)ms, sha, sha, sha);
		} else {
			snprintf(key, sizeof key, "ec2 " DEST " eu-west-1 tag git-sha %s @%lld %s", sha, (long long)ms, sum);
			snprintf(payload, sizeof payload,
				 "{\"account\":\"" DEST "\",\"region\":\"eu-west-1\",\"asked_ms\":%lld,\"images\":[{\"imageId\":"
				 "\"%s\",\"imageState\":\"available\",\"creationDate\":\"%s\",\"creation_ms\":%lld,"
				 "\"imageOwnerId\":\"" OWNER "\",\"isPublic\":false,\"tags\":{\"git-sha\":\"%s\"}}],"
				 "\"tag_name\":\"git-sha\",\"commits\":[\"%s\"]}", (long long)ms, image, at, (long long)ms, sha,
				 sha);
		}
		sqlite3_bind_text(ev, 1, gitlab ? "gitlab-api" : "ec2-api", -1, SQLITE_STATIC);
		sqlite3_bind_text(ev, 2, gitlab ? "branch_head" : "images", -1, SQLITE_STATIC);
		sqlite3_bind_text(ev, 3, key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(ev, 4, at, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(ev, 5, sum, -1, SQLITE_TRANSIENT);
		if (!step_reset(ev))
			goto out;
		id = sqlite3_last_insert_rowid(db);
		sqlite3_bind_int64(body, 1, id);
		sqlite3_bind_blob(body, 2, payload, (int)strlen(payload), SQLITE_TRANSIENT);
		if (!step_reset(body))
			goto out;
		if (gitlab) {
			sqlite3_bind_int64(bo, 1, id);
			sqlite3_bind_text(bo, 2, repo, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(bo, 3, sha, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(bo, 4, at, -1, SQLITE_TRANSIENT);
			if (!step_reset(bo))
				goto out;
		} else {
			snprintf(listed, sizeof listed, ",%s,", image);
			sqlite3_bind_int64(io, 1, id);
			sqlite3_bind_text(io, 2, sha, -1, SQLITE_TRANSIENT);
			sqlite3_bind_int64(io, 3, ms);
			sqlite3_bind_text(io, 4, listed, -1, SQLITE_TRANSIENT);
			if (!step_reset(io))
				goto out;
		}
	}
	if (!exec_sql(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE)"))
		goto out;
	*bytes = file_size(path) - size0;
	done = k;
out:
	sqlite3_finalize(ev);
	sqlite3_finalize(body);
	sqlite3_finalize(bo);
	sqlite3_finalize(io);
	sqlite3_close(db);
	return done;
}

/* --- reads ------------------------------------------------------------------------ */

struct read_case {
	const char *name, *path;
	const char *sql; /* a copy of the store's SQL for EXPLAIN QUERY PLAN (NULL: many queries) */
	double p50, p99;
	long bad;
};

static void time_reads(unsigned port, struct read_case *rc)
{
	CURL *curl = curl_easy_init();
	struct curl_slist *h = curl_slist_append(NULL, "Authorization: Bearer " READ_TOKEN);
	double lat[QUERIES];
	char url[512];

	snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, rc->path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sink);
	for (int i = 0; i < QUERIES; i++) {
		int64_t t0 = now_ns();
		long code = 0;

		if (curl_easy_perform(curl) == CURLE_OK)
			curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
		lat[i] = (double)(now_ns() - t0) / 1e6;
		if (code != 200)
			rc->bad++;
	}
	qsort(lat, QUERIES, sizeof lat[0], cmp);
	rc->p50 = lat[QUERIES / 2];
	rc->p99 = lat[QUERIES * 99 / 100];
	curl_slist_free_all(h);
	curl_easy_cleanup(curl);
}

static void explain(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char *q = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", sql);

	if (q != NULL && sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, q, -1, &s, NULL) == SQLITE_OK) {
		char lines[32][256];
		int n = 0;
		bool sorts = false;

		while (n < 32 && sqlite3_step(s) == SQLITE_ROW) {
			snprintf(lines[n], sizeof lines[n], "%s", (const char *)sqlite3_column_text(s, 3));
			sorts |= strstr(lines[n++], "TEMP B-TREE FOR ORDER BY") != NULL;
		}
		/* a SCAN in the ORDER BY's order stops at the LIMIT; one whose rows are sorted after reads them all */
		for (int i = 0; i < n; i++)
			printf("      %s%s\n", lines[i],
			       strncmp(lines[i], "SCAN", 4) != 0 ? ""
			       : sorts ? "   <-- scans the whole table (every row read, then sorted for the LIMIT)"
				       : "   <-- scan in index order, stopped by the LIMIT");
	} else {
		printf("      (could not explain: %s)\n", db != NULL ? sqlite3_errmsg(db) : "no memory");
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	sqlite3_free(q);
}

/* --- main ------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	long long n = argc > 1 ? atoll(argv[1]) : 1000000, m = argc > 2 ? atoll(argv[2]) : 100000;
	int seconds = argc > 3 ? atoi(argv[3]) : 5;
	const char *bin = getenv("AMICD_BIN");
	struct amicd a = { .dir = "/tmp/amicd-growth-XXXXXX" }, e = { .dir = "/tmp/amicd-growth-empty-XXXXXX" };
	double empty[ROUNDS], full[ROUNDS];
	struct fixture fx[] = {
		{ .file = "tests/data/gitlab-push.json", .kind = "push" },
		{ .file = "tests/data/eventbridge-cloudtrail-createtags.json", .kind = "ami_tags" },
		{ .file = "tests/data/eventbridge-ami-shared.json", .kind = "ami_shared" },
		{ .file = "tests/data/eventbridge-ami-state-change.json", .kind = "ami_state" },
		{ .file = "tests/data/eventbridge-cloudtrail-modifyimageattribute.json", .kind = "ami_launch_permission" },
	};
	size_t nfx = sizeof fx / sizeof fx[0];
	char commit_path[160], present[41] = "";
	struct read_case reads[] = {
		{ .name = "/api/v1/asgs", .path = "/api/v1/asgs" },
		{ .name = "/api/v1/events?limit=100", .path = "/api/v1/events?limit=100",
		  .sql = "SELECT id, source, kind, delivery_id, received_at, status, note FROM events"
			 " WHERE id < 9223372036854775807 ORDER BY id DESC LIMIT 100" },
		{ .name = "/api/v1/amis?commit=…", .path = commit_path,
		  .sql = "SELECT a.region, a.image_id, a.state, a.owner, a.created_ms, a.first_event FROM amis a"
			 " WHERE (a.region, a.image_id) IN (SELECT t.region, t.image_id FROM ami_tags t"
			 " WHERE lower(t.value) = lower(?1) AND t.value IS NOT NULL)"
			 " AND (?2 IS NULL OR a.owner = ?2 OR EXISTS (SELECT 1 FROM ami_shares h WHERE h.region = a.region"
			 "   AND h.image_id = a.image_id AND h.account IN (?2, 'all') AND h.shared = 1)"
			 "   OR EXISTS (SELECT 1 FROM ami_tags t WHERE t.region = a.region AND t.image_id = a.image_id"
			 "   AND t.account = ?2))"
			 " ORDER BY a.created_ms DESC, a.first_event DESC LIMIT ?3" },
		{ .name = "/api/v1/commits", .path = "/api/v1/commits",
		  .sql = "SELECT p.after_sha, p.before_sha, p.event_id, e.received_at, p.deleted, p.repo, p.branch"
			 " FROM pushes p JOIN events e ON e.id = p.event_id"
			 " WHERE (?1 IS NULL OR p.repo = ?1) AND (?2 IS NULL OR p.branch = ?2)"
			 " ORDER BY p.event_id DESC LIMIT ?3" },
	};
	double empty_rate = 0, seeded_rate = 0;
	long refused_empty = 0, refused_seeded = 0;
	long long backlog_empty = -1, backlog_seeded = -1;
	long long seeded, rows = 0, before = 0, after = 0, amis_n = 0, obs = 0, obs_bytes = 0;
	double vacuum_s = 0;
	int64_t t0;
	int status = 1;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;

	if (bin == NULL || n < 2 || m < 1 || seconds < 1 || mkdtemp(a.dir) == NULL ||
	    mkdtemp(e.dir) == NULL) {
		fprintf(stderr, "usage: AMICD_BIN=build/amicd growth [EVENTS [AMIS [SECONDS]]]\n");
		return 2;
	}
	for (size_t i = 0; i < nfx; i++) {
		fx[i].body = slurp(fx[i].file, &fx[i].len);
		if (fx[i].body == NULL) {
			fprintf(stderr, "cannot read %s (run from the repository root)\n", fx[i].file);
			goto out;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!write_config(&a) || !write_config(&e))
		goto out;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	printf("growth: %lld events%s, %lld AMIs, ingest %d x (%d s empty + %d s seeded) x %d threads,"
	       " %d sequential requests per read\n", n,
	       n >= 1000000 ? " (the issue's 1 M)" : n == 200000 ? " (the reduced 200 k)" : " (scaled)", m, ROUNDS,
	       seconds, seconds, THREADS, QUERIES);

	/* 1. rows amicd stored itself */
	if (!amicd_start(&a, bin))
		goto out;
	ingest(a.port, fx[0].body, 1, "first", &refused_empty);
	amicd_stop(&a);

	/* 2. seed */
	t0 = now_ns();
	seeded = seed(a.db, n, m, fx, nfx);
	if (seeded < 0)
		goto out;
	before = file_size(a.db);
	if (sqlite3_open_v2(a.db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM amis),"
				   " (SELECT value FROM ami_tags ORDER BY image_id LIMIT 1 OFFSET"
				   " (SELECT count(*) / 2 FROM ami_tags))", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		rows = sqlite3_column_int64(s, 0);
		amis_n = sqlite3_column_int64(s, 1);
		snprintf(present, sizeof present, "%s",
			 sqlite3_column_text(s, 2) != NULL ? (const char *)sqlite3_column_text(s, 2) : "");
	} else {
		fprintf(stderr, "cannot read the seeded database\n");
		goto out;
	}
	sqlite3_finalize(s);
	s = NULL;
	sqlite3_close(db);
	db = NULL;
	snprintf(commit_path, sizeof commit_path, "/api/v1/amis?commit=%s", present);
	printf("  seeding took %.1f s\n", (double)(now_ns() - t0) / 1e9);

	/* 3. reads and ingest on the seeded database */
	if (!amicd_start(&a, bin))
		goto out;
	for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++)
		time_reads(a.port, &reads[i]);
	amicd_stop(&a);

	/* 4. ingest, empty and seeded in turn */
	refused_empty = refused_seeded = 0;
	for (int r = 0; r < ROUNDS; r++) {
		long refused;
		char tag[32];

		snprintf(tag, sizeof tag, "empty%d", r);
		if (!amicd_start(&e, bin))
			goto out;
		empty[r] = ingest(e.port, fx[0].body, seconds, tag, &refused);
		refused_empty += refused;
		amicd_stop(&e);
		snprintf(tag, sizeof tag, "seeded%d", r);
		if (!amicd_start(&a, bin))
			goto out;
		full[r] = ingest(a.port, fx[0].body, seconds, tag, &refused);
		refused_seeded += refused;
		amicd_stop(&a);
	}
	backlog_empty = backlog(e.db);
	backlog_seeded = backlog(a.db);
	qsort(empty, ROUNDS, sizeof empty[0], cmp);
	qsort(full, ROUNDS, sizeof full[0], cmp);
	empty_rate = empty[ROUNDS / 2];
	seeded_rate = full[ROUNDS / 2];

	/* 5. VACUUM */
	t0 = now_ns();
	if (sqlite3_open(a.db, &db) != SQLITE_OK || !exec_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)"))
		goto out;
	before = file_size(a.db);
	if (!exec_sql(db, "VACUUM"))
		goto out;
	sqlite3_close(db);
	db = NULL;
	after = file_size(a.db);
	vacuum_s = (double)(now_ns() - t0) / 1e9;

	/* 6. observations (the reconciler's events), added to the VACUUMed file: what they add, each */
	obs = seed_observations(a.db, n / 10 > 1000 ? n / 10 : 1000, &obs_bytes);
	if (obs < 0)
		goto out;

	printf("\n| measure | value | goal |\n| --- | --- | --- |\n");
	printf("| events / AMIs in the DB | %lld / %lld | 1 M / 100 k |\n", rows, amis_n);
	printf("| DB bytes per stored event (file / events) | %.0f | |\n", (double)before / (double)rows);
	printf("| DB file before / after VACUUM | %.1f / %.1f MiB (%.1f %% back, %.1f s) | |\n",
	       (double)before / 1048576.0, (double)after / 1048576.0,
	       before > 0 ? 100.0 * (double)(before - after) / (double)before : 0.0, vacuum_s);
	printf("| DB bytes per stored observation (%lld added: gitlab-api branch heads and ec2-api images in turn,"
	       " event + observation row) | %.0f | |\n", obs, (double)obs_bytes / (double)obs);
	printf("| ingest, empty DB, median (min-max) | %.0f (%.0f-%.0f) deliveries/s (%ld not 202; %lld left queued"
	       " for the worker) | |\n", empty_rate, empty[0], empty[ROUNDS - 1], refused_empty, backlog_empty);
	printf("| ingest, seeded DB, median (min-max) | %.0f (%.0f-%.0f) deliveries/s (%ld not 202; %lld left queued"
	       " for the worker) | |\n", seeded_rate, full[0], full[ROUNDS - 1], refused_seeded, backlog_seeded);
	printf("| ingest seeded / empty | %.2f | >= 0.9 |\n", empty_rate > 0 ? seeded_rate / empty_rate : 0.0);
	for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++)
		printf("| GET %s p50 / p99 | %.2f / %.2f ms%s%s | <= 10 ms |\n", reads[i].name, reads[i].p50, reads[i].p99,
		       reads[i].bad > 0 ? " (non-200 answers!)" : "", reads[i].p99 > GOAL_MS ? " SLOW" : "");
	status = 0;
	for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
		if (reads[i].p99 <= GOAL_MS && reads[i].bad == 0)
			continue;
		status = 1;
		printf("\n%s: p99 %.2f ms over the goal; ", reads[i].name, reads[i].p99);
		if (reads[i].sql == NULL) {
			printf("it runs several queries per ASG (src/status.c, store_asg.c): not explained here\n");
			continue;
		}
		printf("EXPLAIN QUERY PLAN of its SQL (src/store_query.c):\n");
		explain(a.db, reads[i].sql);
	}
out:
	amicd_stop(&a);
	amicd_stop(&e);
	sqlite3_finalize(s);
	sqlite3_close(db);
	for (size_t i = 0; i < nfx; i++)
		free(fx[i].body);
	curl_global_cleanup();
	if (getenv("AMICD_KEEP_BENCH_DIR") == NULL) {
		char cmd[128];

		snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", a.dir, e.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s, %s\n", a.dir, e.dir);
	}
	return status;
}
