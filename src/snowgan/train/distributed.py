"""Multi-process training under torchrun: process group, gradient averaging, rank-0 I/O.

We do not wrap the networks in DistributedDataParallel. GAN steps call D several
times before one backward (real, fake, gradient-penalty interpolates) and the
penalty needs a double backward, both awkward under DDP's reducer. Instead each
rank computes gradients on its slice of the global batch and one flat all-reduce
averages them before the optimizer step (the approach of stylegan2-ada-pytorch).
The networks stay unwrapped, so checkpoints never carry ``module.`` prefixes and a
run trained on 4 ranks resumes on 1 and vice versa.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Iterable

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1): NCCL on GPUs, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        # A rank that dies makes the others fail in a collective within this time rather than hang forever.
        timeout = datetime.timedelta(seconds=float(os.environ.get("SNOWGAN_DIST_TIMEOUT", "600")))
        dist.init_process_group(backend=backend, timeout=timeout)
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def average_gradients(params: Iterable[torch.nn.Parameter], extra: torch.Tensor, world: int) -> torch.Tensor:
    """All-reduce-average the gradients of params (in place) and `extra` (a 0-d loss) in one call.

    Returns the averaged extra, so every rank makes the same skip/step decision.
    """
    grads = [p.grad for p in params if p.grad is not None]
    flat = torch.cat([g.reshape(-1).float() for g in grads] + [extra.reshape(1).float()])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view(g.shape))
        offset += n
    return flat[-1]


def all_reduce_mean(t: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        t = t.clone()
        dist.all_reduce(t)
        t /= world
    return t


def any_rank(flag: bool, device: torch.device, world: int) -> bool:
    """True when the flag is set on any rank (e.g. a stop signal seen by one process)."""
    if world <= 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def broadcast_module(module: torch.nn.Module) -> None:
    """Make every rank's parameters and buffers equal to rank 0's."""
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


def share_string(value: str, info: DistInfo) -> str:
    """Rank 0's string on every rank (e.g. the run folder it created)."""
    if not info.enabled:
        return value
    obj = [value if info.is_main else None]
    dist.broadcast_object_list(obj, src=0)  # our own str, not user data
    return str(obj[0])


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
