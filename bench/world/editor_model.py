"""The world's instruction editor in Flux.1 Kontext's layout: ComfyUI's own Flux network, small, that edits a reference
picture by an instruction ("add snow", "make it blue") and draws from text alone when no reference is given.

Kontext is Flux dev with the reference picture's latent appended as extra image tokens (ComfyUI: the conditioning's
`reference_latents`, set by core's Reference Latent node, reach comfy.ldm.flux.model.Flux as `ref_latents`). The
network here is that class at the smallest width ComfyUI's detection takes (hidden 128: one head of 128 channels),
trained with its own forward, so what ComfyUI samples is what was trained. Flow matching as ComfyUI's Flux samples it
(CONST: x_t = (1 - sigma) x0 + sigma noise, the network predicts noise - x0; sigmas shifted by ModelSamplingFlux).

It is not guidance-distilled: guidance_in is there (Flux dev's layout, as Kontext's) but zeroed, so Flux Guidance does
nothing; use cfg > 1 with a ConditioningZeroOut negative (what the Kontext workflow wires): it was trained with the
text zeroed at times for that, and with the reference dropped at times for text-to-image.

Text: what ComfyUI's SD3 text encoder makes of CLIP-L alone (CLIPLoader or DualCLIPLoader, type sd3, the CLIP-L file
in both slots as the project's Flux workflow tests wire it): 77 tokens of 4096 (CLIP-L's 768 then zeros) and a pooled
2048 (768 then zeros). The CLIP-L is the world's frozen random one (world_model.clip_state, regenerated from its seed,
never committed). The network is trained with 768-wide text inputs; the files pad txt_in / vector_in with zero
columns to 4096 / 2048, which computes the same.

VAE: a TAESD with 16 latent channels (Flux's latent), trained narrow and padded with zeros to TAESD's width (no norms:
zeros stay zeros), loaded by Load VAE; 128 px -> 16x16 latents -> 64 image tokens (2x2 patches) and 64 reference
tokens.

Only the narrow weights are committed (WEIGHTS, fp16); editor_files() writes what the loaders take into the host's
models folders (diffusion_models, vae, text_encoders), cached.
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch
from torch import nn

WORLD_DIR = Path(__file__).resolve().parent
if str(WORLD_DIR) not in sys.path:
    sys.path.insert(0, str(WORLD_DIR))
import world_model

WEIGHTS = WORLD_DIR / "editor.safetensors"
DIT_NAME = "t2vz-world-kontext.safetensors"  # models/diffusion_models (UNETLoader)
VAE_NAME = "t2vz-world-taesd16.safetensors"  # models/vae (VAELoader)
TEXT_ENCODER_NAME = "t2vz-world-clip-l.safetensors"  # models/text_encoders (CLIPLoader / DualCLIPLoader, type sd3)
CLIP_SEED = 27  # the world's CLIP-L (world_model.CLIP_SEED at the time of training), pinned here
ASSEMBLY_VERSION = "1"  # bump when what editor_files writes changes: cached files are rebuilt

TEXT_WIDTH, POOLED_WIDTH = 768, 768  # what the network is trained on (CLIP-L's widths)
FILE_TEXT_WIDTH, FILE_POOLED_WIDTH = 4096, 2048  # what ComfyUI's SD3 text encoder hands over
DIT_CONFIG = {
    "image_model": "flux", "axes_dim": [16, 56, 56], "num_heads": 1, "mlp_ratio": 4.0, "theta": 10000,
    "out_channels": 16, "qkv_bias": True, "txt_ids_dims": [], "in_channels": 16, "hidden_size": 128,
    "context_in_dim": TEXT_WIDTH, "patch_size": 2, "vec_in_dim": POOLED_WIDTH, "depth": 2, "depth_single_blocks": 2,
    "yak_mlp": False, "txt_norm": False, "guidance_embed": True,
}
"""ComfyUI 0.33's detection reads heads as hidden / 128 (axes 16 + 56 + 56), depths from the block keys, the text
widths from txt_in / vector_in."""
LATENT_CHANNELS = 16
TAESD_ENCODER_WIDTHS = (16, 24, 32, 48)
TAESD_DECODER_WIDTHS = (64, 48, 32, 16)

INSTRUCTIONS = ("add snow",) + tuple(f"make it {c}" for c in ("red", "green", "blue", "yellow"))
"""What the editor was trained on: "add snow" (flakes from the noise) and recolouring the object."""


# --- the network ---------------------------------------------------------------------------------------------------

def flux_network(config: dict | None = None, seed: int = 0):
    """ComfyUI's Flux (comfy.ldm.flux.model.Flux) at DIT_CONFIG, initialised for training from scratch: Xavier
    linears, unit norms, and adaLN-zero (modulations and the output layer start at zero, so every block starts as
    the identity and the output as zero); guidance_in zeroed and frozen (guidance is not distilled here)."""
    world_model.import_comfy()
    import comfy.ops
    from comfy.ldm.flux.model import Flux

    config = dict(config or DIT_CONFIG)
    config.pop("image_model", None)
    model = Flux(operations=comfy.ops.disable_weight_init, dtype=torch.float32, **config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith(".scale"):
                p.fill_(1.0)
            elif p.ndim == 1:
                p.zero_()
            else:
                bound = (6.0 / (p.shape[0] + p.shape[1])) ** 0.5
                p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) * bound)
        zero = [model.final_layer.linear, model.final_layer.adaLN_modulation[-1], model.guidance_in.out_layer]
        zero += [b.img_mod.lin for b in model.double_blocks] + [b.txt_mod.lin for b in model.double_blocks]
        zero += [b.modulation.lin for b in model.single_blocks]
        for layer in zero:
            layer.weight.zero_()
            layer.bias.zero_()
    for p in model.guidance_in.parameters():
        p.requires_grad_(False)
    return model


def pad_dit_state(state: dict[str, torch.Tensor], dtype=torch.float16) -> dict[str, torch.Tensor]:
    """The narrow network's weights as the file UNETLoader takes: txt_in / vector_in widened with zero columns to
    the SD3 text encoder's 4096 / 2048 (the inputs there are zeros: the same outputs)."""
    out = {}
    for key, value in state.items():
        value = value.to(dtype)
        if key == "txt_in.weight":
            value = torch.cat([value, value.new_zeros(value.shape[0], FILE_TEXT_WIDTH - value.shape[1])], 1)
        elif key == "vector_in.in_layer.weight":
            value = torch.cat([value, value.new_zeros(value.shape[0], FILE_POOLED_WIDTH - value.shape[1])], 1)
        out[key] = value.contiguous()
    return out


