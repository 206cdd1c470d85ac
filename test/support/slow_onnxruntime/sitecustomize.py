"""A deliberately slow model: every ONNX Runtime ``session.run`` first sleeps ``SLOW_RUN_S`` seconds.

Put this folder first on a subprocess's PYTHONPATH (Python imports ``sitecustomize`` at start-up):
the real onnxruntime then runs every inference as a large model on a slow machine would take,
e.g. ViT-B on a small CPU. Each run prints "slow run started" on stderr first, so a test knows
when an inference is under way.
"""
import os
import sys
import time

import onnxruntime

SLOW_RUN_S = float(os.environ.get("SLOW_RUN_S", "2.0"))
_real_run = onnxruntime.InferenceSession.run


def _slow_run(self, *args, **kwargs):
    print("slow run started", file=sys.stderr, flush=True)
    time.sleep(SLOW_RUN_S)
    return _real_run(self, *args, **kwargs)


onnxruntime.InferenceSession.run = _slow_run
