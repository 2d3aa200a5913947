"""Headless Chromium for tests that open a page as a reader would (Debian's `chromium` package,
installed where absent when the tests run as root with apt-get)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

INSTALL_TIMEOUT_S = 900
# no background connections (component updates, sync, QUIC): a closed network refuses them, many
# at a time, and a test page needs none
HEADLESS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync")


def _apt(*args: str) -> bool:
    try:
        return subprocess.run(["apt-get", *args], capture_output=True, timeout=INSTALL_TIMEOUT_S,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def find_or_install_chromium() -> tuple[str | None, str]:
    """(the chromium command, "") or (None, why there is none)."""
    found = shutil.which("chromium")
    if found:
        return found, ""
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return None, "chromium is not installed and cannot be installed here (apt-get install -y chromium needs root)"
    if not (_apt("install", "-y", "chromium") or (_apt("update") and _apt("install", "-y", "chromium"))):
        return None, "apt-get install -y chromium failed (no package source reachable?)"
    found = shutil.which("chromium")
    return (found, "") if found else (None, "apt-get installed chromium but no chromium command is on PATH")


def _run(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    # a profile dir of its own: two browsers never share one (a lock), nor the user's
    return subprocess.run([chromium, *HEADLESS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120)


def screenshot(chromium: str, page: Path, out: Path, size: str = "1280,2000") -> None:
    proc = _run(chromium, out.parent / "chromium-profile", f"--screenshot={out}", f"--window-size={size}",
                page.resolve().as_uri())
    assert proc.returncode == 0 and out.is_file(), f"chromium --screenshot failed:\n{proc.stderr[-2000:]}"


def dump_dom(chromium: str, page: Path, profile: Path) -> str:
    """The DOM after the page loaded and its scripts ran."""
    proc = _run(chromium, profile, "--dump-dom", page.resolve().as_uri())
    assert proc.returncode == 0 and proc.stdout, f"chromium --dump-dom failed:\n{proc.stderr[-2000:]}"
    return proc.stdout