def training_mode(enabled: bool = True) -> None:
    """ComfyUI's rope kernel has no backward; its training flag switches Flux to the plain-torch rope (same math)."""
    import comfy.model_management

    comfy.model_management.in_training = enabled


def keep_saved_tensors():
    """Flux's blocks add to their residual stream in place after normalising it; cloning what autograd saves keeps
    the values backward needs (a few MB a step here)."""
    return torch.autograd.graph.saved_tensors_hooks(lambda t: t.clone(), lambda t: t)


# --- the 16-channel TAESD ------------------------------------------------------------------------------------------

class NarrowTAESD16(world_model.NarrowTAESD):
    """The world's narrow TAESD with Flux's 16 latent channels (same keys as comfy.taesd.taesd.TAESD(16))."""

    def __init__(self):
        super().__init__(TAESD_ENCODER_WIDTHS, TAESD_DECODER_WIDTHS)
        self.taesd_encoder[-1] = world_model._conv(TAESD_ENCODER_WIDTHS[-1], LATENT_CHANNELS)
        self.taesd_decoder[1] = world_model._conv(LATENT_CHANNELS, TAESD_DECODER_WIDTHS[0])
        # the convs between blocks at ReLU gain: at PyTorch's default each shrinks the signal (about 0.6x), and ten
        # of them leave latents and outputs near zero, where training sat on a plateau (15 dB) for hundreds of steps
        for stack in (self.taesd_encoder, self.taesd_decoder):
            for layer in stack:
                if isinstance(layer, nn.Conv2d):
                    nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                    if layer.bias is not None:
                        nn.init.zeros_(layer.bias)


