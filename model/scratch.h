/* scratch.h: the buffers of one model call (activations, gradients, workspaces), taken
 * and given back through a small cache of freed blocks (internal to model/).
 *
 * Why: a training step asks for the same buffers thousands of times, and a freshly
 * allocated large block is a fresh mapping whose every page faults on its first touch:
 * at d_model 64, batch 64, N 16 the faults took more time than every product of the
 * step. A freed block is kept for the next request it fits (at most twice its size, so
 * that a small request never pins a large block), up to an eighth of the memory in all;
 * large blocks are also asked for transparent huge pages, 512x fewer faults at first
 * touch. Thread-safe (blocks move through atomic slots). Under AddressSanitizer nothing
 * is kept, so that every buffer is still checked on its own. */
#ifndef MODEL_SCRATCH_H
#define MODEL_SCRATCH_H

#include <stddef.h>

/* 64-byte aligned, uninitialised; NULL when out of memory. bytes 0 is a valid request. */
void *model_scratch_alloc(size_t bytes);
/* model_scratch_alloc, zeroed. */
void *model_scratch_calloc(size_t bytes);
/* p from model_scratch_alloc, or NULL. */
void model_scratch_free(void *p);

#endif
