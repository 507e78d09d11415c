/* Forward layers against naive loop references on odd shapes.
 *
 * Tolerance: max |lrc - naive| <= 1e-5 * max(1, max |naive|). The naive
 * references accumulate in double, so the bound covers float32 rounding of
 * sgemm over up to 7*7*5 terms. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lrc/forward.h"
#include "lrc/model.h"
#include "forward/forward_impl.h"
#include "fw_test_data.h"
#include "naive_conv.h"

#define TOL 1e-5

/* Deterministic uniform numbers in [-1, 1). */
static double max_abs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i]) > m)
            m = fabs(a[i]);
    return m;
}

static void assert_close(const float *got, const float *want, size_t n)
{
    double scale = fmax(1.0, max_abs(want, n)), worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (e > worst) {
            worst = e;
            at = i;
        }
    }
    if (worst > TOL * scale)
        fail_msg("max error %g at %zu (got %g, want %g) exceeds %g", worst, at,
                 (double)got[at], (double)want[at], TOL * scale);
}

/* A one-layer net shaped for (c, h, w). */
static lrc_net *one_layer(const lrc_layer *proto, int64_t c, int64_t h,
                          int64_t w)
{
    lrc_net *net = NULL;
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    assert_int_equal(lrc_net_append(net, proto), LRC_OK);
    assert_int_equal(lrc_net_set_input(net, c, h, w), LRC_OK);
    return net;
}

static float *run_layer(const lrc_layer *l, const float *in, int64_t n)
{
    size_t outn = (size_t)(n * l->out_shape[0] * l->out_shape[1] * l->out_shape[2]);
    float *out = calloc(outn + 1, sizeof *out);
    float *work = calloc(lrc_layer_workspace(l) + 1, sizeof *work);
    assert_non_null(out);
    assert_non_null(work);
    assert_int_equal(lrc_layer_forward(l, in, n, out, work), LRC_OK);
    free(work);
    return out;
}


typedef struct conv_case {
    int64_t c, h, w, d, kh, kw, sh, sw, pt, pl, pb, pr;
} conv_case;

static void test_conv_shapes(void **state)
{
    (void)state;
    const conv_case cases[] = {
        /* c, h, w, d, kh, kw, sh, sw, pt, pl, pb, pr */
        {1, 9, 13, 4, 3, 3, 1, 1, 1, 1, 1, 1},
        {3, 11, 7, 5, 1, 1, 1, 1, 0, 0, 0, 0},   /* pointwise fast path */
        {5, 12, 17, 6, 5, 5, 1, 1, 2, 2, 2, 2},
        {3, 15, 10, 2, 7, 7, 2, 2, 2, 2, 2, 2},
        {5, 8, 9, 3, 3, 3, 2, 2, 0, 0, 0, 0},
        {1, 19, 23, 8, 3, 3, 2, 1, 1, 0, 2, 1},  /* asymmetric stride/pads */
        {6, 6, 5, 7, 1, 1, 2, 2, 1, 1, 1, 1},    /* 1x1 with pad and stride */
        {3, 10, 10, 4, 5, 3, 1, 2, 0, 1, 2, 1},  /* non-square kernel */
        {4, 7, 7, 9, 7, 7, 1, 1, 0, 0, 0, 0},    /* kernel = input */
    };
    uint64_t seed = 42;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const conv_case *k = &cases[t];
        lrc_layer p;
        memset(&p, 0, sizeof p);
        p.op = LRC_OP_CONV;
        p.in_c = k->c;
        p.out_c = k->d;
        p.kh = k->kh;
        p.kw = k->kw;
        p.sh = k->sh;
        p.sw = k->sw;
        p.pt = k->pt;
        p.pl = k->pl;
        p.pb = k->pb;
        p.pr = k->pr;
        p.weight = rand_floats((size_t)(k->d * k->c * k->kh * k->kw), &seed);
        p.bias = rand_floats((size_t)k->d, &seed);
        lrc_net *net = one_layer(&p, k->c, k->h, k->w);
        const lrc_layer *l = lrc_net_layer(net, 0);
        /* the ONNX/PyTorch output size */
        assert_int_equal(l->out_shape[1], (k->h + k->pt + k->pb - k->kh) / k->sh + 1);
        assert_int_equal(l->out_shape[2], (k->w + k->pl + k->pr - k->kw) / k->sw + 1);
        const int64_t n = 3;
        float *in = rand_floats((size_t)(n * k->c * k->h * k->w), &seed);
        float *got = run_layer(l, in, n);
        size_t outn = (size_t)(n * k->d * l->out_shape[1] * l->out_shape[2]);
        float *want = calloc(outn, sizeof *want);
        assert_non_null(want);
        double *ref = naive_conv_new(l, in, n);
        for (size_t i = 0; i < outn; i++)
            want[i] = (float)ref[i];
        free(ref);
        assert_close(got, want, outn);
        free(in);
        free(got);
        free(want);
        free(p.weight);
        free(p.bias);
        lrc_net_destroy(&net);
        assert_null(net);
    }
}

