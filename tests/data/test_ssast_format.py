"""Reading official SSAST datafiles with their class CSV."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ssamba.data import LabelMap, read_ssast_datafile
from ssamba.errors import ConfigError, ManifestError

CSV = 'index,mid,display_name\n0,/m/09x0r,"Speech"\n1,/m/04rlf,Music\n2,/m/0z9c,"Dog, bark"\n'


@pytest.fixture()
def class_csv(tmp_path: Path) -> Path:
    path = tmp_path / "class_labels_indices.csv"
    path.write_text(CSV)
    return path


def _datafile(tmp_path: Path, items: list[object]) -> Path:
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"data": items}))
    return path


def test_mids_become_display_names(tmp_path: Path, class_csv: Path, fsdd_dir: Path) -> None:
    wav = fsdd_dir / "recordings" / "3_theo_7.wav"
    items = [
        {"wav": str(wav), "labels": "/m/09x0r,/m/0z9c", "video_id": "abc"},
        {"wav": str(wav), "labels": "/m/04rlf", "start": 0.1, "end": 0.2},
    ]
    manifest = read_ssast_datafile(_datafile(tmp_path, items), class_csv)
    assert manifest.multi_label
    assert manifest[0].targets == ("Speech", "Dog, bark") and manifest[0].extra == {"video_id": "abc"}
    assert manifest[1].targets == ("Music",) and (manifest[1].start, manifest[1].end) == (0.1, 0.2)
    label_map = LabelMap.from_file(class_csv)
    assert label_map.labels == ("Speech", "Music", "Dog, bark") and label_map.multi_label
    assert label_map.encode(manifest[0].targets).tolist() == [1.0, 0.0, 1.0]


def test_bad_items_are_reported_by_position(tmp_path: Path, class_csv: Path) -> None:
    items = [
        {"wav": "a.wav", "labels": "/m/09x0r"},
        {"wav": "a.wav", "labels": "/m/nope"},
        {"labels": "/m/09x0r"},
        "text",
        {"wav": "a.wav", "labels": ""},
    ]
    path = _datafile(tmp_path, items)
    with pytest.raises(ManifestError) as info:
        read_ssast_datafile(path, class_csv, check_files=False)
    lines = str(info.value).splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == ["data[1]", "data[2]", "data[3]", "data[4]"]
    assert "unknown label id(s) ['/m/nope']" in lines[0]
    kept = read_ssast_datafile(path, class_csv, check_files=False, skip_bad=True)
    assert len(kept) == 1 and kept[0].path == tmp_path / "a.wav"


def test_malformed_files(tmp_path: Path, class_csv: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[{"wav": "a.wav"}]')
    with pytest.raises(ManifestError, match="expected an object"):
        read_ssast_datafile(path, class_csv)
    path.write_text("{")
    with pytest.raises(ManifestError, match="not valid JSON"):
        read_ssast_datafile(path, class_csv)
    bad_csv = tmp_path / "labels.csv"
    bad_csv.write_text("id,name\n0,x\n")
    with pytest.raises(ConfigError, match="index,mid,display_name"):
        read_ssast_datafile(_datafile(tmp_path, []), bad_csv)
    with pytest.raises(ManifestError, match="no valid clips"):
        read_ssast_datafile(_datafile(tmp_path, []), class_csv)
