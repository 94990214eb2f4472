"""Writes workflows/*.json (UI format, frontend 1.48) from the compact description below and the real /object_info
(widget order, outputs, defaults), so the shipped files always match the nodes.

Run from the repo root with the host installed: .host/venv/bin/python scripts/build_workflows.py
(--check: only compare, exit 1 if a file is out of date; --object-info FILE: use a saved /object_info).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from workflow_api import ordered_inputs, to_api, widget_names, widget_values  # noqa: E402

BUILT_ON = "0.33.0"  # the ComfyUI whose /object_info the shipped files are written from, and its frontend:
FRONTEND = "1.48.7"  # older supported ComfyUIs load them too (tests/test_workflows.py, tests/test_browser.py)
CHECKPOINT = "v1-5-pruned-emaonly.safetensors"
CHECKPOINT_URL = ("https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5/resolve/main/"
                  "v1-5-pruned-emaonly.safetensors")

NOTE = """Text2Video-Zero: zero-shot text-to-video with any SD1.5 model (no video model, no training).

MODEL
Download an SD1.5 checkpoint, e.g. v1-5-pruned-emaonly.safetensors (4 GB) from
  {url}
or any SD1.5 fine-tune, into  ComfyUI/models/checkpoints/  and pick it in Load Checkpoint (press R to refresh).

FRAMES
Empty Latent Image: batch_size = number of frames ({frames} here), 512x512 as the reference.

MOTION (Motion Latent Sampler)
motion_x / motion_y: camera motion per frame in pixels of a 512-px frame. Positive motion_x moves the content LEFT
  (camera pans right), positive motion_y moves it UP; negative values the other way. 0/0 = static camera.
zoom > 1 moves in, < 1 out; rotation in degrees per frame (positive = anticlockwise).
t0 / t1 (reference 44 / 47, out of 49): frame 0 is denoised alone from step 49 down to t1; its latent at t0 is
  moved by the motion for every other frame. Lower t0 = more of frame 0's layout fixed before the move.
frames_per_chunk: 0 = all frames in one UNet call; 8 = eight at a time: memory stays flat for long videos and the
  result is the same.
sampler ddim + scheduler ddim_uniform at 50 steps reproduce the reference exactly; any sampler works.
seed: frame 0's starting noise (fixed here so a rerun gives the same video).

OUTPUT
Frames To Video writes ComfyUI/output/T2V-Zero/{name}_00001_.mp4 (h264, {fps:g} fps as the reference) and shows it
on the node. Formats: mp4, webm, gif, webp; pingpong for a back-and-forth loop."""


def text_to_video(name: str, frames: int, chunk: int) -> dict:
    """Text-to-video graph, as a spec: nodes (id, type, pos, size, widget values by input name, extras) and links by
    slot name. Every workflow in WORKFLOWS is such a spec, turned into UI JSON by build()."""
    fps = 4.0
    nodes, links = _loader_and_prompts("a horse galloping on a street")
    nodes += [
        (4, "EmptyLatentImage", (400, 450), (315, 106), {"width": 512, "height": 512, "batch_size": frames},
         {"title": f"Frames ({frames}, 512x512)"}),
        (5, "MotionLatentSampler", (850, 60), (340, 520), _sampler_values(0, frames_per_chunk=chunk), {}),
        (6, "VAEDecode", (1230, 60), (210, 46), {}, {}),
        (7, "FramesToVideo", (1230, 160), (420, 560),
         {"frame_rate": fps, "format": "mp4", "filename_prefix": f"T2V-Zero/{name}"}, {}),
        (8, "Note", (-420, 60), (420, 700), {"text": NOTE.format(url=CHECKPOINT_URL, frames=frames, name=name,
                                                                  fps=fps)},
         {"title": "Read me: models, knobs, output", "color": "#432", "bgcolor": "#653"}),
    ]
    links += [(1, "MODEL", 5, "model"), (2, "CONDITIONING", 5, "positive"), (3, "CONDITIONING", 5, "negative"),
              (4, "LATENT", 5, "latent_image"), (5, "LATENT", 6, "samples"), (1, "VAE", 6, "vae"),
              (6, "IMAGE", 7, "images")]
    return {"nodes": nodes, "links": links}


I2V_NOTE = """Image-to-video with Text2Video-Zero: the video starts from your image and the camera moves away from it.

MODEL
An SD1.5 checkpoint, e.g. v1-5-pruned-emaonly.safetensors (4 GB) from
  {url}
into  ComfyUI/models/checkpoints/  (or any SD1.5 fine-tune; press R to refresh the list).

IMAGE
Load Image: your picture (ComfyUI/input/). Upscale Image crops and scales it to the video's size (512x512 here, the
same as Empty Latent Image), VAE Encode turns it into first_frame.
Describe the image in the positive prompt: the prompt still steers every frame.

FIRST FRAME (Motion Latent Sampler)
first_frame_strength 1.0: frame 0 is exactly your image; the other frames are frame 0 moved by the motion and
  re-imagined around it, attending to it for identity and background.
Below 1.0 the model may repair or restyle frame 0 (img2img with denoise 1 - strength; 0.7 keeps the layout).
A first frame of another size is resized (with a warning in the console); several images at once are refused:
  pick one with Latent From Batch.

MOTION
motion_x / motion_y: pixels per frame of a 512-px frame; positive motion_x moves the content LEFT, positive
  motion_y moves it UP. zoom > 1 moves in, < 1 out; rotation in degrees per frame (positive = anticlockwise).
t0 / t1 (44 / 47): where frame 0's latent is taken and warped, and where all frames start denoising together.
frames_per_chunk: 0 = all frames at once; 8 = eight at a time for long videos (same result, flat memory).
sampler ddim + scheduler ddim_uniform, 50 steps: the reference's settings; any sampler works.

OUTPUT
Frames To Video writes ComfyUI/output/T2V-Zero/{name}_00001_.mp4 ({fps:g} fps) and shows it on the node."""

CONTINUATION_NOTE = """Long videos in segments: the last frame of one clip is the first frame of the next.

MODEL
An SD1.5 checkpoint, e.g. v1-5-pruned-emaonly.safetensors (4 GB) from
  {url}
into  ComfyUI/models/checkpoints/  (or any SD1.5 fine-tune).

HOW IT CHAINS
Segment 1 (Motion Latent Sampler, top): text-to-video, {frames} frames.
Latent From Batch (batch_index {last}, length 1): its last frame.
Segment 2 (Motion Latent Sampler, bottom): first_frame = that frame, first_frame_strength 1.0, so segment 2 starts
  exactly where segment 1 ends and keeps its look (its frames attend to that frame).
Latent From Batch (batch_index 1, length {rest}) drops segment 2's frame 0 (the same frame again), Latent Batch
  joins the two: {total} frames. Add more segments the same way; each can use its own prompt, seed and motion
  (e.g. pan right, then zoom in). If you change the frame count, set batch_index to frames - 1.

KNOBS
motion_x / motion_y: pixels per frame of a 512-px frame; positive motion_x moves the content LEFT, positive
  motion_y moves it UP. zoom > 1 moves in; rotation in degrees per frame (positive = anticlockwise).
t0 / t1, frames_per_chunk, sampler: as in the text-to-video workflow (50 ddim steps = the reference).

