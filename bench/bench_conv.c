/* Conv benchmark: lrcompress's convolution (a one-layer forward plan on
 * the openblas backend: the direct kernel, the row kernel or im2col + one
 * OpenBLAS sgemm per image, whichever lrc_layer_forward chooses for the
 * layer, with the weights laid out once as a model's plan holds them) on
 * every VGG-16 conv shape at 224 x 224, on one
 * thread, as a fraction of the one-thread sgemm peak measured in the same
 * run, side by side with oneDNN's convolution (when built with it) on the
 * same shape, weights and input.
 *
 *   build/bench/bench_conv [--batches 1,8] [--layers 0,1,...] [--reps 3]
 *                          [--ranks r0,...,r12] [--group-cols 4096]
 *                          [--no-lowrank] [--no-dnnl] [--no-proto]
 *                          [--json bench_conv.json]
 *
 * For each layer and batch size:
 *   - ours: time, GFLOP/s, fraction of the sgemm peak;
 *   - the library's algorithms, each forced through its private interface
 *     (src/forward/forward_impl.h) and checked against ours: "lowered"
 *     (im2col + sgemm, what lrc_layer_forward ran on every conv before the
 *     direct kernel: the "before" of every comparison) and the direct
 *     kernels "avx512" and "avx2" where the CPU has them;
 *   - oneDNN: its fastest algorithm (direct or Winograd, format_tag_any so
 *     it picks its blocked layouts), the convolution alone and with the
 *     reorders from and to NCHW; the speed ratio ours/oneDNN; and the
 *     largest difference between the two outputs relative to the largest
 *     output (must be below 1e-3: the same computation);
 *   - unless --no-proto: the lowering's split into im2col (a copy of the
 *     library's) and sgemm, and three prototypes, written here and not in
 *     src/, each checked against our output: "batched" (the im2col'd
 *     images of a batch side by side, one sgemm over them, up to
 *     --group-cols columns), "rows" (im2col along rows only, k copies
 *     instead of k*k, then k sgemms on row-shifted views) and "shifted" (no
 *     im2col: k*k sgemms on shifted views of a once-padded image). (The
 *     fourth, an AVX-512 direct kernel, is now the library's, in
 *     src/forward/conv_direct.c.)
 *   - the low-rank pair the method puts in the layer's place, a k x k conv
 *     of d' filters and a 1 x 1 conv from d' to d (d' = d/4 as at 4x, or
 *     the 13 ranks of --ranks, 0 = kept whole, e.g. those lrcompress chose),
 *     timed the same way, with the layer's theoretical and measured
 *     speedup, with ours and with the lowering alone.
 * Every time is the best of --reps passes over all layers and
 * implementations, each pass one untimed and one timed run of each (so that
 * a burst of load from elsewhere spoils one pass of a figure, not all of
 * its runs).
 * FLOPs are those of the direct convolution, 2 n d c k k ho wo (Winograd
 * does fewer, so its GFLOP/s are "effective"). About 3-5 minutes with the
 * defaults on 2 idle cores. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "lrc/lrc.h"
/* the forward engine's conv algorithms, to time each one forced */
#include "../src/forward/forward_impl.h"

#ifdef LRC_BENCH_HAVE_DNNL
#include <dnnl.h>
#include <dnnl_debug.h>
#include <omp.h>
#endif

#define MAXV 32

typedef struct {
    const char *name;
    int64_t c, d, hw;
} vgg_shape;

static const vgg_shape VGG16[13] = {
    {"conv1_1", 3, 64, 224},    {"conv1_2", 64, 64, 224},
    {"conv2_1", 64, 128, 112},  {"conv2_2", 128, 128, 112},
    {"conv3_1", 128, 256, 56},  {"conv3_2", 256, 256, 56},
    {"conv3_3", 256, 256, 56},  {"conv4_1", 256, 512, 28},
    {"conv4_2", 512, 512, 28},  {"conv4_3", 512, 512, 28},
    {"conv5_1", 512, 512, 14},  {"conv5_2", 512, 512, 14},
    {"conv5_3", 512, 512, 14}};

typedef struct {
    int reps;
    int dnnl, proto;
    int64_t group_cols;
} options;

/* What one measured conv gives. Times in seconds for the whole batch. */
typedef struct {
    double flop;
    double t_ours, t_im2col, t_gemm;
    double t_batched, t_shifted, t_rows; /* prototypes; 0: not run */
    double diff_batched, diff_shifted, diff_rows;
    /* the library's algorithms forced: the lowering (im2col + sgemm), the
     * AVX-512 and AVX2 direct kernels; 0: cannot run here. ours is
     * whichever of them lrc_layer_forward chooses. */
    double t_lowered, t_direct, t_avx2;
    double diff_lowered, diff_direct, diff_avx2; /* from ours */
    /* Winograd F(4x4, 3x3) forced (conv_winograd.c; weights transformed
     * beforehand, as the winograd backend's plan does); 0: cannot run */
    double t_wino, diff_wino;
    int wino_pays; /* whether the winograd backend runs this layer so */
    double t_dnnl, t_dnnl_direct, t_dnnl_wino; /* conv alone; 0: not run */
    double t_dnnl_reorders;          /* NCHW in and out, around the conv */
    double diff_dnnl, l2_dnnl;       /* max |diff| / max |ours|, ||diff|| / ||ours|| */
    char dnnl_impl[128];
} conv_result;

/* ---- our conv through the library ---- */

/* A net of one conv layer n x c x h x w -> d filters of k x k, stride 1,
 * padding pad; weights and bias from `seed`, scaled so that outputs have the
 * inputs' magnitude. */
static lrc_net *make_conv(int64_t c, int64_t d, int64_t h, int64_t w, int64_t k,
                          int64_t pad, uint64_t seed)
{
    lrc_net *net = NULL;
    lrc_layer p;
    memset(&p, 0, sizeof p);
    p.name = "conv";
    p.op = LRC_OP_CONV;
    p.kh = p.kw = k;
    p.sh = p.sw = 1;
    p.pt = p.pl = p.pb = p.pr = pad;
    p.in_c = c;
    p.out_c = d;
    p.flatten_check = -1;
    const size_t nw = (size_t)(d * c * k * k);
    p.weight = bench_alloc(nw, sizeof(float), "weights");
    p.bias = bench_alloc((size_t)d, sizeof(float), "bias");
    bench_fill(p.weight, nw, seed, (float)sqrt(12.0 / (double)(c * k * k)));
    bench_fill(p.bias, (size_t)d, seed + 1, 0.1f);
    if (lrc_net_create(&net) != LRC_OK || lrc_net_append(net, &p) != LRC_OK ||
        lrc_net_set_input(net, c, h, w) != LRC_OK)
        exit(1);
    free(p.weight);
    free(p.bias);
    return net;
}

typedef struct {
    const lrc_layer *l;
    const float *in;
    int64_t n;
    float *out, *work;
    lrc_forward *fw; /* ours: the layer's plan */
} fwd_arg;

static void run_ours(void *p)
{
    const fwd_arg *a = p;
    if (lrc_forward_run(a->fw, a->in, a->n, a->out) != LRC_OK)
        exit(1);
}

/* ---- the library's lowering, replayed here to split its time ---- */

/* The im2col of src/forward/conv.c for stride 1 (every shape here): rows
 * over (c, i, j), columns over output pixels, `ld` floats apart. */
static void im2col(const lrc_layer *l, const float *img, float *col, int64_t ld)
{
    const int64_t c = l->in_shape[0], h = l->in_shape[1], w = l->in_shape[2];
    const int64_t ho = l->out_shape[1], wo = l->out_shape[2];
    for (int64_t ch = 0; ch < c; ch++) {
        const float *src = img + ch * h * w;
        for (int64_t i = 0; i < l->kh; i++)
            for (int64_t j = 0; j < l->kw; j++) {
                float *dst = col + ((ch * l->kh + i) * l->kw + j) * ld;
                for (int64_t y = 0; y < ho; y++) {
                    const int64_t iy = y - l->pt + i;
                    float *row = dst + y * wo;
                    if (iy < 0 || iy >= h) {
                        memset(row, 0, (size_t)wo * sizeof(float));
                        continue;
                    }
                    const float *srow = src + iy * w;
                    int64_t x0 = l->pl - j, x = 0;
                    for (; x < wo && x < x0; x++)
                        row[x] = 0.0f;
                    int64_t xe = wo < w + x0 ? wo : w + x0;
                    if (xe > x) {
                        memcpy(row + x, srow + (x - x0), (size_t)(xe - x) * sizeof(float));
                        x = xe;
                    }
                    for (; x < wo; x++)
                        row[x] = 0.0f;
                }
            }
    }
}

