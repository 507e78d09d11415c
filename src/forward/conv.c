/* Convolution: the choice between the direct kernel (conv_direct.c) and
 * the lowering onto sgemm, and the lowering itself: for each image, im2col
 * gathers the k*k*c patches into a (c*kh*kw) x (ho*wo) matrix, then
 * out (d x ho*wo) = W (d x c*kh*kw) * col, plus the bias. */
#include <cblas.h>
#include <string.h>

#include "forward/forward_impl.h"

int lrc_fw_conv_is_pointwise(const lrc_layer *l)
{
    return l->kh == 1 && l->kw == 1 && l->sh == 1 && l->sw == 1 &&
           l->pt == 0 && l->pl == 0 && l->pb == 0 && l->pr == 0;
}

/* im2col of a stride-1 conv whose output rows are as wide as its input's
 * (pl + pr = kw - 1: "same" width, VGG's 3 x 3; every tap's column shift
 * |dx| < w): tap (i, j) of output (y, x) reads input (y + dy, x + dx),
 * dy = i - pt, dx = j - pl, so the
 * rows whose taps lie in the image are one run of the input, shifted by
 * dy w + dx; one copy per tap and channel, then zeros for the |dx|
 * columns per row that the shift wrapped to the next or previous row, and
 * for the rows past the image. On 14 x 14 maps the row by row copies
 * (14 floats each) took about as long as a sixth of the sgemm after them
 * (docs/BENCHMARKS.md, section 19). The same matrix. */
static void im2col_same_width(const lrc_layer *l, const float *img, float *col)
{
    const int64_t c = l->in_shape[0], h = l->in_shape[1], w = l->in_shape[2];
    const int64_t ho = l->out_shape[1], p = ho * w;
    for (int64_t ch = 0; ch < c; ch++) {
        const float *src = img + ch * h * w;
        for (int64_t i = 0; i < l->kh; i++) {
            const int64_t dy = i - l->pt;
            /* output rows whose input row y + dy is in the image */
            int64_t y0 = -dy > 0 ? -dy : 0, y1 = h - dy < ho ? h - dy : ho;
            if (y1 < y0)
                y1 = y0;
            for (int64_t j = 0; j < l->kw; j++) {
                const int64_t dx = j - l->pl;
                /* the columns a shift by dx wraps: [z0, z1) of each row */
                const int64_t z0 = dx < 0 ? 0 : w - dx, z1 = dx < 0 ? -dx : w;
                float *dst = col + ((ch * l->kh + i) * l->kw + j) * p;
                /* positions [a, b) of the run: the first row from column
                 * -dx, the last to column w - dx (both in the image) */
                const int64_t a = y0 * w + (dx < 0 ? -dx : 0);
                const int64_t b = y1 * w - (dx > 0 ? dx : 0);
                if (a > 0)
                    memset(dst, 0, (size_t)(a < p ? a : p) * sizeof(float));
                if (b > a) {
                    memcpy(dst + a, src + a + dy * w + dx,
                           (size_t)(b - a) * sizeof(float));
                    for (int64_t y = y0; y < y1; y++)
                        for (int64_t x = z0; x < z1; x++)
                            dst[y * w + x] = 0.0f;
                }
                const int64_t e = b > a ? b : a;
                if (e < p)
                    memset(dst + e, 0, (size_t)(p - e) * sizeof(float));
            }
        }
    }
}

/* Rows of `col` run over (c, i, j) in weight order; columns over output
 * pixels. Out-of-image taps read zero. */
