"""Trains Walkout's own store detector (person, hand, product) on frames the synthetic store renders, and
exports it to ONNX in the YOLOX raw-grid layout that `walkout-models` decodes.

Reproducible: a fixed seed for data order, initialisation and augmentation; the data comes from
`walkout simulate --export-training` on seeds listed below, validation from seeds never used in training.

    python3 models/train/train.py --walkout target/release/walkout --out models/walkout_store
    python3 models/train/train.py --smoke        # a minute on random data: shapes, export, the ORT check

Outputs in --out: walkout_store.onnx, metrics.json (mAP@0.5 per class on the validation scenes, training
time, CPU inference ms per 640x480 frame). The manifest and model card beside it are written by hand from
metrics.json.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

CLASSES = ["person", "hand", "product"]
WIDTH, HEIGHT, STRIDE = 640, 480, 8
TRAIN_SEEDS = list(range(1000, 1006))
VAL_SEEDS = [9001, 9002]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------------------------- model
def conv(cin, cout, stride=1, k=3):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DepthwiseBlock(nn.Module):
    """A depthwise-separable residual block: cheap on a CPU core, wide enough receptive field."""

    def __init__(self, c):
        super().__init__()
        self.dw = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.pw = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return F.relu(x + self.pw(self.dw(x)))


class StoreNet(nn.Module):
    """Stride-8 anchor-free detector. Small objects (hands, cans) from a ceiling camera are 10-30 px at
    640x480, so the head works at stride 8 with context fused in from stride 16."""

    def __init__(self, classes=len(CLASSES)):
        super().__init__()
        self.stem = conv(3, 16, 2)  # /2
        self.s1 = nn.Sequential(conv(16, 32, 2), DepthwiseBlock(32))  # /4
        self.s2 = nn.Sequential(conv(32, 64, 2), DepthwiseBlock(64), DepthwiseBlock(64))  # /8
        self.s3 = nn.Sequential(conv(64, 96, 2), DepthwiseBlock(96), DepthwiseBlock(96))  # /16
        self.lateral = conv(96, 64, 1, k=1)
        self.fuse = nn.Sequential(conv(128, 64), DepthwiseBlock(64))
        self.head = nn.Conv2d(64, 5 + classes, 1)
        with torch.no_grad():  # start with low objectness: most cells are background
            self.head.bias[4] = -4.0
            self.head.bias[5:] = -4.0

    def forward(self, x):
        c2 = self.s2(self.s1(self.stem(x)))
        c3 = self.s3(c2)
        up = F.interpolate(self.lateral(c3), size=c2.shape[-2:], mode="nearest")
        return self.head(self.fuse(torch.cat([c2, up], 1)))  # [B, 5+C, H/8, W/8], raw


class Exported(nn.Module):
    """The ONNX graph: YOLOX's raw grid [B, N, 5+C], offsets and log sizes raw, objectness and class
    probabilities through a sigmoid, cells row-major, exactly what the `yolox` decoder reads."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        out = self.net(x)
        b, c, h, w = out.shape
        out = out.flatten(2).transpose(1, 2)  # [B, H*W, 5+C]
        return torch.cat([out[..., :4], torch.sigmoid(out[..., 4:])], dim=-1)


# ------------------------------------------------------------------------------------------------ data
def load_split(folder: Path):
    items = []
    for image in sorted((folder / "images").glob("*.*")):
        label = folder / "labels" / (image.stem + ".txt")
        boxes = []
        if label.exists():
            for line in label.read_text().splitlines():
                parts = line.split()
                if len(parts) == 5:
                    boxes.append([int(parts[0])] + [float(v) for v in parts[1:]])
        items.append((image, np.array(boxes, dtype=np.float32).reshape(-1, 5)))
    return items


def to_tensor(path: Path, rng: random.Random | None):
    image = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    if image.shape[:2] != (HEIGHT, WIDTH):
        raise ValueError(f"{path}: {image.shape[1]}x{image.shape[0]}, the detector is trained on {WIDTH}x{HEIGHT}")
    if rng is not None:  # lighting varies in a real store too
        image = np.clip(image * rng.uniform(0.7, 1.3) + rng.uniform(-0.05, 0.05), 0.0, 1.0)
    return torch.from_numpy(image.transpose(2, 0, 1).copy())


