"""The pose node's lifecycle through ROS: transitions by ChangeState / GetState service calls (what
`ros2 lifecycle set / get` sends), services answering while a slow model loads, and Ctrl-C or a
lifecycle shutdown in the middle of a long inference (a real node process, slow model)."""
import gc
import signal
import time
import weakref

import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from model_factory import export_random_model
from node_process import NodeProcess
from rcl_interfaces.srv import GetParameters
from ros_harness import Harness, detections_msg, diagnostic_status, image_msg
from test_runtime import scene

BOXES = [[100, 60, 260, 420]]
T0 = 1_700_000_000_000_000_000
SLOW_RUN_S = 3.0  # every inference of the slow model (test/support/slow_onnxruntime)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return export_random_model(tmp_path_factory.mktemp("lifecycle") / "tiny.onnx")


class Lifecycle:
    """`ros2 lifecycle get / set` for the pose node, as service calls from the harness's peer."""

    def __init__(self, harness: Harness, node="/vitpose"):
        self.harness = harness
        self.change = harness.peer.create_client(ChangeState, f"{node}/change_state")
        self.get = harness.peer.create_client(GetState, f"{node}/get_state")
        assert self.change.wait_for_service(timeout_sec=30) and self.get.wait_for_service(timeout_sec=30)
        # Across processes a service can be "ready" before its request/response topics have matched
        # both ways, and a first request is then lost: GetState (harmless to repeat) until answered.
        for _ in range(10):
            future = self.get.call_async(GetState.Request())
            if self._done_within(future, 1.0):
                break
        time.sleep(0.5)  # ChangeState's topics matched in the same discovery round

    def _done_within(self, future, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        return future.done()

    def request(self, label: str):
        return self.change.call_async(ChangeState.Request(transition=Transition(label=label)))

    def set(self, label: str, timeout=30.0) -> bool:
        future = self.request(label)
        self.harness.wait_for(future.done, f"the {label} transition", timeout)
        return future.result().success

    def state(self) -> str:
        future = self.get.call_async(GetState.Request())
        self.harness.wait_for(future.done, "GetState", 5.0)
        return future.result().current_state.label


def send_frame(harness: Harness, t_ns: int, rgb=None, with_detections=True):
    harness.image_pub.publish(image_msg(scene(0) if rgb is None else rgb, t_ns))
    if with_detections:
        harness.det_pub.publish(detections_msg(BOXES, t_ns))


def test_transitions_by_service_calls(ros, model):
    h = Harness({"model_path": str(model), "providers": ["cpu"], "autostart": False}, wait_active=False)
    try:
        lifecycle = Lifecycle(h)
        assert lifecycle.state() == "unconfigured" and h.node.estimator is None
        assert lifecycle.set("configure") and lifecycle.state() == "inactive"
        assert h.node.estimator is not None
        h.wait_for(lambda: h.peer.count_publishers("/pose/keypoints") == 1, "the keypoints publisher")
        assert h.image_pub.get_subscription_count() == 0  # inactive: no input subscribed yet

        assert lifecycle.set("activate") and lifecycle.state() == "active"
        h.wait_for_pose_node()
        send_frame(h, T0)
        h.wait_keypoints(1)

        assert lifecycle.set("deactivate") and lifecycle.state() == "inactive"
        h.wait_for(lambda: h.image_pub.get_subscription_count() == 0, "the node to unsubscribe")
        send_frame(h, T0 + 1)
        time.sleep(0.5)
        assert len(h.keypoints) == 1  # inference stopped

        assert lifecycle.set("activate")
        h.wait_for_pose_node()
        send_frame(h, T0 + 2)
        assert h.wait_keypoints(2).header.stamp.nanosec == (T0 + 2) % 10**9

        estimator = weakref.ref(h.node.estimator)
        assert lifecycle.set("deactivate") and lifecycle.set("cleanup") and lifecycle.state() == "unconfigured"
        gc.collect()
        assert h.node.estimator is None and estimator() is None  # the model and its sessions are freed
        h.wait_for(lambda: h.peer.count_publishers("/pose/keypoints") == 0, "the publishers to go")

        assert lifecycle.set("configure") and lifecycle.set("activate")  # configures again from scratch
        h.wait_for_pose_node()
        send_frame(h, T0 + 3)
        h.wait_keypoints(3)

        assert lifecycle.set("shutdown") and lifecycle.state() == "finalized"
        assert h.node.finished.done() and h.node.finished.result() == 0  # spin_node would exit 0
        assert h.node.estimator is None
    finally:
        h.close()


def _slow_node(model, *params):
    return NodeProcess(["-p", f"model_path:={model}", "-p", "providers:=[cpu]", "-p", "use_detections:=false",
                        "-p", "diagnostics_period:=0.2", "-p", "diagnostics_stale_s:=0.5", *params],
                       site="slow_onnxruntime", env={"SLOW_RUN_S": str(SLOW_RUN_S)})


def _start_an_inference(h: Harness, node: NodeProcess) -> float:
    """Stream small frames (best effort across processes) until one reaches inference; its start time."""
    rgb = scene(9, h=200, w=160)
    after, deadline, i = len(node.lines), time.monotonic() + 30, 0
    while time.monotonic() < deadline:
        if any("slow run started" in line for line in node.lines[after:]):
            return time.monotonic()
        h.image_pub.publish(image_msg(rgb, T0 + i * 10**8))
        i += 1
        time.sleep(0.2)
    raise AssertionError(f"no inference started:\n{node.output}")


def _inference_status(h: Harness, level: int, after: int):
    h.wait_for(lambda: any(diagnostic_status(d, "pose estimation").level == level for d in h.diagnostics[after:]),
               f"pose estimation at level {level}", timeout=10)
    return next(diagnostic_status(d, "pose estimation") for d in h.diagnostics[after:]
                if diagnostic_status(d, "pose estimation").level == level)


def _assert_clean_exit(node: NodeProcess, code: int):
    assert code == 0, node.output
    for sign in ("Traceback", "frame failed", "RCLError", "InvalidHandle", "lifecycle transition failed"):
        assert sign not in node.output, node.output


def test_services_answer_while_loading_and_ctrl_c_mid_inference_exits_cleanly(ros, model):
    node = _slow_node(model, "-p", "autostart:=false")
    h = Harness({}, use_detections=False, start_pose_node=False)
    try:
        lifecycle = Lifecycle(h)
        configuring = lifecycle.request("configure")
        node.wait_line("slow run started")  # configure's warm-up inference: the model is loading
        assert lifecycle.state() == "configuring"
        parameters = h.peer.create_client(GetParameters, "/vitpose/get_parameters")
        assert parameters.wait_for_service(timeout_sec=5)
        answer = parameters.call_async(GetParameters.Request(names=["model_path"]))
        h.wait_for(answer.done, "the parameter service", timeout=2.0)
        assert answer.result().values[0].string_value == str(model)
        assert not configuring.done()  # answered while the model was still loading
        h.wait_for(lambda: any(diagnostic_status(d, "pose estimation").message == "loading the model"
                               for d in h.diagnostics), "diagnostics published while loading", timeout=SLOW_RUN_S)
        h.wait_for(configuring.done, "configure", timeout=30)
        assert configuring.result().success and lifecycle.set("activate")
        h.wait_for_pose_node(timeout=30)

        seen = len(h.diagnostics)
        started = _start_an_inference(h, node)
        # the inference takes longer than diagnostics_stale_s: an ERROR while it runs
        stuck = _inference_status(h, DiagnosticStatus.ERROR, seen)
        assert "none processed" in stuck.message
        published = len(h.keypoints)
        node.process.send_signal(signal.SIGINT)  # Ctrl-C, mid-inference
        code = node.wait_exit(timeout=30)
        ended = time.monotonic()
        print(f"exited {ended - started - SLOW_RUN_S:+.2f} s after the inference's end")
        assert ended - started < SLOW_RUN_S + 2.0, f"exited {ended - started - SLOW_RUN_S:.1f} s after the inference"
        _assert_clean_exit(node, code)
        time.sleep(0.3)
        assert len(h.keypoints) == published  # the frame in flight was not published
    finally:
        h.close()
        node.stop()


def test_lifecycle_shutdown_mid_inference_ends_the_process(ros, model):
    node = _slow_node(model)  # autostart: configures and activates itself
    h = Harness({}, use_detections=False, start_pose_node=False)
    try:
        h.wait_for_pose_node(timeout=30)
        lifecycle = Lifecycle(h)
        assert lifecycle.state() == "active"
        started = _start_an_inference(h, node)
        shutdown = lifecycle.request("shutdown")
        code = node.wait_exit(timeout=30)
        ended = time.monotonic()
        print(f"exited {ended - started - SLOW_RUN_S:+.2f} s after the inference's end")
        assert ended - started < SLOW_RUN_S + 2.0, f"exited {ended - started - SLOW_RUN_S:.1f} s after the inference"
        _assert_clean_exit(node, code)
        h.wait_for(shutdown.done, "the shutdown response", timeout=2.0)
        assert shutdown.result().success
    finally:
        h.close()
        node.stop()


def test_a_failed_configure_is_an_error_in_diagnostics_and_the_node_stays_up(ros, tmp_path):
    missing = tmp_path / "vitpose_b_coco.onnx"
    h = Harness({"model_path": str(missing), "autostart": False, "diagnostics_period": 0.1}, wait_active=False)
    try:
        lifecycle = Lifecycle(h)
        seen = len(h.diagnostics)
        assert not lifecycle.set("configure") and lifecycle.state() == "unconfigured"
        status = _inference_status(h, DiagnosticStatus.ERROR, seen)
        assert status.message.startswith("configure failed: model file not found") and str(missing) in status.message
        assert not h.node.finished.done()  # a manager drives it: no exit, it may configure again
    finally:
        h.close()
