"""The arithmetic sandbox: right answers, refusals before anything runs, and no crash."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from demos.kernel.sandbox import Number, Sandbox

ERRORS = {"SandboxError", "ZeroDivisionError", "OverflowError", "NameError", "ValueError"}


def test_a_notebook_session() -> None:
    box = Sandbox()
    assert box.run("1 + 2").value == 3
    outcome = box.run("x = 6 * 7\nprint(x, x / 4)\nx ** 2 - 1")
    assert (outcome.printed, outcome.value, outcome.error) == (["42 10.5\n"], 1763, None)
    assert box.run("x; y = x // 5; y % 4").value == 0  # names persist between cells
    assert box.run("-(2 ** -1) + +1.5").value == 1.0
    assert box.run("").value is None and box.run("").ok


@pytest.mark.parametrize(
    ("code", "ename", "evalue"),
    [
        ("__import__('os').system('echo pwned')", "SandboxError", "only numbers"),
        ("open(1)", "SandboxError", "only call allowed is print"),
        ("import os", "SandboxError", "Import is not allowed"),
        ("x.real", "SandboxError", "Attribute"),
        ("(1).__class__", "SandboxError", "Attribute"),
        ("[1][0]", "SandboxError", "Subscript"),
        ("lambda: 1", "SandboxError", "Lambda"),
        ("1 < 2", "SandboxError", "Compare"),
        ("1 << 2", "SandboxError", "LShift"),
        ("True + 1", "SandboxError", "only numbers"),
        ("1j", "SandboxError", "only numbers"),
        ("print(1, sep='')", "SandboxError", "keyword"),
        ("1 + print(2)", "SandboxError", "statement of its own"),
        ("print = 1", "SandboxError", "cannot be rebound"),
        ("a = b = 1", "SandboxError", "one plain name"),
        ("x += 1", "SandboxError", "AugAssign"),
        ("def f(): pass", "SandboxError", "FunctionDef"),
        ("1 +", "SandboxError", "not arithmetic"),
        ("1if 2", "SandboxError", "not arithmetic"),  # a SyntaxWarning: refused, not printed
        ("1\x00", "SandboxError", "not arithmetic"),
        ("-" * 200 + "1", "SandboxError", "nest at most"),
        ("1 + " * 1000 + "1", "SandboxError", "at most 2000 characters"),
        ("9 ** 9 ** 9", "SandboxError", "at most 4096 bits"),
        ("2 ** 4096", "SandboxError", "at most 4096 bits"),
        ("(2 ** 4000) * (2 ** 100)", "SandboxError", "at most 4096 bits"),
        ("(-8) ** 0.5", "SandboxError", "not a real number"),
        ("1 / 0", "ZeroDivisionError", "division by zero"),
        ("0 ** -1", "ZeroDivisionError", ""),
        ("2.0 ** 10000", "OverflowError", ""),
        ("undefined + 1", "NameError", "'undefined'"),
    ],
)
def test_refusals_and_errors(code: str, ename: str, evalue: str) -> None:
    outcome = Sandbox().run(code)
    assert outcome.error is not None and outcome.value is None
    assert outcome.error[0] == ename
    assert evalue in outcome.error[1]


def test_a_refused_cell_runs_none_of_its_statements() -> None:
    box = Sandbox()
    outcome = box.run("x = 1\nprint(x)\nx.y")
    assert outcome.error is not None and outcome.printed == []
    assert box.names == {}


def test_the_largest_allowed_int_and_the_name_limit() -> None:
    box = Sandbox(max_names=2)
    assert box.run("2 ** 4095").value == 2**4095
    assert box.run("a = 1; b = 2; a = 3").ok
    outcome = box.run("c = 4")
    assert outcome.error == ("SandboxError", "at most 2 names")


ARITHMETIC_ISH = st.text(alphabet=sorted(set("0123456789.+-*/%() \n;=xe_jprint,if")), max_size=200)


@given(code=st.text(max_size=300) | ARITHMETIC_ISH)
def test_random_text_never_crashes(code: str) -> None:
    outcome = Sandbox().run(code)
    if outcome.error:
        assert outcome.error[0] in ERRORS and outcome.value is None
    else:
        assert outcome.value is None or type(outcome.value) in (int, float)


# Arithmetic with a reference value computed straight from Python's operators
# (no parsing involved), fully parenthesised so precedence is not in question.
OPS: dict[str, Callable[[Number, Number], Number]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod,
}  # fmt: skip
Expr = tuple[str, Callable[[], Number]]

leaves = st.one_of(
    st.integers(-1000, 1000),
    st.floats(-1000, 1000, allow_nan=False, allow_infinity=False),
).map(lambda n: (f"({n!r})", lambda: n))


def _combine(inner: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    binary = st.tuples(inner, st.sampled_from(sorted(OPS)), inner).map(
        lambda t: (f"({t[0][0]} {t[1]} {t[2][0]})", lambda: OPS[t[1]](t[0][1](), t[2][1]()))
    )
    power = st.tuples(inner, st.integers(-2, 3)).map(
        lambda t: (f"({t[0][0]} ** {t[1]})", lambda: t[0][1]() ** t[1])
    )
    negate = inner.map(lambda e: (f"(-{e[0]})", lambda: -e[1]()))
    return binary | power | negate


expressions = st.recursive(leaves, _combine, max_leaves=10)


@settings(max_examples=300)
@given(expr=expressions)
def test_expressions_evaluate_as_python_does_or_are_refused(expr: Expr) -> None:
    text, reference = expr
    outcome = Sandbox().run(text)
    try:
        expected = reference()
    except (ZeroDivisionError, OverflowError) as error:
        assert outcome.error is not None and outcome.error[0] == type(error).__name__
        return
    if isinstance(expected, complex) or (
        isinstance(expected, int) and expected.bit_length() > 4096
    ):
        assert outcome.error is not None and outcome.error[0] == "SandboxError"
        return
    assert outcome.error is None, (text, outcome.error)
    assert type(outcome.value) is type(expected)
    assert outcome.value == expected or (math.isnan(expected) and math.isnan(outcome.value))
