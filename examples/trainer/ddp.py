"""A data-parallel trainer for a PyTorchJob: torch.distributed across nodes and each node's GPUs.

The Training Operator gives every replica ``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE`` (nodes)
and ``RANK`` (this node); this script starts one process per local GPU and joins them all in one
process group (NCCL on GPUs, Gloo on CPUs), trains a small network on scikit-learn's digits with
``DistributedDataParallel``, and rank 0 prints ``epoch=N loss=... val_accuracy=...`` lines, the only
log kubetune reads (the master replica's). ``kubetune run`` gives it a world of one (WORLD_SIZE=1,
RANK=0, MASTER_ADDR=localhost). Without torch installed it trains on one process with train.py.
"""

from __future__ import annotations

import argparse
import os
import sys


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def worker(local_rank: int, local_world: int, args: argparse.Namespace) -> None:
    import torch  # noqa: PLC0415
    import torch.distributed as dist  # noqa: PLC0415
    from sklearn.datasets import load_digits  # noqa: PLC0415
    from sklearn.model_selection import train_test_split  # noqa: PLC0415

    nodes, node = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    rank, world = node * local_world + local_rank, nodes * local_world
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    os.environ.setdefault("MASTER_ADDR", "localhost")
    os.environ.setdefault("MASTER_PORT", "23456")
    dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world)
    torch.manual_seed(args.seed)
    digits = load_digits()
    x_train, x_val, y_train, y_val = train_test_split(
        digits.data / 16.0, digits.target, test_size=0.3, random_state=args.seed, stratify=digits.target
    )
    shard = slice(rank, None, world)  # each process trains on its own slice of the data
    x, y = torch.tensor(x_train[shard], dtype=torch.float32), torch.tensor(y_train[shard])
    model = torch.nn.Sequential(torch.nn.Linear(64, args.hidden), torch.nn.ReLU(), torch.nn.Linear(args.hidden, 10))
    ddp = torch.nn.parallel.DistributedDataParallel(model.to(device), device_ids=[local_rank] if cuda else None)
    optimizer = torch.optim.Adam(ddp.parameters(), lr=args.lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    xv, yv = torch.tensor(x_val, dtype=torch.float32).to(device), torch.tensor(y_val).to(device)
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(x))
        for start in range(0, len(x), args.batch_size):
            batch = order[start : start + args.batch_size]
            optimizer.zero_grad()
            loss_fn(ddp(x[batch].to(device)), y[batch].to(device)).backward()  # gradients all-reduced
            optimizer.step()
        with torch.no_grad():
            logits = ddp.module(xv)
            loss = loss_fn(logits, yv).item()
            accuracy = (logits.argmax(1) == yv).float().mean().item()
        if rank == 0:
            print(f"epoch={epoch} loss={loss:.4f} val_accuracy={accuracy:.4f}", flush=True)
    dist.destroy_process_group()


def main() -> int:
    args = parse()
    try:
        import torch  # noqa: PLC0415
        import torch.multiprocessing as mp  # noqa: PLC0415
    except ImportError:
        print("torch is not installed: training on one process (train.py)", file=sys.stderr, flush=True)
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from train import main as single  # noqa: PLC0415

        return single()
    local_world = max(torch.cuda.device_count(), 1)
    if local_world == 1:
        worker(0, 1, args)
    else:
        mp.spawn(worker, args=(local_world, args), nprocs=local_world)
    return 0


if __name__ == "__main__":
    sys.exit(main())
