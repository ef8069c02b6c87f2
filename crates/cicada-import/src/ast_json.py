# cicada-import's parser helper: reads Python source on stdin, parses it with Python's own `ast`
# module and prints the tree as JSON (each node an object with "_type", its fields and its
# position). A syntax error is printed as {"syntax_error": {...}}. Nothing is executed.
import ast
import json
import math
import sys


def node(value):
    if isinstance(value, ast.AST):
        out = {"_type": type(value).__name__}
        for name, field in ast.iter_fields(value):
            out[name] = node(field)
        for name in ("lineno", "col_offset", "end_lineno", "end_col_offset"):
            if hasattr(value, name):
                out[name] = getattr(value, name)
        return out
    if isinstance(value, list):
        return [node(v) for v in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else {"_repr": repr(value)}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"_repr": repr(value)}
    return {"_repr": repr(value)}


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "<stdin>"
    source = sys.stdin.buffer.read()
    try:
        tree = ast.parse(source, filename=name)
    except SyntaxError as e:
        json.dump({"syntax_error": {"message": e.msg, "line": e.lineno, "column": e.offset}}, sys.stdout)
        return
    except ValueError as e:
        json.dump({"syntax_error": {"message": str(e), "line": None, "column": None}}, sys.stdout)
        return
    json.dump({"module": node(tree)}, sys.stdout)


main()
