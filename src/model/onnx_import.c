/* ONNX import: a chain graph of supported ops into an lrc_net.
 *
 * The protobuf-c code is generated from the ONNX schema at build time. The
 * importer walks the nodes in order, keeping the name of the one activation
 * that flows through the chain; any node whose data input is not that
 * activation is a branch and is rejected. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lrc/model.h"
#include "model_impl.h"
#include "onnx.pb-c.h"

#define ONNX_FLOAT 1 /* TensorProto.DataType.FLOAT */

typedef struct importer {
    const char *path;
    Onnx__GraphProto *g;
    /* Constant nodes' outputs, by name (borrowed from the model). */
    Onnx__TensorProto **consts;
    const char **const_names;
    size_t n_consts;
    lrc_net *net;
} importer;

static lrc_status read_file(const char *path, uint8_t **buf, size_t *len)
{
    lrc_status st = LRC_OK;
    FILE *f = fopen(path, "rb");
    *buf = NULL;
    *len = 0;
    if (!f)
        LRC_RAISE(LRC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode))
        LRC_FAIL(LRC_ERR_IO, "%s: not a regular file (a directory?)", path);
    if (fseek(f, 0, SEEK_END) != 0)
        LRC_FAIL(LRC_ERR_IO, "%s: cannot seek (is it a regular file?)", path);
    long size = ftell(f);
    if (size < 0)
        LRC_FAIL(LRC_ERR_IO, "%s: cannot read its size (is it a directory?)",
                 path);
    if (size == 0)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: the file is empty", path);
    rewind(f);
    LRC_TRY(lrc_calloc(buf, (size_t)size, 1, "ONNX file contents"));
    if (fread(*buf, 1, (size_t)size, f) != (size_t)size)
        LRC_FAIL(LRC_ERR_IO, "%s: short read", path);
    *len = (size_t)size;
cleanup:
    fclose(f);
    if (st != LRC_OK)
        lrc_free(buf);
    return st;
}

static const char *node_label(const Onnx__NodeProto *n, size_t idx, char *buf,
                              size_t len)
{
    if (n->name && n->name[0])
        snprintf(buf, len, "'%s' (%s)", n->name, n->op_type);
    else
        snprintf(buf, len, "#%zu (%s)", idx, n->op_type);
    return buf;
}

static const Onnx__AttributeProto *find_attr(const Onnx__NodeProto *n,
                                             const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

static int64_t attr_int(const Onnx__NodeProto *n, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    return a ? a->i : def;
}

static float attr_float(const Onnx__NodeProto *n, const char *name, float def)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    return a ? a->f : def;
}

/* Copies up to `max` ints of attribute `name`; returns the count (0 when
 * absent). */
static size_t attr_ints(const Onnx__NodeProto *n, const char *name,
                        int64_t *out, size_t max)
{
    const Onnx__AttributeProto *a = find_attr(n, name);
    if (!a)
        return 0;
    size_t k = a->n_ints < max ? a->n_ints : max;
    for (size_t i = 0; i < k; i++)
        out[i] = a->ints[i];
    return a->n_ints;
}

static Onnx__TensorProto *find_tensor(const importer *im, const char *name)
{
    for (size_t i = 0; i < im->g->n_initializer; i++)
        if (im->g->initializer[i]->name &&
            strcmp(im->g->initializer[i]->name, name) == 0)
            return im->g->initializer[i];
    for (size_t i = 0; i < im->n_consts; i++)
        if (strcmp(im->const_names[i], name) == 0)
            return im->consts[i];
    return NULL;
}

static int64_t tensor_numel(const Onnx__TensorProto *t)
{
    int64_t n = 1;
    for (size_t i = 0; i < t->n_dims; i++)
        n *= t->dims[i];
    return n;
}

/* Reads a float32 tensor into a new array; checks type, size and that every
 * value is finite. `what` names the node for messages. */
