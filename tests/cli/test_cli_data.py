"""`ssamba data ...` through `ssamba.cli.main.main`: outputs, exit codes, clean errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ssamba.cli.main import main


def test_manifest_fsdd_preset(tmp_path: Path, fsdd_dir: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "fsdd.jsonl"
    assert (
        main(["data", "manifest", str(fsdd_dir / "recordings"), "--preset", "fsdd", "--out", str(out)]) == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3000 and not Path(rows[0]["audio"]).is_absolute()
    printed = capsys.readouterr().out
    assert "clips: 3000" in printed and "labels: 10" in printed and "speakers: 6" in printed
    assert "splits: test=300, train=2700" in printed
    absolute = tmp_path / "abs.jsonl"
    args = [
        "data",
        "manifest",
        str(fsdd_dir / "recordings"),
        "--preset",
        "fsdd",
        "--out",
        str(absolute),
        "--absolute-paths",
        "--split-rule",
        "random:0.2",
    ]
    assert main(args) == 0
    rows = [json.loads(line) for line in absolute.read_text().splitlines()]
    assert Path(rows[0]["audio"]).is_absolute()
    assert sum(row["split"] == "valid" for row in rows) == 600


@pytest.fixture()
def small_jsonl(tmp_path: Path, fsdd_dir: Path) -> Path:
    names = ["0_george_5.wav", "1_jackson_7.wav", "2_lucas_9.wav", "3_theo_0.wav", "4_nicolas_3.wav"]
    lines = []
    for i, name in enumerate(names):
        shutil.copy(fsdd_dir / "recordings" / name, tmp_path / name)
        split = "train" if i < 3 else "test"
        lines.append(json.dumps({"audio": name, "label": name[0], "split": split}))
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_stats_writes_config_ready_json(small_jsonl: Path, capsys: pytest.CaptureFixture) -> None:
    from ssamba.data import compute_stats, read_manifest
    from ssamba.features import FeatureConfig

    out = small_jsonl.parent / "stats" / "stats.json"
    args = ["data", "stats", str(small_jsonl), "--target-length", "64", "--split", "train", "--out", str(out)]
    assert main(args) == 0
    result = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == result
    assert set(result) == {"mean", "std", "target_length", "num_clips"}
    assert result["num_clips"] == 3 and result["target_length"] == 64
    train = read_manifest(small_jsonl).select("split", "train")
    mean, std = compute_stats(train, FeatureConfig(target_length=64))
    assert result["mean"] == pytest.approx(mean) and result["std"] == pytest.approx(std)


def test_shard_and_validate(small_jsonl: Path, capsys: pytest.CaptureFixture) -> None:
    outdir = small_jsonl.parent / "shards"
    assert main(["data", "shard", str(small_jsonl), str(outdir), "--shard-size", "2"]) == 0
    assert sorted(p.name for p in outdir.glob("*.tar")) == [f"shard-00000{i}.tar" for i in range(3)]
    assert "wrote 3 shard(s) with 5 clips" in capsys.readouterr().out
    assert main(["data", "validate", str(small_jsonl)]) == 0
    assert "OK" in capsys.readouterr().out


def test_validate_reports_bad_rows_without_traceback(
    small_jsonl: Path, capsys: pytest.CaptureFixture
) -> None:
    bad = small_jsonl.parent / "bad.jsonl"
    bad.write_text(small_jsonl.read_text() + '{"audio": "gone.wav", "label": "1"}\nnot json\n')
    assert main(["data", "validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "2 bad row(s)" in err and "line 6" in err and "line 7" in err
    assert "Traceback" not in err
    clean = small_jsonl.parent / "clean.jsonl"
    assert main(["data", "validate", str(bad), "--skip-bad", "--out", str(clean)]) == 0
    assert len(clean.read_text().splitlines()) == 5


@pytest.mark.parametrize(
    "args",
    [
        ["data", "manifest", "/no/such/dir", "--out", "x.jsonl"],
        ["data", "manifest", ".", "--out", "x.jsonl", "--preset", "nope"],
        ["data", "stats", "/no/such/manifest.jsonl"],
        ["data", "validate", "/no/such/manifest.jsonl"],
    ],
)
def test_user_errors_exit_1_with_a_message(args: list[str], capsys: pytest.CaptureFixture) -> None:
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("ssamba: error:") and "Traceback" not in err


def test_shard_size_must_be_positive(small_jsonl: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["data", "shard", str(small_jsonl), str(small_jsonl.parent / "s"), "--shard-size", "0"])
    assert info.value.code == 2
    assert "argument --shard-size: must be an integer >= 1" in capsys.readouterr().err
    assert not (small_jsonl.parent / "s").exists()
