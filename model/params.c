/* params.c: the precision-free half of model.h: configuration checks, the parameter
 * layout, the seeded initialisation. */
#include "model.h"
#include "cubattn_harness.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const kind_names[MODEL_KIND_COUNT] = {
    [MODEL_CAUSAL] = "causal", [MODEL_CUBIC] = "cubic", [MODEL_CUBIC_LOOP] = "cubic_loop"};

const char *model_kind_name(model_kind k)
{
    return (unsigned)k < MODEL_KIND_COUNT ? kind_names[k] : "?";
}

int model_kind_parse(const char *name)
{
    for (int k = 0; name && k < MODEL_KIND_COUNT; k++)
        if (strcmp(name, kind_names[k]) == 0) return k;
    return -1;
}

/* Elements of one layer and of the globals, in size_t with overflow checks: 0 on
 * overflow (the products below are at most 4 D^2 and V D, each checked). */
static size_t mul_ok(size_t a, size_t b) { return a && b > SIZE_MAX / a ? 0 : a * b; }

#define TENSOR_SIZE(name, r, c) + mul_ok((size_t)(r), (size_t)(c))
static size_t layer_elems(const model_config *cfg)
{
    const size_t D = (size_t)cfg->d_model;
    return 0 MODEL_LAYER_TENSORS(TENSOR_SIZE);
}
static size_t global_elems(const model_config *cfg)
{
    const size_t V = (size_t)cfg->vocab, NMAX = (size_t)cfg->max_n, D = (size_t)cfg->d_model;
    return 0 MODEL_GLOBAL_TENSORS(TENSOR_SIZE);
}
#undef TENSOR_SIZE

/* The message of this thread's last failing model call (model_error); "" when the call
 * recorded none. */
static _Thread_local char last_error[256];

/* The status the message was written for: a later failure that wrote none (out of
 * memory in a caller, say) must not be described by an older call's message. */
static _Thread_local ca_status last_status = CA_OK;

void model_error_clear(void) { last_error[0] = '\0'; }

ca_status model_fail(ca_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    last_status = st;
    return st;
}

const char *model_error(ca_status st)
{
    return last_error[0] && st == last_status ? last_error : ca_status_str(st);
}

ca_status model_check_call(model_kind kind, const model_config *cfg, const model_exec *ex,
                           int need_impl)
{
    model_error_clear();
    const char *bad = model_config_error(cfg);
    if (bad) return model_fail(CA_ERR_D, "configuration: %s", bad);
    if ((unsigned)kind >= MODEL_KIND_COUNT)
        return model_fail(CA_ERR_NULL, "kind = %d: not a model kind (0..%d)", (int)kind,
                          MODEL_KIND_COUNT - 1);
    if (need_impl && (!ex || !ex->impl))
        return model_fail(CA_ERR_NULL, "no attention implementation (model_exec.impl is NULL)");
    return CA_OK;
}

/* The limits of a configuration: 4 D^2 and V D must fit in an int for the BLIS calls
 * (dimensions are ints); the layer kinds of a call are kept on the stack. */
enum { MAX_D_MODEL = 16384, MAX_VOCAB = 1 << 24, MAX_N = 1 << 20, MAX_LAYERS = 1024 };

const char *model_config_error(const model_config *cfg)
{
    static _Thread_local char why[160];
    if (!cfg) return "no configuration (NULL)";
    const struct { const char *name; int value, max; } field[] = {
        {"vocab", cfg->vocab, MAX_VOCAB}, {"max_n", cfg->max_n, MAX_N},
        {"d_model", cfg->d_model, MAX_D_MODEL}, {"layers", cfg->layers, MAX_LAYERS},
    };
    for (size_t i = 0; i < sizeof field / sizeof field[0]; i++)
        if (field[i].value < 1 || field[i].value > field[i].max) {
            snprintf(why, sizeof why, "%s = %d: must be in 1..%d", field[i].name,
                     field[i].value, field[i].max);
            return why;
        }
    if (cfg->heads < 1 || cfg->heads > cfg->d_model || cfg->d_model % cfg->heads) {
        snprintf(why, sizeof why, "heads = %d: must be in 1..d_model (%d) and divide d_model",
                 cfg->heads, cfg->d_model);
        return why;
    }
    return NULL;
}

size_t model_param_count(const model_config *cfg)
{
    if (model_config_error(cfg)) return 0;
    size_t l = layer_elems(cfg), g = global_elems(cfg);
    if (!l || !g || l > (SIZE_MAX - g) / (size_t)cfg->layers) return 0;
    return g + l * (size_t)cfg->layers;
}

