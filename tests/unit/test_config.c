/*
 * test_config.c — the YAML configuration of design §3 (src/config.h):
 * config_load, config_free, config_diag_free, config_find_asg, config_tracks,
 * config_knows_repo, config_gitlab_api_for and config_ref_valid.
 *
 * Covers: a full valid file with both image forms (the seed's
 * `image: {repo: {url, ref, tag_name}}` and the list of `provider: git` /
 * `provider: static` filters) and every parsed value that matters (listen,
 * defaults such as limits.max_body_bytes 26214400 and the pin file
 * <pins_dir>/<identifier>.yml, policy, account pointer, normalised URL,
 * secrets from files and the environment with the trailing newline trimmed,
 * the whsec_ signing secret base64-decoded); the command/Basic/IPv6 variants.
 * Errors, each asserted as the whole "file:line:column: " prefix (1-based)
 * plus a distinctive part of the message: unknown keys (top level, nested,
 * in flow mappings), wrong types, missing secret file, unset *_env, both
 * *_file and *_env, unknown account, duplicate identifier, bad refs, zero or
 * two git filters, trigger with url and command, YAML syntax error, and one
 * file with eight errors that must all be reported. config_tracks and
 * config_knows_repo with the three URL forms of a GitLab push
 * (tests/data/gitlab-push.json).
 *
 * The reconciler's keys (design §9): accounts[].aws (static keys from files
 * and the environment, both or neither, role_arn; "aws: {}" alone), org_arns,
 * aws (web identity, endpoints normalised, sts_region), gitlab_api (URL
 * normal form, duplicates, tokens) and reconcile (defaults and bounds), every
 * error positioned; role and organization ARNs and gitlab_api URLs as tables
 * of good and bad values; config_gitlab_api_for by longest prefix at a '/'
 * boundary, scheme and port included.
 *
 * Near misses (test_near_misses, a table): an unknown key within two edits
 * (or equal but for case) of an allowed one says "did you mean", a far one
 * does not; a misspelt section (top level, "image", optional "limits") is
 * still checked under its misspelling while the real key is reported
 * missing; a typo inside a section leaves the rest of it checked; an unknown
 * account name gets the nearest configured one. CONFIG_LOAD_OFFLINE
 * (test_offline): no secret read, everything else checked.
 *
 * Every file lives in a mkdtemp directory made in setup and removed in
 * teardown; secret files are named by absolute path. Environment variables
 * used: AMICD_TEST_CFG_READ (set here), AMICD_TEST_CFG_UNSET (unset here),
 * AMICD_TEST_DATA (read).
 */
#include "config.h"
#include "repourl.h"
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
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#define ENV_SET "AMICD_TEST_CFG_READ"
#define ENV_UNSET "AMICD_TEST_CFG_UNSET"

#define GOLDEN "https://gitlab.example.net/platform/golden-images"
#define API_IMAGES "https://gitlab.example.net/platform/api-images"
#define PINNED_IMAGES "https://gitlab.example.net/platform/pinned-images"
#define SHA "61c979eab8ea475e0b84db7556d2049e9dae6d89"

struct fx {
	char dir[PATH_MAX];
	char path[PATH_MAX + 16]; /* the config file written last */
	struct config *cfg;
	struct config_diag diag;
	const char *label;        /* the table case being run, named on failure */
};

/* ---- helpers ------------------------------------------------------------ */

/* text with find (which must occur exactly once) replaced by repl (caller frees). */
static char *replace_once(const char *text, const char *find, const char *repl)
{
	size_t n = 0;
	char *out = support_replace_all(text, find, repl, &n);

	assert_non_null(out);
	if (n != 1) {
		free(out);
		fail_msg("test bug: \"%s\" occurs %zu times in the base config, want once", find, n);
	}
	return out;
}

/* Write text (with "@D@" standing for the temp dir) as <dir>/name and load it with flags (CONFIG_LOAD_*). */
static enum amicd_rc load_with(struct fx *fx, const char *name, const char *text, unsigned flags)
{
	char *body = support_replace_all(text, "@D@", fx->dir, NULL);

	assert_non_null(body);
	config_free(fx->cfg);
	fx->cfg = NULL;
	config_diag_free(&fx->diag);
	snprintf(fx->path, sizeof fx->path, "%s/%s", fx->dir, name);
	if (support_write_file(fx->dir, name, body) != 0) {
		free(body);
		fail_msg("cannot write %s", fx->path);
	}
	free(body);
	return flags == 0 ? config_load(fx->path, &fx->cfg, &fx->diag)
			  : config_load_with(fx->path, flags, &fx->cfg, &fx->diag);
}

static enum amicd_rc load_named(struct fx *fx, const char *name, const char *text)
{
	return load_with(fx, name, text, 0);
}

static enum amicd_rc load(struct fx *fx, const char *text)
{
	return load_named(fx, "amicd.yml", text);
}

static void print_diag(const struct fx *fx)
{
	if (fx->label != NULL)
		print_error("case: %s\n", fx->label);
	print_error("diagnostics (%zu):\n", fx->diag.n);
	for (size_t i = 0; i < fx->diag.n; i++)
		print_error("  %s\n", fx->diag.lines[i]);
}

/* Loading must have succeeded with no diagnostics. */
static void assert_loaded(struct fx *fx, enum amicd_rc rc)
{
	if (rc != AMICD_OK || fx->cfg == NULL || fx->diag.n != 0) {
		print_diag(fx);
		fail_msg("config_load(%s) = %d, want AMICD_OK with no diagnostics", fx->path, (int)rc);
	}
}

/* Loading must have failed with n diagnostics (n < 0: any number > 0). */
static void assert_failed(struct fx *fx, enum amicd_rc rc, enum amicd_rc want, int n)
{
	if (rc != want || fx->cfg != NULL || fx->diag.n == 0 || (n >= 0 && fx->diag.n != (size_t)n)) {
		print_diag(fx);
		fail_msg("config_load(%s) = %d with %zu diagnostics, want %d with %d", fx->path, (int)rc, fx->diag.n,
			 (int)want, n);
	}
}

/* Some diagnostic is exactly "<path>:<line>:<col>: …msg…". */
static void assert_diag(struct fx *fx, unsigned line, unsigned col, const char *msg)
{
	char prefix[PATH_MAX + 64];
	size_t plen;

	snprintf(prefix, sizeof prefix, "%s:%u:%u: ", fx->path, line, col);
	plen = strlen(prefix);
	for (size_t i = 0; i < fx->diag.n; i++)
		if (strncmp(fx->diag.lines[i], prefix, plen) == 0 && strstr(fx->diag.lines[i] + plen, msg) != NULL)
			return;
	print_diag(fx);
	fail_msg("no diagnostic \"%s…%s…\"", prefix, msg);
}

static void assert_no_diag_contains(const struct fx *fx, const char *text)
{
	for (size_t i = 0; i < fx->diag.n; i++)
		if (strstr(fx->diag.lines[i], text) != NULL)
			fail_msg("diagnostic reveals \"%s\": %s", text, fx->diag.lines[i]);
}

static void assert_secret(const struct secret *s, const char *want)
{
	assert_non_null(s->bytes);
	assert_int_equal(s->len, strlen(want));
	assert_memory_equal(s->bytes, want, strlen(want));
	assert_int_equal(s->bytes[s->len], '\0');
}

/* ---- fixtures ----------------------------------------------------------- */

static int setup(void **state)
{
	struct fx *fx = NULL;
	int rc = -1;

	fx = calloc(1, sizeof *fx);
	if (fx == NULL)
		goto out;
	if (support_tmpdir(fx->dir, sizeof fx->dir, NULL, "amicd-test-config") != 0)
		goto out;
	/* secret files end with a newline, as `kubectl create secret --from-file` and editors leave them */
	if (support_write_file(fx->dir, "gitlab-token", "glpat-gitlab\n") != 0 ||
	    support_write_file(fx->dir, "gitlab-signing", "whsec_YW1pY2QtdGVzdC1zaWduaW5nLWtleS0zMi1ieXRlcyE=\n") != 0 ||
	    support_write_file(fx->dir, "bad-signing", "whsec_not*base64!\n") != 0 ||
	    support_write_file(fx->dir, "eb-key", "eb-key-123\n") != 0 ||
	    support_write_file(fx->dir, "eb-password", "s3cret:pw") != 0 ||
	    support_write_file(fx->dir, "admin-token", "admin-t0ken\r\n") != 0 ||
	    support_write_file(fx->dir, "trigger-token", "trigger-t0ken\n") != 0 ||
	    support_write_file(fx->dir, "empty-token", "\n") != 0 ||
	    support_write_file(fx->dir, "aws-key-id", "AKIAEXAMPLEKEYID\n") != 0 ||
	    support_write_file(fx->dir, "aws-secret", "aws/secret+EXAMPLE\n") != 0 ||
	    support_write_file(fx->dir, "gitlab-api-token", "glpat-api\n") != 0)
		goto out;
	if (setenv(ENV_SET, "read-t0ken\n", 1) != 0 || unsetenv(ENV_UNSET) != 0)
		goto out;
	*state = fx;
	fx = NULL;
	rc = 0;
out:
	if (fx != NULL) {
		support_rmtree(fx->dir);
		free(fx);
	}
	return rc;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	int rc = 0;

	if (fx == NULL)
		return 0;
	config_free(fx->cfg);
	config_diag_free(&fx->diag);
	if (support_rmtree(fx->dir) != 0)
		rc = -1;
	unsetenv(ENV_SET);
	free(fx);
	*state = NULL;
	return rc;
}

/* ---- configurations ----------------------------------------------------- */

/* Both image forms, three ASGs, secrets from files and the environment, no limits. */
static const char FULL[] =
	"listen: 0.0.0.0:9443\n"
	"database: @D@/amicd.db\n"
	"pins_dir: @D@/pins\n"
	"log_level: debug\n"
	"auth:\n"
	"  gitlab: { token_file: @D@/gitlab-token }\n"
	"  gitlab_signing: { secret_file: @D@/gitlab-signing }\n"
	"  eventbridge: { api_key_header: X-Api-Key, api_key_file: @D@/eb-key }\n"
	"  admin: { token_file: @D@/admin-token }\n"
	"  read: { token_env: " ENV_SET " }\n"
	"trigger:\n"
	"  url: http://127.0.0.1:9000/terraform-resources\n"
	"  token_file: @D@/trigger-token\n"
	"  timeout_seconds: 15\n"
	"  max_attempts: 5\n"
	"accounts:\n"
	"  - { name: image-builder-stage, uid: \"444455556666\" }\n"
	"  - { name: image-builder-prod, uid: \"111122223333\" }\n"
	"terraformResources:\n"
	"  - provider: asg\n"
	"    identifier: workers-stage\n"
	"    account: image-builder-stage\n"
	"    region: eu-west-1\n"
	"    image:\n"
	"      repo: { url: \"https://GitLab.Example.NET/platform/golden-images.git/\", ref: main, tag_name: git-sha }\n"
	"  - provider: asg\n"
	"    identifier: api-stage\n"
	"    account: image-builder-prod\n"
	"    region: us-east-1\n"
	"    policy: latest\n"
	"    image:\n"
	"      - { provider: git, tag_name: git-sha, url: \"git@gitlab.example.net:platform/api-images.git\", ref: release/1.2 }\n"
	"      - { provider: static, tag_name: image-role, value: api }\n"
	"    pin: { file: @D@/custom/api.yml }\n"
	"  - provider: asg\n"
	"    identifier: pinned-stage\n"
	"    account: image-builder-stage\n"
	"    region: eu-west-1\n"
	"    policy: head\n"
	"    image:\n"
	"      - { provider: static, tag_name: image-role, value: worker }\n"
	"      - { provider: git, tag_name: git-sha, url: " PINNED_IMAGES ", ref: 61C979EAB8EA475E0B84DB7556D2049E9DAE6D89 }\n";