static void im2col(const lrc_layer *l, const float *img, float *col)
{
    const int64_t c = l->in_shape[0], h = l->in_shape[1], w = l->in_shape[2];
    const int64_t ho = l->out_shape[1], wo = l->out_shape[2];
    const int64_t p = ho * wo;
    if (l->sh == 1 && l->sw == 1 && wo == w && l->pl < w &&
        l->kw - 1 - l->pl < w) { /* |dx| < w */
        im2col_same_width(l, img, col);
        return;
    }
    for (int64_t ch = 0; ch < c; ch++) {
        const float *src = img + ch * h * w;
        for (int64_t i = 0; i < l->kh; i++) {
            for (int64_t j = 0; j < l->kw; j++) {
                float *dst = col + ((ch * l->kh + i) * l->kw + j) * p;
                for (int64_t y = 0; y < ho; y++) {
                    const int64_t iy = y * l->sh - l->pt + i;
                    float *row = dst + y * wo;
                    if (iy < 0 || iy >= h) {
                        memset(row, 0, (size_t)wo * sizeof(float));
                        continue;
                    }
                    const float *srow = src + iy * w;
                    if (l->sw == 1) {
                        /* contiguous run with zero edges */
                        int64_t x0 = l->pl - j, x = 0;
                        for (; x < wo && x - x0 < 0; x++)
                            row[x] = 0.0f;
                        int64_t xe = wo;
                        if (w + x0 < xe)
                            xe = w + x0;
                        if (xe > x) {
                            memcpy(row + x, srow + (x - x0),
                                   (size_t)(xe - x) * sizeof(float));
                            x = xe;
                        }
                        for (; x < wo; x++)
                            row[x] = 0.0f;
                    } else {
                        for (int64_t x = 0; x < wo; x++) {
                            const int64_t ix = x * l->sw - l->pl + j;
                            row[x] = (ix >= 0 && ix < w) ? srow[ix] : 0.0f;
                        }
                    }
                }
            }
        }
    }
}

static lrc_status conv_lowered(const lrc_layer *l, const float *in, int64_t n,
                               float *out, float *work, int relu)
{
    const int64_t in_sz = l->in_shape[0] * l->in_shape[1] * l->in_shape[2];
    const int64_t p = l->out_shape[1] * l->out_shape[2];
    const int64_t d = l->out_c, k = l->in_c * l->kh * l->kw;
    const int pointwise = lrc_fw_conv_is_pointwise(l);
    if (d > INT32_MAX || k > INT32_MAX || p > INT32_MAX)
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "layer '%s': matrix too large for BLAS "
                  "int sizes", l->name);
    for (int64_t b = 0; b < n; b++) {
        const float *img = in + b * in_sz;
        float *o = out + b * d * p;
        const float *col = img;
        if (!pointwise) {
            im2col(l, img, work);
            col = work;
        }
        for (int64_t f = 0; f < d; f++) {
            const float bv = l->bias[f];
            float *row = o + f * p;
            for (int64_t x = 0; x < p; x++)
                row[x] = bv;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)p,
                    (int)k, 1.0f, l->weight, (int)k, col, (int)p, 1.0f, o,
                    (int)p);
        if (relu) /* on the image just computed, while it is in cache */
            lrc_fw_relu(o, (size_t)(d * p), o);
    }
    return LRC_OK;
}

