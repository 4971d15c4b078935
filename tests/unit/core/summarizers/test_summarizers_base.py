"""Unit tests for tasks.core.summarizers.base: the plug-in registry and the run-parameter check."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tasks.core.summarizers.base as summarizer_base
from tasks.core.summarizers import (
    KeyphraseSummarizer,
    available_summarizers,
    check_summarizers,
    get_summarizer,
    iter_clusters,
    register_summarizer,
)
from tasks.infra.errors import ConfigError
from tests.unit.core.summarizers.summarizers_fixtures import run


class Shout:
    """A test plug-in: upper-cases every header."""

    name = "shout"

    def apply(self, tree, ctx):
        for node in iter_clusters(tree):
            node.header = node.header.upper()


@pytest.fixture()
def shout():
    """``Shout`` registered for one test."""
    yield register_summarizer(Shout(), replace=True)
    summarizer_base._REGISTRY.pop("shout", None)


def test_builtins_are_registered_by_importing_any_module_of_the_package():
    code = "import tasks.core.summarizers.base as b; print(','.join(b.available_summarizers()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "exemplars,keyphrases"


def test_check_summarizers_accepts_known_names_in_any_order_and_none():
    for names in (["exemplars", "keyphrases"], ["keyphrases", "exemplars"], ("keyphrases",), []):
        assert set(names) <= set(available_summarizers())
        assert check_summarizers(names) is None  # accepted: no ConfigError


def test_check_summarizers_names_the_unknown_and_the_available_ones():
    with pytest.raises(ConfigError, match=r"unknown summarizer 'llm' .*available summarizers: exemplars, keyphrases"):
        check_summarizers(["keyphrases", "llm"])
    with pytest.raises(ConfigError, match=r"unknown summarizers 'llm', 'size' .*: exemplars, keyphrases$"):
        check_summarizers(["llm", "keyphrases", "size", "llm"])


def test_check_summarizers_rejects_a_bare_string():
    with pytest.raises(ConfigError, match="list of names"):
        check_summarizers("keyphrases")


def test_get_summarizer():
    assert get_summarizer("keyphrases").name == "keyphrases"
    with pytest.raises(ConfigError, match="unknown summarizer 'nope'"):
        get_summarizer("nope")


def test_summarize_clusters_checks_names_before_any_work(planted):
    planted["texts"] = planted["texts"][:-1]  # would fail validation, but the names are checked first
    with pytest.raises(ConfigError, match="unknown summarizer 'llm'.*exemplars, keyphrases"):
        run(planted, summarizers=["keyphrases", "llm"])
    with pytest.raises(ConfigError, match="list of names"):
        run(planted, summarizers="keyphrases")


def test_summarizers_are_applied_in_order_and_can_be_chosen(planted, shout):
    tree = run(planted, summarizers=["keyphrases", "shout"])
    assert tree[0].header and tree[0].header == tree[0].header.upper()
    assert tree[0].nodes == [] and tree[0].summary == ""  # exemplars not requested
    assert "shout" in available_summarizers()
    only_exemplars = run(planted, summarizers=["exemplars"])[0]
    assert only_exemplars.keyphrases == [] and only_exemplars.nodes
    assert only_exemplars.header  # falls back to the most central text


def test_register_refuses_duplicates_and_non_plugins():
    with pytest.raises(ValueError, match="already registered"):
        register_summarizer(KeyphraseSummarizer())
    with pytest.raises(TypeError, match="has no 'name'"):
        register_summarizer(object())
