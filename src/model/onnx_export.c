/* ONNX export: an lrc_net as an opset-13 chain graph.
 *
 * The protobuf-c message tree is built in blocks owned by an arena (a list
 * of allocations freed together), so every exit path releases everything
 * with one call. Strings are copied into the arena; the weight arrays are
 * referenced, not copied, on little-endian hosts (ONNX raw_data is
 * little-endian float32), because a VGG-sized model would otherwise be held
 * three times (net, message, packed bytes). The packed model is written to
 * "<path>.tmp", flushed to disk and renamed over `path`, so a reader never
 * sees a partial file and a failure removes the temporary. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lrc/model.h"
#include "model_impl.h"
#include "onnx.pb-c.h"

#define EXPORT_IR_VERSION 7 /* IR version of ONNX 1.8, which defines opset 13 */
#define EXPORT_OPSET 13
#define MAX_NODE_INPUTS 3
#define MAX_NODE_ATTRS 6

/* ---- arena: every block of the message tree ---------------------------- */

typedef struct arena {
    void **blocks;
    int64_t n, cap;
} arena;

/* Like lrc_calloc, but the block belongs to the arena. */
static lrc_status arena_calloc(arena *a, void *pptr, size_t count, size_t size,
                               const char *what)
{
    void *p = NULL;
    memcpy(pptr, &p, sizeof p);
    /* Room in the list first, so a new block can never be orphaned. */
    LRC_CALL(lrc_model_grow(&a->blocks, &a->cap, a->n + 1, sizeof *a->blocks,
                            "ONNX export block list"));
    LRC_CALL(lrc_calloc(&p, count, size, what));
    a->blocks[a->n++] = p;
    memcpy(pptr, &p, sizeof p);
    return LRC_OK;
}

static lrc_status arena_strdup(arena *a, char **out, const char *s)
{
    size_t len = strlen(s);
    LRC_CALL(arena_calloc(a, out, len + 1, 1, "ONNX export string"));
    memcpy(*out, s, len + 1);
    return LRC_OK;
}

static void arena_release(arena *a)
{
    for (int64_t i = 0; i < a->n; i++)
        free(a->blocks[i]);
    lrc_free(&a->blocks);
    a->n = a->cap = 0;
}

/* ---- exporter state ------------------------------------------------------ */

typedef struct exporter {
    const char *path;
    const lrc_net *net;
    arena mem;
    Onnx__GraphProto *g;
    size_t cap_node, cap_init;
    /* Every tensor name in the graph so far, to keep them unique. */
    const char **names;
    int64_t n_names, cap_names;
} exporter;

static int name_taken(const exporter *ex, const char *s)
{
    for (int64_t i = 0; i < ex->n_names; i++)
        if (strcmp(ex->names[i], s) == 0)
            return 1;
    return 0;
}

static lrc_status register_name(exporter *ex, const char *s)
{
    LRC_CALL(lrc_model_grow(&ex->names, &ex->cap_names, ex->n_names + 1,
                            sizeof *ex->names, "ONNX tensor name list"));
    ex->names[ex->n_names++] = s;
    return LRC_OK;
}

/* A tensor name "<base><suffix>" (or "<base><suffix>_<k>" if that is taken),
 * registered and owned by the arena. */
static lrc_status unique_name(exporter *ex, const char *base,
                              const char *suffix, char **out)
{
    size_t len = strlen(base) + strlen(suffix) + 24;
    LRC_CALL(arena_calloc(&ex->mem, out, len, 1, "ONNX tensor name"));
    snprintf(*out, len, "%s%s", base, suffix);
    for (int64_t k = 1; name_taken(ex, *out); k++)
        snprintf(*out, len, "%s%s_%" PRId64, base, suffix, k);
    return register_name(ex, *out);
}

static int host_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* ---- message builders ---------------------------------------------------- */

