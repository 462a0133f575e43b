/*
 * test_awsxml.c — unit tests of awsxml.h: AWS's XML answers (EC2
 * DescribeImages, STS AssumeRole/AssumeRoleWithWebIdentity, both error shapes)
 * field by field, pagination, nested item elements that are neither images nor
 * tags, and a table of refused documents (not well-formed, DOCTYPE and
 * entities, wrong root, missing or repeated fields, every limit) with the code,
 * message and path each one fails with.
 *
 * Fixtures: tests/data/{ec2,sts}-*.xml, found through AMICD_TEST_DATA (set by
 * `make test`), else "tests/data". Broken documents are built from a fixture
 * by replacing one piece, so each differs from a real answer by what it tests.
 */
#include "awsxml.h"
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The fixtures, read once for the group: fixture[F_IMAGES] is the text of fixture_names[F_IMAGES]. */
enum { F_IMAGES, F_EC2_ERROR, F_ASSUME_ROLE, F_STS_ERROR, F_COUNT };
static const char *const fixture_names[F_COUNT] = {
	"ec2-describeimages-response.xml", "ec2-error-response.xml", "sts-assumerole-response.xml",
	"sts-error-response.xml",
};
static char *fixture[F_COUNT];

static int group_setup(void **state)
{
	(void)state;
	for (int i = 0; i < F_COUNT; i++) {
		fixture[i] = support_fixture(fixture_names[i], NULL);
		if (fixture[i] == NULL)
			return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < F_COUNT; i++) {
		free(fixture[i]);
		fixture[i] = NULL;
	}
	return 0;
}

