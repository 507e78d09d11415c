/* The results HDF5 file of a compression run (layout in docs/FORMAT.md). */
#include <cblas.h>
#include <hdf5.h>
#include <sys/resource.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/h5quiet.h"
#include "lrc/compress.h"
#include "lrc/eval.h"
#include "pipeline/pipeline_impl.h"

/* An HDF5 group name for a layer: ONNX names often hold '/', which HDF5
 * reads as a path, so every character outside [A-Za-z0-9_.-] becomes '_'
 * and leading '_' are dropped ("/features/features.2/Conv" becomes
 * "features_features.2_Conv"); the layer's index is appended on a clash.
 * The original name is kept in the group's "name" attribute. */
static void sanitize(const char *src, char *out, size_t len)
{
    size_t k = 0;
    while (*src == '/' || *src == '_')
        src++;
    for (; *src && k + 24 < len; src++)
        out[k++] = (isalnum((unsigned char)*src) || *src == '_' || *src == '.' ||
                    *src == '-') ? *src : '_';
    out[k] = '\0';
    if (k == 0 || strcmp(out, ".") == 0)
        snprintf(out, len, "layer");
}

void lrc_results_group_name(const lrc_compress_result *r, int64_t j,
                            char *out, size_t len)
{
    char other[256];
    sanitize(r->layers[j].name, out, len);
    for (int64_t q = 0; q < j; q++) {
        sanitize(r->layers[q].name, other, sizeof other);
        if (strcmp(other, out) == 0) {
            size_t k = strlen(out);
            snprintf(out + k, len - k, "_%" PRId64, r->layers[j].index);
            return;
        }
    }
}

