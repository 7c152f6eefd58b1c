"""Sales KPIs: the sales and gross margin trend, and the customers' ABC classes, from the books."""
