/*
 * facts.c — stored deliveries to facts (see facts.h). Pure: no I/O.
 */
#include "facts.h"

#include "eventbridge.h"
#include "gitlab.h"
#include "utf8.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct fact *add(struct fact_list *l, enum fact_kind kind, int64_t time_ms)
{
	if (l->n == l->cap) {
		size_t cap = l->cap > 0 ? l->cap * 2 : 8;
		struct fact *grown = realloc(l->items, cap * sizeof *grown);

		if (grown == NULL)
			return NULL;
		l->items = grown;
		l->cap = cap;
	}
	memset(&l->items[l->n], 0, sizeof l->items[0]);
	l->items[l->n].kind = kind;
	l->items[l->n].time_ms = time_ms;
	return &l->items[l->n++];
}

static const char *own(struct fact_list *l, const char *s)
{
	char **grown;
	char *copy;

	if (s == NULL)
		return NULL;
	grown = realloc(l->owned, (l->n_owned + 1) * sizeof *grown);
	if (grown == NULL)
		return NULL;
	l->owned = grown;
	copy = strdup(s);
	if (copy != NULL)
		l->owned[l->n_owned++] = copy;
	return copy;
}

int fact_state_rank(const char *state)
{
	static const struct {
		const char *state;
		int rank;
	} ranks[] = {
		{ "pending", 0 }, { "transient", 0 }, { "available", 1 }, { "disabled", 3 }, { "deregistered", 4 },
	};

	for (size_t i = 0; state != NULL && i < sizeof ranks / sizeof ranks[0]; i++)
		if (strcmp(state, ranks[i].state) == 0)
			return ranks[i].rank;
	return 2; /* failed, error, invalid, or a state this amicd does not know */
}

void fact_list_free(struct fact_list *l)
{
	for (size_t i = 0; i < l->n_owned; i++)
		free(l->owned[i]);
	free(l->owned);
	free(l->items);
	memset(l, 0, sizeof *l);
}

#define FACT_STRINGS 12

/* Where a fact's string fields are, for fact_list_detach. */
static void fact_strings(struct fact *f, const char **out[FACT_STRINGS])
{
	const char **fields[FACT_STRINGS] = { &f->region, &f->image_id, &f->owner, &f->state,
					      &f->account, &f->key, &f->value, &f->repo,
					      &f->branch, &f->before, &f->after, &f->listed };

	memcpy(out, fields, sizeof fields);
}

enum amicd_rc fact_list_detach(struct fact_list *l)
{
	const char **fields[FACT_STRINGS];
	size_t total = 0, used = 0;
	char **owned;
	char *arena;

	for (size_t i = 0; i < l->n; i++) {
		fact_strings(&l->items[i], fields);
		for (size_t j = 0; j < FACT_STRINGS; j++)
			if (*fields[j] != NULL)
				total += strlen(*fields[j]) + 1;
	}
	arena = malloc(total > 0 ? total : 1);
	owned = malloc(sizeof *owned);
	if (arena == NULL || owned == NULL) {
		free(arena);
		free(owned);
		return AMICD_ERR_NOMEM;
	}
	for (size_t i = 0; i < l->n; i++) {
		fact_strings(&l->items[i], fields);
		for (size_t j = 0; j < FACT_STRINGS; j++) {
			size_t len;

			if (*fields[j] == NULL)
				continue;
			len = strlen(*fields[j]) + 1;
			memcpy(arena + used, *fields[j], len);
			*fields[j] = arena + used;
			used += len;
		}
	}
	for (size_t i = 0; i < l->n_owned; i++)
		free(l->owned[i]);
	free(l->owned);
	if (l->n > 0 && l->n < l->cap) { /* it may wait a while: give back the spare room */
		struct fact *fit = realloc(l->items, l->n * sizeof *fit);

		if (fit != NULL) {
			l->items = fit;
			l->cap = l->n;
		}
	}
	owned[0] = arena;
	l->owned = owned;
	l->n_owned = 1;
	return AMICD_OK;
}

