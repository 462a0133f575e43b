/*
 * test_openshift.c — the OpenShift deployment (openshift/, design §8) checked
 * against amicd itself.
 *
 * Every *.yaml / *.yml under openshift/ is parsed with libyaml's document API
 * (all documents of each file) and must parse. Each OpenShift Template found
 * (at least one must exist) is then checked:
 *
 *   - parameters: every ${P} / ${{P}} used in the objects is declared, every
 *     declared parameter is used, ${{P}} stands alone in its scalar (the only
 *     form `oc process` substitutes);
 *   - exactly one workload, a Deployment with replicas 1 and strategy Recreate
 *     (SQLite has one writer; two pods must never share the database);
 *   - ports: the liveness probe is GET /healthz and the readiness probe
 *     GET /readyz (a startup probe, if any, GET /healthz), all on the
 *     container port (by name or number) that equals
 *     the port of `listen:` in the embedded amicd.yml, which must not be a
 *     loopback address; the Deployment's selector and each Service's selector
 *     match the pod labels; every Service port targets that port or the one of
 *     `public_listen:`; the Route points at a Service of the Template, on the
 *     port of `public_listen:` (design §4: hooks and /healthz only), with
 *     tls.termination edge and no plain-HTTP access;
 *   - the probe paths are routes amicd serves: they appear with method GET in
 *     the route table of src/server.c (read as text);
 *   - paths: the config path of the container args is the ConfigMap mount
 *     (mountPath + subPath, or mountPath/key), and that ConfigMap of the
 *     Template holds the key; every *_file of amicd.yml (also in the optional
 *     lines the template leaves commented out) lies under the Secret volume's
 *     read-only mount; database and pins_dir lie directly in the PVC's
 *     writable mount (amicd creates one directory level only; SQLite none);
 *     the PVC is ReadWriteOnce; with a read-only root file system, TMPDIR is a
 *     writable volume; every *_env names a variable the container sets;
 *   - security: runAsNonRoot, readOnlyRootFilesystem, allowPrivilegeEscalation
 *     false, capabilities drop ALL, seccomp RuntimeDefault, not root, not
 *     privileged; resources requests and limits for cpu and memory;
 *   - the embedded amicd.yml passes config_load: template parameters expanded
 *     (their default, else a plausible value from TEST_VALUES below), every
 *     *_file rewritten to a temp file this test creates, nothing else touched;
 *     once as shipped, once with the optional commented-out auth lines
 *     enabled, and once as shipped without the trigger-token file (an
 *     optional Secret key); auth.read is on and public_listen parsed. amicd's own pin file paths (default <pins_dir>/<id>.yml) must
 *     land on the PVC.
 *
 * Failure messages name the file, the line and the field. The repository
 * root is the parent of the parent of AMICD_TEST_DATA, else the current
 * directory. Temp files live in a mkdtemp directory removed at the end.
 */
#include "config.h"
#include "support.h"

#include <errno.h>
#include <ftw.h>
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
#include <yaml.h>
#include <cmocka.h>

/* Plausible values for template parameters that have no default. */
static const struct {
	const char *name;
	const char *value;
} TEST_VALUES[] = {
	{ "IMAGE", "quay.io/example/amicd" },
	{ "IMAGE_TAG", "0.1.0" },
	{ "TRIGGER_URL", "http://terraform-resources.example.svc:9000/terraform-resources" },
	{ "ACCOUNT_UID", "444455556666" },
	{ "ASG_IDENTIFIER", "workers-stage" },
	{ "ASG_REGION", "eu-west-1" },
	{ "IMAGE_REPO_URL", "https://gitlab.example.net/platform/golden-images" },
};

/* A valid Standard Webhooks secret, for secret_file (auth.gitlab_signing). */
#define WHSEC "whsec_YW1pY2QtdGVzdC1zaWduaW5nLWtleS0zMi1ieXRlcyE=\n"

/* ---- state -------------------------------------------------------------- */

struct yfile {
	char *rel;               /* path relative to the repository root */
	yaml_document_t *docs;
	size_t n_docs;
	char *error;             /* parse error, NULL when the file parsed */
};

struct world {
	char root[PATH_MAX];
	char tmp[PATH_MAX];
	struct yfile *files;
	size_t n_files;
	unsigned serial;         /* names temp files uniquely */
};

/* One Template and the parts of it the checks need. */
struct tpl {
	struct world *w;
	const char *file;
	yaml_document_t *doc;
	yaml_node_t *root;
	yaml_node_t *objects;
	yaml_node_t *deploy;     /* the one Deployment */
	const char *deploy_name;
	yaml_node_t *pod;        /* its spec.template.spec */
	yaml_node_t *ctr;        /* the amicd container */
	const char *config_path; /* after --config */
	yaml_node_t *config_at;  /* the args node, for messages */
	yaml_node_t *cm;         /* the ConfigMap holding amicd.yml */
	const char *cm_name;
	const char *cm_key;
	yaml_node_t *cm_value;   /* the amicd.yml scalar */
};

/* amicd.yml as the pod will see it, parsed. */
struct inner {
	char *text;
	yaml_document_t doc;
	bool loaded;
	yaml_node_t *root;
	const char *what;        /* "as shipped" or "with the optional lines enabled" */
};

/* nftw() has no user pointer: the world being filled. */
static struct world *collecting;

/* ---- small helpers ------------------------------------------------------ */

struct buf {
	char *s;
	size_t len, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap > 0 ? b->cap : 256;

		while (b->len + n + 1 > cap)
			cap *= 2;
		b->s = realloc(b->s, cap);
		assert_non_null(b->s);
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool all_digits(const char *s)
{
	return s[0] != '\0' && strspn(s, "0123456789") == strlen(s);
}

/* path is dir or lies below it (component-wise). */
static bool path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* The directory part of path (caller frees); "/" for "/x". */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* ---- libyaml document access ------------------------------------------- */

static const char *ystr(const yaml_node_t *n)
{
	return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static unsigned yline(const yaml_node_t *n)
{
	return n != NULL ? (unsigned)n->start_mark.line + 1 : 0;
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

/* The node at a dotted path of mapping keys ("spec.template.spec"), or NULL. */
static yaml_node_t *ypath(yaml_document_t *d, yaml_node_t *n, const char *path)
{
	char key[128];

	while (n != NULL && *path != '\0') {
		size_t len = strcspn(path, ".");

		snprintf(key, sizeof key, "%.*s", (int)len, path);
		n = yget(d, n, key);
		path += len;
		if (*path == '.')
			path++;
	}
	return n;
}

static const char *ypath_str(yaml_document_t *d, yaml_node_t *n, const char *path)
{
	return ystr(ypath(d, n, path));
}

static size_t ylen(const yaml_node_t *seq)
{
	if (seq == NULL || seq->type != YAML_SEQUENCE_NODE)
		return 0;
	return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

static yaml_node_t *yat(yaml_document_t *d, const yaml_node_t *seq, size_t i)
{
	return i < ylen(seq) ? yaml_document_get_node(d, seq->data.sequence.items.start[i]) : NULL;
}

static bool ytrue(const yaml_node_t *n)
{
	const char *s = ystr(n);

	return s != NULL && (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0);
}

static bool yfalse(const yaml_node_t *n)
{
	const char *s = ystr(n);

	return s != NULL && (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0);
}

/* Every scalar (keys included) under n, depth first. */
typedef void scalar_fn(yaml_node_t *n, void *ctx);

static void walk_scalars(yaml_document_t *d, yaml_node_t *n, scalar_fn *fn, void *ctx)
{
	if (n == NULL)
		return;
	if (n->type == YAML_SCALAR_NODE) {
		fn(n, ctx);
	} else if (n->type == YAML_SEQUENCE_NODE) {
		for (size_t i = 0; i < ylen(n); i++)
			walk_scalars(d, yat(d, n, i), fn, ctx);
	} else if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			walk_scalars(d, yaml_document_get_node(d, p->key), fn, ctx);
			walk_scalars(d, yaml_document_get_node(d, p->value), fn, ctx);
		}
	}
}

/* Every (key, value) pair of every mapping under n whose key is a scalar. */
typedef void pair_fn(yaml_node_t *key, yaml_node_t *value, void *ctx);

static void walk_pairs(yaml_document_t *d, yaml_node_t *n, pair_fn *fn, void *ctx)
{
	if (n == NULL)
		return;
	if (n->type == YAML_SEQUENCE_NODE) {
		for (size_t i = 0; i < ylen(n); i++)
			walk_pairs(d, yat(d, n, i), fn, ctx);
	} else if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(d, p->key);
			yaml_node_t *v = yaml_document_get_node(d, p->value);

			if (ystr(k) != NULL)
				fn(k, v, ctx);
			walk_pairs(d, v, fn, ctx);
		}
	}
}