static lrc_status new_attr(exporter *ex, Onnx__NodeProto *nd, const char *name,
                           Onnx__AttributeProto **out)
{
    Onnx__AttributeProto *a = NULL;
    if (nd->n_attribute >= MAX_NODE_ATTRS)
        LRC_RAISE(LRC_ERR_INTERNAL, "%s: node '%s': more than %d attributes",
                  ex->path, nd->name, MAX_NODE_ATTRS);
    LRC_CALL(arena_calloc(&ex->mem, &a, 1, sizeof *a, "ONNX attribute"));
    onnx__attribute_proto__init(a);
    LRC_CALL(arena_strdup(&ex->mem, &a->name, name));
    nd->attribute[nd->n_attribute++] = a;
    *out = a;
    return LRC_OK;
}

static lrc_status attr_int(exporter *ex, Onnx__NodeProto *nd, const char *name,
                           int64_t v)
{
    Onnx__AttributeProto *a = NULL;
    LRC_CALL(new_attr(ex, nd, name, &a));
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
    return LRC_OK;
}

static lrc_status attr_ints(exporter *ex, Onnx__NodeProto *nd, const char *name,
                            const int64_t *v, size_t n)
{
    Onnx__AttributeProto *a = NULL;
    LRC_CALL(new_attr(ex, nd, name, &a));
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    LRC_CALL(arena_calloc(&ex->mem, &a->ints, n, sizeof *a->ints,
                          "ONNX attribute values"));
    memcpy(a->ints, v, n * sizeof *v);
    a->n_ints = n;
    return LRC_OK;
}

/* Kernel, strides and pads of a conv or pooling layer. */
static lrc_status attr_window(exporter *ex, Onnx__NodeProto *nd,
                              const lrc_layer *l)
{
    const int64_t k[2] = {l->kh, l->kw}, s[2] = {l->sh, l->sw};
    const int64_t p[4] = {l->pt, l->pl, l->pb, l->pr};
    LRC_CALL(attr_ints(ex, nd, "kernel_shape", k, 2));
    LRC_CALL(attr_ints(ex, nd, "strides", s, 2));
    LRC_CALL(attr_ints(ex, nd, "pads", p, 4));
    return LRC_OK;
}

/* A node reading `in` (plus up to two initializers) and writing `out`. */
static lrc_status new_node(exporter *ex, const char *op, const char *name,
                           const char *in, const char *out,
                           Onnx__NodeProto **nd_out)
{
    Onnx__NodeProto *nd = NULL;
    Onnx__GraphProto *g = ex->g;
    if (g->n_node >= ex->cap_node)
        LRC_RAISE(LRC_ERR_INTERNAL, "%s: layer '%s': node list is full",
                  ex->path, name);
    LRC_CALL(arena_calloc(&ex->mem, &nd, 1, sizeof *nd, "ONNX node"));
    onnx__node_proto__init(nd);
    LRC_CALL(arena_strdup(&ex->mem, &nd->op_type, op));
    LRC_CALL(arena_strdup(&ex->mem, &nd->name, name));
    LRC_CALL(arena_calloc(&ex->mem, &nd->input, MAX_NODE_INPUTS,
                          sizeof *nd->input, "ONNX node inputs"));
    LRC_CALL(arena_calloc(&ex->mem, &nd->output, 1, sizeof *nd->output,
                          "ONNX node outputs"));
    LRC_CALL(arena_calloc(&ex->mem, &nd->attribute, MAX_NODE_ATTRS,
                          sizeof *nd->attribute, "ONNX node attributes"));
    LRC_CALL(arena_strdup(&ex->mem, &nd->input[0], in));
    nd->n_input = 1;
    LRC_CALL(arena_strdup(&ex->mem, &nd->output[0], out));
    nd->n_output = 1;
    g->node[g->n_node++] = nd;
    *nd_out = nd;
    return LRC_OK;
}

/* A float32 initializer named "<layer><suffix>" holding `count` values of
 * `data` with shape `dims`; its name becomes the next input of `nd`. */
