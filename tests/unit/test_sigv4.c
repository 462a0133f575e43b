/*
 * test_sigv4.c — the SigV4 verifier of the AWS fakes (tests/unit/sigv4.h),
 * proved against AWS's published test suite and against libcurl's signer.
 *
 * Covers: seven cases of AWS's aws-sig-v4-test-suite (tests/data/sigv4, see
 * its README) verify OK, including query sorting by key and by value, header
 * value trimming, a form body and a session token; a one-character change to
 * the body, a header, the query, the method, the signature, the secret, the
 * region, the service, the date or the token, and each malformed or missing
 * part of the Authorization header, gives the error code real AWS answers;
 * X-Amz-Date is accepted up to 15 minutes either side of now and not past it;
 * the raw-request reader. And the check that matters for the reconciler:
 * libcurl itself (CURLOPT_AWS_SIGV4 "aws:amz:eu-west-1:ec2", a DescribeImages
 * form body, a session token header) signs a request that a listener on
 * 127.0.0.1:0 captures raw and the verifier accepts — and rejects when curl
 * signed with the wrong secret.
 *
 * The listener is a plain socket served by one thread per request; it waits
 * with poll() under a deadline, never a sleep.
 */
#include "sigv4.h"
#include "support.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define SUITE_NOW ((time_t)1440938160) /* 20150830T123600Z */
#define SUITE_AKID "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define DEADLINE_MS 10000

/* --- the AWS suite's cases ------------------------------------------------------ */

static const char *const vectors[] = {
	"get-vanilla",
	"get-vanilla-query-order-key-case",
	"get-vanilla-query-order-key",
	"get-header-value-trim",
	"post-x-www-form-urlencoded",
	"post-x-www-form-urlencoded-parameters",
	"post-sts-header-before",
};

/* What a mutation changes before verifying. */
enum target {
	T_NONE,
	T_REQ,     /* the request text (find -> repl) */
	T_AUTHZ,   /* the Authorization value (find -> repl) */
	T_NO_AUTHZ,/* no Authorization header at all */
	T_SECRET,  /* the secret the fake knows (find -> repl) */
	T_REGION,  /* the region the fake plays: repl */
	T_SERVICE, /* the service the fake plays: repl */
	T_TOKEN,   /* the session token the fake expects: repl (NULL: none) */
};

struct mutation {
	const char *name;
	const char *vcase;
	enum target target;
	const char *find, *repl;
	long skew_s;           /* now = the suite's time + skew_s */
	enum sigv4_result want;
};

#define ZERO64 "0000000000000000000000000000000000000000000000000000000000000000"
#define BODY_SHA "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e" /* of Param1=value1 */

