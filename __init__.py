"""ComfyUI node pack: Text2Video-Zero (zero-shot video with any text-to-image diffusion model)."""
from comfy_api.latest import ComfyExtension, io


class T2VZeroExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        from .nodes import NODES

        return NODES


async def comfy_entrypoint() -> T2VZeroExtension:
    return T2VZeroExtension()
