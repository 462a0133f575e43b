/*
 * render.h — the REST API's JSON: what the store and the status function
 * return (plain structs), turned into the documented shapes (docs/api.md).
 * The read endpoints (api.c) and the admin endpoints (admin.c) both render
 * through here, so an object has one shape wherever it appears.
 *
 * Ownership: every function returns a new reference (NULL only when out of
 * memory); its arguments are borrowed.
 */
#ifndef AMICD_RENDER_H
#define AMICD_RENDER_H

#include "apply.h"
#include "status.h"
#include "store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* ["image", "available", …] for a decide_missing bit set. */
json_t *render_missing(unsigned missing);

/* One ASG: identifier, account, region, policy, repo, pin, head, state, waiting_for, reason, frozen…. */
json_t *render_asg_status(const struct asg_status *s);

/* {"events":[…], "next": id or null}; and one event with "headers" and "payload". */
json_t *render_event_page(const struct store_event_page *page);
json_t *render_event(const struct store_event_row *row);

/* [{id, commit, image_id, previous, cause_event_id, reason, actor, promoted_at, trigger}] */
json_t *render_promotions(const struct store_promotion_list *list);

/* {commit, before, event_id, received_at, repo, ref, branch_deleted} */
json_t *render_push(const struct store_push_row *p);

/* {region, image_id, state, owner, first_seen_at, first_event_id, shared_with, tags_by_account} */
json_t *render_ami(const struct store_ami_row *a);

/* [{asg, action, commit, image_id, state, reason}] for n decisions. */
json_t *render_decisions(const struct apply_decision *d, size_t n);

#endif
