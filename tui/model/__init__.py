"""Plain data: records, series, the run model, metric names, decodes, number formats. No I/O, no clock."""
