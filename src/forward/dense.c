/* Fully connected layer: out (n x O) = in (n x I) * W^T + b.
 *
 * A batch of a few images is bound by reading W (VGG-16's fc6 is 411 MB),
 * and the inputs of a dense layer after a ReLU are partly zero (VGG-16's
 * pool5: 40% on generated weights and images, 36% zero in all of a batch
 * of 8; fc7's and fc8's inputs about half). Up to LRC_DENSE_FEW images
 * therefore read W^T, laid out once by the forward plan (row j: the
 * weights of input j to every output), and only its rows j where some
 * image's input j is not zero. Each image's outputs start at the bias and
 * take one fused multiply-add per nonzero input, in the order of the
 * inputs: a zero input's term (x w = +-0) is left out, which changes no
 * sum but the sign of an exact zero. An image gets the same bits in any
 * batch of up to LRC_DENSE_FEW, and the same from the plain loops that
 * run outside a plan (over W) or without AVX-512.
 *
 * With AVX-512, one image reads one row at a time, a single stream that a
 * second scan of its input prefetches along; two to LRC_DENSE_FEW images
 * take 8 rows at a time and 32 outputs of each, so that their partial
 * outputs are read and written once per 8 rows. Larger batches use sgemm
 * on W, then bound by its multiply-adds, not by W (other bits). fc6 on one
 * core (bench/bench_dense, docs/BENCHMARKS.md section 24): 1 image 10.9 ->
 * 11.0 ms with no zero input and 7.8 ms with 40% zero; 8 images 23.3 ->
 * 15.1 and 10.3 ms. (Before: rows of W dotted with every image, the whole
 * of W read, sections 10 and 14.) */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "forward/forward_impl.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
/* fmaf inlined as a vector FMA where the clone has one */
#define LRC_DENSE_CLONES __attribute__((noinline, target_clones("arch=haswell", "default")))
#elif defined(__GNUC__)
#define LRC_DENSE_CLONES __attribute__((noinline))
#else
#define LRC_DENSE_CLONES
#endif

size_t lrc_fw_dense_packed_size(const lrc_layer *l)
{
    return (size_t)l->in_c * (size_t)l->out_c;
}

void lrc_fw_dense_pack(const lrc_layer *l, float *wt)
{
    const int64_t o = l->out_c, k = l->in_c;
    enum { T = 64 }; /* tiles of T x T: both sides in whole cache lines */
    for (int64_t f0 = 0; f0 < o; f0 += T)
        for (int64_t j0 = 0; j0 < k; j0 += T)
            for (int64_t f = f0; f < f0 + T && f < o; f++)
                for (int64_t j = j0; j < j0 + T && j < k; j++)
                    wt[j * o + f] = l->weight[f * k + j];
}

/* The plain loops. With W^T: image by image, each input's row added to
 * the outputs. With W only: 8 outputs at a time, each a chain over the
 * inputs. Both: bias, then fmaf(x_j, w, y) for every j with x_j != 0, in
 * the order of j. */
LRC_DENSE_CLONES static void plain_wt(int64_t o, int64_t k, int64_t n,
                                      const float *x, const float *restrict wt,
                                      const float *bias, float *restrict out)
{
    for (int64_t b = 0; b < n; b++) {
        float *restrict y = out + b * o;
        for (int64_t f = 0; f < o; f++)
            y[f] = bias[f];
        for (int64_t j = 0; j < k; j++) {
            const float v = x[b * k + j];
            if (v == 0.0f)
                continue;
            const float *restrict w = wt + j * o;
            for (int64_t f = 0; f < o; f++)
                y[f] = fmaf(v, w[f], y[f]);
        }
    }
}

