#ifndef HESSIANFREE_CPU_H
#define HESSIANFREE_CPU_H

/// What the processor and the operating system support, from CPUID and XGETBV, for choosing
/// OpenBLAS's kernels (see LinearAlgebra/OpenBLASCore.swift). On other architectures every
/// field is zero and the strings are empty.

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    /// 1 on x86-64.
    int x86_64;
    /// CPUID leaf 0 vendor string ("GenuineIntel", "AuthenticAMD", ...), NUL-terminated.
    char vendor[13];
    /// CPUID leaves 0x80000002-4 brand string, leading spaces removed, NUL-terminated.
    char brand[49];
    /// Display family and model (base plus extended fields, as Intel's and AMD's manuals define them).
    int family;
    int model;
    /// 1 when usable: the CPUID bit is set and XGETBV says the OS saves the registers
    /// (YMM for AVX2/FMA; opmask and ZMM as well for AVX-512).
    int avx2;
    int fma;
    int avx512f;
    int avx512bw;
    int avx512dq;
    int avx512vl;
    int avx512bf16;
} hf_cpu_info;

/// Fills `info` (every field; zeros where unknown).
void hf_cpu_identify(hf_cpu_info *info);

#ifdef __cplusplus
}
#endif

#endif
