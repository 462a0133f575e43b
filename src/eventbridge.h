/*
 * eventbridge.h — what an EventBridge delivery (through an API destination)
 * says: its envelope and which of the AMI events of design §4 it is.
 *
 * Pure: no I/O, no HTTP.
 *
 * Ownership: the body is borrowed and the strings of struct eb_event point into
 * it or into the struct itself (an account id sent as a number): they are valid
 * while both are.
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

#define EB_ACCOUNT_ID_SIZE 24  /* an account id as text: 12 digits and the NUL, with room */

struct eb_event {
	const char *id;           /* envelope id: the dedup key */
	const char *detail_type;
	const char *source;
	const char *account;      /* 12 digits: the envelope's string, or account_buf */
	char account_buf[EB_ACCOUNT_ID_SIZE];
	const char *region;
	const char *time;
	enum eb_kind kind;
	const char *kind_name;    /* "ami_state", "ami_launch_permission", "ami_tags", "ami_shared", "other" */
	bool ignored;             /* recognised but not acted on (see note) */
	char note[160];           /* why ignored, or "" */
};

/*
 * eventbridge_account_id — an AWS account id field as text. AWS sends them as
 * strings, but senders of custom events (and JSON tools on the way) may write
 * a number: 444455556666, or 12345678901 for the account "012345678901". A
 * string is returned as it is; an integer from 0 to 999999999999 is written
 * into buf as 12 digits, leading zeros kept, and buf is returned. NULL for
 * anything else (absent, null, negative, too large, a fraction, other types).
 */
const char *eventbridge_account_id(const json_t *value, char buf[EB_ACCOUNT_ID_SIZE]);

/*
 * eventbridge_parse — check the envelope (id, detail-type, source, account,
 * time, region, detail) and the fields the kind needs; account ids may be
 * strings or numbers (eventbridge_account_id). Fails with AMICD_ERR_INVALID and
 * the JSON path at fault.
 */
enum amicd_rc eventbridge_parse(const json_t *body, struct eb_event *out, struct amicd_error *err);

#endif
