/*
 * fetch.h — what amicd's requests to its sources of truth (GitLab's API, EC2,
 * STS) share, so each of gitlabapi.c, ec2api.c and awscreds.c says only what
 * is its own: the answer's body in a buffer bounded by a maximum (one that may
 * hold a secret is grown by copying and wiped before it is freed), a transfer
 * that a stopping server can cancel, and the same libcurl options for every
 * request (http/https only, no redirect — it would carry a credential
 * elsewhere —, a timeout, no signals, amicd's User-Agent).
 *
 * Ownership: struct fetch_body owns data (fetch_body_free); the cancel
 * callback's cls is borrowed.
 */
#ifndef AMICD_FETCH_H
#define AMICD_FETCH_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

struct fetch_body {
	char *data;                   /* NUL-terminated; NULL until a byte came */
	size_t len, cap;
	size_t max;                   /* a longer answer is cut off: too_large */
	bool secret;                  /* may hold a secret: never left behind in freed memory */
	bool too_large;
	bool (*cancel)(void *cls);    /* optional: polled during the transfer; true aborts it */
	void *cancel_cls;
};

/*
 * fetch_setup — set curl for a request to url answered into body, bounded by
 * timeout_ms (0: 10 s). The caller adds what is its own (headers, a form,
 * SigV4) and performs it; curl must not outlive body.
 */
void fetch_setup(CURL *curl, const char *url, long timeout_ms, struct fetch_body *body);

/* fetch_body_free — release (wiped first when secret) and empty body; its limits and cancel stay. */
void fetch_body_free(struct fetch_body *body);

#endif
