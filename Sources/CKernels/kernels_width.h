/* The Float kernels of kernels.c, written once for a vector of HF_W lanes and compiled for
 * the instruction set HF_TARGET. kernels.c includes this file once per instance, with
 * HF_NAME(x) giving each instance's names their own suffix.
 *
 * The code uses Clang's generic vectors (`vector_size`), not intrinsics, so the same text
 * runs at 8 lanes on AVX2, at 16 lanes on AVX-512, and at 16 lanes on AVX2 (the compiler
 * splits each vector in two): the last instance runs the AVX-512 kernels' exact arithmetic
 * on any AVX2 machine, so the tests check it where no AVX-512 processor is at hand.
 *
 * Bit for bit, these are the Swift kernels of LinearAlgebra/Elementwise.swift (the same
 * operations in the same order: kernels.c turns off floating-point contraction), except
 * where they call `fma` explicitly: exp's polynomial and range reduction, and the
 * cross-entropy's t z term. The sums of a kernel add up lanes over blocks of 64 vectors, then
 * in Double, as the Swift kernels do. At 16 lanes a block holds 1024 elements instead of 512,
 * so sums differ from the 8-lane ones in the last bits; column sums add each column in row
 * order at any width, so they are the same. */

#define VF HF_NAME(vf)
#define VI HF_NAME(vi)
#define ATTR __attribute__((target(HF_TARGET)))
#define INLINE static inline __attribute__((always_inline)) ATTR

typedef float VF __attribute__((vector_size(4 * HF_W), aligned(4)));
typedef int VI __attribute__((vector_size(4 * HF_W), aligned(4)));

INLINE VF HF_NAME(load)(const float *p) { VF v; memcpy(&v, p, sizeof v); return v; }
INLINE void HF_NAME(store)(float *p, VF v) { memcpy(p, &v, sizeof v); }
/* The first `count` (< HF_W) elements, the other lanes 0. */
INLINE VF HF_NAME(load_part)(const float *p, ptrdiff_t count) {
    float lanes[HF_W] = {0};
    memcpy(lanes, p, (size_t)count * sizeof(float));
    return HF_NAME(load)(lanes);
}
INLINE void HF_NAME(store_part)(float *p, VF v, ptrdiff_t count) {
    float lanes[HF_W];
    HF_NAME(store)(lanes, v);
    memcpy(p, lanes, (size_t)count * sizeof(float));
}
INLINE VF HF_NAME(splat)(float x) { VF v = {0}; return v + x; }
/* mask lanes (all ones or all zeros) ? a : b */
INLINE VF HF_NAME(select)(VI mask, VF a, VF b) { return (VF)(((VI)a & mask) | ((VI)b & ~mask)); }
/* a > b ? a : b, and a < b ? a : b: x86's max and min, which give b when either is NaN. */
INLINE VF HF_NAME(max)(VF a, VF b) { return HF_NAME(select)(a > b, a, b); }
INLINE VF HF_NAME(min)(VF a, VF b) { return HF_NAME(select)(a < b, a, b); }
INLINE VF HF_NAME(fma)(VF a, VF b, VF c) { return __builtin_elementwise_fma(a, b, c); }
/* All ones in the lanes whose sign bit is set. */
INLINE VI HF_NAME(sign_mask)(VF x) { return (VI)x >> 31; }
/* All ones in lanes 0..<valid. */
INLINE VI HF_NAME(first_lanes)(int valid) {
    VI lane;
    for (int k = 0; k < HF_W; k++) lane[k] = k;
    VI limit = {0};
    return lane < limit + valid;
}
INLINE double HF_NAME(lane_sum)(VF v) {
    double s = 0;
    for (int k = 0; k < HF_W; k++) s += (double)v[k];
    return s;
}

/* exp with the Swift kernel's method: clamp to the normal range (NaN passes through),
 * n = round(x log2 e) by the 1.5 * 2^23 trick, r = x - n ln2 (Cody-Waite), degree-7 Taylor. */
