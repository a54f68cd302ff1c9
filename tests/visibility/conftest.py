"""Fixtures for tests/visibility: real `herald serve` processes, stopped at teardown."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import herald_harness as h  # noqa: E402


@pytest.fixture
def vis_servers(tmp_path):
    """A factory: vis_servers(name, *flags) -> an unstarted h.Server whose
    data directory is tmp_path/name. Every server is killed at teardown; its
    logs are printed when the test failed (pytest shows captured output)."""
    made = []

    def make(name="data", *flags, threads=2):
        server = h.Server(tmp_path / name, *flags, threads=threads)
        made.append(server)
        return server

    yield make
    for server in made:
        server.kill()
        if server.proc is not None:
            out, err = server.output()
            print(f"--- herald {server.data_dir} (last start) stdout:\n{out[-4000:]}")
            print(f"--- stderr:\n{err[-4000:]}")


@pytest.fixture(autouse=True)
def _vis_binaries_exist():
    if not os.access(h.HERALD_BIN, os.X_OK):
        pytest.fail(f"HERALD_BIN {h.HERALD_BIN} is not an executable (set HERALD_BIN)")
