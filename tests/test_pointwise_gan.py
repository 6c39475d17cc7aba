"""The GAN losses (LSGAN and Wasserstein, torchgan's conventions): kernel vs
reference and torch ops, d_real and d_fake of different lengths and shapes,
gradients as a tuple (d_real, d_fake), grad_out tuples, bad options."""
import numpy as np
import pytest

import lossk
from helpers import assert_close, finite_difference_grad

DTYPES = (np.float32, np.float64)
DISCRIMINATORS = {"lsgan_discriminator_loss": dict(a=-0.3, b=0.8), "wasserstein_discriminator_loss": {}}
GENERATORS = {"lsgan_generator_loss": dict(c=0.7), "wasserstein_generator_loss": {}}


def _outputs(dtype, n_real=33, n_fake=(7, 5)):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n_real, 1)).astype(dtype), rng.standard_normal(n_fake).astype(dtype)


def _torch_formula(name, kw, *tensors):
    if name == "lsgan_discriminator_loss":
        r, f = tensors
        return 0.5 * (((r - kw["b"]) ** 2).mean() + ((f - kw["a"]) ** 2).mean())
    if name == "wasserstein_discriminator_loss":
        r, f = tensors
        return f.mean() - r.mean()
    if name == "lsgan_generator_loss":
        return 0.5 * ((tensors[0] - kw["c"]) ** 2).mean()
    return -tensors[0].mean()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(DISCRIMINATORS))
def test_discriminators_equal_reference_and_torch_with_different_lengths(name, dtype):
    torch = pytest.importorskip("torch")
    kw = DISCRIMINATORS[name]
    r, f = _outputs(dtype)
    fn, ref = getattr(lossk, name), getattr(lossk.reference, name)
    for reduction in ("mean", "sum"):
        loss, (g_real, g_fake) = fn(r, f, reduction=reduction, return_grad=True, **kw)
        ref_loss, (rg_real, rg_fake) = ref(r, f, reduction=reduction, return_grad=True, **kw)
        assert g_real.shape == r.shape and g_fake.shape == f.shape and g_real.dtype == dtype
        assert_close(loss, ref_loss, dtype)
        assert_close(g_real, rg_real, dtype)
        assert_close(g_fake, rg_fake, dtype)
    rt, ft = (torch.from_numpy(a.copy()).requires_grad_() for a in (r, f))
    peer = _torch_formula(name, kw, rt, ft)
    peer.backward()
    loss, (g_real, g_fake) = fn(r, f, return_grad=True, **kw)
    assert_close(loss, peer.detach().numpy(), dtype)
    assert_close(g_real, rt.grad.numpy(), dtype)
    assert_close(g_fake, ft.grad.numpy(), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(GENERATORS))
def test_generators_equal_reference_and_torch(name, dtype):
    torch = pytest.importorskip("torch")
    kw = GENERATORS[name]
    _, f = _outputs(dtype)
    fn, ref = getattr(lossk, name), getattr(lossk.reference, name)
    for reduction in ("mean", "sum", "none"):
        loss, g = fn(f, reduction=reduction, return_grad=True, **kw)
        ref_loss, rg = ref(f, reduction=reduction, return_grad=True, **kw)
        assert np.shape(loss) == (f.shape if reduction == "none" else ())
        assert_close(loss, ref_loss, dtype)
        assert_close(g, rg, dtype)
    ft = torch.from_numpy(f.copy()).requires_grad_()
    peer = _torch_formula(name, kw, ft)
    peer.backward()
    loss, g = fn(f, return_grad=True, **kw)
    assert_close(loss, peer.detach().numpy(), dtype)
    assert_close(g, ft.grad.numpy(), dtype)


