"""Motion mode on flow (SD3, Flux, AuraFlow) and continuous EDM / v models: the re-noise is each model's own forward
process, frame 0 is the image plain sampling makes (also at 4 steps, where the schedule starts at pure noise), the
warp/joint steps follow motion/schedule.py's signal-to-noise rule, parts and chunks stay exact. The tiny SD1.5 UNet
is turned into such models with ComfyUI's own ModelSampling* nodes (in-process); real ComfyUI sampling throughout."""
from __future__ import annotations

import math

import pytest
import torch

from t2vz.motion import sample_video
from t2vz.motion.parts import video_part
from t2vz.motion.renoise import (KIND_CONTINUOUS, KIND_DISCRETE, KIND_FLOW, forward_coefficient, noise_level,
                                 renoise_forward, sampling_kind)
from t2vz.motion.sampler import motion_phases
from t2vz.motion.schedule import phases_by_noise_level, reference_noise_level, reference_timestep
from checks import assert_close_rel
from tiny_models import conditioning

POS, NEG = conditioning(1), conditioning(2)
SEED = 7


def advanced():
    """ComfyUI's comfy_extras.nodes_model_advanced. It imports ComfyUI's top-level ``nodes`` module, which
    ``python -m pytest`` run from the repository would resolve to this pack's nodes/ folder: load ComfyUI's first."""
    import importlib.util
    import sys
    from pathlib import Path

    import comfy.model_sampling

    comfy_nodes = Path(comfy.model_sampling.__file__).resolve().parents[1] / "nodes.py"
    loaded = sys.modules.get("nodes")
    if loaded is None or Path(getattr(loaded, "__file__", "") or "").resolve() != comfy_nodes:
        spec = importlib.util.spec_from_file_location("nodes", comfy_nodes)
        module = importlib.util.module_from_spec(spec)
        sys.modules["nodes"] = module
        spec.loader.exec_module(module)
    from comfy_extras import nodes_model_advanced

    return nodes_model_advanced


def sd3(model, shift=3.0):
    return advanced().ModelSamplingSD3().patch(model, shift=shift)[0]


def flux(model):
    return advanced().ModelSamplingFlux().patch(model, max_shift=1.15, base_shift=0.5, width=1024, height=1024)[0]


def edm(model, sampling="edm"):
    return advanced().ModelSamplingContinuousEDM().patch(model, sampling, sigma_max=120.0, sigma_min=0.002)[0]


MODELS = {"sd3": sd3, "schnell": lambda m: sd3(m, shift=1.0), "flux": flux, "edm": edm,
          "edm-v": lambda m: edm(m, "v_prediction")}


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request, tiny):
    return MODELS[request.param](tiny)


def schedule(model, steps, sampler="euler", scheduler="simple"):
    import comfy.samplers

    return comfy.samplers.KSampler(model, steps=steps, device="cpu", sampler=sampler,
                                   scheduler=scheduler).sigmas.float().cpu()


def video(model, frames=4, steps=8, sampler="euler", scheduler="simple", h=8, w=8, **kw):
    return sample_video(model, POS, NEG, torch.zeros((frames, 4, h, w)), kw.pop("seed", SEED), steps,
                        kw.pop("cfg", 5.0), sampler, scheduler, **kw)


def plain(model, steps, sampler="euler", scheduler="simple", h=8, w=8):
    """KSampler's image of the seed: the noise frame 0 gets in motion mode (the first draw of the seed)."""
    import comfy.sample

    latent = torch.zeros((1, 4, h, w))
    noise = torch.randn(latent.shape, generator=torch.Generator().manual_seed(SEED))
    return comfy.sample.sample(model, noise, steps, 5.0, sampler, scheduler, POS, NEG, latent, disable_pbar=True,
                               seed=SEED)


def model_space(model, sigma, noise, x0):
    """x0 noised to sigma (ComfyUI's noise_scaling), read in the space between sampler runs."""
    ms = model.get_model_object("model_sampling")
    s = torch.tensor(float(sigma))
    return ms.inverse_noise_scaling(s, ms.noise_scaling(s, noise, x0))