/* --- allocation faults --------------------------------------------------------------
 * The Makefile links this test with --wrap=malloc,calloc,realloc (WRAP_test_awsxml):
 * every allocation in awsxml.c, and expat's (awsxml hands expat a memory suite
 * built on malloc), comes here. With alloc_budget >= 0, that many succeed and
 * the next one fails. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static long alloc_budget = -1;

static bool alloc_allowed(void)
{
	if (alloc_budget < 0)
		return true;
	if (alloc_budget == 0)
		return false;
	alloc_budget--;
	return true;
}

void *__wrap_malloc(size_t n)
{
	return alloc_allowed() ? __real_malloc(n) : NULL;
}

void *__wrap_calloc(size_t n, size_t size)
{
	return alloc_allowed() ? __real_calloc(n, size) : NULL;
}

void *__wrap_realloc(void *p, size_t n)
{
	return alloc_allowed() ? __real_realloc(p, n) : NULL;
}

/* replace — text with its one occurrence of find replaced (the test fails when find is not there once) */
static char *replace(const char *text, const char *find, const char *repl)
{
	size_t count = 0;
	char *s = support_replace_all(text, find, repl, &count);

	assert_non_null(s);
	assert_int_equal(count, 1);
	return s;
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

/* --- DescribeImages ------------------------------------------------------------ */

static void test_images_fixture(void **state)
{
	struct awsxml_images out;
	struct amicd_error err;
	const struct awsxml_image *img;

	(void)state;
	assert_int_equal(awsxml_describe_images_parse(fixture[F_IMAGES], strlen(fixture[F_IMAGES]), &out, &err), AMICD_OK);
	assert_int_equal(out.n, 1);
	img = &out.items[0];
	assert_string_equal(img->image_id, "ami-08fdc871471476ef5");
	assert_string_equal(img->state, "available");
	assert_string_equal(img->creation_date, "2025-03-04T08:31:02.000Z");
	assert_int_equal(img->creation_ms, INT64_C(1741077062000));
	assert_string_equal(img->owner_id, "111122223333");
	assert_false(img->is_public);
	/* the blockDeviceMapping item is not a tag, nor an image */
	assert_int_equal(img->n_tags, 2);
	assert_string_equal(img->tags[0].key, "image-role");
	assert_string_equal(img->tags[0].value, "worker");
	assert_string_equal(img->tags[1].key, "git-sha");
	assert_string_equal(img->tags[1].value, "61c979eab8ea475e0b84db7556d2049e9dae6d89");
	assert_null(out.next_token);
	assert_string_equal(out.request_id, "22dbd8b5-ed7b-4e5e-9794-5da8d147a65b");
	awsxml_images_clear(&out);
	assert_true(all_zero(&out, sizeof out));
	awsxml_images_clear(&out); /* twice is harmless */
	awsxml_images_clear(NULL);
}

/* A page with a nextToken, a second public image, and item elements nested everywhere else. */
static const char paged[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<DescribeImagesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
	"<requestId>r-1</requestId>"
	"<imagesSet>"
	" <item>"
	"  <imageId>ami-1</imageId><imageState>pending</imageState><imageOwnerId>111122223333</imageOwnerId>"
	"  <creationDate>2025-03-04T08:40:00.000Z</creationDate><isPublic>true</isPublic>"
	"  <productCodes><item><productCode>abc</productCode><type>marketplace</type></item></productCodes>"
	"  <blockDeviceMapping><item><deviceName>/dev/xvda</deviceName>"
	"    <tagSet><item><key>not-mine</key><value>x</value></item></tagSet></item></blockDeviceMapping>"
	"  <tagSet><item><key>git-sha</key><value>a&amp;b<![CDATA[<c>]]></value></item>"
	"   <item><key>empty</key><value/></item><item><key>absent</key></item></tagSet>"
	" </item>"
	" <item>"
	"  <imageId>ami-2</imageId><imageState>available</imageState><imageOwnerId>444455556666</imageOwnerId>"
	"  <creationDate>2025-03-05T00:00:00Z</creationDate>"
	"  <stateReason><item><imageId>ami-nested</imageId></item></stateReason>"
	" </item>"
	"</imagesSet>"
	"<nextToken>eyJ2IjoiMiIsImMiOiJ0b2tlbiJ9</nextToken>"
	"</DescribeImagesResponse>";

static void test_images_paged_and_nested(void **state)
{
	struct awsxml_images out;
	struct amicd_error err;

	(void)state;
	assert_int_equal(awsxml_describe_images_parse(paged, strlen(paged), &out, &err), AMICD_OK);
	assert_int_equal(out.n, 2);
	assert_string_equal(out.next_token, "eyJ2IjoiMiIsImMiOiJ0b2tlbiJ9");
	assert_string_equal(out.request_id, "r-1");
	assert_string_equal(out.items[0].image_id, "ami-1");
	assert_string_equal(out.items[0].state, "pending");
	assert_true(out.items[0].is_public);
	assert_int_equal(out.items[0].creation_ms, INT64_C(1741077600000));
	assert_int_equal(out.items[0].n_tags, 3);
	assert_string_equal(out.items[0].tags[0].key, "git-sha");
	assert_string_equal(out.items[0].tags[0].value, "a&b<c>");
	assert_string_equal(out.items[0].tags[1].value, "");
	assert_string_equal(out.items[0].tags[2].key, "absent");
	assert_string_equal(out.items[0].tags[2].value, "");
	assert_string_equal(out.items[1].image_id, "ami-2");
	assert_false(out.items[1].is_public);
	assert_int_equal(out.items[1].n_tags, 0);
	assert_null(out.items[1].tags);
	awsxml_images_clear(&out);
}

static void test_images_last_page(void **state)
{
	static const char *const docs[] = {
		/* an empty imagesSet, an empty nextToken */
		"<DescribeImagesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
		"<requestId>r</requestId><imagesSet/><nextToken/></DescribeImagesResponse>",
		"<DescribeImagesResponse><imagesSet>\n  </imagesSet><nextToken></nextToken></DescribeImagesResponse>",
		/* no nextToken at all; a prefixed namespace */
		"<e:DescribeImagesResponse xmlns:e=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
		"<e:imagesSet></e:imagesSet></e:DescribeImagesResponse>",
	};

	(void)state;
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		struct awsxml_images out;
		struct amicd_error err;

		assert_int_equal(awsxml_describe_images_parse(docs[i], strlen(docs[i]), &out, &err), AMICD_OK);
		assert_int_equal(out.n, 0);
		assert_null(out.items);
		assert_null(out.next_token);
		awsxml_images_clear(&out);
	}
}

/* --- STS credentials --------------------------------------------------------------- */

static void check_credentials(const char *xml)
{
	struct awsxml_credentials out;
	struct amicd_error err;

	assert_int_equal(awsxml_credentials_parse(xml, strlen(xml), &out, &err), AMICD_OK);
	assert_string_equal(out.access_key_id, "ASIAEXAMPLEAMICD0001");
	assert_string_equal(out.secret_access_key, "EXAMPLEsecretKEYnotREAL/0000000000000000");
	assert_string_equal(out.session_token, "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKENnotREAL"
					       "0000000000000000000000000000000000000000000000000000");
	assert_string_equal(out.expiration, "2026-12-01T12:00:00Z");
	assert_int_equal(out.expiration_ms, INT64_C(1796126400000));
	awsxml_credentials_clear(&out);
	assert_true(all_zero(&out, sizeof out));
	awsxml_credentials_clear(&out);
	awsxml_credentials_clear(NULL);
}

static void test_credentials_assume_role(void **state)
{
	(void)state;
	check_credentials(fixture[F_ASSUME_ROLE]);
}

static void test_credentials_web_identity(void **state)
{
	char *a = replace(fixture[F_ASSUME_ROLE], "<AssumeRoleResponse ", "<AssumeRoleWithWebIdentityResponse ");
	char *b = replace(a, "</AssumeRoleResponse>", "</AssumeRoleWithWebIdentityResponse>");
	char *c = replace(b, "<AssumeRoleResult>", "<AssumeRoleWithWebIdentityResult>"
				"<SubjectFromWebIdentityToken>system:serviceaccount:amicd:amicd</SubjectFromWebIdentityToken>");
	char *d = replace(c, "</AssumeRoleResult>", "</AssumeRoleWithWebIdentityResult>");

	(void)state;
	check_credentials(d);
	free(a);
	free(b);
	free(c);
	free(d);
}

/* --- errors ------------------------------------------------------------------------- */

/* check_error — xml parses as an AWS error with these fields (NULL: absent). */
static void check_error(const char *xml, const char *code, const char *message, const char *type,
			const char *request_id)
{
	struct awsxml_aws_error out;
	struct amicd_error err;

	assert_int_equal(awsxml_error_parse(xml, strlen(xml), &out, &err), AMICD_OK);
	assert_string_equal(out.code, code);
	if (message != NULL)
		assert_string_equal(out.message, message);
	else
		assert_null(out.message);
	if (type != NULL)
		assert_string_equal(out.type, type);
	else
		assert_null(out.type);
	if (request_id != NULL)
		assert_string_equal(out.request_id, request_id);
	else
		assert_null(out.request_id);
	awsxml_aws_error_clear(&out);
	assert_true(all_zero(&out, sizeof out));
	awsxml_aws_error_clear(&out);
	awsxml_aws_error_clear(NULL);
}

static void test_error_ec2(void **state)
{
	(void)state;
	check_error(fixture[F_EC2_ERROR], "RequestLimitExceeded", "Request limit exceeded.", NULL,
		    "5a1f2c3d-0b4e-4f6a-9c8d-7e6f5a4b3c2d");
}

/* EC2 may list several errors: the first is the answer */
static void test_error_ec2_first_of_several(void **state)
{
	char *xml = replace(fixture[F_EC2_ERROR], "</Error></Errors>",
			    "</Error><Error><Code>InvalidAMIID.NotFound</Code><Message>second</Message></Error></Errors>");

	(void)state;
	check_error(xml, "RequestLimitExceeded", "Request limit exceeded.", NULL,
		    "5a1f2c3d-0b4e-4f6a-9c8d-7e6f5a4b3c2d");
	free(xml);
}

static void test_error_sts(void **state)
{
	(void)state;
	check_error(fixture[F_STS_ERROR], "AccessDenied",
		    "User: arn:aws:iam::111122223333:user/amicd is not authorized to perform: "
		    "sts:AssumeRole on resource: arn:aws:iam::444455556666:role/amicd-read",
		    "Sender", "9b2d3c4e-5f60-4718-8a9b-0c1d2e3f4a5b");
}

/* Only Code is required: a bare EC2 error has no message and no request id. */
static void test_error_bare(void **state)
{
	static const char bare[] = "<Response><Errors><Error><Code>Unavailable</Code></Error></Errors></Response>";

	(void)state;
	check_error(bare, "Unavailable", NULL, NULL, NULL);
}

/* --- refused documents --------------------------------------------------------------- */

enum doc { IMAGES, CREDENTIALS, ERROR };

struct bad_case {
	enum doc parser;
	const char *base;          /* a fixture's name, or NULL: find is the whole document */
	const char *find;          /* replaced in the fixture by repl */
	const char *repl;
	enum amicd_rc rc;
	const char *message;       /* a part of the message */
	const char *path;          /* a part of err.path */
};

#define BOMB "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>"
#define IMAGES_XML "ec2-describeimages-response.xml"
#define CREDS_XML "sts-assumerole-response.xml"

static const struct bad_case bad_cases[] = {
	/* not well-formed */
	{ IMAGES, NULL, "", NULL, AMICD_ERR_PARSE, "not well-formed XML: no element found", "1:1" },
	{ IMAGES, IMAGES_XML, "</imagesSet>", "", AMICD_ERR_PARSE, "not well-formed XML: mismatched tag", ":" },
	{ IMAGES, IMAGES_XML, "</DescribeImagesResponse>", "</DescribeImagesResponse><x/>", AMICD_ERR_PARSE,
	  "junk after document element", ":" },
	{ IMAGES, IMAGES_XML, "<value>worker</value>", "<value>&nbsp;</value>", AMICD_ERR_PARSE,
	  "undefined entity", ":" },
	{ IMAGES, IMAGES_XML, "<imageId>", "<x:imageId>", AMICD_ERR_PARSE, "unbound prefix", ":" },
	{ ERROR, NULL, "502 Bad Gateway\n", NULL, AMICD_ERR_PARSE, "not well-formed XML: syntax error", "1:1" },
	/* DOCTYPE and entities: refused before anything in them is read */
	{ IMAGES, IMAGES_XML, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
	  "<?xml version=\"1.0\"?>" BOMB "\n", AMICD_ERR_INVALID, "DOCTYPE is not allowed", "/" },
	{ CREDENTIALS, CREDS_XML, "<AssumeRoleResponse ",
	  "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><AssumeRoleResponse ", AMICD_ERR_INVALID,
	  "DOCTYPE is not allowed", "/" },
	{ ERROR, NULL, "<!DOCTYPE Response SYSTEM \"http://127.0.0.1:9/x.dtd\"><Response/>", NULL,
	  AMICD_ERR_INVALID, "DOCTYPE is not allowed", "/" },
	/* wrong root */
	{ IMAGES, "ec2-error-response.xml", "<Response>", "<Response>", AMICD_ERR_INVALID,
	  "root element is <Response>, expected <DescribeImagesResponse>", "/" },
	{ CREDENTIALS, "sts-error-response.xml", "<ErrorResponse ", "<ErrorResponse ", AMICD_ERR_INVALID,
	  "root element is <ErrorResponse>, expected <AssumeRoleResponse> or <AssumeRoleWithWebIdentityResponse>",
	  "/" },
	{ ERROR, NULL, "<html><body>502 Bad Gateway</body></html>", NULL, AMICD_ERR_INVALID,
	  "root element is <html>", "/" },
	{ ERROR, IMAGES_XML, "<imagesSet>", "<imagesSet>", AMICD_ERR_INVALID, "root element is <DescribeImagesResponse>",
	  "/" },
	/* the right root, the wrong shape */
	{ IMAGES, NULL, "<DescribeImagesResponse><requestId>r</requestId></DescribeImagesResponse>", NULL,
	  AMICD_ERR_INVALID, "no imagesSet", "/DescribeImagesResponse" },
	{ IMAGES, IMAGES_XML, "<imageId>ami-08fdc871471476ef5</imageId>", "", AMICD_ERR_INVALID,
	  "an image without imageId", "/DescribeImagesResponse/imagesSet/item" },
	{ IMAGES, IMAGES_XML, "<imageId>ami-08fdc871471476ef5</imageId>", "<imageId></imageId>", AMICD_ERR_INVALID,
	  "an image without imageId", "/DescribeImagesResponse/imagesSet/item" },
	{ IMAGES, IMAGES_XML, "<imageState>available</imageState>", "", AMICD_ERR_INVALID,
	  "image ami-08fdc871471476ef5 without imageState", "/imagesSet/item" },
	{ IMAGES, IMAGES_XML, "<imageOwnerId>111122223333</imageOwnerId>", "", AMICD_ERR_INVALID,
	  "without imageOwnerId", "/imagesSet/item" },
	{ IMAGES, IMAGES_XML, "<creationDate>2025-03-04T08:31:02.000Z</creationDate>", "", AMICD_ERR_INVALID,
	  "without creationDate", "/imagesSet/item" },
	{ IMAGES, IMAGES_XML, "2025-03-04T08:31:02.000Z", "2025-03-04 08:31", AMICD_ERR_INVALID,
	  "not an RFC 3339 time", "/imagesSet/item/creationDate" },
	{ IMAGES, IMAGES_XML, "<isPublic>false</isPublic>", "<isPublic>no</isPublic>", AMICD_ERR_INVALID,
	  "isPublic is neither true nor false", "/item/isPublic" },
	{ IMAGES, IMAGES_XML, "<imageState>available</imageState>",
	  "<imageState>available</imageState><imageId>ami-0</imageId>", AMICD_ERR_INVALID, "<imageId> repeated",
	  "/imagesSet/item/imageId" },
	{ IMAGES, IMAGES_XML, "<hypervisor>", "<tagSet/><hypervisor>", AMICD_ERR_INVALID, "<tagSet> repeated",
	  "/imagesSet/item/tagSet" },
	{ IMAGES, IMAGES_XML, "<imagesSet>", "<imagesSet/><imagesSet>", AMICD_ERR_INVALID, "<imagesSet> repeated",
	  "/DescribeImagesResponse/imagesSet" },
	{ IMAGES, IMAGES_XML, "<key>image-role</key>", "", AMICD_ERR_INVALID, "a tag without key",
	  "/tagSet/item" },
	{ IMAGES, IMAGES_XML, "<imageState>available</imageState>", "<imageState>avail<b/>able</imageState>",
	  AMICD_ERR_INVALID, "unexpected element <b> inside a text field", "/item/imageState" },
	{ CREDENTIALS, CREDS_XML, "<SessionToken>", "<SessionTokenX>", AMICD_ERR_PARSE, "mismatched tag", ":" },
	{ CREDENTIALS, CREDS_XML, "<Expiration>2026-12-01T12:00:00Z</Expiration>", "", AMICD_ERR_INVALID,
	  "no Expiration in the credentials", "/AssumeRoleResponse" },
	{ CREDENTIALS, CREDS_XML, "2026-12-01T12:00:00Z", "tomorrow", AMICD_ERR_INVALID, "not an RFC 3339 time",
	  "/Credentials/Expiration" },
	{ CREDENTIALS, CREDS_XML, "<AccessKeyId>ASIAEXAMPLEAMICD0001</AccessKeyId>", "<AccessKeyId/>",
	  AMICD_ERR_INVALID, "no AccessKeyId", "/AssumeRoleResponse" },
	{ CREDENTIALS, CREDS_XML, "<Credentials>", "<Other>", AMICD_ERR_PARSE, "mismatched tag", ":" },
	/* found by fuzz_awsxml: a second result with credentials of its own is refused, not merged */
	{ CREDENTIALS, CREDS_XML, "<ResponseMetadata>",
	  "<AssumeRoleResult><Credentials><AccessKeyId>X</AccessKeyId></Credentials></AssumeRoleResult><ResponseMetadata>",
	  AMICD_ERR_INVALID, "<AssumeRoleResult> repeated", "/AssumeRoleResponse/AssumeRoleResult" },
	{ ERROR, NULL, "<Response><Errors><Error><Message>m</Message></Error></Errors></Response>", NULL,
	  AMICD_ERR_INVALID, "an error answer without Code", "/Response" },
	{ ERROR, NULL, "<ErrorResponse><Error><Code>A</Code><Code>B</Code></Error></ErrorResponse>", NULL,
	  AMICD_ERR_INVALID, "<Code> repeated", "/ErrorResponse/Error/Code" },
};

/* parse_any — run the named parser, check that a failure leaves out zeroed, then clear it. */
static enum amicd_rc parse_any(enum doc parser, const char *xml, size_t len, struct amicd_error *err)
{
	enum amicd_rc rc;

	if (parser == IMAGES) {
		struct awsxml_images out;

		rc = awsxml_describe_images_parse(xml, len, &out, err);
		if (rc != AMICD_OK)
			assert_true(all_zero(&out, sizeof out));
		awsxml_images_clear(&out);
	} else if (parser == CREDENTIALS) {
		struct awsxml_credentials out;

		rc = awsxml_credentials_parse(xml, len, &out, err);
		if (rc != AMICD_OK)
			assert_true(all_zero(&out, sizeof out));
		awsxml_credentials_clear(&out);
	} else {
		struct awsxml_aws_error out;

		rc = awsxml_error_parse(xml, len, &out, err);
		if (rc != AMICD_OK)
			assert_true(all_zero(&out, sizeof out));
		awsxml_aws_error_clear(&out);
	}
	return rc;
}

static void check_refused(enum doc parser, const char *xml, size_t len, enum amicd_rc want, const char *message,
			  const char *path, const char *label)
{
	struct amicd_error err;
	enum amicd_rc rc = parse_any(parser, xml, len, &err);

	if (rc != want || strstr(err.message, message) == NULL || strstr(err.path, path) == NULL)
		fail_msg("%s: rc %d (want %d), message \"%s\" (want \"%s\"), path \"%s\" (want \"%s\")", label, rc,
			 want, err.message, message, err.path, path);
	/* without an err, the same answer */
	assert_int_equal(parse_any(parser, xml, len, NULL), want);
}

static void test_refused_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		const struct bad_case *c = &bad_cases[i];
		char *base = NULL, *xml = NULL, label[32];

		snprintf(label, sizeof label, "bad_cases[%zu]", i);
		if (c->base != NULL) {
			base = support_fixture(c->base, NULL);
			assert_non_null(base);
			xml = replace(base, c->find, c->repl);
		} else {
			xml = strdup(c->find);
			assert_non_null(xml);
		}
		check_refused(c->parser, xml, strlen(xml), c->rc, c->message, c->path, label);
		free(xml);
		free(base);
	}
}

