"""Train the world's instruction editor (Flux.1 Kontext layout) from scratch, seeded and deterministic, on the CPU.

  1. render scenes (world.random_scene) and, for each, its edits: "add snow" (world.apply_edit: flakes from a seed)
     and "make it <colour>" (the object recoloured to another colour);
  2. train the 16-channel narrow TAESD on 64 px crops of all of them, white pixels weighted up (the flakes are a few
     pixels each: unweighted, the VAE blurs them away);
  3. encode every picture; set the VAE's scale and shift so that Flux's latent format gives the network latents of
     mean 0 and spread 1;
  4. embed every prompt and instruction with the seeded CLIP-L through ComfyUI's own loader and SD3 text encoder,
     exactly as CLIPTextEncode does at sampling time;
  5. train ComfyUI's Flux with its own forward (flow matching, sigmas drawn as ModelSamplingFlux spaces them): half
     of each batch edits (reference latent as Kontext's extra tokens, the instruction as text), half draws from a
     prompt with no reference; 10% of rows with the text zeroed (ConditioningZeroOut's negative, for cfg); EMA;
  6. write the narrow weights (fp16) and, with --eval N, sample through ComfyUI's loaders and sampler and judge.

Full run (the committed weights: 61 minutes on this 2-core machine shared with other jobs, the VAE 31 of them, the
network 30; the same in two invocations, as they were made: `--vae-only --out vae.safetensors`, then
`--vae-from vae.safetensors --eval 24`):
  OMP_NUM_THREADS=1 .host/venv/bin/python bench/world/train_editor.py --eval 24
Judge the committed weights through ComfyUI (24 edits, 24 recolours, 24 prompts):
  OMP_NUM_THREADS=1 .host/venv/bin/python bench/world/train_editor.py --judge-only --eval 24
Short run (what tests/test_world_editor.py checks: seconds):
  .host/venv/bin/python bench/world/train_editor.py --scenes 16 --vae-steps 2 --steps 2 --out /tmp/e.safetensors
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
import editor_model
import train_world
import world
from train_world import encode_all, log, to_tensor

SNOW = "add snow"


# --- data ----------------------------------------------------------------------------------------------------------

def render_dataset(count: int, seed: int) -> dict:
    """Scenes and their edits as uint8 pictures: clean (N, 128, 128, 3), snowy (N, ...), recoloured (N, ...), the
    recolour's target colour names and each scene's prompt."""
    rng = np.random.default_rng(seed)
    scenes = [world.random_scene(rng) for _ in range(count)]
    colours = list(world.COLOURS)
    targets = [colours[(colours.index(s.colour) + 1 + int(rng.integers(len(colours) - 1))) % len(colours)]
               for s in scenes]
    snow_seeds = rng.integers(2**31, size=count)

    def pictures(items):
        return np.stack([(world.render(s) * 255 + 0.5).astype(np.uint8) for s in items])

    from dataclasses import replace

    return {"clean": pictures(scenes),
            "snowy": pictures([world.apply_edit(s, SNOW, int(k)) for s, k in zip(scenes, snow_seeds)]),
            "recoloured": pictures([replace(s, colour=c) for s, c in zip(scenes, targets)]),
            "targets": targets, "prompts": [world.prompt(s) for s in scenes]}


# --- VAE -----------------------------------------------------------------------------------------------------------

def ramped_latent_noise(z: torch.Tensor, step: int, steps: int) -> torch.Tensor:
    """Noise on the latent, ramped in over the first 30% of the steps: the decoder learns to draw from the imperfect
    latents the network will sample."""
    return 0.1 * torch.randn_like(z) * min(1.0, step / (0.3 * steps + 1))


def flake_weight(x: torch.Tensor) -> torch.Tensor:
    """Nine times the loss on white pixels: the flakes (nothing else is that white) survive the VAE."""
    return 1.0 + 8.0 * (x.min(dim=1, keepdim=True).values > 0.9).float()


def train_vae(images: np.ndarray, steps: int, batch: int, crop: int, seed: int, lr: float):
    """The world's VAE loop (train_world.train_vae) on the 16-channel TAESD, weighing the flakes."""
    return train_world.train_vae(images, steps, batch, crop, seed, lr, editor_model.NarrowTAESD16,
                                 ramped_latent_noise, flake_weight)


