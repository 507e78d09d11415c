#!/usr/bin/python3
"""Train the lrcompress reference model: a small VGG-style CNN on Fashion-MNIST.

Run from the repository root with Debian's interpreter:

    /usr/bin/python3 models/train_fashion_vgg.py

Outputs (in --out-dir, default models/):
  fashion_vgg.onnx               BN-folded model, opset 13, input "input" [N,1,28,28],
                                 output "logits" [N,10], metadata lrc.mean / lrc.std /
                                 lrc.description
  fashion_vgg_test_logits.h5     float32 logits of the exported (folded) torch model on the
                                 10,000 test images, labels, top1/top5 attributes

Network (all convs 3x3, pad 1, stride 1; BatchNorm after each conv while training):
  conv1 1->32, conv2 32->32, maxpool 2 (28->14),
  conv3 32->64, conv4 64->64, maxpool 2 (14->7),
  conv5 64->128, conv6 128->128, maxpool 2 (7->3),
  flatten (1152), fc1 1152->256, ReLU, Dropout(0.3), fc2 256->10 (raw logits).

Input normalisation: x = (pixel - MEAN) / STD with pixel in 0..255.

Variants: --widths W1,...,W6 sets the six conv widths (default 32,32,64,64,128,128),
--fc H the hidden FC width (default 256), --name STEM the output file stem (default
fashion_vgg -> STEM.onnx, STEM_test_logits.h5); --max-minutes M stops training after
the epoch in which M minutes of training wall time are exceeded (the model is still
exported). With all four at their defaults the run is the one described above.
"""
import argparse
import gzip
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA_DIR = "/usr/share/datasets/fashion-mnist"
ALLOWED_OPS = {"Conv", "Relu", "MaxPool", "Flatten", "Gemm"}
DEFAULT_WIDTHS = (32, 32, 64, 64, 128, 128)
DEFAULT_FC = 256


# ----------------------------------------------------------------------------- data
def read_idx_images(path):
    with gzip.open(path, "rb") as f:
        buf = f.read()
    magic, n, rows, cols = np.frombuffer(buf[:16], dtype=">u4")
    assert magic == 2051, f"bad image magic in {path}: {magic}"
    return np.frombuffer(buf[16:], dtype=np.uint8).reshape(n, rows, cols)


def read_idx_labels(path):
    with gzip.open(path, "rb") as f:
        buf = f.read()
    magic, n = np.frombuffer(buf[:8], dtype=">u4")
    assert magic == 2049, f"bad label magic in {path}: {magic}"
    return np.frombuffer(buf[8:], dtype=np.uint8).copy()


