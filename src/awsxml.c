/*
 * awsxml.c — AWS's XML answers (EC2 DescribeImages, STS credentials, both
 * error shapes) into plain structs, with expat.
 *
 * One walker serves every document: expat reports elements, the walker keeps
 * the path of local names from the root ("/DescribeImagesResponse/imagesSet/
 * item") and looks it up in the document's table of rules. A rule is a group
 * (an element whose children matter: an image, a tag) or a field (an element
 * whose text matters). Because rules name whole paths from the root, an item
 * of blockDeviceMapping never matches the rule of an image's item, nor a tag of
 * anything else the rule of an image's tag. Elements no rule names are skipped,
 * so fields AWS adds later cost nothing; an element inside a field is refused.
 *
 * Pure: no I/O, no clock, no logging. Never expands entities: a DOCTYPE stops
 * the parse before anything in it is read. Every buffer the walker and expat
 * use is overwritten before it is freed (the credentials' secrets pass through
 * them).
 */
#include "awsxml.h"

#include "util.h"

#include <expat.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PATH_BYTES 1024

enum rule_kind {
	FIELD,      /* its text is the value; at most once per parent */
	GROUP_ONE,  /* at most once per parent */
	GROUP_MANY, /* repeated: items of a set */
};

/*
 * Every element between the root and a rule's element has a rule of its own:
 * "at most once per parent" then means once in the document (two
 * AssumeRoleResult each with its Credentials are refused, not merged).
 */
struct rule {
	const char *path;
	int id;                 /* < 64: a bit of struct walk's seen[] */
	enum rule_kind kind;
};

struct walk;

/* What one kind of document does with the rules it matched; each returns AMICD_OK or fails the walk. */
struct schema {
	const struct rule *rules;
	size_t n_rules;
	const char *roots;      /* the accepted root elements, for messages */
	enum amicd_rc (*begin)(struct walk *w, int id);
	enum amicd_rc (*field)(struct walk *w, int id, const char *text, size_t len);
	enum amicd_rc (*end)(struct walk *w, int id);
	enum amicd_rc (*finish)(struct walk *w);   /* after the whole document; w->path is "/root" */
};

struct walk {
	XML_Parser xp;
	const struct schema *schema;
	void *ctx;                              /* the document's state */
	struct amicd_error *err;
	enum amicd_rc rc;                       /* the first failure; the walk stops there */
	unsigned depth;                         /* elements open */
	char path[MAX_PATH_BYTES];              /* "/root/child/…" of the open elements */
	size_t mark[AWSXML_MAX_DEPTH + 1];      /* strlen(path) before the element at each depth */
	int rule[AWSXML_MAX_DEPTH + 1];         /* rule index of the element at each depth, or -1 */
	uint64_t seen[AWSXML_MAX_DEPTH + 1];    /* ids of single rules already met under that element */
	bool capturing;                         /* the innermost element is a field */
	size_t text_len;
	char text[AWSXML_MAX_FIELD_BYTES + 1];
};

/* --- memory expat allocates: overwritten before it is freed -------------------- */

union mm_head {
	size_t n;
	max_align_t align;
};

static void *mm_malloc(size_t n)
{
	union mm_head *h;

	if (n > SIZE_MAX - sizeof *h)
		return NULL;
	h = malloc(sizeof *h + n);
	if (h == NULL)
		return NULL;
	h->n = n;
	return h + 1;
}

static void mm_free(void *p)
{
	union mm_head *h;

	if (p == NULL)
		return;
	h = (union mm_head *)p - 1;
	explicit_bzero(h, sizeof *h + h->n);
	free(h);
}

/* realloc by copy, so the old block is overwritten too */
static void *mm_realloc(void *p, size_t n)
{
	union mm_head *h;
	void *q;

	if (p == NULL)
		return mm_malloc(n);
	q = mm_malloc(n);
	if (q == NULL)
		return NULL;
	h = (union mm_head *)p - 1;
	memcpy(q, p, h->n < n ? h->n : n);
	mm_free(p);
	return q;
}

