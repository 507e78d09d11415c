#include "bench_util.h"

#include <cblas.h>
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lrc/core.h"

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

float bench_unif(uint64_t seed, uint64_t i)
{
    return (float)((double)(mix(mix(seed) ^ i) >> 40) / 16777216.0 - 0.5);
}

void bench_fill(float *x, size_t n, uint64_t seed, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = scale * bench_unif(seed, i);
}

void *bench_alloc(size_t count, size_t size, const char *what)
{
    void *p = NULL;
    /* on cache lines, as the forward plan's activation buffers */
    if (lrc_calloc_aligned(&p, count, size, 64, what) != LRC_OK)
        exit(1); /* lrc_calloc printed the bytes and `what` */
    return p;
}

double bench_best_of(int warmup, int reps, void (*fn)(void *), void *arg)
{
    for (int r = 0; r < warmup; r++)
        fn(arg);
    double best = 1e300;
    for (int r = 0; r < reps; r++) {
        double t0 = lrc_wtime();
        fn(arg);
        double t = lrc_wtime() - t0;
        if (t < best)
            best = t;
    }
    return best;
}

typedef struct {
    int64_t n;
    const float *a, *b;
    float *c;
} gemm_arg;

static void run_gemm(void *p)
{
    const gemm_arg *g = p;
    const int n = (int)g->n;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, g->a,
                n, g->b, n, 0.0f, g->c, n);
}

double bench_sgemm_seconds(int64_t n, int threads, int reps)
{
    const size_t nn = (size_t)(n * n);
    float *a = bench_alloc(nn, sizeof *a, "sgemm A");
    float *b = bench_alloc(nn, sizeof *b, "sgemm B");
    float *c = bench_alloc(nn, sizeof *c, "sgemm C");
    bench_fill(a, nn, 1, 1.0f);
    bench_fill(b, nn, 2, 1.0f);
    openblas_set_num_threads(threads);
    gemm_arg g = {n, a, b, c};
    double t = bench_best_of(1, reps, run_gemm, &g);
    free(a);
    free(b);
    free(c);
    return t;
}

double bench_sgemm_gflops(int64_t n, int threads, int reps)
{
    return 2.0 * (double)n * (double)n * (double)n /
           bench_sgemm_seconds(n, threads, reps) / 1e9;
}

/* FMA loops: 16 independent accumulators hide the latency (4 cycles) of two
 * pipes on every x86 core we know of. Each iteration is 16 FMAs of
 * `lanes` floats, 2 flops each. */
#define FMA_ITERS 20000000L

__attribute__((target("avx512f"))) static double fma_loop_512(void)
{
    __m512 acc[16];
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 16; i++)
        acc[i] = _mm512_set1_ps((float)i);
    double t0 = lrc_wtime();
    for (long it = 0; it < FMA_ITERS; it++)
        for (int i = 0; i < 16; i++)
            acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    double t = lrc_wtime() - t0;
    __m512 s = acc[0];
    for (int i = 1; i < 16; i++)
        s = _mm512_add_ps(s, acc[i]);
    volatile float sink = _mm512_reduce_add_ps(s);
    (void)sink;
    return 16.0 * 16.0 * 2.0 * (double)FMA_ITERS / t / 1e9;
}

__attribute__((target("avx2,fma"))) static double fma_loop_256(void)
{
    __m256 acc[16];
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 16; i++)
        acc[i] = _mm256_set1_ps((float)i);
    double t0 = lrc_wtime();
    for (long it = 0; it < FMA_ITERS; it++)
        for (int i = 0; i < 16; i++)
            acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    double t = lrc_wtime() - t0;
    __m256 s = acc[0];
    for (int i = 1; i < 16; i++)
        s = _mm256_add_ps(s, acc[i]);
    float v[8];
    _mm256_storeu_ps(v, s);
    volatile float sink = v[0];
    (void)sink;
    return 16.0 * 8.0 * 2.0 * (double)FMA_ITERS / t / 1e9;
}

double bench_fma_peak_gflops(const char **isa)
{
    __builtin_cpu_init();
    double best = 0.0;
    *isa = "none";
    /* Both widths where both exist: some cores (AMD Zen 4) split 512-bit
     * operations in two, so the wider vectors need not be faster. */
    for (int r = 0; r < 3; r++) {
        if (__builtin_cpu_supports("avx512f")) {
            double g = fma_loop_512();
            if (g > best) {
                best = g;
                *isa = "avx512f";
            }
        }
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
            double g = fma_loop_256();
            if (g > best) {
                best = g;
                *isa = "avx2+fma";
            }
        }
    }
    return best;
}

