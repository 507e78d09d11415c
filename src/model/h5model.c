/* The model as HDF5: the same chain of layers as the ONNX export, in a
 * layout that notebooks read with h5py and that lrcompress reads back
 * (docs/FORMAT.md, "model.h5"):
 *
 *   /           attrs format = "lrcompress-model", format_version = 1,
 *               input = [c, h, w] (0 = dynamic), layers = count,
 *               input_name, output_name
 *   /metadata   one string attribute per metadata key (lrc.mean, ...)
 *   /layers/NNNN  (zero-padded index, in order) attrs name, op (ONNX op
 *               name, "Dense" for Gemm), kernel [kh, kw], strides [sh, sw],
 *               pads [top, left, bottom, right], ceil_mode,
 *               count_include_pad, in_c, out_c, flatten_check; datasets
 *               weight (float32, conv out_c x in_c x kh x kw, dense
 *               out_c x in_c) and bias (float32 out_c) for conv and dense. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/h5io.h"
#include "core/h5quiet.h"
#include "model_impl.h"

#define FORMAT_NAME "lrcompress-model"

static lrc_status write_f32(hid_t g, const char *name, const float *v, int nd,
                            const int64_t *dims, const char *path)
{
    lrc_status st = LRC_OK;
    hid_t sp = H5I_INVALID_HID, d = H5I_INVALID_HID;
    hsize_t hd[4];
    for (int k = 0; k < nd; k++)
        hd[k] = (hsize_t)dims[k];
    LRC_TRY_H5(sp = H5Screate_simple(nd, hd, NULL), "%s: H5Screate_simple", path);
    LRC_TRY_H5(d = H5Dcreate2(g, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT,
                              H5P_DEFAULT, H5P_DEFAULT),
               "%s: cannot create dataset '%s'", path, name);
    LRC_TRY_H5(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v),
               "%s: cannot write dataset '%s'", path, name);
cleanup:
    if (d >= 0)
        H5Dclose(d);
    if (sp >= 0)
        H5Sclose(sp);
    return st;
}

static lrc_status write_layer(hid_t layers, int64_t i, const lrc_layer *l,
                              const char *path)
{
    lrc_status st = LRC_OK;
    hid_t g = H5I_INVALID_HID;
    char name[32];
    snprintf(name, sizeof name, "%04" PRId64, i);
    LRC_TRY_H5(g = H5Gcreate2(layers, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
               "%s: cannot create group 'layers/%s'", path, name);
    const int64_t kern[2] = {l->kh, l->kw}, str[2] = {l->sh, l->sw};
    const int64_t pads[4] = {l->pt, l->pl, l->pb, l->pr};
    LRC_TRY(lrc_h5_attr_str(g, "name", l->name, path));
    LRC_TRY(lrc_h5_attr_str(g, "op", lrc_op_name(l->op), path));
    LRC_TRY(lrc_h5_attr_i64s(g, "kernel", kern, 2, path));
    LRC_TRY(lrc_h5_attr_i64s(g, "strides", str, 2, path));
    LRC_TRY(lrc_h5_attr_i64s(g, "pads", pads, 4, path));
    LRC_TRY(lrc_h5_attr_i64(g, "ceil_mode", l->ceil_mode, path));
    LRC_TRY(lrc_h5_attr_i64(g, "count_include_pad", l->count_include_pad, path));
    LRC_TRY(lrc_h5_attr_i64(g, "in_c", l->in_c, path));
    LRC_TRY(lrc_h5_attr_i64(g, "out_c", l->out_c, path));
    LRC_TRY(lrc_h5_attr_i64(g, "flatten_check", l->flatten_check, path));
    if (l->op == LRC_OP_CONV || l->op == LRC_OP_DENSE) {
        const int64_t wd[4] = {l->out_c, l->in_c, l->kh, l->kw};
        LRC_TRY(write_f32(g, "weight", l->weight, l->op == LRC_OP_CONV ? 4 : 2,
                          wd, path));
        LRC_TRY(write_f32(g, "bias", l->bias, 1, wd, path));
    }
cleanup:
    if (g >= 0)
        H5Gclose(g);
    return st;
}

lrc_status lrc_net_save_h5(const lrc_net *net, const char *path)
{
    lrc_status st = LRC_OK;
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        LRC_RAISE(LRC_ERR_ARG, "%s: path too long", path);
    lrc_h5_quiet q;
    lrc_h5_quiet_begin(&q);
    f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    lrc_h5_quiet_end(&q);
    if (f < 0)
        LRC_RAISE(LRC_ERR_IO, "%s: cannot create the file (is the directory "
                  "writable?)", tmp);
    LRC_TRY(lrc_h5_attr_str(f, "format", FORMAT_NAME, path));
    LRC_TRY(lrc_h5_attr_i64(f, "format_version", 1, path));
    LRC_TRY(lrc_h5_attr_i64s(f, "input", net->declared, 3, path));
    LRC_TRY(lrc_h5_attr_i64(f, "layers", net->n_layers, path));
    LRC_TRY(lrc_h5_attr_str(f, "input_name", lrc_net_input_name(net), path));
    LRC_TRY(lrc_h5_attr_str(f, "output_name", lrc_net_output_name(net), path));
    LRC_TRY_H5(g = H5Gcreate2(f, "metadata", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
               "%s: cannot create group 'metadata'", path);
    for (int64_t i = 0; i < net->n_meta; i++)
        LRC_TRY(lrc_h5_attr_str(g, net->meta[i].key, net->meta[i].value, path));
    H5Gclose(g);
    LRC_TRY_H5(g = H5Gcreate2(f, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
               "%s: cannot create group 'layers'", path);
    for (int64_t i = 0; i < net->n_layers; i++)
        LRC_TRY(write_layer(g, i, &net->layers[i], path));
cleanup:
    if (g >= 0)
        H5Gclose(g);
    if (f >= 0 && H5Fclose(f) < 0 && st == LRC_OK)
        st = lrc_error_report(LRC_ERR_IO, __FILE__, __LINE__, __func__,
                              "%s: closing the file failed", tmp);
    if (st == LRC_OK && rename(tmp, path) != 0)
        st = lrc_error_report(LRC_ERR_IO, __FILE__, __LINE__, __func__,
                              "%s: cannot rename %s into place", path, tmp);
    if (st != LRC_OK)
        remove(tmp);
    return st;
}

/* ---- reading ---- */

