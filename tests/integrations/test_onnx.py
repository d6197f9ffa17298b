"""ONNX export: onnxruntime matches PyTorch at the trained length, longer inputs and other batch sizes."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import ssamba
from ssamba.cli.main import main
from ssamba.integrations.onnx import ExportGraph, export_onnx


@pytest.mark.parametrize(
    ("name", "shapes"),
    [("ssast_tiny", [(1, 64), (2, 64), (2, 131)]), ("ssamba_tiny", [(2, 64), (1, 64), (3, 64), (2, 131)])],
)
def test_onnxruntime_parity(tmp_path, name, shapes):
    torch.manual_seed(0)
    model = ssamba.create_model(name, num_classes=4, input_tdim=64, depth=2).eval()
    path = export_onnx(model, tmp_path / f"{name}.onnx", batch=shapes[0][0])
    onnx.checker.check_model(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch, frames in shapes:
        fbank = torch.randn(batch, frames, 128)
        (out,) = session.run(None, {"fbank": fbank.numpy()})
        with torch.no_grad():
            expected = model(fbank).numpy()
        np.testing.assert_allclose(out, expected, rtol=6e-4, atol=2e-4)


def test_ssamba_graph_accepts_any_length_from_two_patch_columns(tmp_path):
    torch.manual_seed(0)
    model = ssamba.create_model("ssamba_tiny", num_classes=3, input_tdim=64, depth=2).eval()
    path = export_onnx(model, tmp_path / "m.onnx", frames=48)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for frames in (32, 47, 64, 200):  # 2 to 12 patch columns, shorter and longer than trained
        fbank = torch.randn(1, frames, 128)
        (out,) = session.run(None, {"fbank": fbank.numpy()})
        with torch.no_grad():
            expected = ExportGraph(model)(fbank).numpy()
        np.testing.assert_allclose(out, expected, rtol=6e-4, atol=2e-4)


def test_cli_export_with_parity_check(tmp_path, capsys):
    torch.manual_seed(0)
    ssamba.create_model("ssast_tiny", input_tdim=48, depth=1).save_pretrained(tmp_path / "model")
    assert main(["export", "onnx", str(tmp_path / "model"), str(tmp_path / "m.onnx")]) == 0
    assert "max abs difference" in capsys.readouterr().out
    assert (tmp_path / "m.onnx").stat().st_size > 1000
