/* scratch.c: the model's buffer cache (scratch.h). */
#define _DEFAULT_SOURCE /* madvise */
#include "scratch.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SCRATCH_SLOTS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SCRATCH_SLOTS 0
#endif
#endif
#ifndef SCRATCH_SLOTS
#define SCRATCH_SLOTS 64 /* well above the buffers one training step holds at once (~30) */
#endif
#define HUGE_FROM ((size_t)4 << 20)    /* blocks from here on: 2 MiB aligned, huge pages */
#define HUGE_PAGE ((size_t)2 << 20)

/* Each block starts with its header; the caller's pointer is one header further. */
typedef struct header {
    size_t cap;   /* bytes usable after the header */
    void *base;   /* what aligned_alloc returned */
    char pad[48]; /* the caller's pointer stays 64-byte aligned */
} header;
_Static_assert(sizeof(header) == 64, "the header keeps 64-byte alignment");

#if SCRATCH_SLOTS
static _Atomic(header *) slots[SCRATCH_SLOTS];
static atomic_size_t kept;

/* Bytes kept in all, at most: an eighth of the memory (1 GiB if unknown), enough for
 * every buffer of a training step up to N = 256 at d_model 128 (L = 4, packed cubic). */
static size_t keep_limit(void)
{
    static atomic_size_t limit;
    size_t l = atomic_load(&limit);
    if (!l) {
        const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
        l = pages > 0 && size > 0 ? (size_t)pages / 8 * (size_t)size : (size_t)1 << 30;
        atomic_store(&limit, l);
    }
    return l;
}
#endif

static void release(header *h) { free(h->base); }

static header *fresh(size_t bytes)
{
    if (bytes > SIZE_MAX - 2 * HUGE_PAGE) return NULL;
    const int huge = bytes >= HUGE_FROM;
    const size_t align = huge ? HUGE_PAGE : 64;
    /* The header sits just below the caller's block; with huge pages the block is what
     * is aligned, so the header takes the last 64 bytes of the page before it. */
    const size_t lead = huge ? HUGE_PAGE : sizeof(header);
    const size_t total = (lead + bytes + align - 1) / align * align;
    char *base = aligned_alloc(align, total);
    if (!base) return NULL;
    header *h = (header *)(base + lead - sizeof(header));
    h->cap = total - lead;
    h->base = base;
#ifdef MADV_HUGEPAGE
    if (huge) madvise(base + lead, h->cap / HUGE_PAGE * HUGE_PAGE, MADV_HUGEPAGE);
#endif
    return h;
}

void *model_scratch_alloc(size_t bytes)
{
#if SCRATCH_SLOTS
    for (int i = 0; i < SCRATCH_SLOTS; i++) {
        header *h = atomic_exchange(&slots[i], NULL);
        if (!h) continue;
        if (h->cap >= bytes && h->cap / 2 <= bytes) {
            atomic_fetch_sub(&kept, h->cap);
            return h + 1;
        }
        header *empty = NULL;
        if (!atomic_compare_exchange_strong(&slots[i], &empty, h)) {
            atomic_fetch_sub(&kept, h->cap);
            release(h);
        }
    }
#endif
    header *h = fresh(bytes);
    return h ? h + 1 : NULL;
}

void *model_scratch_calloc(size_t bytes)
{
    void *p = model_scratch_alloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void model_scratch_free(void *p)
{
    if (!p) return;
    header *h = (header *)p - 1;
#if SCRATCH_SLOTS
    if (atomic_fetch_add(&kept, h->cap) + h->cap <= keep_limit())
        for (int i = 0; i < SCRATCH_SLOTS; i++) {
            header *empty = NULL;
            if (atomic_compare_exchange_strong(&slots[i], &empty, h)) return;
        }
    atomic_fetch_sub(&kept, h->cap);
#endif
    release(h);
}
