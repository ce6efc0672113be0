"""MkDocs hook: pages built from Markdown files that live outside ``docs/``.

``validation/README.md`` and ``benchmarks/README.md`` sit beside the scripts they describe,
so that they are read on GitHub next to the code.  Rather than keeping a second copy under
``docs/``, this hook adds them to the site at build time as ``validation.md`` and
``benchmarks.md`` (virtual files: nothing is written into ``docs/``).

Relative links in those READMEs are written relative to their own folder.  Rewritten here:

* a link to a Markdown page under ``docs/`` becomes a link to that page of the site;
* a link to any other file of the repository (a script, a results file) becomes the path in
  code font with the link text, since the site does not publish the source tree;
* absolute URLs, ``mailto:`` and in-page ``#anchors`` are left alone.

So ``mkdocs build --strict`` keeps checking the links that can resolve, and a README link to
a script does not break the build.  Wired up by ``hooks:`` in ``mkdocs.yml``.
"""
from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File

# site page -> source file, relative to the repository root (the folder of mkdocs.yml)
EXTERNAL_PAGES = {
    "validation.md": "validation/README.md",
    "benchmarks.md": "benchmarks/README.md",
}

# [text](target) or [text](target "title"), not images (they would need their file copied)
_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?P<title>\s+\"[^\"]*\")?\)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _repo_root(config) -> Path:
    return Path(config.config_file_path).resolve().parent


def rewrite_links(markdown: str, source: str, page: str, docs_dir: str) -> str:
    """Rewrite the relative links of ``source`` (a path relative to the repository root) for
    its new place ``page`` (relative to ``docs_dir``, itself relative to the root)."""
    source_dir = posixpath.dirname(source)
    page_dir = posixpath.dirname(page)

    def replace(m: re.Match) -> str:
        target = m.group("target")
        if target.startswith("#") or _SCHEME.match(target) or target.startswith("/"):
            return m.group(0)
        path, _, anchor = target.partition("#")
        in_repo = posixpath.normpath(posixpath.join(source_dir, path))
        in_docs = posixpath.relpath(in_repo, docs_dir)
        if not in_docs.startswith("..") and in_docs.endswith(".md"):
            new = posixpath.relpath(in_docs, page_dir or ".")
            return f"[{m.group('text')}]({new}{'#' + anchor if anchor else ''}{m.group('title') or ''})"
        text = m.group("text")
        code = f"`{in_repo}`"
        return code if text.strip("`") == in_repo else f"{text} ({code})"

    return _LINK.sub(replace, markdown)


def on_files(files, config, **kwargs):
    root = _repo_root(config)
    docs_dir = posixpath.relpath(Path(config.docs_dir).resolve().as_posix(), root.as_posix())
    for page, source in EXTERNAL_PAGES.items():
        text = (root / source).read_text(encoding="utf-8")
        files.append(File.generated(config, page, content=rewrite_links(text, source, page, docs_dir)))
    return files


def on_serve(server, config, builder, **kwargs):
    """``mkdocs serve`` rebuilds when one of the READMEs changes."""
    root = _repo_root(config)
    for source in EXTERNAL_PAGES.values():
        server.watch(str(root / source))
    return server