OUTPUT
Frames To Video writes ComfyUI/output/T2V-Zero/{name}_00001_.mp4 ({fps:g} fps)."""


def _loader_and_prompts(text: str) -> tuple[list, list]:
    nodes = [
        (1, "CheckpointLoaderSimple", (40, 180), (315, 98), {"ckpt_name": CHECKPOINT},
         {"properties": {"models": [{"name": CHECKPOINT, "url": CHECKPOINT_URL, "directory": "checkpoints"}]}}),
        (2, "CLIPTextEncode", (400, 60), (400, 160), {"text": text},
         {"title": "Positive prompt", "color": "#232", "bgcolor": "#353"}),
        (3, "CLIPTextEncode", (400, 270), (400, 130), {"text": ""},
         {"title": "Negative prompt", "color": "#322", "bgcolor": "#533"}),
    ]
    links = [(1, "CLIP", 2, "clip"), (1, "CLIP", 3, "clip")]
    return nodes, links


def _sampler_values(seed: int, **overrides) -> dict:
    values = {"seed": seed, "steps": 50, "cfg": 7.5, "sampler_name": "ddim", "scheduler": "ddim_uniform",
              "noise_mode": "motion", "motion_x": 12.0, "motion_y": 12.0, "zoom": 1.0, "rotation": 0.0, "t0": 44,
              "t1": 47, "frames_per_chunk": 0}
    values.update(overrides)
    return values


def image_to_video(name: str, frames: int) -> dict:
    """Load Image -> Upscale Image (crop to the video size) -> VAE Encode -> first_frame of Motion Latent Sampler."""
    fps = 4.0
    nodes, links = _loader_and_prompts("a cartoon girl with blond hair waving on a green meadow")  # example.png
    nodes += [
        (4, "EmptyLatentImage", (400, 450), (315, 106), {"width": 512, "height": 512, "batch_size": frames},
         {"title": f"Frames ({frames}, 512x512)"}),
        (5, "LoadImage", (40, 620), (315, 314), {"image": "example.png"}, {"title": "First frame (your image)"}),
        (6, "ImageScale", (400, 620), (315, 130),
         {"upscale_method": "bilinear", "width": 512, "height": 512, "crop": "center"},
         {"title": "Crop + scale to the video size"}),
        (7, "VAEEncode", (400, 800), (210, 46), {}, {}),
        (8, "MotionLatentSampler", (850, 60), (340, 600), _sampler_values(0, first_frame_strength=1.0), {}),
        (9, "VAEDecode", (1230, 60), (210, 46), {}, {}),
        (10, "FramesToVideo", (1230, 160), (420, 560),
         {"frame_rate": fps, "format": "mp4", "filename_prefix": f"T2V-Zero/{name}"}, {}),
        (11, "Note", (-420, 60), (420, 760), {"text": I2V_NOTE.format(url=CHECKPOINT_URL, name=name, fps=fps)},
         {"title": "Read me: models, knobs, output", "color": "#432", "bgcolor": "#653"}),
    ]
    links += [(1, "MODEL", 8, "model"), (2, "CONDITIONING", 8, "positive"), (3, "CONDITIONING", 8, "negative"),
              (4, "LATENT", 8, "latent_image"), (5, "IMAGE", 6, "image"), (6, "IMAGE", 7, "pixels"),
              (1, "VAE", 7, "vae"), (7, "LATENT", 8, "first_frame"), (8, "LATENT", 9, "samples"),
              (1, "VAE", 9, "vae"), (9, "IMAGE", 10, "images")]
    return {"nodes": nodes, "links": links}


def video_continuation(name: str, frames: int) -> dict:
    """Two text-to-video segments, the second starting from the first one's last frame, joined into one video."""
    fps = 4.0
    nodes, links = _loader_and_prompts("a horse galloping on a street")
    nodes += [
        (4, "EmptyLatentImage", (400, 450), (315, 106), {"width": 512, "height": 512, "batch_size": frames},
         {"title": f"Frames per segment ({frames}, 512x512)"}),
        (5, "MotionLatentSampler", (850, 60), (340, 600), _sampler_values(0), {"title": "Segment 1"}),
        (6, "LatentFromBatch", (850, 700), (315, 82), {"batch_index": frames - 1, "length": 1},
         {"title": "Last frame of segment 1"}),
        (7, "MotionLatentSampler", (1230, 60), (340, 600), _sampler_values(1, first_frame_strength=1.0),
         {"title": "Segment 2 (starts from that frame)"}),
        (8, "LatentFromBatch", (1230, 700), (315, 82), {"batch_index": 1, "length": frames - 1},
         {"title": "Segment 2 without its frame 0"}),
        (9, "LatentBatch", (1610, 60), (210, 46), {}, {"title": "Segment 1 + segment 2"}),
        (10, "VAEDecode", (1610, 160), (210, 46), {}, {}),
        (11, "FramesToVideo", (1610, 260), (420, 560),
         {"frame_rate": fps, "format": "mp4", "filename_prefix": f"T2V-Zero/{name}"}, {}),
        (12, "Note", (-420, 60), (420, 760),
         {"text": CONTINUATION_NOTE.format(url=CHECKPOINT_URL, name=name, fps=fps, frames=frames, last=frames - 1,
                                           rest=frames - 1, total=2 * frames - 1)},
         {"title": "Read me: models, knobs, output", "color": "#432", "bgcolor": "#653"}),
    ]
    links += [(1, "MODEL", 5, "model"), (2, "CONDITIONING", 5, "positive"), (3, "CONDITIONING", 5, "negative"),
              (4, "LATENT", 5, "latent_image"), (5, "LATENT", 6, "samples"),
              (1, "MODEL", 7, "model"), (2, "CONDITIONING", 7, "positive"), (3, "CONDITIONING", 7, "negative"),
              (4, "LATENT", 7, "latent_image"), (6, "LATENT", 7, "first_frame"), (7, "LATENT", 8, "samples"),
              (5, "LATENT", 9, "samples1"), (8, "LATENT", 9, "samples2"), (9, "LATENT", 10, "samples"),
              (1, "VAE", 10, "vae"), (10, "IMAGE", 11, "images")]
    return {"nodes": nodes, "links": links}


IP2P_CHECKPOINT = "instruct-pix2pix-00-22000.safetensors"
IP2P_CHECKPOINT_URL = "https://huggingface.co/timbrooks/instruct-pix2pix/resolve/main/" + IP2P_CHECKPOINT

IP2P_NOTE = """Video Instruct-Pix2Pix (Text2Video-Zero): edit a video by an instruction, consistently across frames.

MODEL
Download the Instruct-Pix2Pix checkpoint {ckpt} (an SD1.5 fine-tune) from
  {url}
into  ComfyUI/models/checkpoints/  and pick it in Load Checkpoint (press R to refresh). A normal SD1.5 checkpoint
does not work here: the node needs a UNet with 8 input channels and says so.

VIDEO
Load Video: upload your clip (any format ffmpeg reads; it lands in ComfyUI/input/). Get Video Components splits it
into frames and its frame rate. "Longer side 512" (ImageScaleToMaxDimension) scales them as the reference does
(SD1.5's size); the node rounds sides to a multiple of 8.
Frame selection on the node: start_frame / end_frame (inclusive, -1 = last) / every_nth (2 = every other frame; the
frame rate out is divided by it, so the duration stays). 50 steps per frame: start with a few seconds.

KNOBS (Instruct-Pix2Pix Video)
positive prompt = the instruction, phrased as an edit: "make it Van Gogh Starry Night style", "turn it into winter".
text_guidance (7.5): how strongly the instruction is applied. image_guidance (1.0, range 0-5): how closely the
  result keeps the input frames; raise it (1.5-2) if the edit destroys the content, lower it for a stronger edit.
noise_mode: shared (default) gives every frame the same noise, so frames differ only where the video does (less
  flicker); independent is the reference's recipe (fresh noise per frame, flickers more).
frames_per_chunk (8): frames per UNet call: memory stays flat however long the video; 0 = all at once.
sampler euler_ancestral + scheduler normal, 50 steps: the reference's settings; any sampler works.
seed: fixed here so a rerun gives the same video.

OUTPUT
Frames To Video writes ComfyUI/output/T2V-Zero/{name}_00001_.mp4 at the source's frame rate (without its audio) and
shows it on the node."""


FLOW_NOTE = """

EDITS THAT MOVE WITH THE VIDEO (noise_mode flow: on here; attention_along_flow: off, see below)
The node computes your clip's optical flow: OpenCV's DIS, no weights (about 0.06 s a frame at 512 px, 0.25 s at
1024 px, on one CPU thread). On ComfyUI 0.33+ you may add a Load Optical Flow Model node (raft_large.pth in
ComfyUI/models/optical_flow) and link it to optical_flow: RAFT, better on large motion.
noise_mode flow: frame 0's noise is carried along that motion (fresh where content comes into view), so detail the
  model draws from the noise ({detail}) moves with the surfaces instead of staying put on the screen while the video
  moves under it. With ancestral samplers every step's noise is carried too.
attention_along_flow: after every self-attention each patch also attends to the patches on its flow trajectory in
  the other frames (FLATTEN), besides frame 0's edit. Off here: in the pack's small trained world it helped only on
  top of flow noise on fast motion and made slow motion a little worse.
What to expect, measured there (docs/consistency.md): where the content moves by one of the model's patches a frame
or more ({patch}), flow noise makes the edit move with the scene 70% better given a correct flow, and trajectory
attention on top 83%; with a flow that misses the motion (DIS on periodic patterns) about 10%. On slower motion it
changes little, and flicker (change where the source stands still) rises, as the detail now moves. To compare, set
noise_mode shared (the other template)."""


IP2P_DISTRIBUTED_NOTE = """

OVER SEVERAL MACHINES (ComfyUI-Distributed)
The master and every enabled worker each edit their part of the frames (and frame 0, the anchor): Distributed Seed
(seed 0, "fixed") -> part (master 0, worker k: k); parts = the master + the enabled workers ({parts} here). Decode
Video Part -> Distributed Collector -> Join Video Parts put the parts together on the master, or stop with an error
naming a part that did not arrive. Needs ComfyUI-Distributed on the master and the workers, and this pack, the
checkpoint and the video (ComfyUI/input/) on every worker; the workers in the Distributed panel, enabled (started by
hand: --enable-cors-header). Without workers set parts = 1. The result is the one-machine edit, frame for frame."""


