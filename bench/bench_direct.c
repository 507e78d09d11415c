/* One conv shape at a time on the forward engine's own algorithms, each
 * forced (the direct kernel of the widest vectors the CPU has, the
 * lowering: im2col + sgemm, and on AVX-512 CPUs the row kernel; the
 * kernels' weights laid out beforehand, untimed, as a forward plan does),
 * as a fraction of the one-thread sgemm peak, with the algorithm the rule
 * picks (docs/BENCHMARKS.md, section 20), and the rate at which this core
 * stores an output of the same size, with plain and with streaming vector
 * stores: what bounds a conv with few input channels (docs/BENCHMARKS.md,
 * section 6); for 3x3 shapes, also the Winograd conv against the path the
 * openblas backend's rule picks
 * (section 13). --relu fuses the ReLU into every conv, as the forward
 * plan does for a conv followed by one.
 *
 *   build/bench/bench_direct [--shape C,D,HW,K ...] [--reps 10] [--relu]
 *                            [--json bench_direct.json]
 *
 * A shape is C input channels, D outputs, an HW x HW image, a K x K kernel,
 * stride 1, pad (K - 1) / 2, one image. Default: the c sweep of conv1_1's
 * output, 3,64,224,3 4,64,224,3 8,64,224,3 16,64,224,3 64,64,224,3. One
 * thread; every time is the best of --reps runs after one untimed run;
 * both algorithms' outputs are compared (largest difference relative to
 * the largest output). */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "lrc/lrc.h"

#include "../src/forward/forward_impl.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define BENCH_X86 1
#endif

#define MAXS 32

typedef struct {
    const lrc_layer *l;
    lrc_conv_algo a;
    const float *packed; /* the weights laid out beforehand, or NULL */
    const float *in;
    float *out, *work;
    int relu;
} conv_run;

static void run_conv(void *p)
{
    conv_run *r = p;
    if (lrc_fw_conv_packed(r->l, r->a, r->packed, r->in, 1, r->out, r->work,
                           r->relu) != LRC_OK)
        exit(1); /* the library printed the reason */
}

typedef struct {
    const lrc_layer *l;
    const float *u, *in;
    float *out, *work;
    int relu;
} wino_run;


static void run_wino(void *p)
{
    wino_run *r = p;
    if (lrc_fw_conv_winograd(r->l, r->u, r->in, 1, r->out, r->work,
                             r->relu) !=
        LRC_OK)
        exit(1);
}

typedef struct {
    float *p;
    size_t n; /* floats, a multiple of 16; p 64-byte aligned */
    int stream;
} store_run;

#ifdef BENCH_X86
__attribute__((target("avx512f"))) static void store512(float *p, size_t n,
                                                        int stream)
{
    const __m512 v = _mm512_set1_ps(1.0f);
    if (stream)
        for (size_t i = 0; i < n; i += 16)
            _mm512_stream_ps(p + i, v);
    else
        for (size_t i = 0; i < n; i += 16)
            _mm512_store_ps(p + i, v);
    _mm_sfence();
}
#endif

