"""The repository stands on its own: its Markdown links resolve inside it, and no file
names a path that exists on one machine only.

**Machine paths.** An absolute path into a folder that belongs to one machine or one
person works where it was written and nowhere else, so none may appear in a file of the
repository (code, tests, benchmarks, docs, Makefile, CI): a path starting at the root
with one of :data:`MACHINE_FOLDERS` — home folders (``home``, ``root``, ``Users``, and
Windows' ``Users`` on a drive), temporary and scratch folders (``tmp``, ``var/tmp``,
``var/folders``, ``private``, ``scratch``) and work folders and mount points (``work``,
``mnt``, ``media``, ``srv``). Paths that mean the same thing on every machine of a kind
are fine: device files (``/dev/stdin``), the system's own folders (``/usr/bin/…``,
``/etc/…``, ``/proc/…``) and paths inside URLs. Tests make their files under pytest's
``tmp_path``; a location the user chooses comes from an option or an environment
variable. An exception needs an entry in :data:`ALLOWED` with its reason. This file is
scanned too: its examples are built from pieces.

**Links.** Every relative link of every Markdown file (``[text](path)``,
``[text](path#anchor)``, ``[text](#anchor)``, reference definitions) points to a file
inside the repository, and an anchor to a heading of that file (GitHub's rules for
heading anchors). Code blocks and inline code are not links.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIPPED_FOLDERS = {".git", ".venv", "demo", ".pytest_cache", ".hypothesis", ".mypy_cache",
                   ".ruff_cache", "__pycache__", "build", "dist"}

MACHINE_FOLDERS = ("home", "root", "Users", "tmp", "var/tmp", "var/folders", "private",
                   "scratch", "work", "mnt", "media", "srv")
MACHINE_PATH = re.compile(
    # Not preceded by a character that makes it part of a relative path or of a URL's
    # host ("src/tmp", "./tmp", "example.org/home"); a "file:" URL with three slashes still counts.
    r"(?<![\w.~%$-])/+(?:" + "|".join(re.escape(f) for f in MACHINE_FOLDERS) + r")(?![\w.-])"
    r"|\b[A-Za-z]:\\+(?:Users|Documents and Settings)\b")
ALLOWED: dict[tuple[str, str], str] = {}
"""``(file relative to the root, the text matched)``: why that mention is not a machine
path. Empty: nothing needs an exception."""


def repository_files() -> list[Path]:
    """The repository's files: tracked ones and new ones not ignored (``git ls-files``),
    or, outside a git checkout, every file but those of tools' folders."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return sorted(p for p in ROOT.rglob("*") if p.is_file()
                      and not SKIPPED_FOLDERS & set(p.relative_to(ROOT).parts))
    return sorted({ROOT / name for name in listed.decode().split("\0") if name})


def text_of(path: Path) -> str | None:
    """The file's text, or None for a binary (or deleted) file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    if b"\0" in data:
        return None
    return data.decode("utf-8", errors="replace")


def machine_paths(text: str) -> list[str]:
    return [match.group(0) for match in MACHINE_PATH.finditer(text)]


def test_the_machine_path_pattern_tells_machine_paths_from_generic_ones() -> None:
    # Built from pieces, so that this file itself holds none of the paths it looks for.
    roots = {name: "/" + name for name in ("work", "tmp", "home", "Users", "var/tmp")}
    windows = "C:" + "\\" + "Users"
    found = machine_paths(f'Path("{roots["work"]}/shared") {roots["tmp"]}/x.db '
                          f'"{roots["home"]}/ana/p" file://{roots["tmp"]}/y '
                          f'{windows}\\ana {roots["Users"]}/bo {roots["var/tmp"]}/z')
    assert found == [roots["work"], roots["tmp"], roots["home"], "//" + roots["tmp"],
                     windows, roots["Users"], roots["var/tmp"]]
    assert machine_paths("/dev/stdin /usr/bin/chromium /etc/postgresql src/tmp/x ./tmp "
                         "~/work https://example.org/home/x tests/work/y /tmpfile "
                         "--db pilot.db") == []


def test_no_file_names_a_path_of_one_machine() -> None:
    files = repository_files()
    assert any(f.name == "README.md" for f in files) and len(files) > 50
    found = []
    for path in files:
        text = text_of(path)
        if text is None:
            continue
        rel = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(text.splitlines(), 1):
            found += [f"{rel}:{number}: {line.strip()}" for match in machine_paths(line)
                      if (rel, match) not in ALLOWED]
    assert not found, "paths of one machine in the repository:\n" + "\n".join(found)


# ---------------------------------------------------------------------- links
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def without_fences(text: str) -> str:
    """Markdown without its fenced code blocks."""
    return re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.M | re.S)


def without_code(text: str) -> str:
    """Markdown without fenced code blocks and inline code spans."""
    return re.sub(r"(`+)(?:(?!\1).)+\1", "", without_fences(text))


def anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown text."""
    seen: Counter[str] = Counter()
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", without_fences(markdown), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower())
        slug = slug.replace(" ", "-")
        found.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return found


def links(markdown: str) -> list[str]:
    text = without_code(markdown)
    return LINK.findall(text) + REFERENCE.findall(text)


def broken_links(source: Path) -> list[str]:
    """The relative links of ``source`` that do not resolve inside the repository."""
    problems = []
    for target in links(source.read_text(encoding="utf-8")):
        if SCHEME.match(target):
            continue  # https:, mailto: … are not files of the repository
        path_part, _, anchor = target.partition("#")
        resolved = (source.parent / path_part).resolve() if path_part else source
        if not resolved.is_relative_to(ROOT):
            problems.append(f"{target}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(
                resolved.read_text(encoding="utf-8")):
            problems.append(f"{target}: no heading with anchor #{anchor}")
    return problems


def test_the_link_reader_finds_links_and_github_anchors() -> None:
    sample = ("See [the report](docs/interface.md#the-report), [x](#a-b) and `[not](a.md)`.\n"
              "```\n[not](b.md)\n```\n[ref]: ../shared/CONTRACT.md\n")
    assert links(sample) == ["docs/interface.md#the-report", "#a-b", "../shared/CONTRACT.md"]
    assert anchors("# A b\n## `lifecycle x`, `y`\n## Erasure (v2)\n## A b\n") == {
        "a-b", "lifecycle-x-y", "erasure-v2", "a-b-1"}


def test_every_relative_link_of_the_markdown_files_resolves_inside_the_repository() -> None:
    documents = [f for f in repository_files() if f.suffix == ".md" and f.exists()]
    assert ROOT / "README.md" in documents and ROOT / "docs" / "interface.md" in documents
    problems = [f"{doc.relative_to(ROOT)}: {problem}"
                for doc in documents for problem in broken_links(doc)]
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_the_readme_sends_readers_to_the_interface_inside_the_repository() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/interface.md" in links(readme)
    assert "CONTRACT.md" not in readme and "../" not in readme


def test_no_two_test_modules_share_a_name() -> None:
    """pytest imports test modules by their base name (``tests/`` has no packages), so
    two ``test_x.py`` in different folders stop the whole suite at collection."""
    names = Counter(path.name for path in (ROOT / "tests").rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