/* ---- failing with a position ------------------------------------------- */

__attribute__((format(printf, 3, 4), noreturn))
static void tfail(const struct tpl *t, const yaml_node_t *at, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fail_msg("%s:%u: %s", t->file, yline(at), msg);
	abort(); /* not reached: fail_msg() leaves the test */
}

/* Position inside the ConfigMap's amicd.yml: the file line of the scalar plus the inner line. */
__attribute__((format(printf, 4, 5), noreturn))
static void ifail(const struct tpl *t, const struct inner *in, const yaml_node_t *at, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* a block scalar's text starts on the line after its indicator */
	fail_msg("%s:%u: ConfigMap %s, %s line %u (%s): %s", t->file,
		 at != NULL ? yline(t->cm_value) + yline(at) : yline(t->cm_value), t->cm_name, t->cm_key,
		 yline(at), in->what, msg);
	abort();
}

/* ---- loading openshift/ ------------------------------------------------- */

static int collect(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	struct world *w = collecting;
	struct yfile *grown;
	size_t rootlen = strlen(w->root);

	(void)sb;
	(void)ftw;
	if (type != FTW_F || !(ends_with(path, ".yaml") || ends_with(path, ".yml")))
		return 0;
	grown = realloc(w->files, (w->n_files + 1) * sizeof *grown);
	if (grown == NULL)
		return -1;
	w->files = grown;
	memset(&w->files[w->n_files], 0, sizeof w->files[0]);
	w->files[w->n_files].rel = strdup(strncmp(path, w->root, rootlen) == 0 && path[rootlen] == '/'
					  ? path + rootlen + 1 : path);
	w->n_files++;
	return 0;
}

static int cmp_files(const void *a, const void *b)
{
	return strcmp(((const struct yfile *)a)->rel, ((const struct yfile *)b)->rel);
}

static void load_yaml(struct world *w, struct yfile *yf)
{
	char abs[PATH_MAX * 2];
	yaml_parser_t parser;
	FILE *f = NULL;

	snprintf(abs, sizeof abs, "%s/%s", w->root, yf->rel);
	f = fopen(abs, "rb");
	if (f == NULL) {
		if (asprintf(&yf->error, "%s: cannot open: %s", yf->rel, strerror(errno)) < 0)
			yf->error = NULL;
		return;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		yf->error = strdup("yaml_parser_initialize failed");
		return;
	}
	yaml_parser_set_input_file(&parser, f);
	for (;;) {
		yaml_document_t doc;
		yaml_document_t *grown;

		if (!yaml_parser_load(&parser, &doc)) {
			if (asprintf(&yf->error, "%s:%zu:%zu: YAML error: %s%s%s", yf->rel,
				     parser.problem_mark.line + 1, parser.problem_mark.column + 1,
				     parser.problem != NULL ? parser.problem : "?",
				     parser.context != NULL ? " " : "", parser.context != NULL ? parser.context : "") < 0)
				yf->error = NULL;
			break;
		}
		if (yaml_document_get_root_node(&doc) == NULL) {
			yaml_document_delete(&doc);
			break;
		}
		grown = realloc(yf->docs, (yf->n_docs + 1) * sizeof *grown);
		if (grown == NULL) {
			yaml_document_delete(&doc);
			break;
		}
		yf->docs = grown;
		yf->docs[yf->n_docs++] = doc;
	}
	if (yf->error == NULL && yf->n_docs == 0 && asprintf(&yf->error, "%s: holds no YAML document", yf->rel) < 0)
		yf->error = NULL;
	yaml_parser_delete(&parser);
	fclose(f);
}

