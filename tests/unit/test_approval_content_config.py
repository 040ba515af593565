"""A transition's ``approval_content`` and ``on_change``: what votes are bound to, checked
when the configuration is loaded and compiled with a sensible default."""

from __future__ import annotations

from configs import full_documents, minimal_documents  # tests/ is on sys.path (conftest)

from steerco.config import compile_config, problems_of


def _decide(docs):  # type: ignore[no-untyped-def]
    return docs["workflows"]["workflows"][0]["transitions"][0]


def test_by_default_votes_bind_required_fields_evidence_and_what_thresholds_read() -> None:
    docs = full_documents()
    _decide(docs)["required_evidence"] = ["evidence"]
    _decide(docs)["approvals"][0]["threshold"] = "potential > 1000 and due != today"
    config = compile_config(docs)
    decide = config.workflows["gates"].transitions[0]
    assert decide.approval_content == ("potential", "evidence", "due")
    assert decide.on_change == "refuse"
    # A transition without approval steps binds nothing.
    assert config.workflows["gates"].transitions[1].approval_content == ()


def test_configured_content_and_void_mode_compile_as_written() -> None:
    docs = full_documents()
    _decide(docs).update(approval_content=["potential", "financials"], on_change="void")
    decide = compile_config(docs).workflows["gates"].transitions[0]
    assert (decide.approval_content, decide.on_change) == (("potential", "financials"), "void")


def test_a_consultant_is_told_what_approval_content_cannot_be() -> None:
    docs = full_documents()
    _decide(docs)["on_change"] = "sometimes"
    (problem,) = problems_of(docs)
    assert problem.pointer == "/workflows/0/transitions/0/on_change" and "refuse" in problem.message
    docs = full_documents()
    _decide(docs)["approval_content"] = ["potentail"]
    (problem,) = problems_of(docs)
    assert problem.pointer == "/workflows/0/transitions/0/approval_content/0"
    assert problem.hint == "potential"


def test_approval_content_on_a_transition_without_approvals_has_no_effect_and_is_refused() -> None:
    docs = minimal_documents()
    _decide(docs).update(approval_content=["potential"], on_change="void")
    problems = sorted((p.pointer, p.code) for p in problems_of(docs))
    assert problems == [("/workflows/0/transitions/0/approval_content", "no_effect"),
                        ("/workflows/0/transitions/0/on_change", "no_effect")]
