/* Private to src/parallel: the BLACS grid helper, the eigen-solver on a
 * chosen grid, and the C declarations of the BLACS and ScaLAPACK routines we
 * call. */
#ifndef LRC_PARALLEL_IMPL_H
#define LRC_PARALLEL_IMPL_H

#include <stddef.h>

#include "lrc/parallel.h"

/* ---- BLACS (C interface) and ScaLAPACK (Fortran) ----
 * Debian's libscalapack-openmpi-dev ships the library but no C header, so
 * we declare what we use. Debian builds it with 32-bit Fortran INTEGERs
 * (LP64), hence `int`. The Fortran routines take every argument by
 * reference; gfortran (>= 8) appends one hidden size_t length per
 * CHARACTER argument, which we pass explicitly rather than leave to chance. */
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);
/* `order` is "Row" or "Col"; BLACS declares it as plain `char *`. */
void Cblacs_gridinit(int *ctxt, char *order, int nprow, int npcol);
void Cblacs_gridinfo(int ctxt, int *nprow, int *npcol, int *myrow, int *mycol);
void Cblacs_gridexit(int ctxt);
/* BLACS_SET; `what` 15 (SGET_TOPSREPEAT in BLACS' Bdef.h) with *val = 1
 * makes the combine operations (global sums) add in a fixed order. */
void Cblacs_set(int ctxt, int what, int *val);
#define LRC_BLACS_TOPSREPEAT 15

int numroc_(const int *n, const int *nb, const int *iproc, const int *isrcproc,
            const int *nprocs);
void descinit_(int *desc, const int *m, const int *n, const int *mb,
               const int *nb, const int *irsrc, const int *icsrc,
               const int *ictxt, const int *lld, int *info);
void pdsyevd_(const char *jobz, const char *uplo, const int *n, double *a,
              const int *ia, const int *ja, const int *desca, double *w,
              double *z, const int *iz, const int *jz, const int *descz,
              double *work, const int *lwork, int *iwork, const int *liwork,
              int *info, size_t jobz_len, size_t uplo_len);

/* ---- a BLACS process grid over an MPI communicator ----
 * Ranks 0 .. nprow*npcol-1 of the communicator form the grid in row-major
 * order (rank r sits at row r / npcol, column r % npcol), over a private
 * communicator split off for them: the BLACS system handle is then ours
 * alone (BLACS hands out one handle per communicator, and freeing it under
 * another user would break theirs), and the other ranks never touch BLACS
 * (Cblacs_gridinit leaks a little on a rank left out of the grid before it
 * has ever been in one). On those ranks comm is MPI_COMM_NULL and ctxt,
 * myrow and mycol are -1. */
typedef struct lrc_blacs_grid {
    MPI_Comm comm; /* the grid's ranks; MPI_COMM_NULL outside the grid */
    int handle;    /* BLACS system handle of comm; -1 if none */
    int ctxt;      /* BLACS context; -1 outside the grid */
    int nprow, npcol;
    int myrow, mycol;
} lrc_blacs_grid;

#define LRC_BLACS_GRID_NONE {MPI_COMM_NULL, -1, -1, 0, 0, -1, -1}

/* Builds an nprow x npcol grid over comm (1 <= nprow*npcol <= size of
 * comm, else LRC_ERR_ARG on every rank). Release with
 * lrc_blacs_grid_destroy. Collective on comm. */
lrc_status lrc_blacs_grid_create(MPI_Comm comm, int nprow, int npcol,
                                 lrc_blacs_grid *g);

/* Frees the grid, its system handle and its communicator, and resets *g
 * to LRC_BLACS_GRID_NONE; no-op on a grid that was never created.
 * Collective on the communicator the grid was made from. */
void lrc_blacs_grid_destroy(lrc_blacs_grid *g);

/* lrc_peig_sym on an nprow x npcol grid (nprow*npcol <= size of comm; the
 * ranks outside the grid take part in the gathers only). Lets the tests
 * reach grids that leave ranks out. Collective on comm. */
lrc_status lrc_peig_sym_grid(MPI_Comm comm, int nprow, int npcol, int64_t d,
                             const double *S, double *w, double *V,
                             int64_t nb);

#endif