static int is_pointwise(const lrc_layer *l)
{
    return l->kh == 1 && l->kw == 1 && l->pt == 0 && l->pl == 0 && l->pb == 0 &&
           l->pr == 0;
}

static void run_im2col(void *p)
{
    const fwd_arg *a = p;
    const lrc_layer *l = a->l;
    const int64_t in_sz = l->in_shape[0] * l->in_shape[1] * l->in_shape[2];
    const int64_t P = l->out_shape[1] * l->out_shape[2];
    if (is_pointwise(l))
        return;
    for (int64_t b = 0; b < a->n; b++)
        im2col(l, a->in + b * in_sz, a->work, P);
}

/* The sgemms alone, every image on the same lowered matrix in `work`. */
static void run_gemm_only(void *p)
{
    const fwd_arg *a = p;
    const lrc_layer *l = a->l;
    const int64_t P = l->out_shape[1] * l->out_shape[2];
    const int64_t K = l->in_c * l->kh * l->kw, d = l->out_c;
    const float *col = is_pointwise(l) ? a->in : a->work;
    for (int64_t b = 0; b < a->n; b++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)P,
                    (int)K, 1.0f, l->weight, (int)K, col, (int)P, 0.0f,
                    a->out + b * d * P, (int)P);
}

/* ---- prototype 1: one sgemm over a group of images ---- */

typedef struct {
    const lrc_layer *l;
    const float *in;
    int64_t n, group;
    float *out, *col, *tmp;
} batched_arg;

/* Images per sgemm: enough to give the product about `cols` columns. */
static int64_t batch_group(int64_t n, int64_t P, int64_t cols)
{
    int64_t g = (cols + P - 1) / P;
    if (g < 1)
        g = 1;
    return g < n ? g : n;
}

static void run_batched(void *p)
{
    const batched_arg *a = p;
    const lrc_layer *l = a->l;
    const int64_t c = l->in_shape[0], in_sz = c * l->in_shape[1] * l->in_shape[2];
    const int64_t P = l->out_shape[1] * l->out_shape[2];
    const int64_t K = l->in_c * l->kh * l->kw, d = l->out_c;
    const int pw = is_pointwise(l);
    for (int64_t b0 = 0; b0 < a->n; b0 += a->group) {
        const int64_t m = a->n - b0 < a->group ? a->n - b0 : a->group;
        const int64_t ld = m * P;
        const float *col = a->col;
        if (pw && m == 1) {
            col = a->in + b0 * in_sz;
        } else {
            for (int64_t i = 0; i < m; i++) {
                const float *img = a->in + (b0 + i) * in_sz;
                if (pw)
                    for (int64_t ch = 0; ch < c; ch++)
                        memcpy(a->col + ch * ld + i * P, img + ch * P,
                               (size_t)P * sizeof(float));
                else
                    im2col(l, img, a->col + i * P, ld);
            }
        }
        if (m == 1) {
            /* one image: straight into the output, as the library does */
            float *o = a->out + b0 * d * P;
            for (int64_t f = 0; f < d; f++)
                for (int64_t x = 0; x < P; x++)
                    o[f * P + x] = l->bias[f];
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)P,
                        (int)K, 1.0f, l->weight, (int)K, col, (int)P, 1.0f, o,
                        (int)P);
            continue;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)ld,
                    (int)K, 1.0f, l->weight, (int)K, col, (int)ld, 0.0f, a->tmp,
                    (int)ld);
        for (int64_t i = 0; i < m; i++)
            for (int64_t f = 0; f < d; f++) {
                const float *s = a->tmp + f * ld + i * P;
                float *o = a->out + ((b0 + i) * d + f) * P;
                const float bv = l->bias[f];
                for (int64_t x = 0; x < P; x++)
                    o[x] = s[x] + bv;
            }
    }
}

/* ---- prototype 2: k*k sgemms on shifted views, no im2col ---- */

typedef struct {
    const lrc_layer *l;
    const float *in;
    int64_t n;
    float *out;
    float *wt;  /* k*k matrices d x c: wt[(i k + j) d c + f c + ch] */
    float *pad; /* c x hp x wp, plus k slack floats */
    float *tmp; /* d x ho x wp */
} shifted_arg;

/* Output (y, x) of tap (i, j) reads padded pixel (y + i, x + j), i.e. the
 * padded image shifted by i wp + j and read as ho*wp contiguous floats per
 * channel: one sgemm per tap with K = c, on an output grid wp wide whose
 * k - 1 extra columns are dropped at the end. */
static void run_shifted(void *p)
{
    const shifted_arg *a = p;
    const lrc_layer *l = a->l;
    const int64_t c = l->in_c, d = l->out_c, h = l->in_shape[1], w = l->in_shape[2];
    const int64_t ho = l->out_shape[1], wo = l->out_shape[2], k = l->kh;
    const int64_t hp = h + l->pt + l->pb, wp = w + l->pl + l->pr;
    const int64_t cs = hp * wp; /* channel stride of the padded image */
    for (int64_t b = 0; b < a->n; b++) {
        const float *img = a->in + b * c * h * w;
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t y = 0; y < h; y++)
                memcpy(a->pad + ch * cs + (y + l->pt) * wp + l->pl,
                       img + (ch * h + y) * w, (size_t)w * sizeof(float));
        for (int64_t i = 0; i < k; i++)
            for (int64_t j = 0; j < k; j++)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d,
                            (int)(ho * wp), (int)c, 1.0f,
                            a->wt + (i * k + j) * d * c, (int)c,
                            a->pad + i * wp + j, (int)cs,
                            (i == 0 && j == 0) ? 0.0f : 1.0f, a->tmp,
                            (int)(ho * wp));
        float *o = a->out + b * d * ho * wo;
        for (int64_t f = 0; f < d; f++)
            for (int64_t y = 0; y < ho; y++) {
                const float *s = a->tmp + (f * ho + y) * wp;
                float *r = o + (f * ho + y) * wo;
                const float bv = l->bias[f];
                for (int64_t x = 0; x < wo; x++)
                    r[x] = s[x] + bv;
            }
    }
}

/* ---- prototype 3: im2col along rows only, k sgemms ---- */

typedef struct {
    const lrc_layer *l;
    const float *in;
    int64_t n;
    float *out;
    float *wt;  /* k matrices d x (c k): wt[i d c k + f c k + ch k + j] */
    float *col; /* (c k) x (hp wo): row (ch, j) = channel ch shifted by j */
} rows_arg;

/* The k horizontal taps are gathered as in im2col (k copies of the image
 * instead of k*k), over all hp padded rows; the k vertical taps are then
 * views of that matrix shifted by whole rows (i wo columns), so the conv
 * is k accumulating sgemms with K = c k and exactly ho*wo columns. */
static void run_rows(void *p)
{
    const rows_arg *a = p;
    const lrc_layer *l = a->l;
    const int64_t c = l->in_c, d = l->out_c, h = l->in_shape[1], w = l->in_shape[2];
    const int64_t ho = l->out_shape[1], wo = l->out_shape[2], k = l->kh;
    const int64_t hp = ho + k - 1, P = ho * wo, ld = hp * wo;
    for (int64_t b = 0; b < a->n; b++) {
        const float *img = a->in + b * c * h * w;
        for (int64_t ch = 0; ch < c; ch++)
            for (int64_t j = 0; j < k; j++) {
                /* rows outside the image stay zero from the allocation */
                float *dst = a->col + (ch * k + j) * ld + l->pt * wo;
                const int64_t x0 = l->pl - j;
                for (int64_t y = 0; y < h; y++) {
                    const float *srow = img + (ch * h + y) * w;
                    float *row = dst + y * wo;
                    int64_t x = 0;
                    for (; x < wo && x < x0; x++)
                        row[x] = 0.0f;
                    int64_t xe = wo < w + x0 ? wo : w + x0;
                    if (xe > x) {
                        memcpy(row + x, srow + (x - x0), (size_t)(xe - x) * sizeof(float));
                        x = xe;
                    }
                    for (; x < wo; x++)
                        row[x] = 0.0f;
                }
            }
        float *o = a->out + b * d * P;
        for (int64_t f = 0; f < d; f++)
            for (int64_t x = 0; x < P; x++)
                o[f * P + x] = l->bias[f];
        for (int64_t i = 0; i < k; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)P,
                        (int)(c * k), 1.0f, a->wt + i * d * c * k, (int)(c * k),
                        a->col + i * wo, (int)ld, 1.0f, o, (int)P);
    }
}

