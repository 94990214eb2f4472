"""Train the world's text-to-image model (SD1.5 layout) from scratch, seeded and deterministic, on the CPU.

  1. render a dataset of world scenes (world.random_scene; a share with snow, prompted ", with snow");
  2. train the narrow TAESD on 64 px crops (the VAE is fully convolutional; crops cost a quarter);
  3. encode every picture; set the VAE's scale and shift so that the UNet sees latents of unit spread;
  4. embed every prompt (and "") with the seeded random CLIP-L through ComfyUI's own checkpoint loader, exactly as
     CLIPTextEncode will at sampling time;
  5. train the narrow UNet (eps prediction on SD1.5's noise schedule, 10% empty prompts for guidance, min-SNR
     weighting, the object's latent cells weighed 5x, EMA of the weights);
  6. write the narrow weights (fp16) and, with --eval N, sample N pictures per colour through ComfyUI and judge them.

Full run (the committed weights: 2346 s = 39 minutes with one thread on a 2-core machine shared with other jobs):
  OMP_NUM_THREADS=1 .host/venv/bin/python bench/world/train_world.py
Short run (what tests/test_world.py checks: seconds):
  .host/venv/bin/python bench/world/train_world.py --images 48 --vae-steps 3 --unet-steps 3 --out /tmp/w.safetensors
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import world  # noqa: E402
import world_model  # noqa: E402

SNOW_SUFFIX = ", with snow"


def scene_prompt(scene: world.Scene) -> str:
    return world.prompt(scene) + (SNOW_SUFFIX if scene.snow is not None else "")


def training_prompts() -> list[str]:
    base = world.all_prompts()
    return base + [p + SNOW_SUFFIX for p in base]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- data ----------------------------------------------------------------------------------------------------------

def render_dataset(count: int, seed: int, snow_rate: float) -> tuple[np.ndarray, list[world.Scene]]:
    rng = np.random.default_rng(seed)
    scenes = [world.random_scene(rng, snow_rate=snow_rate) for _ in range(count)]
    images = np.stack([(world.render(s) * 255 + 0.5).astype(np.uint8) for s in scenes])
    return images, scenes


def to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255


# --- VAE -----------------------------------------------------------------------------------------------------------

def relative_latent_noise(z: torch.Tensor, step: int, steps: int) -> torch.Tensor:
    """Noise on the latent, relative to its spread (absolute noise would drown the small latents of a fresh encoder
    and teach the decoder to ignore them): the decoder learns to draw from imperfect latents, as the UNet will sample
    them."""
    return 0.1 * z.detach().std() * torch.randn_like(z)


def train_vae(images: np.ndarray, steps: int, batch: int, crop: int, seed: int, lr: float, make_vae=None,
              latent_noise=relative_latent_noise, pixel_weight=None):
    """A TAESD-layout VAE (``make_vae()``, built after seeding: world_model.NarrowTAESD by default) trained on
    random ``crop``-px crops of ``images`` (on the latent grid) with L2 + L1/2 reconstruction, the decoder fed
    ``z + latent_noise(z, step, steps)``; ``pixel_weight(x)``, where given, weighs each pixel's loss."""
    torch.manual_seed(seed)
    vae = (make_vae or world_model.NarrowTAESD)()
    params = [p for p in vae.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    rng = np.random.default_rng(seed)
    size = images.shape[1]
    start = time.time()
    for step in range(steps):
        for group in opt.param_groups:  # warm-up, then cosine to 5%
            group["lr"] = lr * min(1.0, (step + 1) / 50) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        picks = rng.integers(len(images), size=batch)
        corners = rng.integers((size - crop) // 8 + 1, size=(batch, 2)) * 8  # on the latent grid
        crops = np.stack([images[i, y:y + crop, x:x + crop] for i, (y, x) in zip(picks, corners)])
        x = to_tensor(crops)
        z = vae.taesd_encoder(x)
        out = vae.taesd_decoder(z + latent_noise(z, step, steps))
        squared, absolute = (out - x).pow(2), (out - x).abs()
        if pixel_weight is not None:
            weight = pixel_weight(x)
            squared, absolute = squared * weight, absolute * weight
        loss = squared.mean() + 0.5 * absolute.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            with torch.no_grad():
                psnr = -10 * math.log10(max((vae.taesd_decoder(z) - x).pow(2).mean().item(), 1e-10))
            log(f"vae step {step}/{steps} loss {loss.item():.4f} psnr {psnr:.1f} dB ({time.time() - start:.0f} s)")
    return vae.eval()


@torch.no_grad()
def encode_all(vae, images: np.ndarray, chunk: int = 64) -> torch.Tensor:
    return torch.cat([vae.taesd_encoder(to_tensor(images[i:i + chunk])) for i in range(0, len(images), chunk)])


def set_latent_scale(vae: world_model.NarrowTAESD, raw: torch.Tensor) -> torch.Tensor:
    """Choose TAESD's vae_scale / vae_shift so that ComfyUI's SD1.5 latents (0.18215 x the VAE's) have mean 0 and
    spread 1; returns the UNet's training latents."""
    mean, std = raw.mean().item(), raw.std().item()
    with torch.no_grad():
        vae.vae_scale.fill_(world_model.LATENT_SCALE * std)
        vae.vae_shift.fill_(-mean / (world_model.LATENT_SCALE * std))
    return (raw - mean) / std


# --- text ----------------------------------------------------------------------------------------------------------

def embed_prompts(prompts: list[str], unet_state: dict, vae_state: dict) -> torch.Tensor:
    """(P, 77, 768) embeddings from the CLIP of the assembled checkpoint, loaded by ComfyUI's loader."""
    import comfy.sd  # noqa: PLC0415

    state = world_model.checkpoint_state(unet_state, vae_state)
    _model, clip, _vae, _ = comfy.sd.load_state_dict_guess_config(state, output_vae=False, output_model=False)
    rows = []
    for text in prompts:
        cond, _pooled = clip.encode_from_tokens(clip.tokenize(text), return_pooled=True)
        rows.append(cond[0].float())
    return torch.stack(rows)


# --- UNet ----------------------------------------------------------------------------------------------------------

def sd15_alphas_cumprod() -> torch.Tensor:
    """SD1.5's schedule: scaled linear betas 0.00085 .. 0.012 over 1000 steps (ComfyUI's model_sampling)."""
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, 0).float()


def object_weights(scenes: list[world.Scene], latent_size: int = world.SIZE // 8) -> torch.Tensor:
    """(N, 1, h, w) share of each latent cell that the object covers (the scene's own shape, no judge needed)."""
    v, u = np.mgrid[0:world.SIZE, 0:world.SIZE].astype(np.float64) + 0.5
    cover = np.stack([np.clip(0.5 - world.shape_sdf(s.shape, u - s.x, v - s.y, s.radius), 0, 1) for s in scenes])
    cell = world.SIZE // latent_size
    cover = cover.reshape(len(scenes), latent_size, cell, latent_size, cell).mean(axis=(2, 4))
    return torch.from_numpy(cover).float()[:, None]


def train_unet(latents: torch.Tensor, prompt_ids: torch.Tensor, embeddings: torch.Tensor, empty_id: int,
               steps: int, batch: int, seed: int, lr: float, ema_decay: float, object_cover: torch.Tensor | None = None,
               object_weight: float = 0.0):
    torch.manual_seed(seed)
    unet = world_model.narrow_unet(seed)
    ema = {k: v.detach().clone() for k, v in unet.state_dict().items()}
    params = list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    alphas = sd15_alphas_cumprod()
    generator = torch.Generator().manual_seed(seed)
    start, running = time.time(), None
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        picks = torch.randint(len(latents), (batch,), generator=generator)
        x0 = latents[picks]
        ids = prompt_ids[picks].clone()
        ids[torch.rand(batch, generator=generator) < 0.1] = empty_id  # unconditional rows for guidance
        t = torch.randint(1000, (batch,), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        a = alphas[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        pred = unet(xt, t.float(), context=embeddings[ids])
        snr = alphas[t] / (1 - alphas[t])
        weight = torch.clamp(snr, max=5.0) / snr  # min-SNR-5: the noisy steps, where the layout is decided, count
        error = (pred - noise).pow(2)
        if object_weight:  # the object is a tenth of the picture: weigh its cells up so the prompt's words count
            cells = 1 + object_weight * object_cover[picks]
            error = error * cells / cells.mean(dim=(1, 2, 3), keepdim=True)
        loss = (error.mean(dim=(1, 2, 3)) * weight).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for k, v in unet.state_dict().items():
                ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if step % 100 == 0 or step == steps - 1:
            log(f"unet step {step}/{steps} loss {running:.4f} ({time.time() - start:.0f} s)")
    return ema


# --- evaluation through ComfyUI ------------------------------------------------------------------------------------

def evaluate(weights: Path, per_colour: int, seed: int, steps: int, cfg: float) -> dict:
    """Sample through ComfyUI (the assembled checkpoint, its loader, its sampler) and judge the pictures."""
    checkpoint = world_model.world_checkpoint(weights, name="t2vz-world-eval.safetensors")
    loaded = world_model.load_world(checkpoint)
    rng = np.random.default_rng(seed)
    prompts = [world.prompt(world.Scene(str(rng.choice(world.SHAPES)), colour, str(rng.choice(list(world.BACKGROUNDS))),
                                        0, 0)) for colour in world.COLOURS for _ in range(per_colour)]
    images = world_model.draw(loaded, prompts, seed=seed, steps=steps, cfg=cfg)
    return world_model.score(images, prompts)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=world_model.WEIGHTS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--images", type=int, default=4000)
    ap.add_argument("--snow-rate", type=float, default=0.2)
    ap.add_argument("--vae-steps", type=int, default=1500)
    ap.add_argument("--vae-batch", type=int, default=16)
    ap.add_argument("--vae-crop", type=int, default=64)
    ap.add_argument("--vae-lr", type=float, default=2e-3)
    ap.add_argument("--unet-steps", type=int, default=1500)
    ap.add_argument("--unet-batch", type=int, default=32)
    ap.add_argument("--unet-lr", type=float, default=1e-3)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--object-weight", type=float, default=4.0, help="extra loss weight of the object's latent cells")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval", type=int, default=0, help="after training: sample N pictures per colour and judge")
    ap.add_argument("--eval-steps", type=int, default=12)
    ap.add_argument("--eval-cfg", type=float, default=4.0)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    world_model.import_comfy()
    started = time.time()
    log(f"rendering {args.images} scenes")
    images, scenes = render_dataset(args.images, args.seed, args.snow_rate)
    log(f"training the VAE ({args.vae_steps} steps)")
    vae = train_vae(images, args.vae_steps, args.vae_batch, args.vae_crop, args.seed + 1, args.vae_lr)
    raw = encode_all(vae, images)
    latents = set_latent_scale(vae, raw)
    vae_state = {k: v.detach() for k, v in vae.state_dict().items()}
    with torch.no_grad():
        decoded = torch.cat([vae.decode(raw[i:i + 64] / vae.vae_scale + vae.vae_shift) for i in range(0, 256, 64)])
        psnr = -10 * math.log10((decoded.clamp(0, 1) - to_tensor(images[:256])).pow(2).mean().item())
    log(f"VAE: {psnr:.1f} dB on 128 px pictures; latent spread {raw.std().item():.3f}, mean {raw.mean().item():.3f}")

    used = {scene_prompt(s) for s in scenes}
    prompts = [p for p in training_prompts() if p in used] + [""]  # CLIP runs in fp16 on the CPU: only what is used
    log(f"embedding {len(prompts)} prompts with the seeded CLIP-L")
    placeholder_unet = {k: v.detach() for k, v in world_model.narrow_unet(args.seed).state_dict().items()}
    embeddings = embed_prompts(prompts, placeholder_unet, vae_state)
    prompt_ids = torch.tensor([prompts.index(scene_prompt(s)) for s in scenes])

    log(f"training the UNet ({args.unet_steps} steps of {args.unet_batch})")
    unet_state = train_unet(latents, prompt_ids, embeddings, len(prompts) - 1, args.unet_steps, args.unet_batch,
                            args.seed + 2, args.unet_lr, args.ema, object_weights(scenes), args.object_weight)
    metadata = {"script": "bench/world/train_world.py", "args": json.dumps({k: str(v) for k, v in vars(args).items()}),
                "vae_psnr_db": f"{psnr:.2f}", "train_seconds": f"{time.time() - started:.0f}",
                "unet_config": json.dumps(world_model.UNET_NARROW), "clip_seed": str(world_model.CLIP_SEED)}
    world_model.save_weights(args.out, unet_state, vae_state, metadata)
    log(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) after {time.time() - started:.0f} s")
    if args.eval:
        result = evaluate(args.out, args.eval, seed=args.seed + 100, steps=args.eval_steps, cfg=args.eval_cfg)
        log("judge: " + json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
