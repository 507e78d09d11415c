/* Checkpoints of a compression run (OUTPUT/checkpoint.h5): the factor and
 * solver report of every finished target layer, and the fingerprint of the
 * job (config and model bytes). Rank 0 writes, every rank reads. */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/h5quiet.h"
#include "pipeline/pipeline_impl.h"

lrc_status lrc_lowrank_copy(lrc_lowrank *dst, const lrc_lowrank *src)
{
    LRC_CALL(lrc_lowrank_alloc(dst, src->d, src->rank));
    memcpy(dst->P, src->P, (size_t)(src->d * src->rank) * sizeof(double));
    memcpy(dst->Qt, src->Qt, (size_t)(src->d * src->rank) * sizeof(double));
    memcpy(dst->b, src->b, (size_t)src->d * sizeof(double));
    return LRC_OK;
}

lrc_status lrc_report_copy(lrc_solve_report *dst, const lrc_solve_report *src)
{
    lrc_status st = LRC_OK;
    *dst = *src;
    dst->lambda = dst->relaxed = dst->relaxed_m = dst->nonlinear = NULL;
    double **to[4] = {&dst->lambda, &dst->relaxed, &dst->relaxed_m, &dst->nonlinear};
    double *const from[4] = {src->lambda, src->relaxed, src->relaxed_m, src->nonlinear};
    for (int k = 0; k < 4; k++) {
        if (!from[k])
            continue;
        LRC_TRY(lrc_calloc(to[k], (size_t)src->iters, sizeof(double), "report"));
        memcpy(*to[k], from[k], (size_t)src->iters * sizeof(double));
    }
    return LRC_OK;
cleanup:
    lrc_solve_report_free(dst);
    return st;
}

void lrc_ckpt_free(lrc_ckpt *ck)
{
    if (!ck)
        return;
    for (int64_t j = 0; ck->e && j < ck->n_done; j++) {
        lrc_lowrank_free(&ck->e[j].f);
        lrc_solve_report_free(&ck->e[j].rep);
    }
    lrc_free(&ck->e);
    lrc_free(&ck->path);
    lrc_free(&ck->fingerprint);
    memset(ck, 0, sizeof *ck);
}

/* ---- HDF5 helpers (serial file) ---- */

static lrc_status r_attr(hid_t obj, const char *name, hid_t type, void *v,
                         const char *path)
{
    lrc_status st = LRC_OK;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0)
        LRC_RAISE(LRC_ERR_FORMAT, "%s: checkpoint attribute '%s' is missing",
                  path, name);
    LRC_TRY_H5(H5Aread(a, type, v), "%s: cannot read attribute '%s'", path, name);
cleanup:
    H5Aclose(a);
    return st;
}

/* Reads a 1-D dataset of exactly n values into a new array (NULL if n = 0). */
static lrc_status r_arr(hid_t g, const char *name, int64_t n, double **out,
                        const char *path)
{
    lrc_status st = LRC_OK;
    hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    hsize_t dim = 0;
    *out = NULL;
    d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0)
        LRC_RAISE(LRC_ERR_FORMAT, "%s: checkpoint dataset '%s' is missing", path, name);
    LRC_TRY_H5(sp = H5Dget_space(d), "%s: H5Dget_space", path);
    if (H5Sget_simple_extent_ndims(sp) != 1 ||
        H5Sget_simple_extent_dims(sp, &dim, NULL) < 0 || (int64_t)dim != n)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: checkpoint dataset '%s' has the wrong size",
                 path, name);
    if (n > 0) {
        LRC_TRY(lrc_calloc(out, (size_t)n, sizeof(double), "checkpoint"));
        LRC_TRY_H5(H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out),
                   "%s: cannot read '%s'", path, name);
    }
cleanup:
    if (sp >= 0)
        H5Sclose(sp);
    H5Dclose(d);
    if (st != LRC_OK)
        lrc_free(out);
    return st;
}

static lrc_status str_type(hid_t *t, size_t len, const char *path)
{
    lrc_status st = LRC_OK;
    LRC_TRY_H5(*t = H5Tcopy(H5T_C_S1), "%s: H5Tcopy", path);
    LRC_TRY_H5(H5Tset_size(*t, len), "%s: H5Tset_size", path);
cleanup:
    return st;
}

/* ---- write ---- */

