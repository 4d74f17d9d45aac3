"""A fast stand-in for a training script: loss = (x - 0.3)^2 + (y - 2)^2 / 10, shrinking per epoch,
and cost = 1 - x + y / 10 (for several objectives).

Modes make it misbehave the ways real training jobs do: print garbage, never report the metric,
hang, crash, or learn badly (so early stopping has something to stop).
"""

import argparse
import json
import math
import os
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, required=True)
parser.add_argument("--y", type=float, default=2.0)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--sleep", type=float, default=0.0)
parser.add_argument("--mode", default="normal")
args = parser.parse_args()

with open(os.environ["KUBETUNE_PARAMS_FILE"]) as handle:
    assert json.load(handle)["x"] == args.x, "the parameters file disagrees with the arguments"

final = (args.x - 0.3) ** 2 + (args.y - 2.0) ** 2 / 10
for epoch in range(1, args.epochs + 1):
    time.sleep(args.sleep)
    loss = final + 1.0 / epoch
    if args.mode == "bad":
        loss += 10
    if args.mode == "garbage":
        print("\x00\xff binary junk loss=NaN loss=inf loss=abc epoch=", flush=True)
        sys.stdout.buffer.write(b"\xfe\xfe loss=1e400 accuracy=\n")
        sys.stdout.flush()
        continue
    if args.mode == "silent":
        print(f"epoch {epoch} done", flush=True)
        continue
    # cost: a second objective that falls as x rises, so that loss and cost trade off for x > 0.3.
    print(f"epoch={epoch} loss={loss:.6f} cost={1 - args.x + args.y / 10:.6f} note=ok", flush=True)
    if args.mode == "hang":
        time.sleep(3600)
if args.mode == "fail":
    print("CUDA error: out of memory", file=sys.stderr, flush=True)
    sys.exit(3)
if args.mode == "garbage":
    print(f"loss={math.nan}", flush=True)
