"""Build a manifest by scanning a folder of audio files (labels from folders or file names).

Split rules (`split_rule`), kept deliberately small:

* ``field:NAME,SPLIT=LO-HI,SPLIT=VALUE,...`` assigns each clip by the value of field ``NAME``
  (a regex group such as ``take``, or ``speaker``/``label``): ``LO-HI`` is an inclusive integer
  range, a bare ``VALUE`` matches the text exactly. A split may be named several times.
  FSDD's official split is ``field:take,test=0-4,train=5-49``.
* ``random:FRACTION[,seed=N]`` puts a seeded random ``FRACTION`` of the clips in ``valid`` and
  the rest in ``train``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ssamba.data.manifests import Manifest, ManifestEntry, report_problems
from ssamba.errors import ConfigError, ManifestError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
LABEL_SOURCES = ("parent", "regex", "none")

MANIFEST_PRESETS: dict[str, dict[str, Any]] = {
    "fsdd": {
        "label_from": "regex",
        "label_regex": r"^(?P<label>\d)_(?P<speaker>[a-z]+)_(?P<take>\d+)\.wav$",
        "split_rule": "field:take,test=0-4,train=5-49",
        "extensions": (".wav",),
    },
}


def preset_options(name: str) -> dict[str, Any]:
    """The `build_manifest` keyword arguments of a named preset (e.g. "fsdd")."""
    if name not in MANIFEST_PRESETS:
        raise ConfigError(f"unknown manifest preset {name!r}; choose from {sorted(MANIFEST_PRESETS)}")
    return dict(MANIFEST_PRESETS[name])


@dataclass(frozen=True)
class FieldRule:
    """Split by a field's value: `(split, low, high)` inclusive integer ranges or exact text."""

    field: str
    ranges: tuple[tuple[str, int, int], ...]
    exact: tuple[tuple[str, str], ...]

    def assign(self, entries: Sequence[ManifestEntry]) -> list[str | None]:
        """The split of each entry (None when no range or value matches)."""
        return [self._split_of(entry.get(self.field)) for entry in entries]

    def _split_of(self, value: Any) -> str | None:
        text = None if value is None else str(value)
        for split, wanted in self.exact:
            if text == wanted:
                return split
        if text is not None and re.fullmatch(r"-?\d+", text):
            for split, low, high in self.ranges:
                if low <= int(text) <= high:
                    return split
        return None


@dataclass(frozen=True)
class RandomRule:
    """A seeded random `fraction` of the clips to `valid`, the rest to `train`."""

    fraction: float
    seed: int = 0

    def assign(self, entries: Sequence[ManifestEntry]) -> list[str | None]:
        """`valid`/`train` per entry; the chosen set depends only on the count and the seed."""
        count = round(self.fraction * len(entries))
        held_out = set(random.Random(self.seed).sample(range(len(entries)), count))
        return ["valid" if i in held_out else "train" for i in range(len(entries))]


def parse_split_rule(text: str) -> FieldRule | RandomRule:
    """Parse a split rule (see the module docstring); raises ConfigError on bad syntax."""
    kind, _, body = text.partition(":")
    parts = [part.strip() for part in body.split(",") if part.strip()]
    if kind == "random" and parts:
        return _parse_random(text, parts)
    if kind == "field" and len(parts) >= 2:
        return _parse_field(text, parts)
    raise ConfigError(
        f"split rule {text!r}: expected 'field:NAME,SPLIT=LO-HI,...' "
        "(e.g. field:take,test=0-4,train=5-49) or 'random:FRACTION[,seed=N]' (e.g. random:0.1)"
    )


def _parse_random(text: str, parts: list[str]) -> RandomRule:
    try:
        fraction = float(parts[0])
        options = dict(part.split("=", 1) for part in parts[1:])
        seed = int(options.pop("seed", 0))
    except ValueError:
        raise ConfigError(f"split rule {text!r}: expected random:FRACTION[,seed=N]") from None
    if options or not 0.0 < fraction < 1.0:
        raise ConfigError(f"split rule {text!r}: FRACTION must be in (0, 1), only seed= allowed")
    return RandomRule(fraction, seed)


def _parse_field(text: str, parts: list[str]) -> FieldRule:
    ranges, exact = [], []
    for part in parts[1:]:
        split, sep, value = part.partition("=")
        if not sep or not split or not value:
            raise ConfigError(f"split rule {text!r}: {part!r} is not SPLIT=LO-HI or SPLIT=VALUE")
        bounds = re.fullmatch(r"(\d+)-(\d+)", value)
        if bounds:
            ranges.append((split, int(bounds[1]), int(bounds[2])))
        else:
            exact.append((split, value))
    return FieldRule(parts[0], tuple(ranges), tuple(exact))


