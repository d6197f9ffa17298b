"""Read the official SSAST/AST datafiles: `{"data": [{"wav": path, "labels": "mid1,mid2"}]}`.

Label ids (AudioSet-style "mids") are mapped to display names with `class_labels_indices.csv`,
so the result is a multi-label `Manifest` whose labels match `LabelMap.from_file(csv)`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ssamba.data.labels import read_class_csv
from ssamba.data.manifests import Manifest, RowError, validate_rows
from ssamba.errors import ManifestError


def _convert(item: Any, names: Mapping[str, str]) -> dict[str, Any] | RowError:
    """A datafile item as a manifest row (`wav` -> `audio`, mids -> display names)."""
    if not isinstance(item, dict):
        return RowError(f"expected a JSON object, got {type(item).__name__}")
    if not isinstance(item.get("wav"), str):
        return RowError("missing 'wav' (the path of the clip's audio file)")
    mids = item.get("labels")
    if not isinstance(mids, str) or not mids.strip():
        return RowError(f"'labels' must be a comma-separated string of label ids, got {mids!r}")
    unknown = [mid for mid in mids.split(",") if mid not in names]
    if unknown:
        return RowError(f"unknown label id(s) {unknown} (not in the class CSV)")
    row = {k: v for k, v in item.items() if k not in ("wav", "labels")}
    row.update(audio=item["wav"], labels=[names[mid] for mid in mids.split(",")])
    return row


def read_ssast_datafile(
    path: str | Path,
    label_csv: str | Path,
    *,
    check_files: bool = True,
    skip_bad: bool = False,
    deep: bool | None = False,
) -> Manifest:
    """Read an SSAST datafile and its `index,mid,display_name` CSV as a multi-label manifest.

    Relative `wav` paths are resolved against the datafile's folder. Bad items are reported
    as `data[i]` (all at once), or dropped with a warning when `skip_bad`; `deep` as in
    `read_manifest`.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: datafile not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc})") from None
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ManifestError(f'{path}: expected an object {{"data": [...]}} (SSAST datafile)')
    names = {row.mid: row.display_name for row in read_class_csv(label_csv)}

    def rows() -> Iterator[tuple[str, Any]]:
        for i, item in enumerate(items):
            yield f"data[{i}]", _convert(item, names)

    return validate_rows(rows(), path.parent, path, check_files=check_files, skip_bad=skip_bad, deep=deep)
