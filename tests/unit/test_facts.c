/*
 * test_facts.c — unit tests of facts.h: what each stored delivery means as
 * facts (design §1 vocabulary, §4 "EventBridge events acted on").
 *
 * One table (`cases[]`): each row takes a golden payload from tests/data (or
 * an inline one), applies a few edits to it with jansson (so a variant differs
 * from a real delivery by exactly what it tests), runs facts_from_event with a
 * source and kind, and states the result: the return code, the note (why no
 * facts), the JSON path of an error, and every fact expected, field by field.
 * Facts are matched as a set (the order of tags inside a JSON object is not
 * part of the contract); every field of struct fact is compared, except the
 * time of a push (pushes are ordered by event id, not by time).
 *
 * The config is the shared one (support_config_load), written with its secret
 * files into a temp directory by the group setup: one ASG in account
 * 444455556666, eu-west-1, following
 * https://gitlab.example.net/platform/golden-images branch main.
 *
 * Fixtures are found through AMICD_TEST_DATA (set by `make test`), else
 * "tests/data".
 */
#include "config.h"
#include "error.h"
#include "facts.h"
#include "support.h"

#include <jansson.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define GOLDEN "https://gitlab.example.net/platform/golden-images"
#define BEFORE "60c8eedbd9916e98e042832de430e52be7ffe0ac"
#define AFTER "61c979eab8ea475e0b84db7556d2049e9dae6d89"
#define ZERO "0000000000000000000000000000000000000000"
#define IMG "ami-08fdc871471476ef5"
#define OWNER "111122223333"
#define DEST "444455556666"
/* design §3 org_arns: the ASG's account lists OU_LISTED; ORG_UNLISTED is nobody's */
#define OU_LISTED "arn:aws:organizations::111122223333:ou/o-a1b2c3d4e5/ou-ab12-cdef3456"
#define ORG_UNLISTED "arn:aws:organizations::999988887777:organization/o-z9y8x7w6v5"
#define OTHER "777788889999"
#define EU "eu-west-1"
#define SHA256_A "5e1b7a6f0b9a4f9a0e1d2c3b4a59687766554433221100ffeeddccbbaa998877"
#define SHA256_B "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00"
#define ZERO64 ZERO "000000000000000000000000"
#define LEADING_ZERO "012345678901"          /* an account id JSON would write as 12345678901 */

/* Event times of the fixtures, in ms since the epoch. */
#define T_STATE INT64_C(1741077677000)   /* 2025-03-04T08:41:17Z */
#define T_TAGS INT64_C(1741077835000)    /* 2025-03-04T08:43:55Z */
#define T_MODIFY INT64_C(1741077902000)  /* 2025-03-04T08:45:02Z */
#define T_SHARED INT64_C(1741077970000)  /* 2025-03-04T08:46:10Z */
#define T_EARLIER INT64_C(1741077899000) /* 2025-03-04T08:44:59Z */
#define T_LATER INT64_C(1741078800000)   /* 2025-03-04T09:00:00Z */

#define F_PUSH "gitlab-push.json"
#define F_DELETE "gitlab-push-branch-delete.json"
#define F_TAG_PUSH "gitlab-tag-push.json"
#define F_STATE "eventbridge-ami-state-change.json"
#define F_MODIFY "eventbridge-cloudtrail-modifyimageattribute.json"
#define F_TAGS "eventbridge-cloudtrail-createtags.json"
#define F_SHARED "eventbridge-ami-shared.json"

/* ---- the table ------------------------------------------------------------- */

/* Set (json) or delete (json NULL) the value at a dotted path; numeric parts index arrays. */
struct edit {
	const char *path;
	const char *json;
};

#define MAX_EDITS 4
#define MAX_FACTS 6

struct fcase {
	const char *name;
	const char *file;         /* fixture under tests/data, or NULL for raw */
	const char *raw;          /* inline payload (any JSON) when file is NULL */
	struct edit edits[MAX_EDITS];
	const char *source;
	const char *kind;
	/* expected */
	enum amicd_rc rc;
	const char *note;         /* fragment of the note; NULL: the note must be empty */
	const char *err_path;     /* on error: the JSON path at fault, or NULL (not checked) */
	size_t n;
	struct fact facts[MAX_FACTS];
};

#define PUSH_FACT(b_, a_, del_) \
	{ .kind = FACT_PUSH, .repo = GOLDEN, .branch = "main", .before = (b_), .after = (a_), .deleted = (del_) }
#define SEEN(t_, o_) { .kind = FACT_AMI_SEEN, .time_ms = (t_), .region = EU, .image_id = IMG, .owner = (o_) }
#define STATE(t_, o_, st_) \
	{ .kind = FACT_AMI_STATE, .time_ms = (t_), .region = EU, .image_id = IMG, .owner = (o_), .state = (st_) }
#define SHARE(t_, o_, a_, sh_) \
	{ .kind = FACT_AMI_SHARE, .time_ms = (t_), .region = EU, .image_id = IMG, .owner = (o_), .account = (a_), \
	  .shared = (sh_) }
#define TAGF(t_, o_, a_, k_, v_) \
	{ .kind = FACT_AMI_TAG, .time_ms = (t_), .region = EU, .image_id = IMG, .owner = (o_), .account = (a_), \
	  .key = (k_), .value = (v_) }
/* a DeleteTags of key k_ (NULL: every tag) naming value v_ (NULL: any) */
#define UNTAGF(t_, a_, k_, v_) \
	{ .kind = FACT_AMI_TAG, .time_ms = (t_), .region = EU, .image_id = IMG, .account = (a_), .key = (k_), \
	  .value = (v_), .deleted = true }

