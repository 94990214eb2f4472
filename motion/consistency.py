"""Consistency metrics for a video (an IMAGE batch): how well each frame follows the previous one along the motion.

Three figures, each per consecutive pair of frames (t, t+1) and overall (the mean over the pairs that have one):

- **warp error** (temporal consistency): frame t warped onto frame t+1 along the optical flow (a backward warp with
  the flow t+1 -> t), then the mean absolute difference to frame t+1 over the pixels the flow can vouch for: pixels
  whose flow round-trips (forward-backward check) and whose source lies inside frame t. Occluded and disoccluded
  pixels are left out, since nothing in frame t shows them. 0 = each frame is exactly the previous one moved.
- **flicker**: the mean absolute change from frame t to t+1 where nothing should change. Given the source video
  (an edit), "nothing should change" is where the source's own frames differ by less than ``static_threshold``
  levels (the difference box-blurred over 5x5 px, so camera noise does not count as change). Without a source it is
  where the video's own flow is below ``STATIC_FLOW_PX`` and round-trips. Motion is not flicker: moving pixels are
  never counted; 0 = no pixel changes where the content stands still.
- **motion alignment** (edits, given the source): minus the mean end-point error (EPE, the length of the difference
  of the two flow vectors, in pixels at the video's size, over every pixel) between the flow t -> t+1 of the video
  and that of the source. Same sign convention as V2VBench's motion alignment: 0 = the video moves exactly as the
  source, more negative = worse. V2VBench computes GMFlow; here the flow is OpenCV's or RAFT's, so compare numbers
  measured the same way only.

Warp error and flicker are in 8-bit levels (0-255; an IMAGE's 0..1 times 255), averaged over the colour channels.
The optical flow is OpenCV's DIS (preset medium) or Farneback, which need no weights, or torchvision's RAFT (ComfyUI
0.33's OPTICAL_FLOW, see ``raft_flow``), or flows the caller knows (``KnownFlow``). Numpy / OpenCV / torch only: this
module knows nothing of ComfyUI's nodes.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np
import torch

FLOW_METHODS = ("dis", "farneback")
"""OpenCV's dense flows without weights: DIS (preset medium; fast, sharp edges) and Farneback (polynomial
expansion; smoother)."""

LEVELS = 255.0
"""Warp error and flicker are in 8-bit levels: 0..1 pixel values times this."""

STATIC_THRESHOLD = 4.0
"""Default for ``static_threshold``: where the source's frame difference (8-bit levels, 5x5 box-blurred) is below
this, the source does not change, and any change of the video there is flicker."""

STATIC_FLOW_PX = 0.5
"""Without a source: pixels whose own flow is shorter than this (pixels per frame) count as standing still."""

MIN_SIDE = 16
"""The smallest frame side measured: OpenCV's DIS refuses frames under 12 px, and flow on fewer pixels means
little."""

ROUND_TRIP_ALPHA, ROUND_TRIP_BETA = 0.01, 0.5
"""Forward-backward check (Sundaram et al., ECCV 2010): a pixel's flow round-trips when |f + b|^2 < alpha (|f|^2 +
|b|^2) + beta (px^2), f the forward flow at the point the backward flow b leads to."""

RAFT_MIN_SIDE = 128
"""torchvision's RAFT needs 1/8-resolution features of 16 px or more (its correlation pyramid halves them three
times): smaller frames are padded up to this."""

OnPair = Callable[[int, int], None]
"""on_pair(done, total): called after each pair of frames is measured (progress bars, cancel checks)."""


# --- optical flow ----------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FlowEstimator:
    """A named dense flow: ``pair(first, second)`` takes two (H, W, 3) float32 frames (0..1) and returns the flows
    (forward first -> second, backward second -> first), each (H, W, 2) float32 in pixels (x, y): the content at
    (x, y) of the first frame is at (x + fx, y + fy) of the second. ``name`` says where the flow comes from in
    reports and error messages."""

    name: str
    pair: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclasses.dataclass(frozen=True)
class KnownFlow:
    """Flows the caller already has, per pair of consecutive frames: ``forward[t]`` is the flow t -> t+1 and
    ``backward[t]`` t+1 -> t, both (frames - 1, H, W, 2) in pixels (x, y), OpenCV's convention."""

    forward: np.ndarray
    backward: np.ndarray
    name: str = "known flow"