static lrc_status tensor_floats(const importer *im, const Onnx__TensorProto *t,
                                const char *what, float **out, int64_t *numel)
{
    lrc_status st = LRC_OK;
    const char *tn = t->name ? t->name : "?";
    *out = NULL;
    if (t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL ||
        t->n_external_data > 0)
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: tensor '%s' is stored in "
                  "an external file, which is not supported", im->path, what, tn);
    if (t->data_type != ONNX_FLOAT)
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: tensor '%s' has data type "
                  "%d; only float32 (1) is supported", im->path, what, tn,
                  (int)t->data_type);
    for (size_t i = 0; i < t->n_dims; i++)
        if (t->dims[i] < 0 || t->dims[i] > (int64_t)1 << 40)
            LRC_RAISE(LRC_ERR_FORMAT, "%s: node %s: tensor '%s' has invalid "
                      "dimension %" PRId64, im->path, what, tn, t->dims[i]);
    int64_t n = tensor_numel(t);
    size_t have;
    if (t->has_raw_data) {
        if (t->raw_data.len % 4 != 0)
            LRC_RAISE(LRC_ERR_FORMAT, "%s: node %s: tensor '%s' has %zu raw "
                      "bytes, not a whole number of floats", im->path, what, tn,
                      t->raw_data.len);
        have = t->raw_data.len / 4;
    } else {
        have = t->n_float_data;
    }
    if ((int64_t)have != n)
        LRC_RAISE(LRC_ERR_FORMAT, "%s: node %s: tensor '%s' holds %zu values but "
                  "its shape needs %" PRId64, im->path, what, tn, have, n);
    LRC_CALL(lrc_calloc(out, (size_t)n, sizeof(float), "ONNX tensor"));
    if (t->has_raw_data)
        memcpy(*out, t->raw_data.data, (size_t)n * 4); /* little-endian host */
    else
        memcpy(*out, t->float_data, (size_t)n * 4);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite((*out)[i]))
            LRC_FAIL(LRC_ERR_NUMERIC, "%s: node %s: tensor '%s' holds a "
                     "non-finite value (%g) at index %" PRId64, im->path, what,
                     tn, (double)(*out)[i], i);
    *numel = n;
    return LRC_OK;
cleanup:
    lrc_free(out);
    return st;
}

/* Reads an int64 tensor (Reshape's shape). */
static lrc_status tensor_ints(const importer *im, const Onnx__TensorProto *t,
                              const char *what, int64_t *out, size_t max,
                              size_t *count)
{
    int64_t n = tensor_numel(t);
    if (t->data_type != 7) /* INT64 */
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: shape tensor '%s' must be "
                  "int64", im->path, what, t->name ? t->name : "?");
    if (n < 0 || (size_t)n > max)
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: shape tensor has %" PRId64
                  " entries", im->path, what, n);
    if (t->has_raw_data) {
        if (t->raw_data.len != (size_t)n * 8)
            LRC_RAISE(LRC_ERR_FORMAT, "%s: node %s: shape tensor size mismatch",
                      im->path, what);
        memcpy(out, t->raw_data.data, (size_t)n * 8);
    } else {
        if (t->n_int64_data != (size_t)n)
            LRC_RAISE(LRC_ERR_FORMAT, "%s: node %s: shape tensor size mismatch",
                      im->path, what);
        memcpy(out, t->int64_data, (size_t)n * 8);
    }
    *count = (size_t)n;
    return LRC_OK;
}

/* The weight-like input `idx` of a node, which must be a constant. */
static lrc_status const_input(const importer *im, const Onnx__NodeProto *n,
                              size_t idx, const char *what,
                              Onnx__TensorProto **t)
{
    *t = NULL;
    if (idx >= n->n_input || !n->input[idx][0])
        return LRC_OK;
    *t = find_tensor(im, n->input[idx]);
    if (!*t)
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: input '%s' is neither an "
                  "initializer nor a Constant (only chain graphs with constant "
                  "weights are supported)", im->path, what, n->input[idx]);
    return LRC_OK;
}

/* Kernel, strides, pads and auto_pad of Conv and pooling nodes. The input
 * size is not known at import, so SAME_* auto_pad is resolved for stride 1
 * only (where it does not depend on the input size). */