def video_instruct_pix2pix(name: str, parts: int = 1, flow: bool = False) -> dict:
    """Load Video -> Get Video Components -> Scale (longer side 512) -> Instruct-Pix2Pix Video -> Frames To Video,
    the frame rate linked from the source through the node (divided by every_nth). ``parts`` > 1: in parts on
    ComfyUI-Distributed (Distributed Seed -> part; Decode Video Part -> Distributed Collector -> Join Video Parts)."""
    nodes = [
        (1, "CheckpointLoaderSimple", (40, 180), (315, 98), {"ckpt_name": IP2P_CHECKPOINT},
         {"properties": {"models": [{"name": IP2P_CHECKPOINT, "url": IP2P_CHECKPOINT_URL,
                                     "directory": "checkpoints"}]}}),
        (2, "CLIPTextEncode", (400, 60), (400, 160), {"text": "make it Van Gogh Starry Night style"},
         {"title": "Instruction", "color": "#232", "bgcolor": "#353"}),
        (3, "CLIPTextEncode", (400, 270), (400, 130), {"text": ""},
         {"title": "Negative prompt", "color": "#322", "bgcolor": "#533"}),
        (4, "LoadVideo", (40, 420), (315, 300), {"file": "video.mp4"}, {"title": "Your video"}),
        (5, "GetVideoComponents", (400, 450), (240, 70), {}, {}),
        (6, "ImageScaleToMaxDimension", (400, 560), (315, 82), {"upscale_method": "area", "largest_size": 512},
         {"title": "Longer side 512 (as the reference)"}),
        (7, "InstructPix2PixVideo", (850, 60), (340, 560),
         {"image_guidance": 1.0, "text_guidance": 7.5, "seed": 0, "steps": 50, "sampler_name": "euler_ancestral",
          "scheduler": "normal", "noise_mode": "flow" if flow else "shared", "frames_per_chunk": 8, "start_frame": 0,
          "end_frame": -1, "every_nth": 1, **({"parts": parts} if parts > 1 else {}),
          **({"attention_along_flow": False} if flow else {})},
         {"title": "Instruct-Pix2Pix Video: noise along the flow"} if flow else {}),
        (8, "FramesToVideo", (1530 if parts > 1 else 1230, 60), (420, 560),
         {"format": "mp4", "filename_prefix": f"T2V-Zero/{name}"}, {}),
        (9, "Note", (-420, 60), (420, 1000 if parts > 1 or flow else 800),
         {"text": IP2P_NOTE.format(ckpt=IP2P_CHECKPOINT, url=IP2P_CHECKPOINT_URL, name=name)
          + (IP2P_DISTRIBUTED_NOTE.format(parts=parts) if parts > 1 else "")
          + (FLOW_NOTE.format(detail="brush strokes, texture", patch="8 px at 1/8 latent scale") if flow else "")},
         {"title": "Read me: models, knobs, output", "color": "#432", "bgcolor": "#653"}),
    ]
    links = [(1, "CLIP", 2, "clip"), (1, "CLIP", 3, "clip"), (4, "VIDEO", 5, "video"), (5, "images", 6, "image"),
             (1, "MODEL", 7, "model"), (2, "CONDITIONING", 7, "positive"), (3, "CONDITIONING", 7, "negative"),
             (1, "VAE", 7, "vae"), (6, "IMAGE", 7, "frames"), (5, "fps", 7, "frame_rate"),
             (7, "frame_rate", 8, "frame_rate")]
    if parts == 1:
        return {"nodes": nodes, "links": links + [(7, "images", 8, "images")]}
    nodes += [
        (10, "DistributedSeed", (400, 700), (315, 82), {"seed": 0}, {"title": "Part: master 0, worker k: k"}),
        (11, "DecodeVideoPart", (1230, 60), (250, 46), {}, {}),
        (12, "DistributedCollector", (1230, 160), (250, 80), {"load_balance": False}, {}),
        (13, "JoinVideoParts", (1230, 290), (250, 46), {}, {}),
    ]
    links += [(10, "seed", 7, "part"), (7, "latent", 11, "samples"), (7, "images", 11, "images"),
              (11, "labelled_frames", 12, "images"), (12, "images", 13, "images"), (13, "frames", 8, "images")]
    return {"nodes": nodes, "links": links}


CONTROLNET_URL = "https://huggingface.co/lllyasviel/ControlNet-v1-1/resolve/main/"
CONTROLNET_FRAMES = 16
CONTROLNETS = {  # kind -> (stock file, preprocessor, prompt, negative prompt, what the control frames must be)
    "canny": ("control_v11p_sd15_canny.pth", "canny",
              "oil painting of a white swan on a lake, best quality, extremely detailed", "",
              """The node finds the edges itself (preprocessor canny: OpenCV Canny, as the reference, at the size the
video is generated at). low_threshold / high_threshold 100 / 200 as the reference: lower them for more edges,
raise them for fewer. Canny has no preview here: core Canny (image/preprocessors) shows what the thresholds do on a
frame."""),
    "pose": ("control_v11p_sd15_openpose.pth", "none",
             "an astronaut dancing on the moon, best quality, extremely detailed, HD, masterpiece, smooth",
             "lowres, bad anatomy, bad hands, missing fingers, extra digit, cropped, worst quality, low quality, "
             "deformed body, ugly",
             """The ControlNet needs pose skeletons (preprocessor none: the frames go in as they are). Either load a
video that already is an OpenPose skeleton video (the reference's pose examples are), or insert a pose detector from the
comfyui_controlnet_aux pack between Image From Batch and Video ControlNet Apply: DWPose Estimator (DWPreprocessor)
or OpenPose Pose (OpenposePreprocessor), resolution 512, body on. The reference samples pose videos at 4 fps:
fewer, further-apart frames move more per frame."""),
    "depth": ("control_v11f1p_sd15_depth.pth", "none",
              "a marble statue in a museum, best quality, extremely detailed", "",
              """The ControlNet needs depth maps (preprocessor none: the frames go in as they are). Insert a depth
estimator from the comfyui_controlnet_aux pack between Image From Batch and Video ControlNet Apply: Depth Anything
(DepthAnythingPreprocessor) or MiDaS Depth Map (MiDaS-DepthMapPreprocessor; the reference uses MiDaS dpt_hybrid),
resolution 512; or load a video that already is a depth video (near = bright)."""),
}

CONTROL_NOUNS = {"canny": "edges (canny)", "pose": "poses (openpose)", "depth": "depth"}

CONTROLNET_NOTE = """ControlNet video (Text2Video-Zero): a new video of the prompt that follows your video's {noun}.

MODELS
SD1.5 checkpoint, e.g. v1-5-pruned-emaonly.safetensors (4 GB) from
  {ckpt_url}
into  ComfyUI/models/checkpoints/  (or any SD1.5 fine-tune).
ControlNet {cnet} (1.4 GB) from
  {cnet_url}
into  ComfyUI/models/controlnet/  and pick it in Load ControlNet Model (press R to refresh the lists).

VIDEO
Load Video: upload your clip (it lands in ComfyUI/input/). Get Video Components gives its frames and frame rate.
Scale Image to Max Dimension: longer side 512 as the reference (SD1.5's size). Image From Batch: the frames used
(batch_index = first frame, length = how many: {frames} here; every frame costs 20 steps). Get Image Size feeds
Empty Latent Image, so there is one latent per control frame at the frames' size: nothing to set by hand.

CONTROL FRAMES
{control}

VIDEO CONTROLNET APPLY
Frame k follows control frame k, also in chunks and context windows; cross-frame attention acts inside the
ControlNet too, as in the paper. strength 1.0 (reference), start/end percent = the part of the denoising it steers.
frame_mismatch: error (one control frame per latent, the default), repeat (loop the frames) or stride (spread them).

SAMPLER (Motion Latent Sampler): the reference's ControlNet recipe
noise_mode shared: every frame starts from the same noise, with no motion warp: the control frames drive the
  motion. motion_x / motion_y / zoom / rotation / t0 / t1 act only in noise_mode motion (the text-to-video
  recipe) and are ignored here.
steps 20, cfg 9, sampler ddim + scheduler ddim_uniform: the reference's settings; any sampler works.
frames_per_chunk 8: eight frames per UNet and ControlNet call, so memory stays flat for long clips; same result.
seed: fixed here so a rerun gives the same video.

OUTPUT
Frames To Video writes ComfyUI/output/T2V-Zero/{name}_00001_.mp4 at the source's frame rate."""