static lrc_status add_initializer(exporter *ex, Onnx__NodeProto *nd,
                                  const lrc_layer *l, const char *suffix,
                                  const float *data, const int64_t *dims,
                                  size_t ndims)
{
    Onnx__TensorProto *t = NULL;
    Onnx__GraphProto *g = ex->g;
    size_t count = 1, bytes = 0;
    for (size_t i = 0; i < ndims; i++)
        LRC_CALL(lrc_mul_size(count, (size_t)dims[i], &count, l->name));
    LRC_CALL(lrc_mul_size(count, sizeof(float), &bytes, l->name));
    for (size_t i = 0; i < count; i++)
        if (!isfinite(data[i]))
            LRC_RAISE(LRC_ERR_NUMERIC, "%s: layer '%s': %s value %zu is %g; "
                      "a model with non-finite weights cannot be exported",
                      ex->path, l->name, suffix + 1, i, (double)data[i]);
    if (g->n_initializer >= ex->cap_init || nd->n_input >= MAX_NODE_INPUTS)
        LRC_RAISE(LRC_ERR_INTERNAL, "%s: layer '%s': initializer list is full",
                  ex->path, l->name);
    LRC_CALL(arena_calloc(&ex->mem, &t, 1, sizeof *t, "ONNX initializer"));
    onnx__tensor_proto__init(t);
    LRC_CALL(unique_name(ex, l->name, suffix, &t->name));
    LRC_CALL(arena_calloc(&ex->mem, &t->dims, ndims, sizeof *t->dims,
                          "ONNX initializer shape"));
    memcpy(t->dims, dims, ndims * sizeof *dims);
    t->n_dims = ndims;
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    if (host_little_endian()) {
        /* protobuf-c only reads raw_data while packing, so the layer's
         * weights are referenced in place (the cast drops const only). */
        t->raw_data.data = (uint8_t *)(uintptr_t)data;
    } else {
        uint8_t *b = NULL;
        LRC_CALL(arena_calloc(&ex->mem, &b, bytes, 1, "ONNX initializer data"));
        for (size_t i = 0; i < count; i++) {
            uint32_t u;
            memcpy(&u, &data[i], 4);
            for (int k = 0; k < 4; k++)
                b[4 * i + (size_t)k] = (uint8_t)(u >> (8 * k));
        }
        t->raw_data.data = b;
    }
    g->initializer[g->n_initializer++] = t;
    nd->input[nd->n_input++] = t->name;
    return LRC_OK;
}

/* A graph input or output: float32 [N, s0] or [N, s0, s1, s2] with a
 * symbolic batch dimension "N". */
static lrc_status value_info(exporter *ex, const char *name,
                             const int64_t s[3], int flat,
                             Onnx__ValueInfoProto **out)
{
    arena *a = &ex->mem;
    Onnx__ValueInfoProto *vi = NULL;
    Onnx__TypeProto *tp = NULL;
    Onnx__TypeProto__Tensor *tt = NULL;
    Onnx__TensorShapeProto *sh = NULL;
    size_t nd = flat ? 2 : 4;
    LRC_CALL(arena_calloc(a, &vi, 1, sizeof *vi, "ONNX value info"));
    onnx__value_info_proto__init(vi);
    LRC_CALL(arena_strdup(a, &vi->name, name));
    LRC_CALL(arena_calloc(a, &tp, 1, sizeof *tp, "ONNX type"));
    onnx__type_proto__init(tp);
    LRC_CALL(arena_calloc(a, &tt, 1, sizeof *tt, "ONNX tensor type"));
    onnx__type_proto__tensor__init(tt);
    LRC_CALL(arena_calloc(a, &sh, 1, sizeof *sh, "ONNX shape"));
    onnx__tensor_shape_proto__init(sh);
    LRC_CALL(arena_calloc(a, &sh->dim, nd, sizeof *sh->dim, "ONNX shape"));
    for (size_t i = 0; i < nd; i++) {
        Onnx__TensorShapeProto__Dimension *d = NULL;
        LRC_CALL(arena_calloc(a, &d, 1, sizeof *d, "ONNX dimension"));
        onnx__tensor_shape_proto__dimension__init(d);
        if (i == 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            LRC_CALL(arena_strdup(a, &d->dim_param, "N"));
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = s[i - 1];
        }
        sh->dim[sh->n_dim++] = d;
    }
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    *out = vi;
    return LRC_OK;
}

