/* main.c: the bench's command line. Parses and validates the flags, describes the
 * machine, opens the results file and runs the sweep (plan.c). */
#include "bench.h"
#include "comm.h"
#include "host.h"
#include "kprof.h"
#include "results.h"

#include <errno.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define N_MAX (1 << 20)
#define D_MAX 4096
#define HEADS_MAX 4096
#define THREADS_MAX 1024

static void usage(FILE *f)
{
    fprintf(f,
"usage: bench [flags]\n"
"Times every registered implementation of causal and cubic attention over a sweep of N\n"
"and writes one CSV row per cell (docs/DESIGN.md section 5).\n"
"\n"
"  --impl LIST      implementations, comma-separated, or 'all' (default all: %s)\n"
"  --op LIST        operators (default all: %s)\n"
"  --pass LIST      passes (default all: %s): fwd, bwd, fwdbwd for an operator\n"
"                   with a backward, fwd for one without, step for a decode step:\n"
"                   the per-token cost at context t = N, timed at position t-1 on a\n"
"                   cache whose earlier rows are filled directly, as earlier steps\n"
"                   would have left them (cubic's per-token cost is full fwd at N = t)\n"
"  --n SPEC         A:B geometric from A to B by x2, A:B:F by xF, or a list 64,100,1000\n"
"                   (default 64:8192; 1 <= N <= %d)\n"
"  --d D            head dimension (default 64; 1..%d)\n"
"  --heads H        heads (default 4, the shape of the performance targets; 1..%d)\n"
"  --threads LIST   thread counts, e.g. 2 or 1,2 (default: cores = %d; at most the\n"
"                   online cores: threads sharing cores time the scheduler)\n"
"  --budget T       per cell: skip a cell whose predicted warm-up + one repetition\n"
"                   exceeds T (default 15s; units s, ms, m)\n"
"  --rep-time T     repeat until T of timed repetitions and at least 5 of them,\n"
"                   budget permitting (default 0.5s)\n"
"  --max-reps R     at most R repetitions per cell (default 100)\n"
"  --total-budget T cells not started within T are written as skipped\n"
"                   (default 11m; 0 = no limit)\n"
"  --mem SIZE       skip cells whose buffers exceed SIZE (default 4G; units K, M, G)\n"
"  --err-flops F    check against the float64 reference when the cell's FLOPs <= F\n"
"                   (default 2e8)\n"
"  --sgemm-n N      size of the square sgemm ceiling (default 2048)\n"
"  --roof-time T    time of each of the FMA peak, micro-kernel and bandwidth\n"
"                   ceilings, measured at the start and end of each thread count\n"
"                   (default 0.3s)\n"
"  --seed S         input seed (default 1)\n"
"  --quick          a sweep of seconds: n 64:256, budget 0.5s, rep-time 0.02s,\n"
"                   max-reps 20, total-budget 60s, sgemm-n 512, err-flops 5e7,\n"
"                   roof-time 0.05s\n"
"                   (flags after it still apply)\n"
"  --out PATH       results CSV (default results/bench.csv), written to a temp file\n"
"                   and renamed when the sweep completes; a run that times no cell\n"
"                   exits non-zero and leaves PATH as it was\n"
"  --model          time the models instead of the operators (docs/DESIGN.md\n"
"                   section 8.1): train step, prefill, one step at context N and\n"
"                   generating N tokens, causal vs cubic (packed, and the loop for\n"
"                   training), on the first --impl (default omp) and --threads;\n"
"                   default n 64:4096, heads 2, out results/bench_model.csv\n"
"                   (with --quick: L 2, d_model 32, n 16:64), and:\n"
"  --layers LIST    model depths (default 4,2)\n"
"  --d-model D      model width (default 128; a multiple of --heads)\n"
"  --vocab V        vocabulary (default 256)\n"
"  --batch B        sequences per training step (default 1; inference cells run one)\n"
"  --scaling        with --model: prefix-parallel training across MPI ranks (docs/\n"
"                   DESIGN.md section 8.2), run as mpirun -np K bench --model\n"
"                   --scaling: the cubic model's training step on 1, 2, 4, .., K ranks\n"
"                   of --threads threads (default 1) and on one rank of K x --threads;\n"
"                   default the published shape: L 6, d_model 384, heads 6, vocab 64,\n"
"                   n 64, batch 1 (--quick: L 2, d_model 32, heads 2, vocab 16, n 16);\n"
"                   out results/bench_scaling.csv\n"
"  --split          where the time of a fused kernel goes (docs/DESIGN.md section\n"
"                   5.6): each cell on the first --impl (default omp) with the kernel\n"
"                   profile on, split into tile products, K^T/V^T packing and the\n"
"                   rest (softmax etc.), against the FMA peak measured in the run;\n"
"                   default cells: the roofline targets (causal fwd N=4096, full fwd\n"
"                   N=1024 and 4096, cubic fwd N=1024, causal and full bwd N=4096,\n"
"                   cubic bwd N=512 at d=64, heads=4, 2 threads; causal fwd N=4096\n"
"                   at 1 thread and at d=128), N capped at 256 with --quick; with\n"
"                   --op, --pass or --n: every op x pass x threads x N at --d and\n"
"                   --heads instead (cubic_shared is not profiled); out\n"
"                   results/split.csv\n"
"  --list           print the registered implementations and exit\n"
"  --help           this text\n",
            ca_impl_names(), op_names(), bpass_names(), N_MAX, D_MAX, HEADS_MAX,
            omp_get_num_procs());
}

