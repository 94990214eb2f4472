"""Thin ComfyUI node classes: inputs, tooltips and validation; the work happens in attention/ and motion/."""
from .attention_patch import CrossFrameAttentionPatch
from .camera import CameraPath, MotionPreview
from .consistency import VideoConsistencyMetrics
from .controlnet_apply import VideoControlNetApply
from .frames_to_video import FramesToVideo
from .ip2p_video import InstructPix2PixVideo
from .motion_sampler import MotionLatentSampler
from .video_edit import ReferenceEditVideo
from .video_parts import DecodeVideoPart, JoinVideoParts

NODES = [MotionLatentSampler, CrossFrameAttentionPatch, FramesToVideo, InstructPix2PixVideo, VideoControlNetApply,
         CameraPath, MotionPreview, DecodeVideoPart, JoinVideoParts, ReferenceEditVideo,
         VideoConsistencyMetrics]
