"""The base class of the library's models: a module that remembers how it was built."""

from __future__ import annotations

from typing import Any

from torch import nn


class ConfiguredModel(nn.Module):
    """An ``nn.Module`` that records its constructor arguments as plain data.

    Attributes:
        config: every constructor argument, resolved (defaults filled in), as
            plain data (numbers, strings, tuples, dicts); ``type(self)(**config)``
            builds the same architecture. Checkpoints store it and compare it.
        model_name: the registry name the model was created under by
            :func:`afno.create_model`, or None when built from the class directly.
    """

    model_name: str | None

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = config
        self.model_name = None
