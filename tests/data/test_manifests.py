"""Manifest building (FSDD), reading/writing and the validation of every kind of bad row."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from ssamba.data import Manifest, build_manifest, parse_split_rule, read_manifest, write_manifest
from ssamba.data.scan import FieldRule, RandomRule
from ssamba.errors import ConfigError, ManifestError


def test_fsdd_preset_builds_the_official_split(fsdd_manifest: Manifest) -> None:
    assert len(fsdd_manifest) == 3000
    assert fsdd_manifest.label_names() == [str(d) for d in range(10)]
    assert len(fsdd_manifest.counts("speaker")) == 6
    assert fsdd_manifest.counts("split") == {"test": 300, "train": 2700}
    assert not fsdd_manifest.multi_label
    for entry in fsdd_manifest:
        digit, speaker, take = entry.path.stem.split("_")
        assert (entry.label, entry.speaker, entry.extra["take"]) == (digit, speaker, int(take))
        assert entry.split == ("test" if int(take) <= 4 else "train")


def test_select_and_counts(fsdd_manifest: Manifest) -> None:
    test = fsdd_manifest.select("split", "test")
    assert len(test) == 300 and {e.split for e in test} == {"test"}
    assert len(fsdd_manifest.select("speaker", ["george", "theo"])) == 1000
    assert sum(test.counts("label").values()) == 300
    with pytest.raises(ManifestError, match="values present"):
        fsdd_manifest.select("split", "valid")


def test_round_trip_relative_and_absolute(tmp_path: Path, small_manifest: Manifest) -> None:
    relative = write_manifest(small_manifest, tmp_path / "sub" / "m.jsonl")
    rows = [json.loads(line) for line in relative.read_text().splitlines()]
    assert not Path(rows[0]["audio"]).is_absolute()
    assert rows[0]["take"] == small_manifest[0].extra["take"]
    absolute = write_manifest(small_manifest, tmp_path / "a.jsonl", absolute_paths=True)
    assert Path(json.loads(absolute.read_text().splitlines()[0])["audio"]).is_absolute()
    for path in (relative, absolute):
        again = read_manifest(path)
        assert [e.path.resolve() for e in again] == [e.path.resolve() for e in small_manifest]
        assert [e.to_row() for e in again] == [e.to_row() for e in small_manifest]


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _bad_manifest(tmp_path: Path, wav: Path) -> tuple[Path, dict[int, str]]:
    shutil.copy(wav, tmp_path / "a.wav")
    shutil.copy(wav, tmp_path / "b.wav")
    lines = {
        1: '{"audio": "a.wav", "label": "x"}',
        2: '{"audio": "a.wav", "label": ',
        3: "[1, 2]",
        4: '{"label": "x"}',
        5: '{"audio": "missing.wav", "label": "x"}',
        6: '{"audio": "b.wav", "label": "x", "labels": ["x"]}',
        7: '{"audio": "b.wav"}',
        8: '{"audio": "b.wav", "label": "zebra"}',
        9: '{"audio": "b.wav", "label": "x", "start": 2.0, "end": 1.0}',
        10: '{"audio": "a.wav", "label": "y"}',
        11: '{"audio": "b.wav", "labels": ["x", "y"], "start": 0.0, "end": 0.1}',
    }
    expected = {
        2: "not valid JSON",
        3: "expected a JSON object",
        4: "missing 'audio'",
        5: "audio file not found",
        6: "both 'label' and 'labels'",
        7: "neither 'label' nor 'labels'",
        8: "unknown label",
        9: "must be before 'end'",
        10: "duplicate of line 1",
    }
    return _write_lines(tmp_path / "m.jsonl", [lines[i] for i in sorted(lines)]), expected


def test_every_bad_row_is_reported_with_its_line(tmp_path: Path, fsdd_dir: Path) -> None:
    path, expected = _bad_manifest(tmp_path, fsdd_dir / "recordings" / "0_george_0.wav")
    with pytest.raises(ManifestError) as info:
        read_manifest(path, label_set={"x", "y"})
    message = str(info.value)
    assert f"{len(expected)} bad row(s)" in message
    reported = [line.strip() for line in message.splitlines()[1:]]
    assert [int(line.split(":")[0].split()[1]) for line in reported] == sorted(expected)
    for line, (number, problem) in zip(reported, sorted(expected.items()), strict=True):
        assert line.startswith(f"line {number}:") and problem in line


def test_skip_bad_drops_rows_with_a_warning_each(
    tmp_path: Path, fsdd_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, expected = _bad_manifest(tmp_path, fsdd_dir / "recordings" / "0_george_0.wav")
    with caplog.at_level(logging.WARNING):
        manifest = read_manifest(path, skip_bad=True, label_set={"x", "y"})
    assert [e.where for e in manifest] == ["line 1", "line 11"]
    assert manifest.multi_label and manifest[1].targets == ("x", "y")
    assert len(caplog.records) == len(expected)
    for record, number in zip(caplog.records, sorted(expected), strict=True):
        assert f"line {number}:" in record.getMessage()


def test_unlabelled_rows_allowed_when_labels_are_not_required(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "m.jsonl", ['{"audio": "x.wav", "extra": 1}', ""])
    manifest = read_manifest(path, check_files=False, require_labels=False)
    assert manifest[0].targets == () and manifest[0].extra == {"extra": 1}


def test_listing_is_capped_with_a_count(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "m.jsonl", ['{"label": "x"}'] * 30)
    with pytest.raises(ManifestError, match=r"30 bad row\(s\)[\s\S]*\.\.\. and 10 more"):
        read_manifest(path)


@pytest.mark.parametrize("text", ["", "\n\n"])
def test_empty_manifest_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(text)
    with pytest.raises(ManifestError, match="no valid clips"):
        read_manifest(path)
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "nope.jsonl")


def test_label_from_parent_folder(tmp_path: Path, fsdd_dir: Path) -> None:
    for name, folder in [("0_george_0.wav", "zero"), ("1_theo_3.wav", "one")]:
        (tmp_path / "data" / folder).mkdir(parents=True)
        shutil.copy(fsdd_dir / "recordings" / name, tmp_path / "data" / folder / name)
    (tmp_path / "data" / "notes.txt").write_text("not audio")
    manifest = build_manifest(tmp_path / "data", speaker_regex=r"_(?P<speaker>[a-z]+)_")
    assert [(e.label, e.speaker) for e in manifest] == [("one", "theo"), ("zero", "george")]
    shutil.copy(fsdd_dir / "recordings" / "2_lucas_0.wav", tmp_path / "data" / "loose.wav")
    with pytest.raises(ManifestError, match="loose.wav: is not inside a class folder"):
        build_manifest(tmp_path / "data")


def test_build_errors(tmp_path: Path, fsdd_dir: Path) -> None:
    recordings = fsdd_dir / "recordings"
    with pytest.raises(ManifestError, match="directory not found"):
        build_manifest(tmp_path / "missing")
    with pytest.raises(ManifestError, match="no audio files"):
        build_manifest(tmp_path)
    with pytest.raises(ConfigError, match="not a valid regex"):
        build_manifest(recordings, label_from="regex", label_regex="(")
    with pytest.raises(ConfigError, match="named group"):
        build_manifest(recordings, label_from="regex", label_regex=r"(\d)_")
    with pytest.raises(ManifestError, match=r"3000 file\(s\)[\s\S]*does not match"):
        build_manifest(recordings, label_from="regex", label_regex=r"^(?P<label>x)")
    with pytest.raises(ManifestError, match="matches no split"):
        build_manifest(
            recordings,
            label_from="regex",
            label_regex=r"^(?P<label>\d)_(?P<speaker>[a-z]+)_(?P<take>\d+)",
            split_rule="field:take,test=0-4,train=5-40",
        )


def test_split_rules(fsdd_manifest: Manifest) -> None:
    assert parse_split_rule("field:take,test=0-4,train=5-49") == FieldRule(
        "take", (("test", 0, 4), ("train", 5, 49)), ()
    )
    by_speaker = parse_split_rule("field:speaker,test=theo,train=george")
    assert by_speaker.assign(fsdd_manifest.entries[:1]) == ["train"]
    rule = parse_split_rule("random:0.1,seed=3")
    assert rule == RandomRule(0.1, 3)
    splits = rule.assign(fsdd_manifest.entries)
    assert splits.count("valid") == 300 and splits.count("train") == 2700
    assert splits == rule.assign(fsdd_manifest.entries)
    assert splits != RandomRule(0.1, 4).assign(fsdd_manifest.entries)
    for bad in ["take", "field:take", "field:take,test", "random:1.5", "random:x", "random:0.1,k=2"]:
        with pytest.raises(ConfigError, match="split rule"):
            parse_split_rule(bad)