def controlnet_video(name: str, kind: str) -> dict:
    """Load Video -> Get Video Components -> Scale (longer side 512) -> Image From Batch -> Video ControlNet Apply ->
    Motion Latent Sampler (shared noise, 20 steps, cfg 9) -> VAE Decode -> Frames To Video at the source's rate."""
    cnet, preprocessor, text, negative, control = CONTROLNETS[kind]
    nodes, links = _loader_and_prompts(text)
    nodes[2] = (3, "CLIPTextEncode", (400, 270), (400, 130), {"text": negative},
                {"title": "Negative prompt", "color": "#322", "bgcolor": "#533"})
    nodes += [
        (4, "LoadVideo", (40, 420), (315, 300), {"file": "video.mp4"}, {"title": "Your video"}),
        (5, "GetVideoComponents", (400, 450), (240, 70), {}, {}),
        (6, "ImageScaleToMaxDimension", (400, 560), (315, 82), {"upscale_method": "area", "largest_size": 512},
         {"title": "Longer side 512 (as the reference)"}),
        (7, "ImageFromBatch", (400, 680), (315, 82), {"batch_index": 0, "length": CONTROLNET_FRAMES},
         {"title": f"Frames used (first {CONTROLNET_FRAMES})"}),
        (8, "ControlNetLoader", (400, 800), (315, 58), {"control_net_name": cnet},
         {"properties": {"models": [{"name": cnet, "url": CONTROLNET_URL + cnet, "directory": "controlnet"}]}}),
        (9, "VideoControlNetApply", (850, 60), (340, 330),
         {"strength": 1.0, "start_percent": 0.0, "end_percent": 1.0, "preprocessor": preprocessor,
          "low_threshold": 100, "high_threshold": 200, "frame_mismatch": "error"}, {}),
        (10, "GetImageSize", (850, 440), (240, 90), {}, {}),
        (11, "EmptyLatentImage", (850, 580), (315, 106), {}, {"title": "One latent per control frame"}),
        (12, "MotionLatentSampler", (1230, 60), (340, 600),
         _sampler_values(0, steps=20, cfg=9.0, noise_mode="shared", frames_per_chunk=8), {}),
        (13, "VAEDecode", (1610, 60), (210, 46), {}, {}),
        (14, "FramesToVideo", (1610, 160), (420, 560), {"format": "mp4", "filename_prefix": f"T2V-Zero/{name}"},
         {}),
        (15, "Note", (-420, 60), (420, 900),
         {"text": CONTROLNET_NOTE.format(noun=CONTROL_NOUNS[kind], ckpt_url=CHECKPOINT_URL, cnet=cnet,
                                         cnet_url=CONTROLNET_URL + cnet, frames=CONTROLNET_FRAMES, control=control,
                                         name=name)},
         {"title": "Read me: models, knobs, output", "color": "#432", "bgcolor": "#653"}),
    ]
    links += [(4, "VIDEO", 5, "video"), (5, "images", 6, "image"), (6, "IMAGE", 7, "image"),
              (2, "CONDITIONING", 9, "positive"), (3, "CONDITIONING", 9, "negative"),
              (8, "CONTROL_NET", 9, "control_net"), (7, "IMAGE", 9, "images"), (7, "IMAGE", 10, "image"),
              (10, "width", 11, "width"), (10, "height", 11, "height"), (10, "batch_size", 11, "batch_size"),
              (1, "MODEL", 12, "model"), (9, "positive", 12, "positive"), (9, "negative", 12, "negative"),
              (11, "LATENT", 12, "latent_image"), (12, "LATENT", 13, "samples"), (1, "VAE", 13, "vae"),
              (13, "IMAGE", 14, "images"), (5, "fps", 14, "frame_rate")]
    return {"nodes": nodes, "links": links}


DISTRIBUTED_NOTE = """One video over several GPUs or machines: ComfyUI-Distributed runs this workflow on the master and on every
enabled worker; each makes its part of the {frames} frames, and the master puts the video together. The result is the
video one machine makes with parts = 1, frame for frame, in about 1/N of the time (each part also recomputes frame 0:
53 + 48 x F/N frame-steps at 50 steps, against 5 + 48 x F alone).

NEEDS
ComfyUI-Distributed (robertvoy; ComfyUI-Manager: "ComfyUI-Distributed") on the master and on every worker, and on
every worker this pack (T2V-Zero) and the same checkpoint, v1-5-pruned-emaonly.safetensors from
  {url}
in  ComfyUI/models/checkpoints/ .
In the Distributed panel (side bar): add the workers, tick them enabled, keep "master participates" on. A worker
you start by hand needs --enable-cors-header, or the panel sees it as offline.

WIRING
Distributed Seed (seed 0, control "fixed": never randomize) -> part: the master makes part 0, worker k part k.
parts = the master + the enabled workers ({parts} here: the master and 2 workers). Set it when you add or remove one.
Decode Video Part labels each part's frames; Distributed Collector gathers them on the master; Join Video Parts
  checks every part came, once and in order, and joins them. A worker that is offline, stops or fails leaves a part
  missing: the run then stops with an error naming it, and no shorter video is written.
Everything else as in the text-to-video workflow: motion_x / motion_y, zoom, rotation, t0 / t1, seed (the video's
  own seed: every participant uses the same), frames_per_chunk for long parts. Anchor first+previous cannot be split.

ALONE
Without workers (or with parts = 1) the workflow runs on this machine alone and makes the whole video.

OUTPUT
Frames To Video writes ComfyUI/output/T2V-Zero/{name}_00001_.mp4 on the master ({fps:g} fps)."""


def text_to_video_distributed(name: str, frames: int, parts: int) -> dict:
    """Text-to-video in parts on ComfyUI-Distributed: Distributed Seed -> part, Decode Video Part -> Distributed
    Collector -> Join Video Parts -> Frames To Video."""
    fps = 4.0
    nodes, links = _loader_and_prompts("a horse galloping on a street")
    nodes += [
        (4, "EmptyLatentImage", (400, 450), (315, 106), {"width": 512, "height": 512, "batch_size": frames},
         {"title": f"Frames ({frames}, 512x512)"}),
        (5, "DistributedSeed", (400, 600), (315, 82), {"seed": 0}, {"title": "Part: master 0, worker k: k"}),
        (6, "MotionLatentSampler", (850, 60), (340, 560), _sampler_values(0, parts=parts), {}),
        (7, "DecodeVideoPart", (1230, 60), (250, 46), {}, {}),
        (8, "DistributedCollector", (1230, 160), (250, 80), {"load_balance": False}, {}),
        (9, "JoinVideoParts", (1230, 290), (250, 46), {}, {}),
        (10, "FramesToVideo", (1530, 60), (420, 560),
         {"frame_rate": fps, "format": "mp4", "filename_prefix": f"T2V-Zero/{name}"}, {}),
        (11, "Note", (-420, 60), (420, 840), {"text": DISTRIBUTED_NOTE.format(
            url=CHECKPOINT_URL, frames=frames, parts=parts, name=name, fps=fps)},
         {"title": "Read me: workers, parts, output", "color": "#432", "bgcolor": "#653"}),
    ]
    links += [(1, "MODEL", 6, "model"), (2, "CONDITIONING", 6, "positive"), (3, "CONDITIONING", 6, "negative"),
              (4, "LATENT", 6, "latent_image"), (5, "seed", 6, "part"), (6, "LATENT", 7, "samples"),
              (1, "VAE", 7, "vae"), (7, "labelled_frames", 8, "images"), (8, "images", 9, "images"),
              (9, "frames", 10, "images")]
    return {"nodes": nodes, "links": links}


CAMERA_NOTE = """{intro}

MODEL
An SD1.5 checkpoint, e.g. v1-5-pruned-emaonly.safetensors (4 GB) from
  {url}
into  ComfyUI/models/checkpoints/  (or any SD1.5 fine-tune; press R to refresh the list).
{image}
CAMERA PATH (the Camera Path node: keyframes in the frame:(value) syntax of FizzNodes / Deforum)
pan_x / pan_y: camera position in pixels of a 512-px frame (motion_x / motion_y's units; positive pan_x moves the
  content LEFT, positive pan_y UP). zoom: 1 = as frame 0, 1.5 = 1.5 times closer. rotation: degrees, positive =
  anticlockwise. Each is a list of keyframes, e.g. 0:(0), 12:(0), 36:(96) = hold for 12 frames, then pan 96 px.
Frames between keyframes are eased ({interpolation}: starts and stops gently; also linear, ease_in, ease_out,
  hold); after the last keyframe the camera holds. A linked camera_path replaces motion_x / motion_y / zoom /
  rotation on the sampler.

SEE THE MOVE FIRST
Motion Preview shows what the camera does to frame 0 ({shown}) with the sampler's own warp, in
  milliseconds: select it and Queue Selected Output Nodes (right-click), then tune the keyframes; Run the whole
  workflow when the move is right.

OUTPUT
Frames To Video writes ComfyUI/output/T2V-Zero/{name}_00001_.mp4 ({fps:g} fps) and shows it on the node."""


