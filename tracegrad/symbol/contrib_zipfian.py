"""mx.sym.contrib.rand_zipfian: MXNet writes it in Python over other ops (it is no registered
operator), so it is a graph of uniform / exp / cast / mod nodes here too, giving the samples
(int64) and the expected counts of the true and of the sampled classes (float64)."""
import math

from ..base import MXNetError
from .symbol import Symbol


def rand_zipfian(true_classes, num_sampled, range_max):
    from . import random
    if not isinstance(true_classes, Symbol):
        raise MXNetError(f"rand_zipfian: true_classes must be a Symbol, got "
                         f"{type(true_classes).__name__}")
    log_range = math.log(range_max + 1)
    rand = random.uniform(0, log_range, shape=(num_sampled,), dtype="float64")
    sampled = (rand.exp() - 1).astype("int64") % range_max

    def expected(classes):
        c = classes.astype("float64")
        return ((c + 2.0) / (c + 1.0)).log() / log_range * num_sampled
    return sampled, expected(true_classes), expected(sampled)
