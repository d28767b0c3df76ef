"""Deployment of AFNO models: ``torch.export`` programs and ONNX files.

- :func:`export_program`: ``torch.export.export`` with a dynamic batch axis
  and, where the model allows it, dynamic image or grid sizes
  (:func:`dynamic_shapes_for`); the program runs forward and backward;
- :func:`export_onnx`: the same program as an ONNX file (FFTs as ``DFT``
  operators), through the dynamo-based ONNX exporter;
- :class:`OnnxModel`: run that file with onnxruntime;
  :func:`relative_difference` compares its output with eager's.

ONNX export and :class:`OnnxModel` need the ``export`` extra
(``pip install 'abae-afno[export]'``). ``torch.jit.script`` is not supported
(the models use Python features TorchScript lacks); use these instead.
"""

from afno.export.dynamic_shapes import (
    SEGFORMER_SIDE_MULTIPLE,
    dynamic_shapes_for,
    spatial_axes_can_vary,
)
from afno.export.onnx_file import OnnxModel, export_onnx, relative_difference
from afno.export.program import export_program

__all__ = [
    "SEGFORMER_SIDE_MULTIPLE",
    "OnnxModel",
    "dynamic_shapes_for",
    "export_onnx",
    "export_program",
    "relative_difference",
    "spatial_axes_can_vary",
]