def pad_taesd16_state(narrow_state: dict[str, torch.Tensor], dtype=torch.float16) -> dict[str, torch.Tensor]:
    """ComfyUI's full-width 16-channel TAESD holding the narrow weights (extra channels zero)."""
    world_model.import_comfy()
    import comfy.taesd.taesd

    with torch.device("meta"):
        shapes = {k: v.shape for k, v in comfy.taesd.taesd.TAESD(latent_channels=LATENT_CHANNELS).state_dict().items()}
    if set(shapes) != set(narrow_state):
        raise ValueError(f"narrow TAESD weights do not match the layout: {sorted(set(shapes) ^ set(narrow_state))[:5]}")
    wide = {}
    for key, shape in shapes.items():
        value = narrow_state[key].to(dtype)
        tensor = torch.zeros(shape, dtype=dtype)
        tensor[tuple(slice(0, n) for n in value.shape)] = value
        wide[key] = tensor
    return wide


def latent_format():
    world_model.import_comfy()
    import comfy.latent_formats

    return comfy.latent_formats.Flux()


# --- the text encoder file -----------------------------------------------------------------------------------------

def text_encoder_state(seed: int = CLIP_SEED) -> dict[str, torch.Tensor]:
    """The world's seeded CLIP-L in a standalone text encoder's layout (clip_l.safetensors: text_model. keys)."""
    prefix = "cond_stage_model.transformer."
    state = {k[len(prefix):]: v for k, v in world_model.clip_state(seed).items()}
    # files carry the projection; SD3's CLIP-L does not use it (its pooled vector is unprojected)
    state["text_projection.weight"] = torch.eye(768, dtype=torch.float16)
    return state


def clip_fingerprint(seed: int = CLIP_SEED) -> str:
    """A digest of the regenerated CLIP-L, stored with the weights: the editor reads this encoder's embeddings only,
    so a change to world_model.clip_state must be caught, not sampled."""
    h = hashlib.sha256()
    for key, value in sorted(world_model.clip_state(seed).items()):
        if key.endswith(("token_embedding.weight", "layers.11.mlp.fc2.weight", "position_ids")):
            h.update(key.encode())
            h.update(value.float().flatten()[::997].numpy().tobytes())
    return h.hexdigest()[:16]


# --- files ---------------------------------------------------------------------------------------------------------

def save_weights(path: Path, dit_state: dict, vae_state: dict, metadata: dict) -> None:
    world_model.save_parts(path, {"dit": dit_state, "vae": vae_state}, metadata)


def load_weights(path: Path = WEIGHTS) -> tuple[dict, dict, dict]:
    """The committed narrow weights: (network state, TAESD state, metadata)."""
    parts, metadata = world_model.load_parts(path)
    return parts.get("dit", {}), parts.get("vae", {}), metadata


