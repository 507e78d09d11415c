#!/usr/bin/python3
"""A VGG-16 with seeded random weights and random images, to size a job.

    /usr/bin/python3 jobs/vgg16-imagenet/make_synthetic.py OUT_DIR [--images N]

Writes OUT_DIR/vgg16_seeded.onnx (torchvision's VGG-16 layout: 13 3x3
convs with ReLU, 5 max-pools, Flatten, 3 fully connected layers; He-normal
weights and small random biases from seed 0; ONNX opset 13, input N x 3 x 224 x 224, 528 MiB) and
OUT_DIR/images_N.h5 (N random 3x224x224 uint8 images, random labels in
0..999, the `h5:` data format). The accuracies of such a model mean
nothing, but its shapes, so its time per image and its memory, are
VGG-16's: run the job on it with a few images to measure what a rank needs
before spending an allocation on ImageNet (docs/JOBS.md).

Needs Debian's python3-torch, python3-onnx, python3-h5py, python3-numpy.
"""
import argparse
import os
import sys

import h5py
import numpy as np

try:
    import torch
    from torch import nn
except ImportError:
    sys.exit("make_synthetic.py: error: needs python3-torch (apt-get install python3-torch)")

CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
       512, 512, 512, "M"]


def vgg16():
    layers, c = [], 3
    for v in CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            conv = nn.Conv2d(c, v, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
            # distinct biases: torch.onnx.export turns equal initializers
            # (all-zero biases) into Identity nodes, which lrcompress's
            # chain import refuses
            nn.init.normal_(conv.bias, 0, 0.01)
            layers += [conv, nn.ReLU(inplace=True)]
            c = v
    head = [nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, 1000)]
    for m in head:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.normal_(m.bias, 0, 0.01)
    return nn.Sequential(*layers, *head)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--images", type=int, default=64, help="random images (default 64)")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    torch.manual_seed(0)
    model = vgg16().eval()
    onnx_path = os.path.join(args.out_dir, "vgg16_seeded.onnx")
    with torch.no_grad():
        torch.onnx.export(model, torch.zeros(1, 3, 224, 224), onnx_path, opset_version=13,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    import onnx
    m = onnx.load(onnx_path)
    for k, v in (("lrc.mean", "123.675,116.28,103.53"), ("lrc.std", "58.395,57.12,57.375")):
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, onnx_path)
    rng = np.random.default_rng(0)
    h5_path = os.path.join(args.out_dir, f"images_{args.images}.h5")
    with h5py.File(h5_path, "w") as f:
        f["images"] = rng.integers(0, 256, (args.images, 3, 224, 224), dtype=np.uint8)
        f["labels"] = rng.integers(0, 1000, args.images, dtype=np.int32)
    print(f"{onnx_path} ({os.path.getsize(onnx_path) / 1e6:.0f} MB), {h5_path}")


if __name__ == "__main__":
    main()
