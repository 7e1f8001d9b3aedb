from __future__ import annotations

from conveyor.engine._keys import explain_miss, key_of

BASE = {
    "code": "c1",
    "version": "",
    "materializer": "1",
    "outputs": "None",
    "param:n": "h1",
    "input:df": "sha256:aa",
}


def test_the_key_does_not_depend_on_part_order() -> None:
    assert key_of(BASE) == key_of(dict(reversed(list(BASE.items()))))
    assert key_of(BASE) != key_of({**BASE, "param:n": "h2"})


def test_a_miss_names_what_changed() -> None:
    assert explain_miss(BASE, None) == "first run of this step"
    assert explain_miss({**BASE, "code": "c2"}, BASE) == "code changed"
    assert explain_miss({**BASE, "param:n": "h2"}, BASE) == "parameter n changed"
    assert explain_miss({**BASE, "input:df": "sha256:bb"}, BASE) == "input df changed"
    assert explain_miss({**BASE, "version": "2"}, BASE) == "version changed (none -> 2)"
    both = explain_miss({**BASE, "code": "c2", "param:n": "h2"}, BASE)
    assert both == "code changed; parameter n changed"
    assert "failed" in explain_miss(BASE, BASE)
