/*
 * test_promotion.c — from deliveries to a promoted pin, against the real amicd
 * binary (design §1, §2, §5, §6):
 *
 *  - the full path with the golden payloads in order: push, AMI state change,
 *    ModifyImageAttribute, CreateTags by the owner (not ready: the ASG's account
 *    sees no tag), AMI Shared (tags copied into the ASG's account) → pin file
 *    written, trigger received once, status and history as the API shows them;
 *  - out of order: AMI before the push; share before tag; tag before share;
 *    owner-only tags; an older head's AMI after a newer head was promoted; a
 *    re-sent old push; a branch deletion; a force-push back (a push cycle) on a
 *    branch whose older push lost its successor; DeleteTags naming another
 *    value, and without tags (before the CreateTags it follows); shares with
 *    an OU the account lists under org_arns, and with an organization nobody
 *    lists (the note and waiting_for.detail say so); two ASGs in two accounts;
 *  - the pin file repaired at start after it was deleted or corrupted;
 *  - re-sent deliveries, and admin replays, change nothing.
 *
 * Each test starts its own amicd (and its own trigger receiver) in setup and
 * stops it in teardown. Nothing waits by sleeping: every wait polls the REST API,
 * a file or the receiver until a deadline.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHA_PARENT "60c8eedbd9916e98e042832de430e52be7ffe0ac"
#define SHA_A "61c979eab8ea475e0b84db7556d2049e9dae6d89"          /* the fixtures' commit */
#define SHA_B "b7e23ec29af22b0b4e41da31e868d57226121c84"          /* a later commit */
#define SHA_STALE "5d1e0a3f9c2b47e8a6d0c4b2e9f1a7c3d5b8e0f2"      /* a push whose successor was lost */
#define SHA_X "7a4c1e9b3d5f2a8c6e0b4d2f9a1c3e5b7d9f0a2c"          /* where the lost push left the branch */
#define SHA_DELETED "0000000000000000000000000000000000000000"
#define AMI_A "ami-08fdc871471476ef5"
#define AMI_B "ami-0b1d2c3e4f5a6b7c8"
#define OWNER "111122223333"
#define DEST "444455556666"
#define OTHER "777788889999"
#define ASG "workers-stage"
#define ASG_B "batch-stage"
#define REPO "https://gitlab.example.net/platform/golden-images"
/* design §3 org_arns: an OU the ASG's account is configured to belong to, and an organization no one lists */
#define OU_LISTED "arn:aws:organizations::111122223333:ou/o-a1b2c3d4e5/ou-ab12-cdef3456"
#define ORG_UNLISTED "arn:aws:organizations::111122223333:organization/o-a1b2c3d4e5"
#define SHARED_ID "0b6c2f0e-9a61-4c4e-9d1f-6f0a3c2b7e11"           /* the AMI Shared fixture's id */
#define WAIT_MS 15000
#define QUIET_MS 1000                                              /* "nothing more arrives" */

/* --- fixtures ---------------------------------------------------------------------- */

static int setup_default(void **state)
{
	return h_fx_setup(state, NULL, H_FX_RECEIVER);
}

static int setup_two_asgs(void **state)
{
	struct amicd_opts o = {
		.accounts = "  - { name: image-builder-stage, uid: \"" DEST "\" }\n"
			    "  - { name: data-stage, uid: \"" OTHER "\" }\n",
		.resources = "  - provider: asg\n"
			     "    identifier: " ASG "\n"
			     "    account: image-builder-stage\n"
			     "    region: eu-west-1\n"
			     "    image:\n"
			     "      repo: { url: " REPO ", ref: main, tag_name: git-sha }\n"
			     "  - provider: asg\n"
			     "    identifier: " ASG_B "\n"
			     "    account: data-stage\n"
			     "    region: eu-west-1\n"
			     "    image:\n"
			     "      repo: { url: " REPO ", ref: main, tag_name: git-sha }\n",
	};

	return h_fx_setup(state, &o, H_FX_RECEIVER);
}

/* A SHA-256 repository: one ASG follows main, another is pinned by `ref` to a 64-hex commit. */
#define SHA256_A "5e1b7a6f0b9a4f9a0e1d2c3b4a59687766554433221100ffeeddccbbaa998877"
#define SHA256_ZERO "0000000000000000000000000000000000000000000000000000000000000000"

static int setup_sha256(void **state)
{
	struct amicd_opts o = {
		.resources = "  - provider: asg\n"
			     "    identifier: " ASG "\n"
			     "    account: image-builder-stage\n"
			     "    region: eu-west-1\n"
			     "    image:\n"
			     "      repo: { url: " REPO ", ref: main, tag_name: git-sha }\n"
			     "  - provider: asg\n"
			     "    identifier: " ASG_B "\n"
			     "    account: image-builder-stage\n"
			     "    region: eu-west-1\n"
			     "    image:\n"
			     "      repo: { url: " REPO ", ref: \"5E1B7A6F0B9A4F9A0E1D2C3B4A59687766554433221100FFEEDDCCBBAA998877\","
			     " tag_name: git-sha }\n",
	};

	return h_fx_setup(state, &o, H_FX_RECEIVER);
}

/* Two ASGs, one in an account whose id starts with a zero (JSON would write it as 12345678901). */
#define LEADING_ZERO "012345678901"

static int setup_leading_zero(void **state)
{
	struct amicd_opts o = {
		.accounts = "  - { name: image-builder-stage, uid: \"" DEST "\" }\n"
			    "  - { name: zero-stage, uid: \"" LEADING_ZERO "\" }\n",
		.resources = "  - provider: asg\n"
			     "    identifier: " ASG "\n"
			     "    account: image-builder-stage\n"
			     "    region: eu-west-1\n"
			     "    image:\n"
			     "      repo: { url: " REPO ", ref: main, tag_name: git-sha }\n"
			     "  - provider: asg\n"
			     "    identifier: " ASG_B "\n"
			     "    account: zero-stage\n"
			     "    region: eu-west-1\n"
			     "    image:\n"
			     "      repo: { url: " REPO ", ref: main, tag_name: git-sha }\n",
	};

	return h_fx_setup(state, &o, H_FX_RECEIVER);
}

/* The ASG's account lists OU_LISTED under org_arns. */
static int setup_org(void **state)
{
	struct amicd_opts o = {
		.accounts = "  - { name: image-builder-stage, uid: \"" DEST "\", org_arns: [\"" OU_LISTED "\"] }\n",
	};

	return h_fx_setup(state, &o, H_FX_RECEIVER);
}

/* --- deliveries ------------------------------------------------------------------------ */

/* POST a push and wait until the worker took it; its event id. */
static int64_t push(struct h_fx *f, const char *idem, const char *body)
{
	int64_t id = 0;

	assert_int_equal(h_post_gitlab(&f->p, "Push Hook", idem, body, &id, NULL, 0), 202);
	assert_true(id > 0);
	assert_true(h_wait_event_done(&f->p, id, WAIT_MS));
	return id;
}

static int64_t push_commit(struct h_fx *f, const char *idem, const char *before, const char *after)
{
	char *body = h_push_variant(before, after);
	int64_t id;

	assert_non_null(body);
	id = push(f, idem, body);
	free(body);
	return id;
}

