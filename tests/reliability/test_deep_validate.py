"""`ssamba data validate` decodes every clip (issue 17.7): audio that training could not use is a bad
row named by its line, before any run starts, instead of a crash mid-epoch."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ssamba.cli.main import main
from ssamba.data import manifests

RATE = 16000


def noise(seconds: float) -> np.ndarray:
    return (np.random.default_rng(0).standard_normal(round(seconds * RATE)) * 0.1).astype(np.float32)


def nan_at_half_a_second() -> np.ndarray:
    samples = noise(1.0)
    samples[RATE // 2] = np.nan
    return samples


def write_clips(folder: Path) -> None:
    """good.wav (1 s of noise) and the bad files the cases below point at."""
    sf.write(folder / "good.wav", noise(1.0), RATE)
    (folder / "text.wav").write_text("this is a text file, renamed\n")
    sf.write(folder / "nan.wav", nan_at_half_a_second(), RATE, subtype="FLOAT")
    sf.write(folder / "tiny.wav", noise(0.0005), RATE)  # 8 samples: no 25 ms frame
    sf.write(folder / "silent_tail.wav", np.concatenate([noise(0.5), np.zeros(RATE // 2, np.float32)]), RATE)


def write_manifest(folder: Path, rows: list[dict]) -> Path:
    write_clips(folder)
    path = folder / "clips.jsonl"
    path.write_text("".join(json.dumps({"label": "x", **row}) + "\n" for row in rows))
    return path


GOOD = {"audio": "good.wav"}

CASES = [
    pytest.param({"audio": "text.wav"}, ["text.wav", "cannot decode as audio"], id="text_file_renamed_wav"),
    pytest.param({"audio": "nan.wav"}, ["nan.wav", "1 NaN/Inf sample(s), the first at 0.500 s"], id="nan"),
    pytest.param({"audio": "tiny.wav"}, ["tiny.wav", "shorter than one 25 ms frame"], id="too_short"),
    pytest.param(
        {"audio": "good.wav", "start": 0.5, "end": 1.5},
        ["'end' (1.5 s) is outside the file, which lasts 1.000 s"],
        id="end_past_the_file",
    ),
    pytest.param(
        {"audio": "good.wav", "start": 2.0},
        ["'start' (2.0 s) is outside the file, which lasts 1.000 s"],
        id="start_past_the_file",
    ),
    pytest.param(
        {"audio": "nan.wav", "start": 0.25, "end": 0.75},
        ["nan.wav", "the first at 0.500 s"],
        id="nan_inside_the_segment",
    ),
    pytest.param(
        {"audio": "good.wav", "start": 0.6, "end": 0.4},
        ["'start' (0.6) must be before 'end' (0.4)"],
        id="end_le_start",
    ),
]


@pytest.mark.parametrize(("row", "expected"), CASES)
def test_validate_reports_audio_training_cannot_use(tmp_path, cli_error, row, expected):
    path = write_manifest(tmp_path, [GOOD, row])
    err = cli_error(["data", "validate", str(path)])
    assert f"{path}: 1 bad row(s)" in err and "  line 2: " in err, err
    assert all(text in err for text in expected), err


def test_segments_inside_the_file_and_a_nan_outside_the_segment_pass(tmp_path, capsys):
    rows = [
        GOOD,
        {"audio": "good.wav", "start": 0.5, "end": 1.0},  # ends exactly at the end of the file
        {"audio": "nan.wav", "end": 0.4},  # the NaN at 0.5 s is not in the clip
        {"audio": "silent_tail.wav"},
    ]
    assert main(["data", "validate", str(write_manifest(tmp_path, rows))]) == 0
    assert "clips: 4" in capsys.readouterr().out


def test_every_bad_row_in_one_report_in_line_order(tmp_path, cli_error):
    rows = [
        GOOD,
        {"audio": "nan.wav"},
        {"audio": "missing.wav"},
        {"audio": "text.wav"},
        {"audio": "good.wav"},
    ]
    err = cli_error(["data", "validate", str(write_manifest(tmp_path, rows))])
    lines = [line.split(":")[0].strip() for line in err.splitlines() if line.startswith("  line")]
    assert "4 bad row(s)" in err and lines == ["line 2", "line 3", "line 4", "line 5"], err
    assert "audio file not found" in err and "duplicate of line 1" in err


def test_skip_bad_drops_undecodable_rows_and_writes_the_rest(tmp_path, caplog, capsys):
    path = write_manifest(tmp_path, [{"audio": "text.wav"}, GOOD, {"audio": "nan.wav"}])
    out = tmp_path / "clean.jsonl"
    with caplog.at_level(logging.WARNING):
        assert main(["data", "validate", str(path), "--skip-bad", "--out", str(out)]) == 0
    assert [json.loads(line)["audio"] for line in out.read_text().splitlines()] == ["good.wav"]
    assert "line 1: " in caplog.text and "line 3: " in caplog.text and "clips: 1" in capsys.readouterr().out


def test_no_deep_keeps_the_quick_checks_only(tmp_path, cli_error):
    path = write_manifest(tmp_path, [GOOD, {"audio": "text.wav"}])
    assert main(["data", "validate", str(path), "--no-deep"]) == 0
    cli_error(["data", "validate", str(path), "--deep"])


def test_large_manifests_skip_decoding_by_default_with_a_note(tmp_path, cli_error, monkeypatch, caplog):
    monkeypatch.setattr(manifests, "DEEP_DEFAULT_MAX_ROWS", 2)
    path = write_manifest(tmp_path, [GOOD, {"audio": "text.wav"}])
    with caplog.at_level(logging.WARNING):
        assert main(["data", "validate", str(path)]) == 0
    assert "2 rows (2 or more): the audio was not decoded" in caplog.text and "--deep" in caplog.text
    assert "text.wav" in cli_error(["data", "validate", str(path), "--deep"])


def test_ssast_datafile_is_decoded_too(tmp_path, cli_error):
    write_clips(tmp_path)
    (tmp_path / "classes.csv").write_text("index,mid,display_name\n0,/m/x,x\n")
    datafile = tmp_path / "data.json"
    items = [{"wav": "good.wav", "labels": "/m/x"}, {"wav": "nan.wav", "labels": "/m/x"}]
    datafile.write_text(json.dumps({"data": items}))
    err = cli_error(["data", "validate", str(datafile), "--class-csv", str(tmp_path / "classes.csv")])
    assert "data[1]: " in err and "NaN/Inf" in err
