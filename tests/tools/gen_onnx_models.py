#!/usr/bin/python3
"""Build the ONNX test corpus for the importer and `lrcompress eval`.

    /usr/bin/python3 tests/tools/gen_onnx_models.py OUTDIR

Models are built with onnx.helper (no torch) and seeded random weights, so
the corpus is the same on every run. OUTDIR receives:

  <name>.onnx      every model, good and bad
  <name>.in.bin    (good models) 7 images of N(0,1) input, raw little-endian
                   float32 NCHW, already normalised
  <name>.h5        (good models) the same values as "images" (float32
                   N x C x H x W) and "labels" (int32 zeros), so that
                   `lrcompress eval M --data h5:<name>.h5 --mean 0 --std 1`
                   sees exactly the input the reference runtime sees
  manifest.json    {"good": [...], "bad": [...]}: for a good model its file,
                   opset, input shape (c, h, w), output columns and ops; for a
                   bad model the substrings its one-line error must contain
                   (case-insensitive, after the model's path is removed)

Good models cover every op the importer supports, in each opset's attribute
form (9, 11, 13, 17), with a dynamic batch dimension "N"; every one passes
onnx.checker.check_model. Bad models are each wrong in exactly one way.
"""
import json
import math
import os
import sys
import warnings

import h5py
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 20240611
N_IMAGES = 7
SUPPORTED_OPS = {"Conv", "BatchNormalization", "Relu", "MaxPool", "AveragePool",
                 "GlobalAveragePool", "Flatten", "Reshape", "Gemm", "MatMul", "Add",
                 "Dropout", "Identity", "Softmax", "Constant"}
IR_VERSION = 8  # the newest that onnx 1.12 writes; onnxruntime reads it


