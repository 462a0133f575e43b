/*
 * test_monitoring.c — openshift/amicd-monitoring.yaml (the ServiceMonitor and
 * the PrometheusRule of design §4's alerts) checked against amicd and promtool:
 *
 *   - the ServiceMonitor scrapes a port the Template's Service names, by a
 *     label the Service carries, on a path amicd serves (src/server.c's route
 *     table, read as text);
 *   - every amicd_* metric the file names is one amicd writes (src/api.c,
 *     src/metrics.c), so a renamed gauge cannot leave an alert silently empty;
 *   - the PrometheusRule's spec (a Prometheus rule file: `groups:`) passes
 *     `promtool check rules`, and the cases of
 *     tests/data/promtool/amicd-alerts.test.yml pass `promtool test rules`.
 *
 * promtool comes with Debian's prometheus package (scripts/deps.sh test); the
 * promtool tests skip with a message when it is absent. The repository root
 * is the parent of the parent of AMICD_TEST_DATA, else the current directory.
 */
#include "support.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define MONITORING "openshift/amicd-monitoring.yaml"
#define TEMPLATE "openshift/amicd-template.yaml"
#define ALERT_TESTS "promtool/amicd-alerts.test.yml"

struct world {
	char root[PATH_MAX];
	char tmp[PATH_MAX];
	char *monitoring;
};

static char *read_rel(const struct world *w, const char *rel)
{
	char path[PATH_MAX + 64];
	char *text;

	snprintf(path, sizeof path, "%s/%s", w->root, rel);
	text = support_read_file(path, NULL);
	if (text == NULL)
		fail_msg("cannot read %s", path);
	return text;
}

static int group_setup(void **state)
{
	struct world *w = calloc(1, sizeof *w);
	char data[PATH_MAX];

	if (w == NULL)
		return -1;
	if (realpath(support_data_dir(), data) != NULL) {
		char *slash = strrchr(data, '/');

		if (slash != NULL)
			*slash = '\0'; /* tests/data -> tests */
		slash = strrchr(data, '/');
		if (slash != NULL)
			*slash = '\0'; /* tests -> root */
		snprintf(w->root, sizeof w->root, "%s", data);
	} else {
		snprintf(w->root, sizeof w->root, ".");
	}
	if (support_tmpdir(w->tmp, sizeof w->tmp, NULL, "amicd-monitoring") != 0)
		return -1;
	*state = w;
	w->monitoring = read_rel(w, MONITORING);
	return 0;
}

static int group_teardown(void **state)
{
	struct world *w = *state;

	support_rmtree(w->tmp);
	free(w->monitoring);
	free(w);
	return 0;
}

/* The document of text whose top-level kind is kind, as a new string (NULL: none). */
static char *document(const char *text, const char *kind)
{
	char want[128];
	const char *at, *start, *end;

	snprintf(want, sizeof want, "\nkind: %s\n", kind);
	at = strstr(text, want);
	if (at == NULL)
		return NULL;
	start = at;
	while (start > text && strncmp(start, "\n---\n", 5) != 0)
		start--;
	end = strstr(at, "\n---\n");
	if (end == NULL)
		end = at + strlen(at);
	return strndup(start, (size_t)(end - start));
}

/* The PrometheusRule's spec as a rule file: the lines under `spec:`, two spaces less indented. */
static char *rule_file(const char *text)
{
	char *doc = document(text, "PrometheusRule"), *out = NULL, *spec;
	size_t n = 0;
	FILE *f = NULL;

	if (doc == NULL)
		fail_msg(MONITORING ": no PrometheusRule document");
	spec = strstr(doc, "\nspec:\n");
	if (spec == NULL)
		fail_msg(MONITORING ": the PrometheusRule has no spec");
	f = open_memstream(&out, &n);
	assert_non_null(f);
	for (char *line = spec + strlen("\nspec:\n"); *line != '\0';) {
		char *nl = strchr(line, '\n');
		size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);

		if (len > 0 && line[0] != ' ' && line[0] != '#')
			break; /* the next top-level key */
		if (len >= 2 && strncmp(line, "  ", 2) == 0)
			fprintf(f, "%.*s\n", (int)(len - 2), line + 2);
		else
			fputc('\n', f);
		line += len + (nl != NULL);
	}
	fclose(f);
	free(doc);
	return out;
}