static int fail(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "bench: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n(see bench --help)\n");
    return 2;
}

/* Integer in [lo, hi]; -1 on error. */
static long parse_long(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (errno || end == s || *end || x < lo || x > hi) return -1;
    return x;
}

/* Seconds with an optional unit s, ms, m; -1 on error. */
static double parse_time(const char *s)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || end == s || !(x >= 0) || x > 1e6) return -1;
    if (*end == '\0' || strcmp(end, "s") == 0) return x;
    if (strcmp(end, "ms") == 0) return x * 1e-3;
    if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0) return x * 60;
    return -1;
}

/* Bytes with an optional unit K, M, G (powers of 1024); -1 on error. */
static double parse_size(const char *s)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || end == s || !(x > 0)) return -1;
    if (*end == '\0' || strcmp(end, "B") == 0) return x;
    if (strcmp(end, "K") == 0 || strcmp(end, "KB") == 0) return x * 1024.0;
    if (strcmp(end, "M") == 0 || strcmp(end, "MB") == 0) return x * 1048576.0;
    if (strcmp(end, "G") == 0 || strcmp(end, "GB") == 0) return x * 1073741824.0;
    return -1;
}

/* Splits a comma list in place; calls fn on each item; stops on the first error. */
typedef int (*item_fn)(bench_config *cfg, const char *item);

static int each_item(bench_config *cfg, const char *list, item_fn fn)
{
    char buf[1024];
    if (strlen(list) >= sizeof buf || list[0] == '\0') return fn(cfg, "");
    strcpy(buf, list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        int rc = fn(cfg, tok);
        if (rc) return rc;
    }
    return 0;
}

static int add_impl(bench_config *cfg, const char *name)
{
    if (strcmp(name, "all") == 0) {
        for (int i = 0; i < ca_impl_count() && cfg->n_impls < BENCH_MAX_IMPLS; i++)
            cfg->impls[cfg->n_impls++] = ca_impl_at(i);
        return 0;
    }
    const ca_impl *impl = ca_impl_find(name);
    if (!impl) return fail("unknown implementation '%s' (known: %s)", name, ca_impl_names());
    for (int i = 0; i < cfg->n_impls; i++)
        if (cfg->impls[i] == impl) return 0;
    if (cfg->n_impls >= BENCH_MAX_IMPLS) return fail("too many implementations%s%s", "", "");
    cfg->impls[cfg->n_impls++] = impl;
    return 0;
}

