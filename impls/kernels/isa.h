/* isa.h: the kernel paths built once per instruction set and picked at run time
 * (isa.c, docs/DESIGN.md §7).
 *
 * The Makefile's ISAS names the paths, narrowest first, and ISA_FLAGS_<name> the compiler
 * flags of each; every file of ISA_SRC is compiled once per path with those flags and
 * -DISA_BUILD=<name>, and ISA_NAME(x) gives its exported names that path's suffix
 * (x_avx2, x_avx512, ...). The Makefile also writes $(BUILD)/isa_list.h, one ISA(name) per
 * path, so this list lives in the Makefile alone.
 *
 * What a path needs of the CPU is read from the compiler's own feature macros as that
 * object was compiled (ISA_BUILD_FEATURES): change a path's flags and its run-time check
 * follows, with nothing to keep in step by hand.
 */
#ifndef ISA_H
#define ISA_H

#define ISA_CAT2(a, b) a##_##b
#define ISA_CAT(a, b) ISA_CAT2(a, b)
#define ISA_STR2(a) #a
#define ISA_STR(a) ISA_STR2(a)
#ifdef ISA_BUILD
#define ISA_NAME(x) ISA_CAT(x, ISA_BUILD)
#endif

/* CPU features a path's flags may let the compiler use; isa.c asks the CPU for each. */
enum {
    ISA_F_AVX = 1u << 0,
    ISA_F_AVX2 = 1u << 1,
    ISA_F_FMA = 1u << 2,
    ISA_F_BMI = 1u << 3,
    ISA_F_BMI2 = 1u << 4,
    ISA_F_POPCNT = 1u << 5,
    ISA_F_AVX512F = 1u << 6,
    ISA_F_AVX512DQ = 1u << 7,
    ISA_F_AVX512CD = 1u << 8,
    ISA_F_AVX512BW = 1u << 9,
    ISA_F_AVX512VL = 1u << 10,
    ISA_F_COUNT = 11
};

/* The features this translation unit is compiled for. F16C, MOVBE and LZCNT are left
 * out: every AVX2 CPU has them (x86-64-v3, the baseline all code is built for), and
 * clang's __builtin_cpu_supports does not know them. */
#ifdef __AVX__
#define ISA_HAS_AVX ISA_F_AVX
#else
#define ISA_HAS_AVX 0
#endif
#ifdef __AVX2__
#define ISA_HAS_AVX2 ISA_F_AVX2
#else
#define ISA_HAS_AVX2 0
#endif
#ifdef __FMA__
#define ISA_HAS_FMA ISA_F_FMA
#else
#define ISA_HAS_FMA 0
#endif
#ifdef __BMI__
#define ISA_HAS_BMI ISA_F_BMI
#else
#define ISA_HAS_BMI 0
#endif
#ifdef __BMI2__
#define ISA_HAS_BMI2 ISA_F_BMI2
#else
#define ISA_HAS_BMI2 0
#endif
#ifdef __POPCNT__
#define ISA_HAS_POPCNT ISA_F_POPCNT
#else
#define ISA_HAS_POPCNT 0
#endif
#ifdef __AVX512F__
#define ISA_HAS_AVX512F ISA_F_AVX512F
#else
#define ISA_HAS_AVX512F 0
#endif
#ifdef __AVX512DQ__
#define ISA_HAS_AVX512DQ ISA_F_AVX512DQ
#else
#define ISA_HAS_AVX512DQ 0
#endif
#ifdef __AVX512CD__
#define ISA_HAS_AVX512CD ISA_F_AVX512CD
#else
#define ISA_HAS_AVX512CD 0
#endif
#ifdef __AVX512BW__
#define ISA_HAS_AVX512BW ISA_F_AVX512BW
#else
#define ISA_HAS_AVX512BW 0
#endif
#ifdef __AVX512VL__
#define ISA_HAS_AVX512VL ISA_F_AVX512VL
#else
#define ISA_HAS_AVX512VL 0
#endif
#define ISA_BUILD_FEATURES                                                                  \
    (ISA_HAS_AVX | ISA_HAS_AVX2 | ISA_HAS_FMA | ISA_HAS_BMI | ISA_HAS_BMI2 | ISA_HAS_POPCNT | \
     ISA_HAS_AVX512F | ISA_HAS_AVX512DQ | ISA_HAS_AVX512CD | ISA_HAS_AVX512BW |              \
     ISA_HAS_AVX512VL)

/* A feature the list above does not check must not be compiled in unchecked: a path's
 * flags that enable one need an entry here and in isa.c first. */
#if defined(__AVX512VNNI__) || defined(__AVX512IFMA__) || defined(__AVX512VBMI__) ||   \
    defined(__AVX512VBMI2__) || defined(__AVX512BF16__) || defined(__AVX512FP16__) ||   \
    defined(__AVX512BITALG__) || defined(__AVX512VPOPCNTDQ__) || defined(__AVXVNNI__) || \
    defined(__AMX_TILE__) || defined(__AVX512ER__) || defined(__AVX512PF__)
#error "a feature isa.h does not check at run time is enabled (see ISA_BUILD_FEATURES)"
#endif

/* Names of the features in mask, for messages ("avx512bw avx512vl"). */
void isa_feature_names(unsigned mask, char *out, unsigned long cap);

/* The features this CPU (and its OS, for the vector state) supports: ISA_F_* bits. */
unsigned isa_cpu_features(void);

/* The chosen path's index in the Makefile's ISAS (0 = the narrowest), chosen once: the
 * widest one this CPU runs, or the one CA_ISA names. An unknown or unsupported CA_ISA
 * ends the process with a message (exit status 2): a forced path that silently ran
 * another would make a test of that path pass without running it. */
int isa_chosen(void);

#endif
