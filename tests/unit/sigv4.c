/*
 * sigv4.c — the SigV4 verifier of the tests' AWS fakes (see sigv4.h).
 *
 * The verifier recomputes what the client signed, following AWS's "Create a
 * signed AWS API request" steps: the canonical request (method, canonical URI,
 * canonical query string, canonical headers, signed headers, payload hash),
 * the string to sign (AWS4-HMAC-SHA256, X-Amz-Date, credential scope, hash of
 * the canonical request), the signing key (HMAC chain over date, region,
 * service, "aws4_request") and the signature; then compares in constant time.
 * The checks before that run in the order that lets each one name the error
 * real AWS names. SHA-256, HMAC and the constant-time comparison are amicd's
 * own (src/crypto.h). Pure: no I/O, no clock.
 */
#include "sigv4.h"

#include "crypto.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ALGORITHM "AWS4-HMAC-SHA256"
#define MAX_SKEW_S (15 * 60)

const char *sigv4_result_code(enum sigv4_result r)
{
	switch (r) {
	case SIGV4_OK:
		return "OK";
	case SIGV4_MISSING_AUTHENTICATION_TOKEN:
		return "MissingAuthenticationToken";
	case SIGV4_INCOMPLETE_SIGNATURE:
		return "IncompleteSignature";
	case SIGV4_SIGNATURE_DOES_NOT_MATCH:
		return "SignatureDoesNotMatch";
	case SIGV4_AUTH_FAILURE:
		return "AuthFailure";
	case SIGV4_REQUEST_EXPIRED:
		return "RequestExpired";
	}
	return "?";
}

/* The Authorization header taken apart; every pointer is into buf. */
struct authz {
	char *buf;
	char *akid, *date, *region, *service, *terminator;
	char *signed_headers;
	char *signature;
};

