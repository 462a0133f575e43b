/*
 * config.c — parse and validate amicd's YAML configuration (see config.h).
 *
 * libyaml's document API gives a node tree with a position on every node; the
 * walker below checks each mapping against the keys it allows, converts
 * scalars, and records every problem with its position instead of stopping at
 * the first. Cross-checks (unknown account, duplicate identifier, one git
 * filter per ASG) run after the walk. Reads secret files and the environment;
 * nothing else leaves this file.
 */
#include "config.h"

#include "crypto.h"
#include "repourl.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#define SECRET_MAX_BYTES 65536

#define WALKER_MAX_NEAR 64

/*
 * An unknown key that is a near miss of an allowed key absent from the same
 * mapping ("triger:" with no "trigger:"): the section under it is checked as
 * the allowed key's would be, so the typo hides none of its errors.
 */
struct near_key {
	const yaml_node_t *map;
	const char *key;          /* the allowed key (a static string) */
	yaml_node_t *value;       /* the value under the misspelt key */
};

struct walker {
	const char *file;
	yaml_document_t *doc;
	struct config_diag *diag;
	bool offline;             /* CONFIG_LOAD_OFFLINE: secrets are checked in form, never read */
	struct near_key near[WALKER_MAX_NEAR];
	size_t n_near;
};

static void diag_vadd(struct config_diag *d, const char *file, const yaml_mark_t *mark,
		      const char *fmt, va_list ap)
{
	char msg[512];
	char *line = NULL;
	char **grown;

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (asprintf(&line, "%s:%zu:%zu: %s", file, mark != NULL ? mark->line + 1 : 1,
		     mark != NULL ? mark->column + 1 : 1, msg) < 0)
		return;
	grown = realloc(d->lines, (d->n + 1) * sizeof *grown);
	if (grown == NULL) {
		free(line);
		return;
	}
	d->lines = grown;
	d->lines[d->n++] = line;
}

__attribute__((format(printf, 3, 4)))
static void fail(struct walker *w, const yaml_node_t *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vadd(w->diag, w->file, at != NULL ? &at->start_mark : NULL, fmt, ap);
	va_end(ap);
}

static yaml_node_t *node_at(struct walker *w, yaml_node_item_t id)
{
	return yaml_document_get_node(w->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_null_scalar(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = scalar(n);
	return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0;
}

static const char *type_name(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	default: return "a scalar";
	}
}

#define NEAR_MAX_LEN 64

/*
 * The edit distance (insertions, deletions, substitutions; letters compared
 * without case) between a and b, or SIZE_MAX when either is longer than
 * NEAR_MAX_LEN.
 */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[NEAR_MAX_LEN + 1];

	if (la > NEAR_MAX_LEN || lb > NEAR_MAX_LEN)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t sub = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
			size_t best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;

			row[j] = sub < best ? sub : best;
			diag = up;
		}
	}
	return row[lb];
}

/*
 * The candidate (n of them, or NULL-terminated when n is SIZE_MAX) that word
 * is a near miss of: equal but for case, or at most 2 edits away and not
 * wholly replaced; the nearest, the first of equals. NULL when none is.
 */
static const char *nearest(const char *word, const char *const *candidates, size_t n)
{
	const char *best = NULL;
	size_t best_d = 3, len = strlen(word);

	for (size_t i = 0; i < n && candidates[i] != NULL; i++) {
		size_t d = strcasecmp(word, candidates[i]) == 0 ? 0 : edit_distance(word, candidates[i]);

		if (d < best_d && d < len && strcmp(word, candidates[i]) != 0) {
			best = candidates[i];
			best_d = d;
		}
	}
	return best;
}

/* The value under key in map, as written: no near misses. */
static yaml_node_t *lookup(struct walker *w, yaml_node_t *map, const char *key);

/*
 * Report keys of map that are not in allowed (NULL-terminated), each with the
 * allowed key it is a near miss of, and repeated keys. A near miss of an
 * allowed key the map lacks is remembered for lookup_section.
 */
static void check_keys(struct walker *w, yaml_node_t *map, const char *const *allowed,
		       const char *where)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(w, p->key);
		const char *near;
		bool known = false;

		if (k == NULL || k->type != YAML_SCALAR_NODE) {
			fail(w, k, "keys in %s must be strings", where);
			continue;
		}
		for (const char *const *a = allowed; *a != NULL; a++)
			known = known || strcmp(*a, scalar(k)) == 0;
		if (!known) {
			near = nearest(scalar(k), allowed, SIZE_MAX);
			if (near == NULL) {
				fail(w, k, "unknown key \"%s\" in %s", scalar(k), where);
				continue;
			}
			fail(w, k, "unknown key \"%s\" in %s (did you mean \"%s\"?)", scalar(k), where, near);
			if (lookup(w, map, near) == NULL && w->n_near < WALKER_MAX_NEAR)
				w->near[w->n_near++] = (struct near_key){ map, near, node_at(w, p->value) };
			continue;
		}
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
			yaml_node_t *k2 = node_at(w, q->key);

			if (k2 != NULL && k2->type == YAML_SCALAR_NODE && strcmp(scalar(k2), scalar(k)) == 0) {
				fail(w, k, "duplicate key \"%s\" in %s", scalar(k), where);
				break;
			}
		}
	}
}

static yaml_node_t *lookup(struct walker *w, yaml_node_t *map, const char *key)
{
	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(w, p->key);

		if (k != NULL && k->type == YAML_SCALAR_NODE && strcmp(scalar(k), key) == 0)
			return node_at(w, p->value);
	}
	return NULL;
}

/*
 * The value under key in map; when key is absent, it is reported as missing
 * if required, and the value under a misspelling of it (check_keys) is
 * returned, so the section is still checked. NULL when there is neither.
 */
static yaml_node_t *lookup_section(struct walker *w, yaml_node_t *map, const char *key, bool required)
{
	yaml_node_t *v = lookup(w, map, key);

	if (v != NULL)
		return v;
	if (required)
		fail(w, map, "missing required key \"%s\"", key);
	for (size_t i = 0; i < w->n_near; i++)
		if (w->near[i].map == map && strcmp(w->near[i].key, key) == 0)
			return w->near[i].value;
	return NULL;
}

/* Whether map has key with a value other than null. */
static bool present(struct walker *w, yaml_node_t *map, const char *key)
{
	yaml_node_t *v = lookup(w, map, key);

	return v != NULL && !is_null_scalar(v);
}

/* The mapping under key (or a misspelling of it: lookup_section), NULL (reported when required) when absent or of another type. */
static yaml_node_t *want_map(struct walker *w, yaml_node_t *map, const char *key, bool required)
{
	yaml_node_t *v = lookup(w, map, key);

	if (v == NULL)
		v = lookup_section(w, map, key, required); /* reports the missing key */
	else if (is_null_scalar(v) && required)
		fail(w, map, "missing required key \"%s\"", key);
	if (v == NULL || is_null_scalar(v))
		return NULL;
	if (v->type != YAML_MAPPING_NODE) {
		fail(w, v, "\"%s\" must be a mapping, not %s", key, type_name(v));
		return NULL;
	}
	return v;
}

static bool want_string(struct walker *w, yaml_node_t *map, const char *key, bool required,
			char **out)
{
	yaml_node_t *v = lookup(w, map, key);

	if (v == NULL || is_null_scalar(v)) {
		if (required)
			fail(w, v != NULL ? v : map, "missing required key \"%s\"", key);
		return false;
	}
	if (v->type != YAML_SCALAR_NODE) {
		fail(w, v, "\"%s\" must be a string, not %s", key, type_name(v));
		return false;
	}
	*out = strdup(scalar(v));
	return *out != NULL;
}

static bool want_int(struct walker *w, yaml_node_t *map, const char *key, long long min,
		     long long max, long long dflt, long long *out)
{
	yaml_node_t *v = lookup(w, map, key);
	char *end = NULL;
	long long n;

	*out = dflt;
	if (v == NULL)
		return true;
	if (v->type != YAML_SCALAR_NODE) {
		fail(w, v, "\"%s\" must be an integer, not %s", key, type_name(v));
		return false;
	}
	errno = 0;
	n = strtoll(scalar(v), &end, 10);
	if (errno != 0 || end == scalar(v) || *end != '\0') {
		fail(w, v, "\"%s\" must be an integer, not \"%s\"", key, scalar(v));
		return false;
	}
	if (n < min || n > max) {
		fail(w, v, "\"%s\" must be between %lld and %lld, not %lld", key, min, max, n);
		return false;
	}
	*out = n;
	return true;
}

