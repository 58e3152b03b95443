"""One job on several processes, with PyTorch's own distributed stack (``torchrun``).

A job started by ``torchrun --nproc-per-node N`` (or ``medue ... --nproc N``, which runs
``torch.distributed.run`` itself) finds its rank and world size in the environment torchrun sets
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``). With more than one
process it joins a process group (``torch.distributed.init_process_group``); with one it never
touches ``torch.distributed`` and runs exactly as before. What the job does with the ranks:

- fit: UMed's modules are wrapped in ``DistributedDataParallel`` (``wrap``): every rank trains on
  its own shard of the fitting sample, and DDP averages the gradients across ranks before each
  optimiser step, so every rank holds the same weights (PyTorch DDP docs,
  https://pytorch.org/docs/stable/notes/ddp.html; Li et al. 2020, "PyTorch Distributed:
  Experiences on Accelerating Data Parallel Training", VLDB 13(12)). Rank 0 alone saves it;
- apply: the cases, in the job's deterministic order, are split ``cases[rank::world]``
  (``Ranks.shard``); each rank writes its own copies (atomically) and its own journals
  (``medue.job.outputs.rank_file``); rank 0 gathers what the others did (``gather``) after
  they finish and alone writes the manifest and the report.

Backend: ``gloo`` (CPU tensors; MedUE's networks train on the CPU), or ``MEDUE_DIST_BACKEND``
(``nccl`` once the networks are placed on GPUs). Collectives time out after
``MEDUE_DIST_TIMEOUT`` seconds (default 7200: a rank may wait while rank 0 fits a method that
does not train in parallel). A rank that dies makes torchrun stop the others; the job is then
resumable (``medue.job.resume``), never corrupt: every file was written atomically and journaled.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")
DEFAULT_TIMEOUT = 7200  # seconds


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job: ``rank`` of ``world`` processes (0 of 1 when alone)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes what exists once (generator, manifest, report)."""
        return self.rank == 0

    def shard(self, items: list[T]) -> list[T]:
        """This rank's share of ``items`` (already in a deterministic order): every world-th."""
        return list(items)[self.rank :: self.world]


def ranks() -> Ranks:
    """This process's ranks: from the process group when one is joined, else from torchrun's
    environment (``RANK``/``WORLD_SIZE``/``LOCAL_RANK``), else a single process."""
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    env = os.environ
    rank, world = int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1))
    return Ranks(rank, world, int(env.get("LOCAL_RANK", 0)))


def init_from_env() -> Ranks:
    """Join the process group torchrun describes (only when ``WORLD_SIZE`` > 1); returns the
    ranks. Each process keeps to one torch thread unless ``OMP_NUM_THREADS`` says otherwise."""
    found = ranks()
    if found.world > 1 and not dist.is_initialized():
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", 1)))
        timeout = timedelta(seconds=float(os.environ.get("MEDUE_DIST_TIMEOUT", DEFAULT_TIMEOUT)))
        backend = os.environ.get("MEDUE_DIST_BACKEND", "gloo")
        dist.init_process_group(backend, timeout=timeout)
    return ranks()


def shutdown() -> None:
    """Leave the process group (if one was joined)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def active() -> bool:
    """Whether this process works in a group of more than one."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    """Wait until every rank gets here (no-op alone)."""
    if active():
        dist.barrier()


def gather(value: Any) -> list[Any]:
    """Every rank's ``value`` (picklable), in rank order, on every rank (``[value]`` alone)."""
    if not active():
        return [value]
    values: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values


def broadcast(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (``value`` alone)."""
    if not active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wrap(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` in ``DistributedDataParallel`` when in a group (gradients averaged across ranks
    at each backward; rank 0's initial weights broadcast to all), else ``module`` itself."""
    if not active():
        return module
    return torch.nn.parallel.DistributedDataParallel(module)


EXIT_PROCESS_STOPPED = 3
"""``medue ... --nproc N`` exit code when one of its processes was killed or crashed."""


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``python -m medue.cli ARGV`` on ``nproc`` local processes under torchrun
    (``torch.distributed.run``, standalone rendezvous on this node); returns rank 0's exit code
    (0, or 1 when some inputs failed: rank 0 has listed them), or ``EXIT_PROCESS_STOPPED`` after
    one line naming the process that was killed or crashed (torchrun has stopped the others)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError  # noqa: PLC0415
    from torch.distributed.run import parse_args, run  # noqa: PLC0415

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)  # said below
    try:
        run(parse_args(["--standalone", f"--nproc-per-node={nproc}", "-m", "medue.cli", *argv]))
    except ChildFailedError as error:
        return _exit_code(error, nproc)
    return 0


def _exit_code(error: Any, nproc: int) -> int:
    """The exit code of ``medue`` for torchrun's ``ChildFailedError``: the processes' own when
    they failed the usual way (each has said why), else one line and ``EXIT_PROCESS_STOPPED``."""
    codes = {rank: failure.exitcode for rank, failure in error.failures.items()}
    if all(code in (1, 2, 130) for code in codes.values()):
        return codes[min(codes)]
    rank, failure = error.get_first_failure()
    how = (
        f"was stopped by {failure.signal_name()}"
        if failure.exitcode < 0
        else f"exited with code {failure.exitcode}"
    )
    print(
        f"medue: process {rank} of {nproc} {how}; every copy written so far is complete and "
        "recorded: run the same command again to resume",
        file=sys.stderr,
    )
    return EXIT_PROCESS_STOPPED


def strip_nproc(argv: list[str]) -> list[str]:
    """``argv`` without its ``--nproc N`` / ``--nproc=N`` (what each launched process gets)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept
