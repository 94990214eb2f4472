"""Video ControlNet: frame k of the video gets control image (hint) k, wherever and however ComfyUI runs the model.

ComfyUI's own ControlNet hands every call the first N hints (comfy.controlnet.broadcast_image_to), so a context
window or a frame chunk starting at frame 16 is steered by hints 0..N-1, and its control model never sees the UNet's
attention patches (comfy.cldm.cldm.ControlNet.forward passes no transformer_options to its transformer blocks).
:class:`VideoControl` is a ComfyUI control object (a ControlBase, chainable with core ControlNets) that

- picks each batch row's hint by the row's global frame index (attention/frames.py: our frame chunks, ComfyUI's
  context windows, AnimateDiff-Evolved's sub_idxs), for every conditioning chunk of the call;
- runs the control model with the call's cross-frame attention patch (and only that patch) inside its transformer
  blocks, as the reference sets its cross-frame processor on the ControlNet too (Picsart-AI-Research/Text2Video-Zero:
  ``pipe.controlnet``, besides ``pipe.unet``, in the ControlNet modes);
- under MotionLatentSampler's frames_per_chunk, runs the control model per frame chunk as well (a deferred control,
  attention/chunking.py), so its memory follows the chunk, not the video.

Flux ControlNets (XLabs, MistoLine, InstantX and its union; comfy.ldm.flux.controlnet.ControlNetFlux) get their hints
per frame in the same way, but cross-frame attention does not act inside them: ComfyUI's forward of theirs takes no
transformer_options (so no attention patch reaches their blocks), and re-running it step for step, as
control_net_forward does for the UNet ControlNet, would mean following each layout's forward on every host version.
Each frame's control residuals are then a function of that frame's latent and control image alone (the same in any
chunk, window or part), and the main transformer, where the residuals are added to the image tokens, still attends
across frames. Their latent-space layouts (InstantX) need a VAE of the Flux family, checked before sampling
(check_control_vae), as is the ControlNet's width against the model's (VideoControl.pre_run).

This module is the ComfyUI control object itself, so it imports the host's comfy.controlnet; attention/__init__ does
not import it, and the rest of attention/ stands alone.
"""
from __future__ import annotations

import logging

import torch

import comfy.controlnet

from .chunking import DEFERRED_CONTROLS_KEY, add_controls, find_frame_chunker
from .cross_frame import CrossFrameAttention
from .frames import FRAMES_KEY, VIDEO_KEY, frames_per_chunk, global_frame_ids
from .host import core_window_total_frames

MISMATCH_ERROR = "error"
MISMATCH_REPEAT = "repeat"
MISMATCH_STRIDE = "stride"
MISMATCH_MODES = (MISMATCH_ERROR, MISMATCH_REPEAT, MISMATCH_STRIDE)
"""What to do when the number of control images differs from the number of frames. error: refuse (the default);
repeat: frame k gets image k mod N (the images loop; extra images are unused); stride: frame k gets image
floor(k * N / frames) (the images are spread evenly over the video: every n-th image when there are more, each image
held for several frames when there are fewer). A single image always steers every frame."""

PREPROCESS_NONE = "none"
PREPROCESS_CANNY = "canny"
PREPROCESSORS = (PREPROCESS_NONE, PREPROCESS_CANNY)
CANNY_LOW, CANNY_HIGH = 100, 200
"""The reference's Canny thresholds (Text2Video-Zero, process_controlnet_canny)."""

CONTROL_BLOCK_PREFIX = "controlnet_"
"""The control model's blocks are named ("controlnet_input", i) / ("controlnet_middle", 0) in transformer_options:
its layers mirror the UNet's encoder, so with the UNet's names the cross-frame patch's per-layer anchor cache would mix
the two networks' hidden states."""

log = logging.getLogger("t2v-zero")


# --- which hint each frame gets (pure logic) -------------------------------------------------------------------------

