/* Whole-model forward timer: the per-image time of one or more models
 * through lrcompress's forward engine (lrc_forward_run), on one thread by
 * default, with the split by layer; the first model is the reference that
 * the others' speedups are measured against, in the same run.
 *
 *   build/bench/bench_model ORIGINAL.onnx [COMPRESSED.onnx ...]
 *       [--input 3,224,224] [--batches 1,8] [--images N] [--reps 3]
 *       [--rounds 10] [--threads 1] [--backend openblas|winograd|onednn]
 *       [--json bench_model.json]
 *
 * Inputs are seeded random floats (timing does not depend on the values).
 * Every model is loaded first; then --reps passes, each timing every model
 * at every batch size B in turn: one untimed batch (page faults, BLAS
 * buffers), then one timed run over N images (--images, rounded up to a
 * multiple of B); then the same layer by layer, as lrc_forward_run runs
 * them, for the split. Each figure is the best of its passes. Then, with
 * two models or more, --rounds paired rounds per batch size (time_rounds):
 * the speedups that the models' best-of-passes times give move with the
 * machine's drifts; those of models timed in the same round do not.
 * Reported per model: multiply-adds per image (all layers, and the convs
 * alone), seconds per image (and per layer in the JSON file), and against
 * the first model the theoretical speedup (ratio of multiply-adds), the
 * measured speedup (ratio of times) and measured / theoretical, for the
 * whole net and for its convs, and the ceiling of the whole-net speedup
 * that work on the convs alone can reach: its convs and ReLUs exactly at
 * the conv theory, its other layers (poolings, dense: bound by memory,
 * the same in both models) as measured. Also measured: the sgemm rate on as many
 * threads (n = 2048), to read the layers' rates against. With --backend
 * onednn (a build with -DLRC_WITH_DNNL=ON) the whole-net times are those
 * of the oneDNN backend; the per-layer split, and so the conv columns,
 * stay those of the OpenBLAS paths. With --backend winograd, both are the
 * winograd backend's (each layer timed through a plan of its own). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "lrc/lrc.h"

#include "../src/forward/forward_impl.h"

#define MAXV 32

typedef struct {
    const char *path;
    lrc_net *net;
    int64_t layers, in_sz, out_sz;
    double macs, conv_macs;  /* per image */
    double t[MAXV];          /* seconds per image, per batch size */
    double t_conv[MAXV];     /* of which conv layers (per-layer pass) */
    double t_other[MAXV];    /* and layers other than convs and ReLUs */
    double t_layers_sum[MAXV];
    double *lt[MAXV];        /* per layer, seconds for the N images */
    /* paired rounds: the median over rounds of the reference's time over
     * this model's in the same round, and the least and most */
    double pair_med[MAXV], pair_min[MAXV], pair_max[MAXV];
} model_row;

static void check(lrc_status st)
{
    if (st != LRC_OK)
        exit(1); /* the library printed the reason */
}

static void keep_min(double *best, double t)
{
    if (*best == 0 || t < *best)
        *best = t;
}

/* One pass of model r at batch B over the N images of `in`: the whole net
 * through lrc_forward_run, then layer by layer; each after an untimed
 * batch. Keeps the best times in r. */