static lrc_status read_window(const importer *im, const Onnx__NodeProto *n,
                              const char *what, lrc_layer *l)
{
    int64_t v[8];
    size_t k;
    k = attr_ints(n, "kernel_shape", v, 8);
    if (k != 0) {
        if (k != 2)
            LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: kernel_shape has %zu "
                      "dimensions; only 2-D is supported", im->path, what, k);
        if (l->op == LRC_OP_CONV && (v[0] != l->kh || v[1] != l->kw))
            LRC_RAISE(LRC_ERR_FORMAT, "%s: node %s: kernel_shape %" PRId64
                      "x%" PRId64 " disagrees with the weights' %" PRId64
                      "x%" PRId64, im->path, what, v[0], v[1], l->kh, l->kw);
        l->kh = v[0];
        l->kw = v[1];
    } else if (l->op != LRC_OP_CONV) {
        LRC_RAISE(LRC_ERR_FORMAT, "%s: node %s: kernel_shape is missing",
                  im->path, what);
    }
    if (l->kh <= 0 || l->kw <= 0)
        LRC_RAISE(LRC_ERR_FORMAT, "%s: node %s: kernel %" PRId64 "x%" PRId64
                  " is not valid", im->path, what, l->kh, l->kw);
    l->sh = l->sw = 1;
    k = attr_ints(n, "strides", v, 8);
    if (k != 0) {
        if (k != 2 || v[0] <= 0 || v[1] <= 0)
            LRC_RAISE(LRC_ERR_FORMAT, "%s: node %s: strides are not two "
                      "positive values", im->path, what);
        l->sh = v[0];
        l->sw = v[1];
    }
    k = attr_ints(n, "dilations", v, 8);
    for (size_t i = 0; i < k && i < 8; i++)
        if (v[i] != 1)
            LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: dilation %" PRId64
                      " is not supported (only 1)", im->path, what, v[i]);
    l->pt = l->pl = l->pb = l->pr = 0;
    k = attr_ints(n, "pads", v, 8);
    if (k != 0) {
        if (k != 4)
            LRC_RAISE(LRC_ERR_FORMAT, "%s: node %s: pads has %zu values, "
                      "expected 4", im->path, what, k);
        for (int i = 0; i < 4; i++)
            if (v[i] < 0)
                LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: negative pads",
                          im->path, what);
        l->pt = v[0];
        l->pl = v[1];
        l->pb = v[2];
        l->pr = v[3];
    }
    const Onnx__AttributeProto *ap = find_attr(n, "auto_pad");
    if (ap && ap->has_s && ap->s.len > 0) {
        char mode[32] = "";
        size_t len = ap->s.len < sizeof mode - 1 ? ap->s.len : sizeof mode - 1;
        memcpy(mode, ap->s.data, len);
        if (strcmp(mode, "NOTSET") == 0) {
            /* explicit pads */
        } else if (strcmp(mode, "VALID") == 0) {
            l->pt = l->pl = l->pb = l->pr = 0;
        } else if (strcmp(mode, "SAME_UPPER") == 0 ||
                   strcmp(mode, "SAME_LOWER") == 0) {
            if (l->sh != 1 || l->sw != 1)
                LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: auto_pad %s with "
                          "stride > 1 is not supported; export explicit pads",
                          im->path, what, mode);
            int upper = mode[5] == 'U';
            int64_t th = l->kh - 1, tw = l->kw - 1;
            l->pt = upper ? th / 2 : th - th / 2;
            l->pb = th - l->pt;
            l->pl = upper ? tw / 2 : tw - tw / 2;
            l->pr = tw - l->pl;
        } else {
            LRC_RAISE(LRC_ERR_FORMAT, "%s: node %s: unknown auto_pad '%s'",
                      im->path, what, mode);
        }
    }
    return LRC_OK;
}

static lrc_status import_conv(importer *im, const Onnx__NodeProto *n,
                              const char *what, lrc_layer *l, float **w,
                              float **b)
{
    Onnx__TensorProto *tw = NULL, *tb = NULL;
    int64_t nw = 0, nb = 0;
    if (attr_int(n, "group", 1) != 1)
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: group=%" PRId64 " is not "
                  "supported (only group=1 convolutions)", im->path, what,
                  attr_int(n, "group", 1));
    LRC_CALL(const_input(im, n, 1, what, &tw));
    LRC_CALL(const_input(im, n, 2, what, &tb));
    if (!tw)
        LRC_RAISE(LRC_ERR_FORMAT, "%s: node %s: missing weight input", im->path,
                  what);
    if (tw->n_dims != 4)
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: weights have %zu "
                  "dimensions; only 2-D convolutions (4-D weights) are "
                  "supported", im->path, what, tw->n_dims);
    l->op = LRC_OP_CONV;
    l->out_c = tw->dims[0];
    l->in_c = tw->dims[1];
    l->kh = tw->dims[2];
    l->kw = tw->dims[3];
    if (l->out_c <= 0 || l->in_c <= 0)
        LRC_RAISE(LRC_ERR_FORMAT, "%s: node %s: weight shape is empty", im->path,
                  what);
    LRC_CALL(read_window(im, n, what, l));
    LRC_CALL(tensor_floats(im, tw, what, w, &nw));
    if (tb) {
        lrc_status st = tensor_floats(im, tb, what, b, &nb);
        if (st != LRC_OK)
            return st;
        if (nb != l->out_c)
            LRC_RAISE(LRC_ERR_FORMAT, "%s: node %s: bias has %" PRId64
                      " values for %" PRId64 " filters", im->path, what, nb,
                      l->out_c);
    }
    return LRC_OK;
}