static const XML_Memory_Handling_Suite wiping_memory = { mm_malloc, mm_realloc, mm_free };

/* --- the walker ---------------------------------------------------------------- */

/* fail — record the walk's first failure (path: the current element) and stop expat. Returns rc. */
static enum amicd_rc fail(struct walk *w, enum amicd_rc rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum amicd_rc fail(struct walk *w, enum amicd_rc rc, const char *fmt, ...)
{
	char msg[sizeof w->err->message];
	va_list ap;

	if (w->rc != AMICD_OK)
		return w->rc;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	w->rc = amicd_error_set(w->err, rc, w->path[0] != '\0' ? w->path : "/", "%s", msg);
	XML_StopParser(w->xp, XML_FALSE);
	return rc;
}

/* local_name — name without its namespace (expat gives "uri<sep>local" for a namespaced element) */
static const char *local_name(const char *name)
{
	const char *sep = strrchr(name, ' ');

	return sep != NULL ? sep + 1 : name;
}

/* root_known — whether some rule's path starts with /name/ */
static bool root_known(const struct schema *s, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < s->n_rules; i++)
		if (strncmp(s->rules[i].path + 1, name, n) == 0 && s->rules[i].path[n + 1] == '/')
			return true;
	return false;
}

static int find_rule(const struct schema *s, const char *path)
{
	for (size_t i = 0; i < s->n_rules; i++)
		if (strcmp(s->rules[i].path, path) == 0)
			return (int)i;
	return -1;
}

static void XMLCALL on_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
	struct walk *w = data;
	const char *local = local_name(name);
	size_t at = strlen(w->path), n = strlen(local);
	unsigned d;
	int r;

	(void)attrs;
	if (w->rc != AMICD_OK)
		return;
	if (w->capturing) {
		fail(w, AMICD_ERR_INVALID, "unexpected element <%s> inside a text field", local);
		return;
	}
	if (w->depth == 0 && !root_known(w->schema, local)) {
		fail(w, AMICD_ERR_INVALID, "root element is <%s>, expected %s", local, w->schema->roots);
		return;
	}
	if (w->depth >= AWSXML_MAX_DEPTH) {
		fail(w, AMICD_ERR_INVALID, "elements nested over %d deep", AWSXML_MAX_DEPTH);
		return;
	}
	if (at + 1 + n >= sizeof w->path) {
		fail(w, AMICD_ERR_INVALID, "element path over %d bytes", MAX_PATH_BYTES - 1);
		return;
	}
	d = ++w->depth;
	w->mark[d] = at;
	w->path[at] = '/';
	memcpy(w->path + at + 1, local, n + 1);
	w->seen[d] = 0;
	r = find_rule(w->schema, w->path);
	w->rule[d] = r;
	if (r < 0)
		return;
	if (w->schema->rules[r].kind != GROUP_MANY) {
		uint64_t bit = UINT64_C(1) << w->schema->rules[r].id;

		if ((w->seen[d - 1] & bit) != 0) {
			fail(w, AMICD_ERR_INVALID, "<%s> repeated", local);
			return;
		}
		w->seen[d - 1] |= bit;
	}
	if (w->schema->rules[r].kind == FIELD) {
		w->capturing = true;
		w->text_len = 0;
		return;
	}
	w->schema->begin(w, w->schema->rules[r].id);
}

static void XMLCALL on_text(void *data, const XML_Char *s, int len)
{
	struct walk *w = data;

	if (w->rc != AMICD_OK || !w->capturing || len <= 0)
		return;
	if ((size_t)len > AWSXML_MAX_FIELD_BYTES - w->text_len) {
		fail(w, AMICD_ERR_INVALID, "text over %d bytes", AWSXML_MAX_FIELD_BYTES);
		return;
	}
	memcpy(w->text + w->text_len, s, (size_t)len);
	w->text_len += (size_t)len;
	w->text[w->text_len] = '\0';
}

