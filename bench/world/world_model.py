"""The world's text-to-image model in SD1.5's checkpoint layout: narrow trained weights, padded to what ComfyUI loads.

ComfyUI detects SD1.5 only at the UNet's full width (model_channels 320) and always builds the full CLIP-L text
encoder, and a full-width model cannot be trained on a CPU in an hour. So the UNet is trained narrow (ComfyUI's own
UNetModel at model_channels 32) in a form that equals the padded one exactly: every activation of the narrow model
sits at fixed positions of the wide one (unet_spaces), the wide model's extra channels hold zeros, and the narrow
model's norms compute the statistics the wide model computes over its zeros (PaddedGroupNorm, PaddedLayerNorm), its
attention uses the wide head size's scale and its timestep embedding the wide sinusoid. The VAE is a TAESD (what
ComfyUI loads under first_stage_model. when it finds taesd_decoder keys) trained with fewer channels per stage and
padded the same way (no norms there: zeros stay zeros through conv + ReLU). The text encoder is a frozen random
CLIP-L regenerated from a seed (clip_state), never committed: the UNet learns to read its embeddings.

Only the narrow weights are committed (WEIGHTS, fp16); world_checkpoint() assembles the full .safetensors that
CheckpointLoaderSimple loads, cached under the host's models/checkpoints.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch
from torch import nn

WORLD_DIR = Path(__file__).resolve().parent
REPO = WORLD_DIR.parents[1]
WEIGHTS = WORLD_DIR / "weights" / "world_t2i.safetensors"
CHECKPOINT_NAME = "t2vz-world-sd15.safetensors"
CLIP_SEED = 27
ASSEMBLY_VERSION = "1"  # bump when what world_checkpoint writes changes: cached files are rebuilt

WIDTH_RATIO = 10  # 32 -> 320 channels
UNET_NARROW = {
    "use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True, "legacy": False,
    "adm_in_channels": None, "in_channels": 4, "model_channels": 32, "num_res_blocks": [1, 1, 1],
    "channel_mult": [1, 1, 2], "transformer_depth": [0, 1, 1], "transformer_depth_output": [0, 0, 1, 1, 1, 1],
    "transformer_depth_middle": 1, "use_linear_in_transformer": False, "context_dim": 768, "num_heads": 8,
    "num_head_channels": -1, "use_temporal_attention": False, "use_temporal_resblock": False,
}
"""Three levels (16, 8, 4 latent px); attention at 8 and 4 only, where the padded model's cost stays small."""
UNET_FULL = dict(UNET_NARROW, model_channels=UNET_NARROW["model_channels"] * WIDTH_RATIO)

TAESD_ENCODER_WIDTHS = (8, 16, 32, 48)  # at 1, 1/2, 1/4, 1/8 of the picture's size (TAESD: 64 everywhere)
TAESD_DECODER_WIDTHS = (64, 32, 16, 8)  # at 1/8, 1/4, 1/2, 1
LATENT_SCALE = 0.18215  # SD1.5's latent format: the UNet sees 0.18215 x the VAE's latent


# --- the host --------------------------------------------------------------------------------------------------

def host_dir() -> Path:
    """$T2VZ_HOST, else the host whose venv runs this, else the repository's .host (as tests/conftest.py)."""
    if os.environ.get("T2VZ_HOST"):
        return Path(os.environ["T2VZ_HOST"])
    running = Path(sys.prefix).parent
    return running if (running / "ComfyUI" / "main.py").exists() else REPO / ".host"


def import_comfy():
    """Make ComfyUI importable in-process on the CPU (a no-op where tests/conftest.py did it already)."""
    comfy_dir = host_dir() / "ComfyUI"
    if not (comfy_dir / "main.py").exists():
        raise RuntimeError(f"ComfyUI host not found at {comfy_dir}. Fix: `bash scripts/install_host.sh`, or set "
                           f"T2VZ_HOST to a host folder.")
    if str(comfy_dir) not in sys.path:
        sys.path.insert(0, str(comfy_dir))
    if "comfy.model_management" not in sys.modules:
        import comfy.cli_args  # noqa: PLC0415

        comfy.cli_args.args.cpu = True  # a CUDA build of torch looks for a driver otherwise


