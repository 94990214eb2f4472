"""Judge the world's text-to-image model through ComfyUI: sample pictures from world prompts and read them back.

The committed weights are assembled into the SD1.5 checkpoint (world_model.world_checkpoint), loaded by ComfyUI's
checkpoint loader and sampled with its sampler (one batch per seed, the empty prompt as negative); the judge
(world.judge) reads colour, shape and background from each picture. Chance: colour 1/4, shape 1/3, background 1/3.

  .host/venv/bin/python bench/world/judge_world.py --seeds 0,1,2,3 --count 12 [--grid /tmp/world.png]
The last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import world  # noqa: E402
import world_model  # noqa: E402

ATTRIBUTES = ("colour", "shape", "background")


def world_prompts(count: int, seed: int) -> list[str]:
    """`count` prompts, the colours in turn (balanced), shape and background drawn from the seed."""
    rng = np.random.default_rng(seed)
    colours = list(world.COLOURS)
    return [world.prompt(world.Scene(world.SHAPES[rng.integers(3)], colours[i % len(colours)],
                                     list(world.BACKGROUNDS)[rng.integers(3)], 0.0, 0.0)) for i in range(count)]


def save_grid(images: np.ndarray, path: Path, columns: int = 6) -> None:
    import cv2  # noqa: PLC0415

    rows = [np.concatenate(list(images[i:i + columns]), axis=1) for i in range(0, len(images), columns)]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    cv2.imwrite(str(path), (np.concatenate(rows)[..., ::-1] * 255 + 0.5).astype(np.uint8))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=world_model.WEIGHTS)
    ap.add_argument("--seeds", default="0,1,2,3")
    ap.add_argument("--count", type=int, default=12, help="pictures per seed")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--cfg", type=float, default=4.0)
    ap.add_argument("--sampler", default="euler")
    ap.add_argument("--scheduler", default="normal")
    ap.add_argument("--grid", type=Path, help="write the pictures of the first seed here (PNG)")
    args = ap.parse_args(argv)

    loaded = world_model.load_world(world_model.world_checkpoint(args.weights))
    per_seed = []
    for n, seed in enumerate(int(s) for s in args.seeds.split(",")):
        prompts = world_prompts(args.count, seed)
        started = time.time()
        images = world_model.draw(loaded, prompts, seed=seed, steps=args.steps, cfg=args.cfg, sampler=args.sampler,
                                  scheduler=args.scheduler)
        result = world_model.score(images, prompts)
        per_seed.append(result["rates"])
        print(f"seed {seed}: " + "  ".join(f"{k} {result['rates'][k]:.2f}" for k in ATTRIBUTES)
              + f"  ({time.time() - started:.0f} s)", flush=True)
        if args.grid is not None and n == 0:
            save_grid(images, args.grid)
    summary = {k: {"mean": float(np.mean([r[k] for r in per_seed])), "min": float(min(r[k] for r in per_seed)),
                   "max": float(max(r[k] for r in per_seed))} for k in ATTRIBUTES}
    print("mean over seeds: " + "  ".join(f"{k} {summary[k]['mean']:.2f} [{summary[k]['min']:.2f}, "
                                          f"{summary[k]['max']:.2f}]" for k in ATTRIBUTES))
    print(json.dumps({"seeds": args.seeds, "count": args.count, "steps": args.steps, "cfg": args.cfg,
                      "sampler": args.sampler, "scheduler": args.scheduler, "summary": summary,
                      "per_seed": per_seed}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