model_offsets model_global_offsets(const model_config *cfg)
{
    const size_t V = (size_t)cfg->vocab, NMAX = (size_t)cfg->max_n, D = (size_t)cfg->d_model;
    model_offsets o;
    size_t at = 0;
#define PLACE(name, r, c) o.name = at; at += (size_t)(r) * (size_t)(c);
    MODEL_GLOBAL_TENSORS(PLACE)
    (void)at;
    return o;
}

model_layer_offsets model_layer_at(const model_config *cfg, int layer)
{
    const size_t D = (size_t)cfg->d_model;
    model_layer_offsets o;
    size_t at = global_elems(cfg) + layer_elems(cfg) * (size_t)layer;
    MODEL_LAYER_TENSORS(PLACE)
#undef PLACE
    (void)at;
    return o;
}

enum { LAYER_TENSORS = 0
#define ONE(name, r, c) + 1
       MODEL_LAYER_TENSORS(ONE),
       GLOBAL_TENSORS = 0 MODEL_GLOBAL_TENSORS(ONE)
#undef ONE
};

int model_tensor_count(const model_config *cfg)
{
    return GLOBAL_TENSORS + LAYER_TENSORS * cfg->layers;
}

void model_tensor_at(const model_config *cfg, int i, char *name, size_t cap,
                     size_t *offset, size_t *rows, size_t *cols)
{
    const size_t V = (size_t)cfg->vocab, NMAX = (size_t)cfg->max_n, D = (size_t)cfg->d_model;
    size_t at = 0;
    int k = 0;
#define VISIT(prefix, tname, r, c)                                                     \
    do {                                                                               \
        if (k++ == i) {                                                                \
            snprintf(name, cap, "%s%s", prefix, #tname);                              \
            *offset = at;                                                              \
            *rows = (size_t)(r);                                                       \
            *cols = (size_t)(c);                                                       \
            return;                                                                    \
        }                                                                              \
        at += (size_t)(r) * (size_t)(c);                                               \
    } while (0);
#define GLOBAL(tname, r, c) VISIT("", tname, r, c)
#define LAYER(tname, r, c) VISIT(prefix, tname, r, c)
    MODEL_GLOBAL_TENSORS(GLOBAL)
    for (int l = 0; l < cfg->layers; l++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "%d.", l);
        MODEL_LAYER_TENSORS(LAYER)
    }
#undef GLOBAL
#undef LAYER
#undef VISIT
    snprintf(name, cap, "?");
    *offset = *rows = *cols = 0;
}

void model_init_params(const model_config *cfg, model_init how, uint64_t seed,
                       float *params)
{
    const int T = model_tensor_count(cfg);
    const double resid = 1.0 / sqrt(2.0 * cfg->layers);
    for (int i = 0; i < T; i++) {
        char name[32];
        size_t off, rows, cols;
        model_tensor_at(cfg, i, name, sizeof name, &off, &rows, &cols);
        const size_t n = rows * cols;
        const char *base = strchr(name, '.') ? strchr(name, '.') + 1 : name;
        const int gain = strcmp(base + strlen(base) - 2, "_g") == 0;
        const int bias = strcmp(base + strlen(base) - 2, "_b") == 0;
        /* Each tensor its own stream: adding a layer leaves the others' values alone. */
        const uint64_t stream = seed * 1000003u + (uint64_t)i;
        double scale, centre = gain ? 1.0 : 0.0;
        if (how == MODEL_INIT_TRAIN) {
            scale = gain || bias ? 0.0 : 0.02;
            if (strcmp(base, "wo") == 0 || strcmp(base, "w2") == 0) scale *= resid;
        } else if (gain || bias) {
            scale = 0.1;
        } else if (strcmp(base, "wte") == 0 || strcmp(base, "wpe") == 0) {
            scale = 0.3;
        } else {
            /* 1/sqrt(fan-in): products keep their inputs' size through the layers. */
            scale = 1.0 / sqrt((double)rows);
        }
        if (scale == 0.0) {
            for (size_t j = 0; j < n; j++) params[off + j] = (float)centre;
        } else {
            ca_fill(params + off, n, CA_DIST_NORMAL, scale, stream, 0);
            if (centre != 0.0)
                for (size_t j = 0; j < n; j++) params[off + j] += (float)centre;
        }
    }
}
