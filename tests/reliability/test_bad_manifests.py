"""Bad manifests: `read_manifest` raises `ManifestError` naming the file, every bad line and the problem."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import soundfile as sf

from ssamba.data import read_manifest
from ssamba.errors import ManifestError

ROW_A = '{"audio": "a.wav", "label": "x"}'
ROW_B = '{"audio": "b.wav", "label": "x"}'

# (manifest content: str lines or raw bytes, read_manifest options, substrings of the error)
CASES = [
    pytest.param([ROW_A, '{"audio": "b.wav", "label": '], {}, ["line 2", "not valid JSON"], id="bad_json"),
    pytest.param(["[1, 2]"], {}, ["line 1", "expected a JSON object"], id="not_an_object"),
    pytest.param(['{"label": "x"}'], {}, ["line 1", "missing 'audio'"], id="missing_audio"),
    pytest.param(['{"audio": "a.wav"}'], {}, ["line 1", "neither 'label' nor 'labels'"], id="missing_label"),
    pytest.param(['{"audio": "a.wav", "label": 3}'], {}, ["line 1", "'label' must be"], id="label_not_str"),
    pytest.param(
        ['{"audio": "a.wav", "labels": ["x", "x"]}'], {}, ["line 1", "repeats a label"], id="repeated_labels"
    ),
    pytest.param(
        [ROW_A, '{"audio": "b.wav", "label": "y"}'],
        {"label_set": {"x"}},
        ["line 2", "unknown label", "'y'"],
        id="unknown_label",
    ),
    pytest.param([ROW_A, ROW_B, ROW_A], {}, ["line 3", "duplicate of line 1"], id="duplicate"),
    pytest.param(
        ['{"audio": "nope.wav", "label": "x"}'],
        {},
        ["line 1", "audio file not found", "nope.wav"],
        id="no_file",
    ),
    pytest.param(
        ['{"audio": "a.wav", "label": "x", "start": 2, "end": 1}'],
        {},
        ["line 1", "before"],
        id="end_before_start",
    ),
    pytest.param(
        ['{"audio": "a.wav", "label": "x", "start": NaN}'], {}, ["line 1", "'start' must be"], id="nan_start"
    ),
    pytest.param([], {}, ["no valid clips"], id="empty"),
    pytest.param(["", "   "], {}, ["no valid clips"], id="blank_lines"),
    pytest.param(
        [ROW_A, "{oops", ROW_B, '{"audio": "a.wav", "label": "z"}'],
        {},
        ["2 bad row(s)", "line 2: not valid JSON", "line 4: duplicate of line 1"],
        id="every_bad_row_listed",
    ),
    pytest.param(ROW_A.encode() + b"\n\xff\xfe\n", {}, ["line 2", "UTF-8"], id="not_utf8"),
    pytest.param(
        ['{"audio": "a.wav", "label": "x", "n": ' + "9" * 5000 + "}"],
        {},
        ["line 1"],
        id="huge_integer",
    ),
    pytest.param(["[" * 100_000], {}, ["line 1"], id="deep_nesting"),
    pytest.param(
        ['{"audio": "%s.wav", "label": "x"}' % ("n" * 300)],
        {},
        ["line 1", "audio file not found"],
        id="name_too_long",
    ),
]


def write_manifest_text(folder, content) -> object:
    """Write `content` (lines or bytes) as `clips.jsonl` next to two valid 1 s audio files."""
    for name in ("a.wav", "b.wav"):
        sf.write(folder / name, np.zeros(16000, np.float32), 16000)
    path = folder / "clips.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else "".join(f"{x}\n" for x in content).encode())
    return path


@pytest.mark.parametrize(("content", "options", "expected"), CASES)
def test_bad_manifest_raises_manifest_error_naming_lines(tmp_path, content, options, expected):
    path = write_manifest_text(tmp_path, content)
    with pytest.raises(ManifestError) as info:
        read_manifest(path, **options)
    message = str(info.value)
    assert str(path) in message
    for text in expected:
        assert text in message


@pytest.mark.parametrize(("content", "options", "expected"), [case for case in CASES if not case.values[1]])
def test_cli_validate_reports_bad_manifest_cleanly(tmp_path, cli_error, content, options, expected):
    path = write_manifest_text(tmp_path, content)
    err = cli_error(["data", "validate", str(path)])
    assert all(text in err for text in expected), err


def test_cli_debug_re_raises_manifest_error(tmp_path, cli_error):
    path = write_manifest_text(tmp_path, [ROW_A, "{oops"])
    cli_error(["data", "validate", str(path)], debug=True, raises=ManifestError)


def test_missing_manifest_file(tmp_path):
    with pytest.raises(ManifestError, match="manifest file not found"):
        read_manifest(tmp_path / "nope.jsonl")


def test_skip_bad_drops_rows_with_a_warning_naming_the_line(tmp_path, caplog):
    path = write_manifest_text(tmp_path, [ROW_A, "{oops", ROW_B])
    with caplog.at_level(logging.WARNING):
        manifest = read_manifest(path, skip_bad=True)
    assert [entry.path.name for entry in manifest] == ["a.wav", "b.wav"]
    assert "line 2" in caplog.text and "row skipped" in caplog.text


def test_code_in_a_manifest_stays_a_string(tmp_path):
    """Fields are data: nothing is evaluated, imported or expanded."""
    marker = tmp_path / "ran"
    code = f"__import__('os').system('touch {marker}')"
    row = {
        "audio": "a.wav",
        "label": code,
        "speaker": "${HOME}",
        "note": "__import__('os')",
        "x": {"y": code},
    }
    path = write_manifest_text(tmp_path, [json.dumps(row)])
    entry = read_manifest(path)[0]
    assert entry.label == code and entry.speaker == "${HOME}"
    assert entry.extra == {"note": "__import__('os')", "x": {"y": code}}
    assert not marker.exists()
