"""torch.hub entry points: `torch.hub.load("<path to this repo>", "ssamba_tiny", source="local")`.

Each entry builds a registered model: `pretrained=True` downloads (once) the official checkpoint
of that model (`ssamba.list_models(pretrained=True)`); other weights come from a `save_pretrained`
folder, Hub id or official checkpoint passed as `weights=`. Nothing heavy is imported until a call.
"""

import sys
from pathlib import Path

dependencies = ["torch", "numpy", "soundfile", "soxr", "safetensors", "yaml"]

_SRC = Path(__file__).resolve().parent / "src"
if _SRC.is_dir() and str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))


def _build(name, weights=None, pretrained=False, **kwargs):
    from ssamba.models import Geometry, create_model, load_model

    if weights is None:
        return create_model(name, pretrained=pretrained, **kwargs)
    return load_model(weights, geometry=Geometry.pop_from(kwargs), **kwargs)


def ssamba_tiny(weights=None, **kwargs):
    """SSAMBA-Tiny (192-dim, 24 Mamba layers). pretrained=True: official weights; or weights=folder/.pth."""
    return _build("ssamba_tiny", weights, **kwargs)


def ssamba_small(weights=None, **kwargs):
    """SSAMBA-Small (384-dim, 24 Mamba layers)."""
    return _build("ssamba_small", weights, **kwargs)


def ssamba_base(weights=None, **kwargs):
    """SSAMBA-Base (768-dim, 24 Mamba layers)."""
    return _build("ssamba_base", weights, **kwargs)


def ssast_tiny(weights=None, **kwargs):
    """SSAST-Tiny patch model (DeiT-Ti distilled, 16x16 patches)."""
    return _build("ssast_tiny", weights, **kwargs)


def ssast_small(weights=None, **kwargs):
    """SSAST-Small patch model (DeiT-S distilled, 16x16 patches)."""
    return _build("ssast_small", weights, **kwargs)


def ssast_base(weights=None, **kwargs):
    """SSAST-Base patch model (DeiT-B distilled, 16x16 patches)."""
    return _build("ssast_base", weights, **kwargs)


def ssast_base_frame(weights=None, **kwargs):
    """SSAST-Base frame model (128x2 frame patches)."""
    return _build("ssast_base_frame", weights, **kwargs)
