"""Scenario loading: every documented error names its key; examples and the demo load."""
import copy
from pathlib import Path

import pytest

from microchimera.errors import ScenarioError
from microchimera.sim import builtin_scenario, load_scenario

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.toml"))


def _base():
    return {
        "name": "t",
        "panel": {"n_sites": 50},
        "sequencing": {"depth": 10},
        "family": {"people": [
            {"id": "dad", "sex": "male"},
            {"id": "mom", "sex": "female"},
            {"id": "kid", "sex": "male", "father": "dad", "mother": "mom", "years_since_birth": 20},
        ]},
        "samples": [{"name": "s1", "host": "mom", "donors": {"kid": 1e-3}}],
    }


def _with(path, value):
    d = copy.deepcopy(_base())
    node = d
    keys = path.split("/")
    for k in keys[:-1]:
        node = node[int(k)] if k.isdigit() else node[k]
    last = keys[-1]
    if value is _DELETE:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return d


_DELETE = object()


def test_load_scenario__valid_dict():
    sc = load_scenario(_base())
    assert sc.samples[0].donors == (("kid", 1e-3),)
    assert [p.id for p in sc.people] == ["dad", "mom", "kid"]
    assert sc.to_dict()["samples"][0]["donors"] == {"kid": 1e-3}


@pytest.mark.parametrize("path, value, match", [
    ("family/people/2/mother", "X", r"family\.people\[2\]\.mother: unknown person 'X'"),
    ("family/people/2/father", "mom", r"family\.people\[2\]\.father: 'mom' is female"),
    ("samples/0/donors", {"kid": 0.6, "dad": 0.5}, r"samples\[0\]\.donors: fractions sum to 1\.1"),
    ("samples/0/donors", {"kid": 1.0}, r"samples\[0\]\.donors\.kid: must be < 1"),
    ("samples/0/donors", {"kidd": 0.1}, r"samples\[0\]\.donors\.kidd: unknown person 'kidd'; did you mean 'kid'"),
    ("samples/0/donors", {"mom": 0.1}, r"samples\[0\]\.donors\.mom: the host cannot also be a donor"),
    ("samples/0/host", "nobody", r"samples\[0\]\.host: unknown person 'nobody'"),
    ("sequencing/depth", -5, r"sequencing\.depth: must be > 0, found -5"),
    ("sequencing/depth", "deep", r"sequencing\.depth: expected a number, found 'deep'"),
    ("sequencing/deptth", 5, r"sequencing\.deptth: unknown key; did you mean 'depth'\?"),
    ("panel/n_site", 5, r"panel\.n_site: unknown key; did you mean 'n_sites'\?"),
    ("samples/0/donrs", {}, r"samples\[0\]\.donrs: unknown key; did you mean 'donors'\?"),
    ("famly", {}, r"famly: unknown key; did you mean 'family'\?"),
    ("panel/n_sites", 1.5, r"panel\.n_sites: expected an integer"),
    ("sequencing/fragment_min", 700, r"sequencing\.fragment_min: 700 is greater than"),
    ("sequencing/whole_genome", "yes", r"sequencing\.whole_genome: expected true or false"),
    ("sequencing/error_classes", {"A>Q": 0.1}, r"sequencing\.error_classes\.A>Q: unknown key"),
    ("family/people/1/sex", "f", r"family\.people\[1\]\.sex: expected one of 'male', 'female'"),
    ("family/people/1/id", "dad", r"family\.people\[1\]\.id: 'dad' already used"),
    ("samples", [], r"samples: expected a non-empty list"),
    ("family", _DELETE, r"family: missing"),
    ("samples/0/donors", ["kid"], r"samples\[0\]\.donors: a list of donors needs a persistence model"),
])
def test_load_scenario__errors_name_the_key(path, value, match):
    with pytest.raises(ScenarioError, match=match):
        load_scenario(_with(path, value))


def test_load_scenario__cycle():
    d = _base()
    d["family"]["people"][0]["father"] = "kid"   # dad's father is his own son
    with pytest.raises(ScenarioError, match=r"family\.people: cycle in the family: .*kid.*dad|dad.*kid"):
        load_scenario(d)


def test_load_scenario__persistence_model():
    d = _base()
    d["persistence"] = {"initial_fraction": 1e-3, "half_life_years": 10, "floor": 1e-5}
    d["samples"][0]["donors"] = ["kid"]
    sc = load_scenario(d)
    # 20 years = two half-lives: 1e-3 / 4 + 1e-5
    assert sc.samples[0].donors[0][1] == pytest.approx(2.6e-4)
    assert sc.samples[0].years == (("kid", 20.0),)
    d["samples"][0]["years"] = {"kid": 0}
    assert load_scenario(d).samples[0].donors[0][1] == pytest.approx(1.01e-3)
    del d["family"]["people"][2]["years_since_birth"]
    del d["samples"][0]["years"]
    with pytest.raises(ScenarioError, match=r"samples\[0\]\.years\.kid: missing"):
        load_scenario(d)


def test_load_scenario__file_errors(tmp_path):
    with pytest.raises(ScenarioError, match="not found"):
        load_scenario(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(bad)


def test_builtin_scenario__demo_and_unknown():
    demo = builtin_scenario("demo")
    host = demo.samples[0].host
    assert host == "mother"
    assert {d for d, _ in demo.samples[0].donors} == {"son", "daughter", "loss"}
    assert not demo.person("loss").typed
    with pytest.raises(ScenarioError, match="no built-in scenario 'nope'"):
        builtin_scenario("nope")


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples__load(path):
    sc = load_scenario(path)
    assert sc.samples
