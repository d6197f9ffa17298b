"""Issue 17.10: where a `--model` comes from: a local-looking name that does not exist is "not found"
without asking the Hub; a Hub miss offline is a clear `CheckpointError`; `embed` never falls back to
random weights unless `--random-init` says so."""

from __future__ import annotations

import huggingface_hub
import huggingface_hub.constants
import pytest
from tiny_runs import save_classifier, write_clips

from ssamba.cli.main import main
from ssamba.errors import CheckpointError


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("sources")
    manifest = write_clips(folder / "data", count=2)
    return {"clip": manifest.parent / "clip0.wav", "model": save_classifier(folder / "model")}


@pytest.fixture
def hub_calls(monkeypatch) -> list:
    """Record every Hub download, each failing as it does without network."""
    calls = []

    def unreachable(*args, **kwargs):
        calls.append(args)
        raise huggingface_hub.utils.LocalEntryNotFoundError("cannot reach the Hub (test)")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", unreachable)
    return calls


LOCAL_LOOKING = [
    pytest.param("runs/nope", "the folder runs/ exists here", id="existing_parent"),
    pytest.param("./nope", "starts with '.'", id="dot"),
    pytest.param("../runs/nope", "starts with '.'", id="dotdot"),
    pytest.param("~/nope-ssamba-model", "starts with '~'", id="tilde"),
    pytest.param("{tmp}/nope", "starts with '/'", id="absolute"),
    pytest.param("nope.pth", "ends with .pth", id="pth_suffix"),
    pytest.param("user/model.safetensors", "ends with .safetensors", id="file_suffix"),
    pytest.param("runs/a/b", "more than one '/'", id="nested"),
    pytest.param("runs\\nope", "backslash", id="backslash"),
]


@pytest.mark.parametrize(("source", "reason"), LOCAL_LOOKING)
@pytest.mark.parametrize("command", ["embed", "predict", "evaluate"])
def test_missing_local_looking_model_is_not_found_without_the_hub(
    files, tmp_path, monkeypatch, hub_calls, cli_error, source, reason, command
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    source = source.format(tmp=tmp_path)
    argv = {
        "embed": ["embed", str(files["clip"]), "--model", source, "--out", str(tmp_path / "out")],
        "predict": ["predict", "--model", source, str(files["clip"])],
        "evaluate": [
            "evaluate",
            "--model",
            source,
            "--manifest",
            str(files["clip"].parent / "manifest.jsonl"),
        ],
    }[command]
    err = cli_error(argv)
    assert f"{source}: not a model folder or file: it does not exist" in err and reason in err
    assert hub_calls == []
    cli_error(argv, debug=True, raises=CheckpointError)


def test_hub_id_shaped_name_still_goes_to_the_hub(files, tmp_path, monkeypatch, hub_calls, cli_error):
    monkeypatch.chdir(tmp_path)
    err = cli_error(
        ["embed", str(files["clip"]), "--model", "someone/some-model", "--out", str(tmp_path / "o")]
    )
    assert hub_calls == [("someone/some-model",)]
    assert "someone/some-model: no such local folder, the Hugging Face Hub cannot be reached" in err


def test_offline_hub_miss_is_a_clear_error(files, tmp_path, monkeypatch, cli_error):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub_cache"))
    argv = ["embed", str(files["clip"]), "--model", "someone/not-cached", "--out", str(tmp_path / "o")]
    err = cli_error(argv)
    assert "someone/not-cached" in err and "offline mode is on (HF_HUB_OFFLINE)" in err and "cache" in err
    cli_error(argv, debug=True, raises=CheckpointError)


def test_embed_without_model_is_refused(files, tmp_path, cli_error):
    err = cli_error(["embed", str(files["clip"]), "--out", str(tmp_path / "out")])
    assert "--model" in err and "--random-init" in err
    assert not (tmp_path / "out").exists()


def test_embed_with_an_architecture_name_needs_random_init(files, tmp_path, cli_error):
    err = cli_error(["embed", str(files["clip"]), "--model", "ssast_tiny", "--out", str(tmp_path / "out")])
    assert "architecture" in err and "--random-init" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("options", "loaded"),
    [(["--random-init"], "ssamba_tiny"), (["--random-init", "--model", "ssast_tiny"], "ssast_tiny")],
)
def test_embed_random_init_is_explicit(files, tmp_path, monkeypatch, options, loaded):
    import ssamba.models.loading

    sources = []
    real_loader = ssamba.models.loading.load_encoder

    def tiny_instead(source):  # the named architecture at full size is slow; record it, load the tiny one
        sources.append(source)
        return real_loader(str(files["model"]))

    monkeypatch.setattr(ssamba.models.loading, "load_encoder", tiny_instead)
    assert main(["embed", str(files["clip"]), *options, "--out", str(tmp_path / "out")]) == 0
    assert sources == [loaded]


def test_random_init_takes_architecture_names_only(files, tmp_path, cli_error):
    argv = [
        "embed",
        str(files["clip"]),
        "--random-init",
        "--model",
        str(files["model"]),
        "--out",
        str(tmp_path),
    ]
    assert "--random-init needs an architecture name" in cli_error(argv)


def test_trained_model_folder_is_used(files, tmp_path):
    assert (
        main(["embed", str(files["clip"]), "--model", str(files["model"]), "--out", str(tmp_path / "o")]) == 0
    )
