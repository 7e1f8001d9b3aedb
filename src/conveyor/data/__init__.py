"""L2 data: datasets and their readers, and the materializers that turn step outputs into
bytes for the artifact store and back.

JSON, Parquet (pandas, polars, pyarrow), ``.npy`` and joblib by type, cloudpickle with a
warning for anything else; ``register_materializer`` adds a format ahead of these. Importing
this package imports none of pandas, numpy, pyarrow, polars or scikit-learn.
"""

from __future__ import annotations

from conveyor.data._anonymize import anonymize as anonymize
from conveyor.data._base import Materialized as Materialized
from conveyor.data._base import Materializer as Materializer
from conveyor.data._dataset import Dataset as Dataset
from conveyor.data._http import read_http as read_http
from conveyor.data._materializers import MATERIALIZER_VERSION as MATERIALIZER_VERSION
from conveyor.data._materializers import load as load
from conveyor.data._materializers import materialize as materialize
from conveyor.data._materializers import register_materializer as register_materializer
from conveyor.data._profile import ColumnProfile as ColumnProfile
from conveyor.data._profile import Distribution as Distribution
from conveyor.data._profile import Profile as Profile
from conveyor.data._profile_diff import ProfileDiff as ProfileDiff
from conveyor.data._profile_diff import profile_diff as profile_diff
from conveyor.data._profile_stats import profile as profile
from conveyor.data._readers import read_csv as read_csv
from conveyor.data._readers import read_json as read_json
from conveyor.data._readers import read_parquet as read_parquet
from conveyor.data._schema import Column as Column
from conveyor.data._schema import Schema as Schema
from conveyor.data._schema_report import CheckFailure as CheckFailure
from conveyor.data._schema_report import ValidationReport as ValidationReport
from conveyor.data._sql import read_sql as read_sql

__all__ = [
    "MATERIALIZER_VERSION",
    "CheckFailure",
    "Column",
    "ColumnProfile",
    "Dataset",
    "Distribution",
    "Materialized",
    "Materializer",
    "Profile",
    "ProfileDiff",
    "Schema",
    "ValidationReport",
    "anonymize",
    "load",
    "materialize",
    "profile",
    "profile_diff",
    "read_csv",
    "read_http",
    "read_json",
    "read_parquet",
    "read_sql",
    "register_materializer",
]
