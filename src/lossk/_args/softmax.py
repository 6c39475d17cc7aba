"""Arguments of the softmax family (lossk.softmax): a class axis with
class-index targets (or, for cross_entropy, probability targets)."""
import math

from .._checks import check_scalar
from .class_index import prepare_class_index


def prepare_cross_entropy(logits, target, weight, ignore_index, label_smoothing, reduction,
                          return_grad, grad_out, n_threads, backend):
    eps = check_scalar(label_smoothing, "label_smoothing", 0.0, 1.0)
    return prepare_class_index(logits, target, weight, ignore_index, reduction, return_grad, grad_out,
                               n_threads, backend, soft_ok=True, eps=eps)


def prepare_softmax_focal_loss(logits, target, alpha, gamma, ignore_index, reduction, return_grad,
                               grad_out, n_threads, backend):
    gamma = check_scalar(gamma, "gamma")
    if not (0.0 <= gamma < math.inf):
        raise ValueError(f"gamma must be finite and >= 0, got {gamma!r}")
    return prepare_class_index(logits, target, alpha, ignore_index, reduction, return_grad, grad_out,
                               n_threads, backend, weight_name="alpha", gamma=gamma)
