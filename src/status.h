/*
 * status.h — the status of one ASG, computed in one place: what
 * GET /api/v1/asgs/{id}, every admin answer and /metrics show, and what the
 * worker reports when a pinned AMI goes away. Its pin, its head, the state and
 * reason the decision engine gives now, what it waits for, whether its pinned
 * AMI can still be launched, and whether its pin file could be written.
 *
 * A plain value: everything is copied out of the store, so a struct
 * asg_status outlives the read that made it. Rendering it is the API's
 * (render.h).
 */
#ifndef AMICD_STATUS_H
#define AMICD_STATUS_H

#include "config.h"
#include "decide.h"
#include "error.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>

struct asg_status {
	const struct config_asg *asg;         /* borrowed from the config */
	enum decide_state state;              /* a promotion the worker has not made yet shows as waiting */
	char reason[800];
	bool frozen;
	char frozen_reason[256];              /* "" unless frozen */
	char frozen_at[32];
	bool has_pin;
	struct {
		char commit[72];
		char image_id[64];
		char promoted_at[32];
		int64_t promotion_id;
		char ami_state[24];           /* "" when the AMI is unknown to amicd */
		bool available;
		const char *unavailable_reason; /* static, NULL when available */
	} pin;
	bool has_head;
	struct {
		char commit[72];
		int64_t event_id;
		char received_at[32];
	} head;
	bool waiting;                         /* waiting_commit/missing say for what */
	char waiting_commit[72];
	unsigned missing;                     /* decide_missing bits; 0 with waiting: a promotion is due */
	bool pin_file_failing;                /* the pin file cannot be written: its trigger waits */
	char pin_file_error[256];
};

/*
 * asg_status_get — the status of asg read from st now. pin_file_error is why
 * the worker cannot write the ASG's pin file (NULL: it can).
 */
enum amicd_rc asg_status_get(struct store *st, const struct config_asg *asg, const char *pin_file_error,
			     struct asg_status *out, struct amicd_error *err);

#endif
