"""One video over N machines (ComfyUI-Distributed, MotionLatentSampler's part/parts): the work model, and a measured
run of one server against a master and one worker.

Work model (UNet frame-steps at 50 steps, t0/t1 44/47): one machine makes a video of F frames in 5 + 48 F (frame 0
alone for 5 steps, then every frame for 48); part i of N (a balanced split: sizes differ by one frame at most) makes
frame 0 alone too and holds frame 0 in its joint pass: 5 + 48 (size_i + 1), or 5 + 48 size_0 for the part that has
frame 0. The video is done when the slowest part is: speed-up = (5 + 48 F) / max_i work_i, efficiency = speed-up / N.

--measure: the text-to-video workflow's graph (MotionLatentSampler -> Decode Video Part -> Distributed Collector ->
Join Video Parts) through real ComfyUI servers with the tiny random-weight checkpoint (tests/tiny_models.py): one
server alone (parts 1) against a master and one worker (parts 2, queued through /distributed/queue), each server
pinned to --threads-per-server torch threads (and the one server to the sum; a second one server to one participant's
threads, which isolates the split from what more threads buy). Medians of --runs runs, interleaved.
Usage: python bench/scale_out.py [--plot docs/scale-out.png] [--measure --frames 8 --size 256 --steps 10 --runs 2]
The last line printed is one JSON object. The figure draws the model and the run saved in bench/scale_out_measured.json
(--measure rewrites it) with matplotlib, a bench-only dependency (not the pack's):
  .host/venv/bin/python -m pip install -r bench/requirements.txt
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST = Path(os.environ.get("T2VZ_HOST") or REPO / ".host").resolve()
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

FRAME_COUNTS = (32, 128, 512)
PARTICIPANTS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
TICKS = (1, 2, 4, 8, 16, 32, 64)  # the figure's N ticks (log2 axes)
ALONE, JOINT = 5, 48  # frame-steps of frame 0 alone, and of every frame, at 50 steps (t0 44, t1 47)


def part_work(frames: int, index: int, count: int) -> int:
    """Frame-steps of part ``index`` of ``count`` as the sampler splits the video (motion/parts.py)."""
    from t2vz.motion.parts import video_part

    return ALONE + JOINT * len(video_part(frames, index, count).rows)  # its frames, and frame 0 as the anchor


def speedup(frames: int, count: int) -> float:
    return (ALONE + JOINT * frames) / max(part_work(frames, i, count) for i in range(count))


def model_table() -> list[dict]:
    return [{"frames": f, "participants": n, "speedup": round(speedup(f, n), 2),
             "efficiency": round(speedup(f, n) / n, 3)} for f in FRAME_COUNTS for n in PARTICIPANTS if n <= f]


def plot(path: Path, measured: dict | None = None) -> None:
    """Speed-up and efficiency against participants N (log2 axis): the work model's lines, one per frame count, and
    the measured run (``measured``: --measure's result) as points apart from them, beside the model's value there."""
    from bench import pyplot

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    colours = {32: "tab:red", 128: "tab:blue", 512: "tab:green"}
    for ax, per_participant in ((axes[0], False), (axes[1], True)):
        def shown(x: float, n: int) -> float:  # speed-up, or efficiency on the right
            return x / n if per_participant else x

        for f, colour in colours.items():
            ns = [n for n in PARTICIPANTS if n <= f]
            ax.plot(ns, [shown(speedup(f, n), n) for n in ns], color=colour, linewidth=1.8,
                    label=f"work model, F = {f} frames")
        if measured is not None:
            f, n = measured["frames"], 2
            ax.plot([n], [shown(speedup(f, n), n)], "o", markerfacecolor="none", color="black", markersize=8,
                    label=f"work model, F = {f} (the measured run's)")
            got = shown(measured["speedup_2_same_threads_per_process"], n)
            ax.plot([n], [got], "D", color="tab:orange", markersize=7,
                    label=f"measured, F = {f}: master + 1 worker (CPU)")
            ax.annotate(f"{got:.2f} measured\n{shown(speedup(f, n), n):.2f} model", (n, got),
                        textcoords="offset points", xytext=(10, -6), ha="left", va="top", fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_xticks(TICKS, [str(n) for n in TICKS])
        ax.minorticks_off()
        ax.set_xlabel("participants N (machines or GPUs; log scale)")
        ax.grid(True, alpha=0.3)
    axes[0].plot([1, 64], [1, 64], color="grey", linestyle="--", linewidth=1, label="ideal (speed-up = N)")
    axes[0].set_yscale("log", base=2)
    axes[0].set_yticks(TICKS, [str(n) for n in TICKS])
    axes[0].minorticks_off()
    axes[0].set_ylabel("speed-up (log scale)")
    axes[1].set_ylabel("efficiency (speed-up / N)")
    axes[1].set_ylim(0, 1.05)
    axes[0].legend(fontsize=8, loc="upper left")
    axes[1].legend(fontsize=8, loc="lower left")
    fig.suptitle("One video in N parts: work model (50 steps) and a measured run", fontsize=11)
    note = ("work model: 5 + 48 F UNet frame-steps on one machine, 5 + 48 (frames + 1) per part; done when the slowest "
            "part is (docs/scale-out.md)")
    if measured is not None:
        note += (f"\nmeasured: {measured['frames']} frames, {measured['size']}x{measured['size']}, "
                 f"{measured['steps']} steps, tiny checkpoint; one server against master + worker with the same "
                 f"torch threads per process ({measured['threads']['each_of_master_and_worker']})")
    fig.text(0.5, -0.02, note, ha="center", va="top", fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def measure(args) -> dict:
    """One server (parts 1) against a master + one worker (parts 2), interleaved, medians of ``runs``."""
    import comfy.cli_args

    comfy.cli_args.args.cpu = True
    from distributed import Cluster, distributed_server  # noqa: E402
    from test_distributed import video_prompt  # noqa: E402
    from tiny_models import tiny_checkpoint  # noqa: E402

    models = {"checkpoints": tiny_checkpoint().parent}
    threads = str(args.threads_per_server)
    with tempfile.TemporaryDirectory() as tmp:
        one = distributed_server(HOST, Path(tmp) / "one", models,
                                 {"OMP_NUM_THREADS": str(2 * args.threads_per_server)})
        # one server with one participant's threads: the split itself, apart from what extra threads buy
        one_small = distributed_server(HOST, Path(tmp) / "one-small", models, {"OMP_NUM_THREADS": threads})
        cluster = Cluster(HOST, Path(tmp) / "cluster", models, workers=1, timeout_seconds=600)
        for server in (cluster.master, *cluster.workers.values()):
            server.env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)

        def job(parts, prefix, seed):  # a new seed per run: ComfyUI would otherwise reuse its cached outputs
            prompt = video_prompt(frames=args.frames, parts=parts, steps=args.steps, prefix=prefix)
            for node in prompt.values():
                if node["class_type"] == "EmptyLatentImage":
                    node["inputs"].update(width=args.size, height=args.size)
                if node["class_type"] == "MotionLatentSampler":
                    node["inputs"]["seed"] = seed
            return prompt

        seconds = {"one_server": [], "one_server_same_threads": [], "master_and_worker": []}
        one.start()
        one_small.start()
        cluster.start()
        try:
            one.run(job(1, "warm", 1000), timeout=3600)  # first-call costs (model load) out of the timings
            one_small.run(job(1, "warm", 1000), timeout=3600)
            cluster.master.wait(cluster.queue(job(2, "warm", 1000))["prompt_id"], timeout=3600)
            for run in range(args.runs):
                started = time.perf_counter()
                one.run(job(1, f"one{run}", run), timeout=3600)
                seconds["one_server"].append(time.perf_counter() - started)
                started = time.perf_counter()
                one_small.run(job(1, f"small{run}", run), timeout=3600)
                seconds["one_server_same_threads"].append(time.perf_counter() - started)
                started = time.perf_counter()
                cluster.master.wait(cluster.queue(job(2, f"two{run}", run))["prompt_id"], timeout=3600)
                seconds["master_and_worker"].append(time.perf_counter() - started)
                print(f"[scale-out] run {run}: {json.dumps({k: round(v[-1], 2) for k, v in seconds.items()})}",
                      file=sys.stderr, flush=True)
        finally:
            one.stop()
            one_small.stop()
            cluster.stop()
    per_run = [a / b for a, b in zip(seconds["one_server"], seconds["master_and_worker"])]
    same = [a / b for a, b in zip(seconds["one_server_same_threads"], seconds["master_and_worker"])]
    return {"seconds": {k: statistics.median(v) for k, v in seconds.items()}, "all_seconds": seconds,
            "speedup_2": statistics.median(per_run), "speedup_2_range": [min(per_run), max(per_run)],
            "speedup_2_same_threads_per_process": statistics.median(same),
            "speedup_2_same_threads_range": [min(same), max(same)],
            "model_speedup_2": round(speedup(args.frames, 2), 3), "frames": args.frames, "size": args.size,
            "steps": args.steps, "threads": {"one_server": 2 * args.threads_per_server,
                                             "each_of_master_and_worker": args.threads_per_server},
            "cpu_count": os.cpu_count(), "checkpoint": "tiny random-weight SD1.5 (320-wide UNet, one level)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plot", default=str(REPO / "docs" / "scale-out.png"),
                        help="the figure ('' for none; needs matplotlib: bench/requirements.txt)")
    parser.add_argument("--measured", default=str(REPO / "bench" / "scale_out_measured.json"),
                        help="the measured run drawn on the figure; --measure writes its result there")
    parser.add_argument("--measure", action="store_true", help="also time one server against master + worker")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=256, help="pixels (square)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--threads-per-server", type=int, default=1)
    args = parser.parse_args()
    from bench import bootstrap, pyplot  # the pack as the package t2vz, the host's ComfyUI importable

    if args.plot:
        try:
            pyplot()  # before a long --measure, not after it
        except ImportError as e:
            raise SystemExit(str(e)) from e
    bootstrap("cpu")
    table = model_table()
    print(f"{'frames':>6} {'N':>3} {'speed-up':>9} {'efficiency':>10}")
    for row in table:
        print(f"{row['frames']:>6} {row['participants']:>3} {row['speedup']:>9.2f} {row['efficiency']:>10.3f}")
    result = {"model": table}
    measured = json.loads(Path(args.measured).read_text()) if Path(args.measured).is_file() else None
    if args.measure:
        result["measured"] = measured = measure(args)
        Path(args.measured).write_text(json.dumps(measured, indent=1) + "\n")
        m = result["measured"]
        print(f"one server ({m['threads']['one_server']} threads) {m['seconds']['one_server']:.1f}s, master + worker "
              f"({m['threads']['each_of_master_and_worker']} thread each) {m['seconds']['master_and_worker']:.1f}s: "
              f"speed-up {m['speedup_2']:.2f} (per-run {m['speedup_2_range'][0]:.2f}..{m['speedup_2_range'][1]:.2f}; "
              f"work model {m['model_speedup_2']:.2f}); against one server with one participant's threads "
              f"({m['seconds']['one_server_same_threads']:.1f}s): {m['speedup_2_same_threads_per_process']:.2f}")
    if args.plot:
        plot(Path(args.plot), measured)
        result["plot"] = args.plot
    print(json.dumps(result))


if __name__ == "__main__":
    main()
