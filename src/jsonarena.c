/*
 * jsonarena.c — bump allocation for a parsed body (see jsonarena.h).
 */
#include "jsonarena.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define ARENA_BYTES (64u << 10) /* a 3 KB push takes ~14 KB of nodes */
#define ARENA_ALIGN 16u

struct arena {
	char *buf;
	size_t used;
	bool active;            /* inside jsonarena_loadb */
	const json_t *owner;    /* the document parsed into it, until released (NULL: free) */
};

static bool installed;
static pthread_key_t arena_key;
static __thread struct arena *tl_arena;

static void arena_destroy(void *p)
{
	struct arena *a = p;

	if (a != NULL)
		free(a->buf);
	free(a);
}

static bool in_arena(const struct arena *a, const void *p)
{
	return a != NULL && (const char *)p >= a->buf && (const char *)p < a->buf + ARENA_BYTES;
}

static void *arena_malloc(size_t n)
{
	struct arena *a = tl_arena;

	if (a != NULL && a->active) {
		size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);

		if (need >= n && a->used + need <= ARENA_BYTES) {
			void *p = a->buf + a->used;

			a->used += need;
			return p;
		}
	}
	return malloc(n);
}

static void arena_free(void *p)
{
	if (p == NULL || in_arena(tl_arena, p))
		return; /* the block is reset as a whole */
	free(p);
}

void jsonarena_install(void)
{
	if (installed || pthread_key_create(&arena_key, arena_destroy) != 0)
		return;
	json_set_alloc_funcs(arena_malloc, arena_free);
	installed = true;
}

/* The calling thread's block, made on first use; NULL when it cannot be. */
static struct arena *thread_arena(void)
{
	struct arena *a = tl_arena;

	if (a != NULL || !installed)
		return a;
	a = calloc(1, sizeof *a);
	if (a == NULL)
		return NULL;
	a->buf = malloc(ARENA_BYTES);
	if (a->buf == NULL || pthread_setspecific(arena_key, a) != 0) {
		free(a->buf);
		free(a);
		return NULL;
	}
	tl_arena = a;
	return a;
}

json_t *jsonarena_loadb(const char *buffer, size_t len, size_t flags, json_error_t *error)
{
	struct arena *a = thread_arena();
	json_t *doc;

	if (a == NULL || a->owner != NULL)
		return json_loadb(buffer, len, flags, error);
	a->used = 0;
	a->active = true;
	doc = json_loadb(buffer, len, flags, error);
	a->active = false;
	a->owner = doc;
	return doc;
}

void jsonarena_release(json_t *doc)
{
	struct arena *a = tl_arena;

	if (doc == NULL)
		return;
	json_decref(doc);
	if (a != NULL && a->owner == doc)
		a->owner = NULL;
}
