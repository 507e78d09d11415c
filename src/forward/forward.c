/* Layer dispatch and the batched forward plan. */
#include <inttypes.h>
#include <string.h>

#include "forward/forward_impl.h"

static int64_t shape_size(const int64_t s[3]) { return s[0] * s[1] * s[2]; }

size_t lrc_layer_workspace(const lrc_layer *l)
{
    if (l->op != LRC_OP_CONV)
        return 0;
    return lrc_fw_conv_layer_workspace(l);
}

lrc_status lrc_layer_forward(const lrc_layer *l, const float *in, int64_t n,
                             float *out, float *work)
{
    const size_t in_count = (size_t)(n * shape_size(l->in_shape));
    switch (l->op) {
    case LRC_OP_CONV:
        return lrc_fw_conv(l, in, n, out, work, 0);
    case LRC_OP_RELU:
        lrc_fw_relu(in, in_count, out);
        return LRC_OK;
    case LRC_OP_MAXPOOL:
        lrc_fw_maxpool(l, in, n, out);
        return LRC_OK;
    case LRC_OP_AVGPOOL:
        lrc_fw_avgpool(l, in, n, out);
        return LRC_OK;
    case LRC_OP_GLOBALAVGPOOL:
        lrc_fw_globalavgpool(l, in, n, out);
        return LRC_OK;
    case LRC_OP_FLATTEN:
        memcpy(out, in, in_count * sizeof(float));
        return LRC_OK;
    case LRC_OP_DENSE:
        lrc_fw_dense(l, NULL, in, n, out);
        return LRC_OK;
    case LRC_OP_SOFTMAX:
        lrc_fw_softmax(in, n, shape_size(l->in_shape), out);
        return LRC_OK;
    }
    LRC_RAISE(LRC_ERR_INTERNAL, "layer '%s': unknown op %d", l->name, (int)l->op);
}

int lrc_layer_fuses_relu(const lrc_layer *l, const lrc_layer *next)
{
    return l && next && l->op == LRC_OP_CONV && next->op == LRC_OP_RELU;
}

lrc_status lrc_conv_relu_forward(const lrc_layer *conv, const float *in,
                                 int64_t n, float *out, float *work)
{
    if (conv->op != LRC_OP_CONV)
        LRC_RAISE(LRC_ERR_INTERNAL, "layer '%s' is not a conv", conv->name);
    return lrc_fw_conv(conv, in, n, out, work, 1);
}

lrc_status lrc_backend_parse(const char *name, lrc_backend *b)
{
    if (name && strcmp(name, "openblas") == 0) {
        *b = LRC_BACKEND_OPENBLAS;
        return LRC_OK;
    }
    if (name && strcmp(name, "onednn") == 0) {
        *b = LRC_BACKEND_ONEDNN;
        return LRC_OK;
    }
    if (name && strcmp(name, "winograd") == 0) {
        *b = LRC_BACKEND_WINOGRAD;
        return LRC_OK;
    }
    LRC_RAISE(LRC_ERR_ARG, "unknown backend '%s' (openblas, winograd or "
              "onednn)",
              name ? name : "(null)");
}

const char *lrc_backend_name(lrc_backend b)
{
    switch (b) {
    case LRC_BACKEND_ONEDNN:
        return "onednn";
    case LRC_BACKEND_WINOGRAD:
        return "winograd";
    case LRC_BACKEND_OPENBLAS:
        break;
    }
    return "openblas";
}

int lrc_backend_available(lrc_backend b)
{
#ifdef LRC_HAVE_DNNL
    return b == LRC_BACKEND_OPENBLAS || b == LRC_BACKEND_WINOGRAD ||
           b == LRC_BACKEND_ONEDNN;
#else
    return b == LRC_BACKEND_OPENBLAS || b == LRC_BACKEND_WINOGRAD;
#endif
}

/* A chain step: conv a (the step's first layer), then optionally the
 * 1 x 1 conv b (a low-rank pair), a ReLU, a 2 x 2 max pooling. */
typedef struct {
    int len;           /* layers in the step, 0: no chain */
    int pair, relu;    /* whether b, the ReLU follow */
    const lrc_layer *pool;
} fw_chain;

