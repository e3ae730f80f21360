"""A loopback HTTP file server for the download tests: no test ever touches the internet.

It serves ``files`` (URL path -> bytes), honours ``Range: bytes=N-`` with 206 (or ignores it when
``honour_range`` is False), answers 416 past the end, and can cut the next transfer of a path short
(``truncate_once[path] = bytes sent before the connection drops``). ``requests`` records
(path, Range header) for every GET.
"""

from __future__ import annotations

import gzip
import io
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer

import numpy as np


class _QuickServer(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN: a reverse-DNS query that can hang offline.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class LoopbackServer:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.truncate_once: dict[str, int] = {}
        self.honour_range = True
        self.requests: list[tuple[str, str | None]] = []
        self._server = _QuickServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest's output clean
                pass

            def do_GET(self) -> None:
                owner.requests.append((self.path, self.headers.get("Range")))
                body = owner.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                ranged = self.headers.get("Range")
                if ranged and owner.honour_range:
                    start = int(ranged.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                cut = owner.truncate_once.pop(self.path, None)
                self.wfile.write(body[start:cut] if cut is not None else body[start:])
                if cut is not None:  # drop the connection mid-transfer
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True

        return Handler


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connecting is refused at once, like a machine offline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def idx_gz(array: np.ndarray) -> bytes:
    """``array`` (uint8) in LeCun's IDX format, gzipped, as MNIST's files are."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    return gzip.compress(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes(), mtime=0)


def cifar_tar_gz(images: np.ndarray, labels: np.ndarray, batches: int = 5) -> bytes:
    """CIFAR-10's binary version: ``images`` (N, 3, 32, 32) uint8 split over ``batches`` batch files."""
    records = np.concatenate([labels[:, None].astype(np.uint8), images.reshape(len(images), -1)], axis=1)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for index, chunk in enumerate(np.array_split(records, batches), start=1):
            payload = chunk.tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/data_batch_{index}.bin")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()