static const struct fcase cases[] = {
	/* --- GitLab ------------------------------------------------------------------- */
	{ .name = "push to main of the tracked repo: one push fact, repo in normal form",
	  .file = F_PUSH, .source = "gitlab", .kind = "push",
	  .n = 1, .facts = { PUSH_FACT(BEFORE, AFTER, false) } },
	{ .name = "push whose web_url has an upper-case host: same repo, normal form",
	  .file = F_PUSH, .source = "gitlab", .kind = "push",
	  .edits = { { "project.web_url", "\"HTTPS://GitLab.Example.NET/platform/golden-images/\"" } },
	  .n = 1, .facts = { PUSH_FACT(BEFORE, AFTER, false) } },
	{ .name = "push creating the branch (before all zeros): a push fact, not deleted",
	  .file = F_PUSH, .source = "gitlab", .kind = "push",
	  .edits = { { "before", "\"" ZERO "\"" } },
	  .n = 1, .facts = { PUSH_FACT(ZERO, AFTER, false) } },
	{ .name = "branch delete: a push fact with deleted true",
	  .file = F_DELETE, .source = "gitlab", .kind = "push",
	  .n = 1, .facts = { PUSH_FACT(AFTER, ZERO, true) } },
	{ .name = "push to another branch: no facts, a note",
	  .file = F_PUSH, .source = "gitlab", .kind = "push",
	  .edits = { { "ref", "\"refs/heads/develop\"" } },
	  .note = "untracked" },
	{ .name = "push to another repo: no facts, a note",
	  .file = F_PUSH, .source = "gitlab", .kind = "push",
	  .edits = { { "project.web_url", "\"https://gitlab.example.net/platform/other-images\"" },
		     { "project.git_http_url", "\"https://gitlab.example.net/platform/other-images.git\"" },
		     { "project.git_ssh_url", "\"git@gitlab.example.net:platform/other-images.git\"" } },
	  .note = "untracked" },
	{ .name = "tag push: no facts, a note",
	  .file = F_TAG_PUSH, .source = "gitlab", .kind = "tag_push",
	  .note = "tag_push" },
	{ .name = "another GitLab event kind: no facts, a note",
	  .file = F_PUSH, .source = "gitlab", .kind = "merge_request",
	  .note = "merge_request" },
	{ .name = "push without after: invalid, path $.after",
	  .file = F_PUSH, .source = "gitlab", .kind = "push",
	  .edits = { { "after", NULL } },
	  .rc = AMICD_ERR_INVALID, .err_path = "$.after" },
	{ .name = "push without project: invalid",
	  .file = F_PUSH, .source = "gitlab", .kind = "push",
	  .edits = { { "project", NULL } },
	  .rc = AMICD_ERR_INVALID, .err_path = "$.project" },
	{ .name = "push to another repo with malformed commit ids: no facts, a note (the repo is judged first)",
	  .file = F_PUSH, .source = "gitlab", .kind = "push",
	  .edits = { { "project.web_url", "\"https://gitlab.example.net/platform/other-images\"" },
		     { "project.git_http_url", NULL }, { "project.git_ssh_url", NULL }, { "after", "\"xyz\"" } },
	  .note = "untracked" },
	{ .name = "push of a SHA-256 repository: 64-hex ids, lower-cased",
	  .file = F_PUSH, .source = "gitlab", .kind = "push",
	  .edits = { { "before", "\"" SHA256_A "\"" },
		     { "after", "\"C0FFEE00C0FFEE00C0FFEE00C0FFEE00C0FFEE00C0FFEE00C0FFEE00C0FFEE00\"" } },
	  .n = 1, .facts = { PUSH_FACT(SHA256_A, SHA256_B, false) } },
	{ .name = "push deleting a SHA-256 branch (64 zeros): deleted",
	  .file = F_PUSH, .source = "gitlab", .kind = "push",
	  .edits = { { "before", "\"" SHA256_A "\"" }, { "after", "\"" ZERO64 "\"" } },
	  .n = 1, .facts = { PUSH_FACT(SHA256_A, ZERO64, true) } },
	{ .name = "push body not an object: invalid",
	  .raw = "[1, 2, 3]", .source = "gitlab", .kind = "push",
	  .rc = AMICD_ERR_INVALID },

	/* --- EC2 AMI State Change ------------------------------------------------------- */
	{ .name = "AMI state change: seen + state available, owner = envelope account, time = envelope time",
	  .file = F_STATE, .source = "eventbridge", .kind = "ami_state",
	  .n = 2, .facts = { SEEN(T_STATE, OWNER), STATE(T_STATE, OWNER, "available") } },
	{ .name = "AMI state change to deregistered",
	  .file = F_STATE, .source = "eventbridge", .kind = "ami_state",
	  .edits = { { "detail.State", "\"deregistered\"" }, { "time", "\"2025-03-04T09:00:00Z\"" } },
	  .n = 2, .facts = { SEEN(T_LATER, OWNER), STATE(T_LATER, OWNER, "deregistered") } },
	{ .name = "AMI state change without ImageId: invalid",
	  .file = F_STATE, .source = "eventbridge", .kind = "ami_state",
	  .edits = { { "detail.ImageId", NULL } },
	  .rc = AMICD_ERR_INVALID, .err_path = "$.detail.ImageId" },

	/* --- CloudTrail ModifyImageAttribute ----------------------------------------------- */
	{ .name = "ModifyImageAttribute add: shared with both accounts, owner = caller",
	  .file = F_MODIFY, .source = "eventbridge", .kind = "ami_launch_permission",
	  .n = 3, .facts = { SEEN(T_MODIFY, OWNER), SHARE(T_MODIFY, OWNER, DEST, true),
			     SHARE(T_MODIFY, OWNER, OTHER, true) } },
	{ .name = "ModifyImageAttribute: time from detail.eventTime, not the envelope",
	  .file = F_MODIFY, .source = "eventbridge", .kind = "ami_launch_permission",
	  .edits = { { "time", "\"2025-03-04T09:00:00Z\"" }, { "detail.eventTime", "\"2025-03-04T08:44:59Z\"" } },
	  .n = 3, .facts = { SEEN(T_EARLIER, OWNER), SHARE(T_EARLIER, OWNER, DEST, true),
			     SHARE(T_EARLIER, OWNER, OTHER, true) } },
	{ .name = "ModifyImageAttribute remove: shared false",
	  .file = F_MODIFY, .source = "eventbridge", .kind = "ami_launch_permission",
	  .edits = { { "detail.requestParameters.launchPermission",
		       "{\"remove\": {\"items\": [{\"userId\": \"" DEST "\"}]}}" } },
	  .n = 2, .facts = { SEEN(T_MODIFY, OWNER), SHARE(T_MODIFY, OWNER, DEST, false) } },
	{ .name = "ModifyImageAttribute add and remove at once",
	  .file = F_MODIFY, .source = "eventbridge", .kind = "ami_launch_permission",
	  .edits = { { "detail.requestParameters.launchPermission",
		       "{\"add\": {\"items\": [{\"userId\": \"" DEST "\"}]},"
		       " \"remove\": {\"items\": [{\"userId\": \"" OTHER "\"}]}}" } },
	  .n = 3, .facts = { SEEN(T_MODIFY, OWNER), SHARE(T_MODIFY, OWNER, DEST, true),
			     SHARE(T_MODIFY, OWNER, OTHER, false) } },
	{ .name = "ModifyImageAttribute group all: account \"all\" (public)",
	  .file = F_MODIFY, .source = "eventbridge", .kind = "ami_launch_permission",
	  .edits = { { "detail.requestParameters.launchPermission", "{\"add\": {\"items\": [{\"group\": \"all\"}]}}" } },
	  .n = 2, .facts = { SEEN(T_MODIFY, OWNER), SHARE(T_MODIFY, OWNER, "all", true) } },
	/* design §4: organizationArn / organizationalUnitArn items are shares with the ARN */
	{ .name = "ModifyImageAttribute sharing with an organization nobody lists: the share, a note",
	  .file = F_MODIFY, .source = "eventbridge", .kind = "ami_launch_permission",
	  .edits = { { "detail.requestParameters.launchPermission",
		       "{\"add\": {\"items\": [{\"organizationArn\": \"" ORG_UNLISTED "\"}]}}" } },
	  .note = "organization " ORG_UNLISTED "; no configured account lists it under org_arns",
	  .n = 2, .facts = { SEEN(T_MODIFY, OWNER), SHARE(T_MODIFY, OWNER, ORG_UNLISTED, true) } },
	{ .name = "ModifyImageAttribute sharing with an OU an account lists: the share, no note",
	  .file = F_MODIFY, .source = "eventbridge", .kind = "ami_launch_permission",
	  .edits = { { "detail.requestParameters.launchPermission",
		       "{\"add\": {\"items\": [{\"organizationalUnitArn\": \"" OU_LISTED "\"}]}}" } },
	  .n = 2, .facts = { SEEN(T_MODIFY, OWNER), SHARE(T_MODIFY, OWNER, OU_LISTED, true) } },
	{ .name = "ModifyImageAttribute removing an organization's share: shared false, no note",
	  .file = F_MODIFY, .source = "eventbridge", .kind = "ami_launch_permission",
	  .edits = { { "detail.requestParameters.launchPermission",
		       "{\"remove\": {\"items\": [{\"organizationArn\": \"" ORG_UNLISTED "\"}]}}" } },
	  .n = 2, .facts = { SEEN(T_MODIFY, OWNER), SHARE(T_MODIFY, OWNER, ORG_UNLISTED, false) } },
	{ .name = "ModifyImageAttribute mixing an account, an OU and an organization",
	  .file = F_MODIFY, .source = "eventbridge", .kind = "ami_launch_permission",
	  .edits = { { "detail.requestParameters.launchPermission",
		       "{\"add\": {\"items\": [{\"userId\": \"" DEST "\"}, {\"organizationalUnitArn\": \""
		       OU_LISTED "\"}, {\"organizationArn\": \"" ORG_UNLISTED "\"}]}}" } },
	  .note = "unknown",
	  .n = 4, .facts = { SEEN(T_MODIFY, OWNER), SHARE(T_MODIFY, OWNER, DEST, true),
			     SHARE(T_MODIFY, OWNER, OU_LISTED, true), SHARE(T_MODIFY, OWNER, ORG_UNLISTED, true) } },
	{ .name = "ModifyImageAttribute without recipientAccountId: caller = envelope account",
	  .file = F_MODIFY, .source = "eventbridge", .kind = "ami_launch_permission",
	  .edits = { { "detail.recipientAccountId", NULL }, { "account", "\"222233334444\"" } },
	  .n = 3, .facts = { SEEN(T_MODIFY, "222233334444"), SHARE(T_MODIFY, "222233334444", DEST, true),
			     SHARE(T_MODIFY, "222233334444", OTHER, true) } },
	{ .name = "ModifyImageAttribute with account ids as numbers (userId, recipientAccountId)",
	  .file = F_MODIFY, .source = "eventbridge", .kind = "ami_launch_permission",
	  .edits = { { "detail.recipientAccountId", "12345678901" },
		     { "detail.requestParameters.launchPermission",
		       "{\"add\": {\"items\": [{\"userId\": 444455556666}, {\"userId\": 1}]}}" } },
	  .n = 3, .facts = { SEEN(T_MODIFY, LEADING_ZERO), SHARE(T_MODIFY, LEADING_ZERO, DEST, true),
			     SHARE(T_MODIFY, LEADING_ZERO, "000000000001", true) } },
	{ .name = "ModifyImageAttribute: the envelope account as a number when recipientAccountId is absent",
	  .file = F_MODIFY, .source = "eventbridge", .kind = "ami_launch_permission",
	  .edits = { { "detail.recipientAccountId", NULL }, { "account", "12345678901" },
		     { "detail.requestParameters.launchPermission", "{\"add\": {\"items\": [{\"userId\": \"" DEST "\"}]}}" } },
	  .n = 2, .facts = { SEEN(T_MODIFY, LEADING_ZERO), SHARE(T_MODIFY, LEADING_ZERO, DEST, true) } },
	{ .name = "ModifyImageAttribute with errorCode: no facts, a note",
	  .file = F_MODIFY, .source = "eventbridge", .kind = "ami_launch_permission",
	  .edits = { { "detail.errorCode", "\"Client.UnauthorizedOperation\"" },
		     { "detail.errorMessage", "\"You are not authorized to perform this operation.\"" } },
	  .note = "Client.UnauthorizedOperation" },
	{ .name = "ModifyImageAttribute without imageId: invalid",
	  .file = F_MODIFY, .source = "eventbridge", .kind = "ami_launch_permission",
	  .edits = { { "detail.requestParameters.imageId", NULL } },
	  .rc = AMICD_ERR_INVALID, .err_path = "$.detail.requestParameters.imageId" },

	/* --- CloudTrail CreateTags / DeleteTags --------------------------------------------------- */
	{ .name = "CreateTags: a tag fact per tag, as seen from recipientAccountId",
	  .file = F_TAGS, .source = "eventbridge", .kind = "ami_tags",
	  .n = 3, .facts = { SEEN(T_TAGS, NULL), TAGF(T_TAGS, NULL, OWNER, "image-role", "worker"),
			     TAGF(T_TAGS, NULL, OWNER, "git-sha", AFTER) } },
	{ .name = "CreateTags in the destination account (the sharing integration copying tags)",
	  .file = F_TAGS, .source = "eventbridge", .kind = "ami_tags",
	  .edits = { { "detail.recipientAccountId", "\"" DEST "\"" }, { "account", "\"" DEST "\"" } },
	  .n = 3, .facts = { SEEN(T_TAGS, NULL), TAGF(T_TAGS, NULL, DEST, "image-role", "worker"),
			     TAGF(T_TAGS, NULL, DEST, "git-sha", AFTER) } },
	{ .name = "CreateTags with recipientAccountId a number: viewer as 12 digits",
	  .file = F_TAGS, .source = "eventbridge", .kind = "ami_tags",
	  .edits = { { "detail.recipientAccountId", "12345678901" },
		     { "detail.requestParameters.tagSet.items", "[{\"key\": \"git-sha\", \"value\": \"" AFTER "\"}]" } },
	  .n = 2, .facts = { SEEN(T_TAGS, NULL), TAGF(T_TAGS, NULL, LEADING_ZERO, "git-sha", AFTER) } },
	{ .name = "AMI state change with the envelope account a number: owner as 12 digits",
	  .file = F_STATE, .source = "eventbridge", .kind = "ami_state",
	  .edits = { { "account", "12345678901" } },
	  .n = 2, .facts = { SEEN(T_STATE, LEADING_ZERO), STATE(T_STATE, LEADING_ZERO, "available") } },
	{ .name = "CreateTags without recipientAccountId: viewer = envelope account",
	  .file = F_TAGS, .source = "eventbridge", .kind = "ami_tags",
	  .edits = { { "detail.recipientAccountId", NULL }, { "account", "\"" DEST "\"" } },
	  .n = 3, .facts = { SEEN(T_TAGS, NULL), TAGF(T_TAGS, NULL, DEST, "image-role", "worker"),
			     TAGF(T_TAGS, NULL, DEST, "git-sha", AFTER) } },
	{ .name = "CreateTags: time from detail.eventTime, not the envelope",
	  .file = F_TAGS, .source = "eventbridge", .kind = "ami_tags",
	  .edits = { { "time", "\"2025-03-04T09:00:00Z\"" }, { "detail.eventTime", "\"2025-03-04T08:44:59Z\"" } },
	  .n = 3, .facts = { SEEN(T_EARLIER, NULL), TAGF(T_EARLIER, NULL, OWNER, "image-role", "worker"),
			     TAGF(T_EARLIER, NULL, OWNER, "git-sha", AFTER) } },
	{ .name = "CreateTags: region from detail.awsRegion",
	  .file = F_TAGS, .source = "eventbridge", .kind = "ami_tags",
	  .edits = { { "detail.requestParameters.tagSet.items", "[{\"key\": \"git-sha\", \"value\": \"" AFTER "\"}]" },
		     { "detail.awsRegion", "\"us-east-1\"" } },
	  .n = 2, .facts = { { .kind = FACT_AMI_SEEN, .time_ms = T_TAGS, .region = "us-east-1", .image_id = IMG },
			     { .kind = FACT_AMI_TAG, .time_ms = T_TAGS, .region = "us-east-1", .image_id = IMG,
			       .account = OWNER, .key = "git-sha", .value = AFTER } } },
	{ .name = "CreateTags on an instance and an AMI: facts for the AMI only",
	  .file = F_TAGS, .source = "eventbridge", .kind = "ami_tags",
	  .edits = { { "detail.requestParameters.resourcesSet.items",
		       "[{\"resourceId\": \"i-0abc123def4567890\"}, {\"resourceId\": \"" IMG "\"}]" } },
	  .n = 3, .facts = { SEEN(T_TAGS, NULL), TAGF(T_TAGS, NULL, OWNER, "image-role", "worker"),
			     TAGF(T_TAGS, NULL, OWNER, "git-sha", AFTER) } },
	{ .name = "CreateTags with an empty value: value \"\" (not deleted)",
	  .file = F_TAGS, .source = "eventbridge", .kind = "ami_tags",
	  .edits = { { "detail.requestParameters.tagSet.items", "[{\"key\": \"image-role\", \"value\": \"\"}]" } },
	  .n = 2, .facts = { SEEN(T_TAGS, NULL), TAGF(T_TAGS, NULL, OWNER, "image-role", "") } },
	/* design §4: DeleteTags removes a key only when no value is given or the value matches */
	{ .name = "DeleteTags naming values: deletions that name them",
	  .file = F_TAGS, .source = "eventbridge", .kind = "ami_tags",
	  .edits = { { "detail.eventName", "\"DeleteTags\"" } },
	  .n = 3, .facts = { SEEN(T_TAGS, NULL), UNTAGF(T_TAGS, OWNER, "image-role", "worker"),
			     UNTAGF(T_TAGS, OWNER, "git-sha", AFTER) } },
	{ .name = "DeleteTags naming keys only: deletions of any value",
	  .file = F_TAGS, .source = "eventbridge", .kind = "ami_tags",
	  .edits = { { "detail.eventName", "\"DeleteTags\"" },
		     { "detail.requestParameters.tagSet.items", "[{\"key\": \"git-sha\"}]" } },
	  .n = 2, .facts = { SEEN(T_TAGS, NULL), UNTAGF(T_TAGS, OWNER, "git-sha", NULL) } },
	{ .name = "DeleteTags naming an empty value: only an empty tag goes",
	  .file = F_TAGS, .source = "eventbridge", .kind = "ami_tags",
	  .edits = { { "detail.eventName", "\"DeleteTags\"" },
		     { "detail.requestParameters.tagSet.items", "[{\"key\": \"image-role\", \"value\": \"\"}]" } },
	  .n = 2, .facts = { SEEN(T_TAGS, NULL), UNTAGF(T_TAGS, OWNER, "image-role", "") } },
	{ .name = "DeleteTags without a tag list: every tag the account set (key NULL)",
	  .file = F_TAGS, .source = "eventbridge", .kind = "ami_tags",
	  .edits = { { "detail.eventName", "\"DeleteTags\"" }, { "detail.requestParameters.tagSet", NULL } },
	  .n = 2, .facts = { SEEN(T_TAGS, NULL), UNTAGF(T_TAGS, OWNER, NULL, NULL) } },
	{ .name = "DeleteTags with an empty tag list: every tag the account set",
	  .file = F_TAGS, .source = "eventbridge", .kind = "ami_tags",
	  .edits = { { "detail.eventName", "\"DeleteTags\"" }, { "detail.requestParameters.tagSet", "{}" } },
	  .n = 2, .facts = { SEEN(T_TAGS, NULL), UNTAGF(T_TAGS, OWNER, NULL, NULL) } },
	{ .name = "CreateTags without a tag list: the AMI seen, no tag",
	  .file = F_TAGS, .source = "eventbridge", .kind = "ami_tags",
	  .edits = { { "detail.requestParameters.tagSet", NULL } },
	  .n = 1, .facts = { SEEN(T_TAGS, NULL) } },
	{ .name = "CreateTags with errorCode: no facts, a note",
	  .file = F_TAGS, .source = "eventbridge", .kind = "ami_tags",
	  .edits = { { "detail.errorCode", "\"Client.InvalidAMIID.NotFound\"" } },
	  .note = "error" },
	{ .name = "CreateTags on instances only: no facts, a note",
	  .file = F_TAGS, .source = "eventbridge", .kind = "ami_tags",
	  .edits = { { "detail.requestParameters.resourcesSet.items", "[{\"resourceId\": \"i-0abc123def4567890\"}]" } },
	  .note = "no AMI" },
	{ .name = "another CloudTrail call (RunInstances): no facts, a note",
	  .file = F_TAGS, .source = "eventbridge", .kind = "other",
	  .edits = { { "detail.eventName", "\"RunInstances\"" } },
	  .note = "RunInstances" },

	/* --- AMI Shared (from the sharing integration) ------------------------------------------------ */
	{ .name = "AMI Shared: state, share with DestinationAccount, tags as seen from it",
	  .file = F_SHARED, .source = "eventbridge", .kind = "ami_shared",
	  .n = 5, .facts = { SEEN(T_SHARED, OWNER), STATE(T_SHARED, OWNER, "available"),
			     SHARE(T_SHARED, OWNER, DEST, true), TAGF(T_SHARED, OWNER, DEST, "git-sha", AFTER),
			     TAGF(T_SHARED, OWNER, DEST, "image-role", "worker") } },
	{ .name = "AMI Shared without Tags and State: seen + share",
	  .file = F_SHARED, .source = "eventbridge", .kind = "ami_shared",
	  .edits = { { "detail.Tags", NULL }, { "detail.State", NULL } },
	  .n = 2, .facts = { SEEN(T_SHARED, OWNER), SHARE(T_SHARED, OWNER, DEST, true) } },
	{ .name = "AMI Shared with account ids as numbers: the 12-digit ids, leading zeros kept",
	  .file = F_SHARED, .source = "eventbridge", .kind = "ami_shared",
	  .edits = { { "detail.OwnerAccount", "12345678901" }, { "detail.DestinationAccount", "444455556666" },
		     { "account", "12345678901" }, { "detail.Tags", "{\"git-sha\": \"" AFTER "\"}" } },
	  .n = 4, .facts = { SEEN(T_SHARED, LEADING_ZERO), STATE(T_SHARED, LEADING_ZERO, "available"),
			     SHARE(T_SHARED, LEADING_ZERO, DEST, true),
			     TAGF(T_SHARED, LEADING_ZERO, DEST, "git-sha", AFTER) } },
	{ .name = "AMI Shared with a negative DestinationAccount: invalid",
	  .file = F_SHARED, .source = "eventbridge", .kind = "ami_shared",
	  .edits = { { "detail.DestinationAccount", "-444455556666" } },
	  .rc = AMICD_ERR_INVALID, .err_path = "$.detail.DestinationAccount" },
	{ .name = "AMI Shared without DestinationAccount: invalid",
	  .file = F_SHARED, .source = "eventbridge", .kind = "ami_shared",
	  .edits = { { "detail.DestinationAccount", NULL } },
	  .rc = AMICD_ERR_INVALID, .err_path = "$.detail.DestinationAccount" },
	{ .name = "AMI Shared with Tags not an object: invalid",
	  .file = F_SHARED, .source = "eventbridge", .kind = "ami_shared",
	  .edits = { { "detail.Tags", "[\"git-sha\"]" } },
	  .rc = AMICD_ERR_INVALID, .err_path = "$.detail.Tags" },

	/* --- EventBridge, other ------------------------------------------------------------------------ */
	{ .name = "another detail-type: no facts, a note",
	  .file = F_STATE, .source = "eventbridge", .kind = "other",
	  .edits = { { "detail-type", "\"EC2 Instance State-change Notification\"" } },
	  .note = "EC2 Instance State-change Notification" },
	{ .name = "EventBridge envelope without detail: invalid",
	  .file = F_STATE, .source = "eventbridge", .kind = "ami_state",
	  .edits = { { "detail", NULL } },
	  .rc = AMICD_ERR_INVALID, .err_path = "$.detail" },
	{ .name = "EventBridge envelope without id: invalid",
	  .file = F_SHARED, .source = "eventbridge", .kind = "ami_shared",
	  .edits = { { "id", NULL } },
	  .rc = AMICD_ERR_INVALID, .err_path = "$.id" },
	{ .name = "EventBridge payload not an object: invalid",
	  .raw = "\"EC2 AMI State Change\"", .source = "eventbridge", .kind = "ami_state",
	  .rc = AMICD_ERR_INVALID },
	{ .name = "unknown source: invalid",
	  .file = F_PUSH, .source = "github", .kind = "push",
	  .rc = AMICD_ERR_INVALID },
};