static void naive_pool(const lrc_layer *l, const float *in, int64_t n,
                       float *out, int is_max)
{
    const int64_t c = l->in_shape[0], h = l->in_shape[1], w = l->in_shape[2];
    const int64_t ho = l->out_shape[1], wo = l->out_shape[2];
    for (int64_t b = 0; b < n * c; b++)
        for (int64_t y = 0; y < ho; y++)
            for (int64_t x = 0; x < wo; x++) {
                double m = -DBL_MAX, s = 0;
                int64_t cnt = 0, padded = 0;
                for (int64_t i = 0; i < l->kh; i++)
                    for (int64_t j = 0; j < l->kw; j++) {
                        int64_t iy = y * l->sh - l->pt + i, ix = x * l->sw - l->pl + j;
                        if (iy >= -l->pt && iy < h + l->pb && ix >= -l->pl &&
                            ix < w + l->pr)
                            padded++;
                        if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                            continue;
                        double v = in[(b * h + iy) * w + ix];
                        m = v > m ? v : m;
                        s += v;
                        cnt++;
                    }
                out[(b * ho + y) * wo + x] =
                    is_max ? (float)m
                           : (float)(s / (double)(l->count_include_pad ? padded : cnt));
            }
}

static void pool_case(lrc_op op, int64_t c, int64_t h, int64_t w, int64_t k,
                      int64_t s, int64_t pad, int ceil_mode, int incl,
                      int64_t want_h, int64_t want_w)
{
    uint64_t seed = (uint64_t)(h * 131 + w * 7 + k);
    lrc_layer p;
    memset(&p, 0, sizeof p);
    p.op = op;
    p.kh = p.kw = k;
    p.sh = p.sw = s;
    p.pt = p.pl = p.pb = p.pr = pad;
    p.ceil_mode = ceil_mode;
    p.count_include_pad = incl;
    lrc_net *net = one_layer(&p, c, h, w);
    const lrc_layer *l = lrc_net_layer(net, 0);
    assert_int_equal(l->out_shape[1], want_h);
    assert_int_equal(l->out_shape[2], want_w);
    const int64_t n = 2;
    float *in = rand_floats((size_t)(n * c * h * w), &seed);
    float *got = run_layer(l, in, n);
    size_t outn = (size_t)(n * c * want_h * want_w);
    float *want = calloc(outn, sizeof *want);
    naive_pool(l, in, n, want, op == LRC_OP_MAXPOOL);
    assert_close(got, want, outn);
    if (op == LRC_OP_MAXPOOL) /* a max is exact */
        assert_memory_equal(got, want, outn * sizeof *got);
    free(in);
    free(got);
    free(want);
    lrc_net_destroy(&net);
}

