"""Named data sets download once, verified and atomically, resume, and fail in one line offline.

Every byte comes from a loopback HTTP server (tests/loopback.py) serving tiny files in the real
formats: IDX .gz files for MNIST / Fashion-MNIST, a binary-version tar.gz for CIFAR-10. The system
copies' folder (/usr/share/datasets) is an empty folder of the test's own.
"""

import contextlib
import dataclasses
import gzip
import hashlib
import io
import json
import os
import tarfile

import numpy as np
import pytest
import torch

from gankit.data import STANDARD_SET_NAMES, load_data, standard
from gankit.data import download as download_module
from gankit.data.download import RemoteFile, cache_dir, cached_path, fetch
from gankit.errors import GankitError
from loopback import LoopbackServer, cifar_tar_gz, closed_port_url, idx_gz

RNG = np.random.default_rng(0)
DIGITS = RNG.integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
DIGIT_LABELS = np.arange(40, dtype=np.uint8) % 10
CIFAR = RNG.integers(0, 256, size=(20, 3, 32, 32), dtype=np.uint8)
CIFAR_LABELS = (np.arange(20) * 3 % 10).astype(np.uint8)
TEST_DIGITS = RNG.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)  # the t10k files' stand-ins
TEST_LABELS = (np.arange(12) * 7 % 10).astype(np.uint8)


def sha(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def with_test_batch(archive: bytes, images: np.ndarray, labels: np.ndarray) -> bytes:
    """A CIFAR-10 archive of loopback.cifar_tar_gz with ``test_batch.bin`` added."""
    records = np.concatenate([labels[:, None], images.reshape(len(images), -1)], axis=1).astype(np.uint8)
    buffer = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as source,
        tarfile.open(fileobj=buffer, mode="w:gz") as tar,
    ):
        for member in source.getmembers():
            tar.addfile(member, source.extractfile(member))
        info = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        info.size = records.nbytes
        tar.addfile(info, io.BytesIO(records.tobytes()))
    return buffer.getvalue()


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A loopback server; the cache in tmp_path/cache; every remote file fetched from the server."""
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(download_module, "SYSTEM_DATA_DIRS", (tmp_path / "system",))
    with LoopbackServer() as loopback:
        monkeypatch.setenv("GANKIT_DATA_URL", loopback.url)
        yield loopback


def pinned(file: RemoteFile, payload: bytes) -> RemoteFile:
    """``file`` with the checksums (and size) of ``payload``, the test's stand-in for it."""
    content = sha(gzip.decompress(payload)) if file.content_sha256 else None
    return dataclasses.replace(file, sha256=sha(payload), size=len(payload), content_sha256=content)


@pytest.fixture
def served_sets(server, monkeypatch):
    """Tiny MNIST, Fashion-MNIST and CIFAR-10 files on the server, their checksums pinned for the test."""
    cifar = with_test_batch(cifar_tar_gz(CIFAR, CIFAR_LABELS), CIFAR[:4], CIFAR_LABELS[:4])
    idx_files = {
        "train-images-idx3-ubyte.gz": DIGITS,
        "train-labels-idx1-ubyte.gz": DIGIT_LABELS,
        "t10k-images-idx3-ubyte.gz": TEST_DIGITS,
        "t10k-labels-idx1-ubyte.gz": TEST_LABELS,
    }
    fashion = {name: 255 - array if "images" in name else array for name, array in idx_files.items()}
    payloads = {
        "mnist": {name: idx_gz(array) for name, array in idx_files.items()},
        "fashion-mnist": {name: idx_gz(array) for name, array in fashion.items()},
        "cifar10": {"cifar-10-binary.tar.gz": cifar},
    }
    for name, contents in payloads.items():
        spec = standard.STANDARD_SETS[name]
        for file in spec.files:
            server.files[f"/{file.folder}/{file.name}"] = contents[file.name]
        splits = {
            split: tuple(pinned(file, contents[file.name]) for file in files)
            for split, files in spec.splits.items()
        }
        monkeypatch.setitem(standard.STANDARD_SETS, name, dataclasses.replace(spec, splits=splits))
    return server


def remote(server, payload: bytes, name: str = "blob.bin", size: int | None = None) -> RemoteFile:
    server.files[f"/test/{name}"] = payload
    return RemoteFile("test", name, sha(payload), ("https://example.invalid/never-used",), size)


