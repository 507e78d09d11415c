#!/usr/bin/python3
"""e2e_reference_ort: the reference model on the first 1,000 Fashion-MNIST
test images, lrcompress against onnxruntime, with no shared code on the way:
ORT (ort_run.mjs --idx) reads and decompresses the IDX file with node's
zlib and normalises with the lrc.mean/lrc.std that python onnx reads from
the model's metadata; lrcompress reads the file with its own reader and
takes the normalisation from the metadata by default.

    /usr/bin/python3 tests/e2e/test_reference_ort.py LRCOMPRESS
        [--model models/fashion_vgg.onnx] [--limit 1000] [--mean M --std S]

Asserts: one result line with images=LIMIT; saved labels equal the IDX
labels (read here with gzip); logits within 1e-4 of ORT's (absolute up to
1, relative to the row's largest logit above); printed top1/top5 follow from the saved logits.
Then the same images given as `idx:IMAGES.gz,LABELS.gz` and as an `h5:` file
of uint8 pixels must print the same line and save bitwise-equal logits.
Last, `eval --backend onednn`: in a build with the oneDNN backend, its
logits are within the same 1e-4 of ORT's; in a build without it, the
command fails with a message that names the CMake option, and writes no
logits file.
"""
import argparse
import gzip
import os

import numpy as np

from e2e_common import (FASHION_DIR, REF_MODEL, TempDir, check, check_printed_accuracy,
                        compare, describe, log, main_wrapper, model_norm, ort_run,
                        parse_result, read_saved, require_ort, run)

ATOL = 1e-4


def idx_labels(path, n):
    with gzip.open(path, "rb") as f:
        buf = f.read()
    check(int.from_bytes(buf[:4], "big") == 2049, f"{path}: not an IDX label file")
    return np.frombuffer(buf[8:8 + n], dtype=np.uint8).astype(np.int64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lrcompress")
    ap.add_argument("--model", default=REF_MODEL)
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--mean")
    ap.add_argument("--std")
    args = ap.parse_args()
    check(os.path.isfile(args.model), f"{args.model} is missing: the reference model "
          "comes from models/train_fashion_vgg.py")
    require_ort()
    images = os.path.join(FASHION_DIR, "t10k-images-idx3-ubyte.gz")
    labels = os.path.join(FASHION_DIR, "t10k-labels-idx1-ubyte.gz")
    check(os.path.isfile(images), f"{images} is missing: apt-get install dataset-fashion-mnist")
    if args.mean is not None:
        mean, std, norm_args = args.mean, args.std, ["--mean", args.mean, "--std", args.std]
    else:
        (mean, std), norm_args = model_norm(args.model), []
    log(f"normalisation mean={mean} std={std}")

    with TempDir("e2e_reference_ort.") as d:
        ort_out = os.path.join(d, "ort.bin")
        p = ort_run([args.model, "--idx", images, str(args.limit), "--mean", mean,
                     "--std", std, ort_out], "ORT")
        log(f"ORT: {p.stdout.strip()} ({p.seconds:.1f} s)")
        saved = os.path.join(d, "lrc.h5")
        p = run([args.lrcompress, "eval", args.model, "--data", "fashion-mnist:test",
                 "--limit", str(args.limit), "--save-logits", saved, *norm_args], timeout=900)
        check(p.returncode == 0, f"eval failed:\n{describe(p)}")
        log(f"lrcompress: {p.stdout.strip()} ({p.seconds:.1f} s)")
        top1, top5, n = parse_result(p, "eval")
        check(n == args.limit, f"eval reports images={n}, expected {args.limit}")
        logits, lab = read_saved(saved, "eval")
        want = idx_labels(labels, args.limit)
        check(np.array_equal(lab.astype(np.int64), want),
              f"saved labels differ from {labels} in {int(np.sum(lab != want))} places")
        check_printed_accuracy(top1, top5, logits, lab, "eval")
        summary = compare(saved, ort_out, ["--shape-k", str(logits.shape[1]),
                                           "--atol", str(ATOL)], "lrcompress vs ORT")
        log(f"lrcompress vs ORT: {summary}")

        # The same images through the other data specs give the same logits,
        # bit for bit: idx: on the same files, and h5: with uint8 pixels.
        h5_data = os.path.join(d, "test_u8.h5")
        with gzip.open(images, "rb") as f:
            px = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
        import h5py
        with h5py.File(h5_data, "w") as f:
            f.create_dataset("images", data=px[: args.limit * 784].reshape(-1, 1, 28, 28))
            f.create_dataset("labels", data=want.astype(np.int32))
        for spec in (f"idx:{images},{labels}", f"h5:{h5_data}"):
            other = os.path.join(d, "other.h5")
            p2 = run([args.lrcompress, "eval", args.model, "--data", spec, "--limit",
                      str(args.limit), "--save-logits", other, *norm_args], timeout=900)
            check(p2.returncode == 0, f"eval --data {spec} failed:\n{describe(p2)}")
            check(p2.stdout.strip() == p.stdout.strip(),
                  f"--data {spec} printed '{p2.stdout.strip()}', fashion-mnist:test "
                  f"printed '{p.stdout.strip()}'")
            lg2, lb2 = read_saved(other, spec)
            check(np.array_equal(lb2, lab), f"--data {spec}: labels differ")
            check(lg2.tobytes() == logits.tobytes(),
                  f"--data {spec}: logits differ from fashion-mnist:test's "
                  f"(max abs diff {np.abs(lg2.astype(np.float64) - logits).max():.3e})")
            log(f"--data {spec.split(':')[0]}: same result line and bitwise-equal logits")

        # Batches of 1 and 8 images: the dense layers read the rows of W^T
        # of their nonzero inputs (lrc_fw_dense) instead of running sgemm.
        for b in (1, 8):
            few = os.path.join(d, f"batch{b}.h5")
            p4 = run([args.lrcompress, "eval", args.model, "--data", "fashion-mnist:test",
                      "--limit", str(args.limit), "--batch", str(b), "--save-logits", few,
                      *norm_args], timeout=900)
            check(p4.returncode == 0, f"eval --batch {b} failed:\n{describe(p4)}")
            summary = compare(few, ort_out, ["--shape-k", str(logits.shape[1]),
                                             "--atol", str(ATOL)], f"batch {b} vs ORT")
            log(f"--batch {b} vs ORT: {summary}")

        # The oneDNN backend against the same independent reference.
        dn = os.path.join(d, "onednn.h5")
        p3 = run([args.lrcompress, "eval", args.model, "--data", "fashion-mnist:test",
                  "--limit", str(args.limit), "--save-logits", dn, "--backend", "onednn",
                  *norm_args], timeout=900)
        if p3.returncode != 0:
            check("LRC_WITH_DNNL" in p3.stderr,
                  f"eval --backend onednn failed without naming LRC_WITH_DNNL:\n{describe(p3)}")
            check(not os.path.exists(dn), "a failed eval --backend onednn left a logits file")
            log("--backend onednn: this build has no oneDNN backend, refused with a message")
        else:
            lg3, lb3 = read_saved(dn, "onednn")
            check(np.array_equal(lb3, lab), "--backend onednn: labels differ")
            top1_3, top5_3, _ = parse_result(p3, "eval --backend onednn")
            check_printed_accuracy(top1_3, top5_3, lg3, lb3, "onednn")
            summary = compare(dn, ort_out, ["--shape-k", str(logits.shape[1]),
                                            "--atol", str(ATOL)], "oneDNN backend vs ORT")
            log(f"--backend onednn vs ORT: {summary}; printed '{p3.stdout.strip()}'")


if __name__ == "__main__":
    main_wrapper(main)
