/* Hand-written vectorisable C for bench_kernels.py: the workload
 * loss = sum(tanh(x)*sigmoid(x) + 0.5*x*x) with its gradient, and a five-op elementwise chain.
 * Built by the benchmark with `cc -O3 -march=native -fno-math-errno -fno-trapping-math -shared
 * -fPIC`; single thread. exp is an inline range reduction + polynomial so that gcc vectorises
 * the loops; the loss has 16 float lane accumulators per block of 4096, block sums in double.
 * -fno-trapping-math changes no value (only FP exception flags); without it gcc does not
 * if-convert the clamps and vectorises nothing (check: objdump -d shows ymm registers). */
#include <math.h>
#include <stdint.h>

static inline float exp_approx(float x) {
    /* a clamp by comparisons, not fminf/fmaxf: gcc calls libm for those per element
     * (their NaN rules) and then vectorises nothing */
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float n = rintf(x * 1.44269504f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f
              + r * (0.008333334f + r * 0.0013888889f)))));
    union { int32_t i; float f; } scale;    /* not memcpy nor an initializer: gcc turns */
    scale.i = ((int32_t)n + 127) << 23;     /* those into a memset and vectorises nothing */
    return p * scale.f;
}

#define LANES 16
#define BLOCK 4096

/* One block of BLOCK elements: LANES float accumulators (the inner loop is what gcc
 * vectorises; an `omp simd reduction` made it give up, "control flow in loop"). */
static float workload_block(const float *restrict x, float *restrict grad) {
    float acc[LANES] = {0};
    for (long i = 0; i < BLOCK; i += LANES) {
        for (int j = 0; j < LANES; j++) {
            float v = x[i + j];
            float e2 = exp_approx(-2.0f * fabsf(v));
            float t = copysignf((1.0f - e2) / (1.0f + e2), v);
            float s = 1.0f / (1.0f + exp_approx(-v));
            acc[j] += t * s + 0.5f * v * v;
            grad[i + j] = (1.0f - t * t) * s + t * s * (1.0f - s) + v;
        }
    }
    float total = 0.0f;
    for (int j = 0; j < LANES; j++)
        total += acc[j];
    return total;
}

/* Block sums are added in double: the loss stays accurate at 2^24 elements. */
float workload(const float *restrict x, float *restrict grad, long n) {
    double total = 0.0;
    long i = 0;
    for (; i + BLOCK <= n; i += BLOCK)
        total += workload_block(x + i, grad + i);
    for (; i < n; i++) {
        float v = x[i];
        float e2 = exp_approx(-2.0f * fabsf(v));
        float t = copysignf((1.0f - e2) / (1.0f + e2), v);
        float s = 1.0f / (1.0f + exp_approx(-v));
        total += t * s + 0.5f * v * v;
        grad[i] = (1.0f - t * t) * s + t * s * (1.0f - s) + v;
    }
    return (float)total;
}

void chain5(const float *restrict x, float *restrict y, long n) {
#pragma omp simd
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float a = v * 1.5f + 0.5f;
        a = a * v - 2.0f;
        y[i] = (a > 0.0f || a != a) ? a : 0.0f;   /* maximum(a, 0), NaN kept, no fmaxf call */
    }
}
