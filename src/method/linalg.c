/* Dense linear algebra of the method on one rank: centred Gram matrices,
 * the symmetric eigen-solver, and the reduced-rank regression step. */
#include <cblas.h>
#include <inttypes.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

#include "lrc/parallel.h"
#include "method/method_impl.h"

lrc_status lrc_eig_sym(int64_t d, const double *S, double *w, double *V)
{
    lrc_status st = LRC_OK;
    double *a = NULL, *tmp = NULL;
    if (d <= 0 || d > INT32_MAX)
        LRC_RAISE(LRC_ERR_ARG, "eigen problem of size %" PRId64, d);
    LRC_TRY(lrc_calloc(&a, (size_t)(d * d), sizeof *a, "eigen workspace"));
    LRC_TRY(lrc_calloc(&tmp, (size_t)d, sizeof *tmp, "eigenvalues"));
    memcpy(a, S, (size_t)(d * d) * sizeof *a);
    for (int64_t i = 0; i < d * d; i++)
        if (!isfinite(a[i]))
            LRC_FAIL(LRC_ERR_NUMERIC, "eigen problem of size %" PRId64 " has a "
                     "non-finite entry at (%" PRId64 ", %" PRId64 ")", d, i / d,
                     i % d);
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, V ? 'V' : 'N', 'U',
                                     (lapack_int)d, a, (lapack_int)d, tmp);
    if (info < 0)
        LRC_FAIL(LRC_ERR_INTERNAL, "dsyevd: argument %d is invalid", (int)-info);
    if (info > 0)
        LRC_FAIL(LRC_ERR_LAPACK, "dsyevd did not converge (info %d) on a "
                 "%" PRId64 " x %" PRId64 " matrix", (int)info, d, d);
    /* LAPACK gives ascending order; we want descending. */
    for (int64_t j = 0; j < d; j++)
        w[j] = tmp[d - 1 - j];
    if (V) {
        for (int64_t i = 0; i < d; i++)
            for (int64_t j = 0; j < d; j++)
                V[i * d + j] = a[i * d + (d - 1 - j)];
        lrc_eigvec_fix_signs(d, d, V);
    }
cleanup:
    lrc_free(&a);
    lrc_free(&tmp);
    return st;
}

void lrc_gram_centered(int64_t n, int64_t d, const double *X, const double *mx,
                       const double *Y, const double *my, double *out,
                       double *chunk_x, double *chunk_y, int64_t chunk)
{
    memset(out, 0, (size_t)(d * d) * sizeof *out);
    for (int64_t s = 0; s < n; s += chunk) {
        const int64_t m = n - s < chunk ? n - s : chunk;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < d; j++) {
                chunk_x[i * d + j] = X[(s + i) * d + j] - (mx ? mx[j] : 0.0);
                chunk_y[i * d + j] = Y[(s + i) * d + j] - (my ? my[j] : 0.0);
            }
        /* out += chunk_x^T chunk_y  (d x d) */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)d,
                    (int)m, 1.0, chunk_x, (int)d, chunk_y, (int)d, 1.0, out,
                    (int)d);
    }
}

lrc_status lrc_pinv_sym(MPI_Comm eig_comm, int64_t d, const double *A,
                        double rel_tol, double *Ap)
{
    lrc_status st = LRC_OK;
    double *lam = NULL, *V = NULL, *tmp = NULL;
    const size_t dd = (size_t)(d * d);
    LRC_TRY(lrc_calloc(&lam, (size_t)d, sizeof *lam, "eigenvalues"));
    LRC_TRY(lrc_calloc(&V, dd, sizeof *V, "eigenvectors"));
    LRC_TRY(lrc_calloc(&tmp, dd, sizeof *tmp, "scratch"));
    if (eig_comm != MPI_COMM_NULL)
        LRC_TRY(lrc_peig_sym(eig_comm, d, A, lam, V, 0));
    else
        LRC_TRY(lrc_eig_sym(d, A, lam, V));
    /* A^+ = V diag(1/lam) V^T over the eigenvalues above the threshold. */
    const double cut = lam[0] > 0 ? rel_tol * lam[0] : 0.0;
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < d; j++)
            tmp[i * d + j] = lam[j] > cut && lam[j] > 0 ? V[i * d + j] / lam[j]
                                                       : 0.0;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d, (int)d, (int)d,
                1.0, tmp, (int)d, V, (int)d, 0.0, Ap, (int)d);
