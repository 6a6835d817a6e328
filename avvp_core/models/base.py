"""What every AVVP model shares: forward(batch) -> ParseOutput, and its modality encoders by name."""

from __future__ import annotations

from torch import nn

from ..schema import Batch, ParseOutput


class AVVPModel(nn.Module):
    """Base class. Subclasses implement `forward(batch, capture=False) -> ParseOutput`.

    `modality_encoders()` names the uni-modal encoder modules ("audio" / "visual") whose gradients
    gradient modulation (DGM) scales; models without separable encoders return {}.
    """

    arch: str = ""
    config: dict = {}

    def forward(self, batch: Batch, capture: bool = False) -> ParseOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def modality_encoders(self) -> dict[str, list[nn.Module]]:
        return {}
