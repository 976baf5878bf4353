"""Shards of a world on Ray actors: the :class:`~simulator.shards.ShardPool` behind ``--engine ray``.

Owns starting (or joining) Ray and the actors that hold the shards. Ray is an optional extra
(``pip install 'opsim[ray]'``) imported only here, and only when a pool is made. Without ``address`` a new local
Ray is started for the pool's lifetime, bound to 127.0.0.1, without dashboard or usage statistics (nothing leaves
the machine) — never a cluster ``RAY_ADDRESS`` or a ``ray start`` on this machine points at, which ``ray.init()``
alone would join; with ``address`` an existing cluster is joined (every node needs opsim installed), presenting
the cluster's authentication token when one is available as ``ray.init(address="auto")`` does, and it is only
disconnected from at the end, never stopped (tested against a ``ray start`` cluster on 127.0.0.1).
If Ray is already initialised in this process (a test's module fixture), that Ray is used and left running.
Each actor asks for one CPU; calls to the shards are fanned out and waited for in shard order.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from simulator.errors import InvalidConfigError
from simulator.shards import Shard, shard_blocks
from simulator.world import WorldConfig

RAY_ENV: dict[str, str] = {
    "RAY_USAGE_STATS_ENABLED": "0",  # no usage report to the outside
    "RAY_USAGE_STATS_PROMPT_ENABLED": "0",
    "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
}
"""Environment set (unless already set) before Ray starts: Ray must not try the network."""

LOCAL_OBJECT_STORE_BYTES = 512 * 1024 * 1024
"""Shared-memory object store of a local Ray: an hour of cell changes per shard is tens of MB at most."""


def start_local_ray(num_cpus: int) -> None:
    """Start a Ray on this machine only (127.0.0.1, no dashboard, no usage statistics, quiet workers)."""
    import ray

    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    # "local": a new instance even when RAY_ADDRESS or the last `ray start` names a cluster (address=None joins it).
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             object_store_memory=LOCAL_OBJECT_STORE_BYTES, log_to_driver=False, configure_logging=False)


def use_cluster_token() -> None:
    """Present the cluster's authentication token when one is at hand, as ``ray.init(address="auto")`` does.

    A token is at hand in ``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH`` names or ``~/.ray/auth_token``, and
    used unless ``RAY_AUTH_MODE`` says otherwise. ``ray start`` turns token authentication on by default, but
    ``ray.init`` given a concrete address sends the token only in token mode. Ray versions before token
    authentication have nothing to do.
    """
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


class RayPool:
    """The shards of ``config``'s world on ``workers`` Ray actors (fewer if the world has fewer blocks).

    ``history_ticks`` bounds each shard's presence history (see :class:`~simulator.shards.Shard`).
    """

    def __init__(self, config: WorldConfig, workers: int, address: str | None = None,
                 history_ticks: int | None = None, shard_class: type[Shard] = Shard) -> None:
        try:
            import ray
        except ImportError as exc:
            raise InvalidConfigError("--engine ray needs Ray: pip install 'opsim[ray]'") from exc
        self._started = False
        if not ray.is_initialized():
            if address is None:
                start_local_ray(workers)
            else:
                for key, value in RAY_ENV.items():
                    os.environ.setdefault(key, value)
                use_cluster_token()
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            self._started = True
        remote: Any = ray.remote(num_cpus=1)(shard_class)  # a served world's shards are ServedShard
        self.actors: list[Any] = [remote.remote(config, first, count, history_ticks)
                                  for first, count in shard_blocks(config.subscribers, workers)]

    def submit(self, method: str, *args: Any) -> Callable[[], list[Any]]:
        """Start ``method(*args)`` on every actor; the returned function waits for the results, in shard order."""
        import ray

        refs = [getattr(a, method).remote(*args) for a in self.actors]
        return lambda: list(ray.get(refs))

    def submit_to(self, shard: int, method: str, *args: Any) -> Callable[[], Any]:
        """Start ``method(*args)`` on actor number ``shard``; the returned function waits for the result."""
        import ray

        ref = getattr(self.actors[shard], method).remote(*args)
        return lambda: ray.get(ref)

    def close(self) -> None:
        """End the actors, and the local Ray if this pool started it.

        From a cluster it joined it only disconnects: ``ray.shutdown`` in a driver stops nothing of a cluster.
        """
        import ray

        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
        if self._started:
            ray.shutdown()
            self._started = False
