"""The source video's motion for an edit: its optical flow, the trajectories on the latent's grid, and noise that
follows them.

Flow comes from core's OPTICAL_FLOW (Load Optical Flow Model: RAFT, the user's weights) when linked, else from
OpenCV's DIS (no weights). Each pair of frames gets its backward flow (t+1 -> t); where the forward flow does not
bring it back (the forward-backward check of motion/consistency.py: occlusions, content that appears, wrong flow)
the flow is not trusted and the trajectory ends there. The flows are area-averaged onto the latent's grid (and the
trust kept where most of a latent pixel has it); attention/trajectory.py traces the trajectories.

Flow-warped noise ("How I Warped Your Noise", Chang et al. 2024; Go-with-the-Flow, Burgert et al. 2025): one draw per
trajectory, so frame k's noise is frame 0's carried along the source's motion and fresh only where content appears.
The draws come from one generator seeded like the shared noise: frame 0's first (a still source gives exactly the
shared noise), then one fresh frame per later frame, of which only the pixels that start a trajectory are used. Each
frame's pixels hold distinct draws, so every frame's noise is exactly i.i.d. Gaussian (no resampling blur). Per-step
noise of ancestral/SDE samplers follows the same trajectories: each step's draw for the whole video, carried.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..attention.trajectory import Trajectories
from .consistency import FlowEstimator, check_video, opencv_flow, round_trip

FLOW_METHOD = "dis"
"""OpenCV's DIS (preset medium) when no optical_flow is linked: no weights, a few ms per pair at 512 px."""


@dataclass(frozen=True)
class SourceMotion:
    """A video's optical flow per pair of consecutive frames, at the frames' size: ``backward[t]`` is the flow
    t+1 -> t, ``valid[t]`` where it round-trips (both (frames - 1, H, W, ...)), ``name`` where it came from."""

    backward: np.ndarray
    valid: np.ndarray
    name: str

    @property
    def frames(self) -> int:
        return self.backward.shape[0] + 1

    def trajectories(self, height: int, width: int) -> Trajectories:
        """The trajectories on a ``height`` x ``width`` latent grid (flow area-averaged and scaled to it)."""
        import cv2  # noqa: PLC0415

        source_h, source_w = self.backward.shape[1:3]
        flows, kept = [], []
        for flow, valid in zip(self.backward, self.valid):
            small = cv2.resize(flow, (width, height), interpolation=cv2.INTER_AREA)
            flows.append(small * np.array([width / source_w, height / source_h], np.float32))
            kept.append(cv2.resize(valid.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA) > 0.5)
        return Trajectories(torch.from_numpy(np.stack(flows)), torch.from_numpy(np.stack(kept)))


def source_motion(frames: torch.Tensor, estimator: FlowEstimator | None = None, on_pair=None,
                  name: str = "frames") -> SourceMotion:
    """The flow of ``frames`` (an IMAGE batch, frames x H x W x C): ``estimator``'s (e.g. motion/consistency.py
    raft_flow over core's OPTICAL_FLOW), else OpenCV's DIS. ``on_pair(done, total)`` after each pair (progress,
    Cancel). ValueError naming the input (``name``) for frames that are not a video, hold NaN, or give NaN flow."""
    check_video(frames, name, min_frames=1)
    estimator = estimator or opencv_flow(FLOW_METHOD)
    video = frames.detach().float().cpu().clamp(0.0, 1.0).numpy()
    if video.shape[-1] != 3:
        video = np.repeat(video[..., :1], 3, axis=-1) if video.shape[-1] == 1 else video[..., :3]
    backward, valid = [], []
    total = video.shape[0] - 1
    for t in range(total):
        forward_flow, backward_flow = estimator.pair(np.ascontiguousarray(video[t]), np.ascontiguousarray(video[t + 1]))
        if not (np.isfinite(forward_flow).all() and np.isfinite(backward_flow).all()):
            raise ValueError(f"the optical flow between {name} {t} and {t + 1} holds NaN or infinite values "
                             f"({estimator.name}). Fix: check the optical_flow input's model (or leave it unlinked "
                             f"for OpenCV's flow), and that the {name} hold no NaN.")
        backward.append(backward_flow.astype(np.float32))
        valid.append(round_trip(forward_flow, backward_flow))
        if on_pair is not None:
            on_pair(t + 1, total)
    height, width = video.shape[1:3]
    if not backward:
        return SourceMotion(np.zeros((0, height, width, 2), np.float32), np.zeros((0, height, width), bool),
                            estimator.name)
    return SourceMotion(np.stack(backward), np.stack(valid), estimator.name)