struct lrc_forward {
    const lrc_net *net;
    int64_t first, last, batch;
    lrc_backend backend;
    float *buf[2];  /* ping-pong activations, batch x largest activation */
    int64_t slot;   /* the largest activation of one image, in floats */
    float *work;    /* conv scratch (im2col, or the direct kernel's) */
    size_t act_len, work_len;
    /* winograd backend: wino[i - first], layer i's transformed weights
     * where it runs Winograd, else NULL */
    float **wino;
    size_t wino_len;
    /* packed[i - first]: layer i's weights laid out for the direct or
     * row kernel where it runs on one (conv_direct.c, conv_rows.c), or a
     * dense layer's W^T (dense.c), else NULL: once here rather than on
     * every call; algo[i - first] that kernel (convs only) */
    float **packed;
    lrc_conv_algo *algo;
    size_t packed_len;
    /* chain[i - first]: the layers that the step from layer i runs as one
     * chain (lrc_fw_conv_direct_chain), 0 where no chain starts */
    fw_chain *chain;
#ifdef LRC_HAVE_DNNL
    /* oneDNN: seg[i - first] runs layers [i, seg_end[i - first]) when set */
    lrc_dnnl_seg **seg;
    int64_t *seg_end;
    char impl[512];
#endif
};

void lrc_forward_destroy(lrc_forward **fw)
{
    if (!fw || !*fw)
        return;
#ifdef LRC_HAVE_DNNL
    if ((*fw)->seg)
        for (int64_t i = 0; i < (*fw)->last - (*fw)->first; i++)
            lrc_dnnl_seg_destroy(&(*fw)->seg[i]);
    lrc_free(&(*fw)->seg);
    lrc_free(&(*fw)->seg_end);
#endif
    if ((*fw)->wino)
        for (int64_t i = 0; i < (*fw)->last - (*fw)->first; i++)
            lrc_free(&(*fw)->wino[i]);
    lrc_free(&(*fw)->wino);
    if ((*fw)->packed)
        for (int64_t i = 0; i < (*fw)->last - (*fw)->first; i++)
            lrc_free(&(*fw)->packed[i]);
    lrc_free(&(*fw)->packed);
    lrc_free(&(*fw)->algo);
    lrc_free(&(*fw)->chain);
    lrc_free(&(*fw)->buf[0]);
    lrc_free(&(*fw)->buf[1]);
    lrc_free(&(*fw)->work);
    lrc_free(fw);
}

#ifdef LRC_HAVE_DNNL
/* Cuts [first, last) into oneDNN segments: each starts at a conv and runs
 * over the convs, ReLUs and poolings after it; seg_end[i - first] is the
 * end of the segment that starts at layer i, 0 elsewhere. */
static lrc_status find_segments(lrc_forward *fw)
{
    lrc_status st = LRC_OK;
    const int64_t nl = fw->last - fw->first;
    LRC_TRY(lrc_calloc(&fw->seg, (size_t)nl, sizeof *fw->seg, "oneDNN plan"));
    LRC_TRY(lrc_calloc(&fw->seg_end, (size_t)nl, sizeof *fw->seg_end,
                       "oneDNN plan"));
    for (int64_t i = fw->first; i < fw->last; i++) {
        if (lrc_net_layer(fw->net, i)->op != LRC_OP_CONV)
            continue;
        int64_t e = i + 1;
        while (e < fw->last && lrc_dnnl_runs(lrc_net_layer(fw->net, e)))
            e++;
        fw->seg_end[i - fw->first] = e;
        i = e - 1;
    }
cleanup:
    return st;
}

/* Builds the oneDNN primitives of the segments find_segments chose. */
static lrc_status create_segments(lrc_forward *fw)
{
    for (int64_t i = fw->first; i < fw->last; i++) {
        const int64_t e = fw->seg_end[i - fw->first];
        if (e == 0)
            continue;
        LRC_CALL(lrc_dnnl_seg_create(fw->net, i, e, fw->batch,
                                     &fw->seg[i - fw->first]));
        const size_t used = strlen(fw->impl);
        snprintf(fw->impl + used, sizeof fw->impl - used, "%s%s",
                 used ? " " : "", lrc_dnnl_seg_impl(fw->seg[i - fw->first]));
        i = e - 1;
    }
    return LRC_OK;
}
#endif

