"""vitpose_ros: ViTPose human pose estimation for ROS 2.

The core (pre-processing, ONNX Runtime engine, decoding) imports only numpy, OpenCV and
onnxruntime; torch is needed by `vitpose_ros.model`, export and training alone; rclpy only by
the ROS shell (node, msgs, markers).
"""
__version__ = "0.1.0"