/* POST an EventBridge event and wait until the worker took it; its event id. */
static int64_t eb(struct h_fx *f, const char *body)
{
	int64_t id = 0;
	char status[32];

	assert_int_equal(h_post_eb(&f->p, body, &id, NULL, 0), 202);
	assert_true(id > 0);
	assert_true(h_wait_event_done(&f->p, id, WAIT_MS));
	assert_non_null(h_event_status(&f->p, id, status, sizeof status));
	assert_string_equal(status, "processed");
	return id;
}

static int64_t eb_fixture(struct h_fx *f, const char *name)
{
	char *body = support_fixture(name, NULL);
	int64_t id;

	assert_non_null(body);
	id = eb(f, body);
	free(body);
	return id;
}

static int64_t eb_shared(struct h_fx *f, const char *id, const char *image, const char *commit, const char *dest,
			 bool with_tags)
{
	char *body = h_ami_shared_variant(id, image, commit, dest, with_tags);
	int64_t eid;

	assert_non_null(body);
	eid = eb(f, body);
	free(body);
	return eid;
}

/*
 * A CloudTrail CreateTags or DeleteTags as account viewer calls it on image at
 * time (eventTime and the envelope's), built from the CreateTags fixture:
 * tagSet.items = items (JSON text; NULL: no tagSet at all, as CloudTrail
 * records a DeleteTags without tags).
 */
static char *tags_call(const char *id, const char *viewer, const char *image, const char *event_name,
		       const char *items, const char *time)
{
	char *text = h_createtags_variant(id, viewer, image, SHA_A);
	json_t *doc = text != NULL ? json_loads(text, 0, NULL) : NULL;
	json_t *detail = json_object_get(doc, "detail");
	json_t *params = json_object_get(detail, "requestParameters");
	char *out = NULL;

	free(text);
	if (doc == NULL)
		return NULL;
	json_object_set_new(doc, "time", json_string(time));
	json_object_set_new(detail, "eventTime", json_string(time));
	json_object_set_new(detail, "eventName", json_string(event_name));
	json_object_set_new(detail, "userAgent", json_string(strcmp(event_name, "DeleteTags") == 0
							      ? "aws-cli/2.15.30 md/command#ec2.delete-tags"
							      : "aws-cli/2.15.30 md/command#ec2.create-tags"));
	if (items == NULL)
		json_object_del(params, "tagSet");
	else
		json_object_set_new(json_object_get(params, "tagSet"), "items", json_loads(items, 0, NULL));
	out = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return out;
}

static int64_t eb_tags(struct h_fx *f, const char *id, const char *viewer, const char *event_name, const char *items,
		       const char *time)
{
	char *body = tags_call(id, viewer, AMI_A, event_name, items, time);
	int64_t eid;

	assert_non_null(body);
	eid = eb(f, body);
	free(body);
	return eid;
}

/* --- the API -------------------------------------------------------------------------- */

static json_t *asg(struct h_fx *f, const char *identifier)
{
	json_t *j = h_asg(&f->p, identifier);

	assert_non_null(j);
	return j;
}

/* waiting_for.missing is exactly the given list (NULL-terminated). */
static void assert_missing(const json_t *a, const char *const *want)
{
	const json_t *missing = json_object_get(json_object_get(a, "waiting_for"), "missing");
	size_t n = 0;

	assert_true(json_is_array(missing));
	for (; want[n] != NULL; n++) {
		const char *have = json_string_value(json_array_get(missing, n));

		if (have == NULL || strcmp(have, want[n]) != 0)
			fail_msg("waiting_for.missing[%zu] is %s, expected %s", n, have != NULL ? have : "(none)", want[n]);
	}
	assert_int_equal(json_array_size(missing), n);
}

static void assert_waiting(struct h_fx *f, const char *identifier, const char *commit, const char *const *missing)
{
	json_t *a = asg(f, identifier);

	assert_string_equal(h_str(a, "state"), "waiting");
	assert_string_equal(h_str(a, "waiting_for.commit"), commit);
	assert_missing(a, missing);
	json_decref(a);
}

static void assert_pinned(struct h_fx *f, const char *identifier, const char *commit, const char *image)
{
	json_t *a = asg(f, identifier);

	assert_string_equal(h_str(a, "state"), "up_to_date");
	assert_string_equal(h_str(a, "pin.commit"), commit);
	assert_string_equal(h_str(a, "pin.image_id"), image);
	assert_true(json_is_null(json_object_get(a, "waiting_for")));
	json_decref(a);
}

static size_t promotion_count(struct h_fx *f, const char *identifier)
{
	json_t *list = h_promotions(&f->p, identifier);
	size_t n;

	assert_non_null(list);
	n = json_array_size(list);
	json_decref(list);
	return n;
}

struct promo_wait {
	struct h_fx *f;
	const char *asg;
	size_t n;                  /* at least this many promotions … */
	const char *trigger_state; /* … and (if set) the newest one's trigger in this state */
	json_t *list;
};

static bool promotions_reached(void *ctx)
{
	struct promo_wait *w = ctx;
	json_t *list = h_promotions(&w->f->p, w->asg);
	const char *state;

	if (list == NULL || json_array_size(list) < w->n) {
		json_decref(list);
		return false;
	}
	state = h_str(json_array_get(list, 0), "trigger.state");
	if (w->trigger_state != NULL && (state == NULL || strcmp(state, w->trigger_state) != 0)) {
		json_decref(list);
		return false;
	}
	json_decref(w->list);
	w->list = list;
	return true;
}

/* The promotions once there are n of them, the newest's trigger in trigger_state (may be NULL). */
static json_t *wait_promotions(struct h_fx *f, const char *identifier, size_t n, const char *trigger_state)
{
	struct promo_wait w = { f, identifier, n, trigger_state, NULL };

	if (!support_wait_until(promotions_reached, &w, WAIT_MS))
		fail_msg("no %zu promotion(s) of %s with trigger state %s within %d ms", n, identifier,
			 trigger_state != NULL ? trigger_state : "(any)", WAIT_MS);
	return w.list;
}

/* --- the pin file ---------------------------------------------------------------------- */

struct file_wait {
	const char *path;
	const char *want;          /* NULL: any content */
	char *text;
};

static bool file_ready(void *ctx)
{
	struct file_wait *w = ctx;
	char *text = support_read_file(w->path, NULL);

	if (text == NULL || text[0] == '\0' || (w->want != NULL && strcmp(text, w->want) != 0)) {
		free(text);
		return false;
	}
	free(w->text);
	w->text = text;
	return true;
}

static char *wait_pin_file(struct h_fx *f, const char *identifier, const char *want)
{
	char path[512];
	struct file_wait w = { h_pin_file(&f->p, identifier, path, sizeof path), want, NULL };

	if (!support_wait_until(file_ready, &w, WAIT_MS))
		fail_msg("pin file %s not %s within %d ms", path, want != NULL ? "restored" : "written", WAIT_MS);
	return w.text;
}

