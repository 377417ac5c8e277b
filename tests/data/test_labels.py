import numpy as np
import pytest

from ecg_pipeline.data.labels import AAMI_OF_SYMBOL, encode
from ecg_pipeline.errors import EcgDataError


def test_aami_map_covers_the_ec57_symbols():
    assert sorted(AAMI_OF_SYMBOL) == sorted("NLRejAaJSVEF/fQ")
    assert [AAMI_OF_SYMBOL[s] for s in "NAVF/"] == list("NSVFQ")


def test_encode_and_unknown_label():
    np.testing.assert_array_equal(encode(["N", "Q", "S"], "aami5"), [0, 4, 1])
    with pytest.raises(EcgDataError, match=r"label\(s\) \['Q'\] are not in label_set 'aami4'"):
        encode(["N", "Q"], "aami4")
    with pytest.raises(EcgDataError, match="unknown label_set 'aami3'"):
        encode(["N"], "aami3")