/* max |a - b| / max |ref| and ||a - b|| / ||ref|| */
static void compare(const float *ref, const float *b, size_t n, double *maxrel,
                    double *l2rel)
{
    double md = 0, mr = 0, sd = 0, sr = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)ref[i] - (double)b[i]), r = fabs((double)ref[i]);
        if (d > md || d != d)
            md = d;
        if (r > mr)
            mr = r;
        sd += d * d;
        sr += r * r;
    }
    *maxrel = mr > 0 ? md / mr : md;
    if (l2rel)
        *l2rel = sr > 0 ? sqrt(sd / sr) : sqrt(sd);
}

/* ---- the library's algorithms, each forced ---- */

/* The forward engine's private interface (src/forward/forward_impl.h):
 * lrc_layer_forward picks an algorithm per layer; the benchmark times each
 * one that can run the layer on this CPU, on the same layer, weights and
 * input: the lowering (im2col + sgemm, what lrc_layer_forward ran on every
 * conv before the direct kernel) and the direct kernels. */
typedef struct {
    const lrc_layer *l;
    lrc_conv_algo algo;
    const float *in;
    int64_t n;
    float *out, *work;
} algo_arg;

static void run_algo(void *p)
{
    const algo_arg *a = p;
    if (lrc_fw_conv_with(a->l, a->algo, a->in, a->n, a->out, a->work, 0) != LRC_OK)
        exit(1);
}

/* Times algorithm `algo` on l (0 when it cannot run l here) and compares
 * its output with `ref`. */
static double time_algo(const lrc_layer *l, lrc_conv_algo algo, const float *in,
                        int64_t n, const float *ref, float *out, size_t nout,
                        double *diff)
{
    if (!lrc_fw_conv_can_run(l, algo))
        return 0.0;
    const size_t ws = lrc_fw_conv_workspace(l, algo);
    algo_arg aa = {l, algo, in, n, out, NULL};
    aa.work = bench_alloc(ws > 0 ? ws : 1, sizeof(float), "algorithm workspace");
    const double t = bench_best_of(1, 1, run_algo, &aa);
    compare(ref, out, nout, diff, NULL);
    free(aa.work);
    return t;
}

/* Times Winograd F(4x4, 3x3) on l (0 when it cannot run l), its weights
 * transformed beforehand (untimed), and compares its output with `ref`. */
typedef struct {
    const lrc_layer *l;
    const float *u, *in;
    int64_t n;
    float *out, *work;
} wino_arg;

static void run_wino(void *p)
{
    const wino_arg *a = p;
    if (lrc_fw_conv_winograd(a->l, a->u, a->in, a->n, a->out, a->work, 0) != LRC_OK)
        exit(1);
}

static double time_wino(const lrc_layer *l, const float *in, int64_t n,
                        const float *ref, float *out, size_t nout, double *diff)
{
    if (!lrc_fw_wino_shape_ok(l))
        return 0.0;
    float *u = bench_alloc(lrc_fw_wino_weights_size(l), sizeof(float),
                           "Winograd weights");
    lrc_fw_wino_weights(l, u);
    wino_arg wa = {l, u, in, n, out, NULL};
    wa.work = bench_alloc(lrc_fw_wino_workspace(l), sizeof(float),
                          "Winograd workspace");
    const double t = bench_best_of(1, 1, run_wino, &wa);
    compare(ref, out, nout, diff, NULL);
    free(wa.work);
    free(u);
    return t;
}

/* ---- oneDNN ---- */

#ifdef LRC_BENCH_HAVE_DNNL
#define DNNL_CHECK(expr)                                                        \
    do {                                                                        \
        dnnl_status_t s_ = (expr);                                              \
        if (s_ != dnnl_success) {                                               \
            fprintf(stderr, "bench_conv: %s failed: %s (%s:%d)\n", #expr,       \
                    dnnl_status2str(s_), __FILE__, __LINE__);                   \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

typedef struct {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
} dnnl_ctx;

typedef struct {
    dnnl_stream_t strm;
    dnnl_primitive_t conv, rsrc, rdst; /* reorders NULL when not needed */
    dnnl_memory_t usrc, src, w, b, dst, udst;
    char impl[96];
} dnnl_conv;

static void reorder_pd(dnnl_ctx *x, const dnnl_memory_desc_t *from,
                       const dnnl_memory_desc_t *to, dnnl_primitive_t *prim)
{
    dnnl_primitive_desc_t rpd;
    DNNL_CHECK(dnnl_reorder_primitive_desc_create(&rpd, from, x->eng, to, x->eng, NULL));
    DNNL_CHECK(dnnl_primitive_create(prim, rpd));
    DNNL_CHECK(dnnl_primitive_desc_destroy(rpd));
}

static void exec2(dnnl_stream_t s, dnnl_primitive_t p, dnnl_memory_t from, dnnl_memory_t to)
{
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    DNNL_CHECK(dnnl_primitive_execute(p, s, 2, args));
    DNNL_CHECK(dnnl_stream_wait(s));
}

/* oneDNN's convolution of layer l on n images at `in` (NCHW), with `alg`;
 * returns 0 on success, 1 when oneDNN has no implementation. */
static int dnnl_conv_create(dnnl_ctx *x, const lrc_layer *l, int64_t n,
                            const float *in, dnnl_alg_kind_t alg, dnnl_conv *dc)
{
    memset(dc, 0, sizeof *dc);
    dc->strm = x->strm;
    const dnnl_dims_t sd = {n, l->in_c, l->in_shape[1], l->in_shape[2]};
    const dnnl_dims_t wd = {l->out_c, l->in_c, l->kh, l->kw};
    const dnnl_dims_t bd = {l->out_c};
    const dnnl_dims_t dd = {n, l->out_c, l->out_shape[1], l->out_shape[2]};
    const dnnl_dims_t strides = {l->sh, l->sw}, pl = {l->pt, l->pl}, pr = {l->pb, l->pr};
    dnnl_memory_desc_t s_any, w_any, d_any, b_md, s_user, w_user, d_user;
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&s_any, 4, sd, dnnl_f32, dnnl_format_tag_any));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&d_any, 4, dd, dnnl_f32, dnnl_format_tag_any));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&s_user, 4, sd, dnnl_f32, dnnl_nchw));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&w_user, 4, wd, dnnl_f32, dnnl_oihw));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&d_user, 4, dd, dnnl_f32, dnnl_nchw));
    dnnl_convolution_desc_t cd;
    if (dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, alg, &s_any,
                                           &w_any, &b_md, &d_any, strides, pl,
                                           pr) != dnnl_success)
        return 1;
    dnnl_primitive_desc_t pd;
    if (dnnl_primitive_desc_create(&pd, &cd, NULL, x->eng, NULL) != dnnl_success)
        return 1;
    const char *impl = NULL;
    DNNL_CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
    snprintf(dc->impl, sizeof dc->impl, "%s", impl ? impl : "?");
    const dnnl_memory_desc_t *s_md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *d_md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);

    DNNL_CHECK(dnnl_memory_create(&dc->usrc, &s_user, x->eng, (void *)in));
    DNNL_CHECK(dnnl_memory_create(&dc->b, &b_md, x->eng, l->bias));
    DNNL_CHECK(dnnl_memory_create(&dc->udst, &d_user, x->eng, DNNL_MEMORY_ALLOCATE));
    if (dnnl_memory_desc_equal(s_md, &s_user)) {
        dc->src = dc->usrc;
    } else {
        DNNL_CHECK(dnnl_memory_create(&dc->src, s_md, x->eng, DNNL_MEMORY_ALLOCATE));
        reorder_pd(x, &s_user, s_md, &dc->rsrc);
        exec2(x->strm, dc->rsrc, dc->usrc, dc->src);
    }
    if (dnnl_memory_desc_equal(d_md, &d_user)) {
        dc->dst = dc->udst;
    } else {
        DNNL_CHECK(dnnl_memory_create(&dc->dst, d_md, x->eng, DNNL_MEMORY_ALLOCATE));
        reorder_pd(x, d_md, &d_user, &dc->rdst);
    }
    /* weights: reordered once, as a backend would at load time */
    dnnl_memory_t uw;
    DNNL_CHECK(dnnl_memory_create(&uw, &w_user, x->eng, l->weight));
    DNNL_CHECK(dnnl_memory_create(&dc->w, w_md, x->eng, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_t rw;
    reorder_pd(x, &w_user, w_md, &rw);
    exec2(x->strm, rw, uw, dc->w);
    DNNL_CHECK(dnnl_primitive_destroy(rw));
    DNNL_CHECK(dnnl_memory_destroy(uw));
    DNNL_CHECK(dnnl_primitive_create(&dc->conv, pd));
    DNNL_CHECK(dnnl_primitive_desc_destroy(pd));
    return 0;
}

static void dnnl_conv_destroy(dnnl_conv *dc)
{
    if (dc->rsrc) {
        dnnl_primitive_destroy(dc->rsrc);
        dnnl_memory_destroy(dc->src);
    }
    if (dc->rdst) {
        dnnl_primitive_destroy(dc->rdst);
        dnnl_memory_destroy(dc->dst);
    }
    dnnl_primitive_destroy(dc->conv);
    dnnl_memory_destroy(dc->usrc);
    dnnl_memory_destroy(dc->b);
    dnnl_memory_destroy(dc->w);
    dnnl_memory_destroy(dc->udst);
    memset(dc, 0, sizeof *dc);
}

static void run_dnnl(void *p)
{
    dnnl_conv *dc = p;
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, dc->src}, {DNNL_ARG_WEIGHTS, dc->w},
                               {DNNL_ARG_BIAS, dc->b}, {DNNL_ARG_DST, dc->dst}};
    DNNL_CHECK(dnnl_primitive_execute(dc->conv, dc->strm, 4, args));
    DNNL_CHECK(dnnl_stream_wait(dc->strm));
}

