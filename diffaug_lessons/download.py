"""Files the package fetches (CIFAR tarballs, the Inception weights): verified before any use.

Every file has a pinned checksum published by its authors or recorded from the official copy. A
download goes to ``<file>.part`` and is renamed into place only once its checksum matches, so the final
name never holds a partial or foreign file. Every failure says which file, from which URL, and where
to put a copy fetched by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.request
from pathlib import Path

from .settings import HOME_ENV

ALGORITHMS = ("md5", "sha256")


class DownloadError(RuntimeError):
    """A file could not be downloaded or failed its checksum; the message says how to fix it."""


def fetch_verified(
    url: str, path: str | os.PathLike, digest: str, *, algorithm: str = "md5", download: bool = True, hint: str = ""
) -> Path:
    """Make sure ``path`` holds the file published at ``url`` whose ``algorithm`` digest is ``digest``.

    An existing file is checked (once: the result is remembered in ``<path>.<algorithm>ok`` until its
    size or modification time changes); a file that fails is moved to ``<path>.corrupt``, never deleted.
    A missing file is downloaded to ``<path>.part`` and renamed into place only once its digest matches.
    ``hint`` is added to every error message (another way to provide the file, say). Returns the path.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown checksum algorithm {algorithm!r}; choose from {', '.join(ALGORITHMS)}")
    path = Path(path).expanduser()
    how = how_to_fetch(url, path, digest, algorithm) + (f" {hint}" if hint else "")
    if path.exists():
        _verify_existing(path, digest, algorithm, how)
    elif download:
        _download(url, path, digest, algorithm, how)
    else:
        raise DownloadError(f"{path} is missing and download=False. {how}")
    return path


def how_to_fetch(url: str, path: Path, digest: str, algorithm: str = "md5") -> str:
    return (
        f"Fetch {url} ({algorithm.upper()} {digest}) yourself and place it at {path}. To keep data elsewhere, "
        f"set {HOME_ENV} to a folder; files are then looked for in ${HOME_ENV}/data."
    )


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path, digest: str) -> str:
    stat = path.stat()
    return f"{digest} {stat.st_size} {stat.st_mtime_ns}"


def _verify_existing(path: Path, expected: str, algorithm: str, how: str) -> None:
    sidecar = path.with_name(f"{path.name}.{algorithm}ok")
    if sidecar.exists() and sidecar.read_text() == _stamp(path, expected):
        return  # verified before and unchanged since: hashing 170 MB again would only cost time
    found = file_digest(path, algorithm)
    if found != expected:
        # The user may have put this file here by hand, so keep it for inspection instead of deleting it.
        corrupt = path.with_name(path.name + ".corrupt")
        os.replace(path, corrupt)
        raise DownloadError(
            f"{path} has {algorithm.upper()} {found}, not the expected {expected}: it is incomplete or a different "
            f"file. It was moved to {corrupt}. Run again to download a fresh copy, or: {how}"
        )
    try:
        sidecar.write_text(_stamp(path, expected))
    except OSError:  # a read-only data folder: verified all the same, just not remembered
        pass


def _download(url: str, path: Path, expected: str, algorithm: str, how: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    digest, received, length = hashlib.new(algorithm, usedforsecurity=False), 0, -1
    print(f"downloading {url} to {path}")
    try:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as file:
                length = int(response.headers.get("Content-Length") or -1)
                while block := response.read(1 << 20):
                    file.write(block)
                    digest.update(block)
                    received += len(block)
        except (OSError, http.client.HTTPException, ValueError) as error:  # URLError is an OSError
            raise DownloadError(f"could not download {url} to {path} ({type(error).__name__}: {error}). {how}") from error
        if length >= 0 and received != length:
            raise DownloadError(
                f"download of {url} stopped after {received} of {length} bytes; the partial file was removed. "
                f"Run again, or: {how}"
            )
        if digest.hexdigest() != expected:
            raise DownloadError(
                f"download of {url} has {algorithm.upper()} {digest.hexdigest()}, not the expected {expected}; "
                f"it was removed. {how}"
            )
        os.replace(part, path)  # atomic: the final name only ever holds a verified file
        path.with_name(f"{path.name}.{algorithm}ok").write_text(_stamp(path, expected))
    finally:
        part.unlink(missing_ok=True)  # a failed or interrupted download leaves nothing behind
