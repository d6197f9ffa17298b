"""Dataset statistics against a numpy computation."""

from __future__ import annotations

import numpy as np
import pytest

from ssamba.audio import load_audio
from ssamba.data import Manifest, compute_stats
from ssamba.features import FeatureConfig, kaldi_fbank


def test_stats_match_numpy_over_padded_fbanks(small_manifest: Manifest) -> None:
    manifest = Manifest(small_manifest.entries[:6])
    config = FeatureConfig(target_length=40)
    blocks, lengths = [], []
    for entry in manifest:
        waveform = load_audio(entry.path, 16000)
        fbank = (
            kaldi_fbank(
                waveform - waveform.mean(),
                16000,
                num_mel_bins=128,
                window="hanning",
                dither=0.0,
                htk_compat=True,
                use_energy=False,
            )
            .numpy()
            .astype(np.float64)
        )
        padded = np.zeros((40, 128))
        frames = min(40, fbank.shape[0])
        lengths.append(fbank.shape[0])
        padded[:frames] = fbank[:frames]
        blocks.append(padded)
    values = np.stack(blocks)
    assert min(lengths) < 40 < max(lengths)  # both padding and cropping happen
    mean, std = compute_stats(manifest, config)
    assert mean == pytest.approx(values.mean(), abs=1e-5)
    assert std == pytest.approx(values.std(), abs=1e-5)
    assert compute_stats(manifest, config, num_workers=2) == pytest.approx((mean, std), abs=1e-9)
