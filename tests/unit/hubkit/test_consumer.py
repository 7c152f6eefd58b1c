from hubkit import topology
from hubkit.delivery import retry_delay


def test_retry_delay_grows_and_is_capped():
    assert [retry_delay(n, 0.5, 3.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_latest_only_queue_is_bounded_and_drops_the_oldest():
    args = topology.main_queue_arguments(topology.Subscription("shops_jd", "stock_changed", latest_only=True))
    assert (args["x-max-length"], args["x-overflow"]) == (topology.LATEST_ONLY_BACKLOG, "drop-head")


def test_any_other_main_queue_is_bounded_and_refuses_new_messages_when_full():
    args = topology.main_queue_arguments(topology.Subscription("order", "stock_short"))
    assert (args["x-max-length"], args["x-overflow"]) == (topology.BACKLOG_LIMIT, "reject-publish")


def test_main_queues_dead_letter_into_their_own_dead_letter_queue():
    sub = topology.Subscription("inventory", "order_placed")
    args = topology.main_queue_arguments(sub)
    assert args["x-queue-type"] == "quorum"
    assert args["x-dead-letter-exchange"] == topology.DEAD_LETTER_EXCHANGE
    assert args["x-dead-letter-routing-key"] == sub.queue
    assert topology.retry_queue_arguments(sub)["x-dead-letter-routing-key"] == sub.queue