def leftovers(tmp_path) -> list[str]:
    root = tmp_path / "cache"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_a_file_is_downloaded_verified_and_then_read_from_the_cache(server, tmp_path):
    payload = bytes(range(256)) * 1000
    file = remote(server, payload)
    path = fetch(file)
    assert path == tmp_path / "cache" / "test" / "blob.bin" and path.read_bytes() == payload
    assert fetch(file) == path and len(server.requests) == 1  # the second call touches no network
    assert leftovers(tmp_path) == ["test", "test/blob.bin"]  # no .part, no lock file


def test_a_checksum_mismatch_deletes_the_download_and_says_so_in_one_line(server, tmp_path):
    file = dataclasses.replace(remote(server, b"the wrong bytes"), sha256="0" * 64)
    with pytest.raises(GankitError, match="does not match its SHA-256") as raised:
        fetch(file)
    assert "\n" not in str(raised.value) and "deleted it" in str(raised.value)
    assert leftovers(tmp_path) == []  # no final file, no .part, not even the folder


def test_checksum_failure_from_the_cli_exits_2_with_nothing_in_the_cache(served_sets, cli, tmp_path):
    served_sets.files["/mnist/train-images-idx3-ubyte.gz"] = idx_gz(DIGITS[:-1])  # not the pinned file
    code, out, err = cli("train", "--data", "mnist", "--steps", "2", "--out", tmp_path / "run")
    assert code == 2 and err.count("\n") == 1 and "does not match its SHA-256" in err, err
    assert "train-images-idx3-ubyte.gz" not in leftovers(tmp_path)
    assert not any(name.endswith(".part") for name in leftovers(tmp_path))
    assert not (tmp_path / "run").exists()


def test_a_source_sending_the_wrong_bytes_is_skipped_for_the_next_mirror(server, monkeypatch):
    monkeypatch.delenv("GANKIT_DATA_URL")
    payload = b"the real file"
    server.files["/canonical/blob.bin"] = b"<html>please log in</html>"
    server.files["/mirror/blob.bin"] = payload
    urls = (f"{server.url}/canonical/blob.bin", f"{server.url}/mirror/blob.bin")
    file = RemoteFile("test", "blob.bin", sha(payload), urls)
    assert fetch(file).read_bytes() == payload
    assert [path for path, _ in server.requests] == ["/canonical/blob.bin", "/mirror/blob.bin"]


def test_an_interrupted_download_keeps_its_part_and_resumes_with_a_range_request(server, tmp_path):
    payload = RNG.integers(0, 256, size=50_000, dtype=np.uint8).tobytes()
    file = remote(server, payload, size=len(payload))
    server.truncate_once["/test/blob.bin"] = 20_000
    with pytest.raises(GankitError, match="partial download blob.bin.part is kept") as raised:
        fetch(file)
    assert "\n" not in str(raised.value)
    part = tmp_path / "cache" / "test" / "blob.bin.part"
    assert part.stat().st_size == 20_000 and not cached_path(file).exists()  # never a half final file
    assert fetch(file).read_bytes() == payload
    assert server.requests[-1] == ("/test/blob.bin", "bytes=20000-") and not part.exists()


def test_a_short_transfer_is_caught_even_when_the_size_is_not_pinned(server, tmp_path):
    payload = b"x" * 10_000
    file = remote(server, payload)  # size None: only Content-Length tells the transfer was short
    server.truncate_once["/test/blob.bin"] = 4_000
    with pytest.raises(GankitError, match="closed before the file was complete"):
        fetch(file)
    assert fetch(file).read_bytes() == payload and server.requests[-1][1] == "bytes=4000-"


def test_a_server_that_ignores_range_sends_everything_again(server):
    payload = b"abcdef" * 5_000
    file = remote(server, payload, size=len(payload))
    server.truncate_once["/test/blob.bin"] = 1_000
    with pytest.raises(GankitError):
        fetch(file)
    server.honour_range = False
    assert fetch(file).read_bytes() == payload


def test_a_part_past_the_end_is_restarted_after_416(server, tmp_path):
    payload = b"0123456789" * 100
    file = remote(server, payload)  # size unknown, so the stale part's length cannot be checked first
    part = tmp_path / "cache" / "test" / "blob.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"?" * 2_000)  # e.g. a partial download of an older, longer file
    assert fetch(file).read_bytes() == payload
    assert [r[1] for r in server.requests] == ["bytes=2000-", None]
    [aside] = part.parent.glob("blob.bin.part.rejected-*")  # an earlier run's file: set aside, kept
    assert aside.read_bytes() == b"?" * 2_000