static const struct mutation mutations[] = {
	/* one character of what was signed */
	{ "body", "post-x-www-form-urlencoded", T_REQ, "Param1=value1", "Param1=value2", 0,
	  SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "body longer", "post-x-www-form-urlencoded", T_REQ, "Param1=value1", "Param1=value1&", 0,
	  SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "header value", "get-header-value-trim", T_REQ, "My-Header1: value1", "My-Header1: value2", 0,
	  SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "header blanks still collapse", "get-header-value-trim", T_REQ, "\"a   b   c\"", "  \"a \t b c\"\t ", 0,
	  SIGV4_OK },
	{ "content type", "post-x-www-form-urlencoded", T_REQ, "urlencoded", "urlencodec", 0,
	  SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "host", "get-vanilla", T_REQ, "example.amazonaws.com", "example.amazonaws.con", 0,
	  SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "query value", "get-vanilla-query-order-key-case", T_REQ, "Param2=value2", "Param2=value3", 0,
	  SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "query key", "get-vanilla-query-order-key-case", T_REQ, "Param2=", "Param3=", 0,
	  SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "query order does not matter", "get-vanilla-query-order-key-case", T_REQ, "Param2=value2&Param1=value1",
	  "Param1=value1&Param2=value2", 0, SIGV4_OK },
	{ "query encoding does not matter", "get-vanilla-query-order-key-case", T_REQ, "Param2=value2",
	  "Param%32=%76alue2", 0, SIGV4_OK },
	{ "query value order", "get-vanilla-query-order-key", T_REQ, "Param1=value2&Param1=Value1",
	  "Param1=value2&Param1=Value2", 0, SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "method", "get-vanilla", T_REQ, "GET /", "PUT /", 0, SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "path", "get-vanilla", T_REQ, "GET / ", "GET /a ", 0, SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "path normalised", "get-vanilla", T_REQ, "GET / ", "GET /a/.. ", 0, SIGV4_OK },
	{ "signature", "get-vanilla", T_AUTHZ, "Signature=5fa0", "Signature=5fa1", 0,
	  SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "secret", "get-vanilla", T_SECRET, "EXAMPLEKEY", "EXAMPLEKEZ", 0, SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "secret of a form post", "post-x-www-form-urlencoded", T_SECRET, "wJal", "wJaL", 0,
	  SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "region expected", "get-vanilla", T_REGION, NULL, "us-east-2", 0, SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "region in scope", "get-vanilla", T_AUTHZ, "/us-east-1/", "/us-east-2/", 0,
	  SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "service expected", "get-vanilla", T_SERVICE, NULL, "ec2", 0, SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "signed header list", "get-header-value-trim", T_AUTHZ, "my-header1;my-header2", "my-header2", 0,
	  SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "signed header absent", "get-vanilla", T_AUTHZ, "host;x-amz-date", "host;my-header;x-amz-date", 0,
	  SIGV4_SIGNATURE_DOES_NOT_MATCH },
	/* the date */
	{ "x-amz-date second", "get-vanilla", T_REQ, "T123600Z", "T123601Z", 0, SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "x-amz-date day (scope)", "get-vanilla", T_REQ, "20150830T", "20150831T", -86400,
	  SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "scope date", "get-vanilla", T_AUTHZ, "/20150830/", "/20150831/", 0, SIGV4_SIGNATURE_DOES_NOT_MATCH },
	{ "15:00 behind", "get-vanilla", T_NONE, NULL, NULL, 15 * 60, SIGV4_OK },
	{ "15:00 ahead", "get-vanilla", T_NONE, NULL, NULL, -15 * 60, SIGV4_OK },
	{ "15:01 behind", "get-vanilla", T_NONE, NULL, NULL, 15 * 60 + 1, SIGV4_REQUEST_EXPIRED },
	{ "15:01 ahead", "get-vanilla", T_NONE, NULL, NULL, -15 * 60 - 1, SIGV4_REQUEST_EXPIRED },
	{ "x-amz-date malformed", "get-vanilla", T_REQ, "T123600Z", "T126000Z", 0, SIGV4_INCOMPLETE_SIGNATURE },
	{ "x-amz-date missing", "get-vanilla", T_REQ, "X-Amz-Date:", "X-Amz-Datum:", 0, SIGV4_INCOMPLETE_SIGNATURE },
	/* the Authorization header itself */
	{ "no Authorization", "get-vanilla", T_NO_AUTHZ, NULL, NULL, 0, SIGV4_MISSING_AUTHENTICATION_TOKEN },
	{ "unknown access key", "get-vanilla", T_AUTHZ, "AKIDEXAMPLE", "AKIDEXAMPLF", 0, SIGV4_AUTH_FAILURE },
	{ "algorithm", "get-vanilla", T_AUTHZ, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA257", 0,
	  SIGV4_INCOMPLETE_SIGNATURE },
	{ "no Signature", "get-vanilla", T_AUTHZ, ", Signature=", ", Signatur=", 0, SIGV4_INCOMPLETE_SIGNATURE },
	{ "short Signature", "get-vanilla", T_AUTHZ, "Signature=5f", "Signature=", 0, SIGV4_INCOMPLETE_SIGNATURE },
	{ "no SignedHeaders", "get-vanilla", T_AUTHZ, "SignedHeaders=", "SignedHeader=", 0,
	  SIGV4_INCOMPLETE_SIGNATURE },
	{ "credential short", "get-vanilla", T_AUTHZ, "/aws4_request", "", 0, SIGV4_INCOMPLETE_SIGNATURE },
	{ "credential terminator", "get-vanilla", T_AUTHZ, "aws4_request", "aws5_request", 0,
	  SIGV4_INCOMPLETE_SIGNATURE },
	{ "host not signed", "get-vanilla", T_AUTHZ, "host;x-amz-date", "x-amz-date", 0,
	  SIGV4_INCOMPLETE_SIGNATURE },
	{ "upper-case signed header", "get-vanilla", T_AUTHZ, "host;", "Host;", 0, SIGV4_INCOMPLETE_SIGNATURE },
	/* the session token */
	{ "token one character", "post-sts-header-before", T_REQ, "AQoDYXdz", "AQoDYXd1", 0, SIGV4_AUTH_FAILURE },
	{ "token not expected", "post-sts-header-before", T_TOKEN, NULL, NULL, 0, SIGV4_AUTH_FAILURE },
	{ "token expected, absent", "get-vanilla", T_TOKEN, NULL, "AQoDYXdz", 0, SIGV4_AUTH_FAILURE },
	{ "token not signed", "post-sts-header-before", T_AUTHZ, "x-amz-date;x-amz-security-token", "x-amz-date",
	  0, SIGV4_SIGNATURE_DOES_NOT_MATCH },
	/* x-amz-content-sha256: what is signed, and it must be the body's */
	{ "content sha256 of the body, unsigned", "post-x-www-form-urlencoded", T_REQ, "Host:",
	  "X-Amz-Content-Sha256:" BODY_SHA "\nHost:", 0, SIGV4_OK },
	{ "content sha256 not the body's", "post-x-www-form-urlencoded", T_REQ, "Host:",
	  "X-Amz-Content-Sha256:" ZERO64 "\nHost:", 0, SIGV4_SIGNATURE_DOES_NOT_MATCH },
};

