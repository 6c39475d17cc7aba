from typing import Any, assert_type

import numpy as np
from numpy.typing import NDArray

import lossk

x = np.zeros((4, 3), np.float32)
y = np.zeros(4, np.int64)
v = lossk.cross_entropy(x, y, label_smoothing=0.1)
assert_type(v, np.floating[Any])
loss, g = lossk.cross_entropy(x, y, return_grad=True, grad_out=np.empty_like(x))
assert_type(g, NDArray[np.floating[Any]])
per = lossk.cross_entropy(x, y, reduction="none")
assert_type(per, NDArray[np.floating[Any]])
per2, g2 = lossk.mse_loss(x, x, reduction="none", return_grad=True)
assert_type(per2, NDArray[np.floating[Any]])
m, (g_x1, g_x2) = lossk.margin_ranking_loss(x, x, np.ones_like(x), return_grad=True)
assert_type(g_x2, NDArray[np.floating[Any]])
pen, grads = lossk.l2_penalty([x, x], 0.1, return_grad=True)
assert_type(grads, tuple[NDArray[np.floating[Any]], ...])
w = lossk.WIoULoss(momentum=0.05)
assert_type(w(x, x), np.floating[Any])
assert_type(lossk.reference.mse_loss(x, x), np.floating[Any])
with lossk.num_threads(1) as n:
    assert_type(n, int)
flag: bool = bool(len(x))
either = lossk.huber_loss(x, x, return_grad=flag)
print(g.shape, per.sum(), lossk.get_num_threads() + 1, either)
