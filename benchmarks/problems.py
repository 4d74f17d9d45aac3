"""What the benchmark optimizes: test functions with a known minimum, small real models, two
bi-objective problems and a learning curve.

A :class:`Problem` describes its inputs once (:class:`Dim`), and each optimizer is told about them
in its own library's terms from that one description, so every optimizer searches the same space.
The real models train on data that ships with scikit-learn, on a fixed train/validation split and
with fixed model seeds: an evaluation is a deterministic function of the parameters, as a test
function is, so that the only randomness in a run is the optimizer's.

A :class:`MultiObjectiveProblem` returns one loss per objective and names the reference point its
hypervolume is measured from; a :class:`CurveProblem` returns a validation error per epoch, for
the early-stopping rules to read.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from kubetune.api import Parameter, ParamValue
from kubetune.search.space import SearchSpace

Assignment = Mapping[str, ParamValue]


@dataclass(frozen=True)
class Dim:
    """One input of a problem, as every optimizer is told about it."""

    name: str
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    integer_step: int | None = None
    choices: tuple[str, ...] = ()
    when: tuple[str, tuple[str, ...]] | None = None
    """A condition: the input exists only while the categorical input named first takes one of
    these values (kubetune's ``when``; Optuna's define-by-run; scikit-optimize, which has no
    conditions, searches it always and the problem ignores it where it is inactive)."""

    def parameter(self) -> Parameter:
        """The kubetune parameter."""
        when = {"when": {"parameter": self.when[0], "in": list(self.when[1])}} if self.when else {}
        if self.choices:
            return Parameter.model_validate({"name": self.name, "type": "categorical", "values": list(self.choices)})
        scale = "log" if self.log else "linear"
        if self.integer_step:
            return Parameter.model_validate(
                {
                    "name": self.name,
                    "type": "int",
                    "min": self.low,
                    "max": self.high,
                    "step": self.integer_step,
                    "scale": scale,
                    **when,
                }
            )
        return Parameter.model_validate({"name": self.name, "min": self.low, "max": self.high, "scale": scale, **when})

    def active(self, params: Assignment) -> bool:
        """Whether the input exists in this assignment (its condition holds, or it has none)."""
        return self.when is None or params.get(self.when[0]) in self.when[1]


@dataclass(frozen=True)
class Problem:
    """A black box to minimize, and how to read a run on it."""

    name: str
    kind: Literal["function", "model"]
    dims: tuple[Dim, ...]
    evaluate: Callable[[Assignment], float]
    optimum: float
    """The known minimum (functions); 0 for models, whose value is a validation error."""
    basin: float | None
    """Regret below which a run has reached the global optimum's basin (functions only: a real
    model's best error is unknown)."""
    about: str

    def space(self) -> SearchSpace:
        """The kubetune search space."""
        return SearchSpace.from_parameters([d.parameter() for d in self.dims])


# --- test functions ------------------------------------------------------------------------------


def _vector(params: Assignment, names: Sequence[str]) -> np.ndarray:
    return np.array([float(params[n]) for n in names])


def _branin(p: Assignment) -> float:
    x1, x2 = float(p["x1"]), float(p["x2"])
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H_A = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
)
_H_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def _hartmann6(p: Assignment) -> float:
    x = _vector(p, [f"x{i}" for i in range(6)])
    return float(-np.sum(_H_ALPHA * np.exp(-np.sum(_H_A * (x - _H_P) ** 2, axis=1))))


def _ackley5(p: Assignment) -> float:
    x = _vector(p, [f"x{i}" for i in range(5)])
    n = len(x)
    return float(
        -20 * np.exp(-0.2 * np.sqrt(np.sum(x**2) / n)) - np.exp(np.sum(np.cos(2 * np.pi * x)) / n) + 20 + math.e
    )


def _rosenbrock4(p: Assignment) -> float:
    x = _vector(p, [f"x{i}" for i in range(4)])
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


_OPTIMIZER_PENALTY = {"adam": 0.0, "rmsprop": 0.15, "sgd": 0.4}


