"""The hand-written stubs of the compiled module name exactly what it exports."""
import ast
import pathlib

import lstmcore
from lstmcore import _core


def stub_classes():
    path = pathlib.Path(lstmcore.__file__).with_name("_core.pyi")
    tree = ast.parse(path.read_text())
    names = {node.name: node for node in tree.body if isinstance(node, (ast.ClassDef, ast.FunctionDef))}
    # module-level constants: `NAME: int`
    names.update({node.target.id: node for node in tree.body if isinstance(node, ast.AnnAssign)})
    return names


def members(node):
    names = set()
    for item in node.body:
        if isinstance(item, ast.FunctionDef):
            names.add(item.name)
        elif isinstance(item, ast.AnnAssign):
            names.add(item.target.id)
    return names


def test_stub_lists_every_class_and_member():
    stubs = stub_classes()
    exported = {name for name in dir(_core) if not name.startswith("_")}
    assert exported == {name for name in stubs if not name.startswith("_")}
    for name in exported:
        cls = getattr(_core, name)
        if isinstance(stubs[name], ast.FunctionDef):  # a module-level function
            assert callable(cls), name
            continue
        if isinstance(stubs[name], ast.AnnAssign):  # a module-level constant
            assert type(cls).__name__ == stubs[name].annotation.id, name
            continue
        public = {m for m in vars(cls) if not m.startswith("_")} - {"name", "value"}
        declared = members(stubs[name])
        for base in stubs[name].bases:  # members declared once in a private stub base class
            declared |= members(stubs[base.id])
        declared.discard("__init__")
        assert public <= declared, (name, public - declared)