/*
 * The smallest valid file; error cases edit one line of it. Line numbers:
 *  1 auth:                       6   url: http://…/hook       11     identifier: workers-stage
 *  2   gitlab: {…}               7 accounts:                  12     account: stage
 *  3   eventbridge: {…}          8   - { name: stage, … }     13     region: eu-west-1
 *  4   admin: {…}                9 terraformResources:        14     image:
 *  5 trigger:                   10   - provider: asg          15       repo: {…}
 */
static const char MINIMAL[] =
	"auth:\n"
	"  gitlab: { token_file: @D@/gitlab-token }\n"
	"  eventbridge: { api_key_header: x-api-key, api_key_file: @D@/eb-key }\n"
	"  admin: { token_file: @D@/admin-token }\n"
	"trigger:\n"
	"  url: http://127.0.0.1:9000/hook\n"
	"accounts:\n"
	"  - { name: stage, uid: \"444455556666\" }\n"
	"terraformResources:\n"
	"  - provider: asg\n"
	"    identifier: workers-stage\n"
	"    account: stage\n"
	"    region: eu-west-1\n"
	"    image:\n"
	"      repo: { url: https://gitlab.example.net/platform/golden-images, ref: main, tag_name: git-sha }\n";

#define MIN_REPO_LINE \
	"      repo: { url: https://gitlab.example.net/platform/golden-images, ref: main, tag_name: git-sha }\n"
/* column of the ref value in MIN_REPO_LINE: 6 + "repo: { url: " + URL + ", ref: " */
#define MIN_REF_COL (6 + 13 + 49 + 7 + 1)

/* ---- valid files -------------------------------------------------------- */

static void test_full_config(void **state)
{
	struct fx *fx = *state;
	const struct config *c;
	const struct config_asg *a;
	char want[PATH_MAX + 64];

	assert_loaded(fx, load(fx, FULL));
	c = fx->cfg;
	assert_string_equal(c->path, fx->path);
	assert_string_equal(c->listen_host, "0.0.0.0");
	assert_int_equal(c->listen_port, 9443);
	snprintf(want, sizeof want, "%s/amicd.db", fx->dir);
	assert_string_equal(c->database, want);
	snprintf(want, sizeof want, "%s/pins", fx->dir);
	assert_string_equal(c->pins_dir, want);
	assert_string_equal(c->log_level, "debug");

	/* secrets: trailing newline (and CR) trimmed, NUL-terminated; whsec_ decoded */
	assert_secret(&c->auth.gitlab_token, "glpat-gitlab");
	assert_secret(&c->auth.gitlab_signing_key, "amicd-test-signing-key-32-bytes!");
	assert_string_equal(c->auth.eventbridge_api_key_header, "x-api-key"); /* lower-cased */
	assert_secret(&c->auth.eventbridge_api_key, "eb-key-123");
	assert_null(c->auth.eventbridge_basic_user);
	assert_null(c->auth.eventbridge_basic_password.bytes);
	assert_secret(&c->auth.admin_token, "admin-t0ken");
	assert_secret(&c->auth.read_token, "read-t0ken"); /* from the environment */

	/* limits absent: defaults */
	assert_int_equal(c->limits.max_body_bytes, 26214400);
	assert_int_equal(c->limits.max_inflight_bytes, 268435456);
	assert_int_equal(c->limits.busy_timeout_ms, 2000);
	assert_int_equal(c->limits.max_inflight, 4096);
	assert_int_equal(c->limits.rejected_keep, 1000);

	assert_string_equal(c->trigger.url, "http://127.0.0.1:9000/terraform-resources");
	assert_secret(&c->trigger.token, "trigger-t0ken");
	assert_null(c->trigger.command);
	assert_int_equal(c->trigger.n_command, 0);
	assert_int_equal(c->trigger.timeout_seconds, 15);
	assert_int_equal(c->trigger.max_attempts, 5);
	assert_int_equal(c->trigger.backoff_max_seconds, 300);

	assert_int_equal(c->n_accounts, 2);
	assert_string_equal(c->accounts[0].name, "image-builder-stage");
	assert_string_equal(c->accounts[0].uid, "444455556666");
	assert_string_equal(c->accounts[1].name, "image-builder-prod");
	assert_string_equal(c->accounts[1].uid, "111122223333");

	assert_int_equal(c->n_asgs, 3);

	/* the seed's form */
	a = &c->asgs[0];
	assert_string_equal(a->identifier, "workers-stage");
	assert_ptr_equal(a->account, &c->accounts[0]);
	assert_string_equal(a->region, "eu-west-1");
	assert_int_equal(a->policy, POLICY_HEAD);
	assert_int_equal(a->n_filters, 1);
	assert_ptr_equal(a->git, &a->filters[0]);
	assert_int_equal(a->git->provider, FILTER_GIT);
	assert_string_equal(a->git->url, GOLDEN);
	assert_string_equal(a->git->url_given, "https://GitLab.Example.NET/platform/golden-images.git/");
	assert_string_equal(a->git->ref, "main");
	assert_false(a->git->ref_is_sha);
	assert_string_equal(a->git->tag_name, "git-sha");
	snprintf(want, sizeof want, "%s/pins/workers-stage.yml", fx->dir);
	assert_string_equal(a->pin_file, want);

	/* the list form, git first */
	a = &c->asgs[1];
	assert_string_equal(a->identifier, "api-stage");
	assert_ptr_equal(a->account, &c->accounts[1]);
	assert_string_equal(a->region, "us-east-1");
	assert_int_equal(a->policy, POLICY_LATEST);
	assert_int_equal(a->n_filters, 2);
	assert_ptr_equal(a->git, &a->filters[0]);
	assert_int_equal(a->filters[0].provider, FILTER_GIT);
	assert_string_equal(a->filters[0].url, API_IMAGES);
	assert_string_equal(a->filters[0].url_given, "git@gitlab.example.net:platform/api-images.git");
	assert_string_equal(a->filters[0].ref, "release/1.2");
	assert_string_equal(a->filters[0].tag_name, "git-sha");
	assert_int_equal(a->filters[1].provider, FILTER_STATIC);
	assert_string_equal(a->filters[1].tag_name, "image-role");
	assert_string_equal(a->filters[1].value, "api");
	snprintf(want, sizeof want, "%s/custom/api.yml", fx->dir);
	assert_string_equal(a->pin_file, want);

	/* the list form, git second, ref a commit (lower-cased) */
	a = &c->asgs[2];
	assert_string_equal(a->identifier, "pinned-stage");
	assert_ptr_equal(a->account, &c->accounts[0]);
	assert_int_equal(a->policy, POLICY_HEAD);
	assert_int_equal(a->n_filters, 2);
	assert_int_equal(a->filters[0].provider, FILTER_STATIC);
	assert_string_equal(a->filters[0].value, "worker");
	assert_ptr_equal(a->git, &a->filters[1]);
	assert_string_equal(a->git->url, PINNED_IMAGES);
	assert_string_equal(a->git->ref, SHA);
	assert_true(a->git->ref_is_sha);
	snprintf(want, sizeof want, "%s/pins/pinned-stage.yml", fx->dir);
	assert_string_equal(a->pin_file, want);

	assert_ptr_equal(config_find_asg(c, "workers-stage"), &c->asgs[0]);
	assert_ptr_equal(config_find_asg(c, "api-stage"), &c->asgs[1]);
	assert_ptr_equal(config_find_asg(c, "pinned-stage"), &c->asgs[2]);
	assert_null(config_find_asg(c, "workers-prod"));
	assert_null(config_find_asg(c, ""));
}

static void test_minimal_defaults(void **state)
{
	struct fx *fx = *state;
	const struct config *c;

	assert_loaded(fx, load(fx, MINIMAL));
	c = fx->cfg;
	assert_string_equal(c->listen_host, "127.0.0.1");
	assert_int_equal(c->listen_port, 8080);
	assert_null(c->public_listen_host);
	assert_int_equal(c->public_listen_port, 0);
	assert_string_equal(c->database, "var/amicd.db");
	assert_string_equal(c->pins_dir, "var/pins");
	assert_string_equal(c->asgs[0].pin_file, "var/pins/workers-stage.yml");
	assert_int_equal(c->asgs[0].policy, POLICY_HEAD);
	assert_null(c->auth.gitlab_signing_key.bytes);
	assert_int_equal(c->auth.gitlab_signing_key.len, 0);
	assert_null(c->auth.read_token.bytes);
	assert_null(c->trigger.token.bytes);
	assert_int_equal(c->limits.max_body_bytes, 26214400);
	assert_int_equal(c->trigger.timeout_seconds, 10);
	assert_int_equal(c->trigger.max_attempts, 20);
	assert_int_equal(c->trigger.backoff_max_seconds, 300);
}

/* A GitLab hook may have a signing token and no secret token: auth.gitlab_signing alone is enough. */
static void test_gitlab_signing_only(void **state)
{
	struct fx *fx = *state;
	char *text = replace_once(MINIMAL, "  gitlab: { token_file: @D@/gitlab-token }\n", "  gitlab_signing: { secret_file: @D@/gitlab-signing }\n");

	assert_loaded(fx, load(fx, text));
	free(text);
	assert_null(fx->cfg->auth.gitlab_token.bytes);
	assert_secret(&fx->cfg->auth.gitlab_signing_key, "amicd-test-signing-key-32-bytes!");
}

/* trigger.token_optional (a Secret key marked optional): absent file or unset variable → no token; present → read. */
static void test_trigger_token_optional(void **state)
{
	struct fx *fx = *state;
#define TRIGGER_URL_LINE "  url: http://127.0.0.1:9000/hook\n"
	char *absent = replace_once(MINIMAL, TRIGGER_URL_LINE, TRIGGER_URL_LINE "  token_file: @D@/no-such-token\n  token_optional: true\n");
	char *unset = replace_once(MINIMAL, TRIGGER_URL_LINE, TRIGGER_URL_LINE "  token_env: " ENV_UNSET "\n  token_optional: true\n");
	char *present = replace_once(MINIMAL, TRIGGER_URL_LINE, TRIGGER_URL_LINE "  token_file: @D@/admin-token\n  token_optional: true\n");

	assert_loaded(fx, load(fx, absent));
	assert_null(fx->cfg->trigger.token.bytes);
	assert_loaded(fx, load(fx, unset)); /* load() frees the previous config */
	assert_null(fx->cfg->trigger.token.bytes);
	assert_loaded(fx, load(fx, present));
	assert_non_null(fx->cfg->trigger.token.bytes);
	free(absent);
	free(unset);
	free(present);
}