/* The pin file holds exactly the lines of design §5 for this pin. */
static void assert_pin_file(const char *text, const char *commit, const char *image, json_int_t promotion_id,
			    const char *promoted_at)
{
	char id_line[64], at_line[96];
	const char *want[] = {
		"# Managed by amicd: rewritten on every promotion.",
		"identifier: " ASG,
		"account: image-builder-stage",
		"region: eu-west-1",
		"image:",
		NULL, /* id */
		NULL, /* commit */
		"  repo: " REPO,
		"  ref: main",
		id_line,
		at_line,
	};
	char image_line[96], commit_line[96];
	const char *line = text;
	size_t n = 0;

	snprintf(image_line, sizeof image_line, "  id: %s", image);
	snprintf(commit_line, sizeof commit_line, "  commit: %s", commit);
	want[5] = image_line;
	want[6] = commit_line;
	snprintf(id_line, sizeof id_line, "promotion_id: %lld", (long long)promotion_id);
	snprintf(at_line, sizeof at_line, "promoted_at: \"%s\"", promoted_at);
	while (*line != '\0') {
		const char *eol = strchr(line, '\n');
		size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);

		if (n >= sizeof want / sizeof want[0])
			fail_msg("pin file: unexpected line %zu: %.*s", n + 1, (int)len, line);
		if (strlen(want[n]) != len || strncmp(line, want[n], len) != 0)
			fail_msg("pin file line %zu is \"%.*s\", expected \"%s\"", n + 1, (int)len, line, want[n]);
		n++;
		if (eol == NULL)
			fail_msg("pin file does not end with a newline");
		line = eol + 1;
	}
	assert_int_equal(n, sizeof want / sizeof want[0]);
}

/* The pins directory holds the pin file and nothing else (no temp file left by the atomic write). */
static void assert_only_pin_file(struct h_fx *f, const char *identifier)
{
	char dir[400], want[300];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(dir, sizeof dir, "%s/pins", f->p.dir);
	snprintf(want, sizeof want, "%s.yml", identifier);
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (strcmp(e->d_name, want) != 0)
			fail_msg("unexpected file in %s: %s", dir, e->d_name);
		n++;
	}
	closedir(d);
	assert_int_equal(n, 1);
}

/* An RFC 3339 UTC timestamp: 2026-11-24T21:00:00Z. */
static void assert_timestamp(const char *ts)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";

	assert_non_null(ts);
	assert_int_equal(strlen(ts), strlen(shape));
	for (size_t i = 0; shape[i] != '\0'; i++)
		if (shape[i] == 'd' ? (ts[i] < '0' || ts[i] > '9') : ts[i] != shape[i])
			fail_msg("%s is not an RFC 3339 UTC timestamp", ts);
}

/* --- the trigger ------------------------------------------------------------------------ */

/* Request i went to the receiver for this promotion, with the body of design §6. */
static void assert_trigger_request(struct h_fx *f, size_t i, const char *identifier, const char *account,
				   const char *commit, const char *image, json_int_t promotion_id)
{
	struct h_received rec;
	char key[64];
	json_t *body;

	assert_true(h_receiver_get(f->rx, i, &rec));
	snprintf(key, sizeof key, "amicd-promotion-%lld", (long long)promotion_id);
	assert_string_equal(rec.method, "POST");
	assert_string_equal(rec.path, "/terraform-resources");
	assert_string_equal(rec.idempotency_key, key);
	assert_non_null(strstr(rec.content_type, "application/json"));
	assert_string_equal(rec.authorization, "");
	body = json_loadb(rec.body, rec.body_len, 0, NULL);
	assert_non_null(body);
	assert_string_equal(h_str(body, "integration"), "terraform-resources");
	assert_string_equal(h_str(body, "asg"), identifier);
	assert_string_equal(h_str(body, "account"), account);
	assert_string_equal(h_str(body, "region"), "eu-west-1");
	assert_string_equal(h_str(body, "commit"), commit);
	assert_string_equal(h_str(body, "image_id"), image);
	assert_int_equal(h_num(body, "promotion_id"), promotion_id);
	json_decref(body);
	h_received_clear(&rec);
}

/* --- tests: in order --------------------------------------------------------------------- */

static void full_path_in_order(void **state)
{
	struct h_fx *f = *state;
	static const char *const image_only[] = { "image", NULL };
	char *body = support_fixture("gitlab-push.json", NULL);
	int64_t push_id, shared_id;
	json_t *a, *list, *p0;
	char *pin;
	json_int_t promotion_id;

	push_id = push(f, "full-1", body);
	free(body);
	a = asg(f, ASG);
	assert_string_equal(h_str(a, "state"), "waiting");
	assert_string_equal(h_str(a, "head.commit"), SHA_A);
	assert_true(json_is_null(json_object_get(a, "pin")));
	json_decref(a);

	eb_fixture(f, "eventbridge-ami-state-change.json");
	eb_fixture(f, "eventbridge-cloudtrail-modifyimageattribute.json");
	eb_fixture(f, "eventbridge-cloudtrail-createtags.json");
	/* the owner's tags are invisible to the ASG's account: not ready */
	assert_waiting(f, ASG, SHA_A, image_only);
	assert_int_equal(promotion_count(f, ASG), 0);
	assert_int_equal(h_receiver_count(f->rx), 0);

	shared_id = eb_fixture(f, "eventbridge-ami-shared.json");
	list = wait_promotions(f, ASG, 1, "delivered");
	assert_int_equal(json_array_size(list), 1);
	p0 = json_array_get(list, 0);
	promotion_id = h_num(p0, "id");
	assert_string_equal(h_str(p0, "commit"), SHA_A);
	assert_string_equal(h_str(p0, "image_id"), AMI_A);
	assert_string_equal(h_str(p0, "actor"), "auto");
	assert_int_equal(h_num(p0, "cause_event_id"), shared_id);
	assert_true(json_is_null(json_object_get(p0, "previous")));
	assert_non_null(h_str(p0, "reason"));
	assert_timestamp(h_str(p0, "promoted_at"));
	assert_string_equal(h_str(p0, "trigger.state"), "delivered");
	assert_int_equal(h_num(p0, "trigger.attempts"), 1);
	assert_true(json_is_null(json_object_get(json_object_get(p0, "trigger"), "last_error")));

	/* the trigger: once, with the promotion's key and body */
	assert_true(h_receiver_wait(f->rx, 1, WAIT_MS));
	assert_trigger_request(f, 0, ASG, "image-builder-stage", SHA_A, AMI_A, promotion_id);
	assert_false(h_receiver_wait(f->rx, 2, QUIET_MS));

	/* the status */
	a = asg(f, ASG);
	assert_string_equal(h_str(a, "state"), "up_to_date");
	assert_string_equal(h_str(a, "pin.commit"), SHA_A);
	assert_string_equal(h_str(a, "pin.image_id"), AMI_A);
	assert_int_equal(h_num(a, "pin.promotion_id"), promotion_id);
	assert_string_equal(h_str(a, "pin.promoted_at"), h_str(p0, "promoted_at"));
	assert_string_equal(h_str(a, "head.commit"), SHA_A);
	assert_int_equal(h_num(a, "head.event_id"), push_id);
	assert_non_null(h_str(a, "head.received_at"));
	assert_true(json_is_null(json_object_get(a, "waiting_for")));

	/* the pin file: design §5, field by field */
	pin = wait_pin_file(f, ASG, NULL);
	assert_pin_file(pin, SHA_A, AMI_A, promotion_id, h_str(a, "pin.promoted_at"));
	free(pin);
	assert_only_pin_file(f, ASG);
	json_decref(a);
	json_decref(list);
}

/*
 * A SHA-256 repository end to end: the branch created (64 zeros → a 64-hex
 * commit) is the head, its AMI promotes it, and every place that holds the
 * commit keeps all 64 digits: the status, the history, the pin file, the
 * commits API, and the ASG pinned by a 64-hex `ref`. An admin pin takes the
 * 64-hex id in any case.
 */
