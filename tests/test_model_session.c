/* test_model_session.c: the one-token-at-a-time sessions (model_session_*, the path the
 * model bench times) compute what model_infer computes: logits bit-identical at every
 * position after a prefill and appends, for the causal model (KV caches) and the cubic
 * model (the model on each prefix); a rewound step gives the same logits again; the
 * FLOP count follows the docs/DESIGN.md §8 formulas; bad calls are refused. */
#include "model.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

enum { V = 11, N = 9, PROMPT = 4 };
static const model_config cfg = {.vocab = V, .max_n = N, .d_model = 12, .heads = 3, .layers = 3};

static float *fresh_params(void)
{
    float *p = malloc(model_param_count(&cfg) * sizeof *p);
    cr_assert_not_null(p);
    model_init_params(&cfg, MODEL_INIT_CHECK, 7, p);
    return p;
}

static void session_matches_infer(model_kind kind)
{
    const model_exec ex = {.impl = ca_impl_find("blocked"), .threads = 1};
    cr_assert_not_null(ex.impl);
    float *params = fresh_params();
    int tokens[N];
    for (int i = 0; i < N; i++) tokens[i] = (5 * i + 3) % V;
    float want[N * V], got[V];
    cr_assert_eq(model_infer_f32(kind, &cfg, &ex, params, N, PROMPT, tokens, want), CA_OK);

    ca_status st;
    /* the session keeps its own copy of the configuration */
    model_config mine = cfg;
    model_session_f32 *s = model_session_open_f32(kind, &mine, &ex, params, N, &st);
    cr_assert_not_null(s, "%s", ca_status_str(st));
    mine.layers = 1;
    cr_assert_eq(model_session_prefill_f32(s, PROMPT, tokens, got), CA_OK);
    cr_expect_arr_eq(got, want + (PROMPT - 1) * V, sizeof got, "%s prefill", model_kind_name(kind));
    for (int t = PROMPT; t < N; t++) {
        cr_assert_eq(model_session_append_f32(s, tokens[t], got), CA_OK);
        cr_expect_arr_eq(got, want + t * V, sizeof got, "%s position %d", model_kind_name(kind), t);
    }
    /* the last step with another token, then rewound and taken again with the right
     * one: nothing of the other token may remain */
    cr_assert_eq(model_session_rewind_f32(s, N - 1), CA_OK);
    cr_assert_eq(model_session_append_f32(s, (tokens[N - 1] + 1) % V, got), CA_OK);
    cr_assert_eq(model_session_rewind_f32(s, N - 1), CA_OK);
    cr_assert_eq(model_session_append_f32(s, tokens[N - 1], got), CA_OK);
    cr_expect_arr_eq(got, want + (N - 1) * V, sizeof got, "%s after rewind", model_kind_name(kind));

    /* bad calls: the session stays usable */
    cr_expect_eq(model_session_append_f32(s, 0, got), CA_ERR_N, "append beyond capacity");
    cr_expect_eq(model_session_rewind_f32(s, N + 1), CA_ERR_N, "rewind forward");
    cr_expect_eq(model_session_prefill_f32(s, 1, tokens, got), CA_ERR_N, "prefill twice");
    cr_assert_eq(model_session_rewind_f32(s, N - 1), CA_OK);
    cr_expect_eq(model_session_append_f32(s, V, got), CA_ERR_INTERNAL, "token out of range");
    cr_expect_eq(model_session_append_f32(s, -1, got), CA_ERR_INTERNAL, "negative token");
    model_session_close_f32(s);
    free(params);
}

Test(model_session, causal_equals_infer) { session_matches_infer(MODEL_CAUSAL); }
Test(model_session, cubic_equals_infer) { session_matches_infer(MODEL_CUBIC); }

/* FLOPs by formula: a causal prefill of p rows is one causal forward (the stack's count,
 * checked against §8's 24 D^2 a row by hand here); a cubic step on a prefix of t rows
 * runs L - 1 full layers on t rows. */