/* One case loaded: its request text with the Authorization header in it, and what the fake knows. */
struct vcase {
	char *text;
	char *authz;
	char *token;
	char *secret;
	struct sigv4_request req;
};

static void vcase_free(struct vcase *c)
{
	sigv4_request_free(&c->req);
	free(c->secret);
	free(c->token);
	free(c->authz);
	free(c->text);
	memset(c, 0, sizeof *c);
}

static char *fixture_or_null(const char *name, const char *ext)
{
	char path[256];

	snprintf(path, sizeof path, "sigv4/%s.%s", name, ext);
	return support_fixture(path, NULL);
}

/*
 * vcase_load — the case name with mutation m (NULL: none) applied: the
 * request text (with "Authorization: <authz>" as its second line) parsed into
 * c->req. Fails the test when a fixture is missing or a mutation finds nothing.
 */
static void vcase_load(const char *name, const struct mutation *m, struct vcase *c)
{
	char *req = fixture_or_null(name, "req"), *s = NULL, *nl;
	char token_path[256];
	size_t count = 0;

	memset(c, 0, sizeof *c);
	c->authz = fixture_or_null(name, "authz");
	assert_non_null(req);
	assert_non_null(c->authz);
	snprintf(token_path, sizeof token_path, "%s/sigv4/%s.token", support_data_dir(), name);
	if (access(token_path, F_OK) == 0) {
		c->token = fixture_or_null(name, "token");
		assert_non_null(c->token);
	}
	c->secret = strdup(SUITE_SECRET);
	assert_non_null(c->secret);
	if (m != NULL && (m->target == T_REQ || m->target == T_AUTHZ || m->target == T_SECRET)) {
		char **what = m->target == T_REQ ? &req : m->target == T_AUTHZ ? &c->authz : &c->secret;

		s = support_replace_all(*what, m->find, m->repl, &count);
		assert_non_null(s);
		if (count == 0)
			fail_msg("%s: '%s' not in the %s", m->name, m->find, name);
		free(*what);
		*what = s;
	}
	if (m != NULL && m->target == T_TOKEN) {
		free(c->token);
		c->token = m->repl != NULL ? strdup(m->repl) : NULL;
	}
	nl = strchr(req, '\n');
	assert_non_null(nl);
	if (m != NULL && m->target == T_NO_AUTHZ)
		c->text = strdup(req);
	else
		assert_true(asprintf(&c->text, "%.*s\nAuthorization: %s%s", (int)(nl - req), req, c->authz, nl) > 0);
	free(req);
	assert_non_null(c->text);
	assert_int_equal(sigv4_request_parse(c->text, strlen(c->text), &c->req), 0);
}