static void time_pass(model_row *r, lrc_backend backend, int b, int64_t B,
                      int64_t N, const float *in, float *out)
{
    const lrc_net *net = r->net;
    const int64_t nl = r->layers;
    lrc_forward *fw = NULL;
    check(lrc_forward_create_with(net, 0, nl, B, backend, &fw));
    check(lrc_forward_run(fw, in, B, out)); /* warm-up */
    double t0 = lrc_wtime();
    check(lrc_forward_run(fw, in, N, out));
    keep_min(&r->t[b], (lrc_wtime() - t0) / (double)N);
    lrc_forward_destroy(&fw);

    int64_t max_act = 0;
    size_t wmax = 1;
    for (int64_t i = 0; i < nl; i++) {
        const lrc_layer *l = lrc_net_layer(net, i);
        int64_t s = l->out_shape[0] * l->out_shape[1] * l->out_shape[2];
        if (s > max_act)
            max_act = s;
        if (lrc_layer_workspace(l) > wmax)
            wmax = lrc_layer_workspace(l);
    }
    float *buf[2], *work = bench_alloc(wmax, sizeof(float), "workspace");
    buf[0] = bench_alloc((size_t)(B * max_act), sizeof(float), "activations");
    buf[1] = bench_alloc((size_t)(B * max_act), sizeof(float), "activations");
    double *acc = bench_alloc((size_t)nl, sizeof(double), "layer times");
    /* the winograd backend's convs need a plan (it holds their transformed
     * weights): one plan per layer. On the openblas backend, the convs'
     * weights laid out once for their kernels and the dense layers' W^T,
     * as the whole model's plan holds them, and every layer run in the
     * one scratch buffer, as there (a plan per layer, each with its
     * scratch, made some layers 5-20% slower at batch 1 than in the whole
     * plan) */
    lrc_forward **lp = NULL;
    if (backend == LRC_BACKEND_WINOGRAD) {
        lp = bench_alloc((size_t)nl, sizeof *lp, "layer plans");
        for (int64_t i = 0; i < nl; i++)
            check(lrc_forward_create_with(net, i, i + 1, B, backend, &lp[i]));
    }
    float **pk = bench_alloc((size_t)nl, sizeof *pk, "packed weights");
    lrc_conv_algo *algo = bench_alloc((size_t)nl, sizeof *algo, "algorithms");
    for (int64_t i = 0; i < nl; i++) {
        const lrc_layer *l = lrc_net_layer(net, i);
        pk[i] = NULL;
        if (l->op == LRC_OP_DENSE && !lp) {
            /* W^T, as the plan lays it out for a few images */
            pk[i] = bench_alloc(lrc_fw_dense_packed_size(l), sizeof(float), "W^T");
            lrc_fw_dense_pack(l, pk[i]);
            continue;
        }
        if (l->op != LRC_OP_CONV || backend != LRC_BACKEND_OPENBLAS)
            continue;
        algo[i] = lrc_fw_conv_choose(l);
        const size_t np = lrc_fw_conv_packed_size(l, algo[i]);
        if (np > 0) {
            pk[i] = bench_alloc(np, sizeof(float), "packed weights");
            lrc_fw_conv_pack(l, algo[i], pk[i]);
        }
    }
    for (int warm = 1; warm >= 0; warm--) {
        memset(acc, 0, (size_t)nl * sizeof *acc);
        for (int64_t s = 0; s < (warm ? B : N); s += B) {
            const float *src = in + s * r->in_sz;
            for (int64_t i = 0; i < nl; i++) {
                float *dst = buf[i & 1];
                double tl = lrc_wtime();
                if (lp)
                    check(lrc_forward_run(lp[i], src, B, dst));
                else if (pk[i] && lrc_net_layer(net, i)->op == LRC_OP_DENSE)
                    lrc_fw_dense(lrc_net_layer(net, i), pk[i], src, B, dst);
                else if (pk[i])
                    check(lrc_fw_conv_packed(lrc_net_layer(net, i), algo[i],
                                             pk[i], src, B, dst, work, 0));
                else
                    check(lrc_layer_forward(lrc_net_layer(net, i), src, B,
                                            dst, work));
                acc[i] += lrc_wtime() - tl;
                src = dst;
            }
        }
    }
    for (int64_t i = 0; i < nl; i++)
        keep_min(&r->lt[b][i], acc[i]);
    if (lp)
        for (int64_t i = 0; i < nl; i++)
            lrc_forward_destroy(&lp[i]);
    free(lp);
    for (int64_t i = 0; i < nl; i++)
        free(pk[i]);
    free(pk);
    free(algo);
    free(acc);
    free(buf[0]);
    free(buf[1]);
    free(work);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_model MODEL [MODEL ...] [--input C,H,W] "
                    "[--batches 1,8] [--images N] [--reps R] [--rounds P] "
                    "[--threads T] [--backend openblas|winograd|onednn] "
                    "[--json FILE]\n");
    exit(2);
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Paired rounds at batch index b (B images): each round runs every model
 * once on one batch, in turn (every other round in reverse order), and
 * each model's speedup in the round is
 * the reference's time over its own. The figure is the median over the
 * rounds, with the least and the most: the machine's drifts (on a shared
 * host, 5-10% within a minute) move a model's best-of-passes time by as
 * much as the effects measured, but models timed a second apart see the
 * same machine. */
