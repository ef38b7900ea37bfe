#!/usr/bin/env python3
"""Validates request bodies against the vendors' request schemas in this folder.

    tests/schemas/validate.py DIR

DIR holds NAME.json files (e.g. written by `cargo test -p secure_forward_core
--test shape` into target/tmp/shape-bodies/); each must satisfy
NAME.schema.json, and each NAME.invalid.json here must be rejected by it.
Exit status 0 only when all hold. Needs python3-jsonschema.
"""
import json
import pathlib
import sys

import jsonschema

HERE = pathlib.Path(__file__).resolve().parent


def main() -> int:
    bodies = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else None
    failed = 0
    for schema_path in sorted(HERE.glob("*.schema.json")):
        name = schema_path.name[: -len(".schema.json")]
        schema = json.loads(schema_path.read_text())
        jsonschema.Draft7Validator.check_schema(schema)
        validator = jsonschema.Draft7Validator(schema)
        invalid = json.loads((HERE / f"{name}.invalid.json").read_text())
        if not list(validator.iter_errors(invalid)):
            print(f"FAIL {name}: {name}.invalid.json is accepted")
            failed += 1
        else:
            print(f"ok   {name}: {name}.invalid.json rejected")
        if bodies is not None:
            body_path = bodies / f"{name}.json"
            if not body_path.exists():
                print(f"FAIL {name}: no {body_path}")
                failed += 1
                continue
            errors = list(validator.iter_errors(json.loads(body_path.read_text())))
            for e in errors:
                print(f"FAIL {name}: {body_path}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
            failed += bool(errors)
            if not errors:
                print(f"ok   {name}: {body_path.name} valid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