static int group_setup(void **state)
{
	const char *data = getenv("AMICD_TEST_DATA");
	char dir[PATH_MAX + 16];
	struct world *w = calloc(1, sizeof *w);

	if (w == NULL)
		return -1;
	if (data != NULL && data[0] != '\0') {
		char buf[PATH_MAX];
		char *slash;

		snprintf(buf, sizeof buf, "%s", data);
		for (int up = 0; up < 2; up++) { /* tests/data -> tests -> root */
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
	if (support_tmpdir(w->tmp, sizeof w->tmp, NULL, "amicd-test-openshift") != 0) {
		free(w);
		return -1;
	}
	snprintf(dir, sizeof dir, "%s/openshift", w->root);
	collecting = w;
	if (nftw(dir, collect, 16, FTW_PHYS) != 0)
		w->n_files = 0; /* reported by test_files_parse */
	collecting = NULL;
	if (w->n_files > 1)
		qsort(w->files, w->n_files, sizeof w->files[0], cmp_files);
	for (size_t i = 0; i < w->n_files; i++)
		load_yaml(w, &w->files[i]);
	*state = w;
	return 0;
}

static int group_teardown(void **state)
{
	struct world *w = *state;

	if (w == NULL)
		return 0;
	for (size_t i = 0; i < w->n_files; i++) {
		for (size_t j = 0; j < w->files[i].n_docs; j++)
			yaml_document_delete(&w->files[i].docs[j]);
		free(w->files[i].docs);
		free(w->files[i].rel);
		free(w->files[i].error);
	}
	free(w->files);
	support_rmtree(w->tmp);
	free(w);
	*state = NULL;
	return 0;
}

/* ---- the Template ------------------------------------------------------- */

static const char *obj_kind(const struct tpl *t, yaml_node_t *obj)
{
	const char *k = ypath_str(t->doc, obj, "kind");

	return k != NULL ? k : "?";
}

static const char *obj_name(const struct tpl *t, yaml_node_t *obj)
{
	const char *n = ypath_str(t->doc, obj, "metadata.name");

	return n != NULL ? n : "?";
}

/* The object of kind with metadata.name equal to name, or NULL. */
static yaml_node_t *find_object(const struct tpl *t, const char *kind, const char *name)
{
	for (size_t i = 0; i < ylen(t->objects); i++) {
		yaml_node_t *o = yat(t->doc, t->objects, i);

		if (strcmp(obj_kind(t, o), kind) == 0 && strcmp(obj_name(t, o), name) == 0)
			return o;
	}
	return NULL;
}

static yaml_node_t *pod_volume(const struct tpl *t, const char *name)
{
	yaml_node_t *vols = yget(t->doc, t->pod, "volumes");

	for (size_t i = 0; i < ylen(vols); i++) {
		yaml_node_t *v = yat(t->doc, vols, i);
		const char *n = ypath_str(t->doc, v, "name");

		if (n != NULL && strcmp(n, name) == 0)
			return v;
	}
	return NULL;
}

/* The volumeMount of the container whose mountPath holds path (longest wins), or NULL. */
static yaml_node_t *mount_for(const struct tpl *t, const char *path)
{
	yaml_node_t *mounts = yget(t->doc, t->ctr, "volumeMounts");
	yaml_node_t *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < ylen(mounts); i++) {
		yaml_node_t *m = yat(t->doc, mounts, i);
		const char *mp = ypath_str(t->doc, m, "mountPath");

		if (mp != NULL && path_under(path, mp) && strlen(mp) >= best_len) {
			best = m;
			best_len = strlen(mp);
		}
	}
	return best;
}

/* The pod volume a mount uses (fails when there is none). */
static yaml_node_t *volume_of(const struct tpl *t, yaml_node_t *mount)
{
	const char *name = ypath_str(t->doc, mount, "name");
	yaml_node_t *v = name != NULL ? pod_volume(t, name) : NULL;

	if (v == NULL)
		tfail(t, mount, "Deployment %s: volumeMount \"%s\" names no volume of the pod", t->deploy_name,
		      name != NULL ? name : "?");
	return v;
}

static const char *volume_kind(const struct tpl *t, yaml_node_t *vol)
{
	static const char *const kinds[] = { "secret", "configMap", "persistentVolumeClaim", "emptyDir",
					     "projected", "hostPath", "ephemeral", NULL };

	for (const char *const *k = kinds; *k != NULL; k++)
		if (yget(t->doc, vol, *k) != NULL)
			return *k;
	return "other";
}

/*
 * Find the Template's parts: the one Deployment, its amicd container, the
 * --config path and the ConfigMap key mounted there. Fails on anything
 * missing, naming the file and the field.
 */
static void tpl_open(struct tpl *t, struct world *w, const char *file, yaml_document_t *doc)
{
	static const char *const workloads[] = { "Deployment", "DeploymentConfig", "StatefulSet", "DaemonSet",
						 "ReplicaSet", "ReplicationController", "Pod", "Job", "CronJob", NULL };
	yaml_node_t *ctrs, *args, *mount, *vol, *items, *data;
	const char *sub, *mp, *key = NULL;
	size_t n_workloads = 0;

	memset(t, 0, sizeof *t);
	t->w = w;
	t->file = file;
	t->doc = doc;
	t->root = yaml_document_get_root_node(doc);
	t->objects = yget(doc, t->root, "objects");
	if (ylen(t->objects) == 0)
		tfail(t, t->root, "Template: \"objects\" must be a non-empty list");
	for (size_t i = 0; i < ylen(t->objects); i++) {
		yaml_node_t *o = yat(doc, t->objects, i);

		for (const char *const *k = workloads; *k != NULL; k++) {
			if (strcmp(obj_kind(t, o), *k) != 0)
				continue;
			n_workloads++;
			if (strcmp(*k, "Deployment") != 0)
				tfail(t, o, "Template objects: %s %s: amicd runs as exactly one Deployment (one SQLite writer)",
				      *k, obj_name(t, o));
			if (t->deploy != NULL)
				tfail(t, o, "Template objects: a second Deployment (%s): the Template must hold exactly one",
				      obj_name(t, o));
			t->deploy = o;
		}
	}
	if (t->deploy == NULL)
		tfail(t, t->objects, "Template objects: no Deployment (want exactly one)");
	assert_int_equal(n_workloads, 1);
	t->deploy_name = obj_name(t, t->deploy);
	t->pod = ypath(doc, t->deploy, "spec.template.spec");
	if (t->pod == NULL)
		tfail(t, t->deploy, "Deployment %s: no spec.template.spec", t->deploy_name);

	ctrs = yget(doc, t->pod, "containers");
	if (ylen(ctrs) == 1) {
		t->ctr = yat(doc, ctrs, 0);
	} else {
		for (size_t i = 0; i < ylen(ctrs); i++)
			if (strcmp(ypath_str(doc, yat(doc, ctrs, i), "name") ?: "", "amicd") == 0)
				t->ctr = yat(doc, ctrs, i);
	}
	if (t->ctr == NULL)
		tfail(t, t->pod, "Deployment %s: spec.template.spec.containers: want one container (or one named amicd)",
		      t->deploy_name);

	/* args: serve --config PATH (or --config=PATH, -c PATH) */
	args = yget(doc, t->ctr, "args");
	t->config_at = args;
	if (yget(doc, t->ctr, "command") == NULL &&
	    (ylen(args) == 0 || strcmp(ystr(yat(doc, args, 0)) ?: "", "serve") != 0))
		tfail(t, args != NULL ? args : t->ctr, "Deployment %s: container args must start with \"serve\" "
		      "(the image's ENTRYPOINT is amicd)", t->deploy_name);
	for (size_t i = 0; i < ylen(args); i++) {
		const char *a = ystr(yat(doc, args, i));

		if (a == NULL)
			continue;
		if ((strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) && i + 1 < ylen(args))
			t->config_path = ystr(yat(doc, args, i + 1));
		else if (strncmp(a, "--config=", 9) == 0)
			t->config_path = a + 9;
	}
	if (t->config_path == NULL)
		tfail(t, args != NULL ? args : t->ctr, "Deployment %s: container args: no \"--config PATH\"",
		      t->deploy_name);

	/* the ConfigMap mount that provides config_path */
	mount = mount_for(t, t->config_path);
	if (mount == NULL)
		tfail(t, args, "Deployment %s: --config %s: no volumeMount provides that path", t->deploy_name,
		      t->config_path);
	vol = volume_of(t, mount);
	if (strcmp(volume_kind(t, vol), "configMap") != 0)
		tfail(t, mount, "Deployment %s: --config %s is mounted from volume \"%s\", a %s, not a configMap",
		      t->deploy_name, t->config_path, ypath_str(doc, vol, "name"), volume_kind(t, vol));
	mp = ypath_str(doc, mount, "mountPath");
	sub = ypath_str(doc, mount, "subPath");
	if (sub != NULL) {
		if (strcmp(mp, t->config_path) != 0)
			tfail(t, mount, "Deployment %s: --config %s but the ConfigMap file is mounted at %s (subPath %s)",
			      t->deploy_name, t->config_path, mp, sub);
		key = sub;
	} else {
		key = t->config_path + strlen(mp);
		while (*key == '/')
			key++;
	}
	items = ypath(doc, vol, "configMap.items");
	if (items != NULL) { /* items map keys to paths: key is a path here */
		const char *path = key;

		key = NULL;
		for (size_t i = 0; i < ylen(items); i++)
			if (strcmp(ypath_str(doc, yat(doc, items, i), "path") ?: "", path) == 0)
				key = ypath_str(doc, yat(doc, items, i), "key");
		if (key == NULL)
			tfail(t, items, "Deployment %s: volume %s: no configMap item has path %s (for --config %s)",
			      t->deploy_name, ypath_str(doc, vol, "name"), path, t->config_path);
	}
	t->cm_key = key;
	t->cm_name = ypath_str(doc, vol, "configMap.name");
	if (t->cm_name == NULL)
		tfail(t, vol, "Deployment %s: volume %s: configMap.name missing", t->deploy_name,
		      ypath_str(doc, vol, "name"));
	t->cm = find_object(t, "ConfigMap", t->cm_name);
	if (t->cm == NULL)
		tfail(t, vol, "Deployment %s: volume %s mounts ConfigMap %s, which the Template does not define",
		      t->deploy_name, ypath_str(doc, vol, "name"), t->cm_name);
	data = yget(doc, t->cm, "data");
	t->cm_value = yget(doc, data, t->cm_key);
	if (ystr(t->cm_value) == NULL)
		tfail(t, t->cm, "ConfigMap %s: no data key \"%s\" (the file --config %s names)", t->cm_name, t->cm_key,
		      t->config_path);
}

static bool is_template(yaml_document_t *doc)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	const char *kind = ypath_str(doc, root, "kind");

	return kind != NULL && strcmp(kind, "Template") == 0;
}

/* Call fn for every Template in openshift/; fails when there is none. */
static void each_template(struct world *w, void (*fn)(struct tpl *t))
{
	size_t n = 0;

	for (size_t i = 0; i < w->n_files; i++) {
		for (size_t j = 0; j < w->files[i].n_docs; j++) {
			struct tpl t;

			if (!is_template(&w->files[i].docs[j]))
				continue;
			n++;
			tpl_open(&t, w, w->files[i].rel, &w->files[i].docs[j]);
			fn(&t);
		}
	}
	if (n == 0)
		fail_msg("%s/openshift: no OpenShift Template (kind: Template) in any *.yaml / *.yml", w->root);
}

/* ---- parameters --------------------------------------------------------- */

static yaml_node_t *find_param(const struct tpl *t, const char *name)
{
	yaml_node_t *params = yget(t->doc, t->root, "parameters");

	for (size_t i = 0; i < ylen(params); i++) {
		yaml_node_t *p = yat(t->doc, params, i);

		if (strcmp(ypath_str(t->doc, p, "name") ?: "", name) == 0)
			return p;
	}
	return NULL;
}

/* What `oc process` would put for ${name}: the default, else a plausible test value. */
static const char *param_value(const struct tpl *t, const char *name, const yaml_node_t *at)
{
	yaml_node_t *p = find_param(t, name);
	const char *v;

	if (p == NULL)
		tfail(t, at, "${%s} is not a parameter of the Template", name);
	v = ypath_str(t->doc, p, "value");
	if (v != NULL && v[0] != '\0')
		return v;
	for (size_t i = 0; i < sizeof TEST_VALUES / sizeof TEST_VALUES[0]; i++)
		if (strcmp(TEST_VALUES[i].name, name) == 0)
			return TEST_VALUES[i].value;
	tfail(t, p, "parameter %s has no default value: add a plausible one to TEST_VALUES in %s", name, __FILE__);
}

/*
 * Length of a parameter reference at s ("${NAME}" or "${{NAME}}"), 0 when s
 * starts none; *name gets NAME (up to size), *dbl whether it is ${{…}}.
 */
