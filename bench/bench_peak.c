/* sgemm peak: OpenBLAS's rate on large square float products, with 1 and 2
 * threads. This is the ceiling for a convolution lowered onto sgemm, so the
 * conv benchmarks report their rates as a fraction of it.
 *
 *   build/bench/bench_peak [--sizes 2048,4096] [--threads 1,2] [--reps 3]
 *                          [--json bench_peak.json]
 *
 * Each figure is the best of --reps timed calls after one untimed call.
 * Also measured: the core's arithmetic limit (a register-only loop of
 * fused multiply-adds), so that the sgemm figure can be read as a fraction
 * of what the core can do at all. About 20 s with the defaults. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define MAXV 16

static void usage(void)
{
    fprintf(stderr, "usage: bench_peak [--sizes N1,N2,...] [--threads T1,T2,...] "
                    "[--reps R] [--json FILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    bench_blas_check("bench_peak");
    long long sizes[MAXV] = {2048, 4096}, threads[MAXV] = {1, 2};
    int ns = 2, nt = 2, reps = 3;
    const char *json = "bench_peak.json";
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (!strcmp(argv[i], "--sizes"))
            ns = bench_parse_list(argv[++i], sizes, MAXV);
        else if (!strcmp(argv[i], "--threads"))
            nt = bench_parse_list(argv[++i], threads, MAXV);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = argv[++i];
        else
            usage();
    }
    if (ns < 1 || nt < 1 || reps < 1)
        usage();

    const char *isa;
    openblas_set_num_threads(1);
    double fma = bench_fma_peak_gflops(&isa);
    printf("bench_peak: OpenBLAS %s (core %s), best of %d\n", openblas_get_config(),
           openblas_get_corename(), reps);
    printf("  FMA loop (%s, registers only, 1 thread): %.1f GFLOP/s per core\n",
           isa, fma);
    printf("  %6s %8s %12s %14s %14s\n", "n", "threads", "GFLOP/s",
           "of FMA loop", "vs 1 thread");

    bench_json j;
    if (bench_json_open(&j, json))
        return 1;
    bench_json_str(&j, "benchmark", "bench_peak");
    bench_json_machine(&j);
    bench_json_int(&j, "reps", reps);
    bench_json_str(&j, "fma_isa", isa);
    bench_json_num(&j, "fma_loop_gflops_per_core", fma);
    bench_json_begin_array(&j, "sgemm");
    for (int s = 0; s < ns; s++) {
        double one = 0.0;
        for (int t = 0; t < nt; t++) {
            double g = bench_sgemm_gflops(sizes[s], (int)threads[t], reps);
            if (threads[t] == 1)
                one = g;
            char vs[32] = "";
            if (one > 0 && threads[t] != 1)
                snprintf(vs, sizeof vs, "%.2fx", g / one);
            printf("  %6lld %8lld %12.1f %13.0f%% %14s\n", sizes[s], threads[t], g,
                   100.0 * g / (fma * (double)threads[t]), vs);
            bench_json_begin_object(&j, NULL);
            bench_json_int(&j, "n", sizes[s]);
            bench_json_int(&j, "threads", threads[t]);
            bench_json_num(&j, "gflops", g);
            bench_json_num(&j, "of_fma_loop", g / (fma * (double)threads[t]));
            if (one > 0)
                bench_json_num(&j, "vs_1_thread", g / one);
            bench_json_end_object(&j);
        }
    }
    bench_json_end_array(&j);
    if (bench_json_close(&j))
        return 1;
    printf("  figures written to %s\n", json);
    return 0;
}
