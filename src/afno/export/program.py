"""``torch.export`` of the library's models, with dynamic batch and image sizes."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.export import ExportedProgram

from afno.export.dynamic_shapes import (
    DynamicShapes,
    check_example,
    dynamic_shapes_for,
    traceable_example,
)


def export_program(
    model: nn.Module,
    example: Tensor,
    *,
    dynamic: bool = True,
    dynamic_shapes: DynamicShapes | None = None,
) -> ExportedProgram:
    """Export ``model`` with ``torch.export.export``, grad enabled or not.

    AFNO mixers inside take their traceable implementation (real arithmetic
    on (real, imaginary) pairs, FFTs as ``torch.fft`` operations; see
    :mod:`afno.mixers.spectral_path`), so the program holds only ATen
    operations with derivatives: ``program.module()`` runs forward and
    backward, and the program can be lowered further (AOTInductor, ONNX).

    Args:
        model: the model, in the mode it should be exported in (``model.eval()``
            for inference: dropout off, BatchNorm statistics fixed).
        example: one example input: images ``(B, C_in, H, W)`` for the models,
            tokens ``(B, *spatial, C)`` for a mixer. A one-sample example is
            repeated to two samples, so the batch axis stays dynamic.
        dynamic: let the batch axis and, where the model allows it, the
            spatial axes vary (see :func:`~afno.export.dynamic_shapes_for`);
            ``False`` fixes every size to the example's.
        dynamic_shapes: your own ``dynamic_shapes`` for ``torch.export``; overrides ``dynamic``.

    Returns:
        The ``torch.export.ExportedProgram``.

    Example:
        >>> import torch, afno
        >>> model = afno.create_model("afnonet_tiny", img_size=16, patch_size=4,
        ...                           in_chans=1, num_classes=3, seed=0).eval()
        >>> program = afno.export_program(model, torch.zeros(2, 1, 16, 16))
        >>> program.module()(torch.zeros(3, 1, 24, 32)).shape
        torch.Size([3, 3])
    """
    example = check_example(example)
    if dynamic_shapes is None and dynamic:
        dynamic_shapes = dynamic_shapes_for(model, example)
        example = traceable_example(example)
    program: ExportedProgram = torch.export.export(model, (example,), dynamic_shapes=dynamic_shapes)
    return program
