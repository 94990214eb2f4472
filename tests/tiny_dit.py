"""Tiny random-weight diffusion transformers (Flux dev, Flux schnell, SD3, SD3.5-Medium-style MMDiT-X) as files that
ComfyUI's own loader (comfy.sd.load_diffusion_model, what UNETLoader calls) detects, built deterministically from a
seed and cached under the host's models folder like tests/tiny_models.py's checkpoints.

Sizes are the smallest the detection allows: Flux reads its head count as hidden_size / sum(axes_dim) with axes_dim
fixed at 16 + 56 + 56, so hidden 128 gives one head of 128 channels; its context and pooled widths come from the
weights (txt_in, vector_in), so the tiny model takes 32-wide text tokens instead of T5's 4096. SD3 reads its depth
(and head count) as hidden / 64: depth 2, hidden 128. Conditioning is fed directly as seeded tensors (no text
encoders). "flux-dev-wide" (FLUX_WIDE) is a Flux dev with room for what one head and one block cannot show: hidden 256
(two heads), two double and two single blocks.
"""
from __future__ import annotations

import torch

from tiny_models import _cached, models_dir, randomize_

CONTEXT_DIM = 32
POOLED_DIM = 32
SD3_CONTEXT_DIM = 64
SD3_POOLED_DIM = 48

FLUX_CONFIG = {
    "image_model": "flux", "axes_dim": [16, 56, 56], "num_heads": 1, "mlp_ratio": 4.0, "theta": 10000,
    "out_channels": 16, "qkv_bias": True, "txt_ids_dims": [], "in_channels": 16, "hidden_size": 128,
    "context_in_dim": CONTEXT_DIM, "patch_size": 2, "vec_in_dim": POOLED_DIM, "depth": 1, "depth_single_blocks": 1,
    "yak_mlp": False, "txt_norm": False,
}
"""What comfy/model_detection.py reads from the tiny Flux's weights (checked by the tests: every weight loads)."""

FLUX_WIDE = {"hidden_size": 256, "num_heads": 2, "depth": 2, "depth_single_blocks": 2}
"""What "flux-dev-wide" changes in FLUX_CONFIG: two heads (detection reads hidden / 128), two double and two single
blocks."""


ENCODED_TEXT_DIMS = (4096, 2048)
"""(context, pooled) widths of what ComfyUI's SD3 text encoder makes of CLIP-L alone: its tokens zero-padded to T5's
4096, its pooled vector followed by CLIP-G's 1280 zeros. The workflow tests' tiny Flux and SD3 take these: a T5-XXL
(4.7B parameters) cannot exist here, the full-size CLIP-L of tests/tiny_models.py can."""


def _sd3_config(x_block_self_attn: bool, text_dims: tuple[int, int] = (SD3_CONTEXT_DIM, SD3_POOLED_DIM)) -> dict:
    return {
        "in_channels": 16, "patch_size": 2, "out_channels": 16, "depth": 2, "input_size": None,
        "adm_in_channels": text_dims[1],
        "context_embedder_config": {"target": "torch.nn.Linear",
                                    "params": {"in_features": text_dims[0], "out_features": 128}},
        "num_patches": 16 * 16, "pos_embed_max_size": 16, "pos_embed_scaling_factor": None,
        "x_block_self_attn_layers": [0] if x_block_self_attn else [],
        **({"qk_norm": "rms"} if x_block_self_attn else {}),
    }


def _flux_state(seed: int, guidance: bool, text_dims: tuple[int, int] = (CONTEXT_DIM, POOLED_DIM),
                shape: dict | None = None) -> dict:
    import comfy.supported_models  # noqa: PLC0415

    base = comfy.supported_models.Flux if guidance else comfy.supported_models.FluxSchnell
    cfg = dict(FLUX_CONFIG, guidance_embed=guidance, context_in_dim=text_dims[0], vec_in_dim=text_dims[1])
    cfg.update(shape or {})
    config = base(cfg)
    config.unet_config = cfg
    config.set_inference_dtype(torch.float32, None)
    network = randomize_(config.get_model({}).diffusion_model, seed)
    return network.state_dict()


