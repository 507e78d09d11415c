/* Convolution lowered onto sgemm: for each image, im2col gathers the
 * k*k*c patches into a (c*kh*kw) x (ho*wo) matrix, then
 * out (d x ho*wo) = W (d x c*kh*kw) * col, plus the bias. */
#include <cblas.h>
#include <string.h>

#include "forward/forward_impl.h"

int lrc_fw_conv_is_pointwise(const lrc_layer *l)
{
    return l->kh == 1 && l->kw == 1 && l->sh == 1 && l->sw == 1 &&
           l->pt == 0 && l->pl == 0 && l->pb == 0 && l->pr == 0;
}

/* Rows of `col` run over (c, i, j) in weight order; columns over output
 * pixels. Out-of-image taps read zero. */
static void im2col(const lrc_layer *l, const float *img, float *col)
{
    const int64_t c = l->in_shape[0], h = l->in_shape[1], w = l->in_shape[2];
    const int64_t ho = l->out_shape[1], wo = l->out_shape[2];
    const int64_t p = ho * wo;
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

lrc_status lrc_fw_conv(const lrc_layer *l, const float *in, int64_t n,
                       float *out, float *work)
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
    }
    return LRC_OK;
}
