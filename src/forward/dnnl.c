/* The oneDNN backend of the forward plan (built with cmake -DLRC_WITH_DNNL=ON,
 * Debian's libdnnl-dev): a run of convs, ReLUs and poolings becomes one
 * segment of oneDNN primitives whose activations stay in oneDNN's blocked
 * layouts (nChw16c and the like) from its first layer to its last, with
 * one reorder from NCHW at its entry and one back at its exit. Each conv
 * uses oneDNN's Winograd algorithm where oneDNN implements it for the shape
 * and CPU (3 x 3, stride 1, AVX-512: 2-5x the direct algorithm on VGG-16's
 * layers, bench/bench_conv), its direct algorithm otherwise, and takes a
 * following ReLU as a post-op. Winograd sums in another order than a direct
 * convolution: outputs agree with the OpenBLAS backend to about 1e-5 of
 * their magnitude, not bitwise.
 *
 * oneDNN's primitives are built for one batch size; a segment rebuilds them
 * when a batch of another size comes (the last, short batch of an
 * evaluation), and weights are reordered into oneDNN's layout then. Debian's
 * oneDNN runs on OpenMP: a segment runs on as many threads as OpenBLAS
 * (openblas_get_num_threads), so that `mpirun` jobs keep one thread per
 * rank as they do with OpenBLAS. */
#include <cblas.h>
#include <dnnl.h>
#include <dnnl_debug.h>
#include <inttypes.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "forward/forward_impl.h"

/* Where an operation's source or destination lives. */
enum { AT_BUF0, AT_BUF1, AT_IN, AT_OUT };

typedef enum { OP_REORDER, OP_CONV, OP_POOL, OP_ELTWISE } op_kind;

typedef struct dn_op {
    op_kind kind;
    int64_t layer;          /* net index, for messages */
    dnnl_primitive_t prim;
    dnnl_memory_t src, dst; /* handles set at each run */
    dnnl_memory_t w, b;     /* conv: weights in oneDNN's layout (owned), bias
                               on the layer's array */
    int src_at, dst_at;
} dn_op;

struct lrc_dnnl_seg {
    const lrc_net *net;
    int64_t first, last;
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    int64_t n;          /* batch the primitives are built for; 0: none */
    dn_op *ops;
    int nops, cap;
    void *buf[2];       /* ping-pong activations in blocked layouts */
    size_t buf_bytes[2];
    char impl[256];     /* the conv implementations, for lrc_dnnl_seg_info */
};

#define DN_TRY(expr, code, ...)                                              \
    do {                                                                     \
        dnnl_status_t dn_s_ = (expr);                                        \
        if (dn_s_ != dnnl_success) {                                         \
            char dn_m_[256];                                                 \
            snprintf(dn_m_, sizeof dn_m_, __VA_ARGS__);                      \
            LRC_FAIL(code, "oneDNN: %s: %s (%s)", dn_m_, #expr,              \
                     dnnl_status2str(dn_s_));                                \
        }                                                                    \
    } while (0)

/* The right and bottom pads oneDNN needs for a pooling to give our output
 * size: the declared ones where its floor formula gives it, else (ceil
 * mode) the larger ones that do. */
static void pool_pads(const lrc_layer *l, int64_t *pb, int64_t *pr)
{
    const int64_t ih = l->in_shape[1], iw = l->in_shape[2];
    const int64_t oh = l->out_shape[1], ow = l->out_shape[2];
    *pb = (ih + l->pt + l->pb - l->kh) / l->sh + 1 == oh
              ? l->pb
              : (oh - 1) * l->sh + l->kh - ih - l->pt;
    *pr = (iw + l->pl + l->pr - l->kw) / l->sw + 1 == ow
              ? l->pr
              : (ow - 1) * l->sw + l->kw - iw - l->pl;
}

int lrc_dnnl_runs(const lrc_layer *l)
{
    switch (l->op) {
    case LRC_OP_CONV:
    case LRC_OP_RELU:
        return 1;
    case LRC_OP_MAXPOOL:
    case LRC_OP_AVGPOOL: {
        int64_t pb, pr;
        pool_pads(l, &pb, &pr);
        if (pb < 0 || pr < 0 || l->pt >= l->kh || l->pl >= l->kw ||
            pb >= l->kh || pr >= l->kw)
            return 0;
        /* average with pads in the divisor: oneDNN counts the whole
         * window, ours the part inside the declared pads */
        if (l->op == LRC_OP_AVGPOOL && l->count_include_pad &&
            (pb > l->pb || pr > l->pr))
            return 0;
        return 1;
    }
    default:
        return 0;
    }
}