/*
 * Every allocation of a parse fails in turn: each run answers AMICD_ERR_NOMEM
 * with its struct zeroed (parse_any checks) and nothing leaked (ASan), until
 * enough succeed for the parse to finish.
 */
static void test_out_of_memory(void **state)
{
	const struct {
		enum doc parser;
		const char *xml;
	} docs[] = {
		{ IMAGES, fixture[F_IMAGES] },
		{ IMAGES, paged },
		{ CREDENTIALS, fixture[F_ASSUME_ROLE] },
		{ ERROR, fixture[F_EC2_ERROR] },
		{ ERROR, fixture[F_STS_ERROR] },
	};

	(void)state;
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		long n;

		for (n = 0; n < 10000; n++) {
			struct amicd_error err;
			enum amicd_rc rc;

			alloc_budget = n;
			rc = parse_any(docs[i].parser, docs[i].xml, strlen(docs[i].xml), &err);
			alloc_budget = -1;
			if (rc == AMICD_OK)
				break;
			if (rc != AMICD_ERR_NOMEM || strcmp(err.message, "out of memory") != 0)
				fail_msg("docs[%zu], allocation %ld failing: rc %d, \"%s\"", i, n, rc, err.message);
		}
		assert_true(n > 0 && n < 10000);
	}
}

