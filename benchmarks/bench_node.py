"""ROS shell overhead per frame: what the node adds around PoseEstimator.estimate.

    python benchmarks/bench_node.py [--variant s] [--persons 1 4 10] [--repeats 30]

A real PoseNode (random-weight model of the given variant, CPU) with a real subscriber on
/pose/keypoints and /pose/markers. Per frame of 640x480 rgb8 + a Detection2DArray of N persons it
times (medians): conversion (Image -> RGB array, detections -> boxes), sync (pairing by stamp),
publishing keypoints + markers, and PoseEstimator.estimate alone; then the shell's share as time
and as a ratio to estimate. Target: the ROS shell adds <= 5 % and <= 3 ms. Then the robot outputs
per frame: tracking (PoseNode.person_ids), One Euro smoothing (PoseNode.smooth) and the
depth lookup (PoseNode._keypoints_3d: 16UC1 Image -> metres, per-joint window medians,
back-projection) plus building the keypoints_3d cloud. Target: < 1 ms at 10 persons. Not a test;
docs/benchmarks.md records runs.
"""
from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="s")
    parser.add_argument("--persons", nargs="+", type=int, default=[1, 4, 10])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    import rclpy
    from model_factory import export_random_model
    from rclpy.parameter import Parameter
    from ros_harness import detections_msg, image_msg
    from sensor_msgs.msg import PointCloud2
    from visualization_msgs.msg import MarkerArray

    from vitpose_ros.ros.node import PoseNode, stamp_ns

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    rclpy.init()
    with tempfile.TemporaryDirectory() as tmp:
        model = export_random_model(pathlib.Path(tmp) / "m.onnx", variant=args.variant)
        node = PoseNode(parameter_overrides=[Parameter("model_path", value=str(model)),
                                             Parameter("providers", value=["cpu"]), Parameter("use_depth", value=True),
                                             Parameter("smoothing", value=True)])
        assert node.wait_until_active(60), node.configure_error
        listener = rclpy.create_node("bench_listener")
        listener.create_subscription(PointCloud2, "pose/keypoints", lambda m: None, 10)
        listener.create_subscription(MarkerArray, "pose/markers", lambda m: None, 10)
        deadline = time.monotonic() + 10
        while node.keypoints_pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            rclpy.spin_once(listener, timeout_sec=0.05)
        print(f"ViT-{args.variant.upper()} on {node.estimator.active_provider}; 640x480 rgb8; medians of {args.repeats}")
        header = f"{'persons':>7} {'convert ms':>10} {'sync ms':>8} {'publish ms':>10} {'shell ms':>9} {'estimate ms':>11} {'shell/estimate':>14}"
        print(header)
        print("-" * len(header))
        for persons in args.persons:
            x1 = rng.uniform(0, 520, persons)
            y1 = rng.uniform(0, 280, persons)
            boxes = np.stack([x1, y1, x1 + 110, y1 + 190], 1)
            stages = {"convert": [], "sync": [], "publish": [], "estimate": []}
            for i in range(args.repeats + 2):
                t_ns = 1_700_000_000_000_000_000 + i * 33_000_000
                image, detections = image_msg(rgb, t_ns), detections_msg(boxes, t_ns)
                t0 = time.perf_counter()
                node.sync.add_image(stamp_ns(image.header.stamp), image)
                pairs = node.sync.add_detections(stamp_ns(detections.header.stamp), detections)
                t1 = time.perf_counter()
                frame = node._convert(pairs[0][1])
                person_boxes, _ = node._person_boxes(pairs[0][2], frame.shape[1], frame.shape[0])
                t2 = time.perf_counter()
                keypoints = node.estimator.estimate(frame, person_boxes)
                t3 = time.perf_counter()
                node._publish(image.header, frame, keypoints, person_boxes)
                t4 = time.perf_counter()
                rclpy.spin_once(listener, timeout_sec=0)
                if i >= 2:  # first frames warm caches
                    stages["sync"].append(t1 - t0)
                    stages["convert"].append(t2 - t1)
                    stages["estimate"].append(t3 - t2)
                    stages["publish"].append(t4 - t3)
            m = {k: statistics.median(v) * 1e3 for k, v in stages.items()}
            shell = m["convert"] + m["sync"] + m["publish"]
            print(f"{persons:>7} {m['convert']:>10.2f} {m['sync']:>8.3f} {m['publish']:>10.2f} {shell:>9.2f} "
                  f"{m['estimate']:>11.1f} {100 * shell / m['estimate']:>13.1f}%", flush=True)
        robot_outputs_table(node, args.persons, args.repeats, rng)
        node.destroy_node()
        listener.destroy_node()
    rclpy.shutdown()


def robot_outputs_table(node, persons_list, repeats, rng) -> None:
    """Tracking, smoothing and depth lookup per frame, on people walking across a 640x480 depth image."""
    from ros_harness import header

    from vitpose_ros.ros.conversions import depth_to_image, keypoints_3d_to_cloud

    depth_m = rng.uniform(1.0, 6.0, (480, 640)).astype(np.float32)
    print(f"\nrobot outputs per frame (tracker iou, smoothing on, depth 640x480 16UC1, window "
          f"{node.params['depth_window']}); medians of {repeats}")
    head = f"{'persons':>7} {'track ms':>9} {'smooth ms':>10} {'depth ms':>9} {'cloud ms':>9} {'total ms':>9}"
    print(head)
    print("-" * len(head))
    for persons in persons_list:
        x1 = rng.uniform(0, 500, persons)
        y1 = rng.uniform(0, 280, persons)
        keypoints = np.concatenate([rng.uniform(0, 1, (persons, 17, 2)) * [110, 190] + np.stack([x1, y1], 1)[:, None],
                                    rng.uniform(0.2, 1.0, (persons, 17, 1))], axis=2).astype(np.float32)
        stages = {"track": [], "smooth": [], "depth": [], "cloud": []}
        for i in range(repeats + 2):
            t_ns = 1_800_000_000_000_000_000 + i * 33_000_000
            step = np.array([3.0 * i, 0.0])  # everyone walks right, 3 px per frame
            boxes = np.stack([x1, y1, x1 + 110, y1 + 190], 1) + np.tile(step, 2)
            moved = keypoints.copy()
            moved[..., :2] += step
            depth_msg = depth_to_image(depth_m, header(t_ns))
            node._on_depth(depth_msg)
            t0 = time.perf_counter()
            ids = node.person_ids(boxes, [""] * persons, t_ns / 1e9)
            t1 = time.perf_counter()
            smoothed = node.smooth(moved, ids, t_ns / 1e9)
            t2 = time.perf_counter()
            points = node._keypoints_3d(depth_msg.header, (480, 640, 3), smoothed)
            t3 = time.perf_counter()
            keypoints_3d_to_cloud(points, smoothed[..., 2], depth_msg.header, ids)
            t4 = time.perf_counter()
            if i >= 2:
                for name, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                    stages[name].append(value)
        m = {k: statistics.median(v) * 1e3 for k, v in stages.items()}
        print(f"{persons:>7} {m['track']:>9.3f} {m['smooth']:>10.3f} {m['depth']:>9.3f} {m['cloud']:>9.3f} "
              f"{sum(m.values()):>9.3f}", flush=True)


if __name__ == "__main__":
    main()
