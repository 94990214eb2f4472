"""ComfyUI node pack: Text2Video-Zero (zero-shot video with any text-to-image diffusion model)."""
import logging

if __package__:  # ComfyUI loads this folder as a package; a test runner may import the file on its own
    from .attention.host import comfyui_version, unsupported_reason

    _unsupported = unsupported_reason(comfyui_version())
    if _unsupported:
        # One clear line instead of an import traceback; ComfyUI loads the other packs and keeps running.
        logging.getLogger("t2v-zero").error(_unsupported)
        NODE_CLASS_MAPPINGS = {}
    else:
        from comfy_api.latest import ComfyExtension, io

        class T2VZeroExtension(ComfyExtension):
            async def get_node_list(self) -> list[type[io.ComfyNode]]:
                from .nodes import NODES

                return NODES

        async def comfy_entrypoint() -> T2VZeroExtension:
            return T2VZeroExtension()
