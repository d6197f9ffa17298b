"""Plain-HTTP file downloads into a cache: resumable (HTTP Range), sha256-checked, offline-aware.

A download goes to `<dest>.part` first; an interrupted one is resumed from where it stopped on the
next call. The file is moved to `dest` only once complete and, when a sha256 is pinned, verified;
a mismatch deletes the partial file so nothing wrong is ever cached.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ssamba._version import __version__
from ssamba.errors import DownloadError

logger = logging.getLogger(__name__)

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "SSAMBA_OFFLINE")
_TRUE = ("1", "true", "yes", "on")
_BLOCK = 1 << 20


def offline_mode() -> bool:
    """True when `HF_HUB_OFFLINE` or `SSAMBA_OFFLINE` is set to 1/true/yes/on: never touch the network."""
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in OFFLINE_VARIABLES)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _open(url: str, start: int, timeout: float):
    headers = {"User-Agent": f"ssamba/{__version__}"}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _resumed_from(response, start: int) -> int:
    """Where the body starts: `start` for a matching 206 reply, else 0 (the server sent everything)."""
    if start and response.status == 206:
        content_range = response.headers.get("Content-Range", "")
        if content_range.startswith(f"bytes {start}-"):
            return start
    return 0


def _fetch_into(url: str, part: Path, timeout: float) -> None:
    start = part.stat().st_size if part.is_file() else 0
    try:
        response = _open(url, start, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not start:  # 416: the partial file is not a prefix the server knows
            raise
        part.unlink()
        start, response = 0, _open(url, 0, timeout)
    with response:
        offset = _resumed_from(response, start)
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        with (
            open(part, "ab" if offset else "wb") as out,
            tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=url, disable=None) as bar,
        ):
            while block := response.read(_BLOCK):
                out.write(block)
                bar.update(len(block))
    if total is not None and part.stat().st_size != total:
        raise http.client.IncompleteRead(b"", total - part.stat().st_size)


def download(url: str, dest: Path, sha256: str | None = None, *, timeout: float = 60.0) -> str:
    """Download `url` to `dest` (resuming `<dest>.part`); returns the file's sha256.

    Raises `DownloadError` in offline mode, on network errors (the partial file is kept for a
    resume) and on a sha256 mismatch (the partial file is deleted).
    """
    if offline_mode():
        raise DownloadError(
            f"{dest.name} is not cached and offline mode is on ({'/'.join(OFFLINE_VARIABLES)}); "
            f"unset it and run once with network access, or put the file at {dest}"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    logger.info("downloading %s to %s", url, dest)
    try:
        _fetch_into(url, part, timeout)
    except (OSError, http.client.HTTPException) as exc:
        kept = f"; {part.stat().st_size} bytes kept in {part}, run again to resume" if part.is_file() else ""
        raise DownloadError(f"cannot download {url}: {exc}{kept}") from exc
    digest = sha256_file(part)
    if sha256 is not None and digest != sha256.lower():
        part.unlink()
        raise DownloadError(
            f"{url}: sha256 mismatch (expected {sha256.lower()}, got {digest}); the download was "
            "deleted. The file changed at the source or was corrupted in transit: try again, and "
            "report it if it persists"
        )
    os.replace(part, dest)
    return digest
