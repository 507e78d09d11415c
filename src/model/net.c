/* The chain network: storage, shape inference, the inspect table. */
#include "lrc/model.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "model_impl.h"

const char *lrc_op_name(lrc_op op)
{
    switch (op) {
    case LRC_OP_CONV: return "Conv";
    case LRC_OP_RELU: return "Relu";
    case LRC_OP_MAXPOOL: return "MaxPool";
    case LRC_OP_AVGPOOL: return "AveragePool";
    case LRC_OP_GLOBALAVGPOOL: return "GlobalAveragePool";
    case LRC_OP_FLATTEN: return "Flatten";
    case LRC_OP_DENSE: return "Dense";
    case LRC_OP_SOFTMAX: return "Softmax";
    }
    return "?";
}

lrc_status lrc_net_create(lrc_net **net)
{
    lrc_status st = LRC_OK;
    lrc_net *n = NULL;
    *net = NULL;
    LRC_TRY(lrc_calloc(&n, 1, sizeof *n, "network"));
    LRC_TRY(lrc_strdup(&n->source, "<memory>"));
    LRC_TRY(lrc_strdup(&n->input_name, "input"));
    LRC_TRY(lrc_strdup(&n->output_name, "output"));
    *net = n;
    return LRC_OK;
cleanup:
    lrc_net_destroy(&n);
    return st;
}

static void layer_clear(lrc_layer *l)
{
    lrc_free(&l->name);
    lrc_free(&l->weight);
    lrc_free(&l->bias);
}

void lrc_net_destroy(lrc_net **net)
{
    if (!net || !*net)
        return;
    lrc_net *n = *net;
    for (int64_t i = 0; i < n->n_layers; i++)
        layer_clear(&n->layers[i]);
    lrc_free(&n->layers);
    for (int64_t i = 0; i < n->n_meta; i++) {
        lrc_free(&n->meta[i].key);
        lrc_free(&n->meta[i].value);
    }
    lrc_free(&n->meta);
    lrc_free(&n->source);
    lrc_free(&n->input_name);
    lrc_free(&n->output_name);
    free(n);
    *net = NULL;
}

int64_t lrc_layer_params(const lrc_layer *l)
{
    switch (l->op) {
    case LRC_OP_CONV: return l->out_c * l->in_c * l->kh * l->kw + l->out_c;
    case LRC_OP_DENSE: return l->out_c * l->in_c + l->out_c;
    default: return 0;
    }
}

lrc_status lrc_model_grow(void *pptr, int64_t *cap, int64_t need, size_t elem,
                       const char *what)
{
    if (need <= *cap)
        return LRC_OK;
    int64_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *old;
    memcpy(&old, pptr, sizeof old);
    void *p = realloc(old, (size_t)ncap * elem);
    if (!p)
        LRC_RAISE(LRC_ERR_NOMEM, "cannot grow %s to %" PRId64 " entries", what,
                  ncap);
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(ncap - *cap) * elem);
    memcpy(pptr, &p, sizeof p);
    *cap = ncap;
    return LRC_OK;
}

/* Appends a copy of `proto`; with `take`, the weight and bias arrays are
 * moved from *take (which is left without them) instead of copied. */
