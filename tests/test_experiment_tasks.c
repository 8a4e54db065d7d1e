/* test_experiment_tasks.c: the experiment's task generators (experiment/tasks.c,
 * docs/DESIGN.md §9.1) against brute force, and the split between training and held-out
 * data.
 *   - count3 (published): the O(n)-per-token generator == the O(n^2) pair count over
 *     ordered pairs with the modulus the current length, for random seeds of many
 *     lengths; a worked example written out by hand; targets scored from position S+1;
 *   - count3_fixed's O(N M) targets == the O(t^2) pair count, for random sequences over
 *     several moduli (and sequences of one repeated token, where the counts are largest);
 *   - Induction's targets == a backward scan for the latest earlier occurrence;
 *   - no training sequence of the first batches is held-out, and none equals a held-out
 *     sequence; batches are a function of (seed, step) alone;
 *   - Text: tokens inside the vocabulary, held-out windows after the training part,
 *     the unigram floor finite and below the uniform one;
 *   - the position-only floor of count3 against exact enumeration. */
#include "cubattn_harness.h"
#include "experiment.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* z_{n+1} by the definition: ordered pairs (i, j) in [1..n]^2, i = j included, with
 * z_i + z_j + z_n = 0 mod n, counted mod n. */
static int brute_count3_next(const int *z, int n)
{
    long c = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) c += (z[i] + z[j] + z[n - 1]) % n == 0;
    return (int)(c % n);
}

Test(experiment_tasks, count3_matches_brute_force)
{
    enum { NBMAX = 40 };
    int z[NBMAX + 1], seeds[NBMAX];
    for (int s = 0; s < 200; s++) {
        const int NB = 2 + s % (NBMAX - 1), S = 1 + (s / 7) % (NB - 1);
        for (int i = 0; i < S; i++)
            seeds[i] = s % 5 == 0 ? NB - 1 : (int)(ca_rand64(31, (uint64_t)(s * NBMAX + i)) % NB);
        count3_sequence(seeds, S, NB, z);
        for (int i = 0; i < S; i++) cr_assert_eq(z[i], seeds[i]);
        for (int n = S; n <= NB; n++)
            cr_assert_eq(z[n], brute_count3_next(z, n), "NB=%d S=%d n=%d: %d, brute force %d", NB,
                         S, n, z[n], brute_count3_next(z, n));
    }
}

/* NB = 6, S = 2, seeds (1, 4), by hand (1-based z; pairs ordered, i = j counted):
 *   n = 2, z_n = 4: z_i + z_j even: (1,1) and (4,4)            -> 2 mod 2 = 0 = z_3
 *   n = 3, z_n = 0: z_i + z_j = 0 mod 3 over (1, 4, 0): (0,0)   -> 1 mod 3 = 1 = z_4
 *   n = 4, z_n = 1: z_i + z_j = 3 mod 4 over residues (1,0,0,1): none -> 0 = z_5
 *   n = 5, z_n = 0: z_i + z_j = 0 mod 5 over (1,4,0,1,0): 1+4 two ways x 2 (z_1, z_4
 *          with z_2) = 4, 0+0 over {z_3, z_5} = 4           -> 8 mod 5 = 3 = z_6
 *   n = 6, z_n = 3: z_i + z_j = 3 mod 6 over (1,4,0,1,0,3): 0+3 with {z_3, z_5} x {z_6},
 *          both orders = 4                                   -> 4 mod 6 = 4 = z_7
 * Input (1, 4, 0, 1, 0, 3), targets (4, 0, 1, 0, 3, 4), scored from position S+1 = 3:
 * (-, -, 1, 0, 3, 4). */
Test(experiment_tasks, count3_worked_example)
{
    const int seeds[2] = {1, 4}, want_z[7] = {1, 4, 0, 1, 0, 3, 4};
    int z[7];
    count3_sequence(seeds, 2, 6, z);
    for (int i = 0; i < 7; i++) cr_assert_eq(z[i], want_z[i], "z_%d = %d, by hand %d", i + 1, z[i], want_z[i]);
    /* the task draws its own seeds: find a held-out or training sequence with these seeds
     * and check the input and scored targets */
    exp_task t;
    const char *why = task_init(&t, TASK_COUNT3, 6, 2, 1);
    cr_assert_null(why, "%s", why);
    cr_assert_eq(t.vocab, 6);
    cr_assert_eq(t.seed_len, 2);
    const int want_y[6] = {-1, -1, 1, 0, 3, 4};
    int found = 0, tok[6], tgt[6];
    for (int step = 1; step <= 400 && !found; step++) {
        task_batch(&t, 1, step, 1, tok, tgt);
        if (tok[0] != 1 || tok[1] != 4) continue;
        found = 1;
        for (int i = 0; i < 6; i++) {
            cr_assert_eq(tok[i], want_z[i]);
            cr_assert_eq(tgt[i], want_y[i], "target %d = %d, by hand %d", i, tgt[i], want_y[i]);
        }
    }
    cr_assert(found || task_is_heldout(seeds, 2), "seeds (1, 4) never drawn in 400 training batches");
    task_free(&t);
}

static int brute_count3(const int *x, int t, int M)
{
    long c = 0;
    for (int i = 0; i < t; i++)
        for (int j = i + 1; j < t; j++) c += (x[i] + x[j] + x[t]) % M == 0;
    return (int)(c % M);
}

