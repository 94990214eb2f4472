"""Thin ComfyUI node classes: inputs, tooltips and validation; the work happens in attention/ and motion/."""
from .attention_patch import CrossFrameAttentionPatch
from .frames_to_video import FramesToVideo
from .motion_sampler import MotionLatentSampler

NODES = [MotionLatentSampler, CrossFrameAttentionPatch, FramesToVideo]