INLINE VF HF_NAME(exp)(VF x) {
    x = HF_NAME(min)(HF_NAME(splat)(88.0f), HF_NAME(max)(HF_NAME(splat)(-87.3f), x));
    const VF magic = HF_NAME(splat)(12582912.0f);
    VF shifted = HF_NAME(fma)(x, HF_NAME(splat)(1.44269504f), magic);
    VF n = shifted - magic;
    VF r = HF_NAME(fma)(-n, HF_NAME(splat)(0.693359375f), x);
    r = HF_NAME(fma)(-n, HF_NAME(splat)(-2.12194440e-4f), r);
    VF p = HF_NAME(splat)(1.0f / 5040);
    p = HF_NAME(fma)(p, r, HF_NAME(splat)(1.0f / 720));
    p = HF_NAME(fma)(p, r, HF_NAME(splat)(1.0f / 120));
    p = HF_NAME(fma)(p, r, HF_NAME(splat)(1.0f / 24));
    p = HF_NAME(fma)(p, r, HF_NAME(splat)(1.0f / 6));
    p = HF_NAME(fma)(p, r, HF_NAME(splat)(0.5f));
    p = HF_NAME(fma)(p, r, HF_NAME(splat)(1.0f));
    p = HF_NAME(fma)(p, r, HF_NAME(splat)(1.0f));
    VI bits = (VI)shifted - (VI)magic;
    VF scale = (VF)((bits + 127) << 23);
    return p * scale;
}

INLINE VF HF_NAME(logistic_lanes)(VF z) {
    VF zero = {0};
    return 1.0f / (1.0f + HF_NAME(exp)(zero - z));
}

ATTR void HF_NAME(hf_logistic_f32)(float *x, ptrdiff_t count) {
    ptrdiff_t i = 0;
    for (; i + HF_W <= count; i += HF_W) HF_NAME(store)(x + i, HF_NAME(logistic_lanes)(HF_NAME(load)(x + i)));
    if (i < count) HF_NAME(store_part)(x + i, HF_NAME(logistic_lanes)(HF_NAME(load_part)(x + i, count - i)), count - i);
}

/* log(1 + e), e in [0, 1]: 2 atanh(s), s = e / (2 + e), odd series to s^14 (as in Swift). */
INLINE VF HF_NAME(log1p_small)(VF e) {
    VF s = e / (2.0f + e);
    VF s2 = s * s;
    VF p = HF_NAME(splat)(1.0f / 15);
    p = HF_NAME(fma)(p, s2, HF_NAME(splat)(1.0f / 13));
    p = HF_NAME(fma)(p, s2, HF_NAME(splat)(1.0f / 11));
    p = HF_NAME(fma)(p, s2, HF_NAME(splat)(1.0f / 9));
    p = HF_NAME(fma)(p, s2, HF_NAME(splat)(1.0f / 7));
    p = HF_NAME(fma)(p, s2, HF_NAME(splat)(1.0f / 5));
    p = HF_NAME(fma)(p, s2, HF_NAME(splat)(1.0f / 3));
    p = HF_NAME(fma)(p, s2, HF_NAME(splat)(1.0f));
    return (s + s) * p;
}

/* One vector of the cross-entropy kernel; lanes 0..<valid are real. */
INLINE void HF_NAME(cross_entropy_lanes)(const float *zp, const float *tp, float *yp, float *gp, int valid,
                                          VF *loss_block, VF *square_block, int squares) {
    VF z = HF_NAME(load)(zp), t = HF_NAME(load)(tp), zero = {0};
    VF magnitude = (VF)((VI)z & 0x7fffffff);
    VF e = HF_NAME(exp)(zero - magnitude);
    /* softplus(z) - t z = max(z, 0) - t z + log(1 + exp(-|z|)); NaN z gives NaN through t z. */
    VF loss = HF_NAME(fma)(-t, z, HF_NAME(max)(z, zero)) + HF_NAME(log1p_small)(e);
    VF inverse = 1.0f / (1.0f + e);
    /* y = 1/(1+e) for z >= 0, e/(1+e) for z < 0 (by the sign bit of z). */
    VF y = HF_NAME(select)(HF_NAME(sign_mask)(z), e * inverse, inverse);
    VF d = y - t;
    if (valid < HF_W) {
        VI keep = HF_NAME(first_lanes)(valid);
        loss = (VF)((VI)loss & keep);
        d = (VF)((VI)d & keep);
    }
    *loss_block += loss;
    if (squares) *square_block += d * d;
    HF_NAME(store)(yp, y);
    if (gp) HF_NAME(store)(gp, d);
}

