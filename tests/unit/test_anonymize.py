from __future__ import annotations

import hashlib
import hmac
import pickle

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from conveyor.core._errors import ConfigurationError, ConveyorError
from conveyor.data._anonymize import Anonymizer, Rule, anonymize, token, tokenizer

KEY = "s3cret-key"
RULES = {"email": "hash", "phone": "mask", "ssn": "drop"}


def people() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "email": ["ann@example.com", "bob@example.org", None, "ann@example.com"],
            "phone": ["+44 20 7946 0958", "555-0199", "12", None],
            "ssn": ["123-45-6789", "987-65-4321", None, "111-22-3333"],
            "age": [34, 51, 28, 34],
        }
    )


def expected_token(value: str, key: str | bytes = KEY) -> str:
    secret = key.encode() if isinstance(key, str) else key
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()[:32]


def test_hash_mask_and_drop() -> None:
    result = anonymize(people(), RULES, salt=KEY)
    assert isinstance(result, pl.DataFrame)
    assert result.columns == ["email", "phone", "age"]
    assert result["email"].to_list() == [
        expected_token("ann@example.com"),
        expected_token("bob@example.org"),
        None,
        expected_token("ann@example.com"),
    ]
    assert result["phone"].to_list() == ["************0958", "****0199", "**", None]
    assert result["age"].to_list() == [34, 51, 28, 34]  # untouched


@pytest.mark.parametrize("key", [b"k", b"x" * 64, b"a much longer key than one block" * 4])
def test_the_fast_tokenizer_is_the_hmac(key: bytes) -> None:
    keyed = tokenizer(key)
    for value in ("", "ann@example.com", "żółw" * 50):
        assert keyed(value) == token(key, value) == expected_token(value, key)


def test_many_distinct_values_hash_like_few() -> None:
    ids = pl.DataFrame({"id": [f"id-{i}" for i in range(1000)] + [None]})  # hashed row by row
    repeated = pl.DataFrame({"id": ["id-7"] * 10 + [None]})  # hashed once, mapped back
    first = anonymize(ids, {"id": "hash"}, salt=KEY)["id"]
    second = anonymize(repeated, {"id": "hash"}, salt=KEY)["id"]
    assert first[7] == second[0] == expected_token("id-7")
    assert first[-1] is None and second[-1] is None
    assert first.n_unique() == 1001


def test_tokens_are_stable_across_tables_with_the_same_key() -> None:
    other = pl.DataFrame({"email": ["zed@example.net", "ann@example.com"]})
    first = anonymize(people(), {"email": "hash"}, salt=KEY)
    second = anonymize(other, {"email": "hash"}, salt=KEY.encode())  # bytes: the same key
    assert first["email"][0] == second["email"][1]
    joined = first.join(second, on="email")  # anonymized tables still join
    assert joined.height == 2


def test_another_key_gives_other_tokens() -> None:
    first = anonymize(people(), {"email": "hash"}, salt=KEY)["email"]
    second = anonymize(people(), {"email": "hash"}, salt="another key")["email"]
    assert all(a != b for a, b in zip(first, second, strict=True) if a is not None)


def test_the_key_comes_from_the_named_environment_variable() -> None:
    env = {"CONVEYOR_ANON_KEY": KEY, "PII_KEY": "another key"}
    default = anonymize(people(), {"email": "hash"}, environ=env)
    named = anonymize(people(), {"email": "hash"}, salt_env="PII_KEY", environ=env)
    assert default["email"][0] == expected_token("ann@example.com")
    assert named["email"][0] == expected_token("ann@example.com", "another key")


def test_the_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_ANON_KEY", KEY)
    result = anonymize(people(), {"email": "hash"})
    assert result["email"][0] == expected_token("ann@example.com")


@pytest.mark.parametrize("env", [{}, {"CONVEYOR_ANON_KEY": ""}])
def test_hashing_without_a_key_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="CONVEYOR_ANON_KEY") as caught:
        anonymize(people(), {"email": "hash"}, environ=env)
    assert caught.value.details["variable"] == "CONVEYOR_ANON_KEY"
    with pytest.raises(ConfigurationError, match="PII_KEY"):
        anonymize(people(), {"email": "hash"}, salt_env="PII_KEY", environ=env)
    with pytest.raises(ConfigurationError, match="empty"):
        anonymize(people(), {"email": "hash"}, salt="")


def test_mask_and_drop_need_no_key() -> None:
    result = anonymize(people(), {"phone": "mask:2", "ssn": "drop"}, environ={})
    assert result["phone"].to_list() == ["**************58", "******99", "**", None]


