"""The README's shell examples run as written.

Every ```bash block of README.md is listed in `BLOCKS` (by its first line, in README order): the
cheap ones run in that order, as written, in a scratch repository folder beside a `shared` link
(they chain: data -> pretraining -> fine-tuning -> evaluation -> embeddings); the long ones only
have their `ssamba` command lines checked by the CLI's own parser and their recipe paths checked.
A new or changed block fails `test_every_block_is_classified` until it is listed here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ssamba.cli.main import build_parser

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"

RUN = None
# first command line of each ```bash block (comment dropped) -> RUN, or why it is not run
BLOCKS: dict[str, str | None] = {
    "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install -e '.[dev]'": (
        "installs packages and runs the 10-minute quickstart (CI's .ci/run does the install)"
    ),
    "python -m pytest": "the test suite itself",
    "ssamba data manifest ../shared/datasets/fsdd/recordings --preset fsdd --out data/fsdd.jsonl": RUN,
    "ssamba data stats data/fsdd.jsonl --target-length 128 --split train": "reads all 2,700 training clips",
    "ssamba pretrain --config recipes/pretrain/fsdd_cpu.yaml --out runs/pre --set train.max_steps=2": RUN,
    "ssamba pretrain --config recipes/pretrain/fsdd_cpu.yaml --out runs/pre --resume": (
        "full pretraining (20 min), DDP, and recipes for datasets not in ../shared"
    ),
    "ssamba embed ../shared/datasets/fsdd/recordings/7_theo_0.wav --model runs/pre/final --out embeddings/ "
    "--hop-ms 50": RUN,
    "ssamba bench --models ssamba_tiny,ssast_tiny --tokens 512,1024,2048,4096,8192,22000 --batch 1 "
    "--attn sdpa,eager --device cpu --out bench_cpu": "the efficiency benchmark (minutes, gigabytes)",
}


def bash_blocks() -> list[str]:
    """The text of every ```bash block of the README, in order."""
    return re.findall(r"^```bash\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.M | re.S)


def command_lines(block: str) -> list[list[str]]:
    """The words of each command of a block (continuations joined, comments and `&&` split off)."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            commands.append(words[:cut])
            words = words[cut + 1 :]
    return commands


def ssamba_arguments(words: list[str]) -> list[str] | None:
    """The arguments of an `ssamba` command (also `torchrun ... -m ssamba.cli.main ...`), else None."""
    if words[0] == "ssamba":
        return words[1:]
    if words[0] == "torchrun" and "ssamba.cli.main" in words:
        return words[words.index("ssamba.cli.main") + 1 :]
    return None


def first_command(block: str) -> str:
    """The block's first command line, continuations joined and the comment dropped: its key in BLOCKS."""
    line = block.replace("\\\n", " ").splitlines()[0]
    return " ".join(re.sub(r"(^|\s)#.*$", "", line).split())


def test_every_block_is_classified() -> None:
    firsts = [first_command(block) for block in bash_blocks()]
    assert firsts == list(BLOCKS), "README bash blocks changed: list each one (in order) in BLOCKS"


@pytest.mark.parametrize("block", bash_blocks(), ids=lambda b: " ".join(first_command(b).split()[:3]))
def test_commands_parse_and_recipes_exist(block: str) -> None:
    for words in command_lines(block):
        for word in words:
            if word.startswith("recipes/"):
                assert (REPO_ROOT / word).exists(), f"{' '.join(words)}: no {word}"
        arguments = ssamba_arguments(words)
        if arguments is None:
            continue
        try:
            namespace = build_parser().parse_args(arguments)
        except SystemExit:
            pytest.fail(f"the CLI does not accept: {' '.join(words)}")
        assert getattr(namespace, "handler", None) is not None, " ".join(words)


@pytest.mark.slow
def test_cheap_blocks_run_as_written(tmp_path: Path, shared_dir: Path) -> None:
    """Data, a 2-step pretraining, a 1-epoch fine-tuning, evaluation, prediction, embeddings."""
    (tmp_path / "shared").symlink_to(shared_dir, target_is_directory=True)
    work = tmp_path / "repo"
    work.mkdir()
    (work / "recipes").symlink_to(REPO_ROOT / "recipes", target_is_directory=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for block in bash_blocks():
        if BLOCKS.get(first_command(block), "unlisted") is not RUN:
            continue
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert done.returncode == 0, f"{block}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    for made in ("data/fsdd.jsonl", "shards/index.json", "runs/pre/final", "runs/ft/final", "embeddings"):
        assert (work / made).exists(), made
    assert (work / "runs" / "ft" / "final" / "eval_test" / "metrics.json").is_file()