/* The node(s) of one layer, reading tensor `in` and writing `out`. */
static lrc_status export_layer(exporter *ex, const lrc_layer *l, const char *in,
                               const char *out)
{
    Onnx__NodeProto *nd = NULL;
    const char *op = lrc_op_name(l->op);
    switch (l->op) {
    case LRC_OP_CONV: {
        const int64_t wd[4] = {l->out_c, l->in_c, l->kh, l->kw};
        const int64_t dil[2] = {1, 1};
        if (!l->weight || !l->bias)
            LRC_RAISE(LRC_ERR_INTERNAL, "%s: layer '%s' (Conv) has no weights",
                      ex->path, l->name);
        LRC_CALL(new_node(ex, "Conv", l->name, in, out, &nd));
        LRC_CALL(add_initializer(ex, nd, l, ".weight", l->weight, wd, 4));
        LRC_CALL(add_initializer(ex, nd, l, ".bias", l->bias, &l->out_c, 1));
        LRC_CALL(attr_window(ex, nd, l));
        LRC_CALL(attr_ints(ex, nd, "dilations", dil, 2));
        LRC_CALL(attr_int(ex, nd, "group", 1));
        break;
    }
    case LRC_OP_MAXPOOL:
    case LRC_OP_AVGPOOL:
        LRC_CALL(new_node(ex, op, l->name, in, out, &nd));
        LRC_CALL(attr_window(ex, nd, l));
        LRC_CALL(attr_int(ex, nd, "ceil_mode", l->ceil_mode ? 1 : 0));
        if (l->op == LRC_OP_AVGPOOL)
            LRC_CALL(attr_int(ex, nd, "count_include_pad",
                              l->count_include_pad ? 1 : 0));
        break;
    case LRC_OP_RELU:
    case LRC_OP_GLOBALAVGPOOL:
        LRC_CALL(new_node(ex, op, l->name, in, out, &nd));
        break;
    case LRC_OP_FLATTEN:
        LRC_CALL(new_node(ex, "Flatten", l->name, in, out, &nd));
        LRC_CALL(attr_int(ex, nd, "axis", 1));
        break;
    case LRC_OP_DENSE: {
        const int64_t wd[2] = {l->out_c, l->in_c};
        if (!l->weight || !l->bias)
            LRC_RAISE(LRC_ERR_INTERNAL, "%s: layer '%s' (Gemm) has no weights",
                      ex->path, l->name);
        if (!l->in_flat) {
            /* lrcompress lets a dense layer read a [C, 1, 1] tensor, but
             * Gemm needs a matrix. */
            char *flat = NULL, *fname = NULL;
            size_t len = strlen(l->name) + 16;
            LRC_CALL(unique_name(ex, l->name, "_flat", &flat));
            LRC_CALL(arena_calloc(&ex->mem, &fname, len, 1, "ONNX node name"));
            snprintf(fname, len, "%s_flatten", l->name);
            LRC_CALL(new_node(ex, "Flatten", fname, in, flat, &nd));
            LRC_CALL(attr_int(ex, nd, "axis", 1));
            in = flat;
        }
        LRC_CALL(new_node(ex, "Gemm", l->name, in, out, &nd));
        LRC_CALL(add_initializer(ex, nd, l, ".weight", l->weight, wd, 2));
        LRC_CALL(add_initializer(ex, nd, l, ".bias", l->bias, &l->out_c, 1));
        LRC_CALL(attr_int(ex, nd, "transB", 1));
        break;
    }
    case LRC_OP_SOFTMAX:
        /* Opset 13 Softmax normalises along `axis` only; the input is
         * [N, F] (or [N, F, 1, 1]), so axis 1 is the whole feature vector. */
        LRC_CALL(new_node(ex, "Softmax", l->name, in, out, &nd));
        LRC_CALL(attr_int(ex, nd, "axis", 1));
        break;
    default:
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: layer '%s': op %d cannot be "
                  "exported", ex->path, l->name, (int)l->op);
    }
    return LRC_OK;
}