static enum sigv4_result vcase_verify(struct vcase *c, const struct mutation *m, char *msg, size_t size)
{
	struct sigv4_key key = { SUITE_AKID, c->secret, c->token };
	struct sigv4_expect exp = {
		.region = m != NULL && m->target == T_REGION ? m->repl : "us-east-1",
		.service = m != NULL && m->target == T_SERVICE ? m->repl : "service",
		.keys = &key,
		.n_keys = 1,
		.now = SUITE_NOW + (m != NULL ? m->skew_s : 0),
	};

	return sigv4_verify(&c->req, &exp, msg, size);
}

static void test_aws_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		struct vcase c;
		char msg[256];
		enum sigv4_result r;

		vcase_load(vectors[i], NULL, &c);
		r = vcase_verify(&c, NULL, msg, sizeof msg);
		vcase_free(&c);
		if (r != SIGV4_OK)
			fail_msg("%s: %s (%s)", vectors[i], sigv4_result_code(r), msg);
	}
}

static void test_mutations(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof mutations / sizeof mutations[0]; i++) {
		const struct mutation *m = &mutations[i];
		struct vcase c;
		char msg[256];
		enum sigv4_result r;

		vcase_load(m->vcase, m, &c);
		r = vcase_verify(&c, m, msg, sizeof msg);
		vcase_free(&c);
		if (r != m->want) {
			print_error("%s: got %s (%s), want %s\n", m->name, sigv4_result_code(r), msg,
				    sigv4_result_code(m->want));
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* Another key in the fake's table does not stand in for the one named. */
static void test_key_table(void **state)
{
	struct vcase c;
	struct sigv4_key keys[] = {
		{ "AKIDOTHER", SUITE_SECRET, NULL },
		{ SUITE_AKID, SUITE_SECRET, NULL },
	};
	struct sigv4_expect exp = { "us-east-1", "service", keys, 2, SUITE_NOW };

	(void)state;
	vcase_load("get-vanilla", NULL, &c);
	assert_int_equal(sigv4_verify(&c.req, &exp, NULL, 0), SIGV4_OK);
	exp.n_keys = 1;
	assert_int_equal(sigv4_verify(&c.req, &exp, NULL, 0), SIGV4_AUTH_FAILURE);
	vcase_free(&c);
}

static void test_request_parse(void **state)
{
	static const char crlf[] = "POST /a/b?x=1&y HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-A:  v \r\n\r\nabcdef";
	struct sigv4_request r;

	(void)state;
	assert_int_equal(sigv4_request_parse(crlf, strlen(crlf), &r), 0);
	assert_string_equal(r.method, "POST");
	assert_string_equal(r.path, "/a/b");
	assert_string_equal(r.query, "x=1&y");
	assert_int_equal(r.n_headers, 3);
	assert_string_equal(r.headers[0].name, "Host");
	assert_string_equal(r.headers[0].value, " h");
	assert_string_equal(r.headers[2].value, "  v ");
	assert_int_equal(r.body_len, 3);
	assert_memory_equal(r.body, "abc", 3);
	sigv4_request_free(&r);
	sigv4_request_free(&r); /* emptied: a second free is harmless */

	assert_int_equal(sigv4_request_parse("GET / HTTP/1.1", 14, &r), 0);
	assert_null(r.query);
	assert_int_equal(r.n_headers, 0);
	assert_int_equal(r.body_len, 0);
	sigv4_request_free(&r);

	assert_int_equal(sigv4_request_parse("GET /\nHost: h", 13, &r), -1);
	assert_int_equal(sigv4_request_parse("GET / HTTP/1.1\nno colon\n", 24, &r), -1);
	assert_int_equal(sigv4_request_parse("GET / HTTP/1.1\nContent-Length: 9\n\nabc", 37, &r), -1);
	assert_null(r.owned);
}

/* --- libcurl as the signer ------------------------------------------------------ */

#define EC2_AKID "AKIAIOSFODNN7EXAMPLE"
#define EC2_SECRET "it-ec2-secret/xyz+EXAMPLE"
#define EC2_TOKEN "FwoGZXIvYXdzEXAMPLE//session+token=="
#define DESCRIBE_BODY                                                                                   \
	"Action=DescribeImages&Version=2016-11-15&Filter.1.Name=tag%3Agit-sha&Filter.1.Value.1="         \
	"0123456789abcdef0123456789abcdef01234567&Filter.1.Value.2=89abcdef0123456789abcdef0123456789abcdef"

/* A one-request listener: accepts one connection, keeps the raw request, answers 200. */
struct listener {
	int fd;
	int port;
	pthread_t thread;
	char *raw;
	size_t len;
	bool done;
};

/* head_end — the length of the header block (through the blank line) in buf, or 0 when not all there. */
static size_t head_end(const char *buf, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++)
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	return 0;
}

/* wait_readable — poll fd until it can be read or the deadline passes. */
static bool wait_readable(int fd, int64_t deadline_ms)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline_ms - support_now_ms();
		int n;

		if (left <= 0)
			return false;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return true;
		if (n < 0 && errno != EINTR)
			return false;
	}
}

