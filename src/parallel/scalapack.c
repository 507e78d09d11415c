/* The symmetric eigen-solver on a BLACS process grid (ScaLAPACK pdsyevd)
 * for a matrix that every rank already holds: each grid rank copies its
 * block-cyclic pieces out of its own copy (no communication), pdsyevd runs
 * on the grid, and the pieces of the eigenvector matrix are summed into a
 * full copy on every rank. The pieces do not overlap, so that sum adds
 * only zeros and is exact whatever order MPI adds in: all ranks end with
 * bitwise identical results.
 *
 * Collective safety: every rank, in the grid or not, goes through the
 * same sequence of MPI collectives. Each step that can fail on one rank
 * alone (an allocation, a workspace size) is followed by an agreement on
 * the worst status, so all ranks leave together.
 *
 * pdsyevd's workspace query is not to be trusted: in ScaLAPACK 2.2.1 its
 * answer is short in three places (wrong eigenvectors with info = 0, a
 * hang, a heap overrun); piece_setup sizes the workspace from the needs
 * of the routines pdsyevd calls. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "parallel/parallel_impl.h"

/* Doubles per MPI call when a d x d matrix is reduced (MPI counts are int). */
#define LRC_MPI_CHUNK ((size_t)1 << 26)

/* ------------------------------------------------------------------ grid */

void lrc_grid_shape(int nranks, int64_t d, int64_t nb, int *nprow, int *npcol)
{
    const int64_t b = nb > 0 ? nb : LRC_SCALAPACK_NB;
    const int64_t blocks = d > 0 ? d / b + (d % b != 0) : 1;
    for (int p = nranks > 1 ? nranks : 1;; p--) {
        int r = 1;
        for (int q = 1; (int64_t)q * q <= p; q++)
            if (p % q == 0)
                r = q;
        /* r <= p / r: the columns are the dimension that may run out */
        if (p / r <= blocks || p == 1) {
            *nprow = r;
            *npcol = p / r;
            return;
        }
    }
}

lrc_status lrc_blacs_grid_create(MPI_Comm comm, int nprow, int npcol,
                                 lrc_blacs_grid *g)
{
    lrc_status st = LRC_OK;
    const lrc_blacs_grid none = LRC_BLACS_GRID_NONE;
    int size = 0, rank = 0;
    *g = none;
    if (comm == MPI_COMM_NULL)
        LRC_RAISE(LRC_ERR_ARG, "cannot build a BLACS grid on MPI_COMM_NULL");
    LRC_TRY_MPI(MPI_Comm_size(comm, &size));
    LRC_TRY_MPI(MPI_Comm_rank(comm, &rank));
    /* BLACS checks the grid against MPI_COMM_WORLD's size only. */
    if (nprow < 1 || npcol < 1 || (int64_t)nprow * npcol > size)
        LRC_FAIL(LRC_ERR_ARG, "a %d x %d process grid does not fit %d ranks",
                 nprow, npcol, size);
    const int in_grid = rank < nprow * npcol;
    LRC_TRY_MPI(MPI_Comm_split(comm, in_grid ? 0 : MPI_UNDEFINED, rank,
                               &g->comm));
    g->nprow = nprow;
    g->npcol = npcol;
    if (!in_grid)
        goto cleanup;
    char order[] = "Row";
    int r = 0, c = 0, repeat = 1;
    g->handle = Csys2blacs_handle(g->comm);
    g->ctxt = g->handle; /* in: the system handle; out: the context */
    Cblacs_gridinit(&g->ctxt, order, nprow, npcol);
    if (g->ctxt < 0)
        LRC_FAIL(LRC_ERR_INTERNAL, "Cblacs_gridinit left rank %d out of a "
                 "%d x %d grid", rank, nprow, npcol);
    /* By default BLACS sums through MPI's reductions or trees that add
     * messages in arrival order; on 3 processes pdsyevd then gave
     * eigenvalues that differed by 1e-15 from run to run. The repeatable
     * topology adds in a fixed order. */
    Cblacs_set(g->ctxt, LRC_BLACS_TOPSREPEAT, &repeat);
    Cblacs_gridinfo(g->ctxt, &r, &c, &g->myrow, &g->mycol);
cleanup:
    return st;
}