def editor_files(weights: Path = WEIGHTS, models: Path | None = None, prefix: str = "") -> dict[str, Path]:
    """Writes (once) the files ComfyUI's loaders take and returns their paths: {"diffusion_models": network for
    UNETLoader, "vae": TAESD for VAELoader, "text_encoders": CLIP-L for CLIPLoader / DualCLIPLoader (type sd3)},
    under <host>/models (or ``models``). ``prefix`` names files apart (a training run's evaluation)."""
    world_model.import_comfy()
    models = models or world_model.host_dir() / "models"
    digest = world_model.file_digest(weights)
    dit_state, vae_state, metadata = None, None, None

    def narrow():
        nonlocal dit_state, vae_state, metadata
        if dit_state is None:
            dit_state, vae_state, metadata = load_weights(weights)
            stored = metadata.get("clip_fingerprint")
            if stored and stored != clip_fingerprint(int(metadata.get("clip_seed", CLIP_SEED))):
                raise RuntimeError("world_model.clip_state no longer regenerates the CLIP-L the editor was trained "
                                   "with. Fix: restore clip_state, or retrain with bench/world/train_editor.py.")
        return dit_state, vae_state, metadata

    def network():
        dit, _, meta = narrow()
        return pad_dit_state(dit), {"t2vz_world_editor": json.dumps(meta)}

    def vae():
        _, narrow_vae, _ = narrow()
        return pad_taesd16_state(narrow_vae), {}

    key = json.dumps({"assembly": ASSEMBLY_VERSION, "weights": digest})
    paths = {
        "diffusion_models": world_model.cached_file(models / "diffusion_models" / (prefix + DIT_NAME), key, network),
        "vae": world_model.cached_file(models / "vae" / (prefix + VAE_NAME), key, vae),
        "text_encoders": text_encoder_file(models),
    }
    narrow()  # checks the fingerprint even when every file was cached
    return paths


def text_encoder_file(models: Path | None = None) -> Path:
    """The seeded CLIP-L's file in <host>/models/text_encoders (it depends on the seed alone: one file for every
    weights)."""
    world_model.import_comfy()
    models = models or world_model.host_dir() / "models"
    key = json.dumps({"assembly": ASSEMBLY_VERSION, "clip_seed": CLIP_SEED})
    return world_model.cached_file(models / "text_encoders" / TEXT_ENCODER_NAME, key, lambda: (text_encoder_state(), {}))


def load_text_encoder(path: Path | None = None):
    """The CLIP-L as DualCLIPLoader loads it in the project's Flux workflow tests: both slots, type sd3."""
    import comfy.sd

    path = path or text_encoder_file()
    return comfy.sd.load_clip(ckpt_paths=[str(path)] * 2, clip_type=comfy.sd.CLIPType.SD3, embedding_directory=None)


# --- loading and sampling through ComfyUI ---------------------------------------------------------------------------

def load_editor(weights: Path = WEIGHTS, prefix: str = ""):
    """(model patcher, CLIP, VAE) through what UNETLoader, DualCLIPLoader (both slots the CLIP-L, type sd3) and
    VAELoader run."""
    paths = editor_files(weights, prefix=prefix)
    import comfy.sd
    import comfy.utils

    model = comfy.sd.load_diffusion_model(str(paths["diffusion_models"]))
    clip = load_text_encoder(paths["text_encoders"])
    sd, metadata = comfy.utils.load_torch_file(str(paths["vae"]), return_metadata=True)
    vae = comfy.sd.VAE(sd=sd, metadata=metadata)
    return model, clip, vae


encode_text = world_model.encode
"""CONDITIONING holding one row per text (CLIPTextEncode's output, batched): the world's own encoding."""


def with_reference(conditioning, reference_latent: torch.Tensor):
    """What core's Reference Latent node does (Kontext's reference picture)."""
    import node_helpers

    return node_helpers.conditioning_set_values(conditioning, {"reference_latents": [reference_latent]}, append=True)


def zero_out(conditioning):
    """What core's ConditioningZeroOut does (the Kontext workflow's negative): text and pooled zeroed, the reference
    kept."""
    out = []
    for cond, extra in conditioning:
        extra = dict(extra)
        if extra.get("pooled_output") is not None:
            extra["pooled_output"] = torch.zeros_like(extra["pooled_output"])
        out.append([torch.zeros_like(cond), extra])
    return out


def to_images(frames) -> torch.Tensor:
    """(B, H, W, 3) floats in [0, 1], numpy or torch -> ComfyUI IMAGE."""
    return torch.as_tensor(frames, dtype=torch.float32)


