/*
 * hooks.h — POST /hooks/gitlab and POST /hooks/eventbridge.
 *
 * Each checks the sender's credentials on the headers (precheck: 401 before
 * the body is read), parses and classifies the body (400 with the JSON path at
 * fault; the raw body is kept in rejected_deliveries), and hands the delivery
 * to the group-commit writer. The answer — 202 queued, 200 duplicate, 200
 * ignored, or 503 with Retry-After when nothing could be stored — is sent only
 * after the commit. Handlers never wait on processing, AWS or the trigger.
 *
 * cls is the struct app.
 */
#ifndef AMICD_HOOKS_H
#define AMICD_HOOKS_H

#include "http.h"

enum amicd_rc hooks_gitlab_precheck(struct http_request *req, void *cls, struct amicd_error *err);
void hooks_gitlab(struct http_request *req, void *cls);

enum amicd_rc hooks_eventbridge_precheck(struct http_request *req, void *cls, struct amicd_error *err);
void hooks_eventbridge(struct http_request *req, void *cls);

#endif