static void *listener_main(void *arg)
{
	static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	struct listener *l = arg;
	int64_t deadline = support_now_ms() + DEADLINE_MS;
	struct support_buf buf = { NULL, 0 };
	size_t head = 0, want = SIZE_MAX;
	int conn = -1;

	if (!wait_readable(l->fd, deadline))
		goto out;
	conn = accept(l->fd, NULL, NULL);
	if (conn < 0)
		goto out;
	while (buf.len < want) {
		char chunk[4096];
		ssize_t n;

		if (!wait_readable(conn, deadline))
			goto out;
		n = read(conn, chunk, sizeof chunk);
		if (n <= 0)
			goto out;
		if (support_buf_append(chunk, 1, (size_t)n, &buf) != (size_t)n)
			goto out;
		if (head == 0) {
			head = head_end(buf.data, buf.len);
			if (head > 0) {
				/* the body is Content-Length bytes (curl sends one for a POST) */
				char *cl;

				buf.data[head - 1] = '\0';
				cl = strcasestr(buf.data, "\r\ncontent-length:");
				buf.data[head - 1] = '\n';
				want = head + (cl != NULL ? strtoul(cl + 17, NULL, 10) : 0);
			}
		}
	}
	if (write(conn, answer, sizeof answer - 1) < 0)
		goto out;
	l->raw = buf.data;
	l->len = buf.len;
	buf.data = NULL;
	l->done = true;
out:
	free(buf.data);
	if (conn >= 0)
		close(conn);
	return NULL;
}

static int listener_start(struct listener *l)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0 };
	socklen_t alen = sizeof a;

	memset(l, 0, sizeof *l);
	l->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(l->fd, 4) != 0 ||
	    getsockname(l->fd, (struct sockaddr *)&a, &alen) != 0)
		return -1;
	l->port = ntohs(a.sin_port);
	return pthread_create(&l->thread, NULL, listener_main, l) == 0 ? 0 : -1;
}

/* listener_stop — join the thread and close the socket; the raw request stays in l->raw (caller frees). */
static void listener_stop(struct listener *l)
{
	pthread_join(l->thread, NULL);
	close(l->fd);
}

/*
 * curl_signed — POST DESCRIBE_BODY, signed by libcurl with EC2_AKID and
 * secret and carrying EC2_TOKEN, to a fresh listener; the raw request as the
 * listener received it parsed into *out. Fails the test when no answer came.
 */