/* The end of the step of the plan that starts at layer i: the end of the
 * oneDNN segment that starts there, else i + 1. */
static int64_t step_end(const lrc_forward *fw, int64_t i)
{
#ifdef LRC_HAVE_DNNL
    if (fw->seg_end && fw->seg_end[i - fw->first] > 0)
        return fw->seg_end[i - fw->first];
#endif
    return i + 1;
}

lrc_status lrc_forward_create(const lrc_net *net, int64_t first, int64_t last,
                              int64_t batch, lrc_forward **out)
{
    return lrc_forward_create_with(net, first, last, batch,
                                   LRC_BACKEND_OPENBLAS, out);
}

lrc_status lrc_forward_create_with(const lrc_net *net, int64_t first,
                                   int64_t last, int64_t batch,
                                   lrc_backend backend, lrc_forward **out)
{
    lrc_status st = LRC_OK;
    lrc_forward *fw = NULL;
    *out = NULL;
    if (!lrc_backend_available(backend))
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "this lrcompress was built without the "
                  "%s backend: install libdnnl-dev and configure with cmake "
                  "-DLRC_WITH_DNNL=ON, or use the openblas backend",
                  lrc_backend_name(backend));
    if (first < 0 || last > lrc_net_num_layers(net) || first >= last)
        LRC_RAISE(LRC_ERR_ARG, "%s: layer range [%" PRId64 ", %" PRId64
                  ") is empty or outside the net", lrc_net_source(net), first,
                  last);
    if (batch <= 0)
        LRC_RAISE(LRC_ERR_ARG, "batch size %" PRId64 " must be positive", batch);
    LRC_TRY(lrc_calloc(&fw, 1, sizeof *fw, "forward plan"));
    fw->net = net;
    fw->first = first;
    fw->last = last;
    fw->batch = batch;
    fw->backend = backend;
    for (int64_t i = first; i < last; i++) {
        const lrc_layer *l = lrc_net_layer(net, i);
        if (shape_size(l->in_shape) <= 0 || shape_size(l->out_shape) <= 0)
            LRC_FAIL(LRC_ERR_INTERNAL, "layer '%s' has no shapes: call "
                     "lrc_net_set_input first", l->name);
        if (l->op == LRC_OP_DENSE &&
            (batch * l->in_c > INT32_MAX || l->out_c * l->in_c > INT32_MAX))
            LRC_FAIL(LRC_ERR_UNSUPPORTED, "layer '%s': matrix too large for "
                     "BLAS int sizes", l->name);
    }
#ifdef LRC_HAVE_DNNL
    if (backend == LRC_BACKEND_ONEDNN)
        LRC_TRY(find_segments(fw));
