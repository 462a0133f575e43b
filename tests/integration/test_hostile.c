/*
 * test_hostile.c — bytes and connections that try to break amicd, against the
 * real binary over raw sockets (so any byte can be sent):
 *
 *  - a request line that is not UTF-8: 404 / 405 / 400 with a JSON body, never 500;
 *  - identity headers that are not UTF-8: 400; other headers that are not:
 *    stored escaped, and the event is listed and shown like any other;
 *  - a note cut inside a multi-byte character: still answered, still listed;
 *  - a header name far longer than 127 bytes naming a credential: not stored;
 *  - a chunked body past the limit: 413 before the sender is done, and the
 *    rest is never read;
 *  - 1,100 slow connections from 127.0.0.1: a client on 127.0.0.2 still gets
 *    its 202 promptly; a connection that trickles its request is closed at the
 *    request deadline.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define SLOW_CONNECTIONS 1100

static int setup(void **state)
{
	return h_proc_setup(state, NULL, true);
}

static int setup_1mib(void **state)
{
	struct amicd_opts o = { .max_body_bytes = 1048576 };

	return h_proc_setup(state, &o, true);
}

static int setup_deadline(void **state)
{
	struct amicd_opts o = { .limits_extra = "  request_timeout_seconds: 2\n" };

	return h_proc_setup(state, &o, true);
}

/* The status of a raw answer ("HTTP/1.1 404 …"), and its body parsed as JSON (NULL if not JSON). */
static int raw_status(const char *resp)
{
	return strncmp(resp, "HTTP/1.", 7) == 0 ? atoi(resp + 9) : -1;
}

static json_t *raw_json(const char *resp)
{
	const char *body = strstr(resp, "\r\n\r\n");

	return body != NULL ? json_loads(body + 4, 0, NULL) : NULL;
}

static char *push_request(const char *extra_headers, const char *body)
{
	char *req = NULL;

	if (asprintf(&req,
		     "POST /hooks/gitlab HTTP/1.1\r\nHost: amicd\r\nConnection: close\r\n"
		     "Content-Type: application/json\r\nX-Gitlab-Token: " SUPPORT_GITLAB_TOKEN "\r\n%s"
		     "Content-Length: %zu\r\n\r\n%s",
		     extra_headers, strlen(body), body) < 0)
		return NULL;
	return req;
}

/* --- bytes --------------------------------------------------------------------------- */

static void request_line_not_utf8(void **state)
{
	struct amicd_proc *p = *state;
	static const struct {
		const char *req;
		int lo, hi;
	} cases[] = {
		{ "GET /api/v1/\xff\xfe HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 404, 404 },
		{ "GET /hooks/\xc3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 404, 404 },
		{ "G\xff" "T /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 400, 405 },
		{ "\xe2\x82 /api/v1/events HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 400, 405 },
	};
	char resp[8192];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int status;

		assert_true(h_raw(p, cases[i].req, strlen(cases[i].req), resp, sizeof resp, 5000) > 0);
		status = raw_status(resp);
		if (status < cases[i].lo || status > cases[i].hi)
			fail_msg("case %zu answered %d: %s", i, status, resp);
		if (status != 400) { /* amicd's own answer: JSON, with the bytes escaped */
			json_t *j = raw_json(resp);

			assert_non_null(j);
			assert_non_null(json_object_get(j, "error"));
			json_decref(j);
		}
	}
	/* and it still serves */
	{
		static const char ok[] = "GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

		assert_true(h_raw(p, ok, sizeof ok - 1, resp, sizeof resp, 5000) > 0);
	}
	assert_int_equal(raw_status(resp), 200);
}

static void headers_not_utf8(void **state)
{
	struct amicd_proc *p = *state;
	char *body = support_fixture("gitlab-push.json", NULL);
	static const char *const refused[] = {
		"X-Gitlab-Event: Push\xff Hook\r\n",
		"X-Gitlab-Event: Push Hook\r\nIdempotency-Key: \xff\xfe-key\r\n",
		"X-Gitlab-Event: Push Hook\r\nX-Gitlab-Event-UUID: \xc0\xaf\r\n",
	};
	char resp[8192], path[64];
	json_t *j, *ev, *list;
	int64_t id;

	assert_non_null(body);
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		char *req = push_request(refused[i], body);

		assert_true(h_raw(p, req, strlen(req), resp, sizeof resp, 5000) > 0);
		free(req);
		if (raw_status(resp) != 400)
			fail_msg("identity header case %zu answered: %s", i, resp);
		j = raw_json(resp);
		assert_non_null(j);
		assert_non_null(strstr(json_string_value(h_json_at(j, "error.path")), "headers."));
		json_decref(j);
	}
	/* a header amicd only keeps: stored escaped, the event listed and shown */
	{
		char *req = push_request("X-Gitlab-Event: Push Hook\r\nIdempotency-Key: utf8-ok\r\n"
					 "User-Agent: GitLab/17.\xff\\x\r\n", body);

		assert_true(h_raw(p, req, strlen(req), resp, sizeof resp, 5000) > 0);
		free(req);
	}
	assert_int_equal(raw_status(resp), 202);
	j = raw_json(resp);
	id = json_integer_value(json_object_get(j, "event_id"));
	json_decref(j);
	assert_true(id > 0);
	snprintf(path, sizeof path, "/api/v1/events/%lld", (long long)id);
	ev = h_get_json(p, path);
	assert_non_null(ev);
	assert_string_equal(json_string_value(h_json_at(ev, "headers.user-agent")), "GitLab/17.\\xff\\x5cx");
	json_decref(ev);
	list = h_get_json(p, "/api/v1/events?limit=5");
	assert_non_null(list);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(list, "events"), 0), "id")), id);
	json_decref(list);
	assert_true(h_log_contains(p, "\"delivery_id\":\"utf8-ok\""));
	free(body);
}

