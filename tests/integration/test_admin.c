/*
 * test_admin.c — the admin API and /metrics against the real amicd binary
 * (design §2, §4):
 *
 *  - admin endpoints refuse a missing, wrong or read-only token (401, nothing
 *    changes) and accept the admin Bearer token;
 *  - replay {} after the derived facts were deleted restores them without a new
 *    promotion or trigger, and a second replay changes nothing;
 *  - a database holding only the deliveries of a run replays to the same pin;
 *  - an ASG added to the configuration after its push was stored "ignored" is
 *    pinned by a replay;
 *  - dry runs decide without changing anything; range and event_ids replays;
 *    malformed replay bodies are 400 with the JSON path at fault;
 *  - freeze stops automatic promotion (decisions still shown), unfreeze resumes it;
 *  - manual pin (rollback) by an admin freezes the ASG and rewrites the pin file;
 *    a commit without an AMI is 409 not_ready with what is missing, a commit
 *    amicd knows nothing of is 404 with its own message;
 *  - roll back, block the bad commit, unfreeze: no re-promotion, waiting with
 *    missing ["blocked"], the next good push promoted; every admin answer is the
 *    ASG after the decision it caused (promotion_id of a promotion it started);
 *  - pin / block / unblock by a unique prefix of 7+ hex digits; ambiguous → 400
 *    naming the candidates;
 *  - /metrics: delivery counters by outcome, the latency histogram, promotions by
 *    actor, build info, and the pinned AMI becoming unavailable (deregistered,
 *    unshared, shared again) — reported, never moving the pin.
 *
 * Each test starts its own amicd (setup) and removes it and its temp dir
 * (teardown); teardown also requires a clean SIGTERM exit and a log without
 * sanitizer reports. Nothing synchronises by sleeping: every wait polls the REST API,
 * a file or the log until a deadline. The trigger URL is the harness default (a
 * closed port): promotions are asserted, not deliveries.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ASG "workers-stage"
#define SHA_PARENT "60c8eedbd9916e98e042832de430e52be7ffe0ac"
#define SHA_A "61c979eab8ea475e0b84db7556d2049e9dae6d89"           /* the fixtures' commit */
#define SHA_B "5d1f0c9b8a7e6d5c4b3a29181706f5e4d3c2b1a0"           /* a later commit */
#define SHA_C "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"           /* no AMI */
#define SHA_D "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4"           /* the next good commit */
#define SHA_X1 "abcdef12aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"          /* X1 and X2 share 7 digits */
#define SHA_X2 "abcdef13bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define AMI_C "ami-0c3c3c3c3c3c3c3c3"
#define AMI_D "ami-0d4d4d4d4d4d4d4d4"
#define AMI_A "ami-08fdc871471476ef5"
#define AMI_B "ami-0a1b2c3d4e5f60718"
#define OTHER_REPO "https://gitlab.example.net/platform/other-images"
#define GOLDEN_REPO "https://gitlab.example.net/platform/golden-images"
#define ADMIN_AUTH "Authorization: Bearer " SUPPORT_ADMIN_TOKEN
#define READ_AUTH "Authorization: Bearer " SUPPORT_READ_TOKEN
#define WAIT_MS 15000

/* --- set-up ------------------------------------------------------------------------ */

/* p: the amicd of the test; q: a second one, when a test needs it (struct h_fx). */
static int setup_default(void **state) { return h_fx_setup(state, NULL, 0); }

static int setup_read_token(void **state)
{
	struct amicd_opts o = { .read_token = true };

	return h_fx_setup(state, &o, 0);
}

static int setup_other_repo(void **state)
{
	struct amicd_opts o = {
		.resources = "  - provider: asg\n"
			     "    identifier: workers-stage\n"
			     "    account: image-builder-stage\n"
			     "    region: eu-west-1\n"
			     "    image:\n"
			     "      repo: { url: " OTHER_REPO ", ref: main, tag_name: git-sha }\n",
	};

	return h_fx_setup(state, &o, 0);
}

/* Both amicds must stop cleanly (SIGTERM → exit 0) and their logs hold no sanitizer report. */
static int teardown(void **state)
{
	struct h_fx *f = *state;
	int rc = h_stop_and_check(&f->p) | h_stop_and_check(&f->q);

	h_fx_teardown(state);
	return rc;
}

/* --- small helpers ------------------------------------------------------------------ */

static json_t *parse_body(const struct http_result *r)
{
	return json_loadb(r->body, r->body_len, 0, NULL);
}

static json_t *get_asg(const struct amicd_proc *p)
{
	json_t *j = h_asg(p, ASG);

	if (j == NULL)
		fail_msg("GET /api/v1/asgs/" ASG " failed");
	return j;
}

/* The promotions, newest first (a new reference). */
static json_t *get_promotions(const struct amicd_proc *p)
{
	json_t *list = h_promotions(p, ASG);

	if (list == NULL)
		fail_msg("GET promotions failed, or promotions is not a list");
	return list;
}

/* POST to an admin endpoint with the given Authorization header line (NULL: none). */
static long post_admin_as(const struct amicd_proc *p, const char *path, const char *auth, const char *body,
			  json_t **out)
{
	const char *h[3];
	struct http_result r;
	long status;
	int n = 0;

	h[n++] = "Content-Type: application/json";
	if (auth != NULL)
		h[n++] = auth;
	h[n] = NULL;
	if (out != NULL)
		*out = NULL;
	assert_int_equal(h_post(p, path, h, body, strlen(body), &r), 0);
	status = r.status;
	if (out != NULL) {
		*out = parse_body(&r);
		if (*out == NULL)
			fail_msg("%s answered %ld with a body that is not JSON: %s", path, status, r.body);
	}
	http_result_free(&r);
	return status;
}

static long post_admin(const struct amicd_proc *p, const char *path, const char *body, json_t **out)
{
	return post_admin_as(p, path, ADMIN_AUTH, body, out);
}

/* POST replay with body; expects 200 and returns the answer. */
static json_t *replay(const struct amicd_proc *p, const char *body)
{
	json_t *out = NULL;
	long status = post_admin(p, "/api/v1/admin/replay", body, &out);

	if (status != 200) {
		char *text = json_dumps(out, JSON_COMPACT);

		fail_msg("replay %s answered %ld: %s", body, status, text != NULL ? text : "");
	}
	return out;
}

/* The one decision of a replay answer (this config has one ASG). */
static const json_t *only_decision(const json_t *answer)
{
	const json_t *d = json_object_get(answer, "decisions");

	assert_true(json_is_array(d));
	assert_int_equal(json_array_size(d), 1);
	assert_string_equal(h_text(json_array_get(d, 0), "asg"), ASG);
	return json_array_get(d, 0);
}

/* A push before → after (202 queued); *id gets its event id. */
static void deliver_push(const struct amicd_proc *p, const char *before, const char *after, int64_t *id)
{
	char *push = h_push_variant(before, after);
	char idem[64], word[32];

	assert_non_null(push);
	snprintf(idem, sizeof idem, "adm-push-%.12s", after);
	assert_int_equal(h_post_gitlab(p, "Push Hook", idem, push, id, word, sizeof word), 202);
	assert_string_equal(word, "queued");
	free(push);
}

/* The AMI Shared event that makes image_id ready for commit in the ASG's account. */
static void deliver_shared(const struct amicd_proc *p, const char *image_id, const char *commit, int64_t *id)
{
	char envelope[64];
	char *ev;

	snprintf(envelope, sizeof envelope, "adm-shared-%s", image_id);
	ev = h_ami_shared_variant(envelope, image_id, commit, NULL, true);
	assert_non_null(ev);
	assert_int_equal(h_post_eb(p, ev, id, NULL, 0), 202);
	free(ev);
}

/* --- the database, while amicd is stopped ------------------------------------------ */

static void db_exec(const char *path, const char *sql)
{
	char msg[256];

	if (support_db_exec(path, sql, msg, sizeof msg) != 0)
		fail_msg("SQL failed on %s: %s (%s)", path, msg, sql);
}

static void stop_cleanly(struct amicd_proc *p)
{
	assert_int_equal(harness_stop(p, SIGTERM, 10000), 0);
}

/* --- scenarios ---------------------------------------------------------------------- */

/* push A + AMI A → pinned to A. ids: [push, shared]. */
static void scenario_one(const struct amicd_proc *p, int64_t ids[2])
{
	deliver_push(p, SHA_PARENT, SHA_A, &ids[0]);
	deliver_shared(p, AMI_A, SHA_A, &ids[1]);
	assert_true(h_wait_pin(p, ASG, SHA_A, WAIT_MS));
}