#define N_CASES (sizeof cases / sizeof cases[0])

/* ---- fixture: a temp dir with the config and its secrets -------------------------- */

struct fx {
	char dir[PATH_MAX];
	struct config *cfg;
};

static struct fx *group_fx;

static int group_teardown(void **state)
{
	struct fx *fx = group_fx;
	int rc = 0;

	(void)state;
	if (fx == NULL)
		return 0;
	config_free(fx->cfg);
	if (support_rmtree(fx->dir) != 0)
		rc = -1;
	free(fx);
	group_fx = NULL;
	return rc;
}

static int group_setup(void **state)
{
	(void)state;
	group_fx = calloc(1, sizeof *group_fx);
	if (group_fx == NULL)
		return -1;
	if (support_tmpdir(group_fx->dir, sizeof group_fx->dir, NULL, "amicd-test-facts") != 0 ||
	    (group_fx->cfg = support_config_load(group_fx->dir, &(struct amicd_opts){
		    .accounts = "  - { name: " SUPPORT_ACCOUNT ", uid: \"" SUPPORT_ACCOUNT_UID "\","
				" org_arns: [\"" OU_LISTED "\"] }\n" })) == NULL) {
		group_teardown(NULL);
		return -1;
	}
	return 0;
}

/* ---- building a payload ------------------------------------------------------------ */

