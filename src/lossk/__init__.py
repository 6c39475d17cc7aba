"""lossk: loss functions and their gradients in one fused pass, in C with OpenMP.

    loss = lossk.cross_entropy(logits, target)
    loss, grad = lossk.cross_entropy(logits, target, return_grad=True)

Every loss has a plain-NumPy twin in ``lossk.reference`` and is listed in
``lossk.LOSSES``. See ``lossk.show_config()`` for the build.
"""
from ._config import config, get_include, get_library_dir, show_config
from ._registry import LOSSES
from ._threads import get_num_threads, num_threads, set_num_threads
from .box import (WIoULoss, box_iou, ciou_loss, diou_loss, eiou_loss, generalized_box_iou,
                    giou_loss, iou_loss, siou_loss, wiou_loss)
from .class_index import multi_margin_loss, nll_loss
from .softmax import cross_entropy, softmax_focal_loss
from .penalty import l1_penalty, l2_penalty
from .listwise import approx_ndcg_loss, listmle_loss, listnet_loss
from .segmentation import dice_loss, tversky_loss
from .crf import crf_decode, crf_nll_loss
from . import metric
from .metric import *  # noqa: F401,F403 (the family's registered losses: metric.__all__)
from .linear import linear_cross_entropy
from . import pointwise
from .pointwise import *  # noqa: F401,F403 (the family's registered losses: pointwise.__all__)
from . import reference

__version__ = "0.1.0"

__all__ = ["LOSSES", "WIoULoss", "box_iou", "ciou_loss", "config", "cross_entropy", "diou_loss",
           "eiou_loss", "generalized_box_iou", "get_include", "get_library_dir", "get_num_threads", "giou_loss", "iou_loss", "l1_penalty",
           "l2_penalty",
           "listnet_loss", "listmle_loss", "approx_ndcg_loss",
           "dice_loss", "tversky_loss",
           "crf_nll_loss", "crf_decode",
           "linear_cross_entropy",
           "multi_margin_loss", "nll_loss", "num_threads", "reference", "set_num_threads",
           "show_config", "siou_loss", "softmax_focal_loss", "wiou_loss", "__version__"] + pointwise.__all__ \
    + metric.__all__
