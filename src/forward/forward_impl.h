/* Private to src/forward: one function per layer kind. */
#ifndef LRC_FORWARD_IMPL_H
#define LRC_FORWARD_IMPL_H

#include "lrc/forward.h"

lrc_status lrc_fw_conv(const lrc_layer *l, const float *in, int64_t n,
                       float *out, float *work);
void lrc_fw_maxpool(const lrc_layer *l, const float *in, int64_t n, float *out);
void lrc_fw_avgpool(const lrc_layer *l, const float *in, int64_t n, float *out);
void lrc_fw_globalavgpool(const lrc_layer *l, const float *in, int64_t n,
                          float *out);
void lrc_fw_dense(const lrc_layer *l, const float *in, int64_t n, float *out);
void lrc_fw_relu(const float *in, size_t count, float *out);
void lrc_fw_softmax(const float *in, int64_t n, int64_t k, float *out);

/* Whether a conv needs no im2col (1x1, stride 1, no padding). */
int lrc_fw_conv_is_pointwise(const lrc_layer *l);

#endif
