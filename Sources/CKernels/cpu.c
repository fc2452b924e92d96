#include "hf_cpu.h"
#include <string.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>

/* XCR0 bits: 1 SSE, 2 AVX (YMM upper halves), 5 opmask, 6 ZMM upper halves, 7 ZMM16-31. */
#define XCR0_YMM 0x6u
#define XCR0_ZMM 0xE6u

static unsigned long long read_xcr0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

void hf_cpu_identify(hf_cpu_info *info) {
    memset(info, 0, sizeof *info);
    info->x86_64 = 1;
    unsigned a, b, c, d;
    unsigned max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf == 0) return;
    __cpuid(0, a, b, c, d);
    memcpy(info->vendor, &b, 4);
    memcpy(info->vendor + 4, &d, 4);
    memcpy(info->vendor + 8, &c, 4);

    if (__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
        unsigned words[12];
        for (unsigned leaf = 0; leaf < 3; leaf++)
            __cpuid(0x80000002u + leaf, words[4 * leaf], words[4 * leaf + 1], words[4 * leaf + 2], words[4 * leaf + 3]);
        char raw[49];
        memcpy(raw, words, 48);
        raw[48] = 0;
        const char *start = raw;
        while (*start == ' ') start++;
        strncpy(info->brand, start, sizeof info->brand - 1);
    }

    __cpuid(1, a, b, c, d);
    int base_family = (a >> 8) & 0xF, base_model = (a >> 4) & 0xF;
    info->family = base_family == 0xF ? base_family + (int)((a >> 20) & 0xFF) : base_family;
    info->model = (base_family == 0x6 || base_family == 0xF) ? base_model + (int)(((a >> 16) & 0xF) << 4) : base_model;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!(osxsave && avx)) return;
    unsigned long long xcr0 = read_xcr0();
    int ymm = (xcr0 & XCR0_YMM) == XCR0_YMM, zmm = (xcr0 & XCR0_ZMM) == XCR0_ZMM;
    if (!ymm || max_leaf < 7) return;
    info->fma = fma;
    __cpuid_count(7, 0, a, b, c, d);
    info->avx2 = (b >> 5) & 1;
    unsigned subleaves = a;
    if (!zmm) return;
    info->avx512f = (b >> 16) & 1;
    info->avx512dq = (b >> 17) & 1;
    info->avx512bw = (b >> 30) & 1;
    info->avx512vl = (b >> 31) & 1;
    if (subleaves >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        info->avx512bf16 = (a >> 5) & 1;
    }
}

#else

void hf_cpu_identify(hf_cpu_info *info) { memset(info, 0, sizeof *info); }

#endif