# --- the re-noise is the model's forward process --------------------------------------------------------------------

@pytest.mark.parametrize("name,kind", [("sd3", KIND_FLOW), ("schnell", KIND_FLOW), ("flux", KIND_FLOW),
                                       ("edm", KIND_CONTINUOUS), ("edm-v", KIND_CONTINUOUS)])
def test_kinds(tiny, name, kind):
    assert sampling_kind(MODELS[name](tiny).get_model_object("model_sampling")) == kind
    assert sampling_kind(tiny.get_model_object("model_sampling")) == KIND_DISCRETE


def test_renoise_is_exactly_the_forward_process(model):
    """Re-noising x0 noised to s0 (noise n0) up to s1 with eps equals x0 noised straight to s1 with the combined
    noise (lam0 n0 + sqrt(lam1^2 - lam0^2) eps) / lam1, a standard normal: the forward process, in closed form."""
    ms = model.get_model_object("model_sampling")
    sigmas = schedule(model, 10)
    g = torch.Generator().manual_seed(0)
    x0, n0, eps = (torch.randn((2, 4, 8, 8), generator=g, dtype=torch.float64) for _ in range(3))
    for i0, i1 in [(5, 2), (4, 1), (8, 3), (9, 1)]:
        s0, s1 = float(sigmas[i0]), float(sigmas[i1])
        lam0, lam1 = noise_level(ms, s0), noise_level(ms, s1)
        combined = (lam0 * n0 + math.sqrt(lam1 ** 2 - lam0 ** 2) * eps) / lam1
        got = renoise_forward(model_space(model, s0, n0, x0), eps, ms, s0, s1)
        assert_close_rel(got, model_space(model, s1, combined, x0), rel=1e-6)


def test_flow_renoise_in_x_is_a_x_plus_sqrt_s1sq_minus_a_sq_s0sq():
    """The flow formula as measured on ComfyUI: x_s1 = a x_s0 + sqrt(s1^2 - a^2 s0^2) eps, a = (1-s1)/(1-s0)."""
    import comfy.model_sampling as cms

    class Flow(cms.ModelSamplingDiscreteFlow, cms.CONST):
        pass

    ms = Flow()
    ms.set_parameters(shift=3.0)
    g = torch.Generator().manual_seed(1)
    x_s0, eps = (torch.randn((3, 4, 8, 8), generator=g, dtype=torch.float64) for _ in range(2))
    s0, s1 = 0.6, 0.9
    a = (1 - s1) / (1 - s0)
    want = a * x_s0 + math.sqrt(s1 ** 2 - a ** 2 * s0 ** 2) * eps
    got = renoise_forward(x_s0 / (1 - s0), eps, ms, s0, s1) * (1 - s1)  # through the space between runs
    assert_close_rel(got, want, rel=1e-12)
    assert forward_coefficient(ms, s0, s1) == pytest.approx(math.sqrt((s1 / (1 - s1)) ** 2 - (s0 / (1 - s0)) ** 2))


