/* tasks.c: the four tasks of the experiment (docs/DESIGN.md §9.1), generated from seeds
 * by the harness's counter-based generator ca_rand64, so that any batch is a function
 * of (seed, step) alone.
 *
 * Streams: the held-out sets come from the stream HELDOUT_STREAM, the same for every
 * seed, so that every run is scored on the same sequences; training batches from stream
 * (seed, step, row, attempt); the position-only floor from FLOOR_STREAM. Disjointness of
 * the generated tasks holds by construction: a sequence is held-out iff a hash of its
 * seed says so (task_is_heldout: count3's S seed tokens, which determine the rest; the
 * whole sequence for the others); the held-out generator keeps only such sequences, the
 * training generator draws again until it has none. Text is split by position: the
 * last tenth is held out. */
#include "experiment.h"
#include "cubattn_harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint64_t HELDOUT_STREAM = 0x68656c646f7574ULL; /* "heldout" */
static const uint64_t FLOOR_STREAM = 0x666c6f6f72ULL;        /* "floor" */
/* Sequences the position-only floor is estimated from (docs/DESIGN.md §9.1). */
#define FLOOR_SEQUENCES (1 << 17)

const char *exp_task_name(exp_task_kind k)
{
    static const char *const names[TASK_KIND_COUNT] = {"count3", "count3_fixed", "induction",
                                                       "text"};
    return k >= 0 && k < TASK_KIND_COUNT ? names[k] : "?";
}

void count3_sequence(const int *seeds, int S, int NB, int *z)
{
    /* z_{n+1} = #{(i, j) in [1..n]^2: z_i + z_j + z_n = 0 mod n} mod n. With
     * cnt[r] = #{i: (z_i + z_n) mod n = r}, the count is sum_j cnt[(n - z_j mod n) mod n]:
     * O(n) per token. Counts stay below n^2 <= NB^2. */
    int64_t *cnt = calloc((size_t)NB + 1, sizeof *cnt);
    if (!cnt) abort();
    for (int i = 0; i < S; i++) z[i] = seeds[i];
    for (int n = S; n <= NB; n++) {
        const int last = z[n - 1];
        memset(cnt, 0, (size_t)n * sizeof *cnt);
        for (int i = 0; i < n; i++) cnt[(z[i] + last) % n]++;
        int64_t count = 0;
        for (int j = 0; j < n; j++) count += cnt[(n - z[j] % n) % n];
        z[n] = (int)(count % n);
    }
    free(cnt);
}

void count3_fixed_targets(const int *x, int n, int M, int *y)
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

/* FNV-1a over the seed tokens; one seed in four is held-out. */
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

/* One generated sequence from stream key, with its targets: count3 from S seed tokens
 * uniform on [0, NB) (input z_1..z_NB, targets z_2..z_{NB+1} scored from position S+1
 * on); count3_fixed and induction from tokens uniform on [0, m). */