static size_t param_ref(const char *s, char *name, size_t size, bool *dbl)
{
	const char *n;
	size_t len;

	if (s[0] != '$' || s[1] != '{')
		return 0;
	*dbl = s[2] == '{';
	n = s + (*dbl ? 3 : 2);
	len = strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
	if (len == 0 || strncmp(n + len, *dbl ? "}}" : "}", *dbl ? 2 : 1) != 0)
		return 0;
	snprintf(name, size, "%.*s", (int)len, n);
	return (size_t)(n - s) + len + (*dbl ? 2 : 1);
}

/* in with every parameter reference expanded (caller frees). */
static char *expand(const struct tpl *t, const char *in, const yaml_node_t *at)
{
	struct buf b = { 0 };

	buf_add(&b, "", 0);
	for (const char *p = in; *p != '\0';) {
		char name[128];
		bool dbl;
		size_t len = param_ref(p, name, sizeof name, &dbl);

		if (len > 0) {
			buf_str(&b, param_value(t, name, at));
			p += len;
		} else {
			buf_add(&b, p, 1);
			p++;
		}
	}
	return b.s;
}

struct param_use {
	const struct tpl *t;
	char used[64][128];
	size_t n_used;
};

static void note_params(yaml_node_t *n, void *ctx)
{
	struct param_use *u = ctx;
	const char *s = ystr(n);

	for (const char *p = s; (p = strstr(p, "${")) != NULL;) {
		char name[128];
		bool dbl;
		size_t len = param_ref(p, name, sizeof name, &dbl);

		if (len == 0) {
			p += 2;
			continue;
		}
		if (find_param(u->t, name) == NULL)
			tfail(u->t, n, "\"%s\": ${%s} is not declared in parameters (oc process would leave it as is)", s,
			      name);
		if (dbl && (p != s || p[len] != '\0'))
			tfail(u->t, n, "\"%s\": ${{%s}} must be the whole value (oc process substitutes it only then)", s,
			      name);
		if (u->n_used < sizeof u->used / sizeof u->used[0])
			snprintf(u->used[u->n_used++], sizeof u->used[0], "%s", name);
		p += len;
	}
}

static void check_parameters(struct tpl *t)
{
	struct param_use u = { .t = t };
	yaml_node_t *params = yget(t->doc, t->root, "parameters");
	const char *api = ypath_str(t->doc, t->root, "apiVersion");

	if (api == NULL || strcmp(api, "template.openshift.io/v1") != 0)
		tfail(t, t->root, "Template: apiVersion is \"%s\", want template.openshift.io/v1", api ?: "(none)");
	walk_scalars(t->doc, t->objects, note_params, &u);
	walk_scalars(t->doc, yget(t->doc, t->root, "message"), note_params, &u);
	walk_scalars(t->doc, yget(t->doc, t->root, "labels"), note_params, &u);
	for (size_t i = 0; i < ylen(params); i++) {
		yaml_node_t *p = yat(t->doc, params, i);
		const char *name = ypath_str(t->doc, p, "name");
		bool used = false;

		if (name == NULL || name[0] == '\0' || strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != strlen(name))
			tfail(t, p, "parameters[%zu]: name \"%s\" must be upper-case letters, digits and '_'", i,
			      name ?: "(none)");
		for (size_t j = 0; j < i; j++)
			if (strcmp(ypath_str(t->doc, yat(t->doc, params, j), "name") ?: "", name) == 0)
				tfail(t, p, "parameters: %s declared twice", name);
		for (size_t j = 0; j < u.n_used; j++)
			used = used || strcmp(u.used[j], name) == 0;
		if (!used)
			tfail(t, p, "parameter %s is declared but no object uses it", name);
	}
}

/* ---- amicd.yml inside the ConfigMap ------------------------------------- */

/*
 * The optional auth lines the template leaves commented out ("# read: {
 * token_file: … }") enabled: a comment whose text is "key: …_file: …" or
 * "…_env: …" loses its "# ". Returns NULL when there is no such line.
 */
