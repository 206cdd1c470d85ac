"""/diagnostics of the pose node: each level through ROS, the provider fallback with an
onnxruntime-gpu stand-in (real CPU onnxruntime underneath), require_gpu, and the log bridge."""
import time

import numpy as np
import onnx
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from model_factory import export_random_model
from node_process import NodeProcess
from ros_harness import Harness, detections_msg, diagnostic_status, diagnostic_values, image_msg
from test_runtime import scene

from vitpose_ros.ros import diagnostics
from vitpose_ros.ros.diagnostics import ERROR, OK, WARN, Health

OK_, WARN_, ERROR_ = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR
BOXES = np.array([[100, 60, 260, 420], [330, 150, 450, 330]], float)
T0 = 1_700_000_000_000_000_000
CONCERNS = ("pose estimation", "inputs", "pairing", "provider")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return export_random_model(tmp_path_factory.mktemp("diagnostics") / "tiny.onnx")


@pytest.fixture(scope="module")
def one_person_model(model, tmp_path_factory):
    """The tiny model with its heatmaps reshaped to one person: ONNX Runtime fails every run with
    two or more persons (a real inference failure), one person works."""
    proto = onnx.load(model)
    graph = proto.graph
    output = graph.output[0].name
    for node in graph.node:
        node.output[:] = [f"{output}_network" if name == output else name for name in node.output]
    graph.initializer.append(onnx.numpy_helper.from_array(np.array([1, 17, 64, 48], np.int64), "one_person"))
    graph.node.append(onnx.helper.make_node("Reshape", [f"{output}_network", "one_person"], [output]))
    path = tmp_path_factory.mktemp("diagnostics") / "one_person.onnx"
    onnx.save(proto, path)
    return path


# -- the level functions, on their own -----------------------------------------------------------

def health(**changes) -> Health:
    """Active for 10 s, images and detections arriving and pairing, last frame processed just now."""
    now = 100.0
    values = dict(now=now, stale_s=3.0, state="active", active_since=now - 10, last_image=now - 0.1,
                  last_detections=now - 0.1, last_paired=now - 0.1)
    return Health(**(values | changes))


@pytest.mark.parametrize("changes, inputs, pairing, inference", [
    ({}, OK, OK, OK),
    ({"last_detections": None, "last_paired": None}, WARN, WARN, OK),  # detector silent since activation
    ({"last_paired": 95.0}, OK, WARN, OK),  # both arrive, stamps never match
    ({"last_image": 90.0, "last_detections": 90.0, "last_paired": 90.0}, WARN, OK, OK),  # camera stopped
    ({"waiting_since": 96.0}, OK, OK, ERROR),  # frames reach inference, none processed for 4 s
    ({"waiting_since": 98.0}, OK, OK, OK),  # 2 s: under stale_s
    ({"failures_in_a_row": 3, "last_failure": "Fail: reshape"}, OK, OK, ERROR),
    ({"state": "inactive"}, OK, OK, OK),
    ({"state": "unconfigured", "configure_error": "model file not found"}, OK, OK, ERROR),
    ({"use_detections": False, "last_detections": None, "last_paired": 99.9}, OK, OK, OK),
    ({"use_depth": True}, WARN, OK, OK),  # depth expected, none arrived since activation
])
def test_levels(changes, inputs, pairing, inference):
    h = health(**changes)
    assert (diagnostics.inputs_level(h)[0], diagnostics.pairing_level(h)[0], diagnostics.inference_level(h)[0]) \
        == (inputs, pairing, inference)


def test_provider_level():
    assert diagnostics.provider_level("CUDAExecutionProvider", "CPUExecutionProvider")[0] == WARN
    assert diagnostics.provider_level("CPUExecutionProvider", "CPUExecutionProvider")[0] == OK
    assert diagnostics.provider_level("", "")[0] == OK  # nothing loaded yet


# -- each level through ROS ------------------------------------------------------------------------