static int add_op(bench_config *cfg, const char *name)
{
    int op = ca_op_parse(name);
    if (op < 0) return fail("unknown operator '%s' (known: %s)", name, op_names());
    cfg->op_on[op] = 1;
    return 0;
}

static int add_pass(bench_config *cfg, const char *name)
{
    int p = bpass_parse(name);
    if (p < 0) return fail("unknown pass '%s' (known: %s)", name, bpass_names());
    cfg->pass_on[p] = 1;
    return 0;
}

static int add_threads(bench_config *cfg, const char *s)
{
    long t = parse_long(s, 1, THREADS_MAX);
    if (t < 0) return fail("bad thread count '%s' (1..%s)", s, "1024");
    if (t > host_cores()) {
        char cores[16];
        snprintf(cores, sizeof cores, "%d", host_cores());
        return fail("--threads %s is more than the %s online cores: threads that share cores "
                    "time the scheduler, not the kernels", s, cores);
    }
    if (cfg->n_threads >= BENCH_MAX_THREADS) return fail("too many thread counts%s%s", "", "");
    cfg->threads[cfg->n_threads++] = (int)t;
    return 0;
}

static int add_n(bench_config *cfg, const char *s)
{
    long n = parse_long(s, 1, N_MAX);
    if (n < 0) return fail("N '%s' out of range or not an integer (1..%s)", s, "1048576");
    if (cfg->n_ns >= BENCH_MAX_NS) return fail("too many values of N%s%s", "", "");
    cfg->ns[cfg->n_ns++] = (int)n;
    return 0;
}

/* A:B[:F] geometric, or a comma list. */
static int parse_ns(bench_config *cfg, const char *spec)
{
    cfg->n_ns = 0;
    if (!strchr(spec, ':')) return each_item(cfg, spec, add_n);
    char a[32], b[32], f[32] = "2";
    int parts = sscanf(spec, "%31[^:]:%31[^:]:%31s", a, b, f);
    if (parts < 2) return fail("bad --n range '%s' (expected A:B or A:B:F)%s", spec, "");
    long lo = parse_long(a, 1, N_MAX), hi = parse_long(b, 1, N_MAX);
    char *end;
    double fac = strtod(f, &end);
    if (lo < 0 || hi < 0)
        return fail("N in '%s' out of range or not an integer (1..%s)", spec, "1048576");
    if (*end || !(fac > 1.0) || fac > 1024)
        return fail("bad factor in --n '%s'%s (expected a number > 1)", spec, "");
    if (hi < lo) return fail("empty --n range '%s'%s", spec, "");
    double x = (double)lo;
    while (x <= (double)hi * (1 + 1e-9)) {
        char buf[32];
        snprintf(buf, sizeof buf, "%ld", (long)(x + 0.5));
        int rc = add_n(cfg, buf);
        if (rc) return rc;
        x *= fac;
    }
    return 0;
}

static void quick_preset(bench_config *cfg)
{
    cfg->n_ns = 0;
    for (int n = 64; n <= 256; n *= 2) cfg->ns[cfg->n_ns++] = n;
    cfg->budget = 0.5;
    cfg->rep_time = 0.02;
    cfg->max_reps = 20;
    cfg->sgemm_n = 512;
    cfg->err_flops = 5e7;
    cfg->total_budget = 60;
    cfg->roof_time = 0.05;
    cfg->quick = 1;
}

static void defaults(bench_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->d = 64;
    cfg->heads = 4;
    cfg->budget = 15.0;
    cfg->rep_time = 0.5;
    cfg->max_reps = 100;
    cfg->total_budget = 660;
    cfg->mem_budget = 4.0 * 1073741824.0;
    cfg->err_flops = 2e8;
    cfg->sgemm_n = 2048;
    cfg->roof_time = 0.3;
    cfg->seed = 1;
    cfg->out = "results/bench.csv";
    cfg->d_model = 128;
    cfg->vocab = 256;
    cfg->batch = 1;
}

/* ---- flags with a value: one handler each ------------------------------------------ */

