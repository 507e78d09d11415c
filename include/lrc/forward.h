/* lrc forward: batched inference of a chain net on float32 NCHW tensors.
 *
 * Convolutions run on one of two paths, chosen per layer from its shape and
 * the CPU (never from the batch): stride-1 square k x k convs (k >= 2) with
 * few output channels (<= 128 with AVX-512, <= 64 with AVX2 + FMA only),
 * such as the first half of a low-rank pair, use a direct convolution
 * kernel; every other conv, and every conv on other CPUs, is lowered onto
 * OpenBLAS sgemm (im2col per image, skipped for 1x1 stride-1 unpadded
 * convs). Both sum in float32 and agree to float rounding; the direct
 * kernel gives the same bits on every run and for an image alone or in
 * any batch (both of its vector widths too). Dense layers are one sgemm
 * per batch. All functions here are Not Collective. */
#ifndef LRC_FORWARD_H
#define LRC_FORWARD_H

#include "lrc/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Scratch floats that lrc_layer_forward needs for one layer (its shapes
 * must be set): for a conv, the most that either path needs (the im2col
 * matrix, or the direct kernel's padded image and re-laid-out weights), the
 * same on every CPU. */
size_t lrc_layer_workspace(const lrc_layer *l);

/* Runs one layer on n images: `in` holds n x in_shape, `out` n x out_shape
 * (they must not overlap); `work` holds lrc_layer_workspace(l) floats. */
lrc_status lrc_layer_forward(const lrc_layer *l, const float *in, int64_t n,
                             float *out, float *work);

/* Whether `l` and the layer after it (`next`, may be NULL) run as one: a
 * conv followed by a ReLU. */
int lrc_layer_fuses_relu(const lrc_layer *l, const lrc_layer *next);
/* A conv and the ReLU after it in one pass: the output is max(conv, 0),
 * the same bits as lrc_layer_forward of the conv then of the ReLU, without
 * a second pass over the activations. */
lrc_status lrc_conv_relu_forward(const lrc_layer *conv, const float *in,
                                 int64_t n, float *out, float *work);

/* A forward plan: buffers for batches of up to `batch` images through layers
 * [first, last) of a shaped net. The net must outlive the plan and keep its
 * shapes. */
typedef struct lrc_forward lrc_forward;

lrc_status lrc_forward_create(const lrc_net *net, int64_t first, int64_t last,
                              int64_t batch, lrc_forward **fw);
/* No-op on NULL; sets *fw to NULL. */
void lrc_forward_destroy(lrc_forward **fw);

/* Runs n images (any n; processed `batch` at a time). `in` holds n inputs of
 * layer `first`, `out` n outputs of layer `last - 1`. */
lrc_status lrc_forward_run(lrc_forward *fw, const float *in, int64_t n,
                           float *out);

/* Bytes the plan holds. */
size_t lrc_forward_bytes(const lrc_forward *fw);

#ifdef __cplusplus
}
#endif
#endif
