/*
 * admin.h — POST /api/v1/admin/…: replay stored events, freeze and unfreeze an
 * ASG, pin an ASG to a ready commit by hand, block and unblock a commit for an ASG.
 *
 * Always behind the admin Bearer token (constant-time compare; 401 without it).
 * Every action is logged with actor "admin" and shows in the ASG's status and
 * promotions. Admin writes go through their own store connection, one request
 * at a time (app->admin_lock), each in one transaction.
 *
 * cls is the struct app.
 */
#ifndef AMICD_ADMIN_H
#define AMICD_ADMIN_H

#include "http.h"

enum amicd_rc admin_precheck(struct http_request *req, void *cls, struct amicd_error *err);
void admin_replay(struct http_request *req, void *cls);

/*
 * admin_reconcile — POST /api/v1/admin/reconcile {} or {"asg": id}: ask the
 * sources of truth now (design §9), wait for the answers and for the worker
 * to process what they changed, and answer what changed with the ASGs as they
 * are after it.
 */
void admin_reconcile(struct http_request *req, void *cls);
/*
 * POST /api/v1/admin/asgs/{identifier}/freeze | unfreeze | pin | block | unblock:
 * each runs the decision it causes in its own transaction and answers with the
 * ASG after it (and the promotion it started, if any). pin, block and unblock
 * name the commit by a full id or a unique prefix of 7+ hex digits.
 */
void admin_asg_action(struct http_request *req, void *cls);

#endif
