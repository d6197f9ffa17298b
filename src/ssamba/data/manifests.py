"""JSON Lines clip manifests: one validated entry per clip, every bad row reported with its line.

Format (one JSON object per line)::

    {"audio": "recordings/0_george_0.wav", "label": "0", "speaker": "george", "split": "test"}
    {"audio": "/abs/clip.flac", "labels": ["Speech", "Music"], "start": 1.5, "end": 4.0}

`audio` is relative to the manifest's folder (or absolute); `label` (one class) or `labels`
(a list, multi-label tasks); optional `speaker`, `split`, `start`/`end` (seconds); any other
field is kept in `ManifestEntry.extra` and written back unchanged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ssamba.errors import ManifestError

logger = logging.getLogger(__name__)

KNOWN_FIELDS = ("audio", "label", "labels", "speaker", "split", "start", "end")
MAX_LISTED_PROBLEMS = 20
DEEP_DEFAULT_MAX_ROWS = 50_000  # `deep=None` decodes the audio of manifests with fewer rows


@dataclass(frozen=True)
class ManifestEntry:
    """One clip: resolved audio path, its label(s), optional speaker/split/segment and extras."""

    path: Path
    label: str | None = None
    labels: tuple[str, ...] | None = None
    speaker: str | None = None
    split: str | None = None
    start: float | None = None
    end: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    where: str = ""

    @property
    def targets(self) -> tuple[str, ...]:
        """The clip's labels as a tuple (one item for single-label rows, empty if unlabelled)."""
        if self.labels is not None:
            return self.labels
        return () if self.label is None else (self.label,)

    @property
    def duration(self) -> float | None:
        """Segment length in seconds when `end` is set (from `start`, default 0)."""
        return None if self.end is None else self.end - (self.start or 0.0)

    def get(self, key: str, default: Any = None) -> Any:
        """A known field (`label`, `speaker`, `split`, ...) or an extra field by name."""
        if key in KNOWN_FIELDS[1:]:
            value = getattr(self, key)
            return default if value is None else value
        return self.extra.get(key, default)

    def to_row(self, base: Path | None = None) -> dict[str, Any]:
        """The manifest row; `audio` relative to `base` when given (else absolute)."""
        audio = self.path.absolute()
        text = audio.as_posix()
        if base is not None:
            with contextlib.suppress(ValueError):  # another drive on Windows: stay absolute
                text = Path(os.path.relpath(audio, base.absolute())).as_posix()
        row: dict[str, Any] = {"audio": text}
        if self.labels is not None:
            row["labels"] = list(self.labels)
        elif self.label is not None:
            row["label"] = self.label
        for key in ("speaker", "split", "start", "end"):
            if getattr(self, key) is not None:
                row[key] = getattr(self, key)
        row.update(self.extra)
        return row


@dataclass(frozen=True)
class Manifest:
    """An ordered, validated list of clips; `source` is the file it was read from (if any)."""

    entries: tuple[ManifestEntry, ...]
    source: Path | None = None

    def __post_init__(self) -> None:
        if not self.entries:
            where = f"{self.source}: " if self.source else ""
            raise ManifestError(
                f"{where}no valid clips (the manifest is empty or every row is bad); "
                "add at least one valid row"
            )

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[ManifestEntry]:
        return iter(self.entries)

    def __getitem__(self, index: int) -> ManifestEntry:
        return self.entries[index]

    @property
    def multi_label(self) -> bool:
        """True when any row uses the list field `labels`."""
        return any(entry.labels is not None for entry in self.entries)

    def label_names(self) -> list[str]:
        """Sorted set of every label used."""
        return sorted({label for entry in self.entries for label in entry.targets})

    def counts(self, key: str) -> dict[str, int]:
        """Clips per value of a field (`split`, `speaker`, `label`, an extra field); unset skipped."""
        if key == "label":
            counter = Counter(label for entry in self.entries for label in entry.targets)
        else:
            values = (entry.get(key) for entry in self.entries)
            counter = Counter(str(value) for value in values if value is not None)
        return dict(sorted(counter.items()))

    def select(self, split_key: str = "split", value: str | Collection[str] = "train") -> Manifest:
        """The clips whose field `split_key` equals `value` (or is one of several values)."""
        wanted = {value} if isinstance(value, str) else set(value)
        kept = tuple(e for e in self.entries if str(e.get(split_key)) in wanted)
        if not kept:
            present = sorted(self.counts(split_key))
            raise ManifestError(
                f"{self.source or 'manifest'}: no clip has {split_key} in {sorted(wanted)}; "
                f"values present: {present}"
            )
        return Manifest(kept, self.source)


