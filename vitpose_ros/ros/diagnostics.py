"""/diagnostics of the pose node: one status per concern, with levels an operator can act on.

Plain functions of times and counters (``Health``), so every level is testable without ROS:

  inputs           image / detections / depth rates; WARN when an expected input is silent
  pairing          detections matched to images by stamp; WARN when images arrive but nothing
                   pairs for ``stale_s`` (the detector must copy the image's stamp)
  pose estimation  fps, latency, persons; ERROR when frames reach inference but none has been
                   processed for ``stale_s``, or the last ``FAILURES_FOR_ERROR`` inferences failed
  provider         the execution provider asked for and the one running; WARN while they differ

Status names start with the node's fully qualified name, so two pose nodes do not collide.
Times are monotonic seconds; None means "never".
"""
from __future__ import annotations

from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR
FAILURES_FOR_ERROR = 3  # inferences failed in a row before pose estimation is an ERROR


@dataclass
class Health:
    now: float
    stale_s: float
    state: str  # lifecycle state: unconfigured, inactive, active, ... ("configuring" while loading)
    active_since: float | None = None
    last_image: float | None = None
    last_detections: float | None = None
    last_depth: float | None = None
    last_paired: float | None = None  # a frame handed to inference
    waiting_since: float | None = None  # oldest frame handed to inference since the last one processed
    use_detections: bool = True
    use_depth: bool = False
    failures_in_a_row: int = 0
    last_failure: str = ""
    configure_error: str = ""

    def silent_for(self, last: float | None) -> float:
        """Seconds since the event last happened, or since activation if that is later."""
        times = [t for t in (last, self.active_since) if t is not None]
        return self.now - max(times) if times else 0.0

    def recent(self, last: float | None) -> bool:
        return last is not None and self.now - last <= self.stale_s


def _not_running(health: Health) -> tuple[int, str] | None:
    if health.state == "active":
        return None
    if health.configure_error:
        return ERROR, f"configure failed: {health.configure_error}"
    return OK, {"configuring": "loading the model", "unconfigured": "unconfigured: waiting for configure",
                "inactive": "inactive: waiting for activate"}.get(health.state, health.state)


def inputs_level(health: Health) -> tuple[int, str]:
    not_running = _not_running(health)
    if not_running:
        return OK, not_running[1]
    silent = [(name, health.silent_for(last)) for name, last, used in (
        ("image", health.last_image, True), ("detections", health.last_detections, health.use_detections),
        ("depth image", health.last_depth, health.use_depth)) if used]
    missing = [f"no {name} for {seconds:.1f} s" for name, seconds in silent if seconds > health.stale_s]
    if missing:
        return WARN, "; ".join(missing)
    return OK, "receiving"


def pairing_level(health: Health) -> tuple[int, str]:
    not_running = _not_running(health)
    if not_running:
        return OK, not_running[1]
    if not health.use_detections:
        return OK, "not used (use_detections is false)"
    unpaired = health.silent_for(health.last_paired)
    if health.recent(health.last_image) and unpaired > health.stale_s:
        if health.recent(health.last_detections):
            return WARN, (f"images and detections arrive but none paired for {unpaired:.1f} s: the detector must "
                          "copy the image's header stamp (or raise sync_slop)")
        return WARN, f"images arrive but no detections to pair them with for {unpaired:.1f} s"
    return OK, "pairing"


def inference_level(health: Health) -> tuple[int, str]:
    not_running = _not_running(health)
    if not_running:
        return not_running
    if health.failures_in_a_row >= FAILURES_FOR_ERROR:
        return ERROR, f"the last {health.failures_in_a_row} inferences failed: {health.last_failure}"
    if health.waiting_since is not None and health.now - health.waiting_since > health.stale_s:
        return ERROR, (f"frames arrive but none processed for {health.now - health.waiting_since:.1f} s "
                       "(inference stuck or slower than diagnostics_stale_s, or every frame is bad input)")
    return OK, "running" if health.last_paired is not None else "waiting for input"


def provider_level(requested: str, active: str) -> tuple[int, str]:
    if not active:
        return OK, "no model loaded"
    if requested != active:
        return WARN, f"{requested} was requested but {active} runs (see the node's start-up log)"
    return OK, active


def _text(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def status(name: str, level_message: tuple[int, str], values: dict, hardware_id: str = "") -> DiagnosticStatus:
    level, message = level_message
    return DiagnosticStatus(level=level, name=name, message=message, hardware_id=hardware_id,
                            values=[KeyValue(key=k, value=_text(v)) for k, v in values.items()])
