"""kubetune from Python, as in a notebook: run it (`python examples/python_api.py`), or paste each cell.

Locally it needs kubetune only (the trials are processes on this machine). On a cluster, give
`namespace=` (and `image=`: an image with Python; kubetune too, since `train` calls kubetune.report).
"""
# ruff: noqa: PLC0415, E402 - a notebook imports in the cell (or the function) that uses it

# %% The trainer: a function that takes the hyperparameters by name and reports as it trains.
# Its source is what each trial runs, so it imports what it uses inside its body.


def train(lr: float, layers: int, activation: str) -> None:
    import math

    import kubetune

    for epoch in range(1, 6):
        # A stand-in for a training loop: the loss falls per epoch towards a value set by the parameters.
        floor = (math.log10(lr) + 2) ** 2 / 4 + abs(layers - 3) / 10 + (0.1 if activation == "tanh" else 0.0)
        kubetune.report(loss=floor + 1 / epoch, accuracy=1 / (1 + floor + 1 / epoch), step=epoch)


# %% The search: the space as Katib's SDK, Optuna and Ray Tune users write it.
import kubetune
from kubetune import search

result = kubetune.tune(
    train,
    {
        "lr": search.loguniform(1e-4, 1e-1),
        "layers": search.int(1, 6),
        "activation": search.categorical(["relu", "tanh"]),
    },
    objective_metric="loss",
    direction="minimize",
    additional_metrics=["accuracy"],
    algorithm="tpe",
    max_trials=12,
    parallel=3,
    seed=1,
    verbose=False,
    # namespace="ml", image="registry.example.com/trainer:1",  # to run the trials as Jobs on a cluster
)

# %% The results: the best trial, and every trial (a pandas DataFrame when pandas is installed).
print("best:", result.best)
print(result.trials)
# The same state as `kubetune run`'s: `kubetune trials train`, `kubetune best train`, `kubetune report train --open`.
print("state:", result.state_dir)
