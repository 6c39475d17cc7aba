"""lossk.reference: plain-NumPy twins of every loss, same names and arguments.

The tests hold the C kernels to these. They compute in float64 and return the
result dtype of the kernels.
"""
from .boxes import (WIoULoss, box_iou, ciou_loss, diou_loss, eiou_loss, generalized_box_iou,
                    giou_loss, iou_loss, siou_loss, wiou_loss)
from .classification import cross_entropy

__all__ = ["WIoULoss", "box_iou", "ciou_loss", "cross_entropy", "diou_loss", "eiou_loss",
           "generalized_box_iou", "giou_loss", "iou_loss", "siou_loss", "wiou_loss"]