def load_fashion_mnist(data_dir):
    xtr = read_idx_images(os.path.join(data_dir, "train-images-idx3-ubyte.gz"))
    ytr = read_idx_labels(os.path.join(data_dir, "train-labels-idx1-ubyte.gz"))
    xte = read_idx_images(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz"))
    yte = read_idx_labels(os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz"))
    assert xtr.shape == (60000, 28, 28) and ytr.shape == (60000,)
    assert xte.shape == (10000, 28, 28) and yte.shape == (10000,)
    return xtr, ytr, xte, yte


def normalise(x_uint8, mean, std):
    """uint8 [N,28,28] -> float32 tensor [N,1,28,28] in normalised units."""
    x = (x_uint8.astype(np.float32) - np.float32(mean)) / np.float32(std)
    return torch.from_numpy(x[:, None, :, :].copy())


def augment(xb, rng, pad=2):
    """Light augmentation on a normalised batch [B,1,28,28]:
    random horizontal flip (p=0.5) and random translation by up to `pad` pixels
    (pad with the value of a black pixel, then random 28x28 crop)."""
    b, _, h, w = xb.shape
    flip = torch.from_numpy(rng.rand(b) < 0.5)
    xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
    black = float(xb.min())  # value of pixel 0 after normalisation (images contain 0s)
    xp = F.pad(xb, (pad, pad, pad, pad), value=black)
    dy = rng.randint(0, 2 * pad + 1, size=b)
    dx = rng.randint(0, 2 * pad + 1, size=b)
    # gather crops with advanced indexing (vectorised)
    iy = torch.from_numpy((dy[:, None] + np.arange(h)[None, :]).astype(np.int64))  # [B,h]
    ix = torch.from_numpy((dx[:, None] + np.arange(w)[None, :]).astype(np.int64))  # [B,w]
    bi = torch.arange(b)[:, None, None]
    return xp[:, 0][bi, iy[:, :, None], ix[:, None, :]].unsqueeze(1).contiguous()


# ----------------------------------------------------------------------------- models
def conv_bn(cin, cout):
    return [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class FashionVGG(nn.Module):
    """Training model (with BatchNorm and Dropout)."""

    def __init__(self, widths=DEFAULT_WIDTHS, fc=DEFAULT_FC):
        super().__init__()
        w1, w2, w3, w4, w5, w6 = widths
        self.widths, self.fc = tuple(widths), fc
        self.features = nn.Sequential(
            *conv_bn(1, w1), *conv_bn(w1, w2), nn.MaxPool2d(2, 2),
            *conv_bn(w2, w3), *conv_bn(w3, w4), nn.MaxPool2d(2, 2),
            *conv_bn(w4, w5), *conv_bn(w5, w6), nn.MaxPool2d(2, 2),
        )
        self.fc1 = nn.Linear(w6 * 3 * 3, fc)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(fc, 10)

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        x = self.drop(F.relu(self.fc1(x)))
        return self.fc2(x)


class FashionVGGFolded(nn.Module):
    """Inference model: BatchNorm folded into conv weights/biases, no Dropout.
    Exports to ONNX as Conv/Relu/MaxPool/Flatten/Gemm only."""

    def __init__(self, widths=DEFAULT_WIDTHS, fc=DEFAULT_FC):
        super().__init__()
        w1, w2, w3, w4, w5, w6 = widths
        chans = [(1, w1), (w1, w2), "M", (w2, w3), (w3, w4), "M", (w4, w5), (w5, w6), "M"]
        layers = []
        for c in chans:
            if c == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c[0], c[1], 3, 1, 1, bias=True), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.fc1 = nn.Linear(w6 * 3 * 3, fc)
        self.fc2 = nn.Linear(fc, 10)

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


@torch.no_grad()
def fold_batchnorm(model):
    """Return a FashionVGGFolded with W' = W*g/sqrt(var+eps), b' = (b-mean)*g/sqrt(var+eps)+beta."""
    model.eval()
    folded = FashionVGGFolded(model.widths, model.fc)
    src = list(model.features)
    convs = [m for m in folded.features if isinstance(m, nn.Conv2d)]
    k = 0
    for i, m in enumerate(src):
        if isinstance(m, nn.Conv2d):
            bn = src[i + 1]
            assert isinstance(bn, nn.BatchNorm2d)
            w = m.weight.double()
            b = m.bias.double() if m.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
            scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
            convs[k].weight.copy_((w * scale[:, None, None, None]).float())
            convs[k].bias.copy_(((b - bn.running_mean.double()) * scale + bn.bias.double()).float())
            k += 1
    assert k == len(convs) == 6
    folded.fc1.load_state_dict(model.fc1.state_dict())
    folded.fc2.load_state_dict(model.fc2.state_dict())
    return folded.eval()


# ----------------------------------------------------------------------------- helpers
@torch.no_grad()
def predict(model, x, batch=1000):
    model.eval()
    return torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])


def topk_acc(logits, labels, k):
    topk = torch.topk(logits, k, dim=1).indices
    return (topk == labels[:, None]).any(dim=1).double().mean().item()


