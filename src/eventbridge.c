/*
 * eventbridge.c — EventBridge envelope parsing and classification (see
 * eventbridge.h). Pure: no I/O.
 */
#include "eventbridge.h"

#include "utf8.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *want_str(const json_t *obj, const char *key, const char *path_prefix,
			    enum amicd_rc *rc, struct amicd_error *err)
{
	const char *v = json_string_value(json_object_get(obj, key));
	char path[96];

	if (v == NULL && *rc == AMICD_OK) {
		snprintf(path, sizeof path, "%s.%s", path_prefix, key);
		*rc = amicd_error_set(err, AMICD_ERR_INVALID, path, "missing string field %s", path + 2);
	}
	return v;
}

const char *eventbridge_account_id(const json_t *value, char buf[EB_ACCOUNT_ID_SIZE])
{
	json_int_t n;

	if (json_is_string(value))
		return json_string_value(value);
	if (!json_is_integer(value))
		return NULL;
	n = json_integer_value(value);
	if (n < 0 || n > 999999999999LL)
		return NULL;
	snprintf(buf, EB_ACCOUNT_ID_SIZE, "%012lld", (long long)n);
	return buf;
}

/* An account id field (string or number); sets the error once, as want_str does. */
static void want_account(const json_t *obj, const char *key, const char *path_prefix, enum amicd_rc *rc,
			 struct amicd_error *err)
{
	char buf[EB_ACCOUNT_ID_SIZE];
	char path[96];

	if (eventbridge_account_id(json_object_get(obj, key), buf) != NULL || *rc != AMICD_OK)
		return;
	snprintf(path, sizeof path, "%s.%s", path_prefix, key);
	*rc = amicd_error_set(err, AMICD_ERR_INVALID, path, "%s must be an AWS account id (a string or a number)",
			      path + 2);
}

static bool has_ami(const json_t *items)
{
	size_t i;
	const json_t *it;

	json_array_foreach(items, i, it) {
		const char *id = json_string_value(json_object_get(it, "resourceId"));

		if (id != NULL && strncmp(id, "ami-", 4) == 0)
			return true;
	}
	return false;
}

__attribute__((format(printf, 2, 3)))
static void ignore(struct eb_event *out, const char *fmt, ...)
{
	va_list ap;

	out->ignored = true;
	va_start(ap, fmt);
	vsnprintf(out->note, sizeof out->note, fmt, ap);
	va_end(ap);
	utf8_repair(out->note); /* quoted input may be cut inside a character */
}

static enum amicd_rc classify_cloudtrail(const json_t *detail, struct eb_event *out, struct amicd_error *err)
{
	enum amicd_rc rc = AMICD_OK;
	const char *name = want_str(detail, "eventName", "$.detail", &rc, err);
	const char *error_code = json_string_value(json_object_get(detail, "errorCode"));
	const json_t *params = json_object_get(detail, "requestParameters");

	if (rc != AMICD_OK)
		return rc;
	if (strcmp(name, "ModifyImageAttribute") == 0) {
		out->kind = EB_AMI_LAUNCH_PERMISSION;
		out->kind_name = "ami_launch_permission";
	} else if (strcmp(name, "CreateTags") == 0 || strcmp(name, "DeleteTags") == 0) {
		out->kind = EB_AMI_TAGS;
		out->kind_name = "ami_tags";
	} else {
		ignore(out, "CloudTrail %s is not acted on", name);
		return AMICD_OK;
	}
	if (error_code != NULL) {
		ignore(out, "CloudTrail recorded an error (%s): the call changed nothing", error_code);
		return AMICD_OK;
	}
	if (!json_is_object(params))
		return amicd_error_set(err, AMICD_ERR_INVALID, "$.detail.requestParameters",
				       "missing object field detail.requestParameters");
	if (out->kind == EB_AMI_LAUNCH_PERMISSION) {
		want_str(params, "imageId", "$.detail.requestParameters", &rc, err);
		if (rc != AMICD_OK)
			return rc;
		if (!json_is_object(json_object_get(params, "launchPermission")))
			ignore(out, "%s", "ModifyImageAttribute of another attribute than launchPermission");
	} else {
		const json_t *items = json_object_get(json_object_get(params, "resourcesSet"), "items");

		if (!json_is_array(items))
			return amicd_error_set(err, AMICD_ERR_INVALID, "$.detail.requestParameters.resourcesSet.items",
					       "missing array field detail.requestParameters.resourcesSet.items");
		if (!has_ami(items))
			ignore(out, "%s", "no AMI among the tagged resources");
	}
	return AMICD_OK;
}

enum amicd_rc eventbridge_parse(const json_t *body, struct eb_event *out, struct amicd_error *err)
{
	enum amicd_rc rc = AMICD_OK;
	const json_t *detail;

	memset(out, 0, sizeof *out);
	if (!json_is_object(body))
		return amicd_error_set(err, AMICD_ERR_INVALID, "$", "the body must be a JSON object");
	out->id = want_str(body, "id", "$", &rc, err);
	out->detail_type = want_str(body, "detail-type", "$", &rc, err);
	out->source = want_str(body, "source", "$", &rc, err);
	out->account = eventbridge_account_id(json_object_get(body, "account"), out->account_buf);
	if (out->account == NULL && rc == AMICD_OK)
		rc = amicd_error_set(err, AMICD_ERR_INVALID, "$.account", "account must be an AWS account id (a string or a number)");
	out->time = want_str(body, "time", "$", &rc, err);
	out->region = want_str(body, "region", "$", &rc, err);
	if (rc != AMICD_OK)
		return rc;
	if (out->id[0] == '\0')
		return amicd_error_set(err, AMICD_ERR_INVALID, "$.id", "id must not be empty");
	{
		int64_t ms;

		if (!util_parse_time(out->time, &ms))
			return amicd_error_set(err, AMICD_ERR_INVALID, "$.time", "time must be an RFC 3339 timestamp");
	}
	detail = json_object_get(body, "detail");
	if (!json_is_object(detail))
		return amicd_error_set(err, AMICD_ERR_INVALID, "$.detail", "missing object field detail");
	out->kind = EB_OTHER;
	out->kind_name = "other";
	if (strcmp(out->detail_type, "EC2 AMI State Change") == 0) {
		out->kind = EB_AMI_STATE;
		out->kind_name = "ami_state";
		want_str(detail, "ImageId", "$.detail", &rc, err);
		want_str(detail, "State", "$.detail", &rc, err);
	} else if (strcmp(out->detail_type, "AWS API Call via CloudTrail") == 0) {
		rc = classify_cloudtrail(detail, out, err);
	} else if (strcmp(out->detail_type, "AMI Shared") == 0) {
		const json_t *tags = json_object_get(detail, "Tags");

		out->kind = EB_AMI_SHARED;
		out->kind_name = "ami_shared";
		want_str(detail, "ImageId", "$.detail", &rc, err);
		want_str(detail, "Region", "$.detail", &rc, err);
		want_account(detail, "OwnerAccount", "$.detail", &rc, err);
		want_account(detail, "DestinationAccount", "$.detail", &rc, err);
		if (rc == AMICD_OK && tags != NULL && !json_is_object(tags))
			rc = amicd_error_set(err, AMICD_ERR_INVALID, "$.detail.Tags", "detail.Tags must be an object");
	} else {
		ignore(out, "detail-type \"%s\" is not acted on", out->detail_type);
	}
	return rc;
}