static lrc_status write_layer(hid_t grp, const lrc_compress_layer *l,
                              const char *gname, const char *path)
{
    lrc_status st = LRC_OK;
    hid_t g = H5I_INVALID_HID;
    LRC_TRY_H5(g = H5Gcreate2(grp, gname, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
               "%s: cannot create group '%s' for layer '%s'", path, gname,
               l->name);
    LRC_TRY(lrc_h5_attr_str(g, "name", l->name, path));
    LRC_TRY(lrc_h5_attr_i64(g, "index", l->index, path));
    LRC_TRY(lrc_h5_attr_i64(g, "d", l->d, path));
    LRC_TRY(lrc_h5_attr_i64(g, "kkc", l->kkc, path));
    LRC_TRY(lrc_h5_attr_i64(g, "hw", l->hw, path));
    LRC_TRY(lrc_h5_attr_i64(g, "rank", l->rank, path));
    LRC_TRY(lrc_h5_attr_i64(g, "kept", l->rank >= l->d, path));
    LRC_TRY(lrc_h5_attr_i64(g, "spatial_rank", l->spatial_rank, path));
    LRC_TRY(lrc_h5_attr_i64(g, "cost_before", l->cost_before, path));
    LRC_TRY(lrc_h5_attr_i64(g, "cost_after", l->cost_after, path));
    LRC_TRY(lrc_h5_attr_f64(g, "energy", l->energy, path));
    LRC_TRY(lrc_h5_attr_i64(g, "samples", l->report.samples, path));
    LRC_TRY(lrc_h5_attr_f64(g, "target_energy", l->report.target_energy, path));
    LRC_TRY(lrc_h5_attr_f64(g, "linear_error", l->report.linear_error, path));
    LRC_TRY(lrc_h5_attr_f64(g, "linear_lsq", l->report.linear_lsq, path));
    LRC_TRY(lrc_h5_attr_f64(g, "final_error", l->report.final_error, path));
    LRC_TRY(lrc_h5_attr_i64(g, "best_iter", l->report.best_iter, path));
    LRC_TRY(lrc_h5_attr_f64(g, "seconds", l->seconds, path));
    /* rank 0's split of the iterations (zero for a layer taken from a
     * checkpoint) */
    LRC_TRY(lrc_h5_write_f64(g, "seconds_solver", l->report.seconds, 4, path));
    LRC_TRY(lrc_h5_write_f64(g, "eigenvalues", l->eig, l->eig ? l->d : 0, path));
    LRC_TRY(lrc_h5_write_f64(g, "lambda", l->report.lambda, l->report.iters, path));
    LRC_TRY(lrc_h5_write_f64(g, "objective_relaxed", l->report.relaxed, l->report.iters, path));
    LRC_TRY(lrc_h5_write_f64(g, "objective_relaxed_after_m", l->report.relaxed_m,
                     l->report.iters, path));
    LRC_TRY(lrc_h5_write_f64(g, "error_nonlinear", l->report.nonlinear, l->report.iters, path));
cleanup:
    if (g >= 0)
        H5Gclose(g);
    return st;
}

static lrc_status write_file(const char *tmp, const char *model,
                             const char *data, const lrc_compress_params *p,
                             const lrc_compress_result *r, const double *rss_mb,
                             int nranks)
{
    lrc_status st = LRC_OK;
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID;
    f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0)
        LRC_RAISE(LRC_ERR_IO, "%s: cannot create the results file (is the "
                  "directory writable?)", tmp);
    LRC_TRY(lrc_h5_attr_str(f, "model", model, tmp));
    LRC_TRY(lrc_h5_attr_str(f, "data", data, tmp));
    LRC_TRY(lrc_h5_attr_str(f, "method", lrc_method_name(p->method), tmp));
    LRC_TRY(lrc_h5_attr_f64(f, "speedup_target", p->ranks ? 0.0 : p->speedup, tmp));
    LRC_TRY(lrc_h5_attr_f64(f, "speedup_theoretical", r->speedup, tmp));
    LRC_TRY(lrc_h5_attr_i64(f, "conv_macs_before", r->conv_before, tmp));
    LRC_TRY(lrc_h5_attr_i64(f, "conv_macs_after", r->conv_after, tmp));
    LRC_TRY(lrc_h5_attr_i64(f, "images", r->images, tmp));
    LRC_TRY(lrc_h5_attr_i64(f, "images_skipped", r->images_skipped, tmp));
    LRC_TRY(lrc_h5_attr_i64(f, "locations", p->locations, tmp));
    LRC_TRY(lrc_h5_attr_i64(f, "seed", (int64_t)p->seed, tmp));
    LRC_TRY(lrc_h5_attr_i64(f, "iters_small", p->nl.iters_small, tmp));
    LRC_TRY(lrc_h5_attr_i64(f, "iters_large", p->nl.iters_large, tmp));
    LRC_TRY(lrc_h5_attr_f64(f, "lambda_small", p->nl.lambda_small, tmp));
    LRC_TRY(lrc_h5_attr_f64(f, "lambda_large", p->nl.lambda_large, tmp));
    LRC_TRY(lrc_h5_attr_str(f, "precision", p->nl.mixed_precision ? "mixed" : "double", tmp));
    LRC_TRY(lrc_h5_attr_i64(f, "mpi_ranks", r->nranks, tmp));
    LRC_TRY(lrc_h5_attr_f64(f, "seconds_original_pass", r->t_original, tmp));
    LRC_TRY(lrc_h5_attr_f64(f, "seconds_ranks", r->t_ranks, tmp));
    LRC_TRY(lrc_h5_attr_f64(f, "seconds_approx_pass", r->t_approx, tmp));
    LRC_TRY(lrc_h5_attr_f64(f, "seconds_total", r->t_total, tmp));
    LRC_TRY(lrc_h5_attr_str(f, "lrcompress_version", "0.1.0", tmp));
    {
        char mpi[MPI_MAX_LIBRARY_VERSION_STRING] = "", ver[256];
        int len = 0;
        unsigned maj = 0, min = 0, rel = 0;
        MPI_Get_library_version(mpi, &len);
        for (char *q = mpi; *q; q++)
            if (*q == '\n') *q = ' ';
        LRC_TRY(lrc_h5_attr_str(f, "mpi_library", mpi, tmp));
        H5get_libversion(&maj, &min, &rel);
        snprintf(ver, sizeof ver, "%u.%u.%u", maj, min, rel);
        LRC_TRY(lrc_h5_attr_str(f, "hdf5_version", ver, tmp));
        LRC_TRY(lrc_h5_attr_str(f, "openblas_config", openblas_get_config(), tmp));
    }
    /* peak resident memory of every rank (getrusage), MiB */
    LRC_TRY(lrc_h5_write_f64(f, "peak_rss_mb", rss_mb, nranks, tmp));
    /* where the asymmetric pass kept its carried activations */
    LRC_TRY(lrc_h5_attr_str(f, "activations", r->spilled ? "spilled" : "memory", tmp));
    LRC_TRY(lrc_h5_attr_i64(f, "micro_batch", r->micro_batch, tmp));
    LRC_TRY(lrc_h5_attr_f64(f, "memory_limit_mb", (double)p->memory_limit_mb, tmp));
    LRC_TRY(lrc_h5_attr_f64(f, "memory_planned_mb", r->memory_planned_mb, tmp));
    LRC_TRY(lrc_h5_attr_f64(f, "scratch_io_mb", r->scratch_io_mb, tmp));
    LRC_TRY_H5(g = H5Gcreate2(f, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
               "%s: cannot create group 'layers'", tmp);
    /* the groups' names, bottom-up, as a comma-separated attribute */
    char gname[256];
    size_t len = 1;
    char *order = NULL;
    for (int64_t j = 0; j < r->n; j++)
        len += sizeof gname + 1;
    LRC_TRY(lrc_calloc(&order, len, 1, "layer order"));
    for (int64_t j = 0; j < r->n; j++) {
        lrc_results_group_name(r, j, gname, sizeof gname);
        if (j)
            strcat(order, ",");
        strcat(order, gname);
    }
    st = lrc_h5_attr_str(g, "order", order, tmp);
    lrc_free(&order);
    if (st != LRC_OK)
        goto cleanup;
    for (int64_t j = 0; j < r->n; j++) {
        lrc_results_group_name(r, j, gname, sizeof gname);
        LRC_TRY(write_layer(g, &r->layers[j], gname, tmp));
    }
cleanup:
    if (g >= 0)
        H5Gclose(g);
    if (f >= 0 && H5Fclose(f) < 0 && st == LRC_OK)
        st = lrc_error_report(LRC_ERR_IO, __FILE__, __LINE__, __func__,
                              "%s: closing the file failed", tmp);
    return st;
}

lrc_status lrc_compress_write_results(MPI_Comm comm, const char *path,
                                      const char *model, const char *data,
                                      const lrc_compress_params *p,
                                      const lrc_compress_result *r)
{
    lrc_status st = LRC_OK;
    int rank = 0, size = 1;
    double *rss = NULL;
    struct rusage ru;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    getrusage(RUSAGE_SELF, &ru);
    double mine = (double)ru.ru_maxrss / 1024.0; /* kB on Linux */
    if (lrc_calloc(&rss, (size_t)size, sizeof *rss, "peak memory") != LRC_OK)
        MPI_Abort(comm, 1);
    MPI_Gather(&mine, 1, MPI_DOUBLE, rss, 1, MPI_DOUBLE, 0, comm);
    if (rank == 0) {
        char tmp[4096];
        if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
            st = lrc_error_report(LRC_ERR_ARG, __FILE__, __LINE__, __func__,
                                  "%s: path too long", path);
        } else {
            lrc_h5_quiet q;
            lrc_h5_quiet_begin(&q);
            st = write_file(tmp, model, data, p, r, rss, size);
            lrc_h5_quiet_end(&q);
            if (st == LRC_OK && rename(tmp, path) != 0)
                st = lrc_error_report(LRC_ERR_IO, __FILE__, __LINE__, __func__,
                                      "%s: cannot rename %s into place", path,
                                      tmp);
            if (st != LRC_OK)
                remove(tmp);
        }
    }
    lrc_free(&rss);
    int code = (int)st;
    MPI_Bcast(&code, 1, MPI_INT, 0, comm);
    return (lrc_status)code;
}

