/*
 * test_eventbridge.c — unit tests of eventbridge.h: the kind of each AMI event
 * of design §4, the envelope, what is stored but ignored (and why), and the
 * JSON path of every missing field.
 *
 * Fixtures: tests/data/eventbridge-*.json, found through AMICD_TEST_DATA (set
 * by `make test`), else "tests/data". Variants are built from a fixture by
 * deleting or changing fields with jansson, so each case differs from a real
 * delivery by exactly what it tests.
 */
#include "eventbridge.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

enum fixture {
	FX_STATE,        /* EC2 AMI State Change */
	FX_MODIFY,       /* CloudTrail ModifyImageAttribute */
	FX_TAGS,         /* CloudTrail CreateTags */
	FX_SHARED,       /* AMI Shared */
	FX_COUNT
};

static const char *const fixture_files[FX_COUNT] = {
	[FX_STATE] = "eventbridge-ami-state-change.json",
	[FX_MODIFY] = "eventbridge-cloudtrail-modifyimageattribute.json",
	[FX_TAGS] = "eventbridge-cloudtrail-createtags.json",
	[FX_SHARED] = "eventbridge-ami-shared.json",
};

struct fixtures {
	json_t *fx[FX_COUNT];
};

static int group_setup(void **state)
{
	struct fixtures *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	*state = f;
	for (int i = 0; i < FX_COUNT; i++) {
		f->fx[i] = support_fixture_json(fixture_files[i]);
		if (f->fx[i] == NULL)
			return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	struct fixtures *f = *state;

	if (f == NULL)
		return 0;
	for (int i = 0; i < FX_COUNT; i++)
		json_decref(f->fx[i]);
	free(f);
	return 0;
}

/*
 * The object at a dotted path below root ("detail.requestParameters"), or
 * root for "". Keys never contain '.' in these fixtures.
 */
static json_t *at(json_t *root, const char *dotted)
{
	char buf[256];
	char *save = NULL;
	json_t *j = root;

	snprintf(buf, sizeof buf, "%s", dotted);
	for (char *k = strtok_r(buf, ".", &save); k != NULL; k = strtok_r(NULL, ".", &save))
		j = json_object_get(j, k);
	return j;
}

/* --- the four fixtures ------------------------------------------------------ */

struct fixture_case {
	enum fixture fx;
	enum eb_kind kind;
	const char *kind_name;
	const char *id;
	const char *detail_type;
	const char *source;
	const char *time;
};

static const struct fixture_case fixture_cases[] = {
	{ FX_STATE, EB_AMI_STATE, "ami_state", "5fc7ad4a-2835-488b-a96a-8b88c8e335b9", "EC2 AMI State Change",
	  "aws.ec2", "2025-03-04T08:41:17Z" },
	{ FX_MODIFY, EB_AMI_LAUNCH_PERMISSION, "ami_launch_permission", "d01ed2fa-d581-4928-8eea-b9beb1301efd",
	  "AWS API Call via CloudTrail", "aws.ec2", "2025-03-04T08:45:02Z" },
	{ FX_TAGS, EB_AMI_TAGS, "ami_tags", "572fb8cb-d903-4f9b-be2c-affee59d3b1a", "AWS API Call via CloudTrail",
	  "aws.ec2", "2025-03-04T08:43:55Z" },
	{ FX_SHARED, EB_AMI_SHARED, "ami_shared", "0b6c2f0e-9a61-4c4e-9d1f-6f0a3c2b7e11", "AMI Shared",
	  "image-builder.ami-share", "2025-03-04T08:46:10Z" },
};

static void test_fixtures_kind_and_envelope(void **state)
{
	struct fixtures *f = *state;

	for (size_t i = 0; i < sizeof fixture_cases / sizeof fixture_cases[0]; i++) {
		const struct fixture_case *c = &fixture_cases[i];
		const json_t *body = f->fx[c->fx];
		struct eb_event ev;
		struct amicd_error err;

		amicd_error_clear(&err);
		memset(&ev, 0x5a, sizeof ev);
		if (eventbridge_parse(body, &ev, &err) != AMICD_OK)
			print_error("%s: %s at %s\n", fixture_files[c->fx], err.message, err.path);
		assert_int_equal(eventbridge_parse(body, &ev, &err), AMICD_OK);
		assert_int_equal(ev.kind, c->kind);
		assert_string_equal(ev.kind_name, c->kind_name);
		if (ev.ignored)
			print_error("%s ignored: %s\n", fixture_files[c->fx], ev.note);
		assert_false(ev.ignored);
		assert_string_equal(ev.note, "");
		assert_string_equal(ev.id, c->id);
		assert_string_equal(ev.detail_type, c->detail_type);
		assert_string_equal(ev.source, c->source);
		assert_string_equal(ev.account, "111122223333");
		assert_string_equal(ev.region, "eu-west-1");
		assert_string_equal(ev.time, c->time);
		/* the strings point into the body (no copies) */
		assert_ptr_equal(ev.id, json_string_value(json_object_get(body, "id")));
		assert_ptr_equal(ev.region, json_string_value(json_object_get(body, "region")));
		assert_string_equal(err.path, "");
	}
}

/* DeleteTags is the same kind as CreateTags. */
static void test_delete_tags_is_ami_tags(void **state)
{
	struct fixtures *f = *state;
	json_t *body = json_deep_copy(f->fx[FX_TAGS]);
	struct eb_event ev;
	struct amicd_error err;

	json_object_set_new(at(body, "detail"), "eventName", json_string("DeleteTags"));
	assert_int_equal(eventbridge_parse(body, &ev, &err), AMICD_OK);
	assert_int_equal(ev.kind, EB_AMI_TAGS);
	assert_string_equal(ev.kind_name, "ami_tags");
	assert_false(ev.ignored);
	json_decref(body);
}

/* Tags on an instance and an AMI at once: the AMI counts. */
static void test_create_tags_mixed_resources(void **state)
{
	struct fixtures *f = *state;
	json_t *body = json_deep_copy(f->fx[FX_TAGS]);
	json_t *items = at(body, "detail.requestParameters.resourcesSet.items");
	struct eb_event ev;
	struct amicd_error err;

	json_array_insert_new(items, 0, json_pack("{s:s}", "resourceId", "i-0abc123def4567890"));
	assert_int_equal(eventbridge_parse(body, &ev, &err), AMICD_OK);
	assert_int_equal(ev.kind, EB_AMI_TAGS);
	assert_false(ev.ignored);
	json_decref(body);
}

/* "AMI Shared" may come without Tags. */
static void test_ami_shared_without_tags(void **state)
{
	struct fixtures *f = *state;
	json_t *body = json_deep_copy(f->fx[FX_SHARED]);
	struct eb_event ev;
	struct amicd_error err;

	json_object_del(at(body, "detail"), "Tags");
	assert_int_equal(eventbridge_parse(body, &ev, &err), AMICD_OK);
	assert_int_equal(ev.kind, EB_AMI_SHARED);
	assert_false(ev.ignored);
	json_decref(body);
}

/* --- stored but ignored ----------------------------------------------------- */

typedef void (*edit_fn)(json_t *body);

static void ct_error_code(json_t *b)
{
	json_t *d = at(b, "detail");

	json_object_set_new(d, "errorCode", json_string("Client.UnauthorizedOperation"));
	json_object_set_new(d, "errorMessage", json_string("You are not authorized to perform this operation."));
}

static void ct_error_code_no_params(json_t *b)
{
	/* a failed call often has "requestParameters": null */
	ct_error_code(b);
	json_object_set_new(at(b, "detail"), "requestParameters", json_null());
}

static void tags_instances_only(json_t *b)
{
	json_t *items = at(b, "detail.requestParameters.resourcesSet.items");

	json_array_clear(items);
	json_array_append_new(items, json_pack("{s:s}", "resourceId", "i-0abc123def4567890"));
	json_array_append_new(items, json_pack("{s:s}", "resourceId", "i-0fedcba9876543210"));
}

static void tags_snapshot_only(json_t *b)
{
	json_t *items = at(b, "detail.requestParameters.resourcesSet.items");

	json_array_clear(items);
	json_array_append_new(items, json_pack("{s:s}", "resourceId", "snap-0123456789abcdef0"));
}

static void tags_no_items(json_t *b)
{
	json_array_clear(at(b, "detail.requestParameters.resourcesSet.items"));
}

static void modify_description(json_t *b)
{
	json_t *params = at(b, "detail.requestParameters");

	json_object_del(params, "launchPermission");
	json_object_set_new(params, "attributeType", json_string("description"));
	json_object_set_new(params, "description", json_pack("{s:s}", "value", "golden image"));
}

static void ct_other_event(json_t *b)
{
	json_object_set_new(at(b, "detail"), "eventName", json_string("RunInstances"));
}

static void unknown_detail_type(json_t *b)
{
	json_object_set_new(b, "detail-type", json_string("EC2 Instance State-change Notification"));
	json_object_set_new(b, "detail", json_pack("{s:s,s:s}", "instance-id", "i-0abc123def4567890", "state",
						   "running"));
}

static void ami_state_other_casing(json_t *b)
{
	/* detail-type names are exact: another spelling is another event */
	json_object_set_new(b, "detail-type", json_string("ec2 ami state change"));
}

struct ignored_case {
	const char *name;
	enum fixture fx;
	edit_fn edit;
	enum eb_kind kind;
	const char *kind_name;
	const char *note_has;   /* a word the note must contain */
};

static const struct ignored_case ignored_cases[] = {
	{ "ModifyImageAttribute with errorCode", FX_MODIFY, ct_error_code, EB_AMI_LAUNCH_PERMISSION,
	  "ami_launch_permission", "Client.UnauthorizedOperation" },
	{ "CreateTags with errorCode", FX_TAGS, ct_error_code, EB_AMI_TAGS, "ami_tags",
	  "Client.UnauthorizedOperation" },
	{ "CreateTags with errorCode, no params", FX_TAGS, ct_error_code_no_params, EB_AMI_TAGS, "ami_tags",
	  "Client.UnauthorizedOperation" },
	{ "CreateTags on instances", FX_TAGS, tags_instances_only, EB_AMI_TAGS, "ami_tags", "AMI" },
	{ "CreateTags on a snapshot", FX_TAGS, tags_snapshot_only, EB_AMI_TAGS, "ami_tags", "AMI" },
	{ "CreateTags on nothing", FX_TAGS, tags_no_items, EB_AMI_TAGS, "ami_tags", "AMI" },
	{ "ModifyImageAttribute description", FX_MODIFY, modify_description, EB_AMI_LAUNCH_PERMISSION,
	  "ami_launch_permission", "launchPermission" },
	{ "CloudTrail RunInstances", FX_TAGS, ct_other_event, EB_OTHER, "other", "RunInstances" },
	{ "unknown detail-type", FX_STATE, unknown_detail_type, EB_OTHER, "other",
	  "EC2 Instance State-change Notification" },
	{ "detail-type in lower case", FX_STATE, ami_state_other_casing, EB_OTHER, "other",
	  "ec2 ami state change" },
};

static void test_ignored_table(void **state)
{
	struct fixtures *f = *state;

	for (size_t i = 0; i < sizeof ignored_cases / sizeof ignored_cases[0]; i++) {
		const struct ignored_case *c = &ignored_cases[i];
		json_t *body = json_deep_copy(f->fx[c->fx]);
		struct eb_event ev;
		struct amicd_error err;
		enum amicd_rc rc;

		assert_non_null(body);
		c->edit(body);
		amicd_error_clear(&err);
		rc = eventbridge_parse(body, &ev, &err);
		if (rc != AMICD_OK || !ev.ignored || ev.kind != c->kind || strstr(ev.note, c->note_has) == NULL)
			print_error("case \"%s\": rc %d (%s at %s) kind %d ignored %d note \"%s\"\n", c->name, rc,
				    err.message, err.path, rc == AMICD_OK ? (int)ev.kind : -1,
				    rc == AMICD_OK ? ev.ignored : -1, rc == AMICD_OK ? ev.note : "");
		assert_int_equal(rc, AMICD_OK);
		assert_true(ev.ignored);
		assert_int_equal(ev.kind, c->kind);
		assert_string_equal(ev.kind_name, c->kind_name);
		assert_non_null(strstr(ev.note, c->note_has));
		/* the envelope is still read: the event is stored under its id */
		assert_string_equal(ev.id, json_string_value(json_object_get(body, "id")));
		json_decref(body);
	}
}

/* A note longer than its buffer is cut, not overflowed. */
static void test_ignored_note_truncated(void **state)
{
	struct fixtures *f = *state;
	json_t *body = json_deep_copy(f->fx[FX_STATE]);
	char long_type[600];
	struct eb_event ev;
	struct amicd_error err;

	memset(long_type, 'T', sizeof long_type - 1);
	long_type[sizeof long_type - 1] = '\0';
	json_object_set_new(body, "detail-type", json_string(long_type));
	assert_int_equal(eventbridge_parse(body, &ev, &err), AMICD_OK);
	assert_true(ev.ignored);
	assert_int_equal(ev.kind, EB_OTHER);
	assert_true(strlen(ev.note) == sizeof ev.note - 1);
	json_decref(body);
}

/* --- missing or malformed fields -------------------------------------------- */

struct broken_case {
	const char *name;
	enum fixture fx;
	const char *parent;     /* dotted path of the object to edit, "" for the envelope */
	const char *key;        /* the key deleted or replaced */
	const char *replace;    /* JSON of the new value, or NULL to delete the key */
	const char *path;       /* the JSON path reported */
};

static const struct broken_case broken_cases[] = {
	/* envelope, on every kind */
	{ "no id", FX_STATE, "", "id", NULL, "$.id" },
	{ "id null", FX_SHARED, "", "id", "null", "$.id" },
	{ "id a number", FX_TAGS, "", "id", "17", "$.id" },
	{ "id empty", FX_MODIFY, "", "id", "\"\"", "$.id" },
	{ "no detail-type", FX_STATE, "", "detail-type", NULL, "$.detail-type" },
	{ "no detail-type (shared)", FX_SHARED, "", "detail-type", NULL, "$.detail-type" },
	{ "no source", FX_STATE, "", "source", NULL, "$.source" },
	{ "no account", FX_MODIFY, "", "account", NULL, "$.account" },
	{ "no time", FX_TAGS, "", "time", NULL, "$.time" },
	{ "no region", FX_STATE, "", "region", NULL, "$.region" },
	{ "region an array", FX_SHARED, "", "region", "[\"eu-west-1\"]", "$.region" },
	{ "no detail", FX_STATE, "", "detail", NULL, "$.detail" },
	{ "detail a string", FX_TAGS, "", "detail", "\"{}\"", "$.detail" },
	{ "detail null", FX_SHARED, "", "detail", "null", "$.detail" },
	/* EC2 AMI State Change */
	{ "state: no ImageId", FX_STATE, "detail", "ImageId", NULL, "$.detail.ImageId" },
	{ "state: no State", FX_STATE, "detail", "State", NULL, "$.detail.State" },
	{ "state: State a number", FX_STATE, "detail", "State", "1", "$.detail.State" },
	/* CloudTrail */
	{ "cloudtrail: no eventName", FX_TAGS, "detail", "eventName", NULL, "$.detail.eventName" },
	{ "cloudtrail: no eventName (modify)", FX_MODIFY, "detail", "eventName", NULL, "$.detail.eventName" },
	{ "tags: no requestParameters", FX_TAGS, "detail", "requestParameters", NULL,
	  "$.detail.requestParameters" },
	{ "tags: no resourcesSet", FX_TAGS, "detail.requestParameters", "resourcesSet", NULL,
	  "$.detail.requestParameters.resourcesSet.items" },
	{ "tags: no items", FX_TAGS, "detail.requestParameters.resourcesSet", "items", NULL,
	  "$.detail.requestParameters.resourcesSet.items" },
	{ "tags: items an object", FX_TAGS, "detail.requestParameters.resourcesSet", "items",
	  "{\"resourceId\":\"ami-08fdc871471476ef5\"}", "$.detail.requestParameters.resourcesSet.items" },
	{ "modify: no requestParameters", FX_MODIFY, "detail", "requestParameters", NULL,
	  "$.detail.requestParameters" },
	{ "modify: no imageId", FX_MODIFY, "detail.requestParameters", "imageId", NULL,
	  "$.detail.requestParameters.imageId" },
	/* AMI Shared */
	{ "shared: no ImageId", FX_SHARED, "detail", "ImageId", NULL, "$.detail.ImageId" },
	{ "shared: no Region", FX_SHARED, "detail", "Region", NULL, "$.detail.Region" },
	{ "shared: no OwnerAccount", FX_SHARED, "detail", "OwnerAccount", NULL, "$.detail.OwnerAccount" },
	{ "shared: no DestinationAccount", FX_SHARED, "detail", "DestinationAccount", NULL,
	  "$.detail.DestinationAccount" },
	/* account ids may be numbers (see test_account_id_table), but not any number */
	{ "shared: DestinationAccount negative", FX_SHARED, "detail", "DestinationAccount", "-444455556666",
	  "$.detail.DestinationAccount" },
	{ "shared: DestinationAccount 13 digits", FX_SHARED, "detail", "DestinationAccount", "1444455556666",
	  "$.detail.DestinationAccount" },
	{ "shared: DestinationAccount a fraction", FX_SHARED, "detail", "DestinationAccount", "444455556666.5",
	  "$.detail.DestinationAccount" },
	{ "shared: OwnerAccount true", FX_SHARED, "detail", "OwnerAccount", "true", "$.detail.OwnerAccount" },
	{ "shared: OwnerAccount null", FX_SHARED, "detail", "OwnerAccount", "null", "$.detail.OwnerAccount" },
	{ "account an object", FX_STATE, "", "account", "{\"id\":\"111122223333\"}", "$.account" },
	{ "account negative", FX_MODIFY, "", "account", "-1", "$.account" },
	{ "shared: Tags a list", FX_SHARED, "detail", "Tags", "[{\"Key\":\"git-sha\",\"Value\":\"x\"}]",
	  "$.detail.Tags" },
};

static void test_broken_table(void **state)
{
	struct fixtures *f = *state;

	for (size_t i = 0; i < sizeof broken_cases / sizeof broken_cases[0]; i++) {
		const struct broken_case *c = &broken_cases[i];
		json_t *body = json_deep_copy(f->fx[c->fx]);
		json_t *parent = at(body, c->parent);
		struct eb_event ev;
		struct amicd_error err;
		enum amicd_rc rc;

		assert_non_null(body);
		assert_true(json_is_object(parent));
		assert_non_null(json_object_get(parent, c->key));
		if (c->replace == NULL) {
			assert_int_equal(json_object_del(parent, c->key), 0);
		} else {
			json_t *v = json_loads(c->replace, JSON_DECODE_ANY, NULL);

			assert_non_null(v);
			assert_int_equal(json_object_set_new(parent, c->key, v), 0);
		}
		amicd_error_clear(&err);
		rc = eventbridge_parse(body, &ev, &err);
		if (rc != AMICD_ERR_INVALID || strcmp(err.path, c->path) != 0)
			print_error("case \"%s\": rc %d path \"%s\" (%s); want %d \"%s\"\n", c->name, rc, err.path,
				    err.message, AMICD_ERR_INVALID, c->path);
		assert_int_equal(rc, AMICD_ERR_INVALID);
		assert_string_equal(err.path, c->path);
		assert_true(err.message[0] != '\0');
		json_decref(body);
	}
}

/*
 * Account ids as strings or numbers: a number is the 12-digit id with its
 * leading zeros (JSON drops them: the account "012345678901" sent as a number
 * is 12345678901).
 */
static void test_account_id_table(void **state)
{
	static const struct {
		const char *json;
		const char *want; /* NULL: not an account id */
	} cases[] = {
		{ "\"444455556666\"", "444455556666" },
		{ "444455556666", "444455556666" },
		{ "12345678901", "012345678901" },
		{ "\"012345678901\"", "012345678901" },
		{ "1", "000000000001" },
		{ "0", "000000000000" },
		{ "999999999999", "999999999999" },
		{ "1000000000000", NULL },
		{ "-1", NULL },
		{ "4.4445555666e11", NULL },
		{ "null", NULL },
		{ "true", NULL },
		{ "[]", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
		char buf[EB_ACCOUNT_ID_SIZE];
		const char *got;

		assert_non_null(v);
		memset(buf, 'x', sizeof buf);
		got = eventbridge_account_id(v, buf);
		if (cases[i].want == NULL) {
			if (got != NULL)
				print_error("case %s: got \"%s\", want NULL\n", cases[i].json, got);
			assert_null(got);
		} else {
			if (got == NULL || strcmp(got, cases[i].want) != 0)
				print_error("case %s: got %s, want %s\n", cases[i].json, got ? got : "NULL", cases[i].want);
			assert_non_null(got);
			assert_string_equal(got, cases[i].want);
		}
		json_decref(v);
	}
	assert_null(eventbridge_account_id(NULL, (char[EB_ACCOUNT_ID_SIZE]){ 0 }));
}

/* AMI Shared and the envelope with every account id a number: parsed, the envelope's as 12 digits. */
static void test_numeric_accounts_parse(void **state)
{
	struct fixtures *f = *state;
	json_t *body = json_deep_copy(f->fx[FX_SHARED]);
	json_t *detail = json_object_get(body, "detail");
	struct eb_event ev;
	struct amicd_error err;

	json_object_set_new(body, "account", json_integer(12345678901LL));
	json_object_set_new(detail, "OwnerAccount", json_integer(12345678901LL));
	json_object_set_new(detail, "DestinationAccount", json_integer(444455556666LL));
	assert_int_equal(eventbridge_parse(body, &ev, &err), AMICD_OK);
	assert_int_equal(ev.kind, EB_AMI_SHARED);
	assert_false(ev.ignored);
	assert_string_equal(ev.account, "012345678901");
	json_decref(body);
}

/* Several envelope fields missing: the first in order (id) is reported. */
static void test_first_missing_field_reported(void **state)
{
	struct fixtures *f = *state;
	json_t *body = json_deep_copy(f->fx[FX_STATE]);
	struct eb_event ev;
	struct amicd_error err;

	json_object_del(body, "region");
	json_object_del(body, "id");
	json_object_del(body, "detail");
	assert_int_equal(eventbridge_parse(body, &ev, &err), AMICD_ERR_INVALID);
	assert_string_equal(err.path, "$.id");
	json_decref(body);
}

static void test_body_not_object(void **state)
{
	static const char *const bodies[] = { "[]", "\"event\"", "42", "null" };
	struct eb_event ev;
	struct amicd_error err;

	(void)state;
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		json_t *body = json_loads(bodies[i], JSON_DECODE_ANY, NULL);

		assert_non_null(body);
		amicd_error_clear(&err);
		assert_int_equal(eventbridge_parse(body, &ev, &err), AMICD_ERR_INVALID);
		assert_string_equal(err.path, "$");
		json_decref(body);
	}
	assert_int_equal(eventbridge_parse(NULL, &ev, &err), AMICD_ERR_INVALID);
	assert_string_equal(err.path, "$");
	/* err may be NULL */
	assert_int_equal(eventbridge_parse(NULL, &ev, NULL), AMICD_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures_kind_and_envelope),
		cmocka_unit_test(test_delete_tags_is_ami_tags),
		cmocka_unit_test(test_create_tags_mixed_resources),
		cmocka_unit_test(test_ami_shared_without_tags),
		cmocka_unit_test(test_ignored_table),
		cmocka_unit_test(test_ignored_note_truncated),
		cmocka_unit_test(test_broken_table),
		cmocka_unit_test(test_account_id_table),
		cmocka_unit_test(test_numeric_accounts_parse),
		cmocka_unit_test(test_first_missing_field_reported),
		cmocka_unit_test(test_body_not_object),
	};

	return cmocka_run_group_tests_name("eventbridge", tests, group_setup, group_teardown);
}
