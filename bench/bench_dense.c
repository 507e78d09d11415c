/* A dense layer of fc6's shape (4096 x 25088, 411 MB of weights) on
 * batches of a few images: lrc_fw_dense (which reads the rows of W^T of
 * the inputs that are nonzero in some image, up to LRC_DENSE_FEW images)
 * against one OpenBLAS sgemm, one thread.
 *
 *   build/bench/bench_dense [--batches 1,2,4,8] [--out 4096] [--in 25088]
 *                           [--zeros 0.4] [--reps 7] [--json bench_dense.json]
 *
 * Prints, per batch, the kernel's time (best of reps) on inputs with no
 * zeros and on inputs of which a fraction --zeros is zero (the same inputs
 * in every image, as a ReLU's dead channels are; VGG-16's pool5 is 40% zero
 * on generated weights), the rate at which it reads all of the weights in
 * the first, sgemm's time, and the largest difference between the kernel's
 * outputs and sgemm's relative to the largest output. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "lrc/lrc.h"

#include "../src/forward/forward_impl.h"

#define MAXB 16

typedef struct {
    lrc_layer l;
    const float *wt; /* W^T, as a forward plan lays it out */
    const float *x;
    float *y;
    int64_t n;
} dense_run;

static void run_kernel(void *arg)
{
    dense_run *r = arg;
    lrc_fw_dense(&r->l, r->wt, r->x, r->n, r->y);
}

static void run_sgemm(void *arg)
{
    dense_run *r = arg;
    const int o = (int)r->l.out_c, k = (int)r->l.in_c;
    for (int64_t b = 0; b < r->n; b++)
        memcpy(r->y + b * o, r->l.bias, (size_t)o * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)r->n, o, k, 1.0f,
                r->x, k, r->l.weight, k, 1.0f, r->y, o);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_dense [--batches 1,2,4,8] [--out O] [--in I] "
                    "[--zeros Z] [--reps R] [--json FILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    bench_blas_check("bench_dense");
    long long batches[MAXB] = {1, 2, 4, 8};
    int nb = 4, reps = 7;
    int64_t o = 4096, k = 25088;
    double zeros = 0.4;
    const char *json = "bench_dense.json";
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (!strcmp(argv[i], "--batches"))
            nb = bench_parse_list(argv[++i], batches, MAXB);
        else if (!strcmp(argv[i], "--out"))
            o = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--in"))
            k = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--zeros"))
            zeros = atof(argv[++i]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = argv[++i];
        else
            usage();
    }
    if (nb < 1 || o < 1 || k < 1 || reps < 1 || !(zeros >= 0 && zeros <= 1))
        usage();
    openblas_set_num_threads(1);
    int64_t most = 1;
    for (int i = 0; i < nb; i++)
        most = batches[i] > most ? batches[i] : most;
    dense_run r;
    memset(&r, 0, sizeof r);
    r.l.op = LRC_OP_DENSE;
    r.l.out_c = o;
    r.l.in_c = k;
    r.l.weight = bench_alloc((size_t)(o * k), sizeof(float), "weights");
    r.l.bias = bench_alloc((size_t)o, sizeof(float), "bias");
    float *x = bench_alloc((size_t)(most * k), sizeof(float), "inputs");
    float *yk = bench_alloc((size_t)(most * o), sizeof(float), "outputs");
    float *ys = bench_alloc((size_t)(most * o), sizeof(float), "outputs");
    bench_fill(r.l.weight, (size_t)(o * k), 1, 0.01f);
    bench_fill(r.l.bias, (size_t)o, 2, 0.1f);
    bench_fill(x, (size_t)(most * k), 3, 1.0f);
    float *wt = bench_alloc((size_t)(o * k), sizeof(float), "W^T");
    lrc_fw_dense_pack(&r.l, wt);
    r.wt = wt;
    /* the same inputs zero in every image, the others as in x */
    float *xz = bench_alloc((size_t)(most * k), sizeof(float), "inputs");
    int64_t nz = 0;
    for (int64_t t = 0; t < k; t++) {
        const int zero = bench_unif(4, (uint64_t)t) + 0.5f < zeros;
        nz += zero;
        for (int64_t b = 0; b < most; b++)
            xz[b * k + t] = zero ? 0.0f : x[b * k + t];
    }
    bench_json j;
    if (bench_json_open(&j, json))
        return 1;
    bench_json_str(&j, "benchmark", "bench_dense");
    bench_json_machine(&j);
    bench_json_int(&j, "out", o);
    bench_json_int(&j, "in", k);
    bench_json_num(&j, "zeros", (double)nz / (double)k);
    bench_json_begin_array(&j, "batches");
    printf("bench_dense: %lld x %lld weights (%.0f MB), one thread, best of %d\n",
           (long long)o, (long long)k, (double)(o * k) * 4e-6, reps);
    printf("  inputs zero: none, or %.1f%% (the same in every image)\n",
           100.0 * (double)nz / (double)k);
    printf("  batch |  ours, none    read | ours, %4.1f%% |   sgemm | sgemm / ours | maxdiff\n",
           100.0 * (double)nz / (double)k);
    for (int i = 0; i < nb; i++) {
        r.n = batches[i];
        r.x = xz;
        r.y = yk;
        const double tz = bench_best_of(1, reps, run_kernel, &r);
        r.x = x;
        const double tk = bench_best_of(1, reps, run_kernel, &r);
        r.y = ys;
        const double ts = bench_best_of(1, reps, run_sgemm, &r);
        double scale = 0, diff = 0;
        for (int64_t t = 0; t < r.n * o; t++) {
            scale = fmax(scale, fabs(ys[t]));
            diff = fmax(diff, fabs(ys[t] - yk[t]));
        }
        printf("  %5lld | %6.1f ms %5.1f GB/s | %8.1f ms | %5.1f ms | %12.2f | %.1e\n",
               batches[i], tk * 1e3, (double)(o * k) * 4e-9 / tk, tz * 1e3,
               ts * 1e3, ts / tk, diff / (scale > 0 ? scale : 1));
        bench_json_begin_object(&j, NULL);
        bench_json_int(&j, "batch", batches[i]);
        bench_json_num(&j, "seconds_lrc", tk);
        bench_json_num(&j, "seconds_lrc_zeros", tz);
        bench_json_num(&j, "seconds_sgemm", ts);
        bench_json_num(&j, "max_rel_diff", diff / (scale > 0 ? scale : 1));
        bench_json_end_object(&j);
    }
    bench_json_end_array(&j);
    if (bench_json_close(&j))
        return 1;
    printf("  figures written to %s\n", json);
    free(r.l.weight);
    free(r.l.bias);
    free(x);
    free(xz);
    free(wt);
    free(yk);
    free(ys);
    return 0;
}
