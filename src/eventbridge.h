/*
 * eventbridge.h — what an EventBridge delivery (through an API destination)
 * says: its envelope and which of the AMI events of design §4 it is.
 *
 * Pure: no I/O, no HTTP.
 *
 * Ownership: the body is borrowed and the strings of struct eb_event point into
 * it: they are valid while the body is.
 */
#ifndef AMICD_EVENTBRIDGE_H
#define AMICD_EVENTBRIDGE_H

#include "error.h"

#include <jansson.h>
#include <stdbool.h>

enum eb_kind {
	EB_AMI_STATE,             /* EC2 AMI State Change */
	EB_AMI_LAUNCH_PERMISSION, /* CloudTrail ModifyImageAttribute (launchPermission) */
	EB_AMI_TAGS,              /* CloudTrail CreateTags / DeleteTags on ami-* */
	EB_AMI_SHARED,            /* AMI Shared, from the sharing integration */
	EB_OTHER                  /* stored, not acted on */
};

struct eb_event {
	const char *id;           /* envelope id: the dedup key */
	const char *detail_type;
	const char *source;
	const char *account;
	const char *region;
	const char *time;
	enum eb_kind kind;
	const char *kind_name;    /* "ami_state", "ami_launch_permission", "ami_tags", "ami_shared", "other" */
	bool ignored;             /* recognised but not acted on (see note) */
	char note[160];           /* why ignored, or "" */
};

/*
 * eventbridge_parse — check the envelope (id, detail-type, source, account,
 * time, region, detail) and the fields the kind needs. Fails with
 * AMICD_ERR_INVALID and the JSON path at fault.
 */
enum amicd_rc eventbridge_parse(const json_t *body, struct eb_event *out, struct amicd_error *err);

#endif
