"""ONNX export of the library's models and running the file with onnxruntime.

The export goes through ``torch.export`` (:func:`~afno.export.export_program`)
and the dynamo-based ONNX exporter (``torch.onnx.export(..., dynamo=True)``),
which translates the FFTs into ONNX ``DFT`` operators (opset 17 or later) and
complex tensors into their (real, imaginary) representation. It needs the
``export`` extra: ``pip install 'abae-afno[export]'`` (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from afno.export.dynamic_shapes import DynamicShapes, check_example
from afno.export.program import export_program

EXPORT_EXTRA_HINT = "install the `export` extra: pip install 'abae-afno[export]'"


def _require(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ImportError(
            f"ONNX export and inference need the {module!r} package; {EXPORT_EXTRA_HINT}"
        )


def export_onnx(
    model: nn.Module,
    example: Tensor,
    path: str | os.PathLike[str],
    *,
    dynamic: bool = True,
    dynamic_shapes: DynamicShapes | None = None,
    output_name: str = "output",
) -> Path:
    """Export ``model`` to an ONNX file, FFTs as ONNX ``DFT`` operators.

    Args:
        model: the model, in the mode it should be exported in (``model.eval()``).
        example: one example input, as for :func:`~afno.export.export_program`.
        path: where to write the ``.onnx`` file (weights inside it).
        dynamic: dynamic batch and, where the model allows it, spatial axes
            (see :func:`~afno.export.dynamic_shapes_for`); they stay symbolic
            in the ONNX graph.
        dynamic_shapes: your own ``dynamic_shapes`` for ``torch.export``.
        output_name: the name of the graph's output.

    Returns:
        The path written.

    Raises:
        ImportError: without ``onnx`` and ``onnxscript`` (the ``export`` extra).

    Example:
        >>> import torch, afno
        >>> model = afno.create_model("afnonet_tiny", img_size=16, patch_size=4,
        ...                           in_chans=1, num_classes=3, seed=0).eval()
        >>> path = afno.export_onnx(model, torch.zeros(2, 1, 16, 16), "tiny.onnx")  # doctest: +SKIP
        >>> afno.OnnxModel(path)(torch.zeros(3, 1, 24, 32)).shape                    # doctest: +SKIP
        (3, 3)
    """
    _require("onnx")
    _require("onnxscript")
    example = check_example(example)
    program = export_program(model, example, dynamic=dynamic, dynamic_shapes=dynamic_shapes)
    onnx_program = torch.onnx.export(
        program, dynamo=True, verbose=False, optimize=True, output_names=[output_name]
    )
    if onnx_program is None:  # only the legacy TorchScript exporter returns None
        raise RuntimeError("torch.onnx.export(..., dynamo=True) returned no ONNX program")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx_program.save(str(target))
    return target


class OnnxModel:
    """An ONNX file run by onnxruntime on the CPU, called like the torch model.

    Args:
        path: the ``.onnx`` file, e.g. from :func:`export_onnx`.
        threads: intra-op threads of the session (default: onnxruntime's choice).

    Raises:
        ImportError: without ``onnxruntime`` (the ``export`` extra).
    """

    def __init__(self, path: str | os.PathLike[str], *, threads: int | None = None) -> None:
        _require("onnxruntime")
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.path = Path(path)
        self.session: Any = onnxruntime.InferenceSession(
            str(self.path), options, providers=["CPUExecutionProvider"]
        )
        self.input_name: str = self.session.get_inputs()[0].name

    def __call__(self, inputs: Tensor | npt.ArrayLike) -> npt.NDArray[np.float32]:
        """The model's output for one input (a tensor or array of the exported dtype, float32)."""
        array = inputs.detach().cpu().numpy() if isinstance(inputs, Tensor) else np.asarray(inputs)
        if array.dtype != np.float32:
            raise ValueError(
                f"the ONNX model takes float32 input (as exported); got {array.dtype}. "
                "Convert it first, e.g. images.float()."
            )
        outputs = self.session.run(None, {self.input_name: array})
        result: npt.NDArray[np.float32] = outputs[0]
        return result


def relative_difference(actual: npt.ArrayLike, expected: npt.ArrayLike) -> float:
    """``max |actual - expected| / max |expected|``: how far an exported output is from eager's."""
    actual_array = np.asarray(actual, dtype=np.float64)
    expected_array = np.asarray(expected, dtype=np.float64)
    if actual_array.shape != expected_array.shape:
        raise ValueError(
            f"outputs differ in shape: {actual_array.shape} against {expected_array.shape}"
        )
    scale = float(np.max(np.abs(expected_array))) if expected_array.size else 0.0
    gap = float(np.max(np.abs(actual_array - expected_array))) if expected_array.size else 0.0
    return gap / scale if scale > 0 else gap