cleanup:
    lrc_free(&lam);
    lrc_free(&V);
    lrc_free(&tmp);
    return st;
}

/* The `rank` leading eigenvectors (columns of U, d x rank row-major, in
 * descending eigenvalue order) of a symmetric matrix S (destroyed).
 * dsyevr (MRRR) computes just those, at a cost that grows with their
 * number; dsyevd (divide and conquer) computes all of them at a fixed cost,
 * and is the faster one beyond about d / 6 of them (bench/bench_eig, one
 * core, OpenBLAS 0.3.21, a decaying spectrum: d = 512: 11.9 ms for 17,
 * 20.6 ms for 64, 31.2 ms for 128, against 23.5 ms for all; d = 256: 4.5
 * ms for 32, 7.1 ms for 64, against 4.4 ms). The choice depends on d and rank only,
 * so every run of a layer takes the same path. */
static lrc_status top_eigvecs(int64_t d, int64_t rank, double *S, double *U)
{
    lrc_status st = LRC_OK;
    double *w = NULL, *Z = NULL;
    lapack_int *isuppz = NULL, m = 0;
    if (6 * rank > d) {
        LRC_TRY(lrc_calloc(&w, (size_t)d, sizeof *w, "eigenvalues"));
        LRC_TRY(lrc_calloc(&Z, (size_t)(d * d), sizeof *Z, "eigenvectors"));
        st = lrc_eig_sym(d, S, w, Z);
        if (st != LRC_OK)
            LRC_FAIL(st, "the (M, b)-step's eigen problem (d = %" PRId64
                     ", rank %" PRId64 ") failed", d, rank);
        for (int64_t i = 0; i < d; i++)
            memcpy(U + i * rank, Z + i * d, (size_t)rank * sizeof *U);
        goto cleanup;
    }
    LRC_TRY(lrc_calloc(&w, (size_t)d, sizeof *w, "eigenvalues"));
    LRC_TRY(lrc_calloc(&Z, (size_t)(d * rank), sizeof *Z, "eigenvectors"));
    LRC_TRY(lrc_calloc(&isuppz, (size_t)(2 * rank), sizeof *isuppz, "dsyevr support"));
    for (int64_t i = 0; i < d * d; i++)
        if (!isfinite(S[i]))
            LRC_FAIL(LRC_ERR_NUMERIC, "the (M, b)-step matrix has a non-finite "
                     "entry at (%" PRId64 ", %" PRId64 ")", i / d, i % d);
    lapack_int info = LAPACKE_dsyevr(LAPACK_ROW_MAJOR, 'V', 'I', 'U', (lapack_int)d,
                                     S, (lapack_int)d, 0.0, 0.0,
                                     (lapack_int)(d - rank + 1), (lapack_int)d,
                                     0.0, &m, w, Z, (lapack_int)rank, isuppz);
    if (info < 0)
        LRC_FAIL(LRC_ERR_INTERNAL, "dsyevr: argument %d is invalid", (int)-info);
    if (info > 0 || m != rank)
        LRC_FAIL(LRC_ERR_LAPACK, "dsyevr failed (info %d, %d of %" PRId64
                 " eigenvectors) on a %" PRId64 " x %" PRId64 " matrix",
                 (int)info, (int)m, rank, d, d);
    /* ascending from LAPACK: reverse the columns */
    for (int64_t i = 0; i < d; i++)
        for (int64_t r = 0; r < rank; r++)
            U[i * rank + r] = Z[i * rank + (rank - 1 - r)];
    lrc_eigvec_fix_signs(d, rank, U);
cleanup:
    lrc_free(&w);
    lrc_free(&Z);
    lrc_free(&isuppz);
    return st;
}

