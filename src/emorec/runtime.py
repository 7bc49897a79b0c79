"""ONNX Runtime sessions bound to their model card. Never imports torch."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emorec.cards import ModelCard, card_path_for
from emorec.errors import ModelError
from emorec.paths import PACKAGE_MODELS


def packaged_model(name: str) -> Path:
    """Path of a model shipped inside the package, e.g. ``packaged_model("face")``."""
    path = PACKAGE_MODELS / f"{name}.onnx"
    if not path.is_file():
        raise ModelError(
            f"the packaged model {path.name} is missing from {PACKAGE_MODELS}: reinstall emorec"
        )
    return path


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass
class OnnxModel:
    """An ONNX Runtime session plus its card. ``run`` returns probabilities."""

    path: Path
    card: ModelCard
    session: object
    input_name: str
    outputs_probabilities: bool

    @classmethod
    def load(cls, path: str | Path, threads: int | None = None, spinning: bool = True) -> OnnxModel:
        """Open ``path`` with its card and check they agree.

        ``spinning=False`` makes ONNX Runtime's worker threads sleep between calls
        instead of spin-waiting: right when inference alternates with other CPU
        work on the same cores (face detection, audio decoding, a web server).
        """
        import onnxruntime as ort  # imported here to keep `import emorec` fast

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"model file {path} not found")
        card = ModelCard.load(card_path_for(path))
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # small CNNs/RNNs have no parallel branches
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load {path} with ONNX Runtime: {exc}") from None
        n_out = session.get_outputs()[0].shape[-1]
        if isinstance(n_out, int) and n_out != len(card.labels):
            raise ModelError(
                f"{path} outputs {n_out} classes but its card lists {len(card.labels)} labels"
            )
        return cls(
            path=path,
            card=card,
            session=session,
            input_name=session.get_inputs()[0].name,
            outputs_probabilities=bool(card.input.get("outputs_probabilities", False)),
        )

    @property
    def labels(self) -> list[str]:
        return list(self.card.labels)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (N, n_labels), for a preprocessed batch."""
        out = self.session.run(None, {self.input_name: batch})[0]
        return out if self.outputs_probabilities else softmax(out)