static int set_impl(bench_config *cfg, const char *v) { return each_item(cfg, v, add_impl); }
static int set_op(bench_config *cfg, const char *v) { return each_item(cfg, v, add_op); }
static int set_pass(bench_config *cfg, const char *v) { return each_item(cfg, v, add_pass); }

static int set_d(bench_config *cfg, const char *v)
{
    long d = parse_long(v, 1, D_MAX);
    if (d < 0) return fail("d '%s' out of range or not an integer (1..%s)", v, "4096");
    cfg->d = (int)d;
    return 0;
}

static int set_heads(bench_config *cfg, const char *v)
{
    long h = parse_long(v, 1, HEADS_MAX);
    if (h < 0) return fail("heads '%s' out of range (1..%s)", v, "4096");
    cfg->heads = (int)h;
    return 0;
}

static int set_threads(bench_config *cfg, const char *v)
{
    cfg->n_threads = 0;
    return each_item(cfg, v, add_threads);
}

static int set_time(double *dst, const char *v, const char *flag, int zero_ok)
{
    double t = parse_time(v);
    if (t < 0 || (t == 0 && !zero_ok))
        return fail("bad time '%s' for %s (e.g. 2s, 500ms, 1m)", v, flag);
    *dst = t;
    return 0;
}
static int set_budget(bench_config *cfg, const char *v)
{
    return set_time(&cfg->budget, v, "--budget", 0);
}
static int set_rep_time(bench_config *cfg, const char *v)
{
    return set_time(&cfg->rep_time, v, "--rep-time", 0);
}
static int set_total_budget(bench_config *cfg, const char *v)
{
    return set_time(&cfg->total_budget, v, "--total-budget", 1);
}

static int set_max_reps(bench_config *cfg, const char *v)
{
    long r = parse_long(v, 1, 100000);
    if (r < 0) return fail("bad --max-reps '%s' (1..%s)", v, "100000");
    cfg->max_reps = (int)r;
    return 0;
}

static int set_mem(bench_config *cfg, const char *v)
{
    double s = parse_size(v);
    if (s < 0) return fail("bad size '%s' for --mem (e.g. 4G, 512M)%s", v, "");
    cfg->mem_budget = s;
    return 0;
}

static int set_err_flops(bench_config *cfg, const char *v)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !(x >= 0)) return fail("bad --err-flops '%s'%s", v, "");
    cfg->err_flops = x;
    return 0;
}

static int set_sgemm_n(bench_config *cfg, const char *v)
{
    long n = parse_long(v, 16, 16384);
    if (n < 0) return fail("bad --sgemm-n '%s' (16..%s)", v, "16384");
    cfg->sgemm_n = (int)n;
    return 0;
}

static int set_roof_time(bench_config *cfg, const char *v)
{
    return set_time(&cfg->roof_time, v, "--roof-time", 0);
}

static int set_seed(bench_config *cfg, const char *v)
{
    long s = parse_long(v, 0, 2147483647L);
    if (s < 0) return fail("bad --seed '%s'%s", v, "");
    cfg->seed = (unsigned long long)s;
    return 0;
}

static int add_layers(bench_config *cfg, const char *s)
{
    long l = parse_long(s, 1, 64);
    if (l < 0) return fail("bad depth '%s' for --layers (1..%s)", s, "64");
    if (cfg->n_layers >= BENCH_MAX_THREADS) return fail("too many depths%s%s", "", "");
    cfg->layers[cfg->n_layers++] = (int)l;
    return 0;
}
static int set_layers(bench_config *cfg, const char *v)
{
    cfg->n_layers = 0;
    return each_item(cfg, v, add_layers);
}

static int set_d_model(bench_config *cfg, const char *v)
{
    long d = parse_long(v, 1, D_MAX);
    if (d < 0) return fail("d_model '%s' out of range or not an integer (1..%s)", v, "4096");
    cfg->d_model = (int)d;
    return 0;
}

static int set_vocab(bench_config *cfg, const char *v)
{
    long x = parse_long(v, 2, 1 << 20);
    if (x < 0) return fail("vocabulary '%s' out of range (2..%s)", v, "1048576");
    cfg->vocab = (int)x;
    return 0;
}

