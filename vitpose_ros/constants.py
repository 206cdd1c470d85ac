"""Names and choices that launch logic, the node's parameters, the runtime and the tools share.

Standard library only, and nothing imported here: launch files, ``ros.launch_args`` (which must
load without ROS or onnxruntime) and every layer can read it. Each list is written once, here.
"""
PACKAGE_NAME = "vitpose_ros"
NODE_NAME = "vitpose"  # the pose node's name: its parameters are /vitpose/<name>

MODEL_SIZES = ("s", "b", "l", "h")  # the published ViTPose sizes
# Numeric precision of a model file's weights/compute. Inputs and outputs stay float32 in all of
# them. A converted model sits beside its fp32 source as <stem>_<precision>.onnx.
PRECISIONS = ("fp32", "fp16", "int8")
PROVIDERS = ("tensorrt", "cuda", "cpu")  # ONNX Runtime execution providers by short name
DEFAULT_PROVIDERS = PROVIDERS  # best first; unavailable ones are skipped
PIPELINES = ("auto", "host", "graph")  # where crops are cut and heatmaps decoded
TRACKERS = ("none", "iou")  # person ids when detections carry none
DETECTIONS_TYPES = ("vision_msgs", "yolo_msgs")  # message types the detections topic may carry
DETECTORS = ("topic", "builtin")  # where person boxes come from: a detections topic or the node itself
