"""Shared fixtures: the backend under test and a cached real-data teacher."""

import os

import keras
import pytest


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.config.backend()}"


@pytest.fixture(scope="session")
def teacher_cache(tmp_path_factory):
    """Folder for teachers trained once per test session."""
    path = os.environ.get("KERAS_DFKD_TEST_CACHE")
    return path or str(tmp_path_factory.mktemp("teachers"))


#: The subprocess suites (several devices, SIGKILL and resume) add about
#: ten minutes; `KERAS_DFKD_SLOW_TESTS=1 bash scripts/test.sh` runs them.
slow = pytest.mark.skipif(
    not os.environ.get("KERAS_DFKD_SLOW_TESTS"),
    reason="subprocess suite; set KERAS_DFKD_SLOW_TESTS=1 to run it",
)


@pytest.fixture(scope="module")
def fast_jax_compilation():
    """Builds models faster on JAX, for the modules that ask for it.

    On JAX, Keras initializes every new weight shape with a freshly compiled
    XLA random kernel; building many models compiles dozens of them. Those
    one-off kernels need no optimization, and skipping it makes building
    several times faster. The setting is restored afterwards. Use with
    `pytestmark = pytest.mark.usefixtures("fast_jax_compilation")`.
    """
    if keras.backend.backend() != "jax":
        yield
        return
    import jax

    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", previous)