static enum amicd_rc nomem(struct amicd_error *err)
{
	return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
}

static enum amicd_rc push_facts(const struct config *cfg, const json_t *payload, struct fact_list *out,
				struct amicd_error *err)
{
	struct gitlab_push p;
	const char *repo;
	struct fact *f;
	enum amicd_rc rc = gitlab_push_identify(payload, &p, err);

	if (rc != AMICD_OK)
		return rc;
	repo = config_push_repo(cfg, p.repo_urls, GITLAB_REPO_URLS, p.branch, NULL);
	if (repo == NULL) {
		snprintf(out->note, sizeof out->note, "push to an untracked repository or branch");
		goto out;
	}
	rc = gitlab_push_commits(payload, &p, err); /* clears p on failure */
	if (rc != AMICD_OK)
		return rc;
	f = add(out, FACT_PUSH, 0);
	if (f == NULL) {
		rc = nomem(err);
		goto out;
	}
	f->repo = own(out, repo);
	f->branch = own(out, p.branch);
	f->before = own(out, p.before);
	f->after = own(out, p.after);
	f->deleted = p.deleted;
	if (f->repo == NULL || f->branch == NULL || f->before == NULL || f->after == NULL)
		rc = nomem(err);
out:
	gitlab_push_clear(&p);
	return rc;
}

static const char *str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/*
 * An account id field (eventbridge_account_id: a string, or a number written
 * as 12 digits, which the list then owns) into *id; NULL when absent or not an
 * account id. AMICD_ERR_NOMEM only.
 */
static enum amicd_rc account_at(struct fact_list *out, const json_t *obj, const char *key, const char **id,
				struct amicd_error *err)
{
	char buf[EB_ACCOUNT_ID_SIZE];
	const json_t *v = json_object_get(obj, key);

	*id = eventbridge_account_id(v, buf);
	if (*id == buf) {
		*id = own(out, buf);
		if (*id == NULL)
			return nomem(err);
	}
	return AMICD_OK;
}

/* An AMI fact with its common fields; NULL on out of memory. */
static struct fact *ami_fact(struct fact_list *out, enum fact_kind kind, int64_t t, const char *region,
			     const char *image_id, const char *owner)
{
	struct fact *f = add(out, kind, t);

	if (f != NULL) {
		f->region = region;
		f->image_id = image_id;
		f->owner = owner;
	}
	return f;
}

/* The configured accounts that list arn under org_arns, as "name, name" into buf ("" when none). */
static void accounts_in(const struct config *cfg, const char *arn, char *buf, size_t size)
{
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; cfg != NULL && i < cfg->n_accounts; i++)
		for (size_t k = 0; k < cfg->accounts[i].n_org_arns; k++)
			if (strcmp(cfg->accounts[i].org_arns[k], arn) == 0 && at < size) {
				at += (size_t)snprintf(buf + at, size - at, "%s%s", at > 0 ? ", " : "",
						       cfg->accounts[i].name);
				break;
			}
}

/*
 * ModifyImageAttribute of launchPermission: a share fact per item added or
 * removed — userId (an account), group "all" (public), or organizationArn /
 * organizationalUnitArn (kept as the ARN: the store counts it for the
 * accounts whose config lists it under org_arns). An org share no configured
 * account lists is said in the note: which accounts it reaches is unknown.
 */
/* The tags of a JSON object ({"key": "value", …}) as account sees them on an image: one fact each. */
static enum amicd_rc tags_seen_by(struct fact_list *out, const json_t *tags, const char *region, const char *image,
				  const char *owner, const char *account, int64_t t, struct amicd_error *err)
{
	const char *key;
	const json_t *value;

	json_object_foreach((json_t *)tags, key, value) {
		struct fact *f;

		if (!json_is_string(value) || key[0] == '\0')
			continue;
		f = ami_fact(out, FACT_AMI_TAG, t, region, image, owner);
		if (f == NULL)
			return nomem(err);
		f->account = account;
		f->key = key;
		f->value = json_string_value(value);
	}
	return AMICD_OK;
}

