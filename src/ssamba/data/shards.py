"""WebDataset-compatible tar shards: a stdlib writer and an index for random access by member offset.

Each clip is two members sharing a key, `<key>.<ext>` (the original audio bytes) and
`<key>.json` (its manifest row). Shards are named `shard-000000.tar`, ... and listed with their
clip counts in `index.json`. Shards of `webdataset.ShardWriter` (`<key>.wav` with `.cls` and/or
`.json` metadata, no index) are read too (see `shard_samples`). `index_shards` turns shards into a
manifest whose clips `AudioClipDataset` reads in place, so shards and manifests share one dataset,
sampler and resume logic. Nothing is ever extracted to disk; members with absolute names, `..`
components or links are refused.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import tarfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from ssamba.data.labels import LabelMap
from ssamba.data.manifests import Manifest, parse_row
from ssamba.data.pipeline import SHARD_OFFSET, SHARD_SIZE
from ssamba.data.shard_samples import METADATA_EXTS, sample_row
from ssamba.errors import ManifestError

INDEX_NAME = "index.json"
LABEL_MAP_NAME = "labels.json"


def sample_key(index: int, path: Path) -> str:
    """Shard key of clip `index`: its position plus the file stem, without dots or slashes."""
    return f"{index:08d}_" + re.sub(r"[^A-Za-z0-9_-]", "_", path.stem)


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def write_shards(
    manifest: Manifest,
    out_dir: str | Path,
    shard_size: int = 1000,
    *,
    label_map: LabelMap | None = None,
) -> Path:
    """Write `manifest` as tar shards of `shard_size` clips plus `index.json`; returns its path.

    With `label_map`, every clip's labels must be in it and it is saved as `labels.json`.
    """
    if shard_size < 1:
        raise ManifestError(f"shard_size must be >= 1, got {shard_size}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if label_map is not None:
        unknown = sorted({x for e in manifest for x in e.targets if x not in label_map})
        if unknown:
            raise ManifestError(f"labels not in the label map: {unknown[:20]}")
        label_map.save(out_dir / LABEL_MAP_NAME)
    shards: list[dict[str, str | int]] = []
    for first in range(0, len(manifest), shard_size):
        name = f"shard-{len(shards):06d}.tar"
        chunk = manifest.entries[first : first + shard_size]
        tmp = out_dir / f"{name}.tmp"
        with tarfile.open(tmp, "w") as tar:
            for offset, entry in enumerate(chunk):
                key = sample_key(first + offset, entry.path)
                ext = entry.path.suffix.lower().lstrip(".") or "wav"
                row = entry.to_row() | {"audio": f"{key}.{ext}"}
                _add_member(tar, f"{key}.{ext}", entry.path.read_bytes())
                _add_member(tar, f"{key}.json", json.dumps(row, ensure_ascii=False).encode())
        os.replace(tmp, out_dir / name)
        shards.append({"name": name, "count": len(chunk)})
    index = {
        "shards": shards,
        "num_clips": len(manifest),
        "pattern": f"shard-{{000000..{len(shards) - 1:06d}}}.tar",
        "label_map": LABEL_MAP_NAME if label_map is not None else None,
    }
    index_path = out_dir / INDEX_NAME
    index_path.write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    return index_path


def expand_braces(pattern: str) -> list[str]:
    """Expand numeric brace ranges: `shard-{000000..000002}.tar` -> three names (zero-padded)."""
    match = re.search(r"\{(\d+)\.\.(\d+)\}", pattern)
    if match is None:
        return [pattern]
    low, high = int(match[1]), int(match[2])
    width = len(match[1])
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [name for i in range(low, high + 1) for name in expand_braces(f"{head}{i:0{width}d}{tail}")]


def _index_shards(index_path: Path) -> list[Path]:
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        return [index_path.parent / shard["name"] for shard in index["shards"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ManifestError(f"{index_path}: not a shard index ({exc})") from None


def resolve_shards(urls: str | Path | Sequence[str | Path]) -> list[Path]:
    """Shard paths from a brace pattern, a directory, an `index.json`, a tar, or a list of them."""
    if not isinstance(urls, (str, os.PathLike)):  # a list of them
        return [path for url in urls for path in resolve_shards(url)]
    path = Path(urls)
    if path.is_dir():
        index = path / INDEX_NAME
        paths = _index_shards(index) if index.is_file() else sorted(path.glob("*.tar"))
    elif path.suffix == ".json" and path.is_file():
        paths = _index_shards(path)
    else:
        paths = [Path(name) for name in expand_braces(str(urls))]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing or not paths:
        raise ManifestError(f"{urls}: shard file(s) not found: {missing[:5] or 'none matched'}")
    return paths


def _member_key(name: str) -> tuple[str, str]:
    """(sample key, extension) of a member name: `dir/key.ext` -> ("dir/key", "ext")."""
    folder, _, base = name.rpartition("/")
    stem, _, ext = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), ext


def index_shards(urls: str | Path | Sequence[str | Path], *, require_labels: bool = False) -> Manifest:
    """A manifest of the clips in tar shards, for random access (e.g. `AudioClipDataset`): each
    entry's path is its shard and `extra` holds the audio member's byte offset and size, which
    `load_entry` reads."""
    entries = []
    for shard in resolve_shards(urls):
        try:
            with tarfile.open(shard, "r:") as tar:
                groups: dict[str, dict[str, tarfile.TarInfo]] = {}
                for member in tar:
                    name = _checked_name(member, shard)
                    if member.isfile():
                        key, ext = _member_key(name)
                        groups.setdefault(key, {})[ext] = member
                for key, group in groups.items():
                    where = f"{shard} member {key}"
                    members = {
                        ext: _read(tar, info) if ext in METADATA_EXTS else info for ext, info in group.items()
                    }
                    row, audio_ext = sample_row(members, key, where)
                    entry = parse_row(
                        row, Path("."), where=where, check_files=False, require_labels=require_labels
                    )
                    audio = group[audio_ext]
                    extra = {**entry.extra, SHARD_OFFSET: audio.offset_data, SHARD_SIZE: audio.size}
                    entries.append(dataclasses.replace(entry, path=shard, extra=extra, where=where))
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ManifestError(
                f"{shard}: not a readable tar shard ({exc}); re-create it with ssamba data shard"
            ) from exc
    return Manifest(tuple(entries))


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    return handle.read() if handle is not None else b""


def _checked_name(member: tarfile.TarInfo, shard: Path) -> str:
    """The member's name, or ManifestError if it is absolute, escapes with `..`, or is a link."""
    name = member.name
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) or ".." in parts:
        raise ManifestError(f"{shard}: unsafe member {name!r} (absolute or '..'); shard refused")
    if not (member.isfile() or member.isdir()):
        raise ManifestError(f"{shard}: member {name!r} is a link or device; shard refused")
    return name