static void time_rounds(model_row *rows, int np, lrc_backend backend, int b,
                        int64_t B, int rounds, const float *in, float *out)
{
    lrc_forward **fw = bench_alloc((size_t)np, sizeof *fw, "forward plans");
    double *t = bench_alloc((size_t)np, sizeof *t, "round times");
    double *ratio = bench_alloc((size_t)(np * rounds), sizeof *ratio, "ratios");
    for (int m = 0; m < np; m++) {
        check(lrc_forward_create_with(rows[m].net, 0, rows[m].layers, B,
                                      backend, &fw[m]));
        check(lrc_forward_run(fw[m], in, B, out)); /* warm-up */
    }
    for (int r = 0; r < rounds; r++) {
        /* every other round in reverse order, so that no model always
         * follows the same one (whose data it finds in the caches) */
        for (int k = 0; k < np; k++) {
            const int m = r % 2 ? np - 1 - k : k;
            const double t0 = lrc_wtime();
            check(lrc_forward_run(fw[m], in, B, out));
            t[m] = lrc_wtime() - t0;
        }
        for (int m = 0; m < np; m++)
            ratio[m * rounds + r] = t[0] / t[m];
    }
    for (int m = 0; m < np; m++) {
        double *x = ratio + m * rounds;
        qsort(x, (size_t)rounds, sizeof *x, cmp_double);
        rows[m].pair_med[b] = rounds % 2 ? x[rounds / 2]
                                         : 0.5 * (x[rounds / 2 - 1] + x[rounds / 2]);
        rows[m].pair_min[b] = x[0];
        rows[m].pair_max[b] = x[rounds - 1];
        lrc_forward_destroy(&fw[m]);
    }
    free(ratio);
    free(t);
    free(fw);
}

/* The whole-net speedup of model r over the reference at batch index b
 * if r's convs and ReLUs (the reference's whole time less its other
 * layers) took exactly 1 / (conv theory) of the reference's, r's other
 * layers (poolings, dense) taking what the per-layer pass measured. */
static double ceiling(const model_row *ref, const model_row *r, int b)
{
    const double cth = ref->conv_macs / r->conv_macs;
    return ref->t[b] / ((ref->t[b] - ref->t_other[b]) / cth + r->t_other[b]);
}

