"""`load_model` / `regrid` (one front door, one adaptation) and an import graph without cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import ssamba
from ssamba.errors import CheckpointError
from ssamba.models import Geometry, load_model, regrid
from ssamba.training.init import init_classifier_from

PACKAGE = Path(ssamba.__file__).parent


def test_regrid_moves_stride_and_length_and_interpolates_positions_like_bilinear():
    torch.manual_seed(0)
    model = ssamba.create_model("ssast_tiny", depth=1, input_tdim=64, patch_stride=(16, 16)).eval()
    before = model.encoder.pos_embed.detach().clone()
    regrid(model, input_tdim=128)
    # independent: (1, D, 8, 4) -> bilinear to (8, 8), special tokens untouched
    patches = before[:, 2:].transpose(1, 2).reshape(1, 192, 8, 4)
    expected = F.interpolate(patches, size=(8, 8), mode="bilinear", align_corners=False)
    expected = expected.reshape(1, 192, 64).transpose(1, 2)
    torch.testing.assert_close(model.encoder.pos_embed[:, 2:], expected, rtol=0, atol=0)
    assert torch.equal(model.encoder.pos_embed[:, :2], before[:, :2])
    assert model.config.input_tdim == 128 and model.encoder.grid == (8, 8)
    regrid(model, patch_stride=(16, 8))
    assert model.encoder.grid == (8, 15) and model.config.patch_stride == (16, 8)
    with torch.no_grad():
        tokens = model.forward_features(torch.randn(1, 128, 128))
    assert tokens.shape == (1, 2 + 8 * 15, 192)


def test_load_model_of_a_pretraining_folder_adapts_like_the_official_loader(tmp_path):
    torch.manual_seed(0)
    pre = ssamba.create_model("ssast_tiny", task="pretrain", depth=1, input_tdim=64)
    pre.save_pretrained(tmp_path)
    state = {f"module.{k.replace('encoder.', 'v.', 1)}": v for k, v in pre.state_dict().items()}
    state = {
        k.replace("disc_head.", "cpredlayer.").replace("gen_head.", "gpredlayer."): v
        for k, v in state.items()
    }
    state.update({"module.p_input_fdim": torch.tensor(128), "module.p_input_tdim": torch.tensor(64)})
    geometry = Geometry(10, 10, 96)
    from_folder = load_model(tmp_path, task="finetune", geometry=geometry, num_classes=3)
    from_official = ssamba.load_official(state, fstride=10, tstride=10, input_tdim=96, num_classes=3)
    assert from_folder.config == from_official.config and from_folder.encoder.grid == (12, 9)
    for key, value in from_official.encoder.state_dict().items():
        assert torch.equal(from_folder.encoder.state_dict()[key], value), key
    assert load_model(tmp_path).task == "pretrain"  # a folder is built as it was saved


def test_init_refuses_an_architecture_name_instead_of_random_weights():
    with pytest.raises(CheckpointError, match="--init ssast_tiny: an architecture name, not weights"):
        init_classifier_from("ssast_tiny", "ssast_tiny", 3, input_tdim=48)


def _imports(path: Path) -> set[str]:
    """Modules `path` imports at run time (function-level included, `if TYPE_CHECKING:` left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for statement in block.body
        for node in ast.walk(statement)
    }
    names = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    return names


def test_models_and_evaluation_modules_import_each_other_without_cycles():
    modules = {
        ".".join(("ssamba", *p.relative_to(PACKAGE).with_suffix("").parts)): p
        for package in ("models", "evaluation", "integrations", "training")
        for p in (PACKAGE / package).glob("*.py")
        if p.name != "__init__.py"
    }
    graph = {
        name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()
    }
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in visiting:
            pytest.fail("import cycle: " + " -> ".join(visiting[visiting.index(name) :] + [name]))
        if name in done:
            return
        visiting.append(name)
        for dependency in sorted(graph[name]):
            visit(dependency)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)
