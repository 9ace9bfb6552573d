"""`mleditor browser export DIR`: write the in-browser editor as a static site (HTML, JS, wasm, model, service worker).

    npm ci --prefix mleditor/browser        # once: onnxruntime-web's wasm files, precompressed
    mleditor browser export site/           # the int8 model (the default); --variant fp32 for the full one
    python -m http.server -d site/          # any static file host serves it; no Python needed at run time
"""

from __future__ import annotations

from pathlib import Path

import typer

from mleditor.cli.options import out

browser_app = typer.Typer(help="In the browser: the live editor as a static site.", no_args_is_help=True)


@browser_app.command("export")
def export(
    output: Path = typer.Argument(..., help="Folder for the site (new, empty, or an earlier export)."),
    variant: list[str] = typer.Option(["int8"], "--variant", "-v",
                                      help="Model variant: int8 (default, 582 KB) or fp32 (2.4 MB); repeat for "
                                           "both, the first is the default."),
) -> None:
    """Write the editor as a static site: the page scores as you type, offline after one visit."""
    from mleditor.browser.export import export_site

    done = export_site(output, variant)
    out.print(f"wrote {done.path}: {done.files} files, {done.plain_bytes / 1e6:.1f} MB before compression; "
              f"variants {', '.join(done.site.variants)}; serve the folder with any static file host",
              markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(browser_app, name="browser")