/* The other branches: trigger command, EventBridge Basic, IPv6 listen, limits given. */
static void test_command_basic_ipv6(void **state)
{
	struct fx *fx = *state;
	const struct config *c;
	static const char text[] =
		"listen: \"[::1]:8081\"\n"
		"public_listen: 127.0.0.2:8081\n" /* another address, same port: allowed */
		"auth:\n"
		"  gitlab: { token_env: " ENV_SET " }\n"
		"  eventbridge:\n"
		"    basic: { user: eventbridge, password_file: @D@/eb-password }\n"
		"  admin: { token_file: @D@/admin-token }\n"
		"limits: { max_body_bytes: 2048, max_inflight_bytes: 4096, busy_timeout_ms: 500, max_inflight: 8, "
		"rejected_keep: 0 }\n"
		"trigger:\n"
		"  command: [/usr/local/bin/run-terraform-resources, --account, image-builder-stage]\n"
		"  timeout_seconds: 30\n"
		"  backoff_max_seconds: 60\n"
		"accounts:\n"
		"  - { name: stage, uid: \"444455556666\" }\n"
		"terraformResources:\n"
		"  - provider: asg\n"
		"    identifier: workers-stage\n"
		"    account: stage\n"
		"    region: eu-west-1\n"
		"    image:\n"
		"      repo: { url: http://gitlab.internal:8080/platform/golden-images.git, ref: refs/heads/main, tag_name: git-sha }\n";

	assert_loaded(fx, load(fx, text));
	c = fx->cfg;
	assert_string_equal(c->listen_host, "::1");
	assert_int_equal(c->listen_port, 8081);
	assert_string_equal(c->public_listen_host, "127.0.0.2");
	assert_int_equal(c->public_listen_port, 8081);
	assert_secret(&c->auth.gitlab_token, "read-t0ken");
	assert_null(c->auth.eventbridge_api_key_header);
	assert_null(c->auth.eventbridge_api_key.bytes);
	assert_string_equal(c->auth.eventbridge_basic_user, "eventbridge");
	assert_secret(&c->auth.eventbridge_basic_password, "s3cret:pw");
	assert_int_equal(c->limits.max_body_bytes, 2048);
	assert_int_equal(c->limits.max_inflight_bytes, 4096);
	assert_int_equal(c->limits.busy_timeout_ms, 500);
	assert_int_equal(c->limits.max_inflight, 8);
	assert_int_equal(c->limits.rejected_keep, 0);
	assert_null(c->trigger.url);
	assert_int_equal(c->trigger.n_command, 3);
	assert_non_null(c->trigger.command);
	assert_string_equal(c->trigger.command[0], "/usr/local/bin/run-terraform-resources");
	assert_string_equal(c->trigger.command[1], "--account");
	assert_string_equal(c->trigger.command[2], "image-builder-stage");
	assert_null(c->trigger.command[3]);
	assert_int_equal(c->trigger.timeout_seconds, 30);
	assert_int_equal(c->trigger.backoff_max_seconds, 60);
	assert_string_equal(c->asgs[0].git->url, "http://gitlab.internal:8080/platform/golden-images");
	assert_string_equal(c->asgs[0].git->ref, "main"); /* refs/heads/ dropped */
}

/* ---- errors, one at a time ---------------------------------------------- */

struct err_case {
	const char *name;
	const char *find;  /* in MINIMAL, exactly once */
	const char *repl;
	unsigned line, col;
	const char *msg;
	int n;             /* diagnostics expected; -1: at least this one */
};

#define L2 "  gitlab: { token_file: @D@/gitlab-token }\n"
#define L4 "  admin: { token_file: @D@/admin-token }\n"
#define L6 "  url: http://127.0.0.1:9000/hook\n"
#define L8 "  - { name: stage, uid: \"444455556666\" }\n"
#define L13 "    region: eu-west-1\n"
#define LAST "      repo: { url: https://gitlab.example.net/platform/golden-images, ref: main, tag_name: git-sha }\n"
#define IMAGE "    image:\n" LAST

