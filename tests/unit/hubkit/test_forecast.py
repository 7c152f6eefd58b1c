"""The forecast methods on series whose continuation is known."""
import pytest

from hubkit import forecast as fc


def test_moving_average_is_the_mean_of_the_last_window_days_flat():
    assert fc.moving_average([100, 1, 2, 3, 4, 5, 6, 7], 3, window=7) == [4.0, 4.0, 4.0]
    assert fc.moving_average([], 2) == [0.0, 0.0]


def test_exponential_smoothing_of_a_constant_series_is_the_constant():
    assert fc.exponential_smoothing([12] * 20, 4, alpha=0.4) == pytest.approx([12.0] * 4)


def test_exponential_smoothing_weights_recent_days_by_alpha():
    # level: 10 -> 0.5*20 + 0.5*10 = 15
    assert fc.exponential_smoothing([10, 20], 1, alpha=0.5) == [15.0]


def test_holt_continues_a_straight_line():
    series = [5 + 2 * t for t in range(30)]
    assert fc.holt(series, 3, alpha=0.5, beta=0.3) == pytest.approx([65.0, 67.0, 69.0])


def test_holt_winters_continues_trend_and_weekly_season_exactly():
    season = [10, -5, 0, 3, -8, 4, -4]  # sums to 0
    series = [100 + 1.5 * t + season[t % 7] for t in range(42)]
    ahead = fc.holt_winters(series, 10, season_length=7, alpha=0.4, beta=0.2, gamma=0.3)
    expected = [100 + 1.5 * t + season[t % 7] for t in range(42, 52)]
    assert ahead == pytest.approx(expected, abs=1e-9)


def test_holt_winters_learns_a_season_that_moves_level_only_methods_miss():
    season = [0, 0, 0, 0, 0, 30, 30]  # weekend peaks
    series = [20 + season[t % 7] for t in range(56)]
    ahead = fc.holt_winters(series, 7, season_length=7)
    assert ahead[5] > 45 and ahead[0] < 25  # day 56 is a Monday again (56 % 7 == 0)
    flat = fc.moving_average(series, 7, window=7)
    assert flat[5] < 35


def test_holt_winters_with_less_than_two_seasons_falls_back_to_holt():
    series = [1, 2, 3, 4, 5]
    assert fc.holt_winters(series, 2, season_length=7) == fc.holt(series, 2)


def test_forecasts_never_go_below_zero():
    assert fc.holt([50, 40, 30, 20, 10], 10, alpha=1, beta=1)[-1] == 0.0


def test_forecast_names_its_method_and_applies_the_promotion_factor():
    plain = fc.forecast("moving_average", [10] * 30, 30, window=30)
    promoted = fc.forecast("moving_average", [10] * 30, 30, promotion_factor=1.5, window=30)
    assert plain.total == pytest.approx(300) and promoted.total == pytest.approx(450)
    assert promoted.method == "moving_average" and promoted.params == {"window": 30}


@pytest.mark.parametrize("call", [
    lambda: fc.forecast("prophet", [1], 1),
    lambda: fc.forecast("holt", [1], 1, window=3),
    lambda: fc.forecast("holt", [1], 1, promotion_factor=-1),
    lambda: fc.exponential_smoothing([1], 1, alpha=1.5),
    lambda: fc.moving_average([1], -1),
    lambda: fc.holt_winters([1] * 20, 1, season_length=1),
])
def test_bad_parameters_are_refused(call):
    with pytest.raises(ValueError):
        call()
