"""Untrusted tar shards: members that could write outside the shard folder are refused with
`ManifestError`; shards are only ever read in memory."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from ssamba.data import index_shards
from ssamba.data.pipeline import SHARD_OFFSET, SHARD_SIZE
from ssamba.errors import ManifestError

ROW = json.dumps({"audio": "k.wav", "label": "x"}).encode()


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "") -> tuple:
    return name, kind, data, link


def write_tar(path: Path, members: list[tuple]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, kind, data, link in members:
            info = tarfile.TarInfo(name)
            info.type, info.size, info.linkname = kind, len(data) if kind == tarfile.REGTYPE else 0, link
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return path


GOOD = [member("k.wav", data=b"RIFF"), member("k.json", data=ROW)]

UNSAFE = [
    pytest.param(member("../x.wav", data=b"RIFF"), "'..'", id="dot_dot"),
    pytest.param(member("a/../../x.json", data=ROW), "'..'", id="dot_dot_inside"),
    pytest.param(member("/tmp/x.wav", data=b"RIFF"), "absolute", id="absolute"),
    pytest.param(member("..\\x.wav", data=b"RIFF"), "'..'", id="backslash_dot_dot"),
    pytest.param(member("C:x.wav", data=b"RIFF"), "absolute", id="drive_letter"),
    pytest.param(member("k2.wav", tarfile.SYMTYPE, link="/etc/passwd"), "link", id="symlink"),
    pytest.param(member("k2.wav", tarfile.SYMTYPE, link="../../x"), "link", id="relative_symlink"),
    pytest.param(member("k2.wav", tarfile.LNKTYPE, link="k.wav"), "link", id="hardlink"),
    pytest.param(member("k2.wav", tarfile.CHRTYPE), "device", id="char_device"),
    pytest.param(member("k2.wav", tarfile.FIFOTYPE), "device", id="fifo"),
]


@pytest.mark.parametrize(("bad", "problem"), UNSAFE)
def test_unsafe_member_refuses_the_shard(tmp_path, bad, problem):
    folder = tmp_path / "shards"
    folder.mkdir()
    shard = write_tar(folder / "shard-000000.tar", [*GOOD, bad])
    with pytest.raises(ManifestError) as info:
        index_shards(shard)
    message = str(info.value)
    assert str(shard) in message and repr(bad[0]) in message and "refused" in message and problem in message
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["shard-000000.tar", "shards"]  # nothing written


def test_safe_shard_with_subfolders_is_read_in_memory(tmp_path):
    shard = write_tar(
        tmp_path / "s.tar", [member("d/", tarfile.DIRTYPE), *[(f"d/{m[0]}", *m[1:]) for m in GOOD]]
    )
    (entry,) = index_shards(shard, require_labels=True)
    data = shard.read_bytes()[entry.extra[SHARD_OFFSET] :][: entry.extra[SHARD_SIZE]]
    assert (entry.where, entry.label, data) == (f"{shard} member d/k", "x", b"RIFF")
    assert [p.name for p in tmp_path.iterdir()] == ["s.tar"]


@pytest.mark.parametrize("cut", [0, 100, 700], ids=["empty", "in_header", "in_data"])
def test_corrupt_shard_raises_manifest_error_naming_it(tmp_path, cut):
    shard = write_tar(tmp_path / "s.tar", [member("k.wav", data=bytes(3000)), member("k.json", data=ROW)])
    shard.write_bytes(shard.read_bytes()[:cut])
    with pytest.raises(ManifestError, match="s.tar"):
        index_shards(shard)