static lrc_status append(lrc_net *net, const lrc_layer *proto, lrc_layer *take)
{
    lrc_status st = LRC_OK;
    lrc_layer l = *proto;
    l.name = NULL;
    l.weight = NULL;
    l.bias = NULL;
    if (proto->name && lrc_net_find(net, proto->name) >= 0)
        LRC_RAISE(LRC_ERR_FORMAT, "%s: two layers are named '%s'", net->source,
                  proto->name);
    LRC_CALL(lrc_model_grow(&net->layers, &net->cap_layers, net->n_layers + 1,
                  sizeof *net->layers, "layer list"));
    if (proto->name) {
        LRC_TRY(lrc_strdup(&l.name, proto->name));
    } else {
        char buf[64];
        snprintf(buf, sizeof buf, "%s_%" PRId64, lrc_op_name(proto->op),
                 net->n_layers);
        LRC_TRY(lrc_strdup(&l.name, buf));
    }
    if (proto->op == LRC_OP_CONV || proto->op == LRC_OP_DENSE) {
        size_t nw = (size_t)(proto->out_c * proto->in_c * proto->kh * proto->kw);
        if (proto->op == LRC_OP_DENSE)
            nw = (size_t)(proto->out_c * proto->in_c);
        if (!proto->weight || proto->out_c <= 0 || proto->in_c <= 0)
            LRC_FAIL(LRC_ERR_INTERNAL, "layer '%s' has no weights", l.name);
        if (take) {
            l.weight = take->weight;
            take->weight = NULL;
        } else {
            LRC_TRY(lrc_calloc(&l.weight, nw, sizeof(float), "layer weights"));
            memcpy(l.weight, proto->weight, nw * sizeof(float));
        }
        if (take && take->bias) {
            l.bias = take->bias;
            take->bias = NULL;
        } else {
            LRC_TRY(lrc_calloc(&l.bias, (size_t)proto->out_c, sizeof(float),
                               "layer bias"));
            if (proto->bias)
                memcpy(l.bias, proto->bias, (size_t)proto->out_c * sizeof(float));
        }
    }
    net->layers[net->n_layers++] = l;
    return LRC_OK;
cleanup:
    layer_clear(&l);
    return st;
}

lrc_status lrc_net_append(lrc_net *net, const lrc_layer *proto)
{
    return append(net, proto, NULL);
}

lrc_status lrc_net_append_owned(lrc_net *net, lrc_layer *l)
{
    const lrc_layer proto = *l;
    return append(net, &proto, l);
}

int64_t lrc_net_num_layers(const lrc_net *net) { return net->n_layers; }

const lrc_layer *lrc_net_layer(const lrc_net *net, int64_t i)
{
    return (i >= 0 && i < net->n_layers) ? &net->layers[i] : NULL;
}

lrc_layer *lrc_net_layer_mut(lrc_net *net, int64_t i)
{
    return (i >= 0 && i < net->n_layers) ? &net->layers[i] : NULL;
}

int64_t lrc_net_find(const lrc_net *net, const char *name)
{
    for (int64_t i = 0; i < net->n_layers; i++)
        if (net->layers[i].name && strcmp(net->layers[i].name, name) == 0)
            return i;
    return -1;
}

const char *lrc_net_source(const lrc_net *net) { return net->source; }
const char *lrc_net_input_name(const lrc_net *net) { return net->input_name; }
const char *lrc_net_output_name(const lrc_net *net) { return net->output_name; }

void lrc_net_declared_input(const lrc_net *net, int64_t chw[3])
{
    memcpy(chw, net->declared, sizeof net->declared);
}

/* Output length of a conv or pooling window along one axis (ONNX rules). */
static int64_t window_out(int64_t in, int64_t k, int64_t s, int64_t p0,
                          int64_t p1, int ceil_mode)
{
    int64_t span = in + p0 + p1 - k;
    if (span < 0)
        return 0;
    int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
    /* A window that would start entirely inside the end padding is dropped. */
    if (ceil_mode && (out - 1) * s >= in + p0)
        out--;
    return out;
}

