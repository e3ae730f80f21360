"""Find a named file on disk or fetch it into gankit's cache, verified: gankit's only downloader.

A :class:`RemoteFile` names a file, its SHA-256 and where to get it (canonical source first, then
mirrors). :func:`fetch` returns the first verified copy found, in this order, and downloads it
into the cache only when there is none:

    1. $GANKIT_DATA/<folder>/<name>          the user's folder, when $GANKIT_DATA is set
    2. /usr/share/datasets/<folder>/<name>   a system copy, as Debian's dataset-* packages install
                                             them (apt-get install dataset-fashion-mnist), read in place
    3. <cache>/<folder>/<name>               the cache: $GANKIT_DATA, else $XDG_CACHE_HOME/gankit,
                                             else ~/.cache/gankit
    4. a download into the cache

A copy is verified by the SHA-256 of its bytes, or, for a gzipped file that pins
``content_sha256`` (the IDX files of MNIST and Fashion-MNIST), by the SHA-256 of its gunzipped
content: a re-compressed copy (Debian's) or an unpacked one (under the name without ``.gz``) holds
the same data and is accepted. gankit never deletes a file it did not write: a copy that fails
verification is renamed to ``<name>.rejected-<UTC time>`` beside it and one line says so (a system
copy is only skipped, with a warning).

How a download stays honest:
- bytes go to ``<name>.part`` in the same folder; only after the whole file's SHA-256 matches is it
  renamed (atomically) to ``<name>``, so a half or corrupt file is never read as data;
- an interrupted download keeps its ``.part`` and the next call resumes it with an HTTP Range
  request (a server that ignores Range sends the whole file again, which is fine);
- a source whose bytes do not match the checksum is skipped for the next one; if none matches, the
  ``.part`` is deleted (set aside instead if an earlier run began it) and one line says so;
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
import gzip
import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from gankit.errors import GankitError

CACHE_ENV = "GANKIT_DATA"
BASE_URL_ENV = "GANKIT_DATA_URL"
TIMEOUT_SECONDS = 30  # per socket operation: a dead network fails in seconds, a slow one keeps going
CHUNK_BYTES = 1 << 20
# Where system packages put data sets: Debian's dataset-fashion-mnist installs
# /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz and the other three IDX files.
SYSTEM_DATA_DIRS = (Path("/usr/share/datasets"),)
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
    content_sha256: str | None = None  # of the gunzipped bytes: any re-gzipped or unpacked copy passes

    @property
    def local_names(self) -> tuple[str, ...]:
        """Names a copy may have on disk: the published one, and unpacked (no ``.gz``) where allowed."""
        if self.content_sha256 and self.name.endswith(".gz"):
            return self.name, self.name.removesuffix(".gz")
        return (self.name,)


def cache_dir() -> Path:
    """$GANKIT_DATA, else $XDG_CACHE_HOME/gankit, else ~/.cache/gankit (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "gankit"


def cached_path(file: RemoteFile) -> Path:
    """Where ``file`` lives once downloaded (and where to put it by hand)."""
    return cache_dir() / file.folder / file.name


def search_dirs() -> tuple[Path, ...]:
    """The folders searched for a copy, in order: $GANKIT_DATA, the system copies, the cache."""
    user = [Path(os.environ[CACHE_ENV]).expanduser()] if os.environ.get(CACHE_ENV) else []
    return tuple(dict.fromkeys([*user, *SYSTEM_DATA_DIRS, cache_dir()]))  # the cache may be $GANKIT_DATA


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


def content_sha256(path: Path) -> str:
    """SHA-256 of a file's content: its bytes gunzipped when it is a gzip file, else as they are."""
    with path.open("rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    digest = hashlib.sha256()
    with gzip.open(path, "rb") if gzipped else path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(file: RemoteFile) -> Path:
    """The first verified copy of ``file`` on disk (:func:`find_copy`), else a download into the cache.

    Raises GankitError (one line) when it cannot be fetched or a copy fails verification.
    """
    found = find_copy(file)
    if found is not None:
        return found
    target = cached_path(file)
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


def find_copy(file: RemoteFile) -> Path | None:
    """The first copy of ``file`` that passes verification, searched in :func:`search_dirs` order.

    A copy that fails is never deleted: in the user's folder or the cache it is set aside
    (``<name>.rejected-<UTC time>``) and GankitError says so and what to do; a system copy, which
    belongs to the package manager, is skipped with a warning. None when there is no copy.
    """
    for folder in search_dirs():
        system = folder in SYSTEM_DATA_DIRS
        for path in (folder / file.folder / name for name in file.local_names):
            if not path.is_file():
                continue
            try:
                problem = _mismatch(path, file)
            except OSError as error:
                if system:
                    _warn(f"cannot read the system copy {path} ({error.strerror}); skipping it")
                    continue
                raise GankitError(f"cannot read {path}: {error.strerror}") from None
            if problem is None:
                return path
            if system:
                _warn(f"skipping the system copy {path}: it {problem}; reinstall the package that owns it")
                continue
            aside = _set_aside(path, problem)
            raise GankitError(
                f"{path} {problem}; set it aside as {aside.name} (gankit deletes no file it did not "
                f"write): put the official file there, or run again to fetch a fresh copy"
            )
    return None


def _mismatch(path: Path, file: RemoteFile) -> str | None:
    """None when ``path`` holds ``file`` (its own SHA-256, or its content's), else what is wrong."""
    actual = sha256_file(path)
    if actual == file.sha256:
        return None
    if file.content_sha256 is None:
        return f"does not match its SHA-256 (expected {file.sha256}, got {actual})"
    try:
        content = content_sha256(path)
    except (gzip.BadGzipFile, EOFError, zlib.error):
        content = "a broken gzip stream"
    if content == file.content_sha256:
        return None
    return (
        f"does not match its SHA-256 (expected {file.sha256} as published, or {file.content_sha256} "
        f"for the gunzipped content; got {actual}, content {content})"
    )


def _set_aside(path: Path, problem: str) -> Path:
    """Rename a file that failed verification to ``<name>.rejected-<UTC time>`` beside it."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside, count = path.with_name(f"{path.name}.rejected-{stamp}"), 1
    while aside.exists():  # never rename over an earlier rejected file
        aside, count = path.with_name(f"{path.name}.rejected-{stamp}-{count}"), count + 1
    try:
        os.rename(path, aside)
    except OSError as error:
        raise GankitError(
            f"{path} {problem}; could not set it aside ({error.strerror}): replace it with the official file"
        ) from None
    return aside


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of a file, None if there is none: tells an earlier run's ``.part`` from ours."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def _discard_part(part: Path, inherited: tuple[int, int] | None, problem: str) -> None:
    """Delete a ``.part`` this call created; set aside the one an earlier run began (``inherited``)."""
    if _identity(part) != inherited:
        part.unlink()
    else:
        aside = _set_aside(part, problem)
        _warn(f"{part} {problem}; set it aside as {aside.name} and started the download afresh")


def _warn(message: str) -> None:
    print(f"gankit: warning: {message}", file=sys.stderr)


def _download(file: RemoteFile, target: Path) -> None:
    """Try each source in turn until one delivers the right bytes; publish them as ``target``."""
    part = target.with_name(target.name + ".part")
    inherited = _identity(part)  # an earlier run's partial download: resumed, never deleted
    if file.size is not None and part.is_file() and part.stat().st_size == file.size:
        actual = sha256_file(part)
        if actual == file.sha256:  # a finished download that was never renamed
            _publish(part, target)
            return
        _discard_part(part, inherited, f"is complete but does not match its SHA-256 (got {actual})")
    urls = source_urls(file)
    failure, mismatch = "", ""
    for url in urls:
        try:
            _transfer(url, part, file, inherited)
        except NETWORK_ERRORS as error:
            failure = _reason(error)
            continue
        actual = sha256_file(part)
        if actual == file.sha256:
            _publish(part, target)
            return
        # a wrong file (an error page, a changed file): the next source starts afresh
        what = "deleted it" if _identity(part) != inherited else "set it aside"
        _discard_part(part, inherited, f"downloaded from {url} does not match its SHA-256 (got {actual})")
        mismatch = f"{url} does not match its SHA-256 (expected {file.sha256}, got {actual}); {what}"
    kept = part.is_file() and part.stat().st_size > 0
    if part.is_file() and not kept and _identity(part) != inherited:
        part.unlink()  # an empty file this call created
    if mismatch:
        raise GankitError(f"download of {mismatch}, run again to download it afresh")
    mirrors = f" (and {len(urls) - 1} mirror{'s' * (len(urls) > 2)})" if len(urls) > 1 else ""
    resume = f"; the partial download {part.name} is kept and resumes next time" if kept else ""
    raise DownloadError(
        f"could not download {urls[0]}{mirrors}: {failure}; without a network, put the file at "
        f"{target} by hand (SHA-256 {file.sha256}){resume}"
    )


def _transfer(url: str, part: Path, file: RemoteFile, inherited: tuple[int, int] | None) -> None:
    """Append ``url``'s bytes to ``part``, resuming from its current size with a Range request.

    A part that cannot be resumed starts afresh (:func:`_discard_part` says how, ``inherited`` why).
    """
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "gankit"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as error:
        if error.code != 416 or not have:  # 416: nothing left after `have` bytes; start over
            raise
        _discard_part(part, inherited, f"is longer than the file at {url}")
        have = 0
        request.remove_header("Range")
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    with response:
        announced = response.length is not None  # the Content-Length header, if any
        if have and response.status != 206:  # the server ignored Range: it sends the whole file
            if _identity(part) == inherited:  # ours is simply overwritten
                _discard_part(part, inherited, f"cannot be resumed from {url} (it ignores Range requests)")
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
