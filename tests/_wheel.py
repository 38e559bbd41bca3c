"""The product as a user installs it: the wheel built from this checkout, installed NON-editable
into a fresh virtual environment (``pip install 'infersight-*.whl[collector,analysis]'``).

``tests/installed/`` runs the collector, ``diagnose``, ``import`` and ``export`` from that
install, so a file that the code opens but the wheel does not carry fails a test (an editable
install reads every file from the checkout and would hide it).

``INFERSIGHT_WHEEL_VENV=/path/to/venv`` reuses a venv made earlier (while iterating on tests);
``make test`` leaves it unset, so the suite builds and installs afresh every time. The build and
the install (about a minute of mostly disk I/O) start in a background thread as soon as pytest
has collected a test that needs them (``tests/conftest.py``), so they overlap the tests that run
before ``tests/installed/`` instead of adding to the suite's time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = "collector,analysis"


def source_tree(dest: Path) -> Path:
    """The checkout's files as a fresh clone (plus uncommitted changes) would have them.

    Building in the checkout itself would reuse its ``build/`` folder, where a file from an
    earlier build survives after its source is gone, and the wheel would carry it anyway.
    """
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True, timeout=120).stdout
    for rel in filter(None, listed.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():  # a tracked file deleted in the work tree is left out, as in the wheel
            dst = dest / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    return dest


def build_wheel(out: Path) -> Path:
    """``python -m build --wheel`` of a clean copy of the checkout into ``out``; the one wheel file."""
    src = source_tree(out / "src")
    res = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(src)],
                         capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        raise AssertionError(f"building the wheel failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    (whl,) = out.glob("infersight-*.whl")
    return whl


@dataclass(frozen=True)
class InstalledVenv:
    """A venv holding the installed wheel; ``cli`` is its ``infersight`` executable."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def cli(self) -> Path:
        return self.root / "bin" / "infersight"

    def site_packages(self) -> Path:
        out = subprocess.run([str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True, timeout=60, cwd="/")
        return Path(out.stdout.strip())


def install_wheel(wheel: Path, venv: Path, extras: str = EXTRAS) -> InstalledVenv:
    """Fresh venv at ``venv`` with ``wheel[extras]`` installed non-editable (pip's cache makes it quick)."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    target = f"{wheel}[{extras}]" if extras else str(wheel)
    res = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", target],
                         capture_output=True, text=True, timeout=900, env=env, cwd="/")
    if res.returncode != 0:
        raise AssertionError(f"pip install of the wheel failed:\n{res.stderr[-3000:]}")
    return InstalledVenv(venv)


def reused_venv() -> InstalledVenv | None:
    path = os.environ.get("INFERSIGHT_WHEEL_VENV")
    return InstalledVenv(Path(path)) if path else None


class BackgroundInstall:
    """Build the wheel and install it into a fresh venv on a thread; ``wheel()``/``venv()`` wait."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="infersight-wheel-"))
        self._built = threading.Event()
        self._done = threading.Event()
        self._wheel: Path | None = None
        self._venv: InstalledVenv | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="wheel-install", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._wheel = build_wheel(self.root / "dist")
            self._built.set()
            self._venv = reused_venv() or install_wheel(self._wheel, self.root / "venv")
        except BaseException as exc:  # noqa: BLE001 - re-raised by wheel()/venv() in the test
            self._error = exc
        finally:
            self._built.set()
            self._done.set()

    def wheel(self, timeout: float = 1800) -> Path:
        if not self._built.wait(timeout):
            raise TimeoutError("building the wheel took too long")
        if self._wheel is None:
            raise AssertionError(f"building the wheel failed: {self._error}")
        return self._wheel

    def venv(self, timeout: float = 1800) -> InstalledVenv:
        if not self._done.wait(timeout):
            raise TimeoutError("installing the wheel took too long")
        if self._venv is None:
            raise AssertionError(f"installing the wheel failed: {self._error}")
        return self._venv

    def cleanup(self) -> None:
        self._done.wait(1800)
        shutil.rmtree(self.root, ignore_errors=True)
