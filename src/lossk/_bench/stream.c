/*
 * stream.c -- the "limit" of the lossk benchmarks.
 *
 * A loss kernel cannot be faster than merely streaming its minimum bytes through
 * memory once. This file measures that time for the access patterns the losses
 * have, at exactly the workload's array sizes (arrays that fit in L2 stream several
 * times faster than DRAM-sized ones, so the limit must be size-matched):
 *
 *   copy: read a, write c             (cross-entropy: logits -> gradient)
 *   add:  read a and b, write c       (focal, BCE, MSE, boxes: pred + target -> grad)
 *   sum:  read a                      (loss value only)
 *   rRwW: read R arrays, write W      (stream_rw: the other losses' byte counts, e.g.
 *                                      r0w1 for NLL's gradient, r3w2 for margin ranking)
 *
 * copy and add come with regular and non-temporal (streaming) stores: NT stores
 * skip the read-for-ownership of the destination line and win ~1.7x on DRAM-sized
 * outputs, but lose ~2x when the output would have stayed in cache. The harness
 * takes the faster of the two, so the limit is what the best C kernel could do.
 *
 * Built at run time by stream.py beside it:  cc -O3 [-march=native] -fopenmp
 * -shared -fPIC. The vector width is picked at compile time (AVX-512, AVX or SSE2;
 * -march=native exposes the machine's widest); without x86 intrinsics the code
 * falls back to plain loops and NT stores are reported as unsupported. Without
 * OpenMP it runs serially (stream_config() says so).
 */
#define _POSIX_C_SOURCE 199309L
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_thread_num(void) { return 0; }
static int omp_get_num_threads(void) { return 1; }
#endif

enum { OP_COPY = 0, OP_ADD = 1, OP_SUM = 2 };

/* Work is split in whole 64-byte cache lines so that no two threads write the same
 * line, and the destination is aligned to a line first (NT and aligned stores need
 * it; NumPy only guarantees 16-byte alignment). */
#define LINE_FLOATS 16

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_NT 1
#if defined(__AVX512F__)
#define SIMD_NAME "avx512"
typedef __m512 vec;
enum { W = 16, W_VEC = 16 };
#define vload _mm512_loadu_ps
#define vstore _mm512_store_ps
#define vstream _mm512_stream_ps
#define vadd _mm512_add_ps
#define vzero _mm512_setzero_ps
#define vstoreu _mm512_storeu_ps
#elif defined(__AVX__)
#define SIMD_NAME "avx"
typedef __m256 vec;
enum { W = 8, W_VEC = 8 };
#define vload _mm256_loadu_ps
#define vstore _mm256_store_ps
#define vstream _mm256_stream_ps
#define vadd _mm256_add_ps
#define vzero _mm256_setzero_ps
#define vstoreu _mm256_storeu_ps
#else /* SSE2 is part of the x86-64 baseline */
#define SIMD_NAME "sse2"
typedef __m128 vec;
enum { W = 4, W_VEC = 4 };
#define vload _mm_loadu_ps
#define vstore _mm_store_ps
#define vstream _mm_stream_ps
#define vadd _mm_add_ps
#define vzero _mm_setzero_ps
#define vstoreu _mm_storeu_ps
#endif
#else
#define HAVE_NT 0
#define SIMD_NAME "none"
#endif

/* Keeps the sum from being optimised away. */
static volatile double sink;

/* ---- kernels over a range of whole lines; dst (c) is line-aligned ---------- */
#if HAVE_NT
/* `nt` is a compile-time constant at every call site (see run_lines), so the
 * compiler emits one loop with plain stores and one with streaming stores. */
static inline __attribute__((always_inline)) void
copy_lines(const float *a, float *c, size_t n, int nt)
{
    for (size_t i = 0; i < n; i += W) {
        vec v = vload(a + i);
        if (nt) vstream(c + i, v); else vstore(c + i, v);
    }
}

static inline __attribute__((always_inline)) void
add_lines(const float *a, const float *b, float *c, size_t n, int nt)
{
    for (size_t i = 0; i < n; i += W) {
        vec v = vadd(vload(a + i), vload(b + i));
        if (nt) vstream(c + i, v); else vstore(c + i, v);
    }
}

