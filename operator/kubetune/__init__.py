"""kubetune: hyperparameter search on Kubernetes, and on one machine with the same manifest."""

__version__ = "0.1.0"
