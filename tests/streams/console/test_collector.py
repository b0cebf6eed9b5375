"""Which turns the console stores: an alert's range plus context, from before and after it."""

from datetime import UTC, datetime

from streams.console.collector import TurnSelector
from streams.contracts import Alert, TurnEvent
from tests.factories import ALERT_FIELDS

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def turn(index: int, conversation: str = "conv-9") -> TurnEvent:
    return TurnEvent(
        event_id=f"{conversation}:{index}",
        conversation_id=conversation,
        turn_index=index,
        role="patient" if index % 2 == 0 else "therapist",
        text=f"turn {index}",
        ts=NOW,
    )


def alert(turns: list[int], conversation: str = "conv-9") -> Alert:
    evidence = [{"turn_index": turns[-1], "role": "patient", "quote": "q", "why": "w"}]
    return Alert.model_validate({**ALERT_FIELDS, "conversation_id": conversation, "turns": turns, "evidence": evidence})


def test_turns_before_the_alert_come_from_the_buffer_and_later_ones_from_the_watch():
    selector = TurnSelector(context=2)
    assert [selector.on_turn(turn(i)) for i in range(10)] == [[]] * 10, "nothing is stored before an alert"
    assert [t.turn_index for t in selector.on_alert(alert([6, 8]))] == [4, 5, 6, 7, 8, 9]
    assert [t.turn_index for i in range(10, 13) for t in selector.on_turn(turn(i))] == [10]
    assert selector.on_turn(turn(3, conversation="other")) == []


def test_an_alert_read_before_its_turns_still_gets_them():
    selector = TurnSelector(context=1)
    assert selector.on_alert(alert([4])) == []
    stored = [t.turn_index for i in range(8) for t in selector.on_turn(turn(i))]
    assert stored == [3, 4, 5]


def test_a_second_alert_widens_the_watch():
    selector = TurnSelector(context=0)
    selector.on_alert(alert([2]))
    selector.on_alert(alert([7]))
    assert [t.turn_index for i in range(9) for t in selector.on_turn(turn(i))] == [2, 3, 4, 5, 6, 7]