static void test_pooling(void **state)
{
    (void)state;
    /* expected sizes from PyTorch's formulas for the same arguments */
    pool_case(LRC_OP_MAXPOOL, 3, 28, 28, 2, 2, 0, 0, 0, 14, 14);
    pool_case(LRC_OP_MAXPOOL, 2, 7, 9, 2, 2, 0, 0, 0, 3, 4);
    pool_case(LRC_OP_MAXPOOL, 2, 7, 9, 2, 2, 0, 1, 0, 4, 5);   /* ceil */
    pool_case(LRC_OP_MAXPOOL, 3, 16, 70, 2, 2, 0, 0, 0, 8, 35); /* long rows */
    pool_case(LRC_OP_MAXPOOL, 2, 9, 37, 2, 2, 0, 1, 0, 5, 19); /* ceil, long */
    pool_case(LRC_OP_MAXPOOL, 2, 8, 36, 2, 2, 1, 0, 0, 5, 19); /* padded: generic */
    pool_case(LRC_OP_MAXPOOL, 1, 6, 11, 3, 2, 1, 1, 0, 4, 6);  /* ceil + pad */
    pool_case(LRC_OP_MAXPOOL, 4, 13, 10, 3, 2, 1, 0, 0, 7, 5);
    pool_case(LRC_OP_AVGPOOL, 3, 9, 8, 3, 2, 1, 0, 0, 5, 4);   /* excl. pad */
    pool_case(LRC_OP_AVGPOOL, 3, 9, 8, 3, 2, 1, 0, 1, 5, 4);   /* incl. pad */
    pool_case(LRC_OP_AVGPOOL, 2, 10, 7, 2, 2, 0, 1, 1, 5, 4);  /* ceil */
    pool_case(LRC_OP_AVGPOOL, 5, 5, 5, 5, 1, 0, 0, 0, 1, 1);
}

static void test_globalavgpool(void **state)
{
    (void)state;
    lrc_layer p;
    memset(&p, 0, sizeof p);
    p.op = LRC_OP_GLOBALAVGPOOL;
    lrc_net *net = one_layer(&p, 3, 5, 7);
    const lrc_layer *l = lrc_net_layer(net, 0);
    float in[2 * 3 * 35];
    for (int i = 0; i < 2 * 3 * 35; i++)
        in[i] = (float)i;
    float *got = run_layer(l, in, 2);
    for (int b = 0; b < 6; b++) /* mean of 35 consecutive integers */
        assert_float_equal(got[b], 35.0 * b + 17.0, 1e-4);
    free(got);
    lrc_net_destroy(&net);
}

/* A layer with no parameters: ReLU, softmax, flatten, 2x2 max pooling of
 * stride 2. */
static lrc_layer plain(lrc_op op)
{
    lrc_layer l;
    memset(&l, 0, sizeof l);
    l.op = op;
    if (op == LRC_OP_MAXPOOL)
        l.kh = l.kw = l.sh = l.sw = 2;
    if (op == LRC_OP_FLATTEN)
        l.flatten_check = -1;
    return l;
}

/* A layer with random weights (the caller frees): a dense layer, or a
 * 3x3 conv of stride 1 and pads 1. */
static lrc_layer weighted(lrc_op op, int64_t in_c, int64_t out_c, uint64_t *seed)
{
    lrc_layer l;
    memset(&l, 0, sizeof l);
    l.op = op;
    l.in_c = in_c;
    l.out_c = out_c;
    l.kh = l.kw = op == LRC_OP_CONV ? 3 : 1;
    if (op == LRC_OP_CONV) {
        l.sh = l.sw = 1;
        l.pt = l.pl = l.pb = l.pr = 1;
    }
    l.weight = rand_floats((size_t)(out_c * in_c * l.kh * l.kw), seed);
    l.bias = rand_floats((size_t)out_c, seed);
    return l;
}

static void test_dense_softmax_flatten(void **state)
{
    (void)state;
    uint64_t seed = 7;
    lrc_net *net = NULL;
    lrc_layer fl = plain(LRC_OP_FLATTEN), dn = weighted(LRC_OP_DENSE, 2 * 3 * 5, 11, &seed),
              sm = plain(LRC_OP_SOFTMAX);
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    assert_int_equal(lrc_net_append(net, &fl), LRC_OK);
    assert_int_equal(lrc_net_append(net, &dn), LRC_OK);
    assert_int_equal(lrc_net_append(net, &sm), LRC_OK);
    assert_int_equal(lrc_net_set_input(net, 2, 3, 5), LRC_OK);
    assert_int_equal(lrc_net_output_size(net), 11);
    assert_int_equal(lrc_layer_macs(lrc_net_layer(net, 1)), 330);

    const int64_t n = 9;
    float *in = rand_floats((size_t)n * 30, &seed);
    float *out = calloc((size_t)n * 11, sizeof *out);
    lrc_forward *fw = NULL;
    /* batch 4 over 9 images: chunks of 4, 4, 1 */
    assert_int_equal(lrc_forward_create(net, 0, 3, 4, &fw), LRC_OK);
    assert_int_equal(lrc_forward_run(fw, in, n, out), LRC_OK);
    for (int64_t b = 0; b < n; b++) {
        double z[11], m = -DBL_MAX, s = 0;
        for (int o = 0; o < 11; o++) {
            z[o] = dn.bias[o];
            for (int i = 0; i < 30; i++)
                z[o] += (double)dn.weight[o * 30 + i] * in[b * 30 + i];
            m = z[o] > m ? z[o] : m;
        }
        for (int o = 0; o < 11; o++)
            s += exp(z[o] - m);
        double total = 0;
        for (int o = 0; o < 11; o++) {
            assert_float_equal(out[b * 11 + o], exp(z[o] - m) / s, 1e-6);
            total += out[b * 11 + o];
        }
        assert_float_equal(total, 1.0, 1e-5);
    }
    lrc_forward_destroy(&fw);
    assert_null(fw);
    lrc_forward_destroy(&fw); /* no-op on NULL */
    free(in);
    free(out);
    free(dn.weight);
    free(dn.bias);
    lrc_net_destroy(&net);
}

