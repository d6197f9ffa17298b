"""load_audio / audio_info: FSDD against the fbank fixtures, and every kind of bad file."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

import ssamba.audio.io as audio_io
from ssamba.audio import audio_info, load_audio
from ssamba.errors import AudioError
from ssamba.features import kaldi_fbank


def write(path: Path, data: np.ndarray, rate: int, subtype: str = "PCM_16") -> Path:
    sf.write(path, data, rate, subtype=subtype)
    return path


def noise(frames: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    data = np.random.default_rng(seed).uniform(-0.5, 0.5, (frames, channels)).astype(np.float32)
    return data[:, 0] if channels == 1 else data


def test_fsdd_int16_is_scaled_like_torchaudio(fsdd_dir: Path, fixtures_dir: Path) -> None:
    path = fsdd_dir / "recordings" / "0_jackson_0.wav"
    wave = load_audio(path, sample_rate=None)
    assert wave.dtype == torch.float32
    fixture = load_file(fixtures_dir / "fbank" / "d_8k_64bins_fsdd_0_jackson_0_float.safetensors")[
        "waveform"
    ][0]
    assert torch.equal(wave, fixture)
    pcm, _ = sf.read(path, dtype="int16")
    assert torch.equal(wave, torch.from_numpy(pcm.astype(np.float32) / 32768))


def test_fsdd_info(fsdd_dir: Path) -> None:
    path = fsdd_dir / "recordings" / "9_theo_16.wav"
    info = audio_info(path)
    assert (info.sample_rate, info.num_frames, info.channels) == (8000, 18262, 1)
    assert info.duration_s == pytest.approx(18262 / 8000)


@pytest.mark.parametrize("name", ["0_jackson_0", "6_jackson_47"])
def test_fsdd_resampled_to_16k_close_to_the_fixture(name: str, fsdd_dir: Path, fixtures_dir: Path) -> None:
    """The fixture used torchaudio's sinc resampler: compare only loosely and in the passband."""
    tensors = load_file(fixtures_dir / "fbank" / f"a_preset_fsdd_{name}_float.safetensors")
    wave = load_audio(fsdd_dir / "recordings" / f"{name}.wav")
    assert wave.shape == (2 * audio_info(fsdd_dir / "recordings" / f"{name}.wav").num_frames,)
    assert wave.shape == tensors["waveform"][0].shape
    assert (wave - tensors["waveform"][0]).abs().max().item() < 3e-2
    fbank = kaldi_fbank(wave - wave.mean())
    # Mel filters ending below 3 kHz, where both resamplers are flat (soxr HQ's passband ends
    # near 3.65 kHz, torchaudio's at 3.96 kHz; above that the two differ by several log units).
    mel_low, mel_high = (1127 * math.log(1 + f / 700) for f in (20.0, 8000.0))
    delta = (mel_high - mel_low) / 129
    passband = [b for b in range(128) if 700 * (math.exp((mel_low + (b + 2) * delta) / 1127) - 1) < 3000]
    assert len(passband) > 80
    assert (fbank[:, passband] - tensors["fbank"][:, passband]).abs().max().item() < 0.1


def test_96k_is_resampled(tmp_path: Path) -> None:
    t = np.arange(96000 + 37) / 96000
    path = write(
        tmp_path / "tone.wav", (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), 96000, "FLOAT"
    )
    wave = load_audio(path)
    assert wave.shape == (round((96000 + 37) / 6),)
    expected = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(len(wave)) / 16000)
    middle = slice(1000, len(wave) - 1000)  # away from the resampler's edge transients
    assert np.abs(wave.numpy()[middle] - expected[middle]).max() < 1e-3
    assert load_audio(path, sample_rate=None).shape == (96037,)


def test_six_channels_are_averaged(tmp_path: Path) -> None:
    data = noise(4000, channels=6)
    path = write(tmp_path / "six.wav", data, 16000, "FLOAT")
    mono = load_audio(path)
    assert mono.shape == (4000,)
    np.testing.assert_allclose(mono.numpy(), data.astype(np.float64).mean(axis=1), atol=1e-7)
    every = load_audio(path, mono=False)
    assert every.shape == (6, 4000)
    assert torch.equal(every, torch.from_numpy(data.T.copy()))
    assert load_audio(path, sample_rate=8000, mono=False).shape == (6, 2000)