def test_mask_variants() -> None:
    frame = pl.DataFrame({"v": ["abcdef", "abcd", "abc", "", "żółw-ñandú", None]})
    assert anonymize(frame, {"v": "mask"})["v"].to_list() == [
        "**cdef",
        "****",  # no longer than what is kept: starred whole
        "***",
        "",
        "******andú",  # characters, not bytes
        None,
    ]
    assert anonymize(frame, {"v": "mask:0"})["v"].to_list() == [
        "******",
        "****",
        "***",
        "",
        "**********",
        None,
    ]


def test_values_that_are_not_text_are_hashed_and_masked_as_text() -> None:
    result = anonymize(people(), {"age": "hash"}, salt=KEY)
    assert result["age"].dtype == pl.String
    assert result["age"][0] == expected_token("34")
    assert anonymize(people(), {"age": "mask:1"})["age"].to_list() == ["*4", "*1", "*8", "*4"]


def test_unknown_columns_and_methods_are_named() -> None:
    with pytest.raises(ConveyorError, match="'emial'") as caught:
        anonymize(people(), {"emial": "hash", "phone": "mask"}, salt=KEY)
    assert "'email'" in str(caught.value)  # the columns there are
    assert caught.value.details["missing"] == ["emial"]
    for method in ("sha256", "mask:x", "mask:-1", "hash:3"):
        with pytest.raises(ConveyorError, match=r"hash, mask, mask:N, drop") as caught:
            anonymize(people(), {"email": method}, salt=KEY)
        assert caught.value.details == {
            "column": "email",
            "method": method,
            "valid": ["hash", "mask", "mask:N", "drop"],
        }


def test_pandas_in_pandas_out_index_and_other_columns_kept() -> None:
    frame = people().to_pandas()
    frame.index = pd.Index([10, 20, 30, 40], name="row")
    before = frame.copy()
    result = anonymize(frame, RULES, salt=KEY)
    assert isinstance(result, pd.DataFrame)
    assert list(result.columns) == ["email", "phone", "age"]
    assert result.index.equals(frame.index)
    assert result["email"].iloc[0] == expected_token("ann@example.com")
    assert result["email"].isna().tolist() == [False, False, True, False]
    assert result["phone"].iloc[1] == "****0199"
    assert result["age"].dtype == frame["age"].dtype
    pd.testing.assert_frame_equal(frame, before)  # the input is left alone


def test_arrow_in_arrow_out_other_columns_kept() -> None:
    table = (
        people()
        .to_arrow()
        .cast(
            pa.schema(
                [
                    ("email", pa.string()),
                    ("phone", pa.string()),
                    ("ssn", pa.string()),
                    ("age", pa.int32()),
                ]
            )
        )
    )
    result = anonymize(table, RULES, salt=KEY)
    assert isinstance(result, pa.Table)
    assert result.column_names == ["email", "phone", "age"]
    assert result.schema.field("email").type == pa.string()
    assert result.schema.field("age").type == pa.int32()
    assert result.column("email").to_pylist()[0] == expected_token("ann@example.com")
    assert result.column("phone").to_pylist()[3] is None
    batch = anonymize(table.to_batches()[0], {"ssn": "drop"})
    assert isinstance(batch, pa.RecordBatch) and batch.num_columns == 3


def test_a_lazy_frame_stays_lazy() -> None:
    result = anonymize(people().lazy(), RULES, salt=KEY)
    assert isinstance(result, pl.LazyFrame)
    assert result.collect().equals(anonymize(people(), RULES, salt=KEY))


def test_a_dataset_is_anonymized_partition_by_partition() -> None:
    from conveyor.data._dataset import Dataset

    dataset = Dataset.from_table(people(), partitions=2)
    result = anonymize(dataset, RULES, salt=KEY)
    assert isinstance(result, Dataset)
    assert result.to_polars().equals(anonymize(people(), RULES, salt=KEY))
    # Its fingerprint follows the rules and the key, so a cached result is never reused
    # for another key.
    assert result.fingerprint() != anonymize(dataset, RULES, salt="other").fingerprint()
    assert result.fingerprint() == anonymize(dataset, RULES, salt=KEY).fingerprint()
    with pytest.raises(ConveyorError, match="no such column"):
        anonymize(dataset, {"nope": "drop"}).to_polars()


def test_the_partition_function_pickles_and_never_shows_the_key() -> None:
    anonymizer = Anonymizer((Rule("email", "hash"), Rule("phone", "mask", 2)), KEY.encode())
    assert pickle.loads(pickle.dumps(anonymizer)) == anonymizer
    text = repr(anonymizer)
    assert KEY not in text and "email=hash" in text and "phone=mask:2" in text