static char *uncomment_optional(const char *text)
{
	struct buf b = { 0 };
	size_t changed = 0;

	buf_add(&b, "", 0);
	for (const char *line = text; *line != '\0';) {
		size_t len = strcspn(line, "\n");
		size_t ind = strspn(line, " ");
		const char *c = line + ind;
		char l[1024];

		snprintf(l, sizeof l, "%.*s", (int)len, line);
		if (strncmp(c, "# ", 2) == 0 && strspn(c + 2, "abcdefghijklmnopqrstuvwxyz_") > 0 &&
		    c[2 + strspn(c + 2, "abcdefghijklmnopqrstuvwxyz_")] == ':' &&
		    (strstr(l, "_file:") != NULL || strstr(l, "_env:") != NULL)) {
			buf_add(&b, line, ind);
			buf_add(&b, c + 2, len - ind - 2);
			changed++;
		} else {
			buf_add(&b, line, len);
		}
		line += len;
		if (*line == '\n') {
			buf_add(&b, "\n", 1);
			line++;
		}
	}
	if (changed == 0) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

static void inner_parse(const struct tpl *t, char *text, const char *what, struct inner *in)
{
	yaml_parser_t parser;

	memset(in, 0, sizeof *in);
	in->text = text;
	in->what = what;
	assert_true(yaml_parser_initialize(&parser));
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
	if (!yaml_parser_load(&parser, &in->doc)) {
		char msg[512];
		yaml_node_t at = { .start_mark = parser.problem_mark };

		snprintf(msg, sizeof msg, "YAML error: %s", parser.problem != NULL ? parser.problem : "?");
		yaml_parser_delete(&parser);
		ifail(t, in, &at, "%s", msg);
	}
	yaml_parser_delete(&parser);
	in->loaded = true;
	in->root = yaml_document_get_root_node(&in->doc);
	if (in->root == NULL || in->root->type != YAML_MAPPING_NODE)
		ifail(t, in, in->root, "amicd.yml must be a mapping");
}

static void inner_free(struct inner *in)
{
	if (in->loaded)
		yaml_document_delete(&in->doc);
	free(in->text);
	memset(in, 0, sizeof *in);
}

/* inners[0]: as shipped; inners[1]: with the optional lines enabled (returns 1 or 2). */
static size_t inner_variants(const struct tpl *t, struct inner inners[2])
{
	char *shipped = expand(t, ystr(t->cm_value), t->cm_value);
	char *enabled = uncomment_optional(shipped);

	inner_parse(t, shipped, "as shipped", &inners[0]);
	if (enabled == NULL)
		return 1;
	inner_parse(t, enabled, "with the optional commented-out lines enabled", &inners[1]);
	return 2;
}

/* ---- the checks ----------------------------------------------------------- */

/* Every key of want (a mapping) has the same value in have. */
static bool labels_match(yaml_document_t *d, yaml_node_t *want, yaml_node_t *have)
{
	if (want == NULL || want->type != YAML_MAPPING_NODE || want->data.mapping.pairs.top == want->data.mapping.pairs.start)
		return false;
	for (yaml_node_pair_t *p = want->data.mapping.pairs.start; p < want->data.mapping.pairs.top; p++) {
		const char *k = ystr(yaml_document_get_node(d, p->key));
		const char *v = ystr(yaml_document_get_node(d, p->value));
		const char *h = k != NULL ? ystr(yget(d, have, k)) : NULL;

		if (v == NULL || h == NULL || strcmp(v, h) != 0)
			return false;
	}
	return true;
}

/* The container port number a probe/Service port (number or name) designates, or -1. */
static long container_port(const struct tpl *t, const yaml_node_t *port)
{
	const char *s = ystr(port);
	yaml_node_t *ports = yget(t->doc, t->ctr, "ports");

	if (s == NULL)
		return -1;
	if (all_digits(s))
		return atol(s);
	for (size_t i = 0; i < ylen(ports); i++) {
		yaml_node_t *p = yat(t->doc, ports, i);

		if (strcmp(ypath_str(t->doc, p, "name") ?: "", s) == 0)
			return atol(ypath_str(t->doc, p, "containerPort") ?: "-1");
	}
	return -1;
}

/* The port of key (`listen:`, `public_listen:`) in amicd.yml (host must not be loopback); -1 when absent. */
static long address_port(const struct tpl *t, const struct inner *in, const char *key)
{
	yaml_node_t *n = yget((yaml_document_t *)&in->doc, in->root, key);
	const char *s = ystr(n), *colon;
	char host[256];

	if (s == NULL)
		return -1;
	colon = strrchr(s, ':');
	if (colon == NULL || !all_digits(colon + 1))
		ifail(t, in, n, "%s: \"%s\" is not host:port", key, s);
	snprintf(host, sizeof host, "%.*s", (int)(colon - s), s);
	if (strncmp(host, "127.", 4) == 0 || strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
	    strcmp(host, "::1") == 0)
		ifail(t, in, n, "%s: \"%s\" is a loopback address: the kubelet's probes and the Service reach the "
		      "pod IP (use 0.0.0.0)", key, s);
	return atol(colon + 1);
}

/* The port of `listen:` in amicd.yml, which must be there. */
static long listen_port(const struct tpl *t, const struct inner *in)
{
	long port = address_port(t, in, "listen");

	if (port < 0)
		ifail(t, in, in->root, "no \"listen:\" (amicd's default 127.0.0.1:8080 is unreachable from the Service)");
	return port;
}

static void check_deployment(struct tpl *t)
{
	yaml_node_t *replicas = ypath(t->doc, t->deploy, "spec.replicas");
	yaml_node_t *strategy = ypath(t->doc, t->deploy, "spec.strategy");
	const char *type = ypath_str(t->doc, strategy, "type");

	if (ystr(replicas) == NULL || strcmp(ystr(replicas), "1") != 0)
		tfail(t, replicas != NULL ? replicas : t->deploy, "Deployment %s: spec.replicas is %s, want 1 "
		      "(SQLite has a single writer)", t->deploy_name, ystr(replicas) ?: "(absent: default 1, but say it)");
	if (type == NULL || strcmp(type, "Recreate") != 0)
		tfail(t, strategy != NULL ? strategy : t->deploy, "Deployment %s: spec.strategy.type is %s, want "
		      "Recreate (two pods must never open the database at once)", t->deploy_name,
		      type ?: "(absent: RollingUpdate)");
	if (yget(t->doc, strategy, "rollingUpdate") != NULL)
		tfail(t, strategy, "Deployment %s: spec.strategy.rollingUpdate is not allowed with Recreate", t->deploy_name);
	if (!labels_match(t->doc, ypath(t->doc, t->deploy, "spec.selector.matchLabels"),
			  ypath(t->doc, t->deploy, "spec.template.metadata.labels")))
		tfail(t, t->deploy, "Deployment %s: spec.selector.matchLabels does not match spec.template.metadata.labels",
		      t->deploy_name);
}

static void check_probe(struct tpl *t, const char *which, const char *want_path, long want_port)
{
	yaml_node_t *probe = yget(t->doc, t->ctr, which);
	yaml_node_t *get = yget(t->doc, probe, "httpGet");
	const char *path = ypath_str(t->doc, get, "path");
	yaml_node_t *port = yget(t->doc, get, "port");
	long n;

	if (probe == NULL)
		tfail(t, t->ctr, "Deployment %s: container has no %s", t->deploy_name, which);
	if (get == NULL)
		tfail(t, probe, "Deployment %s: %s must be an httpGet probe", t->deploy_name, which);
	if (path == NULL || strcmp(path, want_path) != 0)
		tfail(t, get, "Deployment %s: %s.httpGet.path is %s, want %s", t->deploy_name, which, path ?: "(none)",
		      want_path);
	n = container_port(t, port);
	if (n < 0)
		tfail(t, get, "Deployment %s: %s.httpGet.port \"%s\" is no container port", t->deploy_name, which,
		      ystr(port) ?: "(none)");
	if (n != want_port)
		tfail(t, port, "Deployment %s: %s.httpGet.port \"%s\" is port %ld, but amicd.yml listens on %ld",
		      t->deploy_name, which, ystr(port), n, want_port);
	if (ypath_str(t->doc, get, "scheme") != NULL && strcmp(ypath_str(t->doc, get, "scheme"), "HTTP") != 0)
		tfail(t, get, "Deployment %s: %s.httpGet.scheme must be HTTP (amicd serves plain HTTP)", t->deploy_name,
		      which);
}

static void check_ports(struct tpl *t)
{
	struct inner inners[2];
	size_t n_inner = inner_variants(t, inners);
	long port = listen_port(t, &inners[0]);
	long public_port = address_port(t, &inners[0], "public_listen");
	yaml_node_t *pod_labels = ypath(t->doc, t->deploy, "spec.template.metadata.labels");
	size_t n_services = 0, n_routes = 0;

	check_probe(t, "livenessProbe", "/healthz", port);
	check_probe(t, "readinessProbe", "/readyz", port);
	if (yget(t->doc, t->ctr, "startupProbe") != NULL)
		check_probe(t, "startupProbe", "/healthz", port);

	for (size_t i = 0; i < ylen(t->objects); i++) {
		yaml_node_t *svc = yat(t->doc, t->objects, i);
		yaml_node_t *ports;

		if (strcmp(obj_kind(t, svc), "Service") != 0)
			continue;
		n_services++;
		if (!labels_match(t->doc, ypath(t->doc, svc, "spec.selector"), pod_labels))
			tfail(t, svc, "Service %s: spec.selector does not select the pods of Deployment %s", obj_name(t, svc),
			      t->deploy_name);
		ports = ypath(t->doc, svc, "spec.ports");
		if (ylen(ports) == 0)
			tfail(t, svc, "Service %s: spec.ports is empty", obj_name(t, svc));
		for (size_t j = 0; j < ylen(ports); j++) {
			yaml_node_t *p = yat(t->doc, ports, j);
			yaml_node_t *target = yget(t->doc, p, "targetPort");
			long n = container_port(t, target != NULL ? target : yget(t->doc, p, "port"));

			if (n != port && n != public_port)
				tfail(t, p, "Service %s: spec.ports[%zu].targetPort \"%s\" is port %ld, but amicd.yml listens "
				      "on %ld (listen) and %ld (public_listen)", obj_name(t, svc), j,
				      ystr(target) ?: ypath_str(t->doc, p, "port"), n, port, public_port);
		}
	}
	if (n_services == 0)
		tfail(t, t->objects, "Template objects: no Service");

	for (size_t i = 0; i < ylen(t->objects); i++) {
		yaml_node_t *rt = yat(t->doc, t->objects, i);
		const char *to_kind = ypath_str(t->doc, rt, "spec.to.kind");
		const char *to_name = ypath_str(t->doc, rt, "spec.to.name");
		yaml_node_t *tport = ypath(t->doc, rt, "spec.port.targetPort");
		const char *term = ypath_str(t->doc, rt, "spec.tls.termination");
		const char *insecure = ypath_str(t->doc, rt, "spec.tls.insecureEdgeTerminationPolicy");
		yaml_node_t *svc;

		if (strcmp(obj_kind(t, rt), "Route") != 0)
			continue;
		n_routes++;
		if (to_kind != NULL && strcmp(to_kind, "Service") != 0)
			tfail(t, rt, "Route %s: spec.to.kind is %s, want Service", obj_name(t, rt), to_kind);
		svc = to_name != NULL ? find_object(t, "Service", to_name) : NULL;
		if (svc == NULL)
			tfail(t, rt, "Route %s: spec.to.name \"%s\" is no Service of the Template", obj_name(t, rt),
			      to_name ?: "(none)");
		/* design §4: the Route reaches public_listen only (hooks and /healthz), never listen */
		if (public_port < 0)
			tfail(t, rt, "Route %s: amicd.yml has no public_listen, so the Route would expose the read API, "
			      "/metrics and the admin API (design §4)", obj_name(t, rt));
		if (tport == NULL)
			tfail(t, rt, "Route %s: no spec.port.targetPort: the router would use every port of Service %s, "
			      "listen's too; name the public_listen port", obj_name(t, rt), to_name);
		{ /* a name is the Service port's name; a number the pod's port */
			yaml_node_t *sports = ypath(t->doc, svc, "spec.ports");
			long reached = -1;

			for (size_t j = 0; j < ylen(sports); j++) {
				yaml_node_t *sp = yat(t->doc, sports, j);
				yaml_node_t *target = yget(t->doc, sp, "targetPort");

				if (all_digits(ystr(tport) ?: "x"))
					reached = atol(ystr(tport));
				else if (strcmp(ypath_str(t->doc, sp, "name") ?: "", ystr(tport) ?: "") == 0)
					reached = container_port(t, target != NULL ? target : yget(t->doc, sp, "port"));
			}
			if (reached < 0)
				tfail(t, tport, "Route %s: spec.port.targetPort \"%s\" matches no port of Service %s",
				      obj_name(t, rt), ystr(tport) ?: "?", to_name);
			if (reached != public_port)
				tfail(t, tport, "Route %s: spec.port.targetPort \"%s\" reaches port %ld, not public_listen's "
				      "%ld: the Route must expose only the hooks and /healthz", obj_name(t, rt),
				      ystr(tport) ?: "?", reached, public_port);
		}
		if (term == NULL || strcmp(term, "edge") != 0)
			tfail(t, rt, "Route %s: spec.tls.termination is %s, want edge", obj_name(t, rt), term ?: "(none)");
		if (insecure != NULL && strcmp(insecure, "Redirect") != 0 && strcmp(insecure, "None") != 0)
			tfail(t, rt, "Route %s: spec.tls.insecureEdgeTerminationPolicy %s would accept webhook tokens over "
			      "plain HTTP (want Redirect or None)", obj_name(t, rt), insecure);
	}
	if (n_routes == 0)
		tfail(t, t->objects, "Template objects: no Route");
	for (size_t i = 0; i < n_inner; i++)
		inner_free(&inners[i]);
}

/* path is in src/server.c's routes[] table with method GET. */
static void check_route_served(const struct world *w, const char *server_c, const char *path)
{
	struct buf flat = { 0 };
	const char *table = strstr(server_c, "routes[] = {");
	const char *end = table != NULL ? strstr(table, "\n};") : NULL;
	char needle[256];
	const char *hit, *open, *close;

	if (table == NULL || end == NULL)
		fail_msg("%s/src/server.c: no route table (\"routes[] = { … };\")", w->root);
	buf_add(&flat, "", 0);
	for (const char *p = table; p < end; p++) /* without blanks: `.path = "x"` and `.path="x"` alike */
		if (*p != ' ' && *p != '\t' && *p != '\n')
			buf_add(&flat, p, 1);
	snprintf(needle, sizeof needle, ".path=\"%s\"", path);
	hit = strstr(flat.s, needle);
	if (hit == NULL) {
		free(flat.s);
		fail_msg("%s/src/server.c: the route table has no .path = \"%s\" (a probe of the Template uses it)",
			 w->root, path);
	}
	for (open = hit; open > flat.s && *open != '{'; open--)
		;
	close = strchr(hit, '}');
	if (close == NULL || memmem(open, (size_t)(close - open), ".method=\"GET\"", 13) == NULL) {
		free(flat.s);
		fail_msg("%s/src/server.c: route %s is not a GET route (kubelet probes send GET)", w->root, path);
	}
	free(flat.s);
}

static void check_probe_paths_served_one(struct tpl *t)
{
	char path[PATH_MAX + 32];
	char *server_c;
	const char *probes[] = { "livenessProbe", "readinessProbe", "startupProbe" };

	snprintf(path, sizeof path, "%s/src/server.c", t->w->root);
	server_c = support_read_file(path, NULL);
	if (server_c == NULL)
		fail_msg("%s: cannot read: %s", path, strerror(errno));
	for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
		const char *p = ypath_str(t->doc, yget(t->doc, t->ctr, probes[i]), "httpGet.path");

		if (p != NULL)
			check_route_served(t->w, server_c, p);
	}
	/* and the two the design names, whatever the Template says */
	check_route_served(t->w, server_c, "/healthz");
	check_route_served(t->w, server_c, "/readyz");
	free(server_c);
}

