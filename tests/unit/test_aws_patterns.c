/*
 * test_aws_patterns.c — the EventBridge rules shipped in deploy/aws/ checked
 * against the events in tests/data/ and against amicd's own classifier.
 *
 * Every *.yaml under deploy/aws/ is parsed (libyaml, CloudFormation's short
 * tags such as !Ref are plain node tags to it) and every resource of Type
 * AWS::Events::Rule is collected with its EventPattern (a YAML map, or a JSON
 * string). The patterns must be literal (no intrinsic function inside) and use
 * only the syntax the small matcher below implements, which is the syntax the
 * templates use:
 *
 *   - a field's value is an array of matchers: exact strings, {"prefix": s},
 *     {"exists": true|false}; the field matches if any matcher matches; an
 *     event field that is an array matches if any of its elements does;
 *   - a field's value is an object: the event field must be an object (or an
 *     array of objects, any of which matches: EventBridge flattens arrays of
 *     objects) matching it;
 *   - every field of the pattern must match (a missing event field matches only
 *     {"exists": false}).
 *
 * Anything else ("$or", "anything-but", numbers, suffix, …) fails the test with
 * a message saying to extend the matcher first.
 *
 * The checks:
 *   - the matcher itself, on a table of small cases;
 *   - the rules found are exactly the ones this test knows (RULES), so a new
 *     rule cannot go untested and a renamed one is noticed;
 *   - each event amicd acts on (ACTED) is classified so by eventbridge_parse and
 *     is matched by every rule meant for the account its bus belongs to (the
 *     owner's, an ASG account's, the sharing integration's);
 *   - each event amicd ignores (IGNORED) is classified so by eventbridge_parse
 *     and is matched by no rule at all;
 *   - every rule's target has a role, a retry policy and a dead-letter queue;
 *     the API destination posts to /hooks/eventbridge and its role may invoke it.
 *
 * Fixtures are read from $AMICD_TEST_DATA (else tests/data); the repository root
 * is its grandparent (else the current directory), as in test_openshift.c.
 */
#include "eventbridge.h"
#include "support.h"

#include <dirent.h>
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
#include <yaml.h>
#include <cmocka.h>

/* ---- what the templates must hold --------------------------------------- */

#define TEMPLATE_MAIN "deploy/aws/amicd-eventbridge.yaml"
#define TEMPLATE_FORWARD "deploy/aws/amicd-forward.yaml"

/* Every rule of deploy/aws/, by file and logical id. */
static const struct {
	const char *file;
	const char *id;
} RULES[] = {
	{ TEMPLATE_MAIN, "AmiStateRule" },          /* owner account */
	{ TEMPLATE_MAIN, "LaunchPermissionRule" },  /* owner account */
	{ TEMPLATE_MAIN, "AmiTagsRule" },           /* every account */
	{ TEMPLATE_MAIN, "AmiSharedEventRule" },    /* the sharing integration's bus */
	{ TEMPLATE_FORWARD, "AmiTagsForwardRule" }, /* ASG accounts, forwarding */
};

#define MAX_MEANT 3

/* Events amicd acts on, and the rules meant for the bus they arrive on. */
static const struct {
	const char *fixture;
	const char *account; /* whose bus, for messages */
	enum eb_kind kind;
	const char *meant[MAX_MEANT]; /* "file#id" */
} ACTED[] = {
	{ "eventbridge-ami-state-change.json", "the AMI owner's", EB_AMI_STATE,
	  { TEMPLATE_MAIN "#AmiStateRule" } },
	{ "eventbridge-cloudtrail-modifyimageattribute.json", "the AMI owner's", EB_AMI_LAUNCH_PERMISSION,
	  { TEMPLATE_MAIN "#LaunchPermissionRule" } },
	{ "eventbridge-cloudtrail-modifyimageattribute-org.json", "the AMI owner's", EB_AMI_LAUNCH_PERMISSION,
	  { TEMPLATE_MAIN "#LaunchPermissionRule" } },
	{ "eventbridge-cloudtrail-createtags.json", "the AMI owner's", EB_AMI_TAGS,
	  { TEMPLATE_MAIN "#AmiTagsRule" } },
	{ "eventbridge-cloudtrail-createtags-asg-account.json", "an ASG account's", EB_AMI_TAGS,
	  { TEMPLATE_MAIN "#AmiTagsRule", TEMPLATE_FORWARD "#AmiTagsForwardRule" } },
	{ "eventbridge-cloudtrail-deletetags-asg-account.json", "an ASG account's", EB_AMI_TAGS,
	  { TEMPLATE_MAIN "#AmiTagsRule", TEMPLATE_FORWARD "#AmiTagsForwardRule" } },
	{ "eventbridge-cloudtrail-deletetags-all-asg-account.json", "an ASG account's", EB_AMI_TAGS,
	  { TEMPLATE_MAIN "#AmiTagsRule", TEMPLATE_FORWARD "#AmiTagsForwardRule" } },
	{ "eventbridge-ami-shared.json", "the sharing integration's", EB_AMI_SHARED,
	  { TEMPLATE_MAIN "#AmiSharedEventRule" } },
};