static void run_dnnl_reorders(void *p)
{
    dnnl_conv *dc = p;
    if (dc->rsrc)
        exec2(dc->strm, dc->rsrc, dc->usrc, dc->src);
    if (dc->rdst)
        exec2(dc->strm, dc->rdst, dc->dst, dc->udst);
}

/* Times oneDNN's direct and Winograd convolutions, keeps the faster one,
 * and compares its output with ours. */
static void measure_dnnl(dnnl_ctx *x, const lrc_layer *l, int64_t n, const float *in,
                         const float *ours, int reps, conv_result *r)
{
    const dnnl_alg_kind_t algs[2] = {dnnl_convolution_direct, dnnl_convolution_winograd};
    double *slot[2] = {&r->t_dnnl_direct, &r->t_dnnl_wino};
    const size_t nout = (size_t)(n * l->out_c * l->out_shape[1] * l->out_shape[2]);
    r->t_dnnl = 0;
    for (int a = 0; a < 2; a++) {
        dnnl_conv dc;
        if (dnnl_conv_create(x, l, n, in, algs[a], &dc))
            continue; /* no Winograd for this shape or ISA */
        *slot[a] = bench_best_of(1, reps, run_dnnl, &dc);
        if (r->t_dnnl == 0 || *slot[a] < r->t_dnnl) {
            r->t_dnnl = *slot[a];
            r->t_dnnl_reorders = bench_best_of(1, reps, run_dnnl_reorders, &dc);
            snprintf(r->dnnl_impl, sizeof r->dnnl_impl, "%s%s", dc.impl,
                     a == 1 ? " (winograd)" : "");
        }
        /* every algorithm's output is checked, not only the fastest's */
        run_dnnl(&dc);
        if (dc.rdst)
            exec2(dc.strm, dc.rdst, dc.dst, dc.udst);
        void *h = NULL;
        double md, l2;
        DNNL_CHECK(dnnl_memory_get_data_handle(dc.udst, &h));
        compare(ours, h, nout, &md, &l2);
        if (md > r->diff_dnnl || md != md)
            r->diff_dnnl = md;
        if (l2 > r->l2_dnnl || l2 != l2)
            r->l2_dnnl = l2;
        dnnl_conv_destroy(&dc);
    }
}
#endif

/* ---- one conv shape, every implementation ---- */

static void keep_min(double *best, double t)
{
    if (t > 0 && (*best == 0 || t < *best))
        *best = t;
}

static void keep_max(double *worst, double v)
{
    if (v > *worst || v != v)
        *worst = v;
}

/* Folds one pass's figures into the best so far: smallest times, largest
 * differences. */
static void merge(conv_result *best, const conv_result *r, int first)
{
    if (first) {
        *best = *r;
        return;
    }
    keep_min(&best->t_ours, r->t_ours);
    keep_min(&best->t_im2col, r->t_im2col);
    keep_min(&best->t_gemm, r->t_gemm);
    keep_min(&best->t_batched, r->t_batched);
    keep_min(&best->t_shifted, r->t_shifted);
    keep_min(&best->t_rows, r->t_rows);
    keep_min(&best->t_lowered, r->t_lowered);
    keep_min(&best->t_direct, r->t_direct);
    keep_min(&best->t_avx2, r->t_avx2);
    keep_min(&best->t_dnnl_direct, r->t_dnnl_direct);
    keep_min(&best->t_dnnl_wino, r->t_dnnl_wino);
    keep_min(&best->t_dnnl_reorders, r->t_dnnl_reorders);
    if (r->t_dnnl > 0 && (best->t_dnnl == 0 || r->t_dnnl < best->t_dnnl)) {
        best->t_dnnl = r->t_dnnl;
        memcpy(best->dnnl_impl, r->dnnl_impl, sizeof best->dnnl_impl);
    }
    keep_max(&best->diff_batched, r->diff_batched);
    keep_max(&best->diff_shifted, r->diff_shifted);
    keep_max(&best->diff_rows, r->diff_rows);
    keep_max(&best->diff_lowered, r->diff_lowered);
    keep_max(&best->diff_direct, r->diff_direct);
    keep_max(&best->diff_avx2, r->diff_avx2);
    keep_max(&best->diff_dnnl, r->diff_dnnl);
    keep_max(&best->l2_dnnl, r->l2_dnnl);
}

