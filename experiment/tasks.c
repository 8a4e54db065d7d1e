/* tasks.c: the three tasks of the experiment (docs/DESIGN.md §9), generated from seeds
 * by the harness's counter-based generator ca_rand64, so that any batch is a function
 * of (seed, step) alone.
 *
 * Streams: the held-out sets come from the stream HELDOUT_STREAM, the same for every
 * seed, so that every run is scored on the same sequences; training batches from stream
 * (seed, step, row, attempt). Disjointness of Count3 and Induction holds by construction:
 * a sequence is held-out iff a hash of its tokens says so (task_is_heldout); the
 * held-out generator keeps only such sequences, the training generator draws again
 * until it has none. Text is split by position: the last tenth is held out. */
#include "experiment.h"
#include "cubattn_harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint64_t HELDOUT_STREAM = 0x68656c646f7574ULL; /* "heldout" */

const char *exp_task_name(exp_task_kind k)
{
    static const char *const names[TASK_KIND_COUNT] = {"count3", "induction", "text"};
    return k >= 0 && k < TASK_KIND_COUNT ? names[k] : "?";
}

void count3_targets(const int *x, int n, int M, int *y)
{
    /* hist[v]: tokens before t equal to v; pairs[r]: pairs i < j < t with
     * (x_i + x_j) mod M = r. Target t counts pairs[(M - x_t) mod M]; then x_t joins:
     * it pairs with every earlier token, O(M). Counts stay below n^2 / 2. */
    int64_t *hist = calloc((size_t)M, sizeof *hist), *pairs = calloc((size_t)M, sizeof *pairs);
    if (!hist || !pairs) abort();
    for (int t = 0; t < n; t++) {
        const int xt = x[t];
        y[t] = t < 2 ? -1 : (int)(pairs[(M - xt) % M] % M);
        for (int v = 0; v < M; v++) pairs[(v + xt) % M] += hist[v];
        hist[xt]++;
    }
    free(hist);
    free(pairs);
}

void induction_targets(const int *x, int n, int K, int *y)
{
    int *last = malloc((size_t)K * sizeof *last); /* last[v]: latest position of v, or -1 */
    if (!last) abort();
    for (int v = 0; v < K; v++) last[v] = -1;
    for (int t = 0; t < n; t++) {
        const int j = last[x[t]];
        y[t] = j >= 0 ? x[j + 1] : K;
        last[x[t]] = t;
    }
    free(last);
}

/* FNV-1a over the tokens; one sequence in four is held-out. */
int task_is_heldout(const int *x, int n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < n; i++) {
        h ^= (uint64_t)(uint32_t)x[i];
        h *= 0x100000001b3ULL;
    }
    return (h >> 17) % 4 == 0;
}

static uint64_t key3(uint64_t a, uint64_t b, uint64_t c)
{
    return ca_rand64(ca_rand64(a, b), c);
}

/* One Count3 / Induction sequence from stream key, tokens uniform on [0, m), with its
 * targets. */
static void draw(const exp_task *t, uint64_t key, int *x, int *y)
{
    for (int i = 0; i < t->n; i++) x[i] = (int)(ca_rand64(key, (uint64_t)i) % (uint64_t)t->m);
    if (t->kind == TASK_COUNT3) count3_targets(x, t->n, t->m, y);
    else induction_targets(x, t->n, t->m, y);
}

/* A text window at start: tokens text[start..start+n), targets the next characters. */
static void window(const exp_task *t, size_t start, int *x, int *y)
{
    for (int i = 0; i < t->n; i++) {
        x[i] = t->text[start + (size_t)i];
        y[i] = t->text[start + (size_t)i + 1];
    }
}

void task_batch(const exp_task *t, uint64_t seed, int64_t step, int B, int *tokens,
                int *targets)
{
    for (int b = 0; b < B; b++) {
        int *x = tokens + (size_t)b * t->n, *y = targets + (size_t)b * t->n;
        const uint64_t row = key3(seed, (uint64_t)step, (uint64_t)b);
        if (t->kind == TASK_TEXT) {
            /* starts 0 .. train_len - n - 1: tokens and targets in the training part */
            window(t, (size_t)(ca_rand64(row, 0) % (t->train_len - (size_t)t->n)), x, y);
            continue;
        }
        for (uint64_t attempt = 0;; attempt++) {
            draw(t, ca_rand64(row, attempt + 1), x, y);
            if (!task_is_heldout(x, t->n)) break;
        }
    }
}