static void sha256_repository(void **state)
{
	struct h_fx *f = *state;
	const char *admin[] = { "Content-Type: application/json", "Authorization: Bearer " SUPPORT_ADMIN_TOKEN, NULL };
	const char *pin_body = "{\"commit\":\"5E1B7A6F0B9A4F9A0E1D2C3B4A59687766554433221100FFEEDDCCBBAA998877\","
			       "\"reason\":\"hold on the SHA-256 build\"}";
	struct http_result r;
	json_t *a, *list, *commits;
	char *pin;

	push_commit(f, "sha256-1", SHA256_ZERO, SHA256_A);
	a = asg(f, ASG);
	assert_string_equal(h_str(a, "head.commit"), SHA256_A);
	json_decref(a);
	eb_shared(f, "sha256-shared-1", AMI_A, SHA256_A, NULL, true);
	list = wait_promotions(f, ASG, 1, NULL);
	assert_string_equal(h_str(json_array_get(list, 0), "commit"), SHA256_A);
	json_decref(list);
	assert_pinned(f, ASG, SHA256_A, AMI_A);
	pin = wait_pin_file(f, ASG, NULL);
	assert_non_null(strstr(pin, "  commit: " SHA256_A "\n"));
	free(pin);
	/* the ASG pinned by ref to the same commit (given upper-case in the config) */
	list = wait_promotions(f, ASG_B, 1, NULL);
	assert_string_equal(h_str(json_array_get(list, 0), "commit"), SHA256_A);
	json_decref(list);
	pin = wait_pin_file(f, ASG_B, NULL);
	assert_non_null(strstr(pin, "  commit: " SHA256_A "\n"));
	free(pin);
	/* GET /api/v1/commits shows the full id, ready for the ASG that follows main */
	commits = h_get_json(&f->p, "/api/v1/commits?repo=" REPO "&ref=main");
	assert_non_null(commits);
	assert_string_equal(h_str(commits, "commits.0.commit"), SHA256_A);
	assert_true(json_is_true(h_json_at(commits, "commits.0.ready_for." ASG ".ready")));
	json_decref(commits);
	commits = h_get_json(&f->p, "/api/v1/amis?commit=" SHA256_A);
	assert_non_null(commits);
	assert_string_equal(h_str(commits, "amis.0.image_id"), AMI_A);
	json_decref(commits);
	/* the admin pin takes a 64-hex id (upper-case too), or a unique prefix of it; 65 digits are refused */
	assert_int_equal(h_post(&f->p, "/api/v1/admin/asgs/" ASG "/pin", admin, pin_body, strlen(pin_body), &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, SHA256_A));
	http_result_free(&r);
	a = asg(f, ASG);
	assert_true(json_is_true(json_object_get(a, "frozen")));
	assert_string_equal(h_str(a, "pin.commit"), SHA256_A);
	json_decref(a);
	{
		const char *short_body = "{\"commit\":\"5e1b7a6f0b9a4f9a0e1d2c3b4a59687766554433221100ffeeddccbbaa99887\","
					 "\"reason\":\"a prefix\"}";
		const char *long_body = "{\"commit\":\"5e1b7a6f0b9a4f9a0e1d2c3b4a59687766554433221100ffeeddccbbaa998877a\","
					"\"reason\":\"typo\"}";

		assert_int_equal(h_post(&f->p, "/api/v1/admin/asgs/" ASG "/pin", admin, short_body, strlen(short_body), &r), 0);
		assert_int_equal(r.status, 200);
		assert_non_null(strstr(r.body, SHA256_A));
		http_result_free(&r);
		assert_int_equal(h_post(&f->p, "/api/v1/admin/asgs/" ASG "/pin", admin, long_body, strlen(long_body), &r), 0);
		assert_int_equal(r.status, 400);
		http_result_free(&r);
	}
}

/* The AMI Shared fixture for dest_number, with the envelope account and OwnerAccount numbers too. */
static char *numeric_shared(const char *id, json_int_t dest_number)
{
	char *text = h_ami_shared_variant(id, AMI_A, SHA_A, NULL, true);
	json_t *doc = json_loads(text, 0, NULL);
	json_t *detail = json_object_get(doc, "detail");

	free(text);
	json_object_set_new(doc, "account", json_integer(111122223333LL));
	json_object_set_new(detail, "OwnerAccount", json_integer(111122223333LL));
	json_object_set_new(detail, "DestinationAccount", json_integer(dest_number));
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text;
}

/*
 * AMI Shared with its account ids as JSON numbers (as a sharing integration
 * may send them) is accepted and acts like the string form; a number drops
 * an id's leading zero, and amicd puts it back: 12345678901 is the account
 * "012345678901" of the config.
 */
static void ami_shared_numeric_accounts(void **state)
{
	struct h_fx *f = *state;
	char *body = support_fixture("gitlab-push.json", NULL);
	char *shared;
	json_t *amis;

	push(f, "numeric-1", body);
	free(body);
	shared = numeric_shared("numeric-shared-dest", 444455556666LL);
	eb(f, shared);
	free(shared);
	json_decref(wait_promotions(f, ASG, 1, NULL));
	assert_pinned(f, ASG, SHA_A, AMI_A);
	shared = numeric_shared("numeric-shared-zero", 12345678901LL);
	eb(f, shared);
	free(shared);
	json_decref(wait_promotions(f, ASG_B, 1, NULL));
	assert_pinned(f, ASG_B, SHA_A, AMI_A);
	/* the facts carry the ids as text: the AMI is owned by 111122223333, tagged in both accounts */
	amis = h_get_json(&f->p, "/api/v1/amis?account=" LEADING_ZERO);
	assert_non_null(amis);
	assert_string_equal(h_text(amis, "amis.0.owner"), OWNER);
	assert_string_equal(h_text(amis, "amis.0.tags_by_account." LEADING_ZERO ".git-sha"), SHA_A);
	json_decref(amis);
}

/* --- tests: out of order ------------------------------------------------------------------- */

static void ami_before_push(void **state)
{
	struct h_fx *f = *state;
	char *body = support_fixture("gitlab-push.json", NULL);
	int64_t push_id;
	json_t *a, *list;

	eb_fixture(f, "eventbridge-ami-shared.json");
	a = asg(f, ASG);
	assert_string_equal(h_str(a, "state"), "no_pushes");
	assert_true(json_is_null(json_object_get(a, "pin")));
	assert_true(json_is_null(json_object_get(a, "head")));
	json_decref(a);
	assert_int_equal(promotion_count(f, ASG), 0);

	push_id = push(f, "late-push", body);
	free(body);
	list = wait_promotions(f, ASG, 1, "delivered");
	assert_int_equal(json_array_size(list), 1);
	assert_int_equal(h_num(json_array_get(list, 0), "cause_event_id"), push_id);
	assert_string_equal(h_str(json_array_get(list, 0), "commit"), SHA_A);
	json_decref(list);
	assert_pinned(f, ASG, SHA_A, AMI_A);
	free(wait_pin_file(f, ASG, NULL));
	assert_true(h_receiver_wait(f->rx, 1, WAIT_MS));
}