static void draw(const exp_task *t, uint64_t key, int *x, int *y)
{
    if (t->kind == TASK_COUNT3) {
        int z[EXP_MAX_N + 1];
        for (int i = 0; i < t->seed_len; i++)
            z[i] = (int)(ca_rand64(key, (uint64_t)i) % (uint64_t)t->n);
        count3_sequence(z, t->seed_len, t->n, z);
        for (int i = 0; i < t->n; i++) {
            x[i] = z[i];
            y[i] = i >= t->seed_len ? z[i + 1] : -1;
        }
        return;
    }
    for (int i = 0; i < t->n; i++) x[i] = (int)(ca_rand64(key, (uint64_t)i) % (uint64_t)t->m);
    if (t->kind == TASK_COUNT3_FIXED) count3_fixed_targets(x, t->n, t->m, y);
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
            if (!task_is_heldout(x, t->seed_len)) break;
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

/* The unigram floor of text: the training part's character frequencies, add-one
 * smoothed, scored on the held-out targets (accuracy of always answering the most
 * frequent character; cross-entropy in bits). */
static void floor_unigram(exp_task *t)
{
    const int V = t->vocab;
    double *train = calloc((size_t)V, sizeof *train);
    if (!train) abort();
    for (size_t i = 1; i < t->train_len; i++) train[t->text[i]]++; /* the targets */
    const double tn = (double)(t->train_len - 1) + V;
    int top = 0;
    for (int v = 0; v < V; v++)
        if (train[v] > train[top]) top = v;
    double hits = 0, bits = 0, total = 0;
    for (size_t i = 0; i < (size_t)t->tests * (size_t)t->n; i++) {
        const int y = t->test_targets[i];
        hits += y == top;
        bits -= log2((train[y] + 1) / tn);
        total++;
    }
    t->floor_acc = hits / total;
    t->floor_bits = bits / total;
    free(train);
}

/* The position-only floor of a generated task (docs/DESIGN.md §9.1): per position the
 * frequencies f_t of the target over FLOOR_SEQUENCES sequences of the task's
 * distribution; the mean over scored positions of max_v f_t(v) and of the entropy of
 * f_t in bits. */
static void floor_position(exp_task *t)
{
    const int n = t->n, V = t->vocab;
    double *f = calloc((size_t)n * V, sizeof *f);
    int *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    if (!f || !x || !y) abort();
    for (int s = 0; s < FLOOR_SEQUENCES; s++) {
        draw(t, key3(FLOOR_STREAM, (uint64_t)s, 0), x, y);
        for (int i = 0; i < n; i++)
            if (y[i] >= 0) f[(size_t)i * V + y[i]]++;
    }
    double acc = 0, bits = 0;
    int scored = 0;
    for (int i = 0; i < n; i++) {
        const double *fi = f + (size_t)i * V;
        double total = 0, top = 0, h = 0;
        for (int v = 0; v < V; v++) total += fi[v], top = fmax(top, fi[v]);
        if (total == 0) continue; /* a position without a target */
        for (int v = 0; v < V; v++)
            if (fi[v] > 0) h -= fi[v] / total * log2(fi[v] / total);
        acc += top / total;
        bits += h;
        scored++;
    }
    t->floor_acc = acc / scored;
    t->floor_bits = bits / scored;
    free(f); free(x); free(y);
}

/* True when the held-out sequence s equals an earlier one. */
static int repeats(const exp_task *t, int s)
{
    const int *x = t->test_tokens + (size_t)s * t->n;
    for (int r = 0; r < s; r++)
        if (!memcmp(x, t->test_tokens + (size_t)r * t->n, (size_t)t->seed_len * sizeof *x))
            return 1;
    return 0;
}

const char *task_init(exp_task *t, exp_task_kind kind, int n, int m, int max_tests)
{
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->n = n;
    t->m = m;
    t->seed_len = n;
    if (n < 3 || n > EXP_MAX_N || max_tests < 1)
        return "N must be in [3, " EXP_STR(EXP_MAX_N) "] and the held-out set non-empty";
    if (kind == TASK_TEXT) {
        const char *why = load_text(t);
        if (why) return why;
        t->tests = (int)((t->text_len - t->train_len - 1) / (size_t)n);
        if (t->tests > max_tests) t->tests = max_tests;
    } else if (kind == TASK_COUNT3) {
        if (m < 1 || m >= n) return "count3: the seed length S must be in [1, NB)";
        t->seed_len = m;
        t->vocab = n;
        t->tests = max_tests;
    } else {
        if (m < 2) return "the modulus / alphabet must be >= 2";
        t->vocab = kind == TASK_INDUCTION ? m + 1 : m;
        t->tests = max_tests;
    }
    /* Held-out seeds 0 mod 4 of the hash: at most a quarter of the seed space, and no
     * sequence twice. */
    if (kind != TASK_TEXT && (double)t->tests * 4.0 > 0.5 * pow(t->kind == TASK_COUNT3 ? n : m, t->seed_len))
        return "the held-out set would take more than half the held-out seeds";
    t->test_tokens = malloc((size_t)t->tests * n * sizeof *t->test_tokens);
    t->test_targets = malloc((size_t)t->tests * n * sizeof *t->test_targets);
    if (!t->test_tokens || !t->test_targets) return "out of memory";
    uint64_t attempt = 0;
    for (int s = 0; s < t->tests; s++) {
        int *x = t->test_tokens + (size_t)s * n, *y = t->test_targets + (size_t)s * n;
        if (kind == TASK_TEXT) {
            window(t, t->train_len + (size_t)s * (size_t)n, x, y);
            continue;
        }
        do {
            /* a seed space with too few held-out seeds for the set would loop for ever */
            if (attempt > 1000000 + 1000 * (uint64_t)t->tests)
                return "too few distinct held-out seeds for the held-out set";
            draw(t, key3(HELDOUT_STREAM, 0, attempt++), x, y);
        } while (!task_is_heldout(x, t->seed_len) || repeats(t, s));
    }
    if (kind == TASK_TEXT) floor_unigram(t);
    else floor_position(t);
    return NULL;
}

void task_free(exp_task *t)
{
    free(t->text);
    free(t->test_tokens);
    free(t->test_targets);
    memset(t, 0, sizeof *t);
}
