/* The conv algorithms (src/forward/conv.c, conv_direct.c, conv_rows.c)
 * against a naive double-precision convolution, each forced on the shapes
 * it can run: the lowering onto sgemm everywhere, the AVX-512 and AVX2
 * direct kernels and the AVX-512 row kernel when the CPU has them (skipped
 * otherwise, and said so).
 *
 * Tolerance: max |got - naive| <= 1e-5 max |naive| (the naive sums are in
 * double; float32 rounding over up to 17*5*5 products of numbers in
 * [-1, 1] stays far below). Beyond the values, each case checks that the
 * results are the same bits on a second run, that an image's output is the
 * same bits alone and inside the batch, that the direct and row kernels
 * give the same bits, and that the scratch and output buffers may hold anything
 * beforehand (they are filled with NaN). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "forward/forward_impl.h"
#include "lrc/model.h"
#include "fw_test_data.h"
#include "naive_conv.h"

#define TOL 1e-5


static void assert_close(const float *got, const double *want, size_t n,
                         const char *what)
{
    double scale = 0, worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(want[i]) > scale)
            scale = fabs(want[i]);
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (isnan(e))
            fail_msg("%s: NaN at %zu (want %g)", what, i, want[i]);
        if (e > worst) {
            worst = e;
            at = i;
        }
    }
    if (worst > TOL * scale)
        fail_msg("%s: max error %g at %zu (got %g, want %g) exceeds %g", what,
                 worst, at, (double)got[at], want[at], TOL * scale);
}

/* Runs l with algorithm a on n images into a fresh buffer (NaN-filled, as
 * is the scratch); the caller frees it. */
/* A fused ReLU gives exactly max(x, 0) of the plain output. */
static void assert_relu_of(float fused, float plain)
{
    const float want = plain > 0.0f ? plain : 0.0f;
    assert_memory_equal(&fused, &want, sizeof fused);
}

static float *run_algo_relu(const lrc_layer *l, lrc_conv_algo a,
                            const float *in, int64_t n, int relu)
{
    const size_t outn = (size_t)(n * l->out_c * l->out_shape[1] * l->out_shape[2]);
    float *out = nan_floats(outn);
    float *work = nan_floats(lrc_fw_conv_workspace(l, a));
    assert_int_equal(lrc_fw_conv_with(l, a, in, n, out, work, relu), LRC_OK);
    free(work);
    return out;
}

static float *run_algo(const lrc_layer *l, lrc_conv_algo a, const float *in,
                       int64_t n)
{
    return run_algo_relu(l, a, in, n, 0);
}

typedef struct {
    int64_t c, h, w, d, kh, kw, pt, pl, pb, pr, n;
} direct_case;

/* The conv of case k with random weights (fw_conv_net). */
static lrc_net *case_net(const direct_case *k, uint64_t *seed)
{
    return fw_conv_net(k->c, k->h, k->w, k->d, k->kh, k->kw, k->pt, k->pl,
                       k->pb, k->pr, seed);
}

/* The conv of case k with random weights, and a random input of its k->n
 * images (*in: in_sz floats each; the caller frees it and destroys the
 * net); *out_sz: its output floats per image. */
static lrc_net *case_setup(const direct_case *k, uint64_t *seed, float **in,
                           int64_t *in_sz, int64_t *out_sz)
{
    lrc_net *net = case_net(k, seed);
    const lrc_layer *l = lrc_net_layer(net, 0);
    *in_sz = k->c * k->h * k->w;
    *out_sz = k->d * l->out_shape[1] * l->out_shape[2];
    *in = rand_floats((size_t)(k->n * *in_sz), seed);
    return net;
}

/* The algorithms, the lowering first. */
static const lrc_conv_algo all_algos[4] = {
    LRC_CONV_LOWERED, LRC_CONV_DIRECT_AVX512, LRC_CONV_DIRECT_AVX2,
    LRC_CONV_ROWS_AVX512};

static const char *algo_name(lrc_conv_algo a)
{
    return a == LRC_CONV_LOWERED         ? "lowered"
           : a == LRC_CONV_DIRECT_AVX512 ? "direct avx512"
           : a == LRC_CONV_DIRECT_AVX2   ? "direct avx2"
                                         : "rows avx512";
}

