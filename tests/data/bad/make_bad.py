#!/usr/bin/python3
"""Writes the bad-input corpus into OUTDIR and OUTDIR/manifest.json: IDX and
HDF5 data sets and YAML configs that are wrong in one way each, plus the bad
ONNX models of tests/tools/gen_onnx_models.py. Each manifest entry names
the file, the lrcompress command that reads it ("data", "run", "inspect")
and a text the one-line error must contain. Generated, never committed.

    make_bad.py SOURCE_DIR OUTDIR
"""
import gzip
import json
import os
import struct
import subprocess
import sys

import h5py
import numpy as np


def idx(path, magic, dims, payload, gz=True):
    data = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    rng = np.random.RandomState(9)
    px = rng.randint(0, 256, 4 * 6 * 6).astype(np.uint8).tobytes()
    entries = []

    def add(kind, spec_or_file, want, files):
        entries.append({"kind": kind, "arg": spec_or_file, "want": want, "files": files})

    # IDX: wrong magic, truncated, label count mismatch, labels out of range
    good_lab = os.path.join(out, "labels.idx.gz")
    idx(good_lab, 0x801, [4], bytes([1, 2, 3, 4]))
    cases = {
        "idx_magic": ((0x900, [4, 6, 6], px), "magic"),
        "idx_truncated": ((0x803, [4, 6, 6], px[:100]), "truncated"),
        "idx_count": ((0x803, [5, 6, 6], px + px[:36]), "4 labels"),
    }
    for name, ((magic, dims, payload), want) in cases.items():
        p = os.path.join(out, f"{name}.idx.gz")
        idx(p, magic, dims, payload)
        add("data", f"idx:{p},{good_lab}", want, [p])
    p = os.path.join(out, "idx_plain_garbage.idx")
    with open(p, "wb") as f:
        f.write(b"\x00\x01garbage")
    add("data", f"idx:{p},{good_lab}", "idx_plain_garbage.idx", [p])

    # HDF5: wrong dtype, wrong shape, missing labels, count mismatch, NaN
    def h5(name, images=None, labels=None):
        p = os.path.join(out, f"{name}.h5")
        with h5py.File(p, "w") as f:
            if images is not None:
                f["images"] = images
            if labels is not None:
                f["labels"] = labels
        return p
    ok_img = rng.randint(0, 256, (4, 1, 6, 6)).astype(np.uint8)
    lab = np.arange(4, dtype=np.int32)
    nan_img = ok_img.astype(np.float32)
    nan_img[2, 0, 1, 1] = np.nan
    for name, (img, lb, want) in {
            "h5_dtype": (ok_img.astype(np.int64), lab, "int64"),
            "h5_shape": (ok_img.reshape(4, 36), lab, "images"),
            "h5_no_labels": (ok_img, None, "labels"),
            "h5_count": (ok_img, lab[:3], "3"),
            "h5_nan": (nan_img, lab, "image 2"),
            "h5_label_range": (ok_img, np.array([0, 1, -5, 2], np.int32), "label")}.items():
        p = h5(name, img, lb)
        add("data", f"h5:{p}", want, [p])
    p = os.path.join(out, "not_hdf5.h5")
    with open(p, "w") as f:
        f.write("plain text\n")
    add("data", f"h5:{p}", "not_hdf5.h5", [p])

    # YAML: unknown key, wrong type, missing required key, out of range,
    # not YAML at all
    model = os.path.join(src, "models", "fashion_vgg.onnx")
    base = f"model: {model}\ncalibration: fashion-mnist:train\noutput: {out}/never\n"
    for name, (text, want) in {
            "yaml_unknown_key": (base + "speedupp: 4\n", "speedupp"),
            "yaml_wrong_type": (base + "images: many\n", "images"),
            "yaml_missing_key": ("calibration: fashion-mnist:train\noutput: x\n", "model"),
            "yaml_range": (base + "speedup: 0.5\n", "speedup"),
            "yaml_method": (base + "method: magic\n", "magic"),
            "yaml_garbage": ("model: [unclosed\n  - {\n", "yaml_garbage.yaml")}.items():
        p = os.path.join(out, f"{name}.yaml")
        with open(p, "w") as f:
            f.write(text)
        add("run", p, want, [p])

    # ONNX: the corpus generator's bad models
    onnx_dir = os.path.join(out, "onnx")
    subprocess.run(["/usr/bin/python3", os.path.join(src, "tests", "tools", "gen_onnx_models.py"),
                    onnx_dir], check=True, capture_output=True)
    with open(os.path.join(onnx_dir, "manifest.json")) as f:
        for b in json.load(f)["bad"]:
            p = os.path.join(onnx_dir, b["file"])
            add("inspect", p, b["file"], [p])

    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(entries, f, indent=1)
    print(f"{len(entries)} bad inputs in {out}")


if __name__ == "__main__":
    main()