static int set_batch(bench_config *cfg, const char *v)
{
    long x = parse_long(v, 1, 1 << 16);
    if (x < 0) return fail("batch '%s' out of range (1..%s)", v, "65536");
    cfg->batch = (int)x;
    return 0;
}

static int set_out(bench_config *cfg, const char *v)
{
    if (!v[0]) return fail("empty --out path%s%s", "", "");
    cfg->out = v;
    return 0;
}

static const struct value_flag {
    const char *name;
    int (*set)(bench_config *cfg, const char *v);
} value_flags[] = {
    {"--impl", set_impl},       {"--op", set_op},
    {"--pass", set_pass},       {"--n", parse_ns},
    {"--d", set_d},             {"--heads", set_heads},
    {"--threads", set_threads}, {"--budget", set_budget},
    {"--rep-time", set_rep_time}, {"--max-reps", set_max_reps},
    {"--total-budget", set_total_budget}, {"--mem", set_mem},
    {"--err-flops", set_err_flops}, {"--sgemm-n", set_sgemm_n},
    {"--seed", set_seed},       {"--out", set_out},
    {"--roof-time", set_roof_time}, {"--layers", set_layers},
    {"--d-model", set_d_model}, {"--vocab", set_vocab},
    {"--batch", set_batch},
};

/* bench --model: its own defaults where the operator sweep's do not fit. */
static int add_layers(bench_config *cfg, const char *s);
static void model_defaults(bench_config *cfg)
{
    cfg->n_layers = 0;
    add_layers(cfg, "4");
    add_layers(cfg, "2");
}

/* What the command line asked for beyond the configuration. */
enum { RUN, EXIT_OK };

/* What a --model run was given, for the defaults of what it was not. */
typedef struct model_given {
    int impl, op, heads, n, out, layers, d_model, vocab, batch, threads;
} model_given;

/* --model --scaling: the published shape (ENTP's: N = 64, d_model 384, 6 layers; heads
 * of 64, vocabulary NB = N as count3's), one sequence a step, one thread a rank, each
 * unless given; --quick: L = 2, d_model 32, heads 2, N 16, vocabulary 16. */
static int scaling_args(bench_config *cfg, const model_given *g)
{
    if (!g->layers) {
        cfg->n_layers = 0;
        add_layers(cfg, cfg->quick ? "2" : "6");
    }
    if (!g->d_model) cfg->d_model = cfg->quick ? 32 : 384;
    if (!g->heads) cfg->heads = cfg->quick ? 2 : 6;
    if (!g->vocab) cfg->vocab = cfg->quick ? 16 : 64;
    if (!g->n) parse_ns(cfg, cfg->quick ? "16" : "64");
    if (!g->batch) cfg->batch = 1;
    if (!g->threads) cfg->threads[cfg->n_threads++] = 1;
    if (!g->out) cfg->out = "results/bench_scaling.csv";
    if (cfg->n_threads > 1) return fail("--scaling takes one --threads (per rank)%s%s", "", "");
    return RUN;
}

/* --quick: a model of seconds, L = 2, d_model 32, N 16..64, each unless given. */
static int model_args(bench_config *cfg, const model_given *g)
{
    const int have_impl = g->impl, have_op = g->op, have_heads = g->heads, have_n = g->n,
              have_out = g->out, have_layers = g->layers, have_d_model = g->d_model;
    if (cfg->scaling) {
        const int rc = scaling_args(cfg, g);
        if (rc != RUN) return rc;
    }
    if (cfg->quick && !have_layers && !cfg->scaling) {
        cfg->n_layers = 0;
        add_layers(cfg, "2");
    }
    if (cfg->quick && !have_d_model && !cfg->scaling) cfg->d_model = 32;
    if (cfg->quick && !have_n && !cfg->scaling) parse_ns(cfg, "16:64");
    if (have_op) return fail("--op and --pass do not apply to --model runs%s%s", "", "");
    if (!have_impl) cfg->impls[cfg->n_impls++] = ca_impl_find("omp");
    if (!cfg->impls[0]) return fail("no implementation named omp; give --impl%s%s", "", "");
    if (!have_heads && !cfg->scaling) cfg->heads = 2;
    if (!have_n && !cfg->quick && !cfg->scaling) parse_ns(cfg, "64:4096");
    if (!have_out && !cfg->scaling) cfg->out = "results/bench_model.csv";
    if (cfg->n_threads == 0) cfg->threads[cfg->n_threads++] = omp_get_num_procs();
    if (cfg->d_model % cfg->heads)
        return fail("d_model must be a multiple of heads (--d-model, --heads)%s%s", "", "");
    if (cfg->budget < cfg->rep_time) cfg->rep_time = cfg->budget;
    return RUN;
}