/* scenario_one, then push B + AMI B → pinned to B. ids: 4 event ids in delivery order. */
static void scenario_two(const struct amicd_proc *p, int64_t ids[4])
{
	scenario_one(p, ids);
	deliver_push(p, SHA_A, SHA_B, &ids[2]);
	deliver_shared(p, AMI_B, SHA_B, &ids[3]);
	assert_true(h_wait_pin(p, ASG, SHA_B, WAIT_MS));
}

/* "id commit actor previous;" for every promotion, newest first. */
static void promotions_summary(const struct amicd_proc *p, char *buf, size_t size)
{
	json_t *list = get_promotions(p);
	size_t i, at = 0;
	json_t *pr;

	buf[0] = '\0';
	json_array_foreach(list, i, pr) {
		at += (size_t)snprintf(buf + at, at < size ? size - at : 0, "%lld %s %s %s %s;", (long long)h_int(pr, "id"),
				       h_text(pr, "commit"), h_text(pr, "image_id"), h_text(pr, "actor"),
				       h_text(pr, "previous.commit"));
		if (at >= size)
			fail_msg("promotions summary too long");
	}
	json_decref(list);
}

/* "commit image promotion_id" of the pin ("null" without one). */
static void pin_summary(const struct amicd_proc *p, char *buf, size_t size)
{
	json_t *a = get_asg(p);
	const json_t *pin = json_object_get(a, "pin");

	if (json_is_object(pin))
		snprintf(buf, size, "%s %s %lld", h_text(pin, "commit"), h_text(pin, "image_id"),
			 (long long)h_int(pin, "promotion_id"));
	else
		snprintf(buf, size, "null");
	json_decref(a);
}

static size_t n_promotions(const struct amicd_proc *p)
{
	json_t *list = get_promotions(p);
	size_t n = json_array_size(list);

	json_decref(list);
	return n;
}

/* --- /metrics ---------------------------------------------------------------------- */

static char *get_metrics(const struct amicd_proc *p)
{
	struct http_result r;
	char ct[128];
	char *text;

	assert_int_equal(h_get(p, "/metrics", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(http_result_header(&r, "Content-Type", ct, sizeof ct));
	assert_non_null(strstr(ct, "text/plain"));
	text = r.body;
	r.body = NULL;
	http_result_free(&r);
	return text;
}

/* Every sample line is "series value" with a number, every # line HELP or TYPE. */
static void check_exposition_format(const char *text)
{
	const char *line = text;

	while (*line != '\0') {
		const char *eol = strchr(line, '\n');
		size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);
		char buf[512], *sp, *end;

		snprintf(buf, sizeof buf, "%.*s", (int)len, line);
		if (len > 0 && buf[0] == '#') {
			if (strncmp(buf, "# HELP ", 7) != 0 && strncmp(buf, "# TYPE ", 7) != 0)
				fail_msg("bad comment line: %s", buf);
		} else if (len > 0) {
			sp = strrchr(buf, ' ');
			if (sp == NULL)
				fail_msg("sample without a value: %s", buf);
			strtod(sp + 1, &end);
			if (end == sp + 1 || *end != '\0')
				fail_msg("sample value is not a number: %s", buf);
		}
		line = eol != NULL ? eol + 1 : line + len;
	}
}

/* The value of one series ("name{labels}" exactly as exposed); false when absent. */
static bool metric(const char *text, const char *series, double *value)
{
	size_t n = strlen(series);
	const char *line = text;

	while (*line != '\0') {
		const char *eol = strchr(line, '\n');

		if (line[0] != '#' && strncmp(line, series, n) == 0 && line[n] == ' ') {
			*value = strtod(line + n + 1, NULL);
			return true;
		}
		line = eol != NULL ? eol + 1 : line + strlen(line);
	}
	return false;
}

static double metric_must(const char *text, const char *series)
{
	double v = 0;

	if (!metric(text, series, &v))
		fail_msg("no series %s in /metrics", series);
	return v;
}

/* Sum (and count) of the samples whose line starts with prefix. */
static double metric_sum(const char *text, const char *prefix, size_t *count)
{
	size_t n = strlen(prefix);
	const char *line = text;
	double sum = 0;

	*count = 0;
	while (*line != '\0') {
		const char *eol = strchr(line, '\n');

		if (line[0] != '#' && strncmp(line, prefix, n) == 0) {
			const char *sp = strchr(line, ' ');

			sum += strtod(sp + 1, NULL);
			(*count)++;
		}
		line = eol != NULL ? eol + 1 : line + strlen(line);
	}
	return sum;
}

/* Buckets of one endpoint, in order, never decreasing, +Inf last and equal to _count. */
static void check_histogram(const char *text, const char *endpoint)
{
	char prefix[128], series[128];
	size_t n, buckets = 0;
	const char *line = text;
	double last = -1, count;
	bool inf = false;

	n = (size_t)snprintf(prefix, sizeof prefix, "amicd_delivery_duration_seconds_bucket{endpoint=\"%s\",le=\"",
			     endpoint);
	while (*line != '\0') {
		const char *eol = strchr(line, '\n');

		if (strncmp(line, prefix, n) == 0) {
			const char *sp = strchr(line, ' ');
			double v = strtod(sp + 1, NULL);

			if (inf)
				fail_msg("%s: bucket after +Inf", endpoint);
			if (v < last)
				fail_msg("%s: buckets decrease at %.*s", endpoint, (int)(sp - line), line);
			last = v;
			inf = strncmp(line + n, "+Inf\"", 5) == 0;
			buckets++;
		}
		line = eol != NULL ? eol + 1 : line + strlen(line);
	}
	assert_true(buckets >= 2);
	assert_true(inf);
	snprintf(series, sizeof series, "amicd_delivery_duration_seconds_count{endpoint=\"%s\"}", endpoint);
	count = metric_must(text, series);
	assert_true(last == count);
	snprintf(series, sizeof series, "amicd_delivery_duration_seconds_sum{endpoint=\"%s\"}", endpoint);
	assert_true(metric_must(text, series) >= 0);
}

/* --- tests: authentication ------------------------------------------------------------ */

static void admin_requires_admin_token(void **state)
{
	struct h_fx *f = *state;
	struct amicd_proc *p = &f->p;
	static const char *const bad_auth[] = {
		NULL,                                      /* no Authorization */
		"Authorization: Bearer not-the-admin-token",
		"Authorization: Bearer " SUPPORT_ADMIN_TOKEN "x", /* a longer token with the right prefix */
		"Authorization: " SUPPORT_ADMIN_TOKEN,           /* no scheme */
		"Authorization: Basic aXQtYWRtaW4tdG9rZW4tYzBmZmVlOg==",
		READ_AUTH,                                 /* the read token is not an admin token */
	};
	static const char *const actions[][2] = {
		{ "/api/v1/admin/replay", "{}" },
		{ "/api/v1/admin/replay", "{\"dry_run\":true}" },
		{ "/api/v1/admin/asgs/" ASG "/freeze", "{\"reason\":\"intruder\"}" },
		{ "/api/v1/admin/asgs/" ASG "/unfreeze", "{\"reason\":\"intruder\"}" },
		{ "/api/v1/admin/asgs/" ASG "/pin", "{\"commit\":\"" SHA_B "\",\"reason\":\"intruder\"}" },
		{ "/api/v1/admin/asgs/" ASG "/retrigger", "{\"reason\":\"intruder\"}" },
	};
	int64_t ids[4];
	char pins_before[256], promos_before[1024], pins_after[256], promos_after[1024];
	int64_t events_before, triggers_before;
	json_t *out, *a;

	scenario_two(p, ids);
	/* roll back to A by hand so an unauthorized pin or unfreeze would have something to change */
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/pin",
				    "{\"commit\":\"" SHA_A "\",\"reason\":\"setup\"}", NULL), 200);
	assert_true(h_wait_pin(p, ASG, SHA_A, WAIT_MS));
	pin_summary(p, pins_before, sizeof pins_before);
	promotions_summary(p, promos_before, sizeof promos_before);
	events_before = h_db_int(p, "SELECT count(*) FROM events", NULL);
	triggers_before = h_db_int(p, "SELECT count(*) FROM triggers", NULL);

	for (size_t i = 0; i < sizeof bad_auth / sizeof bad_auth[0]; i++) {
		for (size_t k = 0; k < sizeof actions / sizeof actions[0]; k++) {
			long status = post_admin_as(p, actions[k][0], bad_auth[i], actions[k][1], &out);

			if (status != 401)
				fail_msg("%s with %s: %ld, expected 401", actions[k][0],
					 bad_auth[i] != NULL ? bad_auth[i] : "no token", status);
			assert_string_equal(h_text(out, "error.code"), "unauthorized");
			/* no detail of which part failed */
			assert_null(strstr(h_text(out, "error.message"), "token"));
			json_decref(out);
		}
	}
	/* nothing changed: still frozen on A, same promotions, no stored event or trigger */
	a = get_asg(p);
	assert_true(json_is_true(json_object_get(a, "frozen")));
	assert_non_null(strstr(h_text(a, "frozen_reason"), "setup"));
	json_decref(a);
	pin_summary(p, pins_after, sizeof pins_after);
	promotions_summary(p, promos_after, sizeof promos_after);
	assert_string_equal(pins_after, pins_before);
	assert_string_equal(promos_after, promos_before);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM events", NULL), events_before);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM triggers", NULL), triggers_before);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM trigger_series", NULL), 0); /* no retrigger */
	assert_true(h_log_contains(p, "admin request refused"));
	/* the read token still reads */
	a = h_get_json(p, "/api/v1/asgs/" ASG);
	assert_non_null(a);
	json_decref(a);

	/* the admin token works on every endpoint */
	assert_int_equal(post_admin(p, "/api/v1/admin/replay", "{\"dry_run\":true}", &out), 200);
	assert_true(json_is_true(json_object_get(out, "dry_run")));
	json_decref(out);
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/freeze", "{\"reason\":\"still frozen\"}", &out), 200);
	assert_true(json_is_true(json_object_get(json_object_get(out, "asg"), "frozen")));
	json_decref(out);
	assert_int_equal(post_admin(p, "/api/v1/admin/replay", "{}", &out), 200);
	assert_int_equal(h_int(out, "promotions"), 0); /* frozen: the replay does not undo the rollback */
	json_decref(out);
	assert_true(h_pin_is(p, ASG, SHA_A));
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/unfreeze", "{\"reason\":\"resume\"}", &out), 200);
	assert_false(json_is_true(json_object_get(json_object_get(out, "asg"), "frozen")));
	json_decref(out);
	assert_true(h_wait_pin(p, ASG, SHA_B, WAIT_MS));
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/pin",
				    "{\"commit\":\"" SHA_B "\",\"reason\":\"already there\"}", &out), 200);
	assert_true(json_is_null(json_object_get(out, "promotion_id"))); /* already pinned: no new promotion */
	json_decref(out);
	assert_int_equal(n_promotions(p), 4); /* A auto, B auto, A admin, B auto */
}

