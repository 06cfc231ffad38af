"""Finding a space by name or spec: the built-in families, installed packages, a user's file.

:func:`get_space` resolves, in order:

1. a built-in family (:data:`spaces.FAMILIES`): ``cnn``, ``lenet``, ...;
2. a space an installed package registers in the entry-point group ``keras_hpsearch.spaces``
   (``[project.entry-points."keras_hpsearch.spaces"] myfamily = "mypkg.spaces:SPACE"``);
3. a spec, :func:`load_space`: ``path/to/file.py[:NAME]`` or ``package.module[:NAME]``.

Whatever the spec names may be a :class:`~spaces.SearchSpace` instance (a
:class:`~spaces.Space` family's, say), a ``SearchSpace`` subclass (instantiated with no arguments), a keras-tuner ``HyperModel`` (class or instance) or a
``build(hp)`` function (both become a :class:`~spaces.BuildFnSpace`). Without ``NAME``, the module's
``SPACE``, else its ``build``, else the single space, hypermodel or ``build*`` function it defines.

Every space found gets a stable :attr:`SearchSpace.spec <spaces.SearchSpace.spec>` (a family's
or entry point's name, or the spec with an absolute path and the resolved ``NAME``) that resolves
to the same space in any process: ``--workers`` processes, ``search.report`` and
``search.predict`` call ``get_space(space.spec)``, and the space pickles as it. A file is imported under a module name derived from its absolute
path, so Keras finds the custom layers of a saved model again in another process.

Every failure is a one-line :class:`~spaces.SpaceError` naming the user's file and line.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import re
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from spaces._base import SearchSpace
from spaces._errors import SpaceError, display_path, one_line, user_location
from spaces._families import FAMILIES
from spaces._user import GENERIC_BUILD_NAMES, BuildFnSpace, is_hypermodel

__all__ = ["ENTRY_POINT_GROUP", "as_space", "get_space", "load_space", "space_names"]

_log = logging.getLogger("spaces")

#: the entry-point group installed packages register their spaces in
ENTRY_POINT_GROUP = "keras_hpsearch.spaces"

#: the names :func:`load_space` tries, in order, when a spec names none
DEFAULT_NAMES = ("SPACE", "build")

_cache: dict[str, SearchSpace] = {}
_lock = threading.RLock()


def get_space(name: str) -> SearchSpace:
    """The space called ``name``: a built-in family, an installed entry point, or a spec.

    Args:
        name: a family (``"cnn"``), an entry point's name, or a spec for :func:`load_space`.

    Raises:
        KeyError: ``name`` is none of these (the message lists the known spaces).
        SpaceError: ``name`` is a spec or an entry point whose space cannot be loaded.
    """
    if name in FAMILIES:
        return FAMILIES[name]
    with _lock:
        if name in _cache:
            return _cache[name]
        entry = _entry_points().get(name)
        if entry is not None:
            return _load_entry_point(name, entry)
    if _looks_like_spec(name):
        return load_space(name)
    raise KeyError(f"unknown model family {name!r}; choose one of: {', '.join(space_names())}, or a spec "
                   "path/to/file.py[:NAME] or package.module[:NAME]")  # fmt: skip


def space_names() -> list[str]:
    """The built-in families, then the installed entry points' names (without loading them)."""
    return [*sorted(FAMILIES), *sorted(set(_entry_points()) - set(FAMILIES))]


def load_space(spec: str) -> SearchSpace:
    """The space a spec names: ``path/to/file.py[:NAME]`` or ``package.module[:NAME]``.

    The same spec (or another spelling of the same file and name) returns the same space object
    in a process.

    Raises:
        SpaceError: the module does not import, the name is missing or ambiguous, or what it
            names is not a space (one line naming the file and, where there is one, the line).
    """
    with _lock:
        if spec in _cache:
            return _cache[spec]
    target, name = _split(spec)
    is_path = target.endswith(".py") or "/" in target or "\\" in target
    if is_path:
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise SpaceError(f"{target}: no such file (the space spec was {spec!r})")
        where, stem = display_path(path), path.stem
    else:
        if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", target):
            raise SpaceError(
                f"{spec!r} is neither a file path.py[:NAME] nor a package.module[:NAME]"
            )
        path, where, stem = None, target, target.rsplit(".", 1)[-1]
    with _lock:
        module = _import_file(path) if path is not None else _import_module(target)
        if path is not None:
            where = display_path(path)
        else:
            where = display_path(module.__file__) if getattr(module, "__file__", None) else target
        attr, obj = _pick(module, name, where)
        stable = f"{path if path is not None else target}:{attr}"
        if stable in _cache:
            return _cache[stable]
        # named after the file alone unless the spec picks one of several: the same name for
        # every spelling of the spec, in every process (a pickled space is loaded by `stable`)
        by_file = attr in (*DEFAULT_NAMES, *GENERIC_BUILD_NAMES) or attr == _default_attr(module)
        space = as_space(obj, name=stem if by_file else f"{stem}.{attr}", where=f"{where}:{attr}")
        _remember(space, stable)
        _cache[spec] = space
        return space


