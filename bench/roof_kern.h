/* roof_kern.h: one kernel path's copy of the bench's register-only ceiling kernels
 * (roof_kern.c, built per path of the Makefile's ISAS; roof.c runs the chosen one). */
#ifndef ROOF_KERN_H
#define ROOF_KERN_H

typedef struct roof_kern {
    const char *isa;              /* the vector unit, e.g. "AVX-512" */
    int vw;                       /* floats in a vector */
    int flops_per_fma, chains;    /* the FMA peak loop: independent accumulators */
    int mr, nr, kc;               /* the micro-kernel's C tile and depth */
    float (*peak)(long iters, float seed);
    float (*ukr)(long iters, float seed);
} roof_kern;

#endif
