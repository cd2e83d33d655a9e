"""Read the tensors of a TorchScript archive without running or unpickling its code.

A TorchScript file (``torch.jit.save``) is a zip: ``<name>/data.pkl`` pickles the module
tree (objects of classes named ``__torch__.*`` whose attributes hold tensors, ints,
lists), the tensors' bytes are ``<name>/data/<key>``, and ``<name>/code/`` holds the
TorchScript source. ``torch.jit.load`` compiles that code; ``torch.load`` would
unpickle arbitrary globals. Here the pickle is read by an unpickler that knows a few
names (tensor rebuild, storage types, OrderedDict, TorchScript's typed lists) and turns every ``__torch__`` object
into a plain attribute holder, so a file someone hands us can give up its tensors and
nothing else: no code is compiled, imported or run.

    tensors = read_script_tensors(Path("default_1.pt"))   # {"net.layers.conv.weight": Tensor, ...}

The names are the module paths of the tensor attributes, as ``module.state_dict()``
would name them. Only little-endian archives are read (every archive torch writes on
x86 and ARM).
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import torch

# Storage class names in archives -> dtype (the types ``torch.jit.save`` writes).
_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


# TorchScript's typed containers (int lists of a conv's stride, ...): plain values here.
_JIT_LIST_BUILDERS = {
    "build_intlist": list, "build_doublelist": list, "build_boollist": list, "build_tensorlist": list,
    "restore_type_tag": lambda value, _tag: value,
}


class ScriptArchiveError(ValueError):
    """The file is not a TorchScript archive this reader understands."""


class _ScriptObject:
    """Stands in for a ``__torch__.*`` object: keeps the pickled attributes, runs nothing."""

    def __init__(self, *args) -> None:
        self.attrs: dict = {}

    def __setstate__(self, state) -> None:
        self.attrs = dict(state) if isinstance(state, dict) else {}


def _rebuild_tensor(storage: torch.Tensor, offset: int, size, stride, *_ignored) -> torch.Tensor:
    # *_ignored: requires_grad, backward hooks, metadata — irrelevant to weights we only read.
    return storage.as_strided(tuple(size), tuple(stride), int(offset))


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix = archive, prefix
        self.storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if module == "collections" and name == "OrderedDict":
            return dict
        if module == "torch.jit._pickle" and name in _JIT_LIST_BUILDERS:
            return _JIT_LIST_BUILDERS[name]
        if module == "__torch__" or module.startswith("__torch__."):
            return type(name, (_ScriptObject,), {})
        raise ScriptArchiveError(f"refusing to load {module}.{name} (only tensors are read from TorchScript files)")

    def persistent_load(self, pid):
        # ("storage", dtype, key, location, numel): the bytes are the zip entry data/<key>.
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)):
            raise ScriptArchiveError(f"unexpected persistent id {pid!r:.80}")
        _, dtype, key, _, numel = pid
        if key not in self.storages:
            raw = self.archive.read(f"{self.prefix}/data/{key}")
            n_bytes = int(numel) * torch.empty((), dtype=dtype).element_size()
            if len(raw) < n_bytes:
                raise ScriptArchiveError(f"storage {key}: {len(raw)} bytes, expected {n_bytes}")
            self.storages[key] = torch.frombuffer(bytearray(raw[:n_bytes]), dtype=dtype) if n_bytes else \
                torch.empty(0, dtype=dtype)
        return self.storages[key]


def _collect(obj, prefix: str, out: dict[str, torch.Tensor]) -> None:
    for name, value in obj.attrs.items():
        if isinstance(value, torch.Tensor):
            out[prefix + name] = value
        elif isinstance(value, _ScriptObject):
            _collect(value, f"{prefix}{name}.", out)


def is_script_archive(path: Path) -> bool:
    """True when path is a zip holding ``<name>/data.pkl`` and ``<name>/code/`` (a TorchScript file)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.count("/") == 1 and n.endswith("/data.pkl") for n in names) and any("/code/" in n for n in names)


def read_script_tensors(path: Path) -> dict[str, torch.Tensor]:
    """{dotted attribute path: tensor (a copy, CPU)} of every tensor in a TorchScript archive.

    Raises ScriptArchiveError when the file is not such an archive or names anything
    but tensors, storages and TorchScript objects.
    """
    try:
        with zipfile.ZipFile(path) as z:
            pkls = [n for n in z.namelist() if n.count("/") == 1 and n.endswith("/data.pkl")]
            if len(pkls) != 1:
                raise ScriptArchiveError(f"{path}: not a TorchScript archive (no single <name>/data.pkl)")
            prefix = pkls[0].split("/")[0]
            root = _Unpickler(z.read(pkls[0]), z, prefix).load()
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, KeyError) as e:
        raise ScriptArchiveError(f"{path}: cannot read as a TorchScript archive ({type(e).__name__}: {e})") from None
    if not isinstance(root, _ScriptObject):
        raise ScriptArchiveError(f"{path}: the archive's root is not a module")
    out: dict[str, torch.Tensor] = {}
    _collect(root, "", out)
    # Own the memory: views into shared storages would keep every storage alive.
    return {k: v.clone() for k, v in out.items()}