static void trim_trailing_space(struct secret *s)
{
	while (s->len > 0 && isspace(s->bytes[s->len - 1]))
		s->bytes[--s->len] = '\0';
}

/*
 * A secret given as <base>_file or <base>_env under map. what names it in
 * messages; the value is never part of a message. True when the secret is
 * given (and, unless the walker is offline, read and not empty); offline, a
 * given secret leaves *out empty: the file is not opened, the variable not
 * looked up.
 */
static bool want_secret(struct walker *w, yaml_node_t *map, const char *base, bool required,
			const char *what, struct secret *out)
{
	char fkey[64], ekey[64];
	yaml_node_t *fv, *ev;
	struct amicd_error err;

	snprintf(fkey, sizeof fkey, "%s_file", base);
	snprintf(ekey, sizeof ekey, "%s_env", base);
	fv = lookup(w, map, fkey);
	ev = lookup(w, map, ekey);
	if (fv != NULL && ev != NULL) {
		fail(w, ev, "%s: give either \"%s\" or \"%s\", not both", what, fkey, ekey);
		return false;
	}
	if (fv == NULL && ev == NULL) {
		if (required)
			fail(w, map, "%s: missing \"%s\" or \"%s\" (secrets are never written in the file itself)",
			     what, fkey, ekey);
		return false;
	}
	if (fv != NULL) {
		char *buf = NULL;
		size_t len = 0;

		if (fv->type != YAML_SCALAR_NODE || is_null_scalar(fv)) {
			fail(w, fv, "\"%s\" must be a file name", fkey);
			return false;
		}
		if (w->offline)
			return true;
		if (util_read_file(scalar(fv), SECRET_MAX_BYTES, &buf, &len, &err) != AMICD_OK) {
			fail(w, fv, "%s: secret file cannot be read: %s", what, err.message);
			return false;
		}
		out->bytes = (unsigned char *)buf;
		out->len = len;
	} else {
		const char *val;

		if (ev->type != YAML_SCALAR_NODE || is_null_scalar(ev)) {
			fail(w, ev, "\"%s\" must be an environment variable name", ekey);
			return false;
		}
		if (w->offline)
			return true;
		val = getenv(scalar(ev));
		if (val == NULL) {
			fail(w, ev, "%s: environment variable %s is not set", what, scalar(ev));
			return false;
		}
		out->bytes = (unsigned char *)strdup(val);
		if (out->bytes == NULL)
			return false;
		out->len = strlen(val);
	}
	trim_trailing_space(out);
	if (out->len == 0) {
		fail(w, fv != NULL ? fv : ev, "%s: the secret is empty", what);
		free(out->bytes);
		out->bytes = NULL;
		return false;
	}
	return true;
}

static void secret_clear(struct secret *s)
{
	if (s->bytes != NULL) {
		memset(s->bytes, 0, s->len);
		free(s->bytes);
	}
	s->bytes = NULL;
	s->len = 0;
}

bool config_ref_valid(const char *ref)
{
	size_t len;

	if (ref == NULL || ref[0] == '\0')
		return false;
	if (util_is_commit(ref))
		return true;
	/* git check-ref-format rules for a branch name */
	len = strlen(ref);
	if (ref[0] == '-' || ref[0] == '/' || ref[0] == '.' || ref[len - 1] == '/' ||
	    ref[len - 1] == '.' || strcmp(ref, "@") == 0 || strcmp(ref, "HEAD") == 0)
		return false;
	/* no slash-separated part may end in ".lock" */
	for (const char *part = ref; *part != '\0';) {
		size_t n = strcspn(part, "/");

		if (n >= 5 && strncmp(part + n - 5, ".lock", 5) == 0)
			return false;
		part += n;
		if (*part == '/')
			part++;
	}
	if (strstr(ref, "..") != NULL || strstr(ref, "//") != NULL || strstr(ref, "@{") != NULL ||
	    strstr(ref, "/.") != NULL)
		return false;
	for (const char *p = ref; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f || c == ' ' || strchr("~^:?*[\\", c) != NULL)
			return false;
	}
	return true;
}

/*
 * A "host:port" address under key ("[v6]:port" too) into *host and *port.
 * Absent: false, and nothing set.
 */
static bool parse_address(struct walker *w, yaml_node_t *root, const char *key, char **host, unsigned *port)
{
	yaml_node_t *v = lookup(w, root, key);
	const char *s, *colon;
	char *end = NULL;
	long n;

	if (v == NULL)
		return false;
	if (v->type != YAML_SCALAR_NODE) {
		fail(w, v, "\"%s\" must be \"host:port\"", key);
		return false;
	}
	s = scalar(v);
	colon = strrchr(s, ':');
	if (colon == NULL || colon == s) {
		fail(w, v, "\"%s\" must be \"host:port\", not \"%s\"", key, s);
		return false;
	}
	n = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end != '\0' || n < 0 || n > 65535) {
		fail(w, v, "\"%s\": bad port in \"%s\"", key, s);
		return false;
	}
	if (s[0] == '[' && colon[-1] == ']')
		*host = strndup(s + 1, (size_t)(colon - s - 2));
	else
		*host = strndup(s, (size_t)(colon - s));
	*port = (unsigned)n;
	return *host != NULL;
}

static bool any_address(const char *host)
{
	return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 || host[0] == '\0';
}

/*
 * "listen" (default 127.0.0.1:8080) and the optional "public_listen" (design
 * §4: only the hooks and /healthz). The two cannot share a port on a common
 * address; port 0 (any free port) never clashes.
 */
static void parse_listen(struct walker *w, yaml_node_t *root, struct config *cfg)
{
	if (!parse_address(w, root, "listen", &cfg->listen_host, &cfg->listen_port) && cfg->listen_host == NULL) {
		cfg->listen_host = strdup("127.0.0.1");
		cfg->listen_port = 8080;
	}
	if (!parse_address(w, root, "public_listen", &cfg->public_listen_host, &cfg->public_listen_port) ||
	    cfg->listen_host == NULL)
		return;
	if (cfg->public_listen_port != 0 && cfg->public_listen_port == cfg->listen_port &&
	    (strcmp(cfg->public_listen_host, cfg->listen_host) == 0 || any_address(cfg->public_listen_host) ||
	     any_address(cfg->listen_host)))
		fail(w, lookup(w, root, "public_listen"),
		     "\"public_listen\" must differ from \"listen\" (%s:%u): it serves only the hooks and /healthz, "
		     "on a port of its own", cfg->listen_host, cfg->listen_port);
}

static void parse_auth(struct walker *w, yaml_node_t *root, struct config *cfg)
{
	static const char *const auth_keys[] = { "gitlab", "gitlab_signing", "eventbridge", "admin", "read", NULL };
	static const char *const token_keys[] = { "token_file", "token_env", NULL };
	static const char *const signing_keys[] = { "secret_file", "secret_env", NULL };
	static const char *const eb_keys[] = { "api_key_header", "api_key_file", "api_key_env", "basic", NULL };
	static const char *const basic_keys[] = { "user", "password_file", "password_env", NULL };
	struct config_auth *a = &cfg->auth;
	yaml_node_t *auth = want_map(w, root, "auth", true);
	yaml_node_t *m;

	if (auth == NULL)
		return;
	check_keys(w, auth, auth_keys, "auth");
	/* GitLab lets a hook have a secret token, a signing token, or both: one is enough */
	if (!present(w, auth, "gitlab") && !present(w, auth, "gitlab_signing"))
		fail(w, auth, "auth: give \"gitlab\" (X-Gitlab-Token), \"gitlab_signing\" (webhook-signature) or both");
	m = want_map(w, auth, "gitlab", false);
	if (m != NULL) {
		check_keys(w, m, token_keys, "auth.gitlab");
		want_secret(w, m, "token", true, "auth.gitlab", &a->gitlab_token);
	}
	m = want_map(w, auth, "gitlab_signing", false);
	if (m != NULL) {
		struct secret raw = { 0 };

		check_keys(w, m, signing_keys, "auth.gitlab_signing");
		if (want_secret(w, m, "secret", true, "auth.gitlab_signing", &raw) && raw.bytes != NULL) {
			const char *b64 = (const char *)raw.bytes;
			unsigned char *key = NULL;
			size_t key_len = 0;

			if (strncmp(b64, "whsec_", 6) == 0)
				b64 += 6;
			if (!crypto_base64_decode(b64, strlen(b64), &key, &key_len) || key_len == 0) {
				fail(w, m, "auth.gitlab_signing: the secret must be \"whsec_\" followed by base64");
				free(key);
			} else {
				a->gitlab_signing_key.bytes = key;
				a->gitlab_signing_key.len = key_len;
			}
		}
		secret_clear(&raw);
	}
	m = want_map(w, auth, "eventbridge", true);
	if (m != NULL) {
		yaml_node_t *basic;

		check_keys(w, m, eb_keys, "auth.eventbridge");
		basic = want_map(w, m, "basic", false);
		if (basic != NULL) {
			check_keys(w, basic, basic_keys, "auth.eventbridge.basic");
			want_string(w, basic, "user", true, &a->eventbridge_basic_user);
			want_secret(w, basic, "password", true, "auth.eventbridge.basic", &a->eventbridge_basic_password);
		}
		if (want_string(w, m, "api_key_header", basic == NULL, &a->eventbridge_api_key_header)) {
			for (char *p = a->eventbridge_api_key_header; *p != '\0'; p++)
				*p = (char)tolower((unsigned char)*p);
			want_secret(w, m, "api_key", true, "auth.eventbridge", &a->eventbridge_api_key);
		} else if (basic == NULL) {
			/* already reported: one of api_key_header or basic is needed */
		}
	}
	m = want_map(w, auth, "admin", true);
	if (m != NULL) {
		check_keys(w, m, token_keys, "auth.admin");
		want_secret(w, m, "token", true, "auth.admin", &a->admin_token);
	}
	m = want_map(w, auth, "read", false);
	if (m != NULL) {
		check_keys(w, m, token_keys, "auth.read");
		want_secret(w, m, "token", true, "auth.read", &a->read_token);
	}
}

