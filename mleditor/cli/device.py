"""`mleditor device ...`: build compressed variants of a model as offline bundles, compare them, answer from one.

    mleditor device list                                   # the variants this mleditor can build
    mleditor device build --variant int8 --variant pruned-10-int8 --output bundles/
    mleditor device report --bundles bundles/              # sizes, quality, tolerances (--json)
    mleditor device predict --bundle bundles/int8 --title "Flat beer?" --body "..."

`predict` is the device runtime: it imports the featurizer and one inference engine, nothing else.
Builders (onnx, torch, the LiteRT converter) are imported only by `build`.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.table import Table

from mleditor.cli.options import err, json_option, model_dir_option, out, version_option
from mleditor.errors import InvalidInputError

if TYPE_CHECKING:
    from mleditor.device.bundle import DeviceBundle
    from mleditor.device.variants import VariantSpec

device_app = typer.Typer(help="On device: compressed model variants as offline bundles.", no_args_is_help=True)


@device_app.command("list")
def list_variants(as_json: bool = json_option()) -> None:
    """The variants this mleditor can build: what each does, what it needs, and whether that is installed."""
    from mleditor.device.catalog import extra_installed, variant_specs

    specs = list(variant_specs().values())
    if as_json:
        rows = [{"variant": spec.name, "what": spec.summary, "needs_data": spec.needs_data, "extra": spec.extra,
                 "installed": extra_installed(spec)} for spec in specs]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table("variant", "what", "needs", "buildable here")
    for spec in specs:
        needs = [*(["the data"] if spec.needs_data else []), *([f"extra {spec.extra}"] if spec.extra else [])]
        buildable = "yes" if extra_installed(spec) else f"pip install 'mleditor[{spec.extra}]'"
        table.add_row(spec.name, spec.summary, ", ".join(needs) or "-", buildable)
    out.print(table)


@device_app.command("build")
def build(
    variants: list[str] = typer.Option(..., "--variant", "-v", help="Variant to build (repeat; 'all': every one "
                                       "buildable here). `mleditor device list` names them."),
    output: Path = typer.Option(..., "--output", "-o", help="Folder for the bundles: one sub-folder per variant."),
    model_dir: Optional[str] = model_dir_option(),
    keep: Optional[float] = typer.Option(None, "--keep", help="pruned: the % of n-gram buckets to keep, in (0, 100]."),
    data: Optional[Path] = typer.Option(None, "--data", help="The dumps (default $MLEDITOR_DATA, ../shared/data): "
                                        "quality is measured on them, and some variants are trained on them."),
    measure: bool = typer.Option(True, "--measure/--no-measure",
                                 help="Measure each variant's quality (needs the data)."),
    author: Optional[str] = typer.Option(None, "--author", help="Include this author's personal model part "
                                         "(site:user:<owner id>): every answer of the bundle applies it."),
) -> None:
    """Build each variant of the model as a bundle under --output, with its measured quality and tolerance."""
    from mleditor import config
    from mleditor.cli.questions import EXAMPLES
    from mleditor.core.registry import resolve_model
    from mleditor.device.build import build_bundle
    from mleditor.device.variants import BuildOptions

    if keep is not None and not 0 < keep <= 100:
        raise InvalidInputError(f"--keep must be a percentage in (0, 100]; got {keep:g}")
    source = resolve_model(model_dir)
    data_dir = data if data is not None else config.data_dir()
    has_data = bool(config.dump_dirs({"MLEDITOR_DATA": str(data_dir)}))
    options = BuildOptions(data_dir=data_dir if has_data else None, keep_percent=keep)
    for spec in _chosen(variants):
        if spec.needs_data and not has_data:
            raise InvalidInputError(f"variant {spec.name} is trained or tuned on the dumps, and none are under "
                                    f"{data_dir}; pass --data or set MLEDITOR_DATA")
        bundle = build_bundle(source, spec, options, output / spec.name, measure=measure and has_data,
                              examples=EXAMPLES, author=author)
        personal = f", personal part of {bundle.author}" if bundle.author else ""
        err.print(f"{spec.name}: {bundle.path} ({_kb(bundle.model_file.stat().st_size)}, "
                  f"max |Δscore| {bundle.tolerance:.4f}{personal})")


def _chosen(names: list[str]) -> list[VariantSpec]:
    from mleditor.device.catalog import extra_installed, find_variant, variant_specs

    if names == ["all"]:
        return [spec for spec in variant_specs().values() if extra_installed(spec)]
    specs = [find_variant(name) for name in names]
    missing = [spec for spec in specs if not extra_installed(spec)]
    if missing:
        from mleditor.errors import MissingExtraError

        spec = missing[0]
        raise MissingExtraError(f"variant {spec.name} needs the '{spec.extra}' extra: "
                                f"pip install 'mleditor[{spec.extra}]'")
    return specs


@device_app.command("report")
def report(
    bundles: Path = typer.Option(..., "--bundles", help="A bundle, or a folder of bundles (what build wrote)."),
    as_json: bool = json_option(),
) -> None:
    """The variants table (Markdown) of the bundles under --bundles: sizes, quality against the source, tolerance."""
    from mleditor.device.bundle import MANIFEST_FILE, load_bundle

    folders = [bundles] if (bundles / MANIFEST_FILE).is_file() else sorted(
        p.parent for p in bundles.glob(f"*/{MANIFEST_FILE}"))
    if not folders:
        raise InvalidInputError(f"no bundles under {bundles}; build some with `mleditor device build`")
    rows = [_report_row(load_bundle(folder)) for folder in folders]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    header = ["variant", "runtime", "file", "gzip", "test AUC (Δ)", "held-out AUC (Δ)", "test ECE (Δ)",
              "max \\|Δscore\\|", "p99 \\|Δscore\\|"]
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    for row in rows:
        q = row["quality"] or {}
        cells = [row["variant"], row["runtime"], _kb(row["bytes"]), _kb(row["gzip_bytes"]), _with_delta(q, "test_auc"),
                 _with_delta(q, "holdout_auc"), _with_delta(q, "test_ece"), f"{row['max_abs_delta_score']:.4f}",
                 _number(q.get("p99_abs_delta_score"))]
        lines.append("| " + " | ".join(cells) + " |")
    from mleditor.device.catalog import DEFAULT_MAX_ABS_DELTA, DEFAULT_MAX_AUC_LOSS, default_variant

    pick = default_variant({row["variant"]: (row["bytes"], row["quality"], row["max_abs_delta_score"])
                            for row in rows})
    rule = f"smallest file with test ROC AUC loss <= {DEFAULT_MAX_AUC_LOSS} and max |Δscore| <= {DEFAULT_MAX_ABS_DELTA}"
    lines += ["", f"Default by rule ({rule}): {pick or 'none of these meets it'}"]
    sys.stdout.write("\n".join(lines) + "\n")  # Markdown: readable in a terminal, pasted as it is into docs


def _report_row(bundle: DeviceBundle) -> dict[str, Any]:
    data = bundle.model_file.read_bytes()
    return {"variant": bundle.variant, "model_id": bundle.model.model_id, "runtime": bundle.runtime,
            "path": str(bundle.path), "model_file": bundle.model_file.name, "bytes": len(data),
            "gzip_bytes": len(gzip.compress(data, 9)), "quality": bundle.manifest.get("quality"),
            "max_abs_delta_score": bundle.tolerance}


def _with_delta(quality: dict[str, Any], key: str) -> str:
    value, source = quality.get(key), quality.get(f"source_{key}")
    if not isinstance(value, (int, float)):
        return "-"
    delta = f" ({value - source:+.4f})" if isinstance(source, (int, float)) else ""
    return f"{value:.4f}{delta}"


def _number(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"


def _kb(size: int) -> str:
    return f"{size / 1024:,.0f} KB" if size < 1024 * 1024 else f"{size / 2**20:.2f} MB"


@device_app.command("predict")
def predict(
    text: Optional[str] = typer.Argument(None, help="The question: first line the title, the rest the body."),
    bundle: Path = typer.Option(..., "--bundle", help="The bundle to answer from (what `device build` wrote)."),
    title: Optional[str] = typer.Option(None, "--title", "-t", help="The question's title."),
    body: Optional[str] = typer.Option(None, "--body", "-b", help="The question's body (Markdown or HTML)."),
    jsonl: Optional[str] = typer.Option(None, "--jsonl", help='File of {"id","title","body"} lines ("-" = stdin).'),
    version: str = version_option(),
    threads: int = typer.Option(1, "--threads", min=1, help="Inference threads (1: the phone-class budget)."),
    as_json: bool = json_option("Print JSON instead of a table."),
) -> None:
    """Score a question offline from a bundle: the same input forms and answers as `mleditor predict`."""
    from mleditor.cli.questions import QuestionInput, answer_questions
    from mleditor.core.validation import check_version
    from mleditor.device.runtime import load_predictor

    check_version(version)
    answer_questions(load_predictor(bundle, threads), QuestionInput(text, title, body, jsonl), version, as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(device_app, name="device")