/* --- tests: replay ------------------------------------------------------------------- */

static void replay_restores_deleted_facts(void **state)
{
	struct h_fx *f = *state;
	struct amicd_proc *p = &f->p;
	int64_t ids[4];
	char pins_before[256], promos_before[1024], pins_after[256], promos_after[1024];
	int64_t triggers_before, events;
	json_t *a, *out, *out2;
	const json_t *d;

	scenario_two(p, ids);
	assert_int_equal(n_promotions(p), 2);
	pin_summary(p, pins_before, sizeof pins_before);
	promotions_summary(p, promos_before, sizeof promos_before);
	triggers_before = h_db_int(p, "SELECT count(*) FROM triggers", NULL);
	events = h_db_int(p, "SELECT count(*) FROM events", NULL);
	assert_int_equal(triggers_before, 2);
	assert_int_equal(events, 4);

	stop_cleanly(p);
	db_exec(p->db, "DELETE FROM ami_tags; DELETE FROM ami_shares; DELETE FROM amis; DELETE FROM pushes;");
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM pushes", NULL), 0);
	assert_int_equal(harness_start(p), 0);

	/* the pin survives (it is not a derived fact); what it was derived from is gone */
	a = get_asg(p);
	assert_string_equal(h_text(a, "pin.commit"), SHA_B);
	assert_true(json_is_null(json_object_get(a, "head")));
	json_decref(a);

	out = replay(p, "{}");
	assert_int_equal(h_int(out, "replayed"), events);
	assert_false(json_is_true(json_object_get(out, "dry_run")));
	assert_int_equal(h_int(out, "promotions"), 0);
	d = only_decision(out);
	assert_string_equal(h_text(d, "action"), "keep");
	assert_string_equal(h_text(d, "commit"), SHA_B);
	assert_string_equal(h_text(d, "image_id"), AMI_B);
	assert_string_equal(h_text(d, "state"), "up_to_date");

	a = get_asg(p);
	assert_string_equal(h_text(a, "head.commit"), SHA_B);
	assert_string_equal(h_text(a, "state"), "up_to_date");
	json_decref(a);
	pin_summary(p, pins_after, sizeof pins_after);
	promotions_summary(p, promos_after, sizeof promos_after);
	assert_string_equal(pins_after, pins_before);
	assert_string_equal(promos_after, promos_before);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM triggers", NULL), triggers_before);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM pushes", NULL), 2);

	/* again: nothing changes */
	out2 = replay(p, "{}");
	assert_int_equal(h_int(out2, "replayed"), h_int(out, "replayed"));
	assert_int_equal(h_int(out2, "promotions"), 0);
	{
		size_t i;
		json_t *one;

		json_array_foreach(json_object_get(out2, "decisions"), i, one)
			assert_string_equal(h_text(one, "action"), "keep");
	}
	pin_summary(p, pins_after, sizeof pins_after);
	promotions_summary(p, promos_after, sizeof promos_after);
	assert_string_equal(pins_after, pins_before);
	assert_string_equal(promos_after, promos_before);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM triggers", NULL), triggers_before);
	json_decref(out);
	json_decref(out2);
}

static void replay_from_deliveries_only(void **state)
{
	struct h_fx *f = *state;
	struct amicd_proc *p = &f->p, *q = &f->q;
	int64_t ids[4];
	char pins_p[256], pin_file[400];
	char *sql;
	json_t *a, *out, *list;
	const json_t *d;

	scenario_two(p, ids);
	pin_summary(p, pins_p, sizeof pins_p);
	stop_cleanly(p);

	/* a fresh amicd: migrate its DB by starting it once, then give it p's deliveries only */
	assert_int_equal(harness_init(q, NULL), 0);
	assert_int_equal(harness_start(q), 0);
	stop_cleanly(q);
	sql = sqlite3_mprintf("ATTACH DATABASE %Q AS src; INSERT INTO events SELECT * FROM src.events;"
			      " INSERT INTO event_bodies SELECT * FROM src.event_bodies; DETACH DATABASE src;",
			      p->db);
	db_exec(q->db, sql);
	sqlite3_free(sql);
	assert_int_equal(h_db_int(q, "SELECT count(*) FROM events", NULL), 4);
	assert_int_equal(h_db_int(q, "SELECT count(*) FROM pushes", NULL), 0);
	assert_int_equal(h_db_int(q, "SELECT count(*) FROM promotions", NULL), 0);
	assert_int_equal(harness_start(q), 0);

	/* the events were processed by p: q's worker takes only queued ones */
	a = get_asg(q);
	assert_true(json_is_null(json_object_get(a, "pin")));
	assert_true(json_is_null(json_object_get(a, "head")));
	json_decref(a);

	out = replay(q, "{}");
	assert_int_equal(h_int(out, "replayed"), 4);
	assert_int_equal(h_int(out, "promotions"), 1);
	d = only_decision(out);
	assert_string_equal(h_text(d, "action"), "promote");
	assert_string_equal(h_text(d, "commit"), SHA_B);
	assert_string_equal(h_text(d, "image_id"), AMI_B);
	json_decref(out);

	a = get_asg(q);
	assert_string_equal(h_text(a, "pin.commit"), SHA_B);
	assert_string_equal(h_text(a, "pin.image_id"), AMI_B);
	assert_string_equal(h_text(a, "state"), "up_to_date");
	json_decref(a);
	/* same final pin as p (commit and image; the promotion ids differ) */
	assert_true(strncmp(pins_p, SHA_B " " AMI_B " ", strlen(SHA_B " " AMI_B " ")) == 0);
	list = get_promotions(q);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(h_text(json_array_get(list, 0), "actor"), "auto");
	assert_string_equal(h_text(json_array_get(list, 0), "commit"), SHA_B);
	json_decref(list);
	assert_int_equal(h_db_int(q, "SELECT count(*) FROM triggers", NULL), 1);
	h_pin_file(q, ASG, pin_file, sizeof pin_file);
	assert_true(h_wait_file_contains(pin_file, "commit: " SHA_B, WAIT_MS));
	assert_true(h_wait_file_contains(pin_file, "id: " AMI_B, WAIT_MS));
}