/* bench --split: one implementation (default omp), its own output, the cells chosen in
 * main() from the flags given. */
static int split_args(bench_config *cfg, int have_impl, int have_op, int have_pass, int have_n,
                      int have_out)
{
    if (!have_impl) cfg->impls[cfg->n_impls++] = ca_impl_find("omp");
    if (!cfg->impls[0]) return fail("no implementation named omp; give --impl%s%s", "", "");
    if (cfg->n_impls > 1) return fail("--split profiles one implementation at a time%s%s", "", "");
    for (int k = 0; k < CA_OP_COUNT && !have_op; k++) cfg->op_on[k] = 1;
    for (int k = 0; k < BP_COUNT && !have_pass; k++) cfg->pass_on[k] = 1;
    if (!have_n && !cfg->quick && (have_op || have_pass)) parse_ns(cfg, "1024");
    if (!have_out) cfg->out = "results/split.csv";
    if (cfg->n_threads == 0) cfg->threads[cfg->n_threads++] = omp_get_num_procs();
    for (int k = 0; k < cfg->n_threads; k++)
        if (cfg->threads[k] > KPROF_MAX_THREADS)
            return fail("--split profiles at most %s threads (kernels/kprof.h)%s", "64", "");
    cfg->split = 1 + (have_op || have_pass || have_n); /* 2: explicit cells */
    if (cfg->budget < cfg->rep_time) cfg->rep_time = cfg->budget;
    return RUN;
}

