/*
 * jsonarena.h — a webhook body parsed into memory taken from one per-thread
 * block instead of a malloc per node. A push is parsed on its request path
 * once (the worker gets what it means, not the DOM); the DOM dies in the same
 * handler, so its ~150 nodes, keys and strings can come from a bump allocator
 * that is reset for the next body instead of going through malloc and free
 * one by one, with the request threads contending for the allocator.
 *
 * jsonarena_install() (once, at start, before threads) routes jansson's
 * allocations through amicd: outside jsonarena_loadb they are plain malloc
 * and free. Inside it, nodes come from the calling thread's block while it
 * has room (then from malloc); freeing a node of the block does nothing. The
 * document must be released with jsonarena_release on the same thread before
 * that thread parses the next one with the block; while a document holds the
 * block, a second jsonarena_loadb parses with malloc. Nothing taken from the
 * document may outlive the release (copy strings out first).
 *
 * Without jsonarena_install, jsonarena_loadb is json_loadb.
 */
#ifndef AMICD_JSONARENA_H
#define AMICD_JSONARENA_H

#include <jansson.h>
#include <stddef.h>

void jsonarena_install(void);
json_t *jsonarena_loadb(const char *buffer, size_t len, size_t flags, json_error_t *error);
void jsonarena_release(json_t *doc);

#endif