static void run_store(void *p)
{
    store_run *s = p;
#ifdef BENCH_X86
    if (__builtin_cpu_supports("avx512f")) {
        store512(s->p, s->n, s->stream);
        return;
    }
#endif
    for (size_t i = 0; i < s->n; i++)
        s->p[i] = 1.0f;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_direct [--shape C,D,HW,K ...] [--reps R] "
                    "[--relu] [--json FILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    bench_blas_check("bench_direct");
    long long shapes[MAXS][4];
    int ns = 0, reps = 10, relu = 0;
    const char *json = "bench_direct.json";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--relu")) {
            relu = 1;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        if (!strcmp(argv[i], "--shape")) {
            if (ns == MAXS || bench_parse_list(argv[++i], shapes[ns], 4) != 4)
                usage();
            ns++;
        } else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = argv[++i];
        else
            usage();
    }
    if (ns == 0) {
        const long long c[5] = {3, 4, 8, 16, 64};
        for (; ns < 5; ns++) {
            shapes[ns][0] = c[ns];
            shapes[ns][1] = 64;
            shapes[ns][2] = 224;
            shapes[ns][3] = 3;
        }
    }
    if (reps < 1)
        usage();
    for (int s = 0; s < ns; s++)
        for (int k = 0; k < 4; k++)
            if (shapes[s][k] < 1 || (k == 3 && shapes[s][3] % 2 == 0))
                usage();
    const lrc_conv_algo direct = lrc_fw_conv_cpu_has(LRC_CONV_DIRECT_AVX512)
                                     ? LRC_CONV_DIRECT_AVX512
                                     : LRC_CONV_DIRECT_AVX2;
    if (!lrc_fw_conv_cpu_has(direct)) {
        fprintf(stderr, "bench_direct: this CPU has neither AVX-512 nor "
                        "AVX2 + FMA: no direct kernel to time\n");
        return 1;
    }
    const double peak = bench_sgemm_gflops(2048, 1, 3);
    openblas_set_num_threads(1);

    bench_json j;
    if (bench_json_open(&j, json))
        return 1;
    bench_json_str(&j, "benchmark", "bench_direct");
    bench_json_machine(&j);
    bench_json_num(&j, "sgemm_peak_gflops", peak);
    bench_json_int(&j, "relu_fused", relu);
    bench_json_str(&j, "direct_kernel", direct == LRC_CONV_DIRECT_AVX512
                                            ? "avx512" : "avx2");
    bench_json_begin_array(&j, "shapes");
    printf("bench_direct: one image, one thread, best of %d; sgemm peak "
           "(n = 2048) %.1f GFLOP/s; direct kernel %s%s\n", reps, peak,
           direct == LRC_CONV_DIRECT_AVX512 ? "avx512" : "avx2",
           relu ? "; ReLU fused" : "");
    printf("  %4s %4s %4s %2s | %8s %6s | %8s %6s | %9s | %8s %8s %7s | "
           "%9s %6s %6s %-7s | %8s %6s %4s\n", "c", "d", "hw", "k", "direct",
           "peak", "lowered", "peak", "maxdiff", "out MB", "store", "stream",
           "rows", "peak", "/best", "rule", "wino", "/rule", "runs");
    for (int s = 0; s < ns; s++) {
        const int64_t c = shapes[s][0], d = shapes[s][1], hw = shapes[s][2],
                      k = shapes[s][3];
        lrc_layer p;
        memset(&p, 0, sizeof p);
        p.op = LRC_OP_CONV;
        p.in_c = c;
        p.out_c = d;
        p.kh = p.kw = k;
        p.sh = p.sw = 1;
        p.pt = p.pl = p.pb = p.pr = (k - 1) / 2;
        p.weight = bench_alloc((size_t)(d * c * k * k), sizeof(float), "weights");
        p.bias = bench_alloc((size_t)d, sizeof(float), "bias");
        bench_fill(p.weight, (size_t)(d * c * k * k), 1, 0.2f);
        bench_fill(p.bias, (size_t)d, 2, 0.1f);
        lrc_net *net = NULL;
        if (lrc_net_create(&net) || lrc_net_append(net, &p) ||
            lrc_net_set_input(net, c, hw, hw))
            return 1;
        const lrc_layer *l = lrc_net_layer(net, 0);
        const size_t nin = (size_t)(c * hw * hw), nout = (size_t)(d * hw * hw);
        float *in = bench_alloc(nin, sizeof(float), "input");
        bench_fill(in, nin, 3, 2.0f);
        size_t ws = lrc_fw_conv_workspace(l, direct);
        if (lrc_fw_conv_workspace(l, LRC_CONV_LOWERED) > ws)
            ws = lrc_fw_conv_workspace(l, LRC_CONV_LOWERED);
        float *work = bench_alloc(ws + 1, sizeof(float), "workspace");
        float *o[2] = {bench_alloc(nout, sizeof(float), "output"),
                       bench_alloc(nout, sizeof(float), "output")};
        const lrc_conv_algo algs[2] = {direct, LRC_CONV_LOWERED};
        double t[2];
        for (int a = 0; a < 2; a++) {
            /* weights laid out beforehand, untimed, as a plan does */
            float *pk = NULL;
            if (lrc_fw_conv_packed_size(l, algs[a]) > 0) {
                pk = bench_alloc(lrc_fw_conv_packed_size(l, algs[a]),
                                 sizeof(float), "packed weights");
                lrc_fw_conv_pack(l, algs[a], pk);
            }
            conv_run r = {l, algs[a], pk, in, o[a], work, relu};
            t[a] = bench_best_of(1, reps, run_conv, &r);
            free(pk);
        }
        double md = 0, mx = 0;
        for (size_t i = 0; i < nout; i++) {
            md = fmax(md, fabs((double)o[0][i] - o[1][i]));
            mx = fmax(mx, fabs((double)o[1][i]));
        }
        /* the row kernel (the same bits as the AVX-512 direct kernel) */
        double trw = 0;
        const lrc_conv_algo rule = lrc_fw_conv_choose(l);
        if (lrc_fw_conv_can_run(l, LRC_CONV_ROWS_AVX512)) {
            float *pk = bench_alloc(lrc_fw_conv_packed_size(
                                        l, LRC_CONV_ROWS_AVX512),
                                    sizeof(float), "packed weights");
            float *rw = bench_alloc(lrc_fw_conv_rows_workspace(l),
                                    sizeof(float), "row kernel workspace");
            lrc_fw_conv_pack(l, LRC_CONV_ROWS_AVX512, pk);
            conv_run rr = {l, LRC_CONV_ROWS_AVX512, pk, in, o[1], rw, relu};
            trw = bench_best_of(1, reps, run_conv, &rr);
            if (direct == LRC_CONV_DIRECT_AVX512) {
                /* o[1] was the lowering's output; the direct kernel's
                 * bits are in o[0] */
                for (size_t i = 0; i < nout; i++)
                    if (o[0][i] != o[1][i]) {
                        fprintf(stderr, "bench_direct: the row kernel's "
                                        "output differs from the direct "
                                        "kernel's at %zu\n", i);
                        return 1;
                    }
            }
            free(pk);
            free(rw);
        }
        const double t_rule = rule == LRC_CONV_ROWS_AVX512 ? trw
                              : rule == LRC_CONV_LOWERED  ? t[1]
                                                          : t[0];
        /* Winograd (3x3 only), weights transformed beforehand, untimed:
         * against the path the openblas backend's rule picks */
        double tw = 0, tr = 0;
        const int wino = lrc_fw_wino_shape_ok(l);
        if (wino) {
            float *u = bench_alloc(lrc_fw_wino_weights_size(l), sizeof(float),
                                   "Winograd weights");
            float *ww = bench_alloc(lrc_fw_wino_workspace(l), sizeof(float),
                                    "Winograd workspace");
            lrc_fw_wino_weights(l, u);
            wino_run wr = {l, u, in, o[0], ww, relu};
            tw = bench_best_of(1, reps, run_wino, &wr);
            tr = t_rule;
            free(u);
            free(ww);
        }
        /* storing an output of the same size, 64-byte aligned */
        const size_t nst = (nout + 15) / 16 * 16;
        float *buf = aligned_alloc(64, nst * sizeof(float));
        if (!buf) {
            fprintf(stderr, "bench_direct: no memory for the store test\n");
            return 1;
        }
        double ts[2];
        for (int st = 0; st < 2; st++) {
            store_run sr = {buf, nst, st};
            ts[st] = bench_best_of(1, reps, run_store, &sr);
        }
        const double gf = 2.0 * (double)(c * k * k) * (double)nout / 1e9;
        const double mb = (double)nout * 4.0 / 1e6;
        printf("  %4lld %4lld %4lld %2lld | %6.2f ms %5.0f%% | %6.2f ms %5.0f%% "
               "| %9.1e | %8.1f %5.2f ms %5.2f ms", (long long)c,
               (long long)d, (long long)hw, (long long)k, 1e3 * t[0],
               100 * gf / t[0] / peak, 1e3 * t[1], 100 * gf / t[1] / peak,
               mx > 0 ? md / mx : md, mb, 1e3 * ts[0], 1e3 * ts[1]);
        if (trw > 0)
            printf(" | %6.2f ms %5.0f%% %5.2fx", 1e3 * trw,
                   100 * gf / trw / peak, fmin(t[0], t[1]) / trw);
        else
            printf(" | %9s %6s %6s", "-", "-", "-");
        printf(" %-7s", rule == LRC_CONV_ROWS_AVX512 ? "rows"
                        : rule == LRC_CONV_LOWERED  ? "lowered"
                                                    : "direct");
        if (wino)
            printf(" | %5.2f ms %5.2fx %4s\n", 1e3 * tw, tr / tw,
                   lrc_fw_wino_pays(l) ? "yes" : "no");
        else
            printf(" | %8s %6s %4s\n", "-", "-", "-");
        bench_json_begin_object(&j, NULL);
        bench_json_int(&j, "c", c);
        bench_json_int(&j, "d", d);
        bench_json_int(&j, "hw", hw);
        bench_json_int(&j, "k", k);
        bench_json_num(&j, "direct_seconds", t[0]);
        bench_json_num(&j, "direct_fraction_of_peak", gf / t[0] / peak);
        bench_json_num(&j, "lowered_seconds", t[1]);
        bench_json_num(&j, "lowered_fraction_of_peak", gf / t[1] / peak);
        bench_json_num(&j, "max_rel_diff", mx > 0 ? md / mx : md);
        bench_json_num(&j, "output_bytes", (double)nout * 4.0);
        if (trw > 0) {
            bench_json_num(&j, "rows_seconds", trw);
            bench_json_num(&j, "rows_fraction_of_peak", gf / trw / peak);
        }
        bench_json_str(&j, "rule", rule == LRC_CONV_ROWS_AVX512 ? "rows"
                                   : rule == LRC_CONV_LOWERED  ? "lowered"
                                                               : "direct");
        bench_json_num(&j, "store_seconds", ts[0]);
        bench_json_num(&j, "stream_store_seconds", ts[1]);
        if (wino) {
            bench_json_num(&j, "winograd_seconds", tw);
            bench_json_num(&j, "winograd_over_rule_path", tr / tw);
            bench_json_int(&j, "winograd_backend_runs_it", lrc_fw_wino_pays(l));
        }
        bench_json_end_object(&j);
        free(buf);
        free(o[0]);
        free(o[1]);
        free(work);
        free(in);
        free(p.weight);
        free(p.bias);
        lrc_net_destroy(&net);
    }
    bench_json_end_array(&j);
    if (bench_json_close(&j))
        return 1;
    printf("  (peak: fraction of the sgemm peak; maxdiff: direct against "
           "lowered, of the largest output; store, stream: writing an "
           "output of this size with plain and with streaming stores; rows: "
           "the row kernel (AVX-512; its weights packed beforehand, as a "
           "plan does), /best: its speed over the faster of direct and "
           "lowered; rule: the path the openblas backend's rule picks; "
           "wino: Winograd (3x3), /rule: its speed over that path, runs: "
           "whether the winograd backend runs it so)\n");
    printf("  figures written to %s\n", json);
    return 0;
}
