"""Books: the chart, posted vouchers, payments and settlements, the trial balance and ledgers."""