def conv_out(size, k, s, p0, p1, ceil_mode=False):
    span = size + p0 + p1 - k
    if span < 0:
        raise ValueError(f"kernel {k} does not fit {size} + pads {p0},{p1}")
    q = -(-span // s) if ceil_mode else span // s
    return q + 1


class Chain:
    """A chain model under construction. Tracks the current activation's
    name and per-image shape (c, h, w), or (f,) after a flatten."""

    def __init__(self, name, opset, chw, rng, output="logits"):
        self.name = name
        self.opset = opset
        self.chw = tuple(chw)
        self.rng = rng
        self.output = output
        self.nodes = []
        self.inits = []
        self.cur = "input"
        self.shape = tuple(chw)
        self.ops = []
        self.count = {}

    # -- helpers
    def _uid(self, prefix):
        k = self.count.get(prefix, 0)
        self.count[prefix] = k + 1
        return f"{prefix}{k}"

    def _tensor(self, base, arr, as_constant=False, via_identity=False):
        """Adds arr as an initializer (or a Constant node) named after base;
        via_identity: as torch.onnx.export does for duplicate initializers,
        the initializer is passed on by an Identity node named base."""
        name = base
        if via_identity:
            self.inits.append(numpy_helper.from_array(arr, f"{base}_src"))
            self.nodes.append(helper.make_node("Identity", [f"{base}_src"], [name],
                                               name=f"{base}_identity"))
            self.ops.append("Identity")
        elif as_constant:
            self.nodes.append(helper.make_node(
                "Constant", [], [name], name=f"{base}_const",
                value=numpy_helper.from_array(arr, name)))
            self.ops.append("Constant")
        else:
            self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def _node(self, op, inputs, name, **attrs):
        out = f"{name}_out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        self.cur = out
        self.ops.append(op)
        return out

    def _normal(self, shape, std):
        return (self.rng.standard_normal(shape) * std).astype(np.float32)

    # -- layers
    def conv(self, cout, k, strides=(1, 1), pads=(0, 0, 0, 0), bias=True,
             auto_pad=None, as_constant=False, name=None, bias_identity=False):
        c, h, w = self.shape
        kh, kw = (k, k) if isinstance(k, int) else k
        name = name or self._uid("conv")
        wt = self._normal((cout, c, kh, kw), math.sqrt(2.0 / (c * kh * kw)))
        inputs = [self.cur, self._tensor(f"{name}.weight", wt, as_constant)]
        if bias:
            inputs.append(self._tensor(f"{name}.bias", self._normal((cout,), 0.1), as_constant,
                                       via_identity=bias_identity))
        attrs = {"kernel_shape": [kh, kw], "strides": list(strides)}
        if auto_pad:
            if tuple(strides) != (1, 1):
                raise ValueError("this corpus uses SAME_* with stride 1 only")
            attrs["auto_pad"] = auto_pad
            oh, ow = h, w
        else:
            attrs["pads"] = list(pads)
            oh = conv_out(h, kh, strides[0], pads[0], pads[2])
            ow = conv_out(w, kw, strides[1], pads[1], pads[3])
        self._node("Conv", inputs, name, **attrs)
        self.shape = (cout, oh, ow)
        return self

    def batchnorm(self, epsilon=None, name=None):
        c = self.shape[0]
        name = name or self._uid("bn")
        gamma = self.rng.uniform(0.5, 1.5, c).astype(np.float32)
        beta = self._normal((c,), 0.1)
        mean = self._normal((c,), 0.1)
        var = self.rng.uniform(0.5, 2.0, c).astype(np.float32)
        ins = [self.cur] + [self._tensor(f"{name}.{p}", a) for p, a in
                            (("scale", gamma), ("B", beta), ("mean", mean), ("var", var))]
        attrs = {} if epsilon is None else {"epsilon": float(epsilon)}
        self._node("BatchNormalization", ins, name, **attrs)
        return self

    def relu(self):
        self._node("Relu", [self.cur], self._uid("relu"))
        return self

    def _pool(self, op, k, strides, pads, ceil_mode, extra):
        c, h, w = self.shape
        kh, kw = (k, k) if isinstance(k, int) else k
        attrs = {"kernel_shape": [kh, kw], "strides": list(strides), "pads": list(pads)}
        if ceil_mode:
            if self.opset < 10:
                raise ValueError("ceil_mode needs opset >= 10")
            attrs["ceil_mode"] = 1
        attrs.update(extra)
        oh = conv_out(h, kh, strides[0], pads[0], pads[2], ceil_mode)
        ow = conv_out(w, kw, strides[1], pads[1], pads[3], ceil_mode)
        # A ceil_mode window that starts in the bottom/right padding is treated
        # differently by different runtimes (and ONNX opsets): keep clear.
        for size, o, s, p0 in ((h, oh, strides[0], pads[0]), (w, ow, strides[1], pads[1])):
            if (o - 1) * s >= size + p0:
                raise ValueError("ceil_mode window starting in the padding")
        self._node(op, [self.cur], self._uid(op.lower()), **attrs)
        self.shape = (c, oh, ow)
        return self

    def maxpool(self, k, strides, pads=(0, 0, 0, 0), ceil_mode=False):
        return self._pool("MaxPool", k, strides, pads, ceil_mode, {})

    def avgpool(self, k, strides, pads=(0, 0, 0, 0), count_include_pad=0, ceil_mode=False):
        return self._pool("AveragePool", k, strides, pads, ceil_mode,
                          {"count_include_pad": int(count_include_pad)})

    def global_avgpool(self):
        self._node("GlobalAveragePool", [self.cur], self._uid("gap"))
        self.shape = (self.shape[0], 1, 1)
        return self

    def flatten(self):
        self._node("Flatten", [self.cur], self._uid("flatten"), axis=1)
        self.shape = (int(np.prod(self.shape)),)
        return self

    def reshape(self, target, as_constant=False):
        f = int(np.prod(self.shape))
        name = self._uid("reshape")
        shp = [f if t == "F" else t for t in target]
        s = self._tensor(f"{name}.shape", np.array(shp, dtype=np.int64), as_constant)
        self._node("Reshape", [self.cur, s], name)
        self.shape = (f,)
        return self

    def gemm(self, out, trans_b=1, alpha=None, beta=None, bias="vector", name=None):
        (f,) = self.shape
        name = name or self._uid("gemm")
        wt = self._normal((out, f) if trans_b else (f, out), math.sqrt(2.0 / f))
        ins = [self.cur, self._tensor(f"{name}.weight", wt)]
        if bias == "vector":
            ins.append(self._tensor(f"{name}.bias", self._normal((out,), 0.1)))
        elif bias == "row":
            ins.append(self._tensor(f"{name}.bias", self._normal((1, out), 0.1)))
        elif bias is not None:
            raise ValueError(bias)
        attrs = {"transB": int(trans_b)}
        if alpha is not None:
            attrs["alpha"] = float(alpha)
        if beta is not None:
            attrs["beta"] = float(beta)
        self._node("Gemm", ins, name, **attrs)
        self.shape = (out,)
        return self

    def matmul_add(self, out, const_first=False):
        (f,) = self.shape
        mm = self._uid("matmul")
        wt = self._normal((f, out), math.sqrt(2.0 / f))
        self._node("MatMul", [self.cur, self._tensor(f"{mm}.weight", wt)], mm)
        add = self._uid("add")
        b = self._tensor(f"{add}.bias", self._normal((out,), 0.1))
        self._node("Add", [b, self.cur] if const_first else [self.cur, b], add)
        self.shape = (out,)
        return self

    def dropout(self, ratio=0.3):
        name = self._uid("dropout")
        if self.opset < 12:
            self._node("Dropout", [self.cur], name, ratio=float(ratio))
        else:
            r = self._tensor(f"{name}.ratio", np.array(ratio, dtype=np.float32))
            self._node("Dropout", [self.cur, r], name)
        return self

    def identity(self):
        self._node("Identity", [self.cur], self._uid("identity"))
        return self

    def softmax(self, axis=None):
        attrs = {} if axis is None else {"axis": int(axis)}
        self._node("Softmax", [self.cur], self._uid("softmax"), **attrs)
        return self

    # -- result
    def model(self, check=True, input_type=TensorProto.FLOAT, opset=None,
              extra_outputs=()):
        # The last node's output takes the graph output's name.
        last = self.nodes[-1]
        old = last.output[0]
        last.output[0] = self.output
        for n in self.nodes:
            for i, x in enumerate(n.input):
                if x == old:
                    n.input[i] = self.output
        self.cur = self.output
        inp = helper.make_tensor_value_info("input", input_type, ["N", *self.chw])
        outs = [helper.make_tensor_value_info(self.output, TensorProto.FLOAT,
                                              ["N", *self.shape])]
        outs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", *s])
                 for n, s in extra_outputs]
        g = helper.make_graph(self.nodes, self.name, [inp], outs, self.inits)
        m = helper.make_model(g, producer_name="lrcompress-tests",
                              opset_imports=[helper.make_opsetid("", opset or self.opset)])
        m.ir_version = IR_VERSION
        if check:
            onnx.checker.check_model(m, full_check=True)
        return m


