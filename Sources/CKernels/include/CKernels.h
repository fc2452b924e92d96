#ifndef HESSIANFREE_CKERNELS_H
#define HESSIANFREE_CKERNELS_H

/// The two compute-bound Float kernels of a gradient pass (the logistic units and the
/// logistic cross-entropy of the outputs) in AVX2 + FMA, chosen at run time.
///
/// Swift has no per-function target attribute, so its SIMD kernels compile for the x86-64
/// baseline (SSE2). These C versions carry `__attribute__((target("avx2,fma")))` and are
/// called only when `hf_avx2_fma_available()` says the processor and the OS support them;
/// otherwise (and on other architectures) the Swift kernels run. Same algorithms as the
/// Swift kernels (see LinearAlgebra/Elementwise.swift); FMA changes the last bits.

#include <stddef.h>
#include "hf_cpu.h"

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when AVX2 and FMA can be used (CPUID, and XGETBV for the OS's YMM state), else 0.
int hf_avx2_fma_available(void);

/// x[i] = 1 / (1 + exp(-x[i])) for i < count.
void hf_logistic_f32_avx2(float *x, ptrdiff_t count);

/// Binary cross-entropy from pre-activations z (count elements): returns the sum of
/// softplus(z) - t z and replaces z by y = logistic(z); writes y - t to gradient when it is
/// not NULL; when squared_error is not NULL, stores the sum of (y - t)^2 there.
double hf_logistic_cross_entropy_f32_avx2(float *z, const float *t, float *gradient, ptrdiff_t count,
                                          double *squared_error);

#ifdef __cplusplus
}
#endif

#endif
