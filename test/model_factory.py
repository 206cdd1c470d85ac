"""Small random-weight ONNX models made on the spot (tests and benchmarks never download)."""
import pathlib

from vitpose_ros.model.export import export_model
from vitpose_ros.core.metadata import ModelMetadata


def export_random_model(path, variant="tiny", dataset="coco", num_keypoints=17, image_size=(256, 192),
                        decoder="classic", seed=0, batch=None, dark_kernel=11) -> pathlib.Path:
    from vitpose_ros.model import build_model, init_weights, variant_config

    cfg = variant_config(variant, num_keypoints=num_keypoints, image_size=image_size, decoder=decoder)
    model = init_weights(build_model(cfg), seed=seed)
    meta = ModelMetadata(variant=variant, dataset=dataset, num_keypoints=num_keypoints,
                         input_height=image_size[0], input_width=image_size[1], decoder=decoder,
                         source_format="random", dark_kernel=dark_kernel)
    return export_model(model, path, meta, batch=batch)


def model_with_stale_graph(path) -> pathlib.Path:
    """A model re-exported (other weights) over a path whose graph file still holds the old network."""
    from vitpose_ros.core.device_graph import graph_model_path

    model = export_random_model(path, seed=0)
    old_graph = graph_model_path(model).read_bytes()
    export_random_model(model, seed=1)
    graph_model_path(model).write_bytes(old_graph)
    return model
