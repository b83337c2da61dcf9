"""The README is a contract: every ```bash and ```python block of it runs, in order, as written.

One temporary folder per test session is the reader's working directory (with a copy of the
repository's ``leaderboard/`` folder, as in a clone). ``mebench`` there is this tree's command line,
``python`` this interpreter, ``MEBENCH_CACHE`` the session's temporary cache; nothing is installed.

* A python or yaml block whose first line is ``# NAME.py ...`` / ``# NAME.yaml ...`` is a file the
  README defines: every such file is written into the folder before the first block runs (commands
  earlier in the README name them); a python file block itself runs as ``python NAME.py``.
* A block that must not run is marked right above its fence, visibly in the source and invisibly when
  rendered: ``<!-- readme-test: skip (the reason) -->``; the README's text says the same in words.
  Its test is a pytest skip carrying that reason.

Each block is one test, ``block_<n>_line_<line>``; running one runs every earlier block first (once
per session), because later blocks read what earlier ones wrote.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from _cli import ROOT, cli_env

README = ROOT / "README.md"
RUN_LANGUAGES = ("bash", "python")
SKIP_MARK = re.compile(r"^<!--\s*readme-test:\s*skip\s*\((?P<reason>.*)\)\s*-->\s*$")
ANY_MARK = re.compile(r"^\s*<!--\s*readme-test")  # a mark is a line of its own (prose may quote one)
FILE_LINE = re.compile(r"^#\s*(?P<name>[A-Za-z0-9_.-]+\.(py|yaml))(\s|$)")
FILE_LANGUAGES = ("python", "yaml")
BLOCK_TIMEOUT_S = 900


@dataclass
class Block:
    index: int
    line: int          # line of the opening fence (1-based)
    language: str
    code: str
    skip: str | None   # the reason, for a block marked not to run

    @property
    def file_name(self) -> str | None:
        match = FILE_LINE.match(self.code) if self.language in FILE_LANGUAGES else None
        return match.group("name") if match else None

    @property
    def test_id(self) -> str:
        return f"block_{self.index}_line_{self.line}"


def readme_blocks(text: str) -> list[Block]:
    """Every fenced block of ``text`` with its language, and the skip reason marked right above it."""
    blocks, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^(```+)\s*([A-Za-z0-9_+-]*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        start, ticks, language = i, fence.group(1), fence.group(2).lower()
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == ticks), None)
        assert end is not None, f"README.md line {start + 1}: the fenced block is never closed"
        above = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        mark = SKIP_MARK.match(above.strip())
        assert mark or not ANY_MARK.match(above), f"README.md line {start}: write `<!-- readme-test: skip (why) -->`"
        blocks.append(Block(len(blocks) + 1, start + 1, language, "\n".join(lines[start + 1:end]) + "\n",
                            mark.group("reason").strip() if mark else None))
        i = end + 1
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
RUNNABLE = [b for b in BLOCKS if b.language in RUN_LANGUAGES]


class Workspace:
    """The reader's folder: README files written, blocks run in order, each once."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.done: dict[int, float] = {}
        self.failed: dict[int, str] = {}
        bin_dir = folder.parent / "bin"
        bin_dir.mkdir()
        shim = bin_dir / "mebench"  # this tree's CLI, whatever `mebench` an environment has installed
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mebench.cli "$@"\n')
        shim.chmod(0o755)
        python = bin_dir / "python"  # a shim, not a link: a venv's interpreter finds its packages by its path
        python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        python.chmod(0o755)
        env = cli_env()
        env["PATH"] = os.pathsep.join((str(bin_dir), env.get("PATH", "")))
        env.pop("MEBENCH_JOBS_EXACT", None)  # the README's commands as a reader gets them
        env.pop("MEBENCH_DEBUG", None)
        env["MEBENCH_OFFLINE"] = "1"  # a block that would reach the network fails instead
        self.env = env
        shutil.copytree(ROOT / "leaderboard", folder / "leaderboard")
        for block in BLOCKS:
            if block.file_name:
                (folder / block.file_name).write_text(block.code)

    def run_through(self, block: Block) -> None:
        for earlier in RUNNABLE:
            if earlier.index > block.index:
                break
            if earlier.skip is None and earlier.index not in self.done:
                self._run(earlier)

    def _run(self, block: Block) -> None:
        if block.index in self.failed:
            pytest.fail(f"README block {block.test_id} failed earlier:\n{self.failed[block.index]}")
        if block.language == "bash":
            command = ["bash", "-e", "-o", "pipefail", "-c", block.code]
        elif block.file_name:
            command = [sys.executable, block.file_name]
        else:
            command = [sys.executable, "-c", block.code]
        t0 = time.perf_counter()
        proc = subprocess.run(command, cwd=self.folder, env=self.env, capture_output=True, text=True,
                              timeout=BLOCK_TIMEOUT_S)
        self.done[block.index] = time.perf_counter() - t0
        if proc.returncode != 0:
            self.failed[block.index] = (f"exit {proc.returncode}\n--- block (README.md line {block.line}) ---\n"
                                        f"{block.code}--- stdout ---\n{proc.stdout[-4000:]}\n"
                                        f"--- stderr ---\n{proc.stderr[-4000:]}")
            pytest.fail(f"README block {block.test_id} failed: {self.failed[block.index]}")