static lrc_status copy_file(const char *from, const char *to)
{
    lrc_status st = LRC_OK;
    char buf[1 << 16];
    size_t n;
    FILE *in = fopen(from, "rb"), *out = NULL;
    if (!in)
        LRC_RAISE(LRC_ERR_IO, "%s: cannot read it back", from);
    out = fopen(to, "wb");
    if (!out)
        LRC_FAIL(LRC_ERR_IO, "%s: cannot create", to);
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            LRC_FAIL(LRC_ERR_IO, "%s: write failed (disk full?)", to);
cleanup:
    fclose(in);
    if (out && fclose(out) != 0 && st == LRC_OK)
        st = lrc_error_report(LRC_ERR_IO, __FILE__, __LINE__, __func__,
                              "%s: write failed (disk full?)", to);
    return st;
}

static lrc_status add_eval(const char *path, const char *spec,
                           const lrc_eval_result *o, const lrc_eval_result *c,
                           double theoretical)
{
    lrc_status st = LRC_OK;
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID;
    f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0)
        LRC_RAISE(LRC_ERR_IO, "%s: cannot reopen the results file", path);
    if (H5Lexists(f, "evaluation", H5P_DEFAULT) > 0)
        LRC_TRY_H5(H5Ldelete(f, "evaluation", H5P_DEFAULT), "%s: H5Ldelete", path);
    LRC_TRY_H5(g = H5Gcreate2(f, "evaluation", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
               "%s: cannot create group 'evaluation'", path);
    const double n = (double)o->images;
    LRC_TRY(lrc_h5_attr_str(g, "data", spec, path));
    LRC_TRY(lrc_h5_attr_i64(g, "images", o->images, path));
    LRC_TRY(lrc_h5_attr_i64(g, "images_skipped", o->skipped, path));
    LRC_TRY(lrc_h5_attr_f64(g, "original_top1", (double)o->top1 / n, path));
    LRC_TRY(lrc_h5_attr_f64(g, "original_top5", (double)o->top5 / n, path));
    LRC_TRY(lrc_h5_attr_f64(g, "compressed_top1", (double)c->top1 / n, path));
    LRC_TRY(lrc_h5_attr_f64(g, "compressed_top5", (double)c->top5 / n, path));
    LRC_TRY(lrc_h5_attr_f64(g, "original_seconds_per_image", o->seconds / n, path));
    LRC_TRY(lrc_h5_attr_f64(g, "compressed_seconds_per_image", c->seconds / n, path));
    LRC_TRY(lrc_h5_attr_f64(g, "measured_speedup",
                     c->seconds > 0 ? o->seconds / c->seconds : 0.0, path));
    LRC_TRY(lrc_h5_attr_f64(g, "theoretical_speedup", theoretical, path));
cleanup:
    if (g >= 0)
        H5Gclose(g);
    if (f >= 0 && H5Fclose(f) < 0 && st == LRC_OK)
        st = lrc_error_report(LRC_ERR_IO, __FILE__, __LINE__, __func__,
                              "%s: closing the file failed", path);
    return st;
}

lrc_status lrc_results_add_eval(MPI_Comm comm, const char *path, const char *spec,
                                const lrc_eval_result *o, const lrc_eval_result *c,
                                double theoretical)
{
    int rank = 0, code = LRC_OK;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        /* edit a copy, then rename: the previous file stays whole on failure */
        char tmp[4096];
        lrc_h5_quiet q;
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        code = (int)copy_file(path, tmp);
        lrc_h5_quiet_begin(&q);
        if (code == LRC_OK)
            code = (int)add_eval(tmp, spec, o, c, theoretical);
        lrc_h5_quiet_end(&q);
        if (code == LRC_OK && rename(tmp, path) != 0)
            code = (int)lrc_error_report(LRC_ERR_IO, __FILE__, __LINE__, __func__,
                                         "%s: cannot rename %s into place", path, tmp);
        if (code != LRC_OK)
            remove(tmp);
    }
    MPI_Bcast(&code, 1, MPI_INT, 0, comm);
    return (lrc_status)code;
}