static void note_cut_inside_a_character(void **state)
{
	struct amicd_proc *p = *state;
	json_t *push = support_fixture_json("gitlab-push.json");
	char ref[1024] = "refs/heads/";
	char *body, *req, resp[8192];
	json_t *j, *list;

	/* an untracked branch whose name, quoted in the note, is cut at the note's size */
	for (int i = 0; i < 150; i++)
		strcat(ref, "\xc3\xa9"); /* é */
	json_object_set_new(push, "ref", json_string(ref));
	body = h_dump(push);
	req = push_request("X-Gitlab-Event: Push Hook\r\nIdempotency-Key: long-branch\r\n", body);
	assert_true(h_raw(p, req, strlen(req), resp, sizeof resp, 5000) > 0);
	if (raw_status(resp) != 200)
		fail_msg("answered: %s", resp);
	j = raw_json(resp);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "ignored");
	assert_non_null(strstr(json_string_value(json_object_get(j, "note")), "branch not tracked: "));
	json_decref(j);
	list = h_get_json(p, "/api/v1/events?limit=1");
	assert_non_null(list);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(list, "events"), 0),
							      "delivery_id")), "long-branch");
	json_decref(list);
	free(req);
	free(body);
	json_decref(push);
}

static void long_header_names_not_stored(void **state)
{
	struct amicd_proc *p = *state;
	char *body = support_fixture("gitlab-push.json", NULL);
	char extra[2048], name1[300], name2[300], path[64], resp[8192];
	char *req, *text;
	json_t *j, *ev;

	memset(name1, 'a', 250);
	name1[250] = '\0';
	memset(name2, 'b', 250);
	name2[250] = '\0';
	snprintf(extra, sizeof extra,
		 "X-Gitlab-Event: Push Hook\r\nIdempotency-Key: long-names\r\nX-Gitlab-%s-Token: s3cr3t-one\r\n"
		 "X-Custom-%s-Auth: s3cr3t-two\r\n", name1, name2);
	req = push_request(extra, body);
	assert_true(h_raw(p, req, strlen(req), resp, sizeof resp, 5000) > 0);
	assert_int_equal(raw_status(resp), 202);
	j = raw_json(resp);
	snprintf(path, sizeof path, "/api/v1/events/%lld", (long long)json_integer_value(json_object_get(j, "event_id")));
	json_decref(j);
	ev = h_get_json(p, path);
	assert_non_null(ev);
	text = h_dump(ev);
	assert_null(strstr(text, "s3cr3t"));
	assert_non_null(h_json_at(ev, "headers.x-gitlab-event"));
	free(text);
	json_decref(ev);
	assert_int_equal(h_db_int(p, "SELECT count(*) FROM event_bodies WHERE headers LIKE '%s3cr3t%'", NULL), 0);
	assert_false(h_log_contains(p, "s3cr3t"));
	free(req);
	free(body);
}

