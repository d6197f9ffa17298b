"""`ssamba bench` end to end on tiny models: consistent CSV, JSON, markdown ratios and figures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import ssamba.ops
from ssamba.bench.report import ratios
from ssamba.cli.main import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    argv = ["bench", "--models", "ssast_tiny,ssamba_tiny", "--tokens", "16,32", "--batch", "1"]
    argv += [
        "--repeats",
        "2",
        "--retries",
        "0",
        "--device",
        "cpu",
        "--malloc",
        "default",
        "--set",
        "depth=2",
        "--set",
        "embed_dim=48",
    ]
    assert main([*argv, "--out", str(out)]) == 0
    return out


def test_csv_rows_match_json_records(out: Path) -> None:
    records = json.loads((out / "results.json").read_text())
    with (out / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(records) == len(rows) == 6  # ssamba + ssast x {sdpa, eager}, 2 sizes each
    for record, row in zip(records, rows, strict=True):
        assert record["status"] == "ok" and row["status"] == "ok"
        assert (row["model"], row["attn"], int(row["tokens"])) == (
            record["model"],
            record["attn"],
            record["tokens"],
        )
        assert float(row["latency_s_median"]) == pytest.approx(record["latency_s_median"])
        assert record["latency_s_min"] <= record["latency_s_median"]
        assert record["frames"] == 2 * record["tokens"] and record["stride"] == 16
        assert record["peak_mem_bytes"] > 0
        assert record["throughput_tokens_s"] == pytest.approx(record["tokens"] / record["latency_s_median"])
    assert {r["scan_backend"] for r in records if r["model"] == "ssamba_tiny"} <= {"cpu", "reference"}
    assert {r["attn"] for r in records if r["model"] == "ssamba_tiny"} == {"-"}


def test_ratios_come_from_the_records(out: Path) -> None:
    records = json.loads((out / "results.json").read_text())
    stored = json.loads((out / "ratios.json").read_text())
    assert stored == ratios(records) and len(stored) == 4
    by_key = {(r["model"], r["attn"], r["tokens"]): r for r in records}
    markdown = (out / "results.md").read_text()
    for row in stored:
        mamba, ast = (
            by_key["ssamba_tiny", "-", row["tokens"]],
            by_key["ssast_tiny", row["attn"], row["tokens"]],
        )
        assert row["time_ratio"] == pytest.approx(mamba["latency_s_median"] / ast["latency_s_median"])
        assert row["mem_ratio"] == pytest.approx(mamba["peak_mem_bytes"] / ast["peak_mem_bytes"])
        assert f"| tiny | {row['attn']} | 1 | {row['tokens']} | {row['time_ratio']:.3f} |" in markdown
    assert "ssamba bench --models ssast_tiny,ssamba_tiny --tokens 16,32" in markdown


def test_figures_and_machine_description(out: Path) -> None:
    for name in ("time_b1.png", "memory_b1.png"):
        assert (out / name).read_bytes().startswith(PNG_MAGIC)
    machine = json.loads((out / "machine.json").read_text())
    assert machine["device"] == "cpu" and machine["cores_usable"] >= 1 and "torch" in machine


def test_user_errors_exit_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--models", "nope", "--device", "cpu", "--out", str(tmp_path)]) == 1
    assert main(["bench", "--set", "input_tdim=5", "--device", "cpu", "--out", str(tmp_path)]) == 1
    assert "unknown model" in capsys.readouterr().err


def test_resume_reuses_points_and_keeps_other_models(
    out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ssamba.bench import efficiency

    resumed = tmp_path / "resumed"
    resumed.mkdir()
    (resumed / "results.json").write_text((out / "results.json").read_text())
    before = json.loads((out / "results.json").read_text())

    def no_measuring(*args: object) -> None:
        raise AssertionError("a point already in --out was measured again")

    monkeypatch.setattr(efficiency, "measure_point", no_measuring)
    heap_calls = []  # the default CPU allocator mode, recorded instead of changing this process's malloc
    monkeypatch.setattr(ssamba.ops, "keep_large_allocations_in_heap", lambda: heap_calls.append(1) or True)
    argv = ["bench", "--models", "ssamba_tiny", "--tokens", "16,32", "--batch", "1", "--device", "cpu"]
    assert main([*argv, "--resume", "--out", str(resumed)]) == 0
    assert heap_calls == [1]
    assert json.loads((resumed / "machine.json").read_text())["malloc"] == "heap"
    assert json.loads((out / "machine.json").read_text())["malloc"] == "default"
    after = json.loads((resumed / "results.json").read_text())
    assert sorted(map(json.dumps, after)) == sorted(map(json.dumps, before))
    assert "--resume" in (resumed / "results.md").read_text()