/* Apply one edit; false when the path does not lead anywhere (a test bug). */
static bool apply_edit(json_t *root, const struct edit *e)
{
	char buf[256];
	char *parts[16];
	size_t n = 0;
	char *save = NULL;
	json_t *parent = root;
	json_t *value = NULL;
	const char *last;
	char *end;

	snprintf(buf, sizeof buf, "%s", e->path);
	for (char *k = strtok_r(buf, ".", &save); k != NULL && n < 16; k = strtok_r(NULL, ".", &save))
		parts[n++] = k;
	if (n == 0)
		return false;
	for (size_t i = 0; i + 1 < n; i++) {
		if (json_is_array(parent)) {
			unsigned long idx = strtoul(parts[i], &end, 10);

			parent = *end == '\0' ? json_array_get(parent, idx) : NULL;
		} else {
			parent = json_object_get(parent, parts[i]);
		}
		if (parent == NULL)
			return false;
	}
	last = parts[n - 1];
	if (e->json != NULL) {
		json_error_t jerr;

		value = json_loads(e->json, JSON_DECODE_ANY, &jerr);
		if (value == NULL) {
			print_error("edit %s: bad JSON %s: %s\n", e->path, e->json, jerr.text);
			return false;
		}
	}
	if (json_is_object(parent)) {
		if (value == NULL)
			return json_object_del(parent, last) == 0;
		return json_object_set_new(parent, last, value) == 0;
	}
	if (json_is_array(parent)) {
		unsigned long idx = strtoul(last, &end, 10);

		if (*end != '\0') {
			json_decref(value);
			return false;
		}
		if (value == NULL)
			return json_array_remove(parent, idx) == 0;
		return json_array_set_new(parent, idx, value) == 0;
	}
	json_decref(value);
	return false;
}