static void ops_clear(lrc_dnnl_seg *s)
{
    for (int i = 0; i < s->nops; i++) {
        dn_op *o = &s->ops[i];
        if (o->prim)
            dnnl_primitive_destroy(o->prim);
        if (o->src)
            dnnl_memory_destroy(o->src);
        if (o->dst)
            dnnl_memory_destroy(o->dst);
        if (o->w)
            dnnl_memory_destroy(o->w);
        if (o->b)
            dnnl_memory_destroy(o->b);
    }
    if (s->ops)
        memset(s->ops, 0, (size_t)s->cap * sizeof *s->ops);
    s->nops = 0;
    s->n = 0;
    s->impl[0] = '\0';
}

void lrc_dnnl_seg_destroy(lrc_dnnl_seg **seg)
{
    if (!seg || !*seg)
        return;
    lrc_dnnl_seg *s = *seg;
    if (s->ops)
        ops_clear(s);
    lrc_free(&s->ops);
    free(s->buf[0]);
    free(s->buf[1]);
    if (s->strm)
        dnnl_stream_destroy(s->strm);
    if (s->eng)
        dnnl_engine_destroy(s->eng);
    lrc_free(seg);
}

/* The next free op, its memories made for `src_md` at `src_at` and
 * `dst_md` at the other buffer (or at `dst_at` if >= 0); grows the buffer
 * that receives dst. */
static lrc_status add_op(lrc_dnnl_seg *s, op_kind kind, int64_t layer,
                         const dnnl_memory_desc_t *src_md, int src_at,
                         const dnnl_memory_desc_t *dst_md, int dst_at,
                         dn_op **out)
{
    lrc_status st = LRC_OK;
    if (s->nops == s->cap) {
        dn_op *grown = NULL;
        const int cap = s->cap ? 2 * s->cap : 16;
        LRC_TRY(lrc_calloc(&grown, (size_t)cap, sizeof *grown,
                           "oneDNN operations"));
        if (s->nops)
            memcpy(grown, s->ops, (size_t)s->nops * sizeof *grown);
        lrc_free(&s->ops);
        s->ops = grown;
        s->cap = cap;
    }
    dn_op *o = &s->ops[s->nops++];
    o->kind = kind;
    o->layer = layer;
    o->src_at = src_at;
    o->dst_at = dst_at >= 0 ? dst_at : (src_at == AT_BUF0 ? AT_BUF1 : AT_BUF0);
    DN_TRY(dnnl_memory_create(&o->src, src_md, s->eng, DNNL_MEMORY_NONE),
           LRC_ERR_NOMEM, "layer '%s'", lrc_net_layer(s->net, layer)->name);
    DN_TRY(dnnl_memory_create(&o->dst, dst_md, s->eng, DNNL_MEMORY_NONE),
           LRC_ERR_NOMEM, "layer '%s'", lrc_net_layer(s->net, layer)->name);
    if (o->dst_at == AT_BUF0 || o->dst_at == AT_BUF1) {
        const size_t need = dnnl_memory_desc_get_size(dst_md);
        if (need > s->buf_bytes[o->dst_at]) {
            /* 64-byte aligned for oneDNN's vector loads */
            const size_t bytes = (need + 63) / 64 * 64;
            void *p = aligned_alloc(64, bytes);
            if (!p)
                LRC_FAIL(LRC_ERR_NOMEM, "oneDNN activations of layer '%s': "
                         "%zu bytes", lrc_net_layer(s->net, layer)->name,
                         bytes);
            free(s->buf[o->dst_at]);
            s->buf[o->dst_at] = p;
            s->buf_bytes[o->dst_at] = bytes;
        }
    }
    *out = o;
cleanup:
    return st;
}