LRC_DENSE_CLONES static void plain_w(int64_t o, int64_t k, int64_t n,
                                     const float *x, const float *restrict w,
                                     const float *bias, float *restrict out)
{
    enum { F = 8 };
    for (int64_t b = 0; b < n; b++) {
        const float *xb = x + b * k;
        for (int64_t f0 = 0; f0 < o; f0 += F) {
            const int nf = o - f0 < F ? (int)(o - f0) : F;
            float y[F];
            for (int t = 0; t < nf; t++)
                y[t] = bias[f0 + t];
            for (int64_t j = 0; j < k; j++) {
                const float v = xb[j];
                if (v == 0.0f)
                    continue;
                for (int t = 0; t < nf; t++)
                    y[t] = fmaf(v, w[(f0 + t) * k + j], y[t]);
            }
            for (int t = 0; t < nf; t++)
                out[b * o + f0 + t] = y[t];
        }
    }
}

#if defined(__GNUC__) && defined(__x86_64__)
#define LRC_DENSE_AVX512 1
#include <immintrin.h>

/* The mask of the first `left` of 16 lanes (all for left >= 16, none for
 * left <= 0): a vector at the end of a row. */
static inline __mmask16 lanes16(int64_t left)
{
    return (__mmask16)(left >= 16 ? 0xFFFF : left > 0 ? (1u << left) - 1u : 0);
}

/* The inputs nonzero in some image, in order: 16 inputs of every image
 * compared with zero at a time. */
typedef struct {
    const float *x;
    int64_t k, n, j, j0;
    uint32_t pend; /* nonzero inputs j0 + bit, not yet handed out */
} nz_scan;

__attribute__((target("avx512f"), always_inline)) static inline int64_t
nz_next(nz_scan *s)
{
    while (!s->pend) {
        if (s->j >= s->k)
            return -1;
        const __mmask16 m = lanes16(s->k - s->j);
        __mmask16 nz = 0;
        for (int64_t b = 0; b < s->n; b++)
            nz |= _mm512_mask_cmp_ps_mask(
                m, _mm512_maskz_loadu_ps(m, s->x + b * s->k + s->j),
                _mm512_setzero_ps(), _CMP_NEQ_UQ);
        s->pend = nz;
        s->j0 = s->j;
        s->j += 16;
    }
    const int64_t r = s->j0 + __builtin_ctz(s->pend);
    s->pend &= s->pend - 1;
    return r;
}

/* One image: one row of W^T at a time, its outputs in L1. The rows read
 * form one stream; a second scan of the input runs SP_AHEAD1 floats ahead
 * of it along that stream to prefetch, so that a skipped row does not
 * break it. (SP_AHEAD1 = 1,024 read fc6's W^T at 36 GB/s, 256 at 29, 4,096 at
 * 33.) */
#define SP_AHEAD1 1024
__attribute__((target("avx512f"))) static void
sparse_rows1(int64_t o, int64_t k, const float *x, const float *wt, float *y)
{
    nz_scan sc = {x, k, 1, 0, 0, 0}, pc = sc;
    int64_t pr = nz_next(&pc), pf = SP_AHEAD1; /* prefetch: row pr, offset pf */
    while (pr >= 0 && pf >= o) {
        pf -= o;
        pr = nz_next(&pc);
    }
    const int64_t ov = o - o % 64;
    for (int64_t r; (r = nz_next(&sc)) >= 0;) {
        const float *w = wt + r * o;
        const __m512 v = _mm512_set1_ps(x[r]);
        for (int64_t f = 0; f < o; f += 64) {
            if (pr >= 0) {
                const float *p = wt + pr * o + pf;
                for (int q = 0; q < 64; q += 16)
                    _mm_prefetch((const char *)(p + q), _MM_HINT_T0);
                pf += 64;
                if (pf >= o) {
                    pf -= o;
                    pr = nz_next(&pc);
                }
            }
            if (f < ov) {
                for (int q = 0; q < 64; q += 16)
                    _mm512_storeu_ps(y + f + q,
                                     _mm512_fmadd_ps(v, _mm512_loadu_ps(w + f + q),
                                                     _mm512_loadu_ps(y + f + q)));
            } else {
                for (int q = 0; q < 64; q += 16) {
                    const __mmask16 m = lanes16(o - f - q);
                    _mm512_mask_storeu_ps(
                        y + f + q, m,
                        _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, w + f + q),
                                        _mm512_maskz_loadu_ps(m, y + f + q)));
                }
            }
        }
    }
}