static double sum_lines(const float *a, size_t n)
{
    /* One accumulator per vector of a line: independent add chains, so the sum
     * is bound by loads rather than by the latency of a single chain. */
    vec acc[LINE_FLOATS / W];
    for (int j = 0; j < LINE_FLOATS / W; j++) acc[j] = vzero();
    for (size_t i = 0; i < n; i += LINE_FLOATS)
        for (int j = 0; j < LINE_FLOATS / W; j++)
            acc[j] = vadd(acc[j], vload(a + i + (size_t)j * W));
    float lanes[LINE_FLOATS];
    for (int j = 0; j < LINE_FLOATS / W; j++) vstoreu(lanes + j * W, acc[j]);
    double s = 0.0;
    for (int j = 0; j < LINE_FLOATS; j++) s += lanes[j];
    return s;
}
#else
static void copy_lines(const float *a, float *c, size_t n, int nt)
{
    (void)nt;
    for (size_t i = 0; i < n; i++) c[i] = a[i];
}

static void add_lines(const float *a, const float *b, float *c, size_t n, int nt)
{
    (void)nt;
    for (size_t i = 0; i < n; i++) c[i] = a[i] + b[i];
}

static double sum_lines(const float *a, size_t n)
{
    float s = 0.0f;
    for (size_t i = 0; i < n; i++) s += a[i];
    return s;
}
#endif

static double run_lines(int op, int nt, const float *a, const float *b, float *c, size_t n)
{
    switch (op) {
    case OP_COPY: if (nt) copy_lines(a, c, n, 1); else copy_lines(a, c, n, 0); return 0.0;
    case OP_ADD: if (nt) add_lines(a, b, c, n, 1); else add_lines(a, b, c, n, 0); return 0.0;
    default: return sum_lines(a, n);
    }
}

/* Scalar version for the unaligned head and the partial-line tail. */
static double run_scalar(int op, const float *a, const float *b, float *c, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (op == OP_COPY) c[i] = a[i];
        else if (op == OP_ADD) c[i] = a[i] + b[i];
        else s += a[i];
    }
    return s;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/*
 * Runs one pass of `op` over n floats with n_threads threads and returns the
 * elapsed seconds, timed here so that the limit excludes the ctypes call overhead
 * (it is a property of the memory system, not of Python). Returns -1 for an
 * unknown op or NT stores on a machine without them.
 *
 * a: input; b: second input (add only); c: output (copy/add). Threads take
 * contiguous equal shares of whole lines, the split of schedule(static).
 */
double stream_run(int op, int nt, const float *a, const float *b, float *c, int64_t n,
                  int n_threads)
{
    if (op < OP_COPY || op > OP_SUM || (nt && !HAVE_NT) || n < 0 || n_threads < 1)
        return -1.0;
    const float *align_to = op == OP_SUM ? a : c;
    size_t head = (size_t)((64 - (uintptr_t)align_to % 64) % 64) / sizeof(float);
    if (head > (size_t)n) head = (size_t)n;
    size_t lines = ((size_t)n - head) / LINE_FLOATS;
    size_t body_end = head + lines * LINE_FLOATS;
    const float *bb = op == OP_ADD ? b : NULL;

    double t0 = now();
    double total = run_scalar(op, a, bb, c, head);
#pragma omp parallel num_threads(n_threads) reduction(+ : total)
    {
        size_t t = (size_t)omp_get_thread_num(), nth = (size_t)omp_get_num_threads();
        size_t lo = head + lines * t / nth * LINE_FLOATS;
        size_t hi = head + lines * (t + 1) / nth * LINE_FLOATS;
        total += run_lines(op, nt, a + lo, bb ? bb + lo : NULL, c ? c + lo : NULL, hi - lo);
        /* NT stores are weakly ordered: each thread fences its own, so the timed
         * pass has really reached memory when the region ends. */
#if HAVE_NT
        if (nt) _mm_sfence();
#endif
    }
    total += run_scalar(op, a + body_end, bb ? bb + body_end : NULL,
                        c ? c + body_end : NULL, (size_t)n - body_end);
    double t1 = now();
    sink = total;
    return t1 - t0;
}

/* ---- any number of reads and writes ------------------------------------------
 * NR inputs are added and the sum stored to each of NW outputs, so every byte of the
 * NR + NW arrays is moved once. NR and NW are compile-time constants in each of the
 * instantiations below (the loops over arrays unroll); the arrays must be 64-byte
 * aligned (stream.py allocates them so). */