/* --- limits --------------------------------------------------------------------------- */

/* repeat_into — the fixture's document with its one find replaced by n copies of piece (find kept after them) */
static char *repeat_into(const char *text, const char *find, const char *piece, size_t n)
{
	size_t plen = strlen(piece), flen = strlen(find);
	char *pieces = malloc(n * plen + flen + 1), *out;

	assert_non_null(pieces);
	for (size_t i = 0; i < n; i++)
		memcpy(pieces + i * plen, piece, plen);
	memcpy(pieces + n * plen, find, flen + 1);
	out = replace(text, find, pieces);
	free(pieces);
	return out;
}

#define IMAGE_ITEM                                                                                     \
	"<item><imageId>ami-1</imageId><imageState>available</imageState><imageOwnerId>1</imageOwnerId>" \
	"<creationDate>2025-03-04T08:40:00.000Z</creationDate></item>"

static void test_limits_images_and_tags(void **state)
{
	struct awsxml_images out;
	struct amicd_error err;
	/* the fixture holds one image and two tags already */
	char *at_images = repeat_into(fixture[F_IMAGES], "</imagesSet>", IMAGE_ITEM, AWSXML_MAX_IMAGES - 1);
	char *over_images = repeat_into(fixture[F_IMAGES], "</imagesSet>", IMAGE_ITEM, AWSXML_MAX_IMAGES);
	char *at_tags = repeat_into(fixture[F_IMAGES], "</tagSet>", "<item><key>k</key><value>v</value></item>",
				    AWSXML_MAX_TAGS - 2);
	char *over_tags = repeat_into(fixture[F_IMAGES], "</tagSet>", "<item><key>k</key><value>v</value></item>",
				      AWSXML_MAX_TAGS - 1);

	(void)state;
	assert_int_equal(awsxml_describe_images_parse(at_images, strlen(at_images), &out, &err), AMICD_OK);
	assert_int_equal(out.n, AWSXML_MAX_IMAGES);
	awsxml_images_clear(&out);
	check_refused(IMAGES, over_images, strlen(over_images), AMICD_ERR_INVALID, "more than 1000 images",
		      "/DescribeImagesResponse/imagesSet/item", "over_images");

	assert_int_equal(awsxml_describe_images_parse(at_tags, strlen(at_tags), &out, &err), AMICD_OK);
	assert_int_equal(out.items[0].n_tags, AWSXML_MAX_TAGS);
	awsxml_images_clear(&out);
	check_refused(IMAGES, over_tags, strlen(over_tags), AMICD_ERR_INVALID,
		      "more than 128 tags on image ami-08fdc871471476ef5", "/tagSet/item", "over_tags");
	free(at_images);
	free(over_images);
	free(at_tags);
	free(over_tags);
}

