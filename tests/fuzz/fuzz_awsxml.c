/*
 * fuzz_awsxml.c — one XML document, as EC2 or STS might answer, through every
 * parser of awsxml.h (DescribeImages, STS credentials, AWS errors). Properties:
 * a parsed answer has every required field non-empty and within the limits
 * (images, tags, field bytes); a refused one leaves its struct zeroed, says why,
 * and fails only with AMICD_ERR_PARSE or AMICD_ERR_INVALID (or NOMEM).
 */
#include "fuzz.h"

#include "awsxml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* all_zero — a result struct as a failure or a _clear leaves it (no struct here is larger) */
static bool all_zero(const void *p, size_t n)
{
	static const unsigned char zero[256];

	return n <= sizeof zero && memcmp(p, zero, n) == 0;
}

/* a required field: present, non-empty, within the limit */
static bool field_ok(const char *s)
{
	return s != NULL && s[0] != '\0' && strlen(s) <= AWSXML_MAX_FIELD_BYTES;
}

static void check_refusal(enum amicd_rc rc, const struct amicd_error *err, const void *out, size_t size)
{
	fuzz_check(rc == AMICD_ERR_PARSE || rc == AMICD_ERR_INVALID || rc == AMICD_ERR_NOMEM);
	fuzz_check(err->message[0] != '\0');
	fuzz_check(all_zero(out, size));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data;
	struct awsxml_images images;
	struct awsxml_credentials creds;
	struct awsxml_aws_error aws_err;
	struct amicd_error err;
	enum amicd_rc rc;

	rc = awsxml_describe_images_parse(xml, size, &images, &err);
	if (rc == AMICD_OK) {
		fuzz_check(images.n <= AWSXML_MAX_IMAGES && (images.n == 0) == (images.items == NULL));
		fuzz_check(images.next_token == NULL || field_ok(images.next_token));
		for (size_t i = 0; i < images.n; i++) {
			const struct awsxml_image *img = &images.items[i];

			fuzz_check(field_ok(img->image_id) && field_ok(img->state) && field_ok(img->owner_id));
			fuzz_check(field_ok(img->creation_date));
			fuzz_check(img->n_tags <= AWSXML_MAX_TAGS);
			for (size_t t = 0; t < img->n_tags; t++)
				fuzz_check(field_ok(img->tags[t].key) && img->tags[t].value != NULL &&
					   strlen(img->tags[t].value) <= AWSXML_MAX_FIELD_BYTES);
		}
	} else {
		check_refusal(rc, &err, &images, sizeof images);
	}
	awsxml_images_clear(&images);

	rc = awsxml_credentials_parse(xml, size, &creds, &err);
	if (rc == AMICD_OK)
		fuzz_check(field_ok(creds.access_key_id) && field_ok(creds.secret_access_key) &&
			   field_ok(creds.session_token) && field_ok(creds.expiration));
	else
		check_refusal(rc, &err, &creds, sizeof creds);
	awsxml_credentials_clear(&creds);
	fuzz_check(all_zero(&creds, sizeof creds));

	rc = awsxml_error_parse(xml, size, &aws_err, &err);
	if (rc == AMICD_OK)
		fuzz_check(field_ok(aws_err.code));
	else
		check_refusal(rc, &err, &aws_err, sizeof aws_err);
	awsxml_aws_error_clear(&aws_err);
	return 0;
}