static enum amicd_rc launch_permission_facts(const struct config *cfg, const json_t *detail, const char *region,
					     const char *owner, int64_t t, struct fact_list *out,
					     struct amicd_error *err)
{
	const json_t *params = json_object_get(detail, "requestParameters");
	const char *image = str(params, "imageId");
	const json_t *perm = json_object_get(params, "launchPermission");
	static const char *const ops[] = { "add", "remove" };

	if (ami_fact(out, FACT_AMI_SEEN, t, region, image, owner) == NULL)
		return nomem(err);
	for (int op = 0; op < 2; op++) {
		const json_t *items = json_object_get(json_object_get(perm, ops[op]), "items");
		size_t i;
		const json_t *it;

		json_array_foreach(items, i, it) {
			const char *user;
			const char *group = str(it, "group");
			const char *org = str(it, "organizationArn");
			const char *ou = str(it, "organizationalUnitArn");
			const char *account;
			struct fact *f;

			if (account_at(out, it, "userId", &user, err) != AMICD_OK)
				return AMICD_ERR_NOMEM;
			account = user != NULL ? user : org != NULL ? org : ou;
			if (account == NULL && group != NULL && strcmp(group, "all") == 0)
				account = "all";
			if (account == NULL || account[0] == '\0')
				continue;
			f = ami_fact(out, FACT_AMI_SHARE, t, region, image, owner);
			if (f == NULL)
				return nomem(err);
			f->account = account;
			f->shared = op == 0;
			if (user == NULL && (org != NULL || ou != NULL) && op == 0 && out->note[0] == '\0') {
				char names[96];

				accounts_in(cfg, account, names, sizeof names);
				if (names[0] == '\0')
					snprintf(out->note, sizeof out->note, "shared with %s %s; no configured account lists it"
						 " under org_arns, so whether an ASG's account belongs to it is unknown",
						 org != NULL ? "organization" : "organizational unit", account);
				utf8_repair(out->note);
			}
		}
	}
	return AMICD_OK;
}

/*
 * CreateTags / DeleteTags: a tag fact per AMI in resourcesSet and tag in
 * tagSet, as seen from viewer. A DeleteTags names a key with or without a
 * value (design §4: only a matching value is removed); one without any tag
 * removes every tag the account set, a fact with key NULL.
 */
static enum amicd_rc tag_facts(const json_t *detail, const char *region, const char *viewer, int64_t t,
			       struct fact_list *out, struct amicd_error *err)
{
	const json_t *params = json_object_get(detail, "requestParameters");
	const json_t *resources = json_object_get(json_object_get(params, "resourcesSet"), "items");
	const json_t *tags = json_object_get(json_object_get(params, "tagSet"), "items");
	bool deleting = strcmp(str(detail, "eventName"), "DeleteTags") == 0;
	size_t i, j;
	const json_t *r, *tag;

	json_array_foreach(resources, i, r) {
		const char *image = str(r, "resourceId");
		struct fact *f;

		if (image == NULL || strncmp(image, "ami-", 4) != 0)
			continue;
		if (ami_fact(out, FACT_AMI_SEEN, t, region, image, NULL) == NULL)
			return nomem(err);
		if (deleting && json_array_size(tags) == 0) {
			f = ami_fact(out, FACT_AMI_TAG, t, region, image, NULL);
			if (f == NULL)
				return nomem(err);
			f->account = viewer;
			f->deleted = true;
			continue;
		}
		json_array_foreach(tags, j, tag) {
			const char *key = str(tag, "key");

			if (key == NULL || key[0] == '\0')
				continue;
			f = ami_fact(out, FACT_AMI_TAG, t, region, image, NULL);
			if (f == NULL)
				return nomem(err);
			f->account = viewer;
			f->key = key;
			f->deleted = deleting;
			f->value = str(tag, "value");
			if (!deleting && f->value == NULL)
				f->value = "";
		}
	}
	return AMICD_OK;
}

