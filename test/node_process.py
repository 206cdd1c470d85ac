"""The pose node as a real process (python -m vitpose_ros.ros.node), its log read line by line."""
import os
import pathlib
import subprocess
import sys
import threading
import time

SUPPORT = pathlib.Path(__file__).parent / "support"


class NodeProcess:
    """``ros_args``: what follows --ros-args; ``site``: a folder under test/support put first on
    PYTHONPATH (its sitecustomize changes onnxruntime in that process only)."""

    def __init__(self, ros_args: list[str], site: str | None = None, env: dict | None = None):
        env = {**os.environ, **(env or {})}
        if site:
            env["PYTHONPATH"] = os.pathsep.join([str(SUPPORT / site), env.get("PYTHONPATH", "")])
        self.lines: list[str] = []
        self.process = subprocess.Popen([sys.executable, "-m", "vitpose_ros.ros.node", "--ros-args", *ros_args],
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_line(self, text: str, timeout: float = 30.0, after: int = 0) -> int:
        """Index of the first line from ``after`` on containing ``text``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, line in enumerate(self.lines[after:], after):
                if text in line:
                    return i
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.02)
        raise AssertionError(f"no line with {text!r} in the node's output:\n{self.output}")

    def wait_exit(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        print(self.output)  # shown by pytest only when the test fails
