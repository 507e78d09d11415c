#!/usr/bin/python3
"""Writes the seed corpora of the fuzz harnesses into OUTDIR/{onnx,idx,
config,imagelist}/: valid inputs and near-misses, all generated (no binary
files in the repository).

    make_seeds.py SOURCE_DIR OUTDIR
"""
import glob
import io
import os
import shutil
import struct
import subprocess
import sys

import numpy as np


def main():
    src, out = sys.argv[1], sys.argv[2]
    for d in ("onnx", "idx", "config", "imagelist"):
        shutil.rmtree(os.path.join(out, d), ignore_errors=True)
        os.makedirs(os.path.join(out, d))
    # ONNX: the test corpus's good and bad models (small ones)
    corpus = os.path.join(out, "onnx_corpus")
    shutil.rmtree(corpus, ignore_errors=True)
    subprocess.run(["/usr/bin/python3", os.path.join(src, "tests", "tools", "gen_onnx_models.py"),
                    corpus], check=True, capture_output=True)
    k = 0
    for p in sorted(glob.glob(os.path.join(corpus, "**", "*.onnx"), recursive=True)):
        if os.path.getsize(p) < 200_000:
            shutil.copy(p, os.path.join(out, "onnx", f"seed{k:03d}.onnx"))
            k += 1
    shutil.rmtree(corpus)
    # regressions found by fuzzing: a node without op_type, no names at all
    import onnx
    from onnx import helper
    g = helper.make_graph([onnx.NodeProto(input=["x"], output=["y"])], "g",
                          [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 2, 2])],
                          [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 1, 2, 2])])
    with open(os.path.join(out, "onnx", "no_op_type.onnx"), "wb") as f:
        f.write(helper.make_model(g).SerializeToString())
    with open(os.path.join(out, "onnx", "nameless.onnx"), "wb") as f:
        f.write(onnx.ModelProto(graph=onnx.GraphProto(node=[onnx.NodeProto()],
                                                       input=[onnx.ValueInfoProto()])).SerializeToString())
    # IDX: [2-byte image length][images][labels], valid and near-miss
    rng = np.random.RandomState(5)
    for i, (n, h, w) in enumerate([(3, 4, 4), (1, 28, 28), (2, 1, 5), (0, 2, 2)]):
        img = struct.pack(">IIII", 0x803, n, h, w) + rng.randint(0, 256, n * h * w).astype(np.uint8).tobytes()
        lab = struct.pack(">II", 0x801, n) + rng.randint(0, 10, n).astype(np.uint8).tobytes()
        for j, (a, b) in enumerate([(img, lab), (img[:-1], lab), (img, lab[:6])]):
            with open(os.path.join(out, "idx", f"seed{i}{j}.bin"), "wb") as f:
                f.write(struct.pack("<H", len(a)) + a + b)
    # configs: the shipped ones and a few broken variants
    for p in sorted(glob.glob(os.path.join(src, "configs", "*.yaml"))):
        shutil.copy(p, os.path.join(out, "config"))
    base = open(os.path.join(src, "configs", "default.yaml")).read()
    open(os.path.join(out, "config", "empty.yaml"), "w").close()  # a fuzzing regression
    for i, extra in enumerate(["speedup: -1\n", "nonlinear: {iters_small: x}\n",
                               "unknown_key: 3\n", "ranks: [1, 2, 3]\nlayers: [a, b]\n",
                               "memory_limit_mb: 100\nscratch_dir: /tmp\n"]):
        with open(os.path.join(out, "config", f"variant{i}.yaml"), "w") as f:
            f.write(base + extra)
    # images: small JPEGs (RGB, gray, progressive) and PNGs (RGB, gray, palette)
    from PIL import Image
    px = rng.randint(0, 256, (24, 30, 3)).astype(np.uint8)
    ims = {"rgb": Image.fromarray(px), "gray": Image.fromarray(px[:, :, 0]),
           "pal": Image.fromarray(px).convert("P")}
    k = 0
    for name, im in ims.items():
        for fmt, kw in [("JPEG", {"quality": 80}), ("JPEG", {"progressive": True}), ("PNG", {})]:
            if fmt == "JPEG" and name == "pal":
                continue
            b = io.BytesIO()
            im.save(b, fmt, **kw)
            with open(os.path.join(out, "imagelist", f"seed{k:02d}"), "wb") as f:
                f.write(b.getvalue())
            k += 1


if __name__ == "__main__":
    main()