static void test_direct_against_naive(void **state)
{
    (void)state;
    const direct_case cases[] = {
        /* c, h, w, d, kh, kw, pt, pl, pb, pr, n */
        {1, 7, 13, 1, 1, 1, 0, 0, 0, 0, 2},     /* 1x1, one row block */
        {3, 9, 19, 7, 1, 1, 1, 0, 0, 2, 3},     /* 1x1 with uneven pads */
        {17, 11, 37, 16, 3, 3, 1, 1, 1, 1, 3},
        {3, 12, 45, 33, 3, 3, 0, 2, 1, 0, 2},   /* asymmetric pads */
        {1, 5, 9, 33, 5, 5, 2, 2, 2, 2, 2},     /* image smaller than a block */
        {17, 10, 21, 7, 5, 5, 1, 3, 2, 0, 2},
        {3, 15, 50, 16, 5, 5, 2, 2, 2, 2, 2},
        {17, 8, 8, 1, 3, 5, 1, 2, 1, 2, 2},     /* non-square kernel */
        {3, 7, 7, 7, 7, 7, 0, 0, 0, 0, 2},      /* kernel = input: 1 x 1 out */
        {16, 3, 70, 33, 3, 3, 1, 1, 1, 1, 2},   /* whole blocks inside rows */
        {1, 1, 31, 16, 1, 3, 0, 1, 0, 1, 3},    /* one row */
        /* balanced channel blocks of the AVX-512 kernel (at most 8; the
         * AVX2 kernel's at most 4) */
        {5, 9, 30, 22, 3, 3, 1, 1, 1, 1, 2},    /* 8 + 7 + 7; 6 + 6 + 5 + 5 */
        {4, 6, 40, 13, 3, 3, 1, 1, 1, 1, 2},    /* 7 + 6; 4 + 3 + 3 + 3 */
        {6, 5, 33, 1, 3, 3, 1, 1, 1, 1, 2},     /* 1 */
        {6, 5, 33, 2, 3, 3, 1, 1, 1, 1, 1},     /* 2 */
        {6, 5, 33, 3, 3, 3, 1, 1, 1, 1, 1},     /* 3 */
        {6, 5, 33, 4, 3, 3, 1, 1, 1, 1, 1},     /* 4 */
        {6, 7, 29, 9, 3, 3, 1, 1, 1, 1, 2},     /* 5 + 4; 3 + 3 + 3 */
        {8, 9, 40, 25, 3, 3, 1, 1, 1, 1, 2},    /* 7 + 6 + 6 + 6 */
        {5, 8, 36, 37, 3, 3, 1, 1, 1, 1, 2},    /* 8 + 8 + 7 + 7 + 7 */
        {5, 8, 36, 37, 3, 3, 0, 0, 0, 0, 1},    /* the same without pads */
        {3, 70, 70, 8, 3, 3, 1, 1, 1, 1, 1},    /* c = 3, 3 x 3 (unrolled), 2 groups */
        /* c = 3, 3 x 3, one column of pads at each side, rows of 16 or
         * more: the AVX-512 kernel on the output's own grid (masked loads
         * at the rows' ends; blocks across rows; a last partial block) */
        {3, 5, 16, 5, 3, 3, 0, 1, 2, 1, 2},     /* rows of 16, pads below */
        {3, 9, 17, 13, 3, 3, 2, 1, 0, 1, 2},    /* pads above only */
        {3, 1, 20, 9, 3, 3, 1, 1, 1, 1, 2},     /* one row: hp = 3 */
        {3, 11, 53, 16, 3, 3, 1, 1, 1, 1, 2},   /* a row end in each block */
        {3, 6, 15, 7, 3, 3, 1, 1, 1, 1, 2},     /* rows of 15: padded grid */
        {40, 30, 30, 12, 3, 3, 1, 1, 1, 1, 2},  /* 2 groups of 17 position blocks */
        /* pointwise (1x1, no pads): read in place, the last block partial */
        {16, 20, 20, 20, 1, 1, 0, 0, 0, 0, 2},  /* 8 whole blocks + 16 */
        {130, 14, 14, 9, 1, 1, 0, 0, 0, 0, 2},  /* groups of 5 blocks */
        {7, 6, 16, 8, 1, 1, 0, 0, 0, 0, 3},     /* whole blocks only */
        {3, 1, 5, 2, 1, 1, 0, 0, 0, 0, 2},      /* one partial block */
        {5, 9, 20, 11, 1, 1, 1, 0, 2, 0, 2},    /* 1x1, row pads only: wp = wo */
        /* same width, kernels wider than the image: taps shifted by a
         * whole row (im2col's one copy per tap), by more than a row (its
         * row-by-row copy), taps on rows past the image */
        {2, 4, 2, 3, 3, 5, 1, 2, 1, 2, 2},
        {2, 4, 2, 3, 3, 7, 1, 3, 1, 3, 2},
        {4, 3, 16, 5, 5, 3, 3, 1, 3, 1, 2},     /* 5 rows of taps on 3 rows */
        /* the row kernel's blocks: 32 channels and one of 16 (of which 8
         * real); rows of whole blocks of 14, and rows whose last block
         * passes the row's end (the last row's, the image's) */
        {40, 14, 14, 40, 3, 3, 1, 1, 1, 1, 2},
        {24, 28, 28, 33, 3, 3, 1, 1, 1, 1, 1},  /* 32 + 1 of 16 */
        {9, 5, 30, 64, 3, 3, 1, 1, 1, 1, 2},    /* 14 + 14 + 2 per row */
        {70, 6, 17, 16, 3, 3, 0, 1, 2, 1, 2},   /* one block of 16, pads */
        /* 3 x 3 with a pad on every side, c > 3: the AVX-512 kernel reads
         * the input where it lies (inplace_run), edge blocks under a mask
         * per tap: the first and last rows in one block, every block an
         * edge block, rows shorter than a vector, blocks straddling the
         * first and the last row's ends */
        {5, 1, 20, 6, 3, 3, 1, 1, 1, 1, 2},     /* one row */
        {7, 2, 17, 9, 3, 3, 1, 1, 1, 1, 2},     /* two rows, one block */
        {6, 4, 12, 5, 3, 3, 1, 1, 1, 1, 1},     /* rows of 12 */
        {5, 7, 50, 10, 3, 3, 1, 1, 1, 1, 2},    /* 50 = 48 + 2 */
        {4, 5, 3, 3, 3, 3, 1, 1, 1, 1, 3},      /* rows of 3 */
        /* padded copies of more than 4 MB: the direct kernels pad and
         * convolve stripes of rows (stripe_rows), each stripe's last
         * block partial, the last stripe shorter (the AVX2 kernel; the
         * AVX-512 one reads in place) */
        {64, 128, 128, 5, 3, 3, 1, 1, 1, 1, 2}, /* 4 x 29 + 12 rows */
        {40, 150, 180, 3, 5, 5, 2, 2, 1, 2, 1}, /* 4 x 31 + 25 rows */
        /* thin convs whose padded input and weights pass 2 MB: the input
         * channels in chunks (chunk_channels), the sums carried between
         * them in a partial buffer */
        {1201, 20, 20, 10, 3, 3, 1, 1, 1, 1, 2}, /* 401 + 401 + 399 */
        {900, 18, 22, 9, 3, 5, 1, 2, 1, 2, 1},   /* generic kernel, 3 x 300 */
    };
    const lrc_conv_algo *algos = all_algos;
    int ran[4] = {0, 0, 0, 0};
    uint64_t seed = 7;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const direct_case *k = &cases[t];
        float *in;
        int64_t in_sz, out_sz;
        lrc_net *net = case_setup(k, &seed, &in, &in_sz, &out_sz);
        const lrc_layer *l = lrc_net_layer(net, 0);
        assert_true(lrc_fw_conv_direct_shape_ok(l));
        const int64_t n = k->n;
        const size_t outn = (size_t)(n * out_sz);
        double *want = naive_conv_new(l, in, n);
        float *direct_bits = NULL;
        for (int a = 0; a < 4; a++) {
            if (!lrc_fw_conv_can_run(l, algos[a]))
                continue;
            ran[a]++;
            char what[96];
            snprintf(what, sizeof what, "case %zu, %s", t, algo_name(algos[a]));
            float *got = run_algo(l, algos[a], in, n);
            assert_close(got, want, outn, what);
            /* the same bits on a second run */
            float *again = run_algo(l, algos[a], in, n);
            assert_memory_equal(got, again, outn * sizeof(float));
            free(again);
            /* with the ReLU fused: the bits of a separate ReLU */
            float *fused = run_algo_relu(l, algos[a], in, n, 1);
            for (size_t i = 0; i < outn; i++)
                assert_relu_of(fused[i], got[i]);
            free(fused);
            /* an image alone gives the bits it gives inside the batch */
            for (int64_t b = 0; b < n; b++) {
                float *one = run_algo(l, algos[a], in + b * in_sz, 1);
                assert_memory_equal(one, got + b * out_sz,
                                    (size_t)out_sz * sizeof(float));
                free(one);
            }
            /* the direct and row kernels sum in the same order */
            if (algos[a] != LRC_CONV_LOWERED) {
                if (direct_bits) {
                    assert_memory_equal(got, direct_bits, outn * sizeof(float));
                } else {
                    direct_bits = got;
                    got = NULL;
                }
            }
            free(got);
        }
        /* what lrc_layer_forward runs is the chosen algorithm, in the
         * workspace lrc_layer_workspace says */
        const lrc_conv_algo chosen = lrc_fw_conv_choose(l);
        assert_true(lrc_fw_conv_can_run(l, chosen));
        assert_true(lrc_layer_workspace(l) >= lrc_fw_conv_workspace(l, chosen));
        float *work = nan_floats(lrc_layer_workspace(l));
        float *out = nan_floats(outn);
        assert_int_equal(lrc_layer_forward(l, in, n, out, work), LRC_OK);
        float *ref = run_algo(l, chosen, in, n);
        assert_memory_equal(out, ref, outn * sizeof(float));
        free(ref);
        free(out);
        free(work);
        free(direct_bits);
        free(want);
        free(in);
        lrc_net_destroy(&net);
    }
    assert_int_equal(ran[0], (int)(sizeof cases / sizeof cases[0]));
    if (!ran[1])
        print_message("[  NOTE    ] no AVX-512 on this CPU: its direct kernel was "
                      "not tested\n");
    if (!ran[2])
        print_message("[  NOTE    ] no AVX2 + FMA on this CPU (or not x86-64): "
                      "its direct kernel was not tested\n");
    if (!ran[3])
        print_message("[  NOTE    ] no AVX-512 on this CPU: the row kernel was "
                      "not tested\n");
}