static const struct err_case err_cases[] = {
	/* unknown keys */
	{ "unknown top-level key", "accounts:\n", "colour: blue\naccounts:\n", 7, 1,
	  "unknown key \"colour\" in the configuration", 1 },
	{ "unknown key in trigger", L6, L6 "  retries: 3\n", 7, 3, "unknown key \"retries\" in trigger", 1 },
	{ "unknown key in an ASG", L13, L13 "    regoin: eu-west-2\n", 14, 5,
	  "unknown key \"regoin\" in a terraformResources entry", 1 },
	{ "unknown key in a flow mapping", L8, "  - { name: stage, uid: \"444455556666\", owner: me }\n", 8, 41,
	  "unknown key \"owner\" in an account", 1 },
	{ "unknown key in image.repo", "tag_name: git-sha }", "tag_name: git-sha, branch: dev }", 15,
	  6 + 13 + 49 + 2 + 9 + 2 + 17 + 2 + 1, "unknown key \"branch\" in image.repo", 1 },
	{ "unknown key in auth", L4, L4 "  gitlab_token: { token_file: x }\n", 5, 3, "unknown key \"gitlab_token\" in auth",
	  1 },
	{ "repeated key", L13, L13 "    region: eu-west-2\n", 14, 5, "duplicate key \"region\"", 1 },
	/* public_listen (design §4) */
	{ "public_listen equal to listen", "accounts:\n",
	  "listen: 127.0.0.1:8080\npublic_listen: 127.0.0.1:8080\naccounts:\n", 8, 16,
	  "\"public_listen\" must differ from \"listen\" (127.0.0.1:8080)", 1 },
	{ "public_listen on all addresses, listen's port", "accounts:\n",
	  "public_listen: 0.0.0.0:8080\naccounts:\n", 7, 16,
	  "\"public_listen\" must differ from \"listen\" (127.0.0.1:8080)", 1 },
	{ "public_listen without a host", "accounts:\n", "public_listen: 8443\naccounts:\n", 7, 16,
	  "\"public_listen\" must be \"host:port\", not \"8443\"", 1 },
	{ "public_listen bad port", "accounts:\n", "public_listen: 0.0.0.0:http\naccounts:\n", 7, 16,
	  "\"public_listen\": bad port in \"0.0.0.0:http\"", 1 },
	/* wrong types */
	{ "mapping where a string is expected", L13, "    region: { name: eu-west-1 }\n", 13, 13,
	  "\"region\" must be a string, not a mapping", 1 },
	{ "list where a string is expected", "    identifier: workers-stage\n", "    identifier: [workers-stage]\n", 11,
	  17, "\"identifier\" must be a string, not a list", 1 },
	{ "inline secret instead of a mapping", L2, "  gitlab: glpat-inline\n", 2, 11,
	  "\"gitlab\" must be a mapping, not a scalar", 1 },
	{ "max_body_bytes not an integer", "accounts:\n", "limits: { max_body_bytes: 1MB }\naccounts:\n", 7, 27,
	  "\"max_body_bytes\" must be an integer, not \"1MB\"", 1 },
	{ "max_body_bytes a mapping", "accounts:\n", "limits: { max_body_bytes: { mb: 1 } }\naccounts:\n", 7, 27,
	  "\"max_body_bytes\" must be an integer, not a mapping", 1 },
	{ "max_body_bytes out of range", "accounts:\n", "limits:\n  max_body_bytes: 12\naccounts:\n", 8, 19,
	  "\"max_body_bytes\" must be between 1024 and", 1 },
	{ "max_inflight_bytes below max_body_bytes", "accounts:\n",
	  "limits:\n  max_body_bytes: 4096\n  max_inflight_bytes: 2048\naccounts:\n", 9, 23,
	  "\"max_inflight_bytes\" (2048) must be at least \"max_body_bytes\" (4096)", 1 },
	{ "max_inflight_bytes below the default max_body_bytes", "accounts:\n",
	  "limits: { max_inflight_bytes: 1048576 }\naccounts:\n", 7, 31,
	  "\"max_inflight_bytes\" (1048576) must be at least \"max_body_bytes\" (26214400)", 1 },
	{ "image neither mapping nor list", IMAGE, "    image: golden-images\n", 14, 12,
	  "\"image\" must be a mapping {repo: …} or a list of filters", 1 },
	/* secrets */
	{ "missing secret file", L2, "  gitlab: { token_file: @D@/no-such-token }\n", 2, 25,
	  "auth.gitlab: secret file cannot be read", 1 },
	{ "_env names an unset variable", L4, "  admin: { token_env: " ENV_UNSET " }\n", 4, 23,
	  "auth.admin: environment variable " ENV_UNSET " is not set", 1 },
	{ "both token_file and token_env", L4, "  admin: { token_env: " ENV_SET ", token_file: @D@/admin-token }\n", 4, 23,
	  "auth.admin: give either \"token_file\" or \"token_env\", not both", 1 },
	{ "neither token_file nor token_env", L4, "  admin: { }\n", 4, 10, "auth.admin: missing \"token_file\" or \"token_env\"",
	  1 },
	{ "empty secret file", L4, "  admin: { token_file: @D@/empty-token }\n", 4, 24, "auth.admin: the secret is empty",
	  1 },
	{ "neither gitlab nor gitlab_signing", L2, "", 2, 3,
	  "auth: give \"gitlab\" (X-Gitlab-Token), \"gitlab_signing\" (webhook-signature) or both", 1 },
	{ "gitlab null, no gitlab_signing", L2, "  gitlab: ~\n", 2, 3,
	  "auth: give \"gitlab\" (X-Gitlab-Token), \"gitlab_signing\" (webhook-signature) or both", 1 },
	{ "signing secret not base64", L2, L2 "  gitlab_signing: { secret_file: @D@/bad-signing }\n", 3, 19,
	  "the secret must be \"whsec_\" followed by base64", 1 },
	/* cross references */
	{ "unknown account", "    account: stage\n", "    account: prod\n", 12, 14,
	  "unknown account \"prod\" (not in accounts)", 1 },
	{ "uid not 12 digits", L8, "  - { name: stage, uid: \"4444\" }\n", 8, 25, "uid must be a 12-digit AWS account id", 1 },
	{ "duplicate identifier", LAST,
	  LAST "  - provider: asg\n    identifier: workers-stage\n    account: stage\n    region: eu-west-2\n" IMAGE, 17, 17,
	  "duplicate identifier \"workers-stage\"", -1 },
	{ "bad policy", L13, L13 "    policy: newest\n", 14, 13, "policy must be \"head\" or \"latest\", not \"newest\"", 1 },
	/* refs */
	{ "ref with ..", "ref: main,", "ref: ma..in,", 15, MIN_REF_COL,
	  "ref \"ma..in\" is neither a branch name nor a 40- or 64-hex commit", 1 },
	{ "ref starting with -", "ref: main,", "ref: -x,", 15, MIN_REF_COL,
	  "ref \"-x\" is neither a branch name nor a 40- or 64-hex commit", 1 },
	{ "ref with a blank", "ref: main,", "ref: a b,", 15, MIN_REF_COL,
	  "ref \"a b\" is neither a branch name nor a 40- or 64-hex commit", 1 },
	{ "ref ending in .lock", "ref: main,", "ref: feature.lock,", 15, MIN_REF_COL,
	  "ref \"feature.lock\" is neither", 1 },
	/* image filters */
	{ "image list without a git filter", IMAGE,
	  "    image:\n      - { provider: static, tag_name: image-role, value: worker }\n", 15, 7,
	  "ASG \"workers-stage\": the image filters need exactly one \"provider: git\" filter, found 0", 1 },
	{ "image list with two git filters", IMAGE,
	  "    image:\n"
	  "      - { provider: git, tag_name: git-sha, url: https://gitlab.example.net/a/b, ref: main }\n"
	  "      - { provider: git, tag_name: git-sha, url: https://gitlab.example.net/c/d, ref: main }\n",
	  15, 7, "exactly one \"provider: git\" filter, found 2", 1 },
	{ "repo url without a path", "url: https://gitlab.example.net/platform/golden-images,",
	  "url: https://gitlab.example.net,", 15, 20, "\"https://gitlab.example.net\" is not a repository URL", 1 },
	/* trigger */
	{ "trigger.token_optional not a boolean", L6, L6 "  token_optional: maybe\n", 7, 19,
	  "trigger.token_optional must be true or false", 1 },
	{ "trigger token file missing, not optional", L6, L6 "  token_file: @D@/no-such-token\n", 7, 15,
	  "trigger: secret file cannot be read", 1 },
	{ "trigger.token_optional: an empty file is still an error", L6,
	  L6 "  token_file: @D@/empty-token\n  token_optional: true\n", 7, 15, "trigger: the secret is empty", 1 },
	{ "trigger with url and command", L6, L6 "  command: [/usr/local/bin/run-terraform-resources]\n", 7, 12,
	  "trigger: give either \"url\" or \"command\", not both", 1 },
	{ "trigger with neither", L6, "  timeout_seconds: 5\n", 6, 3, "trigger: missing \"url\" or \"command\"", 1 },
	{ "trigger command relative", L6, "  command: [run-terraform-resources]\n", 6, 12,
	  "the program must be an absolute path", 1 },
	/* accounts[].aws (L8's flow mapping: the aws value starts at column 46, its first key at 48) */
	{ "aws: key id without secret", L8,
	  "  - { name: stage, uid: \"444455556666\", aws: { access_key_id_env: " ENV_SET " } }\n", 8, 46,
	  "account \"stage\": aws: missing \"secret_access_key_file\" or \"secret_access_key_env\" (access_key_id is given", 1 },
	{ "aws: secret without key id", L8,
	  "  - { name: stage, uid: \"444455556666\", aws: { secret_access_key_file: @D@/aws-secret } }\n", 8, 46,
	  "account \"stage\": aws: missing \"access_key_id_file\" or \"access_key_id_env\" (secret_access_key is given", 1 },
	{ "aws: key id from file and env", L8,
	  "  - { name: stage, uid: \"444455556666\", aws: { access_key_id_env: " ENV_SET
	  ", access_key_id_file: @D@/aws-key-id, secret_access_key_file: @D@/aws-secret } }\n", 8, 67,
	  "account \"stage\": aws: give either \"access_key_id_file\" or \"access_key_id_env\", not both", 1 },
	{ "aws: key id file missing", L8,
	  "  - { name: stage, uid: \"444455556666\", aws: { access_key_id_file: @D@/no-such, secret_access_key_env: "
	  ENV_SET " } }\n", 8, 68, "account \"stage\": aws: secret file cannot be read", 1 },
	{ "aws: secret env unset", L8,
	  "  - { name: stage, uid: \"444455556666\", aws: { access_key_id_env: " ENV_SET ", secret_access_key_env: "
	  ENV_UNSET " } }\n", 8, 111, "account \"stage\": aws: environment variable " ENV_UNSET " is not set", 1 },
	{ "aws: empty key id file", L8,
	  "  - { name: stage, uid: \"444455556666\", aws: { access_key_id_file: @D@/empty-token, secret_access_key_env: "
	  ENV_SET " } }\n", 8, 68, "account \"stage\": aws: the secret is empty", 1 },
	{ "aws: bad role_arn", L8,
	  "  - { name: stage, uid: \"444455556666\", aws: { role_arn: \"arn:aws:iam::4444:role/x\" } }\n", 8, 58,
	  "account \"stage\": aws: role_arn \"arn:aws:iam::4444:role/x\" is not an IAM role ARN", 1 },
	{ "aws: a scalar", L8, "  - { name: stage, uid: \"444455556666\", aws: yes }\n", 8, 46,
	  "account \"stage\": \"aws\" must be a mapping (\"aws: {}\" for the default credentials), not a scalar", 1 },
	{ "aws: empty value", L8, "  - { name: stage, uid: \"444455556666\", aws: ~ }\n", 8, 46,
	  "\"aws\" must be a mapping (\"aws: {}\" for the default credentials), not empty", 1 },
	{ "aws: unknown key", L8, "  - { name: stage, uid: \"444455556666\", aws: { access_key: AKIA } }\n", 8, 48,
	  "unknown key \"access_key\" in an account's aws", 1 },
	{ "aws: inline secret key", L8,
	  "  - { name: stage, uid: \"444455556666\", aws: { access_key_id_env: " ENV_SET ", secret_access_key: x } }\n",
	  8, 88, "unknown key \"secret_access_key\" in an account's aws", 2 },
	/* accounts[].org_arns (L8: org_arns at column 41, its value at 51) */
	{ "org_arns: OU without its organization", L8,
	  "  - { name: stage, uid: \"444455556666\", org_arns: [\"arn:aws:organizations::111122223333:ou/ou-ab12-cdefgh12\"] }\n",
	  8, 52, "account \"stage\": \"arn:aws:organizations::111122223333:ou/ou-ab12-cdefgh12\" is not an organization or OU ARN",
	  1 },
	{ "org_arns: second entry bad", L8,
	  "  - { name: stage, uid: \"444455556666\", org_arns: [arn:aws:organizations::111122223333:organization/o-abcdefghij,"
	  " o-abcdefghij] }\n", 8, 52 + 61 + 2, "\"o-abcdefghij\" is not an organization or OU ARN", 1 },
	{ "org_arns: a scalar", L8,
	  "  - { name: stage, uid: \"444455556666\", org_arns: arn:aws:organizations::111122223333:organization/o-abcdefghij }\n",
	  8, 51, "account \"stage\": \"org_arns\" must be a list, not a scalar", 1 },
	{ "org_arns: a mapping entry", L8, "  - { name: stage, uid: \"444455556666\", org_arns: [{ arn: x }] }\n", 8, 52,
	  "account \"stage\": each org_arns entry must be a string", 1 },
	/* aws (inserted as line 7) */
	{ "aws: web identity without role", "accounts:\n",
	  "aws: { web_identity_token_file: /var/run/secrets/token }\naccounts:\n", 7, 33,
	  "aws: web_identity_token_file needs role_arn", 1 },
	{ "aws: role_arn of a user", "accounts:\n",
	  "aws: { web_identity_token_file: /t, role_arn: \"arn:aws:iam::123456789012:user/x\" }\naccounts:\n", 7, 47,
	  "aws: role_arn \"arn:aws:iam::123456789012:user/x\" is not an IAM role ARN", 1 },
	{ "aws: unknown key", "accounts:\n", "aws: { region: eu-west-1 }\naccounts:\n", 7, 8,
	  "unknown key \"region\" in aws", 1 },
	{ "aws: a list", "accounts:\n", "aws: [a]\naccounts:\n", 7, 6, "\"aws\" must be a mapping, not a list", 1 },
	{ "aws.endpoints: not http", "accounts:\n", "aws: { endpoints: { ec2: ftp://ec2.local } }\naccounts:\n", 7, 26,
	  "aws.endpoints.ec2: \"ftp://ec2.local\" is not an http:// or https:// URL", 1 },
	{ "aws.endpoints: query", "accounts:\n", "aws: { endpoints: { sts: \"http://127.0.0.1:9100/?a=b\" } }\naccounts:\n", 7,
	  26, "aws.endpoints.sts: \"http://127.0.0.1:9100/?a=b\" is not an http:// or https:// URL", 1 },
	{ "aws.endpoints: port 0", "accounts:\n", "aws: { endpoints: { sts: \"http://127.0.0.1:0\" } }\naccounts:\n", 7,
	  26, "aws.endpoints.sts: \"http://127.0.0.1:0\" is not", 1 },
	{ "aws.endpoints: unknown key", "accounts:\n", "aws: { endpoints: { s3: http://s3.local } }\naccounts:\n", 7, 21,
	  "unknown key \"s3\" in aws.endpoints", 1 },
	{ "aws.endpoints: a string", "accounts:\n", "aws: { endpoints: http://x }\naccounts:\n", 7, 19,
	  "\"endpoints\" must be a mapping, not a scalar", 1 },
	{ "aws.sts_region: bad", "accounts:\n", "aws: { sts_region: EU }\naccounts:\n", 7, 20,
	  "aws.sts_region: \"EU\" is not an AWS region name", 1 },
	/* gitlab_api (inserted as lines 7…) */
	{ "gitlab_api: a mapping", "accounts:\n", "gitlab_api: { url: https://gitlab.example.net }\naccounts:\n", 7, 13,
	  "\"gitlab_api\" must be a list of {url, token_file}, not a mapping", 1 },
	{ "gitlab_api: not http", "accounts:\n",
	  "gitlab_api:\n  - { url: ftp://gitlab.example.net, token_file: @D@/gitlab-api-token }\naccounts:\n", 8, 12,
	  "gitlab_api: \"ftp://gitlab.example.net\" is not an http:// or https:// URL", 1 },
	{ "gitlab_api: duplicate url", "accounts:\n",
	  "gitlab_api:\n"
	  "  - { url: https://gitlab.example.net, token_file: @D@/gitlab-api-token }\n"
	  "  - { url: \"HTTPS://GitLab.Example.NET/\", token_env: " ENV_SET " }\naccounts:\n",
	  9, 12, "duplicate gitlab_api url \"https://gitlab.example.net\"", 1 },
	{ "gitlab_api: no token", "accounts:\n", "gitlab_api:\n  - { url: https://gitlab.example.net }\naccounts:\n", 8, 5,
	  "gitlab_api \"https://gitlab.example.net\": missing \"token_file\" or \"token_env\"", 1 },
	{ "gitlab_api: token file missing", "accounts:\n",
	  "gitlab_api:\n  - { url: https://gitlab.example.net, token_file: /no/such/token }\naccounts:\n", 8, 52,
	  "gitlab_api \"https://gitlab.example.net\": secret file cannot be read", 1 },
	{ "gitlab_api: no url", "accounts:\n", "gitlab_api:\n  - { token_env: " ENV_SET " }\naccounts:\n", 8, 5,
	  "missing required key \"url\"", 1 },
	{ "gitlab_api: a string entry", "accounts:\n", "gitlab_api:\n  - https://gitlab.example.net\naccounts:\n", 8, 5,
	  "each gitlab_api entry must be a mapping {url, token_file}", 1 },
	{ "gitlab_api: unknown key", "accounts:\n",
	  "gitlab_api:\n  - { url: https://gitlab.example.net, token_env: " ENV_SET ", private_token: x }\naccounts:\n", 8,
	  6 + 5 + 26 + 2 + 11 + 19 + 2 + 1, "unknown key \"private_token\" in a gitlab_api entry", 1 },
	/* reconcile (inserted as line 7) */
	{ "reconcile: interval 0", "accounts:\n", "reconcile: { interval_seconds: 0 }\naccounts:\n", 7, 32,
	  "\"interval_seconds\" must be between 1 and 86400, not 0", 1 },
	{ "reconcile: waiting interval too long", "accounts:\n",
	  "reconcile: { waiting_interval_seconds: 86401 }\naccounts:\n", 7, 40,
	  "\"waiting_interval_seconds\" must be between 1 and 86400, not 86401", 1 },
	{ "reconcile: timeout too long", "accounts:\n", "reconcile: { timeout_seconds: 301 }\naccounts:\n", 7, 31,
	  "\"timeout_seconds\" must be between 1 and 300, not 301", 1 },
	{ "reconcile: not an integer", "accounts:\n", "reconcile: { interval_seconds: 5m }\naccounts:\n", 7, 32,
	  "\"interval_seconds\" must be an integer, not \"5m\"", 1 },
	{ "reconcile: unknown key", "accounts:\n", "reconcile: { jitter_seconds: 5 }\naccounts:\n", 7, 14,
	  "unknown key \"jitter_seconds\" in reconcile", 1 },
	{ "reconcile: a list", "accounts:\n", "reconcile: [300]\naccounts:\n", 7, 12,
	  "\"reconcile\" must be a mapping, not a list", 1 },
	/* syntax */
	{ "YAML syntax error", L6, "  url: a: b\n", 6, 9,
	  "YAML syntax error: mapping values are not allowed in this context", 1 },
};

static void test_errors(void **state)
{
	struct fx *fx = *state;

	for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
		const struct err_case *c = &err_cases[i];
		char *text = replace_once(MINIMAL, c->find, c->repl);
		enum amicd_rc rc;

		fx->label = c->name;
		rc = load(fx, text);
		free(text);
		assert_failed(fx, rc, AMICD_ERR_CONFIG, c->n);
		assert_diag(fx, c->line, c->col, c->msg);
	}
	fx->label = NULL;
}

/* ---- near misses: "did you mean", and a typo hides nothing under it ------ */

struct near_want {
	unsigned line, col;
	const char *msg;
};

struct near_case {
	const char *name;
	const char *find;  /* in MINIMAL, exactly once */
	const char *repl;
	int n;             /* diagnostics expected, all listed in want */
	struct near_want want[4];
};

