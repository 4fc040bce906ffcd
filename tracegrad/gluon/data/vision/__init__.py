"""`gluon.data.vision`: image datasets (MNIST, FashionMNIST, CIFAR10, CIFAR100) and transforms."""
from . import transforms
from .datasets import CIFAR10, CIFAR100, MNIST, FashionMNIST

__all__ = ["transforms", "MNIST", "FashionMNIST", "CIFAR10", "CIFAR100"]
