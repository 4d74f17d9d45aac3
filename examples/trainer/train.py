"""A real, small training job: a neural network on scikit-learn's bundled digits dataset.

It reads its hyperparameters from the command line (kubetune substitutes ``${params.NAME}``),
trains for ``--epochs`` epochs, and prints one line per epoch in kubetune's default metric
format, ``name=value`` pairs:

    epoch=3 loss=0.412 val_accuracy=0.871 params_k=4.81 seconds=0.53

``params_k`` (thousands of weights) and ``seconds`` (training time so far) are there for the
multi-objective examples, which trade accuracy against model size.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, default=1e-3, help="initial learning rate")
    parser.add_argument("--alpha", type=float, default=1e-4, help="L2 penalty")
    parser.add_argument("--hidden", type=int, default=64, help="hidden units")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--activation", default="relu", choices=["relu", "tanh", "logistic"])
    parser.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    parser.add_argument("--momentum", type=float, default=0.9, help="sgd only")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    digits = load_digits()
    x_train, x_val, y_train, y_val = train_test_split(
        digits.data, digits.target, test_size=0.3, random_state=args.seed, stratify=digits.target
    )
    scaler = StandardScaler().fit(x_train)
    x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
    model = MLPClassifier(
        hidden_layer_sizes=(args.hidden,),
        activation=args.activation,
        alpha=args.alpha,
        learning_rate_init=args.lr,
        batch_size=args.batch_size,
        solver=args.optimizer,
        momentum=args.momentum,
        random_state=args.seed,
    )
    classes = np.unique(digits.target)
    weights = x_train.shape[1] * args.hidden + args.hidden + args.hidden * len(classes) + len(classes)
    started = time.monotonic()
    for epoch in range(1, args.epochs + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(x_train, y_train, classes=classes)
        probabilities = np.clip(model.predict_proba(x_val), 1e-9, 1)
        loss = log_loss(y_val, probabilities, labels=classes)
        accuracy = float((model.predict(x_val) == y_val).mean())
        seconds = time.monotonic() - started
        print(
            f"epoch={epoch} loss={loss:.4f} val_accuracy={accuracy:.4f} params_k={weights / 1000:.3f} seconds={seconds:.3f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