/* A plan of per-image layers followed by dense layers, on batches of 3
 * over 5 images: the per-image layers run image by image (every image's
 * activations in the last slot of the plan's buffers, the last of them
 * written packed into a buffer for the dense layers, below that slot:
 * with the first slot instead, the second image would overwrite the
 * first's packed output, and this test fails), with activations
 * that grow and shrink between layers. The same bits as the layers applied
 * one by one, batch by batch. */
static void test_plan_image_by_image(void **state)
{
    (void)state;
    uint64_t seed = 5;
    /* c1's output is 3x its input */
    lrc_layer c1 = weighted(LRC_OP_CONV, 2, 6, &seed), r = plain(LRC_OP_RELU),
              mp = plain(LRC_OP_MAXPOOL), c2 = weighted(LRC_OP_CONV, 6, 9, &seed), fl, d1,
              r2 = plain(LRC_OP_RELU), d2;
    fl = plain(LRC_OP_FLATTEN);
    d1 = weighted(LRC_OP_DENSE, 9 * 5 * 4, 7, &seed);
    d2 = weighted(LRC_OP_DENSE, 7, 3, &seed);
    lrc_net *net = NULL;
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    const lrc_layer *ls[8] = {&c1, &r, &mp, &c2, &fl, &d1, &r2, &d2};
    for (int i = 0; i < 8; i++)
        assert_int_equal(lrc_net_append(net, ls[i]), LRC_OK);
    assert_int_equal(lrc_net_set_input(net, 2, 10, 9), LRC_OK);
    const int64_t n = 5, isz = 2 * 90;
    float *in = rand_floats((size_t)(n * isz), &seed);
    float *out = calloc((size_t)(n * 180), sizeof *out); /* the widest end */
    assert_non_null(out);
    for (int64_t last = 5; last <= 8; last += 3) { /* ends at flatten, at d2 */
        lrc_forward *fw = NULL;
        assert_int_equal(lrc_forward_create(net, 0, last, 3, &fw), LRC_OK);
        assert_int_equal(lrc_forward_run(fw, in, n, out), LRC_OK);
        const int64_t *os = lrc_net_layer(net, last - 1)->out_shape;
        const int64_t width = os[0] * os[1] * os[2];
        for (int64_t s0 = 0; s0 < n; s0 += 3) {
            const int64_t m = n - s0 < 3 ? n - s0 : 3;
            float *x = malloc((size_t)(m * isz) * sizeof *x);
            assert_non_null(x);
            memcpy(x, in + s0 * isz, (size_t)(m * isz) * sizeof *x);
            for (int64_t i = 0; i < last; i++) {
                float *y = run_layer(lrc_net_layer(net, i), x, m);
                free(x);
                x = y;
            }
            assert_memory_equal(out + s0 * width, x, (size_t)(m * width) * sizeof *x);
            free(x);
        }
        lrc_forward_destroy(&fw);
    }
    free(in);
    free(out);
    const lrc_layer *owned[4] = {&c1, &c2, &d1, &d2};
    for (int i = 0; i < 4; i++) {
        free(owned[i]->weight);
        free(owned[i]->bias);
    }
    lrc_net_destroy(&net);
}

