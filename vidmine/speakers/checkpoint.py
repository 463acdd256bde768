"""Reading resemblyzer's ``pretrained.pt`` without torch.

The file is PyTorch's legacy (pre-1.6) serialization: a pickle of the magic number, one of
the format's version, one of the writer's system, the checkpoint itself (a dict whose
tensors point at storages by key), the list of storage keys, and then each storage's raw
little-endian values, its element count first. Only what a checkpoint of tensors holds is
accepted: any other class in the pickle is refused, so the file cannot run code.
"""

from __future__ import annotations

import collections
import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class CheckpointError(ValueError):
    """The file is not a legacy PyTorch checkpoint of tensors."""


class _Storage:
    def __init__(self, dtype: type) -> None:
        self.dtype = np.dtype(dtype)
        self.values: np.ndarray | None = None


class _TensorRef:
    """A tensor as the pickle describes it, made an array once its storage is read."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple) -> None:
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def array(self) -> np.ndarray:
        values = self.storage.values
        assert values is not None
        strides = [step * self.storage.dtype.itemsize for step in self.stride]
        view = np.lib.stride_tricks.as_strided(values[self.offset :], self.size, strides)
        return view.copy()


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple, *_: Any) -> Any:
    return _TensorRef(storage, offset, tuple(size), tuple(stride))


class _CheckpointUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        raise CheckpointError(f"{module}.{name} has no place in a checkpoint of tensors")

    def persistent_load(self, pid: Any) -> _Storage:
        kind, storage_type, key = pid[0], pid[1], pid[2]
        if kind != "storage" or storage_type not in _STORAGE_DTYPES:
            raise CheckpointError(f"unknown storage record {pid[:2]!r}")
        return self.storages.setdefault(key, _Storage(_STORAGE_DTYPES[storage_type]))


def _arrays(value: Any) -> Any:
    if isinstance(value, _TensorRef):
        return value.array()
    if isinstance(value, dict):
        return {key: _arrays(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_arrays(item) for item in value)
    return value


def read_legacy_checkpoint(path: Path) -> Any:
    """The checkpoint at ``path`` with every tensor as a numpy array."""
    storages: dict[str, _Storage] = {}
    with open(path, "rb") as file:

        def load() -> Any:  # every pickle in the file through the one that refuses code
            return _CheckpointUnpickler(file, storages).load()

        try:
            if load() != LEGACY_MAGIC:
                raise CheckpointError(f"{path} is not a legacy PyTorch checkpoint")
            load()  # the format's version
            load()  # the writer's byte order and type sizes
            checkpoint = load()
            for key in load():
                storage = storages[key]
                count = int(np.frombuffer(file.read(8), "<i8")[0])
                data = file.read(count * storage.dtype.itemsize)
                if len(data) != count * storage.dtype.itemsize:
                    raise CheckpointError(
                        f"{path} ends inside storage {key}: the file is cut short"
                    )
                storage.values = np.frombuffer(data, storage.dtype.newbyteorder("<"))
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError) as err:
            if isinstance(err, CheckpointError):
                raise
            raise CheckpointError(f"{path} is not a readable checkpoint: {err}") from err
    return _arrays(checkpoint)
