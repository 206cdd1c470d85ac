"""Person box -> normalised model input, the way ViTPose was trained and tested (top-down, UDP).

A box becomes a centre and a crop size in pixels: the box is padded by ``padding`` (1.25 in the
official configs) and widened or heightened to the model's aspect ratio (W/H). The crop is cut
with the UDP ("unbiased data processing") affine map, which sends the crop's first and last pixel
*centres* to the model input's first and last pixel centres, so decoding can invert it exactly.

numpy + OpenCV only.
"""
from __future__ import annotations

import cv2
import numpy as np

DEFAULT_PADDING = 1.25


def boxes_to_center_size(boxes_xyxy: np.ndarray, aspect_ratio: float,
                         padding: float = DEFAULT_PADDING) -> tuple[np.ndarray, np.ndarray]:
    """(N,4) x1,y1,x2,y2 -> centres (N,2) and crop sizes (N,2) = (w, h) in pixels, w/h = aspect_ratio."""
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    centers = np.stack([(boxes[:, 0] + boxes[:, 2]) * 0.5, (boxes[:, 1] + boxes[:, 3]) * 0.5], axis=1)
    w = (boxes[:, 2] - boxes[:, 0]) * padding
    h = (boxes[:, 3] - boxes[:, 1]) * padding
    # Grow the short side: the crop always contains the padded box.
    too_wide = w > h * aspect_ratio
    h = np.where(too_wide, w / aspect_ratio, h)
    w = np.where(too_wide, w, h * aspect_ratio)
    return centers, np.stack([w, h], axis=1)


def udp_warp_matrix(center: np.ndarray, crop_size: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
    """2x3 affine map image -> model input (output_size = (W, H)), UDP convention, no rotation."""
    scale_x = (output_size[0] - 1) / crop_size[0]
    scale_y = (output_size[1] - 1) / crop_size[1]
    return np.array(
        [[scale_x, 0.0, scale_x * (0.5 * crop_size[0] - center[0])],
         [0.0, scale_y, scale_y * (0.5 * crop_size[1] - center[1])]],
        dtype=np.float64,
    )


def sanitize_boxes(boxes_xyxy, image_width: int, image_height: int) -> tuple[np.ndarray, np.ndarray]:
    """Clip boxes to the image; mark unusable ones.

    Returns (clipped float64 (N,4), valid bool (N,)). A box is invalid when it has a NaN/inf
    coordinate, is inverted or empty, or lies entirely outside the image. Partly-outside boxes are
    clipped to the image (detectors near the border often overshoot).
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float64)
    if boxes.ndim == 1 and boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4) as x1,y1,x2,y2; got {boxes.shape}")
    finite = np.isfinite(boxes).all(axis=1)
    safe = np.where(finite[:, None], boxes, 0.0)
    clipped = np.empty_like(safe)
    clipped[:, [0, 2]] = np.clip(safe[:, [0, 2]], 0.0, image_width)
    clipped[:, [1, 3]] = np.clip(safe[:, [1, 3]], 0.0, image_height)
    # Inverted or empty before clipping, or collapsed by clipping (= entirely outside).
    proper = (safe[:, 2] > safe[:, 0]) & (safe[:, 3] > safe[:, 1])
    overlaps = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    return clipped, finite & proper & overlaps


class CropBatcher:
    """Cuts and normalises person crops into a reused (max_batch, 3, H, W) float32 buffer."""

    def __init__(self, input_size: tuple[int, int], mean=(0.485, 0.456, 0.406),
                 std=(0.229, 0.224, 0.225), padding: float = DEFAULT_PADDING, max_batch: int = 16):
        self.input_height, self.input_width = input_size
        self.padding = padding
        # (x/255 - mean)/std == x * scale + offset, folded once.
        self._scale = (1.0 / (255.0 * np.asarray(std, np.float32))).reshape(1, 3, 1, 1)
        self._offset = (-np.asarray(mean, np.float32) / np.asarray(std, np.float32)).reshape(1, 3, 1, 1)
        self._crops = np.empty((0, self.input_height, self.input_width, 3), np.uint8)
        self._batch = np.empty((0, 3, self.input_height, self.input_width), np.float32)
        self._ensure_capacity(max_batch)

    @property
    def aspect_ratio(self) -> float:
        return self.input_width / self.input_height

    def _ensure_capacity(self, n: int) -> None:
        if n > len(self._batch):
            self._crops = np.empty((n, self.input_height, self.input_width, 3), np.uint8)
            self._batch = np.empty((n, 3, self.input_height, self.input_width), np.float32)

    def crop(self, image_rgb: np.ndarray, centers: np.ndarray, crop_sizes: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) crops (a view into the reused buffer)."""
        n = len(centers)
        self._ensure_capacity(n)
        out_size = (self.input_width, self.input_height)
        for i in range(n):
            cv2.warpAffine(image_rgb, udp_warp_matrix(centers[i], crop_sizes[i], out_size), out_size,
                           dst=self._crops[i], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=(0, 0, 0))
        return self._crops[:n]

    def normalise(self, crops: np.ndarray, flip: bool = False) -> np.ndarray:
        """uint8 (N,H,W,3) RGB -> float32 (N,3,H,W) normalised (a view into the reused buffer).

        With ``flip`` the result holds 2N images: the crops, then their horizontal mirrors.
        """
        n = len(crops)
        total = 2 * n if flip else n
        self._ensure_capacity(total)
        out = self._batch[:total]
        np.copyto(out[:n], crops.transpose(0, 3, 1, 2), casting="unsafe")
        if flip:
            out[n:] = out[:n, :, :, ::-1]
        out *= self._scale
        out += self._offset
        return out

    def prepare(self, image_rgb: np.ndarray, boxes_xyxy: np.ndarray, flip: bool = False):
        """Boxes (already sanitised) -> (model batch, centres, crop sizes)."""
        centers, sizes = boxes_to_center_size(boxes_xyxy, self.aspect_ratio, self.padding)
        return self.normalise(self.crop(image_rgb, centers, sizes), flip=flip), centers, sizes


def check_image(image) -> np.ndarray:
    """The image as a C-contiguous uint8 HxWx3 array, or ValueError saying what is wrong."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 RGB, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be HxWx3 RGB, got shape {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"image is too small: {image.shape[1]}x{image.shape[0]}")
    return np.ascontiguousarray(image)
