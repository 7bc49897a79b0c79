"""The release artefact: `python -m build` makes a wheel that installs in a fresh venv and runs."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_wheel_installs_in_a_fresh_venv_and_predicts(tmp_path):
    pytest.importorskip("build")
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    assert "license" not in built.stderr.lower() or "deprecat" not in built.stderr.lower(), built.stderr
    wheels = list(dist.glob("emorec-*.whl"))
    assert len(wheels) == 1
    import zipfile

    names = zipfile.ZipFile(wheels[0]).namelist()
    assert any(n.endswith("licenses/LICENSE") for n in names) and any(n.endswith("licenses/NOTICE") for n in names)
    assert any(n.endswith("emorec/models/face.onnx") for n in names)
    assert any(n.endswith("emorec/models/voice.onnx") for n in names)
    assert any(n.endswith("emorec/models/LICENSE-whisper.txt") for n in names)  # the encoder's MIT notice
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    py = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", str(wheels[0])], capture_output=True, text=True, timeout=900
    )
    assert install.returncode == 0, install.stderr[-2000:]
    done = subprocess.run(
        [
            str(env_dir / "bin" / "emorec"),
            "face",
            "predict",
            str(REPO / "examples" / "astronaut.jpg"),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.splitlines()[0])
    assert record["error"] is None and record["faces"]
    version = subprocess.run([str(env_dir / "bin" / "emorec"), "version"], capture_output=True, text=True)
    import emorec

    assert version.stdout.strip() == emorec.__version__