def set_latent_scale(vae, raw: torch.Tensor) -> torch.Tensor:
    """TAESD's vae_scale / vae_shift such that Flux's latent format ((latent - shift) * scale) hands the network
    latents of mean 0 and spread 1; returns those latents for ``raw`` encoder outputs."""
    fmt = editor_model.latent_format()
    mean, std = raw.mean().item(), raw.std().item()
    scale = fmt.scale_factor * std
    with torch.no_grad():  # rounded as the committed fp16 file holds them
        vae.vae_scale.fill_(torch.tensor(scale).half().float())
        vae.vae_shift.fill_(torch.tensor(fmt.shift_factor - mean / vae.vae_scale.item()).half().float())
    return fmt.process_in(raw / vae.vae_scale + vae.vae_shift)


# --- text ----------------------------------------------------------------------------------------------------------

def embed_texts(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(T, 77, 768) tokens and (T, 768) pooled vectors of each text, from ComfyUI's SD3 text encoder on the seeded
    CLIP-L file (as DualCLIPLoader loads it); the widths past CLIP-L's 768 are zeros there, checked here."""
    clip = editor_model.load_text_encoder()
    tokens, pooled = [], []
    for text in texts:
        cond, pool = clip.encode_from_tokens(clip.tokenize(text), return_pooled=True)
        if cond[..., editor_model.TEXT_WIDTH:].abs().max() > 0 or pool[..., editor_model.POOLED_WIDTH:].abs().max() > 0:
            raise RuntimeError("the SD3 text encoder filled widths past CLIP-L's: the narrow txt_in would not match")
        tokens.append(cond[0, :, :editor_model.TEXT_WIDTH].float())
        pooled.append(pool[0, :editor_model.POOLED_WIDTH].float())
    return torch.stack(tokens), torch.stack(pooled)


# --- the network ---------------------------------------------------------------------------------------------------

def train_dit(data: dict, steps: int, batch: int, seed: int, lr: float, ema_decay: float, edit_share: float,
              snow_share: float, drop_text: float):
    """Flow matching through ComfyUI's Flux forward. data: latents "clean", "snowy", "recoloured" (N, 16, 16, 16),
    text ids "prompt", "recolour" (N,), the snow instruction's id, and the text table "tokens", "pooled"."""
    import comfy.model_sampling

    torch.manual_seed(seed)
    model = editor_model.flux_network(seed=seed)
    editor_model.training_mode(True)
    params = [p for p in model.parameters() if p.requires_grad]
    ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01, betas=(0.9, 0.99))
    sampling = comfy.model_sampling.ModelSamplingFlux()  # Flux's shifted sigmas (shift 1.15), as ComfyUI samples
    generator = torch.Generator().manual_seed(seed)
    edits = max(1, round(batch * edit_share)) if batch > 1 else 1
    try:
        _dit_steps(model, params, opt, ema, sampling, generator, data, steps, batch, edits, snow_share, drop_text, lr,
                   ema_decay)
    finally:
        editor_model.training_mode(False)
    return ema