#define RW_MAX 4
#if HAVE_NT
static inline __attribute__((always_inline)) double
rw_lines(const int NR, const int NW, const int nt, const float *const *in, float *const *out,
         size_t lo, size_t hi)
{
    vec acc = vzero();
    for (size_t i = lo; i < hi; i += W_VEC) {
        vec v = NR > 0 ? vload(in[0] + i) : vzero();
        for (int k = 1; k < NR; k++) v = vadd(v, vload(in[k] + i));
        for (int k = 0; k < NW; k++) {
            if (nt) vstream(out[k] + i, v); else vstore(out[k] + i, v);
        }
        if (NW == 0) acc = vadd(acc, v);
    }
    float lanes[W_VEC];
    vstoreu(lanes, acc);
    double s = 0.0;
    for (int j = 0; j < W_VEC; j++) s += lanes[j];
    return s;
}
#else
static double rw_lines(const int NR, const int NW, const int nt, const float *const *in,
                       float *const *out, size_t lo, size_t hi)
{
    (void)nt;
    double s = 0.0;
    for (size_t i = lo; i < hi; i++) {
        float v = 0.0f;
        for (int k = 0; k < NR; k++) v += in[k][i];
        for (int k = 0; k < NW; k++) out[k][i] = v;
        s += v;
    }
    return s;
}
#endif

#define RW_CASE(R, W) \
    case (R) * 8 + (W): \
        return nt ? rw_lines(R, W, 1, in, out, lo, hi) : rw_lines(R, W, 0, in, out, lo, hi);

static double rw_dispatch(int r, int w, int nt, const float *const *in, float *const *out,
                          size_t lo, size_t hi)
{
    switch (r * 8 + w) {
    RW_CASE(0, 1) RW_CASE(0, 2) RW_CASE(0, 3) RW_CASE(0, 4)
    RW_CASE(1, 0) RW_CASE(1, 1) RW_CASE(1, 2) RW_CASE(1, 3) RW_CASE(1, 4)
    RW_CASE(2, 0) RW_CASE(2, 1) RW_CASE(2, 2) RW_CASE(2, 3) RW_CASE(2, 4)
    RW_CASE(3, 0) RW_CASE(3, 1) RW_CASE(3, 2) RW_CASE(3, 3) RW_CASE(3, 4)
    RW_CASE(4, 0) RW_CASE(4, 1) RW_CASE(4, 2) RW_CASE(4, 3) RW_CASE(4, 4)
    }
    return 0.0;
}

/* One pass reading `reads` arrays and writing `writes` arrays of n floats each
 * (64-byte aligned), timed as stream_run is; -1 for counts out of range. */
double stream_rw(int reads, int writes, int nt, const float *const *in, float *const *out,
                 int64_t n, int n_threads)
{
    if (reads < 0 || writes < 0 || reads > RW_MAX || writes > RW_MAX || reads + writes == 0 ||
        (nt && (!HAVE_NT || writes == 0)) || n < 0 || n_threads < 1)
        return -1.0;
    for (int k = 0; k < reads; k++) if ((uintptr_t)in[k] % 64) return -1.0;
    for (int k = 0; k < writes; k++) if ((uintptr_t)out[k] % 64) return -1.0;
    size_t lines = (size_t)n / LINE_FLOATS, body_end = lines * LINE_FLOATS;
    double t0 = now(), total = 0.0;
#pragma omp parallel num_threads(n_threads) reduction(+ : total)
    {
        size_t t = (size_t)omp_get_thread_num(), nth = (size_t)omp_get_num_threads();
        total += rw_dispatch(reads, writes, nt, in, out, lines * t / nth * LINE_FLOATS,
                             lines * (t + 1) / nth * LINE_FLOATS);
#if HAVE_NT
        if (nt) _mm_sfence();
#endif
    }
    for (size_t i = body_end; i < (size_t)n; i++) {   /* the partial line, scalar */
        float v = 0.0f;
        for (int k = 0; k < reads; k++) v += in[k][i];
        for (int k = 0; k < writes; k++) out[k][i] = v;
        total += v;
    }
    double t1 = now();
    sink = total;
    return t1 - t0;
}

/* "openmp=<0|1> simd=<name> nt=<0|1>", shown in the results' machine info. */
const char *stream_config(void)
{
#ifdef _OPENMP
#define OMP_FLAG "1"
#else
#define OMP_FLAG "0"
#endif
#define STR2(x) #x
#define STR(x) STR2(x)
    return "openmp=" OMP_FLAG " simd=" SIMD_NAME " nt=" STR(HAVE_NT);
}