int main(int argc, char **argv)
{
    bench_blas_check("bench_model");
    const char *paths[MAXV];
    int np = 0, nb = 2, reps = 3, threads = 1, rounds = 10;
    long long batches[MAXV] = {1, 8}, chw[MAXV] = {3, 224, 224}, images = 8;
    const char *json = "bench_model.json";
    /* the engine of the whole-net timing (the per-layer split always runs
     * the OpenBLAS paths, layer by layer) */
    lrc_backend backend = LRC_BACKEND_OPENBLAS;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0) {
            if (np == MAXV)
                usage();
            paths[np++] = argv[i];
            continue;
        }
        if (i + 1 >= argc)
            usage();
        if (!strcmp(argv[i], "--input")) {
            if (bench_parse_list(argv[++i], chw, MAXV) != 3)
                usage();
        } else if (!strcmp(argv[i], "--batches"))
            nb = bench_parse_list(argv[++i], batches, MAXV);
        else if (!strcmp(argv[i], "--images"))
            images = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads"))
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = argv[++i];
        else if (!strcmp(argv[i], "--backend"))
            check(lrc_backend_parse(argv[++i], &backend));
        else
            usage();
    }
    if (np < 1 || nb < 1 || reps < 1 || threads < 1 || images < 1 || rounds < 0)
        usage();
    for (int b = 0; b < nb; b++)
        if (batches[b] < 1)
            usage();
    model_row *rows = bench_alloc((size_t)np, sizeof *rows, "model rows");
    int64_t max_in = 0, max_out = 0, max_n = 0;
    for (int m = 0; m < np; m++) {
        model_row *r = &rows[m];
        r->path = paths[m];
        check(lrc_model_load(paths[m], &r->net));
        check(lrc_net_set_input(r->net, chw[0], chw[1], chw[2]));
        r->layers = lrc_net_num_layers(r->net);
        for (int64_t i = 0; i < r->layers; i++) {
            const lrc_layer *l = lrc_net_layer(r->net, i);
            r->macs += (double)lrc_layer_macs(l);
            if (l->op == LRC_OP_CONV)
                r->conv_macs += (double)lrc_layer_macs(l);
        }
        r->in_sz = lrc_net_input_size(r->net);
        r->out_sz = lrc_net_output_size(r->net);
        if (r->in_sz > max_in)
            max_in = r->in_sz;
        if (r->out_sz > max_out)
            max_out = r->out_sz;
        for (int b = 0; b < nb; b++)
            r->lt[b] = bench_alloc((size_t)r->layers, sizeof(double), "layer times");
        fprintf(stderr, "bench_model: %s: %lld layers, %.3f GMAC per image\n", paths[m],
                (long long)r->layers, r->macs / 1e9);
    }
    for (int b = 0; b < nb; b++)
        if ((images + batches[b] - 1) / batches[b] * batches[b] > max_n)
            max_n = (images + batches[b] - 1) / batches[b] * batches[b];
    float *in = bench_alloc((size_t)(max_n * max_in), sizeof(float), "input");
    float *out = bench_alloc((size_t)(max_n * max_out), sizeof(float), "output");
    bench_fill(in, (size_t)(max_n * max_in), 7, 2.0f);

    /* --reps passes, each over every model and batch size in turn, keeping
     * the best: a burst of load from elsewhere then spoils one pass of each
     * model rather than every run of one model, whose ratio to the others
     * it would bias. */
    double peak = 0.0;
    for (int pass = 0; pass < reps; pass++) {
        const double g = bench_sgemm_gflops(2048, threads, 1);
        if (g > peak)
            peak = g;
        openblas_set_num_threads(threads);
        for (int m = 0; m < np; m++)
            for (int b = 0; b < nb; b++) {
                const int64_t B = batches[b], N = (images + B - 1) / B * B;
                time_pass(&rows[m], backend, b, B, N, in, out);
                fprintf(stderr, "bench_model: pass %d of %d: %s batch %lld: %.1f ms per "
                        "image (best so far)\n", pass + 1, reps, rows[m].path,
                        (long long)B, 1e3 * rows[m].t[b]);
            }
    }
    for (int m = 0; m < np; m++)
        for (int b = 0; b < nb; b++) {
            const int64_t N = (images + batches[b] - 1) / batches[b] * batches[b];
            double conv = 0, sum = 0, other = 0;
            for (int64_t i = 0; i < rows[m].layers; i++) {
                const lrc_op op = lrc_net_layer(rows[m].net, i)->op;
                sum += rows[m].lt[b][i];
                if (op == LRC_OP_CONV)
                    conv += rows[m].lt[b][i];
                else if (op != LRC_OP_RELU)
                    other += rows[m].lt[b][i];
            }
            rows[m].t_conv[b] = conv / (double)N;
            rows[m].t_other[b] = other / (double)N;
            rows[m].t_layers_sum[b] = sum / (double)N;
        }
    if (np > 1 && rounds > 0)
        for (int b = 0; b < nb; b++) {
            time_rounds(rows, np, backend, b, batches[b], rounds, in, out);
            fprintf(stderr, "bench_model: %d paired rounds at batch %lld done\n",
                    rounds, batches[b]);
        }

    bench_json j;
    if (bench_json_open(&j, json))
        return 1;
    bench_json_str(&j, "benchmark", "bench_model");
    bench_json_machine(&j);
    bench_json_int(&j, "reps", reps);
    bench_json_int(&j, "threads", threads);
    bench_json_int(&j, "rounds", np > 1 ? rounds : 0);
    bench_json_str(&j, "backend", lrc_backend_name(backend));
    bench_json_num(&j, "sgemm_peak_gflops", peak);
    bench_json_begin_array(&j, "models");
    for (int m = 0; m < np; m++) {
        const model_row *r = &rows[m];
        bench_json_begin_object(&j, NULL);
        bench_json_str(&j, "model", r->path);
        bench_json_int(&j, "layers", r->layers);
        bench_json_num(&j, "gmacs_per_image", r->macs / 1e9);
        bench_json_num(&j, "conv_gmacs_per_image", r->conv_macs / 1e9);
        bench_json_begin_array(&j, "batches");
        for (int b = 0; b < nb; b++) {
            const int64_t B = batches[b], N = (images + B - 1) / B * B;
            bench_json_begin_object(&j, NULL);
            bench_json_int(&j, "batch", B);
            bench_json_int(&j, "images", N);
            bench_json_num(&j, "seconds_per_image", r->t[b]);
            bench_json_num(&j, "conv_seconds_per_image", r->t_conv[b]);
            bench_json_num(&j, "other_seconds_per_image", r->t_other[b]);
            bench_json_num(&j, "layers_sum_seconds_per_image", r->t_layers_sum[b]);
            bench_json_num(&j, "gflops", 2.0 * r->macs / r->t[b] / 1e9);
            bench_json_begin_array(&j, "layers");
            for (int64_t i = 0; i < r->layers; i++) {
                const lrc_layer *l = lrc_net_layer(r->net, i);
                bench_json_begin_object(&j, NULL);
                bench_json_str(&j, "name", l->name);
                bench_json_str(&j, "op", lrc_op_name(l->op));
                bench_json_int(&j, "macs", lrc_layer_macs(l));
                bench_json_num(&j, "seconds_per_image", r->lt[b][i] / (double)N);
                bench_json_end_object(&j);
            }
            bench_json_end_array(&j);
            bench_json_end_object(&j);
        }
        bench_json_end_array(&j);
        if (m > 0) {
            bench_json_num(&j, "theoretical_speedup", rows[0].macs / r->macs);
            bench_json_num(&j, "theoretical_conv_speedup", rows[0].conv_macs / r->conv_macs);
            bench_json_begin_array(&j, "measured_speedup");
            for (int b = 0; b < nb; b++)
                bench_json_num(&j, NULL, rows[0].t[b] / r->t[b]);
            bench_json_end_array(&j);
            bench_json_begin_array(&j, "measured_conv_speedup");
            for (int b = 0; b < nb; b++)
                bench_json_num(&j, NULL, rows[0].t_conv[b] / r->t_conv[b]);
            bench_json_end_array(&j);
            bench_json_begin_array(&j, "ceiling_speedup");
            for (int b = 0; b < nb; b++)
                bench_json_num(&j, NULL, ceiling(&rows[0], r, b));
            bench_json_end_array(&j);
            if (rounds > 0) {
                const char *key[3] = {"paired_speedup", "paired_speedup_min",
                                      "paired_speedup_max"};
                const double *val[3] = {r->pair_med, r->pair_min, r->pair_max};
                for (int k = 0; k < 3; k++) {
                    bench_json_begin_array(&j, key[k]);
                    for (int b = 0; b < nb; b++)
                        bench_json_num(&j, NULL, val[k][b]);
                    bench_json_end_array(&j);
                }
            }
        }
        bench_json_end_object(&j);
    }
    bench_json_end_array(&j);
    if (bench_json_close(&j))
        return 1;

    printf("bench_model: %lld x %lld x %lld input, %d thread%s, best of %d, "
           "speedups against %s; sgemm (n = 2048) %.1f GFLOP/s; backend %s\n",
           chw[0], chw[1], chw[2], threads, threads > 1 ? "s" : "", reps,
           rows[0].path, peak, lrc_backend_name(backend));
    for (int b = 0; b < nb; b++) {
        printf("\n  batch %lld\n", batches[b]);
        printf("  %-40s %7s %9s | %8s %8s %6s | %8s %8s %6s | %8s %6s\n", "model",
               "GMAC", "ms/image", "theory", "measured", "ratio", "conv th.",
               "conv ms.", "ratio", "ceiling", "ratio");
        for (int m = 0; m < np; m++) {
            const model_row *r = &rows[m];
            const char *name = strrchr(r->path, '/') ? strrchr(r->path, '/') + 1 : r->path;
            printf("  %-40s %7.2f %9.1f", name, r->macs / 1e9, 1e3 * r->t[b]);
            if (m == 0) {
                printf(" | %8s %8s %6s | %8s %8s %6s | %8s %6s   (convs %.1f, other "
                       "layers %.1f ms/image)\n", "-", "-", "-", "-", "-", "-", "-",
                       "-", 1e3 * r->t_conv[b], 1e3 * r->t_other[b]);
                continue;
            }
            const double th = rows[0].macs / r->macs, ms = rows[0].t[b] / r->t[b];
            const double cth = rows[0].conv_macs / r->conv_macs;
            const double cms = rows[0].t_conv[b] / r->t_conv[b];
            const double ceil_x = ceiling(&rows[0], r, b);
            printf(" | %7.2fx %7.2fx %5.0f%% | %7.2fx %7.2fx %5.0f%% | %7.2fx %5.0f%%\n",
                   th, ms, 100 * ms / th, cth, cms, 100 * cms / cth, ceil_x,
                   100 * ceil_x / th);
        }
    }
    printf("\n  (theory: ratio of multiply-adds; measured: ratio of forward times; "
           "ratio: measured / theory; conv: the conv layers alone; ceiling: the "
           "measured speedup if the model's convs and ReLUs took exactly 1 / conv "
           "th. of the reference's, its other layers as measured: what work on "
           "the convs alone can reach)\n");
    if (np > 1 && rounds > 0) {
        printf("\n  paired rounds: %d, each running every model once on one batch, "
               "in turn; speedup: the median over the rounds of the reference's "
               "time over the model's in the same round [least, most]\n", rounds);
        for (int b = 0; b < nb; b++)
            for (int m = 1; m < np; m++) {
                const model_row *r = &rows[m];
                const char *name = strrchr(r->path, '/') ? strrchr(r->path, '/') + 1
                                                         : r->path;
                const double th = rows[0].macs / r->macs;
                printf("  batch %-3lld %-36s %7.2fx [%.2f, %.2f]  %5.0f%% of "
                       "theory [%.0f, %.0f]\n", batches[b], name, r->pair_med[b],
                       r->pair_min[b], r->pair_max[b], 100 * r->pair_med[b] / th,
                       100 * r->pair_min[b] / th, 100 * r->pair_max[b] / th);
            }
    }
    printf("  figures written to %s\n", json);
    for (int m = 0; m < np; m++) {
        lrc_net_destroy(&rows[m].net);
        for (int b = 0; b < nb; b++)
            free(rows[m].lt[b]);
    }
    free(rows);
    free(in);
    free(out);
    return 0;
}
