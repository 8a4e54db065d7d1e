/* test_experiment_tasks.c: the experiment's task generators (experiment/tasks.c,
 * docs/DESIGN.md §9) against brute force, and the split between training and held-out
 * data.
 *   - Count3's O(N M) targets == the O(t^2) pair count, for random sequences over
 *     several moduli (and sequences of one repeated token, where the counts are largest);
 *   - Induction's targets == a backward scan for the latest earlier occurrence;
 *   - no training sequence of the first batches is held-out, and none equals a held-out
 *     sequence; batches are a function of (seed, step) alone;
 *   - Text: tokens inside the vocabulary, held-out windows after the training part,
 *     chance levels finite and below the uniform ones. */
#include "../experiment/experiment.h"
#include "cubattn_harness.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int brute_count3(const int *x, int t, int M)
{
    long c = 0;
    for (int i = 0; i < t; i++)
        for (int j = i + 1; j < t; j++) c += (x[i] + x[j] + x[t]) % M == 0;
    return (int)(c % M);
}

Test(experiment_tasks, count3_matches_brute_force)
{
    enum { NMAX = 64 };
    int x[NMAX], y[NMAX];
    static const int Ms[] = {2, 3, 4, 7, 32, 64, 97};
    for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
        for (int s = 0; s < 40; s++) {
            const int M = Ms[mi], n = 3 + s % (NMAX - 2);
            for (int i = 0; i < n; i++)
                x[i] = s == 0 ? M - 1 : (int)(ca_rand64(100 + (uint64_t)mi, (uint64_t)(s * NMAX + i)) % M);
            count3_targets(x, n, M, y);
            cr_assert_eq(y[0], -1);
            cr_assert_eq(y[1], -1);
            for (int t = 2; t < n; t++)
                cr_assert_eq(y[t], brute_count3(x, t, M), "M=%d n=%d t=%d: %d, brute force %d",
                             M, n, t, y[t], brute_count3(x, t, M));
        }
}

Test(experiment_tasks, induction_matches_brute_force)
{
    enum { NMAX = 48 };
    int x[NMAX], y[NMAX];
    for (int K = 2; K <= 16; K += 7)
        for (int s = 0; s < 40; s++) {
            const int n = 3 + s % (NMAX - 2);
            for (int i = 0; i < n; i++) x[i] = (int)(ca_rand64(7 + (uint64_t)K, (uint64_t)(s * NMAX + i)) % K);
            induction_targets(x, n, K, y);
            for (int t = 0; t < n; t++) {
                int want = K;
                for (int j = t - 1; j >= 0; j--)
                    if (x[j] == x[t]) { want = x[j + 1]; break; }
                cr_assert_eq(y[t], want, "K=%d t=%d: %d, brute force %d", K, t, y[t], want);
            }
        }
}

/* Training batches never hold a held-out sequence; the same (seed, step) gives the same
 * batch, another seed another one. */
static void check_split(exp_task_kind kind, int n, int m)
{
    exp_task t;
    const char *why = task_init(&t, kind, n, m, 64);
    cr_assert_null(why, "%s", why);
    cr_assert(t.chance_acc > 0 && t.chance_acc <= 1, "chance accuracy %g", t.chance_acc);
    cr_assert(isfinite(t.chance_bits) && t.chance_bits <= log2(t.vocab) + 1e-9,
              "chance bits %g, vocab %d", t.chance_bits, t.vocab);
    for (int s = 0; s < t.tests; s++)
        cr_assert(task_is_heldout(t.test_tokens + (size_t)s * n, n));
    enum { B = 8 };
    int *tok = malloc(B * (size_t)n * sizeof *tok), *tgt = malloc(B * (size_t)n * sizeof *tgt);
    int *tok2 = malloc(B * (size_t)n * sizeof *tok), *tgt2 = malloc(B * (size_t)n * sizeof *tgt);
    cr_assert(tok && tgt && tok2 && tgt2);
    for (int step = 1; step <= 200; step++) {
        task_batch(&t, 3, step, B, tok, tgt);
        task_batch(&t, 3, step, B, tok2, tgt2);
        cr_assert(!memcmp(tok, tok2, B * (size_t)n * sizeof *tok), "batch not reproducible");
        cr_assert(!memcmp(tgt, tgt2, B * (size_t)n * sizeof *tgt), "targets not reproducible");
        for (int b = 0; b < B; b++) {
            const int *x = tok + (size_t)b * n;
            for (int i = 0; i < n; i++) cr_assert(x[i] >= 0 && x[i] < t.vocab);
            cr_assert(!task_is_heldout(x, n), "step %d row %d: a held-out sequence", step, b);
            for (int s = 0; s < t.tests; s++)
                cr_assert(memcmp(x, t.test_tokens + (size_t)s * n, (size_t)n * sizeof *x) != 0);
        }
    }
    task_batch(&t, 4, 1, B, tok2, tgt2);
    task_batch(&t, 3, 1, B, tok, tgt);
    cr_assert(memcmp(tok, tok2, B * (size_t)n * sizeof *tok) != 0, "seeds 3 and 4 gave one batch");
    free(tok); free(tgt); free(tok2); free(tgt2);
    task_free(&t);
}

/* A small space (3^4 sequences) makes collisions certain without the hash split. */
Test(experiment_tasks, count3_train_and_heldout_disjoint) { check_split(TASK_COUNT3, 4, 3); }
Test(experiment_tasks, count3_wide_disjoint) { check_split(TASK_COUNT3, 12, 32); }
Test(experiment_tasks, induction_train_and_heldout_disjoint) { check_split(TASK_INDUCTION, 5, 2); }

Test(experiment_tasks, text_split_by_position)
{
    enum { N = 32 };
    exp_task t;
    const char *why = task_init(&t, TASK_TEXT, N, 0, 1 << 20);
    cr_assert_null(why, "%s", why);
    cr_assert(t.vocab > 1 && t.vocab <= 256);
    cr_assert_eq(t.train_len, t.text_len - t.text_len / 10);
    /* every held-out window of the last tenth, targets = the next characters */
    cr_assert_eq(t.tests, (int)((t.text_len - t.train_len - 1) / N));
    for (int s = 0; s < t.tests; s++)
        for (int i = 0; i < N; i++) {
            const size_t at = t.train_len + (size_t)s * N + (size_t)i;
            cr_assert_eq(t.test_tokens[s * N + i], t.text[at]);
            cr_assert_eq(t.test_targets[s * N + i], t.text[at + 1]);
        }
    /* training windows lie in the training part: each is a substring of it */
    int tok[4 * N], tgt[4 * N];
    for (int step = 1; step <= 50; step++) {
        task_batch(&t, 1, step, 4, tok, tgt);
        for (int b = 0; b < 4; b++) {
            int found = 0;
            for (size_t st = 0; st + N < t.train_len && !found; st++)
                found = !memcmp(t.text + st, tok + b * N, N * sizeof *tok) && t.text[st + N] == tgt[b * N + N - 1];
            cr_assert(found, "step %d row %d: not a window of the training part", step, b);
        }
    }
    cr_assert(t.chance_bits > 1 && t.chance_bits < log2(t.vocab), "unigram bits/char %g",
              t.chance_bits);
    task_free(&t);
}
