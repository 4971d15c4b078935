"""Screenshot a report in headless Chromium (Debian's `chromium`), for the README and for eyeballing.

    .venv/bin/python bench/screenshots.py out/runs/<run_id>/report.html docs/report-overview.png [--height 2400]
    .venv/bin/python bench/screenshots.py out/runs/<run_id>/report.html docs/report-theme.png --fragment theme-t0

Uses only the Chromium command line: no network, a throwaway profile, no GPU.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--hide-scrollbars"]


def screenshot(page: Path, png: Path, *, width: int = 1280, height: int = 2400, fragment: str = "") -> None:
    """Render ``page`` (at ``#fragment`` if given) and write a ``width`` x ``height`` PNG."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium is not installed: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                        f"--screenshot={png.resolve()}",
                        page.resolve().as_uri() + (f"#{fragment}" if fragment else "")],
                       check=True, capture_output=True, timeout=120)


def main() -> int:
    """Parse arguments and take the screenshot."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("page", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2400)
    parser.add_argument("--fragment", default="", help="open the page at #FRAGMENT, e.g. theme-t0 for a theme page")
    args = parser.parse_args()
    if not args.page.is_file():
        print(f"{args.page} does not exist")
        return 2
    screenshot(args.page, args.png, width=args.width, height=args.height, fragment=args.fragment)
    print(args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