struct file_keys {
	const struct tpl *t;
	const struct inner *in;
	void (*fn)(const struct tpl *t, const struct inner *in, yaml_node_t *k, yaml_node_t *v, void *ctx);
	void *ctx;
};

static void secret_key_visit(yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	struct file_keys *fk = ctx;

	if (ends_with(ystr(k), "_file") || ends_with(ystr(k), "_env"))
		fk->fn(fk->t, fk->in, k, v, fk->ctx);
}

static void each_secret_key(const struct tpl *t, const struct inner *in,
			    void (*fn)(const struct tpl *, const struct inner *, yaml_node_t *, yaml_node_t *, void *),
			    void *ctx)
{
	struct file_keys fk = { .t = t, .in = in, .fn = fn, .ctx = ctx };

	walk_pairs((yaml_document_t *)&in->doc, in->root, secret_key_visit, &fk);
}

static bool container_sets_env(const struct tpl *t, const char *name)
{
	yaml_node_t *env = yget(t->doc, t->ctr, "env");

	for (size_t i = 0; i < ylen(env); i++)
		if (strcmp(ypath_str(t->doc, yat(t->doc, env, i), "name") ?: "", name) == 0)
			return true;
	return ylen(yget(t->doc, t->ctr, "envFrom")) > 0; /* cannot tell: accept */
}

