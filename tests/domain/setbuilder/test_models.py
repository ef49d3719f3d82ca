"""The public set-builder options derive from the contract: one set of defaults and limits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common.contracts.setbuilder import BuildOptions, SetOptions
from services.domain.errors import Invalid
from services.domain.setbuilder.models import SetBuildOptions


def test_defaults_and_limits_are_the_contracts():
    public, contract = SetBuildOptions(), SetOptions()
    for name in BuildOptions.model_fields:
        assert getattr(public, name) == getattr(contract, name), name
        assert SetBuildOptions.model_fields[name].metadata == SetOptions.model_fields[name].metadata, name
    limit = SetOptions.model_fields["time_budget_s"].metadata
    assert limit  # a limit exists, and the public model has the very same one
    with pytest.raises(ValidationError):
        SetBuildOptions(time_budget_s=10_000)


def test_track_keys_become_contract_ids_and_clashes_are_invalid():
    options = SetBuildOptions(first_track_pk=7, energy_curve="rising", seed=3).to_set_options(count=5)
    assert options.first_id == "7" and options.count == 5 and options.seed == 3
    with pytest.raises(Invalid, match="different"):
        SetBuildOptions(first_track_pk=7, last_track_pk=7).to_set_options()
    with pytest.raises(Invalid):
        SetBuildOptions().to_set_options(count=3, minutes=30)
    with pytest.raises(ValidationError):
        SetBuildOptions(unknown=1)  # extra fields are refused, not ignored