def camera_path_video(name: str, frames: int, photo: bool) -> dict:
    """Text-to-video (or image-to-video from a photo, Ken Burns) along a keyframed camera path, with its preview."""
    fps = 8.0
    text = "a cartoon girl with blond hair waving on a green meadow" if photo else "a horse galloping on a street"
    nodes, links = _loader_and_prompts(text)
    if photo:  # a slow push-in drifting left and up over the photo
        path = {"pan_x": f"0:(0), {frames - 1}:(-40)", "pan_y": f"0:(0), {frames - 1}:(-16)",
                "zoom": f"0:(1), {frames - 1}:(1.3)", "rotation": "0:(0)", "interpolation": "ease_in_out"}
        intro = (f"Ken Burns over a photo: a slow push-in with a drift, {frames} frames from your picture (frame 0 "
                 f"is the picture itself, first_frame_strength 1.0).")
        image = ("\nIMAGE\nLoad Image: your photo (ComfyUI/input/). Upscale Image crops and scales it to 512x512; VAE "
                 "Encode makes it the sampler's first_frame. Describe the photo in the positive prompt.\n")
    else:  # hold, ease into a pan, then push in
        hold, pan_end = frames // 4, frames * 5 // 8
        path = {"pan_x": f"0:(0), {hold}:(0), {pan_end}:(120)", "pan_y": "0:(0)",
                "zoom": f"0:(1), {pan_end}:(1), {frames - 1}:(1.4)", "rotation": "0:(0)",
                "interpolation": "ease_in_out"}
        intro = (f"Text-to-video along a camera path: {frames} frames that hold still, ease into a pan to the right "
                 f"(the content moves left) and then push in.")
        image = ""
    nodes += [
        (4, "EmptyLatentImage", (400, 450), (315, 106), {"width": 512, "height": 512, "batch_size": frames},
         {"title": f"Frames ({frames}, 512x512)"}),
        (5, "CameraPath", (400, 600), (400, 330), path, {}),
        (6, "MotionLatentSampler", (850, 60), (340, 600),
         _sampler_values(0, motion_x=0.0, motion_y=0.0, **({"first_frame_strength": 1.0} if photo else {})), {}),
        (7, "VAEDecode", (1230, 60), (210, 46), {}, {}),
        (8, "FramesToVideo", (1230, 160), (420, 560),
         {"frame_rate": fps, "format": "mp4", "filename_prefix": f"T2V-Zero/{name}"}, {}),
        (9, "MotionPreview", (850, 700), (340, 460), {"motion_x": 0.0, "motion_y": 0.0, "frame_rate": fps},
         {"title": "Motion Preview: the camera on frame 0"}),
        (10, "Note", (-420, 60), (420, 840), {"text": CAMERA_NOTE.format(
            intro=intro, url=CHECKPOINT_URL, image=image,
            interpolation=path["interpolation"], shown="your photo" if photo else "a test pattern", name=name,
            fps=fps)}, {"title": "Read me: keyframes, preview, output", "color": "#432", "bgcolor": "#653"}),
    ]
    links += [(1, "MODEL", 6, "model"), (2, "CONDITIONING", 6, "positive"), (3, "CONDITIONING", 6, "negative"),
              (4, "LATENT", 6, "latent_image"), (5, "camera_path", 6, "camera_path"), (6, "LATENT", 7, "samples"),
              (1, "VAE", 7, "vae"), (7, "IMAGE", 8, "images"), (4, "LATENT", 9, "latent_image"),
              (5, "camera_path", 9, "camera_path")]
    if photo:
        nodes += [
            (11, "LoadImage", (40, 620), (315, 314), {"image": "example.png"}, {"title": "Your photo"}),
            (12, "ImageScale", (40, 960), (315, 130),
             {"upscale_method": "bilinear", "width": 512, "height": 512, "crop": "center"},
             {"title": "Crop + scale to the video size"}),
            (13, "VAEEncode", (400, 960), (210, 46), {}, {}),
        ]
        links += [(11, "IMAGE", 12, "image"), (12, "IMAGE", 13, "pixels"), (1, "VAE", 13, "vae"),
                  (13, "LATENT", 6, "first_frame"), (12, "IMAGE", 9, "first_frame")]
    return {"nodes": nodes, "links": links}


# --- the flow DiTs: Flux.1 (UNET / CLIP / VAE loaders, as Flux users wire it) and SD3.5 (an all-in-one checkpoint) ---

FLUX_UNET = "flux1-schnell.safetensors"
FLUX_UNET_URL = "https://huggingface.co/black-forest-labs/FLUX.1-schnell/resolve/main/flux1-schnell.safetensors"
FLUX_VAE = "ae.safetensors"
FLUX_VAE_URL = "https://huggingface.co/black-forest-labs/FLUX.1-schnell/resolve/main/ae.safetensors"
FLUX_CLIP_L = "clip_l.safetensors"
FLUX_T5 = "t5xxl_fp8_e4m3fn.safetensors"
FLUX_TEXT_URL = "https://huggingface.co/comfyanonymous/flux_text_encoders/resolve/main/"
SD35_CHECKPOINT = "sd3.5_large_fp8_scaled.safetensors"
SD35_CHECKPOINT_URL = "https://huggingface.co/Comfy-Org/stable-diffusion-3.5-fp8/resolve/main/" + SD35_CHECKPOINT
DIT_WIDTH, DIT_HEIGHT = 1024, 576  # 16:9, multiples of 16 (the DiTs' patch of 2 latent pixels)

FLUX_NOTE = """Text2Video-Zero on Flux.1: zero-shot {what} with FLUX.1 [schnell] (no video model, no training).

MODELS (Flux.1 as ComfyUI loads it; press R in ComfyUI to refresh the lists after downloading)
  {unet} (24 GB, Apache-2.0)  ->  ComfyUI/models/diffusion_models/
    {unet_url}
  {clip_l} (250 MB) and {t5} (5 GB; t5xxl_fp16.safetensors if you have 32 GB RAM or more)
    ->  ComfyUI/models/text_encoders/   from  {text_url}
  {vae} (335 MB)  ->  ComfyUI/models/vae/
    {vae_url}
FLUX.1 [dev] (flux1-dev.safetensors, gated, non-commercial licence): pick it in Load Diffusion Model and set steps
  to 20; Flux Guidance (3.5) is what dev uses instead of cfg (schnell ignores it). Flux fine-tunes of the same
  architecture work the same way. An fp8 weight_dtype halves the model's memory.
{image}
FRAMES
Empty SD3 Latent Image (16-channel latents, as Flux's): batch_size = number of frames ({frames} here), {width}x{height}.
  Sides must be multiples of 16; others are padded by ComfyUI and cropped back.

MOTION (Motion Latent Sampler)
steps 4, cfg 1.0, euler + simple: schnell's own settings (cfg 1 = no negative prompt; the negative is unused).
motion_x / motion_y: pixels per frame of a 512-px frame; positive motion_x moves the content LEFT, positive
  motion_y moves it UP. zoom > 1 moves in, < 1 out; rotation in degrees per frame.
t0 / t1 (44 / 47): the reference's points; on Flux they are placed by noise level (the same signal-to-noise as on
  SD1.5), and at 4 steps frame 0 gets one step alone before it is moved.
frames_per_chunk: 0 = all frames in one call; 4 = four at a time (same result, less memory: Flux's attention over
  {frames} frames of {width}x{height} is the largest cost).
Cross-frame attention is built in: every frame's image and text tokens attend to frame 0's.

OUTPUT
Frames To Video writes ComfyUI/output/T2V-Zero/{name}_00001_.mp4 (h264, {fps:g} fps) and shows it on the node."""

FLUX_IMAGE_NOTE = """
IMAGE
Load Image: your picture (ComfyUI/input/). Upscale Image crops and scales it to {width}x{height}, VAE Encode (Flux's
VAE) makes it first_frame; first_frame_strength 1.0 keeps it exactly as frame 0. Describe it in the prompt.
"""

SD35_NOTE = """Text2Video-Zero on Stable Diffusion 3.5: zero-shot text-to-video (no video model, no training).

MODEL
  {ckpt} (15 GB: SD3.5 Large in fp8 with its three text encoders and VAE in one file)
  ->  ComfyUI/models/checkpoints/   from
    {url}
SD3.5 Medium and Large Turbo work the same way (Medium's MMDiT-X attention included): pick them in Load
  Checkpoint (Turbo: steps 4-8, cfg 1.0). A checkpoint without text encoders needs Triple CLIP Loader
  (clip_l, clip_g, t5xxl in ComfyUI/models/text_encoders/) instead of Load Checkpoint's CLIP.

FRAMES
Empty SD3 Latent Image: batch_size = number of frames ({frames} here), {width}x{height} (multiples of 16).

MOTION (Motion Latent Sampler)
steps 28, cfg 4.5, euler + sgm_uniform: SD3.5 Large's usual settings; any sampler works.
motion_x / motion_y: pixels per frame of a 512-px frame; positive motion_x moves the content LEFT, positive
  motion_y moves it UP. zoom > 1 moves in, < 1 out; rotation in degrees per frame.
t0 / t1 (44 / 47): the reference's points, placed on SD3's flow schedule by noise level (the same signal-to-noise
  as on SD1.5).
frames_per_chunk: 0 = all frames in one call; 4 = four at a time (same result, less memory).
Cross-frame attention is built in: every frame's image and text tokens attend to frame 0's (SD3.5 Medium's second,
  image-only attention too).

OUTPUT
Frames To Video writes ComfyUI/output/T2V-Zero/{name}_00001_.mp4 (h264, {fps:g} fps) and shows it on the node."""


