"""mx.mod: MXNet 1.x's Module API (a Symbol trained by bind / forward / backward / update)."""
from . import executor_group  # noqa: F401  (mx.module.executor_group)
from .base_module import BaseModule
from .bucketing_module import BucketingModule
from .module import Module
from .python_module import PythonLossModule, PythonModule
from .sequential_module import SequentialModule

__all__ = ["BaseModule", "BucketingModule", "Module", "PythonLossModule", "PythonModule",
           "SequentialModule"]
