"""mAP@0.5 per class of an exported store detector on rendered validation scenes, through onnxruntime (the
file that ships, not the PyTorch graph), at one or more NMS IoU thresholds; and, at the manifest's score
threshold, recall and precision per class (what the pipeline sees).

    python3 models/train/evaluate.py --model models/walkout_store/walkout_store.onnx \
        --data .cache/train-data --scenes busy-9001 busy-9002 --nms 0.45 0.6 0.7
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import train  # noqa: E402


def operating_point(predictions, truths, cls, score):
    """Recall and precision of one class at a score threshold, each detection matched once at IoU 0.5."""
    matched = detected = labelled = 0
    for dets, gts in zip(predictions, truths):
        g = gts[gts[:, 0] == cls]
        labelled += len(g)
        gboxes = np.stack([(g[:, 1] - g[:, 3] / 2) * train.WIDTH, (g[:, 2] - g[:, 4] / 2) * train.HEIGHT, (g[:, 1] + g[:, 3] / 2) * train.WIDTH, (g[:, 2] + g[:, 4] / 2) * train.HEIGHT], 1) if len(g) else np.zeros((0, 4))
        used = np.zeros(len(g), dtype=bool)
        d = dets[(dets[:, 0] == cls) & (dets[:, 1] > score)]
        detected += len(d)
        for row in d[np.argsort(-d[:, 1])]:
            if len(gboxes):
                ious = np.where(used, -1.0, train.iou(row[2:], gboxes))
                j = int(ious.argmax())
                if ious[j] >= 0.5:
                    used[j] = True
                    matched += 1
    return {"recall": round(matched / max(labelled, 1), 4), "precision": round(matched / max(detected, 1), 4), "labelled": labelled}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default=".cache/train-data")
    parser.add_argument("--scenes", nargs="+", default=[f"busy-{s}" for s in train.VAL_SEEDS])
    parser.add_argument("--stride", type=int, default=1, help="every Nth frame only")
    parser.add_argument("--nms", type=float, nargs="+", default=[0.45])
    parser.add_argument("--score", type=float, default=0.3, help="the manifest's score threshold")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--plain-nms", action="store_true", help="plain NMS for hands too (no box voting, no centre suppression): the decoding before December 2026")
    args = parser.parse_args()
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    items = train.gather(Path(args.data), args.scenes)[:: args.stride]
    grids = []
    for start in range(0, len(items), 8):
        batch = np.stack([train.read_image(p).transpose(2, 0, 1).astype(np.float32) / 255.0 for p, _ in items[start : start + 8]])
        grids.extend(session.run(None, {"images": batch})[0])
    truths = [labels for _, labels in items]
    report = {"model": args.model, "scenes": args.scenes, "frames": len(items), "by_nms": {}}
    for nms in args.nms:
        rules = {} if args.plain_nms else {"vote_iou": train.VOTE_IOU, "centre_within": train.CENTRE_WITHIN}
        predictions = [train.decode(g, nms_iou=nms, **rules) for g in grids]
        report["by_nms"][str(nms)] = {
            "map50": {name: round(train.average_precision(predictions, truths, i), 4) for i, name in enumerate(train.CLASSES)},
            f"at_score_{args.score}": {name: operating_point(predictions, truths, i, args.score) for i, name in enumerate(train.CLASSES)},
        }
        print(json.dumps({"nms": nms, **report["by_nms"][str(nms)]}), flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
