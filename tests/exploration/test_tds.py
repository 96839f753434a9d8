from t2po.exploration.tds import TDSParams, needs_resample


def test_rule():
    p = TDSParams(eta=1e-3, max_resamples=2)
    phi = [0.5, 0.5, 0.5, 0.5]
    prev = [None, 0.5005, 0.6, 0.5]
    used = [0, 0, 0, 2]
    # turn 1 never; moved too little -> yes; moved enough -> no; budget spent -> no
    assert needs_resample(phi, prev, used, p) == [False, True, False, False]
