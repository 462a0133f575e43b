/*
 * faultvfs.c — the fault-injecting VFS shim (see faultvfs.h).
 *
 * Each file opened through the shim is a struct ffile: the shim's own header
 * followed by the real VFS's sqlite3_file (szOsFile is the real size plus
 * ours). Every io method forwards to the real one; xWrite, xSync, xTruncate
 * and xRead first ask fault_check() whether this call is the one to fail.
 * The shared-memory methods (WAL index) are forwarded untouched.
 */
#include "faultvfs.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

struct ffile {
	sqlite3_file base;        /* must be first */
	enum faultvfs_file kind;
	sqlite3_file *real;       /* points just past this struct */
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs shim;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t released = PTHREAD_COND_INITIALIZER;
static struct {
	bool holding;
	unsigned ops;
	char thread[16];             /* "" : any */
	int waiting;
} hold;
static struct {
	bool armed;
	unsigned ops;
	enum faultvfs_file file;
	int nth;
	bool persistent;
	int rc;
	int seen;
	int fired;
	int counts[4];
	char thread[16];             /* only calls from this thread ("" : any) */
} state;

static bool on_chosen_thread(void)
{
	char name[16];

	if (state.thread[0] == '\0')
		return true;
	return pthread_getname_np(pthread_self(), name, sizeof name) == 0 && strcmp(name, state.thread) == 0;
}

static int op_index(unsigned op)
{
	switch (op) {
	case FAULTVFS_WRITE: return 0;
	case FAULTVFS_SYNC: return 1;
	case FAULTVFS_TRUNCATE: return 2;
	default: return 3;
	}
}

/* Whether the calling thread is the one hold names (any, when none is named). */
static bool held_thread(void)
{
	char name[16];

	return hold.thread[0] == '\0' ||
	       (pthread_getname_np(pthread_self(), name, sizeof name) == 0 && strcmp(name, hold.thread) == 0);
}

/* 0 to go ahead with the call, or the error code it must fail with. */
static int fault_check(const struct ffile *f, unsigned op)
{
	int rc = 0;

	pthread_mutex_lock(&lock);
	if (hold.holding && (hold.ops & op) != 0 && held_thread()) {
		hold.waiting++;
		while (hold.holding)
			pthread_cond_wait(&released, &lock);
		hold.waiting--;
	}
	if (!on_chosen_thread()) {
		pthread_mutex_unlock(&lock);
		return 0;
	}
	state.counts[op_index(op)]++;
	if (state.armed && (state.ops & op) != 0 && (state.file == FAULTVFS_ANY || state.file == f->kind)) {
		state.seen++;
		if (state.seen == state.nth || (state.persistent && state.seen > state.nth)) {
			state.fired++;
			rc = state.rc;
		}
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

static int f_close(sqlite3_file *p)
{
	struct ffile *f = (struct ffile *)p;
	int rc = f->real->pMethods != NULL ? f->real->pMethods->xClose(f->real) : SQLITE_OK;

	p->pMethods = NULL;
	return rc;
}

static int f_read(sqlite3_file *p, void *buf, int amt, sqlite3_int64 off)
{
	struct ffile *f = (struct ffile *)p;
	int rc = fault_check(f, FAULTVFS_READ);

	return rc != 0 ? rc : f->real->pMethods->xRead(f->real, buf, amt, off);
}

static int f_write(sqlite3_file *p, const void *buf, int amt, sqlite3_int64 off)
{
	struct ffile *f = (struct ffile *)p;
	int rc = fault_check(f, FAULTVFS_WRITE);

	return rc != 0 ? rc : f->real->pMethods->xWrite(f->real, buf, amt, off);
}

static int f_truncate(sqlite3_file *p, sqlite3_int64 size)
{
	struct ffile *f = (struct ffile *)p;
	int rc = fault_check(f, FAULTVFS_TRUNCATE);

	return rc != 0 ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int f_sync(sqlite3_file *p, int flags)
{
	struct ffile *f = (struct ffile *)p;
	int rc = fault_check(f, FAULTVFS_SYNC);

	return rc != 0 ? rc : f->real->pMethods->xSync(f->real, flags);
}

#define REAL(p) (((struct ffile *)(p))->real)

static int f_size(sqlite3_file *p, sqlite3_int64 *size) { return REAL(p)->pMethods->xFileSize(REAL(p), size); }
static int f_lock(sqlite3_file *p, int l) { return REAL(p)->pMethods->xLock(REAL(p), l); }
static int f_unlock(sqlite3_file *p, int l) { return REAL(p)->pMethods->xUnlock(REAL(p), l); }
static int f_check_reserved(sqlite3_file *p, int *out) { return REAL(p)->pMethods->xCheckReservedLock(REAL(p), out); }
static int f_control(sqlite3_file *p, int op, void *arg) { return REAL(p)->pMethods->xFileControl(REAL(p), op, arg); }
static int f_sector(sqlite3_file *p) { return REAL(p)->pMethods->xSectorSize(REAL(p)); }
static int f_caps(sqlite3_file *p) { return REAL(p)->pMethods->xDeviceCharacteristics(REAL(p)); }

static int f_shm_map(sqlite3_file *p, int region, int size, int extend, void volatile **out)
{
	return REAL(p)->pMethods->xShmMap(REAL(p), region, size, extend, out);
}

static int f_shm_lock(sqlite3_file *p, int offset, int n, int flags)
{
	return REAL(p)->pMethods->xShmLock(REAL(p), offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *p) { REAL(p)->pMethods->xShmBarrier(REAL(p)); }
static int f_shm_unmap(sqlite3_file *p, int del) { return REAL(p)->pMethods->xShmUnmap(REAL(p), del); }

static int f_fetch(sqlite3_file *p, sqlite3_int64 off, int amt, void **out)
{
	return REAL(p)->pMethods->xFetch(REAL(p), off, amt, out);
}

static int f_unfetch(sqlite3_file *p, sqlite3_int64 off, void *ptr)
{
	return REAL(p)->pMethods->xUnfetch(REAL(p), off, ptr);
}

static const sqlite3_io_methods methods = {
	.iVersion = 3,
	.xClose = f_close,
	.xRead = f_read,
	.xWrite = f_write,
	.xTruncate = f_truncate,
	.xSync = f_sync,
	.xFileSize = f_size,
	.xLock = f_lock,
	.xUnlock = f_unlock,
	.xCheckReservedLock = f_check_reserved,
	.xFileControl = f_control,
	.xSectorSize = f_sector,
	.xDeviceCharacteristics = f_caps,
	.xShmMap = f_shm_map,
	.xShmLock = f_shm_lock,
	.xShmBarrier = f_shm_barrier,
	.xShmUnmap = f_shm_unmap,
	.xFetch = f_fetch,
	.xUnfetch = f_unfetch,
};

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *p, int flags, int *out_flags)
{
	struct ffile *f = (struct ffile *)p;
	int rc;

	(void)vfs;
	memset(f, 0, sizeof *f);
	f->real = (sqlite3_file *)(f + 1);
	f->kind = (flags & SQLITE_OPEN_MAIN_DB) ? FAULTVFS_DB : (flags & SQLITE_OPEN_WAL) ? FAULTVFS_WAL : FAULTVFS_ANY;
	rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
	/* SQLite calls xClose only when pMethods is set: set ours only when the real open worked */
	p->pMethods = f->real->pMethods != NULL ? &methods : NULL;
	return rc;
}

static int v_delete(sqlite3_vfs *v, const char *name, int sync) { (void)v; return real_vfs->xDelete(real_vfs, name, sync); }
static int v_access(sqlite3_vfs *v, const char *name, int flags, int *out) { (void)v; return real_vfs->xAccess(real_vfs, name, flags, out); }
static int v_full(sqlite3_vfs *v, const char *name, int n, char *out) { (void)v; return real_vfs->xFullPathname(real_vfs, name, n, out); }
static void *v_dlopen(sqlite3_vfs *v, const char *name) { (void)v; return real_vfs->xDlOpen(real_vfs, name); }
static void v_dlerror(sqlite3_vfs *v, int n, char *out) { (void)v; real_vfs->xDlError(real_vfs, n, out); }
static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void) { (void)v; return real_vfs->xDlSym(real_vfs, h, sym); }
static void v_dlclose(sqlite3_vfs *v, void *h) { (void)v; real_vfs->xDlClose(real_vfs, h); }
static int v_random(sqlite3_vfs *v, int n, char *out) { (void)v; return real_vfs->xRandomness(real_vfs, n, out); }
static int v_sleep(sqlite3_vfs *v, int us) { (void)v; return real_vfs->xSleep(real_vfs, us); }
static int v_time(sqlite3_vfs *v, double *out) { (void)v; return real_vfs->xCurrentTime(real_vfs, out); }
static int v_last_error(sqlite3_vfs *v, int n, char *out) { (void)v; return real_vfs->xGetLastError(real_vfs, n, out); }
static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out) { (void)v; return real_vfs->xCurrentTimeInt64(real_vfs, out); }

int faultvfs_register(void)
{
	int rc = SQLITE_OK;

	pthread_mutex_lock(&lock);
	if (real_vfs == NULL) {
		real_vfs = sqlite3_vfs_find(NULL);
		if (real_vfs == NULL) {
			rc = SQLITE_ERROR;
		} else {
			shim = (sqlite3_vfs){
				.iVersion = 2,
				.szOsFile = (int)sizeof(struct ffile) + real_vfs->szOsFile,
				.mxPathname = real_vfs->mxPathname,
				.zName = "amicd-faultvfs",
				.xOpen = v_open,
				.xDelete = v_delete,
				.xAccess = v_access,
				.xFullPathname = v_full,
				.xDlOpen = v_dlopen,
				.xDlError = v_dlerror,
				.xDlSym = v_dlsym,
				.xDlClose = v_dlclose,
				.xRandomness = v_random,
				.xSleep = v_sleep,
				.xCurrentTime = v_time,
				.xGetLastError = v_last_error,
				.xCurrentTimeInt64 = v_time64,
			};
			rc = sqlite3_vfs_register(&shim, 1);
		}
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void faultvfs_arm(unsigned ops, enum faultvfs_file file, int nth, bool persistent, int rc)
{
	pthread_mutex_lock(&lock);
	state.armed = true;
	state.ops = ops;
	state.file = file;
	state.nth = nth;
	state.persistent = persistent;
	state.rc = rc;
	state.seen = 0;
	state.fired = 0;
	pthread_mutex_unlock(&lock);
}

void faultvfs_only_thread(const char *name)
{
	pthread_mutex_lock(&lock);
	snprintf(state.thread, sizeof state.thread, "%s", name != NULL ? name : "");
	pthread_mutex_unlock(&lock);
}

void faultvfs_disarm(void)
{
	pthread_mutex_lock(&lock);
	state.armed = false;
	state.thread[0] = '\0';
	hold.holding = false; /* nothing is left waiting */
	pthread_cond_broadcast(&released);
	pthread_mutex_unlock(&lock);
}

int faultvfs_fired(void)
{
	int n;

	pthread_mutex_lock(&lock);
	n = state.fired;
	pthread_mutex_unlock(&lock);
	return n;
}

int faultvfs_count(unsigned ops)
{
	int n = 0;

	pthread_mutex_lock(&lock);
	for (unsigned op = FAULTVFS_WRITE; op <= FAULTVFS_READ; op <<= 1)
		if (ops & op)
			n += state.counts[op_index(op)];
	pthread_mutex_unlock(&lock);
	return n;
}

void faultvfs_count_reset(void)
{
	pthread_mutex_lock(&lock);
	memset(state.counts, 0, sizeof state.counts);
	pthread_mutex_unlock(&lock);
}

int faultvfs_full_rc(unsigned op)
{
	return op == FAULTVFS_READ ? SQLITE_IOERR_READ : SQLITE_FULL;
}

int faultvfs_ioerr_rc(unsigned op)
{
	switch (op) {
	case FAULTVFS_WRITE: return SQLITE_IOERR_WRITE;
	case FAULTVFS_SYNC: return SQLITE_IOERR_FSYNC;
	case FAULTVFS_TRUNCATE: return SQLITE_IOERR_TRUNCATE;
	default: return SQLITE_IOERR_READ;
	}
}

void faultvfs_hold(unsigned ops, const char *thread)
{
	pthread_mutex_lock(&lock);
	hold.holding = true;
	hold.ops = ops;
	snprintf(hold.thread, sizeof hold.thread, "%s", thread != NULL ? thread : "");
	pthread_mutex_unlock(&lock);
}

void faultvfs_release(void)
{
	pthread_mutex_lock(&lock);
	hold.holding = false;
	pthread_cond_broadcast(&released);
	pthread_mutex_unlock(&lock);
}

int faultvfs_held(void)
{
	int n;

	pthread_mutex_lock(&lock);
	n = hold.waiting;
	pthread_mutex_unlock(&lock);
	return n;
}
