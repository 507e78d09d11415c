/* ONNX export: lrc_onnx_save against lrc_onnx_load and the forward engine.
 *
 *   test_onnx_export                  the cmocka tests
 *   test_onnx_export --write-only DIR writes DIR/export.onnx (the net of the
 *       round-trip test), DIR/export_in.bin (N x C x H x W float32 input),
 *       DIR/export_out.bin (lrcompress's float32 output for it) and
 *       DIR/export_shape.txt ("N C H W K", K outputs per image), for
 *       check_export_ort.py to compare with onnxruntime.
 *
 * Files go to $LRC_TEST_TMP/onnx_export.<pid>/, removed at the end. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <hdf5.h>

#include "lrc/forward.h"
#include "lrc/model.h"
#include "model/model_impl.h"
#include "onnx.pb-c.h"

#define IN_C 3
#define IN_H 17
#define IN_W 15
#define N_IMAGES 4

static char g_dir[4096];

/* Deterministic uniform numbers in [-1, 1). */
static double rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / (double)(1ULL << 53) * 2.0 - 1.0;
}

static float *rand_floats(size_t n, uint64_t *seed)
{
    float *p = malloc(n * sizeof *p + 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)rnd(seed);
    return p;
}

static void path_in(char *buf, size_t len, const char *dir, const char *name)
{
    int k = snprintf(buf, len, "%s/%s", dir, name);
    assert_true(k > 0 && (size_t)k < len);
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static lrc_layer proto(const char *name, lrc_op op)
{
    lrc_layer l;
    memset(&l, 0, sizeof l);
    l.name = (char *)name;
    l.op = op;
    l.flatten_check = -1;
    return l;
}

static lrc_layer window(const char *name, lrc_op op, int64_t kh, int64_t kw,
                        int64_t sh, int64_t sw, int64_t pt, int64_t pl,
                        int64_t pb, int64_t pr)
{
    lrc_layer l = proto(name, op);
    l.kh = kh;
    l.kw = kw;
    l.sh = sh;
    l.sw = sw;
    l.pt = pt;
    l.pl = pl;
    l.pb = pb;
    l.pr = pr;
    return l;
}

static void append_conv(lrc_net *net, lrc_layer l, int64_t out_c, int64_t in_c,
                        uint64_t *seed)
{
    size_t nw = (size_t)(out_c * in_c * l.kh * l.kw);
    l.out_c = out_c;
    l.in_c = in_c;
    l.weight = rand_floats(nw, seed);
    l.bias = rand_floats((size_t)out_c, seed);
    assert_int_equal(lrc_net_append(net, &l), LRC_OK);
    free(l.weight);
    free(l.bias);
}

static void append_dense(lrc_net *net, const char *name, int64_t out_c,
                         int64_t in_c, uint64_t *seed)
{
    lrc_layer l = proto(name, LRC_OP_DENSE);
    l.kh = l.kw = 1; /* as the importer sets them for Gemm */
    l.out_c = out_c;
    l.in_c = in_c;
    l.weight = rand_floats((size_t)(out_c * in_c), seed);
    l.bias = rand_floats((size_t)out_c, seed);
    assert_int_equal(lrc_net_append(net, &l), LRC_OK);
    free(l.weight);
    free(l.bias);
}

/* Every op: conv 3x3 stride 2 with asymmetric pads (3x17x15 -> 8x9x7),
 * relu, maxpool 2x2/2 ceil_mode (-> 8x5x4, both axes end in a partial
 * window), conv 1x1 (-> 6x5x4), relu, avgpool 3x3/2 pads 1 with
 * count_include_pad (-> 6x3x2), globalavgpool (-> 6x1x1), flatten (6),
 * dense 6->5, softmax. */
static lrc_net *all_ops_net(void)
{
    uint64_t seed = 20240611;
    lrc_net *net = NULL;
    lrc_layer l;
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    append_conv(net, window("conv1", LRC_OP_CONV, 3, 3, 2, 2, 1, 0, 2, 1), 8,
                IN_C, &seed);
    l = proto("relu1", LRC_OP_RELU);
    assert_int_equal(lrc_net_append(net, &l), LRC_OK);
    l = window("pool1", LRC_OP_MAXPOOL, 2, 2, 2, 2, 0, 0, 0, 0);
    l.ceil_mode = 1;
    assert_int_equal(lrc_net_append(net, &l), LRC_OK);
    append_conv(net, window("conv2", LRC_OP_CONV, 1, 1, 1, 1, 0, 0, 0, 0), 6, 8,
                &seed);
    l = proto("relu2", LRC_OP_RELU);
    assert_int_equal(lrc_net_append(net, &l), LRC_OK);
    l = window("pool2", LRC_OP_AVGPOOL, 3, 3, 2, 2, 1, 1, 1, 1);
    l.count_include_pad = 1;
    assert_int_equal(lrc_net_append(net, &l), LRC_OK);
    l = proto("gap", LRC_OP_GLOBALAVGPOOL);
    assert_int_equal(lrc_net_append(net, &l), LRC_OK);
    l = proto("flatten", LRC_OP_FLATTEN);
    assert_int_equal(lrc_net_append(net, &l), LRC_OK);
    append_dense(net, "fc", 5, 6, &seed);
    l = proto("softmax", LRC_OP_SOFTMAX);
    assert_int_equal(lrc_net_append(net, &l), LRC_OK);
    assert_int_equal(lrc_net_set_meta(net, "lrc.mean", "0.485,0.456,0.406"),
                     LRC_OK);
    assert_int_equal(lrc_net_set_meta(net, "lrc.std", "0.229,0.224,0.225"),
                     LRC_OK);
    assert_int_equal(lrc_net_set_input(net, IN_C, IN_H, IN_W), LRC_OK);
    const lrc_layer *c1 = lrc_net_layer(net, 0), *p1 = lrc_net_layer(net, 2);
    const lrc_layer *p2 = lrc_net_layer(net, 5);
    assert_int_equal(c1->out_shape[1], 9);
    assert_int_equal(c1->out_shape[2], 7);
    assert_int_equal(p1->out_shape[1], 5);
    assert_int_equal(p1->out_shape[2], 4);
    assert_int_equal(p2->out_shape[1], 3);
    assert_int_equal(p2->out_shape[2], 2);
    return net;
}

static size_t weight_count(const lrc_layer *l)
{
    if (l->op == LRC_OP_CONV)
        return (size_t)(l->out_c * l->in_c * l->kh * l->kw);
    if (l->op == LRC_OP_DENSE)
        return (size_t)(l->out_c * l->in_c);
    return 0;
}

/* Same ops, geometry, shapes and bitwise-equal weights. */
static void assert_layers_equal(const lrc_layer *a, const lrc_layer *b)
{
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->op, b->op);
    assert_int_equal(a->kh, b->kh);
    assert_int_equal(a->kw, b->kw);
    assert_int_equal(a->sh, b->sh);
    assert_int_equal(a->sw, b->sw);
    assert_int_equal(a->pt, b->pt);
    assert_int_equal(a->pl, b->pl);
    assert_int_equal(a->pb, b->pb);
    assert_int_equal(a->pr, b->pr);
    assert_int_equal(a->ceil_mode, b->ceil_mode);
    assert_int_equal(a->count_include_pad, b->count_include_pad);
    assert_int_equal(a->out_c, b->out_c);
    assert_int_equal(a->in_c, b->in_c);
    assert_int_equal(a->flatten_check, b->flatten_check);
    assert_memory_equal(a->in_shape, b->in_shape, sizeof a->in_shape);
    assert_memory_equal(a->out_shape, b->out_shape, sizeof a->out_shape);
    assert_int_equal(a->in_flat, b->in_flat);
    assert_int_equal(a->out_flat, b->out_flat);
    size_t nw = weight_count(a);
    if (nw > 0) {
        assert_non_null(b->weight);
        assert_non_null(b->bias);
        assert_memory_equal(a->weight, b->weight, nw * sizeof(float));
        assert_memory_equal(a->bias, b->bias, (size_t)a->out_c * sizeof(float));
    }
}