static lrc_status build_model(exporter *ex, Onnx__ModelProto *m)
{
    arena *a = &ex->mem;
    const lrc_net *net = ex->net;
    const int64_t nl = net->n_layers;
    Onnx__GraphProto *g = NULL;
    Onnx__OperatorSetIdProto *ops = NULL;

    onnx__model_proto__init(m);
    m->has_ir_version = 1;
    m->ir_version = EXPORT_IR_VERSION;
    LRC_CALL(arena_strdup(a, &m->producer_name, "lrcompress"));
    LRC_CALL(arena_calloc(a, &m->opset_import, 1, sizeof *m->opset_import,
                          "ONNX opset list"));
    LRC_CALL(arena_calloc(a, &ops, 1, sizeof *ops, "ONNX opset"));
    onnx__operator_set_id_proto__init(ops);
    LRC_CALL(arena_strdup(a, &ops->domain, ""));
    ops->has_version = 1;
    ops->version = EXPORT_OPSET;
    m->opset_import[m->n_opset_import++] = ops;

    LRC_CALL(arena_calloc(a, &m->metadata_props, (size_t)net->n_meta,
                          sizeof *m->metadata_props, "ONNX metadata"));
    for (int64_t i = 0; i < net->n_meta; i++) {
        Onnx__StringStringEntryProto *e = NULL;
        LRC_CALL(arena_calloc(a, &e, 1, sizeof *e, "ONNX metadata entry"));
        onnx__string_string_entry_proto__init(e);
        LRC_CALL(arena_strdup(a, &e->key, net->meta[i].key));
        LRC_CALL(arena_strdup(a, &e->value, net->meta[i].value));
        m->metadata_props[m->n_metadata_props++] = e;
    }

    LRC_CALL(arena_calloc(a, &g, 1, sizeof *g, "ONNX graph"));
    onnx__graph_proto__init(g);
    ex->g = g;
    m->graph = g;
    LRC_CALL(arena_strdup(a, &g->name, "lrcompress"));
    /* At most two nodes (Flatten + Gemm) and two initializers per layer. */
    ex->cap_node = (size_t)nl * 2;
    ex->cap_init = (size_t)nl * 2;
    LRC_CALL(arena_calloc(a, &g->node, ex->cap_node, sizeof *g->node,
                          "ONNX node list"));
    LRC_CALL(arena_calloc(a, &g->initializer, ex->cap_init,
                          sizeof *g->initializer, "ONNX initializer list"));
    LRC_CALL(arena_calloc(a, &g->input, 1, sizeof *g->input, "ONNX inputs"));
    LRC_CALL(arena_calloc(a, &g->output, 1, sizeof *g->output, "ONNX outputs"));

    const lrc_layer *first = &net->layers[0], *last = &net->layers[nl - 1];
    LRC_CALL(value_info(ex, net->input_name, first->in_shape, first->in_flat,
                        &g->input[0]));
    g->n_input = 1;
    LRC_CALL(value_info(ex, net->output_name, last->out_shape, last->out_flat,
                        &g->output[0]));
    g->n_output = 1;
    LRC_CALL(register_name(ex, net->input_name));
    LRC_CALL(register_name(ex, net->output_name));

    const char *cur = net->input_name;
    for (int64_t i = 0; i < nl; i++) {
        const lrc_layer *l = &net->layers[i];
        char *out = NULL;
        if (i == nl - 1)
            LRC_CALL(arena_strdup(a, &out, net->output_name));
        else
            LRC_CALL(unique_name(ex, l->name, "_out", &out));
        LRC_CALL(export_layer(ex, l, cur, out));
        cur = out;
    }
    return LRC_OK;
}