def _dit_latent_and_output(name: str, frames: int, fps: float, sampler: int, note: str) -> tuple[list, list]:
    """Empty SD3 Latent Image (the 16-channel latent), VAE Decode, Frames To Video and the note, for either DiT."""
    nodes = [
        (6, "EmptySD3LatentImage", (400, 450), (315, 106),
         {"width": DIT_WIDTH, "height": DIT_HEIGHT, "batch_size": frames},
         {"title": f"Frames ({frames}, {DIT_WIDTH}x{DIT_HEIGHT})"}),
        (8, "VAEDecode", (1230, 60), (210, 46), {}, {}),
        (9, "FramesToVideo", (1230, 160), (420, 560),
         {"frame_rate": fps, "format": "mp4", "filename_prefix": f"T2V-Zero/{name}"}, {}),
        (10, "Note", (-420, 60), (420, 760), {"text": note},
         {"title": "Read me: models, knobs, output", "color": "#432", "bgcolor": "#653"}),
    ]
    links = [(6, "LATENT", sampler, "latent_image"), (sampler, "LATENT", 8, "samples"), (8, "IMAGE", 9, "images")]
    return nodes, links


def _flux_loaders(unet: str, unet_url: str) -> list:
    """Nodes 1-3 of a Flux-family workflow, as ComfyUI's Flux examples wire them: Load Diffusion Model ``unet``,
    DualCLIPLoader (CLIP-L + T5-XXL, type flux), Load VAE (ae.safetensors), each naming its download."""
    return [
        (1, "UNETLoader", (40, 60), (315, 82), {"unet_name": unet, "weight_dtype": "default"},
         {"properties": {"models": [{"name": unet, "url": unet_url, "directory": "diffusion_models"}]}}),
        (2, "DualCLIPLoader", (40, 180), (315, 130),
         {"clip_name1": FLUX_CLIP_L, "clip_name2": FLUX_T5, "type": "flux"},
         {"properties": {"models": [{"name": n, "url": FLUX_TEXT_URL + n, "directory": "text_encoders"}
                                    for n in (FLUX_CLIP_L, FLUX_T5)]}}),
        (3, "VAELoader", (40, 350), (315, 58), {"vae_name": FLUX_VAE},
         {"properties": {"models": [{"name": FLUX_VAE, "url": FLUX_VAE_URL, "directory": "vae"}]}}),
    ]


def flux_video(name: str, frames: int, photo: bool) -> dict:
    """Flux.1 schnell as ComfyUI's Flux examples wire it (Load Diffusion Model, DualCLIPLoader flux, Load VAE, Flux
    Guidance) into Motion Latent Sampler; ``photo``: image-to-video (Load Image -> crop -> VAE Encode -> first_frame)."""
    fps = 4.0
    text = ("a cartoon girl with blond hair waving on a green meadow" if photo  # example.png
            else "a red vintage car driving along a coastal road at sunset, cinematic")
    image = FLUX_IMAGE_NOTE.format(width=DIT_WIDTH, height=DIT_HEIGHT) if photo else ""
    note = FLUX_NOTE.format(what="image-to-video" if photo else "text-to-video", unet=FLUX_UNET,
                            unet_url=FLUX_UNET_URL, clip_l=FLUX_CLIP_L, t5=FLUX_T5, text_url=FLUX_TEXT_URL,
                            vae=FLUX_VAE, vae_url=FLUX_VAE_URL, image=image, frames=frames, width=DIT_WIDTH,
                            height=DIT_HEIGHT, name=name, fps=fps)
    nodes = [
        *_flux_loaders(FLUX_UNET, FLUX_UNET_URL),
        (4, "CLIPTextEncode", (400, 60), (400, 160), {"text": text},
         {"title": "Positive prompt", "color": "#232", "bgcolor": "#353"}),
        (5, "CLIPTextEncode", (400, 270), (400, 100), {"text": ""},
         {"title": "Negative prompt (unused at cfg 1)", "color": "#322", "bgcolor": "#533"}),
        (7, "MotionLatentSampler", (850, 60), (340, 600),
         _sampler_values(0, steps=4, cfg=1.0, sampler_name="euler", scheduler="simple",
                         **({"first_frame_strength": 1.0} if photo else {})), {}),
        (11, "FluxGuidance", (400, 600), (315, 58), {"guidance": 3.5}, {"title": "Flux Guidance (dev; schnell ignores it)"}),
    ]
    more, links = _dit_latent_and_output(name, frames, fps, 7, note)
    nodes += more
    links += [(1, "MODEL", 7, "model"), (2, "CLIP", 4, "clip"), (2, "CLIP", 5, "clip"),
              (4, "CONDITIONING", 11, "conditioning"), (11, "CONDITIONING", 7, "positive"),
              (5, "CONDITIONING", 7, "negative"), (3, "VAE", 8, "vae")]
    if photo:
        nodes += [
            (12, "LoadImage", (40, 460), (315, 314), {"image": "example.png"}, {"title": "First frame (your image)"}),
            (13, "ImageScale", (40, 820), (315, 130),
             {"upscale_method": "bilinear", "width": DIT_WIDTH, "height": DIT_HEIGHT, "crop": "center"},
             {"title": "Crop + scale to the video size"}),
            (14, "VAEEncode", (400, 820), (210, 46), {}, {}),
        ]
        links += [(12, "IMAGE", 13, "image"), (13, "IMAGE", 14, "pixels"), (3, "VAE", 14, "vae"),
                  (14, "LATENT", 7, "first_frame")]
    return {"nodes": nodes, "links": links}


def sd35_video(name: str, frames: int) -> dict:
    """SD3.5 Large from an all-in-one fp8 checkpoint (model, text encoders, VAE) into Motion Latent Sampler."""
    fps = 4.0
    note = SD35_NOTE.format(ckpt=SD35_CHECKPOINT, url=SD35_CHECKPOINT_URL, frames=frames, width=DIT_WIDTH,
                            height=DIT_HEIGHT, name=name, fps=fps)
    nodes = [
        (1, "CheckpointLoaderSimple", (40, 180), (315, 98), {"ckpt_name": SD35_CHECKPOINT},
         {"properties": {"models": [{"name": SD35_CHECKPOINT, "url": SD35_CHECKPOINT_URL,
                                     "directory": "checkpoints"}]}}),
        (4, "CLIPTextEncode", (400, 60), (400, 160), {"text": "a red vintage car driving along a coastal road at "
                                                              "sunset, cinematic"},
         {"title": "Positive prompt", "color": "#232", "bgcolor": "#353"}),
        (5, "CLIPTextEncode", (400, 270), (400, 130), {"text": "blurry, low quality"},
         {"title": "Negative prompt", "color": "#322", "bgcolor": "#533"}),
        (7, "MotionLatentSampler", (850, 60), (340, 600),
         _sampler_values(0, steps=28, cfg=4.5, sampler_name="euler", scheduler="sgm_uniform"), {}),
    ]
    more, links = _dit_latent_and_output(name, frames, fps, 7, note)
    nodes += more
    links += [(1, "MODEL", 7, "model"), (1, "CLIP", 4, "clip"), (1, "CLIP", 5, "clip"),
              (4, "CONDITIONING", 7, "positive"), (5, "CONDITIONING", 7, "negative"), (1, "VAE", 8, "vae")]
    return {"nodes": nodes, "links": links}


# --- video editing with today's editing models: Flux.1 Kontext [dev] -------------------------------------------------

KONTEXT_UNET = "flux1-dev-kontext_fp8_scaled.safetensors"
KONTEXT_UNET_URL = ("https://huggingface.co/Comfy-Org/flux1-kontext-dev_ComfyUI/resolve/main/split_files/"
                    "diffusion_models/" + KONTEXT_UNET)

KONTEXT_NOTE = """Video editing with Flux.1 Kontext [dev] and Text2Video-Zero: an instruction applied to every frame of
your clip, the same way on every frame (no flicker).

MODELS (press R in ComfyUI to refresh the lists after downloading)
  {unet} (12 GB; Flux.1 Kontext [dev], non-commercial licence)  ->  ComfyUI/models/diffusion_models/
    {unet_url}
  {clip_l} and {t5} (5 GB)  ->  ComfyUI/models/text_encoders/   from  {text_url}
  {vae} (Flux's VAE, 335 MB)  ->  ComfyUI/models/vae/
    {vae_url}

VIDEO
Load Video: upload your clip (any format ffmpeg reads; it lands in ComfyUI/input/). Get Video Components splits it
into frames and its frame rate. "Longer side 1024" (ImageScaleToMaxDimension) brings the frames near Kontext's
1 megapixel; the node rounds sides to a multiple of 16. Frame selection on the node: start_frame / end_frame
(inclusive, -1 = last) / every_nth (the frame rate out is divided by it, so the duration stays).

HOW IT EDITS (Edit Video: Kontext / Qwen-Image-Edit)
Frame k is edited with source frame k as Kontext's reference image (what Reference Latent does for one picture).
noise_mode shared: every frame starts from the same noise, so frames differ only where the clip does.
Cross-frame attention: every frame reads frame 0's edit (its text and image tokens) besides its own source frame,
  so the edit looks the same on every frame.
Instruction: phrase it as an edit, "make it a snowy winter day", "turn the car into a toy". Flux Guidance 2.5 is
  Kontext's guidance (cfg stays 1.0; the negative is unused at cfg 1).
steps 20, euler + simple: Kontext's usual settings. frames_per_chunk {chunk}: frames per model call (memory stays flat
  however long the clip; 0 = all at once; the result is the same).

OUTPUT
Frames To Video writes ComfyUI/output/T2V-Zero/{name}_00001_.mp4 at the source's frame rate (without its audio) and
shows it on the node."""


