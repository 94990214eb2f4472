"""How long the Motion Preview node takes (the warp of frame 0 for every frame and the animation it shows on the
node), for a keyframed camera path at a few video sizes. No model: this is the whole cost of a preview.
Usage: python bench/preview_speed.py [--runs 3]   (the last line printed is one JSON object)
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import bootstrap  # noqa: E402

SIZES = ((256, 16), (512, 32), (768, 48))  # (square size in pixels, frames)
PATH = {"pan_x": "0:(0), 8:(0), 20:(120)", "zoom": "0:(1), 20:(1), 31:(1.4)", "interpolation": "ease_in_out"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    bootstrap("cpu")
    import folder_paths
    import torch

    from t2vz.motion.camera import camera_path
    from t2vz.nodes.camera import MotionPreview

    folder_paths.set_temp_directory(tempfile.mkdtemp())
    path = camera_path(**PATH)
    result = {"threads": torch.get_num_threads(), "seconds": {}}
    for size, frames in SIZES:
        latent = {"samples": torch.zeros(frames, 4, size // 8, size // 8)}
        MotionPreview.execute(latent, 0.0, 0.0, 1.0, 0.0, camera_path=path)  # warm-up
        seconds = []
        for _ in range(args.runs):
            started = time.perf_counter()
            MotionPreview.execute(latent, 0.0, 0.0, 1.0, 0.0, camera_path=path)
            seconds.append(time.perf_counter() - started)
        result["seconds"][f"{size}x{size}x{frames}"] = statistics.median(seconds)
        print(f"{size}x{size}, {frames} frames: {statistics.median(seconds) * 1000:.0f} ms (median of {args.runs})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