# --- where narrow channels sit in the wide model -----------------------------------------------------------------

class Space:
    """A narrow activation axis inside a wide one: narrow channel j lives at wide channel pos[j]."""

    def __init__(self, pos: torch.Tensor, size: int):
        self.pos, self.size = pos.long(), int(size)

    def __add__(self, other: "Space") -> "Space":  # concatenation along the channel axis
        return Space(torch.cat([self.pos, self.size + other.pos]), self.size + other.size)


def grouped(width: int, groups: int = 32) -> Space:
    """A UNet channel axis: narrow group g (of 32) fills the start of wide group g, so GroupNorm groups and
    attention heads (4 groups each at 8 heads) line up in both models."""
    n = width // groups
    j = torch.arange(width)
    return Space(WIDTH_RATIO * n * (j // n) + j % n, WIDTH_RATIO * width)


def appended(width: int) -> Space:
    return Space(torch.arange(width), WIDTH_RATIO * width)


def same(width: int) -> Space:
    return Space(torch.arange(width), width)


def geglu(width: int) -> Space:
    """GEGLU's projection: two halves (value, gate) of 4 x width, each padded at its end."""
    half = 4 * width
    return Space(torch.cat([torch.arange(half), WIDTH_RATIO * half + torch.arange(half)]), 2 * WIDTH_RATIO * half)


def unet_spaces(model) -> dict[str, tuple[Space, ...]]:
    """For each narrow UNet parameter: the Space of each of its leading axes (output first, then input)."""
    from comfy.ldm.modules.attention import SpatialTransformer  # noqa: PLC0415
    from comfy.ldm.modules.diffusionmodules.openaimodel import Downsample, ResBlock, Upsample  # noqa: PLC0415

    emb = appended(4 * UNET_NARROW["model_channels"])
    spaces: dict[str, tuple[Space, ...]] = {
        "time_embed.0.weight": (emb, same(model.time_embed[0].in_features)), "time_embed.0.bias": (emb,),
        "time_embed.2.weight": (emb, emb), "time_embed.2.bias": (emb,),
    }

    def resblock(prefix: str, block, into: Space) -> None:
        out = grouped(block.out_channels)
        spaces.update({f"{prefix}.in_layers.0.weight": (into,), f"{prefix}.in_layers.0.bias": (into,),
                       f"{prefix}.in_layers.2.weight": (out, into), f"{prefix}.in_layers.2.bias": (out,),
                       f"{prefix}.emb_layers.1.weight": (out, emb), f"{prefix}.emb_layers.1.bias": (out,),
                       f"{prefix}.out_layers.0.weight": (out,), f"{prefix}.out_layers.0.bias": (out,),
                       f"{prefix}.out_layers.3.weight": (out, out), f"{prefix}.out_layers.3.bias": (out,),
                       f"{prefix}.skip_connection.weight": (out, into), f"{prefix}.skip_connection.bias": (out,)})

    def transformer(prefix: str, block) -> None:
        for name, p in block.named_parameters():
            width = block.in_channels
            key, axes = f"{prefix}.{name}", grouped(width)
            if name.endswith(("attn2.to_k.weight", "attn2.to_v.weight")):
                spaces[key] = (axes, same(p.shape[1]))
            elif "ff.net.0.proj" in name:
                spaces[key] = (geglu(width),) if p.ndim == 1 else (geglu(width), axes)
            elif "ff.net.2.weight" in name:
                spaces[key] = (axes, appended(4 * width))
            else:
                spaces[key] = (axes,) * min(p.ndim, 2)

    def walk(prefix: str, block, into: Space) -> Space:
        """Register a block's layers; returns the Space of its output."""
        for i, layer in enumerate(block):
            name = f"{prefix}.{i}"
            if isinstance(layer, ResBlock):
                resblock(name, layer, into)
                into = grouped(layer.out_channels)
            elif isinstance(layer, SpatialTransformer):
                transformer(name, layer)
            elif isinstance(layer, Downsample):
                spaces[f"{name}.op.weight"], spaces[f"{name}.op.bias"] = (into, into), (into,)
            elif isinstance(layer, Upsample):
                spaces[f"{name}.conv.weight"], spaces[f"{name}.conv.bias"] = (into, into), (into,)
            else:  # the input conv
                into = grouped(layer.out_channels)
                spaces[f"{name}.weight"], spaces[f"{name}.bias"] = (into, same(layer.in_channels)), (into,)
        return into

    skips, h = [], None
    for i, block in enumerate(model.input_blocks):
        h = walk(f"input_blocks.{i}", block, h)
        skips.append(h)
    h = walk("middle_block", model.middle_block, h)
    for i, block in enumerate(model.output_blocks):
        h = walk(f"output_blocks.{i}", block, h + skips.pop())
    spaces.update({"out.0.weight": (h,), "out.0.bias": (h,), "out.2.weight": (same(4), h), "out.2.bias": (same(4),)})
    return spaces


def pad_tensor(value: torch.Tensor, axes: tuple[Space, ...], shape: torch.Size) -> torch.Tensor:
    """A wide tensor of `shape` that holds `value` at its Spaces' positions and zeros elsewhere."""
    wide = torch.zeros(shape, dtype=value.dtype)
    index = tuple(a.pos for a in axes)
    if len(index) == 2:
        wide[index[0][:, None], index[1][None, :]] = value
    else:
        wide[index[0]] = value
    return wide


# --- the narrow UNet that computes what its padding computes -----------------------------------------------------

class PaddedGroupNorm(nn.Module):
    """GroupNorm over a narrow axis with the statistics the wide GroupNorm takes over it and its zeros."""

    def __init__(self, norm: nn.GroupNorm, space: Space):
        super().__init__()
        per_group = space.size // norm.num_groups
        self.register_buffer("group", space.pos // per_group, persistent=False)
        self.groups, self.per_group, self.eps = norm.num_groups, per_group, norm.eps
        self.weight, self.bias = norm.weight, norm.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        flat = x.reshape(b, c, -1).float()
        count = self.per_group * flat.shape[2]
        sums = flat.new_zeros(b, self.groups).index_add_(1, self.group, flat.sum(2))
        squares = flat.new_zeros(b, self.groups).index_add_(1, self.group, (flat * flat).sum(2))
        mean = sums / count
        var = (squares / count - mean * mean).clamp_min(0.0)
        normed = (flat - mean[:, self.group, None]) * torch.rsqrt(var[:, self.group, None] + self.eps)
        normed = normed * self.weight[None, :, None] + self.bias[None, :, None]
        return normed.reshape(x.shape).to(x.dtype)


class PaddedLayerNorm(nn.Module):
    """LayerNorm over a narrow axis with the statistics of the wide one (the rest zeros)."""

    def __init__(self, norm: nn.LayerNorm, wide: int):
        super().__init__()
        self.wide, self.eps = wide, norm.eps
        self.weight, self.bias = norm.weight, norm.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.sum(-1, keepdim=True) / self.wide
        var = ((x * x).sum(-1, keepdim=True) / self.wide - mean * mean).clamp_min(0.0)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


def _init_(model: nn.Module, seed: int) -> None:
    """PyTorch's default init (ComfyUI's ops skip it), then SD's zero-initialised output layers."""
    from comfy.ldm.modules.attention import SpatialTransformer  # noqa: PLC0415
    from comfy.ldm.modules.diffusionmodules.openaimodel import ResBlock  # noqa: PLC0415

    torch.manual_seed(seed)
    for module in model.modules():
        for base in (nn.Conv2d, nn.Linear, nn.GroupNorm, nn.LayerNorm):
            if isinstance(module, base):
                base.reset_parameters(module)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, ResBlock):
                module.out_layers[-1].weight.zero_()
                module.out_layers[-1].bias.zero_()
            if isinstance(module, SpatialTransformer):
                module.proj_out.weight.zero_()
                module.proj_out.bias.zero_()
        model.out[-1].weight.zero_()
        model.out[-1].bias.zero_()


def narrow_unet(seed: int = 0):
    """ComfyUI's UNetModel at model_channels 32, made to compute exactly what its padding to 320 computes."""
    import comfy.ops  # noqa: PLC0415
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel  # noqa: PLC0415

    model = UNetModel(**UNET_NARROW, operations=comfy.ops.disable_weight_init)
    wide_channels = UNET_FULL["model_channels"]
    first = model.time_embed[0]  # the wide model embeds the timestep as a 320-wide sinusoid
    model.time_embed[0] = comfy.ops.disable_weight_init.Linear(wide_channels, first.out_features)
    model.model_channels = wide_channels  # read by forward for timestep_embedding only
    _init_(model, seed)
    spaces = unet_spaces(model)
    for name, module in list(model.named_modules()):
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        if isinstance(module, nn.GroupNorm):
            setattr(parent, attr, PaddedGroupNorm(module, spaces[f"{name}.weight"][0]))
        elif isinstance(module, nn.LayerNorm):
            setattr(parent, attr, PaddedLayerNorm(module, spaces[f"{name}.weight"][0].size))
        elif attr == "to_q":  # the wide head is 10x wider: softmax(q.k / sqrt(10 d)) as the wide model takes it
            module.register_forward_hook(lambda _m, _i, out: out * WIDTH_RATIO ** -0.5)
    return model


def pad_unet_state(narrow_state: dict[str, torch.Tensor], dtype=torch.float16) -> dict[str, torch.Tensor]:
    """The wide (SD1.5-detected) UNet's state dict holding a narrow state dict's weights."""
    import comfy.ops  # noqa: PLC0415
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel  # noqa: PLC0415

    with torch.device("meta"):
        wide = UNetModel(**UNET_FULL, operations=comfy.ops.disable_weight_init)
        narrow = UNetModel(**UNET_NARROW, operations=comfy.ops.disable_weight_init)
    narrow.time_embed[0] = nn.Linear(UNET_FULL["model_channels"], narrow.time_embed[0].out_features, device="meta")
    spaces = unet_spaces(narrow)
    shapes = {k: v.shape for k, v in wide.state_dict().items()}
    if set(shapes) != set(narrow_state):
        raise ValueError(f"narrow UNet weights do not match the layout: {sorted(set(shapes) ^ set(narrow_state))[:5]}")
    return {k: pad_tensor(narrow_state[k].to(dtype), spaces[k], shapes[k]) for k in shapes}


# --- the narrow TAESD --------------------------------------------------------------------------------------------

def _conv(n_in: int, n_out: int, **kwargs) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, padding=1, **kwargs)


class _Block(nn.Module):
    """TAESD's Block at equal widths (its skip is then the identity, which has no weights)."""

    def __init__(self, n: int):
        super().__init__()
        self.conv = nn.Sequential(_conv(n, n), nn.ReLU(), _conv(n, n), nn.ReLU(), _conv(n, n))
        self.fuse = nn.ReLU()
        # a deep ReLU stack without norms learns fast when each block starts as (nearly) the identity
        for conv in self.conv[0:3:2]:
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
        nn.init.zeros_(self.conv[4].weight)

    def forward(self, x):
        return self.fuse(self.conv(x) + x)


class _Clamp(nn.Module):
    def forward(self, x):
        return torch.tanh(x / 3) * 3


class NarrowTAESD(nn.Module):
    """comfy.taesd.taesd.TAESD (SD layout, 4 latent channels) with fewer channels per stage; same keys."""

    def __init__(self, encoder=TAESD_ENCODER_WIDTHS, decoder=TAESD_DECODER_WIDTHS):
        super().__init__()
        e0, e1, e2, e3 = encoder
        d3, d2, d1, d0 = decoder
        self.taesd_encoder = nn.Sequential(
            _conv(3, e0), _Block(e0),
            _conv(e0, e1, stride=2, bias=False), _Block(e1), _Block(e1), _Block(e1),
            _conv(e1, e2, stride=2, bias=False), _Block(e2), _Block(e2), _Block(e2),
            _conv(e2, e3, stride=2, bias=False), _Block(e3), _Block(e3), _Block(e3),
            _conv(e3, 4),
        )
        self.taesd_decoder = nn.Sequential(
            _Clamp(), _conv(4, d3), nn.ReLU(),
            _Block(d3), _Block(d3), _Block(d3), nn.Upsample(scale_factor=2), _conv(d3, d2, bias=False),
            _Block(d2), _Block(d2), _Block(d2), nn.Upsample(scale_factor=2), _conv(d2, d1, bias=False),
            _Block(d1), _Block(d1), _Block(d1), nn.Upsample(scale_factor=2), _conv(d1, d0, bias=False),
            _Block(d0), _conv(d0, 3),
        )
        # signal-preserving init (He) for the convs between blocks: PyTorch's default shrinks the signal at each of
        # them, which left a fresh encoder's latents at 0.04 and the pair stuck drawing the mean picture
        for module in (*self.taesd_encoder, *self.taesd_decoder):
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        # ComfyUI's TAESD: encode = encoder(x) / vae_scale + vae_shift; set from the data after training
        self.vae_scale = nn.Parameter(torch.tensor(1.0), requires_grad=False)
        self.vae_shift = nn.Parameter(torch.tensor(0.0), requires_grad=False)

    def encode(self, image01: torch.Tensor) -> torch.Tensor:
        """Pictures (B, 3, H, W) in [0, 1] -> the latents ComfyUI's VAE Encode returns (unscaled)."""
        return self.taesd_encoder(image01) / self.vae_scale + self.vae_shift

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Unscaled latents -> pictures in [0, 1] (before ComfyUI's clamp)."""
        return self.taesd_decoder((latent - self.vae_shift) * self.vae_scale)


def pad_taesd_state(narrow_state: dict[str, torch.Tensor], dtype=torch.float16) -> dict[str, torch.Tensor]:
    """The state dict of ComfyUI's full-width TAESD holding a NarrowTAESD's weights (extra channels zero)."""
    import comfy.taesd.taesd  # noqa: PLC0415

    with torch.device("meta"):
        shapes = {k: v.shape for k, v in comfy.taesd.taesd.TAESD().state_dict().items()}
    if set(shapes) != set(narrow_state):
        mismatch = sorted(set(shapes) ^ set(narrow_state))[:5]
        raise ValueError(f"narrow TAESD weights do not match the layout: {mismatch}")
    wide = {}
    for k, shape in shapes.items():
        value = narrow_state[k].to(dtype)
        tensor = torch.zeros(shape, dtype=dtype)
        tensor[tuple(slice(0, n) for n in value.shape)] = value
        wide[k] = tensor
    return wide


# --- the frozen random text encoder ------------------------------------------------------------------------------

def clip_state(seed: int = CLIP_SEED, dtype=torch.float16) -> dict[str, torch.Tensor]:
    """A random CLIP-L text encoder (SD1.5 checkpoint keys), drawn key by key from one seeded generator so that
    it is the same on every host and library version. Token embeddings are large against the layers' output, so
    each position's embedding still says which word it holds: what the UNet learns to read."""
    generator = torch.Generator().manual_seed(seed)
    hidden, mlp, layers = 768, 3072, 12
    shapes = {"embeddings.token_embedding.weight": (49408, hidden),
              "embeddings.position_embedding.weight": (77, hidden)}
    for i in range(layers):
        p = f"encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            shapes[p + f"self_attn.{proj}.weight"] = (hidden, hidden)
            shapes[p + f"self_attn.{proj}.bias"] = (hidden,)
        shapes.update({p + "layer_norm1.weight": (hidden,), p + "layer_norm1.bias": (hidden,),
                       p + "mlp.fc1.weight": (mlp, hidden), p + "mlp.fc1.bias": (mlp,),
                       p + "mlp.fc2.weight": (hidden, mlp), p + "mlp.fc2.bias": (hidden,),
                       p + "layer_norm2.weight": (hidden,), p + "layer_norm2.bias": (hidden,)})
    shapes.update({"final_layer_norm.weight": (hidden,), "final_layer_norm.bias": (hidden,)})
    state = {}
    for key, shape in shapes.items():
        if "layer_norm" in key:
            value = torch.ones(shape) if key.endswith("weight") else torch.zeros(shape)
        elif key.endswith("bias"):
            value = torch.zeros(shape)
        else:
            std = {"embeddings.token_embedding.weight": 0.5, "embeddings.position_embedding.weight": 0.1}.get(key, 0.02)
            value = torch.randn(shape, generator=generator) * std
        state["cond_stage_model.transformer.text_model." + key] = value.to(dtype)
    state["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    return state


# --- files ---------------------------------------------------------------------------------------------------------

def load_parts(path: Path) -> tuple[dict[str, dict], dict]:
    """({part name: its state dict}, metadata) of a weights file whose tensors are named ``<part>.<key>``."""
    import safetensors  # noqa: PLC0415

    with safetensors.safe_open(str(path), framework="pt") as f:
        metadata = dict(f.metadata() or {})
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is no dict)
    parts: dict[str, dict] = {}
    for key, value in tensors.items():
        part, name = key.split(".", 1)
        parts.setdefault(part, {})[name] = value
    return parts, metadata


def save_parts(path: Path, parts: dict[str, dict], metadata: dict) -> None:
    """Each part's state dict in fp16 under ``<part>.<key>``, with ``metadata`` as strings, written whole or not at
    all (a .partial file renamed)."""
    tensors = {f"{part}.{k}": v.detach().to(torch.float16) for part, state in parts.items() for k, v in state.items()}
    cached_file(path, None, lambda: (tensors, {k: str(v) for k, v in metadata.items()}))


def load_weights(path: Path = WEIGHTS) -> tuple[dict, dict, dict]:
    """The committed narrow weights: (UNet state, TAESD state, metadata)."""
    parts, metadata = load_parts(path)
    return parts.get("unet", {}), parts.get("vae", {}), metadata


def save_weights(path: Path, unet_state: dict, vae_state: dict, metadata: dict) -> None:
    save_parts(path, {"unet": unet_state, "vae": vae_state}, metadata)


def checkpoint_state(unet_state: dict, vae_state: dict, clip_seed: int = CLIP_SEED) -> dict[str, torch.Tensor]:
    """The full SD1.5-layout state dict: padded UNet, seeded CLIP-L, padded TAESD (all fp16)."""
    state = {"model.diffusion_model." + k: v for k, v in pad_unet_state(unet_state).items()}
    state.update(clip_state(clip_seed))
    state.update({"first_stage_model." + k: v for k, v in pad_taesd_state(vae_state).items()})
    return {k: v.contiguous() for k, v in state.items()}


def file_digest(path: Path) -> str:
    """The sha256 of a file, read in blocks (the cache keys of the assembled files)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cached_file(path: Path, key: str | None, make) -> Path:
    """``make()``'s (tensors, metadata) written to ``path`` (whole or not at all: a .partial file renamed), unless
    the stamp beside it already holds ``key``; ``key`` None: always written, no stamp."""
    import safetensors.torch  # noqa: PLC0415

    stamp = path.with_suffix(path.suffix + ".v")
    if key is not None and path.exists() and stamp.exists() and stamp.read_text() == key:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tensors, metadata = make()
    safetensors.torch.save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    if key is not None:
        stamp.write_text(key)
    return path


def world_checkpoint(weights: Path = WEIGHTS, name: str = CHECKPOINT_NAME, folder: Path | None = None) -> Path:
    """The world's SD1.5 checkpoint for CheckpointLoaderSimple, assembled from the narrow weights and cached in
    <host>/models/checkpoints (rebuilt when the weights or the assembly change)."""
    import_comfy()
    folder = folder or host_dir() / "models" / "checkpoints"
    key = json.dumps({"assembly": ASSEMBLY_VERSION, "weights": file_digest(weights), "clip_seed": CLIP_SEED})

    def assemble():
        unet_state, vae_state, metadata = load_weights(weights)
        return checkpoint_state(unet_state, vae_state), {"t2vz_world": json.dumps(metadata)}

    return cached_file(folder / name, key, assemble)


# --- sampling through ComfyUI and judging ---------------------------------------------------------------------------

def load_world(checkpoint: Path | None = None):
    """(model patcher, CLIP, VAE) from ComfyUI's checkpoint loader (what CheckpointLoaderSimple runs)."""
    import_comfy()
    import comfy.sd  # noqa: PLC0415

    checkpoint = checkpoint or world_checkpoint()
    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(str(checkpoint), output_vae=True, output_clip=True)
    return model, clip, vae


def encode(clip, prompts: list[str]):
    """ComfyUI CONDITIONING holding one row per prompt (CLIPTextEncode's output, batched)."""
    conds, pooled = [], []
    for text in prompts:
        cond, pool = clip.encode_from_tokens(clip.tokenize(text), return_pooled=True)
        conds.append(cond)
        pooled.append(pool)
    return [[torch.cat(conds), {"pooled_output": torch.cat(pooled)}]]


@torch.inference_mode()
def draw(loaded, prompts: list[str], seed: int = 0, steps: int = 12, cfg: float = 4.0, sampler: str = "euler",
         scheduler: str = "normal", size: int = 128):
    """One picture per prompt, sampled in one batch with ComfyUI's sampler (as KSampler: an empty latent, the
    batch's noise from one seed, the empty prompt as negative): (B, size, size, 3) floats in [0, 1]."""
    import comfy.sample  # noqa: PLC0415

    model, clip, vae = loaded
    latent = torch.zeros((len(prompts), 4, size // 8, size // 8))
    noise = comfy.sample.prepare_noise(latent, seed)
    positive = encode(clip, prompts)
    negative = encode(clip, [""] * len(prompts))
    samples = comfy.sample.sample(model, noise, steps, cfg, sampler, scheduler, positive, negative, latent,
                                  denoise=1.0, seed=seed)
    return vae.decode(samples).float().clamp(0, 1).cpu().numpy()


def score(images, prompts: list[str]) -> dict:
    """The share of pictures whose judged colour / shape / background is the prompt's, and each judgement."""
    sys.path.insert(0, str(WORLD_DIR))
    import world  # noqa: PLC0415

    results = [world.judge(image) for image in images]
    hits = [world.matches(r, p) for r, p in zip(results, prompts)]
    rates = {k: sum(h[k] for h in hits) / len(hits) for k in ("colour", "shape", "background")}
    return {"rates": rates, "count": len(prompts),
            "judged": [{"prompt": p, **{k: r[k] for k in ("colour", "shape", "background", "area")}}
                       for p, r in zip(prompts, results)]}