@pytest.mark.parametrize("name", list(DISCRIMINATORS) + list(GENERATORS))
def test_gradients_match_finite_differences(name):
    kw = {**DISCRIMINATORS, **GENERATORS}[name]
    r, f = _outputs(np.float64, 6, (3, 2))
    ref = getattr(lossk.reference, name)
    if name in DISCRIMINATORS:
        _, (g_real, g_fake) = getattr(lossk, name)(r, f, return_grad=True, **kw)
        np.testing.assert_allclose(g_real, finite_difference_grad(lambda z: ref(z, f, **kw), r), atol=1e-8)
        np.testing.assert_allclose(g_fake, finite_difference_grad(lambda z: ref(r, z, **kw), f), atol=1e-8)
    else:
        _, g = getattr(lossk, name)(f, return_grad=True, **kw)
        np.testing.assert_allclose(g, finite_difference_grad(lambda z: ref(z, **kw), f), atol=1e-8)


@pytest.mark.parametrize("name", list(DISCRIMINATORS))
def test_grad_out_is_a_tuple_written_in_place(name):
    r, f = _outputs(np.float64)
    fn = getattr(lossk, name)
    loss, (g_real, g_fake) = fn(r, f, return_grad=True)
    bufs = (np.full_like(r, np.nan), np.full_like(f, np.nan))
    loss1, grads = fn(r, f, return_grad=True, grad_out=bufs)
    assert grads[0] is bufs[0] and grads[1] is bufs[1] and loss1 == loss
    assert bufs[0].tobytes() == g_real.tobytes() and bufs[1].tobytes() == g_fake.tobytes()
    ri, fi = r.copy(), f.copy()
    fn(ri, fi, return_grad=True, grad_out=(ri, fi))                  # in place
    assert ri.tobytes() == g_real.tobytes() and fi.tobytes() == g_fake.tobytes()
    with pytest.raises(TypeError, match="grad_out"):
        fn(r, f, return_grad=True, grad_out=bufs[0])
    with pytest.raises(ValueError, match="return_grad"):
        fn(r, f, grad_out=bufs)
    with pytest.raises(ValueError, match="overlaps d_fake"):
        fn(f.copy(), f, return_grad=True, grad_out=(f, np.empty_like(f)))


def test_bad_options_and_inputs_raise_naming_them():
    r, f = _outputs(np.float64)
    for opt in ("a", "b"):
        with pytest.raises(ValueError, match=opt):
            lossk.lsgan_discriminator_loss(r, f, **{opt: np.nan})
    with pytest.raises(ValueError, match="c"):
        lossk.lsgan_generator_loss(f, c=np.inf)
    with pytest.raises(TypeError, match="d_fake"):
        lossk.wasserstein_discriminator_loss(r, f.astype(np.int64))
    with pytest.raises(ValueError, match="reduction"):
        lossk.lsgan_discriminator_loss(r, f, reduction="none")


def test_means_of_nothing_are_nan():
    r, _ = _outputs(np.float64)
    empty = np.zeros(0)
    assert np.isnan(lossk.lsgan_discriminator_loss(r, empty))
    assert np.isnan(lossk.wasserstein_generator_loss(empty))
    assert_close(lossk.wasserstein_discriminator_loss(r, empty, reduction="sum"), -r.sum())


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernels_are_bitwise_equal_for_1_and_2_threads(dtype):
    # > 2 blocks of the pointwise driver (16384 elements), so that 2 threads split them
    rng = np.random.default_rng(3)
    r, f = rng.standard_normal(40_000).astype(dtype), rng.standard_normal((90, 411)).astype(dtype)
    for name, kw in {**DISCRIMINATORS, **GENERATORS}.items():
        args = (r, f) if name in DISCRIMINATORS else (f,)
        fn, ref = getattr(lossk, name), getattr(lossk.reference, name)
        for reduction in ("mean", "sum"):
            one = fn(*args, reduction=reduction, return_grad=True, n_threads=1, **kw)
            two = fn(*args, reduction=reduction, return_grad=True, n_threads=2, **kw)
            assert one[0].tobytes() == two[0].tobytes()
            for g1, g2 in zip(*(o[1] if isinstance(o[1], tuple) else (o[1],) for o in (one, two))):
                assert g1.tobytes() == g2.tobytes()
            expected = ref(*args, reduction=reduction, return_grad=True, **kw)
            assert_close(one[0], expected[0])
