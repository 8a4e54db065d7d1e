/* adamw.c: AdamW, decoupled weight decay (model.h model_adamw); a body of the model
 * (real.h). The moments are kept in the model's precision, the update computed in
 * double. */
#include "real.h"

#include <math.h>

static void model_adamw_update(const model_adamw *opt, int64_t step, size_t count,
                               real *params, const real *grads, real *m, real *v)
{
    const double c1 = 1.0 - pow(opt->beta1, (double)step);
    const double c2 = 1.0 - pow(opt->beta2, (double)step);
#pragma omp parallel for schedule(static) if (count >= PAR_MIN)
    for (size_t i = 0; i < count; i++) {
        double g = grads[i];
        double mi = opt->beta1 * m[i] + (1.0 - opt->beta1) * g;
        double vi = opt->beta2 * v[i] + (1.0 - opt->beta2) * g * g;
        m[i] = (real)mi;
        v[i] = (real)vi;
        double update = (mi / c1) / (sqrt(vi / c2) + opt->eps) + opt->weight_decay * params[i];
        params[i] = (real)(params[i] - opt->lr * update);
    }
}
