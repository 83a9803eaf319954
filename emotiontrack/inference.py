"""The pipeline's models at run time, without TensorFlow: ONNX files run by onnxruntime.

Why: a features or predict job is short, and importing TensorFlow and Keras costs seconds of CPU
and hundreds of MB per job, more than running the models over a whole session. The models are
exported once, after training (:mod:`emotiontrack.export`, Keras 3's ``model.export(...,
format="onnx")``), and every later job loads only the ``.onnx`` file.

- :class:`OnnxModel`: the per-frame CNN. ``OnnxModel(path, threads).predict(crops)`` with crops
  (N, S, S) gray 0-255 returns (probabilities (N, C), features (N, D)) float32.
- :class:`OnnxSequenceModel`: a sequence model. ``.predict(x)`` with x (T, F) frame inputs
  (all-zero rows masked, :func:`emotiontrack.sequence.frame_inputs`), and for the refine model
  also ``cnn_log_probabilities`` (T, C) (:func:`emotiontrack.sequence.cnn_log_probabilities`),
  returns (T, C) probabilities; ``.predict_batch`` runs padded sessions (N, T, ...) at once.

Both equal their Keras model within 1e-4 (checked at export, tested per architecture).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import UserInputError

EXPORT_HINT = "export the Keras model with: python -m emotiontrack.export {kind} MODEL.keras {path}"


class _Session:
    """An onnxruntime session over ``path`` on ``threads`` CPU threads, with the file's
    metadata (:mod:`emotiontrack.export`) in ``.metadata``."""

    kind = ""
    inputs: tuple[str, ...] = ()  # required (none named: the model's single input)
    optional_inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()

    def __init__(self, path: str | Path, threads: int = 1):
        import onnxruntime as ort

        self.path = Path(path)
        if self.path.suffix.lower() != ".onnx":
            raise UserInputError(
                f"{self.path}: not an ONNX model file (.onnx); "
                + EXPORT_HINT.format(kind=self.kind, path=self.path.with_suffix(".onnx"))
            )
        if not self.path.is_file():
            raise UserInputError(f"{self.path}: model file not found")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        # no memory pattern: onnxruntime keeps one per input shape seen, and the batches here vary
        # (a block's last CNN batch, a sequence's length), so the job's memory grew with the
        # video (mini-Xception features job: 146 MB at 1 minute, 161 MB at 10; without: 126 and
        # 133 MB, the CNN ~0.05 ms a face slower)
        opts.enable_mem_pattern = False
        try:
            self._session = ort.InferenceSession(
                str(self.path), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own exception types for a bad file
            raise UserInputError(f"{self.path}: cannot load as an ONNX model ({e})") from None
        self.input_shapes = {i.name: tuple(i.shape) for i in self._session.get_inputs()}
        expected = self.inputs or tuple(self.input_shapes)[:1]
        allowed = {*expected, *self.optional_inputs}
        if not allowed >= set(self.input_shapes) or not set(expected) <= set(self.input_shapes):
            raise UserInputError(
                f"{self.path}: ONNX model has inputs {list(self.input_shapes)}, expected "
                f"{list(expected)}; " + EXPORT_HINT.format(kind=self.kind, path=self.path)
            )
        self.input_name = expected[0]
        self.input_shape = self.input_shapes[self.input_name]
        names = [o.name for o in self._session.get_outputs()]
        missing = [n for n in self.outputs if n not in names]
        if missing:
            raise UserInputError(
                f"{self.path}: ONNX model has outputs {names}, expected {list(self.outputs)}; "
                + EXPORT_HINT.format(kind=self.kind, path=self.path)
            )
        self._shapes = {o.name: tuple(o.shape) for o in self._session.get_outputs()}
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self.engine = f"onnxruntime {ort.__version__}"

    def _run(self, x: np.ndarray | dict[str, np.ndarray]) -> list[np.ndarray]:
        feed = x if isinstance(x, dict) else {self.input_name: x}
        return self._session.run(list(self.outputs), feed)


class OnnxModel(_Session):
    """The per-frame CNN (``results/models/cnn.onnx``): input ``face`` (N, S, S, 1) float32 gray
    0-255, outputs ``probabilities`` (N, C) and ``features`` (N, D). ``input_size`` S,
    ``n_classes`` C, ``feature_dim`` D."""

    kind = "cnn"
    outputs = ("probabilities", "features")

    def __init__(self, path: str | Path, threads: int = 1):
        super().__init__(path, threads)
        shape = self.input_shape
        if (
            len(shape) != 4
            or shape[1] != shape[2]
            or shape[3] != 1
            or not isinstance(shape[1], int)
        ):
            raise UserInputError(
                f"{self.path}: expected a CNN input (N, S, S, 1), the model has {shape}"
            )
        self.input_size = int(shape[1])
        self.n_classes = int(self._shapes["probabilities"][-1])
        self.feature_dim = int(self._shapes["features"][-1])

    def predict(self, crops: np.ndarray, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """crops (N, S, S) or (N, S, S, 1), gray 0-255, any numeric dtype -> (probabilities
        (N, C), features (N, D)) float32, ``batch_size`` crops at a time (bounds memory)."""
        crops = np.asarray(crops)
        if crops.ndim == 4 and crops.shape[-1] == 1:
            crops = crops[..., 0]
        s = self.input_size
        if crops.ndim != 3 or crops.shape[1:] != (s, s):
            raise ValueError(f"{self.path}: expected crops (N, {s}, {s}), got {crops.shape}")
        probs = np.empty((len(crops), self.n_classes), np.float32)
        feats = np.empty((len(crops), self.feature_dim), np.float32)
        for i in range(0, len(crops), batch_size):
            x = crops[i : i + batch_size, :, :, None].astype(np.float32)
            probs[i : i + len(x)], feats[i : i + len(x)] = self._run(x)
        return probs, feats


class OnnxSequenceModel(_Session):
    """A sequence model (``results/models/sequence/{model}.onnx``): input ``frames`` (N, T, F)
    float32 with all-zero rows masked, for the refine model also ``cnn_log_probabilities``
    (N, T, C) (``refines`` is then True); output ``probabilities`` (N, T, C). Batch and time
    axes are dynamic."""

    kind = "sequence"
    inputs = ("frames",)
    optional_inputs = ("cnn_log_probabilities",)
    outputs = ("probabilities",)

    def __init__(self, path: str | Path, threads: int = 1):
        super().__init__(path, threads)
        if len(self.input_shape) != 3:
            raise UserInputError(
                f"{self.path}: expected a sequence input (N, T, F), the model has "
                f"{self.input_shape}"
            )
        self.n_inputs = self.input_shape[2]
        self.n_classes = int(self._shapes["probabilities"][-1])
        self.refines = "cnn_log_probabilities" in self.input_shapes

    def predict(self, x: np.ndarray, cnn_log_probabilities: np.ndarray | None = None) -> np.ndarray:
        """x (T, F) frame inputs of one session [, (T, C) CNN log probabilities, required by a
        refine model] -> (T, C) float32 probabilities."""
        logp = None if cnn_log_probabilities is None else np.asarray(cnn_log_probabilities)[None]
        return self.predict_batch(np.asarray(x)[None], logp)[0]

    def predict_batch(
        self, x: np.ndarray, cnn_log_probabilities: np.ndarray | None = None
    ) -> np.ndarray:
        """x (N, T, F) frame inputs (sessions padded with all-zero rows) [, (N, T, C) CNN log
        probabilities] -> (N, T, C) float32 probabilities."""
        x = np.asarray(x, np.float32)
        if x.ndim != 3 or (isinstance(self.n_inputs, int) and x.shape[2] != self.n_inputs):
            raise ValueError(
                f"{self.path}: expected frame inputs (T, {self.n_inputs}), got {x.shape[1:]}"
            )
        feed = {"frames": x}
        if self.refines:
            if cnn_log_probabilities is None:
                raise ValueError(
                    f"{self.path}: a refine model needs the CNN's log probabilities as well"
                )
            logp = np.asarray(cnn_log_probabilities, np.float32)
            if logp.shape != (*x.shape[:2], self.n_classes):
                raise ValueError(
                    f"{self.path}: expected CNN log probabilities {(*x.shape[:2], self.n_classes)}"
                    f", got {logp.shape}"
                )
            feed["cnn_log_probabilities"] = logp
        return self._run(feed)[0]