# ---------------------------------------------------------------------- good models
def good_models(rng):
    """(name, Chain) for every good model; each Chain ends with [N, K]."""
    G = []

    def add(name, opset, chw):
        c = Chain(name, opset, chw, rng)
        G.append((name, c))
        return c

    # Kernel sizes 1/3/5/7, pads 0/1/2/asymmetric, strides 1/2, odd shapes.
    add("conv_k1_s1_p0_c3", 13, (3, 19, 23)).conv(6, 1).relu().flatten().gemm(10, trans_b=1)
    add("conv_k3_s2_p1_c1", 11, (1, 28, 28)).conv(4, 3, (2, 2), (1, 1, 1, 1)).relu() \
        .maxpool(2, (2, 2)).flatten().gemm(10)
    add("conv_k5_p2_nobias_c5", 13, (5, 17, 13)).conv(7, 5, pads=(2, 2, 2, 2), bias=False).relu() \
        .global_avgpool().flatten().gemm(10, trans_b=0, alpha=0.7, beta=1.3)
    add("conv_k7_p0_maxpool_ceil", 17, (3, 31, 29)).conv(4, 7).relu() \
        .maxpool(3, (2, 2), pads=(1, 1, 1, 1), ceil_mode=True).flatten().gemm(10)
    add("conv_k7_s2_p3_c1", 11, (1, 23, 19)).conv(5, 7, (2, 2), (3, 3, 3, 3)).relu() \
        .conv(6, 3, (2, 2), (0, 0, 0, 0)).relu().flatten().gemm(10)
    add("conv_bias_identity", 13, (3, 12, 12)).conv(4, 3, pads=(1, 1, 1, 1), bias_identity=True) \
        .relu().conv(5, 3, bias_identity=True).relu().flatten().gemm(10)
    add("conv_asym_pads", 13, (1, 19, 23)).conv(3, 3, pads=(0, 1, 2, 1)).relu() \
        .conv(4, 5, (2, 1), pads=(2, 0, 1, 2)).relu().flatten().gemm(10)
    add("conv_rect_kernel", 13, (3, 15, 21)).conv(4, (1, 3), (2, 1), (0, 1, 0, 1)).relu() \
        .conv(4, (3, 1), (1, 2), (1, 0, 1, 0)).relu() \
        .maxpool((2, 3), (2, 1)).flatten().gemm(10)
    # Pooling variants.
    add("maxpool_pads_c1", 11, (1, 19, 23)).conv(4, 3, pads=(1, 1, 1, 1)).relu() \
        .maxpool(3, (1, 1), pads=(1, 1, 1, 1)).maxpool(3, (2, 2), pads=(0, 1, 1, 0)) \
        .flatten().gemm(10)
    add("maxpool_ceil_k2", 13, (3, 25, 24)).conv(4, 3, pads=(1, 1, 1, 1)).relu() \
        .maxpool(2, (2, 2), ceil_mode=True).flatten().gemm(10)
    add("avgpool_exclude_pad", 13, (3, 19, 23)).conv(5, 3).relu() \
        .avgpool(3, (2, 2), pads=(1, 1, 1, 1), count_include_pad=0).flatten().gemm(10)
    add("avgpool_include_pad", 11, (3, 19, 23)).conv(5, 3, pads=(1, 1, 1, 1)).relu() \
        .avgpool(3, (2, 2), pads=(1, 0, 1, 2), count_include_pad=1).flatten().gemm(10)
    add("avgpool_ceil_exclude", 17, (1, 20, 17)).conv(3, 3).relu() \
        .avgpool(2, (2, 2), count_include_pad=0, ceil_mode=True).flatten().gemm(10)
    add("avgpool_k2_nopad", 9, (3, 16, 16)).conv(4, 3, pads=(1, 1, 1, 1)).relu() \
        .avgpool(2, (2, 2), count_include_pad=1).flatten().gemm(10)
    add("global_avgpool_c5", 17, (5, 9, 11)).conv(16, 3, pads=(1, 1, 1, 1)).relu() \
        .global_avgpool().flatten().gemm(10, trans_b=1)
    # BatchNormalization folded into the Conv before it.
    add("conv_bn_relu", 13, (3, 16, 20)).conv(8, 3, pads=(1, 1, 1, 1), bias=False).batchnorm() \
        .relu().conv(8, 3, pads=(1, 1, 1, 1)).batchnorm(epsilon=1e-3).relu() \
        .maxpool(2, (2, 2)).flatten().gemm(10)
    add("conv_bn_opset9", 9, (1, 28, 28)).conv(6, 5, (2, 2), (2, 2, 2, 2)).batchnorm().relu() \
        .maxpool(2, (2, 2)).flatten().gemm(10).dropout(0.5).softmax()
    # Flatten by Reshape with a constant shape.
    add("reshape_minus1_f", 13, (3, 12, 10)).conv(4, 3, (2, 2), (1, 1, 1, 1)).relu() \
        .reshape([-1, "F"]).gemm(10)
    add("reshape_zero_minus1", 11, (1, 14, 18)).conv(4, 3).relu() \
        .reshape([0, -1]).gemm(10, trans_b=0)
    add("reshape_opset9", 9, (3, 11, 13)).conv(3, 3).relu().reshape([0, -1]).gemm(10)
    # Gemm forms and MatMul + Add.
    add("gemm_alpha_beta_transb1", 13, (1, 8, 8)).flatten() \
        .gemm(32, trans_b=1, alpha=1.5, beta=0.25).relu().gemm(10, trans_b=1, alpha=0.5, beta=2.0)
    add("gemm_no_bias_row_bias", 11, (3, 7, 9)).conv(4, 3).relu().flatten() \
        .gemm(16, trans_b=0, bias=None).relu().gemm(10, bias="row")
    add("matmul_add", 13, (3, 13, 11)).conv(4, 3, (2, 2)).relu().flatten() \
        .matmul_add(24).relu().matmul_add(10, const_first=True)
    add("matmul_add_softmax_op17", 17, (1, 10, 10)).flatten().matmul_add(20).relu() \
        .matmul_add(10).softmax(axis=-1)
    # Dropout and Identity (no-ops at inference) in each opset's form.
    add("dropout_identity_op11", 11, (3, 9, 9)).conv(4, 3).relu().dropout(0.25).identity() \
        .flatten().gemm(12).dropout(0.5).relu().gemm(10).identity()
    add("dropout_identity_op13", 13, (1, 9, 12)).conv(4, 3, pads=(1, 1, 1, 1)).identity().relu() \
        .dropout(0.3).flatten().gemm(10)
    # Softmax at the end.
    add("softmax_op11", 11, (3, 12, 12)).conv(4, 3).relu().flatten().gemm(10).softmax(axis=1)
    add("softmax_op13_default_axis", 13, (1, 12, 12)).conv(4, 3).relu().flatten().gemm(10).softmax()
    # Weights given as Constant nodes.
    add("constant_weights", 13, (3, 10, 11)).conv(4, 3, pads=(1, 1, 1, 1), as_constant=True) \
        .relu().reshape([0, -1], as_constant=True).gemm(10)
    # A kernel as large as its input (1x1 output), then a 1x1 conv on it.
    add("conv_kernel_equals_input", 11, (3, 5, 7)).conv(8, (5, 7)).relu().conv(6, 1) \
        .flatten().gemm(10)
    # SAME_UPPER with stride 1: odd kernels (symmetric) and an even one
    # (one more pad at the bottom/right).
    add("same_upper_k3_k4", 13, (3, 13, 17)).conv(4, 3, auto_pad="SAME_UPPER").relu() \
        .conv(5, 4, auto_pad="SAME_UPPER").relu().conv(3, 5, auto_pad="SAME_UPPER").relu() \
        .flatten().gemm(10)
    add("same_upper_op17_c1", 17, (1, 11, 8)).conv(3, 3, auto_pad="SAME_UPPER").relu() \
        .maxpool(2, (2, 2)).flatten().gemm(10)
    # A small VGG shaped like the reference model.
    add("mini_vgg_28", 13, (1, 28, 28)).conv(8, 3, pads=(1, 1, 1, 1)).relu() \
        .conv(8, 3, pads=(1, 1, 1, 1)).relu().maxpool(2, (2, 2)) \
        .conv(16, 3, pads=(1, 1, 1, 1)).relu().maxpool(2, (2, 2)) \
        .conv(16, 3, pads=(1, 1, 1, 1)).relu().maxpool(2, (2, 2)) \
        .flatten().gemm(32).relu().dropout(0.3).gemm(10)
    # Large logits, to exercise the relative part of the tolerance.
    big = add("large_values", 13, (3, 16, 16)).conv(16, 5, pads=(2, 2, 2, 2)).relu() \
        .conv(16, 5, pads=(2, 2, 2, 2)).relu().flatten().gemm(10)
    for t in big.inits:
        if t.name.endswith(".weight"):
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t) * np.float32(8.0), t.name))
    # Softmax of logits in the thousands: a naive exp() overflows.
    big = add("softmax_large_logits", 13, (1, 12, 12)).conv(8, 3).relu().flatten().gemm(10)
    big.softmax(axis=1)
    for t in big.inits:
        if t.name.endswith(".weight"):
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t) * np.float32(30.0), t.name))
    return G