lrc_status lrc_net_set_input(lrc_net *net, int64_t c, int64_t h, int64_t w)
{
    if (c <= 0 || h <= 0 || w <= 0)
        LRC_RAISE(LRC_ERR_ARG, "%s: input shape %" PRId64 "x%" PRId64
                  "x%" PRId64 " is not valid", net->source, c, h, w);
    const int64_t want[3] = {c, h, w};
    static const char *axis[3] = {"channels", "height", "width"};
    for (int a = 0; a < 3; a++)
        if (net->declared[a] > 0 && net->declared[a] != want[a])
            LRC_RAISE(LRC_ERR_ARG, "%s: the model expects input %s %" PRId64
                      " but the data has %" PRId64, net->source, axis[a],
                      net->declared[a], want[a]);
    int64_t s[3] = {c, h, w};
    int flat = 0;
    for (int64_t i = 0; i < net->n_layers; i++) {
        lrc_layer *l = &net->layers[i];
        memcpy(l->in_shape, s, sizeof s);
        l->in_flat = flat;
        switch (l->op) {
        case LRC_OP_CONV:
            if (flat)
                LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: layer '%s' (Conv) follows "
                          "a flatten", net->source, l->name);
            if (s[0] != l->in_c)
                LRC_RAISE(LRC_ERR_FORMAT, "%s: layer '%s' (Conv) has %" PRId64
                          " input channels but receives %" PRId64,
                          net->source, l->name, l->in_c, s[0]);
            /* fallthrough */
        case LRC_OP_MAXPOOL:
        case LRC_OP_AVGPOOL: {
            if (flat)
                LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: layer '%s' (%s) follows a "
                          "flatten", net->source, l->name, lrc_op_name(l->op));
            int64_t oh = window_out(s[1], l->kh, l->sh, l->pt, l->pb, l->ceil_mode);
            int64_t ow = window_out(s[2], l->kw, l->sw, l->pl, l->pr, l->ceil_mode);
            if (oh <= 0 || ow <= 0)
                LRC_RAISE(LRC_ERR_ARG, "%s: layer '%s' (%s): kernel %" PRId64
                          "x%" PRId64 " does not fit its %" PRId64 "x%" PRId64
                          " input", net->source, l->name, lrc_op_name(l->op),
                          l->kh, l->kw, s[1], s[2]);
            if (l->op == LRC_OP_CONV)
                s[0] = l->out_c;
            s[1] = oh;
            s[2] = ow;
            break;
        }
        case LRC_OP_GLOBALAVGPOOL:
            if (flat)
                LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: layer '%s' "
                          "(GlobalAveragePool) follows a flatten",
                          net->source, l->name);
            s[1] = s[2] = 1;
            break;
        case LRC_OP_FLATTEN: {
            int64_t f = s[0] * s[1] * s[2];
            if (l->flatten_check > 0 && l->flatten_check != f)
                LRC_RAISE(LRC_ERR_FORMAT, "%s: layer '%s' reshapes to %" PRId64
                          " features but its input has %" PRId64,
                          net->source, l->name, l->flatten_check, f);
            s[0] = f;
            s[1] = s[2] = 1;
            flat = 1;
            break;
        }
        case LRC_OP_DENSE: {
            int64_t f = s[0] * s[1] * s[2];
            if (f != l->in_c)
                LRC_RAISE(LRC_ERR_FORMAT, "%s: layer '%s' (Gemm) expects %" PRId64
                          " input features but receives %" PRId64,
                          net->source, l->name, l->in_c, f);
            if (!flat && (s[1] != 1 || s[2] != 1))
                LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: layer '%s' (Gemm) reads a "
                          "4-D tensor; a Flatten must come first", net->source,
                          l->name);
            s[0] = l->out_c;
            s[1] = s[2] = 1;
            flat = 1;
            break;
        }
        case LRC_OP_SOFTMAX:
            if (!flat && (s[1] != 1 || s[2] != 1))
                LRC_RAISE(LRC_ERR_UNSUPPORTED, "%s: layer '%s': Softmax over a "
                          "4-D tensor is not supported", net->source, l->name);
            break;
        case LRC_OP_RELU:
            break;
        }
        memcpy(l->out_shape, s, sizeof s);
        l->out_flat = flat;
    }
    net->input[0] = c;
    net->input[1] = h;
    net->input[2] = w;
    net->shaped = 1;
    return LRC_OK;
}

int64_t lrc_net_input_size(const lrc_net *net)
{
    return net->input[0] * net->input[1] * net->input[2];
}

