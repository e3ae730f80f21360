"""Fetch a named file into gankit's cache, once, verified: the only code in gankit that downloads.

A :class:`RemoteFile` names a file, its SHA-256 and where to get it (canonical source first, then
mirrors). :func:`fetch` returns its path in the cache, downloading it on first use:

    cache folder   $GANKIT_DATA, else $XDG_CACHE_HOME/gankit, else ~/.cache/gankit
    file           <cache>/<folder>/<name>, e.g. ~/.cache/gankit/mnist/train-images-idx3-ubyte.gz

How a download stays honest:
- bytes go to ``<name>.part`` in the same folder; only after the whole file's SHA-256 matches is it
  renamed (atomically) to ``<name>``, so a half or corrupt file is never read as data;
- an interrupted download keeps its ``.part`` and the next call resumes it with an HTTP Range
  request (a server that ignores Range sends the whole file again, which is fine);
- a source whose bytes do not match the checksum is skipped for the next one; if none matches, the
  ``.part`` is deleted and one line says so;
- with no network every source is tried, then one line says what could not be fetched and the exact
  path to put the file at by hand; nothing is left behind except a resumable, non-empty ``.part``;
- concurrent processes (DDP ranks) take turns on a lock of the folder: one downloads, the others
  then find the file.

$GANKIT_DATA_URL replaces every source with ``$GANKIT_DATA_URL/<folder>/<name>`` (a local mirror, or
the loopback server of the tests). Only the standard library's urllib is used; tqdm draws a
progress bar on a terminal.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from gankit.errors import GankitError

CACHE_ENV = "GANKIT_DATA"
BASE_URL_ENV = "GANKIT_DATA_URL"
TIMEOUT_SECONDS = 30  # per socket operation: a dead network fails in seconds, a slow one keeps going
CHUNK_BYTES = 1 << 20
# What a lost network, a refused connection, a dropped transfer or an HTTP error look like.
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError)


class DownloadError(GankitError):
    """No source could deliver a file (no network, refused, HTTP error, dropped transfer)."""


@dataclass(frozen=True)
class RemoteFile:
    """A file gankit can download: ``folder/name`` in the cache, its SHA-256, where to get it."""

    folder: str  # sub-folder of the cache, e.g. "mnist"
    name: str  # file name, e.g. "train-images-idx3-ubyte.gz"
    sha256: str
    urls: tuple[str, ...]  # canonical source first, then mirrors
    size: int | None = None  # bytes, for the progress bar


def cache_dir() -> Path:
    """$GANKIT_DATA, else $XDG_CACHE_HOME/gankit, else ~/.cache/gankit (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "gankit"


def cached_path(file: RemoteFile) -> Path:
    """Where ``file`` lives once fetched (and where to put it by hand)."""
    return cache_dir() / file.folder / file.name


def source_urls(file: RemoteFile) -> tuple[str, ...]:
    """The URLs tried in order: $GANKIT_DATA_URL's copy alone when it is set, else the file's own."""
    base = os.environ.get(BASE_URL_ENV)
    if base:
        return (f"{base.rstrip('/')}/{file.folder}/{file.name}",)
    return file.urls


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(file: RemoteFile) -> Path:
    """The verified local copy of ``file``, downloaded into the cache on first use.

    Raises GankitError (one line) when it cannot be fetched or its checksum does not match.
    """
    target = cached_path(file)
    if target.is_file():
        _verify_or_delete(target, file, what="cached file")
        return target
    created = [folder for folder in (target.parent, *target.parent.parents) if not folder.exists()]
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise GankitError(f"cannot create the data cache folder {target.parent}: {error.strerror}") from None
    try:
        with _folder_lock(target.parent):
            if not target.is_file():  # another process may have fetched it while we waited
                _download(file, target)
    finally:
        for folder in created:  # innermost first; rmdir only removes what a failure left empty
            with contextlib.suppress(OSError):
                folder.rmdir()
    return target


def _download(file: RemoteFile, target: Path) -> None:
    """Try each source in turn until one delivers the right bytes; publish them as ``target``."""
    part = target.with_name(target.name + ".part")
    if file.size is not None and part.is_file() and part.stat().st_size == file.size:
        if sha256_file(part) == file.sha256:  # a finished download that was never renamed
            _publish(part, target)
            return
        part.unlink()
    urls = source_urls(file)
    failure, mismatch = "", ""
    for url in urls:
        try:
            _transfer(url, part, file)
        except NETWORK_ERRORS as error:
            failure = _reason(error)
            continue
        actual = sha256_file(part)
        if actual == file.sha256:
            _publish(part, target)
            return
        part.unlink()  # a wrong file (an error page, a changed file): the next source starts afresh
        mismatch = f"{url} does not match its SHA-256 (expected {file.sha256}, got {actual}); deleted it"
    kept = part.is_file() and part.stat().st_size > 0
    if part.is_file() and not kept:
        part.unlink()
    if mismatch:
        raise GankitError(f"download of {mismatch}, run again to download it afresh")
    mirrors = f" (and {len(urls) - 1} mirror{'s' * (len(urls) > 2)})" if len(urls) > 1 else ""
    resume = f"; the partial download {part.name} is kept and resumes next time" if kept else ""
    raise DownloadError(
        f"could not download {urls[0]}{mirrors}: {failure}; without a network, put the file at "
        f"{target} by hand (SHA-256 {file.sha256}){resume}"
    )


def _transfer(url: str, part: Path, file: RemoteFile) -> None:
    """Append ``url``'s bytes to ``part``, resuming from its current size with a Range request."""
    from tqdm.auto import tqdm

    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "gankit"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as error:
        if error.code != 416 or not have:  # 416: nothing left after `have` bytes; start over
            raise
        part.unlink()
        have = 0
        request.remove_header("Range")
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    with response:
        announced = response.length is not None  # the Content-Length header, if any
        if have and response.status != 206:  # the server ignored Range: it sends the whole file
            have = 0
        with (
            part.open("ab" if have else "wb") as out,
            tqdm(
                total=file.size,
                initial=have,
                unit="B",
                unit_scale=True,
                desc=file.name,
                disable=None,  # only on a terminal
                file=sys.stderr,
                leave=False,
            ) as bar,
        ):
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
            missing = response.length or 0  # bytes the server announced but did not send
            if not announced and file.size is not None:  # no Content-Length: the pinned size tells
                missing = max(file.size - out.tell(), 0)
    if missing:  # urllib returns a short read quietly when a connection drops
        raise http.client.IncompleteRead(b"", missing)


def _verify_or_delete(path: Path, file: RemoteFile, what: str) -> None:
    actual = sha256_file(path)
    if actual != file.sha256:
        path.unlink()
        raise GankitError(
            f"{what} {path} does not match its SHA-256 (expected {file.sha256}, got {actual}); "
            "deleted it, run again to download it afresh"
        )


def _publish(part: Path, target: Path) -> None:
    """Rename the verified ``.part`` to its final name; the rename is atomic within one folder."""
    os.replace(part, target)
    with contextlib.suppress(OSError):  # make the rename durable (some file systems cannot)
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _folder_lock(folder: Path):
    """An exclusive lock on the cache folder itself (POSIX flock; no lock file left behind)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock; the checksum still catches a garbled concurrent download
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _reason(error: BaseException) -> str:
    """A short, single-line reason for a network failure."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        error = error.reason if isinstance(error.reason, BaseException) else error
    if isinstance(error, http.client.IncompleteRead):
        return "the connection closed before the file was complete"
    text = str(getattr(error, "strerror", None) or error).strip().splitlines()
    return text[0] if text else type(error).__name__