def _sd3_state(seed: int, x_block_self_attn: bool, text_dims: tuple[int, int] = (SD3_CONTEXT_DIM, SD3_POOLED_DIM)
               ) -> dict:
    import comfy.supported_models  # noqa: PLC0415

    cfg = _sd3_config(x_block_self_attn, text_dims)
    config = comfy.supported_models.SD3(cfg)
    config.unet_config = cfg
    config.set_inference_dtype(torch.float32, None)
    network = randomize_(config.get_model({}).diffusion_model, seed)
    with torch.no_grad():  # left uninitialised by the model (filled from the checkpoint in real use)
        generator = torch.Generator().manual_seed(seed + 11)
        network.pos_embed.copy_(0.5 * torch.randn(network.pos_embed.shape, generator=generator))
    return network.state_dict()


BUILDERS = {
    "flux-dev": lambda seed: _flux_state(seed, guidance=True),
    "flux-schnell": lambda seed: _flux_state(seed, guidance=False),
    "sd3": lambda seed: _sd3_state(seed, x_block_self_attn=False),
    "sd35-medium": lambda seed: _sd3_state(seed, x_block_self_attn=True),
    # for the shipped workflows, whose text encoders the tests stand in for with CLIP-L (ENCODED_TEXT_DIMS)
    "flux-schnell-encoded": lambda seed: _flux_state(seed, guidance=False, text_dims=ENCODED_TEXT_DIMS),
    "flux-dev-encoded": lambda seed: _flux_state(seed, guidance=True, text_dims=ENCODED_TEXT_DIMS),  # as Kontext
    "sd3-encoded": lambda seed: _sd3_state(seed, x_block_self_attn=False, text_dims=ENCODED_TEXT_DIMS),
    # several heads and blocks of each kind (the Flux parity test at cfg > 1)
    "flux-dev-wide": lambda seed: _flux_state(seed, guidance=True, shape=FLUX_WIDE),
}


def tiny_dit_file(kind: str, seed: int = 0):
    """Path of the tiny ``kind`` model (a bare diffusion-model safetensors, like models/diffusion_models files)."""
    import safetensors.torch  # noqa: PLC0415

    def build(tmp):
        state = BUILDERS[kind](seed)
        safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))

    return _cached(models_dir() / "diffusion_models" / tiny_dit_name(kind, seed), build)


def tiny_dit_name(kind: str, seed: int = 0) -> str:
    return f"t2vz-tiny-{kind}-{seed}.safetensors"


def load_tiny_dit(kind: str, seed: int = 0):
    """The tiny model through ComfyUI's real loader (comfy.sd.load_diffusion_model, as UNETLoader), fp32."""
    import comfy.sd  # noqa: PLC0415

    return comfy.sd.load_diffusion_model(str(tiny_dit_file(kind, seed)), model_options={"dtype": torch.float32})


def conditioning(kind: str, seed: int, tokens: int = 8, guidance: float = 3.5):
    """CONDITIONING for a tiny DiT: seeded text tokens and pooled vector (standing in for the text encoders)."""
    generator = torch.Generator().manual_seed(seed)
    if kind.startswith("flux"):
        extra = {"pooled_output": torch.randn((1, POOLED_DIM), generator=generator)}
        if kind in ("flux-dev", "flux-dev-wide"):
            extra["guidance"] = guidance
        return [[torch.randn((1, tokens, CONTEXT_DIM), generator=generator), extra]]
    return [[torch.randn((1, tokens, SD3_CONTEXT_DIM), generator=generator),
             {"pooled_output": torch.randn((1, SD3_POOLED_DIM), generator=generator)}]]


def flux_refusal() -> str | None:
    """Why no tiny Flux can load on this host (None: it can)."""
    import comfy.model_detection  # noqa: PLC0415

    state = {"double_blocks.0.img_attn.norm.key_norm.scale": torch.zeros(128), "img_in.weight": torch.zeros(128, 64)}
    config = comfy.model_detection.detect_unet_config(state, "")
    if config is not None and config.get("num_heads") == 24:
        return ("this ComfyUI's model detection fixes Flux at 24 heads (0.3.75), so no tiny Flux loads: the Flux "
                "tests run on ComfyUI 0.33")
    return None


# --- files for the shipped DiT workflows, through the loaders they use (tests/test_workflows.py, test_browser.py) -----