static enum amicd_rc shared_facts(const json_t *detail, int64_t t, struct fact_list *out, struct amicd_error *err)
{
	const char *image = str(detail, "ImageId");
	const char *region = str(detail, "Region");
	const char *owner, *dest;
	const char *state = str(detail, "State");
	const json_t *tags = json_object_get(detail, "Tags");
	struct fact *f;

	if (account_at(out, detail, "OwnerAccount", &owner, err) != AMICD_OK ||
	    account_at(out, detail, "DestinationAccount", &dest, err) != AMICD_OK)
		return AMICD_ERR_NOMEM;
	if (ami_fact(out, FACT_AMI_SEEN, t, region, image, owner) == NULL)
		return nomem(err);
	if (state != NULL) {
		f = ami_fact(out, FACT_AMI_STATE, t, region, image, owner);
		if (f == NULL)
			return nomem(err);
		f->state = state;
	}
	f = ami_fact(out, FACT_AMI_SHARE, t, region, image, owner);
	if (f == NULL)
		return nomem(err);
	f->account = dest;
	f->shared = true;
	return tags_seen_by(out, tags, region, image, owner, dest, t, err);
}

static enum amicd_rc eventbridge_facts(const struct config *cfg, const json_t *payload, struct fact_list *out,
				       struct amicd_error *err)
{
	struct eb_event ev;
	const json_t *detail = json_object_get(payload, "detail");
	int64_t t = 0;
	enum amicd_rc rc = eventbridge_parse(payload, &ev, err);

	if (rc != AMICD_OK)
		return rc;
	if (ev.ignored) {
		utf8_copy(out->note, sizeof out->note, ev.note);
		return AMICD_OK;
	}
	if (ev.account == ev.account_buf) {
		ev.account = own(out, ev.account_buf); /* sent as a number: the facts outlive ev */
		if (ev.account == NULL)
			return nomem(err);
	}
	util_parse_time(ev.time, &t);
	switch (ev.kind) {
	case EB_AMI_STATE: {
		const char *image = str(detail, "ImageId");
		struct fact *f;

		if (ami_fact(out, FACT_AMI_SEEN, t, ev.region, image, ev.account) == NULL)
			return nomem(err);
		f = ami_fact(out, FACT_AMI_STATE, t, ev.region, image, ev.account);
		if (f == NULL)
			return nomem(err);
		f->state = str(detail, "State");
		return AMICD_OK;
	}
	case EB_AMI_LAUNCH_PERMISSION:
	case EB_AMI_TAGS: {
		const char *region = str(detail, "awsRegion") != NULL ? str(detail, "awsRegion") : ev.region;
		const char *caller;
		int64_t et;

		if (account_at(out, detail, "recipientAccountId", &caller, err) != AMICD_OK)
			return AMICD_ERR_NOMEM;
		if (util_parse_time(str(detail, "eventTime"), &et))
			t = et;
		if (caller == NULL)
			caller = ev.account;
		if (ev.kind == EB_AMI_LAUNCH_PERMISSION)
			return launch_permission_facts(cfg, detail, region, caller, t, out, err);
		return tag_facts(detail, region, caller, t, out, err);
	}
	case EB_AMI_SHARED:
		return shared_facts(detail, t, out, err);
	case EB_OTHER:
		break;
	}
	snprintf(out->note, sizeof out->note, "not acted on");
	return AMICD_OK;
}


/* --- observations: what reconcile.c read from the sources of truth ----------------- */

static bool is_commit_text(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	return (n == 40 || n == 64) && strspn(s, "0123456789abcdef") == n;
}