def test_a_full_size_part_with_the_wrong_bytes_is_set_aside_and_downloaded_again(server, tmp_path, capsys):
    payload = b"right bytes"
    file = remote(server, payload, size=len(payload))
    part = tmp_path / "cache" / "test" / "blob.bin.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"wrong bytes")  # same length, left by an earlier run: not this call's to delete
    assert fetch(file).read_bytes() == payload and server.requests == [("/test/blob.bin", None)]
    [aside] = (tmp_path / "cache" / "test").glob("blob.bin.part.rejected-*")
    assert aside.read_bytes() == b"wrong bytes"
    warning = capsys.readouterr().err
    assert warning.count("\n") == 1 and f"set it aside as {aside.name}" in warning


def test_a_finished_part_is_verified_and_published_without_any_network(monkeypatch, tmp_path):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("GANKIT_DATA_URL", closed_port_url())
    payload = b"complete but never renamed"
    file = RemoteFile("test", "blob.bin", sha(payload), ("https://example.invalid/",), len(payload))
    (tmp_path / "cache" / "test").mkdir(parents=True)
    (tmp_path / "cache" / "test" / "blob.bin.part").write_bytes(payload)
    assert fetch(file).read_bytes() == payload


def test_a_corrupt_cached_file_is_set_aside_not_deleted_with_one_line(server, tmp_path):
    file = remote(server, b"good")
    cached_path(file).parent.mkdir(parents=True)
    cached_path(file).write_bytes(b"bad!")  # e.g. the wrong file put there by hand
    with pytest.raises(GankitError, match="blob.bin does not match its SHA-256") as raised:
        fetch(file)
    message = str(raised.value)
    [aside] = cached_path(file).parent.glob("blob.bin.rejected-*")
    assert "\n" not in message and f"set it aside as {aside.name}" in message and "run again" in message
    assert aside.read_bytes() == b"bad!" and not cached_path(file).exists()
    assert fetch(file).read_bytes() == b"good" and aside.read_bytes() == b"bad!"


def test_offline_the_cli_names_the_url_and_where_to_put_the_file_by_hand(monkeypatch, cli, tmp_path):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))
    offline = closed_port_url()
    monkeypatch.setenv("GANKIT_DATA_URL", offline)
    code, out, err = cli("train", "--data", "mnist", "--steps", "2", "--out", tmp_path / "run")
    manual = tmp_path / "cache" / "mnist" / "train-images-idx3-ubyte.gz"
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"could not download {offline}/mnist/train-images-idx3-ubyte.gz" in err
    assert f"put the file at {manual} by hand" in err
    assert "(mnist also needs train-labels-idx1-ubyte.gz in that folder)" in err
    assert leftovers(tmp_path) == [] and not (tmp_path / "run").exists()  # nothing left behind


def test_offline_fashion_mnist_also_names_the_debian_package(monkeypatch, cli, tmp_path):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("GANKIT_DATA_URL", closed_port_url())
    monkeypatch.setattr("gankit.data.download.SYSTEM_DATA_DIRS", (tmp_path / "no-system-copy",))
    code, _, err = cli("train", "--data", "fashion-mnist", "--steps", "2", "--out", tmp_path / "run")
    assert code == 2 and err.count("\n") == 1, err
    assert "or install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)" in err


def test_offline_every_mirror_is_tried_and_counted(monkeypatch, tmp_path):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("GANKIT_DATA_URL", raising=False)
    urls = (closed_port_url() + "/a/blob.bin", closed_port_url() + "/b/blob.bin")
    file = RemoteFile("test", "blob.bin", "0" * 64, urls)
    with pytest.raises(GankitError, match=rf"could not download {urls[0]} \(and 1 mirror\): "):
        fetch(file)


