from __future__ import annotations

import pytest

from conveyor.errors import ConveyorError
from conveyor.store._tracking_records import Condition, Ordering
from conveyor.tracking._filter import parse_filter, parse_order_by


def one(text: str) -> Condition:
    (condition,) = parse_filter(text)
    return condition


def error_of(text: str) -> ConveyorError:
    with pytest.raises(ConveyorError) as caught:
        parse_filter(text)
    return caught.value


@pytest.mark.parametrize("text", [None, "", "   \n "])
def test_no_filter_means_no_condition(text: str | None) -> None:
    assert parse_filter(text) == ()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("metrics.auc > 1", "metrics"),
        ("metric.auc > 1", "metrics"),
        ("m.auc > 1", "metrics"),
        ("params.auc > 1", "params"),
        ("param.auc > 1", "params"),
        ("p.auc > 1", "params"),
        ("tags.auc = '1'", "tags"),
        ("tag.auc = '1'", "tags"),
        ("t.auc = '1'", "tags"),
        ("METRICS.auc > 1", "metrics"),
    ],
)
def test_every_spelling_of_a_kind_is_normalised(text: str, kind: str) -> None:
    assert one(text).kind == kind
    assert one(text).key == "auc"


@pytest.mark.parametrize("kind", ["attributes", "attribute", "attr", "run", "", "Attributes"])
def test_attributes_are_named_with_or_without_a_kind(kind: str) -> None:
    field = f"{kind}.pipeline" if kind else "pipeline"
    assert one(f"{field} = 'churn'") == Condition("attributes", "pipeline", "=", "churn")


@pytest.mark.parametrize(
    ("written", "attribute"),
    [
        ("run_id", "run_id"),
        ("id", "run_id"),
        ("attributes.id", "run_id"),
        ("user", "user"),
        ("USER", "user"),
        ("pipeline", "pipeline"),
    ],
)
def test_text_attributes_and_their_mlflow_names(written: str, attribute: str) -> None:
    assert one(f"{written} != 'x'") == Condition("attributes", attribute, "!=", "x")


@pytest.mark.parametrize(
    ("symbol", "op"),
    [
        ("=", "="),
        ("==", "="),
        ("!=", "!="),
        ("<>", "!="),
        (">", ">"),
        (">=", ">="),
        ("<", "<"),
        ("<=", "<="),
    ],
)
def test_comparison_operators(symbol: str, op: str) -> None:
    assert one(f"metrics.loss {symbol} 0.5") == Condition("metrics", "loss", op, 0.5)  # type: ignore[arg-type]
    assert one(f"metrics.loss{symbol}0.5").op == op  # spaces are optional


@pytest.mark.parametrize(("word", "op"), [("LIKE", "like"), ("like", "like"), ("ILike", "ilike")])
def test_pattern_operators(word: str, op: str) -> None:
    assert one(f"tags.team {word} 'ch%'") == Condition("tags", "team", op, "ch%")  # type: ignore[arg-type]


def test_in_and_not_in_take_a_tuple_of_mixed_values() -> None:
    assert one("params.model IN ('rf', \"gbm\", 3)") == Condition(
        "params", "model", "in", ("rf", "gbm", 3.0)
    )
    assert one("tags.team not  in ('a')") == Condition("tags", "team", "not in", ("a",))
    assert one("run_id in ('r1','r2')").value == ("r1", "r2")


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("3", 3.0),
        ("-3", -3.0),
        ("+2", 2.0),
        ("0.25", 0.25),
        (".5", 0.5),
        ("-1.5e-3", -0.0015),
        ("2E10", 2e10),
        ("7.", 7.0),
    ],
)
def test_numbers(literal: str, value: float) -> None:
    parsed = one(f"metrics.x >= {literal}").value
    assert parsed == value
    assert isinstance(parsed, float)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("'plain'", "plain"),
        ('"double"', "double"),
        ("''", ""),
        ("'it\\'s'", "it's"),
        ("'it''s'", "it's"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("'back\\\\slash'", "back\\slash"),
        ("'50\\%'", "50\\%"),  # LIKE escapes are left for the store
        ("'a and b or c'", "a and b or c"),
        ("'3'", "3"),
    ],
)
def test_strings_and_their_escapes(literal: str, value: str) -> None:
    assert one(f"params.note = {literal}").value == value


