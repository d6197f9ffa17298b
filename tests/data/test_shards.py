"""Tar shards: round trip, rank/worker partitioning, brace patterns and unsafe members."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from ssamba.data import AudioClipDataset, LabelMap, Manifest, ShardDataset, write_shards
from ssamba.data.shards import expand_braces, iter_shard, resolve_shards, sample_key
from ssamba.errors import ManifestError


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
    samples = [s for shard in resolve_shards(shard_dir) for s in iter_shard(shard)]
    assert [s["__key__"] for s in samples] == [sample_key(i, e.path) for i, e in enumerate(shard_manifest)]
    for sample, entry in zip(samples, shard_manifest, strict=True):
        assert "." not in sample["__key__"] and "/" not in sample["__key__"]
        assert sample["wav"] == entry.path.read_bytes()
        row = json.loads(sample["json"])
        assert (row["label"], row["speaker"], row["take"]) == (
            entry.label,
            entry.speaker,
            entry.extra["take"],
        )
    assert LabelMap.from_file(shard_dir / "labels.json") == LabelMap.from_manifest(shard_manifest)


def test_round_trip_equals_the_map_dataset(shard_dir: Path, shard_manifest: Manifest, feature_config):
    label_map = LabelMap.from_file(shard_dir / "labels.json")
    expected = _fingerprints(AudioClipDataset(shard_manifest, label_map, feature_config))
    streamed = ShardDataset(shard_dir, label_map, feature_config, rank=0, world_size=1)
    assert _fingerprints(streamed) == expected
    shuffled = ShardDataset(
        shard_dir, label_map, feature_config, train=True, shuffle_buffer=4, rank=0, world_size=1
    )
    first = _fingerprints(shuffled)
    assert sorted(first) == sorted(expected) and first != expected
    assert _fingerprints(shuffled) == first
    shuffled.set_epoch(1)
    assert _fingerprints(shuffled) != first


def test_ranks_and_workers_partition_the_items(shard_dir: Path, shard_manifest, feature_config):
    label_map = LabelMap.from_file(shard_dir / "labels.json")
    everything = _fingerprints(AudioClipDataset(shard_manifest, label_map, feature_config))
    parts = []
    for rank in range(2):
        dataset = ShardDataset(
            shard_dir / "shard-{000000..000004}.tar", label_map, feature_config, rank=rank, world_size=2
        )
        loader = DataLoader(dataset, batch_size=None, num_workers=2)
        parts.append(_fingerprints(loader))
    assert all(parts) and len(parts[0]) + len(parts[1]) == 13
    assert sorted(parts[0] + parts[1]) == sorted(everything)


def test_mixup_from_the_shuffle_buffer(shard_dir: Path, feature_config) -> None:
    from ssamba.data import AugmentConfig

    label_map = LabelMap.from_file(shard_dir / "labels.json")
    dataset = ShardDataset(
        shard_dir,
        label_map,
        feature_config,
        train=True,
        shuffle_buffer=5,
        augment=AugmentConfig(mixup=1.0),
        rank=0,
        world_size=1,
    )
    targets = [target for _, target in dataset]
    assert len(targets) == 13
    assert all(t.dtype == torch.float32 and abs(float(t.sum()) - 1) < 1e-6 for t in targets)
    assert sum(int((t > 0).sum()) == 2 for t in targets) >= 6


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
        list(iter_shard(shard))
    assert name in str(info.value)
    assert not (tmp_path.parent / "evil.wav").exists()


def test_link_members_are_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("innocent.wav")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(ManifestError, match="link"):
        list(iter_shard(_tar_with(tmp_path / "link.tar", link)))


def test_write_shards_checks_labels(tmp_path: Path, shard_manifest: Manifest) -> None:
    with pytest.raises(ManifestError, match="not in the label map"):
        write_shards(shard_manifest, tmp_path, 2, label_map=LabelMap(("0",)))
    with pytest.raises(ManifestError, match="shard_size"):
        write_shards(shard_manifest, tmp_path, 0)


def test_indexed_shards_give_the_map_dataset_items(shard_dir: Path, shard_manifest: Manifest, feature_config):
    """Random access by member offset: the same items as the manifest, in evaluation and in training."""
    from ssamba.data import AugmentConfig, index_shards

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
    from ssamba.data import index_shards

    bad = tmp_path / "shard-000000.tar"
    bad.write_bytes(b"not a tar file at all" * 40)
    with pytest.raises(ManifestError, match="shard-000000.tar"):
        index_shards(bad)