/* A dense layer on batches of 1 to 9 images (up to 8 read the rows of
 * W^T of the inputs nonzero in some image, more run sgemm; lrc_fw_dense)
 * against a double reference, on inputs of which about 40% are zero, some
 * -0 (as after a ReLU), an input zero in every image (a skipped row), and
 * an image all zero (its outputs: the bias). Shapes with a tail after the
 * 16-wide scan of the inputs and after the 32- and 64-wide blocks of
 * outputs. Up to 8 images: the same bits as each image alone and as the
 * plain loop over W that lrc_layer_forward runs, whatever the CPU. */
static void dense_batches(int K, int O, uint64_t seed)
{
    enum { N = 9 };
    lrc_net *net = NULL;
    lrc_layer fl = plain(LRC_OP_FLATTEN), dn = weighted(LRC_OP_DENSE, K, O, &seed);
    dn.bias[1] = -0.0f; /* an all-zero image keeps its sign */
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    assert_int_equal(lrc_net_append(net, &fl), LRC_OK);
    assert_int_equal(lrc_net_append(net, &dn), LRC_OK);
    assert_int_equal(lrc_net_set_input(net, 1, 1, K), LRC_OK);
    float *in = rand_floats((size_t)N * K, &seed);
    int64_t zeros = 0;
    for (int64_t t = 0; t < (int64_t)N * K; t++) {
        const int64_t b = t / K, j = t % K;
        if (b == 4 || j == 17 || in[t] < -0.2f) /* rand_floats: in [-1, 1) */
            in[t] = (t % 3 == 0) ? -0.0f : 0.0f;
        zeros += in[t] == 0.0f;
    }
    assert_true(zeros > (int64_t)N * K / 3 && zeros < (int64_t)N * K / 2);
    float *out = calloc((size_t)N * O, sizeof *out);
    float *alone = calloc((size_t)N * O, sizeof *alone);
    float *layer = calloc((size_t)N * O, sizeof *layer);
    float *work = calloc(1, sizeof *work);
    assert_non_null(out);
    assert_non_null(alone);
    assert_non_null(layer);
    assert_non_null(work);
    /* outside a plan: the plain loop over W, image by image */
    for (int64_t b = 0; b < N; b++)
        assert_int_equal(lrc_layer_forward(lrc_net_layer(net, 1), in + b * K, 1,
                                           layer + b * O, work),
                         LRC_OK);
    double worst = 0.0, scale = 1.0;
    for (int64_t batch = 1; batch <= N; batch++) {
        lrc_forward *fw = NULL;
        assert_int_equal(lrc_forward_create(net, 0, 2, batch, &fw), LRC_OK);
        if (batch == 1) /* each image alone */
            assert_int_equal(lrc_forward_run(fw, in, N, alone), LRC_OK);
        assert_int_equal(lrc_forward_run(fw, in, batch, out), LRC_OK);
        if (batch <= 8)
            assert_memory_equal(out, alone, (size_t)(batch * O) * sizeof *out);
        for (int64_t b = 0; b < batch; b++)
            for (int o = 0; o < O; o++) {
                double z = dn.bias[o];
                for (int i = 0; i < K; i++)
                    z += (double)dn.weight[(size_t)o * K + i] * in[b * K + i];
                worst = fmax(worst, fabs(out[b * O + o] - z));
                scale = fmax(scale, fabs(z));
                if (b == 4 && batch <= 8) /* an image all zero: the bias, bit
                                             * for bit (sgemm adds +0 to -0) */
                    assert_memory_equal(&out[b * O + o], &dn.bias[o], sizeof(float));
            }
        lrc_forward_destroy(&fw);
    }
    assert_memory_equal(alone, layer, (size_t)N * O * sizeof *out);
    /* the plain loop over W^T, which runs without AVX-512: the same bits,
     * here on all 9 images at once */
    float *wt = calloc(lrc_fw_dense_packed_size(&dn), sizeof *wt);
    assert_non_null(wt);
    lrc_fw_dense_pack(&dn, wt);
    for (int64_t f = 0; f < O; f++)
        for (int64_t j = 0; j < K; j++)
            assert_true(wt[j * O + f] == dn.weight[f * K + j]);
    lrc_fw_dense_plain(&dn, wt, in, N, out);
    assert_memory_equal(out, alone, (size_t)N * O * sizeof *out);
    free(wt);
    assert_true(worst <= TOL * scale);
    free(in);
    free(out);
    free(alone);
    free(layer);
    free(work);
    free(dn.weight);
    free(dn.bias);
    lrc_net_destroy(&net);
}