static lrc_status add_reorder(lrc_dnnl_seg *s, int64_t layer,
                              const dnnl_memory_desc_t *from, int from_at,
                              const dnnl_memory_desc_t *to, int to_at)
{
    lrc_status st = LRC_OK;
    dnnl_primitive_desc_t pd = NULL;
    dn_op *o = NULL;
    const char *name = lrc_net_layer(s->net, layer)->name;
    LRC_TRY(add_op(s, OP_REORDER, layer, from, from_at, to, to_at, &o));
    DN_TRY(dnnl_reorder_primitive_desc_create(&pd, from, s->eng, to, s->eng,
                                              NULL),
           LRC_ERR_UNSUPPORTED, "reorder at layer '%s'", name);
    DN_TRY(dnnl_primitive_create(&o->prim, pd), LRC_ERR_UNSUPPORTED,
           "reorder at layer '%s'", name);
cleanup:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return st;
}

/* Copies a user array into `dst` (a memory of oneDNN's layout) through a
 * reorder from `user_md`. */
static lrc_status reorder_now(lrc_dnnl_seg *s, const char *name,
                              const dnnl_memory_desc_t *user_md, void *user,
                              dnnl_memory_t dst)
{
    lrc_status st = LRC_OK;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t um = NULL;
    const dnnl_memory_desc_t *dst_md = NULL;
    DN_TRY(dnnl_memory_get_memory_desc(dst, &dst_md), LRC_ERR_INTERNAL,
           "weights of layer '%s'", name);
    DN_TRY(dnnl_memory_create(&um, user_md, s->eng, user), LRC_ERR_NOMEM,
           "weights of layer '%s'", name);
    DN_TRY(dnnl_reorder_primitive_desc_create(&pd, user_md, s->eng, dst_md,
                                              s->eng, NULL),
           LRC_ERR_UNSUPPORTED, "weights of layer '%s'", name);
    DN_TRY(dnnl_primitive_create(&prim, pd), LRC_ERR_UNSUPPORTED,
           "weights of layer '%s'", name);
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, um}, {DNNL_ARG_TO, dst}};
    DN_TRY(dnnl_primitive_execute(prim, s->strm, 2, args), LRC_ERR_INTERNAL,
           "weights of layer '%s'", name);
    DN_TRY(dnnl_stream_wait(s->strm), LRC_ERR_INTERNAL,
           "weights of layer '%s'", name);
cleanup:
    if (prim)
        dnnl_primitive_destroy(prim);
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (um)
        dnnl_memory_destroy(um);
    return st;
}

/* A conv (and the ReLU after it when relu != 0) on the activations `cur`
 * at *at; updates both to the conv's output. */