void lrc_blacs_grid_destroy(lrc_blacs_grid *g)
{
    const lrc_blacs_grid none = LRC_BLACS_GRID_NONE;
    if (!g)
        return;
    if (g->ctxt >= 0)
        Cblacs_gridexit(g->ctxt);
    if (g->handle >= 0)
        Cfree_blacs_system_handle(g->handle);
    if (g->comm != MPI_COMM_NULL)
        MPI_Comm_free(&g->comm);
    *g = none;
}

/* --------------------------------------------------------- small helpers */

/* Every rank learns the worst status of all ranks. A rank whose own step
 * failed has printed why; the others return the same code quietly. */
static lrc_status agree(MPI_Comm comm, lrc_status mine)
{
    int in = (int)mine, out = 0;
    int rc = MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_MAX, comm);
    if (rc != MPI_SUCCESS)
        return lrc_error_mpi(rc, __FILE__, __LINE__, __func__,
                             "MPI_Allreduce of the status");
    return (lrc_status)out;
}

/* x (count doubles) = its sum over the ranks of comm, in place. */
static lrc_status allreduce_sum(MPI_Comm comm, double *x, size_t count)
{
    lrc_status st = LRC_OK;
    for (size_t at = 0; at < count; at += LRC_MPI_CHUNK) {
        const size_t m = count - at < LRC_MPI_CHUNK ? count - at : LRC_MPI_CHUNK;
        LRC_TRY_MPI(MPI_Allreduce(MPI_IN_PLACE, x + at, (int)m, MPI_DOUBLE,
                                  MPI_SUM, comm));
    }
cleanup:
    return st;
}

void lrc_eigvec_fix_signs(int64_t rows, int64_t cols, double *V)
{
    for (int64_t j = 0; j < cols; j++) {
        int64_t at = 0;
        for (int64_t i = 1; i < rows; i++)
            if (fabs(V[i * cols + j]) > fabs(V[at * cols + j]))
                at = i;
        if (V[at * cols + j] < 0)
            for (int64_t i = 0; i < rows; i++)
                V[i * cols + j] = -V[i * cols + j];
    }
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* The 0-based global index of local index l along a block-cyclic dimension
 * (blocks of nb over np processes, the first block on process 0), on
 * process p. */
static int64_t global_index(int64_t l, int64_t nb, int p, int np)
{
    return ((l / nb) * np + p) * nb + l % nb;
}

/* ------------------------------------------------------- input agreement */

enum input_problem { INPUT_OK, INPUT_SIZE, INPUT_BLOCK, INPUT_NULL, INPUT_NONFINITE };

/* Checks this rank's arguments, then agrees with the other ranks on the
 * outcome and on d, nb and V's presence, so that a bad or mismatched
 * argument on one rank cannot leave the others waiting. Identical inputs
 * give identical problems on every rank: rank 0 alone reports them then. */
static lrc_status agree_on_inputs(MPI_Comm comm, int rank, int64_t d,
                                  const double *S, const double *w,
                                  const double *V, int64_t nb)
{
    enum input_problem prob = INPUT_OK;
    int64_t at = -1;
    if (d < 1 || d > INT32_MAX)
        prob = INPUT_SIZE;
    else if (nb < 0 || nb > INT32_MAX)
        prob = INPUT_BLOCK;
    else if (!S || !w)
        prob = INPUT_NULL;
    else
        for (int64_t i = 0; i < d * d; i++)
            if (!isfinite(S[i])) {
                at = i;
                prob = INPUT_NONFINITE;
                break;
            }
    const lrc_status mine = prob == INPUT_OK          ? LRC_OK
                            : prob == INPUT_NONFINITE ? LRC_ERR_NUMERIC
                                                      : LRC_ERR_ARG;
    /* MAX over ranks: all statuses, rank 0's status, d, nb and V != NULL
     * (each also negated, to get the minimum in the same call). */
    int64_t v[8] = {mine, rank == 0 ? mine : LRC_OK, d, -d, nb, -nb,
                    V != NULL, -(int64_t)(V != NULL)};
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, 8, MPI_INT64_T, MPI_MAX, comm);
    if (rc != MPI_SUCCESS)
        return lrc_error_mpi(rc, __FILE__, __LINE__, __func__,
                             "MPI_Allreduce of the arguments");
    if (mine != LRC_OK && (rank == 0 || v[1] == LRC_OK)) {
        switch (prob) {
        case INPUT_SIZE:
            lrc_error_report(mine, __FILE__, __LINE__, __func__, "parallel "
                             "eigen problem of size %" PRId64 " (1..%d)", d,
                             INT32_MAX);
            break;
        case INPUT_BLOCK:
            lrc_error_report(mine, __FILE__, __LINE__, __func__, "ScaLAPACK "
                             "block size %" PRId64 " (0 for the default, up to "
                             "%d)", nb, INT32_MAX);
            break;
        case INPUT_NULL:
            lrc_error_report(mine, __FILE__, __LINE__, __func__, "parallel "
                             "eigen problem given a NULL %s", S ? "w" : "S");
            break;
        case INPUT_NONFINITE:
            lrc_error_report(mine, __FILE__, __LINE__, __func__, "parallel "
                             "eigen problem of size %" PRId64 " has a "
                             "non-finite entry at (%" PRId64 ", %" PRId64 ")",
                             d, at / d, at % d);
            break;
        case INPUT_OK:
            break;
        }
    }
    if (v[0] != LRC_OK)
        return (lrc_status)v[0];
    if (v[2] != -v[3] || v[4] != -v[5] || v[6] != -v[7]) {
        if (rank == 0)
            lrc_error_report(LRC_ERR_ARG, __FILE__, __LINE__, __func__,
                             "the ranks disagree on the parallel eigen "
                             "problem: d %" PRId64 "..%" PRId64 ", nb %" PRId64
                             "..%" PRId64 ", V given on %s ranks",
                             -v[3], v[2], -v[5], v[4],
                             v[6] == -v[7] ? "all or no" : "some");
        return LRC_ERR_ARG;
    }
    return LRC_OK;
}