static void test_dense_batches(void **state)
{
    (void)state;
    dense_batches(1031, 37, 11); /* outputs: one partial block */
    dense_batches(300, 203, 12); /* three blocks of 64 and a tail of 11 */
    dense_batches(64, 96, 13);   /* whole blocks of 32, not of 64 */
}

/* Chains of layers run as one step by a plan on an AVX-512 CPU
 * (lrc_fw_conv_direct_chain), each over several groups of positions:
 * a low-rank pair (a 3 x 3 conv, then a 1 x 1 conv on its outputs) with
 * its ReLU and a 2 x 2 max pooling (c = 5: groups of 3,072 positions over
 * 60 x 72 = 4,320, a pooling ring of 3,312: it wraps); a pair alone (c =
 * 40, groups of 816 over 30 x 36); a 3 x 3 conv with its ReLU and a
 * pooling (c = 64, groups of 480, a ring of 576), ending the plan.
 * Batches of 2 over 3 images: the same bits as the layers one by one. */
static void test_plan_chains(void **state)
{
    (void)state;
    uint64_t seed = 31;
    lrc_layer a1 = weighted(LRC_OP_CONV, 5, 11, &seed),
              b1 = weighted(LRC_OP_CONV, 11, 40, &seed), r1 = plain(LRC_OP_RELU),
              p1 = plain(LRC_OP_MAXPOOL), a2 = weighted(LRC_OP_CONV, 40, 6, &seed),
              b2 = weighted(LRC_OP_CONV, 6, 64, &seed), r2 = plain(LRC_OP_RELU),
              a3 = weighted(LRC_OP_CONV, 64, 7, &seed), r3 = plain(LRC_OP_RELU),
              p3 = plain(LRC_OP_MAXPOOL);
    lrc_layer *pw[2] = {&b1, &b2};
    for (int i = 0; i < 2; i++) { /* 1 x 1, no pads */
        pw[i]->kh = pw[i]->kw = 1;
        pw[i]->pt = pw[i]->pl = pw[i]->pb = pw[i]->pr = 0;
    }
    enum { NL = 10 };
    lrc_net *net = NULL;
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    const lrc_layer *ls[NL] = {&a1, &b1, &r1, &p1, &a2, &b2, &r2, &a3, &r3, &p3};
    for (int i = 0; i < NL; i++)
        assert_int_equal(lrc_net_append(net, ls[i]), LRC_OK);
    assert_int_equal(lrc_net_set_input(net, 5, 60, 72), LRC_OK);
    const int64_t n = 3, isz = 5 * 60 * 72;
    float *in = rand_floats((size_t)(n * isz), &seed);
    const size_t outn = (size_t)(n * lrc_net_output_size(net));
    float *out = calloc(outn, sizeof *out);
    assert_non_null(out);
    lrc_forward *fw = NULL;
    assert_int_equal(lrc_forward_create(net, 0, NL, 2, &fw), LRC_OK);
    int64_t chains, pairs, pools;
    lrc_fw_plan_chains(fw, &chains, &pairs, &pools);
    if (lrc_fw_conv_cpu_has(LRC_CONV_DIRECT_AVX512)) {
        assert_int_equal(chains, 3);
        assert_int_equal(pairs, 2);
        assert_int_equal(pools, 2);
    } else {
        assert_int_equal(chains, 0);
        print_message("[  NOTE    ] no AVX-512 on this CPU: chains of layers "
                      "not tested\n");
    }
    assert_int_equal(lrc_forward_run(fw, in, n, out), LRC_OK);
    float *x = malloc((size_t)(n * isz) * sizeof *x);
    assert_non_null(x);
    memcpy(x, in, (size_t)(n * isz) * sizeof *x);
    for (int64_t i = 0; i < NL; i++) {
        float *y = run_layer(lrc_net_layer(net, i), x, n);
        free(x);
        x = y;
    }
    assert_memory_equal(out, x, outn * sizeof *out);
    lrc_forward_destroy(&fw);
    free(x);
    free(in);
    free(out);
    const lrc_layer *owned[5] = {&a1, &b1, &a2, &b2, &a3};
    for (int i = 0; i < 5; i++) {
        free(owned[i]->weight);
        free(owned[i]->bias);
    }
    lrc_net_destroy(&net);
}

