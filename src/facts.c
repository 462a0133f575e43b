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
	enum amicd_rc rc = gitlab_push_parse(payload, &p, err);

	if (rc != AMICD_OK)
		return rc;
	repo = config_push_repo(cfg, p.repo_urls, GITLAB_REPO_URLS, p.branch, NULL);
	if (repo == NULL) {
		snprintf(out->note, sizeof out->note, "push to an untracked repository or branch");
		goto out;
	}
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

static enum amicd_rc launch_permission_facts(const json_t *detail, const char *region, const char *owner,
					     int64_t t, struct fact_list *out, struct amicd_error *err)
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
			const char *user = str(it, "userId");
			const char *group = str(it, "group");
			struct fact *f;

			if (user == NULL && (group == NULL || strcmp(group, "all") != 0))
				continue;
			f = ami_fact(out, FACT_AMI_SHARE, t, region, image, owner);
			if (f == NULL)
				return nomem(err);
			f->account = user != NULL ? user : "all";
			f->shared = op == 0;
		}
	}
	return AMICD_OK;
}

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

		if (image == NULL || strncmp(image, "ami-", 4) != 0)
			continue;
		if (ami_fact(out, FACT_AMI_SEEN, t, region, image, NULL) == NULL)
			return nomem(err);
		json_array_foreach(tags, j, tag) {
			const char *key = str(tag, "key");
			struct fact *f;

			if (key == NULL)
				continue;
			f = ami_fact(out, FACT_AMI_TAG, t, region, image, NULL);
			if (f == NULL)
				return nomem(err);
			f->account = viewer;
			f->key = key;
			f->value = deleting ? NULL : (str(tag, "value") != NULL ? str(tag, "value") : "");
		}
	}
	return AMICD_OK;
}

static enum amicd_rc shared_facts(const json_t *detail, int64_t t, struct fact_list *out, struct amicd_error *err)
{
	const char *image = str(detail, "ImageId");
	const char *region = str(detail, "Region");
	const char *owner = str(detail, "OwnerAccount");
	const char *dest = str(detail, "DestinationAccount");
	const char *state = str(detail, "State");
	const json_t *tags = json_object_get(detail, "Tags");
	const char *key;
	const json_t *value;
	struct fact *f;

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
	json_object_foreach((json_t *)tags, key, value) {
		if (!json_is_string(value))
			continue;
		f = ami_fact(out, FACT_AMI_TAG, t, region, image, owner);
		if (f == NULL)
			return nomem(err);
		f->account = dest;
		f->key = key;
		f->value = json_string_value(value);
	}
	return AMICD_OK;
}

static enum amicd_rc eventbridge_facts(const json_t *payload, struct fact_list *out, struct amicd_error *err)
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
		const char *caller = str(detail, "recipientAccountId");
		int64_t et;

		if (util_parse_time(str(detail, "eventTime"), &et))
			t = et;
		if (caller == NULL)
			caller = ev.account;
		if (ev.kind == EB_AMI_LAUNCH_PERMISSION)
			return launch_permission_facts(detail, region, caller, t, out, err);
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
		return eventbridge_facts(payload, out, err);
	return amicd_error_set(err, AMICD_ERR_INVALID, NULL, "unknown source %s", source);
}
