"""An arithmetic sandbox: the only code the demo kernel runs. No eval, no exec.

`Sandbox.run` parses a cell with `ast` and walks the tree itself, allowing
only: int and float literals; ``+ - * / // % **``; unary ``-`` and ``+``;
parentheses; names bound by earlier ``name = expression`` statements; and
``print(expression, ...)`` as a statement of its own. Anything else (a string,
an attribute, a call to anything but print, an import, a lambda, a comparison
...) is refused before any of the cell runs.

Results are bounded too: an int over ``max_bits`` bits is refused before it is
computed (``9 ** 9 ** 9`` would otherwise take the kernel down), complex
results are refused, and ``max_names`` caps the namespace.

`Sandbox.run` never raises: every outcome, good or bad, is an `Outcome`.
One thread; the namespace persists across cells, as in a notebook.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

Number = int | float

_OPERATORS: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a**b,
}
_ALLOWED = (
    ast.Module, ast.Expr, ast.Assign, ast.Name, ast.Load, ast.Store, ast.Constant, ast.BinOp,
    ast.UnaryOp, ast.USub, ast.UAdd, ast.Call, *_OPERATORS,
)  # fmt: skip


class SandboxError(Exception):
    """Code or a result the sandbox refuses."""


@dataclass
class Outcome:
    """What one cell did: text it printed, the value of its last expression, or an error."""

    printed: list[str] = field(default_factory=list)
    value: Number | None = None
    error: tuple[str, str] | None = None  # (ename, evalue), as in a Jupyter error reply

    @property
    def ok(self) -> bool:
        return self.error is None


class Sandbox:
    """Runs arithmetic cells against a namespace that persists between them."""

    def __init__(
        self,
        max_code: int = 2000,
        max_depth: int = 64,
        max_bits: int = 4096,
        max_names: int = 100,
    ) -> None:
        self.max_code, self.max_depth = max_code, max_depth
        self.max_bits, self.max_names = max_bits, max_names
        self.names: dict[str, Number] = {}

    def run(self, code: str) -> Outcome:
        """Check the whole cell, then run its statements in order."""
        outcome = Outcome()
        try:
            tree = self._parse(code)
            for statement in tree.body:
                outcome.value = self._execute(statement, outcome.printed)
        except SandboxError as error:
            outcome.error = ("SandboxError", str(error))
        except (ArithmeticError, NameError, ValueError) as error:
            # ZeroDivisionError, OverflowError, an unknown name, a float that
            # cannot be an int: the arithmetic's own errors, reported as Python would.
            outcome.error = (type(error).__name__, str(error))
        if outcome.error:
            outcome.value = None
        return outcome

    # -- checking, before anything runs ------------------------------------------

    def _parse(self, code: str) -> ast.Module:
        if not isinstance(code, str):
            raise SandboxError(f"code must be text, not {type(code).__name__}")
        if len(code) > self.max_code:
            raise SandboxError(f"cells are at most {self.max_code} characters")
        try:
            with warnings.catch_warnings():
                # "1if x" parses with a SyntaxWarning on stderr: refuse it, quietly.
                warnings.simplefilter("error")
                tree = ast.parse(code, mode="exec")
        except (SyntaxError, ValueError, RecursionError, MemoryError, Warning) as error:
            raise SandboxError(f"not arithmetic: {error}") from None
        self._check(tree)
        return tree

    def _check(self, tree: ast.Module) -> None:
        # Iterative, so a deeply nested cell cannot exhaust the Python stack here.
        stack: list[tuple[ast.AST, int]] = [(tree, 0)]
        while stack:
            node, depth = stack.pop()
            if depth > self.max_depth:
                raise SandboxError(f"expressions nest at most {self.max_depth} deep")
            if not isinstance(node, _ALLOWED):
                raise SandboxError(f"{type(node).__name__} is not allowed")
            if isinstance(node, ast.Constant) and (
                type(node.value) not in (int, float)  # bool, str, complex, None, ...
            ):
                raise SandboxError(f"only numbers are allowed, not {node.value!r}")
            if isinstance(node, ast.Constant) and isinstance(node.value, int):
                self._check_size(node.value)
            stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
        for statement in tree.body:
            if isinstance(statement, ast.Assign):
                target = statement.targets[0]
                if len(statement.targets) != 1 or not isinstance(target, ast.Name):
                    raise SandboxError("assign to one plain name: name = expression")
                if target.id == "print":
                    raise SandboxError("print cannot be rebound")
                value = statement.value
            elif isinstance(statement, ast.Expr):
                value = statement.value
                if isinstance(value, ast.Call):
                    if not (
                        isinstance(value.func, ast.Name)
                        and value.func.id == "print"
                        and not value.keywords
                    ):
                        raise SandboxError("the only call allowed is print(expression, ...)")
                    for arg in value.args:
                        self._check_pure(arg)
                    continue
            else:
                raise SandboxError(f"{type(statement).__name__} is not allowed")
            self._check_pure(value)

    @staticmethod
    def _check_pure(expression: ast.expr) -> None:
        for node in ast.walk(expression):
            if isinstance(node, ast.Call):
                raise SandboxError("print(...) is a statement of its own, not a value")
            if isinstance(node, ast.Name) and node.id == "print":
                raise SandboxError("print is not a number")

    def _check_size(self, value: Number) -> Number:
        if isinstance(value, complex):
            raise SandboxError("the result is not a real number")
        if isinstance(value, int) and value.bit_length() > self.max_bits:
            raise SandboxError(f"integers are at most {self.max_bits} bits")
        return value

    # -- running -----------------------------------------------------------------

    def _execute(self, statement: ast.stmt, printed: list[str]) -> Number | None:
        if isinstance(statement, ast.Assign):
            name = statement.targets[0].id  # type: ignore[attr-defined]
            if name not in self.names and len(self.names) >= self.max_names:
                raise SandboxError(f"at most {self.max_names} names")
            self.names[name] = self._evaluate(statement.value)
            return None
        assert isinstance(statement, ast.Expr)
        call = statement.value
        if isinstance(call, ast.Call):
            values = [self._evaluate(arg) for arg in call.args]
            printed.append(" ".join(str(v) for v in values) + "\n")
            return None
        return self._evaluate(call)

    def _evaluate(self, node: ast.expr) -> Number:
        if isinstance(node, ast.Constant):
            assert isinstance(node.value, (int, float))  # _check allowed nothing else
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in self.names:
                raise NameError(f"name {node.id!r} is not defined")
            return self.names[node.id]
        if isinstance(node, ast.UnaryOp):
            operand = self._evaluate(node.operand)
            return -operand if isinstance(node.op, ast.USub) else +operand
        assert isinstance(node, ast.BinOp)
        left, right = self._evaluate(node.left), self._evaluate(node.right)
        self._check_cost(node.op, left, right)
        return self._check_size(_OPERATORS[type(node.op)](left, right))

    def _check_cost(self, op: ast.operator, left: Number, right: Number) -> None:
        """Refuse an int result too large before computing it (after would be too late)."""
        if not (isinstance(left, int) and isinstance(right, int)):
            return
        # Lower bounds on the result's size: past them, refuse; under them the
        # result is at most about twice max_bits, cheap to compute and check.
        if isinstance(op, ast.Pow) and right > 0 and abs(left) > 1:
            least = (left.bit_length() - 1) * right + 1
        elif isinstance(op, ast.Mult) and left and right:
            least = left.bit_length() + right.bit_length() - 1
        else:
            return
        if least > self.max_bits:
            raise SandboxError(f"integers are at most {self.max_bits} bits")
