"""The repository's promises to a newcomer: the README's commands and the notebooks."""

import json
import os
import re
import shutil

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def _quick_start_commands():
    section = _read("README.md").split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```(?:bash|sh)?\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_quick_start_is_two_commands_and_ci_runs_the_test_one():
    commands = _quick_start_commands()
    assert len(commands) == 2
    assert "trainers.train_ppgan" in commands[0]
    assert "pytest" in commands[1]
    ci_lines = [line.strip() for line in _read(".ci/run").splitlines()]
    assert commands[1] in ci_lines


@pytest.mark.slow
def test_the_quickstart_notebook_runs_top_to_bottom(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    notebook = json.loads(_read(os.path.join("notebooks", "quickstart.ipynb")))
    code = "\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code")
    shortened = code.replace("steps=200, verificator_steps=200", "steps=2, verificator_steps=2")
    assert shortened != code, "the notebook's training cell changed: update this test"
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(shortened, "quickstart.ipynb", "exec"), namespace)  # noqa: S102
    assert namespace["fakes"].shape == namespace["faces"].shape
    assert (tmp_path / "ppgan_runs" / "notebook" / "notebook_grid.png").exists()


@pytest.mark.slow
def test_the_paper_reproduction_notebook_runs_top_to_bottom_on_the_tiny_setting(tiny_ablation, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    notebook = json.loads(_read(os.path.join("notebooks", "paper_reproduction.ipynb")))
    code = "\n".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code")
    assert "FULL = False" in code, "the notebook must default to the tiny setting"
    # The notebook resumes a copy of the session's tiny ablation (trained, so only judged again) in place of
    # its own 60-step run; what it writes is removed first, so the files below are the notebook's.
    shortened = code.replace('run_config.get_config("default").replace(steps=60, verificator_steps=60)',
                             "TINY_ABLATION_CONFIG").replace("(), (), 60", "(), (), 2")
    assert shortened.count("TINY_ABLATION_CONFIG") == 1 and "(), (), 2" in shortened, \
        "the notebook's tiny setting changed: update this test"
    config, trained, _ = tiny_ablation
    workdir = tmp_path / "ppgan_runs" / "ablation_tiny"
    shutil.copytree(trained, workdir)
    written = ("ablation.json", "ablation.md", "tradeoff.png", "comparison.png", "deidentified.png")
    for name in written:
        os.remove(workdir / name)
    monkeypatch.chdir(tmp_path)
    namespace = {"TINY_ABLATION_CONFIG": config}
    exec(compile(shortened, "paper_reproduction.ipynb", "exec"), namespace)  # noqa: S102
    for name in written:
        assert (workdir / name).exists(), name
    assert {"cgan", "cgan_sim", "cgan_verif", "ppgan", "blur_sigma2"} <= set(namespace["report"]["methods"])
    assert [row[0] for row in namespace["rows"]] == ["cgan", "cgan_sim", "cgan_verif", "ppgan"]