def kontext_video_edit(name: str, flow: bool = False) -> dict:
    """Load Video -> Get Video Components -> Scale (longer side 1024) -> Edit Video (Kontext) -> Frames To Video,
    Kontext wired as ComfyUI's Kontext example (Load Diffusion Model, DualCLIPLoader flux, Load VAE, Flux Guidance,
    Conditioning Zero Out for the unused negative)."""
    chunk = 4
    note = KONTEXT_NOTE.format(unet=KONTEXT_UNET, unet_url=KONTEXT_UNET_URL, clip_l=FLUX_CLIP_L, t5=FLUX_T5,
                               text_url=FLUX_TEXT_URL, vae=FLUX_VAE, vae_url=FLUX_VAE_URL, chunk=chunk, name=name)
    if flow:
        note += FLOW_NOTE.format(detail="snow flakes, texture", patch="16 px: Kontext reads 2x2 latent pixels as one")
    nodes = [
        *_flux_loaders(KONTEXT_UNET, KONTEXT_UNET_URL),
        (4, "CLIPTextEncode", (400, 60), (400, 160), {"text": "make it a snowy winter day"},
         {"title": "Instruction", "color": "#232", "bgcolor": "#353"}),
        (5, "FluxGuidance", (400, 270), (315, 58), {"guidance": 2.5}, {}),
        (6, "ConditioningZeroOut", (400, 370), (315, 26), {}, {"title": "Negative (unused at cfg 1)"}),
        (7, "LoadVideo", (40, 460), (315, 300), {"file": "video.mp4"}, {"title": "Your video"}),
        (8, "GetVideoComponents", (400, 460), (240, 70), {}, {}),
        (9, "ImageScaleToMaxDimension", (400, 580), (315, 82), {"upscale_method": "area", "largest_size": 1024},
         {"title": "Longer side 1024 (about 1 megapixel)"}),
        (10, "ReferenceEditVideo", (850, 60), (340, 560),
         {"cfg": 1.0, "seed": 0, "steps": 20, "sampler_name": "euler", "scheduler": "simple",
          "noise_mode": "flow" if flow else "shared", "frames_per_chunk": chunk, "start_frame": 0, "end_frame": -1,
          "every_nth": 1, **({"attention_along_flow": False} if flow else {})},
         {"title": "Edit Video: Kontext, noise along the flow"} if flow else {}),
        (11, "FramesToVideo", (1230, 60), (420, 560), {"format": "mp4", "filename_prefix": f"T2V-Zero/{name}"}, {}),
        (12, "Note", (-420, 60), (420, 1080 if flow else 880), {"text": note},
         {"title": "Read me: models, knobs, output", "color": "#432", "bgcolor": "#653"}),
    ]
    links = [(2, "CLIP", 4, "clip"), (4, "CONDITIONING", 5, "conditioning"), (4, "CONDITIONING", 6, "conditioning"),
             (7, "VIDEO", 8, "video"), (8, "images", 9, "image"), (1, "MODEL", 10, "model"),
             (5, "CONDITIONING", 10, "positive"), (6, "CONDITIONING", 10, "negative"), (3, "VAE", 10, "vae"),
             (9, "IMAGE", 10, "frames"), (8, "fps", 10, "frame_rate"), (10, "images", 11, "images"),
             (10, "frame_rate", 11, "frame_rate")]
    return {"nodes": nodes, "links": links}


# --- video editing with Qwen-Image-Edit -------------------------------------------------------------------------------

QWEN_EDIT_UNET = "qwen_image_edit_2509_fp8_e4m3fn.safetensors"
QWEN_EDIT_UNET_URL = ("https://huggingface.co/Comfy-Org/Qwen-Image-Edit_ComfyUI/resolve/main/split_files/"
                      "diffusion_models/" + QWEN_EDIT_UNET)
QWEN_TEXT_ENCODER = "qwen_2.5_vl_7b_fp8_scaled.safetensors"
QWEN_VAE = "qwen_image_vae.safetensors"
QWEN_FILES_URL = "https://huggingface.co/Comfy-Org/Qwen-Image_ComfyUI/resolve/main/split_files/"

QWEN_NOTE = """Video editing with Qwen-Image-Edit and Text2Video-Zero: an instruction applied to every frame of your clip,
the same way on every frame (no flicker).

MODELS (press R in ComfyUI to refresh the lists after downloading)
  {unet} (20 GB; Qwen-Image-Edit 2509, Apache-2.0)  ->  ComfyUI/models/diffusion_models/
    {unet_url}
  {text} (9 GB; Qwen2.5-VL 7B)  ->  ComfyUI/models/text_encoders/
    {files}text_encoders/{text}
  {vae} (250 MB)  ->  ComfyUI/models/vae/
    {files}vae/{vae}
The first Qwen-Image-Edit and its fine-tunes load the same way. With the Lightning LoRA (LoraLoaderModelOnly after
Load Diffusion Model): steps 4-8, cfg 1.0.

VIDEO
Load Video: upload your clip (it lands in ComfyUI/input/). Get Video Components splits it into frames and its frame
rate; "Longer side 1024" brings the frames near 1 megapixel (the node rounds sides to a multiple of 16).
Frame selection on the node: start_frame / end_frame (inclusive, -1 = last) / every_nth.

HOW IT EDITS (Edit Video: Kontext / Qwen-Image-Edit)
The instruction is encoded with frame 0 (Qwen's text encoder sees the picture it edits: "First frame" feeds it).
Frame k is edited with source frame k as its reference latent; all frames share their noise (noise_mode shared) and
read frame 0's edit (cross-frame attention) besides their own source frame, so the edit looks the same on every frame.
steps 20, cfg 2.5 with the negative prompt, euler + simple, Model Sampling AuraFlow shift 3: Qwen-Image's settings.
frames_per_chunk {chunk}: frames per model call (memory stays flat; 0 = all at once; the result is the same).

OUTPUT
Frames To Video writes ComfyUI/output/T2V-Zero/{name}_00001_.mp4 at the source's frame rate (without its audio) and
shows it on the node."""


def qwen_video_edit(name: str) -> dict:
    """Load Video -> ... -> Edit Video (Qwen-Image-Edit) -> Frames To Video; the instruction and the negative encoded
    by TextEncodeQwenImageEdit with frame 0 (Image From Batch), no VAE there: the node gives every frame its own
    reference latent."""
    chunk = 2
    note = QWEN_NOTE.format(unet=QWEN_EDIT_UNET, unet_url=QWEN_EDIT_UNET_URL, text=QWEN_TEXT_ENCODER,
                            vae=QWEN_VAE, files=QWEN_FILES_URL, chunk=chunk, name=name)
    nodes = [
        (1, "UNETLoader", (40, 60), (315, 82), {"unet_name": QWEN_EDIT_UNET, "weight_dtype": "default"},
         {"properties": {"models": [{"name": QWEN_EDIT_UNET, "url": QWEN_EDIT_UNET_URL,
                                     "directory": "diffusion_models"}]}}),
        (2, "CLIPLoader", (40, 180), (315, 106), {"clip_name": QWEN_TEXT_ENCODER, "type": "qwen_image"},
         {"properties": {"models": [{"name": QWEN_TEXT_ENCODER, "url": f"{QWEN_FILES_URL}text_encoders/"
                                     f"{QWEN_TEXT_ENCODER}", "directory": "text_encoders"}]}}),
        (3, "VAELoader", (40, 330), (315, 58), {"vae_name": QWEN_VAE},
         {"properties": {"models": [{"name": QWEN_VAE, "url": f"{QWEN_FILES_URL}vae/{QWEN_VAE}",
                                     "directory": "vae"}]}}),
        (4, "ModelSamplingAuraFlow", (400, 60), (315, 58), {"shift": 3.0}, {}),
        (5, "TextEncodeQwenImageEdit", (400, 160), (400, 160), {"prompt": "make it a snowy winter day"},
         {"title": "Instruction (with frame 0)", "color": "#232", "bgcolor": "#353"}),
        (6, "TextEncodeQwenImageEdit", (400, 360), (400, 120), {"prompt": ""},
         {"title": "Negative prompt (with frame 0)", "color": "#322", "bgcolor": "#533"}),
        (7, "LoadVideo", (40, 440), (315, 300), {"file": "video.mp4"}, {"title": "Your video"}),
        (8, "GetVideoComponents", (400, 530), (240, 70), {}, {}),
        (9, "ImageScaleToMaxDimension", (400, 640), (315, 82), {"upscale_method": "area", "largest_size": 1024},
         {"title": "Longer side 1024 (about 1 megapixel)"}),
        (10, "ImageFromBatch", (400, 760), (315, 82), {"batch_index": 0, "length": 1}, {"title": "First frame"}),
        (11, "ReferenceEditVideo", (850, 60), (340, 560),
         {"cfg": 2.5, "seed": 0, "steps": 20, "sampler_name": "euler", "scheduler": "simple", "noise_mode": "shared",
          "frames_per_chunk": chunk, "start_frame": 0, "end_frame": -1, "every_nth": 1}, {}),
        (12, "FramesToVideo", (1230, 60), (420, 560), {"format": "mp4", "filename_prefix": f"T2V-Zero/{name}"}, {}),
        (13, "Note", (-420, 60), (420, 900), {"text": note},
         {"title": "Read me: models, knobs, output", "color": "#432", "bgcolor": "#653"}),
    ]
    links = [(1, "MODEL", 4, "model"), (2, "CLIP", 5, "clip"), (2, "CLIP", 6, "clip"), (7, "VIDEO", 8, "video"),
             (8, "images", 9, "image"), (9, "IMAGE", 10, "image"), (10, "IMAGE", 5, "image"),
             (10, "IMAGE", 6, "image"), (4, "MODEL", 11, "model"), (5, "CONDITIONING", 11, "positive"),
             (6, "CONDITIONING", 11, "negative"), (3, "VAE", 11, "vae"), (9, "IMAGE", 11, "frames"),
             (8, "fps", 11, "frame_rate"), (11, "images", 12, "images"), (11, "frame_rate", 12, "frame_rate")]
    return {"nodes": nodes, "links": links}


