"""lorafgc report generation: load sweep results, fit, draw, write Markdown."""
