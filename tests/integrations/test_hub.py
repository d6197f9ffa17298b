"""Hub download from a local cache laid out like the Hub, and upload through a recording fake API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

import ssamba
from ssamba.data.labels import LabelMap
from ssamba.errors import CheckpointError
from ssamba.evaluation import load_classifier
from ssamba.features import FeatureConfig
from ssamba.integrations.hub import model_card
from ssamba.models.pretrained import load_feature_config


@pytest.fixture
def tiny_model():
    torch.manual_seed(0)
    return ssamba.create_model("ssast_tiny", num_classes=3, input_tdim=64, depth=1).eval()


def test_from_pretrained_resolves_a_hub_id_from_the_cache(tmp_path, monkeypatch, tiny_model):
    cache = tmp_path / "hub"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = cache / "models--someone--tiny-ssast" / "snapshots" / commit
    tiny_model.save_pretrained(snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    loaded = ssamba.from_pretrained("someone/tiny-ssast").eval()
    fbank = torch.randn(1, 64, 128)
    with torch.no_grad():
        torch.testing.assert_close(loaded(fbank), tiny_model(fbank), rtol=0, atol=0)


class RecordingApi:
    def __init__(self, target: Path) -> None:
        self.target = target
        self.calls = []

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, folder_path, repo_id, commit_message):
        self.calls.append(("upload_folder", repo_id, commit_message))
        shutil.copytree(folder_path, self.target)
        return f"https://huggingface.co/{repo_id}/commit/abc"


def test_push_to_hub_uploads_weights_config_and_card(tmp_path, tiny_model):
    api = RecordingApi(tmp_path / "uploaded")
    url = tiny_model.push_to_hub("me/model", metrics={"accuracy": 0.97}, api=api, private=True)
    assert url.endswith("/commit/abc")
    assert api.calls[0] == (
        "create_repo",
        "me/model",
        {"private": True, "exist_ok": True, "repo_type": "model"},
    )
    uploaded = {p.name for p in (tmp_path / "uploaded").iterdir()}
    assert uploaded == {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"}
    card = (tmp_path / "uploaded" / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: ssamba") and "| accuracy | 0.9700 |" in card
    assert "pipeline_tag: audio-classification" in card and 'from_pretrained("me/model")' in card
    again = ssamba.from_pretrained(tmp_path / "uploaded")
    assert again.config == tiny_model.config


def test_model_card_of_a_feature_extractor():
    model = ssamba.create_model("ssamba_tiny", task="pretrain", depth=2)
    card = model_card(model)
    assert "pipeline_tag: feature-extraction" in card and '"family": "ssamba"' in card


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_a_classifier_pulled_from_the_hub_predicts_class_names(tmp_path, tiny_model):
    """`push_to_hub` uploads no labels.json: the names travel in config.json (id2label, label2id)."""
    tiny_model.label_map = LabelMap(("siren", "dog bark", "drill"), multi_label=True)
    tiny_model.push_to_hub("me/sounds", api=RecordingApi(tmp_path / "uploaded"))
    uploaded = tmp_path / "uploaded"
    config = json.loads((uploaded / "config.json").read_text())
    assert config["id2label"] == {"0": "siren", "1": "dog bark", "2": "drill"}
    assert config["label2id"] == {"siren": 0, "dog bark": 1, "drill": 2}
    assert config["problem_type"] == "multi_label_classification"
    model, _, label_map = load_classifier(uploaded)
    assert label_map.labels == ("siren", "dog bark", "drill") and label_map.multi_label
    # and again through from_pretrained -> push_to_hub (the names stay on the model)
    model.push_to_hub("me/sounds-2", api=RecordingApi(tmp_path / "again"))
    assert ssamba.from_pretrained(tmp_path / "again").label_map == label_map


def test_model_card_front_matter_for_the_hub(tiny_model):
    tiny_model.label_map = LabelMap(("yes", "no", "up"))
    card = model_card(
        tiny_model,
        metrics={"accuracy": 0.95, "macro_f1": 0.9},
        datasets=["google/speech_commands"],
        license="apache-2.0",
        repo_id="me/kws",
        base_model="me/ssast-tiny-pretrained",
    )
    meta = front_matter(card)
    assert meta["license"] == "apache-2.0" and meta["datasets"] == ["google/speech_commands"]
    assert meta["base_model"] == "me/ssast-tiny-pretrained"
    assert meta["tags"] == ["audio", "self-supervised-learning", "ssast", "ssamba"]
    (entry,) = meta["model-index"]
    (result,) = entry["results"]
    assert entry["name"] == "kws" and result["task"]["type"] == "audio-classification"
    assert result["dataset"]["type"] == "google/speech_commands"
    assert {m["type"]: m["value"] for m in result["metrics"]} == {"accuracy": 0.95, "macro_f1": 0.9}
    assert 'ssamba.from_pretrained("me/kws")' in card and "yes, no, up" in card


def test_model_card_without_results_or_duplicate_tags():
    meta = front_matter(model_card(ssamba.create_model("ssamba_tiny", task="pretrain", depth=2)))
    assert meta["tags"] == ["audio", "self-supervised-learning", "ssamba"]
    assert "model-index" not in meta and "base_model" not in meta and meta["license"] == "mit"


def write_old_folder(model, folder: Path, labels: list[str]) -> None:
    """The layout written before class names moved to config.json (labels.json, our key names)."""
    model.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    old = {key: config[key] for key in ("ssamba_version", "task", "model", "pooling")}
    (folder / "config.json").write_text(json.dumps(old))
    features = {"sample_rate": 16000, "num_mel_bins": 128, "target_length": 64, "mean": -5.0, "std": 3.0}
    (folder / "preprocessor_config.json").write_text(json.dumps(features))
    (folder / "labels.json").write_text(json.dumps({"labels": labels, "multi_label": False}))


def test_folders_written_by_older_versions_still_load(tmp_path, tiny_model):
    write_old_folder(tiny_model, tmp_path, ["a", "b", "c"])
    model, features, label_map = load_classifier(tmp_path)
    assert label_map.labels == ("a", "b", "c") and not label_map.multi_label
    assert (features.target_length, features.mean, features.std) == (64, -5.0, 3.0)
    fbank = torch.randn(1, 64, 128)
    with torch.no_grad():
        torch.testing.assert_close(model(fbank), tiny_model(fbank), rtol=0, atol=0)


def test_preprocessor_config_uses_the_feature_extractor_names(tmp_path, tiny_model):
    features = FeatureConfig(target_length=64, mean=-5.0, std=3.0, high_freq=-200.0)
    tiny_model.save_pretrained(tmp_path, features)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["feature_extractor_type"] == "ASTFeatureExtractor" and saved["do_normalize"] is True
    assert (saved["sampling_rate"], saved["max_length"], saved["num_mel_bins"]) == (16000, 64, 128)
    assert (saved["mean"], saved["std"]) == (-5.0, 3.0)
    assert "sample_rate" not in saved and "target_length" not in saved
    assert load_feature_config(tmp_path) == features


@pytest.mark.parametrize(
    ("id2label", "message"),
    [({"0": "a", "2": "b", "1": "c", "5": "d"}, "keys '0' to '3'"), ({"0": "a", "1": "b"}, "2 class names")],
)
def test_bad_id2label_names_the_problem(tmp_path, tiny_model, id2label, message):
    tiny_model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "id2label": id2label}))
    with pytest.raises(CheckpointError, match=message):
        ssamba.from_pretrained(tmp_path)