#endif
    if (backend == LRC_BACKEND_WINOGRAD)
        LRC_TRY(lrc_calloc(&fw->wino, (size_t)(last - first), sizeof *fw->wino,
                           "Winograd weights"));
    LRC_TRY(lrc_calloc(&fw->packed, (size_t)(last - first),
                       sizeof *fw->packed, "packed conv weights"));
    LRC_TRY(lrc_calloc(&fw->algo, (size_t)(last - first), sizeof *fw->algo,
                       "conv algorithms"));
    /* The ping-pong buffers hold the output of every step (a oneDNN
     * segment's intermediate activations live in its own buffers), and
     * the scratch serves the layers outside segments only. */
    int64_t max_act = 0;
    for (int64_t i = first, e; i < last; i = e) {
        e = step_end(fw, i);
        const lrc_layer *lo = lrc_net_layer(net, e - 1);
        if (shape_size(lo->out_shape) > max_act)
            max_act = shape_size(lo->out_shape);
        if (e == i + 1 && lrc_layer_workspace(lo) > fw->work_len)
            fw->work_len = lrc_layer_workspace(lo);
        if (fw->wino && lrc_fw_wino_pays(lo)) {
            const size_t nu = lrc_fw_wino_weights_size(lo);
            LRC_TRY(lrc_calloc(&fw->wino[i - first], nu, sizeof(float),
                               "Winograd weights"));
            lrc_fw_wino_weights(lo, fw->wino[i - first]);
            fw->wino_len += nu;
            if (lrc_fw_wino_workspace(lo) > fw->work_len)
                fw->work_len = lrc_fw_wino_workspace(lo);
        } else if (e == i + 1 && lo->op == LRC_OP_CONV) {
            const lrc_conv_algo a = lrc_fw_conv_choose(lo);
            const size_t nw = lrc_fw_conv_packed_size(lo, a);
            if (nw > 0) {
                LRC_TRY(lrc_calloc_aligned(&fw->packed[i - first], nw,
                                           sizeof(float), 64,
                                           "packed conv weights"));
                lrc_fw_conv_pack(lo, a, fw->packed[i - first]);
                fw->algo[i - first] = a;
                fw->packed_len += nw;
            }
        } else if (e == i + 1 && lo->op == LRC_OP_DENSE) {
            /* W^T, whose rows of zero inputs a few images skip */
            const size_t nw = lrc_fw_dense_packed_size(lo);
            LRC_TRY(lrc_calloc_aligned(&fw->packed[i - first], nw, sizeof(float),
                                       64, "transposed dense weights"));
            lrc_fw_dense_pack(lo, fw->packed[i - first]);
            fw->packed_len += nw;
        }
    }
    /* chains: a 3 x 3 conv on the AVX-512 direct kernel, the 1 x 1 conv
     * that reads it (on that kernel too), its ReLU, a 2 x 2 max pooling
     * (docs/BENCHMARKS.md, section 23) */
    LRC_TRY(lrc_calloc(&fw->chain, (size_t)(last - first), sizeof *fw->chain,
                       "chains of layers"));
    for (int64_t i = first; i < last; i++) {
        const lrc_layer *a = lrc_net_layer(net, i), *b = NULL, *pool = NULL;
        if (!fw->packed[i - first] || fw->algo[i - first] != LRC_CONV_DIRECT_AVX512)
            continue;
        int64_t j = i + 1;
        if (j < last && fw->packed[j - first] &&
            fw->algo[j - first] == LRC_CONV_DIRECT_AVX512 &&
            lrc_fw_conv_direct_chain_ok(a, lrc_net_layer(net, j), NULL))
            b = lrc_net_layer(net, j++);
        const int relu = j < last && lrc_net_layer(net, j)->op == LRC_OP_RELU;
        j += relu;
        if (j < last && lrc_fw_conv_direct_chain_ok(a, b, lrc_net_layer(net, j)))
            pool = lrc_net_layer(net, j++);
        if (!b && !pool)
            continue;
        fw->chain[i - first] = (fw_chain){(int)(j - i), b != NULL, relu, pool};
        const size_t need = lrc_fw_conv_direct_chain_workspace(a, b, pool);
        if (need > fw->work_len)
            fw->work_len = need;
        i = j - 1;
    }
    fw->slot = max_act;
    LRC_TRY(lrc_mul_size((size_t)batch, (size_t)max_act, &fw->act_len,
                         "activation buffer"));
    /* whole cache lines: the Winograd output transform streams whole
     * rows to large outputs */
    LRC_TRY(lrc_calloc_aligned(&fw->buf[0], fw->act_len, sizeof(float), 64,
                               "activation buffer"));
    LRC_TRY(lrc_calloc_aligned(&fw->buf[1], fw->act_len, sizeof(float), 64,
                               "activation buffer"));
    LRC_TRY(lrc_calloc_aligned(&fw->work, fw->work_len, sizeof(float), 64,
                               "conv scratch buffer"));
#ifdef LRC_HAVE_DNNL
    if (backend == LRC_BACKEND_ONEDNN)
        LRC_TRY(create_segments(fw));
#endif
    *out = fw;
    return LRC_OK;
cleanup:
    lrc_forward_destroy(&fw);
    return st;
}