def as_space(obj: Any, *, name: str | None = None, where: str | None = None) -> SearchSpace:
    """``obj`` as a space: a SearchSpace as is, a SearchSpace subclass instantiated, a keras-tuner
    ``HyperModel`` (class or instance) or a ``build(hp)`` function as a :class:`BuildFnSpace`.

    Args:
        obj: what a spec or an entry point names (or what a notebook passes).
        name: the name of a space made from a build function or hypermodel (see
            :class:`BuildFnSpace`); a ``SearchSpace`` keeps its own.
        where: ``file:NAME`` for messages.

    Raises:
        SpaceError: ``obj`` is none of these, or instantiating it fails.
    """
    where = where or repr(obj)
    if isinstance(obj, SearchSpace):
        _check_named(obj, where)
        return obj
    if inspect.isclass(obj) and issubclass(obj, SearchSpace):
        if inspect.isabstract(obj):
            missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
            raise SpaceError(f"{where}: {obj.__name__} is abstract (it lacks {missing})")
        space = _instantiate(obj, where)
        _check_named(space, where)
        return space
    if inspect.isclass(obj) and _is_hypermodel_class(obj):
        obj = _instantiate(obj, where)
    if (
        is_hypermodel(obj)
        or inspect.isfunction(obj)
        or inspect.ismethod(obj)
        or (callable(obj) and not inspect.isclass(obj))
    ):
        return BuildFnSpace(obj, name=name)
    raise SpaceError(
        f"{where} is a {type(obj).__name__}, not a Space, a keras_tuner.HyperModel or a build(hp) function"
    )


# --- internals ------------------------------------------------------------------------------


def _split(spec: str) -> tuple[str, str | None]:
    """``(target, NAME or None)``; a Windows drive's colon is not a NAME separator."""
    target, sep, name = spec.rpartition(":")
    if sep and name.isidentifier() and not (len(target) == 1 and target.isalpha()):
        return target, name
    return spec, None


def _looks_like_spec(name: str) -> bool:
    return (
        name.endswith(".py")
        or ".py:" in name
        or "/" in name
        or "\\" in name
        or "." in name
        or ":" in name
    )