__attribute__((format(printf, 4, 5))) static enum sigv4_result fail(enum sigv4_result r, char *msg,
								     size_t msg_size, const char *fmt, ...)
{
	va_list ap;

	if (msg != NULL && msg_size > 0) {
		va_start(ap, fmt);
		vsnprintf(msg, msg_size, fmt, ap);
		va_end(ap);
	}
	return r;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_' || c == '~';
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* trim — s without leading and trailing blanks, in place. */
static char *trim(char *s)
{
	size_t n;

	while (is_blank(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/*
 * find_header — how many headers are named name (any case); the first one's
 * value, without its leading and trailing blanks, in *value and *len.
 */
static size_t find_header(const struct sigv4_request *req, const char *name, const char **value, size_t *len)
{
	size_t n = 0;

	*value = NULL;
	*len = 0;
	for (size_t i = 0; i < req->n_headers; i++) {
		const char *v = req->headers[i].value;
		size_t l;

		if (strcasecmp(req->headers[i].name, name) != 0 || n++ > 0)
			continue;
		while (is_blank(*v))
			v++;
		l = strlen(v);
		while (l > 0 && is_blank(v[l - 1]))
			l--;
		*value = v;
		*len = l;
	}
	return n;
}

/*
 * parse_authz — "AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request,
 * SignedHeaders=a;b, Signature=hex" (components in any order, blanks around
 * commas allowed) into *a. Returns false, with the reason in msg, when malformed.
 */
static bool parse_authz(const char *value, struct authz *a, char *msg, size_t msg_size)
{
	char *p, *save = NULL, *tok;
	char *credential = NULL;
	char **fields[] = { &a->akid, &a->date, &a->region, &a->service, &a->terminator };

	memset(a, 0, sizeof *a);
	while (is_blank(*value))
		value++;
	if (strncmp(value, ALGORITHM, strlen(ALGORITHM)) != 0 || !is_blank(value[strlen(ALGORITHM)])) {
		fail(0, msg, msg_size, "Authorization does not start with " ALGORITHM);
		return false;
	}
	a->buf = strdup(value + strlen(ALGORITHM));
	if (a->buf == NULL) {
		fail(0, msg, msg_size, "out of memory");
		return false;
	}
	for (tok = strtok_r(a->buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *eq;
		char **slot = NULL;

		tok = trim(tok);
		eq = strchr(tok, '=');
		if (eq == NULL) {
			fail(0, msg, msg_size, "Authorization component '%s' is not key=value", tok);
			return false;
		}
		*eq = '\0';
		if (strcmp(tok, "Credential") == 0)
			slot = &credential;
		else if (strcmp(tok, "SignedHeaders") == 0)
			slot = &a->signed_headers;
		else if (strcmp(tok, "Signature") == 0)
			slot = &a->signature;
		if (slot == NULL || *slot != NULL) {
			fail(0, msg, msg_size, "Authorization component '%s' unknown or repeated", tok);
			return false;
		}
		*slot = eq + 1;
	}
	if (credential == NULL || a->signed_headers == NULL || a->signature == NULL) {
		fail(0, msg, msg_size, "Authorization lacks Credential, SignedHeaders or Signature");
		return false;
	}
	/* Credential: five '/'-separated fields */
	p = credential;
	for (size_t i = 0; i < 5; i++) {
		char *slash = strchr(p, '/');

		*fields[i] = p;
		if (i < 4) {
			if (slash == NULL) {
				fail(0, msg, msg_size, "Credential is not AKID/date/region/service/aws4_request");
				return false;
			}
			*slash = '\0';
			p = slash + 1;
		} else if (slash != NULL) {
			fail(0, msg, msg_size, "Credential has more than five fields");
			return false;
		}
	}
	if (*a->akid == '\0' || strlen(a->date) != 8 || !all_digits(a->date, 8) || *a->region == '\0' ||
	    *a->service == '\0' || strcmp(a->terminator, "aws4_request") != 0) {
		fail(0, msg, msg_size, "Credential is not AKID/yyyymmdd/region/service/aws4_request");
		return false;
	}
	if (strlen(a->signature) != 64 || strspn(a->signature, "0123456789abcdef") != 64) {
		fail(0, msg, msg_size, "Signature is not 64 lower-case hex digits");
		return false;
	}
	return true;
}

/* parse_amz_date — "yyyymmddThhmmssZ" to seconds since the epoch; false when malformed. */
static bool parse_amz_date(const char *s, time_t *t)
{
	struct tm tm;
	char back[17];

	if (strlen(s) != 16 || !all_digits(s, 8) || s[8] != 'T' || !all_digits(s + 9, 6) || s[15] != 'Z')
		return false;
	memset(&tm, 0, sizeof tm);
	if (strptime(s, "%Y%m%dT%H%M%SZ", &tm) == NULL)
		return false;
	*t = timegm(&tm);
	/* strptime accepts 20150231; the round trip does not */
	if (*t == (time_t)-1 || gmtime_r(t, &tm) == NULL || strftime(back, sizeof back, "%Y%m%dT%H%M%SZ", &tm) != 16)
		return false;
	return strcmp(back, s) == 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * split_signed — SignedHeaders' names, sorted, into a new array (*n of them).
 * Returns NULL, with msg, when a name is empty, not lower-case or repeated.
 */
static char **split_signed(char *list, size_t *n, char *msg, size_t msg_size)
{
	size_t cap = 1;
	char **names = NULL, *save = NULL;

	*n = 0;
	for (const char *p = list; *p != '\0'; p++)
		cap += *p == ';';
	names = calloc(cap, sizeof *names);
	if (names == NULL) {
		fail(0, msg, msg_size, "out of memory");
		return NULL;
	}
	if (list[0] == ';' || list[0] == '\0' || list[strlen(list) - 1] == ';' || strstr(list, ";;") != NULL)
		goto bad;
	for (char *tok = strtok_r(list, ";", &save); tok != NULL; tok = strtok_r(NULL, ";", &save)) {
		for (const char *c = tok; *c != '\0'; c++)
			if ((*c >= 'A' && *c <= 'Z') || is_blank(*c) || *c == ':')
				goto bad;
		names[(*n)++] = tok;
	}
	qsort(names, *n, sizeof *names, cmp_str);
	for (size_t i = 1; i < *n; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			goto bad;
	return names;
bad:
	fail(0, msg, msg_size, "SignedHeaders is not a ';'-list of distinct lower-case names");
	free(names);
	return NULL;
}

/* put_encoded — n bytes of s to f, every byte but the unreserved ones (and '/' when keep_slash) as %XX. */
static void put_encoded(FILE *f, const char *s, size_t n, bool keep_slash)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (is_unreserved(c) || (keep_slash && c == '/'))
			fputc(c, f);
		else
			fprintf(f, "%%%02X", c);
	}
}

/*
 * put_canonical_uri — the path with empty, "." and ".." segments resolved (a
 * trailing '/' kept), each byte outside the unreserved set and '/' encoded.
 */
static bool put_canonical_uri(FILE *f, const char *path)
{
	size_t len = strlen(path), n = 0;
	const char **seg = NULL;
	size_t *seg_len = NULL;
	bool ok = false;

	seg = calloc(len + 1, sizeof *seg);
	seg_len = calloc(len + 1, sizeof *seg_len);
	if (seg == NULL || seg_len == NULL)
		goto out;
	for (const char *p = path; *p != '\0';) {
		const char *end = strchr(p, '/');
		size_t l = end != NULL ? (size_t)(end - p) : strlen(p);

		if (l == 2 && p[0] == '.' && p[1] == '.') {
			if (n > 0)
				n--;
		} else if (l > 0 && !(l == 1 && p[0] == '.')) {
			seg[n] = p;
			seg_len[n++] = l;
		}
		p += l;
		if (*p == '/')
			p++;
	}
	for (size_t i = 0; i < n; i++) {
		fputc('/', f);
		put_encoded(f, seg[i], seg_len[i], false);
	}
	if (n == 0 || (len > 0 && path[len - 1] == '/'))
		fputc('/', f);
	ok = true;
out:
	free(seg_len);
	free(seg);
	return ok;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* decode — percent-decode n bytes of s into a new string (a '%' not followed by two hex digits stays). */
static char *decode(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t j = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			out[j++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
		} else {
			out[j++] = s[i];
		}
	}
	out[j] = '\0';
	return out;
}

/* encoded — a NUL-terminated string through put_encoded, into a new string. */
static char *encoded(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	put_encoded(f, s, strlen(s), false);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

struct qparam {
	char *key, *value; /* encoded */
};

static int cmp_qparam(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c != 0 ? c : strcmp(x->value, y->value);
}

/*
 * put_canonical_query — each "key=value" of the raw query decoded, then
 * encoded the SigV4 way (unreserved bytes kept, the rest %XX upper-case),
 * sorted by key then value, joined by '&'. '+' is a literal plus (%2B).
 */
static bool put_canonical_query(FILE *f, const char *query)
{
	size_t cap = 1, n = 0;
	struct qparam *params = NULL;
	bool ok = false;

	if (query == NULL || *query == '\0')
		return true;
	for (const char *p = query; *p != '\0'; p++)
		cap += *p == '&';
	params = calloc(cap, sizeof *params);
	if (params == NULL)
		return false;
	for (const char *p = query; *p != '\0';) {
		const char *end = strchr(p, '&');
		size_t l = end != NULL ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', l);
		size_t kl = eq != NULL ? (size_t)(eq - p) : l;
		char *k = NULL, *v = NULL;

		if (l > 0) {
			k = decode(p, kl);
			v = eq != NULL ? decode(eq + 1, l - kl - 1) : strdup("");
			if (k != NULL && v != NULL) {
				params[n].key = encoded(k);
				params[n].value = encoded(v);
			}
			free(k);
			free(v);
			if (params[n].key == NULL || params[n].value == NULL) {
				n++;
				goto out;
			}
			n++;
		}
		p += l;
		if (*p == '&')
			p++;
	}
	qsort(params, n, sizeof *params, cmp_qparam);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%s=%s", i > 0 ? "&" : "", params[i].key, params[i].value);
	ok = true;
out:
	for (size_t i = 0; i < n; i++) {
		free(params[i].key);
		free(params[i].value);
	}
	free(params);
	return ok;
}

/* put_header_values — every value of header name, blanks trimmed and runs of blanks made one space, joined by ','. */
static size_t put_header_values(FILE *f, const struct sigv4_request *req, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < req->n_headers; i++) {
		const char *v = req->headers[i].value, *end;

		if (strcasecmp(req->headers[i].name, name) != 0)
			continue;
		if (n++ > 0)
			fputc(',', f);
		while (is_blank(*v))
			v++;
		end = v + strlen(v);
		while (end > v && is_blank(end[-1]))
			end--;
		for (const char *c = v; c < end; c++) {
			if (is_blank(*c) && c > v && is_blank(c[-1]))
				continue;
			fputc(is_blank(*c) ? ' ' : *c, f);
		}
	}
	return n;
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* hmac — HMAC-SHA256 of the string data under key (32 bytes, or klen for the first step). */
static bool hmac(const void *key, size_t klen, const char *data, unsigned char out[32])
{
	const void *parts[] = { data };
	size_t lens[] = { strlen(data) };

	return crypto_hmac_sha256(key, klen, parts, lens, 1, out);
}

/*
 * signature_of — the hex signature over the string to sign built from the
 * canonical request creq. Returns false on out of memory.
 */
static bool signature_of(const char *creq, const char *amz_date, const struct authz *a, const char *secret,
			 char sig[65])
{
	char creq_hash[65];
	char *key0 = NULL, *sts = NULL;
	unsigned char k[32];
	bool ok = false;

	crypto_sha256_hex(creq, strlen(creq), creq_hash);
	if (asprintf(&key0, "AWS4%s", secret) < 0) {
		key0 = NULL;
		goto out;
	}
	if (asprintf(&sts, ALGORITHM "\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, a->date, a->region, a->service,
		     creq_hash) < 0) {
		sts = NULL;
		goto out;
	}
	ok = hmac(key0, strlen(key0), a->date, k) && hmac(k, 32, a->region, k) && hmac(k, 32, a->service, k) &&
	     hmac(k, 32, "aws4_request", k) && hmac(k, 32, sts, k);
	if (ok)
		to_hex(k, 32, sig);
out:
	free(sts);
	free(key0);
	return ok;
}

enum sigv4_result sigv4_verify(const struct sigv4_request *req, const struct sigv4_expect *exp, char *msg,
			       size_t msg_size)
{
	enum sigv4_result rc = SIGV4_INCOMPLETE_SIGNATURE;
	struct authz a = { 0 };
	char **names = NULL, *creq = NULL;
	size_t n_names = 0, creq_len = 0;
	const char *authz_value = NULL, *value = NULL, *content_sha = NULL;
	char amz_date[17] = { 0 };
	size_t len = 0;
	const struct sigv4_key *key = NULL;
	char body_hash[65], sig[65];
	time_t t;
	FILE *f = NULL;
	bool host_signed = false, token_signed = false;

	if (msg != NULL && msg_size > 0)
		msg[0] = '\0';
	switch (find_header(req, "authorization", &authz_value, &len)) {
	case 0:
		return fail(SIGV4_MISSING_AUTHENTICATION_TOKEN, msg, msg_size, "no Authorization header");
	case 1:
		break;
	default:
		return fail(SIGV4_INCOMPLETE_SIGNATURE, msg, msg_size, "more than one Authorization header");
	}
	if (!parse_authz(authz_value, &a, msg, msg_size))
		goto out;
	for (size_t i = 0; i < exp->n_keys && key == NULL; i++)
		if (strcmp(exp->keys[i].access_key_id, a.akid) == 0)
			key = &exp->keys[i];
	if (key == NULL) {
		rc = fail(SIGV4_AUTH_FAILURE, msg, msg_size, "unknown access key id '%s'", a.akid);
		goto out;
	}
	rc = SIGV4_SIGNATURE_DOES_NOT_MATCH;
	if (strcmp(a.region, exp->region) != 0) {
		fail(rc, msg, msg_size, "Credential should be scoped to a valid region, not '%s'", a.region);
		goto out;
	}
	if (strcmp(a.service, exp->service) != 0) {
		fail(rc, msg, msg_size, "Credential should be scoped to correct service: '%s'", exp->service);
		goto out;
	}
	rc = SIGV4_INCOMPLETE_SIGNATURE;
	if (find_header(req, "x-amz-date", &value, &len) == 1 && len == 16)
		memcpy(amz_date, value, 16);
	if (!parse_amz_date(amz_date, &t)) {
		fail(rc, msg, msg_size, "one X-Amz-Date header of the form yyyymmddThhmmssZ is required");
		goto out;
	}
	if (strncmp(a.date, amz_date, 8) != 0) {
		rc = fail(SIGV4_SIGNATURE_DOES_NOT_MATCH, msg, msg_size,
			  "Date in Credential scope does not match YYYYMMDD from X-Amz-Date: '%s' != '%.8s'", a.date,
			  amz_date);
		goto out;
	}
	if (t > exp->now + MAX_SKEW_S || t < exp->now - MAX_SKEW_S) {
		rc = fail(SIGV4_REQUEST_EXPIRED, msg, msg_size, "X-Amz-Date %s is more than 15 minutes from now",
			  amz_date);
		goto out;
	}
	names = split_signed(a.signed_headers, &n_names, msg, msg_size);
	if (names == NULL)
		goto out;
	for (size_t i = 0; i < n_names; i++) {
		host_signed = host_signed || strcmp(names[i], "host") == 0;
		token_signed = token_signed || strcmp(names[i], "x-amz-security-token") == 0;
	}
	if (!host_signed) {
		fail(rc, msg, msg_size, "'Host' must be a 'SignedHeader' in the AWS Authorization");
		goto out;
	}
	rc = SIGV4_AUTH_FAILURE;
	switch (find_header(req, "x-amz-security-token", &value, &len)) {
	case 0:
		if (key->session_token != NULL) {
			fail(rc, msg, msg_size, "temporary credentials without x-amz-security-token");
			goto out;
		}
		break;
	case 1:
		if (key->session_token == NULL ||
		    !crypto_equal(value, len, key->session_token, strlen(key->session_token))) {
			fail(rc, msg, msg_size, "The security token included in the request is invalid");
			goto out;
		}
		if (!token_signed) {
			rc = fail(SIGV4_SIGNATURE_DOES_NOT_MATCH, msg, msg_size,
				  "x-amz-security-token is not among the SignedHeaders");
			goto out;
		}
		break;
	default:
		fail(rc, msg, msg_size, "more than one x-amz-security-token header");
		goto out;
	}
	rc = SIGV4_SIGNATURE_DOES_NOT_MATCH;
	crypto_sha256_hex(req->body != NULL ? req->body : "", req->body_len, body_hash);
	content_sha = body_hash;
	switch (find_header(req, "x-amz-content-sha256", &value, &len)) {
	case 0:
		break;
	case 1:
		if (len != 64 || memcmp(value, body_hash, 64) != 0) {
			fail(rc, msg, msg_size, "x-amz-content-sha256 is not the SHA-256 of the body");
			goto out;
		}
		break;
	default:
		fail(rc, msg, msg_size, "more than one x-amz-content-sha256 header");
		goto out;
	}

	/* the canonical request */
	rc = SIGV4_INCOMPLETE_SIGNATURE;
	f = open_memstream(&creq, &creq_len);
	if (f == NULL) {
		fail(rc, msg, msg_size, "out of memory");
		goto out;
	}
	fprintf(f, "%s\n", req->method);
	if (!put_canonical_uri(f, req->path) || fputc('\n', f) == EOF || !put_canonical_query(f, req->query)) {
		fail(rc, msg, msg_size, "out of memory");
		goto out;
	}
	fputc('\n', f);
	for (size_t i = 0; i < n_names; i++) {
		fprintf(f, "%s:", names[i]);
		if (put_header_values(f, req, names[i]) == 0) {
			rc = fail(SIGV4_SIGNATURE_DOES_NOT_MATCH, msg, msg_size,
				  "signed header '%s' is not in the request", names[i]);
			goto out;
		}
		fputc('\n', f);
	}
	fputc('\n', f);
	for (size_t i = 0; i < n_names; i++)
		fprintf(f, "%s%s", i > 0 ? ";" : "", names[i]);
	fprintf(f, "\n%s", content_sha);
	if (fclose(f) != 0) {
		f = NULL;
		fail(rc, msg, msg_size, "out of memory");
		goto out;
	}
	f = NULL;

	if (!signature_of(creq, amz_date, &a, key->secret, sig)) {
		fail(rc, msg, msg_size, "out of memory");
		goto out;
	}
	if (!crypto_equal(sig, 64, a.signature, strlen(a.signature))) {
		rc = fail(SIGV4_SIGNATURE_DOES_NOT_MATCH, msg, msg_size,
			  "The request signature we calculated does not match the signature you provided");
		goto out;
	}
	rc = SIGV4_OK;
out:
	if (f != NULL) {
		fclose(f);
	}
	free(creq);
	free(names);
	free(a.buf);
	return rc;
}

int sigv4_request_parse(const char *raw, size_t len, struct sigv4_request *out)
{
	size_t lines = 1, n = 0;
	struct sigv4_header *headers;
	char *text, *p, *eol, *sp1, *sp2, *q;
	const char *content_length = NULL;
	void *block;

	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < len; i++)
		lines += raw[i] == '\n';
	block = malloc(lines * sizeof *headers + len + 1);
	if (block == NULL)
		return -1;
	headers = block;
	text = (char *)block + lines * sizeof *headers;
	memcpy(text, raw, len);
	text[len] = '\0';
	out->owned = block;
	out->headers = headers;

	/* request line: METHOD SP target SP version */
	eol = memchr(text, '\n', len);
	if (eol == NULL)
		eol = text + len;
	*eol = '\0';
	if (eol > text && eol[-1] == '\r')
		eol[-1] = '\0';
	sp1 = strchr(text, ' ');
	sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
	if (sp1 == NULL || sp2 == NULL || sp1 == text || sp1[1] != '/' || strncmp(sp2 + 1, "HTTP/", 5) != 0)
		goto bad;
	*sp1 = '\0';
	*sp2 = '\0';
	out->method = text;
	out->path = sp1 + 1;
	q = strchr(sp1 + 1, '?');
	if (q != NULL) {
		*q = '\0';
		out->query = q + 1;
	}

	/* header lines up to a blank line or the end */
	p = eol < text + len ? eol + 1 : text + len;
	while (p < text + len) {
		char *colon;

		eol = memchr(p, '\n', (size_t)(text + len - p));
		if (eol == NULL)
			eol = text + len;
		*eol = '\0';
		if (eol > p && eol[-1] == '\r')
			eol[-1] = '\0';
		if (*p == '\0') {
			p = eol < text + len ? eol + 1 : text + len;
			break;
		}
		colon = strchr(p, ':');
		if (colon == NULL || colon == p || is_blank(*p))
			goto bad;
		*colon = '\0';
		headers[n].name = p;
		headers[n].value = colon + 1;
		if (strcasecmp(p, "content-length") == 0)
			content_length = colon + 1;
		n++;
		p = eol < text + len ? eol + 1 : text + len;
	}
	out->n_headers = n;
	out->body = p;
	out->body_len = (size_t)(text + len - p);
	if (content_length != NULL) {
		char *end;
		unsigned long long cl = strtoull(content_length, &end, 10);

		if (end == content_length || *trim(end) != '\0' || cl > out->body_len)
			goto bad;
		out->body_len = (size_t)cl;
	}
	return 0;
bad:
	sigv4_request_free(out);
	return -1;
}

void sigv4_request_free(struct sigv4_request *req)
{
	if (req == NULL)
		return;
	free(req->owned);
	memset(req, 0, sizeof *req);
}