static void measure(const options *o, void *dctx, int64_t n, int64_t c, int64_t d,
                    int64_t hw, int64_t k, uint64_t seed, conv_result *r)
{
    memset(r, 0, sizeof *r);
    const int64_t pad = k / 2;
    lrc_net *net = make_conv(c, d, hw, hw, k, pad, seed);
    const lrc_layer *l = lrc_net_layer(net, 0);
    const int64_t P = l->out_shape[1] * l->out_shape[2];
    const size_t nin = (size_t)(n * c * hw * hw), nout = (size_t)(n * d * P);
    float *in = bench_alloc(nin, sizeof *in, "input");
    float *out = bench_alloc(nout, sizeof *out, "output");
    float *out2 = bench_alloc(nout, sizeof *out2, "second output");
    size_t wsz = lrc_layer_workspace(l);
    float *work = bench_alloc(wsz > 0 ? wsz : 1, sizeof *work, "workspace");
    bench_fill(in, nin, seed + 2, 2.0f);
    r->flop = 2.0 * (double)n * (double)d * (double)c * (double)(k * k) * (double)P;

    fwd_arg fa = {l, in, n, out, work, NULL};
    if (lrc_forward_create(net, 0, 1, n, &fa.fw) != LRC_OK)
        exit(1);
    r->t_ours = bench_best_of(1, 1, run_ours, &fa);
    lrc_forward_destroy(&fa.fw);
    if (o->proto) {
        fwd_arg fb = {l, in, n, out2, work, NULL};
        r->t_im2col = bench_best_of(1, 1, run_im2col, &fb);
        r->t_gemm = bench_best_of(1, 1, run_gemm_only, &fb);

        const int64_t K = c * k * k;
        batched_arg ba = {l, in, n, batch_group(n, P, o->group_cols), out2, NULL, NULL};
        ba.col = bench_alloc((size_t)(K * ba.group * P), sizeof(float), "batched columns");
        ba.tmp = bench_alloc((size_t)(d * ba.group * P), sizeof(float), "batched output");
        r->t_batched = bench_best_of(1, 1, run_batched, &ba);
        compare(out, out2, nout, &r->diff_batched, NULL);
        free(ba.col);
        free(ba.tmp);

        if (k > 1) {
            const int64_t hp = hw + 2 * pad, wp = hw + 2 * pad;
            shifted_arg sa = {l, in, n, out2, NULL, NULL, NULL};
            sa.wt = bench_alloc((size_t)(k * k * d * c), sizeof(float), "tap weights");
            sa.pad = bench_alloc((size_t)(c * hp * wp + k), sizeof(float), "padded image");
            sa.tmp = bench_alloc((size_t)(d * l->out_shape[1] * wp), sizeof(float), "wide output");
            for (int64_t f = 0; f < d; f++)
                for (int64_t ch = 0; ch < c; ch++)
                    for (int64_t t = 0; t < k * k; t++)
                        sa.wt[t * d * c + f * c + ch] = l->weight[(f * c + ch) * k * k + t];
            r->t_shifted = bench_best_of(1, 1, run_shifted, &sa);
            compare(out, out2, nout, &r->diff_shifted, NULL);
            free(sa.wt);
            free(sa.pad);
            free(sa.tmp);

            rows_arg ra = {l, in, n, out2, NULL, NULL};
            ra.wt = bench_alloc((size_t)(k * k * d * c), sizeof(float), "row-tap weights");
            ra.col = bench_alloc((size_t)(c * k * hp * l->out_shape[2]), sizeof(float),
                                 "row columns");
            for (int64_t i = 0; i < k; i++)
                for (int64_t f = 0; f < d; f++)
                    for (int64_t ch = 0; ch < c; ch++)
                        for (int64_t jj = 0; jj < k; jj++)
                            ra.wt[((i * d + f) * c + ch) * k + jj] =
                                l->weight[((f * c + ch) * k + i) * k + jj];
            r->t_rows = bench_best_of(1, 1, run_rows, &ra);
            compare(out, out2, nout, &r->diff_rows, NULL);
            free(ra.wt);
            free(ra.col);
        }
    }
    /* the library's algorithms, each forced (run with or without --no-proto) */
    r->t_lowered = time_algo(l, LRC_CONV_LOWERED, in, n, out, out2, nout,
                             &r->diff_lowered);
    r->t_direct = time_algo(l, LRC_CONV_DIRECT_AVX512, in, n, out, out2, nout,
                            &r->diff_direct);
    r->t_avx2 = time_algo(l, LRC_CONV_DIRECT_AVX2, in, n, out, out2, nout,
                          &r->diff_avx2);
    r->t_wino = time_wino(l, in, n, out, out2, nout, &r->diff_wino);
    r->wino_pays = lrc_fw_wino_pays(l);
#ifdef LRC_BENCH_HAVE_DNNL
    if (o->dnnl)
        measure_dnnl(dctx, l, n, in, out, 1, r);
#else
    (void)dctx;
#endif
    free(in);
    free(out);
    free(out2);
    free(work);
    lrc_net_destroy(&net);
}

/* ---- reporting ---- */

static double gf(double flop, double t) { return t > 0 ? flop / t / 1e9 : 0.0; }

/* A table cell of `width` characters: the rate as a percentage of the
 * peak, or "-" when not measured (t = 0). */
static void cell_pct(int width, double flop, double t, double peak)
{
    if (t > 0)
        printf(" %*.0f%%", width - 1, 100 * gf(flop, t) / peak);
    else
        printf(" %*s", width, "-");
}

/* The fastest of ours and the prototypes that ran. */
static double best_time(const conv_result *r)
{
    double t = r->t_ours;
    if (r->t_batched > 0 && r->t_batched < t)
        t = r->t_batched;
    if (r->t_shifted > 0 && r->t_shifted < t)
        t = r->t_shifted;
    if (r->t_rows > 0 && r->t_rows < t)
        t = r->t_rows;
    if (r->t_lowered > 0 && r->t_lowered < t)
        t = r->t_lowered;
    if (r->t_direct > 0 && r->t_direct < t)
        t = r->t_direct;
    if (r->t_avx2 > 0 && r->t_avx2 < t)
        t = r->t_avx2;
    return t;
}

static void json_result(bench_json *j, const conv_result *r, double peak)
{
    bench_json_num(j, "gflop", r->flop / 1e9);
    bench_json_num(j, "ours_s", r->t_ours);
    bench_json_num(j, "ours_gflops", gf(r->flop, r->t_ours));
    bench_json_num(j, "ours_of_peak", gf(r->flop, r->t_ours) / peak);
    if (r->t_gemm > 0) {
        bench_json_num(j, "im2col_s", r->t_im2col);
        bench_json_num(j, "sgemm_s", r->t_gemm);
        bench_json_num(j, "sgemm_of_peak", gf(r->flop, r->t_gemm) / peak);
    }
    if (r->t_batched > 0) {
        bench_json_num(j, "proto_batched_s", r->t_batched);
        bench_json_num(j, "proto_batched_of_peak", gf(r->flop, r->t_batched) / peak);
        bench_json_num(j, "proto_batched_maxdiff_rel", r->diff_batched);
    }
    if (r->t_wino > 0) {
        bench_json_num(j, "winograd_s", r->t_wino);
        bench_json_num(j, "winograd_effective_of_peak", gf(r->flop, r->t_wino) / peak);
        bench_json_num(j, "winograd_maxdiff_rel", r->diff_wino);
        bench_json_int(j, "winograd_backend_runs_it", r->wino_pays);
    }
    bench_json_num(j, "lowered_s", r->t_lowered);
    bench_json_num(j, "lowered_of_peak", gf(r->flop, r->t_lowered) / peak);
    bench_json_num(j, "lowered_maxdiff_rel", r->diff_lowered);
    if (r->t_direct > 0) {
        bench_json_num(j, "direct_avx512_s", r->t_direct);
        bench_json_num(j, "direct_avx512_of_peak", gf(r->flop, r->t_direct) / peak);
        bench_json_num(j, "direct_avx512_maxdiff_rel", r->diff_direct);
    }
    if (r->t_avx2 > 0) {
        bench_json_num(j, "direct_avx2_s", r->t_avx2);
        bench_json_num(j, "direct_avx2_of_peak", gf(r->flop, r->t_avx2) / peak);
        bench_json_num(j, "direct_avx2_maxdiff_rel", r->diff_avx2);
    }
    if (r->t_rows > 0) {
        bench_json_num(j, "proto_rows_s", r->t_rows);
        bench_json_num(j, "proto_rows_of_peak", gf(r->flop, r->t_rows) / peak);
        bench_json_num(j, "proto_rows_maxdiff_rel", r->diff_rows);
    }
    if (r->t_shifted > 0) {
        bench_json_num(j, "proto_shifted_s", r->t_shifted);
        bench_json_num(j, "proto_shifted_of_peak", gf(r->flop, r->t_shifted) / peak);
        bench_json_num(j, "proto_shifted_maxdiff_rel", r->diff_shifted);
    }
    if (r->t_dnnl > 0) {
        bench_json_str(j, "dnnl_impl", r->dnnl_impl);
        bench_json_num(j, "dnnl_s", r->t_dnnl);
        if (r->t_dnnl_direct > 0) {
            bench_json_num(j, "dnnl_direct_s", r->t_dnnl_direct);
            bench_json_num(j, "dnnl_direct_of_peak", gf(r->flop, r->t_dnnl_direct) / peak);
            bench_json_num(j, "ours_over_dnnl_direct_speed", r->t_dnnl_direct / r->t_ours);
        }
        if (r->t_dnnl_wino > 0)
            bench_json_num(j, "dnnl_winograd_s", r->t_dnnl_wino);
        bench_json_num(j, "dnnl_reorders_s", r->t_dnnl_reorders);
        bench_json_num(j, "dnnl_gflops", gf(r->flop, r->t_dnnl));
        bench_json_num(j, "dnnl_of_peak", gf(r->flop, r->t_dnnl) / peak);
        bench_json_num(j, "ours_over_dnnl_speed", r->t_dnnl / r->t_ours);
        bench_json_num(j, "ours_over_dnnl_with_reorders_speed",
                       (r->t_dnnl + r->t_dnnl_reorders) / r->t_ours);
        bench_json_num(j, "dnnl_maxdiff_rel", r->diff_dnnl);
        bench_json_num(j, "dnnl_l2diff_rel", r->l2_dnnl);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_conv [--batches 1,8] [--layers 0,1,...,12] [--reps R] "
                    "[--ranks r0,...,r12] [--group-cols C] [--no-lowrank] [--no-dnnl] "
                    "[--no-proto] "
                    "[--json FILE]\n");
    exit(2);
}

typedef struct {
    conv_result full, a, b; /* the layer, and its low-rank pair */
    int64_t dprime;         /* the pair's rank; 0: the layer is kept whole */
} layer_rows;

