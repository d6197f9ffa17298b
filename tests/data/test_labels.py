"""Label maps and PSLA balanced-sampling weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ssamba.data import LabelMap, Manifest, ManifestEntry, psla_weights
from ssamba.errors import ConfigError


def test_single_label_map(fsdd_manifest: Manifest, tmp_path: Path) -> None:
    label_map = LabelMap.from_manifest(fsdd_manifest)
    assert label_map.labels == tuple(str(d) for d in range(10)) and not label_map.multi_label
    target = label_map.encode(["7"])
    assert target.dtype == torch.long and target.shape == () and int(target) == 7
    assert label_map.decode(7) == "7" and "7" in label_map and "x" not in label_map
    with pytest.raises(ConfigError, match="single-label map got 2 labels"):
        label_map.encode(["1", "2"])
    with pytest.raises(ConfigError, match="unknown label 'x'"):
        label_map.encode(["x"])
    assert LabelMap.from_file(label_map.save(tmp_path / "labels.json")) == label_map


def test_multi_label_map_round_trip(tmp_path: Path) -> None:
    label_map = LabelMap.from_labels(["dog", "cat", "bird", "cat"], multi_label=True)
    assert label_map.labels == ("bird", "cat", "dog")
    assert label_map.encode(["dog", "bird"]).tolist() == [1.0, 0.0, 1.0]
    assert label_map.multi_hot(["cat"], 0.25).tolist() == [0.0, 0.25, 0.0]
    again = LabelMap.from_file(label_map.save(tmp_path / "m.json"))
    assert again == label_map and again.multi_label
    assert not LabelMap.from_file(tmp_path / "m.json", multi_label=False).multi_label


def test_label_map_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="duplicate labels"):
        LabelMap(("a", "a"))
    with pytest.raises(ConfigError, match="at least one label"):
        LabelMap(())
    with pytest.raises(ConfigError, match="not found"):
        LabelMap.from_file(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text('{"classes": []}')
    with pytest.raises(ConfigError, match="expected JSON"):
        LabelMap.from_file(tmp_path / "bad.json")
    (tmp_path / "gap.csv").write_text("index,mid,display_name\n0,/m/a,A\n2,/m/b,B\n")
    with pytest.raises(ConfigError, match="without gaps"):
        LabelMap.from_file(tmp_path / "gap.csv")


def test_psla_weights_match_a_hand_computation() -> None:
    rows = [("a",), ("a", "b"), ("b", "c"), ("a",)]
    manifest = Manifest(tuple(ManifestEntry(Path(f"/x/{i}.wav"), labels=r) for i, r in enumerate(rows)))
    count_a, count_b, count_c = 3, 2, 1
    expected = [
        1000 / (count_a + 0.01),
        1000 / (count_a + 0.01) + 1000 / (count_b + 0.01),
        1000 / (count_b + 0.01) + 1000 / (count_c + 0.01),
        1000 / (count_a + 0.01),
    ]
    weights = psla_weights(manifest)
    assert weights.dtype == torch.float64
    torch.testing.assert_close(weights, torch.tensor(expected, dtype=torch.float64))


def test_psla_weights_single_label_are_inverse_class_counts(fsdd_manifest: Manifest) -> None:
    subset = Manifest(fsdd_manifest.entries[:250] + fsdd_manifest.entries[300:350])
    weights = psla_weights(subset)
    assert torch.allclose(weights[0], torch.tensor(1000 / 250.01, dtype=torch.float64))
    assert torch.allclose(weights[-1], torch.tensor(1000 / 50.01, dtype=torch.float64))
