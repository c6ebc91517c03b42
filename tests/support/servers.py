"""The app served from this process for a test, with small settings; the repository's paths; a free port;
the environment for a child process that imports from this checkout."""

from __future__ import annotations

import os
import socket
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping

if TYPE_CHECKING:
    from mnist_demo.app.handlers import WebApp
    from mnist_demo.app.settings import AppSettings

REPO = Path(__file__).resolve().parents[2]  # the checkout: tests/support/servers.py -> tests/support -> tests -> here
SCREENSHOTS = REPO / "artifacts" / "screenshots"

# Small enough for a test: a one- or two-epoch training takes seconds on two CPU cores.
TRAIN_LIMIT = 2000
TEST_LIMIT = 1000


def repo_on_path(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) with the repository first on PYTHONPATH: a child process started with it
    imports `mnist_demo`, `tests.support` and `benchmarks` from this checkout, whatever its working folder."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def app_settings(weights: Path, **changes) -> AppSettings:
    """Settings for a test server: the given weights, MNIST from $MNIST_DATA_DIR, a small subset."""
    from mnist_demo.app.settings import AppSettings

    values = dict(weights=weights, train_limit=TRAIN_LIMIT, test_limit=TEST_LIMIT, max_epochs=5,
                  train_threads=1, device="cpu", data_dir=Path(os.environ["MNIST_DATA_DIR"]))
    values.update(changes)
    return AppSettings(**values)


def answers(url: str) -> bool:
    """Whether the app at `url` is up: its config is served."""
    try:
        with urllib.request.urlopen(url + "config", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@contextmanager
def served_app(settings: AppSettings | None = None, webapp: WebApp | None = None) -> Iterator[str]:
    """`app.py`'s page served from this process (answered by `webapp` if given); yields its URL."""
    from mnist_demo.app import page as app
    from mnist_demo.app.settings import AppSettings

    demo = app.build_app(settings, webapp)
    port = free_port()
    limit = (webapp.settings if webapp else settings or AppSettings()).max_upload_bytes
    app.launch(demo, limit, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
