/* The row kernel: stride-1 convs on small maps with many output channels.
 *
 * The direct kernel (conv_direct.c) holds output positions in the vector
 * lanes: on a 14 x 14 map its blocks of 48 grid positions cover 240
 * positions of a 16-wide padded grid for 196 outputs, and it reads all d
 * c k k weights again for every block. Here the lanes hold output
 * channels instead: a block is 32 channels (two vectors) x 14 consecutive
 * outputs of one row, 28 accumulators. Per input channel and tap it loads
 * two vectors of weights and broadcasts each of the 14 inputs, feeding 28
 * fused multiply-adds; each loaded weight serves 14 outputs, each input
 * two vectors. A row of 14 (or 28, 56, ...) outputs is whole blocks, so
 * nothing is computed for pads.
 *
 * The weights are packed as [block][c][kh][kw][32] (a last block of 16
 * when d rounded up to 16 is not a multiple of 32; zero past d), then the
 * bias: d c kh kw copies, as many as the multiply-adds of 1 / (ho wo) of
 * an image. A forward plan packs them once (lrc_fw_conv_rows_weights);
 * lrc_fw_conv, outside a plan, packs them on every call.
 *
 * Every output is summed in the same order as the direct kernel's (bias,
 * then channels, then taps row by row, one fused multiply-add each): the
 * same bits as LRC_CONV_DIRECT_AVX512, for an image alone or in any
 * batch. */
#include <stdint.h>
#include <string.h>

#include "forward/forward_impl.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define LRC_ROWS_X86 1
#include <immintrin.h>
#endif

#define ROWS_NP 14 /* outputs of a row per block */
#define ROWS_DB 32 /* output channels per block (the last may be 16) */

/* The packed weights' layout: d rounded up to 16 (dpad), the blocks'
 * weights (dpad c kh kw floats), the bias (dpad). */
static int64_t rows_dpad(const lrc_layer *l) { return (l->out_c + 15) / 16 * 16; }

size_t lrc_fw_conv_rows_weights_size(const lrc_layer *l)
{
    const int64_t dpad = rows_dpad(l);
    return (size_t)(dpad * l->in_c * l->kh * l->kw + dpad);
}

void lrc_fw_conv_rows_weights(const lrc_layer *l, float *pk)
{
    const int64_t d = l->out_c, c = l->in_c, kk = l->kh * l->kw;
    const int64_t dpad = rows_dpad(l);
    /* block of channel f: f / 32; its width: 32, or 16 for the last one
     * when dpad % 32 == 16; its weights start at (f / 32) 32 c kk */
    for (int64_t f0 = 0; f0 < dpad; f0 += ROWS_DB) {
        const int64_t nb = dpad - f0 < ROWS_DB ? dpad - f0 : ROWS_DB;
        float *b = pk + f0 * c * kk;
        /* in tiles of nb channels x 16 weights: each channel's 16 read in
         * order, the tile's nb x 16 writes within 2 KiB (a channel at a
         * time over the whole block, the writes 128 bytes apart spanned
         * 32 c kk floats: packing conv5's weights took 4 ms, two thirds of
         * the conv) */
        for (int64_t q0 = 0; q0 < c * kk; q0 += 16) {
            const int64_t qn = c * kk - q0 < 16 ? c * kk - q0 : 16;
            for (int64_t o = 0; o < nb; o++) {
                const float *src =
                    f0 + o < d ? l->weight + (f0 + o) * c * kk + q0 : NULL;
                for (int64_t q = 0; q < qn; q++)
                    b[(q0 + q) * nb + o] = src ? src[q] : 0.0f;
            }
        }
    }
    float *bias = pk + dpad * c * kk;
    for (int64_t f = 0; f < dpad; f++)
        bias[f] = f < d ? l->bias[f] : 0.0f;
}