/* SP_G rows of W^T at a time, 32 outputs of each: an image's outputs are
 * read and written once per SP_G rows (batches whose outputs do not stay
 * in L1). A last group short of SP_G repeats its last row, masked off.
 * Each row is prefetched SP_AHEAD floats ahead, into the next group's
 * rows past its end (further ahead was slower at every batch). */
#define SP_G 8
#define SP_AHEAD 256 /* floats */
typedef struct {
    int g;
    const float *rows[SP_G];
    float xs[SP_G][LRC_DENSE_FEW];
    __mmask16 on[SP_G][LRC_DENSE_FEW];
} sp_group;

__attribute__((target("avx512f"), always_inline)) static inline void
sp_group_next(nz_scan *sc, const float *wt, int64_t o, sp_group *gr)
{
    gr->g = 0;
    for (int64_t r; gr->g < SP_G && (r = nz_next(sc)) >= 0; gr->g++) {
        gr->rows[gr->g] = wt + r * o;
        for (int64_t b = 0; b < sc->n; b++) {
            const float v = sc->x[b * sc->k + r];
            gr->xs[gr->g][b] = v;
            gr->on[gr->g][b] = v != 0.0f ? 0xFFFF : 0;
        }
    }
    for (int t = gr->g; t < SP_G && gr->g > 0; t++) {
        gr->rows[t] = gr->rows[gr->g - 1];
        for (int64_t b = 0; b < sc->n; b++) {
            gr->xs[t][b] = 0.0f;
            gr->on[t][b] = 0;
        }
    }
}

__attribute__((target("avx512f"))) static void
sparse_rows8(int64_t o, int64_t k, int64_t n, const float *x, const float *wt,
             float *out)
{
    nz_scan sc = {x, k, n, 0, 0, 0};
    sp_group gs[2];
    sp_group *cur = &gs[0], *nxt = &gs[1];
    sp_group_next(&sc, wt, o, cur);
    while (cur->g > 0) {
        sp_group_next(&sc, wt, o, nxt);
        for (int64_t f = 0; f < o; f += 32) {
            const int64_t a = f + SP_AHEAD;
            for (int t = 0; t < SP_G; t++) {
                if (a < o) {
                    _mm_prefetch((const char *)(cur->rows[t] + a), _MM_HINT_T0);
                    _mm_prefetch((const char *)(cur->rows[t] + a + 16), _MM_HINT_T0);
                } else if (nxt->g > 0 && a - o < o) {
                    _mm_prefetch((const char *)(nxt->rows[t] + (a - o)), _MM_HINT_T0);
                    _mm_prefetch((const char *)(nxt->rows[t] + (a - o) + 16), _MM_HINT_T0);
                }
            }
            const __mmask16 m0 = lanes16(o - f), m1 = lanes16(o - f - 16);
            __m512 w0[SP_G], w1[SP_G];
            for (int t = 0; t < SP_G; t++) {
                w0[t] = _mm512_maskz_loadu_ps(m0, cur->rows[t] + f);
                w1[t] = _mm512_maskz_loadu_ps(m1, cur->rows[t] + f + 16);
            }
            for (int64_t b = 0; b < n; b++) {
                float *y = out + b * o + f;
                __m512 y0 = _mm512_maskz_loadu_ps(m0, y);
                __m512 y1 = _mm512_maskz_loadu_ps(m1, y + 16);
                for (int t = 0; t < SP_G; t++) {
                    const __m512 v = _mm512_set1_ps(cur->xs[t][b]);
                    y0 = _mm512_mask3_fmadd_ps(v, w0[t], y0, cur->on[t][b]);
                    y1 = _mm512_mask3_fmadd_ps(v, w1[t], y1, cur->on[t][b]);
                }
                _mm512_mask_storeu_ps(y, m0, y0);
                _mm512_mask_storeu_ps(y + 16, m1, y1);
            }
        }
        sp_group *t = cur;
        cur = nxt;
        nxt = t;
    }
}