ATTR double HF_NAME(hf_logistic_cross_entropy_f32)(float *z, const float *t, float *gradient, ptrdiff_t count,
                                                    double *squared_error) {
    double total = 0, total_squares = 0;
    VF block = {0}, squares = {0};
    int in_block = 0, want_squares = squared_error != NULL;
    ptrdiff_t i = 0;
    for (; i + HF_W <= count; i += HF_W) {
        HF_NAME(cross_entropy_lanes)(z + i, t + i, z + i, gradient ? gradient + i : NULL, HF_W, &block, &squares, want_squares);
        /* Lanes for 64 vectors, then Double: the Swift kernel's blocking. */
        if (++in_block == 64) {
            total += HF_NAME(lane_sum)(block); block = (VF){0};
            total_squares += HF_NAME(lane_sum)(squares); squares = (VF){0};
            in_block = 0;
        }
    }
    if (i < count) {
        int valid = (int)(count - i);
        float zt[HF_W] = {0}, tt[HF_W] = {0}, gt[HF_W];
        memcpy(zt, z + i, (size_t)valid * sizeof(float));
        memcpy(tt, t + i, (size_t)valid * sizeof(float));
        HF_NAME(cross_entropy_lanes)(zt, tt, zt, gt, valid, &block, &squares, want_squares);
        memcpy(z + i, zt, (size_t)valid * sizeof(float));
        if (gradient) memcpy(gradient + i, gt, (size_t)valid * sizeof(float));
    }
    total += HF_NAME(lane_sum)(block);
    total_squares += HF_NAME(lane_sum)(squares);
    if (squared_error) *squared_error = total_squares;
    return total;
}

/* Squared error without the 1/2: the sum of (y - t)^2; gradient (when not NULL) = 2 (y - t). */
ATTR double HF_NAME(hf_squared_error_f32)(const float *y, const float *t, float *gradient, ptrdiff_t count) {
    double total = 0;
    VF block = {0};
    int in_block = 0;
    ptrdiff_t i = 0;
    for (; i < count; i += HF_W) {
        ptrdiff_t c = count - i;
        /* Padding lanes of the last vector are 0 - 0. */
        VF d = c >= HF_W ? HF_NAME(load)(y + i) - HF_NAME(load)(t + i)
                         : HF_NAME(load_part)(y + i, c) - HF_NAME(load_part)(t + i, c);
        block += d * d;
        if (gradient) {
            if (c >= HF_W) HF_NAME(store)(gradient + i, 2.0f * d);
            else HF_NAME(store_part)(gradient + i, 2.0f * d, c);
        }
        if (++in_block == 64) { total += HF_NAME(lane_sum)(block); block = (VF){0}; in_block = 0; }
    }
    return total + HF_NAME(lane_sum)(block);
}

/* The logistic unit's first and second derivatives from its output y. */
INLINE VF HF_NAME(logistic_derivative)(VF x, VF y) { return x * (y * (1.0f - y)); }
INLINE VF HF_NAME(logistic_second_derivative)(VF x, VF y) { return x * (y * (1.0f - y) * (1.0f - 2.0f * y)); }

/* x = op(x, y) over count elements. */
#define HF_ZIP_KERNEL(name, op)                                                                     \
    ATTR void HF_NAME(name)(float *x, const float *y, ptrdiff_t count) {                            \
        ptrdiff_t i = 0;                                                                            \
        for (; i + HF_W <= count; i += HF_W)                                                        \
            HF_NAME(store)(x + i, op(HF_NAME(load)(x + i), HF_NAME(load)(y + i)));                  \
        if (i < count)                                                                              \
            HF_NAME(store_part)(x + i, op(HF_NAME(load_part)(x + i, count - i),                     \
                                          HF_NAME(load_part)(y + i, count - i)), count - i);        \
    }
HF_ZIP_KERNEL(hf_multiply_logistic_derivative_f32, HF_NAME(logistic_derivative))
HF_ZIP_KERNEL(hf_multiply_logistic_second_derivative_f32, HF_NAME(logistic_second_derivative))
#undef HF_ZIP_KERNEL

/* destination = source^2. */
ATTR void HF_NAME(hf_square_f32)(const float *source, float *destination, ptrdiff_t count) {
    ptrdiff_t i = 0;
    for (; i + HF_W <= count; i += HF_W) {
        VF v = HF_NAME(load)(source + i);
        HF_NAME(store)(destination + i, v * v);
    }
    if (i < count) {
        VF v = HF_NAME(load_part)(source + i, count - i);
        HF_NAME(store_part)(destination + i, v * v, count - i);
    }
}

/* sums[j] += alpha * sum over rows of m[r * row_stride + j], j < columns: each column added
 * in row order, in strips of 4 vectors held in registers over all rows. */