/* Runs n images through the whole net; the caller frees the result. */
static float *forward(const lrc_net *net, const float *in, int64_t n)
{
    lrc_forward *fw = NULL;
    float *out = calloc((size_t)(n * lrc_net_output_size(net)) + 1,
                        sizeof *out);
    assert_non_null(out);
    assert_int_equal(lrc_forward_create(net, 0, lrc_net_num_layers(net), 3,
                                        &fw), LRC_OK);
    assert_int_equal(lrc_forward_run(fw, in, n, out), LRC_OK);
    lrc_forward_destroy(&fw);
    return out;
}

static lrc_net *load_shaped(const char *path, int64_t c, int64_t h, int64_t w)
{
    lrc_net *net = NULL;
    assert_int_equal(lrc_onnx_load(path, &net), LRC_OK);
    assert_int_equal(lrc_net_set_input(net, c, h, w), LRC_OK);
    return net;
}

/* The same (key, value) pairs. */
static void assert_meta_equal(const lrc_net *a, const lrc_net *b)
{
    assert_int_equal(b->n_meta, a->n_meta);
    for (int64_t i = 0; i < a->n_meta; i++) {
        const char *v = lrc_net_meta(b, a->meta[i].key);
        if (!v)
            fail_msg("metadata key '%s' was lost", a->meta[i].key);
        assert_string_equal(v, a->meta[i].value);
    }
}

