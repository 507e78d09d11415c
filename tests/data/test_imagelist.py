"""End-to-end test of the `imagelist:` data spec (JPEG and PNG files named by
a list) against independent references, through `lrcompress data --save`
(the pixels as the network sees them, before normalisation) and `eval`:

- real photos (Debian's darknet package: /usr/share/darknet/data/*.jpg):
  decode + resize (shorter side 256, PIL's bilinear) + center crop 224,
  RGB and BGR, and 1-channel, equal to PIL/numpy (torchvision's recipe)
  within 1 intensity level; the same bits on 1, 2 and 3 ranks;
- Fashion-MNIST test images written by the test as PNG (lossless): the
  saved pixels are exactly the IDX file's, and `eval` of the reference model
  on the list gives exactly the accuracy it has on fashion-mnist:test;
  written as grayscale JPEG: equal to PIL's decode within 1 level, and
  3 equal channels when 3 are asked for;
- bad input: a CMYK JPEG, a truncated JPEG, a file that is no image, a
  missing file, a 1x5000 image (3.3e8 pixels once resized), a bad list line, an unknown option: each a non-zero exit
  and one message naming the file (or line, or option);
- skipped and counted instead (bad=skip in the spec, or the config's
  `bad_images: skip`): `data --save` keeps exactly the good images, `eval`
  gives exactly the accuracy of the list without the bad files and counts
  them, and `run` calibrates on good images only, replacing each bad one
  by the next of the seeded shuffle: the same skip count and the same model
  on 1 and 3 ranks.

    test_imagelist.py LRCOMPRESS MPIEXEC NPFLAG
"""
import glob
import gzip
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from e2e_common import (FASHION_DIR, REF_MODEL, TempDir, check, describe,  # noqa: E402
                        log, main_wrapper, parse_result, run, run_ok)

import numpy as np  # noqa: E402

PHOTOS = "/usr/share/darknet/data"


def pil_reference(path, size, resize, mode):
    """torchvision's Resize(resize) + CenterCrop(size) on a PIL image, CHW."""
    from PIL import Image
    im = Image.open(path).convert(mode)
    w, h = im.size
    if resize:
        if w <= h:
            nw, nh = resize, int(resize * h / w)
        else:
            nw, nh = int(resize * w / h), resize
        if (nw, nh) != (w, h):
            im = im.resize((nw, nh), Image.BILINEAR)
        w, h = nw, nh
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    a = np.asarray(im)[top:top + size, left:left + size]
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def saved(exe, mpi, np_, spec, out):
    run_ok(mpi + [str(np_), "--oversubscribe", exe, "data", spec, "--save", out],
           f"data --save on {np_} ranks")
    import h5py
    with h5py.File(out, "r") as f:
        return f["images"][()], f["labels"][()]


def fashion_test(n):
    with gzip.open(os.path.join(FASHION_DIR, "t10k-images-idx3-ubyte.gz")) as f:
        img = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    with gzip.open(os.path.join(FASHION_DIR, "t10k-labels-idx1-ubyte.gz")) as f:
        lab = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return img, lab