/* Outputs of at least 32 MB on whole cache lines (batches of 11 images of
 * 16 x 224 x 224; lrc_fw_stream_pays) are streamed past the caches by the
 * AVX-512 kernel: a pointwise conv's blocks where they lie, and a 3 x 3
 * conv's on the output's own grid (rgb_unpadded_run, inplace_run). The
 * same bits as each image alone (3.2 MB: stored plainly), with and
 * without the fused ReLU, and the naive conv's values on the first and
 * last images. */
static void test_direct_streamed(void **state)
{
    (void)state;
    if (!lrc_fw_conv_cpu_has(LRC_CONV_DIRECT_AVX512)) {
        print_message("[  NOTE    ] no AVX-512 on this CPU: streamed stores "
                      "not tested\n");
        return;
    }
    const direct_case cases[] = {
        /* c, h, w, d, kh, kw, pt, pl, pb, pr, n */
        {5, 224, 224, 16, 1, 1, 0, 0, 0, 0, 11},
        {3, 224, 224, 16, 3, 3, 1, 1, 1, 1, 11},
        {6, 224, 224, 16, 3, 3, 1, 1, 1, 1, 11}, /* inplace_run */
    };
    uint64_t seed = 17;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const direct_case *k = &cases[t];
        float *in;
        int64_t in_sz, out_sz;
        lrc_net *net = case_setup(k, &seed, &in, &in_sz, &out_sz);
        const lrc_layer *l = lrc_net_layer(net, 0);
        const int64_t n = k->n, bytes = out_sz * (int64_t)sizeof(float);
        assert_true(lrc_fw_stream_pays(n, bytes));
        assert_false(lrc_fw_stream_pays(1, bytes));
        float *work = nan_floats(lrc_fw_conv_workspace(l,
                                                       LRC_CONV_DIRECT_AVX512));
        float *out = line_floats((size_t)(n * out_sz));
        float *plain = line_floats((size_t)out_sz); /* an image alone */
        for (int relu = 0; relu <= 1; relu++) {
            assert_int_equal(lrc_fw_conv_with(l, LRC_CONV_DIRECT_AVX512, in,
                                              n, out, work, relu),
                             LRC_OK);
            for (int64_t b = 0; b < n; b++) {
                assert_int_equal(lrc_fw_conv_with(l, LRC_CONV_DIRECT_AVX512,
                                                  in + b * in_sz, 1, plain,
                                                  work, relu),
                                 LRC_OK);
                assert_memory_equal(plain, out + b * out_sz, (size_t)bytes);
            }
            for (int64_t b = 0; b < n; b += n - 1) {
                double *want = naive_conv_new(l, in + b * in_sz, 1);
                for (int64_t i = 0; relu && i < out_sz; i++)
                    want[i] = want[i] > 0 ? want[i] : 0;
                char what[96];
                snprintf(what, sizeof what, "streamed case %zu, relu %d, "
                         "image %lld", t, relu, (long long)b);
                assert_close(out + b * out_sz, want, (size_t)out_sz, what);
                free(want);
            }
        }
        lrc_free(&plain);
        lrc_free(&out);
        free(work);
        free(in);
        lrc_net_destroy(&net);
    }
}

