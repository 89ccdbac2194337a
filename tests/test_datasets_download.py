"""Downloads of fastmlp.datasets, only ever from an HTTP server on 127.0.0.1 started here."""
import hashlib
import http.server
import os
import socket
import threading

import numpy as np
import pytest

from fastmlp import datasets
from fastmlp.datasets import catalog
from fastmlp.datasets.download import DownloadFailed, fetch_file

# isolated_env is an autouse fixture: importing it applies it to this module
from dataset_helpers import (  # noqa: F401
    SHARED, HAVE_MNIST, MNIST_TEST_COUNTS, isolated_env)


# ------------------------------------------------------------------------- downloads from a local server
class _Handler(http.server.BaseHTTPRequestHandler):
    routes = {}  # path -> (body, declared Content-Length)

    def do_GET(self):
        if self.path not in self.routes:
            self.send_error(404)
            return
        body, declared = self.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    """Base URL of an HTTP server on 127.0.0.1; put routes into _Handler.routes."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()
    _Handler.routes.clear()


@pytest.fixture
def refused_url():
    with socket.socket() as probe:  # a port that was just free: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


PAYLOAD = b"fastmlp test payload " * 1000
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


@pytest.fixture
def routes(server):
    _Handler.routes.update({
        "/good/file.gz": (PAYLOAD, len(PAYLOAD)),
        "/bad/file.gz": (PAYLOAD[:-1] + b"!", len(PAYLOAD)),
        "/short/file.gz": (PAYLOAD[:100], len(PAYLOAD)),
    })
    return server


def test_download_good_file_lands_verified(routes, tmp_path):
    path = fetch_file("file.gz", PAYLOAD_MD5, [routes + "/good"], tmp_path, progress=False)
    assert path == tmp_path / "file.gz" and hashlib.md5(path.read_bytes()).hexdigest() == PAYLOAD_MD5
    assert os.listdir(tmp_path) == ["file.gz"]


def test_download_checksum_mismatch_leaves_nothing(routes, tmp_path):
    with pytest.raises(DownloadFailed, match="checksum mismatch: MD5"):
        fetch_file("file.gz", PAYLOAD_MD5, [routes + "/bad/"], tmp_path, progress=False)
    assert os.listdir(tmp_path) == []


def test_download_falls_through_to_the_next_mirror(routes, tmp_path, refused_url):
    mirrors = [refused_url, routes + "/missing/", routes + "/short/", routes + "/good/"]
    path = fetch_file("file.gz", PAYLOAD_MD5, mirrors, tmp_path, progress=True)
    assert path.read_bytes() == PAYLOAD and os.listdir(tmp_path) == ["file.gz"]


def test_download_all_mirrors_failing_lists_every_attempt(routes, tmp_path, refused_url):
    mirrors = [refused_url, routes + "/missing/", routes + "/bad/", routes + "/short/"]
    with pytest.raises(DownloadFailed) as raised:
        fetch_file("file.gz", PAYLOAD_MD5, mirrors, tmp_path, progress=False)
    reasons = [reason for _, reason in raised.value.attempts]
    assert [url for url, _ in raised.value.attempts] == [m.rstrip("/") + "/file.gz" for m in mirrors]
    assert reasons[0].startswith("cannot connect") and reasons[1] == "HTTP error 404 Not Found"
    assert reasons[2].startswith("checksum mismatch") and "incomplete transfer" in reasons[3]
    assert os.listdir(tmp_path) == []


def test_load_downloads_into_user_cache_when_missing(server, tmp_path, refused_url, isolated_env):
    if not HAVE_MNIST:
        pytest.skip(f"official MNIST files not in {SHARED / 'mnist'}")
    for name in catalog.MNIST.file_names:
        content = (SHARED / "mnist" / name).read_bytes()
        _Handler.routes[f"/mnist/{name}"] = (content, len(content))
    mirrors = [refused_url, server + "/missing/", server + "/mnist/"]
    X, y = datasets.load_mnist("test", mirrors=mirrors, progress=False)
    assert X.shape == (10000, 784) and np.bincount(y).tolist() == MNIST_TEST_COUNTS
    downloaded = isolated_env / "mnist"
    assert sorted(os.listdir(downloaded)) == sorted(catalog.MNIST.file_names)  # and no temporary files
    for file in catalog.MNIST.files.values():
        assert hashlib.md5((downloaded / file.filename).read_bytes()).hexdigest() == file.md5
    source = datasets.locate_dataset("mnist", download=False)
    assert (source.directory, source.origin) == (downloaded, "user cache")


def test_load_with_every_mirror_failing_names_places_and_attempts(routes, tmp_path, refused_url, isolated_env,
                                                                 monkeypatch):
    monkeypatch.setitem(datasets.MIRRORS, "mnist", [refused_url, routes + "/missing/"])  # the documented override
    with pytest.raises(datasets.DatasetNotFoundError) as raised:
        datasets.load_mnist("train", data_dir=tmp_path / "given", progress=False)
    message = str(raised.value)
    for expected in (tmp_path / "given", isolated_env / "mnist", refused_url + "train-images-idx3-ubyte.gz",
                     "HTTP error 404", "by hand", "could not be downloaded"):
        assert str(expected) in message
    assert os.listdir(isolated_env / "mnist") == []  # nothing half-written
    with pytest.raises(datasets.DatasetNotFoundError, match="by hand"):
        datasets.download_dataset("mnist", mirrors=[routes + "/missing/"], progress=False)


def test_download_false_never_touches_the_network(monkeypatch, tmp_path):
    def no_network(*args, **kwargs):
        raise AssertionError("download=False opened a URL")
    monkeypatch.setattr("urllib.request.urlopen", no_network)
    with pytest.raises(datasets.DatasetNotFoundError):
        datasets.load_mnist("test", data_dir=tmp_path, download=False)
