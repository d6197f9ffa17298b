"""Bad configurations: unknown keys, wrong types and impossible values raise errors naming the key;
config files are parsed as data only (YAML `safe_load`), never as code."""

from __future__ import annotations

import dataclasses
import random

import pytest

from ssamba.dataclass_io import from_dict, load_config
from ssamba.errors import ConfigError
from ssamba.features import FeatureConfig
from ssamba.models.config import ModelConfig
from ssamba.models.masking import cluster_mask, random_mask


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A nested config, like the training recipes: errors must give the dotted key."""

    features: FeatureConfig = FeatureConfig()
    model: ModelConfig | None = None


# (dataclass, data, substrings of the ConfigError)
BAD_DICTS = [
    pytest.param(
        FeatureConfig, {"smaple_rate": 1}, ["smaple_rate", "valid keys", "sample_rate"], id="unknown"
    ),
    pytest.param(Recipe, {"features": {"smaple_rate": 1}}, ["features.smaple_rate"], id="unknown_nested"),
    pytest.param(FeatureConfig, {"sample_rate": "16000"}, ["'sample_rate'", "integer"], id="str_for_int"),
    pytest.param(FeatureConfig, {"target_length": True}, ["'target_length'"], id="bool_for_int"),
    pytest.param(FeatureConfig, {"num_mel_bins": 128.0}, ["'num_mel_bins'"], id="float_for_int"),
    pytest.param(FeatureConfig, {"std": "high"}, ["'std'", "number"], id="str_for_float"),
    pytest.param(Recipe, {"features": [1]}, ["'features'", "mapping"], id="list_for_section"),
    pytest.param(Recipe, {"features": {"std": "x"}}, ["'features.std'"], id="nested_type"),
    pytest.param(
        Recipe,
        {"model": {"family": "ssamba", "depth": "2"}},
        ["'model.depth'", "integer"],
        id="optional_nested_type",
    ),
    pytest.param(FeatureConfig, {"std": 0}, ["std", "positive"], id="std_zero"),
    pytest.param(FeatureConfig, {"std": -1.0}, ["std", "positive"], id="std_negative"),
    pytest.param(FeatureConfig, {"std": float("nan")}, ["std"], id="std_nan"),
    pytest.param(FeatureConfig, {"mean": float("inf")}, ["mean", "finite"], id="mean_inf"),
    pytest.param(
        FeatureConfig, {"target_length": 8}, ["target_length", "16"], id="target_shorter_than_patch"
    ),
    pytest.param(FeatureConfig, {"sample_rate": 4000}, ["sample_rate"], id="rate_too_low"),
    pytest.param(FeatureConfig, {"num_mel_bins": 2}, ["num_mel_bins"], id="too_few_bins"),
    pytest.param(FeatureConfig, {"frame_length_ms": 5.0}, ["frame_length_ms"], id="frame_shorter_than_shift"),
    pytest.param(ModelConfig, {}, ["family"], id="missing_required"),
    pytest.param(ModelConfig, {"family": "cnn"}, ["'family'", "'cnn'"], id="bad_literal"),
    pytest.param(ModelConfig, {"family": "ssamba", "depth": 23}, ["depth", "even"], id="odd_ssamba_depth"),
    pytest.param(
        ModelConfig, {"family": "ssast", "input_tdim": 8}, ["input_tdim", "patch"], id="tdim_lt_patch"
    ),
    pytest.param(
        ModelConfig, {"family": "ssast", "patch_shape": [16]}, ["patch_shape", "2 items"], id="tuple"
    ),
    pytest.param(
        ModelConfig, {"family": "ssast", "patch_stride": [0, 10]}, ["patch_stride"], id="zero_stride"
    ),
    pytest.param(ModelConfig, {"family": "ssast", "drop_path_rate": 1.0}, ["drop_path_rate"], id="drop_path"),
    pytest.param(ModelConfig, {"family": "ssast", "num_classes": -1}, ["num_classes"], id="negative_classes"),
    pytest.param(ModelConfig, {"family": "ssast", "embed_dim": 100}, ["num_heads"], id="heads_not_divisor"),
    pytest.param(ModelConfig, {"family": "ssamba", "norm": "batch"}, ["'norm'"], id="bad_norm"),
    pytest.param(
        FeatureConfig,
        {1: 2},
        ["1", "valid keys"],
        id="int_key",
    ),
    pytest.param(
        ModelConfig,
        {"family": "ssast", "num_heads": 0},
        ["num_heads"],
        id="zero_heads",
    ),
    pytest.param(
        ModelConfig,
        {"family": "ssast", "patch_shape": [0, 0]},
        ["patch_shape"],
        id="zero_patch",
    ),
]


@pytest.mark.parametrize(("cls", "data", "expected"), BAD_DICTS)
def test_bad_config_dict_raises_config_error_naming_the_key(cls, data, expected):
    with pytest.raises(ConfigError) as info:
        from_dict(cls, data)
    for text in expected:
        assert text in str(info.value)


@pytest.mark.parametrize(
    ("num_patches", "num_masked"),
    [(100, 400), (100, 100), (100, 0), (1, 1)],
    ids=["more", "all", "none", "one"],
)
def test_cluster_mask_rejects_impossible_counts(num_patches, num_masked):
    with pytest.raises(ValueError, match=f"cannot mask {num_masked} of {num_patches} patches"):
        cluster_mask(random.Random(0), num_patches, num_masked, time_patches=10)


def test_random_mask_rejects_more_than_all_patches():
    with pytest.raises(ValueError, match="cannot mask 101 of 100 patches"):
        random_mask(random.Random(0), 100, 101)


# (file name, text with {marker} for a file that code execution would create, substrings of the error)
BAD_FILES = [
    pytest.param("c.yaml", "smaple_rate: 16000\n", ["smaple_rate", "valid keys"], id="unknown_key"),
    pytest.param("c.yaml", "std: high\n", ["'std'"], id="wrong_type"),
    pytest.param("c.yaml", "std: -1\n", ["std", "positive"], id="impossible"),
    pytest.param("c.yaml", "std: [1\n", ["cannot parse config"], id="yaml_syntax"),
    pytest.param("c.json", '{"std": }', ["cannot parse config"], id="json_syntax"),
    pytest.param("c.yaml", "- 1\n", ["expected a mapping"], id="top_level_list"),
    pytest.param(
        "c.yaml", "!!python/object/apply:os.system ['touch {marker}']\n", ["cannot parse"], id="python_apply"
    ),
    pytest.param(
        "c.yaml", "std: !!python/object/apply:os.system ['touch {marker}']\n", ["cannot"], id="py_value"
    ),
    pytest.param("c.yaml", "mean: !!python/name:os.system\n", ["cannot parse"], id="python_name"),
    pytest.param("c.yaml", "1: 2\n", ["unknown key(s) 1"], id="int_key"),  # JSON round trip makes it "1"
]


@pytest.mark.parametrize(("name", "text", "expected"), BAD_FILES)
def test_bad_config_file_raises_config_error_naming_file(tmp_path, name, text, expected):
    path, marker = tmp_path / name, tmp_path / "code_ran"
    path.write_text(text.replace("{marker}", str(marker)), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(FeatureConfig, path)
    assert str(path) in str(info.value)
    for item in expected:
        assert item in str(info.value)
    assert not marker.exists()


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(FeatureConfig, tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param(["std"], "expected key=value", id="no_equals"),
        pytest.param(["std=0"], "std", id="impossible"),
        pytest.param(["smaple_rate=1"], "smaple_rate", id="unknown"),
        pytest.param(["std=1", "std.x=1"], "not a section", id="not_a_section"),
        pytest.param(["std=["], "std", id="unparsable"),
        pytest.param(["std=!!python/object/apply:os.getcwd []"], "std", id="python_tag"),
    ],
)
def test_bad_override_raises_config_error(overrides, expected):
    with pytest.raises(ConfigError, match=expected):
        load_config(FeatureConfig, None, overrides)