static void test_servicemonitor_matches_the_service(void **state)
{
	struct world *w = *state;
	char *sm = document(w->monitoring, "ServiceMonitor"), *tpl = read_rel(w, TEMPLATE), *server = read_rel(w, "src/server.c");
	char *svc, *port, *path, want[160];

	if (sm == NULL)
		fail_msg(MONITORING ": no ServiceMonitor document");
	svc = strstr(tpl, "\n  kind: Service\n");
	if (svc == NULL)
		fail_msg(TEMPLATE ": no Service");
	if (strstr(sm, "      app.kubernetes.io/name: amicd\n") == NULL)
		fail_msg(MONITORING ": the ServiceMonitor must select app.kubernetes.io/name: amicd");
	if (strstr(svc, "      app.kubernetes.io/name: amicd\n") == NULL)
		fail_msg(TEMPLATE ": the Service has no label app.kubernetes.io/name: amicd for the ServiceMonitor");
	port = strstr(sm, "  - port: ");
	if (port == NULL)
		fail_msg(MONITORING ": the ServiceMonitor's endpoint names no port");
	port += strlen("  - port: ");
	snprintf(want, sizeof want, "    - name: %.*s\n", (int)strcspn(port, "\n"), port);
	if (strstr(svc, want) == NULL)
		fail_msg(TEMPLATE ": the Service has no port named %.*s (the ServiceMonitor scrapes it)",
			 (int)strcspn(port, "\n"), port);
	path = strstr(sm, "    path: ");
	if (path == NULL)
		fail_msg(MONITORING ": the ServiceMonitor's endpoint has no path");
	path += strlen("    path: ");
	snprintf(want, sizeof want, "{ .method = \"GET\", .path = \"%.*s\"", (int)strcspn(path, "\n"), path);
	if (strstr(server, want) == NULL)
		fail_msg(MONITORING ": amicd serves no GET %.*s (src/server.c)", (int)strcspn(path, "\n"), path);
	free(server);
	free(tpl);
	free(sm);
}

static void test_alerts_use_exported_metrics(void **state)
{
	struct world *w = *state;
	char *api = read_rel(w, "src/api.c"), *metrics = read_rel(w, "src/metrics.c");
	size_t names = 0;

	for (const char *p = strstr(w->monitoring, "amicd_"); p != NULL; p = strstr(p, "amicd_")) {
		size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
		char name[128];

		snprintf(name, sizeof name, "\"%.*s", (int)len, p);
		if (p > w->monitoring && (p[-1] == '-' || p[-1] == '/')) { /* a path or an object name */
			p += len;
			continue;
		}
		names++;
		if (strstr(api, name) == NULL && strstr(metrics, name) == NULL)
			fail_msg(MONITORING ": %s is no metric amicd writes (src/api.c, src/metrics.c)", name + 1);
		p += len;
	}
	assert_true(names >= 8);
	free(metrics);
	free(api);
}

static bool have_promtool(void)
{
	if (system("command -v promtool >/dev/null 2>&1") == 0)
		return true;
	print_message("promtool not installed (scripts/deps.sh test installs Debian's prometheus): skipped\n");
	return false;
}

/* Run cmd in dir; fails the test with promtool's output unless it exits 0. */
static void run_in(const char *dir, const char *what)
{
	char cmd[PATH_MAX + 256], out[16384] = "";
	FILE *p;
	size_t n;
	int status;

	snprintf(cmd, sizeof cmd, "cd '%s' && %s 2>&1", dir, what);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, sizeof out - 1, p);
	out[n] = '\0';
	status = pclose(p);
	if (status != 0)
		fail_msg("%s: %s", what, out);
}

static void test_rules_pass_promtool_check(void **state)
{
	struct world *w = *state;
	char *rules;

	if (!have_promtool())
		skip();
	rules = rule_file(w->monitoring);
	assert_int_equal(support_write_file(w->tmp, "rules.yml", rules), 0);
	free(rules);
	run_in(w->tmp, "promtool check rules rules.yml");
}

static void test_alerts_pass_promtool_unit_tests(void **state)
{
	struct world *w = *state;
	char *rules, *cases;

	if (!have_promtool())
		skip();
	rules = rule_file(w->monitoring);
	cases = support_fixture(ALERT_TESTS, NULL);
	assert_non_null(cases);
	assert_int_equal(support_write_file(w->tmp, "rules.yml", rules), 0);
	assert_int_equal(support_write_file(w->tmp, "alerts.test.yml", cases), 0);
	free(cases);
	free(rules);
	run_in(w->tmp, "promtool test rules alerts.test.yml");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_servicemonitor_matches_the_service),
		cmocka_unit_test(test_alerts_use_exported_metrics),
		cmocka_unit_test(test_rules_pass_promtool_check),
		cmocka_unit_test(test_alerts_pass_promtool_unit_tests),
	};

	return cmocka_run_group_tests_name("monitoring", tests, group_setup, group_teardown);
}