def train(model, xtr, ytr, xte, yte, args):
    rng = np.random.RandomState(0)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    n = len(xtr)
    steps_per_epoch = math.ceil(n / args.batch)
    total = args.epochs * steps_per_epoch
    warm = min(steps_per_epoch // 2, total // 10)

    def lr_at(step):  # linear warm-up, then cosine decay to 0
        if step < warm:
            return args.lr * (step + 1) / warm
        p = (step - warm) / max(1, total - warm)
        return args.lr * 0.5 * (1.0 + math.cos(math.pi * p))

    step = 0
    t_start = time.time()
    for ep in range(args.epochs):
        model.train()
        t0 = time.time()
        perm = rng.permutation(n)
        loss_sum, correct = 0.0, 0
        for i in range(0, n, args.batch):
            idx = torch.from_numpy(perm[i:i + args.batch])
            xb, yb = xtr[idx], ytr[idx]
            if not args.no_augment:
                xb = augment(xb, rng)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            loss_sum += loss.item() * len(idx)
            correct += (out.argmax(1) == yb).sum().item()
        t_train = time.time() - t0
        test_logits = predict(model, xte)
        acc = topk_acc(test_logits, yte, 1)
        print(f"epoch {ep + 1:2d}/{args.epochs}  loss {loss_sum / n:.4f}  train-acc {correct / n:.4f}  "
              f"test-acc {acc:.4f}  lr {lr_at(step - 1):.2e}  train {t_train:.1f}s  "
              f"total {time.time() - t_start:.1f}s", flush=True)
        if (args.max_minutes is not None and ep + 1 < args.epochs
                and time.time() - t_start > 60.0 * args.max_minutes):
            print(f"--max-minutes {args.max_minutes:g} exceeded after epoch {ep + 1}/{args.epochs}: "
                  f"stopping training (lr schedule was planned for {args.epochs} epochs)", flush=True)
            break
    return time.time() - t_start


def check_onnx_numpy(model_proto, x, ref_logits):
    """Tiny independent numpy interpreter for the exported graph (Conv/Relu/MaxPool/Flatten/Gemm)
    to make sure the ONNX file itself reproduces the torch logits."""
    from onnx import numpy_helper
    vals = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model_proto.graph.initializer}
    vals[model_proto.graph.input[0].name] = x.astype(np.float64)
    for node in model_proto.graph.node:
        a = {at.name: at for at in node.attribute}
        ins = [vals[i] for i in node.input]
        if node.op_type == "Conv":
            X, W = ins[0], ins[1]
            B = ins[2] if len(ins) > 2 else 0.0
            n_, c, h, w = X.shape
            co, ci, kh, kw = W.shape
            pads = list(a["pads"].ints) if "pads" in a else [0, 0, 0, 0]
            assert list(a["strides"].ints) == [1, 1] and pads == [1, 1, 1, 1] and (kh, kw) == (3, 3)
            Xp = np.pad(X, ((0, 0), (0, 0), (1, 1), (1, 1)))
            cols = np.stack([Xp[:, :, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)], axis=2)
            y = np.einsum("nckhw,ock->nohw", cols, W.reshape(co, ci, 9))
            out = y + np.reshape(B, (1, -1, 1, 1))
        elif node.op_type == "Relu":
            out = np.maximum(ins[0], 0)
        elif node.op_type == "MaxPool":
            assert list(a["kernel_shape"].ints) == [2, 2] and list(a["strides"].ints) == [2, 2]
            X = ins[0]
            h2, w2 = X.shape[2] // 2, X.shape[3] // 2
            X = X[:, :, :2 * h2, :2 * w2]
            out = X.reshape(X.shape[0], X.shape[1], h2, 2, w2, 2).max(axis=(3, 5))
        elif node.op_type == "Flatten":
            out = ins[0].reshape(ins[0].shape[0], -1)
        elif node.op_type == "Gemm":
            A, Bm = ins[0], ins[1]
            if a.get("transA") and a["transA"].i:
                A = A.T
            if a.get("transB") and a["transB"].i:
                Bm = Bm.T
            alpha = a["alpha"].f if "alpha" in a else 1.0
            beta = a["beta"].f if "beta" in a else 1.0
            out = alpha * A @ Bm + (beta * ins[2] if len(ins) > 2 else 0.0)
        else:
            raise RuntimeError(f"unexpected op {node.op_type}")
        vals[node.output[0]] = out
    got = vals[model_proto.graph.output[0].name]
    return float(np.abs(got - ref_logits).max())