def targets_for(boxes: np.ndarray, gh: int, gw: int, classes: int, flip: bool):
    """Centre-cell assignment (plus the 3x3 neighbourhood for large boxes, which gives persons more
    positives): objectness, class, and the YOLOX box encoding per positive cell. A cell belongs to the
    smallest box covering it, so the largest boxes are written first and smaller ones overwrite them."""
    obj = np.zeros((gh, gw), np.float32)
    cls = np.zeros((classes, gh, gw), np.float32)
    box = np.zeros((4, gh, gw), np.float32)
    if len(boxes):
        b = boxes.astype(np.float64)
        cx = 1.0 - b[:, 1] if flip else b[:, 1]
        px, py = cx * WIDTH, b[:, 2] * HEIGHT
        pw, ph = np.maximum(b[:, 3] * WIDTH, 1.0), np.maximum(b[:, 4] * HEIGHT, 1.0)
        order = np.argsort(-(pw * ph))
        for i in order:
            gx, gy = int(px[i] / STRIDE), int(py[i] / STRIDE)
            r = 1 if min(pw[i], ph[i]) > 4 * STRIDE else 0
            y0, y1, x0, x1 = max(gy - r, 0), min(gy + r + 1, gh), max(gx - r, 0), min(gx + r + 1, gw)
            if y0 >= y1 or x0 >= x1:
                continue
            ys, xs = np.mgrid[y0:y1, x0:x1]
            obj[y0:y1, x0:x1] = 1.0
            cls[:, y0:y1, x0:x1] = 0.0
            cls[int(b[i, 0]), y0:y1, x0:x1] = 1.0
            box[0, y0:y1, x0:x1] = px[i] / STRIDE - xs
            box[1, y0:y1, x0:x1] = py[i] / STRIDE - ys
            box[2, y0:y1, x0:x1] = np.log(pw[i] / STRIDE)
            box[3, y0:y1, x0:x1] = np.log(ph[i] / STRIDE)
    obj_t = torch.from_numpy(obj)
    return obj_t, torch.from_numpy(cls), torch.from_numpy(box), obj_t > 0


def batches(items, batch_size, rng, train=True):
    order = list(range(len(items)))
    if train:
        rng.shuffle(order)
    gh, gw = HEIGHT // STRIDE, WIDTH // STRIDE
    for start in range(0, len(order), batch_size):
        chunk = [items[i] for i in order[start : start + batch_size]]
        images, objs, clss, boxes, masks = [], [], [], [], []
        for path, labels in chunk:
            flip = train and rng.random() < 0.5
            image = to_tensor(path, rng if train else None)
            if flip:
                image = image.flip(-1)
            o, c, b, m = targets_for(labels, gh, gw, len(CLASSES), flip)
            images.append(image), objs.append(o), clss.append(c), boxes.append(b), masks.append(m)
        yield torch.stack(images), torch.stack(objs), torch.stack(clss), torch.stack(boxes), torch.stack(masks)


def loss_fn(out, obj, cls, box, mask):
    obj_loss = F.binary_cross_entropy_with_logits(out[:, 4], obj, reduction="sum") / max(mask.sum().item(), 1)
    m = mask.unsqueeze(1)
    positives = max(mask.sum().item(), 1)
    cls_loss = (F.binary_cross_entropy_with_logits(out[:, 5:], cls, reduction="none") * m).sum() / positives
    box_loss = (F.smooth_l1_loss(out[:, :4], box, reduction="none") * m).sum() / positives
    return obj_loss + cls_loss + 2.0 * box_loss


