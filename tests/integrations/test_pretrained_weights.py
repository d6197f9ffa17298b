"""Pretrained tags end to end against a local HTTP server: download, resume, checksum, cache, offline."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

import ssamba
from ssamba.cli.main import main
from ssamba.errors import CheckpointError, DownloadError
from ssamba.integrations.download import download
from ssamba.models import weights as weights_module
from ssamba.models.registry import PRETRAINED_WEIGHTS, pretrained_entry
from ssamba.models.weights import fetch_pretrained

REPO = Path(__file__).resolve().parents[2]
HUB_PATH = "/attentionisallyouneed369/ssamba/resolve/main/ssamba_tiny_400.pth"


@pytest.fixture(scope="module")
def official(fixtures_dir: Path) -> Path:
    """The official checkpoints (../shared/fixtures/official)."""
    return fixtures_dir / "official"


@pytest.fixture(scope="module")
def ssamba_pth(official: Path) -> Path:
    return official / "ssamba_official_pretrain.pth"


@pytest.fixture(scope="module")
def ssast_pth(official: Path) -> Path:
    return official / "ssast_official_pretrain.pth"


class _Handler(BaseHTTPRequestHandler):
    """GET with `Range: bytes=N-` support; can cut one reply short or ignore ranges."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        data = server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and not server.ignore_range:
            start = int(match[1])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.cut_after is not None:
            body, server.cut_after = body[: server.cut_after], None
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests, httpd.cut_after, httpd.ignore_range = {}, [], None, False
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty ssamba cache, no mirror, online."""
    for name in ("SSAMBA_WEIGHTS_URL", "HF_ENDPOINT", "HF_HUB_OFFLINE", "SSAMBA_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(weights_module, "ssamba_cache", lambda: tmp_path / "cache")
    return tmp_path / "cache"


def _assert_same_model(model, expected):
    """Same architecture and geometry, bit-identical weights."""
    assert model.config == expected.config
    reference = expected.state_dict()
    assert sorted(model.state_dict()) == sorted(reference)
    for key, value in model.state_dict().items():
        if not key.startswith("head."):  # a fresh head is random
            torch.testing.assert_close(value, reference[key], rtol=0, atol=0, msg=key)


def test_download_resumes_with_a_range_request_after_an_interrupted_transfer(
    server, tmp_path, cache, ssamba_pth
):
    data = ssamba_pth.read_bytes()
    server.files["/ckpt.pth"] = data
    server.cut_after = len(data) // 3
    dest = tmp_path / "ckpt.pth"
    with pytest.raises(DownloadError, match="run again to resume"):
        download(f"{server.url}/ckpt.pth", dest)
    assert not dest.exists() and (tmp_path / "ckpt.pth.part").stat().st_size == len(data) // 3
    digest = download(f"{server.url}/ckpt.pth", dest, hashlib.sha256(data).hexdigest())
    assert server.requests[1] == ("/ckpt.pth", f"bytes={len(data) // 3}-")
    assert dest.read_bytes() == data and digest == hashlib.sha256(data).hexdigest()
    assert not (tmp_path / "ckpt.pth.part").exists()


def test_a_server_that_ignores_the_range_gets_the_file_rewritten_from_the_start(
    server, tmp_path, cache, ssast_pth
):
    data = ssast_pth.read_bytes()
    server.files["/f.pth"] = data
    server.ignore_range = True
    (tmp_path / "f.pth.part").write_bytes(b"garbage that is not a prefix")
    download(f"{server.url}/f.pth", tmp_path / "f.pth")
    assert (tmp_path / "f.pth").read_bytes() == data


def test_checksum_mismatch_is_a_clear_error_and_leaves_nothing_cached(server, cache, monkeypatch, ssamba_pth):
    server.files["/ssamba_tiny_400.pth"] = ssamba_pth.read_bytes()
    entry = replace(PRETRAINED_WEIGHTS["ssamba_tiny_400"], sha256="0" * 64)
    monkeypatch.setitem(PRETRAINED_WEIGHTS, "ssamba_tiny_400", entry)
    with pytest.raises(DownloadError, match=f"sha256 mismatch \\(expected {'0' * 64}, got "):
        fetch_pretrained("ssamba_tiny_400", base_url=server.url)
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_a_correct_pin_is_accepted(server, cache, monkeypatch, ssast_pth):
    data = ssast_pth.read_bytes()
    server.files["/SSAST-Tiny-Patch-400.pth"] = data
    entry = replace(PRETRAINED_WEIGHTS["ssast_tiny_patch_400"], sha256=hashlib.sha256(data).hexdigest())
    monkeypatch.setitem(PRETRAINED_WEIGHTS, "ssast_tiny_patch_400", entry)
    folder = fetch_pretrained("ssast_tiny", base_url=server.url)
    assert folder == cache / "weights" / "ssast_tiny_patch_400"
    model = ssamba.create_model("ssast_tiny_patch_400", pretrained=True, input_tdim=128, num_classes=4)
    official = ssamba.load_official(ssast_pth, input_tdim=128, num_classes=4)
    _assert_same_model(model, official)
    assert model.config.patch_stride == (10, 10) and model.num_classes == 4


def test_hub_download_is_converted_once_and_then_served_offline(server, cache, monkeypatch, ssamba_pth):
    data = ssamba_pth.read_bytes()
    server.files[HUB_PATH] = data
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    model = ssamba.create_model("ssamba_tiny_400", pretrained=True, input_tdim=128)
    assert [path for path, _ in server.requests] == [HUB_PATH]
    folder = cache / "weights" / "ssamba_tiny_400"
    source = json.loads((folder / "source.json").read_text())
    assert source["sha256"] == hashlib.sha256(data).hexdigest()
    assert source["url"] == server.url + HUB_PATH
    assert (folder / "model.safetensors").is_file()
    assert not (cache / "downloads" / "ssamba_tiny_400.pth").exists()
    _assert_same_model(model, ssamba.load_official(ssamba_pth, input_tdim=128))

    server.shutdown()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("ssamba.models.weights.read_official", _must_not_convert)
    pretrainer = ssamba.create_model("ssamba_tiny", pretrained=True, task="pretrain")
    raw = torch.load(ssamba_pth, weights_only=True)
    for key, value in pretrainer.state_dict().items():  # independent key mapping (spec 5.2)
        official_key = "module." + key.replace("encoder.", "v.", 1)
        official_key = official_key.replace("disc_head.", "cpredlayer.").replace("gen_head.", "gpredlayer.")
        torch.testing.assert_close(value, raw[official_key], rtol=0, atol=0)
    assert pretrainer.config.input_tdim == int(raw["module.p_input_tdim"]) == 1024
    assert len(server.requests) == 1


def _must_not_convert(*args, **kwargs):
    raise AssertionError("a cache hit must not convert again")


def test_offline_cache_miss_is_a_clear_error_without_network(server, cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError, match="offline mode is on"):
        fetch_pretrained("ssamba_tiny_400", base_url=server.url)
    assert server.requests == [] and not cache.exists()


def test_a_file_of_the_wrong_model_is_refused_and_not_cached(server, cache, ssast_pth):
    server.files["/ssamba_tiny_400.pth"] = ssast_pth.read_bytes()
    with pytest.raises(CheckpointError, match="not the ssamba_tiny that tag ssamba_tiny_400 names"):
        fetch_pretrained("ssamba_tiny_400", base_url=server.url)
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_torch_hub_and_cli_resolve_the_tag(server, cache, monkeypatch, tmp_path, fsdd_dir, ssamba_pth):
    server.files["/ssamba_tiny_400.pth"] = ssamba_pth.read_bytes()
    monkeypatch.setenv("SSAMBA_WEIGHTS_URL", server.url)
    hub_model = torch.hub.load(str(REPO), "ssamba_tiny", source="local", pretrained=True, input_tdim=128)
    _assert_same_model(hub_model, ssamba.load_official(ssamba_pth, input_tdim=128))
    clip = sorted((fsdd_dir / "recordings").glob("*.wav"))[0]
    assert main(["embed", str(clip), "--model", "ssamba_tiny_400", "--out", str(tmp_path / "emb")]) == 0
    assert (tmp_path / "emb" / f"{clip.stem}.scene.npy").is_file()
    assert len(server.requests) == 1


def test_cli_reports_an_offline_miss_as_a_user_error(cache, monkeypatch, tmp_path, fsdd_dir, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clip = sorted((fsdd_dir / "recordings").glob("*.wav"))[0]
    assert main(["embed", str(clip), "--model", "ssast_tiny_frame_400", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "ssamba: error: SSAST-Tiny-Frame-400.pth is not cached and offline mode is on" in err
    assert "Traceback" not in err


def test_every_model_tag_names_a_registered_model_and_a_pretraining_file():
    assert ssamba.list_models(pretrained=True) == sorted(PRETRAINED_WEIGHTS)
    for tag, entry in PRETRAINED_WEIGHTS.items():
        assert entry.model in ssamba.list_models() and entry.filename.endswith(".pth"), tag
    assert pretrained_entry("ssast_base_frame").tag == "ssast_base_frame_400"
    with pytest.raises(ssamba.ConfigError, match="no pretrained weights for 'ssast_small_frame'"):
        pretrained_entry("ssast_small_frame")


def test_finetune_init_accepts_a_tag(server, cache, monkeypatch, official):
    from ssamba.training.init import init_classifier_from

    frame_pth = official / "ssast_frame_official_pretrain.pth"
    server.files["/SSAST-Tiny-Frame-400.pth"] = frame_pth.read_bytes()
    monkeypatch.setenv("SSAMBA_WEIGHTS_URL", server.url)
    model = init_classifier_from(
        "ssast_tiny_frame_400", "ssast_tiny_frame", 3, input_tdim=128, overrides={"patch_stride": (128, 1)}
    )
    _assert_same_model(model, ssamba.load_official(frame_pth, input_tdim=128, num_classes=3))
