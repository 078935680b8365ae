"""Third-party command-line clients, each in its own throwaway venv built by the tests.

The compatibility tests drive lbaas with real OpenStack clients (python-neutronclient,
later python-openstackclient with python-octaviaclient, openstacksdk). Those pull in half
of OpenStack and must not share lbaas' own venv, so each client gets a venv of its own,
built on first use and reused after that::

    bin_dir = client_venv("neutronclient", ["python-neutronclient==9.0.0"])
    subprocess.run([bin_dir / "neutron", "--help"], check=True)

The venvs live under ``<repo>/.client-venvs/`` (git ignores it; delete it to rebuild),
one per client name and set of requirements: ``<name>-<hash of the requirements>``.
That entry is a symlink to the directory the venv was built in, made only once the venv
is complete, and replaced atomically: a venv cannot be moved after it is built (its
scripts name their interpreter by absolute path), so the symlink is what gets renamed into
place. Two pytest processes may ask for the same venv at once: a lock file serialises the
build and the second one reuses the first one's result. A failed ``pip install`` leaves
nothing behind and raises :class:`ClientVenvError` with the tail of pip's output.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO / ".client-venvs"
MARKER = ".client-venv-complete"  # written last: its presence means the venv is complete
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class ClientVenvError(RuntimeError):
    """A client venv could not be built; the message carries the failing step's output."""


def client_venv(name: str, requirements: list[str], *, cache_dir: Path | None = None,
                timeout: float = 1200.0) -> Path:
    """The ``bin`` directory of a venv with exactly ``requirements`` installed.

    Builds it on first use (``python3 -m venv``, then that venv's ``pip install -q``),
    reuses it afterwards. Pin every requirement (``pkg==1.2.3``): the venv is rebuilt only
    when the list changes (or the venv no longer works because its Python went away or
    the repository moved), not when newer releases appear.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"client venv name {name!r}: letters, digits, '_', '.', '-' only")
    if not requirements:
        raise ValueError("client venv needs at least one requirement")
    cache = Path(cache_dir) if cache_dir is not None else CACHE_DIR
    digest = hashlib.sha256("\n".join(sorted(requirements)).encode()).hexdigest()[:12]
    key = f"{name}-{digest}"
    link = cache / key
    if _complete(link, requirements):
        return link / "bin"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if _complete(link, requirements):  # another process built it while we waited
            return link / "bin"
        _remove_stale(cache, key, link)
        build_dir = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=cache))
        try:
            build_dir.chmod(0o755)
            _build(build_dir, requirements, timeout)
            tmp_link = cache / f".{key}.link-{os.getpid()}"
            tmp_link.unlink(missing_ok=True)
            tmp_link.symlink_to(build_dir.name)  # relative: next to it
            os.replace(tmp_link, link)  # atomic: the complete venv appears at once
        except BaseException:
            shutil.rmtree(build_dir, ignore_errors=True)
            raise
        _remove_stale(cache, key, link)  # a broken venv that the new one replaced
    return link / "bin"


def _complete(link: Path, requirements: list[str]) -> bool:
    """The venv behind ``link`` is finished, for these requirements, and still usable."""
    try:
        real = link.resolve(strict=True)
        info = json.loads((real / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(info, dict)
            and info.get("requirements") == sorted(requirements)
            and info.get("path") == str(real)  # scripts' shebangs point there
            and (real / "bin" / "python").exists())  # follows the symlink to the base Python


def _remove_stale(cache: Path, key: str, link: Path) -> None:
    """Build directories of ``key`` that ``link`` does not point to: a killed or failed
    build, or a venv that was replaced. Called with the lock held, so none is in use by a
    build; a venv that was replaced no longer worked anyway."""
    current = link.resolve() if link.is_symlink() else None
    if link.exists() and not link.is_symlink():  # not made by us: out of the way
        shutil.rmtree(link, ignore_errors=True)
    elif link.is_symlink() and not _is_venv_dir(current):
        link.unlink()
    for path in cache.glob(f"{key}.*"):
        if path.is_dir() and not path.is_symlink() and path.resolve() != current:
            shutil.rmtree(path, ignore_errors=True)
    for path in cache.glob(f".{key}.link-*"):
        path.unlink(missing_ok=True)


def _is_venv_dir(path: Path | None) -> bool:
    return path is not None and (path / "pyvenv.cfg").is_file()


def _build(venv: Path, requirements: list[str], timeout: float) -> None:
    python3 = shutil.which("python3")
    if python3 is None:
        raise ClientVenvError("client venv: no python3 on PATH to create it with")
    # Nothing of the caller's Python environment may leak into the client's: with
    # PYTHONPATH set, pip would count packages found there as already installed.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    _run([python3, "-m", "venv", "--clear", str(venv)], env, timeout,
         f"creating the venv {venv.name}")
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-input",
          "--disable-pip-version-check", *requirements], env, timeout,
         f"pip install {' '.join(requirements)}")
    marker = {"requirements": sorted(requirements), "path": str(venv.resolve())}
    (venv / MARKER).write_text(json.dumps(marker, indent=1) + "\n")


def _run(argv: list[str], env: dict[str, str], timeout: float, what: str) -> None:
    try:
        proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace",
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = exc.output if isinstance(exc.output, str) else ""
        raise ClientVenvError(f"{what}: no result after {timeout:.0f}s; output's tail:\n"
                              f"{_tail(out)}") from None
    if proc.returncode != 0:
        raise ClientVenvError(f"{what}: exit status {proc.returncode}; output's tail:\n"
                              f"{_tail(proc.stdout)}")


def _tail(text: str, lines: int = 40) -> str:
    # A pip configured with extra indexes that are not there warns about each of them for
    # every package; keep the lines that say what went wrong.
    kept = [line for line in text.splitlines()
            if not (line.startswith("WARNING: Location ") and "is ignored" in line)]
    return "\n".join(kept[-lines:]) or "(no output)"