@pytest.fixture(scope="session")
def workspace(tmp_path_factory):
    return Workspace(tmp_path_factory.mktemp("readme") / "work")


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.test_id)
def test_readme_block_runs(block, workspace):
    if block.skip is not None:
        pytest.skip(f"README.md line {block.line} is marked not to run: {block.skip}")
    workspace.run_through(block)


def test_every_skip_mark_has_a_reason_and_a_block():
    lines = README.read_text(encoding="utf-8").splitlines()
    marks = [n for n, line in enumerate(lines, 1) if ANY_MARK.search(line)]
    assert marks, "the README marks its blocks that must not run (licensed data, installing, the network)"
    skipped = {b.line for b in BLOCKS if b.skip is not None}
    for n in marks:
        match = SKIP_MARK.match(lines[n - 1].strip())
        assert match and match.group("reason").strip(), f"README.md line {n}: write `<!-- readme-test: skip (why) -->`"
        following = next(m for m in range(n, len(lines)) if lines[m].strip()) + 1
        assert following in skipped, f"README.md line {n}: a skip mark must sit right above a code block"
    assert all(b.language in RUN_LANGUAGES for b in BLOCKS if b.skip is not None)


def test_no_command_hides_from_the_test():
    """Commands sit in bash blocks (an untyped or `sh` block would never run), and runnable blocks hold no
    placeholder a shell cannot run (`<run_id>`, `[--json]`, `a|b`)."""
    for block in BLOCKS:
        first = block.code.lstrip().split(" ", 1)[0]
        assert not (block.language not in RUN_LANGUAGES and first in ("mebench", "pip", "pytest", "export")), (
            f"README.md line {block.line}: mark this block ```bash so that the README test runs it")
        if block.language == "bash" and block.skip is None:
            for n, line in enumerate(block.code.splitlines(), block.line + 1):
                command = line.split("  #", 1)[0]
                assert not re.search(r"<[A-Za-z_]+>|\s\[-", command), f"README.md line {n}: a placeholder: {line}"


def test_readme_defines_its_plugin_files():
    names = [b.file_name for b in BLOCKS if b.file_name]
    assert {"my_plugins.py", "my_nets.py", "my-config.yaml"} <= set(names)
    assert len(names) == len(set(names)), "two README blocks define one file"


def test_help_names_every_model_file_the_readme_lists():
    """`mebench --help` and the README's Network section name the same pinned model files, all of them."""
    from mebench.cli import main
    from mebench.model_files import MODELS

    help_text, readme = " ".join(main.help.split()), README.read_text(encoding="utf-8")
    network = readme[readme.index("## Network and disk"):readme.index("**Disk.**")]
    assert f"There are {['zero', 'one', 'two', 'three'][len(MODELS)]} (`mebench models list`)" in network
    for spec in MODELS.values():
        assert spec.filename in help_text and spec.filename in network