/* The share (no tags) first, then the tags set in the destination account. */
static void share_before_tag(void **state)
{
	struct h_fx *f = *state;
	static const char *const image_only[] = { "image", NULL };
	char *tags = h_createtags_variant("dest-tags-1", DEST, AMI_A, SHA_A);
	int64_t tags_id;
	json_t *list;

	push_commit(f, "sbt-1", SHA_PARENT, SHA_A);
	eb_shared(f, "share-without-tags-1", AMI_A, SHA_A, DEST, false);
	assert_waiting(f, ASG, SHA_A, image_only);
	assert_int_equal(promotion_count(f, ASG), 0);

	tags_id = eb(f, tags);
	free(tags);
	list = wait_promotions(f, ASG, 1, NULL);
	assert_int_equal(json_array_size(list), 1);
	assert_int_equal(h_num(json_array_get(list, 0), "cause_event_id"), tags_id);
	json_decref(list);
	assert_pinned(f, ASG, SHA_A, AMI_A);
}

/* The tags in the destination account first (the AMI known available), then the share. */
static void tag_before_share(void **state)
{
	struct h_fx *f = *state;
	static const char *const shared_only[] = { "shared", NULL };
	char *tags = h_createtags_variant("dest-tags-2", DEST, AMI_A, SHA_A);
	int64_t share_id;
	json_t *list;

	push_commit(f, "tbs-1", SHA_PARENT, SHA_A);
	eb_fixture(f, "eventbridge-ami-state-change.json");
	eb(f, tags);
	free(tags);
	assert_waiting(f, ASG, SHA_A, shared_only);
	assert_int_equal(promotion_count(f, ASG), 0);

	share_id = eb_fixture(f, "eventbridge-cloudtrail-modifyimageattribute.json");
	list = wait_promotions(f, ASG, 1, NULL);
	assert_int_equal(json_array_size(list), 1);
	assert_int_equal(h_num(json_array_get(list, 0), "cause_event_id"), share_id);
	json_decref(list);
	assert_pinned(f, ASG, SHA_A, AMI_A);
}

/* Tags set only by the owner account: never ready for an ASG in another account. */
static void owner_tags_never_ready(void **state)
{
	struct h_fx *f = *state;
	static const char *const image_only[] = { "image", NULL };

	push_commit(f, "own-1", SHA_PARENT, SHA_A);
	eb_fixture(f, "eventbridge-ami-state-change.json");
	eb_fixture(f, "eventbridge-cloudtrail-modifyimageattribute.json");
	eb_fixture(f, "eventbridge-cloudtrail-createtags.json");
	/* tagged again by the owner, later: still only the owner sees it */
	{
		char *again = h_createtags_variant("owner-tags-again", OWNER, AMI_A, SHA_A);

		eb(f, again);
		free(again);
	}
	assert_waiting(f, ASG, SHA_A, image_only);
	assert_int_equal(promotion_count(f, ASG), 0);
	assert_false(h_receiver_wait(f->rx, 1, QUIET_MS));
	{
		char path[512];

		assert_int_equal(access(h_pin_file(&f->p, ASG, path, sizeof path), F_OK), -1);
	}
}

/* Head B promoted; then A's AMI arrives: policy head keeps B. */
static void older_head_ami_after_newer_promoted(void **state)
{
	struct h_fx *f = *state;
	json_t *list, *a;

	push_commit(f, "old-a", SHA_PARENT, SHA_A);
	push_commit(f, "old-b", SHA_A, SHA_B);
	eb_shared(f, "shared-b-1", AMI_B, SHA_B, DEST, true);
	list = wait_promotions(f, ASG, 1, "delivered");
	assert_string_equal(h_str(json_array_get(list, 0), "commit"), SHA_B);
	json_decref(list);

	eb_fixture(f, "eventbridge-ami-shared.json"); /* A's AMI, late */
	assert_pinned(f, ASG, SHA_B, AMI_B);
	a = asg(f, ASG);
	assert_string_equal(h_str(a, "head.commit"), SHA_B);
	json_decref(a);
	assert_int_equal(promotion_count(f, ASG), 1);
	assert_false(h_receiver_wait(f->rx, 2, QUIET_MS));
}

/* An old push re-sent (same body, new Idempotency-Key) after a newer one: the head stays. */
static void resent_old_push_keeps_head(void **state)
{
	struct h_fx *f = *state;
	char *old = h_push_variant(SHA_PARENT, SHA_A);
	int64_t b_id, again_id;
	json_t *a, *list;

	push(f, "rs-a", old);
	eb_fixture(f, "eventbridge-ami-shared.json");
	list = wait_promotions(f, ASG, 1, NULL);
	json_decref(list);
	b_id = push_commit(f, "rs-b", SHA_A, SHA_B);
	eb_shared(f, "shared-b-2", AMI_B, SHA_B, DEST, true);
	list = wait_promotions(f, ASG, 2, NULL);
	assert_string_equal(h_str(json_array_get(list, 0), "commit"), SHA_B);
	json_decref(list);

	again_id = push(f, "rs-a-again", old);
	assert_true(again_id > b_id);
	a = asg(f, ASG);
	assert_string_equal(h_str(a, "head.commit"), SHA_B);
	assert_int_equal(h_num(a, "head.event_id"), b_id);
	json_decref(a);
	assert_pinned(f, ASG, SHA_B, AMI_B);
	assert_int_equal(promotion_count(f, ASG), 2);
	free(old);
}

static void branch_delete_keeps_head_and_pin(void **state)
{
	struct h_fx *f = *state;
	char *del = support_fixture("gitlab-push-branch-delete.json", NULL);
	int64_t push_id, del_id;
	json_t *a, *commits, *c;
	size_t i;
	bool seen_delete = false, seen_push = false;

	push_id = push_commit(f, "bd-1", SHA_PARENT, SHA_A);
	eb_fixture(f, "eventbridge-ami-shared.json");
	json_decref(wait_promotions(f, ASG, 1, "delivered"));

	del_id = push(f, "bd-delete", del);
	free(del);
	a = asg(f, ASG);
	assert_string_equal(h_str(a, "head.commit"), SHA_A);
	assert_int_equal(h_num(a, "head.event_id"), push_id);
	assert_string_equal(h_str(a, "pin.commit"), SHA_A);
	assert_string_equal(h_str(a, "pin.image_id"), AMI_A);
	assert_string_equal(h_str(a, "state"), "up_to_date");
	json_decref(a);
	assert_int_equal(promotion_count(f, ASG), 1);

	/* the deletion is recorded */
	a = h_get_json(&f->p, "/api/v1/commits?repo=" REPO "&ref=main");
	assert_non_null(a);
	commits = json_object_get(a, "commits");
	json_array_foreach(commits, i, c) {
		if (h_num(c, "event_id") == del_id) {
			seen_delete = true;
			assert_true(json_is_true(json_object_get(c, "branch_deleted")));
			assert_string_equal(h_str(c, "commit"), SHA_DELETED);
		} else if (h_num(c, "event_id") == push_id) {
			seen_push = true;
			assert_true(json_is_false(json_object_get(c, "branch_deleted")));
		}
	}
	assert_true(seen_delete);
	assert_true(seen_push);
	json_decref(a);
	assert_false(h_receiver_wait(f->rx, 2, QUIET_MS));
}

/*
 * Issue 10 item 3, design §1: the branch holds an older push (→ STALE) whose
 * successor (STALE → X) never arrived (GitLab got a 503 and never re-delivers).
 * Then X → A, A → B, and B → A (a force-push back): the push cycle's most
 * recently received push wins, so the head is A again and A's AMI, already
 * known, is promoted back — not the stale commit nothing superseded.
 */