static void XMLCALL on_end(void *data, const XML_Char *name)
{
	struct walk *w = data;
	int r;

	(void)name;
	if (w->rc != AMICD_OK || w->depth == 0)
		return;
	r = w->rule[w->depth];
	if (r >= 0 && w->schema->rules[r].kind == FIELD) {
		w->text[w->text_len] = '\0';
		w->schema->field(w, w->schema->rules[r].id, w->text, w->text_len);
		explicit_bzero(w->text, w->text_len);
		w->text_len = 0;
		w->capturing = false;
	} else if (r >= 0) {
		w->schema->end(w, w->schema->rules[r].id);
	}
	if (w->rc != AMICD_OK)
		return;
	if (w->depth > 1) /* the root's path stays, for the messages of schema->finish */
		w->path[w->mark[w->depth]] = '\0';
	w->depth--;
}

static void XMLCALL on_doctype(void *data, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
			       int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	fail(data, AMICD_ERR_INVALID, "a DOCTYPE is not allowed (AWS never sends one)");
}

static void XMLCALL on_entity_decl(void *data, const XML_Char *name, int is_param, const XML_Char *value,
				   int value_len, const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
				   const XML_Char *notation)
{
	(void)name;
	(void)is_param;
	(void)value;
	(void)value_len;
	(void)base;
	(void)sysid;
	(void)pubid;
	(void)notation;
	fail(data, AMICD_ERR_INVALID, "an entity declaration is not allowed");
}

/*
 * walk_document — run schema over xml with ctx as the document's state.
 * Returns AMICD_OK, or the first failure with err filled; the caller clears
 * what ctx collected.
 */
static enum amicd_rc walk_document(const struct schema *schema, void *ctx, const char *xml, size_t len,
				   struct amicd_error *err)
{
	struct walk *w = NULL;
	enum amicd_rc rc = AMICD_OK;

	amicd_error_clear(err);
	if (xml == NULL)
		return amicd_error_set(err, AMICD_ERR_INVALID, NULL, "no document");
	if (len > AWSXML_MAX_DOC_BYTES)
		return amicd_error_set(err, AMICD_ERR_INVALID, NULL, "document of %zu bytes is over %u", len,
				       AWSXML_MAX_DOC_BYTES);
	w = calloc(1, sizeof *w);
	if (w == NULL)
		return amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
	w->schema = schema;
	w->ctx = ctx;
	w->err = err;
	w->xp = XML_ParserCreate_MM(NULL, &wiping_memory, " ");
	if (w->xp == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	XML_SetUserData(w->xp, w);
	XML_SetParamEntityParsing(w->xp, XML_PARAM_ENTITY_PARSING_NEVER);
	XML_SetStartDoctypeDeclHandler(w->xp, on_doctype);
	XML_SetEntityDeclHandler(w->xp, on_entity_decl);
	XML_SetElementHandler(w->xp, on_start, on_end);
	XML_SetCharacterDataHandler(w->xp, on_text);
	if (XML_Parse(w->xp, xml, (int)len, XML_TRUE) != XML_STATUS_OK) {
		enum XML_Error code = XML_GetErrorCode(w->xp);
		char where[64];

		if (w->rc != AMICD_OK) {
			rc = w->rc;
			goto out;
		}
		if (code == XML_ERROR_NO_MEMORY) {
			rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
			goto out;
		}
		snprintf(where, sizeof where, "%lu:%lu", (unsigned long)XML_GetCurrentLineNumber(w->xp),
			 (unsigned long)XML_GetCurrentColumnNumber(w->xp) + 1);
		rc = amicd_error_set(err, AMICD_ERR_PARSE, where, "not well-formed XML: %s", XML_ErrorString(code));
		goto out;
	}
	if (w->rc != AMICD_OK) { /* a failure expat did not see as one (none known; kept safe) */
		rc = w->rc;
		goto out;
	}
	rc = schema->finish(w);
out:
	if (w->xp != NULL)
		XML_ParserFree(w->xp);
	explicit_bzero(w, sizeof *w);
	free(w);
	return rc;
}

/* keep — a NUL-terminated copy of text in *slot (empty when len is 0). */
static enum amicd_rc keep(struct walk *w, char **slot, const char *text, size_t len)
{
	char *s;

