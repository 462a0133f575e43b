/*
 * api.h — the read side of the REST API and the probes: GET /api/v1/events,
 * GET /api/v1/events/{id}, the ASG status, promotions, commits and AMIs,
 * GET /healthz, GET /readyz.
 *
 * Read endpoints are open unless auth.read is configured; then they take
 * "Authorization: Bearer <read token>" (the admin token works too). cls is the
 * struct app.
 */
#ifndef AMICD_API_H
#define AMICD_API_H

#include "http.h"


enum amicd_rc api_read_precheck(struct http_request *req, void *cls, struct amicd_error *err);
void api_events_list(struct http_request *req, void *cls);
void api_event_get(struct http_request *req, void *cls);
/* GET /api/v1/asgs, /api/v1/asgs/{identifier}, /api/v1/asgs/{identifier}/promotions */
void api_asgs_list(struct http_request *req, void *cls);
void api_asg_get(struct http_request *req, void *cls);
/* GET /api/v1/commits?repo=&ref=, GET /api/v1/amis?commit=&account= */
void api_commits(struct http_request *req, void *cls);
void api_amis(struct http_request *req, void *cls);
/* GET /metrics */
void api_metrics(struct http_request *req, void *cls);

void api_healthz(struct http_request *req, void *cls);
void api_readyz(struct http_request *req, void *cls);

#endif