/* Folds BatchNormalization into the conv layer just appended. */
static lrc_status fold_batchnorm(importer *im, const Onnx__NodeProto *n,
                                 const char *what)
{
    lrc_status st = LRC_OK;
    float *p[4] = {NULL, NULL, NULL, NULL}; /* scale, B, mean, var */
    int64_t ln = lrc_net_num_layers(im->net);
    lrc_layer *l = lrc_net_layer_mut(im->net, ln - 1);
    if (!l || l->op != LRC_OP_CONV)
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: BatchNormalization is "
                  "supported only directly after a Conv (it is folded into it)",
                  im->path, what);
    if (n->n_input < 5)
        LRC_RAISE(LRC_ERR_FORMAT, "%s: node %s: needs 5 inputs", im->path, what);
    for (int i = 0; i < 4; i++) {
        Onnx__TensorProto *t = NULL;
        int64_t cnt = 0;
        LRC_TRY(const_input(im, n, (size_t)i + 1, what, &t));
        if (!t)
            LRC_FAIL(LRC_ERR_FORMAT, "%s: node %s: input %d missing", im->path,
                     what, i + 1);
        LRC_TRY(tensor_floats(im, t, what, &p[i], &cnt));
        if (cnt != l->out_c)
            LRC_FAIL(LRC_ERR_FORMAT, "%s: node %s: parameter %d has %" PRId64
                     " values for %" PRId64 " channels", im->path, what, i + 1,
                     cnt, l->out_c);
    }
    double eps = attr_float(n, "epsilon", 1e-5f);
    int64_t per = l->in_c * l->kh * l->kw;
    for (int64_t o = 0; o < l->out_c; o++) {
        if (p[3][o] + eps <= 0)
            LRC_FAIL(LRC_ERR_NUMERIC, "%s: node %s: variance %g + epsilon is not "
                     "positive in channel %" PRId64, im->path, what,
                     (double)p[3][o], o);
        double s = p[0][o] / sqrt((double)p[3][o] + eps);
        for (int64_t j = 0; j < per; j++)
            l->weight[o * per + j] = (float)(l->weight[o * per + j] * s);
        l->bias[o] = (float)((l->bias[o] - p[2][o]) * s + p[1][o]);
    }
cleanup:
    for (int i = 0; i < 4; i++)
        lrc_free(&p[i]);
    return st;
}

/* Gemm: Y = alpha * A * op(B) + beta * C, A the activation. */
static lrc_status import_gemm(importer *im, const Onnx__NodeProto *n,
                              const char *what, lrc_layer *l, float **w,
                              float **b)
{
    lrc_status st = LRC_OK;
    Onnx__TensorProto *tw = NULL, *tc = NULL;
    float *raw = NULL, *c = NULL;
    int64_t nw = 0, nc = 0;
    if (attr_int(n, "transA", 0) != 0)
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: transA=1 is not supported",
                  im->path, what);
    int transb = (int)attr_int(n, "transB", 0);
    double alpha = attr_float(n, "alpha", 1.0f), beta = attr_float(n, "beta", 1.0f);
    LRC_CALL(const_input(im, n, 1, what, &tw));
    LRC_CALL(const_input(im, n, 2, what, &tc));
    if (!tw || tw->n_dims != 2)
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: B must be a 2-D constant",
                  im->path, what);
    l->op = LRC_OP_DENSE;
    l->out_c = transb ? tw->dims[0] : tw->dims[1];
    l->in_c = transb ? tw->dims[1] : tw->dims[0];
    l->kh = l->kw = 1;
    LRC_TRY(tensor_floats(im, tw, what, &raw, &nw));
    if (transb && alpha == 1.0) {
        *w = raw; /* already [out, in]: no second copy of a large matrix */
        raw = NULL;
    } else {
        LRC_TRY(lrc_calloc(w, (size_t)nw, sizeof(float), "dense weights"));
        for (int64_t o = 0; o < l->out_c; o++)
            for (int64_t i = 0; i < l->in_c; i++)
                (*w)[o * l->in_c + i] = (float)(alpha *
                    (transb ? raw[o * l->in_c + i] : raw[i * l->out_c + o]));
    }
    LRC_TRY(lrc_calloc(b, (size_t)l->out_c, sizeof(float), "dense bias"));
    if (tc) {
        LRC_TRY(tensor_floats(im, tc, what, &c, &nc));
        if (nc != l->out_c && nc != 1)
            LRC_FAIL(LRC_ERR_UNSUPPORTED, "%s: node %s: C has %" PRId64
                     " values; expected %" PRId64 " or 1", im->path, what, nc,
                     l->out_c);
        for (int64_t o = 0; o < l->out_c; o++)
            (*b)[o] = (float)(beta * c[nc == 1 ? 0 : o]);
    }
