"""An evaluation's report files: report.json, report.md (tables) and tradeoff.png (paper Fig. 7, and at a fixed FAR)."""

import json
import os


SHIFT_NOTE = ("Y shift: the mean change of luma over the face, output minus original, in grey levels (positive: "
              "brighter; per group it shows a model lightening dark skin).")


def write_report(report, out):
    """Writes report.json, report.md and tradeoff.png into `out`; returns `out`."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(markdown_report(report))
    tradeoff_plot(report, os.path.join(out, "tradeoff.png"))
    return out


def cell(value):
    """A table cell: 3 decimals, or '-' where a metric could not be measured."""
    return "-" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def markdown_report(report):
    judge_names = list(report["judges"])
    header = ["method", "SSIM", "Y shift"] + [f"{j} de-id" for j in judge_names] + [f"{j} IDS" for j in judge_names] + \
        [f"{j} rank-1" for j in judge_names]
    lines = ["# Evaluation", "",
             f"{report['test_faces']} test faces of {report['test_people']} people unseen in training"
             + (f", from {report['data']}." if report.get("data") else "."), "",
             "The generator trained against: " + (", ".join(report["trained_against"]) or "its own verificator only")
             + ". " + "".join(f"Judge `{name}` refused: {why}. " for name, why in report["refused_judges"].items()),
             ""]
    for name, info in report["judges"].items():
        line = f"- judge `{name}`: threshold {info['threshold']:.3f}"
        if info["test_accuracy"] is not None:
            line += f", test accuracy {info['test_accuracy']:.3f}"
        rejections = report["original_test_false_rejection"][name]
        if rejections is not None:
            line += f"; original test false rejections {rejections:.3f}"
        lines.append(line)
    lines += ["", SHIFT_NOTE, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, row in report["methods"].items():
        cells = [method, f"{row['ssim']:.3f}", shift_cell(row)]
        for key in ("deid_rate", "identity_switches", "rank1_reidentification"):
            for judge in judge_names:
                cells.append(cell(row[f"{judge}_{key}"]))
        lines.append("| " + " | ".join(cells) + " |")
    lines += verification_tables(report)
    for attribute, result in report.get("attributes", {}).items():
        kept = result.get("kept_by_class", {})  # reports before 2026-11-28 have none
        classes = list(next(iter(kept.values()), {}))
        lines += ["", f"## Attribute preservation: {attribute}", "",
                  f"Classifier ({result.get('classifier', 'cnn')}) trained on original training faces "
                  f"({', '.join(result['classes'])}); accuracy on {result['test_faces']} test faces: originals "
                  f"{result['original']:.3f}; per class, the share of its faces read as it.", "",
                  "| method | accuracy | " + " | ".join(classes) + " |", "|---|---|" + "---|" * len(classes)]
        lines += [f"| {method} | {accuracy:.3f} | " + " | ".join(f"{kept[method][c]:.3f}" for c in classes) + " |"
                  if method in kept else f"| {method} | {accuracy:.3f} |"
                  for method, accuracy in {"original": result["original"], **result["methods"]}.items()]
    for attribute, values in report.get("groups", {}).items():
        lines += ["", f"## By {attribute}", "",
                  "| group | method | faces | SSIM | Y shift | " + " | ".join(f"{j} de-id" for j in judge_names) + " |",
                  "|" + "---|" * (5 + len(judge_names))]
        for value, methods in values.items():
            for method, row in methods.items():
                lines.append(f"| {value} | {method} | {row['faces']} | {row['ssim']:.3f} | {shift_cell(row)} | "
                             + " | ".join(f"{row[f'{j}_deid_rate']:.3f}" for j in judge_names) + " |")
    return "\n".join(lines) + "\n"


def shift_cell(row):
    """A row's mean luminance shift over the face (`metrics.luminance_shift`), signed; '-' in reports before it."""
    shift = row.get("luminance_shift")
    return "-" if shift is None else f"{shift:+.1f}"


def verification_tables(report):
    """Markdown lines: per judge, every method's TAR at fixed false-accept rates, protection success and shift."""
    lines = []
    for judge, info in report["judges"].items():
        rates = info.get("thresholds_at_far", {})
        columns = [("de-id", "deid_rate")]
        columns += [(f"TAR@FAR {float(rate):.1%} {kind} photo", f"tar_at_far_{rate}_{kind}_photo")
                    for kind in ("same", "other") for rate in rates]
        columns += [("protection success", "protection_success"), ("mean distance", "mean_distance"),
                    ("mean cosine", "mean_cosine")]
        thresholds = ", ".join(f"{float(rate):.1%}: {limit:.3f}" for rate, limit in rates.items())
        lines += ["", f"## Verification by `{judge}` at fixed false-accept rates", "",
                  f"Thresholds from the originals' impostor pairs ({thresholds or 'too few pairs'}); TAR: share of "
                  "outputs matched to the original photo (same photo) or to another photo of the person (other "
                  "photo); protection success: share of the genuine pairs matched at the judge's threshold before "
                  "that no longer match.", "",
                  "| method | " + " | ".join(title for title, _ in columns) + " |", "|" + "---|" * (1 + len(columns))]
        for method, row in report["methods"].items():
            lines.append(f"| {method} | " + " | ".join(cell(row.get(f"{judge}_{key}")) for _, key in columns) + " |")
    return lines


def tradeoff_plot(report, path):
    """Privacy against SSIM for every method and judge: the de-identification rate (paper Fig. 7) and, below,
    the share of outputs not matched to their original at the highest false-accept rate measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    judges = list(report["judges"])
    figure, axes = plt.subplots(2, len(judges), figsize=(5.5 * len(judges), 9), squeeze=False)
    for column, judge in enumerate(judges):
        panels = [(axes[0, column], "deid_rate", f"de-identification rate, {judge} judge")]
        rates = report["judges"][judge].get("thresholds_at_far") or {}
        if rates:  # privacy at the highest false-accept rate measured: outputs not matched to their original
            rate = max(rates, key=float)
            panels.append((axes[1, column], f"tar_at_far_{rate}_same_photo",
                           f"1 - TAR at FAR {float(rate):.1%} (same photo), {judge} judge"))
        for axis, key, label in panels:
            for method, row in report["methods"].items():
                value = row.get(f"{judge}_{key}")
                if value is None:
                    continue
                value = value if key == "deid_rate" else 1.0 - value
                axis.scatter(row["ssim"], value, s=60 if method == "ppgan" else 25,
                             marker="*" if method == "ppgan" else "o")
                axis.annotate(method, (row["ssim"], value), fontsize=7)
            axis.set_xlabel("SSIM with the original (utility)")
            axis.set_ylabel(label + " (privacy)", fontsize=8)
            axis.set_xlim(-0.05, 1.05)
            axis.set_ylim(-0.05, 1.05)
            axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
