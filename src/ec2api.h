/*
 * ec2api.h — asking EC2 which images an account can launch: DescribeImages
 * (Query API, Version 2016-11-15) with the account's credentials, every
 * parameter in a POST form body (curl 7.88, in Debian 12, signs an unsorted
 * query string wrongly), signed by libcurl (CURLOPT_AWS_SIGV4,
 * "aws:amz:<region>:ec2"), a session token as x-amz-security-token, all pages
 * followed through NextToken. Two questions (design §9): the images tagged
 * <tag_name> = one of some commits, as the account sees them; and one image by
 * id (the pinned AMI).
 *
 * The answer is one of three outcomes the reconciler acts on: the images (an
 * unknown image id, InvalidAMIID.NotFound, is an answer: zero images); try
 * again later (RequestLimitExceeded, another throttling or service-side code,
 * a 5xx, no answer in time); or the source fails until someone acts
 * (AuthFailure, UnauthorizedOperation, SignatureDoesNotMatch, any other
 * error: its code is in the message).
 *
 * Blocking, bounded by the caller's timeout per page and by EC2API_MAX_PAGES;
 * never on a request path. The secret key and the session token go only to
 * libcurl and the request's header, which is wiped after use.
 *
 * Ownership: the request's strings are borrowed; the answer's images are the
 * caller's (ec2_images_answer_free).
 */
#ifndef AMICD_EC2API_H
#define AMICD_EC2API_H

#include "awscreds.h"   /* struct aws_credentials */
#include "awsxml.h"
#include "error.h"

#include <stdbool.h>
#include <stddef.h>

#define EC2API_MAX_PAGES 20
#define EC2API_MAX_COMMITS 50     /* Filter.1.Value.N of one question (design §9: the newest 50) */

struct ec2_images_request {
	const char *endpoint;           /* "https://ec2.<region>.amazonaws.com", or a test's */
	const char *region;
	const struct aws_credentials *cred;
	/* the images tagged tag_name = one of commits (1 … EC2API_MAX_COMMITS) … */
	const char *tag_name;
	const char *const *commits;
	size_t n_commits;
	/* … or one image by id (then tag_name and commits are unused) */
	const char *image_id;
	long timeout_ms;                /* each page; 0: 10 s */
	bool (*cancel)(void *cls);      /* optional: true aborts (a stopping server) */
	void *cancel_cls;
};

enum ec2_outcome {
	EC2_IMAGES,                     /* images holds every page's images */
	EC2_RETRY,                      /* transient: throttled, 5xx, no answer */
	EC2_FAILING,                    /* credentials or permissions, or a bad answer: someone must act */
};

struct ec2_images_answer {
	enum ec2_outcome outcome;
	struct awsxml_images images;    /* EC2_IMAGES: all pages; next_token NULL */
	long http_status;               /* of the last page asked; 0 when no answer came */
	char code[64];                  /* AWS's error code ("RequestLimitExceeded", …), "" when none */
	char error[320];                /* EC2_RETRY / EC2_FAILING: what happened, never a secret */
	unsigned pages;                 /* requests made */
};

/*
 * ec2_describe_images — ask, following every page. AMICD_OK whatever EC2
 * answered (the outcome says what); AMICD_ERR_INVALID for a request that
 * cannot be asked (no credentials, no commits, too many), AMICD_ERR_NOMEM.
 */
enum amicd_rc ec2_describe_images(const struct ec2_images_request *rq, struct ec2_images_answer *out,
				  struct amicd_error *err);

void ec2_images_answer_free(struct ec2_images_answer *answer);

#endif