static const struct near_case near_cases[] = {
	/* top level: the misspelt section is checked as the one it stands for, and the real one is missing */
	{ "top-level typo", "trigger:\n", "triger:\n", 2,
	  { { 5, 1, "unknown key \"triger\" in the configuration (did you mean \"trigger\"?)" },
	    { 1, 1, "missing required key \"trigger\"" } } },
	{ "top-level typo, errors under it", "trigger:\n" L6, "triger:\n  url: ftp://x\n  timeout_seconds: 0\n", 4,
	  { { 5, 1, "unknown key \"triger\" in the configuration (did you mean \"trigger\"?)" },
	    { 1, 1, "missing required key \"trigger\"" },
	    { 6, 8, "trigger.url must be an http:// or https:// URL" },
	    { 7, 20, "\"timeout_seconds\" must be between 1 and 3600, not 0" } } },
	{ "top-level case", "trigger:\n", "Trigger:\n", 2,
	  { { 5, 1, "unknown key \"Trigger\" in the configuration (did you mean \"trigger\"?)" },
	    { 1, 1, "missing required key \"trigger\"" } } },
	{ "top-level far miss", "trigger:\n", "bogus:\n", 2,
	  { { 5, 1, "unknown key \"bogus\" in the configuration" }, { 1, 1, "missing required key \"trigger\"" } } },
	{ "accounts misspelt: its entries checked, the ASG's account found", "accounts:\n" L8,
	  "acounts:\n  - { name: stage, uid: \"4444\" }\n", 3,
	  { { 7, 1, "unknown key \"acounts\" in the configuration (did you mean \"accounts\"?)" },
	    { 1, 1, "missing required key \"accounts\"" },
	    { 8, 25, "account \"stage\": uid must be a 12-digit AWS account id" } } },
	{ "terraformResources misspelt: its entries checked",
	  "terraformResources:\n  - provider: asg\n    identifier: workers-stage\n    account: stage\n" L13,
	  "terraformresources:\n  - provider: asg\n    identifier: workers-stage\n    account: stage\n    region: EU\n", 3,
	  { { 9, 1, "unknown key \"terraformresources\" in the configuration (did you mean \"terraformResources\"?)" },
	    { 1, 1, "missing required key \"terraformResources\"" },
	    { 13, 13, "\"EU\" is not an AWS region name" } } },
	{ "optional section misspelt: still checked", "accounts:\n", "limts: { max_body_bytes: 1 }\naccounts:\n", 2,
	  { { 7, 1, "unknown key \"limts\" in the configuration (did you mean \"limits\"?)" },
	    { 7, 26, "\"max_body_bytes\" must be between 1024 and 67108864, not 1" } } },
	/* inside a section: the rest of it is checked */
	{ "trigger key typo", L6, "  urll: http://127.0.0.1:9000/hook\n  timeout_seconds: 0\n", 3,
	  { { 6, 3, "unknown key \"urll\" in trigger (did you mean \"url\"?)" },
	    { 6, 3, "trigger: missing \"url\" or \"command\"" },
	    { 7, 20, "\"timeout_seconds\" must be between 1 and 3600, not 0" } } },
	{ "limits key typo", "accounts:\n", "limits: { max_body_byte: 10, busy_timeout_ms: 1 }\naccounts:\n", 2,
	  { { 7, 11, "unknown key \"max_body_byte\" in limits (did you mean \"max_body_bytes\"?)" },
	    { 7, 47, "\"busy_timeout_ms\" must be between 10 and 60000, not 1" } } },
	{ "secret key typo", L4, "  admin: { token_fil: @D@/admin-token }\n", 2,
	  { { 4, 12, "unknown key \"token_fil\" in auth.admin (did you mean \"token_file\"?)" },
	    { 4, 10, "auth.admin: missing \"token_file\" or \"token_env\"" } } },
	{ "image misspelt: its filters checked", "    image:\n      repo: { url: https://gitlab.example.net/platform/golden-images, ref: main,",
	  "    imag:\n      repo: { url: https://gitlab.example.net/platform/golden-images, ref: ma..in,", 3,
	  { { 14, 5, "unknown key \"imag\" in a terraformResources entry (did you mean \"image\"?)" },
	    { 10, 5, "ASG \"workers-stage\": missing required key \"image\"" },
	    { 15, MIN_REF_COL, "ref \"ma..in\" is neither a branch name nor a 40- or 64-hex commit" } } },
	/* account names */
	{ "account name typo", "    account: stage\n", "    account: stgae\n", 1,
	  { { 12, 14, "unknown account \"stgae\" (not in accounts; did you mean \"stage\"?)" } } },
	{ "account name case", "    account: stage\n", "    account: Stage\n", 1,
	  { { 12, 14, "unknown account \"Stage\" (not in accounts; did you mean \"stage\"?)" } } },
	{ "account name far", "    account: stage\n", "    account: prod\n", 1,
	  { { 12, 14, "unknown account \"prod\" (not in accounts)" } } },
};

static void test_near_misses(void **state)
{
	struct fx *fx = *state;

	for (size_t i = 0; i < sizeof near_cases / sizeof near_cases[0]; i++) {
		const struct near_case *c = &near_cases[i];
		char *text = replace_once(MINIMAL, c->find, c->repl);
		enum amicd_rc rc;
		bool suggests = false;

		fx->label = c->name;
		rc = load(fx, text);
		free(text);
		assert_failed(fx, rc, AMICD_ERR_CONFIG, c->n);
		for (int k = 0; k < c->n; k++) {
			assert_diag(fx, c->want[k].line, c->want[k].col, c->want[k].msg);
			suggests = suggests || strstr(c->want[k].msg, "did you mean") != NULL;
		}
		if (!suggests)
			assert_no_diag_contains(fx, "did you mean");
	}
	fx->label = NULL;
}

/* Two ASGs without an identifier sharing a pin file: every error, never a crash (it was a NULL strcmp). */
static void test_no_identifiers_same_pin_file(void **state)
{
	struct fx *fx = *state;
	const char *asg = "  - provider: asg\n    account: stage\n    region: eu-west-1\n    pin: { file: /tmp/same.yml }\n"
			  "    image:\n" LAST;
	char *one = replace_once(MINIMAL, "  - provider: asg\n    identifier: workers-stage\n    account: stage\n"
				 "    region: eu-west-1\n" IMAGE, asg);
	char *text = NULL;
	enum amicd_rc rc;

	assert_non_null(one);
	assert_true(asprintf(&text, "%s%s", one, asg) > 0);
	rc = load(fx, text);
	assert_failed(fx, rc, AMICD_ERR_CONFIG, -1);
	assert_diag(fx, 10, 5, "missing required key \"identifier\"");
	assert_diag(fx, 16, 5, "missing required key \"identifier\"");
	assert_diag(fx, 16, 5, "ASG \"(no identifier)\" and \"(no identifier)\" would write the same pin file /tmp/same.yml");
	free(one);
	free(text);
}

/* Diagnostics name what is wrong, never the secret itself. */
static void test_errors_hide_secrets(void **state)
{
	struct fx *fx = *state;
	char *text = replace_once(MINIMAL, L2, "  gitlab: glpat-inline\n");
	enum amicd_rc rc = load(fx, text);

	free(text);
	assert_failed(fx, rc, AMICD_ERR_CONFIG, 1);
	assert_no_diag_contains(fx, "glpat-inline");

	text = replace_once(MINIMAL, L2, L2 "  gitlab_signing: { secret_file: @D@/bad-signing }\n");
	rc = load(fx, text);
	free(text);
	assert_failed(fx, rc, AMICD_ERR_CONFIG, 1);
	assert_no_diag_contains(fx, "not*base64");

	/* the value of an environment variable named twice is not shown either */
	text = replace_once(MINIMAL, L4, "  admin: { token_env: " ENV_SET ", token_file: @D@/admin-token }\n");
	rc = load(fx, text);
	free(text);
	assert_failed(fx, rc, AMICD_ERR_CONFIG, 1);
	assert_no_diag_contains(fx, "read-t0ken");

	/* nor AWS keys or a GitLab API token, whatever is wrong around them */
	text = replace_once(MINIMAL, L8,
			    "  - { name: stage, uid: \"444455556666\", aws: { access_key_id_file: @D@/aws-key-id,"
			    " access_key_id_env: " ENV_SET ", secret_access_key_file: @D@/aws-secret, role_arn: x } }\n"
			    "gitlab_api: [{ url: ftp://h, token_env: " ENV_SET ", token_file: @D@/gitlab-api-token }]\n");
	rc = load(fx, text);
	free(text);
	assert_failed(fx, rc, AMICD_ERR_CONFIG, 4);
	assert_no_diag_contains(fx, "read-t0ken");
	assert_no_diag_contains(fx, "AKIAEXAMPLEKEYID");
	assert_no_diag_contains(fx, "EXAMPLE");
	assert_no_diag_contains(fx, "glpat-api");
}

/* ---- the reconciler's keys (design §9) ---------------------------------- */

/* MINIMAL's first lines, then every reconciler key; ACCOUNTS_END marks where more accounts may go. */
static const char RECON[] =
	"auth:\n"
	"  gitlab: { token_file: @D@/gitlab-token }\n"
	"  eventbridge: { api_key_header: x-api-key, api_key_file: @D@/eb-key }\n"
	"  admin: { token_file: @D@/admin-token }\n"
	"trigger:\n"
	"  url: http://127.0.0.1:9000/hook\n"
	"accounts:\n"
	"  - name: stage\n"
	"    uid: \"444455556666\"\n"
	"    aws:\n"
	"      access_key_id_file: @D@/aws-key-id\n"
	"      secret_access_key_env: " ENV_SET "\n"
	"      role_arn: arn:aws:iam::444455556666:role/amicd-read\n"
	"    org_arns:\n"
	"      - arn:aws:organizations::111122223333:organization/o-a1b2c3d4e5\n"
	"      - arn:aws:organizations::111122223333:ou/o-a1b2c3d4e5/ou-ab12-cdefgh12\n"
	"  - { name: prod, uid: \"111122223333\", aws: {} }\n"
	"  - { name: gov, uid: \"222233334444\", aws: { role_arn: \"arn:aws-us-gov:iam::222233334444:role/ci/amicd\" },"
	" org_arns: [] }\n"
	"  - { name: events-only, uid: \"333344445555\" }\n"
	"aws:\n"
	"  web_identity_token_file: /var/run/secrets/openshift/serviceaccount/token\n"
	"  role_arn: arn:aws:iam::999988887777:role/amicd\n"
	"  endpoints: { ec2: \"HTTP://127.0.0.1:9100/\", sts: \"https://STS.eu-west-1.amazonaws.com\" }\n"
	"  sts_region: eu-west-1\n"
	"gitlab_api:\n"
	"  - { url: \"HTTPS://GitLab.Example.NET/\", token_file: @D@/gitlab-api-token }\n"
	"  - { url: \"http://gitlab.internal:8080/GitLab//\", token_env: " ENV_SET " }\n"
	"reconcile: { interval_seconds: 600, waiting_interval_seconds: 30, timeout_seconds: 5 }\n"
	"terraformResources:\n"
	"  - provider: asg\n"
	"    identifier: workers-stage\n"
	"    account: stage\n"
	"    region: eu-west-1\n"
	"    image:\n"
	"      repo: { url: https://gitlab.example.net/platform/golden-images, ref: main, tag_name: git-sha }\n";