static void asg_added_after_its_events(void **state)
{
	struct h_fx *f = *state;
	struct amicd_proc *p = &f->p;
	char word[32], pin_file[400];
	int64_t push_id = 0, shared_id = 0;
	char *push = h_push_variant(SHA_PARENT, SHA_A);
	char *cfg, *moved;
	size_t n = 0;
	json_t *a, *out;
	const json_t *d;

	/* the ASG tracks another repo: the golden-images push is stored and ignored */
	assert_non_null(push);
	assert_int_equal(h_post_gitlab(p, "Push Hook", "adm-late-push", push, &push_id, word, sizeof word), 200);
	assert_string_equal(word, "ignored");
	free(push);
	deliver_shared(p, AMI_A, SHA_A, &shared_id);
	assert_true(h_wait_event_done(p, shared_id, WAIT_MS));
	a = get_asg(p);
	assert_true(json_is_null(json_object_get(a, "pin")));
	assert_true(json_is_null(json_object_get(a, "head")));
	json_decref(a);
	stop_cleanly(p);

	/* now it tracks golden-images */
	cfg = support_read_file(p->config, NULL);
	assert_non_null(cfg);
	moved = support_replace_all(cfg, OTHER_REPO, GOLDEN_REPO, &n);
	assert_non_null(moved);
	assert_true(n > 0);
	assert_int_equal(support_write_file(NULL, p->config, moved), 0);
	free(moved);
	free(cfg);
	assert_int_equal(harness_start(p), 0);

	/* the worker takes queued events only: the ignored push stays ignored, no pin */
	a = get_asg(p);
	assert_string_equal(h_text(a, "repo.url"), GOLDEN_REPO);
	assert_true(json_is_null(json_object_get(a, "pin")));
	assert_true(json_is_null(json_object_get(a, "head")));
	assert_string_equal(h_text(a, "state"), "no_pushes");
	json_decref(a);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM events WHERE status = 'ignored'", NULL), 1);

	/* a replay re-reads the push with the new configuration */
	out = replay(p, "{}");
	assert_int_equal(h_int(out, "replayed"), 2);
	assert_int_equal(h_int(out, "promotions"), 1);
	d = only_decision(out);
	assert_string_equal(h_text(d, "action"), "promote");
	assert_string_equal(h_text(d, "commit"), SHA_A);
	json_decref(out);
	a = get_asg(p);
	assert_string_equal(h_text(a, "pin.commit"), SHA_A);
	assert_string_equal(h_text(a, "pin.image_id"), AMI_A);
	assert_int_equal(h_int(json_object_get(a, "head"), "event_id"), push_id);
	json_decref(a);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM events WHERE status = 'ignored'", NULL), 0);
	h_pin_file(p, ASG, pin_file, sizeof pin_file);
	assert_true(h_wait_file_contains(pin_file, "commit: " SHA_A, WAIT_MS));
}

static void replay_dry_run_range_ids_and_bad_bodies(void **state)
{
	struct h_fx *f = *state;
	struct amicd_proc *p = &f->p;
	int64_t ids[2];
	char pin_file[400], body[160], wrongs[2048];
	size_t wrong = 0;
	json_t *a, *out;
	const json_t *d;
	static const char *const bad[][2] = {
		{ "{\"bogus\":1}", "$.bogus" },
		{ "{\"event_ids\":5}", "$.event_ids" },
		{ "{\"event_ids\":[]}", "$.event_ids" },
		{ "{\"event_ids\":[1,\"two\"]}", "$.event_ids[1]" },
		{ "{\"event_ids\":[1],\"from_id\":1}", "$.event_ids" },
		{ "{\"from_id\":3,\"to_id\":2}", "$.to_id" },
		{ "{\"from_id\":\"1\"}", "$.from_id" },
		{ "{\"from_id\":0}", "$.from_id" },
		{ "{\"dry_run\":\"yes\"}", "$.dry_run" },
		{ "[]", "$" },
		{ "{\"event_ids\":[1", "$" },
	};

	scenario_one(p, ids);
	stop_cleanly(p);
	/* back to deliveries only: no facts, no promotion, no pin, no pin file */
	db_exec(p->db, "DELETE FROM triggers; DELETE FROM pins; DELETE FROM promotions; DELETE FROM ami_tags;"
		       " DELETE FROM ami_shares; DELETE FROM amis; DELETE FROM pushes;");
	h_pin_file(p, ASG, pin_file, sizeof pin_file);
	assert_int_equal(unlink(pin_file), 0);
	assert_int_equal(harness_start(p), 0);
	a = get_asg(p);
	assert_true(json_is_null(json_object_get(a, "pin")));
	json_decref(a);

	/* dry run: decides "promote", changes nothing */
	out = replay(p, "{\"dry_run\":true}");
	assert_true(json_is_true(json_object_get(out, "dry_run")));
	assert_int_equal(h_int(out, "replayed"), 2);
	assert_int_equal(h_int(out, "promotions"), 0);
	d = only_decision(out);
	assert_string_equal(h_text(d, "action"), "promote");
	assert_string_equal(h_text(d, "commit"), SHA_A);
	assert_string_equal(h_text(d, "image_id"), AMI_A);
	assert_non_null(strstr(h_text(d, "reason"), "ready"));
	json_decref(out);
	a = get_asg(p);
	assert_true(json_is_null(json_object_get(a, "pin")));
	assert_true(json_is_null(json_object_get(a, "head"))); /* the derived facts were rolled back too */
	json_decref(a);
	assert_int_equal(n_promotions(p), 0);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM triggers", NULL), 0);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM pushes", NULL), 0);
	assert_int_equal(access(pin_file, F_OK), -1);
	/* a dry run of a subset too */
	snprintf(body, sizeof body, "{\"event_ids\":[%lld],\"dry_run\":true}", (long long)ids[0]);
	out = replay(p, body);
	assert_int_equal(h_int(out, "replayed"), 1);
	assert_string_equal(h_text(only_decision(out), "action"), "keep"); /* a head without an AMI */
	assert_string_equal(h_text(only_decision(out), "state"), "waiting");
	json_decref(out);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM pushes", NULL), 0);

	/* a range replay of the two deliveries promotes */
	snprintf(body, sizeof body, "{\"from_id\":%lld,\"to_id\":%lld}", (long long)ids[0], (long long)ids[1]);
	out = replay(p, body);
	assert_int_equal(h_int(out, "replayed"), 2);
	assert_int_equal(h_int(out, "promotions"), 1);
	d = only_decision(out);
	assert_string_equal(h_text(d, "action"), "promote");
	assert_string_equal(h_text(d, "commit"), SHA_A);
	json_decref(out);
	assert_true(h_pin_is(p, ASG, SHA_A));
	assert_true(h_wait_file_contains(pin_file, "commit: " SHA_A, WAIT_MS));
	assert_int_equal(n_promotions(p), 1);

	/* event_ids: just those, nothing more happens */
	snprintf(body, sizeof body, "{\"event_ids\":[%lld,%lld]}", (long long)ids[1], (long long)ids[0]);
	out = replay(p, body);
	assert_int_equal(h_int(out, "replayed"), 2);
	assert_int_equal(h_int(out, "promotions"), 0);
	assert_string_equal(h_text(only_decision(out), "action"), "keep");
	assert_string_equal(h_text(only_decision(out), "state"), "up_to_date");
	json_decref(out);
	/* from_id alone: from there to the end */
	snprintf(body, sizeof body, "{\"from_id\":%lld}", (long long)ids[1]);
	out = replay(p, body);
	assert_int_equal(h_int(out, "replayed"), 1);
	assert_int_equal(h_int(out, "promotions"), 0);
	json_decref(out);
	/* an id beyond the last event: 400 naming it, nothing replayed (issue 11, item 10) */
	assert_int_equal(post_admin(p, "/api/v1/admin/replay", "{\"event_ids\":[999999]}", &out), 400);
	assert_non_null(strstr(h_text(out, "error.message"), "999999"));
	json_decref(out);
	assert_int_equal(n_promotions(p), 1);

	/* bad bodies: 400 with the path at fault, nothing done (all checked, then reported) */
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		long status = post_admin(p, "/api/v1/admin/replay", bad[i][0], &out);

		if (status != 400 || strcmp(h_text(out, "error.path"), bad[i][1]) != 0)
			wrong += (size_t)snprintf(wrongs + wrong, wrong < sizeof wrongs ? sizeof wrongs - wrong : 0,
						  "\n  replay %s: %ld with path \"%s\", expected 400 with \"%s\"", bad[i][0],
						  status, h_text(out, "error.path"), bad[i][1]);
		json_decref(out);
	}
	assert_int_equal(n_promotions(p), 1);
	assert_true(h_pin_is(p, ASG, SHA_A));
	if (wrong > 0)
		fail_msg("bad replay bodies answered wrongly:%s", wrongs);
}

/* --- tests: freeze, unfreeze, manual pin ------------------------------------------------ */

