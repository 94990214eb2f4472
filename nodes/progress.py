"""ComfyUI progress bars: with latent previews for work that spans several sampler runs, and a plain one for work
done item by item (frames written, frame pairs measured)."""
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


def cancellable_progress():
    """on_item(done, total) driving one ComfyUI progress bar, made at the first call (when the total is known), that
    also honours Cancel between items."""
    import comfy.model_management  # noqa: PLC0415
    import comfy.utils  # noqa: PLC0415

    bar = None

    def on_item(done: int, total: int) -> None:
        nonlocal bar
        comfy.model_management.throw_exception_if_processing_interrupted()
        if bar is None:
            bar = comfy.utils.ProgressBar(total)
        bar.update_absolute(done, total)

    return on_item
