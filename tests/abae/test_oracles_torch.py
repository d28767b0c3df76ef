"""torch_oracle: a local PyTorch model as an oracle, batched under inference mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import afno
from abae.oracles import OracleRegistry, OracleRuntime, collecting_into, torch_oracle
from abae.store import LabelLedger, Store


class Scaled(nn.Module):
    """y = w * x (B, 1), and records each batch size and whether inference mode was on."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor([weight]))
        self.seen: list[tuple[int, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((x.shape[0], torch.is_inference_mode_enabled()))
        return (x * self.weight).reshape(-1, 1)


@pytest.fixture
def ledger(tmp_path: Path) -> LabelLedger:
    return LabelLedger(Store(tmp_path / "t.duckdb"), "r")


def ask(ledger: LabelLedger, registry: OracleRegistry, name: str, ids: list[int]) -> dict[int, Any]:
    with OracleRuntime(ledger, registry, query_id="q", budget=100) as rt:
        return rt.labels(name, ids, {i: (float(i),) for i in ids})


def test_numbers_and_predicates_in_batches_under_inference_mode(ledger: LabelLedger) -> None:
    model = Scaled(2.0)
    registry = OracleRegistry()
    with collecting_into(registry):
        torch_oracle("double", model, transform=lambda v: torch.tensor(v), batch_size=4)
        torch_oracle(
            "positive", Scaled(1.0), transform=lambda v: torch.tensor(v - 3.0), returns="bool"
        )
    labels = ask(ledger, registry, "double", list(range(10)))
    assert {i: labels[i].statistic for i in labels} == {i: 2.0 * i for i in range(10)}
    assert sorted(size for size, _ in model.seen) == [2, 4, 4]
    assert all(inference for _, inference in model.seen)
    assert not model.training
    predicates = ask(ledger, registry, "positive", [1, 3, 5])
    assert {i: predicates[i].predicate for i in predicates} == {1: False, 3: False, 5: True}


def test_the_version_follows_the_weights() -> None:
    registry = OracleRegistry()
    with collecting_into(registry):
        first = torch_oracle("m", Scaled(2.0), transform=torch.tensor)
        same = torch_oracle("m", Scaled(2.0), transform=torch.tensor)
        other = torch_oracle("m", Scaled(3.0), transform=torch.tensor)
        named = torch_oracle("m", Scaled(3.0), transform=torch.tensor, version="ckpt-7")
    assert first.version == same.version != other.version
    assert named.key == "m@ckpt-7"


def test_an_afno_classifier_as_a_category_oracle(ledger: LabelLedger) -> None:
    torch.manual_seed(0)
    model = afno.create_model("afnonet_tiny", img_size=16, patch_size=4, in_chans=1, num_classes=3)
    images = {
        i: torch.rand(1, 16, 16, generator=torch.Generator().manual_seed(i)) for i in range(6)
    }
    registry = OracleRegistry()
    with collecting_into(registry):
        spec = torch_oracle(
            "kind", model, transform=lambda i: images[int(i)], batch_size=4,
            returns=["cat", "dog", "bird"],
        )  # fmt: skip
    assert spec.returns == "category"
    labels = ask(ledger, registry, "kind", list(range(6)))
    expected: list[int] = []
    with torch.inference_mode():  # the same batches as the oracle's (4, then 2)
        for batch in ([0, 1, 2, 3], [4, 5]):
            expected += model(torch.stack([images[i] for i in batch])).argmax(dim=1).tolist()
    assert [labels[i].category for i in range(6)] == [["cat", "dog", "bird"][k] for k in expected]


def test_wrong_output_shapes_fail_with_a_clear_message(ledger: LabelLedger) -> None:
    registry = OracleRegistry()
    with collecting_into(registry):
        torch_oracle("wide", nn.Linear(1, 3), transform=lambda v: torch.tensor([v]), batch_size=2)
    with OracleRuntime(ledger, registry, query_id="q", budget=10, failure_brake=None) as rt:
        assert rt.labels("wide", [1, 2], {1: (1.0,), 2: (2.0,)}) == {}
    assert "expected an output of shape (2,) or (2, 1), got (2, 3)" in rt.stats.failed[("wide", 1)]