static void check_secret_path(const struct tpl *t, const struct inner *in, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	const char *key = ystr(k), *path = ystr(v), *mp, *rel;
	yaml_node_t *mount, *vol, *items;

	(void)ctx;
	if (path == NULL)
		ifail(t, in, v, "%s must be a string", key);
	if (ends_with(key, "_env")) {
		if (!container_sets_env(t, path))
			ifail(t, in, v, "%s: %s names environment variable %s, which the container does not set", key, path,
			      path);
		return;
	}
	if (path[0] != '/')
		ifail(t, in, v, "%s: %s is relative (to the working directory): give the absolute path in the Secret's "
		      "mount", key, path);
	mount = mount_for(t, path);
	if (mount == NULL)
		ifail(t, in, v, "%s: %s lies under no volumeMount of Deployment %s", key, path, t->deploy_name);
	vol = volume_of(t, mount);
	mp = ypath_str(t->doc, mount, "mountPath");
	if (strcmp(volume_kind(t, vol), "secret") != 0)
		ifail(t, in, v, "%s: %s lies under %s, the mount of volume %s, a %s: want the Secret volume", key, path, mp,
		      ypath_str(t->doc, vol, "name"), volume_kind(t, vol));
	if (!ytrue(yget(t->doc, mount, "readOnly")))
		tfail(t, mount, "Deployment %s: the Secret mount %s must be readOnly: true", t->deploy_name, mp);
	rel = path + strlen(mp);
	while (*rel == '/')
		rel++;
	items = ypath(t->doc, vol, "secret.items");
	if (yget(t->doc, mount, "subPath") != NULL) {
		if (strcmp(path, mp) != 0)
			ifail(t, in, v, "%s: %s is below %s, a single-file (subPath) mount", key, path, mp);
	} else if (items != NULL) {
		bool found = false;

		for (size_t i = 0; i < ylen(items); i++)
			found = found || strcmp(ypath_str(t->doc, yat(t->doc, items, i), "path") ?: "", rel) == 0;
		if (!found)
			ifail(t, in, v, "%s: %s: no item of Secret volume %s has path %s", key, path,
			      ypath_str(t->doc, vol, "name"), rel);
	} else if (rel[0] == '\0' || strchr(rel, '/') != NULL ||
		   strspn(rel, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") != strlen(rel)) {
		ifail(t, in, v, "%s: %s: \"%s\" is not a Secret key directly in the mount %s", key, path, rel, mp);
	}
}

/*
 * path lies in the PVC's writable mount, and what it needs exists on a fresh
 * (empty) PVC: the directory of path, or — when amicd creates the directory
 * of path itself (creates_dir: a pin file; amicd makes one level with
 * mkdir) — that directory's parent. pins_dir is a path whose directory must
 * exist (amicd makes pins_dir itself); SQLite makes no directory at all.
 */
static void check_on_pvc(const struct tpl *t, const struct inner *in, yaml_node_t *at, const char *field,
			 const char *path, bool creates_dir)
{
	yaml_node_t *mount, *vol, *pvc;
	const char *mp, *claim;
	char *dir, *parent;
	bool ok;

	if (path == NULL)
		ifail(t, in, at, "no \"%s:\" (amicd's relative default would land on the read-only root file system)",
		      field);
	if (path[0] != '/')
		ifail(t, in, at, "%s: %s is relative: give an absolute path on the PVC", field, path);
	mount = mount_for(t, path);
	if (mount == NULL)
		ifail(t, in, at, "%s: %s lies under no volumeMount of Deployment %s", field, path, t->deploy_name);
	vol = volume_of(t, mount);
	mp = ypath_str(t->doc, mount, "mountPath");
	if (strcmp(volume_kind(t, vol), "persistentVolumeClaim") != 0)
		ifail(t, in, at, "%s: %s lies under %s, the mount of volume %s, a %s: want the PVC", field, path, mp,
		      ypath_str(t->doc, vol, "name"), volume_kind(t, vol));
	if (ytrue(yget(t->doc, mount, "readOnly")))
		tfail(t, mount, "Deployment %s: the PVC mount %s must not be readOnly (%s is written)", t->deploy_name, mp,
		      field);
	dir = dir_of(path);
	parent = dir_of(dir);
	ok = strcmp(path, mp) == 0 || strcmp(dir, mp) == 0 || (creates_dir && strcmp(parent, mp) == 0);
	free(parent);
	free(dir);
	if (!ok)
		ifail(t, in, at, "%s: %s: its directory does not exist on a fresh PVC mounted at %s and amicd does not "
		      "create it", field, path, mp);
	claim = ypath_str(t->doc, vol, "persistentVolumeClaim.claimName");
	pvc = claim != NULL ? find_object(t, "PersistentVolumeClaim", claim) : NULL;
	if (pvc == NULL)
		tfail(t, vol, "Deployment %s: volume %s claims %s, which the Template does not define", t->deploy_name,
		      ypath_str(t->doc, vol, "name"), claim ?: "(none)");
}

static void check_pvc(struct tpl *t, yaml_node_t *pvc)
{
	yaml_node_t *modes = ypath(t->doc, pvc, "spec.accessModes");
	bool rwo = false;

	for (size_t i = 0; i < ylen(modes); i++) {
		const char *m = ystr(yat(t->doc, modes, i));

		if (m != NULL && strcmp(m, "ReadWriteMany") == 0)
			tfail(t, modes, "PersistentVolumeClaim %s: ReadWriteMany invites a second writer; want ReadWriteOnce",
			      obj_name(t, pvc));
		rwo = rwo || (m != NULL && (strcmp(m, "ReadWriteOnce") == 0 || strcmp(m, "ReadWriteOncePod") == 0));
	}
	if (!rwo)
		tfail(t, pvc, "PersistentVolumeClaim %s: spec.accessModes must hold ReadWriteOnce", obj_name(t, pvc));
	if (ypath_str(t->doc, pvc, "spec.resources.requests.storage") == NULL)
		tfail(t, pvc, "PersistentVolumeClaim %s: no spec.resources.requests.storage", obj_name(t, pvc));
}

static void check_paths(struct tpl *t)
{
	struct inner inners[2];
	size_t n_inner = inner_variants(t, inners);
	const char *tmpdir = "/tmp";
	yaml_node_t *env = yget(t->doc, t->ctr, "env");

	for (size_t i = 0; i < n_inner; i++) {
		struct inner *in = &inners[i];
		yaml_node_t *db = yget(&in->doc, in->root, "database");
		yaml_node_t *pins = yget(&in->doc, in->root, "pins_dir");
		yaml_node_t *asgs = yget(&in->doc, in->root, "terraformResources");

		each_secret_key(t, in, check_secret_path, NULL);
		check_on_pvc(t, in, db != NULL ? db : in->root, "database", ystr(db), false);
		check_on_pvc(t, in, pins != NULL ? pins : in->root, "pins_dir", ystr(pins), false);
		for (size_t j = 0; j < ylen(asgs); j++) {
			yaml_node_t *pf = ypath(&in->doc, yat(&in->doc, asgs, j), "pin.file");

			if (pf != NULL)
				check_on_pvc(t, in, pf, "terraformResources[].pin.file", ystr(pf), true);
		}
	}
	for (size_t i = 0; i < ylen(t->objects); i++)
		if (strcmp(obj_kind(t, yat(t->doc, t->objects, i)), "PersistentVolumeClaim") == 0)
			check_pvc(t, yat(t->doc, t->objects, i));

	/* the ConfigMap mount itself is read-only */
	if (!ytrue(yget(t->doc, mount_for(t, t->config_path), "readOnly")))
		tfail(t, mount_for(t, t->config_path), "Deployment %s: the ConfigMap mount of %s should be readOnly: true",
		      t->deploy_name, t->config_path);

	/* SQLite's temporary files go to TMPDIR (default /tmp) */
	for (size_t i = 0; i < ylen(env); i++)
		if (strcmp(ypath_str(t->doc, yat(t->doc, env, i), "name") ?: "", "TMPDIR") == 0)
			tmpdir = ypath_str(t->doc, yat(t->doc, env, i), "value") ?: tmpdir;
	if (ytrue(ypath(t->doc, t->ctr, "securityContext.readOnlyRootFilesystem"))) {
		yaml_node_t *m = mount_for(t, tmpdir);
		yaml_node_t *vol = m != NULL ? volume_of(t, m) : NULL;

		if (m == NULL || ytrue(yget(t->doc, m, "readOnly")) ||
		    (strcmp(volume_kind(t, vol), "emptyDir") != 0 && strcmp(volume_kind(t, vol), "persistentVolumeClaim") != 0))
			tfail(t, t->ctr, "Deployment %s: readOnlyRootFilesystem, but TMPDIR %s (SQLite's temporary files) is "
			      "no writable emptyDir or PVC mount", t->deploy_name, tmpdir);
	}
	for (size_t i = 0; i < n_inner; i++)
		inner_free(&inners[i]);
}

static void check_security(struct tpl *t)
{
	yaml_node_t *csc = yget(t->doc, t->ctr, "securityContext");
	yaml_node_t *psc = yget(t->doc, t->pod, "securityContext");
	yaml_node_t *drop = ypath(t->doc, csc, "capabilities.drop");
	const char *seccomp = ypath_str(t->doc, csc, "seccompProfile.type");
	const char *user = ypath_str(t->doc, csc, "runAsUser") ?: ypath_str(t->doc, psc, "runAsUser");
	bool drops_all = false;
	static const char *const res[] = { "requests.cpu", "requests.memory", "limits.cpu", "limits.memory" };
	yaml_node_t *resources = yget(t->doc, t->ctr, "resources");

	if (csc == NULL)
		tfail(t, t->ctr, "Deployment %s: the container has no securityContext", t->deploy_name);
	if (!(ytrue(yget(t->doc, csc, "runAsNonRoot")) ||
	      (ytrue(yget(t->doc, psc, "runAsNonRoot")) && !yfalse(yget(t->doc, csc, "runAsNonRoot")))))
		tfail(t, csc, "Deployment %s: securityContext.runAsNonRoot must be true", t->deploy_name);
	if (!ytrue(yget(t->doc, csc, "readOnlyRootFilesystem")))
		tfail(t, csc, "Deployment %s: securityContext.readOnlyRootFilesystem must be true", t->deploy_name);
	if (!yfalse(yget(t->doc, csc, "allowPrivilegeEscalation")))
		tfail(t, csc, "Deployment %s: securityContext.allowPrivilegeEscalation must be false", t->deploy_name);
	if (ytrue(yget(t->doc, csc, "privileged")))
		tfail(t, csc, "Deployment %s: securityContext.privileged must not be true", t->deploy_name);
	for (size_t i = 0; i < ylen(drop); i++)
		drops_all = drops_all || strcmp(ystr(yat(t->doc, drop, i)) ?: "", "ALL") == 0;
	if (!drops_all)
		tfail(t, csc, "Deployment %s: securityContext.capabilities.drop must hold ALL", t->deploy_name);
	if (seccomp == NULL)
		seccomp = ypath_str(t->doc, psc, "seccompProfile.type");
	if (seccomp == NULL || strcmp(seccomp, "RuntimeDefault") != 0)
		tfail(t, csc, "Deployment %s: seccompProfile.type is %s, want RuntimeDefault", t->deploy_name,
		      seccomp ?: "(none)");
	if (user != NULL && strcmp(user, "0") == 0)
		tfail(t, csc, "Deployment %s: runAsUser 0 is root", t->deploy_name);
	if (resources == NULL)
		tfail(t, t->ctr, "Deployment %s: the container has no resources", t->deploy_name);
	for (size_t i = 0; i < sizeof res / sizeof res[0]; i++) {
		const char *v = ypath_str(t->doc, resources, res[i]);

		if (v == NULL || v[0] == '\0')
			tfail(t, resources, "Deployment %s: resources.%s missing", t->deploy_name, res[i]);
	}
}

/* ---- config_load on the embedded amicd.yml ------------------------------ */

struct rewrite {
	struct world *w;
	char dir[PATH_MAX];
	struct { unsigned line; char key[64]; char from[PATH_MAX]; char to[PATH_MAX + 64]; } r[32];
	size_t n;
	char env[16][128];
	size_t n_env;
	bool no_trigger_token;     /* leave trigger-token out, as a Secret without that optional key */
};

static void plan_secret(const struct tpl *t, const struct inner *in, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	struct rewrite *rw = ctx;
	const char *key = ystr(k), *path = ystr(v), *base;
	char file[PATH_MAX + 64];

	if (path == NULL)
		ifail(t, in, v, "%s must be a string", key);
	if (ends_with(key, "_env")) { /* set it for config_load, unset after */
		if (rw->n_env < sizeof rw->env / sizeof rw->env[0]) {
			snprintf(rw->env[rw->n_env++], sizeof rw->env[0], "%s", path);
			setenv(path, "test-secret-from-env", 1);
		}
		return;
	}
	assert_true(rw->n < sizeof rw->r / sizeof rw->r[0]);
	base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
	snprintf(file, sizeof file, "%s/%u-%s", rw->dir, ++rw->w->serial, base);
	if (rw->no_trigger_token && strcmp(base, "trigger-token") == 0)
		; /* the file stays absent */
	else if (support_write_file(NULL, file, strcmp(key, "secret_file") == 0 ? WHSEC : "test-secret-value\n") != 0)
		fail_msg("cannot write %s: %s", file, strerror(errno));
	rw->r[rw->n].line = yline(v);
	snprintf(rw->r[rw->n].key, sizeof rw->r[0].key, "%s", key);
	snprintf(rw->r[rw->n].from, sizeof rw->r[0].from, "%s", path);
	snprintf(rw->r[rw->n].to, sizeof rw->r[0].to, "%s", file);
	rw->n++;
}

/* in's text with each planned secret path replaced, on its own line, after its key (caller frees). */
static char *apply_rewrites(const struct tpl *t, const struct inner *in, const struct rewrite *rw)
{
	struct buf b = { 0 };
	unsigned lineno = 1;

	buf_add(&b, "", 0);
	for (const char *line = in->text; *line != '\0'; lineno++) {
		size_t len = strcspn(line, "\n");
		char *l = strndup(line, len);

		assert_non_null(l);
		for (size_t i = 0; i < rw->n; i++) {
			char *k, *hit, *out;

			if (rw->r[i].line != lineno)
				continue;
			k = strstr(l, rw->r[i].key);
			hit = k != NULL ? strstr(k + strlen(rw->r[i].key), rw->r[i].from) : NULL;
			if (hit == NULL) {
				yaml_node_t at = { .start_mark = { .line = lineno - 1 } };

				free(l);
				free(b.s);
				ifail(t, in, &at, "test cannot find %s: %s on this line to rewrite it", rw->r[i].key,
				      rw->r[i].from);
			}
			if (asprintf(&out, "%.*s%s%s", (int)(hit - l), l, rw->r[i].to, hit + strlen(rw->r[i].from)) < 0)
				fail_msg("out of memory");
			free(l);
			l = out;
		}
		buf_str(&b, l);
		free(l);
		line += len;
		if (*line == '\n') {
			buf_add(&b, "\n", 1);
			line++;
		}
	}
	return b.s;
}

static void check_config_loads(struct tpl *t)
{
	struct inner inners[2];
	size_t n_inner = inner_variants(t, inners);
	long want_port = listen_port(t, &inners[0]);
	long want_public = address_port(t, &inners[0], "public_listen");

	/* each variant, then the shipped one once more without the optional trigger-token key */
	for (size_t v = 0; v <= n_inner; v++) {
		struct inner *in = &inners[v < n_inner ? v : 0];
		struct rewrite *rw = calloc(1, sizeof *rw);
		char cfg_path[PATH_MAX + 64];
		struct config *cfg = NULL;
		struct config_diag diag = { 0 };
		enum amicd_rc rc;
		char *text;

		assert_non_null(rw);
		rw->w = t->w;
		rw->no_trigger_token = v == n_inner;
		snprintf(rw->dir, sizeof rw->dir, "%s", t->w->tmp);
		each_secret_key(t, in, plan_secret, rw);
		text = apply_rewrites(t, in, rw);
		snprintf(cfg_path, sizeof cfg_path, "%s/%u-%s", t->w->tmp, ++t->w->serial, t->cm_key);
		if (support_write_file(NULL, cfg_path, text) != 0)
			fail_msg("cannot write %s: %s", cfg_path, strerror(errno));
		rc = config_load(cfg_path, &cfg, &diag);
		for (size_t i = 0; i < rw->n_env; i++)
			unsetenv(rw->env[i]);
		if (rc != AMICD_OK || cfg == NULL) {
			print_error("amicd.yml of ConfigMap %s (%s), parameters expanded and secret files rewritten, "
				    "written to %s:\n%s\n", t->cm_name, in->what, cfg_path, text);
			for (size_t i = 0; i < diag.n; i++)
				print_error("  %s\n", diag.lines[i]);
			fail_msg("%s:%u: ConfigMap %s, key %s (%s%s): config_load() = %d with %zu diagnostics (above), "
				 "want AMICD_OK", t->file, yline(t->cm_value), t->cm_name, t->cm_key, in->what,
				 rw->no_trigger_token ? ", Secret without key trigger-token, which must stay optional" : "",
				 (int)rc, diag.n);
		}
		if (want_public >= 0 && (cfg->public_listen_host == NULL || (long)cfg->public_listen_port != want_public))
			fail_msg("%s: ConfigMap %s: amicd parsed public_listen port %u, the test read %ld", t->file, t->cm_name,
				 cfg->public_listen_port, want_public);
		/* design §4: the Template turns auth.read on (event payloads are not for every pod of the cluster) */
		if (cfg->auth.read_token.bytes == NULL)
			fail_msg("%s: ConfigMap %s (%s): auth.read is off: GET /api/v1/* would be open to the cluster",
				 t->file, t->cm_name, in->what);
		if (rw->no_trigger_token && cfg->trigger.token.bytes != NULL)
			fail_msg("%s: ConfigMap %s: a trigger token was loaded from a file that is not there", t->file,
				 t->cm_name);
		if ((long)cfg->listen_port != want_port)
			fail_msg("%s: ConfigMap %s: amicd parsed listen port %u, the test read %ld", t->file, t->cm_name,
				 cfg->listen_port, want_port);
		/* amicd's own idea of each pin file (default <pins_dir>/<identifier>.yml) lands on the PVC */
		for (size_t i = 0; i < cfg->n_asgs; i++) {
			yaml_node_t *at = yget(&in->doc, in->root, "terraformResources");

			check_on_pvc(t, in, at, "pin file (amicd's path for an ASG)", cfg->asgs[i].pin_file, true);
		}
		if (cfg->n_asgs == 0 || cfg->n_accounts == 0)
			fail_msg("%s: ConfigMap %s: the example config has no ASG or no account", t->file, t->cm_name);
		config_free(cfg);
		config_diag_free(&diag);
		free(text);
		free(rw);
	}
	for (size_t i = 0; i < n_inner; i++)
		inner_free(&inners[i]);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_files_parse(void **state)
{
	struct world *w = *state;
	size_t n_templates = 0;

	if (w->n_files == 0)
		fail_msg("%s/openshift: no *.yaml or *.yml file", w->root);
	for (size_t i = 0; i < w->n_files; i++) {
		if (w->files[i].error != NULL)
			fail_msg("%s", w->files[i].error);
		for (size_t j = 0; j < w->files[i].n_docs; j++)
			n_templates += is_template(&w->files[i].docs[j]);
	}
	if (n_templates == 0)
		fail_msg("%s/openshift: no OpenShift Template (kind: Template)", w->root);
}

static void test_parameters(void **state)
{
	each_template(*state, check_parameters);
}

static void test_one_deployment_recreate(void **state)
{
	each_template(*state, check_deployment);
}

static void test_probes_ports_service_route(void **state)
{
	each_template(*state, check_ports);
}

static void test_probe_paths_are_amicd_routes(void **state)
{
	each_template(*state, check_probe_paths_served_one);
}

static void test_paths_on_volumes(void **state)
{
	each_template(*state, check_paths);
}

static void test_security_and_resources(void **state)
{
	each_template(*state, check_security);
}

static void test_embedded_config_loads(void **state)
{
	each_template(*state, check_config_loads);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_files_parse),
		cmocka_unit_test(test_parameters),
		cmocka_unit_test(test_one_deployment_recreate),
		cmocka_unit_test(test_probes_ports_service_route),
		cmocka_unit_test(test_probe_paths_are_amicd_routes),
		cmocka_unit_test(test_paths_on_volumes),
		cmocka_unit_test(test_security_and_resources),
		cmocka_unit_test(test_embedded_config_loads),
	};

	return cmocka_run_group_tests_name("openshift", tests, group_setup, group_teardown);
}
