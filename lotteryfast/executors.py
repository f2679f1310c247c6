"""Executors run a graph of jobs (lotteryfast.jobs): `local` in this process, `ray` as Ray Core
tasks on a cluster. Both run the same job function on the same run directories, so the results
never depend on the executor."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lotteryfast.jobs import Job, experiment_from_run_dir, run_job

RAY_INSTALL_HINT = "pip install 'lotteryfast[ray]' (or: pip install 'ray==2.60.*')"


class ExecutorError(RuntimeError):
    """The executor cannot run (no Ray, unreachable cluster, storage not shared): one line for the user."""


def run_graph(jobs: Iterable[Job], executor: Any, on_finished: Any = None) -> None:
    """Runs `jobs` (each after the jobs it depends on) on `executor` until all have finished;
    as many at once as the executor takes. `on_finished(job_ids)` is told as jobs finish."""
    pending = {job.id: job for job in jobs}
    known = set(pending)
    done: set[str] = set()
    running = 0
    while pending or running:
        ready = [j for j in pending.values() if all(d in done or d not in known for d in j.deps)]
        for job in ready:
            del pending[job.id]
            executor.submit(job)
            running += 1
        if running == 0:
            raise RuntimeError(f"job graph has a cycle or a missing dependency: {sorted(pending)[:3]}")
        finished = executor.wait()
        running -= len(finished)
        done.update(finished)
        if on_finished is not None:
            on_finished(finished)


class LocalExecutor:
    """Runs each job at once, in this process, on the experiments it is given (run directory ->
    Lottery); a level's members train together as one population."""

    def __init__(self, experiments: dict[str, Any] | None = None):
        self.experiments = experiments or {}
        self._finished: list[str] = []

    def submit(self, job: Job) -> None:
        """Runs `job` now."""
        lottery = self.experiments.get(job.run_dir) or experiment_from_run_dir(job.run_dir)
        run_job(lottery, job, executor="local")
        self._finished.append(job.id)

    def wait(self) -> list[str]:
        """The jobs finished since the last call."""
        out, self._finished = self._finished, []
        return out


def _ray():
    try:
        import ray
    except ImportError:
        raise ExecutorError(f"--backend ray needs Ray, which is not installed: {RAY_INSTALL_HINT}") from None
    return ray


def _execute_remote(job: Job) -> str:
    """The body of a Ray task: rebuild the experiment from its run directory (once per worker
    process) and run the job."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    run_job(experiment_from_run_dir(job.run_dir), job, executor="ray", node=node)
    return job.id


def _probe(directory: str, token: str) -> tuple[str, str, str]:
    """Writes a probe file into `directory` (on the node this runs on); (node id, file, error)."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    path = Path(directory) / f".lotteryfast-probe-{node[:12]}-{token}"
    try:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(token + node)
        os.replace(tmp, path)
        return node, str(path), ""
    except OSError as err:
        return node, str(path), f"{err.strerror or err}"


def _check_address(address: str) -> None:
    """A HOST:PORT that does not answer: fail fast instead of Ray's long connection retries."""
    if address in ("auto", "local") or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorError(f"--address must be auto or HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as err:
        raise ExecutorError(f"cannot reach a Ray cluster at {address}: {err.strerror or err}") from None


class RayExecutor:
    """Runs jobs as Ray Core tasks: `cpus_per_job` / `gpus_per_job` (fractions allowed, so that
    several jobs share a GPU) per task; a task whose worker or node dies is run again elsewhere
    (`max_retries`) and skips the units that were finished. `address`: None starts a local Ray
    instance; "auto" or HOST:PORT joins a running cluster."""

    def __init__(
        self,
        address: str | None = None,
        *,
        cpus_per_job: float = 1.0,
        gpus_per_job: float = 0.0,
        max_retries: int = 5,
        runtime_env: dict | None = None,
    ):
        if cpus_per_job < 0 or gpus_per_job < 0:
            raise ExecutorError(f"--cpus-per-job and --gpus-per-job must be >= 0, got {cpus_per_job}, {gpus_per_job}")
        ray = _ray()
        if address:
            _check_address(address)
        self.ray = ray
        try:
            if not ray.is_initialized():
                local = not address or address == "local"
                ray.init(
                    address=None if local else address,
                    # A new local instance serves this machine only: loopback, no open interface.
                    _node_ip_address="127.0.0.1" if local else None,
                    runtime_env=runtime_env,
                    logging_level="ERROR",
                    log_to_driver=True,
                    include_dashboard=False,
                )
        except (ConnectionError, RuntimeError, ValueError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ExecutorError(f"cannot connect to Ray at {address or 'a new local instance'}: {first}") from None
        self._remote = ray.remote(max_retries=max_retries, retry_exceptions=False)(_execute_remote).options(
            num_cpus=cpus_per_job, num_gpus=gpus_per_job
        )
        self._refs: dict[Any, str] = {}

    def check_storage(self, directories: Iterable[Path]) -> None:
        """Before the first job: a worker on every alive node writes a probe file into each
        directory and the driver reads every one back. A node that cannot write, or whose files
        the driver does not see (not a shared filesystem), is an ExecutorError; probes are removed."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        ray = self.ray
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        probe = ray.remote(num_cpus=0, max_retries=0)(_probe)
        token = uuid.uuid4().hex[:12]
        for directory in directories:
            refs = [
                probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(
                    str(directory), token
                )
                for n in nodes
            ]
            results = ray.get(refs)
            try:
                for (node, path, error), n in zip(results, nodes, strict=True):
                    where = f"node {n.get('NodeManagerAddress', '?')} ({node[:8]})"
                    if error:
                        raise ExecutorError(f"workers on {where} cannot write to {directory}: {error}")
                    try:
                        seen = Path(path).read_text()
                    except OSError:
                        seen = ""
                    if seen != token + node:
                        raise ExecutorError(
                            f"the driver cannot read what {where} wrote to {directory}: "
                            "run directories must be on a filesystem every node shares"
                        )
            finally:
                for _, path, error in results:
                    if not error:
                        Path(path).unlink(missing_ok=True)

    def submit(self, job: Job) -> None:
        """Queues `job` as a Ray task."""
        self._refs[self._remote.remote(job)] = job.id

    def wait(self) -> list[str]:
        """Blocks until at least one queued job has finished; their ids (a failed job raises)."""
        refs = list(self._refs)
        self.ray.wait(refs, num_returns=1)
        ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)  # every one done by now
        out = []
        for ref in ready:
            self._refs.pop(ref)
            out.append(self.ray.get(ref))
        return out

    def shutdown(self) -> None:
        """Disconnects from Ray (stops the local instance if this process started it)."""
        self.ray.shutdown()


def writable_root(path: Path) -> Path:
    """The nearest existing ancestor of `path` (where a run directory that does not exist yet
    would be created)."""
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def python_path_env() -> dict:
    """A runtime_env that gives Ray workers the driver's working directory and PYTHONPATH, so a
    task named module:attr imports on them as in the driver (shared filesystem assumed)."""
    parts = [os.getcwd(), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    return {"env_vars": {"PYTHONPATH": os.pathsep.join(dict.fromkeys(parts))}}