# ------------------------------------------------------------------------------------------ evaluation
def decode(grid: np.ndarray, threshold=0.05):
    """[N, 5+C] YOLOX rows to (class, score, x1, y1, x2, y2) in pixels, with class-aware NMS."""
    gw = WIDTH // STRIDE
    idx = np.arange(grid.shape[0])
    gx, gy = idx % gw, idx // gw
    scores = grid[:, 4:5] * grid[:, 5:]
    cls = scores.argmax(1)
    best = scores[idx, cls]
    keep = best > threshold
    cx = (grid[:, 0] + gx) * STRIDE
    cy = (grid[:, 1] + gy) * STRIDE
    w = np.exp(np.clip(grid[:, 2], -10, 10)) * STRIDE
    h = np.exp(np.clip(grid[:, 3], -10, 10)) * STRIDE
    dets = np.stack([cls, best, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)[keep]
    out = []
    for c in np.unique(dets[:, 0]) if len(dets) else []:
        d = dets[dets[:, 0] == c]
        d = d[np.argsort(-d[:, 1])]
        while len(d):
            out.append(d[0])
            ious = iou(d[0, 2:], d[1:, 2:])
            d = d[1:][ious <= 0.45]
    return np.array(out).reshape(-1, 6)


def iou(a, b):
    x1, y1 = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    x2, y2 = np.minimum(a[2], b[:, 2]), np.minimum(a[3], b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[..., 2] - r[..., 0]) * (r[..., 3] - r[..., 1])
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def average_precision(predictions, truths, cls):
    """VOC-style all-point AP at IoU 0.5 for one class over a set of images."""
    scored, total = [], 0
    for dets, gts in zip(predictions, truths):
        g = gts[gts[:, 0] == cls]
        total += len(g)
        gboxes = np.stack([(g[:, 1] - g[:, 3] / 2) * WIDTH, (g[:, 2] - g[:, 4] / 2) * HEIGHT, (g[:, 1] + g[:, 3] / 2) * WIDTH, (g[:, 2] + g[:, 4] / 2) * HEIGHT], 1) if len(g) else np.zeros((0, 4))
        used = np.zeros(len(g), dtype=bool)
        for d in sorted(dets[dets[:, 0] == cls], key=lambda r: -r[1]):
            hit = False
            if len(gboxes):
                ious = iou(d[2:], gboxes)
                j = int(ious.argmax())
                if ious[j] >= 0.5 and not used[j]:
                    used[j], hit = True, True
            scored.append((d[1], hit))
    if total == 0:
        return float("nan")
    scored.sort(key=lambda s: -s[0])
    tp = np.cumsum([s[1] for s in scored]) if scored else np.zeros(0)
    fp = np.cumsum([not s[1] for s in scored]) if scored else np.zeros(0)
    recall = tp / total if len(tp) else np.zeros(1)
    precision = tp / np.maximum(tp + fp, 1e-9) if len(tp) else np.zeros(1)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    steps = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def evaluate(model, items):
    exported = Exported(model).eval()
    predictions, truths = [], []
    with torch.no_grad():
        for images, *_ in batches(items, 8, random.Random(0), train=False):
            for grid in exported(images).numpy():
                predictions.append(decode(grid))
    truths = [labels for _, labels in items]
    return {name: average_precision(predictions, truths, i) for i, name in enumerate(CLASSES)}


# --------------------------------------------------------------------------------------------- recipe
def render(walkout: str, preset: str, seeds, out: Path, every: int):
    for seed in seeds:
        target = out / f"{preset}-{seed}"
        if (target / "images").exists():
            continue
        subprocess.run([walkout, "simulate", "--preset", preset, "--seed", str(seed), "--resolution", f"{WIDTH}x{HEIGHT}", "--export-training", str(target), "--every", str(every)], check=True)


def gather(root: Path, names):
    items = []
    for name in names:
        items.extend(load_split(root / name))
    return items


def export(model, path: Path):
    # eval() on the wrapper itself: export restores the wrapper's own mode afterwards, and a wrapper left in
    # training mode would put every BatchNorm back on batch statistics for the comparison below
    wrapped = Exported(model).eval()
    dummy = torch.rand(1, 3, HEIGHT, WIDTH)
    torch.onnx.export(wrapped, dummy, str(path), input_names=["images"], output_names=["output"], dynamic_axes={"images": {0: "batch"}, "output": {0: "batch"}}, opset_version=17, dynamo=False)
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    check = torch.rand(2, 3, HEIGHT, WIDTH)
    with torch.no_grad():
        expected = wrapped(check).numpy()
    got = session.run(None, {"images": check.numpy()})[0]
    diff = float(np.abs(expected - got).max())
    if diff > 1e-3:
        raise SystemExit(f"ONNX Runtime disagrees with PyTorch by {diff}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    single = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    frame = check[:1].numpy()
    for _ in range(5):
        single.run(None, {"images": frame})
    start = time.perf_counter()
    runs = 30
    for _ in range(runs):
        single.run(None, {"images": frame})
    return diff, (time.perf_counter() - start) * 1000 / runs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--walkout", default="target/release/walkout", help="the walkout binary that renders the data")
    parser.add_argument("--data", default=".cache/train-data", help="where rendered training frames go")
    parser.add_argument("--out", default="models/walkout_store", help="where the model and metrics go")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--every", type=int, default=10, help="export every Nth rendered frame")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-train-minutes", type=float, default=0, help="stop training after this long (0: no limit)")
    parser.add_argument("--smoke", action="store_true", help="random data, one epoch: checks shapes, export and ORT")
    args = parser.parse_args()
    seed_everything(args.seed)
    torch.set_num_threads(max(os.cpu_count() or 1, 1))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = StoreNet()
    if args.smoke:
        x = torch.rand(2, 3, HEIGHT, WIDTH)
        obj, cls, box, mask = [torch.stack(t) for t in zip(*[targets_for(np.array([[0, 0.5, 0.5, 0.2, 0.5], [1, 0.3, 0.3, 0.03, 0.04]], np.float32), HEIGHT // STRIDE, WIDTH // STRIDE, 3, False)] * 2)]
        optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3)
        for _ in range(3):
            loss = loss_fn(model(x), obj, cls, box, mask)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        diff, ms = export(model, out / "smoke.onnx")
        print(json.dumps({"smoke": True, "loss": float(loss), "ort_max_diff": diff, "cpu_ms_per_frame_1_thread": round(ms, 2)}))
        return
    data = Path(args.data)
    render(args.walkout, "busy", TRAIN_SEEDS, data, args.every)
    render(args.walkout, "busy", VAL_SEEDS, data, args.every)
    train = gather(data, [f"busy-{s}" for s in TRAIN_SEEDS])
    val = gather(data, [f"busy-{s}" for s in VAL_SEEDS])
    print(f"{len(train)} training frames, {len(val)} validation frames", file=sys.stderr)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = args.epochs * ((len(train) + args.batch - 1) // args.batch)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=max(steps, 1))
    rng = random.Random(args.seed)
    started = time.time()
    steps_done = 0
    for epoch in range(args.epochs):
        model.train()
        total = 0.0
        for images, obj, cls, box, mask in batches(train, args.batch, rng):
            loss = loss_fn(model(images), obj, cls, box, mask)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            scheduler.step()
            total += float(loss.detach())
            steps_done += 1
            if steps_done % 50 == 0:
                print(f"  step {steps_done}: loss {float(loss.detach()):.3f} ({time.time() - started:.0f} s)", file=sys.stderr)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total:.2f} ({time.time() - started:.0f} s)", file=sys.stderr)
        if args.max_train_minutes and time.time() - started > args.max_train_minutes * 60:
            print(f"stopping after {epoch + 1} epochs: the time budget is spent", file=sys.stderr)
            break
    training_secs = time.time() - started
    ap = evaluate(model, val)
    diff, ms = export(model, out / "walkout_store.onnx")
    metrics = {
        "classes": CLASSES,
        "input": [WIDTH, HEIGHT],
        "train_seeds": TRAIN_SEEDS,
        "validation_seeds": VAL_SEEDS,
        "train_frames": len(train),
        "validation_frames": len(val),
        "epochs_planned": args.epochs,
        "steps": steps_done,
        "training_secs": round(training_secs),
        "map50": {k: round(v, 4) for k, v in ap.items()},
        "ort_max_diff": diff,
        "cpu_ms_per_frame_1_thread": round(ms, 2),
        "onnx_bytes": (out / "walkout_store.onnx").stat().st_size,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
