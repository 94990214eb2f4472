"""Cross-frame attention for ComfyUI models (stands alone: no dependency on motion/ or nodes/)."""
from .chunking import FrameChunker, chunk_positions, with_frame_chunks
from .cross_frame import (ANCHOR_FIRST, ANCHOR_FIRST_AND_PREVIOUS, ANCHOR_MODES, AnchorCache, CrossFrameAttention,
                          find_cross_frame, percent_sigmas)
from .dit import CrossFrameOverride, with_cross_frame, with_trajectories
from .families import (ROUTE_ATTENTION_OVERRIDE, ROUTE_DIT_ATTN1, ROUTE_UNET, SUPPORTED, UnsupportedModelError,
                       attention_route)
from .frames import (FRAMES_KEY, VIDEO_KEY, frames_per_chunk, global_frame_ids, window_frame_ids,
                     with_video_frames)
from .trajectory import TRAJECTORY_KEY, Trajectories

__all__ = [
    "ANCHOR_FIRST", "ANCHOR_FIRST_AND_PREVIOUS", "ANCHOR_MODES", "AnchorCache", "CrossFrameAttention",
    "CrossFrameOverride", "FRAMES_KEY", "ROUTE_ATTENTION_OVERRIDE", "ROUTE_DIT_ATTN1", "ROUTE_UNET",
    "SUPPORTED", "UnsupportedModelError", "attention_route",
    "FrameChunker", "VIDEO_KEY", "chunk_positions", "find_cross_frame", "frames_per_chunk", "global_frame_ids",
    "percent_sigmas", "window_frame_ids", "with_cross_frame", "with_frame_chunks", "with_video_frames",
    "TRAJECTORY_KEY", "Trajectories", "with_trajectories",
]
