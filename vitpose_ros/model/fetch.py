"""Fetch published ViTPose weights by name, export them to ONNX where the launch file looks.

    python -m vitpose_ros.model.fetch --model s|b|l|h [--dataset coco] [--precision fp32]
                                     [--format auto|export|onnx]
                                     [--source auto|transformers|easy_vitpose] [--output PATH] [--force]
    python -m vitpose_ros.model.fetch --detector NAME [--output PATH] [--force]
    (also: vitpose-fetch ..., ros2 run vitpose_ros fetch ...)

Downloads with huggingface_hub (its cache, its progress bars, HF_HUB_OFFLINE / HF_ENDPOINT /
HF_TOKEN honoured) and prints the model's path as the last line. ``--format export`` (the choice
of ``auto`` where torch is installed) downloads checkpoints, exports them with
vitpose_ros.model.export and checks ONNX Runtime against torch like the export CLI does;
``--format onnx`` (``auto`` without torch) downloads a published ONNX file and adopts it into our
metadata contract (vitpose_ros.model.onnx_adopt lists the files). ``--detector`` fetches a person
detector (vitpose_ros.model.detector_export lists them). Pose models get the graph pipeline's
file ``<stem>_graph.onnx`` beside them (vitpose_ros.model.compose_graph). Where the checkpoints come from:

    COCO, ViTPose-B       usyd-community/vitpose-base            transformers, Apache-2.0
    COCO, ViTPose-S/L/H   usyd-community/vitpose-plus-<size>     transformers ViTPose++, COCO expert, Apache-2.0
    other keypoint sets   JunkyByte/easy_ViTPose torch/<set>/vitpose-<s>-<set>.pth
                          the original ViTPose weights as published for easy_ViTPose (ViTPose's
                          Apache-2.0 licence)

The transformers ViTPose++ checkpoints carry only the COCO keypoint head, so every other keypoint
set comes from the original checkpoints.
"""
from __future__ import annotations

import argparse
import pathlib
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass

from ..core.cli import cli_error
from ..core.metadata import precision_model_path
from ..core.model_files import MODEL_SIZES, default_model_path

DATASETS = ("coco", "wholebody", "mpii", "aic", "ap10k", "apt36k")
SOURCES = ("auto", "transformers", "easy_vitpose")
FORMATS = ("auto", "export", "onnx")
PRECISIONS = ("fp32", "fp16")  # what fetch makes; int8 needs calibration data (vitpose-convert)
HUB_URL = "https://huggingface.co"
_SIZE_WORDS = {"s": "small", "b": "base", "l": "large", "h": "huge"}
_TRANSFORMERS_FILES = ("config.json", "model.safetensors")


class FetchError(RuntimeError):
    """Fetching failed; the message is the one line the CLI prints."""


@dataclass(frozen=True)
class Source:
    """A published checkpoint: Hub repository, the files to download (the checkpoint last)."""

    repo_id: str
    files: tuple[str, ...]
    description: str
    licence: str

    @property
    def url(self) -> str:
        return f"{HUB_URL}/{self.repo_id}"

    def file_url(self, filename: str) -> str:
        return f"{self.url}/resolve/main/{filename}"


