/* lrc forward: batched inference of a chain net on float32 NCHW tensors.
 *
 * Convolutions run on one of two paths, chosen per layer from its shape and
 * the CPU (never from the batch; the rule and its measurements are in
 * src/forward/conv.c): stride-1 square k x k convs (k >= 2) with few
 * output channels (with AVX-512: <= 128, or <= 256 from 28 x 28 outputs
 * on; <= 64 with AVX2 + FMA only), such as the first half of a low-rank
 * pair, and with AVX-512 the 1x1 unpadded convs with <= 64 input
 * channels on 28 x 28 outputs or more (the second half of a pair), use a
 * direct convolution kernel; every other conv, and every conv on other
 * CPUs, is lowered onto OpenBLAS sgemm (im2col per image, skipped for 1x1
 * stride-1 unpadded convs). Both sum in float32 and agree to float
 * rounding; the direct kernel gives the same bits on every run and for an
 * image alone or in any batch (both of its vector widths too). Dense
 * layers stream their weights once for batches of up to 8 (AVX-512), else
 * one sgemm per batch. All functions here are Not Collective. */
#ifndef LRC_FORWARD_H
#define LRC_FORWARD_H

#include "lrc/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Scratch floats that lrc_layer_forward needs for one layer (its shapes
 * must be set): for a conv, the most that any of its paths needs (the
 * im2col matrix, or a direct kernel's padded image and re-laid-out
 * weights), the same on every CPU. */
size_t lrc_layer_workspace(const lrc_layer *l);

/* Runs one layer on n images: `in` holds n x in_shape, `out` n x out_shape
 * (they must not overlap); `work` holds lrc_layer_workspace(l) floats.
 * A dense layer on up to 8 images gives the bits of a forward plan, but
 * reads W by gathers (VGG-16's fc6, one image: 37 ms, against 7-11 ms in
 * a plan, which lays out W^T once). */
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

/* The engine of a forward plan's convolutions.
 * - LRC_BACKEND_OPENBLAS (the default): the paths above; the same bits for
 *   an image whatever its batch and the number of ranks.
 * - LRC_BACKEND_ONEDNN: only in builds configured with -DLRC_WITH_DNNL=ON
 *   (Debian's libdnnl-dev). Each run of convs, ReLUs and poolings becomes a
 *   chain of oneDNN primitives (Winograd for 3 x 3 stride-1 convs where
 *   oneDNN has it, activations in its blocked layouts between them);
 *   dense layers, softmax and the rest stay on the OpenBLAS paths. Faster
 *   (VGG-16's conv stack about 2.4x on AVX-512), and its outputs agree with
 *   OpenBLAS's to about 1e-5 of their magnitude, not bitwise; a batch of
 *   another size rebuilds oneDNN's primitives. Runs on as many threads as
 *   OpenBLAS.
 * - LRC_BACKEND_WINOGRAD: the OpenBLAS backend, except that 3 x 3 stride-1
 *   convs with at least 32 input and 32 output channels and an output of
 *   at least 14 x 14 run Winograd (products on an AVX-512 kernel of ours,
 *   or sgemm on other CPUs): F(4x4, 3x3) from 28 x 28 on
 *   (4x fewer multiplications), F(2x2, 3x3) below (2.25x fewer); the plan
 *   transforms their weights once, when it is created, so the net's
 *   weights must not change while the plan lives. Its outputs agree with the
 *   OpenBLAS backend's to about 1e-5 of their magnitude, not bitwise; the
 *   same bits for an image whatever its batch and the number of ranks. */
typedef enum lrc_backend {
    LRC_BACKEND_OPENBLAS = 0,
    LRC_BACKEND_ONEDNN = 1,
    LRC_BACKEND_WINOGRAD = 2
} lrc_backend;

/* "openblas", "winograd" or "onednn" (LRC_ERR_ARG naming the word otherwise; a backend
 * this build lacks parses, lrc_forward_create_with refuses it). */
lrc_status lrc_backend_parse(const char *name, lrc_backend *b);
const char *lrc_backend_name(lrc_backend b);
/* Whether this build has the backend. */
int lrc_backend_available(lrc_backend b);

/* A forward plan: buffers for batches of up to `batch` images through layers
 * [first, last) of a shaped net. The net must outlive the plan and keep its
 * shapes and weights: on every backend the plan lays out the weights of
 * some convs once, when it is created (the row kernel's on small maps,
 * Winograd's transforms), and the oneDNN backend reads them when it
 * rebuilds. */
typedef struct lrc_forward lrc_forward;

/* The plan on the OpenBLAS backend. */
lrc_status lrc_forward_create(const lrc_net *net, int64_t first, int64_t last,
                              int64_t batch, lrc_forward **fw);
/* The plan on `backend`: LRC_ERR_UNSUPPORTED if this build lacks it, or if
 * oneDNN has no implementation for one of the layers (named). */
lrc_status lrc_forward_create_with(const lrc_net *net, int64_t first,
                                   int64_t last, int64_t batch,
                                   lrc_backend backend, lrc_forward **fw);
/* No-op on NULL; sets *fw to NULL. */
void lrc_forward_destroy(lrc_forward **fw);

/* Runs n images (any n; processed `batch` at a time). `in` holds n inputs of
 * layer `first`, `out` n outputs of layer `last - 1`. */
lrc_status lrc_forward_run(lrc_forward *fw, const float *in, int64_t n,
                           float *out);

/* Bytes the plan holds. */
size_t lrc_forward_bytes(const lrc_forward *fw);

/* The plan's backend, and for oneDNN the names of the implementations its
 * convs use (space-separated; "" for OpenBLAS). */
lrc_backend lrc_forward_backend(const lrc_forward *fw);
const char *lrc_forward_impl(const lrc_forward *fw);

#ifdef __cplusplus
}
#endif
#endif
