/*
 * util.c — see util.h. The only module besides store.c that touches files.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void format_time(int64_t ms, char *buf, size_t size, bool with_ms)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	if (with_ms)
		snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (int)(ms % 1000));
	else
		snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void util_format_time_ms(int64_t ms, char *buf, size_t size)
{
	format_time(ms, buf, size, true);
}

void util_format_time_s(int64_t ms, char *buf, size_t size)
{
	format_time(ms, buf, size, false);
}

static bool digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool util_parse_time(const char *s, int64_t *ms)
{
	struct tm tm = { 0 };
	int year, mon, day, hour, min, sec, frac_ms = 0, off_min = 0;
	const char *p;

	if (s == NULL || strlen(s) < 20)
		return false;
	if (!digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &mon) || s[7] != '-' ||
	    !digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s + 11, 2, &hour) || s[13] != ':' || !digits(s + 14, 2, &min) ||
	    s[16] != ':' || !digits(s + 17, 2, &sec))
		return false;
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
		return false;
	p = s + 19;
	if (*p == '.') {
		int scale = 100;

		p++;
		if (*p < '0' || *p > '9')
			return false;
		for (; *p >= '0' && *p <= '9'; p++) {
			frac_ms += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;

		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om))
			return false;
		off_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return false;
	}
	if (*p != '\0')
		return false;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	*ms = ((int64_t)timegm(&tm) - (int64_t)off_min * 60) * 1000 + frac_ms;
	return true;
}

enum amicd_rc util_read_file(const char *path, size_t max, char **out, size_t *len,
			     struct amicd_error *err)
{
	enum amicd_rc rc = AMICD_OK;
	FILE *f = NULL;
	char *buf = NULL;
	size_t n = 0;

	*out = NULL;
	f = fopen(path, "rb");
	if (f == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_IO, NULL, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory reading %s", path);
		goto out;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f)) {
		rc = amicd_error_set(err, AMICD_ERR_IO, NULL, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (n > max) {
		rc = amicd_error_set(err, AMICD_ERR_IO, NULL, "%s is larger than %zu bytes", path, max);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	buf = NULL;
	if (len != NULL)
		*len = n;
out:
	free(buf);
	if (f != NULL)
		fclose(f);
	return rc;
}

enum amicd_rc util_write_file_atomic(const char *path, const void *data, size_t len,
				     struct amicd_error *err)
{
	enum amicd_rc rc = AMICD_OK;
	char *tmp = NULL;
	char *dircopy = NULL;
	int fd = -1;
	int dfd = -1;
	const char *p = data;
	size_t left = len;

	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
		tmp = NULL;
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = amicd_error_set(err, AMICD_ERR_IO, NULL, "cannot create a temp file for %s: %s",
				     path, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto out;
	}
	while (left > 0) {
		ssize_t n = write(fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = amicd_error_set(err, AMICD_ERR_IO, NULL, "cannot write %s: %s", tmp,
					     strerror(errno));
			goto out;
		}
		p += n;
		left -= (size_t)n;
	}
	if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
		rc = amicd_error_set(err, AMICD_ERR_IO, NULL, "cannot sync %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = amicd_error_set(err, AMICD_ERR_IO, NULL, "cannot close %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		rc = amicd_error_set(err, AMICD_ERR_IO, NULL, "cannot rename %s to %s: %s", tmp, path,
				     strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL; /* renamed: nothing to unlink any more */
	dircopy = strdup(path);
	if (dircopy == NULL) {
		rc = amicd_error_set(err, AMICD_ERR_NOMEM, NULL, "out of memory");
		goto out;
	}
	dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY);
	if (dfd < 0 || fsync(dfd) != 0) {
		rc = amicd_error_set(err, AMICD_ERR_IO, NULL, "cannot sync the directory of %s: %s",
				     path, strerror(errno));
		goto out;
	}
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	free(dircopy);
	return rc;
}

bool util_is_hex(const char *s, size_t n)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return s[i] == '\0';
}

bool util_is_commit(const char *s)
{
	return util_is_hex(s, 40) || util_is_hex(s, 64);
}

bool util_is_zero_sha(const char *s)
{
	size_t n = s != NULL ? strspn(s, "0") : 0;

	return (n == 40 || n == 64) && s[n] == '\0';
}