def source_for(size: str, dataset: str = "coco", source: str = "auto") -> Source:
    """Where the weights of ViTPose-<size> for ``dataset`` are published (see the module doc)."""
    if size not in MODEL_SIZES:
        raise FetchError(f"--model must be one of {', '.join(MODEL_SIZES)}, got {size!r}")
    if dataset not in DATASETS:
        raise FetchError(f"--dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    if source not in SOURCES:
        raise FetchError(f"--source must be one of {', '.join(SOURCES)}, got {source!r}")
    if source != "easy_vitpose" and dataset == "coco":
        if size == "b":
            return Source("usyd-community/vitpose-base", _TRANSFORMERS_FILES,
                          "ViTPose-B COCO, transformers format", "Apache-2.0")
        return Source(f"usyd-community/vitpose-plus-{_SIZE_WORDS[size]}", _TRANSFORMERS_FILES,
                      f"ViTPose++-{size.upper()} COCO expert, transformers format", "Apache-2.0")
    if source == "transformers":
        raise FetchError(f"no transformers-format checkpoint has a {dataset} head (the ViTPose++ ones carry "
                         "only COCO's); use --source easy_vitpose or auto")
    return Source("JunkyByte/easy_ViTPose", (f"torch/{dataset}/vitpose-{size}-{dataset}.pth",),
                  f"ViTPose-{size.upper()} {dataset}, original weights as published for easy_ViTPose",
                  "Apache-2.0 (ViTPose's licence)")


EXPORT_BY_HAND = "python -m vitpose_ros.model.export --checkpoint CHECKPOINT --output OUT.onnx"


def download(source: Source, export_by_hand: str = EXPORT_BY_HAND) -> pathlib.Path:
    """Download (or take from the Hugging Face cache) the source's files; the checkpoint's path.

    For transformers checkpoints that is the snapshot folder (config.json + model.safetensors).
    On failure the FetchError says how to do it by hand, ending with ``export_by_hand``.
    """
    paths = download_files(source, export_by_hand)
    return paths[-1].parent if source.files == _TRANSFORMERS_FILES else paths[-1]


def download_files(source: Source, export_by_hand: str, optional: tuple[str, ...] = ()) -> list[pathlib.Path | None]:
    """The local paths of the source's files (downloaded or from the cache), in their order;
    files named in ``optional`` that the repository lacks are None instead of a failure."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import logging as hub_logging

    paths = []
    verbosity = hub_logging.get_verbosity()
    hub_logging.set_verbosity_error()  # its per-retry warnings; our one-line error says what failed
    try:
        for filename in source.files:
            try:
                paths.append(pathlib.Path(hf_hub_download(source.repo_id, filename)))
            except Exception as exc:  # hub errors, httpx connection errors, OSError: all one answer
                if filename in optional:
                    paths.append(None)
                    continue
                raise FetchError(_download_failure(source, filename, exc, export_by_hand)) from None
    finally:
        hub_logging.set_verbosity(verbosity)
    return paths


def _download_failure(source: Source, filename: str, exc: Exception, export_by_hand: str) -> str:
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    # LocalEntryNotFoundError (offline, or no connection, and not cached) is an EntryNotFoundError too
    if isinstance(exc, (RepositoryNotFoundError, EntryNotFoundError)) and not isinstance(exc, LocalEntryNotFoundError):
        why = f"{source.repo_id} has no {filename} ({type(exc).__name__})"
    else:
        why = f"cannot reach {source.url} or find {filename} in the Hugging Face cache ({type(exc).__name__})"
    fetched = " and ".join(source.file_url(f) for f in source.files)
    into = " into one folder CHECKPOINT" if len(source.files) > 1 else " as CHECKPOINT"
    return f"{why}. By hand: download {fetched}{into} on a machine with network, copy it here, then: {export_by_hand}"


def export_verified(checkpoint: pathlib.Path, output: pathlib.Path, dataset: str, progress) -> tuple[str, float]:
    """Checkpoint -> ONNX at ``output`` (written whole or not at all); (summary, ONNX-vs-torch diff)."""
    from . import build_model, load_checkpoint
    from .export import PARITY_TOLERANCE, export_model, metadata_for, onnx_vs_torch

    progress.set_description("reading checkpoint")
    imported = load_checkpoint(checkpoint, dataset=dataset)
    model = build_model(imported.config, imported.state_dict)
    progress.update()
    output.parent.mkdir(parents=True, exist_ok=True)
    # Export into a scratch folder beside the target, then move: an interrupted run leaves no
    # half-written model that the next run would take as "already there".
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".fetch-") as scratch:
        staged = pathlib.Path(scratch) / output.name
        progress.set_description("exporting to ONNX")
        export_model(model, staged, metadata_for(imported))
        progress.update()
        progress.set_description("checking ONNX against torch")
        diff = onnx_vs_torch(model, staged)
        progress.update()
        if not diff <= PARITY_TOLERANCE:
            raise FetchError(f"exported ONNX differs from torch by {diff:.3g} (> {PARITY_TOLERANCE}); nothing written")
        # the model last: its presence means "already there", so everything beside it comes first
        # (ViTPose-H's external weights, the graph pipeline's file and its weights)
        for written in sorted(pathlib.Path(scratch).iterdir()):
            if written != staged:
                shutil.move(str(written), str(output.with_name(written.name)))
        shutil.move(str(staged), str(output))
    cfg = imported.config
    summary = (f"ViTPose-{cfg.variant} ({imported.source_format}, {imported.dataset}, {cfg.num_keypoints} keypoints, "
               f"input {cfg.image_size[0]}x{cfg.image_size[1]})")
    return summary, diff


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vitpose-fetch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=MODEL_SIZES, help="ViTPose size")
    parser.add_argument("--detector", default=None,
                        help="a person detector by name instead of --model (vitpose_ros.model.detector_export)")
    parser.add_argument("--format", default="auto", choices=FORMATS,
                        help="export: checkpoints exported here (needs torch); onnx: a published ONNX file "
                             "adopted (no torch); auto: export where torch is installed, else onnx")
    parser.add_argument("--dataset", default="coco", choices=DATASETS, help="keypoint set (default coco)")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS, help="model precision (default fp32)")
    parser.add_argument("--source", default="auto", choices=SOURCES,
                        help="auto: transformers checkpoints where published, else easy_ViTPose's originals")
    parser.add_argument("--output", default=None,
                        help="ONNX file to write (default: where the launch file looks, "
                             "$VITPOSE_MODEL_DIR or ~/.local/share/vitpose_ros/models)")
    parser.add_argument("--force", action="store_true", help="fetch and export again even if the file exists")
    return parser.parse_args(argv)


def chosen_format(requested: str) -> str:
    """``auto``: export where torch is installed, else the published ONNX."""
    if requested != "auto":
        return requested
    import importlib.util

    return "export" if importlib.util.find_spec("torch") is not None else "onnx"


def fetch_published_onnx(args, output: pathlib.Path) -> str:
    """Download the published ONNX of ``args.model``/``args.dataset`` and adopt it as ``output``."""
    from .onnx_adopt import PREPROCESSOR_CONFIG, adopt, onnx_source_for

    published = onnx_source_for(args.model, args.dataset, args.source)
    source = Source(published.repo_id, published.files, published.description, published.licence)
    print(f"fetching {source.description} from {source.url} (licence: {source.licence})", flush=True)
    paths = download_files(source, f"python -m vitpose_ros.model.onnx_adopt --input ONNX --model {args.model} "
                                   f"--dataset {args.dataset} --output {output}", optional=(PREPROCESSOR_CONFIG,))
    config = paths[1] if len(paths) > 1 else None
    meta = adopt(paths[0], output, published, config)
    return (f"adopted {published.repo_id}/{published.onnx_file} (ViTPose-{meta.variant} {meta.dataset}, "
            f"{meta.num_keypoints} keypoints, input {meta.input_height}x{meta.input_width}); "
            "ONNX Runtime CPU run checked")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.detector is not None:
        from .detector_export import fetch_detector

        return fetch_detector(args)
    if args.model is None:
        return cli_error("vitpose-fetch", "give --model SIZE (s, b, l, h) or --detector NAME")
    fp32_output = (pathlib.Path(args.output).expanduser() if args.output
                   else default_model_path(args.model, args.dataset))
    output = precision_model_path(fp32_output, args.precision)
    if output.is_file() and not args.force:
        print(f"already there, nothing to do (--force fetches again): {output}")
        print(output)
        return 0

    from .export import ExportError
    from .onnx_adopt import AdoptError
    from .precision import PrecisionError, convert_model

    failures = (FetchError, AdoptError, ExportError, PrecisionError)
    start = time.perf_counter()
    try:
        if args.force or not fp32_output.is_file():  # an fp16 copy is made from the fp32 model
            if chosen_format(args.format) == "onnx":
                print(fetch_published_onnx(args, fp32_output))
                from .compose_graph import write_graph_or_say_why

                write_graph_or_say_why(fp32_output)  # export_model writes it on the other route
            else:
                from tqdm import tqdm

                from . import CheckpointError

                failures += (CheckpointError,)
                source = source_for(args.model, args.dataset, args.source)
                print(f"fetching {source.description} from {source.url} (licence: {source.licence})", flush=True)
                checkpoint = download(source, f"python -m vitpose_ros.model.export --checkpoint CHECKPOINT "
                                              f"--dataset {args.dataset} --output {fp32_output}")
                with tqdm(total=3, unit="step", file=sys.stderr, leave=False) as progress:
                    summary, diff = export_verified(checkpoint, fp32_output, args.dataset, progress)
                print(f"exported {summary} in {time.perf_counter() - start:.0f} s; "
                      f"ONNX Runtime vs torch max abs diff {diff:.3g}")
        if args.precision != "fp32":
            convert_model(fp32_output, args.precision, output)
            print(f"{args.precision} copy of {fp32_output.name} written")
            from .compose_graph import write_graph_or_say_why

            write_graph_or_say_why(output)
    except failures as exc:
        return cli_error("vitpose-fetch", str(exc))
    model_path_arg = "" if fp32_output == default_model_path(args.model, "coco") else f" model_path:={fp32_output}"
    precision_arg = " fp16:=true" if args.precision == "fp16" else ""
    print(f"start it with: ros2 launch vitpose_ros pose.launch.py model:={args.model}{model_path_arg}{precision_arg}")
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