static void freeze_stops_and_unfreeze_resumes(void **state)
{
	struct h_fx *f = *state;
	struct amicd_proc *p = &f->p;
	int64_t ids[4], later = 0;
	char pin_file[400], *dereg;
	json_t *a, *out, *list;
	const json_t *d;

	scenario_one(p, ids);
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/freeze", "{\"reason\":\"change freeze CHG-42\"}", &out),
			 200);
	assert_true(json_is_true(json_object_get(json_object_get(out, "asg"), "frozen")));
	json_decref(out);
	a = get_asg(p);
	assert_true(json_is_true(json_object_get(a, "frozen")));
	assert_string_equal(h_text(a, "frozen_reason"), "change freeze CHG-42");
	assert_true(json_is_string(json_object_get(a, "frozen_at")));
	assert_string_equal(h_text(a, "state"), "frozen");
	json_decref(a);

	/* a ready new head: not promoted, but the decision is still shown */
	deliver_push(p, SHA_A, SHA_B, &ids[2]);
	deliver_shared(p, AMI_B, SHA_B, &ids[3]);
	assert_true(h_wait_event_done(p, ids[2], WAIT_MS));
	assert_true(h_wait_event_done(p, ids[3], WAIT_MS));
	a = get_asg(p);
	assert_string_equal(h_text(a, "state"), "frozen");
	assert_string_equal(h_text(a, "pin.commit"), SHA_A);
	assert_string_equal(h_text(a, "head.commit"), SHA_B);
	assert_non_null(strstr(h_text(a, "reason"), "would promote"));
	json_decref(a);
	assert_int_equal(n_promotions(p), 1);
	out = replay(p, "{\"dry_run\":true}");
	d = only_decision(out);
	assert_string_equal(h_text(d, "action"), "keep");
	assert_string_equal(h_text(d, "state"), "frozen");
	json_decref(out);
	/* a full replay does not promote a frozen ASG either */
	out = replay(p, "{}");
	assert_int_equal(h_int(out, "promotions"), 0);
	json_decref(out);
	assert_true(h_pin_is(p, ASG, SHA_A));
	assert_int_equal(n_promotions(p), 1);

	/* the freeze survives a restart: the worker's passes after start do not promote */
	stop_cleanly(p);
	assert_int_equal(harness_start(p), 0);
	dereg = h_state_variant("adm-still-available-b", AMI_B, "available", "2025-03-04T11:00:00Z");
	assert_int_equal(h_post_eb(p, dereg, &later, NULL, 0), 202);
	free(dereg);
	assert_true(h_wait_event_done(p, later, WAIT_MS));
	a = get_asg(p);
	assert_true(json_is_true(json_object_get(a, "frozen")));
	assert_string_equal(h_text(a, "frozen_reason"), "change freeze CHG-42");
	assert_string_equal(h_text(a, "state"), "frozen");
	assert_string_equal(h_text(a, "pin.commit"), SHA_A);
	json_decref(a);
	assert_int_equal(n_promotions(p), 1);

	/* bad requests */
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/unfreeze", "{}", &out), 400);
	assert_string_equal(h_text(out, "error.path"), "$.reason");
	json_decref(out);
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/unfreeze", "{\"reason\":\"x\",\"force\":true}", &out), 400);
	assert_string_equal(h_text(out, "error.path"), "$.force");
	json_decref(out);
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/no-such-asg/unfreeze", "{\"reason\":\"x\"}", &out), 404);
	json_decref(out);
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/thaw", "{\"reason\":\"x\"}", &out), 404);
	json_decref(out);
	assert_true(h_pin_is(p, ASG, SHA_A));

	/* unfreeze: automation resumes */
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/unfreeze", "{\"reason\":\"freeze over\"}", &out), 200);
	assert_false(json_is_true(json_object_get(json_object_get(out, "asg"), "frozen")));
	/* the answer is the ASG after the decision the unfreeze caused: promoted, and says by which promotion */
	assert_string_equal(h_text(out, "asg.state"), "up_to_date");
	assert_string_equal(h_text(out, "asg.pin.commit"), SHA_B);
	assert_true(json_is_null(json_object_get(json_object_get(out, "asg"), "waiting_for")));
	assert_true(json_is_integer(json_object_get(out, "promotion_id")));
	assert_int_equal(h_int(out, "promotion_id"), h_int(out, "asg.pin.promotion_id"));
	assert_null(strstr(h_text(out, "asg.reason"), "is ready"));
	json_decref(out);
	assert_true(h_wait_pin(p, ASG, SHA_B, WAIT_MS));
	a = get_asg(p);
	assert_false(json_is_true(json_object_get(a, "frozen")));
	assert_true(json_is_null(json_object_get(a, "frozen_reason")));
	assert_string_equal(h_text(a, "state"), "up_to_date");
	json_decref(a);
	list = get_promotions(p);
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(h_text(json_array_get(list, 0), "commit"), SHA_B);
	assert_string_equal(h_text(json_array_get(list, 0), "actor"), "auto");
	assert_string_equal(h_text(json_array_get(list, 0), "previous.commit"), SHA_A);
	json_decref(list);
	h_pin_file(p, ASG, pin_file, sizeof pin_file);
	assert_true(h_wait_file_contains(pin_file, "commit: " SHA_B, WAIT_MS));
}

static void manual_pin_rollback_and_resume(void **state)
{
	struct h_fx *f = *state;
	struct amicd_proc *p = &f->p;
	int64_t ids[4];
	char pin_file[400], pins_before[256], promos_before[1024], pins_after[256], promos_after[1024];
	char *text;
	json_t *a, *out, *list, *pr;
	size_t i;

	scenario_two(p, ids);
	h_pin_file(p, ASG, pin_file, sizeof pin_file);
	assert_true(h_wait_file_contains(pin_file, "commit: " SHA_B, WAIT_MS));

	/* roll back to A (upper-case hex is the same commit) */
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/pin",
				    "{\"commit\":\"61C979EAB8EA475E0B84DB7556D2049E9DAE6D89\","
				    "\"reason\":\"INC-7: kernel 6.8 panics on boot\"}", &out), 200);
	assert_true(json_is_integer(json_object_get(out, "promotion_id")));
	assert_true(json_is_true(json_object_get(out, "frozen")));
	assert_string_equal(h_text(out, "asg.pin.commit"), SHA_A);
	assert_true(json_is_true(json_object_get(json_object_get(out, "asg"), "frozen")));
	json_decref(out);

	list = get_promotions(p);
	assert_int_equal(json_array_size(list), 3);
	pr = json_array_get(list, 0);
	assert_string_equal(h_text(pr, "actor"), "admin");
	assert_string_equal(h_text(pr, "commit"), SHA_A);
	assert_string_equal(h_text(pr, "image_id"), AMI_A);
	assert_non_null(strstr(h_text(pr, "reason"), "INC-7: kernel 6.8 panics on boot"));
	assert_string_equal(h_text(pr, "previous.commit"), SHA_B);
	assert_string_equal(h_text(pr, "previous.image_id"), AMI_B);
	json_array_foreach(list, i, pr)
		if (i > 0)
			assert_string_equal(h_text(pr, "actor"), "auto");
	json_decref(list);
	a = get_asg(p);
	assert_true(json_is_true(json_object_get(a, "frozen")));
	assert_non_null(strstr(h_text(a, "frozen_reason"), "INC-7"));
	assert_string_equal(h_text(a, "pin.commit"), SHA_A);
	assert_string_equal(h_text(a, "pin.image_id"), AMI_A);
	assert_string_equal(h_text(a, "state"), "frozen");
	json_decref(a);
	assert_true(h_wait_file_contains(pin_file, "commit: " SHA_A, WAIT_MS));
	assert_true(h_wait_file_contains(pin_file, "id: " AMI_A, WAIT_MS));
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM triggers", NULL), 3);
	text = get_metrics(p);
	assert_true(metric_must(text, "amicd_promotions_total{asg=\"" ASG "\",actor=\"admin\"}") == 1);
	assert_true(metric_must(text, "amicd_promotions_total{asg=\"" ASG "\",actor=\"auto\"}") == 2);
	free(text);

	/* not ready: 409 with what is missing; nothing changes */
	pin_summary(p, pins_before, sizeof pins_before);
	promotions_summary(p, promos_before, sizeof promos_before);
	deliver_push(p, SHA_B, SHA_C, &ids[0]);
	assert_true(h_wait_event_done(p, ids[0], WAIT_MS));
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/pin",
				    "{\"commit\":\"" SHA_C "\",\"reason\":\"roll forward\"}", &out), 409);
	assert_string_equal(h_text(out, "error.code"), "not_ready");
	assert_true(json_is_array(json_object_get(json_object_get(out, "error"), "missing")));
	assert_int_equal(json_array_size(json_object_get(json_object_get(out, "error"), "missing")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(out, "error"), "missing"), 0)),
			    "image");
	json_decref(out);
	/* a commit amicd knows nothing of: its own message, not missing image */
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/pin",
				    "{\"commit\":\"" SHA_D "\",\"reason\":\"roll forward\"}", &out), 404);
	assert_string_equal(h_text(out, "error.code"), "not_found");
	assert_non_null(strstr(h_text(out, "error.message"), "no push or AMI of " SHA_D " is known"));
	json_decref(out);
	/* malformed: 400 with the path */
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/pin", "{\"commit\":\"abc\",\"reason\":\"x\"}", &out), 400);
	assert_string_equal(h_text(out, "error.path"), "$.commit");
	json_decref(out);
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/pin", "{\"commit\":\"" SHA_B "\"}", &out), 400);
	assert_string_equal(h_text(out, "error.path"), "$.reason");
	json_decref(out);
	pin_summary(p, pins_after, sizeof pins_after);
	promotions_summary(p, promos_after, sizeof promos_after);
	assert_string_equal(pins_after, pins_before);
	assert_string_equal(promos_after, promos_before);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM triggers", NULL), 3);
	a = get_asg(p);
	assert_non_null(strstr(h_text(a, "frozen_reason"), "INC-7")); /* the refused pin did not touch the freeze */
	json_decref(a);
	assert_true(h_wait_file_contains(pin_file, "commit: " SHA_A, WAIT_MS));

	/* unfreeze: the head policy takes over again; the head C is not built yet, then its AMI comes */
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/unfreeze", "{\"reason\":\"fixed in C\"}", &out), 200);
	assert_string_equal(h_text(out, "asg.state"), "waiting");
	assert_string_equal(h_text(out, "asg.waiting_for.commit"), SHA_C);
	assert_true(json_is_null(json_object_get(out, "promotion_id")));
	json_decref(out);
	deliver_shared(p, AMI_C, SHA_C, &ids[1]);
	assert_true(h_wait_pin(p, ASG, SHA_C, WAIT_MS));
	list = get_promotions(p);
	assert_int_equal(json_array_size(list), 4);
	pr = json_array_get(list, 0);
	assert_string_equal(h_text(pr, "actor"), "auto");
	assert_string_equal(h_text(pr, "commit"), SHA_C);
	assert_string_equal(h_text(pr, "previous.commit"), SHA_A);
	json_decref(list);
	assert_true(h_wait_file_contains(pin_file, "commit: " SHA_C, WAIT_MS));
}