static void test_limits_field_depth_document(void **state)
{
	char *big = malloc(AWSXML_MAX_FIELD_BYTES + 8), *xml, *doc;
	char deep[AWSXML_MAX_DEPTH * 7 + 64] = "", name[AWSXML_MAX_DEPTH * 4 + 64];
	size_t at = 0, doc_len = (size_t)AWSXML_MAX_DOC_BYTES + 1;
	struct awsxml_credentials creds;
	struct amicd_error err;

	(void)state;
	/* a field at its limit passes, one byte more does not (a secret, through entities too) */
	assert_non_null(big);
	memset(big, 'A', AWSXML_MAX_FIELD_BYTES);
	big[AWSXML_MAX_FIELD_BYTES] = '\0';
	xml = replace(fixture[F_ASSUME_ROLE], "EXAMPLEsecretKEYnotREAL/0000000000000000", big);
	assert_int_equal(awsxml_credentials_parse(xml, strlen(xml), &creds, &err), AMICD_OK);
	assert_int_equal(strlen(creds.secret_access_key), AWSXML_MAX_FIELD_BYTES);
	awsxml_credentials_clear(&creds);
	free(xml);
	strcat(big, "&amp;"); /* one byte more once decoded */
	xml = replace(fixture[F_ASSUME_ROLE], "EXAMPLEsecretKEYnotREAL/0000000000000000", big);
	check_refused(CREDENTIALS, xml, strlen(xml), AMICD_ERR_INVALID, "text over 8192 bytes",
		      "/AssumeRoleResponse/AssumeRoleResult/Credentials/SecretAccessKey", "big field");
	free(xml);
	free(big);

	/* AWSXML_MAX_DEPTH elements pass, one more does not */
	at = (size_t)snprintf(deep, sizeof deep, "<ErrorResponse><Error><Code>c</Code></Error>");
	for (int d = 1; d < AWSXML_MAX_DEPTH; d++)
		at += (size_t)snprintf(deep + at, sizeof deep - at, "<x>");
	snprintf(name, sizeof name, "%s", deep);
	for (int d = 1; d < AWSXML_MAX_DEPTH; d++)
		at += (size_t)snprintf(deep + at, sizeof deep - at, "</x>");
	snprintf(deep + at, sizeof deep - at, "</ErrorResponse>");
	{
		struct awsxml_aws_error e;

		assert_int_equal(awsxml_error_parse(deep, strlen(deep), &e, &err), AMICD_OK);
		awsxml_aws_error_clear(&e);
	}
	strcat(name, "<y/>");
	check_refused(ERROR, name, strlen(name), AMICD_ERR_INVALID, "elements nested over 32 deep", "/x/x",
		      "too deep");

	/* the document's size is checked before a byte of it is read */
	doc = malloc(doc_len);
	assert_non_null(doc);
	memset(doc, ' ', doc_len);
	memcpy(doc, "<Response/>", 11);
	check_refused(ERROR, doc, doc_len, AMICD_ERR_INVALID, "document of 8388609 bytes is over 8388608", "",
		      "big document");
	assert_int_equal(awsxml_error_parse(NULL, 0, &(struct awsxml_aws_error){ 0 }, &err), AMICD_ERR_INVALID);
	free(doc);
}