/* A conv-relu-pool-conv chain through a plan with a batch smaller than n
 * (the conv and its ReLU fused) equals the layers applied one by one,
 * bitwise. */
static void test_plan_matches_layers(void **state)
{
    (void)state;
    uint64_t seed = 99;
    lrc_layer c1 = weighted(LRC_OP_CONV, 2, 4, &seed), r = plain(LRC_OP_RELU),
              mp = plain(LRC_OP_MAXPOOL), c2 = weighted(LRC_OP_CONV, 4, 3, &seed);
    lrc_net *net = NULL;
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    const lrc_layer *ls[4] = {&c1, &r, &mp, &c2};
    for (int i = 0; i < 4; i++)
        assert_int_equal(lrc_net_append(net, ls[i]), LRC_OK);
    assert_int_equal(lrc_net_set_input(net, 2, 10, 9), LRC_OK);
    const int64_t n = 5;
    float *in = rand_floats((size_t)n * 2 * 90, &seed);
    size_t outn = (size_t)(n * lrc_net_output_size(net));
    float *out = calloc(outn, sizeof *out);
    lrc_forward *fw = NULL;
    assert_int_equal(lrc_forward_create(net, 0, 4, 2, &fw), LRC_OK);
    assert_int_equal(lrc_forward_run(fw, in, n, out), LRC_OK);
    float *a = run_layer(lrc_net_layer(net, 0), in, n);
    float *b = run_layer(lrc_net_layer(net, 1), a, n);
    float *c = run_layer(lrc_net_layer(net, 2), b, n);
    float *d = run_layer(lrc_net_layer(net, 3), c, n);
    assert_memory_equal(out, d, outn * sizeof(float));
    lrc_forward_destroy(&fw);
    /* plans that end on the fused pair's ReLU, and between conv and ReLU */
    for (int64_t last = 1; last <= 2; last++) {
        const size_t m = (size_t)(n * 4 * 10 * 9);
        float *o = calloc(m, sizeof *o);
        assert_non_null(o);
        assert_int_equal(lrc_forward_create(net, 0, last, 2, &fw), LRC_OK);
        assert_int_equal(lrc_forward_run(fw, in, n, o), LRC_OK);
        assert_memory_equal(o, last == 1 ? a : b, m * sizeof(float));
        lrc_forward_destroy(&fw);
        free(o);
    }
    free(a);
    free(b);
    free(c);
    free(d);
    free(in);
    free(out);
    free(c1.weight);
    free(c1.bias);
    free(c2.weight);
    free(c2.bias);
    lrc_net_destroy(&net);
}

static void test_shape_errors(void **state)
{
    (void)state;
    uint64_t seed = 3;
    lrc_layer p;
    memset(&p, 0, sizeof p);
    p.op = LRC_OP_CONV;
    p.in_c = 3;
    p.out_c = 2;
    p.kh = p.kw = 3;
    p.sh = p.sw = 1;
    p.weight = rand_floats(2 * 3 * 9, &seed);
    lrc_net *net = NULL;
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    assert_int_equal(lrc_net_append(net, &p), LRC_OK);
    /* wrong channel count, and a kernel larger than the input */
    assert_int_equal(lrc_net_set_input(net, 4, 8, 8), LRC_ERR_FORMAT);
    assert_int_equal(lrc_net_set_input(net, 3, 2, 8), LRC_ERR_ARG);
    assert_int_equal(lrc_net_set_input(net, 3, 3, 3), LRC_OK);
    /* duplicate layer names are refused */
    p.name = "conv";
    assert_int_equal(lrc_net_append(net, &p), LRC_OK);
    assert_int_equal(lrc_net_append(net, &p), LRC_ERR_FORMAT);
    assert_int_equal(lrc_net_find(net, "conv"), 1);
    free(p.weight);
    lrc_net_destroy(&net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_shapes),
        cmocka_unit_test(test_pooling),
        cmocka_unit_test(test_globalavgpool),
        cmocka_unit_test(test_dense_softmax_flatten),
        cmocka_unit_test(test_dense_batches),
        cmocka_unit_test(test_plan_chains),
        cmocka_unit_test(test_plan_matches_layers),
        cmocka_unit_test(test_plan_image_by_image),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