Test(model_session, flops_follow_the_formulas)
{
    const model_exec ex = {.impl = ca_impl_find("blocked"), .threads = 1};
    float *params = fresh_params();
    int tokens[N] = {0};
    float got[V];
    const double D = cfg.d_model, d = D / cfg.heads, H = cfg.heads, L = cfg.layers;
    ca_status st;
    model_session_f32 *s = model_session_open_f32(MODEL_CAUSAL, &cfg, &ex, params, N, &st);
    cr_assert_not_null(s, "%s", ca_status_str(st));
    cr_assert_eq(model_session_prefill_f32(s, PROMPT, tokens, got), CA_OK);
    model_stats fl = model_session_stats_f32(s);
    cr_expect_float_eq(fl.matmul_flops, L * 24 * D * D * PROMPT + 2 * D * V * PROMPT, 1e-9);
    cr_expect_float_eq(fl.attn_flops, L * ca_op_flops(CA_OP_CAUSAL, 0, PROMPT, (int)d, (int)H),
                       1e-9);
    /* one append: a decode step per layer at context PROMPT + 1, one row of products */
    cr_assert_eq(model_session_append_f32(s, 1, got), CA_OK);
    model_stats step = model_session_stats_f32(s);
    cr_expect_float_eq(step.matmul_flops - fl.matmul_flops, L * 24 * D * D + 2 * D * V, 1e-9);
    cr_expect_float_eq(step.attn_flops - fl.attn_flops,
                       L * ca_op_flops(CA_OP_DECODE, 0, PROMPT + 1, (int)d, (int)H), 1e-9);
    model_session_close_f32(s);

    s = model_session_open_f32(MODEL_CUBIC, &cfg, &ex, params, N, &st);
    cr_assert_not_null(s, "%s", ca_status_str(st));
    cr_assert_eq(model_session_prefill_f32(s, PROMPT, tokens, got), CA_OK);
    fl = model_session_stats_f32(s);
    const double t = PROMPT;
    cr_expect_float_eq(fl.matmul_flops,
                       (L - 1) * 24 * D * D * t + 2 * D * D * (3 * t + 9) + 2 * D * V, 1e-9);
    cr_expect_float_eq(fl.attn_flops,
                       (L - 1) * ca_op_flops(CA_OP_FULL, 0, PROMPT, (int)d, (int)H) +
                           ca_op_flops(CA_OP_DECODE, 0, PROMPT, (int)d, (int)H),
                       1e-9);
    /* one append: the model again on the grown prefix */
    cr_assert_eq(model_session_append_f32(s, 1, got), CA_OK);
    step = model_session_stats_f32(s);
    const double u = PROMPT + 1;
    cr_expect_float_eq(step.matmul_flops - fl.matmul_flops,
                       (L - 1) * 24 * D * D * u + 2 * D * D * (3 * u + 9) + 2 * D * V, 1e-9);
    cr_expect_float_eq(step.attn_flops - fl.attn_flops,
                       (L - 1) * ca_op_flops(CA_OP_FULL, 0, PROMPT + 1, (int)d, (int)H) +
                           ca_op_flops(CA_OP_DECODE, 0, PROMPT + 1, (int)d, (int)H),
                       1e-9);
    model_session_close_f32(s);
    free(params);
}

Test(model_session, open_refuses_bad_arguments)
{
    const model_exec ex = {.impl = ca_impl_find("blocked"), .threads = 1};
    float *params = fresh_params();
    ca_status st = CA_OK;
    cr_expect_null(model_session_open_f32(MODEL_CUBIC, &cfg, &ex, params, N + 1, &st));
    cr_expect_eq(st, CA_ERR_N, "capacity above max_n");
    cr_expect_null(model_session_open_f32(MODEL_CAUSAL, &cfg, &ex, NULL, N, &st));
    cr_expect_eq(st, CA_ERR_NULL, "no parameters");
    const model_exec none = {.impl = NULL, .threads = 1};
    cr_expect_null(model_session_open_f32(MODEL_CUBIC, &cfg, &none, params, N, &st));
    cr_expect_eq(st, CA_ERR_NULL, "no implementation");
    free(params);
}

/* Every refusal says which argument or field is wrong, its value and its valid range
 * (model_error), not a generic status text ("d must be >= 1" for a vocabulary of 0). */
static void expect_error(ca_status st, ca_status want, const char *text)
{
    cr_expect_eq(st, want, "status %s, want %s", ca_status_str(st), ca_status_str(want));
    cr_expect(strstr(model_error(st), text) != NULL, "message '%s' lacks '%s'", model_error(st),
              text);
}