def _wait_status(h: Harness, concern: str, level: int, after: int, says="", timeout=10.0) -> DiagnosticStatus:
    """The first ``concern`` status from message ``after`` on at ``level`` whose message has ``says``."""
    def found():
        return next((diagnostic_status(d, concern) for d in h.diagnostics[after:]
                     if diagnostic_status(d, concern).level == level and says in diagnostic_status(d, concern).message),
                    None)
    h.wait_for(lambda: found() is not None, f"{concern} at level {level} saying {says!r}", timeout)
    return found()


def _stream(h: Harness, seconds: float, detection_offset_ns=None, start_ns=T0):
    """Images at 10 Hz for ``seconds``; detections stamped ``detection_offset_ns`` off (None: none)."""
    for i in range(int(seconds * 10)):
        t = start_ns + i * 100_000_000
        h.image_pub.publish(image_msg(scene(0), t))
        if detection_offset_ns is not None:
            h.det_pub.publish(detections_msg(BOXES, t + detection_offset_ns))
        time.sleep(0.1)


def test_levels_through_ros_ok_then_warn_when_nothing_pairs(ros, model):
    h = Harness({"model_path": str(model), "providers": ["cpu"], "diagnostics_period": 0.1,
                 "diagnostics_stale_s": 0.5})
    try:
        _stream(h, 0.5, detection_offset_ns=0)
        h.wait_keypoints(1)
        seen = len(h.diagnostics)
        h.wait_for(lambda: len(h.diagnostics) > seen, "diagnostics")
        array = h.diagnostics[-1]
        assert [s.name for s in array.status] == [f"/vitpose: {c}" for c in CONCERNS]  # fully qualified
        assert [s.level for s in array.status] == [OK_] * 4, [(s.name, s.message) for s in array.status]
        assert set(diagnostic_values(array, "pose estimation")) >= {
            "fps", "latency_mean_ms", "latency_p95_ms", "persons_per_frame", "frames_processed",
            "frames_skipped_bad_input", "inference_failures"}
        assert set(diagnostic_values(array, "inputs")) >= {"image_rate_hz", "detections_rate_hz",
                                                            "frames_lost_before_node"}
        assert set(diagnostic_values(array, "pairing")) >= {"frames_dropped", "detections_dropped", "images_waiting",
                                                             "detections_waiting", "time_jumps"}
        assert float(diagnostic_values(array, "inputs")["image_rate_hz"]) > 0

        seen = len(h.diagnostics)  # the detector stops: images keep coming
        _stream(h, 1.2, start_ns=T0 + 10**9)
        _wait_status(h, "pairing", WARN_, seen, "no detections")
        _wait_status(h, "inputs", WARN_, seen, "no detections")
        assert diagnostic_status(h.diagnostics[-1], "pose estimation").level == OK_  # nothing to infer: no error

        seen = len(h.diagnostics)  # detections come back with stamps 1 s off: they never pair
        _stream(h, 1.2, detection_offset_ns=10**9, start_ns=T0 + 5 * 10**9)
        _wait_status(h, "pairing", WARN_, seen, "copy the image's header stamp")
        assert diagnostic_status(h.diagnostics[-1], "inputs").level == OK_

        count, seen = len(h.keypoints), len(h.diagnostics)  # paired again: OK again
        _stream(h, 0.5, detection_offset_ns=0, start_ns=T0 + 9 * 10**9)
        h.wait_keypoints(count + 1)
        _wait_status(h, "pairing", OK_, seen)
    finally:
        h.close()


