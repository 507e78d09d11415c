/* Fully connected layer: out (n x O) = in (n x I) * W^T + b.
 *
 * A batch of a few images is bound by reading W (VGG-16's fc6 is 411 MB):
 * OpenBLAS 0.3.21's sgemm packs W before using it, so it moves W about
 * twice. Up to LRC_DENSE_FEW images therefore stream W once: with
 * AVX-512, three rows of W at a time dotted with every image while they
 * are in registers, W prefetched 1 KiB ahead of its loads. On fc6, one
 * core (bench/bench_dense; sgemm -> this): 55.6 -> 27.4 ms for 1 image
 * and 61.6 -> 51.2 ms for 8 with two rows and no prefetch; three rows and
 * the prefetch then took 8 images from 52 to 34 ms, 4 from 40 to 25 and 1
 * from 28.5 to 25.5 (docs/BENCHMARKS.md, section 14). (Keeping a block
 * of the images' inputs in L1 instead, by running over the rows in
 * chunks of 1,024 inputs, broke W's stream into 4 KiB pieces: 8 images
 * took 77 ms.)
 * Without AVX-512, one image goes through a plain loop (54 -> 32 ms) and
 * batches through sgemm. Larger batches use sgemm, which is then bound by
 * its multiply-adds, not by W. */
#include <cblas.h>

#include "forward/forward_impl.h"

/* (Where AVX-512 is there, few_body below serves one image too.) */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LRC_DENSE_CLONES __attribute__((noinline, target_clones("avx2", "default")))
#elif defined(__GNUC__)
#define LRC_DENSE_CLONES __attribute__((noinline))
#else
#define LRC_DENSE_CLONES
#endif

enum { LANES = 16 };

/* One image: each output the sum of LANES interleaved partial sums over
 * the inputs, added in a fixed order, then the tail, then the bias. */
LRC_DENSE_CLONES static void one_image(int64_t o, int64_t k, const float *x,
                                       const float *w, const float *bias,
                                       float *out)
{
    for (int64_t f = 0; f < o; f++) {
        const float *restrict wf = w + f * k;
        float acc[LANES] = {0};
        int64_t j = 0;
        for (; j + LANES <= k; j += LANES)
            for (int l = 0; l < LANES; l++)
                acc[l] += wf[j + l] * x[j + l];
        float s = 0.0f;
        for (int l = 0; l < LANES; l++)
            s += acc[l];
        for (int64_t t = j; t < k; t++)
            s += wf[t] * x[t];
        out[f] = bias[f] + s;
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#define LRC_DENSE_AVX512 1
#include <immintrin.h>

/* N images (a constant in each instance), FEW_R rows of W at a time: per
 * 16 inputs, FEW_R loads of W and N of the images feed FEW_R N fused
 * multiply-adds. A row's sums over the inputs are the same chain of FMAs
 * in 16 lanes, the tail through masked loads, then a fixed reduction of
 * the lanes: an image gets the same bits in any batch of up to
 * LRC_DENSE_FEW, whatever FEW_R. */
#define FEW_R 3
#define FEW_AHEAD 256 /* floats */
__attribute__((target("avx512f"), always_inline)) static inline void
few_rows(const int N, int64_t k, const float *x, const float *const *w,
         float *const *out, const int64_t *ld)
{
    const int64_t kv = k - k % 16;
    const __mmask16 tail = (__mmask16)((1u << (k % 16)) - 1u);
    __m512 a[FEW_R][LRC_DENSE_FEW];
    for (int r = 0; r < FEW_R; r++)
        for (int b = 0; b < N; b++)
            a[r][b] = _mm512_setzero_ps();
    for (int64_t j = 0; j < kv; j += 16) {
        __m512 v[FEW_R];
        for (int r = 0; r < FEW_R; r++) {
            _mm_prefetch((const char *)(w[r] + j + FEW_AHEAD), _MM_HINT_T0);
            v[r] = _mm512_loadu_ps(w[r] + j);
        }
        for (int b = 0; b < N; b++) {
            const __m512 xv = _mm512_loadu_ps(x + b * k + j);
            for (int r = 0; r < FEW_R; r++)
                a[r][b] = _mm512_fmadd_ps(v[r], xv, a[r][b]);
        }
    }
    if (tail) {
        __m512 v[FEW_R];
        for (int r = 0; r < FEW_R; r++)
            v[r] = _mm512_maskz_loadu_ps(tail, w[r] + kv);
        for (int b = 0; b < N; b++) {
            const __m512 xv = _mm512_maskz_loadu_ps(tail, x + b * k + kv);
            for (int r = 0; r < FEW_R; r++)
                a[r][b] = _mm512_fmadd_ps(v[r], xv, a[r][b]);
        }
    }
    for (int r = 0; r < FEW_R; r++)
        for (int b = 0; b < N; b++)
            out[r][b * ld[r]] += _mm512_reduce_add_ps(a[r][b]);
}

__attribute__((target("avx512f"), always_inline)) static inline void
few_body(const int N, int64_t o, int64_t k, const float *x, const float *w,
         const float *bias, float *out)
{
    float spare[LRC_DENSE_FEW] = {0};
    for (int b = 0; b < N; b++)
        for (int64_t f = 0; f < o; f++)
            out[b * o + f] = bias[f];
    /* rows in groups of FEW_R; past the last row, the group repeats it
     * and its sums go to `spare` */
    for (int64_t f = 0; f < o; f += FEW_R) {
        const float *wr[FEW_R];
        float *orow[FEW_R];
        int64_t ld[FEW_R];
        for (int r = 0; r < FEW_R; r++) {
            const int real = f + r < o;
            wr[r] = w + (real ? f + r : o - 1) * k;
            orow[r] = real ? out + f + r : spare;
            ld[r] = real ? o : 1;
        }
        few_rows(N, k, x, wr, orow, ld);
    }
}

#define FEW_INSTANCE(N)                                                       \
    __attribute__((target("avx512f"))) static void few_##N(                   \
        int64_t o, int64_t k, const float *x, const float *w,                 \
        const float *bias, float *out)                                        \
    {                                                                         \
        few_body(N, o, k, x, w, bias, out);                                   \
    }
FEW_INSTANCE(1) FEW_INSTANCE(2) FEW_INSTANCE(3) FEW_INSTANCE(4)
FEW_INSTANCE(5) FEW_INSTANCE(6) FEW_INSTANCE(7) FEW_INSTANCE(8)
#undef FEW_INSTANCE

typedef void (*few_fn)(int64_t, int64_t, const float *, const float *,
                       const float *, float *);
static const few_fn few[LRC_DENSE_FEW + 1] = {NULL, few_1, few_2, few_3, few_4,
                                              few_5, few_6, few_7, few_8};
#else
#define LRC_DENSE_AVX512 0
#endif

void lrc_fw_dense(const lrc_layer *l, const float *in, int64_t n, float *out)
{
    const int64_t o = l->out_c, k = l->in_c;
    if (n <= 0)
        return;
#if LRC_DENSE_AVX512
    if (n <= LRC_DENSE_FEW && __builtin_cpu_supports("avx512f")) {
        few[n](o, k, in, l->weight, l->bias, out);
        return;
    }
#endif
    if (n == 1) {
        one_image(o, k, in, l->weight, l->bias, out);
        return;
    }
    for (int64_t b = 0; b < n; b++)
        for (int64_t f = 0; f < o; f++)
            out[b * o + f] = l->bias[f];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)o, (int)k,
                1.0f, in, (int)k, l->weight, (int)k, 1.0f, out, (int)o);
}