# ----------------------------------------------------------------------- bad models
def bad_models(rng, outdir, good_path):
    """Writes the bad models; returns their manifest entries."""
    B = []

    def save(name, model_or_bytes, expect, why, chw=(3, 12, 12)):
        path = os.path.join(outdir, f"{name}.onnx")
        data = model_or_bytes if isinstance(model_or_bytes, bytes) \
            else model_or_bytes.SerializeToString()
        with open(path, "wb") as f:
            f.write(data)
        # Data of the model's input shape, so that `eval` fails on the model
        # and not on a shape mismatch with the data.
        h5 = "data_{}x{}x{}.h5".format(*chw)
        if not os.path.exists(os.path.join(outdir, h5)):
            write_h5(os.path.join(outdir, h5),
                     rng.standard_normal((N_IMAGES, *chw)).astype(np.float32))
        B.append({"name": name, "file": f"{name}.onnx", "h5": h5, "chw": list(chw),
                  "expect": expect, "why": why})

    def chain(name, opset=13, chw=(3, 12, 12)):
        return Chain(name, opset, chw, rng)

    with open(good_path, "rb") as f:
        whole = f.read()
    half = whole[: len(whole) // 2]
    if _parses(half):
        raise RuntimeError("the truncated model still parses; pick another cut")
    save("bad_truncated", half, ["onnx"], "the first half of a good model", (1, 28, 28))
    # 'G' (0x47) reads as field 8 with wire type 7, which does not exist.
    garbage = b"GARBAGE, not an ONNX model\n" + rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    if _parses(garbage):
        raise RuntimeError("the garbage parses as a model")
    save("bad_garbage", garbage, ["onnx"], "text and random bytes", (1, 28, 28))
    save("bad_empty", b"", ["empty"], "a zero-byte file", (1, 28, 28))

    c = chain("bad_leaky_relu").conv(4, 3)
    c._node("LeakyRelu", [c.cur], "act_leaky", alpha=0.1)
    save("bad_unknown_op", c.flatten().gemm(10).model(), ["LeakyRelu"], "an op outside the supported set")

    c = chain("bad_branch").conv(4, 3, pads=(1, 1, 1, 1)).relu()
    skip = c.cur
    c.conv(4, 3, pads=(1, 1, 1, 1)).relu()
    c._node("Add", [c.cur, skip], "residual_add")
    save("bad_branch", c.flatten().gemm(10).model(), ["branch"], "a residual Add of two activations")

    c = chain("bad_group", chw=(4, 12, 12))
    wt = c._normal((4, 2, 3, 3), 0.3)  # two groups of 2 input channels
    c._node("Conv", ["input", c._tensor("conv_grouped.weight", wt)], "conv_grouped",
            kernel_shape=[3, 3], group=2)
    c.shape = (4, 10, 10)
    save("bad_group", c.flatten().gemm(10).model(), ["conv_grouped", "group"], "Conv with group=2",
         (4, 12, 12))

    c = chain("bad_dilation")
    wt = c._normal((4, 3, 3, 3), 0.3)
    c._node("Conv", ["input", c._tensor("conv_dilated.weight", wt)], "conv_dilated",
            kernel_shape=[3, 3], dilations=[2, 2])
    c.shape = (4, 8, 8)
    save("bad_dilation", c.flatten().gemm(10).model(), ["conv_dilated", "dilation"],
         "Conv with dilations 2")

    c = chain("bad_gemm_features").conv(4, 3).relu().flatten()
    c.shape = (c.shape[0] + 5,)  # the Gemm's weights expect 5 features too many
    save("bad_gemm_features", c.gemm(10, name="fc_mismatch").model(check=False),
         ["fc_mismatch", "Gemm"], "Gemm in-features 405 after a flatten of 400")

    c = chain("bad_conv_channels")
    c.shape = (5, 12, 12)  # the weights say 5 input channels, the input has 3
    c.conv(4, 3, name="conv_mismatch")
    save("bad_conv_channels", c.flatten().gemm(10).model(check=False),
         ["conv_mismatch", "channel"], "Conv weights for 5 channels on a 3-channel input")

    c = chain("bad_nan").conv(4, 3, name="conv_bad_weight")
    for t in c.inits:
        if t.name == "conv_bad_weight.weight":
            a = numpy_helper.to_array(t).copy()
            a[1, 2, 0, 1] = np.nan
            t.CopyFrom(numpy_helper.from_array(a, t.name))
    save("bad_nan_weight", c.relu().flatten().gemm(10).model(), ["conv_bad_weight", "nan"],
         "one NaN in a conv weight")

    c = chain("bad_int64").conv(4, 3, name="conv_int_weight")
    for t in c.inits:
        if t.name == "conv_int_weight.weight":
            a = np.round(numpy_helper.to_array(t) * 10).astype(np.int64)
            t.CopyFrom(numpy_helper.from_array(a, t.name))
    save("bad_int64_weight", c.relu().flatten().gemm(10).model(check=False),
         ["conv_int_weight", "float"], "an int64 conv weight initializer")

    c = chain("bad_double_input").conv(4, 3).relu().flatten().gemm(10)
    save("bad_double_input", c.model(check=False, input_type=TensorProto.DOUBLE),
         ["float"], "graph input of type double")

    c = chain("bad_opset18").conv(4, 3).relu().flatten().gemm(10)
    save("bad_opset18", c.model(check=False, opset=18), ["opset", "18"], "opset 18")

    c = chain("bad_missing_init")
    c._node("Conv", ["input", "W_missing"], "conv_no_weight", kernel_shape=[3, 3])
    c.shape = (4, 10, 10)
    save("bad_missing_initializer", c.flatten().gemm(10).model(check=False),
         ["W_missing"], "Conv weight named but defined nowhere")

    c = chain("bad_two_outputs").conv(4, 3).relu()
    mid = (c.cur, c.shape)
    c.flatten().gemm(10)
    save("bad_two_outputs", c.model(extra_outputs=[mid]), ["output"],
         "the graph has two outputs")
    return B


def write_h5(path, x):
    """An h5: data set: float32 images in pixel units and int32 zero labels."""
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=x)
        f.create_dataset("labels", data=np.zeros(x.shape[0], dtype=np.int32))


