"""Serve predictions from a ``model.tar.gz``: the compiled (tl2cgen) or the plain XGBoost kind.

An artefact from the offline Neo (``compiled.json`` plus a shared library) is served by calling the
library's dense-row entry point, and from the batch size its manifest names on by the XGBoost model
it bundles; a training artefact (``xgboost-model``) through ``xgboost.Booster``. Both return what
XGBoost's own ``predict`` returns for the model's objective, so an endpoint answers the same
whichever artefact it was given.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import json
import tarfile
from abc import ABC, abstractmethod
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from localcloud.sagemaker_engine.xgboost_container import MODEL_FILE_NAME, describe_xgboost_error, parse_csv_matrix

FloatArray = npt.NDArray[np.floating[Any]]
ModelKind = Literal["compiled", "xgboost", "torchscript"]

MANIFEST_FILE_NAME = "compiled.json"
# The one post-processing step treelite cannot express: multi:softmax predicts the class index.
POSTPROCESS_ARGMAX = "argmax"
POSTPROCESS_NONE = "none"
# The C function the offline compiler adds to every library: (const float* rows, size_t n, out*).
ROWS_ENTRY_POINT = "conveyor_predict_rows"
# Manifest key: the batch size from which the bundled XGBoost model serves; null for never.
XGBOOST_FROM_ROWS = "xgboost_from_rows"


class LoadedModel(ABC):
    """A model ready to predict on 2-D float rows (NaN = missing), whatever its artefact kind."""

    kind: ModelKind

    def __init__(self, num_features: int, note: str | None = None) -> None:
        self.num_features = num_features
        # Why this kind was chosen when it is not the obvious one (e.g. a compiled library that would not load).
        self.note = note

    def predict(self, rows: npt.NDArray[Any]) -> FloatArray:
        """Predictions in XGBoost's shape: (n,) for one output, (n, k) for class probabilities."""
        return self._predict(self._validated(rows))

    def _validated(self, rows: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
        matrix = np.asarray(rows, dtype=np.float32)
        if matrix.ndim != 2:
            raise ValueError(f"rows must be a 2-D array; got {matrix.ndim} dimension(s)")
        if matrix.shape[1] != self.num_features:
            raise ValueError(f"rows have {matrix.shape[1]} features; the model expects {self.num_features}")
        return np.ascontiguousarray(matrix)

    @abstractmethod
    def _predict(self, matrix: npt.NDArray[np.float32]) -> FloatArray: ...


class XGBoostModel(LoadedModel):
    """The training artefact as is; XGBoost's in-place prediction is thread-safe on CPU."""

    kind: ModelKind = "xgboost"

    def __init__(self, model_bytes: bytes, note: str | None = None) -> None:
        import xgboost

        self._booster = xgboost.Booster()
        try:
            # From memory: a file without a suffix makes XGBoost guess the format and warn about it.
            self._booster.load_model(bytearray(model_bytes))
        except xgboost.core.XGBoostError as error:
            reason = describe_xgboost_error(error)
            raise ValueError(f"{MODEL_FILE_NAME} is not a loadable XGBoost model: {reason}") from None
        # One thread, like the compiled predictor: on a few shared cores OpenMP's thread hand-off
        # costs milliseconds per request, far more than the trees themselves.
        self._booster.set_param({"nthread": 1})
        super().__init__(int(self._booster.num_features()), note)

    @property
    def booster(self) -> Any:
        """The underlying ``xgboost.Booster``."""
        return self._booster

    def _predict(self, matrix: npt.NDArray[np.float32]) -> FloatArray:
        predictions: FloatArray = self._booster.inplace_predict(matrix, missing=np.nan)
        return predictions


class CompiledModel(LoadedModel):
    """A library from the offline Neo, called through its own dense-row entry point.

    The entry point only reads constant tables and its own stack, so concurrent requests need no
    lock. Where the manifest says the bundled XGBoost model was measured faster from some batch size
    on (tl2cgen's if-else trees mispredict branches on every row, XGBoost's blocked traversal does
    not), batches that large are served by XGBoost, as a runtime picks its kernel by batch size.
    """

    kind: ModelKind = "compiled"

    def __init__(self, libpath: Path, manifest: dict[str, Any], xgboost_model: bytes | None = None) -> None:
        self.library_path = libpath
        self._library = ctypes.CDLL(str(libpath))
        entry_point = str(manifest.get("entry_point", ROWS_ENTRY_POINT))
        try:
            self._predict_rows = getattr(self._library, entry_point)
        except AttributeError:
            raise ValueError(f"the compiled library has no {entry_point} entry point") from None
        self._predict_rows.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        self._predict_rows.restype = None
        self._postprocess = str(manifest.get("postprocess", POSTPROCESS_NONE))
        self.num_target = int(self._library.get_num_target())
        classes = np.zeros(self.num_target, dtype=np.int32)
        self._library.get_num_class(classes.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)))
        self.num_class = int(classes.max())
        self._library.get_leaf_output_type.restype = ctypes.c_char_p
        self.leaf_output_type = self._library.get_leaf_output_type().decode()
        if self.leaf_output_type not in ("float32", "float64"):
            raise ValueError(f"the compiled library outputs {self.leaf_output_type}, not float32/float64")
        threshold = manifest.get(XGBOOST_FROM_ROWS)
        self.xgboost_from_rows: int | None = None
        self._xgboost: XGBoostModel | None = None
        note = None
        if threshold is not None and xgboost_model is not None:
            self.xgboost_from_rows = int(threshold)
            self._xgboost = XGBoostModel(xgboost_model)
            note = f"batches of {self.xgboost_from_rows}+ rows go to the bundled XGBoost model, faster there"
        super().__init__(int(self._library.get_num_feature()), note)

    def describe_output(self) -> dict[str, Any]:
        """What the library itself reports about its output, for the artefact's manifest."""
        return {"num_target": self.num_target, "num_class": self.num_class, "leaf_output_type": self.leaf_output_type}

    def serving_path(self, batch_rows: int) -> ModelKind:
        """Which code answers a batch of this many rows."""
        if self.xgboost_from_rows is not None and batch_rows >= self.xgboost_from_rows:
            return "xgboost"
        return "compiled"

    def library_predict(self, rows: npt.NDArray[Any]) -> FloatArray:
        """The library's answer whatever the batch size: for the self-check and for benchmarks."""
        return self._library_predict(self._validated(rows))

    def _predict(self, matrix: npt.NDArray[np.float32]) -> FloatArray:
        if self._xgboost is not None and self.serving_path(len(matrix)) == "xgboost":
            return self._xgboost._predict(matrix)
        return self._library_predict(matrix)

    def _library_predict(self, matrix: npt.NDArray[np.float32]) -> FloatArray:
        dtype = np.float32 if self.leaf_output_type == "float32" else np.float64
        raw = np.empty((len(matrix), self.num_target, self.num_class), dtype=dtype)
        self._predict_rows(matrix.ctypes.data, len(matrix), raw.ctypes.data)
        return shape_compiled_output(raw, self._postprocess)