static void parse_limits(struct walker *w, yaml_node_t *root, struct config *cfg)
{
	static const char *const keys[] = { "max_body_bytes", "max_inflight_bytes", "busy_timeout_ms", "max_inflight",
					    "rejected_keep",
					    "rejected_keep_bytes", "max_connections", "max_connections_per_address",
					    "request_timeout_seconds", "idle_timeout_seconds", "stall_seconds", NULL };
	yaml_node_t *m = want_map(w, root, "limits", false);
	long long v;

	if (m != NULL)
		check_keys(w, m, keys, "limits");
	/* 25 MiB: GitLab's own cap on a webhook payload; a 413 loses a push for good */
	want_int(w, m, "max_body_bytes", 1024, 64LL << 20, 25LL << 20, &v);
	cfg->limits.max_body_bytes = (size_t)v;
	if (want_int(w, m, "max_inflight_bytes", 1024, 1LL << 40, 256LL << 20, &v) &&
	    (size_t)v < cfg->limits.max_body_bytes)
		fail(w, lookup(w, m, "max_inflight_bytes"),
		     "\"max_inflight_bytes\" (%lld) must be at least \"max_body_bytes\" (%zu): a body at the limit "
		     "would never be read", v, cfg->limits.max_body_bytes);
	cfg->limits.max_inflight_bytes = (size_t)v;
	want_int(w, m, "busy_timeout_ms", 10, 60000, 2000, &v);
	cfg->limits.busy_timeout_ms = (int)v;
	want_int(w, m, "max_inflight", 1, 100000, 4096, &v);
	cfg->limits.max_inflight = (size_t)v;
	want_int(w, m, "rejected_keep", 0, 1000000, 1000, &v);
	cfg->limits.rejected_keep = (size_t)v;
	want_int(w, m, "rejected_keep_bytes", 0, 1LL << 40, 64LL << 20, &v);
	cfg->limits.rejected_keep_bytes = (size_t)v;
	want_int(w, m, "max_connections", 16, 100000, 1024, &v);
	cfg->limits.max_connections = (unsigned)v;
	want_int(w, m, "max_connections_per_address", 0, 100000, 256, &v);
	cfg->limits.max_connections_per_address = (unsigned)v;
	want_int(w, m, "request_timeout_seconds", 0, 3600, 30, &v);
	cfg->limits.request_timeout_seconds = (unsigned)v;
	want_int(w, m, "idle_timeout_seconds", 1, 3600, 60, &v);
	cfg->limits.idle_timeout_seconds = (unsigned)v;
	want_int(w, m, "stall_seconds", 1, 3600, 30, &v);
	cfg->limits.stall_seconds = (unsigned)v;
}

static void parse_trigger(struct walker *w, yaml_node_t *root, struct config *cfg)
{
	static const char *const keys[] = { "url", "token_file", "token_env", "token_optional", "command",
					     "timeout_seconds", "max_attempts", "backoff_max_seconds", NULL };
	struct config_trigger *t = &cfg->trigger;
	yaml_node_t *m = want_map(w, root, "trigger", true);
	yaml_node_t *cmd, *opt, *file, *env;
	bool optional = false, absent = false;
	long long v;

	if (m == NULL)
		return;
	check_keys(w, m, keys, "trigger");
	want_string(w, m, "url", false, &t->url);
	cmd = lookup(w, m, "command");
	if (t->url != NULL && cmd != NULL)
		fail(w, cmd, "trigger: give either \"url\" or \"command\", not both");
	else if (t->url == NULL && cmd == NULL)
		fail(w, m, "trigger: missing \"url\" or \"command\"");
	if (t->url != NULL && strncmp(t->url, "http://", 7) != 0 && strncmp(t->url, "https://", 8) != 0)
		fail(w, lookup(w, m, "url"), "trigger.url must be an http:// or https:// URL");
	if (cmd != NULL && t->url == NULL) {
		size_t n = 0;

		if (cmd->type != YAML_SEQUENCE_NODE ||
		    cmd->data.sequence.items.top == cmd->data.sequence.items.start) {
			fail(w, cmd, "trigger.command must be a non-empty list (argv, run without a shell)");
		} else {
			size_t cap = (size_t)(cmd->data.sequence.items.top - cmd->data.sequence.items.start);

			t->command = calloc(cap + 1, sizeof *t->command);
			for (yaml_node_item_t *it = cmd->data.sequence.items.start;
			     t->command != NULL && it < cmd->data.sequence.items.top; it++) {
				yaml_node_t *arg = node_at(w, *it);

				if (arg == NULL || arg->type != YAML_SCALAR_NODE) {
					fail(w, arg, "trigger.command: every argument must be a string");
					continue;
				}
				t->command[n++] = strdup(scalar(arg));
			}
			t->n_command = n;
			if (n > 0 && t->command[0][0] != '/')
				fail(w, cmd, "trigger.command: the program must be an absolute path (no shell, no PATH search)");
		}
	}
	opt = lookup(w, m, "token_optional");
	if (opt != NULL && (opt->type != YAML_SCALAR_NODE ||
			    (strcmp(scalar(opt), "true") != 0 && strcmp(scalar(opt), "false") != 0)))
		fail(w, opt, "trigger.token_optional must be true or false");
	else if (opt != NULL && strcmp(scalar(opt), "true") == 0)
		optional = true;
	/* token_optional: a token_file that does not exist, or a token_env not set, means no token
	 * (a Secret key marked optional, design §8); one that exists is read and checked as always */
	file = lookup(w, m, "token_file");
	env = lookup(w, m, "token_env");
	if (optional && w->offline)
		absent = false; /* offline, nothing is looked at: checked in form like any secret */
	else if (optional && file != NULL && env == NULL && file->type == YAML_SCALAR_NODE)
		absent = access(scalar(file), F_OK) != 0 && errno == ENOENT;
	else if (optional && env != NULL && file == NULL && env->type == YAML_SCALAR_NODE)
		absent = getenv(scalar(env)) == NULL;
	/* want_secret: true when given (offline too, where nothing is read) */
	if (!absent && want_secret(w, m, "token", false, "trigger", &t->token) && t->url == NULL)
		fail(w, m, "trigger: a token is only used with \"url\"");
	want_int(w, m, "timeout_seconds", 1, 3600, 10, &v);
	t->timeout_seconds = (int)v;
	want_int(w, m, "max_attempts", 1, 1000, 20, &v);
	t->max_attempts = (int)v;
	want_int(w, m, "backoff_max_seconds", 1, 86400, 300, &v);
	t->backoff_max_seconds = (int)v;
}

/* ---- AWS and GitLab API keys (design §9) ------------------------------- */

