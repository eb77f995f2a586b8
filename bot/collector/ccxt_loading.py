"""Importing ccxt with only the exchange this process talks to.

ccxt's package ``__init__`` files import every exchange it ships, sync and async: ``import
ccxt.async_support`` (even ``import ccxt.base.errors``, which runs ``ccxt/__init__`` first)
loads some 900 modules and ~50 MB of RSS, for the one exchange a process uses. So, before
anything imports ccxt, this module registers light ``ccxt`` and ``ccxt.async_support``
packages: real ``__path__`` (every submodule imports from ccxt's own files) and the names
ccxt's own modules import from the packages (every error class, the
``decimal_to_precision`` names, ``Exchange``, ``Precise``), the very objects of
``ccxt.base`` — an ``except ccxt.NetworkError`` catches exactly what it caught before.
``exchange_class`` then imports only ``ccxt.async_support.<name>``.

Nothing may behave differently with real money on the line, so every doubt ends in ccxt's
normal import, with one warning log:

- ccxt was already imported in full (by someone else, first): it is used as it is;
- registering the light packages fails: they are removed and ccxt is imported normally;
- loading an exchange fails, or anything reads a name the light packages lack: ccxt's own
  ``__init__`` runs in the light package (in place, so there is one module and one set of
  classes), which is then the complete package.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import sys
from types import ModuleType
from typing import Any

logger = logging.getLogger(__name__)

LIGHT = "__dps_light__"
"""Attribute on a light package: True until ccxt's own ``__init__`` has completed it."""

_ROOT, _ASYNC = "ccxt", "ccxt.async_support"
_warned = False


def _warn_once(message: str, *args: object) -> None:
    global _warned  # one warning a process: the cause is the same every time
    if not _warned:
        _warned = True
        logger.warning(message, *args)


def is_light(module: ModuleType) -> bool:
    """Whether ``module`` is a light package not (yet) completed by ccxt's own ``__init__``."""
    return bool(getattr(module, LIGHT, False))


def _complete(package: ModuleType) -> None:
    """Run ccxt's own ``__init__`` in the light package: it becomes the complete package."""
    if not is_light(package):
        return
    setattr(package, LIGHT, False)  # first: the __init__ reads names, and must not recurse here
    spec = package.__spec__
    if spec is None or spec.loader is None:
        raise ImportError(f"no loader for {package.__name__}")
    spec.loader.exec_module(package)


def _light_package(name: str, names: dict[str, Any]) -> ModuleType:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not an installed package")
    package = importlib.util.module_from_spec(spec)  # sets __path__, __file__, __spec__
    package.__dict__.update(names)
    setattr(package, LIGHT, True)

    def __getattr__(attr: str) -> Any:  # noqa: N807 (the module hook, PEP 562)
        if attr.startswith("__") or not is_light(package):
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        _warn_once("ccxt: %s.%s is not in the light package; importing all of ccxt", name, attr)
        _complete(package)
        return package.__dict__[attr] if attr in package.__dict__ else getattr(package, attr)

    package.__dict__["__getattr__"] = __getattr__
    sys.modules[name] = package
    return package


def _public(module: ModuleType) -> dict[str, Any]:
    return {k: v for k, v in vars(module).items() if not k.startswith("_")}


def _install() -> None:
    """Register the light ``ccxt`` and ``ccxt.async_support`` packages."""
    root = _light_package(_ROOT, {"__version__": importlib.metadata.version("ccxt")})
    # Under the light root, these import ccxt.base's modules only (they are all ccxt needs).
    from ccxt.base import decimal_to_precision, errors
    from ccxt.base.exchange import Exchange
    from ccxt.base.precise import Precise

    shared = {**_public(decimal_to_precision), **_public(errors), "errors": errors}
    root.__dict__.update(shared, Exchange=Exchange, Precise=Precise)
    light_async = _light_package(_ASYNC, {"__version__": root.__dict__["__version__"], **shared})
    root.__dict__["async_support"] = light_async
    from ccxt.async_support.base.exchange import Exchange as AsyncExchange

    light_async.__dict__["Exchange"] = AsyncExchange


def _load() -> ModuleType:
    """``ccxt.async_support``: light when possible, else ccxt's normal package."""
    present = sys.modules.get(_ROOT)
    if present is not None:
        if not is_light(present):
            _warn_once("ccxt was imported in full before %s: every exchange stays loaded", __name__)
        return importlib.import_module(_ASYNC)
    try:
        _install()
    except Exception:
        logger.warning("ccxt: the light import failed; importing all of ccxt", exc_info=True)
        for name in (_ASYNC, _ROOT):
            module = sys.modules.get(name)
            if module is not None and is_light(module):
                del sys.modules[name]
    return importlib.import_module(_ASYNC)


ccxt_async = _load()
errors: ModuleType = importlib.import_module("ccxt.base.errors")
"""``ccxt.base.errors``: the classes ccxt raises (the package's ``ccxt.NetworkError`` is this one's)."""


def exchange_class(name: str) -> type[Any]:
    """ccxt's async exchange class ``name`` (``binanceusdm``, ``bybit``, ``okx``), importing only it.

    Raises:
        AttributeError: ccxt has no such exchange.
    """
    found = ccxt_async.__dict__.get(name)
    if isinstance(found, type):
        return found
    if is_light(ccxt_async) and name.isidentifier() and not name.startswith("_"):
        try:
            cls = getattr(importlib.import_module(f"{_ASYNC}.{name}"), name)
        except Exception:
            logger.warning("ccxt: loading %s alone failed; importing all of ccxt", name, exc_info=True)
        else:
            if isinstance(cls, type):
                setattr(ccxt_async, name, cls)  # as ccxt's __init__ binds it: the class, not the module
                return cls
        _complete(ccxt_async)
    cls = getattr(ccxt_async, name)
    if not isinstance(cls, type):
        raise AttributeError(f"ccxt has no exchange {name!r}")
    return cls