static lrc_status add_conv(lrc_dnnl_seg *s, int64_t i, int relu,
                           dnnl_memory_desc_t *cur, int *at)
{
    lrc_status st = LRC_OK;
    const lrc_layer *l = lrc_net_layer(s->net, i);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_convolution_desc_t cd;
    dnnl_memory_desc_t s_any, w_any, d_any, b_md, w_user;
    const int64_t n = s->n;
    const dnnl_dims_t sd = {n, l->in_c, l->in_shape[1], l->in_shape[2]};
    const dnnl_dims_t wd = {l->out_c, l->in_c, l->kh, l->kw};
    const dnnl_dims_t bd = {l->out_c};
    const dnnl_dims_t dd = {n, l->out_c, l->out_shape[1], l->out_shape[2]};
    const dnnl_dims_t strides = {l->sh, l->sw}, pl = {l->pt, l->pl},
                      pr = {l->pb, l->pr};
    DN_TRY(dnnl_memory_desc_init_by_tag(&s_any, 4, sd, dnnl_f32,
                                        dnnl_format_tag_any),
           LRC_ERR_UNSUPPORTED, "layer '%s'", l->name);
    DN_TRY(dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32,
                                        dnnl_format_tag_any),
           LRC_ERR_UNSUPPORTED, "layer '%s'", l->name);
    DN_TRY(dnnl_memory_desc_init_by_tag(&d_any, 4, dd, dnnl_f32,
                                        dnnl_format_tag_any),
           LRC_ERR_UNSUPPORTED, "layer '%s'", l->name);
    DN_TRY(dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x),
           LRC_ERR_UNSUPPORTED, "layer '%s'", l->name);
    DN_TRY(dnnl_memory_desc_init_by_tag(&w_user, 4, wd, dnnl_f32, dnnl_oihw),
           LRC_ERR_UNSUPPORTED, "layer '%s'", l->name);
    DN_TRY(dnnl_primitive_attr_create(&attr), LRC_ERR_NOMEM, "layer '%s'",
           l->name);
    if (relu) {
        DN_TRY(dnnl_post_ops_create(&po), LRC_ERR_NOMEM, "layer '%s'", l->name);
        DN_TRY(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f,
                                            0.0f),
               LRC_ERR_UNSUPPORTED, "ReLU after layer '%s'", l->name);
        DN_TRY(dnnl_primitive_attr_set_post_ops(attr, po), LRC_ERR_UNSUPPORTED,
               "ReLU after layer '%s'", l->name);
    }
    /* Winograd where oneDNN has it for this shape and CPU, else its own
     * choice (direct, or its GEMM-based convs) */
    const dnnl_alg_kind_t algs[2] = {dnnl_convolution_winograd,
                                     dnnl_convolution_direct};
    for (int a = 0; a < 2 && !pd; a++) {
        if (dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference,
                                               algs[a], &s_any, &w_any, &b_md,
                                               &d_any, strides, pl,
                                               pr) != dnnl_success)
            continue;
        if (dnnl_primitive_desc_create(&pd, &cd, attr, s->eng, NULL) !=
            dnnl_success)
            pd = NULL;
    }
    if (!pd)
        LRC_FAIL(LRC_ERR_UNSUPPORTED, "oneDNN has no convolution for layer "
                 "'%s' (%" PRId64 " -> %" PRId64 " channels, %" PRId64 "x%"
                 PRId64 ", stride %" PRId64 "x%" PRId64 "): use the OpenBLAS "
                 "backend", l->name, l->in_c, l->out_c, l->kh, l->kw, l->sh,
                 l->sw);
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) ==
            dnnl_success && impl) {
        const size_t used = strlen(s->impl);
        snprintf(s->impl + used, sizeof s->impl - used, "%s%s", used ? " " : "",
                 impl);
    }
    const dnnl_memory_desc_t *s_md =
        dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *w_md =
        dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *d_md =
        dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    if (!dnnl_memory_desc_equal(s_md, cur)) {
        LRC_TRY(add_reorder(s, i, cur, *at, s_md, -1));
        *cur = *s_md;
        *at = s->ops[s->nops - 1].dst_at;
    }
    dn_op *o = NULL;
    LRC_TRY(add_op(s, OP_CONV, i, cur, *at, d_md, -1, &o));
    DN_TRY(dnnl_primitive_create(&o->prim, pd), LRC_ERR_UNSUPPORTED,
           "layer '%s'", l->name);
    DN_TRY(dnnl_memory_create(&o->w, w_md, s->eng, DNNL_MEMORY_ALLOCATE),
           LRC_ERR_NOMEM, "weights of layer '%s'", l->name);
    LRC_TRY(reorder_now(s, l->name, &w_user, l->weight, o->w));
    DN_TRY(dnnl_memory_create(&o->b, &b_md, s->eng, l->bias), LRC_ERR_NOMEM,
           "bias of layer '%s'", l->name);
    *cur = *d_md;
    *at = o->dst_at;
cleanup:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (po)
        dnnl_post_ops_destroy(po);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return st;
}

/* A pooling or eltwise primitive from its op descriptor, on `cur` at *at;
 * updates both to its output. */
static lrc_status add_from_desc(lrc_dnnl_seg *s, int64_t i, op_kind kind,
                                const_dnnl_op_desc_t desc,
                                dnnl_memory_desc_t *cur, int *at)
{
    lrc_status st = LRC_OK;
    const char *name = lrc_net_layer(s->net, i)->name;
    dnnl_primitive_desc_t pd = NULL;
    DN_TRY(dnnl_primitive_desc_create(&pd, desc, NULL, s->eng, NULL),
           LRC_ERR_UNSUPPORTED, "layer '%s'", name);
    const dnnl_memory_desc_t *d_md =
        dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    dn_op *o = NULL;
    LRC_TRY(add_op(s, kind, i, cur, *at, d_md, -1, &o));
    DN_TRY(dnnl_primitive_create(&o->prim, pd), LRC_ERR_UNSUPPORTED,
           "layer '%s'", name);
    *cur = *d_md;
    *at = o->dst_at;
cleanup:
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    return st;
}

