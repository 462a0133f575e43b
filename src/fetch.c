/*
 * fetch.c — the shared parts of amicd's requests to its sources (see fetch.h).
 */
#include "fetch.h"

#include "version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void wipe_free(char *p, size_t len, bool secret)
{
	if (p != NULL && secret)
		explicit_bzero(p, len);
	free(p);
}

static size_t on_body(char *p, size_t size, size_t n, void *cls)
{
	struct fetch_body *b = cls;
	size_t len = size * n;

	if (b->len + len > b->max) {
		b->too_large = true;
		return 0; /* aborts the transfer */
	}
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap > 0 ? b->cap : 4096;
		char *grown;

		while (cap < b->len + len + 1)
			cap *= 2;
		/* by copying, not realloc: the old block is wiped when it may hold a secret */
		grown = malloc(cap);
		if (grown == NULL)
			return 0;
		if (b->data != NULL)
			memcpy(grown, b->data, b->len);
		wipe_free(b->data, b->cap, b->secret);
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return len;
}

static int on_progress(void *cls, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct fetch_body *b = cls;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return b->cancel != NULL && b->cancel(b->cancel_cls) ? 1 : 0;
}

void fetch_setup(CURL *curl, const char *url, long timeout_ms, struct fetch_body *body)
{
	char agent[64];

	snprintf(agent, sizeof agent, "amicd/%s", version_number());
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, agent); /* copied by libcurl */
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 10000L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, body);
}

void fetch_body_free(struct fetch_body *body)
{
	wipe_free(body->data, body->cap, body->secret);
	body->data = NULL;
	body->len = body->cap = 0;
	body->too_large = false;
}
