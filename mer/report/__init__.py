"""Report pages over results: mer.report.html renders what mer.report.recipe reads (mer.bin.report)."""
