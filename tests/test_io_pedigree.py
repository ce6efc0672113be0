"""Tests of PED reading, family checks and kinship."""
import numpy as np
import pytest

from microchimera.errors import FormatError
from microchimera.io.pedigree import Pedigree, read_ped, write_ped


def _ped(tmp_path, text):
    p = tmp_path / "f.ped"
    p.write_text(text)
    return p


def test_read_ped__parents_precede_children_and_kinship_is_standard(tmp_path):
    ped = read_ped(_ped(tmp_path, "F son dad mom 1 0\nF dad 0 0 1 0\nF mom 0 0 2 0\n"
                                  "F daughter dad mom 2 0\nF gson son 0 1 0\n"))
    assert ped.ids.index("son") > ped.ids.index("dad")
    phi = ped.kinship()
    i = ped.index
    assert phi[i("mom"), i("son")] == 0.25          # parent-child
    assert phi[i("son"), i("daughter")] == 0.25     # full siblings
    assert phi[i("mom"), i("dad")] == 0.0           # spouses
    assert phi[i("mom"), i("gson")] == 0.125        # grandparent
    assert np.allclose(np.diag(phi), 0.5)
    assert sorted(ped.relatives("mom")) == ["daughter", "gson", "son"]


def test_read_ped__errors_name_file_line_and_person(tmp_path):
    with pytest.raises(FormatError, match=r"f.ped:1: expected at least 5 fields"):
        read_ped(_ped(tmp_path, "F a 0 0\n"))
    with pytest.raises(FormatError, match="sex must be"):
        read_ped(_ped(tmp_path, "F a 0 0 M 0\n"))
    with pytest.raises(FormatError, match="father 'x' of 'a' is not listed"):
        read_ped(_ped(tmp_path, "F a x 0 1 0\n"))
    with pytest.raises(FormatError, match="pedigree cycle"):
        read_ped(_ped(tmp_path, "F a b 0 1 0\nF b a 0 1 0\n"))
    with pytest.raises(FormatError, match="'m' is the mother of 'a' but has sex code 1"):
        read_ped(_ped(tmp_path, "F a 0 m 1 0\nF m 0 0 1 0\n"))
    # with the line numbers of both (issue 16 item 15: the message had none)
    with pytest.raises(FormatError, match=r"f.ped:3: individual 'a' listed twice \(first on line 1\)"):
        read_ped(_ped(tmp_path, "F a 0 0 1 0\nF b 0 0 2 0\nF a 0 0 1 0\n"))


def test_write_ped__round_trip(tmp_path):
    ped = Pedigree.from_records([("F", "kid", "dad", "mom", 2), ("F", "dad", None, None, 1), ("F", "mom", None, None, 2)])
    out = tmp_path / "out.ped"
    write_ped(ped, out)
    back = read_ped(out)
    assert back.ids == ped.ids and back.parents("kid") == ("dad", "mom")
    np.testing.assert_array_equal(back.sex, ped.sex)