cleanup:
    lrc_free(&raw);
    lrc_free(&c);
    if (st != LRC_OK) {
        lrc_free(w);
        lrc_free(b);
    }
    return st;
}

/* MatMul with a constant [in, out] right operand. */
static lrc_status import_matmul(importer *im, const Onnx__NodeProto *n,
                                const char *what, lrc_layer *l, float **w,
                                float **b)
{
    lrc_status st = LRC_OK;
    Onnx__TensorProto *tw = NULL;
    float *raw = NULL;
    int64_t nw = 0;
    LRC_CALL(const_input(im, n, 1, what, &tw));
    if (!tw || tw->n_dims != 2)
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: the right operand must be "
                  "a 2-D constant", im->path, what);
    l->op = LRC_OP_DENSE;
    l->in_c = tw->dims[0];
    l->out_c = tw->dims[1];
    l->kh = l->kw = 1;
    LRC_TRY(tensor_floats(im, tw, what, &raw, &nw));
    LRC_TRY(lrc_calloc(w, (size_t)nw, sizeof(float), "dense weights"));
    for (int64_t o = 0; o < l->out_c; o++)
        for (int64_t i = 0; i < l->in_c; i++)
            (*w)[o * l->in_c + i] = raw[i * l->out_c + o];
    LRC_TRY(lrc_calloc(b, (size_t)l->out_c, sizeof(float), "dense bias"));
cleanup:
    lrc_free(&raw);
    if (st != LRC_OK)
        lrc_free(w);
    return st;
}

/* Add of a constant after a Conv or dense layer goes into its bias. */
static lrc_status fold_add(importer *im, const Onnx__NodeProto *n,
                           const char *what, const char *current)
{
    lrc_status st = LRC_OK;
    float *c = NULL;
    int64_t nc = 0;
    lrc_layer *l = lrc_net_layer_mut(im->net, lrc_net_num_layers(im->net) - 1);
    if (n->n_input != 2)
        LRC_RAISE(LRC_ERR_FORMAT, "%s: node %s: Add needs 2 inputs", im->path,
                  what);
    size_t k = strcmp(n->input[0], current) == 0 ? 1 : 0;
    Onnx__TensorProto *t = find_tensor(im, n->input[k]);
    if (!t)
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: Add of two activations "
                  "(a branch, e.g. a residual connection) is not supported",
                  im->path, what);
    if (!l || (l->op != LRC_OP_CONV && l->op != LRC_OP_DENSE))
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: Add of a constant is "
                  "supported only right after a Conv, Gemm or MatMul", im->path,
                  what);
    LRC_CALL(tensor_floats(im, t, what, &c, &nc));
    if (nc != l->out_c && nc != 1)
        LRC_FAIL(LRC_ERR_UNSUPPORTED, "%s: node %s: the added constant has %" PRId64
                 " values; expected %" PRId64 " (one per channel) or 1",
                 im->path, what, nc, l->out_c);
    for (int64_t o = 0; o < l->out_c; o++)
        l->bias[o] += c[nc == 1 ? 0 : o];
cleanup:
    lrc_free(&c);
    return st;
}

static lrc_status check_opset(const char *path, const Onnx__ModelProto *m)
{
    int found = 0;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (o->domain && o->domain[0] && strcmp(o->domain, "ai.onnx") != 0)
            continue;
        found = 1;
        if (o->version < 9 || o->version > 17)
            LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: opset %" PRId64 " is not "
                      "supported (9 to 17)", path, o->version);
    }
    if (!found)
        LRC_RAISE(LRC_ERR_FORMAT, "%s: no ONNX opset is declared", path);
    return LRC_OK;
}

