"""Hub download from a local cache laid out like the Hub, and upload through a recording fake API."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import ssamba
from ssamba.integrations.hub import model_card


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
    assert "pipeline_tag: audio-classification" in card
    again = ssamba.from_pretrained(tmp_path / "uploaded")
    assert again.config == tiny_model.config


def test_model_card_of_a_feature_extractor():
    model = ssamba.create_model("ssamba_tiny", task="pretrain", depth=2)
    card = model_card(model)
    assert "pipeline_tag: feature-extraction" in card and '"family": "ssamba"' in card
