/*
 * lossk from C: cross-entropy in float32 and float64, class-index and
 * probability targets, the gradient in place, and the error statuses.
 * Only the public header is used. Every number is checked against the
 * closed form; the program exits with 1 on any mismatch.
 *
 * Build against the library sources (csrc/sources.txt lists them):
 *   cc -O2 -fopenmp -Icsrc/include -Icsrc/core -Icsrc examples/cross_entropy.c \
 *      csrc/core/common.c csrc/core/dispatch.c csrc/softmax/softmax.c -lm -o ce_example
 * or with CMake: -DLOSSK_BUILD_EXAMPLES=ON (target lossk_example_cross_entropy),
 * or against the library `pip install .` installed (tests/test_c_package.py):
 *   PKG_CONFIG_PATH="$(lossk info --pkgconfig-dir)" \
 *      sh -c 'cc examples/cross_entropy.c $(pkg-config --cflags --libs lossk) -lm -o ce_example'
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "lossk.h"

static int failures = 0;

static void expect_close(const char *what, double got, double want) {
    const double tol = 1e-5 * (fabs(want) > 1.0 ? fabs(want) : 1.0);
    const int ok = fabs(got - want) <= tol;
    printf("%-44s %12.8f  (expected %12.8f)%s\n", what, got, want, ok ? "" : "  MISMATCH");
    if (!ok) failures++;
}

static void expect_status(const char *what, lossk_status got, lossk_status want) {
    const int ok = got == want;
    printf("%-44s %s%s\n", what, lossk_status_string(got), ok ? "" : "  UNEXPECTED");
    if (!ok) failures++;
}

/* log(sum exp(x)) of a short row, for the expected values */
static double lse(const double *x, int c) {
    double m = x[0], s = 0.0;
    for (int k = 1; k < c; k++) m = x[k] > m ? x[k] : m;
    for (int k = 0; k < c; k++) s += exp(x[k] - m);
    return m + log(s);
}

/* Plain C loop: mean over rows of w[t] (lse - x[t]) + smoothing, layout (n, c, inner). */
static double naive_mean(const float *x, int64_t n, int64_t c, int64_t inner, const int64_t *t,
                         const float *w, double eps) {
    double total = 0.0, denom = 0.0;
    for (int64_t s = 0; s < n; s++)
        for (int64_t i = 0; i < inner; i++) {
            double m = -INFINITY, sum = 0.0, smooth = 0.0;
            for (int64_t k = 0; k < c; k++) m = fmax(m, x[(s * c + k) * inner + i]);
            for (int64_t k = 0; k < c; k++) sum += exp(x[(s * c + k) * inner + i] - m);
            const double l = m + log(sum);
            for (int64_t k = 0; k < c; k++) {
                smooth += w[k] * (l - x[(s * c + k) * inner + i]);
            }
            const int64_t y = t[s * inner + i];
            total += (1.0 - eps) * w[y] * (l - x[(s * c + y) * inner + i]) + eps / (double)c * smooth;
            denom += w[y];
        }
    return total / denom;
}

/* A larger problem on 2 threads: long rows (row kernel), one row longer than
   a chunk (rows shared by threads), a spatial layout; class weights, label
   smoothing, the gradient in place. */
static void larger_problems(void) {
    const int64_t shapes[3][3] = {{16, 5000, 1}, {1, 20000, 1}, {2, 7, 300}};  /* n, c, inner */
    for (int p = 0; p < 3; p++) {
        const int64_t n = shapes[p][0], c = shapes[p][1], inner = shapes[p][2], elems = n * c * inner;
        float *x = (float *)malloc((size_t)elems * sizeof(float));
        float *w = (float *)malloc((size_t)c * sizeof(float));
        int64_t *t = (int64_t *)malloc((size_t)(n * inner) * sizeof(int64_t));
        if (!x || !w || !t) { printf("out of memory\n"); failures++; free(x); free(w); free(t); return; }
        unsigned state = 12345u;
        for (int64_t i = 0; i < elems; i++) {
            state = state * 1664525u + 1013904223u;       /* LCG: values in [-4, 4) */
            x[i] = (float)((state >> 8) * (8.0 / 16777216.0) - 4.0);
        }
        for (int64_t k = 0; k < c; k++) w[k] = 0.5f + (float)(k % 3);
        for (int64_t i = 0; i < n * inner; i++) t[i] = (i * 7919) % c;
        const double want = naive_mean(x, n, c, inner, t, w, 0.1);
        double loss = 0.0;
        lossk_status st = lossk_cross_entropy_f32(x, n, c, inner, t, LOSSK_INDEX_INT64, w, -100, 0.1,
                                                  LOSSK_REDUCTION_MEAN, &loss, NULL, x /* in place */, 2, NULL);
        char what[80];
        snprintf(what, sizeof what, "f32 (%lld, %lld, %lld) mean, 2 threads", (long long)n, (long long)c,
                 (long long)inner);
        expect_status(what, st, LOSSK_OK);
        expect_close("  loss vs a plain C loop", loss, want);
        double gsum = 0.0;                                 /* softmax rows sum to 1: the gradient to 0 */
        for (int64_t i = 0; i < elems; i++) gsum += x[i];
        expect_close("  sum of the gradient", gsum, 0.0);
        free(x); free(w); free(t);
    }
}