def carry(draws: torch.Tensor, ids: torch.Tensor, patch: int = 1) -> torch.Tensor:
    """Noise along trajectories: ``draws`` (frames, ..., height, width), one fresh frame of draws per frame; frame k's
    pixel gets the draw of the pixel where its trajectory starts (``ids``: attention/trajectory.py trace, on this
    grid). ``patch`` > 1: the draws move as whole ``patch`` x ``patch`` blocks along trajectories on the grid of
    blocks (``ids`` on that grid): a DiT reads its latent in such patches, and noise moved by part of a patch would
    be a new patch to it, drawing new detail."""
    frames = draws.shape[0]
    if patch > 1:
        shape = draws.shape
        flat = draws.reshape(frames, -1, *shape[-2:])
        blocks = torch.nn.functional.pixel_unshuffle(flat, patch)
        return torch.nn.functional.pixel_shuffle(carry(blocks, ids), patch).reshape(shape)
    spatial = draws.shape[-2] * draws.shape[-1]
    if ids.shape != (frames, spatial):
        raise ValueError(f"trajectories for {tuple(ids.shape)} (frames, pixels) do not fit noise of "
                         f"{tuple(draws.shape)}")
    flat = draws.reshape(frames, -1, spatial).transpose(0, 1).reshape(-1, frames * spatial)
    carried = flat[:, ids.reshape(-1).to(draws.device)]
    return carried.reshape(-1, frames, spatial).transpose(0, 1).reshape(draws.shape)


def noise_ids(trajectories: Trajectories, patch: int = 1) -> torch.Tensor:
    """The trajectories ``carry`` moves noise along: on the latent's grid, or on its grid of ``patch``-pixel blocks."""
    if patch <= 1:
        return trajectories.ids()
    return trajectories.ids(trajectories.height // patch, trajectories.width // patch)


def flow_noise(shape: tuple[int, ...], seed: int, ids: torch.Tensor, patch: int = 1) -> torch.Tensor:
    """x_T for a video of ``shape`` (frames, ..., height, width): frame 0's noise is the shared noise's (the same
    first draw from a generator seeded like ComfyUI's), carried along the trajectories ``ids`` (in ``patch`` blocks);
    the later frames' draws follow from the same generator, used where content appears."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    first = torch.randn((1, *shape[1:]), generator=generator)
    later = torch.randn((shape[0] - 1, *shape[1:]), generator=generator)
    return carry(torch.cat([first, later]), ids, patch)


def video_trajectories(motion: SourceMotion | None, frames: int, height: int, width: int, needed: bool,
                       source: str = "the source frames") -> Trajectories | None:
    """The trajectories of ``motion`` on a ``height`` x ``width`` latent of a ``frames``-frame video where the noise
    or the attention follows the flow (``needed``), else None; ValueError naming ``source`` when there is no flow or
    it covers another number of frames."""
    if not needed:
        return None
    if motion is None:
        raise ValueError(f"noise_mode 'flow' and attention_along_flow need the optical flow of {source}. Fix: connect "
                         f"{source}, or set noise_mode to shared and attention_along_flow off.")
    if motion.frames != frames:
        raise ValueError(f"{source} hold {motion.frames} frames but the video has {frames}. Fix: give as many frames "
                         f"as the video has (the same start_frame, end_frame, every_nth, or the latent's batch size).")
    return motion.trajectories(height, width)