/* Reads an exported file with protobuf-c and checks what the importer does
 * not look at: the model header, the graph input and output declarations,
 * that every tensor name is written once (graph input, initializers, node
 * outputs) and that every node reads only names written before it. The
 * caller frees the model with onnx__model_proto__free_unpacked. */
static Onnx__ModelProto *check_file(const char *path, const lrc_net *net)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len > 0);
    rewind(f);
    uint8_t *buf = malloc((size_t)len);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, (size_t)len, buf);
    free(buf);
    assert_non_null(m);

    assert_true(m->has_ir_version);
    assert_int_equal(m->ir_version, 7);
    assert_string_equal(m->producer_name, "lrcompress");
    assert_int_equal(m->n_opset_import, 1);
    assert_string_equal(m->opset_import[0]->domain, "");
    assert_int_equal(m->opset_import[0]->version, 13);
    assert_int_equal(m->n_metadata_props, (size_t)net->n_meta);
    for (size_t i = 0; i < m->n_metadata_props; i++) {
        assert_string_equal(m->metadata_props[i]->key, net->meta[i].key);
        assert_string_equal(m->metadata_props[i]->value, net->meta[i].value);
    }

    const Onnx__GraphProto *g = m->graph;
    assert_non_null(g);
    assert_int_equal(g->n_input, 1);
    assert_int_equal(g->n_output, 1);
    const lrc_layer *first = lrc_net_layer(net, 0);
    const lrc_layer *last = lrc_net_layer(net, lrc_net_num_layers(net) - 1);
    const Onnx__ValueInfoProto *io[2] = {g->input[0], g->output[0]};
    const int64_t *shape[2] = {first->in_shape, last->out_shape};
    const size_t rank[2] = {4, last->out_flat ? 2u : 4u};
    assert_string_equal(io[0]->name, lrc_net_input_name(net));
    assert_string_equal(io[1]->name, lrc_net_output_name(net));
    for (int k = 0; k < 2; k++) {
        const Onnx__TypeProto *tp = io[k]->type;
        assert_non_null(tp);
        assert_int_equal(tp->value_case, ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE);
        assert_int_equal(tp->tensor_type->elem_type,
                         ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
        const Onnx__TensorShapeProto *sh = tp->tensor_type->shape;
        assert_int_equal(sh->n_dim, rank[k]);
        assert_int_equal(sh->dim[0]->value_case,
                         ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM);
        assert_string_equal(sh->dim[0]->dim_param, "N");
        for (size_t d = 1; d < sh->n_dim; d++) {
            assert_int_equal(sh->dim[d]->value_case,
                             ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE);
            assert_int_equal(sh->dim[d]->dim_value, shape[k][d - 1]);
        }
    }

    /* Names written so far, in order: input, initializers, node outputs. */
    size_t cap = 1 + g->n_initializer + g->n_node, n = 0;
    const char **names = calloc(cap, sizeof *names);
    assert_non_null(names);
    names[n++] = g->input[0]->name;
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        assert_int_equal(t->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
        assert_true(t->has_raw_data);
        names[n++] = t->name;
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *nd = g->node[i];
        for (size_t k = 0; k < nd->n_input; k++) {
            int seen = 0;
            for (size_t j = 0; j < n; j++)
                seen |= strcmp(names[j], nd->input[k]) == 0;
            if (!seen)
                fail_msg("node '%s' reads '%s' before anything writes it",
                         nd->name, nd->input[k]);
        }
        assert_int_equal(nd->n_output, 1);
        names[n++] = nd->output[0];
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(names[i], names[j]) == 0)
                fail_msg("tensor name '%s' is written twice", names[i]);
    assert_string_equal(names[n - 1], lrc_net_output_name(net));
    free(names);
    return m;
}