def test_failed_inferences_are_an_error_counted_apart_from_bad_input(ros, one_person_model):
    h = Harness({"model_path": str(one_person_model), "providers": ["cpu"], "diagnostics_period": 0.1})
    try:
        seen, deadline, i = len(h.diagnostics), time.monotonic() + 20, 0

        def failed_status():
            return next((diagnostic_status(d, "pose estimation") for d in h.diagnostics[seen:]
                         if "inferences failed" in diagnostic_status(d, "pose estimation").message), None)
        while failed_status() is None and time.monotonic() < deadline:  # a frame at a time, as a camera would
            t = T0 + i * 200_000_000  # two persons: every inference fails inside ONNX Runtime
            h.image_pub.publish(image_msg(scene(0), t))
            h.det_pub.publish(detections_msg(BOXES, t))
            i += 1
            time.sleep(0.3)
        status = failed_status()
        assert status is not None and status.level == ERROR_
        assert "Reshape" in status.message
        values = {kv.key: kv.value for kv in status.values}
        assert int(values["inference_failures"]) >= 3 and values["frames_skipped_bad_input"] == "0"
        assert h.keypoints == [] and h.node.stats.frames_skipped == 0
        seen = len(h.diagnostics)  # one person works: the node recovers by itself
        h.image_pub.publish(image_msg(scene(0), T0 + 10**9))
        h.det_pub.publish(detections_msg(BOXES[:1], T0 + 10**9))
        assert h.wait_keypoints(1).height == 1
        _wait_status(h, "pose estimation", OK_, seen)
    finally:
        h.close()


# -- provider fallback: onnxruntime-gpu whose CUDA libraries cannot load --------------------------

def _gpu_standin_node(model, *params):
    return NodeProcess(["--log-level", "vitpose:=debug", "-p", f"model_path:={model}", "-p", "providers:=[cuda,cpu]",
                        "-p", "use_detections:=false", "-p", "diagnostics_period:=0.2", *params],
                       site="onnxruntime_gpu_standin")


def test_cuda_fallback_starts_says_so_and_warns_in_diagnostics(ros, model):
    node = _gpu_standin_node(model)
    h = Harness({}, use_detections=False, start_pose_node=False)
    try:
        h.wait_for_pose_node(timeout=60)
        rgb = scene(9, h=200, w=160)  # small: a best-effort frame between processes
        deadline = time.monotonic() + 30
        while not h.keypoints and time.monotonic() < deadline:
            h.image_pub.publish(image_msg(rgb, T0))
            time.sleep(0.3)
        assert h.keypoints and node.process.poll() is None
        # preload_dlls printed: the core logs it at debug level, through the bridge to the ROS logger
        debug = node.lines[node.wait_line("Failed to load libcudart.so.12")]
        assert "[DEBUG]" in debug and "[vitpose]" in debug
        running = [line for line in node.lines if "model tiny.onnx:" in line]
        assert len(running) == 1 and "[WARN]" in running[0]
        # that is the one line above debug naming the provider that runs
        assert [line for line in node.lines if "CPUExecutionProvider" in line and "[DEBUG]" not in line
                and "[vitpose]" in line and "model tiny.onnx:" not in line] == []
        assert "on CPUExecutionProvider (CUDAExecutionProvider was requested but did not load)" in running[0]
        assert "Traceback" not in node.output and "Logging error" not in node.output
        h.wait_for(lambda: h.diagnostics, "diagnostics")
        provider = diagnostic_status(h.diagnostics[-1], "provider")
        values = {kv.key: kv.value for kv in provider.values}
        assert provider.level == WARN_ and "CUDAExecutionProvider was requested" in provider.message
        assert (values["provider_requested"], values["provider_active"]) == ("CUDAExecutionProvider",
                                                                            "CPUExecutionProvider")
    finally:
        h.close()
        node.stop()


def test_require_gpu_turns_the_fallback_into_a_start_up_error(model):
    node = _gpu_standin_node(model, "-p", "require_gpu:=true")
    try:
        assert node.wait_exit(timeout=60) == 1
        errors = [line for line in node.lines if "require_gpu" in line]
        assert len(errors) == 1 and "[ERROR]" in errors[0] and "CPUExecutionProvider" in errors[0]
        assert "Traceback" not in node.output
    finally:
        node.stop()