int64_t lrc_net_output_size(const lrc_net *net)
{
    if (net->n_layers == 0)
        return lrc_net_input_size(net);
    const int64_t *s = net->layers[net->n_layers - 1].out_shape;
    return s[0] * s[1] * s[2];
}

int64_t lrc_net_max_activation(const lrc_net *net)
{
    int64_t m = lrc_net_input_size(net);
    for (int64_t i = 0; i < net->n_layers; i++) {
        const int64_t *s = net->layers[i].out_shape;
        if (s[0] * s[1] * s[2] > m)
            m = s[0] * s[1] * s[2];
    }
    return m;
}

int64_t lrc_layer_macs(const lrc_layer *l)
{
    switch (l->op) {
    case LRC_OP_CONV:
        return l->out_c * l->in_c * l->kh * l->kw * l->out_shape[1] *
               l->out_shape[2];
    case LRC_OP_DENSE:
        return l->out_c * l->in_c;
    default:
        return 0;
    }
}

const char *lrc_net_meta(const lrc_net *net, const char *key)
{
    for (int64_t i = 0; i < net->n_meta; i++)
        if (strcmp(net->meta[i].key, key) == 0)
            return net->meta[i].value;
    return NULL;
}

lrc_status lrc_net_set_meta(lrc_net *net, const char *key, const char *value)
{
    char *v = NULL;
    LRC_CALL(lrc_strdup(&v, value));
    for (int64_t i = 0; i < net->n_meta; i++)
        if (strcmp(net->meta[i].key, key) == 0) {
            lrc_free(&net->meta[i].value);
            net->meta[i].value = v;
            return LRC_OK;
        }
    lrc_status st = lrc_model_grow(&net->meta, &net->cap_meta, net->n_meta + 1,
                                   sizeof *net->meta, "metadata");
    if (st == LRC_OK)
        st = lrc_strdup(&net->meta[net->n_meta].key, key);
    if (st != LRC_OK) {
        lrc_free(&v);
        return st;
    }
    net->meta[net->n_meta++].value = v;
    return LRC_OK;
}

static void fmt_shape(char *buf, size_t len, const int64_t s[3], int flat)
{
    if (flat)
        snprintf(buf, len, "%" PRId64, s[0]);
    else
        snprintf(buf, len, "%" PRId64 "x%" PRId64 "x%" PRId64, s[0], s[1], s[2]);
}

void lrc_net_print(const lrc_net *net, FILE *out)
{
    char in[48], o[48], geo[48];
    int64_t tot_params = 0, tot_macs = 0, conv_macs = 0;
    fprintf(out, "model: %s\n", net->source);
    fprintf(out, "input: %s  %" PRId64 "x%" PRId64 "x%" PRId64
            " (c x h x w, batch dynamic)\n", net->input_name, net->input[0],
            net->input[1], net->input[2]);
    fprintf(out, "%-4s %-20s %-18s %-12s %-14s %-14s %12s %14s\n", "#", "name",
            "op", "kernel", "input", "output", "params", "MACs/image");
    for (int64_t i = 0; i < net->n_layers; i++) {
        const lrc_layer *l = &net->layers[i];
        fmt_shape(in, sizeof in, l->in_shape, l->in_flat);
        fmt_shape(o, sizeof o, l->out_shape, l->out_flat);
        geo[0] = '\0';
        if (l->op == LRC_OP_CONV || l->op == LRC_OP_MAXPOOL ||
            l->op == LRC_OP_AVGPOOL)
            snprintf(geo, sizeof geo, "%" PRId64 "x%" PRId64 "/%" PRId64
                     " p%" PRId64, l->kh, l->kw, l->sh, l->pt);
        int64_t p = lrc_layer_params(l), m = lrc_layer_macs(l);
        tot_params += p;
        tot_macs += m;
        if (l->op == LRC_OP_CONV)
            conv_macs += m;
        fprintf(out, "%-4" PRId64 " %-20s %-18s %-12s %-14s %-14s %12" PRId64
                " %14" PRId64 "\n", i, l->name, lrc_op_name(l->op), geo, in, o,
                p, m);
    }
    fprintf(out, "total: %" PRId64 " layers, %" PRId64 " parameters, %" PRId64
            " MACs/image (%" PRId64 " in conv layers)\n", net->n_layers,
            tot_params, tot_macs, conv_macs);
    for (int64_t i = 0; i < net->n_meta; i++)
        fprintf(out, "metadata: %s = %s\n", net->meta[i].key, net->meta[i].value);
}

