from tests.kube.fixtures import kube, kube_api

__all__ = ["kube", "kube_api"]
