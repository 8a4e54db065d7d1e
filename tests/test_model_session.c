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