# ----------------------------------------------------------------------------- main
def parse_widths(s):
    try:
        w = tuple(int(v) for v in s.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 6 comma-separated integers, got {s!r}")
    if len(w) != 6 or min(w) < 1:
        raise argparse.ArgumentTypeError(f"expected 6 comma-separated positive integers, got {s!r}")
    return w


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--out-dir", default="models/")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--data-dir", default=DATA_DIR)
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--estimate", type=int, default=0, metavar="N",
                    help="only time one training epoch over N train images and exit")
    ap.add_argument("--widths", type=parse_widths, default=DEFAULT_WIDTHS, metavar="W1,...,W6",
                    help="the six conv widths (default 32,32,64,64,128,128)")
    ap.add_argument("--fc", type=int, default=DEFAULT_FC, metavar="H",
                    help="hidden width of fc1 (default 256)")
    ap.add_argument("--name", default="fashion_vgg", metavar="STEM",
                    help="output file stem: STEM.onnx, STEM_test_logits.h5 (default fashion_vgg)")
    ap.add_argument("--max-minutes", type=float, default=None, metavar="M",
                    help="stop training after the epoch in which M minutes of training wall time "
                         "are exceeded, then export as usual (default: no limit)")
    args = ap.parse_args()

    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}", flush=True)

    xtr_u8, ytr_u8, xte_u8, yte_u8 = load_fashion_mnist(args.data_dir)
    # normalisation constants from the training set, rounded to 2 decimals; these exact
    # numbers are used for training, for the logits file and in the ONNX metadata.
    mean_exact = float(xtr_u8.astype(np.float64).mean())
    std_exact = float(xtr_u8.astype(np.float64).std())
    mean_str, std_str = f"{mean_exact:.2f}", f"{std_exact:.2f}"
    mean, std = float(mean_str), float(std_str)
    print(f"train pixel mean {mean_exact:.6f} std {std_exact:.6f} -> using mean={mean_str} std={std_str}")

    xtr, xte = normalise(xtr_u8, mean, std), normalise(xte_u8, mean, std)
    ytr, yte = torch.from_numpy(ytr_u8.astype(np.int64)), torch.from_numpy(yte_u8.astype(np.int64))

    model = FashionVGG(args.widths, args.fc)

    if args.estimate:
        n = args.estimate
        args.epochs = 1
        t = train(model, xtr[:n], ytr[:n], xte[:1000], yte[:1000], args)
        print(f"estimate: {t:.1f}s for {n} images (incl. eval of 1000) -> "
              f"~{t * 60000 / n:.0f}s per full epoch")
        return

    train_seconds = train(model, xtr, ytr, xte, yte, args)
    print(f"training wall time {train_seconds:.1f}s", flush=True)

    # ---- fold BN and verify
    model.eval()
    folded = fold_batchnorm(model)
    ref = predict(model, xte)
    logits = predict(folded, xte)
    diff = (ref - logits).abs().max().item()
    print(f"max |BN model - folded model| logits diff on test set: {diff:.3e}")
    assert diff < 1e-4, diff
    top1, top5 = topk_acc(logits, yte, 1), topk_acc(logits, yte, 5)
    print(f"folded model test top1 {top1:.4f} top5 {top5:.4f}")

    # ---- ONNX export
    import onnx
    os.makedirs(args.out_dir, exist_ok=True)
    onnx_path = os.path.join(args.out_dir, f"{args.name}.onnx")
    torch.onnx.export(folded, xte[:1], onnx_path, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      do_constant_folding=True)
    m = onnx.load(onnx_path)
    del m.metadata_props[:]
    if args.widths == DEFAULT_WIDTHS and args.fc == DEFAULT_FC:
        arch = "6 conv3x3 + 2 fc"
    else:
        arch = (f"6 conv3x3 widths {'-'.join(str(w) for w in args.widths)} + 2 fc "
                f"{args.widths[5] * 9}-{args.fc}-10")
    for k, v in (("lrc.mean", mean_str), ("lrc.std", std_str),
                 ("lrc.description",
                  f"VGG-style CNN ({arch}, BN folded) for Fashion-MNIST 28x28 grayscale, "
                  f"input (pixel[0..255]-{mean_str})/{std_str} shape [N,1,28,28], output raw logits of 10 classes; "
                  f"test top1 {top1:.4f}")):
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m)
    onnx.save(m, onnx_path)
    m = onnx.load(onnx_path)
    onnx.checker.check_model(m)
    ops = [n.op_type for n in m.graph.node]
    print("ONNX nodes:", " ".join(ops))
    bad = set(ops) - ALLOWED_OPS
    assert not bad, f"unexpected ops in exported graph: {bad}"
    for t in m.graph.initializer:
        assert t.data_type == onnx.TensorProto.FLOAT and len(t.raw_data) > 0 and not t.float_data, t.name
    print("initializers:", ", ".join(f"{t.name}{list(t.dims)}" for t in m.graph.initializer))
    print("metadata:", {p.key: p.value for p in m.metadata_props})
    d = check_onnx_numpy(m, xte[:32].numpy(), logits[:32].double().numpy())
    print(f"numpy evaluation of ONNX graph vs torch logits (32 images): max diff {d:.3e}")
    assert d < 1e-4, d

    # ---- logits file
    import h5py
    h5_path = os.path.join(args.out_dir, f"{args.name}_test_logits.h5")
    with h5py.File(h5_path, "w") as f:
        f.create_dataset("logits", data=logits.numpy().astype(np.float32), compression="gzip")
        f.create_dataset("labels", data=yte_u8.astype(np.uint8), compression="gzip")
        f.attrs["top1"] = np.float64(top1)
        f.attrs["top5"] = np.float64(top5)
        f.attrs["mean"] = np.float64(mean)
        f.attrs["std"] = np.float64(std)
        f.attrs["torch_version"] = np.bytes_(str.__str__(torch.__version__).encode("ascii"))  # fixed-length ASCII string
    for p in (onnx_path, h5_path):
        print(f"wrote {p} ({os.path.getsize(p)} bytes)")


if __name__ == "__main__":
    main()
