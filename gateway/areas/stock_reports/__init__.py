"""Stock reports: on hand by bin and lot, stock card, ageing, slow movers, turnover, value at a date."""