/* Length of the run of s made of characters in set, if it is between min and max; else 0. */
static size_t run_of(const char *s, const char *set, size_t min, size_t max)
{
	size_t n = strspn(s, set);

	return n >= min && n <= max ? n : 0;
}

/*
 * The part of arn after "arn:<partition>:<service>::<12-digit account>:", or
 * NULL when arn does not start so. The partition is "aws" followed by
 * [a-z-]* (aws, aws-cn, aws-us-gov, …).
 */
static const char *arn_resource(const char *arn, const char *service)
{
	const char *p = arn;
	size_t n = strlen(service);

	if (strncmp(p, "arn:aws", 7) != 0)
		return NULL;
	p += 7;
	p += strspn(p, "abcdefghijklmnopqrstuvwxyz-");
	if (*p++ != ':' || strncmp(p, service, n) != 0 || strncmp(p + n, "::", 2) != 0)
		return NULL;
	p += n + 2;
	if (run_of(p, "0123456789", 12, 12) == 0 || p[12] != ':')
		return NULL;
	return p + 13;
}

#define ROLE_NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-"

/* arn:aws[a-z-]*:iam::<12 digits>:role/[path/]name — IAM's own character set, a name of 1..64. */
static bool role_arn_valid(const char *arn)
{
	const char *p = arn_resource(arn, "iam");
	size_t n;

	if (p == NULL || strncmp(p, "role/", 5) != 0)
		return false;
	p += 5;
	for (;;) {
		n = strspn(p, ROLE_NAME_CHARS);
		if (n == 0)
			return false;
		if (p[n] == '\0')
			return n <= 64;
		if (p[n] != '/')
			return false;
		p += n + 1;
	}
}

#define LOWER_DIGITS "abcdefghijklmnopqrstuvwxyz0123456789"

/* p past prefix and a run of min..max [a-z0-9], or NULL when p does not start so. */
static const char *skip_id(const char *p, const char *prefix, size_t min, size_t max)
{
	size_t len = strlen(prefix), n;

	if (p == NULL || strncmp(p, prefix, len) != 0)
		return NULL;
	n = run_of(p + len, LOWER_DIGITS, min, max);
	return n > 0 ? p + len + n : NULL;
}

/*
 * arn:aws[a-z-]*:organizations::<12 digits>:organization/o-<id> or
 * …:ou/o-<id>/ou-<root>-<id>, the ids as AWS Organizations defines them
 * (o-[a-z0-9]{10,32}, ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}).
 */
static bool org_arn_valid(const char *arn)
{
	const char *p = arn_resource(arn, "organizations");

	if (p == NULL)
		return false;
	if (strncmp(p, "organization/", 13) == 0) {
		p = skip_id(p + 13, "o-", 10, 32);
		return p != NULL && *p == '\0';
	}
	if (strncmp(p, "ou/", 3) != 0)
		return false;
	p = skip_id(p + 3, "o-", 10, 32);
	p = skip_id(p, "/ou-", 4, 32);
	p = skip_id(p, "-", 8, 32);
	return p != NULL && *p == '\0';
}

/* host[:port] of an http(s) URL: a name or address, or [IPv6]; a port of 1..65535. */
static bool url_host_valid(const char *host, size_t len)
{
	size_t i;

	if (len > 0 && host[0] == '[') {
		i = 1 + strspn(host + 1, "0123456789abcdefABCDEF:.");
		if (i == 1 || i >= len || host[i] != ']')
			return false;
		i++;
	} else {
		i = strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_");
		if (i == 0 || i > len || !isalnum((unsigned char)host[0]))
			return false;
	}
	if (i == len)
		return true;
	if (host[i] == ':') {
		size_t digits = strspn(host + i + 1, "0123456789");
		long port;

		if (digits == 0 || digits > 5 || i + 1 + digits != len)
			return false;
		port = strtol(host + i + 1, NULL, 10);
		return port >= 1 && port <= 65535;
	}
	return false;
}

/*
 * The normal form of an http:// or https:// URL scheme://host[:port][/path]:
 * scheme and host lower-cased, trailing '/' removed (caller frees). NULL when
 * url is not of that form: user info, a query, a fragment, an empty path
 * segment, a blank, a control or a non-ASCII byte; or on out of memory.
 */
static char *http_url_normal(const char *url)
{
	const char *scheme, *host, *path;
	size_t host_len, path_len;
	char *out = NULL;

	if (strncasecmp(url, "https://", 8) == 0) {
		scheme = "https";
		host = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		scheme = "http";
		host = url + 7;
	} else {
		return NULL;
	}
	host_len = strcspn(host, "/");
	if (!url_host_valid(host, host_len))
		return NULL;
	path = host + host_len;
	path_len = strlen(path);
	while (path_len > 0 && path[path_len - 1] == '/')
		path_len--;
	for (size_t i = 0; i < path_len; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c <= ' ' || c >= 0x7f || c == '?' || c == '#' || c == '\\' || (c == '/' && path[i + 1] == '/'))
			return NULL;
	}
	if (asprintf(&out, "%s://%.*s%.*s", scheme, (int)host_len, host, (int)path_len, path) < 0)
		return NULL;
	for (char *p = out + strlen(scheme) + 3; p < out + strlen(scheme) + 3 + host_len; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}

/* The role_arn under map, if any, into *out; reported when it is not an IAM role ARN. */
static void want_role_arn(struct walker *w, yaml_node_t *map, const char *what, char **out)
{
	if (want_string(w, map, "role_arn", false, out) && !role_arn_valid(*out))
		fail(w, lookup(w, map, "role_arn"),
		     "%s: role_arn \"%s\" is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)", what,
		     *out);
}

/*
 * accounts[].aws: static keys (both or neither) and an optional role. An
 * empty mapping is valid: the defaults of "aws:" apply.
 */
static void parse_account_aws(struct walker *w, yaml_node_t *m, struct config_account *a, const char *label)
{
	static const char *const keys[] = { "access_key_id_file", "access_key_id_env", "secret_access_key_file",
					    "secret_access_key_env", "role_arn", NULL };
	yaml_node_t *v = lookup(w, m, "aws");
	char *what = NULL;
	bool have_id, have_secret;

	if (v == NULL)
		return;
	if (v->type != YAML_MAPPING_NODE) {
		fail(w, v, "%s: \"aws\" must be a mapping (\"aws: {}\" for the default credentials), not %s", label,
		     is_null_scalar(v) ? "empty" : type_name(v));
		return;
	}
	a->has_aws = true;
	if (asprintf(&what, "%s: aws", label) < 0)
		what = NULL;
	check_keys(w, v, keys, "an account's aws");
	have_id = lookup(w, v, "access_key_id_file") != NULL || lookup(w, v, "access_key_id_env") != NULL;
	have_secret = lookup(w, v, "secret_access_key_file") != NULL || lookup(w, v, "secret_access_key_env") != NULL;
	if (have_id && !have_secret)
		fail(w, v, "%s: aws: missing \"secret_access_key_file\" or \"secret_access_key_env\" "
		     "(access_key_id is given: give both keys or neither)", label);
	else if (have_secret && !have_id)
		fail(w, v, "%s: aws: missing \"access_key_id_file\" or \"access_key_id_env\" "
		     "(secret_access_key is given: give both keys or neither)", label);
	want_secret(w, v, "access_key_id", false, what != NULL ? what : "aws", &a->aws.access_key_id);
	want_secret(w, v, "secret_access_key", false, what != NULL ? what : "aws", &a->aws.secret_access_key);
	want_role_arn(w, v, what != NULL ? what : "aws", &a->aws.role_arn);
	free(what);
}

/* accounts[].org_arns: organization and OU ARNs, each checked. */
static void parse_org_arns(struct walker *w, yaml_node_t *m, struct config_account *a, const char *label)
{
	yaml_node_t *seq = lookup(w, m, "org_arns");
	size_t cap;

	if (seq == NULL || is_null_scalar(seq))
		return;
	if (seq->type != YAML_SEQUENCE_NODE) {
		fail(w, seq, "%s: \"org_arns\" must be a list, not %s", label, type_name(seq));
		return;
	}
	cap = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	a->org_arns = calloc(cap > 0 ? cap : 1, sizeof *a->org_arns);
	if (a->org_arns == NULL)
		return;
	for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *v = node_at(w, *it);

		if (v == NULL || v->type != YAML_SCALAR_NODE || is_null_scalar(v)) {
			fail(w, v, "%s: each org_arns entry must be a string", label);
			continue;
		}
		if (!org_arn_valid(scalar(v))) {
			fail(w, v, "%s: \"%s\" is not an organization or OU ARN "
			     "(arn:aws:organizations::<account>:organization/o-… or …:ou/o-…/ou-…)", label, scalar(v));
			continue;
		}
		a->org_arns[a->n_org_arns] = strdup(scalar(v));
		if (a->org_arns[a->n_org_arns] != NULL)
			a->n_org_arns++;
	}
}