static void test_reconciler_keys(void **state)
{
	struct fx *fx = *state;
	const struct config *c;
	const struct config_account *a;

	assert_loaded(fx, load(fx, RECON));
	c = fx->cfg;
	assert_int_equal(c->n_accounts, 4);

	/* static keys from a file and the environment, trimmed; a role to assume */
	a = &c->accounts[0];
	assert_true(a->has_aws);
	assert_secret(&a->aws.access_key_id, "AKIAEXAMPLEKEYID");
	assert_secret(&a->aws.secret_access_key, "read-t0ken");
	assert_string_equal(a->aws.role_arn, "arn:aws:iam::444455556666:role/amicd-read");
	assert_int_equal(a->n_org_arns, 2);
	assert_string_equal(a->org_arns[0], "arn:aws:organizations::111122223333:organization/o-a1b2c3d4e5");
	assert_string_equal(a->org_arns[1], "arn:aws:organizations::111122223333:ou/o-a1b2c3d4e5/ou-ab12-cdefgh12");

	/* "aws: {}": asked as this account, with the defaults */
	a = &c->accounts[1];
	assert_true(a->has_aws);
	assert_null(a->aws.access_key_id.bytes);
	assert_null(a->aws.secret_access_key.bytes);
	assert_null(a->aws.role_arn);
	assert_int_equal(a->n_org_arns, 0);

	/* a role only, another partition, a role path; org_arns empty */
	a = &c->accounts[2];
	assert_true(a->has_aws);
	assert_null(a->aws.access_key_id.bytes);
	assert_string_equal(a->aws.role_arn, "arn:aws-us-gov:iam::222233334444:role/ci/amicd");
	assert_int_equal(a->n_org_arns, 0);

	/* no aws: events alone */
	a = &c->accounts[3];
	assert_false(a->has_aws);
	assert_null(a->aws.access_key_id.bytes);
	assert_null(a->aws.secret_access_key.bytes);
	assert_null(a->aws.role_arn);
	assert_null(a->org_arns);
	assert_int_equal(a->n_org_arns, 0);

	assert_string_equal(c->aws.web_identity_token_file, "/var/run/secrets/openshift/serviceaccount/token");
	assert_string_equal(c->aws.role_arn, "arn:aws:iam::999988887777:role/amicd");
	assert_string_equal(c->aws.endpoint_ec2, "http://127.0.0.1:9100");
	assert_string_equal(c->aws.endpoint_sts, "https://sts.eu-west-1.amazonaws.com");
	assert_string_equal(c->aws.sts_region, "eu-west-1");

	/* scheme and host lower-cased, trailing '/' dropped, the path as written */
	assert_int_equal(c->n_gitlab_apis, 2);
	assert_string_equal(c->gitlab_apis[0].url, "https://gitlab.example.net");
	assert_secret(&c->gitlab_apis[0].token, "glpat-api");
	assert_string_equal(c->gitlab_apis[1].url, "http://gitlab.internal:8080/GitLab");
	assert_secret(&c->gitlab_apis[1].token, "read-t0ken");

	assert_int_equal(c->reconcile.interval_seconds, 600);
	assert_int_equal(c->reconcile.waiting_interval_seconds, 30);
	assert_int_equal(c->reconcile.timeout_seconds, 5);
}

/* Without the new keys: nothing polled, reconcile's defaults; a partial reconcile keeps the others' defaults. */
static void test_reconciler_defaults(void **state)
{
	struct fx *fx = *state;
	const struct config *c;
	char *text;
	enum amicd_rc rc;

	assert_loaded(fx, load(fx, MINIMAL));
	c = fx->cfg;
	assert_false(c->accounts[0].has_aws);
	assert_null(c->accounts[0].org_arns);
	assert_int_equal(c->accounts[0].n_org_arns, 0);
	assert_null(c->aws.web_identity_token_file);
	assert_null(c->aws.role_arn);
	assert_null(c->aws.endpoint_ec2);
	assert_null(c->aws.endpoint_sts);
	assert_null(c->aws.sts_region);
	assert_null(c->gitlab_apis);
	assert_int_equal(c->n_gitlab_apis, 0);
	assert_int_equal(c->reconcile.interval_seconds, 300);
	assert_int_equal(c->reconcile.waiting_interval_seconds, 60);
	assert_int_equal(c->reconcile.timeout_seconds, 10);
	assert_null(config_gitlab_api_for(c, GOLDEN));

	/* "aws:" and "gitlab_api:" with nothing under them (all commented out) are absent; bounds are inclusive */
	text = replace_once(MINIMAL, "accounts:\n",
			    "aws:\n  # web_identity_token_file: /t\ngitlab_api:\nreconcile: { waiting_interval_seconds: 1, "
			    "timeout_seconds: 300 }\naccounts:\n");
	rc = load(fx, text);
	free(text);
	assert_loaded(fx, rc);
	c = fx->cfg;
	assert_null(c->aws.web_identity_token_file);
	assert_int_equal(c->n_gitlab_apis, 0);
	assert_int_equal(c->reconcile.interval_seconds, 300);
	assert_int_equal(c->reconcile.waiting_interval_seconds, 1);
	assert_int_equal(c->reconcile.timeout_seconds, 300);

	/* an empty list, and interval_seconds at its upper bound */
	text = replace_once(MINIMAL, "accounts:\n", "gitlab_api: []\nreconcile: { interval_seconds: 86400 }\naccounts:\n");
	rc = load(fx, text);
	free(text);
	assert_loaded(fx, rc);
	assert_int_equal(fx->cfg->n_gitlab_apis, 0);
	assert_int_equal(fx->cfg->reconcile.interval_seconds, 86400);
}

/*
 * An account with "aws" but neither keys nor role_arn, and an "aws:" without
 * web identity, is valid: the AWS_* environment is read when the reconciler
 * runs, not here (AWS_ACCESS_KEY_ID is made sure to be unset).
 */
static void test_aws_default_chain_valid(void **state)
{
	struct fx *fx = *state;
	char *text = replace_once(MINIMAL, L8, "  - { name: stage, uid: \"444455556666\", aws: {} }\n"
					       "aws: { endpoints: { ec2: \"http://127.0.0.1:9100\" } }\n");
	char *saved = getenv("AWS_ACCESS_KEY_ID") != NULL ? strdup(getenv("AWS_ACCESS_KEY_ID")) : NULL;
	enum amicd_rc rc;

	unsetenv("AWS_ACCESS_KEY_ID");
	rc = load(fx, text);
	free(text);
	if (saved != NULL) {
		setenv("AWS_ACCESS_KEY_ID", saved, 1);
		free(saved);
	}
	assert_loaded(fx, rc);
	assert_true(fx->cfg->accounts[0].has_aws);
	assert_null(fx->cfg->accounts[0].aws.access_key_id.bytes);
	assert_null(fx->cfg->accounts[0].aws.role_arn);
	assert_null(fx->cfg->aws.web_identity_token_file);
	assert_null(fx->cfg->aws.role_arn);
	assert_string_equal(fx->cfg->aws.endpoint_ec2, "http://127.0.0.1:9100");
	assert_null(fx->cfg->aws.endpoint_sts);
}

/* Load MINIMAL with the account's aws set to { role_arn: <arn> }; true when it loaded. */
static bool role_arn_loads(struct fx *fx, const char *arn)
{
	char repl[512];
	char *text;
	enum amicd_rc rc;

	snprintf(repl, sizeof repl, "  - { name: stage, uid: \"444455556666\", aws: { role_arn: \"%s\" } }\n", arn);
	text = replace_once(MINIMAL, L8, repl);
	rc = load(fx, text);
	free(text);
	if (rc == AMICD_OK)
		return true;
	assert_failed(fx, rc, AMICD_ERR_CONFIG, 1);
	assert_diag(fx, 8, 58, "is not an IAM role ARN");
	return false;
}

static void test_role_arns(void **state)
{
	struct fx *fx = *state;
	static const char *const good[] = {
		"arn:aws:iam::123456789012:role/amicd-read",
		"arn:aws-cn:iam::123456789012:role/amicd",
		"arn:aws-us-gov:iam::123456789012:role/amicd",
		"arn:aws:iam::123456789012:role/service-role/team/amicd",
		"arn:aws:iam::123456789012:role/a+b=c,d.e@f_g-h",
		"arn:aws:iam::123456789012:role/"
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl", /* 64 */
	};
	static const char *const bad[] = {
		"",
		"amicd-read",
		"arn:aws:iam::12345678901:role/x",          /* 11 digits */
		"arn:aws:iam::1234567890123:role/x",        /* 13 digits */
		"arn:aws:iam:us-east-1:123456789012:role/x", /* IAM has no region */
		"arn:aws:sts::123456789012:assumed-role/x/y",
		"arn:aws:iam::123456789012:user/x",
		"arn:aws:iam::123456789012:role/",
		"arn:aws:iam::123456789012:role/x/",
		"arn:aws:iam::123456789012:role//x",
		"arn:aws:iam::123456789012:role/a b",
		"arn:aws:iam::123456789012:role/x*",
		"arn:aws:iam::123456789012:role/"
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklm", /* 65 */
		"ARN:aws:iam::123456789012:role/x",
		"arn:AWS:iam::123456789012:role/x",
		"arn:azure:iam::123456789012:role/x",
		" arn:aws:iam::123456789012:role/x",
	};

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		fx->label = good[i];
		if (!role_arn_loads(fx, good[i])) {
			print_diag(fx);
			fail_msg("role_arn \"%s\" rejected, want accepted", good[i]);
		}
		assert_string_equal(fx->cfg->accounts[0].aws.role_arn, good[i]);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		fx->label = bad[i];
		if (role_arn_loads(fx, bad[i]))
			fail_msg("role_arn \"%s\" accepted, want rejected", bad[i]);
	}
	fx->label = NULL;
}

static void test_org_arns(void **state)
{
	struct fx *fx = *state;
	static const char *const good[] = {
		"arn:aws:organizations::111122223333:organization/o-a1b2c3d4e5",
		"arn:aws:organizations::111122223333:organization/o-abcdefghijklmnopqrstuvwxyz012345", /* 32 */
		"arn:aws:organizations::111122223333:ou/o-a1b2c3d4e5/ou-ab12-cdefgh12",
		"arn:aws-cn:organizations::111122223333:ou/o-a1b2c3d4e5/ou-abcdefghijklmnopqrstuvwxyz012345-abcdefgh",
	};
	static const char *const bad[] = {
		"o-a1b2c3d4e5",
		"arn:aws:organizations::111122223333:organization/o-a1b2c3d4",      /* id of 8 */
		"arn:aws:organizations::111122223333:organization/o-A1B2C3D4E5",    /* upper case */
		"arn:aws:organizations::111122223333:organization/o-a1b2c3d4e5/",
		"arn:aws:organizations::111122223333:organization/a1b2c3d4e5",
		"arn:aws:organizations::111122223333:ou/o-a1b2c3d4e5",
		"arn:aws:organizations::111122223333:ou/ou-ab12-cdefgh12",
		"arn:aws:organizations::111122223333:ou/o-a1b2c3d4e5/ou-ab1-cdefgh12", /* root part of 3 */
		"arn:aws:organizations::111122223333:ou/o-a1b2c3d4e5/ou-ab12-cdefgh1", /* ou part of 7 */
		"arn:aws:organizations::111122223333:ou/o-a1b2c3d4e5/ou-ab12cdefgh12",
		"arn:aws:organizations::111122223333:account/o-a1b2c3d4e5/111122223333",
		"arn:aws:organizations:us-east-1:111122223333:organization/o-a1b2c3d4e5",
		"arn:aws:organizations::11112222333:organization/o-a1b2c3d4e5",
		"arn:aws:iam::111122223333:organization/o-a1b2c3d4e5",
	};

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		char repl[512];
		char *text;
		enum amicd_rc rc;

		snprintf(repl, sizeof repl, "  - { name: stage, uid: \"444455556666\", org_arns: [\"%s\"] }\n", good[i]);
		text = replace_once(MINIMAL, L8, repl);
		rc = load(fx, text);
		free(text);
		fx->label = good[i];
		assert_loaded(fx, rc);
		assert_int_equal(fx->cfg->accounts[0].n_org_arns, 1);
		assert_string_equal(fx->cfg->accounts[0].org_arns[0], good[i]);
		assert_false(fx->cfg->accounts[0].has_aws); /* org_arns alone do not make amicd ask EC2 */
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char repl[512];
		char *text;
		enum amicd_rc rc;

		/* a good entry first: only the bad one is reported */
		snprintf(repl, sizeof repl, "  - { name: stage, uid: \"444455556666\", org_arns: [\"%s\", \"%s\"] }\n", good[0],
			 bad[i]);
		text = replace_once(MINIMAL, L8, repl);
		rc = load(fx, text);
		free(text);
		fx->label = bad[i];
		assert_failed(fx, rc, AMICD_ERR_CONFIG, 1);
		assert_diag(fx, 8, (unsigned)(52 + strlen(good[0]) + 4), "is not an organization or OU ARN");
	}
	fx->label = NULL;
}