/* Parses argv into cfg: RUN, EXIT_OK (--help, --list done), or an exit code >= 2. */
static int parse_args(int argc, char **argv, bench_config *cfg)
{
    int rc = parse_ns(cfg, "64:8192");
    int have_impl = 0, have_op = 0, have_pass = 0, have_heads = 0, have_n = 0,
        have_out = 0, have_layers = 0, have_d_model = 0, have_vocab = 0, have_batch = 0,
        have_threads = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        char flag[64];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        if (strncmp(a, "--", 2) == 0 && eq && (size_t)(eq - a) < sizeof flag) {
            memcpy(flag, a, (size_t)(eq - a));
            flag[eq - a] = '\0';
            val = eq + 1;
        } else {
            snprintf(flag, sizeof flag, "%s", a);
        }
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        }
        if (strcmp(flag, "--list") == 0) {
            for (int k = 0; k < ca_impl_count(); k++)
                printf("%s\t%s\n", ca_impl_at(k)->name, ca_impl_at(k)->description);
            return EXIT_OK;
        }
        if (strcmp(flag, "--quick") == 0) {
            quick_preset(cfg);
            continue;
        }
        if (strcmp(flag, "--split") == 0) {
            cfg->split = 1;
            continue;
        }
        if (strcmp(flag, "--model") == 0) {
            if (!cfg->model++) model_defaults(cfg);
            continue;
        }
        if (strcmp(flag, "--scaling") == 0) {
            cfg->scaling = 1;
            continue;
        }
        const struct value_flag *vf = NULL;
        for (size_t k = 0; k < sizeof value_flags / sizeof value_flags[0]; k++)
            if (strcmp(flag, value_flags[k].name) == 0) vf = &value_flags[k];
        if (!vf) return fail("unknown flag '%s'%s", a, "");
        if (!val) {
            if (i + 1 >= argc) return fail("flag %s needs a value%s", flag, "");
            val = argv[++i];
        }
        /* The first --impl / --op / --pass replaces the default "all"; later ones add. */
        if (vf->set == set_impl && !have_impl++) cfg->n_impls = 0;
        have_op |= vf->set == set_op;
        have_pass |= vf->set == set_pass;
        have_heads |= vf->set == set_heads;
        have_n |= vf->set == parse_ns;
        have_out |= vf->set == set_out;
        have_layers |= vf->set == set_layers;
        have_d_model |= vf->set == set_d_model;
        have_vocab |= vf->set == set_vocab;
        have_batch |= vf->set == set_batch;
        have_threads |= vf->set == set_threads;
        if (!cfg->model && (vf->set == set_layers || vf->set == set_d_model ||
                            vf->set == set_vocab || vf->set == set_batch))
            return fail("%s applies to --model runs only (give --model first)%s", flag, "");
        rc = vf->set(cfg, val);
    }
    if (rc) return rc;
    if (cfg->model && cfg->split) return fail("--model and --split are separate runs%s%s", "", "");
    if (cfg->split) return split_args(cfg, have_impl, have_op, have_pass, have_n, have_out);
    if (cfg->scaling && !cfg->model) return fail("--scaling is a --model run (give --model)%s%s", "", "");
    if (cfg->model) {
        const model_given g = {have_impl, have_op | have_pass, have_heads, have_n, have_out,
                               have_layers, have_d_model, have_vocab, have_batch,
                               have_threads};
        return model_args(cfg, &g);
    }
    if (!have_impl)
        for (int k = 0; k < ca_impl_count() && cfg->n_impls < BENCH_MAX_IMPLS; k++)
            cfg->impls[cfg->n_impls++] = ca_impl_at(k);
    for (int k = 0; k < CA_OP_COUNT && !have_op; k++) cfg->op_on[k] = 1;
    for (int k = 0; k < BP_COUNT && !have_pass; k++) cfg->pass_on[k] = 1;
    if (cfg->n_threads == 0) cfg->threads[cfg->n_threads++] = omp_get_num_procs();
    if (cfg->n_impls == 0) return fail("no implementation to run%s%s", "", "");
    if (sweep_count(cfg) == 0)
        return fail("no cell to run: none of the operators chosen has the passes chosen%s%s"
                    " (step is a decode step's only pass)", "", "");
    if (cfg->budget < cfg->rep_time) cfg->rep_time = cfg->budget;
    return RUN;
}

/* bench --model --scaling: every rank of the job runs it; they agree on the settings
 * first, and rank 0 alone writes. */
static int run_scaling(bench_config *cfg, machine_info *m, int *argc, char ***argv)
{
    if (comm_start(argc, argv, "bench") != 0) return 1;
    char text[4096], layers[512] = "", ns[1024] = "";
    for (int i = 0; i < cfg->n_layers; i++)
        snprintf(layers + strlen(layers), sizeof layers - strlen(layers), "%s%d", i ? "," : "",
                 cfg->layers[i]);
    for (int i = 0; i < cfg->n_ns; i++)
        snprintf(ns + strlen(ns), sizeof ns - strlen(ns), "%s%d", i ? "," : "", cfg->ns[i]);
    snprintf(text, sizeof text,
             "impl=%s\nthreads=%d\nlayers=%s\nd_model=%d\nheads=%d\nvocab=%d\nbatch=%d\n"
             "n=%s\nrep_time=%g\nmax_reps=%d\nroof_time=%g\nseed=%llu\nquick=%d\ncpu=%s\n"
             "commit=%s\n", cfg->impls[0]->name, cfg->threads[0], layers, cfg->d_model,
             cfg->heads, cfg->vocab, cfg->batch, ns, cfg->rep_time, cfg->max_reps,
             cfg->roof_time, cfg->seed, cfg->quick, m->cpu, m->commit);
    int rc = comm_agree(text, "give every rank the same flags (mpirun -np K build/bench "
                              "--model --scaling FLAGS) and the same build");
    csv_out *out = NULL;
    if (rc == 0 && comm_rank() == 0 && !(out = csv_out_open("bench", cfg->out, &scaling_format)))
        rc = 1;
    rc = (int)comm_max(rc); /* rank 0 could not open the output: every rank stops */
    if (rc == 0 && scaling_run(cfg, m, out) != 0) rc = 1;
    rc = (int)comm_max(rc);
    if (out && rc != 0) csv_out_abort(out);
    if (out && rc == 0 && csv_out_commit(out) != 0) rc = 1;
    if (out && rc == 0) fprintf(stderr, "bench: wrote %s\n", cfg->out);
    return comm_finish(rc);
}

