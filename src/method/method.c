/* Method names and the low-rank factor container. */
#include <string.h>

#include "method/method_impl.h"

static const char *const names[] = {
    [LRC_METHOD_NONLINEAR_ASYM] = "nonlinear-asym",
    [LRC_METHOD_NONLINEAR] = "nonlinear",
    [LRC_METHOD_LINEAR_ASYM] = "linear-asym",
    [LRC_METHOD_LINEAR] = "linear",
    [LRC_METHOD_SVD] = "svd",
    [LRC_METHOD_3D] = "3d",
};

const char *lrc_method_name(lrc_method m)
{
    return (m >= 0 && (size_t)m < sizeof names / sizeof names[0]) ? names[m]
                                                                  : "?";
}

int lrc_method_lookup(const char *s, lrc_method *m)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0) {
            *m = (lrc_method)i;
            return 1;
        }
    return 0;
}

lrc_status lrc_method_parse(const char *s, lrc_method *m)
{
    if (lrc_method_lookup(s, m))
        return LRC_OK;
    LRC_RAISE(LRC_ERR_ARG, "method '%s' is not one of nonlinear-asym, "
              "nonlinear, linear-asym, linear, svd, 3d", s);
}

lrc_status lrc_precision_parse(const char *s, int *mixed)
{
    if (strcmp(s, "mixed") == 0)
        *mixed = 1;
    else if (strcmp(s, "double") == 0)
        *mixed = 0;
    else
        LRC_RAISE(LRC_ERR_ARG, "precision '%s' is not one of mixed, double", s);
    return LRC_OK;
}

int lrc_method_is_asym(lrc_method m)
{
    return m == LRC_METHOD_NONLINEAR_ASYM || m == LRC_METHOD_LINEAR_ASYM ||
           m == LRC_METHOD_3D;
}

int lrc_method_is_nonlinear(lrc_method m)
{
    return m == LRC_METHOD_NONLINEAR_ASYM || m == LRC_METHOD_NONLINEAR ||
           m == LRC_METHOD_3D;
}

lrc_status lrc_lowrank_alloc(lrc_lowrank *f, int64_t d, int64_t rank)
{
    lrc_status st = LRC_OK;
    memset(f, 0, sizeof *f);
    f->d = d;
    f->rank = rank;
    LRC_TRY(lrc_calloc(&f->P, (size_t)(d * rank), sizeof(double), "factor P"));
    LRC_TRY(lrc_calloc(&f->Qt, (size_t)(d * rank), sizeof(double), "factor Q"));
    LRC_TRY(lrc_calloc(&f->b, (size_t)d, sizeof(double), "factor bias"));
    return LRC_OK;
cleanup:
    lrc_lowrank_free(f);
    return st;
}

void lrc_lowrank_free(lrc_lowrank *f)
{
    if (!f)
        return;
    lrc_free(&f->P);
    lrc_free(&f->Qt);
    lrc_free(&f->b);
}

void lrc_nonlinear_defaults(lrc_nonlinear_params *p)
{
    p->iters_small = 25;
    p->iters_large = 25;
    p->lambda_small = 0.01;
    p->lambda_large = 1.0;
    p->rel_tol = 1e-10;
    p->scalapack_min_d = 1024;
    p->mixed_precision = 1;
    p->mixed_chunk = 512;
}

void lrc_solve_report_free(lrc_solve_report *r)
{
    if (!r)
        return;
    lrc_free(&r->lambda);
    lrc_free(&r->relaxed);
    lrc_free(&r->relaxed_m);
    lrc_free(&r->nonlinear);
}