/* ------------------------------------------- one rank's block-cyclic part */

typedef struct piece {
    int mloc, nloc, lld; /* local rows, columns, leading dimension */
    int desc[9];         /* ScaLAPACK descriptor, shared by A and Z */
    double *a, *z, *work;
    int *iwork;
    int lwork, liwork;
    int64_t lwork_min, liwork_min; /* our bounds on pdsyevd's workspaces */
} piece;

static void piece_free(piece *p)
{
    lrc_free(&p->a);
    lrc_free(&p->z);
    lrc_free(&p->work);
    lrc_free(&p->iwork);
}

/* Sizes, descriptor and the local pieces of A (column-major, lld rows)
 * copied from the replicated row-major S. Not Collective. */
static lrc_status piece_setup(const lrc_blacs_grid *g, int n, int nb,
                              const double *S, piece *p)
{
    const int zero = 0;
    int info = 0;
    p->mloc = numroc_(&n, &nb, &g->myrow, &zero, &g->nprow);
    p->nloc = numroc_(&n, &nb, &g->mycol, &zero, &g->npcol);
    p->lld = p->mloc > 1 ? p->mloc : 1;
    descinit_(p->desc, &n, &n, &nb, &nb, &zero, &zero, &g->ctxt, &p->lld,
              &info);
    if (info != 0)
        LRC_RAISE(LRC_ERR_INTERNAL, "descinit: argument %d is invalid (%d x %d "
                  "matrix, nb %d, lld %d)", -info, n, n, nb, p->lld);
    /* pdsyevd's own minimum is not always enough for the routines it
     * calls with its workspace less 2n, and pdsyevd does not look at
     * pdormtr's info: a short workspace there leaves the eigenvectors of
     * the tridiagonal matrix in Z and info = 0 (seen for n <= nb, e.g.
     * n = 5, nb = 16). So we take the largest of:
     *  - pdsyevd:  max(1 + 6n + 2 np nq, 3n + max(nb (np + 1), 3 nb)) + 2n,
     *              with np at least 1: pdlaed1 lays out two np x nq
     *              arrays with a leading dimension of max(np, 1), so a
     *              rank without rows overruns the workspace (seen with
     *              n = 2, nb = 1 on 3 x 1);
     *  - pdormtr (side L, uplo U):
     *              2n + max(nb (nb - 1) / 2, (mpc0 + nq) nb) + nb^2,
     *              mpc0 = numroc(n - 1, nb, myrow, 0, nprow);
     *  - pdlasrt in pdstedc (Reference ScaLAPACK issue #74; n > nb, more
     *    than one process): 2n + max(n, np (nb + nq)), which the query
     *    misses on a rank with few columns (n = 128, nb = 70 on 1 x 2).
     * Computed in 64 bits, because ScaLAPACK's 32-bit arithmetic would
     * wrap, and checked here, before the (grid-collective) query. */
    const int n1 = n - 1;
    const int64_t np = p->mloc, nq = p->nloc, n64 = n, b = nb;
    const int64_t mpc0 = numroc_(&n1, &nb, &g->myrow, &zero, &g->nprow);
    const int64_t syevd = max64(1 + 6 * n64 + 2 * max64(np, 1) * nq,
                                3 * n64 + max64(b * (np + 1), 3 * b)) + 2 * n64;
    const int64_t ormtr = 2 * n64 + max64(b * (b - 1) / 2, (mpc0 + nq) * b) + b * b;
    const int64_t lasrt = 2 * n64 + max64(n64, np * (b + nq));
    p->lwork_min = max64(syevd, max64(ormtr, lasrt));
    p->liwork_min = 7 * n64 + 8 * g->npcol + 2;
    if (p->lwork_min > INT32_MAX || p->liwork_min > INT32_MAX ||
        (int64_t)p->lld * nq > INT32_MAX)
        LRC_RAISE(LRC_ERR_UNSUPPORTED, "a %d x %d eigen problem on a %d x %d "
                  "grid needs %" PRId64 " doubles of workspace and %d x %d "
                  "local blocks on one rank: more than 32-bit ScaLAPACK can "
                  "index (use more ranks)", n, n, g->nprow, g->npcol,
                  p->lwork_min, p->lld, p->nloc);
    const size_t count = (size_t)p->lld * (size_t)p->nloc;
    LRC_CALL(lrc_calloc(&p->a, count, sizeof *p->a, "the local part of a "
                        "pdsyevd matrix"));
    LRC_CALL(lrc_calloc(&p->z, count, sizeof *p->z, "the local part of "
                        "pdsyevd eigenvectors"));
    /* A(i, j) = S[i][j]: pdsyevd reads the same upper triangle as
     * LAPACKE_dsyevd(LAPACK_ROW_MAJOR, ..., 'U', ...) in lrc_eig_sym. */
    for (int lj = 0; lj < p->nloc; lj++) {
        const int64_t gj = global_index(lj, nb, g->mycol, g->npcol);
        for (int li = 0; li < p->mloc; li++) {
            const int64_t gi = global_index(li, nb, g->myrow, g->nprow);
            p->a[li + (size_t)lj * (size_t)p->lld] = S[gi * n + gj];
        }
    }
    return LRC_OK;
}