static const char *load_text(exp_task *t)
{
    FILE *f = fopen(EXP_TEXT_PATH, "rb");
    if (!f) return "cannot open " EXP_TEXT_PATH " (Debian's base-files package)";
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 65536;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) { free(buf); fclose(f); return "out of memory"; }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    const int bad = ferror(f);
    fclose(f);
    if (bad) { free(buf); return "read error on " EXP_TEXT_PATH; }
    /* The vocabulary: the bytes present, in byte order. */
    int map[256];
    for (int i = 0; i < 256; i++) map[i] = -1;
    for (size_t i = 0; i < len; i++) map[buf[i]] = 0;
    t->vocab = 0;
    for (int i = 0; i < 256; i++)
        if (map[i] == 0) map[i] = t->vocab++;
    t->text = malloc((len ? len : 1) * sizeof *t->text);
    if (!t->text) { free(buf); return "out of memory"; }
    for (size_t i = 0; i < len; i++) t->text[i] = map[buf[i]];
    free(buf);
    t->text_len = len;
    t->train_len = len - len / 10;
    if (t->train_len < (size_t)t->n + 2 || len - t->train_len < (size_t)t->n + 1)
        return EXP_TEXT_PATH " is too short for the window length";
    return NULL;
}

/* Chance levels of the held-out targets (exp_task). */
static void chance(exp_task *t)
{
    const int V = t->vocab;
    double *held = calloc((size_t)V, sizeof *held), *train = calloc((size_t)V, sizeof *train);
    if (!held || !train) abort();
    double total = 0;
    for (size_t i = 0; i < (size_t)t->tests * (size_t)t->n; i++)
        if (t->test_targets[i] >= 0) { held[t->test_targets[i]]++; total++; }
    double top = 0, bits = 0;
    for (int v = 0; v < V; v++) top = fmax(top, held[v]);
    if (t->kind == TASK_TEXT) {
        for (size_t i = 1; i < t->train_len; i++) train[t->text[i]]++; /* the targets */
        const double tn = (double)(t->train_len - 1) + V;
        for (int v = 0; v < V; v++)
            if (held[v] > 0) bits -= held[v] * log2((train[v] + 1) / tn);
    } else {
        for (int v = 0; v < V; v++)
            if (held[v] > 0) bits -= held[v] * log2(held[v] / total);
    }
    t->chance_acc = total > 0 ? top / total : NAN;
    t->chance_bits = total > 0 ? bits / total : NAN;
    free(held);
    free(train);
}

const char *task_init(exp_task *t, exp_task_kind kind, int n, int m, int max_tests)
{
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->n = n;
    t->m = m;
    if (n < 3 || max_tests < 1) return "N must be >= 3 and the held-out set non-empty";
    if (kind == TASK_TEXT) {
        const char *why = load_text(t);
        if (why) return why;
        t->tests = (int)((t->text_len - t->train_len - 1) / (size_t)n);
        if (t->tests > max_tests) t->tests = max_tests;
    } else {
        if (m < 2) return "the modulus / alphabet must be >= 2";
        t->vocab = kind == TASK_COUNT3 ? m : m + 1;
        t->tests = max_tests;
    }
    t->test_tokens = malloc((size_t)t->tests * n * sizeof *t->test_tokens);
    t->test_targets = malloc((size_t)t->tests * n * sizeof *t->test_targets);
    if (!t->test_tokens || !t->test_targets) return "out of memory";
    for (int s = 0; s < t->tests; s++) {
        int *x = t->test_tokens + (size_t)s * n, *y = t->test_targets + (size_t)s * n;
        if (kind == TASK_TEXT) {
            window(t, t->train_len + (size_t)s * (size_t)n, x, y);
            continue;
        }
        for (uint64_t attempt = 0;; attempt++) {
            draw(t, key3(HELDOUT_STREAM, (uint64_t)s, attempt), x, y);
            if (task_is_heldout(x, n)) break;
        }
    }
    chance(t);
    return NULL;
}

void task_free(exp_task *t)
{
    free(t->text);
    free(t->test_tokens);
    free(t->test_targets);
    memset(t, 0, sizeof *t);
}