/* Where the direct kernel beats im2col + sgemm, measured with bench_conv
 * (one thread, batch 1 and 8, best of 3; docs/BENCHMARKS.md, section 6) on
 * an Intel Xeon with AVX-512 (2 FMA units of 16 floats; OpenBLAS 0.3.21):
 *
 * - 3x3, stride 1, d <= 128 output channels: AVX-512 kernel 1.0-4.2x the
 *   lowering. Rates as % of the one-thread sgemm peak, direct vs lowered:
 *   VGG-16 conv1_2 (64 -> 64, 224 x 224) 71% vs 39%, conv2_x (d = 128)
 *   84-90% vs 58-64%; the low-rank A convs with d' = 16-64 65-93% vs
 *   17-62%, d' = 128 at 28 x 28 78-86% vs 72-78%, at 14 x 14 a tie
 *   (62-65%); c = 3 (conv1_1, bound by writing its output) 45% vs 42%,
 *   within run-to-run noise. 5x5 and 7x7 (c = 32-256, d = 16-64)
 *   1.4-5.4x.
 * - d = 160 to 256: since the kernel prefetches the next input channel's
 *   rows (section 15; bench_direct --relu, two runs), 1.21-1.36x at 56 x
 *   56 and larger (VGG-16's conv3_x: 87-95% of the peak against 69-77%),
 *   1.0-1.14x at 28 x 28; so d <= 256 from 28 x 28 outputs on. At 14 x 14
 *   d = 128 is a tie and d = 176 to 512 0.7-0.9x, and d = 512 at 28 x 28
 *   0.93x (the kernel re-reads all d c k k weights for every block of
 *   positions): those stay on sgemm. (Before the prefetch, d = 256 at 56
 *   x 56 was a tie.)
 * - 1x1 without pads (the B halves of the pairs), since the kernel reads
 *   their input in place (conv_direct.c), with the ReLU fused as the
 *   plan runs them (bench_direct --relu; section 14): c = 16-64 input
 *   channels on 28 x 28 to 224 x 224 outputs 1.02-1.86x (56-98% of the
 *   peak against 31-88%), the lowering's bias and ReLU passes over an
 *   output that does not fit in L2 being much of what is saved. With the
 *   weights laid out beforehand, as a plan holds them (section 20; two
 *   runs of `bench_direct --relu --reps 10`): c = 99-192 on 56 x 56
 *   1.08-1.20x, c = 74-192 on 28 x 28 1.05-1.27x, c = 24-128 on 14 x 14
 *   1.05-1.48x; c = 256 0.94-1.10x (ties on 28 x 28, 0.94-0.96x on 14 x
 *   14). So c <= 192 from 14 x 14 outputs on (before the weights were laid
 *   out once, c = 96 to 192 ran 0.84-1.23x and 14 x 14 outputs 0.74-1.0x,
 *   and the rule stopped at c = 64 and 28 x 28). 1x1 convs with pads stay
 *   on sgemm, unmeasured, as do all 1x1 convs on CPUs without AVX-512 (the
 *   AVX2 kernel was not measured on them).
 * - The AVX2 kernel (8 floats a vector), against OpenBLAS's AVX2 (Haswell)
 *   sgemm, as on a CPU without AVX-512 (OPENBLAS_CORETYPE=Haswell): d <=
 *   64 1.1-2.7x (65-80% vs 26-73% of that sgemm's peak), d = 128
 *   0.85-1.05x: so d <= 64 there.
 * Non-square kernels were not measured and stay on sgemm. The rule reads
 * only the layer's shape and the CPU, never the batch. */
#define DIRECT_MAX_D_AVX512 128
#define DIRECT_WIDE_MAX_D_AVX512 256
#define DIRECT_WIDE_MIN_POSITIONS (28 * 28)
#define DIRECT_MAX_D_AVX2 64
#define POINTWISE_MAX_C 192
#define POINTWISE_MIN_POSITIONS (14 * 14)

static int direct_pays(const lrc_layer *l, int64_t max_d)
{
    return lrc_fw_conv_direct_shape_ok(l) && l->kh == l->kw && l->kh >= 2 &&
           l->out_c <= max_d;
}

static int wide_pays(const lrc_layer *l)
{
    return direct_pays(l, DIRECT_WIDE_MAX_D_AVX512) &&
           l->out_shape[1] * l->out_shape[2] >= DIRECT_WIDE_MIN_POSITIONS;
}

static int pointwise_pays(const lrc_layer *l)
{
    return l->op == LRC_OP_CONV && lrc_fw_conv_is_pointwise(l) &&
           lrc_fw_conv_direct_shape_ok(l) && l->in_c <= POINTWISE_MAX_C &&
           l->out_shape[1] * l->out_shape[2] >= POINTWISE_MIN_POSITIONS;
}