lrc_status lrc_net_clone(const lrc_net *net, lrc_net **out)
{
    lrc_status st = LRC_OK;
    lrc_net *c = NULL;
    *out = NULL;
    LRC_TRY(lrc_net_create(&c));
    lrc_free(&c->source);
    lrc_free(&c->input_name);
    lrc_free(&c->output_name);
    LRC_TRY(lrc_strdup(&c->source, net->source));
    LRC_TRY(lrc_strdup(&c->input_name, net->input_name));
    LRC_TRY(lrc_strdup(&c->output_name, net->output_name));
    for (int64_t i = 0; i < net->n_layers; i++)
        LRC_TRY(lrc_net_append(c, &net->layers[i]));
    for (int64_t i = 0; i < net->n_meta; i++)
        LRC_TRY(lrc_net_set_meta(c, net->meta[i].key, net->meta[i].value));
    memcpy(c->declared, net->declared, sizeof c->declared);
    memcpy(c->input, net->input, sizeof c->input);
    c->shaped = net->shaped;
    *out = c;
    return LRC_OK;
cleanup:
    lrc_net_destroy(&c);
    return st;
}

lrc_status lrc_net_replace(lrc_net *net, int64_t i, const lrc_layer *with,
                           int64_t count)
{
    lrc_status st = LRC_OK;
    lrc_net *tmp = NULL;
    lrc_layer *arr = NULL;
    if (i < 0 || i >= net->n_layers || count < 1)
        LRC_RAISE(LRC_ERR_INTERNAL, "%s: cannot replace layer %" PRId64
                  " by %" PRId64 " layers", net->source, i, count);
    /* Copy the new layers into a scratch net first, so that a failure leaves
     * `net` untouched; the other layers are moved, not copied (a VGG-16
     * holds 0.5 GB of weights, and `compress` replaces layer after layer).
     * The replaced layer's name is free for the new ones. */
    LRC_TRY(lrc_net_create(&tmp));
    for (int64_t k = 0; k < count; k++) {
        const int64_t at = with[k].name ? lrc_net_find(net, with[k].name) : -1;
        if (at >= 0 && at != i)
            LRC_FAIL(LRC_ERR_FORMAT, "%s: two layers are named '%s'",
                     net->source, with[k].name);
        LRC_TRY(lrc_net_append(tmp, &with[k]));
    }
    const int64_t n = net->n_layers - 1 + count;
    LRC_TRY(lrc_calloc(&arr, (size_t)n, sizeof *arr, "layer list"));
    for (int64_t j = 0; j < i; j++)
        arr[j] = net->layers[j];
    for (int64_t k = 0; k < count; k++)
        arr[i + k] = tmp->layers[k];
    for (int64_t j = i + 1; j < net->n_layers; j++)
        arr[j - 1 + count] = net->layers[j];
    tmp->n_layers = 0; /* its layers now belong to arr */
    layer_clear(&net->layers[i]);
    lrc_free(&net->layers);
    net->layers = arr;
    net->n_layers = n;
    net->cap_layers = n;
    arr = NULL;
    if (net->shaped)
        LRC_TRY(lrc_net_set_input(net, net->input[0], net->input[1],
                                  net->input[2]));
cleanup:
    lrc_free(&arr);
    lrc_net_destroy(&tmp);
    return st;
}