static lrc_status write_all(const lrc_ckpt *ck, const char *tmp)
{
    lrc_status st = LRC_OK;
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID;
    f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        LRC_RAISE(LRC_ERR_IO, "%s: cannot create the checkpoint", tmp);
    LRC_TRY(lrc_h5_attr_str(f, "fingerprint", ck->fingerprint, tmp));
    LRC_TRY(lrc_h5_attr(f, "layers_done", H5T_NATIVE_INT64, &ck->n_done, tmp));
    for (int64_t j = 0; j < ck->n_done; j++) {
        const lrc_ckpt_entry *e = &ck->e[j];
        char name[32];
        snprintf(name, sizeof name, "layer%03" PRId64, j);
        LRC_TRY_H5(g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                   "%s: cannot create group '%s'", tmp, name);
        const int64_t i64[4] = {e->f.d, e->f.rank, e->rep.samples, e->rep.iters};
        const char *in[4] = {"d", "rank", "samples", "iters"};
        for (int k = 0; k < 4; k++)
            LRC_TRY(lrc_h5_attr(g, in[k], H5T_NATIVE_INT64, &i64[k], tmp));
        int64_t best = e->rep.best_iter;
        LRC_TRY(lrc_h5_attr(g, "best_iter", H5T_NATIVE_INT64, &best, tmp));
        const double f64[5] = {e->rep.target_energy, e->rep.linear_error,
                               e->rep.final_error, e->rep.linear_lsq, e->seconds};
        const char *fn[5] = {"target_energy", "linear_error", "final_error",
                             "linear_lsq", "seconds"};
        for (int k = 0; k < 5; k++)
            LRC_TRY(lrc_h5_attr(g, fn[k], H5T_NATIVE_DOUBLE, &f64[k], tmp));
        const int64_t dr = e->f.d * e->f.rank;
        LRC_TRY(lrc_h5_write_f64(g, "P", e->f.P, dr, tmp));
        LRC_TRY(lrc_h5_write_f64(g, "Qt", e->f.Qt, dr, tmp));
        LRC_TRY(lrc_h5_write_f64(g, "b", e->f.b, e->f.d, tmp));
        const int64_t it = e->rep.lambda ? e->rep.iters : 0;
        LRC_TRY(lrc_h5_write_f64(g, "lambda", e->rep.lambda, it, tmp));
        LRC_TRY(lrc_h5_write_f64(g, "relaxed", e->rep.relaxed, it, tmp));
        LRC_TRY(lrc_h5_write_f64(g, "relaxed_m", e->rep.relaxed_m, it, tmp));
        LRC_TRY(lrc_h5_write_f64(g, "nonlinear", e->rep.nonlinear, it, tmp));
        H5Gclose(g);
        g = H5I_INVALID_HID;
    }
cleanup:
    if (g >= 0)
        H5Gclose(g);
    if (f >= 0 && H5Fclose(f) < 0 && st == LRC_OK)
        st = lrc_error_report(LRC_ERR_IO, __FILE__, __LINE__, __func__,
                              "%s: closing the checkpoint failed", tmp);
    return st;
}

lrc_status lrc_ckpt_add(MPI_Comm comm, lrc_ckpt *ck, const lrc_lowrank *f,
                        const lrc_solve_report *rep, double seconds)
{
    lrc_status st = LRC_OK;
    int rank = 0, code = LRC_OK;
    if (ck->n_done >= ck->n_targets)
        LRC_RAISE(LRC_ERR_INTERNAL, "%s: checkpoint is full", ck->path);
    lrc_ckpt_entry *e = &ck->e[ck->n_done];
    LRC_CALL(lrc_lowrank_copy(&e->f, f));
    st = lrc_report_copy(&e->rep, rep);
    if (st != LRC_OK) {
        lrc_lowrank_free(&e->f);
        return st;
    }
    e->seconds = seconds;
    ck->n_done++;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        char tmp[4096];
        lrc_h5_quiet q;
        snprintf(tmp, sizeof tmp, "%s.tmp", ck->path);
        lrc_h5_quiet_begin(&q);
        code = (int)write_all(ck, tmp);
        lrc_h5_quiet_end(&q);
        if (code == LRC_OK && rename(tmp, ck->path) != 0)
            code = (int)lrc_error_report(LRC_ERR_IO, __FILE__, __LINE__, __func__,
                                         "%s: cannot rename %s into place",
                                         ck->path, tmp);
        if (code != LRC_OK)
            remove(tmp);
    }
    MPI_Bcast(&code, 1, MPI_INT, 0, comm);
    return (lrc_status)code;
}

/* ---- read ---- */