int main(int argc, char **argv)
{
    bench_blas_check("bench_conv");
    long long batches[MAXV] = {1, 8}, layers[MAXV], ranks[MAXV];
    int nb = 2, nl = 13, lowrank = 1, nr = 0;
    for (int i = 0; i < 13; i++)
        layers[i] = i;
    options o = {3, 1, 1, 4096};
    const char *json = "bench_conv.json";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-lowrank"))
            lowrank = 0;
        else if (!strcmp(argv[i], "--no-dnnl"))
            o.dnnl = 0;
        else if (!strcmp(argv[i], "--no-proto"))
            o.proto = 0;
        else if (i + 1 >= argc)
            usage();
        else if (!strcmp(argv[i], "--batches"))
            nb = bench_parse_list(argv[++i], batches, MAXV);
        else if (!strcmp(argv[i], "--layers"))
            nl = bench_parse_list(argv[++i], layers, MAXV);
        else if (!strcmp(argv[i], "--ranks"))
            nr = bench_parse_list(argv[++i], ranks, MAXV);
        else if (!strcmp(argv[i], "--reps"))
            o.reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--group-cols"))
            o.group_cols = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = argv[++i];
        else
            usage();
    }
    if (nb < 1 || nl < 1 || o.reps < 1 || o.group_cols < 1)
        usage();
    for (int i = 0; i < nl; i++)
        if (layers[i] < 0 || layers[i] > 12)
            usage();
    if (nr != 0 && nr != 13)
        usage(); /* --ranks: one per VGG-16 conv, whatever --layers picks */

    __builtin_cpu_init();
    openblas_set_num_threads(1);
    void *dctx = NULL;
#ifdef LRC_BENCH_HAVE_DNNL
    dnnl_ctx dx;
    /* oneDNN's Debian build runs on GNU OpenMP: one thread, like ours */
    omp_set_num_threads(1);
    if (o.dnnl) {
        DNNL_CHECK(dnnl_engine_create(&dx.eng, dnnl_cpu, 0));
        DNNL_CHECK(dnnl_stream_create(&dx.strm, dx.eng, dnnl_stream_default_flags));
        dctx = &dx;
    }
    const dnnl_version_t *dv = dnnl_version();
    char dnnl_ver[64];
    snprintf(dnnl_ver, sizeof dnnl_ver, "%d.%d.%d (OpenMP, %d thread)", dv->major,
             dv->minor, dv->patch, omp_get_max_threads());
#else
    o.dnnl = 0;
    const char *dnnl_ver = "not built (install libdnnl-dev and reconfigure)";