def _mixed(p: Assignment) -> float:
    """A synthetic training loss: best at lr 1e-3, batch 64, dropout 0.2 with adam (loss 0)."""
    lr, batch, dropout = float(p["lr"]), float(p["batch_size"]), float(p["dropout"])
    interaction = 0.3 * (math.log10(lr) + 3) * (dropout - 0.2)  # lr and dropout are not separable
    return (
        (math.log10(lr) + 3) ** 2 / 4
        + ((batch - 64) / 128) ** 2
        + 4 * (dropout - 0.2) ** 2
        + interaction**2
        + _OPTIMIZER_PENALTY[str(p["optimizer"])]
    )


# --- real models ---------------------------------------------------------------------------------


@functools.cache
def _split(dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A fixed stratified 70/30 split of a scikit-learn dataset, loaded once per process."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits  # noqa: PLC0415 -- models only
    from sklearn.model_selection import train_test_split  # noqa: PLC0415

    loader = {"breast_cancer": load_breast_cancer, "digits": load_digits, "diabetes": load_diabetes}[dataset]
    x, y = loader(return_X_y=True)
    if dataset == "digits":
        x = x / 16.0  # pixel intensities 0..16 to 0..1, as an MLP and an RBF kernel need
    classes = None if dataset == "diabetes" else y  # a regression target is not stratified
    x_train, x_valid, y_train, y_valid = train_test_split(x, y, test_size=0.3, random_state=0, stratify=classes)
    return x_train, x_valid, y_train, y_valid


def _validation_error(model: Any, dataset: str) -> float:
    from sklearn.exceptions import ConvergenceWarning  # noqa: PLC0415

    x_train, x_valid, y_train, y_valid = _split(dataset)
    with warnings.catch_warnings():
        # Short training budgets are part of the search space: not converging is an outcome.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    return float(1.0 - model.score(x_valid, y_valid))


_FEATURE_SHARE = {"all": 1.0, "half": 0.5, "sqrt": math.sqrt(30) / 30}
"""Share of the 30 features each split considers. (class_weight="balanced" was the first choice of
categorical here; scikit-learn 1.9 spends about 0.9 s more per fit with it, whatever the size.)"""


def _gradient_boosting(p: Assignment) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: PLC0415

    model = HistGradientBoostingClassifier(
        learning_rate=float(p["learning_rate"]),
        max_iter=int(p["max_iter"]),
        max_leaf_nodes=int(p["max_leaf_nodes"]),
        min_samples_leaf=int(p["min_samples_leaf"]),
        l2_regularization=float(p["l2_regularization"]),
        max_features=_FEATURE_SHARE[str(p["features"])],
        early_stopping=False,
        random_state=0,
    )
    return _validation_error(model, "breast_cancer")


def _mlp(p: Assignment) -> float:
    from sklearn.neural_network import MLPClassifier  # noqa: PLC0415

    model = MLPClassifier(
        hidden_layer_sizes=(int(p["hidden_units"]),),
        alpha=float(p["alpha"]),
        learning_rate_init=float(p["learning_rate_init"]),
        activation=str(p["activation"]),
        batch_size=64,
        max_iter=20,
        random_state=0,
    )
    return _validation_error(model, "digits")


def _svm(p: Assignment) -> float:
    from sklearn.svm import SVC  # noqa: PLC0415

    return _validation_error(SVC(C=float(p["C"]), gamma=float(p["gamma"])), "digits")


def _gradient_boosting_regression(p: Assignment) -> float:
    """1 - R² on the validation rows of diabetes (0 is a perfect fit; a constant scores about 1)."""
    from sklearn.ensemble import HistGradientBoostingRegressor  # noqa: PLC0415

    x_train, x_valid, y_train, y_valid = _split("diabetes")
    model = HistGradientBoostingRegressor(
        loss=str(p["loss"]),
        learning_rate=float(p["learning_rate"]),
        max_iter=int(p["max_iter"]),
        max_leaf_nodes=int(p["max_leaf_nodes"]),
        min_samples_leaf=int(p["min_samples_leaf"]),
        l2_regularization=float(p["l2_regularization"]),
        early_stopping=False,
        random_state=0,
    )
    model.fit(x_train, y_train)
    return float(1.0 - model.score(x_valid, y_valid))


NET_HIDDEN = 32
NET_EPOCHS = 8
NET_BATCH = 64


def _network(
    learning_rate: float,
    weight_decay: float,
    warmup: float,
    schedule: str,
    optimizer: str = "sgd",
    momentum: float = 0.9,
) -> float:
    """Validation error on digits of a 64-32-10 tanh network trained with numpy for ``NET_EPOCHS``
    epochs, from fixed initial weights and batch order: the learning rate rises linearly over the
    first ``warmup`` share of the steps, then follows ``schedule`` (constant, linear or cosine
    decay to 0); weight decay is decoupled (AdamW-style), applied to the weights, not the biases."""
    x_train, x_valid, y_train, y_valid = _split("digits")
    rng = np.random.default_rng(0)
    shapes = [(64, NET_HIDDEN), (NET_HIDDEN,), (NET_HIDDEN, 10), (10,)]
    weights = [
        rng.normal(0, 1 / math.sqrt(shape[0]), shape) if len(shape) == 2 else np.zeros(shape) for shape in shapes
    ]
    first, second = [np.zeros_like(w) for w in weights], [np.zeros_like(w) for w in weights]
    batches = -(-len(x_train) // NET_BATCH)
    total, warm = NET_EPOCHS * batches, max(1, round(warmup * NET_EPOCHS * batches))
    onehot = np.eye(10)[y_train]
    step = 0
    with np.errstate(all="ignore"):
        for _ in range(NET_EPOCHS):
            order = rng.permutation(len(x_train))
            for b in range(batches):
                rows = order[b * NET_BATCH : (b + 1) * NET_BATCH]
                x, t = x_train[rows], onehot[rows]
                w1, b1, w2, b2 = weights
                hidden = np.tanh(x @ w1 + b1)
                logits = hidden @ w2 + b2
                probs = np.exp(logits - logits.max(axis=1, keepdims=True))
                probs /= probs.sum(axis=1, keepdims=True)
                delta = (probs - t) / len(rows)
                back = (delta @ w2.T) * (1 - hidden**2)
                grads = [x.T @ back, back.sum(axis=0), hidden.T @ delta, delta.sum(axis=0)]
                step += 1
                progress = max(0.0, (step - warm) / max(1, total - warm))
                decay = {"constant": 1.0, "linear": 1 - progress, "cosine": 0.5 * (1 + math.cos(math.pi * progress))}
                rate = learning_rate * (min(1.0, step / warm) if step <= warm else decay[schedule])
                for i, (w, g) in enumerate(zip(weights, grads, strict=True)):
                    if optimizer == "adam":
                        first[i] = 0.9 * first[i] + 0.1 * g
                        second[i] = 0.999 * second[i] + 0.001 * g**2
                        update = (first[i] / (1 - 0.9**step)) / (np.sqrt(second[i] / (1 - 0.999**step)) + 1e-8)
                    elif optimizer == "rmsprop":
                        second[i] = 0.9 * second[i] + 0.1 * g**2
                        update = g / (np.sqrt(second[i]) + 1e-8)
                    else:
                        first[i] = momentum * first[i] + g
                        update = first[i]
                    decayed = rate * weight_decay * w if w.ndim == 2 else 0.0
                    weights[i] = w - decayed - rate * update
        w1, b1, w2, b2 = weights
        predicted = (np.tanh(x_valid @ w1 + b1) @ w2 + b2).argmax(axis=1)
    error = float(np.mean(predicted != y_valid))
    return error if math.isfinite(error) else 1.0


def _schedule(p: Assignment) -> float:
    return _network(float(p["learning_rate"]), float(p["weight_decay"]), float(p["warmup"]), str(p["schedule"]))


def _conditional(p: Assignment) -> float:
    optimizer = str(p["optimizer"])
    momentum = float(p["momentum"]) if optimizer == "sgd" else 0.0
    return _network(float(p["learning_rate"]), float(p["weight_decay"]), 0.0, "cosine", optimizer, momentum)


PROBLEMS: dict[str, Problem] = {
    p.name: p
    for p in [
        Problem(
            "branin",
            "function",
            (Dim("x1", -5, 10), Dim("x2", 0, 15)),
            _branin,
            0.397887357729738,
            0.01,
            "Branin, 2 continuous dimensions, three global minima",
        ),
        Problem(
            "hartmann6",
            "function",
            tuple(Dim(f"x{i}") for i in range(6)),
            _hartmann6,
            -3.322368011391339,
            # The best local minimum sits at regret 0.119 (-3.2032): below 0.05 is the global basin.
            0.05,
            "Hartmann-6, 6 continuous dimensions, a local minimum at regret 0.12",
        ),
        Problem(
            "ackley5",
            "function",
            tuple(Dim(f"x{i}", -32.768, 32.768) for i in range(5)),
            _ackley5,
            0.0,
            # The nearest local minima of Ackley (one lattice step from the origin) are at regret ~2.6.
            1.0,
            "Ackley-5, 5 continuous dimensions, a lattice of local minima",
        ),
        Problem(
            "rosenbrock4",
            "function",
            tuple(Dim(f"x{i}", -5, 10) for i in range(4)),
            _rosenbrock4,
            0.0,
            1.0,
            "Rosenbrock-4, 4 continuous dimensions, a long curved valley",
        ),
        Problem(
            "mixed",
            "function",
            (
                Dim("lr", 1e-5, 1e-1, log=True),
                Dim("batch_size", 16, 256, integer_step=16),
                Dim("dropout", 0.0, 0.5),
                Dim("optimizer", choices=("sgd", "adam", "rmsprop")),
            ),
            _mixed,
            0.0,
            # The wrong optimizer costs at least 0.15: below 0.05 the search has found adam and its basin.
            0.05,
            "an HPO-like space: log-scaled float, stepped int, float and a categorical",
        ),
        Problem(
            "gbm-cancer",
            "model",
            (
                Dim("learning_rate", 0.01, 1.0, log=True),
                Dim("max_iter", 10, 100, integer_step=1),
                Dim("max_leaf_nodes", 4, 48, integer_step=1),
                Dim("min_samples_leaf", 2, 40, integer_step=1),
                Dim("l2_regularization", 1e-4, 10.0, log=True),
                Dim("features", choices=("all", "half", "sqrt")),
            ),
            _gradient_boosting,
            0.0,
            None,
            "scikit-learn HistGradientBoostingClassifier on breast cancer (398 train / 171 validation rows)",
        ),
        Problem(
            "mlp-digits",
            "model",
            (
                Dim("hidden_units", 8, 64, log=True, integer_step=1),
                Dim("alpha", 1e-6, 1e-1, log=True),
                Dim("learning_rate_init", 1e-4, 1e-1, log=True),
                Dim("activation", choices=("relu", "tanh", "logistic")),
            ),
            _mlp,
            0.0,
            None,
            "scikit-learn MLPClassifier (one hidden layer, 20 epochs) on digits (1257 train / 540 validation)",
        ),
        Problem(
            "svm-digits",
            "model",
            (Dim("C", 1e-3, 1e3, log=True), Dim("gamma", 1e-5, 1.0, log=True)),
            _svm,
            0.0,
            None,
            "scikit-learn SVC (RBF kernel), log-scaled C and gamma, on digits",
        ),
        Problem(
            "gbm-diabetes",
            "model",
            (
                Dim("loss", choices=("squared_error", "absolute_error", "poisson")),
                Dim("learning_rate", 0.01, 1.0, log=True),
                Dim("max_iter", 10, 200, integer_step=1),
                Dim("max_leaf_nodes", 4, 64, integer_step=1),
                Dim("min_samples_leaf", 2, 60, integer_step=1),
                Dim("l2_regularization", 1e-4, 10.0, log=True),
            ),
            _gradient_boosting_regression,
            0.0,
            None,
            "scikit-learn HistGradientBoostingRegressor on diabetes (309 train / 133 validation rows), "
            "1 - R² on the validation rows",
        ),
        Problem(
            "net-schedule",
            "model",
            (
                Dim("learning_rate", 1e-3, 3.0, log=True),
                Dim("weight_decay", 1e-6, 1e-1, log=True),
                Dim("warmup", 0.0, 0.5),
                Dim("schedule", choices=("constant", "linear", "cosine")),
            ),
            _schedule,
            0.0,
            None,
            f"a 64-{NET_HIDDEN}-10 tanh network in numpy, SGD with momentum 0.9 for {NET_EPOCHS} epochs on "
            "digits: peak learning rate, decoupled weight decay, linear warm-up share and decay schedule",
        ),
        Problem(
            "net-conditional",
            "model",
            (
                Dim("optimizer", choices=("sgd", "adam", "rmsprop")),
                Dim("learning_rate", 1e-4, 3.0, log=True),
                Dim("momentum", 0.0, 0.99, when=("optimizer", ("sgd",))),
                Dim("weight_decay", 1e-6, 1e-1, log=True),
            ),
            _conditional,
            0.0,
            None,
            "the net-schedule network with a conditional space: optimizer (sgd, adam, rmsprop), and "
            "momentum only for sgd; cosine decay, no warm-up",
        ),
    ]
}

FUNCTIONS = tuple(name for name, p in PROBLEMS.items() if p.kind == "function")
MODELS = tuple(name for name, p in PROBLEMS.items() if p.kind == "model")


# --- several objectives --------------------------------------------------------------------------


@dataclass(frozen=True)
class MultiObjectiveProblem:
    """A black box with several losses to minimize at once, read by the hypervolume of its front."""

    name: str
    kind: Literal["function", "model"]
    dims: tuple[Dim, ...]
    evaluate: Callable[[Assignment], tuple[float, ...]]
    objectives: tuple[str, ...]
    reference: tuple[float, ...]
    """The hypervolume's reference point: every loss the problem can return is at or below it, so
    that no evaluation is left out of the hypervolume."""
    best_hypervolume: float | None
    """The hypervolume of the true Pareto front, where it is known."""
    about: str

    def space(self) -> SearchSpace:
        """The kubetune search space."""
        return SearchSpace.from_parameters([d.parameter() for d in self.dims])


ZDT1_DIMENSIONS = 30
"""The standard size of ZDT1 (Zitzler, Deb and Thiele, 2000)."""

ZDT1_REFERENCE = 11.0
"""The reference point (11, 11), as BoTorch's ZDT problems use: above the largest f2 (10) that any
point of the unit cube gives, so every evaluation counts."""


def _zdt1(p: Assignment) -> tuple[float, float]:
    x = _vector(p, [f"x{i}" for i in range(ZDT1_DIMENSIONS)])
    g = 1 + 9 * float(np.sum(x[1:])) / (ZDT1_DIMENSIONS - 1)
    return float(x[0]), g * (1 - math.sqrt(float(x[0]) / g))


MLP_SIZE_UNITS = (4, 128)


def _mlp_weights(hidden: int) -> int:
    """Weights and biases of a one-hidden-layer network from digits' 64 pixels to its 10 classes."""
    return 64 * hidden + hidden + hidden * 10 + 10


def _mlp_error_and_size(p: Assignment) -> tuple[float, float]:
    """Validation error, and the network's size as a share of the largest in the space."""
    return _mlp(p), _mlp_weights(int(p["hidden_units"])) / _mlp_weights(MLP_SIZE_UNITS[1])


MULTI_OBJECTIVE: dict[str, MultiObjectiveProblem] = {
    p.name: p
    for p in [
        MultiObjectiveProblem(
            "zdt1",
            "function",
            tuple(Dim(f"x{i}") for i in range(ZDT1_DIMENSIONS)),
            _zdt1,
            ("f1", "f2"),
            (ZDT1_REFERENCE, ZDT1_REFERENCE),
            # The box to the reference point less the area under the front (the integral of 1 - sqrt).
            ZDT1_REFERENCE**2 - 1 / 3,
            f"ZDT1, {ZDT1_DIMENSIONS} continuous dimensions in [0, 1], a convex front f2 = 1 - sqrt(f1) "
            "where x1..x29 are 0",
        ),
        MultiObjectiveProblem(
            "mlp-digits-size",
            "model",
            (
                Dim("hidden_units", *MLP_SIZE_UNITS, log=True, integer_step=1),
                Dim("alpha", 1e-6, 1e-1, log=True),
                Dim("learning_rate_init", 1e-4, 1e-1, log=True),
                Dim("activation", choices=("relu", "tanh", "logistic")),
            ),
            _mlp_error_and_size,
            ("validation error", "size"),
            (1.0, 1.0),
            None,
            "scikit-learn MLPClassifier (one hidden layer, 20 epochs) on digits: validation error against "
            f"size (weights and biases as a share of the largest network's, {MLP_SIZE_UNITS[1]} hidden units)",
        ),
    ]
}


# --- learning curves -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CurveProblem:
    """A model trained epoch by epoch: its validation error after each epoch, the epoch being the
    resource an early-stopping rule saves."""

    name: str
    dims: tuple[Dim, ...]
    curve: Callable[[Assignment, int], tuple[float, ...]]
    """The validation error after each of the first k epochs (k at most ``epochs``): only those
    are trained."""
    epochs: int
    about: str

    def space(self) -> SearchSpace:
        """The kubetune search space."""
        return SearchSpace.from_parameters([d.parameter() for d in self.dims])


CURVE_EPOCHS = 27
"""Three rungs of a reduction factor of 3 above the first epoch (1, 3, 9, 27)."""


class _Training:
    """One network of the mlp-digits space, trained as far as it has been asked to."""

    def __init__(self, hidden: int, alpha: float, learning_rate: float, activation: str) -> None:
        from sklearn.neural_network import MLPClassifier  # noqa: PLC0415

        self.model = MLPClassifier(
            hidden_layer_sizes=(hidden,),
            alpha=alpha,
            learning_rate_init=learning_rate,
            activation=activation,
            batch_size=64,
            random_state=0,
        )
        self.errors: list[float] = []

    def curve(self, epochs: int) -> tuple[float, ...]:
        from sklearn.exceptions import ConvergenceWarning  # noqa: PLC0415

        x_train, x_valid, y_train, y_valid = _split("digits")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            while len(self.errors) < epochs:
                # One epoch over the training rows: the curve after k epochs does not depend on
                # whether training goes on, so a run that stops early and one that does not share it.
                self.model.partial_fit(x_train, y_train, classes=np.arange(10))
                self.errors.append(float(1.0 - self.model.score(x_valid, y_valid)))
        return tuple(self.errors[:epochs])


_TRAINING: dict[tuple[int, float, float, str], _Training] = {}
_TRAINING_KEPT = 2000
"""Networks kept in a process (a few kilobytes each): enough for one equal-resource run."""


def _mlp_curve(p: Assignment, epochs: int) -> tuple[float, ...]:
    key = (int(p["hidden_units"]), float(p["alpha"]), float(p["learning_rate_init"]), str(p["activation"]))
    if key not in _TRAINING:
        if len(_TRAINING) >= _TRAINING_KEPT:
            _TRAINING.clear()
        _TRAINING[key] = _Training(*key)
    return _TRAINING[key].curve(epochs)


CURVES: dict[str, CurveProblem] = {
    "mlp-digits-curve": CurveProblem(
        "mlp-digits-curve",
        PROBLEMS["mlp-digits"].dims,
        _mlp_curve,
        CURVE_EPOCHS,
        f"the mlp-digits space trained epoch by epoch (scikit-learn partial_fit, batch 64) for up to "
        f"{CURVE_EPOCHS} epochs; the validation error after every epoch is the learning curve",
    ),
}