	if (*slot != NULL) /* the walker refuses repeated fields: a bug */
		return fail(w, AMICD_ERR_INTERNAL, "field stored twice");
	s = malloc(len + 1);
	if (s == NULL)
		return fail(w, AMICD_ERR_NOMEM, "out of memory");
	memcpy(s, text, len);
	s[len] = '\0';
	*slot = s;
	return AMICD_OK;
}

/* keep_time — keep the text and its value in ms since the epoch; an invalid time fails the walk. */
static enum amicd_rc keep_time(struct walk *w, char **slot, int64_t *ms, const char *text, size_t len)
{
	if (strlen(text) != len || !util_parse_time(text, ms))
		return fail(w, AMICD_ERR_INVALID, "not an RFC 3339 time");
	return keep(w, slot, text, len);
}

static bool empty(const char *s)
{
	return s == NULL || s[0] == '\0';
}

static void free_secret(char **s)
{
	if (*s == NULL)
		return;
	explicit_bzero(*s, strlen(*s));
	free(*s);
	*s = NULL;
}

/* --- DescribeImages ---------------------------------------------------------------- */

enum {
	IMG_SET,
	IMG_ITEM,
	IMG_ID,
	IMG_STATE,
	IMG_CREATED,
	IMG_OWNER,
	IMG_PUBLIC,
	IMG_TAG_SET,
	IMG_TAG,
	IMG_TAG_KEY,
	IMG_TAG_VALUE,
	IMG_NEXT_TOKEN,
	IMG_REQUEST_ID,
};

#define IMG_ROOT "/DescribeImagesResponse"
#define IMG_ITEM_PATH IMG_ROOT "/imagesSet/item"
#define IMG_TAG_PATH IMG_ITEM_PATH "/tagSet/item"

static const struct rule image_rules[] = {
	{ IMG_ROOT "/imagesSet", IMG_SET, GROUP_ONE },
	{ IMG_ITEM_PATH, IMG_ITEM, GROUP_MANY },
	{ IMG_ITEM_PATH "/imageId", IMG_ID, FIELD },
	{ IMG_ITEM_PATH "/imageState", IMG_STATE, FIELD },
	{ IMG_ITEM_PATH "/creationDate", IMG_CREATED, FIELD },
	{ IMG_ITEM_PATH "/imageOwnerId", IMG_OWNER, FIELD },
	{ IMG_ITEM_PATH "/isPublic", IMG_PUBLIC, FIELD },
	{ IMG_ITEM_PATH "/tagSet", IMG_TAG_SET, GROUP_ONE },
	{ IMG_TAG_PATH, IMG_TAG, GROUP_MANY },
	{ IMG_TAG_PATH "/key", IMG_TAG_KEY, FIELD },
	{ IMG_TAG_PATH "/value", IMG_TAG_VALUE, FIELD },
	{ IMG_ROOT "/nextToken", IMG_NEXT_TOKEN, FIELD },
	{ IMG_ROOT "/requestId", IMG_REQUEST_ID, FIELD },
};

struct images_state {
	struct awsxml_images *out;
	size_t cap;             /* of out->items */
	size_t tags_cap;        /* of the last image's tags */
	bool have_set;
};

static struct awsxml_image *last_image(struct walk *w)
{
	struct images_state *st = w->ctx;

	return &st->out->items[st->out->n - 1];
}

/* grow — room for one more of size bytes in *items holding n of cap; false when out of memory */
static bool grow(void **items, size_t n, size_t *cap, size_t size)
{
	size_t want = *cap == 0 ? 8 : *cap * 2;
	void *p;

	if (n < *cap)
		return true;
	p = realloc(*items, want * size);
	if (p == NULL)
		return false;
	*items = p;
	*cap = want;
	return true;
}

static enum amicd_rc images_begin(struct walk *w, int id)
{
	struct images_state *st = w->ctx;
	struct awsxml_images *out = st->out;
	struct awsxml_image *img;