def _gray(frame: np.ndarray) -> np.ndarray:
    import cv2  # noqa: PLC0415 -- opencv-python-headless, a dependency of the pack

    rgb = np.clip(frame * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def opencv_flow(method: str = "dis") -> FlowEstimator:
    """OpenCV's dense flow without weights: ``dis`` (DIS, preset medium) or ``farneback``."""
    import cv2  # noqa: PLC0415

    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

        def one(first, second):
            return dis.calc(first, second, None)
        name = "DIS (OpenCV, preset medium)"
    elif method == "farneback":
        def one(first, second):
            # OpenCV's documented example settings: 3 levels halving, 15 px window, 3 iterations, poly_n 5
            return cv2.calcOpticalFlowFarneback(first, second, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        name = "Farneback (OpenCV)"
    else:
        raise ValueError(f"flow_method is '{method}', which is not a flow this pack computes. Fix: choose one of "
                         f"{', '.join(FLOW_METHODS)}.")

    def pair(first, second):
        a, b = _gray(first), _gray(second)
        return one(a, b), one(b, a)

    return FlowEstimator(name, pair)


def raft_flow(model: torch.nn.Module, device=None, name: str = "optical_flow (RAFT)") -> FlowEstimator:
    """The flow of a torchvision RAFT model (what ComfyUI 0.33's Load Optical Flow Model puts in an OPTICAL_FLOW:
    a ModelPatcher whose ``.model`` is ``raft_large``). Frames are scaled to -1..1 as RAFT was trained, padded at the
    right and bottom by repeating the edge (to a multiple of 8, at least RAFT_MIN_SIDE) instead of resized, so flow
    vectors stay in the frame's pixels; forward and backward run as one batch of two."""
    import torch.nn.functional as F  # noqa: PLC0415

    parameter = next(iter(model.parameters()), None)
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
    device = device if device is not None else (parameter.device if parameter is not None else "cpu")

    def pair(first, second):
        height, width = first.shape[:2]
        pad_h = max(RAFT_MIN_SIDE, -(-height // 8) * 8) - height
        pad_w = max(RAFT_MIN_SIDE, -(-width // 8) * 8) - width
        images = torch.from_numpy(np.stack([first, second])).movedim(-1, 1)
        images = F.pad(images * 2.0 - 1.0, (0, pad_w, 0, pad_h), mode="replicate").to(device, dtype)
        with torch.no_grad():
            flows = model(images, images.flip(0))
        flow = flows[-1] if isinstance(flows, (list, tuple)) else flows  # RAFT returns every refinement's flow
        if not isinstance(flow, torch.Tensor) or flow.ndim != 4 or flow.shape[:2] != (2, 2):
            raise ValueError(f"{name} did not return a flow field (2, 2, H, W) but "
                             f"{getattr(flow, 'shape', type(flow).__name__)}. Fix: connect Load Optical Flow Model "
                             f"with torchvision's raft_large.pth, or leave optical_flow unlinked (OpenCV's flow).")
        flow = flow[:, :, :height, :width].movedim(1, -1).float().cpu().numpy()
        return flow[0], flow[1]

    return FlowEstimator(name, pair)


def estimator_for(flow) -> FlowEstimator | KnownFlow:
    """A method name (FLOW_METHODS), an estimator or known flows, as the one kind the measurement uses."""
    if isinstance(flow, (FlowEstimator, KnownFlow)):
        return flow
    if isinstance(flow, str):
        return opencv_flow(flow)
    raise ValueError(f"flow_method must be one of {', '.join(FLOW_METHODS)}, a FlowEstimator or a KnownFlow, not "
                     f"{type(flow).__name__}. Fix: pass a method name.")


# --- warping and the round-trip check --------------------------------------------------------------------------------

def _grid(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    height, width = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def _inside(map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """Within the image, counting each edge pixel's half: flow that points a hair past the border (estimated flow
    on a still edge) still reads that edge pixel."""
    height, width = map_x.shape
    return (map_x >= -0.5) & (map_x <= width - 0.5) & (map_y >= -0.5) & (map_y <= height - 0.5)


def warp(image: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Backward warp: ``out[y, x] = image[y + flow_y, x + flow_x]`` (bilinear), and where that point lies inside the
    image. With the flow t+1 -> t, frame t comes out on frame t+1's pixel grid."""
    import cv2  # noqa: PLC0415

    map_x, map_y = _grid(np.asarray(flow, np.float32))
    out = cv2.remap(np.ascontiguousarray(image, np.float32), map_x, map_y, cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(image.shape), _inside(map_x, map_y)


def round_trip(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """(H, W) bool on the second frame's grid: pixels whose backward flow lands inside the first frame and comes
    back by the forward flow there (ROUND_TRIP_ALPHA/BETA). False marks occlusions, disocclusions, pixels that left
    the frame, and flow that is simply wrong."""
    there, inside = warp(np.asarray(forward, np.float32), backward)  # the forward flow where b leads
    gap = np.sum((there + backward) ** 2, axis=-1)
    scale = np.sum(there ** 2, axis=-1) + np.sum(backward ** 2, axis=-1)
    return inside & (gap < ROUND_TRIP_ALPHA * scale + ROUND_TRIP_BETA)


# --- input checks ---------------------------------------------------------------------------------------------------

def check_video(video, name: str, min_frames: int = 2) -> None:
    """ValueError naming ``name`` unless ``video`` is an IMAGE batch (N, H, W, C) of at least ``min_frames`` frames,
    MIN_SIDE px a side, with finite values."""
    shape = tuple(getattr(video, "shape", ()))
    if not isinstance(video, (torch.Tensor, np.ndarray)) or len(shape) != 4 or shape[-1] not in (1, 3, 4):
        raise ValueError(f"{name} must be an IMAGE batch (frames, height, width, channels), not "
                         f"{shape or type(video).__name__}. Fix: connect the frames (e.g. VAE Decode's IMAGE).")
    if shape[0] < min_frames:
        raise ValueError(f"{name} has {shape[0]} frame{'s' if shape[0] != 1 else ''}; consistency compares "
                         f"consecutive frames, so it needs at least {min_frames}. Fix: connect the whole video (an "
                         f"IMAGE batch of {min_frames} or more frames), not a single image.")
    if min(shape[1:3]) < MIN_SIDE:
        raise ValueError(f"{name}: frames of {shape[2]}x{shape[1]} px (width x height) are too small; optical flow "
                         f"needs at least {MIN_SIDE} px a side. Fix: scale the frames up (e.g. core Upscale Image) "
                         f"before measuring.")
    for index in range(shape[0]):  # frame by frame: a whole-video mask would double a long video's memory
        frame = video[index]
        finite = torch.isfinite(frame).all() if isinstance(frame, torch.Tensor) else np.isfinite(frame).all()
        if not bool(finite):
            raise ValueError(f"{name} frame {index} holds NaN or infinite values. Fix: look upstream for the node "
                             f"that produced them (e.g. a VAE decode in fp16 that overflowed: try --fp32-vae or "
                             f"a tiled decode).")


def check_source(frames, source_frames) -> None:
    check_video(source_frames, "source_frames")
    (count, height, width), (s_count, s_height, s_width) = frames.shape[:3], source_frames.shape[:3]
    if s_count != count:
        raise ValueError(f"source_frames has {s_count} frames but frames has {count}: each frame is compared with "
                         f"the source frame it was made from. Fix: pass the same frames of the source the video "
                         f"was made from (trim or select frames so both have {count}).")
    if (s_height, s_width) != (height, width):
        raise ValueError(f"source_frames are {s_width}x{s_height} px but frames are {width}x{height} px (width x "
                         f"height): flows are compared pixel by pixel. Fix: scale the source to the video's size "
                         f"(core Upscale Image to {width}x{height}, crop center) before this node.")


def _check_known(flow: KnownFlow, frames: int, height: int, width: int, name: str) -> None:
    want = (frames - 1, height, width, 2)
    for part in ("forward", "backward"):
        array = getattr(flow, part)
        if tuple(getattr(array, "shape", ())) != want:
            raise ValueError(f"{name}.{part} has shape {tuple(getattr(array, 'shape', ()))} but the video needs "
                             f"{want} (one flow per pair of consecutive frames, at the frames' size). Fix: compute "
                             f"the flow on these frames.")
        if not np.isfinite(array).all():
            raise ValueError(f"{name}.{part} holds NaN or infinite values. Fix: compute the flow again.")


def _check_estimated(flows, estimator: FlowEstimator, index: int, height: int, width: int):
    checked = []
    for flow in flows:
        flow = np.asarray(flow, np.float32)
        if flow.shape != (height, width, 2):
            raise ValueError(f"{estimator.name} gave a flow of shape {flow.shape} for frames {index}-{index + 1} of "
                             f"{width}x{height} px; it must be ({height}, {width}, 2). Fix: use a flow model that "
                             f"returns full-size flow, or another flow_method.")
        if not np.isfinite(flow).all():
            raise ValueError(f"{estimator.name} gave NaN or infinite flow for frames {index}-{index + 1}. Fix: try "
                             f"another flow_method (or, for RAFT, run it in fp32).")
        checked.append(flow)
    return checked


# --- the measurement -------------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Consistency:
    """What ``measure_consistency`` found: per pair (t, t+1), arrays of frames - 1 values (NaN where a pair has no
    pixel to measure), and the overall figures (``warp_error``, ``flicker``, ``motion_alignment``)."""

    frames: int
    height: int
    width: int
    flow_name: str
    pair_warp_error: np.ndarray
    pair_flicker: np.ndarray
    pair_motion_alignment: np.ndarray | None
    """None without a source video."""
    measured_fraction: np.ndarray
    """Per pair, the share of pixels the warp error covers (flow round-trips, not occluded)."""
    static_fraction: np.ndarray
    """Per pair, the share of pixels counted as standing still (where flicker is measured)."""
    has_source: bool

    @property
    def warp_error(self) -> float:
        return _mean(self.pair_warp_error)

    @property
    def flicker(self) -> float:
        return _mean(self.pair_flicker)

    @property
    def motion_alignment(self) -> float:
        """NaN without a source video (there is nothing to align to)."""
        return math.nan if self.pair_motion_alignment is None else _mean(self.pair_motion_alignment)

    def report(self) -> str:
        """The figures as text: what each is, its unit, and the per-pair values."""
        still = "the source does not change" if self.has_source else "the video's own flow stands still"
        lines = [f"Video consistency: {self.frames} frames, {self.width}x{self.height}, flow: {self.flow_name}",
                 f"warp error {_text(self.warp_error)}: mean |frame t+1 - frame t warped onto it| in 8-bit levels "
                 f"(0-255), over the {_percent(self.measured_fraction)} of pixels the flow round-trips; 0 = frames "
                 f"follow each other exactly along the motion.",
                 f"flicker {_text(self.flicker)}: mean |frame t+1 - frame t| in 8-bit levels where {still} "
                 f"({_percent(self.static_fraction)} of pixels); 0 = nothing changes there."]
        if self.pair_motion_alignment is not None:
            lines.append(f"motion alignment {_text(self.motion_alignment)}: minus the mean end-point error (px) "
                         f"between the video's flow and the source's (V2VBench's sign: 0 = moves exactly as the "
                         f"source, more negative = worse).")
        else:
            lines.append("motion alignment: n/a (no source_frames: connect the source video of an edit to measure "
                         "whether the video moves as the source does).")
        lines.append("per pair (t-1 -> t): " + "; ".join(self._pair_text(t) for t in range(self.frames - 1)))
        return "\n".join(lines)

    def _pair_text(self, t: int) -> str:
        text = f"{t}->{t + 1} warp {_text(self.pair_warp_error[t])} flicker {_text(self.pair_flicker[t])}"
        if self.pair_motion_alignment is not None:
            text += f" align {_text(self.pair_motion_alignment[t])}"
        return text


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def _text(value: float) -> str:
    value = float(value) + 0.0  # -0.0 (minus a zero error) reads as 0
    return "n/a" if not math.isfinite(value) else f"{value:.3f}" if abs(value) < 10 else f"{value:.2f}"


def _percent(fractions: np.ndarray) -> str:
    return f"{100.0 * float(np.mean(fractions)):.0f}%"


def _frame(video, index: int) -> np.ndarray:
    """Frame ``index`` as (H, W, 3) float32 numpy: grey repeated to RGB, alpha dropped."""
    frame = video[index]
    frame = frame.detach().to("cpu", torch.float32).numpy() if isinstance(frame, torch.Tensor) else frame
    frame = np.asarray(frame, np.float32)
    return np.repeat(frame, 3, axis=-1) if frame.shape[-1] == 1 else frame[..., :3]


def _pair_flows(flow, video, index: int, height: int, width: int):
    if isinstance(flow, KnownFlow):
        return np.asarray(flow.forward[index], np.float32), np.asarray(flow.backward[index], np.float32)
    return _check_estimated(flow.pair(_frame(video, index), _frame(video, index + 1)), flow, index, height, width)


def measure_consistency(frames, source_frames=None, flow_method="dis", source_flow=None,
                        static_threshold: float = STATIC_THRESHOLD, on_pair: OnPair | None = None) -> Consistency:
    """Warp error, flicker and (given ``source_frames``) motion alignment of ``frames`` (IMAGE, (N, H, W, C)),
    pair by pair, keeping only the figures (a long video's flows are never held at once).

    ``flow_method``: a FLOW_METHODS name, a FlowEstimator (e.g. ``raft_flow``) or a KnownFlow of ``frames``.
    ``source_flow``: the source's flow the same ways; None = the same estimator as the video's (DIS when the video's
    flow is a KnownFlow). ``static_threshold``: 8-bit levels of source change below which a pixel stands still.
    ValueError naming the input and the fix for a video of one frame, NaN/inf, frames under MIN_SIDE, a source of
    another length or size, and flows of the wrong shape.
    """
    check_video(frames, "frames")
    count, height, width = frames.shape[:3]
    if source_frames is not None:
        check_source(frames, source_frames)
    if not (isinstance(static_threshold, (int, float)) and math.isfinite(static_threshold) and static_threshold > 0):
        raise ValueError(f"static_threshold is {static_threshold}; it must be a positive number of 8-bit levels. "
                         f"Fix: use e.g. {STATIC_THRESHOLD}.")
    flow = estimator_for(flow_method)
    if isinstance(flow, KnownFlow):
        _check_known(flow, count, height, width, "flow_method")
    source_estimator = None
    if source_frames is not None:
        if source_flow is None:
            source_flow = "dis" if isinstance(flow, KnownFlow) else flow
        source_estimator = estimator_for(source_flow)
        if isinstance(source_estimator, KnownFlow):
            _check_known(source_estimator, count, height, width, "source_flow")

    import cv2  # noqa: PLC0415

    pairs = count - 1
    warp_error, flicker = np.full(pairs, np.nan), np.full(pairs, np.nan)
    alignment = np.full(pairs, np.nan) if source_frames is not None else None
    measured, static_share = np.zeros(pairs), np.zeros(pairs)
    for t in range(pairs):
        first, second = _frame(frames, t), _frame(frames, t + 1)
        forward, backward = _pair_flows(flow, frames, t, height, width)
        valid = round_trip(forward, backward)
        warped, _ = warp(first, backward)
        residual = np.abs(warped - second).mean(axis=-1) * LEVELS
        measured[t] = valid.mean()
        if valid.any():
            warp_error[t] = residual[valid].mean()
        change = np.abs(second - first).mean(axis=-1) * LEVELS
        if source_frames is not None:
            source_forward, _ = _pair_flows(source_estimator, source_frames, t, height, width)
            source_change = np.abs(_frame(source_frames, t + 1) - _frame(source_frames, t)).mean(axis=-1) * LEVELS
            static = cv2.blur(source_change, (5, 5)) < static_threshold
            alignment[t] = -float(np.linalg.norm(forward - source_forward, axis=-1).mean())
        else:
            static = valid & (np.linalg.norm(backward, axis=-1) < STATIC_FLOW_PX)
        static_share[t] = static.mean()
        if static.any():
            flicker[t] = change[static].mean()
        if on_pair is not None:
            on_pair(t + 1, pairs)
    return Consistency(count, height, width, flow.name, warp_error, flicker, alignment, measured, static_share,
                       source_frames is not None)


# --- the plot --------------------------------------------------------------------------------------------------------

PLOT_WIDTH, PANEL_HEIGHT = 512, 112
_INK, _GRID, _PAPER = (40, 40, 40), (205, 205, 205), (250, 250, 250)
_COLOURS = {"warp error": (31, 119, 180), "flicker": (214, 39, 40), "motion alignment": (44, 160, 44)}


def consistency_plot(result: Consistency, width: int = PLOT_WIDTH) -> torch.Tensor:
    """(1, H, W, 3) float IMAGE, 0..1: one panel per figure (warp error, flicker, motion alignment given a source),
    its per-pair values against the pair (t-1 -> t, labelled by t) with the overall value in the title. Drawn with
    OpenCV (no matplotlib in the pack)."""
    panels = [("warp error", result.pair_warp_error, result.warp_error, "levels"),
              ("flicker", result.pair_flicker, result.flicker, "levels")]
    if result.pair_motion_alignment is not None:
        panels.append(("motion alignment", result.pair_motion_alignment, result.motion_alignment, "px"))
    header = 22
    canvas = np.full((header + PANEL_HEIGHT * len(panels), width, 3), _PAPER, np.uint8)
    _put(canvas, f"{result.frames} frames {result.width}x{result.height}, flow: {result.flow_name}; x: frame t "
         f"against t-1", (8, 15), 0.4)
    for k, (title, values, overall, unit) in enumerate(panels):
        _panel(canvas, header + k * PANEL_HEIGHT, width, title, values, overall, unit)
    return torch.from_numpy(canvas.astype(np.float32) / 255.0).unsqueeze(0)


def _put(canvas, text: str, origin, scale: float = 0.38, colour=_INK) -> None:
    import cv2  # noqa: PLC0415

    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def _range(values: np.ndarray) -> tuple[float, float]:
    """The y range: from 0 to the data (either side), a little headroom, never empty."""
    finite = values[np.isfinite(values)]
    low, high = min(0.0, float(finite.min(initial=0.0))), max(0.0, float(finite.max(initial=0.0)))
    if high == low:  # all zero (a still clip) or nothing measured: an axis of one unit
        return 0.0, 1.0
    span = high - low
    return (low - 0.08 * span if low < 0 else low), (high + 0.08 * span if high > 0 else high)


def _panel(canvas, top: int, width: int, title: str, values: np.ndarray, overall: float, unit: str) -> None:
    import cv2  # noqa: PLC0415

    colour = _COLOURS[title]  # the canvas is RGB, as the IMAGE it becomes
    left, right, box_top, box_bottom = 46, width - 10, top + 20, top + PANEL_HEIGHT - 20
    _put(canvas, f"{title} {_text(overall)} ({unit}, per pair)", (8, top + 13), 0.42, colour)
    low, high = _range(values)
    cv2.rectangle(canvas, (left, box_top), (right, box_bottom), _GRID, 1)

    def y_of(value: float) -> int:
        return int(round(box_bottom - (value - low) / (high - low) * (box_bottom - box_top)))

    if low < 0 < high:
        cv2.line(canvas, (left, y_of(0.0)), (right, y_of(0.0)), _GRID, 1)
    _put(canvas, _text(high), (4, box_top + 8), 0.32)
    _put(canvas, _text(low), (4, box_bottom), 0.32)
    count = len(values)

    def x_of(index: int) -> int:
        return (left + right) // 2 if count == 1 else int(round(left + 6 + index * (right - left - 12) / (count - 1)))

    for index in sorted({0, count - 1, count // 2}):
        _put(canvas, str(index + 1), (x_of(index) - 4, box_bottom + 13), 0.32)
    points = [(x_of(i), y_of(float(v))) if math.isfinite(v) else None for i, v in enumerate(values)]
    for a, b in zip(points, points[1:]):
        if a is not None and b is not None:  # a pair without pixels breaks the line
            cv2.line(canvas, a, b, colour, 1, cv2.LINE_AA)
    for point in points:
        if point is not None:
            cv2.circle(canvas, point, 2, colour, -1, cv2.LINE_AA)
    if all(point is None for point in points):
        _put(canvas, "no pixel to measure (see the report)", (left + 10, (box_top + box_bottom) // 2 + 4), 0.38)