static void test_gitlab_api_urls(void **state)
{
	struct fx *fx = *state;
	static const struct {
		const char *given, *want;
	} good[] = {
		{ "https://gitlab.example.net", "https://gitlab.example.net" },
		{ "HTTPS://GitLab.Example.NET///", "https://gitlab.example.net" },
		{ "http://gitlab.internal:8080", "http://gitlab.internal:8080" },
		{ "https://Example.NET/GitLab/", "https://example.net/GitLab" },
		{ "https://10.0.0.7:8443/a/b", "https://10.0.0.7:8443/a/b" },
		{ "http://[::1]:8080", "http://[::1]:8080" },
	};
	static const char *const bad[] = {
		"gitlab.example.net",
		"ftp://gitlab.example.net",
		"git@gitlab.example.net:group/project.git",
		"https://",
		"https:///path",
		"https://user@gitlab.example.net",
		"https://gitlab.example.net:",
		"https://gitlab.example.net:0",
		"https://gitlab.example.net:65536",
		"https://gitlab.example.net:123456",
		"https://gitlab.example.net/a?b",
		"https://gitlab.example.net/#x",
		"https://gitlab.example.net/a//b",
		"https://gitlab.example.net/a b",
		"https://-gitlab.example.net",
		"https://[::1",
		"https://gitlab.example.net/gr\xc3\xbcn",
	};

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		char repl[512];
		char *text;
		enum amicd_rc rc;

		snprintf(repl, sizeof repl, "gitlab_api: [{ url: \"%s\", token_env: " ENV_SET " }]\naccounts:\n",
			 good[i].given);
		text = replace_once(MINIMAL, "accounts:\n", repl);
		rc = load(fx, text);
		free(text);
		fx->label = good[i].given;
		assert_loaded(fx, rc);
		assert_int_equal(fx->cfg->n_gitlab_apis, 1);
		assert_string_equal(fx->cfg->gitlab_apis[0].url, good[i].want);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char repl[512];
		char *text;
		enum amicd_rc rc;

		snprintf(repl, sizeof repl, "gitlab_api: [{ url: \"%s\", token_env: " ENV_SET " }]\naccounts:\n", bad[i]);
		text = replace_once(MINIMAL, "accounts:\n", repl);
		rc = load(fx, text);
		free(text);
		fx->label = bad[i];
		assert_failed(fx, rc, AMICD_ERR_CONFIG, 1);
		assert_diag(fx, 7, 21, "is not an http:// or https:// URL (scheme://host[:port][/prefix])");
	}
	fx->label = NULL;
}

/* Longest prefix at a '/' boundary, scheme, host and port included; repos in normal form (repourl.h). */
static void test_gitlab_api_for(void **state)
{
	struct fx *fx = *state;
	const struct config *c;
	const struct config_gitlab_api *root, *a, *ab, *port, *rel;
	char *text = replace_once(MINIMAL, "accounts:\n",
				  "gitlab_api:\n"
				  "  - { url: https://gitlab.example.net/a/b, token_env: " ENV_SET " }\n"
				  "  - { url: https://gitlab.example.net, token_env: " ENV_SET " }\n"
				  "  - { url: https://gitlab.example.net/a/, token_env: " ENV_SET " }\n"
				  "  - { url: http://gitlab.example.net:8080, token_env: " ENV_SET " }\n"
				  "  - { url: https://other.example/gitlab, token_env: " ENV_SET " }\n"
				  "accounts:\n");
	enum amicd_rc rc = load(fx, text);
	char *repo;

	free(text);
	assert_loaded(fx, rc);
	c = fx->cfg;
	assert_int_equal(c->n_gitlab_apis, 5);
	ab = &c->gitlab_apis[0];
	root = &c->gitlab_apis[1];
	a = &c->gitlab_apis[2];
	port = &c->gitlab_apis[3];
	rel = &c->gitlab_apis[4];

	assert_ptr_equal(config_gitlab_api_for(c, GOLDEN), root);
	assert_ptr_equal(config_gitlab_api_for(c, "https://gitlab.example.net/a/x"), a);
	assert_ptr_equal(config_gitlab_api_for(c, "https://gitlab.example.net/a/b/c"), ab); /* the longest, listed first */
	assert_ptr_equal(config_gitlab_api_for(c, "https://gitlab.example.net/a/bc/d"), a);
	assert_ptr_equal(config_gitlab_api_for(c, "https://gitlab.example.net/ab/x"), root); /* not /a */
	assert_ptr_equal(config_gitlab_api_for(c, "https://gitlab.example.net/a/b"), a);     /* /a/b is a project of /a */
	assert_ptr_equal(config_gitlab_api_for(c, "http://gitlab.example.net:8080/g/p"), port);
	assert_ptr_equal(config_gitlab_api_for(c, "https://other.example/gitlab/g/p"), rel);
	/* another scheme, port or host; a host that merely starts the same; nothing under the prefix */
	assert_null(config_gitlab_api_for(c, "http://gitlab.example.net/platform/golden-images"));
	assert_null(config_gitlab_api_for(c, "https://gitlab.example.net:8443/platform/golden-images"));
	assert_null(config_gitlab_api_for(c, "http://gitlab.example.net:80801/g/p"));
	assert_null(config_gitlab_api_for(c, "https://gitlab.example.network/g/p"));
	assert_null(config_gitlab_api_for(c, "https://other.example/g/p"));
	assert_null(config_gitlab_api_for(c, "https://other.example/gitlab"));
	assert_null(config_gitlab_api_for(c, "https://other.example/gitlabx/g/p"));
	assert_null(config_gitlab_api_for(c, NULL));
	assert_null(config_gitlab_api_for(NULL, GOLDEN));

	/* every form a push names its repo by, once normalised */
	repo = repo_url_normalize("git@gitlab.example.net:a/x.git");
	assert_non_null(repo);
	assert_ptr_equal(config_gitlab_api_for(c, repo), a);
	free(repo);
	repo = repo_url_normalize("HTTPS://GitLab.Example.NET/a/b/c.git/");
	assert_non_null(repo);
	assert_ptr_equal(config_gitlab_api_for(c, repo), ab);
	free(repo);

	/* the prefix boundary without a host-wide entry: https://h/a does not serve https://h/ab/x */
	text = replace_once(MINIMAL, "accounts:\n",
			    "gitlab_api: [{ url: \"https://h/a\", token_env: " ENV_SET " }]\naccounts:\n");
	rc = load(fx, text);
	free(text);
	assert_loaded(fx, rc);
	c = fx->cfg;
	assert_ptr_equal(config_gitlab_api_for(c, "https://h/a/x"), &c->gitlab_apis[0]);
	assert_null(config_gitlab_api_for(c, "https://h/ab/x"));
	assert_null(config_gitlab_api_for(c, "https://h/a"));
	assert_null(config_gitlab_api_for(c, "https://h/b/x"));
}

/* Every new error in one file, and an account without a name still has its aws checked. */
static void test_reconciler_errors_all_reported(void **state)
{
	struct fx *fx = *state;
	char *text = replace_once(MINIMAL, L8 "terraformResources:\n",
				  L8 /* 8 */
				  "  - uid: \"111122223333\"\n" /* 9 */
				  "    aws: { role_arn: arn:aws:iam::111122223333:role/ }\n"
				  "    org_arns: [arn:aws:organizations::111122223333:organization/o-x]\n"
				  "aws:\n"
				  "  web_identity_token_file: /t\n" /* 13 */
				  "  endpoints: { ec2: ftp://x }\n"
				  "gitlab_api:\n"
				  "  - { url: https://gitlab.example.net, token_env: " ENV_UNSET " }\n" /* 16 */
				  "reconcile: { timeout_seconds: 0 }\n"
				  "terraformResources:\n");
	enum amicd_rc rc = load(fx, text);

	free(text);
	assert_failed(fx, rc, AMICD_ERR_CONFIG, 7);
	assert_diag(fx, 9, 5, "missing required key \"name\"");
	assert_diag(fx, 10, 22, "an account: aws: role_arn \"arn:aws:iam::111122223333:role/\" is not an IAM role ARN");
	assert_diag(fx, 11, 16, "an account: \"arn:aws:organizations::111122223333:organization/o-x\" is not an organization");
	assert_diag(fx, 13, 28, "aws: web_identity_token_file needs role_arn");
	assert_diag(fx, 14, 21, "aws.endpoints.ec2: \"ftp://x\" is not an http:// or https:// URL");
	assert_diag(fx, 16, 51, "gitlab_api \"https://gitlab.example.net\": environment variable " ENV_UNSET " is not set");
	assert_diag(fx, 17, 31, "\"timeout_seconds\" must be between 1 and 300, not 0");
}

/* ---- refs --------------------------------------------------------------- */

#define SHA256 "5e1b7a6f0b9a4f9a0e1d2c3b4a59687766554433221100ffeeddccbbaa998877"

static void test_good_refs_load(void **state)
{
	struct fx *fx = *state;
	static const struct {
		const char *given, *want;
		bool sha;
	} cases[] = {
		{ "main", "main", false },
		{ "release/1.2", "release/1.2", false },
		{ SHA, SHA, true },
		{ "refs/heads/release/1.2", "release/1.2", false },
		/* a SHA-256 repository's commit, as given and lower-cased */
		{ SHA256, SHA256, true },
		{ "5E1B7A6F0B9A4F9A0E1D2C3B4A59687766554433221100FFEEDDCCBBAA998877", SHA256, true },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char repl[128];
		char *text;
		enum amicd_rc rc;

		snprintf(repl, sizeof repl, "ref: %s,", cases[i].given);
		text = replace_once(MINIMAL, "ref: main,", repl);
		rc = load(fx, text);
		free(text);
		fx->label = cases[i].given;
		assert_loaded(fx, rc);
		assert_string_equal(fx->cfg->asgs[0].git->ref, cases[i].want);
		assert_int_equal(fx->cfg->asgs[0].git->ref_is_sha, cases[i].sha);
	}
	fx->label = NULL;
}

