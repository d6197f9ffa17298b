"""Bad audio input matrix: each broken file gives an `AudioError` naming the file and the problem,
through the API (`load_audio`, streamed blocks) and the CLI (`embed`, `data stats`)."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from ssamba.audio import iter_audio_blocks, load_audio
from ssamba.errors import AudioError

RATE = 16000
NOISE = (np.random.default_rng(0).standard_normal(RATE) * 0.1).astype(np.float32)
NON_UTF8 = os.fsdecode(b"caf\xe9_\xff")  # undecodable bytes become lone surrogates


def wav_bytes(tag: int = 1, rate: int = RATE, channels: int = 1, bits: int = 16, frames: int = RATE) -> bytes:
    """A hand-made RIFF/WAVE file with any format tag (1 = PCM), filled with silence."""
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    data = bytes(frames * channels * bits // 8)
    body = (
        b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def encoded(fmt: str, samples: np.ndarray = NOISE, rate: int = RATE, subtype: str | None = None) -> bytes:
    """`samples` encoded by libsndfile as WAV/FLAC bytes."""
    import io

    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def with_nonfinite(value: float) -> bytes:
    samples = NOISE.copy()
    samples[RATE // 10] = value  # at 0.100 s
    return encoded("WAV", samples, subtype="FLOAT")


def printable(text: str) -> str:
    """`text` as a real stderr shows it (lone surrogates of undecodable file names backslash-escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


Builder = Callable[[Path, pytest.MonkeyPatch], Path]


def file_with(name: str, content: bytes | Callable[[], bytes]) -> Builder:
    """A builder writing `content` (bytes, or a function giving them) to `name` in the test folder."""

    def build(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        path = folder / name
        path.write_bytes(content() if callable(content) else content)
        return path

    return build


def missing(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return folder / "missing.wav"


def directory(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (folder / "folder.wav").mkdir()
    return folder / "folder.wav"


def too_long(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A name over NAME_MAX (255 bytes): it cannot exist, any access fails with ENAMETOOLONG."""
    return folder / ("n" * 300 + ".wav")


def unreadable(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A valid file that `os.access` says is unreadable (tests run as root, so chmod is not enough)."""
    path = file_with("locked.wav", encoded("WAV"))(folder, monkeypatch)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != path and real_access(p, mode, **kw))
    return path


# (builder, substrings the message must contain besides the path); ids name the case.
BAD_FILES = [
    pytest.param(missing, ["not found"], id="missing"),
    pytest.param(directory, ["not an audio file"], id="directory"),
    pytest.param(file_with("blank.wav", b""), ["empty"], id="empty"),
    pytest.param(file_with("zero.wav", encoded("WAV", NOISE[:0])), ["holds no samples"], id="zero_length"),
    pytest.param(file_with("header.wav", encoded("WAV")[:44]), ["holds no samples"], id="header_only"),
    pytest.param(
        file_with("cut.wav", encoded("WAV")[:30]), ["cannot decode", "truncated"], id="truncated_wav"
    ),
    pytest.param(file_with("cut.flac", encoded("FLAC")[:20]), ["cannot decode"], id="truncated_flac_header"),
    pytest.param(
        file_with("cut.flac", lambda: encoded("FLAC")[:2000]),
        ["truncated"],
        id="truncated_flac",
    ),
    pytest.param(file_with("notes.wav", b"just some text\n" * 20), ["not audio"], id="text_as_wav"),
    pytest.param(file_with("image.wav", b"\x89PNG\r\n\x1a\n" + bytes(200)), ["not audio"], id="png_as_wav"),
    pytest.param(
        file_with("noise.flac", np.random.default_rng(1).bytes(4096)),
        ["cannot decode"],
        id="random_bytes_flac",
    ),
    pytest.param(file_with("nan.wav", with_nonfinite(np.nan)), ["NaN/Inf", "0.100 s"], id="nan"),
    pytest.param(file_with("inf.wav", with_nonfinite(np.inf)), ["NaN/Inf", "0.100 s"], id="inf"),
    pytest.param(
        file_with("one.wav", encoded("WAV", NOISE[:1])), ["shorter than one 25 ms"], id="one_sample"
    ),
    pytest.param(file_with("codec.wav", wav_bytes(tag=0x1234)), ["cannot decode"], id="unknown_codec"),
    pytest.param(file_with("slow.wav", wav_bytes(rate=4000)), ["sample rate 4000 Hz"], id="rate_4khz"),
    pytest.param(unreadable, ["permission denied"], id="unreadable"),
    pytest.param(too_long, ["too long"], id="name_too_long"),
    pytest.param(file_with(NON_UTF8 + ".wav", b"text"), ["not audio"], id="non_utf8_name"),
]


LOADERS = {
    "load_audio": load_audio,
    "stream": lambda path: torch.cat(list(iter_audio_blocks(path, block_seconds=0.25))),
}


def build(builder: Builder, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    try:
        return builder(folder, monkeypatch)
    except OSError as exc:  # a file system that refuses such names (not Linux): nothing to test
        pytest.skip(f"cannot create the test file here: {exc}")


@pytest.mark.parametrize("loader", LOADERS.values(), ids=list(LOADERS))
@pytest.mark.parametrize(("builder", "expected"), BAD_FILES)
def test_bad_file_raises_audio_error_naming_file_and_problem(
    tmp_path, monkeypatch, loader, builder, expected
):
    path = build(builder, tmp_path, monkeypatch)
    with pytest.raises(AudioError) as info:
        loader(path)
    message = str(info.value)
    assert str(path) in message
    problem = message.replace(str(path), "")  # the file name must not satisfy the check
    for text in expected:
        assert text in problem


@pytest.mark.parametrize(("builder", "expected"), BAD_FILES)
def test_cli_embed_reports_bad_file_cleanly(
    tmp_path, monkeypatch, cli_error, tiny_model_dir, builder, expected
):
    path = build(builder, tmp_path, monkeypatch)
    err = cli_error(["embed", str(path), "--model", str(tiny_model_dir), "--out", str(tmp_path / "out")])
    assert printable(path.name) in err


@pytest.mark.parametrize(("builder", "expected"), BAD_FILES)
def test_cli_data_stats_reports_bad_file_cleanly(tmp_path, monkeypatch, cli_error, builder, expected):
    path = build(builder, tmp_path, monkeypatch)
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text(json.dumps({"audio": path.name, "label": "x"}) + "\n", encoding="utf-8")
    err = cli_error(["data", "stats", str(manifest), "--target-length", "128"])
    assert printable(path.name) in err


@pytest.mark.parametrize("command", ["embed", "stats"])
def test_debug_flag_re_raises_the_audio_error(tmp_path, monkeypatch, cli_error, tiny_model_dir, command):
    path = file_with("nan.wav", with_nonfinite(np.nan))(tmp_path, monkeypatch)
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text(json.dumps({"audio": path.name, "label": "x"}) + "\n", encoding="utf-8")
    args = {
        "embed": ["embed", str(path), "--model", str(tiny_model_dir), "--out", str(tmp_path / "out")],
        "stats": ["data", "stats", str(manifest), "--target-length", "128"],
    }[command]
    cli_error(args, debug=True, raises=AudioError)


def test_all_zero_audio_loads(tmp_path):
    path = tmp_path / "silence.wav"
    path.write_bytes(encoded("WAV", np.zeros(RATE, np.float32)))
    waveform = load_audio(path)
    assert waveform.dtype == torch.float32 and waveform.shape == (RATE,) and not waveform.any()


def test_eight_channels_are_averaged(tmp_path):
    path = tmp_path / "octo.wav"
    gains = np.arange(1, 9, dtype=np.float32) / 8
    path.write_bytes(encoded("WAV", NOISE[:, None] * gains, subtype="FLOAT"))
    waveform = load_audio(path)
    np.testing.assert_allclose(waveform.numpy(), NOISE * gains.mean(), rtol=1e-5, atol=1e-7)
    assert load_audio(path, mono=False).shape == (8, RATE)


def test_192khz_is_resampled(tmp_path):
    path = tmp_path / "hi.wav"
    t = np.arange(192000) / 192000
    path.write_bytes(encoded("WAV", (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), 192000, "FLOAT"))
    waveform = load_audio(path, sample_rate=RATE)
    expected = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(RATE) / RATE)
    assert waveform.shape == (RATE,)
    np.testing.assert_allclose(waveform[100:-100].numpy(), expected[100:-100], atol=1e-3)


def test_wav_cut_inside_the_data_loads_the_samples_present(tmp_path):
    """libsndfile tolerates a data chunk shorter than its header says: the present samples load."""
    path = tmp_path / "cut.wav"
    path.write_bytes(encoded("WAV", NOISE, subtype="PCM_16")[: 44 + 2 * 8000])
    np.testing.assert_allclose(load_audio(path).numpy(), NOISE[:8000], atol=1 / 32768)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("n" * 251 + ".wav", id="name_255_bytes"),
        pytest.param(NON_UTF8 + ".wav", id="non_utf8_name"),
    ],
)
def test_unusual_but_valid_file_names_load(tmp_path, monkeypatch, name):
    path = build(file_with(name, encoded("WAV")), tmp_path, monkeypatch)
    assert load_audio(path).shape == (RATE,)


def flac_claiming_billions_of_frames() -> bytes:
    """A valid FLAC whose STREAMINFO total-samples field (36 bits from byte 21) says ~51.5e9 frames."""
    data = bytearray(encoded("FLAC", NOISE[:1600]))
    data[21] = (data[21] & 0xF0) | 0x0C
    return bytes(data)


@pytest.mark.parametrize(
    "loader",
    [
        pytest.param(
            LOADERS["load_audio"],
            id="load_audio",
        ),
        pytest.param(LOADERS["stream"], id="stream"),
    ],
)
def test_header_claiming_huge_length_does_not_allocate_it(tmp_path, monkeypatch, loader):
    path = file_with("bomb.flac", flac_claiming_billions_of_frames())(tmp_path, monkeypatch)
    requested, real_read = [], sf.SoundFile.read

    def spy(self, frames=-1, *args, **kwargs):
        requested.append(frames)
        return real_read(self, frames, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", spy)
    try:
        waveform = loader(path)
    except AudioError as exc:
        assert str(path) in str(exc)
    else:
        assert waveform.shape[0] <= RATE
    assert all(0 <= frames <= 60 * RATE for frames in requested), requested  # bounded reads only