/* The single graph input that is not an initializer. */
static lrc_status find_input(importer *im, const Onnx__ValueInfoProto **vi)
{
    *vi = NULL;
    for (size_t i = 0; i < im->g->n_input; i++) {
        const Onnx__ValueInfoProto *v = im->g->input[i];
        if (find_tensor(im, v->name))
            continue;
        if (*vi)
            LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: the graph has more than one "
                      "input ('%s', '%s'); only single-input chains are "
                      "supported", im->path, (*vi)->name, v->name);
        *vi = v;
    }
    if (!*vi)
        LRC_RAISE(LRC_ERR_FORMAT, "%s: the graph has no input", im->path);
    const Onnx__TypeProto *tp = (*vi)->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !tp->tensor_type)
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: input '%s' is not a tensor",
                  im->path, (*vi)->name);
    if (tp->tensor_type->elem_type != ONNX_FLOAT)
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: input '%s' has element type %d; "
                  "only float32 is supported", im->path, (*vi)->name,
                  (int)tp->tensor_type->elem_type);
    const Onnx__TensorShapeProto *sh = tp->tensor_type->shape;
    if (sh) {
        if (sh->n_dim != 4)
            LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: input '%s' has %zu dimensions; "
                      "an NCHW image batch (4) is expected", im->path,
                      (*vi)->name, sh->n_dim);
        for (int a = 0; a < 3; a++) {
            const Onnx__TensorShapeProto__Dimension *d = sh->dim[a + 1];
            im->net->declared[a] =
                d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                    ? d->dim_value : 0;
        }
    }
    return LRC_OK;
}

/* protobuf-c leaves absent optional strings NULL: a model without the names
 * the importer reads is refused here, so that the code after it can rely on
 * them. */
static lrc_status check_names(const char *path, const Onnx__GraphProto *g)
{
    for (size_t i = 0; i < g->n_node; i++)
        if (!g->node[i]->op_type)
            LRC_RAISE(LRC_ERR_FORMAT, "%s: node #%zu has no op_type", path, i);
    for (size_t i = 0; i < g->n_input; i++)
        if (!g->input[i]->name)
            LRC_RAISE(LRC_ERR_FORMAT, "%s: graph input #%zu has no name", path, i);
    for (size_t i = 0; i < g->n_output; i++)
        if (!g->output[i]->name)
            LRC_RAISE(LRC_ERR_FORMAT, "%s: graph output #%zu has no name", path, i);
    for (size_t i = 0; i < g->n_initializer; i++)
        if (!g->initializer[i]->name)
            LRC_RAISE(LRC_ERR_FORMAT, "%s: initializer #%zu has no name", path, i);
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_attribute; k++)
            if (!g->node[i]->attribute[k]->name)
                LRC_RAISE(LRC_ERR_FORMAT, "%s: node #%zu has an attribute "
                          "without a name", path, i);
    return LRC_OK;
}

/* An Identity node that passes on a weight tensor (torch.onnx.export
 * writes one per duplicate initializer, e.g. for equal all-zero biases):
 * its output is another name of that tensor, not a step of the chain. */
static int is_tensor_identity(const importer *im, const Onnx__NodeProto *nd)
{
    return strcmp(nd->op_type, "Identity") == 0 && nd->n_input == 1 &&
           nd->n_output == 1 && find_tensor(im, nd->input[0]) != NULL;
}

static lrc_status collect_constants(importer *im)
{
    size_t n = 0;
    for (size_t i = 0; i < im->g->n_node; i++)
        if (strcmp(im->g->node[i]->op_type, "Constant") == 0 ||
            strcmp(im->g->node[i]->op_type, "Identity") == 0)
            n++;
    LRC_CALL(lrc_calloc(&im->consts, n, sizeof *im->consts, "constants"));
    LRC_CALL(lrc_calloc(&im->const_names, n, sizeof *im->const_names,
                        "constants"));
    for (size_t i = 0; i < im->g->n_node; i++) {
        const Onnx__NodeProto *nd = im->g->node[i];
        char lbl[160];
        if (is_tensor_identity(im, nd)) {
            im->consts[im->n_consts] = find_tensor(im, nd->input[0]);
            im->const_names[im->n_consts++] = nd->output[0];
            continue;
        }
        if (strcmp(nd->op_type, "Constant") != 0)
            continue;
        const Onnx__AttributeProto *a = find_attr(nd, "value");
        if (!a || !a->t || nd->n_output != 1)
            LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: node %s: only Constant nodes "
                      "with a tensor 'value' are supported", im->path,
                      node_label(nd, i, lbl, sizeof lbl));
        im->consts[im->n_consts] = a->t;
        im->const_names[im->n_consts++] = nd->output[0];
    }
    return LRC_OK;
}