static void test_round_trip(void **state)
{
    (void)state;
    char path[4200];
    uint64_t seed = 7;
    lrc_net *a = all_ops_net();
    path_in(path, sizeof path, g_dir, "round_trip.onnx");
    assert_int_equal(lrc_onnx_save(a, path), LRC_OK);
    assert_true(file_exists(path));
    Onnx__ModelProto *m = check_file(path, a);
    /* One node per layer, named after it (attributes come back through the
     * importer below). */
    static const char *const ops[] = {"Conv", "Relu", "MaxPool", "Conv", "Relu",
        "AveragePool", "GlobalAveragePool", "Flatten", "Gemm", "Softmax"};
    assert_int_equal(m->graph->n_node, 10);
    assert_int_equal(m->graph->n_initializer, 6);
    for (size_t i = 0; i < 10; i++) {
        assert_string_equal(m->graph->node[i]->op_type, ops[i]);
        assert_string_equal(m->graph->node[i]->name,
                            lrc_net_layer(a, (int64_t)i)->name);
    }
    assert_string_equal(m->graph->initializer[0]->name, "conv1.weight");
    assert_string_equal(m->graph->initializer[1]->name, "conv1.bias");
    assert_string_equal(m->graph->node[1]->input[0], "conv1_out");
    onnx__model_proto__free_unpacked(m, NULL);
    lrc_net *b = load_shaped(path, IN_C, IN_H, IN_W);

    assert_int_equal(lrc_net_num_layers(b), lrc_net_num_layers(a));
    for (int64_t i = 0; i < lrc_net_num_layers(a); i++)
        assert_layers_equal(lrc_net_layer(a, i), lrc_net_layer(b, i));
    assert_string_equal(lrc_net_input_name(b), lrc_net_input_name(a));
    assert_string_equal(lrc_net_output_name(b), lrc_net_output_name(a));
    assert_string_equal(lrc_net_meta(b, "lrc.mean"), "0.485,0.456,0.406");
    assert_string_equal(lrc_net_meta(b, "lrc.std"), "0.229,0.224,0.225");
    assert_meta_equal(a, b);
    int64_t chw[3];
    lrc_net_declared_input(b, chw);
    assert_int_equal(chw[0], IN_C);
    assert_int_equal(chw[1], IN_H);
    assert_int_equal(chw[2], IN_W);

    size_t nin = (size_t)(N_IMAGES * lrc_net_input_size(a));
    size_t nout = (size_t)(N_IMAGES * lrc_net_output_size(a));
    assert_int_equal(nout, N_IMAGES * 5);
    float *x = rand_floats(nin, &seed);
    float *ya = forward(a, x, N_IMAGES), *yb = forward(b, x, N_IMAGES);
    assert_memory_equal(ya, yb, nout * sizeof(float));
    for (int i = 0; i < N_IMAGES; i++) { /* softmax rows: a real output */
        double s = 0;
        for (int k = 0; k < 5; k++)
            s += ya[i * 5 + k];
        assert_true(fabs(s - 1.0) < 1e-5);
    }

    /* Saving again over an existing file replaces it. */
    assert_int_equal(lrc_onnx_save(b, path), LRC_OK);
    lrc_net *c = load_shaped(path, IN_C, IN_H, IN_W);
    assert_int_equal(lrc_net_num_layers(c), lrc_net_num_layers(a));
    for (int64_t i = 0; i < lrc_net_num_layers(a); i++)
        assert_layers_equal(lrc_net_layer(a, i), lrc_net_layer(c, i));
    assert_int_equal(remove(path), 0);
    free(x);
    free(ya);
    free(yb);
    lrc_net_destroy(&a);
    lrc_net_destroy(&b);
    lrc_net_destroy(&c);
}

/* The HDF5 model: every op of all_ops_net through lrc_net_save_h5 and
 * lrc_model_load (told apart from ONNX by the signature) gives the same
 * layers, names, metadata and bitwise the same outputs; a file that is
 * not an lrcompress model and one with a layer's weights missing are
 * refused naming the file and the group. */