/*
 * gitlab-api / branch_head: {"repo", "branch", "asked_ms", "commit": sha | null
 * (null: GitLab answered 404 Branch Not Found), "response": GitLab's answer}.
 */
static enum amicd_rc branch_head_facts(const struct config *cfg, const json_t *payload, struct fact_list *out,
				       struct amicd_error *err)
{
	const char *repo = str(payload, "repo"), *branch = str(payload, "branch");
	const json_t *commit = json_object_get(payload, "commit");
	const json_t *asked = json_object_get(payload, "asked_ms");
	struct fact *f;

	if (repo == NULL || branch == NULL || !json_is_integer(asked))
		return amicd_error_set(err, AMICD_ERR_INVALID, "$", "a branch_head observation needs repo, branch and asked_ms");
	if (commit != NULL && !json_is_null(commit) && !is_commit_text(json_string_value(commit)))
		return amicd_error_set(err, AMICD_ERR_INVALID, "$.commit", "not a commit id");
	if (!config_tracks(cfg, repo, branch)) {
		snprintf(out->note, sizeof out->note, "observation of a branch no ASG follows any more");
		utf8_repair(out->note);
		return AMICD_OK;
	}
	f = add(out, FACT_BRANCH_SEEN, json_integer_value(asked));
	if (f == NULL)
		return nomem(err);
	f->repo = repo;
	f->branch = branch;
	f->after = json_string_value(commit);
	return AMICD_OK;
}