def test_the_cache_folder_follows_gankit_data_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("GANKIT_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "gankit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "gankit"


def test_mnist_and_fashion_mnist_load_from_their_idx_files_with_labels(served_sets):
    mnist = load_data("mnist")
    assert mnist.shape == (1, 28, 28) and len(mnist) == 40
    expected = torch.from_numpy(DIGITS.astype(np.float32) / 127.5 - 1).unsqueeze(1)
    torch.testing.assert_close(mnist.all(), expected)
    assert mnist.labels.dtype == torch.int64 and mnist.labels.tolist() == DIGIT_LABELS.tolist()
    fashion = load_data("fashion-mnist", image_size=14)
    assert fashion.shape == (1, 14, 14) and fashion.labels.tolist() == DIGIT_LABELS.tolist()
    batch = mnist.sample(8, torch.Generator().manual_seed(0))
    assert batch.shape == (8, 1, 28, 28)  # the sample API is unchanged
    assert not any("t10k" in path for path, _ in served_sets.requests)  # the test split: not asked for


def test_the_test_split_is_the_t10k_files_fetched_only_when_asked_for(served_sets):
    test = standard.load_standard("mnist", split="test")
    expected = torch.from_numpy(TEST_DIGITS.astype(np.float32) / 127.5 - 1).unsqueeze(1)
    torch.testing.assert_close(test.all(), expected)
    assert test.labels.tolist() == TEST_LABELS.tolist()
    fashion = load_data("fashion-mnist", image_size=14)
    official = fashion.official_test()  # what holdout_part hands out as "test": resized the same way
    assert len(official) == 12 and official.shape == (1, 14, 14)
    with pytest.raises(GankitError, match="unknown split 'validation' of mnist; allowed: train, test"):
        standard.load_standard("mnist", split="validation")


def test_cifar10_test_split_is_its_test_batch(served_sets):
    test = standard.load_standard("cifar10", split="test")
    assert len(test) == 4 and test.labels.tolist() == CIFAR_LABELS[:4].tolist()
    torch.testing.assert_close(test.all()[1, 2], torch.from_numpy(CIFAR[1, 2] / 127.5 - 1).float())


def test_a_cifar_archive_without_its_five_batches_is_refused(served_sets, monkeypatch):
    payload = cifar_tar_gz(CIFAR, CIFAR_LABELS, batches=4)
    served_sets.files["/cifar10/cifar-10-binary.tar.gz"] = payload
    spec = standard.STANDARD_SETS["cifar10"]
    file = dataclasses.replace(spec.files[0], sha256=sha(payload), size=len(payload))
    splits = {"train": (file,), "test": (file,)}
    monkeypatch.setitem(standard.STANDARD_SETS, "cifar10", dataclasses.replace(spec, splits=splits))
    with pytest.raises(GankitError, match="cannot read CIFAR-10 batches .*data_batch_5.bin"):
        load_data("cifar10")


def test_train_mnist_end_to_end_against_the_loopback_server(served_sets, cli, tmp_path):
    run = tmp_path / "run"
    flags = ["--steps", "2", "--batch-size", "8", "--width", "8", "--log-every", "1"]
    flags += ["--eval-every", "0", "--sample-every", "0", "--checkpoint-every", "2"]
    code, out, err = cli("train", "--data", "mnist", "--objective", "wgan-gp", *flags, "--out", run)
    assert code == 0, err
    assert json.loads((run / "config.json").read_text())["data"] == "mnist"
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert (tmp_path / "cache" / "mnist" / "train-labels-idx1-ubyte.gz").is_file()


def test_gankit_list_shows_the_named_sets(cli):
    code, out, _ = cli("list")
    assert code == 0
    for name in STANDARD_SET_NAMES:
        assert f"  {name} " in out


def test_the_pinned_sources_are_canonical_first_and_https_or_known():
    assert tuple(standard.STANDARD_SETS) == STANDARD_SET_NAMES
    hosts = {"mnist": "yann.lecun.com", "fashion-mnist": "fashion-mnist.s3", "cifar10": "www.cs.toronto.edu"}
    for name, spec in standard.STANDARD_SETS.items():
        for file in spec.files:
            assert len(file.sha256) == 64 and int(file.sha256, 16) >= 0 and file.size > 0
            assert hosts[name] in file.urls[0] and all(url.endswith(file.name) for url in file.urls)


def test_no_test_here_can_reach_the_internet(server):
    """The fixture's $GANKIT_DATA_URL replaces every real source."""
    file = standard.STANDARD_SETS["cifar10"].files[0]
    assert download_module.source_urls(file) == (f"{server.url}/cifar10/cifar-10-binary.tar.gz",)


def test_the_cache_folder_lock_is_exclusive(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    with download_module._folder_lock(tmp_path):
        other = os.open(tmp_path, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):  # a second process (DDP rank) would wait here
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
    other = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released on leaving
    os.close(other)


def test_a_file_fetched_by_another_process_during_the_wait_is_not_downloaded_again(server, monkeypatch):
    payload = b"fetched by rank 0"
    file = remote(server, payload)

    @contextlib.contextmanager
    def other_process_finishes_first(folder):
        cached_path(file).write_bytes(payload)  # what the lock holder did meanwhile
        yield

    monkeypatch.setattr(download_module, "_folder_lock", other_process_finishes_first)
    assert fetch(file).read_bytes() == payload and server.requests == []
