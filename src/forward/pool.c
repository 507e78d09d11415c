/* Max, average and global average pooling (ONNX semantics: pads are -inf for
 * max; for average, count_include_pad chooses whether pads count in the
 * divisor; windows are clipped to the padded input). */
#include <float.h>

#include "forward/forward_impl.h"

#define POOL_LOOP(BODY_INIT, BODY_TAP, BODY_STORE)                            \
    const int64_t c = l->in_shape[0], h = l->in_shape[1], w = l->in_shape[2]; \
    const int64_t ho = l->out_shape[1], wo = l->out_shape[2];                 \
    for (int64_t b = 0; b < n * c; b++) {                                     \
        const float *src = in + b * h * w;                                    \
        float *dst = out + b * ho * wo;                                       \
        for (int64_t y = 0; y < ho; y++) {                                    \
            for (int64_t x = 0; x < wo; x++) {                                \
                const int64_t y0 = y * l->sh - l->pt, x0 = x * l->sw - l->pl; \
                BODY_INIT;                                                    \
                for (int64_t i = 0; i < l->kh; i++) {                         \
                    const int64_t iy = y0 + i;                                \
                    if (iy < 0 || iy >= h)                                    \
                        continue;                                             \
                    for (int64_t j = 0; j < l->kw; j++) {                     \
                        const int64_t ix = x0 + j;                            \
                        if (ix < 0 || ix >= w)                                \
                            continue;                                         \
                        BODY_TAP;                                             \
                    }                                                         \
                }                                                             \
                BODY_STORE;                                                   \
            }                                                                 \
        }                                                                     \
    }

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LRC_POOL_CLONES __attribute__((noinline, target_clones("avx512f", "avx2", "default")))
#else
#define LRC_POOL_CLONES
#endif

/* One output row of a 2 x 2, stride 2 max pooling without pads (VGG's),
 * over the outputs x < xf whose windows lie inside the rows: r0 and, when
 * not NULL, r1. The taps are taken in the generic loop's order with its
 * comparison, so the result is the same bits; the loop vectorises (the
 * comparison is a max instruction). */
LRC_POOL_CLONES void lrc_fw_max2x2_row(const float *restrict r0,
                                       const float *restrict r1, int64_t xf,
                                       float *restrict dst)
{
    if (r1)
        for (int64_t x = 0; x < xf; x++) {
            float m = -FLT_MAX;
            m = r0[2 * x] > m ? r0[2 * x] : m;
            m = r0[2 * x + 1] > m ? r0[2 * x + 1] : m;
            m = r1[2 * x] > m ? r1[2 * x] : m;
            m = r1[2 * x + 1] > m ? r1[2 * x + 1] : m;
            dst[x] = m;
        }
    else
        for (int64_t x = 0; x < xf; x++) {
            float m = -FLT_MAX;
            m = r0[2 * x] > m ? r0[2 * x] : m;
            m = r0[2 * x + 1] > m ? r0[2 * x + 1] : m;
            dst[x] = m;
        }
}

/* 2 x 2, stride 2, no top or left pad: rows and columns past the input
 * (ceil mode, odd sizes) are clipped as in the generic loop. The generic
 * loop took 5.2 ms per image on VGG-16's pool1 (bench_model, one core),
 * 3x the time of reading its input. */
static void max2x2(const lrc_layer *l, const float *in, int64_t n, float *out)
{
    const int64_t c = l->in_shape[0], h = l->in_shape[1], w = l->in_shape[2];
    const int64_t ho = l->out_shape[1], wo = l->out_shape[2];
    const int64_t xf = wo < w / 2 ? wo : w / 2;
    for (int64_t b = 0; b < n * c; b++) {
        const float *src = in + b * h * w;
        float *dst = out + b * ho * wo;
        for (int64_t y = 0; y < ho; y++) {
            const float *r0 = src + 2 * y * w;
            const float *r1 = 2 * y + 1 < h ? r0 + w : NULL;
            float *d = dst + y * wo;
            if (2 * y >= h) { /* a window wholly past the input */
                for (int64_t x = 0; x < wo; x++)
                    d[x] = -FLT_MAX;
                continue;
            }
            lrc_fw_max2x2_row(r0, r1, xf, d);
            for (int64_t x = xf; x < wo; x++) { /* the clipped last column */
                float m = -FLT_MAX;
                for (int64_t i = 0; i < 2; i++) {
                    const float *r = i == 0 ? r0 : r1;
                    if (!r)
                        continue;
                    for (int64_t j = 0; j < 2; j++)
                        if (2 * x + j < w && r[2 * x + j] > m)
                            m = r[2 * x + j];
                }
                d[x] = m;
            }
        }
    }
}

void lrc_fw_maxpool(const lrc_layer *l, const float *in, int64_t n, float *out)
{
    if (l->kh == 2 && l->kw == 2 && l->sh == 2 && l->sw == 2 && l->pt == 0 &&
        l->pl == 0) {
        max2x2(l, in, n, out);
        return;
    }
    POOL_LOOP(float m = -FLT_MAX,
              if (src[iy * w + ix] > m) m = src[iy * w + ix],
              dst[y * wo + x] = m)
}

/* Taps of a window inside the padded input [-pt, h + pb) x [-pl, w + pr). */
static int64_t padded_taps(const lrc_layer *l, int64_t y0, int64_t x0,
                           int64_t h, int64_t w)
{
    int64_t ye = y0 + l->kh, xe = x0 + l->kw;
    int64_t ys = y0 < -l->pt ? -l->pt : y0, xs = x0 < -l->pl ? -l->pl : x0;
    if (ye > h + l->pb)
        ye = h + l->pb;
    if (xe > w + l->pr)
        xe = w + l->pr;
    return (ye - ys) * (xe - xs);
}

void lrc_fw_avgpool(const lrc_layer *l, const float *in, int64_t n, float *out)
{
    POOL_LOOP(double s = 0.0; int64_t cnt = 0,
              s += src[iy * w + ix]; cnt++,
              {
                  int64_t div = l->count_include_pad
                                    ? padded_taps(l, y0, x0, h, w)
                                    : cnt;
                  dst[y * wo + x] = div > 0 ? (float)(s / (double)div) : 0.0f;
              })
}

void lrc_fw_globalavgpool(const lrc_layer *l, const float *in, int64_t n,
                          float *out)
{
    const int64_t c = l->in_shape[0], hw = l->in_shape[1] * l->in_shape[2];
    for (int64_t b = 0; b < n * c; b++) {
        double s = 0.0;
        for (int64_t i = 0; i < hw; i++)
            s += in[b * hw + i];
        out[b] = (float)(s / (double)hw);
    }
}