static void curl_signed(const char *secret, struct sigv4_request *out)
{
	struct listener l;
	CURL *curl = NULL;
	struct curl_slist *hdrs = NULL;
	char url[64], userpwd[128];
	long status = 0;
	CURLcode cc;
	int parsed;

	assert_int_equal(listener_start(&l), 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", l.port);
	snprintf(userpwd, sizeof userpwd, "%s:%s", EC2_AKID, secret);
	curl = curl_easy_init();
	assert_non_null(curl);
	hdrs = curl_slist_append(hdrs, "x-amz-security-token: " EC2_TOKEN);
	assert_non_null(hdrs);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, "aws:amz:eu-west-1:ec2");
	curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, DESCRIBE_BODY);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)DEADLINE_MS);
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	cc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	curl_slist_free_all(hdrs);
	listener_stop(&l);
	if (cc != CURLE_OK || status != 200 || !l.done) {
		free(l.raw);
		fail_msg("curl: %s, status %ld, request %s", curl_easy_strerror(cc), status,
			 l.done ? "captured" : "not captured");
	}
	parsed = sigv4_request_parse(l.raw, l.len, out);
	free(l.raw);
	assert_int_equal(parsed, 0);
}

static const struct sigv4_key ec2_key = { EC2_AKID, EC2_SECRET, EC2_TOKEN };

static enum sigv4_result verify_as_ec2(const struct sigv4_request *req, char *msg, size_t size)
{
	struct sigv4_expect exp = { "eu-west-1", "ec2", &ec2_key, 1, time(NULL) };

	return sigv4_verify(req, &exp, msg, size);
}

/* What curl 7.88 sent and signed, for the record (and the reconciler's author). */
static void print_request(const struct sigv4_request *r)
{
	print_message("curl sent: %s %s%s%s, %zu body bytes\n", r->method, r->path, r->query != NULL ? "?" : "",
		      r->query != NULL ? r->query : "", r->body_len);
	for (size_t i = 0; i < r->n_headers; i++)
		print_message("  %s:%s\n", r->headers[i].name,
			      strcasecmp(r->headers[i].name, "authorization") == 0 ||
					      strcasecmp(r->headers[i].name, "x-amz-security-token") == 0
				      ? " (as set)"
				      : r->headers[i].value);
}

static void test_curl_signs_describe_images(void **state)
{
	struct sigv4_request r;
	const char *authz = NULL;
	char msg[256];
	enum sigv4_result res;

	(void)state;
	curl_signed(EC2_SECRET, &r);
	print_request(&r);
	for (size_t i = 0; i < r.n_headers; i++)
		if (strcasecmp(r.headers[i].name, "authorization") == 0)
			authz = r.headers[i].value;
	assert_non_null(authz);
	print_message("  SignedHeaders: %.*s\n", (int)strcspn(strstr(authz, "SignedHeaders=") + 14, ","),
		      strstr(authz, "SignedHeaders=") + 14);
	assert_string_equal(r.method, "POST");
	assert_int_equal(r.body_len, strlen(DESCRIBE_BODY));
	assert_memory_equal(r.body, DESCRIBE_BODY, r.body_len);
	res = verify_as_ec2(&r, msg, sizeof msg);
	if (res != SIGV4_OK)
		fail_msg("curl's request: %s (%s)", sigv4_result_code(res), msg);
	/* the token must be among what curl signed */
	assert_non_null(strstr(authz, "x-amz-security-token"));

	/* and the body is what curl signed: one character of it changed fails */
	{
		struct sigv4_request tampered = r;
		char *body = malloc(r.body_len);

		assert_non_null(body);
		memcpy(body, r.body, r.body_len);
		body[r.body_len - 1] ^= 1;
		tampered.body = body;
		res = verify_as_ec2(&tampered, msg, sizeof msg);
		free(body);
		assert_int_equal(res, SIGV4_SIGNATURE_DOES_NOT_MATCH);
	}
	sigv4_request_free(&r);
}

static void test_curl_wrong_secret(void **state)
{
	struct sigv4_request r;
	char msg[256];

	(void)state;
	curl_signed(EC2_SECRET "x", &r);
	assert_int_equal(verify_as_ec2(&r, msg, sizeof msg), SIGV4_SIGNATURE_DOES_NOT_MATCH);
	sigv4_request_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aws_vectors),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_key_table),
		cmocka_unit_test(test_request_parse),
		cmocka_unit_test(test_curl_signs_describe_images),
		cmocka_unit_test(test_curl_wrong_secret),
	};

	return cmocka_run_group_tests_name("sigv4", tests, support_curl_setup, support_curl_teardown);
}
