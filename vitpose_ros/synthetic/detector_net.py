"""A tiny CenterNet-style person detector (torch) and its export to the detector file contract.

The network sees the whole image at low resolution and predicts, on a grid of stride 4, a person
"centre" heat map and the distances from each cell centre to the box's four sides. Decoding is
part of the exported graph (optionally on outputs averaged with the mirrored image's, ``flip_test``):
peaks are the cells equal to their 3x3 max-pool (so no NMS is needed), the best ``queries`` of
them are kept by TopK and turned into boxes in network-input pixels; the runtime
(``vitpose_ros.core.detector``) only thresholds them and maps them to the camera image.

    net = TinyCenterNet()                       # train: net(x) -> (heat logits, log-distances)
    export_detector(DecodedDetector(net), "d.onnx", DetectorMetadata(...))
    net = net_from_onnx("d.onnx")               # back from an exported file, to train further
"""
from __future__ import annotations

import pathlib
import tempfile
import warnings

import torch
from torch import nn

from ..core.detector import DETECTOR_INPUT, DETECTOR_OUTPUTS, DetectorMetadata

STRIDE = 4
DEFAULT_QUERIES = 32


def _conv(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TinyCenterNet(nn.Module):
    """Plain conv backbone down to stride 64 (context for people up to the image height), a
    top-down path back to stride 4, and two 1x1 heads: heat (1) and log side distances (4)."""

    def __init__(self, widths=(16, 24, 48, 64, 96, 128), head: int = 32):
        super().__init__()
        w0, w1, w2, w3, w4, w5 = widths
        self.stem = nn.Sequential(_conv(3, w0, 2), _conv(w0, w1, 2))  # stride 4
        self.down = nn.ModuleList([nn.Sequential(_conv(cin, cout, 2), _conv(cout, cout))
                                   for cin, cout in ((w1, w2), (w2, w3), (w3, w4), (w4, w5))])  # 8 .. 64
        levels = (w1, w2, w3, w4, w5)
        self.lateral = nn.ModuleList([nn.Conv2d(c, head, 1) for c in levels])
        self.smooth = nn.ModuleList([_conv(head, head) for _ in levels[:-1]])
        self.heat = nn.Sequential(_conv(head, head), nn.Conv2d(head, 1, 1))
        self.sides = nn.Sequential(_conv(head, head), nn.Conv2d(head, 4, 1))
        nn.init.constant_(self.heat[-1].bias, -4.6)  # CenterNet's prior: sigmoid = 0.01 everywhere

    def forward(self, x):
        features = [self.stem(x)]
        for block in self.down:
            features.append(block(features[-1]))
        top = self.lateral[-1](features[-1])
        for i in range(len(features) - 2, -1, -1):
            top = nn.functional.interpolate(top, size=features[i].shape[-2:], mode="nearest")
            top = self.smooth[i](top + self.lateral[i](features[i]))
        return self.heat(top), self.sides(top)


class DecodedDetector(nn.Module):
    """``net`` plus its decoding, with the contract's outputs: boxes (N,Q,4) in input pixels,
    scores (N,Q), classes (N,Q) int64 (all 0: the one class is "person").

    ``flip_test``: the graph also runs ``net`` on the mirrored images and averages the two heat maps
    (and log side distances, left and right swapped) before picking peaks; it costs a second pass
    of the network and makes centres of people who overlap each other stand out better."""

    def __init__(self, net: nn.Module, queries: int = DEFAULT_QUERIES, stride: int = STRIDE,
                 flip_test: bool = False):
        super().__init__()
        self.net, self.queries, self.stride, self.flip_test = net, queries, stride, flip_test

    def forward(self, images):
        if self.flip_test:
            logits, log_sides = self.net(torch.cat([images, images.flip(-1)]))
            n = images.shape[0]
            heat = (torch.sigmoid(logits[:n]) + torch.sigmoid(logits[n:].flip(-1))) / 2
            log_sides = (log_sides[:n] + log_sides[n:].flip(-1)[:, [2, 1, 0, 3]]) / 2  # mirrored: left <-> right
        else:
            logits, log_sides = self.net(images)
            heat = torch.sigmoid(logits)
        peaks = heat * (nn.functional.max_pool2d(heat, 3, 1, 1) == heat).to(heat.dtype)
        n, _, grid_h, grid_w = heat.shape
        scores, index = peaks.flatten(1).topk(min(self.queries, grid_h * grid_w), dim=1)
        sides = log_sides.flatten(2).gather(2, index[:, None, :].expand(-1, 4, -1)).exp() * self.stride
        cx = (index % grid_w).to(heat.dtype) * self.stride + self.stride / 2
        cy = torch.div(index, grid_w, rounding_mode="floor").to(heat.dtype) * self.stride + self.stride / 2
        height, width = images.shape[-2] * 1.0, images.shape[-1] * 1.0
        boxes = torch.stack([(cx - sides[:, 0]).clamp(min=0), (cy - sides[:, 1]).clamp(min=0),
                             torch.minimum(cx + sides[:, 2], torch.full_like(cx, width)),
                             torch.minimum(cy + sides[:, 3], torch.full_like(cy, height))], dim=2)
        return boxes, scores, torch.zeros_like(index)


def export_detector(model: nn.Module, output, metadata: DetectorMetadata, opset: int = 17,
                    batch: int | None = None) -> pathlib.Path:
    """Write ``model`` (eval mode; images -> boxes, scores, classes) as a contract detector file."""
    import onnx

    output = pathlib.Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(batch or 1, 3, metadata.input_height, metadata.input_width)
    dynamic = None if batch else {name: {0: "batch"} for name in (DETECTOR_INPUT,) + DETECTOR_OUTPUTS}
    with tempfile.TemporaryDirectory() as tmp:
        raw = pathlib.Path(tmp) / "raw.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
            torch.onnx.export(model.eval(), (dummy,), str(raw), input_names=[DETECTOR_INPUT],
                              output_names=list(DETECTOR_OUTPUTS), opset_version=opset, dynamic_axes=dynamic,
                              dynamo=False)
        proto = onnx.load(str(raw))
    proto.doc_string = f"person detector ({metadata.source}) exported by vitpose_ros"
    del proto.metadata_props[:]
    for key, value in metadata.to_props().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save_model(proto, str(output))
    onnx.checker.check_model(str(output))
    return output


def net_from_onnx(path) -> TinyCenterNet:
    """The ``TinyCenterNet`` inside an exported detector file, to train further.

    The export folds each batch norm into the convolution before it, so the statistics are gone:
    every batch norm comes back as the identity plus the folded bias (weight 1, mean 0, variance
    1 - eps), which is exact in eval mode. Train it with ``train_mode(net, freeze_batchnorm=True)`` so
    batch statistics never replace them. Raises ValueError for a file that is not this network."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    weights = {init.name: torch.from_numpy(numpy_helper.to_array(init).copy()) for init in proto.graph.initializer}
    # "/net/down.0/down.0.1/down.0.1.0/Conv" is the module down.0.1.0
    convs = {node.name[len("/net/"):-len("/Conv")].split("/")[-1]: node for node in proto.graph.node
             if node.op_type == "Conv" and node.name.startswith("/net/")}
    level_convs = ["stem.0.0", "stem.1.0"] + [f"down.{i}.0.0" for i in range(4)] + ["lateral.0"]
    if not set(level_convs) <= set(convs):
        raise ValueError(f"{path}: not a TinyCenterNet detector export (no {level_convs[-1]} convolution)")
    *widths, head = (weights[convs[name].input[1]].shape[0] for name in level_convs)
    net = TinyCenterNet(widths=tuple(widths), head=head)
    modules = dict(net.named_modules())
    state = net.state_dict()
    seen = set()
    for name, node in convs.items():
        if name not in modules or not isinstance(modules[name], nn.Conv2d):
            raise ValueError(f"{path}: convolution {node.name} has no counterpart in TinyCenterNet")
        weight, bias = weights[node.input[1]], weights[node.input[2]]
        state[f"{name}.weight"] = weight
        batchnorm = name[:-len(".0")] + ".1" if name.endswith(".0") else None
        if batchnorm in modules and isinstance(modules[batchnorm], nn.BatchNorm2d):
            eps = modules[batchnorm].eps
            state.update({f"{batchnorm}.weight": torch.ones_like(bias), f"{batchnorm}.bias": bias,
                          f"{batchnorm}.running_mean": torch.zeros_like(bias),
                          f"{batchnorm}.running_var": torch.full_like(bias, 1.0 - eps)})
        else:
            state[f"{name}.bias"] = bias
        seen.add(name)
    missing = {n for n, m in modules.items() if isinstance(m, nn.Conv2d)} - seen
    if missing:
        raise ValueError(f"{path}: no weights for {', '.join(sorted(missing))}")
    net.load_state_dict(state)
    return net.eval()


def train_mode(net: nn.Module, freeze_batchnorm: bool = False) -> nn.Module:
    """``net.train()``; with ``freeze_batchnorm`` its batch norms stay in eval mode (running
    statistics fixed, scale and shift still learning), as weights from ``net_from_onnx`` need."""
    net.train()
    if freeze_batchnorm:
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
    return net
