"""`opsim simulate --engine ray` next to a real Ray cluster started with ``ray start`` (on 127.0.0.1 only): joined
with ``--address`` it writes the local engine's bytes and leaves the cluster running; without ``--address`` it
starts its own Ray even when ``RAY_ADDRESS`` names the cluster.

The cluster is one ``ray start --head --block`` in its own session and temp dir, with its own authentication token
(token authentication is what ``ray start`` turns on by default); it is ended by its process group id, never by
``ray stop``, which ends every Ray process on the machine (the local Ray of other tests and other runs included).
The commands run in subprocesses, so this test process never initialises Ray itself.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scenarios.cli import main
from simulator.rng import BLOCK_SIZE
from tests.scenarios.conftest import output_digests, summary_without_timings

pytest.importorskip("ray", reason="Ray is not installed (pip install 'opsim[ray]'): the sharded engine is not tested")

RAY_CLI = Path(sys.executable).with_name("ray")
STARTUP_S = 180.0
# Two blocks, one per shard, over 2.4 simulated hours across local midnight in Seoul.
ARGS = ["simulate", "--city", "seoul", "--subscribers", str(BLOCK_SIZE + 4_000), "--days", "0.1", "--seed", "5",
        "--start", "2026-03-01T14:00:00Z", "--quiet", "--format", "csv"]


@dataclass
class Cluster:
    """A running ``ray start`` cluster: its GCS address, the environment its clients need, its process."""

    address: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        """Whether ``ray start`` still runs and the GCS still accepts connections."""
        if self.process.poll() is not None:
            return False
        host, _, port = self.address.rpartition(":")
        with socket.socket() as probe:
            return probe.connect_ex((host, int(port))) == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _end_group(process: subprocess.Popen[bytes]) -> None:
    """End ``process`` and everything it started (its process group, by id): politely, then for sure."""
    for sig, grace_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 60.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            process.poll()  # reap ray start itself; its children are reaped by init once orphaned
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            continue
        break
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A two-CPU Ray head on 127.0.0.1 at a free port, no dashboard, no usage statistics, in a temp dir of its own."""
    if not RAY_CLI.exists():
        pytest.skip(f"no ray command next to {sys.executable}")
    # A short path under /tmp: Ray's socket paths inside it must stay under the 107-byte limit of AF_UNIX.
    root = Path(tempfile.mkdtemp(prefix="opsim-ray-", dir="/tmp"))
    token = root / "auth_token"
    token.write_text(secrets.token_hex(32))
    env = {key: value for key, value in os.environ.items() if key not in ("RAY_ADDRESS", "RAY_AUTH_MODE")}
    env.update({
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # one-machine cluster: every address 127.0.0.1, not the host's IP
        "RAY_AUTH_TOKEN_PATH": str(token),  # this cluster's token, not ~/.ray/auth_token
        "RAY_USAGE_STATS_ENABLED": "0",
    })
    port = _free_port()
    log = root / "ray-start.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(RAY_CLI), "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
             "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={root}",
             f"--object-store-memory={256 * 1024 * 1024}", f"--dashboard-agent-listen-port={_free_port()}"],
            cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        ready = root / "ray_current_cluster"  # written once the head is up
        deadline = time.monotonic() + STARTUP_S
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start did not come up:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield Cluster(f"127.0.0.1:{port}", env, process, log)
    finally:
        _end_group(process)
        shutil.rmtree(root, ignore_errors=True)


def _opsim(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``opsim`` in a process of its own (its own Ray driver), from a directory that is not the repository."""
    return subprocess.run([sys.executable, "-c", "import sys; from scenarios.cli import main; sys.exit(main())",
                           *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)



@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The single-process run every Ray run is compared with."""
    out = tmp_path_factory.mktemp("local") / "out"
    assert main([*ARGS, "--out", str(out)]) == 0
    return out


def test_address_joins_a_ray_start_cluster(cluster: Cluster, local_run: Path, tmp_path: Path) -> None:
    """--address of a ``ray start`` cluster: the shards run there, the files are the local engine's byte for byte,
    and the cluster is still running afterwards (the command only disconnects)."""
    out = tmp_path / "ray"
    done = _opsim([*ARGS, "--out", str(out), "--engine", "ray", "--workers", "2", "--address", cluster.address],
                  cluster.env, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    digests = output_digests(local_run)
    assert len(digests) >= 3 and output_digests(out) == digests
    assert summary_without_timings(out) == summary_without_timings(local_run)
    assert json.loads((out / "summary.json").read_text())["timings"]["shards"] == 2
    assert cluster.alive(), cluster.log.read_text(errors="replace")[-3000:]


def test_without_address_a_local_ray_is_started_whatever_ray_address_says(cluster: Cluster, local_run: Path,
                                                                         tmp_path: Path) -> None:
    """Without --address the command starts its own Ray even with ``RAY_ADDRESS`` naming a running cluster (which
    ``ray.init()`` alone would join), and that cluster is left as it was."""
    out = tmp_path / "ray"
    env = {**cluster.env, "RAY_ADDRESS": cluster.address}
    done = _opsim([*ARGS, "--out", str(out), "--engine", "ray", "--workers", "2"], env, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert output_digests(out) == output_digests(local_run)
    assert cluster.alive()