	switch (id) {
	case IMG_SET:
		st->have_set = true;
		return AMICD_OK;
	case IMG_ITEM:
		if (out->n >= AWSXML_MAX_IMAGES)
			return fail(w, AMICD_ERR_INVALID, "more than %d images", AWSXML_MAX_IMAGES);
		if (!grow((void **)&out->items, out->n, &st->cap, sizeof *out->items))
			return fail(w, AMICD_ERR_NOMEM, "out of memory");
		memset(&out->items[out->n++], 0, sizeof *out->items);
		st->tags_cap = 0;
		return AMICD_OK;
	case IMG_TAG:
		img = last_image(w);
		if (img->n_tags >= AWSXML_MAX_TAGS)
			return fail(w, AMICD_ERR_INVALID, "more than %d tags on image %s", AWSXML_MAX_TAGS,
				    img->image_id != NULL ? img->image_id : "(no imageId yet)");
		if (!grow((void **)&img->tags, img->n_tags, &st->tags_cap, sizeof *img->tags))
			return fail(w, AMICD_ERR_NOMEM, "out of memory");
		memset(&img->tags[img->n_tags++], 0, sizeof *img->tags);
		return AMICD_OK;
	default: /* IMG_TAG_SET */
		return AMICD_OK;
	}
}

static enum amicd_rc images_field(struct walk *w, int id, const char *text, size_t len)
{
	struct images_state *st = w->ctx;
	struct awsxml_image *img = st->out->n > 0 ? last_image(w) : NULL;
	struct awsxml_tag *tag = img != NULL && img->n_tags > 0 ? &img->tags[img->n_tags - 1] : NULL;

	switch (id) {
	case IMG_ID:
		return keep(w, &img->image_id, text, len);
	case IMG_STATE:
		return keep(w, &img->state, text, len);
	case IMG_CREATED:
		return keep_time(w, &img->creation_date, &img->creation_ms, text, len);
	case IMG_OWNER:
		return keep(w, &img->owner_id, text, len);
	case IMG_PUBLIC:
		if (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)
			return fail(w, AMICD_ERR_INVALID, "isPublic is neither true nor false");
		img->is_public = text[0] == 't';
		return AMICD_OK;
	case IMG_TAG_KEY:
		return keep(w, &tag->key, text, len);
	case IMG_TAG_VALUE:
		return keep(w, &tag->value, text, len);
	case IMG_NEXT_TOKEN:
		return len == 0 ? AMICD_OK : keep(w, &st->out->next_token, text, len);
	default: /* IMG_REQUEST_ID */
		return keep(w, &st->out->request_id, text, len);
	}
}

static enum amicd_rc images_end(struct walk *w, int id)
{
	struct awsxml_image *img;
	struct awsxml_tag *tag;

	if (id == IMG_ITEM) {
		img = last_image(w);
		if (empty(img->image_id))
			return fail(w, AMICD_ERR_INVALID, "an image without imageId");
		if (empty(img->state))
			return fail(w, AMICD_ERR_INVALID, "image %s without imageState", img->image_id);
		if (empty(img->owner_id))
			return fail(w, AMICD_ERR_INVALID, "image %s without imageOwnerId", img->image_id);
		if (img->creation_date == NULL)
			return fail(w, AMICD_ERR_INVALID, "image %s without creationDate", img->image_id);
	} else if (id == IMG_TAG) {
		img = last_image(w);
		tag = &img->tags[img->n_tags - 1];
		if (empty(tag->key))
			return fail(w, AMICD_ERR_INVALID, "a tag without key");
		if (tag->value == NULL)
			return keep(w, &tag->value, "", 0);
	}
	return AMICD_OK;
}

static enum amicd_rc images_finish(struct walk *w)
{
	struct images_state *st = w->ctx;

	if (!st->have_set)
		return amicd_error_set(w->err, AMICD_ERR_INVALID, w->path, "no imagesSet");
	return AMICD_OK;
}

static const struct schema images_schema = {
	image_rules, sizeof image_rules / sizeof image_rules[0], "<DescribeImagesResponse>",
	images_begin, images_field, images_end, images_finish,
};

enum amicd_rc awsxml_describe_images_parse(const char *xml, size_t len, struct awsxml_images *out,
					   struct amicd_error *err)
{
	struct images_state st = { .out = out };
	enum amicd_rc rc;

