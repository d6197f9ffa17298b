"""The manifest row of one tar-shard sample, in ssamba's layout or in `webdataset.ShardWriter`'s.

ssamba writes `<key>.<audio ext>` + `<key>.json` holding the full manifest row. Shards written by
`webdataset.ShardWriter` (or X-ARES) hold `<key>.wav` (or another audio extension) plus, optionally,
`<key>.cls` (the class as text, e.g. `3`) and/or `<key>.json` (metadata such as `{"label": "dog"}`).
Both become the same row: integer labels turn into their decimal text, a list under `label` into
`labels`, and `.cls` gives the label when the JSON has none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ssamba.errors import ManifestError

AUDIO_EXTS = ("wav", "flac", "ogg", "mp3", "aiff", "aif")
METADATA_EXTS = ("json", "cls")


def _label_text(value: Any) -> Any:
    """Integer class ids as text (`3` -> "3"); anything else unchanged for `parse_row` to check."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _normalized_labels(row: dict[str, Any]) -> dict[str, Any]:
    if isinstance(row.get("label"), list) and "labels" not in row:
        row["labels"] = row.pop("label")
    if "label" in row:
        row["label"] = _label_text(row["label"])
    if isinstance(row.get("labels"), list):
        row["labels"] = [_label_text(x) for x in row["labels"]]
    return row


def sample_row(members: Mapping[str, Any], key: str, where: str) -> tuple[dict[str, Any], str]:
    """`(manifest row, audio extension)` of a sample given its members by extension.

    The `json` and `cls` values must be the members' bytes; other values are not read.
    """
    audio_ext = next((ext for ext in AUDIO_EXTS if ext in members), None)
    if audio_ext is None:
        raise ManifestError(f"{where}: no audio member ({', '.join(AUDIO_EXTS)}); found {sorted(members)}")
    row: dict[str, Any] = {}
    if "json" in members:
        try:
            row = json.loads(members["json"])
        except ValueError as exc:
            raise ManifestError(f"{where}.json: not valid JSON ({exc})") from None
        if not isinstance(row, dict):
            raise ManifestError(f"{where}.json: expected a JSON object, got {type(row).__name__}")
    if "cls" in members and "label" not in row and "labels" not in row:
        try:
            row["label"] = members["cls"].decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise ManifestError(f"{where}.cls: not UTF-8 text ({exc})") from None
    row.setdefault("audio", f"{key}.{audio_ext}")
    return _normalized_labels(row), audio_ext