TEXT_ENCODER_NAME = "t2vz-tiny-clip-l.safetensors"
"""models/text_encoders: CLIP-L, what DualCLIPLoader loads in the tests in place of CLIP-L + T5-XXL."""
VAE16_NAME = "t2vz-tiny-taesd16.safetensors"
"""models/vae: a TAESD with 16 latent channels (the Flux / SD3 latent), what VAELoader loads in place of
ae.safetensors."""
SD3_CHECKPOINT_NAME = "t2vz-tiny-sd3.safetensors"
"""models/checkpoints: an SD3 checkpoint bundling its text encoder (CLIP-L only) and VAE, as SD3.5's fp8 ones do."""


def _text_encoder_state(seed: int) -> dict:
    from tiny_models import _clip_l_state  # noqa: PLC0415

    prefix = "cond_stage_model.transformer."
    state = {k[len(prefix):]: v for k, v in _clip_l_state(seed).items()}
    # the standalone file's layout (clip_l.safetensors): transformers' keys under text_model., which the newest
    # transformers no longer put on CLIPTextModel's own state dict
    state = {k if k.startswith("text_model.") else "text_model." + k: v for k, v in state.items()}
    generator = torch.Generator().manual_seed(seed)  # CLIP-L's projection, which the files carry (SD3 skips it)
    projection = torch.randn((768, 768), generator=generator) / 768 ** 0.5
    state["text_projection.weight"] = projection.to(torch.float8_e4m3fn)
    return state


def _vae16_state(seed: int) -> dict:
    import comfy.taesd.taesd  # noqa: PLC0415

    return randomize_(comfy.taesd.taesd.TAESD(latent_channels=16), seed).state_dict()


def _save(state: dict, path) -> None:
    import safetensors.torch  # noqa: PLC0415

    safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(path))


def workflow_model_folders() -> dict[str, object]:
    """Builds (once) every file the DiT workflows' tests load and returns {ComfyUI model folder: directory}; no Flux
    where this ComfyUI cannot make a tiny one (flux_refusal: its tests skip there)."""
    if flux_refusal() is None:
        tiny_dit_file("flux-schnell-encoded")
        tiny_dit_file("flux-dev-encoded")
    _cached(models_dir() / "text_encoders" / TEXT_ENCODER_NAME, lambda tmp: _save(_text_encoder_state(1), tmp))
    _cached(models_dir() / "vae" / VAE16_NAME, lambda tmp: _save(_vae16_state(2), tmp))

    def sd3_checkpoint(tmp):
        state = {"model.diffusion_model." + k: v for k, v in BUILDERS["sd3-encoded"](0).items()}
        state.update({"text_encoders.clip_l.transformer." + k: v for k, v in _text_encoder_state(1).items()})
        state.update({"first_stage_model." + k: v for k, v in _vae16_state(2).items()})
        _save(state, tmp)

    _cached(models_dir() / "checkpoints" / SD3_CHECKPOINT_NAME, sd3_checkpoint)
    return {folder: models_dir() / folder for folder in ("diffusion_models", "text_encoders", "vae")}


# --- an independent implementation: diffusers' FluxTransformer2DModel on the same weights ------------------------

def _with_mapped_weights(model, mapping: dict, source: dict):
    """``model`` (a diffusers transformer) loaded with ``source`` (a ComfyUI state dict) through ComfyUI's key map
    (diffusers name -> ComfyUI name, or (name, slice, transform)); the map also names other variants' keys (Flux 2's
    fused projections), which are skipped. swap_scale_shift, the one transform, is its own inverse."""
    wanted = set(model.state_dict())
    state = {}
    for name, target in mapping.items():
        if name not in wanted:
            continue
        key, offset, transform = (target, None, None) if isinstance(target, str) else \
            (target[0], target[1], target[2] if len(target) > 2 else None)
        if key not in source:
            continue
        weight = source[key]
        if offset is not None:
            weight = weight.narrow(offset[0], offset[1], offset[2])
        state[name] = transform(weight) if transform is not None else weight
    model.load_state_dict(state, strict=True)
    return model.eval()


