"""Label maps (label <-> class index, targets) and PSLA balanced-sampling weights."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ssamba.data.manifests import report_problems
from ssamba.errors import ConfigError

if TYPE_CHECKING:
    from ssamba.data.manifests import Manifest

CLASS_CSV_HEADER = ("index", "mid", "display_name")


@dataclass(frozen=True)
class ClassRow:
    """One row of an AudioSet-style `class_labels_indices.csv`."""

    index: int
    mid: str
    display_name: str


def read_class_csv(path: str | Path) -> list[ClassRow]:
    """Read `index,mid,display_name` rows (sorted by index; indices must be 0..N-1)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: label CSV not found")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not set(CLASS_CSV_HEADER) <= set(reader.fieldnames):
            raise ConfigError(
                f"{path}: expected the header {','.join(CLASS_CSV_HEADER)}, got {reader.fieldnames}"
            )
        rows = []
        for number, record in enumerate(reader, start=2):
            try:
                rows.append(ClassRow(int(record["index"]), record["mid"], record["display_name"]))
            except (TypeError, ValueError):
                raise ConfigError(f"{path} line {number}: bad row {record}") from None
    rows.sort(key=lambda row: row.index)
    if [row.index for row in rows] != list(range(len(rows))):
        raise ConfigError(f"{path}: class indices must be 0..{len(rows) - 1} without gaps")
    return rows


@dataclass(frozen=True)
class LabelMap:
    """Ordered class labels; encodes a clip's labels as a class index or a multi-hot vector.

    Single-label maps (`multi_label=False`) give a LongTensor scalar (cross-entropy target);
    multi-label maps give a float multi-hot vector (BCE target).
    """

    labels: tuple[str, ...]
    multi_label: bool = False
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.labels:
            raise ConfigError("a label map needs at least one label")
        duplicates = sorted(label for label, n in Counter(self.labels).items() if n > 1)
        if duplicates:
            raise ConfigError(f"duplicate labels in the label map: {duplicates}")
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "_index", {label: i for i, label in enumerate(self.labels)})

    def __len__(self) -> int:
        return len(self.labels)

    def __contains__(self, label: object) -> bool:
        return label in self._index

    @classmethod
    def from_labels(cls, labels: Iterable[str], multi_label: bool = False) -> LabelMap:
        """A map over the sorted set of `labels`."""
        return cls(tuple(sorted(set(labels))), multi_label)

    @classmethod
    def from_manifest(cls, manifest: Manifest, multi_label: bool | None = None) -> LabelMap:
        """Sorted labels of a manifest; multi-label if any row uses `labels` (unless given)."""
        multi = manifest.multi_label if multi_label is None else multi_label
        return cls.from_labels(manifest.label_names(), multi)

    @classmethod
    def from_file(cls, path: str | Path, multi_label: bool | None = None) -> LabelMap:
        """Load a saved JSON map, or a `class_labels_indices.csv` (display names, multi-label)."""
        path = Path(path)
        if path.suffix.lower() == ".csv":
            rows = read_class_csv(path)
            return cls(tuple(row.display_name for row in rows), multi_label is not False)
        if not path.is_file():
            raise ConfigError(f"{path}: label map file not found")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            labels, multi = data["labels"], data.get("multi_label", False)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{path}: expected JSON {{'labels': [...], 'multi_label': bool}} ({exc})"
            ) from None
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ConfigError(f"{path}: 'labels' must be a list of strings")
        return cls(tuple(labels), bool(multi) if multi_label is None else multi_label)

    def save(self, path: str | Path) -> Path:
        """Write the map as JSON (`labels` in index order, `multi_label`)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"labels": list(self.labels), "multi_label": self.multi_label}
        path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", "utf-8")
        return path

    def index(self, label: str) -> int:
        """Class index of `label`."""
        try:
            return self._index[label]
        except KeyError:
            raise ConfigError(f"unknown label {label!r}; the label map has {len(self)} labels") from None

    def multi_hot(self, labels: Sequence[str], weight: float = 1.0) -> torch.Tensor:
        """Float vector `[num_classes]` with `weight` added at each label (additive)."""
        vector = torch.zeros(len(self), dtype=torch.float32)
        for label in labels:
            vector[self.index(label)] += weight
        return vector

    def encode(self, labels: Sequence[str]) -> torch.Tensor:
        """Target of a clip: LongTensor scalar (single-label) or float multi-hot vector."""
        if self.multi_label:
            return self.multi_hot(labels)
        if len(labels) != 1:
            raise ConfigError(
                f"single-label map got {len(labels)} labels {list(labels)}; "
                "use a multi-label map (multi_label=True) for clips with several labels"
            )
        return torch.tensor(self.index(labels[0]), dtype=torch.long)

    def decode(self, index: int) -> str:
        """Label of class `index`."""
        return self.labels[index]


def check_labels(manifest: Manifest, label_map: LabelMap, split: str, origin: str) -> None:
    """Raise `ManifestError` naming the file and lines of the rows whose labels `label_map` cannot
    encode (unknown labels; several labels for a single-label map).

    Labels only, no audio: cheap enough to run on every split before training starts, where the
    same rows would otherwise fail at the end of an epoch. `split` and `origin` (where the map
    comes from) are named in the message.
    """
    problems = []
    for entry in manifest:
        unknown = [label for label in entry.targets if label not in label_map]
        where = entry.where or str(entry.path)
        if unknown:
            problems.append((where, f"unknown label(s) {unknown}"))
        elif not label_map.multi_label and len(entry.targets) > 1:
            problems.append((where, f"{len(entry.targets)} labels for a single-label map"))
    if problems:
        shown = ", ".join(label_map.labels[:12]) + (", ..." if len(label_map) > 12 else "")
        heading = (
            f"row(s) of the {split} split have labels the label map cannot encode ({len(label_map)} "
            f"labels: {shown}; {origin}); fix those rows, or give data.label_map a file with every label"
        )
        raise report_problems(manifest.source or "manifest", problems, heading)


def psla_weights(manifest: Manifest) -> torch.Tensor:
    """Balanced-sampling weight per clip (PSLA): sum over its labels of 1000 / (count + 0.01).

    `count` is the number of clips carrying the label. Returns a float64 tensor `[len(manifest)]`.
    """
    counts = Counter(label for entry in manifest for label in set(entry.targets))
    weights = [sum(1000.0 / (counts[label] + 0.01) for label in set(entry.targets)) for entry in manifest]
    return torch.tensor(weights, dtype=torch.float64)
