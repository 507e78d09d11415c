/* Helpers shared by the forward benchmarks (bench_peak, bench_conv,
 * bench_model): seeded numbers, best-of-N timing, the sgemm peak, the
 * core's FMA peak, and a small JSON writer. Not part of the library: the
 * benchmarks only read its public API. */
#ifndef LRC_BENCH_UTIL_H
#define LRC_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A float in [-0.5, 0.5) that depends only on (seed, i). */
float bench_unif(uint64_t seed, uint64_t i);
/* x[i] = scale * bench_unif(seed, i). */
void bench_fill(float *x, size_t n, uint64_t seed, float scale);

/* Parses "a,b,c" into at most max integers; returns the count, 0 on a
 * malformed list. */
int bench_parse_list(const char *s, long long *v, int max);

/* calloc on 64-byte lines (as the forward plan's buffers) that prints the
 * bytes it could not get and exits: a benchmark's main has nothing to
 * recover. */
void *bench_alloc(size_t count, size_t size, const char *what);

/* Seconds of one sgemm C = A B on n x n float matrices, the best of `reps`
 * timed calls after one untimed call, with OpenBLAS on `threads` threads
 * (the thread count is left at `threads`). */
double bench_sgemm_seconds(int64_t n, int threads, int reps);
/* 2 n^3 / seconds / 1e9. */
double bench_sgemm_gflops(int64_t n, int threads, int reps);

/* GFLOP/s of a register-only loop of independent fused multiply-adds on
 * the widest vectors the CPU has (AVX-512, else AVX2+FMA; 0 when neither):
 * the arithmetic limit of one core, whatever the memory does. `*isa` names
 * the instructions used. */
double bench_fma_peak_gflops(const char **isa);

/* Best (smallest) of `reps` timed calls of fn(arg) after `warmup` untimed
 * ones. */
double bench_best_of(int warmup, int reps, void (*fn)(void *), void *arg);

/* A minimal JSON writer: objects and arrays nest, commas are tracked. Keys
 * are plain ASCII and strings are escaped for '"' and '\\' only. */
typedef struct bench_json {
    FILE *f;
    int depth;
    int first[32];
} bench_json;

/* Opens `path` for writing; returns 0 on success. */
int bench_json_open(bench_json *j, const char *path);
/* Closes the top-level object and the file; returns 0 on success. */
int bench_json_close(bench_json *j);
/* key may be NULL inside arrays. */
void bench_json_begin_object(bench_json *j, const char *key);
void bench_json_begin_array(bench_json *j, const char *key);
void bench_json_end_object(bench_json *j);
void bench_json_end_array(bench_json *j);
void bench_json_num(bench_json *j, const char *key, double v);
void bench_json_int(bench_json *j, const char *key, int64_t v);
void bench_json_str(bench_json *j, const char *key, const char *v);

/* The machine, for the JSON files: CPU model name, logical CPUs, whether
 * the kernel reports avx512f, the date (UTC, ISO 8601), OpenBLAS's core. */
void bench_json_machine(bench_json *j);

/* Prints a warning to stderr when OpenBLAS runs kernels without AVX-512 on
 * an AVX-512 CPU (OPENBLAS_CORETYPE=Haswell, say): the "peak" of such a run
 * is half the machine's. */
void bench_blas_check(const char *prog);

#endif
