"""Runtime benchmark: where the time of PoseEstimator.estimate goes, against the machine's limit.

    python benchmarks/bench_runtime.py [--variants s b] [--batches 1 2 4 8] [--providers cpu]
                                       [--repeats 10] [--no-transformers] [--pipeline host|graph|both]

For each variant (random weights: timing does not depend on them) and batch of persons on a
640x480 frame it prints: pre-processing, bare session.run, decoding, end-to-end estimate (medians),
the overhead ratio end-to-end / bare session.run on the same batch, the model's GFLOPs, achieved
GFLOP/s and the fraction of the measured fp32 GEMM roofline. With transformers installed it also
times transformers' VitPoseImageProcessor + VitPoseForPoseEstimation on the same frame and boxes.
``--pipeline graph`` runs that table through the device-side pipeline; ``--pipeline both`` prints
instead, per model and batch (default 1, 4, 16): host-path e2e, graph-path e2e, the bare network
run, graph e2e / bare and graph e2e / host e2e, the three timed in turn within each repeat
(``--statistic min`` reports the best of the repeats, steadier where others share the machine).
Not a test: figures vary with the machine; docs/benchmarks.md records runs with their machines.

    python benchmarks/bench_runtime.py --precision fp32 int8 [--int8 dynamic static] [--batches 1 4 8]

prints the precision table instead: end-to-end estimate per precision and INT8 flavour, measured
interleaved in one run (fp32, then each INT8 model, repeated, each call after a 50 ms pause so
no other session's threads are still spinning), with the speed-up over fp32 and the CPU's ISA
flags; ``--providers`` and ``--pipeline`` apply (e.g. ``--providers cuda --pipeline graph``).
``--int8`` takes flavours as ``mode[:part,part]`` (``vitpose_ros.model.int8`` PARTS), e.g.
``dynamic:blocks,attention`` to also quantize the attention's activation MatMuls.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from vitpose_ros.core.estimator import PoseEstimator  # noqa: E402
from vitpose_ros.model.export import export_model  # noqa: E402
from vitpose_ros.core.metadata import ModelMetadata  # noqa: E402

# Pause before each timed call of the precision table (see precision_table).
SESSION_GAP_S = 0.05


def model_gflops(cfg) -> float:
    """Multiply-adds x 2 of one forward pass at batch 1 (matmuls and convolutions only)."""
    d, depth = cfg.embed_dim, cfg.depth
    rows, cols = cfg.grid_size
    tokens = rows * cols
    hidden = int(d * cfg.mlp_ratio)
    patch = tokens * d * 3 * cfg.patch_size ** 2
    per_block = tokens * (3 * d * d + d * d + 2 * d * hidden) + 2 * tokens * tokens * d
    if cfg.decoder == "classic":
        c = cfg.deconv_channels
        # ConvTranspose k4 s2: every input pixel feeds a 4x4 output patch.
        head = rows * cols * d * c * 16 + (2 * rows) * (2 * cols) * c * c * 16
        head += cfg.heatmap_size[0] * cfg.heatmap_size[1] * c * cfg.num_keypoints
    else:
        head = cfg.heatmap_size[0] * cfg.heatmap_size[1] * d * cfg.num_keypoints * 9
    return 2 * (patch + depth * per_block + head) / 1e9


def gemm_roofline_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Best fp32 GEMM rate of the machine it runs on, via ONNX Runtime's MatMul (the kernels the model uses)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [size, size])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [size, size])
    c = helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "gemm", [a, b], [c])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    session.run(None, {"a": x, "b": x})
    best = min(_timed(lambda: session.run(None, {"a": x, "b": x})) for _ in range(repeats))
    numpy_best = min(_timed(lambda: x @ x) for _ in range(repeats))
    return 2 * size ** 3 / min(best, numpy_best) / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def frame_and_boxes(batch: int):
    rng = np.random.default_rng(batch)
    image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    x1 = rng.uniform(0, 500, batch)
    y1 = rng.uniform(0, 250, batch)
    boxes = np.stack([x1, y1, x1 + rng.uniform(60, 140, batch), y1 + rng.uniform(150, 230, batch)], 1)
    return image, boxes


def bench_estimator(estimator, batch: int, repeats: int) -> dict:
    image, boxes = frame_and_boxes(batch)
    estimator.estimate(image, boxes)  # warm-up at this batch size
    stages = {"preprocess": [], "run": [], "decode": [], "estimate": [], "bare_run": []}
    model_input, _, _ = estimator.batcher.prepare(image, boxes)
    model_input = model_input.copy()
    for _ in range(repeats):
        stages["bare_run"].append(_timed(lambda: estimator.engine.run(model_input)))
        stages["estimate"].append(_timed(lambda: estimator.estimate(image, boxes)))
        t = estimator.last_timings
        stages["preprocess"].append(t["preprocess"])
        stages["run"].append(t["inference"])
        stages["decode"].append(t["decode"])
    return {k: statistics.median(v) for k, v in stages.items()}


def bench_pipelines(path, args) -> None:
    """The host vs graph table (--pipeline both): same model, frame and boxes, interleaved."""
    host = PoseEstimator(path, providers=args.providers, fp16=args.fp16, max_batch=max(args.batches), pipeline="host")
    graph = PoseEstimator(path, providers=args.providers, fp16=args.fp16, max_batch=max(args.batches),
                          pipeline="graph")
    variant = host.metadata.variant
    for batch in args.batches:
        image, boxes = frame_and_boxes(batch)
        model_input = host.batcher.prepare(image, boxes)[0].copy()
        runs = {"host": lambda: host.estimate(image, boxes), "graph": lambda: graph.estimate(image, boxes),
                "bare": lambda: host.engine.run(model_input)}
        times = {name: [] for name in runs}
        for fn in runs.values():
            fn()  # warm-up at this batch size
        for _ in range(args.repeats):
            for name, fn in runs.items():
                fn()  # untimed: the two pipelines hold separate weights, so each is timed with warm
                times[name].append(_timed(fn))  # caches, as a node running only one of them sees
        statistic = min if args.statistic == "min" else statistics.median
        t = {name: statistic(v) for name, v in times.items()}
        print(f"{'ViT-' + variant.upper():<6}{batch:>3} {t['host'] * 1e3:>11.1f} {t['graph'] * 1e3:>12.1f} "
              f"{t['bare'] * 1e3:>9.1f} {t['graph'] / t['bare']:>12.3f} {t['graph'] / t['host']:>12.3f}", flush=True)
    print(f"provider: {graph.active_provider} (graph), {host.active_provider} (host)")


def bench_transformers(variant: str, batch: int, repeats: int) -> float | None:
    try:
        import torch
        from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation
        from transformers.models.vitpose.image_processing_pil_vitpose import VitPoseImageProcessorPil
    except ImportError:
        return None
    from vitpose_ros.model import variant_config

    cfg = variant_config(variant)
    backbone = VitPoseBackboneConfig(hidden_size=cfg.embed_dim, num_hidden_layers=cfg.depth,
                                     num_attention_heads=cfg.num_heads, layer_norm_eps=1e-6)
    model = VitPoseForPoseEstimation(VitPoseConfig(backbone_config=backbone, use_simple_decoder=False,
                                                   num_labels=17)).eval()
    processor = VitPoseImageProcessorPil()
    image, boxes = frame_and_boxes(batch)
    coco = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1).tolist()

    def once():
        inputs = processor(images=[image], boxes=[coco], return_tensors="pt")
        with torch.no_grad():
            outputs = model(**inputs)
        processor.post_process_pose_estimation(outputs, boxes=[coco])

    once()
    return statistics.median(_timed(once) for _ in range(max(3, repeats // 3)))


def cpu_isa_flags() -> str:
    """The SIMD flags INT8 speed depends on (AVX-512 VNNI / AVX-VNNI: int8 dot products)."""
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    wanted = [f for f in flags if f.startswith(("avx512", "amx")) or f in ("avx2", "fma", "avx_vnni")]
    return " ".join(sorted(wanted)) or "none of avx2/avx512/vnni"


def int8_models(fp32_path: pathlib.Path, flavours, folder: pathlib.Path) -> dict:
    """flavour spec ('static', 'dynamic:blocks,attention') -> INT8 copy of the fp32 model (with the
    graph pipeline's file beside it, as vitpose-convert writes)."""
    from vitpose_ros.model.compose_graph import write_graph
    from vitpose_ros.model.int8 import DEFAULT_PARTS, quantize_model
    from vitpose_ros.synthetic.calibration import BOXES_FILE, write_calibration_frames

    calibration = folder / "calibration"
    if not (calibration / BOXES_FILE).is_file():
        write_calibration_frames(calibration, frames=16)  # ranges only; timing does not depend on them
    models = {}
    for spec in flavours:
        mode, _, parts = spec.partition(":")
        parts = tuple(parts.split(",")) if parts else DEFAULT_PARTS
        models[f"int8 {spec}"] = quantize_model(
            fp32_path, folder / f"{fp32_path.stem}_{spec.replace(':', '_').replace(',', '_')}.onnx", mode=mode,
            calibration=calibration, boxes_file=calibration / BOXES_FILE, parts=parts)
        write_graph(models[f"int8 {spec}"])
    return models


def precision_table(args) -> None:
    """fp32 against INT8 flavours, end-to-end estimate, measured interleaved in one run.

    Besides wall-clock medians it prints the ratios of process CPU time per call: with
    ``--threads 1`` that is the work itself, which other processes on a shared machine barely
    change (wall-clock time there depends on who else runs)."""
    from vitpose_ros.model import build_model, init_weights, variant_config

    flavours = args.int8 if "int8" in args.precision else []
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; ISA: {cpu_isa_flags()}")
    print(f"onnxruntime {__import__('onnxruntime').__version__}, providers {args.providers}, "
          f"intra-op threads {args.threads or 'default'}; medians of {args.repeats}, interleaved")
    names = (["fp32"] if "fp32" in args.precision else []) + [f"int8 {f}" for f in flavours]
    widths = {n: max(12, len(n) + 4) for n in names}
    header = f"{'model':<6}{'N':>3} " + " ".join(f"{n + ' ms':>{widths[n]}}" for n in names)
    if "fp32" in names:
        header += "".join(f" {'x ' + n[5:]:>{widths[n]}}" for n in names[1:])
        header += "".join(f" {'cpu x ' + n[5:]:>{widths[n] + 4}}" for n in names[1:])
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants:
            fp32 = export_model(init_weights(build_model(variant_config(variant))), pathlib.Path(tmp) / f"{variant}.onnx",
                                ModelMetadata(variant=variant, source_format="random"))
            paths = ({"fp32": fp32} if "fp32" in names else {}) | int8_models(fp32, flavours, pathlib.Path(tmp))
            pipeline = "auto" if args.pipeline == "both" else args.pipeline
            estimators = {name: PoseEstimator(path, providers=args.providers, max_batch=max(args.batches),
                                              cpu_threads=args.threads, pipeline=pipeline)
                          for name, path in paths.items()}
            if variant == args.variants[0]:
                first = next(iter(estimators.values()))
                print(f"provider {first.active_provider}, {first.pipeline} pipeline")
            for batch in args.batches:
                image, boxes = frame_and_boxes(batch)
                wall = {name: [] for name in estimators}
                cpu = {name: [] for name in estimators}
                for estimator in estimators.values():
                    estimator.estimate(image, boxes)  # warm-up at this batch size
                for _ in range(args.repeats):
                    for name, estimator in estimators.items():
                        # The previous session's worker threads spin for a while after its run (ORT's
                        # default); on 2 cores they would steal this run's time. A camera-paced node
                        # runs one session with gaps between frames: time each call after a gap.
                        time.sleep(SESSION_GAP_S)
                        cpu_start, start = time.process_time(), time.perf_counter()
                        estimator.estimate(image, boxes)
                        wall[name].append(time.perf_counter() - start)
                        cpu[name].append(time.process_time() - cpu_start)
                wall = {name: statistics.median(t) for name, t in wall.items()}
                cpu = {name: statistics.median(t) for name, t in cpu.items()}
                row = f"{'ViT-' + variant.upper():<6}{batch:>3} " + " ".join(
                    f"{wall[n] * 1e3:>{widths[n]}.1f}" for n in names)
                if "fp32" in names:
                    row += "".join(f" {wall['fp32'] / wall[n]:>{widths[n]}.2f}" for n in names[1:])
                    row += "".join(f" {cpu['fp32'] / cpu[n]:>{widths[n] + 4}.2f}" for n in names[1:])
                print(row, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=["s", "b"])
    parser.add_argument("--batches", nargs="+", type=int, default=None,
                        help="persons per frame (default 1 2 4 8; with --pipeline both 1 4 16)")
    parser.add_argument("--providers", default="cpu")
    parser.add_argument("--fp16", action="store_true", help="TensorRT fp16 (GPU only)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--no-transformers", action="store_true")
    parser.add_argument("--statistic", choices=["median", "min"], default="median",
                        help="--pipeline both: median, or min (steadier on a shared machine)")
    parser.add_argument("--pipeline", choices=["host", "graph", "both"], default="host",
                        help="host/graph: the stage table through that pipeline; both: host vs graph vs bare run")
    parser.add_argument("--precision", nargs="+", choices=("fp32", "int8"), default=None,
                        help="print the precision table for these precisions instead (--providers, --pipeline apply)")
    parser.add_argument("--int8", nargs="+", default=["dynamic", "static"],
                        help="INT8 flavours for --precision: mode[:part,part], e.g. static dynamic:blocks,attention")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads for --precision; 0: ORT's default")
    args = parser.parse_args()
    if args.batches is None:
        args.batches = [1, 4, 16] if args.pipeline == "both" else [1, 2, 4, 8]
    if args.precision:
        precision_table(args)
        return

    from vitpose_ros.model import build_model, init_weights, variant_config

    if args.pipeline == "both":
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
              f"{args.statistic} of {args.repeats}, host/graph/bare timed in turn")
        print(f"{'model':<6}{'N':>3} {'host e2e ms':>11} {'graph e2e ms':>12} {'bare ms':>9} "
              f"{'graph/bare':>12} {'graph/host':>12}")
        with tempfile.TemporaryDirectory() as tmp:
            for variant in args.variants:
                path = export_model(init_weights(build_model(variant_config(variant))), pathlib.Path(tmp) / f"{variant}.onnx",
                                    ModelMetadata(variant=variant, source_format="random"))
                bench_pipelines(path, args)
        return

    roofline = gemm_roofline_gflops()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.python_implementation()} {platform.python_version()}")
    print(f"fp32 GEMM roofline (2048^3 MatMul, best of ORT/numpy): {roofline:.1f} GFLOP/s")
    header = (f"{'model':<6}{'N':>3} {'prep ms':>8} {'run ms':>9} {'decode ms':>10} {'e2e ms':>9} "
              f"{'bare run':>9} {'overhead':>9} {'GFLOP':>7} {'GFLOP/s':>8} {'roof %':>7} {'HF ms':>9}")
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants:
            cfg = variant_config(variant)
            model = init_weights(build_model(cfg))
            path = export_model(model, pathlib.Path(tmp) / f"{variant}.onnx",
                                ModelMetadata(variant=variant, source_format="random"))
            del model
            estimator = PoseEstimator(path, providers=args.providers, fp16=args.fp16,
                                      max_batch=max(args.batches), pipeline=args.pipeline)
            gflop = model_gflops(cfg)
            for batch in args.batches:
                r = bench_estimator(estimator, batch, args.repeats)
                achieved = gflop * batch / r["bare_run"]
                hf = None if args.no_transformers else bench_transformers(variant, batch, args.repeats)
                print(f"{'ViT-' + variant.upper():<6}{batch:>3} {r['preprocess'] * 1e3:>8.2f} {r['run'] * 1e3:>9.1f} "
                      f"{r['decode'] * 1e3:>10.2f} {r['estimate'] * 1e3:>9.1f} {r['bare_run'] * 1e3:>9.1f} "
                      f"{r['estimate'] / r['bare_run']:>9.3f} {gflop * batch:>7.1f} {achieved:>8.1f} "
                      f"{100 * achieved / roofline:>6.0f}% {'' if hf is None else f'{hf * 1e3:.1f}':>9}",
                      flush=True)
    print(f"provider: {estimator.active_provider}; overhead = e2e estimate / bare session.run (same batch)")


if __name__ == "__main__":
    main()