def test_flac_and_wav_decode_alike(tmp_path: Path) -> None:
    data = (noise(3000, channels=2) * 65535).astype(np.int16)  # int: no writer-side rounding
    wav = write(tmp_path / "a.wav", data, 22050)
    flac = write(tmp_path / "a.flac", data, 22050)
    assert torch.equal(load_audio(wav), load_audio(flac))


def test_partial_read_is_a_slice_of_the_full_read(tmp_path: Path) -> None:
    path = write(tmp_path / "clip.wav", noise(8000 * 3, channels=2), 8000)
    full = load_audio(path, sample_rate=None, mono=False)
    part = load_audio(path, sample_rate=None, mono=False, offset=0.5, duration=1.25)
    assert torch.equal(part, full[:, 4000:14000])
    tail = load_audio(path, sample_rate=None, offset=2.5, duration=10.0)
    torch.testing.assert_close(tail, full.mean(0)[20000:], atol=1e-7, rtol=0)
    assert load_audio(path, offset=0.5, duration=1.25).shape == (20000,)


def test_truncated_data_keeps_the_samples_present(tmp_path: Path) -> None:
    path = write(tmp_path / "full.wav", noise(8000), 8000)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(path.read_bytes()[: 44 + 2 * 3000])
    assert torch.equal(load_audio(cut, sample_rate=None), load_audio(path, sample_rate=None)[:3000])


def bad_file(tmp_path: Path, kind: str) -> Path:
    """Write one kind of broken audio file and return its path."""
    path = tmp_path / f"{kind}.wav"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is a text file renamed to .wav\n" * 20)
    elif kind == "header_only":
        write(path, np.zeros(0, dtype=np.int16), 16000)
    elif kind == "truncated_header":
        write(path, noise(1000), 16000)
        path.write_bytes(path.read_bytes()[:30])
    elif kind in ("nan", "inf"):
        data = noise(16000)
        data[12345] = np.nan if kind == "nan" else np.inf
        write(path, data, 16000, "FLOAT")
    elif kind == "short":
        write(path, noise(199), 8000)  # 398 samples at 16 kHz: less than one 400-sample frame
    elif kind == "low_rate":
        write(path, noise(4000), 4000)
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty", r"is empty \(0 bytes\)"),
        ("text", "cannot decode"),
        ("truncated_header", "cannot decode"),
        ("header_only", "no samples"),
        ("nan", r"1 NaN/Inf sample\(s\), the first at 0.772 s"),
        ("inf", "NaN/Inf"),
        ("short", r"24.9 ms \(398 samples at 16000 Hz\).*25 ms"),
        ("low_rate", "4000 Hz is outside"),
    ],
)
def test_bad_files_raise_audio_error(tmp_path: Path, kind: str, message: str) -> None:
    path = bad_file(tmp_path, kind)
    with pytest.raises(AudioError, match=message) as caught:
        load_audio(path)
    assert str(path) in str(caught.value)
    if kind not in ("nan", "inf", "short"):  # these need the samples, not just the header
        with pytest.raises(AudioError, match=message):
            audio_info(path)


def test_short_is_judged_after_resampling(tmp_path: Path) -> None:
    path = write(tmp_path / "ok.wav", noise(200), 8000)
    assert load_audio(path).shape == (400,)
    with pytest.raises(AudioError, match="25 ms"):
        load_audio(path, sample_rate=None, duration=0.02)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="nope.wav: audio file not found"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="not an audio file"):
        audio_info(tmp_path)


def test_unreadable_file(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path / "locked.wav", noise(1000), 16000)
    if os.geteuid() != 0:  # root reads anything, so exercise the real permission bits only as a user
        path.chmod(0)
        with pytest.raises(AudioError, match="permission denied"):
            load_audio(path)
        path.chmod(0o644)
    monkeypatch.setattr(audio_io.os, "access", lambda *_args, **_kwargs: False)
    with pytest.raises(AudioError, match="locked.wav: permission denied"):
        audio_info(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample_rate": 4000}, "sample_rate=4000"),
        ({"sample_rate": 384000}, "sample_rate=384000"),
        ({"offset": -1.0}, "offset"),
        ({"duration": 0.0}, "duration"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    path = write(tmp_path / "ok.wav", noise(1000), 16000)
    with pytest.raises(ValueError, match=message):
        load_audio(path, **kwargs)


def test_offset_past_the_end(tmp_path: Path) -> None:
    path = write(tmp_path / "ok.wav", noise(1600), 16000)
    with pytest.raises(AudioError, match=r"offset 0.1 s is at or past the end .*0.100 s"):
        load_audio(path, offset=0.1)