/* The payload of c (a new reference); fails the test when it cannot be built. */
static json_t *payload_of(const struct fcase *c)
{
	json_error_t jerr;
	json_t *j;

	if (c->file != NULL) {
		j = support_fixture_json(c->file);
		if (j == NULL)
			fail_msg("case \"%s\": cannot load %s", c->name, c->file);
	} else {
		j = json_loads(c->raw, JSON_DECODE_ANY, &jerr);
		if (j == NULL)
			fail_msg("case \"%s\": bad raw payload: %s", c->name, jerr.text);
	}
	for (size_t i = 0; i < MAX_EDITS && c->edits[i].path != NULL; i++) {
		if (!apply_edit(j, &c->edits[i])) {
			json_decref(j);
			fail_msg("case \"%s\": test bug: cannot apply edit %s", c->name, c->edits[i].path);
		}
	}
	return j;
}

/* ---- comparing ------------------------------------------------------------------------ */

static const char *kind_name(enum fact_kind k)
{
	switch (k) {
	case FACT_PUSH: return "push";
	case FACT_AMI_SEEN: return "ami_seen";
	case FACT_AMI_STATE: return "ami_state";
	case FACT_AMI_SHARE: return "ami_share";
	case FACT_AMI_TAG: return "ami_tag";
	case FACT_BRANCH_SEEN: return "branch_seen";
	case FACT_IMAGES_SEEN: return "images_seen";
	}
	return "?";
}