static lrc_status add_pool(lrc_dnnl_seg *s, int64_t i, dnnl_memory_desc_t *cur,
                           int *at)
{
    lrc_status st = LRC_OK;
    const lrc_layer *l = lrc_net_layer(s->net, i);
    dnnl_pooling_desc_t pool;
    dnnl_memory_desc_t d_any;
    const dnnl_dims_t dd = {s->n, l->out_shape[0], l->out_shape[1],
                            l->out_shape[2]};
    int64_t pad_b, pad_r;
    pool_pads(l, &pad_b, &pad_r);
    const dnnl_dims_t strides = {l->sh, l->sw}, kernel = {l->kh, l->kw},
                      pl = {l->pt, l->pl}, pr = {pad_b, pad_r};
    const dnnl_alg_kind_t alg =
        l->op == LRC_OP_MAXPOOL ? dnnl_pooling_max
        : l->count_include_pad  ? dnnl_pooling_avg_include_padding
                                : dnnl_pooling_avg_exclude_padding;
    DN_TRY(dnnl_memory_desc_init_by_tag(&d_any, 4, dd, dnnl_f32,
                                        dnnl_format_tag_any),
           LRC_ERR_UNSUPPORTED, "layer '%s'", l->name);
    DN_TRY(dnnl_pooling_forward_desc_init(&pool, dnnl_forward_inference, alg,
                                          cur, &d_any, strides, kernel, pl, pr),
           LRC_ERR_UNSUPPORTED, "layer '%s'", l->name);
    LRC_TRY(add_from_desc(s, i, OP_POOL, &pool, cur, at));
cleanup:
    return st;
}

static lrc_status add_relu(lrc_dnnl_seg *s, int64_t i, dnnl_memory_desc_t *cur,
                           int *at)
{
    lrc_status st = LRC_OK;
    dnnl_eltwise_desc_t ed;
    DN_TRY(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference,
                                          dnnl_eltwise_relu, cur, 0.0f, 0.0f),
           LRC_ERR_UNSUPPORTED, "layer '%s'", lrc_net_layer(s->net, i)->name);
    LRC_TRY(add_from_desc(s, i, OP_ELTWISE, &ed, cur, at));
cleanup:
    return st;
}

/* (Re)builds the segment's primitives for batches of n images. */
static lrc_status build(lrc_dnnl_seg *s, int64_t n)
{
    lrc_status st = LRC_OK;
    ops_clear(s);
    s->n = n;
    const lrc_layer *l0 = lrc_net_layer(s->net, s->first);
    const lrc_layer *ll = lrc_net_layer(s->net, s->last - 1);
    const dnnl_dims_t in_d = {n, l0->in_shape[0], l0->in_shape[1],
                              l0->in_shape[2]};
    const dnnl_dims_t out_d = {n, ll->out_shape[0], ll->out_shape[1],
                               ll->out_shape[2]};
    dnnl_memory_desc_t cur, out_md;
    DN_TRY(dnnl_memory_desc_init_by_tag(&cur, 4, in_d, dnnl_f32, dnnl_nchw),
           LRC_ERR_UNSUPPORTED, "input of layer '%s'", l0->name);
    DN_TRY(dnnl_memory_desc_init_by_tag(&out_md, 4, out_d, dnnl_f32, dnnl_nchw),
           LRC_ERR_UNSUPPORTED, "output of layer '%s'", ll->name);
    int at = AT_IN;
    for (int64_t i = s->first; i < s->last; i++) {
        const lrc_layer *l = lrc_net_layer(s->net, i);
        switch (l->op) {
        case LRC_OP_CONV: {
            const int relu = i + 1 < s->last &&
                             lrc_layer_fuses_relu(l, lrc_net_layer(s->net, i + 1));
            LRC_TRY(add_conv(s, i, relu, &cur, &at));
            i += relu;
            break;
        }
        case LRC_OP_MAXPOOL:
        case LRC_OP_AVGPOOL:
            LRC_TRY(add_pool(s, i, &cur, &at));
            break;
        case LRC_OP_RELU:
            LRC_TRY(add_relu(s, i, &cur, &at));
            break;
        default:
            LRC_FAIL(LRC_ERR_INTERNAL, "layer '%s' in a oneDNN segment",
                     l->name);
        }
    }
    LRC_TRY(add_reorder(s, s->last - 1, &cur, at, &out_md, AT_OUT));
cleanup:
    if (st != LRC_OK)
        ops_clear(s);
    return st;
}