static lrc_status walk_nodes(importer *im, const char *input_name)
{
    lrc_status st = LRC_OK;
    const char *current = input_name;
    float *w = NULL, *b = NULL;
    for (size_t i = 0; i < im->g->n_node; i++) {
        const Onnx__NodeProto *n = im->g->node[i];
        const char *op = n->op_type ? n->op_type : "";
        char what[200];
        node_label(n, i, what, sizeof what);
        if (strcmp(op, "Constant") == 0 ||
            (is_tensor_identity(im, n) && strcmp(n->input[0], current) != 0))
            continue;
        if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0)
            LRC_FAIL(LRC_ERR_UNSUPPORTED, "%s: node %s: domain '%s' is not "
                     "supported", im->path, what, n->domain);
        if (n->n_input < 1 || n->n_output < 1)
            LRC_FAIL(LRC_ERR_FORMAT, "%s: node %s has no input or output",
                     im->path, what);
        int reads_current = 0;
        for (size_t k = 0; k < n->n_input; k++)
            if (strcmp(n->input[k], current) == 0)
                reads_current = 1;
        int data_first = strcmp(n->input[0], current) == 0;
        if (!(data_first || (strcmp(op, "Add") == 0 && reads_current)))
            LRC_FAIL(LRC_ERR_UNSUPPORTED, "%s: node %s reads '%s', which is not "
                     "the output of the node before it ('%s'): the graph is not "
                     "a chain (branches are not supported)", im->path, what,
                     n->input[0], current);
        for (size_t k = 1; k < n->n_input; k++)
            if (strcmp(n->input[k], current) == 0 && strcmp(op, "Add") != 0)
                LRC_FAIL(LRC_ERR_UNSUPPORTED, "%s: node %s uses the activation "
                         "twice", im->path, what);

        lrc_layer l;
        memset(&l, 0, sizeof l);
        l.name = (n->name && n->name[0]) ? n->name : NULL;
        l.flatten_check = -1;
        int append = 1;
        if (strcmp(op, "Conv") == 0) {
            LRC_TRY(import_conv(im, n, what, &l, &w, &b));
        } else if (strcmp(op, "Relu") == 0) {
            l.op = LRC_OP_RELU;
        } else if (strcmp(op, "MaxPool") == 0 || strcmp(op, "AveragePool") == 0) {
            int is_max = op[0] == 'M';
            l.op = is_max ? LRC_OP_MAXPOOL : LRC_OP_AVGPOOL;
            LRC_TRY(read_window(im, n, what, &l));
            l.ceil_mode = (int)attr_int(n, "ceil_mode", 0);
            l.count_include_pad = (int)attr_int(n, "count_include_pad", 0);
            if (is_max && n->n_output > 1 && n->output[1][0])
                LRC_FAIL(LRC_ERR_UNSUPPORTED, "%s: node %s: the Indices output "
                         "is not supported", im->path, what);
        } else if (strcmp(op, "GlobalAveragePool") == 0) {
            l.op = LRC_OP_GLOBALAVGPOOL;
        } else if (strcmp(op, "Flatten") == 0) {
            if (attr_int(n, "axis", 1) != 1)
                LRC_FAIL(LRC_ERR_UNSUPPORTED, "%s: node %s: Flatten axis=%" PRId64
                         " is not supported (only 1)", im->path, what,
                         attr_int(n, "axis", 1));
            l.op = LRC_OP_FLATTEN;
        } else if (strcmp(op, "Reshape") == 0) {
            Onnx__TensorProto *t = NULL;
            int64_t shp[8];
            size_t ns = 0;
            LRC_TRY(const_input(im, n, 1, what, &t));
            if (!t)
                LRC_FAIL(LRC_ERR_UNSUPPORTED, "%s: node %s: Reshape needs a "
                         "constant shape", im->path, what);
            LRC_TRY(tensor_ints(im, t, what, shp, 8, &ns));
            if (ns != 2 || (shp[1] <= 0 && shp[1] != -1) ||
                (shp[0] > 0 && shp[1] == -1))
                LRC_FAIL(LRC_ERR_UNSUPPORTED, "%s: node %s: only Reshape to "
                         "(batch, features) is supported", im->path, what);
            l.op = LRC_OP_FLATTEN;
            l.flatten_check = shp[1] > 0 ? shp[1] : -1;
        } else if (strcmp(op, "Gemm") == 0) {
            LRC_TRY(import_gemm(im, n, what, &l, &w, &b));
        } else if (strcmp(op, "MatMul") == 0) {
            LRC_TRY(import_matmul(im, n, what, &l, &w, &b));
        } else if (strcmp(op, "Add") == 0) {
            LRC_TRY(fold_add(im, n, what, current));
            append = 0;
        } else if (strcmp(op, "BatchNormalization") == 0) {
            if (attr_int(n, "training_mode", 0) != 0)
                LRC_FAIL(LRC_ERR_UNSUPPORTED, "%s: node %s: training_mode is "
                         "not supported", im->path, what);
            LRC_TRY(fold_batchnorm(im, n, what));
            append = 0;
        } else if (strcmp(op, "Softmax") == 0) {
            int64_t axis = attr_int(n, "axis", -1);
            if (axis != 1 && axis != -1)
                LRC_FAIL(LRC_ERR_UNSUPPORTED, "%s: node %s: Softmax axis=%" PRId64
                         " is not supported", im->path, what, axis);
            l.op = LRC_OP_SOFTMAX;
        } else if (strcmp(op, "Dropout") == 0 || strcmp(op, "Identity") == 0) {
            if (strcmp(op, "Dropout") == 0 && n->n_output > 1 && n->output[1][0]) {
                /* The mask output is allowed only if nothing reads it; a
                 * reader would fail the chain check above. */
            }
            append = 0;
        } else {
            LRC_FAIL(LRC_ERR_UNSUPPORTED, "%s: node %s: op '%s' is not "
                     "supported (supported: Conv, Relu, MaxPool, AveragePool, "
                     "GlobalAveragePool, Flatten, Reshape, Gemm, MatMul, Add, "
                     "BatchNormalization, Softmax, Dropout, Identity, Constant)",
                     im->path, what, op);
        }
        if (append) {
            l.weight = w;
            l.bias = b;
            st = lrc_net_append_owned(im->net, &l); /* no copy of the weights */
            w = l.weight; /* NULL unless the append failed first */
            b = l.bias;
            if (st != LRC_OK)
                goto cleanup;
        }
        lrc_free(&w);
        lrc_free(&b);
        current = n->output[0];
    }
    if (im->g->n_output != 1)
        LRC_FAIL(LRC_ERR_UNSUPPORTED, "%s: the graph has %zu outputs; only one "
                 "is supported", im->path, im->g->n_output);
    if (strcmp(im->g->output[0]->name, current) != 0)
        LRC_FAIL(LRC_ERR_UNSUPPORTED, "%s: the graph output '%s' is not the "
                 "last node's output '%s'", im->path, im->g->output[0]->name,
                 current);
    if (lrc_net_num_layers(im->net) == 0)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: the graph has no layers", im->path);