/* ---- JSON ---- */

static void sep(bench_json *j, const char *key)
{
    if (!j->first[j->depth])
        fputc(',', j->f);
    j->first[j->depth] = 0;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->f);
    if (key)
        fprintf(j->f, "\"%s\": ", key);
}

static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        if ((unsigned char)*s >= 0x20)
            fputc(*s, f);
    }
    fputc('"', f);
}

int bench_json_open(bench_json *j, const char *path)
{
    memset(j, 0, sizeof *j);
    j->f = fopen(path, "w");
    if (!j->f) {
        perror(path);
        return 1;
    }
    fputc('{', j->f);
    j->first[0] = 1;
    return 0;
}

int bench_json_close(bench_json *j)
{
    fputs("\n}\n", j->f);
    int rc = fclose(j->f) != 0;
    j->f = NULL;
    return rc;
}

static void begin(bench_json *j, const char *key, char open)
{
    sep(j, key);
    fputc(open, j->f);
    j->depth++;
    j->first[j->depth] = 1;
}

static void end(bench_json *j, char close)
{
    int empty = j->first[j->depth];
    j->depth--;
    if (!empty) {
        fputc('\n', j->f);
        for (int i = 0; i < j->depth; i++)
            fputs("  ", j->f);
    }
    fputc(close, j->f);
}

void bench_json_begin_object(bench_json *j, const char *key) { begin(j, key, '{'); }
void bench_json_begin_array(bench_json *j, const char *key) { begin(j, key, '['); }
void bench_json_end_object(bench_json *j) { end(j, '}'); }
void bench_json_end_array(bench_json *j) { end(j, ']'); }

void bench_json_num(bench_json *j, const char *key, double v)
{
    sep(j, key);
    if (v != v || v > 1e300 || v < -1e300)
        fputs("null", j->f); /* JSON has no NaN or infinity */
    else
        fprintf(j->f, "%.6g", v);
}

void bench_json_int(bench_json *j, const char *key, int64_t v)
{
    sep(j, key);
    fprintf(j->f, "%lld", (long long)v);
}

void bench_json_str(bench_json *j, const char *key, const char *v)
{
    sep(j, key);
    put_str(j->f, v);
}

void bench_json_machine(bench_json *j)
{
    char model[256] = "unknown", line[4096];
    int avx512 = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            if (!strncmp(line, "model name", 10) && !strcmp(model, "unknown")) {
                const char *c = strchr(line, ':');
                if (c) {
                    snprintf(model, sizeof model, "%s", c + 2);
                    model[strcspn(model, "\n")] = 0;
                }
            }
            if (!strncmp(line, "flags", 5) && strstr(line, " avx512f"))
                avx512 = 1;
        }
        fclose(f);
    }
    char date[64];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    bench_json_begin_object(j, "machine");
    bench_json_str(j, "cpu", model);
    bench_json_int(j, "logical_cpus", (int64_t)sysconf(_SC_NPROCESSORS_ONLN));
    bench_json_int(j, "avx512f", avx512);
    bench_json_str(j, "date", date);
    bench_json_str(j, "openblas", openblas_get_config());
    bench_json_str(j, "openblas_core", openblas_get_corename());
    const char *env = getenv("OPENBLAS_CORETYPE");
    bench_json_str(j, "openblas_coretype_env", env ? env : "");
    bench_json_int(j, "openblas_avx512_fallback", lrc_blas_note(NULL, 0));
    bench_json_end_object(j);
}

void bench_blas_check(const char *prog)
{
    char note[512];
    if (lrc_blas_note(note, sizeof note))
        fprintf(stderr,
                "%s: warning: %s; the sgemm peak and every sgemm-based figure "
                "of this run are not the machine's\n",
                prog, note);
}

int bench_parse_list(const char *s, long long *v, int max)
{
    int n = 0;
    while (*s && n < max) {
        char *e;
        v[n++] = strtoll(s, &e, 10);
        if (e == s)
            return 0;
        s = *e == ',' ? e + 1 : e;
    }
    return n;
}