static void chunked_over_limit_413_early(void **state)
{
	struct amicd_proc *p = *state;
	const size_t limit = 1048576, total = 8 * limit, chunk = 65536;
	static char data[65536 + 32];
	char head[512], resp[4096];
	size_t sent = 0, got = 0, frame = 0;
	int fd = h_connect(p, NULL);
	struct timeval tv = { 0, 1000 };
	int64_t deadline = support_now_ms() + 20000;

	assert_true(fd >= 0);
	snprintf(head, sizeof head,
		 "POST /hooks/gitlab HTTP/1.1\r\nHost: amicd\r\nContent-Type: application/json\r\n"
		 "X-Gitlab-Token: " SUPPORT_GITLAB_TOKEN "\r\nX-Gitlab-Event: Push Hook\r\nTransfer-Encoding: chunked\r\n\r\n");
	assert_int_equal(send(fd, head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
	{
		int n = snprintf(data, sizeof data, "%zx\r\n", chunk);

		memset(data + n, ' ', chunk);
		memcpy(data + n + chunk, "\r\n", 2);
		frame = (size_t)n + chunk + 2;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	while (sent < total && support_now_ms() < deadline) {
		ssize_t n = send(fd, data, frame, MSG_NOSIGNAL | MSG_DONTWAIT);
		ssize_t r;

		if (n > 0)
			sent += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			break; /* amicd closed the connection */
		r = recv(fd, resp + got, sizeof resp - 1 - got, MSG_DONTWAIT);
		if (r > 0)
			got += (size_t)r;
		if (got > 0 && memchr(resp, '\n', got) != NULL)
			break;
	}
	while (got == 0 && support_now_ms() < deadline) {
		ssize_t r = recv(fd, resp, sizeof resp - 1, 0);

		if (r > 0)
			got = (size_t)r;
		else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			break;
	}
	resp[got] = '\0';
	close(fd);
	print_message("chunked body: %zu bytes sent of %zu when amicd answered \"%.30s\"\n", sent, total, resp);
	assert_int_equal(raw_status(resp), 413);
	assert_true(sent < total);
	{
		struct http_result r;

		assert_int_equal(h_get(p, "/metrics", NULL, &r), 0);
		assert_non_null(strstr(r.body, "amicd_http_connections_closed_total{reason=\"body_too_large\"} 1"));
		http_result_free(&r);
	}
}

/* --- connections ----------------------------------------------------------------------- */

static void slow_connections_do_not_lock_others_out(void **state)
{
	struct amicd_proc *p = *state;
	static int fds[SLOW_CONNECTIONS];
	static const char partial[] = "POST /hooks/gitlab HTTP/1.1\r\nHost: amicd\r\nContent-Type: appl";
	int opened = 0;
	CURL *c;
	char url[128];
	long status = 0;
	int64_t t0, took;
	struct curl_slist *h = NULL;
	char *body = support_fixture("gitlab-push.json", NULL);

	for (int i = 0; i < SLOW_CONNECTIONS; i++) {
		fds[i] = h_connect(p, "127.0.0.1");
		if (fds[i] >= 0) {
			opened++;
			send(fds[i], partial, sizeof partial - 1, MSG_NOSIGNAL);
		}
	}
	/* another address gets through, promptly */
	c = curl_easy_init();
	snprintf(url, sizeof url, "%s/hooks/gitlab", p->base);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "X-Gitlab-Token: " SUPPORT_GITLAB_TOKEN);
	h = curl_slist_append(h, "X-Gitlab-Event: Push Hook");
	h = curl_slist_append(h, "Idempotency-Key: other-address");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_INTERFACE, "127.0.0.2");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	t0 = support_now_ms();
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	took = support_now_ms() - t0;
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	print_message("%d slow connections opened from 127.0.0.1; a delivery from 127.0.0.2: %ld in %lld ms\n", opened,
		      status, (long long)took);
	assert_int_equal(status, 202);
	for (int i = 0; i < SLOW_CONNECTIONS; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(body);
}

static void trickling_request_closed_at_deadline(void **state)
{
	struct amicd_proc *p = *state;
	static const char req[] = "POST /hooks/gitlab HTTP/1.1\r\nHost: amicd\r\nX-Trickle: ";
	int fd = h_connect(p, NULL);
	int64_t t0 = support_now_ms(), closed_after = -1;
	struct timeval tv = { 0, 200 * 1000 };
	struct http_result r;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	assert_true(send(fd, req, sizeof req - 1, MSG_NOSIGNAL) > 0);
	/* one byte every 200 ms: the idle timeout never fires, the deadline (2 s) does */
	while (support_now_ms() - t0 < 15000) {
		char buf[256];
		ssize_t n;

		if (send(fd, "a", 1, MSG_NOSIGNAL) != 1) {
			closed_after = support_now_ms() - t0;
			break;
		}
		n = recv(fd, buf, sizeof buf, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			closed_after = support_now_ms() - t0;
			break;
		}
	}
	close(fd);
	print_message("a trickling request was closed after %lld ms (request_timeout_seconds: 2)\n",
		      (long long)closed_after);
	assert_true(closed_after >= 1500);
	assert_true(closed_after < 10000);
	assert_int_equal(h_get(p, "/metrics", NULL, &r), 0);
	assert_non_null(strstr(r.body, "amicd_http_connections_closed_total{reason=\"request_timeout\"} 1"));
	http_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(request_line_not_utf8, setup, h_proc_teardown),
		cmocka_unit_test_setup_teardown(headers_not_utf8, setup, h_proc_teardown),
		cmocka_unit_test_setup_teardown(note_cut_inside_a_character, setup, h_proc_teardown),
		cmocka_unit_test_setup_teardown(long_header_names_not_stored, setup, h_proc_teardown),
		cmocka_unit_test_setup_teardown(chunked_over_limit_413_early, setup_1mib, h_proc_teardown),
		cmocka_unit_test_setup_teardown(slow_connections_do_not_lock_others_out, setup, h_proc_teardown),
		cmocka_unit_test_setup_teardown(trickling_request_closed_at_deadline, setup_deadline, h_proc_teardown),
	};
	struct rlimit rl;

	/* room for the slow connections */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= 4096 ? 4096 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	return h_run_tests("hostile", tests, NULL, NULL);
}
