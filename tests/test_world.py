"""The small trained world (bench/world): its judge reads its scenes exactly, the narrow weights equal their padded
SD1.5 checkpoint, the training script still runs (a short run), and the committed model, loaded by ComfyUI's own
checkpoint loader and sampled with its sampler, draws what the prompt says far above chance."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

WORLD = Path(__file__).resolve().parents[1] / "bench" / "world"
sys.path.insert(0, str(WORLD))

import world  # noqa: E402
import world_model  # noqa: E402


def test_judge_reads_rendered_scenes_exactly():
    rng = np.random.default_rng(5)
    for _ in range(40):
        scene = world.random_scene(rng, snow_rate=0.5)
        result = world.judge(world.render(scene))
        assert (result["colour"], result["shape"], result["background"]) == (scene.colour, scene.shape,
                                                                            scene.background), (scene, result)
        x, y = result["centre"]
        assert abs(x - scene.x) < 1.0 and abs(y - scene.y) < 1.0, (scene, result)
        assert not result["clipped"]
        assert (result["snow_flakes"] > 15) == (scene.snow is not None), (scene, result)


def test_a_pan_moves_the_object_against_the_camera_and_keeps_it():
    scene = world.Scene("triangle", "blue", "checkered", 64.0, 60.0, 20.0)
    frames, cameras = world.pan_clip(scene, 5, (4.0, -2.0))
    judged = [world.judge(f) for f in frames]
    assert {(j["colour"], j["shape"], j["background"]) for j in judged} == {("blue", "triangle", "checkered")}
    centres = np.array([j["centre"] for j in judged])
    np.testing.assert_allclose(centres - centres[0], -(cameras - cameras[0]), atol=0.05)
    # the whole picture moves with the camera: frame 2 (camera at (8, -4)) is frame 0 shifted
    np.testing.assert_allclose(frames[2][4:, :-8], frames[0][:-4, 8:], atol=1e-6)


def test_snow_is_the_seed_s_choice_and_leaves_the_scene():
    scene = world.Scene("circle", "red", "dotted", 60.0, 70.0, 20.0)
    one, two = (world.render(world.apply_edit(scene, "add snow", seed)) for seed in (1, 2))
    assert np.abs(one - two).max() > 0.5  # the flakes fall elsewhere
    for frame in (one, two):
        result = world.judge(frame)
        assert (result["colour"], result["shape"], result["background"]) == ("red", "circle", "dotted")
        assert result["snow_flakes"] > 15
    with pytest.raises(ValueError, match="add snow"):
        world.apply_edit(scene, "add rain", 0)


def test_judge_rejects_what_is_not_one_frame():
    with pytest.raises(ValueError, match="one frame"):
        world.judge(np.zeros((2, 8, 8, 3)))
    empty = world.judge(np.full((64, 64, 3), 0.5, np.float32))
    assert empty["colour"] is None and empty["centre"] is None


def test_narrow_unet_equals_its_padded_sd15_unet():
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    narrow = world_model.narrow_unet(seed=3)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # every weight nonzero (the zero-initialised output layers too)
        for p in narrow.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
    state = {k: v.half() for k, v in narrow.state_dict().items()}
    narrow.load_state_dict({k: v.float() for k, v in state.items()})
    wide = UNetModel(**world_model.UNET_FULL, operations=comfy.ops.disable_weight_init)
    wide.load_state_dict({k: v.float() for k, v in world_model.pad_unet_state(state).items()})
    x = torch.randn((2, 4, 16, 16), generator=generator)
    context = torch.randn((2, 77, 768), generator=generator)
    t = torch.tensor([20.0, 900.0])
    with torch.no_grad():
        a, b = narrow(x, t, context=context), wide(x, t, context=context)
    assert (a - b).abs().max() < 1e-4 * b.abs().max()


def test_narrow_taesd_equals_its_padded_taesd():
    import comfy.taesd.taesd

    narrow = world_model.NarrowTAESD()
    state = {k: v.half() for k, v in narrow.state_dict().items()}
    narrow.load_state_dict({k: v.float() for k, v in state.items()})
    wide = comfy.taesd.taesd.TAESD()
    wide.load_state_dict({k: v.float() for k, v in world_model.pad_taesd_state(state).items()})
    image = torch.rand((1, 3, 64, 64), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        latent = narrow.taesd_encoder(image)
        torch.testing.assert_close(wide.taesd_encoder(image), latent, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(wide.taesd_decoder(latent), narrow.taesd_decoder(latent), atol=1e-5, rtol=1e-5)


def test_short_training_run_writes_the_committed_layout(tmp_path):
    import train_world

    out = tmp_path / "world.safetensors"
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    try:
        assert train_world.main(["--images", "6", "--vae-steps", "2", "--vae-batch", "2", "--unet-steps", "2",
                                 "--unet-batch", "4", "--out", str(out), "--threads", str(threads)]) == 0
    finally:  # the script seeds torch and sets its threads: later tests get theirs back
        torch.set_num_threads(threads)
        torch.set_rng_state(rng)
    unet, vae, metadata = world_model.load_weights(out)
    committed_unet, committed_vae, _ = world_model.load_weights()
    assert {k: v.shape for k, v in unet.items()} == {k: v.shape for k, v in committed_unet.items()}
    assert {k: v.shape for k, v in vae.items()} == {k: v.shape for k, v in committed_vae.items()}
    assert metadata["script"] == "bench/world/train_world.py"


def test_committed_weights_are_small():
    assert world_model.WEIGHTS.stat().st_size < 25e6


@pytest.fixture(scope="module")
def world_sd15():
    """The committed world model through ComfyUI's real checkpoint loader (CheckpointLoaderSimple's call)."""
    import comfy.sd

    path = world_model.world_checkpoint()
    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(str(path), output_vae=True, output_clip=True)
    return model, clip, vae


DRAW_COUNT = 12
"""Pictures judged: every colour x shape pairing once, each colour three times, each background four times."""
DRAW_STEPS = 8  # euler, cfg 4: 12 pictures in about 20 s on one core (10 steps judge no better)


def test_world_model_loads_as_sd15_and_draws_the_prompt(world_sd15):
    model, _clip, _vae = world_sd15
    assert type(model.model.model_config).__name__ == "SD15"
    prompts = [world.prompt(world.Scene(world.SHAPES[i % 3], list(world.COLOURS)[i % 4],
                                        list(world.BACKGROUNDS)[(i // 4) % 3], 0, 0)) for i in range(DRAW_COUNT)]
    images = world_model.draw(world_sd15, prompts, seed=7, steps=DRAW_STEPS, cfg=4.0)
    result = world_model.score(images, prompts)
    rates = result["rates"]
    print("world judge:", rates)
    # Chance: colour 3/12, background 4/12, shape 4/12. Over 4 x 12 pictures (bench/world/judge_world.py, 10 steps)
    # the model draws the colour 98%, the background 88%, the shape 67%; here (both hosts) 11/12, 11/12, 6/12.
    # Colour and background are asserted at 8/12, 5 and 4 pictures over chance; shape is only reported (12
    # pictures cannot tell 67% from chance reliably).
    assert rates["colour"] >= 8 / 12, result
    assert rates["background"] >= 8 / 12, result
