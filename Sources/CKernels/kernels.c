#include "CKernels.h"

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>

int hf_avx2_fma_available(void) {
    static int cached = -1;
    if (cached >= 0) return cached;
    unsigned a, b, c, d;
    int ok = 0;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
        if (fma && osxsave && avx) {
            unsigned lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            if ((lo & 6) == 6 && __get_cpuid_count(7, 0, &a, &b, &c, &d)) ok = (b >> 5) & 1; /* AVX2 */
        }
    }
    cached = ok;
    return ok;
}

#define AVX2 __attribute__((target("avx2,fma")))

/// exp with the Swift kernel's method: clamp to the normal range (NaN passes through),
/// n = round(x log2 e) by the 1.5 * 2^23 trick, r = x - n ln2 (Cody-Waite), degree-7 Taylor.
static inline AVX2 __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(88.0f), _mm256_max_ps(_mm256_set1_ps(-87.3f), x));
    const __m256 magic = _mm256_set1_ps(12582912.0f);
    __m256 shifted = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504f), magic);
    __m256 n = _mm256_sub_ps(shifted, magic);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_castps_si256(magic));
    __m256 scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(bits, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(p, scale);
}

static inline AVX2 __m256 logistic8(__m256 z) {
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), z));
    return _mm256_div_ps(one, _mm256_add_ps(one, e));
}

AVX2 void hf_logistic_f32_avx2(float *x, ptrdiff_t count) {
    ptrdiff_t i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(x + i, logistic8(_mm256_loadu_ps(x + i)));
    if (i < count) {
        float tail[8] = {0};
        memcpy(tail, x + i, (size_t)(count - i) * sizeof(float));
        _mm256_storeu_ps(tail, logistic8(_mm256_loadu_ps(tail)));
        memcpy(x + i, tail, (size_t)(count - i) * sizeof(float));
    }
}

/// log(1 + e), e in [0, 1]: 2 atanh(s), s = e / (2 + e), odd series to s^14 (as in Swift).
static inline AVX2 __m256 log1p_small8(__m256 e) {
    __m256 s = _mm256_div_ps(e, _mm256_add_ps(_mm256_set1_ps(2.0f), e));
    __m256 s2 = _mm256_mul_ps(s, s);
    __m256 p = _mm256_set1_ps(1.0f / 15);
    p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(1.0f / 13));
    p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(1.0f / 11));
    p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(1.0f / 9));
    p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(1.0f / 7));
    p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(1.0f / 5));
    p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(1.0f / 3));
    p = _mm256_fmadd_ps(p, s2, _mm256_set1_ps(1.0f));
    return _mm256_mul_ps(_mm256_add_ps(s, s), p);
}

static inline AVX2 double lane_sum(__m256 v) {
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    double s = 0;
    for (int k = 0; k < 8; k++) s += (double)lanes[k];
    return s;
}

/// One vector of the cross-entropy kernel; `valid` lanes (1...8) are real.
static inline AVX2 void cross_entropy8(const float *zp, const float *tp, float *yp, float *gp, int valid,
                                       __m256 *loss_block, __m256 *square_block, int squares) {
    __m256 z = _mm256_loadu_ps(zp), t = _mm256_loadu_ps(tp);
    const __m256 one = _mm256_set1_ps(1.0f);
    __m256 magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
    __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), magnitude));
    /* softplus(z) - t z = max(z, 0) - t z + log(1 + exp(-|z|)); NaN z gives NaN through t z. */
    __m256 loss = _mm256_add_ps(_mm256_fnmadd_ps(t, z, _mm256_max_ps(z, _mm256_setzero_ps())), log1p_small8(e));
    __m256 inverse = _mm256_div_ps(one, _mm256_add_ps(one, e));
    /* y = 1/(1+e) for z >= 0, e/(1+e) for z < 0 (blendv picks by the sign bit of z). */
    __m256 y = _mm256_blendv_ps(inverse, _mm256_mul_ps(e, inverse), z);
    __m256 d = _mm256_sub_ps(y, t);
    if (valid < 8) {
        __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(valid), lane));
        loss = _mm256_and_ps(loss, keep);
        d = _mm256_and_ps(d, keep);
    }
    *loss_block = _mm256_add_ps(*loss_block, loss);
    if (squares) *square_block = _mm256_add_ps(*square_block, _mm256_mul_ps(d, d));
    _mm256_storeu_ps(yp, y);
    if (gp) _mm256_storeu_ps(gp, d);
}

AVX2 double hf_logistic_cross_entropy_f32_avx2(float *z, const float *t, float *gradient, ptrdiff_t count,
                                               double *squared_error) {
    double total = 0, total_squares = 0;
    __m256 block = _mm256_setzero_ps(), squares = _mm256_setzero_ps();
    int in_block = 0, want_squares = squared_error != NULL;
    ptrdiff_t i = 0;
    for (; i + 8 <= count; i += 8) {
        cross_entropy8(z + i, t + i, z + i, gradient ? gradient + i : NULL, 8, &block, &squares, want_squares);
        /* Lanes for 64 vectors, then Double: the Swift kernel's blocking. */
        if (++in_block == 64) {
            total += lane_sum(block); block = _mm256_setzero_ps();
            total_squares += lane_sum(squares); squares = _mm256_setzero_ps();
            in_block = 0;
        }
    }
    if (i < count) {
        int valid = (int)(count - i);
        float zt[8] = {0}, tt[8] = {0}, gt[8];
        memcpy(zt, z + i, (size_t)valid * sizeof(float));
        memcpy(tt, t + i, (size_t)valid * sizeof(float));
        cross_entropy8(zt, tt, zt, gt, valid, &block, &squares, want_squares);
        memcpy(z + i, zt, (size_t)valid * sizeof(float));
        if (gradient) memcpy(gradient + i, gt, (size_t)valid * sizeof(float));
    }
    total += lane_sum(block);
    total_squares += lane_sum(squares);
    if (squared_error) *squared_error = total_squares;
    return total;
}

#else

#include <stdlib.h>
int hf_avx2_fma_available(void) { return 0; }
void hf_logistic_f32_avx2(float *x, ptrdiff_t count) { (void)x; (void)count; abort(); }
double hf_logistic_cross_entropy_f32_avx2(float *z, const float *t, float *gradient, ptrdiff_t count,
                                          double *squared_error) {
    (void)z; (void)t; (void)gradient; (void)count; (void)squared_error; abort();
}

#endif