	memset(out, 0, sizeof *out);
	rc = walk_document(&images_schema, &st, xml, len, err);
	if (rc != AMICD_OK)
		awsxml_images_clear(out);
	return rc;
}

void awsxml_images_clear(struct awsxml_images *out)
{
	if (out == NULL)
		return;
	for (size_t i = 0; i < out->n; i++) {
		struct awsxml_image *img = &out->items[i];

		for (size_t t = 0; t < img->n_tags; t++) {
			free(img->tags[t].key);
			free(img->tags[t].value);
		}
		free(img->tags);
		free(img->image_id);
		free(img->state);
		free(img->creation_date);
		free(img->owner_id);
	}
	free(out->items);
	free(out->next_token);
	free(out->request_id);
	memset(out, 0, sizeof *out);
}

/* --- STS credentials ---------------------------------------------------------------- */

enum { CRED_RESULT, CRED_GROUP, CRED_KEY_ID, CRED_SECRET, CRED_TOKEN, CRED_EXPIRATION };

#define CRED_RULES(root, result)                                                       \
	{ "/" root "/" result, CRED_RESULT, GROUP_ONE },                                \
	{ "/" root "/" result "/Credentials", CRED_GROUP, GROUP_ONE },                  \
	{ "/" root "/" result "/Credentials/AccessKeyId", CRED_KEY_ID, FIELD },         \
	{ "/" root "/" result "/Credentials/SecretAccessKey", CRED_SECRET, FIELD },     \
	{ "/" root "/" result "/Credentials/SessionToken", CRED_TOKEN, FIELD },         \
	{ "/" root "/" result "/Credentials/Expiration", CRED_EXPIRATION, FIELD }

static const struct rule credential_rules[] = {
	CRED_RULES("AssumeRoleResponse", "AssumeRoleResult"),
	CRED_RULES("AssumeRoleWithWebIdentityResponse", "AssumeRoleWithWebIdentityResult"),
};

static enum amicd_rc no_group_action(struct walk *w, int id)
{
	(void)w;
	(void)id;
	return AMICD_OK;
}

static enum amicd_rc credentials_field(struct walk *w, int id, const char *text, size_t len)
{
	struct awsxml_credentials *out = w->ctx;

	switch (id) {
	case CRED_KEY_ID:
		return keep(w, &out->access_key_id, text, len);
	case CRED_SECRET:
		return keep(w, &out->secret_access_key, text, len);
	case CRED_TOKEN:
		return keep(w, &out->session_token, text, len);
	default: /* CRED_EXPIRATION */
		return keep_time(w, &out->expiration, &out->expiration_ms, text, len);
	}
}

static enum amicd_rc credentials_finish(struct walk *w)
{
	struct awsxml_credentials *out = w->ctx;
	const char *missing = empty(out->access_key_id)       ? "AccessKeyId"
			      : empty(out->secret_access_key) ? "SecretAccessKey"
			      : empty(out->session_token)     ? "SessionToken"
			      : out->expiration == NULL       ? "Expiration"
							      : NULL;

	if (missing != NULL)
		return amicd_error_set(w->err, AMICD_ERR_INVALID, w->path, "no %s in the credentials", missing);
	return AMICD_OK;
}

static const struct schema credentials_schema = {
	credential_rules, sizeof credential_rules / sizeof credential_rules[0],
	"<AssumeRoleResponse> or <AssumeRoleWithWebIdentityResponse>",
	no_group_action, credentials_field, no_group_action, credentials_finish,
};

enum amicd_rc awsxml_credentials_parse(const char *xml, size_t len, struct awsxml_credentials *out,
				       struct amicd_error *err)
{
	enum amicd_rc rc;