static lrc_status read_all(lrc_ckpt *ck)
{
    lrc_status st = LRC_OK;
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID, t = H5I_INVALID_HID,
          a = H5I_INVALID_HID;
    char *fp = NULL;
    int64_t done = 0;
    f = H5Fopen(ck->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        LRC_RAISE(LRC_ERR_FORMAT, "%s: not a readable checkpoint (remove it to "
                  "start afresh)", ck->path);
    LRC_TRY_H5(a = H5Aopen(f, "fingerprint", H5P_DEFAULT),
               "%s: the checkpoint has no fingerprint", ck->path);
    hid_t at = H5Aget_type(a);
    size_t len = at >= 0 ? H5Tget_size(at) : 0;
    if (at >= 0)
        H5Tclose(at);
    if (len == 0)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: bad fingerprint", ck->path);
    LRC_TRY(lrc_calloc(&fp, len + 1, 1, "fingerprint"));
    LRC_TRY(str_type(&t, len, ck->path));
    LRC_TRY_H5(H5Aread(a, t, fp), "%s: cannot read the fingerprint", ck->path);
    if (strcmp(fp, ck->fingerprint) != 0)
        LRC_FAIL(LRC_ERR_ARG, "%s: this checkpoint belongs to another job (its "
                 "config, model or data differ); use another output directory "
                 "or remove the checkpoint. Checkpoint: %.300s; this run: %.300s",
                 ck->path, fp, ck->fingerprint);
    LRC_TRY(r_attr(f, "layers_done", H5T_NATIVE_INT64, &done, ck->path));
    if (done < 0 || done > ck->n_targets)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: %" PRId64 " finished layers for %" PRId64
                 " targets", ck->path, done, ck->n_targets);
    for (int64_t j = 0; j < done; j++) {
        lrc_ckpt_entry *e = &ck->e[j];
        char name[32];
        int64_t d = 0, r = 0, iters = 0, best = 0;
        snprintf(name, sizeof name, "layer%03" PRId64, j);
        g = H5Gopen2(f, name, H5P_DEFAULT);
        if (g < 0)
            LRC_FAIL(LRC_ERR_FORMAT, "%s: group '%s' is missing", ck->path, name);
        LRC_TRY(r_attr(g, "d", H5T_NATIVE_INT64, &d, ck->path));
        LRC_TRY(r_attr(g, "rank", H5T_NATIVE_INT64, &r, ck->path));
        LRC_TRY(r_attr(g, "samples", H5T_NATIVE_INT64, &e->rep.samples, ck->path));
        LRC_TRY(r_attr(g, "iters", H5T_NATIVE_INT64, &iters, ck->path));
        LRC_TRY(r_attr(g, "best_iter", H5T_NATIVE_INT64, &best, ck->path));
        LRC_TRY(r_attr(g, "target_energy", H5T_NATIVE_DOUBLE, &e->rep.target_energy, ck->path));
        LRC_TRY(r_attr(g, "linear_error", H5T_NATIVE_DOUBLE, &e->rep.linear_error, ck->path));
        LRC_TRY(r_attr(g, "final_error", H5T_NATIVE_DOUBLE, &e->rep.final_error, ck->path));
        LRC_TRY(r_attr(g, "linear_lsq", H5T_NATIVE_DOUBLE, &e->rep.linear_lsq, ck->path));
        LRC_TRY(r_attr(g, "seconds", H5T_NATIVE_DOUBLE, &e->seconds, ck->path));
        if (d < 1 || r < 1 || r > d || iters < 0)
            LRC_FAIL(LRC_ERR_FORMAT, "%s: layer %" PRId64 " has bad sizes", ck->path, j);
        e->rep.iters = (int)iters;
        e->rep.best_iter = (int)best;
        e->f.d = d;
        e->f.rank = r;
        /* counted as done as soon as its arrays are owned, for lrc_ckpt_free */
        ck->n_done = j + 1;
        LRC_TRY(r_arr(g, "P", d * r, &e->f.P, ck->path));
        LRC_TRY(r_arr(g, "Qt", d * r, &e->f.Qt, ck->path));
        LRC_TRY(r_arr(g, "b", d, &e->f.b, ck->path));
        LRC_TRY(r_arr(g, "lambda", iters, &e->rep.lambda, ck->path));
        LRC_TRY(r_arr(g, "relaxed", iters, &e->rep.relaxed, ck->path));
        LRC_TRY(r_arr(g, "relaxed_m", iters, &e->rep.relaxed_m, ck->path));
        LRC_TRY(r_arr(g, "nonlinear", iters, &e->rep.nonlinear, ck->path));
        H5Gclose(g);
        g = H5I_INVALID_HID;
    }
cleanup:
    lrc_free(&fp);
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    if (g >= 0)
        H5Gclose(g);
    if (f >= 0)
        H5Fclose(f);
    return st;
}

lrc_status lrc_ckpt_open(MPI_Comm comm, const char *path, const char *fingerprint,
                         int64_t n_targets, lrc_ckpt *ck)
{
    lrc_status st = LRC_OK;
    memset(ck, 0, sizeof *ck);
    ck->n_targets = n_targets;
    LRC_TRY(lrc_strdup(&ck->path, path));
    LRC_TRY(lrc_strdup(&ck->fingerprint, fingerprint));
    LRC_TRY(lrc_calloc(&ck->e, (size_t)n_targets, sizeof *ck->e, "checkpoint"));
    if (access(path, F_OK) == 0) {
        lrc_h5_quiet q;
        lrc_h5_quiet_begin(&q);
        st = read_all(ck);
        lrc_h5_quiet_end(&q);
    }
cleanup:;
    /* every rank must agree before anyone relies on the checkpoint */
    int mine = (int)st, worst = 0;
    MPI_Allreduce(&mine, &worst, 1, MPI_INT, MPI_MAX, comm);
    if (worst != LRC_OK) {
        lrc_ckpt_free(ck);
        return st != LRC_OK ? st : (lrc_status)worst;
    }
    return LRC_OK;
}
