"""The map-style dataset: features equal an independent call chain; augmentation; bad clips."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from ssamba.audio import load_audio
from ssamba.data import (
    AudioClipDataset,
    AugmentConfig,
    LabelMap,
    Manifest,
    ManifestEntry,
    SkipBadClips,
    collate_skip_none,
    read_manifest,
)
from ssamba.errors import AudioError
from ssamba.features import FeatureConfig, kaldi_fbank


def reference_fbank(
    path: Path, config: FeatureConfig, offset: float = 0.0, duration: float | None = None
) -> torch.Tensor:
    """Unnormalised full-length fbank via load_audio + kaldi_fbank (official options)."""
    waveform = load_audio(path, config.sample_rate, offset=offset, duration=duration)
    waveform = waveform - waveform.mean()
    return kaldi_fbank(
        waveform,
        config.sample_rate,
        num_mel_bins=config.num_mel_bins,
        window="hanning",
        dither=0.0,
        htk_compat=True,
        use_energy=False,
    )


def reference_input(fbank: torch.Tensor, config: FeatureConfig, start: int = 0) -> torch.Tensor:
    frames = fbank[start : start + config.target_length]
    padding = torch.zeros(config.target_length - frames.shape[0], fbank.shape[1])
    return (torch.cat([frames, padding]) - config.mean) / (2 * config.std)


@pytest.fixture(scope="module")
def label_map(fsdd_manifest: Manifest) -> LabelMap:
    return LabelMap.from_manifest(fsdd_manifest)


def test_eval_items_equal_an_independent_chain(small_manifest, label_map, feature_config) -> None:
    dataset = AudioClipDataset(small_manifest, label_map, feature_config)
    assert len(dataset) == 20
    for index in (0, 9, 19):
        fbank, target = dataset[index]
        entry = small_manifest[index]
        assert fbank.shape == (128, 128) and fbank.dtype == torch.float32
        assert target.dtype == torch.long and int(target) == int(entry.label)
        expected = reference_input(reference_fbank(entry.path, feature_config), feature_config)
        torch.testing.assert_close(fbank, expected, atol=1e-5, rtol=0)


def test_segments_use_start_and_end(small_manifest, label_map, feature_config) -> None:
    longest = max(small_manifest, key=lambda e: e.path.stat().st_size)
    entry = dataclasses.replace(longest, start=0.1, end=0.35)
    fbank, _ = AudioClipDataset(Manifest((entry,)), label_map, feature_config)[0]
    reference = reference_fbank(entry.path, feature_config, offset=0.1, duration=0.25)
    assert reference.shape[0] == 1 + (4000 - 400) // 160
    torch.testing.assert_close(fbank, reference_input(reference, feature_config), atol=1e-5, rtol=0)


def test_training_crop_is_random_reproducible_and_per_epoch(small_manifest, label_map) -> None:
    config = FeatureConfig(target_length=32, mean=-6.0, std=5.0)
    entry = max(small_manifest, key=lambda e: e.path.stat().st_size)
    full = reference_fbank(entry.path, config)
    dataset = AudioClipDataset(Manifest((entry,)), label_map, config, train=True, seed=3)
    starts = set()
    for epoch in range(6):
        dataset.set_epoch(epoch)
        fbank, _ = dataset[0]
        assert torch.equal(fbank, dataset[0][0])
        matches = [
            s
            for s in range(full.shape[0] - 31)
            if torch.allclose(fbank, reference_input(full, config, s), atol=1e-5)
        ]
        assert len(matches) == 1
        starts.add(matches[0])
    assert len(starts) > 1
    evaluation = AudioClipDataset(Manifest((entry,)), label_map, config)[0][0]
    torch.testing.assert_close(evaluation, reference_input(full, config, 0), atol=1e-5, rtol=0)


def test_spec_augment_masks_become_minus_mean_over_two_std(small_manifest, label_map, feature_config):
    augment = AugmentConfig(freqm=48, timem=40)
    dataset = AudioClipDataset(small_manifest, label_map, feature_config, train=True, augment=augment)
    masked_value = -feature_config.mean / (2 * feature_config.std)
    clean = AudioClipDataset(small_manifest, label_map, feature_config)
    saw_bins = saw_frames = False
    for index in range(4):
        fbank, _ = dataset[index]
        changed = fbank != clean[index][0]
        assert torch.all(fbank[changed] == masked_value)
        bins = int((fbank == masked_value).all(dim=0).sum())
        padding = (clean[index][0] == masked_value).all(dim=1)
        frames = int(((fbank == masked_value).all(dim=1) & ~padding).sum())
        assert bins < 48 and frames < 40
        saw_bins |= bins > 0
        saw_frames |= frames > 0
    assert saw_bins and saw_frames


def test_mixup_targets_and_noise(small_manifest, label_map, feature_config) -> None:
    augment = AugmentConfig(mixup=1.0, noise=True)
    dataset = AudioClipDataset(small_manifest, label_map, feature_config, train=True, augment=augment)
    for index in range(3):
        fbank, target = dataset[index]
        assert target.dtype == torch.float32 and target.shape == (10,)
        assert float(target.sum()) == pytest.approx(1.0, abs=1e-6)
        assert float(target[int(small_manifest[index].label)]) > 0.2
        assert int((target > 0).sum()) <= 2
        second, again = dataset[index]
        assert torch.equal(fbank, second) and torch.equal(target, again)


def test_multi_label_and_unlabelled_targets(small_manifest, feature_config) -> None:
    rows = [dataclasses.replace(e, label=None, labels=(e.label, "x")) for e in small_manifest[:2]]
    manifest = Manifest(tuple(rows))
    label_map = LabelMap.from_manifest(manifest)
    _, target = AudioClipDataset(manifest, label_map, feature_config)[1]
    assert label_map.multi_label and target.tolist() == label_map.multi_hot(rows[1].labels).tolist()
    _, empty = AudioClipDataset(manifest, None, feature_config)[0]
    assert empty.shape == (0,)


def test_real_noise_mixing(tmp_path: Path, small_manifest, label_map, feature_config) -> None:
    noise = tmp_path / "noise.jsonl"
    noise.write_text(json.dumps({"audio": str(small_manifest[5].path)}) + "\n")
    augment = AugmentConfig(noise_manifest=str(noise), snr_db=(0.0, 0.0), random_crop=False)
    noisy = AudioClipDataset(small_manifest, label_map, feature_config, train=True, augment=augment)
    clean = AudioClipDataset(small_manifest, label_map, feature_config)
    assert not torch.equal(noisy[0][0], clean[0][0])
    assert torch.equal(noisy[0][0], noisy[0][0])


def test_skip_bad_clips_counts_across_workers(tmp_path: Path, small_manifest, label_map, feature_config):
    (tmp_path / "bad.wav").write_bytes(b"RIFF not really a wav")
    entries = [*small_manifest.entries[:5], ManifestEntry(tmp_path / "bad.wav", label="1")]
    dataset = AudioClipDataset(Manifest(tuple(entries)), label_map, feature_config)
    with pytest.raises(AudioError, match="bad.wav"):
        dataset[5]
    wrapped = SkipBadClips(dataset, max_skipped=3)
    loader = DataLoader(wrapped, batch_size=2, num_workers=2, collate_fn=collate_skip_none)
    batches = list(loader)
    assert wrapped.skipped == 1
    assert sum(batch[0].shape[0] for batch in batches) == 5
    wrapped.set_epoch(2)  # forwarded to the wrapped dataset
    assert dataset.epoch == 2
    strict = SkipBadClips(dataset, max_skipped=0)
    with pytest.raises(AudioError, match="max_skipped=0"):
        strict[5]
    assert collate_skip_none([None, None]) is None


def test_dataset_reads_a_written_manifest(tmp_path: Path, small_manifest, label_map, feature_config):
    for entry in small_manifest[:2]:
        shutil.copy(entry.path, tmp_path / entry.path.name)
    lines = [json.dumps({"audio": e.path.name, "label": e.label}) for e in small_manifest[:2]]
    (tmp_path / "m.jsonl").write_text("\n".join(lines))
    dataset = AudioClipDataset(read_manifest(tmp_path / "m.jsonl"), label_map, feature_config)
    reference = AudioClipDataset(small_manifest, label_map, feature_config)
    assert torch.equal(dataset[1][0], reference[1][0])