	memset(out, 0, sizeof *out);
	rc = walk_document(&credentials_schema, out, xml, len, err);
	if (rc != AMICD_OK)
		awsxml_credentials_clear(out);
	return rc;
}

void awsxml_credentials_clear(struct awsxml_credentials *out)
{
	if (out == NULL)
		return;
	free(out->access_key_id);
	free_secret(&out->secret_access_key);
	free_secret(&out->session_token);
	free(out->expiration);
	explicit_bzero(out, sizeof *out);
}

/* --- errors ----------------------------------------------------------------------- */

enum { ERR_LIST, ERR_ERROR, ERR_CODE, ERR_MESSAGE, ERR_TYPE, ERR_REQUEST_ID };

static const struct rule error_rules[] = {
	/* EC2: <Response><Errors><Error>…</Error>…</Errors><RequestID> */
	{ "/Response/Errors", ERR_LIST, GROUP_ONE },
	{ "/Response/Errors/Error", ERR_ERROR, GROUP_MANY },
	{ "/Response/Errors/Error/Code", ERR_CODE, FIELD },
	{ "/Response/Errors/Error/Message", ERR_MESSAGE, FIELD },
	{ "/Response/RequestID", ERR_REQUEST_ID, FIELD },
	/* STS: <ErrorResponse><Error><Type><Code><Message></Error><RequestId> */
	{ "/ErrorResponse/Error", ERR_ERROR, GROUP_ONE },
	{ "/ErrorResponse/Error/Type", ERR_TYPE, FIELD },
	{ "/ErrorResponse/Error/Code", ERR_CODE, FIELD },
	{ "/ErrorResponse/Error/Message", ERR_MESSAGE, FIELD },
	{ "/ErrorResponse/RequestId", ERR_REQUEST_ID, FIELD },
};

struct error_state {
	struct awsxml_aws_error *out;
	size_t errors;          /* <Error> elements begun; only the first is kept */
};

static enum amicd_rc error_begin(struct walk *w, int id)
{
	struct error_state *st = w->ctx;

	if (id == ERR_ERROR)
		st->errors++;
	return AMICD_OK;
}

static enum amicd_rc error_field(struct walk *w, int id, const char *text, size_t len)
{
	struct error_state *st = w->ctx;
	struct awsxml_aws_error *out = st->out;

	if (id == ERR_REQUEST_ID)
		return keep(w, &out->request_id, text, len);
	if (st->errors > 1)
		return AMICD_OK;
	switch (id) {
	case ERR_CODE:
		return keep(w, &out->code, text, len);
	case ERR_MESSAGE:
		return keep(w, &out->message, text, len);
	default: /* ERR_TYPE */
		return keep(w, &out->type, text, len);
	}
}

static enum amicd_rc error_finish(struct walk *w)
{
	struct error_state *st = w->ctx;

	if (empty(st->out->code))
		return amicd_error_set(w->err, AMICD_ERR_INVALID, w->path, "an error answer without Code");
	return AMICD_OK;
}

static const struct schema error_schema = {
	error_rules, sizeof error_rules / sizeof error_rules[0], "<Response> (EC2) or <ErrorResponse> (STS)",
	error_begin, error_field, no_group_action, error_finish,
};

enum amicd_rc awsxml_error_parse(const char *xml, size_t len, struct awsxml_aws_error *out,
				 struct amicd_error *err)
{
	struct error_state st = { .out = out };
	enum amicd_rc rc;

	memset(out, 0, sizeof *out);
	rc = walk_document(&error_schema, &st, xml, len, err);
	if (rc != AMICD_OK)
		awsxml_aws_error_clear(out);
	return rc;
}

void awsxml_aws_error_clear(struct awsxml_aws_error *out)
{
	if (out == NULL)
		return;
	free(out->code);
	free(out->message);
	free(out->type);
	free(out->request_id);
	memset(out, 0, sizeof *out);
}

bool awsxml_code_transient(const char *code)
{
	static const char *const codes[] = { "RequestLimitExceeded", "Throttling", "ThrottlingException",
					     "Unavailable", "ServiceUnavailable", "InternalError", "InternalFailure",
					     "IDPCommunicationError", NULL };

	for (const char *const *c = codes; code != NULL && *c != NULL; c++)
		if (strcmp(code, *c) == 0)
			return true;
	return false;
}