/* Checks that the net can be written as a valid chain graph. */
static lrc_status check_net(const char *path, const lrc_net *net)
{
    if (!net->shaped)
        LRC_RAISE(LRC_ERR_ARG, "%s: the net from %s has no input shape; call "
                  "lrc_net_set_input before exporting", path, net->source);
    if (net->n_layers < 1)
        LRC_RAISE(LRC_ERR_ARG, "%s: the net from %s has no layers", path,
                  net->source);
    if (!net->input_name || !net->input_name[0] || !net->output_name ||
        !net->output_name[0])
        LRC_RAISE(LRC_ERR_ARG, "%s: the net from %s has an empty input or "
                  "output name", path, net->source);
    if (strcmp(net->input_name, net->output_name) == 0)
        LRC_RAISE(LRC_ERR_ARG, "%s: the net's input and output are both named "
                  "'%s'; ONNX needs distinct names", path, net->input_name);
    for (int64_t i = 0; i < net->n_layers; i++) {
        const lrc_layer *l = &net->layers[i];
        if (!l->name || !l->name[0])
            LRC_RAISE(LRC_ERR_ARG, "%s: layer %" PRId64 " of %s has no name",
                      path, i, net->source);
    }
    return LRC_OK;
}

/* Writes `len` bytes to `tmp`, flushes them to disk and renames the file to
 * `path`; on failure nothing is left at `tmp`. */
static lrc_status write_atomic(const char *path, const char *tmp,
                               const uint8_t *buf, size_t len)
{
    lrc_status st = LRC_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f)
        LRC_RAISE(LRC_ERR_IO, "%s: cannot create %s: %s", path, tmp,
                  strerror(errno));
    if (fwrite(buf, 1, len, f) != len)
        LRC_FAIL(LRC_ERR_IO, "%s: cannot write %zu bytes to %s: %s", path, len,
                 tmp, strerror(errno));
    if (fflush(f) != 0)
        LRC_FAIL(LRC_ERR_IO, "%s: cannot write %s: %s", path, tmp,
                 strerror(errno));
    if (fsync(fileno(f)) != 0 && errno != EINVAL && errno != EROFS)
        LRC_FAIL(LRC_ERR_IO, "%s: cannot flush %s to disk: %s", path, tmp,
                 strerror(errno));
    {
        int rc = fclose(f);
        f = NULL;
        if (rc != 0)
            LRC_FAIL(LRC_ERR_IO, "%s: cannot close %s: %s", path, tmp,
                     strerror(errno));
    }
    if (rename(tmp, path) != 0)
        LRC_FAIL(LRC_ERR_IO, "%s: cannot rename %s to it: %s", path, tmp,
                 strerror(errno));
    return LRC_OK;
cleanup:
    if (f)
        fclose(f);
    remove(tmp);
    return st;
}

lrc_status lrc_onnx_save(const lrc_net *net, const char *path)
{
    lrc_status st = LRC_OK;
    exporter ex;
    Onnx__ModelProto model;
    uint8_t *buf = NULL;
    char *tmp = NULL;
    size_t len = 0;
    memset(&ex, 0, sizeof ex);
    if (!net || !path || !path[0])
        LRC_RAISE(LRC_ERR_ARG, "ONNX export needs a net and a file name");
    ex.path = path;
    ex.net = net;

    LRC_TRY(check_net(path, net));
    LRC_TRY(build_model(&ex, &model));
    len = onnx__model_proto__get_packed_size(&model);
    /* protobuf (and so every ONNX reader) cannot parse a message of 2 GiB or
     * more; such models need ONNX external data, which we do not write. */
    if (len >= (size_t)INT32_MAX)
        LRC_FAIL(LRC_ERR_UNSUPPORTED, "%s: the model from %s packs to %zu "
                 "bytes, beyond protobuf's 2 GiB limit", path, net->source,
                 len);
    LRC_TRY(lrc_calloc(&buf, len, 1, "packed ONNX model"));
    if (onnx__model_proto__pack(&model, buf) != len)
        LRC_FAIL(LRC_ERR_INTERNAL, "%s: protobuf packing wrote an unexpected "
                 "number of bytes", path);
    /* The message tree is no longer needed; release it before the write. */
    arena_release(&ex.mem);

    {
        size_t plen = strlen(path);
        LRC_TRY(lrc_calloc(&tmp, plen + 5, 1, "temporary file name"));
        memcpy(tmp, path, plen);
        memcpy(tmp + plen, ".tmp", 5);
    }
    LRC_TRY(write_atomic(path, tmp, buf, len));
cleanup:
    arena_release(&ex.mem);
    lrc_free(&ex.names);
    lrc_free(&buf);
    lrc_free(&tmp);
    return st;
}