def diffusers_flux(patcher):
    """diffusers' FluxTransformer2DModel carrying exactly the weights of a tiny ComfyUI Flux (keys mapped with
    ComfyUI's own comfy.utils.flux_to_diffusers: diffusers name -> ComfyUI name, slice, transform)."""
    import comfy.utils  # noqa: PLC0415
    from diffusers import FluxTransformer2DModel  # noqa: PLC0415

    cfg = patcher.model.model_config.unet_config
    source = patcher.model.diffusion_model.state_dict()
    mapping = comfy.utils.flux_to_diffusers({"depth": cfg["depth"], "depth_single_blocks": cfg["depth_single_blocks"],
                                             "hidden_size": cfg["hidden_size"]}, output_prefix="")
    model = FluxTransformer2DModel(
        patch_size=1, in_channels=cfg["in_channels"] * 4, num_layers=cfg["depth"],
        num_single_layers=cfg["depth_single_blocks"], attention_head_dim=cfg["hidden_size"] // cfg["num_heads"],
        num_attention_heads=cfg["num_heads"], joint_attention_dim=cfg["context_in_dim"],
        pooled_projection_dim=cfg["vec_in_dim"], guidance_embeds=cfg["guidance_embed"],
        axes_dims_rope=tuple(cfg["axes_dim"]))
    return _with_mapped_weights(model, mapping, source)


def frame_zero_kv(k, v, previous: bool, tokens_dim: int):
    """Keys and values of frame 0 for every frame (one conditioning chunk), or with ``previous`` those of frame 0
    and of the frame before, concatenated along the tokens (frame 0's predecessor is itself)."""
    first_k, first_v = k[:1].expand_as(k), v[:1].expand_as(v)
    if not previous:
        return first_k, first_v
    before = [max(f - 1, 0) for f in range(k.shape[0])]
    return torch.cat([first_k, k[before]], dim=tokens_dim), torch.cat([first_v, v[before]], dim=tokens_dim)


class FrameZeroFluxProcessor:
    """A diffusers Flux attention processor doing Text2Video-Zero's cross-frame attention the diffusers way: RoPE,
    then the joint (text + image) keys and values of every frame are replaced by frame 0's (one conditioning chunk
    per batch; ``previous``: frame 0's and the previous frame's), then scaled dot-product attention. ``chunks``: the
    batch is that many conditioning chunks of equal size one after the other (cfg > 1), each anchored on its own
    frame 0."""

    def __init__(self, previous: bool = False, own_tail: int = 0, chunks: int = 1):
        self.previous = previous
        self.own_tail = own_tail  # Kontext's reference tokens (the last ones): each frame keeps its own
        self.chunks = chunks

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        import torch.nn.functional as F  # noqa: PLC0415
        from diffusers.models.embeddings import apply_rotary_emb  # noqa: PLC0415

        def split_heads(x):
            return x.unflatten(-1, (-1, attn.head_dim))

        q = attn.norm_q(split_heads(attn.to_q(hidden_states)))
        k = attn.norm_k(split_heads(attn.to_k(hidden_states)))
        v = split_heads(attn.to_v(hidden_states))
        text = 0
        if encoder_hidden_states is not None:
            text = encoder_hidden_states.shape[1]
            q = torch.cat([attn.norm_added_q(split_heads(attn.add_q_proj(encoder_hidden_states))), q], dim=1)
            k = torch.cat([attn.norm_added_k(split_heads(attn.add_k_proj(encoder_hidden_states))), k], dim=1)
            v = torch.cat([split_heads(attn.add_v_proj(encoder_hidden_states)), v], dim=1)
        if image_rotary_emb is not None:
            q = apply_rotary_emb(q, image_rotary_emb, sequence_dim=1)
            k = apply_rotary_emb(k, image_rotary_emb, sequence_dim=1)
        own_k, own_v, length = k, v, k.shape[1]
        if self.chunks == 1:
            k, v = frame_zero_kv(k, v, self.previous, tokens_dim=1)
        else:
            assert k.shape[0] % self.chunks == 0, f"a batch of {k.shape[0]} is not {self.chunks} equal chunks"
            pairs = [frame_zero_kv(ck, cv, self.previous, tokens_dim=1)
                     for ck, cv in zip(k.chunk(self.chunks), v.chunk(self.chunks), strict=True)]
            k, v = torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])
        if self.own_tail:
            k, v = k.clone(), v.clone()
            k[:, length - self.own_tail:length] = own_k[:, length - self.own_tail:]
            v[:, length - self.own_tail:length] = own_v[:, length - self.own_tail:]
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        out = out.transpose(1, 2).flatten(2, 3).to(q.dtype)
        if encoder_hidden_states is None:
            return out
        text_out, image_out = out[:, :text], out[:, text:]
        return attn.to_out[1](attn.to_out[0](image_out.contiguous())), attn.to_add_out(text_out.contiguous())


