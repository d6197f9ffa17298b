"""Tar shards: members, indexed random access, brace patterns, unsafe members and corrupt clips."""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ssamba.data import AudioClipDataset, LabelMap, Manifest, SkipBadClips, index_shards, write_shards
from ssamba.data.shards import expand_braces, resolve_shards, sample_key
from ssamba.errors import AudioError, ManifestError


@pytest.fixture(scope="module")
def shard_manifest(small_manifest: Manifest) -> Manifest:
    return Manifest(small_manifest.entries[:13])


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory: pytest.TempPathFactory, shard_manifest: Manifest) -> Path:
    out = tmp_path_factory.mktemp("shards")
    write_shards(shard_manifest, out, shard_size=3, label_map=LabelMap.from_manifest(shard_manifest))
    return out


def _fingerprints(items) -> list[bytes]:
    return [fbank.numpy().tobytes() + target.numpy().tobytes() for fbank, target in items]


def test_index_and_members(shard_dir: Path, shard_manifest: Manifest) -> None:
    index = json.loads((shard_dir / "index.json").read_text())
    assert [s["name"] for s in index["shards"]] == [f"shard-{i:06d}.tar" for i in range(5)]
    assert [s["count"] for s in index["shards"]] == [3, 3, 3, 3, 1] and index["num_clips"] == 13
    members = {}
    for shard in resolve_shards(shard_dir):
        with tarfile.open(shard) as tar:
            members.update({m.name: tar.extractfile(m).read() for m in tar.getmembers()})
    keys = [sample_key(i, e.path) for i, e in enumerate(shard_manifest)]
    assert list(members) == [f"{key}.{ext}" for key in keys for ext in ("wav", "json")]
    for key, entry in zip(keys, shard_manifest, strict=True):
        assert "." not in key and "/" not in key
        assert members[f"{key}.wav"] == entry.path.read_bytes()
        row = json.loads(members[f"{key}.json"])
        assert (row["label"], row["speaker"], row["take"]) == (
            entry.label,
            entry.speaker,
            entry.extra["take"],
        )
    assert LabelMap.from_file(shard_dir / "labels.json") == LabelMap.from_manifest(shard_manifest)


def test_url_forms(shard_dir: Path, tmp_path: Path) -> None:
    assert expand_braces("a-{08..10}-{1..2}.tar") == [
        "a-08-1.tar",
        "a-08-2.tar",
        "a-09-1.tar",
        "a-09-2.tar",
        "a-10-1.tar",
        "a-10-2.tar",
    ]
    names = [p.name for p in resolve_shards(shard_dir / "index.json")]
    assert names == [p.name for p in resolve_shards(str(shard_dir / "shard-{000000..000004}.tar"))]
    assert len(resolve_shards([shard_dir / "shard-000000.tar", shard_dir / "shard-000001.tar"])) == 2
    with pytest.raises(ManifestError, match="not found"):
        resolve_shards(str(shard_dir / "shard-{000000..000009}.tar"))
    with pytest.raises(ManifestError, match="not found"):
        resolve_shards(tmp_path)


def _tar_with(path: Path, member: tarfile.TarInfo, data: bytes = b"x") -> Path:
    with tarfile.open(path, "w") as tar:
        safe = tarfile.TarInfo("ok.json")
        safe.size = 2
        tar.addfile(safe, io.BytesIO(b"{}"))
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


@pytest.mark.parametrize("name", ["../evil.wav", "/tmp/evil.wav", "a/../../evil.wav", "C:evil.wav"])
def test_escaping_member_names_are_refused(tmp_path: Path, name: str) -> None:
    shard = _tar_with(tmp_path / "bad.tar", tarfile.TarInfo(name))
    with pytest.raises(ManifestError, match=r"bad\.tar: unsafe member") as info:
        index_shards(shard)
    assert name in str(info.value)
    assert not (tmp_path.parent / "evil.wav").exists()


def test_link_members_are_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("innocent.wav")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(ManifestError, match="link"):
        index_shards(_tar_with(tmp_path / "link.tar", link))


def test_write_shards_checks_labels(tmp_path: Path, shard_manifest: Manifest) -> None:
    with pytest.raises(ManifestError, match="not in the label map"):
        write_shards(shard_manifest, tmp_path, 2, label_map=LabelMap(("0",)))
    with pytest.raises(ManifestError, match="shard_size"):
        write_shards(shard_manifest, tmp_path, 0)


def test_indexed_shards_give_the_map_dataset_items(shard_dir: Path, shard_manifest: Manifest, feature_config):
    """Random access by member offset: the same items as the manifest, in evaluation and in training."""
    from ssamba.data import AugmentConfig

    label_map = LabelMap.from_file(shard_dir / "labels.json")
    indexed = index_shards(shard_dir, require_labels=True)
    assert [e.targets for e in indexed] == [e.targets for e in shard_manifest]
    assert [e.extra["take"] for e in indexed] == [e.extra["take"] for e in shard_manifest]
    expected = _fingerprints(AudioClipDataset(shard_manifest, label_map, feature_config))
    assert _fingerprints(AudioClipDataset(indexed, label_map, feature_config)) == expected
    augment = AugmentConfig(freqm=8, timem=8, mixup=0.5, noise=True)
    options = dict(train=True, augment=augment, seed=3)
    reference = AudioClipDataset(shard_manifest, label_map, feature_config, **options)
    shards = AudioClipDataset(indexed, label_map, feature_config, **options)
    for dataset in (reference, shards):
        dataset.set_epoch(2)
    assert _fingerprints(shards[i] for i in (4, 0, 12)) == _fingerprints(reference[i] for i in (4, 0, 12))


def test_indexing_a_corrupt_shard_names_it(tmp_path: Path) -> None:
    bad = tmp_path / "shard-000000.tar"
    bad.write_bytes(b"not a tar file at all" * 40)
    with pytest.raises(ManifestError, match="shard-000000.tar"):
        index_shards(bad)


def test_a_corrupt_member_is_skipped_like_a_corrupt_file(tmp_path: Path, shard_manifest, feature_config):
    """One decoding rule for files and shard members: a FLAC cut inside its data is an `AudioError`
    naming the clip, which `SkipBadClips` counts and skips, in a manifest as in a shard."""
    buffer = io.BytesIO()
    sf.write(buffer, np.random.default_rng(0).standard_normal(16000) * 0.1, 16000, format="FLAC")
    cut = tmp_path / "cut.flac"
    cut.write_bytes(buffer.getvalue()[:2000])
    good = shard_manifest.entries[0]
    files = Manifest((good, dataclasses.replace(good, path=cut)))
    write_shards(files, tmp_path / "shards", shard_size=2)
    shards = index_shards(tmp_path / "shards")
    for manifest, where in ((files, "cut.flac"), (shards, r"shard-000000\.tar member 00000001_cut")):
        with pytest.raises(AudioError, match=f"{where}: cannot read audio data .*truncated"):
            AudioClipDataset(manifest, None, feature_config)[1]
        dataset = SkipBadClips(AudioClipDataset(manifest, None, feature_config))
        assert dataset[1] is None and dataset[0] is not None and dataset.skipped == 1