/* lrc_fw_conv_direct_chain called directly, its workspace NaN-filled: a
 * low-rank pair (3 x 3, 6 -> 5 channels, then 1 x 1, 5 -> 16) with its
 * ReLU on 11 images of 224 x 224, whose 35 MB of outputs the 1 x 1 conv
 * streams past the caches (lrc_fw_stream_pays); and the same pair with
 * its 2 x 2 max pooling on 2 images of 40 x 36. The same bits as the two
 * convs (and the pooling) one after the other. */
static void test_chain_direct(void **state)
{
    (void)state;
    if (!lrc_fw_conv_cpu_has(LRC_CONV_DIRECT_AVX512)) {
        print_message("[  NOTE    ] no AVX-512 on this CPU: chains not "
                      "tested\n");
        return;
    }
    const lrc_conv_algo a512 = LRC_CONV_DIRECT_AVX512;
    uint64_t seed = 23;
    const int64_t hs[2] = {224, 40}, ws[2] = {224, 36}, ns[2] = {11, 2};
    for (int t = 0; t < 2; t++) {
        const int64_t h = hs[t], w = ws[t], n = ns[t], plane = h * w;
        lrc_net *na = fw_conv_net(6, h, w, 5, 3, 3, 1, 1, 1, 1, &seed);
        lrc_net *nb = fw_conv_net(5, h, w, 16, 1, 1, 0, 0, 0, 0, &seed);
        const lrc_layer *a = lrc_net_layer(na, 0), *b = lrc_net_layer(nb, 0);
        lrc_layer pool;
        memset(&pool, 0, sizeof pool);
        pool.op = LRC_OP_MAXPOOL;
        pool.kh = pool.kw = pool.sh = pool.sw = 2;
        pool.in_shape[0] = pool.out_shape[0] = 16;
        pool.in_shape[1] = h;
        pool.in_shape[2] = w;
        pool.out_shape[1] = h / 2;
        pool.out_shape[2] = w / 2;
        const lrc_layer *pl = t == 1 ? &pool : NULL;
        assert_true(lrc_fw_conv_direct_chain_ok(a, b, pl));
        if (t == 0)
            assert_true(lrc_fw_stream_pays(n, 16 * plane * (int64_t)sizeof(float)));
        float *in = rand_floats((size_t)(n * 6 * plane), &seed);
        float *pa = line_floats(lrc_fw_conv_direct_weights_size(a, a512));
        float *pb = line_floats(lrc_fw_conv_direct_weights_size(b, a512));
        lrc_fw_conv_direct_weights(a, a512, pa);
        lrc_fw_conv_direct_weights(b, a512, pb);
        const size_t outn = (size_t)(n * 16 * (pl ? plane / 4 : plane));
        float *out = line_floats(outn);
        float *work = nan_floats(lrc_fw_conv_direct_chain_workspace(a, b, pl));
        assert_int_equal(lrc_fw_conv_direct_chain(a, pa, b, pb, 1, pl, in, n,
                                                  out, work),
                         LRC_OK);
        float *mid = run_algo(a, a512, in, n);
        float *ref = run_algo_relu(b, a512, mid, n, 1);
        if (pl) {
            float *pooled = nan_floats(outn);
            lrc_fw_maxpool(pl, ref, n, pooled);
            free(ref);
            ref = pooled;
        }
        assert_memory_equal(out, ref, outn * sizeof(float));
        free(ref);
        free(mid);
        free(work);
        lrc_free(&out);
        lrc_free(&pb);
        lrc_free(&pa);
        free(in);
        lrc_net_destroy(&nb);
        lrc_net_destroy(&na);
    }
}

