"""The comparison point for `walkout bench detect`: the plain Python loop a team would write first
(OpenCV decode, NumPy letterbox, onnxruntime, NumPy decode and NMS), doing the same work on the same video.

Usage: python3 python_baseline.py MODEL.onnx VIDEO [FRAMES]   (needs onnxruntime, opencv-python-headless, numpy)
Prints frames per second from file to detections, and the bare session.run rate on the same input.
"""
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort


def letterbox(frame, size=416):
    r = min(size / frame.shape[0], size / frame.shape[1])
    resized = cv2.resize(frame, (int(round(frame.shape[1] * r)), int(round(frame.shape[0] * r))), interpolation=cv2.INTER_LINEAR)
    padded = np.full((size, size, 3), 114, dtype=np.uint8)
    padded[: resized.shape[0], : resized.shape[1]] = resized
    return padded.transpose(2, 0, 1)[None].astype(np.float32), r


def decode(output, r, size=416, threshold=0.3, iou=0.45):
    grids, strides = [], []
    for s in (8, 16, 32):
        n = size // s
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        grids.append(np.stack([xs.ravel(), ys.ravel()], 1))
        strides.append(np.full((n * n, 1), s))
    grids, strides = np.concatenate(grids), np.concatenate(strides)
    out = output[0]
    xy = (out[:, :2] + grids) * strides
    wh = np.exp(out[:, 2:4]) * strides
    scores = out[:, 4:5] * out[:, 5:]
    cls = scores.argmax(1)
    best = scores[np.arange(len(cls)), cls]
    keep = best > threshold
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1)[keep] / r
    if len(boxes) == 0:
        return []
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)
    idx = cv2.dnn.NMSBoxes(xywh.tolist(), best[keep].tolist(), threshold, iou)
    return [boxes[i] for i in np.array(idx).ravel()]


def main():
    model, video = sys.argv[1], sys.argv[2]
    frames = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    capture = cv2.VideoCapture(video)
    ok, frame = capture.read()
    tensor, r = letterbox(frame)
    for _ in range(5):
        session.run(None, {name: tensor})
    start = time.perf_counter()
    for _ in range(frames):
        session.run(None, {name: tensor})
    bare = frames / (time.perf_counter() - start)
    capture = cv2.VideoCapture(video)
    start, count = time.perf_counter(), 0
    while count < frames:
        ok, frame = capture.read()
        if not ok:
            break
        tensor, r = letterbox(frame)
        decode(session.run(None, {name: tensor})[0], r)
        count += 1
    e2e = count / (time.perf_counter() - start)
    print(f'{{"python_bare_inference_fps": {bare:.2f}, "python_file_to_detections_fps": {e2e:.2f}}}')


if __name__ == "__main__":
    main()
