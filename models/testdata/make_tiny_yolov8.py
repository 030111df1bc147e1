"""Builds tiny_yolov8.onnx: a hand-made, weight-free stand-in with an Ultralytics YOLOv8 output layout and a
dynamic batch dimension, so the batching path and the YOLOv8 decoder are tested through real ONNX Runtime.

Input  images [N, 3, 32, 32] (RGB, 0..1)
Output output0 [N, 6, 16]: per 8x8 cell of the input, (cx, cy, w, h) in input pixels, then 2 class scores.
The box is the cell itself; class 0 scores the cell's mean red, class 1 its mean blue, so a frame's
content decides what is found and batch items can be told apart.

Run: python3 make_tiny_yolov8.py  (needs the `onnx` package; the output is committed, the project's own.)
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

cells = 4  # 32 / 8
xs, ys = np.meshgrid(np.arange(cells), np.arange(cells))
cx = (xs.flatten() * 8 + 4).astype(np.float32)
cy = (ys.flatten() * 8 + 4).astype(np.float32)
boxes = np.stack([cx, cy, np.full(16, 8, np.float32), np.full(16, 8, np.float32)])[None]  # [1, 4, 16]

# mean of each channel over each 8x8 cell: AveragePool, then keep red and blue
pool = helper.make_node("AveragePool", ["images"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8])
flat = helper.make_node("Reshape", ["pooled", "flat_shape"], ["flat"])  # [N, 3, 16]
gather = helper.make_node("Gather", ["flat", "class_channels"], ["scores"], axis=1)  # [N, 2, 16]
# broadcast the constant boxes to the batch: boxes + 0 * scores[:, :1]
first = helper.make_node("Slice", ["scores", "zero", "one", "one_axis"], ["first"])
zeroed = helper.make_node("Mul", ["first", "zero_f"], ["zeroed"])
batch_boxes = helper.make_node("Add", ["zeroed", "boxes"], ["batch_boxes"])  # [N, 4, 16]
concat = helper.make_node("Concat", ["batch_boxes", "scores"], ["output0"], axis=1)

graph = helper.make_graph(
    [pool, flat, gather, first, zeroed, batch_boxes, concat],
    "tiny_yolov8",
    [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, 32, 32])],
    [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["N", 6, 16])],
    initializer=[
        numpy_helper.from_array(np.array([0, 3, -1], np.int64), "flat_shape"),
        numpy_helper.from_array(np.array([0, 2], np.int64), "class_channels"),
        numpy_helper.from_array(np.array([0], np.int64), "zero"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
        numpy_helper.from_array(np.array([1], np.int64), "one_axis"),
        numpy_helper.from_array(np.array(0, np.float32), "zero_f"),
        numpy_helper.from_array(boxes, "boxes"),
    ],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="walkout")
model.ir_version = 8
onnx.checker.check_model(model, full_check=True)
onnx.save(model, __file__.replace("make_tiny_yolov8.py", "tiny_yolov8.onnx"))
