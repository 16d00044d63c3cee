from __future__ import annotations

import pytest

import slowcheck


def test_public_names_are_exported_and_exist() -> None:
    assert sorted(slowcheck.__all__) == sorted(
        [
            "KINDS",
            "ConfigError",
            "SchemaSet",
            "SchemaViolation",
            "SlowcheckError",
            "UnknownSchema",
            "__version__",
            "schema_set",
        ]
    )
    for name in slowcheck.__all__:
        assert hasattr(slowcheck, name)


def test_schema_violation_is_an_assertion_error_naming_each_problem() -> None:
    with pytest.raises(AssertionError) as caught:
        slowcheck.schema_set().check("error", {"error": {"message": "x"}})
    assert isinstance(caught.value, slowcheck.SchemaViolation)
    assert caught.value.kind == "error"
    assert str(caught.value) == (
        "not a valid error: $.error: 'type' is a required property; "
        "$.error: 'param' is a required property; $.error: 'code' is a required property"
    )