/* pdsyevd's workspace query, then workspaces of the larger of its answer
 * and our bounds. Collective on the grid. */
static lrc_status piece_workspace(int n, int nb, double *wasc, piece *p)
{
    const int one = 1, query = -1;
    double lwq = 0;
    int liwq = 0, info = 0;
    pdsyevd_("V", "U", &n, p->a, &one, &one, p->desc, wasc, p->z, &one, &one,
             p->desc, &lwq, &query, &liwq, &query, &info, 1, 1);
    if (info != 0)
        LRC_RAISE(LRC_ERR_INTERNAL, "pdsyevd workspace query: argument %d is "
                  "invalid (%d x %d matrix, nb %d)", -info, n, n, nb);
    p->lwork = (int)p->lwork_min;
    if (lwq > (double)p->lwork && lwq <= (double)INT32_MAX)
        p->lwork = (int)lwq;
    p->liwork = liwq > p->liwork_min ? liwq : (int)p->liwork_min;
    LRC_CALL(lrc_calloc(&p->work, (size_t)p->lwork, sizeof *p->work,
                        "pdsyevd workspace"));
    LRC_CALL(lrc_calloc(&p->iwork, (size_t)p->liwork, sizeof *p->iwork,
                        "pdsyevd integer workspace"));
    return LRC_OK;
}

/* All ranks agree on pdsyevd's info (0 outside the grid); rank 0, always
 * in the grid, reports. */