ATTR void HF_NAME(hf_add_column_sums_f32)(const float *m, ptrdiff_t rows, ptrdiff_t columns, ptrdiff_t row_stride,
                                          float alpha, float *sums) {
    const VF a = HF_NAME(splat)(alpha);
    ptrdiff_t j = 0;
    for (; j + 4 * HF_W <= columns; j += 4 * HF_W) {
        VF s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
        const float *p = m + j;
        for (ptrdiff_t r = 0; r < rows; r++, p += row_stride) {
            s0 += HF_NAME(load)(p);
            s1 += HF_NAME(load)(p + HF_W);
            s2 += HF_NAME(load)(p + 2 * HF_W);
            s3 += HF_NAME(load)(p + 3 * HF_W);
        }
        float *o = sums + j;
        HF_NAME(store)(o, HF_NAME(load)(o) + a * s0);
        HF_NAME(store)(o + HF_W, HF_NAME(load)(o + HF_W) + a * s1);
        HF_NAME(store)(o + 2 * HF_W, HF_NAME(load)(o + 2 * HF_W) + a * s2);
        HF_NAME(store)(o + 3 * HF_W, HF_NAME(load)(o + 3 * HF_W) + a * s3);
    }
    for (; j < columns; j += HF_W) {
        ptrdiff_t c = columns - j;
        VF s = {0};
        const float *p = m + j;
        if (c >= HF_W) {
            for (ptrdiff_t r = 0; r < rows; r++, p += row_stride) s += HF_NAME(load)(p);
            HF_NAME(store)(sums + j, HF_NAME(load)(sums + j) + a * s);
        } else {
            for (ptrdiff_t r = 0; r < rows; r++, p += row_stride) s += HF_NAME(load_part)(p, c);
            HF_NAME(store_part)(sums + j, HF_NAME(load_part)(sums + j, c) + a * s, c);
        }
    }
}

/* x *= y (1 - y) over rows x columns (rows `row_stride` apart), and sums[j] += alpha * the
 * column sums of the new x, added in row order: the logistic layer's backward step and its
 * bias gradient in one pass. Columns go in bands of up to 4096 (one band for the layers of the
 * paper's nets), whose sums build up in a buffer on the stack, row after row. */
ATTR void HF_NAME(hf_logistic_derivative_column_sums_f32)(float *x, const float *y, ptrdiff_t rows, ptrdiff_t columns,
                                                          ptrdiff_t row_stride, float alpha, float *sums) {
    enum { band = 4096 };
    VF acc[band / HF_W];
    const VF a = HF_NAME(splat)(alpha);
    for (ptrdiff_t start = 0; start < columns; start += band) {
        ptrdiff_t width = columns - start < band ? columns - start : band;
        ptrdiff_t full = width / HF_W, tail = width % HF_W;
        /* full + 1 vectors only when there is a tail: a full band has none, and acc no room. */
        for (ptrdiff_t k = 0; k < full + (tail != 0); k++) acc[k] = (VF){0};
        for (ptrdiff_t r = 0; r < rows; r++) {
            float *xr = x + r * row_stride + start;
            const float *yr = y + r * row_stride + start;
            for (ptrdiff_t k = 0; k < full; k++) {
                VF v = HF_NAME(logistic_derivative)(HF_NAME(load)(xr + k * HF_W), HF_NAME(load)(yr + k * HF_W));
                HF_NAME(store)(xr + k * HF_W, v);
                acc[k] += v;
            }
            if (tail) {
                VF v = HF_NAME(logistic_derivative)(HF_NAME(load_part)(xr + full * HF_W, tail),
                                                    HF_NAME(load_part)(yr + full * HF_W, tail));
                HF_NAME(store_part)(xr + full * HF_W, v, tail);
                acc[full] += v;
            }
        }
        float *o = sums + start;
        for (ptrdiff_t k = 0; k < full; k++) HF_NAME(store)(o + k * HF_W, HF_NAME(load)(o + k * HF_W) + a * acc[k]);
        if (tail) HF_NAME(store_part)(o + full * HF_W, HF_NAME(load_part)(o + full * HF_W, tail) + a * acc[full], tail);
    }
}

/* The instance's table of kernels. */
static const hf_float_kernels HF_NAME(table) = {
    .logistic = HF_NAME(hf_logistic_f32),
    .logistic_cross_entropy = HF_NAME(hf_logistic_cross_entropy_f32),
    .squared_error = HF_NAME(hf_squared_error_f32),
    .multiply_logistic_derivative = HF_NAME(hf_multiply_logistic_derivative_f32),
    .multiply_logistic_second_derivative = HF_NAME(hf_multiply_logistic_second_derivative_f32),
    .square = HF_NAME(hf_square_f32),
    .add_column_sums = HF_NAME(hf_add_column_sums_f32),
    .logistic_derivative_column_sums = HF_NAME(hf_logistic_derivative_column_sums_f32),
    .lanes = HF_W,
};

#undef VF
#undef VI
#undef ATTR
#undef INLINE