/* Where the row kernel (conv_rows.c: output channels in the vector
 * lanes, blocks of 14 outputs of a row) beats both paths above, measured
 * with `bench_direct --relu --reps 10` (one thread, one image, every
 * kernel's weights laid out beforehand as a forward plan holds them; two
 * runs; docs/BENCHMARKS.md, section 20) on an AVX-512 Xeon. 3 x 3, stride
 * 1, the row kernel's speed over the faster of the other two:
 * - 14 x 14 outputs: d = 512 (VGG-16's conv5_x) 1.19-1.21x, d = 172-181
 *   (the 4x model's conv5 lrA) 1.20-1.24x, d = 16-48 1.09-1.17x; but d =
 *   24 0.95-0.97x (its block of 32 channels a quarter padding) and d = 8
 *   0.66-0.67x;
 * - 28 x 28: d = 96-512 1.08-1.27x; d = 72-74 0.99-1.05x, d = 27 0.97-1.00x
 *   and d = 17 0.69-0.71x the direct kernel;
 * - 56 x 56 and larger: 0.89-1.11x the direct kernel, varying between runs
 *   and shapes; 7 x 7 (its blocks of 14 half empty) 0.89-0.91x the
 *   lowering;
 * - 1 x 1 (the pairs' second halves) at 14 x 14, 1.07-1.09x the lowering,
 *   at 28 x 28 0.82-0.86x: those stay where they were.
 * So: 3 x 3 convs with rows of a multiple of 14 outputs, on 14 x 14 maps
 * from d = 16 on, on 28 x 28 from d = 96 on, where d rounded up to 16
 * channels adds at most a quarter. */
#define ROWS_MIN_D_14 16
#define ROWS_MIN_D_28 96

static int rows_pays(const lrc_layer *l)
{
    const int64_t ho = l->out_shape[1], wo = l->out_shape[2], d = l->out_c;
    return lrc_fw_conv_direct_shape_ok(l) && l->kh == 3 && l->kw == 3 &&
           wo % 14 == 0 && ho * wo <= 28 * 28 &&
           d >= (ho * wo <= 14 * 14 ? ROWS_MIN_D_14 : ROWS_MIN_D_28) &&
           4 * ((d + 15) / 16 * 16) <= 5 * d;
}

/* Whether the rule gives l the AVX-512 kernel (on a CPU that has it). */
static int avx512_pays(const lrc_layer *l)
{
    return direct_pays(l, DIRECT_MAX_D_AVX512) || wide_pays(l) ||
           pointwise_pays(l);
}

lrc_conv_algo lrc_fw_conv_choose(const lrc_layer *l)
{
    if (lrc_fw_conv_cpu_has(LRC_CONV_ROWS_AVX512) && rows_pays(l))
        return LRC_CONV_ROWS_AVX512;
    if (lrc_fw_conv_cpu_has(LRC_CONV_DIRECT_AVX512))
        return avx512_pays(l) ? LRC_CONV_DIRECT_AVX512 : LRC_CONV_LOWERED;
    if (lrc_fw_conv_cpu_has(LRC_CONV_DIRECT_AVX2) &&
        direct_pays(l, DIRECT_MAX_D_AVX2))
        return LRC_CONV_DIRECT_AVX2;
    return LRC_CONV_LOWERED;
}

int lrc_fw_conv_can_run(const lrc_layer *l, lrc_conv_algo a)
{
    if (a == LRC_CONV_LOWERED)
        return 1;
    return lrc_fw_conv_direct_shape_ok(l) && lrc_fw_conv_cpu_has(a);
}

size_t lrc_fw_conv_workspace(const lrc_layer *l, lrc_conv_algo a)
{
    if (a == LRC_CONV_ROWS_AVX512)
        return lrc_fw_conv_rows_workspace(l);
    if (a != LRC_CONV_LOWERED)
        return lrc_fw_conv_direct_workspace(l);
    if (lrc_fw_conv_is_pointwise(l))
        return 0;
    return (size_t)(l->in_c * l->kh * l->kw) *
           (size_t)(l->out_shape[1] * l->out_shape[2]);
}

size_t lrc_fw_conv_layer_workspace(const lrc_layer *l)
{
    size_t s = lrc_fw_conv_workspace(l, LRC_CONV_LOWERED);
    /* where the rule may choose a direct kernel on some CPU: the size is
     * the same on every CPU */
    if ((avx512_pays(l) || direct_pays(l, DIRECT_MAX_D_AVX2)) &&
        lrc_fw_conv_direct_workspace(l) > s)
        s = lrc_fw_conv_direct_workspace(l);
    if (rows_pays(l) && lrc_fw_conv_rows_workspace(l) > s)
        s = lrc_fw_conv_rows_workspace(l);
    return s;
}