def test_renoise_adds_the_forward_processs_variance(model):
    """Statistically: over many draws the added noise has variance lam1^2 - lam0^2 (flow: in x, s1^2 - a^2 s0^2;
    EDM: sigma1^2 - sigma0^2)."""
    ms = model.get_model_object("model_sampling")
    sigmas = schedule(model, 10)
    s0, s1 = float(sigmas[5]), float(sigmas[2])
    y0 = torch.full((200_000,), 0.3, dtype=torch.float64)
    eps = torch.randn(y0.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    added = renoise_forward(y0, eps, ms, s0, s1) - y0
    want = noise_level(ms, s1) ** 2 - noise_level(ms, s0) ** 2
    assert float(added.var()) == pytest.approx(want, rel=0.01)
    assert abs(float(added.mean())) < 0.01 * math.sqrt(want)
    # and the total after re-noising is the variance of plain noising to s1, from a latent noised to s0
    n0 = torch.randn(y0.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    total = renoise_forward(y0 + noise_level(ms, s0) * n0, eps, ms, s0, s1) - y0
    assert float(total.var()) == pytest.approx(noise_level(ms, s1) ** 2, rel=0.01)


@pytest.mark.parametrize("name", ["flux", "schnell", "sd3"])  # only flow models reach pure noise at sigma_max
def test_flow_has_no_finite_level_at_sigma_1_and_the_renoise_refuses_it(tiny, name):
    ms = MODELS[name](tiny).get_model_object("model_sampling")
    assert sampling_kind(ms) == KIND_FLOW
    assert noise_level(ms, 1.0) == math.inf
    with pytest.raises(ValueError, match="pure noise"):
        forward_coefficient(ms, 0.5, 1.0)


# --- frame 0 is plain sampling's image -------------------------------------------------------------------------------

@pytest.mark.parametrize("steps", [4, 8, 20])
def test_frame_zero_is_the_image_plain_sampling_makes(model, steps):
    out = video(model, frames=3, steps=steps)
    assert torch.isfinite(out).all()
    assert_close_rel(out[0], plain(model, steps)[0])


@pytest.mark.parametrize("sampler,scheduler", [("euler_ancestral", "normal"), ("dpmpp_2m", "karras"),
                                               ("uni_pc", "beta")])
def test_other_samplers_run(model, sampler, scheduler):
    out = video(model, frames=3, steps=8, sampler=sampler, scheduler=scheduler)
    assert torch.isfinite(out).all() and (out[1] - out[0]).abs().max() > 1e-3


def test_schnell_like_four_steps_move_the_frames(tiny):
    """Flux schnell's schedule (shift 1, 4 steps: s = 1, .75, .5, .25): joint start 1, warp 2 (step 0 is pure noise,
    which no re-noise can reach with anything of the warp left); finite, and the later frames differ from frame 0 and
    from each other."""
    model = sd3(tiny, shift=1.0)
    sigmas = schedule(model, 4)
    assert [round(float(s), 4) for s in sigmas] == [1.0, 0.75, 0.5, 0.25, 0.0]
    _, plan = motion_phases(model.get_model_object("model_sampling"), sigmas, 4, 44, 47)
    assert (plan.joint_start, plan.warp_at) == (1, 2)
    out = video(model, frames=4, steps=4)
    assert torch.isfinite(out).all()
    for k in (1, 2, 3):
        assert (out[k] - out[0]).abs().max() > 1e-2
    assert (out[3] - out[1]).abs().max() > 1e-2


def test_the_warp_reaches_the_later_frames(tiny):
    """With no motion, the re-noised frames start from frame 0's own latent at the warp step: they stay closer to
    frame 0 than frames of independent noise do (the re-noise keeps the warped signal; measured ratio 0.52 on the
    random tiny model, whose denoising is chaotic)."""
    from t2vz.motion import Motion
    from t2vz.motion.camera import ConstantMotion

    model = sd3(tiny)
    still = Motion(camera=ConstantMotion(motion_x=0.0, motion_y=0.0))
    motion = video(model, frames=3, steps=12, motion=still)
    independent = video(model, frames=3, steps=12, noise_mode="independent")
    assert (motion[1] - motion[0]).abs().mean() < 0.75 * (independent[1] - independent[0]).abs().mean()


@pytest.mark.parametrize("steps", [2, 1])
def test_too_few_steps_on_flow_name_steps_and_the_fix(tiny, steps):
    with pytest.raises(ValueError, match=r"steps=\d+: motion mode on this model needs at least 3 steps") as err:
        video(sd3(tiny), frames=2, steps=steps)
    assert "Fix: set steps to 3 or more" in str(err.value)


@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_image_to_video_on_flow(tiny, strength):
    """first_frame on a flow model: held to the end at strength 1; at 0.5 released half-way (from the image noised
    to that step, handed to ComfyUI as (image, noise))."""
    model = sd3(tiny)
    image = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(5))
    out = video(model, frames=3, steps=6, first_frame=image, first_frame_strength=strength)
    assert torch.isfinite(out).all()
    if strength == 1.0:
        assert_close_rel(out[0], image[0])
    else:
        assert (out[0] - image[0]).abs().max() > 1e-2 and (out[1] - out[0]).abs().max() > 1e-2


def test_shared_noise_on_flow_is_plain_sampling_per_frame(model):
    """Not motion mode, but the same start (the noise itself at sigma_max): every frame is the seed's image."""
    from t2vz.attention import CrossFrameAttention, with_cross_frame

    off = with_cross_frame(model, CrossFrameAttention(strength=0.0))
    out = video(off, frames=2, steps=6, noise_mode="shared")
    assert_close_rel(out[1], plain(model, 6)[0])


@pytest.mark.parametrize("steps,sampler,scheduler", [(4, "euler", "sgm_uniform"), (8, "euler", "sgm_uniform"),
                                                     (4, "lcm", "sgm_uniform")])
def test_few_step_discrete_models(tiny, steps, sampler, scheduler):
    """SDXL Lightning / Hyper (euler, sgm_uniform, 4-8 steps) and LCM schedules on a discrete model: the joint pass
    starts at step 0 (sigma_max, finite there), frame 0 is plain sampling's image with euler, the frames move."""
    out = video(tiny, frames=3, steps=steps, sampler=sampler, scheduler=scheduler)
    assert torch.isfinite(out).all() and (out[1] - out[0]).abs().max() > 1e-2
    if sampler == "euler":
        assert_close_rel(out[0], plain(tiny, steps, sampler, scheduler)[0])


# --- where t0 / t1 land ----------------------------------------------------------------------------------------------

def test_reference_points_are_sd15_at_941_and_881():
    assert (reference_timestep(47), reference_timestep(44)) == (941, 881)
    lam1, lam0 = reference_noise_level(47), reference_noise_level(44)
    # flow-equivalent s = lam / (1 + lam): 0.912 / 0.883 (vs the step fractions' 0.98 / 0.96 on Flux)
    assert lam1 / (1 + lam1) == pytest.approx(0.9125, abs=5e-4)
    assert lam0 / (1 + lam0) == pytest.approx(0.8832, abs=5e-4)


@pytest.mark.parametrize("steps", [4, 8, 20, 50])
@pytest.mark.parametrize("t0,t1", [(44, 47), (30, 40)])
def test_steps_are_the_nearest_in_signal_to_noise(model, steps, t0, t1):
    """The documented rule, recomputed here by brute force: the joint start is the usable step (below pure noise,
    leaving a step after it) whose noise level / sigma_data is nearest the reference's at t1 in log; the warp step the
    nearest to the reference's at t0 among the steps after it."""
    ms = model.get_model_object("model_sampling")
    sigmas = schedule(model, steps)
    kind, plan = motion_phases(ms, sigmas, steps, t0, t1)
    assert kind != KIND_DISCRETE
    data = float(getattr(ms, "sigma_data", 1.0))
    levels = [noise_level(ms, float(s)) / data for s in sigmas]
    usable = [i for i in range(steps - 1) if math.isfinite(levels[i])]

    def gap(i, t):
        return abs(math.log(levels[i] / reference_noise_level(t)))

    assert plan.joint_start == min(usable, key=lambda i: (gap(i, t1), i))
    assert plan.warp_at == min(range(plan.joint_start + 1, steps), key=lambda i: (gap(i, t0), i))


def test_flux_at_50_steps_lands_at_the_references_signal_to_noise(tiny):
    """On Flux's 1024px schedule the step fractions would give s = 0.98 / 0.96; the rule gives the steps nearest
    s = 0.91 / 0.88, as SD1.5 is at the reference's timesteps."""
    model = flux(tiny)
    sigmas = schedule(model, 50)
    _, plan = motion_phases(model.get_model_object("model_sampling"), sigmas, 50, 44, 47)
    s1, s0 = float(sigmas[plan.joint_start]), float(sigmas[plan.warp_at])
    assert abs(s1 - 0.9125) < 0.01 and abs(s0 - 0.8832) < 0.01
    assert plan.joint_start > 2 and plan.warp_at > 5  # later than the fractions' steps 2 and 5


def test_noise_levels_by_hand():
    """phases_by_noise_level on made-up levels: infinite first level skipped, nearest in log, warp after join."""
    ref1, ref0 = reference_noise_level(47), reference_noise_level(44)
    levels = [math.inf, ref1 * 1.5, ref1 * 0.95, ref0 * 1.01, ref0 * 0.5, 0.0]
    plan = phases_by_noise_level(levels, 44, 47)
    assert (plan.joint_start, plan.warp_at) == (2, 3)
    plan = phases_by_noise_level([math.inf, 1.0, 0.5, 0.0], 44, 47)  # every level below the reference's
    assert (plan.joint_start, plan.warp_at) == (1, 2)


@pytest.mark.parametrize("t0,t1,needle", [(47, 47, "t0 must be smaller"), (10, 50, "beyond the schedule")])
def test_bad_t0_t1_on_flow_name_the_input_and_fix(tiny, t0, t1, needle):
    from t2vz.motion import Motion

    with pytest.raises(ValueError, match=needle) as err:
        video(sd3(tiny), frames=2, steps=8, motion=Motion(t0=t0, t1=t1))
    assert "Fix" in str(err.value)


# --- parts and chunks stay exact ------------------------------------------------------------------------------------

def test_parts_and_chunks_equal_the_whole_video_on_flow(tiny):
    model = sd3(tiny)
    frames = 5
    whole = video(model, frames=frames, steps=6)
    parts = [video(model, frames=frames, steps=6, part=video_part(frames, i, 3)) for i in range(3)]
    assert_close_rel(torch.cat(parts), whole)
    assert_close_rel(video(model, frames=frames, steps=6, frames_per_chunk=2), whole)


# --- models that cannot be re-noised ---------------------------------------------------------------------------------

def test_a_model_without_noise_is_refused_in_words(tiny):
    import comfy.model_sampling as cms

    if not hasattr(cms, "IMG_TO_IMG_FLOW"):
        pytest.skip("this ComfyUI has no image-to-image flow sampling")
    model = advanced().ModelSamplingDiscrete().patch(tiny, "img_to_img_flow", False)[0]
    with pytest.raises(ValueError) as err:
        video(model, frames=2, steps=6)
    text = str(err.value)
    assert "image-to-image model, whose sampling starts from an image and adds no noise" in text and "Fix:" in text
    assert "ModelSampling" not in text and "IMG_TO_IMG" not in text


def test_a_flow_variant_that_adds_no_noise_is_told_by_its_behaviour():
    """Newer ComfyUI has IMG_TO_IMG_VELOCITY (a CONST variant whose sampling starts from the image itself); no class
    list can know it, its noise_scaling tells: a stand-in CONST subclass that adds no noise is refused in the same
    words, and a plain CONST is a flow model."""
    import comfy.model_sampling as cms

    from t2vz.motion.renoise import KIND_FLOW, sampling_kind

    class Velocity(cms.ModelSamplingDiscreteFlow, cms.CONST):
        def noise_scaling(self, sigma, noise, latent_image, max_denoise=False):
            return latent_image

    class Flow(cms.ModelSamplingDiscreteFlow, cms.CONST):
        pass

    with pytest.raises(ValueError, match="image-to-image model, whose sampling starts from an image and adds no "
                                         "noise.*Fix:"):
        sampling_kind(Velocity())
    assert sampling_kind(Flow()) == KIND_FLOW