static void account_free(struct config_account *a)
{
	free(a->name);
	free(a->uid);
	secret_clear(&a->aws.access_key_id);
	secret_clear(&a->aws.secret_access_key);
	free(a->aws.role_arn);
	for (size_t i = 0; i < a->n_org_arns; i++)
		free(a->org_arns[i]);
	free(a->org_arns);
	memset(a, 0, sizeof *a);
}

static void parse_accounts(struct walker *w, yaml_node_t *root, struct config *cfg)
{
	static const char *const keys[] = { "name", "uid", "aws", "org_arns", NULL };
	yaml_node_t *seq = lookup_section(w, root, "accounts", true);
	size_t cap;

	if (seq == NULL)
		return;
	if (seq->type != YAML_SEQUENCE_NODE) {
		fail(w, seq, "\"accounts\" must be a list");
		return;
	}
	cap = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	cfg->accounts = calloc(cap > 0 ? cap : 1, sizeof *cfg->accounts);
	if (cfg->accounts == NULL)
		return;
	for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *m = node_at(w, *it);
		struct config_account *a = &cfg->accounts[cfg->n_accounts];
		char *label = NULL;
		bool named;

		if (m == NULL || m->type != YAML_MAPPING_NODE) {
			fail(w, m, "each account must be a mapping {name, uid}");
			continue;
		}
		check_keys(w, m, keys, "an account");
		named = want_string(w, m, "name", true, &a->name);
		named = want_string(w, m, "uid", true, &a->uid) && named;
		if (a->name == NULL || asprintf(&label, "account \"%s\"", a->name) < 0)
			label = NULL;
		/* checked even when name or uid is missing: every error is reported */
		parse_account_aws(w, m, a, label != NULL ? label : "an account");
		parse_org_arns(w, m, a, label != NULL ? label : "an account");
		free(label);
		if (!named) {
			account_free(a);
			continue;
		}
		if (strlen(a->uid) != 12 || strspn(a->uid, "0123456789") != 12)
			fail(w, lookup(w, m, "uid"), "account \"%s\": uid must be a 12-digit AWS account id", a->name);
		for (size_t i = 0; i < cfg->n_accounts; i++)
			if (strcmp(cfg->accounts[i].name, a->name) == 0)
				fail(w, lookup(w, m, "name"), "duplicate account name \"%s\"", a->name);
		cfg->n_accounts++;
	}
}

/* An http(s) endpoint under map[key], normalised into *out; reported when it is not one. */
static void want_endpoint(struct walker *w, yaml_node_t *map, const char *key, char **out)
{
	char *given = NULL;

	if (!want_string(w, map, key, false, &given))
		return;
	*out = http_url_normal(given);
	if (*out == NULL)
		fail(w, lookup(w, map, key), "aws.endpoints.%s: \"%s\" is not an http:// or https:// URL "
		     "(scheme://host[:port][/path])", key, given);
	free(given);
}

static bool region_valid(const char *region)
{
	return strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(region) && strchr(region, '-') != NULL;
}

/* "aws:": defaults for every account with "aws:". */
static void parse_aws(struct walker *w, yaml_node_t *root, struct config *cfg)
{
	static const char *const keys[] = { "web_identity_token_file", "role_arn", "endpoints", "sts_region", NULL };
	static const char *const endpoint_keys[] = { "ec2", "sts", NULL };
	struct config_aws *aws = &cfg->aws;
	yaml_node_t *m = want_map(w, root, "aws", false);
	yaml_node_t *ep;

	if (m == NULL)
		return;
	check_keys(w, m, keys, "aws");
	want_string(w, m, "web_identity_token_file", false, &aws->web_identity_token_file);
	want_role_arn(w, m, "aws", &aws->role_arn);
	if (aws->web_identity_token_file != NULL && lookup(w, m, "role_arn") == NULL)
		fail(w, lookup(w, m, "web_identity_token_file"),
		     "aws: web_identity_token_file needs role_arn (the role assumed with the token)");
	ep = want_map(w, m, "endpoints", false);
	if (ep != NULL) {
		check_keys(w, ep, endpoint_keys, "aws.endpoints");
		want_endpoint(w, ep, "ec2", &aws->endpoint_ec2);
		want_endpoint(w, ep, "sts", &aws->endpoint_sts);
	}
	if (want_string(w, m, "sts_region", false, &aws->sts_region) && !region_valid(aws->sts_region))
		fail(w, lookup(w, m, "sts_region"), "aws.sts_region: \"%s\" is not an AWS region name", aws->sts_region);
}

/* "gitlab_api:": a list of {url, token_file|token_env}, one per GitLab (URL unique). */
static void parse_gitlab_api(struct walker *w, yaml_node_t *root, struct config *cfg)
{
	static const char *const keys[] = { "url", "token_file", "token_env", NULL };
	yaml_node_t *seq = lookup_section(w, root, "gitlab_api", false);
	size_t cap;

	if (seq == NULL || is_null_scalar(seq))
		return;
	if (seq->type != YAML_SEQUENCE_NODE) {
		fail(w, seq, "\"gitlab_api\" must be a list of {url, token_file}, not %s", type_name(seq));
		return;
	}
	cap = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	cfg->gitlab_apis = calloc(cap > 0 ? cap : 1, sizeof *cfg->gitlab_apis);
	if (cfg->gitlab_apis == NULL)
		return;
	for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *m = node_at(w, *it);
		struct config_gitlab_api *g = &cfg->gitlab_apis[cfg->n_gitlab_apis];
		char *given = NULL, *what = NULL;

		if (m == NULL || m->type != YAML_MAPPING_NODE) {
			fail(w, m, "each gitlab_api entry must be a mapping {url, token_file}");
			continue;
		}
		cfg->n_gitlab_apis++;
		check_keys(w, m, keys, "a gitlab_api entry");
		if (want_string(w, m, "url", true, &given)) {
			g->url = http_url_normal(given);
			if (g->url == NULL)
				fail(w, lookup(w, m, "url"), "gitlab_api: \"%s\" is not an http:// or https:// URL "
				     "(scheme://host[:port][/prefix])", given);
			for (struct config_gitlab_api *o = cfg->gitlab_apis; g->url != NULL && o < g; o++)
				if (o->url != NULL && strcmp(o->url, g->url) == 0)
					fail(w, lookup(w, m, "url"), "duplicate gitlab_api url \"%s\"", g->url);
		}
		if (asprintf(&what, "gitlab_api \"%s\"", given != NULL ? given : "?") < 0)
			what = NULL;
		free(given);
		want_secret(w, m, "token", true, what != NULL ? what : "gitlab_api", &g->token);
		free(what);
	}
}

/* "reconcile:": how often the sources of truth are asked; defaults when absent. */
static void parse_reconcile(struct walker *w, yaml_node_t *root, struct config *cfg)
{
	static const char *const keys[] = { "interval_seconds", "waiting_interval_seconds", "timeout_seconds", NULL };
	yaml_node_t *m = want_map(w, root, "reconcile", false);
	long long v;

	if (m != NULL)
		check_keys(w, m, keys, "reconcile");
	want_int(w, m, "interval_seconds", 1, 86400, 300, &v);
	cfg->reconcile.interval_seconds = (int)v;
	want_int(w, m, "waiting_interval_seconds", 1, 86400, 60, &v);
	cfg->reconcile.waiting_interval_seconds = (int)v;
	want_int(w, m, "timeout_seconds", 1, 300, 10, &v);
	cfg->reconcile.timeout_seconds = (int)v;
}