static bool str_eq(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static const char *s_(const char *s)
{
	return s != NULL ? s : "NULL";
}

static void print_fact(const char *label, const struct fact *f)
{
	print_error("  %s %s t=%lld region=%s image=%s owner=%s state=%s account=%s shared=%d key=%s value=%s"
		    " repo=%s branch=%s before=%s after=%s deleted=%d\n",
		    label, kind_name(f->kind), (long long)f->time_ms, s_(f->region), s_(f->image_id), s_(f->owner),
		    s_(f->state), s_(f->account), f->shared, s_(f->key), s_(f->value), s_(f->repo), s_(f->branch),
		    s_(f->before), s_(f->after), f->deleted);
}

static bool fact_eq(const struct fact *want, const struct fact *got)
{
	return want->kind == got->kind && (want->kind == FACT_PUSH || want->time_ms == got->time_ms) &&
	       str_eq(want->region, got->region) && str_eq(want->image_id, got->image_id) &&
	       str_eq(want->owner, got->owner) && str_eq(want->state, got->state) &&
	       str_eq(want->account, got->account) && want->shared == got->shared && str_eq(want->key, got->key) &&
	       str_eq(want->value, got->value) && str_eq(want->repo, got->repo) &&
	       str_eq(want->branch, got->branch) && str_eq(want->before, got->before) &&
	       str_eq(want->after, got->after) && want->deleted == got->deleted;
}

static void print_all(const struct fcase *c, enum amicd_rc rc, const struct fact_list *l,
		      const struct amicd_error *err)
{
	print_error("case \"%s\":\n  got rc %d, note \"%s\", error \"%s\" at \"%s\", %zu facts:\n", c->name, (int)rc,
		    l->note, err->message, err->path, l->n);
	for (size_t i = 0; i < l->n; i++)
		print_fact("got ", &l->items[i]);
	print_error("  want rc %d, note %s%s%s, %zu facts:\n", (int)c->rc, c->note != NULL ? "containing \"" : "empty",
		    c->note != NULL ? c->note : "", c->note != NULL ? "\"" : "", c->n);
	for (size_t i = 0; i < c->n; i++)
		print_fact("want", &c->facts[i]);
}

/* ---- the runner: one cmocka test per row ------------------------------------------------- */

static void run_case(void **state)
{
	const struct fcase *c = *state;
	json_t *payload = payload_of(c);
	struct fact_list list;
	struct amicd_error err;
	enum amicd_rc rc;
	bool used[MAX_FACTS] = { false };
	bool ok = true;

	memset(&list, 0, sizeof list);
	amicd_error_clear(&err);
	rc = facts_from_event(group_fx->cfg, c->source, c->kind, payload, &list, &err);

	if (rc != c->rc)
		ok = false;
	if (ok && rc != AMICD_OK && c->err_path != NULL && strcmp(err.path, c->err_path) != 0)
		ok = false;
	if (ok && rc != AMICD_OK && err.message[0] == '\0')
		ok = false;
	if (ok && rc == AMICD_OK) {
		if (c->note == NULL ? list.note[0] != '\0' : strstr(list.note, c->note) == NULL)
			ok = false;
		if (list.n != c->n)
			ok = false;
		/* match as a set: every expected fact to a distinct actual one */
		for (size_t i = 0; ok && i < c->n; i++) {
			bool found = false;

			for (size_t j = 0; j < list.n && !found; j++) {
				if (!used[j] && fact_eq(&c->facts[i], &list.items[j])) {
					used[j] = true;
					found = true;
				}
			}
			ok = found;
		}
	}
	if (!ok)
		print_all(c, rc, &list, &err);
	fact_list_free(&list);
	json_decref(payload);
	if (!ok)
		fail_msg("case \"%s\": unexpected facts", c->name);
}

/* fact_list_free empties the list and may be called again; facts_from_event fills a freed list again. */
static void test_list_reuse(void **state)
{
	json_t *push, *shared;
	struct fact_list list;
	struct amicd_error err;

	(void)state;
	push = support_fixture_json(F_PUSH);
	shared = support_fixture_json(F_SHARED);
	assert_non_null(push);
	assert_non_null(shared);

	memset(&list, 0, sizeof list);
	fact_list_free(&list); /* an empty list */
	assert_int_equal(facts_from_event(group_fx->cfg, "gitlab", "push", push, &list, &err), AMICD_OK);
	assert_int_equal(list.n, 1);
	fact_list_free(&list);
	assert_null(list.items);
	assert_int_equal(list.n, 0);
	assert_int_equal(list.n_owned, 0);
	assert_string_equal(list.note, "");
	fact_list_free(&list);
	assert_int_equal(facts_from_event(group_fx->cfg, "eventbridge", "ami_shared", shared, &list, &err), AMICD_OK);
	assert_int_equal(list.n, 5);
	fact_list_free(&list);

	/* err may be NULL */
	assert_int_equal(facts_from_event(group_fx->cfg, "github", "push", push, &list, NULL), AMICD_ERR_INVALID);
	fact_list_free(&list);

	json_decref(push);
	json_decref(shared);
}

/*
 * Many facts in one event: the list grows past its first allocation and every
 * fact is there (CreateTags with 20 tags on 2 AMIs: 2 seen + 40 tag facts).
 */
static void test_many_tags(void **state)
{
	json_t *body;
	json_t *params, *items, *resources;
	struct fact_list list;
	struct amicd_error err;
	size_t seen = 0, tags = 0;

	(void)state;
	body = support_fixture_json(F_TAGS);
	assert_non_null(body);
	params = json_object_get(json_object_get(body, "detail"), "requestParameters");
	resources = json_object_get(json_object_get(params, "resourcesSet"), "items");
	json_array_append_new(resources, json_pack("{s:s}", "resourceId", "ami-0123456789abcdef0"));
	items = json_array();
	for (int i = 0; i < 20; i++) {
		char key[16];

		snprintf(key, sizeof key, "k%02d", i);
		json_array_append_new(items, json_pack("{s:s, s:s}", "key", key, "value", "v"));
	}
	json_object_set_new(json_object_get(params, "tagSet"), "items", items);

	memset(&list, 0, sizeof list);
	assert_int_equal(facts_from_event(group_fx->cfg, "eventbridge", "ami_tags", body, &list, &err), AMICD_OK);
	for (size_t i = 0; i < list.n; i++) {
		if (list.items[i].kind == FACT_AMI_SEEN)
			seen++;
		else if (list.items[i].kind == FACT_AMI_TAG && strcmp(list.items[i].account, OWNER) == 0 &&
			 list.items[i].key[0] == 'k')
			tags++;
	}
	fact_list_free(&list);
	json_decref(body);
	assert_int_equal(seen, 2);
	assert_int_equal(tags, 40);
}

/* ---- observations (design §9): what the reconciler stored ------------------------------- */

#define OBS_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define OBS_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static size_t count_kind(const struct fact_list *l, enum fact_kind k)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		n += l->items[i].kind == k;
	return n;
}