Test(model_session, errors_name_the_field_and_its_range)
{
    const model_exec ex = {.impl = ca_impl_find("blocked"), .threads = 1};
    float *params = fresh_params();
    int tokens[N] = {0}, targets[N] = {0};
    float logits[N * V];
    double loss;
    const struct { model_config c; const char *text; } bad[] = {
        {{.vocab = 0, .max_n = N, .d_model = 12, .heads = 3, .layers = 3}, "vocab = 0: must be in 1.."},
        {{.vocab = V, .max_n = N, .d_model = 12, .heads = 3, .layers = 0}, "layers = 0: must be in 1..1024"},
        {{.vocab = V, .max_n = N, .d_model = 0, .heads = 3, .layers = 3}, "d_model = 0: must be in 1.."},
        {{.vocab = V, .max_n = N, .d_model = 12, .heads = 5, .layers = 3}, "heads = 5: must be in 1..d_model (12) and divide"},
        {{.vocab = V, .max_n = 0, .d_model = 12, .heads = 3, .layers = 3}, "max_n = 0: must be in 1.."},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_error(model_forward_backward_f32(MODEL_CAUSAL, &bad[i].c, &ex, params, 1, 1, tokens,
                                                targets, NULL, NULL, &loss, NULL),
                     CA_ERR_D, bad[i].text);
        expect_error(model_infer_f32(MODEL_CUBIC, &bad[i].c, &ex, params, 1, 1, tokens, logits),
                     CA_ERR_D, bad[i].text);
    }
    expect_error(model_forward_backward_f32(MODEL_CAUSAL, &cfg, &ex, params, 1, N + 1, tokens,
                                            targets, NULL, NULL, &loss, NULL),
                 CA_ERR_N, "N = 10: must be in 1..max_n (9)");
    expect_error(model_forward_backward_f32(MODEL_CAUSAL, &cfg, &ex, params, 0, N, tokens,
                                            targets, NULL, NULL, &loss, NULL),
                 CA_ERR_N, "B = 0: must be >= 1");
    tokens[3] = V;
    expect_error(model_forward_backward_f32(MODEL_CAUSAL, &cfg, &ex, params, 1, N, tokens,
                                            targets, NULL, NULL, &loss, NULL),
                 CA_ERR_INTERNAL, "token 11 at index 3: must be in 0..vocab-1 (0..10)");
    expect_error(model_infer_f32(MODEL_CAUSAL, &cfg, &ex, params, N, 1, tokens, logits),
                 CA_ERR_INTERNAL, "token 11 at index 3: must be in 0..vocab-1 (0..10)");
    tokens[3] = 0;
    targets[2] = V;
    expect_error(model_forward_backward_f32(MODEL_CAUSAL, &cfg, &ex, params, 1, N, tokens,
                                            targets, NULL, NULL, &loss, NULL),
                 CA_ERR_INTERNAL, "target 11 at index 2: must be below vocab (11)");
    expect_error(model_infer_f32(MODEL_CAUSAL, &cfg, &ex, params, N + 1, 1, tokens, logits),
                 CA_ERR_N, "n = 10: must be in 1..max_n (9)");
    expect_error(model_infer_f32(MODEL_CAUSAL, &cfg, &ex, params, N, N + 1, tokens, logits),
                 CA_ERR_N, "prompt = 10: must be in 1..n (9)");
    const model_exec no_threads = {.impl = ex.impl, .threads = 0};
    expect_error(model_infer_f32(MODEL_CAUSAL, &cfg, &no_threads, params, N, 1, tokens, logits),
                 CA_ERR_THREADS, "threads = 0: must be >= 1");

    ca_status st = CA_OK;
    cr_expect_null(model_session_open_f32(MODEL_CAUSAL, &cfg, &ex, params, N + 1, &st));
    expect_error(st, CA_ERR_N, "capacity = 10: must be in 1..max_n (9)");
    model_session_f32 *s = model_session_open_f32(MODEL_CAUSAL, &cfg, &ex, params, 2, &st);
    cr_assert_not_null(s, "%s", model_error(st));
    expect_error(model_session_prefill_f32(s, 3, tokens, logits), CA_ERR_N,
                 "p = 3: must be in 1..capacity (2)");
    expect_error(model_session_append_f32(s, -1, logits), CA_ERR_INTERNAL,
                 "token -1 at index 0: must be in 0..vocab-1 (0..10)");
    cr_assert_eq(model_session_prefill_f32(s, 2, tokens, logits), CA_OK);
    expect_error(model_session_append_f32(s, 1, logits), CA_ERR_N, "the session is full");
    expect_error(model_session_rewind_f32(s, 3), CA_ERR_N, "len = 3: must be in 0..");
    expect_error(model_session_prefill_f32(s, 1, tokens, logits), CA_ERR_N,
                 "prefill into a session holding 2 tokens");
    model_session_close_f32(s);
    free(params);
}
