"""ComfyUI progress bar (with latent previews) for work that spans several sampler runs."""
from __future__ import annotations


def progress_for(model, total: int):
    """progress(done, total, x0) that drives one ComfyUI progress bar; its hook also honours Cancel."""
    import comfy.utils  # noqa: PLC0415
    import latent_preview  # noqa: PLC0415

    bar = comfy.utils.ProgressBar(total)
    previewer = latent_preview.get_previewer(model.load_device, model.model.latent_format)

    def report(done: int, steps_total: int, x0=None) -> None:
        preview = None
        if previewer is not None and x0 is not None:
            preview = previewer.decode_latent_to_preview_image("JPEG", x0[:1])
        bar.update_absolute(done, steps_total, preview)

    return report