static void force_push_back_on_a_stale_branch(void **state)
{
	struct h_fx *f = *state;
	int64_t back_id;
	json_t *list, *a;

	push_commit(f, "fb-stale", SHA_PARENT, SHA_STALE);
	/* the push STALE → X is lost */
	push_commit(f, "fb-a", SHA_X, SHA_A);
	eb_fixture(f, "eventbridge-ami-shared.json"); /* A's AMI */
	json_decref(wait_promotions(f, ASG, 1, "delivered"));
	push_commit(f, "fb-b", SHA_A, SHA_B);
	eb_shared(f, "fb-shared-b", AMI_B, SHA_B, DEST, true);
	list = wait_promotions(f, ASG, 2, "delivered");
	assert_string_equal(h_str(json_array_get(list, 0), "commit"), SHA_B);
	json_decref(list);

	back_id = push_commit(f, "fb-back", SHA_B, SHA_A);
	list = wait_promotions(f, ASG, 3, "delivered");
	assert_string_equal(h_str(json_array_get(list, 0), "commit"), SHA_A);
	assert_string_equal(h_str(json_array_get(list, 0), "image_id"), AMI_A);
	assert_int_equal(h_num(json_array_get(list, 0), "cause_event_id"), back_id);
	json_decref(list);
	a = asg(f, ASG);
	assert_string_equal(h_str(a, "head.commit"), SHA_A);
	assert_int_equal(h_num(a, "head.event_id"), back_id);
	json_decref(a);
	assert_pinned(f, ASG, SHA_A, AMI_A);
	assert_false(h_receiver_wait(f->rx, 4, QUIET_MS));
}

/*
 * Issue 10 item 5, design §4: DeleteTags as AWS does it. In the ASG's account the
 * AMI is tagged git-sha = A; a DeleteTags naming git-sha with another value
 * (a cleanup of an old build's tag) leaves the tag, so A is promoted.
 */
static void deletetags_naming_another_value_leaves_the_tag(void **state)
{
	struct h_fx *f = *state;
	json_t *list;

	eb_fixture(f, "eventbridge-ami-state-change.json");
	eb_fixture(f, "eventbridge-cloudtrail-modifyimageattribute.json"); /* shared with the ASG's account */
	eb_tags(f, "dt-create", DEST, "CreateTags", "[{\"key\":\"git-sha\",\"value\":\"" SHA_A "\"}]",
		"2025-03-04T08:43:55Z");
	eb_tags(f, "dt-other", DEST, "DeleteTags", "[{\"key\":\"git-sha\",\"value\":\"" SHA_B "\"}]",
		"2025-03-04T08:50:00Z");
	push_commit(f, "dt-push", SHA_PARENT, SHA_A);
	list = wait_promotions(f, ASG, 1, "delivered");
	assert_string_equal(h_str(json_array_get(list, 0), "commit"), SHA_A);
	json_decref(list);
	assert_pinned(f, ASG, SHA_A, AMI_A);

	/* naming the tag's own value removes it: A's AMI is gone from the account's view */
	eb_tags(f, "dt-same", DEST, "DeleteTags", "[{\"key\":\"git-sha\",\"value\":\"" SHA_A "\"}]",
		"2025-03-04T08:55:00Z");
	{
		json_t *a = asg(f, ASG);
		json_t *amis = h_get_json(&f->p, "/api/v1/amis?account=" DEST);
		const json_t *seen = json_object_get(json_object_get(json_array_get(json_object_get(amis, "amis"), 0),
								     "tags_by_account"), DEST);

		assert_string_equal(h_str(a, "pin.commit"), SHA_A); /* the pin never moves by itself */
		assert_non_null(amis);
		assert_int_equal(json_array_size(json_object_get(amis, "amis")), 1);
		assert_null(json_object_get(seen, "git-sha"));
		json_decref(amis);
		json_decref(a);
	}
	assert_int_equal(promotion_count(f, ASG), 1);
}

/*
 * A DeleteTags without a tag list removes every tag the account set — here it
 * arrives before the CreateTags it follows in time: the head waits for an image,
 * nothing is promoted, until the account tags the AMI again later.
 */
static void deletetags_without_tags_removes_every_tag(void **state)
{
	struct h_fx *f = *state;
	static const char *const image_only[] = { "image", NULL };
	json_t *list;
	int64_t retag_id;

	eb_tags(f, "dta-all", DEST, "DeleteTags", NULL, "2025-03-04T08:50:00Z");
	eb_fixture(f, "eventbridge-ami-state-change.json");
	eb_fixture(f, "eventbridge-cloudtrail-modifyimageattribute.json");
	eb_tags(f, "dta-create", DEST, "CreateTags",
		"[{\"key\":\"image-role\",\"value\":\"worker\"},{\"key\":\"git-sha\",\"value\":\"" SHA_A "\"}]",
		"2025-03-04T08:43:55Z");
	push_commit(f, "dta-push", SHA_PARENT, SHA_A);
	assert_waiting(f, ASG, SHA_A, image_only);
	assert_int_equal(promotion_count(f, ASG), 0);
	assert_false(h_receiver_wait(f->rx, 1, QUIET_MS));

	retag_id = eb_tags(f, "dta-retag", DEST, "CreateTags", "[{\"key\":\"git-sha\",\"value\":\"" SHA_A "\"}]",
			   "2025-03-04T09:00:00Z");
	list = wait_promotions(f, ASG, 1, "delivered");
	assert_string_equal(h_str(json_array_get(list, 0), "commit"), SHA_A);
	assert_int_equal(h_num(json_array_get(list, 0), "cause_event_id"), retag_id);
	json_decref(list);
}

/*
 * A ModifyImageAttribute as CloudTrail records a share with an organization or
 * OU (launchPermission.add.items[].organizationArn / organizationalUnitArn),
 * built from the fixture (the owner's call at 08:45:02).
 */
static int64_t eb_org_share(struct h_fx *f, const char *id, const char *field, const char *arn, char *note,
			    size_t size)
{
	char *text = support_fixture("eventbridge-cloudtrail-modifyimageattribute.json", NULL);
	json_t *doc = text != NULL ? json_loads(text, 0, NULL) : NULL;
	json_t *params = json_object_get(json_object_get(doc, "detail"), "requestParameters");
	char *body;
	int64_t eid;
	json_t *ev;
	char path[64];

	free(text);
	assert_non_null(doc);
	json_object_set_new(doc, "id", json_string(id));
	json_object_set_new(params, "launchPermission", json_pack("{s:{s:[{s:s}]}}", "add", "items", field, arn));
	body = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	assert_non_null(body);
	eid = eb(f, body);
	free(body);
	snprintf(path, sizeof path, "/api/v1/events/%lld", (long long)eid);
	ev = h_get_json(&f->p, path);
	assert_non_null(ev);
	snprintf(note, size, "%s", h_text(ev, "note"));
	json_decref(ev);
	return eid;
}

/*
 * Issue 10 item 6, design §3/§4: an AMI shared with an OU that the ASG's
 * account lists under org_arns counts as shared with it: promoted.
 */