def test(exe, mpiexec, npflag):
    from PIL import Image
    mpi = [mpiexec, npflag]
    photos = sorted(glob.glob(os.path.join(PHOTOS, "*.jpg")))
    check(len(photos) >= 5, f"no photos in {PHOTOS}: install Debian's darknet package")
    with TempDir("imagelist_") as tmp:
        # 1. real photos against PIL
        lst = os.path.join(tmp, "photos.txt")
        with open(lst, "w") as f:
            f.write("# darknet's sample photos\n\n")
            for i, p in enumerate(photos):
                f.write(f"{os.path.basename(p)} {i}\n")
        cases = [("", 224, 256, "RGB", False), (":order=bgr", 224, 256, "RGB", True),
                 (":size=64,resize=80,channels=1", 64, 80, "L", False),
                 (":size=300,resize=0", 300, 0, "RGB", False)]
        for opts, size, resize, mode, bgr in cases:
            spec = f"imagelist:{lst}:{PHOTOS}{opts}"
            img, lab = saved(exe, mpi, 1, spec, os.path.join(tmp, "p1.h5"))
            check(img.shape == (len(photos), 1 if mode == "L" else 3, size, size),
                  f"{spec}: saved shape {img.shape}")
            check(list(lab) == list(range(len(photos))), f"{spec}: labels {lab}")
            worst = 0
            for i, p in enumerate(photos):
                ref = pil_reference(p, size, resize, mode).astype(int)
                if bgr:
                    ref = ref[::-1]
                worst = max(worst, int(np.abs(ref - img[i].astype(int)).max()))
            check(worst <= 1, f"{spec}: differs from PIL by {worst} intensity levels")
            log(f"photos{opts or ''}: within {worst} level of PIL")
        spec = f"imagelist:{lst}:{PHOTOS}"
        one, _ = saved(exe, mpi, 1, spec, os.path.join(tmp, "a.h5"))
        for np_ in (2, 3):
            more, _ = saved(exe, mpi, np_, spec, os.path.join(tmp, f"b{np_}.h5"))
            check(np.array_equal(one, more), f"{np_} ranks decode differently from 1")

        # 2. Fashion-MNIST as PNG (exact) and as grayscale JPEG
        n = 500
        img, lab = fashion_test(n)
        root = os.path.join(tmp, "fm")
        os.makedirs(os.path.join(root, "png"))
        os.makedirs(os.path.join(root, "jpg"))
        with open(os.path.join(tmp, "fm_png.txt"), "w") as fp, \
                open(os.path.join(tmp, "fm_jpg.txt"), "w") as fj:
            for i in range(n):
                Image.fromarray(img[i]).save(os.path.join(root, "png", f"{i}.png"))
                Image.fromarray(img[i]).save(os.path.join(root, "jpg", f"{i}.jpg"), quality=90)
                fp.write(f"png/{i}.png {lab[i]}\n")
                fj.write(f"jpg/{i}.jpg {lab[i]}\n")
        spec_png = f"imagelist:{os.path.join(tmp, 'fm_png.txt')}:{root}:size=28,resize=0,channels=1"
        got, glab = saved(exe, mpi, 2, spec_png, os.path.join(tmp, "fm.h5"))
        check(np.array_equal(got[:, 0], img) and np.array_equal(glab, lab),
              "PNG Fashion-MNIST images do not round-trip exactly")
        a = parse_result(run_ok(mpi + ["2", "--oversubscribe", exe, "eval", REF_MODEL, "--data",
                                       spec_png], "eval on the PNG list"), "eval png")
        b = parse_result(run_ok(mpi + ["2", "--oversubscribe", exe, "eval", REF_MODEL, "--data",
                                       "fashion-mnist:test", "--limit", str(n)],
                                "eval on fashion-mnist"), "eval idx")
        check(a == b, f"accuracy on the PNG list {a} differs from fashion-mnist:test's {b}")
        log(f"PNG list: pixels exact, eval top1={a[0]} top5={a[1]} as on fashion-mnist:test")
        spec_jpg = f"imagelist:{os.path.join(tmp, 'fm_jpg.txt')}:{root}:size=28,resize=0,channels=1"
        got, _ = saved(exe, mpi, 1, spec_jpg, os.path.join(tmp, "fmj.h5"))
        ref = np.stack([np.asarray(Image.open(os.path.join(root, "jpg", f"{i}.jpg")).convert("L"))
                        for i in range(n)])
        d = int(np.abs(ref.astype(int) - got[:, 0].astype(int)).max())
        check(d <= 1, f"grayscale JPEGs differ from PIL's decode by {d} levels")
        got3, _ = saved(exe, mpi, 1, spec_jpg.replace("channels=1", "channels=3"),
                        os.path.join(tmp, "fmj3.h5"))
        check(got3.shape[1] == 3 and np.array_equal(got3[:, 0], got[:, 0]) and
              np.array_equal(got3[:, 1], got3[:, 0]) and np.array_equal(got3[:, 2], got3[:, 0]),
              "a grayscale JPEG read as 3 channels should give 3 equal channels")
        log(f"grayscale JPEG: within {d} level of PIL; 3 equal channels on request")

        # 3. bad input, one file each
        bad = os.path.join(tmp, "bad")
        os.makedirs(bad)
        Image.open(photos[0]).convert("CMYK").save(os.path.join(bad, "cmyk.jpg"))
        with open(photos[0], "rb") as f:
            data = f.read()
        with open(os.path.join(bad, "cut.jpg"), "wb") as f:
            f.write(data[:len(data) // 3])
        with open(os.path.join(bad, "notes.jpg"), "w") as f:
            f.write("not an image\n")
        Image.new("L", (1, 5000)).save(os.path.join(bad, "thin.png"))
        for name, want in [("cmyk.jpg", "CMYK"), ("cut.jpg", "corrupt or truncated JPEG"),
                           ("thin.png", "aspect ratio is too extreme"),
                           ("notes.jpg", "neither a JPEG nor a PNG"),
                           ("missing.jpg", "cannot open image")]:
            lst = os.path.join(tmp, f"bad_{name}.txt")
            with open(lst, "w") as f:
                f.write(f"{name} 1\n")
            p = run(mpi + ["2", "--oversubscribe", exe, "data", f"imagelist:{lst}:{bad}"], timeout=120)
            errs = [ln for ln in p.stderr.splitlines() if "error" in ln]
            check(p.returncode != 0 and any(want in ln and name in ln for ln in errs),
                  f"{name}: expected an error with '{want}' naming the file:\n{describe(p)}")
        lst = os.path.join(tmp, "badline.txt")
        with open(lst, "w") as f:
            f.write("a.jpg 1\nb.jpg one\n")
        p = run([exe, "data", f"imagelist:{lst}:{bad}"], timeout=60)
        check(p.returncode != 0 and "line 2" in p.stderr, f"bad label line:\n{describe(p)}")
        p = run([exe, "data", f"imagelist:{lst}:{bad}:crop=3"], timeout=60)
        check(p.returncode == 2 and "unknown option 'crop'" in p.stderr,
              f"unknown option:\n{describe(p)}")
        log("bad input: CMYK, truncated, not an image, missing, bad line, bad option refused")

        # 4. skipped and counted: the PNG list with bad files among its lines
        bad_names = ["cmyk.jpg", "cut.jpg", "notes.jpg", "missing.jpg"]
        for i in range(n):
            os.symlink(os.path.join(root, "png", f"{i}.png"), os.path.join(bad, f"{i}.png"))
        mixed = os.path.join(tmp, "mixed.txt")
        nbad = 0
        with open(mixed, "w") as f:
            for i in range(n):
                if i % 10 == 3:  # 50 bad lines, the four kinds in turn
                    f.write(f"{bad_names[nbad % 4]} 0\n")
                    nbad += 1
                f.write(f"{i}.png {lab[i]}\n")
        opts = ":size=28,resize=0,channels=1"
        p = run([exe, "data", f"imagelist:{mixed}:{bad}{opts}"], timeout=120)
        check(p.returncode != 0 and "cmyk.jpg" in p.stderr,
              f"without bad=skip a bad file must stop the read:\n{describe(p)}")
        spec_skip = f"imagelist:{mixed}:{bad}{opts},bad=skip"
        out = os.path.join(tmp, "skip.h5")
        p = run_ok(mpi + ["2", "--oversubscribe", exe, "data", spec_skip, "--save", out],
                   "data --save with bad=skip")
        import h5py
        with h5py.File(out, "r") as f:
            got, glab = f["images"][()], f["labels"][()]
        check(np.array_equal(got[:, 0], img) and np.array_equal(glab, lab),
              f"bad=skip: the saved images are not exactly the {n} good ones "
              f"(got {got.shape[0]})")
        check(f"{nbad} bad files skipped" in p.stdout, f"bad=skip: no count:\n{describe(p)}")
        # (two ranks' lines may interleave on mpirun's stderr: count, not split)
        check(p.stderr.count("skipping image") == nbad and
              all(p.stderr.count(f"/{b}") >= nbad // 4 for b in bad_names),
              f"bad=skip: expected {nbad} 'skipping image' lines naming the files:\n{describe(p)}")
        check(not any(" error: " in ln for ln in p.stderr.splitlines()),
              f"bad=skip: a skipped file is not an error:\n{describe(p)}")
        logits = os.path.join(tmp, "skip_logits.h5")
        p = run_ok(mpi + ["2", "--oversubscribe", exe, "eval", REF_MODEL, "--data", spec_skip,
                          "--save-logits", logits], "eval with bad=skip")
        m = re.match(r"^top1=([01]\.\d{4}) top5=([01]\.\d{4}) images=(\d+) skipped=\d+$",
                     p.stdout.strip())
        check(m is not None and (float(m.group(1)), float(m.group(2)), int(m.group(3))) == a
              and f"skipped={nbad}" in p.stdout,
              f"eval with bad=skip should give {a} over the {n} good images and "
              f"skipped={nbad}:\n{describe(p)}")
        with h5py.File(logits, "r") as f:
            z, zl = f["logits"][()], f["labels"][()]
        badrow = np.array([i % 11 == 3 for i in range(n + nbad)])
        check(z.shape[0] == n + nbad and np.all(zl[badrow] == -1) and
              np.all(np.isnan(z[badrow])) and np.all(np.isfinite(z[~badrow])) and
              np.array_equal(zl[~badrow], lab),
              "eval --save-logits with bad=skip: skipped rows should hold NaN and label -1")
        log(f"bad=skip: {nbad} bad files skipped and counted; data and eval exact on the rest")

        runs = []
        for np_ in (1, 3):
            cfg = os.path.join(tmp, f"skip{np_}.yaml")
            with open(cfg, "w") as f:
                f.write(f"model: {REF_MODEL}\ncalibration: imagelist:{mixed}:{bad}{opts}\n"
                        f"evaluation: imagelist:{mixed}:{bad}{opts}\n"
                        f"bad_images: skip\nspeedup: 2\nimages: 400\nlocations: 4\n"
                        f"nonlinear:\n  iters_small: 3\n  iters_large: 3\n"
                        f"output: {os.path.join(tmp, f'run{np_}')}\n")
            p = run_ok(mpi + [str(np_), "--oversubscribe", exe, "run", cfg, "--quiet"],
                       f"run with bad_images: skip on {np_} ranks", timeout=600)
            check(f"evaluation: {nbad} bad image files skipped" in p.stdout,
                  f"run: the evaluation should count {nbad} skipped files:\n{describe(p)}")
            with h5py.File(os.path.join(tmp, f"run{np_}", "results.h5"), "r") as f:
                runs.append((int(f.attrs["images"]), int(f.attrs["images_skipped"]),
                             int(f["evaluation"].attrs["images_skipped"])))
            import onnx
            from onnx import numpy_helper
            mdl = onnx.load(os.path.join(tmp, f"run{np_}", "compressed.onnx"))
            runs[-1] += ({t.name: numpy_helper.to_array(t) for t in mdl.graph.initializer},)
        (i1, s1, e1, w1), (i3, s3, e3, w3) = runs
        check(i1 == i3 == 400 and s1 == s3 and s1 >= 1 and e1 == e3 == nbad,
              f"run with bad_images: skip: images/skipped/eval-skipped {runs[0][:3]} on 1 rank, "
              f"{runs[1][:3]} on 3 ranks")
        worst = max(float(np.abs(w1[k] - w3[k]).max() / (np.abs(w1[k]).max() + 1e-30)) for k in w1)
        # mixed precision (the default) gives the same bits on any rank count
        check(w1.keys() == w3.keys() and worst == 0.0,
              f"run with bad_images: skip: 1 and 3 ranks differ by {worst:.2e} relative")
        p = run([exe, "run", cfg, "--set", "bad_images=maybe"], timeout=60)
        check(p.returncode != 0 and "bad_images" in p.stderr and "maybe" in p.stderr,
              f"bad_images: maybe should be refused naming the key:\n{describe(p)}")
        log(f"run with bad_images: skip: {s1} bad calibration files replaced on 1 and 3 ranks, "
            f"weights within {worst:.1e}; evaluation skipped {e1}")


if __name__ == "__main__":
    main_wrapper(lambda: test(*sys.argv[1:4]))
