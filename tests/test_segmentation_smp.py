"""dice_loss / tversky_loss against segmentation_models_pytorch 0.6 itself
(DiceLoss, TverskyLoss, loaded from its files by lossk._bench.smp_losses):
loss values and torch autograd gradients, float64 and float32, every mode
and option SMP has; per_image against SMP applied image by image."""
import numpy as np
import pytest

import lossk
from lossk._bench import smp_losses
from helpers import assert_close
from test_segmentation import TVERSKY, make

torch = pytest.importorskip("torch")
try:
    SMP = smp_losses.load()      # its loss files only: the package import needs timm
except ImportError as e:
    pytest.skip(f"segmentation_models_pytorch's losses cannot be loaded: {e}", allow_module_level=True)
CLASSES = {"dice_loss": "DiceLoss", "tversky_loss": "TverskyLoss"}


def smp_loss_and_grad(name, mode, x, t, per_image=False, **kw):
    """SMP's loss and d(loss)/d(pred) by autograd. per_image: SMP (gamma 1) on each
    image alone, the mean over the images, then ** gamma: lossk's per_image."""
    gamma = kw.pop("gamma", 1.0)
    if name == "tversky_loss" and not per_image:
        kw["gamma"] = gamma
    fn = getattr(SMP, CLASSES[name])(mode, **kw)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    tt = torch.from_numpy(t)
    if per_image:
        loss = torch.stack([fn(xt[i:i + 1], tt[i:i + 1]) for i in range(x.shape[0])]).mean() ** gamma
    else:
        loss = fn(xt, tt)
    loss.backward()
    return loss.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("dtype", (np.float64, np.float32))
@pytest.mark.parametrize("mode", ("multiclass", "multilabel", "binary"))
@pytest.mark.parametrize("name", ("dice_loss", "tversky_loss"))
def test_equals_smp(name, mode, dtype):
    rng = np.random.default_rng(10)
    shape = (3, 1 if mode == "binary" else 4, 6, 5)
    for opts in (dict(), dict(smooth=1.0), dict(ignore_index=-1), dict(from_logits=False, eps=0.2),
                 dict(per_image=True), dict(per_image=True, ignore_index=-1, smooth=0.5)):
        x, t = make(rng, mode, shape, dtype, opts.get("ignore_index"), opts.get("from_logits", True))
        if mode == "multilabel" and "from_logits" not in opts:
            t[0, 0] = 0.3                                  # a soft mask: SMP's I = sum min(p, t)
        kw = dict(opts, **(TVERSKY if name == "tversky_loss" else {}))
        loss, grad = getattr(lossk, name)(x, t, mode=mode, return_grad=True, **kw)
        peer_loss, peer_grad = smp_loss_and_grad(name, mode, x, t, **kw)
        assert_close(loss, peer_loss, dtype)
        assert_close(grad, peer_grad, dtype)


def test_binary_target_without_class_axis_equals_smp():
    rng = np.random.default_rng(11)
    x, t = make(rng, "binary", (2, 1, 7, 4), np.float64)
    t = t[:, 0]
    loss, grad = lossk.dice_loss(x, t, mode="binary", return_grad=True)
    peer_loss, peer_grad = smp_loss_and_grad("dice_loss", "binary", x, t)
    assert_close(loss, peer_loss)
    assert_close(grad, peer_grad)


@pytest.mark.parametrize("name", ("dice_loss", "tversky_loss"))
def test_upstream_equals_smp_per_class_backward(name):
    """upstream=: SMP's per-class losses (its aggregate_loss made the identity)
    backpropagated with a random grad_output."""
    rng = np.random.default_rng(12)
    for mode, dtype in (("multiclass", np.float64), ("multilabel", np.float32)):
        x, t = make(rng, mode, (2, 4, 5, 3), dtype, ignore=-1)
        kw = dict(TVERSKY, gamma=1.0) if name == "tversky_loss" else {}
        fn = getattr(SMP, CLASSES[name])(mode, ignore_index=-1, **kw)
        fn.aggregate_loss = lambda loss: loss                   # SMP's per-class losses
        u = rng.standard_normal(4)
        xt = torch.from_numpy(x.copy()).requires_grad_()
        peer = fn(xt, torch.from_numpy(t))
        peer.backward(torch.from_numpy(u.astype(dtype)))
        loss, grad = getattr(lossk, name)(x, t, mode=mode, ignore_index=-1, reduction="none", return_grad=True,
                                          upstream=u, **kw)
        assert_close(loss, peer.detach().numpy(), dtype)
        assert_close(grad, xt.grad.numpy(), dtype)
