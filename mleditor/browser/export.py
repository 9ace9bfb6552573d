"""`mleditor browser export DIR`: the editor as a static site any file host serves, with no Python at run time.

The folder gets every file of `build_site` at its path (the page as `index.html`), plus its
precompressed forms beside it (`file.br`, `file.gz`) for hosts that serve those (nginx `gzip_static`
and `brotli_static`, most CDNs); a host that does not simply serves the plain file. A host must send
`.mjs` as JavaScript and `.wasm` as `application/wasm`; no other header is needed (one wasm thread,
so no cross-origin isolation).

    export_site(Path("public"), ["int8"])    # public/index.html, sw.js, ort-1.30.0/..., model/int8/...
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mleditor.browser.site import VARIANTS, Site, build_site
from mleditor.errors import InvalidInputError

SUFFIXES = {"br": ".br", "gzip": ".gz"}
MARKER = ".mleditor-site"  # names a folder this command wrote, so exporting again may replace it


@dataclass(frozen=True)
class Exported:
    """What an export wrote: the folder, its files (plain and compressed) and their total bytes."""

    path: Path
    site: Site
    files: int
    plain_bytes: int


def export_site(output: Path, variants: Sequence[str] = VARIANTS) -> Exported:
    """Write the editor for `variants` (the first is the default) into `output`, replacing an earlier export there."""
    site = build_site(variants)
    _prepare(output)
    written = 0
    for path, file in site.files.items():
        target = output / (path or "index.html")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.content)
        written += 1
        for encoding, data in file.encoded.items():
            target.with_name(target.name + SUFFIXES[encoding]).write_bytes(data)
            written += 1
    (output / MARKER).write_text(f"{site.version}\n", encoding="utf-8")
    return Exported(output, site, written, sum(len(file.content) for file in site.files.values()))


def _prepare(output: Path) -> None:
    """An empty folder, an earlier export (replaced) or a new folder; anything else is refused."""
    if output.exists() and not output.is_dir():
        raise InvalidInputError(f"{output} is a file; give a folder for the site")
    if output.is_dir() and any(output.iterdir()):
        if not (output / MARKER).is_file():
            raise InvalidInputError(f"{output} is not empty and not an earlier export; give an empty or new folder")
        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)