def _parses(data):
    """True when protobuf decodes data as a ModelProto without complaint."""
    m = onnx.ModelProto()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            m.ParseFromString(data)
        except Exception:  # DecodeError, or a RuntimeWarning about stray data
            return False
    return True


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: gen_onnx_models.py OUTDIR")
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(SEED)
    manifest = {"seed": SEED, "images": N_IMAGES, "good": [], "bad": []}
    for name, chain in good_models(rng):
        model = chain.model()
        onnx.save(model, os.path.join(outdir, f"{name}.onnx"))
        x = rng.standard_normal((N_IMAGES, *chain.chw)).astype(np.float32)
        x.astype("<f4").tofile(os.path.join(outdir, f"{name}.in.bin"))
        write_h5(os.path.join(outdir, f"{name}.h5"), x)
        manifest["good"].append({
            "name": name, "file": f"{name}.onnx", "in_bin": f"{name}.in.bin",
            "h5": f"{name}.h5", "opset": chain.opset, "chw": list(chain.chw),
            "n": N_IMAGES, "k": int(chain.shape[0]),
            "ops": sorted(set(chain.ops))})
    # The corpus must keep covering every supported op and opset.
    ops = set().union(*(g["ops"] for g in manifest["good"]))
    missing = SUPPORTED_OPS - ops
    opsets = {g["opset"] for g in manifest["good"]}
    if missing or opsets != {9, 11, 13, 17}:
        raise RuntimeError(f"corpus lost coverage: ops {sorted(missing)}, opsets {sorted(opsets)}")
    good_path = os.path.join(outdir, "mini_vgg_28.onnx")
    manifest["bad"] = bad_models(rng, outdir, good_path)
    with open(os.path.join(outdir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"{len(manifest['good'])} good and {len(manifest['bad'])} bad models in {outdir}")


if __name__ == "__main__":
    main()
