#!/usr/bin/python3
"""Writes the image lists of an `imagelist:LIST.txt:ROOT` data spec from
ImageNet's folders.

    make_lists.py ROOT/train --count 3000 --seed 1 -o calib_3000.txt
    make_lists.py ROOT/val --classes-from ROOT/train -o val.txt
    make_lists.py ROOT/val_flat --classes-from ROOT/train \\
        --labels-csv LOC_val_solution.csv -o val.txt

Each line is "relative/path label" with the path relative to DIR (the ROOT
of the spec). DIR either has one folder per class (ILSVRC's train folder,
or val after the usual re-sorting into class folders), or is flat (val as
distributed) and then --labels-csv gives each file's class (Kaggle's
LOC_val_solution.csv: ImageId,PredictionString, the first word of which is
the synset). Labels are indices into the sorted class folder names (of
--classes-from, else of DIR): torchvision's ImageFolder order, which its
pretrained VGG-16 uses. --count N picks N files at random (by --seed);
the list is sorted, so the same arguments give the same file.
"""
import argparse
import csv
import os
import random
import sys

EXTS = (".jpeg", ".jpg", ".png")


def die(msg):
    sys.exit(f"make_lists.py: error: {msg}")


def class_dirs(d):
    names = sorted(e.name for e in os.scandir(d) if e.is_dir())
    if not names:
        die(f"{d} has no class folders")
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="ROOT of the list: class folders, or flat with --labels-csv")
    ap.add_argument("-o", "--output", required=True, help="the list to write")
    ap.add_argument("--classes-from", help="folder whose sorted subfolders define the labels "
                    "(default DIR)")
    ap.add_argument("--labels-csv", help="flat DIR: CSV of ImageId,PredictionString")
    ap.add_argument("--count", type=int, default=0, help="random subset of N files (default all)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the subset (default 1)")
    a = ap.parse_args()
    if not os.path.isdir(a.dir):
        die(f"{a.dir} is not a directory")
    if ":" in os.path.abspath(a.dir):
        die(f"{a.dir}: an imagelist ROOT cannot contain ':'")
    classes = class_dirs(a.classes_from or a.dir) if (a.classes_from or not a.labels_csv) else None
    items = []
    if a.labels_csv:
        if classes is None:
            die("--labels-csv needs --classes-from TRAIN_DIR for the class order")
        index = {c: i for i, c in enumerate(classes)}
        synset = {}
        with open(a.labels_csv, newline="") as f:
            for row in csv.DictReader(f):
                synset[row["ImageId"]] = row["PredictionString"].split()[0]
        for e in sorted(os.scandir(a.dir), key=lambda e: e.name):
            stem, ext = os.path.splitext(e.name)
            if e.is_file() and ext.lower() in EXTS:
                if stem not in synset:
                    die(f"{e.path}: not in {a.labels_csv}")
                if synset[stem] not in index:
                    die(f"{e.path}: class {synset[stem]} is not a folder of {a.classes_from}")
                items.append((e.name, index[synset[stem]]))
    else:
        index = {c: i for i, c in enumerate(classes)}
        for c in class_dirs(a.dir):
            if c not in index:
                die(f"{a.dir}/{c}: not a class of {a.classes_from}")
            for e in sorted(os.scandir(os.path.join(a.dir, c)), key=lambda e: e.name):
                if e.is_file() and os.path.splitext(e.name)[1].lower() in EXTS:
                    items.append((f"{c}/{e.name}", index[c]))
    if not items:
        die(f"no JPEG or PNG files under {a.dir}")
    if a.count:
        if a.count > len(items):
            die(f"--count {a.count}: {a.dir} has only {len(items)} images")
        items = sorted(random.Random(a.seed).sample(items, a.count))
    with open(a.output + ".tmp", "w") as f:
        for path, label in items:
            f.write(f"{path} {label}\n")
    os.replace(a.output + ".tmp", a.output)
    print(f"{a.output}: {len(items)} images, {len({lab for _, lab in items})} classes "
          f"(ROOT {os.path.abspath(a.dir)})")


if __name__ == "__main__":
    main()