static void parse_git_filter(struct walker *w, yaml_node_t *m, struct config_filter *f, const char *where)
{
	f->provider = FILTER_GIT;
	want_string(w, m, "tag_name", true, &f->tag_name);
	if (want_string(w, m, "url", true, &f->url_given)) {
		f->url = repo_url_normalize(f->url_given);
		if (f->url == NULL)
			fail(w, lookup(w, m, "url"), "%s: \"%s\" is not a repository URL", where, f->url_given);
	}
	if (want_string(w, m, "ref", true, &f->ref)) {
		if (strncmp(f->ref, "refs/heads/", 11) == 0)
			memmove(f->ref, f->ref + 11, strlen(f->ref + 11) + 1);
		if (!config_ref_valid(f->ref))
			fail(w, lookup(w, m, "ref"), "%s: ref \"%s\" is neither a branch name nor a 40- or 64-hex commit",
			     where, f->ref);
		f->ref_is_sha = util_is_commit(f->ref);
		if (f->ref_is_sha)
			for (char *p = f->ref; *p != '\0'; p++)
				*p = (char)tolower((unsigned char)*p);
	}
}

static void parse_image(struct walker *w, yaml_node_t *asg_map, struct config_asg *asg)
{
	static const char *const seed_keys[] = { "repo", NULL };
	static const char *const repo_keys[] = { "url", "ref", "tag_name", NULL };
	static const char *const git_keys[] = { "provider", "tag_name", "url", "ref", NULL };
	static const char *const static_keys[] = { "provider", "tag_name", "value", NULL };
	yaml_node_t *img = lookup(w, asg_map, "image");
	size_t n_git = 0;

	if (img == NULL) {
		fail(w, asg_map, "ASG \"%s\": missing required key \"image\"",
		     asg->identifier != NULL ? asg->identifier : "?");
		img = lookup_section(w, asg_map, "image", false); /* a misspelt "image:" is still checked */
		if (img == NULL)
			return;
	}
	if (img->type == YAML_MAPPING_NODE) {
		yaml_node_t *repo;

		check_keys(w, img, seed_keys, "image");
		repo = want_map(w, img, "repo", true);
		if (repo == NULL)
			return;
		check_keys(w, repo, repo_keys, "image.repo");
		asg->filters = calloc(1, sizeof *asg->filters);
		if (asg->filters == NULL)
			return;
		asg->n_filters = 1;
		parse_git_filter(w, repo, &asg->filters[0], "image.repo");
		asg->git = &asg->filters[0];
		return;
	}
	if (img->type != YAML_SEQUENCE_NODE) {
		fail(w, img, "\"image\" must be a mapping {repo: …} or a list of filters");
		return;
	}
	asg->filters = calloc((size_t)(img->data.sequence.items.top - img->data.sequence.items.start) + 1,
			      sizeof *asg->filters);
	if (asg->filters == NULL)
		return;
	for (yaml_node_item_t *it = img->data.sequence.items.start; it < img->data.sequence.items.top; it++) {
		yaml_node_t *m = node_at(w, *it);
		struct config_filter *f = &asg->filters[asg->n_filters];
		char *provider = NULL;

		if (m == NULL || m->type != YAML_MAPPING_NODE) {
			fail(w, m, "each image filter must be a mapping with a provider");
			continue;
		}
		if (!want_string(w, m, "provider", true, &provider))
			continue;
		if (strcmp(provider, "git") == 0) {
			check_keys(w, m, git_keys, "a git image filter");
			parse_git_filter(w, m, f, "image filter");
			n_git++;
			asg->git = f;
		} else if (strcmp(provider, "static") == 0) {
			check_keys(w, m, static_keys, "a static image filter");
			f->provider = FILTER_STATIC;
			want_string(w, m, "tag_name", true, &f->tag_name);
			want_string(w, m, "value", true, &f->value);
		} else {
			fail(w, lookup(w, m, "provider"), "unknown image filter provider \"%s\" (git or static)", provider);
			free(provider);
			continue;
		}
		free(provider);
		asg->n_filters++;
	}
	if (n_git != 1) {
		fail(w, img, "ASG \"%s\": the image filters need exactly one \"provider: git\" filter, found %zu",
		     asg->identifier != NULL ? asg->identifier : "?", n_git);
		asg->git = NULL;
	}
}

/* Report account as unknown, with the configured account name it is a near miss of. */
static void unknown_account(struct walker *w, yaml_node_t *at, const struct config *cfg, const char *account)
{
	const char **names = calloc(cfg->n_accounts + 1, sizeof *names);
	const char *near = NULL;

	for (size_t i = 0; names != NULL && i < cfg->n_accounts; i++)
		names[i] = cfg->accounts[i].name;
	if (names != NULL)
		near = nearest(account, names, cfg->n_accounts);
	if (near != NULL)
		fail(w, at, "unknown account \"%s\" (not in accounts; did you mean \"%s\"?)", account, near);
	else
		fail(w, at, "unknown account \"%s\" (not in accounts)", account);
	free(names);
}