/* Opens attribute (attr set) or dataset `name` of obj without HDF5 printing
 * its error stack when it is missing: the callers say what is missing. */
static hid_t open_quiet(hid_t obj, const char *name, int attr)
{
    lrc_h5_quiet q;
    lrc_h5_quiet_begin(&q);
    hid_t h = attr ? H5Aopen(obj, name, H5P_DEFAULT) : H5Dopen2(obj, name, H5P_DEFAULT);
    lrc_h5_quiet_end(&q);
    return h;
}

/* Reads attribute `name` of obj as n int64 values (a scalar when n == 1). */
static lrc_status read_i64s(hid_t obj, const char *name, int64_t *v, int n,
                            const char *path, const char *where)
{
    lrc_status st = LRC_OK;
    hid_t sp = H5I_INVALID_HID, a = open_quiet(obj, name, 1);
    if (a < 0)
        LRC_RAISE(LRC_ERR_FORMAT, "%s: %s has no attribute '%s'", path, where, name);
    LRC_TRY_H5(sp = H5Aget_space(a), "%s: H5Aget_space", path);
    if (H5Sget_simple_extent_npoints(sp) != n)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: %s attribute '%s' should hold %d values",
                 path, where, name, n);
    LRC_TRY_H5(H5Aread(a, H5T_NATIVE_INT64, v), "%s: %s: cannot read '%s'", path,
               where, name);
cleanup:
    if (sp >= 0)
        H5Sclose(sp);
    if (a >= 0)
        H5Aclose(a);
    return st;
}

/* Reads string attribute `name` into a new string. */
static lrc_status read_str(hid_t obj, const char *name, char **out,
                           const char *path, const char *where)
{
    lrc_status st = LRC_OK;
    hid_t t = H5I_INVALID_HID, mt = H5I_INVALID_HID, a = open_quiet(obj, name, 1);
    *out = NULL;
    if (a < 0)
        LRC_RAISE(LRC_ERR_FORMAT, "%s: %s has no attribute '%s'", path, where, name);
    LRC_TRY_H5(t = H5Aget_type(a), "%s: H5Aget_type", path);
    if (H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t) > 0)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: %s attribute '%s' is not a fixed-length "
                 "string", path, where, name);
    const size_t n = H5Tget_size(t);
    LRC_TRY(lrc_calloc(out, n + 1, 1, "string"));
    LRC_TRY_H5(mt = H5Tcopy(H5T_C_S1), "%s: H5Tcopy", path);
    LRC_TRY_H5(H5Tset_size(mt, n), "%s: H5Tset_size", path);
    LRC_TRY_H5(H5Aread(a, mt, *out), "%s: %s: cannot read '%s'", path, where, name);
