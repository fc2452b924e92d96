#ifndef HESSIANFREE_CKERNELS_H
#define HESSIANFREE_CKERNELS_H

/// The Float kernels of the gradient and curvature passes in AVX2 + FMA and in AVX-512,
/// chosen at run time.
///
/// Swift has no per-function target attribute, so its SIMD kernels compile for the x86-64
/// baseline (SSE2). These C versions are compiled for AVX2 + FMA (8 lanes) and for AVX-512
/// F/DQ/BW/VL (16 lanes) from one source (kernels_width.h), and are handed out only when
/// CPUID and XGETBV say the processor and the OS support them; otherwise (and on other
/// architectures) the Swift kernels run. Same algorithms as the Swift kernels (see
/// LinearAlgebra/Elementwise.swift): the explicit FMAs of exp and the cross-entropy change
/// the last bits, nothing else does.

#include <stddef.h>
#include "hf_cpu.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma clang assume_nonnull begin

/// The Float kernels of one instruction set. Each works on count elements (or a rows x
/// columns block whose rows are row_stride elements apart) and never allocates.
typedef struct {
    /// x[i] = 1 / (1 + exp(-x[i])).
    void (*logistic)(float *x, ptrdiff_t count);
    /// Binary cross-entropy from pre-activations z: returns the sum of softplus(z) - t z and
    /// replaces z by y = logistic(z); writes y - t to gradient when it is not NULL; when
    /// squared_error is not NULL, stores the sum of (y - t)^2 there.
    double (*logistic_cross_entropy)(float *z, const float *t, float *_Nullable gradient, ptrdiff_t count,
                                     double *_Nullable squared_error);
    /// Returns the sum of (y - t)^2; writes 2 (y - t) to gradient when it is not NULL.
    double (*squared_error)(const float *y, const float *t, float *_Nullable gradient, ptrdiff_t count);
    /// x[i] *= y[i] (1 - y[i]).
    void (*multiply_logistic_derivative)(float *x, const float *y, ptrdiff_t count);
    /// x[i] *= y[i] (1 - y[i]) (1 - 2 y[i]).
    void (*multiply_logistic_second_derivative)(float *x, const float *y, ptrdiff_t count);
    /// destination[i] = source[i]^2.
    void (*square)(const float *source, float *destination, ptrdiff_t count);
    /// sums[j] += alpha * sum_r m[r row_stride + j] for j < columns, each column in row order.
    void (*add_column_sums)(const float *m, ptrdiff_t rows, ptrdiff_t columns, ptrdiff_t row_stride,
                            float alpha, float *sums);
    /// x *= y (1 - y) over the block, then sums[j] += alpha * the column sums of the new x,
    /// in row order (the order of add_column_sums).
    void (*logistic_derivative_column_sums)(float *x, const float *y, ptrdiff_t rows, ptrdiff_t columns,
                                            ptrdiff_t row_stride, float alpha, float *sums);
    /// Floats per vector: 8 or 16.
    int lanes;
} hf_float_kernels;

typedef enum {
    /// 8 lanes, AVX2 + FMA.
    HF_ISA_AVX2 = 1,
    /// 16 lanes, AVX-512 F/DQ/BW/VL.
    HF_ISA_AVX512 = 2,
    /// The AVX-512 kernels' source at 16 lanes, compiled for AVX2 + FMA (each vector split in
    /// two): the same arithmetic, bit for bit, on any AVX2 processor, for tests.
    HF_ISA_AVX512_ON_AVX2 = 3,
} hf_kernel_isa;

/// 1 when AVX2 and FMA can be used (CPUID, and XGETBV for the OS's YMM state), else 0.
int hf_avx2_fma_available(void);
/// 1 when AVX-512 F, DQ, BW and VL (and AVX2 + FMA) can be used, the OS saving the ZMM and
/// opmask state, else 0.
int hf_avx512_available(void);

/// The kernels of `isa`, or NULL when this processor cannot run them.
const hf_float_kernels *_Nullable hf_float_kernels_for(hf_kernel_isa isa);

#pragma clang assume_nonnull end

#ifdef __cplusplus
}
#endif

#endif