static const struct fact *first_kind(const struct fact_list *l, enum fact_kind k)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i].kind == k)
			return &l->items[i];
	return NULL;
}

static void test_branch_head_observation(void **state)
{
	const char *repo = group_fx->cfg->asgs[0].git->url;
	json_t *seen = json_pack("{s:s,s:s,s:I,s:s,s:i,s:{}}", "repo", repo, "branch", "main", "asked_ms",
				 (json_int_t)1764600000000, "commit", OBS_A, "status", 200, "response");
	json_t *gone = json_pack("{s:s,s:s,s:I,s:n,s:i,s:n}", "repo", repo, "branch", "main", "asked_ms",
				 (json_int_t)1764600000000, "commit", "status", 404, "response");
	json_t *other = json_pack("{s:s,s:s,s:I,s:s}", "repo", repo, "branch", "develop", "asked_ms",
				  (json_int_t)1, "commit", OBS_A);
	json_t *bad = json_pack("{s:s,s:s,s:I,s:s}", "repo", repo, "branch", "main", "asked_ms", (json_int_t)1,
				"commit", "not-a-commit");
	struct fact_list list = { 0 };
	struct amicd_error err;
	const struct fact *f;

	(void)state;
	assert_int_equal(facts_from_event(group_fx->cfg, "gitlab-api", "branch_head", seen, &list, &err), AMICD_OK);
	assert_int_equal(list.n, 1);
	f = &list.items[0];
	assert_int_equal(f->kind, FACT_BRANCH_SEEN);
	assert_string_equal(f->after, OBS_A);
	assert_string_equal(f->branch, "main");
	assert_int_equal(f->time_ms, 1764600000000);
	fact_list_free(&list);

	assert_int_equal(facts_from_event(group_fx->cfg, "gitlab-api", "branch_head", gone, &list, &err), AMICD_OK);
	assert_int_equal(list.n, 1);
	assert_null(list.items[0].after); /* the branch is gone */
	fact_list_free(&list);

	/* a branch no ASG follows (any more): no facts, a note */
	assert_int_equal(facts_from_event(group_fx->cfg, "gitlab-api", "branch_head", other, &list, &err), AMICD_OK);
	assert_int_equal(list.n, 0);
	assert_non_null(strstr(list.note, "no ASG follows"));
	fact_list_free(&list);

	assert_int_equal(facts_from_event(group_fx->cfg, "gitlab-api", "branch_head", bad, &list, &err),
			 AMICD_ERR_INVALID);
	assert_string_equal(err.path, "$.commit");
	fact_list_free(&list);
	json_decref(seen);
	json_decref(gone);
	json_decref(other);
	json_decref(bad);
}