/* --- tests: block, unblock, commit prefixes (design §1, §2, §4) ---------------------------- */

/* POST an admin action on ASG; expects status and returns the answer. */
static json_t *act(const struct amicd_proc *p, const char *action, const char *body, long want)
{
	char path[128];
	json_t *out = NULL;
	long status;

	snprintf(path, sizeof path, "/api/v1/admin/asgs/" ASG "/%s", action);
	status = post_admin(p, path, body, &out);
	if (status != want) {
		char *text = json_dumps(out, JSON_COMPACT);

		fail_msg("%s %s answered %ld, not %ld: %s", action, body, status, want, text != NULL ? text : "");
	}
	return out;
}

static bool missing_has(const json_t *missing, const char *name)
{
	size_t i;
	json_t *m;

	json_array_foreach(missing, i, m)
		if (strcmp(json_string_value(m), name) == 0)
			return true;
	return false;
}

/*
 * The on-call scenario of issue 11: B is bad. Roll back to A (pin by a short
 * SHA, which freezes), block B, unfreeze: B is not promoted again, the ASG
 * waits with missing ["blocked"], and every answer is the ASG after the
 * decision. The next good push D is promoted; unblocking B changes nothing.
 */
static void rollback_block_unfreeze(void **state)
{
	struct h_fx *f = *state;
	struct amicd_proc *p = &f->p;
	int64_t ids[4], d_push = 0, d_ami = 0;
	char pin_file[400];
	json_t *out, *list, *a;
	const json_t *blocked;

	scenario_two(p, ids);
	h_pin_file(p, ASG, pin_file, sizeof pin_file);

	out = act(p, "pin", "{\"commit\":\"61c979ea\",\"reason\":\"INC-9: B panics\"}", 200);
	assert_string_equal(h_text(out, "commit"), SHA_A);
	assert_string_equal(h_text(out, "asg.pin.commit"), SHA_A);
	assert_string_equal(h_text(out, "asg.state"), "frozen");
	json_decref(out);

	/* block B by a 7-digit upper-case prefix */
	out = act(p, "block", "{\"commit\":\"5D1F0C9\",\"reason\":\"INC-9: kernel panic on boot\"}", 200);
	assert_string_equal(h_text(out, "commit"), SHA_B);
	assert_false(json_is_true(json_object_get(out, "already_blocked")));
	assert_true(json_is_null(json_object_get(out, "promotion_id")));
	blocked = h_json_at(out, "asg.blocked");
	assert_true(json_is_array(blocked));
	assert_int_equal(json_array_size(blocked), 1);
	assert_string_equal(h_text(json_array_get(blocked, 0), "commit"), SHA_B);
	assert_string_equal(h_text(json_array_get(blocked, 0), "reason"), "INC-9: kernel panic on boot");
	assert_true(json_is_string(json_object_get(json_array_get(blocked, 0), "at")));
	assert_string_equal(h_text(out, "asg.state"), "frozen");
	assert_string_equal(h_text(out, "asg.waiting_for.commit"), SHA_B);
	assert_true(missing_has(h_json_at(out, "asg.waiting_for.missing"), "blocked"));
	json_decref(out);
	assert_true(h_wait_log(p, "commit blocked", WAIT_MS));

	/* a manual pin to a blocked commit: 409 with missing blocked, nothing changes */
	out = act(p, "pin", "{\"commit\":\"" SHA_B "\",\"reason\":\"try again\"}", 409);
	assert_string_equal(h_text(out, "error.code"), "not_ready");
	assert_true(missing_has(h_json_at(out, "error.missing"), "blocked"));
	assert_non_null(strstr(h_text(out, "error.message"), "blocked"));
	json_decref(out);
	assert_true(h_pin_is(p, ASG, SHA_A));

	/* unfreeze: no re-promotion of B; the answer says waiting for B, blocked, and never "is ready" */
	out = act(p, "unfreeze", "{\"reason\":\"rolled back, B blocked\"}", 200);
	assert_false(json_is_true(json_object_get(json_object_get(out, "asg"), "frozen")));
	assert_string_equal(h_text(out, "asg.state"), "waiting");
	assert_string_equal(h_text(out, "asg.pin.commit"), SHA_A);
	assert_string_equal(h_text(out, "asg.waiting_for.commit"), SHA_B);
	assert_int_equal(json_array_size(h_json_at(out, "asg.waiting_for.missing")), 1);
	assert_true(missing_has(h_json_at(out, "asg.waiting_for.missing"), "blocked"));
	assert_non_null(strstr(h_text(out, "asg.reason"), "blocked"));
	assert_null(strstr(h_text(out, "asg.reason"), "is ready"));
	assert_non_null(strstr(h_text(out, "asg.waiting_for.detail.message"), "INC-9: kernel panic on boot"));
	assert_true(json_is_null(json_object_get(out, "promotion_id")));
	json_decref(out);
	a = get_asg(p);
	assert_string_equal(h_text(a, "state"), "waiting");
	assert_string_equal(h_text(a, "pin.commit"), SHA_A);
	json_decref(a);
	assert_int_equal(n_promotions(p), 3);

	/* the next good push is promoted */
	deliver_push(p, SHA_B, SHA_D, &d_push);
	deliver_shared(p, AMI_D, SHA_D, &d_ami);
	assert_true(h_wait_pin(p, ASG, SHA_D, WAIT_MS));
	list = get_promotions(p);
	assert_int_equal(json_array_size(list), 4);
	assert_string_equal(h_text(json_array_get(list, 0), "commit"), SHA_D);
	assert_string_equal(h_text(json_array_get(list, 0), "actor"), "auto");
	assert_string_equal(h_text(json_array_get(list, 0), "previous.commit"), SHA_A);
	json_decref(list);
	assert_true(h_wait_file_contains(pin_file, "commit: " SHA_D, WAIT_MS));
	a = get_asg(p);
	assert_string_equal(h_text(a, "state"), "up_to_date");
	assert_int_equal(json_array_size(json_object_get(a, "blocked")), 1);
	json_decref(a);

	/* blocking again replaces the reason; unblocking lifts it and says so */
	out = act(p, "block", "{\"commit\":\"" SHA_B "\",\"reason\":\"INC-9 confirmed\"}", 200);
	assert_true(json_is_true(json_object_get(out, "already_blocked")));
	assert_string_equal(h_text(json_array_get(h_json_at(out, "asg.blocked"), 0), "reason"), "INC-9 confirmed");
	json_decref(out);
	out = act(p, "unblock", "{\"commit\":\"5d1f0c9b\"}", 200);
	assert_string_equal(h_text(out, "commit"), SHA_B);
	assert_true(json_is_true(json_object_get(out, "was_blocked")));
	assert_int_equal(json_array_size(h_json_at(out, "asg.blocked")), 0);
	assert_string_equal(h_text(out, "asg.pin.commit"), SHA_D);
	assert_string_equal(h_text(out, "asg.state"), "up_to_date");
	json_decref(out);
	assert_true(h_wait_log(p, "commit unblocked", WAIT_MS));
	assert_int_equal(n_promotions(p), 4);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM blocked_commits", NULL), 0);
}