/* Outside a plan (no W^T): 16 outputs at a time, the weights of each
 * nonzero input to them gathered from 16 rows of W; the same chain of
 * FMAs as above. The rows' lines stay in L1 across 16 inputs. */
__attribute__((target("avx512f"))) static void
gather512(int64_t o, int64_t k, int64_t n, const float *x, const float *w,
          const float *bias, float *out)
{
    const __m512i idx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32((int)k));
    for (int64_t b = 0; b < n; b++) {
        const float *xb = x + b * k;
        for (int64_t f = 0; f < o; f += 16) {
            const __mmask16 m = lanes16(o - f);
            __m512 y = _mm512_maskz_loadu_ps(m, bias + f);
            const float *wf = w + f * k;
            for (int64_t j = 0; j < k; j++) {
                if (xb[j] == 0.0f)
                    continue;
                const __m512 c = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx,
                                                          wf + j, 4);
                y = _mm512_fmadd_ps(_mm512_set1_ps(xb[j]), c, y);
            }
            _mm512_mask_storeu_ps(out + b * o + f, m, y);
        }
    }
}

static void sparse512(int64_t o, int64_t k, int64_t n, const float *x,
                      const float *wt, const float *bias, float *out)
{
    for (int64_t b = 0; b < n; b++)
        memcpy(out + b * o, bias, (size_t)o * sizeof(float));
    if (n == 1)
        sparse_rows1(o, k, x, wt, out);
    else
        sparse_rows8(o, k, n, x, wt, out);
}
#else
#define LRC_DENSE_AVX512 0
#endif

void lrc_fw_dense_plain(const lrc_layer *l, const float *wt, const float *in,
                        int64_t n, float *out)
{
    if (wt)
        plain_wt(l->out_c, l->in_c, n, in, wt, l->bias, out);
    else
        plain_w(l->out_c, l->in_c, n, in, l->weight, l->bias, out);
}

/* W alone (outside a plan), up to LRC_DENSE_FEW images */
static void dense_w(const lrc_layer *l, const float *in, int64_t n, float *out)
{
#if LRC_DENSE_AVX512
    /* the gather's offsets, 15 rows of W, in int32 */
    if (__builtin_cpu_supports("avx512f") && l->in_c <= INT32_MAX / 16) {
        gather512(l->out_c, l->in_c, n, in, l->weight, l->bias, out);
        return;
    }
#endif
    plain_w(l->out_c, l->in_c, n, in, l->weight, l->bias, out);
}

void lrc_fw_dense(const lrc_layer *l, const float *wt, const float *in,
                  int64_t n, float *out)
{
    const int64_t o = l->out_c, k = l->in_c;
    if (n <= 0)
        return;
    if (n <= LRC_DENSE_FEW) {
#if LRC_DENSE_AVX512
        if (wt && __builtin_cpu_supports("avx512f")) {
            sparse512(o, k, n, in, wt, l->bias, out);
            return;
        }
#endif
        if (wt)
            plain_wt(o, k, n, in, wt, l->bias, out);
        else
            dense_w(l, in, n, out);
        return;
    }
    for (int64_t b = 0; b < n; b++)
        for (int64_t f = 0; f < o; f++)
            out[b * o + f] = l->bias[f];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)o, (int)k,
                1.0f, in, (int)k, l->weight, (int)k, 1.0f, out, (int)o);
}
