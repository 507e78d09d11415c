/* lrc model: the network graph (a chain of layers) and its ONNX import.
 *
 * A network is a chain: one input, each layer reads the previous layer's
 * output, one output. The layer descriptor is public so that the method
 * stages (response statistics, decomposition) can read and replace conv
 * weights; the container is opaque. */
#ifndef LRC_MODEL_H
#define LRC_MODEL_H

#include <stdio.h>

#include "lrc/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lrc_op {
    LRC_OP_CONV,
    LRC_OP_RELU,
    LRC_OP_MAXPOOL,
    LRC_OP_AVGPOOL,
    LRC_OP_GLOBALAVGPOOL,
    LRC_OP_FLATTEN,
    LRC_OP_DENSE,
    LRC_OP_SOFTMAX
} lrc_op;

const char *lrc_op_name(lrc_op op);

/* One layer. Geometry fields are used by conv and pooling layers. */
typedef struct lrc_layer {
    char *name;       /* unique within the net; owned by the net */
    lrc_op op;
    int64_t kh, kw;   /* kernel height, width */
    int64_t sh, sw;   /* strides */
    int64_t pt, pl, pb, pr; /* pads: top, left, bottom, right */
    int ceil_mode;          /* pooling: output size rounds up */
    int count_include_pad;  /* average pooling: pads count in the divisor */
    int64_t out_c, in_c;    /* conv: filters, channels; dense: out, in */
    float *weight;  /* conv: out_c x in_c x kh x kw; dense: out_c x in_c */
    float *bias;    /* out_c values (zeros when the model has none) */
    /* Per-image shapes (c, h, w), set by lrc_net_set_input. A flattened
     * tensor of F features has shape (F, 1, 1) and flat = 1. */
    int64_t in_shape[3], out_shape[3];
    int in_flat, out_flat;
    int64_t flatten_check;  /* Reshape: expected feature count, -1 = any */
} lrc_layer;

typedef struct lrc_net lrc_net;

/* An empty net. Not Collective. The caller destroys it. */
lrc_status lrc_net_create(lrc_net **net);
/* No-op on NULL; sets *net to NULL. */
void lrc_net_destroy(lrc_net **net);

/* Appends a copy of `proto` (name, weights and bias are copied; bias may be
 * NULL for zeros). Not Collective. */
lrc_status lrc_net_append(lrc_net *net, const lrc_layer *proto);

/* Reads a chain ONNX model (opsets 9 to 17; Conv, Relu, MaxPool,
 * AveragePool, GlobalAveragePool, Flatten, Reshape-as-flatten, Gemm,
 * MatMul(+Add), Softmax, Dropout, Identity, BatchNormalization folded into
 * the preceding Conv, Constant). Anything else is rejected with a message
 * naming the file, the node and the reason. Not Collective: every rank
 * reads the file itself. The caller destroys *net. */
lrc_status lrc_onnx_load(const char *path, lrc_net **net);

int64_t lrc_net_num_layers(const lrc_net *net);
const lrc_layer *lrc_net_layer(const lrc_net *net, int64_t i);
lrc_layer *lrc_net_layer_mut(lrc_net *net, int64_t i);
/* Index of the layer with this name, or -1. */
int64_t lrc_net_find(const lrc_net *net, const char *name);

/* Where the net came from (a path, or "<memory>"), for messages. */
const char *lrc_net_source(const lrc_net *net);

/* The model's declared input shape (c, h, w); 0 where it is dynamic. */
void lrc_net_declared_input(const lrc_net *net, int64_t chw[3]);

/* Fixes the per-image input shape, infers every layer's shapes and checks
 * that they agree (conv channels, dense features). Errors name the layer.
 * Not Collective. */
lrc_status lrc_net_set_input(lrc_net *net, int64_t c, int64_t h, int64_t w);
/* The per-image input and output element counts (after set_input). */
int64_t lrc_net_input_size(const lrc_net *net);
int64_t lrc_net_output_size(const lrc_net *net);
/* Largest per-image activation among the layers' inputs and outputs. */
int64_t lrc_net_max_activation(const lrc_net *net);

/* Multiply-adds per image of a layer (conv and dense; 0 for others). */
int64_t lrc_layer_macs(const lrc_layer *l);
/* Weight and bias count of a layer. */
int64_t lrc_layer_params(const lrc_layer *l);

/* Model metadata (ONNX metadata_props). Value or NULL. */
const char *lrc_net_meta(const lrc_net *net, const char *key);
lrc_status lrc_net_set_meta(lrc_net *net, const char *key, const char *value);

/* ONNX names of the graph's input and output ("input", "output" when the
 * net was not read from ONNX). */
const char *lrc_net_input_name(const lrc_net *net);
const char *lrc_net_output_name(const lrc_net *net);

/* Writes the net as ONNX (opset 13, standard Conv/Relu/MaxPool/AveragePool/
 * GlobalAveragePool/Flatten/Gemm/Softmax nodes, float32 initializers, input
 * [N, C, H, W] with a dynamic batch dimension "N", the net's input and
 * output names, and its metadata as metadata_props). The net must be shaped.
 * The file is written under a temporary name and renamed on success, so a
 * failure leaves no partial file. Not Collective (call it on one rank). */
lrc_status lrc_onnx_save(const lrc_net *net, const char *path);

/* Writes the net as HDF5 (docs/FORMAT.md, "model.h5": one group per layer
 * with its geometry as attributes and float32 weight and bias datasets,
 * the metadata as attributes), under a temporary name renamed on success.
 * Not Collective (call it on one rank). */
lrc_status lrc_net_save_h5(const lrc_net *net, const char *path);
/* Reads a net written by lrc_net_save_h5; errors name the file and the
 * group. Not Collective. The caller destroys *net. */
lrc_status lrc_net_load_h5(const char *path, lrc_net **net);
/* Either format, told by the file's first bytes (HDF5's signature, else
 * ONNX). Not Collective. */
lrc_status lrc_model_load(const char *path, lrc_net **net);

/* A deep copy of a net (layers, weights, metadata, names, shapes). */
lrc_status lrc_net_clone(const lrc_net *net, lrc_net **out);

/* Replaces layer i by the `count` layers in `with` (copied), then re-infers
 * the shapes if the net was shaped. Not Collective. */
lrc_status lrc_net_replace(lrc_net *net, int64_t i, const lrc_layer *with,
                           int64_t count);

/* Prints the layer table of `lrc_net inspect`: name, op, input and output
 * shapes, parameters, multiply-adds per image, and totals. */
void lrc_net_print(const lrc_net *net, FILE *out);

#ifdef __cplusplus
}
#endif
#endif
