"""Issue 17.1: every numeric CLI option is checked before any work: a usage error naming the option
(exit 2, no traceback), never uninitialised output (`embed --batch-size -1`) or a late traceback."""

from __future__ import annotations

import contextlib
import io

import pytest
from tiny_runs import save_classifier, write_clips

from ssamba.cli.main import main
from ssamba.features import FeatureConfig
from ssamba.inference import Embedder
from ssamba.models import create_model


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    """A classifier folder, a manifest and one of its clips."""
    folder = tmp_path_factory.mktemp("options")
    manifest = write_clips(folder / "data")
    return {
        "model": str(save_classifier(folder / "model")),
        "manifest": str(manifest),
        "clip": str(manifest.parent / "clip0.wav"),
    }


# (command words with {model}/{manifest}/{clip}/{out}, the option, its bad value)
CASES = [
    *[(["embed", "{clip}", "--model", "{model}", "--out", "{out}"], "--batch-size", v) for v in ("-1", "0")],
    *[
        (["embed", "{clip}", "--model", "{model}", "--out", "{out}"], "--hop-ms", v)
        for v in ("0", "-5", "nan", "1e-6", "inf", "fast")
    ],
    *[
        (["evaluate", "--model", "{model}", "--manifest", "{manifest}", "--out", "{out}"], "--batch-size", v)
        for v in ("0", "-1", "2.5")
    ],
    *[(["predict", "--model", "{model}", "{clip}"], "--top-k", v) for v in ("-1", "0")],
    (["export", "onnx", "{model}", "{out}/m.onnx"], "--frames", "0"),
    (["export", "onnx", "{model}", "{out}/m.onnx"], "--batch", "-2"),
    (["bench", "--out", "{out}"], "--tokens", "16,-8"),
    (["bench", "--out", "{out}"], "--batch", "0"),
    (["bench", "--out", "{out}"], "--repeats", "0"),
    (["bench", "--out", "{out}"], "--warmup", "-1"),
    (["bench", "--out", "{out}"], "--retries", "-1"),
    (["bench", "--out", "{out}"], "--time-budget", "nan"),
    (["bench", "--out", "{out}"], "--threads", "0"),
    (["data", "stats", "{manifest}", "--out", "{out}/s.json"], "--num-workers", "-1"),
    (["data", "stats", "{manifest}", "--out", "{out}/s.json"], "--sample-rate", "0"),
    (["data", "stats", "{manifest}", "--out", "{out}/s.json"], "--target-length", "-3"),
    (["data", "shard", "{manifest}", "{out}"], "--shard-size", "-1"),
    (["quickstart", "--data", "{out}", "--out", "{out}"], "--labels-per-class", "0"),
    (["quickstart", "--data", "{out}", "--out", "{out}"], "--depth", "-2"),
    (["quickstart", "--data", "{out}", "--out", "{out}"], "--seed", "-1"),
    (["quickstart", "--data", "{out}", "--out", "{out}"], "--steps-scale", "inf"),
]


@pytest.mark.parametrize(("words", "option", "value"), CASES, ids=[f"{c[0][0]}{c[1]}={c[2]}" for c in CASES])
def test_bad_numeric_option_is_a_usage_error_before_any_work(inputs, tmp_path, words, option, value):
    out = tmp_path / "out"
    argv = [w.format(out=out, **inputs) for w in words] + [option, value]
    stderr, stdout = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stderr(stderr),
        contextlib.redirect_stdout(stdout),
        pytest.raises(SystemExit) as info,
    ):
        main(argv)
    err = stderr.getvalue()
    assert info.value.code == 2, err
    assert f"error: argument {option}: " in err and repr(value.split(",")[-1]) in err, err
    assert "Traceback" not in err and stdout.getvalue() == ""
    assert not out.exists()  # nothing written


def test_valid_spellings_are_accepted(inputs, tmp_path):
    out = tmp_path / "out"
    argv = ["embed", inputs["clip"], "--model", inputs["model"], "--out", str(out)]
    assert main([*argv, "--hop-ms", "2.5e1", "--batch-size", "1"]) == 0
    index = (out / "index.json").read_text()
    assert '"hop_ms": 25.0' in index


@pytest.mark.parametrize(
    ("hop_ms", "batch_size"), [(0.0, 4), (float("nan"), 4), (float("inf"), 4), (50.0, 0), (50.0, -1)]
)
def test_embedder_refuses_impossible_settings(hop_ms, batch_size):
    model = create_model("ssast_tiny", input_tdim=128, depth=1)
    with pytest.raises(ValueError, match="hop_ms|batch_size"):
        Embedder(model, FeatureConfig(target_length=128), hop_ms, batch_size)