def flux_ids(height: int, width: int, tokens: int):
    """(img_ids, txt_ids) as diffusers' Flux pipeline builds them for a latent of height x width (2x2 patches)."""
    h, w = height // 2, width // 2
    img_ids = torch.zeros(h, w, 3)
    img_ids[..., 1] = torch.arange(h)[:, None]
    img_ids[..., 2] = torch.arange(w)[None, :]
    return img_ids.reshape(h * w, 3), torch.zeros(tokens, 3)


def pack(x):
    """(B, C, H, W) -> (B, H/2 * W/2, C * 4): the Flux pipeline's token layout (channel, then the 2x2 patch)."""
    b, c, h, w = x.shape
    return x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // 2) * (w // 2), c * 4)


def unpack(tokens, channels: int, height: int, width: int):
    b = tokens.shape[0]
    x = tokens.view(b, height // 2, width // 2, channels, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, channels, height, width)


def diffusers_sd3(patcher):
    """diffusers' SD3Transformer2DModel carrying exactly the weights of a tiny ComfyUI SD3 / MMDiT-X (keys mapped
    with ComfyUI's own comfy.utils.mmdit_to_diffusers)."""
    import comfy.utils  # noqa: PLC0415
    from diffusers import SD3Transformer2DModel  # noqa: PLC0415

    cfg = patcher.model.model_config.unet_config
    source = patcher.model.diffusion_model.state_dict()
    depth = cfg["depth"]
    context = cfg["context_embedder_config"]["params"]
    model = SD3Transformer2DModel(
        sample_size=8, patch_size=cfg["patch_size"], in_channels=cfg["in_channels"], num_layers=depth,
        attention_head_dim=64, num_attention_heads=depth, joint_attention_dim=context["in_features"],
        caption_projection_dim=context["out_features"], pooled_projection_dim=cfg["adm_in_channels"],
        out_channels=cfg["out_channels"], pos_embed_max_size=cfg["pos_embed_max_size"],
        dual_attention_layers=tuple(cfg["x_block_self_attn_layers"]),
        qk_norm="rms_norm" if cfg.get("qk_norm") == "rms" else None)
    mapping = comfy.utils.mmdit_to_diffusers({"depth": depth, "num_blocks": depth}, output_prefix="")
    return _with_mapped_weights(model, mapping, source)


class FrameZeroJointProcessor:
    """A diffusers SD3 attention processor doing Text2Video-Zero's cross-frame attention: the joint keys and values
    (image + text tokens; image only in MMDiT-X's second attention) of every frame are frame 0's (``previous``: frame
    0's and the previous frame's)."""

    def __init__(self, previous: bool = False):
        self.previous = previous

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, **kwargs):
        import torch.nn.functional as F  # noqa: PLC0415

        def split_heads(x):
            return x.view(x.shape[0], -1, attn.heads, x.shape[-1] // attn.heads).transpose(1, 2)

        def normed(norm, x):
            return x if norm is None else norm(x)

        image = hidden_states.shape[1]
        q = normed(attn.norm_q, split_heads(attn.to_q(hidden_states)))
        k = normed(attn.norm_k, split_heads(attn.to_k(hidden_states)))
        v = split_heads(attn.to_v(hidden_states))
        if encoder_hidden_states is not None:
            q = torch.cat([q, normed(attn.norm_added_q, split_heads(attn.add_q_proj(encoder_hidden_states)))], dim=2)
            k = torch.cat([k, normed(attn.norm_added_k, split_heads(attn.add_k_proj(encoder_hidden_states)))], dim=2)
            v = torch.cat([v, split_heads(attn.add_v_proj(encoder_hidden_states))], dim=2)
        k, v = frame_zero_kv(k, v, self.previous, tokens_dim=2)
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2).to(q.dtype)
        image_out = attn.to_out[1](attn.to_out[0](out[:, :image]))
        if encoder_hidden_states is None:
            return image_out
        text_out = out[:, image:]
        return image_out, text_out if attn.context_pre_only else attn.to_add_out(text_out)