cleanup:
    lrc_free(&w);
    lrc_free(&b);
    return st;
}

lrc_status lrc_onnx_load(const char *path, lrc_net **out)
{
    lrc_status st = LRC_OK;
    uint8_t *buf = NULL;
    size_t len = 0;
    Onnx__ModelProto *m = NULL;
    importer im;
    memset(&im, 0, sizeof im);
    im.path = path;
    *out = NULL;

    LRC_TRY(read_file(path, &buf, &len));
    m = onnx__model_proto__unpack(NULL, len, buf);
    lrc_free(&buf); /* the unpacked message holds copies of everything */
    if (!m)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: not an ONNX model (protobuf decoding "
                 "failed: truncated or not ONNX)", path);
    if (!m->graph)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: the model has no graph", path);
    LRC_TRY(check_opset(path, m));
    LRC_TRY(check_names(path, m->graph));
    im.g = m->graph;
    LRC_TRY(lrc_net_create(&im.net));
    lrc_free(&im.net->source);
    LRC_TRY(lrc_strdup(&im.net->source, path));
    LRC_TRY(collect_constants(&im));
    const Onnx__ValueInfoProto *vi = NULL;
    LRC_TRY(find_input(&im, &vi));
    lrc_free(&im.net->input_name);
    LRC_TRY(lrc_strdup(&im.net->input_name, vi->name));
    LRC_TRY(walk_nodes(&im, vi->name));
    lrc_free(&im.net->output_name);
    LRC_TRY(lrc_strdup(&im.net->output_name, im.g->output[0]->name));
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        const Onnx__StringStringEntryProto *e = m->metadata_props[i];
        if (e->key)
            LRC_TRY(lrc_net_set_meta(im.net, e->key, e->value ? e->value : ""));
    }
    *out = im.net;
    im.net = NULL;
cleanup:
    lrc_net_destroy(&im.net);
    lrc_free(&im.consts);
    lrc_free(&im.const_names);
    if (m)
        onnx__model_proto__free_unpacked(m, NULL);
    lrc_free(&buf);
    return st;
}