static void parse_asgs(struct walker *w, yaml_node_t *root, struct config *cfg)
{
	static const char *const keys[] = { "provider", "identifier", "account", "region", "policy", "image", "pin", NULL };
	static const char *const pin_keys[] = { "file", NULL };
	yaml_node_t *seq = lookup_section(w, root, "terraformResources", true);
	size_t cap;

	if (seq == NULL)
		return;
	if (seq->type != YAML_SEQUENCE_NODE) {
		fail(w, seq, "\"terraformResources\" must be a list");
		return;
	}
	cap = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	cfg->asgs = calloc(cap > 0 ? cap : 1, sizeof *cfg->asgs);
	if (cfg->asgs == NULL)
		return;
	for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *m = node_at(w, *it);
		struct config_asg *asg = &cfg->asgs[cfg->n_asgs];
		char *provider = NULL, *account = NULL, *policy = NULL;
		yaml_node_t *pin;

		if (m == NULL || m->type != YAML_MAPPING_NODE) {
			fail(w, m, "each terraformResources entry must be a mapping");
			continue;
		}
		cfg->n_asgs++;
		check_keys(w, m, keys, "a terraformResources entry");
		if (want_string(w, m, "provider", true, &provider) && strcmp(provider, "asg") != 0)
			fail(w, lookup(w, m, "provider"), "unsupported provider \"%s\" (amicd manages \"asg\")", provider);
		free(provider);
		if (want_string(w, m, "identifier", true, &asg->identifier)) {
			if (strspn(asg->identifier, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
			    strlen(asg->identifier) || asg->identifier[0] == '.')
				fail(w, lookup(w, m, "identifier"), "identifier \"%s\" may hold only letters, digits, '-', '_' and '.'",
				     asg->identifier);
			for (struct config_asg *o = cfg->asgs; o < asg; o++)
				if (o->identifier != NULL && strcmp(o->identifier, asg->identifier) == 0)
					fail(w, lookup(w, m, "identifier"), "duplicate identifier \"%s\"", asg->identifier);
		}
		if (want_string(w, m, "account", true, &account)) {
			for (size_t i = 0; i < cfg->n_accounts; i++)
				if (strcmp(cfg->accounts[i].name, account) == 0)
					asg->account = &cfg->accounts[i];
			if (asg->account == NULL)
				unknown_account(w, lookup(w, m, "account"), cfg, account);
		}
		free(account);
		if (want_string(w, m, "region", true, &asg->region) &&
		    (strspn(asg->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(asg->region) ||
		     strchr(asg->region, '-') == NULL))
			fail(w, lookup(w, m, "region"), "\"%s\" is not an AWS region name", asg->region);
		if (want_string(w, m, "policy", false, &policy)) {
			if (strcmp(policy, "latest") == 0)
				asg->policy = POLICY_LATEST;
			else if (strcmp(policy, "head") != 0)
				fail(w, lookup(w, m, "policy"), "policy must be \"head\" or \"latest\", not \"%s\"", policy);
		}
		free(policy);
		parse_image(w, m, asg);
		pin = want_map(w, m, "pin", false);
		if (pin != NULL) {
			check_keys(w, pin, pin_keys, "pin");
			want_string(w, pin, "file", false, &asg->pin_file);
		}
		if (asg->pin_file == NULL && asg->identifier != NULL && cfg->pins_dir != NULL &&
		    asprintf(&asg->pin_file, "%s/%s.yml", cfg->pins_dir, asg->identifier) < 0)
			asg->pin_file = NULL;
		for (struct config_asg *o = cfg->asgs; o < asg; o++)
			if (o->pin_file != NULL && asg->pin_file != NULL && strcmp(o->pin_file, asg->pin_file) == 0 &&
			    /* a duplicate identifier is reported already; a missing one too */
			    (o->identifier == NULL || asg->identifier == NULL || strcmp(o->identifier, asg->identifier) != 0))
				fail(w, m, "ASG \"%s\" and \"%s\" would write the same pin file %s",
				     o->identifier != NULL ? o->identifier : "(no identifier)",
				     asg->identifier != NULL ? asg->identifier : "(no identifier)", asg->pin_file);
	}
}

static void walk(struct walker *w, struct config *cfg)
{
	static const char *const top_keys[] = { "listen", "public_listen", "database", "pins_dir", "log_level", "auth", "limits",
						"trigger", "accounts", "aws", "gitlab_api", "reconcile",
						"terraformResources", NULL };
	yaml_node_t *root = yaml_document_get_root_node(w->doc);

	if (root == NULL || is_null_scalar(root)) {
		fail(w, NULL, "the configuration is empty");
		return;
	}
	if (root->type != YAML_MAPPING_NODE) {
		fail(w, root, "the configuration must be a mapping, not %s", type_name(root));
		return;
	}
	check_keys(w, root, top_keys, "the configuration");
	parse_listen(w, root, cfg);
	if (!want_string(w, root, "database", false, &cfg->database))
		cfg->database = strdup("var/amicd.db");
	if (!want_string(w, root, "pins_dir", false, &cfg->pins_dir))
		cfg->pins_dir = strdup("var/pins");
	if (want_string(w, root, "log_level", false, &cfg->log_level) &&
	    strcmp(cfg->log_level, "debug") != 0 && strcmp(cfg->log_level, "info") != 0 &&
	    strcmp(cfg->log_level, "warn") != 0 && strcmp(cfg->log_level, "error") != 0)
		fail(w, lookup(w, root, "log_level"), "log_level must be debug, info, warn or error");
	parse_auth(w, root, cfg);
	parse_limits(w, root, cfg);
	parse_trigger(w, root, cfg);
	parse_accounts(w, root, cfg);
	parse_aws(w, root, cfg);
	parse_gitlab_api(w, root, cfg);
	parse_reconcile(w, root, cfg);
	parse_asgs(w, root, cfg);
}

enum amicd_rc config_load(const char *path, struct config **out, struct config_diag *diag)
{
	return config_load_with(path, 0, out, diag);
}

enum amicd_rc config_load_with(const char *path, unsigned flags, struct config **out, struct config_diag *diag)
{
	enum amicd_rc rc = AMICD_OK;
	struct config *cfg = NULL;
	FILE *f = NULL;
	yaml_parser_t parser;
	yaml_document_t doc;
	bool parser_ready = false, doc_ready = false;
	struct walker w = { .file = path, .doc = &doc, .diag = diag, .offline = (flags & CONFIG_LOAD_OFFLINE) != 0 };

	*out = NULL;
	diag->lines = NULL;
	diag->n = 0;
	f = fopen(path, "rb");
	if (f == NULL) {
		fail(&w, NULL, "cannot open the configuration: %s", strerror(errno));
		rc = AMICD_ERR_IO;
		goto out;
	}
	if (!yaml_parser_initialize(&parser)) {
		rc = AMICD_ERR_NOMEM;
		goto out;
	}
	parser_ready = true;
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		yaml_node_t at = { .start_mark = parser.problem_mark };

		fail(&w, &at, "YAML syntax error: %s%s%s",
		     parser.problem != NULL ? parser.problem : "unknown",
		     parser.context != NULL ? " " : "", parser.context != NULL ? parser.context : "");
		rc = AMICD_ERR_CONFIG;
		goto out;
	}
	doc_ready = true;
	cfg = calloc(1, sizeof *cfg);
	if (cfg == NULL) {
		rc = AMICD_ERR_NOMEM;
		goto out;
	}
	cfg->path = strdup(path);
	walk(&w, cfg);
	if (diag->n > 0) {
		rc = AMICD_ERR_CONFIG;
		goto out;
	}
	/* one spelling per repo: GitLab's paths ignore case, and the store keys pushes by this text */
	for (size_t i = 0; i < cfg->n_asgs; i++) {
		for (size_t k = 0; k < cfg->asgs[i].n_filters; k++) {
			struct config_filter *g = &cfg->asgs[i].filters[k];
			const char *first = g->provider == FILTER_GIT ? config_repo(cfg, g->url) : NULL;
			char *copy;

			if (first == NULL || first == g->url || strcmp(first, g->url) == 0)
				continue;
			copy = strdup(first);
			if (copy == NULL) {
				rc = AMICD_ERR_NOMEM;
				goto out;
			}
			free(g->url);
			g->url = copy;
		}
	}
	for (size_t i = 0; i < cfg->n_asgs; i++) {
		/* what the reconciler asks for each ASG (design §9) */
		cfg->asgs[i].gitlab_api = config_gitlab_api_for(cfg, cfg->asgs[i].git->url);
		cfg->asgs[i].source_timeout_seconds = cfg->reconcile.timeout_seconds;
	}
	*out = cfg;
	cfg = NULL;
out:
	config_free(cfg);
	if (doc_ready)
		yaml_document_delete(&doc);
	if (parser_ready)
		yaml_parser_delete(&parser);
	if (f != NULL)
		fclose(f);
	return rc;
}

static void filter_free(struct config_filter *f)
{
	free(f->tag_name);
	free(f->url);
	free(f->url_given);
	free(f->ref);
	free(f->value);
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->listen_host);
	free(cfg->public_listen_host);
	free(cfg->database);
	free(cfg->pins_dir);
	free(cfg->log_level);
	secret_clear(&cfg->auth.gitlab_token);
	secret_clear(&cfg->auth.gitlab_signing_key);
	free(cfg->auth.eventbridge_api_key_header);
	secret_clear(&cfg->auth.eventbridge_api_key);
	free(cfg->auth.eventbridge_basic_user);
	secret_clear(&cfg->auth.eventbridge_basic_password);
	secret_clear(&cfg->auth.admin_token);
	secret_clear(&cfg->auth.read_token);
	free(cfg->trigger.url);
	secret_clear(&cfg->trigger.token);
	for (size_t i = 0; cfg->trigger.command != NULL && i < cfg->trigger.n_command; i++)
		free(cfg->trigger.command[i]);
	free(cfg->trigger.command);
	for (size_t i = 0; i < cfg->n_accounts; i++)
		account_free(&cfg->accounts[i]);
	free(cfg->accounts);
	free(cfg->aws.web_identity_token_file);
	free(cfg->aws.role_arn);
	free(cfg->aws.endpoint_ec2);
	free(cfg->aws.endpoint_sts);
	free(cfg->aws.sts_region);
	for (size_t i = 0; i < cfg->n_gitlab_apis; i++) {
		free(cfg->gitlab_apis[i].url);
		secret_clear(&cfg->gitlab_apis[i].token);
	}
	free(cfg->gitlab_apis);
	for (size_t i = 0; i < cfg->n_asgs; i++) {
		struct config_asg *a = &cfg->asgs[i];

		free(a->identifier);
		free(a->region);
		free(a->pin_file);
		for (size_t j = 0; j < a->n_filters; j++)
			filter_free(&a->filters[j]);
		free(a->filters);
	}
	free(cfg->asgs);
	free(cfg);
}

void config_diag_free(struct config_diag *diag)
{
	for (size_t i = 0; i < diag->n; i++)
		free(diag->lines[i]);
	free(diag->lines);
	diag->lines = NULL;
	diag->n = 0;
}

/* ---- config_diff -------------------------------------------------------- */

static bool str_same(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool secret_same(const struct secret *a, const struct secret *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->bytes, b->bytes, a->len) == 0) &&
	       (a->bytes == NULL) == (b->bytes == NULL);
}

static bool strv_same(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!str_same(a[i], b[i]))
			return false;
	return true;
}

static bool auth_same(const struct config_auth *a, const struct config_auth *b)
{
	return secret_same(&a->gitlab_token, &b->gitlab_token) &&
	       secret_same(&a->gitlab_signing_key, &b->gitlab_signing_key) &&
	       str_same(a->eventbridge_api_key_header, b->eventbridge_api_key_header) &&
	       secret_same(&a->eventbridge_api_key, &b->eventbridge_api_key) &&
	       str_same(a->eventbridge_basic_user, b->eventbridge_basic_user) &&
	       secret_same(&a->eventbridge_basic_password, &b->eventbridge_basic_password) &&
	       secret_same(&a->admin_token, &b->admin_token) && secret_same(&a->read_token, &b->read_token);
}

