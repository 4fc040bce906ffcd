/* Hand-written vectorisable C for bench_kernels.py: the workload
 * loss = sum(tanh(x)*sigmoid(x) + 0.5*x*x) with its gradient, and a five-op elementwise chain.
 * Built by the benchmark with `cc -O3 -march=native -fno-math-errno -fopenmp-simd -shared
 * -fPIC`; single thread. exp is an inline range reduction + polynomial so that gcc vectorises
 * the loops; the loss is an `omp simd` reduction (one float accumulator per vector lane). */
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float exp_approx(float x) {
    x = fminf(fmaxf(x, -87.0f), 88.0f);
    float n = rintf(x * 1.44269504f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f
              + r * (0.008333334f + r * 0.0013888889f)))));
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

float workload(const float *restrict x, float *restrict grad, long n) {
    float total = 0.0f;
#pragma omp simd reduction(+:total)
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float e2 = exp_approx(-2.0f * fabsf(v));
        float t = copysignf((1.0f - e2) / (1.0f + e2), v);
        float s = 1.0f / (1.0f + exp_approx(-v));
        total += t * s + 0.5f * v * v;
        grad[i] = (1.0f - t * t) * s + t * s * (1.0f - s) + v;
    }
    return total;
}

void chain5(const float *restrict x, float *restrict y, long n) {
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float a = v * 1.5f + 0.5f;
        a = a * v - 2.0f;
        y[i] = fmaxf(a, 0.0f);
    }
}
