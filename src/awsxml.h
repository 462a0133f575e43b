/*
 * awsxml.h — what AWS's XML answers say: EC2 DescribeImages (API 2016-11-15),
 * STS AssumeRole and AssumeRoleWithWebIdentity (API 2011-06-15), and the error
 * shapes of both (EC2's <Response><Errors><Error>, STS's <ErrorResponse>).
 * Groundwork for the reconciler (design §9), which asks EC2 and STS.
 *
 * Pure: no I/O, no HTTP, no clock. Parsing is expat's (a real XML parser);
 * elements are matched by their local name, whatever their namespace. A
 * DOCTYPE (and so any entity declaration) is refused: AWS never sends one, and
 * refusing it rules out entity expansion and external entities.
 *
 * Limits (input past one fails with AMICD_ERR_INVALID, the element path in
 * err->path, "" for the document's size): a document of at most
 * AWSXML_MAX_DOC_BYTES, elements nested at most AWSXML_MAX_DEPTH deep, an
 * element path ("/a/b/c") of at most 1023 bytes, a text field of at most
 * AWSXML_MAX_FIELD_BYTES (after entities are decoded),
 * at most AWSXML_MAX_IMAGES images in one answer (DescribeImages' MaxResults
 * is at most 1000) and AWSXML_MAX_TAGS tags per image (AWS allows 50 of the
 * user's own, plus aws: tags). Input that is not well-formed XML fails with
 * AMICD_ERR_PARSE and "line:column" in err->path; a well-formed document of
 * the wrong shape (another root element, a missing or repeated field, a bad
 * boolean or date) with AMICD_ERR_INVALID; allocation failure with
 * AMICD_ERR_NOMEM. Messages quote element names and an image's imageId, never
 * a field's text otherwise, so credentials never reach err.
 *
 * Ownership: the input is borrowed. Strings in the result structs are owned by
 * them and released by their _clear function, which accepts a zeroed or
 * already cleared struct. On failure a result struct is left cleared.
 * awsxml_credentials_clear overwrites the secret strings (explicit_bzero)
 * before freeing them; the parser's own buffers, and expat's, are overwritten
 * before they are freed too. The input buffer stays the caller's to wipe.
 */
#ifndef AMICD_AWSXML_H
#define AMICD_AWSXML_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AWSXML_MAX_DOC_BYTES (8u * 1024 * 1024)
#define AWSXML_MAX_DEPTH 32
#define AWSXML_MAX_FIELD_BYTES 8192
#define AWSXML_MAX_IMAGES 1000
#define AWSXML_MAX_TAGS 128

struct awsxml_tag {
	char *key;                 /* non-empty */
	char *value;               /* may be "" */
};

struct awsxml_image {
	char *image_id;            /* "ami-…", non-empty */
	char *state;               /* imageState: "available", "pending", … non-empty */
	char *creation_date;       /* as sent: "2025-03-04T08:31:02.000Z" */
	int64_t creation_ms;       /* the same in ms since the epoch */
	char *owner_id;            /* imageOwnerId, non-empty */
	bool is_public;            /* isPublic; false when absent */
	struct awsxml_tag *tags;   /* this image's own tagSet, in document order */
	size_t n_tags;
};

struct awsxml_images {
	struct awsxml_image *items; /* imagesSet, in document order (NULL when n is 0) */
	size_t n;
	char *next_token;          /* NULL: this is the last page (absent or empty nextToken) */
	char *request_id;          /* NULL when absent */
};

struct awsxml_credentials {
	char *access_key_id;
	char *secret_access_key;   /* secret: wiped by awsxml_credentials_clear */
	char *session_token;       /* secret: wiped by awsxml_credentials_clear */
	char *expiration;          /* as sent: "2026-12-01T12:00:00Z" */
	int64_t expiration_ms;     /* the same in ms since the epoch */
};

struct awsxml_aws_error {
	char *code;                /* "RequestLimitExceeded", "AccessDenied", … non-empty */
	char *message;             /* NULL when absent */
	char *type;                /* STS's "Sender"/"Receiver"; NULL for EC2 */
	char *request_id;          /* EC2's RequestID or STS's RequestId; NULL when absent */
};

/*
 * awsxml_describe_images_parse — the images of one DescribeImagesResponse page
 * (xml of len bytes, need not be NUL-terminated). Only imagesSet/item children
 * of the root are images, and only an image's own tagSet/item are its tags (the
 * item elements of blockDeviceMapping, productCodes, … are not). An empty
 * imagesSet is zero images. Each image needs imageId, imageState, imageOwnerId
 * and a valid creationDate; isPublic, when present, is "true" or "false".
 * Returns AMICD_OK, AMICD_ERR_PARSE, AMICD_ERR_INVALID or AMICD_ERR_NOMEM.
 */
enum amicd_rc awsxml_describe_images_parse(const char *xml, size_t len, struct awsxml_images *out,
					   struct amicd_error *err);

/* awsxml_images_clear — release what out owns and zero it (out may be NULL). */
void awsxml_images_clear(struct awsxml_images *out);

/*
 * awsxml_credentials_parse — the Credentials of an AssumeRoleResponse or an
 * AssumeRoleWithWebIdentityResponse: all four fields are required, Expiration
 * an RFC 3339 time. Returns as awsxml_describe_images_parse does.
 */
enum amicd_rc awsxml_credentials_parse(const char *xml, size_t len, struct awsxml_credentials *out,
				       struct amicd_error *err);

/* awsxml_credentials_clear — overwrite the secrets, release what out owns and zero it (out may be NULL). */
void awsxml_credentials_clear(struct awsxml_credentials *out);

/*
 * awsxml_error_parse — the error in an EC2 error answer (<Response>; the first
 * <Error> of <Errors>) or an STS one (<ErrorResponse>). Code is required.
 * Returns as awsxml_describe_images_parse does; a body of another shape (an
 * HTML page from a proxy, say) is AMICD_ERR_PARSE or AMICD_ERR_INVALID.
 */
enum amicd_rc awsxml_error_parse(const char *xml, size_t len, struct awsxml_aws_error *out,
				 struct amicd_error *err);

/*
 * awsxml_code_transient — true for an AWS error code that means "try again
 * later" (throttling, the service's own trouble, an identity provider STS
 * could not reach), false for one someone must act on (credentials,
 * permissions, a bad request).
 */
bool awsxml_code_transient(const char *code);

/* awsxml_aws_error_clear — release what out owns and zero it (out may be NULL). */
void awsxml_aws_error_clear(struct awsxml_aws_error *out);

#endif