class RowError(Exception):
    """One problem in one row; a `RowError` given to `validate_rows` as a row is reported as is."""


def _string_field(row: dict[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RowError(f"'{key}' must be a string, got {value!r}")
    return str(value)


def _time_field(row: dict[str, Any], key: str) -> float | None:
    value = row.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RowError(f"'{key}' must be a number of seconds, got {value!r}")
    if value < 0:
        raise RowError(f"'{key}' must be >= 0 seconds, got {value}")
    return float(value)


def _labels(row: dict[str, Any], require_labels: bool) -> tuple[str | None, tuple[str, ...] | None]:
    has_label, has_labels = "label" in row, "labels" in row
    if has_label and has_labels:
        raise RowError("has both 'label' and 'labels'; keep one ('labels' for multi-label)")
    if has_label:
        label = row["label"]
        if not isinstance(label, str) or not label:
            raise RowError(f"'label' must be a non-empty string, got {label!r}")
        return label, None
    if has_labels:
        labels = row["labels"]
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
            raise RowError(f"'labels' must be a non-empty list of strings, got {labels!r}")
        if len(set(labels)) != len(labels):
            raise RowError(f"'labels' repeats a label: {labels!r}")
        return None, tuple(labels)
    if require_labels:
        raise RowError("has neither 'label' nor 'labels'")
    return None, None


def parse_row(
    row: Any,
    base: Path,
    *,
    where: str = "",
    check_files: bool = True,
    require_labels: bool = True,
    label_set: Collection[str] | None = None,
) -> ManifestEntry:
    """Validate one manifest row (a decoded JSON value) and turn it into a `ManifestEntry`.

    Raises `ManifestError` naming `where` (e.g. "m.jsonl line 3") and the problem.
    """
    try:
        return _parse_row(row, base, where, check_files, require_labels, label_set)
    except RowError as exc:
        raise ManifestError(f"{where}: {exc}") from None


def _parse_row(
    row: Any,
    base: Path,
    where: str,
    check_files: bool,
    require_labels: bool,
    label_set: Collection[str] | None,
) -> ManifestEntry:
    if not isinstance(row, dict):
        raise RowError(f"expected a JSON object, got {type(row).__name__}")
    audio = row.get("audio")
    if not isinstance(audio, str) or not audio:
        raise RowError("missing 'audio' (the path of the clip's audio file)")
    path = Path(os.path.normpath((base / audio).absolute()))  # base is ignored if absolute
    label, labels = _labels(row, require_labels)
    start, end = _time_field(row, "start"), _time_field(row, "end")
    if end is not None and end <= (start or 0.0):
        raise RowError(f"'start' ({start or 0.0}) must be before 'end' ({end})")
    if label_set is not None:
        unknown = [x for x in labels or (label,) if x is not None and x not in label_set]
        if unknown:
            raise RowError(f"unknown label(s) {unknown}; not in the label set")
    if check_files:
        try:
            found = path.is_file()
        except OSError as exc:
            raise RowError(f"audio file not found: {path} ({exc.strerror})") from exc
        if not found:
            raise RowError(f"audio file not found: {path}")
    extra = {k: v for k, v in row.items() if k not in KNOWN_FIELDS}
    return ManifestEntry(
        path=path,
        label=label,
        labels=labels,
        speaker=_string_field(row, "speaker"),
        split=_string_field(row, "split"),
        start=start,
        end=end,
        extra=extra,
        where=where,
    )


def report_problems(source: Path | str, problems: Sequence[tuple[str, str]], heading: str) -> ManifestError:
    """One `ManifestError`: `heading` then (up to a cap) every `(where, message)` problem."""
    lines = [f"  {where}: {message}" for where, message in problems[:MAX_LISTED_PROBLEMS]]
    if len(problems) > MAX_LISTED_PROBLEMS:
        lines.append(f"  ... and {len(problems) - MAX_LISTED_PROBLEMS} more")
    return ManifestError(f"{source}: {len(problems)} {heading}:\n" + "\n".join(lines))


def validate_rows(
    rows: Iterable[tuple[str, Any]],
    base: Path,
    source: Path,
    *,
    check_files: bool = True,
    skip_bad: bool = False,
    require_labels: bool = True,
    label_set: Collection[str] | None = None,
    deep: bool | None = False,
) -> Manifest:
    """Parse `(where, row)` pairs: report every bad row at once, or drop them with a warning.

    A row may be a `RowError` (e.g. undecodable JSON) to report at that place.
    Duplicates (same audio file and segment) count as bad rows after the first occurrence.
    `deep` also decodes every clip's audio (`audio_check.check_clip`); None: only for fewer than
    `DEEP_DEFAULT_MAX_ROWS` rows, with a note when skipped.
    """
    entries: list[tuple[int, ManifestEntry]] = []
    problems: list[tuple[int, str, str]] = []
    seen: dict[tuple[Path, float | None, float | None], str] = {}
    for number, (where, row) in enumerate(rows):
        try:
            if isinstance(row, RowError):
                raise row
            entry = _parse_row(row, base, where, check_files, require_labels, label_set)
            key = (entry.path, entry.start, entry.end)
            if key in seen:
                raise RowError(f"duplicate of {seen[key]} (same audio file and segment)")
            seen[key] = where
            entries.append((number, entry))
        except RowError as exc:
            problems.append((number, where, str(exc)))
    if _decide_deep(deep, len(entries) + len(problems), source):
        from ssamba.data.audio_check import decode_problems

        bad = decode_problems([entry for _, entry in entries])
        problems = sorted(problems + [(entries[i][0], entries[i][1].where, bad[i]) for i in bad])
        entries = [item for i, item in enumerate(entries) if i not in bad]
    return _finish([entry for _, entry in entries], [(w, m) for _, w, m in problems], source, skip_bad)


def _decide_deep(deep: bool | None, rows: int, source: Path) -> bool:
    """Whether to decode the audio: `deep`, or by default for manifests of fewer rows than the limit."""
    if deep is not None:
        return deep
    if rows < DEEP_DEFAULT_MAX_ROWS:
        return True
    logger.warning(
        "%s: %d rows (%d or more): the audio was not decoded; pass deep=True (--deep) to decode every clip",
        source,
        rows,
        DEEP_DEFAULT_MAX_ROWS,
    )
    return False


def _finish(
    entries: list[ManifestEntry], problems: list[tuple[str, str]], source: Path, skip_bad: bool
) -> Manifest:
    """The manifest of the good entries; raise listing the problems, or warn for each when `skip_bad`."""
    if problems and not skip_bad:
        heading = "bad row(s); fix or remove them (or drop them with skip_bad / --skip-bad)"
        raise report_problems(source, problems, heading)
    for where, message in problems:
        logger.warning("%s %s: %s; row skipped", source, where, message)
    return Manifest(tuple(entries), source)


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Any]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
                if not text.strip():
                    continue
                yield f"line {number}", json.loads(text)
            except json.JSONDecodeError as exc:
                yield f"line {number}", RowError(f"not valid JSON ({exc.msg}, column {exc.colno})")
            except UnicodeDecodeError as exc:
                yield f"line {number}", RowError(f"not valid UTF-8 text ({exc.reason} at byte {exc.start})")
            except (ValueError, RecursionError) as exc:
                yield f"line {number}", RowError(f"cannot parse the JSON value ({type(exc).__name__})")


def read_manifest(
    path: str | Path,
    *,
    check_files: bool = True,
    skip_bad: bool = False,
    label_set: Collection[str] | None = None,
    require_labels: bool = True,
    deep: bool | None = False,
) -> Manifest:
    """Read and validate a JSON Lines manifest.

    Args:
        path: the `.jsonl` file; relative `audio` paths are resolved against its folder.
        check_files: report rows whose audio file does not exist.
        skip_bad: drop bad rows with a warning each instead of raising.
        label_set: if given, labels outside it are bad rows.
        require_labels: rows without `label`/`labels` are bad (False for pretraining data).
        deep: also decode every clip's audio (segment inside the file, finite samples, not
            empty); None: only when the manifest has fewer than `DEEP_DEFAULT_MAX_ROWS` rows.

    Raises:
        ManifestError: listing every bad row with its line number, or for an empty manifest.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest file not found")
    return validate_rows(
        _jsonl_rows(path),
        path.parent,
        path,
        check_files=check_files,
        skip_bad=skip_bad,
        require_labels=require_labels,
        label_set=label_set,
        deep=deep,
    )


def write_manifest(
    entries: Iterable[ManifestEntry], path: str | Path, *, absolute_paths: bool = False
) -> Path:
    """Write entries as JSON Lines; audio paths relative to the file's folder unless absolute."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = None if absolute_paths else path.parent
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for entry in entries:
            handle.write(json.dumps(entry.to_row(base), ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def relabel(manifest: Manifest, label_key: str) -> Manifest:
    """The manifest with field `label_key` (e.g. "speaker") as each clip's single label."""
    if label_key == "label":
        return manifest
    entries = []
    for entry in manifest:
        value = entry.get(label_key)
        if value is None:
            raise ManifestError(f"{entry.where or entry.path}: no field {label_key!r} to use as the label")
        entries.append(replace(entry, label=str(value), labels=None))
    return Manifest(tuple(entries), manifest.source)