static bool limits_same(const struct config_limits *a, const struct config_limits *b)
{
	return a->max_body_bytes == b->max_body_bytes && a->max_inflight_bytes == b->max_inflight_bytes &&
	       a->busy_timeout_ms == b->busy_timeout_ms && a->max_inflight == b->max_inflight &&
	       a->rejected_keep == b->rejected_keep && a->rejected_keep_bytes == b->rejected_keep_bytes &&
	       a->max_connections == b->max_connections &&
	       a->max_connections_per_address == b->max_connections_per_address &&
	       a->request_timeout_seconds == b->request_timeout_seconds &&
	       a->idle_timeout_seconds == b->idle_timeout_seconds && a->stall_seconds == b->stall_seconds;
}

static bool trigger_same(const struct config_trigger *a, const struct config_trigger *b)
{
	return str_same(a->url, b->url) && secret_same(&a->token, &b->token) &&
	       strv_same(a->command, a->n_command, b->command, b->n_command) &&
	       a->timeout_seconds == b->timeout_seconds && a->max_attempts == b->max_attempts &&
	       a->backoff_max_seconds == b->backoff_max_seconds;
}

static bool accounts_same(const struct config *a, const struct config *b)
{
	if (a->n_accounts != b->n_accounts)
		return false;
	for (size_t i = 0; i < a->n_accounts; i++) {
		const struct config_account *x = &a->accounts[i], *y = &b->accounts[i];

		if (!str_same(x->name, y->name) || !str_same(x->uid, y->uid) || x->has_aws != y->has_aws ||
		    !secret_same(&x->aws.access_key_id, &y->aws.access_key_id) ||
		    !secret_same(&x->aws.secret_access_key, &y->aws.secret_access_key) ||
		    !str_same(x->aws.role_arn, y->aws.role_arn) ||
		    !strv_same(x->org_arns, x->n_org_arns, y->org_arns, y->n_org_arns))
			return false;
	}
	return true;
}

static bool asgs_same(const struct config *a, const struct config *b)
{
	if (a->n_asgs != b->n_asgs)
		return false;
	for (size_t i = 0; i < a->n_asgs; i++) {
		const struct config_asg *x = &a->asgs[i], *y = &b->asgs[i];

		if (!str_same(x->identifier, y->identifier) || !str_same(x->account->name, y->account->name) ||
		    !str_same(x->region, y->region) || x->policy != y->policy || !str_same(x->pin_file, y->pin_file) ||
		    x->n_filters != y->n_filters)
			return false;
		for (size_t k = 0; k < x->n_filters; k++) {
			const struct config_filter *f = &x->filters[k], *g = &y->filters[k];

			if (f->provider != g->provider || !str_same(f->tag_name, g->tag_name) || !str_same(f->url, g->url) ||
			    !str_same(f->ref, g->ref) || !str_same(f->value, g->value))
				return false;
		}
	}
	return true;
}

unsigned config_diff(const struct config *a, const struct config *b)
{
	unsigned d = 0;
	bool gitlab_api_same = a->n_gitlab_apis == b->n_gitlab_apis;

	for (size_t i = 0; gitlab_api_same && i < a->n_gitlab_apis; i++)
		gitlab_api_same = str_same(a->gitlab_apis[i].url, b->gitlab_apis[i].url) &&
				  secret_same(&a->gitlab_apis[i].token, &b->gitlab_apis[i].token);
	if (!str_same(a->listen_host, b->listen_host) || a->listen_port != b->listen_port)
		d |= CONFIG_LISTEN;
	if (!str_same(a->database, b->database))
		d |= CONFIG_DATABASE;
	if (!str_same(a->pins_dir, b->pins_dir))
		d |= CONFIG_PINS_DIR;
	if (!str_same(a->log_level, b->log_level))
		d |= CONFIG_LOG_LEVEL;
	if (!auth_same(&a->auth, &b->auth))
		d |= CONFIG_AUTH;
	if (!limits_same(&a->limits, &b->limits))
		d |= CONFIG_LIMITS;
	if (!trigger_same(&a->trigger, &b->trigger))
		d |= CONFIG_TRIGGER;
	if (!accounts_same(a, b))
		d |= CONFIG_ACCOUNTS;
	if (!str_same(a->aws.web_identity_token_file, b->aws.web_identity_token_file) ||
	    !str_same(a->aws.role_arn, b->aws.role_arn) || !str_same(a->aws.endpoint_ec2, b->aws.endpoint_ec2) ||
	    !str_same(a->aws.endpoint_sts, b->aws.endpoint_sts) || !str_same(a->aws.sts_region, b->aws.sts_region))
		d |= CONFIG_AWS;
	if (!gitlab_api_same)
		d |= CONFIG_GITLAB_API;
	if (a->reconcile.interval_seconds != b->reconcile.interval_seconds ||
	    a->reconcile.waiting_interval_seconds != b->reconcile.waiting_interval_seconds ||
	    a->reconcile.timeout_seconds != b->reconcile.timeout_seconds)
		d |= CONFIG_RECONCILE;
	if (!asgs_same(a, b))
		d |= CONFIG_RESOURCES;
	return d;
}

const char *config_section_name(enum config_section section)
{
	switch (section) {
	case CONFIG_LISTEN: return "listen";
	case CONFIG_DATABASE: return "database";
	case CONFIG_PINS_DIR: return "pins_dir";
	case CONFIG_LOG_LEVEL: return "log_level";
	case CONFIG_AUTH: return "auth";
	case CONFIG_LIMITS: return "limits";
	case CONFIG_TRIGGER: return "trigger";
	case CONFIG_ACCOUNTS: return "accounts";
	case CONFIG_AWS: return "aws";
	case CONFIG_GITLAB_API: return "gitlab_api";
	case CONFIG_RECONCILE: return "reconcile";
	case CONFIG_RESOURCES: return "terraformResources";
	default: return "?";
	}
}

const struct config_asg *config_find_asg(const struct config *cfg, const char *identifier)
{
	for (size_t i = 0; i < cfg->n_asgs; i++)
		if (strcmp(cfg->asgs[i].identifier, identifier) == 0)
			return &cfg->asgs[i];
	return NULL;
}

/* The git filter of an ASG that follows branch of repo (any case of the path), or NULL. */
static const struct config_filter *tracking(const struct config *cfg, const char *repo, const char *branch)
{
	for (size_t i = 0; i < cfg->n_asgs; i++) {
		const struct config_filter *g = cfg->asgs[i].git;

		if (g != NULL && !g->ref_is_sha && repo_url_equal(g->url, repo) && strcmp(g->ref, branch) == 0)
			return g;
	}
	return NULL;
}

bool config_tracks(const struct config *cfg, const char *repo, const char *branch)
{
	return tracking(cfg, repo, branch) != NULL;
}

const char *config_repo(const struct config *cfg, const char *repo)
{
	for (size_t i = 0; repo != NULL && i < cfg->n_asgs; i++) {
		const struct config_filter *g = cfg->asgs[i].git;

		if (g != NULL && repo_url_equal(g->url, repo))
			return g->url;
	}
	return NULL;
}

bool config_knows_repo(const struct config *cfg, const char *repo)
{
	return config_repo(cfg, repo) != NULL;
}

const char *config_push_repo(const struct config *cfg, char *const *urls, size_t n, const char *branch,
			     bool *repo_known)
{
	bool known = false;

	for (size_t i = 0; i < n; i++) {
		const struct config_filter *g;

		if (urls[i] == NULL)
			continue;
		g = branch != NULL ? tracking(cfg, urls[i], branch) : NULL;
		if (g != NULL) {
			if (repo_known != NULL)
				*repo_known = true;
			return g->url;
		}
		known = known || config_knows_repo(cfg, urls[i]);
	}
	if (repo_known != NULL)
		*repo_known = known;
	return NULL;
}

const struct config_gitlab_api *config_gitlab_api_for(const struct config *cfg, const char *repo)
{
	const struct config_gitlab_api *best = NULL;
	size_t best_len = 0;

	if (cfg == NULL || repo == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->n_gitlab_apis; i++) {
		const struct config_gitlab_api *g = &cfg->gitlab_apis[i];
		size_t len = g->url != NULL ? strlen(g->url) : 0;

		/* a prefix ending where a path segment ends, with a project path after it */
		if (len == 0 || strncmp(repo, g->url, len) != 0 || repo[len] != '/' || repo[len + 1] == '\0')
			continue;
		if (best == NULL || len > best_len) {
			best = g;
			best_len = len;
		}
	}
	return best;
}
