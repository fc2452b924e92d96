#include "CKernels.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <string.h>

/* Bit 0: AVX2 + FMA usable; bit 1: AVX-512 F/DQ/BW/VL usable as well. Read once. */
static int vector_support(void) {
    static int cached = -1;
    if (cached < 0) {
        hf_cpu_info cpu;
        hf_cpu_identify(&cpu);
        int avx2 = cpu.avx2 && cpu.fma;
        int avx512 = avx2 && cpu.avx512f && cpu.avx512dq && cpu.avx512bw && cpu.avx512vl;
        cached = avx2 | avx512 << 1;
    }
    return cached;
}

int hf_avx2_fma_available(void) { return vector_support() & 1; }
int hf_avx512_available(void) { return (vector_support() >> 1) & 1; }

/* Operations are never fused into FMAs behind the code's back: the kernels call fma where
 * they mean it, and elsewhere compute what the Swift kernels compute, bit for bit. */
#pragma STDC FP_CONTRACT OFF

#define HF_W 8
#define HF_TARGET "avx2,fma"
#define HF_NAME(x) x##_avx2
#include "kernels_width.h"
#undef HF_W
#undef HF_TARGET
#undef HF_NAME

#define HF_W 16
#define HF_TARGET "avx512f,avx512dq,avx512bw,avx512vl"
#define HF_NAME(x) x##_avx512
#include "kernels_width.h"
#undef HF_W
#undef HF_TARGET
#undef HF_NAME

/* 16-lane vectors on AVX2: the warning is about passing them between functions compiled
 * for different instruction sets, which these static, always-inlined helpers never do. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpsabi"
#define HF_W 16
#define HF_TARGET "avx2,fma"
#define HF_NAME(x) x##_avx512_on_avx2
#include "kernels_width.h"
#undef HF_W
#undef HF_TARGET
#undef HF_NAME
#pragma clang diagnostic pop

const hf_float_kernels *hf_float_kernels_for(hf_kernel_isa isa) {
    switch (isa) {
    case HF_ISA_AVX2: return hf_avx2_fma_available() ? &table_avx2 : NULL;
    case HF_ISA_AVX512: return hf_avx512_available() ? &table_avx512 : NULL;
    case HF_ISA_AVX512_ON_AVX2: return hf_avx2_fma_available() ? &table_avx512_on_avx2 : NULL;
    }
    return NULL;
}

#else

int hf_avx2_fma_available(void) { return 0; }
int hf_avx512_available(void) { return 0; }
const hf_float_kernels *hf_float_kernels_for(hf_kernel_isa isa) { (void)isa; return 0; }

#endif