/* Events amicd stores and ignores: no rule may send them. */
static const char *const IGNORED[] = {
	"eventbridge-ignored-instance-state-change.json",          /* another EC2 detail-type */
	"eventbridge-ignored-cloudtrail-runinstances.json",        /* another CloudTrail eventName */
	"eventbridge-ignored-cloudtrail-deregisterimage.json",     /* an AMI call amicd does not read */
	"eventbridge-ignored-cloudtrail-modifysnapshotattribute.json", /* a non-AMI share */
	"eventbridge-ignored-cloudtrail-createtags-instance.json", /* tags on an instance and a volume */
	"eventbridge-ignored-cloudtrail-createtags-error.json",    /* a call that failed (errorCode) */
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the matcher ---------------------------------------------------------- */

/* Set when a pattern uses syntax the matcher does not know; the match is then false. */
static char unsupported[256];

__attribute__((format(printf, 1, 2)))
static void unsupported_set(const char *fmt, ...)
{
	va_list ap;

	if (unsupported[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(unsupported, sizeof unsupported, fmt, ap);
	va_end(ap);
}

static bool is_leaf(const json_t *v)
{
	return v != NULL && !json_is_object(v) && !json_is_array(v);
}

/* One matcher against one leaf value of the event. */
static bool match_one(const json_t *m, const json_t *v)
{
	if (json_is_string(m))
		return json_is_string(v) && strcmp(json_string_value(m), json_string_value(v)) == 0;
	if (json_is_object(m) && json_object_size(m) == 1) {
		const json_t *prefix = json_object_get(m, "prefix");

		if (json_is_string(prefix)) {
			const char *p = json_string_value(prefix);

			return json_is_string(v) && strncmp(json_string_value(v), p, strlen(p)) == 0;
		}
	}
	{
		char *s = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);

		unsupported_set("matcher %s", s != NULL ? s : "?");
		free(s);
	}
	return false;
}

/* A pattern field's array of matchers against the event's field (NULL: absent). */
static bool match_leaf(const json_t *matchers, const json_t *ev)
{
	size_t i;
	const json_t *m;

	json_array_foreach(matchers, i, m) {
		const json_t *exists = json_is_object(m) && json_object_size(m) == 1 ? json_object_get(m, "exists") : NULL;

		if (exists != NULL) {
			if (!json_is_boolean(exists)) {
				unsupported_set("%s", "exists takes true or false");
				return false;
			}
			/* exists works on leaves: a leaf, or an array of leaves */
			if (json_is_true(exists) ? (is_leaf(ev) || (json_is_array(ev) && json_array_size(ev) > 0 &&
								    is_leaf(json_array_get(ev, 0))))
						 : ev == NULL)
				return true;
			continue;
		}
		if (ev == NULL)
			continue;
		if (json_is_array(ev)) {
			size_t j;
			const json_t *e;

			json_array_foreach(ev, j, e) {
				if (is_leaf(e) && match_one(m, e))
					return true;
			}
		} else if (is_leaf(ev) && match_one(m, ev)) {
			return true;
		}
	}
	return false;
}

static bool match_object(const json_t *pat, const json_t *ev);

/* A nested pattern object against the event's field: an object, or an array of them. */
static bool match_nested(const json_t *pat, const json_t *ev)
{
	if (json_is_object(ev))
		return match_object(pat, ev);
	if (json_is_array(ev)) {
		size_t i;
		const json_t *e;

		json_array_foreach(ev, i, e) {
			if (json_is_object(e) && match_object(pat, e))
				return true;
		}
	}
	return false;
}

static bool match_object(const json_t *pat, const json_t *ev)
{
	const char *key;
	const json_t *val;
	bool ok = true;

	if (!json_is_object(pat) || json_object_size(pat) == 0) {
		unsupported_set("%s", "a pattern (and each nested part) must be a non-empty object");
		return false;
	}
	json_object_foreach((json_t *)pat, key, val) {
		const json_t *field = json_is_object(ev) ? json_object_get(ev, key) : NULL;

		if (key[0] == '$') {
			unsupported_set("operator %s", key);
			return false;
		}
		if (json_is_object(val)) {
			ok = ok && match_nested(val, field);
		} else if (json_is_array(val) && json_array_size(val) > 0) {
			ok = ok && match_leaf(val, field);
		} else {
			unsupported_set("field %s: a value must be a non-empty array or an object", key);
			return false;
		}
	}
	return ok;
}

/* Does pattern match event? Fails the test when the pattern uses unknown syntax. */
static bool pattern_matches(const json_t *pattern, const json_t *event, const char *what)
{
	bool m;

	unsupported[0] = '\0';
	m = match_object(pattern, event);
	if (unsupported[0] != '\0')
		fail_msg("%s: the pattern uses %s, which this test's matcher does not implement: "
			 "extend the matcher (tests/unit/test_aws_patterns.c) before using it", what, unsupported);
	return m;
}

/* ---- the matcher's own cases ---------------------------------------------------- */

static void test_matcher_table(void **state)
{
	static const struct {
		const char *pattern;
		const char *event;
		bool match;
	} CASES[] = {
		{ "{\"a\":[\"x\"]}", "{\"a\":\"x\"}", true },
		{ "{\"a\":[\"x\"]}", "{\"a\":\"X\"}", false },            /* case-sensitive */
		{ "{\"a\":[\"x\",\"y\"]}", "{\"a\":\"y\"}", true },       /* any of the matchers */
		{ "{\"a\":[\"x\"]}", "{\"b\":\"x\"}", false },            /* missing field */
		{ "{\"a\":[\"x\"],\"b\":[\"y\"]}", "{\"a\":\"x\",\"b\":\"z\"}", false }, /* every field */
		{ "{\"a\":[\"x\"]}", "{\"a\":[\"w\",\"x\"]}", true },     /* array in the event */
		{ "{\"a\":[\"1\"]}", "{\"a\":1}", false },                /* a string never matches a number */
		{ "{\"a\":[\"x\"]}", "{\"a\":{\"b\":\"x\"}}", false },    /* a leaf pattern never matches an object */
		{ "{\"a\":{\"b\":[\"x\"]}}", "{\"a\":{\"b\":\"x\"}}", true },
		{ "{\"a\":{\"b\":[\"x\"]}}", "{\"a\":\"x\"}", false },
		{ "{\"a\":{\"b\":[\"x\"]}}", "{}", false },
		{ "{\"a\":{\"b\":[\"x\"]}}", "{\"a\":[{\"b\":\"w\"},{\"b\":\"x\"}]}", true }, /* arrays of objects */
		{ "{\"a\":{\"b\":[\"x\"]}}", "{\"a\":[{\"b\":\"w\"},{\"c\":\"x\"}]}", false },
		{ "{\"a\":[{\"prefix\":\"ami-\"}]}", "{\"a\":\"ami-0123\"}", true },
		{ "{\"a\":[{\"prefix\":\"ami-\"}]}", "{\"a\":\"i-0123\"}", false },
		{ "{\"a\":[{\"prefix\":\"ami-\"}]}", "{\"a\":\"am\"}", false },
		{ "{\"a\":[{\"prefix\":\"ami-\"}]}", "{\"a\":[\"i-1\",\"ami-2\"]}", true },
		{ "{\"a\":[{\"exists\":false}]}", "{\"b\":\"x\"}", true },
		{ "{\"a\":[{\"exists\":false}]}", "{\"a\":\"x\"}", false },
		{ "{\"a\":[{\"exists\":true}]}", "{\"a\":\"x\"}", true },
		{ "{\"a\":[{\"exists\":true}]}", "{\"b\":\"x\"}", false },
		{ "{\"a\":[{\"exists\":true}]}", "{\"a\":{\"b\":\"x\"}}", false }, /* leaves only */
		{ "{\"d\":{\"e\":[{\"exists\":false}]}}", "{\"d\":{}}", true },
	};
	static const char *const UNSUPPORTED[] = {
		"{\"$or\":[{\"a\":[\"x\"]}]}",
		"{\"a\":[{\"anything-but\":\"x\"}]}",
		"{\"a\":[{\"suffix\":\"x\"}]}",
		"{\"a\":[1]}",
		"{\"a\":\"x\"}",
		"{\"a\":[]}",
	};
	json_t *any = json_loads("{\"a\":\"x\"}", 0, NULL);

	(void)state;
	for (size_t i = 0; i < N_OF(CASES); i++) {
		json_t *p = json_loads(CASES[i].pattern, 0, NULL);
		json_t *e = json_loads(CASES[i].event, 0, NULL);

		assert_non_null(p);
		assert_non_null(e);
		if (pattern_matches(p, e, CASES[i].pattern) != CASES[i].match)
			fail_msg("pattern %s, event %s: expected %s", CASES[i].pattern, CASES[i].event,
				 CASES[i].match ? "a match" : "no match");
		json_decref(p);
		json_decref(e);
	}
	for (size_t i = 0; i < N_OF(UNSUPPORTED); i++) {
		json_t *p = json_loads(UNSUPPORTED[i], 0, NULL);

		assert_non_null(p);
		unsupported[0] = '\0';
		(void)match_object(p, any);
		if (unsupported[0] == '\0')
			fail_msg("pattern %s: should be reported as unsupported", UNSUPPORTED[i]);
		json_decref(p);
	}
	json_decref(any);
}

/* ---- reading the templates ------------------------------------------------------- */

struct rule {
	char *file;      /* relative to the root */
	char *id;        /* logical id */
	unsigned line;
	json_t *pattern;
	yaml_document_t *doc;
	yaml_node_t *node; /* the resource */
};

struct tfile {
	char *rel;
	yaml_document_t doc;
	bool loaded;
};

struct world {
	char root[PATH_MAX];
	struct tfile *files;
	size_t n_files;
	struct rule *rules;
	size_t n_rules;
	char *error; /* a template that does not load, for the first test */
};

static const char *ystr(const yaml_node_t *n)
{
	return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *yget(yaml_document_t *d, const yaml_node_t *map, const char *key)
{
	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const char *k = ystr(yaml_document_get_node(d, p->key));

		if (k != NULL && strcmp(k, key) == 0)
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static unsigned yline(const yaml_node_t *n)
{
	return n != NULL ? (unsigned)n->start_mark.line + 1 : 0;
}

/* CloudFormation's intrinsic functions are local tags (!Ref, !Sub, …). */
static bool ylocal_tag(const yaml_node_t *n)
{
	return n->tag != NULL && n->tag[0] == '!';
}

/* A literal YAML node as JSON: plain true/false become booleans, everything else
 * scalar a string. NULL (with *why) for an intrinsic function or a Fn:: key. */
static json_t *yaml_to_json(yaml_document_t *d, yaml_node_t *n, char *why, size_t size)
{
	json_t *out;

	if (ylocal_tag(n)) {
		snprintf(why, size, "line %u: %s inside an EventPattern (it must be literal)", yline(n), n->tag);
		return NULL;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE: {
		const char *s = (const char *)n->data.scalar.value;

		if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(s, "true") == 0)
			return json_true();
		if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(s, "false") == 0)
			return json_false();
		return json_string(s);
	}
	case YAML_SEQUENCE_NODE:
		out = json_array();
		for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
			json_t *v = yaml_to_json(d, yaml_document_get_node(d, *i), why, size);

			if (v == NULL) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, v);
		}
		return out;
	case YAML_MAPPING_NODE:
		out = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			const char *k = ystr(yaml_document_get_node(d, p->key));
			json_t *v;

			if (k == NULL || strncmp(k, "Fn::", 4) == 0 || strcmp(k, "Ref") == 0) {
				snprintf(why, size, "line %u: %s inside an EventPattern (it must be literal)",
					 yline(n), k != NULL ? k : "a non-scalar key");
				json_decref(out);
				return NULL;
			}
			v = yaml_to_json(d, yaml_document_get_node(d, p->value), why, size);
			if (v == NULL) {
				json_decref(out);
				return NULL;
			}
			json_object_set_new(out, k, v);
		}
		return out;
	default:
		snprintf(why, size, "line %u: an empty node inside an EventPattern", yline(n));
		return NULL;
	}
}