/* The direct and row kernels given their weights packed beforehand (as a
 * forward plan packs them, once) give the bits they give packing them
 * themselves on every call, with and without the ReLU; and a plan whose
 * conv runs on one gives lrc_layer_forward's bits, in batches of 2 over 3
 * images. The lowering packs nothing. Shapes: the row kernel's (14 x 14),
 * the direct kernel's (thin, 28 x 28; 3 output channels; pointwise). */
static void test_packed(void **state)
{
    (void)state;
    const direct_case cases[] = {
        /* c, h, w, d, kh, kw, pt, pl, pb, pr, n */
        {48, 14, 14, 40, 3, 3, 1, 1, 1, 1, 3},
        {24, 28, 28, 20, 3, 3, 1, 1, 1, 1, 3},
        {5, 9, 30, 3, 3, 3, 1, 1, 1, 1, 3},
        {16, 28, 28, 40, 1, 1, 0, 0, 0, 0, 3},
    };
    const lrc_conv_algo *algos = all_algos;
    uint64_t seed = 23;
    int ran = 0;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const direct_case *k = &cases[t];
        float *in;
        int64_t in_sz, out_sz;
        lrc_net *net = case_setup(k, &seed, &in, &in_sz, &out_sz);
        const lrc_layer *l = lrc_net_layer(net, 0);
        const int64_t n = k->n;
        const size_t outn = (size_t)(n * out_sz);
        assert_int_equal(lrc_fw_conv_packed_size(l, LRC_CONV_LOWERED), 0);
        for (int a = 1; a < 4; a++) {
            if (!lrc_fw_conv_can_run(l, algos[a]))
                continue;
            ran++;
            assert_true(lrc_fw_conv_packed_size(l, algos[a]) > 0);
            float *pk = nan_floats(lrc_fw_conv_packed_size(l, algos[a]));
            lrc_fw_conv_pack(l, algos[a], pk);
            for (int relu = 0; relu <= 1; relu++) {
                float *out = nan_floats(outn);
                float *work = nan_floats(lrc_fw_conv_workspace(l, algos[a]));
                assert_int_equal(lrc_fw_conv_packed(l, algos[a], pk, in, n,
                                                    out, work, relu),
                                 LRC_OK);
                float *ref = run_algo_relu(l, algos[a], in, n, relu);
                assert_memory_equal(out, ref, outn * sizeof(float));
                free(ref);
                free(work);
                free(out);
            }
            free(pk);
        }
        float *work = nan_floats(lrc_layer_workspace(l));
        float *ref = nan_floats(outn), *out = nan_floats(outn);
        assert_int_equal(lrc_layer_forward(l, in, n, ref, work), LRC_OK);
        lrc_forward *fw = NULL;
        assert_int_equal(lrc_forward_create(net, 0, 1, 2, &fw), LRC_OK);
        assert_true(lrc_forward_bytes(fw) >=
                    lrc_fw_conv_packed_size(l, lrc_fw_conv_choose(l)) *
                        sizeof(float));
        assert_int_equal(lrc_forward_run(fw, in, n, out), LRC_OK);
        assert_memory_equal(out, ref, outn * sizeof(float));
        lrc_forward_destroy(&fw);
        free(out);
        free(ref);
        free(work);
        free(in);
        lrc_net_destroy(&net);
    }
    if (!ran)
        print_message("[  NOTE    ] neither AVX-512 nor AVX2 on this CPU: "
                      "packed weights not tested\n");
}