@pytest.mark.parametrize(
    ("field", "key"),
    [
        ('metrics."val.loss"', "val.loss"),
        ("metrics.`val.loss`", "val.loss"),
        ("params.`max-depth`", "max-depth"),
        ('params."my tag"', "my tag"),
        ("metrics.val.loss", "val.loss"),  # unquoted dots read as one key
        ("metrics.top_5", "top_5"),
    ],
)
def test_keys_may_be_quoted(field: str, key: str) -> None:
    assert one(f"{field} < 1").key == key


def test_clauses_are_joined_with_and_in_any_case() -> None:
    conditions = parse_filter(
        "metrics.accuracy > 0.9 and params.model = 'rf' AND tags.team LIKE 'ch%' And "
        "status = 'failed'"
    )
    assert conditions == (
        Condition("metrics", "accuracy", ">", 0.9),
        Condition("params", "model", "=", "rf"),
        Condition("tags", "team", "like", "ch%"),
        Condition("attributes", "status", "=", "failed"),
    )


def test_params_compare_with_numbers_and_text() -> None:
    assert one("params.lr < 0.1").value == 0.1
    assert one("params.lr < '0.1'").value == "0.1"
    assert one("params.model ilike 'R%'").op == "ilike"


def test_statuses_are_checked_and_mlflow_spellings_normalised() -> None:
    assert one("status = 'FAILED'").value == "failed"
    assert one("attributes.status = 'FINISHED'").value == "succeeded"
    assert one("status in ('running', 'Crashed')").value == ("running", "crashed")
    assert one("status like 'fail%'").value == "fail%"  # a pattern is not a status
    assert "expected one of running, succeeded" in str(error_of("status = 'done'"))


def test_times_become_epoch_seconds() -> None:
    assert one("started_at > 1700000000") == Condition(
        "attributes", "started_at", ">", 1700000000.0
    )
    assert one("finished_at <= '2025-01-01'").value == 1735689600.0  # naive: UTC
    assert one("started_at < '2025-01-01T02:00:00+02:00'").value == 1735689600.0
    # MLflow's start_time and end_time count milliseconds
    assert one("attributes.start_time > 1700000000000") == Condition(
        "attributes", "started_at", ">", 1700000000.0
    )
    assert one("end_time < 1700000000500").key == "finished_at"
    assert one("end_time < 1700000000500").value == 1700000000.5


def test_an_error_quotes_the_filter_and_points_at_the_problem() -> None:
    error = error_of("metrics.accuracy 0.9")
    message = str(error)
    assert "expected an operator (=, !=, <" in message
    assert "after 'metrics.accuracy' at position 17" in message
    assert message.splitlines()[1:] == ["    metrics.accuracy 0.9", "                     ^"]
    assert error.details == {"filter": "metrics.accuracy 0.9", "position": 17}


def test_the_caret_points_into_the_right_line_of_a_multiline_filter() -> None:
    error = error_of("metrics.a > 1\n  and tags.t = 3")
    lines = str(error).splitlines()
    assert lines[1:] == ["      and tags.t = 3", "                   ^"]
    assert error.details["position"] == 29


def test_or_is_rejected_with_a_reason() -> None:
    error = error_of("metrics.a > 1 OR metrics.b < 2")
    assert "'or' is not supported" in str(error)
    assert "only be joined with 'and'" in str(error)
    assert error.details["position"] == 14