def _fields_from_regex(pattern: re.Pattern[str], name: str) -> dict[str, Any] | None:
    """Named groups of `pattern` matched on a file name (digit-only extras become ints)."""
    match = pattern.search(name)
    if match is None:
        return None
    fields: dict[str, Any] = {}
    for key, value in match.groupdict().items():
        if value is None:
            continue
        is_number = key not in ("label", "speaker", "split") and value.isdigit()
        fields[key] = int(value) if is_number else value
    return fields


def _compile(pattern: str, option: str, required_group: str | None = None) -> re.Pattern[str]:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{option} {pattern!r} is not a valid regex: {exc}") from None
    if required_group and required_group not in compiled.groupindex:
        raise ConfigError(f"{option} {pattern!r} needs a named group (?P<{required_group}>...)")
    return compiled


def _entry_for(
    path: Path,
    directory: Path,
    label_from: str,
    label_pattern: re.Pattern[str] | None,
    speaker_pattern: re.Pattern[str] | None,
) -> ManifestEntry | str:
    """The entry of one file, or the reason it cannot be labelled."""
    fields: dict[str, Any] = {}
    if label_pattern is not None:
        matched = _fields_from_regex(label_pattern, path.name)
        if matched is None:
            return f"file name does not match {label_pattern.pattern!r}"
        fields.update(matched)
    if label_from == "parent":
        if path.parent == directory:
            return "is not inside a class folder (label_from='parent' needs DIR/LABEL/file)"
        fields["label"] = path.parent.name
    if speaker_pattern is not None:
        match = speaker_pattern.search(path.name)
        if match is None:
            return f"file name does not match the speaker regex {speaker_pattern.pattern!r}"
        fields["speaker"] = match.groupdict().get("speaker") or match.group(1)
    known = {key: fields.pop(key) for key in ("label", "speaker", "split") if key in fields}
    return ManifestEntry(path=path.absolute(), extra=fields, where=str(path), **known)


def build_manifest(
    directory: str | Path,
    *,
    label_from: str = "parent",
    label_regex: str | None = None,
    speaker_regex: str | None = None,
    split_rule: str | None = None,
    extensions: Sequence[str] = AUDIO_EXTENSIONS,
) -> Manifest:
    """Scan `directory` (recursively, sorted) for audio files and label them.

    Args:
        label_from: "parent" (the class folder name), "regex" (the group `label` of
            `label_regex`, matched on the file name) or "none" (unlabelled).
        label_regex: named groups `label`, `speaker`, `split` fill those fields, any other
            group (e.g. `take`) becomes an extra field (an int if all digits).
        speaker_regex: regex with a group `speaker` (or a first group) for the speaker.
        split_rule: see the module docstring.
        extensions: file suffixes to include (case-insensitive).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ManifestError(f"{directory}: directory not found")
    if label_from not in LABEL_SOURCES:
        raise ConfigError(f"label_from must be one of {LABEL_SOURCES}, got {label_from!r}")
    if label_from == "regex" and not label_regex:
        raise ConfigError("label_from='regex' needs label_regex with a group (?P<label>...)")
    label_group = "label" if label_from == "regex" else None
    label_pattern = _compile(label_regex, "label_regex", label_group) if label_regex else None
    speaker_pattern = _compile(speaker_regex, "speaker_regex") if speaker_regex else None
    rule = parse_split_rule(split_rule) if split_rule else None
    suffixes = {ext.lower() if ext.startswith(".") else f".{ext.lower()}" for ext in extensions}
    files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in suffixes and p.is_file())
    if not files:
        raise ManifestError(f"{directory}: no audio files with extensions {sorted(suffixes)}")
    entries, problems = [], []
    for path in files:
        entry = _entry_for(path, directory, label_from, label_pattern, speaker_pattern)
        if isinstance(entry, str):
            problems.append((str(path.relative_to(directory)), entry))
        else:
            entries.append(entry)
    if rule is not None:
        splits = rule.assign(entries)
        problems += [
            (entry.path.name, f"matches no split of the rule {split_rule!r}")
            for entry, split in zip(entries, splits, strict=True)
            if split is None
        ]
        entries = [replace(entry, split=split) for entry, split in zip(entries, splits, strict=True)]
    if problems:
        raise report_problems(
            directory, problems, "file(s) cannot be labelled or split; fix the regex or rule"
        )
    return Manifest(tuple(entries))
