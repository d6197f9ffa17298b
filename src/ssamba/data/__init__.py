"""Data: manifests, label maps, datasets, augmentation, samplers, shards and dataset statistics."""

from __future__ import annotations

from ssamba.data.augment import AugmentConfig
from ssamba.data.datasets import AudioClipDataset, SizedDataset, SkipBadClips, collate_skip_none
from ssamba.data.labels import LabelMap, check_labels, psla_weights, read_class_csv
from ssamba.data.manifests import Manifest, ManifestEntry, read_manifest, write_manifest
from ssamba.data.samplers import ResumableSampler, WeightedDistributedSampler
from ssamba.data.scan import MANIFEST_PRESETS, build_manifest, parse_split_rule, preset_options
from ssamba.data.shards import index_shards, write_shards
from ssamba.data.ssast_format import read_ssast_datafile
from ssamba.data.stats import compute_stats

__all__ = [
    "MANIFEST_PRESETS",
    "AudioClipDataset",
    "AugmentConfig",
    "LabelMap",
    "Manifest",
    "ManifestEntry",
    "ResumableSampler",
    "SizedDataset",
    "SkipBadClips",
    "WeightedDistributedSampler",
    "build_manifest",
    "check_labels",
    "collate_skip_none",
    "compute_stats",
    "index_shards",
    "parse_split_rule",
    "preset_options",
    "psla_weights",
    "read_class_csv",
    "read_manifest",
    "read_ssast_datafile",
    "write_manifest",
    "write_shards",
]
