"""Model load benchmark: file size, peak and steady RSS, load time, per ViTPose size and pipeline.

    python benchmarks/bench_load.py [--sizes s b l] [--pipelines host graph] [--repeats 1]
                                    [--model-dir /tmp/vitpose_bench_load]

Each size is exported once with random weights by the project's exporter (which also writes the
graph pipeline's ``<stem>_graph.onnx``) into ``--model-dir`` and kept there for later runs. Each
load is a fresh Python process that imports the runtime, then constructs
``PoseEstimator(model, providers=("cpu",), pipeline=...)`` (one warm-up estimate included):
load time is that construction, peak RSS the process's high-water mark (VmHWM), steady
RSS the resident size after it, and "import RSS" what the process held before loading. The
graph pipeline's network hash is remembered in the engine cache folder as on a robot's second
start; the first (cold) SHA-256 of the network is timed separately ("hash s"). Files: the
network (+ external data) for host, the graph file for graph. Medians over ``--repeats``, and the
range of the peaks (ONNX Runtime's session creation peaks at one of two levels, run to run).
Not a test: figures vary with the machine; docs/benchmarks.md records one run.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def status_bytes(field: str) -> int:
    """VmRSS (resident now) or VmHWM (its high-water mark) of this process. VmHWM starts afresh
    at exec; ru_maxrss would carry over the parent's peak (here: torch and the export)."""
    for line in open("/proc/self/status"):
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return 0


def child(model: str, pipeline: str, cache: str) -> None:
    """One load in this process; prints a JSON line."""
    import gc

    from vitpose_ros.core.estimator import PoseEstimator

    before = status_bytes("VmRSS")
    start = time.perf_counter()
    estimator = PoseEstimator(model, providers=("cpu",), pipeline=pipeline, engine_cache_dir=cache)
    load_s = time.perf_counter() - start
    gc.collect()
    steady = status_bytes("VmRSS")
    assert estimator.pipeline == pipeline, estimator.pipeline
    peak = status_bytes("VmHWM")
    print(json.dumps({"load_s": load_s, "peak": peak, "steady": steady, "import": before}))


def make_model(size: str, folder: pathlib.Path) -> pathlib.Path:
    from vitpose_ros.core.device_graph import graph_model_path

    path = folder / f"vitpose_{size}_coco.onnx"
    if path.is_file() and graph_model_path(path).is_file():
        return path
    from vitpose_ros.core.metadata import ModelMetadata
    from vitpose_ros.model import build_model, init_weights, variant_config
    from vitpose_ros.model.export import export_model

    print(f"exporting a random-weight ViTPose-{size.upper()} to {path} ...", file=sys.stderr, flush=True)
    cfg = variant_config(size)
    model = init_weights(build_model(cfg), seed=0)
    meta = ModelMetadata(variant=size, dataset="coco", num_keypoints=cfg.num_keypoints,
                         input_height=cfg.image_size[0], input_width=cfg.image_size[1], source_format="random")
    export_model(model, path, meta)
    return path


def files_size(path: pathlib.Path) -> int:
    from vitpose_ros.core.content_hash import model_files

    return sum(f.stat().st_size for f in model_files(path))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["s", "b", "l"], choices=["s", "b", "l", "h"])
    parser.add_argument("--pipelines", nargs="+", default=["host", "graph"], choices=["host", "graph"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--model-dir", default="/tmp/vitpose_bench_load")
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "PIPELINE", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    from bench_runtime import cpu_isa_flags

    from vitpose_ros.core.content_hash import HASH_MEMO_NAME, FileHashes, model_digest
    from vitpose_ros.core.device_graph import graph_model_path

    folder = pathlib.Path(args.model_dir)
    folder.mkdir(parents=True, exist_ok=True)
    cache = folder / "cache"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; ISA: {cpu_isa_flags()}")
    import onnxruntime

    print(f"onnxruntime {onnxruntime.__version__}, CPU provider; each load in its own process; "
          f"medians of {args.repeats}")
    header = (f"{'model':6} {'pipeline':8} {'file MB':>8} {'import MB':>9} {'peak MB':>8} {'steady MB':>9} "
              f"{'load s':>7} {'hash s':>7} {'peak range MB':>14}")
    rows = []
    for size in args.sizes:
        model = make_model(size, folder)
        start = time.perf_counter()
        model_digest(model, FileHashes())  # cold: not remembered (all the model's files)
        hash_s = time.perf_counter() - start
        model_digest(model, FileHashes(cache / HASH_MEMO_NAME))  # remembered, as on a second start
        for pipeline in args.pipelines:
            runs = []
            for _ in range(args.repeats):
                out = subprocess.run([sys.executable, __file__, "--child", str(model), pipeline, str(cache)],
                                     capture_output=True, text=True, check=True)
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            file = graph_model_path(model) if pipeline == "graph" else model
            rows.append(f"ViT-{size.upper():2} {pipeline:8} {files_size(file) / 1e6:8.0f} {median['import'] / 1e6:9.0f} "
                        f"{median['peak'] / 1e6:8.0f} {median['steady'] / 1e6:9.0f} {median['load_s']:7.2f} "
                        f"{hash_s if pipeline == 'graph' else float('nan'):7.2f} "
                        f"{min(r['peak'] for r in runs) / 1e6:6.0f}-{max(r['peak'] for r in runs) / 1e6:.0f}")
            print(rows[-1] if len(rows) > 1 else header + "\n" + rows[-1], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