def _dit_steps(model, params, opt, ema, sampling, generator, data, steps, batch, edits, snow_share, drop_text, lr,
               ema_decay) -> None:
    count = len(data["clean"])
    start, running = time.time(), None
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        losses = []
        opt.zero_grad(set_to_none=True)
        for with_reference, rows in ((True, edits), (False, batch - edits)):
            if rows == 0:
                continue
            picks = torch.randint(count, (rows,), generator=generator)
            if with_reference:
                snow = torch.rand(rows, generator=generator) < snow_share
                x0 = torch.where(snow[:, None, None, None], data["snowy"][picks], data["recoloured"][picks])
                text = torch.where(snow, torch.full_like(picks, data["snow_id"]), data["recolour"][picks])
                refs = [data["clean"][picks]]
            else:
                x0, text, refs = data["clean"][picks], data["prompt"][picks], None
            context, pooled = data["tokens"][text].clone(), data["pooled"][text].clone()
            dropped = torch.rand(rows, generator=generator) < drop_text
            context[dropped], pooled[dropped] = 0.0, 0.0
            sigma = sampling.sigma(torch.rand(rows, generator=generator).clamp(1e-4, 1.0))
            noise = torch.randn(x0.shape, generator=generator)
            s = sigma.view(-1, 1, 1, 1)
            xt = (1 - s) * x0 + s * noise  # CONST.noise_scaling
            with editor_model.keep_saved_tensors():
                pred = model(xt, sigma, context, pooled, torch.ones(rows), ref_latents=refs)
            # CONST.calculate_denoised: x0 = x_t - sigma * out, so out = noise - x0
            loss = (pred - (noise - x0)).pow(2).mean() * rows / batch
            loss.backward()
            losses.append(loss.item())
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for k, v in model.state_dict().items():
                ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
        total = sum(losses)
        running = total if running is None else 0.98 * running + 0.02 * total
        if step % 50 == 0 or step == steps - 1:
            log(f"dit step {step}/{steps} loss {running:.4f} ({time.time() - start:.0f} s)")


# --- evaluation through ComfyUI ------------------------------------------------------------------------------------