Test(experiment_tasks, count3_fixed_matches_brute_force)
{
    enum { NMAX = 64 };
    int x[NMAX], y[NMAX];
    static const int Ms[] = {2, 3, 4, 7, 32, 64, 97};
    for (size_t mi = 0; mi < sizeof Ms / sizeof *Ms; mi++)
        for (int s = 0; s < 40; s++) {
            const int M = Ms[mi], n = 3 + s % (NMAX - 2);
            for (int i = 0; i < n; i++)
                x[i] = s == 0 ? M - 1 : (int)(ca_rand64(100 + (uint64_t)mi, (uint64_t)(s * NMAX + i)) % M);
            count3_fixed_targets(x, n, M, y);
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

/* Training batches never hold a held-out seed; held-out sequences are distinct; the same
 * (seed, step) gives the same batch, another seed another one. */
static void check_split(exp_task_kind kind, int n, int m, int tests)
{
    exp_task t;
    const char *why = task_init(&t, kind, n, m, tests);
    cr_assert_null(why, "%s", why);
    cr_assert(t.floor_acc > 0 && t.floor_acc <= 1, "floor accuracy %g", t.floor_acc);
    cr_assert(isfinite(t.floor_bits) && t.floor_bits >= 0 && t.floor_bits <= log2(t.vocab) + 1e-9,
              "floor bits %g, vocab %d", t.floor_bits, t.vocab);
    const int L = t.seed_len;
    for (int s = 0; s < t.tests; s++) {
        cr_assert(task_is_heldout(t.test_tokens + (size_t)s * n, L));
        for (int r = 0; r < s; r++)
            cr_assert(memcmp(t.test_tokens + (size_t)s * n, t.test_tokens + (size_t)r * n,
                             (size_t)L * sizeof(int)) != 0, "held-out %d repeats %d", s, r);
    }
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
            cr_assert(!task_is_heldout(x, L), "step %d row %d: a held-out seed", step, b);
            for (int s = 0; s < t.tests; s++)
                cr_assert(memcmp(x, t.test_tokens + (size_t)s * n, (size_t)L * sizeof *x) != 0);
        }
    }
    task_batch(&t, 4, 1, B, tok2, tgt2);
    task_batch(&t, 3, 1, B, tok, tgt);
    cr_assert(memcmp(tok, tok2, B * (size_t)n * sizeof *tok) != 0, "seeds 3 and 4 gave one batch");
    free(tok); free(tgt); free(tok2); free(tgt2);
    task_free(&t);
}

/* Small seed spaces (6^3, 3^4, 2^5) make collisions certain without the split by seed. */
Test(experiment_tasks, count3_split_by_seed) { check_split(TASK_COUNT3, 6, 3, 16); }
Test(experiment_tasks, count3_default_split_by_seed) { check_split(TASK_COUNT3, 12, 4, 512); }
Test(experiment_tasks, count3_fixed_train_and_heldout_disjoint) { check_split(TASK_COUNT3_FIXED, 4, 3, 8); }
Test(experiment_tasks, count3_fixed_wide_disjoint) { check_split(TASK_COUNT3_FIXED, 12, 32, 64); }
Test(experiment_tasks, induction_train_and_heldout_disjoint) { check_split(TASK_INDUCTION, 5, 2, 3); }

/* A held-out set larger than half the held-out seeds is refused, not looped on. */
Test(experiment_tasks, heldout_set_too_large_refused)
{
    exp_task t;
    cr_assert_not_null(task_init(&t, TASK_COUNT3, 6, 2, 10));
    task_free(&t);
}

/* The position-only floor: count3 at NB = 6, S = 2 by exact enumeration of the 36
 * equally likely seeds against the sampled estimate (2^17 sequences: the standard
 * error of a frequency is below 0.0014). */
Test(experiment_tasks, count3_floor_matches_enumeration)
{
    enum { NB = 6, S = 2 };
    double f[NB][NB] = {{0}};
    for (int a = 0; a < NB; a++)
        for (int b = 0; b < NB; b++) {
            int z[NB + 1] = {a, b};
            count3_sequence(z, S, NB, z);
            for (int i = S; i < NB; i++) f[i][z[i + 1]] += 1.0 / (NB * NB);
        }
    double acc = 0, bits = 0;
    for (int i = S; i < NB; i++) {
        double top = 0;
        for (int v = 0; v < NB; v++) {
            top = fmax(top, f[i][v]);
            if (f[i][v] > 0) bits -= f[i][v] * log2(f[i][v]);
        }
        acc += top / (NB - S);
    }
    bits /= NB - S;
    exp_task t;
    const char *why = task_init(&t, TASK_COUNT3, NB, S, 1);
    cr_assert_null(why, "%s", why);
    cr_assert(fabs(t.floor_acc - acc) < 0.01, "floor accuracy %g, exact %g", t.floor_acc, acc);
    cr_assert(fabs(t.floor_bits - bits) < 0.02, "floor bits %g, exact %g", t.floor_bits, bits);
    task_free(&t);
}

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
    cr_assert(t.floor_bits > 1 && t.floor_bits < log2(t.vocab), "unigram bits/char %g",
              t.floor_bits);
    cr_assert(t.floor_acc > 0 && t.floor_acc < 0.5, "unigram accuracy %g", t.floor_acc);
    task_free(&t);
}
