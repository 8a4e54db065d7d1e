/* tsan_drive.c: the program `make tsan` runs under ThreadSanitizer. Every entry point of
 * every registered implementation, at shapes where threads share output rows (one head,
 * several 64-row key tiles; see verify's determinism check), at 2 and 4 threads; with
 * --mutant, the backward that races on dq (tests/mutants.c), which TSan must report, so
 * that a clean run means something. Exits 0; TSan's own exit code reports races.
 * TSan instruments accesses of at most 16 bytes: the kernels' 32-byte vector loads and
 * stores are invisible to it, so the head dims are 3 (every column on the scalar path)
 * and 19 (16 vector columns, 3 scalar ones). */
#include "mutants.h"
#include "problem.h"

#include <stdio.h>
#include <string.h>

static int drive(const ca_impl *impl, ca_op op, ca_shape sh, int threads)
{
    problem p;
    tensors t;
    if (problem_init(&p, op, sh, IN_NORMAL, 42) != CA_OK) return 1;
    if (tensors_alloc(&p, &t) != CA_OK) {
        problem_free(&p);
        return 1;
    }
    const int bwd = ca_op_get(op)->bwd != CA_NO_ENTRY && ca_impl_provides(impl, ca_op_get(op)->bwd);
    ca_status st = problem_run(&p, impl, threads, bwd, &t);
    if (st != CA_OK && st != CA_ERR_NOT_PROVIDED)
        fprintf(stderr, "tsan_drive: %s %s: %s\n", impl->name, op_name(op), ca_status_str(st));
    tensors_free(&t);
    problem_free(&p);
    return st != CA_OK && st != CA_ERR_NOT_PROVIDED;
}

int main(int argc, char **argv)
{
    int fails = 0;
    if (argc > 1 && !strcmp(argv[1], "--mutant")) {
        for (int r = 0; r < 3; r++)
            fails += drive(&mutant_dq_race, CA_OP_CAUSAL, (ca_shape){300, 3, 1}, 4);
        return fails != 0;
    }
    for (int i = 0; i < ca_impl_count(); i++)
        for (int op = 0; op < CA_OP_COUNT; op++) {
            const int per_prefix = op_per_prefix(op);
            for (int d = 3; d <= 19; d += 16)
                for (int threads = 2; threads <= 4; threads += 2) {
                    ca_shape sh = {per_prefix ? (op_shared_inputs(op) ? 150 : 40) : 300, d, 1};
                    fprintf(stderr, "tsan_drive: %s %s N=%d d=%d, %d threads\n",
                            ca_impl_at(i)->name, op_name(op), sh.n, d, threads);
                    fails += drive(ca_impl_at(i), op, sh, threads);
                }
        }
    return fails != 0;
}