int main(int argc, char **argv)
{
    bench_config cfg;
    defaults(&cfg);
    int rc = parse_args(argc, argv, &cfg);
    if (rc == EXIT_OK) return 0;
    if (rc != RUN) {
        /* Under mpirun the other ranks wait to agree on the settings: they learn that
         * this one stopped (comm_say_exit) rather than waiting for mpirun to end them. */
        for (int i = 1; i < argc; i++)
            if (!strcmp(argv[i], "--scaling") && comm_start(&argc, &argv, "bench") == 0)
                return comm_finish(rc);
        return rc;
    }
    const char *contract = ca_registry_check();
    if (contract) {
        fprintf(stderr, "bench: %s\n", contract);
        return 2;
    }

    machine_info m;
    machine_describe(&m);
    m.grid = cfg.quick ? "quick" : "full";
    if (cfg.scaling) return run_scaling(&cfg, &m, &argc, &argv);
    csv_out *out = csv_out_open("bench", cfg.out,
                                cfg.model   ? &model_format
                                : cfg.split ? &split_format
                                            : &bench_format);
    if (!out) return 1;
    if (cfg.model) {
        fprintf(stderr, "bench: models on %s, d_model=%d heads=%d vocab=%d, training batch %d, %d cells\n",
                cfg.impls[0]->name, cfg.d_model, cfg.heads, cfg.vocab, cfg.batch, model_sweep_count(&cfg));
        if (model_sweep_run(&cfg, &m, out) != 0) {
            csv_out_abort(out);
            return 1;
        }
        if (csv_out_commit(out) != 0) return 1;
        fprintf(stderr, "bench: wrote %s\n", cfg.out);
        return 0;
    }
    if (cfg.split) {
        static split_cell cells[SPLIT_MAX_CELLS];
        const int nc = split_cells(&cfg, cfg.split == 2, cells, SPLIT_MAX_CELLS);
        if (nc == 0) {
            csv_out_abort(out);
            return fail("no cell to profile: none of the operators chosen has the passes "
                        "chosen (cubic_shared is not profiled)%s%s", "", "");
        }
        fprintf(stderr, "bench: split of %d cell(s) on %s, profile clock %s, cpu %s (%d cores)\n",
                nc, cfg.impls[0]->name, kprof_clock(), m.cpu, m.cores);
        if (split_run(&cfg, cells, nc, &m, out) != 0) {
            csv_out_abort(out);
            return 1;
        }
        if (csv_out_commit(out) != 0) return 1;
        fprintf(stderr, "bench: wrote %s\n", cfg.out);
        return 0;
    }
    fprintf(stderr, "bench: %d implementation(s), d=%d heads=%d, cpu %s (%d cores), kernel "
            "path %s, BLIS %s\n", cfg.n_impls, cfg.d, cfg.heads, m.cpu, m.cores, m.kernel_isa,
            m.blis_config);
    machine_cpu_begin(&m);
    if (sweep_run(&cfg, &m, out) != 0) {
        csv_out_abort(out);
        return 1;
    }
    if (csv_out_commit(out) != 0) return 1;
    fprintf(stderr, "bench: wrote %s\n", cfg.out);
    return 0;
}