cleanup:
    if (mt >= 0)
        H5Tclose(mt);
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    if (st != LRC_OK)
        lrc_free(out);
    return st;
}

static lrc_status read_f32(hid_t g, const char *name, float *v, int64_t n,
                           const char *path, const char *where)
{
    lrc_status st = LRC_OK;
    hid_t sp = H5I_INVALID_HID, d = open_quiet(g, name, 0);
    if (d < 0)
        LRC_RAISE(LRC_ERR_FORMAT, "%s: %s has no dataset '%s'", path, where, name);
    LRC_TRY_H5(sp = H5Dget_space(d), "%s: H5Dget_space", path);
    if (H5Sget_simple_extent_npoints(sp) != n)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: %s dataset '%s' holds %lld values, the "
                 "layer's shape needs %" PRId64, path, where, name,
                 (long long)H5Sget_simple_extent_npoints(sp), n);
    LRC_TRY_H5(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v),
               "%s: %s: cannot read '%s'", path, where, name);
cleanup:
    if (sp >= 0)
        H5Sclose(sp);
    if (d >= 0)
        H5Dclose(d);
    return st;
}

static lrc_status op_parse(const char *s, lrc_op *op)
{
    for (int k = LRC_OP_CONV; k <= LRC_OP_SOFTMAX; k++)
        if (strcmp(s, lrc_op_name((lrc_op)k)) == 0) {
            *op = (lrc_op)k;
            return LRC_OK;
        }
    return LRC_ERR_FORMAT;
}

static lrc_status read_layer(lrc_net *net, hid_t layers, int64_t i,
                             const char *path)
{
    lrc_status st = LRC_OK;
    hid_t g = H5I_INVALID_HID;
    char gname[32], where[64];
    char *op = NULL;
    lrc_layer l;
    memset(&l, 0, sizeof l);
    snprintf(gname, sizeof gname, "%04" PRId64, i);
    snprintf(where, sizeof where, "layers/%s", gname);
    lrc_h5_quiet q;
    lrc_h5_quiet_begin(&q);
    g = H5Gopen2(layers, gname, H5P_DEFAULT);
    lrc_h5_quiet_end(&q);
    if (g < 0)
        LRC_RAISE(LRC_ERR_FORMAT, "%s: no group %s", path, where);
    int64_t kern[2], str[2], pads[4], v = 0;
    LRC_TRY(read_str(g, "name", &l.name, path, where));
    LRC_TRY(read_str(g, "op", &op, path, where));
    if (op_parse(op, &l.op) != LRC_OK)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: %s: unknown op '%s'", path, where, op);
    LRC_TRY(read_i64s(g, "kernel", kern, 2, path, where));
    LRC_TRY(read_i64s(g, "strides", str, 2, path, where));
    LRC_TRY(read_i64s(g, "pads", pads, 4, path, where));
    l.kh = kern[0];
    l.kw = kern[1];
    l.sh = str[0];
    l.sw = str[1];
    l.pt = pads[0];
    l.pl = pads[1];
    l.pb = pads[2];
    l.pr = pads[3];
    LRC_TRY(read_i64s(g, "ceil_mode", &v, 1, path, where));
    l.ceil_mode = (int)v;
    LRC_TRY(read_i64s(g, "count_include_pad", &v, 1, path, where));
    l.count_include_pad = (int)v;
    LRC_TRY(read_i64s(g, "in_c", &l.in_c, 1, path, where));
    LRC_TRY(read_i64s(g, "out_c", &l.out_c, 1, path, where));
    LRC_TRY(read_i64s(g, "flatten_check", &l.flatten_check, 1, path, where));
    if (l.op == LRC_OP_CONV || l.op == LRC_OP_DENSE) {
        const int64_t k = l.op == LRC_OP_CONV ? l.kh * l.kw : 1;
        if (l.out_c < 1 || l.in_c < 1 || k < 1 || l.out_c > (1 << 24) ||
            l.in_c > (1 << 24) || k > 4096)
            LRC_FAIL(LRC_ERR_FORMAT, "%s: %s: implausible shape %" PRId64 " x %"
                     PRId64 " x %" PRId64, path, where, l.out_c, l.in_c, k);
        LRC_TRY(lrc_calloc(&l.weight, (size_t)(l.out_c * l.in_c * k), sizeof(float),
                           "layer weights"));
        LRC_TRY(lrc_calloc(&l.bias, (size_t)l.out_c, sizeof(float), "layer bias"));
        LRC_TRY(read_f32(g, "weight", l.weight, l.out_c * l.in_c * k, path, where));
        LRC_TRY(read_f32(g, "bias", l.bias, l.out_c, path, where));
    }
    LRC_TRY(lrc_net_append(net, &l));
cleanup:
    if (g >= 0)
        H5Gclose(g);
    lrc_free(&op);
    lrc_free(&l.name);
    lrc_free(&l.weight);
    lrc_free(&l.bias);
    return st;
}

