"""Render a Snakemake HTML report in headless Chromium, optionally opened on one of its images.

    python tests/report_screenshot.py report.html shot.png [results/.../overlays_train.png]

The report is a single-page app with no URL routes, so a copy of the page gets one script that calls
its `app.setView` (what clicking the result's button does) once the page has loaded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

OPEN_RESULT = """<script>
window.addEventListener('load', () => setTimeout(() => {
  const path = %s;
  app.setView({content: 'img', contentPath: results[path].data_uri, resultPath: path});
}, 300));
</script>"""


def chromium() -> str | None:
    """The first Chromium/Chrome binary on PATH, or None."""
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


def screenshot(report: Path, out: Path, result: str | None = None, size=(1400, 1000)) -> Path:
    """Write a PNG of the report (its front page, or the image `result` opened) and return out."""
    page = Path(report)
    if result is not None:
        html = page.read_text()
        if f'"{result}": {{' not in html:
            raise ValueError(f"{report}: no result named {result!r}")
        page = out.with_suffix(".html")
        head, body_end, tail = html.rpartition("</body>")  # the last one: the bundled JS holds the string too
        page.write_text(head + OPEN_RESULT % json.dumps(result) + body_end + tail)
    browser = chromium()
    if browser is None:
        raise FileNotFoundError("no chromium on PATH (Debian: apt-get install chromium)")
    subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={size[0]},{size[1]}",
                    "--virtual-time-budget=10000", f"--screenshot={out}", page.resolve().as_uri()],
                   check=True, capture_output=True, timeout=180)
    return out


if __name__ == "__main__":
    report, out, *result = sys.argv[1:]
    print(screenshot(Path(report), Path(out), result[0] if result else None))