/* The table was checked against `git check-ref-format --branch <ref>` (git 2.x). */
static void test_ref_valid(void **state)
{
	static const char *const good[] = {
		"main", "release/1.2", "feature/x-y_z", "v1.2.3", "a@b", "x/-y", SHA,
		"61C979EAB8EA475E0B84DB7556D2049E9DAE6D89", SHA256,
	};
	static const char *const bad[] = {
		"", "ma..in", "-x", "a b", "/main", "main/", "main.", "main.lock", "a//b", "a/.b", ".hidden",
		"@", "a@{b", "a~b", "a^b", "a:b", "a?b", "a*b", "a[b", "a\\b", "a\tb", "a\x7f" "b",
	};

	(void)state;
	assert_false(config_ref_valid(NULL));
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		if (!config_ref_valid(good[i]))
			fail_msg("config_ref_valid(\"%s\") = false, want true", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (config_ref_valid(bad[i]))
			fail_msg("config_ref_valid(\"%s\") = true, want false", bad[i]);
}

/*
 * git check-ref-format rule 1: no slash-separated component may end with
 * ".lock" (not only the last one). `git check-ref-format --branch a.lock/b`
 * fails; GitLab cannot have such a branch, so an ASG following it would never move.
 */
static void test_ref_valid_lock_component(void **state)
{
	(void)state;
	if (config_ref_valid("a.lock/b"))
		fail_msg("config_ref_valid(\"a.lock/b\") = true, want false");
	if (config_ref_valid("release/x.lock/1"))
		fail_msg("config_ref_valid(\"release/x.lock/1\") = true, want false");
}

/* ---- several errors at once --------------------------------------------- */

/*
 * CONFIG_LOAD_OFFLINE: a *_file that does not exist and an unset *_env are not
 * errors and nothing is read; the secrets' keys and everything else are still
 * checked, each error positioned.
 */
static void test_offline(void **state)
{
	struct fx *fx = *state;
	static const char offline[] =
		"auth:\n"
		"  gitlab: { token_file: /no/such/gitlab-token }\n"
		"  gitlab_signing: { secret_file: /no/such/signing }\n"
		"  eventbridge: { api_key_header: x-api-key, api_key_env: " ENV_UNSET " }\n"
		"  admin: { token_file: @D@/admin-token }\n"
		"trigger:\n"
		"  url: http://127.0.0.1:9000/hook\n"
		"  token_file: /no/such/trigger-token\n"
		"accounts:\n"
		"  - { name: stage, uid: \"444455556666\", aws: { access_key_id_file: /no/a, secret_access_key_env: "
		ENV_UNSET " } }\n"
		"gitlab_api:\n"
		"  - { url: https://gitlab.example.net, token_file: /no/such/api-token }\n"
		"terraformResources:\n"
		"  - provider: asg\n"
		"    identifier: workers-stage\n"
		"    account: stage\n"
		"    region: eu-west-1\n"
		"    image:\n"
		MIN_REPO_LINE;
	char *text = NULL;
	enum amicd_rc rc;

	fx->label = "offline: every secret missing";
	rc = load(fx, offline);
	assert_failed(fx, rc, AMICD_ERR_CONFIG, 7);
	assert_diag(fx, 2, 25, "auth.gitlab: secret file cannot be read");
	assert_diag(fx, 4, 58, "auth.eventbridge: environment variable " ENV_UNSET " is not set");

	rc = load_with(fx, "amicd.yml", offline, CONFIG_LOAD_OFFLINE);
	assert_loaded(fx, rc);
	assert_null(fx->cfg->auth.gitlab_token.bytes);
	assert_null(fx->cfg->auth.gitlab_signing_key.bytes);
	assert_null(fx->cfg->auth.eventbridge_api_key.bytes);
	assert_null(fx->cfg->auth.admin_token.bytes); /* not read either, though it exists */
	assert_null(fx->cfg->trigger.token.bytes);
	assert_null(fx->cfg->gitlab_apis[0].token.bytes);
	assert_true(fx->cfg->accounts[0].has_aws);
	assert_string_equal(fx->cfg->asgs[0].identifier, "workers-stage");

	/* the secrets' keys and everything else are still checked */
	fx->label = "offline: other errors";
	{
		char *t1 = replace_once(offline, "  admin: { token_file: @D@/admin-token }\n",
					"  admin: { token_env: X, token_file: @D@/admin-token }\n  read: { }\n");
		char *t2 = replace_once(t1, "region: eu-west-1", "region: EU");

		text = replace_once(t2, "  url: http://127.0.0.1:9000/hook\n", "  command: [true]\n");
		free(t1);
		free(t2);
	}
	rc = load_with(fx, "offline.yml", text, CONFIG_LOAD_OFFLINE);
	free(text);
	assert_failed(fx, rc, AMICD_ERR_CONFIG, 5);
	assert_diag(fx, 5, 23, "auth.admin: give either \"token_file\" or \"token_env\", not both");
	assert_diag(fx, 6, 9, "auth.read: missing \"token_file\" or \"token_env\"");
	assert_diag(fx, 8, 12, "trigger.command: the program must be an absolute path");
	assert_diag(fx, 8, 3, "trigger: a token is only used with \"url\"");
	assert_diag(fx, 18, 13, "\"EU\" is not an AWS region name");
	fx->label = NULL;
}

static void test_all_errors_reported(void **state)
{
	struct fx *fx = *state;
	static const char text[] =
		"auth:\n"                                                       /*  1 */
		"  gitlab: { token_file: @D@/no-such-token }\n"                 /*  2 */
		"  eventbridge: { api_key_header: x-api-key, api_key_file: @D@/eb-key }\n"
		"  admin: { token_env: " ENV_UNSET " }\n"                       /*  4 */
		"limits: { max_body_bytes: lots }\n"                            /*  5 */
		"trigger:\n"
		"  url: http://127.0.0.1:9000/hook\n"
		"  retries: 3\n"                                                /*  8 */
		"accounts:\n"
		"  - { name: stage, uid: \"444455556666\" }\n"
		"terraformResources:\n"
		"  - provider: asg\n"
		"    identifier: workers-stage\n"
		"    account: prod\n"                                           /* 14 */
		"    region: eu-west-1\n"
		"    image:\n"
		"      repo: { url: https://gitlab.example.net/platform/golden-images, ref: ma..in, tag_name: git-sha }\n"
		"  - provider: asg\n"
		"    identifier: workers-stage\n"                               /* 19 */
		"    account: stage\n"
		"    region: eu-west-1\n"
		"    image:\n"
		"      - { provider: static, tag_name: image-role, value: worker }\n" /* 23 */
		"    pin: { file: @D@/pins/other.yml }\n";

	assert_failed(fx, load(fx, text), AMICD_ERR_CONFIG, 8);
	assert_diag(fx, 2, 25, "auth.gitlab: secret file cannot be read");
	assert_diag(fx, 4, 23, "environment variable " ENV_UNSET " is not set");
	assert_diag(fx, 5, 27, "\"max_body_bytes\" must be an integer, not \"lots\"");
	assert_diag(fx, 8, 3, "unknown key \"retries\" in trigger");
	assert_diag(fx, 14, 14, "unknown account \"prod\"");
	assert_diag(fx, 17, MIN_REF_COL, "ref \"ma..in\" is neither a branch name nor a 40- or 64-hex commit");
	assert_diag(fx, 19, 17, "duplicate identifier \"workers-stage\"");
	assert_diag(fx, 23, 7, "found 0");
}

/* ---- files that cannot be read or are empty ----------------------------- */

static void test_missing_file(void **state)
{
	struct fx *fx = *state;
	enum amicd_rc rc;

	snprintf(fx->path, sizeof fx->path, "%s/no-such.yml", fx->dir);
	rc = config_load(fx->path, &fx->cfg, &fx->diag);
	assert_failed(fx, rc, AMICD_ERR_IO, 1);
	assert_diag(fx, 1, 1, "cannot open the configuration");
}

static void test_empty_file(void **state)
{
	struct fx *fx = *state;

	assert_failed(fx, load(fx, ""), AMICD_ERR_CONFIG, 1);
	assert_diag(fx, 1, 1, "the configuration is empty");
	assert_failed(fx, load(fx, "- a\n- b\n"), AMICD_ERR_CONFIG, 1);
	assert_diag(fx, 1, 1, "the configuration must be a mapping, not a list");
}

static void test_free_null_and_diag_free_twice(void **state)
{
	struct config_diag d = { NULL, 0 };

	(void)state;
	config_free(NULL);
	config_diag_free(&d);
	config_diag_free(&d);
	assert_null(d.lines);
	assert_int_equal(d.n, 0);
}

/* ---- which pushes matter ------------------------------------------------- */

static json_t *load_push(void)
{
	json_t *push = support_fixture_json("gitlab-push.json");

	if (push == NULL)
		fail_msg("cannot load gitlab-push.json");
	return push;
}

/*
 * GitLab's project paths ignore case: a push naming the repo in another case is
 * the repo, and is stored under the config's spelling; two ASGs naming one repo
 * in two cases share the first spelling. Branch names keep their case (git's do).
 */
static void test_repo_path_case(void **state)
{
	struct fx *fx = *state;
	char *text = replace_once(MINIMAL, MIN_REPO_LINE,
				  "      repo: { url: https://gitlab.example.net/Platform/Golden-Images, ref: main, tag_name: git-sha }\n"
				  "  - provider: asg\n"
				  "    identifier: api-stage\n"
				  "    account: stage\n"
				  "    region: eu-west-1\n"
				  "    image:\n"
				  "      repo: { url: \"git@gitlab.example.net:platform/golden-images.git\", ref: release,"
				  " tag_name: git-sha }\n");
	char *urls[3] = { "https://gitlab.example.net/PLATFORM/golden-images", NULL,
			  "https://gitlab.example.net/platform/golden-images" };
	bool known = false;

	assert_loaded(fx, load(fx, text));
	free(text);
	assert_string_equal(fx->cfg->asgs[0].git->url, "https://gitlab.example.net/Platform/Golden-Images");
	assert_string_equal(fx->cfg->asgs[1].git->url, "https://gitlab.example.net/Platform/Golden-Images");
	assert_true(config_tracks(fx->cfg, GOLDEN, "main"));
	assert_true(config_tracks(fx->cfg, GOLDEN, "release"));
	assert_false(config_tracks(fx->cfg, GOLDEN, "Main"));
	assert_true(config_knows_repo(fx->cfg, "https://gitlab.example.net/platform/GOLDEN-IMAGES"));
	assert_string_equal(config_repo(fx->cfg, GOLDEN), "https://gitlab.example.net/Platform/Golden-Images");
	assert_null(config_repo(fx->cfg, "https://gitlab.example.net/platform/golden-images2"));
	assert_string_equal(config_push_repo(fx->cfg, urls, 3, "release", &known),
			    "https://gitlab.example.net/Platform/Golden-Images");
	assert_true(known);
	assert_null(config_push_repo(fx->cfg, urls, 3, "develop", &known));
	assert_true(known);
}

static void test_tracks_push_url_forms(void **state)
{
	struct fx *fx = *state;
	static const char *const forms[] = { "web_url", "git_http_url", "git_ssh_url" };
	json_t *push = NULL;
	json_t *project;

	assert_loaded(fx, load(fx, FULL));
	push = load_push();
	project = json_object_get(push, "project");
	if (project == NULL) {
		json_decref(push);
		fail_msg("gitlab-push.json: no project");
	}
	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		const char *raw = json_string_value(json_object_get(project, forms[i]));
		char *repo = repo_url_normalize(raw);
		bool normalised = repo != NULL, knows = false, main_ok = false, develop = true, other = true;

		if (normalised) {
			knows = config_knows_repo(fx->cfg, repo);
			main_ok = config_tracks(fx->cfg, repo, "main");
			develop = config_tracks(fx->cfg, repo, "develop");
			other = config_tracks(fx->cfg, repo, "release/1.2"); /* another repo's branch */
		}
		free(repo);
		if (!normalised || !knows || !main_ok || develop || other) {
			char msg[512];

			/* raw lives in push: format before releasing it, fail after */
			snprintf(msg, sizeof msg,
				 "project.%s \"%s\": normalised %s, knows %d, tracks main %d / develop %d / release/1.2 %d",
				 forms[i], raw != NULL ? raw : "(missing)", normalised ? "ok" : "to NULL", knows, main_ok,
				 develop, other);
			json_decref(push);
			fail_msg("%s", msg);
		}
	}
	json_decref(push);

	assert_true(config_knows_repo(fx->cfg, API_IMAGES));
	assert_true(config_tracks(fx->cfg, API_IMAGES, "release/1.2"));
	assert_false(config_tracks(fx->cfg, API_IMAGES, "main"));
	/* a filter pinned to a commit names its repo but follows no branch */
	assert_true(config_knows_repo(fx->cfg, PINNED_IMAGES));
	assert_false(config_tracks(fx->cfg, PINNED_IMAGES, "main"));
	assert_false(config_tracks(fx->cfg, PINNED_IMAGES, SHA));
	/* unknown repos */
	assert_false(config_knows_repo(fx->cfg, "https://gitlab.example.net/platform/other"));
	assert_false(config_tracks(fx->cfg, "https://gitlab.example.net/platform/other", "main"));
	assert_false(config_knows_repo(fx->cfg, "https://gitlab.example.org/platform/golden-images"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_minimal_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gitlab_signing_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trigger_token_optional, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repo_path_case, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_basic_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_near_misses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_identifiers_same_pin_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_hide_secrets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconciler_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconciler_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aws_default_chain_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_role_arns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_org_arns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gitlab_api_urls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gitlab_api_for, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconciler_errors_all_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_good_refs_load, setup, teardown),
		cmocka_unit_test(test_ref_valid),
		cmocka_unit_test(test_ref_valid_lock_component),
		cmocka_unit_test_setup_teardown(test_all_errors_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_file, setup, teardown),
		cmocka_unit_test(test_free_null_and_diag_free_twice),
		cmocka_unit_test_setup_teardown(test_tracks_push_url_forms, setup, teardown),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