static void org_share_counts_for_a_listed_account(void **state)
{
	struct h_fx *f = *state;
	char note[512];
	json_t *list;

	push_commit(f, "org-push", SHA_PARENT, SHA_A);
	eb_fixture(f, "eventbridge-ami-state-change.json");
	eb_org_share(f, "org-share-ou", "organizationalUnitArn", OU_LISTED, note, sizeof note);
	assert_string_equal(note, "");
	eb_tags(f, "org-tag", DEST, "CreateTags", "[{\"key\":\"git-sha\",\"value\":\"" SHA_A "\"}]",
		"2025-03-04T08:46:00Z");
	list = wait_promotions(f, ASG, 1, "delivered");
	assert_string_equal(h_str(json_array_get(list, 0), "commit"), SHA_A);
	assert_string_equal(h_str(json_array_get(list, 0), "image_id"), AMI_A);
	json_decref(list);
	assert_pinned(f, ASG, SHA_A, AMI_A);
}

/*
 * An AMI shared with an organization no account lists: the share is stored,
 * the event's note and the ASG's waiting_for.detail say that the account's
 * membership is unknown (and name the AMI, its state and owner, the account).
 */
static void org_share_with_unknown_membership_is_said(void **state)
{
	struct h_fx *f = *state;
	static const char *const shared_only[] = { "shared", NULL };
	char note[512];
	const json_t *detail, *orgs;
	json_t *a;

	push_commit(f, "orgu-push", SHA_PARENT, SHA_A);
	eb_fixture(f, "eventbridge-ami-state-change.json");
	eb_org_share(f, "orgu-share", "organizationArn", ORG_UNLISTED, note, sizeof note);
	assert_non_null(strstr(note, ORG_UNLISTED));
	assert_non_null(strstr(note, "org_arns"));
	assert_non_null(strstr(note, "unknown"));
	eb_tags(f, "orgu-tag", DEST, "CreateTags", "[{\"key\":\"git-sha\",\"value\":\"" SHA_A "\"}]",
		"2025-03-04T08:46:00Z");
	assert_waiting(f, ASG, SHA_A, shared_only);
	a = asg(f, ASG);
	detail = h_json_at(a, "waiting_for.detail");
	assert_non_null(detail);
	assert_string_equal(h_str(detail, "account"), DEST);
	assert_string_equal(h_str(detail, "account_name"), "image-builder-stage");
	assert_string_equal(h_str(detail, "ami.image_id"), AMI_A);
	assert_string_equal(h_str(detail, "ami.state"), "available");
	assert_string_equal(h_str(detail, "ami.owner"), OWNER);
	orgs = json_object_get(detail, "org_shares_unknown");
	assert_int_equal(json_array_size(orgs), 1);
	assert_string_equal(json_string_value(json_array_get(orgs, 0)), ORG_UNLISTED);
	assert_non_null(strstr(h_text(detail, "message"), ORG_UNLISTED));
	assert_non_null(strstr(h_text(detail, "message"), "unknown"));
	assert_non_null(strstr(h_text(detail, "message"), DEST));
	json_decref(a);
	assert_int_equal(promotion_count(f, ASG), 0);
	assert_false(h_receiver_wait(f->rx, 1, QUIET_MS));
	/* the share is stored: once the account is shared directly too, nothing else is missing */
	{
		char *share = h_share_variant("orgu-direct", AMI_A, DEST, true, "2025-03-04T08:47:00Z");

		assert_non_null(share);
		eb(f, share);
		free(share);
	}
	json_decref(wait_promotions(f, ASG, 1, "delivered"));
}

/* One ASG with a static tag filter (image-role = batch) beside the git filter. */
static int setup_static_filter(void **state)
{
	struct amicd_opts o = {
		.resources = "  - provider: asg\n"
			     "    identifier: " ASG "\n"
			     "    account: image-builder-stage\n"
			     "    region: eu-west-1\n"
			     "    image:\n"
			     "      - { provider: git, tag_name: git-sha, url: " REPO ", ref: main }\n"
			     "      - { provider: static, tag_name: image-role, value: batch }\n",
	};

	return h_fx_setup(state, &o, H_FX_RECEIVER);
}

/*
 * waiting_for.detail names the things (#11 item 5): the closest AMI (id,
 * state, owner), the account, and each expected static tag beside what the
 * account sees: the fixture's AMI carries image-role = worker, then builder,
 * then batch (promoted).
 */
static void static_tags_named_in_detail(void **state)
{
	struct h_fx *f = *state;
	static const char *const static_only[] = { "static_tags", NULL };
	const json_t *detail, *tag;
	json_t *a;

	push_commit(f, "st-push", SHA_PARENT, SHA_A);
	eb_fixture(f, "eventbridge-ami-state-change.json");
	eb_shared(f, "st-share", AMI_A, SHA_A, DEST, true);
	assert_waiting(f, ASG, SHA_A, static_only);
	a = asg(f, ASG);
	detail = h_json_at(a, "waiting_for.detail");
	assert_non_null(detail);
	assert_string_equal(h_str(detail, "account"), DEST);
	assert_string_equal(h_str(detail, "ami.image_id"), AMI_A);
	assert_string_equal(h_str(detail, "ami.state"), "available");
	assert_string_equal(h_str(detail, "ami.owner"), OWNER);
	tag = json_array_get(json_object_get(detail, "static_tags"), 0);
	assert_string_equal(h_str(tag, "key"), "image-role");
	assert_string_equal(h_str(tag, "expected"), "batch");
	assert_string_equal(h_str(tag, "seen"), "worker");
	assert_non_null(strstr(h_text(detail, "message"), "image-role"));
	json_decref(a);

	eb_tags(f, "st-tag-1", DEST, "CreateTags", "[{\"key\":\"image-role\",\"value\":\"builder\"}]",
		"2025-03-04T08:50:00Z");
	assert_waiting(f, ASG, SHA_A, static_only);
	a = asg(f, ASG);
	tag = json_array_get(json_object_get(h_json_at(a, "waiting_for.detail"), "static_tags"), 0);
	assert_string_equal(h_str(tag, "seen"), "builder");
	json_decref(a);
	assert_int_equal(promotion_count(f, ASG), 0);

	eb_tags(f, "st-tag-2", DEST, "CreateTags", "[{\"key\":\"image-role\",\"value\":\"batch\"}]",
		"2025-03-04T08:51:00Z");
	json_decref(wait_promotions(f, ASG, 1, "delivered"));
	assert_pinned(f, ASG, SHA_A, AMI_A);
}

/* Two ASGs in two accounts follow one repo; the AMI is shared and tagged in one account only. */
static void two_asgs_two_accounts(void **state)
{
	struct h_fx *f = *state;
	static const char *const image_only[] = { "image", NULL };
	json_t *list;

	push_commit(f, "two-1", SHA_PARENT, SHA_A);
	eb_fixture(f, "eventbridge-ami-shared.json"); /* into 444455556666 only */
	list = wait_promotions(f, ASG, 1, "delivered");
	assert_int_equal(json_array_size(list), 1);
	assert_pinned(f, ASG, SHA_A, AMI_A);
	assert_waiting(f, ASG_B, SHA_A, image_only);
	assert_int_equal(promotion_count(f, ASG_B), 0);
	assert_true(h_receiver_wait(f->rx, 1, WAIT_MS));
	assert_trigger_request(f, 0, ASG, "image-builder-stage", SHA_A, AMI_A, h_num(json_array_get(list, 0), "id"));
	assert_false(h_receiver_wait(f->rx, 2, QUIET_MS));
	json_decref(list);
}

/* --- tests: pin file repair, duplicates ---------------------------------------------------- */