static void test_limits_path(void **state)
{
	char name[1200], xml[2600];

	(void)state;
	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	snprintf(xml, sizeof xml, "<Response><%s/></Response>", name);
	check_refused(ERROR, xml, strlen(xml), AMICD_ERR_INVALID, "element path over 1023 bytes", "/Response",
		      "long name");
}

/* Which AWS error codes mean "try again": the reconciler backs off on these and reports the others. */
static void test_code_transient(void **state)
{
	static const char *const transient[] = { "RequestLimitExceeded", "Throttling", "ThrottlingException",
						  "ServiceUnavailable", "Unavailable", "InternalError",
						  "InternalFailure", "IDPCommunicationError" };
	static const char *const act[] = { "AuthFailure", "UnauthorizedOperation", "SignatureDoesNotMatch",
					   "AccessDenied", "InvalidClientTokenId", "ExpiredToken",
					   "InvalidIdentityToken", "InvalidAMIID.NotFound", "", "requestlimitexceeded" };

	(void)state;
	for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++)
		assert_true(awsxml_code_transient(transient[i]));
	for (size_t i = 0; i < sizeof act / sizeof act[0]; i++)
		assert_false(awsxml_code_transient(act[i]));
	assert_false(awsxml_code_transient(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_images_fixture),
		cmocka_unit_test(test_images_paged_and_nested),
		cmocka_unit_test(test_images_last_page),
		cmocka_unit_test(test_credentials_assume_role),
		cmocka_unit_test(test_credentials_web_identity),
		cmocka_unit_test(test_error_ec2),
		cmocka_unit_test(test_error_ec2_first_of_several),
		cmocka_unit_test(test_error_sts),
		cmocka_unit_test(test_error_bare),
		cmocka_unit_test(test_refused_table),
		cmocka_unit_test(test_out_of_memory),
		cmocka_unit_test(test_limits_images_and_tags),
		cmocka_unit_test(test_limits_field_depth_document),
		cmocka_unit_test(test_limits_path),
		cmocka_unit_test(test_code_transient),
	};

	return cmocka_run_group_tests_name("awsxml", tests, group_setup, group_teardown);
}
