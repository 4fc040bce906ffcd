"""Which direction of a monitored metric counts as an improvement (CheckpointHandler's
save_best and EarlyStoppingHandler share it)."""
import warnings

import numpy as np


def improvement_op(mode, monitor, handler):
    """np.less for mode 'min', np.greater for 'max'; 'auto' (and, with a RuntimeWarning, an
    unknown mode) picks greater for accuracy and F1 metrics and less for everything else."""
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{handler} mode {mode} is unknown, fallback to auto mode. "
                      f"{handler} will use max mode for f1 and accuracy metric comparison "
                      f"and use min mode other wise", RuntimeWarning)
        mode = "auto"
    if mode == "min":
        return np.less
    if mode == "max":
        return np.greater
    name = monitor.get()[0]
    name = name[0] if isinstance(name, list) and name else name
    if "acc" in str(name).lower() or "f1" in str(name).lower():
        warnings.warn(f"`greater` operator will be used to determine if {name} has improved. "
                      f"Please specify `mode='min'` to use the `less` operator. Specify "
                      f"`mode='max' to disable this warning.`")
        return np.greater
    warnings.warn(f"`less` operator will be used to determine if {name} has improved. Please "
                  f"specify `mode='max'` to use the `greater` operator. Specify `mode='min' "
                  f"to disable this warning.`")
    return np.less


def worst_value(op):
    """The starting 'best' value that any finite value improves on."""
    return np.inf if op is np.less else -np.inf