int main(void) {
    enum { N = 3, C = 4 };
    const double x64[N * C] = {1.0, 2.0, 0.5, -1.0,
                               0.0, 0.0, 0.0, 0.0,
                               3.0, -2.0, 1.0, 0.25};
    const int64_t t64[N] = {1, 3, 0};
    const int32_t t32[N] = {1, 3, 0};
    double want_rows[N], want_mean = 0.0;
    for (int r = 0; r < N; r++) {
        want_rows[r] = lse(x64 + r * C, C) - x64[r * C + t64[r]];
        want_mean += want_rows[r] / N;
    }
    printf("lossk %s (header %s), SIMD %s, OpenMP %d\n", lossk_version_string(), LOSSK_VERSION_STRING,
           lossk_simd_level_name(lossk_simd_level_active()), lossk_has_openmp());
    if (lossk_version_number() != LOSSK_VERSION_NUMBER) {
        printf("library version %u differs from the header's %d\n", lossk_version_number(), LOSSK_VERSION_NUMBER);
        failures++;
    }

    /* float64, int64 targets, mean, gradient into its own buffer */
    double loss = 0.0, grad64[N * C];
    int64_t bad = -1;
    lossk_status st = lossk_cross_entropy_f64(x64, N, C, 1, t64, LOSSK_INDEX_INT64, NULL, -100, 0.0,
                                              LOSSK_REDUCTION_MEAN, &loss, NULL, grad64, 2, &bad);
    expect_status("f64 mean status", st, LOSSK_OK);
    expect_close("f64 mean loss", loss, want_mean);
    /* d mean / d x[r][k] = (softmax - onehot) / N */
    expect_close("f64 grad[0][1]", grad64[1], (exp(x64[1] - lse(x64, C)) - 1.0) / N);
    expect_close("f64 grad[2][3]", grad64[2 * C + 3], exp(x64[2 * C + 3] - lse(x64 + 2 * C, C)) / N);

    /* float32, int32 targets, per-sample losses, gradient in place over the logits */
    float x32[N * C], rows32[N];
    for (int i = 0; i < N * C; i++) x32[i] = (float)x64[i];
    st = lossk_cross_entropy_f32(x32, N, C, 1, t32, LOSSK_INDEX_INT32, NULL, -100, 0.0,
                                 LOSSK_REDUCTION_NONE, NULL, rows32, x32 /* in place */, 1, &bad);
    expect_status("f32 none status (in place)", st, LOSSK_OK);
    for (int r = 0; r < N; r++) {
        char what[64];
        snprintf(what, sizeof what, "f32 loss of row %d", r);
        expect_close(what, rows32[r], want_rows[r]);
    }
    expect_close("f32 in-place grad[1][3]", x32[1 * C + 3], 0.25 - 1.0);  /* row of zeros: softmax 1/4 */

    /* probability targets: one-hot rows give the same losses, summed */
    double probs[N * C] = {0};
    for (int r = 0; r < N; r++) probs[r * C + t64[r]] = 1.0;
    st = lossk_cross_entropy_soft_f64(x64, N, C, 1, probs, NULL, 0.0, LOSSK_REDUCTION_SUM, &loss, NULL,
                                      NULL, 0);
    expect_status("soft f64 sum status", st, LOSSK_OK);
    expect_close("soft f64 sum loss", loss, want_mean * N);

    /* errors: a class index out of range, and an invalid argument */
    const int64_t t_bad[N] = {1, 4, 0};
    double untouched = 42.0;
    st = lossk_cross_entropy_f64(x64, N, C, 1, t_bad, LOSSK_INDEX_INT64, NULL, -100, 0.0,
                                 LOSSK_REDUCTION_MEAN, &untouched, NULL, NULL, 1, &bad);
    expect_status("target 4 with C = 4", st, LOSSK_ERR_TARGET_RANGE);
    expect_close("  bad_index (flat position)", (double)bad, 1.0);
    expect_close("  loss_out left untouched", untouched, 42.0);
    st = lossk_cross_entropy_f64(x64, N, C, 1, t64, LOSSK_INDEX_INT64, NULL, -100, 1.5,
                                 LOSSK_REDUCTION_MEAN, &loss, NULL, NULL, 1, NULL);
    expect_status("label_smoothing 1.5", st, LOSSK_ERR_INVALID_ARGUMENT);
    st = lossk_cross_entropy_f64(x64, -1, C, 1, t64, LOSSK_INDEX_INT64, NULL, -100, 0.0,
                                 LOSSK_REDUCTION_MEAN, &loss, NULL, NULL, 1, NULL);
    expect_status("n = -1", st, LOSSK_ERR_INVALID_ARGUMENT);
    /* the gradient may overwrite the logits, not the probability targets */
    st = lossk_cross_entropy_soft_f64(x64, N, C, 1, probs, NULL, 0.0, LOSSK_REDUCTION_SUM, &loss, NULL,
                                      probs, 1);
    expect_status("grad aliasing the target", st, LOSSK_ERR_ALIASING);

    larger_problems();

    printf("%s\n", failures ? "FAILED" : "all checks passed");
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
