from t2po.rollout.parsing import format_response, parse_agent_action, parse_response


def test_valid_response():
    parsed = parse_response("<think>box is left</think>\n<action> left </action>")
    assert parsed.error is None and parsed.think == "box is left" and parsed.action == "left"


def test_format_round_trip():
    assert parse_response(format_response("go", "up")).action == "up"


def test_invalid_formats():
    cases = {
        "<action>up</action>": "<think> missing",
        "<think>a</think>": "<action> missing",
        "<think>a</think><think>b</think><action>up</action>": "repeated",
        "<action>up</action><think>a</think>": "expected",
        "hello <think>a</think><action>up</action>": "expected",
        "<think>a</think><action>up</action> trailing": "expected",
        "<think>a</think><action>up": "</action> missing",
    }
    for text, fragment in cases.items():
        parsed = parse_response(text)
        assert parsed.action is None and parsed.error is not None and fragment in parsed.error


def test_family_rule_applied():
    rule = {"up": "up"}.get
    assert parse_agent_action("<think>t</think><action>up</action>", rule).action == "up"
    bad = parse_agent_action("<think>t</think><action>jump</action>", rule)
    assert bad.action is None and "not a valid action" in (bad.error or "")