/* Workspace: the packed weights (when the caller has none), the padded
 * image (c x hp x wp) and a slack that covers a last block's reads past
 * it (a block reads ROWS_NP + kw - 1 floats of each of kh rows from its
 * first position on; a row's last block may pass the row's end, the last
 * row's the image's). */
static int64_t rows_pad_floats(const lrc_layer *l)
{
    const int64_t hp = l->in_shape[1] + l->pt + l->pb;
    const int64_t wp = l->in_shape[2] + l->pl + l->pr;
    return l->in_c * hp * wp + ROWS_NP + l->kw + 16;
}

size_t lrc_fw_conv_rows_workspace(const lrc_layer *l)
{
    return lrc_fw_conv_rows_weights_size(l) + (size_t)rows_pad_floats(l);
}

#ifdef LRC_ROWS_X86
/* One block: nv vectors of 16 channels (weights `w`, 16 nv apart per
 * tap; bias `bias`) x ROWS_NP outputs at positions x[0], x[1], ... of the
 * padded image (channel planes cs apart, rows wp apart); writes the sums
 * to tmp as [ROWS_NP][ROWS_DB]. */
__attribute__((target("avx512f"), always_inline)) static inline void
rows_body(const int NV, const float *x, int64_t cs, int64_t c, int64_t kh,
          int64_t kw, int64_t wp, const float *w, const float *bias,
          float *tmp, int relu)
{
    __m512 acc[2][ROWS_NP];
    if (c < 1 || kh < 1 || kw < 1)
        __builtin_unreachable();
    for (int v = 0; v < NV; v++) {
        const __m512 b = _mm512_loadu_ps(bias + 16 * v);
        for (int p = 0; p < ROWS_NP; p++)
            acc[v][p] = b;
    }
    for (int64_t ch = 0; ch < c; ch++, x += cs)
        for (int64_t i = 0; i < kh; i++) {
            const float *xr = x + i * wp;
            /* the next channel's row: a plane away */
            _mm_prefetch((const char *)(xr + cs), _MM_HINT_T0);
            for (int64_t j = 0; j < kw; j++, w += 16 * NV) {
                __m512 wv[2];
                for (int v = 0; v < NV; v++)
                    wv[v] = _mm512_loadu_ps(w + 16 * v);
                /* Hidden from the compiler: that tap j + 1 reads what tap
                 * j read one position on. Seeing it, GCC 12 kept the 16
                 * broadcasts of a row live across the taps and spilled
                 * accumulators to the stack (conv5's shape ran at 55% of
                 * the speed). */
                const float *xj = xr + j;
                __asm__("" : "+r"(xj));
                for (int p = 0; p < ROWS_NP; p++) {
                    const __m512 b = _mm512_set1_ps(xj[p]);
                    for (int v = 0; v < NV; v++)
                        acc[v][p] = _mm512_fmadd_ps(wv[v], b, acc[v][p]);
                }
            }
        }
    /* max(x, 0) under a mask: the same bits as a ReLU (conv_direct.c) */
    const __mmask16 rm = relu ? (__mmask16)0xFFFF : 0;
    for (int p = 0; p < ROWS_NP; p++)
        for (int v = 0; v < NV; v++)
            _mm512_storeu_ps(tmp + p * ROWS_DB + 16 * v,
                             _mm512_mask_max_ps(acc[v][p], rm, acc[v][p],
                                                _mm512_setzero_ps()));
}

typedef void (*rows_block_fn)(const float *x, int64_t cs, int64_t c,
                              int64_t kh, int64_t kw, int64_t wp,
                              const float *w, const float *bias, float *tmp,
                              int relu);

#define ROWS_INSTANCE(PRE, NV, KH, KW)                                        \
    __attribute__((target("avx512f"))) static void PRE##_##NV(                \
        const float *x, int64_t cs, int64_t c, int64_t kh, int64_t kw,        \
        int64_t wp, const float *w, const float *bias, float *tmp, int relu)  \
    {                                                                         \
        (void)kh, (void)kw;                                                   \
        rows_body(NV, x, cs, c, KH, KW, wp, w, bias, tmp, relu);              \
    }