static void test_h5_model(void **state)
{
    (void)state;
    char path[4200], other[4200];
    uint64_t seed = 11;
    lrc_net *a = all_ops_net(), *b = NULL;
    path_in(path, sizeof path, g_dir, "model.h5");
    assert_int_equal(lrc_net_save_h5(a, path), LRC_OK);
    assert_int_equal(lrc_model_load(path, &b), LRC_OK);
    assert_int_equal(lrc_net_set_input(b, IN_C, IN_H, IN_W), LRC_OK);
    assert_int_equal(lrc_net_num_layers(b), lrc_net_num_layers(a));
    for (int64_t i = 0; i < lrc_net_num_layers(a); i++)
        assert_layers_equal(lrc_net_layer(a, i), lrc_net_layer(b, i));
    assert_string_equal(lrc_net_input_name(b), lrc_net_input_name(a));
    assert_string_equal(lrc_net_output_name(b), lrc_net_output_name(a));
    assert_meta_equal(a, b);
    size_t nin = (size_t)(N_IMAGES * lrc_net_input_size(a));
    size_t nout = (size_t)(N_IMAGES * lrc_net_output_size(a));
    float *x = rand_floats(nin, &seed);
    float *ya = forward(a, x, N_IMAGES), *yb = forward(b, x, N_IMAGES);
    assert_memory_equal(ya, yb, nout * sizeof(float));
    lrc_net_destroy(&b);

    /* not an lrcompress model: an HDF5 file of another kind */
    path_in(other, sizeof other, g_dir, "other.h5");
    hid_t f = H5Fcreate(other, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    H5Fclose(f);
    assert_int_equal(lrc_model_load(other, &b), LRC_ERR_FORMAT);
    assert_null(b);
    /* a layer without its weights */
    f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_true(H5Ldelete(f, "layers/0000/weight", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    assert_int_equal(lrc_model_load(path, &b), LRC_ERR_FORMAT);
    assert_null(b);
    assert_int_equal(remove(path), 0);
    assert_int_equal(remove(other), 0);
    free(x);
    free(ya);
    free(yb);
    lrc_net_destroy(&a);
}

/* The graph's tensor names; the public API has no setter (the importer
 * sets them), so this goes through the module's private struct. */
static void set_names(lrc_net *net, const char *in, const char *out)
{
    lrc_free(&net->input_name);
    lrc_free(&net->output_name);
    assert_int_equal(lrc_strdup(&net->input_name, in), LRC_OK);
    assert_int_equal(lrc_strdup(&net->output_name, out), LRC_OK);
}

/* A dense layer reading a [C, 1, 1] tensor (no Flatten): Gemm needs a
 * matrix, so the exporter writes a Flatten in front of it, which comes
 * back as a layer of its own; the outputs must not change. Also checks
 * metadata with an empty value, and graph input and output names equal to
 * the tensor names the exporter would pick (layer "input" writes
 * "input_out", the Flatten before "fc" writes "fc_flat"), which must be
 * renamed so that every tensor name stays unique. */
static void test_dense_without_flatten(void **state)
{
    (void)state;
    char path[4200];
    uint64_t seed = 99;
    lrc_net *a = NULL;
    lrc_layer l;
    assert_int_equal(lrc_net_create(&a), LRC_OK);
    set_names(a, "fc_flat", "input_out");
    append_conv(a, window("input", LRC_OP_CONV, 3, 3, 1, 1, 1, 1, 1, 1), 4, 2,
                &seed);
    append_conv(a, window("input_out", LRC_OP_CONV, 1, 1, 1, 1, 0, 0, 0, 0), 4,
                4, &seed);
    l = proto("fc_flat", LRC_OP_GLOBALAVGPOOL);
    assert_int_equal(lrc_net_append(a, &l), LRC_OK);
    append_dense(a, "fc", 3, 4, &seed);
    assert_int_equal(lrc_net_set_meta(a, "lrc.description", ""), LRC_OK);
    assert_int_equal(lrc_net_set_input(a, 2, 6, 5), LRC_OK);
    path_in(path, sizeof path, g_dir, "dense_4d.onnx");
    assert_int_equal(lrc_onnx_save(a, path), LRC_OK);
    Onnx__ModelProto *m = check_file(path, a);
    assert_int_equal(m->graph->n_node, 5);
    assert_string_equal(m->graph->node[0]->output[0], "input_out_1");
    assert_string_equal(m->graph->node[3]->op_type, "Flatten");
    assert_string_equal(m->graph->node[3]->output[0], "fc_flat_1");
    onnx__model_proto__free_unpacked(m, NULL);
    lrc_net *b = load_shaped(path, 2, 6, 5);
    assert_int_equal(lrc_net_num_layers(b), 5);
    for (int64_t i = 0; i < 3; i++)
        assert_layers_equal(lrc_net_layer(a, i), lrc_net_layer(b, i));
    assert_int_equal(lrc_net_layer(b, 3)->op, LRC_OP_FLATTEN);
    const lrc_layer *fa = lrc_net_layer(a, 3), *fb = lrc_net_layer(b, 4);
    assert_string_equal(fb->name, "fc");
    assert_int_equal(fb->op, LRC_OP_DENSE);
    assert_memory_equal(fa->weight, fb->weight, 12 * sizeof(float));
    assert_memory_equal(fa->bias, fb->bias, 3 * sizeof(float));
    assert_non_null(lrc_net_meta(b, "lrc.description"));
    assert_string_equal(lrc_net_meta(b, "lrc.description"), "");
    assert_meta_equal(a, b);
    assert_string_equal(lrc_net_input_name(b), "fc_flat");
    assert_string_equal(lrc_net_output_name(b), "input_out");

    float *x = rand_floats(3 * 60, &seed);
    float *ya = forward(a, x, 3), *yb = forward(b, x, 3);
    assert_memory_equal(ya, yb, 9 * sizeof(float));
    assert_int_equal(remove(path), 0);
    free(x);
    free(ya);
    free(yb);
    lrc_net_destroy(&a);
    lrc_net_destroy(&b);
}

static void test_real_model(void **state)
{
    (void)state;
    const char *src = getenv("LRC_SOURCE_DIR");
    char model[4200], path[4200];
    assert_non_null(src);
    path_in(model, sizeof model, src, "models/fashion_vgg.onnx");
    if (!file_exists(model)) {
        print_message("skipping: %s is missing (it comes from "
                      "models/train_fashion_vgg.py)\n", model);
        skip();
    }
    lrc_net *a = NULL;
    assert_int_equal(lrc_onnx_load(model, &a), LRC_OK);
    int64_t chw[3];
    lrc_net_declared_input(a, chw);
    for (int k = 0; k < 3; k++)
        assert_true(chw[k] > 0);
    assert_int_equal(lrc_net_set_input(a, chw[0], chw[1], chw[2]), LRC_OK);
    path_in(path, sizeof path, g_dir, "fashion_vgg_copy.onnx");
    assert_int_equal(lrc_onnx_save(a, path), LRC_OK);
    onnx__model_proto__free_unpacked(check_file(path, a), NULL);
    lrc_net *b = load_shaped(path, chw[0], chw[1], chw[2]);
    assert_int_equal(lrc_net_num_layers(b), lrc_net_num_layers(a));
    for (int64_t i = 0; i < lrc_net_num_layers(a); i++)
        assert_layers_equal(lrc_net_layer(a, i), lrc_net_layer(b, i));
    assert_string_equal(lrc_net_input_name(b), lrc_net_input_name(a));
    assert_string_equal(lrc_net_output_name(b), lrc_net_output_name(a));
    assert_non_null(lrc_net_meta(a, "lrc.mean"));
    assert_non_null(lrc_net_meta(a, "lrc.std"));
    assert_meta_equal(a, b);
    assert_int_equal(remove(path), 0);
    lrc_net_destroy(&a);
    lrc_net_destroy(&b);
}

/* No file named *.tmp in the test directory. */
static void assert_no_tmp_files(void)
{
    DIR *d = opendir(g_dir);
    struct dirent *e;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len >= 4 && strcmp(e->d_name + len - 4, ".tmp") == 0)
            fail_msg("%s/%s was left behind", g_dir, e->d_name);
    }
    closedir(d);
}

static void test_errors(void **state)
{
    (void)state;
    char path[4200], tmp[4300], dir[4200];
    lrc_net *net = all_ops_net();

    /* A directory that does not exist: fails before anything is written. */
    path_in(path, sizeof path, g_dir, "no_such_dir/model.onnx");
    assert_int_equal(lrc_onnx_save(net, path), LRC_ERR_IO);
    assert_false(file_exists(path));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_false(file_exists(tmp));

    /* The target is a directory: the temporary file is written, the rename
     * fails, and the temporary must be removed. */
    path_in(dir, sizeof dir, g_dir, "a_directory.onnx");
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(lrc_onnx_save(net, dir), LRC_ERR_IO);
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    assert_false(file_exists(tmp));
    assert_int_equal(rmdir(dir), 0);

    /* Non-finite weights cannot be read back (the importer rejects them),
     * so they are not written either. */
    lrc_layer *fc = lrc_net_layer_mut(net, lrc_net_find(net, "fc"));
    assert_non_null(fc);
    fc->weight[3] = NAN;
    path_in(path, sizeof path, g_dir, "nan.onnx");
    assert_int_equal(lrc_onnx_save(net, path), LRC_ERR_NUMERIC);
    assert_false(file_exists(path));
    lrc_net_destroy(&net);

    /* A net without an input shape. */
    assert_int_equal(lrc_net_create(&net), LRC_OK);
    lrc_layer l = proto("relu", LRC_OP_RELU);
    assert_int_equal(lrc_net_append(net, &l), LRC_OK);
    path_in(path, sizeof path, g_dir, "unshaped.onnx");
    assert_int_equal(lrc_onnx_save(net, path), LRC_ERR_ARG);
    assert_false(file_exists(path));
    lrc_net_destroy(&net);

    assert_no_tmp_files();
}

static int write_floats(const char *path, const float *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "test_onnx_export: cannot create %s: %s\n", path,
                strerror(errno));
        return 1;
    }
    /* raw little-endian float32: the test hosts are little-endian */
    size_t k = fwrite(p, sizeof *p, n, f);
    if (fclose(f) != 0 || k != n) {
        fprintf(stderr, "test_onnx_export: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

/* --write-only: the model of test_round_trip, an input and lrcompress's
 * output, for an independent runtime. It runs outside the cmocka runner:
 * a failing assert in the shared helpers ends the program with a non-zero
 * status, which the driver reports. */
static int write_only(const char *dir)
{
    char path[4200];
    uint64_t seed = 7;
    int rc = 1;
    lrc_net *net = all_ops_net();
    size_t nin = (size_t)(N_IMAGES * lrc_net_input_size(net));
    size_t k = (size_t)lrc_net_output_size(net);
    float *x = rand_floats(nin, &seed), *y = forward(net, x, N_IMAGES);
    FILE *f = NULL;
    path_in(path, sizeof path, dir, "export.onnx");
    if (lrc_onnx_save(net, path) != LRC_OK)
        goto done;
    path_in(path, sizeof path, dir, "export_in.bin");
    if (write_floats(path, x, nin) != 0)
        goto done;
    path_in(path, sizeof path, dir, "export_out.bin");
    if (write_floats(path, y, N_IMAGES * k) != 0)
        goto done;
    path_in(path, sizeof path, dir, "export_shape.txt");
    f = fopen(path, "w");
    if (!f || fprintf(f, "%d %d %d %d %zu\n", N_IMAGES, IN_C, IN_H, IN_W, k) < 0)
        goto done;
    rc = 0;
done:
    if (f && fclose(f) != 0)
        rc = 1;
    if (rc != 0)
        fprintf(stderr, "test_onnx_export: --write-only %s failed\n", dir);
    free(x);
    free(y);
    lrc_net_destroy(&net);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("LRC_TEST_TMP");
    if (!base || !base[0]) {
        fprintf(stderr, "LRC_TEST_TMP is not set (run the test through "
                        "ctest)\n");
        return -1;
    }
    snprintf(g_dir, sizeof g_dir, "%s/onnx_export.%ld", base, (long)getpid());
    if (mkdir(g_dir, 0700) != 0) {
        fprintf(stderr, "cannot create %s: %s\n", g_dir, strerror(errno));
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* Files a failed test left behind go too. */
    DIR *d = opendir(g_dir);
    if (d) {
        struct dirent *e;
        char p[4400];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            if (remove(p) != 0)
                fprintf(stderr, "cannot remove %s: %s\n", p, strerror(errno));
        }
        closedir(d);
    }
    return rmdir(g_dir) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-only") == 0)
        return write_only(argv[2]);
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--write-only DIR]\n", argv[0]);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_dense_without_flatten),
        cmocka_unit_test(test_real_model),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_h5_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