/* Appends a copy of *p named `name` with c inputs and d outputs. */
static void append_conv(lrc_net *net, lrc_layer *p, const char *name,
                        int64_t c, int64_t d)
{
    p->name = (char *)name;
    p->in_c = c;
    p->out_c = d;
    assert_int_equal(lrc_net_append(net, p), LRC_OK);
}

/* The rule gives l algorithm `want` (an AVX-512 one, or the lowering)
 * when the CPU has AVX-512, else sgemm, and lrc_layer_workspace covers
 * what it chose. */
static void expect_algo(const lrc_layer *l, lrc_conv_algo want)
{
    if (!lrc_fw_conv_cpu_has(LRC_CONV_DIRECT_AVX512))
        want = LRC_CONV_LOWERED;
    assert_int_equal(lrc_fw_conv_choose(l), want);
    assert_true(lrc_layer_workspace(l) >= lrc_fw_conv_workspace(l, want));
}

static void expect_choice(const lrc_layer *l, int direct)
{
    expect_algo(l, direct ? LRC_CONV_DIRECT_AVX512 : LRC_CONV_LOWERED);
}

/* A shape of the rule (few output channels, 3x3, stride 1) gets the direct
 * kernel when the CPU has one; 3x3 convs on 14 x 14 and 28 x 28 maps with
 * enough output channels the row kernel; 1x1 convs with up to 192 input
 * channels on 14 x 14 maps or larger the direct kernel; strided, wide (d >
 * 128 on larger maps, d > 256 on any) and other 1x1 convs stay on sgemm,
 * as does everything but thin 3x3 convs on CPUs without AVX-512; the
 * direct path refuses what it cannot run instead of computing garbage. */
