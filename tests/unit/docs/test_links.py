"""The documentation lives in the repository: every relative link in the main Markdown files
resolves to a file of the repository, and no Markdown file names a path on somebody's machine.
No broker, no database: plain file reads."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

# The Markdown whose links must resolve (docs/*.md is globbed, so a new page is checked too).
LINKED = [ROOT / "README.md", ROOT / "simulators" / "README.md", ROOT / "bench" / "README.md",
          *sorted((ROOT / "docs").glob("*.md"))]

# Paths that exist only on one machine: the old home of the design outside the repository,
# absolute home and work directories, file URLs.
MACHINE_PATH = re.compile(r"/work/|\.\./shared\b|(?<![\w.])/home/|(?<![\w.])/Users/|file://")

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
INLINE_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)")
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def markdown_files() -> list[Path]:
    """Every Markdown file of the repository, not what lies in hidden or generated directories
    (.git, .venv, var/, build/, *.egg-info)."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not (d.startswith(".") or d in ("var", "build", "node_modules")
                                           or d.endswith(".egg-info"))]
        found += [Path(folder, f) for f in files if f.endswith(".md")]
    return sorted(found)


def links(text: str) -> list[str]:
    """Link targets of inline links and reference definitions, outside code blocks. A code span in a
    link's text (``[`x.md`](x.md)``) is blanked, never the target."""
    text = FENCE.sub("", text)
    text = CODE_SPAN.sub(lambda m: "`" + " " * (len(m.group()) - 2) + "`", text)
    return [m.group(1) for m in INLINE_LINK.finditer(text)] + \
           [m.group(1) for m in REFERENCE_DEF.finditer(text)]


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    problems = []
    for target in links(path.read_text(encoding="utf-8")):
        if SCHEME.match(target) or target.startswith("#"):
            continue  # a web address or an anchor in the same page
        file_part = target.split("#", 1)[0].split("?", 1)[0]
        resolved = (path.parent / file_part).resolve()
        if target.startswith("/"):
            problems.append(f"{target}: absolute path")
        elif not resolved.is_relative_to(root):
            problems.append(f"{target}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
    return problems


def test_the_design_and_the_external_api_facts_are_in_the_repository():
    assert (ROOT / "docs" / "ARCHITECTURE.md").is_file()
    assert (ROOT / "docs" / "EXTERNAL_APIS.md").is_file()


@pytest.mark.parametrize("path", LINKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_in_the_repository(path):
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    assert broken_links(path) == []


def test_no_markdown_file_names_a_machine_path():
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
             for p in markdown_files()
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if MACHINE_PATH.search(line)]
    assert found == []


def test_the_link_checker_sees_a_broken_link_and_a_machine_path(tmp_path):
    (tmp_path / "repo").mkdir()
    page = tmp_path / "repo" / "page.md"
    page.write_text("[`x`](missing.md) [ok](page.md#top) [web](https://example.com)\n"
                    "```\n[in code](nowhere.md)\n```\n[ref]: ../outside.md\n")
    assert broken_links(page, root=tmp_path / "repo") == ["missing.md: no such file", "../outside.md: outside the repository"]
    assert MACHINE_PATH.search("see ../shared/ARCHITECTURE.md")
    assert MACHINE_PATH.search("`/work/shared/reference/EXTERNAL_APIS.md`")
    assert not MACHINE_PATH.search("var/demo/ and tests/e2e/helpers.py")