#endif

    /* --reps passes over everything, one untimed and one timed run of each
     * figure per pass, keeping the best: a burst of load from elsewhere
     * then spoils one pass of a figure, not all of its runs. The ceiling,
     * the one-thread sgemm on large squares (best of the two sizes), is
     * measured in every pass too. */
    double peak = 0.0;
    const int64_t peak_n[2] = {2048, 4096};
    layer_rows *all = bench_alloc((size_t)(nb * nl), sizeof *all, "results");
    for (int pass = 0; pass < o.reps; pass++) {
        for (int i = 0; i < 2; i++) {
            double g = bench_sgemm_gflops(peak_n[i], 1, 1);
            if (g > peak)
                peak = g;
        }
        openblas_set_num_threads(1);
        for (int bi = 0; bi < nb; bi++)
            for (int li = 0; li < nl; li++) {
                const vgg_shape *s = &VGG16[layers[li]];
                const uint64_t seed = 1000 * (uint64_t)layers[li];
                const int64_t n = batches[bi];
                layer_rows *w = &all[bi * nl + li];
                conv_result r;
                measure(&o, dctx, n, s->c, s->d, s->hw, 3, seed, &r);
                merge(&w->full, &r, pass == 0);
                if (lowrank) {
                    w->dprime = nr ? ranks[layers[li]] : s->d / 4;
                    if (w->dprime <= 0 || w->dprime >= s->d) {
                        /* kept whole: the "pair" is the layer itself */
                        w->dprime = 0;
                        w->a = w->full;
                        memset(&w->b, 0, sizeof w->b);
                    } else {
                        measure(&o, dctx, n, s->c, w->dprime, s->hw, 3, seed + 100, &r);
                        merge(&w->a, &r, pass == 0);
                        measure(&o, dctx, n, w->dprime, s->d, s->hw, 1, seed + 200, &r);
                        merge(&w->b, &r, pass == 0);
                    }
                }
                fprintf(stderr, "bench_conv: pass %d of %d, batch %lld: %s done\n",
                        pass + 1, o.reps, (long long)n, s->name);
            }
    }
    printf("bench_conv: VGG-16 conv shapes at 224x224, 3x3 pad 1 stride 1, 1 thread, "
           "best of %d passes\n", o.reps);
    printf("  sgemm peak (1 thread, n = 2048/4096): %.1f GFLOP/s; oneDNN %s\n", peak,
           dnnl_ver);

    bench_json j;
    if (bench_json_open(&j, json))
        return 1;
    bench_json_str(&j, "benchmark", "bench_conv");
    bench_json_machine(&j);
    bench_json_int(&j, "reps", o.reps);
    bench_json_num(&j, "sgemm_peak_gflops_1thread", peak);
    bench_json_str(&j, "dnnl", dnnl_ver);
    bench_json_int(&j, "group_cols", o.group_cols);
    bench_json_begin_array(&j, "batches");

    for (int bi = 0; bi < nb; bi++) {
        const int64_t n = batches[bi];
        const layer_rows *rows = all + bi * nl;

        /* table 1: ours vs peak and oneDNN */
        printf("\n  batch %lld: ours (a one-layer openblas plan) vs the sgemm peak and oneDNN\n",
               (long long)n);
        printf("  %-8s %-9s %4s %7s | %8s %7s %5s | %8s %7s %5s %6s | %6s %6s | %8s | %s\n",
               "layer", "c->d", "hw", "GFLOP", "ours ms", "GFLOP/s", "peak", "dnnl ms",
               "GFLOP/s", "peak", "ours/", "direct", "ours/", "maxdiff",
               "oneDNN's fastest");
        printf("  %-8s %-9s %4s %7s | %8s %7s %5s | %8s %7s %5s %6s | %6s %6s | %8s |\n",
               "", "", "", "", "", "", "", "", "", "", "dnnl", "peak", "direct", "");
        /* flop, ours, dnnl, dnnl reorders, im2col, gemm, batched, shifted,
         * dnnl direct, rows, fastest per layer, winograd backend, lowered,
         * avx512 direct, avx2 direct */
        double T[15] = {0};
        for (int li = 0; li < nl; li++) {
            const vgg_shape *s = &VGG16[layers[li]];
            const conv_result *r = &rows[li].full;
            char cd[32];
            snprintf(cd, sizeof cd, "%lld->%lld", (long long)s->c, (long long)s->d);
            printf("  %-8s %-9s %4lld %7.2f | %8.2f %7.1f %4.0f%% |", s->name, cd,
                   (long long)s->hw, r->flop / 1e9, 1e3 * r->t_ours, gf(r->flop, r->t_ours),
                   100 * gf(r->flop, r->t_ours) / peak);
            if (r->t_dnnl > 0)
                printf(" %8.2f %7.1f %4.0f%% %6.2f | %5.0f%% %6.2f | %8.1e | %s\n",
                       1e3 * r->t_dnnl, gf(r->flop, r->t_dnnl),
                       100 * gf(r->flop, r->t_dnnl) / peak, r->t_dnnl / r->t_ours,
                       100 * gf(r->flop, r->t_dnnl_direct) / peak,
                       r->t_dnnl_direct / r->t_ours, r->diff_dnnl, r->dnnl_impl);
            else
                printf(" %8s %7s %5s %6s | %6s %6s | %8s |\n", "-", "-", "-", "-", "-",
                       "-", "-");
            T[0] += r->flop;
            T[1] += r->t_ours;
            T[2] += r->t_dnnl;
            T[3] += r->t_dnnl_reorders;
            T[4] += r->t_im2col;
            T[5] += r->t_gemm;
            T[6] += r->t_batched > 0 ? r->t_batched : r->t_ours;
            T[7] += r->t_shifted > 0 ? r->t_shifted : r->t_ours;
            T[8] += r->t_dnnl_direct;
            T[9] += r->t_rows > 0 ? r->t_rows : r->t_ours;
            T[12] += r->t_lowered;
            T[13] += r->t_direct > 0 ? r->t_direct : r->t_ours;
            T[14] += r->t_avx2 > 0 ? r->t_avx2 : r->t_ours;
        }
        printf("  %-8s %-9s %4s %7.2f | %8.2f %7.1f %4.0f%% |", "stack", "", "",
               T[0] / 1e9, 1e3 * T[1], gf(T[0], T[1]), 100 * gf(T[0], T[1]) / peak);
        if (T[2] > 0)
            printf(" %8.2f %7.1f %4.0f%% %6.2f | %5.0f%% %6.2f | %8s |\n", 1e3 * T[2],
                   gf(T[0], T[2]), 100 * gf(T[0], T[2]) / peak, T[2] / T[1],
                   100 * gf(T[0], T[8]) / peak, T[8] / T[1], "");
        else
            printf("\n");
        if (T[2] > 0)
            printf("  oneDNN with the reorders from and to NCHW around each conv: %.2f ms, "
                   "ours/dnnl %.2f\n", 1e3 * (T[2] + T[3]), (T[2] + T[3]) / T[1]);
        printf("  the lowering alone (im2col + sgemm, lrc_layer_forward before its direct "
               "kernel): %.2f ms, %.0f%% of peak; ours over it %.2fx\n", 1e3 * T[12],
               100 * gf(T[0], T[12]) / peak, T[12] / T[1]);
        printf("  (peak: fraction of the sgemm peak; ours/dnnl, ours/direct: our speed over "
               "oneDNN's, >1 = ours faster; maxdiff: max |ours - oneDNN| / max |ours|)\n");

        /* table 1b: the winograd backend */
        {
            double tw_all = 0, tdnnl_all = 0; /* winograd backend, oneDNN */
            printf("\n  batch %lld: Winograd forced (F(4x4, 3x3); F(2x2, 3x3) below 49 "
                   "tiles of 4 x 4), and the winograd "
                   "backend (Winograd where its rule says, ours elsewhere)\n",
                   (long long)n);
            printf("  %-8s | %8s %7s %5s %6s %8s | %5s | %8s %7s\n", "layer",
                   "wino ms", "eff GF/s", "peak", "/ours", "maxdiff", "rule",
                   "backend", "/dnnl");
            for (int li = 0; li < nl; li++) {
                const conv_result *r = &rows[li].full;
                const double tb = r->wino_pays && r->t_wino > 0 ? r->t_wino : r->t_ours;
                printf("  %-8s |", VGG16[layers[li]].name);
                if (r->t_wino > 0)
                    printf(" %8.2f %7.1f %4.0f%% %5.2fx %8.1e |", 1e3 * r->t_wino,
                           gf(r->flop, r->t_wino), 100 * gf(r->flop, r->t_wino) / peak,
                           r->t_ours / r->t_wino, r->diff_wino);
                else
                    printf(" %8s %7s %5s %6s %8s |", "-", "-", "-", "-", "-");
                printf(" %5s | %8.2f", r->wino_pays ? "wino" : "ours", 1e3 * tb);
                if (r->t_dnnl > 0)
                    printf(" %6.2fx\n", r->t_dnnl / tb);
                else
                    printf(" %7s\n", "-");
                tw_all += tb;
                tdnnl_all += r->t_dnnl;
            }
            printf("  %-8s | %8s %7s %5s %6s %8s | %5s | %8.2f", "stack", "", "", "",
                   "", "", "", 1e3 * tw_all);
            if (tdnnl_all > 0)
                printf(" %6.2fx\n", tdnnl_all / tw_all);
            else
                printf("\n");
            printf("  (eff GF/s: the direct conv's flops over Winograd's time; /ours: "
                   "speed over ours, the openblas backend's path; backend: the winograd "
                   "backend's time; /dnnl: its speed over oneDNN's fastest, >1 = ours "
                   "faster)\n");
            T[11] = tw_all;
        }

        if (o.proto) {
            printf("\n  batch %lld: the lowering's split, three prototypes and the "
                   "library's algorithms (fraction of the sgemm peak)\n", (long long)n);
            printf("  %-8s | %8s %8s %6s %6s | %7s %6s | %7s %7s %7s | %6s %6s | %6s | "
                   "%8s\n", "layer", "im2col", "sgemm", "im2col", "sgemm", "lowered",
                   "sgemm", "batched", "rows", "shifted", "avx512", "avx2", "ours",
                   "maxdiff");
            printf("  %-8s | %8s %8s %6s %6s | %7s %6s | %7s %7s %7s | %6s %6s | %6s | "
                   "%8s\n", "", "ms", "ms", "share", "share", "peak", "peak", "peak",
                   "peak", "peak", "peak", "peak", "peak", "from ours");
            for (int li = 0; li < nl; li++) {
                const conv_result *r = &rows[li].full;
                double md = r->diff_batched;
                if (r->diff_rows > md)
                    md = r->diff_rows;
                if (r->diff_shifted > md)
                    md = r->diff_shifted;
                if (r->diff_lowered > md)
                    md = r->diff_lowered;
                if (r->diff_direct > md)
                    md = r->diff_direct;
                if (r->diff_avx2 > md)
                    md = r->diff_avx2;
                printf("  %-8s | %8.2f %8.2f %5.0f%% %5.0f%% |", VGG16[layers[li]].name,
                       1e3 * r->t_im2col, 1e3 * r->t_gemm,
                       100 * r->t_im2col / r->t_lowered, 100 * r->t_gemm / r->t_lowered);
                cell_pct(7, r->flop, r->t_lowered, peak);
                cell_pct(6, r->flop, r->t_gemm, peak);
                printf(" |");
                cell_pct(7, r->flop, r->t_batched, peak);
                cell_pct(7, r->flop, r->t_rows, peak);
                cell_pct(7, r->flop, r->t_shifted, peak);
                printf(" |");
                cell_pct(6, r->flop, r->t_direct, peak);
                cell_pct(6, r->flop, r->t_avx2, peak);
                printf(" |");
                cell_pct(6, r->flop, r->t_ours, peak);
                printf(" | %8.1e\n", md);
            }
            double best = 0;
            for (int li = 0; li < nl; li++)
                best += best_time(&rows[li].full);
            printf("  %-8s | %8.2f %8.2f %5.0f%% %5.0f%% | %6.0f%% %5.0f%% | %6.0f%% "
                   "%6.0f%% %6.0f%% | %5.0f%% %5.0f%% | %5.0f%% |\n", "stack", 1e3 * T[4],
                   1e3 * T[5], 100 * T[4] / T[12], 100 * T[5] / T[12],
                   100 * gf(T[0], T[12]) / peak, 100 * gf(T[0], T[5]) / peak,
                   100 * gf(T[0], T[6]) / peak, 100 * gf(T[0], T[9]) / peak,
                   100 * gf(T[0], T[7]) / peak, 100 * gf(T[0], T[13]) / peak,
                   100 * gf(T[0], T[14]) / peak, 100 * gf(T[0], T[1]) / peak);
            printf("  stack speed over the lowering: ours (the algorithm "
                   "the openblas backend runs per layer) %.2fx, batched %.2fx, rows %.2fx, "
                   "shifted %.2fx, avx512 %.2fx, avx2 %.2fx, the fastest per layer "
                   "%.2fx (%.0f%% of peak)\n", T[12] / T[1], T[12] / T[6], T[12] / T[9],
                   T[12] / T[7], T[12] / T[13], T[12] / T[14], T[12] / best,
                   100 * gf(T[0], best) / peak);
            printf("  (lowered: the library's im2col + sgemm; avx512, avx2: its direct "
                   "kernels, each forced; ours: a one-layer openblas plan; a prototype or kernel "
                   "that does not apply counts at our time in the stack; maxdiff: "
                   "largest max |x - ours| / max |ours|)\n");
            T[10] = best;
        }

        /* flop full, flop pair, ours full, ours pair, dnnl full, dnnl pair,
         * best pair, best full, lowered full, lowered pair */
        double L[10] = {0};
        if (lowrank) {
            printf("\n  batch %lld: the low-rank pair (%s): k x k conv c->d' (A) then 1x1 "
                   "conv d'->d (B)\n", (long long)n,
                   nr ? "d' from --ranks, - = kept whole" : "d' = d/4, as at 4x");
            printf("  %-8s %4s | %45s | %29s | %6s | %14s | %14s | %14s | %14s\n", "",
                   "", "A: fraction of sgemm peak", "B: fraction of peak", "theory",
                   "ours", "lowered", "best lowering", "oneDNN");
            printf("  %-8s %4s | %6s %7s %6s %6s %7s %7s | %6s %7s %6s %7s | %6s | %6s %7s | "
                   "%6s %7s | %6s %7s | %6s %7s\n", "layer", "d'", "ours", "lowered",
                   "avx512", "avx2", "dnnl-dir", "dnnl", "ours", "lowered", "best", "dnnl", "",
                   "speed", "/theory", "speed", "/theory", "speed", "/theory", "speed",
                   "/theory");
            for (int li = 0; li < nl; li++) {
                const layer_rows *w = &rows[li];
                const double flr = w->a.flop + w->b.flop, th = w->full.flop / flr;
                const double tlr = w->a.t_ours + w->b.t_ours;
                const double tll = w->a.t_lowered + w->b.t_lowered;
                const double dlr = w->a.t_dnnl + w->b.t_dnnl;
                const double ab = best_time(&w->a), bb = best_time(&w->b);
                const double sb = best_time(&w->full) / (ab + bb);
                printf("  %-8s", VGG16[layers[li]].name);
                if (w->dprime > 0)
                    printf(" %4lld |", (long long)w->dprime);
                else
                    printf(" %4s |", "-");
                cell_pct(6, w->a.flop, w->a.t_ours, peak);
                cell_pct(7, w->a.flop, w->a.t_lowered, peak);
                cell_pct(6, w->a.flop, w->a.t_direct, peak);
                cell_pct(6, w->a.flop, w->a.t_avx2, peak);
                cell_pct(7, w->a.flop, w->a.t_dnnl_direct, peak);
                cell_pct(7, w->a.flop, w->a.t_dnnl, peak);
                printf(" |");
                cell_pct(6, w->b.flop, w->b.t_ours, peak);
                cell_pct(7, w->b.flop, w->b.t_lowered, peak);
                cell_pct(6, w->b.flop, bb, peak);
                cell_pct(7, w->b.flop, w->b.t_dnnl, peak);
                printf(" | %5.2fx | %5.2fx %6.0f%% | %5.2fx %6.0f%% | %5.2fx %6.0f%% |", th,
                       w->full.t_ours / tlr, 100 * w->full.t_ours / tlr / th,
                       w->full.t_lowered / tll, 100 * w->full.t_lowered / tll / th, sb,
                       100 * sb / th);
                if (dlr > 0)
                    printf(" %5.2fx %6.0f%%\n", w->full.t_dnnl / dlr,
                           100 * w->full.t_dnnl / dlr / th);
                else
                    printf(" %6s %7s\n", "-", "-");
                L[0] += w->full.flop;
                L[1] += flr;
                L[2] += w->full.t_ours;
                L[3] += tlr;
                L[4] += w->full.t_dnnl;
                L[5] += dlr;
                L[6] += ab + bb;
                L[7] += best_time(&w->full);
                L[8] += w->full.t_lowered;
                L[9] += tll;
            }
            const double th = L[0] / L[1];
            printf("  %-8s %4s | %45s | %29s | %5.2fx | %5.2fx %6.0f%% | %5.2fx %6.0f%% | "
                   "%5.2fx %6.0f%% |", "stack", "", "", "", th, L[2] / L[3],
                   100 * L[2] / L[3] / th, L[8] / L[9], 100 * L[8] / L[9] / th,
                   L[7] / L[6], 100 * L[7] / L[6] / th);
            if (L[5] > 0)
                printf(" %5.2fx %6.0f%%\n", L[4] / L[5], 100 * L[4] / L[5] / th);
            else
                printf(" %6s %7s\n", "-", "-");
            printf("  (lowered: the library's im2col + sgemm, as lrc_layer_forward ran every "
                   "conv before its direct kernel; avx512, avx2: the direct kernels forced; "
                   "dnnl-dir: oneDNN's direct algorithm, dnnl: its fastest; theory: "
                   "multiply-adds of the layer over its pair's; speed: measured time of the "
                   "layer over its pair's, each side with that implementation; best "
                   "lowering: the fastest of ours, the library's algorithms and the "
                   "prototypes for each conv)\n");
        }

        bench_json_begin_object(&j, NULL);
        bench_json_int(&j, "batch", n);
        bench_json_begin_array(&j, "layers");
        for (int li = 0; li < nl; li++) {
            const vgg_shape *s = &VGG16[layers[li]];
            bench_json_begin_object(&j, NULL);
            bench_json_str(&j, "name", s->name);
            bench_json_int(&j, "c", s->c);
            bench_json_int(&j, "d", s->d);
            bench_json_int(&j, "hw", s->hw);
            json_result(&j, &rows[li].full, peak);
            if (lowrank) {
                const layer_rows *w = &rows[li];
                bench_json_begin_object(&j, "lowrank");
                bench_json_int(&j, "d_prime", w->dprime);
                bench_json_num(&j, "theoretical_speedup",
                               w->full.flop / (w->a.flop + w->b.flop));
                bench_json_num(&j, "ours_speedup",
                               w->full.t_ours / (w->a.t_ours + w->b.t_ours));
                if (w->a.t_dnnl > 0 && w->b.t_dnnl > 0)
                    bench_json_num(&j, "dnnl_speedup",
                                   w->full.t_dnnl / (w->a.t_dnnl + w->b.t_dnnl));
                bench_json_begin_object(&j, "A_kxk");
                json_result(&j, &w->a, peak);
                bench_json_end_object(&j);
                if (w->dprime > 0) {
                    bench_json_begin_object(&j, "B_1x1");
                    json_result(&j, &w->b, peak);
                    bench_json_end_object(&j);
                }
                bench_json_end_object(&j);
            }
            bench_json_end_object(&j);
        }
        bench_json_end_array(&j);
        bench_json_begin_object(&j, "stack");
        bench_json_num(&j, "gflop", T[0] / 1e9);
        bench_json_num(&j, "ours_s", T[1]);
        bench_json_num(&j, "ours_of_peak", gf(T[0], T[1]) / peak);
        bench_json_num(&j, "lowered_s", T[12]);
        bench_json_num(&j, "winograd_backend_s", T[11]);
        bench_json_num(&j, "lowered_of_peak", gf(T[0], T[12]) / peak);
        if (T[2] > 0) {
            bench_json_num(&j, "dnnl_s", T[2]);
            bench_json_num(&j, "dnnl_reorders_s", T[3]);
            bench_json_num(&j, "dnnl_of_peak", gf(T[0], T[2]) / peak);
            bench_json_num(&j, "ours_over_dnnl_speed", T[2] / T[1]);
            bench_json_num(&j, "ours_over_dnnl_with_reorders_speed", (T[2] + T[3]) / T[1]);
            bench_json_num(&j, "dnnl_direct_s", T[8]);
            bench_json_num(&j, "dnnl_direct_of_peak", gf(T[0], T[8]) / peak);
            bench_json_num(&j, "ours_over_dnnl_direct_speed", T[8] / T[1]);
        }
        if (o.proto) {
            bench_json_num(&j, "im2col_s", T[4]);
            bench_json_num(&j, "sgemm_s", T[5]);
            bench_json_num(&j, "proto_batched_s", T[6]);
            bench_json_num(&j, "proto_shifted_s", T[7]);
            bench_json_num(&j, "proto_rows_s", T[9]);
            bench_json_num(&j, "direct_avx512_s", T[13]);
            bench_json_num(&j, "direct_avx2_s", T[14]);
            bench_json_num(&j, "fastest_lowering_per_layer_s", T[10]);
        }
        if (lowrank) {
            bench_json_num(&j, "lowrank_theoretical_speedup", L[0] / L[1]);
            bench_json_num(&j, "lowrank_ours_speedup", L[2] / L[3]);
            bench_json_num(&j, "lowrank_lowered_speedup", L[8] / L[9]);
            if (L[5] > 0)
                bench_json_num(&j, "lowrank_dnnl_speedup", L[4] / L[5]);
            if (o.proto)
                bench_json_num(&j, "lowrank_fastest_lowering_speedup", L[7] / L[6]);
        }
        bench_json_end_object(&j);
        bench_json_end_object(&j);
    }
    bench_json_end_array(&j);
    free(all);
#ifdef LRC_BENCH_HAVE_DNNL
    if (dctx) {
        dnnl_stream_destroy(dx.strm);
        dnnl_engine_destroy(dx.eng);
    }
#endif
    if (bench_json_close(&j))
        return 1;
    printf("\n  figures written to %s\n", json);
    return 0;
}