__attribute__((format(printf, 2, 3)))
static void world_error(struct world *w, const char *fmt, ...)
{
	va_list ap;

	if (w->error != NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&w->error, fmt, ap) < 0)
		w->error = NULL;
	va_end(ap);
}

static void load_file(struct world *w, struct tfile *tf)
{
	char path[PATH_MAX * 2];
	yaml_parser_t parser;
	yaml_node_t *resources;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", w->root, tf->rel);
	f = fopen(path, "rb");
	if (f == NULL) {
		world_error(w, "%s: cannot open", tf->rel);
		return;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &tf->doc)) {
		world_error(w, "%s:%zu: YAML error: %s", tf->rel, parser.problem_mark.line + 1,
			    parser.problem != NULL ? parser.problem : "?");
		yaml_parser_delete(&parser);
		fclose(f);
		return;
	}
	tf->loaded = true;
	yaml_parser_delete(&parser);
	fclose(f);
	resources = yget(&tf->doc, yaml_document_get_root_node(&tf->doc), "Resources");
	if (resources == NULL || resources->type != YAML_MAPPING_NODE) {
		world_error(w, "%s: no Resources", tf->rel);
		return;
	}
	for (yaml_node_pair_t *p = resources->data.mapping.pairs.start; p < resources->data.mapping.pairs.top; p++) {
		yaml_node_t *res = yaml_document_get_node(&tf->doc, p->value);
		const char *id = ystr(yaml_document_get_node(&tf->doc, p->key));
		const char *type = ystr(yget(&tf->doc, res, "Type"));
		yaml_node_t *pat;
		struct rule *r;
		char why[256] = "";

		if (id == NULL || type == NULL || strcmp(type, "AWS::Events::Rule") != 0)
			continue;
		r = realloc(w->rules, (w->n_rules + 1) * sizeof *r);
		assert_non_null(r);
		w->rules = r;
		r = &w->rules[w->n_rules++];
		memset(r, 0, sizeof *r);
		r->file = strdup(tf->rel);
		r->id = strdup(id);
		r->line = yline(res);
		r->doc = &tf->doc;
		r->node = res;
		pat = yget(&tf->doc, yget(&tf->doc, res, "Properties"), "EventPattern");
		if (pat == NULL) {
			world_error(w, "%s:%u: rule %s has no EventPattern", tf->rel, r->line, id);
		} else if (pat->type == YAML_SCALAR_NODE && !ylocal_tag(pat)) {
			json_error_t jerr;

			r->pattern = json_loads(ystr(pat), 0, &jerr);
			if (r->pattern == NULL)
				world_error(w, "%s:%u: rule %s: EventPattern is not JSON: %s", tf->rel, yline(pat), id,
					    jerr.text);
		} else {
			r->pattern = yaml_to_json(&tf->doc, pat, why, sizeof why);
			if (r->pattern == NULL)
				world_error(w, "%s: rule %s: %s", tf->rel, id, why);
		}
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int group_setup(void **state)
{
	const char *data = getenv("AMICD_TEST_DATA");
	struct world *w = calloc(1, sizeof *w);
	char dir[PATH_MAX + 16];
	char **names = NULL;
	size_t n = 0;
	DIR *d;
	struct dirent *de;

	if (w == NULL)
		return -1;
	if (data != NULL && data[0] != '\0') { /* tests/data -> tests -> root */
		char buf[PATH_MAX];

		snprintf(buf, sizeof buf, "%s", data);
		for (int up = 0; up < 2; up++) {
			char *slash;

			while (strlen(buf) > 1 && buf[strlen(buf) - 1] == '/')
				buf[strlen(buf) - 1] = '\0';
			slash = strrchr(buf, '/');
			if (slash == NULL) {
				snprintf(buf, sizeof buf, ".");
				break;
			}
			*slash = '\0';
			if (buf[0] == '\0')
				snprintf(buf, sizeof buf, "/");
		}
		snprintf(w->root, sizeof w->root, "%s", buf);
	} else if (getcwd(w->root, sizeof w->root) == NULL) {
		snprintf(w->root, sizeof w->root, ".");
	}
	snprintf(dir, sizeof dir, "%s/deploy/aws", w->root);
	d = opendir(dir);
	if (d == NULL) {
		world_error(w, "%s: cannot open (is the repository root %s?)", dir, w->root);
	} else {
		while ((de = readdir(d)) != NULL) {
			size_t len = strlen(de->d_name);
			char **grown;

			if (de->d_name[0] == '.' ||
			    !((len > 5 && strcmp(de->d_name + len - 5, ".yaml") == 0) ||
			      (len > 4 && strcmp(de->d_name + len - 4, ".yml") == 0)))
				continue;
			grown = realloc(names, (n + 1) * sizeof *grown);
			if (grown == NULL)
				break;
			names = grown;
			if (asprintf(&names[n], "deploy/aws/%s", de->d_name) < 0)
				break;
			n++;
		}
		closedir(d);
	}
	if (n > 1)
		qsort(names, n, sizeof *names, cmp_str);
	w->files = calloc(n > 0 ? n : 1, sizeof *w->files);
	if (w->files == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		w->files[i].rel = names[i];
		w->n_files++;
		load_file(w, &w->files[i]);
	}
	free(names);
	*state = w;
	return 0;
}

static int group_teardown(void **state)
{
	struct world *w = *state;

	for (size_t i = 0; i < w->n_rules; i++) {
		free(w->rules[i].file);
		free(w->rules[i].id);
		json_decref(w->rules[i].pattern);
	}
	for (size_t i = 0; i < w->n_files; i++) {
		if (w->files[i].loaded)
			yaml_document_delete(&w->files[i].doc);
		free(w->files[i].rel);
	}
	free(w->rules);
	free(w->files);
	free(w->error);
	free(w);
	return 0;
}

static const struct rule *find_rule(const struct world *w, const char *file_hash_id)
{
	const char *hash = strchr(file_hash_id, '#');

	assert_non_null(hash);
	for (size_t i = 0; i < w->n_rules; i++) {
		const struct rule *r = &w->rules[i];

		if (strlen(r->file) == (size_t)(hash - file_hash_id) &&
		    strncmp(r->file, file_hash_id, (size_t)(hash - file_hash_id)) == 0 && strcmp(r->id, hash + 1) == 0)
			return r;
	}
	return NULL;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_templates_load(void **state)
{
	struct world *w = *state;

	if (w->error != NULL)
		fail_msg("%s", w->error);
	assert_true(w->n_files >= 2);
	assert_true(w->n_rules > 0);
}

/* The rules found are exactly RULES: none untested, none missing. */
static void test_rules_are_known(void **state)
{
	struct world *w = *state;

	for (size_t i = 0; i < w->n_rules; i++) {
		bool known = false;

		for (size_t k = 0; k < N_OF(RULES); k++)
			known = known || (strcmp(RULES[k].file, w->rules[i].file) == 0 &&
					  strcmp(RULES[k].id, w->rules[i].id) == 0);
		if (!known)
			fail_msg("%s:%u: rule %s is not known to this test: add it to RULES and to the events it "
				 "must match (ACTED)", w->rules[i].file, w->rules[i].line, w->rules[i].id);
	}
	for (size_t k = 0; k < N_OF(RULES); k++) {
		char key[256];

		snprintf(key, sizeof key, "%s#%s", RULES[k].file, RULES[k].id);
		if (find_rule(w, key) == NULL)
			fail_msg("%s: rule %s is missing", RULES[k].file, RULES[k].id);
	}
	/* every known rule is meant for some acted-on event */
	for (size_t k = 0; k < N_OF(RULES); k++) {
		char key[256];
		bool used = false;

		snprintf(key, sizeof key, "%s#%s", RULES[k].file, RULES[k].id);
		for (size_t a = 0; a < N_OF(ACTED); a++)
			for (size_t m = 0; m < MAX_MEANT && ACTED[a].meant[m] != NULL; m++)
				used = used || strcmp(ACTED[a].meant[m], key) == 0;
		if (!used)
			fail_msg("%s: rule %s matches no event amicd acts on (ACTED)", RULES[k].file, RULES[k].id);
	}
}

/* Each event amicd acts on reaches amicd through the rule meant for its bus. */
static void test_acted_on_events_match(void **state)
{
	struct world *w = *state;
	size_t checked = 0;

	for (size_t a = 0; a < N_OF(ACTED); a++) {
		json_t *ev = support_fixture_json(ACTED[a].fixture);
		struct eb_event parsed;
		struct amicd_error err = { 0 };

		if (ev == NULL)
			fail_msg("cannot load fixture %s", ACTED[a].fixture);
		if (eventbridge_parse(ev, &parsed, &err) != AMICD_OK)
			fail_msg("%s: amicd rejects it: %s", ACTED[a].fixture, err.message);
		if (parsed.ignored || parsed.kind != ACTED[a].kind)
			fail_msg("%s: amicd does not act on it as expected (kind %s, ignored: %s)", ACTED[a].fixture,
				 parsed.kind_name, parsed.ignored ? parsed.note : "no");
		for (size_t m = 0; m < MAX_MEANT && ACTED[a].meant[m] != NULL; m++) {
			const struct rule *r = find_rule(w, ACTED[a].meant[m]);
			char what[512];

			if (r == NULL)
				fail_msg("%s: rule %s is missing", ACTED[a].fixture, ACTED[a].meant[m]);
			snprintf(what, sizeof what, "%s:%u: rule %s", r->file, r->line, r->id);
			if (!pattern_matches(r->pattern, ev, what)) {
				char *p = json_dumps(r->pattern, JSON_COMPACT);

				fail_msg("%s does not match %s (an event amicd acts on, on %s bus); pattern %s", what,
					 ACTED[a].fixture, ACTED[a].account, p != NULL ? p : "?");
			}
			checked++;
		}
		json_decref(ev);
	}
	print_message("acted-on events: %zu, (event, rule) matches checked: %zu\n", N_OF(ACTED), checked);
}

/* Each event amicd ignores is sent by no rule at all. */
static void test_ignored_events_match_nothing(void **state)
{
	struct world *w = *state;

	for (size_t i = 0; i < N_OF(IGNORED); i++) {
		json_t *ev = support_fixture_json(IGNORED[i]);
		struct eb_event parsed;
		struct amicd_error err = { 0 };

		if (ev == NULL)
			fail_msg("cannot load fixture %s", IGNORED[i]);
		if (eventbridge_parse(ev, &parsed, &err) != AMICD_OK)
			fail_msg("%s: amicd rejects it (%s), it should store and ignore it", IGNORED[i], err.message);
		if (!parsed.ignored && parsed.kind != EB_OTHER)
			fail_msg("%s: amicd acts on it (kind %s): it is no ignored example", IGNORED[i], parsed.kind_name);
		for (size_t k = 0; k < w->n_rules; k++) {
			const struct rule *r = &w->rules[k];
			char what[512];

			snprintf(what, sizeof what, "%s:%u: rule %s", r->file, r->line, r->id);
			if (pattern_matches(r->pattern, ev, what)) {
				char *p = json_dumps(r->pattern, JSON_COMPACT);

				fail_msg("%s matches %s, an event amicd ignores (%s); pattern %s", what, IGNORED[i],
					 parsed.note[0] != '\0' ? parsed.note : "not acted on", p != NULL ? p : "?");
			}
		}
		json_decref(ev);
	}
	print_message("ignored events: %zu, each against %zu rules\n", N_OF(IGNORED), w->n_rules);
}

static bool has_key(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	return yget(d, map, key) != NULL;
}

/* Every rule's target: a role, retries and a dead-letter queue; the API destination. */
static void test_targets_and_destination(void **state)
{
	struct world *w = *state;
	bool found_destination = false;

	for (size_t k = 0; k < w->n_rules; k++) {
		const struct rule *r = &w->rules[k];
		yaml_node_t *targets = yget(r->doc, yget(r->doc, r->node, "Properties"), "Targets");

		if (targets == NULL || targets->type != YAML_SEQUENCE_NODE ||
		    targets->data.sequence.items.top == targets->data.sequence.items.start)
			fail_msg("%s:%u: rule %s has no Targets", r->file, r->line, r->id);
		for (yaml_node_item_t *i = targets->data.sequence.items.start; i < targets->data.sequence.items.top; i++) {
			yaml_node_t *t = yaml_document_get_node(r->doc, *i);
			static const char *const need[] = { "Arn", "RoleArn", "RetryPolicy", "DeadLetterConfig" };

			for (size_t n = 0; n < N_OF(need); n++)
				if (!has_key(r->doc, t, need[n]))
					fail_msg("%s:%u: a target of rule %s has no %s", r->file, yline(t), r->id, need[n]);
		}
	}
	for (size_t f = 0; f < w->n_files; f++) {
		yaml_document_t *d = &w->files[f].doc;
		yaml_node_t *res = yget(d, yaml_document_get_root_node(d), "Resources");

		if (!w->files[f].loaded || res == NULL)
			continue;
		for (yaml_node_pair_t *p = res->data.mapping.pairs.start; p < res->data.mapping.pairs.top; p++) {
			yaml_node_t *r = yaml_document_get_node(d, p->value);
			yaml_node_t *props = yget(d, r, "Properties");
			const char *type = ystr(yget(d, r, "Type"));
			const char *endpoint;
			const char *method;

			if (type == NULL || strcmp(type, "AWS::Events::ApiDestination") != 0)
				continue;
			found_destination = true;
			endpoint = ystr(yget(d, props, "InvocationEndpoint"));
			method = ystr(yget(d, props, "HttpMethod"));
			if (endpoint == NULL || strlen(endpoint) < 18 ||
			    strcmp(endpoint + strlen(endpoint) - 18, "/hooks/eventbridge") != 0)
				fail_msg("%s:%u: the API destination's InvocationEndpoint must end in /hooks/eventbridge",
					 w->files[f].rel, yline(r));
			if (method == NULL || strcmp(method, "POST") != 0)
				fail_msg("%s:%u: the API destination's HttpMethod must be POST", w->files[f].rel, yline(r));
			if (!has_key(d, props, "InvocationRateLimitPerSecond"))
				fail_msg("%s:%u: the API destination has no InvocationRateLimitPerSecond",
					 w->files[f].rel, yline(r));
		}
	}
	assert_true(found_destination);
	{
		/* the role of the API destination's targets may invoke it (read as text) */
		char path[PATH_MAX * 2];
		char *text;

		snprintf(path, sizeof path, "%s/%s", w->root, TEMPLATE_MAIN);
		text = support_read_file(path, NULL);
		assert_non_null(text);
		if (strstr(text, "Action: events:InvokeApiDestination") == NULL ||
		    strstr(text, "Service: events.amazonaws.com") == NULL)
			fail_msg("%s: the targets' role needs events.amazonaws.com trust and events:InvokeApiDestination",
				 TEMPLATE_MAIN);
		free(text);
		snprintf(path, sizeof path, "%s/%s", w->root, TEMPLATE_FORWARD);
		text = support_read_file(path, NULL);
		assert_non_null(text);
		if (strstr(text, "Action: events:PutEvents") == NULL)
			fail_msg("%s: the forwarding role needs events:PutEvents on the central bus", TEMPLATE_FORWARD);
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matcher_table),
		cmocka_unit_test(test_templates_load),
		cmocka_unit_test(test_rules_are_known),
		cmocka_unit_test(test_acted_on_events_match),
		cmocka_unit_test(test_ignored_events_match_nothing),
		cmocka_unit_test(test_targets_and_destination),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
