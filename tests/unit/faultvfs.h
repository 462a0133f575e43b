/*
 * faultvfs.h — fault injection below SQLite: a VFS shim over the default one
 * (as SQLite's own test_vfs.c and *fault*.test do) that makes chosen I/O calls
 * fail with a chosen error code, so SQLite's own error handling and recovery
 * run in the test exactly as they would on a full or failing disk.
 *
 * faultvfs_register() installs the shim as the default VFS: every connection
 * opened afterwards (store_open included) goes through it. Until a fault is
 * armed, every call is passed through untouched; the shim only counts them.
 *
 * Operations are the file methods xWrite, xSync, xTruncate and xRead. A fault
 * fails the nth matching call from the moment it is armed (1 = the next one),
 * and with persistent every later matching call too, until faultvfs_disarm().
 * Thread-safe: the counters and the armed fault are guarded by a mutex, so a
 * fault fires on whichever thread makes the call (the ingest writer, the worker).
 */
#ifndef AMICD_TEST_FAULTVFS_H
#define AMICD_TEST_FAULTVFS_H

#include <stdbool.h>

enum faultvfs_op {
	FAULTVFS_WRITE = 1 << 0,
	FAULTVFS_SYNC = 1 << 1,
	FAULTVFS_TRUNCATE = 1 << 2,
	FAULTVFS_READ = 1 << 3,
};
#define FAULTVFS_MUTATING (FAULTVFS_WRITE | FAULTVFS_SYNC | FAULTVFS_TRUNCATE)

/* Which files a fault applies to. */
enum faultvfs_file {
	FAULTVFS_ANY = 0,
	FAULTVFS_DB,      /* the main database file */
	FAULTVFS_WAL,     /* the write-ahead log */
};

/* faultvfs_register — install the shim as the default VFS (idempotent). 0 or an SQLite error code. */
int faultvfs_register(void);

/* faultvfs_arm — fail the nth call of ops on file with rc (SQLite's code, e.g. SQLITE_FULL). */
void faultvfs_arm(unsigned ops, enum faultvfs_file file, int nth, bool persistent, int rc);

/*
 * faultvfs_only_thread — from the next faultvfs_arm on, fail (and count) only
 * calls made on threads whose name (pthread_setname_np) is name, e.g.
 * "amicd-worker"; NULL: any thread. Cleared by faultvfs_disarm.
 */
void faultvfs_only_thread(const char *name);

/*
 * faultvfs_hold — from now on, calls of ops made by the thread called thread
 * (pthread_setname_np; NULL: any) wait, as on a hung disk, until
 * faultvfs_release. faultvfs_held — how many calls are waiting now.
 */
void faultvfs_hold(unsigned ops, const char *thread);
void faultvfs_release(void);
int faultvfs_held(void);

/* faultvfs_disarm — stop failing calls. */
void faultvfs_disarm(void);

/* faultvfs_fired — calls failed since the last faultvfs_arm. */
int faultvfs_fired(void);

/* faultvfs_count — calls of ops (any file; only the chosen thread's, if one is) since the last faultvfs_count_reset. */
int faultvfs_count(unsigned ops);
void faultvfs_count_reset(void);

/* The SQLite code each op fails with to look like a full disk / an I/O error. */
int faultvfs_full_rc(unsigned op);
int faultvfs_ioerr_rc(unsigned op);

#endif