/* Unblocking the head while it waits: the unblock answer shows the promotion it started. */
static void unblock_answers_with_its_promotion(void **state)
{
	struct h_fx *f = *state;
	struct amicd_proc *p = &f->p;
	int64_t ids[4];
	json_t *out;

	scenario_one(p, ids);
	out = act(p, "block", "{\"commit\":\"5d1f0c9b8a7e\",\"reason\":\"known bad before it is built\"}", 404);
	assert_string_equal(h_text(out, "error.code"), "not_found");
	json_decref(out);
	/* a full commit id amicd has not seen yet may be blocked ahead of time */
	out = act(p, "block", "{\"commit\":\"" SHA_B "\",\"reason\":\"known bad before it is built\"}", 200);
	assert_int_equal(json_array_size(h_json_at(out, "asg.blocked")), 1);
	json_decref(out);
	deliver_push(p, SHA_A, SHA_B, &ids[2]);
	deliver_shared(p, AMI_B, SHA_B, &ids[3]);
	assert_true(h_wait_event_done(p, ids[2], WAIT_MS));
	assert_true(h_wait_event_done(p, ids[3], WAIT_MS));
	out = act(p, "freeze", "{\"reason\":\"look at B\"}", 200); /* a freeze answers too */
	assert_string_equal(h_text(out, "asg.state"), "frozen");
	assert_true(json_is_null(json_object_get(out, "promotion_id")));
	json_decref(out);
	out = act(p, "unfreeze", "{\"reason\":\"still blocked\"}", 200);
	assert_string_equal(h_text(out, "asg.state"), "waiting");
	assert_string_equal(h_text(out, "asg.pin.commit"), SHA_A);
	assert_true(missing_has(h_json_at(out, "asg.waiting_for.missing"), "blocked"));
	json_decref(out);
	assert_true(h_pin_is(p, ASG, SHA_A));

	out = act(p, "unblock", "{\"commit\":\"" SHA_B "\",\"reason\":\"false alarm\"}", 200);
	assert_true(json_is_true(json_object_get(out, "was_blocked")));
	assert_true(json_is_integer(json_object_get(out, "promotion_id")));
	assert_int_equal(h_int(out, "promotion_id"), h_int(out, "asg.pin.promotion_id"));
	assert_string_equal(h_text(out, "asg.pin.commit"), SHA_B);
	assert_string_equal(h_text(out, "asg.state"), "up_to_date");
	assert_null(strstr(h_text(out, "asg.reason"), "is ready"));
	json_decref(out);
	assert_true(h_wait_pin(p, ASG, SHA_B, WAIT_MS));
	assert_int_equal(n_promotions(p), 2);
}

/* pin and block take a unique prefix of 7+ hex digits; ambiguous → 400 naming the candidates. */
static void commit_prefixes(void **state)
{
	struct h_fx *f = *state;
	struct amicd_proc *p = &f->p;
	int64_t ids[4];
	const json_t *cand;
	json_t *out;

	scenario_one(p, ids);
	deliver_push(p, SHA_A, SHA_X1, &ids[2]);
	deliver_push(p, SHA_X1, SHA_X2, &ids[3]);
	assert_true(h_wait_event_done(p, ids[3], WAIT_MS));

	out = act(p, "pin", "{\"commit\":\"abcdef1\",\"reason\":\"x\"}", 400);
	assert_string_equal(h_text(out, "error.code"), "invalid_request");
	assert_string_equal(h_text(out, "error.path"), "$.commit");
	assert_non_null(strstr(h_text(out, "error.message"), "ambiguous"));
	assert_non_null(strstr(h_text(out, "error.message"), "abcdef12aaaa"));
	assert_non_null(strstr(h_text(out, "error.message"), "abcdef13bbbb"));
	cand = h_json_at(out, "error.candidates");
	assert_int_equal(json_array_size(cand), 2);
	assert_string_equal(json_string_value(json_array_get(cand, 0)), SHA_X1);
	assert_string_equal(json_string_value(json_array_get(cand, 1)), SHA_X2);
	json_decref(out);
	out = act(p, "block", "{\"commit\":\"ABCDEF1\",\"reason\":\"x\"}", 400);
	assert_int_equal(json_array_size(h_json_at(out, "error.candidates")), 2);
	json_decref(out);

	/* one more digit makes it unique: resolved to the full commit, which has no AMI */
	out = act(p, "pin", "{\"commit\":\"ABCDEF12\",\"reason\":\"x\"}", 409);
	assert_string_equal(h_text(out, "error.code"), "not_ready");
	assert_string_equal(h_text(out, "error.commit"), SHA_X1);
	json_decref(out);

	/* unknown, by prefix or in full: its own message */
	out = act(p, "pin", "{\"commit\":\"c3c3c3c\",\"reason\":\"x\"}", 404);
	assert_string_equal(h_text(out, "error.code"), "not_found");
	assert_non_null(strstr(h_text(out, "error.message"), "no push or AMI of c3c3c3c is known"));
	json_decref(out);
	out = act(p, "pin", "{\"commit\":\"" SHA_C "\",\"reason\":\"x\"}", 404);
	assert_non_null(strstr(h_text(out, "error.message"), "no push or AMI of " SHA_C));
	json_decref(out);
	out = act(p, "unblock", "{\"commit\":\"" SHA_C "\"}", 404);
	json_decref(out);

	/* too short, not hex */
	out = act(p, "pin", "{\"commit\":\"61c979\",\"reason\":\"x\"}", 400);
	assert_string_equal(h_text(out, "error.path"), "$.commit");
	json_decref(out);
	out = act(p, "block", "{\"commit\":\"61c979eg\",\"reason\":\"x\"}", 400);
	assert_string_equal(h_text(out, "error.path"), "$.commit");
	json_decref(out);
	out = act(p, "block", "{\"commit\":\"61c979ea\"}", 400);
	assert_string_equal(h_text(out, "error.path"), "$.reason");
	json_decref(out);

	/* the pinned A by its 7-digit prefix: already pinned, no new promotion */
	out = act(p, "pin", "{\"commit\":\"61c979e\",\"reason\":\"hold A\"}", 200);
	assert_string_equal(h_text(out, "commit"), SHA_A);
	assert_true(json_is_null(json_object_get(out, "promotion_id")));
	assert_string_equal(h_text(out, "asg.state"), "frozen");
	json_decref(out);
	assert_int_equal(n_promotions(p), 1);
}

/* --- tests: /metrics ---------------------------------------------------------------------- */

#define DELIVERIES(ep, outcome) "amicd_deliveries_total{endpoint=\"" ep "\",outcome=\"" outcome "\"}"