size_t lrc_forward_bytes(const lrc_forward *fw)
{
    size_t b = (2 * fw->act_len + fw->work_len + fw->wino_len +
                fw->packed_len) *
               sizeof(float);
#ifdef LRC_HAVE_DNNL
    if (fw->seg)
        for (int64_t i = 0; i < fw->last - fw->first; i++)
            if (fw->seg[i])
                b += lrc_dnnl_seg_bytes(fw->seg[i]);
#endif
    return b;
}

lrc_backend lrc_forward_backend(const lrc_forward *fw) { return fw->backend; }

void lrc_fw_plan_chains(const lrc_forward *fw, int64_t *chains, int64_t *pairs,
                        int64_t *pools)
{
    *chains = *pairs = *pools = 0;
    for (int64_t i = 0; i < fw->last - fw->first; i++) {
        *chains += fw->chain[i].len > 0;
        *pairs += fw->chain[i].pair;
        *pools += fw->chain[i].pool != NULL;
    }
}

const char *lrc_forward_impl(const lrc_forward *fw)
{
#ifdef LRC_HAVE_DNNL
    return fw->impl;
#else
    (void)fw;
    return "";
#endif
}

/* Whether layer l computes each image on its own (every op but the dense
 * layers and softmax, whose batch is one sgemm). */
static int per_image(const lrc_layer *l)
{
    return l->op != LRC_OP_DENSE && l->op != LRC_OP_SOFTMAX;
}

/* The chain that the step from layer i runs (within [i, e)), or NULL. */
static const fw_chain *step_chain(const lrc_forward *fw, int64_t i, int64_t e)
{
    const fw_chain *ch = &fw->chain[i - fw->first];
    return ch->len > 0 && i + ch->len <= e ? ch : NULL;
}

/* The last layer of the step that starts at layer i (before e): the
 * chain's last, or i + 1 when layer i is a conv and i + 1 its ReLU, which
 * run in one pass over the output, else i. */
static int64_t step_last(const lrc_forward *fw, int64_t i, int64_t e)
{
    const fw_chain *ch = step_chain(fw, i, e);
    if (ch)
        return i + ch->len - 1;
    return i + (i + 1 < e && lrc_layer_fuses_relu(lrc_net_layer(fw->net, i),
                                                  lrc_net_layer(fw->net, i + 1)));
}

/* The steps in layers [i, e). */
static int64_t step_count(const lrc_forward *fw, int64_t i, int64_t e)
{
    int64_t k = 0;
    for (; i < e; i = step_last(fw, i, e) + 1)
        k++;
    return k;
}

/* The step of layers [i, last] (last = step_last(i)) on n images. */
static lrc_status run_step(lrc_forward *fw, int64_t i, int64_t last,
                           const float *src, int64_t n, float *dst)
{
    const lrc_layer *l = lrc_net_layer(fw->net, i);
    const fw_chain *ch = step_chain(fw, i, last + 1);
    if (ch)
        return lrc_fw_conv_direct_chain(
            l, fw->packed[i - fw->first],
            ch->pair ? lrc_net_layer(fw->net, i + 1) : NULL,
            ch->pair ? fw->packed[i + 1 - fw->first] : NULL, ch->relu,
            ch->pool, src, n, dst, fw->work);
    if (fw->wino && fw->wino[i - fw->first])
        return lrc_fw_conv_winograd(l, fw->wino[i - fw->first], src, n, dst,
                                    fw->work, last > i);
    if (l->op == LRC_OP_DENSE) {
        lrc_fw_dense(l, fw->packed[i - fw->first], src, n, dst);
        return LRC_OK;
    }
    if (fw->packed[i - fw->first])
        return lrc_fw_conv_packed(l, fw->algo[i - fw->first],
                                  fw->packed[i - fw->first], src, n, dst,
                                  fw->work, last > i);
    if (last > i)
        return lrc_conv_relu_forward(l, src, n, dst, fw->work);
    return lrc_layer_forward(l, src, n, dst, fw->work);
}

