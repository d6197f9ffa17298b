"""Front-end features: Kaldi-compatible log-mel fbank, padding/cropping and normalisation."""

from __future__ import annotations

from ssamba.features.frontend import (
    FEATURE_PRESETS,
    FeatureConfig,
    compute_fbank,
    extract_features,
    feature_preset,
    normalize,
    pad_or_crop,
)
from ssamba.features.kaldi import kaldi_fbank, num_frames

__all__ = [
    "FEATURE_PRESETS",
    "FeatureConfig",
    "compute_fbank",
    "extract_features",
    "feature_preset",
    "kaldi_fbank",
    "normalize",
    "num_frames",
    "pad_or_crop",
]