def _module_name(path: Path) -> str:
    """A module name for a user's file, the same in every process (derived from its path)."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", path.stem)
    return f"_keras_hpsearch_user_{stem}_{digest}"


def _import_file(path: Path) -> ModuleType:
    """Import the file at ``path`` (once per process), its folder importable as for a script."""
    name = _module_name(path)
    if name in sys.modules:
        return sys.modules[name]
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # its sibling modules import, as when it runs as a script
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SpaceError(f"{display_path(path)}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickle look the module up while it runs
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[name]
        if not isinstance(exc, Exception):
            raise
        raise _import_error(exc, path) from exc
    return module


def _import_module(target: str) -> ModuleType:
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (target == exc.name or target.startswith(exc.name + ".")):
            raise SpaceError(
                f"no module {target!r} to load a space from ({one_line(exc)})"
            ) from exc
        raise _import_error(exc, None) from exc
    except Exception as exc:
        raise _import_error(exc, None) from exc


def _import_error(exc: Exception, path: Path | None) -> SpaceError:
    where = user_location(exc, path, display_path(path) if path is not None else "?")
    return SpaceError(
        f"{where}: the space's module does not import: {type(exc).__name__}: {one_line(_message(exc))}"
    )


def _message(exc: Exception) -> str:
    return exc.msg if isinstance(exc, SyntaxError) and exc.msg else str(exc)


def _is_hypermodel_class(obj: type) -> bool:
    kt = sys.modules.get("keras_tuner")
    return kt is not None and issubclass(obj, kt.HyperModel)


def _candidates(module: ModuleType) -> list[tuple[str, Any]]:
    """What the module offers as a space, in the order of preference: SearchSpace instances,
    SearchSpace subclasses, HyperModel instances, HyperModel subclasses, then ``build*`` functions, each
    defined in the module itself (not imported into it)."""
    kinds: list[list[tuple[str, Any]]] = [[], [], [], [], []]
    for attr, obj in vars(module).items():
        if attr.startswith("_"):
            continue
        if isinstance(obj, SearchSpace):
            kinds[0].append((attr, obj))
        elif inspect.isclass(obj) and obj.__module__ == module.__name__:
            if issubclass(obj, SearchSpace) and not inspect.isabstract(obj):
                kinds[1].append((attr, obj))
            elif _is_hypermodel_class(obj):
                kinds[3].append((attr, obj))
        elif is_hypermodel(obj):
            kinds[2].append((attr, obj))
        elif (
            inspect.isfunction(obj)
            and obj.__module__ == module.__name__
            and attr.startswith("build")
        ):
            kinds[4].append((attr, obj))
    return next((kind for kind in kinds if kind), [])


def _default_attr(module: ModuleType) -> str | None:
    """What a spec without ``NAME`` picks in ``module`` (None: nothing, or several)."""
    for default in DEFAULT_NAMES:
        if hasattr(module, default):
            return default
    found = _candidates(module)
    return found[0][0] if len(found) == 1 else None


def _pick(module: ModuleType, name: str | None, where: str) -> tuple[str, Any]:
    """``(NAME, object)`` the spec names in ``module``."""
    if name is not None:
        if not hasattr(module, name):
            found = (
                ", ".join(attr for attr, _ in _candidates(module))
                or "no space, hypermodel or build function"
            )
            raise SpaceError(f"{where}: has no {name!r} (it defines: {found})")
        return name, getattr(module, name)
    for default in DEFAULT_NAMES:
        if hasattr(module, default):
            return default, getattr(module, default)
    found = _candidates(module)
    if len(found) == 1:
        return found[0]
    if not found:
        raise SpaceError(
            f"{where}: defines no SPACE, no build(hp) function, no Space subclass and no "
            "keras_tuner.HyperModel; name one as FILE.py:NAME"
        )
    names = ", ".join(attr for attr, _ in found)
    raise SpaceError(f"{where}: defines several spaces ({names}); name one as {where}:NAME")


def _instantiate(cls: type, where: str) -> Any:
    try:
        return cls()
    except Exception as exc:
        file = inspect.getsourcefile(cls)
        at = user_location(exc, file, where)
        raise SpaceError(
            f"{at}: {cls.__name__}() raised {type(exc).__name__}: {one_line(exc)}"
        ) from exc


def _check_named(space: SearchSpace, where: str) -> None:
    name = getattr(space, "name", None)
    if not isinstance(name, str) or not name:
        raise SpaceError(
            f"{where}: {type(space).__name__} has no name (set the class attribute `name`)"
        )


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    """The installed packages' spaces by name (read anew each call: a test may install one)."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _load_entry_point(name: str, entry: importlib.metadata.EntryPoint) -> SearchSpace:
    where = f"entry point {name} = {entry.value}"
    try:
        obj = entry.load()
    except Exception as exc:
        module = sys.modules.get(entry.module)
        file = getattr(module, "__file__", None)
        at = user_location(exc, file, where)
        raise SpaceError(
            f"{at}: the space of {where} does not load: {type(exc).__name__}: {one_line(_message(exc))}"
        ) from exc
    space = as_space(obj, name=name, where=where)
    if space.name != name:
        _log.warning("%s names a space called %r; --study %s finds it", where, space.name, name)
    _remember(space, name)
    return space


def _remember(space: SearchSpace, spec: str) -> None:
    """Cache ``space`` under its stable ``spec``, which it now reports and pickles as."""
    space._found_as(spec)
    _cache[spec] = space