ROWS_INSTANCE(rows_any, 1, kh, kw)
ROWS_INSTANCE(rows_any, 2, kh, kw)
/* 3 x 3 taps as constants: VGG's convs and the low-rank pairs' first
 * halves, their nine taps unrolled */
ROWS_INSTANCE(rows_k3, 1, 3, 3)
ROWS_INSTANCE(rows_k3, 2, 3, 3)
/* 1 x 1: the pairs' second halves */
ROWS_INSTANCE(rows_k1, 1, 1, 1)
ROWS_INSTANCE(rows_k1, 2, 1, 1)
#undef ROWS_INSTANCE
#endif

lrc_status lrc_fw_conv_rows(const lrc_layer *l, const float *packed,
                            const float *in, int64_t n, float *out,
                            float *work, int relu)
{
#ifdef LRC_ROWS_X86
    if (!lrc_fw_conv_cpu_has(LRC_CONV_ROWS_AVX512) ||
        !lrc_fw_conv_direct_shape_ok(l))
        LRC_RAISE(LRC_ERR_INTERNAL, "layer '%s': the row conv kernel cannot "
                  "run it here", l->name);
    const int64_t c = l->in_c, d = l->out_c, kk = l->kh * l->kw;
    const int64_t h = l->in_shape[1], w = l->in_shape[2];
    const int64_t ho = l->out_shape[1], wo = l->out_shape[2];
    const int64_t hp = h + l->pt + l->pb, wp = w + l->pl + l->pr;
    const int64_t plane = ho * wo, cs = hp * wp, dpad = rows_dpad(l);
    float *pad = work;
    if (!packed) {
        float *pk = work;
        pad = work + lrc_fw_conv_rows_weights_size(l);
        lrc_fw_conv_rows_weights(l, pk);
        packed = pk;
    }
    const float *bias = packed + dpad * c * kk;
    const int k3 = l->kh == 3 && l->kw == 3, k1 = l->kh == 1 && l->kw == 1;
    const rows_block_fn fn[3] = {NULL, k3 ? rows_k3_1 : k1 ? rows_k1_1 : rows_any_1,
                                 k3 ? rows_k3_2 : k1 ? rows_k1_2 : rows_any_2};
    const int64_t slack = rows_pad_floats(l) - c * hp * wp;
    memset(pad + c * hp * wp, 0, (size_t)slack * sizeof(float));
    float tmp[ROWS_NP * ROWS_DB];
    for (int64_t b = 0; b < n; b++) {
        lrc_fw_pad_image(l, in + b * c * h * w, wp, pad);
        float *o = out + b * d * plane;
        for (int64_t f0 = 0; f0 < dpad; f0 += ROWS_DB) {
            const int nv = dpad - f0 < ROWS_DB ? 1 : 2;
            const int64_t nd = d - f0 < 16 * nv ? d - f0 : 16 * nv;
            const float *wb = packed + f0 * c * kk;
            for (int64_t y = 0; y < ho; y++)
                for (int64_t x0 = 0; x0 < wo; x0 += ROWS_NP) {
                    const int64_t np = wo - x0 < ROWS_NP ? wo - x0 : ROWS_NP;
                    fn[nv](pad + y * wp + x0, cs, c, l->kh, l->kw, wp, wb,
                           bias + f0, tmp, relu);
                    float *dst = o + f0 * plane + y * wo + x0;
                    for (int64_t f = 0; f < nd; f++)
                        for (int64_t p = 0; p < np; p++)
                            dst[f * plane + p] = tmp[p * ROWS_DB + f];
                }
        }
    }
    return LRC_OK;
#else
    (void)packed, (void)in, (void)n, (void)out, (void)work, (void)relu;
    LRC_RAISE(LRC_ERR_INTERNAL, "layer '%s': this build has no row conv "
              "kernel", l->name);
#endif
}
