"""hubconf.py works through torch.hub from a local clone."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]


def test_hubconf_entries_are_public_documented_callables():
    spec = importlib.util.spec_from_file_location("hubconf_under_test", REPO / "hubconf.py")
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    entries = {name for name in dir(hubconf) if callable(getattr(hubconf, name)) and not name.startswith("_")}
    assert {"ssamba_tiny", "ssamba_base", "ssast_tiny", "ssast_base_frame"} <= entries
    assert "SSAMBA-Tiny" in hubconf.ssamba_tiny.__doc__
    assert hubconf.dependencies[0] == "torch"


def test_torch_hub_loads_entries_from_a_local_clone(tmp_path):
    model = torch.hub.load(str(REPO), "ssast_tiny", source="local", num_classes=3, input_tdim=64, depth=1)
    assert model(torch.randn(1, 64, 128)).shape == (1, 3)
    model.save_pretrained(tmp_path)
    again = torch.hub.load(str(REPO), "ssast_tiny", source="local", weights=str(tmp_path)).eval()
    model.eval()
    fbank = torch.randn(1, 64, 128)
    with torch.no_grad():
        torch.testing.assert_close(again(fbank), model(fbank), rtol=0, atol=0)


def test_official_checkpoint_through_torch_hub(fixtures_dir):
    shared = fixtures_dir / "official" / "ssast_official_finetuned.pth"
    model = torch.hub.load(str(REPO), "ssast_tiny", source="local", weights=str(shared))
    assert model.config.num_classes == 10