NOTE_INFO = {"input": {"required": {"text": ["STRING", {"multiline": True}]}}, "output": [], "output_name": []}


def build(object_info: dict, name: str, description: dict) -> dict:
    nodes, links = {}, []
    for nid, kind, pos, size, values, extra in description["nodes"]:
        info = NOTE_INFO if kind in ("Note", "MarkdownNote") else object_info[kind]
        node = {"id": nid, "type": kind, "pos": list(pos), "size": list(size), "flags": {}, "order": 0, "mode": 0,
                "inputs": [], "outputs": [],
                "properties": {"Node name for S&R": kind, **extra.get("properties", {})},
                "widgets_values": widget_values(info, values)}
        unknown = set(values) - set(widget_names(info))
        if unknown:
            raise KeyError(f"{kind} has no widget input(s) {sorted(unknown)}")
        # A widget fed by a link has an input slot naming the widget; the frontend (1.32 and 1.48) then numbers such
        # a node's slots over all its inputs, the sockets first and the widgets after, each in input order: list them
        # all that way, or the links' slot numbers shift.
        linked_widgets = {i for _, _, d, i in description["links"] if d == nid} & set(widget_names(info))
        inputs = ordered_inputs(info)
        sockets_first = sorted(inputs, key=lambda item: item[0] in widget_names(info))  # stable: order kept
        for input_name, input_spec in sockets_first:
            is_widget = input_name in widget_names(info)
            if not is_widget or linked_widgets:
                slot = {"name": input_name, "type": input_spec[0], "link": None}
                if is_widget:
                    slot["widget"] = {"name": input_name}
                if input_name in info["input"].get("optional", {}):
                    slot["shape"] = 7  # the frontend's hollow dot for optional inputs
                node["inputs"].append(slot)
        node["outputs"] = [{"name": out_name, "type": out_type, "links": [], "slot_index": i}
                           for i, (out_name, out_type) in enumerate(zip(info["output_name"], info["output"]))]
        for key in ("title", "color", "bgcolor"):
            if key in extra:
                node[key] = extra[key]
        nodes[nid] = node
    for src_id, out_name, dst_id, in_name in description["links"]:
        src, dst = nodes[src_id], nodes[dst_id]
        slot = next(i for i, o in enumerate(src["outputs"]) if o["name"] == out_name)
        target = next(i for i, s in enumerate(dst["inputs"]) if s["name"] == in_name)
        lid = len(links) + 1
        src["outputs"][slot]["links"].append(lid)
        dst["inputs"][target]["link"] = lid
        links.append([lid, src_id, slot, dst_id, target, src["outputs"][slot]["type"]])
    # execution order as the frontend stores it: nodes without inputs first, then each after its sources
    done, order = set(), []
    while len(order) < len(nodes):
        ready = [nid for nid, n in sorted(nodes.items()) if nid not in done
                 and all(s["link"] is None or links[s["link"] - 1][1] in done for s in n["inputs"])]
        for nid in ready:
            nodes[nid]["order"] = len(order)
            order.append(nid)
            done.add(nid)
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"t2v-zero/workflows/{name}")), "revision": 0,
            "last_node_id": max(nodes), "last_link_id": len(links), "nodes": list(nodes.values()), "links": links,
            "groups": [], "config": {}, "extra": {"ds": {"scale": 0.75, "offset": [480, 80]},
                                                   "frontendVersion": FRONTEND}, "version": 0.4}


# file stem -> spec. Each workflow is one entry; its spec function lives above.
WORKFLOWS = {
    "text-to-video": lambda: text_to_video("text-to-video", 8, 0),
    "text-to-video-long": lambda: text_to_video("text-to-video-long", 64, 8),
    "text-to-video-distributed": lambda: text_to_video_distributed("text-to-video-distributed", 48, 3),
    "video-instruct-pix2pix-distributed": lambda: video_instruct_pix2pix("video-instruct-pix2pix-distributed", 3),
    "image-to-video": lambda: image_to_video("image-to-video", 8),
    "image-to-video-ken-burns": lambda: camera_path_video("image-to-video-ken-burns", 24, photo=True),
    "text-to-video-camera-path": lambda: camera_path_video("text-to-video-camera-path", 32, photo=False),
    "video-continuation": lambda: video_continuation("video-continuation", 8),
    "video-instruct-pix2pix": lambda: video_instruct_pix2pix("video-instruct-pix2pix"),
    "controlnet-canny-video": lambda: controlnet_video("controlnet-canny-video", "canny"),
    "controlnet-pose-video": lambda: controlnet_video("controlnet-pose-video", "pose"),
    "controlnet-depth-video": lambda: controlnet_video("controlnet-depth-video", "depth"),
    "text-to-video-flux": lambda: flux_video("text-to-video-flux", 8, photo=False),
    "image-to-video-flux": lambda: flux_video("image-to-video-flux", 8, photo=True),
    "text-to-video-sd35": lambda: sd35_video("text-to-video-sd35", 8),
    "video-kontext-edit": lambda: kontext_video_edit("video-kontext-edit"),
    "video-kontext-edit-flow": lambda: kontext_video_edit("video-kontext-edit-flow", flow=True),
    "video-instruct-pix2pix-flow": lambda: video_instruct_pix2pix("video-instruct-pix2pix-flow", flow=True),
    "video-qwen-edit": lambda: qwen_video_edit("video-qwen-edit"),
}


def render(object_info: dict) -> dict[str, str]:
    """{file name: JSON text} for every shipped workflow; each is checked to convert back to its own values."""
    out = {}
    for name, make_spec in WORKFLOWS.items():
        description = make_spec()
        workflow = build(object_info, name, description)
        prompt = to_api(workflow, object_info)
        for nid, _, _, _, values, _ in description["nodes"]:
            for key, value in values.items():
                assert str(nid) not in prompt or prompt[str(nid)]["inputs"][key] == value, (name, nid, key)
        out[f"{name}.json"] = json.dumps(workflow, indent=1, ensure_ascii=False) + "\n"
    return out


def server_object_info() -> dict:
    """/object_info of the host's server with this pack and ComfyUI-Distributed (the distributed workflow's nodes)."""
    sys.path.insert(0, str(REPO / "tests"))
    from distributed import distributed_server  # noqa: PLC0415

    host = Path(os.environ.get("T2VZ_HOST") or REPO / ".host").resolve()
    with tempfile.TemporaryDirectory() as tmp:
        server = distributed_server(host, Path(tmp), {}).start()
        try:
            return server.get("/object_info")
        finally:
            server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description="Write workflows/*.json from /object_info.")
    parser.add_argument("--check", action="store_true", help="only report files that differ; exit 1 if any")
    parser.add_argument("--object-info", help="a saved /object_info JSON instead of starting the server")
    args = parser.parse_args()
    info = json.loads(Path(args.object_info).read_text()) if args.object_info else server_object_info()
    folder = REPO / "workflows"
    folder.mkdir(exist_ok=True)
    stale = []
    for file, text in render(info).items():
        path = folder / file
        if path.exists() and path.read_text() == text:
            print("up to date", path)
        elif args.check:
            stale.append(file)
            print("OUT OF DATE", path)
        else:
            path.write_text(text)
            print("wrote", path)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