static herr_t meta_attr(hid_t obj, const char *name, const H5A_info_t *info,
                        void *data)
{
    (void)info;
    void **ctx = data;
    lrc_net *net = ctx[0];
    char *v = NULL;
    if (read_str(obj, name, &v, (const char *)ctx[1], "metadata") != LRC_OK)
        return -1;
    lrc_status st = lrc_net_set_meta(net, name, v);
    lrc_free(&v);
    return st == LRC_OK ? 0 : -1;
}

lrc_status lrc_net_load_h5(const char *path, lrc_net **out)
{
    lrc_status st = LRC_OK;
    lrc_net *net = NULL;
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID;
    char *fmt = NULL, *iname = NULL, *oname = NULL;
    *out = NULL;
    lrc_h5_quiet q;
    lrc_h5_quiet_begin(&q);
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    lrc_h5_quiet_end(&q);
    if (f < 0)
        LRC_RAISE(LRC_ERR_IO, "%s: cannot open as HDF5", path);
    LRC_TRY(read_str(f, "format", &fmt, path, "the file"));
    if (strcmp(fmt, FORMAT_NAME) != 0)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: format '%s' is not an lrcompress model",
                 path, fmt);
    int64_t ver = 0, n = 0;
    LRC_TRY(read_i64s(f, "format_version", &ver, 1, path, "the file"));
    if (ver != 1)
        LRC_FAIL(LRC_ERR_FORMAT, "%s: model format version %" PRId64 " (this "
                 "lrcompress reads version 1)", path, ver);
    LRC_TRY(lrc_net_create(&net));
    lrc_free(&net->source);
    LRC_TRY(lrc_strdup(&net->source, path));
    LRC_TRY(read_i64s(f, "input", net->declared, 3, path, "the file"));
    LRC_TRY(read_i64s(f, "layers", &n, 1, path, "the file"));
    LRC_TRY(read_str(f, "input_name", &iname, path, "the file"));
    LRC_TRY(read_str(f, "output_name", &oname, path, "the file"));
    lrc_free(&net->input_name);
    lrc_free(&net->output_name);
    net->input_name = iname;
    net->output_name = oname;
    iname = oname = NULL;
    LRC_TRY_H5(g = H5Gopen2(f, "metadata", H5P_DEFAULT), "%s: no group "
               "'metadata'", path);
    {
        void *ctx[2] = {net, (void *)path};
        hsize_t idx = 0;
        LRC_TRY_H5(H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, &idx,
                               meta_attr, ctx) < 0 ? -1 : 0,
                   "%s: cannot read the metadata", path);
    }
    H5Gclose(g);
    LRC_TRY_H5(g = H5Gopen2(f, "layers", H5P_DEFAULT), "%s: no group 'layers'",
               path);
    for (int64_t i = 0; i < n; i++)
        LRC_TRY(read_layer(net, g, i, path));
    *out = net;
    net = NULL;
cleanup:
    if (g >= 0)
        H5Gclose(g);
    if (f >= 0)
        H5Fclose(f);
    lrc_free(&fmt);
    lrc_free(&iname);
    lrc_free(&oname);
    lrc_net_destroy(&net);
    return st;
}

lrc_status lrc_model_load(const char *path, lrc_net **out)
{
    unsigned char sig[8] = {0};
    FILE *f = fopen(path, "rb");
    if (f) {
        if (fread(sig, 1, sizeof sig, f) != sizeof sig)
            memset(sig, 0, sizeof sig);
        fclose(f);
    }
    if (memcmp(sig, "\211HDF\r\n\032\n", 8) == 0)
        return lrc_net_load_h5(path, out);
    return lrc_onnx_load(path, out);
}