/* Promote A, stop amicd, damage the pin file (damage NULL: delete it), start again: restored. */
static void pin_file_repaired(struct h_fx *f, const char *damage)
{
	char path[512];
	char *before, *after;
	json_t *a;

	push_commit(f, "rep-1", SHA_PARENT, SHA_A);
	eb_fixture(f, "eventbridge-ami-shared.json");
	json_decref(wait_promotions(f, ASG, 1, "delivered"));
	before = wait_pin_file(f, ASG, NULL);
	assert_int_equal(harness_stop(&f->p, SIGTERM, 10000), 0);

	h_pin_file(&f->p, ASG, path, sizeof path);
	if (damage == NULL) {
		assert_int_equal(unlink(path), 0);
	} else {
		assert_int_equal(support_write_file(NULL, path, damage), 0);
	}
	assert_int_equal(harness_start(&f->p), 0);
	after = wait_pin_file(f, ASG, before);
	assert_string_equal(after, before);

	/* equal to the stored pin, and nothing promoted or triggered again */
	a = asg(f, ASG);
	assert_pin_file(after, SHA_A, AMI_A, h_num(a, "pin.promotion_id"), h_str(a, "pin.promoted_at"));
	json_decref(a);
	assert_int_equal(promotion_count(f, ASG), 1);
	assert_false(h_receiver_wait(f->rx, 2, QUIET_MS));
	free(before);
	free(after);
}

static void pin_file_deleted_is_rewritten(void **state)
{
	pin_file_repaired(*state, NULL);
}

static void pin_file_corrupt_is_rewritten(void **state)
{
	pin_file_repaired(*state, "identifier: [not, what, amicd, wrote\n\x01\x02");
}

/* Processed deliveries re-sent: duplicates, and still one promotion, one trigger. */
static void duplicate_changes_nothing(void **state)
{
	struct h_fx *f = *state;
	char *body = support_fixture("gitlab-push.json", NULL);
	char *shared = support_fixture("eventbridge-ami-shared.json", NULL);
	int64_t push_id, shared_id, id = 0;

	push_id = push(f, "dup-1", body);
	shared_id = eb(f, shared);
	json_decref(wait_promotions(f, ASG, 1, "delivered"));
	assert_true(h_receiver_wait(f->rx, 1, WAIT_MS));

	assert_int_equal(h_post_gitlab(&f->p, "Push Hook", "dup-1", body, &id, NULL, 0), 200);
	assert_int_equal(id, push_id);
	assert_int_equal(h_post_eb(&f->p, shared, &id, NULL, 0), 200);
	assert_int_equal(id, shared_id);
	/* the same facts under a new delivery id, then an unrelated event: each makes a decision pass */
	eb_shared(f, "same-share-new-id", NULL, NULL, NULL, true);
	eb_fixture(f, "eventbridge-ami-state-change.json");

	assert_int_equal(promotion_count(f, ASG), 1);
	assert_pinned(f, ASG, SHA_A, AMI_A);
	assert_false(h_receiver_wait(f->rx, 2, QUIET_MS));
	assert_int_equal(h_db_int(&f->p, "SELECT count(*) FROM events WHERE delivery_id = ?1", SHARED_ID), 1);
	free(body);
	free(shared);
}

/* An admin replay of everything, and of the promoting event alone, promotes nothing again. */
static void replay_changes_nothing(void **state)
{
	struct h_fx *f = *state;
	const char *h[] = { "Content-Type: application/json", "Authorization: Bearer " SUPPORT_ADMIN_TOKEN, NULL };
	char body[96];
	struct http_result r;
	int64_t shared_id;
	json_t *list, *j;
	json_int_t promotion_id;

	push_commit(f, "rp-1", SHA_PARENT, SHA_A);
	shared_id = eb_fixture(f, "eventbridge-ami-shared.json");
	list = wait_promotions(f, ASG, 1, "delivered");
	promotion_id = h_num(json_array_get(list, 0), "id");
	json_decref(list);

	snprintf(body, sizeof body, "{\"event_ids\":[%lld]}", (long long)shared_id);
	for (int i = 0; i < 2; i++) {
		const char *what = i == 0 ? "{}" : body;

		assert_int_equal(h_post(&f->p, "/api/v1/admin/replay", h, what, strlen(what), &r), 0);
		if (r.status != 200)
			fail_msg("replay %s answered %ld: %s", what, r.status, r.body);
		j = json_loadb(r.body, r.body_len, 0, NULL);
		assert_non_null(j);
		assert_true(h_num(j, "replayed") >= 1);
		json_decref(j);
		http_result_free(&r);
	}
	assert_int_equal(promotion_count(f, ASG), 1);
	assert_pinned(f, ASG, SHA_A, AMI_A);
	j = asg(f, ASG);
	assert_int_equal(h_num(j, "pin.promotion_id"), promotion_id);
	json_decref(j);
	assert_false(h_receiver_wait(f->rx, 2, QUIET_MS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(full_path_in_order, setup_default, h_fx_teardown),
		cmocka_unit_test_setup_teardown(sha256_repository, setup_sha256, h_fx_teardown),
		cmocka_unit_test_setup_teardown(ami_shared_numeric_accounts, setup_leading_zero, h_fx_teardown),
		cmocka_unit_test_setup_teardown(ami_before_push, setup_default, h_fx_teardown),
		cmocka_unit_test_setup_teardown(share_before_tag, setup_default, h_fx_teardown),
		cmocka_unit_test_setup_teardown(tag_before_share, setup_default, h_fx_teardown),
		cmocka_unit_test_setup_teardown(owner_tags_never_ready, setup_default, h_fx_teardown),
		cmocka_unit_test_setup_teardown(older_head_ami_after_newer_promoted, setup_default, h_fx_teardown),
		cmocka_unit_test_setup_teardown(resent_old_push_keeps_head, setup_default, h_fx_teardown),
		cmocka_unit_test_setup_teardown(branch_delete_keeps_head_and_pin, setup_default, h_fx_teardown),
		cmocka_unit_test_setup_teardown(force_push_back_on_a_stale_branch, setup_default, h_fx_teardown),
		cmocka_unit_test_setup_teardown(deletetags_naming_another_value_leaves_the_tag, setup_default,
						h_fx_teardown),
		cmocka_unit_test_setup_teardown(deletetags_without_tags_removes_every_tag, setup_default, h_fx_teardown),
		cmocka_unit_test_setup_teardown(org_share_counts_for_a_listed_account, setup_org, h_fx_teardown),
		cmocka_unit_test_setup_teardown(org_share_with_unknown_membership_is_said, setup_default, h_fx_teardown),
		cmocka_unit_test_setup_teardown(static_tags_named_in_detail, setup_static_filter, h_fx_teardown),
		cmocka_unit_test_setup_teardown(two_asgs_two_accounts, setup_two_asgs, h_fx_teardown),
		cmocka_unit_test_setup_teardown(pin_file_deleted_is_rewritten, setup_default, h_fx_teardown),
		cmocka_unit_test_setup_teardown(pin_file_corrupt_is_rewritten, setup_default, h_fx_teardown),
		cmocka_unit_test_setup_teardown(duplicate_changes_nothing, setup_default, h_fx_teardown),
		cmocka_unit_test_setup_teardown(replay_changes_nothing, setup_default, h_fx_teardown),
	};

	return h_run_tests("integration: promotion", tests, NULL, NULL);
}