static void metrics_counters_and_unavailable_pin(void **state)
{
	struct h_fx *f = *state;
	struct amicd_proc *p = &f->p;
	char *push = h_push_variant(SHA_PARENT, SHA_A);
	char *tag = support_fixture("gitlab-tag-push.json", NULL);
	char *text, *dereg, word[32];
	const char *bad_token[] = { "Content-Type: application/json", "X-Gitlab-Token: wrong",
				    "X-Gitlab-Event: Push Hook", NULL };
	int64_t id = 0, id2 = 0, ids[4];
	size_t n;
	double sum;
	json_t *a, *out, *missing;

	/* gitlab: queued, duplicate, ignored (tag push), unauthorized, rejected */
	assert_non_null(push);
	assert_non_null(tag);
	assert_int_equal(h_post_gitlab(p, "Push Hook", "adm-m-1", push, &id, word, sizeof word), 202);
	assert_int_equal(h_post_gitlab(p, "Push Hook", "adm-m-1", push, &id2, word, sizeof word), 200);
	assert_string_equal(word, "duplicate");
	assert_int_equal(id2, id);
	assert_int_equal(h_post_gitlab(p, "Tag Push Hook", "adm-m-tag", tag, NULL, word, sizeof word), 200);
	assert_string_equal(word, "ignored");
	assert_int_equal(h_post_hook(p, "/hooks/gitlab", bad_token, push, NULL, NULL, 0), 401);
	assert_int_equal(h_post_gitlab(p, "Push Hook", "adm-m-bad", "{\"object_kind\": ", NULL, NULL, 0), 400);
	/* eventbridge: queued → promoted */
	deliver_shared(p, AMI_A, SHA_A, &ids[1]);
	assert_true(h_wait_pin(p, ASG, SHA_A, WAIT_MS));

	text = get_metrics(p);
	check_exposition_format(text);
	assert_true(metric_must(text, "amicd_promotions_total{asg=\"" ASG "\",actor=\"auto\"}") == 1);
	assert_false(metric(text, "amicd_promotions_total{asg=\"" ASG "\",actor=\"admin\"}", &sum) && sum != 0);
	assert_true(metric_must(text, "amicd_pinned_ami_unavailable{asg=\"" ASG "\"}") == 0);
	free(text);

	/* gitlab: a second queued push (B, not ready); eventbridge: the pinned AMI deregistered later */
	deliver_push(p, SHA_A, SHA_B, &ids[2]);
	dereg = h_state_variant("adm-dereg-a", AMI_A, "deregistered", "2025-03-04T10:15:00Z");
	assert_int_equal(h_post_eb(p, dereg, &ids[3], NULL, 0), 202);
	free(dereg);
	assert_true(h_wait_event_done(p, ids[2], WAIT_MS));
	assert_true(h_wait_event_done(p, ids[3], WAIT_MS));

	text = get_metrics(p);
	check_exposition_format(text);
	assert_true(metric_must(text, DELIVERIES("gitlab", "queued")) == 2);
	assert_true(metric_must(text, DELIVERIES("gitlab", "duplicate")) == 1);
	assert_true(metric_must(text, DELIVERIES("gitlab", "ignored")) == 1);
	assert_true(metric_must(text, DELIVERIES("gitlab", "unauthorized")) == 1);
	assert_true(metric_must(text, DELIVERIES("gitlab", "rejected")) == 1);
	assert_true(metric_must(text, DELIVERIES("eventbridge", "queued")) == 2);
	assert_true(metric_must(text, DELIVERIES("eventbridge", "duplicate")) == 0);
	sum = metric_sum(text, "amicd_deliveries_total{endpoint=\"gitlab\",", &n);
	assert_true(n >= 5);
	assert_true(sum == 6);
	assert_true(metric_must(text, "amicd_delivery_duration_seconds_count{endpoint=\"gitlab\"}") == sum);
	sum = metric_sum(text, "amicd_deliveries_total{endpoint=\"eventbridge\",", &n);
	assert_true(sum == 2);
	assert_true(metric_must(text, "amicd_delivery_duration_seconds_count{endpoint=\"eventbridge\"}") == sum);
	check_histogram(text, "gitlab");
	check_histogram(text, "eventbridge");
	assert_non_null(strstr(text, "\namicd_build_info{version=\""));
	assert_true(metric_must(text, "amicd_promotions_total{asg=\"" ASG "\",actor=\"auto\"}") == 1);
	assert_true(metric_must(text, "amicd_pinned_ami_unavailable{asg=\"" ASG "\"}") == 1);
	assert_non_null(strstr(text, "# TYPE amicd_deliveries_total counter"));
	assert_non_null(strstr(text, "# TYPE amicd_delivery_duration_seconds histogram"));
	free(text);

	/* reported, not acted on: the pin stays on A */
	a = get_asg(p);
	assert_string_equal(h_text(a, "pin.commit"), SHA_A);
	assert_false(json_is_true(json_object_get(json_object_get(a, "pin"), "available")));
	assert_true(json_is_boolean(json_object_get(json_object_get(a, "pin"), "available")));
	assert_string_equal(h_text(a, "pin.unavailable_reason"), "deregistered");
	assert_string_equal(h_text(a, "pin.ami_state"), "deregistered");
	json_decref(a);
	assert_true(h_wait_log(p, "pinned AMI unavailable", WAIT_MS));
	assert_int_equal(n_promotions(p), 1);
	/* a deregistered AMI cannot be pinned by hand either */
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/pin",
				    "{\"commit\":\"" SHA_A "\",\"reason\":\"re-pin\"}", &out), 409);
	missing = json_object_get(json_object_get(out, "error"), "missing");
	assert_int_equal(json_array_size(missing), 1);
	assert_string_equal(json_string_value(json_array_get(missing, 0)), "available");
	json_decref(out);
	free(push);
	free(tag);
}

static void pinned_ami_unshared_then_shared_again(void **state)
{
	struct h_fx *f = *state;
	struct amicd_proc *p = &f->p;
	int64_t ids[2], id = 0;
	char *ev, *text;
	json_t *a, *out, *missing;

	scenario_one(p, ids);
	/* the owner withdraws the launch permission of the ASG's account, after the share */
	ev = h_share_variant("adm-unshare", AMI_A, "444455556666", false, "2025-03-04T12:00:00Z");
	assert_int_equal(h_post_eb(p, ev, &id, NULL, 0), 202);
	free(ev);
	assert_true(h_wait_event_done(p, id, WAIT_MS));
	a = get_asg(p);
	assert_string_equal(h_text(a, "pin.commit"), SHA_A); /* reported, the pin does not move */
	assert_false(json_is_true(json_object_get(json_object_get(a, "pin"), "available")));
	assert_string_equal(h_text(a, "pin.unavailable_reason"), "unshared");
	json_decref(a);
	text = get_metrics(p);
	assert_true(metric_must(text, "amicd_pinned_ami_unavailable{asg=\"" ASG "\"}") == 1);
	free(text);
	assert_true(h_wait_log(p, "pinned AMI unavailable", WAIT_MS));
	assert_true(h_log_contains(p, "\"reason\":\"unshared\""));
	/* a manual pin needs a ready commit: A is no longer shared with the ASG's account */
	assert_int_equal(post_admin(p, "/api/v1/admin/asgs/" ASG "/pin",
				    "{\"commit\":\"" SHA_A "\",\"reason\":\"re-pin\"}", &out), 409);
	assert_string_equal(h_text(out, "error.code"), "not_ready");
	missing = json_object_get(json_object_get(out, "error"), "missing");
	assert_int_equal(json_array_size(missing), 1);
	assert_string_equal(json_string_value(json_array_get(missing, 0)), "shared");
	json_decref(out);
	a = get_asg(p);
	assert_false(json_is_true(json_object_get(a, "frozen")));
	json_decref(a);

	/* an older event re-adding the share does not win over the newer removal */
	ev = h_share_variant("adm-reshare-old", AMI_A, "444455556666", true, "2025-03-04T11:00:00Z");
	assert_int_equal(h_post_eb(p, ev, &id, NULL, 0), 202);
	free(ev);
	assert_true(h_wait_event_done(p, id, WAIT_MS));
	a = get_asg(p);
	assert_string_equal(h_text(a, "pin.unavailable_reason"), "unshared");
	json_decref(a);

	/* shared again later: available again, metric back to 0 */
	ev = h_share_variant("adm-reshare", AMI_A, "444455556666", true, "2025-03-04T13:00:00Z");
	assert_int_equal(h_post_eb(p, ev, &id, NULL, 0), 202);
	free(ev);
	assert_true(h_wait_event_done(p, id, WAIT_MS));
	a = get_asg(p);
	assert_true(json_is_true(json_object_get(json_object_get(a, "pin"), "available")));
	assert_true(json_is_null(json_object_get(json_object_get(a, "pin"), "unavailable_reason")));
	json_decref(a);
	text = get_metrics(p);
	assert_true(metric_must(text, "amicd_pinned_ami_unavailable{asg=\"" ASG "\"}") == 0);
	free(text);
	assert_true(h_wait_log(p, "pinned AMI available again", WAIT_MS));
	assert_int_equal(n_promotions(p), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(admin_requires_admin_token, setup_read_token, teardown),
		cmocka_unit_test_setup_teardown(replay_restores_deleted_facts, setup_default, teardown),
		cmocka_unit_test_setup_teardown(replay_from_deliveries_only, setup_default, teardown),
		cmocka_unit_test_setup_teardown(asg_added_after_its_events, setup_other_repo, teardown),
		cmocka_unit_test_setup_teardown(replay_dry_run_range_ids_and_bad_bodies, setup_default, teardown),
		cmocka_unit_test_setup_teardown(freeze_stops_and_unfreeze_resumes, setup_default, teardown),
		cmocka_unit_test_setup_teardown(manual_pin_rollback_and_resume, setup_default, teardown),
		cmocka_unit_test_setup_teardown(rollback_block_unfreeze, setup_default, teardown),
		cmocka_unit_test_setup_teardown(unblock_answers_with_its_promotion, setup_default, teardown),
		cmocka_unit_test_setup_teardown(commit_prefixes, setup_default, teardown),
		cmocka_unit_test_setup_teardown(metrics_counters_and_unavailable_pin, setup_default, teardown),
		cmocka_unit_test_setup_teardown(pinned_ami_unshared_then_shared_again, setup_default, teardown),
	};

	return h_run_tests("integration: admin", tests, NULL, NULL);
}
