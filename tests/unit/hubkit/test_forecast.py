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


# -- sales_forecast: the one function replenishment and the stock report share -----------------------
def _sales(today, values):
    """{day: units}, the last value on `today`."""
    from datetime import timedelta
    return {today - timedelta(days=len(values) - 1 - i): v for i, v in enumerate(values) if v}


def test_sales_forecast_builds_the_daily_series_and_names_method_parameters_and_history():
    from datetime import date
    today = date(2024, 3, 10)
    sales = _sales(today, [5 + 2 * t for t in range(30)])  # 5, 7, ... 63: a straight line
    ahead = fc.sales_forecast("holt", sales, today, 30, 3, alpha=0.5, beta=0.3)
    assert ahead.method == "holt" and ahead.params == {"alpha": 0.5, "beta": 0.3}
    assert ahead.history == [float(5 + 2 * t) for t in range(30)]
    assert ahead.values == pytest.approx([65.0, 67.0, 69.0])
    # defaults named in params; a day outside the window is not in the history
    sales[date(2024, 1, 1)] = 1000
    smoothed = fc.sales_forecast("exponential_smoothing", sales, today, 30, 2)
    assert smoothed.params == {"alpha": 0.3} and len(smoothed.history) == 30 and 1000.0 not in smoothed.history


def test_sales_forecast_moving_average_averages_the_whole_history_and_leaves_out_days_out_of_stock():
    from datetime import date, timedelta
    today = date(2024, 3, 10)
    sales = {today: 6, today - timedelta(days=1): 0, today - timedelta(days=3): 4}
    out = {today - timedelta(days=1), today - timedelta(days=2)}  # 8 and 9 March: nothing to sell
    ahead = fc.sales_forecast("moving_average", sales, today, 4, 5, promotion_factor=1.5, stocked_out=out)
    # the series: 7 March 4, 10 March 6 -> mean 5, x1.5 = 7.5 a day
    assert ahead.history == [4.0, 6.0] and ahead.params == {"window": 2}
    assert ahead.values == [7.5] * 5 and ahead.total == 37.5
    # the same series as replenishment's own helper (it delegates)
    from services.procurement import replenish
    assert replenish.daily_sales(sales, out, today, 4) == ahead.history


def test_sales_forecast_refuses_an_unknown_method_or_parameter():
    from datetime import date
    with pytest.raises(ValueError, match="unknown forecast method"):
        fc.sales_forecast("arima", {}, date(2024, 1, 1), 30, 7)
    with pytest.raises(ValueError, match="takes no parameter 'gamma'"):
        fc.sales_forecast("holt", {}, date(2024, 1, 1), 30, 7, gamma=0.1)