size_t lrc_fw_conv_packed_size(const lrc_layer *l, lrc_conv_algo a)
{
    if (a == LRC_CONV_LOWERED)
        return 0;
    if (a == LRC_CONV_ROWS_AVX512)
        return lrc_fw_conv_rows_weights_size(l);
    return lrc_fw_conv_direct_weights_size(l, a);
}

void lrc_fw_conv_pack(const lrc_layer *l, lrc_conv_algo a, float *packed)
{
    if (a == LRC_CONV_ROWS_AVX512)
        lrc_fw_conv_rows_weights(l, packed);
    else if (a != LRC_CONV_LOWERED)
        lrc_fw_conv_direct_weights(l, a, packed);
}

lrc_status lrc_fw_conv_packed(const lrc_layer *l, lrc_conv_algo a,
                              const float *packed, const float *in,
                              int64_t n, float *out, float *work, int relu)
{
    if (a == LRC_CONV_LOWERED)
        return conv_lowered(l, in, n, out, work, relu);
    if (a == LRC_CONV_ROWS_AVX512)
        return lrc_fw_conv_rows(l, packed, in, n, out, work, relu);
    return lrc_fw_conv_direct(l, a, packed, in, n, out, work, relu);
}

lrc_status lrc_fw_conv_with(const lrc_layer *l, lrc_conv_algo a,
                            const float *in, int64_t n, float *out,
                            float *work, int relu)
{
    return lrc_fw_conv_packed(l, a, NULL, in, n, out, work, relu);
}

lrc_status lrc_fw_conv(const lrc_layer *l, const float *in, int64_t n,
                       float *out, float *work, int relu)
{
    return lrc_fw_conv_with(l, lrc_fw_conv_choose(l), in, n, out, work, relu);
}

/* Where the winograd backend runs a conv with Winograd (conv_winograd.c)
 * rather than the paths above: 3x3 stride-1 convs with at least 32 input
 * channels and at least 49 tiles of the size lrc_fw_wino_tile picks (4 x
 * 4 from 28 x 28 outputs on, else 2 x 2: 14 x 14), and enough output
 * channels: 12 with at least 3,136 tiles of 4 x 4 (224 x 224), 20 with
 * at least 196 (56 x 56), else 32.
 * Measured one layer at a time against the path the rule above picks
 * (one thread, batch 1, docs/BENCHMARKS.md sections 11, 13 and 16):
 * VGG-16's conv1_2 to conv4_3 run 1.5-3.3x faster with F(4x4, 3x3);
 * conv5_x (14 x 14) 1.5-2.1x with F(2x2, 3x3); conv1_1 (c = 3: the
 * transforms cost as much as the products) 0.4-0.6x. The thin first
 * halves of low-rank pairs, against the direct kernel as it is since its
 * prefetch (bench_direct --relu, its /rule column, two runs): d' = 20-24
 * at 56 x 56 to 224 x 224 1.08-1.27x but d' = 16-17 0.87-1.00x; at 28 x
 * 28 d' = 24 0.90-0.92x and 27 0.98-1.04x; at 14 x 14 d' = 30 0.92-0.95x
 * and 48 1.21-1.23x. (Before the prefetch d' = 16 sufficed from 56 x 56
 * and 24 at 28 x 28.) Since the vector transforms (section 17), at 224 x
 * 224 (c = 64) d' = 10-19 runs 1.08-1.49x, d' = 8 0.98-1.03x; at 112 x 112
 * d' = 16 is still 0.90-0.95x. */
#define WINO_MIN_C 32
#define WINO_MIN_TILES 49

int lrc_fw_wino_pays(const lrc_layer *l)
{
    if (!lrc_fw_wino_shape_ok(l) || l->in_c < WINO_MIN_C)
        return 0;
    const int m = lrc_fw_wino_tile(l);
    const int64_t tiles = lrc_fw_wino_tiles(l, m);
    if (tiles < WINO_MIN_TILES)
        return 0;
    const int64_t min_d = m == 4 && tiles >= 3136 ? 12
                          : m == 4 && tiles >= 196 ? 20
                                                   : 32;
    return l->out_c >= min_d;
}
