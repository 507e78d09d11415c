/* Status names and the one-line error reports. */
#define _POSIX_C_SOURCE 200809L
#include "lrc/core.h"

#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *lrc_status_name(lrc_status st)
{
    switch (st) {
    case LRC_OK: return "ok";
    case LRC_ERR_ARG: return "invalid argument";
    case LRC_ERR_IO: return "I/O error";
    case LRC_ERR_FORMAT: return "format error";
    case LRC_ERR_UNSUPPORTED: return "unsupported";
    case LRC_ERR_NOMEM: return "out of memory";
    case LRC_ERR_MPI: return "MPI error";
    case LRC_ERR_HDF5: return "HDF5 error";
    case LRC_ERR_LAPACK: return "LAPACK error";
    case LRC_ERR_NUMERIC: return "numerical error";
    case LRC_ERR_INTERNAL: return "internal error";
    case LRC_STOPPED: return "stopped";
    }
    return "unknown status";
}

/* Writes "lrcompress [rank R] " into buf; the rank only when MPI is up. */
static void rank_prefix(char *buf, size_t len)
{
    int inited = 0, finalized = 0, rank = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (inited && !finalized) {
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        snprintf(buf, len, "lrcompress [rank %d]", rank);
    } else {
        snprintf(buf, len, "lrcompress");
    }
}

lrc_status lrc_error_report(lrc_status st, const char *file, int line,
                            const char *func, const char *fmt, ...)
{
    char prefix[64], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rank_prefix(prefix, sizeof prefix);
    const char *base = strrchr(file, '/');
    fprintf(stderr, "%s error: %s [%s in %s, %s:%d]\n", prefix, msg,
            lrc_status_name(st), func, base ? base + 1 : file, line);
    fflush(stderr);
    return st;
}

lrc_status lrc_error_mpi(int mpi_rc, const char *file, int line,
                         const char *func, const char *what)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string(mpi_rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error code %d", mpi_rc);
    return lrc_error_report(LRC_ERR_MPI, file, line, func, "%s failed: %s",
                            what, text);
}

void lrc_log(const char *fmt, ...)
{
    char prefix[64];
    va_list ap;
    rank_prefix(prefix, sizeof prefix);
    fprintf(stderr, "%s: ", prefix);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

double lrc_wtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