static lrc_status agree_on_info(MPI_Comm comm, int rank, int info, int n,
                                const lrc_blacs_grid *g, int nb)
{
    int v[2] = {info, -info};
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_INT, MPI_MAX, comm);
    if (rc != MPI_SUCCESS)
        return lrc_error_mpi(rc, __FILE__, __LINE__, __func__,
                             "MPI_Allreduce of pdsyevd's info");
    if (v[1] > 0) {
        if (rank == 0)
            lrc_error_report(LRC_ERR_INTERNAL, __FILE__, __LINE__, __func__,
                             "pdsyevd: argument %d is invalid (%d x %d matrix, "
                             "%d x %d grid, nb %d)", v[1], n, n, g->nprow,
                             g->npcol, nb);
        return LRC_ERR_INTERNAL;
    }
    if (v[0] > 0) {
        if (rank == 0)
            lrc_error_report(LRC_ERR_LAPACK, __FILE__, __LINE__, __func__,
                             "pdsyevd did not converge (info %d) on a %d x %d "
                             "matrix (%d x %d grid, nb %d)", v[0], n, n,
                             g->nprow, g->npcol, nb);
        return LRC_ERR_LAPACK;
    }
    return LRC_OK;
}

/* ------------------------------------------------------------ the solver */

lrc_status lrc_peig_sym_grid(MPI_Comm comm, int nprow, int npcol, int64_t d,
                             const double *S, double *w, double *V,
                             int64_t nb)
{
    lrc_status st = LRC_OK;
    lrc_blacs_grid g = LRC_BLACS_GRID_NONE;
    piece p = {0};
    double *wasc = NULL;
    int rank = 0, info = 0;
    if (comm == MPI_COMM_NULL)
        LRC_RAISE(LRC_ERR_ARG, "parallel eigen problem on MPI_COMM_NULL");
    LRC_TRY_MPI(MPI_Comm_rank(comm, &rank));
    LRC_TRY(agree_on_inputs(comm, rank, d, S, w, V, nb));
    const int n = (int)d, bs = nb > 0 ? (int)nb : LRC_SCALAPACK_NB;
    lrc_status mine = lrc_blacs_grid_create(comm, nprow, npcol, &g);
    const int in_grid = g.ctxt >= 0;
    if (mine == LRC_OK)
        mine = lrc_calloc(&wasc, (size_t)n, sizeof *wasc, "eigenvalues");
    if (mine == LRC_OK && in_grid)
        mine = piece_setup(&g, n, bs, S, &p);
    LRC_TRY(agree(comm, mine));
    if (in_grid)
        mine = piece_workspace(n, bs, wasc, &p);
    LRC_TRY(agree(comm, mine));

    if (in_grid) {
        const int one = 1;
        pdsyevd_("V", "U", &n, p.a, &one, &one, p.desc, wasc, p.z, &one, &one,
                 p.desc, p.work, &p.lwork, p.iwork, &p.liwork, &info, 1, 1);
    }
    LRC_TRY(agree_on_info(comm, rank, info, n, &g, bs));

    /* Eigenvalues (ascending from ScaLAPACK) from rank 0, which is always
     * in the grid, in descending order. */
    if (rank == 0)
        for (int64_t j = 0; j < d; j++)
            w[j] = wasc[d - 1 - j];
    LRC_TRY_MPI(MPI_Bcast(w, n, MPI_DOUBLE, 0, comm));
    if (V) {
        /* Z(i, j) (column-major, ascending) -> V[i][d-1-j] (row-major,
         * descending); ranks outside the grid add zeros. */
        memset(V, 0, (size_t)d * (size_t)d * sizeof *V);
        for (int lj = 0; lj < p.nloc; lj++) {
            const int64_t col = d - 1 - global_index(lj, bs, g.mycol, g.npcol);
            for (int li = 0; li < p.mloc; li++) {
                const int64_t row = global_index(li, bs, g.myrow, g.nprow);
                V[row * d + col] = p.z[li + (size_t)lj * (size_t)p.lld];
            }
        }
        LRC_TRY(allreduce_sum(comm, V, (size_t)d * (size_t)d));
        lrc_eigvec_fix_signs(d, d, V);
    }
cleanup:
    piece_free(&p);
    lrc_free(&wasc);
    lrc_blacs_grid_destroy(&g);
    return st;
}

lrc_status lrc_peig_sym(MPI_Comm comm, int64_t d, const double *S, double *w,
                        double *V, int64_t nb)
{
    lrc_status st = LRC_OK;
    int size = 0, nprow = 1, npcol = 1;
    if (comm == MPI_COMM_NULL)
        LRC_RAISE(LRC_ERR_ARG, "parallel eigen problem on MPI_COMM_NULL");
    LRC_TRY_MPI(MPI_Comm_size(comm, &size));
    lrc_grid_shape(size, d, nb, &nprow, &npcol);
    st = lrc_peig_sym_grid(comm, nprow, npcol, d, S, w, V, nb);
cleanup:
    return st;
}