static void test_choice(void **state)
{
    (void)state;
    uint64_t seed = 11;
    lrc_layer p;
    memset(&p, 0, sizeof p);
    p.op = LRC_OP_CONV;
    p.in_c = 32;
    p.out_c = 24;
    p.kh = p.kw = 3;
    p.sh = p.sw = 1;
    p.pt = p.pl = p.pb = p.pr = 1;
    p.flatten_check = -1;
    p.weight = rand_floats(160 * 32 * 9, &seed);
    p.bias = rand_floats(160, &seed);
    lrc_net *net = NULL;
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    p.name = "thin";
    assert_int_equal(lrc_net_append(net, &p), LRC_OK);
    p.name = "strided";
    p.in_c = 24;
    p.sh = p.sw = 2;
    assert_int_equal(lrc_net_append(net, &p), LRC_OK);
    p.name = "wide";
    p.out_c = 160;
    p.sh = p.sw = 1;
    assert_int_equal(lrc_net_append(net, &p), LRC_OK);
    p.name = "pointwise";
    p.in_c = 160;
    p.out_c = 8;
    p.kh = p.kw = 1;
    p.pt = p.pl = p.pb = p.pr = 0;
    assert_int_equal(lrc_net_append(net, &p), LRC_OK);
    assert_int_equal(lrc_net_set_input(net, 32, 28, 28), LRC_OK);
    const lrc_layer *thin = lrc_net_layer(net, 0), *strided = lrc_net_layer(net, 1);
    expect_algo(lrc_net_layer(net, 2), LRC_CONV_ROWS_AVX512); /* 14 x 14 */
    expect_algo(lrc_net_layer(net, 3), LRC_CONV_DIRECT_AVX512); /* c = 160 */
    if (lrc_fw_conv_cpu_has(LRC_CONV_DIRECT_AVX512))
        assert_int_equal(lrc_fw_conv_choose(thin), LRC_CONV_DIRECT_AVX512);
    else if (lrc_fw_conv_cpu_has(LRC_CONV_DIRECT_AVX2))
        assert_int_equal(lrc_fw_conv_choose(thin), LRC_CONV_DIRECT_AVX2);
    else
        assert_int_equal(lrc_fw_conv_choose(thin), LRC_CONV_LOWERED);
    assert_int_equal(lrc_fw_conv_choose(strided), LRC_CONV_LOWERED);
    assert_false(lrc_fw_conv_direct_shape_ok(strided));
    assert_false(lrc_fw_conv_can_run(strided, LRC_CONV_DIRECT_AVX512));
    assert_false(lrc_fw_conv_can_run(strided, LRC_CONV_DIRECT_AVX2));
    float in = 0, out = 0, work = 0;
    assert_int_equal(lrc_fw_conv_with(strided, LRC_CONV_DIRECT_AVX512, &in, 1,
                                      &out, &work, 0),
                     LRC_ERR_INTERNAL);
    lrc_net_destroy(&net);

    /* a pointwise conv with c <= 192 input channels on 14 x 14 outputs or
     * more gets the AVX-512 kernel; with 193 channels, or on 7 x 7, sgemm */
    p.kh = p.kw = 1;
    p.sh = p.sw = 1;
    p.pt = p.pl = p.pb = p.pr = 0;
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    append_conv(net, &p, "pw28", 64, 160);
    append_conv(net, &p, "pw28c160", 160, 16);
    assert_int_equal(lrc_net_set_input(net, 64, 28, 28), LRC_OK);
    expect_choice(lrc_net_layer(net, 0), 1);
    expect_choice(lrc_net_layer(net, 1), 1);
    lrc_net_destroy(&net);
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    append_conv(net, &p, "pw28c193", 193, 16);
    assert_int_equal(lrc_net_set_input(net, 193, 28, 28), LRC_OK);
    expect_choice(lrc_net_layer(net, 0), 0);
    lrc_net_destroy(&net);
    const int64_t pw_sizes[2] = {14, 7};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(lrc_net_create(&net), LRC_OK);
        append_conv(net, &p, "pw", 16, 16);
        assert_int_equal(lrc_net_set_input(net, 16, pw_sizes[k], pw_sizes[k]),
                         LRC_OK);
        expect_choice(lrc_net_layer(net, 0), k == 0);
        lrc_net_destroy(&net);
    }

    /* 3x3 convs with 129 to 256 outputs get the AVX-512 kernel on 56 x 56
     * outputs, more than 256 sgemm; on 28 x 28 those from 96 outputs on,
     * on 14 x 14 from 16 on, get the row kernel; rows of 21 (not whole
     * blocks of 14) and 7 x 7 maps do not */
    free(p.weight);
    free(p.bias);
    p.weight = rand_floats(300 * 200 * 9, &seed);
    p.bias = rand_floats(300, &seed);
    p.kh = p.kw = 3;
    p.pt = p.pl = p.pb = p.pr = 1;
    const int64_t sizes[3] = {56, 28, 14};
    const lrc_conv_algo want[3][2] = {
        {LRC_CONV_DIRECT_AVX512, LRC_CONV_LOWERED},
        {LRC_CONV_ROWS_AVX512, LRC_CONV_ROWS_AVX512},
        {LRC_CONV_ROWS_AVX512, LRC_CONV_ROWS_AVX512}};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(lrc_net_create(&net), LRC_OK);
        append_conv(net, &p, "wide256", 16, 200);
        append_conv(net, &p, "wider", 200, 300);
        assert_int_equal(lrc_net_set_input(net, 16, sizes[k], sizes[k]), LRC_OK);
        expect_algo(lrc_net_layer(net, 0), want[k][0]);
        expect_algo(lrc_net_layer(net, 1), want[k][1]);
        lrc_net_destroy(&net);
    }
    /* the row kernel's bounds: 28 x 28 from d = 96 (72: direct), 14 x 14
     * from d = 16 (8: direct), where rounding d up to 16 adds at most a
     * quarter (30 -> 32; not 24 -> 32) */
    const struct {
        int64_t hw, c, d;
        lrc_conv_algo want;
    } rule[] = {
        {28, 64, 96, LRC_CONV_ROWS_AVX512}, {28, 64, 72, LRC_CONV_DIRECT_AVX512},
        {14, 64, 16, LRC_CONV_ROWS_AVX512}, {14, 64, 8, LRC_CONV_DIRECT_AVX512},
        {14, 64, 30, LRC_CONV_ROWS_AVX512}, {14, 64, 24, LRC_CONV_DIRECT_AVX512},
        {21, 64, 200, LRC_CONV_LOWERED},    {7, 200, 300, LRC_CONV_LOWERED},
    };
    for (size_t r = 0; r < sizeof rule / sizeof rule[0]; r++) {
        assert_int_equal(lrc_net_create(&net), LRC_OK);
        append_conv(net, &p, "conv", rule[r].c, rule[r].d);
        assert_int_equal(lrc_net_set_input(net, rule[r].c, rule[r].hw,
                                           rule[r].hw),
                         LRC_OK);
        expect_algo(lrc_net_layer(net, 0), rule[r].want);
        lrc_net_destroy(&net);
    }
    /* 5 x 5 on 14 x 14: not the row kernel's (3 x 3 only), the direct one */
    p.kh = p.kw = 5;
    p.pt = p.pl = p.pb = p.pr = 2;
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    append_conv(net, &p, "k5", 16, 64);
    assert_int_equal(lrc_net_set_input(net, 16, 14, 14), LRC_OK);
    expect_algo(lrc_net_layer(net, 0), LRC_CONV_DIRECT_AVX512);
    lrc_net_destroy(&net);
    free(p.weight);
    free(p.bias);
    lrc_net_destroy(&net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_direct_against_naive),
        cmocka_unit_test(test_direct_streamed),
        cmocka_unit_test(test_chain_direct),
        cmocka_unit_test(test_packed),
        cmocka_unit_test(test_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