static void test_images_observation(void **state)
{
	/* two images listed for commit A, in an order that is not sorted; none for B */
	json_t *obs = json_loads(
		"{\"account\":\"" DEST "\",\"region\":\"eu-west-1\",\"asked_ms\":1764600000000,"
		"\"tag_name\":\"git-sha\",\"commits\":[\"" OBS_A "\",\"" OBS_B "\"],\"images\":["
		"{\"imageId\":\"ami-0b\",\"imageState\":\"available\",\"creationDate\":\"x\",\"creation_ms\":5,"
		"\"imageOwnerId\":\"" OWNER "\",\"isPublic\":false,\"tags\":{\"git-sha\":\"" OBS_A "\",\"role\":\"w\"}},"
		"{\"imageId\":\"ami-0a\",\"imageState\":\"pending\",\"creationDate\":\"x\",\"creation_ms\":7,"
		"\"imageOwnerId\":\"" DEST "\",\"isPublic\":false,\"tags\":{\"git-sha\":\"" OBS_A "\"}}]}", 0, NULL);
	json_t *pinned = json_loads(
		"{\"account\":\"" DEST "\",\"region\":\"eu-west-1\",\"asked_ms\":9,\"image_id\":\"ami-0c\","
		"\"known_owner\":\"" DEST "\",\"images\":[]}", 0, NULL);
	json_t *no_question = json_loads("{\"account\":\"" DEST "\",\"region\":\"eu-west-1\",\"asked_ms\":9,"
					 "\"images\":[]}", 0, NULL);
	struct fact_list list = { 0 };
	struct amicd_error err;
	const struct fact *f;
	size_t listed = 0;

	(void)state;
	assert_non_null(obs);
	assert_int_equal(facts_from_event(group_fx->cfg, "ec2-api", "images", obs, &list, &err), AMICD_OK);
	assert_int_equal(count_kind(&list, FACT_AMI_SEEN), 2);
	assert_int_equal(count_kind(&list, FACT_AMI_STATE), 2);
	assert_int_equal(count_kind(&list, FACT_AMI_SHARE), 1); /* ami-0b is shared; ami-0a is the account's own */
	assert_int_equal(count_kind(&list, FACT_AMI_TAG), 3);   /* tags as the account sees them */
	for (size_t i = 0; i < list.n; i++) {
		f = &list.items[i];
		if (f->kind == FACT_AMI_TAG || f->kind == FACT_AMI_SHARE)
			assert_string_equal(f->account, DEST);
		if (f->kind == FACT_AMI_STATE)
			assert_int_equal(f->time_ms, 1764600000000);
		if (f->kind != FACT_IMAGES_SEEN)
			continue;
		listed++;
		assert_string_equal(f->account, DEST);
		assert_string_equal(f->key, "git-sha");
		/* sorted ids, so equal answers compare equal */
		if (strcmp(f->value, OBS_A) == 0)
			assert_string_equal(f->listed, ",ami-0a,ami-0b,");
		else
			assert_string_equal(f->listed, ",");
	}
	assert_int_equal(listed, 2);
	fact_list_free(&list);

	/* the pinned AMI not listed, owned by the account: gone for it */
	assert_int_equal(facts_from_event(group_fx->cfg, "ec2-api", "images", pinned, &list, &err), AMICD_OK);
	assert_int_equal(count_kind(&list, FACT_AMI_SHARE), 2);
	f = first_kind(&list, FACT_AMI_STATE);
	assert_non_null(f);
	assert_string_equal(f->state, "deregistered");
	fact_list_free(&list);

	assert_int_equal(facts_from_event(group_fx->cfg, "ec2-api", "images", no_question, &list, &err),
			 AMICD_ERR_INVALID);
	fact_list_free(&list);
	assert_int_equal(facts_from_event(group_fx->cfg, "ec2-api", "state", obs, &list, &err), AMICD_ERR_INVALID);
	fact_list_free(&list);
	json_decref(obs);
	json_decref(pinned);
	json_decref(no_question);
}

int main(void)
{
	struct CMUnitTest tests[N_CASES + 4];
	size_t n = 0;

	for (size_t i = 0; i < N_CASES; i++)
		tests[n++] = (struct CMUnitTest){ .name = cases[i].name, .test_func = run_case,
						  .initial_state = (void *)&cases[i] };
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_list_reuse);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_many_tags);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_branch_head_observation);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_images_observation);
	return cmocka_run_group_tests_name("facts", tests, group_setup, group_teardown);
}
