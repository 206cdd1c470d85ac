"""Soak test: the pose node on a long synthetic stream; memory, frame accounting and latency.

    python benchmarks/soak_node.py [--frames 10000] [--rate 15] [--people 4]

The pose node runs in its own process (``python -m vitpose_ros.ros.node``, the shipped demo
model, CPU) as it would on a robot; the synthetic camera (640x480, animated people, detections)
and a recorder run in this process. Both processes use the Fast DDS profile pose.launch.py applies
(config/fastdds_large_frames.xml), so 640x480 frames cross between them.

Printed: the node's resident memory (VmRSS) after warm-up and at the end (and every
``--report-every`` frames), frames published / processed / dropped / skipped / still waiting /
lost before the node (reported by DDS) and unaccounted (they must add up: 0 unaccounted), and latency p50/p95 from image stamp to keypoints received.
Targets: RSS growth under 20 MB, every frame accounted for.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vitpose_ros.ros.launch_args import FASTDDS_PROFILE_VARIABLES, dds_environment  # noqa: E402

WARMUP_FRAMES = 100  # RSS "at start" is taken once this many frames came back (caches and arenas filled)


def rss_mb(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class SoakResult:
    frames_published: int = 0
    keypoints_received: int = 0
    node_counters: dict = field(default_factory=dict)  # from the node's last /diagnostics
    rss_samples: list = field(default_factory=list)  # (frames received, node RSS MB, this process RSS MB)
    latency_p50_ms: float = float("nan")
    latency_p95_ms: float = float("nan")
    seconds: float = 0.0

    @property
    def accounted(self) -> dict:
        c = self.node_counters
        counts = {"processed": c.get("frames_processed", 0), "dropped": c.get("frames_dropped", 0),
                  "skipped": c.get("frames_skipped_bad_input", 0), "failed": c.get("inference_failures", 0),
                  "waiting": c.get("images_waiting", 0),
                  "lost_before_node": c.get("frames_lost_before_node", 0)}  # DDS reported them missing
        return counts | {"unaccounted": self.frames_published - sum(counts.values())}

    @property
    def rss_growth_mb(self) -> float:
        return self.rss_samples[-1][1] - self.rss_samples[0][1] if self.rss_samples else float("nan")


def run_soak(frames: int, rate: float = 15.0, people: int = 4, report_every: int = 1000, model_path=None,
             say=print) -> SoakResult:
    import numpy as np

    # Fast DDS reads the profile when the first participant is made: set it before rclpy starts.
    profile = dds_environment("auto", REPO, environ={})
    os.environ.update(profile)
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import PointCloud2

    from vitpose_ros.synthetic.camera_node import SyntheticCamera
    from vitpose_ros.synthetic import demo_model_path

    namespace = f"/soak_{os.getpid()}"
    model_path = model_path or demo_model_path()
    env = {k: v for k, v in os.environ.items() if k not in FASTDDS_PROFILE_VARIABLES} | profile
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    node = subprocess.Popen([sys.executable, "-m", "vitpose_ros.ros.node", "--ros-args", "-r", f"__ns:={namespace}",
                             "-p", f"model_path:={model_path}", "-p", "providers:=[cpu]"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    result = SoakResult()
    latencies = np.full(frames, np.nan)  # preallocated: the benchmark itself must not grow either
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        recorder = rclpy.create_node("soak_recorder", namespace=namespace, context=context)

        def on_keypoints(msg):
            if result.keypoints_received < frames:
                stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
                latencies[result.keypoints_received] = (time.time_ns() - stamp) / 1e6
            result.keypoints_received += 1
            done = result.keypoints_received
            if done == WARMUP_FRAMES or (done > WARMUP_FRAMES and done % report_every == 0):
                sample = (done, rss_mb(node.pid), rss_mb(os.getpid()))
                result.rss_samples.append(sample)
                say(f"{done:6d} frames back: pose node RSS {sample[1]:7.1f} MB (camera+recorder process {sample[2]:7.1f} MB)")

        def on_diagnostics(msg):
            # the pose node's statuses (pose estimation, inputs, pairing, provider), one message's worth
            values = {kv.key: kv.value for status in msg.status if status.name.startswith(f"{namespace}/vitpose:")
                      for kv in status.values}
            if "frames_processed" in values:
                result.node_counters = {k: int(v) for k, v in values.items() if v.isdigit()}

        recorder.create_subscription(PointCloud2, "pose/keypoints", on_keypoints, 50)
        recorder.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 10)
        camera = SyntheticCamera(namespace=namespace, context=context, parameter_overrides=[
            Parameter("frames", value=frames), Parameter("rate", value=float(rate)),
            Parameter("num_people", value=people), Parameter("mode", value="animated")])
        camera.timer.cancel()  # started below, once the pose node listens
        # single-threaded: rclpy's MultiThreadedExecutor re-polls holding the GIL while a callback
        # group is busy, which stalls the camera (vitpose_ros/synthetic/demo.py)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(recorder)
        executor.add_node(camera)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        _wait(lambda: camera.image_pub.get_subscription_count() > 0 and camera.detections_pub.get_subscription_count() > 0
              and recorder.count_publishers(f"{namespace}/pose/keypoints") > 0, 60.0, node)
        start = time.monotonic()
        camera.timer.reset()
        _wait(lambda: camera.frame_index >= frames, frames / rate * 3 + 60, node)
        # the node settles: its counters cover every frame it received, two diagnostics in a row agree
        last, stable_since = None, time.monotonic()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = dict(result.node_counters)
            if now != last:
                last, stable_since = now, time.monotonic()
            elif time.monotonic() - stable_since > 2.5:
                break
            time.sleep(0.2)
        result.seconds = time.monotonic() - start
        result.frames_published = camera.frame_index
        sample = (result.keypoints_received, rss_mb(node.pid), rss_mb(os.getpid()))
        result.rss_samples.append(sample)
        executor.shutdown(timeout_sec=2.0)
        spinner.join(timeout=5.0)
        camera.destroy_node()
        recorder.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
        node.terminate()
        try:
            node.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.kill()
    measured = latencies[~np.isnan(latencies)]
    if measured.size:
        result.latency_p50_ms, result.latency_p95_ms = (float(v) for v in np.percentile(measured, [50, 95]))
    return result


def _wait(condition, timeout: float, node=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        if node is not None and node.poll() is not None:
            raise RuntimeError(f"pose node exited: {node.stderr.read()[-2000:]}")
        time.sleep(0.05)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=15.0, help="camera frames per second")
    parser.add_argument("--people", type=int, default=4)
    parser.add_argument("--report-every", type=int, default=1000, help="print RSS every this many frames")
    args = parser.parse_args(argv)
    if args.frames <= WARMUP_FRAMES:
        parser.error(f"--frames must be more than the {WARMUP_FRAMES} warm-up frames")
    say = lambda line: print(line, flush=True)  # noqa: E731
    say(f"soak: {args.frames} frames of 640x480, {args.people} people, {args.rate:g} fps, demo model on CPU "
        f"({os.cpu_count()} cores)")
    r = run_soak(args.frames, args.rate, args.people, args.report_every, say=say)
    a = r.accounted
    say(f"published {r.frames_published} in {r.seconds:.0f} s; the node: processed {a['processed']}, dropped "
        f"{a['dropped']} (newer frame while busy / unmatched), skipped {a['skipped']} (bad input), failed "
        f"{a['failed']} (inference), still waiting {a['waiting']}, lost before the node (DDS reported) {a['lost_before_node']}; unaccounted {a['unaccounted']}; "
        f"keypoints received {r.keypoints_received}")
    (start_frames, start_rss, _), (_, end_rss, _) = r.rss_samples[0], r.rss_samples[-1]
    say(f"pose node RSS: {start_rss:.1f} MB after {start_frames} frames -> {end_rss:.1f} MB at the end: "
        f"{r.rss_growth_mb:+.1f} MB (target < 20 MB)")
    say(f"latency image stamp -> keypoints received: p50 {r.latency_p50_ms:.1f} ms, p95 {r.latency_p95_ms:.1f} ms")
    every_frame = a["unaccounted"] == 0 and r.keypoints_received == a["processed"]
    ok = r.rss_growth_mb < 20 and every_frame
    say("PASS" if ok else "FAIL: " + ", ".join(
        (["memory grew by 20 MB or more"] if r.rss_growth_mb >= 20 else [])
        + (["frames unaccounted for"] if not every_frame else [])))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
