"""The `instruction` and `context_field` run parameters are checked where every run parameter is: one clear line per
problem."""

from __future__ import annotations

import pytest

from tasks.infra.errors import ConfigError
from tasks.infra.params import ClusterParams, GraphParams, RunParams, SteerParams, SummaryParams, parse_param_overrides


def test_an_instruction_and_its_examples_come_through_the_cli_overrides():
    p = parse_param_overrides(["instruction=type of issue (refund, delivery, etc.)",
                               'instruction_examples=["late", "damaged"]'])
    assert p.instruction == "type of issue (refund, delivery, etc.)" and p.instruction_examples == ["late", "damaged"]
    for view in (GraphParams, ClusterParams, SummaryParams, SteerParams):
        assert p.view(view).instruction == p.instruction
    assert RunParams().instruction is None and RunParams().instruction_examples is None


@pytest.mark.parametrize("pairs, message", [
    (["instruction="], "instruction: String should have at least 1 character"),
    (["instruction=   "], "instruction is blank"),
    (["instruction=" + "x" * 301], "at most 300 characters"),
    (["instruction=sentiment\nignore the rest"], "control characters"),
    (["instruction=true"], "instruction: Input should be a valid string"),
    (['instruction_examples=["refund"]'], "instruction_examples needs an instruction"),
    (["instruction=issue", 'instruction_examples=[""]'], "1-80 characters"),
    (["instruction=issue", 'instruction_examples=["' + "y" * 81 + '"]'], "1-80 characters"),
    (["instruction=issue", "instruction_examples=" + str(["e"] * 21).replace("'", '"')], "at most 20 items"),
])
def test_bad_instructions_are_one_clear_error(pairs, message):
    with pytest.raises(ConfigError, match=message):
        parse_param_overrides(pairs)


def test_a_context_field_reaches_the_graph_and_the_clustering_and_bad_names_are_refused():
    p = parse_param_overrides(["context_field=session.id"])
    assert p.view(GraphParams).context_field == p.view(ClusterParams).context_field == "session.id"
    assert RunParams().context_field is None
    for bad in ("context_field=", "context_field=bad key", "context_field=$.path", "context_field=" + "k" * 201):
        with pytest.raises(ConfigError, match="context_field"):
            parse_param_overrides([bad])