def shape_compiled_output(raw: FloatArray, postprocess: str) -> FloatArray:
    """Turn tl2cgen's (rows, targets, classes) output into the shape XGBoost's predict returns."""
    rows, targets, classes = raw.shape
    output = raw
    if targets == 1 or classes == 1:
        output = raw.reshape(rows, targets * classes)
        if output.shape[1] == 1:
            output = output[:, 0]
    if postprocess == POSTPROCESS_ARGMAX:
        output = np.argmax(output, axis=-1).astype(np.float32)
    return output


def read_tar_members(model_tar_gz: bytes) -> dict[str, bytes]:
    """The archive's regular files by normalised name, read in memory so no path can escape a folder."""
    try:
        with tarfile.open(fileobj=io.BytesIO(model_tar_gz), mode="r:*") as archive:
            files: dict[str, bytes] = {}
            for member in archive.getmembers():
                extracted = archive.extractfile(member) if member.isfile() else None
                if extracted is not None:
                    files[str(PurePosixPath(member.name))] = extracted.read()
            return files
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ValueError(f"the model artefact is not a readable tar.gz: {error}") from None


def load_model(model_tar_gz: bytes, work_dir: Path) -> LoadedModel:
    """Load whichever artefact the tarball holds; a compiled one that will not load falls back to XGBoost."""
    files = read_tar_members(model_tar_gz)
    if MANIFEST_FILE_NAME in files:
        try:
            return _load_compiled(files, work_dir)
        except Exception as error:
            if MODEL_FILE_NAME not in files:
                raise ValueError(f"the compiled model could not be loaded: {error}") from error
            return XGBoostModel(files[MODEL_FILE_NAME], note=f"compiled library unusable, served XGBoost: {error}")
    if MODEL_FILE_NAME in files:
        return XGBoostModel(files[MODEL_FILE_NAME])
    found = sorted(files) or "nothing"
    raise ValueError(f"the model artefact holds neither {MANIFEST_FILE_NAME} nor {MODEL_FILE_NAME}; found {found}")


def _load_compiled(files: dict[str, bytes], work_dir: Path) -> CompiledModel:
    manifest: dict[str, Any] = json.loads(files[MANIFEST_FILE_NAME])
    library_name = str(manifest["library"])
    library = files.get(library_name)
    if library is None:
        raise ValueError(f"{MANIFEST_FILE_NAME} names {library_name} but the archive does not hold it")
    # dlopen() hands back an already-loaded library for a path it has seen, even if the file
    # changed since; naming the file after its content keeps two models from sharing code.
    libpath = work_dir / f"{hashlib.sha256(library).hexdigest()[:24]}-{PurePosixPath(library_name).name}"
    work_dir.mkdir(parents=True, exist_ok=True)
    if not libpath.exists():
        partial = libpath.with_suffix(".partial")
        partial.write_bytes(library)
        partial.replace(libpath)
    return CompiledModel(libpath, manifest, files.get(MODEL_FILE_NAME))


def parse_csv_payload(body: bytes, expected_features: int | None) -> npt.NDArray[np.float32]:
    """Rows of a ``text/csv`` InvokeEndpoint body: features only, one row a line, empty/nan = missing."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"the text/csv payload is not UTF-8: {error}") from None
    if not text.strip():
        raise ValueError("the text/csv payload is empty")
    rows = parse_csv_matrix(text, "payload")
    if expected_features is not None and rows.shape[1] != expected_features:
        hint = " (requests carry features only, no label column)" if rows.shape[1] == expected_features + 1 else ""
        raise ValueError(f"payload rows have {rows.shape[1]} features; the model expects {expected_features}{hint}")
    return rows


def format_csv_predictions(predictions: npt.NDArray[Any]) -> bytes:
    """One row a line like the built-in container; a row of class probabilities is comma-separated."""
    array = np.asarray(predictions)
    # str() of a numpy scalar is its shortest round-tripping form: 0.98765433, not 0.9876543283462524.
    if array.ndim == 1:
        lines = [str(value) for value in array]
    elif array.ndim == 2:
        lines = [",".join(str(value) for value in row) for row in array]
    else:
        raise ValueError(f"predictions must be 1-D or 2-D; got {array.ndim} dimensions")
    return "\n".join(lines).encode("utf-8")