/* Layers [i0, e) (all per image) on m images, image by image, so that an
 * image's activations pass from one layer to the next while they are in
 * cache (layer by layer, a batch of 8 of VGG-16's 224 x 224 activations,
 * 100 MB, goes through memory between every two layers). Every image
 * keeps its activations in the same slot, the last (m - 1) of the
 * ping-pong buffers (fw->slot floats apart), so that its layers write
 * lines the image before left in cache: a slot per image made each image
 * write 25 MB of lines not in cache, and the 4x model of VGG-16 at batch
 * 8 took 1-3% longer (docs/BENCHMARKS.md, section 22). The last step
 * writes an image packed at dst, which may be one of the buffers: images
 * 0 to m - 2 end below (m - 1) out_sz <= (m - 1) fw->slot, so the slot
 * never reaches them. The buffers alternate as in the layer-by-layer
 * order, so *which ends as that order would leave it. src must not be one of the buffers. The
 * same bits as layer by layer: every layer computes each image alone. */
static lrc_status run_images(lrc_forward *fw, int64_t i0, int64_t e,
                             const float *src, int64_t m, float *dst,
                             int *which)
{
    const int64_t in_sz = shape_size(lrc_net_layer(fw->net, i0)->in_shape);
    const int64_t out_sz = shape_size(lrc_net_layer(fw->net, e - 1)->out_shape);
    int w = *which;
    for (int64_t b = 0; b < m; b++) {
        const float *x = src + b * in_sz;
        w = *which;
        for (int64_t i = i0, last; i < e; i = last + 1, w ^= 1) {
            last = step_last(fw, i, e);
            float *y = last == e - 1 ? dst + b * out_sz
                                     : fw->buf[w] + (m - 1) * fw->slot;
            LRC_CALL(run_step(fw, i, last, x, 1, y));
            x = y;
        }
    }
    *which = w;
    return LRC_OK;
}

/* The end of the run of per-image layers from layer i on (outside
 * oneDNN segments). */
static int64_t per_image_end(const lrc_forward *fw, int64_t i)
{
    int64_t e = i;
    while (e < fw->last && step_end(fw, e) == e + 1 &&
           per_image(lrc_net_layer(fw->net, e)))
        e++;
    return e;
}

lrc_status lrc_forward_run(lrc_forward *fw, const float *in, int64_t n,
                           float *out)
{
    const lrc_layer *l0 = lrc_net_layer(fw->net, fw->first);
    const lrc_layer *ll = lrc_net_layer(fw->net, fw->last - 1);
    const int64_t in_sz = shape_size(l0->in_shape);
    const int64_t out_sz = shape_size(ll->out_shape);
    for (int64_t s = 0; s < n; s += fw->batch) {
        const int64_t m = (n - s < fw->batch) ? n - s : fw->batch;
        const float *src = in + s * in_sz;
        int which = 0;
        for (int64_t i = fw->first; i < fw->last; i++) {
#ifdef LRC_HAVE_DNNL
            if (fw->seg && fw->seg[i - fw->first]) {
                const int64_t e = fw->seg_end[i - fw->first];
                float *dst = (e == fw->last) ? out + s * out_sz : fw->buf[which];
                LRC_CALL(lrc_dnnl_seg_run(fw->seg[i - fw->first], src, m, dst));
                i = e - 1;
                src = dst;
                which ^= 1;
                continue;
            }
#endif
            /* the per-image layers at the start, image by image (their
             * source is the caller's input, not one of the buffers); the
             * last step writes where it would layer by layer */
            const int64_t e = i == fw->first && m > 1 ? per_image_end(fw, i) : i;
            if (e > i + 1) {
                const int64_t k = step_count(fw, i, e);
                float *dst = e == fw->last ? out + s * out_sz
                                           : fw->buf[which ^ (int)((k - 1) & 1)];
                LRC_CALL(run_images(fw, i, e, src, m, dst, &which));
                i = e - 1;
                src = dst;
                continue;
            }
            const int64_t last = step_last(fw, i, fw->last);
            float *dst = (last == fw->last - 1) ? out + s * out_sz : fw->buf[which];
            LRC_CALL(run_step(fw, i, last, src, m, dst));
            i = last;
            src = dst;
            which ^= 1;
        }
    }
    return LRC_OK;
}
