"""An evaluation's report files: report.json, report.md (tables) and tradeoff.png (paper Fig. 7)."""

import json
import os


def write_report(report, out):
    """Writes report.json, report.md and tradeoff.png into `out`; returns `out`."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(markdown_report(report))
    tradeoff_plot(report, os.path.join(out, "tradeoff.png"))
    return out


def markdown_report(report):
    judge_names = list(report["judges"])
    header = ["method", "SSIM"] + [f"{j} de-id" for j in judge_names] + [f"{j} IDS" for j in judge_names] + \
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
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method, row in report["methods"].items():
        cells = [method, f"{row['ssim']:.3f}"]
        for key in ("deid_rate", "identity_switches", "rank1_reidentification"):
            for judge in judge_names:
                value = row[f"{judge}_{key}"]
                cells.append("-" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value)))
        lines.append("| " + " | ".join(cells) + " |")
    for attribute, result in report.get("attributes", {}).items():
        lines += ["", f"## Attribute preservation: {attribute}", "",
                  f"Classifier trained on original training faces ({', '.join(result['classes'])}); accuracy on "
                  f"{result['test_faces']} test faces: originals {result['original']:.3f}.", "",
                  "| method | accuracy |", "|---|---|"]
        lines += [f"| {method} | {accuracy:.3f} |" for method, accuracy in result["methods"].items()]
    for attribute, values in report.get("groups", {}).items():
        lines += ["", f"## By {attribute}", "",
                  "| group | method | faces | SSIM | " + " | ".join(f"{j} de-id" for j in judge_names) + " |",
                  "|" + "---|" * (4 + len(judge_names))]
        for value, methods in values.items():
            for method, row in methods.items():
                lines.append(f"| {value} | {method} | {row['faces']} | {row['ssim']:.3f} | "
                             + " | ".join(f"{row[f'{j}_deid_rate']:.3f}" for j in judge_names) + " |")
    return "\n".join(lines) + "\n"


def tradeoff_plot(report, path):
    """De-identification rate against SSIM for every method and judge (paper Fig. 7)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(report["judges"]), figsize=(5.5 * len(report["judges"]), 4.5), squeeze=False)
    for axis, judge in zip(axes[0], report["judges"]):
        for method, row in report["methods"].items():
            axis.scatter(row["ssim"], row[f"{judge}_deid_rate"], s=60 if method == "ppgan" else 25,
                         marker="*" if method == "ppgan" else "o")
            axis.annotate(method, (row["ssim"], row[f"{judge}_deid_rate"]), fontsize=7)
        axis.set_xlabel("SSIM with the original (utility)")
        axis.set_ylabel(f"de-identification rate, {judge} judge (privacy)")
        axis.set_xlim(-0.05, 1.05)
        axis.set_ylim(-0.05, 1.05)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
