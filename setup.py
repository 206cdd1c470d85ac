"""ament_python package for vitpose_ros; also pip-installable outside a ROS workspace."""
from glob import glob

from setuptools import find_packages, setup

package_name = "vitpose_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    package_data={package_name: ["synthetic/models/*.onnx", "synthetic/models/*.md"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml")),
    ],
    python_requires=">=3.10",
    # Runtime needs only these; onnxruntime-gpu may stand in for onnxruntime (see README).
    # rclpy and the message packages come from ROS, torch only for export/training.
    install_requires=["numpy", "opencv-python-headless"],
    extras_require={
        # fetch --format onnx (published ONNX files, no torch) needs onnx + huggingface_hub + tqdm too
        "cpu": ["onnxruntime", "onnx", "huggingface_hub", "tqdm"],
        "export": ["torch", "onnx", "safetensors", "huggingface_hub", "tqdm", "transformers"],
        "test": ["pytest", "transformers"],
    },
    zip_safe=True,
    maintainer="vitpose_ros maintainers",
    maintainer_email="maintainers@vitpose-ros.invalid",
    description="ViTPose human pose estimation for ROS 2 through ONNX Runtime",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "vitpose-export = vitpose_ros.model.export:main",
            "vitpose-fetch = vitpose_ros.model.fetch:main",
            "vitpose-convert = vitpose_ros.model.convert:main",
            "vitpose-compose-graph = vitpose_ros.model.compose_graph:main",
            "vitpose-build-engine = vitpose_ros.core.build_engine:main",
            "vitpose-infer = vitpose_ros.core.infer:main",
            "vitpose-train = vitpose_ros.synthetic.train:main",
            "vitpose-evaluate = vitpose_ros.synthetic.evaluate:main",
            "vitpose-demo = vitpose_ros.synthetic.demo:main",
            "pose_node = vitpose_ros.ros.node:main",
            "synthetic_camera = vitpose_ros.synthetic.camera_node:main",
            "fetch = vitpose_ros.model.fetch:main",  # ros2 run vitpose_ros fetch --model b
        ],
    },
)
