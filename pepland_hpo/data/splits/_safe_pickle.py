"""Reading a pickle that may only hold plain containers and numpy arrays, executing nothing.

Partition files (hestia-good's ``save_precalculated``) are pickles, and a
pickle is a program: ``pickle.load`` calls whatever callable the file names
(``os.system`` included) while it loads. Such files are shared with
benchmarks, so they are read by an unpickler whose ``find_class`` admits only
the few callables needed to rebuild containers, bytes and numpy arrays and
scalars, each of which builds data and runs nothing else. Any other name stops
the load *before* it is called: :class:`~pepland_hpo.errors.UserInputError`
(exit code 2), naming the module, the name and the file.
"""

from __future__ import annotations

import io
import pickle
import warnings

from pepland_hpo.errors import UserInputError

# (module, name) pairs that build data and nothing else. numpy 1.x writes `numpy.core`,
# numpy 2 `numpy._core`; protocol 5 rebuilds contiguous arrays with `_frombuffer`, and
# protocol 2 writes bytes as `_codecs.encode(text, "latin1")`.
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {(m, n) for m in _NUMPY_MODULES for n in ("_reconstruct", "scalar")}
    | {(m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")}
    | {("numpy", "ndarray"), ("numpy", "dtype")}
    | {("builtins", n) for n in ("list", "dict", "tuple", "set", "frozenset", "bytes", "bytearray",
                                  "str", "int", "float", "complex", "bool")}
    | {("collections", "OrderedDict"), ("_codecs", "encode")}
)


class _PlainUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, where: str):
        super().__init__(io.BytesIO(data))
        self._where = where

    def find_class(self, module: str, name: str):
        if module == "__builtin__":  # protocol 2 names builtins as Python 2 did
            module = "builtins"
        if (module, name) not in ALLOWED:
            raise UserInputError(f"refusing to load {module}.{name} from {self._where}: only plain containers "
                                 "and numpy arrays are read")
        with warnings.catch_warnings():  # numpy 2 warns when a numpy 1.x pickle names numpy.core
            warnings.simplefilter("ignore", DeprecationWarning)
            return super().find_class(module, name)

    def persistent_load(self, pid):
        raise UserInputError(f"refusing to load a persistent reference from {self._where}: only plain "
                             "containers and numpy arrays are read")


def load_plain_pickle(data: bytes, where: str):
    """The object pickled in ``data``, built from containers and numpy arrays only (see the module)."""
    try:
        return _PlainUnpickler(data, where).load()
    except UserInputError:
        raise
    except Exception as exc:  # truncated, not a pickle, a reducer's arguments rejected...
        raise UserInputError(f"{where}: not a readable pickle ({type(exc).__name__}: {exc})") from None


def is_pickle(data: bytes) -> bool:
    """Protocol 2 and later begin with the PROTO opcode (``0x80``) and the protocol number."""
    return len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= pickle.HIGHEST_PROTOCOL


__all__ = ["ALLOWED", "is_pickle", "load_plain_pickle"]