lrc_status lrc_solve_rrr_pinv(MPI_Comm eig_comm, int64_t d, int64_t rank,
                              const double *Ap, const double *B,
                              const double *mean_z, const double *mean_yh,
                              lrc_lowrank *f)
{
    lrc_status st = LRC_OK;
    double *G = NULL, *S = NULL, *q = NULL;
    const size_t dd = (size_t)(d * d);
    if (rank < 1 || rank > d)
        LRC_RAISE(LRC_ERR_ARG, "rank %" PRId64 " outside 1..%" PRId64, rank, d);
    if (f->d != d || f->rank != rank)
        LRC_RAISE(LRC_ERR_INTERNAL, "factor of %" PRId64 "x%" PRId64 " for a "
                  "rank-%" PRId64 " solve of size %" PRId64, f->d, f->rank, rank,
                  d);
    LRC_TRY(lrc_calloc(&G, dd, sizeof *G, "B A^+"));
    LRC_TRY(lrc_calloc(&S, dd, sizeof *S, "B A^+ B^T"));
    LRC_TRY(lrc_calloc(&q, (size_t)rank, sizeof *q, "scratch"));
    /* G = B A^+, S = G B^T (symmetric up to rounding: symmetrise). */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, (int)d,
                (int)d, 1.0, B, (int)d, Ap, (int)d, 0.0, G, (int)d);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)d, (int)d, (int)d,
                1.0, G, (int)d, B, (int)d, 0.0, S, (int)d);
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < i; j++) {
            double v = 0.5 * (S[i * d + j] + S[j * d + i]);
            S[i * d + j] = S[j * d + i] = v;
        }
    /* P = top eigenvectors, Qt = P^T G, b = zbar - P Qt yhbar */
    if (eig_comm != MPI_COMM_NULL) {
        double *w = NULL, *V = NULL;
        st = lrc_calloc(&w, (size_t)d, sizeof *w, "eigenvalues");
        if (st == LRC_OK)
            st = lrc_calloc(&V, dd, sizeof *V, "eigenvectors");
        if (st == LRC_OK)
            st = lrc_peig_sym(eig_comm, d, S, w, V, 0);
        if (st == LRC_OK)
            for (int64_t i = 0; i < d; i++)
                for (int64_t r = 0; r < rank; r++)
                    f->P[i * rank + r] = V[i * d + r];
        lrc_free(&w);
        lrc_free(&V);
        if (st != LRC_OK)
            goto cleanup;
    } else {
        LRC_TRY(top_eigvecs(d, rank, S, f->P));
    }
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)rank, (int)d,
                (int)d, 1.0, f->P, (int)rank, G, (int)d, 0.0, f->Qt, (int)d);
    cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)rank, (int)d, 1.0, f->Qt,
                (int)d, mean_yh, 1, 0.0, q, 1);
    for (int64_t i = 0; i < d; i++) {
        double s = 0.0;
        for (int64_t r = 0; r < rank; r++)
            s += f->P[i * rank + r] * q[r];
        f->b[i] = mean_z[i] - s;
    }
cleanup:
    lrc_free(&G);
    lrc_free(&S);
    lrc_free(&q);
    return st;
}

lrc_status lrc_solve_rrr(int64_t d, int64_t rank, const double *A,
                         const double *B, const double *mean_z,
                         const double *mean_yh, double rel_tol, lrc_lowrank *f)
{
    lrc_status st = LRC_OK;
    double *Ap = NULL;
    LRC_TRY(lrc_calloc(&Ap, (size_t)(d * d), sizeof *Ap, "pseudo-inverse"));
    LRC_TRY(lrc_pinv_sym(MPI_COMM_NULL, d, A, rel_tol, Ap));
    LRC_TRY(lrc_solve_rrr_pinv(MPI_COMM_NULL, d, rank, Ap, B, mean_z, mean_yh, f));
cleanup:
    lrc_free(&Ap);
    return st;
}