def evaluate(weights: Path, count: int, seed: int, steps: int, cfg: float) -> dict:
    """Sample through ComfyUI (the files its loaders take, its sampler) and judge: "add snow" on ``count`` fresh
    scenes, "make it <colour>" on the same, and ``count`` prompts drawn from text alone."""
    loaded = editor_model.load_editor(weights, prefix="eval-")
    rng = np.random.default_rng(seed)
    scenes = [world.random_scene(rng) for _ in range(count)]
    references = np.stack([world.render(s) for s in scenes])
    snowy = editor_model.sample(loaded, [SNOW] * count, references, seed=seed, steps=steps, cfg=cfg)
    colours = list(world.COLOURS)
    targets = [colours[(colours.index(s.colour) + 1 + int(rng.integers(3))) % 4] for s in scenes]
    recoloured = editor_model.sample(loaded, [f"make it {c}" for c in targets], references, seed=seed + 1,
                                     steps=steps, cfg=cfg)
    prompts = [world.prompt(world.random_scene(rng)) for _ in range(count)]
    drawn = editor_model.sample(loaded, prompts, None, seed=seed + 2, steps=steps, cfg=cfg)
    return {"add_snow": editor_model.edit_scores(references, snowy),
            "recolour": editor_model.recolour_scores(references, recoloured, targets),
            "text_only": editor_model.text_scores(drawn, prompts)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=editor_model.WEIGHTS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenes", type=int, default=3000)
    ap.add_argument("--vae-steps", type=int, default=2000)
    ap.add_argument("--vae-batch", type=int, default=16)
    ap.add_argument("--vae-crop", type=int, default=64)
    ap.add_argument("--vae-lr", type=float, default=2e-3)
    ap.add_argument("--steps", type=int, default=2800)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=6e-4)
    ap.add_argument("--ema", type=float, default=0.998)
    ap.add_argument("--edit-share", type=float, default=0.5, help="rows of each batch that edit a reference")
    ap.add_argument("--snow-share", type=float, default=0.7, help="of the edits, the share that add snow")
    ap.add_argument("--drop-text", type=float, default=0.1)
    ap.add_argument("--vae-only", action="store_true", help="stop after the VAE (writes it alone to --out)")
    ap.add_argument("--vae-from", type=Path, help="take the VAE from a --vae-only file instead of training it")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval", type=int, default=0, help="after training: judge N edits and N text-only pictures")
    ap.add_argument("--judge-only", action="store_true", help="no training: judge the weights at --out (--eval N)")
    ap.add_argument("--eval-steps", type=int, default=16)
    ap.add_argument("--eval-cfg", type=float, default=2.0)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    editor_model.world_model.import_comfy()
    if args.judge_only:
        result = evaluate(args.out, args.eval or 24, seed=args.seed + 100, steps=args.eval_steps, cfg=args.eval_cfg)
        log("judge: " + json.dumps(result))
        return 0
    started = time.time()
    log(f"rendering {args.scenes} scenes and their edits")
    pictures = render_dataset(args.scenes, args.seed)
    everything = np.concatenate([pictures["clean"], pictures["snowy"], pictures["recoloured"]])
    if args.vae_from:  # a VAE stage run before (--vae-only): the same VAE this run would train with the same flags
        vae = editor_model.NarrowTAESD16()
        vae.load_state_dict({k: v.float() for k, v in editor_model.load_weights(args.vae_from)[1].items()})
        log(f"VAE from {args.vae_from}")
    else:
        log(f"training the VAE ({args.vae_steps} steps)")
        vae = train_vae(everything, args.vae_steps, args.vae_batch, args.vae_crop, args.seed + 1, args.vae_lr)
        with torch.no_grad():  # the network learns the latents of the fp16 VAE that is committed and loaded
            for p in vae.parameters():
                p.copy_(p.half().float())
    raw = encode_all(vae, everything)
    latents = set_latent_scale(vae, raw).chunk(3)
    vae_state = {k: v.detach() for k, v in vae.state_dict().items()}
    with torch.no_grad():
        check = pictures["snowy"][:64]
        decoded = vae.taesd_decoder(vae.taesd_encoder(to_tensor(check))).clamp(0, 1)
        psnr = -10 * math.log10((decoded - to_tensor(check)).pow(2).mean().item())
        flakes = [world.snow_flake_count(d.permute(1, 2, 0).numpy()) for d in decoded]
        truth = [world.snow_flake_count(c.astype(np.float32) / 255) for c in check]
    log(f"VAE: {psnr:.1f} dB on snowy 128 px pictures; flakes judged after / before it {np.mean(flakes):.1f} / "
        f"{np.mean(truth):.1f}; latent spread {raw.std().item():.3f}, mean {raw.mean().item():.3f}")

    if args.vae_only:
        editor_model.save_weights(args.out, {}, vae_state, {"script": "bench/world/train_editor.py --vae-only",
                                                             "vae_psnr_db": f"{psnr:.2f}"})
        log(f"wrote the VAE alone to {args.out} after {time.time() - started:.0f} s")
        return 0
    texts = sorted(set(pictures["prompts"])) + list(editor_model.INSTRUCTIONS)
    log(f"embedding {len(texts)} texts with the seeded CLIP-L")
    tokens, pooled = embed_texts(texts)
    data = {"clean": latents[0], "snowy": latents[1], "recoloured": latents[2], "tokens": tokens, "pooled": pooled,
            "prompt": torch.tensor([texts.index(p) for p in pictures["prompts"]]),
            "recolour": torch.tensor([texts.index(f"make it {c}") for c in pictures["targets"]]),
            "snow_id": texts.index(SNOW)}

    log(f"training the network ({args.steps} steps of {args.batch})")
    dit_state = train_dit(data, args.steps, args.batch, args.seed + 2, args.lr, args.ema, args.edit_share,
                          args.snow_share, args.drop_text)
    metadata = {"script": "bench/world/train_editor.py",
                "args": json.dumps({k: str(v) for k, v in vars(args).items()}),
                "vae_psnr_db": f"{psnr:.2f}", "train_seconds": f"{time.time() - started:.0f}",
                "dit_config": json.dumps(editor_model.DIT_CONFIG), "clip_seed": str(editor_model.CLIP_SEED),
                "clip_fingerprint": editor_model.clip_fingerprint()}
    editor_model.save_weights(args.out, dit_state, vae_state, metadata)
    log(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) after {time.time() - started:.0f} s")
    if args.eval:
        result = evaluate(args.out, args.eval, seed=args.seed + 100, steps=args.eval_steps, cfg=args.eval_cfg)
        log("judge: " + json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