@pytest.mark.parametrize(
    ("text", "expected", "position"),
    [
        ("metrics.a like 'x%'", "metrics can be compared with =, !=, <, <=, >, >=, not LIKE", 10),
        ("metrics.a in (1, 2)", "not IN", 10),
        ("metrics.a > 'high'", "metrics compare with numbers", 12),
        ("tags.t = 3", "tag values are text: write '3'", 9),
        ("tags.t in ('a', 3)", "tag values are text", 16),
        ("tags.t > 'a'", "can be compared with =, !=, LIKE, ILIKE, IN, NOT IN, not >", 7),
        ("pipeline = 3", "pipeline values are text", 11),
        ("started_at like '2025%'", "not LIKE", 11),
        ("started_at > 'yesterday'", "seconds since the epoch or an ISO 8601 date", 13),
        ("params.p like 3", "LIKE needs a quoted pattern", 14),
        ("status = failed", "expected a value after 'status =': a number, or text in quotes", 9),
        ("metrics.a = `x`", "backticks quote keys", 12),
        ("metrics.a >", "expected a value", 11),
        ("foo = 1", "unknown attribute 'foo'", 0),
        ("runs.a = 1", "unknown kind 'runs'", 0),
        ("metrics. = 1", "expected a key after 'metrics.'", 9),
        ("tags.`` = 'x'", "empty key", 5),
        ("params.max-depth = 3", "unexpected character '-'", 10),
        ("tags.t = 'open", "unterminated ' quote", 9),
        ("metrics.a > 1 and", "expected a field", 17),
        ("and metrics.a > 1", "unknown attribute 'and'", 0),
        ("metrics.a > 1 metrics.b < 2", "expected 'and' or the end after 'metrics.a > 1'", 14),
        ("(metrics.a > 1)", "parentheses are not supported", 0),
        ("params.a not like 'x'", "expected IN after NOT", 13),
        ("params.a in 'x'", "expected '(' after IN", 12),
        ("params.a in ()", "expected a value", 13),
        ("params.a in (1 2)", "expected ',' or ')' in the IN list", 15),
        ("params.a in (1,", "at the end (position 15)", 15),
        ("metrics.a ! 1", "unexpected character '!'", 10),
    ],
)
def test_malformed_filters_say_what_was_expected_where(
    text: str, expected: str, position: int
) -> None:
    error = error_of(text)
    assert expected in str(error)
    assert error.details["position"] == position
    caret_line = str(error).splitlines()[-1]
    assert caret_line == " " * (4 + position) + "^"


def test_order_by_defaults_to_ascending() -> None:
    assert parse_order_by(["metrics.accuracy desc", "params.lr", "started_at ASC"]) == (
        Ordering("metrics", "accuracy", descending=True),
        Ordering("params", "lr", descending=False),
        Ordering("attributes", "started_at", descending=False),
    )


def test_order_by_uses_the_key_syntax_of_filters() -> None:
    assert parse_order_by(['metrics."val.loss" DESC', "attributes.start_time", "t.`a b`"]) == (
        Ordering("metrics", "val.loss", descending=True),
        Ordering("attributes", "started_at"),
        Ordering("tags", "a b"),
    )
    assert parse_order_by([]) == ()
    assert parse_order_by("pipeline desc") == (Ordering("attributes", "pipeline", True),)


@pytest.mark.parametrize(
    ("item", "expected", "position"),
    [
        ("metrics.a up", "expected ASC, DESC or the end after 'metrics.a'", 10),
        ("metrics.a desc extra", "expected ASC, DESC or the end", 15),
        ("", "expected a field", 0),
        ("colour", "unknown attribute 'colour'", 0),
    ],
)
def test_malformed_order_by_items_are_reported(item: str, expected: str, position: int) -> None:
    with pytest.raises(ConveyorError, match="invalid order_by item") as caught:
        parse_order_by(["params.lr", item])
    assert expected in str(caught.value)
    assert caught.value.details == {"order_by": item, "position": position}