static int by_cstring(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The facts of one listed image: the account can launch it, with exactly these tags there. */
static enum amicd_rc listed_image_facts(const json_t *img, const char *account, const char *region, int64_t t,
					struct fact_list *out, struct amicd_error *err)
{
	const char *image = str(img, "imageId"), *state = str(img, "imageState"), *owner = str(img, "imageOwnerId");
	const json_t *created = json_object_get(img, "creation_ms"), *tags = json_object_get(img, "tags");
	struct fact *f;

	if (image == NULL || state == NULL || owner == NULL || !json_is_integer(created) ||
	    (tags != NULL && !json_is_object(tags)))
		return amicd_error_set(err, AMICD_ERR_INVALID, "$.images", "an image needs imageId, imageState,"
				       " imageOwnerId, creation_ms and a tags object");
	if (ami_fact(out, FACT_AMI_SEEN, json_integer_value(created), region, image, owner) == NULL)
		return nomem(err);
	f = ami_fact(out, FACT_AMI_STATE, t, region, image, owner);
	if (f == NULL)
		return nomem(err);
	f->state = state;
	if (strcmp(owner, account) != 0) {
		/* listed, not owned: shared with the account (directly, through its org, or publicly) */
		f = ami_fact(out, FACT_AMI_SHARE, t, region, image, owner);
		if (f == NULL)
			return nomem(err);
		f->account = account;
		f->shared = true;
	}
	return tags_seen_by(out, tags, region, image, owner, account, t, err);
}

/*
 * ec2-api / images: {"account", "region", "asked_ms", "images": [{imageId,
 * imageState, creation_ms, imageOwnerId, isPublic, tags{}}], and the question:
 * "tag_name" + "commits" (the images tagged with them), or "image_id" (+
 * "known_owner") for the pinned AMI}. The answer is the whole truth for the
 * question: a commit's images are exactly those listed; a pinned AMI not
 * listed can no longer be launched by the account.
 */
static enum amicd_rc images_facts(const json_t *payload, struct fact_list *out, struct amicd_error *err)
{
	const char *account = str(payload, "account"), *region = str(payload, "region");
	const char *tag_name = str(payload, "tag_name"), *image_id = str(payload, "image_id");
	const json_t *asked = json_object_get(payload, "asked_ms"), *images = json_object_get(payload, "images");
	const json_t *commits = json_object_get(payload, "commits");
	int64_t t;
	size_t i;
	const json_t *img;
	struct fact *f;
	enum amicd_rc rc;

	if (account == NULL || region == NULL || !json_is_integer(asked) || !json_is_array(images) ||
	    (image_id == NULL && (tag_name == NULL || !json_is_array(commits))))
		return amicd_error_set(err, AMICD_ERR_INVALID, "$", "an images observation needs account, region,"
				       " asked_ms, images and a question (tag_name + commits, or image_id)");
	t = json_integer_value(asked);
	json_array_foreach(images, i, img) {
		rc = listed_image_facts(img, account, region, t, out, err);
		if (rc != AMICD_OK)
			return rc;
	}
	if (image_id != NULL) {
		const char *known_owner = str(payload, "known_owner");

		if (json_array_size(images) > 0)
			return AMICD_OK;
		/* not listed: the account cannot launch it (deregistered, or no longer shared with it) */
		for (int k = 0; k < 2; k++) {
			f = ami_fact(out, FACT_AMI_SHARE, t, region, image_id, NULL);
			if (f == NULL)
				return nomem(err);
			f->account = k == 0 ? account : "all";
			f->shared = false;
		}
		if (known_owner != NULL && strcmp(known_owner, account) == 0) {
			f = ami_fact(out, FACT_AMI_STATE, t, region, image_id, NULL);
			if (f == NULL)
				return nomem(err);
			f->state = "deregistered";
		}
		return AMICD_OK;
	}
	json_array_foreach(commits, i, img) {
		const char *commit = json_string_value(img);
		const char **ids = calloc(json_array_size(images) + 1, sizeof *ids);
		size_t n = 0, len = 2, j;
		const json_t *im;
		char *listed;

		if (ids == NULL)
			return nomem(err);
		if (!is_commit_text(commit)) {
			free(ids);
			return amicd_error_set(err, AMICD_ERR_INVALID, "$.commits", "not a commit id");
		}
		json_array_foreach(images, j, im) {
			const char *v = str(json_object_get(im, "tags"), tag_name);

			if (v != NULL && strcasecmp(v, commit) == 0) {
				ids[n++] = str(im, "imageId");
				len += strlen(ids[n - 1]) + 1;
			}
		}
		qsort(ids, n, sizeof *ids, by_cstring);
		listed = malloc(len);
		if (listed == NULL) {
			free(ids);
			return nomem(err);
		}
		strcpy(listed, ",");
		for (j = 0; j < n; j++) {
			strcat(listed, ids[j]);
			strcat(listed, ",");
		}
		free(ids);
		f = add(out, FACT_IMAGES_SEEN, t);
		if (f == NULL) {
			free(listed);
			return nomem(err);
		}
		f->account = account;
		f->region = region;
		f->key = tag_name;
		f->value = commit;
		f->listed = own(out, listed);
		free(listed);
		if (f->listed == NULL)
			return nomem(err);
	}
	return AMICD_OK;
}

enum amicd_rc facts_from_event(const struct config *cfg, const char *source, const char *kind,
			       const json_t *payload, struct fact_list *out, struct amicd_error *err)
{
	if (strcmp(source, "gitlab") == 0) {
		if (kind != NULL && strcmp(kind, "push") == 0)
			return push_facts(cfg, payload, out, err);
		snprintf(out->note, sizeof out->note, "%s events are not acted on", kind != NULL ? kind : "unknown");
		utf8_repair(out->note);
		return AMICD_OK;
	}
	if (strcmp(source, "eventbridge") == 0)
		return eventbridge_facts(cfg, payload, out, err);
	if (strcmp(source, "gitlab-api") == 0 && kind != NULL && strcmp(kind, "branch_head") == 0)
		return branch_head_facts(cfg, payload, out, err);
	if (strcmp(source, "ec2-api") == 0 && kind != NULL && strcmp(kind, "images") == 0)
		return images_facts(payload, out, err);
	return amicd_error_set(err, AMICD_ERR_INVALID, NULL, "unknown source %s", source);
}
