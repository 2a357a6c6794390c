"""The engine installs as a package: `pip install .` gives `resnet_lab` (the core/ folder, its shipped runs
included) and the `resnet-lab` command, which works from any directory."""

import subprocess
import sys
import venv
import zipfile

from conftest import ROOT


def test_the_wheel_holds_every_layer_and_the_shipped_runs(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("resnet_lab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for layer in ("engine", "runs", "analysis", "cli"):
        assert f"resnet_lab/{layer}/__init__.py" in names
    shipped = [n for n in names if n.startswith("resnet_lab/runs/shipped/")]
    on_disk = [p for p in (ROOT / "core" / "runs" / "shipped").rglob("*") if p.is_file()]
    assert shipped and len(shipped) == len(on_disk)
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "resnet-lab = resnet_lab.cli:console" in zipfile.ZipFile(wheel).read(entry).decode()


def test_resnet_lab_runs_from_any_directory(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, system_site_packages=True)  # the dependencies come from this Python
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-build-isolation",
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    help_text = subprocess.run(
        [env_dir / "bin" / "resnet-lab", "--help"], cwd=elsewhere, capture_output=True, text=True, timeout=300
    )
    assert help_text.returncode == 0 and help_text.stdout.startswith("usage: resnet-lab")
    listed = subprocess.run(
        [env_dir / "bin" / "resnet-lab", "list", "--dataset", "cifar10", "--json", "--store", str(tmp_path / "store")],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert listed.returncode == 0, listed.stderr
    assert '"reference": true' in listed.stdout  # the shipped runs came with the package
