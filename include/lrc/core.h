/* lrc core: status codes, error reporting, allocation, logging, timing.
 *
 * Every function of the library that can fail returns an lrc_status and hands
 * its results back through pointers. The place where a failure is detected
 * prints one line to stderr naming the rank, the problem (file, layer, key)
 * and the source location, then the status travels up unchanged; `main`
 * decides what to do with it. Nothing here keeps global mutable state. */
#ifndef LRC_CORE_H
#define LRC_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lrc_status {
    LRC_OK = 0,
    LRC_ERR_ARG,         /* bad argument or option value from the user */
    LRC_ERR_IO,          /* a file could not be opened, read or written */
    LRC_ERR_FORMAT,      /* a file's content is malformed or truncated */
    LRC_ERR_UNSUPPORTED, /* well formed, but something we do not handle */
    LRC_ERR_NOMEM,       /* an allocation failed */
    LRC_ERR_MPI,         /* an MPI call failed */
    LRC_ERR_HDF5,        /* an HDF5 call failed */
    LRC_ERR_LAPACK,      /* a LAPACK/ScaLAPACK call failed */
    LRC_ERR_NUMERIC,     /* NaN/Inf or a numerical breakdown */
    LRC_ERR_INTERNAL,    /* a bug in lrcompress */
    LRC_STOPPED          /* not an error: stopped where asked, resumable */
} lrc_status;

/* A short name for a status ("format error", ...). Not Collective. */
const char *lrc_status_name(lrc_status st);

/* Prints "lrcompress [rank R] error: MESSAGE (FUNC, FILE:LINE)" to stderr and
 * returns `st`. The rank is that of MPI_COMM_WORLD when MPI is initialised,
 * omitted otherwise. Not Collective. */
lrc_status lrc_error_report(lrc_status st, const char *file, int line,
                            const char *func, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* The check macros. The *_GOTO forms need a local `lrc_status st` and a
 * `cleanup:` label that frees what the function owns. */
#define LRC_RAISE(code, ...) \
    return lrc_error_report((code), __FILE__, __LINE__, __func__, __VA_ARGS__)

#define LRC_CALL(expr)                         \
    do {                                       \
        lrc_status lrc_call_st_ = (expr);      \
        if (lrc_call_st_ != LRC_OK)            \
            return lrc_call_st_;               \
    } while (0)

#define LRC_FAIL(code, ...)                                                  \
    do {                                                                     \
        st = lrc_error_report((code), __FILE__, __LINE__, __func__,          \
                              __VA_ARGS__);                                  \
        goto cleanup;                                                        \
    } while (0)

#define LRC_TRY(expr)              \
    do {                           \
        st = (expr);               \
        if (st != LRC_OK)          \
            goto cleanup;          \
    } while (0)

/* HDF5 calls return a negative value on failure. */
#define LRC_TRY_H5(expr, ...)                                   \
    do {                                                        \
        if ((expr) < 0)                                         \
            LRC_FAIL(LRC_ERR_HDF5, __VA_ARGS__);                \
    } while (0)

/* MPI calls: the message includes MPI_Error_string's text. */
lrc_status lrc_error_mpi(int mpi_rc, const char *file, int line,
                         const char *func, const char *what);
#define LRC_TRY_MPI(expr)                                                    \
    do {                                                                     \
        int lrc_mpi_rc_ = (expr);                                            \
        if (lrc_mpi_rc_ != 0) {                                              \
            st = lrc_error_mpi(lrc_mpi_rc_, __FILE__, __LINE__, __func__,    \
                               #expr);                                       \
            goto cleanup;                                                    \
        }                                                                    \
    } while (0)

/* Allocation. `pptr` is the address of a pointer; on success it points to
 * count*size zeroed bytes, on failure it is NULL and the message names the
 * bytes and `what`. Overflow of count*size is a failure. Not Collective. */
lrc_status lrc_calloc(void *pptr, size_t count, size_t size, const char *what);
/* The same, at an address that is a multiple of `align` (a power of two,
 * at least sizeof(void *)): for buffers that vector code stores whole
 * cache lines into. Freed with lrc_free. Not Collective. */
lrc_status lrc_calloc_aligned(void *pptr, size_t count, size_t size,
                              size_t align, const char *what);
/* Frees *pptr and sets it to NULL; no-op on NULL. */
void lrc_free(void *pptr);
/* Duplicates a string (NULL gives NULL). */
lrc_status lrc_strdup(char **out, const char *s);

/* Logging to stderr, prefixed "lrcompress [rank R]". */
void lrc_log(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Wall-clock seconds from an arbitrary origin (monotonic). */
double lrc_wtime(void);

/* Progress of a long stage, printed by rank 0 only: "stage: done/total
 * (pct), elapsed, ETA". On a terminal the line is redrawn in place (at most
 * 4 times a second); otherwise a plain line is printed at every tenth of the
 * work. `enabled` = 0 makes it silent (other ranks, --quiet). */
typedef struct lrc_progress {
    const char *stage;
    int64_t total;
    double t0, last;
    int enabled, tty, last_tenth;
} lrc_progress;

void lrc_progress_begin(lrc_progress *p, const char *stage, int64_t total,
                        int enabled);
void lrc_progress_update(lrc_progress *p, int64_t done);
/* Ends the line (on a terminal) with the stage's elapsed time. */
void lrc_progress_end(lrc_progress *p);

/* Checked size arithmetic: returns LRC_ERR_ARG naming `what` on overflow. */
lrc_status lrc_mul_size(size_t a, size_t b, size_t *out, const char *what);

/* The contiguous block of `total` items that rank `rank` of `size` owns:
 * [*start, *start + *count). Depends only on the three numbers; ranks may
 * own zero items. */
void lrc_shard_range(int64_t total, int rank, int size, int64_t *start,
                     int64_t *count);

/* The same in whole blocks of `block` items (the last block may be short):
 * every rank's range starts at a multiple of `block`, and the ranks' counts
 * differ by at most one block. */
void lrc_shard_blocks(int64_t total, int64_t block, int rank, int size,
                      int64_t *start, int64_t *count);

/* OpenBLAS's kernel set against the CPU (src/core/blas.c). OpenBLAS picks
 * its kernels when it loads, before main(), or takes the set that the
 * environment variable OPENBLAS_CORETYPE names; OPENBLAS_CORETYPE=Haswell on
 * an AVX-512 CPU halves its sgemm rate, and nothing fails.
 *
 * lrc_blas_core_fallback: 1 when `corename` (openblas_get_corename()) names a
 * kernel set without AVX-512 while `cpu_avx512` says the CPU runs AVX-512.
 * Pure. lrc_cpu_avx512: whether this CPU and its OS run AVX-512 F, BW, DQ and
 * VL. lrc_blas_note: 1 when this process's OpenBLAS runs such a fallback,
 * with a line for rank 0 to print in `note` (`len` bytes; empty otherwise)
 * that names the kernels, whether OPENBLAS_CORETYPE chose them, and the fix.
 * Not Collective. */
int lrc_blas_core_fallback(const char *corename, int cpu_avx512);
int lrc_cpu_avx512(void);
int lrc_blas_note(char *note, size_t len);

#ifdef __cplusplus
}
#endif
#endif
