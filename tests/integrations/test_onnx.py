"""ONNX export: onnxruntime matches PyTorch at shorter, trained and longer inputs and several batch sizes."""

from __future__ import annotations

import logging

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

import ssamba
from ssamba.cli.main import main
from ssamba.integrations import onnx as onnx_export
from ssamba.integrations.onnx import adapt_time_positions, export_onnx


def tiny_model(name: str, input_tdim: int, **overrides) -> ssamba.AudioClassifier:
    """A small model whose position embedding is large, so that crop and interpolation differ clearly."""
    torch.manual_seed(0)
    model = ssamba.create_model(name, input_tdim=input_tdim, **overrides).eval()
    with torch.no_grad():
        model.encoder.pos_embed.normal_()
    return model


def test_traced_positions_centre_crop_shorter_and_stretch_longer_inputs():
    grid = torch.arange(2 * 7, dtype=torch.float32).reshape(1, 1, 2, 7)
    torch.testing.assert_close(adapt_time_positions(grid, 7), grid, rtol=0, atol=0)
    torch.testing.assert_close(adapt_time_positions(grid, 3), grid[..., 2:5], rtol=0, atol=0)  # 7//2 - 3//2
    torch.testing.assert_close(adapt_time_positions(grid, 4), grid[..., 1:5], rtol=0, atol=0)  # 7//2 - 4//2
    stretched = F.interpolate(grid, size=(2, 11), mode="bilinear", align_corners=False)
    torch.testing.assert_close(adapt_time_positions(grid, 11), stretched, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("name", "shapes"),
    [
        ("ssast_tiny", [(1, 64), (2, 64), (2, 131), (3, 32), (4, 26), (1, 16)]),
        ("ssamba_tiny", [(2, 64), (1, 64), (3, 64), (2, 131), (3, 48), (4, 32)]),
    ],
)
def test_onnxruntime_parity(tmp_path, name, shapes):
    model = tiny_model(name, 64, num_classes=4, depth=2)
    path = export_onnx(model, tmp_path / f"{name}.onnx", batch=shapes[0][0])
    onnx.checker.check_model(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch, frames in shapes:
        fbank = torch.randn(batch, frames, 128)
        (out,) = session.run(None, {"fbank": fbank.numpy()})
        with torch.no_grad():
            expected = model(fbank).numpy()
        np.testing.assert_allclose(out, expected, rtol=6e-4, atol=2e-4, err_msg=f"{batch}x{frames}")


def test_cli_export_checks_parity_at_several_shapes_quietly(tmp_path, capsys, caplog):
    tiny_model("ssast_tiny", 48, depth=1).save_pretrained(tmp_path / "model")
    caplog.set_level(logging.INFO)
    assert main(["export", "onnx", str(tmp_path / "model"), str(tmp_path / "m.onnx")]) == 0
    out = capsys.readouterr().out
    # trained 48 frames: shortest 16, half 24, trained, longer 48 + 20; batch 1 to 3
    for shape in ("3 x 16 frames", "2 x 24 frames", "1 x 48 frames", "2 x 68 frames"):
        assert f"batch {shape}: " in out
    assert "[torch.onnx]" not in out
    exporter_logs = [r for r in caplog.records if not r.name.startswith("ssamba.cli")]
    assert exporter_logs == []
    assert (tmp_path / "m.onnx").stat().st_size > 1000


def test_cli_export_fails_when_the_graph_differs_from_pytorch(tmp_path, capsys, monkeypatch):
    """A graph that interpolates instead of cropping (the old export) is caught at the shorter lengths."""

    def interpolate_always(grid_pos, frames):
        return F.interpolate(grid_pos, size=(grid_pos.shape[2], frames), mode="bilinear", align_corners=False)

    monkeypatch.setattr(onnx_export, "adapt_time_positions", interpolate_always)
    tiny_model("ssast_tiny", 48, depth=1).save_pretrained(tmp_path / "model")
    assert main(["export", "onnx", str(tmp_path / "model"), str(tmp_path / "m.onnx")]) == 1
    err = capsys.readouterr().err
    assert "ssamba: error:" in err and "differs from PyTorch" in err
    assert "2x24" in err and "1x48" not in err
