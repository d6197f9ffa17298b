"""Dataset normalisation constants (fbank mean and std) following the AST recipe."""

from __future__ import annotations

import math

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ssamba.data.manifests import Manifest
from ssamba.data.pipeline import load_entry, log_mel
from ssamba.features import FeatureConfig


class _LogMelSums(Dataset):
    """Per clip: (count, sum, sum of squares) of its padded, unnormalised log-mel."""

    def __init__(self, manifest: Manifest, config: FeatureConfig) -> None:
        self.manifest = manifest
        self.config = config

    def __len__(self) -> int:
        return len(self.manifest)

    def __getitem__(self, index: int) -> torch.Tensor:
        waveform = load_entry(self.manifest[index], self.config.sample_rate)
        values = log_mel(waveform, self.config).double()
        return torch.stack([torch.tensor(values.numel()), values.sum(), values.square().sum()])


def compute_stats(
    manifest: Manifest, feature_config: FeatureConfig, *, num_workers: int = 0
) -> tuple[float, float]:
    """(mean, std) over all values of every clip's fbank padded/cropped to `target_length`.

    As in the AST recipe: padding zeros (log-mel domain) count, no augmentation, no
    normalisation. The std is the population std (ddof 0) over all values, accumulated in float64.
    """
    loader = DataLoader(_LogMelSums(manifest, feature_config), batch_size=None, num_workers=num_workers)
    total = torch.zeros(3, dtype=torch.float64)
    for sums in tqdm(loader, total=len(manifest), desc="fbank stats", unit="clip", disable=None):
        total += sums
    count, value_sum, square_sum = total.tolist()
    mean = value_sum / count
    return mean, math.sqrt(max(square_sum / count - mean * mean, 0.0))
