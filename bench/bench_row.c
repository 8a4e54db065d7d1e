/* bench_row.c: a timed cell's row and the machine it ran on as a record of bench.csv
 * (lib/results/results.h): what the cell did not measure is left empty, and the
 * fractions of the ceilings are worked out here, once. */
#include "bench.h"
#include "results.h"

int bench_row_write(csv_out *out, const bench_row *r, const machine_info *m)
{
    const int timed = r->t_median > 0;
    const bench_record rec = {
        /* the cell */
        .impl = r->impl, .op = ca_op_get(r->op)->name, .pass = bpass_name(r->pass), .n = r->n,
        .d = r->d, .heads = r->heads, .threads = r->threads,
        /* its times, rate and error */
        .reps = timed ? r->reps : 0, .t_min = csv_real_if(timed, r->t_min),
        .t_med = csv_real_if(timed, r->t_median), .t_max = csv_real_if(timed, r->t_max),
        .gflops = csv_real_if(timed, r->gflops),
        .frac = csv_real_if(timed && r->sgemm_gflops > 0, r->frac_of_sgemm), .flops = r->flops,
        .bytes = csv_real_if(r->bytes >= 0, r->bytes),
        .max_err = csv_real_if(r->max_err >= 0, r->max_err), .err_ref = r->err_ref,
        .predicted = csv_real_if(r->predicted_s >= 0, r->predicted_s), .status = r->status,
        /* the ceilings and the cell against them */
        .sgemm = csv_real_if(r->sgemm_gflops > 0, r->sgemm_gflops), .sgemm_n = r->sgemm_n,
        .impl_note = r->impl_note, .peak = csv_real_if(r->peak_gflops > 0, r->peak_gflops),
        .frac_peak = csv_real_if(timed && r->peak_gflops > 0, r->gflops / r->peak_gflops),
        .ukr = csv_real_if(r->ukr_gflops > 0, r->ukr_gflops),
        .bw = csv_real_if(r->bw_gbs > 0, r->bw_gbs),
        .bytes_moved = csv_real_if(r->bytes_moved > 0, r->bytes_moved),
        .gbs = csv_real_if(timed && r->gbs > 0, r->gbs),
        .frac_bw = csv_real_if(timed && r->gbs > 0 && r->bw_gbs > 0, r->gbs / r->bw_gbs),
        .cache_state = r->cache_state, .peak_note = r->peak_note,
        /* the code and the machine */
        .commit = m->commit, .date = m->date, .compiler = m->compiler, .cflags = m->cflags,
        .cpu = m->cpu, .cores = m->cores, .blis_config = m->blis_config,
        .kernel_isa = m->kernel_isa, .other_cores = csv_real_if(m->other_cores >= 0, m->other_cores),
        .grid = m->grid,
    };
    return csv_out_record(out, &rec);
}