lrc_status lrc_dnnl_seg_create(const lrc_net *net, int64_t first, int64_t last,
                               int64_t batch, lrc_dnnl_seg **out)
{
    lrc_status st = LRC_OK;
    lrc_dnnl_seg *s = NULL;
    *out = NULL;
    LRC_TRY(lrc_calloc(&s, 1, sizeof *s, "oneDNN segment"));
    s->net = net;
    s->first = first;
    s->last = last;
    for (int64_t i = first; i < last; i++)
        if (!lrc_dnnl_runs(lrc_net_layer(net, i)))
            LRC_FAIL(LRC_ERR_INTERNAL, "layer '%s' cannot run on oneDNN",
                     lrc_net_layer(net, i)->name);
    DN_TRY(dnnl_engine_create(&s->eng, dnnl_cpu, 0), LRC_ERR_UNSUPPORTED,
           "CPU engine");
    DN_TRY(dnnl_stream_create(&s->strm, s->eng, dnnl_stream_default_flags),
           LRC_ERR_UNSUPPORTED, "CPU stream");
    /* built now for full batches, so that errors come at plan creation */
    omp_set_num_threads(openblas_get_num_threads());
    LRC_TRY(build(s, batch));
    *out = s;
    return LRC_OK;
cleanup:
    lrc_dnnl_seg_destroy(&s);
    return st;
}

static void *at_ptr(lrc_dnnl_seg *s, int at, const float *in, float *out)
{
    switch (at) {
    case AT_BUF0:
    case AT_BUF1:
        return s->buf[at];
    case AT_IN:
        return (void *)in;
    default:
        return out;
    }
}

lrc_status lrc_dnnl_seg_run(lrc_dnnl_seg *s, const float *in, int64_t n,
                            float *out)
{
    lrc_status st = LRC_OK;
    omp_set_num_threads(openblas_get_num_threads());
    if (n != s->n)
        LRC_TRY(build(s, n));
    for (int k = 0; k < s->nops; k++) {
        dn_op *o = &s->ops[k];
        const char *name = lrc_net_layer(s->net, o->layer)->name;
        DN_TRY(dnnl_memory_set_data_handle(o->src, at_ptr(s, o->src_at, in, out)),
               LRC_ERR_INTERNAL, "layer '%s'", name);
        DN_TRY(dnnl_memory_set_data_handle(o->dst, at_ptr(s, o->dst_at, in, out)),
               LRC_ERR_INTERNAL, "layer '%s'", name);
        dnnl_exec_arg_t args[4];
        int na = 0;
        if (o->kind == OP_REORDER) {
            args[na++] = (dnnl_exec_arg_t){DNNL_ARG_FROM, o->src};
            args[na++] = (dnnl_exec_arg_t){DNNL_ARG_TO, o->dst};
        } else {
            args[na++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, o->src};
            args[na++] = (dnnl_exec_arg_t){DNNL_ARG_DST, o->dst};
            if (o->kind == OP_CONV) {
                args[na++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, o->w};
                args[na++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, o->b};
            }
        }
        DN_TRY(dnnl_primitive_execute(o->prim, s->strm, na, args),
               LRC_ERR_INTERNAL, "layer '%s'", name);
    }
    DN_TRY(dnnl_stream_wait(s->strm), LRC_ERR_INTERNAL, "layers '%s' to '%s'",
           lrc_net_layer(s->net, s->first)->name,
           lrc_net_layer(s->net, s->last - 1)->name);
cleanup:
    return st;
}

size_t lrc_dnnl_seg_bytes(const lrc_dnnl_seg *s)
{
    size_t b = s->buf_bytes[0] + s->buf_bytes[1];
    for (int k = 0; k < s->nops; k++)
        if (s->ops[k].w) {
            const dnnl_memory_desc_t *md = NULL;
            if (dnnl_memory_get_memory_desc(s->ops[k].w, &md) == dnnl_success)
                b += dnnl_memory_desc_get_size(md);
        }
    return b;
}

const char *lrc_dnnl_seg_impl(const lrc_dnnl_seg *s) { return s->impl; }