def video_length(options: dict, frames: int, partial: bool) -> int | None:
    """Frames in the whole video, where the call tells: the call itself when it sees every frame, else the part's
    video (VIDEO_KEY), AnimateDiff-Evolved's ``ad_params["full_length"]`` or a core context window's
    ``total_frames`` (newer ComfyUI). The part's comes first: a context window's lengths count the sampler's batch,
    which for a part is frame 0 and the part's frames, not the video."""
    if not partial:
        return frames
    if options.get(VIDEO_KEY) is not None:
        return int(options[VIDEO_KEY]["length"])
    ad_params = options.get("ad_params")
    if isinstance(ad_params, dict) and ad_params.get("full_length") is not None:
        return int(ad_params["full_length"])
    window = options.get("context_window")
    return core_window_total_frames(window) if window is not None else None


def hint_indices(frame_ids: list[int], hints: int, total: int | None, mode: str = MISMATCH_ERROR) -> list[int]:
    """Index of the control image for each global frame id. ``total``: frames in the video, None if unknown."""
    if mode not in MISMATCH_MODES:
        raise ValueError(f"frame_mismatch must be one of {MISMATCH_MODES}, got {mode!r}")
    if hints < 1:
        raise ValueError("control frames: the image batch is empty. Fix: connect one control image per frame.")
    if hints == 1:
        return [0] * len(frame_ids)
    if mode == MISMATCH_REPEAT:
        return [f % hints for f in frame_ids]
    if mode == MISMATCH_STRIDE:
        if total is None and any(f > 0 for f in frame_ids):
            raise ValueError("frame_mismatch 'stride' needs the video's length, which these context windows do not "
                             "tell. Fix: give one control image per frame (frame_mismatch 'error'), or use 'repeat'.")
        return [min(hints - 1, f * hints // total) if f > 0 else 0 for f in frame_ids]
    if total is not None and total != hints:
        raise ValueError(_mismatch_text(hints, total))
    beyond = [f for f in frame_ids if f >= hints]
    if beyond:
        raise ValueError(_mismatch_text(hints, max(beyond) + 1, at_least=True))
    return list(frame_ids)


def _mismatch_text(hints: int, frames: int, at_least: bool = False) -> str:
    many = f"at least {frames}" if at_least else str(frames)
    return (f"control frames: {hints} control images for a video of {many} frames; VideoControlNetApply needs one "
            f"per frame. Fix: set the latent's batch_size to {hints} (EmptyLatentImage), or cut the images to the "
            f"frame count (core ImageFromBatch), or set frame_mismatch to 'repeat' (the images loop) or 'stride' "
            f"(the images are spread over the video).")


def call_hint_indices(options: dict, batch: int, batched_number: int, hints: int, mode: str,
                      total: int | None = None) -> tuple[list[int], list[int], int]:
    """(global frame ids, hint index per frame, cond chunks) of a model call of ``batch`` rows.

    A call that sees a single frame and no frame indices is frame 0 (MotionLatentSampler's first phases denoise
    frame 0 alone); it is not held against the frame count.
    """
    cond_or_uncond = options.get("cond_or_uncond") or list(range(max(1, batched_number)))
    chunks, frames = frames_per_chunk(batch, cond_or_uncond)
    ids, partial = global_frame_ids(options, frames)
    if total is None:
        total = video_length(options, frames, partial)
        if not partial and frames == 1:
            total = None
    return ids, hint_indices(ids, hints, total, mode), chunks


# --- hint images ---------------------------------------------------------------------------------------------------

def canny_edges(images: torch.Tensor, low: int = CANNY_LOW, high: int = CANNY_HIGH) -> torch.Tensor:
    """Canny edge maps of (B, C, H, W) images in [0, 1]: white edges on black, 3 channels, in [0, 1].

    As the reference: cv2.Canny on each 8-bit RGB frame, the map repeated over three channels.
    """
    import cv2  # noqa: PLC0415 -- opencv-python-headless, a dependency of the pack
    import numpy as np  # noqa: PLC0415

    if images.ndim != 4 or images.shape[1] not in (1, 3, 4):
        raise ValueError(f"canny expects images shaped (frames, channels, height, width), got {tuple(images.shape)}")
    frames = (images.detach().float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).movedim(1, -1).cpu().numpy()
    edges = []
    for frame in frames:
        frame = frame[..., 0] if frame.shape[-1] == 1 else frame[..., :3]
        edges.append(cv2.Canny(np.ascontiguousarray(frame), int(low), int(high)))
    out = torch.from_numpy(np.stack(edges)).to(torch.float32).div_(255.0)
    return out.unsqueeze(1).repeat(1, 3, 1, 1).to(images.device)


def resize_hints(images: torch.Tensor, width: int, height: int, method: str) -> torch.Tensor:
    """(B, C, H, W) hints at the model's pixel size, centre-cropped to its aspect ratio, as native ControlNet does."""
    import comfy.utils  # noqa: PLC0415

    if images.shape[-1] == width and images.shape[-2] == height:
        return images
    return comfy.utils.common_upscale(images, width, height, method, "center")


def photo_resize_method(images: torch.Tensor, width: int, height: int) -> str:
    """For photos that are edge-detected after the resize: averaging when shrinking (no aliasing into false edges),
    bilinear when growing. Native ControlNet's nearest-exact suits hints that are already maps."""
    return "area" if images.shape[-1] >= width and images.shape[-2] >= height else "bilinear"


# --- the control model, with transformer_options ------------------------------------------------------------------

def control_transformer_options(options: dict, x: torch.Tensor) -> dict:
    """The transformer_options the control model's blocks get: the call's (frame indices, cond_or_uncond, sigmas...)
    with only its cross-frame attention patch. Other patches (IPAdapter, PAG, ...) target the UNet; natively the
    ControlNet gets none."""
    out = {k: v for k, v in options.items() if k not in ("patches", "patches_replace", DEFERRED_CONTROLS_KEY)}
    cross = [p for p in options.get("patches", {}).get("attn1_patch", []) if isinstance(p, CrossFrameAttention)]
    out["patches"] = {"attn1_patch": cross} if cross else {}
    out["original_shape"] = list(x.shape)
    out["transformer_index"] = 0
    return out


def supports_transformer_options(control_model) -> bool:
    import comfy.cldm.cldm  # noqa: PLC0415

    return isinstance(control_model, comfy.cldm.cldm.ControlNet) and control_model.control_add_embedding is None


def control_net_forward(model, x, hint, timesteps, context, transformer_options: dict, y=None, **kwargs) -> dict:
    """comfy.cldm.cldm.ControlNet's forward, step for step, with transformer_options reaching its SpatialTransformers
    (the native forward calls its blocks without them, so no attention patch acts inside a ControlNet)."""
    from comfy.ldm.modules.diffusionmodules.util import timestep_embedding  # noqa: PLC0415

    emb = model.time_embed(timestep_embedding(timesteps, model.model_channels, repeat_only=False).to(x.dtype))
    guided_hint = model.input_hint_block(hint, emb, context)
    if model.num_classes is not None:
        if y is None:
            raise ValueError("this ControlNet needs the pooled text/size conditioning of an SDXL model, which the "
                             "model did not give. Fix: use a ControlNet made for the checkpoint's family.")
        emb = emb + model.label_emb(y)
    options = control_transformer_options(transformer_options, x)
    outputs = []
    h = x
    for index, (block, zero_conv) in enumerate(zip(model.input_blocks, model.zero_convs)):
        options["block"] = (CONTROL_BLOCK_PREFIX + "input", index)
        h = block(h, emb, context, options)
        if guided_hint is not None:
            h = h + guided_hint
            guided_hint = None
        outputs.append(zero_conv(h, emb, context))
    options["block"] = (CONTROL_BLOCK_PREFIX + "middle", 0)
    h = model.middle_block(h, emb, context, options)
    return {"middle": [model.middle_block_out(h, emb, context)], "output": outputs}


def _rows(value, index: torch.Tensor, batch: int):
    if isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] == batch:
        return value.index_select(0, index.to(value.device))
    return value


# --- the control object ----------------------------------------------------------------------------------------------

def check_control_net(control_net) -> None:
    if not isinstance(control_net, comfy.controlnet.ControlNet):
        raise ValueError(f"control_net is a {type(control_net).__name__}, which cannot be given one hint per frame. "
                         f"Fix: load a ControlNet model (e.g. control_v11p_sd15_canny.pth) with Load ControlNet Model; "
                         f"T2I adapters work with core Apply ControlNet only.")


def _flux_control_model(control_net):
    """The control net's ControlNetFlux, or None (another architecture, or a host without Flux ControlNets)."""
    try:
        import comfy.ldm.flux.controlnet  # noqa: PLC0415
    except ImportError:
        return None
    model = getattr(control_net, "control_model", None)
    return model if isinstance(model, comfy.ldm.flux.controlnet.ControlNetFlux) else None


def latent_hint_channels(control_net) -> int | None:
    """Latent channels a latent-input Flux ControlNet (InstantX) wants its control images encoded to, None where the
    pack cannot tell (other architectures: their own forward reports a mismatch)."""
    model = _flux_control_model(control_net)
    if model is None or not getattr(model, "latent_input", False):
        return None
    channels = model.pos_embed_input.in_features // (model.patch_size ** 2)
    return channels - (1 if getattr(control_net, "concat_mask", False) else 0)  # the inpainting mask channel


def check_control_vae(control_net, vae) -> None:
    """Before sampling: a ControlNet that takes its control images as latents (InstantX's Flux ones, SD3's) needs a
    VAE, and one whose latents have the channels it was trained on. Natively the first sampling step would fail (no
    VAE) or stop on a matrix-shape error (a VAE of another family)."""
    if getattr(control_net, "latent_format", None) is None:
        return  # pixel-space hints (SD1.5, SDXL, XLabs and MistoLine Flux ControlNets): a VAE is not used
    if vae is None:
        raise ValueError("vae: this ControlNet takes its control images as latents (InstantX's Flux ControlNets, "
                         "SD3's), so it needs a VAE to encode them, and none is connected. Fix: connect the "
                         "checkpoint's VAE (for Flux: ae.safetensors via Load VAE) to the vae input of "
                         "VideoControlNetApply.")
    expected, got = latent_hint_channels(control_net), getattr(vae, "latent_channels", None)
    if expected is not None and got is not None and expected != got:
        raise ValueError(f"vae: the connected VAE makes {got}-channel latents, but this ControlNet takes "
                         f"{expected}-channel ones. Fix: connect the VAE of the ControlNet's model family to the vae "
                         f"input (for Flux: ae.safetensors, 16 channels).")


def check_control_fits_model(control_net, diffusion_model) -> None:
    """Before the first step: a Flux ControlNet's residuals are added to the image tokens by Flux's own forward
    (comfy.ldm.flux.model.Flux), so the model must be one, as wide as the ControlNet. Natively a model of another
    family fails on a shape error (a UNet) or, with no control input (Chroma), samples as if there were no
    ControlNet."""
    control = _flux_control_model(control_net)
    if control is None:
        return
    import comfy.ldm.flux.model  # noqa: PLC0415 -- there whenever a Flux ControlNet is

    width = getattr(diffusion_model, "hidden_size", None)
    if not isinstance(diffusion_model, comfy.ldm.flux.model.Flux) or width != control.hidden_size:
        name = type(diffusion_model).__name__
        raise ValueError(f"control_net: this Flux ControlNet (width {control.hidden_size}) does not fit the model "
                         f"being sampled ({name}, width {width}). Fix: use a ControlNet made for the checkpoint's "
                         f"family (a Flux.1 ControlNet with a Flux.1 dev/schnell model).")


class VideoControl(comfy.controlnet.ControlBase):
    """A ComfyUI control object (what ControlNetApplyAdvanced puts into conditioning) that gives frame k hint k.

    control_net: the CONTROL_NET from ControlNetLoader (left untouched; a copy carries the hints).
    hints: (frames, channels, height, width) control images in [0, 1], any size (resized to the model's like native).
    preprocessor: ``none`` (hints are maps already) or ``canny`` (edges detected after the resize to the model's
        size, as the reference detects them at the generation resolution).
    frame_mismatch: see MISMATCH_MODES.
    """

    def __init__(self, control_net, hints: torch.Tensor, strength: float = 1.0,
                 percent_range: tuple[float, float] = (0.0, 1.0), vae=None, preprocessor: str = PREPROCESS_NONE,
                 canny_low: int = CANNY_LOW, canny_high: int = CANNY_HIGH, frame_mismatch: str = MISMATCH_ERROR):
        super().__init__()
        check_control_net(control_net)
        check_control_vae(control_net, vae)
        if preprocessor not in PREPROCESSORS:
            raise ValueError(f"preprocessor must be one of {PREPROCESSORS}, got {preprocessor!r}")
        if frame_mismatch not in MISMATCH_MODES:
            raise ValueError(f"frame_mismatch must be one of {MISMATCH_MODES}, got {frame_mismatch!r}")
        if not isinstance(hints, torch.Tensor) or hints.ndim != 4 or hints.shape[0] < 1:
            raise ValueError("control frames must be a non-empty batch of images. Fix: connect an IMAGE batch.")
        self.control_net = control_net
        self.inner = control_net.copy().set_cond_hint(hints, strength, percent_range, vae=vae)
        self.cond_hint_original = hints
        self.strength = strength
        self.timestep_percent_range = percent_range
        self.vae = vae
        self.preprocessor = preprocessor
        self.canny_thresholds = (int(canny_low), int(canny_high))
        self.frame_mismatch = frame_mismatch
        self.extra_hooks = self.inner.extra_hooks
        # AnimateDiff-Evolved's context windows accept only controls that have these (it sets them per window; we
        # read the same window from transformer_options["ad_params"])
        self.sub_idxs = None
        self.full_latent_length = None
        self.context_length = None
        self._prepared: tuple[tuple, torch.Tensor] | None = None
        self._warned = False

    @property
    def hint_count(self) -> int:
        return int(self.cond_hint_original.shape[0])

    # ComfyUI's ControlBase protocol ------------------------------------------------------------------------------
    def copy(self):
        c = VideoControl(self.control_net, self.cond_hint_original, self.strength, self.timestep_percent_range,
                         self.vae, self.preprocessor, *self.canny_thresholds, self.frame_mismatch)
        c.set_previous_controlnet(self.previous_controlnet)
        return c

    def pre_run(self, model, percent_to_timestep_function):
        check_control_fits_model(self.control_net, getattr(model, "diffusion_model", None))
        super().pre_run(model, percent_to_timestep_function)
        self.inner.pre_run(model, percent_to_timestep_function)

    def cleanup(self):
        self.inner.cleanup()
        self._prepared = None
        super().cleanup()

    def get_models(self):
        return super().get_models() + self.inner.get_models()

    def inference_memory_requirements(self, dtype):
        return super().inference_memory_requirements(dtype) + self.inner.inference_memory_requirements(dtype)

    def get_control(self, x_noisy, t, cond, batched_number, transformer_options):
        prev = None
        if self.previous_controlnet is not None:
            prev = self.previous_controlnet.get_control(x_noisy, t, cond, batched_number, transformer_options)
        timestep_range = self.inner.timestep_range
        if timestep_range is not None and (t[0] > timestep_range[0] or t[0] < timestep_range[1]):
            return prev
        ids, indices, chunks = call_hint_indices(transformer_options, x_noisy.shape[0], batched_number,
                                                 self.hint_count, self.frame_mismatch)
        chunker = find_frame_chunker(transformer_options)
        if chunker is not None and FRAMES_KEY not in transformer_options and chunker.will_split(transformer_options,
                                                                                               len(ids)):
            # ComfyUI asks for the control of every frame before apply_model splits them: run it per chunk instead
            deferred = _DeferredControl(self, x_noisy, t, cond, dict(zip(ids, indices)))
            transformer_options.setdefault(DEFERRED_CONTROLS_KEY, []).append(deferred)
            return prev
        control = self.evaluate(x_noisy, t, cond, indices, transformer_options)
        # evaluate applied the strength already: control_merge would apply it a second time (strength squared)
        return add_controls(control, prev)

    # the work ------------------------------------------------------------------------------------------------
    def prepared_hints(self, x_noisy: torch.Tensor) -> torch.Tensor:
        """Every hint at the model's size (and through the VAE for latent-space ControlNets), computed once per size
        and kept where the images are (not on the GPU: a call moves only its own rows there)."""
        inner = self.inner
        compression = inner.compression_ratio
        if inner.vae is not None:
            compression *= inner.vae.spacial_compression_encode()
        elif inner.latent_format is not None:
            raise ValueError("this ControlNet needs a VAE to encode its control images. Fix: connect the VAE input "
                             "of VideoControlNetApply (the checkpoint's VAE).")
        height, width = x_noisy.shape[-2] * compression, x_noisy.shape[-1] * compression
        key = (height, width)
        if self._prepared is not None and self._prepared[0] == key:
            return self._prepared[1]
        images = self.cond_hint_original
        if self.preprocessor == PREPROCESS_CANNY:
            hints = canny_edges(resize_hints(images, width, height, photo_resize_method(images, width, height)),
                                *self.canny_thresholds)
        else:
            hints = resize_hints(images, width, height, inner.upscale_algorithm)
        hints = inner.preprocess_image(hints)
        if inner.vae is not None:
            import comfy.model_management  # noqa: PLC0415

            loaded = comfy.model_management.loaded_models(only_currently_used=True)
            hints = inner.vae.encode(hints.movedim(1, -1))
            comfy.model_management.load_models_gpu(loaded)
        if inner.latent_format is not None:
            hints = inner.latent_format.process_in(hints)
        if inner.extra_concat_orig:
            hints = self._concat_extra(hints)
        self._prepared = (key, hints)
        return hints

    def _concat_extra(self, hints: torch.Tensor) -> torch.Tensor:
        import comfy.utils  # noqa: PLC0415

        extra = []
        for c in self.inner.extra_concat_orig:
            c = comfy.utils.common_upscale(c.to(hints.device), hints.shape[-1], hints.shape[-2],
                                           self.inner.upscale_algorithm, "center")
            extra.append(comfy.utils.repeat_to_batch_size(c, hints.shape[0]))
        return torch.cat([hints] + extra, dim=1)

    def evaluate(self, x_noisy, t, cond, indices: list[int], transformer_options: dict) -> dict:
        """The control model's output for a call whose frames (in every cond chunk) use hints ``indices``."""
        import comfy.model_base  # noqa: PLC0415
        import comfy.model_management  # noqa: PLC0415

        inner = self.inner
        dtype = inner.manual_cast_dtype if inner.manual_cast_dtype is not None else inner.control_model.dtype
        prepared = self.prepared_hints(x_noisy)
        chunks = x_noisy.shape[0] // len(indices)
        rows = torch.tensor(indices * chunks, dtype=torch.long)
        hint = prepared.index_select(0, rows.to(prepared.device)).to(device=x_noisy.device, dtype=dtype)
        context = cond.get("crossattn_controlnet", cond["c_crossattn"])
        extra = dict(inner.extra_args)
        for name in inner.extra_conds:
            value = cond.get(name)
            if value is not None:
                extra[name] = comfy.model_base.convert_tensor(value, dtype, x_noisy.device)
        sampling = inner.model_sampling_current
        timestep = sampling.timestep(t).to(dtype)
        x = sampling.calculate_input(t, x_noisy).to(dtype)
        context = comfy.model_management.cast_to_device(context, x_noisy.device, dtype)
        model = inner.control_model
        if supports_transformer_options(model):
            control = control_net_forward(model, x, hint, timestep, context, transformer_options, **extra)
        else:
            if not self._warned:  # documented behaviour (module docstring), said once per control
                self._warned = True
                log.info("t2v-zero VideoControlNetApply: cross-frame attention acts in the main model, not inside "
                         "this %s control model (its forward takes no attention patches); each frame still gets "
                         "its own control image.", type(model).__name__)
            control = model(x=x, hint=hint, timesteps=timestep, context=context, **extra)
        return inner.control_merge(control, None, output_dtype=None)


class _DeferredControl:
    """One VideoControl's output for a call, computed chunk by chunk when FrameChunker runs the chunks."""

    def __init__(self, control: VideoControl, x_noisy, t, cond, hint_of_frame: dict[int, int]):
        self.control, self.x_noisy, self.t, self.cond = control, x_noisy, t, cond
        self.hint_of_frame = hint_of_frame

    def __call__(self, rows: list[int], index: torch.Tensor, options: dict) -> dict:
        batch = self.x_noisy.shape[0]
        chunks, frames = frames_per_chunk(len(rows), options.get("cond_or_uncond"))
        ids = options.get(FRAMES_KEY)
        if ids is None or len(ids) != frames:
            ids = [int(i) for i in list(self.hint_of_frame)[:frames]]
        indices = [self.hint_of_frame[f] for f in ids]
        cond = {k: _rows(v, index, batch) for k, v in self.cond.items() if k != "transformer_options"}
        return self.control.evaluate(_rows(self.x_noisy, index, batch), _rows(self.t, index, batch), cond, indices,
                                     options)
