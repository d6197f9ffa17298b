"""`ssamba data`: build, validate, shard and summarise clip manifests."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ssamba.cli.arg_types import non_negative_int, positive_int
from ssamba.data.manifests import DEEP_DEFAULT_MAX_ROWS

if TYPE_CHECKING:
    from ssamba.data import Manifest

FEATURE_DEFAULT_TARGET_LENGTH = 1024


def _load(args: argparse.Namespace, skip_bad: bool = False, deep: bool | None = False) -> Manifest:
    """The manifest named on the command line (JSONL, or an SSAST datafile with --class-csv)."""
    from ssamba.data import read_manifest, read_ssast_datafile

    if args.class_csv:
        return read_ssast_datafile(args.manifest, args.class_csv, skip_bad=skip_bad, deep=deep)
    return read_manifest(args.manifest, skip_bad=skip_bad, require_labels=not args.unlabelled, deep=deep)


def _summary(manifest: Manifest) -> str:
    """Clips, labels, speakers and per-split counts, one fact per line."""
    labels = manifest.label_names()
    shown = ", ".join(labels[:12]) + (", ..." if len(labels) > 12 else "")
    lines = [f"clips: {len(manifest)}", f"labels: {len(labels)}" + (f" ({shown})" if labels else "")]
    speakers = manifest.counts("speaker")
    if speakers:
        lines.append(f"speakers: {len(speakers)}")
    splits = manifest.counts("split")
    if splits:
        lines.append("splits: " + ", ".join(f"{name}={n}" for name, n in splits.items()))
    return "\n".join(lines)


def _manifest(args: argparse.Namespace) -> int:
    from ssamba.data import build_manifest, preset_options, write_manifest

    options = preset_options(args.preset) if args.preset else {}
    for key in ("label_from", "label_regex", "speaker_regex", "split_rule"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    if args.extensions:
        options["extensions"] = tuple(args.extensions.split(","))
    manifest = build_manifest(args.directory, **options)
    write_manifest(manifest, args.out, absolute_paths=args.absolute_paths)
    print(f"wrote {args.out}\n{_summary(manifest)}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from ssamba.data import compute_stats
    from ssamba.features import FeatureConfig

    manifest = _load(args)
    if args.split is not None:
        manifest = manifest.select(args.split_key, args.split)
    config = FeatureConfig(target_length=args.target_length, sample_rate=args.sample_rate)
    mean, std = compute_stats(manifest, config, num_workers=args.num_workers)
    result = {
        "mean": mean,
        "std": std,
        "target_length": config.target_length,
        "num_clips": len(manifest),
    }
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def _shard(args: argparse.Namespace) -> int:
    from ssamba.data import LabelMap, write_shards

    manifest = _load(args)
    label_map = None if args.unlabelled else LabelMap.from_manifest(manifest)
    index = write_shards(manifest, args.outdir, args.shard_size, label_map=label_map)
    shards = json.loads(index.read_text(encoding="utf-8"))["shards"]
    print(f"wrote {len(shards)} shard(s) with {len(manifest)} clips; index: {index}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from ssamba.data import write_manifest

    manifest = _load(args, skip_bad=args.skip_bad, deep=args.deep)
    if args.out:
        write_manifest(manifest, args.out)
        print(f"wrote {args.out}")
    print(f"OK: {args.manifest}\n{_summary(manifest)}")
    return 0


def _source_options() -> argparse.ArgumentParser:
    """Options shared by the subcommands that read a manifest."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("manifest", help="JSON Lines manifest (or SSAST datafile with --class-csv)")
    parent.add_argument(
        "--class-csv", help="read MANIFEST as an SSAST datafile with this class_labels_indices.csv"
    )
    parent.add_argument("--unlabelled", action="store_true", help="rows need no label (pretraining data)")
    return parent


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `ssamba data {manifest,stats,shard,validate}`."""
    parser = subparsers.add_parser("data", help="build, validate, shard and summarise manifests")
    parser.set_defaults(handler=lambda args: parser.print_help() or 2)
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION")
    source = _source_options()

    build = actions.add_parser(
        "manifest",
        help="scan a folder of audio files into a JSONL manifest",
        description="Split rules: field:NAME,SPLIT=LO-HI,... (e.g. field:take,test=0-4,train=5-49)"
        " or random:FRACTION[,seed=N] (FRACTION to 'valid', the rest to 'train').",
    )
    build.add_argument("directory", help="folder scanned recursively")
    build.add_argument("--out", required=True, help="manifest to write (.jsonl)")
    build.add_argument("--preset", help="named settings, e.g. fsdd (explicit options override)")
    build.add_argument("--label-from", choices=("parent", "regex", "none"))
    build.add_argument("--label-regex", help="file-name regex with a group (?P<label>...)")
    build.add_argument("--speaker-regex", help="file-name regex with a group (?P<speaker>...)")
    build.add_argument("--split-rule", help="how to assign splits (see above)")
    build.add_argument("--extensions", help="comma-separated suffixes, e.g. .wav,.flac")
    build.add_argument("--absolute-paths", action="store_true", help="write absolute audio paths")
    build.set_defaults(handler=_manifest)

    stats = actions.add_parser("stats", parents=[source], help="fbank mean/std for the config (AST recipe)")
    stats.add_argument("--target-length", type=positive_int, default=FEATURE_DEFAULT_TARGET_LENGTH)
    stats.add_argument("--sample-rate", type=positive_int, default=16000)
    stats.add_argument("--split-key", default="split", help="field that holds the split")
    stats.add_argument("--split", help="only clips whose split field equals this, e.g. train")
    stats.add_argument("--num-workers", type=non_negative_int, default=0)
    stats.add_argument("--out", help="write the result as JSON here")
    stats.set_defaults(handler=_stats)

    shard = actions.add_parser("shard", parents=[source], help="write webdataset tar shards")
    shard.add_argument("outdir", help="folder for shard-*.tar, index.json and labels.json")
    shard.add_argument("--shard-size", type=positive_int, default=1000, help="clips per shard")
    shard.set_defaults(handler=_shard)

    validate = actions.add_parser(
        "validate", parents=[source], help="check every row and report all bad ones"
    )
    validate.add_argument(
        "--skip-bad", action="store_true", help="drop bad rows (warning each) instead of failing"
    )
    validate.add_argument(
        "--deep",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="decode every clip (its start/end segment): not audio, NaN/Inf samples, empty, segment "
        f"outside the file (default: on below {DEEP_DEFAULT_MAX_ROWS:,} rows)",
    )
    validate.add_argument("--out", help="write the valid rows to this manifest")
    validate.set_defaults(handler=_validate)
