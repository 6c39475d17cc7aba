"""segmentation_models_pytorch's loss classes (DiceLoss, TverskyLoss), loaded
from the installed package's files without importing the package: its
__init__ pulls in timm, huggingface_hub and its model zoo, while its loss files
(losses/constants.py, _functional.py, dice.py, tversky.py) need only torch.
The segmentation tests and the benchmark's SMP peer column both use this."""
import importlib.util
import os
import sys
import types

_PACKAGE = "_lossk_smp_losses"            # the synthetic package the files load under
_FILES = ("constants", "_functional", "dice", "tversky")   # dependency order


def load():
    """A module-like namespace with SMP's DiceLoss and TverskyLoss (its losses
    package, loaded once); ImportError when SMP (or torch) is not installed."""
    if _PACKAGE in sys.modules:
        return sys.modules[_PACKAGE]
    spec = importlib.util.find_spec("segmentation_models_pytorch")   # finds, does not import
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("segmentation_models_pytorch is not installed")
    directory = os.path.join(list(spec.submodule_search_locations)[0], "losses")
    package = types.ModuleType(_PACKAGE)
    package.__path__ = [directory]          # so that the files' relative imports resolve here
    sys.modules[_PACKAGE] = package
    try:
        for name in _FILES:
            full = f"{_PACKAGE}.{name}"
            file_spec = importlib.util.spec_from_file_location(full, os.path.join(directory, name + ".py"))
            module = importlib.util.module_from_spec(file_spec)
            sys.modules[full] = module
            file_spec.loader.exec_module(module)
            setattr(package, name, module)
    except BaseException:
        for name in [k for k in sys.modules if k == _PACKAGE or k.startswith(_PACKAGE + ".")]:
            del sys.modules[name]
        raise
    package.DiceLoss = package.dice.DiceLoss
    package.TverskyLoss = package.tversky.TverskyLoss
    return package
