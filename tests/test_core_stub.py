"""The type stub of the private native module lists exactly what the module exports, class members included:
a binding added, renamed or removed without regenerating the stub fails here."""
import ast
import inspect
from pathlib import Path

import fastmlp
from fastmlp import _core


def stub_names():
    tree = ast.parse((Path(fastmlp.__file__).parent / "_core.pyi").read_text())
    top, members = set(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top.add(node.name)
        if isinstance(node, ast.ClassDef):
            members[node.name] = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
    return top, members


def test_the_stub_is_installed_and_lists_every_export():
    top, members = stub_names()
    exported = {name for name in dir(_core) if not name.startswith("_")}
    assert top == exported
    for name, stub_members in members.items():
        cls = getattr(_core, name)
        if issubclass(cls, BaseException):
            continue
        public = {m for m, _ in inspect.getmembers(cls) if not m.startswith("_")} | {"__init__"}
        assert stub_members == public, name