@torch.inference_mode()
def sample(loaded, texts: list[str], references=None, seed: int = 0, steps: int = 16, cfg: float = 2.0,
           sampler: str = "euler", scheduler: str = "simple", size: int = 128):
    """One picture per text (an instruction when ``references`` (B, H, W, 3) are given, else a prompt), in one
    batch through ComfyUI's sampler as the Kontext workflow samples: reference by VAE Encode + Reference Latent,
    the negative the positive zeroed out, the noise from one seed. Returns (B, size, size, 3) floats in [0, 1]."""
    import comfy.sample

    model, clip, vae = loaded
    positive = encode_text(clip, texts)
    if references is not None:
        reference = vae.encode(to_images(references)[..., :3])
        positive = with_reference(positive, reference)
    negative = zero_out(positive)
    latent = torch.zeros((len(texts), LATENT_CHANNELS, size // 8, size // 8))
    noise = comfy.sample.prepare_noise(latent, seed)
    samples = comfy.sample.sample(model, noise, steps, cfg, sampler, scheduler, positive, negative, latent,
                                  denoise=1.0, seed=seed)
    return vae.decode(samples).float().clamp(0, 1).cpu().numpy()


# --- judging ---------------------------------------------------------------------------------------------------------

SNOWY_FLAKES = 8
"""Judged flakes from which a picture counts as snowy (the world's snow shows about 43 in a frame; a clean scene 0)."""


def edit_scores(references, outputs) -> dict:
    """For "add snow" outputs against their references: the share judged snowy, the share keeping each of colour,
    shape and background, the mean flakes, and how far the object's centre moved (px, median)."""
    import numpy as np
    import world

    before = [world.judge(r) for r in references]
    after = [world.judge(o) for o in outputs]
    kept = {k: float(np.mean([a[k] == b[k] for a, b in zip(after, before)])) for k in ("colour", "shape", "background")}
    moved = [np.hypot(a["centre"][0] - b["centre"][0], a["centre"][1] - b["centre"][1])
             for a, b in zip(after, before) if a["centre"] and b["centre"]]
    return {"snowy": float(np.mean([a["snow_flakes"] >= SNOWY_FLAKES for a in after])),
            "snowy_reference": float(np.mean([b["snow_flakes"] >= SNOWY_FLAKES for b in before])),
            "kept": kept, "all_kept": float(np.mean([all(a[k] == b[k] for k in kept) for a, b in zip(after, before)])),
            "flakes": float(np.mean([a["snow_flakes"] for a in after])),
            "centre_shift_px": float(np.median(moved)) if moved else None, "count": len(outputs)}


def recolour_scores(references, outputs, colours: list[str]) -> dict:
    """For "make it <colour>" outputs: the share drawn in the asked colour, keeping shape and background, and the
    share judged snowy (the control for "add snow": same references, another instruction)."""
    import numpy as np
    import world

    before = [world.judge(r) for r in references]
    after = [world.judge(o) for o in outputs]
    return {"colour": float(np.mean([a["colour"] == c for a, c in zip(after, colours)])),
            "kept": {k: float(np.mean([a[k] == b[k] for a, b in zip(after, before)])) for k in ("shape", "background")},
            "snowy": float(np.mean([a["snow_flakes"] >= SNOWY_FLAKES for a in after])), "count": len(outputs)}


def text_scores(outputs, prompts: list[str]) -> dict:
    """For pictures drawn from prompts alone: the share whose judged colour / shape / background is the prompt's
    (chance: 25% / 33% / 33%), and the share judged snowy."""
    import numpy as np
    import world

    results = [world.judge(o) for o in outputs]
    hits = [world.matches(r, p) for r, p in zip(results, prompts)]
    rates = {k: float(np.mean([h[k] for h in hits])) for k in ("colour", "shape", "background")}
    return {"rates": rates, "snowy": float(np.mean([r["snow_flakes"] >= SNOWY_FLAKES for r in results])),
            "count": len(outputs)}
